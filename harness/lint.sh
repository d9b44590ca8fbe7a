#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# lint.sh: checkpatch --strict on our new files and on patches/, sparse on
# our kernel objects, kernel-doc -none on our kernel sources and headers,
# and a warning-free build of tools/ioasid.
# Prints one "ok"/"not ok" line per check and writes the counts to
# $OUT/lint.counts. Needs a prepared tree and a configured obj-test.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cd "$REPO"
pass=0 fail=0 skip=0
result() {	# result NAME STATUS(0 ok, 1 failed, 2 nothing to check) LOG
	case $2 in
	0) pass=$((pass + 1)); echo "ok lint: $1" ;;
	2) skip=$((skip + 1)); echo "ok lint: $1 # SKIP nothing to check" ;;
	*) fail=$((fail + 1)); echo "not ok lint: $1"; sed 's/^/    /' "$3" | head -40 ;;
	esac
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# shellcheck disable=SC2086
files=$(git ls-files --cached --others --exclude-standard -- $OVERLAY_DIRS |
	grep -Ev '(^|/)config$|\.rst$' || true)
kfiles=$(echo "$files" | grep -E '^(drivers|include|kernel|lib|mm|arch)/.*\.[ch]$' || true)
# Objects a Makefile builds (a .c that is #included elsewhere is not one).
kobjs=$(for c in $(echo "$kfiles" | grep '\.c$'); do
	o=$(basename "${c%.c}.o")
	grep -qsw "$o" "$(dirname "$c")/Makefile" && echo "${c%.c}.o"
done)

# shellcheck disable=SC2086
(cd "$SRC" && scripts/checkpatch.pl --strict --quiet --terse --no-summary -f $files) > "$log" 2>&1
st=$?; [ -n "$files" ] || st=2
result "checkpatch --strict on new files" $st "$log"

patches=$(ls patches/*.patch 2>/dev/null || true)
st=2
if [ -n "$patches" ]; then
	# shellcheck disable=SC2086
	(cd "$SRC" && scripts/checkpatch.pl --strict --quiet --terse $(printf "$REPO/%s " $patches)) > "$log" 2>&1
	st=$?
fi
result "checkpatch --strict on patches/" $st "$log"

st=2
if [ -n "$kobjs" ]; then
	# shellcheck disable=SC2086
	make -C "$SRC" O="$OUT/obj-test" -j"$JOBS" C=2 W=1 $kobjs > "$log" 2>&1
	st=$?
	# Any diagnostic from sparse or the compiler on our files fails.
	grep -E '(warning|error):' "$log" > "$log.w" && { st=1; mv "$log.w" "$log"; }
	rm -f "$log.w"
fi
result "sparse (C=2) and W=1 on our objects" $st "$log"

st=2
if [ -n "$kfiles" ]; then
	# shellcheck disable=SC2086
	(cd "$SRC" && scripts/kernel-doc -none $kfiles) > "$log" 2>&1
	st=$?
	[ -s "$log" ] && st=1
fi
result "kernel-doc -none on our sources" $st "$log"

# The user-space tool that reads the core's debugfs: no warning at -Wall -Wextra.
make -s -C "$REPO/tools/ioasid" OUTPUT="$OUT/" CFLAGS="-O2 -Werror" > "$log" 2>&1
result "tools/ioasid builds without warnings" $? "$log"

echo "$pass $fail $skip" > "$OUT/lint.counts"
[ "$fail" = 0 ]
