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
# The tests and the demo that start a nested VM get Debian's own
# qemu-system-x86_64, its libraries and the firmware it loads (SeaBIOS,
# iPXE for virtio-net).
if [ -e "$tests/vhost_vdpa_qemu" ] || [ -e "$demo/1-nested-guest" ]; then
	qemu=/usr/bin/qemu-system-x86_64
	tcg=/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so
	for f in $qemu $tcg $(ldd $qemu $tcg | grep -o '/[^ :]*' | sort -u); do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	mkdir -p "$root/usr/share/qemu"
	cp -L /usr/share/seabios/bios-256k.bin /usr/share/qemu/kvmvapic.bin \
		/usr/share/qemu/linuxboot_dma.bin /usr/lib/ipxe/qemu/efi-virtio.rom \
		"$root/usr/share/qemu/"
fi
# The profile of `make bench-profile` gets Debian's perf and its libraries.
if [ -e "$demo/profile-small-maps" ]; then
	for f in /usr/bin/perf $(ldd /usr/bin/perf | grep -o '/[^ :]*' | sort -u); do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
fi
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
