// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO on /dev/ioasid: the IOAS VFIO's group path attaches devices to, and
 * the legacy VFIO container served from it.
 *
 * A group given a /dev/ioasid file in VFIO_GROUP_SET_CONTAINER is recorded
 * here (ioasid_vfio_group_add()); each of its devices is bound when opened
 * and attached to the context's VFIO IOAS, which userspace may pick or
 * learn with IOASID_VFIO_IOAS. The context holds a reference on it.
 *
 * The same file answers the container ioctls of VFIO type1 (v1 and v2) on
 * that IOAS, with the errnos 6.1's vfio_iommu_type1 gives for the same
 * input. With ioasid.vfio_container=1 on the kernel command line the core
 * also serves /dev/vfio/vfio itself, so unmodified VFIO users get it.
 * Where the two differ, on purpose:
 *  - type1 v1 unmap of part of a mapping splits it and unmaps exactly the
 *    range (6.1 unmaps nothing, or whole mappings); the IOAS then maps
 *    with PAGE_SIZE IOPTEs only, so any split is possible;
 *  - devices may be opened before VFIO_SET_IOMMU;
 *  - every mapping is pinned at MAP_DMA and charged to the caller's mm,
 *    even before a device is attached;
 *  - VFIO_DMA_MAP_FLAG_VADDR records the new address; the pages stay
 *    pinned throughout, so none needs to be pinned again from it;
 *  - dirty tracking reports every mapped page dirty while on, as type1 does
 *    for devices behind an IOMMU; with emulated devices only, the pages
 *    they pinned or wrote since the last report and those they pin now,
 *    as type1 does for them.
 */
#include <linux/bitops.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/ioasid.h>
#include <uapi/linux/vfio.h>

#include "ioasid_private.h"

#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "ioasid."

static bool vfio_container;
module_param(vfio_container, bool, 0444);
MODULE_PARM_DESC(vfio_container,
		 "Serve /dev/vfio/vfio from the ioasid core (boot time only)");

/*
 * The most mappings a container holds, as type1's dma_entry_limit (and its
 * default): read when VFIO_SET_IOMMU sets the container up, so changing it
 * affects only containers set up afterwards.
 */
static unsigned int dma_entry_limit = U16_MAX;
module_param(dma_entry_limit, uint, 0644);
MODULE_PARM_DESC(dma_entry_limit,
		 "Maximum number of mappings of a VFIO container served by the core (default 65535)");

/* As type1: a dirty bitmap covers at most INT_MAX pages, in u64 words. */
#define VFIO_COMPAT_BITMAP_PAGES_MAX ((u64)INT_MAX)
#define VFIO_COMPAT_BITMAP_BYTES(n) (DIV_ROUND_UP_ULL(n, 64) * 8)

/**
 * struct ioasid_vfio_group - a VFIO group using a context as its container
 * @item: in ctx.vfio_groups
 * @group: the IOMMU group
 * @emulated: the group of an emulated (mdev) device, which has no IOMMU
 * @coherent: a domain of the group can enforce cache-coherent DMA
 */
struct ioasid_vfio_group {
	struct list_head item;
	struct iommu_group *group;
	bool emulated;
	bool coherent;
};

/**
 * ioasid_vfio_container_served() - does the core serve /dev/vfio/vfio?
 *
 * Return: true when booted with ioasid.vfio_container=1.
 */
bool ioasid_vfio_container_served(void)
{
	return vfio_container;
}
EXPORT_SYMBOL_NS_GPL(ioasid_vfio_container_served, IOASID);

/* The VFIO IOAS, made empty on first use. Caller holds vfio_lock. */
static struct ioasid_ioas *vfio_compat_ioas_locked(struct ioasid_ctx *ictx)
{
	struct ioasid_ioas *ioas;

	lockdep_assert_held(&ictx->vfio_lock);
	if (ictx->vfio_ioas)
		return ictx->vfio_ioas;
	ioas = ioasid_ioas_new(ictx);
	if (IS_ERR(ioas))
		return ioas;
	/* The context's hold, besides the table's. */
	refcount_inc(&ioas->obj.holds);
	ioasid_obj_publish(&ioas->obj);
	ictx->vfio_ioas = ioas;
	return ioas;
}

/**
 * ioasid_vfio_compat_ioas_id() - the IOAS for VFIO's group path
 * @ictx: context
 * @ioas_id: out, its ID; an empty IOAS is made when none is set
 *
 * Return: 0 or an errno.
 */
int ioasid_vfio_compat_ioas_id(struct ioasid_ctx *ictx, u32 *ioas_id)
{
	struct ioasid_ioas *ioas;
	int rc = 0;

	mutex_lock(&ictx->vfio_lock);
	ioas = vfio_compat_ioas_locked(ictx);
	if (IS_ERR(ioas))
		rc = PTR_ERR(ioas);
	else
		*ioas_id = ioas->obj.id;
	mutex_unlock(&ictx->vfio_lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_vfio_compat_ioas_id, IOASID);

/* The VFIO IOAS, held, once VFIO_SET_IOMMU was done. */
static struct ioasid_ioas *vfio_compat_get(struct ioasid_ctx *ictx,
					   bool *v2)
{
	struct ioasid_ioas *ioas = ERR_PTR(-EINVAL);

	mutex_lock(&ictx->vfio_lock);
	if (ictx->vfio_type && ictx->vfio_ioas) {
		ioas = ictx->vfio_ioas;
		/* The context holds it: this hold cannot fail. */
		IOASID_WARN_ON(ioasid_obj_hold(&ioas->obj));
		*v2 = ictx->vfio_type == VFIO_TYPE1v2_IOMMU;
	}
	mutex_unlock(&ictx->vfio_lock);
	return ioas;
}

/* Replace the context's IOAS by @ioas, whose hold it takes over. */
static int vfio_compat_set(struct ioasid_ctx *ictx, struct ioasid_ioas *ioas)
{
	struct ioasid_ioas *old;

	mutex_lock(&ictx->vfio_lock);
	if (ictx->vfio_type) {
		/* The container's groups have their regions reserved in it. */
		mutex_unlock(&ictx->vfio_lock);
		if (ioas)
			ioasid_obj_unhold(&ioas->obj);
		return -EBUSY;
	}
	old = ictx->vfio_ioas;
	ictx->vfio_ioas = ioas;
	mutex_unlock(&ictx->vfio_lock);
	if (old)
		ioasid_obj_unhold(&old->obj);
	return 0;
}

/* Start or stop dirty tracking; either way, what was recorded is dropped. */
static void vfio_compat_track_dirty(struct ioasid_ctx *ictx,
				    struct ioasid_ioas *ioas, bool on)
{
	down_write(&ioas->iopt.rwsem);
	WRITE_ONCE(ioas->iopt.track_access_dirty, on);
	xa_destroy(&ioas->iopt.access_dirty);
	up_write(&ioas->iopt.rwsem);
	WRITE_ONCE(ictx->vfio_dirty, on);
}

/**
 * ioasid_vfio_compat_release() - drop the context's IOAS at close
 * @ictx: context, with no VFIO group left
 */
void ioasid_vfio_compat_release(struct ioasid_ctx *ictx)
{
	IOASID_WARN_ON(!list_empty(&ictx->vfio_groups));
	ictx->vfio_type = 0;
	vfio_compat_set(ictx, NULL);
}

int ioasid_vfio_ioas_ioctl(struct ioasid_call *call)
{
	struct ioasid_vfio_ioas args;
	struct ioasid_ioas *ioas;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	switch (args.op) {
	case IOASID_VFIO_IOAS_QUERY:
		rc = ioasid_vfio_compat_ioas_id(call->ictx, &args.ioas_id);
		return rc ? rc : ioasid_call_reply(call, &args, sizeof(args));
	case IOASID_VFIO_IOAS_ASSIGN:
		ioas = ioasid_get_ioas(call->ictx, args.ioas_id);
		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		rc = ioasid_obj_hold(&ioas->obj);
		ioasid_obj_done(&ioas->obj);
		return rc ? rc : vfio_compat_set(call->ictx, ioas);
	case IOASID_VFIO_IOAS_FORGET:
		return vfio_compat_set(call->ictx, NULL);
	}
	return -EOPNOTSUPP;
}

/* Groups ----------------------------------------------------------------- */

static int vfio_compat_first_dev(struct device *dev, void *data)
{
	struct device **out = data;

	*out = dev;
	return 1;
}

/*
 * type1 attaches a group to its domain at VFIO_SET_IOMMU, and from then on
 * reports the IOVAs that domain can use and whether it enforces cache
 * coherency. Our domain comes with the first device opened, so ask a
 * domain attached for the purpose: drivers answer for what is attached.
 * Fails when the group is owned already (a device of it is bound, and then
 * its HWPT answers).
 */
static int vfio_compat_probe(struct ioasid_vfio_group *vgroup,
			     struct iommu_domain_geometry *geo)
{
	struct iommu_domain *domain;
	struct device *dev = NULL;
	int rc;

	iommu_group_for_each_dev(vgroup->group, &dev, vfio_compat_first_dev);
	if (!dev)
		return -ENODEV;
	domain = iommu_domain_alloc(dev->bus);
	if (!domain)
		return -ENOMEM;
	rc = iommu_group_claim_dma_owner(vgroup->group, vgroup);
	if (rc)
		goto out_free;
	rc = iommu_attach_group(domain, vgroup->group);
	if (!rc) {
		*geo = domain->geometry;
		vgroup->coherent = domain->ops->enforce_cache_coherency &&
				   domain->ops->enforce_cache_coherency(domain);
		iommu_detach_group(domain, vgroup->group);
	}
	iommu_group_release_dma_owner(vgroup->group);
out_free:
	iommu_domain_free(domain);
	return rc;
}

/* Reserve what a real group of the container cannot use. Holds vfio_lock. */
static int vfio_compat_reserve(struct ioasid_ctx *ictx,
			       struct ioasid_vfio_group *vgroup)
{
	struct ioasid_iopt *iopt = &ictx->vfio_ioas->iopt;
	struct iommu_domain_geometry geo;
	int rc = 0;

	lockdep_assert_held(&ictx->vfio_lock);
	if (vgroup->emulated)
		return 0;
	if (!vfio_compat_probe(vgroup, &geo) && geo.force_aperture) {
		if (geo.aperture_start)
			rc = ioasid_iopt_reserve_range(iopt, 0,
						       geo.aperture_start - 1,
						       vgroup);
		if (!rc && geo.aperture_end < ULONG_MAX)
			rc = ioasid_iopt_reserve_range(iopt,
						       geo.aperture_end + 1,
						       ULONG_MAX, vgroup);
	}
	if (!rc)
		rc = ioasid_iopt_reserve_group(iopt, vgroup->group, vgroup);
	if (rc) {
		ioasid_iopt_unreserve(iopt, vgroup);
		/* type1 refuses a group whose reserved IOVAs are mapped. */
		return -EINVAL;
	}
	return 0;
}

/**
 * ioasid_vfio_group_add() - a VFIO group takes the context as its container
 * @ictx: context
 * @group: the group's IOMMU group
 * @emulated: a group of emulated devices, without IOMMU
 *
 * Return: 0, -ENOMEM, or -EINVAL when the container is set up and a
 * reserved region of the group is already mapped.
 */
int ioasid_vfio_group_add(struct ioasid_ctx *ictx, struct iommu_group *group,
			  bool emulated)
{
	struct ioasid_vfio_group *vgroup;
	int rc = 0;

	vgroup = kzalloc(sizeof(*vgroup), GFP_KERNEL_ACCOUNT);
	if (!vgroup)
		return -ENOMEM;
	vgroup->group = group;
	vgroup->emulated = emulated;
	mutex_lock(&ictx->vfio_lock);
	if (ictx->vfio_type)
		rc = vfio_compat_reserve(ictx, vgroup);
	if (!rc)
		list_add_tail(&vgroup->item, &ictx->vfio_groups);
	mutex_unlock(&ictx->vfio_lock);
	if (rc)
		kfree(vgroup);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_vfio_group_add, IOASID);

/**
 * ioasid_vfio_group_del() - a VFIO group leaves the context
 * @ictx: context
 * @group: the group's IOMMU group, added before
 *
 * As for a VFIO container, the last group leaving unsets the IOMMU type;
 * the IOAS and its mappings stay.
 */
void ioasid_vfio_group_del(struct ioasid_ctx *ictx, struct iommu_group *group)
{
	struct ioasid_vfio_group *vgroup, *found = NULL;

	mutex_lock(&ictx->vfio_lock);
	list_for_each_entry(vgroup, &ictx->vfio_groups, item) {
		if (vgroup->group == group) {
			found = vgroup;
			break;
		}
	}
	if (!IOASID_WARN_ON(!found)) {
		list_del(&found->item);
		if (ictx->vfio_type)
			ioasid_iopt_unreserve(&ictx->vfio_ioas->iopt, found);
	}
	if (list_empty(&ictx->vfio_groups) && ictx->vfio_type) {
		vfio_compat_track_dirty(ictx, ictx->vfio_ioas, false);
		down_write(&ictx->vfio_ioas->iopt.rwsem);
		ictx->vfio_ioas->iopt.max_areas = 0;
		up_write(&ictx->vfio_ioas->iopt.rwsem);
		ictx->vfio_type = 0;
	}
	mutex_unlock(&ictx->vfio_lock);
	kfree(found);
}
EXPORT_SYMBOL_NS_GPL(ioasid_vfio_group_del, IOASID);

static bool vfio_compat_has_emulated(struct ioasid_ctx *ictx)
{
	struct ioasid_vfio_group *vgroup;

	lockdep_assert_held(&ictx->vfio_lock);
	list_for_each_entry(vgroup, &ictx->vfio_groups, item)
		if (vgroup->emulated)
			return true;
	return false;
}

/* Container ioctls ------------------------------------------------------- */

/* VFIO_DMA_CC_IOMMU: does every domain of the container enforce it? */
static int vfio_compat_coherent(struct ioasid_ctx *ictx)
{
	struct ioasid_ioas *ioas = ictx->vfio_ioas;
	struct ioasid_vfio_group *vgroup;
	struct ioasid_hwpt_paging *hwpt;
	bool any = false;
	int ret = 1;

	lockdep_assert_held(&ictx->vfio_lock);
	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, item) {
		any = true;
		if (!hwpt->enforce_cache_coherency)
			ret = 0;
	}
	mutex_unlock(&ioas->mutex);
	if (any)
		return ret;
	/* No device attached yet: what the probe at SET_IOMMU found. */
	list_for_each_entry(vgroup, &ictx->vfio_groups, item)
		if (!vgroup->emulated && !vgroup->coherent)
			return 0;
	return 1;
}

static long vfio_compat_check_extension(struct ioasid_ctx *ictx,
					unsigned long arg)
{
	long ret = 0;

	switch (arg) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_TYPE1_NESTING_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_UPDATE_VADDR:
		mutex_lock(&ictx->vfio_lock);
		ret = ictx->vfio_type && !vfio_compat_has_emulated(ictx);
		mutex_unlock(&ictx->vfio_lock);
		return ret;
	case VFIO_DMA_CC_IOMMU:
		mutex_lock(&ictx->vfio_lock);
		if (ictx->vfio_type)
			ret = vfio_compat_coherent(ictx);
		mutex_unlock(&ictx->vfio_lock);
		return ret;
	}
	return 0;
}

static long vfio_compat_set_iommu_locked(struct ioasid_ctx *ictx,
					 unsigned long type)
{
	struct ioasid_vfio_group *vgroup;
	struct ioasid_ioas *ioas;
	int rc;

	lockdep_assert_held(&ictx->vfio_lock);
	if (list_empty(&ictx->vfio_groups) || ictx->vfio_type)
		return -EINVAL;
	/*
	 * type1 opens for what it reports as extensions, then fails: nesting
	 * when the IOMMU cannot enable it, VFIO_UNMAP_ALL as no IOMMU type.
	 */
	if (type == VFIO_TYPE1_NESTING_IOMMU || type == VFIO_UNMAP_ALL)
		return -EINVAL;
	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -ENODEV;
	ioas = vfio_compat_ioas_locked(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	if (type == VFIO_TYPE1_IOMMU) {
		/* v1 unmaps may split mappings: PAGE_SIZE IOPTEs only. */
		down_write(&ioas->iopt.rwsem);
		rc = ioas->iopt.num_domains && !ioas->iopt.disable_large_pages ?
			     -EBUSY : 0;
		if (!rc)
			ioas->iopt.disable_large_pages = true;
		up_write(&ioas->iopt.rwsem);
		if (rc)
			return rc;
	}
	list_for_each_entry(vgroup, &ictx->vfio_groups, item) {
		rc = vfio_compat_reserve(ictx, vgroup);
		if (rc)
			goto err_unreserve;
	}
	down_write(&ioas->iopt.rwsem);
	/* 0 would be no limit at all to the IOAS: keep at least one. */
	ioas->iopt.max_areas = max(READ_ONCE(dma_entry_limit), 1U);
	up_write(&ioas->iopt.rwsem);
	ictx->vfio_type = type;
	ictx->vfio_dirty = false;
	return 0;

err_unreserve:
	list_for_each_entry_continue_reverse(vgroup, &ictx->vfio_groups, item)
		ioasid_iopt_unreserve(&ioas->iopt, vgroup);
	return rc;
}

static long vfio_compat_set_iommu(struct ioasid_ctx *ictx, unsigned long type)
{
	long rc;

	mutex_lock(&ictx->vfio_lock);
	rc = vfio_compat_set_iommu_locked(ictx, type);
	mutex_unlock(&ictx->vfio_lock);
	return rc;
}

/*
 * Page sizes as type1 reports them: those of every domain, PAGE_SIZE up.
 * A map or unmap reads them with no lock, as the IOAS keeps them.
 */
static unsigned long vfio_compat_pgsizes(struct ioasid_ioas *ioas)
{
	unsigned long bitmap = READ_ONCE(ioas->iopt.pgsize_bitmap);

	if (bitmap & ~PAGE_MASK) {
		bitmap &= PAGE_MASK;
		bitmap |= PAGE_SIZE;
	}
	return bitmap;
}

static unsigned long vfio_compat_pgsize(struct ioasid_ioas *ioas)
{
	return 1UL << __ffs(vfio_compat_pgsizes(ioas));
}

/* GET_INFO ---------------------------------------------------------------- */

/* Capabilities, each 8-byte aligned, chained by offsets from the info. */
struct vfio_compat_caps {
	u8 *buf;
	size_t size;
	struct vfio_info_cap_header *last;
};

static void *vfio_compat_cap_add(struct vfio_compat_caps *caps, size_t size,
				 u16 id, u16 version)
{
	size_t offset = caps->size;
	struct vfio_info_cap_header *hdr;
	u8 *buf;

	size = ALIGN(size, sizeof(u64));
	buf = krealloc(caps->buf, offset + size, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return NULL;
	memset(buf + offset, 0, size);
	if (caps->last)
		caps->last = (void *)buf + ((u8 *)caps->last - caps->buf);
	caps->buf = buf;
	hdr = (void *)buf + offset;
	hdr->id = id;
	hdr->version = version;
	if (caps->last)
		caps->last->next = sizeof(struct vfio_iommu_type1_info) + offset;
	caps->last = hdr;
	caps->size = offset + size;
	return hdr;
}

static int vfio_compat_build_caps(struct ioasid_ioas *ioas,
				  struct vfio_compat_caps *caps)
{
	struct vfio_iommu_type1_info_cap_iova_range *iova_cap;
	struct vfio_iommu_type1_info_cap_migration *mig;
	struct vfio_iommu_type1_info_dma_avail *avail;
	struct ioasid_iova_range *ranges;
	u32 num, i;
	int rc;

	mig = vfio_compat_cap_add(caps, sizeof(*mig),
				  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1);
	if (!mig)
		return -ENOMEM;
	mig->pgsize_bitmap = vfio_compat_pgsize(ioas);
	mig->max_dirty_bitmap_size =
		VFIO_COMPAT_BITMAP_BYTES(VFIO_COMPAT_BITMAP_PAGES_MAX);

	avail = vfio_compat_cap_add(caps, sizeof(*avail),
				    VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1);
	if (!avail)
		return -ENOMEM;
	down_read(&ioas->iopt.rwsem);
	avail->avail = ioas->iopt.max_areas -
		       min(ioas->iopt.num_areas, ioas->iopt.max_areas);
	up_read(&ioas->iopt.rwsem);

	rc = ioasid_iopt_usable_array(&ioas->iopt, &ranges, &num);
	if (rc || !num)
		return rc;
	iova_cap = vfio_compat_cap_add(caps, struct_size(iova_cap, iova_ranges,
							 num),
				       VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
	if (iova_cap) {
		iova_cap->nr_iovas = num;
		for (i = 0; i < num; i++) {
			iova_cap->iova_ranges[i].start = ranges[i].first;
			iova_cap->iova_ranges[i].end = ranges[i].last;
		}
	}
	kfree(ranges);
	return iova_cap ? 0 : -ENOMEM;
}

static long vfio_compat_get_info(struct ioasid_ioas *ioas, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_info,
					  iova_pgsizes);
	unsigned long capsz = offsetofend(struct vfio_iommu_type1_info,
					  cap_offset);
	struct vfio_compat_caps caps = {};
	struct vfio_iommu_type1_info info;
	int rc;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.argsz >= capsz) {
		minsz = capsz;
		info.cap_offset = 0;
	}
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = vfio_compat_pgsizes(ioas);

	rc = vfio_compat_build_caps(ioas, &caps);
	if (rc)
		goto out_free;
	if (caps.size) {
		info.flags |= VFIO_IOMMU_INFO_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			info.argsz = sizeof(info) + caps.size;
		} else {
			if (copy_to_user(arg + sizeof(info), caps.buf,
					 caps.size)) {
				rc = -EFAULT;
				goto out_free;
			}
			info.cap_offset = sizeof(info);
		}
	}
	if (copy_to_user(arg, &info, minsz))
		rc = -EFAULT;
out_free:
	kfree(caps.buf);
	return rc;
}

/* MAP_DMA ----------------------------------------------------------------- */

/* VFIO_DMA_MAP_FLAG_VADDR: give a withdrawn mapping its address back. */
static int vfio_compat_set_vaddr(struct ioasid_ioas *ioas, unsigned long iova,
				 unsigned long last)
{
	struct ioasid_area *area;
	int rc = 0;

	down_write(&ioas->iopt.rwsem);
	area = ioasid_iopt_area_first(&ioas->iopt, iova, last);
	if (!area)
		rc = -ENOENT;
	else if (!area->vaddr_invalid || area->node.start != iova ||
		 area->node.last != last)
		rc = -EINVAL;
	else
		/* After exec(), the new image takes the charge over. */
		rc = ioasid_pages_recharge(area->pages);
	if (!rc)
		area->vaddr_invalid = false;
	up_write(&ioas->iopt.rwsem);
	return rc;
}

/* What type1 would have refused before pinning, in its order. */
static int vfio_compat_check_map(struct ioasid_ioas *ioas, unsigned long iova,
				 unsigned long last)
{
	int rc = ioasid_iopt_check_map(&ioas->iopt, iova, last);

	if (rc == -EEXIST)
		return rc;
	if (READ_ONCE(ioas->iopt.num_areas) >= READ_ONCE(ioas->iopt.max_areas))
		return -ENOSPC;
	return rc ? -EINVAL : 0;
}

static long vfio_compat_map_dma(struct ioasid_ctx *ictx,
				struct ioasid_ioas *ioas, void __user *arg)
{
	u32 mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
		   VFIO_DMA_MAP_FLAG_VADDR;
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;
	unsigned long pgsize, iova, last, vlast;
	bool set_vaddr;
	int prot = 0;
	int rc;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (map.argsz < minsz || map.flags & ~mask)
		return -EINVAL;
	set_vaddr = map.flags & VFIO_DMA_MAP_FLAG_VADDR;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		prot |= IOMMU_WRITE;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		prot |= IOMMU_READ;
	if (!!prot == set_vaddr)
		return -EINVAL;

	pgsize = vfio_compat_pgsize(ioas);
	if (!map.size || (map.size | map.iova | map.vaddr) & (pgsize - 1))
		return -EINVAL;
	if (check_add_overflow(map.iova, map.size - 1, &last) ||
	    check_add_overflow(map.vaddr, map.size - 1, &vlast))
		return -EINVAL;
	iova = map.iova;

	if (set_vaddr)
		return vfio_compat_set_vaddr(ioas, iova, last);

	/*
	 * The map checks overlap, the mapping limit and the range in type1's
	 * order under the one hold of the lock it takes (a small map is one
	 * hold per call, as in type1). type1 checks them before it pins, so
	 * a pin that fails is reported as they would have been.
	 */
	rc = ioasid_iopt_map_user(ictx, &ioas->iopt, &iova, map.vaddr,
				  map.size, prot, true, IOASID_ACCT_MM);
	if (rc == -EFAULT || rc == -ENOMEM || rc == -EINTR)
		rc = vfio_compat_check_map(ioas, iova, last) ?: rc;
	return rc == -EADDRINUSE ? -EINVAL : rc;
}

/* Dirty bitmaps ----------------------------------------------------------- */

/* Set bits [first, first + n) of a user bitmap of u64 words. */
static int vfio_compat_bitmap_set(u64 __user *bitmap, unsigned long first,
				  unsigned long n)
{
	while (n) {
		unsigned int shift = first % 64;
		unsigned int bits = min_t(unsigned long, n, 64 - shift);
		u64 __user *word = bitmap + first / 64;
		u64 mask = GENMASK_ULL(shift + bits - 1, shift);
		u64 val;

		if (mask != ~0ULL) {
			if (get_user(val, word))
				return -EFAULT;
			mask |= val;
		}
		if (put_user(mask, word))
			return -EFAULT;
		first += bits;
		n -= bits;
		cond_resched();
	}
	return 0;
}

/* Set the bit of IOVA page @idx in @bitmap, whose bit 0 is @iova. */
static int vfio_compat_bitmap_set_page(u64 __user *bitmap, unsigned long iova,
				       unsigned int shift, unsigned long idx)
{
	return vfio_compat_bitmap_set(bitmap,
				      ((idx << PAGE_SHIFT) - iova) >> shift, 1);
}

/*
 * With emulated devices only, as type1 for groups whose dirty scope is
 * what they pin: report the pages accesses pinned or wrote since the last
 * report, and those they pin now. Caller holds ioas.mutex and iopt.rwsem.
 */
static int vfio_compat_report_access_dirty(struct ioasid_ioas *ioas,
					   unsigned long iova,
					   unsigned long last,
					   unsigned int shift,
					   u64 __user *bitmap)
{
	unsigned long idx, first = iova >> PAGE_SHIFT, end = last >> PAGE_SHIFT;
	struct ioasid_iopt *iopt = &ioas->iopt;
	struct ioasid_access *access;
	void *entry;
	int rc;

	xa_for_each_range(&iopt->access_dirty, idx, entry, first, end) {
		rc = vfio_compat_bitmap_set_page(bitmap, iova, shift, idx);
		if (rc)
			return rc;
		xa_erase(&iopt->access_dirty, idx);
	}
	/*
	 * A page pinned now may be written until it is unpinned: it is dirty
	 * in this report and, as with type1, in the next one too.
	 */
	list_for_each_entry(access, &ioas->access_list, item) {
		xa_for_each_range(&access->pins, idx, entry, first, end) {
			rc = vfio_compat_bitmap_set_page(bitmap, iova, shift,
							 idx);
			if (rc)
				return rc;
			xa_store(&iopt->access_dirty, idx, xa_mk_value(1),
				 GFP_KERNEL_ACCOUNT);
		}
	}
	return 0;
}

/*
 * Report the dirty pages of [iova, last] in @bitmap, whose bit 0 is @iova.
 * A device behind a domain may have written anything mapped: every page
 * of the mappings is dirty, as type1 reports it. Caller holds ioas.mutex
 * and iopt.rwsem.
 */
static int vfio_compat_report_dirty(struct ioasid_ioas *ioas,
				    unsigned long iova, unsigned long last,
				    unsigned long pgsize, u64 __user *bitmap)
{
	struct ioasid_iopt *iopt = &ioas->iopt;
	unsigned int shift = __ffs(pgsize);
	struct ioasid_area *area;
	int rc;

	lockdep_assert_held(&ioas->mutex);
	lockdep_assert_held(&iopt->rwsem);
	if (!iopt->num_domains)
		return vfio_compat_report_access_dirty(ioas, iova, last, shift,
						       bitmap);
	for (area = ioasid_iopt_area_first(iopt, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last)) {
		rc = vfio_compat_bitmap_set(bitmap,
					    (area->node.start - iova) >> shift,
					    (area->node.last - area->node.start +
					     1) >> shift);
		if (rc)
			return rc;
	}
	return 0;
}

static int vfio_compat_check_bitmap(u64 size, struct vfio_bitmap *bitmap)
{
	u64 npages;

	if (!access_ok((void __user *)bitmap->data, bitmap->size))
		return -EINVAL;
	if (!bitmap->pgsize)
		return -EINVAL;
	npages = size >> __ffs(bitmap->pgsize);
	if (!npages || !bitmap->size ||
	    bitmap->size >
		    VFIO_COMPAT_BITMAP_BYTES(VFIO_COMPAT_BITMAP_PAGES_MAX) ||
	    bitmap->size < VFIO_COMPAT_BITMAP_BYTES(npages))
		return -EINVAL;
	return 0;
}

/* UNMAP_DMA --------------------------------------------------------------- */

/* VFIO_DMA_UNMAP_FLAG_VADDR: withdraw the user address of mappings. */
static int vfio_compat_clear_vaddr(struct ioasid_iopt *iopt, bool v2,
				   unsigned long iova, unsigned long last,
				   u64 *unmapped)
{
	struct ioasid_area *area, *done;
	int rc = 0;

	*unmapped = 0;
	down_write(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last)) {
		if (!v2 && area->node.start < iova)
			break;
		if (area->vaddr_invalid) {
			rc = -EINVAL;
			break;
		}
		area->vaddr_invalid = true;
		*unmapped += area->node.last - area->node.start + 1;
	}
	if (rc) {
		/* Undo this call's marks: every area before @area. */
		for (done = ioasid_iopt_area_first(iopt, iova, last);
		     done != area; done = ioasid_iopt_area_next(done, iova, last))
			done->vaddr_invalid = false;
		*unmapped = 0;
	}
	up_write(&iopt->rwsem);
	return rc;
}

/* How many times unmap asks accesses to let go before giving up. */
#define VFIO_COMPAT_UNMAP_RETRIES 4

static int vfio_compat_unmap_range(struct ioasid_ioas *ioas,
				   unsigned long iova, unsigned long last,
				   u64 *unmapped)
{
	unsigned long done = 0;
	int tries, rc = -EBUSY;

	for (tries = 0; tries < VFIO_COMPAT_UNMAP_RETRIES && rc == -EBUSY;
	     tries++) {
		if (tries)
			ioasid_access_notify_unmap(ioas, iova, last);
		if (!iova && last == ULONG_MAX)
			rc = ioasid_iopt_unmap_all(&ioas->iopt, &done);
		else
			rc = ioasid_iopt_unmap(&ioas->iopt, iova,
					       last - iova + 1, &done);
	}
	*unmapped = done;
	/* A mapping crossing an end of the range, after v2's own check. */
	return rc == -ENOENT ? -EINVAL : rc;
}

/*
 * type1 v1: a range starting inside a mapping unmaps nothing of it; we cut
 * the mappings at both ends of the range instead and unmap exactly it.
 */
static int vfio_compat_unmap_v1_cut(struct ioasid_ioas *ioas,
				    unsigned long iova, unsigned long last)
{
	unsigned long cuts[2];
	unsigned int n = 0;

	if (iova)
		cuts[n++] = iova;
	if (last != ULONG_MAX)
		cuts[n++] = last + 1;
	/* Accesses must let go of the pages of an area before it is cut. */
	ioasid_access_notify_unmap(ioas, iova, last);
	return ioasid_iopt_cut(&ioas->iopt, cuts, n);
}

static int vfio_compat_do_unmap(struct ioasid_ctx *ictx,
				struct ioasid_ioas *ioas, bool v2,
				struct vfio_iommu_type1_dma_unmap *unmap,
				struct vfio_bitmap *bitmap)
{
	bool all = unmap->flags & VFIO_DMA_UNMAP_FLAG_ALL;
	bool get_dirty = unmap->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	unsigned long pgsize = vfio_compat_pgsize(ioas);
	unsigned long iova = unmap->iova, last;
	u64 size = unmap->size;
	int rc;

	unmap->size = 0;
	if (unmap->flags & VFIO_DMA_UNMAP_FLAG_VADDR) {
		mutex_lock(&ictx->vfio_lock);
		rc = vfio_compat_has_emulated(ictx) ? -EBUSY : 0;
		mutex_unlock(&ictx->vfio_lock);
		if (rc)
			return rc;
	}
	if (unmap->iova & (pgsize - 1))
		return -EINVAL;
	if (all) {
		if (unmap->iova || size)
			return -EINVAL;
		last = ULONG_MAX;
	} else if (!size || size & (pgsize - 1) ||
		   check_add_overflow(unmap->iova, size - 1, &last)) {
		return -EINVAL;
	}
	if (get_dirty && (!READ_ONCE(ictx->vfio_dirty) ||
			  bitmap->pgsize != pgsize))
		return -EINVAL;

	/*
	 * v2 refuses a range that bisects a mapping. The unmap itself refuses
	 * it under its own hold of the lock; the address and dirty-bitmap
	 * variants act before it, so they check first.
	 */
	if (v2 && !all &&
	    (unmap->flags & VFIO_DMA_UNMAP_FLAG_VADDR || get_dirty)) {
		down_read(&ioas->iopt.rwsem);
		rc = ioasid_iopt_crosses(&ioas->iopt, iova, last) ? -EINVAL : 0;
		up_read(&ioas->iopt.rwsem);
		if (rc)
			return rc;
	}
	if (unmap->flags & VFIO_DMA_UNMAP_FLAG_VADDR)
		return vfio_compat_clear_vaddr(&ioas->iopt, v2, iova, last,
					       &unmap->size);
	if (!v2 && !all) {
		rc = vfio_compat_unmap_v1_cut(ioas, iova, last);
		if (rc)
			return rc;
	}
	if (get_dirty) {
		mutex_lock(&ioas->mutex);
		down_read(&ioas->iopt.rwsem);
		rc = vfio_compat_report_dirty(ioas, iova, last, pgsize,
					      bitmap->data);
		up_read(&ioas->iopt.rwsem);
		mutex_unlock(&ioas->mutex);
		if (rc)
			return rc;
	}
	return vfio_compat_unmap_range(ioas, iova, last, &unmap->size);
}

static long vfio_compat_unmap_dma(struct ioasid_ctx *ictx,
				  struct ioasid_ioas *ioas, bool v2,
				  void __user *arg)
{
	u32 mask = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
		   VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_ALL;
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dma_unmap,
					  size);
	struct vfio_iommu_type1_dma_unmap unmap;
	struct vfio_bitmap bitmap = {};
	int rc;

	if (copy_from_user(&unmap, arg, minsz))
		return -EFAULT;
	if (unmap.argsz < minsz || unmap.flags & ~mask)
		return -EINVAL;
	if ((unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) &&
	    (unmap.flags & (VFIO_DMA_UNMAP_FLAG_ALL |
			    VFIO_DMA_UNMAP_FLAG_VADDR)))
		return -EINVAL;
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
		if (unmap.argsz < minsz + sizeof(bitmap))
			return -EINVAL;
		if (copy_from_user(&bitmap, arg + minsz, sizeof(bitmap)))
			return -EFAULT;
		rc = vfio_compat_check_bitmap(unmap.size, &bitmap);
		if (rc)
			return rc;
	}
	rc = vfio_compat_do_unmap(ictx, ioas, v2, &unmap, &bitmap);
	if (rc)
		return rc;
	return copy_to_user(arg, &unmap, minsz) ? -EFAULT : 0;
}

/* DIRTY_PAGES ------------------------------------------------------------- */

static long vfio_compat_get_dirty(struct ioasid_ctx *ictx,
				  struct ioasid_ioas *ioas, void __user *arg,
				  size_t data_size)
{
	struct vfio_iommu_type1_dirty_bitmap_get range;
	unsigned long pgsize, last;
	int rc;

	if (data_size < sizeof(range))
		return -EINVAL;
	if (copy_from_user(&range, arg, sizeof(range)))
		return -EFAULT;
	if (check_add_overflow(range.iova, range.size, &last))
		return -EINVAL;
	rc = vfio_compat_check_bitmap(range.size, &range.bitmap);
	if (rc)
		return rc;
	pgsize = vfio_compat_pgsize(ioas);
	if (range.bitmap.pgsize != pgsize || range.iova & (pgsize - 1) ||
	    !range.size || range.size & (pgsize - 1))
		return -EINVAL;
	if (!READ_ONCE(ictx->vfio_dirty))
		return -EINVAL;
	last = range.iova + range.size - 1;

	mutex_lock(&ioas->mutex);
	down_read(&ioas->iopt.rwsem);
	rc = ioasid_iopt_crosses(&ioas->iopt, range.iova, last) ? -EINVAL :
	     vfio_compat_report_dirty(ioas, range.iova, last, pgsize,
				      range.bitmap.data);
	up_read(&ioas->iopt.rwsem);
	mutex_unlock(&ioas->mutex);
	return rc;
}

static long vfio_compat_dirty_pages(struct ioasid_ctx *ictx,
				    struct ioasid_ioas *ioas, bool v2,
				    void __user *arg)
{
	u32 mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
		   VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
		   VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dirty_bitmap,
					  flags);
	struct vfio_iommu_type1_dirty_bitmap dirty;

	if (!v2)
		return -EACCES;
	if (copy_from_user(&dirty, arg, minsz))
		return -EFAULT;
	if (dirty.argsz < minsz || dirty.flags & ~mask ||
	    hweight32(dirty.flags) != 1)
		return -EINVAL;

	switch (dirty.flags) {
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_START:
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP:
		vfio_compat_track_dirty(ictx, ioas, dirty.flags ==
					VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
		return 0;
	default:
		return vfio_compat_get_dirty(ictx, ioas, arg + minsz,
					     dirty.argsz - minsz);
	}
}

/**
 * ioasid_vfio_ioctl() - a VFIO container ioctl on a /dev/ioasid file
 * @ictx: context
 * @cmd: the ioctl, of type VFIO_TYPE
 * @arg: its argument
 *
 * Return: what 6.1's container with vfio_iommu_type1 returns.
 */
long ioasid_vfio_ioctl(struct ioasid_ctx *ictx, unsigned int cmd,
		       unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct ioasid_ioas *ioas;
	bool v2 = false;
	long rc;

	/* These three work before VFIO_SET_IOMMU. */
	if (cmd == VFIO_GET_API_VERSION)
		return VFIO_API_VERSION;
	if (cmd == VFIO_CHECK_EXTENSION)
		return vfio_compat_check_extension(ictx, arg);
	if (cmd == VFIO_SET_IOMMU)
		return vfio_compat_set_iommu(ictx, arg);

	/* Without an IOMMU type the container knows no other ioctl. */
	ioas = vfio_compat_get(ictx, &v2);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	switch (cmd) {
	case VFIO_IOMMU_GET_INFO:
		rc = vfio_compat_get_info(ioas, uarg);
		break;
	case VFIO_IOMMU_MAP_DMA:
		rc = vfio_compat_map_dma(ictx, ioas, uarg);
		break;
	case VFIO_IOMMU_UNMAP_DMA:
		rc = vfio_compat_unmap_dma(ictx, ioas, v2, uarg);
		break;
	case VFIO_IOMMU_DIRTY_PAGES:
		rc = vfio_compat_dirty_pages(ictx, ioas, v2, uarg);
		break;
	default:
		rc = -ENOTTY;
	}
	ioasid_obj_unhold(&ioas->obj);
	return rc;
}
