#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# qemu-run.sh MACHINE KERNEL INITRAMFS LOGDIR MODE [TIMEOUT]
#
# Boot KERNEL under TCG on one machine of the matrix, each with an edu DMA
# device behind an emulated IOMMU:
#   vtd     q35 + intel-iommu with interrupt remapping
#           (vtd, amd and virtio test boots also have a virtio-blk-pci
#           with iommu_platform=on, for vp_vdpa)
#   amd     q35 + amd-iommu with interrupt remapping
#   virtio  q35 + virtio-iommu-pci (no interrupt remapping: the admin
#           opt-in for unsafe interrupts is passed on the command line)
#   vtd-container  vtd, with the ioasid core serving /dev/vfio/vfio
#           (ioasid.vfio_container=1); runs the VFIO tests only, which
#           then meet the core through an unchanged VFIO container
#   vtd-sm   vtd in scalable mode (PASID tables), the edu DMA tests only
#   vtd-hotplug  vtd, with three more edu devices behind PCIe root ports
#           (slots 0x10-0x12, ids hp1-hp3) that the guest's hot-unplug
#           test has the host remove with QMP device_del
#   vtd-ats  vtd with device-IOTLB support (device-iotlb=on), and a
#           virtio-net-pci with an ATS capability (ats=on) behind a PCIe
#           root port; runs the ATS and trust tests only
# MODE test: console to LOGDIR/MACHINE.console, test output to
# LOGDIR/MACHINE.tap. MODE run: console on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

machine=${1:?} kernel=${2:?} initrd=${3:?} logdir=${4:?} mode=${5:?}
limit=${6:-900}
mkdir -p "$logdir"

append="console=ttyS0 panic=-1 oops=panic harness_mode=$mode harness_machine=$machine"
args=(-accel tcg -m "${QEMU_MEM:-2G}" -smp 2 -no-reboot -display none -monitor none)
# The programs whose devices DMA through the platform's IOMMU (edu,
# virtio-blk): the others drive mock devices behind the mock IOMMU,
# mdev or vdpa_sim, the same on every machine, so they run on vtd only.
PLATFORM_TESTS="vfio_*_edu vfio_compat vfio_ats vfio_hotunplug vhost_vdpa_ioasid"
case $machine in
vtd)
	args+=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)
	append+=" intel_iommu=on"
	;;
amd)
	args+=(-machine q35,kernel-irqchip=split -device amd-iommu,intremap=on)
	append+=" amd_iommu=on"
	[ -n "${TESTS:-}" ] || TESTS=$PLATFORM_TESTS
	;;
vtd-sm)
	# VT-d in scalable mode: DMA through second-level tables found via
	# PASID tables, where 6.1's driver can attach PASIDs (edu has none).
	args+=(-machine q35,kernel-irqchip=split
	       -device intel-iommu,intremap=on,x-scalable-mode=on)
	append+=" intel_iommu=on,sm_on"
	[ -n "${TESTS:-}" ] || TESTS="vfio_type1_edu vfio_device_edu"
	;;
vtd-nocore)
	# The kernel built without the core: SVA and VFIO type1 as in 6.1.
	args+=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)
	append+=" intel_iommu=on"
	[ -n "${TESTS:-}" ] || TESTS="vfio_type1_edu"
	;;
vtd-container)
	args+=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)
	append+=" intel_iommu=on ioasid.vfio_container=1"
	[ -n "${TESTS:-}" ] || TESTS="vfio_type1_edu vfio_compat vfio_mdev_dma"
	;;
vtd-hotplug)
	# QEMU's ACPI hotplug of the root ports (acpiphp in the guest), its
	# default on q35. 6.1's native pciehp reports lock-order problems of
	# its own on every removal (reset_lock against pci_rescan_remove_lock,
	# and against VFIO's group lock through a slot reset at open).
	args+=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)
	append+=" intel_iommu=on"
	for i in 1 2 3; do
		args+=(-device "pcie-root-port,id=rp$i,chassis=$i,bus=pcie.0,addr=0x1$((i - 1))"
		       -device "edu,id=hp$i,bus=rp$i,dma_mask=0xffffffffffffffff")
	done
	qmp=$logdir/$machine.qmp
	rm -f "$qmp"
	args+=(-qmp "unix:$qmp,server=on,wait=off")
	[ -n "${TESTS:-}" ] || TESTS="vfio_hotunplug"
	;;
vtd-ats)
	# Real ATS: the guest enables it in the device's config space, and
	# VT-d (legacy mode) receives device-IOTLB invalidations on unmap.
	args+=(-machine q35,kernel-irqchip=split
	       -device intel-iommu,intremap=on,device-iotlb=on
	       -device pcie-root-port,id=rp1,chassis=1,bus=pcie.0,addr=0x10
	       -device virtio-net-pci,bus=rp1,iommu_platform=on,ats=on,disable-legacy=on)
	append+=" intel_iommu=on"
	[ -n "${TESTS:-}" ] || TESTS="vfio_ats"
	;;
virtio)
	args+=(-machine q35 -device virtio-iommu-pci)
	[ -n "${TESTS:-}" ] || TESTS=$PLATFORM_TESTS
	append+=" vfio_iommu_type1.allow_unsafe_interrupts=1 ioasid.allow_unsafe_interrupts=1"
	;;
*) die "unknown machine $machine" ;;
esac
args+=(-device edu,dma_mask=0xffffffffffffffff -kernel "$kernel" -initrd "$initrd")
# A virtio-blk function doing its DMA through the IOMMU, for vp_vdpa
# (vhost_vdpa_ioasid's vp_blk variant), on a 128 MiB scratch disk.
if [ "$mode" = test ] && [[ $machine =~ ^(vtd|amd|virtio)$ ]]; then
	rm -f "$logdir/$machine.vblk"
	truncate -s 128M "$logdir/$machine.vblk"
	args+=(-drive "if=none,id=vblk,format=raw,file=$logdir/$machine.vblk"
	       -device virtio-blk-pci,drive=vblk,iommu_platform=on,disable-legacy=on)
fi
[ "$mode" = test ] && append+=" kmemleak=on"
# TESTS="prog1,prog2" limits a test boot to those programs.
[ -z "${TESTS:-}" ] || append+=" harness_tests=${TESTS// /,}"
[ -z "${QEMU_APPEND:-}" ] || append+=" $QEMU_APPEND"

if [ "$mode" = run ]; then
	args+=(-serial stdio -serial null)
	exec timeout --foreground "$limit" qemu-system-x86_64 "${args[@]}" -append "$append quiet"
fi

rm -f "$logdir/$machine.console" "$logdir/$machine.tap"
args+=(-serial "file:$logdir/$machine.console" -serial "file:$logdir/$machine.tap")
start=$(date +%s)
rc=0
watcher=
if [ -n "${qmp:-}" ]; then
	# The host half of hot-unplug: device_del when the guest asks.
	"$REPO/harness/qmp-unplug.py" "$qmp" "$logdir/$machine.tap" \
		2>"$logdir/$machine.qmp.log" &
	watcher=$!
fi
timeout "$limit" qemu-system-x86_64 "${args[@]}" -append "$append" \
	</dev/null 2>"$logdir/$machine.stderr" || rc=$?
if [ -n "$watcher" ]; then
	kill "$watcher" 2>/dev/null || true
	wait "$watcher" 2>/dev/null || true
fi
cat "$logdir/$machine.stderr" >> "$logdir/$machine.console"
[ -z "${qmp:-}" ] || cat "$logdir/$machine.qmp.log" >> "$logdir/$machine.console"
rm -f "$logdir/$machine.vblk"
echo "$rc $(( $(date +%s) - start ))" > "$logdir/$machine.qemu"
