// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO's group path on /dev/ioasid: VFIO_GROUP_SET_CONTAINER given a
 * /dev/ioasid file in place of a container. Each device of the group is
 * bound to that file when it is first opened, which claims the group's DMA
 * ownership, and attached to the file's VFIO IOAS (IOASID_VFIO_IOAS); the
 * last close unbinds it.
 */
#include <linux/file.h>
#include <linux/ioasid_core.h>
#include <linux/vfio.h>

#include "vfio.h"

MODULE_IMPORT_NS(IOASID);

/**
 * vfio_group_set_ioasid() - use a /dev/ioasid file as the group's IOMMU
 * @group: group with neither a container nor a file
 * @file: file from userspace
 *
 * Return: 0, -EINVAL when @file is not /dev/ioasid, -EPERM for a no-IOMMU
 * group.
 */
int vfio_group_set_ioasid(struct vfio_group *group, struct file *file)
{
	struct ioasid_ctx *ictx;

	lockdep_assert_held(&group->group_lock);
	ictx = ioasid_ctx_from_file(file);
	if (IS_ERR(ictx))
		return -EINVAL;
	if (group->type == VFIO_NO_IOMMU) {
		ioasid_ctx_put(ictx);
		return -EPERM;
	}
	group->ioasid_ctx = ictx;
	/* As for a container: one user for the group itself. */
	group->container_users = 1;
	return 0;
}

/**
 * vfio_group_unset_ioasid() - drop the group's /dev/ioasid file
 * @group: group with a file and no device open
 */
void vfio_group_unset_ioasid(struct vfio_group *group)
{
	lockdep_assert_held(&group->group_lock);
	WARN_ON(group->container_users != 1);
	ioasid_ctx_put(group->ioasid_ctx);
	group->ioasid_ctx = NULL;
	group->container_users = 0;
}

/**
 * vfio_device_ioasid_bind() - bind a device at first open and attach it
 * @device: device of a group using a /dev/ioasid file
 *
 * Return: 0 or an errno, with the device unbound.
 */
int vfio_device_ioasid_bind(struct vfio_device *device)
{
	struct ioasid_ctx *ictx = device->group->ioasid_ctx;
	struct ioasid_device *idev;
	u32 dev_id, pt_id;
	int ret;

	lockdep_assert_held(&device->dev_set->lock);
	idev = ioasid_device_bind(ictx, device->dev, &dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	ret = ioasid_vfio_compat_ioas_id(ictx, &pt_id);
	if (!ret)
		ret = ioasid_device_attach(idev, &pt_id);
	if (ret) {
		ioasid_device_unbind(idev);
		return ret;
	}
	device->ioasid_dev = idev;
	return 0;
}

/**
 * vfio_device_ioasid_unbind() - undo vfio_device_ioasid_bind() at last close
 * @device: bound device
 */
void vfio_device_ioasid_unbind(struct vfio_device *device)
{
	lockdep_assert_held(&device->dev_set->lock);
	ioasid_device_unbind(device->ioasid_dev);
	device->ioasid_dev = NULL;
}
