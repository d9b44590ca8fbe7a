# SPDX-License-Identifier: GPL-2.0-only
# Shared settings for the harness scripts. Sourced, never run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/out}
SRC=$OUT/linux
JOBS=${JOBS:-$(($(nproc) + 1))}

# Directories of the repo that are overlaid onto the kernel tree.
OVERLAY_DIRS="Documentation arch drivers include kernel lib mm samples tools"

die() { echo "harness: error: $*" >&2; exit 1; }
note() { echo "harness: $*" >&2; }
