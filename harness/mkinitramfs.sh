#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mkinitramfs.sh OUTPUT TESTDIR [DEMODIR]: pack busybox-static, the harness
# init and the given statically linked programs into a gzip'd newc cpio.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:?usage: mkinitramfs.sh OUTPUT TESTDIR [DEMODIR]}
tests=${2:?}
demo=${3:-}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,tests,demo,usr/bin,usr/sbin}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
cp "$REPO/harness/init.sh" "$root/init"
chmod 755 "$root/init"
cp "$tests"/* "$root/tests/" 2>/dev/null || true
[ -z "$demo" ] || cp "$demo"/* "$root/demo/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
