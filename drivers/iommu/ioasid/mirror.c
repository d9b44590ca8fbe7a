// SPDX-License-Identifier: GPL-2.0-only
/*
 * Mirrors: devices that translate their DMA themselves, given the mappings
 * of an IOAS. A vDPA device with set_map or dma_map (vdpa_sim, or a NIC
 * with an on-chip IOMMU) is one: vhost-vdpa makes a mirror for each of its
 * address spaces.
 *
 * To the IOAS a mirror is one more domain: a software IOMMU domain whose
 * map_pages, unmap_pages and IOTLB sync ops call the driver's struct
 * ioasid_mirror_ops. So the IOAS fills it when it is attached and keeps
 * it in sync from then on, the way it keeps IOMMU domains: each map or
 * unmap command ends with one flush, in which a driver that can only
 * replace its whole translation (vDPA set_map) does so once. The pages are
 * the IOAS's, pinned and charged once whoever else maps them.
 *
 * Maps and unmaps of one IOAS write IOPTEs side by side; the callbacks of
 * a mirror are called one at a time, under mirror.ops_lock. A flush may
 * so carry another command's changes early: they are of IOVAs that
 * command holds, with its pages pinned.
 *
 * A mirror is attached to one IOAS at a time. Moving it to another one
 * empties it (an unmap of everything, then a flush) and fills it from the
 * new IOAS: for that moment the device translates nothing, so unlike an
 * IOMMU domain's replace the move is not hitless.
 *
 * Lock order: mirror.lock, then iopt.domains_rwsem and iopt.rwsem (in
 * ioasid_iopt_add_domain() and ioasid_iopt_remove_domain()), then
 * mirror.ops_lock, under which the driver's callbacks run.
 */
#include <linux/iommu.h>
#include <linux/slab.h>

#include "ioasid_private.h"

/**
 * struct ioasid_mirror - a driver's translation, kept equal to an IOAS
 * @obj: header; driver-owned
 * @domain: the software domain among the IOAS's domains while attached
 * @ictx: the context
 * @ops: the driver's callbacks
 * @data: passed to them
 * @lock: serialises attach, replace and detach
 * @ops_lock: serialises the calls to @ops
 * @ioas: the IOAS attached to, held, or NULL
 */
struct ioasid_mirror {
	struct ioasid_object obj;
	struct iommu_domain domain;
	struct ioasid_ctx *ictx;
	const struct ioasid_mirror_ops *ops;
	void *data;
	struct mutex lock; /* attach, replace, detach */
	struct mutex ops_lock; /* calls to ops */
	struct ioasid_ioas *ioas;
};

static struct ioasid_mirror *to_mirror(struct iommu_domain *domain)
{
	return container_of(domain, struct ioasid_mirror, domain);
}

static int mirror_map_pages(struct iommu_domain *domain, unsigned long iova,
			    phys_addr_t paddr, size_t pgsize, size_t pgcount,
			    int prot, gfp_t gfp, size_t *mapped)
{
	struct ioasid_mirror *mirror = to_mirror(domain);
	size_t size = pgsize * pgcount;
	int rc;

	mutex_lock(&mirror->ops_lock);
	rc = mirror->ops->map(mirror->data, iova, paddr, size, prot);
	mutex_unlock(&mirror->ops_lock);
	if (!rc)
		*mapped = size;
	return rc;
}

static size_t mirror_unmap_pages(struct iommu_domain *domain,
				 unsigned long iova, size_t pgsize,
				 size_t pgcount,
				 struct iommu_iotlb_gather *gather)
{
	struct ioasid_mirror *mirror = to_mirror(domain);
	size_t size = pgsize * pgcount;

	mutex_lock(&mirror->ops_lock);
	mirror->ops->unmap(mirror->data, iova, size);
	mutex_unlock(&mirror->ops_lock);
	return size;
}

static void mirror_sync_map(struct iommu_domain *domain, unsigned long iova,
			    size_t size)
{
	struct ioasid_mirror *mirror = to_mirror(domain);

	mutex_lock(&mirror->ops_lock);
	mirror->ops->flush(mirror->data);
	mutex_unlock(&mirror->ops_lock);
}

static void mirror_sync(struct iommu_domain *domain,
			struct iommu_iotlb_gather *gather)
{
	struct ioasid_mirror *mirror = to_mirror(domain);

	mutex_lock(&mirror->ops_lock);
	mirror->ops->flush(mirror->data);
	mutex_unlock(&mirror->ops_lock);
}

static const struct iommu_domain_ops mirror_domain_ops = {
	.map_pages = mirror_map_pages,
	.unmap_pages = mirror_unmap_pages,
	.iotlb_sync_map = mirror_sync_map,
	.iotlb_sync = mirror_sync,
};

/* Leave the IOAS: the driver is told to forget every mapping. */
static void mirror_leave(struct ioasid_mirror *mirror)
{
	struct ioasid_ioas *ioas = mirror->ioas;

	if (!ioas)
		return;
	ioasid_iopt_remove_domain(&ioas->iopt, &mirror->domain);
	mirror->ioas = NULL;
	ioasid_obj_unhold(&ioas->obj);
}

/* Join @ioas, which the caller holds for the mirror. */
static int mirror_join(struct ioasid_mirror *mirror, struct ioasid_ioas *ioas)
{
	int rc;

	rc = ioasid_iopt_add_domain(&ioas->iopt, &mirror->domain);
	if (!rc)
		mirror->ioas = ioas;
	return rc;
}

static void mirror_free(struct ioasid_object *obj)
{
	struct ioasid_mirror *mirror = container_of(obj, struct ioasid_mirror,
						    obj);

	mirror_leave(mirror);
	mutex_destroy(&mirror->ops_lock);
	mutex_destroy(&mirror->lock);
	kfree(mirror);
}

const struct ioasid_obj_ops ioasid_mirror_obj_ops = {
	.name = "mirror",
	.destroy = mirror_free,
	.abort = mirror_free,
};

/**
 * ioasid_mirror_create() - create a mirror for a driver
 * @ictx: the context
 * @ops: callbacks, all required; they run one at a time, under the
 *	 IOAS's locks, and must not call into the core
 * @data: passed to the callbacks
 * @first: first IOVA the device translates
 * @last: last IOVA the device translates, inclusive
 * @id: out, the mirror's ID
 *
 * The mirror belongs to the driver: userspace cannot destroy it (EPERM);
 * ioasid_mirror_destroy() does. The IOVAs outside [@first, @last] become
 * reserved in each IOAS it is attached to.
 *
 * Context: process context; may sleep.
 * Return: the mirror, published and detached, or ERR_PTR(-EINVAL) for
 * missing callbacks or an empty range, ERR_PTR(-ENOMEM), ERR_PTR(-EBUSY)
 * when the context has no free ID left.
 */
struct ioasid_mirror *ioasid_mirror_create(struct ioasid_ctx *ictx,
					   const struct ioasid_mirror_ops *ops,
					   void *data, unsigned long first,
					   unsigned long last, u32 *id)
{
	struct ioasid_mirror *mirror;

	if (!ops->map || !ops->unmap || !ops->flush || first > last ||
	    !PAGE_ALIGNED(first) || !PAGE_ALIGNED(last + 1))
		return ERR_PTR(-EINVAL);
	mirror = ioasid_obj_new(ictx, sizeof(*mirror), &ioasid_mirror_obj_ops);
	if (IS_ERR(mirror))
		return mirror;
	mirror->ictx = ictx;
	mirror->ops = ops;
	mirror->data = data;
	mutex_init(&mirror->lock);
	mutex_init(&mirror->ops_lock);
	mirror->domain.type = IOMMU_DOMAIN_UNMANAGED;
	mirror->domain.ops = &mirror_domain_ops;
	/* Any run of whole pages is one call to the driver */
	mirror->domain.pgsize_bitmap = PAGE_MASK;
	mirror->domain.geometry.aperture_start = first;
	mirror->domain.geometry.aperture_end = last;
	mirror->domain.geometry.force_aperture = true;

	mirror->obj.driver_owned = true;
	refcount_inc(&mirror->obj.holds);	/* the driver's */
	ioasid_obj_publish(&mirror->obj);
	*id = mirror->obj.id;
	return mirror;
}
EXPORT_SYMBOL_NS_GPL(ioasid_mirror_create, IOASID);

/* The IOAS @pt_id names, held for the mirror; a HWPT is -EINVAL. */
static struct ioasid_ioas *mirror_get_ioas(struct ioasid_ctx *ictx, u32 pt_id)
{
	struct ioasid_object *obj;
	struct ioasid_ioas *ioas;
	int rc;

	obj = ioasid_obj_find(ictx, pt_id, NULL);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	if (obj->ops == &ioasid_hwpt_ops) {
		rc = -EINVAL;
		goto out_done;
	}
	if (obj->ops != &ioasid_ioas_ops) {
		rc = -ENOENT;
		goto out_done;
	}
	ioas = container_of(obj, struct ioasid_ioas, obj);
	rc = ioasid_obj_hold(obj);
out_done:
	ioasid_obj_done(obj);
	return rc ? ERR_PTR(rc) : ioas;
}

/**
 * ioasid_mirror_attach() - give a mirror an IOAS's mappings
 * @mirror: the mirror, attached or not
 * @pt_id: the IOAS's ID
 *
 * The driver's map callback is called for every mapping of the IOAS, then
 * flush; from then on every map and unmap of the IOAS reaches it. If the
 * mirror is attached to another IOAS, it is emptied first (unmap of
 * everything, flush). Attaching to the IOAS it is on changes nothing.
 *
 * Context: process context; may sleep. No core lock may be held.
 * Return: 0; -ENOENT for an ID that is no IOAS, -EINVAL for a HWPT (a
 * domain of an IOMMU driver, which a mirror does not use), -EADDRINUSE
 * when the IOAS maps IOVAs outside the mirror's range, -ENOMEM, or the
 * errno of the driver's map callback. On failure the mirror is back on
 * the IOAS it was on, or detached if even that failed.
 */
int ioasid_mirror_attach(struct ioasid_mirror *mirror, u32 pt_id)
{
	struct ioasid_ioas *ioas, *old;
	int rc;

	ioas = mirror_get_ioas(mirror->ictx, pt_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	mutex_lock(&mirror->lock);
	old = mirror->ioas;
	if (old == ioas) {
		rc = 0;
		goto out_unhold;
	}
	if (old) {
		ioasid_iopt_remove_domain(&old->iopt, &mirror->domain);
		mirror->ioas = NULL;
	}
	rc = mirror_join(mirror, ioas);
	if (rc)
		goto err_restore;
	mutex_unlock(&mirror->lock);
	if (old)
		ioasid_obj_unhold(&old->obj);
	return 0;

err_restore:
	if (old && mirror_join(mirror, old))
		ioasid_obj_unhold(&old->obj);
out_unhold:
	mutex_unlock(&mirror->lock);
	ioasid_obj_unhold(&ioas->obj);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_mirror_attach, IOASID);

/**
 * ioasid_mirror_detach() - empty a mirror and leave its IOAS
 * @mirror: the mirror; nothing is done when it is detached
 *
 * The driver's unmap callback is called for every mapping, then flush.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_mirror_detach(struct ioasid_mirror *mirror)
{
	mutex_lock(&mirror->lock);
	mirror_leave(mirror);
	mutex_unlock(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(ioasid_mirror_detach, IOASID);

/**
 * ioasid_mirror_ioas_id() - the IOAS a mirror is attached to
 * @mirror: the mirror
 *
 * Context: process context; takes mirror.lock.
 * Return: the IOAS's ID, or 0 when detached.
 */
u32 ioasid_mirror_ioas_id(struct ioasid_mirror *mirror)
{
	u32 id;

	mutex_lock(&mirror->lock);
	id = mirror->ioas ? mirror->ioas->obj.id : 0;
	mutex_unlock(&mirror->lock);
	return id;
}
EXPORT_SYMBOL_NS_GPL(ioasid_mirror_ioas_id, IOASID);

/**
 * ioasid_mirror_destroy() - undo ioasid_mirror_create()
 * @mirror: the mirror; detached first if attached
 *
 * Waits for commands in flight that found the mirror.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_mirror_destroy(struct ioasid_mirror *mirror)
{
	ioasid_obj_destroy_held(&mirror->obj);
}
EXPORT_SYMBOL_NS_GPL(ioasid_mirror_destroy, IOASID);
