// SPDX-License-Identifier: GPL-2.0-only
/*
 * HWPTs: hardware page tables, one IOMMU domain each.
 *
 * Every kind of HWPT starts with struct ioasid_hwpt and shares one object
 * type; @kind says which one it is. There are two kinds, paging and
 * nested.
 *
 * Paging HWPTs (struct ioasid_hwpt_paging) mirror an IOAS, which they
 * hold. A paging HWPT is "mirrored" once its domain is among the IOAS's
 * domains: filled with every mapping and kept in sync from then on. It
 * becomes mirrored at its first attach, and not before, because IOMMU
 * drivers finish a domain at different times: virtio-iommu only learns the
 * domain's page sizes and aperture when a device first attaches, and
 * cannot take a mapping until then. A driver that set the domain's
 * aperture when allocating it (VT-d, AMD-Vi, the mock) can take mappings
 * at once; for those a HWPT can be mirrored before its first attach, which
 * is what a hitless replace needs (see device.c).
 *
 * An automatic HWPT is made by attaching a device to an IOAS and dies when
 * the last attachment to it goes; an explicit one (IOASID_HWPT_CREATE)
 * lives until userspace destroys it.
 *
 * Nested HWPTs (struct ioasid_hwpt_nested) are a stage-1 page table that
 * userspace writes in its own memory, at addresses of an IOAS (guest
 * physical addresses, for a VMM), and an IOMMU_DOMAIN_NESTED domain that
 * walks it. Their parent is a paging HWPT created with
 * IOASID_HWPT_NEST_PARENT, whose domain was allocated to be a stage 2: it
 * translates every read of the stage-1 table and the stage 1's output. A
 * nested HWPT holds its parent, so the parent cannot be destroyed first
 * (EBUSY), and the parent is mirrored before a nested domain is attached,
 * so the stage-1 walk never meets a half-filled stage 2. Reserved regions
 * and cache coherency belong to the IOAS, so for a nested HWPT they are
 * the parent's (ioasid_hwpt_s2()). The kernel never reads the stage 1; it
 * passes the user's invalidations down to the IOMMU driver in order, and
 * reports how many were done.
 */
#include <linux/iommu.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

/* Undo whatever part of a paging HWPT was built, and free it. */
static void hwpt_paging_teardown(struct ioasid_hwpt_paging *hwpt)
{
	struct ioasid_ioas *ioas = hwpt->ioas;

	if (ioas) {
		mutex_lock(&ioas->mutex);
		list_del_init(&hwpt->item);
		mutex_unlock(&ioas->mutex);
		if (hwpt->mirrored)
			ioasid_iopt_remove_domain(&ioas->iopt,
						  hwpt->common.domain);
		ioasid_obj_unhold(&ioas->obj);
	}
	if (hwpt->common.domain)
		iommu_domain_free(hwpt->common.domain);
	mutex_destroy(&hwpt->lock);
	kfree(hwpt);
}

/* Undo whatever part of a nested HWPT was built, and free it. */
static void hwpt_nested_teardown(struct ioasid_hwpt_nested *hwpt)
{
	/* The nested domain goes before its parent's can. */
	if (hwpt->common.domain)
		iommu_domain_free(hwpt->common.domain);
	if (hwpt->parent)
		ioasid_obj_unhold(&hwpt->parent->common.obj);
	kfree(hwpt);
}

static void hwpt_free(struct ioasid_object *obj)
{
	struct ioasid_hwpt *hwpt = container_of(obj, struct ioasid_hwpt, obj);

	if (hwpt->faultq)
		ioasid_obj_unhold(&hwpt->faultq->obj);
	switch (hwpt->kind) {
	case IOASID_HWPT_PAGING:
		hwpt_paging_teardown(to_hwpt_paging(hwpt));
		return;
	case IOASID_HWPT_NESTED:
		hwpt_nested_teardown(to_hwpt_nested(hwpt));
		return;
	}
	IOASID_WARN_ON(1);
}

/* Abort and destroy agree: teardown copes with any stage of the build. */
const struct ioasid_obj_ops ioasid_hwpt_ops = {
	.name = "hwpt",
	.destroy = hwpt_free,
	.abort = hwpt_free,
};

/**
 * ioasid_get_hwpt() - find a HWPT of any kind for the command in flight
 * @ictx: the context
 * @id: ID from userspace
 *
 * Context: any.
 * Return: the HWPT, to be released with ioasid_obj_done(), or
 * ERR_PTR(-ENOENT).
 */
struct ioasid_hwpt *ioasid_get_hwpt(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj = ioasid_obj_find(ictx, id, &ioasid_hwpt_ops);

	return IS_ERR(obj) ? ERR_CAST(obj) :
			     container_of(obj, struct ioasid_hwpt, obj);
}

/**
 * ioasid_hwpt_paging_new() - build a paging HWPT over @ioas
 * @ictx: the context
 * @ioas: the IOAS, found or held by the caller
 * @dev: a device whose IOMMU driver allocates the domain
 * @auto_domain: destroy the HWPT with its last attachment
 * @nest_parent: allocate the domain to be the stage 2 of nested HWPTs
 *
 * The HWPT holds @ioas and is not mirrored yet. Publish it with
 * ioasid_hwpt_paging_publish(), which makes it visible on the IOAS too.
 *
 * Context: process context; may sleep; takes ioas.mutex.
 * Return: the HWPT, not yet published (ioasid_obj_publish() or
 * ioasid_obj_abort()); ERR_PTR(-ENOMEM); ERR_PTR(-ENOENT) when @ioas is
 * being destroyed; ERR_PTR(-EOPNOTSUPP) for @nest_parent when @dev's IOMMU
 * cannot nest.
 */
struct ioasid_hwpt_paging *ioasid_hwpt_paging_new(struct ioasid_ctx *ictx,
						  struct ioasid_ioas *ioas,
						  struct device *dev,
						  bool auto_domain,
						  bool nest_parent)
{
	struct ioasid_hwpt_paging *hwpt;
	struct iommu_domain *domain;
	int rc;

	hwpt = ioasid_obj_new(ictx, sizeof(*hwpt), &ioasid_hwpt_ops);
	if (IS_ERR(hwpt))
		return hwpt;
	hwpt->common.kind = IOASID_HWPT_PAGING;
	hwpt->auto_domain = auto_domain;
	INIT_LIST_HEAD(&hwpt->item);
	mutex_init(&hwpt->lock);
	if (nest_parent)
		domain = iommu_domain_alloc_nest_parent(dev);
	else
		domain = iommu_domain_alloc(dev->bus) ?: ERR_PTR(-ENOMEM);
	if (IS_ERR(domain)) {
		rc = PTR_ERR(domain);
		goto err_abort;
	}
	hwpt->common.domain = domain;
	hwpt->nest_parent = nest_parent;
	rc = ioasid_obj_hold(&ioas->obj);
	if (rc)
		goto err_abort;
	hwpt->ioas = ioas;
	return hwpt;

err_abort:
	ioasid_obj_abort(&hwpt->common.obj);
	return ERR_PTR(rc);
}

/**
 * ioasid_hwpt_paging_publish() - make a built paging HWPT visible
 * @hwpt: from ioasid_hwpt_paging_new()
 *
 * It goes on its IOAS's list, where attaching to the IOAS may find it,
 * and into the object table.
 *
 * Context: process context; takes ioas.mutex.
 */
void ioasid_hwpt_paging_publish(struct ioasid_hwpt_paging *hwpt)
{
	struct ioasid_ioas *ioas = hwpt->ioas;

	mutex_lock(&ioas->mutex);
	list_add_tail(&hwpt->item, &ioas->hwpt_list);
	mutex_unlock(&ioas->mutex);
	ioasid_obj_publish(&hwpt->common.obj);
}

/**
 * ioasid_hwpt_paging_early() - can the domain take mappings before attach?
 * @hwpt: a paging HWPT
 *
 * Return: true when the driver set the aperture at allocation.
 */
bool ioasid_hwpt_paging_early(struct ioasid_hwpt_paging *hwpt)
{
	return hwpt->common.domain->geometry.force_aperture;
}

/**
 * ioasid_hwpt_paging_mirror() - fill the domain and keep it in sync
 * @hwpt: a paging HWPT; nothing to do when it is mirrored already
 *
 * Context: process context; the caller holds hwpt.lock.
 * Return: 0, or an errno with the domain empty: -ENOMEM, -EADDRINUSE when
 * a mapping is not aligned to the domain's page size, or the driver's.
 */
int ioasid_hwpt_paging_mirror(struct ioasid_hwpt_paging *hwpt)
{
	int rc;

	if (hwpt->mirrored)
		return 0;
	rc = ioasid_iopt_add_domain(&hwpt->ioas->iopt, hwpt->common.domain);
	if (!rc)
		hwpt->mirrored = true;
	return rc;
}

/**
 * ioasid_hwpt_paging_unmirror() - stop mirroring and empty the domain
 * @hwpt: a mirrored paging HWPT that no group is attached to
 *
 * Context: process context; the caller holds hwpt.lock.
 */
void ioasid_hwpt_paging_unmirror(struct ioasid_hwpt_paging *hwpt)
{
	if (!hwpt->mirrored)
		return;
	ioasid_iopt_remove_domain(&hwpt->ioas->iopt, hwpt->common.domain);
	hwpt->mirrored = false;
}

/**
 * ioasid_hwpt_paging_enforce() - make the domain enforce cache coherency
 * @hwpt: a paging HWPT not mirrored yet: attached to its first group, or
 *	  about to take a group whose IOMMU enforced it for the group's
 *	  previous domain
 *
 * A driver can only judge this for a device it knows, and it must be
 * settled before anything is mapped.
 *
 * Context: process context.
 */
void ioasid_hwpt_paging_enforce(struct ioasid_hwpt_paging *hwpt)
{
	struct iommu_domain *domain = hwpt->common.domain;

	if (!hwpt->mirrored && domain->ops->enforce_cache_coherency)
		hwpt->enforce_cache_coherency =
			domain->ops->enforce_cache_coherency(domain);
}

/**
 * ioasid_hwpt_paging_fits() - can @dev's IOMMU driver take this HWPT?
 * @hwpt: a paging HWPT
 * @dev: a device bound to the core
 *
 * A domain belongs to the IOMMU driver that allocated it; attaching a
 * device of another IOMMU to it hands the domain to a driver that does not
 * know it. Domains of one driver are told apart by the driver itself, at
 * attach.
 *
 * Context: any.
 * Return: true when the domain is of @dev's IOMMU driver.
 */
bool ioasid_hwpt_paging_fits(struct ioasid_hwpt_paging *hwpt,
			     struct device *dev)
{
	const struct iommu_ops *ops = dev_iommu_ops(dev);

	return hwpt->common.domain->ops == ops->default_domain_ops;
}

/**
 * ioasid_hwpt_paging_msi_cookie() - give the domain its software MSI window
 * @hwpt: a paging HWPT about to take @group
 * @group: the group
 *
 * On IOMMUs whose MSI doorbells are translated (IOMMU_RESV_SW_MSI, as on
 * Arm SMMU and virtio-iommu without an MSI region), the kernel maps the
 * doorbells into the domain itself, inside the window that region names:
 * the window is reserved in the IOAS, and the domain gets the MSI cookie
 * that dma-iommu maps them through, once, before a device uses it.
 *
 * Context: process context; the caller holds hwpt.lock.
 * Return: 0, or an errno from the IOMMU core.
 */
int ioasid_hwpt_paging_msi_cookie(struct ioasid_hwpt_paging *hwpt,
				  struct iommu_group *group)
{
	struct iommu_resv_region *region;
	LIST_HEAD(regions);
	int rc;

	if (hwpt->msi_cookie)
		return 0;
	rc = iommu_get_group_resv_regions(group, &regions);
	if (rc)
		return rc;
	list_for_each_entry(region, &regions, list) {
		if (region->type != IOMMU_RESV_SW_MSI)
			continue;
		rc = iommu_get_msi_cookie(hwpt->common.domain, region->start);
		if (!rc)
			hwpt->msi_cookie = true;
		break;
	}
	iommu_put_resv_regions(NULL, &regions);
	return rc;
}

/* Make @hwpt send page requests to the queue @fault_id, which it holds. */
static int hwpt_set_faultq(struct ioasid_hwpt *hwpt, u32 fault_id)
{
	struct ioasid_faultq *q;
	int rc;

	q = ioasid_get_faultq(hwpt->obj.ictx, fault_id);
	if (IS_ERR(q))
		return PTR_ERR(q);
	rc = ioasid_obj_hold(&q->obj);
	if (!rc)
		hwpt->faultq = q;
	ioasid_obj_done(&q->obj);
	return rc;
}

/**
 * ioasid_hwpt_nested_prepare() - make a nested HWPT's parent ready for DMA
 * @hwpt: a nested HWPT about to be attached
 *
 * The stage-1 walk reads through the parent, so the parent is filled from
 * its IOAS, and kept in sync, before the nested domain is used. A parent
 * is mirrored early, before any device is attached to it: only drivers
 * that finish a domain at allocation can nest.
 *
 * Context: process context; the caller holds the parent's lock.
 * Return: 0; -EINVAL when the parent's driver finishes domains only at
 * their first attach; the errno of ioasid_hwpt_paging_mirror().
 */
int ioasid_hwpt_nested_prepare(struct ioasid_hwpt_nested *hwpt)
{
	struct ioasid_hwpt_paging *parent = hwpt->parent;

	lockdep_assert_held(&parent->lock);
	if (parent->mirrored)
		return 0;
	if (!ioasid_hwpt_paging_early(parent))
		return -EINVAL;
	ioasid_hwpt_paging_enforce(parent);
	return ioasid_hwpt_paging_mirror(parent);
}

/* What IOASID_HWPT_CREATE refuses before looking anything up. */
static int hwpt_create_check(const struct ioasid_hwpt_create *args)
{
	if (args->flags &
	    ~(IOASID_HWPT_NEST_PARENT | IOASID_HWPT_FAULT_ID_VALID))
		return -EOPNOTSUPP;
	if (args->__reserved ||
	    (args->fault_id && !(args->flags & IOASID_HWPT_FAULT_ID_VALID)))
		return -EINVAL;
	switch (args->kind) {
	case IOASID_HWPT_PAGING:
		if (args->data_uptr || args->data_len || args->s1_format)
			return -EINVAL;
		return 0;
	case IOASID_HWPT_NESTED:
		if (args->flags & IOASID_HWPT_NEST_PARENT)
			return -EINVAL;
		return 0;
	}
	return -EOPNOTSUPP;
}

static struct ioasid_hwpt *hwpt_paging_create(struct ioasid_ctx *ictx,
					      struct ioasid_hwpt_create *args,
					      struct ioasid_device *idev)
{
	struct ioasid_hwpt_paging *hwpt;
	struct ioasid_ioas *ioas;

	ioas = ioasid_get_ioas(ictx, args->parent_id);
	if (IS_ERR(ioas))
		return ERR_CAST(ioas);
	/* On success the HWPT holds the IOAS. */
	hwpt = ioasid_hwpt_paging_new(ictx, ioas, idev->dev, false,
				      args->flags & IOASID_HWPT_NEST_PARENT);
	ioasid_obj_done(&ioas->obj);
	return IS_ERR(hwpt) ? ERR_CAST(hwpt) : &hwpt->common;
}

/* The nest parent @id names, for @dev; found, to be ioasid_obj_done(). */
static struct ioasid_hwpt_paging *hwpt_get_nest_parent(struct ioasid_ctx *ictx,
						       u32 id,
						       struct device *dev)
{
	struct ioasid_hwpt_paging *parent;
	struct ioasid_hwpt *hwpt;

	hwpt = ioasid_get_hwpt(ictx, id);
	if (IS_ERR(hwpt))
		return ERR_CAST(hwpt);
	parent = to_hwpt_paging(hwpt);
	if (hwpt->kind != IOASID_HWPT_PAGING || !parent->nest_parent ||
	    !ioasid_hwpt_paging_fits(parent, dev)) {
		ioasid_obj_done(&hwpt->obj);
		return ERR_PTR(-EINVAL);
	}
	return parent;
}

static struct ioasid_hwpt *hwpt_nested_create(struct ioasid_ctx *ictx,
					      struct ioasid_hwpt_create *args,
					      struct ioasid_device *idev)
{
	struct ioasid_hwpt_paging *parent;
	struct ioasid_hwpt_nested *hwpt;
	struct iommu_domain *domain;
	int rc;

	/* Whatever the parent is, a device that cannot nest says so. */
	if (!iommu_nest_formats(idev->dev))
		return ERR_PTR(-EOPNOTSUPP);
	parent = hwpt_get_nest_parent(ictx, args->parent_id, idev->dev);
	if (IS_ERR(parent))
		return ERR_CAST(parent);
	hwpt = ioasid_obj_new(ictx, sizeof(*hwpt), &ioasid_hwpt_ops);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_done;
	}
	hwpt->common.kind = IOASID_HWPT_NESTED;
	rc = ioasid_obj_hold(&parent->common.obj);
	if (rc)
		goto err_abort;
	hwpt->parent = parent;
	domain = iommu_domain_alloc_nested(idev->dev, parent->common.domain,
					   args->s1_format,
					   u64_to_user_ptr(args->data_uptr),
					   args->data_len);
	if (IS_ERR(domain)) {
		rc = PTR_ERR(domain);
		goto err_abort;
	}
	hwpt->common.domain = domain;
	goto out_done;

err_abort:
	ioasid_obj_abort(&hwpt->common.obj);
out_done:
	ioasid_obj_done(&parent->common.obj);
	return rc ? ERR_PTR(rc) : &hwpt->common;
}

static void hwpt_publish(struct ioasid_hwpt *hwpt)
{
	if (hwpt->kind == IOASID_HWPT_PAGING)
		ioasid_hwpt_paging_publish(to_hwpt_paging(hwpt));
	else
		ioasid_obj_publish(&hwpt->obj);
}

/* IOASID_HWPT_CREATE; see include/uapi/linux/ioasid.h. */
int ioasid_hwpt_create_ioctl(struct ioasid_call *call)
{
	struct ioasid_hwpt_create args;
	struct ioasid_device *idev;
	struct ioasid_hwpt *hwpt;
	int rc;

	/* Callers built before nesting pass the structure up to the ID. */
	rc = ioasid_call_fetch(call, &args, sizeof(args),
			       offsetofend(struct ioasid_hwpt_create,
					   out_hwpt_id));
	if (rc)
		return rc;
	rc = hwpt_create_check(&args);
	if (rc)
		return rc;
	idev = ioasid_get_device(call->ictx, args.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (args.kind == IOASID_HWPT_NESTED)
		hwpt = hwpt_nested_create(call->ictx, &args, idev);
	else
		hwpt = hwpt_paging_create(call->ictx, &args, idev);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_idev;
	}
	if (args.flags & IOASID_HWPT_FAULT_ID_VALID) {
		rc = hwpt_set_faultq(hwpt, args.fault_id);
		if (rc) {
			ioasid_obj_abort(&hwpt->obj);
			goto out_idev;
		}
	}
	args.out_hwpt_id = hwpt->obj.id;
	rc = ioasid_call_reply(call, &args, sizeof(args));
	if (rc)
		ioasid_obj_abort(&hwpt->obj);
	else
		hwpt_publish(hwpt);
out_idev:
	ioasid_obj_done(&idev->obj);
	return rc;
}

/* IOASID_HWPT_INVALIDATE; see include/uapi/linux/ioasid.h. */
int ioasid_hwpt_invalidate_ioctl(struct ioasid_call *call)
{
	struct ioasid_hwpt_invalidate args;
	struct ioasid_hwpt *hwpt;
	void __user *uptr;
	u32 num;
	int rc, rc2;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	if (args.__reserved)
		return -EINVAL;
	uptr = u64_to_user_ptr(args.entries_uptr);
	num = args.entry_num;
	args.entry_num = 0;
	if (num > IOASID_INVALIDATE_MAX) {
		rc = -EINVAL;
		goto out_reply;
	}
	hwpt = ioasid_get_hwpt(call->ictx, args.hwpt_id);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_reply;
	}
	if (hwpt->kind != IOASID_HWPT_NESTED) {
		rc = -EOPNOTSUPP;
	} else if (num) {
		rc = iommu_cache_invalidate_user(hwpt->domain, uptr,
						 args.entry_len, &num);
		args.entry_num = num;
	}
	ioasid_obj_done(&hwpt->obj);
out_reply:
	rc2 = ioasid_call_reply(call, &args, sizeof(args));
	return rc ?: rc2;
}
