// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/ioasid selftests, run against the mock IOMMU of IOASID_TEST.
 *
 * A mock device translates its DMA through a real page table, so the tests
 * look at the bytes a device reads and writes and at the IOPTE sizes it was
 * given, not only at return codes. Every buffer the fixture hands out is
 * checked at teardown: once the file is closed, no page of it may still be
 * pinned.
 */
#define _GNU_SOURCE		/* setresuid() */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioasid_utils.h"

/* The 6.1 harness expands handlers with parameters they do not use */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define PAGE_SZ		SZ_4K
#define SMALL_BUF_LEN	(64 * PAGE_SZ)
#define MAX_BUFS	8
/* Fixed IOVAs, far above the IOVAs the kernel picks in these tests */
#define IOVA_A		0x40000000ULL
#define IOVA_B		0x80000000ULL
#define ABOVE_APERTURE	(MOCK_APERTURE_LAST + 1)
/* The last page of the 64-bit space: two pages from here wrap */
#define WRAPPING	(~0xfffULL)
#define MEMLOCK_LIMIT	SZ_1M

#define RO		MAP_READ
#define WO		MAP_WRITE
#define DMA_RD		IOASID_TEST_DMA_READ
#define DMA_WR		IOASID_TEST_DMA_WRITE
#define OPT_HUGE	IOASID_OPT_LARGE_IOPTES
#define OPT_RLIMIT	IOASID_OPT_ACCOUNTING

static int open_or_skip(struct __test_metadata *_metadata)
{
	const char *why = ioasid_unusable();
	int fd;

	if (why)
		SKIP(return -1, "%s", why);
	fd = ioasid_open();
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", IOASID_DEV_PATH, strerror(-fd));
	return fd;
}

/*
 * Issue @cmd on a copy of @arg (@len bytes) in a larger zeroed buffer, with
 * the argsz member set to @size and @tail in the eighth byte after the end.
 */
static int ioctl_sized(int fd, unsigned long cmd, const void *arg, size_t len, __u32 size,
		       __u8 tail)
{
	__u64 raw[16] = {};

	memcpy(raw, arg, len);
	memcpy(raw, &size, sizeof(size));
	((__u8 *)raw)[len + 7] = tail;
	return ioasid_do(fd, cmd, raw);
}

/*
 * The argsz checks of every command; @arg must succeed, and runs once.
 * @short_len is a size below the first version of the structure (0: @len - 1).
 */
static void check_sizes(struct __test_metadata *_metadata, int fd, unsigned long cmd,
			const void *arg, size_t len, __u32 short_len)
{
	unsigned int nr = _IOC_NR(cmd);

	if (!short_len)
		short_len = len - 1;
	ASSERT_EQ(-EINVAL, ioctl_sized(fd, cmd, arg, len, 0, 0)) TH_LOG("nr %#x", nr);
	ASSERT_EQ(-EINVAL, ioctl_sized(fd, cmd, arg, len, 4, 0)) TH_LOG("nr %#x", nr);
	ASSERT_EQ(-EINVAL, ioctl_sized(fd, cmd, arg, len, 8, 0)) TH_LOG("nr %#x", nr);
	ASSERT_EQ(-EINVAL, ioctl_sized(fd, cmd, arg, len, short_len, 0)) TH_LOG("nr %#x", nr);
	ASSERT_EQ(-E2BIG, ioctl_sized(fd, cmd, arg, len, len + 8, 0x5a)) TH_LOG("nr %#x", nr);
	ASSERT_EQ(0, ioctl_sized(fd, cmd, arg, len, len + 8, 0)) TH_LOG("nr %#x", nr);
}

static void assert_accounting(struct __test_metadata *_metadata, int fd, __u64 pages)
{
	__u64 locked = ~0ULL, pinned = ~0ULL;

	ASSERT_EQ(0, mock_accounting(fd, &locked, &pinned));
	ASSERT_EQ(pages, locked);
	ASSERT_EQ(pages, pinned);
}

/* ASSERT the introspection counters of IOAS @ioas */
static void assert_info(struct __test_metadata *_metadata, int fd, __u32 ioas,
			__u32 nr_mappings, __u64 mapped, __u32 nr_hwpts)
{
	__u32 got_nr = ~0U, got_hwpts = ~0U;
	__u64 got_mapped = ~0ULL;

	ASSERT_EQ(0, ioas_stats(fd, ioas, &got_nr, &got_mapped, &got_hwpts));
	ASSERT_EQ(nr_mappings, got_nr);
	ASSERT_EQ(mapped, got_mapped);
	ASSERT_EQ(nr_hwpts, got_hwpts);
}

TEST(ioctl_errors)
{
	struct ioasid_ioas_create create = { .argsz = sizeof(create), .flags = 1 };
	struct ioasid_iova_range *bad = (struct ioasid_iova_range *)8;
	static const unsigned int unknown_nr[] = {
		IOASID_NR_OPTION + 1, IOASID_NR_IOAS_CREATE - 1,
		IOASID_NR_IOAS_COPY + 1, IOASID_NR_HWPT_CREATE - 1,
		IOASID_NR_HWPT_INVALIDATE + 1, IOASID_NR_VFIO_IOAS - 1,
		IOASID_NR_VFIO_IOAS + 1, IOASID_NR_TEST - 1,
		IOASID_NR_TEST + 1, 0xff,
	};
	__u32 a, b, num = 4;
	unsigned int i;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_CREATE, &create));
	create.flags = 0;
	create.__rsvd = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_CREATE, &create));
	create.__rsvd = 0;
	/* numbers between and beyond the commands */
	for (i = 0; i < ARRAY_SIZE(unknown_nr); i++)
		ASSERT_EQ(-ENOTTY, ioasid_do(fd, _IO(IOASID_TYPE, unknown_nr[i]), &create))
			TH_LOG("nr %#x", unknown_nr[i]);
	/* a known number with another type or direction is not known */
	ASSERT_EQ(-ENOTTY, ioasid_do(fd, _IO('x', IOASID_NR_IOAS_CREATE), &create));
	ASSERT_EQ(-ENOTTY, ioasid_do(fd, _IOWR(IOASID_TYPE, IOASID_NR_IOAS_CREATE,
					       struct ioasid_ioas_create), &create));
	/* user pointers that cannot be followed */
	ASSERT_EQ(-EFAULT, ioasid_do(fd, IOASID_IOAS_CREATE, NULL));
	ASSERT_EQ(-EFAULT, ioasid_do(fd, IOASID_OBJ_DESTROY, (void *)8));
	ASSERT_EQ(0, ioas_alloc(fd, &a));
	ASSERT_EQ(-EFAULT, ioas_iova_ranges(fd, a, bad, &num, NULL));
	ASSERT_EQ(-EFAULT, ioas_allow_iovas(fd, a, bad, 1));
	/* the file still works, and no limit was installed */
	num = 0;
	ASSERT_EQ(-EMSGSIZE, ioas_iova_ranges(fd, a, NULL, &num, NULL));
	ASSERT_EQ(1U, num);
	/* IDs: distinct, never 0, gone once destroyed */
	ASSERT_EQ(0, ioas_alloc(fd, &b));
	ASSERT_NE(0U, a);
	ASSERT_NE(a, b);
	ASSERT_EQ(0, ioasid_destroy(fd, a));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, a));
	ASSERT_EQ(-ENOENT, ioas_iova_ranges(fd, a, NULL, &num, NULL));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, 0));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, NO_SUCH_ID));
	num = 0;
	ASSERT_EQ(-EMSGSIZE, ioas_iova_ranges(fd, b, NULL, &num, NULL));
	close(fd);
}

TEST(ioctl_struct_size)
{
	struct ioasid_iova_range ranges[4];
	struct ioasid_obj_destroy destroy = {};
	struct ioasid_ioas_create create = {};
	struct ioasid_ioas_info info = { .nr_ranges = 4 };
	struct ioasid_ioas_limit limit = {};
	struct ioasid_map_range mr = { .length = PAGE_SZ, .prot = RO };
	struct ioasid_ioas_map map = { .nr_ranges = 1 };
	struct ioasid_ioas_copy copy = { .length = PAGE_SZ, .prot = RO };
	struct ioasid_iova_range ur = { .first = IOVA_B, .last = IOVA_B + PAGE_SZ - 1 };
	struct ioasid_ioas_unmap unmap = { .nr_ranges = 1 };
	struct ioasid_option option = { .key = OPT_RLIMIT };
	struct ioasid_hwpt_create hwpt = { .kind = IOASID_HWPT_PAGING };
	struct ioasid_vfio_ioas vioas = { .op = IOASID_VFIO_IOAS_QUERY };
	struct ioasid_test_cmd test = { .op = IOASID_TEST_CHARGES };
	__u32 ioas, victim, dev;
	__u64 iova;
	void *buf;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	buf = buf_map(PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, ioas_alloc(fd, &victim));
	ASSERT_EQ(0, mock_device(fd, ioas, &dev, NULL));
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, PAGE_SZ, &iova, RO));

	destroy.obj_id = victim;
	check_sizes(_metadata, fd, IOASID_OBJ_DESTROY, &destroy, sizeof(destroy), 0);
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, victim));
	check_sizes(_metadata, fd, IOASID_IOAS_CREATE, &create, sizeof(create), 0);
	info.ioas_id = ioas;
	info.ranges = (uintptr_t)ranges;
	check_sizes(_metadata, fd, IOASID_IOAS_INFO, &info, sizeof(info), 0);
	limit.ioas_id = ioas;
	check_sizes(_metadata, fd, IOASID_IOAS_LIMIT, &limit, sizeof(limit), 0);
	mr.uaddr = (uintptr_t)buf;
	map.ioas_id = ioas;
	map.ranges = (uintptr_t)&mr;
	check_sizes(_metadata, fd, IOASID_IOAS_MAP, &map, sizeof(map), 0);
	copy.dst_ioas_id = ioas;
	copy.src_ioas_id = ioas;
	copy.src_iova = iova;
	check_sizes(_metadata, fd, IOASID_IOAS_COPY, &copy, sizeof(copy), 0);
	unmap.ioas_id = ioas;
	unmap.ranges = (uintptr_t)&ur;
	check_sizes(_metadata, fd, IOASID_IOAS_UNMAP, &unmap, sizeof(unmap), 0);
	check_sizes(_metadata, fd, IOASID_OPTION, &option, sizeof(option), 0);
	hwpt.dev_id = dev;
	hwpt.parent_id = ioas;
	/* The first version ends at out_hwpt_id. */
	check_sizes(_metadata, fd, IOASID_HWPT_CREATE, &hwpt, sizeof(hwpt),
		    offsetof(struct ioasid_hwpt_create, data_uptr) - 1);
	check_sizes(_metadata, fd, IOASID_VFIO_IOAS, &vioas, sizeof(vioas), 0);
	/* any op's member ends past the header: the header alone is short */
	check_sizes(_metadata, fd, IOASID_TEST, &test, sizeof(test),
		    offsetof(struct ioasid_test_cmd, mock));
	close(fd);
	munmap(buf, PAGE_SZ);
}

TEST(option_errors)
{
	struct ioasid_option cmd = {
		.argsz = sizeof(cmd),
		.key = OPT_RLIMIT,
	};
	__u64 val = 7, iova;
	__u32 ioas, dev;
	void *buf;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, ioasid_do(fd, IOASID_OPTION, &cmd));
	cmd.flags = 1 << 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_OPTION, &cmd));
	cmd.flags = 0;
	cmd.key = 0;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_OPTION, &cmd));
	cmd.key = IOASID_OPT_PASID_MODE + 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_OPTION, &cmd));

	/* ACCOUNTING belongs to the file, not to an object */
	ASSERT_EQ(-EINVAL, ioasid_option_get(fd, OPT_RLIMIT, ioas, &val));
	ASSERT_EQ(-EINVAL, ioasid_option_set(fd, OPT_RLIMIT, 0, 2));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_RLIMIT, 0, &val));
	ASSERT_EQ(0ULL, val);
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_RLIMIT, 0, 1));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_RLIMIT, 0, &val));
	ASSERT_EQ(1ULL, val);
	/* and cannot change while this file holds pages pinned */
	buf = buf_map(PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, PAGE_SZ, &iova, MAP_RW));
	ASSERT_EQ(-EBUSY, ioasid_option_set(fd, OPT_RLIMIT, 0, 0));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_RLIMIT, 0, &val));
	ASSERT_EQ(1ULL, val);
	ASSERT_EQ(0, ioas_unmap(fd, ioas, iova, PAGE_SZ, NULL));
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_RLIMIT, 0, 0));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_RLIMIT, 0, &val));
	ASSERT_EQ(0ULL, val);

	/* LARGE_IOPTES belongs to an IOAS */
	ASSERT_EQ(-ENOENT, ioasid_option_get(fd, OPT_HUGE, 0, &val));
	ASSERT_EQ(-ENOENT, ioasid_option_set(fd, OPT_HUGE, NO_SUCH_ID, 0));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_HUGE, ioas, &val));
	ASSERT_EQ(1ULL, val);
	ASSERT_EQ(-EINVAL, ioasid_option_set(fd, OPT_HUGE, ioas, 2));
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_HUGE, ioas, 0));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_HUGE, ioas, &val));
	ASSERT_EQ(0ULL, val);
	/* and cannot change while a HWPT mirrors the IOAS */
	ASSERT_EQ(0, mock_device(fd, ioas, &dev, NULL));
	ASSERT_EQ(-EBUSY, ioasid_option_set(fd, OPT_HUGE, ioas, 1));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_HUGE, ioas, &val));
	ASSERT_EQ(0ULL, val);
	/* the automatic HWPT goes with the device */
	ASSERT_EQ(0, ioasid_destroy(fd, dev));
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_HUGE, ioas, 1));
	close(fd);
	munmap(buf, PAGE_SZ);
}

TEST(hwpt_create_errors)
{
	struct ioasid_hwpt_create cmd = {
		.argsz = sizeof(cmd),
		.flags = 1U << 7,
		.kind = IOASID_HWPT_PAGING,
	};
	__u32 ioas, dev, auto_id, hwpt = 0;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_device(fd, ioas, &dev, &auto_id));
	cmd.dev_id = dev;
	cmd.parent_id = ioas;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_HWPT_CREATE, &cmd));
	cmd.flags = 0;
	cmd.kind = 0;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_HWPT_CREATE, &cmd));
	cmd.kind = IOASID_HWPT_NESTED + 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_HWPT_CREATE, &cmd));
	/* out_hwpt_id is not looked at */
	cmd.kind = IOASID_HWPT_PAGING;
	cmd.out_hwpt_id = NO_SUCH_ID;
	ASSERT_EQ(0, ioasid_do(fd, IOASID_HWPT_CREATE, &cmd));
	ASSERT_NE(NO_SUCH_ID, cmd.out_hwpt_id);
	ASSERT_EQ(0, ioasid_destroy(fd, cmd.out_hwpt_id));
	/* dev_id must be a device, parent_id an IOAS */
	ASSERT_EQ(-ENOENT, hwpt_create(fd, NO_SUCH_ID, ioas, &hwpt));
	ASSERT_EQ(-ENOENT, hwpt_create(fd, ioas, ioas, &hwpt));
	ASSERT_EQ(-ENOENT, hwpt_create(fd, auto_id, ioas, &hwpt));
	ASSERT_EQ(-ENOENT, hwpt_create(fd, dev, NO_SUCH_ID, &hwpt));
	ASSERT_EQ(-ENOENT, hwpt_create(fd, dev, auto_id, &hwpt));
	ASSERT_EQ(-ENOENT, hwpt_create(fd, dev, dev, &hwpt));

	ASSERT_EQ(0, hwpt_create(fd, dev, ioas, &hwpt));
	ASSERT_NE(auto_id, hwpt);
	/* the HWPT holds the IOAS; the device holds its automatic HWPT */
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, ioas));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, auto_id));
	ASSERT_EQ(0, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, ioas));
	ASSERT_EQ(0, ioasid_destroy(fd, dev));
	/* the automatic HWPT went with its only device */
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, auto_id));
	ASSERT_EQ(0, ioasid_destroy(fd, ioas));
	close(fd);
}

TEST(test_op_errors)
{
	struct ioasid_test_cmd t = { .op = IOASID_TEST_CHARGES, .__rsvd = 1 };
	struct ioasid_iova_range range;
	void *unaligned = (void *)(PAGE_SZ + 1);
	__u32 ioas, dev, hwpt, other, num = 1;
	char byte;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));
	t.__rsvd = 0;
	t.flags = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));
	t.flags = 0;
	t.op = 0;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));
	t.op = IOASID_TEST_MOCK_DEVICE - 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));
	t.op = IOASID_TEST_OP_END;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));

	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	memset(&t, 0, sizeof(t));
	t.op = IOASID_TEST_MOCK_DEVICE;
	t.obj_id = ioas;
	t.flags = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_test(fd, &t));
	ASSERT_EQ(-ENOENT, mock_device(fd, NO_SUCH_ID, &dev, NULL));
	ASSERT_EQ(0, mock_device(fd, ioas, &dev, &hwpt));
	/* a device is neither an IOAS nor a HWPT */
	ASSERT_EQ(-ENOENT, mock_device(fd, dev, &other, NULL));

	ASSERT_EQ(-EINVAL, mock_add_reserved(fd, dev, IOVA_B, IOVA_A));
	ASSERT_EQ(-ENOENT, mock_add_reserved(fd, ioas, IOVA_A, IOVA_B));
	ASSERT_EQ(0, mock_add_reserved(fd, dev, IOVA_A, IOVA_B - 1));
	/* honoured only at the next attach: the usable IOVAs are unchanged */
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(MOCK_APERTURE_LAST, range.last);

	ASSERT_EQ(-EINVAL, mock_dma(fd, dev, 0, &byte, 1, 2, NULL));
	ASSERT_EQ(-ENOENT, mock_dma(fd, ioas, 0, &byte, 1, DMA_RD, NULL));
	ASSERT_EQ(-ENOENT, mock_iopte(fd, ioas, IOVA_A, NULL, NULL));
	ASSERT_EQ(-ENOENT, mock_iopte(fd, hwpt, IOVA_A, NULL, NULL));
	ASSERT_EQ(-EINVAL, mock_check_refs(fd, unaligned, PAGE_SZ, 0));
	ASSERT_EQ(-ENOENT, access_create(fd, hwpt, &other));
	ASSERT_EQ(-ENOENT, access_pin(fd, ioas, IOVA_A, PAGE_SZ));
	ASSERT_EQ(0, access_create(fd, ioas, &other));
	ASSERT_EQ(-EINVAL, access_pin(fd, other, IOVA_A, PAGE_SZ + 1));
	ASSERT_EQ(-EINVAL, access_rw(fd, other, IOVA_A, &byte, 1, 2));
	/* an access holds its IOAS */
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, ioas));
	ASSERT_EQ(0, ioasid_destroy(fd, other));
	close(fd);
}

/*
 * A relaxable direct mapping (an RMRR of a USB or graphics device) does not
 * keep guest RAM out of the IOAS; a reserved region does.
 */
TEST(relaxable_regions)
{
	__u32 ioas1, ioas2, dev, hwpt;
	int fd = open_or_skip(_metadata);
	void *buf;

	if (fd < 0)
		return;
	buf = buf_map(PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas1));
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, mock_device(fd, ioas1, &dev, &hwpt));
	ASSERT_EQ(-EINVAL, mock_add_reserved_type(fd, dev, IOVA_A, IOVA_A, 2));
	ASSERT_EQ(0, mock_add_reserved_type(fd, dev, IOVA_A, IOVA_A + SZ_1M - 1,
					    IOASID_TEST_RESV_RELAXABLE));
	ASSERT_EQ(0, mock_add_reserved_type(fd, dev, IOVA_B, IOVA_B + SZ_1M - 1,
					    IOASID_TEST_RESV_RESERVED));
	/* honoured at the next attach */
	ASSERT_EQ(0, mock_replace(fd, dev, ioas2, &hwpt));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas2, buf, PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, ioas2, buf, PAGE_SZ, IOVA_B, MAP_RW));
	close(fd);
	munmap(buf, PAGE_SZ);
}

struct tracked_buf {
	void *p;
	size_t len;
};

FIXTURE(ioasid) {
	int fd;
	__u32 ioas_id;
	unsigned int ndev;
	__u32 dev_id[2];
	__u32 hwpt_id[2];
	__u32 access_id;		/* 0 until iova_xfer() needs one */
	void *buf;			/* the variant's main buffer */
	size_t buf_len;
	struct tracked_buf bufs[MAX_BUFS];
	unsigned int nbufs;
	long hugetlb_restore;		/* nr_hugepages to put back, or < 0 */
	bool skip;
	bool torn_down;
};

FIXTURE_VARIANT(ioasid) {
	unsigned int num_devices;
	bool second_hwpt;		/* device 1 on a HWPT of its own */
	bool thp;
};

FIXTURE_VARIANT_ADD(ioasid, no_domain) { .num_devices = 0 };
FIXTURE_VARIANT_ADD(ioasid, mock_domain) { .num_devices = 1 };
FIXTURE_VARIANT_ADD(ioasid, two_domains) { .num_devices = 2 };
FIXTURE_VARIANT_ADD(ioasid, two_hwpts) { .num_devices = 2, .second_hwpt = true };
FIXTURE_VARIANT_ADD(ioasid, huge) { .num_devices = 1, .thp = true };

/*
 * mmap a buffer that teardown checks for leftover pins, then unmaps.
 * (struct _test_data_ioasid is FIXTURE_DATA(ioasid).)
 */
static void *fixture_buf(struct _test_data_ioasid *self, size_t len, size_t align,
			 enum buf_kind kind)
{
	void *p;

	if (self->nbufs == MAX_BUFS)
		return NULL;
	p = buf_map(len, align, kind);
	if (p) {
		self->bufs[self->nbufs].p = p;
		self->bufs[self->nbufs++].len = len;
	}
	return p;
}

FIXTURE_SETUP(ioasid)
{
	const char *why = ioasid_unusable();
	unsigned int i;

	self->fd = -1;
	self->hugetlb_restore = -1;
	if (!why && variant->thp && !thp_enabled())
		why = "transparent huge pages are disabled";
	if (why) {
		/* the 6.1 harness still runs the test body, which checks this */
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas_id));
	for (i = 0; i < variant->num_devices; i++) {
		__u32 pt_id = self->ioas_id;

		if (i && variant->second_hwpt)
			ASSERT_EQ(0, hwpt_create(self->fd, self->dev_id[0], self->ioas_id, &pt_id));
		ASSERT_EQ(0, mock_device(self->fd, pt_id, &self->dev_id[i], &self->hwpt_id[i]));
		if (pt_id != self->ioas_id)
			ASSERT_EQ(pt_id, self->hwpt_id[i]);
		self->ndev++;
	}
	/* devices attached to one IOAS share its automatic HWPT */
	if (variant->num_devices == 2 && !variant->second_hwpt)
		ASSERT_EQ(self->hwpt_id[0], self->hwpt_id[1]);
	if (variant->second_hwpt)
		ASSERT_NE(self->hwpt_id[0], self->hwpt_id[1]);

	self->buf_len = variant->thp ? SZ_4M : SMALL_BUF_LEN;
	self->buf = fixture_buf(self, self->buf_len, variant->thp ? SZ_2M : PAGE_SZ,
				variant->thp ? BUF_THP : BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(ioasid)
{
	unsigned int i, still_pinned = 0;
	int checker;

	/* a failing ASSERT below jumps back to the harness, which calls us */
	if (self->torn_down || self->skip)
		return;
	self->torn_down = true;
	if (self->fd >= 0)
		close(self->fd);
	checker = ioasid_open();
	for (i = 0; checker >= 0 && i < self->nbufs; i++) {
		if (mock_check_refs(checker, self->bufs[i].p, self->bufs[i].len, 0)) {
			TH_LOG("buffer %u (%zu bytes) is still pinned", i, self->bufs[i].len);
			still_pinned++;
		}
	}
	if (checker >= 0)
		close(checker);
	for (i = 0; i < self->nbufs; i++)
		munmap(self->bufs[i].p, self->bufs[i].len);
	if (self->hugetlb_restore >= 0)
		write_long_file(NR_HUGEPAGES_PATH, self->hugetlb_restore);
	ASSERT_LE(0, checker);
	ASSERT_EQ(0U, still_pinned);
}

/*
 * Move @len bytes between @p and IOVA @iova the way a device would: mock
 * DMA through the first device, or an access when the variant has none.
 */
static int iova_xfer(struct _test_data_ioasid *self, __u64 iova, void *p, size_t len, __u32 dir)
{
	size_t done, n;
	int ret;

	if (self->ndev)
		return mock_dma(self->fd, self->dev_id[0], iova, p, len, dir, NULL);
	if (!self->access_id) {
		ret = access_create(self->fd, self->ioas_id, &self->access_id);
		if (ret)
			return ret;
	}
	for (done = 0; done < len; done += n) {
		n = len - done < SZ_1M ? len - done : SZ_1M;
		ret = access_rw(self->fd, self->access_id, iova + done, (char *)p + done, n, dir);
		if (ret)
			return ret;
	}
	return 0;
}

/* ASSERT that a device reads pattern @seed in [@iova, @iova + @len) */
static void assert_iova_pattern(struct __test_metadata *_metadata, struct _test_data_ioasid *self,
				__u64 iova, size_t len, unsigned int seed)
{
	void *tmp = calloc(1, len);

	ASSERT_NE(NULL, tmp);
	ASSERT_EQ(0, iova_xfer(self, iova, tmp, len, DMA_RD));
	ASSERT_EQ(-1, check_pattern(tmp, len, seed))
		TH_LOG("IOVA %#llx reads wrong data", (unsigned long long)iova);
	free(tmp);
}

/* A device writes pattern @seed to [@iova, @iova + @len) */
static void write_iova_pattern(struct __test_metadata *_metadata, struct _test_data_ioasid *self,
			       __u64 iova, size_t len, unsigned int seed)
{
	void *tmp = malloc(len);

	ASSERT_NE(NULL, tmp);
	fill_pattern(tmp, len, seed);
	ASSERT_EQ(0, iova_xfer(self, iova, tmp, len, DMA_WR));
	free(tmp);
}

TEST_F(ioasid, iova_ranges)
{
	struct ioasid_iova_range allow[3] = {
		{ .first = IOVA_A, .last = IOVA_A + SZ_1M - 1 },
		{ .first = IOVA_B, .last = IOVA_B + SZ_1M - 1 },
		{ .first = 2 * IOVA_B, .last = 2 * IOVA_B + SZ_2M - 1 },
	};
	struct ioasid_iova_range ranges[4];
	struct ioasid_ioas_info cmd = {
		.argsz = sizeof(cmd),
		.flags = 1,
		.ranges = (uintptr_t)ranges,
		.ioas_id = self->ioas_id,
		.nr_ranges = 4,
	};
	int fd = self->fd;
	__u32 ioas = self->ioas_id, num = 4;
	__u64 align = 0;

	if (self->skip)
		return;
	memset(ranges, 0xa5, sizeof(ranges));
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, ranges, &num, &align));
	ASSERT_EQ(1U, num);
	ASSERT_EQ(MOCK_IOVA_ALIGN, align);
	ASSERT_EQ(0ULL, ranges[0].first);
	/* an attached mock domain reserves everything above its aperture */
	ASSERT_EQ(self->ndev ? MOCK_APERTURE_LAST : UINT64_MAX, ranges[0].last);
	num = 0;
	ASSERT_EQ(-EMSGSIZE, ioas_iova_ranges(fd, ioas, NULL, &num, NULL));
	ASSERT_EQ(1U, num);

	/* three windows and room for two: those two are filled in */
	ASSERT_EQ(0, ioas_allow_iovas(fd, ioas, allow, 3));
	memset(ranges, 0xa5, sizeof(ranges));
	num = 2;
	ASSERT_EQ(-EMSGSIZE, ioas_iova_ranges(fd, ioas, ranges, &num, NULL));
	ASSERT_EQ(3U, num);
	ASSERT_EQ(0, memcmp(allow, ranges, 2 * sizeof(ranges[0])));
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, ranges[2].first);

	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_INFO, &cmd));
	cmd.flags = 0;
	cmd.ioas_id = NO_SUCH_ID;
	ASSERT_EQ(-ENOENT, ioasid_do(fd, IOASID_IOAS_INFO, &cmd));
	cmd.ioas_id = self->ndev ? self->hwpt_id[0] : 0;
	ASSERT_EQ(-ENOENT, ioasid_do(fd, IOASID_IOAS_INFO, &cmd));
}

TEST_F(ioasid, map_unmap)
{
	int fd = self->fd;
	__u32 ioas = self->ioas_id, ioas2;
	size_t len = self->buf_len;
	__u64 npages = len / PAGE_SZ, iova = 0, unmapped = 0;
	void *b2m;

	if (self->skip)
		return;
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 0));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A, MAP_RW));
	assert_accounting(_metadata, fd, npages);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 1));

	/* the same memory again, at an IOVA of the kernel's choosing */
	ASSERT_EQ(0, ioas_map(fd, ioas, self->buf, len, &iova, MAP_RW));
	ASSERT_EQ(0ULL, iova % MOCK_IOVA_ALIGN);
	ASSERT_TRUE(iova + len <= IOVA_A || iova >= IOVA_A + len);
	assert_accounting(_metadata, fd, 2 * npages);
	/* two maps, two pins (only exact for order-0 pages) */
	if (!variant->thp)
		ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 2));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_A, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	assert_accounting(_metadata, fd, npages);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 1));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 0));

	/* a 2M-aligned 2M buffer gets a 2M-aligned IOVA, low IOVAs taken or not */
	b2m = fixture_buf(self, SZ_2M, SZ_2M, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, b2m);
	ASSERT_EQ(0, ioas_map(fd, ioas, b2m, PAGE_SZ, &iova, MAP_RW));
	ASSERT_EQ(0, ioas_map(fd, ioas, b2m, SZ_2M, &iova, MAP_RW));
	ASSERT_EQ(0ULL, iova % SZ_2M) TH_LOG("IOVA %#llx", (unsigned long long)iova);

	/* destroying an IOAS unmaps and unpins what it still holds */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, ioas_map(fd, ioas2, self->buf, len, &iova, MAP_RW));
	assert_accounting(_metadata, fd, npages + SZ_2M / PAGE_SZ + 1);
	ASSERT_EQ(0, ioasid_destroy(fd, ioas2));
	assert_accounting(_metadata, fd, SZ_2M / PAGE_SZ + 1);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 0));
}

TEST_F(ioasid, map_bad_args)
{
	struct ioasid_map_range r = {
		.uaddr = (uintptr_t)self->buf,
		.length = 2 * PAGE_SZ,
		.iova = IOVA_A,
		.prot = MAP_RW,
		.flags = IOASID_MAP_FIXED | (1 << 3),
	};
	struct ioasid_ioas_map cmd = {
		.argsz = sizeof(cmd),
		.flags = 1,
		.ranges = (uintptr_t)&r,
		.ioas_id = self->ioas_id,
		.nr_ranges = 1,
	};
	int fd = self->fd;
	__u32 ioas = self->ioas_id;
	char *buf = self->buf, *ro;
	void *hole;
	int ret;

	if (self->skip)
		return;
	/* unknown flags of the call, of a range, of its prot; __rsvd */
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	cmd.flags = 0;
	cmd.out_failed = ~0U;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	ASSERT_EQ(0U, cmd.out_failed);
	r.flags = IOASID_MAP_FIXED;
	r.prot |= 1 << 3;
	cmd.out_failed = ~0U;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	ASSERT_EQ(0U, cmd.out_failed);
	r.prot = MAP_RW;
	cmd.__rsvd = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	cmd.__rsvd = 0;
	/* neither readable nor writeable, empty, unaligned, wrapping */
	ASSERT_EQ(-EINVAL, ioas_map_fixed(fd, ioas, buf, PAGE_SZ, IOVA_A, 0));
	ASSERT_EQ(-EINVAL, ioas_map_fixed(fd, ioas, buf, 0, IOVA_A, MAP_RW));
	ASSERT_EQ(-EINVAL, ioas_map_fixed(fd, ioas, buf, PAGE_SZ + 1, IOVA_A, MAP_RW));
	ASSERT_EQ(-EINVAL, ioas_map_fixed(fd, ioas, buf + 1, PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(-EINVAL, ioas_map_fixed(fd, ioas, buf, PAGE_SZ, IOVA_A + 1, MAP_RW));
	ASSERT_EQ(-EOVERFLOW, ioas_map_fixed(fd, ioas, (void *)WRAPPING, 2 * PAGE_SZ, IOVA_A,
					     MAP_RW));
	ASSERT_EQ(-EOVERFLOW, ioas_map_fixed(fd, ioas, buf, 2 * PAGE_SZ, WRAPPING, MAP_RW));
	/* not an IOAS */
	ASSERT_EQ(-ENOENT, ioas_map_fixed(fd, NO_SUCH_ID, buf, PAGE_SZ, IOVA_A, MAP_RW));
	if (self->ndev) {
		ASSERT_EQ(-ENOENT, ioas_map_fixed(fd, self->hwpt_id[0], buf, PAGE_SZ, IOVA_A, RO));
		ASSERT_EQ(-ENOENT, ioas_map_fixed(fd, self->dev_id[0], buf, PAGE_SZ, IOVA_A, RO));
	}
	/* memory that is not there */
	hole = mmap(NULL, 2 * PAGE_SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole, 2 * PAGE_SZ));
	ASSERT_EQ(-EFAULT, ioas_map_fixed(fd, ioas, hole, 2 * PAGE_SZ, IOVA_A, MAP_RW));
	/* beyond what an attached mock domain can translate */
	ret = ioas_map_fixed(fd, ioas, buf, 2 * PAGE_SZ, ABOVE_APERTURE - PAGE_SZ, MAP_RW);
	ASSERT_EQ(self->ndev ? -EADDRINUSE : 0, ret);
	ret = ioas_map_fixed(fd, ioas, buf, PAGE_SZ, WRAPPING, MAP_RW);
	ASSERT_EQ(self->ndev ? -EADDRINUSE : 0, ret);
	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, NULL));
	/* devices may not write what the process may not write */
	ro = fixture_buf(self, 4 * PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, ro);
	fill_pattern(ro, 4 * PAGE_SZ, 2);
	ASSERT_EQ(0, mprotect(ro, 4 * PAGE_SZ, PROT_READ));
	ASSERT_EQ(-EFAULT, ioas_map_fixed(fd, ioas, ro, 4 * PAGE_SZ, IOVA_A, MAP_RW));

	/* none of the failures left anything pinned, accounted or mapped */
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, buf, self->buf_len, 0));
	ASSERT_EQ(0, mock_check_refs(fd, ro, 4 * PAGE_SZ, 0));
	ASSERT_EQ(0, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, ro, 4 * PAGE_SZ, IOVA_B, RO));
	ASSERT_EQ(0, mock_check_refs(fd, ro, 4 * PAGE_SZ, 1));
	assert_iova_pattern(_metadata, self, IOVA_B, 4 * PAGE_SZ, 2);
	/* without IOASID_MAP_FIXED the iova member is not looked at */
	r.flags = 0;
	r.iova = WRAPPING + 1;
	ASSERT_EQ(0, ioasid_do(fd, IOASID_IOAS_MAP, &cmd));
	ASSERT_NE(WRAPPING + 1, r.iova);
	ASSERT_EQ(0ULL, r.iova % MOCK_IOVA_ALIGN);
	assert_accounting(_metadata, fd, 8);
}

TEST_F(ioasid, map_overlap)
{
	int fd = self->fd, ret;
	__u32 ioas = self->ioas_id;
	size_t len = self->buf_len, half = len / 2;
	char *buf = self->buf;
	__u64 iova, unmapped = 0;
	unsigned int i;
	const struct {
		__u64 iova;
		__u64 length;
	} clash[] = {
		{ IOVA_A, PAGE_SZ },			/* same start */
		{ IOVA_A + PAGE_SZ, PAGE_SZ },		/* inside */
		{ IOVA_A + half - PAGE_SZ, half },	/* over the end */
		{ IOVA_A - PAGE_SZ, half },		/* over the start */
		{ IOVA_A - PAGE_SZ, len },		/* all of it */
	};

	if (self->skip)
		return;
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, buf, half, IOVA_A, MAP_RW));
	for (i = 0; i < ARRAY_SIZE(clash); i++) {
		ret = ioas_map_fixed(fd, ioas, buf, clash[i].length, clash[i].iova, MAP_RW);
		ASSERT_EQ(-EEXIST, ret) TH_LOG("clash %u", i);
	}
	assert_accounting(_metadata, fd, half / PAGE_SZ);
	/* right next to it on either side is fine */
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, buf + half, half, IOVA_A + half, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, buf, PAGE_SZ, IOVA_A - PAGE_SZ, MAP_RW));
	/* and the kernel's choice avoids them all */
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, len, &iova, MAP_RW));
	ASSERT_TRUE(iova + len <= IOVA_A - PAGE_SZ || iova >= IOVA_A + len);

	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, &unmapped));
	ASSERT_EQ(2 * len + PAGE_SZ, unmapped);
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, &unmapped));
	ASSERT_EQ(0ULL, unmapped);
}

TEST_F(ioasid, unmap_errors)
{
	struct ioasid_iova_range r = { .first = IOVA_A, .last = IOVA_A + PAGE_SZ - 1 };
	struct ioasid_ioas_unmap cmd = {
		.argsz = sizeof(cmd),
		.flags = 1 << 1,
		.ranges = (uintptr_t)&r,
		.ioas_id = self->ioas_id,
		.nr_ranges = 1,
	};
	int fd = self->fd, ret;
	__u32 ioas = self->ioas_id;
	size_t len = self->buf_len;
	__u64 unmapped = 0;
	unsigned int i;
	const struct {
		__u64 iova;
		__u64 length;
	} cut[] = {
		{ IOVA_A, len / 2 },			/* the front */
		{ IOVA_A + PAGE_SZ, len - PAGE_SZ },	/* the back */
		{ IOVA_A + PAGE_SZ, PAGE_SZ },		/* the middle */
		{ IOVA_A - PAGE_SZ, len },		/* over the start */
	};

	if (self->skip)
		return;
	fill_pattern(self->buf, len, 3);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A, MAP_RW));
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd));
	cmd.flags = 0;
	cmd.__rsvd = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd));
	cmd.__rsvd = 0;
	/* UNMAP_EVERYTHING takes no range: neither a count nor an array */
	cmd.flags = IOASID_UNMAP_EVERYTHING;
	ASSERT_EQ(-EINVAL, ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd));
	cmd.nr_ranges = 0;
	ASSERT_EQ(-EINVAL, ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd));
	cmd.ranges = 0;
	cmd.nr_ranges = 1;
	ASSERT_EQ(-EINVAL, ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd));
	/* an inclusive range that ends before it starts wraps */
	ASSERT_EQ(-EOVERFLOW, ioas_unmap(fd, ioas, IOVA_A, 0, NULL));
	ASSERT_EQ(-EINVAL, ioas_unmap(fd, ioas, IOVA_A + 1, PAGE_SZ, NULL));
	ASSERT_EQ(-EINVAL, ioas_unmap(fd, ioas, IOVA_A, PAGE_SZ + 1, NULL));
	ASSERT_EQ(-EOVERFLOW, ioas_unmap(fd, ioas, WRAPPING, 2 * PAGE_SZ, NULL));
	ASSERT_EQ(-ENOENT, ioas_unmap(fd, NO_SUCH_ID, IOVA_A, PAGE_SZ, NULL));
	ASSERT_EQ(-ENOENT, ioas_unmap_all(fd, NO_SUCH_ID, NULL));
	if (self->ndev)
		ASSERT_EQ(-ENOENT, ioas_unmap(fd, self->hwpt_id[0], IOVA_A, PAGE_SZ, NULL));
	/* a mapping is never split: nothing is unmapped */
	for (i = 0; i < ARRAY_SIZE(cut); i++) {
		ret = ioas_unmap(fd, ioas, cut[i].iova, cut[i].length, &unmapped);
		ASSERT_EQ(-ENOENT, ret) TH_LOG("cut %u", i);
	}
	/* the mapping survived all of that */
	assert_accounting(_metadata, fd, len / PAGE_SZ);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 1));
	assert_iova_pattern(_metadata, self, IOVA_A, len, 3);
	write_iova_pattern(_metadata, self, IOVA_A, len, 4);
	ASSERT_EQ(-1, check_pattern(self->buf, len, 4));

	/* a range with nothing in it */
	unmapped = 1;
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_B, len, &unmapped));
	ASSERT_EQ(0ULL, unmapped);
	/* a range holding two whole mappings, with room to spare */
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A + len + PAGE_SZ, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_A - PAGE_SZ, 2 * len + 3 * PAGE_SZ, &unmapped));
	ASSERT_EQ(2ULL * len, unmapped);
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 0));
}

TEST_F(ioasid, allow_iovas)
{
	size_t len = self->buf_len;
	struct ioasid_iova_range lists[2] = {
		{ .first = IOVA_A, .last = IOVA_A + 2 * len - 1 },
		{ .first = IOVA_B, .last = IOVA_B + SZ_1G - 1 },
	};
	struct ioasid_ioas_limit cmd = {
		.argsz = sizeof(cmd),
		.flags = 1,
		.ioas_id = self->ioas_id,
	};
	struct ioasid_iova_range range;
	int fd = self->fd;
	__u32 ioas = self->ioas_id, num = 1, dev;
	__u64 iova[2], spare;
	unsigned int i;

	if (self->skip)
		return;
	ASSERT_EQ(0, ioas_allow_iovas(fd, ioas, lists, 1));
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(0, memcmp(&lists[0], &range, sizeof(range)));
	/* the kernel chooses inside the window, until it is full */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ioas_map(fd, ioas, self->buf, len, &iova[i], MAP_RW));
		ASSERT_TRUE(iova[i] >= lists[0].first && iova[i] + len - 1 <= lists[0].last);
	}
	ASSERT_EQ(-ENOSPC, ioas_map(fd, ioas, self->buf, PAGE_SZ, &spare, MAP_RW));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, ioas, self->buf, PAGE_SZ, IOVA_B, MAP_RW));
	/* a list that leaves mappings out is refused, and changes nothing */
	ASSERT_EQ(-EBUSY, ioas_allow_iovas(fd, ioas, &lists[1], 1));
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(lists[0].last, range.last);
	/* so are bad lists: overlapping, backwards, unaligned */
	lists[1].first = lists[0].last + 1 - PAGE_SZ;
	ASSERT_EQ(-EINVAL, ioas_allow_iovas(fd, ioas, lists, 2));
	lists[1].first = IOVA_B + 1;
	ASSERT_EQ(-EINVAL, ioas_allow_iovas(fd, ioas, lists, 2));
	lists[1].first = IOVA_B + SZ_1G;
	ASSERT_EQ(-EINVAL, ioas_allow_iovas(fd, ioas, lists, 2));
	lists[1].first = IOVA_B;
	lists[1].last = IOVA_B + SZ_1G;
	ASSERT_EQ(-EINVAL, ioas_allow_iovas(fd, ioas, lists, 2));
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_LIMIT, &cmd));
	ASSERT_EQ(-ENOENT, ioas_allow_iovas(fd, NO_SUCH_ID, lists, 1));
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(lists[0].last, range.last);

	/* no ranges at all lift the restriction */
	ASSERT_EQ(0, ioas_allow_iovas(fd, ioas, NULL, 0));
	ASSERT_EQ(0, ioas_iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(0ULL, range.first);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, PAGE_SZ, IOVA_B, MAP_RW));
	/* a list holding every mapping is fine */
	lists[1].last = IOVA_B + SZ_1G - 1;
	ASSERT_EQ(0, ioas_allow_iovas(fd, ioas, lists, 2));
	assert_accounting(_metadata, fd, 2 * len / PAGE_SZ + 1);

	/* IOVAs an attached domain cannot reach cannot be allowed */
	range.first = ABOVE_APERTURE;
	range.last = ABOVE_APERTURE + SZ_1M - 1;
	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, NULL));
	ASSERT_EQ(self->ndev ? -EADDRINUSE : 0, ioas_allow_iovas(fd, ioas, &range, 1));
	/* nor can a domain attach when they are allowed */
	if (!self->ndev)
		ASSERT_EQ(-EADDRINUSE, mock_device(fd, ioas, &dev, NULL));
}

TEST_F(ioasid, copy)
{
	int fd = self->fd;
	__u32 ioas = self->ioas_id, ioas2, dev2, hwpt2;
	size_t len = self->buf_len;
	__u64 npages = len / PAGE_SZ, dst = 0, unmapped = 0, phys = 0, phys2 = 1;
	char *tmp = calloc(1, len);

	if (self->skip)
		return;
	ASSERT_NE(NULL, tmp);
	fill_pattern(self->buf, len, 5);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, len, MAP_RW));
	ASSERT_TRUE(dst + len <= IOVA_A || dst >= IOVA_A + len);
	/* the copy maps the pages already pinned: no new pin, no new charge */
	assert_accounting(_metadata, fd, npages);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 1));
	assert_iova_pattern(_metadata, self, dst, len, 5);
	write_iova_pattern(_metadata, self, dst, len, 6);
	ASSERT_EQ(-1, check_pattern(self->buf, len, 6));

	/* a read-only copy into another IOAS, seen by its own device */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, mock_device(fd, ioas2, &dev2, &hwpt2));
	ASSERT_EQ(0, ioas_copy_fixed(fd, ioas2, IOVA_B, ioas, IOVA_A, len, RO));
	assert_accounting(_metadata, fd, npages);
	ASSERT_EQ(-EFAULT, mock_dma(fd, dev2, IOVA_B, tmp, PAGE_SZ, DMA_WR, NULL));
	ASSERT_EQ(-1, check_pattern(self->buf, len, 6));
	ASSERT_EQ(0, mock_iopte(fd, hwpt2, IOVA_B + PAGE_SZ, NULL, &phys2));
	if (self->ndev) {
		ASSERT_EQ(0, mock_iopte(fd, self->hwpt_id[0], IOVA_A + PAGE_SZ, NULL, &phys));
		ASSERT_EQ(phys, phys2);
	}

	/* copies outlive their source */
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_A, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	assert_accounting(_metadata, fd, npages);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 1));
	assert_iova_pattern(_metadata, self, dst, len, 6);
	fill_pattern(self->buf, len, 7);
	ASSERT_EQ(0, mock_dma(fd, dev2, IOVA_B, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 7));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, ioas2));
	ASSERT_EQ(0, ioasid_destroy(fd, dev2));
	ASSERT_EQ(0, ioasid_destroy(fd, ioas2));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, dst, len, NULL));
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, len, 0));
	free(tmp);
}

TEST_F(ioasid, copy_errors)
{
	size_t len = self->buf_len, half = len / 2;
	struct ioasid_ioas_copy cmd = {
		.argsz = sizeof(cmd),
		.flags = 1 << 3,
		.src_iova = IOVA_A,
		.length = PAGE_SZ,
		.src_ioas_id = self->ioas_id,
		.dst_ioas_id = self->ioas_id,
		.prot = MAP_RW,
	};
	int fd = self->fd;
	__u32 ioas = self->ioas_id;
	__u64 dst = 0, unmapped = 0;

	if (self->skip)
		return;
	fill_pattern(self->buf, len, 8);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, half, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, (char *)self->buf + half, half, IOVA_A + half, RO));
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_COPY, &cmd));
	cmd.flags = 0;
	cmd.prot = MAP_RW | (1 << 3);
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_COPY, &cmd));
	cmd.prot = MAP_RW;
	cmd.__rsvd = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(fd, IOASID_IOAS_COPY, &cmd));
	ASSERT_EQ(-EINVAL, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, PAGE_SZ, 0));
	ASSERT_EQ(-EINVAL, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, 0, MAP_RW));
	ASSERT_EQ(-EINVAL, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, PAGE_SZ + 1, MAP_RW));
	ASSERT_EQ(-EINVAL, ioas_copy(fd, ioas, &dst, ioas, IOVA_A + 1, PAGE_SZ, MAP_RW));
	ASSERT_EQ(-EOVERFLOW, ioas_copy(fd, ioas, &dst, ioas, WRAPPING, 2 * PAGE_SZ, MAP_RW));
	ASSERT_EQ(-EOVERFLOW, ioas_copy_fixed(fd, ioas, WRAPPING, ioas, IOVA_A, 2 * PAGE_SZ,
					      MAP_RW));
	ASSERT_EQ(-ENOENT, ioas_copy(fd, NO_SUCH_ID, &dst, ioas, IOVA_A, PAGE_SZ, MAP_RW));
	ASSERT_EQ(-ENOENT, ioas_copy(fd, ioas, &dst, NO_SUCH_ID, IOVA_A, PAGE_SZ, MAP_RW));
	/* the whole source range must be mapped */
	ASSERT_EQ(-ENOENT, ioas_copy(fd, ioas, &dst, ioas, IOVA_B, PAGE_SZ, RO));
	ASSERT_EQ(-ENOENT, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, len + PAGE_SZ, RO));
	ASSERT_EQ(-ENOENT, ioas_copy(fd, ioas, &dst, ioas, IOVA_A - PAGE_SZ, 2 * PAGE_SZ, RO));
	/* with no more rights than every source mapping has */
	ASSERT_EQ(-EPERM, ioas_copy(fd, ioas, &dst, ioas, IOVA_A + half, PAGE_SZ, MAP_RW));
	ASSERT_EQ(-EPERM, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, len, MAP_RW));
	/* to a free destination */
	ASSERT_EQ(-EEXIST, ioas_copy_fixed(fd, ioas, IOVA_A + PAGE_SZ, ioas, IOVA_A, PAGE_SZ, RO));
	if (self->ndev)
		ASSERT_EQ(-EADDRINUSE, ioas_copy_fixed(fd, ioas, ABOVE_APERTURE, ioas, IOVA_A,
						       PAGE_SZ, RO));
	assert_accounting(_metadata, fd, len / PAGE_SZ);

	/* one copy of two mappings, with the rights both have */
	ASSERT_EQ(0, ioas_copy_fixed(fd, ioas, IOVA_B, ioas, IOVA_A, len, RO));
	assert_accounting(_metadata, fd, len / PAGE_SZ);
	assert_iova_pattern(_metadata, self, IOVA_B, len, 8);
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_B, len, &unmapped));
	ASSERT_EQ(len, unmapped);
}

TEST_F(ioasid, dma_round_trip)
{
	size_t len = self->buf_len;
	char *buf = self->buf, *tmp = malloc(len);
	__u64 done = 1;

	if (self->skip)
		return;
	ASSERT_NE(NULL, tmp);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, buf, len, IOVA_A, MAP_RW));
	/* device to memory, memory to device */
	write_iova_pattern(_metadata, self, IOVA_A, len, 9);
	ASSERT_EQ(-1, check_pattern(buf, len, 9));
	fill_pattern(buf, len, 10);
	assert_iova_pattern(_metadata, self, IOVA_A, len, 10);
	/* unaligned, across pages */
	memset(tmp, 0, len);
	ASSERT_EQ(0, iova_xfer(self, IOVA_A + 100, tmp, 2 * PAGE_SZ + 37, DMA_RD));
	ASSERT_EQ(0, memcmp(tmp, buf + 100, 2 * PAGE_SZ + 37));
	memset(tmp, 0x3c, 2 * PAGE_SZ);
	ASSERT_EQ(0, iova_xfer(self, IOVA_A + PAGE_SZ - 5, tmp, 2 * PAGE_SZ, DMA_WR));
	ASSERT_EQ(-1, check_fill(buf + PAGE_SZ - 5, 2 * PAGE_SZ, 0x3c));
	ASSERT_EQ(-1, check_pattern(buf, PAGE_SZ - 5, 10));

	/* after the unmap the device reaches nothing, and changes nothing */
	fill_pattern(buf, len, 11);
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, IOVA_A, len, NULL));
	memset(tmp, 0xee, len);
	ASSERT_EQ(self->ndev ? -EFAULT : -ENOENT, iova_xfer(self, IOVA_A, tmp, len, DMA_WR));
	ASSERT_EQ(-1, check_pattern(buf, len, 11));
	ASSERT_EQ(self->ndev ? -EFAULT : -ENOENT, iova_xfer(self, IOVA_A, tmp, len, DMA_RD));
	ASSERT_EQ(-1, check_fill(tmp, len, 0xee));
	if (self->ndev) {
		ASSERT_EQ(-EFAULT, mock_dma_done(self->fd, self->dev_id[0], IOVA_A, tmp, len,
						 DMA_WR, &done));
		ASSERT_EQ(0ULL, done);
	}
	free(tmp);
}

TEST_F(ioasid, dma_faults)
{
	size_t half = self->buf_len / 2;
	char *buf = self->buf, *tmp = calloc(1, half);
	int fd = self->fd;
	__u32 dev = self->dev_id[0];
	__u64 done = 0;

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "needs a mock device");
	ASSERT_NE(NULL, tmp);
	fill_pattern(buf, self->buf_len, 12);
	/* two pages mapped and the third not: a DMA stops at the third */
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, buf, 2 * PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(-EFAULT, mock_dma_done(fd, dev, IOVA_A + 8, tmp, 3 * PAGE_SZ, DMA_RD, &done));
	ASSERT_EQ(2 * PAGE_SZ - 8, done);
	ASSERT_EQ(0, memcmp(tmp, buf + 8, done));
	ASSERT_EQ(-1, check_fill(tmp + done, PAGE_SZ, 0));
	fill_pattern(tmp, 3 * PAGE_SZ, 13);
	ASSERT_EQ(-EFAULT, mock_dma_done(fd, dev, IOVA_A, tmp, 3 * PAGE_SZ, DMA_WR, &done));
	ASSERT_EQ(2 * PAGE_SZ, done);
	ASSERT_EQ(-1, check_pattern(buf, 2 * PAGE_SZ, 13));
	/* and the memory behind the third page is untouched */
	fill_pattern(tmp, 3 * PAGE_SZ, 12);
	ASSERT_EQ(0, memcmp(tmp + 2 * PAGE_SZ, buf + 2 * PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, ioas_unmap_all(fd, self->ioas_id, NULL));

	/* a read-only mapping refuses a device write, and keeps its bytes */
	fill_pattern(buf, self->buf_len, 14);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, buf, half, IOVA_A, RO));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, buf + half, half, IOVA_B, WO));
	assert_iova_pattern(_metadata, self, IOVA_A, half, 14);
	memset(tmp, 0x77, half);
	done = 1;
	ASSERT_EQ(-EFAULT, mock_dma_done(fd, dev, IOVA_A, tmp, half, DMA_WR, &done));
	ASSERT_EQ(0ULL, done);
	ASSERT_EQ(-1, check_pattern(buf, half, 14));
	/* a write-only mapping refuses a device read */
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_B, tmp, half, DMA_WR, NULL));
	ASSERT_EQ(-1, check_fill(buf + half, half, 0x77));
	ASSERT_EQ(-EFAULT, mock_dma(fd, dev, IOVA_B, tmp, half, DMA_RD, NULL));
	free(tmp);
}

TEST_F(ioasid, dma_all_devices)
{
	size_t len = self->buf_len;
	int fd = self->fd;
	__u64 size, phys[2] = {}, phys_off;
	unsigned int i, j;
	char *tmp = malloc(len);

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "needs a mock device");
	ASSERT_NE(NULL, tmp);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf, len, IOVA_A, MAP_RW));
	/* what one device writes, every device reads */
	for (i = 0; i < self->ndev; i++) {
		fill_pattern(tmp, len, 20 + i);
		ASSERT_EQ(0, mock_dma(fd, self->dev_id[i], IOVA_A, tmp, len, DMA_WR, NULL));
		for (j = 0; j < self->ndev; j++) {
			memset(tmp, 0, len);
			ASSERT_EQ(0, mock_dma(fd, self->dev_id[j], IOVA_A, tmp, len, DMA_RD, NULL));
			ASSERT_EQ(-1, check_pattern(tmp, len, 20 + i)) TH_LOG("%u to %u", i, j);
		}
	}
	/* every page table maps the IOVA to the same page */
	for (i = 0; i < self->ndev; i++) {
		ASSERT_EQ(0, mock_iopte(fd, self->hwpt_id[i], IOVA_A + PAGE_SZ, &size, &phys[i]));
		ASSERT_TRUE(size == SZ_4K || size == SZ_2M || size == SZ_1G);
		ASSERT_EQ(0, mock_iopte(fd, self->hwpt_id[i], IOVA_A + PAGE_SZ + 0x123, NULL,
					&phys_off));
		ASSERT_EQ(phys[i] + 0x123, phys_off);
	}
	if (self->ndev > 1)
		ASSERT_EQ(phys[0], phys[1]);
	ASSERT_EQ(-ENOENT, mock_iopte(fd, self->hwpt_id[0], IOVA_A + len, NULL, NULL));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_A, len, NULL));
	ASSERT_EQ(-ENOENT, mock_iopte(fd, self->hwpt_id[self->ndev - 1], IOVA_A, NULL, NULL));
	free(tmp);
}

/*
 * The sync counts of the domains of the fixture's devices, each domain
 * once, into @it and @mp; with @check, first compared with the last ones:
 * @iotlb and @map are how many syncs of each kind the command in between
 * must have asked of each domain.
 */
static void expect_syncs(struct __test_metadata *_metadata,
			 struct _test_data_ioasid *self, __u64 *it, __u64 *mp,
			 bool check, unsigned int iotlb, unsigned int map)
{
	unsigned int d;
	__u64 i2, m2;

	for (d = 0; d < self->ndev; d++) {
		if (d && self->hwpt_id[d] == self->hwpt_id[0])
			continue;
		ASSERT_EQ(0, mock_syncs(self->fd, self->hwpt_id[d], &i2, &m2));
		if (check) {
			ASSERT_EQ(it[d] + iotlb, i2)
				TH_LOG("HWPT %u", self->hwpt_id[d]);
			ASSERT_EQ(mp[d] + map, m2)
				TH_LOG("HWPT %u", self->hwpt_id[d]);
		}
		it[d] = i2;
		mp[d] = m2;
	}
}

#define SYNC_RANGES	64

/*
 * A command syncs each domain once, however many areas it maps or unmaps:
 * a map of 64 ranges asks one map sync of each domain, an unmap of a span
 * holding 64 areas or of 64 ranges one IOTLB sync.
 */
TEST_F(ioasid, one_sync_per_command)
{
	struct ioasid_map_range r[SYNC_RANGES];
	struct ioasid_iova_range u[SYNC_RANGES];
	__u64 it[2] = {}, mp[2] = {}, unmapped = 0;
	int fd = self->fd;
	unsigned int i;
	char *buf;

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "needs a mock device");
	buf = fixture_buf(self, SYNC_RANGES * PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < SYNC_RANGES; i++) {
		r[i] = (struct ioasid_map_range){
			.uaddr = (uintptr_t)(buf + i * PAGE_SZ),
			.length = PAGE_SZ,
			.iova = IOVA_A + i * SZ_2M + (i % 8) * PAGE_SZ,
			.prot = MAP_RW,
			.flags = IOASID_MAP_FIXED,
		};
		u[i].first = r[i].iova;
		u[i].last = r[i].iova + PAGE_SZ - 1;
	}
	expect_syncs(_metadata, self, it, mp, false, 0, 0);

	ASSERT_EQ(0, ioas_map_vec(fd, self->ioas_id, r, SYNC_RANGES, NULL));
	expect_syncs(_metadata, self, it, mp, true, 0, 1);
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_A, SYNC_RANGES * SZ_2M,
				&unmapped));
	ASSERT_EQ(SYNC_RANGES * PAGE_SZ, unmapped);
	expect_syncs(_metadata, self, it, mp, true, 1, 0);

	ASSERT_EQ(0, ioas_map_vec(fd, self->ioas_id, r, SYNC_RANGES, NULL));
	expect_syncs(_metadata, self, it, mp, true, 0, 1);
	ASSERT_EQ(0, ioas_unmap_vec(fd, self->ioas_id, u, SYNC_RANGES,
				    &unmapped, NULL));
	ASSERT_EQ(SYNC_RANGES * PAGE_SZ, unmapped);
	expect_syncs(_metadata, self, it, mp, true, 1, 0);
}

TEST_F(ioasid, late_domain)
{
	size_t len = self->buf_len;
	int fd = self->fd;
	__u32 ioas = self->ioas_id, dev, dev2, hwpt2, out;
	char *tmp = calloc(1, len);

	if (self->skip)
		return;
	ASSERT_NE(NULL, tmp);
	fill_pattern(self->buf, len, 15);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A, MAP_RW));
	/* a device attached after the map sees it */
	ASSERT_EQ(0, mock_device(fd, ioas, &dev, NULL));
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 15));
	/* so does one on a HWPT allocated after the map */
	ASSERT_EQ(0, hwpt_create(fd, dev, ioas, &hwpt2));
	ASSERT_EQ(0, mock_device(fd, hwpt2, &dev2, &out));
	ASSERT_EQ(hwpt2, out);
	memset(tmp, 0, len);
	ASSERT_EQ(0, mock_dma(fd, dev2, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 15));
	/* and from then on it follows maps and unmaps */
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_B, MAP_RW));
	memset(tmp, 0, len);
	ASSERT_EQ(0, mock_dma(fd, dev2, IOVA_B, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 15));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_A, len, NULL));
	ASSERT_EQ(-EFAULT, mock_dma(fd, dev2, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-ENOENT, mock_iopte(fd, hwpt2, IOVA_A, NULL, NULL));
	free(tmp);
}

/* Replacing a device's attachment changes what it reads, atomically */
TEST_F(ioasid, replace)
{
	size_t len = self->buf_len;
	__u32 dev, ioas2, hwpt, hwpt2;
	int fd = self->fd;
	char *buf2, *tmp;

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "needs a mock device");
	dev = self->dev_id[0];
	buf2 = fixture_buf(self, len, PAGE_SZ, BUF_SMALL_PAGES);
	tmp = calloc(1, len);
	ASSERT_NE(NULL, buf2);
	ASSERT_NE(NULL, tmp);
	fill_pattern(self->buf, len, 21);
	fill_pattern(buf2, len, 22);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf, len, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas2, buf2, len, IOVA_A, MAP_RW));
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 21));

	/* on the other IOAS the same IOVA reads the other buffer */
	ASSERT_EQ(0, mock_replace(fd, dev, ioas2, &hwpt2));
	ASSERT_NE(self->hwpt_id[0], hwpt2);
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 22));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, ioas2));
	/* to where it already is: nothing changes */
	ASSERT_EQ(0, mock_replace(fd, dev, hwpt2, &hwpt));
	ASSERT_EQ(hwpt2, hwpt);
	/* a bad target leaves it where it was */
	ASSERT_EQ(-ENOENT, mock_replace(fd, dev, NO_SUCH_ID, NULL));
	memset(tmp, 0, len);
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 22));

	/* a reserved region over a mapping of the target refuses the move */
	ASSERT_EQ(0, mock_add_reserved(fd, dev, IOVA_A, IOVA_A + PAGE_SZ - 1));
	ASSERT_EQ(-EADDRINUSE, mock_replace(fd, dev, self->ioas_id, NULL));
	memset(tmp, 0, len);
	ASSERT_EQ(0, mock_dma(fd, dev, IOVA_A, tmp, len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, len, 22));
	/* once the target no longer maps it, the move goes through */
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_A, len, NULL));
	ASSERT_EQ(0, mock_replace(fd, dev, self->ioas_id, NULL));
	ASSERT_EQ(-EFAULT, mock_dma(fd, dev, IOVA_A, tmp, PAGE_SZ, DMA_RD, NULL));
	/* and the region now keeps maps out of that IOAS */
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, self->ioas_id, self->buf, PAGE_SZ,
					      IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioasid_destroy(fd, ioas2));
	free(tmp);
}

TEST_F(ioasid, device_unbind)
{
	struct ioasid_iova_range range;
	int fd = self->fd, i, ret;
	__u32 num = 1;
	char byte = 0;

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "needs a mock device");
	fill_pattern(self->buf, self->buf_len, 16);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf, self->buf_len, IOVA_A, MAP_RW));
	/* in use: the IOAS under its HWPTs, a HWPT under its devices */
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, self->ioas_id));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, self->hwpt_id[self->ndev - 1]));
	assert_iova_pattern(_metadata, self, IOVA_A, self->buf_len, 16);
	for (i = self->ndev - 1; i >= 0; i--) {
		bool shared = i && self->hwpt_id[i] == self->hwpt_id[0];
		bool explicit = i && variant->second_hwpt;

		ASSERT_EQ(0, ioasid_destroy(fd, self->dev_id[i]));
		ASSERT_EQ(-ENOENT, ioasid_destroy(fd, self->dev_id[i]));
		ASSERT_EQ(-ENOENT, mock_dma(fd, self->dev_id[i], IOVA_A, &byte, 1, DMA_RD, NULL));
		/* an automatic HWPT lives as long as it has a device */
		ret = mock_iopte(fd, self->hwpt_id[i], IOVA_A, NULL, NULL);
		ASSERT_EQ(shared || explicit ? 0 : -ENOENT, ret) TH_LOG("device %d", i);
		if (explicit)
			ASSERT_EQ(0, ioasid_destroy(fd, self->hwpt_id[i]));
	}
	/* nothing is attached: no aperture, and HUGE_PAGES can change */
	ASSERT_EQ(0, ioas_iova_ranges(fd, self->ioas_id, &range, &num, NULL));
	ASSERT_EQ(UINT64_MAX, range.last);
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_HUGE, self->ioas_id, 0));
	/* and the IOAS can go, mapping and all */
	ASSERT_EQ(0, ioasid_destroy(fd, self->ioas_id));
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, self->buf, self->buf_len, 0));
}

TEST_F(ioasid, access_rw_pin)
{
	size_t len = self->buf_len;
	int fd = self->fd;
	__u32 ioas = self->ioas_id, access, bad;
	char *buf = self->buf, tmp[3 * PAGE_SZ];

	if (self->skip)
		return;
	fill_pattern(buf, len, 17);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, buf, len, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, buf, PAGE_SZ, IOVA_B, RO));
	ASSERT_EQ(-ENOENT, access_create(fd, NO_SUCH_ID, &bad));
	ASSERT_EQ(0, access_create(fd, ioas, &access));
	ASSERT_EQ(0, access_rw(fd, access, IOVA_A + 10, tmp, sizeof(tmp), DMA_RD));
	ASSERT_EQ(0, memcmp(tmp, buf + 10, sizeof(tmp)));
	fill_pattern(tmp, sizeof(tmp), 18);
	ASSERT_EQ(0, access_rw(fd, access, IOVA_A + PAGE_SZ, tmp, sizeof(tmp), DMA_WR));
	ASSERT_EQ(-1, check_pattern(buf + PAGE_SZ, sizeof(tmp), 18));
	ASSERT_EQ(-EPERM, access_rw(fd, access, IOVA_B, tmp, PAGE_SZ, DMA_WR));
	ASSERT_EQ(-ENOENT, access_rw(fd, access, IOVA_B + PAGE_SZ, tmp, PAGE_SZ, DMA_RD));

	ASSERT_EQ(-EINVAL, access_pin(fd, access, IOVA_A + 1, PAGE_SZ));
	ASSERT_EQ(-ENOENT, access_pin(fd, access, IOVA_B + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, access_pin(fd, access, IOVA_A + PAGE_SZ, 2 * PAGE_SZ));
	/* unmap asks the access to let go of its pin, and succeeds */
	ASSERT_EQ(0, ioas_unmap(fd, ioas, IOVA_A, len, NULL));
	ASSERT_EQ(-ENOENT, access_rw(fd, access, IOVA_A + PAGE_SZ, tmp, PAGE_SZ, DMA_RD));
	assert_accounting(_metadata, fd, 1);
	ASSERT_EQ(0, ioasid_destroy(fd, access));
}

/*
 * Vectors against the limit, in the child's accounting mode: 0, or the
 * step that failed. A vector is charged as a whole where it can be, and
 * range by range where it can't, so that the range that crosses the limit
 * is the one reported; all of it comes back on unmap.
 */
static int memlock_vector(int fd, __u32 ioas, char *big)
{
	const __u64 half = MEMLOCK_LIMIT / 2;
	struct ioasid_map_range r[3];
	struct ioasid_iova_range u[2];
	__u64 locked = 1, pinned = 1, unmapped = 0;
	__u32 failed = ~0U;
	unsigned int i;

	for (i = 0; i < 3; i++)
		map_range_set(&r[i], big + i * half, half, 0, MAP_RW);
	if (ioas_map_vec(fd, ioas, r, 3, &failed) != -ENOMEM || failed != 2)
		return 1;
	if (mock_accounting(fd, &locked, &pinned) || locked || pinned)
		return 2;
	if (mock_check_refs(fd, big, 3 * half, 0))
		return 3;
	/* two halves fill the limit exactly */
	if (ioas_map_vec(fd, ioas, r, 2, NULL))
		return 4;
	if (mock_accounting(fd, &locked, &pinned) ||
	    locked != MEMLOCK_LIMIT / PAGE_SZ || pinned != locked)
		return 5;
	for (i = 0; i < 2; i++) {
		u[i].first = r[i].iova;
		u[i].last = r[i].iova + half - 1;
	}
	if (ioas_unmap_vec(fd, ioas, u, 2, &unmapped, NULL) ||
	    unmapped != MEMLOCK_LIMIT)
		return 6;
	if (mock_accounting(fd, &locked, &pinned) || locked || pinned)
		return 7;
	/* the user's or the mm's whole limit is free again */
	if (ioas_map_vec(fd, ioas, r, 2, NULL))
		return 8;
	for (i = 0; i < 2; i++) {
		u[i].first = r[i].iova;
		u[i].last = r[i].iova + half - 1;
	}
	return ioas_unmap_vec(fd, ioas, u, 2, NULL, NULL) ? 9 : 0;
}

/* In a child without CAP_IPC_LOCK: returns 0, or the step that failed */
static int memlock_child(int fd, __u32 ioas, void *big)
{
	struct rlimit lim = { .rlim_cur = MEMLOCK_LIMIT, .rlim_max = MEMLOCK_LIMIT };
	__u64 iova, locked = 1, pinned = 1;
	int mode, step, ret;

	if (drop_cap_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &lim))
		return 1;
	/* both ways of accounting: to the user, and to the mm */
	for (mode = 0, step = 10; mode <= 1; mode++, step += 20) {
		if (ioasid_option_set(fd, OPT_RLIMIT, 0, mode))
			return step;
		if (ioas_map(fd, ioas, big, 2 * MEMLOCK_LIMIT, &iova, MAP_RW) != -ENOMEM)
			return step + 1;
		if (mock_accounting(fd, &locked, &pinned) || locked || pinned)
			return step + 2;
		if (mock_check_refs(fd, big, 2 * MEMLOCK_LIMIT, 0))
			return step + 3;
		if (ioas_map(fd, ioas, big, SZ_64K, &iova, MAP_RW))
			return step + 4;
		if (mock_accounting(fd, &locked, &pinned) || locked != SZ_64K / PAGE_SZ)
			return step + 5;
		if (ioas_unmap(fd, ioas, iova, SZ_64K, NULL))
			return step + 6;
		ret = memlock_vector(fd, ioas, big);
		if (ret)
			return step + 10 + ret;
	}
	return ioasid_option_set(fd, OPT_RLIMIT, 0, 0) ? 2 : 0;
}

TEST_F(ioasid, memlock_limit)
{
	__u64 iova, mode = 1;
	int status = -1;
	void *big;
	pid_t pid;

	if (self->skip)
		return;
	big = fixture_buf(self, 2 * MEMLOCK_LIMIT, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, big);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(memlock_child(self->fd, self->ioas_id, big));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failed at step %d", WEXITSTATUS(status));
	assert_accounting(_metadata, self->fd, 0);
	ASSERT_EQ(0, ioasid_option_get(self->fd, OPT_RLIMIT, 0, &mode));
	ASSERT_EQ(0ULL, mode);
	/* with CAP_IPC_LOCK the limit does not apply */
	ASSERT_EQ(0, ioas_map(self->fd, self->ioas_id, big, 2 * MEMLOCK_LIMIT, &iova, MAP_RW));
	assert_accounting(_metadata, self->fd, 2 * MEMLOCK_LIMIT / PAGE_SZ);
}

/*
 * A child that became another user maps through its parent's file: 0, or
 * the step that failed. Its pages are charged to it, not to the user who
 * opened the file, and stay so after it exits.
 */
static int other_user_child(int fd, __u32 ioas, char *buf)
{
	struct rlimit lim = { .rlim_cur = SZ_64K, .rlim_max = SZ_64K };
	const unsigned long part = SZ_64K / 2;
	struct ioasid_map_range r[3];
	__u32 failed = ~0U;
	unsigned int i;

	if (setrlimit(RLIMIT_MEMLOCK, &lim) || setresuid(65534, 65534, 65534))
		return 1;
	for (i = 0; i < 3; i++)
		map_range_set(&r[i], buf + i * part, part,
			      IOVA_A + i * part, MAP_RW | MAP_FIXED_IOVA);
	/* this user's limit holds two ranges of the three */
	if (ioas_map_vec(fd, ioas, r, 3, &failed) != -ENOMEM || failed != 2)
		return 2;
	return ioas_map_vec(fd, ioas, r, 2, NULL) ? 3 : 0;
}

TEST_F(ioasid, memlock_other_user)
{
	const unsigned long part = SZ_64K / 2;
	struct ioasid_map_range r[3];
	int status = -1;
	unsigned int i;
	char *buf;
	pid_t pid;

	if (self->skip)
		return;
	buf = fixture_buf(self, 3 * part, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(other_user_child(self->fd, self->ioas_id, buf));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failed at step %d", WEXITSTATUS(status));
	assert_accounting(_metadata, self->fd, 2 * part / PAGE_SZ);
	/* the unmap here drops the pages' references on the child's user */
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, IOVA_A, 2 * part, NULL));
	assert_accounting(_metadata, self->fd, 0);
	/* the file's own user maps all three, charged to it */
	for (i = 0; i < 3; i++)
		map_range_set(&r[i], buf + i * part, part,
			      IOVA_A + i * part, MAP_RW | MAP_FIXED_IOVA);
	ASSERT_EQ(0, ioas_map_vec(self->fd, self->ioas_id, r, 3, NULL));
	assert_accounting(_metadata, self->fd, 3 * part / PAGE_SZ);
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, IOVA_A, 3 * part, NULL));
	assert_accounting(_metadata, self->fd, 0);
}

/* A child without CAP_IPC_LOCK and a small limit: 0, or the failing step */
static int huge_map_child(int fd, __u32 ioas)
{
	struct rlimit lim = { .rlim_cur = SZ_64K, .rlim_max = SZ_64K };
	__u64 iova, locked = 1, pinned = 1;

	if (drop_cap_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &lim))
		return 1;
	/* the limit is checked before anything is allocated for the range */
	if (ioas_map(fd, ioas, (void *)0x100000000UL, 1ULL << 41, &iova, RO) != -ENOMEM)
		return 2;
	if (mock_accounting(fd, &locked, &pinned) || locked || pinned)
		return 3;
	return 0;
}

/*
 * A map of 2 TiB: a clean errno, no allocation in proportion to the range
 * (which would WARN in kvmalloc), and nothing left charged or pinned.
 */
TEST_F(ioasid, map_huge_request)
{
	int status = -1, ret;
	__u64 iova;
	pid_t pid;

	if (self->skip)
		return;
	/* CAP_IPC_LOCK: the charge passes; nothing is mapped there to pin */
	ret = ioas_map(self->fd, self->ioas_id, (void *)0x100000000UL, 1ULL << 41, &iova, RO);
	ASSERT_TRUE(ret == -EFAULT || ret == -ENOMEM) TH_LOG("map returned %d", ret);
	assert_accounting(_metadata, self->fd, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(huge_map_child(self->fd, self->ioas_id));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failed at step %d", WEXITSTATUS(status));
}

/*
 * Copy part of a mapping elsewhere, unmap the original: only the copied
 * pages stay pinned and charged.
 */
TEST_F(ioasid, partial_copy_unpins_rest)
{
	int fd = self->fd;
	__u32 ioas2;
	char *buf;

	if (self->skip)
		return;
	/* order-0 pages, whose pin counts are exact */
	buf = fixture_buf(self, 8 * PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	fill_pattern(buf, 8 * PAGE_SZ, 23);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, buf, 8 * PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_copy_fixed(fd, ioas2, IOVA_B, self->ioas_id, IOVA_A + 2 * PAGE_SZ,
				     3 * PAGE_SZ, MAP_RW));
	ASSERT_EQ(0, ioas_copy_fixed(fd, ioas2, IOVA_B + SZ_1M, self->ioas_id,
				     IOVA_A + 3 * PAGE_SZ, PAGE_SZ, RO));
	assert_accounting(_metadata, fd, 8);
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_A, 8 * PAGE_SZ, NULL));
	ASSERT_EQ(0, mock_check_refs(fd, buf, 2 * PAGE_SZ, 0));
	ASSERT_EQ(0, mock_check_refs(fd, buf + 2 * PAGE_SZ, 3 * PAGE_SZ, 1));
	ASSERT_EQ(0, mock_check_refs(fd, buf + 5 * PAGE_SZ, 3 * PAGE_SZ, 0));
	assert_accounting(_metadata, fd, 3);
	/* the copies are whole mappings of their own */
	ASSERT_EQ(-ENOENT, ioas_unmap(fd, ioas2, IOVA_B + PAGE_SZ, PAGE_SZ, NULL));
	ASSERT_EQ(0, ioas_unmap(fd, ioas2, IOVA_B, 3 * PAGE_SZ, NULL));
	assert_accounting(_metadata, fd, 1);
	ASSERT_EQ(0, mock_check_refs(fd, buf + 3 * PAGE_SZ, PAGE_SZ, 1));
	ASSERT_EQ(0, ioas_unmap(fd, ioas2, IOVA_B + SZ_1M, PAGE_SZ, NULL));
	assert_accounting(_metadata, fd, 0);
	ASSERT_EQ(0, mock_check_refs(fd, buf, 8 * PAGE_SZ, 0));
}

/* A kernel-chosen IOVA keeps the user address's offset into a 2M page */
TEST_F(ioasid, iova_keeps_huge_offset)
{
	const __u64 off = 0x5000, len = 0x3fb000;
	char *big = self->buf;
	__u64 iova, size;

	if (self->skip)
		return;
	if (self->buf_len < SZ_4M) {
		big = fixture_buf(self, SZ_4M, SZ_2M, BUF_SMALL_PAGES);
		ASSERT_NE(NULL, big);
	}
	ASSERT_EQ(0, ioas_map(self->fd, self->ioas_id, big + off, len, &iova, MAP_RW));
	ASSERT_EQ(off, iova % SZ_2M) TH_LOG("IOVA %#llx", (unsigned long long)iova);
	/* the 2M page the range covers whole gets a 2M IOPTE */
	if (self->ndev && thp_backed(big + SZ_2M, SZ_2M)) {
		ASSERT_EQ(0, mock_iopte(self->fd, self->hwpt_id[0], iova + SZ_2M - off, &size,
					NULL));
		ASSERT_EQ(SZ_2M, size);
	}
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, iova, len, NULL));
}

/* IOPTEs are cacheable (IOMMU_CACHE), as VFIO type1 maps them */
TEST_F(ioasid, iopte_cacheable)
{
	__u32 prot = 0;

	if (self->skip)
		return;
	if (!self->ndev)
		SKIP(return, "no device, no IOPTE");
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->buf, PAGE_SZ, IOVA_A, RO));
	ASSERT_EQ(0, mock_iopte_prot(self->fd, self->hwpt_id[0], IOVA_A, &prot));
	ASSERT_EQ(1U | 4U, prot);
}

/* Pins are counted per access and per page: no unbalanced unpin passes */
TEST_F(ioasid, access_unpin_balanced)
{
	int fd = self->fd;
	__u32 a1, a2;

	if (self->skip)
		return;
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf, 4 * PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(0, access_create(fd, self->ioas_id, &a1));
	ASSERT_EQ(0, access_create(fd, self->ioas_id, &a2));
	ASSERT_EQ(0, access_pin(fd, a1, IOVA_A + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, access_pin(fd, a1, IOVA_A + PAGE_SZ, PAGE_SZ));
	/* not a2's pin, not a pinned page, partly pinned, unaligned */
	ASSERT_EQ(-EINVAL, access_unpin(fd, a2, IOVA_A + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(-EINVAL, access_unpin(fd, a1, IOVA_A, PAGE_SZ));
	ASSERT_EQ(-EINVAL, access_unpin(fd, a1, IOVA_A + PAGE_SZ, 2 * PAGE_SZ));
	ASSERT_EQ(-EINVAL, access_unpin(fd, a1, IOVA_A + PAGE_SZ + 1, PAGE_SZ));
	/* the area is still pinned: its unmap must ask a1, not succeed */
	ASSERT_EQ(0, access_unpin(fd, a1, IOVA_A + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, access_unpin(fd, a1, IOVA_A + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(-EINVAL, access_unpin(fd, a1, IOVA_A + PAGE_SZ, PAGE_SZ));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_A, 4 * PAGE_SZ, NULL));
	ASSERT_EQ(0, ioasid_destroy(fd, a1));
	ASSERT_EQ(0, ioasid_destroy(fd, a2));
	assert_accounting(_metadata, fd, 0);
}

/*
 * Unmap callbacks name real mappings: the whole IOVA range of each one the
 * access pins pages of, never [0, ULONG_MAX], and only to accesses that pin.
 */
TEST_F(ioasid, access_notify_ranges)
{
	__u64 calls, last_iova, last_len, max_len, unmapped = 0;
	int fd = self->fd;
	__u32 a1, a2;

	if (self->skip)
		return;
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf, 4 * PAGE_SZ, IOVA_A, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf + 4 * PAGE_SZ, 8 * PAGE_SZ,
				    IOVA_B, MAP_RW));
	ASSERT_EQ(0, access_create(fd, self->ioas_id, &a1));
	ASSERT_EQ(0, access_create(fd, self->ioas_id, &a2));
	ASSERT_EQ(0, access_pin(fd, a1, IOVA_A + PAGE_SZ, 2 * PAGE_SZ));
	/* unmapping what a1 does not pin tells nobody */
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, IOVA_B, 8 * PAGE_SZ, NULL));
	ASSERT_EQ(0, access_notified(fd, a1, &calls, &last_iova, &last_len, &max_len));
	ASSERT_EQ(0ULL, calls);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->buf + 4 * PAGE_SZ, 8 * PAGE_SZ,
				    IOVA_B, MAP_RW));
	/* unmap of everything: a1 hears of its one mapping, then it goes */
	ASSERT_EQ(0, ioas_unmap_all(fd, self->ioas_id, &unmapped));
	ASSERT_EQ(12 * PAGE_SZ, unmapped);
	ASSERT_EQ(0, access_notified(fd, a1, &calls, &last_iova, &last_len, &max_len));
	ASSERT_EQ(1ULL, calls);
	ASSERT_EQ(IOVA_A, last_iova);
	ASSERT_EQ(4 * PAGE_SZ, last_len);
	ASSERT_EQ(4 * PAGE_SZ, max_len);
	ASSERT_EQ(0, access_notified(fd, a2, &calls, &last_iova, &last_len, &max_len));
	ASSERT_EQ(0ULL, calls);
	ASSERT_EQ(0, ioasid_destroy(fd, a1));
	ASSERT_EQ(0, ioasid_destroy(fd, a2));
	assert_accounting(_metadata, fd, 0);
}

TEST_F(ioasid, fork_cow)
{
	size_t len = self->buf_len;
	int status = -1;
	pid_t pid;

	if (self->skip)
		return;
	fill_pattern(self->buf, len, 19);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->buf, len, IOVA_A, MAP_RW));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		memset(self->buf, 0xee, len);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	/* the child wrote its own copy: the device still sees the parent's */
	ASSERT_EQ(0, mock_check_refs(self->fd, self->buf, len, 1));
	assert_iova_pattern(_metadata, self, IOVA_A, len, 19);
	/* and the pinned pages are still the ones the parent uses */
	fill_pattern(self->buf, len, 20);
	assert_iova_pattern(_metadata, self, IOVA_A, len, 20);
	write_iova_pattern(_metadata, self, IOVA_A, len, 21);
	ASSERT_EQ(-1, check_pattern(self->buf, len, 21));
}

/* Each 2M of [@iova, @iova + @len) in @hwpt is mapped by IOPTEs of @size */
static void assert_iopte_size(struct __test_metadata *_metadata, int fd, __u32 hwpt,
			      __u64 iova, size_t len, __u64 size)
{
	__u64 off, got, phys, phys2;

	for (off = 0; off < len; off += SZ_2M) {
		ASSERT_EQ(0, mock_iopte(fd, hwpt, iova + off + PAGE_SZ, &got, &phys));
		ASSERT_EQ(size, got) TH_LOG("IOVA %#llx", (unsigned long long)(iova + off));
		ASSERT_EQ(0, mock_iopte(fd, hwpt, iova + off, NULL, &phys2));
		ASSERT_EQ(phys2 + PAGE_SZ, phys);
	}
}

TEST_F(ioasid, iopte_thp)
{
	int fd = self->fd;
	__u32 ioas2, dev2, hwpt2;
	__u64 iova = 0, val = 9;
	char *tmp;

	if (self->skip)
		return;
	if (!variant->thp)
		SKIP(return, "huge variant only");
	if (!thp_backed(self->buf, self->buf_len))
		SKIP(return, "the buffer did not get transparent huge pages");
	fill_pattern(self->buf, self->buf_len, 22);
	ASSERT_EQ(0, ioas_map(fd, self->ioas_id, self->buf, self->buf_len, &iova, MAP_RW));
	ASSERT_EQ(0ULL, iova % SZ_2M);
	assert_iopte_size(_metadata, fd, self->hwpt_id[0], iova, self->buf_len, SZ_2M);
	assert_iova_pattern(_metadata, self, iova, self->buf_len, 22);

	/* the same memory in an IOAS that forbade huge pages before its attach */
	tmp = calloc(1, self->buf_len);
	ASSERT_NE(NULL, tmp);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas2));
	ASSERT_EQ(0, ioasid_option_set(fd, OPT_HUGE, ioas2, 0));
	ASSERT_EQ(0, mock_device(fd, ioas2, &dev2, &hwpt2));
	ASSERT_EQ(-EBUSY, ioasid_option_set(fd, OPT_HUGE, ioas2, 1));
	ASSERT_EQ(0, ioasid_option_get(fd, OPT_HUGE, ioas2, &val));
	ASSERT_EQ(0ULL, val);
	ASSERT_EQ(0, ioas_map(fd, ioas2, self->buf, self->buf_len, &iova, MAP_RW));
	assert_iopte_size(_metadata, fd, hwpt2, iova, self->buf_len, SZ_4K);
	ASSERT_EQ(0, mock_dma(fd, dev2, iova, tmp, self->buf_len, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, self->buf_len, 22));
	free(tmp);
}

TEST_F(ioasid, iopte_hugetlb)
{
	long restore;
	void *hb;

	if (self->skip)
		return;
	if (!variant->thp)
		SKIP(return, "huge variant only");
	restore = hugetlb_reserve(2);
	if (restore == -2)
		SKIP(return, "cannot reserve two 2M hugetlb pages");
	self->hugetlb_restore = restore;
	hb = fixture_buf(self, SZ_4M, SZ_2M, BUF_HUGETLB);
	ASSERT_NE(NULL, hb);
	fill_pattern(hb, SZ_4M, 23);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, hb, SZ_4M, IOVA_A, MAP_RW));
	ASSERT_EQ(0, mock_check_refs(self->fd, hb, SZ_4M, 1));
	assert_iopte_size(_metadata, self->fd, self->hwpt_id[0], IOVA_A, SZ_4M, SZ_2M);
	assert_iova_pattern(_metadata, self, IOVA_A, SZ_4M, 23);
}

/*
 * Vector map: several ranges in one call, each read back by a device, the
 * kernel's IOVA choices written back per range.
 */
TEST_F(ioasid, map_vector)
{
	size_t len = 16 * PAGE_SZ;
	struct ioasid_map_range r[5];
	int fd = self->fd;
	__u32 ioas = self->ioas_id, failed;
	__u64 unmapped = 0;
	void *b[3];
	unsigned int i;

	if (self->skip)
		return;
	for (i = 0; i < 3; i++) {
		b[i] = fixture_buf(self, len, PAGE_SZ, BUF_SMALL_PAGES);
		ASSERT_NE(NULL, b[i]);
		fill_pattern(b[i], len, 30 + i);
	}
	map_range_set(&r[0], b[0], len, IOVA_A, MAP_RW | MAP_FIXED_IOVA);
	map_range_set(&r[1], b[1], len, 0, MAP_RW);
	map_range_set(&r[2], b[2], len, IOVA_B, RO | MAP_FIXED_IOVA);
	r[1].iova = WRAPPING;	/* not looked at without IOASID_MAP_FIXED */
	ASSERT_EQ(0, ioas_map_vec(fd, ioas, r, 3, &failed));
	ASSERT_EQ(IOVA_A, r[0].iova);
	ASSERT_EQ(IOVA_B, r[2].iova);
	ASSERT_EQ(0ULL, r[1].iova % MOCK_IOVA_ALIGN);
	ASSERT_TRUE(r[1].iova + len <= IOVA_A || r[1].iova >= IOVA_A + len);
	ASSERT_TRUE(r[1].iova + len <= IOVA_B || r[1].iova >= IOVA_B + len);
	assert_info(_metadata, fd, ioas, 3, 3 * len, variant->second_hwpt ? 2 : !!self->ndev);
	assert_accounting(_metadata, fd, 3 * len / PAGE_SZ);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, mock_check_refs(fd, b[i], len, 1));
		assert_iova_pattern(_metadata, self, r[i].iova, len, 30 + i);
	}
	/* each range has its own rights */
	write_iova_pattern(_metadata, self, r[1].iova, len, 33);
	ASSERT_EQ(-1, check_pattern(b[1], len, 33));
	if (self->ndev)
		ASSERT_EQ(-EFAULT, mock_dma(fd, self->dev_id[0], IOVA_B, b[0], PAGE_SZ, DMA_WR,
					    NULL));

	/* no range, or more than the kernel takes in one call */
	ASSERT_EQ(-EINVAL, ioas_map_vec(fd, ioas, r, 0, NULL));
	ASSERT_EQ(-EINVAL, ioas_map_vec(fd, ioas, r, IOASID_MAP_MAX_RANGES + 1, NULL));
	ASSERT_EQ(-EFAULT, ioas_map_vec(fd, ioas, NULL, 1, NULL));
	assert_info(_metadata, fd, ioas, 3, 3 * len, variant->second_hwpt ? 2 : !!self->ndev);

	/* several kernel-placed ranges of one call do not collide */
	map_range_set(&r[3], b[0], len, 0, MAP_RW);
	map_range_set(&r[4], b[0], len, 0, MAP_RW);
	ASSERT_EQ(0, ioas_map_vec(fd, ioas, &r[3], 2, NULL));
	ASSERT_TRUE(r[3].iova + len <= r[4].iova || r[4].iova + len <= r[3].iova);
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE(r[3].iova + len <= r[i].iova || r[i].iova + len <= r[3].iova);
		ASSERT_TRUE(r[4].iova + len <= r[i].iova || r[i].iova + len <= r[4].iova);
	}
	assert_iova_pattern(_metadata, self, r[3].iova, len, 30);
	assert_iova_pattern(_metadata, self, r[4].iova, len, 30);
	ASSERT_EQ(0, mock_check_refs(fd, b[0], len, 3));
	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, &unmapped));
	ASSERT_EQ(5 * len, unmapped);
	assert_accounting(_metadata, fd, 0);
	assert_info(_metadata, fd, ioas, 0, 0, variant->second_hwpt ? 2 : !!self->ndev);
}

#define RESV_IOVA	0xc0000000ULL

/* A vector with one bad range maps nothing at all */
TEST_F(ioasid, map_vector_all_or_nothing)
{
	size_t len = 16 * PAGE_SZ;
	struct ioasid_map_range good[3], vec[3], bad;
	int fd = self->fd, ret;
	__u32 ioas = self->ioas_id, scratch, rdev, failed;
	__u64 locked = 0, pinned = 0;
	void *b[3], *existing;
	unsigned int i, k, nhwpts;
	const struct {
		const char *what;
		int err;
		bool needs_earlier;	/* overlaps range 0 of the call */
	} cases[] = {
		{ "overlaps an existing mapping", -EEXIST, false },
		{ "in a reserved region", -EADDRINUSE, false },
		{ "unaligned user address", -EINVAL, false },
		{ "unaligned length", -EINVAL, false },
		{ "unaligned IOVA", -EINVAL, false },
		{ "no protection bit", -EINVAL, false },
		{ "wrapping IOVA", -EOVERFLOW, false },
		{ "wrapping user address", -EOVERFLOW, false },
		{ "overlaps an earlier range of the call", -EEXIST, true },
	};

	if (self->skip)
		return;
	for (i = 0; i < 3; i++) {
		b[i] = fixture_buf(self, len, PAGE_SZ, BUF_SMALL_PAGES);
		ASSERT_NE(NULL, b[i]);
		fill_pattern(b[i], len, 40 + i);
	}
	existing = fixture_buf(self, PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, existing);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, existing, PAGE_SZ, IOVA_B, MAP_RW));
	/* a device reserving [RESV_IOVA, + 1M) joins the IOAS */
	ASSERT_EQ(0, ioas_alloc(fd, &scratch));
	ASSERT_EQ(0, mock_device(fd, scratch, &rdev, NULL));
	ASSERT_EQ(0, mock_add_reserved(fd, rdev, RESV_IOVA, RESV_IOVA + SZ_1M - 1));
	ASSERT_EQ(0, mock_replace(fd, rdev, ioas, NULL));
	ASSERT_EQ(0, ioas_stats(fd, ioas, NULL, NULL, &nhwpts));
	ASSERT_LE(1U, nhwpts);

	map_range_set(&good[0], b[0], len, IOVA_A, MAP_RW | MAP_FIXED_IOVA);
	map_range_set(&good[1], b[1], len, 0, MAP_RW);
	map_range_set(&good[2], b[2], len, IOVA_A + 2 * len, MAP_RW | MAP_FIXED_IOVA);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		for (k = 0; k < 3; k++) {
			if (cases[i].needs_earlier && !k)
				continue;
			map_range_set(&bad, b[k], PAGE_SZ, IOVA_A + 4 * len,
				      MAP_RW | MAP_FIXED_IOVA);
			switch (i) {
			case 0:
				bad.iova = IOVA_B;
				break;
			case 1:
				bad.iova = RESV_IOVA + PAGE_SZ;
				break;
			case 2:
				bad.uaddr += 1;
				break;
			case 3:
				bad.length += 1;
				break;
			case 4:
				bad.iova += 1;
				break;
			case 5:
				bad.prot = 0;
				break;
			case 6:
				bad.iova = WRAPPING;
				bad.length = 2 * PAGE_SZ;
				break;
			case 7:
				bad.uaddr = WRAPPING;
				bad.length = 2 * PAGE_SZ;
				break;
			case 8:
				bad.iova = IOVA_A + PAGE_SZ;
				break;
			}
			memcpy(vec, good, sizeof(vec));
			vec[k] = bad;
			failed = ~0U;
			ret = ioas_map_vec(fd, ioas, vec, 3, &failed);
			ASSERT_EQ(cases[i].err, ret) TH_LOG("%s, at %u", cases[i].what, k);
			ASSERT_EQ(k, failed) TH_LOG("%s, at %u", cases[i].what, k);
			/* nothing mapped, pinned or charged but the first mapping */
			assert_info(_metadata, fd, ioas, 1, PAGE_SZ, nhwpts);
			ASSERT_EQ(0, mock_accounting(fd, &locked, &pinned));
			ASSERT_EQ(1ULL, locked) TH_LOG("%s, at %u", cases[i].what, k);
			ASSERT_EQ(1ULL, pinned) TH_LOG("%s, at %u", cases[i].what, k);
			for (ret = 0; ret < 3; ret++)
				ASSERT_EQ(0, mock_check_refs(fd, b[ret], len, 0))
					TH_LOG("%s, at %u: buffer %d", cases[i].what, k, ret);
			if (self->ndev)
				ASSERT_EQ(-ENOENT, mock_iopte(fd, self->hwpt_id[0], IOVA_A, NULL,
							      NULL));
		}
	}
	/* the IOVAs the failures would have used are all free */
	memcpy(vec, good, sizeof(vec));
	ASSERT_EQ(0, ioas_map_vec(fd, ioas, vec, 3, NULL));
	assert_info(_metadata, fd, ioas, 4, 3 * len + PAGE_SZ, nhwpts);
	for (i = 0; i < 3; i++)
		assert_iova_pattern(_metadata, self, vec[i].iova, len, 40 + i);
	ASSERT_EQ(0, ioasid_destroy(fd, rdev));
	ASSERT_EQ(0, ioasid_destroy(fd, scratch));
}

/* Vector unmap: all or nothing, empty ranges are no error */
TEST_F(ioasid, unmap_vector)
{
	size_t len = 16 * PAGE_SZ;
	struct ioasid_iova_range r[3];
	const struct ioasid_iova_range m[3] = {
		{ IOVA_A, IOVA_A + len - 1 },
		{ IOVA_A + 2 * len, IOVA_A + 3 * len - 1 },
		{ IOVA_B, IOVA_B + len - 1 },
	};
	int fd = self->fd;
	__u32 ioas = self->ioas_id, failed, nhwpts = variant->second_hwpt ? 2 : !!self->ndev;
	__u64 unmapped;
	void *b[3];
	unsigned int i, k;

	if (self->skip)
		return;
	for (i = 0; i < 3; i++) {
		b[i] = fixture_buf(self, len, PAGE_SZ, BUF_SMALL_PAGES);
		ASSERT_NE(NULL, b[i]);
		fill_pattern(b[i], len, 50 + i);
		ASSERT_EQ(0, ioas_map_fixed(fd, ioas, b[i], len, m[i].first, MAP_RW));
	}
	/* ranges holding no mapping, and no range at all */
	r[0] = (struct ioasid_iova_range){ IOVA_A + len, IOVA_A + 2 * len - 1 };
	r[1] = (struct ioasid_iova_range){ IOVA_B + len, IOVA_B + 2 * len - 1 };
	unmapped = 1;
	ASSERT_EQ(0, ioas_unmap_vec(fd, ioas, r, 2, &unmapped, NULL));
	ASSERT_EQ(0ULL, unmapped);
	unmapped = 1;
	ASSERT_EQ(0, ioas_unmap_vec(fd, ioas, NULL, 0, &unmapped, NULL));
	ASSERT_EQ(0ULL, unmapped);
	ASSERT_EQ(-EINVAL, ioas_unmap_vec(fd, ioas, r, IOASID_MAP_MAX_RANGES + 1, NULL, NULL));
	assert_info(_metadata, fd, ioas, 3, 3 * len, nhwpts);

	/* range k cuts a mapping, or is unaligned: nothing is unmapped */
	for (k = 0; k < 3; k++) {
		memcpy(r, m, sizeof(r));
		r[k].first += PAGE_SZ;
		failed = ~0U;
		ASSERT_EQ(-ENOENT, ioas_unmap_vec(fd, ioas, r, 3, NULL, &failed))
			TH_LOG("at %u", k);
		ASSERT_EQ(k, failed);
		memcpy(r, m, sizeof(r));
		r[k].last -= PAGE_SZ;
		ASSERT_EQ(-ENOENT, ioas_unmap_vec(fd, ioas, r, 3, NULL, &failed))
			TH_LOG("at %u", k);
		ASSERT_EQ(k, failed);
		memcpy(r, m, sizeof(r));
		r[k].first -= PAGE_SZ;
		r[k].last -= PAGE_SZ;
		ASSERT_EQ(-ENOENT, ioas_unmap_vec(fd, ioas, r, 3, NULL, &failed))
			TH_LOG("at %u", k);
		ASSERT_EQ(k, failed);
		memcpy(r, m, sizeof(r));
		r[k].last += 1;
		ASSERT_EQ(-EINVAL, ioas_unmap_vec(fd, ioas, r, 3, NULL, &failed))
			TH_LOG("at %u", k);
		ASSERT_EQ(k, failed);
		assert_info(_metadata, fd, ioas, 3, 3 * len, nhwpts);
		assert_accounting(_metadata, fd, 3 * len / PAGE_SZ);
	}
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, mock_check_refs(fd, b[i], len, 1));
		assert_iova_pattern(_metadata, self, m[i].first, len, 50 + i);
	}

	/* one range around two mappings and the gap, one exact */
	r[0] = (struct ioasid_iova_range){ IOVA_A - PAGE_SZ, IOVA_A + 3 * len + PAGE_SZ - 1 };
	r[1] = m[2];
	ASSERT_EQ(0, ioas_unmap_vec(fd, ioas, r, 2, &unmapped, NULL));
	ASSERT_EQ(3ULL * len, unmapped);
	assert_info(_metadata, fd, ioas, 0, 0, nhwpts);
	assert_accounting(_metadata, fd, 0);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, mock_check_refs(fd, b[i], len, 0));
	if (self->ndev)
		ASSERT_EQ(-ENOENT, mock_iopte(fd, self->hwpt_id[0], IOVA_B, NULL, NULL));
}

/* IOAS_INFO counts mappings, bytes and HWPTs as they come and go */
TEST_F(ioasid, info_counters)
{
	struct ioasid_ioas_info info = {};
	size_t len = self->buf_len;
	int fd = self->fd;
	__u32 ioas = self->ioas_id, scratch = 0, dev, hwpt, dev2;
	__u32 nhwpts = variant->second_hwpt ? 2 : !!self->ndev;
	__u64 iova = 0, dst = 0;

	if (self->skip)
		return;
	assert_info(_metadata, fd, ioas, 0, 0, nhwpts);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, self->buf, len, IOVA_A, MAP_RW));
	assert_info(_metadata, fd, ioas, 1, len, nhwpts);
	ASSERT_EQ(0, ioas_map(fd, ioas, self->buf, PAGE_SZ, &iova, RO));
	assert_info(_metadata, fd, ioas, 2, len + PAGE_SZ, nhwpts);
	ASSERT_EQ(0, ioas_copy(fd, ioas, &dst, ioas, IOVA_A, len, RO));
	assert_info(_metadata, fd, ioas, 3, 2 * len + PAGE_SZ, nhwpts);
	/* a failed map changes nothing */
	ASSERT_EQ(-EEXIST, ioas_map_fixed(fd, ioas, self->buf, PAGE_SZ, IOVA_A, MAP_RW));
	assert_info(_metadata, fd, ioas, 3, 2 * len + PAGE_SZ, nhwpts);
	ASSERT_EQ(0, ioas_unmap(fd, ioas, iova, PAGE_SZ, NULL));
	assert_info(_metadata, fd, ioas, 2, 2 * len, nhwpts);

	/* the counters are written when the ranges do not fit, too */
	info.nr_ranges = 0;
	ASSERT_EQ(-EMSGSIZE, ioas_info(fd, ioas, &info));
	ASSERT_LE(1U, info.nr_ranges);
	ASSERT_EQ(2U, info.out_nr_mappings);
	ASSERT_EQ(2ULL * len, info.out_mapped);
	ASSERT_EQ(nhwpts, info.out_nr_hwpts);
	ASSERT_EQ(MOCK_IOVA_ALIGN, info.out_alignment);

	/* a device on an explicit HWPT adds one */
	if (self->ndev) {
		dev = self->dev_id[0];
	} else {
		ASSERT_EQ(0, ioas_alloc(fd, &scratch));
		ASSERT_EQ(0, mock_device(fd, scratch, &dev, NULL));
		assert_info(_metadata, fd, scratch, 0, 0, 1);
	}
	ASSERT_EQ(0, hwpt_create(fd, dev, ioas, &hwpt));
	ASSERT_EQ(0, mock_device(fd, hwpt, &dev2, NULL));
	assert_info(_metadata, fd, ioas, 2, 2 * len, nhwpts + 1);
	ASSERT_EQ(0, ioasid_destroy(fd, dev2));
	ASSERT_EQ(0, ioasid_destroy(fd, hwpt));
	assert_info(_metadata, fd, ioas, 2, 2 * len, nhwpts);
	if (scratch) {
		ASSERT_EQ(0, ioasid_destroy(fd, dev));
		assert_info(_metadata, fd, scratch, 0, 0, 0);
		ASSERT_EQ(0, ioasid_destroy(fd, scratch));
	}
	ASSERT_EQ(0, ioas_unmap_all(fd, ioas, NULL));
	assert_info(_metadata, fd, ioas, 0, 0, nhwpts);
}

/* Objects the user created, the test ones included, can be destroyed */
TEST(destroy_user_objects)
{
	__u32 a, b, dev, dev2, access, hwpt, auto_hwpt;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(0, ioas_alloc(fd, &a));
	ASSERT_EQ(0, ioas_alloc(fd, &b));
	/* a mock device and a test access */
	ASSERT_EQ(0, mock_device(fd, a, &dev, &auto_hwpt));
	ASSERT_EQ(0, access_create(fd, a, &access));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, a));
	ASSERT_EQ(0, ioasid_destroy(fd, access));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, access));
	/* an IOAS under an automatic HWPT */
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, a));
	/* an IOAS under an explicit HWPT, with no device on it */
	ASSERT_EQ(0, hwpt_create(fd, dev, b, &hwpt));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, b));
	/* and with a device on it */
	ASSERT_EQ(0, mock_device(fd, hwpt, &dev2, NULL));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, b));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(0, ioasid_destroy(fd, dev2));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, dev2));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, b));
	ASSERT_EQ(0, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(0, ioasid_destroy(fd, b));
	ASSERT_EQ(0, ioasid_destroy(fd, dev));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, dev));
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, auto_hwpt));
	ASSERT_EQ(0, ioasid_destroy(fd, a));
	close(fd);
}

/* 0 if [first, last] is one of the usable ranges of @ioas */
static int has_range(int fd, __u32 ioas, __u64 first, __u64 last)
{
	struct ioasid_iova_range r[8];
	__u32 i, num = 8;
	int ret = ioas_iova_ranges(fd, ioas, r, &num, NULL);

	if (ret)
		return ret;
	for (i = 0; i < num; i++)
		if (r[i].first == first && r[i].last == last)
			return 0;
	return -ENOENT;
}

/*
 * A device's reserved region follows it through replace: to an explicit
 * HWPT of the same IOAS, to another IOAS and back.
 */
TEST(reserved_replace)
{
	const __u64 first = RESV_IOVA, last = RESV_IOVA + SZ_1M - 1;
	__u32 s, a, b, dev, hs, h0, h1, out;
	void *buf;
	int fd = open_or_skip(_metadata);

	if (fd < 0)
		return;
	buf = buf_map(PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(fd, &s));
	ASSERT_EQ(0, ioas_alloc(fd, &a));
	ASSERT_EQ(0, ioas_alloc(fd, &b));
	/* the region is honoured from the next attach on: that of IOAS A */
	ASSERT_EQ(0, mock_device(fd, s, &dev, &hs));
	ASSERT_EQ(0, mock_add_reserved(fd, dev, first, last));
	ASSERT_EQ(0, mock_replace(fd, dev, a, &h0));
	ASSERT_NE(hs, h0);
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, a, buf, PAGE_SZ, first + PAGE_SZ, MAP_RW));
	ASSERT_EQ(0, has_range(fd, a, 0, first - 1));
	ASSERT_EQ(0, has_range(fd, a, last + 1, MOCK_APERTURE_LAST));
	/* S, left behind, reserves nothing */
	ASSERT_EQ(0, ioas_map_fixed(fd, s, buf, PAGE_SZ, first + PAGE_SZ, MAP_RW));

	/* to an explicit HWPT of the same IOAS: still reserved there */
	ASSERT_EQ(0, hwpt_create(fd, dev, a, &h1));
	ASSERT_EQ(0, mock_replace(fd, dev, h1, &out));
	ASSERT_EQ(h1, out);
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, h0));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, a, buf, PAGE_SZ, first + PAGE_SZ, MAP_RW));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, a, buf, PAGE_SZ, last + 1 - PAGE_SZ, MAP_RW));
	ASSERT_EQ(0, has_range(fd, a, last + 1, MOCK_APERTURE_LAST));
	ASSERT_EQ(0, ioas_map_fixed(fd, a, buf, PAGE_SZ, last + 1, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, a, buf, PAGE_SZ, first - PAGE_SZ, MAP_RW));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, a));

	/* to IOAS B: reserved in B, no longer in A */
	ASSERT_EQ(0, mock_replace(fd, dev, b, &out));
	ASSERT_NE(h1, out);
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, b, buf, PAGE_SZ, first, MAP_RW));
	ASSERT_EQ(0, has_range(fd, b, 0, first - 1));
	ASSERT_EQ(0, ioas_map_fixed(fd, a, buf, PAGE_SZ, first, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, a, first, PAGE_SZ, NULL));

	/* and back to A: reserved in A again, free in B */
	ASSERT_EQ(0, mock_replace(fd, dev, a, &out));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, a, buf, PAGE_SZ, first, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, b, buf, PAGE_SZ, first, MAP_RW));
	/* B now maps inside the region: the device cannot come back */
	ASSERT_EQ(-EADDRINUSE, mock_replace(fd, dev, b, NULL));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, a, buf, PAGE_SZ, first, MAP_RW));

	ASSERT_EQ(0, ioasid_destroy(fd, dev));
	ASSERT_EQ(0, ioas_map_fixed(fd, a, buf, PAGE_SZ, first, MAP_RW));
	close(fd);
	munmap(buf, PAGE_SZ);
}

/* Failure injection through fail_ioasid and fail-nth */

#define INJECT_LIMIT	2000U

struct inject {
	int fd;
	__u32 ioas, ioas2, dev, hwpt, new_dev, moved_to;
	void *buf;
	size_t len;
	__u64 base_locked;	/* charges before the operation */
	__u32 base_mappings;	/* mappings of ioas before the operation */
	__u32 pins;		/* pin count of buf before the operation */
};

static void prefault_stack(void)
{
	char pad[64 * 1024];

	memset(pad, 1, sizeof(pad));
	__asm__ __volatile__("" : : "r" (pad) : "memory");
}

/* The state is what it was before the failed operation */
static void inject_clean(struct __test_metadata *_metadata, struct inject *in)
{
	__u64 locked = ~0ULL, pinned = ~0ULL;
	__u32 nr = ~0U;

	ASSERT_EQ(0, mock_accounting(in->fd, &locked, &pinned));
	ASSERT_EQ(in->base_locked, locked);
	ASSERT_EQ(in->base_locked, pinned);
	ASSERT_EQ(0, mock_check_refs(in->fd, in->buf, in->len, in->pins));
	ASSERT_EQ(0, ioas_stats(in->fd, in->ioas, &nr, NULL, NULL));
	ASSERT_EQ(in->base_mappings, nr);
}

/*
 * Run @op failing the 1st, 2nd, ... fault injection site it reaches, until
 * it reaches none. A failure that fail_ioasid injected must come back as
 * ENOMEM and leave nothing behind (@check). Returns how many times
 * fail_ioasid fired.
 */
static unsigned int inject_sweep(struct __test_metadata *_metadata, int nth_fd,
				 struct inject *in, int (*op)(struct inject *),
				 void (*check)(struct __test_metadata *, struct inject *),
				 int (*undo)(struct inject *))
{
	unsigned int nth, fires = 0;
	long before, after, left;
	int ret;

	for (nth = 1; nth <= INJECT_LIMIT; nth++) {
		before = fail_ioasid_fired();
		ASSERT_LE(0, before);
		prefault_stack();
		ASSERT_EQ(0, fail_nth_arm(nth_fd, nth));
		ret = op(in);
		left = fail_nth_left(nth_fd);
		ASSERT_EQ(0, fail_nth_disarm(nth_fd));
		/* EFAULT: reading the count was the Nth site, the op did not reach it */
		if (left == -EFAULT)
			left = 1;
		ASSERT_LE(0, left);
		after = fail_ioasid_fired();
		ASSERT_LE(before, after);
		if (after > before) {
			/* fail_ioasid's injections are never absorbed */
			ASSERT_EQ(-ENOMEM, ret) TH_LOG("fail_ioasid at site %u", nth);
			fires++;
		} else if (ret) {
			ASSERT_EQ(0, left) TH_LOG("failed with no fault: %s", strerror(-ret));
			ASSERT_TRUE(ret == -ENOMEM || ret == -EFAULT)
				TH_LOG("site %u: %s", nth, strerror(-ret));
		}
		if (ret) {
			check(_metadata, in);
			continue;
		}
		ASSERT_EQ(0, undo(in));
		if (left)
			return fires;
	}
	ASSERT_GT(INJECT_LIMIT, nth) TH_LOG("still reaching site %u", nth);
	return fires;
}

/*
 * Which site is the Nth is not fully repeatable: other fault_attr sites
 * (slab, page allocator) are reached a varying number of times before the
 * core's. Sweep again, up to three times, until fail_ioasid fired at
 * least @min times in one sweep.
 */
static unsigned int inject_sweeps(struct __test_metadata *_metadata, int nth_fd,
				  struct inject *in, int (*op)(struct inject *),
				  void (*check)(struct __test_metadata *, struct inject *),
				  int (*undo)(struct inject *), unsigned int min)
{
	unsigned int fires = 0, tries;

	for (tries = 0; tries < 10 && fires < min; tries++)
		fires = inject_sweep(_metadata, nth_fd, in, op, check, undo);
	return fires;
}

static int op_map(struct inject *in)
{
	return ioas_map_fixed(in->fd, in->ioas, in->buf, in->len, IOVA_A, MAP_RW);
}

static int undo_map(struct inject *in)
{
	return ioas_unmap(in->fd, in->ioas, IOVA_A, in->len, NULL);
}

static void check_domain_map(struct __test_metadata *_metadata, struct inject *in)
{
	inject_clean(_metadata, in);
	ASSERT_EQ(-ENOENT, mock_iopte(in->fd, in->hwpt, IOVA_A, NULL, NULL));
	ASSERT_EQ(-ENOENT, mock_iopte(in->fd, in->hwpt, IOVA_A + in->len - PAGE_SZ, NULL, NULL));
}

static int op_attach(struct inject *in)
{
	return mock_device(in->fd, in->ioas, &in->new_dev, NULL);
}

static int op_attach_hwpt(struct inject *in)
{
	return mock_device(in->fd, in->hwpt, &in->new_dev, NULL);
}

static int undo_attach(struct inject *in)
{
	return ioasid_destroy(in->fd, in->new_dev);
}

static void check_attach(struct __test_metadata *_metadata, struct inject *in)
{
	__u32 nhwpts = ~0U;

	inject_clean(_metadata, in);
	ASSERT_EQ(0, ioas_stats(in->fd, in->ioas, NULL, NULL, &nhwpts));
	ASSERT_EQ(in->hwpt ? 1U : 0U, nhwpts);
}

static int op_move(struct inject *in)
{
	return mock_replace(in->fd, in->dev, in->ioas2, &in->moved_to);
}

static int undo_move(struct inject *in)
{
	return mock_replace(in->fd, in->dev, in->ioas, NULL);
}

/* The device still reads through the IOAS it was on */
static void check_move(struct __test_metadata *_metadata, struct inject *in)
{
	char tmp[PAGE_SZ];

	inject_clean(_metadata, in);
	ASSERT_EQ(0, mock_dma(in->fd, in->dev, IOVA_A, tmp, PAGE_SZ, DMA_RD, NULL));
	ASSERT_EQ(-1, check_pattern(tmp, PAGE_SZ, 60));
}

FIXTURE(fail_inject) {
	int unused;
};

FIXTURE_SETUP(fail_inject)
{
}

FIXTURE_TEARDOWN(fail_inject)
{
}

TEST_F_TIMEOUT(fail_inject, map_attach_move, 600)
{
	struct inject in = {};
	unsigned int fires;
	int nth_fd, ret;
	__u32 holder;
	void *buf;

	in.fd = open_or_skip(_metadata);
	if (in.fd < 0)
		return;
	ret = fail_ioasid_setup();
	if (ret == -ENOENT)
		SKIP(return, "no %s (CONFIG_FAULT_INJECTION_DEBUG_FS off?)", FAIL_IOASID_DIR);
	ASSERT_EQ(0, ret) TH_LOG("setting up %s: %s", FAIL_IOASID_DIR, strerror(-ret));
	nth_fd = fail_nth_open();
	if (nth_fd < 0)
		SKIP(return, "no fail-nth: %s", strerror(-nth_fd));
	/* more than one pin batch */
	in.len = SZ_2M + PAGE_SZ;
	buf = buf_map(in.len, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	fill_pattern(buf, in.len, 60);
	in.buf = buf;

	/* pinning, with no domain */
	ASSERT_EQ(0, ioas_alloc(in.fd, &in.ioas));
	fires = inject_sweeps(_metadata, nth_fd, &in, op_map, inject_clean, undo_map, 1);
	ASSERT_LE(1U, fires) TH_LOG("map: fail_ioasid never fired");
	TH_LOG("map: fail_ioasid fired %u times", fires);

	/* mapping into a domain in 4K steps */
	in.len = 16 * PAGE_SZ;
	ASSERT_EQ(0, ioasid_option_set(in.fd, OPT_HUGE, in.ioas, 0));
	ASSERT_EQ(0, mock_device(in.fd, in.ioas, &in.dev, &in.hwpt));
	fires = inject_sweeps(_metadata, nth_fd, &in, op_map, check_domain_map, undo_map, 2);
	ASSERT_LE(2U, fires) TH_LOG("domain map: fail_ioasid fired only %u times", fires);
	TH_LOG("domain map: fail_ioasid fired %u times", fires);
	ASSERT_EQ(0, ioasid_destroy(in.fd, in.dev));
	in.dev = 0;
	in.hwpt = 0;

	/* attaching to an IOAS holding a mapping */
	ASSERT_EQ(0, op_map(&in));
	in.base_locked = in.len / PAGE_SZ;
	in.base_mappings = 1;
	in.pins = 1;
	fires = inject_sweeps(_metadata, nth_fd, &in, op_attach, check_attach, undo_attach, 1);
	ASSERT_LE(1U, fires) TH_LOG("attach: fail_ioasid never fired");

	/* attaching to an explicit HWPT */
	ASSERT_EQ(0, mock_device(in.fd, in.ioas, &holder, &in.hwpt));
	ASSERT_EQ(0, hwpt_create(in.fd, holder, in.ioas, &in.hwpt));
	ASSERT_EQ(0, ioasid_destroy(in.fd, holder));
	fires = inject_sweeps(_metadata, nth_fd, &in, op_attach_hwpt, inject_clean, undo_attach, 1);
	ASSERT_LE(1U, fires) TH_LOG("attach to a HWPT: fail_ioasid never fired");

	/* moving a device to another IOAS */
	ASSERT_EQ(0, mock_device(in.fd, in.hwpt, &in.dev, NULL));
	ASSERT_EQ(0, ioas_alloc(in.fd, &in.ioas2));
	fires = inject_sweeps(_metadata, nth_fd, &in, op_move, check_move, undo_move, 1);
	ASSERT_LE(1U, fires) TH_LOG("move: fail_ioasid never fired");

	close(nth_fd);
	close(in.fd);
	in.fd = ioasid_open();
	ASSERT_LE(0, in.fd);
	ASSERT_EQ(0, mock_check_refs(in.fd, buf, SZ_2M + PAGE_SZ, 0));
	close(in.fd);
	munmap(buf, SZ_2M + PAGE_SZ);
}

TEST_HARNESS_MAIN
