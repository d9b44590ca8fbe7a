// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stress /dev/ioasid with valid commands on shared objects.
 *
 * STRESS_THREADS threads run for IOASID_STRESS_SECS seconds (60 by
 * default; also ioasid_stress_secs=N on the kernel command line) against
 * one /dev/ioasid file and its objects: two IOASes A and B, mock devices,
 * explicit HWPTs and accesses. They map, unmap and copy between A and B,
 * create and destroy HWPTs, create, move and destroy mock devices, do mock
 * DMA, pin through accesses, cycle the edu device's cdev (bind, attach to
 * A, replace to B, detach, close) when there is one, open and close files
 * of their own, and now and then close the shared file and start over.
 *
 * Every argument is valid, so each call must succeed or fail with an errno
 * another thread explains: an object it destroyed (ENOENT), a mapping it
 * made (EEXIST) or keeps pinned (EBUSY), ... The allowed set of each kind
 * of call is in struct op_desc. At the end nothing may stay charged or
 * pinned: per file (IOASID_TEST_CHARGES), for the user (RLIMIT_MEMLOCK
 * probe), for the mm (VmLck) and per page (IOASID_TEST_PIN_COUNT).
 *
 * IOASID_STRESS_NOMIX=1 (ioasid_stress_nomix=1) gives the edu device IOASes
 * of its own, away from the mock devices.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define STRESS_SECS_DEFAULT	60
#define STRESS_SECS_MAX		3600
#define STRESS_THREADS		6
#define STRESS_GRACE_SECS	60

#define BUF_LEN			SZ_1M
/*
 * Every IOVA used lies in [LIMIT_FIRST, LIMIT_LAST], which both IOASes are
 * limited to: clear of the MSI windows of VT-d, AMD-Vi and virtio-iommu,
 * so that attaching the edu device never meets a mapping.
 */
#define LIMIT_FIRST		0x40000000ULL
#define LIMIT_LAST		0x7fffffffULL
/* Fixed mappings go to one of POOL_SLOTS slots of SLOT_LEN at POOL_BASE */
#define POOL_BASE		LIMIT_FIRST
#define SLOT_LEN		SZ_64K
#define POOL_SLOTS		128
#define MAX_PAGES		(SLOT_LEN / SZ_4K)
/* Kernel-placed mappings per IOAS before they are all taken down */
#define MAX_AUTO		256
/* How often the shared file may be closed and opened again */
#define REOPEN_MIN_MS		2000

#define NR_DEVS			6
#define NR_HWPTS		4
#define NR_ACCESSES		3
#define NR_ERRNO		136

enum {
	K_MAP_FIXED, K_MAP_AUTO, K_UNMAP, K_UNMAP_ALL, K_COPY, K_INFO,
	K_MOCK_CREATE, K_MOCK_DESTROY, K_MOCK_MOVE, K_MOCK_DMA,
	K_HWPT_CREATE, K_HWPT_DESTROY,
	K_ACCESS_CREATE, K_ACCESS_PIN, K_ACCESS_RW, K_ACCESS_DESTROY,
	K_EDU_BIND, K_EDU_ATTACH, K_EDU_REPLACE, K_EDU_DETACH, K_EDU_CLOSE,
	K_PRIVATE_FD, K_REOPEN,
	NR_KINDS
};

struct op_desc {
	const char *name;
	unsigned int weight;	/* 0: not picked directly */
	int allowed[6];		/* besides 0; 0-terminated */
};

static const struct op_desc kinds[NR_KINDS] = {
	/* another thread's fixed mapping, or a placed one, is there */
	[K_MAP_FIXED] = { "map fixed", 14, { EEXIST } },
	[K_MAP_AUTO] = { "map anywhere", 6, { 0 } },
	/* another thread's mapping crosses an end; an access pins */
	[K_UNMAP] = { "unmap", 12, { ENOENT, EBUSY } },
	[K_UNMAP_ALL] = { "unmap all", 1, { EBUSY } },
	/* the source is not (all) mapped now, the target is taken */
	[K_COPY] = { "copy", 8, { ENOENT, EEXIST } },
	[K_INFO] = { "ioas info", 2, { 0 } },
	/*
	 * The HWPT it was to attach to was destroyed, or it is one of edu's
	 * IOMMU: a mock device is never put on it (EINVAL)
	 */
	[K_MOCK_CREATE] = { "mock create", 4, { ENOENT, EINVAL } },
	[K_MOCK_DESTROY] = { "mock destroy", 3, { 0 } },
	/* the device or the HWPT was destroyed; a HWPT of edu's IOMMU */
	[K_MOCK_MOVE] = { "mock move", 6, { ENOENT, EINVAL } },
	/* the device was destroyed; the IOVA is not mapped now */
	[K_MOCK_DMA] = { "mock dma", 6, { ENOENT, EFAULT } },
	/* the device was destroyed */
	[K_HWPT_CREATE] = { "hwpt create", 3, { ENOENT } },
	/* a device was moved onto it */
	[K_HWPT_DESTROY] = { "hwpt destroy", 3, { EBUSY } },
	[K_ACCESS_CREATE] = { "access create", 2, { 0 } },
	/* the access was destroyed; the IOVA is not mapped now */
	[K_ACCESS_PIN] = { "access pin", 4, { ENOENT } },
	[K_ACCESS_RW] = { "access rw", 3, { ENOENT } },
	[K_ACCESS_DESTROY] = { "access destroy", 2, { 0 } },
	/* the edu cycle: one call of each per cycle */
	[K_EDU_BIND] = { "edu bind", 2, { 0 } },
	[K_EDU_ATTACH] = { "edu attach A", 0, { 0 } },
	[K_EDU_REPLACE] = { "edu replace B", 0, { 0 } },
	[K_EDU_DETACH] = { "edu detach", 0, { 0 } },
	[K_EDU_CLOSE] = { "edu close", 0, { 0 } },
	[K_PRIVATE_FD] = { "private file", 2, { 0 } },
	[K_REOPEN] = { "reopen shared file", 1, { 0 } },
};

struct st_thread {
	pthread_t thread;
	__u64 rng;
	unsigned long hist[NR_KINDS][NR_ERRNO];
};

static struct {
	unsigned int secs;
	int stop;
	/* Taken for reading by every op, for writing to replace the file */
	pthread_rwlock_t lock;
	int fd;
	__u32 ioas[2];
	/*
	 * Where the edu device attaches: A and B, with the mock devices, or
	 * with IOASID_STRESS_NOMIX=1 (ioasid_stress_nomix=1) two IOASes of
	 * its own, C and D, to stress on past a kernel that shares a HWPT
	 * between devices of different IOMMUs.
	 */
	bool nomix;
	__u32 edu_ioas[2];
	__u32 devs[NR_DEVS];		/* 0: empty slot */
	__u32 hwpts[NR_HWPTS];
	__u32 accesses[NR_ACCESSES];
	unsigned int nr_auto[2];
	__u64 last_reopen_ms;
	char *buf;

	bool has_edu;
	char cdev[PATH_MAX];
	pthread_mutex_t edu_lock;

	struct bad_log log;
	struct st_thread th[STRESS_THREADS];
} st;

static __u64 rnd(struct st_thread *t)
{
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static unsigned int rnd_below(struct st_thread *t, unsigned int n)
{
	return (unsigned int)(rnd(t) >> 32) % n;
}

#define st_bad(...)	bad_log_add(&st.log, __VA_ARGS__)

/* Count @ret (0 or -errno) of a call of @kind, and judge it */
static int judge(struct st_thread *t, int kind, int ret, const char *fmt, ...)
{
	int e = -ret, i;
	char what[160];
	va_list ap;

	t->hist[kind][e < NR_ERRNO - 1 ? e : NR_ERRNO - 1]++;
	if (!ret)
		return 0;
	for (i = 0; kinds[kind].allowed[i]; i++)
		if (kinds[kind].allowed[i] == e)
			return ret;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	st_bad("%s: %s (%s)", kinds[kind].name, errname(e), what);
	return ret;
}

/* Shared object slots -------------------------------------------------- */

static __u32 slot_peek(__u32 *slots, unsigned int n, struct st_thread *t)
{
	return __atomic_load_n(&slots[rnd_below(t, n)], __ATOMIC_ACQUIRE);
}

/* Take an object out of its slot, so that only the caller destroys it */
static __u32 slot_take(__u32 *slots, unsigned int n, struct st_thread *t)
{
	return __atomic_exchange_n(&slots[rnd_below(t, n)], 0,
				   __ATOMIC_ACQ_REL);
}

/* Put @id in a free slot; false when all are taken */
static bool slot_put(__u32 *slots, unsigned int n, __u32 id)
{
	unsigned int i;
	__u32 zero;

	for (i = 0; i < n; i++) {
		zero = 0;
		if (__atomic_compare_exchange_n(&slots[i], &zero, id, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}

static bool slot_full(__u32 *slots, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!__atomic_load_n(&slots[i], __ATOMIC_RELAXED))
			return false;
	return true;
}

/* Put the new object @id in a free slot, or destroy it if none is left */
static void slot_keep(struct st_thread *t, __u32 *slots, unsigned int n,
		      __u32 id, int destroy_kind, const char *what)
{
	if (!slot_put(slots, n, id))
		judge(t, destroy_kind, ioasid_destroy(st.fd, id),
		      "%s %u (no slot)", what, id);
}

/* Take the object out of a random slot, if any, and destroy it */
static void slot_destroy(struct st_thread *t, __u32 *slots, unsigned int n,
			 int destroy_kind, const char *what)
{
	__u32 id = slot_take(slots, n, t);

	if (id)
		judge(t, destroy_kind, ioasid_destroy(st.fd, id), "%s %u",
		      what, id);
}

/* An IOAS, or a HWPT now and then: where a device may attach */
static __u32 pick_pt(struct st_thread *t)
{
	__u32 hwpt;

	if (rnd_below(t, 3) == 0) {
		hwpt = slot_peek(st.hwpts, NR_HWPTS, t);
		if (hwpt)
			return hwpt;
	}
	return st.ioas[rnd_below(t, 2)];
}

static __u64 pool_iova(unsigned int slot)
{
	return POOL_BASE + (__u64)slot * SLOT_LEN;
}

static void *buf_at(struct st_thread *t, unsigned int pages)
{
	return st.buf + rnd_below(t, BUF_LEN / SZ_4K - pages + 1) * SZ_4K;
}

/* The ops ------------------------------------------------------------ */

static void op_map_fixed(struct st_thread *t)
{
	unsigned int x = rnd_below(t, 2), slot = rnd_below(t, POOL_SLOTS);
	unsigned int pages = 1 + rnd_below(t, MAX_PAGES);

	judge(t, K_MAP_FIXED,
	      ioas_map_fixed(st.fd, st.ioas[x], buf_at(t, pages),
			     pages * SZ_4K, pool_iova(slot), MAP_RW),
	      "IOAS %u slot %u pages %u", st.ioas[x], slot, pages);
}

static void op_unmap_all(struct st_thread *t, unsigned int x)
{
	judge(t, K_UNMAP_ALL, ioas_unmap_all(st.fd, st.ioas[x], NULL),
	      "IOAS %u", st.ioas[x]);
	__atomic_store_n(&st.nr_auto[x], 0, __ATOMIC_RELAXED);
}

static void op_map_auto(struct st_thread *t)
{
	unsigned int x = rnd_below(t, 2), pages = 1 + rnd_below(t, MAX_PAGES);
	__u64 iova = 0;
	int ret;

	/* Keep memory bounded: take everything down now and then */
	if (__atomic_add_fetch(&st.nr_auto[x], 1, __ATOMIC_RELAXED) >
	    MAX_AUTO) {
		op_unmap_all(t, x);
		return;
	}
	ret = judge(t, K_MAP_AUTO,
		    ioas_map(st.fd, st.ioas[x], buf_at(t, pages),
			     pages * SZ_4K, &iova, MAP_RW),
		    "IOAS %u pages %u", st.ioas[x], pages);
	if (!ret && (iova < LIMIT_FIRST || iova + pages * SZ_4K - 1 > LIMIT_LAST))
		st_bad("map anywhere: IOVA %#llx outside the limit",
		       (unsigned long long)iova);
}

static void op_unmap(struct st_thread *t)
{
	unsigned int x = rnd_below(t, 2), slot = rnd_below(t, POOL_SLOTS);
	unsigned int n = 1 + rnd_below(t, 4);

	if (slot + n > POOL_SLOTS)
		n = POOL_SLOTS - slot;
	judge(t, K_UNMAP,
	      ioas_unmap(st.fd, st.ioas[x], pool_iova(slot), n * SLOT_LEN,
			 NULL),
	      "IOAS %u slots %u+%u", st.ioas[x], slot, n);
}

static void op_copy(struct st_thread *t)
{
	unsigned int x = rnd_below(t, 2), src = rnd_below(t, POOL_SLOTS);
	unsigned int dst = rnd_below(t, POOL_SLOTS);
	__u64 len = (1 + rnd_below(t, MAX_PAGES)) * SZ_4K, iova;
	__u32 from = st.ioas[x], to = st.ioas[rnd_below(t, 4) ? !x : x];

	if (rnd_below(t, 4)) {
		judge(t, K_COPY,
		      ioas_copy_fixed(st.fd, to, pool_iova(dst), from,
				      pool_iova(src), len, MAP_RW),
		      "%u:slot %u -> %u:slot %u len %#llx", from, src, to,
		      dst, (unsigned long long)len);
		return;
	}
	if (__atomic_add_fetch(&st.nr_auto[to == st.ioas[1]], 1,
			       __ATOMIC_RELAXED) > MAX_AUTO) {
		op_unmap_all(t, to == st.ioas[1]);
		return;
	}
	judge(t, K_COPY,
	      ioas_copy(st.fd, to, &iova, from, pool_iova(src), len, MAP_RW),
	      "%u:slot %u -> %u:anywhere len %#llx", from, src, to,
	      (unsigned long long)len);
}

static void op_info(struct st_thread *t)
{
	unsigned int x = rnd_below(t, 2);
	struct ioasid_iova_range r[4];
	__u32 n = 4;
	int ret;

	ret = ioas_iova_ranges(st.fd, st.ioas[x], r, &n, NULL);
	judge(t, K_INFO, ret, "IOAS %u", st.ioas[x]);
	/* The limit is all a mock device or edu leaves of the space */
	if (!ret && (n != 1 || r[0].first != LIMIT_FIRST ||
		     r[0].last != LIMIT_LAST))
		st_bad("ioas info: %u ranges, the first [%#llx, %#llx]", n,
		       (unsigned long long)r[0].first,
		       (unsigned long long)r[0].last);
}

static void op_mock_create(struct st_thread *t)
{
	__u32 pt = pick_pt(t), dev = 0;
	int ret;

	if (slot_full(st.devs, NR_DEVS))
		return;
	ret = judge(t, K_MOCK_CREATE, mock_device(st.fd, pt, &dev, NULL),
		    "on %u", pt);
	if (!ret)
		slot_keep(t, st.devs, NR_DEVS, dev, K_MOCK_DESTROY, "device");
}

static void op_mock_destroy(struct st_thread *t)
{
	slot_destroy(t, st.devs, NR_DEVS, K_MOCK_DESTROY, "device");
}

static void op_mock_move(struct st_thread *t)
{
	__u32 dev = slot_peek(st.devs, NR_DEVS, t), pt = pick_pt(t);

	if (dev)
		judge(t, K_MOCK_MOVE, mock_replace(st.fd, dev, pt, NULL),
		      "device %u to %u", dev, pt);
}

static void op_mock_dma(struct st_thread *t)
{
	__u32 dev = slot_peek(st.devs, NR_DEVS, t);
	unsigned int slot = rnd_below(t, POOL_SLOTS);
	char data[512];

	if (dev)
		judge(t, K_MOCK_DMA,
		      mock_dma(st.fd, dev, pool_iova(slot) + rnd_below(t, 8) * 512,
			       data, sizeof(data), rnd_below(t, 2), NULL),
		      "device %u slot %u", dev, slot);
}

static void op_hwpt_create(struct st_thread *t)
{
	__u32 dev = slot_peek(st.devs, NR_DEVS, t), hwpt = 0;
	__u32 ioas = st.ioas[rnd_below(t, 2)];
	int ret;

	if (!dev || slot_full(st.hwpts, NR_HWPTS))
		return;
	ret = judge(t, K_HWPT_CREATE, hwpt_create(st.fd, dev, ioas, &hwpt),
		    "device %u IOAS %u", dev, ioas);
	if (!ret)
		slot_keep(t, st.hwpts, NR_HWPTS, hwpt, K_HWPT_DESTROY, "HWPT");
}

static void op_hwpt_destroy(struct st_thread *t)
{
	__u32 hwpt = slot_take(st.hwpts, NR_HWPTS, t);
	int ret;

	if (!hwpt)
		return;
	ret = judge(t, K_HWPT_DESTROY, ioasid_destroy(st.fd, hwpt),
		    "HWPT %u", hwpt);
	/*
	 * A device is on it: keep it around. With the table refilled by
	 * other threads meanwhile, forget it: closing the file frees it.
	 */
	if (ret == -EBUSY)
		slot_put(st.hwpts, NR_HWPTS, hwpt);
}

static void op_access_create(struct st_thread *t)
{
	__u32 id = 0, ioas = st.ioas[rnd_below(t, 2)];
	int ret;

	if (slot_full(st.accesses, NR_ACCESSES))
		return;
	ret = judge(t, K_ACCESS_CREATE, access_create(st.fd, ioas, &id),
		    "IOAS %u", ioas);
	if (!ret)
		slot_keep(t, st.accesses, NR_ACCESSES, id, K_ACCESS_DESTROY,
			  "access");
}

static void op_access_pin(struct st_thread *t)
{
	__u32 id = slot_peek(st.accesses, NR_ACCESSES, t);
	unsigned int slot = rnd_below(t, POOL_SLOTS);

	if (id)
		judge(t, K_ACCESS_PIN,
		      access_pin(st.fd, id, pool_iova(slot), SZ_4K),
		      "access %u slot %u", id, slot);
}

static void op_access_rw(struct st_thread *t)
{
	__u32 id = slot_peek(st.accesses, NR_ACCESSES, t);
	unsigned int slot = rnd_below(t, POOL_SLOTS);
	char data[256];

	if (!id)
		return;
	/* Reading only: the buffer's bytes are not changed by anyone */
	judge(t, K_ACCESS_RW,
	      access_rw(st.fd, id, pool_iova(slot) + 1024, data, sizeof(data),
			IOASID_TEST_DMA_READ),
	      "access %u slot %u", id, slot);
}

static void op_access_destroy(struct st_thread *t)
{
	slot_destroy(t, st.accesses, NR_ACCESSES, K_ACCESS_DESTROY, "access");
}

/* Bind the edu cdev, attach it to A, replace to B, detach, close */
static void op_edu_cycle(struct st_thread *t)
{
	__u32 dev = 0, hwpt = 0;
	int fd, ret;

	if (!st.has_edu || pthread_mutex_trylock(&st.edu_lock))
		return;
	fd = open(st.cdev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		st_bad("edu: open %s: %s", st.cdev, strerror(errno));
		goto out;
	}
	ret = judge(t, K_EDU_BIND, cdev_bind(fd, st.fd, &dev), "");
	if (!ret) {
		ret = judge(t, K_EDU_ATTACH,
			    cdev_attach(fd, st.edu_ioas[0], &hwpt), "IOAS %u",
			    st.edu_ioas[0]);
		if (!ret && rnd_below(t, 2))
			ret = judge(t, K_EDU_REPLACE,
				    cdev_attach(fd, st.edu_ioas[1], &hwpt),
				    "IOAS %u", st.edu_ioas[1]);
		if (!ret && rnd_below(t, 2))
			judge(t, K_EDU_DETACH, cdev_detach(fd), "");
	}
	judge(t, K_EDU_CLOSE, close(fd) ? -errno : 0, "");
out:
	pthread_mutex_unlock(&st.edu_lock);
}

/* Limit an IOAS to [LIMIT_FIRST, LIMIT_LAST]; 0 or -errno */
static int ioas_setup(int fd, __u32 *ioas)
{
	struct ioasid_iova_range r = {
		.first = LIMIT_FIRST,
		.last = LIMIT_LAST,
	};
	int ret = ioas_alloc(fd, ioas);

	return ret ? ret : ioas_limit(fd, *ioas, &r, 1);
}

/*
 * A file of the thread's own: build a little of everything, check its
 * charges, and close it with everything still in it.
 */
static void op_private_fd(struct st_thread *t)
{
	unsigned int pages = 1 + rnd_below(t, MAX_PAGES);
	__u64 locked = 0, pinned = 0, iova = 0;
	__u32 ioas = 0, dev = 0, access = 0;
	int fd, ret;

	fd = ioasid_open();
	if (fd < 0) {
		judge(t, K_PRIVATE_FD, fd, "open");
		return;
	}
	ret = ioas_setup(fd, &ioas);
	if (!ret)
		ret = ioas_map(fd, ioas, buf_at(t, pages), pages * SZ_4K, &iova,
			       MAP_RW);
	if (!ret)
		ret = mock_device(fd, ioas, &dev, NULL);
	if (!ret)
		ret = access_create(fd, ioas, &access);
	if (!ret)
		ret = access_pin(fd, access, iova, SZ_4K);
	if (!ret)
		ret = mock_charges(fd, &locked, &pinned);
	if (!ret && (locked != pages || pinned != pages))
		st_bad("private file: %u pages mapped, %llu charged, %llu pinned",
		       pages, (unsigned long long)locked,
		       (unsigned long long)pinned);
	judge(t, K_PRIVATE_FD, ret, "building");
	close(fd);
}

/*
 * Start the shared file over: no op runs meanwhile. The old one must hold
 * nothing once A and B are unmapped; it is closed with its devices, HWPTs
 * and accesses still in it.
 */
static int shared_reset(bool check)
{
	__u64 locked = 0, pinned = 0;
	int fd, ret;

	if (check && st.fd >= 0) {
		ret = ioas_unmap_all(st.fd, st.ioas[0], NULL);
		if (!ret)
			ret = ioas_unmap_all(st.fd, st.ioas[1], NULL);
		if (!ret)
			ret = mock_charges(st.fd, &locked, &pinned);
		if (ret)
			return ret;
		if (locked || pinned)
			st_bad("shared file with A and B unmapped: %llu pages charged, %llu pinned",
			       (unsigned long long)locked,
			       (unsigned long long)pinned);
	}
	fd = ioasid_open();
	if (fd < 0)
		return fd;
	if (st.fd < 0) {
		st.fd = fd;
	} else {
		if (dup2(fd, st.fd) < 0)
			return -errno;
		close(fd);
	}
	memset(st.devs, 0, sizeof(st.devs));
	memset(st.hwpts, 0, sizeof(st.hwpts));
	memset(st.accesses, 0, sizeof(st.accesses));
	st.nr_auto[0] = 0;
	st.nr_auto[1] = 0;
	ret = ioas_setup(st.fd, &st.ioas[0]);
	if (!ret)
		ret = ioas_setup(st.fd, &st.ioas[1]);
	st.edu_ioas[0] = st.ioas[0];
	st.edu_ioas[1] = st.ioas[1];
	if (!ret && st.nomix)
		ret = ioas_setup(st.fd, &st.edu_ioas[0]);
	if (!ret && st.nomix)
		ret = ioas_setup(st.fd, &st.edu_ioas[1]);
	return ret;
}

static void op_reopen(struct st_thread *t)
{
	__u64 ms = now_ns() / 1000000;

	if (ms - __atomic_load_n(&st.last_reopen_ms, __ATOMIC_RELAXED) <
	    REOPEN_MIN_MS)
		return;
	pthread_rwlock_unlock(&st.lock);
	pthread_rwlock_wrlock(&st.lock);
	if (ms - st.last_reopen_ms >= REOPEN_MIN_MS) {
		st.last_reopen_ms = ms;
		judge(t, K_REOPEN, shared_reset(true), "");
	}
	pthread_rwlock_unlock(&st.lock);
	pthread_rwlock_rdlock(&st.lock);
}

/* The threads -------------------------------------------------------- */

static unsigned int total_weight;

static bool kind_live(int k)
{
	if (k >= K_EDU_BIND && k <= K_EDU_CLOSE)
		return st.has_edu;
	return true;
}

static void run_one(struct st_thread *t)
{
	unsigned int w = rnd_below(t, total_weight);
	int k;

	for (k = 0; k < NR_KINDS; k++) {
		if (!kind_live(k))
			continue;
		if (w < kinds[k].weight)
			break;
		w -= kinds[k].weight;
	}
	switch (k) {
	case K_MAP_FIXED:
		op_map_fixed(t);
		break;
	case K_MAP_AUTO:
		op_map_auto(t);
		break;
	case K_UNMAP:
		op_unmap(t);
		break;
	case K_UNMAP_ALL:
		op_unmap_all(t, rnd_below(t, 2));
		break;
	case K_COPY:
		op_copy(t);
		break;
	case K_INFO:
		op_info(t);
		break;
	case K_MOCK_CREATE:
		op_mock_create(t);
		break;
	case K_MOCK_DESTROY:
		op_mock_destroy(t);
		break;
	case K_MOCK_MOVE:
		op_mock_move(t);
		break;
	case K_MOCK_DMA:
		op_mock_dma(t);
		break;
	case K_HWPT_CREATE:
		op_hwpt_create(t);
		break;
	case K_HWPT_DESTROY:
		op_hwpt_destroy(t);
		break;
	case K_ACCESS_CREATE:
		op_access_create(t);
		break;
	case K_ACCESS_PIN:
		op_access_pin(t);
		break;
	case K_ACCESS_RW:
		op_access_rw(t);
		break;
	case K_ACCESS_DESTROY:
		op_access_destroy(t);
		break;
	case K_EDU_BIND:
		op_edu_cycle(t);
		break;
	case K_PRIVATE_FD:
		op_private_fd(t);
		break;
	case K_REOPEN:
		op_reopen(t);
		break;
	}
}

static void *stress_thread(void *arg)
{
	struct st_thread *t = arg;

	pthread_rwlock_rdlock(&st.lock);
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		run_one(t);
		/* let a waiting writer in */
		pthread_rwlock_unlock(&st.lock);
		pthread_rwlock_rdlock(&st.lock);
	}
	pthread_rwlock_unlock(&st.lock);
	return NULL;
}

/* Set up and checks -------------------------------------------------- */

static void find_edu(void)
{
	char bdf[32], driver[64];

	if (edu_find(bdf, sizeof(bdf)) ||
	    edu_bound_driver(bdf, driver, sizeof(driver)) ||
	    strcmp(driver, "vfio-pci") ||
	    pci_vfio_cdev_path(bdf, st.cdev, sizeof(st.cdev)) ||
	    access(st.cdev, F_OK)) {
		printf("# no edu device with a VFIO cdev: no edu cycles\n");
		return;
	}
	printf("# edu %s, cdev %s\n", bdf, st.cdev);
	st.has_edu = true;
}

static void print_counts(double secs)
{
	unsigned long total = 0, sum[NR_ERRNO], n;
	char line[1024];
	int k, i, e, len;

	for (k = 0; k < NR_KINDS; k++) {
		n = 0;
		for (e = 0; e < NR_ERRNO; e++) {
			sum[e] = 0;
			for (i = 0; i < STRESS_THREADS; i++)
				sum[e] += st.th[i].hist[k][e];
			n += sum[e];
		}
		total += n;
		if (!n)
			continue;
		len = snprintf(line, sizeof(line), "# %s: %lu ops,",
			       kinds[k].name, n);
		for (e = 0; e < NR_ERRNO && len < (int)sizeof(line); e++)
			if (sum[e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s:%lu", e == NR_ERRNO - 1 ?
						"other" : errname(e), sum[e]);
		printf("%s\n", line);
	}
	printf("# total: %lu ops in %.1f s, %d threads\n", total, secs,
	       STRESS_THREADS);
	fflush(stdout);
}

FIXTURE(ioasid_stress) {
	int unused;
};

FIXTURE_SETUP(ioasid_stress)
{
}

FIXTURE_TEARDOWN(ioasid_stress)
{
}

TEST_F(ioasid_stress, stress)
{
	struct locked_state before, after;
	pthread_rwlockattr_t attr;
	__u64 start, deadline, locked = 0, pinned = 0;
	int i, ret, started = 0, fd;
	const char *why;

	why = ioasid_unusable();
	if (why)
		SKIP(return, "%s", why);
	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	find_edu();
	st.nomix = test_param("IOASID_STRESS_NOMIX", "ioasid_stress_nomix", 0,
			      NULL);
	if (st.has_edu)
		printf("# edu attaches to %s\n", st.nomix ?
		       "IOASes of its own" : "A and B, with the mock devices");

	st.buf = buf_map(BUF_LEN, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, st.buf);
	fill_pattern(st.buf, BUF_LEN, 7);

	locked_state_get(&before, true);
	ASSERT_LE(0, before.user_pages)
		TH_LOG("the RLIMIT_MEMLOCK probe does not work");
	locked_state_print("before", &before);

	pthread_rwlockattr_init(&attr);
	/* Writers first, or the six readers would starve the reopen */
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st.lock, &attr);
	pthread_mutex_init(&st.edu_lock, NULL);
	pthread_mutex_init(&st.log.lock, NULL);
	st.fd = -1;
	ASSERT_EQ(0, shared_reset(false));
	st.last_reopen_ms = now_ns() / 1000000;

	for (i = 0; i < NR_KINDS; i++)
		if (kind_live(i))
			total_weight += kinds[i].weight;
	start = now_ns();
	deadline = start + st.secs * 1000000000ULL;
	for (i = 0; i < STRESS_THREADS; i++) {
		st.th[i].rng = start ^ (0x9e3779b97f4a7c15ULL * (i + 1));
		if (pthread_create(&st.th[i].thread, NULL, stress_thread,
				   &st.th[i]))
			break;
		started++;
	}
	while (now_ns() < deadline && started == STRESS_THREADS)
		usleep(100000);
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < started; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += STRESS_GRACE_SECS;
		ret = pthread_timedjoin_np(st.th[i].thread, NULL, &ts);
		if (ret) {
			dump_task_stacks(0);
			ASSERT_EQ(0, ret)
				TH_LOG("thread %d stuck %d s after the end (hang in the kernel?)",
				       i, STRESS_GRACE_SECS);
		}
	}
	ASSERT_EQ(STRESS_THREADS, started);
	print_counts((now_ns() - start) / 1e9);

	/* The shared file's last state: nothing charged once A, B are empty */
	ASSERT_EQ(0, ioas_unmap_all(st.fd, st.ioas[0], NULL));
	ASSERT_EQ(0, ioas_unmap_all(st.fd, st.ioas[1], NULL));
	ASSERT_EQ(0, mock_charges(st.fd, &locked, &pinned));
	if (locked || pinned)
		st_bad("at the end, A and B unmapped: %llu pages charged, %llu pinned",
		       (unsigned long long)locked, (unsigned long long)pinned);
	close(st.fd);

	locked_state_settle(&before, &after, true);
	locked_state_print("after", &after);
	locked_state_check(&st.log, &before, &after);
	fd = ioasid_open();
	ASSERT_LE(0, fd);
	ret = mock_check_refs(fd, st.buf, BUF_LEN, 0);
	if (ret)
		st_bad("the buffer is still pinned: PIN_COUNT 0 says %s",
		       errname(-ret));
	close(fd);
	ASSERT_EQ(0UL, st.log.count)
		TH_LOG("%lu bad outcomes; the first: %s", st.log.count,
		       st.log.first);
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	__u64 secs;

	secs = test_param("IOASID_STRESS_SECS", "ioasid_stress_secs",
			  STRESS_SECS_DEFAULT, NULL);
	if (secs < 1 || secs > STRESS_SECS_MAX) {
		fprintf(stderr, "IOASID_STRESS_SECS must be 1..%d\n",
			STRESS_SECS_MAX);
		return 2;
	}
	st.secs = secs;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout = st.secs + STRESS_GRACE_SECS + 120;
	return test_harness_run(argc, argv);
}
