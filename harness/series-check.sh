#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# series-check.sh: prove $OUT/series (`make series`) patch by patch. In a
# scratch git tree of the pristine base, git am each patch, run
# checkpatch.pl --strict on it, and build the kernel incrementally in one
# O= directory. Fails naming the first patch that does not apply, has a
# checkpatch ERROR, does not build or would not link. Log:
# $OUT/series-check/log.
#
# What is built where, so that it costs about one kernel build:
#   - The scope: the kbuild directories the series touches, each taken at
#     its top (drivers/iommu, drivers/vfio, samples, ...).
#   - At the base and after each patch: one make of the scope directories
#     the patch can change: those holding a source or Makefile it touches,
#     objects whose dependency files (fixdep's .*.cmd) name a header it
#     touches, and objects that depend on, or Makefiles that test, a config
#     symbol whose value it changes. Then the symbols the scope's objects
#     use and do not define are recorded, and none may be defined twice.
#   - At the last patch (and every SERIES_LINK_EVERY patches, if set): the
#     whole bzImage, which rebuilds everything the series changed outside
#     the scope too (users of the headers it touches) and links. With
#     SERIES_KERNEL_OBJ=DIR, an O= directory where the end of the series
#     (the tree prepare-tree.sh makes, which series.sh checks it is) is
#     already built whole, the last patch builds its scope directories
#     like the others and that build stands for the whole one: make check
#     passes its test kernel, which has every option of this config and
#     the debug ones, and so saves a second full build of the same tree.
#   - After the last: each patch's record is checked against the symbols
#     the whole kernel defines outside the scope: a symbol that a patch
#     uses and nothing defines at that patch is what its link would refuse.
#     With SERIES_KERNEL_OBJ, whose symbols are taken at the start, and in
#     a run after one that got that far, each patch is also checked at
#     once, against what that kernel defines outside the scope.
# So a patch that breaks code outside the scope (an include/ header's other
# users) is caught by the full build, which names the first file that does
# not build, not the patch. Patches that touch the ioasid selftests build
# them against the uAPI headers of that step.
#
# The config is the test kernel's (every option the series adds, vDPA, the
# mdev sample, KUnit, and the debug ones: KASAN, lockdep), made on the end
# of the series; each step takes what of it exists there (olddefconfig).
# A kernel built with another config defines other symbols (lockdep's
# mutex_lock_nested() for mutex_lock()), so SERIES_KERNEL_OBJ must be built
# with this one. With ccache (deps.sh installs it),
# compiles go through a cache in CCACHE_DIR (default $OUT/ccache).
# SERIES_DIR= checks another series than $OUT/series.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${SERIES_DIR:-$OUT/series}
work=$OUT/series-check
tree=$work/linux
obj=$work/obj
log=$work/log
every=${SERIES_LINK_EVERY:-0}
kobj=${SERIES_KERNEL_OBJ:-}
[ -z "$kobj" ] || [ -f "$kobj/vmlinux.a" ] || die "SERIES_KERNEL_OBJ=$kobj holds no built kernel"
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
# cpu sets $cpu; it must run in this shell, not in a $(...) subshell.
cpu() {
	times > "$work/times"
	cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
		   END { printf "%d", s }' "$work/times")
}

patches=$(find "$series" -name '0*.patch' ! -name '0000-cover-letter.patch' | sort)
total=$(echo "$patches" | wc -l)

# The scope: the top two levels of each kbuild directory the series
# touches (drivers/iommu for drivers/iommu/intel), none inside another.
# shellcheck disable=SC2086
sed -n 's|^+++ b/\(.*\)/[^/]*$|\1|p' $patches | sort -u |
	grep -v '^\(include\|tools\|scripts\|usr\|Documentation\)\(/\|$\)' |
	cut -d/ -f1-2 | sort -u |
	awk 'NR == 1 || index($0 "/", last "/") != 1 { print; last = $0 }' > "$work/scope"
say "scope: $(paste -sd' ' "$work/scope")"

# The config of this step; prints the symbols whose value changed.
config() {
	mkdir -p "$obj"
	cp "$cfg/obj-series/.config" "$obj/.config.new"
	kmake -s KCONFIG_CONFIG=.config.new olddefconfig >> "$log" 2>&1
	# Keep .config's mtime when olddefconfig gives the same content.
	if ! cmp -s "$obj/.config.new" "$obj/.config"; then
		[ ! -f "$obj/.config" ] ||
			diff <(sort "$obj/.config") <(sort "$obj/.config.new") |
			sed -n 's/^[<>] \(# \)\?CONFIG_\([A-Za-z0-9_]*\)[= ].*/\2/p' | sort -u || true
		cp "$obj/.config.new" "$obj/.config"
	fi
}

# The scope directories that this commit may change: see the top.
dirs_of() {	# dirs_of CHANGED-SYMBOLS...
	local f sym
	: > "$work/dirs"
	: > "$work/pat"
	while read -r f; do
		case $f in
		Documentation/* | tools/* | MAINTAINERS | */Kconfig*) ;;
		*.h) echo "/$f" >> "$work/pat" ;;
		*) dirname "$f" >> "$work/dirs" ;;
		esac
	done < "$work/changed"
	for sym in "$@"; do
		echo "wildcard include/config/$sym)" >> "$work/pat"
		(cd "$tree" && git grep -l -w "CONFIG_$sym" -- '*Makefile' '*Kbuild' 2>/dev/null |
			xargs -r -n1 dirname) >> "$work/dirs" || true
	done
	# fixdep names a source header by its path under the source tree, a
	# config symbol by $(wildcard include/config/SYMBOL).
	if [ -s "$work/pat" ]; then
		# shellcheck disable=SC2046
		(cd "$obj" && find $(cat "$work/scope") -name '.*.o.cmd' -print0 2>/dev/null |
			xargs -0 -r grep -l -F -f "$work/pat" | xargs -r -n1 dirname) >> "$work/dirs" || true
	fi
	# Each scope directory holding one of them, once.
	while read -r f; do
		grep -x -F -e "$f" -e "$(echo "$f" | cut -d/ -f1-2)" -e "${f%%/*}" "$work/scope" || true
	done < "$work/dirs" | sort -u | sed 's|$|/|'
}

# The symbols the scope's objects use and define now, in $work/sym/NAME.
symbols() {	# symbols NAME
	local d
	mkdir -p "$work/sym"
	while read -r d; do
		[ ! -f "$obj/$d/built-in.a" ] || ar t "$obj/$d/built-in.a"
	done < "$work/scope" | sort -u > "$work/objects"
	(cd "$obj" && xargs -r nm < "$work/objects") 2>/dev/null |
		awk '/:$/ { next }
		     NF == 2 && $1 == "U" { print "U " $2 }
		     NF == 3 && $2 ~ /^[TDBRGSAC]$/ { print "D " $3 }
		     NF == 3 && $2 ~ /^[WVvw]$/ { print "W " $3 }' | sort > "$work/sym/$1"
	# Two objects defining one symbol: what the link refuses, beyond the base.
	awk '$1 == "D" { print $2 }' "$work/sym/$1" | uniq -d > "$work/dups"
	[ "$1" != 0000-base ] || cp "$work/dups" "$work/dups.base"
	if comm -23 "$work/dups" "$work/dups.base" | grep -q .; then
		echo "defines twice: $(comm -23 "$work/dups" "$work/dups.base" | head -3 | paste -sd' ')" > "$work/why"
		return 1
	fi
}

# Would the link at step NAME find every symbol the scope used? DEFS: what
# the kernel outside the scope defines, and what it leaves undefined.
links() {	# links NAME DEFS; 1 (and $work/why) if not
	awk 'FNR == NR { d[$2] = 1; next }
	     $1 != "U" { d[$2] = 1; next }
	     { u[$2] = 1 }
	     END { for (s in u) if (!(s in d)) print s }' \
		"$2" "$work/sym/$1" | sort > "$work/undef"
	[ ! -s "$work/undef" ] || {
		echo "$1 would not link: nothing defines $(head -3 "$work/undef" | paste -sd' ')" > "$work/why"
		return 1
	}
}

build() {	# build NAME TARGET...: make TARGETs; 1 (and $work/why) if it fails
	local t
	t=$(date +%s)
	: > "$work/step.log"
	if ! kmake -j"$JOBS" "${@:2}" > "$work/step.log" 2>&1; then
		cat "$work/step.log" >> "$work/build.log"
		grep -E 'error|Error|undefined' "$work/build.log" | tail -20 | tee -a "$log" >&2
		echo "does not build (${*:2})" > "$work/why"
		return 1
	fi
	cat "$work/step.log" >> "$work/build.log"
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

# What the whole kernel in O= directory $1 defines outside the scope, and
# what it leaves undefined (the linker script's symbols), in
# $work/outside.defs. The scope's own definitions come from $1 too
# (SERIES_KERNEL_OBJ), or from the last step's record (our own build).
outside() {	# outside DIR
	local d last
	nm "$1/vmlinux.a" "$1"/lib/lib.a "$1"/arch/x86/lib/lib.a 2>/dev/null |
		awk 'NF == 2 && $1 == "U" { u[$2] = 1 }
		     NF == 3 && $2 != "U" { d[$3] = 1; print "D " $3 }
		     END { for (s in u) if (!(s in d)) print "D " s }' | sort -u > "$work/kernel.defs"
	if [ "$1" = "$kobj" ]; then
		while read -r d; do
			[ ! -f "$1/$d/built-in.a" ] || ar t "$1/$d/built-in.a"
		done < "$work/scope" | sort -u | (cd "$1" && xargs -r nm 2>/dev/null) |
			awk 'NF == 3 && $2 ~ /^[TDBRGSACWVvw]$/ { print "D " $3 }' |
			sort -u > "$work/scope.defs"
	else
		last=$(find "$work/sym" -type f -printf '%f\n' | sort | tail -1)
		awk '$1 != "U" { print "D " $2 }' "$work/sym/$last" | sort -u > "$work/scope.defs"
	fi
	comm -23 "$work/kernel.defs" "$work/scope.defs" > "$work/outside.defs"
}

: > "$work/build.log"
rm -rf "$work/sym" "$work/selftests"
# What the kernel outside the scope defines, to check each step's link at
# once: SERIES_KERNEL_OBJ's, taken now (make check may rebuild some of its
# objects beside this run), or what the last run found; with neither, the
# check after the full build below is the one that counts.
prev=$work/outside.defs
if [ -n "$kobj" ]; then
	outside "$kobj"
	cp "$work/outside.defs" "$work/outside.kobj"
	prev=$work/outside.kobj
fi
config > /dev/null
# shellcheck disable=SC2046
build base $(sed 's|$|/|' "$work/scope") || fail "the base $(cat "$work/why")"
symbols 0000-base || fail "the base $(cat "$work/why")"
cpu
say "base built (the scope) in ${btime}s, ${cpu}s of CPU"

i=0
for p in $patches; do
	i=$((i + 1))
	name=$(basename "$p")
	g am -q "$p" >> "$log" 2>&1 || fail "$name does not apply"
	# checkpatch (one CPU, up to a minute a patch) runs beside the build;
	# its verdict on a patch it saw before is kept.
	t=$(date +%s)
	verdict=$work/checkpatch.cache/$(cat "$p" "$tree/scripts/checkpatch.pl" | sha256sum | cut -c1-64)
	mkdir -p "$work/checkpatch.cache"
	if [ -f "$verdict" ]; then
		cp "$verdict" "$work/checkpatch.out"
		echo 0 > "$work/checkpatch.time"
		cp_pid=
	else
		(cd "$tree" && scripts/checkpatch.pl --strict --quiet --no-summary --show-types "$p" \
			> "$work/checkpatch.out" 2>&1 || true; echo $(( $(date +%s) - t )) > "$work/checkpatch.time") &
		cp_pid=$!
	fi
	g diff --name-only HEAD~1 HEAD > "$work/changed"
	# Only a Kconfig file changes what olddefconfig makes of the fragments.
	changed_syms=
	! grep -q 'Kconfig' "$work/changed" || changed_syms=$(config)
	# shellcheck disable=SC2086
	mapfile -t dirs < <(dirs_of $changed_syms)
	built=0 what="nothing to build" btime=0
	if { [ "$i" = "$total" ] && [ -z "$kobj" ]; } ||
	   { [ "$every" -gt 0 ] && [ $((i % every)) = 0 ]; }; then
		what=bzImage
		build "$name" bzImage && symbols "$name" || built=1
	elif [ "${#dirs[@]}" -gt 0 ]; then
		what="${dirs[*]}"
		build "$name" "${dirs[@]}" && symbols "$name" || built=1
	else
		cp "$work/sym/$(find "$work/sym" -type f -printf '%f\n' | sort | tail -1)" "$work/sym/$name"
	fi
	if [ "$built" = 0 ] && grep -q '^tools/testing/selftests/ioasid/' "$work/changed"; then
		what="$what; selftests"
		selftests || built=1
	fi
	[ -z "$cp_pid" ] || { wait "$cp_pid" || true; cp "$work/checkpatch.out" "$verdict"; }
	errors=$(grep -c '^ERROR:' "$work/checkpatch.out" || true)
	warnings=$(grep -c '^WARNING:' "$work/checkpatch.out" || true)
	checks=$(grep -c '^CHECK:' "$work/checkpatch.out" || true)
	sed "s|^|    $name: |" "$work/checkpatch.out" >> "$log"
	[ "$errors" = 0 ] || {
		grep -A3 '^ERROR:' "$work/checkpatch.out" | head -20 >&2
		fail "$name has $errors checkpatch errors"
	}
	[ "$built" = 0 ] || fail "$name $(cat "$work/why")"
	[ ! -f "$prev" ] || links "$name" "$prev" || fail "$(cat "$work/why") (against the last run's kernel)"
	# Compiler warnings in the files this patch touches.
	cwarn=0
	if [ -s "$work/step.log" ]; then
		grep -F -f <(sed 's|$|:|' "$work/changed") "$work/step.log" | grep 'warning:' |
			sed "s|^|    $name: |" | tee -a "$log" | grep -c . > "$work/cwarn" || true
		cwarn=$(cat "$work/cwarn")
		: > "$work/step.log"
	fi
	cpu
	say "$i/$total $name: checkpatch $(cat "$work/checkpatch.time")s" \
	    "($warnings warnings, $checks checks); built ${btime}s ($cwarn compiler warnings): $what;" \
	    "CPU so far ${cpu}s"
done

# Each step's link: the symbols the scope used then, against what the scope
# defined then and what the rest of the kernel defines (the same at every
# step: the series touches no source outside the scope). What the whole
# kernel leaves undefined (the linker script's symbols) is allowed.
[ -n "$kobj" ] || outside "$obj"
: > "$work/unlinked"
for s in $(find "$work/sym" -type f -printf '%f\n' | sort); do
	links "$s" "$work/outside.defs" || cat "$work/why" | tee -a "$work/unlinked" "$log" >&2
done
[ ! -s "$work/unlinked" ] || fail "$(head -1 "$work/unlinked")"
[ "$cc" = gcc ] || ccache -s | grep -Ei 'hits|misses' | sed 's/^/    ccache: /' | tee -a "$log" >&2
cpu
say "OK: $total patches apply, build and have no checkpatch errors;" \
    "$(( $(date +%s) - t0 ))s, ${cpu}s of CPU"
