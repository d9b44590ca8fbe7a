// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested HWPTs and device information through /dev/ioasid.
 *
 * A mock device translates through a stage 1 the test writes in its own
 * memory (the mock format of ioasid_test.h), over a stage 2 that is an
 * IOAS: IOVA -> GPA by the test's radix table, GPA -> HPA by the IOAS.
 * Checks the bytes mock DMA moves, the stage-1 cache kept until an
 * invalidation, the index and errno of bad invalidation entries, the
 * parent's life cycle, races of destroy against attach, replace,
 * invalidation and DMA, and what IOASID_DEVICE_INFO reports for mock
 * devices and for edu behind the machine's real IOMMU.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define PAGE_SZ		SZ_4K
#define GPA_BASE	0x100000ULL	/* where guest memory sits in the IOAS */
#define GUEST_PAGES	64		/* tables first, data pages after */
#define TABLE_PAGES	16
#define IOVA_A		0x40000000ULL	/* stage-1 IOVAs the tests map */
#define RACE_SECS	3

/* A test's guest: memory in an IOAS, and its stage-1 table allocator. */
struct guest {
	unsigned char *mem;
	unsigned int next_table;
};

static __u64 *gpa_ptr(struct guest *g, __u64 gpa)
{
	return (__u64 *)(g->mem + (gpa - GPA_BASE));
}

static __u64 data_gpa(unsigned int n)
{
	return GPA_BASE + (TABLE_PAGES + n) * PAGE_SZ;
}

static void *data_va(struct guest *g, unsigned int n)
{
	return g->mem + (TABLE_PAGES + n) * PAGE_SZ;
}

/* Reset the stage 1 to an empty root table at GPA_BASE. */
static void s1_reset(struct guest *g)
{
	memset(g->mem, 0, TABLE_PAGES * PAGE_SZ);
	g->next_table = 1;
}

/* The leaf entry of @iova, making tables on the way. */
static __u64 *s1_leaf(struct guest *g, __u64 iova)
{
	__u64 table = GPA_BASE;
	int lvl;

	for (lvl = IOASID_TEST_S1_LEVELS - 1; lvl > 0; lvl--) {
		__u64 *e = gpa_ptr(g, table) + ((iova >> (12 + 9 * lvl)) & 511);

		if (!(*e & IOASID_TEST_S1_PRESENT)) {
			if (g->next_table >= TABLE_PAGES)
				return NULL;
			*e = (GPA_BASE + g->next_table++ * PAGE_SZ) |
			     IOASID_TEST_S1_PRESENT;
		}
		table = *e & IOASID_TEST_S1_ADDR;
	}
	return gpa_ptr(g, table) + ((iova >> 12) & 511);
}

static int s1_map(struct guest *g, __u64 iova, __u64 gpa, bool write)
{
	__u64 *leaf = s1_leaf(g, iova);

	if (!leaf)
		return -ENOMEM;
	*leaf = gpa | IOASID_TEST_S1_PRESENT | (write ? IOASID_TEST_S1_WRITE : 0);
	return 0;
}

static int nested_create_data(int fd, __u32 dev_id, __u32 parent_id,
			      __u32 format, const void *data, __u32 len,
			      __u32 *hwpt_id)
{
	struct ioasid_hwpt_create cmd = {
		.argsz = sizeof(cmd),
		.kind = IOASID_HWPT_NESTED,
		.dev_id = dev_id,
		.parent_id = parent_id,
		.data_uptr = (uintptr_t)data,
		.data_len = len,
		.s1_format = format,
	};
	int ret = ioasid_do(fd, IOASID_HWPT_CREATE, &cmd);

	if (!ret)
		*hwpt_id = cmd.out_hwpt_id;
	return ret;
}

static int nested_create(int fd, __u32 dev_id, __u32 parent_id, __u64 root,
			 __u32 *hwpt_id)
{
	struct ioasid_test_s1_hwpt data = { .root_gpa = root };

	return nested_create_data(fd, dev_id, parent_id, IOASID_TEST_S1_FORMAT,
				  &data, sizeof(data), hwpt_id);
}

/* IOASID_HWPT_INVALIDATE; *@num in: entries, out: entries done */
static int hwpt_invalidate(int fd, __u32 hwpt_id, const void *entries,
			   __u32 entry_len, __u32 *num)
{
	struct ioasid_hwpt_invalidate cmd = {
		.argsz = sizeof(cmd),
		.entries_uptr = (uintptr_t)entries,
		.hwpt_id = hwpt_id,
		.entry_len = entry_len,
		.entry_num = *num,
	};
	int ret = ioasid_do(fd, IOASID_HWPT_INVALIDATE, &cmd);

	*num = cmd.entry_num;
	return ret;
}

static int inv_range(int fd, __u32 hwpt_id, __u64 iova, __u64 length)
{
	struct ioasid_test_s1_inv inv = { .iova = iova, .length = length };
	__u32 num = 1;

	return hwpt_invalidate(fd, hwpt_id, &inv, sizeof(inv), &num);
}

static int device_info(int fd, __u32 dev_id, struct ioasid_device_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->dev_id = dev_id;
	return ioasid_do(fd, IOASID_DEVICE_INFO, info);
}

/* Read one page at @iova through mock device @dev_id */
static int dma_read(int fd, __u32 dev_id, __u64 iova, void *buf)
{
	return mock_dma(fd, dev_id, iova, buf, PAGE_SZ, IOASID_TEST_DMA_READ,
			NULL);
}

FIXTURE(nested) {
	int fd;
	__u32 ioas_id, dev_id, parent_id, nested_id;
	struct guest g;
	unsigned char buf[PAGE_SZ];
};

FIXTURE_SETUP(nested)
{
	const char *why = ioasid_unusable();
	unsigned int i;

	if (why)
		SKIP(return, "%s", why);
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas_id));
	self->g.mem = buf_map(GUEST_PAGES * PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->g.mem);
	s1_reset(&self->g);
	for (i = 0; i < GUEST_PAGES - TABLE_PAGES; i++)
		fill_pattern(data_va(&self->g, i), PAGE_SZ, i + 1);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->g.mem,
				    GUEST_PAGES * PAGE_SZ, GPA_BASE, MAP_RW));
	ASSERT_EQ(0, mock_device(self->fd, self->ioas_id, &self->dev_id, NULL));
	ASSERT_EQ(0, hwpt_create_flags(self->fd, self->dev_id, self->ioas_id,
				       IOASID_HWPT_NEST_PARENT,
				       &self->parent_id));
	ASSERT_EQ(0, nested_create(self->fd, self->dev_id, self->parent_id,
				   GPA_BASE, &self->nested_id));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->nested_id,
				  NULL));
}

FIXTURE_TEARDOWN(nested)
{
	if (self->fd >= 0)
		close(self->fd);
	/* Nothing stays pinned once the file is gone. */
	if (self->g.mem) {
		int fd = ioasid_open();

		EXPECT_EQ(0, mock_check_refs(fd, self->g.mem,
					     GUEST_PAGES * PAGE_SZ, 0));
		close(fd);
		munmap(self->g.mem, GUEST_PAGES * PAGE_SZ);
	}
}

/* IOVA -> GPA by the user's stage 1, GPA -> HPA by the IOAS. */
TEST_F(nested, dma_lands)
{
	unsigned char *data = data_va(&self->g, 3);

	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(3), true));
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A + PAGE_SZ, data_gpa(7), false));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	ASSERT_EQ(0, memcmp(self->buf, data, PAGE_SZ));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A + PAGE_SZ,
			      self->buf));
	ASSERT_EQ(0, memcmp(self->buf, data_va(&self->g, 7), PAGE_SZ));

	/* A write lands in the page the stage 1 names, at the offset. */
	memset(self->buf, 0xa5, 64);
	ASSERT_EQ(0, mock_dma(self->fd, self->dev_id, IOVA_A + 128, self->buf,
			      64, IOASID_TEST_DMA_WRITE, NULL));
	ASSERT_EQ(-1, check_fill(data + 128, 64, 0xa5));

	/* Read-only leaf, unmapped IOVA: the DMA faults. */
	EXPECT_EQ(-EFAULT, mock_dma(self->fd, self->dev_id, IOVA_A + PAGE_SZ,
				    self->buf, 64, IOASID_TEST_DMA_WRITE,
				    NULL));
	EXPECT_EQ(-EFAULT, dma_read(self->fd, self->dev_id, IOVA_A + 2 * PAGE_SZ,
				    self->buf));
}

/* A mock DMA asking for its missing page, on a thread of its own. */
struct pri_read {
	int fd;
	__u32 dev_id;
	__u64 iova;
	unsigned char buf[64];
	int ret;
};

static void *pri_read_run(void *arg)
{
	struct pri_read *r = arg;
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_DMA,
		.flags = IOASID_TEST_DMA_PRI,
		.obj_id = r->dev_id,
		.dma = {
			.iova = r->iova,
			.uaddr = (uintptr_t)r->buf,
			.length = sizeof(r->buf),
			.dir = IOASID_TEST_DMA_READ,
		},
	};

	r->ret = ioasid_test(r->fd, &t);
	return NULL;
}

/*
 * A page request through a nested HWPT made with a fault queue, as a
 * vIOMMU passes a guest's I/O page faults on: the user (the guest) fills
 * the stage-1 entry and answers, and the device's retry reads through it.
 */
TEST_F(nested, page_request_served_in_stage1)
{
	struct ioasid_fault_queue_alloc qa = { .argsz = sizeof(qa) };
	struct ioasid_fault_response resp = {
		.code = IOASID_FAULT_RESP_SUCCESS,
	};
	struct ioasid_hwpt_create cmd = {
		.argsz = sizeof(cmd),
		.flags = IOASID_HWPT_FAULT_ID_VALID,
		.kind = IOASID_HWPT_NESTED,
		.dev_id = self->dev_id,
		.parent_id = self->parent_id,
		.s1_format = IOASID_TEST_S1_FORMAT,
	};
	struct ioasid_test_s1_hwpt data = { .root_gpa = GPA_BASE };
	struct pri_read r = {
		.fd = self->fd, .dev_id = self->dev_id,
		.iova = IOVA_A + 5 * PAGE_SZ,
	};
	struct pollfd pfd = { .events = POLLIN };
	struct ioasid_fault rec;
	pthread_t th;

	ASSERT_EQ(0, ioasid_do(self->fd, IOASID_FAULT_QUEUE_ALLOC, &qa));
	cmd.fault_id = qa.out_fault_id;
	cmd.data_uptr = (uintptr_t)&data;
	cmd.data_len = sizeof(data);
	ASSERT_EQ(0, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, cmd.out_hwpt_id,
				  NULL));
	ASSERT_EQ(0, pthread_create(&th, NULL, pri_read_run, &r));
	pfd.fd = qa.out_fault_fd;
	ASSERT_EQ(1, poll(&pfd, 1, 5000));
	ASSERT_EQ((ssize_t)sizeof(rec), read(qa.out_fault_fd, &rec,
					     sizeof(rec)));
	ASSERT_EQ((__u32)IOASID_FAULT_PAGE_REQ, rec.type);
	ASSERT_EQ(r.iova, rec.addr);
	ASSERT_EQ(0, s1_map(&self->g, r.iova, data_gpa(9), false));
	resp.cookie = rec.cookie;
	ASSERT_EQ((ssize_t)sizeof(resp), write(qa.out_fault_fd, &resp,
					       sizeof(resp)));
	pthread_join(th, NULL);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(0, memcmp(r.buf, data_va(&self->g, 9), sizeof(r.buf)));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->nested_id,
				  NULL));
	ASSERT_EQ(0, ioasid_destroy(self->fd, cmd.out_hwpt_id));
	close(qa.out_fault_fd);
	ASSERT_EQ(0, ioasid_destroy(self->fd, qa.out_fault_id));
}

/* The stage 2 is live: unmapping a GPA stops DMA through the stage 1. */
TEST_F(nested, stage2_unmap)
{
	const __u64 gpa = 0x10000000ULL;
	void *page = buf_map(PAGE_SZ, PAGE_SZ, BUF_SMALL_PAGES);

	ASSERT_NE(NULL, page);
	fill_pattern(page, PAGE_SZ, 77);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, page, PAGE_SZ, gpa,
				    MAP_RW));
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, gpa, false));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, memcmp(self->buf, page, PAGE_SZ));
	/* Only the stage-1 walk is cached: the unmap counts at once. */
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, gpa, PAGE_SZ, NULL));
	EXPECT_EQ(-EFAULT, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, mock_check_refs(self->fd, page, PAGE_SZ, 0));
	munmap(page, PAGE_SZ);

	/* Tables the IOAS no longer maps cannot be walked. */
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A + PAGE_SZ, data_gpa(1), false));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas_id, GPA_BASE,
				GUEST_PAGES * PAGE_SZ, NULL));
	EXPECT_EQ(-EFAULT, dma_read(self->fd, self->dev_id, IOVA_A + PAGE_SZ,
				    self->buf));
}

/* A changed entry keeps its old translation until it is invalidated. */
TEST_F(nested, stale_until_invalidated)
{
	struct ioasid_test_s1_inv all = { .flags = IOASID_TEST_S1_INV_ALL };
	__u32 num = 1;

	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(1), false));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	ASSERT_EQ(0, memcmp(self->buf, data_va(&self->g, 1), PAGE_SZ));

	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(2), false));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 1), PAGE_SZ));
	/* A range that does not cover it changes nothing. */
	ASSERT_EQ(0, inv_range(self->fd, self->nested_id, IOVA_A + PAGE_SZ,
			       PAGE_SZ));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 1), PAGE_SZ));
	ASSERT_EQ(0, inv_range(self->fd, self->nested_id, IOVA_A, PAGE_SZ));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 2), PAGE_SZ));

	/* Removing the entry: cached until invalidated, then a fault. */
	*s1_leaf(&self->g, IOVA_A) = 0;
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	ASSERT_EQ(0, hwpt_invalidate(self->fd, self->nested_id, &all,
				     sizeof(all), &num));
	EXPECT_EQ(1U, num);
	EXPECT_EQ(-EFAULT, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
}

/*
 * Four pages mapped to data pages 0..3 and cached; then remapped to 10..13.
 * Returns which of the four now read the new page (bit n for page n).
 */
static unsigned int remapped_pages(int fd, __u32 dev_id, struct guest *g)
{
	unsigned char buf[PAGE_SZ];
	unsigned int n, mask = 0;

	for (n = 0; n < 4; n++) {
		if (dma_read(fd, dev_id, IOVA_A + n * PAGE_SZ, buf))
			return ~0U;
		if (!memcmp(buf, data_va(g, 10 + n), PAGE_SZ))
			mask |= 1U << n;
	}
	return mask;
}

static int map_four_cached(int fd, __u32 dev_id, struct guest *g)
{
	unsigned char buf[PAGE_SZ];
	unsigned int n;
	int ret;

	for (n = 0; n < 4; n++) {
		ret = s1_map(g, IOVA_A + n * PAGE_SZ, data_gpa(n), false);
		if (!ret)
			ret = dma_read(fd, dev_id, IOVA_A + n * PAGE_SZ, buf);
		if (ret)
			return ret;
	}
	for (n = 0; n < 4; n++) {
		ret = s1_map(g, IOVA_A + n * PAGE_SZ, data_gpa(10 + n), false);
		if (ret)
			return ret;
	}
	return 0;
}

/* Four entries, one per page; entry @bad made bad by the caller. */
static void four_entries(struct ioasid_test_s1_inv *inv)
{
	unsigned int n;

	memset(inv, 0, 4 * sizeof(*inv));
	for (n = 0; n < 4; n++) {
		inv[n].iova = IOVA_A + n * PAGE_SZ;
		inv[n].length = PAGE_SZ;
	}
}

TEST_F(nested, inv_unknown_flag_first)
{
	struct ioasid_test_s1_inv inv[4];
	__u32 num = 4;

	ASSERT_EQ(0, map_four_cached(self->fd, self->dev_id, &self->g));
	four_entries(inv);
	inv[0].flags = 1U << 7;
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   sizeof(inv[0]), &num));
	EXPECT_EQ(0U, num);
	EXPECT_EQ(0U, remapped_pages(self->fd, self->dev_id, &self->g));
}

TEST_F(nested, inv_reserved_at_2)
{
	struct ioasid_test_s1_inv inv[4];
	__u32 num = 4;

	ASSERT_EQ(0, map_four_cached(self->fd, self->dev_id, &self->g));
	four_entries(inv);
	inv[2].__reserved = 1;
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   sizeof(inv[0]), &num));
	EXPECT_EQ(2U, num);
	/* Entries 0 and 1 took effect, 2 and 3 did not. */
	EXPECT_EQ(0x3U, remapped_pages(self->fd, self->dev_id, &self->g));
}

TEST_F(nested, inv_wrapping_range)
{
	struct ioasid_test_s1_inv inv[4];
	__u32 num = 4;

	ASSERT_EQ(0, map_four_cached(self->fd, self->dev_id, &self->g));
	four_entries(inv);
	inv[1].iova = ~0ULL - PAGE_SZ + 1;
	inv[1].length = 2 * PAGE_SZ;
	EXPECT_EQ(-EOVERFLOW, hwpt_invalidate(self->fd, self->nested_id, inv,
					      sizeof(inv[0]), &num));
	EXPECT_EQ(1U, num);
	EXPECT_EQ(0x1U, remapped_pages(self->fd, self->dev_id, &self->g));
}

TEST_F(nested, inv_malformed_ranges)
{
	struct ioasid_test_s1_inv inv[4];
	__u32 num;

	four_entries(inv);
	inv[3].length = 0;
	num = 4;
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   sizeof(inv[0]), &num));
	EXPECT_EQ(3U, num);
	four_entries(inv);
	inv[1].iova += 1;
	num = 4;
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   sizeof(inv[0]), &num));
	EXPECT_EQ(1U, num);
	four_entries(inv);
	inv[2].flags = IOASID_TEST_S1_INV_ALL;
	num = 4;
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   sizeof(inv[0]), &num));
	EXPECT_EQ(2U, num);
}

TEST_F(nested, inv_entry_len)
{
	struct {
		struct ioasid_test_s1_inv inv;
		__u64 tail;
	} big[2] = {};
	struct ioasid_test_s1_inv inv[4];
	__u32 num = 4;

	four_entries(inv);
	/* Shorter than the format's first entry */
	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, inv,
					   16, &num));
	EXPECT_EQ(0U, num);
	/* Longer: zeroes past it are fine, anything else is E2BIG. */
	big[0].inv.iova = IOVA_A;
	big[0].inv.length = PAGE_SZ;
	big[1].inv = big[0].inv;
	big[1].tail = 1;
	num = 2;
	EXPECT_EQ(-E2BIG, hwpt_invalidate(self->fd, self->nested_id, big,
					  sizeof(big[0]), &num));
	EXPECT_EQ(1U, num);
	/* Unreadable entries */
	num = 2;
	EXPECT_EQ(-EFAULT, hwpt_invalidate(self->fd, self->nested_id,
					   (void *)8, sizeof(inv[0]), &num));
	EXPECT_EQ(0U, num);
	/* Nothing to do is not an error. */
	num = 0;
	EXPECT_EQ(0, hwpt_invalidate(self->fd, self->nested_id, NULL,
				     sizeof(inv[0]), &num));
	EXPECT_EQ(0U, num);
}

TEST_F(nested, inv_too_many_and_not_nested)
{
	struct ioasid_test_s1_inv inv = { .flags = IOASID_TEST_S1_INV_ALL };
	struct ioasid_hwpt_invalidate cmd = {
		.argsz = sizeof(cmd),
		.entries_uptr = (uintptr_t)&inv,
		.hwpt_id = self->nested_id,
		.entry_len = sizeof(inv),
		.entry_num = 1,
	};
	__u32 num = IOASID_INVALIDATE_MAX + 1;

	EXPECT_EQ(-EINVAL, hwpt_invalidate(self->fd, self->nested_id, &inv,
					   sizeof(inv), &num));
	EXPECT_EQ(0U, num);
	num = 1;
	EXPECT_EQ(-EOPNOTSUPP, hwpt_invalidate(self->fd, self->parent_id, &inv,
					       sizeof(inv), &num));
	EXPECT_EQ(0U, num);
	num = 1;
	EXPECT_EQ(-ENOENT, hwpt_invalidate(self->fd, self->ioas_id, &inv,
					   sizeof(inv), &num));
	cmd.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, ioasid_do(self->fd, IOASID_HWPT_INVALIDATE,
					 &cmd));
	cmd.flags = 0;
	cmd.__reserved = 1;
	EXPECT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_HWPT_INVALIDATE, &cmd));
}

/* A parent outlives its nested HWPTs; a nested one, its attachments. */
TEST_F(nested, life_cycle)
{
	__u32 second;

	ASSERT_EQ(0, nested_create(self->fd, self->dev_id, self->parent_id,
				   GPA_BASE, &second));
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->parent_id));
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->nested_id));
	/* Replace between two nested HWPTs, then back to the IOAS. */
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(5), false));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, second, NULL));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, IOVA_A, self->buf));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 5), PAGE_SZ));
	EXPECT_EQ(0, ioasid_destroy(self->fd, self->nested_id));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->ioas_id, NULL));
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->parent_id));
	EXPECT_EQ(0, ioasid_destroy(self->fd, second));
	/* The parent, attached directly, is an ordinary paging HWPT. */
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->parent_id,
				  NULL));
	ASSERT_EQ(0, dma_read(self->fd, self->dev_id, GPA_BASE + PAGE_SZ *
			      (TABLE_PAGES + 2), self->buf));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 2), PAGE_SZ));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->ioas_id, NULL));
	EXPECT_EQ(0, ioasid_destroy(self->fd, self->parent_id));
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->ioas_id));
}

/* A PASID of the device on a nested HWPT walks that stage 1. */
TEST_F(nested, pasid)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_PASID,
		.obj_id = self->dev_id,
		.pasid = { .pasid = 5, .pt_id = self->nested_id },
	};
	struct ioasid_test_cmd dma = {
		.op = IOASID_TEST_DMA,
		.obj_id = self->dev_id,
		.dma = {
			.iova = IOVA_A,
			.uaddr = (uintptr_t)self->buf,
			.length = PAGE_SZ,
			.pasid = 5,
		},
	};

	ASSERT_EQ(0, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE,
				       self->dev_id, IOASID_PASID_MODE_DEVICE));
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(9), false));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->ioas_id, NULL));
	ASSERT_EQ(0, ioasid_test(self->fd, &t));
	EXPECT_EQ(self->nested_id, t.pasid.out_hwpt_id);
	ASSERT_EQ(0, ioasid_test(self->fd, &dma));
	EXPECT_EQ(0, memcmp(self->buf, data_va(&self->g, 9), PAGE_SZ));
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->nested_id));
	t.pasid.op = IOASID_TEST_PASID_DETACH;
	ASSERT_EQ(0, ioasid_test(self->fd, &t));
	EXPECT_EQ(0, ioasid_destroy(self->fd, self->nested_id));
}

TEST_F(nested, create_errors)
{
	struct ioasid_test_s1_hwpt data = { .root_gpa = GPA_BASE };
	struct {
		struct ioasid_test_s1_hwpt d;
		__u64 tail;
	} big = { .d = { .root_gpa = GPA_BASE }, .tail = 1 };
	struct ioasid_hwpt_create cmd = {
		.argsz = sizeof(cmd),
		.kind = IOASID_HWPT_NESTED,
		.dev_id = self->dev_id,
		.parent_id = self->parent_id,
		.data_uptr = (uintptr_t)&data,
		.data_len = sizeof(data),
		.s1_format = IOASID_TEST_S1_FORMAT,
	};
	__u32 plain, id;

	ASSERT_EQ(0, hwpt_create(self->fd, self->dev_id, self->ioas_id,
				 &plain));
	/* The parent must be a nest parent, and a HWPT. */
	EXPECT_EQ(-EINVAL, nested_create(self->fd, self->dev_id, plain,
					 GPA_BASE, &id));
	EXPECT_EQ(-EINVAL, nested_create(self->fd, self->dev_id,
					 self->nested_id, GPA_BASE, &id));
	EXPECT_EQ(-ENOENT, nested_create(self->fd, self->dev_id,
					 self->ioas_id, GPA_BASE, &id));
	EXPECT_EQ(-ENOENT, nested_create(self->fd, NO_SUCH_ID,
					 self->parent_id, GPA_BASE, &id));
	/* The format and its data */
	EXPECT_EQ(-EOPNOTSUPP, nested_create_data(self->fd, self->dev_id,
						  self->parent_id, 2, &data,
						  sizeof(data), &id));
	EXPECT_EQ(-EOPNOTSUPP, nested_create_data(self->fd, self->dev_id,
						  self->parent_id, 200, &data,
						  sizeof(data), &id));
	EXPECT_EQ(-EINVAL, nested_create(self->fd, self->dev_id,
					 self->parent_id, GPA_BASE + 8, &id));
	EXPECT_EQ(-EINVAL, nested_create(self->fd, self->dev_id,
					 self->parent_id, 1ULL << 48, &id));
	EXPECT_EQ(-EINVAL, nested_create_data(self->fd, self->dev_id,
					      self->parent_id,
					      IOASID_TEST_S1_FORMAT, &data, 4,
					      &id));
	EXPECT_EQ(-E2BIG, nested_create_data(self->fd, self->dev_id,
					     self->parent_id,
					     IOASID_TEST_S1_FORMAT, &big,
					     sizeof(big), &id));
	EXPECT_EQ(-EFAULT, nested_create_data(self->fd, self->dev_id,
					      self->parent_id,
					      IOASID_TEST_S1_FORMAT, (void *)8,
					      sizeof(data), &id));
	/* Flags and fields that do not belong */
	cmd.flags = IOASID_HWPT_NEST_PARENT;
	EXPECT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	/* A fault queue is checked: 0 names none. */
	cmd.flags = IOASID_HWPT_FAULT_ID_VALID;
	EXPECT_EQ(-ENOENT, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	cmd.flags = 0;
	cmd.fault_id = self->parent_id;
	EXPECT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	cmd.fault_id = 0;
	cmd.flags = 0;
	cmd.__reserved = 1;
	EXPECT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	cmd.__reserved = 0;
	cmd.kind = IOASID_HWPT_PAGING;
	cmd.parent_id = self->ioas_id;
	EXPECT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	cmd.data_uptr = 0;
	cmd.data_len = 0;
	cmd.s1_format = 0;
	ASSERT_EQ(0, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	EXPECT_EQ(0, ioasid_destroy(self->fd, cmd.out_hwpt_id));
	/* A caller built before nesting passes the structure up to the ID. */
	cmd.argsz = offsetof(struct ioasid_hwpt_create, data_uptr);
	ASSERT_EQ(0, ioasid_do(self->fd, IOASID_HWPT_CREATE, &cmd));
	EXPECT_EQ(0, ioasid_destroy(self->fd, cmd.out_hwpt_id));
	EXPECT_EQ(0, ioasid_destroy(self->fd, plain));
}

TEST_F(nested, device_info_mock)
{
	struct ioasid_device_info info;
	__u32 dev4;

	ASSERT_EQ(0, device_info(self->fd, self->dev_id, &info));
	TH_LOG("mock: caps %#x s1_formats %#llx pasid_bits %u iova_bits %u pgsize %#llx",
	       info.out_caps, (unsigned long long)info.out_s1_formats,
	       info.out_pasid_bits, info.out_iova_bits,
	       (unsigned long long)info.out_pgsize_bitmap);
	EXPECT_EQ((__u32)(IOASID_DEVICE_CAP_NEST | IOASID_DEVICE_CAP_PRI |
			  IOASID_DEVICE_CAP_FAULTS), info.out_caps);
	EXPECT_EQ(1ULL << IOASID_TEST_S1_FORMAT, info.out_s1_formats);
	EXPECT_EQ(20U, info.out_pasid_bits);
	EXPECT_EQ(48U, info.out_iova_bits);
	EXPECT_EQ(SZ_4K | SZ_2M | SZ_1G, info.out_pgsize_bitmap);

	ASSERT_EQ(0, mock_device_bits(self->fd, self->ioas_id, 4, &dev4));
	ASSERT_EQ(0, device_info(self->fd, dev4, &info));
	EXPECT_EQ(4U, info.out_pasid_bits);

	info.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, ioasid_do(self->fd, IOASID_DEVICE_INFO, &info));
	EXPECT_EQ(-ENOENT, device_info(self->fd, NO_SUCH_ID, &info));
	EXPECT_EQ(-ENOENT, device_info(self->fd, self->ioas_id, &info));
}

/* Races ------------------------------------------------------------------ */

struct race {
	int fd;
	__u32 ioas_id, dev_id, dev2_id;
	struct guest *g;
	atomic_uint parent_id, nested_id;
	atomic_bool stop;
	atomic_int bad;
	atomic_long ops;
};

static void race_bad(struct race *r, const char *what, int ret)
{
	if (atomic_fetch_add(&r->bad, 1) < 10)
		fprintf(stderr, "# race: %s: unexpected %s\n", what,
			errname(-ret));
}

/* Make a parent and a nested HWPT over it, destroy both, again and again. */
static void *race_churn(void *arg)
{
	struct race *r = arg;
	__u32 parent, nested;
	int ret;

	while (!r->stop) {
		ret = hwpt_create_flags(r->fd, r->dev_id, r->ioas_id,
					IOASID_HWPT_NEST_PARENT, &parent);
		if (ret) {
			race_bad(r, "create parent", ret);
			continue;
		}
		ret = nested_create(r->fd, r->dev_id, parent, GPA_BASE, &nested);
		if (ret) {
			race_bad(r, "create nested", ret);
			ioasid_destroy(r->fd, parent);
			continue;
		}
		r->parent_id = parent;
		r->nested_id = nested;
		usleep(200);
		/* Parent first: EBUSY while the nested HWPT exists. */
		ret = ioasid_destroy(r->fd, parent);
		if (ret != -EBUSY)
			race_bad(r, "destroy parent first", ret);
		while (!r->stop && (ret = ioasid_destroy(r->fd, nested)) == -EBUSY)
			sched_yield();
		if (ret && ret != -EBUSY)
			race_bad(r, "destroy nested", ret);
		while ((ret = ioasid_destroy(r->fd, parent)) == -EBUSY && !r->stop)
			sched_yield();
		if (ret && ret != -EBUSY)
			race_bad(r, "destroy parent", ret);
		r->ops++;
	}
	return NULL;
}

/* Move the devices onto whatever nested HWPT exists, and off again. */
static void *race_attach(void *arg)
{
	struct race *r = arg;
	int ret;

	while (!r->stop) {
		ret = mock_replace(r->fd, r->dev2_id, r->nested_id, NULL);
		if (ret && ret != -ENOENT && ret != -EINVAL)
			race_bad(r, "replace to nested", ret);
		ret = mock_replace(r->fd, r->dev2_id, r->ioas_id, NULL);
		if (ret)
			race_bad(r, "replace to ioas", ret);
		r->ops++;
	}
	return NULL;
}

static void *race_pasid(void *arg)
{
	struct race *r = arg;
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_PASID,
		.obj_id = r->dev_id,
	};
	int ret;

	while (!r->stop) {
		t.pasid.pasid = 3;
		t.pasid.op = IOASID_TEST_PASID_ATTACH;
		t.pasid.pt_id = r->nested_id;
		ret = ioasid_test(r->fd, &t);
		if (ret && ret != -ENOENT && ret != -EINVAL)
			race_bad(r, "pasid attach", ret);
		t.pasid.op = IOASID_TEST_PASID_REPLACE;
		t.pasid.pt_id = r->nested_id;
		ret = ioasid_test(r->fd, &t);
		if (ret && ret != -ENOENT && ret != -EINVAL)
			race_bad(r, "pasid replace", ret);
		t.pasid.op = IOASID_TEST_PASID_DETACH;
		ret = ioasid_test(r->fd, &t);
		if (ret)
			race_bad(r, "pasid detach", ret);
		r->ops++;
	}
	return NULL;
}

static void *race_invalidate(void *arg)
{
	struct race *r = arg;
	struct ioasid_test_s1_inv inv[2] = {
		{ .flags = IOASID_TEST_S1_INV_ALL },
		{ .iova = IOVA_A, .length = PAGE_SZ },
	};
	__u32 num;
	int ret;

	while (!r->stop) {
		num = 2;
		ret = hwpt_invalidate(r->fd, r->nested_id, inv, sizeof(inv[0]),
				      &num);
		if (ret && ret != -ENOENT && ret != -EOPNOTSUPP)
			race_bad(r, "invalidate", ret);
		r->ops++;
	}
	return NULL;
}

static void *race_dma(void *arg)
{
	struct race *r = arg;
	unsigned char buf[256];
	int ret;

	while (!r->stop) {
		ret = mock_dma(r->fd, r->dev2_id, IOVA_A, buf, sizeof(buf),
			       IOASID_TEST_DMA_READ, NULL);
		if (ret && ret != -EFAULT)
			race_bad(r, "dma", ret);
		r->ops++;
	}
	return NULL;
}

/* Destroy of nested HWPTs and parents against attach, replace, DMA. */
TEST_F(nested, race)
{
	void *(*fns[])(void *) = { race_churn, race_attach, race_pasid,
				   race_invalidate, race_dma };
	pthread_t th[ARRAY_SIZE(fns)];
	struct race r = { .fd = self->fd, .ioas_id = self->ioas_id,
			  .g = &self->g };
	__u64 secs = test_param("IOASID_RACE_SECS", "ioasid_race_secs=",
				RACE_SECS, NULL);
	unsigned int i;

	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->ioas_id, NULL));
	ASSERT_EQ(0, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE,
				       self->dev_id, IOASID_PASID_MODE_DEVICE));
	ASSERT_EQ(0, mock_device(self->fd, self->ioas_id, &r.dev2_id, NULL));
	ASSERT_EQ(0, s1_map(&self->g, IOVA_A, data_gpa(4), false));
	r.dev_id = self->dev_id;
	r.parent_id = self->parent_id;
	r.nested_id = self->nested_id;
	for (i = 0; i < ARRAY_SIZE(fns); i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fns[i], &r));
	sleep(secs);
	r.stop = true;
	for (i = 0; i < ARRAY_SIZE(fns); i++)
		pthread_join(th[i], NULL);
	TH_LOG("%ld operations in %llu s", (long)r.ops,
	       (unsigned long long)secs);
	EXPECT_EQ(0, r.bad);
	/* The fixture's own nested HWPT and parent still go in order. */
	EXPECT_EQ(-EBUSY, ioasid_destroy(self->fd, self->parent_id));
	EXPECT_EQ(0, ioasid_destroy(self->fd, self->nested_id));
	EXPECT_EQ(0, ioasid_destroy(self->fd, self->parent_id));
}

/* Real IOMMUs ------------------------------------------------------------ */

FIXTURE(nested_edu) {
	char bdf[32];
	char cdev[PATH_MAX];
	int fd, dev_fd;
	__u32 dev_id, ioas_id;
};

FIXTURE_SETUP(nested_edu)
{
	int ret;

	self->fd = -1;
	self->dev_fd = -1;
	if (edu_find(self->bdf, sizeof(self->bdf)))
		SKIP(return, "needs an edu device");
	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	ret = pci_vfio_cdev_path(self->bdf, self->cdev, sizeof(self->cdev));
	if (ret == -ENOENT)
		SKIP(return, "edu is not bound to vfio-pci");
	ASSERT_EQ(0, ret);
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas_id));
	self->dev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev_fd);
	ASSERT_EQ(0, cdev_bind(self->dev_fd, self->fd, &self->dev_id));
}

FIXTURE_TEARDOWN(nested_edu)
{
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	if (self->fd >= 0)
		close(self->fd);
}

/* Plausible real values; no nesting on an emulated IOMMU. */
TEST_F(nested_edu, device_info)
{
	struct ioasid_device_info info;
	__u32 hwpt_id, id;

	ASSERT_EQ(0, device_info(self->fd, self->dev_id, &info));
	TH_LOG("edu %s: caps %#x s1_formats %#llx pasid_bits %u iova_bits %u pgsize %#llx",
	       self->bdf, info.out_caps,
	       (unsigned long long)info.out_s1_formats, info.out_pasid_bits,
	       info.out_iova_bits, (unsigned long long)info.out_pgsize_bitmap);
	EXPECT_EQ(0ULL, info.out_s1_formats);
	EXPECT_EQ(0U, info.out_caps & (IOASID_DEVICE_CAP_NEST |
				      IOASID_DEVICE_CAP_DIRTY));
	/* edu has no PASID, ATS or PRI capability. */
	EXPECT_EQ(0U, info.out_pasid_bits);
	EXPECT_EQ(0U, info.out_caps & (IOASID_DEVICE_CAP_ATS |
				      IOASID_DEVICE_CAP_PRI));
	/* VT-d, AMD-Vi and virtio-iommu report unrecoverable faults. */
	EXPECT_EQ((__u32)IOASID_DEVICE_CAP_FAULTS,
		  info.out_caps & IOASID_DEVICE_CAP_FAULTS);
	EXPECT_LE(32U, info.out_iova_bits);
	EXPECT_GE(64U, info.out_iova_bits);
	EXPECT_NE(0ULL, info.out_pgsize_bitmap & SZ_4K);
	EXPECT_EQ(0ULL, info.out_pgsize_bitmap & (SZ_4K - 1));

	EXPECT_EQ(-EOPNOTSUPP, hwpt_create_flags(self->fd, self->dev_id,
						 self->ioas_id,
						 IOASID_HWPT_NEST_PARENT,
						 &hwpt_id));
	ASSERT_EQ(0, hwpt_create(self->fd, self->dev_id, self->ioas_id,
				 &hwpt_id));
	EXPECT_EQ(-EOPNOTSUPP, nested_create(self->fd, self->dev_id, hwpt_id,
					     GPA_BASE, &id));
	EXPECT_EQ(0, ioasid_destroy(self->fd, hwpt_id));
}

TEST_HARNESS_MAIN
