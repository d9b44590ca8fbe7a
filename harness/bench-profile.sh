#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench-profile.sh: `make bench-profile`, where the time of the small maps
# of `make bench` goes. Boots the bench kernel (lean, -O2) once on VT-d
# with Debian's perf, which samples every CPU (cpu-clock, with kernel call
# graphs) while ioasid_bench runs the small maps of one path with one
# thread count at a time, each in a perf session of its own, so that no
# path loses its samples to the others'; then prints, for each, the kernel
# functions that took the most samples of its threads (the bench names
# them sm-type1, sm-compat, sm-ioasid, sm-ioasid-x64), by themselves and
# with what they call. PROFILE_PATHS, PROFILE_THREADS and PROFILE_FREQ
# narrow it down. The figures of this boot are perf's, not the
# benchmark's: sampling slows everything.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/harness/deps.sh" linux-perf
"$REPO/harness/prepare-tree.sh"
"$REPO/harness/build.sh" lean
command -v perf >/dev/null || die "no perf: apt-get install linux-perf"
prog=$OUT/profile/prog demo=$OUT/profile/demo
rm -rf "$OUT/profile" && mkdir -p "$prog" "$demo"
cp "$OUT/selftests-lean/ioasid_bench" "$prog/"
cat > "$demo/profile-small-maps" <<EOF
#!/bin/sh
# Run in the guest by the harness init (harness_mode=run).
cd /tmp
for c in ${PROFILE_PATHS:-type1 compat ioasid ioasid-x64}; do
	for t in ${PROFILE_THREADS:-1 4}; do
		echo "== \$c, \$t thread(s): ioasid_bench's small maps of this path"
		echo "   alone, under perf record -a -g (cpu-clock)"
		BENCH_WORKLOADS=small BENCH_PATHS=\$c BENCH_THREADS=\$t \\
			perf record -q -a -g -e cpu-clock -F ${PROFILE_FREQ:-1000} \\
			-o /tmp/perf.data -- /tests/ioasid_bench | grep '^small'
		perf report -i /tmp/perf.data --stdio --quiet --sort comm \\
			-g none 2>&1 | grep -v '^\$' | head -4
		for mode in no-children children; do
			echo "== \$c, \$t thread(s): functions, --\$mode (percent of the"
			echo "   samples of its threads)"
			perf report -i /tmp/perf.data --stdio --quiet \\
				--comm "sm-\$c" --\$mode --percentage relative \\
				--sort sym -g none \\
				--percent-limit ${PROFILE_LIMIT:-1} \\
				2>/dev/null | grep -v '^\$' | head -${PROFILE_LINES:-40}
		done
		rm -f /tmp/perf.data
	done
done
echo "== profile done"
EOF
chmod 755 "$demo/profile-small-maps"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-profile.gz" "$prog" "$demo"
QEMU_MEM=4G QEMU_APPEND="hugepages=16" \
	"$REPO/harness/qemu-run.sh" vtd "$OUT/obj-lean/arch/x86/boot/bzImage" \
	"$OUT/initramfs-profile.gz" "$OUT/logs-profile" run 1800 | grep -v '^\[' || true
