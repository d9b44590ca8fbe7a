#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# report.sh LOGDIR MACHINE: judge one boot. Prints a per-machine summary
# and writes "passed failed skipped" to LOGDIR/MACHINE.counts.
#
# Counted: every kselftest TAP result on ttyS1, every KUnit case in the
# console's KTAP, and one check "kernel log clean" that fails on any
# BUG/WARNING/KASAN/lockdep/kmemleak report, panic or timeout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

logdir=${1:?} m=${2:?}
tap=$logdir/$m.tap con=$logdir/$m.console
read -r qrc secs < "$logdir/$m.qemu"

# kselftest results, framed by the init's @@@ markers.
read -r p f s < <(awk -v m="$m" '
{ sub(/\r$/, "") }
/^@@@ BEGIN / { name = $3; inside = 1; nf = 0; nres = 0; next }
/^@@@ END / {
	rc = $4; sub("rc=", "", rc); inside = 0
	if (rc == 4 && nres == 0) { skip++; next }
	if (rc != 0 && nf == 0) { fail++; print "FAIL " m ": " name " exited " rc > "/dev/stderr" }
	next
}
/^@@@ DONE/ { done = 1 }
inside && /^ok / {
	nres++
	if ($0 ~ /# SKIP/) skip++; else pass++
}
inside && /^not ok / {
	nres++; nf++; fail++
	print "FAIL " m ": " name ": " $0 > "/dev/stderr"
}
END {
	if (inside) { fail++; print "FAIL " m ": " name " never finished" > "/dev/stderr" }
	if (!done) { fail++; print "FAIL " m ": the guest did not finish its run" > "/dev/stderr" }
	print pass + 0, fail + 0, skip + 0
}' "$tap")

# KUnit: the kernel's own parser (tools/testing/kunit/kunit.py parse) reads
# the KTAP the kernel printed at boot; its JSON gives each case's status.
# A kernel without KUnit tests (the nocore one) has none: 0/0.
kjson=$logdir/$m.kunit.json
python3 "$SRC/tools/testing/kunit/kunit.py" parse --json="$kjson" "$con" \
	> "$logdir/$m.kunit" 2>&1 || true
kunit=$(python3 - "$kjson" "$m" <<'PY'
import json, sys

counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

def walk(group, path):
    for case in group.get("test_cases", []):
        status = case.get("status", "FAIL")
        if status not in counts:
            status = "FAIL"
        counts[status] += 1
        if status == "FAIL":
            print(f"FAIL {sys.argv[2]}: kunit: {path}{case['name']}",
                  file=sys.stderr)
    for sub in group.get("sub_groups", []):
        walk(sub, path + sub.get("name", "?") + ".")

try:
    with open(sys.argv[1]) as f:
        walk(json.load(f), "")
except (OSError, ValueError):
    pass
print(counts["PASS"], counts["FAIL"], counts["SKIP"])
PY
)
read -r kp kf ks <<< "$kunit"
p=$((p + kp)) f=$((f + kf)) s=$((s + ks))

# The kernel log must be clean.
splat='BUG:|WARNING:|Oops|Kernel panic|general protection fault|KASAN|UBSAN|'
splat+='possible circular locking|possible recursive locking|inconsistent lock state|'
splat+='suspicious RCU usage|blocked for more than|unreferenced object|'
splat+='suspected memory leak|Call Trace:|kernel BUG at|invalid context'
clean=1
if grep -aEq "$splat" "$con"; then
	clean=0
	echo "FAIL $m: kernel log has a report:" >&2
	grep -aE -m 5 "$splat" "$con" | sed 's/^/    /' >&2
fi
if [ "$qrc" != 0 ]; then
	clean=0
	echo "FAIL $m: qemu exited $qrc (124 = timeout)" >&2
fi
if [ $clean = 1 ]; then p=$((p + 1)); else f=$((f + 1)); fi

echo "$p $f $s" > "$logdir/$m.counts"
info=$(grep -a -m1 '^@@@ MACHINE' "$tap" | cut -d' ' -f3- || true)
printf '%-7s %3d passed, %d failed, %d skipped (kunit %d/%d) in %ss %s\n' \
	"$m" "$p" "$f" "$s" "$kp" "$((kp + kf))" "$secs" "$info"
