#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh: the main job. Build the lean kernel and boot it on one machine
# ($MACHINE, default vtd) as a host, with /dev/vfio/vfio served by the
# /dev/ioasid core. Inside it, Debian's qemu-system-x86_64 passes the edu
# device through to a nested guest with its own vIOMMU, which does an edu
# DMA round trip; the console tells it in plain words.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh"
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
# The nested guest: the same kernel, and an initramfs whose init binds edu
# to vfio-pci and runs one DMA round trip through the guest's vIOMMU.
nested=$OUT/nested
rm -rf "$nested" && mkdir -p "$nested"
cp "$OUT/selftests-lean/edu_dma_demo" "$nested/"
demo=$OUT/demo
rm -rf "$demo" && mkdir -p "$demo"
"$REPO/harness/mkinitramfs.sh" "$demo/nested-initramfs.gz" /dev/null "$nested"
install -m 644 "$OUT/obj-lean/arch/x86/boot/bzImage" "$demo/nested-bzImage"
install -m 755 "$REPO/harness/nested-guest.sh" "$demo/1-nested-guest"
# The host: the patched kernel on VT-d with edu, QEMU packed in its initramfs.
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-run.gz" /dev/null "$demo"
QEMU_MEM=${QEMU_MEM:-2G} QEMU_APPEND="ioasid.vfio_container=1 ${QEMU_APPEND:-}" \
	"$REPO/harness/qemu-run.sh" "${MACHINE:-vtd}" \
	"$OUT/obj-lean/arch/x86/boot/bzImage" "$OUT/initramfs-run.gz" \
	"$OUT/logs-run" run 900
