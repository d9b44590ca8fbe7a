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
 * device's DMA between IOASes and HWPTs of that context. Closing the file
 * closes the device and unbinds it, which detaches it.
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
 * @idev: the device bound in @ictx; set once by bind, read without @lock
 * @attached: @idev is attached to an IOAS or a HWPT
 */
struct vfio_cdev_file {
	struct vfio_device *device;
	struct mutex lock;	/* serializes bind, attach, detach, release */
	struct ioasid_ctx *ictx;
	struct ioasid_device *idev;
	bool attached;
};

static dev_t vfio_cdev_devt;

/* True once bound; a bound file stays bound until its release. */
static bool vfio_cdev_bound(struct vfio_cdev_file *cf)
{
	/* Pairs with smp_store_release() in vfio_cdev_bind() */
	return smp_load_acquire(&cf->idev);
}

/* The group types the cdev serves. */
static int vfio_cdev_check_group_type(struct vfio_group *group)
{
	switch (group->type) {
	case VFIO_IOMMU:
		return 0;
	case VFIO_NO_IOMMU:
		return -EPERM;
	default:
		/* Emulated devices would need accesses; not yet. */
		return -EOPNOTSUPP;
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
 * Bind @device to @ictx and open it, as its only user. Returns the bound
 * device or an ERR_PTR, with nothing done.
 */
static struct ioasid_device *vfio_cdev_open_device(struct vfio_device *device,
						   struct ioasid_ctx *ictx,
						   u32 *dev_id)
{
	struct ioasid_device *idev;
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
	idev = ioasid_device_bind(ictx, device->dev, dev_id);
	if (IS_ERR(idev)) {
		ret = PTR_ERR(idev);
		goto err_module_put;
	}
	if (device->ops->open_device) {
		ret = device->ops->open_device(device);
		if (ret)
			goto err_unbind;
	}
	device->open_count = 1;
	mutex_unlock(&device->dev_set->lock);
	return idev;

err_unbind:
	ioasid_device_unbind(idev);
err_module_put:
	module_put(device->dev->driver->owner);
err_release_group:
	vfio_cdev_release_group(device->group);
err_unlock:
	mutex_unlock(&device->dev_set->lock);
	return ERR_PTR(ret);
}

/* Undo vfio_cdev_open_device(); unbinding detaches the device. */
static void vfio_cdev_close_device(struct vfio_device *device,
				   struct ioasid_device *idev)
{
	mutex_lock(&device->dev_set->lock);
	vfio_assert_device_open(device);
	if (device->ops->close_device)
		device->ops->close_device(device);
	ioasid_device_unbind(idev);
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
	struct ioasid_device *idev;
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
	if (cf->idev) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ictx = vfio_cdev_get_ctx(bind.ioasid_fd);
	if (IS_ERR(ictx)) {
		ret = PTR_ERR(ictx);
		goto out_unlock;
	}
	idev = vfio_cdev_open_device(device, ictx, &dev_id);
	if (IS_ERR(idev)) {
		ret = PTR_ERR(idev);
		goto err_put_ctx;
	}
	if (put_user(dev_id, &arg->out_dev_id)) {
		ret = -EFAULT;
		goto err_close;
	}
	cf->ictx = ictx;
	/* Pairs with smp_load_acquire() in vfio_cdev_bound() */
	smp_store_release(&cf->idev, idev);
	mutex_unlock(&cf->lock);
	return 0;

err_close:
	vfio_cdev_close_device(device, idev);
err_put_ctx:
	ioasid_ctx_put(ictx);
out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

/* Attach, or replace the attachment if there is one. */
static long vfio_cdev_attach(struct vfio_cdev_file *cf,
			     struct vfio_device_attach_ioasid_pt __user *arg)
{
	unsigned long minsz =
		offsetofend(struct vfio_device_attach_ioasid_pt, __reserved);
	struct vfio_device_attach_ioasid_pt attach;
	long ret;

	if (copy_from_user(&attach, arg, minsz))
		return -EFAULT;
	if (attach.argsz < minsz || attach.flags || attach.__reserved)
		return -EINVAL;

	mutex_lock(&cf->lock);
	if (cf->attached)
		ret = ioasid_device_replace(cf->idev, &attach.pt_id);
	else
		ret = ioasid_device_attach(cf->idev, &attach.pt_id);
	if (!ret) {
		cf->attached = true;
		/* Still attached on -EFAULT; DETACH undoes it. */
		if (put_user(attach.pt_id, &arg->pt_id))
			ret = -EFAULT;
	}
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
	if (detach.argsz < minsz || detach.flags)
		return -EINVAL;

	mutex_lock(&cf->lock);
	if (cf->attached) {
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
	filep->private_data = cf;
	return 0;
}

static int vfio_cdev_fops_release(struct inode *inode, struct file *filep)
{
	struct vfio_cdev_file *cf = filep->private_data;
	struct vfio_device *device = cf->device;

	mutex_lock(&cf->lock);
	if (cf->idev) {
		vfio_cdev_close_device(device, cf->idev);
		ioasid_ctx_put(cf->ictx);
	}
	mutex_unlock(&cf->lock);
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
