#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# series-check.sh: prove $OUT/series (`make series`) patch by patch. In a
# scratch git tree of the pristine base, git am each patch, run
# checkpatch.pl --strict on it, and build the kernel incrementally in one
# O= directory. Fails naming the first patch that does not apply, has a
# checkpatch ERROR, or does not build. Log: $OUT/series-check/log.
#
# Build at each patch: every object (the target vmlinux_o: vmlinux.a and
# vmlinux.o; not "vmlinux.a" or "vmlinux.o", which kbuild takes as single
# targets and builds without descending), and no symbol that its
# objects use and none defines, beyond those the base leaves so (the
# linker script's), which is what the final link would refuse. The full
# bzImage (link, objtool on vmlinux.o, modpost) is built every
# SERIES_LINK_EVERY patches (default 8; 1 links every patch) and at the
# last. The config is the lean one plus harness/configs/series.config
# (vDPA, the mdev sample, KUnit), made on the end of the series; each
# step takes what of it exists there (olddefconfig). With ccache (deps.sh
# installs it), compiles go through a cache in $OUT/ccache (CCACHE_DIR=),
# so that a run after the first recompiles only what changed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=$OUT/series
work=$OUT/series-check
tree=$work/linux
obj=$work/obj
log=$work/log
every=${SERIES_LINK_EVERY:-8}
[ -f "$series/0000-cover-letter.patch" ] || die "no $series; run make series first"
[ -d "$OUT/series-git/.git" ] || die "no $OUT/series-git; run make series first"
mkdir -p "$work"
: > "$log"
t0=$(date +%s)
say() { echo "harness: series-check: $*" | tee -a "$log" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# The config, made on the tree at the end of the series.
cfg=$work/cfg
mkdir -p "$cfg"
ln -sfn "$OUT/series-git" "$cfg/linux"
git -C "$OUT/series-git" rev-parse series > "$cfg/series.stamp"
OUT=$cfg "$REPO/harness/mkconfig.sh" series

# The scratch tree: the base, shared with series-git's objects.
if [ ! -d "$tree/.git" ]; then
	rm -rf "$tree"
	git clone -q --shared --no-checkout "$OUT/series-git" "$tree"
fi
g() { git -C "$tree" "$@"; }
g am --abort >/dev/null 2>&1 || true
g fetch -q origin 'refs/tags/base:refs/tags/base'
g checkout -q -f -B check base
g clean -q -f -d -x
export GIT_COMMITTER_NAME="series-check" GIT_COMMITTER_EMAIL="series-check@invalid"
cc=gcc
if command -v ccache >/dev/null; then
	export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache} CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
	cc="ccache gcc"
	ccache -z >/dev/null
fi

build() {	# build NAME TARGET: incremental build of TARGET, timed; 1 if it fails
	local t
	t=$(date +%s)
	mkdir -p "$obj"
	cmp -s "$cfg/obj-series/.config" "$obj/.config.series" || {
		cp "$cfg/obj-series/.config" "$obj/.config.series"
	}
	cp "$obj/.config.series" "$obj/.config.new"
	# Keep .config's mtime when olddefconfig gives the same content.
	make -s -C "$tree" O="$obj" CC="$cc" KCONFIG_CONFIG=.config.new olddefconfig >> "$log" 2>&1
	cmp -s "$obj/.config.new" "$obj/.config" || cp "$obj/.config.new" "$obj/.config"
	if ! make -C "$tree" O="$obj" CC="$cc" -j"$JOBS" "$2" >> "$work/build.log" 2>&1; then
		grep -E 'error|Error|undefined' "$work/build.log" | tail -20 | tee -a "$log" >&2
		echo "does not build ($2)" > "$work/why"
		return 1
	fi
	# Symbols the final link would find undefined: used, and defined by
	# no object of vmlinux.a or the libraries linked with it.
	nm "$obj/vmlinux.a" "$obj"/lib/lib.a "$obj"/arch/x86/lib/lib.a 2>/dev/null |
		awk 'NF == 2 && $1 == "U" { u[$2] = 1 }
		     NF == 3 && $2 != "U" { d[$3] = 1 }
		     END { for (s in u) if (!(s in d)) print s }' | sort > "$work/undef"
	if [ "$1" = base ]; then
		cp "$work/undef" "$work/undef.base"
	elif comm -23 "$work/undef" "$work/undef.base" | grep -q .; then
		comm -23 "$work/undef" "$work/undef.base" | head | tee -a "$log" >&2
		echo "leaves symbols undefined (the link would fail)" > "$work/why"
		return 1
	fi
	btime=$(( $(date +%s) - t ))
}

: > "$work/build.log"
build base bzImage || fail "the base $(cat "$work/why")"
say "base built (bzImage) in ${btime}s"

patches=$(find "$series" -name '0*.patch' ! -name '0000-cover-letter.patch' | sort)
total=$(echo "$patches" | wc -l)
i=0
for p in $patches; do
	i=$((i + 1))
	name=$(basename "$p")
	g am -q "$p" >> "$log" 2>&1 || fail "$name does not apply"
	# checkpatch (one CPU, minutes on the big patches) runs beside the build.
	t=$(date +%s)
	(cd "$tree" && scripts/checkpatch.pl --strict --quiet --no-summary --show-types "$p" \
		> "$work/checkpatch.out" 2>&1 || true; echo $(( $(date +%s) - t )) > "$work/checkpatch.time") &
	cp_pid=$!
	target=vmlinux_o
	[ $((i % every)) != 0 ] && [ "$i" != "$total" ] || target=bzImage
	built=0
	build "$name" "$target" || built=$?
	wait "$cp_pid" || true
	errors=$(grep -c '^ERROR:' "$work/checkpatch.out" || true)
	warnings=$(grep -c '^WARNING:' "$work/checkpatch.out" || true)
	checks=$(grep -c '^CHECK:' "$work/checkpatch.out" || true)
	sed "s|^|    $name: |" "$work/checkpatch.out" >> "$log"
	[ "$errors" = 0 ] || {
		grep -A3 '^ERROR:' "$work/checkpatch.out" | head -20 >&2
		fail "$name has $errors checkpatch errors"
	}
	[ "$built" = 0 ] || fail "$name $(cat "$work/why")"
	say "$i/$total $name: applied; checkpatch $(cat "$work/checkpatch.time")s" \
	    "($warnings warnings, $checks checks); $target ${btime}s"
done
[ "$cc" = gcc ] || ccache -s | grep -Ei 'hits|misses' | sed 's/^/    ccache: /' | tee -a "$log" >&2
say "OK: $total patches apply, build and have no checkpatch errors; $(( $(date +%s) - t0 ))s"
