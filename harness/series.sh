#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# series.sh: write $OUT/series/, the repository as a git-am-able series
# against the pinned base, split as harness/series.manifest says.
#
# A scratch git repository ($OUT/series-git) holds the pristine base as its
# first commit; each patch of the manifest is made there by applying its
# quilt patches with patch -p1 and copying its overlay files from the repo,
# then committed with its subject and message. The end of the series must be
# the tree that prepare-tree.sh makes (checked file by file), and
# git format-patch --cover-letter writes the series.
#
# LOGS= (default $OUT/logs-test) is where the cover letter reads the test
# figures from (the *.counts files of `make check`).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

manifest=$REPO/harness/series.manifest
tarball=/usr/src/linux-source-6.1.tar.xz
pin=$(cat "$REPO/harness/base-version")
git_dir=$OUT/series-git
dest=$OUT/series
LOGS=${LOGS:-$OUT/logs-test}
[ -f "$tarball" ] || die "$tarball missing; run harness/deps.sh"
base=$(dpkg-query -W -f='${Version}' linux-source-6.1)
[ "$base" = "$pin" ] ||
	note "WARNING: base is linux-source-6.1 $base, the series was made against $pin"

# One identity and date for every commit, so that the output is reproducible.
export GIT_AUTHOR_NAME="ioasid developers" GIT_AUTHOR_EMAIL="ioasid@lists.invalid"
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
GIT_AUTHOR_DATE=$(git -C "$REPO" log -1 --format=%cI)
export GIT_AUTHOR_DATE GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
sob="Signed-off-by: $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>"

# --- Read the manifest ------------------------------------------------------
# Step i: q[i] quilt patches, f[i] files, s[i] subject, x[i] Fixes, m[i] text,
# d[i] the diffs of series.d/ by which it grows files of earlier steps.
declare -a q f s x m d
n=0
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	'#'* | '') continue ;;
	patch) n=$((n + 1)); q[n]="" f[n]="" s[n]="" x[n]="" m[n]="" d[n]="" ;;
	quilt\ * | files\ * | grows\ * | subject\ * | fixes\ * | '|'*)
		[ "$n" -gt 0 ] || die "manifest: '$line' before the first 'patch'"
		case $line in
		quilt\ *) q[n]+="${line#quilt } " ;;
		files\ *) f[n]+="${line#files } " ;;
		grows\ *) d[n]+="${line#grows } " ;;
		subject\ *) s[n]=${line#subject } ;;
		fixes\ *) x[n]+="Fixes: ${line#fixes }"$'\n' ;;
		*) m[n]+="${line#|}"$'\n' ;;
		esac ;;
	*) die "manifest: cannot read '$line'" ;;
	esac
done < "$manifest"
[ "$n" -gt 0 ] || die "manifest: no patches"

# --- Every overlay file and every quilt patch exactly once ------------------
cd "$REPO"
check_once() {	# check_once KIND WANTED LISTED: both lists one item a line
	local dup miss extra
	dup=$(sort "$3" | uniq -d)
	miss=$(comm -23 <(sort -u "$2") <(sort -u "$3"))
	extra=$(comm -13 <(sort -u "$2") <(sort -u "$3"))
	[ -z "$dup" ] || die "manifest lists these $1 more than once:"$'\n'"$dup"
	[ -z "$miss" ] || die "manifest misses these $1:"$'\n'"$miss"
	[ -z "$extra" ] || die "manifest lists $1 that do not exist:"$'\n'"$extra"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
git ls-files --cached --others --exclude-standard -- $OVERLAY_DIRS > "$tmp/overlay"
grep -v '^[[:space:]]*\(#\|$\)' patches/series > "$tmp/quilt"
for i in $(seq "$n"); do
	# shellcheck disable=SC2086
	printf '%s\n' ${f[i]} >> "$tmp/files"
	# shellcheck disable=SC2086
	printf '%s\n' ${q[i]} >> "$tmp/quilts"
	[ -n "${q[i]}${f[i]}${d[i]}" ] || die "manifest: patch $i is empty"
	[ -n "${q[i]}" ] || [ -n "${s[i]}" ] || die "manifest: patch $i has no subject"
done
sed -i '/^$/d' "$tmp/files" "$tmp/quilts"
check_once "overlay files" "$tmp/overlay" "$tmp/files"
check_once "quilt patches" "$tmp/quilt" "$tmp/quilts"

# --- The files as each step leaves them ---------------------------------------
# An overlay file ends the series as it is in the repo. A step that grows
# files of earlier steps names diffs of harness/series.d/ ("grows"), made
# with diff -u from the files before that step to the files after it; so
# the files before step k are the repo's with the diffs of k and of every
# later step taken out (patch -R, the last step first, no fuzz), and the
# intermediate versions cannot drift from the tree. A diff that no longer
# comes out exactly stops here: remake it (see the manifest's top).
declare -A intro
for i in $(seq "$n"); do
	for file in ${f[i]}; do intro[$file]=$i; done
done
find harness/series.d -name '*.diff' -printf '%f\n' > "$tmp/diffs.all" 2>/dev/null || true
for i in $(seq "$n"); do
	for dd in ${d[i]}; do
		echo "$dd" >> "$tmp/diffs"
		[ -f "harness/series.d/$dd" ] || die "manifest: patch $i grows by $dd, not in harness/series.d/"
		while read -r file; do
			if [ -z "${intro[$file]:-}" ] || [ "${intro[$file]}" -ge "$i" ]; then
				die "series.d/$dd: $file is not an overlay file of a patch before $i"
			fi
			echo "$file" >> "$tmp/varying"
		done < <(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "harness/series.d/$dd")
	done
done
touch "$tmp/diffs" "$tmp/varying"
check_once "diffs of harness/series.d" "$tmp/diffs.all" "$tmp/diffs"
sort -u -o "$tmp/varying" "$tmp/varying"
stage=$tmp/stage
while read -r file; do
	mkdir -p "$(dirname "$stage/$file")" && cp "$file" "$stage/$file"
done < "$tmp/varying"
for k in $(seq "$n" -1 1); do
	mkdir -p "$tmp/snap/$k"
	(cd "$stage" && xargs -r cp --parents -t "$tmp/snap/$k/") < "$tmp/varying"
	read -ra ds <<< "${d[k]}"
	for ((j = ${#ds[@]} - 1; j >= 0; j--)); do
		(cd "$stage" && patch -R -p1 -F0 -s -f --no-backup-if-mismatch -r -) \
			< "harness/series.d/${ds[j]}" > "$tmp/patch.log" 2>&1 || {
			cat "$tmp/patch.log" >&2
			die "series.d/${ds[j]} (patch $k) no longer matches the files: remake it"
		}
	done
done

# --- The base commit, made once per base version ---------------------------
g() { git -C "$git_dir" "$@"; }
if [ "$(cat "$git_dir/.git/base.stamp" 2>/dev/null)" = "$base" ]; then
	g checkout -q -f --detach base
	g clean -q -f -d -x
else
	note "committing linux-source-6.1 $base as the series' base (takes a minute)"
	mkdir -p "$OUT"
	rm -rf "$git_dir" "$OUT/linux-source-6.1"
	tar -xJf "$tarball" -C "$OUT"
	mv "$OUT/linux-source-6.1" "$git_dir"
	g init -q
	g config core.autocrlf false
	g config gc.auto 0
	g add -A -f .
	g commit -q -m "Debian linux-source-6.1 $base"
	g tag -f base >/dev/null
	echo "$base" > "$git_dir/.git/base.stamp"
fi
g checkout -q -B series base

# --- One commit per manifest patch ------------------------------------------
header_field() { sed -n "s/^$1: *//p;/^$/q" "$2" | head -1; }
body() {	# the message of a quilt patch: after its header, before ---
	awk 'h && /^---$/ { exit }
	     h && !/^Signed-off-by:/ { print }
	     !h && /^$/ { h = 1 }' "$1"
}
for i in $(seq "$n"); do
	msg=$tmp/msg
	subject=${s[i]}
	: > "$tmp/text"
	for p in ${q[i]}; do
		[ -n "$subject" ] || subject=$(header_field Subject "patches/$p" | sed 's/^\[PATCH[^]]*\] *//')
		# Several quilt patches: each one's subject starts its paragraph.
		if [ "$(echo "${q[i]}" | wc -w)" -gt 1 ]; then
			{ [ ! -s "$tmp/text" ] || echo; echo "$(header_field Subject "patches/$p" | sed 's/^\[PATCH[^]]*\] *//'):"; echo; } >> "$tmp/text"
		fi
		body "patches/$p" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >> "$tmp/text"
		if (cd "$git_dir" && patch -p1 -s -f --no-backup-if-mismatch) < "patches/$p" > "$tmp/patch.log" 2>&1; then
			grep -i 'fuzz\|offset' "$tmp/patch.log" | sed "s|^|harness: $p: |" >&2 || true
		else
			cat "$tmp/patch.log" >&2
			die "patches/$p does not apply at patch $i of the series"
		fi
	done
	for file in ${f[i]}; do
		mkdir -p "$(dirname "$git_dir/$file")"
		cp "$file" "$git_dir/$file"
	done
	# The files that grow later, as this step leaves them.
	while read -r file; do
		[ "${intro[$file]}" -le "$i" ] || continue
		cp "$tmp/snap/$i/$file" "$git_dir/$file"
	done < "$tmp/varying"
	{
		echo "$subject"
		echo
		# The text, then the manifest's lines, without blank lines at the ends.
		{ cat "$tmp/text"; printf '%s' "${m[i]}"; } |
			sed -e '/./,$!d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo
		printf '%s' "${x[i]}"
		echo "$sob"
	} > "$msg"
	g add -A -f .
	g commit -q -F "$msg" || die "patch $i ($subject) changes nothing"
done

# --- The end of the series is what prepare-tree.sh builds -------------------
# A reference made the way prepare-tree.sh does, of the files the series
# touches: the base's copies, the quilt series in order, the overlay.
ref=$tmp/ref
mkdir -p "$ref"
g diff --name-only base HEAD > "$tmp/touched"
tr '\n' '\0' < "$tmp/touched" |
	xargs -0 git -C "$git_dir" ls-tree -r -z --name-only base -- |
	xargs -0 git -C "$git_dir" archive base -- | tar -x -C "$ref"
while read -r p; do
	(cd "$ref" && patch -p1 -s -f --no-backup-if-mismatch) < "patches/$p" > /dev/null ||
		die "patches/$p does not apply in series order"
done < "$tmp/quilt"
while read -r file; do
	mkdir -p "$(dirname "$ref/$file")"
	cp "$file" "$ref/$file"
done < "$tmp/overlay"
while read -r file; do
	if [ -e "$ref/$file" ] || [ -e "$git_dir/$file" ]; then
		cmp -s "$ref/$file" "$git_dir/$file" ||
			die "$file at the end of the series differs from base + patches/ + overlay"
	fi
done < "$tmp/touched"

# --- Write the series ---------------------------------------------------------
rm -rf "$dest"
g format-patch -q --cover-letter -o "$dest" base..series
total=$(find "$dest" -name '0*.patch' ! -name '0000-cover-letter.patch' | wc -l)

kver=$(sed -n 's/^VERSION = //p;s/^PATCHLEVEL = //p;s/^SUBLEVEL = //p' "$git_dir/Makefile" | paste -sd.)
{
	cat <<-EOF
	/dev/ioasid gives userspace one kernel object model for I/O address
	spaces: a file on which a VMM or a user-space driver builds IOVA to
	user-memory maps (IOASes), pinned and charged once however many IOMMU
	domains or copies use them, and to which drivers attach their devices:
	VFIO (through the group path, a per-device cdev, or the type1 container
	ioctls served by the core), emulated mdev devices (through accesses) and
	vhost-vdpa. Attachments are per (device, PASID), replace is in place,
	and the series adds typed and nested HW page tables, one PASID space
	shared with kernel SVA, user fault queues, reports of unrecoverable DMA
	faults, and ATS/PRI/PASID enabled on request.

	Why: today each of VFIO type1, vhost-vdpa and the mdev drivers keeps its
	own pinning, accounting and IOMMU domain handling, with different
	errnos and limits, and none of them can attach a PASID, nest a user's
	stage 1 or move a device between address spaces without blocking its
	DMA. The interface is documented in
	Documentation/userspace-api/ioasid.rst, which comes with the uAPI.

	The series: fixes to 6.1 code first (two VFIO lock-order fixes), then
	the IOMMU core and driver changes the core needs (map without sync,
	group domain replace, PASID attach, nesting hooks, one PASID space,
	ATS/PRI/PASID on request, device trust, unrecoverable fault reports),
	the uAPI and its documentation, the core, VFIO, vDPA, a debugfs reader
	in tools/ioasid and the selftests. Each patch builds (an x86 config
	with the core, its mock IOMMU, VFIO and the IOMMU drivers above) and
	has no checkpatch --strict errors.

	Testing: every test boots a debug kernel (KASAN, lockdep, kmemleak,
	fault injection, KUnit) under QEMU (TCG) with QEMU's edu DMA device
	behind an emulated Intel VT-d, AMD-Vi or virtio-iommu, plus a mock
	IOMMU (CONFIG_IOASID_TEST) for what QEMU cannot emulate (nesting,
	page requests, per-PASID DMA).

	EOF
	if ls "$LOGS"/*.counts >/dev/null 2>&1; then
		echo "Latest figures (passed/failed/skipped per machine, from"
		echo "the test run of $(date -u -r "$(ls -t "$LOGS"/*.counts | head -1)" +%F)):"
		echo
		for c in "$LOGS"/*.counts; do
			read -r tp tf ts < "$c"
			printf '  %-14s %4s passed, %s failed, %s skipped\n' \
				"$(basename "$c" .counts)" "$tp" "$tf" "$ts"
		done
		[ ! -f "$OUT/lint.counts" ] || {
			read -r tp tf ts < "$OUT/lint.counts"
			printf '  %-14s %4s passed, %s failed, %s skipped\n' lint "$tp" "$tf" "$ts"
		}
	else
		echo "No test figures: $LOGS has no results of \`make check\`."
	fi
	cat <<-EOF

	Base: Debian's linux-source-6.1 $base (Linux $kver with Debian's
	patches), /usr/src/linux-source-6.1.tar.xz; the series applies there
	with git am, not to a mainline tag.
	EOF
} > "$tmp/blurb"
cover=$dest/0000-cover-letter.patch
awk -v blurb="$tmp/blurb" -v total="$total" '
	/\*\*\* SUBJECT HERE \*\*\*/ {
		sub(/\*\*\* SUBJECT HERE \*\*\*/,
		    "iommu/ioasid: /dev/ioasid, user-visible I/O address spaces for 6.1")
	}
	/\*\*\* BLURB HERE \*\*\*/ {
		while ((getline l < blurb) > 0) print l
		next
	}
	{ print }' "$cover" > "$tmp/cover" && mv "$tmp/cover" "$cover"
note "wrote $total patches and a cover letter to $dest"
