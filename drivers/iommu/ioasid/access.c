// SPDX-License-Identifier: GPL-2.0-only
/*
 * Accesses: devices with no IOMMU of their own (mdev, emulated devices)
 * that read, write or pin guest memory by IOVA through an IOAS.
 *
 * The pages behind every area are pinned already, so an access pin only
 * hands out the page pointers and counts the pin, both in the area and in
 * the access, per IOVA page; an area with access pins cannot be unmapped.
 * An unpin of a page the access does not hold pinned is refused, so one
 * access cannot release another's pins. Unmap of a range with such pins
 * first calls the unmap callback of each access that holds some, once per
 * area it pins pages of, with that area's IOVA range; then it retries.
 *
 * Lock order: ioas.mutex (unmap notification), then iopt.rwsem, then
 * access.lock.
 */
#include <linux/highmem.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

static void access_drop_pins(struct ioasid_access *access);
static void access_untrack(struct ioasid_access *access, unsigned long idx,
			   unsigned long n);

/**
 * ioasid_access_new() - build an access, not yet visible to userspace
 * @ictx: context
 * @ops: callbacks; @ops->unmap is required when pages will be pinned
 * @data: passed to the callbacks
 *
 * Publish it with ioasid_obj_publish() once complete, or give it up with
 * ioasid_obj_abort().
 *
 * Context: process context; may sleep.
 * Return: the access, or an ERR_PTR: -EINVAL when @ops can pin but has no
 * unmap callback, -ENOMEM.
 */
struct ioasid_access *ioasid_access_new(struct ioasid_ctx *ictx,
					const struct ioasid_access_ops *ops,
					void *data)
{
	struct ioasid_access *access;

	if (ops->needs_pin_pages && !ops->unmap)
		return ERR_PTR(-EINVAL);
	access = ioasid_obj_new(ictx, sizeof(*access), &ioasid_access_ops);
	if (IS_ERR(access))
		return access;
	access->ictx = ictx;
	access->ops = ops;
	access->data = data;
	INIT_LIST_HEAD(&access->item);
	mutex_init(&access->lock);
	xa_init(&access->pins);
	access->pasid = IOASID_PASID_RID;
	return access;
}

/**
 * ioasid_access_create() - create an access for a driver
 * @ictx: context
 * @ops: callbacks; @ops->unmap is required when pages will be pinned
 * @data: passed to the callbacks
 * @id: out, the access's ID
 *
 * The access belongs to the driver: userspace cannot destroy it (EPERM);
 * ioasid_access_destroy() does.
 *
 * Context: process context; may sleep.
 * Return: the access, published and not yet attached, or an ERR_PTR as
 * ioasid_access_new().
 */
struct ioasid_access *
ioasid_access_create(struct ioasid_ctx *ictx,
		     const struct ioasid_access_ops *ops, void *data, u32 *id)
{
	struct ioasid_access *access = ioasid_access_new(ictx, ops, data);

	if (!IS_ERR(access)) {
		access->obj.driver_owned = true;
		refcount_inc(&access->obj.holds);	/* the driver's */
		ioasid_obj_publish(&access->obj);
		*id = access->obj.id;
	}
	return access;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_create, IOASID);

/**
 * ioasid_access_attach() - attach an access to an IOAS
 * @access: detached access
 * @ioas_id: IOAS ID
 *
 * The caller serialises attach and detach of one access.
 *
 * Context: process context; takes ioas.mutex.
 * Return: 0, -EBUSY if attached already, or -ENOENT.
 */
int ioasid_access_attach(struct ioasid_access *access, u32 ioas_id)
{
	struct ioasid_ioas *ioas;
	int rc;

	if (access->ioas)
		return -EBUSY;
	ioas = ioasid_get_ioas(access->ictx, ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioasid_obj_hold(&ioas->obj);
	ioasid_obj_done(&ioas->obj);
	if (rc)
		return rc;
	mutex_lock(&ioas->mutex);
	list_add_tail(&access->item, &ioas->access_list);
	access->ioas = ioas;
	mutex_unlock(&ioas->mutex);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_attach, IOASID);

/**
 * ioasid_access_attach_pasid() - attach an access under a PASID
 * @access: access, not attached
 * @ioas_id: the IOAS
 * @pasid: a PASID the file holds (IOASID_PASID_ALLOC)
 *
 * For an emulated device whose DMA a PASID tags, as the PASID of a
 * sub-device: the access keeps the value taken in the system's PASID
 * space while it is attached, so no one else is given it meanwhile,
 * even after the file frees it.
 *
 * Context: process context; takes ioas.mutex.
 * Return: as ioasid_access_attach(); -EPERM when the file does not hold
 * @pasid.
 */
int ioasid_access_attach_pasid(struct ioasid_access *access, u32 ioas_id,
			       u32 pasid)
{
	int rc;

	if (access->ioas)
		return -EBUSY;
	if (ioasid_pasid_get(&access->ictx->pasid_set, pasid))
		return -EPERM;
	rc = ioasid_access_attach(access, ioas_id);
	if (rc) {
		ioasid_pasid_put(pasid);
		return rc;
	}
	access->pasid = pasid;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_attach_pasid, IOASID);

/**
 * ioasid_access_detach() - detach an access; it must hold no pins
 * @access: attached access
 *
 * Context: process context; takes ioas.mutex.
 */
void ioasid_access_detach(struct ioasid_access *access)
{
	struct ioasid_ioas *ioas = access->ioas;

	if (!ioas)
		return;
	access_drop_pins(access);
	mutex_lock(&ioas->mutex);
	list_del_init(&access->item);
	access->ioas = NULL;
	mutex_unlock(&ioas->mutex);
	ioasid_obj_unhold(&ioas->obj);
	if (access->pasid != IOASID_PASID_RID) {
		ioasid_pasid_put(access->pasid);
		access->pasid = IOASID_PASID_RID;
	}
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_detach, IOASID);

static void ioasid_access_free(struct ioasid_object *obj)
{
	struct ioasid_access *access =
		container_of(obj, struct ioasid_access, obj);
	struct ioasid_ioas *ioas = access->ioas;

	/*
	 * Off the IOAS's list first, waiting for an unmap notice under way:
	 * no callback may reach the data once it is destroyed. The access
	 * stays attached, so the data's destructor can still unpin.
	 */
	if (ioas) {
		mutex_lock(&ioas->mutex);
		list_del_init(&access->item);
		mutex_unlock(&ioas->mutex);
	}
	if (access->destroy_data)
		access->destroy_data(access->data);
	ioasid_access_detach(access);
	xa_destroy(&access->pins);
	mutex_destroy(&access->lock);
	kfree(access);
}

/* An access is complete once created: abort and destroy agree. */
const struct ioasid_obj_ops ioasid_access_ops = {
	.name = "access",
	.destroy = ioasid_access_free,
	.abort = ioasid_access_free,
};

/**
 * ioasid_access_destroy() - undo ioasid_access_create()
 * @access: the access; detached first if attached
 *
 * Waits for commands in flight that found the access.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_access_destroy(struct ioasid_access *access)
{
	ioasid_obj_destroy_held(&access->obj);
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_destroy, IOASID);

static int access_check_range(struct ioasid_access *access, unsigned long iova,
			      unsigned long length, unsigned long *last)
{
	if (!access->ioas)
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (check_add_overflow(iova, length - 1, last))
		return -EOVERFLOW;
	return 0;
}

/*
 * Walk the areas covering [iova, last] in order, calling @fn on each piece.
 * Fails with -ENOENT at a hole and -EPERM on a missing permission.
 */
static int access_walk(struct ioasid_iopt *iopt, unsigned long iova,
		       unsigned long last, int prot,
		       int (*fn)(struct ioasid_area *area, unsigned long start,
				 unsigned long end, void *arg),
		       void *arg)
{
	unsigned long next = iova;
	struct ioasid_area *area;
	int rc;

	lockdep_assert_held(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last)) {
		unsigned long start = max(area->node.start, iova);
		unsigned long end = min(area->node.last, last);

		if (start != next)
			return -ENOENT;
		if ((area->prot & prot) != prot)
			return -EPERM;
		rc = fn(area, start, end, arg);
		if (rc)
			return rc;
		if (end == last)
			return 0;
		next = end + 1;
	}
	return -ENOENT;
}

/* Pages of @area, counted in the area's page array, covering an IOVA. */
static unsigned long area_index(struct ioasid_area *area, unsigned long iova)
{
	return area->page_index + ((iova - area->node.start) >> PAGE_SHIFT);
}

struct access_pin_state {
	struct page **out;
	unsigned long done;
};

static int access_pin_fn(struct ioasid_area *area, unsigned long start,
			 unsigned long end, void *arg)
{
	struct access_pin_state *st = arg;
	unsigned long n = (end - start + 1) >> PAGE_SHIFT;

	/* Device memory has no struct page to hand out or copy through. */
	if (area->pages->pfnmap)
		return -EFAULT;

	ioasid_pages_copy(area->pages, area_index(area, start), n,
			  st->out + st->done);
	atomic_long_add(n, &area->num_access_pins);
	st->done += n;
	return 0;
}

static int access_unpin_fn(struct ioasid_area *area, unsigned long start,
			   unsigned long end, void *arg)
{
	long left;

	left = atomic_long_sub_return((end - start + 1) >> PAGE_SHIFT,
				      &area->num_access_pins);
	IOASID_WARN_ON(left < 0);
	return 0;
}

/* Count one more pin of each of @n IOVA pages from @idx; all or nothing. */
static int access_track(struct ioasid_access *access, unsigned long idx,
			unsigned long n)
{
	unsigned long i;
	int rc;

	lockdep_assert_held(&access->lock);
	for (i = 0; i < n; i++) {
		void *old = xa_load(&access->pins, idx + i);
		unsigned long cnt = old ? xa_to_value(old) : 0;

		rc = xa_err(xa_store(&access->pins, idx + i,
				     xa_mk_value(cnt + 1), GFP_KERNEL_ACCOUNT));
		if (rc) {
			access_untrack(access, idx, i);
			return rc;
		}
	}
	return 0;
}

/* Count one pin less of each of @n IOVA pages from @idx, all tracked. */
static void access_untrack(struct ioasid_access *access, unsigned long idx,
			   unsigned long n)
{
	unsigned long i;

	lockdep_assert_held(&access->lock);
	for (i = 0; i < n; i++) {
		unsigned long cnt = xa_to_value(xa_load(&access->pins, idx + i));

		/* Replacing a present entry allocates nothing. */
		if (cnt > 1)
			xa_store(&access->pins, idx + i, xa_mk_value(cnt - 1),
				 GFP_KERNEL);
		else
			xa_erase(&access->pins, idx + i);
	}
}

/*
 * While dirty tracking is on, remember the IOVA pages an access pinned or
 * wrote: they are what a migration must copy again. Best effort: without
 * memory the page is not recorded, which loses no data of the access.
 */
static void access_mark_dirty(struct ioasid_iopt *iopt, unsigned long iova,
			      unsigned long last)
{
	unsigned long idx;

	if (!READ_ONCE(iopt->track_access_dirty))
		return;
	for (idx = iova >> PAGE_SHIFT; idx <= last >> PAGE_SHIFT; idx++)
		xa_store(&iopt->access_dirty, idx, xa_mk_value(1),
			 GFP_KERNEL_ACCOUNT);
}

/* Does the access hold a pin on each of @n IOVA pages from @idx? */
static bool access_holds(struct ioasid_access *access, unsigned long idx,
			 unsigned long n)
{
	unsigned long i;

	lockdep_assert_held(&access->lock);
	for (i = 0; i < n; i++)
		if (!xa_load(&access->pins, idx + i))
			return false;
	return true;
}

/*
 * Let go of every pin the access still holds, without asking its driver:
 * for an access being detached. The driver was meant to unpin first.
 */
static void access_drop_pins(struct ioasid_access *access)
{
	struct ioasid_iopt *iopt = &access->ioas->iopt;
	unsigned long idx, dropped = 0;
	void *entry;

	down_read(&iopt->rwsem);
	mutex_lock(&access->lock);
	xa_for_each(&access->pins, idx, entry) {
		unsigned long iova = idx << PAGE_SHIFT;
		struct ioasid_area *area;

		area = ioasid_iopt_area_first(iopt, iova, iova);
		if (!IOASID_WARN_ON(!area))
			atomic_long_sub(xa_to_value(entry),
					&area->num_access_pins);
		xa_erase(&access->pins, idx);
		dropped++;
	}
	mutex_unlock(&access->lock);
	up_read(&iopt->rwsem);
	if (dropped)
		pr_warn_ratelimited("ioasid: access detached holding pins on %lu pages\n",
				    dropped);
}

/*
 * Ask the access's driver to unpin what it pins in [first, last]: one call
 * per area holding such pins, with the area's whole IOVA range, as VFIO
 * type1 does per mapping. Holds ioas.mutex, so the access stays attached.
 */
static void access_notify(struct ioasid_access *access,
			  struct ioasid_iopt *iopt, unsigned long first,
			  unsigned long last)
{
	unsigned long idx = first >> PAGE_SHIFT, end = last >> PAGE_SHIFT;

	while (idx <= end && xa_find(&access->pins, &idx, end, XA_PRESENT)) {
		unsigned long iova = idx << PAGE_SHIFT, start = 0, alast = 0;
		struct ioasid_area *area;

		down_read(&iopt->rwsem);
		area = ioasid_iopt_area_first(iopt, iova, iova);
		if (area) {
			start = area->node.start;
			alast = area->node.last;
		}
		up_read(&iopt->rwsem);
		if (IOASID_WARN_ON(!area))
			return;
		access->ops->unmap(access->data, start, alast - start + 1);
		if (alast >> PAGE_SHIFT >= end)
			return;
		idx = (alast >> PAGE_SHIFT) + 1;
	}
}

/**
 * ioasid_access_notify_unmap() - ask accesses to unpin before an unmap
 * @ioas: the IOAS
 * @first: first IOVA of the range being unmapped
 * @last: its last IOVA, inclusive
 *
 * Each access holding pins in the range is told, once per area it pins
 * pages of, that the area's range goes away.
 *
 * Context: process context; takes ioas.mutex.
 */
void ioasid_access_notify_unmap(struct ioasid_ioas *ioas, unsigned long first,
				unsigned long last)
{
	struct ioasid_access *access;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(access, &ioas->access_list, item)
		if (access->ops->unmap)
			access_notify(access, &ioas->iopt, first, last);
	mutex_unlock(&ioas->mutex);
}

/**
 * ioasid_access_release_pins() - ask an access's driver to unpin everything
 * @access: the access; nothing happens if it is detached
 *
 * As ioasid_access_notify_unmap() for the whole IOVA space, for one access:
 * its unmap callback is called once per area it pins pages of.
 *
 * Context: process context; takes ioas.mutex. The driver's unmap callback
 * runs in it.
 */
void ioasid_access_release_pins(struct ioasid_access *access)
{
	struct ioasid_ioas *ioas = access->ioas;

	if (!ioas || !access->ops->unmap)
		return;
	mutex_lock(&ioas->mutex);
	access_notify(access, &ioas->iopt, 0, ULONG_MAX);
	mutex_unlock(&ioas->mutex);
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_release_pins, IOASID);

/**
 * ioasid_access_pin_pages() - get the pages behind an IOVA range
 * @access: attached access
 * @iova: page-aligned IOVA
 * @length: page-aligned, non-zero length
 * @out_pages: array of length / PAGE_SIZE entries
 * @flags: IOASID_ACCESS_WRITE when the access will write
 *
 * The pages stay valid until ioasid_access_unpin_pages() of the same pages
 * by the same access, which the access's unmap callback must do when
 * asked. Pins are counted per access and per IOVA page.
 *
 * Context: process context; takes iopt.domains_rwsem, iopt.rwsem and
 * access.lock.
 * Return: 0, -ENOENT if the range is not fully mapped, -EFAULT where it maps
 * device memory (no struct page), -EPERM without
 * permission, -EINVAL or -EOVERFLOW for a bad range, -ENOMEM.
 */
int ioasid_access_pin_pages(struct ioasid_access *access, unsigned long iova,
			    unsigned long length, struct page **out_pages,
			    unsigned int flags)
{
	int prot = (flags & IOASID_ACCESS_WRITE) ? IOMMU_WRITE : IOMMU_READ;
	struct access_pin_state st = { .out = out_pages };
	struct ioasid_iopt *iopt;
	unsigned long last;
	int rc;

	if (!access->ops->needs_pin_pages)
		return -EINVAL;
	rc = access_check_range(access, iova, length, &last);
	if (rc)
		return rc;
	if (!PAGE_ALIGNED(iova) || !PAGE_ALIGNED(length))
		return -EINVAL;
	iopt = &access->ioas->iopt;
	/* Stored pages are read back from the domains: keep them. */
	down_read(&iopt->domains_rwsem);
	down_read(&iopt->rwsem);
	mutex_lock(&access->lock);
	rc = access_walk(iopt, iova, last, prot, access_pin_fn, &st);
	if (!rc)
		rc = access_track(access, iova >> PAGE_SHIFT, st.done);
	if (!rc)
		access_mark_dirty(iopt, iova, last);
	if (rc && st.done)
		access_walk(iopt, iova, iova + st.done * PAGE_SIZE - 1, 0,
			    access_unpin_fn, NULL);
	mutex_unlock(&access->lock);
	up_read(&iopt->rwsem);
	up_read(&iopt->domains_rwsem);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_pin_pages, IOASID);

/**
 * ioasid_access_unpin_pages() - release pages from ioasid_access_pin_pages()
 * @access: attached access
 * @iova: page-aligned IOVA
 * @length: page-aligned, non-zero length
 *
 * Every page of the range must be pinned by this access; otherwise
 * nothing is unpinned.
 *
 * Context: process context; takes iopt.rwsem and access.lock.
 * Return: 0; -EINVAL for a bad range or one with a page this access does
 * not hold pinned; -EOVERFLOW.
 */
int ioasid_access_unpin_pages(struct ioasid_access *access, unsigned long iova,
			      unsigned long length)
{
	struct ioasid_iopt *iopt;
	unsigned long last, n;
	int rc;

	rc = access_check_range(access, iova, length, &last);
	if (rc)
		return rc;
	if (!PAGE_ALIGNED(iova) || !PAGE_ALIGNED(length))
		return -EINVAL;
	n = length >> PAGE_SHIFT;
	iopt = &access->ioas->iopt;
	down_read(&iopt->rwsem);
	mutex_lock(&access->lock);
	if (access_holds(access, iova >> PAGE_SHIFT, n)) {
		access_untrack(access, iova >> PAGE_SHIFT, n);
		IOASID_WARN_ON(access_walk(iopt, iova, last, 0,
					   access_unpin_fn, NULL));
	} else {
		rc = -EINVAL;
	}
	mutex_unlock(&access->lock);
	up_read(&iopt->rwsem);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_unpin_pages, IOASID);

struct access_rw_state {
	char *data;
	bool write;
};

static int access_rw_fn(struct ioasid_area *area, unsigned long start,
			unsigned long end, void *arg)
{
	struct access_rw_state *st = arg;

	if (area->pages->pfnmap)
		return -EFAULT;
	while (start <= end) {
		struct page *page = ioasid_pages_page(area->pages,
						      area_index(area, start));
		size_t offset = offset_in_page(start);
		size_t n = min_t(unsigned long, PAGE_SIZE - offset,
				 end - start + 1);
		char *va = kmap_local_page(page);

		if (st->write)
			memcpy(va + offset, st->data, n);
		else
			memcpy(st->data, va + offset, n);
		kunmap_local(va);
		st->data += n;
		start += n;
		if (!start)
			break;
	}
	return 0;
}

/**
 * ioasid_access_rw() - copy between a kernel buffer and memory at an IOVA
 * @access: attached access
 * @iova: IOVA, any alignment
 * @data: kernel buffer
 * @length: bytes, non-zero
 * @flags: IOASID_ACCESS_WRITE to write memory, else read it
 *
 * Return: 0, -ENOENT if the range is not fully mapped, -EFAULT where it maps
 * device memory (no struct page), -EPERM without
 * permission, -EINVAL or -EOVERFLOW for a bad range.
 *
 * Context: process context; takes iopt.domains_rwsem and iopt.rwsem.
 */
int ioasid_access_rw(struct ioasid_access *access, unsigned long iova,
		     void *data, size_t length, unsigned int flags)
{
	bool write = flags & IOASID_ACCESS_WRITE;
	struct access_rw_state st = { .data = data, .write = write };
	struct ioasid_iopt *iopt;
	unsigned long last;
	int rc;

	rc = access_check_range(access, iova, length, &last);
	if (rc)
		return rc;
	iopt = &access->ioas->iopt;
	down_read(&iopt->domains_rwsem);
	down_read(&iopt->rwsem);
	rc = access_walk(iopt, iova, last, write ? IOMMU_WRITE : IOMMU_READ,
			 access_rw_fn, &st);
	if (!rc && write)
		access_mark_dirty(iopt, iova, last);
	up_read(&iopt->rwsem);
	up_read(&iopt->domains_rwsem);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_access_rw, IOASID);
