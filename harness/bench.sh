#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench.sh: `make bench`, a benchmark and not a test. Boot the lean kernel
# once per machine in $MACHINES (default vtd) with 4 GiB and 1 GiB of
# hugetlb pages, and time map/unmap of 1 GiB (BENCH_MIB) through VFIO
# type1 and /dev/ioasid for the same edu device in the same boot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh"
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
demo=$OUT/bench
rm -rf "$demo" && mkdir -p "$demo"
cp "$OUT/selftests-lean/ioasid_bench" "$demo/"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-bench.gz" /dev/null "$demo"
for m in ${MACHINES:-vtd}; do
	mib=${BENCH_MIB:-1024}
	QEMU_MEM=4G QEMU_APPEND="hugepages=$((mib / 2 + 8)) harness_bench_mib=$mib" \
		"$REPO/harness/qemu-run.sh" "$m" \
		"$OUT/obj-lean/arch/x86/boot/bzImage" "$OUT/initramfs-bench.gz" \
		"$OUT/logs-bench" run 1800 | grep -v '^\[' || true
done
