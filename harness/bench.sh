#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench.sh: `make bench`, a benchmark and not a test. Build the lean
# kernel as users build theirs (-O2, no debug instrumentation), say how it
# was built, and boot it once per machine in $MACHINES (default vtd) with 4 GiB and 1 GiB of
# hugetlb pages, and time map/unmap of 1 GiB (BENCH_MIB) through VFIO
# type1 and /dev/ioasid for the same edu device in the same boot, then
# maps among 1k to 100k live mappings, small maps and page requests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh"
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
# Say what was measured: the kernel's build options that move the figures.
cfg=$OUT/obj-lean/.config
opt=-Os
grep -q '^CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y' "$cfg" && opt=-O2
grep -q '^CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE_O3=y' "$cfg" && opt=-O3
preempt=full
grep -q '^CONFIG_PREEMPT_NONE=y' "$cfg" && preempt=none
grep -q '^CONFIG_PREEMPT_VOLUNTARY=y' "$cfg" && preempt=voluntary
onoff() { grep -q "^CONFIG_$1=y" "$cfg" && echo on || echo off; }
note "bench kernel: $(make -s -C "$SRC" kernelversion) + the series, $opt," \
     "HZ=$(sed -n 's/^CONFIG_HZ=//p' "$cfg"), preempt $preempt," \
     "KASAN $(onoff KASAN), lockdep $(onoff PROVE_LOCKING)," \
     "THP $(onoff TRANSPARENT_HUGEPAGE), hugetlbfs $(onoff HUGETLBFS)" \
     "(fragments: harness/configs/base.config lean.config)"
demo=$OUT/bench
rm -rf "$demo" && mkdir -p "$demo"
cp "$OUT/selftests-lean/ioasid_bench" "$demo/"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-bench.gz" /dev/null "$demo"
mkdir -p "$OUT/logs-bench"
# BENCH_BOOTS=N boots each machine N times, one after the other, and then
# prints each figure's median per boot and its spread over the boots.
boots=${BENCH_BOOTS:-1}
for m in ${MACHINES:-vtd}; do
	outs=()
	for b in $(seq "$boots"); do
		out=$OUT/logs-bench/$m.out
		[ "$boots" = 1 ] || out=$OUT/logs-bench/$m.boot$b.out
		[ "$boots" = 1 ] || note "$m: boot $b of $boots"
		# The console goes to $out too; its "result" lines (the figures
		# again, for the spread and `make bench-anchor`) are not shown.
		QEMU_MEM=4G QEMU_APPEND="$(bench_append)" \
			"$REPO/harness/qemu-run.sh" "$m" \
			"$OUT/obj-lean/arch/x86/boot/bzImage" "$OUT/initramfs-bench.gz" \
			"$OUT/logs-bench" run 1800 | tee "$out" |
			grep -v '^\[\|^result ' || true
		grep -q '^result done' "$out" || die "$m boot $b did not finish; see $out"
		outs+=("$out")
	done
	[ "$boots" = 1 ] || {
		echo "== $m: $boots boots, each figure's median per boot"
		awk -v mode=spread -f "$REPO/harness/bench-boots.awk" "${outs[@]}" | tee "$OUT/logs-bench/$m.spread"
		cp "${outs[0]}" "$OUT/logs-bench/$m.out"
	}
done
