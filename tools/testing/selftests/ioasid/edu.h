/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace driver bits for QEMU's "edu" teaching PCI device, reached
 * through a VFIO device file descriptor.
 *
 * Nothing in here knows how DMA addresses get translated: the caller
 * owns the IOMMU side (VFIO type1 container, iommufd, ...) and hands
 * edu_dma() bus addresses (IOVAs) that it has set up by itself.
 */
#ifndef __SELFTESTS_IOASID_EDU_H
#define __SELFTESTS_IOASID_EDU_H

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>
#include <linux/vfio.h>

#define EDU_SYSFS_PCI_DEVICES	"/sys/bus/pci/devices"

#define EDU_VENDOR_ID		0x1234
#define EDU_DEVICE_ID		0x11e8
#define EDU_ID_VALUE		0x010000edU

/* BAR0 registers: 32-bit wide below 0x80, 64-bit wide from 0x80 on */
#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_STATUS		0x20
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_REGS_END		0xa0

#define EDU_DMA_CMD_START	0x1ULL
#define EDU_DMA_CMD_TO_RAM	0x2ULL
#define EDU_DMA_CMD_IRQ		0x4ULL

/* The device-internal DMA buffer, as seen in the DMA address space */
#define EDU_BUF_ADDR		0x40000ULL
#define EDU_BUF_SIZE		4096U
/*
 * QEMU 7.2 checks the device-side range with an exclusive end, so a
 * transfer may not reach the buffer's last byte: at most 4095 bytes.
 */
#define EDU_DMA_MAX		(EDU_BUF_SIZE - 1)

#define EDU_DMA_TIMEOUT_MS	5000
#define EDU_DMA_POLL_US		1000

/* Standard PCI config header bits needed here */
#define EDU_PCI_COMMAND		0x04
#define EDU_PCI_COMMAND_MEMORY	0x2
#define EDU_PCI_COMMAND_MASTER	0x4

struct edu {
	int device_fd;			/* VFIO device fd, owned by this struct */
	void *bar0;			/* MMIO registers, or NULL */
	size_t bar0_size;
	__u64 config_offset;		/* config space offset in device_fd */
	const char *failed_step;	/* what edu_open_from_device_fd() hit */
};

/*
 * MMIO accessors: relaxed atomics make the compiler emit exactly one
 * access of the register's width, never merged, split or elided.
 */
#define EDU_MMIO(edu, reg, type) ((type *)((char *)(edu)->bar0 + (reg)))

static inline __u32 edu_read32(const struct edu *edu, unsigned int reg)
{
	return __atomic_load_n(EDU_MMIO(edu, reg, __u32), __ATOMIC_RELAXED);
}

static inline void edu_write32(const struct edu *edu, unsigned int reg,
			       __u32 val)
{
	__atomic_store_n(EDU_MMIO(edu, reg, __u32), val, __ATOMIC_RELAXED);
}

static inline __u64 edu_read64(const struct edu *edu, unsigned int reg)
{
	return __atomic_load_n(EDU_MMIO(edu, reg, __u64), __ATOMIC_RELAXED);
}

static inline void edu_write64(const struct edu *edu, unsigned int reg,
			       __u64 val)
{
	__atomic_store_n(EDU_MMIO(edu, reg, __u64), val, __ATOMIC_RELAXED);
}

/* Parse a sysfs attribute such as "vendor" that holds one hex number. */
static inline int edu_sysfs_read_hex(const char *bdf, const char *attr,
				     unsigned long *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s/%s", EDU_SYSFS_PCI_DEVICES, bdf,
		 attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%lx", val) != 1)
		ret = -EINVAL;
	fclose(f);
	return ret;
}

/*
 * Look for an edu device in sysfs and store its PCI address (for example
 * "0000:00:03.0") in @bdf.  With several edu devices the lowest address
 * wins, so repeated runs pick the same one.
 * Returns 0, -ENODEV when there is none, or another negative errno.
 */
static inline int edu_find(char *bdf, size_t len)
{
	struct dirent *ent;
	bool found = false;
	unsigned long id;
	DIR *dir;

	dir = opendir(EDU_SYSFS_PCI_DEVICES);
	if (!dir)
		return -errno;

	while ((ent = readdir(dir)) != NULL) {
		if (ent->d_name[0] == '.')
			continue;
		if (edu_sysfs_read_hex(ent->d_name, "vendor", &id) ||
		    id != EDU_VENDOR_ID)
			continue;
		if (edu_sysfs_read_hex(ent->d_name, "device", &id) ||
		    id != EDU_DEVICE_ID)
			continue;
		if (strlen(ent->d_name) >= len)
			continue;
		if (found && strcmp(ent->d_name, bdf) >= 0)
			continue;
		strcpy(bdf, ent->d_name);
		found = true;
	}
	closedir(dir);

	return found ? 0 : -ENODEV;
}

/*
 * Read the last path component of the symlink /sys/bus/pci/devices/@bdf/@link
 * into @name.  Used for "iommu_group" and "driver".
 */
static inline int edu_sysfs_link_name(const char *bdf, const char *link,
				      char *name, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", EDU_SYSFS_PCI_DEVICES, bdf,
		 link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';

	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!*base || strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(name, base);
	return 0;
}

/* IOMMU group number of @bdf (>= 0), or a negative errno. */
static inline int edu_iommu_group(const char *bdf)
{
	char name[32];
	char *end;
	long group;
	int ret;

	ret = edu_sysfs_link_name(bdf, "iommu_group", name, sizeof(name));
	if (ret)
		return ret;

	errno = 0;
	group = strtol(name, &end, 10);
	if (errno || *end || end == name || group < 0 || group > INT_MAX)
		return -EINVAL;
	return group;
}

/* Name of the driver bound to @bdf, -ENOENT when none is bound. */
static inline int edu_bound_driver(const char *bdf, char *name, size_t len)
{
	return edu_sysfs_link_name(bdf, "driver", name, len);
}

static inline int edu_region_info(int device_fd, __u32 index,
				  struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, info))
		return -errno;
	return 0;
}

static inline int edu_config_read16(const struct edu *edu, unsigned int reg,
				    __u16 *val)
{
	__u16 raw;
	ssize_t n;

	n = pread(edu->device_fd, &raw, sizeof(raw),
		  edu->config_offset + reg);
	if (n < 0)
		return -errno;
	if (n != sizeof(raw))
		return -EIO;
	*val = le16toh(raw);
	return 0;
}

static inline int edu_config_write16(const struct edu *edu, unsigned int reg,
				     __u16 val)
{
	__u16 raw = htole16(val);
	ssize_t n;

	n = pwrite(edu->device_fd, &raw, sizeof(raw),
		   edu->config_offset + reg);
	if (n < 0)
		return -errno;
	if (n != sizeof(raw))
		return -EIO;
	return 0;
}

/* The liveness register reads back the bitwise inverse of what was written */
static inline bool edu_liveness_ok(const struct edu *edu, __u32 val)
{
	edu_write32(edu, EDU_REG_LIVENESS, val);
	return edu_read32(edu, EDU_REG_LIVENESS) == (__u32)~val;
}

/*
 * Release everything edu_open_from_device_fd() set up, including the VFIO
 * device fd.  Safe to call after a failed open and more than once.
 */
static inline void edu_close(struct edu *edu)
{
	if (edu->bar0)
		munmap(edu->bar0, edu->bar0_size);
	edu->bar0 = NULL;
	edu->bar0_size = 0;
	if (edu->device_fd >= 0)
		close(edu->device_fd);
	edu->device_fd = -1;
}

/*
 * Take over a VFIO device fd for an edu device: enable memory decoding and
 * bus mastering, map BAR0 and make sure the registers answer the way an
 * edu does.  The fd belongs to @edu from here on, whether this succeeds or
 * not, so always finish with edu_close().  On failure edu->failed_step
 * names the step that went wrong.
 */
static inline int edu_open_from_device_fd(struct edu *edu, int device_fd)
{
	struct vfio_device_info dev_info = { .argsz = sizeof(dev_info) };
	struct vfio_region_info region;
	__u16 cmd = 0;
	void *map;
	int ret;

	memset(edu, 0, sizeof(*edu));
	edu->device_fd = device_fd;

	edu->failed_step = "VFIO_DEVICE_GET_INFO";
	if (ioctl(device_fd, VFIO_DEVICE_GET_INFO, &dev_info))
		return -errno;
	if (!(dev_info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    dev_info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return -ENODEV;

	edu->failed_step = "config space region info";
	ret = edu_region_info(device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &region);
	if (ret)
		return ret;
	edu->config_offset = region.offset;

	edu->failed_step = "enabling memory decode and bus mastering";
	ret = edu_config_read16(edu, EDU_PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	cmd |= EDU_PCI_COMMAND_MEMORY | EDU_PCI_COMMAND_MASTER;
	ret = edu_config_write16(edu, EDU_PCI_COMMAND, cmd);
	if (ret)
		return ret;
	ret = edu_config_read16(edu, EDU_PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	if ((cmd & (EDU_PCI_COMMAND_MEMORY | EDU_PCI_COMMAND_MASTER)) !=
	    (EDU_PCI_COMMAND_MEMORY | EDU_PCI_COMMAND_MASTER))
		return -EIO;

	edu->failed_step = "BAR0 region info";
	ret = edu_region_info(device_fd, VFIO_PCI_BAR0_REGION_INDEX, &region);
	if (ret)
		return ret;
	if (!(region.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    region.size < EDU_REGS_END)
		return -ENOTSUP;

	edu->failed_step = "mmap of BAR0";
	map = mmap(NULL, region.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   device_fd, region.offset);
	if (map == MAP_FAILED)
		return -errno;
	edu->bar0 = map;
	edu->bar0_size = region.size;

	edu->failed_step = "ID register check";
	if (edu_read32(edu, EDU_REG_ID) != EDU_ID_VALUE)
		return -ENODEV;

	edu->failed_step = "liveness register check";
	if (!edu_liveness_ok(edu, 0x12345678) ||
	    !edu_liveness_ok(edu, 0xa5a5f00d))
		return -EIO;

	edu->failed_step = NULL;
	return 0;
}

static inline __u64 edu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Copy @count bytes with the device's DMA engine and wait for it to finish.
 * @to_ram false: bus address @src -> device buffer address @dst.
 * @to_ram true:  device buffer address @src -> bus address @dst.
 * The device buffer side has to lie in [EDU_BUF_ADDR, EDU_BUF_ADDR +
 * EDU_DMA_MAX); QEMU treats anything else as a fatal guest error, so it is
 * refused here with -EINVAL.  Returns 0 once the device reports the
 * transfer done, -EBUSY if a transfer was already running, -ETIMEDOUT if
 * it did not finish within EDU_DMA_TIMEOUT_MS.
 *
 * Completion only means the engine ran: a transfer that the IOMMU refused
 * to translate is dropped by QEMU and still completes.
 */
static inline int edu_dma(const struct edu *edu, __u64 src, __u64 dst,
			  __u32 count, bool to_ram)
{
	__u64 buf_addr = to_ram ? src : dst;
	__u64 cmd = EDU_DMA_CMD_START;
	__u64 deadline;

	if (!count || count > EDU_DMA_MAX || buf_addr < EDU_BUF_ADDR ||
	    buf_addr - EDU_BUF_ADDR > EDU_DMA_MAX - count)
		return -EINVAL;

	if (edu_read64(edu, EDU_REG_DMA_CMD) & EDU_DMA_CMD_START)
		return -EBUSY;

	if (to_ram)
		cmd |= EDU_DMA_CMD_TO_RAM;

	edu_write64(edu, EDU_REG_DMA_SRC, src);
	edu_write64(edu, EDU_REG_DMA_DST, dst);
	edu_write64(edu, EDU_REG_DMA_COUNT, count);
	/* CPU stores to the source buffer must be done before the kick */
	__sync_synchronize();
	edu_write64(edu, EDU_REG_DMA_CMD, cmd);

	deadline = edu_now_ms() + EDU_DMA_TIMEOUT_MS;
	for (;;) {
		bool expired = edu_now_ms() > deadline;

		if (!(edu_read64(edu, EDU_REG_DMA_CMD) & EDU_DMA_CMD_START))
			break;
		if (expired)
			return -ETIMEDOUT;
		usleep(EDU_DMA_POLL_US);
	}
	/* and CPU loads of the destination must not be hoisted above it */
	__sync_synchronize();

	return 0;
}

/* The transfer size the tests use: well inside the device buffer */
#define EDU_TEST_DMA_LEN	2048

/* Device reads EDU_TEST_DMA_LEN bytes at @iova into its buffer. */
static inline int edu_load(const struct edu *edu, __u64 iova)
{
	return edu_dma(edu, iova, EDU_BUF_ADDR, EDU_TEST_DMA_LEN, false);
}

/* Device writes EDU_TEST_DMA_LEN bytes of its buffer to @iova. */
static inline int edu_store(const struct edu *edu, __u64 iova)
{
	return edu_dma(edu, EDU_BUF_ADDR, iova, EDU_TEST_DMA_LEN, true);
}

#endif /* __SELFTESTS_IOASID_EDU_H */
