// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO's group path on /dev/ioasid: VFIO_GROUP_SET_CONTAINER given a
 * /dev/ioasid file in place of a container. Each device of the group is
 * bound to that file when it is first opened, which claims the group's DMA
 * ownership, and attached to the file's VFIO IOAS (IOASID_VFIO_IOAS); the
 * last close unbinds it.
 *
 * An emulated (mdev) device has no IOMMU: at first open it gets an access
 * to the VFIO IOAS instead, through which vfio_pin_pages(),
 * vfio_unpin_pages() and vfio_dma_rw() reach memory by IOVA, and whose
 * unmap callback is the driver's dma_unmap. The device cdev
 * (device_cdev.c) gives an emulated device the same kind of access, which
 * userspace attaches to an IOAS of its choice.
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
 * Return: 0, -EINVAL when @file is not /dev/ioasid or a reserved region of
 * the group is mapped, -EPERM for a no-IOMMU group, -ENOMEM.
 */
int vfio_group_set_ioasid(struct vfio_group *group, struct file *file)
{
	struct ioasid_ctx *ictx;
	int ret;

	lockdep_assert_held(&group->group_lock);

	ictx = ioasid_ctx_from_file(file);
	if (IS_ERR(ictx))
		return -EINVAL;
	if (group->type == VFIO_NO_IOMMU) {
		ret = -EPERM;
		goto err_put;
	}
	ret = ioasid_vfio_group_add(ictx, group->iommu_group,
				    group->type == VFIO_EMULATED_IOMMU);
	if (ret)
		goto err_put;
	group->ioasid_ctx = ictx;
	/* As for a container: one user for the group itself. */
	group->container_users = 1;
	return 0;

err_put:
	ioasid_ctx_put(ictx);
	return ret;
}

/**
 * vfio_group_ioasid_coherent() - vfio_file_enforced_coherent() on /dev/ioasid
 * @group: group set on a /dev/ioasid file
 *
 * Return: whether the HWPT the group is attached to enforces cache
 * coherency; true while it is attached to none.
 */
bool vfio_group_ioasid_coherent(struct vfio_group *group)
{
	lockdep_assert_held(&group->group_lock);
	return ioasid_group_enforced_coherent(group->iommu_group);
}

/**
 * vfio_group_unset_ioasid() - drop the group's /dev/ioasid file
 * @group: group with a file and no device open
 */
void vfio_group_unset_ioasid(struct vfio_group *group)
{
	lockdep_assert_held(&group->group_lock);
	WARN_ON(group->container_users != 1);
	ioasid_vfio_group_del(group->ioasid_ctx, group->iommu_group);
	ioasid_ctx_put(group->ioasid_ctx);
	group->ioasid_ctx = NULL;
	group->container_users = 0;
}

/* The access's unmap callback: the driver must unpin what it pinned. */
static void vfio_ioasid_access_unmap(void *data, unsigned long iova,
				     unsigned long length)
{
	struct vfio_device *device = data;

	device->ops->dma_unmap(device, iova, length);
}

static const struct ioasid_access_ops vfio_ioasid_access_ops_pin = {
	.needs_pin_pages = 1,
	.unmap = vfio_ioasid_access_unmap,
};

static const struct ioasid_access_ops vfio_ioasid_access_ops_rw = {};

/**
 * vfio_ioasid_access_create() - create the access of an emulated device
 * @device: emulated device
 * @ictx: context to create the access in
 * @id: out, the access's ID in @ictx
 *
 * The access's unmap callback is the driver's dma_unmap; through the access
 * of a driver without one, memory can be read and written but not pinned.
 * Call it before the device is opened: it initializes
 * @device->ioasid_access_rwsem and sets @device->ioasid_access_off, which
 * the caller clears once the access is attached.
 *
 * Return: the access, not attached, or an ERR_PTR. Destroy it with
 * ioasid_access_destroy().
 */
struct ioasid_access *vfio_ioasid_access_create(struct vfio_device *device,
						struct ioasid_ctx *ictx,
						u32 *id)
{
	init_rwsem(&device->ioasid_access_rwsem);
	device->ioasid_access_off = true;
	return ioasid_access_create(ictx, device->ops->dma_unmap ?
					  &vfio_ioasid_access_ops_pin :
					  &vfio_ioasid_access_ops_rw,
				    device, id);
}

/* An emulated device reaches the VFIO IOAS through an access. */
static int vfio_device_ioasid_access(struct vfio_device *device)
{
	struct ioasid_ctx *ictx = device->group->ioasid_ctx;
	struct ioasid_access *access;
	u32 access_id, ioas_id;
	int ret;

	access = vfio_ioasid_access_create(device, ictx, &access_id);
	if (IS_ERR(access))
		return PTR_ERR(access);
	ret = ioasid_vfio_compat_ioas_id(ictx, &ioas_id);
	if (!ret)
		ret = ioasid_access_attach(access, ioas_id);
	if (ret) {
		ioasid_access_destroy(access);
		return ret;
	}
	device->ioasid_access_off = false;
	device->ioasid_access = access;
	return 0;
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
	if (device->group->type == VFIO_EMULATED_IOMMU)
		return vfio_device_ioasid_access(device);
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
	if (device->ioasid_access) {
		ioasid_access_destroy(device->ioasid_access);
		device->ioasid_access = NULL;
	}
	if (device->ioasid_dev) {
		ioasid_device_unbind(device->ioasid_dev);
		device->ioasid_dev = NULL;
	}
}

/*
 * The device's access, attached, with ioasid_access_rwsem held for reading
 * so that a DETACH waits; NULL, with nothing held, when there is none.
 */
static struct ioasid_access *vfio_ioasid_access_get(struct vfio_device *device)
{
	if (!device->ioasid_access)
		return NULL;
	down_read(&device->ioasid_access_rwsem);
	if (device->ioasid_access_off) {
		up_read(&device->ioasid_access_rwsem);
		return NULL;
	}
	return device->ioasid_access;
}

/* type1 reports an unmapped IOVA with -EINVAL; the core with -ENOENT. */
static int vfio_ioasid_errno(int ret)
{
	return ret == -ENOENT ? -EINVAL : ret;
}

/**
 * vfio_ioasid_pin_pages() - vfio_pin_pages() for a device on /dev/ioasid
 * @device: open emulated device
 * @iova: IOVA in the first page
 * @npage: number of pages
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @pages: out, the pages
 *
 * Return: @npage, or -EINVAL for an IOVA not mapped, -EPERM without
 * permission, -EINVAL for a device that cannot pin or whose access is not
 * attached (a device cdev between DETACH and ATTACH).
 */
int vfio_ioasid_pin_pages(struct vfio_device *device, dma_addr_t iova,
			  int npage, int prot, struct page **pages)
{
	struct ioasid_access *access = vfio_ioasid_access_get(device);
	int ret;

	if (!access)
		return -EINVAL;
	ret = ioasid_access_pin_pages(access, ALIGN_DOWN(iova, PAGE_SIZE),
				      npage * PAGE_SIZE, pages,
				      prot & IOMMU_WRITE ? IOASID_ACCESS_WRITE :
							   0);
	up_read(&device->ioasid_access_rwsem);
	return ret ? vfio_ioasid_errno(ret) : npage;
}

/**
 * vfio_ioasid_unpin_pages() - vfio_unpin_pages() for a device on /dev/ioasid
 * @device: open emulated device
 * @iova: IOVA given to vfio_ioasid_pin_pages()
 * @npage: number of pages given to it
 *
 * Takes no lock of @device: the access cannot be detached while it holds
 * pins, since the driver is told to drop them all first.
 */
void vfio_ioasid_unpin_pages(struct vfio_device *device, dma_addr_t iova,
			     int npage)
{
	if (WARN_ON(!device->ioasid_access))
		return;
	ioasid_access_unpin_pages(device->ioasid_access,
				  ALIGN_DOWN(iova, PAGE_SIZE),
				  npage * PAGE_SIZE);
}

/**
 * vfio_ioasid_dma_rw() - vfio_dma_rw() for a device on /dev/ioasid
 * @device: open emulated device
 * @iova: first IOVA
 * @data: kernel buffer
 * @len: bytes to copy
 * @write: copy @data to memory, else memory to @data
 *
 * Return: 0, -EINVAL for an IOVA not mapped or an access not attached,
 * -EPERM without permission.
 */
int vfio_ioasid_dma_rw(struct vfio_device *device, dma_addr_t iova,
		       void *data, size_t len, bool write)
{
	struct ioasid_access *access = vfio_ioasid_access_get(device);
	int ret;

	if (!access)
		return -EINVAL;
	ret = ioasid_access_rw(access, iova, data, len,
			       write ? IOASID_ACCESS_WRITE : 0);
	up_read(&device->ioasid_access_rwsem);
	return vfio_ioasid_errno(ret);
}
