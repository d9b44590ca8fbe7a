// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user-space virtio driver of vdpa_utils.h against the vdpa device
 * simulators, with DMA mapped by vhost-vdpa's own IOTLB messages (the
 * legacy path).  Each test creates its device over netlink, drives it
 * through /dev/vhost-vdpa-N, and deletes it again, so that kmemleak sees
 * the whole life cycle.
 *
 * Every check compares data the device moved: sectors written and read
 * back through vdpa_sim_blk, frames looped from TX to RX by vdpa_sim_net.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The 6.1 harness has, and expands, handlers with unused parameters */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kselftest_harness.h"
#include "vdpa_utils.h"

#define SZ_64K			0x10000UL
#define SZ_1M			0x100000UL
#define SZ_64M			0x4000000UL

/* 6.1's vdpa_sim_blk: 128 MiB of 512-byte sectors, one queue, one AS */
#define SIM_BLK_CAPACITY	0x40000ULL
/* 6.1's vdpa_sim_net: rx, tx, cvq; cvq alone in group 1; two ASes */
#define SIM_NET_NAS		2U
#define SIM_NET_NGROUPS		2U

#define ARENA_IOVA		0x100000000ULL	/* above 4G: any u64 works */
#define ARENA_SIZE		(4 * SZ_1M)
/* A separately mapped buffer, away from the arena */
#define VICTIM_IOVA		0x200000000ULL
#define VICTIM_SIZE		(4 * VDPA_PAGE_SIZE)
#define QUEUE_SIZE		256

#define POISON			0x5a
/*
 * Locally administered unicast, and no zero byte: 6.1's receive filter
 * compares MACs with strncmp(), which stops at the first 0x00.
 */
#define NET_MAC			{ 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }
#define NET_MAC_OTHER		{ 0x02, 0x11, 0x22, 0x33, 0x44, 0x66 }

/* First index in @buf not holding @val, or -1. */
static ssize_t find_not(const void *buf, size_t len, __u8 val)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((const __u8 *)buf)[i] != val)
			return i;
	return -1;
}

/* vhost-vdpa pins what it maps against RLIMIT_MEMLOCK, root or not */
static void raise_memlock(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	setrlimit(RLIMIT_MEMLOCK, &rl);
}

/*
 * The common part of both fixtures: create the device, open its
 * vhost-vdpa node, negotiate.  Returns NULL, or why the test must skip.
 */
struct vdpa_env {
	struct vdpa_nl nl;
	char name[32];
	bool created;
	struct vdpa_dev dev;
	struct vdpa_legacy_dma dma;
};

static const char *env_create(struct __test_metadata *_metadata,
			      struct vdpa_env *e, const char *mgmtdev,
			      const __u8 *mac)
{
	static char why[128];
	char path[64];
	int ret, fd;

	e->nl.fd = -1;
	e->dev.fd = -1;
	raise_memlock();

	ret = vdpa_nl_open(&e->nl);
	if (ret) {
		snprintf(why, sizeof(why),
			 "no vdpa generic netlink family (%s): CONFIG_VDPA?",
			 strerror(-ret));
		return why;
	}
	snprintf(e->name, sizeof(e->name), "vt%d", getpid());
	ret = vdpa_nl_dev_new(&e->nl, mgmtdev, e->name, mac);
	if (ret == -ENODEV) {
		snprintf(why, sizeof(why), "no vdpa management device %s",
			 mgmtdev);
		return why;
	}
	ASSERT_EQ(0, ret) TH_LOG("VDPA_CMD_DEV_NEW %s: %s", mgmtdev,
				 strerror(-ret));
	e->created = true;

	ret = vdpa_vhost_path(e->name, path, sizeof(path));
	if (ret) {
		snprintf(why, sizeof(why),
			 "vdpa device not bound to vhost_vdpa (%s)",
			 strerror(-ret));
		return why;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));

	ret = vdpa_dev_open_fd(&e->dev, fd);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", e->dev.failed_step, strerror(-ret));
	vdpa_legacy_dma_init(&e->dma, &e->dev);
	return NULL;
}

/* Status 0, close, then VDPA_CMD_DEV_DEL, which needs the fd closed. */
static void env_destroy(struct __test_metadata *_metadata, struct vdpa_env *e)
{
	vdpa_dev_close(&e->dev);
	if (e->created)
		EXPECT_EQ(0, vdpa_nl_dev_del(&e->nl, e->name));
	e->created = false;
	vdpa_nl_close(&e->nl);
}

/* Negotiate and map the arena in @asid through the legacy backend. */
static int env_start(struct vdpa_env *e, __u64 want, __u32 asid)
{
	int ret = vdpa_dev_negotiate(&e->dev, want);

	if (ret)
		return ret;
	return vdpa_dev_arena(&e->dev, &vdpa_legacy_dma_ops, &e->dma, asid,
			      ARENA_IOVA, ARENA_SIZE);
}

/* ---------------------------------------------------------------------- */
/* vdpa_sim_blk                                                            */
/* ---------------------------------------------------------------------- */

FIXTURE(blk) {
	struct vdpa_env e;
	const char *skip;
	struct vblk blk;
	void *victim;		/* VICTIM_SIZE bytes outside the arena */
	bool victim_mapped;
};

FIXTURE_SETUP(blk)
{
	struct vdpa_dev *d = &self->e.dev;
	int ret;

	self->skip = env_create(_metadata, &self->e, VDPA_MGMTDEV_BLK, NULL);
	if (self->skip)
		return;
	ret = env_start(&self->e, 1ULL << VIRTIO_BLK_F_BLK_SIZE, 0);
	if (!ret)
		ret = vblk_init(&self->blk, d, QUEUE_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", d->failed_step, strerror(-ret));

	/*
	 * Populated, so that a read-only mapping (pinned without FOLL_WRITE)
	 * pins the pages the test writes to, not the shared zero page that
	 * a later write would copy away from.
	 */
	self->victim = mmap(NULL, VICTIM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->victim);
}

FIXTURE_TEARDOWN(blk)
{
	struct vdpa_dev *d = &self->e.dev;

	if (self->victim_mapped)
		d->dma->unmap(d->dma_ctx, d->asid, VICTIM_IOVA, VICTIM_SIZE);
	if (self->victim && self->victim != MAP_FAILED)
		munmap(self->victim, VICTIM_SIZE);
	env_destroy(_metadata, &self->e);
}

/* Map the victim buffer on its own, so that it can go away on its own. */
static int victim_map(struct vdpa_dev *d, void *victim, bool dev_writes)
{
	return d->dma->map(d->dma_ctx, d->asid, VICTIM_IOVA, victim,
			   VICTIM_SIZE, dev_writes);
}

static int victim_unmap(struct vdpa_dev *d)
{
	return d->dma->unmap(d->dma_ctx, d->asid, VICTIM_IOVA, VICTIM_SIZE);
}

TEST_F(blk, device)
{
	struct vdpa_dev *d = &self->e.dev;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	EXPECT_EQ((__u32)VIRTIO_ID_BLOCK, d->device_id);
	EXPECT_EQ(SIM_BLK_CAPACITY, self->blk.capacity);
	EXPECT_EQ(VBLK_SECTOR, self->blk.blk_size);
	EXPECT_EQ(1U, d->nas);
	EXPECT_EQ(1U, d->ngroups);
	EXPECT_EQ(0, vdpa_vq_group(d, 0));
	ASSERT_EQ(0, vdpa_get_status(d, &status));
	EXPECT_EQ(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK,
		  status);
	TH_LOG("device features %#llx, negotiated %#llx, backend %#llx, vq max %u",
	       (unsigned long long)d->device_features,
	       (unsigned long long)d->features,
	       (unsigned long long)d->backend_features, d->vq_num_max);
}

/* GET_ID: the device writes its id string; proves device-to-memory DMA. */
TEST_F(blk, get_id)
{
	char *id = vdpa_arena_alloc(&self->e.dev, VIRTIO_BLK_ID_BYTES, 8);
	struct vdpa_sg sg;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, id);
	memset(id, POISON, VIRTIO_BLK_ID_BYTES);
	sg = vdpa_sg(&self->e.dev, id, VIRTIO_BLK_ID_BYTES, true);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_GET_ID, 0, &sg, 1,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(0, strncmp(id, "vdpa_blk_sim", VIRTIO_BLK_ID_BYTES));
}

/* How the data of one request is cut into descriptors */
struct rw_case {
	__u64 sector;
	unsigned int nseg;
	__u32 seg_len;
};

static const struct rw_case rw_cases[] = {
	{ 0, 1, 512 },				/* one sector */
	{ 1, 2, 512 },				/* two single-sector segments */
	{ 100, 1, 4096 },
	{ 1000, 3, 1536 },			/* segments not page sized */
	{ 5000, 1, SZ_64K },			/* 64 KiB, one descriptor */
	{ 9000, 16, 4096 },			/* 64 KiB in 16 descriptors */
	{ 20000, 64, 1024 },			/* long chain */
	{ SIM_BLK_CAPACITY - 8, 1, 4096 },	/* the last 8 sectors */
};

/*
 * Write the case's sectors from one buffer, read them back into another
 * poisoned one, compare.  The device reports what it wrote to memory: just
 * the status byte for a write, the data and the status for a read.
 */
static void blk_rw_case(struct __test_metadata *_metadata, struct vblk *b,
			const struct rw_case *c, unsigned int seed)
{
	struct vdpa_sg sg[64];
	size_t len = (size_t)c->nseg * c->seg_len;
	char *wbuf, *rbuf;
	unsigned int k;
	__u8 status;
	ssize_t bad;

	wbuf = vdpa_arena_alloc(b->dev, len, VDPA_PAGE_SIZE);
	rbuf = vdpa_arena_alloc(b->dev, len, VDPA_PAGE_SIZE);
	ASSERT_NE(NULL, wbuf);
	ASSERT_NE(NULL, rbuf);
	vdpa_fill(wbuf, len, seed);
	memset(rbuf, POISON, len);

	for (k = 0; k < c->nseg; k++)
		sg[k] = vdpa_sg(b->dev, wbuf + k * c->seg_len, c->seg_len, false);
	ASSERT_EQ(0, vblk_rw(b, VIRTIO_BLK_T_OUT, c->sector, sg, c->nseg,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status) TH_LOG("write at %llu",
						  (unsigned long long)c->sector);
	EXPECT_EQ(1U, b->last_len);

	for (k = 0; k < c->nseg; k++)
		sg[k] = vdpa_sg(b->dev, rbuf + k * c->seg_len, c->seg_len, true);
	ASSERT_EQ(0, vblk_rw(b, VIRTIO_BLK_T_IN, c->sector, sg, c->nseg,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	EXPECT_EQ(len + 1, b->last_len);

	bad = vdpa_check(rbuf, len, seed);
	ASSERT_EQ(-1, bad) TH_LOG("sector %llu, %u x %u: byte %zd is %#x",
				  (unsigned long long)c->sector, c->nseg,
				  c->seg_len, bad, (__u8)rbuf[bad]);
}

TEST_F(blk, write_read)
{
	unsigned int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	for (i = 0; i < ARRAY_SIZE(rw_cases); i++)
		blk_rw_case(_metadata, &self->blk, &rw_cases[i], i + 1);
}

/*
 * Neighbouring writes stay apart: the device stores by sector, it does not
 * just echo the last buffer.
 */
TEST_F(blk, sectors_are_distinct)
{
	struct vdpa_dev *d = &self->e.dev;
	char *buf = vdpa_arena_alloc(d, 2 * 4096, VDPA_PAGE_SIZE);
	struct vdpa_sg sg;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	vdpa_fill(buf, 4096, 77);
	vdpa_fill(buf + 4096, 4096, 78);
	sg = vdpa_sg(d, buf, 4096, false);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 64, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	sg = vdpa_sg(d, buf + 4096, 4096, false);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 72, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);

	memset(buf, POISON, 2 * 4096);
	sg = vdpa_sg(d, buf, 2 * 4096, true);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 64, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	EXPECT_EQ(-1, vdpa_check(buf, 4096, 77));
	EXPECT_EQ(-1, vdpa_check(buf + 4096, 4096, 78));
}

/* Past the capacity: IOERR, and the read buffer stays as it was. */
TEST_F(blk, out_of_range)
{
	struct vdpa_dev *d = &self->e.dev;
	char *buf = vdpa_arena_alloc(d, 4096, VDPA_PAGE_SIZE);
	struct vdpa_sg sg;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	memset(buf, POISON, 4096);
	sg = vdpa_sg(d, buf, 4096, true);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, SIM_BLK_CAPACITY,
			     &sg, 1, &status));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, status);
	EXPECT_EQ(-1, find_not(buf, 4096, POISON));
	/* Straddling the end is refused as a whole */
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, SIM_BLK_CAPACITY - 4,
			     &sg, 1, &status));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, status);
	EXPECT_EQ(-1, find_not(buf, 4096, POISON));
}

/*
 * A read into a buffer whose IOTLB entry was invalidated.  6.1's
 * vdpa_sim_blk translates each data buffer when it copies to it
 * (vringh_iov_push_iotlb): the translation fails, nothing is written,
 * and the request still completes, with VIRTIO_BLK_S_IOERR in its (still
 * mapped) status byte and a used length of 1.
 */
TEST_F(blk, invalidated_read_buffer)
{
	struct vdpa_dev *d = &self->e.dev;
	struct vdpa_sg sg = { VICTIM_IOVA, VICTIM_SIZE, true };
	char *wbuf = vdpa_arena_alloc(d, VICTIM_SIZE, VDPA_PAGE_SIZE);
	struct vdpa_sg wsg;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, wbuf);
	vdpa_fill(wbuf, VICTIM_SIZE, 5);
	wsg = vdpa_sg(d, wbuf, VICTIM_SIZE, false);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 256, &wsg, 1,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);

	/* Mapped, the victim takes the data */
	ASSERT_EQ(0, victim_map(d, self->victim, true));
	self->victim_mapped = true;
	memset(self->victim, POISON, VICTIM_SIZE);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 256, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(-1, vdpa_check(self->victim, VICTIM_SIZE, 5));

	/* Invalidated, it is out of the device's reach */
	memset(self->victim, POISON, VICTIM_SIZE);
	ASSERT_EQ(0, victim_unmap(d));
	self->victim_mapped = false;
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 256, &sg, 1, &status));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, status);
	EXPECT_EQ(1U, self->blk.last_len);
	EXPECT_EQ(-1, find_not(self->victim, VICTIM_SIZE, POISON));

	/* Mapped again, the same request succeeds: it was the translation */
	ASSERT_EQ(0, victim_map(d, self->victim, true));
	self->victim_mapped = true;
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 256, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(-1, vdpa_check(self->victim, VICTIM_SIZE, 5));
}

/*
 * A write from an invalidated buffer: the pull fails, IOERR, and the
 * device's storage keeps the old data.
 */
TEST_F(blk, invalidated_write_buffer)
{
	struct vdpa_dev *d = &self->e.dev;
	struct vdpa_sg sg = { VICTIM_IOVA, VICTIM_SIZE, false };
	char *rbuf = vdpa_arena_alloc(d, VICTIM_SIZE, VDPA_PAGE_SIZE);
	struct vdpa_sg rsg;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, rbuf);
	ASSERT_EQ(0, victim_map(d, self->victim, false));
	self->victim_mapped = true;
	vdpa_fill(self->victim, VICTIM_SIZE, 6);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 512, &sg, 1,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);

	vdpa_fill(self->victim, VICTIM_SIZE, 7);
	ASSERT_EQ(0, victim_unmap(d));
	self->victim_mapped = false;
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 512, &sg, 1,
			     &status));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, status);

	memset(rbuf, POISON, VICTIM_SIZE);
	rsg = vdpa_sg(d, rbuf, VICTIM_SIZE, true);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 512, &rsg, 1,
			     &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	EXPECT_EQ(-1, vdpa_check(rbuf, VICTIM_SIZE, 6));
}

/*
 * A buffer mapped read-only (write == false) cannot take a read's data:
 * the IOTLB entry lacks VHOST_ACCESS_WO, the push fails with -EPERM.
 */
TEST_F(blk, read_only_mapping)
{
	struct vdpa_dev *d = &self->e.dev;
	struct vdpa_sg sg = { VICTIM_IOVA, VICTIM_SIZE, true };
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, victim_map(d, self->victim, false));
	self->victim_mapped = true;
	memset(self->victim, POISON, VICTIM_SIZE);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_IN, 0, &sg, 1, &status));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, status);
	EXPECT_EQ(-1, find_not(self->victim, VICTIM_SIZE, POISON));
}

/* A second mapping over a mapped IOVA range is refused. */
TEST_F(blk, map_overlap)
{
	struct vdpa_dev *d = &self->e.dev;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, victim_map(d, self->victim, true));
	self->victim_mapped = true;
	/* vhost-vdpa says -EEXIST; the write() reports -EFAULT */
	EXPECT_NE(0, d->dma->map(d->dma_ctx, d->asid,
				 VICTIM_IOVA + VDPA_PAGE_SIZE, self->victim,
				 VDPA_PAGE_SIZE, true));
}

/*
 * 6.1: a reset (status 0) empties vdpa_sim's translation tables, but not
 * vhost-vdpa's IOTLB, which still holds (and pins) the arena.  A driver
 * that starts over on the same mappings finds the device unable to read
 * its rings: the request is neither completed nor failed.  Mapping the
 * arena again is refused (-EEXIST from vhost-vdpa, -EFAULT to write()),
 * and an empty IOTLB batch, which replays vhost-vdpa's table into the
 * device, brings it back.  A mapping backend must put its translations
 * back into the device after every reset.
 */
TEST_F(blk, reset_forgets_translations)
{
	struct vdpa_dev *d = &self->e.dev;
	char *buf = vdpa_arena_alloc(d, 4096, VDPA_PAGE_SIZE);
	struct vdpa_sg sg;
	int slot, done;
	__u8 status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	vdpa_fill(buf, 4096, 9);
	sg = vdpa_sg(d, buf, 4096, false);
	ASSERT_EQ(0, vblk_rw(&self->blk, VIRTIO_BLK_T_OUT, 8, &sg, 1, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);

	/* Start over: reset, negotiate, fresh rings, same arena mapping */
	vdpa_dev_release_vqs(d);
	ASSERT_EQ(0, vdpa_dev_negotiate(d, 1ULL << VIRTIO_BLK_F_BLK_SIZE));
	ASSERT_EQ(0, vblk_init(&self->blk, d, QUEUE_SIZE));

	memset(buf, POISON, 4096);
	sg = vdpa_sg(d, buf, 4096, true);
	slot = vblk_submit(&self->blk, VIRTIO_BLK_T_IN, 8, &sg, 1);
	ASSERT_LE(0, slot);
	ASSERT_EQ(0, vdpa_vq_kick(self->blk.vq));
	EXPECT_EQ(-ETIMEDOUT, vblk_complete(&self->blk, &done, &status, 500));
	EXPECT_EQ(-1, find_not(buf, 4096, POISON));
	EXPECT_NE(0, d->dma->map(d->dma_ctx, d->asid, d->arena.iova,
				 d->arena.va, d->arena.size, true));

	ASSERT_EQ(0, vdpa_legacy_resync(&self->e.dma, d->asid));
	ASSERT_EQ(0, vdpa_vq_kick(self->blk.vq));
	ASSERT_EQ(0, vblk_complete(&self->blk, &done, &status, VDPA_TIMEOUT_MS));
	EXPECT_EQ(slot, done);
	EXPECT_EQ(VIRTIO_BLK_S_OK, status);
	EXPECT_EQ(-1, vdpa_check(buf, 4096, 9));
}

/*
 * Sequential write then read of 64 MiB in 64 KiB requests, a queue depth
 * of VBLK_SLOTS, reusing VBLK_SLOTS buffers.  Each 4 KiB block carries
 * its offset so that the read pass can check where the data came from.
 */
#define TPUT_TOTAL	SZ_64M
#define TPUT_REQ	SZ_64K

static void tput_stamp(char *buf, __u64 off)
{
	size_t i;

	for (i = 0; i < TPUT_REQ; i += 4096)
		memcpy(buf + i, &(__u64){ off + i }, sizeof(__u64));
}

static ssize_t tput_check(const char *buf, __u64 off)
{
	size_t i;
	__u64 v;

	for (i = 0; i < TPUT_REQ; i += 4096) {
		memcpy(&v, buf + i, sizeof(v));
		if (v != off + i)
			return i;
	}
	return -1;
}

/* One pass; returns MB/s, or a negative errno. */
static double tput_pass(struct __test_metadata *_metadata, struct vblk *b,
			char **bufs, __u32 type)
{
	__u64 next = 0, done = 0, off[VBLK_SLOTS];
	bool write = type == VIRTIO_BLK_T_OUT;
	struct timespec t0;
	struct vdpa_sg sg;
	int slot, inflight = 0;
	__u8 status;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < TPUT_TOTAL) {
		while (next < TPUT_TOTAL && inflight < VBLK_SLOTS) {
			/* The slot a request gets is the buffer it uses */
			for (slot = 0; b->busy[slot]; slot++)
				;
			if (write)
				tput_stamp(bufs[slot], next);
			sg = vdpa_sg(b->dev, bufs[slot], TPUT_REQ, !write);
			ASSERT_EQ(slot, vblk_submit(b, type,
						    next / VBLK_SECTOR, &sg, 1))
				return -1;
			off[slot] = next;
			next += TPUT_REQ;
			inflight++;
		}
		ASSERT_EQ(0, vdpa_vq_kick(b->vq))
			return -1;
		ASSERT_EQ(0, vblk_complete(b, &slot, &status, VDPA_TIMEOUT_MS))
			return -1;
		ASSERT_EQ(VIRTIO_BLK_S_OK, status)
			return -1;
		if (!write)
			ASSERT_EQ(-1, tput_check(bufs[slot], off[slot]))
				return -1;
		inflight--;
		done += TPUT_REQ;
	}
	ms = vdpa_ms_since(&t0);
	return (double)TPUT_TOTAL / SZ_1M * 1000 / (ms ? ms : 1);
}

TEST_F_TIMEOUT(blk, throughput, 600)
{
	char *bufs[VBLK_SLOTS];
	double wr, rd;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	for (i = 0; i < VBLK_SLOTS; i++) {
		bufs[i] = vdpa_arena_alloc(&self->e.dev, TPUT_REQ,
					   VDPA_PAGE_SIZE);
		ASSERT_NE(NULL, bufs[i]);
	}
	wr = tput_pass(_metadata, &self->blk, bufs, VIRTIO_BLK_T_OUT);
	ASSERT_LT(0, wr);
	for (i = 0; i < VBLK_SLOTS; i++)
		memset(bufs[i], POISON, TPUT_REQ);
	rd = tput_pass(_metadata, &self->blk, bufs, VIRTIO_BLK_T_IN);
	ASSERT_LT(0, rd);
	TH_LOG("vdpa_sim_blk over %s: %lu MiB in %lu KiB requests, depth %d:",
	       self->e.dev.dma->name, TPUT_TOTAL / SZ_1M, TPUT_REQ / 1024,
	       VBLK_SLOTS);
	TH_LOG("write %.1f MB/s, read %.1f MB/s", wr, rd);
}

/* ---------------------------------------------------------------------- */
/* vdpa_sim_net                                                            */
/* ---------------------------------------------------------------------- */

FIXTURE(net) {
	struct vdpa_env e;
	const char *skip;
	struct vnet net;
};

/* Where the RX and TX queues' group (0) lives: 6.1 net has two ASes */
FIXTURE_VARIANT(net) {
	__u32 asid;
};

FIXTURE_VARIANT_ADD(net, asid0) {
	.asid = 0,
};

FIXTURE_VARIANT_ADD(net, asid1) {
	.asid = 1,
};

FIXTURE_SETUP(net)
{
	static const __u8 mac[6] = NET_MAC;
	struct vdpa_dev *d = &self->e.dev;
	int ret;

	self->skip = env_create(_metadata, &self->e, VDPA_MGMTDEV_NET, mac);
	if (self->skip)
		return;
	/* No CTRL_VQ: the control queue and its group 1 stay unused */
	ret = env_start(&self->e, 1ULL << VIRTIO_NET_F_MAC |
			1ULL << VIRTIO_NET_F_MTU, variant->asid);
	if (!ret)
		ret = vnet_init(&self->net, d, QUEUE_SIZE);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", d->failed_step, strerror(-ret));
}

FIXTURE_TEARDOWN(net)
{
	env_destroy(_metadata, &self->e);
}

#define NPKTS		64
#define RX_BUF		2048

struct pkt {
	char *hdr;		/* virtio_net_hdr_v1, then the frame if joined */
	char *frame;
	__u32 len;		/* frame length */
};

/* Frame @i: varied length, our MAC or broadcast, a numbered payload. */
static void pkt_build(struct vdpa_dev *d, struct pkt *p, unsigned int i,
		      const __u8 *dst, bool split)
{
	static const __u8 src[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x77 };
	struct virtio_net_hdr_v1 *h;

	p->len = 60 + (i * 337) % (1514 - 60 + 1);
	p->hdr = vdpa_arena_alloc(d, VNET_HDR_LEN + (split ? 0 : p->len), 64);
	p->frame = split ? vdpa_arena_alloc(d, p->len, 64) :
			   p->hdr + VNET_HDR_LEN;
	if (!p->hdr || !p->frame)
		return;
	h = (struct virtio_net_hdr_v1 *)p->hdr;
	memset(h, 0, sizeof(*h));
	/* Looped back as is: a value the device never makes up */
	h->num_buffers = htole16(i);
	memcpy(p->frame, dst, 6);
	memcpy(p->frame + 6, src, 6);
	p->frame[12] = 0x88;	/* local experimental ethertype 0x88b5 */
	p->frame[13] = 0xb5;
	vdpa_fill(p->frame + 14, p->len - 14, 1000 + i);
}

/* Compare a received buffer with what was sent as @p. */
static void pkt_check(struct __test_metadata *_metadata, const struct pkt *p,
		      const char *rx, __u32 rx_len, unsigned int i)
{
	ASSERT_EQ(VNET_HDR_LEN + p->len, rx_len) TH_LOG("packet %u", i);
	ASSERT_EQ(0, memcmp(rx, p->hdr, VNET_HDR_LEN)) TH_LOG("packet %u", i);
	ASSERT_EQ(0, memcmp(rx + VNET_HDR_LEN, p->frame, p->len))
		TH_LOG("packet %u", i);
}

static char *post_rx_bufs(struct __test_metadata *_metadata, struct vnet *v,
			  unsigned int n)
{
	char *rx = vdpa_arena_alloc(v->dev, (size_t)n * RX_BUF, VDPA_PAGE_SIZE);
	unsigned int i;

	ASSERT_NE(NULL, rx)
		return NULL;
	memset(rx, POISON, (size_t)n * RX_BUF);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, vnet_post_rx(v, rx + i * RX_BUF, RX_BUF))
			return NULL;
	return rx;
}

/* Reap @n TX completions: the device reports 0 bytes written for each. */
static void reap_tx(struct __test_metadata *_metadata, struct vnet *v,
		    unsigned int n)
{
	void *cookie;
	__u32 len;

	while (n--) {
		ASSERT_EQ(0, vdpa_vq_wait(v->tx, &cookie, &len, VDPA_TIMEOUT_MS));
		EXPECT_EQ(0U, len);
	}
}

TEST_F(net, device)
{
	static const __u8 mac[6] = NET_MAC;
	struct vdpa_dev *d = &self->e.dev;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	EXPECT_EQ((__u32)VIRTIO_ID_NET, d->device_id);
	EXPECT_EQ(SIM_NET_NAS, d->nas);
	EXPECT_EQ(SIM_NET_NGROUPS, d->ngroups);
	/* The ASID messages need the backend feature on a multi-AS device */
	EXPECT_TRUE(!!(d->backend_features &
		       (1ULL << VHOST_BACKEND_F_IOTLB_ASID)));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, vdpa_vq_group(d, i));
	EXPECT_EQ(0, memcmp(mac, self->net.mac, 6));
	EXPECT_EQ(1500, (int)self->net.mtu);
	TH_LOG("device features %#llx, negotiated %#llx, data group in ASID %u",
	       (unsigned long long)d->device_features,
	       (unsigned long long)d->features, d->asid);
}

/*
 * 64 frames of 60..1514 bytes, half to our MAC and half broadcast, half
 * with the header in a descriptor of its own: every one comes back on
 * RX, in order, header and frame unchanged.
 */
TEST_F(net, loopback)
{
	static const __u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct vnet *v = &self->net;
	struct pkt pkts[NPKTS];
	unsigned int i, seen = 0;
	char *rx;
	void *cookie;
	__u32 len;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rx = post_rx_bufs(_metadata, v, NPKTS);
	ASSERT_NE(NULL, rx);
	ASSERT_EQ(0, vdpa_vq_kick(v->rx));

	for (i = 0; i < NPKTS; i++) {
		pkt_build(v->dev, &pkts[i], i, i & 1 ? bcast : v->mac, i & 2);
		ASSERT_NE(NULL, pkts[i].frame);
		ASSERT_EQ(0, vnet_send(v, pkts[i].hdr, pkts[i].frame,
				       pkts[i].len));
	}
	ASSERT_EQ(0, vdpa_vq_kick(v->tx));

	for (i = 0; i < NPKTS; i++) {
		ASSERT_EQ(0, vdpa_vq_wait(v->rx, &cookie, &len,
					  VDPA_TIMEOUT_MS))
			TH_LOG("packet %u of %u", i, NPKTS);
		/* Receive buffers are used in the order they were posted */
		ASSERT_EQ(rx + i * RX_BUF, (char *)cookie);
		pkt_check(_metadata, &pkts[i], cookie, len, i);
		/* Nothing past the frame was written */
		ASSERT_EQ(-1, find_not((char *)cookie + len, RX_BUF - len,
				       POISON));
		seen++;
	}
	reap_tx(_metadata, v, NPKTS);
	EXPECT_EQ((unsigned int)NPKTS, seen);
}

/*
 * The simulator's receive filter: a frame for another unicast MAC is
 * consumed on TX and never shows up on RX.
 */
TEST_F(net, foreign_unicast_dropped)
{
	static const __u8 other[6] = NET_MAC_OTHER;
	struct vnet *v = &self->net;
	struct pkt drop, pass;
	char *rx;
	void *cookie;
	__u32 len;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rx = post_rx_bufs(_metadata, v, 2);
	ASSERT_NE(NULL, rx);
	pkt_build(v->dev, &drop, 1, other, false);
	pkt_build(v->dev, &pass, 2, v->mac, false);
	ASSERT_NE(NULL, pass.frame);
	ASSERT_EQ(0, vnet_send(v, drop.hdr, drop.frame, drop.len));
	ASSERT_EQ(0, vnet_send(v, pass.hdr, pass.frame, pass.len));
	ASSERT_EQ(0, vdpa_vq_kick(v->tx));

	ASSERT_EQ(0, vdpa_vq_wait(v->rx, &cookie, &len, VDPA_TIMEOUT_MS));
	ASSERT_EQ(rx, (char *)cookie);
	pkt_check(_metadata, &pass, cookie, len, 2);
	reap_tx(_metadata, v, 2);
	/* The second receive buffer is still the device's, untouched */
	EXPECT_EQ(-EAGAIN, vdpa_vq_get(v->rx, &cookie, &len));
	EXPECT_EQ(-1, find_not(rx + RX_BUF, RX_BUF, POISON));
}

/* A net device created and opened, with nothing negotiated yet */
FIXTURE(net_bare) {
	struct vdpa_env e;
	const char *skip;
};

FIXTURE_SETUP(net_bare)
{
	static const __u8 mac[6] = NET_MAC;

	self->skip = env_create(_metadata, &self->e, VDPA_MGMTDEV_NET, mac);
}

FIXTURE_TEARDOWN(net_bare)
{
	env_destroy(_metadata, &self->e);
}

/*
 * Address spaces are separate: with the data group moved to ASID 1 and
 * the arena mapped only in ASID 0, the device cannot even read the rings
 * and nothing moves; once the same IOVAs are mapped in ASID 1 as well,
 * the queued frame goes through.
 */
TEST_F(net_bare, asid_isolation)
{
	struct vdpa_dev *d = &self->e.dev;
	struct vnet v;
	struct pkt p;
	char *rx;
	void *cookie;
	__u32 len;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ret = env_start(&self->e, 1ULL << VIRTIO_NET_F_MAC, 0);
	/* The rings' group goes to ASID 1, where nothing is mapped yet */
	d->asid = 1;
	if (!ret)
		ret = vnet_init(&v, d, QUEUE_SIZE);
	d->asid = 0;
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", d->failed_step, strerror(-ret));

	rx = post_rx_bufs(_metadata, &v, 1);
	ASSERT_NE(NULL, rx);
	pkt_build(d, &p, 3, v.mac, false);
	ASSERT_NE(NULL, p.frame);
	ASSERT_EQ(0, vnet_send(&v, p.hdr, p.frame, p.len));
	ASSERT_EQ(0, vdpa_vq_kick(v.tx));
	EXPECT_EQ(-ETIMEDOUT, vdpa_vq_wait(v.rx, &cookie, &len, 500));
	EXPECT_EQ(-EAGAIN, vdpa_vq_get(v.tx, &cookie, &len));
	EXPECT_EQ(-1, find_not(rx, RX_BUF, POISON));

	ASSERT_EQ(0, d->dma->map(d->dma_ctx, 1, ARENA_IOVA, d->arena.va,
				 d->arena.size, true));
	ASSERT_EQ(0, vdpa_vq_kick(v.tx));
	ASSERT_EQ(0, vdpa_vq_wait(v.rx, &cookie, &len, VDPA_TIMEOUT_MS));
	pkt_check(_metadata, &p, cookie, len, 3);
	reap_tx(_metadata, &v, 1);
	EXPECT_EQ(0, d->dma->unmap(d->dma_ctx, 1, ARENA_IOVA, d->arena.size));
}

TEST_HARNESS_MAIN
