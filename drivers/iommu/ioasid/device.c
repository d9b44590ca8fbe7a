// SPDX-License-Identifier: GPL-2.0-only
/*
 * Devices: bind, attach, replace, detach, unbind. The kernel API that VFIO,
 * vhost-vdpa and emulated-device drivers call.
 *
 * Binding claims DMA ownership of the device's whole IOMMU group for the
 * context, so no kernel driver and no other context can use any device of
 * the group until the last bound device of it is unbound. The IOMMU
 * attaches groups, not devices, so the devices of one group are attached
 * together: the first attach of a group attaches it, the others must name
 * the same HWPT, and the last detach detaches it.
 *
 * Attaching to an IOAS picks an automatic HWPT of that IOAS whose domain
 * the group can attach to, and makes a new one only when none fits. An
 * automatic HWPT dies with its last device.
 */
#include <linux/iommu.h>
#include <linux/irqdomain.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/* The knobs are ioasid.*, whatever the module is called. */
#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "ioasid."

static bool allow_unsafe_interrupts;
module_param(allow_unsafe_interrupts, bool, 0644);
MODULE_PARM_DESC(allow_unsafe_interrupts,
		 "Bind devices whose IOMMU cannot isolate MSIs (unsafe)");

static bool allow_noncoherent;
module_param(allow_noncoherent, bool, 0644);
MODULE_PARM_DESC(allow_noncoherent,
		 "Bind devices whose IOMMU cannot enforce cache-coherent DMA (unsafe)");

/* ioasid_group by iommu_group_id(), under ioasid_groups_lock. */
static DEFINE_XARRAY(ioasid_groups);
static DEFINE_MUTEX(ioasid_groups_lock);

static struct ioasid_group *ioasid_group_get(struct ioasid_ctx *ictx,
					     struct iommu_group *group)
{
	unsigned long id = iommu_group_id(group);
	struct ioasid_group *igroup;
	int rc;

	mutex_lock(&ioasid_groups_lock);
	igroup = xa_load(&ioasid_groups, id);
	if (igroup) {
		if (igroup->ictx == ictx)
			kref_get(&igroup->kref);
		else
			igroup = ERR_PTR(-EBUSY);
		goto out_unlock;
	}
	igroup = kzalloc(sizeof(*igroup), GFP_KERNEL_ACCOUNT);
	if (!igroup) {
		igroup = ERR_PTR(-ENOMEM);
		goto out_unlock;
	}
	kref_init(&igroup->kref);
	mutex_init(&igroup->lock);
	igroup->ictx = ictx;
	igroup->group = iommu_group_ref_get(group);
	rc = xa_err(xa_store(&ioasid_groups, id, igroup, GFP_KERNEL));
	if (rc)
		goto err_free;
	/* One claim per group: 6.1 refuses a second even by the same owner. */
	rc = iommu_group_claim_dma_owner(group, ictx);
	if (rc) {
		xa_erase(&ioasid_groups, id);
		goto err_free;
	}
	goto out_unlock;

err_free:
	iommu_group_put(group);
	mutex_destroy(&igroup->lock);
	kfree(igroup);
	igroup = ERR_PTR(rc);
out_unlock:
	mutex_unlock(&ioasid_groups_lock);
	return igroup;
}

static void ioasid_group_release(struct kref *kref)
{
	struct ioasid_group *igroup =
		container_of(kref, struct ioasid_group, kref);

	xa_erase(&ioasid_groups, iommu_group_id(igroup->group));
	IOASID_WARN_ON(igroup->hwpt);
	iommu_group_release_dma_owner(igroup->group);
	iommu_group_put(igroup->group);
	mutex_destroy(&igroup->lock);
	kfree(igroup);
}

static void ioasid_group_put(struct ioasid_group *igroup)
{
	if (kref_put_mutex(&igroup->kref, ioasid_group_release,
			   &ioasid_groups_lock))
		mutex_unlock(&ioasid_groups_lock);
}

/* The admin's policy on devices the IOMMU cannot fully isolate. */
static int ioasid_device_check_isolation(struct device *dev)
{
	if (!device_iommu_capable(dev, IOMMU_CAP_CACHE_COHERENCY) &&
	    !allow_noncoherent) {
		dev_warn(dev, "ioasid: no cache-coherent DMA enforcement; see ioasid.allow_noncoherent\n");
		return -EPERM;
	}
	if (!device_iommu_capable(dev, IOMMU_CAP_INTR_REMAP) &&
	    !irq_domain_check_msi_remap() && !allow_unsafe_interrupts) {
		dev_warn(dev, "ioasid: no MSI isolation; see ioasid.allow_unsafe_interrupts\n");
		return -EPERM;
	}
	return 0;
}

/**
 * ioasid_device_bind_common() - bind a device to a context
 * @ictx: context
 * @dev: device with an IOMMU group
 * @driver_owned: the caller keeps a reference, so userspace cannot destroy
 *		  the device and ioasid_device_unbind() must be called
 *
 * Return: the bound device, published, or an ERR_PTR.
 */
struct ioasid_device *ioasid_device_bind_common(struct ioasid_ctx *ictx,
						struct device *dev,
						bool driver_owned)
{
	struct ioasid_device *idev;
	struct iommu_group *group;
	int rc;

	group = iommu_group_get(dev);
	if (!group)
		return ERR_PTR(-ENODEV);
	rc = ioasid_device_check_isolation(dev);
	if (rc)
		goto err_put_group;
	idev = ioasid_object_reserve(ictx, sizeof(*idev), IOASID_OBJ_DEVICE);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto err_put_group;
	}
	idev->igroup = ioasid_group_get(ictx, group);
	if (IS_ERR(idev->igroup)) {
		rc = PTR_ERR(idev->igroup);
		goto err_abort;
	}
	idev->ictx = ictx;
	idev->dev = get_device(dev);
	if (driver_owned)
		refcount_inc(&idev->obj.users);
	iommu_group_put(group);
	ioasid_object_publish(ictx, &idev->obj);
	return idev;

err_abort:
	ioasid_object_abort(ictx, &idev->obj);
err_put_group:
	iommu_group_put(group);
	return ERR_PTR(rc);
}

/**
 * ioasid_device_bind() - bind a device to a context, claiming its group
 * @ictx: context
 * @dev: device with an IOMMU group
 * @id: out, the device ID userspace names it by
 *
 * Fails with -EPERM when the IOMMU cannot isolate the device's MSIs or
 * enforce cache-coherent DMA and the admin did not opt in, and with -EBUSY
 * when a driver or another owner uses the group.
 *
 * Return: the bound device, or an ERR_PTR.
 */
struct ioasid_device *ioasid_device_bind(struct ioasid_ctx *ictx,
					 struct device *dev, u32 *id)
{
	struct ioasid_device *idev;

	idev = ioasid_device_bind_common(ictx, dev, true);
	if (!IS_ERR(idev))
		*id = idev->obj.id;
	return idev;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_bind, IOASID);

/**
 * ioasid_get_device() - look up a device and take a reference
 * @ictx: context
 * @id: ID from userspace
 *
 * Return: the device or ERR_PTR(-ENOENT). Drop with ioasid_put_object().
 */
struct ioasid_device *ioasid_get_device(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj;

	obj = ioasid_get_object(ictx, id, IOASID_OBJ_DEVICE);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct ioasid_device, obj);
}

/* Find an automatic HWPT of @ioas the group attaches to, or make one. */
static struct ioasid_hwpt *device_auto_hwpt(struct ioasid_device *idev,
					    struct ioasid_ioas *ioas)
{
	struct iommu_group *group = idev->igroup->group;
	struct ioasid_hwpt *hwpt;
	int rc;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, item) {
		if (!hwpt->auto_domain ||
		    !refcount_inc_not_zero(&hwpt->obj.users))
			continue;
		rc = iommu_attach_group(hwpt->domain, group);
		if (!rc) {
			mutex_unlock(&ioas->mutex);
			return hwpt;
		}
		refcount_dec(&hwpt->obj.users);
	}
	mutex_unlock(&ioas->mutex);

	hwpt = ioasid_hwpt_alloc(idev->ictx, ioas, idev->dev, group, true);
	if (IS_ERR(hwpt))
		return hwpt;
	refcount_inc(&hwpt->obj.users);
	ioasid_object_publish(idev->ictx, &hwpt->obj);
	return hwpt;
}

/* Attach the group to an explicit HWPT, taking a reference on it. */
static int device_attach_hwpt(struct ioasid_device *idev,
			      struct ioasid_hwpt *hwpt)
{
	int rc;

	rc = ioasid_test_should_fail(IOASID_FAIL_ATTACH);
	if (rc)
		return rc;
	refcount_inc(&hwpt->obj.users);
	rc = iommu_attach_group(hwpt->domain, idev->igroup->group);
	if (rc)
		refcount_dec(&hwpt->obj.users);
	return rc;
}

/*
 * Resolve @pt_id to a HWPT the group is now attached to, with a reference.
 * Only for the first device of a group; the others join igroup->hwpt.
 */
static struct ioasid_hwpt *device_attach_group(struct ioasid_device *idev,
					       u32 pt_id)
{
	struct ioasid_object *obj;
	struct ioasid_hwpt *hwpt;
	struct ioasid_ioas *ioas;
	int rc;

	obj = ioasid_get_object(idev->ictx, pt_id, IOASID_OBJ_ANY);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	switch (obj->type) {
	case IOASID_OBJ_IOAS:
		ioas = container_of(obj, struct ioasid_ioas, obj);
		hwpt = device_auto_hwpt(idev, ioas);
		break;
	case IOASID_OBJ_HWPT:
		hwpt = container_of(obj, struct ioasid_hwpt, obj);
		rc = device_attach_hwpt(idev, hwpt);
		if (rc)
			hwpt = ERR_PTR(rc);
		break;
	default:
		hwpt = ERR_PTR(-ENOENT);
	}
	ioasid_put_object(obj);
	return hwpt;
}

/* Drop a device's reference on its HWPT; an automatic one may die. */
static void device_put_hwpt(struct ioasid_ctx *ictx, struct ioasid_hwpt *hwpt)
{
	refcount_dec(&hwpt->obj.users);
	if (hwpt->auto_domain && !ioasid_object_remove(ictx, &hwpt->obj))
		ioasid_hwpt_destroy(&hwpt->obj);
}

static bool device_pt_matches(struct ioasid_hwpt *hwpt, u32 pt_id)
{
	return hwpt->obj.id == pt_id ||
	       (hwpt->auto_domain && hwpt->ioas->obj.id == pt_id);
}

/**
 * ioasid_device_attach() - attach a bound device to an IOAS or a HWPT
 * @idev: bound device, not attached
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * Return: 0; -EBUSY if already attached, or if another device of the group
 * is attached elsewhere; -EADDRINUSE if a reserved region of the group is
 * mapped or outside the allow-list; -ENOENT for an unknown ID.
 */
int ioasid_device_attach(struct ioasid_device *idev, u32 *pt_id)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *hwpt;
	int rc;

	mutex_lock(&igroup->lock);
	if (idev->hwpt) {
		rc = -EBUSY;
		goto out_unlock;
	}
	if (igroup->hwpt) {
		if (!device_pt_matches(igroup->hwpt, *pt_id)) {
			rc = -EBUSY;
			goto out_unlock;
		}
		hwpt = igroup->hwpt;
		refcount_inc(&hwpt->obj.users);
	} else {
		hwpt = device_attach_group(idev, *pt_id);
		if (IS_ERR(hwpt)) {
			rc = PTR_ERR(hwpt);
			goto out_unlock;
		}
	}
	rc = ioasid_iopt_reserve_group(&hwpt->ioas->iopt, igroup->group, idev);
	if (rc) {
		if (!igroup->hwpt)
			iommu_detach_group(hwpt->domain, igroup->group);
		device_put_hwpt(idev->ictx, hwpt);
		goto out_unlock;
	}
	igroup->hwpt = hwpt;
	igroup->num_attached++;
	idev->hwpt = hwpt;
	*pt_id = hwpt->obj.id;
out_unlock:
	mutex_unlock(&igroup->lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_attach, IOASID);

/**
 * ioasid_device_detach() - detach a device; DMA is blocked afterwards
 * @idev: bound device, attached
 */
void ioasid_device_detach(struct ioasid_device *idev)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *hwpt;

	mutex_lock(&igroup->lock);
	hwpt = idev->hwpt;
	if (IOASID_WARN_ON(!hwpt)) {
		mutex_unlock(&igroup->lock);
		return;
	}
	ioasid_iopt_unreserve(&hwpt->ioas->iopt, idev);
	idev->hwpt = NULL;
	if (!--igroup->num_attached) {
		iommu_detach_group(hwpt->domain, igroup->group);
		igroup->hwpt = NULL;
	}
	mutex_unlock(&igroup->lock);
	device_put_hwpt(idev->ictx, hwpt);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_detach, IOASID);

/**
 * ioasid_device_replace() - move an attached device to another IOAS or HWPT
 * @idev: bound device, attached, alone attached in its group
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * DMA is blocked while the group moves, never translated by anything but
 * the old or the new domain. On failure the device stays where it was.
 *
 * Return: 0 or an errno, as ioasid_device_attach().
 */
int ioasid_device_replace(struct ioasid_device *idev, u32 *pt_id)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *old, *hwpt;
	int rc;

	mutex_lock(&igroup->lock);
	old = idev->hwpt;
	if (!old) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (device_pt_matches(old, *pt_id)) {
		*pt_id = old->obj.id;
		rc = 0;
		goto out_unlock;
	}
	if (igroup->num_attached != 1) {
		rc = -EBUSY;
		goto out_unlock;
	}
	iommu_detach_group(old->domain, igroup->group);
	hwpt = device_attach_group(idev, *pt_id);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto err_reattach;
	}
	rc = ioasid_iopt_reserve_group(&hwpt->ioas->iopt, igroup->group, idev);
	if (rc) {
		iommu_detach_group(hwpt->domain, igroup->group);
		device_put_hwpt(idev->ictx, hwpt);
		goto err_reattach;
	}
	ioasid_iopt_unreserve(&old->ioas->iopt, idev);
	igroup->hwpt = hwpt;
	idev->hwpt = hwpt;
	*pt_id = hwpt->obj.id;
	mutex_unlock(&igroup->lock);
	device_put_hwpt(idev->ictx, old);
	return 0;

err_reattach:
	/* The group was attached to @old a moment ago: this cannot fail. */
	IOASID_WARN_ON(iommu_attach_group(old->domain, igroup->group));
out_unlock:
	mutex_unlock(&igroup->lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_replace, IOASID);

/**
 * ioasid_device_destroy() - unbind a device taken out of the table
 * @obj: the device's header
 */
void ioasid_device_destroy(struct ioasid_object *obj)
{
	struct ioasid_device *idev =
		container_of(obj, struct ioasid_device, obj);

	if (idev->hwpt)
		ioasid_device_detach(idev);
	ioasid_group_put(idev->igroup);
	if (idev->destroy_dev)
		idev->destroy_dev(idev->dev);
	put_device(idev->dev);
	kfree(idev);
}

/**
 * ioasid_device_unbind() - undo ioasid_device_bind()
 * @idev: bound device; detached first if still attached
 *
 * Waits for lookups in flight to finish, then releases the group.
 */
void ioasid_device_unbind(struct ioasid_device *idev)
{
	ioasid_object_remove_owned(idev->ictx, &idev->obj);
	ioasid_device_destroy(&idev->obj);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_unbind, IOASID);

/**
 * ioasid_device_ctx() - the context a device is bound to
 * @idev: bound device
 *
 * Return: the context.
 */
struct ioasid_ctx *ioasid_device_ctx(struct ioasid_device *idev)
{
	return idev->ictx;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_ctx, IOASID);

/**
 * ioasid_device_id() - the ID userspace names a bound device by
 * @idev: bound device
 *
 * Return: the ID.
 */
u32 ioasid_device_id(struct ioasid_device *idev)
{
	return idev->obj.id;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_id, IOASID);
