#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh: the main job. Build the lean kernel, boot it on one machine
# ($MACHINE, default vtd) and show the edu device doing DMA through the
# IOMMU, first through VFIO type1, then through /dev/ioasid (the group
# path, then the device-centric path, replacing its IOAS), in plain words
# on the console.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh"
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
# The demo: edu doing DMA through the type1 baseline, then /dev/ioasid.
demo=$OUT/demo
rm -rf "$demo" && mkdir -p "$demo"
cp "$OUT/selftests-lean/vfio_type1_edu" "$demo/1-vfio_type1_edu"
cp "$OUT/selftests-lean/vfio_ioasid_edu" "$demo/2-vfio_ioasid_edu"
cp "$OUT/selftests-lean/vfio_device_edu" "$demo/3-vfio_device_edu"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-run.gz" /dev/null "$demo"
"$REPO/harness/qemu-run.sh" "${MACHINE:-vtd}" "$OUT/obj-lean/arch/x86/boot/bzImage" \
	"$OUT/initramfs-run.gz" "$OUT/logs-run" run 300
