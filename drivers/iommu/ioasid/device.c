// SPDX-License-Identifier: GPL-2.0-only
/*
 * Devices: bind, attach, replace, detach, unbind. The kernel API that VFIO,
 * vhost-vdpa and emulated-device drivers call.
 *
 * Binding claims DMA ownership of the device's whole IOMMU group for the
 * context, so no kernel driver and no other context can use any device of
 * the group until the last bound device of it is unbound.
 *
 * Attachments. What a device translates through is recorded per (device,
 * PASID) in struct ioasid_attach, kept in the device's @attaches xarray
 * under the PASID; the device's RID (requests without a PASID) is the key
 * IOASID_PASID_RID. An attachment holds its HWPT, and owns the reserved
 * regions it put in the HWPT's IOAS: they are reserved before the hardware
 * is touched, and two attachments of one device (the old and the new one
 * during a replace) never take each other's away.
 *
 * 6.1's IOMMU core attaches whole groups, so the RID attachments of one
 * group's devices share a HWPT: the first attaches the group, the others
 * must name the same HWPT, the last detach detaches the group.
 *
 * Attaching to an IOAS picks an automatic HWPT of that IOAS whose domain
 * the group can attach to, and makes a new one only when none fits. An
 * automatic HWPT dies with its last attachment.
 *
 * An attachment may also be to a nested HWPT. Its reserved regions then go
 * into the parent's IOAS, where the stage 1's output lands, and the parent
 * is mirrored (under the parent's lock) before the nested domain is
 * attached.
 */
#include <linux/iommu.h>
#include <linux/irqdomain.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/pci-ats.h>
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

/*
 * Learn the IOVA width and the IOPTE sizes of a group's IOMMU, for
 * IOASID_DEVICE_INFO, from a domain attached to the group once: drivers
 * finish a domain for the devices they attach it to (virtio-iommu learns
 * its aperture and page sizes only then, VT-d narrows the address width to
 * its IOMMU's). The group is owned and not attached yet, so its DMA stays
 * blocked throughout.
 */
static void ioasid_group_learn(struct ioasid_group *igroup, struct device *dev)
{
	struct iommu_domain *domain = iommu_domain_alloc(dev->bus);

	igroup->pgsize_bitmap = dev_iommu_ops(dev)->pgsize_bitmap;
	if (!domain)
		return;
	if (!iommu_attach_group(domain, igroup->group))
		iommu_detach_group(domain, igroup->group);
	if (domain->geometry.force_aperture) {
		igroup->iova_bits = fls64(domain->geometry.aperture_end);
		igroup->pgsize_bitmap = domain->pgsize_bitmap;
	}
	iommu_domain_free(domain);
}

static struct ioasid_group *ioasid_group_get(struct ioasid_ctx *ictx,
					     struct iommu_group *group,
					     struct device *dev)
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
	ioasid_group_learn(igroup, dev);
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
/**
 * ioasid_group_enforced_coherent() - is a group's DMA coherent with the CPU?
 * @group: an IOMMU group
 *
 * For KVM, which lets a guest flush caches (wbinvd) only when the DMA of
 * its devices may not snoop them.
 *
 * Context: process context; takes the group's attachment lock.
 * Return: false when the group is attached through the core to a HWPT
 * whose domain does not enforce cache coherency; true otherwise, as VFIO
 * answers for a group not yet set up.
 */
bool ioasid_group_enforced_coherent(struct iommu_group *group)
{
	struct ioasid_group *igroup;
	bool ret = true;

	mutex_lock(&ioasid_groups_lock);
	igroup = xa_load(&ioasid_groups, iommu_group_id(group));
	if (igroup)
		kref_get(&igroup->kref);
	mutex_unlock(&ioasid_groups_lock);
	if (!igroup)
		return true;
	mutex_lock(&igroup->lock);
	if (igroup->hwpt)
		ret = ioasid_hwpt_s2(igroup->hwpt)->enforce_cache_coherency;
	mutex_unlock(&igroup->lock);
	ioasid_group_put(igroup);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(ioasid_group_enforced_coherent, IOASID);

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
 * ioasid_device_new() - bind a device to a context, not yet visible
 * @ictx: context
 * @dev: device with an IOMMU group
 *
 * Claims the group's DMA ownership. Publish the device with
 * ioasid_obj_publish() once complete, or give it up with
 * ioasid_obj_abort().
 *
 * Context: process context; may sleep.
 * Return: the device; ERR_PTR(-ENODEV) without an IOMMU group; -EPERM by
 * isolation policy or when a kernel driver uses the group; -EBUSY when
 * another context uses it; -ENOMEM.
 */
struct ioasid_device *ioasid_device_new(struct ioasid_ctx *ictx,
					struct device *dev)
{
	struct ioasid_device *idev;
	struct iommu_group *group;
	int rc;

	group = iommu_group_get(dev);
	if (!group)
		return ERR_PTR(-ENODEV);
	rc = ioasid_device_check_isolation(dev);
	if (rc)
		goto out_group;
	idev = ioasid_obj_new(ictx, sizeof(*idev), &ioasid_device_ops);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto out_group;
	}
	xa_init(&idev->attaches);
	idev->ictx = ictx;
	idev->dev = get_device(dev);
	rc = ioasid_fault_bind(idev);
	if (rc) {
		ioasid_obj_abort(&idev->obj);
		goto out_group;
	}
	/*
	 * The user's driver decides about ATS, PRI and PASID
	 * (IOASID_DEVICE_FEATURES): the IOMMU driver turns none on by itself
	 * at the attaches to come. The PCI core clears the mark when the
	 * device's kernel driver (vfio-pci) unbinds.
	 */
	if (dev_is_pci(dev))
		to_pci_dev(dev)->driver_manages_ats = true;
	idev->igroup = ioasid_group_get(ictx, group, dev);
	if (IS_ERR(idev->igroup)) {
		rc = PTR_ERR(idev->igroup);
		idev->igroup = NULL;
		ioasid_obj_abort(&idev->obj);
		goto out_group;
	}
	iommu_group_put(group);
	return idev;

out_group:
	iommu_group_put(group);
	return ERR_PTR(rc);
}

/**
 * ioasid_device_bind() - bind a device to a context, claiming its group
 * @ictx: context
 * @dev: device with an IOMMU group
 * @id: out, the device ID userspace names it by
 *
 * The device object belongs to the caller: userspace cannot destroy it
 * (EPERM); ioasid_device_unbind() does.
 *
 * Context: process context; may sleep.
 * Return: the bound device, or an ERR_PTR: -ENODEV; -EPERM when the IOMMU
 * cannot isolate the device's MSIs or enforce cache-coherent DMA and the
 * admin did not opt in, or when a kernel driver uses the group; -EBUSY
 * when another context uses the group; -ENOMEM.
 */
struct ioasid_device *ioasid_device_bind(struct ioasid_ctx *ictx,
					 struct device *dev, u32 *id)
{
	struct ioasid_device *idev;

	idev = ioasid_device_new(ictx, dev);
	if (IS_ERR(idev))
		return idev;
	idev->obj.driver_owned = true;
	refcount_inc(&idev->obj.holds);	/* the driver's */
	ioasid_obj_publish(&idev->obj);
	*id = idev->obj.id;
	return idev;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_bind, IOASID);

/**
 * ioasid_get_device() - find a device for the command in flight
 * @ictx: context
 * @id: ID from userspace
 *
 * Context: any.
 * Return: the device, to be released with ioasid_obj_done(), or
 * ERR_PTR(-ENOENT).
 */
struct ioasid_device *ioasid_get_device(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj;

	obj = ioasid_obj_find(ictx, id, &ioasid_device_ops);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct ioasid_device, obj);
}

/* Point @att's (device, PASID) at @hwpt, coming from @old or nothing. */
static int att_hw_set(struct ioasid_attach *att, struct ioasid_hwpt *old,
		      struct ioasid_hwpt *hwpt)
{
	struct iommu_domain *domain = hwpt->domain;
	struct ioasid_device *idev = att->idev;

	if (att->pasid == IOASID_PASID_RID)
		return old ? iommu_group_replace_domain(idev->igroup->group,
							domain) :
			     iommu_attach_group(domain, idev->igroup->group);
	return old ? iommu_replace_device_pasid(domain, idev->dev, att->pasid) :
		     iommu_attach_device_pasid(domain, idev->dev, att->pasid);
}

/* The map @hwpt's domain mirrors, if it mirrors one: frozen around attach */
static struct ioasid_iopt *att_mirrored_iopt(struct ioasid_hwpt *hwpt)
{
	struct ioasid_hwpt_paging *s2;

	if (!hwpt)
		return NULL;
	s2 = ioasid_hwpt_s2(hwpt);
	return s2->mirrored ? &s2->ioas->iopt : NULL;
}

/*
 * att_hw_set() with no map or unmap running on the old or the new domain
 * (ioasid_iopt_freeze_domains()); for a nested HWPT, on its stage 2. A
 * HWPT's mirrored flag is stable here: the caller holds its lock, or a
 * device is attached to it.
 */
static int att_hw_set_frozen(struct ioasid_attach *att,
			     struct ioasid_hwpt *old, struct ioasid_hwpt *hwpt)
{
	struct ioasid_iopt *from = att_mirrored_iopt(old);
	struct ioasid_iopt *to = att_mirrored_iopt(hwpt);
	int rc;

	ioasid_iopt_freeze_domains(from, to);
	rc = att_hw_set(att, old, hwpt);
	ioasid_iopt_thaw_domains(from, to);
	return rc;
}

/* Take @att's (device, PASID) off @hwpt: its DMA is blocked. */
static void att_hw_unset(struct ioasid_attach *att, struct ioasid_hwpt *hwpt)
{
	struct ioasid_iopt *iopt = att_mirrored_iopt(hwpt);
	struct ioasid_device *idev = att->idev;

	ioasid_iopt_freeze_domains(iopt, NULL);
	if (att->pasid == IOASID_PASID_RID)
		iommu_detach_group(hwpt->domain, idev->igroup->group);
	else
		iommu_detach_device_pasid(hwpt->domain, idev->dev, att->pasid);
	ioasid_iopt_thaw_domains(iopt, NULL);
}

/*
 * Put @att's (device, PASID) on @hwpt. @old is what it is on now, or NULL.
 * For the RID that is the whole group's translation.
 *
 * From @old it moves with a replace, never passing through a blocking or
 * default domain, and the new domain is mirrored before the switch when
 * the driver allows it, so the device never sees it half filled: with a
 * driver that switches in place, the replace is hitless. Otherwise (a
 * first attach, or a driver that finishes domains at attach) the domain is
 * mirrored right after the switch, with cache coherency enforced first
 * when this is the domain's first attachment.
 */
static int __att_hw_attach(struct ioasid_attach *att, struct ioasid_hwpt *old,
			   struct ioasid_hwpt_paging *hwpt)
{
	bool early = old && ioasid_hwpt_paging_early(hwpt);
	bool was_mirrored = hwpt->mirrored;
	int rc;

	rc = ioasid_inject_fault();
	if (rc)
		return rc;
	rc = ioasid_hwpt_paging_msi_cookie(hwpt, att->idev->igroup->group);
	if (rc)
		return rc;
	if (early) {
		/* The device's IOMMU enforced it for @old: it can for @hwpt. */
		if (ioasid_hwpt_s2(old)->enforce_cache_coherency)
			ioasid_hwpt_paging_enforce(hwpt);
		rc = ioasid_hwpt_paging_mirror(hwpt);
		if (rc)
			return rc;
	}
	rc = att_hw_set_frozen(att, old, &hwpt->common);
	if (rc)
		goto err_unmirror;
	if (!hwpt->mirrored) {
		ioasid_hwpt_paging_enforce(hwpt);
		rc = ioasid_hwpt_paging_mirror(hwpt);
		if (rc)
			goto err_restore;
	}
	return 0;

err_restore:
	/* It was on @old a moment ago: going back cannot fail. */
	if (old)
		IOASID_WARN_ON(att_hw_set_frozen(att, &hwpt->common, old));
	else
		att_hw_unset(att, &hwpt->common);
err_unmirror:
	if (!was_mirrored)
		ioasid_hwpt_paging_unmirror(hwpt);
	return rc;
}

/*
 * Put @att on nested @hwpt, coming from @old or nothing: the parent is
 * mirrored first, so the stage-1 walk reads a complete stage 2. No MSI
 * cookie: only drivers without a software MSI window nest (the mock).
 */
static int att_hw_attach_nested(struct ioasid_attach *att,
				struct ioasid_hwpt *old,
				struct ioasid_hwpt_nested *hwpt)
{
	struct ioasid_hwpt_paging *parent = hwpt->parent;
	bool was_mirrored;
	int rc;

	rc = ioasid_inject_fault();
	if (rc)
		return rc;
	mutex_lock(&parent->lock);
	was_mirrored = parent->mirrored;
	rc = ioasid_hwpt_nested_prepare(hwpt);
	if (rc)
		goto out_unlock;
	rc = att_hw_set_frozen(att, old, &hwpt->common);
	if (rc && !was_mirrored)
		ioasid_hwpt_paging_unmirror(parent);
out_unlock:
	mutex_unlock(&parent->lock);
	return rc;
}

/*
 * Attachments of different devices may reach one HWPT at once; whether
 * this is its first, and mirroring it, is decided under the HWPT's lock
 * (a nested HWPT's parent's).
 */
static int att_hw_attach(struct ioasid_attach *att, struct ioasid_hwpt *old,
			 struct ioasid_hwpt *hwpt)
{
	struct ioasid_hwpt_paging *paging;
	int rc;

	if (hwpt->kind == IOASID_HWPT_NESTED)
		return att_hw_attach_nested(att, old, to_hwpt_nested(hwpt));
	paging = to_hwpt_paging(hwpt);
	mutex_lock(&paging->lock);
	rc = __att_hw_attach(att, old, paging);
	mutex_unlock(&paging->lock);
	return rc;
}

/*
 * Attach @att, now on @old (or on nothing), to an automatic HWPT of @ioas:
 * one that exists if the device can use its domain, else a new one.
 * Return: the HWPT, held for the attachment, or an ERR_PTR.
 */
static struct ioasid_hwpt *att_auto_hwpt(struct ioasid_attach *att,
					 struct ioasid_ioas *ioas,
					 struct ioasid_hwpt *old)
{
	struct ioasid_device *idev = att->idev;
	struct ioasid_hwpt_paging *hwpt;
	int rc;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, item) {
		if (!hwpt->auto_domain || &hwpt->common == old ||
		    !ioasid_hwpt_paging_fits(hwpt, idev->dev) ||
		    ioasid_obj_hold(&hwpt->common.obj))
			continue;
		if (!att_hw_attach(att, old, &hwpt->common)) {
			mutex_unlock(&ioas->mutex);
			return &hwpt->common;
		}
		ioasid_obj_unhold(&hwpt->common.obj);
	}
	mutex_unlock(&ioas->mutex);

	hwpt = ioasid_hwpt_paging_new(idev->ictx, ioas, idev->dev, true, false);
	if (IS_ERR(hwpt))
		return ERR_CAST(hwpt);
	rc = att_hw_attach(att, old, &hwpt->common);
	if (rc) {
		ioasid_obj_abort(&hwpt->common.obj);
		return ERR_PTR(rc);
	}
	/* The attachment's hold, besides the table's. */
	refcount_inc(&hwpt->common.obj.holds);
	ioasid_hwpt_paging_publish(hwpt);
	return &hwpt->common;
}

/* The IOAS DMA through an IOAS or HWPT object ends in. */
static struct ioasid_ioas *att_target_ioas(struct ioasid_object *obj)
{
	struct ioasid_hwpt *hwpt;

	if (obj->ops == &ioasid_ioas_ops)
		return container_of(obj, struct ioasid_ioas, obj);
	hwpt = container_of(obj, struct ioasid_hwpt, obj);
	return ioasid_hwpt_s2(hwpt)->ioas;
}

/* Attach @att to the explicit HWPT @obj, coming from @old or nothing. */
static struct ioasid_hwpt *att_explicit_hwpt(struct ioasid_attach *att,
					     struct ioasid_object *obj,
					     struct ioasid_hwpt *old)
{
	struct ioasid_hwpt *hwpt = container_of(obj, struct ioasid_hwpt, obj);
	int rc;

	/* A domain of another IOMMU: its driver cannot take the device */
	if (!ioasid_hwpt_paging_fits(ioasid_hwpt_s2(hwpt), att->idev->dev))
		return ERR_PTR(-EINVAL);
	rc = ioasid_obj_hold(obj);
	if (rc)
		return ERR_PTR(rc);
	rc = att_hw_attach(att, old, hwpt);
	if (rc) {
		ioasid_obj_unhold(obj);
		return ERR_PTR(rc);
	}
	return hwpt;
}

/*
 * Resolve @pt_id and attach @att to it, coming from @old (or from
 * nothing). @att's reserved regions go into the target IOAS first.
 * Return: the HWPT, held for @att, or an ERR_PTR.
 */
static struct ioasid_hwpt *att_connect(struct ioasid_device *idev,
				       struct ioasid_attach *att, u32 pt_id,
				       struct ioasid_hwpt *old)
{
	struct ioasid_object *obj;
	struct ioasid_hwpt *hwpt;
	struct ioasid_ioas *ioas;
	int rc;

	obj = ioasid_obj_find(idev->ictx, pt_id, NULL);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	if (obj->ops != &ioasid_ioas_ops && obj->ops != &ioasid_hwpt_ops) {
		hwpt = ERR_PTR(-ENOENT);
		goto out_done;
	}
	ioas = att_target_ioas(obj);
	rc = ioasid_iopt_reserve_group(&ioas->iopt, idev->igroup->group, att);
	if (rc) {
		hwpt = ERR_PTR(rc);
		goto out_done;
	}
	if (obj->ops == &ioasid_ioas_ops)
		hwpt = att_auto_hwpt(att, ioas, old);
	else
		hwpt = att_explicit_hwpt(att, obj, old);
	if (IS_ERR(hwpt))
		ioasid_iopt_unreserve(&ioas->iopt, att);
out_done:
	ioasid_obj_done(obj);
	return hwpt;
}

/* Made by an attach to an IOAS, to die with its last attachment? */
static bool att_hwpt_auto(struct ioasid_hwpt *hwpt)
{
	return hwpt->kind == IOASID_HWPT_PAGING &&
	       to_hwpt_paging(hwpt)->auto_domain;
}

/* Let go of a HWPT an attachment held; an automatic one may die. */
static void att_release_hwpt(struct ioasid_hwpt *hwpt)
{
	/* Read before the hold goes: the HWPT may be freed right after. */
	if (att_hwpt_auto(hwpt))
		ioasid_obj_unhold_auto(&hwpt->obj);
	else
		ioasid_obj_unhold(&hwpt->obj);
}

static bool att_names(struct ioasid_hwpt *hwpt, u32 pt_id)
{
	return hwpt->obj.id == pt_id ||
	       (att_hwpt_auto(hwpt) &&
		ioasid_hwpt_s2(hwpt)->ioas->obj.id == pt_id);
}

static struct ioasid_attach *att_new(struct ioasid_device *idev, u32 pasid)
{
	struct ioasid_attach *att;

	att = kzalloc(sizeof(*att), GFP_KERNEL_ACCOUNT);
	if (!att)
		return NULL;
	att->idev = idev;
	att->pasid = pasid;
	return att;
}

/* Join the group's current HWPT: another device of an attached group. */
static int att_join(struct ioasid_device *idev, struct ioasid_attach *att,
		    u32 pt_id)
{
	struct ioasid_hwpt *hwpt = idev->igroup->hwpt;
	int rc;

	if (!att_names(hwpt, pt_id))
		return -EBUSY;
	rc = ioasid_iopt_reserve_group(&ioasid_hwpt_s2(hwpt)->ioas->iopt,
				       idev->igroup->group, att);
	if (rc)
		return rc;
	/* The group's other attachments hold it: this cannot fail. */
	IOASID_WARN_ON(ioasid_obj_hold(&hwpt->obj));
	att->hwpt = hwpt;
	return 0;
}

/*
 * May @att's PASID be attached? In global mode the file must hold the
 * value, and the attachment takes a reference of its own to it; in device
 * mode it need only be within the device's width.
 */
static int att_pasid_get(struct ioasid_attach *att)
{
	struct ioasid_device *idev = att->idev;
	u32 width;

	if (att->pasid == IOASID_PASID_RID)
		return 0;
	width = ioasid_device_pasid_width(idev);
	if (!width)
		return -EOPNOTSUPP;
	if (!att->pasid || att->pasid >= width)
		return -EINVAL;
	if (idev->pasid_mode == IOASID_PASID_MODE_DEVICE)
		return 0;
	if (ioasid_pasid_get(&idev->ictx->pasid_set, att->pasid))
		return -EPERM;
	att->pasid_held = true;
	return 0;
}

static void att_free(struct ioasid_attach *att)
{
	if (att && att->pasid_held)
		ioasid_pasid_put(att->pasid);
	kfree(att);
}

/* The RID: the group's HWPT, shared by the group's devices. */
static int att_attach_rid(struct ioasid_device *idev,
			  struct ioasid_attach *att, u32 pt_id)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *hwpt;
	int rc;

	if (igroup->hwpt) {
		rc = att_join(idev, att, pt_id);
		if (rc)
			return rc;
	} else {
		hwpt = att_connect(idev, att, pt_id, NULL);
		if (IS_ERR(hwpt))
			return PTR_ERR(hwpt);
		att->hwpt = hwpt;
	}
	igroup->hwpt = att->hwpt;
	igroup->num_attached++;
	return 0;
}

/**
 * ioasid_device_attach_pasid() - attach (device, PASID) to an IOAS or a HWPT
 * @idev: bound device
 * @pasid: the PASID, or IOASID_PASID_RID for the device's RID
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * A PASID other than the RID needs a device alone in its IOMMU group and
 * an IOMMU driver that translates PASIDs; in the device's global PASID
 * mode (the default) the file must hold the PASID (IOASID_PASID_ALLOC),
 * and the attachment keeps the value taken until it ends.
 *
 * Context: process context; may sleep.
 * Return: 0; -EINVAL for PASID 0 or one beyond the device's width, a HWPT
 * that is not a paging one or whose domain is of another IOMMU driver, or
 * a PASID of a device that shares its group; -EPERM for a PASID the file
 * does not hold, in global mode; -EOPNOTSUPP when the IOMMU driver cannot
 * attach PASIDs or the device has none; -EBUSY if the (device, PASID) is
 * attached already, or
 * another device of the group is attached elsewhere; -EADDRINUSE if a
 * reserved region of the group is mapped or inside a range of the IOAS's
 * limit; -ENOENT for an unknown ID; -ENOMEM; the IOMMU driver's errno.
 */
int ioasid_device_attach_pasid(struct ioasid_device *idev, u32 pasid,
			       u32 *pt_id)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *hwpt;
	struct ioasid_attach *att;
	int rc;

	att = att_new(idev, pasid);
	if (!att)
		return -ENOMEM;
	mutex_lock(&igroup->lock);
	rc = att_pasid_get(att);
	if (rc)
		goto out_unlock;
	rc = xa_insert(&idev->attaches, pasid, att, GFP_KERNEL_ACCOUNT);
	if (rc)
		goto out_unlock;
	if (pasid == IOASID_PASID_RID) {
		rc = att_attach_rid(idev, att, *pt_id);
	} else {
		hwpt = att_connect(idev, att, *pt_id, NULL);
		if (IS_ERR(hwpt))
			rc = PTR_ERR(hwpt);
		else
			att->hwpt = hwpt;
	}
	if (rc) {
		xa_erase(&idev->attaches, pasid);
		goto out_unlock;
	}
	ioasid_fault_route(idev, pasid, att->hwpt, NULL);
	*pt_id = att->hwpt->obj.id;
	att = NULL;
out_unlock:
	mutex_unlock(&igroup->lock);
	att_free(att);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_attach_pasid, IOASID);

/**
 * ioasid_device_attach() - attach a device's RID to an IOAS or a HWPT
 * @idev: bound device, not attached
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * Context: process context; may sleep.
 * Return: as ioasid_device_attach_pasid().
 */
int ioasid_device_attach(struct ioasid_device *idev, u32 *pt_id)
{
	return ioasid_device_attach_pasid(idev, IOASID_PASID_RID, pt_id);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_attach, IOASID);

/**
 * ioasid_device_detach_pasid() - detach (device, PASID); its DMA is blocked
 * @idev: bound device
 * @pasid: the PASID, or IOASID_PASID_RID
 *
 * Does nothing when the (device, PASID) is not attached.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_device_detach_pasid(struct ioasid_device *idev, u32 pasid)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_hwpt *hwpt;
	struct ioasid_attach *att;

	mutex_lock(&igroup->lock);
	att = xa_erase(&idev->attaches, pasid);
	if (!att) {
		mutex_unlock(&igroup->lock);
		return;
	}
	hwpt = att->hwpt;
	/* The hardware lets go first: until then the regions stay taken. */
	if (pasid != IOASID_PASID_RID) {
		att_hw_unset(att, hwpt);
	} else if (!--igroup->num_attached) {
		att_hw_unset(att, hwpt);
		igroup->hwpt = NULL;
	}
	ioasid_fault_route(idev, pasid, NULL, hwpt);
	ioasid_iopt_unreserve(&ioasid_hwpt_s2(hwpt)->ioas->iopt, att);
	mutex_unlock(&igroup->lock);
	att_free(att);
	att_release_hwpt(hwpt);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_detach_pasid, IOASID);

/**
 * ioasid_device_detach() - detach a device's RID; its DMA is blocked
 * @idev: bound device, attached
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_device_detach(struct ioasid_device *idev)
{
	ioasid_device_detach_pasid(idev, IOASID_PASID_RID);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_detach, IOASID);

/**
 * ioasid_device_replace_pasid() - move (device, PASID) to another IOAS or HWPT
 * @idev: bound device, attached (for the RID: alone attached in its group)
 * @pasid: the PASID, or IOASID_PASID_RID
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * The new attachment's reserved regions are taken before the old one's
 * are let go, whatever the two HWPTs are, so none is ever lost. When the
 * driver can take mappings before attach, the new domain is filled before
 * the switch. On failure the device stays where it was.
 *
 * Context: process context; may sleep. No core lock may be held.
 * Return: 0; -EINVAL when not attached; -EBUSY when other devices of the
 * group are attached (for the RID); otherwise as
 * ioasid_device_attach_pasid().
 */
int ioasid_device_replace_pasid(struct ioasid_device *idev, u32 pasid,
				u32 *pt_id)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_attach *old, *att;
	struct ioasid_hwpt *hwpt;
	int rc = 0;

	att = att_new(idev, pasid);
	if (!att)
		return -ENOMEM;
	mutex_lock(&igroup->lock);
	old = xa_load(&idev->attaches, pasid);
	if (!old) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (att_names(old->hwpt, *pt_id)) {
		*pt_id = old->hwpt->obj.id;
		goto out_unlock;
	}
	if (pasid == IOASID_PASID_RID && igroup->num_attached != 1) {
		rc = -EBUSY;
		goto out_unlock;
	}
	/* The new attachment takes over the old one's PASID reference. */
	att->pasid_held = old->pasid_held;
	old->pasid_held = false;
	hwpt = att_connect(idev, att, *pt_id, old->hwpt);
	if (IS_ERR(hwpt)) {
		old->pasid_held = att->pasid_held;
		att->pasid_held = false;
		rc = PTR_ERR(hwpt);
		goto out_unlock;
	}
	att->hwpt = hwpt;
	/* The slot exists: storing over it cannot fail. */
	xa_store(&idev->attaches, pasid, att, GFP_KERNEL);
	if (pasid == IOASID_PASID_RID)
		igroup->hwpt = hwpt;
	ioasid_fault_route(idev, pasid, hwpt, old->hwpt);
	ioasid_iopt_unreserve(&ioasid_hwpt_s2(old->hwpt)->ioas->iopt, old);
	*pt_id = hwpt->obj.id;
	mutex_unlock(&igroup->lock);
	att_release_hwpt(old->hwpt);
	att_free(old);
	return 0;

out_unlock:
	mutex_unlock(&igroup->lock);
	att_free(att);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_replace_pasid, IOASID);

/**
 * ioasid_device_replace() - move a device's RID to another IOAS or HWPT
 * @idev: bound device, attached, alone attached in its group
 * @pt_id: in, an IOAS or HWPT ID; out, the HWPT ID attached to
 *
 * Context: process context; may sleep. No core lock may be held.
 * Return: as ioasid_device_replace_pasid().
 */
int ioasid_device_replace(struct ioasid_device *idev, u32 *pt_id)
{
	return ioasid_device_replace_pasid(idev, IOASID_PASID_RID, pt_id);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_replace, IOASID);

/* Is a PASID of the device attached? Under the group's lock. */
static bool ioasid_device_pasids_attached(struct ioasid_device *idev)
{
	unsigned long pasid;
	void *att;

	lockdep_assert_held(&idev->igroup->lock);
	xa_for_each(&idev->attaches, pasid, att)
		if (pasid != IOASID_PASID_RID)
			return true;
	return false;
}

/*
 * PASIDs are local to a device when its IOMMU keeps a PASID table per
 * device, as drivers that attach domains to PASIDs do (VT-d in scalable
 * mode, the mock), and the device is the user's alone.
 */
static bool ioasid_device_pasids_local(struct ioasid_device *idev)
{
	const struct iommu_ops *ops = dev_iommu_ops(idev->dev);

	return ops->default_domain_ops &&
	       ops->default_domain_ops->set_dev_pasid &&
	       ioasid_device_pasid_width(idev) > 1;
}

/**
 * ioasid_device_opt_pasid_mode() - IOASID_OPT_PASID_MODE of IOASID_OPTION
 * @ictx: context
 * @args: the option; @args->obj_id is a bound device
 *
 * Context: process context; may sleep.
 * Return: 0; -ENOENT for an unknown device; -EINVAL for an unknown mode;
 * -EOPNOTSUPP for device mode on a device whose PASIDs are not its own;
 * -EBUSY while a PASID of the device is attached.
 */
int ioasid_device_opt_pasid_mode(struct ioasid_ctx *ictx,
				 struct ioasid_option *args)
{
	struct ioasid_device *idev;
	int rc = 0;

	idev = ioasid_get_device(ictx, args->obj_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	mutex_lock(&idev->igroup->lock);
	if (!(args->flags & IOASID_OPTION_WRITE))
		args->value = idev->pasid_mode;
	else if (args->value > IOASID_PASID_MODE_DEVICE)
		rc = -EINVAL;
	else if (args->value == IOASID_PASID_MODE_DEVICE &&
		 !ioasid_device_pasids_local(idev))
		rc = -EOPNOTSUPP;
	else if (ioasid_device_pasids_attached(idev))
		rc = -EBUSY;
	else
		idev->pasid_mode = args->value;
	mutex_unlock(&idev->igroup->lock);
	ioasid_obj_done(&idev->obj);
	return rc;
}

/* PCI features the core turns on for the user ------------------------- */

#define IOASID_DEVICE_ALL_FEATURES \
	(IOASID_DEVICE_ATS | IOASID_DEVICE_PRI | IOASID_DEVICE_PASID)

/* What the device has a capability for, and its trust allows. */
static u32 ioasid_device_supported(struct pci_dev *pdev)
{
	u32 supported = 0;

	if (pci_pasid_features(pdev) >= 0)
		supported |= IOASID_DEVICE_PASID;
	if (!pci_dev_trusted(pdev))
		return supported;
	if (pci_ats_supported(pdev))
		supported |= IOASID_DEVICE_ATS;
	if (pci_pri_supported(pdev))
		supported |= IOASID_DEVICE_PRI;
	return supported;
}

/* Turn off @features, PRI before ATS as the PCIe spec orders them. */
static void ioasid_device_release_features(struct ioasid_device *idev,
					   u32 features)
{
	struct pci_dev *pdev = to_pci_dev(idev->dev);

	if (features & IOASID_DEVICE_PRI)
		pci_release_pri(pdev);
	if (features & IOASID_DEVICE_ATS)
		pci_release_ats(pdev);
	if (features & IOASID_DEVICE_PASID)
		pci_release_pasid(pdev);
	idev->features &= ~features;
}

/* Turn on @features: PASID first, then ATS, then PRI. All or nothing. */
static int ioasid_device_request_features(struct ioasid_device *idev,
					  u32 features)
{
	struct pci_dev *pdev = to_pci_dev(idev->dev);
	u32 done = 0;
	int rc = 0;

	if (features & IOASID_DEVICE_PASID) {
		rc = pci_request_pasid(pdev);
		if (rc)
			goto err;
		done |= IOASID_DEVICE_PASID;
	}
	if (features & IOASID_DEVICE_ATS) {
		rc = pci_request_ats(pdev);
		if (rc)
			goto err;
		done |= IOASID_DEVICE_ATS;
	}
	if (features & IOASID_DEVICE_PRI) {
		rc = pci_request_pri(pdev);
		if (rc)
			goto err;
		done |= IOASID_DEVICE_PRI;
	}
	idev->features = features;
	return 0;

err:
	idev->features |= done;
	ioasid_device_release_features(idev, done);
	return rc;
}

/*
 * Make @want the enabled set. Everything on is turned off first, since
 * PASID cannot be turned on under ATS; on failure the old set is turned on
 * again.
 */
static int ioasid_device_set_features(struct ioasid_device *idev, u32 want)
{
	u32 old = idev->features;
	int rc;

	if (want & ~IOASID_DEVICE_ALL_FEATURES)
		return -EINVAL;
	if ((want & IOASID_DEVICE_PRI) && !(want & IOASID_DEVICE_ATS))
		return -EINVAL;
	if (want == old)
		return 0;
	ioasid_device_release_features(idev, old);
	rc = ioasid_device_request_features(idev, want);
	if (rc && ioasid_device_request_features(idev, old))
		dev_warn(idev->dev, "ioasid: PCI features %#x not restored\n",
			 old);
	return rc;
}

/* IOASID_DEVICE_FEATURES; see include/uapi/linux/ioasid.h. */
int ioasid_device_features_ioctl(struct ioasid_call *call)
{
	struct ioasid_device_features args;
	struct ioasid_device *idev;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags & ~IOASID_DEVICE_FEATURES_SET)
		return -EOPNOTSUPP;
	idev = ioasid_get_device(call->ictx, args.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (!dev_is_pci(idev->dev)) {
		rc = -EOPNOTSUPP;
		goto out_done;
	}
	mutex_lock(&idev->igroup->lock);
	if (args.flags & IOASID_DEVICE_FEATURES_SET)
		rc = ioasid_device_set_features(idev, args.features);
	args.out_enabled = idev->features;
	args.out_supported = ioasid_device_supported(to_pci_dev(idev->dev));
	mutex_unlock(&idev->igroup->lock);
	if (!rc)
		rc = ioasid_call_reply(call, &args, sizeof(args));
out_done:
	ioasid_obj_done(&idev->obj);
	return rc;
}

/* Device information -------------------------------------------------- */

/* What the device and its IOMMU can do, as enum ioasid_device_caps. */
static u32 ioasid_device_caps(struct ioasid_device *idev, u64 s1_formats)
{
	u32 caps = 0, supported;

	if (s1_formats)
		caps |= IOASID_DEVICE_CAP_NEST;
	if (idev->faults.registered &&
	    device_iommu_capable(idev->dev, IOMMU_CAP_FAULT_REPORTS))
		caps |= IOASID_DEVICE_CAP_FAULTS;
	/* A device that is not PCI pages in if its IOMMU answers requests. */
	if (!dev_is_pci(idev->dev)) {
		if (dev_iommu_ops(idev->dev)->page_response)
			caps |= IOASID_DEVICE_CAP_PRI;
		return caps;
	}
	/* As IOASID_DEVICE_FEATURES would allow them: trust included. */
	supported = ioasid_device_supported(to_pci_dev(idev->dev));
	if (supported & IOASID_DEVICE_ATS)
		caps |= IOASID_DEVICE_CAP_ATS;
	if (supported & IOASID_DEVICE_PRI)
		caps |= IOASID_DEVICE_CAP_PRI;
	return caps;
}

/* IOASID_DEVICE_INFO; see include/uapi/linux/ioasid.h. */
int ioasid_device_info_ioctl(struct ioasid_call *call)
{
	struct ioasid_device_info args;
	struct ioasid_device *idev;
	u32 width;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	idev = ioasid_get_device(call->ictx, args.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	width = ioasid_device_pasid_width(idev);
	args.out_pasid_bits = width > 1 ? ilog2(width) : 0;
	args.out_s1_formats = iommu_nest_formats(idev->dev);
	args.out_caps = ioasid_device_caps(idev, args.out_s1_formats);
	args.out_iova_bits = idev->igroup->iova_bits;
	args.out_pgsize_bitmap = idev->igroup->pgsize_bitmap;
	ioasid_obj_done(&idev->obj);
	return ioasid_call_reply(call, &args, sizeof(args));
}

static void ioasid_device_free(struct ioasid_object *obj)
{
	struct ioasid_device *idev =
		container_of(obj, struct ioasid_device, obj);
	struct ioasid_attach *att;
	unsigned long pasid;

	xa_for_each(&idev->attaches, pasid, att)
		ioasid_device_detach_pasid(idev, pasid);
	xa_destroy(&idev->attaches);
	ioasid_fault_unbind(idev);
	if (idev->features)
		ioasid_device_release_features(idev, idev->features);
	if (idev->igroup)
		ioasid_group_put(idev->igroup);
	if (idev->destroy_dev)
		idev->destroy_dev(idev->dev);
	put_device(idev->dev);
	kfree(idev);
}

/* Detaching and unbinding copes with any stage of a bind: one function. */
const struct ioasid_obj_ops ioasid_device_ops = {
	.name = "device",
	.destroy = ioasid_device_free,
	.abort = ioasid_device_free,
};

/**
 * ioasid_device_unbind() - undo ioasid_device_bind()
 * @idev: bound device; detached first if still attached
 *
 * Waits for commands in flight that found the device, then releases the
 * group.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_device_unbind(struct ioasid_device *idev)
{
	ioasid_obj_destroy_held(&idev->obj);
}
EXPORT_SYMBOL_NS_GPL(ioasid_device_unbind, IOASID);
