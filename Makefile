# SPDX-License-Identifier: GPL-2.0-only
#
# The /dev/ioasid patch series: entry points. See README.md.
#
#   make run     build the lean kernel and show /dev/ioasid at work in QEMU
#   make check   every test: lint, then the debug kernel on each machine
#   make lint    checkpatch --strict, sparse, kernel-doc on our files
#   make bench   map/unmap timings, VFIO type1 vs /dev/ioasid, one boot
#   make bench-anchor  the same workloads on 6.1 + the series and on 6.12
#                (iommufd, its type1): one table
#   make bench-profile  where the small maps' time goes (perf, in the guest)
#   make series  out/series/: the repository as a git-am-able series
#   make series-check  git am, checkpatch and build each patch of it
#   make clean   remove out/

OUT ?= $(CURDIR)/out
export OUT

.PHONY: run check lint bench bench-anchor bench-profile deps tree series series-check clean

run:
	@harness/run.sh

check:
	@harness/check.sh

bench:
	@harness/bench.sh

bench-anchor:
	@harness/bench-anchor.sh

bench-profile:
	@harness/bench-profile.sh

lint: tree
	@harness/build.sh test && harness/lint.sh

series: deps
	@harness/series.sh

series-check: series
	@harness/series-check.sh

deps:
	@harness/deps.sh

tree: deps
	@harness/prepare-tree.sh

clean:
	rm -rf $(OUT)
