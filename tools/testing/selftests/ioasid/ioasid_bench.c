// SPDX-License-Identifier: GPL-2.0-only
/*
 * A benchmark, not a test: what it costs to map memory for QEMU's edu
 * device, along several paths, in the same boot. Every workload goes
 * through a path's small table of operations (struct bench_path), so the
 * same program, built with -DBENCH_IOMMUFD against Linux 6.12's uAPI
 * headers, runs the same workloads there (`make bench-anchor`). Paths:
 *   type1    the stock VFIO type1 v2 container (/dev/vfio/vfio)
 *   compat   /dev/ioasid as a type1 v2 container: the very MAP_DMA and
 *            UNMAP_DMA calls of the type1 path          (this series only)
 *   ioasid   /dev/ioasid's own IOAS map and unmap         (this series only)
 *   iommufd  an iommufd IOAS (IOMMU_IOAS_MAP/UNMAP), edu bound through its
 *            VFIO cdev and attached to the IOAS          (6.12 build only)
 *   floor    the IOAS path's map into an IOAS with no device attached: on
 *            /dev/ioasid the cost of pinning alone; iommufd pins only for a
 *            domain or an access, so there it is the bookkeeping alone
 * Each workload reports the median of RUNS runs and their spread (max -
 * min); "result" lines repeat the figures for the harness to tabulate.
 *
 * large    map and unmap of a large populated buffer (default 1 GiB) of
 *          4K pages, THP, hugetlbfs and 4K pages faulted in a scattered
 *          order ("4K-scat": physically fragmented, like the memory of a
 *          guest that has run for a while), each mapping checked by a real DMA
 *          at both of its ends; with the kernel memory each map allocated,
 *          from /proc/meminfo: Slab + VmallocUsed is the mapping's
 *          metadata (pinned user pages are counted in neither; the buffer
 *          is populated before it is mapped, so pinning takes no memory),
 *          and the rest of the drop of free memory (MemFree and the per-CPU
 *          lists of /proc/zoneinfo) is pages allocated outside slab and
 *          vmalloc, mostly IOMMU page tables.
 * scale    the cost of one 4K map and of one unmap with 1k, 10k and 100k
 *          live 4K mappings: SCALE_PROBES maps at scattered IOVAs between
 *          the live ones, then their unmaps, in us per call.
 * small    the pattern of a guest's vIOMMU: cycles per second of one 4K map
 *          and unmap at scattered IOVAs, with 1 and 4 threads (and, on
 *          /dev/ioasid, 64 ranges per call).
 * pri      (this series, mock IOMMU) the round trip of a page request: a
 *          mock device's DMA finds its page missing and asks for it, a
 *          user thread reads the request from the fault queue, maps the
 *          page and answers, and the device retries and completes.
 *
 * Usage: ioasid_bench [MiB]   (default: $harness_bench_mib, else 1024)
 * BENCH_WORKLOADS=small,pri (say) runs only those workloads; for a profile
 * of one path, BENCH_PATHS=compat,ioasid-x64 (say) runs the small maps of
 * only those paths, and BENCH_THREADS=1 only with that many threads.
 */
#define _GNU_SOURCE		/* pthread_setname_np() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

/* The helpers come with the test harness, which a benchmark does not run. */
#pragma GCC diagnostic ignored "-Wunused-function"

#ifdef BENCH_IOMMUFD
#include <linux/iommufd.h>
#include "buf_utils.h"
#else
#include "ioasid_utils.h"
#endif
#include "edu.h"
#include "vfio_cdev.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* Above the x86 MSI window and inside every emulated IOMMU's aperture */
#define BENCH_IOVA	0x100000000ULL
#define RUNS		3
#define CHECK_LEN	1024

static const char *const kind_name[] = {
	[BUF_SMALL_PAGES] = "4K", [BUF_THP] = "THP", [BUF_HUGETLB] = "hugetlb",
	[BUF_SCATTERED] = "4K-scat",
};

struct bench_dev {
	char bdf[32];
	int group;
};

struct bench {
	const struct bench_path *path;
	int fd;			/* container, /dev/ioasid or /dev/iommu */
	int group_fd;
	__u32 ioas;
	bool has_edu;
	struct edu edu;
};

/*
 * One way of mapping memory for the device. open() sets up @b (with edu
 * attached when @device); map() and unmap() return 0 or a negative errno.
 */
struct bench_path {
	const char *name;
	const char *what;
	bool device;
	int (*open)(struct bench *b, const struct bench_dev *d);
	int (*map)(struct bench *b, void *va, __u64 iova, size_t len);
	int (*unmap)(struct bench *b, __u64 iova, size_t len);
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The VFIO group path: a container of some kind, then the device fd */
/* Whether $@env (comma-separated names; unset or empty: all) has @w */
static bool env_has(const char *env, const char *w)
{
	const char *list = getenv(env), *p;
	size_t n = strlen(w);

	if (!list || !*list)
		return true;
	for (p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static int group_open(struct bench *b, const struct bench_dev *d, int fd,
		      bool type1)
{
	char name[64];
	int dev_fd;

	b->fd = fd;
	snprintf(name, sizeof(name), "/dev/vfio/%d", d->group);
	b->group_fd = open(name, O_RDWR);
	if (b->fd < 0 || b->group_fd < 0)
		return -ENODEV;
	if (ioctl(b->group_fd, VFIO_GROUP_SET_CONTAINER, &b->fd))
		return -errno;
	if (type1 && ioctl(b->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	dev_fd = ioctl(b->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (dev_fd < 0)
		return -errno;
	b->has_edu = true;
	return edu_open_from_device_fd(&b->edu, dev_fd);
}

static int type1_open(struct bench *b, const struct bench_dev *d)
{
	return group_open(b, d, open("/dev/vfio/vfio", O_RDWR), true);
}

static int type1_map(struct bench *b, void *va, __u64 iova, size_t len)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va, .iova = iova, .size = len,
	};

	return ioctl(b->fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int type1_unmap(struct bench *b, __u64 iova, size_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = len,
	};

	return ioctl(b->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

#ifdef BENCH_IOMMUFD

static int iommufd_floor_open(struct bench *b, const struct bench_dev *d)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	(void)d;
	b->fd = open("/dev/iommu", O_RDWR);
	if (b->fd < 0)
		return -errno;
	if (ioctl(b->fd, IOMMU_IOAS_ALLOC, &alloc))
		return -errno;
	b->ioas = alloc.out_ioas_id;
	return 0;
}

/* An IOAS, and edu bound through its cdev and attached to the IOAS */
static int iommufd_open(struct bench *b, const struct bench_dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	char path[PATH_MAX];
	int ret, dev_fd;

	ret = iommufd_floor_open(b, d);
	if (ret)
		return ret;
	ret = pci_vfio_cdev_path(d->bdf, path, sizeof(path));
	if (ret)
		return ret;
	dev_fd = open(path, O_RDWR);
	if (dev_fd < 0)
		return -errno;
	/* edu_close() closes the device fd from here on */
	b->edu.device_fd = dev_fd;
	b->has_edu = true;
	bind.iommufd = b->fd;
	if (ioctl(dev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	attach.pt_id = b->ioas;
	if (ioctl(dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return -errno;
	return edu_open_from_device_fd(&b->edu, dev_fd);
}

static int iommufd_map(struct bench *b, void *va, __u64 iova, size_t len)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = b->ioas,
		.user_va = (uintptr_t)va, .length = len, .iova = iova,
	};

	return ioctl(b->fd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

static int iommufd_unmap(struct bench *b, __u64 iova, size_t len)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = b->ioas,
		.iova = iova, .length = len,
	};

	return ioctl(b->fd, IOMMU_IOAS_UNMAP, &unmap) ? -errno : 0;
}

static const struct bench_path paths[] = {
	{ "type1", "VFIO type1 v2 container", true,
	  type1_open, type1_map, type1_unmap },
	{ "iommufd", "iommufd IOAS map/unmap, edu bound through its cdev", true,
	  iommufd_open, iommufd_map, iommufd_unmap },
	{ "floor", "iommufd IOAS without a device (which pins nothing)", false,
	  iommufd_floor_open, iommufd_map, iommufd_unmap },
};

#else /* the series' /dev/ioasid */

static int compat_open(struct bench *b, const struct bench_dev *d)
{
	/* set up exactly like the type1 path */
	return group_open(b, d, ioasid_open(), true);
}

/* The group path: the file's VFIO IOAS */
static int ioasid_open_path(struct bench *b, const struct bench_dev *d)
{
	int ret = group_open(b, d, ioasid_open(), false);

	return ret ? ret : vfio_ioas(b->fd, IOASID_VFIO_IOAS_QUERY, &b->ioas);
}

static int floor_open(struct bench *b, const struct bench_dev *d)
{
	(void)d;
	b->fd = ioasid_open();
	if (b->fd < 0)
		return b->fd;
	return ioas_alloc(b->fd, &b->ioas);
}

static int ioasid_map(struct bench *b, void *va, __u64 iova, size_t len)
{
	return ioas_map_fixed(b->fd, b->ioas, va, len, iova, MAP_RW);
}

static int ioasid_unmap(struct bench *b, __u64 iova, size_t len)
{
	return ioas_unmap(b->fd, b->ioas, iova, len, NULL);
}

static const struct bench_path paths[] = {
	{ "type1", "VFIO type1 v2 container", true,
	  type1_open, type1_map, type1_unmap },
	{ "compat", "/dev/ioasid as a type1 v2 container", true,
	  compat_open, type1_map, type1_unmap },
	{ "ioasid", "IOAS map/unmap, edu through the VFIO group", true,
	  ioasid_open_path, ioasid_map, ioasid_unmap },
	{ "floor", "IOAS without a device: the pinning alone", false,
	  floor_open, ioasid_map, ioasid_unmap },
};

#endif

#define NPATHS	ARRAY_SIZE(paths)

static int bench_open(struct bench *b, const struct bench_path *p,
		      const struct bench_dev *d)
{
	memset(b, 0, sizeof(*b));
	b->path = p;
	b->fd = -1;
	b->group_fd = -1;
	b->edu.device_fd = -1;
	return p->open(b, d);
}

static void bench_close(struct bench *b)
{
	if (b->has_edu)
		edu_close(&b->edu);
	if (b->group_fd >= 0)
		close(b->group_fd);
	if (b->fd >= 0)
		close(b->fd);
}

/*
 * The device copies the last CHECK_LEN bytes of the mapping [@iova, @iova +
 * @len) of @va over its first ones; 0 when they arrived, else -ETIMEDOUT
 * or -EIO. Nothing to check without a device.
 */
static int dma_check(struct bench *b, char *va, __u64 iova, size_t len,
		     unsigned int seed)
{
	if (!b->has_edu)
		return 0;
	fill_pattern(va + len - CHECK_LEN, CHECK_LEN, seed);
	memset(va, 0, CHECK_LEN);
	if (edu_dma(&b->edu, iova + len - CHECK_LEN, EDU_BUF_ADDR, CHECK_LEN,
		    false) ||
	    edu_dma(&b->edu, EDU_BUF_ADDR, iova, CHECK_LEN, true))
		return -ETIMEDOUT;
	return check_pattern(va, CHECK_LEN, seed) == -1 ? 0 : -EIO;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median and spread of RUNS figures */
struct stat3 {
	double med, lo, hi;
};

static struct stat3 stat3_of(const double *v)
{
	double s[RUNS];

	memcpy(s, v, sizeof(s));
	qsort(s, RUNS, sizeof(s[0]), cmp_double);
	return (struct stat3){ s[RUNS / 2], s[0], s[RUNS - 1] };
}

/* "result KEY PATH MEDIAN MIN MAX", for the harness */
static void put_result(const char *key, const char *path, struct stat3 s)
{
	printf("result %s %s %.3f %.3f %.3f\n", key, path, s.med, s.lo, s.hi);
}

/* Large maps, and the kernel memory they take -------------------------- */

struct meminfo {
	long free, slab, sunreclaim, vmalloc, pagetables, secpagetables; /* kB */
};

/*
 * Free pages held in the per-CPU lists, in kB: MemFree leaves them out, and
 * they come and go in batches of dozens of pages, as much as the IOMMU page
 * tables of a map of huge pages.
 */
static long pcp_kb(void)
{
	char line[128];
	long v, kb = 0;
	FILE *f;

	f = fopen("/proc/zoneinfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			kb += v * (SZ_4K / 1024);
	fclose(f);
	return kb;
}

static int meminfo_read(struct meminfo *m)
{
	char line[128];
	FILE *f;
	long v;

	memset(m, 0, sizeof(*m));
	m->free = pcp_kb();
	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemFree: %ld kB", &v) == 1)
			m->free += v;
		else if (sscanf(line, "Slab: %ld kB", &v) == 1)
			m->slab = v;
		else if (sscanf(line, "SUnreclaim: %ld kB", &v) == 1)
			m->sunreclaim = v;
		else if (sscanf(line, "VmallocUsed: %ld kB", &v) == 1)
			m->vmalloc = v;
		else if (sscanf(line, "PageTables: %ld kB", &v) == 1)
			m->pagetables = v;
		else if (sscanf(line, "SecPageTables: %ld kB", &v) == 1)
			m->secpagetables = v;
	}
	fclose(f);
	return 0;
}

struct large_figs {
	double map[RUNS], unmap[RUNS];	/* ms */
	double meta[RUNS];		/* Slab + VmallocUsed, KiB per GiB */
	double pages[RUNS];		/* the rest of free memory's drop */
	double sec[RUNS];		/* SecPageTables (IOMMU tables on 6.12) */
	double slab[RUNS], sunreclaim[RUNS], vmalloc[RUNS];	/* meta's parts */
};

static int large_runs(struct bench *b, char *buf, size_t len,
		      struct large_figs *f)
{
	double per_gib = (double)SZ_1G / len, t;
	struct meminfo before, after;
	int i, rc;

	for (i = 0; i < RUNS; i++) {
		meminfo_read(&before);
		t = now_ms();
		rc = b->path->map(b, buf, BENCH_IOVA, len);
		f->map[i] = now_ms() - t;
		meminfo_read(&after);
		if (rc)
			return rc;
		f->meta[i] = per_gib * (after.slab - before.slab +
					after.vmalloc - before.vmalloc);
		f->pages[i] = per_gib * (before.free - after.free) -
			      f->meta[i] -
			      per_gib * (after.pagetables - before.pagetables);
		f->sec[i] = per_gib * (after.secpagetables -
				       before.secpagetables);
		f->slab[i] = per_gib * (after.slab - before.slab);
		f->sunreclaim[i] = per_gib * (after.sunreclaim -
					      before.sunreclaim);
		f->vmalloc[i] = per_gib * (after.vmalloc - before.vmalloc);
		rc = dma_check(b, buf, BENCH_IOVA, len, i + 7);
		if (rc)
			return rc;
		t = now_ms();
		rc = b->path->unmap(b, BENCH_IOVA, len);
		f->unmap[i] = now_ms() - t;
		if (rc)
			return rc;
	}
	return 0;
}

static bool large_path(const struct bench_path *p, enum buf_kind kind,
		       const struct bench_dev *d, char *buf, size_t len,
		       struct stat3 *map_ms, struct stat3 *unmap_ms)
{
	struct stat3 m, u, meta, pages, sec;
	struct large_figs f;
	struct bench b;
	char key[64];
	int rc;

	rc = bench_open(&b, p, d);
	if (!rc)
		rc = large_runs(&b, buf, len, &f);
	bench_close(&b);
	if (rc) {
		printf("%-8s %-7s failed: %s\n", kind_name[kind], p->name,
		       strerror(-rc));
		return false;
	}
	m = stat3_of(f.map);
	u = stat3_of(f.unmap);
	meta = stat3_of(f.meta);
	pages = stat3_of(f.pages);
	sec = stat3_of(f.sec);
	printf("%-8s %-7s %10.1f %10.1f   spread %.1f / %.1f   %8.0f %8.0f   %s\n",
	       kind_name[kind], p->name, m.med, u.med, m.hi - m.lo,
	       u.hi - u.lo, meta.med, pages.med,
	       p->device ? "DMA ok" : "no device");
	snprintf(key, sizeof(key), "large.%s.map", kind_name[kind]);
	put_result(key, p->name, m);
	snprintf(key, sizeof(key), "large.%s.unmap", kind_name[kind]);
	put_result(key, p->name, u);
	snprintf(key, sizeof(key), "kmem.%s.meta", kind_name[kind]);
	put_result(key, p->name, meta);
	snprintf(key, sizeof(key), "kmem.%s.pages", kind_name[kind]);
	put_result(key, p->name, pages);
	if (sec.hi > 0) {
		snprintf(key, sizeof(key), "kmem.%s.secpt", kind_name[kind]);
		put_result(key, p->name, sec);
	}
	snprintf(key, sizeof(key), "kmem.%s.slab", kind_name[kind]);
	put_result(key, p->name, stat3_of(f.slab));
	snprintf(key, sizeof(key), "kmem.%s.sunreclaim", kind_name[kind]);
	put_result(key, p->name, stat3_of(f.sunreclaim));
	snprintf(key, sizeof(key), "kmem.%s.vmalloc", kind_name[kind]);
	put_result(key, p->name, stat3_of(f.vmalloc));
	*map_ms = m;
	*unmap_ms = u;
	return true;
}

static int large_maps(const struct bench_dev *d, size_t len)
{
	struct stat3 ms[NPATHS], us[NPATHS];
	bool ok[NPATHS], failed = false;
	enum buf_kind kind;
	unsigned int p;
	char *buf;

	printf("large maps: %zu MiB, populated, edu %s, median of %d (spread = max - min)\n",
	       len >> 20, d->bdf, RUNS);
	for (p = 0; p < NPATHS; p++)
		printf("  %-8s %s\n", paths[p].name, paths[p].what);
	printf("  kernel memory per GiB mapped, KiB: meta = Slab + VmallocUsed,\n"
	       "  pages = the rest of the drop of free memory (IOMMU page tables)\n");
	printf("%-8s %-7s %10s %10s   %-21s %8s %8s\n", "memory", "path",
	       "map ms", "unmap ms", "spread ms", "meta", "pages");
	for (kind = BUF_SMALL_PAGES; kind <= BUF_SCATTERED; kind++) {
		buf = buf_map(len, SZ_2M, kind);
		if (!buf) {
			printf("%-8s (no memory of this kind)\n", kind_name[kind]);
			continue;
		}
		if (kind == BUF_THP && !thp_backed(buf, len))
			printf("THP      (not all of the buffer is THP-backed)\n");
		for (p = 0; p < NPATHS; p++) {
			ok[p] = large_path(&paths[p], kind, d, buf, len, &ms[p],
					   &us[p]);
			failed |= !ok[p];
		}
		for (p = 1; p < NPATHS; p++) {
			if (!ok[0] || !ok[p] || !paths[p].device)
				continue;
			/* type1 time over this path's: > 1 means faster */
			printf("%-8s %s vs type1 (type1 ms / %s ms): map %.2fx, unmap %.2fx\n",
			       kind_name[kind], paths[p].name, paths[p].name,
			       ms[0].med / ms[p].med, us[0].med / us[p].med);
		}
		munmap(buf, len);
	}
	return failed;
}

/* Scale: map and unmap among many live mappings ------------------------ */

#define SCALE_BASE	0x1000000000ULL	/* 64 GiB, below VT-d's 39 bits */
#define SCALE_STRIDE	(2 * SZ_4K)	/* a hole after each live mapping */
#define SCALE_MAX	100000
#define SCALE_PROBES	1000
/* A container's default limit (type1's and the core's dma_entry_limit) */
#define SCALE_LIMIT	65535

static const unsigned int scale_levels[] = { 1000, 10000, SCALE_MAX };

/* The hole of live mapping (@k * golden ratio) mod @live: scattered */
static __u64 scale_probe_iova(unsigned int k, unsigned int live)
{
	return SCALE_BASE + ((k * 2654435761ULL) % live) * SCALE_STRIDE +
	       SZ_4K;
}

/* One probe round at @live mappings: us per map and per unmap */
static int scale_probe(struct bench *b, char *probe, unsigned int live,
		       unsigned int run, double *map_us, double *unmap_us)
{
	unsigned int k;
	double t;
	int rc = 0;

	t = now_ms();
	for (k = 0; k < SCALE_PROBES && !rc; k++)
		rc = b->path->map(b, probe + k * SZ_4K,
				  scale_probe_iova(k, live), SZ_4K);
	*map_us = (now_ms() - t) * 1e3 / SCALE_PROBES;
	if (rc)
		return rc;
	if (run == 0)
		rc = dma_check(b, probe, scale_probe_iova(0, live), SZ_4K, 11);
	t = now_ms();
	for (k = 0; k < SCALE_PROBES && !rc; k++)
		rc = b->path->unmap(b, scale_probe_iova(k, live), SZ_4K);
	*unmap_us = (now_ms() - t) * 1e3 / SCALE_PROBES;
	return rc;
}

static bool scale_path(const struct bench_path *p, const struct bench_dev *d,
		       char *mem)
{
	char *probe = mem + (size_t)SCALE_MAX * SZ_4K;
	double mu[RUNS], uu[RUNS], t, fill_us;
	unsigned int live = 0, l, r;
	struct stat3 m, u;
	struct bench b;
	char key[64];
	int rc;

	rc = bench_open(&b, p, d);
	for (l = 0; l < ARRAY_SIZE(scale_levels) && !rc; l++) {
		unsigned int want = scale_levels[l], from = live;

		t = now_ms();
		while (live < want && !rc) {
			rc = p->map(&b, mem + (size_t)live * SZ_4K,
				    SCALE_BASE + (__u64)live * SCALE_STRIDE,
				    SZ_4K);
			live += !rc;
		}
		fill_us = (now_ms() - t) * 1e3 / (live - from ? live - from : 1);
		if (rc == -ENOSPC && live == SCALE_LIMIT) {
			printf("scale    %-7s %6u live: ENOSPC at %u, type1's limit\n",
			       p->name, want, live);
			snprintf(key, sizeof(key), "scale.%u.map", want);
			printf("result %s %s limit\n", key, p->name);
			snprintf(key, sizeof(key), "scale.%u.unmap", want);
			printf("result %s %s limit\n", key, p->name);
			rc = 0;
			break;
		}
		if (rc)
			break;
		rc = dma_check(&b, mem + (size_t)(live - 1) * SZ_4K,
			       SCALE_BASE + (__u64)(live - 1) * SCALE_STRIDE,
			       SZ_4K, 13);
		for (r = 0; r < RUNS && !rc; r++)
			rc = scale_probe(&b, probe, live, r, &mu[r], &uu[r]);
		if (rc)
			break;
		m = stat3_of(mu);
		u = stat3_of(uu);
		printf("scale    %-7s %6u live: map %7.2f (%.2f) unmap %7.2f (%.2f), fill %.2f\n",
		       p->name, live, m.med, m.hi - m.lo, u.med, u.hi - u.lo,
		       fill_us);
		snprintf(key, sizeof(key), "scale.%u.map", want);
		put_result(key, p->name, m);
		snprintf(key, sizeof(key), "scale.%u.unmap", want);
		put_result(key, p->name, u);
	}
	bench_close(&b);
	if (rc) {
		printf("scale    %-7s failed at %u live mappings: %s\n", p->name,
		       live, strerror(-rc));
		return false;
	}
	return true;
}

static int scale_maps(const struct bench_dev *d)
{
	size_t len = (size_t)(SCALE_MAX + SCALE_PROBES) * SZ_4K;
	bool failed = false;
	unsigned int p;
	char *mem;

	printf("scale: 4K maps with 1k, 10k and 100k live 4K mappings, edu attached:\n"
	       "%d maps at scattered IOVAs among them, then their unmaps, us per call,\n"
	       "median of %d (spread); the first probe and the last live mapping checked\n"
	       "by DMA; fill: us per map while adding the live ones\n",
	       SCALE_PROBES, RUNS);
	mem = buf_map(len, SZ_4K, BUF_SMALL_PAGES);
	if (!mem) {
		printf("scale    no memory for %zu MiB\n", len >> 20);
		return 1;
	}
	for (p = 0; p < NPATHS; p++)
		if (paths[p].device)
			failed |= !scale_path(&paths[p], d, mem);
	munmap(mem, len);
	return failed;
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

struct small_thread {
	struct bench *b;
	bool vec;		/* SMALL_VEC ranges per call (/dev/ioasid) */
	unsigned int idx, cycles;
	char *pages;		/* SMALL_VEC populated pages */
	int ret;
};

static __u64 small_iova(const struct small_thread *t, unsigned int k)
{
	return SMALL_BASE + t->idx * SMALL_REGION +
	       (__u64)((k * 2654435761U) % SMALL_SLOTS) * SMALL_STRIDE;
}

#ifndef BENCH_IOMMUFD
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
#else
static int small_vec(struct small_thread *t, unsigned int k)
{
	(void)t;
	(void)k;
	return -EOPNOTSUPP;
}
#endif

static void *small_run(void *arg)
{
	struct small_thread *t = arg;
	struct bench *b = t->b;
	unsigned int k;
	char *va;
	__u64 iova;
	int ret = 0;

	for (k = 0; k < t->cycles && !ret; k++) {
		if (t->vec) {
			ret = small_vec(t, k);
			k += SMALL_VEC - 1;
			continue;
		}
		va = t->pages + (k % SMALL_VEC) * SZ_4K;
		iova = small_iova(t, k);
		ret = b->path->map(b, va, iova, SZ_4K);
		if (!ret)
			ret = b->path->unmap(b, iova, SZ_4K);
	}
	t->ret = ret;
	return NULL;
}

/* One small mapping of thread @t, checked by edu at both of its ends */
static int small_check(struct small_thread *t)
{
	__u64 iova = small_iova(t, 0);
	int ret;

	ret = t->b->path->map(t->b, t->pages, iova, SZ_4K);
	if (ret)
		return ret;
	ret = dma_check(t->b, t->pages, iova, SZ_4K, t->idx + 3);
	t->b->path->unmap(t->b, iova, SZ_4K);
	return ret;
}

/* Cycles per second of path @p with @nthreads; 0 when it failed */
static double small_bench(const struct bench_path *p, bool vec,
			  unsigned int nthreads, const struct bench_dev *d)
{
	struct small_thread t[4];
	pthread_t th[4];
	double start, secs = 0;
	struct bench b;
	unsigned int i;
	int ret;

	ret = bench_open(&b, p, d);
	for (i = 0; i < nthreads; i++) {
		t[i] = (struct small_thread){
			.b = &b, .vec = vec, .idx = i,
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
			snprintf(name, sizeof(name), "sm-%s%s", p->name,
				 vec ? "-x64" : "");
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
		printf("small    %s%s %u thread(s) failed: %s\n", p->name,
		       vec ? " x64" : "", nthreads, strerror(-ret));
		return 0;
	}
	return SMALL_CYCLES / secs;
}

static int small_maps(const struct bench_dev *d)
{
	static const unsigned int threads[] = { 1, 4 };
	unsigned int i, p, r, nmodes = 0;
	struct {
		const struct bench_path *p;
		bool vec;
		struct stat3 s;
	} mode[NPATHS + 1];
	double ops[RUNS];
	bool failed = false;
	char key[64], name[32];

	for (p = 0; p < NPATHS; p++) {
		if (!paths[p].device)
			continue;
		if (env_has("BENCH_PATHS", paths[p].name)) {
			mode[nmodes].p = &paths[p];
			mode[nmodes++].vec = false;
		}
#ifndef BENCH_IOMMUFD
		if (paths[p].open == ioasid_open_path &&
		    env_has("BENCH_PATHS", "ioasid-x64")) {
			mode[nmodes].p = &paths[p];
			mode[nmodes++].vec = true;
		}
#endif
	}
	printf("small maps: %d cycles of 4K map + unmap at scattered IOVAs, edu attached,\n"
	       "one mapping per thread checked by DMA afterwards; cycles/s, median of %d\n",
	       SMALL_CYCLES, RUNS);
	for (i = 0; i < ARRAY_SIZE(threads); i++) {
		snprintf(key, sizeof(key), "%u", threads[i]);
		if (!env_has("BENCH_THREADS", key))
			continue;
		printf("small    %u thread(s):", threads[i]);
		for (p = 0; p < nmodes; p++) {
			for (r = 0; r < RUNS; r++) {
				ops[r] = small_bench(mode[p].p, mode[p].vec,
						     threads[i], d);
				failed |= !ops[r];
			}
			mode[p].s = stat3_of(ops);
			printf("%s %s%s %.0f (spread %.0f)", p ? "," : "",
			       mode[p].p->name, mode[p].vec ? " x64" : "",
			       mode[p].s.med, mode[p].s.hi - mode[p].s.lo);
		}
		printf("\n");
		for (p = 0; p < nmodes; p++) {
			snprintf(key, sizeof(key), "small.%u", threads[i]);
			snprintf(name, sizeof(name), "%s%s", mode[p].p->name,
				 mode[p].vec ? "-x64" : "");
			put_result(key, name, mode[p].s);
		}
		if (!nmodes || mode[0].s.med <= 0 ||
		    strcmp(mode[0].p->name, "type1"))
			continue;
		printf("small    %u thread(s) / type1:", threads[i]);
		for (p = 1; p < nmodes; p++)
			printf("%s %s%s %.2fx", p > 1 ? "," : "",
			       mode[p].p->name, mode[p].vec ? " x64" : "",
			       mode[p].s.med / mode[0].s.med);
		printf("\n");
	}
	return failed;
}

/* Page request round trips --------------------------------------------- */

#ifndef BENCH_IOMMUFD

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

#else
static int pri_bench(void)
{
	return 0;
}
#endif

static bool want(const char *w)
{
	return env_has("BENCH_WORKLOADS", w);
}

int main(int argc, char **argv)
{
	const char *mib = argc > 1 ? argv[1] : getenv("harness_bench_mib");
	size_t len = (mib ? strtoul(mib, NULL, 0) : 1024) << 20;
	struct bench_dev d;
	int failed = 0;

	/* Figures reach a serial console: no buffering across workloads */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (edu_find(d.bdf, sizeof(d.bdf))) {
		printf("ioasid_bench: no edu device\n");
		return 1;
	}
	d.group = edu_iommu_group(d.bdf);
	if (want("large"))
		failed |= large_maps(&d, len);
	if (want("scale"))
		failed |= scale_maps(&d);
	if (want("small"))
		failed |= small_maps(&d);
	if (want("pri"))
		failed |= pri_bench();
	printf("result done %s\n", failed ? "failed" : "ok");
	return failed;
}
