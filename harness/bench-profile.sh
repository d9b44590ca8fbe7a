#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench-profile.sh: `make bench-profile`, where the time of the small maps
# of `make bench` goes. Boots the bench kernel (lean, -O2) once on VT-d
# with Debian's perf, which samples every CPU (cpu-clock, with kernel call
# graphs) while ioasid_bench runs its small maps alone; then prints, for each small-map path (the bench names its threads
# sm-type1, sm-compat, sm-ioasid, sm-ioasid-x64), the kernel functions that took
# the most samples, by themselves and with what they call. The figures of
# this boot are perf's, not the benchmark's: sampling slows everything.
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
echo "== ioasid_bench's small maps under perf record -a -g (cpu-clock)"
BENCH_WORKLOADS=small perf record -q -a -g -e cpu-clock -F 4000 \\
	-o /tmp/perf.data -- /tests/ioasid_bench | grep '^small'
echo "== samples per thread name"
perf report -i /tmp/perf.data --stdio --quiet --sort comm -g none 2>/dev/null | head -12
for c in sm-type1 sm-compat sm-ioasid sm-ioasid-x64; do
	for mode in no-children children; do
		echo "== \$c: functions, --\$mode (percent of its samples)"
		perf report -i /tmp/perf.data --stdio --quiet --comm "\$c" \\
			--\$mode --percentage relative --sort sym -g none \\
			--percent-limit ${PROFILE_LIMIT:-1} \\
			2>/dev/null | grep -v '^\$' | head -${PROFILE_LINES:-40}
	done
done
echo "== profile done"
EOF
chmod 755 "$demo/profile-small-maps"
"$REPO/harness/mkinitramfs.sh" "$OUT/initramfs-profile.gz" "$prog" "$demo"
QEMU_MEM=4G QEMU_APPEND="hugepages=16" \
	"$REPO/harness/qemu-run.sh" vtd "$OUT/obj-lean/arch/x86/boot/bzImage" \
	"$OUT/initramfs-profile.gz" "$OUT/logs-profile" run 1800 | grep -v '^\[' || true
