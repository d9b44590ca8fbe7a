// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hot-unplug of a device in use through /dev/ioasid. The machine puts edu
 * devices behind PCIe root ports at slots 0x10, 0x11 and 0x12 (QEMU ids
 * hp1, hp2, hp3), hot-pluggable through ACPI. Each test binds one of them
 * through one path, maps memory and does DMA, then prints "@@@ UNPLUG hpN" on its output; the
 * host (harness/qmp-unplug.py) answers with QMP device_del. vfio-pci then
 * asks the device's user to let go through the request eventfd, as a VMM
 * is asked; the test closes the device and checks that:
 *  - the device leaves, and no call on the remaining files hangs;
 *  - the IOAS and its mappings are intact and still usable;
 *  - once unmapped, nothing stays pinned or charged.
 * The kernel log is judged for splats and leaks by the harness.
 *
 * Without such a device (any other machine), every test skips.
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

/* TEST() bodies of the 6.1 harness leave their variant unused */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define PG			SZ_4K
#define BUF_SIZE		SZ_64K
#define IOVA			0x100000ULL
#define IOVA2			0x800000ULL
#define UNPLUG_TIMEOUT_MS	60000

enum unplug_path { PATH_GROUP, PATH_CDEV, PATH_CONTAINER };

/* Root port slot of each path's device, and its QEMU id */
static const struct {
	unsigned int slot;
	const char *id;
} unplug_slots[] = {
	[PATH_GROUP] = { 0x10, "hp1" },
	[PATH_CDEV] = { 0x11, "hp2" },
	[PATH_CONTAINER] = { 0x12, "hp3" },
};

struct unplug {
	char bdf[32];
	int group;
	int fd;			/* /dev/ioasid */
	int group_fd;
	int dev_fd;		/* owned by edu once opened */
	int req_fd;		/* eventfd of the VFIO request IRQ */
	__u32 ioas_id;
	__u32 dev_id;
	struct edu edu;
	void *buf, *buf2;
};

/*
 * The edu device below the root port at 00:@slot.0, bound to vfio-pci.
 * 0, or -ENOENT when there is none.
 */
static int find_slot_edu(unsigned int slot, char *bdf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], port[32];
	struct dirent *ent;
	int ret = -ENOENT;
	DIR *d;

	d = opendir(EDU_SYSFS_PCI_DEVICES);
	if (!d)
		return -ENOENT;
	snprintf(port, sizeof(port), "/0000:00:%02x.0/", slot);
	while ((ent = readdir(d))) {
		unsigned long vendor, device;

		if (ent->d_name[0] == '.')
			continue;
		if (edu_sysfs_read_hex(ent->d_name, "vendor", &vendor) ||
		    edu_sysfs_read_hex(ent->d_name, "device", &device) ||
		    vendor != EDU_VENDOR_ID || device != EDU_DEVICE_ID)
			continue;
		snprintf(path, sizeof(path), "%s/%s", EDU_SYSFS_PCI_DEVICES,
			 ent->d_name);
		if (!realpath(path, real) || !strstr(real, port))
			continue;
		if (strlen(ent->d_name) < len) {
			strcpy(bdf, ent->d_name);
			ret = 0;
		}
		break;
	}
	closedir(d);
	return ret;
}

static bool pci_present(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", EDU_SYSFS_PCI_DEVICES, bdf);
	return !access(path, F_OK);
}

/* Route the device's request IRQ (vfio-pci asks to let go) to an eventfd */
static int request_eventfd(int dev_fd)
{
	struct {
		struct vfio_irq_set set;
		__s32 fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_REQ_IRQ_INDEX,
			.count = 1,
		},
	};
	int efd = eventfd(0, EFD_CLOEXEC);

	if (efd < 0)
		return -errno;
	irq.fd = efd;
	if (ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, &irq)) {
		close(efd);
		return -errno;
	}
	return efd;
}

/* Ask the host for device_del; the marker is read from our output */
static void request_unplug(const char *id)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "@@@ UNPLUG %s\n", id);

	fflush(stdout);
	if (write(STDOUT_FILENO, line, n) != n)
		perror("write");
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1 ? 0 : -ETIMEDOUT;
}

static int wait_gone(const char *bdf, int timeout_ms)
{
	for (; timeout_ms > 0; timeout_ms -= 100) {
		if (!pci_present(bdf))
			return 0;
		usleep(100000);
	}
	return -ETIMEDOUT;
}

static int vfio_map_dma(int fd, const void *va, __u64 iova, __u64 size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = size,
	};

	return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

/* Map @va at @iova the way the path maps */
static int path_map(struct unplug *u, enum unplug_path path, void *va,
		    __u64 iova)
{
	if (path == PATH_CONTAINER)
		return vfio_map_dma(u->fd, va, iova, BUF_SIZE);
	return ioas_map_fixed(u->fd, u->ioas_id, va, BUF_SIZE, iova, MAP_RW);
}

/* Open the device through @path; 0 or the failing step's -errno */
static int path_open(struct __test_metadata *_metadata, struct unplug *u,
		     enum unplug_path path)
{
	char gpath[64], cdev[PATH_MAX];
	int ret;

	u->fd = ioasid_open();
	ASSERT_LE(0, u->fd);
	if (path == PATH_CDEV) {
		ASSERT_EQ(0, ioas_alloc(u->fd, &u->ioas_id));
		ASSERT_EQ(0, pci_vfio_cdev_path(u->bdf, cdev, sizeof(cdev)));
		u->dev_fd = open(cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, u->dev_fd);
		ASSERT_EQ(0, cdev_bind(u->dev_fd, u->fd, &u->dev_id));
		ASSERT_EQ(0, cdev_attach(u->dev_fd, u->ioas_id, NULL));
	} else {
		ASSERT_EQ(0, vfio_ioas(u->fd, IOASID_VFIO_IOAS_QUERY, &u->ioas_id));
		snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", u->group);
		u->group_fd = open(gpath, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, u->group_fd);
		ASSERT_EQ(0, ioctl(u->group_fd, VFIO_GROUP_SET_CONTAINER, &u->fd));
		if (path == PATH_CONTAINER)
			ASSERT_EQ(0, ioctl(u->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
		u->dev_fd = ioctl(u->group_fd, VFIO_GROUP_GET_DEVICE_FD, u->bdf);
		ASSERT_LE(0, u->dev_fd);
	}
	ret = edu_open_from_device_fd(&u->edu, u->dev_fd);
	ASSERT_EQ(0, ret) TH_LOG("edu setup: %s", u->edu.failed_step);
	return 0;
}

/* Bind, map, DMA, unplug, and check what is left; one path */
static void unplug_one(struct __test_metadata *_metadata, enum unplug_path path)
{
	struct unplug u = { .group_fd = -1, .dev_fd = -1, .fd = -1 };
	__u64 locked = 1, pinned = 1, unmapped = 0;

	if (find_slot_edu(unplug_slots[path].slot, u.bdf, sizeof(u.bdf)))
		SKIP(return, "no edu behind the root port at slot %#x",
		     unplug_slots[path].slot);
	if (ioasid_unusable())
		SKIP(return, "%s", ioasid_unusable());
	u.group = edu_iommu_group(u.bdf);
	ASSERT_LE(0, u.group);
	u.buf = buf_map(BUF_SIZE, PG, BUF_SMALL_PAGES);
	u.buf2 = buf_map(BUF_SIZE, PG, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, u.buf);
	ASSERT_NE(NULL, u.buf2);
	path_open(_metadata, &u, path);

	/* The device works: a DMA round trip through the mapping */
	ASSERT_EQ(0, path_map(&u, path, u.buf, IOVA));
	fill_pattern(u.buf, BUF_SIZE, 31);
	ASSERT_EQ(0, edu_load(&u.edu, IOVA));
	memset(u.buf, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&u.edu, IOVA + PG));
	ASSERT_EQ(-1, check_pattern((char *)u.buf + PG, EDU_TEST_DMA_LEN, 31));

	u.req_fd = request_eventfd(u.dev_fd);
	ASSERT_LE(0, u.req_fd);
	request_unplug(unplug_slots[path].id);
	/* vfio-pci asks us to let go: close the device as a VMM would */
	ASSERT_EQ(0, wait_readable(u.req_fd, UNPLUG_TIMEOUT_MS))
		TH_LOG("no request from vfio-pci for %s", u.bdf);
	edu_close(&u.edu);
	close(u.req_fd);
	ASSERT_EQ(0, wait_gone(u.bdf, UNPLUG_TIMEOUT_MS))
		TH_LOG("%s is still there", u.bdf);

	/* The files answer, with errors where the device was */
	if (path == PATH_CDEV) {
		ASSERT_EQ(-ENOENT, ioasid_destroy(u.fd, u.dev_id));
	} else {
		struct vfio_group_status status = { .argsz = sizeof(status) };

		ASSERT_EQ(-1, ioctl(u.group_fd, VFIO_GROUP_GET_DEVICE_FD, u.bdf));
		/* any answer will do, as long as there is one */
		ioctl(u.group_fd, VFIO_GROUP_GET_STATUS, &status);
	}

	/*
	 * The IOAS and its mapping are intact, and still take mappings. The
	 * container forgot its IOMMU type with its last group, as a VFIO
	 * container does: its MAP_DMA is refused, the IOAS's map works.
	 */
	if (path == PATH_CONTAINER)
		ASSERT_EQ(-EINVAL, path_map(&u, path, u.buf2, IOVA2));
	ASSERT_EQ(0, ioas_map_fixed(u.fd, u.ioas_id, u.buf2, BUF_SIZE, IOVA2, MAP_RW));
	ASSERT_EQ(0, mock_charges(u.fd, &locked, &pinned));
	ASSERT_EQ(2ULL * BUF_SIZE / PG, pinned);
	ASSERT_EQ(0, ioas_unmap_all(u.fd, u.ioas_id, &unmapped));
	ASSERT_EQ(2ULL * BUF_SIZE, unmapped);
	ASSERT_EQ(0, mock_charges(u.fd, &locked, &pinned));
	ASSERT_EQ(0ULL, locked);
	ASSERT_EQ(0ULL, pinned);
	ASSERT_EQ(0, mock_check_refs(u.fd, u.buf, BUF_SIZE, 0));

	if (u.group_fd >= 0)
		close(u.group_fd);
	close(u.fd);
	munmap(u.buf, BUF_SIZE);
	munmap(u.buf2, BUF_SIZE);
}

FIXTURE(hotunplug) {
	int unused;
};

FIXTURE_SETUP(hotunplug)
{
}

FIXTURE_TEARDOWN(hotunplug)
{
}

/* The group path: VFIO_GROUP_SET_CONTAINER with a /dev/ioasid file */
TEST_F_TIMEOUT(hotunplug, group_path, 300)
{
	unplug_one(_metadata, PATH_GROUP);
}

/* The device cdev, bound to /dev/ioasid and attached to an IOAS */
TEST_F_TIMEOUT(hotunplug, cdev, 300)
{
	unplug_one(_metadata, PATH_CDEV);
}

/* The type1 container the core serves on a /dev/ioasid file */
TEST_F_TIMEOUT(hotunplug, type1_container, 300)
{
	unplug_one(_metadata, PATH_CONTAINER);
}

TEST_HARNESS_MAIN
