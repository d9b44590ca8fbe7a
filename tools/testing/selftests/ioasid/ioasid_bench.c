// SPDX-License-Identifier: GPL-2.0-only
/*
 * A benchmark, not a test: the time to map and unmap a large populated
 * buffer for QEMU's edu device, in the same boot, for 4K pages, THP and
 * hugetlbfs, along three paths:
 *   type1   the stock VFIO type1 v2 container (/dev/vfio/vfio)
 *   ioasid  /dev/ioasid's own IOAS map and unmap
 *   compat  /dev/ioasid as a type1 v2 container: the very MAP_DMA and
 *           UNMAP_DMA calls of the type1 path
 * Each mapping is checked with a real DMA at both of its ends before it is
 * timed again. Prints medians and the ratios ioasid / type1 and
 * compat / type1 (below 1: faster than type1).
 *
 * Usage: ioasid_bench [MiB]   (default: $harness_bench_mib, else 1024)
 */
#include <time.h>
#include <linux/vfio.h>

/* The helpers come with the test harness, which a benchmark does not run. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include "ioasid_utils.h"
#include "edu.h"

/* Above the x86 MSI window and inside every emulated IOMMU's aperture */
#define BENCH_IOVA	0x100000000ULL
#define RUNS		3
#define CHECK_LEN	1024

enum bench_path { PATH_TYPE1, PATH_IOASID, PATH_COMPAT, PATH_NUM };

static const char *const path_name[PATH_NUM] = {
	[PATH_TYPE1] = "type1", [PATH_IOASID] = "ioasid",
	[PATH_COMPAT] = "compat",
};

static const char *const kind_name[] = {
	[BUF_SMALL_PAGES] = "4K", [BUF_THP] = "THP", [BUF_HUGETLB] = "hugetlb",
};

struct bench {
	enum bench_path path;
	int fd;			/* container or /dev/ioasid */
	int group_fd;
	__u32 ioas;
	struct edu edu;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int bench_open(struct bench *b, enum bench_path path, const char *bdf,
		      int group)
{
	char name[64];
	int dev_fd;

	memset(b, 0, sizeof(*b));
	b->path = path;
	b->edu.device_fd = -1;
	b->fd = path == PATH_TYPE1 ? open("/dev/vfio/vfio", O_RDWR) :
				     ioasid_open();
	snprintf(name, sizeof(name), "/dev/vfio/%d", group);
	b->group_fd = open(name, O_RDWR);
	if (b->fd < 0 || b->group_fd < 0)
		return -ENODEV;
	if (ioctl(b->group_fd, VFIO_GROUP_SET_CONTAINER, &b->fd))
		return -errno;
	/* the compat path is set up exactly like the type1 one */
	if (path != PATH_IOASID &&
	    ioctl(b->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	if (path == PATH_IOASID) {
		int ret = vfio_ioas(b->fd, IOASID_VFIO_IOAS_QUERY, &b->ioas);

		if (ret)
			return ret;
	}
	dev_fd = ioctl(b->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev_fd < 0)
		return -errno;
	return edu_open_from_device_fd(&b->edu, dev_fd);
}

static void bench_close(struct bench *b)
{
	edu_close(&b->edu);
	if (b->group_fd >= 0)
		close(b->group_fd);
	if (b->fd >= 0)
		close(b->fd);
}

static int bench_map(struct bench *b, void *buf, size_t len)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf, .iova = BENCH_IOVA, .size = len,
	};

	if (b->path == PATH_IOASID)
		return ioas_map_fixed(b->fd, b->ioas, buf, len, BENCH_IOVA,
				      MAP_RW);
	return ioctl(b->fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int bench_unmap(struct bench *b, size_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = BENCH_IOVA, .size = len,
	};

	if (b->path == PATH_IOASID)
		return ioas_unmap(b->fd, b->ioas, BENCH_IOVA, len, NULL);
	return ioctl(b->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

/* The device copies the buffer's last bytes over its first ones. */
static int bench_check(struct bench *b, char *buf, size_t len)
{
	char expect[CHECK_LEN];

	fill_pattern(buf + len - CHECK_LEN, CHECK_LEN, b->path + 7);
	memcpy(expect, buf + len - CHECK_LEN, CHECK_LEN);
	memset(buf, 0, CHECK_LEN);
	if (edu_dma(&b->edu, BENCH_IOVA + len - CHECK_LEN, EDU_BUF_ADDR,
		    CHECK_LEN, false) ||
	    edu_dma(&b->edu, EDU_BUF_ADDR, BENCH_IOVA, CHECK_LEN, true))
		return -ETIMEDOUT;
	return memcmp(buf, expect, CHECK_LEN) ? -EIO : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Median map and unmap times of RUNS rounds; 0 or a negative errno. The
 * type1 and compat paths run the same VFIO_IOMMU_MAP_DMA/UNMAP_DMA code.
 */
static int bench_one(struct bench *b, char *buf, size_t len, double *map_ms,
		     double *unmap_ms)
{
	double m[RUNS], u[RUNS], t;
	int i, rc;

	for (i = 0; i < RUNS; i++) {
		t = now_ms();
		rc = bench_map(b, buf, len);
		m[i] = now_ms() - t;
		if (rc)
			return rc;
		rc = bench_check(b, buf, len);
		if (rc)
			return rc;
		t = now_ms();
		rc = bench_unmap(b, len);
		u[i] = now_ms() - t;
		if (rc)
			return rc;
	}
	qsort(m, RUNS, sizeof(m[0]), cmp_double);
	qsort(u, RUNS, sizeof(u[0]), cmp_double);
	*map_ms = m[RUNS / 2];
	*unmap_ms = u[RUNS / 2];
	return 0;
}

/* Time one path over @buf; prints its line, 0 or a negative errno */
static int bench_run_path(enum bench_path p, enum buf_kind kind,
			  const char *bdf, int group, char *buf, size_t len,
			  double *map_ms, double *unmap_ms)
{
	struct bench b;
	int rc;

	rc = bench_open(&b, p, bdf, group);
	if (!rc)
		rc = bench_one(&b, buf, len, map_ms, unmap_ms);
	bench_close(&b);
	if (rc)
		printf("%-8s %-7s failed: %s\n", kind_name[kind], path_name[p],
		       strerror(-rc));
	else
		printf("%-8s %-7s %10.1f %10.1f\n", kind_name[kind],
		       path_name[p], *map_ms, *unmap_ms);
	return rc;
}

int main(int argc, char **argv)
{
	const char *mib = argc > 1 ? argv[1] : getenv("harness_bench_mib");
	size_t len = (mib ? strtoul(mib, NULL, 0) : 1024) << 20;
	double map_ms[3][PATH_NUM], unmap_ms[3][PATH_NUM];
	bool ok[PATH_NUM], failed = false;
	enum buf_kind kind;
	char bdf[32];
	int group, p;
	char *buf;

	if (edu_find(bdf, sizeof(bdf))) {
		printf("ioasid_bench: no edu device\n");
		return 1;
	}
	group = edu_iommu_group(bdf);
	printf("map/unmap of %zu MiB, populated, edu %s, median of %d\n",
	       len >> 20, bdf, RUNS);
	printf("paths: type1 = VFIO type1 v2 container, ioasid = IOAS map/unmap,\n"
	       "       compat = /dev/ioasid as a type1 v2 container\n");
	printf("%-8s %-7s %10s %10s\n", "memory", "path", "map ms", "unmap ms");
	for (kind = BUF_SMALL_PAGES; kind <= BUF_HUGETLB; kind++) {
		buf = buf_map(len, SZ_2M, kind);
		if (!buf) {
			printf("%-8s (no memory of this kind)\n", kind_name[kind]);
			continue;
		}
		for (p = 0; p < PATH_NUM; p++) {
			ok[p] = !bench_run_path(p, kind, bdf, group, buf, len,
					    &map_ms[kind][p], &unmap_ms[kind][p]);
			failed |= !ok[p];
		}
		for (p = PATH_IOASID; p < PATH_NUM; p++) {
			if (!ok[PATH_TYPE1] || !ok[p])
				continue;
			/* type1 time over this path's: > 1 means faster */
			printf("%-8s %s vs type1 (type1 ms / %s ms): map %.2fx, unmap %.2fx\n",
			       kind_name[kind], path_name[p], path_name[p],
			       map_ms[kind][PATH_TYPE1] / map_ms[kind][p],
			       unmap_ms[kind][PATH_TYPE1] / unmap_ms[kind][p]);
		}
		munmap(buf, len);
	}
	return failed;
}
