/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * VFIO's device-centric path for the selftests: find a device's cdev,
 * /dev/vfio/devices/vfioN, and bind, attach and detach it through
 * /dev/ioasid. The first also serves ioasid_bench built against other
 * kernels' headers. Like ioasid_utils.h, every call returns 0 or -errno.
 */
#ifndef __SELFTESTS_IOASID_VFIO_CDEV_H
#define __SELFTESTS_IOASID_VFIO_CDEV_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

/* The wrappers need the series' uAPI; pci_vfio_cdev_path() needs none. */
#ifdef VFIO_DEVICE_BIND_IOASID
/* @dev_id may be NULL */
static inline int cdev_bind(int dev_fd, int ioasid_fd, __u32 *dev_id)
{
	struct vfio_device_bind_ioasid bind = { .argsz = sizeof(bind) };

	bind.ioasid_fd = ioasid_fd;
	if (ioctl(dev_fd, VFIO_DEVICE_BIND_IOASID, &bind))
		return -errno;
	if (dev_id)
		*dev_id = bind.out_dev_id;
	return 0;
}

/* Attach, or replace; *@hwpt_id (may be NULL) gets what it attached to */
static inline int cdev_attach(int dev_fd, __u32 pt_id, __u32 *hwpt_id)
{
	struct vfio_device_attach_ioasid_pt attach = { .argsz = sizeof(attach) };

	attach.pt_id = pt_id;
	if (ioctl(dev_fd, VFIO_DEVICE_ATTACH_IOASID_PT, &attach))
		return -errno;
	if (hwpt_id)
		*hwpt_id = attach.pt_id;
	return 0;
}

static inline int cdev_detach(int dev_fd)
{
	struct vfio_device_detach_ioasid_pt detach = { .argsz = sizeof(detach) };

	return ioctl(dev_fd, VFIO_DEVICE_DETACH_IOASID_PT, &detach) ? -errno : 0;
}
#endif

/*
 * The cdev of the VFIO device on PCI device @bdf, named after its vfio-dev
 * class device. -ENOENT when @bdf is no VFIO device.
 */
static inline int pci_vfio_cdev_path(const char *bdf, char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *ent;
	int ret = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((ent = readdir(d)) != NULL) {
		if (strncmp(ent->d_name, "vfio", 4))
			continue;
		snprintf(path, len, "/dev/vfio/devices/%s", ent->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

#endif
