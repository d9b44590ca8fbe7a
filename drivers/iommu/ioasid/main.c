// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/ioasid: the file, its objects, and the commands that reach them.
 *
 * Objects
 * -------
 * Every object of a context sits in ictx->objects under its ID. An object
 * is born in three steps, so no command ever sees half of one:
 * ioasid_obj_new() allocates it and takes an ID that lookups skip (the
 * slot holds XA_ZERO_ENTRY); the type's code builds it; ioasid_obj_publish()
 * puts it in the slot. A build that fails calls ioasid_obj_abort(), which
 * frees the ID and lets the type undo what it had built.
 *
 * Two counts keep an object alive, and they mean different things:
 *
 *  - @holds are dependencies: the table's own, one per object built on it
 *    (a HWPT holds its IOAS, an attachment its HWPT) and one for a driver
 *    that made it. IOASID_OBJ_DESTROY succeeds only when the table's hold
 *    is the last; otherwise the object is in use: EBUSY.
 *  - @active counts commands in flight that found it by ID. They never make
 *    a destroy fail; the destroy waits for them, killable and bounded.
 *
 * A destroy takes the table's hold away first (@holds 1 -> 0, under the
 * table's lock), which closes the door: lookups and new holds fail from
 * then on. Then it waits for @active to drain, and only then frees. If
 * the wait is cut short, the hold is given back and the object lives on.
 *
 * Dropping a hold or an active count never touches the object afterwards:
 * once the count is gone, another thread may free it. A caller that must
 * learn something from an object reads it before letting go.
 *
 * Objects a driver made for its own device (a VFIO device, an emulated
 * device's access) carry @driver_owned: userspace cannot destroy them in
 * any interleaving, and the driver's unbind removes them.
 *
 * Commands
 * --------
 * Every command's structure begins with argsz and flags. The handler reads
 * it with ioasid_call_fetch(), which takes any size from the smallest
 * version the kernel knows upwards, and writes results back with
 * ioasid_call_reply().
 */
#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <uapi/linux/ioasid.h>
#include <uapi/linux/vfio.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/* How long IOASID_OBJ_DESTROY waits for other threads' commands. */
#define IOASID_DRAIN_TIMEOUT	HZ

/* Fault injection ------------------------------------------------------- */

#ifdef CONFIG_FAULT_INJECTION
static DECLARE_FAULT_ATTR(fail_ioasid);
static struct dentry *fail_ioasid_dir;

/**
 * ioasid_inject_fault() - should this pin, map or attach fail now?
 *
 * The fault_attr "fail_ioasid" (debugfs knobs, and the task's fail-nth)
 * decides. Called at every point where the core pins pages, maps into a
 * domain or attaches a device, before doing it.
 *
 * Context: process context.
 * Return: 0, or -ENOMEM when a failure is injected.
 */
int ioasid_inject_fault(void)
{
	return should_fail(&fail_ioasid, 1) ? -ENOMEM : 0;
}

static void ioasid_fault_init(void)
{
	if (IS_ENABLED(CONFIG_FAULT_INJECTION_DEBUG_FS))
		fail_ioasid_dir = fault_create_debugfs_attr("fail_ioasid", NULL,
							    &fail_ioasid);
}

static void ioasid_fault_exit(void)
{
	if (!IS_ERR_OR_NULL(fail_ioasid_dir))
		debugfs_remove_recursive(fail_ioasid_dir);
}
#else
int ioasid_inject_fault(void)
{
	return 0;
}

static void ioasid_fault_init(void)
{
}

static void ioasid_fault_exit(void)
{
}
#endif

/* Objects --------------------------------------------------------------- */

/**
 * ioasid_obj_new() - allocate an object and take an ID for it
 * @ictx: the context
 * @size: size of the containing structure; the header comes first in it
 * @ops: the object's type
 *
 * The ID is taken but not visible: lookups fail on it until
 * ioasid_obj_publish(). Undo with ioasid_obj_abort().
 *
 * Context: process context; may sleep.
 * Return: the object, zeroed but for its header, or ERR_PTR(-ENOMEM) or
 * ERR_PTR(-EBUSY) when the context has no free ID left.
 */
void *ioasid_obj_new(struct ioasid_ctx *ictx, size_t size,
		     const struct ioasid_obj_ops *ops)
{
	struct ioasid_object *obj;
	int rc;

	obj = kzalloc(size, GFP_KERNEL_ACCOUNT);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	*obj = (struct ioasid_object){
		.ops = ops,
		.ictx = ictx,
		.holds = REFCOUNT_INIT(1),
	};
	rc = xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b,
		      GFP_KERNEL_ACCOUNT);
	if (rc) {
		kfree(obj);
		return ERR_PTR(rc);
	}
	return obj;
}

/**
 * ioasid_obj_publish() - make a fully built object visible to lookups
 * @obj: from ioasid_obj_new()
 *
 * Context: process context. Cannot fail: the slot exists already.
 */
void ioasid_obj_publish(struct ioasid_object *obj)
{
	void *was;

	was = xa_store(&obj->ictx->objects, obj->id, obj, GFP_KERNEL);
	IOASID_WARN_ON(was);
}

/**
 * ioasid_obj_abort() - give up an object that was never published
 * @obj: from ioasid_obj_new()
 *
 * Frees the ID, then lets the type undo its partial build and free it.
 *
 * Context: process context; may sleep.
 */
void ioasid_obj_abort(struct ioasid_object *obj)
{
	xa_erase(&obj->ictx->objects, obj->id);
	obj->ops->abort(obj);
}

/**
 * ioasid_obj_find() - look up an object by ID for the command in flight
 * @ictx: the context
 * @id: ID from userspace
 * @ops: the type wanted, or NULL for any
 *
 * The object stays valid until ioasid_obj_done(). Finding it does not
 * hold it: a destroy in another thread waits for the command to finish.
 *
 * Context: any; takes the table's spinlock.
 * Return: the object, or ERR_PTR(-ENOENT).
 */
struct ioasid_object *ioasid_obj_find(struct ioasid_ctx *ictx, u32 id,
				      const struct ioasid_obj_ops *ops)
{
	struct ioasid_object *obj;

	xa_lock(&ictx->objects);
	obj = xa_load(&ictx->objects, id);
	if (!obj || (ops && obj->ops != ops) || !refcount_read(&obj->holds))
		obj = ERR_PTR(-ENOENT);
	else
		atomic_inc(&obj->active);
	xa_unlock(&ictx->objects);
	return obj;
}

/**
 * ioasid_obj_done() - end a use begun by ioasid_obj_find()
 * @obj: the object; the caller must not touch it afterwards
 *
 * Context: any.
 */
void ioasid_obj_done(struct ioasid_object *obj)
{
	struct ioasid_ctx *ictx = obj->ictx;

	/* Fully ordered: a destroy that waits is seen, or sees 0 itself. */
	if (atomic_dec_and_test(&obj->active) && wq_has_sleeper(&ictx->drain_wq))
		wake_up_all(&ictx->drain_wq);
}

/**
 * ioasid_obj_hold() - make another object or a driver depend on @obj
 * @obj: an object the caller found, or already holds
 *
 * Context: any.
 * Return: 0, or -ENOENT when @obj is being destroyed.
 */
int ioasid_obj_hold(struct ioasid_object *obj)
{
	return refcount_inc_not_zero(&obj->holds) ? 0 : -ENOENT;
}

/**
 * ioasid_obj_unhold() - drop a hold from ioasid_obj_hold()
 * @obj: the object; the caller must not touch it afterwards
 *
 * Never frees: the table keeps its own hold until a destroy.
 *
 * Context: any.
 */
void ioasid_obj_unhold(struct ioasid_object *obj)
{
	refcount_dec(&obj->holds);
}

/* Wait, unkillably, until no command uses @obj. No lock may be held. */
static void ioasid_obj_drain(struct ioasid_object *obj)
{
	wait_event(obj->ictx->drain_wq, !atomic_read(&obj->active));
}

/**
 * ioasid_obj_unhold_auto() - drop a hold and destroy @obj if it was the last
 * @obj: an object that lives only as long as something depends on it (an
 *	 automatic HWPT); the caller must not touch it afterwards
 *
 * Dropping the hold and taking the table's away happen under the table's
 * lock, so a concurrent IOASID_OBJ_DESTROY either ran before (and saw
 * EBUSY) or finds nothing.
 *
 * Context: process context; may sleep. No core lock may be held: the
 * destroy waits for commands in flight, which may need them.
 */
void ioasid_obj_unhold_auto(struct ioasid_object *obj)
{
	struct xarray *objects = &obj->ictx->objects;
	bool last;

	xa_lock(objects);
	refcount_dec(&obj->holds);
	last = refcount_dec_if_one(&obj->holds);
	if (last)
		__xa_erase(objects, obj->id);
	xa_unlock(objects);
	if (!last)
		return;
	ioasid_obj_drain(obj);
	obj->ops->destroy(obj);
}

/**
 * ioasid_obj_destroy_held() - destroy an object its maker still holds
 * @obj: published, with the hold its maker took at creation (a driver's
 *	 for its own device, or the builder's while a command completes it)
 *
 * Drops that hold, takes the object out of the table, waits for commands
 * in flight that found it, and destroys it. While the maker's hold is
 * there, IOASID_OBJ_DESTROY cannot succeed, so nothing else destroys it.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_obj_destroy_held(struct ioasid_object *obj)
{
	struct xarray *objects = &obj->ictx->objects;

	xa_lock(objects);
	refcount_dec(&obj->holds);
	/* Nothing depends on a device or an access but its maker. */
	IOASID_WARN_ON(!refcount_dec_if_one(&obj->holds));
	__xa_erase(objects, obj->id);
	xa_unlock(objects);
	ioasid_obj_drain(obj);
	obj->ops->destroy(obj);
}

/* Close the door on @obj: the table's hold goes, if it is the only one. */
static int ioasid_obj_seal(struct ioasid_ctx *ictx, u32 id,
			   struct ioasid_object **out)
{
	struct ioasid_object *obj;
	int rc = 0;

	xa_lock(&ictx->objects);
	obj = xa_load(&ictx->objects, id);
	if (!obj || !refcount_read(&obj->holds))
		rc = -ENOENT;
	else if (obj->driver_owned)
		rc = -EPERM;
	else if (!refcount_dec_if_one(&obj->holds))
		rc = -EBUSY;
	xa_unlock(&ictx->objects);
	*out = obj;
	return rc;
}

static void ioasid_obj_unseal(struct ioasid_object *obj)
{
	xa_lock(&obj->ictx->objects);
	refcount_set(&obj->holds, 1);
	xa_unlock(&obj->ictx->objects);
}

static int ioasid_obj_destroy_ioctl(struct ioasid_call *call)
{
	struct ioasid_ctx *ictx = call->ictx;
	struct ioasid_obj_destroy args;
	struct ioasid_object *obj;
	long left;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	rc = ioasid_obj_seal(ictx, args.obj_id, &obj);
	if (rc)
		return rc;
	left = wait_event_killable_timeout(ictx->drain_wq,
					   !atomic_read(&obj->active),
					   IOASID_DRAIN_TIMEOUT);
	if (left <= 0) {
		ioasid_obj_unseal(obj);
		return -EBUSY;
	}
	xa_erase(&ictx->objects, obj->id);
	obj->ops->destroy(obj);
	return 0;
}

/* Commands -------------------------------------------------------------- */

/**
 * ioasid_call_fetch() - copy a command's structure in from userspace
 * @call: the command in flight
 * @args: kernel buffer of @size bytes
 * @size: the structure as this kernel knows it
 * @minsz: its first version's size; a smaller argsz is EINVAL
 *
 * Context: process context; may fault.
 * Return: 0; -EFAULT; -EINVAL when argsz < @minsz; -E2BIG when argsz is
 * larger than @size and the extra bytes are not all zero.
 */
int ioasid_call_fetch(struct ioasid_call *call, void *args, size_t size,
		      size_t minsz)
{
	if (get_user(call->argsz, (u32 __user *)call->uarg))
		return -EFAULT;
	if (call->argsz < minsz)
		return -EINVAL;
	return copy_struct_from_user(args, size, call->uarg, call->argsz);
}

/**
 * ioasid_call_reply() - copy a command's structure back to userspace
 * @call: the command in flight, fetched
 * @args: kernel buffer
 * @size: its size; no more than the user's argsz is written
 *
 * Context: process context; may fault.
 * Return: 0 or -EFAULT.
 */
int ioasid_call_reply(struct ioasid_call *call, const void *args,
		      size_t size)
{
	size_t len = min_t(size_t, size, call->argsz);

	return copy_to_user(call->uarg, args, len) ? -EFAULT : 0;
}

static int ioasid_opt_accounting(struct ioasid_ctx *ictx,
				 struct ioasid_option *args)
{
	if (args->obj_id)
		return -EINVAL;
	if (!(args->flags & IOASID_OPTION_WRITE)) {
		args->value = ictx->account_mode;
		return 0;
	}
	if (args->value > IOASID_ACCT_MM)
		return -EINVAL;
	if (atomic_long_read(&ictx->pinned_pages))
		return -EBUSY;
	ictx->account_mode = args->value;
	return 0;
}

static int ioasid_option_ioctl(struct ioasid_call *call)
{
	struct ioasid_option args;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags & ~IOASID_OPTION_WRITE)
		return -EOPNOTSUPP;
	switch (args.key) {
	case IOASID_OPT_ACCOUNTING:
		rc = ioasid_opt_accounting(call->ictx, &args);
		break;
	case IOASID_OPT_LARGE_IOPTES:
		rc = ioasid_ioas_opt_large_ioptes(call->ictx, &args);
		break;
	case IOASID_OPT_PASID_MODE:
		rc = ioasid_device_opt_pasid_mode(call->ictx, &args);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc || (args.flags & IOASID_OPTION_WRITE))
		return rc;
	return ioasid_call_reply(call, &args, sizeof(args));
}

static long ioasid_fops_ioctl(struct file *filp, unsigned int cmd,
			      unsigned long arg)
{
	struct ioasid_call call = {
		.ictx = filp->private_data,
		.uarg = (void __user *)arg,
	};

	/* /dev/vfio/vfio answers what a VFIO container answers, no more. */
	if (_IOC_TYPE(cmd) == VFIO_TYPE || call.ictx->vfio_node)
		return ioasid_vfio_ioctl(call.ictx, cmd, arg);

	switch (cmd) {
	case IOASID_OBJ_DESTROY:
		return ioasid_obj_destroy_ioctl(&call);
	case IOASID_OPTION:
		return ioasid_option_ioctl(&call);
	case IOASID_IOAS_CREATE:
		return ioasid_ioas_create_ioctl(&call);
	case IOASID_IOAS_INFO:
		return ioasid_ioas_info_ioctl(&call);
	case IOASID_IOAS_LIMIT:
		return ioasid_ioas_limit_ioctl(&call);
	case IOASID_IOAS_MAP:
		return ioasid_ioas_map_ioctl(&call);
	case IOASID_IOAS_UNMAP:
		return ioasid_ioas_unmap_ioctl(&call);
	case IOASID_IOAS_COPY:
		return ioasid_ioas_copy_ioctl(&call);
	case IOASID_HWPT_CREATE:
		return ioasid_hwpt_create_ioctl(&call);
	case IOASID_HWPT_INVALIDATE:
		return ioasid_hwpt_invalidate_ioctl(&call);
	case IOASID_DEVICE_FEATURES:
		return ioasid_device_features_ioctl(&call);
	case IOASID_DEVICE_INFO:
		return ioasid_device_info_ioctl(&call);
	case IOASID_PASID_ALLOC:
		return ioasid_pasid_alloc_ioctl(&call);
	case IOASID_PASID_FREE:
		return ioasid_pasid_free_ioctl(&call);
	case IOASID_FAULT_QUEUE_ALLOC:
		return ioasid_fault_queue_alloc_ioctl(&call);
	case IOASID_DEVICE_FAULTS:
		return ioasid_device_faults_ioctl(&call);
	case IOASID_VFIO_IOAS:
		return ioasid_vfio_ioas_ioctl(&call);
#ifdef CONFIG_IOASID_TEST
	case IOASID_TEST:
		return ioasid_test_ioctl(&call);
#endif
	}
	return -ENOTTY;
}

/* The file -------------------------------------------------------------- */

static int ioasid_fops_open(struct inode *inode, struct file *filp)
{
	struct miscdevice *misc = filp->private_data;
	struct ioasid_ctx *ictx;

	ictx = kzalloc(sizeof(*ictx), GFP_KERNEL_ACCOUNT);
	if (!ictx)
		return -ENOMEM;
	ioasid_ctx_pasid_init(ictx);
	xa_init_flags(&ictx->objects, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	init_waitqueue_head(&ictx->drain_wq);
	mutex_init(&ictx->vfio_lock);
	INIT_LIST_HEAD(&ictx->vfio_groups);
	ictx->file = filp;
	/* misc_open() left the device the file was opened through here. */
	ictx->vfio_node = misc->minor == VFIO_MINOR;
	filp->private_data = ictx;
	ioasid_debugfs_ctx_add(ictx);
	return 0;
}

/*
 * No command runs and no driver holds the file any more. Objects that
 * others depend on cannot go first, so sweep the table repeatedly, each
 * time destroying what no other object holds; that releases the holds
 * those objects had, for the next sweep.
 */
static void ioasid_ctx_empty(struct ioasid_ctx *ictx)
{
	struct ioasid_object *obj;
	unsigned long id;
	unsigned int freed;

	do {
		freed = 0;
		xa_for_each(&ictx->objects, id, obj) {
			if (!refcount_dec_if_one(&obj->holds))
				continue;
			xa_erase(&ictx->objects, id);
			obj->ops->destroy(obj);
			freed++;
		}
	} while (freed);
	IOASID_WARN_ON(!xa_empty(&ictx->objects));
}

static int ioasid_fops_release(struct inode *inode, struct file *filp)
{
	struct ioasid_ctx *ictx = filp->private_data;

	/* Waits for debugfs readers, which may be looking at any object. */
	ioasid_debugfs_ctx_remove(ictx);
	ioasid_vfio_compat_release(ictx);
	ioasid_ctx_empty(ictx);
	ioasid_ctx_pasid_release(ictx);
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
 * @file: a file userspace passed to a driver
 *
 * Context: any.
 * Return: the context, which holds a new reference on @file that the caller
 * drops with ioasid_ctx_put(); ERR_PTR(-EBADFD) when @file is not a
 * /dev/ioasid file.
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
 * ioasid_ctx_from_fd() - the context behind a file descriptor
 * @fd: a descriptor userspace passed to a driver
 *
 * Context: process context.
 * Return: as ioasid_ctx_from_file(); ERR_PTR(-EBADF) for a bad descriptor,
 * ERR_PTR(-EBADFD) for a file of /dev/vfio/vfio served by the core, which
 * only VFIO's group path takes (ioasid_ctx_from_file()).
 */
struct ioasid_ctx *ioasid_ctx_from_fd(int fd)
{
	struct ioasid_ctx *ictx;
	struct fd f = fdget(fd);

	if (!f.file)
		return ERR_PTR(-EBADF);
	ictx = ioasid_ctx_from_file(f.file);
	/* The container node is a container, not a /dev/ioasid file. */
	if (!IS_ERR(ictx) && ictx->vfio_node) {
		fput(f.file);
		ictx = ERR_PTR(-EBADFD);
	}
	fdput(f);
	return ictx;
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_from_fd, IOASID);

/**
 * ioasid_ctx_get() - take another reference on a context
 * @ictx: a context the caller holds
 *
 * Context: any.
 */
void ioasid_ctx_get(struct ioasid_ctx *ictx)
{
	get_file(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_get, IOASID);

/**
 * ioasid_ctx_put() - drop a reference on a context
 * @ictx: the context; the last reference closes it
 *
 * Context: process context.
 */
void ioasid_ctx_put(struct ioasid_ctx *ictx)
{
	fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(ioasid_ctx_put, IOASID);

/* Module ---------------------------------------------------------------- */

static struct miscdevice ioasid_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ioasid",
	.nodename = "ioasid",
	.mode = 0660,
	.fops = &ioasid_fops,
};

/*
 * /dev/vfio/vfio served by the core (ioasid.vfio_container=1). VFIO's own
 * node is world-accessible; so is this one.
 */
static struct miscdevice ioasid_vfio_dev = {
	.minor = VFIO_MINOR,
	.name = "vfio",
	.nodename = "vfio/vfio",
	.mode = 0666,
	.fops = &ioasid_fops,
};

static int __init ioasid_module_init(void)
{
	bool vfio = ioasid_vfio_container_served();
	int rc;

	/* Before the nodes: every file opened gets its directory. */
	ioasid_debugfs_init();
	rc = misc_register(&ioasid_dev);
	if (rc)
		goto out_debugfs;
	rc = vfio ? misc_register(&ioasid_vfio_dev) : 0;
	if (rc)
		goto out_dev;
	rc = ioasid_test_init();
	if (rc)
		goto out_vfio;
	ioasid_fault_init();
	return 0;

out_vfio:
	if (vfio)
		misc_deregister(&ioasid_vfio_dev);
out_dev:
	misc_deregister(&ioasid_dev);
out_debugfs:
	ioasid_debugfs_exit();
	return rc;
}
module_init(ioasid_module_init);

static void __exit ioasid_module_exit(void)
{
	ioasid_fault_exit();
	ioasid_test_exit();
	if (ioasid_vfio_container_served())
		misc_deregister(&ioasid_vfio_dev);
	misc_deregister(&ioasid_dev);
	ioasid_debugfs_exit();
}
module_exit(ioasid_module_exit);

MODULE_DESCRIPTION("/dev/ioasid: user-visible I/O address spaces");
MODULE_LICENSE("GPL");
