#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check.sh: every test. Build the debug (test) kernel and the selftests,
# check the series patch by patch, lint, boot each machine of the matrix,
# judge each boot, and end with the line "N passed, N failed, N skipped".
# Exits non-zero on any failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

MACHINES=${MACHINES:-vtd amd virtio vtd-container vtd-hotplug vtd-ats vtd-sm}
logdir=$OUT/logs-test
passed=0 failed=0 skipped=0
add() { passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3)); }
finish() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit
}
step() {	# step NAME CMD...: a setup step that must work, counted as a test
	if "${@:2}"; then add 1 0 0; else echo "FAIL: $1" >&2; add 0 1 0; finish; fi
}

t0=$(date +%s)
step "install dependencies" "$REPO/harness/deps.sh"
step "prepare the kernel tree" "$REPO/harness/prepare-tree.sh"
step "build the test kernel and selftests" "$REPO/harness/build.sh" test
step "pack the initramfs" "$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-test.gz" "$OUT/selftests-test"
# 6.1's PASID allocator users (Intel SVM) without the core: it must build and boot.
step "build the kernel with INTEL_IOMMU_SVM and without the core" "$REPO/harness/build.sh" nocore
step "pack its initramfs" "$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-nocore.gz" "$OUT/selftests-nocore"
echo "harness: build ready in $(( $(date +%s) - t0 ))s"
# The series as maintainers take it: git am, checkpatch and a build at
# every patch (make series, make series-check).
t1=$(date +%s)
step "write the series (make series)" "$REPO/harness/series.sh"
step "check the series patch by patch (make series-check)" \
	env SERIES_KERNEL_OBJ="$OUT/obj-test" "$REPO/harness/series-check.sh"
echo "harness: series checked in $(( $(date +%s) - t1 ))s"

"$REPO/harness/lint.sh"
read -r p f s < "$OUT/lint.counts"
add "$p" "$f" "$s"

rm -rf "$logdir"
for m in $MACHINES; do
	# A full debug-kernel run takes 10 to 15 minutes on the 2-core host.
	"$REPO/harness/qemu-run.sh" "$m" "$OUT/obj-test/arch/x86/boot/bzImage" \
		"$OUT/initramfs-test.gz" "$logdir" test 1500
	"$REPO/harness/report.sh" "$logdir" "$m"
	read -r p f s < "$logdir/$m.counts"
	add "$p" "$f" "$s"
done
# The kernel without the core boots and VFIO type1 does real DMA on it.
"$REPO/harness/qemu-run.sh" vtd-nocore "$OUT/obj-nocore/arch/x86/boot/bzImage" \
	"$OUT/initramfs-nocore.gz" "$logdir" test
"$REPO/harness/report.sh" "$logdir" vtd-nocore
read -r p f s < "$logdir/vtd-nocore.counts"
add "$p" "$f" "$s"
echo "harness: logs in $logdir; total $(( $(date +%s) - t0 ))s"
finish
