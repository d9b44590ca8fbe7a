#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench-anchor.sh: `make bench-anchor`, the benchmark against the anchor.
# Two boots on the same QEMU machine (vtd), with the same memory, hugepages
# and kernel command line: make bench's boot of 6.1 with the series, and
# Debian's linux-source-6.12 built from the same config fragments
# (harness/build-anchor.sh) running ioasid_bench built against 6.12's uAPI
# headers, whose paths are then iommufd and 6.12's own type1. Prints one
# table: /dev/ioasid on 6.1, type1 on 6.1, iommufd on 6.12, type1 on 6.12,
# and the ratio /dev/ioasid / iommufd. Logs in $OUT/logs-anchor/.
# BENCH_BOOTS=N boots each kernel N times; each cell is then the median of
# the boots' medians, and its spread that of every run of every boot
# (harness/bench-boots.awk): TCG swings one boot by 30-50%.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start=$(date +%s)
logs=$OUT/logs-anchor
mkdir -p "$logs"
export BENCH_MIB=${BENCH_MIB:-1024}

# 6.1 with the series: make bench on VT-d.
note "6.1 + the series: make bench on vtd (output: $logs/bench-6.1.log)"
if ! MACHINES=vtd "$REPO/harness/bench.sh" > "$logs/bench-6.1.log" 2>&1; then
	tail -20 "$logs/bench-6.1.log" >&2
	die "make bench failed"
fi
grep '^harness: bench kernel' "$logs/bench-6.1.log" >&2 || true
boots=${BENCH_BOOTS:-1}
raw61=("$OUT/logs-bench/vtd.out")
if [ "$boots" != 1 ]; then
	raw61=()
	for b in $(seq "$boots"); do raw61+=("$OUT/logs-bench/vtd.boot$b.out"); done
fi
awk -v mode=merge -f "$REPO/harness/bench-boots.awk" "${raw61[@]}" > "$logs/6.1.out"

# 6.12: the kernel, and the benchmark against its headers.
"$REPO/harness/build-anchor.sh"
src=$OUT/linux-6.12
obj=$OUT/obj-anchor
bin=$OUT/bench-anchor
rm -rf "$bin" && mkdir -p "$bin"
if ! gcc -O2 -Wall -Wextra -DBENCH_IOMMUFD -isystem "$obj/usr/include" -static \
	-o "$bin/ioasid_bench" "$REPO/tools/testing/selftests/ioasid/ioasid_bench.c" \
	-lpthread > "$logs/bench-6.12-cc.log" 2>&1; then
	cat "$logs/bench-6.12-cc.log" >&2
	die "ioasid_bench did not build against 6.12's headers"
fi
[ -s "$logs/bench-6.12-cc.log" ] && cat "$logs/bench-6.12-cc.log" >&2
note "anchor kernel: $(make -s -C "$src" kernelversion) (Debian" \
     "$(cat "$OUT/linux-6.12.version")), same fragments + anchor.config"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-anchor.gz" /dev/null "$bin"
outs=()
for b in $(seq "$boots"); do
	out=$logs/6.12.boot$b.out
	note "booting 6.12 on vtd, boot $b of $boots (output: $out)"
	QEMU_MEM=4G QEMU_APPEND="$(bench_append)" \
		"$REPO/harness/qemu-run.sh" vtd "$obj/arch/x86/boot/bzImage" \
		"$OUT/initramfs-anchor.gz" "$logs" run 1800 > "$out" || true
	grep -q '^result done' "$out" ||
		die "6.12 boot $b did not finish its benchmark; see $out"
	outs+=("$out")
done
awk -v mode=merge -f "$REPO/harness/bench-boots.awk" "${outs[@]}" > "$logs/6.12.out"

for v in 6.1 6.12; do
	grep -q '^result done' "$logs/$v.out" ||
		die "the $v boot did not finish its benchmark; see $logs/$v.out"
	if [ $v = 6.1 ]; then raw=("${raw61[@]}"); else raw=("${outs[@]}"); fi
	! grep -q 'failed' "${raw[@]}" ||
		note "WARNING: on $v: $(grep -h 'failed' "${raw[@]}" | tr -d '\r' | head -3 | paste -sd ';')"
done

echo
echo "make bench-anchor: VT-d (QEMU TCG), $BENCH_MIB MiB, both kernels -O2 from"
echo "base.config + lean.config; median of 3 runs, (spread) = max - min."
[ "$boots" = 1 ] || echo "$boots boots of each kernel: the median of the boots' medians, (spread) over every run."
echo "ioasid/iommufd: below 1 the series is cheaper (times, KiB), above 1 faster (cycles/s)."
echo "Rows 'pin floor': the IOAS path's map with no device attached (ioasid on 6.1,"
echo "iommufd on 6.12; not compared: iommufd pins only for a domain or an access,"
echo "so its floor is bookkeeping without pinning); 'container': /dev/ioasid"
echo "answering type1's ioctls (6.12 is built without iommufd's container)."
echo "kmem: KiB per GiB mapped, meta = Slab + VmallocUsed, pages = the rest of the"
echo "drop of free memory (IOMMU page tables). scale: us per 4K map or unmap among"
echo "1k/10k/100k live 4K mappings. small: 4K map+unmap cycles per second."
echo
awk -f "$REPO/harness/anchor-table.awk" "$logs/6.1.out" "$logs/6.12.out" | tee "$logs/table.txt"
note "bench-anchor took $(( $(date +%s) - start ))s"
