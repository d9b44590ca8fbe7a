// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device-centric path: /dev/vfio/devices/vfioN, a character device for
 * each VFIO device, used without a group or a container.
 *
 * A file opened on it does nothing until VFIO_DEVICE_BIND_IOASID binds it
 * to a /dev/ioasid file: that claims the DMA ownership of the device's
 * IOMMU group for the /dev/ioasid context and opens the device. From then
 * on the file serves the ordinary device ioctls, read, write and mmap, and
 * VFIO_DEVICE_ATTACH_IOASID_PT / VFIO_DEVICE_DETACH_IOASID_PT move the
 * device's DMA between IOASes and HWPTs of that context; with
 * VFIO_DEVICE_ATTACH_PASID / VFIO_DEVICE_DETACH_PASID they do the same for
 * the requests the device tags with one PASID, each PASID on its own.
 * Closing the file closes the device and unbinds it, which detaches it.
 *
 * An emulated (mdev) device has no IOMMU to bind: BIND creates an access
 * for it instead (its ID is what BIND returns), ATTACH attaches that access
 * to an IOAS and DETACH detaches it, and the driver's vfio_pin_pages(),
 * vfio_unpin_pages() and vfio_dma_rw() go through it. device->ioasid_access
 * points to the access from BIND to release, so that those calls always
 * reach it. While it is not attached, device->ioasid_access_off makes pins
 * and copies fail with -EINVAL. To detach, the flag is set first under
 * device->ioasid_access_rwsem, which waits for the pins and copies under
 * way and keeps new ones out; then the driver's dma_unmap is told, for
 * each mapping it pins pages of, that the mapping goes away, so it drops
 * every pin; then the access leaves its IOAS.
 *
 * A VFIO group is used either through the group path (a container or a
 * /dev/ioasid file set on the group) or through the cdevs of its devices,
 * never both at once: group->cdev_bound counts the devices bound through
 * their cdev, under group_lock, and VFIO_GROUP_SET_CONTAINER fails with
 * -EBUSY while it is not zero.
 *
 * Locking: a file's lock serializes its bind, attach, detach and release,
 * and nests outside dev_set->lock, which nests outside group_lock as in
 * vfio_main.c. The device ioctls, read, write and mmap take no lock here:
 * they only need the file bound, which it stays until release.
 */
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/ioasid_core.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "vfio.h"

MODULE_IMPORT_NS(IOASID);

/**
 * struct vfio_cdev_file - a file opened on a device cdev
 * @device: the device, holding a registration reference
 * @lock: serializes bind, attach, detach and release
 * @ictx: the /dev/ioasid context the file is bound to, with a reference
 * @idev: the device bound in @ictx, or NULL for an emulated device
 * @access: the access of an emulated device in @ictx, or NULL
 * @ioas_id: the IOAS @access is attached to, while @attached
 * @attached: @idev is attached to an IOAS or a HWPT, or @access to an IOAS
 * @bound: set once by bind, after the rest; read without @lock
 * @pasids: PASIDs of @idev attached through this file, as xa_mk_value(0)
 */
struct vfio_cdev_file {
	struct vfio_device *device;
	struct mutex lock;	/* serializes bind, attach, detach, release */
	struct ioasid_ctx *ictx;
	struct ioasid_device *idev;
	struct ioasid_access *access;
	u32 ioas_id;
	bool attached;
	bool bound;
	struct xarray pasids;
};

static dev_t vfio_cdev_devt;

/* True once bound; a bound file stays bound until its release. */
static bool vfio_cdev_bound(struct vfio_cdev_file *cf)
{
	/* Pairs with smp_store_release() in vfio_cdev_bind() */
	return smp_load_acquire(&cf->bound);
}

/* The group types the cdev serves. */
static int vfio_cdev_check_group_type(struct vfio_group *group)
{
	switch (group->type) {
	case VFIO_IOMMU:
	case VFIO_EMULATED_IOMMU:
		return 0;
	default:
		/* No-IOMMU: there is no isolation to hand out */
		return -EPERM;
	}
}

/* Keep the group path away while a device of the group is bound here. */
static int vfio_cdev_claim_group(struct vfio_group *group)
{
	int ret = 0;

	mutex_lock(&group->group_lock);
	if (group->container || group->ioasid_ctx)
		ret = -EBUSY;
	else
		group->cdev_bound++;
	mutex_unlock(&group->group_lock);
	return ret;
}

static void vfio_cdev_release_group(struct vfio_group *group)
{
	mutex_lock(&group->group_lock);
	WARN_ON(!group->cdev_bound);
	group->cdev_bound--;
	mutex_unlock(&group->group_lock);
}

/*
 * Give @cf's device its handle in @ictx: a bound device, or an access for
 * an emulated device. Returns 0 and the handle's ID in @id, or an errno.
 */
static int vfio_cdev_bind_ctx(struct vfio_cdev_file *cf,
			      struct ioasid_ctx *ictx, u32 *id)
{
	struct vfio_device *device = cf->device;
	struct ioasid_access *access;
	struct ioasid_device *idev;

	if (device->group->type == VFIO_EMULATED_IOMMU) {
		access = vfio_ioasid_access_create(device, ictx, id);
		if (IS_ERR(access))
			return PTR_ERR(access);
		cf->access = access;
		/* Before open_device(): the driver may use it from then on */
		device->ioasid_access = access;
		return 0;
	}
	idev = ioasid_device_bind(ictx, device->dev, id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	cf->idev = idev;
	return 0;
}

/* Undo vfio_cdev_bind_ctx(), which detaches, once the driver is done. */
static void vfio_cdev_unbind_ctx(struct vfio_cdev_file *cf)
{
	if (cf->access) {
		cf->device->ioasid_access = NULL;
		ioasid_access_destroy(cf->access);
		cf->access = NULL;
	} else {
		/* Unbinding detaches the PASIDs too. */
		ioasid_device_unbind(cf->idev);
		cf->idev = NULL;
		xa_destroy(&cf->pasids);
	}
	cf->attached = false;
}

/*
 * Bind @cf's device to @ictx and open it, as its only user. Returns 0 and
 * the ID of the device or access in @id, or an errno with nothing done.
 */
static int vfio_cdev_open_device(struct vfio_cdev_file *cf,
				 struct ioasid_ctx *ictx, u32 *id)
{
	struct vfio_device *device = cf->device;
	int ret;

	mutex_lock(&device->dev_set->lock);
	/* Open through the group path or another cdev file */
	if (device->open_count) {
		ret = -EBUSY;
		goto err_unlock;
	}
	ret = vfio_cdev_claim_group(device->group);
	if (ret)
		goto err_unlock;
	if (!try_module_get(device->dev->driver->owner)) {
		ret = -ENODEV;
		goto err_release_group;
	}
	ret = vfio_cdev_bind_ctx(cf, ictx, id);
	if (ret)
		goto err_module_put;
	if (device->ops->open_device) {
		ret = device->ops->open_device(device);
		if (ret)
			goto err_unbind;
	}
	device->open_count = 1;
	mutex_unlock(&device->dev_set->lock);
	return 0;

err_unbind:
	vfio_cdev_unbind_ctx(cf);
err_module_put:
	module_put(device->dev->driver->owner);
err_release_group:
	vfio_cdev_release_group(device->group);
err_unlock:
	mutex_unlock(&device->dev_set->lock);
	return ret;
}

/*
 * Undo vfio_cdev_open_device(). The driver unpins in close_device, before
 * the unbind detaches the device or the access.
 */
static void vfio_cdev_close_device(struct vfio_cdev_file *cf)
{
	struct vfio_device *device = cf->device;

	mutex_lock(&device->dev_set->lock);
	vfio_assert_device_open(device);
	if (device->ops->close_device)
		device->ops->close_device(device);
	vfio_cdev_unbind_ctx(cf);
	device->open_count = 0;
	module_put(device->dev->driver->owner);
	vfio_cdev_release_group(device->group);
	mutex_unlock(&device->dev_set->lock);
}

static struct ioasid_ctx *vfio_cdev_get_ctx(int fd)
{
	struct ioasid_ctx *ictx = ioasid_ctx_from_fd(fd);

	/* A file that is not /dev/ioasid is an invalid argument. */
	if (IS_ERR(ictx) && PTR_ERR(ictx) != -EBADF)
		return ERR_PTR(-EINVAL);
	return ictx;
}

static long vfio_cdev_bind(struct vfio_cdev_file *cf,
			   struct vfio_device_bind_ioasid __user *arg)
{
	unsigned long minsz =
		offsetofend(struct vfio_device_bind_ioasid, out_dev_id);
	struct vfio_device *device = cf->device;
	struct vfio_device_bind_ioasid bind;
	struct ioasid_ctx *ictx;
	u32 dev_id;
	long ret;

	if (copy_from_user(&bind, arg, minsz))
		return -EFAULT;
	if (bind.argsz < minsz || bind.flags)
		return -EINVAL;
	ret = vfio_cdev_check_group_type(device->group);
	if (ret)
		return ret;

	mutex_lock(&cf->lock);
	if (cf->bound) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ictx = vfio_cdev_get_ctx(bind.ioasid_fd);
	if (IS_ERR(ictx)) {
		ret = PTR_ERR(ictx);
		goto out_unlock;
	}
	ret = vfio_cdev_open_device(cf, ictx, &dev_id);
	if (ret)
		goto err_put_ctx;
	if (put_user(dev_id, &arg->out_dev_id)) {
		ret = -EFAULT;
		goto err_close;
	}
	cf->ictx = ictx;
	/* Pairs with smp_load_acquire() in vfio_cdev_bound() */
	smp_store_release(&cf->bound, true);
	mutex_unlock(&cf->lock);
	return 0;

err_close:
	vfio_cdev_close_device(cf);
err_put_ctx:
	ioasid_ctx_put(ictx);
out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

/* Stop, or let through, the driver's pins and copies through the access. */
static void vfio_cdev_access_set_off(struct vfio_device *device, bool off)
{
	down_write(&device->ioasid_access_rwsem);
	device->ioasid_access_off = off;
	up_write(&device->ioasid_access_rwsem);
}

/*
 * Detach the access of an emulated device. The driver is first told, one
 * mapping at a time, to let go of the pins it holds.
 */
static void vfio_cdev_access_detach(struct vfio_cdev_file *cf)
{
	struct vfio_device *device = cf->device;

	lockdep_assert_held(&cf->lock);
	vfio_cdev_access_set_off(device, true);
	ioasid_access_release_pins(cf->access);
	ioasid_access_detach(cf->access);
	cf->attached = false;
}

/*
 * Attach the access of an emulated device to IOAS @ioas_id, leaving any
 * IOAS it is attached to. On failure it goes back to that IOAS if it can:
 * userspace may have destroyed it in between, and then it stays detached.
 */
static int vfio_cdev_access_attach(struct vfio_cdev_file *cf, u32 ioas_id)
{
	bool was_attached = cf->attached;
	int ret;

	lockdep_assert_held(&cf->lock);
	/* Attaching to where it is changes nothing, as for other devices */
	if (was_attached && ioas_id == cf->ioas_id)
		return 0;
	if (was_attached)
		vfio_cdev_access_detach(cf);
	ret = ioasid_access_attach(cf->access, ioas_id);
	if (!ret)
		cf->ioas_id = ioas_id;
	else if (!was_attached ||
		 ioasid_access_attach(cf->access, cf->ioas_id))
		return ret;
	cf->attached = true;
	vfio_cdev_access_set_off(cf->device, false);
	return ret;
}

/* Attach a PASID, or replace its attachment; under @cf->lock. */
static int vfio_cdev_attach_pasid(struct vfio_cdev_file *cf, u32 pasid,
				  u32 *pt_id)
{
	int ret;

	/* 6.1's vfio_pin_pages() and vfio_dma_rw() carry no PASID. */
	if (cf->access)
		return -EOPNOTSUPP;
	if (pasid == IOASID_PASID_RID)
		return -EINVAL;
	if (xa_load(&cf->pasids, pasid))
		return ioasid_device_replace_pasid(cf->idev, pasid, pt_id);
	ret = xa_insert(&cf->pasids, pasid, xa_mk_value(0), GFP_KERNEL_ACCOUNT);
	if (ret)
		return ret;
	ret = ioasid_device_attach_pasid(cf->idev, pasid, pt_id);
	if (ret)
		xa_erase(&cf->pasids, pasid);
	return ret;
}

/* Attach the RID or a PASID, or replace its attachment if there is one. */
static long vfio_cdev_attach(struct vfio_cdev_file *cf,
			     struct vfio_device_attach_ioasid_pt __user *arg)
{
	unsigned long minsz =
		offsetofend(struct vfio_device_attach_ioasid_pt, pasid);
	struct vfio_device_attach_ioasid_pt attach;
	long ret;

	if (copy_from_user(&attach, arg, minsz))
		return -EFAULT;
	if (attach.argsz < minsz || attach.flags & ~VFIO_DEVICE_ATTACH_PASID)
		return -EINVAL;
	if (!(attach.flags & VFIO_DEVICE_ATTACH_PASID) && attach.pasid)
		return -EINVAL;

	mutex_lock(&cf->lock);
	if (attach.flags & VFIO_DEVICE_ATTACH_PASID) {
		ret = vfio_cdev_attach_pasid(cf, attach.pasid, &attach.pt_id);
	} else if (cf->access) {
		/* pt_id names an IOAS and stays as it is */
		ret = vfio_cdev_access_attach(cf, attach.pt_id);
		mutex_unlock(&cf->lock);
		return ret;
	} else if (cf->attached) {
		ret = ioasid_device_replace(cf->idev, &attach.pt_id);
	} else {
		ret = ioasid_device_attach(cf->idev, &attach.pt_id);
		if (!ret)
			cf->attached = true;
	}
	/* Still attached on -EFAULT; DETACH undoes it. */
	if (!ret && put_user(attach.pt_id, &arg->pt_id))
		ret = -EFAULT;
	mutex_unlock(&cf->lock);
	return ret;
}

static long vfio_cdev_detach_pasid(struct vfio_cdev_file *cf,
				   struct vfio_device_detach_ioasid_pt __user *arg,
				   u32 argsz)
{
	unsigned long minsz =
		offsetofend(struct vfio_device_detach_ioasid_pt, __reserved);
	struct vfio_device_detach_ioasid_pt detach;
	long ret = 0;

	if (argsz < minsz)
		return -EINVAL;
	if (copy_from_user(&detach, arg, minsz))
		return -EFAULT;
	if (detach.__reserved)
		return -EINVAL;
	mutex_lock(&cf->lock);
	if (cf->access || !xa_erase(&cf->pasids, detach.pasid))
		ret = -EINVAL;
	else
		ioasid_device_detach_pasid(cf->idev, detach.pasid);
	mutex_unlock(&cf->lock);
	return ret;
}

static long vfio_cdev_detach(struct vfio_cdev_file *cf,
			     struct vfio_device_detach_ioasid_pt __user *arg)
{
	unsigned long minsz =
		offsetofend(struct vfio_device_detach_ioasid_pt, flags);
	struct vfio_device_detach_ioasid_pt detach;
	long ret = 0;

	if (copy_from_user(&detach, arg, minsz))
		return -EFAULT;
	if (detach.argsz < minsz || detach.flags & ~VFIO_DEVICE_DETACH_PASID)
		return -EINVAL;
	if (detach.flags & VFIO_DEVICE_DETACH_PASID)
		return vfio_cdev_detach_pasid(cf, arg, detach.argsz);

	mutex_lock(&cf->lock);
	if (cf->attached && cf->access) {
		vfio_cdev_access_detach(cf);
	} else if (cf->attached) {
		ioasid_device_detach(cf->idev);
		cf->attached = false;
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&cf->lock);
	return ret;
}

static long vfio_cdev_fops_ioctl(struct file *filep, unsigned int cmd,
				 unsigned long arg)
{
	struct vfio_cdev_file *cf = filep->private_data;
	void __user *uarg = (void __user *)arg;

	if (cmd == VFIO_DEVICE_BIND_IOASID)
		return vfio_cdev_bind(cf, uarg);
	if (!vfio_cdev_bound(cf))
		return -EINVAL;

	switch (cmd) {
	case VFIO_DEVICE_ATTACH_IOASID_PT:
		return vfio_cdev_attach(cf, uarg);
	case VFIO_DEVICE_DETACH_IOASID_PT:
		return vfio_cdev_detach(cf, uarg);
	default:
		return vfio_device_ioctl(cf->device, cmd, arg);
	}
}

static ssize_t vfio_cdev_fops_read(struct file *filep, char __user *buf,
				   size_t count, loff_t *ppos)
{
	struct vfio_cdev_file *cf = filep->private_data;

	if (!vfio_cdev_bound(cf))
		return -EINVAL;
	return vfio_device_read(cf->device, buf, count, ppos);
}

static ssize_t vfio_cdev_fops_write(struct file *filep, const char __user *buf,
				    size_t count, loff_t *ppos)
{
	struct vfio_cdev_file *cf = filep->private_data;

	if (!vfio_cdev_bound(cf))
		return -EINVAL;
	return vfio_device_write(cf->device, buf, count, ppos);
}

static int vfio_cdev_fops_mmap(struct file *filep, struct vm_area_struct *vma)
{
	struct vfio_cdev_file *cf = filep->private_data;

	if (!vfio_cdev_bound(cf))
		return -EINVAL;
	return vfio_device_mmap(cf->device, vma);
}

static int vfio_cdev_fops_open(struct inode *inode, struct file *filep)
{
	struct vfio_device *device =
		container_of(inode->i_cdev, struct vfio_device, cdev);
	struct vfio_cdev_file *cf;

	/* Dropped at release; unregistration waits for it. */
	if (!vfio_device_try_get_registration(device))
		return -ENODEV;
	cf = kzalloc(sizeof(*cf), GFP_KERNEL_ACCOUNT);
	if (!cf) {
		vfio_device_put_registration(device);
		return -ENOMEM;
	}
	cf->device = device;
	mutex_init(&cf->lock);
	xa_init(&cf->pasids);
	filep->private_data = cf;
	return 0;
}

static int vfio_cdev_fops_release(struct inode *inode, struct file *filep)
{
	struct vfio_cdev_file *cf = filep->private_data;
	struct vfio_device *device = cf->device;

	mutex_lock(&cf->lock);
	if (cf->bound) {
		vfio_cdev_close_device(cf);
		ioasid_ctx_put(cf->ictx);
	}
	mutex_unlock(&cf->lock);
	xa_destroy(&cf->pasids);
	mutex_destroy(&cf->lock);
	kfree(cf);
	vfio_device_put_registration(device);
	return 0;
}

static const struct file_operations vfio_cdev_fops = {
	.owner		= THIS_MODULE,
	.open		= vfio_cdev_fops_open,
	.release	= vfio_cdev_fops_release,
	.read		= vfio_cdev_fops_read,
	.write		= vfio_cdev_fops_write,
	.unlocked_ioctl	= vfio_cdev_fops_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= vfio_cdev_fops_mmap,
};

static char *vfio_cdev_devnode(struct device *dev, umode_t *mode)
{
	return kasprintf(GFP_KERNEL, "vfio/devices/%s", dev_name(dev));
}

/**
 * vfio_cdev_init() - set up the device cdevs at module init
 * @device_class: the vfio-dev class, whose nodes go in /dev/vfio/devices/
 *
 * Return: 0 or the errno of allocating the char device numbers.
 */
int vfio_cdev_init(struct class *device_class)
{
	device_class->devnode = vfio_cdev_devnode;
	return alloc_chrdev_region(&vfio_cdev_devt, 0, MINORMASK + 1,
				   "vfio-dev");
}

/**
 * vfio_cdev_cleanup() - undo vfio_cdev_init() at module exit
 */
void vfio_cdev_cleanup(void)
{
	unregister_chrdev_region(vfio_cdev_devt, MINORMASK + 1);
}

/**
 * vfio_device_cdev_init() - prepare a device's cdev, numbered by its index
 * @device: device being initialized, after device_initialize()
 */
void vfio_device_cdev_init(struct vfio_device *device)
{
	device->device.devt = MKDEV(MAJOR(vfio_cdev_devt), device->index);
	cdev_init(&device->cdev, &vfio_cdev_fops);
	device->cdev.owner = THIS_MODULE;
}

/**
 * vfio_device_cdev_add() - add a device and its cdev at registration
 * @device: device being registered
 *
 * Return: 0 or an errno, with neither added.
 */
int vfio_device_cdev_add(struct vfio_device *device)
{
	return cdev_device_add(&device->cdev, &device->device);
}

/**
 * vfio_device_cdev_del() - undo vfio_device_cdev_add() at unregistration
 * @device: device being unregistered, no longer in use
 */
void vfio_device_cdev_del(struct vfio_device *device)
{
	cdev_device_del(&device->cdev, &device->device);
}
