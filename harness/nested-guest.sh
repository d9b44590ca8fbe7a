#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The story of `make run`, run inside the host VM: Debian's unmodified
# qemu-system-x86_64 gives the host's edu device to a nested guest with
# vfio-pci, over /dev/vfio/vfio served by the /dev/ioasid core, behind a
# vIOMMU of the guest's own (intel-iommu in caching mode). The guest does
# one edu DMA round trip through its vIOMMU; every map it makes there
# reaches the host's core as a map, which the core's debugfs counts.

say() { echo "host: $*"; }

bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	bdf=${d##*/}
	break
done
if [ -z "$bdf" ]; then
	say "no edu device: nothing to pass through"
	exit 1
fi
group=$(basename "$(readlink "/sys/bus/pci/devices/$bdf/iommu_group")")
driver=$(basename "$(readlink "/sys/bus/pci/devices/$bdf/driver")")
say "Linux $(uname -r) with the /dev/ioasid series, IOMMU $(ls /sys/class/iommu | tr '\n' ' ')"
say "edu device $bdf, IOMMU group $group, bound to $driver"
served=$(cat /sys/module/ioasid/parameters/vfio_container 2>/dev/null)
if [ "$served" = Y ]; then
	say "/dev/vfio/vfio is served by the /dev/ioasid core (ioasid.vfio_container=1), not by vfio_iommu_type1"
else
	say "/dev/vfio/vfio is served by vfio_iommu_type1 (boot with ioasid.vfio_container=1 for the core)"
fi

say "starting qemu-system-x86_64 $(qemu-system-x86_64 --version | head -1 | sed 's/.*version //'): a nested guest with vfio-pci,host=$bdf behind its own intel-iommu (caching mode)"
ulimit -l unlimited

# The core's counters of QEMU's container file: "maps unmaps", or nothing
counters() {
	for f in /sys/kernel/debug/ioasid/*-"$qemu"/counters; do
		[ -r "$f" ] && awk '$1 == "maps" { m = $2 } $1 == "unmaps" { u = $2 }
			END { print m + 0, u + 0 }' "$f" 2>/dev/null
	done
}

fifo=/tmp/nested-guest.out
rm -f "$fifo" && mkfifo "$fifo"
qemu-system-x86_64 -L /usr/share/qemu -M q35,kernel-irqchip=split -accel tcg \
	-m 256 -smp 1 -nodefaults -no-user-config -display none -monitor none \
	-no-reboot -device intel-iommu,caching-mode=on,intremap=on \
	-device "vfio-pci,host=$bdf" \
	-kernel /demo/nested-bzImage -initrd /demo/nested-initramfs.gz \
	-append "console=ttyS0 quiet loglevel=3 intel_iommu=on panic=-1 harness_mode=nested" \
	-serial stdio > "$fifo" 2>&1 &
qemu=$!
start=$(date +%s)

# The guest's lines as they come; the counters read around its map.
maps=0 unmaps=0 before=0 after=0
while IFS= read -r line; do
	echo "$line"
	now=$(counters)
	[ -n "$now" ] && set -- $now && maps=$1 && unmaps=$2
	case $line in
	"guest: edu device"*) before=$maps ;;
	"guest: mapped"*) after=$maps ;;
	esac
done < "$fifo"
wait "$qemu"
rc=$?
say "the nested guest ran for $(( $(date +%s) - start )) s; QEMU exited with status $rc"
say "QEMU's container in the host's core took $maps maps and $unmaps unmaps: the guest's RAM while its vIOMMU was off, then what the guest mapped in its vIOMMU"
say "while the guest set up VFIO and mapped its 8 KiB, QEMU made $((after - before)) map(s) in the host's core"
