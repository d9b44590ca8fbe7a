#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Make $OUT/linux = Debian's linux-source-6.1 + patches/ (quilt) + the overlay.
#
# Incremental by design: the base is unpacked only when the installed
# package version changes; the series is re-applied only when a patch
# changes, and files whose content ends up the same keep their old mtime;
# overlay files are copied only when their content differs. So kbuild
# rebuilds just what really changed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || die "$tarball missing; run harness/deps.sh"
base=$(dpkg-query -W -f='${Version}' linux-source-6.1)
pin=$(cat "$REPO/harness/base-version")
[ "$base" = "$pin" ] ||
	note "WARNING: base is linux-source-6.1 $base, the series was made against $pin"

mkdir -p "$OUT"
if [ "$(cat "$OUT/base.stamp" 2>/dev/null)" != "$base" ]; then
	note "unpacking linux-source-6.1 $base"
	rm -rf "$SRC" "$OUT/linux-source-6.1" "$OUT"/*.stamp "$OUT"/overlay.list
	tar -xJf "$tarball" -C "$OUT"
	mv "$OUT/linux-source-6.1" "$SRC"
	echo "$base" > "$OUT/base.stamp"
fi

export QUILT_PATCHES="$REPO/patches" QUILT_PC=.pc
series_sum=$(find "$REPO/patches" -type f -print0 | sort -z | xargs -0 cat | sha256sum)

# Files named by a set of patches, relative to the tree.
patch_files() {
	for p in "$@"; do
		sed -n 's|^+++ [^/]*/\([^[:space:]]*\).*|\1|p' "$p"
	done | sort -u
}

apply_series() {
	local old new f state
	cd "$SRC"
	old=$(ls "$OUT"/applied/*.patch 2>/dev/null || true)
	new=$(grep -v '^[[:space:]]*\(#\|$\)' "$REPO/patches/series" |
	      sed "s|^|$REPO/patches/|" || true)
	state=$(mktemp)
	# Remember content and mtime of every file either series touches.
	# shellcheck disable=SC2086
	for f in $(patch_files $old $new); do
		[ -f "$f" ] && echo "$(sha256sum < "$f" | cut -c1-64) $(stat -c %Y "$f") $f"
	done > "$state"
	# Back to the pristine base: quilt's own backups, or else the tarball.
	if [ -d .pc ] && ! quilt pop -a -f -q >/dev/null 2>&1; then
		note "quilt pop failed; restoring patched files from the tarball"
		# shellcheck disable=SC2086
		patch_files $old | sed 's|^|linux-source-6.1/|' > "$state.files"
		tar -xJf "$tarball" -C "$OUT" --files-from="$state.files" 2>/dev/null || true
		(cd "$OUT/linux-source-6.1" && find . -type f) | while read -r f; do
			mv "$OUT/linux-source-6.1/$f" "$f"
		done
		rm -rf "$OUT/linux-source-6.1" "$state.files"
	fi
	rm -rf .pc
	local n=0
	for p in $(grep -v '^[[:space:]]*\(#\|$\)' "$REPO/patches/series"); do
		if ! quilt push -q >/dev/null 2>"$OUT/quilt.err"; then
			cat "$OUT/quilt.err" >&2
			die "patch patches/$p no longer applies to linux-source-6.1 $base"
		fi
		n=$((n + 1))
	done
	# Unchanged content gets its old mtime back; changed content is new.
	while read -r sum mtime f; do
		if [ -f "$f" ] && [ "$(sha256sum < "$f" | cut -c1-64)" = "$sum" ]; then
			touch -d "@$mtime" "$f"
		elif [ -f "$f" ]; then
			touch "$f"
		fi
	done < "$state"
	rm -f "$state"
	rm -rf "$OUT/applied" && mkdir -p "$OUT/applied"
	# shellcheck disable=SC2086
	[ -z "$new" ] || cp $new "$OUT/applied/"
	note "applied $n patches"
	cd - >/dev/null
}

if [ "$(cat "$OUT/series.stamp" 2>/dev/null)" != "$series_sum" ]; then
	rm -f "$OUT/series.stamp"
	apply_series
	echo "$series_sum" > "$OUT/series.stamp"
fi

# Overlay: copy new or changed files, drop files the repo no longer has.
cd "$REPO"
# shellcheck disable=SC2086
git ls-files --cached --others --exclude-standard -- $OVERLAY_DIRS |
	sort > "$OUT/overlay.new"
copied=0
while read -r f; do
	[ -f "$f" ] || continue
	if ! cmp -s "$f" "$SRC/$f"; then
		mkdir -p "$(dirname "$SRC/$f")"
		cp "$f" "$SRC/$f"
		copied=$((copied + 1))
	fi
done < "$OUT/overlay.new"
if [ -f "$OUT/overlay.list" ]; then
	comm -23 "$OUT/overlay.list" "$OUT/overlay.new" | while read -r f; do
		rm -f "$SRC/$f"
	done
fi
mv "$OUT/overlay.new" "$OUT/overlay.list"
[ "$copied" = 0 ] || note "overlay: $copied files updated"
