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
 * Then small maps, the pattern of a guest's vIOMMU: cycles per second of
 * one 4K map and unmap at scattered IOVAs, with 1 and 4 threads, through
 * type1, the core's container, the IOAS, and the IOAS with 64 ranges per
 * call.
 *
 * Then, when the kernel has the mock IOMMU (CONFIG_IOASID_TEST), the
 * round trip of a page request: a mock device's DMA finds its page missing
 * and asks for it, a user thread reads the request from the fault queue,
 * maps the page and answers, and the device retries and completes.
 *
 * Usage: ioasid_bench [MiB]   (default: $harness_bench_mib, else 1024)
 */
#define _GNU_SOURCE		/* pthread_setname_np() */
#include <poll.h>
#include <pthread.h>
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

/* Small maps: the vIOMMU pattern --------------------------------------- */

/*
 * A guest's vIOMMU turns each of its maps into one small host map: 4K map
 * and unmap cycles at scattered IOVAs, SMALL_CYCLES in all, shared by 1 or
 * 4 threads, each with a region of IOVA of its own, against one device.
 */
#define SMALL_CYCLES	20480	/* 320 calls of 64 ranges */
#define SMALL_VEC	64
#define SMALL_SLOTS	4096
#define SMALL_BASE	0x200000000ULL
#define SMALL_REGION	0x400000000ULL	/* per thread, 16 GiB */
#define SMALL_STRIDE	(SZ_2M + SZ_4K)	/* one IOPTE table each, or close */

enum small_mode { SM_TYPE1, SM_COMPAT, SM_IOASID, SM_VEC, SM_NUM };

static const char *const small_name[SM_NUM] = {
	[SM_TYPE1] = "type1", [SM_COMPAT] = "compat",
	[SM_IOASID] = "ioasid", [SM_VEC] = "ioasid x64",
};

struct small_thread {
	struct bench *b;
	enum small_mode mode;
	unsigned int idx, cycles;
	char *pages;		/* SMALL_VEC populated pages */
	int ret;
};

static __u64 small_iova(const struct small_thread *t, unsigned int k)
{
	return SMALL_BASE + t->idx * SMALL_REGION +
	       (__u64)((k * 2654435761U) % SMALL_SLOTS) * SMALL_STRIDE;
}

static int small_type1(struct bench *b, char *va, __u64 iova, bool map)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va, .iova = iova, .size = SZ_4K,
	};
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = SZ_4K,
	};

	if (map)
		return ioctl(b->fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
	return ioctl(b->fd, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : 0;
}

/* SMALL_VEC cycles of @t from @k on, 64 ranges per map and unmap call */
static int small_vec(struct small_thread *t, unsigned int k)
{
	struct ioasid_map_range m[SMALL_VEC];
	struct ioasid_iova_range u[SMALL_VEC];
	unsigned int i;
	int ret;

	for (i = 0; i < SMALL_VEC; i++) {
		map_range_set(&m[i], t->pages + i * SZ_4K, SZ_4K,
			      small_iova(t, k + i), MAP_RW | MAP_FIXED_IOVA);
		u[i].first = m[i].iova;
		u[i].last = m[i].iova + SZ_4K - 1;
	}
	ret = ioas_map_vec(t->b->fd, t->b->ioas, m, SMALL_VEC, NULL);
	return ret ? ret : ioas_unmap_vec(t->b->fd, t->b->ioas, u, SMALL_VEC,
					  NULL, NULL);
}

static void *small_run(void *arg)
{
	struct small_thread *t = arg;
	struct bench *b = t->b;
	unsigned int k;
	char *va;
	__u64 iova;
	int ret = 0;

	for (k = 0; k < t->cycles && !ret; k++) {
		if (t->mode == SM_VEC) {
			ret = small_vec(t, k);
			k += SMALL_VEC - 1;
			continue;
		}
		va = t->pages + (k % SMALL_VEC) * SZ_4K;
		iova = small_iova(t, k);
		if (t->mode == SM_IOASID) {
			ret = ioas_map_fixed(b->fd, b->ioas, va, SZ_4K, iova,
					     MAP_RW);
			if (!ret)
				ret = ioas_unmap(b->fd, b->ioas, iova, SZ_4K,
						 NULL);
		} else {
			ret = small_type1(b, va, iova, true);
			if (!ret)
				ret = small_type1(b, va, iova, false);
		}
	}
	t->ret = ret;
	return NULL;
}

/* One small mapping of thread @t, checked by edu at both of its ends */
static int small_check(struct small_thread *t)
{
	char *page = t->pages;
	__u64 iova = small_iova(t, 0);
	int ret;

	ret = t->mode >= SM_IOASID ?
	      ioas_map_fixed(t->b->fd, t->b->ioas, page, SZ_4K, iova, MAP_RW) :
	      small_type1(t->b, page, iova, true);
	if (ret)
		return ret;
	fill_pattern(page + SZ_4K - CHECK_LEN, CHECK_LEN, t->idx + 3);
	memset(page, 0, CHECK_LEN);
	if (edu_dma(&t->b->edu, iova + SZ_4K - CHECK_LEN, EDU_BUF_ADDR,
		    CHECK_LEN, false) ||
	    edu_dma(&t->b->edu, EDU_BUF_ADDR, iova, CHECK_LEN, true))
		ret = -ETIMEDOUT;
	else if (check_pattern(page, CHECK_LEN, t->idx + 3) != -1)
		ret = -EIO;
	if (t->mode >= SM_IOASID)
		ioas_unmap(t->b->fd, t->b->ioas, iova, SZ_4K, NULL);
	else
		small_type1(t->b, page, iova, false);
	return ret;
}

/* Cycles per second of @mode with @nthreads; 0 when it failed */
static double small_bench(enum small_mode mode, unsigned int nthreads,
			  const char *bdf, int group)
{
	struct small_thread t[4];
	pthread_t th[4];
	double start, secs = 0;
	struct bench b;
	unsigned int i;
	int ret;

	ret = bench_open(&b, mode == SM_TYPE1 ? PATH_TYPE1 :
			 mode == SM_COMPAT ? PATH_COMPAT : PATH_IOASID,
			 bdf, group);
	for (i = 0; i < nthreads; i++) {
		t[i] = (struct small_thread){
			.b = &b, .mode = mode, .idx = i,
			.cycles = SMALL_CYCLES / nthreads,
		};
		t[i].pages = buf_map(SMALL_VEC * SZ_4K, SZ_4K, BUF_SMALL_PAGES);
		if (!t[i].pages)
			ret = -ENOMEM;
	}
	if (!ret) {
		start = now_ms();
		for (i = 0; i < nthreads; i++) {
			char name[16];

			pthread_create(&th[i], NULL, small_run, &t[i]);
			/* So that a profile tells the paths apart */
			snprintf(name, sizeof(name), "sm-%s", small_name[mode]);
			name[strcspn(name, " ")] = 0;
			pthread_setname_np(th[i], name);
		}
		for (i = 0; i < nthreads; i++) {
			pthread_join(th[i], NULL);
			ret = ret ? ret : t[i].ret;
		}
		secs = (now_ms() - start) / 1e3;
	}
	for (i = 0; i < nthreads; i++) {
		if (!ret && t[i].pages)
			ret = small_check(&t[i]);
		if (t[i].pages)
			munmap(t[i].pages, SMALL_VEC * SZ_4K);
	}
	bench_close(&b);
	if (ret) {
		printf("small    %-10s %u thread(s) failed: %s\n",
		       small_name[mode], nthreads, strerror(-ret));
		return 0;
	}
	return SMALL_CYCLES / secs;
}

static int small_maps(const char *bdf, int group)
{
	static const unsigned int threads[] = { 1, 4 };
	double ops[SM_NUM];
	unsigned int i, m;
	int failed = 0;

	printf("small maps: %d cycles of 4K map + unmap at scattered IOVAs, edu attached,\n"
	       "one mapping per thread checked by DMA afterwards; cycles/s\n",
	       SMALL_CYCLES);
	for (i = 0; i < ARRAY_SIZE(threads); i++) {
		for (m = 0; m < SM_NUM; m++) {
			ops[m] = small_bench(m, threads[i], bdf, group);
			failed |= !ops[m];
		}
		printf("small    %u thread(s): type1 %.0f, compat %.0f, ioasid %.0f, x64 %.0f\n",
		       threads[i], ops[SM_TYPE1], ops[SM_COMPAT], ops[SM_IOASID],
		       ops[SM_VEC]);
		if (ops[SM_TYPE1] > 0)
			printf("small    %u thread(s) / type1: %s %.2fx, %s %.2fx, %s %.2fx\n",
			       threads[i],
			       "compat", ops[SM_COMPAT] / ops[SM_TYPE1],
			       "ioasid", ops[SM_IOASID] / ops[SM_TYPE1],
			       "x64", ops[SM_VEC] / ops[SM_TYPE1]);
	}
	return failed;
}

/* Page request round trips --------------------------------------------- */

#define PRI_CYCLES	200
#define PRI_IOVA	0x10000000ULL

struct pri_dma {
	int fd;
	__u32 dev_id;
	__u64 iova;
	char byte;
	double start, end;
	int ret;
};

static void *pri_dma_run(void *arg)
{
	struct pri_dma *d = arg;
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_DMA,
		.flags = IOASID_TEST_DMA_PRI,
		.obj_id = d->dev_id,
		.dma = {
			.iova = d->iova,
			.uaddr = (uintptr_t)&d->byte,
			.length = 1,
			.dir = IOASID_TEST_DMA_WRITE,
		},
	};

	d->start = now_ms();
	d->ret = ioasid_test(d->fd, &t);
	d->end = now_ms();
	return NULL;
}

/* Serve one request: wait for it, map its page, answer Success. */
static int pri_serve(int fd, int qfd, __u32 ioas, char *page, double *seen)
{
	struct pollfd pfd = { .fd = qfd, .events = POLLIN };
	struct ioasid_fault_response r = { .code = IOASID_FAULT_RESP_SUCCESS };
	struct ioasid_fault rec;

	if (poll(&pfd, 1, 5000) != 1 || read(qfd, &rec, sizeof(rec)) !=
	    sizeof(rec) || rec.type != IOASID_FAULT_PAGE_REQ)
		return -1;
	*seen = now_ms();
	if (ioas_map_fixed(fd, ioas, page, SZ_4K, rec.addr, MAP_RW))
		return -1;
	r.cookie = rec.cookie;
	return write(qfd, &r, sizeof(r)) == sizeof(r) ? 0 : -1;
}

/* 0, or 1 when the round trips failed */
static int pri_bench(void)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa) };
	struct ioasid_hwpt_create hc = {
		.argsz = sizeof(hc),
		.flags = IOASID_HWPT_FAULT_ID_VALID,
		.kind = IOASID_HWPT_PAGING,
	};
	static double rt[PRI_CYCLES], up[PRI_CYCLES];
	__u32 ioas, dev_id;
	int fd, i, n = 0, rc = 0;
	double seen;
	char *mem;

	fd = ioasid_open();
	if (fd < 0 || ioas_alloc(fd, &ioas) ||
	    mock_device(fd, ioas, &dev_id, NULL)) {
		printf("page requests: no mock IOMMU in this kernel\n");
		goto out;
	}
	hc.dev_id = dev_id;
	hc.parent_id = ioas;
	if (ioasid_do(fd, IOASID_FAULT_QUEUE_ALLOC, &qa))
		goto fail;
	hc.fault_id = qa.out_fault_id;
	if (ioasid_do(fd, IOASID_HWPT_CREATE, &hc) ||
	    mock_replace(fd, dev_id, hc.out_hwpt_id, NULL))
		goto fail;
	mem = buf_map(PRI_CYCLES * SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	if (!mem)
		goto fail;
	for (i = 0; i < PRI_CYCLES; i++) {
		struct pri_dma d = {
			.fd = fd, .dev_id = dev_id,
			.iova = PRI_IOVA + i * SZ_4K, .byte = (char)i,
		};
		pthread_t th;

		if (pthread_create(&th, NULL, pri_dma_run, &d))
			break;
		if (pri_serve(fd, qa.out_fault_fd, ioas, mem + i * SZ_4K,
			      &seen)) {
			pthread_join(th, NULL);
			break;
		}
		pthread_join(th, NULL);
		if (d.ret || mem[i * SZ_4K] != (char)i)
			break;
		rt[n] = (d.end - d.start) * 1000;
		up[n] = (seen - d.start) * 1000;
		n++;
	}
	munmap(mem, PRI_CYCLES * SZ_4K);
	if (n < PRI_CYCLES)
		goto fail;
	qsort(rt, n, sizeof(rt[0]), cmp_double);
	qsort(up, n, sizeof(up[0]), cmp_double);
	printf("page request round trip, mock IOMMU, %d cycles\n", n);
	printf("  DMA start -> request read by the user: median %.0f us, p90 %.0f us\n",
	       up[n / 2], up[n * 9 / 10]);
	printf("  DMA start -> DMA done after the answer: median %.0f us, p90 %.0f us\n",
	       rt[n / 2], rt[n * 9 / 10]);
	goto out;
fail:
	printf("page requests: FAILED after %d cycles\n", n);
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
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
	failed |= small_maps(bdf, group);
	failed |= pri_bench();
	return failed;
}
