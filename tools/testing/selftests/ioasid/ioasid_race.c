// SPDX-License-Identifier: GPL-2.0-only
/*
 * Races on /dev/ioasid: threads of one process run commands against each
 * other, and against closing the files that own objects, for a while
 * (IOASID_RACE_SECS seconds per pair, 10 by default), best on a kernel
 * with KASAN and lockdep. Each call must return 0 or an errno the pair
 * allows, the bookkeeping must add up (every object destroyed exactly
 * once), and nothing may stay pinned at the end.
 *
 * Each pair runs in a process of its own that this test only watches:
 * when it does not finish within IOASID_RACE_SECS + RACE_GRACE_SECS, its
 * kernel stacks are printed, it is killed, and the test fails, so that a
 * deadlock in the kernel fails the test rather than hanging the run.
 *
 * The mock pairs need CONFIG_IOASID_TEST; the VFIO pairs an edu device
 * bound to vfio-pci, with its cdev.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>

#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define RACE_SECS_DEFAULT	10
#define RACE_SECS_MAX		3600
/* How much longer than its duration a pair may take before it is a hang */
#define RACE_GRACE_SECS		60
/* How long a killed pair may take to die */
#define RACE_REAP_SECS		10
#define RACE_MAX_ROLES		10
/* Results tallied per errno; the last slot takes anything larger */
#define RACE_SLOTS		136
/* An op that found nothing to do: neither counted nor judged */
#define RACE_NOP		1
/* IDs a scanning destroyer walks through */
#define SCAN_IDS		64

#define RACE_BUF_SIZE		(4 * SZ_4K)
#define X_IOVA			SZ_1M
#define Y_IOVA			(SZ_1M + SZ_64K)
#define MOCK_DMA_LEN		256

/*
 * Pair f: maps, unmaps and copies fight over a window of MU_PAGES pages;
 * the MU_OWN_PAGES pages after it are one role's alone. Both are backed by
 * a buffer of MU_PAGES pages, each page holding a pattern of its own,
 * faulted in a scattered order: a multi-page map is physically scattered,
 * so its pages are read back from a domain's IOPTEs (stored chunks) while
 * HWPTs come and go, unmaps clear them and accesses read them.
 */
#define MU_IOVA			SZ_2M
#define MU_PAGES		16
#define MU_OWN_PAGES		2
#define MU_SPAN_PAGES		(MU_PAGES + MU_OWN_PAGES)
#define MU_BUF_SIZE		(MU_PAGES * SZ_4K)
/* The longest range a map, an unmap or a copy takes, in pages */
#define MU_MAX_PAGES		4
/* The most ranges a vector map or unmap passes */
#define MU_VEC_MAX		4

/* Allowed results: 0 for success, otherwise a positive errno; -1 ends */
static const int ok_only[] = { 0, -1 };
static const int ok_enoent[] = { 0, ENOENT, -1 };
static const int ok_enoent_ebusy[] = { 0, ENOENT, EBUSY, -1 };
static const int ok_enoent_eexist[] = { 0, ENOENT, EEXIST, -1 };
static const int ok_eexist[] = { 0, EEXIST, -1 };
static const int ok_efault[] = { 0, EFAULT, -1 };
static const int ebusy_enoent[] = { EBUSY, ENOENT, -1 };
static const int eperm_enoent[] = { EPERM, ENOENT, -1 };
static const int eperm_enoent_ebusy[] = { EPERM, ENOENT, EBUSY, -1 };
/* What an ioctl racing with close() may return: plain, documented errnos */
static const int plain_errnos[] = {
	0, EBADF, ENOENT, ENOTTY, EINVAL, E2BIG, EOPNOTSUPP, EFAULT,
	EOVERFLOW, ENOMEM, EBUSY, EEXIST, EADDRINUSE, ENOSPC, EMSGSIZE, EPERM,
	ENODEV, -1
};

static unsigned int race_secs = RACE_SECS_DEFAULT;

/* In shared memory: what the pair's process tells the test */
struct race_report {
	int failed;		/* bad outcomes seen */
	int skip;		/* the pair could not run here */
	char msg[512];		/* the first bad outcome, or why it skipped */
};

struct race;
struct race_role;
typedef int (*race_op_t)(struct race *rc, struct race_role *ro);

/* One thread: calls @op until told to stop */
struct race_role {
	struct race *rc;
	const char *name;
	race_op_t op;
	const int *allowed;
	pthread_t thread;
	unsigned long iters;
	unsigned long res[RACE_SLOTS];
	__u64 max_ns;
	unsigned int seed;	/* rand_r() state */
	unsigned int cursor;	/* the op's own counter */
};

struct race {
	const char *name;
	struct race_report *rep;
	int stop;
	int nr_roles;
	struct race_role roles[RACE_MAX_ROLES];

	int fd;			/* the /dev/ioasid file raced on */
	int checker;		/* another one for PIN_COUNT, or -1 */
	__u32 ioas_a, ioas_b, dev_id;
	__u32 excl[4];		/* IDs the destroyers leave alone */
	int nr_excl;
	__u32 pub_id, pub_id2;	/* published by one role for the others */
	void *buf, *buf2;	/* RACE_BUF_SIZE each */

	/* The VFIO pairs */
	char bdf[32];
	char cdev[PATH_MAX];
	int group;
	int group_fd;
	__u64 max_close_ns;

	/* Pair f */
	__u32 dev_id2;		/* a mock device that stays on hwpt_id */
	__u32 hwpt_id;		/* a HWPT of IOAS A that lives throughout */
	__u32 access_id;	/* an access on IOAS A */
	void *wbuf, *wbuf2;	/* MU_BUF_SIZE each */

	/* Bookkeeping the roles share */
	unsigned long created;	/* objects a role created */
	unsigned long wins;	/* destroys of them that returned 0 */
	unsigned long stolen;	/* a device its creator found destroyed */
	unsigned long zeros;	/* destroys by ID that returned 0 */
};

/* Record a bad outcome; the first one is kept, and the pair stops early */
static void race_fail(struct race *rc, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&rc->rep->failed, 1, __ATOMIC_SEQ_CST) == 0) {
		va_start(ap, fmt);
		vsnprintf(rc->rep->msg, sizeof(rc->rep->msg), fmt, ap);
		va_end(ap);
		fprintf(stderr, "# %s: %s\n", rc->name, rc->rep->msg);
	}
	__atomic_store_n(&rc->stop, 1, __ATOMIC_SEQ_CST);
}

static void race_skip(struct race *rc, const char *fmt, ...)
{
	va_list ap;

	rc->rep->skip = 1;
	va_start(ap, fmt);
	vsnprintf(rc->rep->msg, sizeof(rc->rep->msg), fmt, ap);
	va_end(ap);
}

static bool result_allowed(const int *allowed, int ret)
{
	for (; *allowed >= 0; allowed++)
		if (*allowed == -ret)
			return true;
	return false;
}

static void race_add(struct race *rc, const char *name, race_op_t op,
		     const int *allowed)
{
	struct race_role *ro = &rc->roles[rc->nr_roles++];

	ro->rc = rc;
	ro->name = name;
	ro->op = op;
	ro->allowed = allowed;
	ro->seed = (unsigned int)now_ns() ^ (rc->nr_roles * 2654435761U);
}

static bool stopping(struct race *rc)
{
	return __atomic_load_n(&rc->stop, __ATOMIC_RELAXED);
}

static void *race_thread(void *arg)
{
	struct race_role *ro = arg;
	struct race *rc = ro->rc;
	__u64 t0, dt;
	int ret;

	while (!stopping(rc)) {
		t0 = now_ns();
		ret = ro->op(rc, ro);
		dt = now_ns() - t0;
		if (ret == RACE_NOP) {
			sched_yield();
			continue;
		}
		if (dt > ro->max_ns)
			ro->max_ns = dt;
		ro->iters++;
		ro->res[ret <= 0 && -ret < RACE_SLOTS - 1 ?
			-ret : RACE_SLOTS - 1]++;
		if (!result_allowed(ro->allowed, ret))
			race_fail(rc, "%s: unexpected %s (after %lu calls)",
				  ro->name, errname(-ret), ro->iters);
	}
	return NULL;
}

static __u32 load_id(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void publish_id(__u32 *p, __u32 id)
{
	__atomic_store_n(p, id, __ATOMIC_RELEASE);
}

static void count(unsigned long *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
}

static bool excluded(const struct race *rc, __u32 id)
{
	int i;

	for (i = 0; i < rc->nr_excl; i++)
		if (rc->excl[i] == id)
			return true;
	return false;
}

/* Run every role for race_secs, then print what each did */
static void race_run(struct race *rc)
{
	__u64 start = now_ns(), end = start + race_secs * 1000000000ULL;
	unsigned long total = 0;
	struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };
	char line[512];
	int i, e, n, started = 0;

	for (i = 0; i < rc->nr_roles; i++) {
		e = pthread_create(&rc->roles[i].thread, NULL, race_thread,
				   &rc->roles[i]);
		if (e) {
			race_fail(rc, "pthread_create: %s", strerror(e));
			break;
		}
		started++;
	}
	while (!stopping(rc) && now_ns() < end)
		nanosleep(&tick, NULL);
	__atomic_store_n(&rc->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < started; i++)
		pthread_join(rc->roles[i].thread, NULL);

	for (i = 0; i < rc->nr_roles; i++)
		total += rc->roles[i].iters;
	printf("# pair %s: %lu iterations in %.1f s\n", rc->name, total,
	       (now_ns() - start) / 1e9);
	for (i = 0; i < rc->nr_roles; i++) {
		struct race_role *ro = &rc->roles[i];

		n = snprintf(line, sizeof(line), "#   %-22s %8lu calls, max %.1f ms:",
			     ro->name, ro->iters, ro->max_ns / 1e6);
		for (e = 0; e < RACE_SLOTS && n < (int)sizeof(line); e++)
			if (ro->res[e])
				n += snprintf(line + n, sizeof(line) - n,
					      " %s %lu", e == RACE_SLOTS - 1 ?
					      "other" : errname(e), ro->res[e]);
		printf("%s\n", line);
	}
	fflush(stdout);
}

/* ---- setup shared by the pairs, in the pair's process ---- */

static bool open_files(struct race *rc, bool need_test)
{
	rc->fd = ioasid_open();
	if (rc->fd < 0) {
		race_fail(rc, "open %s: %s", IOASID_DEV_PATH,
			  strerror(-rc->fd));
		return false;
	}
	rc->checker = ioasid_open();
	if (rc->checker >= 0 &&
	    mock_check_refs(rc->checker, NULL, 0, 0) == -ENOTTY) {
		close(rc->checker);
		rc->checker = -1;
	}
	if (need_test && rc->checker < 0) {
		race_skip(rc, "needs CONFIG_IOASID_TEST");
		return false;
	}
	rc->buf = buf_map(RACE_BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	rc->buf2 = buf_map(RACE_BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	if (!rc->buf || !rc->buf2) {
		race_fail(rc, "mapping the buffers");
		return false;
	}
	fill_pattern(rc->buf, RACE_BUF_SIZE, 0x61);
	fill_pattern(rc->buf2, RACE_BUF_SIZE, 0x62);
	return true;
}

/*
 * No page of the @len bytes at @p may stay pinned: polled for a little
 * while, as the last reference on a file may be dropped by a thread that
 * just returned.
 */
static void expect_unpinned_len(struct race *rc, const void *p, size_t len,
				const char *when)
{
	__u64 end = now_ns() + 2000000000ULL;
	int ret;

	if (rc->checker < 0 || !p)
		return;
	do {
		ret = mock_check_refs(rc->checker, p, len, 0);
		if (!ret)
			return;
		usleep(10000);
	} while (now_ns() < end);
	race_fail(rc, "%s: pages still pinned (PIN_COUNT 0: %s)", when,
		  errname(-ret));
}

static void expect_unpinned(struct race *rc, const void *p, const char *when)
{
	expect_unpinned_len(rc, p, RACE_BUF_SIZE, when);
}

static void expect_ok(struct race *rc, int ret, const char *what)
{
	if (ret)
		race_fail(rc, "%s: %s", what, errname(-ret));
}

/*
 * Destroy an object the caller created and nothing depends on. EBUSY means
 * that commands of other threads kept using it for about a second: try
 * again, a bounded number of times. Returns 0, or ENOENT when another
 * thread destroyed it first.
 */
#define DESTROY_TRIES	30

static int destroy_own(struct race *rc, __u32 id, const char *what)
{
	int ret, tries = 0;

	do {
		ret = ioasid_destroy(rc->fd, id);
	} while (ret == -EBUSY && ++tries < DESTROY_TRIES);
	if (ret == -EBUSY)
		race_fail(rc, "destroying %s %u: EBUSY %d times in a row",
			  what, id, DESTROY_TRIES);
	if (!ret)
		count(&rc->wins);
	return ret;
}

/* ---- b: destroy of an access vs destroy, pin and rw through it ---- */

/* Create an access, let the others at it for a moment, then destroy it */
static int op_access_cycle(struct race *rc, struct race_role *ro)
{
	__u32 id = 0;
	int ret, i;

	ret = access_create(rc->fd, rc->ioas_a, &id);
	if (ret) {
		race_fail(rc, "ACCESS_CREATE: %s", errname(-ret));
		return ret;
	}
	count(&rc->created);
	publish_id(&rc->pub_id, id);
	for (i = ro->cursor++ % 4; i > 0; i--)
		sched_yield();
	return destroy_own(rc, id, "access");
}

static int op_destroy_pub(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);
	int ret;

	(void)ro;
	if (!id || excluded(rc, id))
		return RACE_NOP;
	ret = ioasid_destroy(rc->fd, id);
	if (!ret) {
		count(&rc->wins);
		count(&rc->zeros);
	}
	return ret;
}

static int op_access_pin(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);

	if (!id)
		return RACE_NOP;
	return access_pin(rc->fd, id, X_IOVA + (ro->cursor++ % 4) * SZ_4K,
			  SZ_4K);
}

static int op_access_rw(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);
	char data[MOCK_DMA_LEN];
	unsigned int n = ro->cursor++;
	int ret;

	if (!id)
		return RACE_NOP;
	/* Reads must see the pattern; writes put the same bytes back */
	memcpy(data, (char *)rc->buf + SZ_4K, sizeof(data));
	ret = access_rw(rc->fd, id, X_IOVA + SZ_4K, data, sizeof(data),
			n & 1 ? IOASID_TEST_DMA_WRITE : IOASID_TEST_DMA_READ);
	if (!ret && memcmp(data, (char *)rc->buf + SZ_4K, sizeof(data)))
		race_fail(rc, "ACCESS_RW read other bytes than mapped");
	return ret;
}

static void pair_access_destroy(struct race *rc)
{
	if (!open_files(rc, true))
		return;
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_a), "IOAS_CREATE");
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_a, rc->buf,
				     RACE_BUF_SIZE, X_IOVA, MAP_RW), "map");
	rc->excl[rc->nr_excl++] = rc->ioas_a;
	if (rc->rep->failed)
		return;

	race_add(rc, "create+destroy access", op_access_cycle, ok_enoent);
	race_add(rc, "destroy access", op_destroy_pub, ok_enoent_ebusy);
	race_add(rc, "destroy access", op_destroy_pub, ok_enoent_ebusy);
	race_add(rc, "ACCESS_PIN", op_access_pin, ok_enoent);
	race_add(rc, "ACCESS_RW", op_access_rw, ok_enoent);
	race_run(rc);
	if (rc->rep->failed)
		return;

	/* Each access was destroyed exactly once, by whichever thread won */
	if (rc->wins != rc->created)
		race_fail(rc, "%lu accesses created, %lu destroys returned 0",
			  rc->created, rc->wins);
	/* The accesses' pins went with them; the mapping's pin stays */
	if (mock_check_refs(rc->checker, rc->buf, RACE_BUF_SIZE, 1))
		race_fail(rc, "after the last access: not pinned exactly once");
	expect_ok(rc, ioas_unmap_all(rc->fd, rc->ioas_a, NULL), "unmap all");
	expect_unpinned(rc, rc->buf, "after unmap");
	/* No access is left on the IOAS */
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_a), "destroy IOAS");
	close(rc->fd);
	expect_unpinned(rc, rc->buf, "after close");
}

/* ---- c: destroy of an automatic HWPT vs detach and vs replace ---- */

/*
 * Attach a new mock device to IOAS A, DMA through it, destroy it (which
 * detaches it). A destroyer may have destroyed the device first, when the
 * ID it tried was reused: then the device is "stolen".
 */
static int op_mock_attach_detach(struct race *rc, struct race_role *ro)
{
	char data[MOCK_DMA_LEN];
	__u32 dev = 0, hwpt = 0;
	int ret;

	(void)ro;
	ret = mock_device(rc->fd, rc->ioas_a, &dev, &hwpt);
	if (ret) {
		race_fail(rc, "MOCK_DEVICE: %s", errname(-ret));
		return ret;
	}
	publish_id(&rc->pub_id, hwpt);
	ret = mock_dma(rc->fd, dev, X_IOVA, data, sizeof(data),
		       IOASID_TEST_DMA_READ, NULL);
	if (!ret && memcmp(data, rc->buf, sizeof(data)))
		race_fail(rc, "mock DMA read other bytes than mapped");
	else if (ret && ret != -ENOENT)
		race_fail(rc, "mock DMA: %s", errname(-ret));
	ret = ioasid_destroy(rc->fd, dev);
	if (ret == -ENOENT)
		count(&rc->stolen);
	return ret;
}

/* Destroy IDs 1..SCAN_IDS in turn, but for those excluded */
static int op_destroy_scan(struct race *rc, struct race_role *ro)
{
	__u32 id = 1 + ro->cursor++ % SCAN_IDS;
	int ret;

	if (excluded(rc, id))
		return RACE_NOP;
	ret = ioasid_destroy(rc->fd, id);
	if (!ret)
		count(&rc->zeros);
	return ret;
}

static void pair_auto_hwpt_detach(struct race *rc)
{
	if (!open_files(rc, true))
		return;
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_a), "IOAS_CREATE");
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_a, rc->buf,
				     RACE_BUF_SIZE, X_IOVA, MAP_RW), "map");
	rc->excl[rc->nr_excl++] = rc->ioas_a;
	if (rc->rep->failed)
		return;

	race_add(rc, "attach+DMA+detach", op_mock_attach_detach, ok_enoent);
	race_add(rc, "destroy auto HWPT", op_destroy_pub, ok_enoent_ebusy);
	race_add(rc, "destroy auto HWPT", op_destroy_pub, ok_enoent_ebusy);
	race_add(rc, "destroy IDs 1..64", op_destroy_scan, ok_enoent_ebusy);
	race_run(rc);
	if (rc->rep->failed)
		return;

	/*
	 * An automatic HWPT is never destroyed by ID: a destroy returned 0
	 * only for a mock device (its ID reused), which its creator then
	 * found gone.
	 */
	if (rc->zeros != rc->stolen)
		race_fail(rc, "%lu destroys by ID returned 0, but %lu devices went missing",
			  rc->zeros, rc->stolen);
	/* No HWPT is left on the IOAS, or this would be EBUSY */
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_a), "destroy IOAS");
	expect_unpinned(rc, rc->buf, "after destroying the IOAS");
	close(rc->fd);
}

/* Move the device between IOAS A and B, publishing its HWPT */
static int op_mock_move(struct race *rc, struct race_role *ro)
{
	__u32 to = ro->cursor++ & 1 ? rc->ioas_a : rc->ioas_b, hwpt = 0;
	int ret;

	ret = mock_replace(rc->fd, rc->dev_id, to, &hwpt);
	if (!ret)
		publish_id(&rc->pub_id, hwpt);
	return ret;
}

/* The device always translates, through A's mapping or B's */
static int op_mock_dma(struct race *rc, struct race_role *ro)
{
	unsigned int off = (ro->cursor++ % 8) * 512;
	char data[MOCK_DMA_LEN];
	int ret;

	ret = mock_dma(rc->fd, rc->dev_id, X_IOVA + off, data, sizeof(data),
		       IOASID_TEST_DMA_READ, NULL);
	if (!ret && memcmp(data, (char *)rc->buf + off, sizeof(data)) &&
	    memcmp(data, (char *)rc->buf2 + off, sizeof(data)))
		race_fail(rc, "mock DMA during replace read neither IOAS's bytes");
	return ret;
}

static void pair_auto_hwpt_replace(struct race *rc)
{
	__u32 hwpt = 0;

	if (!open_files(rc, true))
		return;
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_a), "IOAS_CREATE A");
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_b), "IOAS_CREATE B");
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_a, rc->buf,
				     RACE_BUF_SIZE, X_IOVA, MAP_RW), "map A");
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_b, rc->buf2,
				     RACE_BUF_SIZE, X_IOVA, MAP_RW), "map B");
	expect_ok(rc, mock_device(rc->fd, rc->ioas_a, &rc->dev_id, &hwpt),
		  "MOCK_DEVICE");
	if (rc->rep->failed)
		return;
	publish_id(&rc->pub_id, hwpt);
	rc->excl[rc->nr_excl++] = rc->ioas_a;
	rc->excl[rc->nr_excl++] = rc->ioas_b;
	rc->excl[rc->nr_excl++] = rc->dev_id;

	race_add(rc, "MOCK_MOVE A<->B", op_mock_move, ok_only);
	race_add(rc, "destroy auto HWPT", op_destroy_pub, ebusy_enoent);
	race_add(rc, "destroy auto HWPT", op_destroy_pub, ebusy_enoent);
	race_add(rc, "destroy IDs 1..64", op_destroy_scan, ebusy_enoent);
	race_add(rc, "mock DMA", op_mock_dma, ok_only);
	race_run(rc);
	if (rc->rep->failed)
		return;

	expect_ok(rc, ioasid_destroy(rc->fd, rc->dev_id), "destroy device");
	/* Neither IOAS keeps an HWPT */
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_a), "destroy IOAS A");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_b), "destroy IOAS B");
	expect_unpinned(rc, rc->buf, "after destroying IOAS A");
	expect_unpinned(rc, rc->buf2, "after destroying IOAS B");
	close(rc->fd);
}

/* ---- d: destroy of an IOAS vs map, unmap and copy on it ---- */

static int op_ioas_cycle(struct race *rc, struct race_role *ro)
{
	__u32 id = 0;
	int ret, i;

	ret = ioas_alloc(rc->fd, &id);
	if (ret) {
		race_fail(rc, "IOAS_CREATE: %s", errname(-ret));
		return ret;
	}
	count(&rc->created);
	publish_id(&rc->pub_id, id);
	for (i = ro->cursor++ % 8; i > 0; i--)
		sched_yield();
	return destroy_own(rc, id, "IOAS");
}

static int op_ioas_map(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);

	(void)ro;
	if (!id)
		return RACE_NOP;
	return ioas_map_fixed(rc->fd, id, rc->buf, RACE_BUF_SIZE, X_IOVA,
			      MAP_RW);
}

static int op_ioas_unmap(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);

	if (!id)
		return RACE_NOP;
	switch (ro->cursor++ % 3) {
	case 0:
		return ioas_unmap(rc->fd, id, X_IOVA, RACE_BUF_SIZE, NULL);
	case 1:
		return ioas_unmap(rc->fd, id, Y_IOVA, RACE_BUF_SIZE, NULL);
	default:
		return ioas_unmap_all(rc->fd, id, NULL);
	}
}

static int op_ioas_copy(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id);

	(void)ro;
	if (!id)
		return RACE_NOP;
	return ioas_copy_fixed(rc->fd, id, Y_IOVA, id, X_IOVA, RACE_BUF_SIZE,
			       MAP_RW);
}

static void pair_ioas_destroy(struct race *rc)
{
	__u64 locked = 0, pinned = 0;

	if (!open_files(rc, false))
		return;
	if (rc->checker < 0)
		printf("# no CONFIG_IOASID_TEST: pin counts not checked\n");

	race_add(rc, "create+destroy IOAS", op_ioas_cycle, ok_enoent);
	race_add(rc, "destroy IOAS", op_destroy_pub, ok_enoent_ebusy);
	race_add(rc, "IOAS_MAP", op_ioas_map, ok_enoent_eexist);
	race_add(rc, "IOAS_MAP", op_ioas_map, ok_enoent_eexist);
	race_add(rc, "IOAS_UNMAP", op_ioas_unmap, ok_enoent);
	race_add(rc, "IOAS_COPY", op_ioas_copy, ok_enoent_eexist);
	race_run(rc);
	if (rc->rep->failed)
		return;

	if (rc->wins != rc->created)
		race_fail(rc, "%lu IOASes created, %lu destroys returned 0",
			  rc->created, rc->wins);
	/* Every IOAS is gone, with the pins and charges of its mappings */
	expect_unpinned(rc, rc->buf, "after the last IOAS");
	if (rc->checker >= 0) {
		expect_ok(rc, mock_charges(rc->fd, &locked, &pinned),
			  "CHARGES");
		if (locked || pinned)
			race_fail(rc, "no IOAS left, yet %llu pages charged, %llu pinned",
				  (unsigned long long)locked,
				  (unsigned long long)pinned);
	}
	close(rc->fd);
}

/* ---- e: close() vs every ioctl on the same fd number ---- */

static int raw_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Reopen /dev/ioasid onto the same fd number, two ways in turn */
static int op_reopen(struct race *rc, struct race_role *ro)
{
	int nfd, ret = 0;

	if (ro->cursor++ & 1)
		close(rc->fd);
	nfd = open(IOASID_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (nfd < 0) {
		ret = -errno;
		race_fail(rc, "reopening %s: %s", IOASID_DEV_PATH,
			  errname(-ret));
		return ret;
	}
	if (nfd == rc->fd)
		return 0;
	if (dup2(nfd, rc->fd) != rc->fd) {
		ret = -errno;
		race_fail(rc, "dup2: %s", errname(-ret));
	}
	close(nfd);
	return ret;
}

/* One random command on the fd number, with small random IDs */
static int op_any_ioctl(struct race *rc, struct race_role *ro)
{
	unsigned int r = rand_r(&ro->seed);
	__u32 id = 1 + (r >> 8) % 8, id2 = 1 + (r >> 12) % 8, out = 0;
	unsigned int page = (r >> 16) % (RACE_BUF_SIZE / SZ_4K);
	char *p = (char *)rc->buf + page * SZ_4K;
	struct ioasid_iova_range ranges[4] = {
		{ .first = 0, .last = (1ULL << 40) - 1 },
	};
	struct ioasid_ioas_info info = {
		.argsz = sizeof(info), .ranges = (uintptr_t)ranges,
		.ioas_id = id, .nr_ranges = 4,
	};
	struct ioasid_ioas_limit limit = {
		.argsz = sizeof(limit), .ranges = (uintptr_t)ranges,
		.ioas_id = id, .nr_ranges = r & 1,
	};
	struct ioasid_option opt = {
		.argsz = sizeof(opt), .key = 1 + (r >> 4) % 2,
		.obj_id = (r & 4) ? id : 0,
		.flags = (r & 2) ? IOASID_OPTION_WRITE : 0, .value = 1,
	};
	struct ioasid_vfio_ioas vioas = {
		.argsz = sizeof(vioas), .op = 1 + (r >> 4) % 3, .ioas_id = id,
	};
	struct vfio_iommu_type1_info vinfo = { .argsz = sizeof(vinfo) };
	struct vfio_iommu_type1_dma_map vmap = {
		.argsz = sizeof(vmap),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)p, .iova = Y_IOVA + page * SZ_4K,
		.size = SZ_4K,
	};
	struct vfio_iommu_type1_dma_unmap vunmap = {
		.argsz = sizeof(vunmap), .iova = Y_IOVA, .size = RACE_BUF_SIZE,
	};
	struct ioasid_obj_destroy short_destroy = {
		.argsz = 4, .obj_id = id,
	};
	char data[64];
	int fd = rc->fd;

	switch ((r >> 24) % 26) {
	case 0:
		return ioasid_destroy(fd, id);
	case 1:
		return ioas_alloc(fd, &out);
	case 2:
		return raw_ioctl(fd, IOASID_OPTION, &opt);
	case 3: {
		int ret = raw_ioctl(fd, IOASID_IOAS_INFO, &info);

		return ret == -EMSGSIZE ? 0 : ret;
	}
	case 4:
		return raw_ioctl(fd, IOASID_IOAS_LIMIT, &limit);
	case 5:
		return ioas_map_fixed(fd, id, p, SZ_4K,
				      X_IOVA + page * SZ_4K, MAP_RW);
	case 6:
		return ioas_unmap(fd, id, X_IOVA, RACE_BUF_SIZE, NULL);
	case 7:
		return ioas_unmap_all(fd, id, NULL);
	case 8:
		return ioas_copy_fixed(fd, id2, Y_IOVA + page * SZ_4K, id,
				       X_IOVA + page * SZ_4K, SZ_4K, MAP_RW);
	case 9:
		return hwpt_create(fd, id, id2, &out);
	case 10:
		return raw_ioctl(fd, IOASID_VFIO_IOAS, &vioas);
	case 11:
		return mock_device(fd, id, &out, NULL);
	case 12:
		return mock_replace(fd, id, id2, NULL);
	case 13:
		return access_create(fd, id, &out);
	case 14:
		return access_pin(fd, id, X_IOVA + page * SZ_4K, SZ_4K);
	case 15:
		return access_rw(fd, id, X_IOVA + page * SZ_4K, data,
				 sizeof(data), IOASID_TEST_DMA_READ);
	case 16:
		return mock_dma(fd, id, X_IOVA + page * SZ_4K, data,
				sizeof(data), IOASID_TEST_DMA_READ, NULL);
	case 17:
		return mock_check_refs(fd, p, SZ_4K, r & 1);
	case 18:
		return mock_charges(fd, NULL, NULL);
	case 19:
		return raw_ioctl(fd, VFIO_GET_API_VERSION, NULL);
	case 20:
		return raw_ioctl(fd, VFIO_CHECK_EXTENSION,
				 (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	case 21:
		return raw_ioctl(fd, VFIO_SET_IOMMU,
				 (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	case 22:
		return raw_ioctl(fd, VFIO_IOMMU_GET_INFO, &vinfo);
	case 23:
		return raw_ioctl(fd, VFIO_IOMMU_MAP_DMA, &vmap);
	case 24:
		return raw_ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &vunmap);
	default:
		/* Malformed: too short an argsz, and no such command */
		if (r & 1)
			return raw_ioctl(fd, IOASID_OBJ_DESTROY, &short_destroy);
		return raw_ioctl(fd, _IO(IOASID_TYPE, 0x5f), &short_destroy);
	}
}

static void pair_close_ioctls(struct race *rc)
{
	int i;

	if (!open_files(rc, false))
		return;
	if (rc->checker < 0)
		printf("# no CONFIG_IOASID_TEST: test ioctls answer ENOTTY\n");

	race_add(rc, "close+reopen", op_reopen, ok_only);
	for (i = 0; i < 5; i++)
		race_add(rc, "any ioctl", op_any_ioctl, plain_errnos);
	race_run(rc);
	close(rc->fd);
	/* Whatever the files mapped went with them */
	expect_unpinned(rc, rc->buf, "after the last close");
}

/* ---- f: map, unmap and copy on one IOAS vs each other, DMA and attach ---- */

/* A random number below @n, from the role's own state */
static unsigned int pick(struct race_role *ro, unsigned int n)
{
	return rand_r(&ro->seed) % n;
}

static __u64 mu_iova(unsigned int page)
{
	return MU_IOVA + (__u64)page * SZ_4K;
}

/* A random range of the window: its first page and its 1..4 pages */
static void mu_pick_range(struct race_role *ro, unsigned int *page,
			  unsigned int *n)
{
	*page = pick(ro, MU_PAGES);
	*n = 1 + pick(ro, MU_MAX_PAGES);
	if (*page + *n > MU_PAGES)
		*n = MU_PAGES - *page;
}

/* Memory for a map of @n pages: a random run of pages of the buffer */
static void *mu_memory(struct race *rc, struct race_role *ro, unsigned int n)
{
	return (char *)rc->wbuf + pick(ro, MU_PAGES - n + 1) * SZ_4K;
}

/* Give each page of @buf a pattern of its own, seeds @seed and up */
static void mu_fill(void *buf, unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < MU_PAGES; i++)
		fill_pattern((char *)buf + i * SZ_4K, SZ_4K, seed + i);
}

/* The page of @buf whose @len bytes at @off are those of @data, or -1 */
static int mu_page_of(const void *buf, const void *data, size_t off,
		      size_t len)
{
	int i;

	for (i = 0; i < MU_PAGES; i++)
		if (!memcmp((const char *)buf + i * SZ_4K + off, data, len))
			return i;
	return -1;
}

/* A fixed map of 1..4 pages of the window, of random pages of the buffer */
static int op_mu_map(struct race *rc, struct race_role *ro)
{
	unsigned int page, n;

	mu_pick_range(ro, &page, &n);
	return ioas_map_fixed(rc->fd, rc->ioas_a, mu_memory(rc, ro, n),
			      n * SZ_4K, mu_iova(page), MAP_RW);
}

/*
 * A vector map of 2..4 fixed ranges, all or nothing. The ranges may also
 * overlap each other: EEXIST then too, naming the later one.
 */
static int op_mu_map_vec(struct race *rc, struct race_role *ro)
{
	unsigned int i, page, n, nr = 2 + pick(ro, MU_VEC_MAX - 1);
	struct ioasid_map_range r[MU_VEC_MAX];
	__u32 failed = ~0U;
	int ret;

	for (i = 0; i < nr; i++) {
		mu_pick_range(ro, &page, &n);
		map_range_set(&r[i], mu_memory(rc, ro, n), n * SZ_4K,
			      mu_iova(page), MAP_RW | MAP_FIXED_IOVA);
	}
	ret = ioas_map_vec(rc->fd, rc->ioas_a, r, nr, &failed);
	if (ret == -EEXIST && failed >= nr)
		race_fail(rc, "vector IOAS_MAP: EEXIST names range %u of %u",
			  failed, nr);
	return ret;
}

/*
 * Unmap one random range of the window, two to four at once, or
 * everything. No role pins pages, so EBUSY is never right; ENOENT is a
 * range that would split a mapping, and a range with nothing in it is no
 * error. No more than the ranges hold may go.
 */
static int op_mu_unmap(struct race *rc, struct race_role *ro)
{
	unsigned int i, page, n, nr, mask = 0, kind = ro->cursor++ % 8;
	struct ioasid_iova_range r[MU_VEC_MAX];
	__u64 unmapped = 0, most;
	__u32 failed = ~0U;
	int ret;

	if (!kind) {
		ret = ioas_unmap_all(rc->fd, rc->ioas_a, &unmapped);
		most = MU_SPAN_PAGES * SZ_4K;
	} else {
		nr = kind < 3 ? 2 + pick(ro, MU_VEC_MAX - 1) : 1;
		for (i = 0; i < nr; i++) {
			mu_pick_range(ro, &page, &n);
			r[i].first = mu_iova(page);
			r[i].last = mu_iova(page + n) - 1;
			mask |= ((1U << n) - 1) << page;
		}
		most = __builtin_popcount(mask) * SZ_4K;
		ret = ioas_unmap_vec(rc->fd, rc->ioas_a, r, nr, &unmapped,
				     &failed);
		if (ret == -ENOENT && failed >= nr)
			race_fail(rc, "IOAS_UNMAP: ENOENT names range %u of %u",
				  failed, nr);
	}
	if (!ret && (unmapped > most || unmapped % SZ_4K))
		race_fail(rc, "IOAS_UNMAP of at most %llu bytes unmapped %llu",
			  (unsigned long long)most,
			  (unsigned long long)unmapped);
	return ret;
}

/*
 * Copy 1..4 pages of the window to another place in it: ENOENT when the
 * source is not mapped throughout, EEXIST when the destination is taken.
 */
static int op_mu_copy(struct race *rc, struct race_role *ro)
{
	unsigned int src, dst, n;

	mu_pick_range(ro, &src, &n);
	dst = pick(ro, MU_PAGES - n + 1);
	return ioas_copy_fixed(rc->fd, rc->ioas_a, mu_iova(dst), rc->ioas_a,
			       mu_iova(src), n * SZ_4K, MAP_RW);
}

/*
 * Map the pages after the window, which no other role maps, then unmap
 * them. Whatever the others do, the map must succeed: once an unmap has
 * returned, the IOVAs it took are free, and nothing else is there. The
 * unmap takes the mapping, or nothing when an unmap of everything took
 * it first.
 */
static int op_mu_own(struct race *rc, struct race_role *ro)
{
	__u64 len = MU_OWN_PAGES * SZ_4K, unmapped = 0;
	int ret;

	ret = ioas_map_fixed(rc->fd, rc->ioas_a,
			     mu_memory(rc, ro, MU_OWN_PAGES), len,
			     mu_iova(MU_PAGES), MAP_RW);
	if (ret) {
		race_fail(rc, "map of IOVAs only this role maps: %s",
			  errname(-ret));
		return ret;
	}
	ret = ioas_unmap(rc->fd, rc->ioas_a, mu_iova(MU_PAGES), len,
			 &unmapped);
	if (!ret && unmapped && unmapped != len)
		race_fail(rc, "unmap of its own %llu bytes unmapped %llu",
			  (unsigned long long)len,
			  (unsigned long long)unmapped);
	return ret;
}

/*
 * Mock DMA of MOCK_DMA_LEN bytes somewhere in page @page of the span,
 * through device @dev. What it reads must be in a page of the buffer or,
 * for a device that may be on IOAS B (@on_b), in the page B maps there;
 * EFAULT where nothing is mapped.
 */
static int mu_dma(struct race *rc, struct race_role *ro, __u32 dev,
		  unsigned int page, bool on_b)
{
	size_t off = pick(ro, SZ_4K / MOCK_DMA_LEN) * MOCK_DMA_LEN;
	char data[MOCK_DMA_LEN];
	int ret;

	ret = mock_dma(rc->fd, dev, mu_iova(page) + off, data, sizeof(data),
		       IOASID_TEST_DMA_READ, NULL);
	if (ret || mu_page_of(rc->wbuf, data, off, sizeof(data)) >= 0)
		return ret;
	if (on_b && page < MU_PAGES &&
	    !memcmp((char *)rc->wbuf2 + page * SZ_4K + off, data, sizeof(data)))
		return ret;
	race_fail(rc, "DMA of device %u at IOVA %#llx read bytes mapped nowhere",
		  dev, (unsigned long long)(mu_iova(page) + off));
	return ret;
}

/* DMA through the device that stays on A's HWPT, or the one that moves */
static int op_mu_dma(struct race *rc, struct race_role *ro)
{
	unsigned int page = pick(ro, MU_SPAN_PAGES);

	if (ro->cursor++ & 1)
		return mu_dma(rc, ro, rc->dev_id, page, true);
	return mu_dma(rc, ro, rc->dev_id2, page, false);
}

/*
 * Add a domain to IOAS A and take it away again: a HWPT of its own over
 * A, mirrored (filled from A) when a new mock device attaches to it, a DMA
 * through it, then the device and the HWPT destroyed.
 */
static int op_mu_hwpt_cycle(struct race *rc, struct race_role *ro)
{
	__u32 hwpt = 0, dev = 0;
	int ret, ret2;

	ret = hwpt_create(rc->fd, rc->dev_id2, rc->ioas_a, &hwpt);
	if (ret)
		return ret;
	ret = mock_device(rc->fd, hwpt, &dev, NULL);
	if (!ret) {
		ret2 = mu_dma(rc, ro, dev, pick(ro, MU_SPAN_PAGES), false);
		if (ret2 && ret2 != -EFAULT)
			race_fail(rc, "mock DMA through a new HWPT: %s",
				  errname(-ret2));
		ret = ioasid_destroy(rc->fd, dev);
	}
	ret2 = ioasid_destroy(rc->fd, hwpt);
	return ret ? ret : ret2;
}

/*
 * Read one or two pages of the span through the access: each must be a
 * page of the buffer; ENOENT when part of the range is not mapped.
 */
static int op_mu_access_rw(struct race *rc, struct race_role *ro)
{
	unsigned int i, page = pick(ro, MU_SPAN_PAGES), n = 1 + pick(ro, 2);
	char data[2 * SZ_4K];
	int ret;

	if (page + n > MU_SPAN_PAGES)
		n = MU_SPAN_PAGES - page;
	ret = access_rw(rc->fd, rc->access_id, mu_iova(page), data,
			n * SZ_4K, IOASID_TEST_DMA_READ);
	for (i = 0; !ret && i < n; i++) {
		if (mu_page_of(rc->wbuf, data + i * SZ_4K, 0, SZ_4K) < 0) {
			race_fail(rc, "ACCESS_RW at IOVA %#llx read no page of the buffer",
				  (unsigned long long)mu_iova(page + i));
			break;
		}
	}
	return ret;
}

/* The physical address of the page at @p, or 0 where pagemap hides it */
static __u64 page_phys(const void *p)
{
	__u64 ent = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)p / SZ_4K * sizeof(ent)) !=
	    (ssize_t)sizeof(ent))
		ent = 0;
	close(fd);
	/* Bit 63: present; bits 0-54: the PFN, 0 without CAP_SYS_ADMIN */
	if (!(ent & (1ULL << 63)))
		return 0;
	return (ent & ((1ULL << 55) - 1)) * SZ_4K;
}

/*
 * What IOAS A maps at each page of the span, as its access reads it:
 * @page_of[p] is the page of the buffer mapped there, or -1. The access
 * walks A's own mappings, not a domain, so this is A's view. Returns the
 * number of pages mapped, or -1 after a failure.
 */
static int mu_ioas_view(struct race *rc, int *page_of)
{
	char data[SZ_4K];
	unsigned int p;
	int ret, mapped = 0;

	for (p = 0; p < MU_SPAN_PAGES; p++) {
		page_of[p] = -1;
		ret = access_rw(rc->fd, rc->access_id, mu_iova(p), data,
				sizeof(data), IOASID_TEST_DMA_READ);
		if (ret == -ENOENT)
			continue;
		if (ret) {
			race_fail(rc, "IOVA %#llx: ACCESS_RW: %s",
				  (unsigned long long)mu_iova(p),
				  errname(-ret));
			return -1;
		}
		page_of[p] = mu_page_of(rc->wbuf, data, 0, sizeof(data));
		if (page_of[p] < 0) {
			race_fail(rc, "IOVA %#llx: A maps bytes of no page of the buffer",
				  (unsigned long long)mu_iova(p));
			return -1;
		}
		mapped++;
	}
	return mapped;
}

/*
 * HWPT @hwpt of IOAS A, with device @dev attached to it, must mirror
 * @page_of exactly: an IOPTE where A maps a page and none elsewhere, and
 * each read-write, to the page A maps there. That page is checked by its
 * physical address where @phys knows it, and always by what @dev reads.
 */
static void mu_check_hwpt(struct race *rc, __u32 hwpt, __u32 dev,
			  const int *page_of, const __u64 *phys)
{
	char data[SZ_4K];
	unsigned int p;
	int ret, q;

	for (p = 0; p < MU_SPAN_PAGES && !rc->rep->failed; p++) {
		unsigned long long iova = mu_iova(p);
		struct ioasid_test_cmd t = {
			.op = IOASID_TEST_IOPTE,
			.obj_id = hwpt,
			.iopte = { .iova = iova },
		};

		q = page_of[p];
		ret = ioasid_test(rc->fd, &t);
		if (ret && ret != -ENOENT) {
			race_fail(rc, "IOVA %#llx: IOPTE of HWPT %u: %s", iova,
				  hwpt, errname(-ret));
			return;
		}
		if (q < 0 && !ret) {
			race_fail(rc, "IOVA %#llx unmapped in A, yet HWPT %u maps it to %#llx",
				  iova, hwpt,
				  (unsigned long long)t.iopte.out_phys);
			return;
		}
		if (q >= 0 && ret) {
			race_fail(rc, "IOVA %#llx maps page %d in A, but HWPT %u has no IOPTE",
				  iova, q, hwpt);
			return;
		}
		if (q < 0)
			continue;
		/* IOMMU_READ (1) and IOMMU_WRITE (2): every mapping is RW */
		if ((t.iopte.out_prot & 3) != 3) {
			race_fail(rc, "IOVA %#llx: HWPT %u's IOPTE not read-write (prot %#x)",
				  iova, hwpt, t.iopte.out_prot);
			return;
		}
		if (phys[q] && t.iopte.out_phys != phys[q]) {
			race_fail(rc, "IOVA %#llx: HWPT %u maps %#llx, A maps page %d (%#llx)",
				  iova, hwpt,
				  (unsigned long long)t.iopte.out_phys, q,
				  (unsigned long long)phys[q]);
			return;
		}
		ret = mock_dma(rc->fd, dev, iova, data, sizeof(data),
			       IOASID_TEST_DMA_READ, NULL);
		if (ret || memcmp(data, (char *)rc->wbuf + q * SZ_4K,
				  sizeof(data))) {
			race_fail(rc, "IOVA %#llx: device %u on HWPT %u reads %s, not page %d",
				  iova, dev, hwpt,
				  ret ? errname(-ret) : "other bytes", q);
			return;
		}
	}
}

static void pair_map_unmap(struct race *rc)
{
	__u64 phys[MU_PAGES], mapped = 0, unmapped = 0, locked = 0, pinned = 0;
	__u32 auto_hwpt = 0, nr_hwpts = 0;
	int page_of[MU_SPAN_PAGES], nr;
	unsigned int i;

	if (!open_files(rc, true))
		return;
	rc->wbuf = buf_map(MU_BUF_SIZE, SZ_4K, BUF_SCATTERED);
	rc->wbuf2 = buf_map(MU_BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	if (!rc->wbuf || !rc->wbuf2) {
		race_fail(rc, "mapping the window's buffers");
		return;
	}
	mu_fill(rc->wbuf, 0x10);
	mu_fill(rc->wbuf2, 0x90);
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_a), "IOAS_CREATE A");
	expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_b), "IOAS_CREATE B");
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_b, rc->wbuf2,
				     MU_BUF_SIZE, MU_IOVA, MAP_RW), "map B");
	/* A device on a HWPT of A that lives through the whole race */
	expect_ok(rc, mock_device(rc->fd, rc->ioas_b, &rc->dev_id2, NULL),
		  "MOCK_DEVICE");
	expect_ok(rc, hwpt_create(rc->fd, rc->dev_id2, rc->ioas_a,
				  &rc->hwpt_id), "HWPT_CREATE over A");
	expect_ok(rc, mock_replace(rc->fd, rc->dev_id2, rc->hwpt_id, NULL),
		  "MOCK_MOVE to the HWPT");
	/* The device that moves between A and B, starting on B */
	expect_ok(rc, mock_device(rc->fd, rc->ioas_b, &rc->dev_id, NULL),
		  "MOCK_DEVICE");
	expect_ok(rc, access_create(rc->fd, rc->ioas_a, &rc->access_id),
		  "ACCESS_CREATE");
	if (rc->rep->failed)
		return;

	/*
	 * IOAS A is never destroyed (no ENOENT for it), nothing pins through
	 * an access (no EBUSY), no device has reserved regions (no
	 * EADDRINUSE), and every mapping is read-write (no EPERM).
	 */
	race_add(rc, "IOAS_MAP", op_mu_map, ok_eexist);
	race_add(rc, "IOAS_MAP", op_mu_map, ok_eexist);
	race_add(rc, "IOAS_MAP vector", op_mu_map_vec, ok_eexist);
	race_add(rc, "IOAS_UNMAP", op_mu_unmap, ok_enoent);
	race_add(rc, "IOAS_COPY", op_mu_copy, ok_enoent_eexist);
	race_add(rc, "map+unmap own IOVAs", op_mu_own, ok_only);
	race_add(rc, "MOCK_MOVE A<->B", op_mock_move, ok_only);
	race_add(rc, "HWPT+device on A", op_mu_hwpt_cycle, ok_only);
	race_add(rc, "mock DMA", op_mu_dma, ok_efault);
	race_add(rc, "ACCESS_RW", op_mu_access_rw, ok_enoent);
	race_run(rc);
	if (rc->rep->failed)
		return;

	/*
	 * With every role stopped, each HWPT of A holds exactly what A maps:
	 * the one that lived through the race, and the moving device's,
	 * made (or kept) on A now.
	 */
	expect_ok(rc, mock_replace(rc->fd, rc->dev_id, rc->ioas_a, &auto_hwpt),
		  "MOCK_MOVE to A");
	for (i = 0; i < MU_PAGES; i++)
		phys[i] = page_phys((char *)rc->wbuf + i * SZ_4K);
	nr = mu_ioas_view(rc, page_of);
	if (rc->rep->failed)
		return;
	printf("# %d of %d pages mapped at the end; IOPTEs checked %s\n", nr,
	       MU_SPAN_PAGES, phys[0] ? "by physical address and DMA" :
	       "by DMA only (pagemap hides physical addresses)");
	mu_check_hwpt(rc, rc->hwpt_id, rc->dev_id2, page_of, phys);
	mu_check_hwpt(rc, auto_hwpt, rc->dev_id, page_of, phys);
	expect_ok(rc, ioas_stats(rc->fd, rc->ioas_a, NULL, &mapped, &nr_hwpts),
		  "IOAS_INFO");
	if (rc->rep->failed)
		return;
	if (mapped != (__u64)nr * SZ_4K)
		race_fail(rc, "IOAS_INFO: %llu bytes mapped, but the access reads %d pages",
			  (unsigned long long)mapped, nr);
	if (nr_hwpts != 2)
		race_fail(rc, "IOAS_INFO: %u HWPTs mirror A, not 2",
			  nr_hwpts);

	/* Unmapping everything leaves no IOPTE, pin or charge behind */
	expect_ok(rc, ioas_unmap_all(rc->fd, rc->ioas_a, &unmapped),
		  "unmap all of A");
	if (!rc->rep->failed && unmapped != mapped)
		race_fail(rc, "unmapping all of A took %llu bytes, IOAS_INFO counted %llu",
			  (unsigned long long)unmapped,
			  (unsigned long long)mapped);
	nr = mu_ioas_view(rc, page_of);
	if (nr > 0)
		race_fail(rc, "after unmapping all of A the access reads %d pages",
			  nr);
	mu_check_hwpt(rc, rc->hwpt_id, rc->dev_id2, page_of, phys);
	mu_check_hwpt(rc, auto_hwpt, rc->dev_id, page_of, phys);
	expect_unpinned_len(rc, rc->wbuf, MU_BUF_SIZE,
			    "after unmapping all of A");
	expect_ok(rc, ioas_unmap_all(rc->fd, rc->ioas_b, NULL),
		  "unmap all of B");
	expect_unpinned_len(rc, rc->wbuf2, MU_BUF_SIZE,
			    "after unmapping all of B");
	expect_ok(rc, mock_charges(rc->fd, &locked, &pinned), "CHARGES");
	if (locked || pinned)
		race_fail(rc, "nothing mapped, yet %llu pages charged, %llu pinned",
			  (unsigned long long)locked,
			  (unsigned long long)pinned);
	/* Nothing else holds any of them */
	expect_ok(rc, ioasid_destroy(rc->fd, rc->access_id),
		  "destroy the access");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->dev_id),
		  "destroy the moving device");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->dev_id2),
		  "destroy the HWPT's device");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->hwpt_id), "destroy the HWPT");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_a), "destroy IOAS A");
	expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_b), "destroy IOAS B");
	close(rc->fd);
}

/* ---- a: destroy of a VFIO device's ID vs closing the device ---- */

/* An edu bound to vfio-pci with a cdev, and /dev/ioasid; or why not */
static const char *find_vfio_edu(struct race *rc)
{
	char driver[64];

	if (access(IOASID_DEV_PATH, F_OK))
		return "needs " IOASID_DEV_PATH;
	if (edu_find(rc->bdf, sizeof(rc->bdf)))
		return "needs an edu device";
	if (edu_bound_driver(rc->bdf, driver, sizeof(driver)) ||
	    strcmp(driver, "vfio-pci"))
		return "needs the edu device bound to vfio-pci";
	rc->group = edu_iommu_group(rc->bdf);
	if (rc->group < 0)
		return "the edu device has no IOMMU group";
	if (pci_vfio_cdev_path(rc->bdf, rc->cdev, sizeof(rc->cdev)) ||
	    access(rc->cdev, F_OK))
		return "the edu device has no VFIO cdev";
	return NULL;
}

static void close_timed(struct race *rc, int fd)
{
	__u64 t0 = now_ns(), dt;

	close(fd);
	dt = now_ns() - t0;
	if (dt > rc->max_close_ns)
		rc->max_close_ns = dt;
}

/*
 * Open the cdev, bind it (publishing the device ID), attach it to IOAS A
 * when there is one (publishing the HWPT ID), close it.
 */
static int op_cdev_cycle(struct race *rc, struct race_role *ro)
{
	__u32 dev = 0, hwpt = 0;
	int fd, ret;

	(void)ro;
	fd = open(rc->cdev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		race_fail(rc, "open %s: %s", rc->cdev, errname(-ret));
		return ret;
	}
	ret = cdev_bind(fd, rc->fd, &dev);
	if (!ret) {
		publish_id(&rc->pub_id, dev);
		if (rc->ioas_a) {
			ret = cdev_attach(fd, rc->ioas_a, &hwpt);
			if (!ret)
				publish_id(&rc->pub_id2, hwpt);
		}
	}
	close_timed(rc, fd);
	return ret;
}

static int op_destroy_pub2(struct race *rc, struct race_role *ro)
{
	__u32 id = load_id(&rc->pub_id2);
	int ret;

	(void)ro;
	if (!id || excluded(rc, id))
		return RACE_NOP;
	ret = ioasid_destroy(rc->fd, id);
	if (!ret)
		count(&rc->zeros);
	return ret;
}

/* Get the device through its group, close it; now and then leave too */
static int op_group_cycle(struct race *rc, struct race_role *ro)
{
	struct ioasid_vfio_ioas assign = {
		.argsz = sizeof(assign), .op = IOASID_VFIO_IOAS_ASSIGN,
		.ioas_id = rc->ioas_a,
	};
	int fd, ret = 0;

	fd = ioctl(rc->group_fd, VFIO_GROUP_GET_DEVICE_FD, rc->bdf);
	if (fd < 0) {
		ret = -errno;
		race_fail(rc, "VFIO_GROUP_GET_DEVICE_FD: %s", errname(-ret));
		return ret;
	}
	close_timed(rc, fd);
	if (++ro->cursor % 16)
		return 0;
	if (ioctl(rc->group_fd, VFIO_GROUP_UNSET_CONTAINER) ||
	    ioctl(rc->group_fd, VFIO_GROUP_SET_CONTAINER, &rc->fd)) {
		ret = -errno;
		race_fail(rc, "VFIO_GROUP_{UNSET,SET}_CONTAINER: %s",
			  errname(-ret));
		return ret;
	}
	/* Back to IOAS A, should leaving have made the file forget it */
	ret = raw_ioctl(rc->fd, IOASID_VFIO_IOAS, &assign);
	if (ret)
		race_fail(rc, "IOASID_VFIO_IOAS ASSIGN: %s", errname(-ret));
	return ret;
}

/*
 * After a VFIO pair: the device must still bind through its cdev and do a
 * DMA round trip, and leave nothing pinned.
 */
static void vfio_edu_still_works(struct race *rc)
{
	unsigned int seed = 0x80 | (getpid() & 0x7f);
	char *buf = rc->buf2;
	__u32 ioas = 0, dev = 0, hwpt = 0;
	struct edu edu = { .device_fd = -1 };
	int fd, dfd, ret;

	fd = ioasid_open();
	if (fd < 0) {
		race_fail(rc, "afterwards: open: %s", errname(-fd));
		return;
	}
	dfd = open(rc->cdev, O_RDWR | O_CLOEXEC);
	if (dfd < 0) {
		race_fail(rc, "afterwards: open %s: %s", rc->cdev,
			  strerror(errno));
		close(fd);
		return;
	}
	ret = ioas_alloc(fd, &ioas);
	if (!ret)
		ret = cdev_bind(dfd, fd, &dev);
	if (ret) {
		race_fail(rc, "afterwards: IOAS_CREATE or BIND: %s",
			  errname(-ret));
		close(dfd);
		goto out;
	}
	ret = edu_open_from_device_fd(&edu, dfd);
	if (ret) {
		race_fail(rc, "afterwards: edu setup failed at %s: %s",
			  edu.failed_step, errname(-ret));
		goto out;
	}
	ret = cdev_attach(edu.device_fd, ioas, &hwpt);
	if (!ret)
		ret = ioas_map_fixed(fd, ioas, buf, RACE_BUF_SIZE, X_IOVA,
				     MAP_RW);
	if (ret) {
		race_fail(rc, "afterwards: ATTACH or map: %s", errname(-ret));
		goto out;
	}
	fill_pattern(buf, SZ_4K, seed);
	memset(buf + SZ_4K, 0, RACE_BUF_SIZE - SZ_4K);
	ret = edu_load(&edu, X_IOVA);
	if (!ret)
		ret = edu_store(&edu, X_IOVA + 2 * SZ_4K);
	if (ret)
		race_fail(rc, "afterwards: edu DMA: %s", errname(-ret));
	else if (check_pattern(buf + 2 * SZ_4K, EDU_TEST_DMA_LEN, seed) != -1)
		race_fail(rc, "afterwards: the edu round trip lost the bytes");
out:
	edu_close(&edu);
	close(fd);
	expect_unpinned(rc, buf, "after the edu round trip");
}

/* @attach: the cycle attaches the device to IOAS A too */
static void pair_vfio_cdev(struct race *rc, bool attach)
{
	const char *why = find_vfio_edu(rc);

	if (why) {
		race_skip(rc, "%s", why);
		return;
	}
	if (!open_files(rc, false))
		return;
	if (attach) {
		expect_ok(rc, ioas_alloc(rc->fd, &rc->ioas_a), "IOAS_CREATE");
		expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_a, rc->buf,
					     RACE_BUF_SIZE, X_IOVA, MAP_RW),
			  "map");
		rc->excl[rc->nr_excl++] = rc->ioas_a;
		if (rc->rep->failed)
			return;
		/* A stale ID may name the automatic HWPT: EBUSY then */
		race_add(rc, "open+bind+attach+close", op_cdev_cycle, ok_only);
		race_add(rc, "destroy device ID", op_destroy_pub,
			 eperm_enoent_ebusy);
		race_add(rc, "destroy auto HWPT", op_destroy_pub2,
			 eperm_enoent_ebusy);
		race_add(rc, "destroy IDs 1..64", op_destroy_scan,
			 eperm_enoent_ebusy);
	} else {
		/* Only devices are ever in the file */
		race_add(rc, "open+bind+close", op_cdev_cycle, ok_only);
		race_add(rc, "destroy device ID", op_destroy_pub, eperm_enoent);
		race_add(rc, "destroy device ID", op_destroy_pub, eperm_enoent);
		race_add(rc, "destroy IDs 1..64", op_destroy_scan,
			 eperm_enoent);
	}
	race_run(rc);
	printf("# slowest close of the device: %.1f ms\n",
	       rc->max_close_ns / 1e6);
	if (rc->rep->failed)
		return;
	if (rc->wins || rc->zeros)
		race_fail(rc, "%lu destroys of a device or its HWPT returned 0",
			  rc->wins + rc->zeros);
	if (attach)
		/* No automatic HWPT outlived its device */
		expect_ok(rc, ioasid_destroy(rc->fd, rc->ioas_a),
			  "destroy IOAS");
	close(rc->fd);
	expect_unpinned(rc, rc->buf, "after closing everything");
	if (!rc->rep->failed)
		vfio_edu_still_works(rc);
}

static void pair_vfio_cdev_bound(struct race *rc)
{
	pair_vfio_cdev(rc, false);
}

static void pair_vfio_cdev_attached(struct race *rc)
{
	pair_vfio_cdev(rc, true);
}

static void pair_vfio_group(struct race *rc)
{
	struct ioasid_vfio_ioas vioas = {
		.argsz = sizeof(vioas), .op = IOASID_VFIO_IOAS_QUERY,
	};
	const char *why = find_vfio_edu(rc);
	char path[64];

	if (why) {
		race_skip(rc, "%s", why);
		return;
	}
	if (!open_files(rc, false))
		return;
	expect_ok(rc, raw_ioctl(rc->fd, IOASID_VFIO_IOAS, &vioas),
		  "IOASID_VFIO_IOAS QUERY");
	rc->ioas_a = vioas.ioas_id;
	rc->excl[rc->nr_excl++] = rc->ioas_a;
	expect_ok(rc, ioas_map_fixed(rc->fd, rc->ioas_a, rc->buf,
				     RACE_BUF_SIZE, X_IOVA, MAP_RW), "map");
	snprintf(path, sizeof(path), "/dev/vfio/%d", rc->group);
	rc->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (rc->group_fd < 0) {
		race_fail(rc, "open %s: %s", path, strerror(errno));
		return;
	}
	if (ioctl(rc->group_fd, VFIO_GROUP_SET_CONTAINER, &rc->fd))
		race_fail(rc, "VFIO_GROUP_SET_CONTAINER with %s: %s",
			  IOASID_DEV_PATH, strerror(errno));
	if (rc->rep->failed)
		return;

	/* The device (EPERM) and its automatic HWPT (EBUSY), or nothing */
	race_add(rc, "get device+close", op_group_cycle, ok_only);
	race_add(rc, "destroy IDs 1..64", op_destroy_scan, eperm_enoent_ebusy);
	race_add(rc, "destroy IDs 1..64", op_destroy_scan, eperm_enoent_ebusy);
	race_run(rc);
	printf("# slowest close of the device: %.1f ms\n",
	       rc->max_close_ns / 1e6);
	if (rc->rep->failed)
		return;
	if (rc->zeros)
		race_fail(rc, "%lu destroys of a device or its HWPT returned 0",
			  rc->zeros);
	close(rc->group_fd);
	close(rc->fd);
	expect_unpinned(rc, rc->buf, "after closing everything");
	if (!rc->rep->failed)
		vfio_edu_still_works(rc);
}

/* ---- running a pair under a watchdog ---- */

/* waitpid() for at most @secs; true when @pid was reaped */
static bool wait_for(pid_t pid, int *status, unsigned int secs)
{
	__u64 end = now_ns() + secs * 1000000000ULL;

	do {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return true;
		if (w < 0 && errno != EINTR)
			return false;
		usleep(20000);
	} while (now_ns() < end);
	return false;
}

static void run_pair(struct __test_metadata *_metadata, const char *name,
		     void (*body)(struct race *rc))
{
	struct race_report *rep;
	struct race *rc;
	int status = 0;
	pid_t pid;

	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, rep);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		rc = calloc(1, sizeof(*rc));
		if (!rc)
			_exit(2);
		rc->name = name;
		rc->rep = rep;
		rc->fd = -1;
		rc->checker = -1;
		rc->group_fd = -1;
		body(rc);
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}

	if (!wait_for(pid, &status, race_secs + RACE_GRACE_SECS)) {
		fprintf(stderr, "# pair %s: still running after %u s\n", name,
			race_secs + RACE_GRACE_SECS);
		dump_task_stacks(pid);
		kill(pid, SIGKILL);
		if (!wait_for(pid, &status, RACE_REAP_SECS))
			TH_LOG("process %d does not die: stuck in the kernel",
			       pid);
		ASSERT_TRUE(false)
			TH_LOG("pair %s hangs (deadlock?)", name);
	}
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("pair %s ended by %s %d", name,
		       WIFSIGNALED(status) ? "signal" : "exit code",
		       WIFSIGNALED(status) ? WTERMSIG(status) :
		       WEXITSTATUS(status));
	if (rep->skip)
		SKIP(return, "%s", rep->msg);
	ASSERT_EQ(0, rep->failed)
		TH_LOG("pair %s: %s", name, rep->msg);
	munmap(rep, sizeof(*rep));
}

static const char *mock_unusable(void)
{
	const char *why = ioasid_unusable();

	if (why)
		return why;
	return access(IOASID_DEV_PATH, F_OK) ? "needs " IOASID_DEV_PATH : NULL;
}

/* Each pair sets itself up in its own process: the fixture holds nothing */
FIXTURE(race) {
	int unused;
};

FIXTURE_SETUP(race)
{
}

FIXTURE_TEARDOWN(race)
{
}

/* a */
TEST_F(race, vfio_cdev_destroy_vs_close)
{
	run_pair(_metadata, "vfio cdev destroy vs close", pair_vfio_cdev_bound);
}

TEST_F(race, vfio_cdev_attached_destroy_vs_close)
{
	run_pair(_metadata, "vfio cdev attached destroy vs close",
		 pair_vfio_cdev_attached);
}

TEST_F(race, vfio_group_destroy_vs_close)
{
	run_pair(_metadata, "vfio group destroy vs close", pair_vfio_group);
}

/* b */
TEST_F(race, access_destroy_vs_destroy_pin_rw)
{
	const char *why = mock_unusable();

	if (why)
		SKIP(return, "%s", why);
	run_pair(_metadata, "access destroy vs destroy/pin/rw",
		 pair_access_destroy);
}

/* c */
TEST_F(race, auto_hwpt_destroy_vs_detach)
{
	const char *why = mock_unusable();

	if (why)
		SKIP(return, "%s", why);
	run_pair(_metadata, "auto HWPT destroy vs detach",
		 pair_auto_hwpt_detach);
}

TEST_F(race, auto_hwpt_destroy_vs_replace)
{
	const char *why = mock_unusable();

	if (why)
		SKIP(return, "%s", why);
	run_pair(_metadata, "auto HWPT destroy vs replace",
		 pair_auto_hwpt_replace);
}

/* d */
TEST_F(race, ioas_destroy_vs_map_unmap_copy)
{
	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	run_pair(_metadata, "IOAS destroy vs map/unmap/copy",
		 pair_ioas_destroy);
}

/* e */
TEST_F(race, close_vs_every_ioctl)
{
	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	run_pair(_metadata, "close vs every ioctl", pair_close_ioctls);
}

/* f */
TEST_F(race, ioas_map_unmap_concurrent)
{
	const char *why = mock_unusable();

	if (why)
		SKIP(return, "%s", why);
	run_pair(_metadata,
		 "concurrent map, unmap, copy, access and attach on one IOAS",
		 pair_map_unmap);
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	const char *env = getenv("IOASID_RACE_SECS");
	char *end;
	long secs;

	if (env && *env) {
		errno = 0;
		secs = strtol(env, &end, 10);
		if (errno || *end || secs < 1 || secs > RACE_SECS_MAX) {
			fprintf(stderr, "IOASID_RACE_SECS must be 1..%d\n",
				RACE_SECS_MAX);
			return 2;
		}
		race_secs = secs;
	}
	/* The harness's own timeout only backs up the watchdog above */
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout = race_secs + RACE_GRACE_SECS +
				     RACE_REAP_SECS + 30;
	return test_harness_run(argc, argv);
}
