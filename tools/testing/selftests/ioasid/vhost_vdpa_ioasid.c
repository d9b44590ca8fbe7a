// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhost-vdpa on /dev/ioasid: the user-space virtio driver of vdpa_utils.h
 * against two kinds of vDPA block device, with each address space (ASID)
 * attached to an IOAS (VHOST_VDPA_BIND_IOASID, VHOST_VDPA_ATTACH_IOASID_PT).
 * The rings and buffers are mapped with IOASID_IOAS_MAP.
 *
 * - sim_blk: vdpa_sim_blk, which translates DMA itself; it reaches the
 *   IOAS through the core's mirror.
 * - vp_blk: QEMU's virtio-blk-pci (iommu_platform=on) driven by vp_vdpa,
 *   behind the platform IOMMU: real DMA by QEMU through the emulated
 *   IOMMU, into the domain the core fills from the IOAS. Skipped where
 *   the machine has no such function.
 *
 * Every check compares data the device moved: sectors written and read
 * back.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"
#include "vdpa_utils.h"

#define ARENA_IOVA	0x100000000ULL
#define ARENA_SIZE	(4 * SZ_1M)
/* A buffer of its own, mapped apart from the arena */
#define VICTIM_IOVA	0x200000000ULL
#define VICTIM_SIZE	(4 * SZ_4K)
#define QUEUE_SIZE	256
#define POISON		0x5a
#define SEED_A		0x11
#define SEED_B		0x22
#define BENCH_BYTES	(64 * SZ_1M)
#define BENCH_REQ	SZ_64K
#define RACE_ROUNDS	300

/* The /dev/ioasid backend of vdpa_utils.h: one IOAS per ASID */
struct vdpa_ioasid_dma {
	int fd;
	__u32 ioas[2];
};

static int vdpa_ioasid_map(void *ctx, __u32 asid, __u64 iova, void *va,
			   __u64 len, bool write)
{
	struct vdpa_ioasid_dma *x = ctx;

	if (asid >= ARRAY_SIZE(x->ioas))
		return -EINVAL;
	return ioas_map_fixed(x->fd, x->ioas[asid], va, len, iova,
			      write ? MAP_RW : MAP_READ);
}

static int vdpa_ioasid_unmap(void *ctx, __u32 asid, __u64 iova, __u64 len)
{
	struct vdpa_ioasid_dma *x = ctx;

	if (asid >= ARRAY_SIZE(x->ioas))
		return -EINVAL;
	return ioas_unmap(x->fd, x->ioas[asid], iova, len, NULL);
}

static const struct vdpa_dma_ops vdpa_ioasid_dma_ops = {
	.name = "ioasid",
	.map = vdpa_ioasid_map,
	.unmap = vdpa_ioasid_unmap,
};

/* Bind; the core's ID of the DMA device (0 for a mirror) in @dev_id */
static int vdpa_bind_id(int vfd, int ioasid_fd, __u32 *dev_id)
{
	struct vhost_vdpa_bind_ioasid bind = {
		.argsz = sizeof(bind),
		.ioasid_fd = ioasid_fd,
		.out_dev_id = 0xdead,
	};

	if (ioctl(vfd, VHOST_VDPA_BIND_IOASID, &bind))
		return -errno;
	*dev_id = bind.out_dev_id;
	return 0;
}

static int vdpa_bind(int vfd, int ioasid_fd)
{
	__u32 dev_id;

	return vdpa_bind_id(vfd, ioasid_fd, &dev_id);
}

/* Attach; *@pt_id is what it is attached to (a HWPT behind an IOMMU) */
static int vdpa_attach_pt(int vfd, __u32 asid, __u32 *pt_id)
{
	struct vhost_vdpa_ioasid_attach attach = {
		.argsz = sizeof(attach),
		.asid = asid,
		.pt_id = *pt_id,
	};

	if (ioctl(vfd, VHOST_VDPA_ATTACH_IOASID_PT, &attach))
		return -errno;
	*pt_id = attach.pt_id;
	return 0;
}

static int vdpa_attach(int vfd, __u32 asid, __u32 pt_id)
{
	return vdpa_attach_pt(vfd, asid, &pt_id);
}

static int vdpa_detach(int vfd, __u32 asid)
{
	struct vhost_vdpa_ioasid_detach detach = {
		.argsz = sizeof(detach),
		.asid = asid,
	};

	return ioctl(vfd, VHOST_VDPA_DETACH_IOASID_PT, &detach) ? -errno : 0;
}

static int vdpa_unbind(int vfd)
{
	return ioctl(vfd, VHOST_VDPA_UNBIND_IOASID) ? -errno : 0;
}

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define VP_VDPA_DRIVER	"/sys/bus/pci/drivers/vp-vdpa"

/*
 * Find a modern virtio PCI function of device type @virtio_id (a QEMU
 * virtio-blk-pci with disable-legacy=on, iommu_platform=on), bind it to
 * vp_vdpa through driver_override, and write its management device
 * handle, "pci/BDF", to @mgmtdev. Returns 0, -ENODEV when there is no
 * such function or no vp_vdpa, or another negative errno.
 */
static int vp_vdpa_mgmtdev(unsigned int virtio_id, char *mgmtdev,
			   size_t size)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], drv[PATH_MAX];
	struct dirent *e;
	int ret = -ENODEV;
	ssize_t n;
	DIR *d;

	if (access(VP_VDPA_DRIVER, F_OK))
		return -ENODEV;
	d = opendir(PCI_DEVICES);
	if (!d)
		return -ENODEV;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), PCI_DEVICES "/%s", e->d_name);
		snprintf(path, sizeof(path), "%s/vendor", dir);
		if (read_long_file(path) != 0x1af4)
			continue;
		snprintf(path, sizeof(path), "%s/device", dir);
		if (read_long_file(path) != 0x1040 + virtio_id)
			continue;
		snprintf(path, sizeof(path), "%s/driver", dir);
		n = readlink(path, drv, sizeof(drv) - 1);
		drv[n > 0 ? n : 0] = '\0';
		if (!strstr(drv, "/vp-vdpa")) {
			snprintf(path, sizeof(path), "%s/driver_override", dir);
			ret = write_string_file(path, "vp-vdpa");
			if (!ret && n > 0) {
				snprintf(path, sizeof(path), "%s/driver/unbind",
					 dir);
				ret = write_string_file(path, e->d_name);
			}
			if (!ret)
				ret = write_string_file(VP_VDPA_DRIVER "/bind",
							e->d_name);
			if (ret)
				break;
		}
		snprintf(mgmtdev, size, "pci/%s", e->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

FIXTURE(vdpa_ioasid) {
	bool skip;
	struct vdpa_nl nl;
	char mgmtdev[64];
	char name[32];
	bool created;
	struct vdpa_dev dev;
	struct vdpa_ioasid_dma dma;
	__u32 dev_id;
	struct vblk blk;
};

FIXTURE_VARIANT(vdpa_ioasid) {
	bool platform;		/* behind the platform IOMMU, through vp_vdpa */
	const char *what;
};

FIXTURE_VARIANT_ADD(vdpa_ioasid, sim_blk) {
	.platform = false,
	.what = "vdpa_sim_blk",
};

FIXTURE_VARIANT_ADD(vdpa_ioasid, vp_blk) {
	.platform = true,
	.what = "virtio-blk-pci on vp_vdpa",
};

FIXTURE_SETUP(vdpa_ioasid)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char path[64];
	int ret, fd;

	self->nl.fd = -1;
	self->dev.fd = -1;
	self->dma.fd = -1;
	setrlimit(RLIMIT_MEMLOCK, &rl);
	if (vdpa_nl_open(&self->nl)) {
		self->skip = true;
		SKIP(return, "no vdpa generic netlink family: CONFIG_VDPA?");
	}
	snprintf(self->mgmtdev, sizeof(self->mgmtdev), "%s", VDPA_MGMTDEV_BLK);
	if (variant->platform &&
	    vp_vdpa_mgmtdev(VIRTIO_ID_BLOCK, self->mgmtdev,
			    sizeof(self->mgmtdev))) {
		self->skip = true;
		SKIP(return, "no modern virtio-blk PCI function for vp_vdpa");
	}
	snprintf(self->name, sizeof(self->name), "vi%d", getpid());
	ret = vdpa_nl_dev_new(&self->nl, self->mgmtdev, self->name, NULL);
	if (ret == -ENODEV) {
		self->skip = true;
		SKIP(return, "no vdpa management device %s", self->mgmtdev);
	}
	ASSERT_EQ(0, ret);
	self->created = true;
	ASSERT_EQ(0, vdpa_vhost_path(self->name, path, sizeof(path)));
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, vdpa_dev_open_fd(&self->dev, fd))
		TH_LOG("%s: %s", self->dev.failed_step, strerror(errno));

	self->dma.fd = ioasid_open();
	ASSERT_LE(0, self->dma.fd);
	ASSERT_EQ(0, ioas_alloc(self->dma.fd, &self->dma.ioas[0]));
	ASSERT_EQ(0, ioas_alloc(self->dma.fd, &self->dma.ioas[1]));
}

FIXTURE_TEARDOWN(vdpa_ioasid)
{
	vdpa_dev_close(&self->dev);
	if (self->dma.fd >= 0)
		close(self->dma.fd);
	if (self->created)
		vdpa_nl_dev_del(&self->nl, self->name);
	if (self->nl.fd >= 0)
		vdpa_nl_close(&self->nl);
}

/*
 * Bind, map the arena in IOAS 0, attach ASID 0 there, start virtio-blk.
 * A device behind the platform IOMMU is bound as its DMA device, a device
 * of the core with an ID, and attaches through a HWPT; a mirror is not.
 */
static void blk_up(struct __test_metadata *_metadata,
		   struct _test_data_vdpa_ioasid *self,
		   const struct _fixture_variant_vdpa_ioasid *variant)
{
	struct vdpa_dev *d = &self->dev;
	__u32 dev_id = 0, pt_id = self->dma.ioas[0];

	ASSERT_EQ(0, vdpa_bind_id(d->fd, self->dma.fd, &dev_id));
	ASSERT_EQ(variant->platform, dev_id != 0) TH_LOG("dev_id %u", dev_id);
	self->dev_id = dev_id;
	ASSERT_EQ(0, vdpa_dev_negotiate(d, 0))
		TH_LOG("%s", d->failed_step);
	ASSERT_EQ(0, vdpa_dev_arena(d, &vdpa_ioasid_dma_ops, &self->dma, 0,
				    ARENA_IOVA, ARENA_SIZE))
		TH_LOG("%s", d->failed_step);
	ASSERT_EQ(0, vdpa_attach_pt(d->fd, 0, &pt_id));
	ASSERT_EQ(variant->platform, pt_id != self->dma.ioas[0]);
	ASSERT_EQ(0, vblk_init(&self->blk, d, QUEUE_SIZE))
		TH_LOG("%s", d->failed_step);
}

/* One request of @len bytes at @buf (arena or not) at @iova */
static int blk_io(struct _test_data_vdpa_ioasid *self, __u32 type, __u64 sector,
		  __u64 iova, __u32 len, __u8 *status)
{
	struct vdpa_sg sg = {
		.iova = iova,
		.len = len,
		.dev_writes = type == VIRTIO_BLK_T_IN,
	};

	return vblk_rw(&self->blk, type, sector, &sg, 1, status);
}

static int blk_io_buf(struct _test_data_vdpa_ioasid *self, __u32 type,
		      __u64 sector, void *buf, __u32 len, __u8 *status)
{
	return blk_io(self, type, sector, vdpa_iova(&self->dev, buf), len,
		      status);
}

TEST_F(vdpa_ioasid, blk_write_read_back)
{
	static const __u32 lens[] = { 512, 4096, 3 * 4096 + 512, 65536 };
	__u8 *w, *r, status;
	unsigned int i;

	if (self->skip)
		return;
	blk_up(_metadata, self, variant);
	w = vdpa_arena_alloc(&self->dev, SZ_64K, SZ_4K);
	r = vdpa_arena_alloc(&self->dev, SZ_64K, SZ_4K);
	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		vdpa_fill(w, lens[i], SEED_A + i);
		memset(r, POISON, SZ_64K);
		ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_OUT, 8 * i, w,
					lens[i], &status));
		ASSERT_EQ(VIRTIO_BLK_S_OK, status);
		ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 8 * i, r,
					lens[i], &status));
		ASSERT_EQ(VIRTIO_BLK_S_OK, status);
		ASSERT_EQ(-1, vdpa_check(r, lens[i], SEED_A + i))
			TH_LOG("%u bytes at sector %u", lens[i], 8 * i);
	}
}

/* The first fault record of the queue @qfd within 2 s: 1, 0 or -errno */
static int vdpa_fault_record(int qfd, struct ioasid_fault *rec)
{
	struct pollfd p = { .fd = qfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 2000) <= 0)
		return 0;
	n = read(qfd, rec, sizeof(*rec));
	return n < 0 ? -errno : n == sizeof(*rec);
}

/*
 * The core's unmap reaches the device before it returns: a read into an
 * unmapped buffer leaves the host memory as it was, and a write from it
 * stores nothing the buffer held. vdpa_sim fails the request. QEMU's
 * virtio-blk behind the IOMMU completes it as OK (it writes through a
 * bounce buffer and drops the DMA error), so there the proof is the
 * IOMMU's: the fault reaches the device's owner as one record, on the
 * IOMMUs whose QEMU model reports it (not AMD-Vi).
 */
TEST_F(vdpa_ioasid, unmap_blocks_device)
{
	__u8 *victim, *r, status = 0;
	struct ioasid_fault rec;
	__u32 fault_id;
	int qfd = -1;
	unsigned int i;
	int ret;

	if (self->skip)
		return;
	blk_up(_metadata, self, variant);
	victim = mmap(NULL, VICTIM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, victim);
	r = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	ASSERT_NE(NULL, r);

	/* Mapped, the device reads and writes the buffer */
	vdpa_fill(victim, SZ_4K, SEED_B);
	ASSERT_EQ(0, ioas_map_fixed(self->dma.fd, self->dma.ioas[0], victim,
				    VICTIM_SIZE, VICTIM_IOVA, MAP_RW));
	ASSERT_EQ(0, blk_io(self, VIRTIO_BLK_T_OUT, 100, VICTIM_IOVA, SZ_4K,
			    &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 100, r, SZ_4K,
				&status));
	ASSERT_EQ(-1, vdpa_check(r, SZ_4K, SEED_B));

	if (variant->platform) {
		ASSERT_EQ(0, faultq_alloc(self->dma.fd, 0, &fault_id, &qfd));
		ASSERT_EQ(0, device_faults(self->dma.fd,
					   IOASID_DEVICE_FAULTS_REPORT,
					   self->dev_id, fault_id, 0, 0, NULL));
	}

	/* Unmapped, it reaches neither */
	ASSERT_EQ(0, ioas_unmap(self->dma.fd, self->dma.ioas[0], VICTIM_IOVA,
				VICTIM_SIZE, NULL));
	memset(victim, POISON, VICTIM_SIZE);
	status = VBLK_STATUS_POISON;
	ret = blk_io(self, VIRTIO_BLK_T_IN, 100, VICTIM_IOVA, SZ_4K, &status);
	if (!variant->platform)
		ASSERT_FALSE(!ret && status == VIRTIO_BLK_S_OK)
			TH_LOG("a read into an unmapped IOVA completed as OK");
	for (i = 0; i < VICTIM_SIZE; i++)
		ASSERT_EQ(POISON, victim[i]) TH_LOG("byte %u changed", i);
	if (variant->platform && access("/sys/class/iommu/ivhd0", F_OK)) {
		ASSERT_EQ(1, vdpa_fault_record(qfd, &rec));
		ASSERT_EQ((__u32)IOASID_FAULT_DMA, rec.type);
		ASSERT_EQ(self->dev_id, rec.dev_id);
		ASSERT_EQ(VICTIM_IOVA, rec.addr & ~0xfffULL);
		TH_LOG("request status %u, ret %d; the IOMMU's fault: iova %#llx, flags %#x",
		       status, ret, (unsigned long long)rec.addr, rec.flags);
	}
	if (qfd >= 0)
		close(qfd);
	ASSERT_EQ(0, munmap(victim, VICTIM_SIZE));
}

/*
 * Attaching ASID 0 to IOAS 1 redirects the device: the arena is mapped in
 * both, but a data page at one IOVA differs between them.
 */
TEST_F(vdpa_ioasid, replace_redirects_device)
{
	__u8 *a, *b, *r, status;
	__u64 x = VICTIM_IOVA;

	if (self->skip)
		return;
	blk_up(_metadata, self, variant);
	ASSERT_EQ(0, ioas_map_fixed(self->dma.fd, self->dma.ioas[1],
				    self->dev.arena.va, self->dev.arena.size,
				    self->dev.arena.iova, MAP_RW));
	a = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	b = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	vdpa_fill(a, SZ_4K, SEED_A);
	vdpa_fill(b, SZ_4K, SEED_B);
	ASSERT_EQ(0, ioas_map_fixed(self->dma.fd, self->dma.ioas[0], a, SZ_4K,
				    x, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(self->dma.fd, self->dma.ioas[1], b, SZ_4K,
				    x, MAP_RW));
	r = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	ASSERT_NE(NULL, r);

	ASSERT_EQ(0, blk_io(self, VIRTIO_BLK_T_OUT, 200, x, SZ_4K, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(0, vdpa_attach(self->dev.fd, 0, self->dma.ioas[1]));
	ASSERT_EQ(0, blk_io(self, VIRTIO_BLK_T_OUT, 208, x, SZ_4K, &status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	/* Attaching where it is changes nothing */
	ASSERT_EQ(0, vdpa_attach(self->dev.fd, 0, self->dma.ioas[1]));

	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 200, r, SZ_4K, &status));
	ASSERT_EQ(-1, vdpa_check(r, SZ_4K, SEED_A));
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 208, r, SZ_4K, &status));
	ASSERT_EQ(-1, vdpa_check(r, SZ_4K, SEED_B));
	/* The arena's IOAS 0 mapping leaves with the fixture's close */
	ASSERT_EQ(0, vdpa_attach(self->dev.fd, 0, self->dma.ioas[0]));
	munmap(a, SZ_4K);
	munmap(b, SZ_4K);
}

/* Errors, the legacy IOTLB path while bound and after, IOAS lifetime */
TEST_F(vdpa_ioasid, bind_attach_errors)
{
	struct vhost_vdpa_bind_ioasid bind = {
		.argsz = sizeof(bind),
		.ioasid_fd = self->dma.fd,
	};
	struct vhost_vdpa_ioasid_detach detach = {
		.argsz = sizeof(detach),
	};
	struct vdpa_legacy_dma legacy;
	int vfd = self->dev.fd, null_fd;
	__u32 mock_dev, hwpt;
	void *page;

	if (self->skip)
		return;
	page = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, page);
	vdpa_legacy_dma_init(&legacy, &self->dev);

	/* Not bound */
	ASSERT_EQ(-EINVAL, vdpa_attach(vfd, 0, self->dma.ioas[0]));
	ASSERT_EQ(-EINVAL, vdpa_detach(vfd, 0));
	ASSERT_EQ(-EINVAL, vdpa_unbind(vfd));
	ASSERT_EQ(-EBADF, vdpa_bind(vfd, -1));
	null_fd = open("/dev/null", O_RDWR);
	ASSERT_LE(0, null_fd);
	ASSERT_EQ(-EBADFD, vdpa_bind(vfd, null_fd));
	close(null_fd);
	bind.flags = 1;
	ASSERT_EQ(-1, ioctl(vfd, VHOST_VDPA_BIND_IOASID, &bind));
	ASSERT_EQ(EINVAL, errno);
	bind.flags = 0;
	bind.argsz = 8;
	ASSERT_EQ(-1, ioctl(vfd, VHOST_VDPA_BIND_IOASID, &bind));
	ASSERT_EQ(EINVAL, errno);

	/* Legacy mappings stand in the way of a bind */
	ASSERT_EQ(0, vdpa_legacy_map(&legacy, 0, ARENA_IOVA, page, SZ_4K,
				     true));
	ASSERT_EQ(-EBUSY, vdpa_bind(vfd, self->dma.fd));
	ASSERT_EQ(0, vdpa_legacy_unmap(&legacy, 0, ARENA_IOVA, SZ_4K));

	/* Bound: legacy messages are refused with EBUSY */
	ASSERT_EQ(0, vdpa_bind(vfd, self->dma.fd));
	ASSERT_EQ(-EBUSY, vdpa_bind(vfd, self->dma.fd));
	ASSERT_EQ(-EBUSY, vdpa_legacy_msg(&legacy, 0, VHOST_IOTLB_UPDATE,
					  ARENA_IOVA, SZ_4K,
					  (__u64)(uintptr_t)page,
					  VHOST_ACCESS_RW));
	ASSERT_EQ(-EINVAL, vdpa_attach(vfd, self->dev.nas, self->dma.ioas[0]));
	ASSERT_EQ(-ENOENT, vdpa_attach(vfd, 0, NO_SUCH_ID));
	ASSERT_EQ(0, mock_device(self->dma.fd, self->dma.ioas[1], &mock_dev,
				 &hwpt));
	ASSERT_EQ(-EINVAL, vdpa_attach(vfd, 0, hwpt));
	detach.__reserved = 1;
	ASSERT_EQ(-1, ioctl(vfd, VHOST_VDPA_DETACH_IOASID_PT, &detach));
	ASSERT_EQ(EINVAL, errno);

	/* An attached IOAS cannot go; a detached one can */
	ASSERT_EQ(0, vdpa_attach(vfd, 0, self->dma.ioas[0]));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->dma.fd, self->dma.ioas[0]));
	ASSERT_EQ(0, vdpa_detach(vfd, 0));
	ASSERT_EQ(0, vdpa_detach(vfd, 0));
	ASSERT_EQ(0, ioasid_destroy(self->dma.fd, self->dma.ioas[0]));
	ASSERT_EQ(0, ioas_alloc(self->dma.fd, &self->dma.ioas[0]));

	/* Unbound, the legacy path works again */
	ASSERT_EQ(0, vdpa_unbind(vfd));
	ASSERT_EQ(0, vdpa_legacy_map(&legacy, 0, ARENA_IOVA, page, SZ_4K,
				     true));
	ASSERT_EQ(0, vdpa_legacy_unmap(&legacy, 0, ARENA_IOVA, SZ_4K));
	munmap(page, SZ_4K);
}

/*
 * A mock device (standing for a VFIO device) and the vDPA device on one
 * IOAS: the arena is pinned once and charged once, and what the mock
 * device writes the vDPA device stores.
 */
TEST_F(vdpa_ioasid, shared_ioas_pins_once)
{
	__u64 locked = 0, pinned = 0;
	__u32 mock_dev;
	__u8 *w, *r, *src, status;

	if (self->skip)
		return;
	blk_up(_metadata, self, variant);
	ASSERT_EQ(0, mock_device(self->dma.fd, self->dma.ioas[0], &mock_dev,
				 NULL));
	ASSERT_EQ(0, mock_check_refs(self->dma.fd, self->dev.arena.va,
				     self->dev.arena.size, 1));
	ASSERT_EQ(0, mock_accounting(self->dma.fd, &locked, &pinned));
	ASSERT_EQ(ARENA_SIZE / SZ_4K, locked);
	ASSERT_EQ(ARENA_SIZE / SZ_4K, pinned);
	TH_LOG("one IOAS, a mock device and %s: arena %lu pages,",
	       variant->what, ARENA_SIZE / SZ_4K);
	TH_LOG("%llu pages charged, %llu pinned, each pinned once",
	       (unsigned long long)locked, (unsigned long long)pinned);

	w = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	r = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	src = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	ASSERT_NE(NULL, src);
	vdpa_fill(src, SZ_4K, SEED_B);
	memset(w, 0, SZ_4K);
	ASSERT_EQ(0, mock_dma(self->dma.fd, mock_dev, vdpa_iova(&self->dev, w),
			      src, SZ_4K, IOASID_TEST_DMA_WRITE, NULL));
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_OUT, 300, w, SZ_4K,
				&status));
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 300, r, SZ_4K,
				&status));
	ASSERT_EQ(-1, vdpa_check(r, SZ_4K, SEED_B));
	munmap(src, SZ_4K);
}

/*
 * A VFIO device (edu, through its cdev) and the vDPA device on one IOAS:
 * the arena is pinned once and charged once, and what edu writes into it
 * by DMA the vDPA device stores.
 */
TEST_F(vdpa_ioasid, vfio_and_vdpa_share_ioas)
{
	__u64 locked = 0, pinned = 0;
	char bdf[32], cdev[PATH_MAX];
	__u8 *src, *w, *r, status;
	struct edu edu;
	__u32 edu_id;
	int dev_fd;

	if (self->skip)
		return;
	if (edu_find(bdf, sizeof(bdf)) ||
	    pci_vfio_cdev_path(bdf, cdev, sizeof(cdev)))
		SKIP(return, "needs an edu device bound to vfio-pci");
	blk_up(_metadata, self, variant);
	dev_fd = open(cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev_fd);
	ASSERT_EQ(0, cdev_bind(dev_fd, self->dma.fd, &edu_id));
	ASSERT_EQ(0, edu_open_from_device_fd(&edu, dev_fd))
		TH_LOG("edu: %s", edu.failed_step);
	ASSERT_EQ(0, cdev_attach(edu.device_fd, self->dma.ioas[0], NULL));

	ASSERT_EQ(0, mock_check_refs(self->dma.fd, self->dev.arena.va,
				     self->dev.arena.size, 1));
	ASSERT_EQ(0, mock_accounting(self->dma.fd, &locked, &pinned));
	ASSERT_EQ(ARENA_SIZE / SZ_4K, locked);
	ASSERT_EQ(ARENA_SIZE / SZ_4K, pinned);
	TH_LOG("edu on VFIO and %s, one IOAS: %lu pages, %llu charged, %llu pinned",
	       variant->what, ARENA_SIZE / SZ_4K, (unsigned long long)locked,
	       (unsigned long long)pinned);

	src = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	w = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	r = vdpa_arena_alloc(&self->dev, SZ_4K, SZ_4K);
	ASSERT_NE(NULL, r);
	vdpa_fill(src, EDU_TEST_DMA_LEN, SEED_B);
	memset(w, 0, SZ_4K);
	ASSERT_EQ(0, edu_load(&edu, vdpa_iova(&self->dev, src)));
	ASSERT_EQ(0, edu_store(&edu, vdpa_iova(&self->dev, w)));
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_OUT, 400, w, SZ_4K,
				&status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	memset(r, POISON, SZ_4K);
	ASSERT_EQ(0, blk_io_buf(self, VIRTIO_BLK_T_IN, 400, r, SZ_4K,
				&status));
	ASSERT_EQ(VIRTIO_BLK_S_OK, status);
	ASSERT_EQ(-1, vdpa_check(r, EDU_TEST_DMA_LEN, SEED_B));
	edu_close(&edu);
}

/* Sequential MB/s of @type over BENCH_BYTES in BENCH_REQ requests */
static double blk_bench(struct _test_data_vdpa_ioasid *self, __u32 type,
			void *buf)
{
	struct timespec t0, t1;
	__u64 done;
	__u8 status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (done = 0; done < BENCH_BYTES; done += BENCH_REQ)
		if (blk_io_buf(self, type, (done % (64 * SZ_1M)) / 512, buf,
			       BENCH_REQ, &status) ||
		    status != VIRTIO_BLK_S_OK)
			return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return BENCH_BYTES / SZ_1M /
	       ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/*
 * Throughput of the same driver on the same device, in one boot: through
 * /dev/ioasid, then, unbound, through the legacy IOTLB messages, after a
 * first untimed pass over the simulator's disk. A figure, not a
 * threshold: requests are synchronous, one in flight.
 */
TEST_F_TIMEOUT(vdpa_ioasid, throughput_vs_legacy, 300)
{
	struct vdpa_legacy_dma legacy;
	double wr[2], rd[2];
	void *buf;

	if (self->skip)
		return;
	blk_up(_metadata, self, variant);
	buf = vdpa_arena_alloc(&self->dev, BENCH_REQ, SZ_4K);
	ASSERT_NE(NULL, buf);
	vdpa_fill(buf, BENCH_REQ, SEED_A);
	/* Untimed: the disk is touched for the first time */
	ASSERT_LT(0, blk_bench(self, VIRTIO_BLK_T_OUT, buf));
	wr[0] = blk_bench(self, VIRTIO_BLK_T_OUT, buf);
	rd[0] = blk_bench(self, VIRTIO_BLK_T_IN, buf);

	/* The same device and driver state, mapped the legacy way */
	vdpa_dev_close(&self->dev);
	{
		char path[64];
		int fd;

		ASSERT_EQ(0, vdpa_vhost_path(self->name, path, sizeof(path)));
		fd = open(path, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, vdpa_dev_open_fd(&self->dev, fd));
	}
	vdpa_legacy_dma_init(&legacy, &self->dev);
	ASSERT_EQ(0, vdpa_dev_negotiate(&self->dev, 0));
	ASSERT_EQ(0, vdpa_dev_arena(&self->dev, &vdpa_legacy_dma_ops, &legacy,
				    0, ARENA_IOVA, ARENA_SIZE));
	ASSERT_EQ(0, vblk_init(&self->blk, &self->dev, QUEUE_SIZE));
	buf = vdpa_arena_alloc(&self->dev, BENCH_REQ, SZ_4K);
	ASSERT_NE(NULL, buf);
	vdpa_fill(buf, BENCH_REQ, SEED_A);
	wr[1] = blk_bench(self, VIRTIO_BLK_T_OUT, buf);
	rd[1] = blk_bench(self, VIRTIO_BLK_T_IN, buf);
	TH_LOG("%s, %lu MiB in %lu KiB requests, MB/s:", variant->what,
	       BENCH_BYTES / SZ_1M, BENCH_REQ / 1024);
	TH_LOG("/dev/ioasid write %.0f read %.0f; legacy IOTLB write %.0f read %.0f",
	       wr[0], rd[0], wr[1], rd[1]);
	ASSERT_LT(0, wr[0]);
	ASSERT_LT(0, rd[0]);
	ASSERT_LT(0, wr[1]);
	ASSERT_LT(0, rd[1]);
}

#define NET_FRAMES	32
#define NET_SLOT	2048

/* Frame @i of the loopback test: our MAC, a numbered payload */
static __u32 net_frame(char *slot, const __u8 *mac, unsigned int i)
{
	static const __u8 src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	char *frame = slot + VNET_HDR_LEN;
	__u32 len = 64 + i * 41;

	memset(slot, 0, VNET_HDR_LEN);
	memcpy(frame, mac, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = 0x88;	/* local experimental ethertype 0x88b5 */
	frame[13] = 0xb5;
	vdpa_fill(frame + 14, len - 14, SEED_A + i);
	return len;
}

/*
 * vdpa_sim_net with its data queues' group in ASID 1, attached to IOAS 1,
 * and ASID 0 attached to IOAS 0, which maps nothing: frames sent on TX
 * come back on RX unchanged, through IOAS 1 alone.
 */
TEST(net_loopback_in_asid1)
{
	static const __u8 mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct vdpa_ioasid_dma dma = { .fd = -1 };
	struct vdpa_nl nl = { .fd = -1 };
	struct vdpa_dev dev = { .fd = -1 };
	char name[32], path[64], *tx, *rx;
	__u32 lens[NET_FRAMES], len;
	unsigned int i;
	struct vnet v;
	void *cookie;
	int ret;

	if (vdpa_nl_open(&nl))
		SKIP(return, "no vdpa generic netlink family: CONFIG_VDPA?");
	snprintf(name, sizeof(name), "vn%d", getpid());
	ret = vdpa_nl_dev_new(&nl, VDPA_MGMTDEV_NET, name, mac);
	if (ret == -ENODEV) {
		vdpa_nl_close(&nl);
		SKIP(return, "no vdpa management device %s", VDPA_MGMTDEV_NET);
	}
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vdpa_vhost_path(name, path, sizeof(path)));
	ASSERT_EQ(0, vdpa_dev_open_fd(&dev, open(path, O_RDWR | O_CLOEXEC)))
		TH_LOG("%s: %s", dev.failed_step, strerror(errno));
	ASSERT_LE(2U, dev.nas);
	dma.fd = ioasid_open();
	ASSERT_LE(0, dma.fd);
	ASSERT_EQ(0, ioas_alloc(dma.fd, &dma.ioas[0]));
	ASSERT_EQ(0, ioas_alloc(dma.fd, &dma.ioas[1]));

	ASSERT_EQ(0, vdpa_bind(dev.fd, dma.fd));
	ASSERT_EQ(0, vdpa_dev_negotiate(&dev, 1ULL << VIRTIO_NET_F_MAC))
		TH_LOG("%s", dev.failed_step);
	ASSERT_EQ(0, vdpa_dev_arena(&dev, &vdpa_ioasid_dma_ops, &dma, 1,
				    ARENA_IOVA, ARENA_SIZE))
		TH_LOG("%s", dev.failed_step);
	ASSERT_EQ(0, vdpa_attach(dev.fd, 0, dma.ioas[0]));
	ASSERT_EQ(0, vdpa_attach(dev.fd, 1, dma.ioas[1]));
	ASSERT_EQ(0, vnet_init(&v, &dev, QUEUE_SIZE))
		TH_LOG("%s", dev.failed_step);

	rx = vdpa_arena_alloc(&dev, NET_FRAMES * NET_SLOT, SZ_4K);
	tx = vdpa_arena_alloc(&dev, NET_FRAMES * NET_SLOT, SZ_4K);
	ASSERT_NE(NULL, rx);
	ASSERT_NE(NULL, tx);
	memset(rx, POISON, NET_FRAMES * NET_SLOT);
	for (i = 0; i < NET_FRAMES; i++)
		ASSERT_EQ(0, vnet_post_rx(&v, rx + i * NET_SLOT, NET_SLOT));
	ASSERT_EQ(0, vdpa_vq_kick(v.rx));
	for (i = 0; i < NET_FRAMES; i++) {
		lens[i] = net_frame(tx + i * NET_SLOT, v.mac, i);
		ASSERT_EQ(0, vnet_send(&v, tx + i * NET_SLOT,
				       tx + i * NET_SLOT + VNET_HDR_LEN,
				       lens[i]));
	}
	ASSERT_EQ(0, vdpa_vq_kick(v.tx));
	for (i = 0; i < NET_FRAMES; i++) {
		ASSERT_EQ(0, vdpa_vq_wait(v.rx, &cookie, &len,
					  VDPA_TIMEOUT_MS))
			TH_LOG("frame %u", i);
		ASSERT_EQ(rx + i * NET_SLOT, (char *)cookie);
		ASSERT_EQ(VNET_HDR_LEN + lens[i], len);
		ASSERT_EQ(0, memcmp((char *)cookie + VNET_HDR_LEN,
				    tx + i * NET_SLOT + VNET_HDR_LEN, lens[i]))
			TH_LOG("frame %u", i);
	}
	TH_LOG("%u frames looped back through ASID 1 on IOAS %u", NET_FRAMES,
	       dma.ioas[1]);

	vdpa_dev_close(&dev);
	close(dma.fd);
	ASSERT_EQ(0, vdpa_nl_dev_del(&nl, name));
	vdpa_nl_close(&nl);
}

struct race {
	struct _test_data_vdpa_ioasid *self;
	void *page;
	int stop;
	int err;
};

/* Map and unmap pages of both IOASes as fast as possible */
static void *race_mapper(void *arg)
{
	struct race *rc = arg;
	unsigned int i;
	int ret = 0;

	for (i = 0; !__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE); i++) {
		__u32 ioas = rc->self->dma.ioas[i % 2];
		__u64 iova = VICTIM_IOVA + (i % 16) * SZ_2M;

		ret = ioas_map_fixed(rc->self->dma.fd, ioas, rc->page, SZ_4K,
				     iova, MAP_RW);
		if (!ret)
			ret = ioas_unmap(rc->self->dma.fd, ioas, iova, SZ_4K,
					 NULL);
		if (ret)
			break;
	}
	rc->err = ret;
	return NULL;
}

/*
 * Attach, move, detach, unbind and close of the vDPA device against maps
 * and unmaps of its IOASes on another thread; then nothing is pinned.
 */
TEST_F_TIMEOUT(vdpa_ioasid, race_attach_map_close, 300)
{
	struct race rc = { .self = self };
	__u64 locked = 1, pinned = 1;
	pthread_t th;
	int i, ret = 0;

	if (self->skip)
		return;
	rc.page = buf_map(SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, rc.page);
	ASSERT_EQ(0, vdpa_bind(self->dev.fd, self->dma.fd));
	ASSERT_EQ(0, pthread_create(&th, NULL, race_mapper, &rc));
	for (i = 0; i < RACE_ROUNDS && !ret; i++) {
		switch (i % 4) {
		case 0:
		case 1:
			ret = vdpa_attach(self->dev.fd, 0,
					  self->dma.ioas[i % 2]);
			break;
		case 2:
			ret = vdpa_detach(self->dev.fd, 0);
			break;
		case 3:
			ret = vdpa_unbind(self->dev.fd);
			if (!ret)
				ret = vdpa_bind(self->dev.fd, self->dma.fd);
			break;
		}
	}
	/* Close with an ASID attached while the mapper runs */
	ASSERT_EQ(0, ret) TH_LOG("round %d: %s", i, strerror(-ret));
	ASSERT_EQ(0, vdpa_attach(self->dev.fd, 0, self->dma.ioas[0]));
	vdpa_dev_close(&self->dev);
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, rc.err) TH_LOG("mapper: %s", strerror(-rc.err));
	ASSERT_EQ(0, mock_accounting(self->dma.fd, &locked, &pinned));
	ASSERT_EQ(0ULL, locked);
	ASSERT_EQ(0ULL, pinned);
	munmap(rc.page, SZ_4K);
}

TEST_HARNESS_MAIN
