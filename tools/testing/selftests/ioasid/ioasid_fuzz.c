// SPDX-License-Identifier: GPL-2.0-only
/*
 * A bounded random-ioctl fuzzer for /dev/ioasid.
 *
 * For IOASID_FUZZ_SECS seconds (60 by default; also ioasid_fuzz_secs=N on
 * the kernel command line) FUZZ_THREADS threads throw commands at three
 * surfaces at once:
 *
 *  - /dev/ioasid itself: every command of <linux/ioasid.h> and the
 *    operations of the test ioctl (mock devices, accesses, ...);
 *  - the VFIO type1 container ioctls a /dev/ioasid file answers, made live
 *    by setting the edu device's VFIO group to one of the files;
 *  - the VFIO device cdev of the edu device: bind, attach, detach, close.
 *
 * The arguments mix real objects (IDs the kernel returned, mmap()ed
 * buffers) with hostile values: odd argsz, unknown flags, stale and
 * foreign IDs, IOVAs at both ends of the address space, wrapping lengths,
 * bad pointers, oversized vectors. Files and objects are closed and
 * destroyed under the feet of other threads.
 *
 * The run is seeded; the seed is printed ("# seed N") and IOASID_FUZZ_SEED
 * (or ioasid_fuzz_seed=N on the command line) replays a thread's sequence.
 * IOASID_FUZZ_NOMIX=1 (ioasid_fuzz_nomix=1) keeps mock devices and the edu
 * device in different files.
 *
 * The test fails when a command returns an errno outside the set allowed
 * for it, or when anything stays charged or pinned afterwards: per file
 * (IOASID_TEST_CHARGES) once its mappings are gone, for the whole user
 * (RLIMIT_MEMLOCK probed with an unpinnable range), for the mm (VmLck) and
 * per page (IOASID_TEST_PIN_COUNT). Kernel splats are judged from the
 * console by the harness.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define FUZZ_SECS_DEFAULT	60
#define FUZZ_SECS_MAX		3600
#define FUZZ_THREADS		4
/* After the deadline, how long the threads may take to come back */
#define FUZZ_GRACE_SECS		60

#define NR_SLOTS		3	/* /dev/ioasid files shared by threads */
#define NR_IDS			32	/* IDs remembered per file */
#define NR_IOVAS		32	/* kernel-picked IOVAs remembered */

#define BUF_LEN			(256 * SZ_4K)	/* each of the small buffers */
#define NR_BUFS			3
#define THP_LEN			SZ_2M
#define HOLE_LEN		(4 * SZ_1M)	/* PROT_NONE: never pinnable */
#define ARENA_LEN		(2 * SZ_4K)	/* then one guard page */
#define VEC_MAX			(IOASID_MAP_MAX_RANGES + 1)
/* Kept low so that pinned memory and page tables stay small */
#define FUZZ_MEMLOCK		(16 * SZ_1M)

#define KERNEL_PTR		0xffff888000000000ULL
#define HOT_IOVA		SZ_1M
#define NR_ERRNO		136	/* the last slot takes anything larger */

/* Commands, as counted */
enum {
	C_DESTROY, C_OPTION, C_IOAS_CREATE, C_IOAS_INFO, C_IOAS_LIMIT,
	C_IOAS_MAP, C_IOAS_UNMAP, C_IOAS_COPY, C_HWPT_CREATE, C_VFIO_IOAS,
	C_T_MOCK, C_T_RESERVE, C_T_PINS, C_T_DMA, C_T_IOPTE, C_T_CHARGES,
	C_T_ACCESS, C_T_APIN, C_T_ARW, C_T_MOVE, C_T_BADOP, C_BAD_IOCTL,
	C_REOPEN, C_PASID, C_FEATURES, C_FAULTS, C_INVALIDATE, C_DEV_INFO,
	/* type1 */
	C_V_EXT, C_V_SET_IOMMU, C_V_INFO, C_V_MAP, C_V_UNMAP, C_V_DIRTY,
	C_V_GROUP,
	/* cdev */
	C_D_OPEN, C_D_BIND, C_D_ATTACH, C_D_DETACH,
	NR_CMDS,
	C_V_UNSET = NR_CMDS,	/* counted as C_V_GROUP */
};

enum surface { S_CORE, S_TYPE1, S_CDEV };

/* What an ID the kernel handed out names */
enum id_type { T_IOAS, T_HWPT, T_DEV, T_ACCESS, T_FAULTQ, NR_TYPES };

struct cmd_desc {
	const char *name;
	enum surface surface;
	unsigned int weight;
	/* errnos beyond the common ones, 0-terminated */
	int extra[10];
};

/*
 * What every command may return: its structure could not be read or was
 * malformed, memory ran out, a fatal signal cut it short.
 */
static const int common_errnos[] = {
	EFAULT, EINVAL, E2BIG, EOPNOTSUPP, ENOMEM, ENOTTY, EINTR, 0
};

static const struct cmd_desc cmds[NR_CMDS] = {
	[C_DESTROY] = { "OBJ_DESTROY", S_CORE, 8, { ENOENT, EBUSY, EPERM } },
	[C_OPTION] = { "OPTION", S_CORE, 3, { ENOENT, EBUSY } },
	[C_IOAS_CREATE] = { "IOAS_CREATE", S_CORE, 5, { EBUSY } },
	[C_IOAS_INFO] = { "IOAS_INFO", S_CORE, 3, { ENOENT, EMSGSIZE } },
	[C_IOAS_LIMIT] = { "IOAS_LIMIT", S_CORE, 3,
			   { ENOENT, EBUSY, EADDRINUSE } },
	[C_IOAS_MAP] = { "IOAS_MAP", S_CORE, 12,
			 { ENOENT, EOVERFLOW, EEXIST, EADDRINUSE, ENOSPC,
			   ERANGE } },
	[C_IOAS_UNMAP] = { "IOAS_UNMAP", S_CORE, 8,
			   { ENOENT, EOVERFLOW, EBUSY } },
	[C_IOAS_COPY] = { "IOAS_COPY", S_CORE, 6,
			  { ENOENT, EOVERFLOW, EEXIST, EADDRINUSE, ENOSPC,
			    EPERM, ERANGE } },
	[C_HWPT_CREATE] = { "HWPT_CREATE", S_CORE, 4,
			    { ENOENT, EBUSY, ENODEV, EPERM } },
	[C_VFIO_IOAS] = { "VFIO_IOAS", S_CORE, 3, { ENOENT, EBUSY } },
	[C_T_MOCK] = { "TEST_MOCK_DEVICE", S_CORE, 4,
		       { ENOENT, EBUSY, EADDRINUSE, ENODEV, EPERM } },
	[C_T_RESERVE] = { "TEST_RESERVE", S_CORE, 2, { ENOENT } },
	[C_T_PINS] = { "TEST_PIN_COUNT", S_CORE, 2, { 0 } },
	/* EIO: the device was blocked for faulting (DEVICE_FAULTS) */
	[C_T_DMA] = { "TEST_DMA", S_CORE, 4, { ENOENT, EOVERFLOW, EIO } },
	[C_T_IOPTE] = { "TEST_IOPTE", S_CORE, 2, { ENOENT } },
	[C_T_CHARGES] = { "TEST_CHARGES", S_CORE, 1, { 0 } },
	[C_T_ACCESS] = { "TEST_ACCESS_CREATE", S_CORE, 3, { ENOENT, EBUSY } },
	[C_T_APIN] = { "TEST_ACCESS_PIN", S_CORE, 4,
		       { ENOENT, EPERM, EOVERFLOW, EBUSY } },
	[C_T_ARW] = { "TEST_ACCESS_RW", S_CORE, 3,
		      { ENOENT, EPERM, EOVERFLOW } },
	[C_T_MOVE] = { "TEST_MOCK_MOVE", S_CORE, 4,
		       { ENOENT, EBUSY, EADDRINUSE } },
	[C_T_BADOP] = { "TEST_BAD_OP", S_CORE, 1, { 0 } },
	[C_BAD_IOCTL] = { "BAD_IOCTL", S_CORE, 1, { 0 } },
	[C_REOPEN] = { "CLOSE_REOPEN", S_CORE, 1, { 0 } },
	[C_PASID] = { "PASID_ALLOC_FREE", S_CORE, 3,
		      { ENOENT, EDQUOT, ENOSPC, EEXIST } },
	[C_FEATURES] = { "DEVICE_FEATURES", S_CORE, 1, { ENOENT, EPERM } },
	[C_FAULTS] = { "FAULT_QUEUE_DEVICE_FAULTS", S_CORE, 2,
		       { ENOENT, EBUSY, EMFILE } },
	[C_INVALIDATE] = { "HWPT_INVALIDATE", S_CORE, 2,
			   { ENOENT, EOVERFLOW } },
	[C_DEV_INFO] = { "DEVICE_INFO", S_CORE, 1, { ENOENT } },
	[C_V_EXT] = { "VFIO_CHECK_EXTENSION", S_TYPE1, 1, { 0 } },
	[C_V_SET_IOMMU] = { "VFIO_SET_IOMMU", S_TYPE1, 2,
			    { ENODEV, EBUSY } },
	[C_V_INFO] = { "VFIO_IOMMU_GET_INFO", S_TYPE1, 2, { 0 } },
	[C_V_MAP] = { "VFIO_IOMMU_MAP_DMA", S_TYPE1, 5,
		      { EEXIST, ENOSPC, ENOENT, EBUSY } },
	[C_V_UNMAP] = { "VFIO_IOMMU_UNMAP_DMA", S_TYPE1, 4,
			{ EBUSY, ENOENT } },
	[C_V_DIRTY] = { "VFIO_IOMMU_DIRTY_PAGES", S_TYPE1, 2, { EACCES } },
	/* EADDRINUSE: the VFIO IOAS maps a reserved region of the group */
	[C_V_GROUP] = { "VFIO_GROUP_*", S_TYPE1, 3,
			{ EBUSY, EBADF, EPERM, ENODEV, ENOENT, EADDRINUSE } },
	[C_D_OPEN] = { "CDEV_OPEN_CLOSE", S_CDEV, 1, { EBUSY } },
	[C_D_BIND] = { "CDEV_BIND", S_CDEV, 3,
		       { EBADF, EBUSY, EPERM, ENODEV, ENOENT } },
	[C_D_ATTACH] = { "CDEV_ATTACH", S_CDEV, 3,
			 { ENOENT, EBUSY, EADDRINUSE } },
	[C_D_DETACH] = { "CDEV_DETACH", S_CDEV, 2, { 0 } },
};

struct fz_thread {
	int idx;
	pthread_t thread;
	__u64 rng;
	char *arena;		/* ARENA_LEN bytes, then a guard page */
	void *vec;		/* VEC_MAX map ranges */
	unsigned long ops;
	unsigned long hist[NR_CMDS][NR_ERRNO];
};

static struct {
	unsigned int secs;
	__u64 seed;
	int stop;
	bool has_test, has_group, has_cdev;
	/*
	 * IOASID_FUZZ_NOMIX=1 (ioasid_fuzz_nomix=1): never put mock devices
	 * and the edu device in one file, to fuzz on past a kernel that
	 * attaches a device to a HWPT of another IOMMU's domain.
	 */
	bool nomix;

	int slot[NR_SLOTS];
	__u32 ids[NR_SLOTS][NR_TYPES][NR_IDS];
	unsigned int id_pos[NR_SLOTS][NR_TYPES];
	__u64 iovas[NR_IOVAS];
	unsigned int iova_pos;

	char bdf[32];
	char cdev[PATH_MAX];
	int cdev_fd;		/* always a cdev file, replaced with dup2() */
	int group_fd;

	char *buf[NR_BUFS];
	char *thp;
	char *robuf;		/* read-only: a writable pin fails */
	char *hole;		/* PROT_NONE */

	struct bad_log log;
	struct fz_thread th[FUZZ_THREADS];
} fz;

/* Random numbers ----------------------------------------------------- */

static __u64 rnd(struct fz_thread *t)
{
	/* xorshift64* */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static unsigned int rnd_below(struct fz_thread *t, unsigned int n)
{
	return (unsigned int)(rnd(t) >> 32) % n;
}

/* True with probability @pct percent */
static bool chance(struct fz_thread *t, unsigned int pct)
{
	return rnd_below(t, 100) < pct;
}

/* Remembered values -------------------------------------------------- */

static void remember_id(int slot, enum id_type type, __u32 id)
{
	unsigned int pos = __atomic_fetch_add(&fz.id_pos[slot][type], 1,
					      __ATOMIC_RELAXED);

	__atomic_store_n(&fz.ids[slot][type][pos % NR_IDS], id,
			 __ATOMIC_RELAXED);
}

static void remember_iova(__u64 iova)
{
	unsigned int pos = __atomic_fetch_add(&fz.iova_pos, 1,
					      __ATOMIC_RELAXED);

	__atomic_store_n(&fz.iovas[pos % NR_IOVAS], iova, __ATOMIC_RELAXED);
}

static __u32 known_id(struct fz_thread *t, int slot, enum id_type type)
{
	return __atomic_load_n(&fz.ids[slot][type][rnd_below(t, NR_IDS)],
			       __ATOMIC_RELAXED);
}

/*
 * An object ID: mostly one the kernel gave out for an object of @type
 * (NR_TYPES: any), else anything
 */
static __u32 rnd_id_of(struct fz_thread *t, int slot, enum id_type type)
{
	unsigned int r = rnd_below(t, 100);

	if (type == NR_TYPES || r >= 50)
		type = rnd_below(t, NR_TYPES);
	else
		return known_id(t, slot, type);
	if (r < 70)
		return known_id(t, slot, type);
	if (r < 75)	/* another file's */
		return known_id(t, rnd_below(t, NR_SLOTS), type);
	if (r < 85)
		return rnd_below(t, 24);
	if (r < 88)
		return known_id(t, slot, type) + 1;
	if (r < 90)
		return 0;
	if (r < 95)
		return ~0U;
	return (__u32)rnd(t);
}

static __u32 rnd_id(struct fz_thread *t, int slot)
{
	return rnd_id_of(t, slot, NR_TYPES);
}

static __u32 rnd_ioas(struct fz_thread *t, int slot)
{
	return rnd_id_of(t, slot, T_IOAS);
}

static int rnd_slot(struct fz_thread *t)
{
	return rnd_below(t, NR_SLOTS);
}

/* Addresses and lengths ---------------------------------------------- */

static __u64 rnd_pages(struct fz_thread *t, unsigned int max)
{
	return (__u64)(1 + rnd_below(t, max)) * SZ_4K;
}

/*
 * A user address for @len bytes: mostly inside a real buffer, else one
 * the kernel must refuse.
 */
static __u64 rnd_uaddr(struct fz_thread *t, __u64 len)
{
	unsigned int r = rnd_below(t, 100);
	char *base;
	__u64 span;

	if (r < 62) {
		if (chance(t, 20)) {
			base = fz.thp;
			span = THP_LEN;
		} else {
			base = fz.buf[rnd_below(t, NR_BUFS)];
			span = BUF_LEN;
		}
		if (len > span || !len)
			return (uintptr_t)base;
		return (uintptr_t)base +
		       rnd_below(t, (span - len) / SZ_4K + 1) * SZ_4K;
	}
	if (r < 68)
		return (uintptr_t)fz.robuf;
	if (r < 74)
		return 0;
	if (r < 80)
		return (uintptr_t)fz.hole + rnd_below(t, HOLE_LEN / SZ_4K) * SZ_4K;
	if (r < 85)
		return KERNEL_PTR + rnd_below(t, 1024) * SZ_4K;
	if (r < 90)
		return (uintptr_t)fz.buf[0] + 1 + rnd_below(t, SZ_4K - 1);
	if (r < 95)
		return 0x7ffffffff000ULL - rnd_below(t, 4) * SZ_4K;
	return rnd(t);
}

/* A user pointer to a structure the kernel reads or writes */
static void *rnd_ptr(struct fz_thread *t, void *good)
{
	unsigned int r = rnd_below(t, 100);

	if (r < 85)
		return good;
	if (r < 89)
		return NULL;
	if (r < 93)
		return fz.hole;
	if (r < 96)
		return (void *)(uintptr_t)KERNEL_PTR;
	if (r < 98)
		return fz.robuf;	/* readable, not writable */
	return (void *)(uintptr_t)rnd(t);
}

static __u64 rnd_iova(struct fz_thread *t)
{
	unsigned int r = rnd_below(t, 100);

	if (r < 40)
		return HOT_IOVA + rnd_below(t, 64) * SZ_4K;
	if (r < 50)
		return __atomic_load_n(&fz.iovas[rnd_below(t, NR_IOVAS)],
				       __ATOMIC_RELAXED);
	if (r < 56)
		return 0;
	if (r < 62)
		return 0ULL - (__u64)(1 + rnd_below(t, 4)) * SZ_4K;
	if (r < 68)
		return MOCK_APERTURE_LAST + 1 -
		       (__u64)rnd_below(t, 4) * SZ_4K;
	if (r < 72)
		return 0xfee00000ULL + rnd_below(t, 256) * SZ_4K;
	if (r < 82)
		return rnd(t) & ~(SZ_4K - 1) &
		       ((1ULL << (rnd_below(t, 63) + 1)) - 1);
	if (r < 90)
		return HOT_IOVA + 1 + rnd_below(t, SZ_4K - 1);
	return rnd(t);
}

/* A length, for @iova when it matters */
static __u64 rnd_len(struct fz_thread *t, __u64 iova)
{
	unsigned int r = rnd_below(t, 100);

	if (r < 55)
		return rnd_pages(t, 16);
	if (r < 63)
		return rnd_pages(t, BUF_LEN / SZ_4K);
	if (r < 68)
		return 0;
	if (r < 73)
		return 0ULL - iova;		/* exactly to the top */
	if (r < 78)
		return 0ULL - iova + SZ_4K;	/* wraps */
	if (r < 83)
		return ~0ULL;
	if (r < 88)
		return 1 + rnd_below(t, SZ_4K - 1);
	if (r < 93)
		return SZ_4K + 1;
	/*
	 * Page-aligned, absurdly large, but not wrapping. Kept at 16G and
	 * below: the kernel allocates the page array of a map before it
	 * charges it, 8 bytes a page, and more would strain the guest.
	 */
	return 1ULL << (30 + rnd_below(t, 5));
}

/* argsz of a structure of @size bytes */
static __u32 rnd_argsz(struct fz_thread *t, __u32 size)
{
	unsigned int r = rnd_below(t, 100);

	if (r < 82)
		return size;
	if (r < 85)
		return 0;
	if (r < 88)
		return size - 4;
	if (r < 91)
		return size + 8;	/* zero tail: accepted */
	if (r < 94)
		return ARENA_LEN;	/* reads up to the guard */
	if (r < 96)
		return ARENA_LEN + 64;	/* runs into the guard */
	if (r < 98)
		return ~0U;
	return (__u32)rnd(t);
}

/*
 * Where a command's structure goes: the start of the thread's zeroed
 * arena, or (rarely) its very end, right before the guard page, so that
 * any byte read past the structure faults. A few junk bytes may follow a
 * structure at the start, which the kernel must refuse as E2BIG when
 * argsz covers them.
 */
static void *arg_place(struct fz_thread *t, size_t size)
{
	memset(t->arena, 0, ARENA_LEN);
	if (chance(t, 3))
		return t->arena + ARENA_LEN - ((size + 7) & ~7UL);
	if (chance(t, 3))
		t->arena[size + 8 + rnd_below(t, 64)] = 1;
	return t->arena;
}

/* Flags: mostly @good, sometimes unknown bits */
static __u32 rnd_flags(struct fz_thread *t, __u32 good)
{
	if (chance(t, 88))
		return good;
	if (chance(t, 50))
		return good | (1U << rnd_below(t, 32));
	return (__u32)rnd(t);
}

/* Running commands --------------------------------------------------- */

#define fz_bad(...)	bad_log_add(&fz.log, __VA_ARGS__)

static bool errno_allowed(int cmd, int e)
{
	const int *p;

	if (!e)
		return true;
	for (p = common_errnos; *p; p++)
		if (*p == e)
			return true;
	for (p = cmds[cmd].extra; *p; p++)
		if (*p == e)
			return true;
	return false;
}

/*
 * Count the result of command @cmd: @ret is ioctl()'s return, errno in
 * @err. @what describes the arguments for the report.
 */
static void account(struct fz_thread *t, int cmd, long ret, int err,
		    const char *what)
{
	int e = ret < 0 ? err : 0;

	t->ops++;
	t->hist[cmd][e < NR_ERRNO - 1 ? e : NR_ERRNO - 1]++;
	if (!errno_allowed(cmd, e))
		fz_bad("%s returned %s (%s)", cmds[cmd].name, errname(e),
		       what);
}

static long do_ioctl(int fd, unsigned long nr, void *arg, int *err)
{
	long ret = ioctl(fd, nr, arg);

	*err = ret < 0 ? errno : 0;
	return ret;
}

/* /dev/ioasid -------------------------------------------------------- */

static void op_destroy(struct fz_thread *t, int s)
{
	struct ioasid_obj_destroy *a = arg_place(t, sizeof(*a));
	char what[96];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->obj_id = rnd_id(t, s);
	snprintf(what, sizeof(what), "argsz %u flags %#x id %u", a->argsz,
		 a->flags, a->obj_id);
	ret = do_ioctl(fz.slot[s], IOASID_OBJ_DESTROY, rnd_ptr(t, a), &err);
	account(t, C_DESTROY, ret, err, what);
}

static void op_option(struct fz_thread *t, int s)
{
	struct ioasid_option *a = arg_place(t, sizeof(*a));
	char what[128];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, chance(t, 50) ? IOASID_OPTION_WRITE : 0);
	a->key = chance(t, 90) ? 1 + rnd_below(t, 2) : rnd_below(t, 8);
	a->obj_id = chance(t, 40) ? 0 : rnd_id(t, s);
	a->value = chance(t, 85) ? rnd_below(t, 2) : rnd(t);
	snprintf(what, sizeof(what), "flags %#x key %u obj %u value %llu",
		 a->flags, a->key, a->obj_id, (unsigned long long)a->value);
	ret = do_ioctl(fz.slot[s], IOASID_OPTION, rnd_ptr(t, a), &err);
	account(t, C_OPTION, ret, err, what);
}

static void op_ioas_create(struct fz_thread *t, int s)
{
	struct ioasid_ioas_create *a = arg_place(t, sizeof(*a));
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->__rsvd = chance(t, 95) ? 0 : 1;
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_CREATE, rnd_ptr(t, a), &err);
	if (!ret)
		remember_id(s, T_IOAS, a->out_ioas_id);
	account(t, C_IOAS_CREATE, ret, err, "");
}

static void op_ioas_info(struct fz_thread *t, int s)
{
	struct ioasid_ioas_info *a = arg_place(t, sizeof(*a));
	struct ioasid_iova_range *r = t->vec;
	char what[96];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->ioas_id = rnd_ioas(t, s);
	a->nr_ranges = chance(t, 70) ? rnd_below(t, 8) :
		       chance(t, 50) ? VEC_MAX : (__u32)rnd(t);
	a->ranges = (uintptr_t)rnd_ptr(t, r);
	snprintf(what, sizeof(what), "id %u nr %u ranges %#llx", a->ioas_id,
		 a->nr_ranges, (unsigned long long)a->ranges);
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_INFO, rnd_ptr(t, a), &err);
	account(t, C_IOAS_INFO, ret, err, what);
}

static void op_ioas_limit(struct fz_thread *t, int s)
{
	struct ioasid_ioas_limit *a = arg_place(t, sizeof(*a));
	struct ioasid_iova_range *r = t->vec;
	unsigned int i, n = rnd_below(t, 4);
	char what[96];
	long ret;
	int err;

	for (i = 0; i < n; i++) {
		switch (rnd_below(t, 5)) {
		case 0:		/* most of the space */
			r[i].first = 0;
			r[i].last = MOCK_APERTURE_LAST;
			break;
		case 1:		/* the hot IOVAs */
			r[i].first = HOT_IOVA;
			r[i].last = HOT_IOVA + 64 * SZ_4K - 1;
			break;
		case 2:		/* reversed */
			r[i].first = rnd_iova(t);
			r[i].last = r[i].first - SZ_4K;
			break;
		case 3:		/* up to the very top */
			r[i].first = 1ULL << 32;
			r[i].last = ~0ULL;
			break;
		default:
			r[i].first = rnd_iova(t);
			r[i].last = r[i].first + rnd_len(t, r[i].first) - 1;
		}
	}
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->ioas_id = rnd_ioas(t, s);
	a->nr_ranges = chance(t, 95) ? n : (__u32)rnd(t);
	a->ranges = (uintptr_t)rnd_ptr(t, r);
	snprintf(what, sizeof(what), "id %u nr %u", a->ioas_id, a->nr_ranges);
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_LIMIT, rnd_ptr(t, a), &err);
	account(t, C_IOAS_LIMIT, ret, err, what);
}

static void gen_map_range(struct fz_thread *t, struct ioasid_map_range *r)
{
	bool fixed = chance(t, 50);

	memset(r, 0, sizeof(*r));
	if (chance(t, 50)) {
		/* a valid one */
		r->length = rnd_pages(t, 16);
		r->uaddr = (uintptr_t)fz.buf[rnd_below(t, NR_BUFS)] +
			   rnd_below(t, BUF_LEN / SZ_4K - 16) * SZ_4K;
		r->iova = fixed ? HOT_IOVA + rnd_below(t, 64) * SZ_4K : 0;
		r->prot = 1 + rnd_below(t, 3);
		r->flags = fixed ? IOASID_MAP_FIXED : 0;
		return;
	}
	r->length = chance(t, 85) ? rnd_pages(t, 16) : rnd_len(t, 0);
	r->uaddr = rnd_uaddr(t, r->length);
	if (fixed) {
		r->iova = rnd_iova(t);
		if (chance(t, 20))
			r->length = rnd_len(t, r->iova);
	}
	r->prot = chance(t, 90) ? 1 + rnd_below(t, 3) : rnd_below(t, 8);
	r->flags = rnd_flags(t, fixed ? IOASID_MAP_FIXED : 0);
}

static __u32 rnd_nr(struct fz_thread *t)
{
	unsigned int r = rnd_below(t, 100);

	if (r < 65)
		return 1;
	if (r < 85)
		return 2 + rnd_below(t, 7);
	if (r < 89)
		return IOASID_MAP_MAX_RANGES;
	if (r < 93)
		return IOASID_MAP_MAX_RANGES + 1;
	if (r < 96)
		return 0;
	return (__u32)rnd(t);
}

static void op_ioas_map(struct fz_thread *t, int s)
{
	struct ioasid_ioas_map *a;
	struct ioasid_map_range *r = t->vec;
	__u32 i, nr = chance(t, 40) ? 1 : rnd_nr(t);
	__u32 fill = nr < VEC_MAX ? nr : VEC_MAX;
	char what[192];
	long ret;
	int err;

	/* A long vector repeats a few ranges: 16M of pins at most */
	for (i = 0; i < fill; i++) {
		if (i < 8)
			gen_map_range(t, &r[i]);
		else
			r[i] = r[i % 8];
	}
	a = arg_place(t, sizeof(*a));
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->__rsvd = chance(t, 97) ? 0 : 1;
	a->ioas_id = rnd_ioas(t, s);
	a->nr_ranges = nr;
	a->ranges = (uintptr_t)rnd_ptr(t, r);
	snprintf(what, sizeof(what),
		 "id %u nr %u r0 {uaddr %#llx len %#llx iova %#llx prot %u flags %#x}",
		 a->ioas_id, nr, (unsigned long long)r[0].uaddr,
		 (unsigned long long)r[0].length,
		 (unsigned long long)r[0].iova, r[0].prot, r[0].flags);
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_MAP, rnd_ptr(t, a), &err);
	if (!ret && a->ranges == (uintptr_t)r)
		remember_iova(r[rnd_below(t, fill)].iova);
	account(t, C_IOAS_MAP, ret, err, what);
}

static void op_ioas_unmap(struct fz_thread *t, int s)
{
	struct ioasid_ioas_unmap *a;
	struct ioasid_iova_range *r = t->vec;
	__u32 i, nr = rnd_nr(t), fill = nr < VEC_MAX ? nr : VEC_MAX;
	char what[160];
	long ret;
	int err;

	for (i = 0; i < fill; i++) {
		if (i >= 8) {
			r[i] = r[i % 8];
			continue;
		}
		r[i].first = rnd_iova(t);
		switch (rnd_below(t, 6)) {
		case 0:
			r[i].last = ~0ULL;
			break;
		case 1:
			r[i].last = r[i].first - 1;	/* reversed or wrapped */
			break;
		case 2:
			r[i].first = 0;
			r[i].last = ~0ULL;
			break;
		default:
			r[i].last = r[i].first + rnd_len(t, r[i].first) - 1;
		}
	}
	a = arg_place(t, sizeof(*a));
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->ioas_id = rnd_ioas(t, s);
	a->__rsvd = chance(t, 97) ? 0 : 1;
	if (chance(t, 15)) {
		a->flags = rnd_flags(t, IOASID_UNMAP_EVERYTHING);
		if (chance(t, 10)) {
			a->nr_ranges = nr;
			a->ranges = (uintptr_t)r;
		}
	} else {
		a->flags = rnd_flags(t, 0);
		a->nr_ranges = nr;
		a->ranges = (uintptr_t)rnd_ptr(t, r);
	}
	snprintf(what, sizeof(what),
		 "id %u flags %#x nr %u r0 [%#llx, %#llx]", a->ioas_id,
		 a->flags, a->nr_ranges, (unsigned long long)r[0].first,
		 (unsigned long long)r[0].last);
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_UNMAP, rnd_ptr(t, a), &err);
	account(t, C_IOAS_UNMAP, ret, err, what);
}

static void op_ioas_copy(struct fz_thread *t, int s)
{
	struct ioasid_ioas_copy *a = arg_place(t, sizeof(*a));
	bool fixed = chance(t, 50);
	char what[192];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, fixed ? IOASID_MAP_FIXED : 0);
	a->src_iova = chance(t, 30) ?
		      __atomic_load_n(&fz.iovas[rnd_below(t, NR_IOVAS)],
				      __ATOMIC_RELAXED) : rnd_iova(t);
	a->dst_iova = fixed ? rnd_iova(t) : 0;
	a->length = chance(t, 50) ? SZ_4K : rnd_len(t, a->src_iova);
	a->src_ioas_id = rnd_ioas(t, s);
	a->dst_ioas_id = chance(t, 30) ? a->src_ioas_id : rnd_ioas(t, s);
	a->prot = chance(t, 90) ? 1 + rnd_below(t, 3) : rnd_below(t, 8);
	a->__rsvd = chance(t, 97) ? 0 : 1;
	snprintf(what, sizeof(what),
		 "src %u:%#llx dst %u:%#llx len %#llx flags %#x prot %u",
		 a->src_ioas_id, (unsigned long long)a->src_iova,
		 a->dst_ioas_id, (unsigned long long)a->dst_iova,
		 (unsigned long long)a->length, a->flags, a->prot);
	ret = do_ioctl(fz.slot[s], IOASID_IOAS_COPY, rnd_ptr(t, a), &err);
	if (!ret)
		remember_iova(a->dst_iova);
	account(t, C_IOAS_COPY, ret, err, what);
}

/* Nested: a mock stage 1 over a HWPT, its root somewhere near HOT_IOVA */
static void hwpt_create_nested(struct fz_thread *t, int s,
			       struct ioasid_hwpt_create *a,
			       struct ioasid_test_s1_hwpt *data)
{
	data->root_gpa = chance(t, 90) ? HOT_IOVA + SZ_4K * rnd_below(t, 16) :
					 rnd_iova(t);
	data->flags = chance(t, 97) ? 0 : 1;
	a->parent_id = rnd_id_of(t, s, T_HWPT);
	a->data_uptr = (uintptr_t)rnd_ptr(t, data);
	a->data_len = chance(t, 90) ? sizeof(*data) : rnd_below(t, 64);
	a->s1_format = chance(t, 90) ? IOASID_TEST_S1_FORMAT : rnd_below(t, 70);
}

static void op_hwpt_create(struct fz_thread *t, int s)
{
	struct ioasid_hwpt_create *a = arg_place(t, sizeof(*a));
	struct ioasid_test_s1_hwpt data;
	char what[96];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, chance(t, 30) ? IOASID_HWPT_NEST_PARENT : 0);
	a->kind = chance(t, 60) ? IOASID_HWPT_PAGING :
		  chance(t, 90) ? IOASID_HWPT_NESTED : rnd_below(t, 4);
	a->dev_id = rnd_id_of(t, s, T_DEV);
	a->parent_id = rnd_ioas(t, s);
	if (a->kind == IOASID_HWPT_NESTED)
		hwpt_create_nested(t, s, a, &data);
	a->__reserved = chance(t, 97) ? 0 : 1;
	snprintf(what, sizeof(what), "kind %u flags %#x dev %u parent %u",
		 a->kind, a->flags, a->dev_id, a->parent_id);
	ret = do_ioctl(fz.slot[s], IOASID_HWPT_CREATE, rnd_ptr(t, a), &err);
	if (!ret)
		remember_id(s, T_HWPT, a->out_hwpt_id);
	account(t, C_HWPT_CREATE, ret, err, what);
}

/* Stage-1 invalidations, good and bad, on any HWPT */
static void op_invalidate(struct fz_thread *t, int s)
{
	struct ioasid_hwpt_invalidate *a = arg_place(t, sizeof(*a));
	struct ioasid_test_s1_inv inv[4] = {};
	char what[96];
	unsigned int i;
	long ret;
	int err;

	for (i = 0; i < ARRAY_SIZE(inv); i++) {
		inv[i].flags = chance(t, 20) ? IOASID_TEST_S1_INV_ALL :
			       rnd_flags(t, 0);
		if (inv[i].flags)
			continue;
		inv[i].iova = chance(t, 90) ? HOT_IOVA : rnd_iova(t);
		inv[i].length = chance(t, 80) ? SZ_4K : rnd_len(t, inv[i].iova);
		inv[i].__reserved = chance(t, 97) ? 0 : 1;
	}
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->entries_uptr = (uintptr_t)rnd_ptr(t, inv);
	a->hwpt_id = rnd_id_of(t, s, T_HWPT);
	a->entry_len = chance(t, 90) ? sizeof(inv[0]) : rnd_below(t, 64);
	a->entry_num = chance(t, 95) ? rnd_below(t, ARRAY_SIZE(inv) + 1) :
		       (__u32)rnd(t);
	/* Entries past the array must not be read from the stack. */
	if (a->entry_num > ARRAY_SIZE(inv) && a->entry_len &&
	    a->entry_num <= IOASID_INVALIDATE_MAX)
		a->entries_uptr = (uintptr_t)fz.hole;
	snprintf(what, sizeof(what), "hwpt %u len %u num %u", a->hwpt_id,
		 a->entry_len, a->entry_num);
	ret = do_ioctl(fz.slot[s], IOASID_HWPT_INVALIDATE, rnd_ptr(t, a),
		       &err);
	account(t, C_INVALIDATE, ret, err, what);
}

static void op_dev_info(struct fz_thread *t, int s)
{
	struct ioasid_device_info *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->dev_id = rnd_id_of(t, s, T_DEV);
	snprintf(what, sizeof(what), "dev %u", a->dev_id);
	ret = do_ioctl(fz.slot[s], IOASID_DEVICE_INFO, rnd_ptr(t, a), &err);
	account(t, C_DEV_INFO, ret, err, what);
}

/* PASIDs: allocate (any, in a device's width, fixed) or free one */
static void op_pasid(struct fz_thread *t, int s)
{
	struct ioasid_pasid_alloc *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	if (chance(t, 40)) {
		struct ioasid_pasid_free *f = (void *)a;

		f->argsz = rnd_argsz(t, sizeof(*f));
		f->flags = rnd_flags(t, 0);
		f->pasid = chance(t, 80) ? 1 + rnd_below(t, 64) : (__u32)rnd(t);
		f->__rsvd = chance(t, 97) ? 0 : 1;
		snprintf(what, sizeof(what), "free %u", f->pasid);
		ret = do_ioctl(fz.slot[s], IOASID_PASID_FREE, rnd_ptr(t, f),
			       &err);
	} else {
		a->argsz = rnd_argsz(t, sizeof(*a));
		a->flags = rnd_flags(t, chance(t, 50) ? IOASID_PASID_FIXED : 0);
		a->dev_id = chance(t, 50) ? 0 : rnd_id_of(t, s, T_DEV);
		a->pasid = chance(t, 80) ? 1 + rnd_below(t, 64) : (__u32)rnd(t);
		snprintf(what, sizeof(what), "alloc %#x dev %u pasid %u",
			 a->flags, a->dev_id, a->pasid);
		ret = do_ioctl(fz.slot[s], IOASID_PASID_ALLOC, rnd_ptr(t, a),
			       &err);
	}
	account(t, C_PASID, ret, err, what);
}

/* PCI features of a bound device: mock devices and edu have none */
static void op_features(struct fz_thread *t, int s)
{
	struct ioasid_device_features *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, IOASID_DEVICE_FEATURES_SET);
	a->dev_id = rnd_id_of(t, s, T_DEV);
	a->features = chance(t, 80) ? 0 : (__u32)rnd(t);
	snprintf(what, sizeof(what), "dev %u features %#x", a->dev_id,
		 a->features);
	ret = do_ioctl(fz.slot[s], IOASID_DEVICE_FEATURES, rnd_ptr(t, a),
		       &err);
	account(t, C_FEATURES, ret, err, what);
}

/*
 * Fault queues: allocate one (its file is read without waiting and closed
 * at once, so the object can go), or point a device's unrecoverable
 * faults at one, stop, unblock or query.
 */
static void op_faults(struct fz_thread *t, int s)
{
	struct ioasid_fault_queue_alloc *q;
	struct ioasid_device_faults *f;
	struct ioasid_fault rec[2];
	char what[64];
	long ret;
	int err;

	if (chance(t, 40)) {
		q = arg_place(t, sizeof(*q));
		q->argsz = rnd_argsz(t, sizeof(*q));
		q->flags = rnd_flags(t, 0);
		q->depth = chance(t, 80) ? rnd_below(t, 64) : (__u32)rnd(t);
		snprintf(what, sizeof(what), "queue depth %u", q->depth);
		ret = do_ioctl(fz.slot[s], IOASID_FAULT_QUEUE_ALLOC,
			       rnd_ptr(t, q), &err);
		if (!ret && q->out_fault_fd > 2 && q->out_fault_id) {
			remember_id(s, T_FAULTQ, q->out_fault_id);
			ssize_t n;

			fcntl(q->out_fault_fd, F_SETFL, O_NONBLOCK);
			n = read(q->out_fault_fd, rec, sizeof(rec));
			(void)n;	/* usually EAGAIN: nothing faulted */
			close(q->out_fault_fd);
		}
	} else {
		static const __u32 ops[] = {
			0, IOASID_DEVICE_FAULTS_REPORT,
			IOASID_DEVICE_FAULTS_STOP,
			IOASID_DEVICE_FAULTS_UNBLOCK,
		};

		f = arg_place(t, sizeof(*f));
		f->argsz = rnd_argsz(t, sizeof(*f));
		f->flags = chance(t, 90) ? ops[rnd_below(t, 4)] : (__u32)rnd(t);
		f->dev_id = rnd_id_of(t, s, T_DEV);
		f->fault_id = rnd_id_of(t, s, T_FAULTQ);
		f->rate = rnd_below(t, 4);
		f->block_after = chance(t, 90) ? 0 : rnd_below(t, 8);
		snprintf(what, sizeof(what), "device faults %#x dev %u q %u",
			 f->flags, f->dev_id, f->fault_id);
		ret = do_ioctl(fz.slot[s], IOASID_DEVICE_FAULTS,
			       rnd_ptr(t, f), &err);
	}
	account(t, C_FAULTS, ret, err, what);
}

static void op_vfio_ioas(struct fz_thread *t, int s)
{
	struct ioasid_vfio_ioas *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->op = chance(t, 90) ? 1 + rnd_below(t, 3) : rnd_below(t, 8);
	a->ioas_id = rnd_ioas(t, s);
	snprintf(what, sizeof(what), "op %u id %u", a->op, a->ioas_id);
	ret = do_ioctl(fz.slot[s], IOASID_VFIO_IOAS, rnd_ptr(t, a), &err);
	if (!ret && a->op == IOASID_VFIO_IOAS_QUERY)
		remember_id(s, T_IOAS, a->ioas_id);
	account(t, C_VFIO_IOAS, ret, err, what);
}

/* One operation of IOASID_TEST; @cmd is how it is counted */
static void op_test(struct fz_thread *t, int s, int cmd)
{
	struct ioasid_test_cmd *a = arg_place(t, sizeof(*a));
	char what[160];
	long ret;
	int err;

	a->argsz = chance(t, 95) ? sizeof(*a) : rnd_argsz(t, sizeof(*a));
	a->flags = chance(t, 97) ? 0 : 1;
	a->__rsvd = chance(t, 97) ? 0 : 1;
	a->obj_id = rnd_id_of(t, s, T_DEV);
	switch (cmd) {
	case C_T_MOCK:
		a->op = IOASID_TEST_MOCK_DEVICE;
		a->obj_id = rnd_id_of(t, s, chance(t, 70) ? T_IOAS : T_HWPT);
		break;
	case C_T_RESERVE:
		a->op = IOASID_TEST_RESERVE;
		a->resv.first = rnd_iova(t);
		a->resv.last = chance(t, 80) ? a->resv.first + SZ_4K - 1 :
			       rnd_iova(t);
		break;
	case C_T_PINS:
		a->op = IOASID_TEST_PIN_COUNT;
		a->pins.length = rnd_len(t, 0);
		a->pins.uaddr = rnd_uaddr(t, a->pins.length);
		if (a->pins.length > BUF_LEN)
			a->pins.length = SZ_4K;
		a->pins.count = rnd_below(t, 3);
		break;
	case C_T_DMA:
		a->op = IOASID_TEST_DMA;
		a->dma.iova = rnd_iova(t);
		a->dma.length = chance(t, 80) ? 1 + rnd_below(t, 3 * SZ_4K) :
				rnd_len(t, a->dma.iova);
		a->dma.uaddr = chance(t, 80) ? (uintptr_t)fz.buf[1] :
			       rnd_uaddr(t, a->dma.length);
		if (a->dma.length > BUF_LEN)
			a->dma.length = chance(t, 50) ? BUF_LEN : ~0ULL;
		a->dma.dir = chance(t, 95) ? rnd_below(t, 2) : rnd_below(t, 9);
		break;
	case C_T_IOPTE:
		a->op = IOASID_TEST_IOPTE;
		a->obj_id = rnd_id_of(t, s, T_HWPT);
		a->iopte.iova = rnd_iova(t);
		break;
	case C_T_CHARGES:
		a->op = IOASID_TEST_CHARGES;
		break;
	case C_T_ACCESS:
		a->op = IOASID_TEST_ACCESS_CREATE;
		a->obj_id = rnd_ioas(t, s);
		break;
	case C_T_APIN:
		a->op = IOASID_TEST_ACCESS_PIN;
		a->obj_id = rnd_id_of(t, s, T_ACCESS);
		a->access.iova = rnd_iova(t);
		a->access.length = chance(t, 80) ? rnd_pages(t, 8) :
				   rnd_len(t, a->access.iova);
		break;
	case C_T_ARW:
		a->op = IOASID_TEST_ACCESS_RW;
		a->obj_id = rnd_id_of(t, s, T_ACCESS);
		a->access.iova = rnd_iova(t);
		a->access.length = chance(t, 80) ? 1 + rnd_below(t, 3 * SZ_4K) :
				   rnd_len(t, a->access.iova);
		if (a->access.length > BUF_LEN)
			a->access.length = chance(t, 50) ? SZ_1M : SZ_1M + 1;
		a->access.uaddr = chance(t, 80) ? (uintptr_t)fz.buf[2] :
				  rnd_uaddr(t, a->access.length);
		a->access.dir = chance(t, 95) ? rnd_below(t, 2) :
				rnd_below(t, 9);
		break;
	case C_T_MOVE:
		a->op = IOASID_TEST_MOCK_MOVE;
		a->move.pt_id = rnd_id_of(t, s, chance(t, 60) ? T_IOAS : T_HWPT);
		break;
	default:
		a->op = chance(t, 50) ? rnd_below(t, IOASID_TEST_MOCK_DEVICE) :
			IOASID_TEST_OP_END +
			rnd_below(t, 0x10000 - IOASID_TEST_OP_END);
	}
	snprintf(what, sizeof(what),
		 "op %#x obj %u args %#llx %#llx %#llx", a->op, a->obj_id,
		 (unsigned long long)a->dma.iova,
		 (unsigned long long)a->dma.uaddr,
		 (unsigned long long)a->dma.length);
	ret = do_ioctl(fz.slot[s], IOASID_TEST, rnd_ptr(t, a), &err);
	if (!ret) {
		if (cmd == C_T_MOCK) {
			remember_id(s, T_DEV, a->mock.out_dev_id);
			remember_id(s, T_HWPT, a->mock.out_hwpt_id);
		} else if (cmd == C_T_ACCESS) {
			remember_id(s, T_ACCESS, a->access.out_access_id);
		} else if (cmd == C_T_MOVE) {
			remember_id(s, T_HWPT, a->move.out_hwpt_id);
		}
	}
	account(t, cmd, ret, err, what);
}

/* An ioctl number /dev/ioasid does not know, or a known one misencoded */
static void op_bad_ioctl(struct fz_thread *t, int s)
{
	unsigned int nr = rnd_below(t, 0x100);
	unsigned long cmd;
	char what[64];
	long ret;
	int err;

	switch (rnd_below(t, 3)) {
	case 0:
		cmd = _IO(IOASID_TYPE, nr);
		/* skip the known commands: they have ops of their own */
		if (nr <= IOASID_NR_OPTION ||
		    (nr >= IOASID_NR_IOAS_CREATE && nr <= IOASID_NR_IOAS_COPY) ||
		    nr == IOASID_NR_HWPT_CREATE || nr == IOASID_NR_VFIO_IOAS ||
		    nr == IOASID_NR_DEVICE_FEATURES ||
		    nr == IOASID_NR_DEVICE_FAULTS ||
		    nr == IOASID_NR_FAULT_QUEUE_ALLOC ||
		    nr == IOASID_NR_HWPT_INVALIDATE ||
		    nr == IOASID_NR_DEVICE_INFO ||
		    nr == IOASID_NR_PASID_ALLOC || nr == IOASID_NR_PASID_FREE ||
		    nr == IOASID_NR_TEST)
			cmd = _IO(IOASID_TYPE, 0xfe);
		break;
	case 1:		/* a known number with size and direction bits */
		cmd = _IOWR(IOASID_TYPE, IOASID_NR_IOAS_MAP,
			    struct ioasid_ioas_map);
		break;
	default:	/* another subsystem's */
		cmd = _IO(rnd_below(t, 0x100), nr);
		/* nor the VFS's own (FIOCLEX is _IO('T', 0x51), FIGETBSZ ...) */
		if (_IOC_TYPE(cmd) == VFIO_TYPE ||
		    _IOC_TYPE(cmd) == IOASID_TYPE || _IOC_TYPE(cmd) == 'T' ||
		    _IOC_TYPE(cmd) == 0)
			cmd = _IO(0x42, nr);
	}
	snprintf(what, sizeof(what), "cmd %#lx", cmd);
	ret = do_ioctl(fz.slot[s], cmd, arg_place(t, 64), &err);
	if (!ret || err != ENOTTY)
		fz_bad("BAD_IOCTL: %s returned %ld/%s, not ENOTTY", what, ret,
		       errname(err));
	account(t, C_BAD_IOCTL, ret, err, what);
}

/* Close a shared file under the other threads' feet: a fresh one replaces it */
static void op_reopen(struct fz_thread *t, int s)
{
	int fd = ioasid_open();
	long ret = 0;
	int err = 0;

	if (fd < 0) {
		ret = -1;
		err = -fd;
	} else {
		if (dup2(fd, fz.slot[s]) < 0) {
			ret = -1;
			err = errno;
		}
		close(fd);
	}
	account(t, C_REOPEN, ret, err, "open+dup2");
}

/* VFIO type1 --------------------------------------------------------- */

static void op_v_ext(struct fz_thread *t, int s)
{
	static const unsigned long exts[] = {
		VFIO_TYPE1_IOMMU, VFIO_SPAPR_TCE_IOMMU, VFIO_TYPE1v2_IOMMU,
		VFIO_DMA_CC_IOMMU, VFIO_EEH, VFIO_TYPE1_NESTING_IOMMU,
		VFIO_SPAPR_TCE_v2_IOMMU, VFIO_NOIOMMU_IOMMU, VFIO_UNMAP_ALL,
		VFIO_UPDATE_VADDR, 0, 0xdead,
	};
	unsigned long arg = chance(t, 90) ?
			    exts[rnd_below(t, ARRAY_SIZE(exts))] : rnd(t);
	char what[32];
	long ret;
	int err;

	snprintf(what, sizeof(what), "ext %lu", arg);
	ret = do_ioctl(fz.slot[s], VFIO_CHECK_EXTENSION, (void *)arg, &err);
	if (ret > 1)
		fz_bad("VFIO_CHECK_EXTENSION(%lu) returned %ld", arg, ret);
	account(t, C_V_EXT, ret, err, what);
}

static void op_v_set_iommu(struct fz_thread *t, int s)
{
	static const unsigned long types[] = {
		VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_TYPE1v2_IOMMU,
		VFIO_TYPE1_NESTING_IOMMU, VFIO_UNMAP_ALL, VFIO_NOIOMMU_IOMMU,
		VFIO_SPAPR_TCE_IOMMU, 0, 0x77,
	};
	unsigned long arg = types[rnd_below(t, ARRAY_SIZE(types))];
	char what[32];
	long ret;
	int err;

	snprintf(what, sizeof(what), "type %lu", arg);
	ret = do_ioctl(fz.slot[s], VFIO_SET_IOMMU, (void *)arg, &err);
	account(t, C_V_SET_IOMMU, ret, err, what);
}

static void op_v_info(struct fz_thread *t, int s)
{
	struct vfio_iommu_type1_info *a = arg_place(t, sizeof(*a));
	char what[32];
	long ret;
	int err;

	switch (rnd_below(t, 4)) {
	case 0:
		a->argsz = sizeof(*a);
		break;
	case 1:
		a->argsz = 512;		/* room for the capabilities */
		break;
	case 2:
		/* the first version, without cap_offset */
		a->argsz = offsetof(struct vfio_iommu_type1_info,
				    iova_pgsizes) + sizeof(__u64);
		break;
	default:
		a->argsz = rnd_argsz(t, sizeof(*a));
	}
	a->flags = rnd_flags(t, 0);
	snprintf(what, sizeof(what), "argsz %u", a->argsz);
	ret = do_ioctl(fz.slot[s], VFIO_IOMMU_GET_INFO, rnd_ptr(t, a), &err);
	account(t, C_V_INFO, ret, err, what);
}

static void op_v_map(struct fz_thread *t, int s)
{
	struct vfio_iommu_type1_dma_map *a = arg_place(t, sizeof(*a));
	__u32 good = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	char what[160];
	long ret;
	int err;

	if (chance(t, 10))
		good = VFIO_DMA_MAP_FLAG_VADDR;
	else if (chance(t, 20))
		good = VFIO_DMA_MAP_FLAG_READ;
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, good);
	a->size = chance(t, 85) ? rnd_pages(t, 16) : rnd_len(t, 0);
	a->vaddr = rnd_uaddr(t, a->size);
	a->iova = rnd_iova(t);
	snprintf(what, sizeof(what),
		 "flags %#x vaddr %#llx iova %#llx size %#llx", a->flags,
		 (unsigned long long)a->vaddr, (unsigned long long)a->iova,
		 (unsigned long long)a->size);
	ret = do_ioctl(fz.slot[s], VFIO_IOMMU_MAP_DMA, rnd_ptr(t, a), &err);
	account(t, C_V_MAP, ret, err, what);
}

/* A dirty bitmap description: sometimes right for @size, often not */
static void gen_bitmap(struct fz_thread *t, struct vfio_bitmap *b, __u64 size)
{
	__u64 npages = size / SZ_4K;

	b->pgsize = chance(t, 80) ? SZ_4K : 1ULL << rnd_below(t, 40);
	b->size = chance(t, 70) ? ((npages + 63) / 64) * 8 : rnd_len(t, 0);
	b->data = chance(t, 80) ? (__u64 *)fz.buf[2] :
		  (__u64 *)rnd_ptr(t, fz.buf[2]);
	if (b->size > BUF_LEN && b->data == (__u64 *)fz.buf[2])
		b->size = BUF_LEN;
}

static void op_v_unmap(struct fz_thread *t, int s)
{
	struct {
		struct vfio_iommu_type1_dma_unmap u;
		struct vfio_bitmap b;
	} *a = arg_place(t, sizeof(*a));
	char what[160];
	long ret;
	int err;

	a->u.argsz = rnd_argsz(t, sizeof(a->u));
	switch (rnd_below(t, 5)) {
	case 0:
		a->u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
		break;
	case 1:
		a->u.flags = VFIO_DMA_UNMAP_FLAG_VADDR;
		break;
	case 2:
		a->u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
		a->u.argsz = sizeof(*a);
		break;
	default:
		a->u.flags = 0;
	}
	a->u.flags = rnd_flags(t, a->u.flags);
	if (a->u.flags == VFIO_DMA_UNMAP_FLAG_ALL && chance(t, 80)) {
		a->u.iova = 0;
		a->u.size = 0;
	} else {
		a->u.iova = rnd_iova(t);
		a->u.size = rnd_len(t, a->u.iova);
	}
	gen_bitmap(t, &a->b, a->u.size);
	snprintf(what, sizeof(what), "flags %#x iova %#llx size %#llx",
		 a->u.flags, (unsigned long long)a->u.iova,
		 (unsigned long long)a->u.size);
	ret = do_ioctl(fz.slot[s], VFIO_IOMMU_UNMAP_DMA, rnd_ptr(t, a), &err);
	account(t, C_V_UNMAP, ret, err, what);
}

static void op_v_dirty(struct fz_thread *t, int s)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap d;
		struct vfio_iommu_type1_dirty_bitmap_get g;
	} *a = arg_place(t, sizeof(*a));
	char what[128];
	long ret;
	int err;

	a->d.argsz = chance(t, 85) ? sizeof(*a) : rnd_argsz(t, sizeof(*a));
	a->d.flags = rnd_flags(t, 1U << rnd_below(t, 3));
	a->g.iova = rnd_iova(t);
	a->g.size = rnd_len(t, a->g.iova);
	gen_bitmap(t, &a->g.bitmap, a->g.size);
	snprintf(what, sizeof(what), "flags %#x iova %#llx size %#llx",
		 a->d.flags, (unsigned long long)a->g.iova,
		 (unsigned long long)a->g.size);
	ret = do_ioctl(fz.slot[s], VFIO_IOMMU_DIRTY_PAGES, rnd_ptr(t, a), &err);
	account(t, C_V_DIRTY, ret, err, what);
}

/* The edu device's group: join a file, leave, open the device that way */
static void op_v_group(struct fz_thread *t, int s)
{
	char what[64];
	long ret;
	int err, fd;

	switch (rnd_below(t, 4)) {
	case 0:
	case 1:
		fd = chance(t, 95) ? fz.slot[s] : fz.cdev_fd;
		snprintf(what, sizeof(what), "SET_CONTAINER");
		ret = do_ioctl(fz.group_fd, VFIO_GROUP_SET_CONTAINER,
			       rnd_ptr(t, &fd), &err);
		break;
	case 2:
		snprintf(what, sizeof(what), "UNSET_CONTAINER");
		ret = do_ioctl(fz.group_fd, VFIO_GROUP_UNSET_CONTAINER, NULL,
			       &err);
		break;
	default:
		snprintf(what, sizeof(what), "GET_DEVICE_FD");
		ret = do_ioctl(fz.group_fd, VFIO_GROUP_GET_DEVICE_FD, fz.bdf,
			       &err);
		if (ret >= 0) {
			if (chance(t, 50))
				sched_yield();
			close(ret);
			ret = 0;
		}
	}
	account(t, C_V_GROUP, ret, err, what);
}

/* In the cdev's era: take the group out of its file */
static void op_v_unset(struct fz_thread *t)
{
	long ret;
	int err;

	ret = do_ioctl(fz.group_fd, VFIO_GROUP_UNSET_CONTAINER, NULL, &err);
	account(t, C_V_GROUP, ret, err, "UNSET_CONTAINER");
}

/* The VFIO device cdev ----------------------------------------------- */

static void op_d_open(struct fz_thread *t, int s)
{
	long ret = 0;
	int err = 0, fd;

	(void)s;
	(void)t;
	fd = open(fz.cdev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -1;
		err = errno;
	} else {
		if (dup2(fd, fz.cdev_fd) < 0) {
			ret = -1;
			err = errno;
		}
		close(fd);
	}
	account(t, C_D_OPEN, ret, err, "open+dup2");
}

static void op_d_bind(struct fz_thread *t, int s)
{
	struct vfio_device_bind_ioasid *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	switch (rnd_below(t, 10)) {
	case 0:
		a->ioasid_fd = -1;
		break;
	case 1:
		a->ioasid_fd = fz.cdev_fd;
		break;
	case 2:
		a->ioasid_fd = 1000 + rnd_below(t, 100);
		break;
	default:
		a->ioasid_fd = fz.slot[s];
	}
	snprintf(what, sizeof(what), "argsz %u flags %#x fd %d", a->argsz,
		 a->flags, a->ioasid_fd);
	ret = do_ioctl(fz.cdev_fd, VFIO_DEVICE_BIND_IOASID, rnd_ptr(t, a),
		       &err);
	if (!ret)
		remember_id(s, T_DEV, a->out_dev_id);
	account(t, C_D_BIND, ret, err, what);
}

static void op_d_attach(struct fz_thread *t, int s)
{
	struct vfio_device_attach_ioasid_pt *a = arg_place(t, sizeof(*a));
	char what[64];
	long ret;
	int err;

	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	a->pasid = chance(t, 97) ? 0 : 1;
	a->pt_id = rnd_id_of(t, s, chance(t, 60) ? T_IOAS : T_HWPT);
	snprintf(what, sizeof(what), "pt %u", a->pt_id);
	ret = do_ioctl(fz.cdev_fd, VFIO_DEVICE_ATTACH_IOASID_PT, rnd_ptr(t, a),
		       &err);
	if (!ret)
		remember_id(s, T_HWPT, a->pt_id);
	account(t, C_D_ATTACH, ret, err, what);
}

static void op_d_detach(struct fz_thread *t, int s)
{
	struct vfio_device_detach_ioasid_pt *a = arg_place(t, sizeof(*a));
	long ret;
	int err;

	(void)s;
	a->argsz = rnd_argsz(t, sizeof(*a));
	a->flags = rnd_flags(t, 0);
	ret = do_ioctl(fz.cdev_fd, VFIO_DEVICE_DETACH_IOASID_PT, rnd_ptr(t, a),
		       &err);
	account(t, C_D_DETACH, ret, err, "");
}

/* The threads -------------------------------------------------------- */

static bool surface_live(enum surface s)
{
	switch (s) {
	case S_CORE:
		return true;
	case S_TYPE1:
		return fz.has_group;
	default:
		return fz.has_cdev;
	}
}

static bool cmd_live(int cmd)
{
	if (!surface_live(cmds[cmd].surface))
		return false;
	/* The test ioctl's operations need CONFIG_IOASID_TEST */
	if (cmd >= C_T_MOCK && cmd <= C_T_BADOP)
		return fz.has_test;
	return true;
}

static unsigned int total_weight;

/*
 * A bound cdev keeps the group from taking a container, and a group with
 * a container keeps the cdev from binding: with both surfaces, they take
 * turns of ERA_SECS each. In the type1 era a cdev op closes the cdev
 * instead; in the cdev era a group op takes the group out of its file.
 */
#define ERA_SECS	2

static bool type1_era(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec / ERA_SECS) & 1;
}

static int pick_cmd(struct fz_thread *t)
{
	unsigned int w = rnd_below(t, total_weight);
	int c;

	for (c = 0; c < NR_CMDS; c++) {
		if (!cmd_live(c))
			continue;
		if (w < cmds[c].weight)
			return c;
		w -= cmds[c].weight;
	}
	return C_IOAS_MAP;
}

static void run_one(struct fz_thread *t)
{
	int s = rnd_slot(t), c = pick_cmd(t);

	if (fz.has_cdev && fz.has_group) {
		if (cmds[c].surface == S_CDEV && type1_era())
			c = chance(t, 25) ? C_D_OPEN : C_V_MAP;
		else if (c == C_V_GROUP && !type1_era() && chance(t, 80))
			c = C_V_UNSET;
	}
	/*
	 * Without mixing, mock devices live in files 1.., the edu device
	 * only in file 0: no HWPT is ever offered to a device of another
	 * IOMMU (see fz.nomix).
	 */
	if (fz.nomix) {
		if (cmds[c].surface != S_CORE)
			s = 0;
		else if ((c >= C_T_MOCK && c <= C_T_BADOP) ||
			 c == C_HWPT_CREATE)
			s = 1 + rnd_below(t, NR_SLOTS - 1);
	}

	switch (c) {
	case C_DESTROY:
		op_destroy(t, s);
		break;
	case C_OPTION:
		op_option(t, s);
		break;
	case C_IOAS_CREATE:
		op_ioas_create(t, s);
		break;
	case C_IOAS_INFO:
		op_ioas_info(t, s);
		break;
	case C_IOAS_LIMIT:
		op_ioas_limit(t, s);
		break;
	case C_IOAS_MAP:
		op_ioas_map(t, s);
		break;
	case C_IOAS_UNMAP:
		op_ioas_unmap(t, s);
		break;
	case C_IOAS_COPY:
		op_ioas_copy(t, s);
		break;
	case C_HWPT_CREATE:
		op_hwpt_create(t, s);
		break;
	case C_VFIO_IOAS:
		op_vfio_ioas(t, s);
		break;
	case C_PASID:
		op_pasid(t, s);
		break;
	case C_FEATURES:
		op_features(t, s);
		break;
	case C_FAULTS:
		op_faults(t, s);
		break;
	case C_INVALIDATE:
		op_invalidate(t, s);
		break;
	case C_DEV_INFO:
		op_dev_info(t, s);
		break;
	case C_BAD_IOCTL:
		op_bad_ioctl(t, s);
		break;
	case C_REOPEN:
		op_reopen(t, s);
		break;
	case C_V_EXT:
		op_v_ext(t, s);
		break;
	case C_V_SET_IOMMU:
		op_v_set_iommu(t, s);
		break;
	case C_V_INFO:
		op_v_info(t, s);
		break;
	case C_V_MAP:
		op_v_map(t, s);
		break;
	case C_V_UNMAP:
		op_v_unmap(t, s);
		break;
	case C_V_DIRTY:
		op_v_dirty(t, s);
		break;
	case C_V_GROUP:
		op_v_group(t, s);
		break;
	case C_V_UNSET:
		op_v_unset(t);
		break;
	case C_D_OPEN:
		op_d_open(t, s);
		break;
	case C_D_BIND:
		op_d_bind(t, s);
		break;
	case C_D_ATTACH:
		op_d_attach(t, s);
		break;
	case C_D_DETACH:
		op_d_detach(t, s);
		break;
	default:
		op_test(t, s, c);
	}
}

static void *fuzz_thread(void *arg)
{
	struct fz_thread *t = arg;

	while (!__atomic_load_n(&fz.stop, __ATOMIC_RELAXED))
		run_one(t);
	return NULL;
}

/* Set up and tear down ----------------------------------------------- */

/* The edu device with its cdev and group, or why not */
static const char *find_edu(void)
{
	char driver[64];
	int group;

	if (edu_find(fz.bdf, sizeof(fz.bdf)))
		return "no edu device";
	if (edu_bound_driver(fz.bdf, driver, sizeof(driver)) ||
	    strcmp(driver, "vfio-pci"))
		return "edu is not bound to vfio-pci";
	group = edu_iommu_group(fz.bdf);
	if (group < 0)
		return "edu has no IOMMU group";
	snprintf(fz.cdev, sizeof(fz.cdev), "/dev/vfio/%d", group);
	fz.group_fd = open(fz.cdev, O_RDWR | O_CLOEXEC);
	fz.has_group = fz.group_fd >= 0;
	if (pci_vfio_cdev_path(fz.bdf, fz.cdev, sizeof(fz.cdev)) ||
	    access(fz.cdev, F_OK))
		return "edu has no VFIO cdev";
	fz.cdev_fd = open(fz.cdev, O_RDWR | O_CLOEXEC);
	if (fz.cdev_fd < 0)
		return "cannot open the edu cdev";
	fz.has_cdev = true;
	return NULL;
}

/*
 * Empty the file in slot @s as far as its mappings go, then check that it
 * holds nothing charged or pinned: every IOAS (by any ID in use) is
 * unmapped, which lets go of every page, whatever the accesses pinned.
 * Returns false, after reporting, if something stays.
 */
static bool slot_drained(int s)
{
	int fd = fz.slot[s];
	__u64 locked = ~0ULL, pinned = ~0ULL;
	unsigned int id, misses = 0;
	int ret;

	for (id = 1; misses < 256; id++) {
		ret = ioas_unmap_all(fd, id, NULL);
		if (ret == -ENOENT) {
			/* not an IOAS, or past the last object */
			misses++;
			continue;
		}
		misses = 0;
		if (ret)
			fz_bad("at the end: UNMAP_EVERYTHING of IOAS %u: %s",
			       id, errname(-ret));
	}
	ret = mock_charges(fd, &locked, &pinned);
	if (ret == -ENOTTY)
		return true;
	if (ret || locked || pinned) {
		fz_bad("file %d, every IOAS unmapped: CHARGES %s, %llu charged, %llu pinned",
		       s, errname(-ret), (unsigned long long)locked,
		       (unsigned long long)pinned);
		return false;
	}
	return true;
}

static void print_histograms(void)
{
	unsigned long total = 0, sum[NR_ERRNO], n;
	char line[1024];
	int c, i, e, len;

	for (c = 0; c < NR_CMDS; c++) {
		n = 0;
		for (e = 0; e < NR_ERRNO; e++) {
			sum[e] = 0;
			for (i = 0; i < FUZZ_THREADS; i++)
				sum[e] += fz.th[i].hist[c][e];
			n += sum[e];
		}
		total += n;
		if (!n && !cmd_live(c))
			continue;
		len = snprintf(line, sizeof(line), "# %s: %lu ops,",
			       cmds[c].name, n);
		for (e = 0; e < NR_ERRNO && len < (int)sizeof(line); e++)
			if (sum[e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s:%lu", e == NR_ERRNO - 1 ?
						"other" : errname(e), sum[e]);
		printf("%s\n", line);
	}
	printf("# total: %lu ops in %u s\n", total, fz.secs);
	fflush(stdout);
}

/* The fuzzer's state is global: the fixture holds nothing */
FIXTURE(ioasid_fuzz) {
	int unused;
};

FIXTURE_SETUP(ioasid_fuzz)
{
}

FIXTURE_TEARDOWN(ioasid_fuzz)
{
}

TEST_F(ioasid_fuzz, fuzz)
{
	struct rlimit rl = { FUZZ_MEMLOCK, FUZZ_MEMLOCK }, old_rl;
	struct locked_state before, after;
	const char *why;
	__u64 deadline;
	int i, ret, started = 0;
	bool set;

	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	fz.has_test = !ioasid_unusable();
	if (!fz.has_test)
		printf("# no IOASID_TEST: neither fuzzed nor counters checked\n");
	fz.cdev_fd = -1;
	fz.group_fd = -1;
	why = find_edu();
	if (why)
		printf("# SKIP surface VFIO cdev: %s\n", why);
	if (!fz.has_group)
		printf("# SKIP surface VFIO type1: no VFIO group for edu\n");
	if (fz.has_group || fz.has_cdev)
		printf("# edu %s, cdev %s\n", fz.bdf, fz.has_cdev ? fz.cdev : "-");

	fz.seed = test_param("IOASID_FUZZ_SEED", "ioasid_fuzz_seed", 0, &set);
	if (!set)
		fz.seed = now_ns() ^ ((__u64)getpid() << 32);
	printf("# seed %llu\n", (unsigned long long)fz.seed);
	fz.nomix = test_param("IOASID_FUZZ_NOMIX", "ioasid_fuzz_nomix", 0,
			      NULL);
	if (fz.nomix)
		printf("# mock devices and edu kept in different files\n");
	printf("# %u s, %d threads\n", fz.secs, FUZZ_THREADS);
	fflush(stdout);

	for (i = 0; i < NR_BUFS; i++) {
		fz.buf[i] = buf_map(BUF_LEN, SZ_4K, BUF_SMALL_PAGES);
		ASSERT_NE(NULL, fz.buf[i]);
		fill_pattern(fz.buf[i], BUF_LEN, i);
	}
	fz.thp = buf_map(THP_LEN, THP_LEN, BUF_THP);
	ASSERT_NE(NULL, fz.thp);
	fz.robuf = mmap(NULL, SZ_64K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	ASSERT_NE(MAP_FAILED, fz.robuf);
	fz.hole = mmap(NULL, HOLE_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	ASSERT_NE(MAP_FAILED, fz.hole);
	for (i = 0; i < NR_SLOTS; i++) {
		fz.slot[i] = ioasid_open();
		ASSERT_LE(0, fz.slot[i]);
	}

	locked_state_get(&before, fz.has_test);
	ASSERT_LE(0, before.user_pages)
		TH_LOG("the RLIMIT_MEMLOCK probe does not work");
	locked_state_print("before", &before);

	/* Pins are charged against a small limit from here on */
	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &old_rl));
	ASSERT_EQ(0, drop_cap_ipc_lock());
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));

	for (i = 0; i < NR_CMDS; i++)
		if (cmd_live(i))
			total_weight += cmds[i].weight;
	pthread_mutex_init(&fz.log.lock, NULL);
	for (i = 0; i < FUZZ_THREADS; i++) {
		struct fz_thread *t = &fz.th[i];
		char *a;

		t->idx = i;
		t->rng = fz.seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
		a = mmap(NULL, ARENA_LEN + SZ_4K, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, a);
		ASSERT_EQ(0, mprotect(a + ARENA_LEN, SZ_4K, PROT_NONE));
		t->arena = a;
		t->vec = calloc(VEC_MAX, sizeof(struct ioasid_map_range));
		ASSERT_NE(NULL, t->vec);
	}

	deadline = now_ns() + fz.secs * 1000000000ULL;
	for (i = 0; i < FUZZ_THREADS; i++) {
		ret = pthread_create(&fz.th[i].thread, NULL, fuzz_thread,
				     &fz.th[i]);
		if (ret)
			break;
		started++;
	}
	while (now_ns() < deadline && started == FUZZ_THREADS)
		usleep(100000);
	__atomic_store_n(&fz.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < started; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FUZZ_GRACE_SECS;
		ret = pthread_timedjoin_np(fz.th[i].thread, NULL, &ts);
		if (ret) {
			dump_task_stacks(0);
			ASSERT_EQ(0, ret)
				TH_LOG("thread %d stuck %d s after the end (hang in the kernel?)",
				       i, FUZZ_GRACE_SECS);
		}
	}
	ASSERT_EQ(FUZZ_THREADS, started);
	print_histograms();

	/* Everything closes: the device first, then the group, then files */
	if (fz.cdev_fd >= 0)
		close(fz.cdev_fd);
	if (fz.group_fd >= 0)
		close(fz.group_fd);
	for (i = 0; i < NR_SLOTS; i++) {
		if (fz.has_test)
			slot_drained(i);
		close(fz.slot[i]);
	}
	setrlimit(RLIMIT_MEMLOCK, &old_rl);

	locked_state_settle(&before, &after, fz.has_test);
	locked_state_print("after", &after);
	locked_state_check(&fz.log, &before, &after);
	if (fz.has_test) {
		int fd = ioasid_open();

		ASSERT_LE(0, fd);
		for (i = 0; i < NR_BUFS; i++) {
			ret = mock_check_refs(fd, fz.buf[i], BUF_LEN, 0);
			if (ret)
				fz_bad("buffer %d still pinned: PIN_COUNT 0 says %s",
				       i, errname(-ret));
		}
		ret = mock_check_refs(fd, fz.thp, THP_LEN, 0);
		if (ret)
			fz_bad("the THP buffer still pinned: PIN_COUNT 0 says %s",
			       errname(-ret));
		close(fd);
	}
	ASSERT_EQ(0UL, fz.log.count)
		TH_LOG("%lu bad outcomes; the first: %s", fz.log.count,
		       fz.log.first);
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	__u64 secs;

	secs = test_param("IOASID_FUZZ_SECS", "ioasid_fuzz_secs",
			  FUZZ_SECS_DEFAULT, NULL);
	if (secs < 1 || secs > FUZZ_SECS_MAX) {
		fprintf(stderr, "IOASID_FUZZ_SECS must be 1..%d\n",
			FUZZ_SECS_MAX);
		return 2;
	}
	fz.secs = secs;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout = fz.secs + FUZZ_GRACE_SECS + 120;
	return test_harness_run(argc, argv);
}
