// SPDX-License-Identifier: GPL-2.0-only
/*
 * ATS on request, under a trust policy, on real (emulated) hardware: QEMU's
 * virtio-net-pci (1af4:1041) with ats=on behind a PCIe root port, under
 * VT-d with device-iotlb=on (machine vtd-ats). The device is bound to
 * vfio-pci, its cdev to /dev/ioasid, and IOASID_DEVICE_FEATURES turns ATS
 * on and off through the PCI core's request API.
 *
 * Judged by what the hardware sees: the ATS Enable bit in the device's
 * config space, and the device-IOTLB invalidation descriptors VT-d's queue
 * receives on unmap (the intel_iommu:qi_submit trace event).
 */
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "vfio_cdev.h"

#define PCI_DEVICES		"/sys/bus/pci/devices"
#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_NET_DEVICE	0x1041	/* modern virtio-net */
#define PCI_CFG_SIZE		4096
#define PCI_EXT_CAP_START	0x100
#define PCI_EXT_CAP_ID_ATS	0x0f
#define PCI_ATS_CTRL		0x06
#define PCI_ATS_CTRL_ENABLE	0x8000
#define TRACEFS			"/sys/kernel/tracing"
#define QI_EVENT		TRACEFS "/events/intel_iommu/qi_submit/enable"
#define DEV_TLB_INV		": dev_tlb_inv "
#define MAP_LEN			SZ_64K

/* Up to @len - 1 bytes of @path, NUL-terminated, newline dropped */
static int sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

static int dev_attr_write(const char *bdf, const char *attr, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	return write_string_file(path, val);
}

static int dev_attr_read(const char *bdf, const char *attr, char *buf,
			 size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	return sysfs_read(path, buf, len);
}

static long dev_attr_num(const char *bdf, const char *attr)
{
	char buf[32];

	if (dev_attr_read(bdf, attr, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 0);
}

/* The first virtio-net-pci device, or -ENOENT */
static int find_virtio_net(char *bdf, size_t len)
{
	struct dirent *ent;
	int ret = -ENOENT;
	DIR *d;

	d = opendir(PCI_DEVICES);
	if (!d)
		return -errno;
	while ((ent = readdir(d)) != NULL) {
		if (ent->d_name[0] == '.')
			continue;
		if (dev_attr_num(ent->d_name, "vendor") != VIRTIO_VENDOR ||
		    dev_attr_num(ent->d_name, "device") != VIRTIO_NET_DEVICE)
			continue;
		if (strlen(ent->d_name) >= len)
			continue;
		memcpy(bdf, ent->d_name, strlen(ent->d_name) + 1);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* The ATS Control register, read from config space; -ENOENT: no ATS */
static int ats_control(const char *bdf, __u16 *ctrl)
{
	unsigned char cfg[PCI_CFG_SIZE];
	char path[PATH_MAX];
	unsigned int pos = PCI_EXT_CAP_START, hops;
	ssize_t n;
	__u32 hdr;
	int fd;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/config", bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (n != PCI_CFG_SIZE)
		return n < 0 ? -errno : -EIO;
	for (hops = 0; hops < 64 && pos >= PCI_EXT_CAP_START &&
	     pos <= PCI_CFG_SIZE - 8; hops++) {
		memcpy(&hdr, cfg + pos, sizeof(hdr));
		if (!hdr || hdr == ~0U)
			break;
		if ((hdr & 0xffff) == PCI_EXT_CAP_ID_ATS) {
			memcpy(ctrl, cfg + pos + PCI_ATS_CTRL, sizeof(*ctrl));
			return 0;
		}
		pos = hdr >> 20;
	}
	return -ENOENT;
}

/* 1 when the ATS Enable bit is set, 0 when clear, -errno */
static int ats_enabled(const char *bdf)
{
	__u16 ctrl;
	int ret = ats_control(bdf, &ctrl);

	return ret ? ret : !!(ctrl & PCI_ATS_CTRL_ENABLE);
}

static int unbind_driver(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	if (access(path, F_OK))
		return 0;
	return dev_attr_write(bdf, "driver/unbind", bdf);
}

/* Bind @bdf to vfio-pci; -ENODEV if another driver took it */
static int bind_vfio(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int ret;

	ret = dev_attr_write(bdf, "driver_override", "vfio-pci");
	if (!ret)
		ret = write_string_file("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	return strstr(link, "/vfio-pci") ? 0 : -ENODEV;
}

static int dev_features(int fd, __u32 dev_id, __u32 flags, __u32 features,
			__u32 *enabled, __u32 *supported)
{
	struct ioasid_device_features cmd = {
		.argsz = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.features = features,
	};
	int ret = ioasid_do(fd, IOASID_DEVICE_FEATURES, &cmd);

	if (!ret && enabled)
		*enabled = cmd.out_enabled;
	if (!ret && supported)
		*supported = cmd.out_supported;
	return ret;
}

static int set_features(int fd, __u32 dev_id, __u32 features, __u32 *enabled)
{
	return dev_features(fd, dev_id, IOASID_DEVICE_FEATURES_SET, features,
			    enabled, NULL);
}

/* Record VT-d's invalidation descriptors from now on, in an empty buffer */
static int trace_restart(void)
{
	int fd;

	if (access(TRACEFS "/trace", F_OK) &&
	    mount("nodev", TRACEFS, "tracefs", 0, NULL))
		return -errno;
	if (write_string_file(QI_EVENT, "1"))
		return -errno;
	fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Device-IOTLB invalidations recorded since trace_restart(), or -errno */
static long trace_dev_tlb_invs(void)
{
	static char buf[1 << 16];
	size_t keep = strlen(DEV_TLB_INV) - 1, have = 0;
	long count = 0;
	ssize_t n;
	char *p;
	int fd;

	fd = open(TRACEFS "/trace", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += n;
		buf[have] = 0;
		for (p = buf; (p = strstr(p, DEV_TLB_INV)); p++)
			count++;
		/* a match may straddle two reads: keep the tail */
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	close(fd);
	return n < 0 ? -errno : count;
}

/* Map MAP_LEN bytes anywhere in @ioas and unmap them: one IOTLB sync */
static int map_unmap(int fd, __u32 ioas)
{
	__u64 iova = 0, unmapped = 0;
	void *buf;
	int ret;

	buf = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return -errno;
	ret = ioas_map(fd, ioas, buf, MAP_LEN, &iova, MAP_RW);
	if (!ret)
		ret = ioas_unmap(fd, ioas, iova, MAP_LEN, &unmapped);
	if (!ret && unmapped != MAP_LEN)
		ret = -EIO;
	munmap(buf, MAP_LEN);
	return ret;
}

FIXTURE(vfio_ats) {
	char bdf[32];
	int ioasid_fd;
	int dev_fd;
	__u32 dev_id, ioas;
	bool skip;	/* 6.1's harness runs the body after a SKIP in setup */
};

FIXTURE_SETUP(vfio_ats)
{
	__u16 ctrl = 0;
	int ret;

	self->ioasid_fd = -1;
	self->dev_fd = -1;
	self->skip = true;
	if (find_virtio_net(self->bdf, sizeof(self->bdf)))
		SKIP(return, "needs a virtio-net-pci device (machine vtd-ats)");
	ret = ats_control(self->bdf, &ctrl);
	if (ret == -ENOENT)
		SKIP(return, "%s has no ATS capability (ats=on?)", self->bdf);
	ASSERT_EQ(0, ret);
	if (access(IOASID_DEV_PATH, F_OK))
		SKIP(return, "needs " IOASID_DEV_PATH);
	self->skip = false;
	ASSERT_EQ(0, unbind_driver(self->bdf));
	TH_LOG("%s: ATS control %#06x with no driver, trusted %ld", self->bdf,
	       ctrl, dev_attr_num(self->bdf, "trusted"));
}

FIXTURE_TEARDOWN(vfio_ats)
{
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	if (self->ioasid_fd >= 0)
		close(self->ioasid_fd);
	if (self->skip)
		return;
	unbind_driver(self->bdf);
	dev_attr_write(self->bdf, "trusted", "1");
}

/*
 * Trust the device or not while it has no driver, give it to vfio-pci,
 * bind its cdev to a /dev/ioasid file and attach it to a new IOAS.
 * (struct _test_data_vfio_ats is FIXTURE_DATA(vfio_ats).)
 */
static void claim(struct __test_metadata *_metadata,
		  struct _test_data_vfio_ats *self, bool trusted)
{
	char cdev[PATH_MAX];

	ASSERT_EQ(0, dev_attr_write(self->bdf, "trusted", trusted ? "1" : "0"));
	ASSERT_EQ((long)trusted, dev_attr_num(self->bdf, "trusted"));
	ASSERT_EQ(0, bind_vfio(self->bdf));
	self->ioasid_fd = ioasid_open();
	ASSERT_LE(0, self->ioasid_fd);
	ASSERT_EQ(0, ioas_alloc(self->ioasid_fd, &self->ioas));
	ASSERT_EQ(0, pci_vfio_cdev_path(self->bdf, cdev, sizeof(cdev)));
	self->dev_fd = open(cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev_fd);
	ASSERT_EQ(0, cdev_bind(self->dev_fd, self->ioasid_fd, &self->dev_id));
	ASSERT_EQ(0, cdev_attach(self->dev_fd, self->ioas, NULL));
}

/*
 * A trusted device: nothing is on until asked for (its driver, here the
 * user through the core, manages ATS), then the ATS Enable bit follows
 * FEATURES_SET.
 */
TEST_F(vfio_ats, trusted_set_unset)
{
	__u32 enabled = ~0U, supported = 0;

	if (self->skip)
		return;

	claim(_metadata, self, true);
	ASSERT_EQ(0, dev_features(self->ioasid_fd, self->dev_id, 0, 0,
				  &enabled, &supported));
	ASSERT_EQ(0U, enabled);
	ASSERT_NE(0U, supported & IOASID_DEVICE_ATS);
	/* attached, and no one asked: the IOMMU driver enabled nothing */
	ASSERT_EQ(0, ats_enabled(self->bdf));

	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id,
				  IOASID_DEVICE_ATS, &enabled));
	ASSERT_EQ((__u32)IOASID_DEVICE_ATS, enabled);
	ASSERT_EQ(1, ats_enabled(self->bdf));
	/* setting what is set changes nothing */
	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id,
				  IOASID_DEVICE_ATS, &enabled));
	ASSERT_EQ(1, ats_enabled(self->bdf));

	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id, 0, &enabled));
	ASSERT_EQ(0U, enabled);
	ASSERT_EQ(0, ats_enabled(self->bdf));

	/* on again, and closing the device turns it off */
	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id,
				  IOASID_DEVICE_ATS, &enabled));
	ASSERT_EQ(1, ats_enabled(self->bdf));
	close(self->dev_fd);
	self->dev_fd = -1;
	ASSERT_EQ(0, ats_enabled(self->bdf));
}

/*
 * An untrusted device: no ATS (EPERM, and the bit stays clear), and a
 * strict default domain, both from the moment the admin distrusts it.
 */
TEST_F(vfio_ats, untrusted_eperm)
{
	__u32 enabled = ~0U, supported = ~0U;
	char type[32];

	if (self->skip)
		return;

	ASSERT_EQ(0, dev_attr_write(self->bdf, "trusted", "0"));
	ASSERT_EQ(0, ats_enabled(self->bdf));
	ASSERT_EQ(0, dev_attr_read(self->bdf, "iommu_group/type", type,
				   sizeof(type)));
	ASSERT_STREQ("DMA", type);

	claim(_metadata, self, false);
	ASSERT_EQ(-EPERM, set_features(self->ioasid_fd, self->dev_id,
				       IOASID_DEVICE_ATS, &enabled));
	ASSERT_EQ(0, ats_enabled(self->bdf));
	ASSERT_EQ(0, dev_features(self->ioasid_fd, self->dev_id, 0, 0,
				  &enabled, &supported));
	ASSERT_EQ(0U, enabled & IOASID_DEVICE_ATS);
	ASSERT_EQ(0U, supported & IOASID_DEVICE_ATS);
	ASSERT_EQ(0, map_unmap(self->ioasid_fd, self->ioas));
	ASSERT_EQ(0, ats_enabled(self->bdf));
}

/*
 * Device-IOTLB invalidations are sent on unmap only while ATS is on:
 * none before it is asked for, some while it is on, none after.
 */
TEST_F(vfio_ats, dev_iotlb_invalidations)
{
	long before, during, after;
	__u32 enabled;

	if (self->skip)
		return;

	claim(_metadata, self, true);
	ASSERT_EQ(0, trace_restart())
		TH_LOG("the intel_iommu:qi_submit event: %s", strerror(errno));
	ASSERT_EQ(0, map_unmap(self->ioasid_fd, self->ioas));
	before = trace_dev_tlb_invs();

	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id,
				  IOASID_DEVICE_ATS, &enabled));
	ASSERT_EQ(0, trace_restart());
	ASSERT_EQ(0, map_unmap(self->ioasid_fd, self->ioas));
	during = trace_dev_tlb_invs();

	ASSERT_EQ(0, set_features(self->ioasid_fd, self->dev_id, 0, &enabled));
	ASSERT_EQ(0, trace_restart());
	ASSERT_EQ(0, map_unmap(self->ioasid_fd, self->ioas));
	after = trace_dev_tlb_invs();
	write_string_file(QI_EVENT, "0");

	TH_LOG("device-IOTLB invalidations per map+unmap of %lu KiB:",
	       MAP_LEN >> 10);
	TH_LOG("ATS off %ld, on %ld, off again %ld", before, during, after);
	ASSERT_EQ(0, before);
	ASSERT_LE(1, during);
	ASSERT_EQ(0, after);
}

/* Trust changes only while no driver is bound */
TEST_F(vfio_ats, trusted_busy_with_driver)
{
	if (self->skip)
		return;
	ASSERT_EQ(0, dev_attr_write(self->bdf, "trusted", "1"));
	ASSERT_EQ(0, bind_vfio(self->bdf));
	ASSERT_EQ(-EBUSY, dev_attr_write(self->bdf, "trusted", "0"));
	ASSERT_EQ(-EBUSY, dev_attr_write(self->bdf, "trusted", "1"));
	ASSERT_EQ(1, dev_attr_num(self->bdf, "trusted"));
	ASSERT_EQ(0, unbind_driver(self->bdf));
	ASSERT_EQ(0, dev_attr_write(self->bdf, "trusted", "0"));
	ASSERT_EQ(0, dev_attr_num(self->bdf, "trusted"));
	ASSERT_EQ(-EINVAL, dev_attr_write(self->bdf, "trusted", "maybe"));
}

TEST_HARNESS_MAIN
