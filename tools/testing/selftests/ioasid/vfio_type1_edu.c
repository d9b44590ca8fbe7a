// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA isolation checks for the stock VFIO type1 IOMMU backend, using
 * QEMU's "edu" PCI device as the DMA master.
 *
 * The guest is expected to have an emulated IOMMU (intel-iommu, amd-iommu
 * or virtio-iommu) and one edu device already bound to vfio-pci.  Without
 * an edu device every test is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

/* The 6.1 harness leaves a handler parameter unused; keep -Wextra quiet */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kselftest_harness.h"
#pragma GCC diagnostic pop
#include "edu.h"

#define SZ_1M			0x100000ULL
#define SZ_16M			0x1000000ULL
#define SZ_8G			0x200000000ULL

/* Interrupt remapping / MSI doorbell window on x86, never a DMA target */
#define MSI_WINDOW_START	0xfee00000ULL
#define MSI_WINDOW_END		0xfeefffffULL

#define IOVA_ALIGN		SZ_1M
#define BUF_SIZE		(64 * 1024UL)
#define DMA_LEN			2048
/* IOVA room reserved at X: the tests also map at X + BUF_SIZE / 2 and X + 2 * BUF_SIZE */
#define X_SPAN			(4 * BUF_SIZE)

#define SENTINEL		0x5a

#define NO_EDU_REASON \
	"no QEMU edu device (1234:11e8) in " EDU_SYSFS_PCI_DEVICES

/* Return the first index where @a and @b differ, or -1 if they match. */
static ssize_t first_diff(const void *a, const void *b, size_t len)
{
	const unsigned char *pa = a, *pb = b;
	size_t i;

	for (i = 0; i < len; i++)
		if (pa[i] != pb[i])
			return i;
	return -1;
}

/* Return the first index in @buf not holding @val, or -1. */
static ssize_t first_not(const void *buf, unsigned char val, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != val)
			return i;
	return -1;
}

/*
 * A pattern that changes from byte to byte and from one 256-byte block to
 * the next, so misplaced or shifted data is noticed.
 */
static void fill_pattern(void *buf, size_t len, unsigned char seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = seed + i * 31 + (i >> 8);
}

static int dma_map(int container_fd, void *vaddr, __u64 iova, __u64 size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (__u64)(uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map))
		return -errno;
	return 0;
}

static int dma_unmap(int container_fd, __u64 iova, __u64 size,
		     __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap) };

	unmap.iova = iova;
	unmap.size = size;
	if (ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	*unmapped = unmap.size;
	return 0;
}

/*
 * Fetch the container's IOVA page sizes and valid IOVA ranges.  The ranges
 * come from the IOVA_RANGE capability; the first call tells how much room
 * the capability chain needs.  *@ranges is malloc()ed.
 */
static int type1_get_iova_ranges(int container_fd, __u64 *pgsizes,
				 struct vfio_iova_range **ranges, __u32 *nr)
{
	struct vfio_iommu_type1_info_cap_iova_range *cap;
	struct vfio_iommu_type1_info *info = NULL;
	struct vfio_info_cap_header *hdr;
	__u32 argsz = sizeof(*info);
	unsigned int hops;
	size_t bytes;
	__u32 off;
	int tries;
	int ret;

	for (tries = 0; tries < 4; tries++) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, info)) {
			ret = -errno;
			free(info);
			return ret;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
		free(info);
		info = NULL;
	}
	if (!info)
		return -E2BIG;

	ret = -ENOENT;
	if (!(info->flags & VFIO_IOMMU_INFO_PGSIZES) ||
	    !(info->flags & VFIO_IOMMU_INFO_CAPS))
		goto out;
	*pgsizes = info->iova_pgsizes;

	off = info->cap_offset;
	for (hops = 0; off && hops < 32; hops++) {
		if (off < sizeof(*info) || off > argsz - sizeof(*hdr)) {
			ret = -EPROTO;
			goto out;
		}
		hdr = (struct vfio_info_cap_header *)((char *)info + off);
		if (hdr->id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			off = hdr->next;
			continue;
		}

		cap = (struct vfio_iommu_type1_info_cap_iova_range *)hdr;
		bytes = cap->nr_iovas * sizeof(cap->iova_ranges[0]);
		if (off + sizeof(*cap) > argsz ||
		    bytes > argsz - off - sizeof(*cap) || !cap->nr_iovas) {
			ret = -EPROTO;
			goto out;
		}
		*ranges = malloc(bytes);
		if (!*ranges) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(*ranges, cap->iova_ranges, bytes);
		*nr = cap->nr_iovas;
		ret = 0;
		break;
	}
out:
	free(info);
	return ret;
}

/*
 * Lowest IOVA >= @min, aligned to IOVA_ALIGN, such that [iova, iova + size)
 * sits inside one valid range and stays clear of the MSI window.
 * Returns 0 when there is no such address (@min is never 0).
 */
static __u64 pick_iova(const struct vfio_iova_range *ranges, __u32 nr,
		       __u64 min, __u64 size)
{
	__u64 start;
	__u32 i;

	for (i = 0; i < nr; i++) {
		start = ranges[i].start > min ? ranges[i].start : min;
		if (start > ~0ULL - IOVA_ALIGN)
			continue;
		start = (start + IOVA_ALIGN - 1) & ~(IOVA_ALIGN - 1);
		if (start <= MSI_WINDOW_END && start + size - 1 >= MSI_WINDOW_START)
			start = MSI_WINDOW_END + 1;
		if (start > ranges[i].end || ranges[i].end - start < size - 1)
			continue;
		return start;
	}
	return 0;
}

FIXTURE(vfio_type1_edu) {
	bool skipped;
	char bdf[64];
	int group_id;
	int container_fd;
	int group_fd;
	struct edu edu;
	size_t page_size;
	__u64 iova_x;
	__u64 iova_y;
	void *buf_a;
	void *buf_b;
};

FIXTURE_SETUP(vfio_type1_edu)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_iova_range *ranges = NULL;
	char path[64], driver[64];
	__u64 pgsizes = 0, min_pgsize, y_min;
	__u32 nr_ranges = 0, i;
	int device_fd, ret;

	self->container_fd = -1;
	self->group_fd = -1;
	self->edu.device_fd = -1;
	self->buf_a = MAP_FAILED;
	self->buf_b = MAP_FAILED;
	self->page_size = sysconf(_SC_PAGESIZE);

	ret = edu_find(self->bdf, sizeof(self->bdf));
	if (ret == -ENODEV) {
		self->skipped = true;
		SKIP(return, NO_EDU_REASON);
	}
	ASSERT_EQ(0, ret)
		TH_LOG("scanning %s: %s", EDU_SYSFS_PCI_DEVICES, strerror(-ret));

	ret = edu_bound_driver(self->bdf, driver, sizeof(driver));
	ASSERT_EQ(0, ret)
		TH_LOG("edu %s: no driver bound, expected vfio-pci", self->bdf);
	ASSERT_STREQ("vfio-pci", driver)
		TH_LOG("edu %s is bound to %s, expected vfio-pci", self->bdf, driver);

	self->group_id = edu_iommu_group(self->bdf);
	ASSERT_LE(0, self->group_id)
		TH_LOG("edu %s: no usable iommu_group link (%s), is an IOMMU enabled?",
		       self->bdf, strerror(-self->group_id));

	self->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->container_fd)
		TH_LOG("open /dev/vfio/vfio: %s", strerror(errno));
	ASSERT_EQ(VFIO_API_VERSION,
		  ioctl(self->container_fd, VFIO_GET_API_VERSION));
	ASSERT_LT(0, ioctl(self->container_fd, VFIO_CHECK_EXTENSION,
			   VFIO_TYPE1v2_IOMMU))
		TH_LOG("VFIO_TYPE1v2_IOMMU is not supported");

	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group_id);
	self->group_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->group_fd)
		TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status))
		TH_LOG("VFIO_GROUP_GET_STATUS: %s", strerror(errno));
	ASSERT_NE(0U, status.flags & VFIO_GROUP_FLAGS_VIABLE)
		TH_LOG("group %d is not viable, all its devices must use vfio-pci",
		       self->group_id);

	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &self->container_fd))
		TH_LOG("VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->container_fd, VFIO_SET_IOMMU,
			   VFIO_TYPE1v2_IOMMU))
		TH_LOG("VFIO_SET_IOMMU(TYPE1v2): %s", strerror(errno));

	device_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->bdf);
	ASSERT_LE(0, device_fd)
		TH_LOG("VFIO_GROUP_GET_DEVICE_FD(%s): %s", self->bdf,
		       strerror(errno));
	ret = edu_open_from_device_fd(&self->edu, device_fd);
	ASSERT_EQ(0, ret)
		TH_LOG("edu %s: %s failed: %s", self->bdf,
		       self->edu.failed_step, strerror(-ret));

	ret = type1_get_iova_ranges(self->container_fd, &pgsizes, &ranges,
				    &nr_ranges);
	ASSERT_EQ(0, ret)
		TH_LOG("VFIO_IOMMU_GET_INFO IOVA ranges: %s", strerror(-ret));
	min_pgsize = pgsizes & -pgsizes;
	ASSERT_NE(0ULL, min_pgsize);
	ASSERT_GE(self->page_size, min_pgsize)
		TH_LOG("IOMMU page size 0x%llx is larger than the CPU page size",
		       min_pgsize);

	self->iova_x = pick_iova(ranges, nr_ranges, SZ_1M, X_SPAN);
	/*
	 * Y is kept far from X and preferably above guest RAM, so a DMA that
	 * wrongly bypassed translation would not scribble over the guest.
	 */
	if (self->iova_x) {
		y_min = self->iova_x + X_SPAN + SZ_16M;
		self->iova_y = pick_iova(ranges, nr_ranges,
					 y_min > SZ_8G ? y_min : SZ_8G,
					 BUF_SIZE);
		if (!self->iova_y)
			self->iova_y = pick_iova(ranges, nr_ranges, y_min,
						 BUF_SIZE);
	}
	if (!self->iova_x || !self->iova_y) {
		for (i = 0; i < nr_ranges; i++)
			TH_LOG("valid IOVA range [0x%llx, 0x%llx]",
			       ranges[i].start, ranges[i].end);
	}
	free(ranges);
	ASSERT_NE(0ULL, self->iova_x)
		TH_LOG("no room for a %lu byte IOVA span at or above 1 MiB",
		       X_SPAN);
	ASSERT_NE(0ULL, self->iova_y)
		TH_LOG("no room for a second mapping far from 0x%llx",
		       self->iova_x);

	self->buf_a = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf_a);
	self->buf_b = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf_b);
	memset(self->buf_a, 0, BUF_SIZE);
	memset(self->buf_b, 0, BUF_SIZE);
}

FIXTURE_TEARDOWN(vfio_type1_edu)
{
	/* device first, then group (leaves the container), then container */
	edu_close(&self->edu);
	if (self->group_fd >= 0)
		close(self->group_fd);
	if (self->container_fd >= 0)
		close(self->container_fd);
	if (self->buf_b != MAP_FAILED)
		munmap(self->buf_b, BUF_SIZE);
	if (self->buf_a != MAP_FAILED)
		munmap(self->buf_a, BUF_SIZE);
}

/* Load the edu buffer with DMA_LEN bytes read from @iova. */
#define EDU_LOAD_FROM(iova)						\
	ASSERT_EQ(0, edu_dma(&self->edu, (iova), EDU_BUF_ADDR, DMA_LEN, false))

/* Write the edu buffer (DMA_LEN bytes) to @iova. */
#define EDU_STORE_TO(iova)						\
	ASSERT_EQ(0, edu_dma(&self->edu, EDU_BUF_ADDR, (iova), DMA_LEN, true))

TEST_F(vfio_type1_edu, dma_round_trip)
{
	unsigned char expect[DMA_LEN];
	unsigned char *a = self->buf_a;
	size_t dst_off = 2 * self->page_size + 128;
	__u64 unmapped = 0;

	/* the 6.1 harness runs the body even after SKIP() in the setup */
	if (self->skipped)
		SKIP(return, NO_EDU_REASON);

	ASSERT_EQ(0, dma_map(self->container_fd, a, self->iova_x, BUF_SIZE));

	fill_pattern(a, BUF_SIZE, 0x11);
	memcpy(expect, a, DMA_LEN);
	EDU_LOAD_FROM(self->iova_x);

	/* Write it back at a different, unaligned offset spanning two pages */
	memset(a, 0, BUF_SIZE);
	EDU_STORE_TO(self->iova_x + dst_off);

	ASSERT_EQ(-1, first_diff(a + dst_off, expect, DMA_LEN))
		TH_LOG("data read back from IOVA 0x%llx differs",
		       self->iova_x + dst_off);
	ASSERT_EQ(-1, first_not(a, 0, dst_off))
		TH_LOG("bytes before the DMA destination changed");
	ASSERT_EQ(-1, first_not(a + dst_off + DMA_LEN, 0,
				BUF_SIZE - dst_off - DMA_LEN))
		TH_LOG("bytes after the DMA destination changed");

	ASSERT_EQ(0, dma_unmap(self->container_fd, self->iova_x, BUF_SIZE,
			       &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);

	TH_LOG("edu %s group %d: %u bytes RAM->edu->RAM via IOVA 0x%llx -> 0x%llx ok",
	       self->bdf, self->group_id, DMA_LEN, self->iova_x,
	       self->iova_x + dst_off);
}

TEST_F(vfio_type1_edu, dma_to_unmapped_iova_blocked)
{
	unsigned char expect[DMA_LEN];
	unsigned char *a = self->buf_a;
	unsigned char *b = self->buf_b;
	size_t check_off = self->page_size;
	__u64 iova_b = self->iova_x + 2 * BUF_SIZE;

	/* the 6.1 harness runs the body even after SKIP() in the setup */
	if (self->skipped)
		SKIP(return, NO_EDU_REASON);

	ASSERT_EQ(0, dma_map(self->container_fd, a, self->iova_x, BUF_SIZE));
	ASSERT_EQ(0, dma_map(self->container_fd, b, iova_b, BUF_SIZE));

	fill_pattern(a, BUF_SIZE, 0x22);
	memcpy(expect, a, DMA_LEN);
	EDU_LOAD_FROM(self->iova_x);

	/* Nothing is mapped at Y: the write must land nowhere we can see */
	memset(a, SENTINEL, BUF_SIZE);
	memset(b, SENTINEL, BUF_SIZE);
	EDU_STORE_TO(self->iova_y);

	ASSERT_EQ(-1, first_not(a, SENTINEL, BUF_SIZE))
		TH_LOG("DMA to unmapped IOVA 0x%llx modified the buffer mapped at 0x%llx",
		       self->iova_y, self->iova_x);
	ASSERT_EQ(-1, first_not(b, SENTINEL, BUF_SIZE))
		TH_LOG("DMA to unmapped IOVA 0x%llx modified the buffer mapped at 0x%llx",
		       self->iova_y, iova_b);

	/* The edu buffer still holds the pattern and mapped DMA still works */
	EDU_STORE_TO(self->iova_x + check_off);
	ASSERT_EQ(-1, first_diff(a + check_off, expect, DMA_LEN))
		TH_LOG("control DMA to mapped IOVA 0x%llx did not land",
		       self->iova_x + check_off);

	TH_LOG("edu %s group %d: %u bytes edu->RAM to unmapped IOVA 0x%llx dropped",
	       self->bdf, self->group_id, DMA_LEN, self->iova_y);
}

TEST_F(vfio_type1_edu, dma_after_unmap_blocked)
{
	unsigned char expect[DMA_LEN];
	unsigned char *a = self->buf_a;
	unsigned char *b = self->buf_b;
	size_t check_off = self->page_size;
	__u64 unmapped = 0;

	/* the 6.1 harness runs the body even after SKIP() in the setup */
	if (self->skipped)
		SKIP(return, NO_EDU_REASON);

	ASSERT_EQ(0, dma_map(self->container_fd, a, self->iova_x, BUF_SIZE));
	fill_pattern(a, BUF_SIZE, 0x33);
	memcpy(expect, a, DMA_LEN);
	EDU_LOAD_FROM(self->iova_x);

	/* While Y is mapped the data lands in B */
	ASSERT_EQ(0, dma_map(self->container_fd, b, self->iova_y, BUF_SIZE));
	memset(b, 0, BUF_SIZE);
	EDU_STORE_TO(self->iova_y);
	ASSERT_EQ(-1, first_diff(b, expect, DMA_LEN))
		TH_LOG("DMA to mapped IOVA 0x%llx did not land", self->iova_y);

	ASSERT_EQ(0, dma_unmap(self->container_fd, self->iova_y, BUF_SIZE,
			       &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);

	/* Once Y is unmapped the same DMA must not reach B any more */
	memset(b, SENTINEL, BUF_SIZE);
	memset(a, 0, BUF_SIZE);
	EDU_STORE_TO(self->iova_y);
	ASSERT_EQ(-1, first_not(b, SENTINEL, BUF_SIZE))
		TH_LOG("DMA to IOVA 0x%llx reached memory after UNMAP_DMA",
		       self->iova_y);
	ASSERT_EQ(-1, first_not(a, 0, BUF_SIZE))
		TH_LOG("DMA to IOVA 0x%llx modified the buffer at 0x%llx",
		       self->iova_y, self->iova_x);

	/* The device and the X mapping are still fine */
	EDU_STORE_TO(self->iova_x + check_off);
	ASSERT_EQ(-1, first_diff(a + check_off, expect, DMA_LEN))
		TH_LOG("control DMA to mapped IOVA 0x%llx did not land",
		       self->iova_x + check_off);

	TH_LOG("edu %s group %d: %u bytes to IOVA 0x%llx landed, dropped after unmap",
	       self->bdf, self->group_id, DMA_LEN, self->iova_y);
}

TEST_F(vfio_type1_edu, map_errors)
{
	__u64 half = BUF_SIZE / 2;
	__u64 unmapped;

	/* the 6.1 harness runs the body even after SKIP() in the setup */
	if (self->skipped)
		SKIP(return, NO_EDU_REASON);

	/* vaddr is page aligned, only the IOVA is off */
	ASSERT_EQ(-EINVAL, dma_map(self->container_fd, self->buf_a,
				   self->iova_x + self->page_size / 2,
				   BUF_SIZE));
	ASSERT_EQ(-EINVAL, dma_map(self->container_fd, self->buf_a,
				   self->iova_x, 0));

	ASSERT_EQ(0, dma_map(self->container_fd, self->buf_a, self->iova_x,
			     BUF_SIZE));
	ASSERT_EQ(-EEXIST, dma_map(self->container_fd, self->buf_b,
				   self->iova_x + half, BUF_SIZE));
	ASSERT_EQ(-EEXIST, dma_map(self->container_fd, self->buf_b,
				   self->iova_x, BUF_SIZE));

	/* Nothing was ever mapped at Y */
	unmapped = ~0ULL;
	ASSERT_EQ(0, dma_unmap(self->container_fd, self->iova_y, BUF_SIZE,
			       &unmapped));
	ASSERT_EQ(0ULL, unmapped);

	unmapped = 0;
	ASSERT_EQ(0, dma_unmap(self->container_fd, self->iova_x, BUF_SIZE,
			       &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);

	/* With X gone the range that overlapped it is accepted */
	ASSERT_EQ(0, dma_map(self->container_fd, self->buf_b,
			     self->iova_x + half, BUF_SIZE));
	unmapped = 0;
	ASSERT_EQ(0, dma_unmap(self->container_fd, self->iova_x + half,
			       BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);

	TH_LOG("edu %s group %d: type1 map/unmap error checks at IOVA 0x%llx/0x%llx ok",
	       self->bdf, self->group_id, self->iova_x, self->iova_y);
}

TEST_HARNESS_MAIN
