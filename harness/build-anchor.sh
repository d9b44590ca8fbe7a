#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-anchor.sh: the anchor kernel of `make bench-anchor`. Unpack Debian's
# linux-source-6.12 into $OUT/linux-6.12 (once, again when the package
# changes), configure it like the bench kernel (mkconfig.sh anchor:
# base.config + lean.config + anchor.config), say where its configuration
# differs from the bench kernel's, and build bzImage and the uAPI headers
# ($OUT/obj-anchor/usr/include) incrementally (build.sh anchor).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || "$REPO/harness/deps.sh" linux-source-6.12
[ -f "$tarball" ] || die "$tarball missing: apt-get install linux-source-6.12"
ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
mkdir -p "$OUT"
if [ "$(cat "$OUT/linux-6.12.version" 2>/dev/null)" != "$ver" ]; then
	note "unpacking linux-source-6.12 $ver into $ANCHOR_SRC"
	rm -rf "$ANCHOR_SRC" "$OUT/linux-source-6.12" "$OUT/obj-anchor"
	tar -xJf "$tarball" -C "$OUT"
	mv "$OUT/linux-source-6.12" "$ANCHOR_SRC"
	echo "$ver" > "$OUT/linux-6.12.version"
fi
# (not a *.stamp file: prepare-tree.sh removes those with the 6.1 tree)
"$REPO/harness/mkconfig.sh" anchor

# The effective differences: symbols both kernels know (set, or "is not
# set", in both .config files) with other values, and what only 6.12 sets.
lean=$OUT/obj-lean/.config
if [ -f "$lean" ]; then
	val() {
		sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)/\1\t\2/p
			s/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1\tn/p' "$1" | sort
	}
	note "configuration of 6.12 against the 6.1 bench kernel's, where both have the symbol:"
	join -t $'\t' <(val "$lean") <(val "$OUT/obj-anchor/.config") |
		awk -F '\t' '$2 != $3 { print "    " $1 ": 6.1 " $2 ", 6.12 " $3; n++ }
			     END { if (!n) print "    no difference" }' >&2
	note "set only in 6.12: $(join -t $'\t' -v2 <(val "$lean") <(val "$OUT/obj-anchor/.config") |
		awk -F '\t' '$2 != "n" { printf "%s ", substr($1, 8) }')"
fi
"$REPO/harness/build.sh" anchor
