#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the test initramfs. harness_mode=test|run|nested arrives from the
# kernel command line as an environment variable.
#  test: run every program in /tests, framed by @@@ markers on ttyS1 so the
#        host can count results apart from the kernel console; then ask
#        kmemleak for a scan and print what it found on the console.
#  run:  the demonstration for `make run`, in plain words on the console.
#  nested: the nested guest of that demonstration: its /demo programs only.

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages

iommu=$(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')
machine=${harness_machine:-unknown}

# Bind every edu device (1234:11e8) to vfio-pci.
edu=""
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	bdf=${d##*/}
	echo vfio-pci > "$d/driver_override"
	echo "$bdf" > /sys/bus/pci/drivers_probe
	edu="$edu $bdf"
done

run_tests() {
	echo "@@@ MACHINE $machine iommu=[$iommu] edu=[$edu]"
	for t in /tests/*; do
		[ -x "$t" ] || continue
		name=${t##*/}
		case $name in *_bench|*_demo) continue ;; esac	# not tests
		# harness_tests=a,b* on the command line runs only those
		# programs (shell patterns).
		if [ -n "${harness_tests:-}" ]; then
			want=""
			for p in $(echo "$harness_tests" | tr , ' '); do
				case $name in $p) want=1 ;; esac
			done
			[ -n "$want" ] || continue
		fi
		echo "@@@ BEGIN $name"
		t0=$(cut -d. -f1 /proc/uptime)
		timeout -s KILL 900 "$t" 2>&1
		rc=$?
		echo "@@@ END $name rc=$rc secs=$(( $(cut -d. -f1 /proc/uptime) - t0 ))"
	done
}

if [ "${harness_mode:-test}" = nested ]; then
	# The nested guest of `make run`: its programs, in plain words.
	for t in /demo/*; do
		[ -x "$t" ] && "$t"
	done
elif [ "${harness_mode:-test}" = run ]; then
	echo
	echo "== /dev/ioasid demo on QEMU machine '$machine' =="
	echo "IOMMU units: $iommu"
	for b in $edu; do
		echo "edu DMA device $b: IOMMU group" \
		     "$(basename "$(readlink /sys/bus/pci/devices/$b/iommu_group)")," \
		     "driver $(basename "$(readlink /sys/bus/pci/devices/$b/driver)")"
	done
	for t in /demo/*; do
		[ -x "$t" ] && "$t"
	done
	echo "== demo done =="
else
	run_tests > /dev/ttyS1
	if [ -w /sys/kernel/debug/kmemleak ]; then
		# kmemleak ignores objects younger than 5 s, and takes an object
		# whose content changed since the last scan for referenced: the
		# first scan only records checksums, the second one reports.
		sleep 6
		echo scan > /sys/kernel/debug/kmemleak
		echo scan > /sys/kernel/debug/kmemleak
		cat /sys/kernel/debug/kmemleak > /dev/console
	fi
	echo "@@@ DONE" > /dev/ttyS1
fi
poweroff -f
