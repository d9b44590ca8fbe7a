// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocation failure sweep of /dev/ioasid.
 *
 * For each scenario and N = 1, 2, 3, ... a child builds some objects (the
 * setup), arms /proc/self/task/<tid>/fail-nth with N so that the Nth fault
 * injection site reached (fail_ioasid at the core's pins, domain maps and
 * attaches, failslab, fail_page_alloc, ...) fails, runs a
 * few ioctls (the body) and disarms. Whatever the body returned, the state
 * must be consistent: a failed body succeeds when rerun without a fault,
 * nothing stays accounted or pinned once unmapped, no object or ID is left
 * once every known object is destroyed, and no page stays pinned once the
 * file is closed. The sweep ends when the body no longer reaches site N;
 * each scenario prints "# scenario NAME: N iterations".
 */
#include <dirent.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "ioasid_utils.h"

#define NTH_LIMIT		3000U
#define NTH_TIMEOUT		600	/* seconds, for a whole sweep */
#define DEBUGFS_DIR		"/sys/kernel/debug"
#define ID_SCAN			16	/* object IDs checked after teardown */
#define STACK_PREFAULT		(128 * 1024)
/* Where the vector scenarios map their ranges */
#define VEC_IOVA		0x40000000ULL
#define VEC_RANGES		3

/* What a child reports through its exit status */
enum {
	NTH_FIRED = 0,		/* the fault was injected, state is clean */
	NTH_NOT_REACHED = 1,	/* the body ended before the Nth site */
	NTH_BROKEN = 2,		/* inconsistent state, see stderr */
	NTH_NO_SETUP = 3,	/* setup failed with no fault armed */
};

/* Everything one child builds; an ID of 0 means none (or destroyed) */
struct nth_ctx {
	int fd;			/* the file under test */
	int chk_fd;		/* a second file, for MD_CHECK_REFS */
	size_t len;		/* of each buffer */
	void *buf;		/* the memory mapped into IOAS, pattern 1 */
	void *scratch;		/* read-back area */
	void *wdata;		/* what ACCESS_RW writes, pattern 2 */
	__u32 ioas[2];
	__u64 iova[2];		/* where buf is mapped in ioas[i] */
	__u32 dev[2];		/* mock devices */
	__u32 dev_hwpt[2];	/* the HWPT dev[i] is attached to */
	__u32 hwpt;		/* an explicitly allocated HWPT */
	__u32 access;
	__u32 gone[2];		/* IDs the body destroyed */
	__u64 unmapped;
	__u64 viova[VEC_RANGES];	/* where the vector map put each range */
	bool rw_written;	/* access_rw: the write step is done */
	bool retried;		/* the body is being run a second time */
};

struct nth_scenario {
	const char *name;
	size_t len;
	enum buf_kind kind;
	unsigned int has;	/* what the setup builds, HAS_* */
	int (*body)(struct nth_ctx *c);
	int (*prep)(struct nth_ctx *c);		/* after the setup, unarmed */
	int (*verify)(struct nth_ctx *c);
	int (*after_fail)(struct nth_ctx *c);	/* state after a failed body */
	int dma_dev;		/* if > 0, dev[dma_dev - 1] must read buf */
	bool retry;		/* a failed body must succeed when rerun */
};

/* Only meaningful in a child, for its messages */
static const char *nth_name = "?";
static unsigned int nth_cur;

/* printf-like; prints one line about the current child and returns -1 */
static int complain(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# %s, fault at %u: ", nth_name, nth_cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/*
 * Make the stack the body runs on present and private to this process:
 * after fork() it is shared copy-on-write with the parent, and a write
 * fault under an armed fail-nth would consume the fault in user space.
 */
static void prefault_stack(void)
{
	char pad[STACK_PREFAULT];

	memset(pad, 1, sizeof(pad));
	/* keep the compiler from dropping the stores */
	__asm__ __volatile__("" : : "r" (pad) : "memory");
}

/* What a scenario's setup builds, in this order */
enum {
	HAS_IOAS0 = 1 << 0,
	HAS_DEV0 = 1 << 1,	/* a mock device attached to IOAS 0 */
	HAS_MAP0 = 1 << 2,	/* buf mapped into IOAS 0 */
	HAS_IOAS1 = 1 << 3,
	HAS_DEV1 = 1 << 4,
	HAS_MAP1 = 1 << 5,
	HAS_ACCESS = 1 << 6,	/* an access on IOAS 0 */
};

static int add_ioas(struct nth_ctx *c, int i)
{
	return ioas_alloc(c->fd, &c->ioas[i]);
}

static int add_map(struct nth_ctx *c, int i)
{
	return ioas_map(c->fd, c->ioas[i], c->buf, c->len, &c->iova[i],
			MAP_RW);
}

static int add_dev(struct nth_ctx *c, int i)
{
	return mock_device(c->fd, c->ioas[i], &c->dev[i], &c->dev_hwpt[i]);
}

static int nth_setup(struct nth_ctx *c, unsigned int has)
{
	int i, rc = 0;

	for (i = 0; i < 2 && !rc; i++) {
		if (has & (HAS_IOAS0 << (3 * i)))
			rc = add_ioas(c, i);
		if (!rc && (has & (HAS_DEV0 << (3 * i))))
			rc = add_dev(c, i);
		if (!rc && (has & (HAS_MAP0 << (3 * i))))
			rc = add_map(c, i);
	}
	if (!rc && (has & HAS_ACCESS))
		rc = access_create(c->fd, c->ioas[0], &c->access);
	return rc;
}

/*
 * Bodies. They run twice when the first run fails, so a body of several
 * steps skips the steps an earlier run completed.
 */

static int body_ioas_alloc(struct nth_ctx *c)
{
	return add_ioas(c, 0);
}

static int body_map(struct nth_ctx *c)
{
	return add_map(c, 0);
}

/*
 * Three ranges of buf: a quarter at VEC_IOVA, a quarter where the kernel
 * likes, the second half at VEC_IOVA + len.
 */
static void vec_ranges(struct nth_ctx *c, struct ioasid_map_range *r)
{
	size_t q = c->len / 4;

	map_range_set(&r[0], c->buf, q, VEC_IOVA, MAP_RW | MAP_FIXED_IOVA);
	map_range_set(&r[1], (char *)c->buf + q, q, 0, MAP_RW);
	map_range_set(&r[2], (char *)c->buf + 2 * q, 2 * q, VEC_IOVA + c->len,
		      MAP_RW | MAP_FIXED_IOVA);
}

static int body_map_vec(struct nth_ctx *c)
{
	struct ioasid_map_range r[VEC_RANGES];
	int i, rc;

	vec_ranges(c, r);
	rc = ioas_map_vec(c->fd, c->ioas[0], r, VEC_RANGES, NULL);
	if (!rc)
		for (i = 0; i < VEC_RANGES; i++)
			c->viova[i] = r[i].iova;
	return rc;
}

static int body_unmap_vec(struct nth_ctx *c)
{
	struct ioasid_map_range m[VEC_RANGES];
	struct ioasid_iova_range r[VEC_RANGES];
	int i;

	vec_ranges(c, m);
	for (i = 0; i < VEC_RANGES; i++) {
		r[i].first = c->viova[i];
		r[i].last = c->viova[i] + m[i].length - 1;
	}
	return ioas_unmap_vec(c->fd, c->ioas[0], r, VEC_RANGES, &c->unmapped,
			      NULL);
}

static int body_copy(struct nth_ctx *c)
{
	return ioas_copy(c->fd, c->ioas[1], &c->iova[1], c->ioas[0],
			 c->iova[0], c->len, MAP_RW);
}

static int body_unmap(struct nth_ctx *c)
{
	return ioas_unmap(c->fd, c->ioas[0], c->iova[0], c->len, &c->unmapped);
}

static int body_attach(struct nth_ctx *c)
{
	return add_dev(c, 0);
}

static int body_hwpt(struct nth_ctx *c)
{
	int rc;

	if (!c->hwpt) {
		rc = hwpt_create(c->fd, c->dev[0], c->ioas[1], &c->hwpt);
		if (rc)
			return rc;
	}
	return mock_device(c->fd, c->hwpt, &c->dev[1], &c->dev_hwpt[1]);
}

static int body_replace(struct nth_ctx *c)
{
	return mock_replace(c->fd, c->dev[0], c->ioas[1], &c->dev_hwpt[0]);
}

static int body_access_pin(struct nth_ctx *c)
{
	return access_pin(c->fd, c->access, c->iova[0], c->len);
}

static int body_access_rw(struct nth_ctx *c)
{
	int rc;

	if (!c->rw_written) {
		rc = access_rw(c->fd, c->access, c->iova[0], c->wdata, c->len,
			       IOASID_TEST_DMA_WRITE);
		if (rc)
			return rc;
		c->rw_written = true;
	}
	return access_rw(c->fd, c->access, c->iova[0], c->scratch, c->len,
			 IOASID_TEST_DMA_READ);
}

/* Destroy @*id; on a rerun, ENOENT means the first run did it already */
static int destroy_step(struct nth_ctx *c, __u32 *id, __u32 *gone)
{
	int rc = ioasid_destroy(c->fd, *id);

	if (rc == -ENOENT && c->retried)
		rc = 0;
	if (!rc) {
		*gone = *id;
		*id = 0;
	}
	return rc;
}

static int body_destroy(struct nth_ctx *c)
{
	int rc;

	if (c->dev[0]) {
		rc = destroy_step(c, &c->dev[0], &c->gone[0]);
		if (rc)
			return rc;
		/* the automatic HWPT goes with its only device */
		c->dev_hwpt[0] = 0;
	}
	if (c->ioas[0])
		return destroy_step(c, &c->ioas[0], &c->gone[1]);
	return 0;
}

static int body_detach(struct nth_ctx *c)
{
	int rc = 0;

	if (c->dev[0])
		rc = destroy_step(c, &c->dev[0], &c->gone[0]);
	return rc;
}

static int body_close(struct nth_ctx *c)
{
	int rc = close(c->fd);

	/* the descriptor is gone whatever close() returned */
	c->fd = -1;
	return rc ? -errno : 0;
}

/* Checks that the body, once it succeeded, did its job */

static int dma_matches(struct nth_ctx *c, int dev)
{
	__u64 done = 0, iova = c->iova[dev];
	int rc;

	memset(c->scratch, 0, c->len);
	rc = mock_dma(c->fd, c->dev[dev], iova, c->scratch, c->len,
		      IOASID_TEST_DMA_READ, &done);
	if (rc)
		return complain("DMA from IOVA 0x%llx by device %u: %s",
				(unsigned long long)iova, c->dev[dev],
				strerror(-rc));
	if (memcmp(c->scratch, c->buf, c->len))
		return complain("DMA from IOVA 0x%llx returned wrong data",
				(unsigned long long)iova);
	return 0;
}

static int verify_unmap(struct nth_ctx *c)
{
	__u64 iova;
	int rc;

	for (iova = c->iova[0]; iova < c->iova[0] + c->len; iova += SZ_4K) {
		rc = mock_iopte(c->fd, c->dev_hwpt[0], iova, NULL, NULL);
		if (rc != -ENOENT)
			return complain("IOVA 0x%llx translates after unmap (%s)",
					(unsigned long long)iova,
					strerror(-rc));
	}
	if (!c->retried && c->unmapped != c->len)
		return complain("unmap reported %llu bytes instead of %zu",
				(unsigned long long)c->unmapped, c->len);
	return 0;
}

/* The IOAS holds @nr mappings, and the file charges @pages pages */
static int expect_state(struct nth_ctx *c, __u32 nr, __u64 pages)
{
	__u64 locked = ~0ULL, pinned = ~0ULL;
	__u32 got = ~0U;
	int rc;

	rc = ioas_stats(c->fd, c->ioas[0], &got, NULL, NULL);
	if (rc)
		return complain("IOAS_INFO: %s", strerror(-rc));
	if (got != nr)
		return complain("%u mappings instead of %u", got, nr);
	rc = mock_accounting(c->fd, &locked, &pinned);
	if (rc)
		return complain("CHARGES: %s", strerror(-rc));
	if (locked != pages || pinned != pages)
		return complain("%llu pages charged, %llu pinned instead of %llu",
				(unsigned long long)locked,
				(unsigned long long)pinned,
				(unsigned long long)pages);
	return 0;
}

/* Device 0 reads each range of the vector map */
static int verify_map_vec(struct nth_ctx *c)
{
	struct ioasid_map_range r[VEC_RANGES];
	__u64 done = 0;
	int i, rc;

	vec_ranges(c, r);
	for (i = 0; i < VEC_RANGES; i++) {
		memset(c->scratch, 0, r[i].length);
		rc = mock_dma(c->fd, c->dev[0], c->viova[i], c->scratch,
			      r[i].length, IOASID_TEST_DMA_READ, &done);
		if (rc)
			return complain("DMA from range %d at 0x%llx: %s", i,
					(unsigned long long)c->viova[i],
					strerror(-rc));
		if (memcmp(c->scratch, (void *)(uintptr_t)r[i].uaddr,
			   r[i].length))
			return complain("range %d reads wrong data", i);
	}
	return expect_state(c, VEC_RANGES, c->len / SZ_4K);
}

/* A failed vector map maps, pins and charges nothing */
static int after_fail_map_vec(struct nth_ctx *c)
{
	return expect_state(c, 0, 0);
}

/* A failed vector unmap unmaps nothing */
static int after_fail_unmap_vec(struct nth_ctx *c)
{
	return expect_state(c, VEC_RANGES, c->len / SZ_4K);
}

/* Every range went in one call, whether or not a first try failed */
static int verify_unmap_vec(struct nth_ctx *c)
{
	__u64 iova;
	int rc;

	if (c->unmapped != c->len)
		return complain("vector unmap reported %llu bytes instead of %zu",
				(unsigned long long)c->unmapped, c->len);
	for (iova = VEC_IOVA; iova < VEC_IOVA + 2 * c->len; iova += SZ_4K) {
		rc = mock_iopte(c->fd, c->dev_hwpt[0], iova, NULL, NULL);
		if (rc != -ENOENT)
			return complain("IOVA 0x%llx translates after unmap (%s)",
					(unsigned long long)iova,
					strerror(-rc));
	}
	return expect_state(c, 0, 0);
}

/* The device is gone, and so is its automatic HWPT */
static int verify_detach(struct nth_ctx *c)
{
	__u32 nhwpts = ~0U;
	int rc;

	rc = ioasid_destroy(c->fd, c->gone[0]);
	if (rc != -ENOENT)
		return complain("device %u: destroy again: %s", c->gone[0],
				strerror(-rc));
	rc = mock_iopte(c->fd, c->dev_hwpt[0], c->iova[0], NULL, NULL);
	if (rc != -ENOENT)
		return complain("HWPT %u still translates: %s", c->dev_hwpt[0],
				strerror(-rc));
	c->dev_hwpt[0] = 0;
	rc = ioas_stats(c->fd, c->ioas[0], NULL, NULL, &nhwpts);
	if (rc || nhwpts)
		return complain("IOAS still has %u HWPTs (%s)", nhwpts,
				strerror(-rc));
	return expect_state(c, 1, c->len / SZ_4K);
}

static int verify_hwpt(struct nth_ctx *c)
{
	if (c->dev_hwpt[1] != c->hwpt)
		return complain("device %u is attached to HWPT %u, not %u",
				c->dev[1], c->dev_hwpt[1], c->hwpt);
	return 0;
}

/* After the move, device 0 reads through IOAS 1's mapping of buf */
static int verify_replace(struct nth_ctx *c)
{
	__u64 done = 0;
	int rc;

	memset(c->scratch, 0, c->len);
	rc = mock_dma(c->fd, c->dev[0], c->iova[1], c->scratch, c->len,
		      IOASID_TEST_DMA_READ, &done);
	if (rc)
		return complain("DMA through the new IOAS: %s", strerror(-rc));
	if (memcmp(c->scratch, c->buf, c->len))
		return complain("DMA through the new IOAS returned wrong data");
	return 0;
}

static int verify_access_pin(struct nth_ctx *c)
{
	/* the access shares the pin of the mapping: still one per page */
	int rc = mock_check_refs(c->chk_fd, c->buf, c->len, 1);

	if (rc)
		return complain("pages are not pinned exactly once: %s",
				strerror(-rc));
	return 0;
}

static int verify_access_rw(struct nth_ctx *c)
{
	if (memcmp(c->scratch, c->wdata, c->len))
		return complain("ACCESS_RW read back other bytes than written");
	if (memcmp(c->buf, c->wdata, c->len))
		return complain("ACCESS_RW write did not reach the memory");
	return 0;
}

static int verify_destroy(struct nth_ctx *c)
{
	int i, rc;

	for (i = 0; i < 2; i++) {
		rc = ioasid_destroy(c->fd, c->gone[i]);
		if (rc != -ENOENT)
			return complain("destroyed object %u: destroy again: %s",
					c->gone[i], strerror(-rc));
	}
	return 0;
}

/* Teardown and the checks that nothing was left behind */

static int destroy_known(struct nth_ctx *c)
{
	__u32 *ids[] = {
		&c->access, &c->dev[1], &c->dev[0], &c->hwpt,
		&c->ioas[1], &c->ioas[0],
	};
	unsigned int i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		if (!*ids[i])
			continue;
		rc = ioasid_destroy(c->fd, *ids[i]);
		if (rc)
			return complain("destroy of object %u: %s", *ids[i],
					strerror(-rc));
		*ids[i] = 0;
	}
	return 0;
}

/*
 * With every known object destroyed the file must be empty: no object is
 * left to destroy, and new objects get the lowest IDs again, so none is
 * held by a reservation that was never published nor freed.
 */
static int scan_ids(struct nth_ctx *c)
{
	__u32 id, got;
	int rc;

	for (id = 1; id <= ID_SCAN; id++) {
		rc = ioasid_destroy(c->fd, id);
		if (rc != -ENOENT)
			return complain("object %u survived teardown (destroy: %s)",
					id, strerror(-rc));
	}
	for (id = 1; id <= ID_SCAN; id++) {
		rc = ioas_alloc(c->fd, &got);
		if (rc)
			return complain("IOAS_CREATE after teardown: %s",
					strerror(-rc));
		if (got != id)
			return complain("ID %u is still taken: a new IOAS got %u",
					id, got);
	}
	return 0;
}

static int teardown_and_check(struct nth_ctx *c)
{
	void *bufs[] = { c->buf, c->scratch, c->wdata };
	__u64 locked = 0, pinned = 0;
	int i, rc, bad = 0;

	if (c->fd >= 0) {
		for (i = 0; i < 2; i++) {
			if (!c->ioas[i])
				continue;
			rc = ioas_unmap_all(c->fd, c->ioas[i], NULL);
			if (rc)
				bad = complain("unmap-all of IOAS %u: %s",
					       c->ioas[i], strerror(-rc));
		}
		rc = mock_accounting(c->fd, &locked, &pinned);
		if (rc)
			bad = complain("CHARGES: %s", strerror(-rc));
		else if (locked || pinned)
			bad = complain("%llu pages locked, %llu pinned with nothing mapped",
				       (unsigned long long)locked,
				       (unsigned long long)pinned);
		if (!bad)
			bad = destroy_known(c);
		if (!bad)
			bad = scan_ids(c);
		close(c->fd);
		c->fd = -1;
	}
	/* checked from the second file, the first one being closed */
	for (i = 0; i < 3; i++) {
		rc = mock_check_refs(c->chk_fd, bufs[i], c->len, 0);
		if (rc)
			bad = complain("buffer %d still pinned after close: %s",
				       i, strerror(-rc));
	}
	return bad;
}

/* The child */

static int nth_disarm(int nth_fd)
{
	/* with fault injection in user copies, disarming can fail once */
	if (pwrite(nth_fd, "0", 1, 0) == 1)
		return 0;
	return pwrite(nth_fd, "0", 1, 0) == 1 ? 0 : -errno;
}

static int child_prepare(const struct nth_scenario *sc, struct nth_ctx *c)
{
	size_t align = sc->kind == BUF_THP ? SZ_2M : SZ_4K;
	int rc;

	c->fd = ioasid_open();
	c->chk_fd = ioasid_open();
	if (c->fd < 0 || c->chk_fd < 0) {
		rc = c->fd < 0 ? c->fd : c->chk_fd;
		return complain("open " IOASID_DEV_PATH ": %s", strerror(-rc));
	}
	c->len = sc->len;
	c->buf = buf_map(c->len, align, sc->kind);
	c->scratch = buf_map(c->len, SZ_4K, BUF_SMALL_PAGES);
	c->wdata = buf_map(c->len, SZ_4K, BUF_SMALL_PAGES);
	if (!c->buf || !c->scratch || !c->wdata)
		return complain("cannot map %zu byte buffers", c->len);
	fill_pattern(c->buf, c->len, 1);
	fill_pattern(c->wdata, c->len, 2);
	rc = nth_setup(c, sc->has);
	if (!rc && sc->prep)
		rc = sc->prep(c);
	if (rc)
		return complain("setup: %s", strerror(-rc));
	return 0;
}

static int child_run(const struct nth_scenario *sc, unsigned int nth)
{
	struct nth_ctx c = { .fd = -1, .chk_fd = -1 };
	char path[64], arm[16], left[32];
	int nth_fd, arm_len, body_rc, rc;
	bool fired;
	ssize_t n;

	nth_name = sc->name;
	nth_cur = nth;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	nth_fd = open(path, O_RDWR | O_CLOEXEC);
	if (nth_fd < 0) {
		complain("open %s: %s", path, strerror(errno));
		return NTH_NO_SETUP;
	}
	if (child_prepare(sc, &c))
		return NTH_NO_SETUP;

	arm_len = snprintf(arm, sizeof(arm), "%u", nth);
	memset(left, 0, sizeof(left));
	prefault_stack();
	errno = 0;	/* the TLS page, too, must not fault in the window */

	if (write(nth_fd, arm, arm_len) != arm_len) {
		complain("arming %s: %s", path, strerror(errno));
		return NTH_NO_SETUP;
	}
	body_rc = sc->body(&c);
	n = pread(nth_fd, left, sizeof(left) - 1, 0);
	/*
	 * EFAULT: the copy out of the count was itself the Nth site, which
	 * means the body did not reach it.
	 */
	if (n < 0 && errno != EFAULT) {
		rc = -errno;
		nth_disarm(nth_fd);
		complain("reading %s: %s", path, strerror(-rc));
		return NTH_NO_SETUP;
	}
	fired = n > 0 && strtoul(left, NULL, 10) == 0;
	rc = nth_disarm(nth_fd);
	if (rc) {
		complain("disarming %s: %s", path, strerror(-rc));
		return NTH_NO_SETUP;
	}
	close(nth_fd);

	if (body_rc && !fired) {
		complain("body failed with no fault injected: %s",
			 strerror(-body_rc));
		return NTH_BROKEN;
	}
	if (body_rc && sc->after_fail && sc->after_fail(&c))
		return NTH_BROKEN;
	if (body_rc && sc->retry) {
		c.retried = true;
		rc = sc->body(&c);
		if (rc) {
			complain("body failed (%s), then failed again with no fault: %s",
				 strerror(-body_rc), strerror(-rc));
			return NTH_BROKEN;
		}
	}
	if (sc->verify && sc->verify(&c))
		return NTH_BROKEN;
	if (sc->dma_dev && dma_matches(&c, sc->dma_dev - 1))
		return NTH_BROKEN;
	if (teardown_and_check(&c))
		return NTH_BROKEN;
	close(c.chk_fd);
	return fired ? NTH_FIRED : NTH_NOT_REACHED;
}

static bool thp_usable(void)
{
	void *p;
	bool ok;

	if (!thp_enabled())
		return false;
	p = buf_map(SZ_4M, SZ_2M, BUF_THP);
	if (!p)
		return false;
	ok = thp_backed(p, SZ_4M);
	munmap(p, SZ_4M);
	return ok;
}

/* The parent */

static void nth_sweep(struct __test_metadata *_metadata, bool ready,
		      const struct nth_scenario *sc)
{
	unsigned int nth;
	int status, code;
	pid_t pid;

	if (!ready)
		return;	/* the fixture setup already reported the skip */
	if (sc->kind == BUF_THP && !thp_usable())
		SKIP(return, "no transparent huge pages for MADV_HUGEPAGE");

	for (nth = 1; nth <= NTH_LIMIT; nth++) {
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			_exit(child_run(sc, nth));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFSIGNALED(status))
			TH_LOG("%s: child failing site %u killed by signal %d",
			       sc->name, nth, WTERMSIG(status));
		ASSERT_TRUE(WIFEXITED(status));
		code = WEXITSTATUS(status);
		if (code == NTH_NOT_REACHED) {
			printf("# scenario %s: %u iterations\n", sc->name, nth);
			fflush(stdout);
			return;
		}
		if (code == NTH_NO_SETUP)
			TH_LOG("%s: child failing site %u could not run",
			       sc->name, nth);
		else if (code != NTH_FIRED)
			TH_LOG("%s: inconsistent state after failing site %u",
			       sc->name, nth);
		ASSERT_EQ(NTH_FIRED, code);
	}
	TH_LOG("%s: body still reaches site %u, giving up", sc->name,
	       NTH_LIMIT);
	ASSERT_GT(NTH_LIMIT, nth);
}

/* Fault injection settings, saved to be put back afterwards */

#define KNOBS_MAX	32

struct knob {
	char path[128];
	char old[32];
};

struct knob_store {
	int count;
	struct knob saved[KNOBS_MAX];
};

static int set_knob(struct knob_store *ks, const char *dir, const char *file,
		    const char *val)
{
	struct knob *k = &ks->saved[ks->count];
	FILE *f;
	int rc;

	if (ks->count == KNOBS_MAX)
		return -ENOSPC;
	snprintf(k->path, sizeof(k->path), DEBUGFS_DIR "/%s/%s", dir, file);
	f = fopen(k->path, "re");
	if (!f)
		return -errno;
	rc = fgets(k->old, sizeof(k->old), f) ? 0 : -EIO;
	fclose(f);
	if (rc)
		return rc;
	k->old[strcspn(k->old, "\n")] = 0;
	rc = write_string_file(k->path, val);
	if (rc)
		return rc;
	ks->count++;
	return 0;
}

static void restore_knobs(struct knob_store *ks)
{
	while (ks->count > 0) {
		ks->count--;
		write_string_file(ks->saved[ks->count].path,
				  ks->saved[ks->count].old);
	}
}

/*
 * Make every allocation a candidate (sleeping ones, highmem and order-0
 * pages too), keep the random triggers off so that only fail-nth injects,
 * and keep the injections silent: no message, no stack dump.
 */
static int setup_knobs(struct knob_store *ks)
{
	static const char * const settings[][3] = {
		{ "failslab", "probability", "0" },
		{ "failslab", "verbose", "0" },
		{ "failslab", "ignore-gfp-wait", "N" },
		{ "fail_page_alloc", "probability", "0" },
		{ "fail_page_alloc", "verbose", "0" },
		{ "fail_page_alloc", "ignore-gfp-wait", "N" },
		{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
		{ "fail_page_alloc", "min-order", "0" },
	};
	struct dirent *de;
	unsigned int i;
	DIR *d;
	int rc;

	for (i = 0; i < ARRAY_SIZE(settings); i++) {
		rc = set_knob(ks, settings[i][0], settings[i][1],
			      settings[i][2]);
		if (rc)
			return rc;
	}
	/* fail-nth fires any other injection point as well: silence them */
	d = opendir(DEBUGFS_DIR);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "fail", 4) ||
		    !strcmp(de->d_name, "failslab") ||
		    !strcmp(de->d_name, "fail_page_alloc"))
			continue;
		/* not every such directory has the file */
		set_knob(ks, de->d_name, "verbose", "0");
	}
	closedir(d);
	return 0;
}

FIXTURE(fail_nth) {
	bool ready;
	struct knob_store knobs;
};

/*
 * fail_ioasid as fail_ioasid_setup() leaves it, the old values saved so
 * that the teardown puts them back.
 */
static int setup_fail_ioasid(struct knob_store *ks)
{
	char times[32];
	int rc;

	snprintf(times, sizeof(times), "%ld", FAIL_IOASID_TIMES);
	rc = set_knob(ks, "fail_ioasid", "probability", "0");
	if (!rc)
		rc = set_knob(ks, "fail_ioasid", "verbose", "0");
	if (!rc)
		rc = set_knob(ks, "fail_ioasid", "times", times);
	return rc ? rc : fail_ioasid_setup();
}

FIXTURE_SETUP(fail_nth)
{
	const char *why = ioasid_unusable();
	char path[64];
	int rc;

	if (why)
		SKIP(return, "%s", why);
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	if (access(path, R_OK | W_OK))
		SKIP(return, "%s: %s (no CONFIG_FAULT_INJECTION?)", path,
		     strerror(errno));
	if (access(DEBUGFS_DIR "/failslab", F_OK) ||
	    access(DEBUGFS_DIR "/fail_page_alloc", F_OK))
		SKIP(return, "no failslab or fail_page_alloc in " DEBUGFS_DIR);
	if (access(FAIL_IOASID_DIR, F_OK))
		SKIP(return, "no %s in the kernel", FAIL_IOASID_DIR);
	rc = setup_fail_ioasid(&self->knobs);
	if (!rc)
		rc = setup_knobs(&self->knobs);
	if (rc)
		SKIP(return, "cannot configure fault injection: %s",
		     strerror(-rc));
	self->ready = true;
}

FIXTURE_TEARDOWN(fail_nth)
{
	/* the 6.1 harness runs this after a SKIP() in the setup too */
	restore_knobs(&self->knobs);
}

/* One test per scenario; the arguments initialize its struct nth_scenario */
#define NTH_TEST(scenario, ...)						\
	static const struct nth_scenario sc_##scenario = {		\
		.name = #scenario, __VA_ARGS__				\
	};								\
	TEST_F_TIMEOUT(fail_nth, scenario, NTH_TIMEOUT)			\
	{								\
		nth_sweep(_metadata, self->ready, &sc_##scenario);	\
	}

#define SMALL	.len = SZ_64K, .kind = BUF_SMALL_PAGES

NTH_TEST(ioas_alloc, SMALL, .retry = true, .body = body_ioas_alloc)

NTH_TEST(map, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0,
	 .body = body_map, .dma_dev = 1)

NTH_TEST(map_huge, .len = SZ_4M, .kind = BUF_THP, .retry = true,
	 .has = HAS_IOAS0 | HAS_DEV0, .body = body_map, .dma_dev = 1)

NTH_TEST(map_vec, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0,
	 .body = body_map_vec, .verify = verify_map_vec,
	 .after_fail = after_fail_map_vec)

NTH_TEST(unmap_vec, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0,
	 .prep = body_map_vec, .body = body_unmap_vec,
	 .verify = verify_unmap_vec, .after_fail = after_fail_unmap_vec)

NTH_TEST(copy, SMALL, .retry = true,
	 .has = HAS_IOAS0 | HAS_MAP0 | HAS_IOAS1 | HAS_DEV1,
	 .body = body_copy, .dma_dev = 2)

NTH_TEST(unmap, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0 | HAS_MAP0,
	 .body = body_unmap, .verify = verify_unmap)

NTH_TEST(attach, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_MAP0,
	 .body = body_attach, .dma_dev = 1)

NTH_TEST(hwpt_create, SMALL, .retry = true,
	 .has = HAS_IOAS0 | HAS_DEV0 | HAS_IOAS1 | HAS_MAP1,
	 .body = body_hwpt, .verify = verify_hwpt, .dma_dev = 2)

NTH_TEST(replace, SMALL, .retry = true,
	 .has = HAS_IOAS0 | HAS_DEV0 | HAS_IOAS1 | HAS_MAP1,
	 .body = body_replace, .verify = verify_replace)

NTH_TEST(access_pin, SMALL, .retry = true,
	 .has = HAS_IOAS0 | HAS_MAP0 | HAS_ACCESS,
	 .body = body_access_pin, .verify = verify_access_pin)

NTH_TEST(access_rw, SMALL, .retry = true,
	 .has = HAS_IOAS0 | HAS_MAP0 | HAS_ACCESS,
	 .body = body_access_rw, .verify = verify_access_rw)

NTH_TEST(destroy, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0 | HAS_MAP0,
	 .body = body_destroy, .verify = verify_destroy)

NTH_TEST(detach, SMALL, .retry = true, .has = HAS_IOAS0 | HAS_DEV0 | HAS_MAP0,
	 .body = body_detach, .verify = verify_detach)

/* no rerun: after close() only the pins can be checked, from the 2nd file */
NTH_TEST(close, SMALL, .has = HAS_IOAS0 | HAS_DEV0 | HAS_MAP0,
	 .body = body_close)

TEST_HARNESS_MAIN
