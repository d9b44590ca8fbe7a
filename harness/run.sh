#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh: the main job. Build the lean kernel, boot it on one machine
# ($MACHINE, default vtd) and show the edu device doing DMA through the
# IOMMU, in plain words on the console.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh"
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-run.gz" /dev/null "$OUT/selftests-lean"
"$REPO/harness/qemu-run.sh" "${MACHINE:-vtd}" "$OUT/obj-lean/arch/x86/boot/bzImage" \
	"$OUT/initramfs-run.gz" "$OUT/logs-run" run 300
