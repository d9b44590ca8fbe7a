// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/ioasid: the file, the object table and ioctl dispatch.
 *
 * Every object lives in the per-file xarray under a u32 ID. Creation has
 * three steps: ioasid_object_reserve() takes an ID and holds it with
 * XA_ZERO_ENTRY, which lookups cannot see; the caller builds the object;
 * ioasid_object_publish() stores the pointer. A failed build calls
 * ioasid_object_abort(), which frees the ID. So userspace never reaches a
 * half-built object.
 *
 * obj->users counts the table's own reference, lookups in flight and
 * dependents (a HWPT holds its IOAS, a device its HWPT, a driver its
 * device). Destroy succeeds only when the table's reference is the last,
 * so an object in use stays and the caller gets EBUSY.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <uapi/linux/ioasid.h>
#include <uapi/linux/vfio.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

static void (*const ioasid_destroy_fns[IOASID_OBJ_NUM])(struct ioasid_object *) = {
	[IOASID_OBJ_IOAS] = ioasid_ioas_destroy,
	[IOASID_OBJ_HWPT] = ioasid_hwpt_destroy,
	[IOASID_OBJ_DEVICE] = ioasid_device_destroy,
	[IOASID_OBJ_ACCESS] = ioasid_access_obj_destroy,
};

/**
 * ioasid_object_reserve() - allocate an object and reserve an ID for it
 * @ictx: context
 * @size: size of the containing structure, whose first member is the header
 * @type: its type
 *
 * Return: the header, not yet visible to lookups, or an ERR_PTR.
 */
void *ioasid_object_reserve(struct ioasid_ctx *ictx, size_t size,
			    enum ioasid_object_type type)
{
	struct ioasid_object *obj;
	int rc;

	obj = kzalloc(size, GFP_KERNEL_ACCOUNT);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	obj->type = type;
	refcount_set(&obj->users, 1);
	rc = xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b,
		      GFP_KERNEL_ACCOUNT);
	if (rc) {
		kfree(obj);
		return ERR_PTR(rc);
	}
	return obj;
}

/**
 * ioasid_object_publish() - make a fully built object visible
 * @ictx: context
 * @obj: object from ioasid_object_reserve()
 */
void ioasid_object_publish(struct ioasid_ctx *ictx, struct ioasid_object *obj)
{
	void *old;

	old = xa_store(&ictx->objects, obj->id, obj, GFP_KERNEL);
	IOASID_WARN_ON(old);
}

/**
 * ioasid_object_abort() - free a reserved, never published object
 * @ictx: context
 * @obj: object from ioasid_object_reserve(), with nothing left in it
 */
void ioasid_object_abort(struct ioasid_ctx *ictx, struct ioasid_object *obj)
{
	xa_erase(&ictx->objects, obj->id);
	kfree(obj);
}

/**
 * ioasid_get_object() - look up an object and take a reference on it
 * @ictx: context
 * @id: ID from userspace
 * @type: the type wanted, or IOASID_OBJ_ANY
 *
 * Return: the object, or ERR_PTR(-ENOENT).
 */
struct ioasid_object *ioasid_get_object(struct ioasid_ctx *ictx, u32 id,
					enum ioasid_object_type type)
{
	struct ioasid_object *obj;

	xa_lock(&ictx->objects);
	obj = xa_load(&ictx->objects, id);
	if (!obj || (type != IOASID_OBJ_ANY && obj->type != type) ||
	    !refcount_inc_not_zero(&obj->users))
		obj = ERR_PTR(-ENOENT);
	xa_unlock(&ictx->objects);
	return obj;
}

/**
 * ioasid_put_object() - drop a reference from ioasid_get_object()
 * @obj: object
 *
 * The table always holds one reference, so this never frees. Wakes up a
 * driver waiting in unbind for lookups to finish.
 */
void ioasid_put_object(struct ioasid_object *obj)
{
	IOASID_WARN_ON(refcount_dec_and_test(&obj->users));
	/* Someone may wait for the object to be unused, see unbind. */
	wake_up_var(&obj->users);
}

/**
 * ioasid_object_remove() - take an unused object out of the table
 * @ictx: context
 * @obj: object; the caller holds no reference of its own
 *
 * Return: 0 when removed (the caller destroys it), -EBUSY when in use.
 */
int ioasid_object_remove(struct ioasid_ctx *ictx, struct ioasid_object *obj)
{
	int rc = 0;

	xa_lock(&ictx->objects);
	if (!refcount_dec_if_one(&obj->users))
		rc = -EBUSY;
	else
		__xa_erase(&ictx->objects, obj->id);
	xa_unlock(&ictx->objects);
	return rc;
}

/**
 * ioasid_object_remove_owned() - take out an object its driver held
 * @ictx: context
 * @obj: object created for a driver, which held one reference on it
 *
 * Drops the driver's reference and waits for lookups in flight to end,
 * then takes the object out of the table; the caller destroys it.
 */
void ioasid_object_remove_owned(struct ioasid_ctx *ictx,
				struct ioasid_object *obj)
{
	refcount_dec(&obj->users);
	while (ioasid_object_remove(ictx, obj))
		wait_var_event(&obj->users, refcount_read(&obj->users) == 1);
}

static void ioasid_object_destroy(struct ioasid_object *obj)
{
	ioasid_destroy_fns[obj->type](obj);
}

static int ioasid_destroy(struct ioasid_ucmd *ucmd)
{
	struct ioasid_destroy *cmd = ucmd->cmd;
	struct xarray *objects = &ucmd->ictx->objects;
	struct ioasid_object *obj;
	int rc = 0;

	/* Look up and remove in one critical section: two destroys race. */
	xa_lock(objects);
	obj = xa_load(objects, cmd->id);
	if (!obj)
		rc = -ENOENT;
	else if (!refcount_dec_if_one(&obj->users))
		rc = -EBUSY;
	else
		__xa_erase(objects, obj->id);
	xa_unlock(objects);
	if (rc)
		return rc;
	ioasid_object_destroy(obj);
	return 0;
}

static int ioasid_option_rlimit_mode(struct ioasid_ucmd *ucmd)
{
	struct ioasid_option *cmd = ucmd->cmd;
	struct ioasid_ctx *ictx = ucmd->ictx;

	if (cmd->object_id)
		return -EINVAL;
	if (cmd->op == IOASID_OPTION_OP_GET) {
		cmd->val64 = ictx->account_mode;
		return ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	}
	if (cmd->val64 > IOASID_ACCT_MM)
		return -EINVAL;
	if (atomic_long_read(&ictx->pinned_pages))
		return -EBUSY;
	ictx->account_mode = cmd->val64;
	return 0;
}

static int ioasid_option(struct ioasid_ucmd *ucmd)
{
	struct ioasid_option *cmd = ucmd->cmd;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->op != IOASID_OPTION_OP_SET && cmd->op != IOASID_OPTION_OP_GET)
		return -EOPNOTSUPP;
	switch (cmd->option_id) {
	case IOASID_OPTION_RLIMIT_MODE:
		return ioasid_option_rlimit_mode(ucmd);
	case IOASID_OPTION_HUGE_PAGES:
		return ioasid_ioas_option(ucmd);
	}
	return -EOPNOTSUPP;
}

/**
 * ioasid_ucmd_respond() - copy the command back to userspace
 * @ucmd: command in flight
 * @cmd_len: the kernel's size of the command
 *
 * Return: 0 or -EFAULT.
 */
int ioasid_ucmd_respond(struct ioasid_ucmd *ucmd, size_t cmd_len)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, cmd_len)))
		return -EFAULT;
	return 0;
}

union ioasid_ucmd_buffer {
	struct ioasid_destroy destroy;
	struct ioasid_ioas_alloc alloc;
	struct ioasid_ioas_iova_ranges iova_ranges;
	struct ioasid_ioas_allow_iovas allow_iovas;
	struct ioasid_ioas_map map;
	struct ioasid_ioas_copy copy;
	struct ioasid_ioas_unmap unmap;
	struct ioasid_option option;
	struct ioasid_hwpt_alloc hwpt_alloc;
	struct ioasid_vfio_ioas vfio_ioas;
#ifdef CONFIG_IOASID_TEST
	struct ioasid_test test;
#endif
};

struct ioasid_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	int (*execute)(struct ioasid_ucmd *ucmd);
};

#define IOCTL_OP(_ioctl, _fn, _struct, _last)                                  \
	[_IOC_NR(_ioctl) - IOASID_CMD_BASE] = {                                \
		.size = sizeof(_struct) +                                      \
			BUILD_BUG_ON_ZERO(sizeof(union ioasid_ucmd_buffer) <   \
					  sizeof(_struct)),                    \
		.min_size = offsetofend(_struct, _last),                       \
		.execute = _fn,                                                \
	}

static const struct ioasid_ioctl_op ioasid_ioctl_ops[] = {
	IOCTL_OP(IOASID_DESTROY, ioasid_destroy, struct ioasid_destroy, id),
	IOCTL_OP(IOASID_IOAS_ALLOC, ioasid_ioas_alloc_ioctl,
		 struct ioasid_ioas_alloc, out_ioas_id),
	IOCTL_OP(IOASID_IOAS_IOVA_RANGES, ioasid_ioas_iova_ranges_ioctl,
		 struct ioasid_ioas_iova_ranges, out_iova_alignment),
	IOCTL_OP(IOASID_IOAS_ALLOW_IOVAS, ioasid_ioas_allow_iovas_ioctl,
		 struct ioasid_ioas_allow_iovas, allowed_iovas),
	IOCTL_OP(IOASID_IOAS_MAP, ioasid_ioas_map_ioctl, struct ioasid_ioas_map,
		 iova),
	IOCTL_OP(IOASID_IOAS_COPY, ioasid_ioas_copy_ioctl,
		 struct ioasid_ioas_copy, src_iova),
	IOCTL_OP(IOASID_IOAS_UNMAP, ioasid_ioas_unmap_ioctl,
		 struct ioasid_ioas_unmap, length),
	IOCTL_OP(IOASID_OPTION, ioasid_option, struct ioasid_option, val64),
	IOCTL_OP(IOASID_HWPT_ALLOC, ioasid_hwpt_alloc_ioctl,
		 struct ioasid_hwpt_alloc, __reserved),
	IOCTL_OP(IOASID_VFIO_IOAS, ioasid_vfio_ioas_ioctl,
		 struct ioasid_vfio_ioas, __reserved),
#ifdef CONFIG_IOASID_TEST
	IOCTL_OP(IOASID_TEST, ioasid_test_ioctl, struct ioasid_test, fail),
#endif
};

static long ioasid_fops_ioctl(struct file *filp, unsigned int cmd,
			      unsigned long arg)
{
	const struct ioasid_ioctl_op *op;
	union ioasid_ucmd_buffer buf;
	struct ioasid_ucmd ucmd = {};
	unsigned int nr = _IOC_NR(cmd);
	int rc;

	if (_IOC_TYPE(cmd) == VFIO_TYPE)
		return ioasid_vfio_ioctl(filp->private_data, cmd, arg);
	if (_IOC_TYPE(cmd) != IOASID_TYPE || nr < IOASID_CMD_BASE ||
	    nr - IOASID_CMD_BASE >= ARRAY_SIZE(ioasid_ioctl_ops))
		return -ENOTTY;
	op = &ioasid_ioctl_ops[nr - IOASID_CMD_BASE];
	if (!op->execute || cmd != _IO(IOASID_TYPE, nr))
		return -ENOTTY;

	ucmd.ictx = filp->private_data;
	ucmd.ubuffer = (void __user *)arg;
	rc = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (rc)
		return rc;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;
	ucmd.cmd = &buf;
	rc = copy_struct_from_user(ucmd.cmd, op->size, ucmd.ubuffer,
				   ucmd.user_size);
	if (rc)
		return rc;
	return op->execute(&ucmd);
}

static int ioasid_fops_open(struct inode *inode, struct file *filp)
{
	struct ioasid_ctx *ictx;

	ictx = kzalloc(sizeof(*ictx), GFP_KERNEL_ACCOUNT);
	if (!ictx)
		return -ENOMEM;
	xa_init_flags(&ictx->objects, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	mutex_init(&ictx->vfio_lock);
	INIT_LIST_HEAD(&ictx->vfio_groups);
	ictx->file = filp;
	filp->private_data = ictx;
	return 0;
}

/*
 * Destroy every object, dependents first: each pass destroys the objects
 * nothing else holds, which releases what they held for the next pass.
 */
static void ioasid_ctx_destroy_objects(struct ioasid_ctx *ictx)
{
	struct ioasid_object *obj;
	unsigned long index;
	bool progress;

	do {
		progress = false;
		xa_for_each(&ictx->objects, index, obj) {
			if (ioasid_object_remove(ictx, obj))
				continue;
			ioasid_object_destroy(obj);
			progress = true;
		}
	} while (progress);
	IOASID_WARN_ON(!xa_empty(&ictx->objects));
}

static int ioasid_fops_release(struct inode *inode, struct file *filp)
{
	struct ioasid_ctx *ictx = filp->private_data;

	ioasid_vfio_compat_release(ictx);
	ioasid_ctx_destroy_objects(ictx);
	IOASID_WARN_ON(atomic_long_read(&ictx->pinned_pages));
	xa_destroy(&ictx->objects);
	mutex_destroy(&ictx->vfio_lock);
	kfree(ictx);
	return 0;
}

static const struct file_operations ioasid_fops = {
	.owner = THIS_MODULE,
	.open = ioasid_fops_open,
	.release = ioasid_fops_release,
	.unlocked_ioctl = ioasid_fops_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/**
 * ioasid_ctx_from_file() - the context behind a /dev/ioasid file
 * @file: a file from userspace
 *
 * Return: the context, with a reference the caller drops with
 * ioasid_ctx_put(), or ERR_PTR(-EBADFD) when @file is not /dev/ioasid.
 */
struct ioasid_ctx *ioasid_ctx_from_file(struct file *file)
{
	if (file->f_op != &ioasid_fops)
		return ERR_PTR(-EBADFD);
	get_file(file);
	return file->private_data;
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_from_file, IOASID);

/**
 * ioasid_ctx_from_fd() - the context behind a /dev/ioasid file descriptor
 * @fd: descriptor from userspace
 *
 * Return: as ioasid_ctx_from_file(), or ERR_PTR(-EBADF).
 */
struct ioasid_ctx *ioasid_ctx_from_fd(int fd)
{
	struct ioasid_ctx *ictx;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	ictx = ioasid_ctx_from_file(file);
	fput(file);
	return ictx;
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_from_fd, IOASID);

/**
 * ioasid_ctx_get() - take another reference on a context
 * @ictx: context
 */
void ioasid_ctx_get(struct ioasid_ctx *ictx)
{
	get_file(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_get, IOASID);

/**
 * ioasid_ctx_put() - drop a reference on a context
 * @ictx: context
 */
void ioasid_ctx_put(struct ioasid_ctx *ictx)
{
	fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_put, IOASID);

static struct miscdevice ioasid_misc_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ioasid",
	.fops = &ioasid_fops,
	.nodename = "ioasid",
	.mode = 0660,
};

/* /dev/vfio/vfio, when ioasid.vfio_container=1: unprivileged, as in VFIO. */
static struct miscdevice ioasid_vfio_misc_dev = {
	.minor = VFIO_MINOR,
	.name = "vfio",
	.fops = &ioasid_fops,
	.nodename = "vfio/vfio",
	.mode = 0666,
};

static int __init ioasid_init(void)
{
	int rc;

	rc = misc_register(&ioasid_misc_dev);
	if (rc)
		return rc;
	if (ioasid_vfio_container_served()) {
		rc = misc_register(&ioasid_vfio_misc_dev);
		if (rc)
			goto err_misc;
	}
	rc = ioasid_test_init();
	if (rc)
		goto err_vfio_misc;
	return 0;

err_vfio_misc:
	if (ioasid_vfio_container_served())
		misc_deregister(&ioasid_vfio_misc_dev);
err_misc:
	misc_deregister(&ioasid_misc_dev);
	return rc;
}

static void __exit ioasid_exit(void)
{
	ioasid_test_exit();
	if (ioasid_vfio_container_served())
		misc_deregister(&ioasid_vfio_misc_dev);
	misc_deregister(&ioasid_misc_dev);
}

module_init(ioasid_init);
module_exit(ioasid_exit);

MODULE_DESCRIPTION("/dev/ioasid: user-visible I/O address spaces");
MODULE_LICENSE("GPL");
