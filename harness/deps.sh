#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install what the build and the QEMU runs need, from Debian's apt.
# The kernel base is pinned to harness/base-version; when apt no longer
# offers that version, the newest linux-source-6.1 is used with a warning.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Arguments name more packages, for one job (linux-source-6.12 for make
# bench-anchor, linux-perf for make bench-profile).
PKGS="flex bison bc libelf-dev libssl-dev cpio qemu-system-x86 seabios ipxe-qemu busybox-static
      sparse quilt kmod python3 xz-utils ccache $*"
pin=$(cat "$REPO/harness/base-version")

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
have=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)

if [ -z "$missing" ] && [ "$have" = "$pin" ]; then
	exit 0
fi

asroot() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
asroot apt-get update -qq
src="linux-source-6.1"
if apt-cache madison linux-source-6.1 | awk '{print $3}' | grep -qx "$pin"; then
	src="linux-source-6.1=$pin"
elif [ -n "$have" ]; then
	note "WARNING: base $pin is no longer offered by apt; using installed $have"
	src=""
else
	note "WARNING: base $pin is no longer offered by apt; using the newest 6.1"
fi
# shellcheck disable=SC2086
asroot apt-get install -y -qq --allow-downgrades $missing $src >/dev/null
