// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unrecoverable DMA faults of a real device, reported to its owner: QEMU's
 * edu device, bound to /dev/ioasid through its VFIO cdev, does DMA to IOVAs
 * where nothing is mapped, and the emulated IOMMU (VT-d's fault recording,
 * AMD-Vi's event log, virtio-iommu's fault events) blocks it. Each fault
 * must reach the file that owns edu as one record naming the device, the
 * IOVA and the direction; a stream of them is rate-limited with an exact
 * lost count and leaves the host log quiet; a device faulting past its
 * threshold stops doing DMA until its owner unblocks it; and no other file
 * sees any of it.
 *
 * edu runs one DMA at a time, and QEMU completes each 100 ms later, so the
 * streams here are tens of faults; the mock IOMMU's test (ioasid_fault)
 * floods 10,000.
 *
 * What QEMU 7.2 emulates decides what can be checked:
 * - AMD-Vi raises no event for a DMA whose last-level entry is missing or
 *   forbids the access (its page walk returns quietly), so these tests
 *   skip on AMD-Vi;
 * - virtio-iommu says nothing of the direction of a DMA to an unmapped
 *   IOVA (it does for a write to a read-only mapping), and reports every
 *   4 bytes of a DMA, which the driver merges into one fault.
 */
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define BUF_SIZE	SZ_64K
#define SENTINEL	0x5a
#define HOLE_IOVA	0x7f000000ULL	/* nothing is ever mapped here */
#define RO_IOVA		0x7e000000ULL	/* a read-only mapping */
/* How long a fault may take to arrive; how long we wait for none */
#define REPORT_MS	2000
#define QUIET_MS	500

/* Records that come within @ms. */
static int records_within(int qfd, struct ioasid_fault *recs, int max,
			  int ms)
{
	__u64 end = edu_now_ms() + ms;
	int got = 0, n;

	while (got < max && edu_now_ms() < end) {
		n = read_records(qfd, recs + got, max - got);
		if (n < 0)
			return n;
		got += n;
		usleep(10 * 1000);
	}
	return got;
}

/* Host log lines an IOMMU driver prints for a DMA fault. */
static bool fault_log_line(const char *line)
{
	return strstr(line, "DMAR") || strstr(line, "AMD-Vi") ||
	       strstr(line, "IO_PAGE_FAULT") || strstr(line, "viommu") ||
	       strstr(line, "virtio_iommu") || strstr(line, "fault");
}

/* Count such lines logged since @kfd (/dev/kmsg) was opened. */
static int fault_log_lines(int kfd)
{
	char line[1024];
	int n = 0;
	ssize_t len;

	for (;;) {
		len = read(kfd, line, sizeof(line) - 1);
		if (len < 0) {
			if (errno == EPIPE)
				continue;
			break;
		}
		line[len] = 0;
		n += fault_log_line(line);
	}
	return n;
}

static int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* The emulated IOMMU reports none of these faults (see above). */
static bool iommu_is_amd(void)
{
	return !access("/sys/class/iommu/ivhd0", F_OK);
}

/* Every fault of a DMA to an unmapped IOVA has a direction here. */
static bool iommu_tells_direction(void)
{
	return !access("/sys/class/iommu/dmar0", F_OK);
}

FIXTURE(fault_edu) {
	bool skip;
	char bdf[32];
	int fd;
	struct edu edu;
	__u32 ioas_id, dev_id, fault_id;
	int qfd;
	__u64 x;
	void *buf;
};

#define MARK_OFF	(BUF_SIZE / 2)

/*
 * Give edu's own buffer a known content, @byte, read from the second half
 * of the mapped buffer; then fill the first half with SENTINEL. A store to
 * X afterwards shows whether it landed.
 */
static int edu_mark(struct _test_data_fault_edu *self, int byte)
{
	char *b = self->buf;
	int ret;

	memset(b + MARK_OFF, byte, EDU_TEST_DMA_LEN);
	ret = edu_load(&self->edu, self->x + MARK_OFF);
	memset(b, SENTINEL, MARK_OFF);
	return ret;
}

/* Did the last store to X land: edu's buffer of @byte there? */
static bool stored(struct _test_data_fault_edu *self, int byte)
{
	return check_fill(self->buf, EDU_TEST_DMA_LEN, byte) == -1;
}

FIXTURE_SETUP(fault_edu)
{
	struct ioasid_iova_range r[16];
	char cdev[PATH_MAX];
	__u32 n = 16, i;
	int dev_fd;

	self->fd = -1;
	self->qfd = -1;
	self->edu.device_fd = -1;
	if (iommu_is_amd()) {
		self->skip = true;
		SKIP(return, "QEMU 7.2's AMD-Vi raises no event for these faults");
	}
	if (edu_find(self->bdf, sizeof(self->bdf)) ||
	    pci_vfio_cdev_path(self->bdf, cdev, sizeof(cdev)) ||
	    access(IOASID_DEV_PATH, F_OK)) {
		self->skip = true;
		SKIP(return, "needs an edu device bound to vfio-pci, and %s",
		     IOASID_DEV_PATH);
	}
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas_id));
	dev_fd = open(cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev_fd);
	ASSERT_EQ(0, cdev_bind(dev_fd, self->fd, &self->dev_id));
	ASSERT_EQ(0, edu_open_from_device_fd(&self->edu, dev_fd))
		TH_LOG("edu setup failed at %s", self->edu.failed_step);
	ASSERT_EQ(0, cdev_attach(self->edu.device_fd, self->ioas_id, NULL));

	/* A usable 64K at or above 1M, for the mapped buffer */
	ASSERT_EQ(0, ioas_iova_ranges(self->fd, self->ioas_id, r, &n, NULL));
	for (i = 0; i < n && !self->x; i++) {
		__u64 first = r[i].first < SZ_1M ? SZ_1M : r[i].first;

		first = (first + SZ_64K - 1) & ~(SZ_64K - 1);
		if (first <= r[i].last && r[i].last - first >= BUF_SIZE - 1 &&
		    first + BUF_SIZE <= HOLE_IOVA)
			self->x = first;
	}
	ASSERT_NE(0ULL, self->x);
	self->buf = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->buf,
				    BUF_SIZE, self->x, MAP_RW));
	ASSERT_EQ(0, faultq_alloc(self->fd, 0, &self->fault_id, &self->qfd));
	ASSERT_EQ(0, fcntl(self->qfd, F_SETFL, O_NONBLOCK));
}

FIXTURE_TEARDOWN(fault_edu)
{
	if (self->edu.device_fd >= 0)
		edu_close(&self->edu);
	if (self->qfd >= 0)
		close(self->qfd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->buf)
		munmap(self->buf, BUF_SIZE);
}

/* One DMA write and one DMA read to the hole: one record each. */
TEST_F(fault_edu, one_dma_one_record)
{
	struct ioasid_fault rec[8];
	int n;

	if (self->skip)
		SKIP(return, "no edu");
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 0, 0, NULL));
	ASSERT_EQ(0, edu_store(&self->edu, HOLE_IOVA));
	n = records_within(self->qfd, rec, 8, REPORT_MS);
	ASSERT_EQ(1, n);
	ASSERT_EQ((__u32)IOASID_FAULT_DMA, rec[0].type);
	ASSERT_EQ(self->dev_id, rec[0].dev_id);
	ASSERT_TRUE(!!(rec[0].flags & IOASID_FAULT_ADDR_VALID));
	ASSERT_EQ(HOLE_IOVA, rec[0].addr & ~0xfffULL);
	ASSERT_FALSE(!!(rec[0].flags & IOASID_FAULT_READ));
	if (iommu_tells_direction())
		ASSERT_TRUE(!!(rec[0].flags & IOASID_FAULT_WRITE));
	ASSERT_FALSE(!!(rec[0].flags & IOASID_FAULT_PASID_VALID));
	TH_LOG("write fault: iova %#llx reason %u",
	       (unsigned long long)rec[0].addr, rec[0].reason);

	ASSERT_EQ(0, edu_load(&self->edu, HOLE_IOVA + SZ_64K));
	n = records_within(self->qfd, rec, 8, REPORT_MS);
	ASSERT_EQ(1, n);
	ASSERT_EQ(HOLE_IOVA + SZ_64K, rec[0].addr & ~0xfffULL);
	ASSERT_FALSE(!!(rec[0].flags & IOASID_FAULT_WRITE));
	if (iommu_tells_direction())
		ASSERT_TRUE(!!(rec[0].flags & IOASID_FAULT_READ));

	/* Mapped DMA still works and faults nothing. */
	ASSERT_EQ(0, edu_mark(self, 0x33));
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_TRUE(stored(self, 0x33));
	ASSERT_EQ(0, records_within(self->qfd, rec, 8, QUIET_MS));
}

/* A write to a read-only mapping: one record, a write, on every IOMMU. */
TEST_F(fault_edu, write_to_read_only_mapping)
{
	struct ioasid_fault rec[8];
	void *ro;

	if (self->skip)
		SKIP(return, "no edu");
	ro = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, ro);
	memset(ro, SENTINEL, SZ_4K);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, ro, SZ_4K,
				    RO_IOVA, MAP_READ));
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 0, 0, NULL));
	/*
	 * Writing it faults and changes nothing. (First: QEMU's VT-d checks
	 * permissions only when it walks, not on an IOTLB hit, so a read
	 * before would let the write fail without a fault.)
	 */
	ASSERT_EQ(0, edu_store(&self->edu, RO_IOVA));
	ASSERT_EQ(1, records_within(self->qfd, rec, 8, REPORT_MS));
	ASSERT_EQ(self->dev_id, rec[0].dev_id);
	ASSERT_EQ(RO_IOVA, rec[0].addr & ~0xfffULL);
	ASSERT_TRUE(!!(rec[0].flags & IOASID_FAULT_WRITE));
	ASSERT_FALSE(!!(rec[0].flags & IOASID_FAULT_READ));
	ASSERT_EQ(-1, check_fill(ro, SZ_4K, SENTINEL));
	/* Reading it is fine. */
	ASSERT_EQ(0, edu_load(&self->edu, RO_IOVA));
	ASSERT_EQ(0, records_within(self->qfd, rec, 8, QUIET_MS));
	TH_LOG("write to read-only IOVA %#llx: reason %u",
	       (unsigned long long)rec[0].addr, rec[0].reason);
	munmap(ro, SZ_4K);
}

/*
 * A stream of faulting DMAs at twice the allowed rate: records stay within
 * the rate, records plus lost faults are all the faults, and the host log
 * says nothing about them.
 */
TEST_F(fault_edu, stream_rate_limited_log_quiet)
{
	static struct ioasid_fault rec[128];
	struct ioasid_device_faults st;
	const int total = 40, rate = 5;
	__u64 t0, carried = 0;
	double secs;
	int kfd, n, i;

	if (self->skip)
		SKIP(return, "no edu");
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, rate, 0,
				   NULL));
	kfd = kmsg_open_at_end();
	ASSERT_LE(0, kfd);
	t0 = edu_now_ms();
	for (i = 0; i < total; i++)
		ASSERT_EQ(0, edu_store(&self->edu, HOLE_IOVA + i * SZ_4K));
	/* The IOMMU reports from a work item or thread: let it catch up. */
	n = records_within(self->qfd, rec, 128, REPORT_MS);
	secs = (edu_now_ms() - t0) / 1000.0;
	ASSERT_EQ(0, device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ((__u64)total, st.out_faults);
	ASSERT_LE(1, n);
	ASSERT_GE(rate * ((int)secs + 2), n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(self->dev_id, rec[i].dev_id);
		carried += rec[i].lost;
	}
	ASSERT_EQ((__u64)(total - n), st.out_lost);
	ASSERT_LE(carried, st.out_lost);
	ASSERT_EQ(0, fault_log_lines(kfd));
	close(kfd);
	TH_LOG("%d faults in %.1f s: %d records, %llu lost, host log quiet",
	       total, secs, n, (unsigned long long)st.out_lost);
}

/* Past its threshold edu is blocked: its DMA lands nowhere until unblocked. */
TEST_F(fault_edu, blocked_until_unblocked)
{
	struct ioasid_fault rec[16];
	struct ioasid_device_faults st;
	bool blocked = false;
	int n, i;

	if (self->skip)
		SKIP(return, "no edu");
	ASSERT_EQ(0, edu_mark(self, 0x44));
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 100, 3,
				   NULL));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, edu_store(&self->edu, HOLE_IOVA));
	n = records_within(self->qfd, rec, 16, REPORT_MS);
	for (i = 0; i < n; i++)
		blocked |= rec[i].type == IOASID_FAULT_BLOCKED;
	ASSERT_TRUE(blocked);
	ASSERT_EQ(0, device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ(1U, st.out_blocked);

	/* Blocked: a DMA to mapped memory does not land. */
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_EQ(-1, check_fill(self->buf, MARK_OFF, SENTINEL));

	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_UNBLOCK,
				   self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ(0U, st.out_blocked);
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_TRUE(stored(self, 0x44));
}

/* Another file, with a device and a queue of its own, sees none of it. */
TEST_F(fault_edu, other_file_sees_nothing)
{
	struct ioasid_fault rec[8];
	__u32 ioas2, dev2, q2;
	int fd2, qfd2;

	if (self->skip)
		SKIP(return, "no edu");
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, faultq_alloc(fd2, 0, &q2, &qfd2));
	ASSERT_EQ(0, fcntl(qfd2, F_SETFL, O_NONBLOCK));
	/* edu is not a device of that file. */
	ASSERT_EQ(-ENOENT, device_faults(fd2, IOASID_DEVICE_FAULTS_REPORT,
					 self->dev_id + 1000, q2, 0, 0, NULL));
	if (!ioas_alloc(fd2, &ioas2) && !mock_device(fd2, ioas2, &dev2, NULL))
		ASSERT_EQ(0, device_faults(fd2, IOASID_DEVICE_FAULTS_REPORT,
					   dev2, q2, 0, 0, NULL));
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 0, 0, NULL));
	ASSERT_EQ(0, edu_store(&self->edu, HOLE_IOVA));
	ASSERT_EQ(1, records_within(self->qfd, rec, 8, REPORT_MS));
	ASSERT_EQ(0, read_records(qfd2, rec, 8));
	close(qfd2);
	close(fd2);
}

TEST_HARNESS_MAIN
