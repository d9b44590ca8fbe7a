// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO's device-centric path: QEMU's edu device, bound to vfio-pci, opened
 * through its cdev /dev/vfio/devices/vfioN, bound to a /dev/ioasid file
 * with VFIO_DEVICE_BIND_IOASID, then attached, moved and detached with
 * VFIO_DEVICE_ATTACH_IOASID_PT and VFIO_DEVICE_DETACH_IOASID_PT.
 *
 * Every attachment is judged by real DMA: the edu engine reads an IOVA
 * into its own buffer and writes that back to a scratch buffer mapped at
 * another IOVA, so the scratch buffer shows what the device read.
 */
#include <dirent.h>
#include <pthread.h>
#include <stddef.h>
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

#define BUF_SIZE	SZ_64K
#define DMA_LEN		EDU_TEST_DMA_LEN
#define SENTINEL	0x5a
#define SEED_A		0x11
#define SEED_B		0x22
#define SEED_C		0x33
/* X and Y lie 1 MiB apart in a 2 MiB span the IOAS can map */
#define XY_SPAN		(2 * SZ_1M)
/* The explicit HWPT tests map two pages here */
#define HWPT_IOVA	0x40000000ULL
#define HWPT_LEN	(2 * SZ_4K)
#define SEED_HWPT_EARLY	0x44
#define SEED_HWPT_LATE	0x55
/* The MSI window VT-d and AMD-Vi report as a reserved region */
/*
 * The hitless replace test: at least REPLACES replaces, and on until the
 * DMA loop did MIN_DMAS round trips (for REPLACE_MAX_MS at most); a page of
 * pattern C at X + Z.
 */
#define REPLACES	1000
#define MIN_DMAS	40
#define REPLACE_MAX_MS	(120 * 1000)
#define Z_OFF		(8 * SZ_4K)
#define MSI_IOVA	0xfee00000ULL
#define MSI_LAST	0xfeefffffULL

/*
 * Helpers below take the fixture data as struct _test_data_<fixture>, which
 * is FIXTURE_DATA(<fixture>).
 */

/* -errno of an ioctl expected to fail, or 0 if it succeeded */
static int ioctl_err(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Lowest 1 MiB aligned IOVA at or above 1 MiB with @span usable, or 0 */
static __u64 pick_iova(const struct ioasid_iova_range *r, __u32 n,
		       __u64 span)
{
	__u64 start;
	__u32 i;

	for (i = 0; i < n; i++) {
		if (r[i].last < SZ_1M)
			continue;
		start = r[i].first < SZ_1M ? SZ_1M : r[i].first;
		start = (start + SZ_1M - 1) & ~(__u64)(SZ_1M - 1);
		if (start < r[i].first || start > r[i].last ||
		    r[i].last - start < span - 1)
			continue;
		return start;
	}
	return 0;
}

/* Turn bus mastering back on, as after a reset */
static int edu_enable_master(const struct edu *edu)
{
	__u16 cmd = 0;
	int ret;

	ret = edu_config_read16(edu, EDU_PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	cmd |= EDU_PCI_COMMAND_MEMORY | EDU_PCI_COMMAND_MASTER;
	return edu_config_write16(edu, EDU_PCI_COMMAND, cmd);
}

/*
 * The common start of both fixtures: an edu device whose cdev exists, and
 * /dev/ioasid. Returns NULL or why the test cannot run here.
 */
static const char *find_edu_cdev(struct __test_metadata *_metadata,
				 char *bdf, size_t bdf_len,
				 char *cdev, size_t cdev_len)
{
	int ret;

	if (edu_find(bdf, bdf_len))
		return "needs an edu device";
	if (access(IOASID_DEV_PATH, F_OK))
		return "needs " IOASID_DEV_PATH;
	ret = pci_vfio_cdev_path(bdf, cdev, cdev_len);
	if (ret == -ENOENT)
		return "edu has no vfio-dev directory (not bound to vfio-pci?)";
	ASSERT_EQ(0, ret)
		TH_LOG("reading the vfio-dev directory of %s: %s", bdf,
		       strerror(-ret));
	/* The vfio-dev class device exists, so its node must too */
	ASSERT_EQ(0, access(cdev, F_OK))
		TH_LOG("%s: %s", cdev, strerror(errno));
	return NULL;
}

FIXTURE(vfio_device_edu) {
	bool skip;
	char bdf[32];
	char cdev[PATH_MAX];
	int group;
	int ioasid_fd;
	int dev_fd;		/* the unbound cdev file, until edu takes it */
	struct edu edu;
	__u32 dev_id, ioas_a, ioas_b;
	__u64 x, y;		/* pattern buffers at X, scratch at Y */
	void *pa, *pb, *scratch;
};

FIXTURE_SETUP(vfio_device_edu)
{
	const char *why;

	self->ioasid_fd = -1;
	self->dev_fd = -1;
	self->edu.device_fd = -1;
	why = find_edu_cdev(_metadata, self->bdf, sizeof(self->bdf),
			    self->cdev, sizeof(self->cdev));
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->group = edu_iommu_group(self->bdf);
	ASSERT_LE(0, self->group);

	self->ioasid_fd = ioasid_open();
	ASSERT_LE(0, self->ioasid_fd);
	ASSERT_EQ(0, ioas_alloc(self->ioasid_fd, &self->ioas_a));
	ASSERT_EQ(0, ioas_alloc(self->ioasid_fd, &self->ioas_b));

	self->pa = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	self->pb = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	self->scratch = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->pa);
	ASSERT_NE(NULL, self->pb);
	ASSERT_NE(NULL, self->scratch);
	fill_pattern(self->pa, BUF_SIZE, SEED_A);
	fill_pattern(self->pb, BUF_SIZE, SEED_B);

	self->dev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev_fd)
		TH_LOG("open %s: %s", self->cdev, strerror(errno));
}

FIXTURE_TEARDOWN(vfio_device_edu)
{
	if (self->edu.device_fd >= 0)
		edu_close(&self->edu);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	if (self->ioasid_fd >= 0)
		close(self->ioasid_fd);
	if (self->pa)
		munmap(self->pa, BUF_SIZE);
	if (self->pb)
		munmap(self->pb, BUF_SIZE);
	if (self->scratch)
		munmap(self->scratch, BUF_SIZE);
}

/* Bind the cdev file to /dev/ioasid and take it over as an edu */
static void bind_and_open(struct __test_metadata *_metadata,
			  struct _test_data_vfio_device_edu *self)
{
	int ret;

	ASSERT_EQ(0, cdev_bind(self->dev_fd, self->ioasid_fd, &self->dev_id));
	ret = edu_open_from_device_fd(&self->edu, self->dev_fd);
	self->dev_fd = -1;
	ASSERT_EQ(0, ret)
		TH_LOG("edu setup failed at %s: %s", self->edu.failed_step,
		       strerror(-ret));
}

/*
 * Bind the cdev file, take it over as an edu and attach it to IOAS A. Then
 * pick X and Y among A's usable IOVAs, now that the device's reserved
 * regions show, and map: pattern A at X in A, pattern B at X in B, the
 * scratch buffer at Y in both.
 */
static void bind_and_map(struct __test_metadata *_metadata,
			 struct _test_data_vfio_device_edu *self)
{
	struct ioasid_iova_range ranges[16];
	int fd = self->ioasid_fd;
	__u32 n = 16;

	bind_and_open(_metadata, self);
	ASSERT_EQ(0, cdev_attach(self->edu.device_fd, self->ioas_a, NULL));

	ASSERT_EQ(0, ioas_iova_ranges(fd, self->ioas_a, ranges, &n, NULL));
	self->x = pick_iova(ranges, n, XY_SPAN);
	ASSERT_NE(0ULL, self->x)
		TH_LOG("no usable %lu byte span in IOAS A", XY_SPAN);
	self->y = self->x + SZ_1M;

	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_a, self->pa, BUF_SIZE,
				    self->x, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_b, self->pb, BUF_SIZE,
				    self->x, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_a, self->scratch, BUF_SIZE,
				    self->y, MAP_RW));
	ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_b, self->scratch, BUF_SIZE,
				    self->y, MAP_RW));
}

/*
 * Have the device read DMA_LEN bytes at @iova and write them to the scratch
 * buffer at Y. Returns 0 when they are pattern @seed and the rest of the
 * scratch buffer kept its sentinel, -EIO when not, or edu_dma()'s errno.
 */
static int device_reads(struct _test_data_vfio_device_edu *self, __u64 iova,
			unsigned int seed)
{
	char *s = self->scratch;
	int ret;

	memset(s, SENTINEL, BUF_SIZE);
	ret = edu_load(&self->edu, iova);
	if (!ret)
		ret = edu_store(&self->edu, self->y);
	if (ret)
		return ret;
	if (check_pattern(s, DMA_LEN, seed) != -1 ||
	    check_fill(s + DMA_LEN, BUF_SIZE - DMA_LEN, SENTINEL) != -1)
		return -EIO;
	return 0;
}

TEST_F(vfio_device_edu, bind)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_device_bind_ioasid bind = {
		.argsz = sizeof(bind),
		.ioasid_fd = self->ioasid_fd,
	};
	int fd = self->dev_fd, other, ioasid2, null_fd;
	__u32 hwpt = 0, out = 0;
	char byte;

	if (self->skip)
		return;
	/* Unbound: everything but BIND is refused */
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ(-EINVAL, cdev_attach(fd, self->ioas_a, NULL));
	ASSERT_EQ(-EINVAL, cdev_detach(fd));
	ASSERT_EQ(-1, pread(fd, &byte, 1, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd, 0));
	ASSERT_EQ(EINVAL, errno);

	/* Bad arguments */
	bind.flags = 1;
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_BIND_IOASID, &bind));
	bind.flags = 0;
	bind.argsz = offsetof(struct vfio_device_bind_ioasid, out_dev_id);
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_BIND_IOASID, &bind));
	ASSERT_EQ(-EBADF, cdev_bind(fd, -1, NULL));
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null_fd);
	ASSERT_EQ(-EINVAL, cdev_bind(fd, null_fd, NULL));
	close(null_fd);
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));

	ASSERT_EQ(0, cdev_bind(fd, self->ioasid_fd, &self->dev_id));
	ASSERT_EQ(0, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_NE(0U, info.flags & VFIO_DEVICE_FLAGS_PCI);
	/*
	 * The device is VFIO's: only closing the cdev file ends it. Its
	 * destroy is refused and changes nothing, however often it is tried.
	 */
	ASSERT_EQ(-EPERM, ioasid_destroy(self->ioasid_fd, self->dev_id));
	ASSERT_EQ(-EPERM, ioasid_destroy(self->ioasid_fd, self->dev_id));
	ASSERT_EQ(0, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));
	/* The ID names the device in the /dev/ioasid file */
	ASSERT_EQ(0, hwpt_create(self->ioasid_fd, self->dev_id, self->ioas_a,
				 &hwpt));
	ASSERT_EQ(-EINVAL, cdev_bind(fd, self->ioasid_fd, NULL));

	/* One bound file per device, whatever /dev/ioasid file it names */
	other = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	ASSERT_EQ(-EBUSY, cdev_bind(other, self->ioasid_fd, NULL));
	ioasid2 = ioasid_open();
	ASSERT_LE(0, ioasid2);
	ASSERT_EQ(-EBUSY, cdev_bind(other, ioasid2, NULL));
	ASSERT_EQ(-EINVAL, ioctl_err(other, VFIO_DEVICE_GET_INFO, &info));
	close(ioasid2);
	close(other);
	/* Closing the unbound file left the bound one alone */
	ASSERT_EQ(0, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));

	/* An explicit HWPT; it is in use while attached */
	ASSERT_EQ(0, cdev_attach(fd, hwpt, &out));
	ASSERT_EQ(hwpt, out);
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->ioasid_fd, hwpt));
	/* Attached or not, the device stays VFIO's */
	ASSERT_EQ(-EPERM, ioasid_destroy(self->ioasid_fd, self->dev_id));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->ioasid_fd, hwpt));
	ASSERT_EQ(0, cdev_detach(fd));
	ASSERT_EQ(0, ioasid_destroy(self->ioasid_fd, hwpt));
	ASSERT_EQ(-ENOENT, ioasid_destroy(self->ioasid_fd, hwpt));
	ASSERT_EQ(-EPERM, ioasid_destroy(self->ioasid_fd, self->dev_id));
	ASSERT_EQ(0, ioctl_err(fd, VFIO_DEVICE_GET_INFO, &info));
}

TEST_F(vfio_device_edu, group_path_excluded)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int container, group, gdev, dev2;
	char path[64];

	if (self->skip)
		return;
	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group);
	group = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, group)
		TH_LOG("open %s: %s", path, strerror(errno));
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, container);

	/* Bound through the cdev: the group path is shut out */
	ASSERT_EQ(0, cdev_bind(self->dev_fd, self->ioasid_fd, NULL));
	ASSERT_EQ(0, ioctl_err(group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_EQ(0U, status.flags & VFIO_GROUP_FLAGS_VIABLE);
	ASSERT_EQ(-EBUSY, ioctl_err(group, VFIO_GROUP_SET_CONTAINER,
				    &container));
	ASSERT_EQ(-EBUSY, ioctl_err(group, VFIO_GROUP_SET_CONTAINER,
				    &self->ioasid_fd));
	close(self->dev_fd);
	self->dev_fd = -1;

	/* And the reverse: open through a type1 container, BIND is refused */
	ASSERT_EQ(0, ioctl_err(group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_NE(0U, status.flags & VFIO_GROUP_FLAGS_VIABLE);
	ASSERT_EQ(0, ioctl_err(group, VFIO_GROUP_SET_CONTAINER, &container));
	ASSERT_EQ(0, ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		TH_LOG("VFIO_SET_IOMMU: %s", strerror(errno));
	gdev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, self->bdf);
	ASSERT_LE(0, gdev)
		TH_LOG("VFIO_GROUP_GET_DEVICE_FD: %s", strerror(errno));
	dev2 = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev2);
	ASSERT_EQ(-EBUSY, cdev_bind(dev2, self->ioasid_fd, NULL));
	close(gdev);
	/* Still refused while the group keeps its container */
	ASSERT_EQ(-EBUSY, cdev_bind(dev2, self->ioasid_fd, NULL));
	ASSERT_EQ(0, ioctl_err(group, VFIO_GROUP_UNSET_CONTAINER, NULL));
	ASSERT_EQ(0, cdev_bind(dev2, self->ioasid_fd, NULL));
	close(dev2);
	close(container);
	close(group);
}

TEST_F(vfio_device_edu, replace_changes_what_device_reads)
{
	struct vfio_device_attach_ioasid_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = self->ioas_b,
	};
	__u32 hwpt_a = 0, hwpt_b = 0, hwpt = 0;
	int fd;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	fd = self->edu.device_fd;
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));

	/* Refused attaches leave the device where it was */
	attach.flags = 1U << 5;
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_ATTACH_IOASID_PT, &attach));
	attach.flags = 0;
	attach.pasid = 1;
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_ATTACH_IOASID_PT, &attach));
	attach.pasid = 0;
	attach.argsz = offsetof(struct vfio_device_attach_ioasid_pt, pasid);
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_ATTACH_IOASID_PT, &attach));
	ASSERT_EQ(-ENOENT, cdev_attach(fd, NO_SUCH_ID, NULL));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));

	/* Same IOVA, other IOAS, other content */
	ASSERT_EQ(0, cdev_attach(fd, self->ioas_b, &hwpt_b));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_B));
	ASSERT_EQ(0, cdev_attach(fd, self->ioas_a, &hwpt_a));
	ASSERT_NE(hwpt_a, hwpt_b);
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	/* Attaching where it already is changes nothing */
	ASSERT_EQ(0, cdev_attach(fd, self->ioas_a, &hwpt));
	ASSERT_EQ(hwpt_a, hwpt);
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	TH_LOG("edu %s via %s: IOVA %#llx reads IOAS %u, then %u, then %u",
	       self->bdf, self->cdev, (unsigned long long)self->x,
	       self->ioas_a, self->ioas_b, self->ioas_a);
}

/*
 * A PASID of edu: the file holds it, but edu has no PASID capability, so
 * every IOMMU refuses; the RID's attachment is untouched.
 */
TEST_F(vfio_device_edu, pasid_attach_refused)
{
	struct vfio_device_attach_ioasid_pt attach = {
		.argsz = sizeof(attach),
		.flags = VFIO_DEVICE_ATTACH_PASID,
		.pt_id = self->ioas_b,
	};
	struct vfio_device_detach_ioasid_pt detach = {
		.argsz = sizeof(detach),
		.flags = VFIO_DEVICE_DETACH_PASID,
	};
	struct ioasid_pasid_alloc alloc = { .argsz = sizeof(alloc) };
	int fd;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	fd = self->edu.device_fd;
	ASSERT_EQ(0, ioasid_do(self->ioasid_fd, IOASID_PASID_ALLOC, &alloc));
	attach.pasid = alloc.pasid;
	ASSERT_EQ(-EOPNOTSUPP, ioctl_err(fd, VFIO_DEVICE_ATTACH_IOASID_PT, &attach));
	/* edu's width is 0, so PASID mode does not help it either */
	alloc.dev_id = self->dev_id;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(self->ioasid_fd, IOASID_PASID_ALLOC, &alloc));
	ASSERT_EQ(-EOPNOTSUPP, ioasid_option_set(self->ioasid_fd, IOASID_OPT_PASID_MODE,
						 self->dev_id, IOASID_PASID_MODE_DEVICE));
	detach.pasid = attach.pasid;
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_DETACH_IOASID_PT, &detach));
	detach.argsz = offsetof(struct vfio_device_detach_ioasid_pt, pasid);
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_DETACH_IOASID_PT, &detach));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
}

/* Interrupts of the IOMMUs' fault reporting, summed from /proc/interrupts */
static long iommu_fault_irqs(void)
{
	char line[1024];
	long total = 0;
	FILE *f;

	f = fopen("/proc/interrupts", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!p || (!strstr(line, "DMAR") && !strstr(line, "AMD-Vi")))
			continue;
		for (p++; *p; ) {
			char *end;
			long n = strtol(p, &end, 10);

			if (end == p)
				break;
			total += n;
			p = end;
		}
	}
	fclose(f);
	return total;
}

/* The smallest piece an IOMMU translates on its own, in bytes */
#define DMA_PIECE	4

struct dma_loop {
	struct _test_data_vfio_device_edu *self;
	int stop;		/* set with __atomic_store_n() */
	long dmas, as, bs, blocked, torn, other;
	int err;
	/* The first DMA with a piece from no source: where, and its bytes */
	long other_at;
	unsigned char other_piece[DMA_PIECE];
};

/*
 * What one DMA round trip left in the scratch buffer. The IOMMU translates
 * a transfer piece by piece (a device splits it into requests; QEMU
 * translates again after each access that fails, and its accesses to
 * the unassigned region a failed translation gives are of 4 bytes at
 * most), so a DMA that meets
 * the moment of a non-hitless switch can be torn: some pieces blocked,
 * the others read through the old or the new translation. A piece read
 * through any third translation is "other".
 */
enum dma_seen { SEEN_A, SEEN_B, SEEN_BLOCKED, SEEN_TORN, SEEN_OTHER };

/* Bit 0: piece of A, 1: of B, 2: blocked (C, a failed read's fill, sentinel) */
static unsigned int piece_sources(const unsigned char *s, size_t off)
{
	bool a = true, b = true, c = true, fill = true;
	size_t i;

	for (i = off; i < off + DMA_PIECE; i++) {
		a = a && s[i] == pattern_byte(SEED_A, i);
		b = b && s[i] == pattern_byte(SEED_B, i);
		c = c && s[i] == pattern_byte(SEED_C, i);
		fill = fill && s[i] == s[off];
	}
	return a | b << 1 | (c || fill) << 2;
}

/* What the scratch buffer @s shows; *@bad is the first foreign piece */
static enum dma_seen dma_classify(const unsigned char *s, long *bad)
{
	unsigned int all = 0, src;
	size_t off;

	if (check_pattern(s, DMA_LEN, SEED_A) == -1)
		return SEEN_A;
	if (check_pattern(s, DMA_LEN, SEED_B) == -1)
		return SEEN_B;
	for (off = 0; off < DMA_LEN; off += DMA_PIECE) {
		src = piece_sources(s, off);
		if (!src) {
			*bad = off;
			return SEEN_OTHER;
		}
		all |= src;
	}
	return all == 4 ? SEEN_BLOCKED : SEEN_TORN;
}

/*
 * Until told to stop: load pattern C (at X + Z, the same in both IOASes)
 * into the device, then X, then store to Y. A load of X that was blocked
 * leaves pattern C in the device (or one byte value everywhere, as some
 * IOMMUs complete a failed read), a blocked store leaves the sentinel: so
 * the scratch buffer shows, piece by piece, what the device read at X, or
 * that it could not.
 */
static void *dma_loop(void *arg)
{
	struct dma_loop *l = arg;
	struct _test_data_vfio_device_edu *self = l->self;
	char *s = self->scratch;
	long bad = 0;

	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		memset(s, SENTINEL, DMA_LEN);
		l->err = edu_load(&self->edu, self->x + Z_OFF);
		if (!l->err)
			l->err = edu_load(&self->edu, self->x);
		if (!l->err)
			l->err = edu_store(&self->edu, self->y);
		if (l->err)
			break;
		__atomic_add_fetch(&l->dmas, 1, __ATOMIC_RELAXED);
		switch (dma_classify((unsigned char *)s, &bad)) {
		case SEEN_A:
			l->as++;
			break;
		case SEEN_B:
			l->bs++;
			break;
		case SEEN_BLOCKED:
			l->blocked++;
			break;
		case SEEN_TORN:
			l->torn++;
			break;
		case SEEN_OTHER:
			if (!l->other++) {
				l->other_at = bad;
				memcpy(l->other_piece, s + bad, DMA_PIECE);
			}
			break;
		}
	}
	return NULL;
}

/*
 * A DMA loop runs while the device moves between IOAS A and IOAS B, which
 * map different content at the same IOVA, at least REPLACES times and
 * until the loop did MIN_DMAS round trips. Every piece of every DMA must
 * read A's bytes or B's, never anything else. Where the IOMMU driver
 * switches a device in place (VT-d in legacy mode), no DMA may be blocked
 * or torn and no IOMMU fault may be raised: the replace is hitless.
 * Elsewhere (AMD-Vi, VT-d in scalable mode, virtio-iommu) the switch
 * blocks DMA for a moment, so a DMA may be blocked, or torn between
 * blocked pieces and read ones, but it still never sees a third
 * translation.
 */
/*
 * VT-d switches a device between paging domains in place (patch 0015) in
 * legacy mode. In scalable mode (ECAP.SMTS, bit 43, which 6.1 uses when
 * booted with intel_iommu=sm_on) the RID's PASID entry is torn down and set
 * up again, and DMA in between is blocked.
 */
static bool vtd_switches_in_place(void)
{
	unsigned long long ecap = 0;
	FILE *f = fopen("/sys/class/iommu/dmar0/intel-iommu/ecap", "r");

	if (!f)
		return false;
	if (fscanf(f, "%llx", &ecap) != 1)
		ecap = 0;
	fclose(f);
	return !(ecap & (1ULL << 43));
}

TEST_F_TIMEOUT(vfio_device_edu, hitless_replace, 600)
{
	struct dma_loop loop = { .self = self };
	bool in_place = vtd_switches_in_place();
	long irqs_before, irqs_after;
	pthread_t thread;
	__u64 start;
	int i, fd, ret = 0;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	fd = self->edu.device_fd;
	fill_pattern((char *)self->pa + Z_OFF, DMA_LEN, SEED_C);
	fill_pattern((char *)self->pb + Z_OFF, DMA_LEN, SEED_C);
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));

	irqs_before = iommu_fault_irqs();
	ASSERT_EQ(0, pthread_create(&thread, NULL, dma_loop, &loop));
	start = edu_now_ms();
	for (i = 0; !ret; i++) {
		bool enough = __atomic_load_n(&loop.dmas, __ATOMIC_RELAXED) >=
			      MIN_DMAS || edu_now_ms() - start > REPLACE_MAX_MS;

		if (i >= REPLACES && !(i % 2) && enough)
			break;
		ret = cdev_attach(fd, i % 2 ? self->ioas_a : self->ioas_b, NULL);
	}
	/* Let the last attachment be seen by at least one DMA */
	usleep(300 * 1000);
	__atomic_store_n(&loop.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	irqs_after = iommu_fault_irqs();
	ASSERT_EQ(0, ret) TH_LOG("replace %d failed: %s", i, strerror(-ret));
	ASSERT_EQ(0, loop.err) TH_LOG("DMA failed: %s", strerror(-loop.err));

	TH_LOG("%d replaces, %ld DMAs: %ld read A, %ld read B, %ld blocked, %ld torn, %ld other",
	       i, loop.dmas, loop.as, loop.bs, loop.blocked, loop.torn,
	       loop.other);
	TH_LOG("IOMMU fault interrupts %ld -> %ld", irqs_before, irqs_after);
	ASSERT_LT(0, loop.dmas);
	ASSERT_EQ(0, loop.other)
		TH_LOG("first other: piece at %ld: %02x %02x %02x %02x; A %02x %02x, B %02x %02x",
		       loop.other_at, loop.other_piece[0], loop.other_piece[1],
		       loop.other_piece[2], loop.other_piece[3],
		       pattern_byte(SEED_A, loop.other_at),
		       pattern_byte(SEED_A, loop.other_at + 1),
		       pattern_byte(SEED_B, loop.other_at),
		       pattern_byte(SEED_B, loop.other_at + 1));
	if (in_place) {
		ASSERT_EQ(0, loop.blocked);
		ASSERT_EQ(0, loop.torn);
		ASSERT_EQ(irqs_before, irqs_after);
	}
	ASSERT_LE(MIN_DMAS, loop.dmas);
	/* The last replace went to A: the device reads A, cleanly */
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
}

/*
 * The replace_races_maps test: a thread maps and unmaps RACE_SLOTS pages
 * of IOAS B, one 4 KiB page every RACE_STRIDE from RACE_BASE (each in a
 * 2 MiB table of its own), while the device moves between B and A.
 */
#define RACE_BASE	0x40000000ULL
#define RACE_STRIDE	(SZ_2M + SZ_4K)
#define RACE_SLOTS	64
#define RACE_REPLACES	1000
#define RACE_MAX_MS	(60 * 1000)
#define RACE_SEED	0x60

struct map_loop {
	int fd;
	__u32 ioas;
	char *pages;
	int stop;
	int err;
	long rounds;
};

static __u64 race_iova(unsigned int slot)
{
	return RACE_BASE + slot * RACE_STRIDE;
}

/* Map every slot, unmap every slot, again; stop with every slot mapped. */
static void *map_loop(void *arg)
{
	struct map_loop *l = arg;
	unsigned int slot;
	int ret = 0;

	for (;;) {
		for (slot = 0; slot < RACE_SLOTS && !ret; slot++)
			ret = ioas_map_fixed(l->fd, l->ioas,
					     l->pages + slot * SZ_4K, SZ_4K,
					     race_iova(slot), MAP_RW);
		if (ret || __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
			break;
		for (slot = 0; slot < RACE_SLOTS && !ret; slot++)
			ret = ioas_unmap(l->fd, l->ioas, race_iova(slot), SZ_4K,
					 NULL);
		if (ret)
			break;
		l->rounds++;
	}
	l->err = ret;
	return NULL;
}

/*
 * Every replace onto B builds a new domain, fills it from B and switches
 * the device to it while the map thread keeps writing B: the IOMMU driver
 * may rework a domain's page table as it attaches it (6.1's VT-d drops
 * the top levels its IOMMU does not walk, freeing the old root), so no map
 * or unmap may run beside the attach. A map lost or put in the wrong place
 * shows as a failed DMA at the end, or as the core's warning when an
 * unmap or the domain's teardown finds less mapped than the IOAS holds.
 */
TEST_F_TIMEOUT(vfio_device_edu, replace_races_maps, 300)
{
	struct map_loop loop = { .fd = -1 };
	unsigned int slot;
	pthread_t thread;
	__u64 start;
	int i, fd, ret = 0;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	fd = self->edu.device_fd;
	loop.fd = self->ioasid_fd;
	loop.ioas = self->ioas_b;
	loop.pages = buf_map(RACE_SLOTS * SZ_4K, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, loop.pages);
	for (slot = 0; slot < RACE_SLOTS; slot++)
		fill_pattern(loop.pages + slot * SZ_4K, SZ_4K,
			     RACE_SEED + slot);

	ASSERT_EQ(0, pthread_create(&thread, NULL, map_loop, &loop));
	start = edu_now_ms();
	for (i = 0; !ret && !__atomic_load_n(&loop.err, __ATOMIC_RELAXED);
	     i++) {
		/* Stop after a replace onto B: i odd */
		if (i % 2 && (i >= RACE_REPLACES ||
			      edu_now_ms() - start > RACE_MAX_MS))
			break;
		ret = cdev_attach(fd, i % 2 ? self->ioas_a : self->ioas_b,
				  NULL);
	}
	__atomic_store_n(&loop.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, ret) TH_LOG("replace %d failed: %s", i, strerror(-ret));
	ASSERT_EQ(0, loop.err)
		TH_LOG("map loop: %s", strerror(-loop.err));
	TH_LOG("%d replaces beside %ld map/unmap rounds of %d pages", i,
	       loop.rounds, RACE_SLOTS);
	ASSERT_LT(0, loop.rounds);

	/* The last replace went to B: every slot reads its own page */
	for (slot = 0; slot < RACE_SLOTS; slot++)
		ASSERT_EQ(0, device_reads(self, race_iova(slot),
					  RACE_SEED + slot))
			TH_LOG("slot %u at IOVA %#llx", slot,
			       (unsigned long long)race_iova(slot));
	ASSERT_EQ(0, munmap(loop.pages, RACE_SLOTS * SZ_4K));
}

/*
 * A HWPT belongs to one IOMMU driver: a device of another (the mock
 * IOMMU's, beside edu's) is never given it. Attached to the same IOAS,
 * each gets an automatic HWPT of its own IOMMU, and both DMA through it;
 * named explicitly, another IOMMU's HWPT is EINVAL, in either direction.
 */
TEST_F(vfio_device_edu, foreign_iommu_hwpt)
{
	__u32 edu_hwpt = 0, mock_dev = 0, mock_hwpt = 0, explicit = 0, hwpt = 0;
	int fd = self->ioasid_fd;
	char byte = 0;

	if (self->skip)
		return;
	if (ioasid_unusable())
		SKIP(return, "%s", ioasid_unusable());
	bind_and_map(_metadata, self);
	ASSERT_EQ(0, cdev_attach(self->edu.device_fd, self->ioas_a, &edu_hwpt));
	/* the mock device makes a HWPT of its own IOMMU in the same IOAS */
	ASSERT_EQ(0, mock_device(fd, self->ioas_a, &mock_dev, &mock_hwpt));
	ASSERT_NE(edu_hwpt, mock_hwpt);
	ASSERT_EQ(0, mock_dma(fd, mock_dev, self->x, &byte, 1, IOASID_TEST_DMA_READ, NULL));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	/* by ID, each refuses the other's */
	ASSERT_EQ(-EINVAL, mock_replace(fd, mock_dev, edu_hwpt, NULL));
	ASSERT_EQ(-EINVAL, cdev_attach(self->edu.device_fd, mock_hwpt, NULL));
	ASSERT_EQ(0, hwpt_create(fd, self->dev_id, self->ioas_b, &explicit));
	ASSERT_EQ(-EINVAL, mock_device(fd, explicit, &hwpt, NULL));
	/* and both still work where they were */
	ASSERT_EQ(0, mock_dma(fd, mock_dev, self->x, &byte, 1, IOASID_TEST_DMA_READ, NULL));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	ASSERT_EQ(0, ioasid_destroy(fd, mock_dev));
	ASSERT_EQ(0, ioasid_destroy(fd, explicit));
}

TEST_F(vfio_device_edu, detach_blocks)
{
	struct vfio_device_detach_ioasid_pt detach = {
		.argsz = sizeof(detach),
		.flags = 1,
	};
	int fd;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	fd = self->edu.device_fd;
	/* The edu buffer now holds pattern A */
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->ioasid_fd, self->ioas_a));
	ASSERT_EQ(-EINVAL, ioctl_err(fd, VFIO_DEVICE_DETACH_IOASID_PT,
				     &detach));
	ASSERT_EQ(0, cdev_detach(fd));

	/* Detached: DMA writes to X or Y never land */
	memset(self->pa, SENTINEL, BUF_SIZE);
	memset(self->scratch, SENTINEL, BUF_SIZE);
	edu_store(&self->edu, self->y);
	edu_store(&self->edu, self->x);
	ASSERT_EQ(-1, check_fill(self->scratch, BUF_SIZE, SENTINEL));
	ASSERT_EQ(-1, check_fill(self->pa, BUF_SIZE, SENTINEL));

	ASSERT_EQ(-EINVAL, cdev_detach(fd));
	ASSERT_EQ(0, ioasid_destroy(self->ioasid_fd, self->ioas_a));
	/* Still bound: attaching again brings DMA back */
	ASSERT_EQ(0, cdev_attach(fd, self->ioas_b, NULL));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_B));
}

TEST_F(vfio_device_edu, copy_visible)
{
	int fd = self->ioasid_fd;
	__u64 z;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	/* Copy A's mapping at X into B at Z, then drop the source */
	fill_pattern(self->pa, BUF_SIZE, SEED_C);
	z = self->x + 4 * BUF_SIZE;
	ASSERT_EQ(0, ioas_copy_fixed(fd, self->ioas_b, z, self->ioas_a,
				     self->x, BUF_SIZE, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_a, self->x, BUF_SIZE, NULL));
	ASSERT_EQ(0, cdev_attach(self->edu.device_fd, self->ioas_b, NULL));
	ASSERT_EQ(0, device_reads(self, z, SEED_C));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_B));
}

/*
 * An explicit paging HWPT built for the device over IOAS A, with the
 * mapping made before HWPT_CREATE (@map_first) or between HWPT_CREATE and
 * the ATTACH: either way the device sees it once attached, since the HWPT
 * is filled from the IOAS at its first attach. Then unmapping must take
 * the IOVAs away from the device again.
 */
static void explicit_hwpt_dma(struct __test_metadata *_metadata,
			      struct _test_data_vfio_device_edu *self,
			      bool map_first)
{
	unsigned int seed = map_first ? SEED_HWPT_EARLY : SEED_HWPT_LATE;
	char *buf = self->pa, *dst = buf + SZ_4K + 128;
	int fd = self->ioasid_fd, dev;
	__u32 hwpt = 0, out = 0;
	__u64 unmapped = 0;

	bind_and_open(_metadata, self);
	dev = self->edu.device_fd;

	/* A seed no other test loads, so a blocked load cannot pass */
	fill_pattern(buf, SZ_4K, seed);
	memset(buf + SZ_4K, SENTINEL, SZ_4K);
	if (map_first)
		ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_a, buf, HWPT_LEN,
					    HWPT_IOVA, MAP_RW));
	ASSERT_EQ(0, hwpt_create(fd, self->dev_id, self->ioas_a, &hwpt));
	ASSERT_NE(0U, hwpt);
	if (!map_first)
		ASSERT_EQ(0, ioas_map_fixed(fd, self->ioas_a, buf, HWPT_LEN,
					    HWPT_IOVA, MAP_RW));
	ASSERT_EQ(0, cdev_attach(dev, hwpt, &out));
	ASSERT_EQ(hwpt, out);

	/* Page 0 -> edu -> page 1, all through the explicit HWPT */
	ASSERT_EQ(0, edu_load(&self->edu, HWPT_IOVA));
	ASSERT_EQ(0, edu_store(&self->edu, HWPT_IOVA + SZ_4K + 128));
	ASSERT_EQ(-1, check_pattern(dst, DMA_LEN, seed));
	ASSERT_EQ(-1, check_fill(buf + SZ_4K, 128, SENTINEL));
	ASSERT_EQ(-1, check_fill(dst + DMA_LEN, SZ_4K - 128 - DMA_LEN,
				 SENTINEL));
	ASSERT_EQ(-1, check_pattern(buf, SZ_4K, seed));

	/* In use: neither the HWPT nor its IOAS can go */
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, self->ioas_a));

	/* The HWPT follows the IOAS: unmapped, the IOVAs are gone */
	ASSERT_EQ(0, ioas_unmap(fd, self->ioas_a, HWPT_IOVA, HWPT_LEN,
				&unmapped));
	ASSERT_EQ(HWPT_LEN, unmapped);
	memset(buf + SZ_4K, SENTINEL, SZ_4K);
	edu_store(&self->edu, HWPT_IOVA + SZ_4K);
	ASSERT_EQ(-1, check_fill(buf + SZ_4K, SZ_4K, SENTINEL));

	ASSERT_EQ(0, cdev_detach(dev));
	ASSERT_EQ(0, ioasid_destroy(fd, hwpt));
	ASSERT_EQ(0, ioasid_destroy(fd, self->ioas_a));
	TH_LOG("edu %s: DMA through explicit HWPT %u, mapped %s HWPT_CREATE",
	       self->bdf, hwpt, map_first ? "before" : "after");
}

TEST_F(vfio_device_edu, explicit_hwpt_map_before_create)
{
	if (self->skip)
		return;
	explicit_hwpt_dma(_metadata, self, true);
}

TEST_F(vfio_device_edu, explicit_hwpt_map_before_attach)
{
	if (self->skip)
		return;
	explicit_hwpt_dma(_metadata, self, false);
}

/*
 * The device's reserved regions stay excluded from its IOAS when it moves
 * from the automatic HWPT of the IOAS to an explicit HWPT of the same
 * IOAS: the replace must not lose them, or a mapping over the MSI window
 * would be let in.
 */
TEST_F(vfio_device_edu, reserved_regions_kept_across_replace)
{
	struct ioasid_iova_range ranges[16];
	__u32 n = 16, h0 = 0, h1 = 0, out = 0;
	int fd = self->ioasid_fd, dev;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	dev = self->edu.device_fd;
	/* Attached to IOAS A already: this only tells its automatic HWPT */
	ASSERT_EQ(0, cdev_attach(dev, self->ioas_a, &h0));
	ASSERT_EQ(0, ioas_iova_ranges(fd, self->ioas_a, ranges, &n, NULL));
	if (iova_usable(ranges, n, MSI_IOVA, SZ_4K))
		SKIP(return, "the IOMMU of %s reports no reserved region at %#llx",
		     self->bdf, MSI_IOVA);

	ASSERT_EQ(0, hwpt_create(fd, self->dev_id, self->ioas_a, &h1));
	ASSERT_NE(h0, h1);
	ASSERT_EQ(0, cdev_attach(dev, h1, &out));
	ASSERT_EQ(h1, out);
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	/* The automatic HWPT went with its last device */
	ASSERT_EQ(-ENOENT, ioasid_destroy(fd, h0));

	n = 16;
	ASSERT_EQ(0, ioas_iova_ranges(fd, self->ioas_a, ranges, &n, NULL));
	ASSERT_FALSE(iova_usable(ranges, n, MSI_IOVA, SZ_4K));
	ASSERT_FALSE(iova_usable(ranges, n, MSI_LAST + 1 - SZ_4K, SZ_4K));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, self->ioas_a, self->pb,
					      SZ_4K, MSI_IOVA, MAP_RW));
	ASSERT_EQ(-EADDRINUSE, ioas_map_fixed(fd, self->ioas_a, self->pb,
					      SZ_4K, MSI_LAST + 1 - SZ_4K,
					      MAP_RW));
	/* The refusals changed nothing */
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	ASSERT_EQ(-EBUSY, ioasid_destroy(fd, h1));
}

TEST_F(vfio_device_edu, reset_keeps_attachment)
{
	int ret;

	if (self->skip)
		return;
	bind_and_map(_metadata, self);
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
	ret = ioctl(self->edu.device_fd, VFIO_DEVICE_RESET);
	if (ret && (errno == EINVAL || errno == ENOTTY))
		SKIP(return, "edu %s has no reset method", self->bdf);
	ASSERT_EQ(0, ret)
		TH_LOG("VFIO_DEVICE_RESET: %s", strerror(errno));
	ASSERT_EQ(0, edu_enable_master(&self->edu));
	ASSERT_TRUE(edu_liveness_ok(&self->edu, 0x5eed1234));
	ASSERT_EQ(0, device_reads(self, self->x, SEED_A));
}

/* Closing in either order leaves nothing pinned, and the device reusable */
FIXTURE(vfio_device_edu_close) {
	bool skip;
	char bdf[32];
	char cdev[PATH_MAX];
	int ioasid_fd, checker;
	struct edu edu;
	__u64 x;
	void *buf;
};

FIXTURE_VARIANT(vfio_device_edu_close) {
	bool ioasid_first;
};

FIXTURE_VARIANT_ADD(vfio_device_edu_close, device_first) {
	.ioasid_first = false,
};

FIXTURE_VARIANT_ADD(vfio_device_edu_close, ioasid_first) {
	.ioasid_first = true,
};

FIXTURE_SETUP(vfio_device_edu_close)
{
	const char *why;

	self->ioasid_fd = -1;
	self->checker = -1;
	self->edu.device_fd = -1;
	why = find_edu_cdev(_metadata, self->bdf, sizeof(self->bdf),
			    self->cdev, sizeof(self->cdev));
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->buf = buf_map(BUF_SIZE, SZ_4K, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->buf);
	self->checker = ioasid_open();
	ASSERT_LE(0, self->checker);
	if (mock_check_refs(self->checker, self->buf, BUF_SIZE, 0) ==
	    -ENOTTY) {
		self->skip = true;
		SKIP(return, "needs CONFIG_IOASID_TEST");
	}
}

FIXTURE_TEARDOWN(vfio_device_edu_close)
{
	if (self->edu.device_fd >= 0)
		edu_close(&self->edu);
	if (self->ioasid_fd >= 0)
		close(self->ioasid_fd);
	if (self->checker >= 0)
		close(self->checker);
	if (self->buf)
		munmap(self->buf, BUF_SIZE);
}

/* A DMA round trip through the buffer mapped at X */
static void round_trip(struct __test_metadata *_metadata,
		       struct _test_data_vfio_device_edu_close *self)
{
	char *buf = self->buf;

	fill_pattern(buf, BUF_SIZE, SEED_C);
	ASSERT_EQ(0, edu_load(&self->edu, self->x));
	memset(buf, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x + BUF_SIZE / 2));
	ASSERT_EQ(-1, check_pattern(buf + BUF_SIZE / 2, DMA_LEN, SEED_C));
	ASSERT_EQ(-1, check_fill(buf, BUF_SIZE / 2, SENTINEL));
}

/*
 * Open the cdev, bind it to a new /dev/ioasid file, attach it to a new
 * IOAS and map the buffer there at X; a DMA round trip proves it live.
 */
static void open_attach_map(struct __test_metadata *_metadata,
			    struct _test_data_vfio_device_edu_close *self)
{
	struct ioasid_iova_range ranges[16];
	__u32 n = 16, ioas;
	int dev, ret;

	self->ioasid_fd = ioasid_open();
	ASSERT_LE(0, self->ioasid_fd);
	ASSERT_EQ(0, ioas_alloc(self->ioasid_fd, &ioas));
	dev = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, cdev_bind(dev, self->ioasid_fd, NULL));
	ret = edu_open_from_device_fd(&self->edu, dev);
	ASSERT_EQ(0, ret)
		TH_LOG("edu setup failed at %s", self->edu.failed_step);
	ASSERT_EQ(0, cdev_attach(dev, ioas, NULL));
	ASSERT_EQ(0, ioas_iova_ranges(self->ioasid_fd, ioas, ranges, &n,
				      NULL));
	self->x = pick_iova(ranges, n, BUF_SIZE);
	ASSERT_NE(0ULL, self->x);
	ASSERT_EQ(0, ioas_map_fixed(self->ioasid_fd, ioas, self->buf,
				    BUF_SIZE, self->x, MAP_RW));
	round_trip(_metadata, self);
}

TEST_F(vfio_device_edu_close, nothing_pinned)
{
	if (self->skip)
		return;
	open_attach_map(_metadata, self);
	ASSERT_EQ(0, mock_check_refs(self->checker, self->buf, BUF_SIZE, 1));
	if (variant->ioasid_first) {
		close(self->ioasid_fd);
		self->ioasid_fd = -1;
		/* The bound device holds the file: still mapped and usable */
		ASSERT_EQ(0, mock_check_refs(self->checker, self->buf,
					     BUF_SIZE, 1));
		round_trip(_metadata, self);
		edu_close(&self->edu);
	} else {
		edu_close(&self->edu);
		/* The file keeps its IOAS and mapping */
		ASSERT_EQ(0, mock_check_refs(self->checker, self->buf,
					     BUF_SIZE, 1));
		close(self->ioasid_fd);
		self->ioasid_fd = -1;
	}
	ASSERT_EQ(0, mock_check_refs(self->checker, self->buf, BUF_SIZE, 0));

	/* Nothing left bound: the device binds and does DMA again */
	open_attach_map(_metadata, self);
}

TEST_HARNESS_MAIN
