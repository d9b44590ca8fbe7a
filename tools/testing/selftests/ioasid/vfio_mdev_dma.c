// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA by an emulated device: the mdma sample mdev (samples/vfio-mdev/mdma.c)
 * copies with vfio_dma_rw() and pins with vfio_pin_pages(), and must see
 * exactly what userspace mapped, with type1's errnos, whether its group
 * sits in a VFIO type1 container or on a /dev/ioasid file, or the device
 * is used through its cdev (/dev/vfio/devices/vfioN) bound to /dev/ioasid
 * and attached to an IOAS of its own. Every test runs on all three; the
 * cdev_* tests only through the cdev.
 *
 * Needs CONFIG_SAMPLE_VFIO_MDEV_MDMA; the ioasid and cdev variants need
 * /dev/ioasid, the cdev variant the device's cdev.
 * The pin counts checked here come from the core's test ioctl
 * (CONFIG_IOASID_TEST); without it those checks are skipped, not the tests.
 */
#include <glob.h>
#include <pthread.h>
#include <limits.h>
#include <sys/random.h>

#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "vfio_cdev.h"

#define MDMA_CREATE_GLOB \
	"/sys/class/mdev_bus/*/mdev_supported_types/*mdma-1/create"
#define MDEV_DEVICES		"/sys/bus/mdev/devices"

/* The device model: see the comment at the top of mdma.c */
#define MDMA_REGION_SIZE	0x1000
#define MDMA_REG_IOVA		0x000
#define MDMA_REG_IOVA_HI	0x004
#define MDMA_REG_LEN		0x008
#define MDMA_REG_CMD		0x00c
#define MDMA_REG_STATUS		0x010
#define MDMA_REG_UNMAP_COUNT	0x014
#define MDMA_REG_PINNED		0x018
#define MDMA_REG_ID		0x01c
#define MDMA_DATA		0x800
#define MDMA_DATA_SIZE		0x800
#define MDMA_ID			0x414d444dU

#define MDMA_CMD_RW_TO_MEM	1
#define MDMA_CMD_RW_FROM_MEM	2
#define MDMA_CMD_PIN		3
#define MDMA_CMD_PIN_WRITE	4
#define MDMA_CMD_PIN_READ	5
#define MDMA_CMD_UNPIN		6

#define MDMA_MAX_PIN_PAGES	4

#define BUF_SIZE		SZ_64K
/* A is mapped at X, B at Z at times; nothing is ever mapped at Y */
#define X_IOVA			SZ_1M
#define Z_IOVA			(SZ_1M + 4 * BUF_SIZE)
#define Y_IOVA			0x200000000ULL
#define SENTINEL		0x5a

#define NO_MDMA_REASON \
	"no mdma-1 mdev type (CONFIG_SAMPLE_VFIO_MDEV_MDMA)"
#define NO_IOASID_REASON	IOASID_DEV_PATH " is missing"
#define NO_CDEV_REASON		"the mdev has no vfio-dev cdev"

FIXTURE(vfio_mdev_dma) {
	const char *skip;	/* reason, when the setup skipped */
	char uuid[40];
	bool created;
	char cdev_path[PATH_MAX];	/* /dev/vfio/devices/vfioN */
	int group_id;
	int iommu_fd;		/* type1 container or /dev/ioasid */
	int group_fd;		/* -1 for the cdev variant */
	int dev_fd;
	__u64 region;		/* file offset of region 0 */
	__u32 ioas_id;
	__u32 access_id;	/* the cdev variant: ID from the bind */
	bool ioasid;		/* map through /dev/ioasid */
	bool cdev;		/* the device is used through its cdev */
	bool core;		/* iommu_fd is a /dev/ioasid file */
	int checker;		/* /dev/ioasid for pin counts, or -1 */
	void *a, *b;		/* BUF_SIZE buffers */
};

FIXTURE_VARIANT(vfio_mdev_dma) {
	bool ioasid;
	bool cdev;
};

FIXTURE_VARIANT_ADD(vfio_mdev_dma, type1) {
	.ioasid = false,
};

FIXTURE_VARIANT_ADD(vfio_mdev_dma, ioasid) {
	.ioasid = true,
};

FIXTURE_VARIANT_ADD(vfio_mdev_dma, cdev) {
	.ioasid = true,
	.cdev = true,
};

/* A random (version 4) UUID in the form the mdev "create" file takes. */
static int uuid_make(char *out, size_t len)
{
	unsigned char u[16];
	char *p = out;
	int i;

	if (len < 37 || getrandom(u, sizeof(u), 0) != sizeof(u))
		return -EIO;
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", u[i]);
	}
	return 0;
}

/* The "create" file of the mdma-1 type, or -ENODEV. */
static int mdma_create_path(char *out, size_t len)
{
	glob_t g;
	int ret = -ENODEV;

	if (glob(MDMA_CREATE_GLOB, 0, NULL, &g))
		return ret;
	if (g.gl_pathc && strlen(g.gl_pathv[0]) < len) {
		strcpy(out, g.gl_pathv[0]);
		ret = 0;
	}
	globfree(&g);
	return ret;
}

/* IOMMU group number of mdev @uuid, or a negative errno. */
static int mdev_iommu_group(const char *uuid)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/iommu_group", MDEV_DEVICES, uuid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	return base ? atoi(base + 1) : -EINVAL;
}

/*
 * The cdev of mdev @uuid, /dev/vfio/devices/vfioN, named after its
 * vfio-dev class device; -ENOENT when it has none.
 */
static int mdev_cdev_path(const char *uuid, char *out, size_t len)
{
	char pattern[PATH_MAX];
	const char *name;
	glob_t g;
	int ret = -ENOENT;

	snprintf(pattern, sizeof(pattern), "%s/%s/vfio-dev/vfio*",
		 MDEV_DEVICES, uuid);
	if (glob(pattern, 0, NULL, &g))
		return ret;
	name = strrchr(g.gl_pathv[0], '/') + 1;
	if ((size_t)snprintf(out, len, "/dev/vfio/devices/%s", name) < len &&
	    !access(out, F_OK))
		ret = 0;
	globfree(&g);
	return ret;
}

/* Attach; an emulated device's pt_id stays the IOAS's */
static int mdev_cdev_attach(int dev_fd, __u32 pt_id)
{
	__u32 out = 0;
	int ret = cdev_attach(dev_fd, pt_id, &out);

	return ret ? ret : out == pt_id ? 0 : -EPROTO;
}

static int mdev_remove(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/remove", MDEV_DEVICES, uuid);
	return write_string_file(path, "1");
}

/* Region 0 accessors; all return 0 or -errno */

static int mdma_pwrite(int fd, __u64 off, const void *p, size_t n)
{
	ssize_t ret = pwrite(fd, p, n, off);

	if (ret < 0)
		return -errno;
	return ret == (ssize_t)n ? 0 : -EIO;
}

static int mdma_pread(int fd, __u64 off, void *p, size_t n)
{
	ssize_t ret = pread(fd, p, n, off);

	if (ret < 0)
		return -errno;
	return ret == (ssize_t)n ? 0 : -EIO;
}

/* (struct _test_data_vfio_mdev_dma is FIXTURE_DATA(vfio_mdev_dma).) */
static int reg_write32(struct _test_data_vfio_mdev_dma *self, __u32 reg,
		       __u32 v)
{
	__u32 le = htole32(v);

	return mdma_pwrite(self->dev_fd, self->region + reg, &le, sizeof(le));
}

/* The register's value, or -1 when it cannot be read */
static long reg_read32(struct _test_data_vfio_mdev_dma *self, __u32 reg)
{
	__u32 le;

	if (mdma_pread(self->dev_fd, self->region + reg, &le, sizeof(le)))
		return -1;
	return le32toh(le);
}

static int data_write(struct _test_data_vfio_mdev_dma *self, const void *p,
		      size_t n)
{
	return mdma_pwrite(self->dev_fd, self->region + MDMA_DATA, p, n);
}

static int data_read(struct _test_data_vfio_mdev_dma *self, void *p, size_t n)
{
	return mdma_pread(self->dev_fd, self->region + MDMA_DATA, p, n);
}

/*
 * Run one command: STATUS after it (0 or a positive errno), or -1 when a
 * register access failed.
 */
static long mdma_cmd(struct _test_data_vfio_mdev_dma *self, __u32 cmd,
		     __u64 iova, __u32 len)
{
	__u64 le = htole64(iova);

	if (mdma_pwrite(self->dev_fd, self->region + MDMA_REG_IOVA, &le,
			sizeof(le)) ||
	    reg_write32(self, MDMA_REG_LEN, len) ||
	    reg_write32(self, MDMA_REG_CMD, cmd))
		return -1;
	return reg_read32(self, MDMA_REG_STATUS);
}

/* Map and unmap through the variant's interface */

static int dma_map(struct _test_data_vfio_mdev_dma *self,
		   void *va, __u64 iova, __u64 len, bool writable)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = len,
	};
	__u32 flags = MAP_READ;

	if (self->ioasid) {
		if (writable)
			flags |= MAP_WRITE;
		return ioas_map_fixed(self->iommu_fd, self->ioas_id, va, len,
				      iova, flags);
	}
	if (writable)
		map.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	return ioctl(self->iommu_fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int dma_unmap(struct _test_data_vfio_mdev_dma *self,
		     __u64 iova, __u64 len, __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = len,
	};

	if (self->ioasid)
		return ioas_unmap(self->iommu_fd, self->ioas_id, iova, len,
				  unmapped);
	if (ioctl(self->iommu_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	*unmapped = unmap.size;
	return 0;
}

/*
 * DMA pins on the page at @p (exact for order-0 pages), -2 when the test
 * ioctl is not there, -1 when the count is not 0..7.
 */
static int page_pins(struct _test_data_vfio_mdev_dma *self, const void *p)
{
	__u32 n;

	if (self->checker < 0)
		return -2;
	for (n = 0; n < 8; n++)
		if (!mock_check_refs(self->checker, p, SZ_4K, n))
			return n;
	return -1;
}

/* 0 when no page of [@p, @p + @len) is DMA-pinned, or nothing can tell */
static int no_pins(struct _test_data_vfio_mdev_dma *self, const void *p,
		   size_t len)
{
	if (self->checker < 0)
		return 0;
	return mock_check_refs(self->checker, p, len, 0);
}

static void mdma_close_all(struct _test_data_vfio_mdev_dma *self)
{
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	self->dev_fd = -1;
	if (self->group_fd >= 0)
		close(self->group_fd);
	self->group_fd = -1;
	if (self->iommu_fd >= 0)
		close(self->iommu_fd);
	self->iommu_fd = -1;
}

static void mdma_teardown(struct _test_data_vfio_mdev_dma *self)
{
	mdma_close_all(self);
	if (self->created)
		mdev_remove(self->uuid);
	self->created = false;
	if (self->checker >= 0)
		close(self->checker);
	self->checker = -1;
	if (self->a)
		munmap(self->a, BUF_SIZE);
	if (self->b)
		munmap(self->b, BUF_SIZE);
	self->a = NULL;
	self->b = NULL;
}

/* Put the group in a type1 container or on a /dev/ioasid file. */
static const char *mdma_attach(struct _test_data_vfio_mdev_dma *self)
{
	struct ioasid_vfio_ioas vioas = {
		.argsz = sizeof(vioas), .op = IOASID_VFIO_IOAS_QUERY,
	};

	if (self->ioasid) {
		self->core = true;
		self->iommu_fd = ioasid_open();
		if (self->iommu_fd < 0)
			return "open " IOASID_DEV_PATH;
		if (ioctl(self->iommu_fd, IOASID_VFIO_IOAS, &vioas))
			return "IOASID_VFIO_IOAS QUERY";
		self->ioas_id = vioas.ioas_id;
		if (ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER,
			  &self->iommu_fd))
			return "VFIO_GROUP_SET_CONTAINER with /dev/ioasid";
		return NULL;
	}
	self->iommu_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (self->iommu_fd < 0)
		return "open /dev/vfio/vfio";
	if (ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER, &self->iommu_fd))
		return "VFIO_GROUP_SET_CONTAINER";
	if (ioctl(self->iommu_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return "VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU)";
	/*
	 * Booted with ioasid.vfio_container=1, the /dev/ioasid core serves
	 * this file. Its pins and accounting then follow the core's rules,
	 * not type1's.
	 */
	self->core = vfio_container_is_core();
	return NULL;
}

/* The group path: open the group, give it an IOMMU, get the device. */
static const char *mdma_open_group(struct _test_data_vfio_mdev_dma *self)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	const char *step;

	self->group_id = mdev_iommu_group(self->uuid);
	if (self->group_id < 0)
		return "reading the mdev's iommu_group";
	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group_id);
	self->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (self->group_fd < 0)
		return "open /dev/vfio/<group>";
	if (ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return "VFIO_GROUP_GET_STATUS: viable";
	step = mdma_attach(self);
	if (step)
		return step;
	self->dev_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD,
			     self->uuid);
	if (self->dev_fd < 0)
		return "VFIO_GROUP_GET_DEVICE_FD";
	return NULL;
}

/* The cdev: bind it to a new /dev/ioasid file and attach it to an IOAS. */
static const char *mdma_open_cdev(struct _test_data_vfio_mdev_dma *self)
{
	int ret;

	self->core = true;
	self->iommu_fd = ioasid_open();
	if (self->iommu_fd < 0)
		return "open " IOASID_DEV_PATH;
	ret = ioas_alloc(self->iommu_fd, &self->ioas_id);
	if (ret) {
		errno = -ret;
		return "IOASID_IOAS_CREATE";
	}
	self->dev_fd = open(self->cdev_path, O_RDWR | O_CLOEXEC);
	if (self->dev_fd < 0)
		return "open /dev/vfio/devices/<vfioN>";
	ret = cdev_bind(self->dev_fd, self->iommu_fd, &self->access_id);
	if (!ret)
		ret = mdev_cdev_attach(self->dev_fd, self->ioas_id);
	if (ret) {
		errno = -ret;
		return "VFIO_DEVICE_BIND_IOASID and ATTACH_IOASID_PT";
	}
	return NULL;
}

/*
 * Everything after the mdev exists; NULL, or the step that failed (the
 * caller cleans up, so the mdev never outlives a failed setup).
 */
static const char *mdma_open(struct _test_data_vfio_mdev_dma *self)
{
	struct vfio_region_info region = {
		.argsz = sizeof(region), .index = 0,
	};
	const char *step;

	step = self->cdev ? mdma_open_cdev(self) : mdma_open_group(self);
	if (step)
		return step;
	if (ioctl(self->dev_fd, VFIO_DEVICE_GET_REGION_INFO, &region))
		return "VFIO_DEVICE_GET_REGION_INFO";
	self->region = region.offset;
	if (reg_read32(self, MDMA_REG_ID) != MDMA_ID)
		return "reading the mdma ID register";

	self->a = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	self->b = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	if (!self->a || !self->b)
		return "mapping the buffers";
	return NULL;
}

FIXTURE_SETUP(vfio_mdev_dma)
{
	char create[PATH_MAX];
	const char *step;
	int err;

	self->iommu_fd = -1;
	self->group_fd = -1;
	self->dev_fd = -1;
	self->checker = -1;
	self->ioasid = variant->ioasid;
	self->cdev = variant->cdev;
	if (mdma_create_path(create, sizeof(create))) {
		self->skip = NO_MDMA_REASON;
		SKIP(return, "%s", self->skip);
	}
	if (variant->ioasid && access(IOASID_DEV_PATH, F_OK)) {
		self->skip = NO_IOASID_REASON;
		SKIP(return, "%s", self->skip);
	}
	if (!ioasid_unusable())
		self->checker = ioasid_open();

	ASSERT_EQ(0, uuid_make(self->uuid, sizeof(self->uuid)));
	err = write_string_file(create, self->uuid);
	ASSERT_EQ(0, err)
		TH_LOG("creating mdev %s: %s", self->uuid, strerror(-err));
	self->created = true;

	if (self->cdev &&
	    mdev_cdev_path(self->uuid, self->cdev_path,
			   sizeof(self->cdev_path))) {
		mdma_teardown(self);
		self->skip = NO_CDEV_REASON;
		SKIP(return, "%s", self->skip);
	}
	step = mdma_open(self);
	if (step) {
		err = errno;
		mdma_teardown(self);
		ASSERT_EQ(NULL, step)
			TH_LOG("mdma %s (%s): %s failed: %s", self->uuid,
			       self->cdev ? "cdev" :
			       self->ioasid ? "/dev/ioasid" : "type1",
			       step, strerror(err));
	}
}

FIXTURE_TEARDOWN(vfio_mdev_dma)
{
	mdma_teardown(self);
}

#define MAP(va, iova, writable)						\
	ASSERT_EQ(0, dma_map(self, va, iova, BUF_SIZE, writable))

/* Unmap a whole buffer's mapping, which must be there */
#define UNMAP(iova)							\
	do {								\
		__u64 __unmapped = 0;					\
									\
		ASSERT_EQ(0, dma_unmap(self, iova, BUF_SIZE,	\
				       &__unmapped));			\
		ASSERT_EQ(BUF_SIZE, __unmapped);			\
	} while (0)

TEST_F(vfio_mdev_dma, device_model)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info region = {
		.argsz = sizeof(region), .index = 1,
	};
	__u64 iova = 0x1122334455667788ULL, le;
	__u8 odd[3] = {};

	/* the 6.1 harness runs the body even after a SKIP() in the setup */
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, ioctl(self->dev_fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ((__u32)(VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET),
		  info.flags);
	ASSERT_EQ(1U, info.num_regions);
	ASSERT_EQ(0U, info.num_irqs);
	ASSERT_EQ(-1, ioctl(self->dev_fd, VFIO_DEVICE_GET_REGION_INFO,
			    &region));
	ASSERT_EQ(EINVAL, errno);
	region.index = 0;
	ASSERT_EQ(0, ioctl(self->dev_fd, VFIO_DEVICE_GET_REGION_INFO,
			   &region));
	ASSERT_EQ((__u64)MDMA_REGION_SIZE, region.size);
	ASSERT_EQ((__u32)(VFIO_REGION_INFO_FLAG_READ |
			  VFIO_REGION_INFO_FLAG_WRITE), region.flags);

	/* IOVA: one 64-bit access, or its two halves */
	le = htole64(iova);
	ASSERT_EQ(0, mdma_pwrite(self->dev_fd, self->region + MDMA_REG_IOVA,
				 &le, sizeof(le)));
	ASSERT_EQ(0x55667788U, reg_read32(self, MDMA_REG_IOVA));
	ASSERT_EQ(0x11223344U, reg_read32(self, MDMA_REG_IOVA_HI));
	ASSERT_EQ(0, reg_write32(self, MDMA_REG_IOVA_HI, 0xa0b0c0d0));
	le = 0;
	ASSERT_EQ(0, mdma_pread(self->dev_fd, self->region + MDMA_REG_IOVA,
				&le, sizeof(le)));
	ASSERT_EQ(0xa0b0c0d055667788ULL, le64toh(le));

	/* Odd sizes, read-only registers and the end of the region */
	ASSERT_EQ(-EINVAL, mdma_pwrite(self->dev_fd,
				       self->region + MDMA_REG_LEN, odd, 3));
	ASSERT_EQ(-EINVAL, reg_write32(self, MDMA_REG_STATUS, 0));
	ASSERT_EQ(-EINVAL, reg_write32(self, MDMA_REG_PINNED, 0));
	ASSERT_EQ(-EINVAL, mdma_pwrite(self->dev_fd, self->region +
				       MDMA_REGION_SIZE - 1, odd, 2));
	ASSERT_EQ(-EINVAL, mdma_pwrite(self->dev_fd, self->region +
				       MDMA_DATA - 1, odd, 2));

	/* Unknown commands and lengths the device refuses */
	ASSERT_EQ(EOPNOTSUPP, mdma_cmd(self, 0x77, X_IOVA, 16));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 0));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA,
				   MDMA_DATA_SIZE + 1));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, ~0ULL - 8, 16));
	ASSERT_EQ(ENOENT, mdma_cmd(self, MDMA_CMD_UNPIN, 0, 0));
	ASSERT_EQ(ENOENT, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA, 16));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
}

TEST_F(vfio_mdev_dma, rw_to_mem)
{
	unsigned char pattern[MDMA_DATA_SIZE];
	unsigned char *a = self->a;
	size_t off = 2 * SZ_4K - 100;	/* crosses a page boundary */

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, true);
	fill_pattern(pattern, sizeof(pattern), 0x11);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));
	memset(a, SENTINEL, BUF_SIZE);

	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA + off,
			      MDMA_DATA_SIZE));
	ASSERT_EQ(0, memcmp(a + off, pattern, MDMA_DATA_SIZE));
	ASSERT_EQ(-1, check_fill(a, off, SENTINEL));
	ASSERT_EQ(-1, check_fill(a + off + MDMA_DATA_SIZE,
				 BUF_SIZE - off - MDMA_DATA_SIZE, SENTINEL));

	/* A short one, at an odd address, leaves its neighbours alone */
	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA + 4097, 3));
	ASSERT_EQ(0, memcmp(a + 4097, pattern, 3));
	ASSERT_EQ(-1, check_fill(a, 4097, SENTINEL));
	ASSERT_EQ(-1, check_fill(a + 4100, BUF_SIZE - 4100, SENTINEL));
	UNMAP(X_IOVA);
}

TEST_F(vfio_mdev_dma, rw_from_mem)
{
	unsigned char window[MDMA_DATA_SIZE], fill[MDMA_DATA_SIZE];
	unsigned char *a = self->a;
	size_t off = 3 * SZ_4K - 0x123, len = 1000;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, true);
	fill_pattern(a, BUF_SIZE, 0x22);
	memset(fill, SENTINEL, sizeof(fill));
	ASSERT_EQ(0, data_write(self, fill, sizeof(fill)));

	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, X_IOVA + off, len));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, a + off, len));
	ASSERT_EQ(-1, check_fill(window + len, sizeof(window) - len,
				 SENTINEL));
	/* memory was only read */
	ASSERT_EQ(-1, check_pattern(a, BUF_SIZE, 0x22));

	/* The whole window, from the last bytes of the buffer */
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM,
			      X_IOVA + BUF_SIZE - MDMA_DATA_SIZE,
			      MDMA_DATA_SIZE));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, a + BUF_SIZE - MDMA_DATA_SIZE,
			    MDMA_DATA_SIZE));
	UNMAP(X_IOVA);
}

TEST_F(vfio_mdev_dma, rw_unmapped)
{
	unsigned char pattern[MDMA_DATA_SIZE], window[MDMA_DATA_SIZE];
	unsigned char *a = self->a;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	fill_pattern(pattern, sizeof(pattern), 0x33);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));

	/* Never mapped, with something mapped elsewhere */
	MAP(a, X_IOVA, true);
	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, Y_IOVA, 512));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, Y_IOVA, 512));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, pattern, sizeof(window)));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));

	/* Lands while mapped, refused after the unmap */
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 512));
	ASSERT_EQ(0, memcmp(a, pattern, 512));
	UNMAP(X_IOVA);
	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 512));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));
	fill_pattern(a, BUF_SIZE, 0x34);
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, X_IOVA, 512));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, pattern, sizeof(window)));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA, 512));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
}

TEST_F(vfio_mdev_dma, rw_readonly)
{
	unsigned char pattern[MDMA_DATA_SIZE], window[MDMA_DATA_SIZE];
	unsigned char *a = self->a;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, false);
	fill_pattern(pattern, sizeof(pattern), 0x44);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));
	memset(a, SENTINEL, BUF_SIZE);

	ASSERT_EQ(EPERM, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA + 64,
				  MDMA_DATA_SIZE));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));
	ASSERT_EQ(EPERM, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA, SZ_4K));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	/* type1 pins on demand; the IOAS pinned at map, once */
	if (page_pins(self, a) != -2)
		ASSERT_EQ(self->core ? 1 : 0, page_pins(self, a));

	/* Reading is allowed */
	fill_pattern(a, BUF_SIZE, 0x45);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, X_IOVA + 64,
			      MDMA_DATA_SIZE));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, a + 64, sizeof(window)));
	UNMAP(X_IOVA);
}

TEST_F(vfio_mdev_dma, pin_write_read)
{
	unsigned char pattern[MDMA_DATA_SIZE], window[MDMA_DATA_SIZE];
	unsigned char *a = self->a;
	size_t pin_off = SZ_4K, off = pin_off + SZ_4K - 0x100;
	int pins;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, true);
	memset(a, SENTINEL, BUF_SIZE);

	/* Two pages, from an IOVA inside the first one */
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + pin_off + 8,
			      SZ_4K));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(EBUSY, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA, 16));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	pins = page_pins(self, a + pin_off);
	if (pins != -2) {
		/* type1 pins on demand; the IOAS pinned at map, once */
		ASSERT_EQ(1, pins);
		ASSERT_EQ(1, page_pins(self, a + pin_off + SZ_4K));
		ASSERT_EQ(self->core ? 1 : 0, page_pins(self, a));
	}

	/* Device -> memory, across the two pinned pages */
	fill_pattern(pattern, sizeof(pattern), 0x55);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA + off,
			      0x200));
	ASSERT_EQ(0, memcmp(a + off, pattern, 0x200));
	ASSERT_EQ(-1, check_fill(a, off, SENTINEL));
	ASSERT_EQ(-1, check_fill(a + off + 0x200, BUF_SIZE - off - 0x200,
				 SENTINEL));

	/* Memory -> device: the device sees what the user wrote since */
	fill_pattern(a + pin_off, 2 * SZ_4K, 0x56);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN_READ, X_IOVA + pin_off,
			      MDMA_DATA_SIZE));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(0, memcmp(window, a + pin_off, sizeof(window)));

	/* Outside the pinned pages: refused, memory untouched */
	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(ERANGE, mdma_cmd(self, MDMA_CMD_PIN_WRITE,
				   X_IOVA + pin_off - 1, 16));
	ASSERT_EQ(ERANGE, mdma_cmd(self, MDMA_CMD_PIN_WRITE,
				   X_IOVA + pin_off + 2 * SZ_4K - 8, 16));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));

	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_UNPIN, 0, 0));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(ENOENT, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA + off,
				   16));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));
	if (!self->core)
		ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));

	/* The most the device pins at once */
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + 1,
				   MDMA_MAX_PIN_PAGES * SZ_4K));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA,
			      MDMA_MAX_PIN_PAGES * SZ_4K));
	ASSERT_EQ(MDMA_MAX_PIN_PAGES, reg_read32(self, MDMA_REG_PINNED));
	UNMAP(X_IOVA);
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));
}

TEST_F(vfio_mdev_dma, unmap_while_pinned)
{
	unsigned char pattern[MDMA_DATA_SIZE];
	unsigned char *a = self->a;
	long count;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, true);
	MAP(self->b, Z_IOVA, true);
	fill_pattern(pattern, sizeof(pattern), 0x66);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K,
			      2 * SZ_4K));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	count = reg_read32(self, MDMA_REG_UNMAP_COUNT);
	ASSERT_EQ(0, count);

	/*
	 * The access belongs to the cdev file: destroying it by ID is
	 * refused and changes nothing, pins and attachment included. (Only
	 * the cdev variant learns the access's ID.)
	 */
	if (self->cdev)
		ASSERT_EQ(-EPERM, ioasid_destroy(self->iommu_fd, self->access_id));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(count, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));
	ASSERT_EQ(0, memcmp(a, pattern, 256));

	/* Unmapping another range leaves the pin alone */
	UNMAP(Z_IOVA);
	ASSERT_EQ(count, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));

	/* Unmapping the pinned range: the device is told and lets go */
	UNMAP(X_IOVA);
	ASSERT_EQ(count + 1, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));

	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_NE(0, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA + SZ_4K,
				   256));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));

	/* Mapped again, the IOVA works again, on the new memory */
	memset(self->b, SENTINEL, BUF_SIZE);
	MAP(self->b, X_IOVA, true);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(0, memcmp((char *)self->b + SZ_4K, pattern, 256));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));
	ASSERT_EQ(count + 1, reg_read32(self, MDMA_REG_UNMAP_COUNT));
}

/* Unmap everything through the variant's interface */
static int dma_unmap_all(struct _test_data_vfio_mdev_dma *self,
			 __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = VFIO_DMA_UNMAP_FLAG_ALL,
	};

	if (self->ioasid)
		return ioas_unmap_all(self->iommu_fd, self->ioas_id, unmapped);
	if (ioctl(self->iommu_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	*unmapped = unmap.size;
	return 0;
}

/*
 * Unmap of everything while the device pins pages: the device is told,
 * once, about the mapping it pins, lets go, and everything goes.
 */
TEST_F(vfio_mdev_dma, unmap_all_while_pinned)
{
	__u64 unmapped = 0;
	long count;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(self->a, X_IOVA, true);
	MAP(self->b, Z_IOVA, true);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K,
			      2 * SZ_4K));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	count = reg_read32(self, MDMA_REG_UNMAP_COUNT);
	ASSERT_EQ(0, dma_unmap_all(self, &unmapped));
	ASSERT_EQ(2 * BUF_SIZE, unmapped);
	ASSERT_EQ(count + 1, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, no_pins(self, self->a, BUF_SIZE));
	ASSERT_EQ(0, no_pins(self, self->b, BUF_SIZE));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));
}

/* VFIO_IOMMU_DIRTY_PAGES START or STOP */
static int dirty_ctl(int fd, __u32 flags)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d), .flags = flags,
	};

	return ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, &d) ? -errno : 0;
}

/* VFIO_IOMMU_DIRTY_PAGES GET_BITMAP of 4K pages into @bits */
static int dirty_get(int fd, __u64 iova, __u64 size, __u64 *bits,
		     __u64 bytes)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap hdr;
		struct vfio_iommu_type1_dirty_bitmap_get get;
	} d = {
		.hdr = {
			.argsz = sizeof(d),
			.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		},
		.get = {
			.iova = iova,
			.size = size,
			.bitmap = {
				.pgsize = SZ_4K,
				.size = bytes,
				.data = bits,
			},
		},
	};

	return ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, &d) ? -errno : 0;
}

/*
 * A container whose only device is emulated reports as dirty what the
 * device wrote or pinned since the last report, and what it pins now.
 */
TEST_F(vfio_mdev_dma, dirty_pinned_scope)
{
	__u64 bits = 0, unmapped = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (self->ioasid)
		SKIP(return, "VFIO dirty tracking is a container ioctl");
	/* A bitmap covers whole mappings: map exactly the four pages */
	ASSERT_EQ(0, dma_map(self, self->a, X_IOVA, 4 * SZ_4K, true));
	ASSERT_EQ(0, dirty_ctl(self->iommu_fd, VFIO_IOMMU_DIRTY_PAGES_FLAG_START));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA + 16, 16));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + 2 * SZ_4K, 16));
	ASSERT_EQ(0, dirty_get(self->iommu_fd, X_IOVA, 4 * SZ_4K, &bits,
			       sizeof(bits)));
	ASSERT_EQ(0x5ULL, bits);
	/* Reported: only what is pinned now stays dirty */
	bits = 0;
	ASSERT_EQ(0, dirty_get(self->iommu_fd, X_IOVA, 4 * SZ_4K, &bits,
			       sizeof(bits)));
	ASSERT_EQ(0x4ULL, bits);
	/* Pinned at the last report, maybe written since: still dirty */
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_UNPIN, 0, 0));
	bits = 0;
	ASSERT_EQ(0, dirty_get(self->iommu_fd, X_IOVA, 4 * SZ_4K, &bits,
			       sizeof(bits)));
	ASSERT_EQ(0x4ULL, bits);
	bits = 0;
	ASSERT_EQ(0, dirty_get(self->iommu_fd, X_IOVA, 4 * SZ_4K, &bits,
			       sizeof(bits)));
	ASSERT_EQ(0x0ULL, bits);
	ASSERT_EQ(0, dirty_ctl(self->iommu_fd, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP));
	ASSERT_EQ(0, dma_unmap(self, X_IOVA, 4 * SZ_4K, &unmapped));
	ASSERT_EQ(4 * SZ_4K, unmapped);
}

struct mdev_remover {
	const char *uuid;
	int ret;
};

static void *mdev_remover_fn(void *arg)
{
	struct mdev_remover *r = arg;

	r->ret = mdev_remove(r->uuid);
	return NULL;
}

/*
 * Hot-unplug of an emulated device that pins pages: the removal waits for
 * its user to close it, the close unpins, the device leaves, and the
 * container or IOAS keeps working with nothing left pinned.
 */
TEST_F_TIMEOUT(vfio_mdev_dma, remove_while_pinned, 120)
{
	struct mdev_remover r = { .uuid = self->uuid, .ret = -1 };
	char path[PATH_MAX];
	pthread_t thread;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(self->a, X_IOVA, true);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K,
			      2 * SZ_4K));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, pthread_create(&thread, NULL, mdev_remover_fn, &r));
	usleep(300000);
	/* still open: the device still serves its user */
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	close(self->dev_fd);
	self->dev_fd = -1;
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, r.ret);
	self->created = false;
	snprintf(path, sizeof(path), "%s/%s", MDEV_DEVICES, self->uuid);
	ASSERT_NE(0, access(path, F_OK));
	/* the device's pins are gone; the core's mapping pins once */
	if (!self->core)
		ASSERT_EQ(0, no_pins(self, self->a, BUF_SIZE));
	if (self->core && page_pins(self, (char *)self->a + SZ_4K) != -2)
		ASSERT_EQ(1, page_pins(self, (char *)self->a + SZ_4K));
	if (!self->ioasid) {
		/*
		 * The container lost its only group, and with it its IOMMU
		 * type, as a VFIO container does; closing it frees the rest.
		 */
		ASSERT_EQ(-EINVAL, dma_map(self, self->b, Z_IOVA, BUF_SIZE,
					   true));
		return;
	}
	/* the IOAS is intact and still maps */
	MAP(self->b, Z_IOVA, true);
	UNMAP(Z_IOVA);
	UNMAP(X_IOVA);
	ASSERT_EQ(0, no_pins(self, self->a, BUF_SIZE));
	ASSERT_EQ(0, no_pins(self, self->b, BUF_SIZE));
}

TEST_F(vfio_mdev_dma, reset_unpins)
{
	unsigned char window[MDMA_DATA_SIZE];
	unsigned char *a = self->a;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	MAP(a, X_IOVA, true);
	fill_pattern(a, BUF_SIZE, 0x77);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, X_IOVA, 64));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA, 3 * SZ_4K));
	ASSERT_EQ(3, reg_read32(self, MDMA_REG_PINNED));

	ASSERT_EQ(0, ioctl(self->dev_fd, VFIO_DEVICE_RESET));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_IOVA));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_LEN));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_STATUS));
	ASSERT_EQ(0, data_read(self, window, sizeof(window)));
	ASSERT_EQ(-1, check_fill(window, sizeof(window), 0));
	if (!self->core)
		ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));

	/* Nothing is pinned any more, so the unmap is not the device's */
	UNMAP(X_IOVA);
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));
	ASSERT_EQ(-1, check_pattern(a, BUF_SIZE, 0x77));
}

/*
 * Close with pages pinned, the device or the container/IOAS file first:
 * nothing may stay pinned or charged.
 */
static void close_with_pins(struct __test_metadata *_metadata,
			    struct _test_data_vfio_mdev_dma *self,
			    bool device_first)
{
	unsigned char *a = self->a;
	long locked0, locked;

	MAP(a, X_IOVA, true);
	locked0 = vm_locked_kb();
	ASSERT_LE(0, locked0);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K,
			      3 * SZ_4K));
	ASSERT_EQ(3, reg_read32(self, MDMA_REG_PINNED));
	locked = vm_locked_kb();
	if (!self->core) {
		/* type1 charges what it pins for a device to VmLck */
		ASSERT_EQ(locked0 + 3 * 4, locked);
	}
	if (page_pins(self, a + SZ_4K) != -2)
		ASSERT_EQ(1, page_pins(self, a + 3 * SZ_4K));

	if (device_first) {
		close(self->dev_fd);
		self->dev_fd = -1;
		if (!self->core) {
			ASSERT_EQ(locked0, vm_locked_kb());
			ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));
		}
	}
	close(self->iommu_fd);
	self->iommu_fd = -1;
	if (!device_first) {
		/*
		 * the group keeps the container or file, the bound cdev
		 * the file: still pinned
		 */
		if (page_pins(self, a + SZ_4K) != -2)
			ASSERT_EQ(1, page_pins(self, a + 3 * SZ_4K));
		ASSERT_EQ(3, reg_read32(self, MDMA_REG_PINNED));
	}
	mdma_close_all(self);
	ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));
	/* the core may charge the mm at map: it is uncharged by now too */
	ASSERT_GE(locked0, vm_locked_kb());
	if (!self->core)
		ASSERT_EQ(locked0, vm_locked_kb());
	/* the buffer is the process's again, and was never written */
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, 0));
}

TEST_F(vfio_mdev_dma, close_with_pins_device_first)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	close_with_pins(_metadata, self, true);
}

TEST_F(vfio_mdev_dma, close_with_pins_iommu_first)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	close_with_pins(_metadata, self, false);
}

/*
 * Through the cdev, DETACH tells the driver, mapping by mapping, that what
 * it pins goes away, so it unpins; until the next ATTACH its pins and copies fail with
 * EINVAL, and the IOAS's mapping is free to go.
 */
TEST_F(vfio_mdev_dma, cdev_detach_while_pinned)
{
	unsigned char pattern[MDMA_DATA_SIZE];
	unsigned char *a = self->a;
	long count;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (!self->cdev)
		SKIP(return, "only for a device used through its cdev");
	MAP(a, X_IOVA, true);
	fill_pattern(pattern, sizeof(pattern), 0x88);
	ASSERT_EQ(0, data_write(self, pattern, sizeof(pattern)));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K,
			      2 * SZ_4K));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	count = reg_read32(self, MDMA_REG_UNMAP_COUNT);
	ASSERT_EQ(0, count);

	/*
	 * The access belongs to the cdev file: destroying it by ID is
	 * refused and changes nothing, pins and attachment included. (Only
	 * the cdev variant learns the access's ID.)
	 */
	if (self->cdev)
		ASSERT_EQ(-EPERM, ioasid_destroy(self->iommu_fd, self->access_id));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(count, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));
	ASSERT_EQ(0, memcmp(a, pattern, 256));

	/* Attaching to the IOAS it is on changes nothing */
	ASSERT_EQ(0, mdev_cdev_attach(self->dev_fd, self->ioas_id));
	ASSERT_EQ(2, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(count, reg_read32(self, MDMA_REG_UNMAP_COUNT));

	ASSERT_EQ(0, cdev_detach(self->dev_fd));
	ASSERT_EQ(count + 1, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(-EINVAL, cdev_detach(self->dev_fd));

	/* Detached: nothing reaches memory, though X is still mapped */
	memset(a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(0, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_FROM_MEM, X_IOVA, 256));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));

	/* No pin was left behind in the IOAS, and the device is not told */
	UNMAP(X_IOVA);
	ASSERT_EQ(count + 1, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, no_pins(self, a, BUF_SIZE));

	/* The access is the cdev file's, and only an IOAS can be attached */
	ASSERT_EQ(-EPERM, ioasid_destroy(self->iommu_fd, self->access_id));
	ASSERT_EQ(-ENOENT, mdev_cdev_attach(self->dev_fd, self->access_id));
	ASSERT_EQ(EINVAL, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));

	/* Attached again, the device works on what is mapped now */
	MAP(self->b, X_IOVA, true);
	ASSERT_EQ(0, mdev_cdev_attach(self->dev_fd, self->ioas_id));
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(1, reg_read32(self, MDMA_REG_PINNED));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_PIN_WRITE, X_IOVA + SZ_4K, 256));
	ASSERT_EQ(0, memcmp((char *)self->b + SZ_4K, pattern, 256));
	ASSERT_EQ(-1, check_fill(a, BUF_SIZE, SENTINEL));

	/* A failed ATTACH elsewhere leaves it where it was */
	ASSERT_EQ(-ENOENT, mdev_cdev_attach(self->dev_fd, self->access_id));
	ASSERT_EQ(count + 2, reg_read32(self, MDMA_REG_UNMAP_COUNT));
	ASSERT_EQ(0, mdma_cmd(self, MDMA_CMD_RW_TO_MEM, X_IOVA, 256));
	ASSERT_EQ(0, memcmp(self->b, pattern, 256));
	UNMAP(X_IOVA);
	ASSERT_EQ(count + 2, reg_read32(self, MDMA_REG_UNMAP_COUNT));
}

TEST_HARNESS_MAIN
