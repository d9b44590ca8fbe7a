// SPDX-License-Identifier: GPL-2.0-only
/*
 * Real DMA through /dev/ioasid: QEMU's edu device, bound to vfio-pci, is
 * attached through VFIO's group path to an IOAS, and its DMA engine must
 * see exactly what the IOAS maps. The same checks as vfio_type1_edu, so
 * the two paths can be compared.
 */
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"

#define BUF_SIZE	SZ_64K
#define DMA_LEN		EDU_TEST_DMA_LEN
#define SENTINEL	0x5a

FIXTURE(vfio_ioasid_edu) {
	int ioasid_fd, group_fd;
	__u32 ioas_id;
	struct edu edu;
	char bdf[32];
	int group;
	__u64 x, y;		/* two usable IOVAs, far apart */
	void *a, *b;		/* BUF_SIZE buffers */
	bool skip;
};

FIXTURE_SETUP(vfio_ioasid_edu)
{
	struct ioasid_iova_range ranges[16];
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct ioasid_vfio_ioas vioas = {
		.argsz = sizeof(vioas), .op = IOASID_VFIO_IOAS_QUERY,
	};
	__u32 n = 16;
	char path[64];
	int dev_fd;

	self->ioasid_fd = -1;
	self->group_fd = -1;
	self->edu.device_fd = -1;
	if (edu_find(self->bdf, sizeof(self->bdf)) ||
	    access(IOASID_DEV_PATH, F_OK)) {
		self->skip = true;
		SKIP(return, "needs an edu device and /dev/ioasid");
	}
	self->group = edu_iommu_group(self->bdf);
	ASSERT_LE(0, self->group);
	self->ioasid_fd = ioasid_open();
	ASSERT_LE(0, self->ioasid_fd);
	ASSERT_EQ(0, ioctl(self->ioasid_fd, IOASID_VFIO_IOAS, &vioas));
	self->ioas_id = vioas.ioas_id;

	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group);
	self->group_fd = open(path, O_RDWR);
	ASSERT_LE(0, self->group_fd);
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_NE(0U, status.flags & VFIO_GROUP_FLAGS_VIABLE);
	/* The /dev/ioasid file stands where a container would */
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &self->ioasid_fd));
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_NE(0U, status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET);
	dev_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->bdf);
	ASSERT_LE(0, dev_fd)
		TH_LOG("VFIO_GROUP_GET_DEVICE_FD: %s", strerror(errno));
	ASSERT_EQ(0, edu_open_from_device_fd(&self->edu, dev_fd))
		TH_LOG("edu setup failed at %s", self->edu.failed_step);

	/* Opening the device attached it: its reserved regions now show */
	ASSERT_EQ(0, ioas_iova_ranges(self->ioasid_fd, self->ioas_id, ranges,
				      &n, NULL));
	ASSERT_FALSE(iova_usable(ranges, n, 0xfee00000, SZ_4K));
	self->x = SZ_1M;
	self->y = 0x200000000ULL;
	ASSERT_TRUE(iova_usable(ranges, n, self->x, 4 * BUF_SIZE));
	ASSERT_TRUE(iova_usable(ranges, n, self->y, BUF_SIZE));

	self->a = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	self->b = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->a);
	ASSERT_NE(NULL, self->b);
}

FIXTURE_TEARDOWN(vfio_ioasid_edu)
{
	if (self->edu.device_fd >= 0)
		edu_close(&self->edu);
	if (self->group_fd >= 0)
		close(self->group_fd);
	if (self->ioasid_fd >= 0)
		close(self->ioasid_fd);
	if (self->a)
		munmap(self->a, BUF_SIZE);
	if (self->b)
		munmap(self->b, BUF_SIZE);
}

TEST_F(vfio_ioasid_edu, dma_round_trip)
{
	char expect[DMA_LEN];
	__u64 off = 2 * SZ_4K + 128, unmapped;
	int fd = self->ioasid_fd;

	if (self->skip)
		return;
	fill_pattern(self->a, BUF_SIZE, 0x31);
	memcpy(expect, self->a, DMA_LEN);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->a, BUF_SIZE,
				    self->x, MAP_RW));
	ASSERT_EQ(0, edu_load(&self->edu, self->x));
	memset(self->a, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x + off));
	ASSERT_EQ(0, memcmp((char *)self->a + off, expect, DMA_LEN));
	ASSERT_EQ(-1, check_fill(self->a, off, 0));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, self->x, BUF_SIZE,
				&unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	TH_LOG("edu %s (IOMMU group %d) via /dev/ioasid IOAS %u:",
	       self->bdf, self->group, self->ioas_id);
	TH_LOG("  %d bytes RAM -> edu -> RAM through IOVA %#llx, bytes match",
	       DMA_LEN, (unsigned long long)self->x);
}

TEST_F(vfio_ioasid_edu, dma_blocked)
{
	int fd = self->ioasid_fd;

	if (self->skip)
		return;
	/* Load the edu buffer with a pattern, then unmap its source */
	fill_pattern(self->a, BUF_SIZE, 0x47);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->a, BUF_SIZE,
				    self->x, MAP_RW));
	ASSERT_EQ(0, edu_load(&self->edu, self->x));

	/* To an IOVA never mapped: dropped, mapped memory untouched */
	memset(self->a, SENTINEL, BUF_SIZE);
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(-1, check_fill(self->a, BUF_SIZE, SENTINEL));
	ASSERT_EQ(-1, check_fill(self->b, BUF_SIZE, SENTINEL));

	/* To an IOVA after its unmap: lands before, dropped after */
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->b, BUF_SIZE,
				    self->y, MAP_RW));
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_NE(-1, check_fill(self->b, DMA_LEN, SENTINEL));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, self->y, BUF_SIZE, NULL));
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(-1, check_fill(self->b, BUF_SIZE, SENTINEL));
	TH_LOG("edu %s: DMA to unmapped IOVA %#llx blocked, memory untouched",
	       self->bdf, (unsigned long long)self->y);
}

TEST_F(vfio_ioasid_edu, copy_visible)
{
	char expect[DMA_LEN];
	int fd = self->ioasid_fd;
	__u64 z;

	if (self->skip)
		return;
	fill_pattern(self->a, BUF_SIZE, 0x59);
	memcpy(expect, self->a, DMA_LEN);
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_id, self->a, BUF_SIZE,
				    self->x, MAP_RW));
	/* A copy at another IOVA, sharing the pins; then drop the source */
	z = self->x + 2 * BUF_SIZE;
	ASSERT_EQ(0, ioas_copy_fixed(fd, self->ioas_id, z, self->ioas_id,
				     self->x, BUF_SIZE, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_id, self->x, BUF_SIZE, NULL));
	ASSERT_EQ(0, edu_load(&self->edu, z));
	memset(self->a, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, z + BUF_SIZE / 2));
	ASSERT_EQ(0, memcmp((char *)self->a + BUF_SIZE / 2, expect, DMA_LEN));
}

/*
 * VT-d's IOTLB invalidations, from its qi_submit trace event. tracefs():
 * the tracing directory that has the event, or NULL;
 * vtd_trace_invalidations(): the event's tracing turned on (@on, with the
 * buffer emptied) or off; vtd_invalidations(): the IOTLB invalidation
 * descriptors (iotlb_inv, p_iotlb_inv) traced since it was turned on.
 */
static const char *tracefs(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[96];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path),
			 "%s/events/intel_iommu/qi_submit/enable", dirs[i]);
		if (!access(path, W_OK))
			return dirs[i];
	}
	return NULL;
}

static int tracefs_write(const char *file, const char *val)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", tracefs(), file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -EIO;
	close(fd);
	return ret;
}

static int vtd_trace_invalidations(bool on)
{
	int ret;

	if (on) {
		ret = tracefs_write("trace", "");
		if (!ret)
			ret = tracefs_write("events/intel_iommu/qi_submit/enable",
					    "1");
		return ret ? ret : tracefs_write("tracing_on", "1");
	}
	return tracefs_write("events/intel_iommu/qi_submit/enable", "0");
}

static long vtd_invalidations(void)
{
	char path[128], line[512];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", tracefs());
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "qi_submit: iotlb_inv ") ||
		    strstr(line, "qi_submit: p_iotlb_inv "))
			n++;
	fclose(f);
	return n;
}

/*
 * Whether every VT-d unit widens a gather for a disjoint unmap (patch
 * 0025): second level tables, so not caching mode (CAP bit 7), and not
 * scalable mode with first level translation (ECAP bits 43 and 47).
 */
static bool vtd_gather_widens(void)
{
	unsigned long long cap, ecap;
	char path[96];
	bool any = false;
	int i;
	FILE *f;

	for (i = 0; i < 8; i++) {
		snprintf(path, sizeof(path),
			 "/sys/class/iommu/dmar%d/intel-iommu/cap", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llx", &cap) != 1)
			cap = 1ULL << 7;
		fclose(f);
		snprintf(path, sizeof(path),
			 "/sys/class/iommu/dmar%d/intel-iommu/ecap", i);
		f = fopen(path, "r");
		if (!f || fscanf(f, "%llx", &ecap) != 1)
			ecap = ~0ULL;
		if (f)
			fclose(f);
		if (cap & (1ULL << 7))
			return false;
		if ((ecap & (1ULL << 43)) && (ecap & (1ULL << 47)))
			return false;
		any = true;
	}
	return any;
}

#define SCAT_NR		64
#define SCAT_BASE	0x200000000ULL
#define SCAT_STRIDE	(SZ_2M + SZ_4K)	/* a leaf table each: disjoint */

/*
 * A vector unmap of 64 scattered 4K ranges waits for one IOTLB
 * invalidation on VT-d, not one per range, and that one invalidation
 * covers them all: DMA that went through each before is dropped after,
 * at the lowest and highest IOVA and two between.
 * Tried three times, for a stray invalidation of another device's
 * DMA API flush queue landing in between. The invalidations are counted
 * from VT-d's qi_submit trace event.
 */
TEST_F_TIMEOUT(vfio_ioasid_edu, vector_unmap_invalidates_once, 120)
{
	struct ioasid_map_range m[SCAT_NR];
	struct ioasid_iova_range u[SCAT_NR], ranges[16];
	long delta = -1;
	__u64 unmapped;
	__u32 n = 16;
	char *buf;
	int try, i, ret;

	if (self->skip)
		return;
	if (!tracefs() || !vtd_gather_widens())
		SKIP(return, "needs VT-d (second level, no caching mode) and tracefs");
	ASSERT_EQ(0, ioas_iova_ranges(self->ioasid_fd, self->ioas_id, ranges,
				      &n, NULL));
	ASSERT_TRUE(iova_usable(ranges, n, SCAT_BASE, SCAT_NR * SCAT_STRIDE));
	buf = buf_map(SCAT_NR * SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < SCAT_NR; i++) {
		/* Out of order too: the gather grows both ways */
		__u64 iova = SCAT_BASE + ((i * 37) % SCAT_NR) * SCAT_STRIDE;

		map_range_set(&m[i], buf + i * SZ_4K, SZ_4K, iova,
			      MAP_RW | MAP_FIXED_IOVA);
		u[i].first = iova;
		u[i].last = iova + SZ_4K - 1;
	}
	for (try = 0; try < 3 && delta != 1; try++) {
		ASSERT_EQ(0, ioas_map_vec(self->ioasid_fd, self->ioas_id, m,
					  SCAT_NR, NULL));
		/* Every range through the IOMMU once: its IOTLB holds them */
		for (i = 0; i < SCAT_NR; i++)
			ASSERT_EQ(0, edu_store(&self->edu, m[i].iova));
		memset(buf, SENTINEL, SCAT_NR * SZ_4K);
		ASSERT_EQ(0, vtd_trace_invalidations(true));
		ret = ioas_unmap_vec(self->ioasid_fd, self->ioas_id, u,
				     SCAT_NR, &unmapped, NULL);
		vtd_trace_invalidations(false);
		ASSERT_EQ(0, ret);
		delta = vtd_invalidations();
		ASSERT_EQ(SCAT_NR * SZ_4K, unmapped);
		/* Each faults, and VT-d logs it: a few, both ends included */
		for (i = 0; i < SCAT_NR; i += SCAT_NR / 3)
			ASSERT_EQ(0, edu_store(&self->edu,
					       SCAT_BASE + i * SCAT_STRIDE));
		ASSERT_EQ(-1, check_fill(buf, SCAT_NR * SZ_4K, SENTINEL))
			TH_LOG("DMA reached memory after its unmap");
		TH_LOG("try %d: %d scattered 4K unmaps, %ld IOTLB invalidation(s)",
		       try + 1, SCAT_NR, delta);
	}
	EXPECT_EQ(1, delta);
	munmap(buf, SCAT_NR * SZ_4K);
}

/* Close in every order: nothing may stay pinned. */
FIXTURE_VARIANT(vfio_ioasid_edu) {
	bool ioasid_first;
};

FIXTURE_VARIANT_ADD(vfio_ioasid_edu, device_first) {
	.ioasid_first = false,
};

FIXTURE_VARIANT_ADD(vfio_ioasid_edu, ioasid_first) {
	.ioasid_first = true,
};

TEST_F(vfio_ioasid_edu, close_unpins)
{
	int checker;

	if (self->skip)
		return;
	ASSERT_EQ(0, ioas_map_fixed(self->ioasid_fd, self->ioas_id, self->a,
				    BUF_SIZE, self->x, MAP_RW));
	checker = ioasid_open();
	ASSERT_LE(0, checker);
	if (mock_check_refs(checker, self->a, BUF_SIZE, 1) == -ENOTTY) {
		close(checker);
		SKIP(return, "needs CONFIG_IOASID_TEST");
	}
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	if (variant->ioasid_first) {
		close(self->ioasid_fd);
		self->ioasid_fd = -1;
		/* the group still holds the file: the mapping lives on */
		ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	}
	edu_close(&self->edu);
	self->edu.device_fd = -1;
	close(self->group_fd);
	self->group_fd = -1;
	if (self->ioasid_fd >= 0) {
		close(self->ioasid_fd);
		self->ioasid_fd = -1;
	}
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 0));
	close(checker);
}

TEST_HARNESS_MAIN
