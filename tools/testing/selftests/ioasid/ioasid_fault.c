// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fault queues through /dev/ioasid, with the mock IOMMU: page requests of a
 * mock device read, served (the page mapped) and answered by userspace,
 * after which the device's DMA completes; groups, Invalid Request and
 * Response Failure answers, a full queue, answers the core sends on
 * replace, detach and close; unrecoverable DMA faults reported to the
 * device's owner, one record per fault, rate-limited with a correct lost
 * count, a device blocked for faulting and unblocked, isolation between
 * files; errors; and a race of page requests against replace, answers,
 * reporting changes and close.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "ioasid_utils.h"

#define PAGE_SZ		SZ_4K
#define IOVA_BASE	0x100000UL
#define NPAGES		4

static int hwpt_create_faultq(int fd, __u32 dev_id, __u32 ioas_id,
			      __u32 fault_id, __u32 *hwpt_id)
{
	struct ioasid_hwpt_create c = {
		.argsz = sizeof(c),
		.flags = IOASID_HWPT_FAULT_ID_VALID,
		.kind = IOASID_HWPT_PAGING,
		.dev_id = dev_id,
		.parent_id = ioas_id,
		.fault_id = fault_id,
	};
	int ret = ioasid_do(fd, IOASID_HWPT_CREATE, &c);

	if (!ret)
		*hwpt_id = c.out_hwpt_id;
	return ret;
}

/* Mock DMA; with @pri, missing pages are asked for and waited on. */
static int dma(int fd, __u32 dev_id, __u32 pasid, __u64 iova, void *p,
	       __u64 len, __u32 dir, bool pri, __u64 *done)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_DMA,
		.flags = pri ? IOASID_TEST_DMA_PRI : 0,
		.obj_id = dev_id,
		.dma = {
			.iova = iova,
			.uaddr = (uintptr_t)p,
			.length = len,
			.dir = dir,
			.pasid = pasid,
		},
	};
	int ret = ioasid_test(fd, &t);

	if (done)
		*done = (!ret || ret == -EFAULT) ? t.dma.out_done : 0;
	return ret;
}

/* Wait up to @ms for records and read them. */
static int wait_records(int qfd, struct ioasid_fault *recs, int max, int ms)
{
	struct pollfd p = { .fd = qfd, .events = POLLIN };
	int ret = poll(&p, 1, ms);

	if (ret <= 0)
		return ret < 0 ? -errno : 0;
	return read_records(qfd, recs, max);
}

/* Wait until at least @want records came, or @ms passed. */
static int collect_records(int qfd, struct ioasid_fault *recs, int want,
			   int max, int ms)
{
	int got = 0, n;

	while (got < want) {
		n = wait_records(qfd, recs + got, max - got, ms);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

static int respond(int qfd, __u32 cookie, __u32 code)
{
	struct ioasid_fault_response r = { .cookie = cookie, .code = code };
	ssize_t n = write(qfd, &r, sizeof(r));

	return n == sizeof(r) ? 0 : n < 0 ? -errno : -EIO;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A DMA running on its own thread, as a device does while it waits. */
struct dma_job {
	pthread_t thread;
	int fd;
	__u32 dev_id;
	__u32 pasid;
	__u64 iova;
	void *buf;
	__u64 len;
	__u32 dir;
	int ret;
	__u64 done;
	atomic_int finished;
};

static void *dma_job_run(void *arg)
{
	struct dma_job *j = arg;

	j->ret = dma(j->fd, j->dev_id, j->pasid, j->iova, j->buf, j->len,
		     j->dir, true, &j->done);
	atomic_store(&j->finished, 1);
	return NULL;
}

static int dma_job_start(struct dma_job *j)
{
	atomic_store(&j->finished, 0);
	return pthread_create(&j->thread, NULL, dma_job_run, j);
}

static int dma_job_join(struct dma_job *j)
{
	pthread_join(j->thread, NULL);
	return j->ret;
}

FIXTURE(fault) {
	int fd;
	__u32 ioas_id;
	__u32 dev_id;
	__u32 fault_id;
	int qfd;
	__u32 hwpt_id;
	char *mem;	/* NPAGES pages the test maps on demand */
	char *src;	/* what the device writes */
};

FIXTURE_SETUP(fault)
{
	__u32 auto_hwpt;

	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas_id));
	ASSERT_EQ(0, mock_device(self->fd, self->ioas_id, &self->dev_id,
				 &auto_hwpt));
	ASSERT_EQ(0, faultq_alloc(self->fd, 0, &self->fault_id, &self->qfd));
	/* read_records() must not wait; collect_records() polls. */
	ASSERT_EQ(0, fcntl(self->qfd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, hwpt_create_faultq(self->fd, self->dev_id, self->ioas_id,
					self->fault_id, &self->hwpt_id));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->hwpt_id,
				  NULL));
	self->mem = mmap(NULL, NPAGES * PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	memset(self->mem, 0, NPAGES * PAGE_SZ);
	self->src = malloc(NPAGES * PAGE_SZ);
	ASSERT_NE(NULL, self->src);
	for (unsigned long i = 0; i < NPAGES * PAGE_SZ; i++)
		self->src[i] = (char)(i * 7 + 3);
}

FIXTURE_TEARDOWN(fault)
{
	if (self->qfd >= 0)
		close(self->qfd);
	close(self->fd);
	munmap(self->mem, NPAGES * PAGE_SZ);
	free(self->src);
}

/*
 * The device writes NPAGES pages at an IOVA where nothing is mapped: one
 * group of NPAGES requests; userspace maps the memory and answers Success;
 * the DMA completes and the bytes are where they belong.
 */
TEST_F(fault, page_request_round_trip)
{
	struct ioasid_fault recs[16];
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = NPAGES * PAGE_SZ,
		.dir = IOASID_TEST_DMA_WRITE,
	};
	double t0, t1;
	int n, i;

	t0 = now_us();
	ASSERT_EQ(0, dma_job_start(&j));
	n = collect_records(self->qfd, recs, NPAGES, 16, 5000);
	ASSERT_EQ(NPAGES, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ((__u32)(IOASID_FAULT_PAGE_REQ), recs[i].type);
		ASSERT_EQ(self->dev_id, recs[i].dev_id);
		ASSERT_EQ(IOVA_BASE + i * PAGE_SZ, recs[i].addr);
		ASSERT_EQ(recs[0].cookie, recs[i].cookie);
		ASSERT_EQ(recs[0].grpid, recs[i].grpid);
		ASSERT_TRUE(!!(recs[i].flags & IOASID_FAULT_WRITE));
		ASSERT_FALSE(!!(recs[i].flags & IOASID_FAULT_PASID_VALID));
		ASSERT_EQ(i == n - 1, !!(recs[i].flags &
					 IOASID_FAULT_LAST_IN_GROUP));
	}
	ASSERT_EQ(0, atomic_load(&j.finished));
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->mem,
				    NPAGES * PAGE_SZ, IOVA_BASE, MAP_RW));
	ASSERT_EQ(0, respond(self->qfd, recs[0].cookie,
			     IOASID_FAULT_RESP_SUCCESS));
	ASSERT_EQ(0, dma_job_join(&j));
	t1 = now_us();
	ASSERT_EQ(NPAGES * PAGE_SZ, j.done);
	ASSERT_EQ(0, memcmp(self->mem, self->src, NPAGES * PAGE_SZ));
	/* Answered once: the cookie is gone. */
	ASSERT_EQ(-EINVAL, respond(self->qfd, recs[0].cookie,
				   IOASID_FAULT_RESP_SUCCESS));
	/* Mapped now: no request at all the second time. */
	ASSERT_EQ(0, dma(self->fd, self->dev_id, 0, IOVA_BASE, self->src,
			 PAGE_SZ, IOASID_TEST_DMA_READ, true, NULL));
	ASSERT_EQ(0, read_records(self->qfd, recs, 16));
	TH_LOG("group of %d page requests served in %.0f us", n, t1 - t0);
}

/* A DMA reading a missing page asks for read access. */
TEST_F(fault, read_request_and_invalid_answer)
{
	struct ioasid_fault recs[4];
	char buf[64];
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id,
		.iova = IOVA_BASE + 3 * PAGE_SZ + 100,
		.buf = buf, .len = sizeof(buf), .dir = IOASID_TEST_DMA_READ,
	};

	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(self->qfd, recs, 1, 4, 5000));
	ASSERT_EQ(IOVA_BASE + 3 * PAGE_SZ, recs[0].addr);
	ASSERT_TRUE(!!(recs[0].flags & IOASID_FAULT_READ));
	ASSERT_TRUE(!!(recs[0].flags & IOASID_FAULT_LAST_IN_GROUP));
	ASSERT_EQ(0, respond(self->qfd, recs[0].cookie,
			     IOASID_FAULT_RESP_INVALID));
	ASSERT_EQ(-EFAULT, dma_job_join(&j));
	ASSERT_EQ((__u64)(0), j.done);
}

/* Response Failure: the device sends no page request any more. */
TEST_F(fault, failure_answer_stops_requests)
{
	struct ioasid_fault recs[4];
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = 8, .dir = IOASID_TEST_DMA_WRITE,
	};

	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(self->qfd, recs, 1, 4, 5000));
	ASSERT_EQ(0, respond(self->qfd, recs[0].cookie,
			     IOASID_FAULT_RESP_FAILURE));
	ASSERT_EQ(-EFAULT, dma_job_join(&j));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, IOVA_BASE,
			       self->src, 8, IOASID_TEST_DMA_WRITE, true,
			       NULL));
	ASSERT_EQ(0, read_records(self->qfd, recs, 4));
}

/*
 * A queue of depth 2 cannot take a group of 4: the group is refused (the
 * driver answers Invalid Request, the DMA fails at once) and one LOST
 * record counts the 2 requests that found no room. The queue works again
 * afterwards.
 */
TEST_F(fault, full_queue_answers_and_counts)
{
	struct ioasid_fault recs[8];
	__u32 small_id, hwpt2;
	int small_fd;
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = PAGE_SZ, .dir = IOASID_TEST_DMA_WRITE,
	};

	ASSERT_EQ(0, faultq_alloc(self->fd, 2, &small_id, &small_fd));
	ASSERT_EQ(0, fcntl(small_fd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, hwpt_create_faultq(self->fd, self->dev_id, self->ioas_id,
					small_id, &hwpt2));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, hwpt2, NULL));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, IOVA_BASE,
			       self->src, NPAGES * PAGE_SZ,
			       IOASID_TEST_DMA_WRITE, true, NULL));
	ASSERT_EQ(1, read_records(small_fd, recs, 8));
	ASSERT_EQ((__u32)(IOASID_FAULT_LOST), recs[0].type);
	ASSERT_EQ((__u64)(NPAGES - 2), recs[0].lost);
	ASSERT_EQ(0, read_records(small_fd, recs, 8));

	/* Room again: one page is one request. */
	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(small_fd, recs, 1, 8, 5000));
	ASSERT_EQ((__u32)(IOASID_FAULT_PAGE_REQ), recs[0].type);
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->mem,
				    PAGE_SZ, IOVA_BASE, MAP_RW));
	ASSERT_EQ(0, respond(small_fd, recs[0].cookie,
			     IOASID_FAULT_RESP_SUCCESS));
	ASSERT_EQ(0, dma_job_join(&j));
	ASSERT_EQ(0, memcmp(self->mem, self->src, PAGE_SZ));

	/* Held by its file and by the HWPT. */
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, small_id));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, self->hwpt_id,
				  NULL));
	ASSERT_EQ(0, ioasid_destroy(self->fd, hwpt2));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, small_id));
	close(small_fd);
	ASSERT_EQ(0, ioasid_destroy(self->fd, small_id));
}

/*
 * Replace while a group waits: the core answers Success and the device
 * retries through the new HWPT, which has the page by then.
 */
TEST_F(fault, replace_answers_success)
{
	struct ioasid_fault recs[4];
	__u32 plain;
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = PAGE_SZ, .dir = IOASID_TEST_DMA_WRITE,
	};

	ASSERT_EQ(0, hwpt_create(self->fd, self->dev_id, self->ioas_id,
				 &plain));
	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(self->qfd, recs, 1, 4, 5000));
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->mem,
				    PAGE_SZ, IOVA_BASE, MAP_RW));
	ASSERT_EQ(0, mock_replace(self->fd, self->dev_id, plain, NULL));
	ASSERT_EQ(0, dma_job_join(&j));
	ASSERT_EQ(0, memcmp(self->mem, self->src, PAGE_SZ));
	/* The group was answered for us. */
	ASSERT_EQ(-EINVAL, respond(self->qfd, recs[0].cookie,
				   IOASID_FAULT_RESP_SUCCESS));
	/* No queue on the new HWPT: a missing page now fails at once. */
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0,
			       IOVA_BASE + PAGE_SZ, self->src, 8,
			       IOASID_TEST_DMA_WRITE, true, NULL));
	ASSERT_EQ(0, read_records(self->qfd, recs, 4));
}

/* Detach of a PASID while its group waits: Invalid Request. */
TEST_F(fault, pasid_detach_answers_invalid)
{
	struct ioasid_pasid_alloc pa = { .argsz = sizeof(pa) };
	struct ioasid_fault recs[4];
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_PASID,
		.obj_id = self->dev_id,
	};
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = PAGE_SZ, .dir = IOASID_TEST_DMA_WRITE,
	};

	ASSERT_EQ(0, ioasid_do(self->fd, IOASID_PASID_ALLOC, &pa));
	t.pasid.pasid = pa.pasid;
	t.pasid.pt_id = self->hwpt_id;
	t.pasid.op = IOASID_TEST_PASID_ATTACH;
	ASSERT_EQ(0, ioasid_test(self->fd, &t));
	j.pasid = pa.pasid;
	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(self->qfd, recs, 1, 4, 5000));
	ASSERT_TRUE(!!(recs[0].flags & IOASID_FAULT_PASID_VALID));
	ASSERT_EQ(pa.pasid, recs[0].pasid);
	t.pasid.op = IOASID_TEST_PASID_DETACH;
	ASSERT_EQ(0, ioasid_test(self->fd, &t));
	ASSERT_EQ(-EFAULT, dma_job_join(&j));
	ASSERT_EQ(-EINVAL, respond(self->qfd, recs[0].cookie,
				   IOASID_FAULT_RESP_SUCCESS));
}

/* Closing the queue's file answers what waits, and all that comes. */
TEST_F(fault, close_answers_invalid)
{
	struct ioasid_fault recs[4];
	struct dma_job j = {
		.fd = self->fd, .dev_id = self->dev_id, .iova = IOVA_BASE,
		.buf = self->src, .len = PAGE_SZ, .dir = IOASID_TEST_DMA_WRITE,
	};

	ASSERT_EQ(0, dma_job_start(&j));
	ASSERT_EQ(1, collect_records(self->qfd, recs, 1, 4, 5000));
	close(self->qfd);
	self->qfd = -1;
	ASSERT_EQ(-EFAULT, dma_job_join(&j));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, IOVA_BASE,
			       self->src, 8, IOASID_TEST_DMA_WRITE, true,
			       NULL));
}

/* One blocked DMA, one record, with the right device, address and access. */
TEST_F(fault, dma_fault_one_record)
{
	struct ioasid_device_faults st;
	struct ioasid_fault recs[4];
	char buf[16] = "0123456789";
	__u64 done;

	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 0, 0, NULL));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, 0x7770123, buf,
			       sizeof(buf), IOASID_TEST_DMA_WRITE, false,
			       &done));
	ASSERT_EQ((__u64)(0), done);
	ASSERT_EQ(1, read_records(self->qfd, recs, 4));
	ASSERT_EQ((__u32)(IOASID_FAULT_DMA), recs[0].type);
	ASSERT_EQ(self->dev_id, recs[0].dev_id);
	ASSERT_EQ((__u64)(0x7770123), recs[0].addr);
	ASSERT_EQ((__u32)(IOASID_FAULT_WRITE | IOASID_FAULT_ADDR_VALID), recs[0].flags);
	ASSERT_EQ((__u32)(IOASID_FAULT_REASON_NOT_PRESENT), recs[0].reason);
	ASSERT_EQ((__u64)(0), recs[0].lost);

	/* A read of a mapped page without write access: permission. */
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->mem,
				    PAGE_SZ, IOVA_BASE, MAP_READ));
	ASSERT_EQ(0, dma(self->fd, self->dev_id, 0, IOVA_BASE, buf, 8,
			 IOASID_TEST_DMA_READ, false, NULL));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, IOVA_BASE + 8, buf,
			       8, IOASID_TEST_DMA_WRITE, false, NULL));
	ASSERT_EQ(1, read_records(self->qfd, recs, 4));
	ASSERT_EQ((__u32)(IOASID_FAULT_REASON_PERMISSION), recs[0].reason);
	ASSERT_EQ(IOVA_BASE + 8, recs[0].addr);

	ASSERT_EQ(0, device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ((__u64)(2), st.out_faults);
	ASSERT_EQ((__u64)(0), st.out_lost);
	ASSERT_EQ((__u32)(0), st.out_blocked);

	/* Stopped: no record. */
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_STOP,
				   self->dev_id, 0, 0, 0, NULL));
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, 0x7770000, buf, 8,
			       IOASID_TEST_DMA_WRITE, false, NULL));
	ASSERT_EQ(0, read_records(self->qfd, recs, 4));
}

/*
 * 10,000 faulting DMAs at a rate of 20 records a second: the records are
 * bounded by the rate, every fault is counted once, either as a record or
 * in a lost count, and the lost count a later record carries is exact.
 */
TEST_F(fault, dma_fault_flood)
{
	static struct ioasid_fault recs[256];
	struct ioasid_device_faults st;
	const int total = 10000, rate = 20;
	__u64 carried = 0;
	double t0, secs;
	int n, i, got;
	char c = 0;

	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, rate, 0,
				   NULL));
	t0 = now_us();
	for (i = 0; i < total; i++)
		ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0,
				       0x9000000 + (i % 64) * PAGE_SZ, &c, 1,
				       IOASID_TEST_DMA_WRITE, false, NULL));
	secs = (now_us() - t0) / 1e6;
	n = read_records(self->qfd, recs, 256);
	ASSERT_LE(1, n);
	ASSERT_GE(rate * ((int)secs + 2), n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ((__u32)(IOASID_FAULT_DMA), recs[i].type);
		carried += recs[i].lost;
	}
	ASSERT_EQ(0, device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ(total, st.out_faults);
	ASSERT_EQ((__u64)(total - n), st.out_lost);
	ASSERT_LE(carried, st.out_lost);

	/* A new window: the next record carries every fault not yet told. */
	usleep(1100 * 1000);
	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, 0x9000000, &c, 1,
			       IOASID_TEST_DMA_WRITE, false, NULL));
	got = read_records(self->qfd, recs, 1);
	if (got != 1) {
		struct ioasid_device_faults now;

		/* Rate-limited (lost grew) or queued and not read? */
		device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &now);
		TH_LOG("after %.2f s: faults %llu -> %llu, lost %llu -> %llu",
		       (now_us() - t0) / 1e6,
		       (unsigned long long)st.out_faults,
		       (unsigned long long)now.out_faults,
		       (unsigned long long)st.out_lost,
		       (unsigned long long)now.out_lost);
	}
	ASSERT_EQ(1, got);
	ASSERT_EQ(st.out_lost, carried + recs[0].lost);
	TH_LOG("%d faults in %.2f s: %d records, %llu lost",
	       total, secs, n, (unsigned long long)st.out_lost);
}

/* Past the threshold the device is blocked, until its owner unblocks it. */
TEST_F(fault, dma_fault_blocks_device)
{
	struct ioasid_device_faults st;
	struct ioasid_fault recs[64];
	bool blocked_seen = false;
	char c = 1;
	int i, n, ret;

	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas_id, self->mem,
				    PAGE_SZ, IOVA_BASE, MAP_RW));
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 1000, 10,
				   NULL));
	for (i = 0; i < 10; i++)
		ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, 0x9000000,
				       &c, 1, IOASID_TEST_DMA_WRITE, false,
				       NULL));
	ret = dma(self->fd, self->dev_id, 0, IOVA_BASE, &c, 1,
		  IOASID_TEST_DMA_WRITE, false, NULL);
	ASSERT_EQ(-EIO, ret);
	n = read_records(self->qfd, recs, 64);
	for (i = 0; i < n; i++)
		blocked_seen |= recs[i].type == IOASID_FAULT_BLOCKED &&
				recs[i].dev_id == self->dev_id;
	ASSERT_TRUE(blocked_seen);
	ASSERT_EQ(0, device_faults(self->fd, 0, self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ((__u32)(1), st.out_blocked);
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_UNBLOCK,
				   self->dev_id, 0, 0, 0, &st));
	ASSERT_EQ((__u32)(0), st.out_blocked);
	ASSERT_EQ(0, dma(self->fd, self->dev_id, 0, IOVA_BASE, &c, 1,
			 IOASID_TEST_DMA_WRITE, false, NULL));
}

/* Another file's device faulting never reaches this file. */
TEST_F(fault, other_owner_isolated)
{
	struct ioasid_fault recs[4];
	__u32 ioas2, dev2, q2;
	int fd2, qfd2;
	char c = 0;

	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ioas_alloc(fd2, &ioas2));
	ASSERT_EQ(0, mock_device(fd2, ioas2, &dev2, NULL));
	ASSERT_EQ(0, faultq_alloc(fd2, 0, &q2, &qfd2));
	ASSERT_EQ(0, fcntl(qfd2, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, device_faults(fd2, IOASID_DEVICE_FAULTS_REPORT, dev2, q2,
				   0, 0, NULL));
	ASSERT_EQ(0, device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT,
				   self->dev_id, self->fault_id, 0, 0, NULL));
	/* An ID that names no queue of this file. */
	ASSERT_EQ(-ENOENT, device_faults(self->fd,
					 IOASID_DEVICE_FAULTS_REPORT,
					 self->dev_id, q2 + 1000, 0, 0, NULL));

	ASSERT_EQ(-EFAULT, dma(fd2, dev2, 0, 0x5000, &c, 1,
			       IOASID_TEST_DMA_WRITE, false, NULL));
	ASSERT_EQ(0, read_records(self->qfd, recs, 4));
	ASSERT_EQ(1, read_records(qfd2, recs, 4));
	ASSERT_EQ(dev2, recs[0].dev_id);

	ASSERT_EQ(-EFAULT, dma(self->fd, self->dev_id, 0, 0x6000, &c, 1,
			       IOASID_TEST_DMA_READ, false, NULL));
	ASSERT_EQ(0, read_records(qfd2, recs, 4));
	ASSERT_EQ(1, read_records(self->qfd, recs, 4));
	ASSERT_EQ(self->dev_id, recs[0].dev_id);
	ASSERT_EQ((__u32)(IOASID_FAULT_READ | IOASID_FAULT_ADDR_VALID), recs[0].flags);
	close(qfd2);
	close(fd2);
}

TEST_F(fault, errors)
{
	struct ioasid_fault_queue_alloc a = { .argsz = sizeof(a) };
	struct ioasid_fault_response r[2] = {};
	struct ioasid_fault rec;
	__u32 id, hwpt;
	int qfd;

	a.depth = IOASID_FAULT_QUEUE_MAX_DEPTH + 1;
	ASSERT_EQ(-EINVAL, ioasid_do(self->fd, IOASID_FAULT_QUEUE_ALLOC, &a));
	a.depth = 0;
	a.flags = 1;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(self->fd, IOASID_FAULT_QUEUE_ALLOC,
					 &a));
	ASSERT_EQ(-ENOENT, hwpt_create_faultq(self->fd, self->dev_id,
					      self->ioas_id, NO_SUCH_ID,
					      &hwpt));
	/* An IOAS is not a queue. */
	ASSERT_EQ(-ENOENT, hwpt_create_faultq(self->fd, self->dev_id,
					      self->ioas_id, self->ioas_id,
					      &hwpt));
	ASSERT_EQ(-ENOENT, device_faults(self->fd,
					 IOASID_DEVICE_FAULTS_REPORT,
					 self->dev_id, NO_SUCH_ID, 0, 0,
					 NULL));
	ASSERT_EQ(-EOPNOTSUPP,
		  device_faults(self->fd, IOASID_DEVICE_FAULTS_REPORT |
				IOASID_DEVICE_FAULTS_STOP, self->dev_id,
				self->fault_id, 0, 0, NULL));
	ASSERT_EQ(-ENOENT, device_faults(self->fd, 0, NO_SUCH_ID, 0, 0, 0,
					 NULL));

	/* Responses: unknown cookie, bad code, partial entry. */
	r[0].cookie = 12345;
	ASSERT_EQ(-1, write(self->qfd, r, sizeof(r[0])));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, write(self->qfd, r, sizeof(r[0]) + 1));
	ASSERT_EQ(EINVAL, errno);
	/* Reads: smaller than a record, nothing queued. */
	ASSERT_EQ(-1, read(self->qfd, &rec, sizeof(rec) - 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, fcntl(self->qfd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(-1, read(self->qfd, &rec, sizeof(rec)));
	ASSERT_EQ(EAGAIN, errno);

	/* A queue cannot go while its file is open; then it can. */
	ASSERT_EQ(0, faultq_alloc(self->fd, 1, &id, &qfd));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, id));
	close(qfd);
	ASSERT_EQ(0, ioasid_destroy(self->fd, id));
	ASSERT_EQ(-ENOENT, ioasid_destroy(self->fd, id));
}

/* Closing the /dev/ioasid file first: the queue's file keeps it alive. */
TEST_F(fault, queue_outlives_its_file)
{
	struct ioasid_fault recs[2];

	close(self->fd);
	ASSERT_EQ(0, fcntl(self->qfd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, read_records(self->qfd, recs, 2));
	close(self->qfd);
	self->qfd = -1;
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
}

/*
 * Races, for KASAN and lockdep: page-requesting DMAs against replaces
 * between two queued HWPTs, a reader answering and mapping, reporting
 * switched on and off, and in the end the queue's file closed under them.
 */
struct race {
	int fd;
	int qfd[2];
	__u32 ioas_id, dev_id, hwpt[2], fault_id[2];
	void *mem;
	atomic_int stop;	/* DMAs and replaces */
	atomic_int stop_answers;
	atomic_long dmas, answers;
};

static void *race_dma(void *arg)
{
	struct race *r = arg;
	char buf[64];
	unsigned int i = 0;

	while (!atomic_load(&r->stop)) {
		__u64 iova = IOVA_BASE + (i++ % 8) * PAGE_SZ;

		dma(r->fd, r->dev_id, 0, iova, buf, sizeof(buf),
		    IOASID_TEST_DMA_WRITE, i & 1, NULL);
		atomic_fetch_add(&r->dmas, 1);
	}
	return NULL;
}

static void *race_replace(void *arg)
{
	struct race *r = arg;
	unsigned int i = 0;

	while (!atomic_load(&r->stop)) {
		mock_replace(r->fd, r->dev_id, r->hwpt[i++ & 1], NULL);
		device_faults(r->fd, i & 2 ? IOASID_DEVICE_FAULTS_REPORT :
			      IOASID_DEVICE_FAULTS_STOP, r->dev_id,
			      r->fault_id[i & 1], 5, 0, NULL);
		usleep(200);
	}
	return NULL;
}

static void *race_answer(void *arg)
{
	struct race *r = arg;
	struct ioasid_fault recs[16];
	unsigned int i = 0;

	while (!atomic_load(&r->stop_answers)) {
		int q = i++ & 1, n, k;

		n = wait_records(r->qfd[q], recs, 16, 1);
		for (k = 0; k < n; k++) {
			if (recs[k].type != IOASID_FAULT_PAGE_REQ ||
			    !(recs[k].flags & IOASID_FAULT_LAST_IN_GROUP))
				continue;
			if (k & 1)
				ioas_map_fixed(r->fd, r->ioas_id, r->mem,
					       PAGE_SZ, recs[k].addr, MAP_RW);
			else
				ioas_unmap(r->fd, r->ioas_id, recs[k].addr,
					   PAGE_SZ, NULL);
			respond(r->qfd[q], recs[k].cookie,
				k % 3 ? IOASID_FAULT_RESP_SUCCESS :
					IOASID_FAULT_RESP_INVALID);
			atomic_fetch_add(&r->answers, 1);
		}
	}
	return NULL;
}

TEST(race_requests_replace_close)
{
	pthread_t th[4];
	struct race r = {};
	int i;

	r.fd = ioasid_open();
	ASSERT_LE(0, r.fd);
	ASSERT_EQ(0, ioas_alloc(r.fd, &r.ioas_id));
	ASSERT_EQ(0, mock_device(r.fd, r.ioas_id, &r.dev_id, NULL));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, faultq_alloc(r.fd, 4, &r.fault_id[i], &r.qfd[i]));
		ASSERT_EQ(0, fcntl(r.qfd[i], F_SETFL, O_NONBLOCK));
		ASSERT_EQ(0, hwpt_create_faultq(r.fd, r.dev_id, r.ioas_id,
						r.fault_id[i], &r.hwpt[i]));
	}
	r.mem = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r.mem);
	ASSERT_EQ(0, pthread_create(&th[0], NULL, race_dma, &r));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, race_dma, &r));
	ASSERT_EQ(0, pthread_create(&th[2], NULL, race_replace, &r));
	ASSERT_EQ(0, pthread_create(&th[3], NULL, race_answer, &r));
	sleep(3);
	/* One queue's file goes while requests still come. */
	close(r.qfd[0]);
	r.qfd[0] = r.qfd[1];
	sleep(1);
	/* DMAs waiting for an answer get one before the answers stop. */
	atomic_store(&r.stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	atomic_store(&r.stop_answers, 1);
	pthread_join(th[3], NULL);
	TH_LOG("%ld DMAs, %ld groups answered by userspace",
	       atomic_load(&r.dmas), atomic_load(&r.answers));
	ASSERT_LT(0, atomic_load(&r.dmas));
	close(r.qfd[1]);
	close(r.fd);
	munmap(r.mem, PAGE_SZ);
}

TEST_HARNESS_MAIN
