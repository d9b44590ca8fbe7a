#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# series-check.sh: prove $OUT/series (`make series`) patch by patch. In a
# scratch git tree of the pristine base, git am each patch, run
# checkpatch.pl --strict on it, and build the kernel incrementally in one
# O= directory. Fails naming the first patch that does not apply, has a
# checkpatch ERROR, or does not build. Log: $OUT/series-check/log.
#
# The base is built whole (bzImage). After each patch, only what the patch
# can change is rebuilt, in one make of the kbuild directories:
#   - the directory of each source file or Makefile the patch touches;
#   - for each header it touches, the directories of the objects whose
#     dependency files (.*.cmd, written by fixdep) name that header;
#   - for each config symbol whose value changes, the directories of the
#     objects that depend on it and of the Makefiles that test it.
# Then every symbol the objects of vmlinux use must be defined by one of
# them, and none defined twice, beyond what the base leaves so: what the
# final link would refuse. The full bzImage (link, objtool on vmlinux.o,
# modpost) is built every SERIES_LINK_EVERY patches (default 16) and at
# the last. Patches that touch tools/testing/selftests/ioasid build the
# selftests against the uAPI headers of that step.
#
# The config is the lean one plus harness/configs/series.config (vDPA, the
# mdev sample, KUnit), made on the end of the series; each step takes what
# of it exists there (olddefconfig). With ccache (deps.sh installs it),
# compiles go through a cache in CCACHE_DIR (default $OUT/ccache).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${SERIES_DIR:-$OUT/series}
work=$OUT/series-check
tree=$work/linux
obj=$work/obj
log=$work/log
every=${SERIES_LINK_EVERY:-16}
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
kmake() { make -C "$tree" O="$obj" CC="$cc" "$@"; }
# CPU seconds (user + sys) of what the script ran so far: unlike the time
# taken, it does not depend on what else the machine runs.
cpu() {
	times | awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
		     END { printf "%d", s }'
}

# The config of this step; prints the symbols whose value changed.
config() {
	mkdir -p "$obj"
	cp "$cfg/obj-series/.config" "$obj/.config.new"
	kmake -s KCONFIG_CONFIG=.config.new olddefconfig >> "$log" 2>&1
	# Keep .config's mtime when olddefconfig gives the same content.
	if ! cmp -s "$obj/.config.new" "$obj/.config"; then
		[ ! -f "$obj/.config" ] ||
			diff <(sort "$obj/.config") <(sort "$obj/.config.new") |
			sed -n 's/^[<>] \(# \)\?CONFIG_\([A-Za-z0-9_]*\)[= ].*/\2/p' | sort -u
		cp "$obj/.config.new" "$obj/.config"
	fi
}

# The objects linked into vmlinux, and the symbols they leave undefined or
# define twice; 1 (and $work/why) when that is more than the base's.
symbols() {
	local dir
	{
		ar t "$obj/vmlinux.a"
		for dir in "$@"; do
			[ ! -f "$obj/$dir/built-in.a" ] || ar t "$obj/$dir/built-in.a"
		done
		echo lib/lib.a arch/x86/lib/lib.a
	} | sort -u | (cd "$obj" && xargs -r ls -d 2>/dev/null) > "$work/objects"
	(cd "$obj" && xargs -r nm < "$work/objects") 2>/dev/null |
		awk '/:$/ { next }
		     NF == 2 && $1 == "U" { u[$2] = 1 }
		     NF == 3 && $2 ~ /^[TDBRGSAC]$/ { d[$3]++ }
		     NF == 3 && $2 !~ /^[TDBRGSAC]$/ { d[$3] += 0 }
		     END {
			for (s in u) if (!(s in d)) print "undefined " s
			for (s in d) if (d[s] > 1) print "defined twice " s
		     }' | sort > "$work/symbols"
	if [ "$1" = base ]; then
		cp "$work/symbols" "$work/symbols.base"
	elif comm -23 "$work/symbols" "$work/symbols.base" | grep -q .; then
		comm -23 "$work/symbols" "$work/symbols.base" | head | tee -a "$log" >&2
		echo "would not link: $(comm -23 "$work/symbols" "$work/symbols.base" |
			head -3 | paste -sd, | sed 's/,/, /g')" > "$work/why"
		return 1
	fi
}

# The kbuild directories that may change with this commit: see the top.
dirs_of() {	# dirs_of CHANGED-SYMBOLS...
	local f d sym
	: > "$work/dirs"
	: > "$work/headers"
	: > "$work/configs"
	while read -r f; do
		case $f in
		Documentation/* | tools/* | MAINTAINERS | */Kconfig*) continue ;;
		*.h) echo "$f" >> "$work/headers" ;;
		esac
		d=$(dirname "$f")
		while [ "$d" != . ] && [ ! -f "$tree/$d/Makefile" ] && [ ! -f "$tree/$d/Kbuild" ]; do
			d=$(dirname "$d")
		done
		case $f in *.h) ;; *) [ "$d" = . ] || echo "$d" >> "$work/dirs" ;; esac
	done < "$work/changed"
	for sym in "$@"; do
		echo "wildcard include/config/$sym)" >> "$work/configs"
		(cd "$tree" && git grep -l -w "CONFIG_$sym" -- '*Makefile' '*Kbuild' 2>/dev/null |
			xargs -r -n1 dirname) >> "$work/dirs" || true
	done
	if [ -s "$work/headers" ] || [ -s "$work/configs" ]; then
		# fixdep names a source header by its path under the source tree,
		# a config symbol by $(wildcard include/config/SYMBOL).
		{ sed 's|^|/|' "$work/headers"; cat "$work/configs"; } > "$work/headers.pat"
		find "$obj" -name '.*.o.cmd' -print0 |
			xargs -0 -r grep -l -F -f "$work/headers.pat" |
			xargs -r -n1 dirname | sed "s|^$obj/\?||" >> "$work/dirs" || true
	fi
	# Only directories kbuild builds from the top, each once, no child of
	# another (make dir/ builds its subdirectories).
	grep -v '^\(\.\|scripts\|tools\|usr\|Documentation\)\(/\|$\)' "$work/dirs" | sort -u |
		awk 'NR == 1 || index($0 "/", last "/") != 1 { print; last = $0 }' |
		while read -r d; do [ -d "$obj/$d" ] || [ -f "$tree/$d/Makefile" ] && echo "$d/"; done
}

build() {	# build NAME TARGET...: make TARGETs; 1 (and $work/why) if it fails
	local t
	t=$(date +%s)
	if ! kmake -j"$JOBS" "${@:2}" >> "$work/build.log" 2>&1; then
		grep -E 'error|Error|undefined' "$work/build.log" | tail -20 | tee -a "$log" >&2
		echo "does not build (${*:2})" > "$work/why"
		return 1
	fi
	btime=$(( $(date +%s) - t ))
}

selftests() {	# build the selftests against this step's uAPI headers
	local t
	t=$(date +%s)
	kmake -s headers >> "$work/build.log" 2>&1 || { echo "headers do not build" > "$work/why"; return 1; }
	mkdir -p "$work/selftests"
	if ! make -s -C "$tree/tools/testing/selftests/ioasid" OUTPUT="$work/selftests" \
		KHDR_INCLUDES="-isystem $obj/usr/include" >> "$work/build.log" 2>&1; then
		tail -20 "$work/build.log" | tee -a "$log" >&2
		echo "does not build (selftests)" > "$work/why"
		return 1
	fi
	btime=$(( $(date +%s) - t ))
}

: > "$work/build.log"
config > /dev/null
build base bzImage || fail "the base $(cat "$work/why")"
symbols base
say "base built (bzImage) in ${btime}s, $(cpu)s of CPU"

patches=$(find "$series" -name '0*.patch' ! -name '0000-cover-letter.patch' | sort)
total=$(echo "$patches" | wc -l)
i=0
for p in $patches; do
	i=$((i + 1))
	name=$(basename "$p")
	g am -q "$p" >> "$log" 2>&1 || fail "$name does not apply"
	# checkpatch (one CPU, a minute on the big patches) runs beside the build.
	t=$(date +%s)
	(cd "$tree" && scripts/checkpatch.pl --strict --quiet --no-summary --show-types "$p" \
		> "$work/checkpatch.out" 2>&1 || true; echo $(( $(date +%s) - t )) > "$work/checkpatch.time") &
	cp_pid=$!
	g diff --name-only HEAD~1 HEAD > "$work/changed"
	# shellcheck disable=SC2046
	mapfile -t dirs < <(dirs_of $(config))
	built=0 what="nothing to build" btime=0
	if [ $((i % every)) = 0 ] || [ "$i" = "$total" ]; then
		what=bzImage
		build "$name" bzImage && symbols "$name" || built=1
	elif [ "${#dirs[@]}" -gt 0 ]; then
		what="${dirs[*]}"
		build "$name" "${dirs[@]}" && symbols "$name" "${dirs[@]%/}" || built=1
	fi
	if [ "$built" = 0 ] && grep -q '^tools/testing/selftests/ioasid/' "$work/changed"; then
		what="$what; selftests"
		selftests || built=1
	fi
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
	say "$i/$total $name: checkpatch $(cat "$work/checkpatch.time")s" \
	    "($warnings warnings, $checks checks); built ${btime}s: $what; CPU so far $(cpu)s"
done
[ "$cc" = gcc ] || ccache -s | grep -Ei 'hits|misses' | sed 's/^/    ccache: /' | tee -a "$log" >&2
say "OK: $total patches apply, build and have no checkpatch errors;" \
    "$(( $(date +%s) - t0 ))s, $(cpu)s of CPU"
