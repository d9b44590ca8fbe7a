#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build.sh FLAVOR: configure and build $OUT/obj-FLAVOR/arch/x86/boot/bzImage,
# its uapi headers, and the selftests in $OUT/selftests-FLAVOR (static).
# Everything is incremental; the kernel log goes to $OUT/build-FLAVOR.log.
# The flavour anchor builds Debian's 6.12 (make bench-anchor), no selftests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:?usage: build.sh test|lean|nocore|anchor}
src=$SRC
[ "$flavor" = anchor ] && src=$ANCHOR_SRC
obj=$OUT/obj-$flavor
log=$OUT/build-$flavor.log
"$REPO/harness/mkconfig.sh" "$flavor"

start=$(date +%s)
note "building the $flavor kernel (log: $log)"
if ! make -C "$src" O="$obj" -j"$JOBS" bzImage headers > "$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -20 >&2
	die "the $flavor kernel did not build"
fi
note "$flavor kernel built in $(( $(date +%s) - start ))s"
[ "$flavor" != anchor ] || exit 0

bin=$OUT/selftests-$flavor
mkdir -p "$bin"
# -B: the programs depend on the uAPI headers, which make cannot see.
if ! make -B -s -C "$SRC/tools/testing/selftests/ioasid" OUTPUT="$bin" \
	KHDR_INCLUDES="-isystem $obj/usr/include" LDFLAGS=-static \
	> "$OUT/selftests-$flavor.log" 2>&1; then
	cat "$OUT/selftests-$flavor.log" >&2
	die "the selftests did not build"
fi
