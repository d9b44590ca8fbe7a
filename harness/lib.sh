# SPDX-License-Identifier: GPL-2.0-only
# Shared settings for the harness scripts. Sourced, never run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/out}
SRC=$OUT/linux
# Debian's linux-source-6.12, the anchor of make bench-anchor
ANCHOR_SRC=$OUT/linux-6.12
JOBS=${JOBS:-$(($(nproc) + 1))}

# Directories of the repo that are overlaid onto the kernel tree.
OVERLAY_DIRS="Documentation arch drivers include kernel lib mm samples tools"

die() { echo "harness: error: $*" >&2; exit 1; }
note() { echo "harness: $*" >&2; }

# The kernel command line of the benchmark boots (make bench and make
# bench-anchor alike): 2M pages for hugetlbfs, the buffer size, and room
# for the 100k live mappings of the scale workload in type1 and in the
# core's container, whose default limit is 65535 mappings.
bench_append() {
	local mib=${BENCH_MIB:-1024}
	echo "hugepages=$((mib / 2 + 8)) harness_bench_mib=$mib" \
	     "vfio_iommu_type1.dma_entry_limit=200000 ioasid.dma_entry_limit=200000"
}
