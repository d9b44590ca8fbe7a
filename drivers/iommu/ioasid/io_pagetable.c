// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOVA map of an IOAS, and the IOMMU domains mirroring it.
 *
 * Three interval trees describe the IOVA space. Areas are the mappings;
 * each points into a struct ioasid_pages. Reserved ranges are IOVAs no
 * mapping may use: attached devices' reserved regions and what lies
 * outside an attached domain's aperture, tagged with an owner so they
 * leave with it. Allowed ranges, when userspace set any, bound where
 * mappings and reserved regions may go.
 *
 * Every domain in @domains holds exactly the areas, always: a map is
 * inserted only after it went into every domain, an unmap leaves the tree
 * only after it left every domain, and a new domain is filled from all
 * areas before it is added. Unmap gathers IOTLB invalidations across all
 * the areas it removes and syncs once per domain.
 *
 * Pinning, the slow part of a map, happens before iopt.rwsem is taken.
 */
#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

struct ioasid_reserved {
	struct interval_tree_node node;
	void *owner;
};

struct ioasid_allowed {
	struct interval_tree_node node;
};

static struct ioasid_area *to_area(struct interval_tree_node *node)
{
	return node ? container_of(node, struct ioasid_area, node) : NULL;
}

/**
 * ioasid_iopt_area_first() - first area intersecting [start, last]
 * @iopt: the IOVA map, rwsem held
 * @start: first IOVA
 * @last: last IOVA, inclusive
 *
 * Return: the area, or NULL.
 */
struct ioasid_area *ioasid_iopt_area_first(struct ioasid_iopt *iopt,
					   unsigned long start,
					   unsigned long last)
{
	lockdep_assert_held(&iopt->rwsem);
	return to_area(interval_tree_iter_first(&iopt->area_itree, start, last));
}

/**
 * ioasid_iopt_area_next() - next area intersecting [start, last]
 * @area: the current area
 * @start: first IOVA
 * @last: last IOVA, inclusive
 *
 * Return: the area, or NULL.
 */
struct ioasid_area *ioasid_iopt_area_next(struct ioasid_area *area,
					  unsigned long start,
					  unsigned long last)
{
	return to_area(interval_tree_iter_next(&area->node, start, last));
}

static unsigned long area_length(struct ioasid_area *area)
{
	return area->node.last - area->node.start + 1;
}

/**
 * ioasid_iopt_init() - initialise an empty IOVA map
 * @iopt: the map
 */
void ioasid_iopt_init(struct ioasid_iopt *iopt)
{
	init_rwsem(&iopt->rwsem);
	iopt->area_itree = RB_ROOT_CACHED;
	iopt->reserved_itree = RB_ROOT_CACHED;
	iopt->allowed_itree = RB_ROOT_CACHED;
	xa_init_flags(&iopt->domains, XA_FLAGS_ALLOC | XA_FLAGS_ACCOUNT);
	iopt->iova_alignment = PAGE_SIZE;
}

static void iopt_free_tree(struct rb_root_cached *root, size_t offset)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(node, root);
		kfree((void *)node - offset);
	}
}

/* Map @npages of @area, from page @first of the area, at their IOVA. */
static int iopt_map_run(struct ioasid_iopt *iopt, struct ioasid_area *area,
			struct iommu_domain *domain, unsigned long first,
			unsigned long npages)
{
	unsigned long index = area->page_index + first;
	unsigned long iova = area->node.start + first * PAGE_SIZE;
	unsigned long end = index + npages;
	int rc;

	while (index < end) {
		unsigned long run = 1;

		if (!iopt->disable_large_pages)
			run = ioasid_pages_run(area->pages, index, end - index);
		rc = iommu_map(domain, iova,
			       page_to_phys(area->pages->pages[index]),
			       run * PAGE_SIZE, area->prot);
		if (rc)
			return rc;
		index += run;
		iova += run * PAGE_SIZE;
		if (index < end) {
			rc = ioasid_test_should_fail(IOASID_FAIL_DOMAIN_MAP);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int iopt_fill_area(struct ioasid_iopt *iopt, struct ioasid_area *area,
			  struct iommu_domain *domain)
{
	int rc;

	rc = iopt_map_run(iopt, area, domain, 0, area_length(area) >> PAGE_SHIFT);
	if (rc) {
		/* Unmapping what was never mapped is harmless. */
		iommu_unmap(domain, area->node.start, area_length(area));
	}
	return rc;
}

/* Map @area into every domain; on failure it is in none. */
static int iopt_fill_domains(struct ioasid_iopt *iopt, struct ioasid_area *area)
{
	struct iommu_domain *domain, *undo;
	unsigned long index, i;
	int rc;

	lockdep_assert_held_write(&iopt->rwsem);
	xa_for_each(&iopt->domains, index, domain) {
		rc = iopt_fill_area(iopt, area, domain);
		if (rc)
			goto err_unfill;
	}
	return 0;

err_unfill:
	xa_for_each(&iopt->domains, i, undo) {
		if (i == index)
			break;
		iommu_unmap(undo, area->node.start, area_length(area));
	}
	return rc;
}

static bool iopt_reserved_hit(struct ioasid_iopt *iopt, unsigned long start,
			      unsigned long last)
{
	return interval_tree_iter_first(&iopt->reserved_itree, start, last);
}

/* Is [start, last] inside the union of the allowed ranges (or no list)? */
static bool iopt_allowed(struct ioasid_iopt *iopt, unsigned long start,
			 unsigned long last)
{
	struct interval_tree_node *node;

	if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root))
		return true;
	for (node = interval_tree_iter_first(&iopt->allowed_itree, start, last);
	     node; node = interval_tree_iter_next(node, start, last)) {
		if (node->start > start)
			return false;
		if (node->last >= last)
			return true;
		start = node->last + 1;
	}
	return false;
}

static int iopt_check_fixed(struct ioasid_iopt *iopt, unsigned long iova,
			    unsigned long last)
{
	if (interval_tree_iter_first(&iopt->area_itree, iova, last))
		return -EEXIST;
	if (iopt_reserved_hit(iopt, iova, last) ||
	    !iopt_allowed(iopt, iova, last))
		return -EADDRINUSE;
	return 0;
}

/* Alignment of a kernel-chosen IOVA: keep the user address's huge pages. */
static unsigned long iopt_pick_alignment(struct ioasid_iopt *iopt,
					 unsigned long uptr,
					 unsigned long length)
{
	unsigned long align = rounddown_pow_of_two(length);

	if (uptr)
		align = min(align, 1UL << __ffs(uptr));
	align = min_t(unsigned long, align, SZ_1G);
	return max(align, iopt->iova_alignment);
}

/* First hole of @length in [wstart, wlast], aligned to @align. */
static bool iopt_find_hole(struct ioasid_iopt *iopt, unsigned long wstart,
			   unsigned long wlast, unsigned long length,
			   unsigned long align, unsigned long *iova)
{
	struct interval_tree_node *hit;
	unsigned long start, last;

	start = ALIGN(wstart ? wstart : align, align);
	while (start >= wstart) {
		if (check_add_overflow(start, length - 1, &last) || last > wlast)
			return false;
		hit = interval_tree_iter_first(&iopt->area_itree, start, last);
		if (!hit)
			hit = interval_tree_iter_first(&iopt->reserved_itree,
						       start, last);
		if (!hit) {
			*iova = start;
			return true;
		}
		if (hit->last == ULONG_MAX)
			return false;
		start = ALIGN(hit->last + 1, align);
	}
	return false;
}

static int iopt_alloc_iova(struct ioasid_iopt *iopt, unsigned long *iova,
			   unsigned long uptr, unsigned long length)
{
	unsigned long align = iopt_pick_alignment(iopt, uptr, length);
	struct interval_tree_node *node;

	lockdep_assert_held(&iopt->rwsem);
	if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root))
		return iopt_find_hole(iopt, 0, ULONG_MAX, length, align, iova) ?
			       0 : -ENOSPC;
	for (node = interval_tree_iter_first(&iopt->allowed_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX))
		if (iopt_find_hole(iopt, node->start, node->last, length, align,
				   iova))
			return 0;
	return -ENOSPC;
}

/*
 * Insert a new area for @pages[@page_index...] at *@iova (or a chosen IOVA)
 * and map it into every domain. Consumes the caller's reference on @pages
 * on success only.
 */
static int iopt_insert_area(struct ioasid_iopt *iopt, struct ioasid_pages *pages,
			    unsigned long page_index, unsigned long *iova,
			    unsigned long length, unsigned long uptr, int prot,
			    bool fixed)
{
	struct ioasid_area *area;
	int rc;

	lockdep_assert_held_write(&iopt->rwsem);
	if (fixed) {
		if (*iova % iopt->iova_alignment || length % iopt->iova_alignment)
			return -EINVAL;
		rc = iopt_check_fixed(iopt, *iova, *iova + length - 1);
	} else {
		if (length % iopt->iova_alignment)
			return -EINVAL;
		rc = iopt_alloc_iova(iopt, iova, uptr, length);
	}
	if (rc)
		return rc;

	area = kzalloc(sizeof(*area), GFP_KERNEL_ACCOUNT);
	if (!area)
		return -ENOMEM;
	area->node.start = *iova;
	area->node.last = *iova + length - 1;
	area->pages = pages;
	area->page_index = page_index;
	area->prot = prot;
	rc = iopt_fill_domains(iopt, area);
	if (rc) {
		kfree(area);
		return rc;
	}
	interval_tree_insert(&area->node, &iopt->area_itree);
	iopt->num_areas++;
	return 0;
}

/**
 * ioasid_iopt_map_user() - pin user memory and map it
 * @ictx: context the pages are accounted to
 * @iopt: the map
 * @iova: in, the IOVA if @fixed; out, the IOVA used
 * @uptr: page-aligned user address
 * @length: non-zero, page-aligned length; uptr + length does not wrap
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @fixed: use *@iova rather than choosing
 * @acct_mode: enum ioasid_acct_mode to charge the pages with
 *
 * Return: 0, or an errno with nothing pinned, charged or mapped.
 */
int ioasid_iopt_map_user(struct ioasid_ctx *ictx, struct ioasid_iopt *iopt,
			 unsigned long *iova, unsigned long uptr,
			 unsigned long length, int prot, bool fixed,
			 u8 acct_mode)
{
	struct ioasid_pages *pages;
	int rc;

	pages = ioasid_pages_pin(ictx, uptr, length >> PAGE_SHIFT,
				 prot & IOMMU_WRITE, acct_mode);
	if (IS_ERR(pages))
		return PTR_ERR(pages);
	down_write(&iopt->rwsem);
	rc = iopt_insert_area(iopt, pages, 0, iova, length, uptr, prot, fixed);
	up_write(&iopt->rwsem);
	if (rc)
		ioasid_pages_put(pages);
	return rc;
}

struct iopt_copy_piece {
	struct ioasid_pages *pages;
	unsigned long page_index;
	unsigned long length;
};

/* Take references on the pages behind [iova, last] of @src. */
static int iopt_collect(struct ioasid_iopt *src, unsigned long iova,
			unsigned long last, int prot,
			struct iopt_copy_piece **out, unsigned int *out_num)
{
	struct iopt_copy_piece *pieces = NULL;
	unsigned long next = iova;
	struct ioasid_area *area;
	unsigned int num = 0, i;
	int rc = 0;

	down_read(&src->rwsem);
	for (area = ioasid_iopt_area_first(src, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last))
		num++;
	pieces = kcalloc(num, sizeof(*pieces), GFP_KERNEL_ACCOUNT);
	if (!pieces && num) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	i = 0;
	for (area = ioasid_iopt_area_first(src, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last), i++) {
		unsigned long start = max(area->node.start, iova);
		unsigned long end = min(area->node.last, last);

		if (start != next) {
			rc = -ENOENT;
			break;
		}
		if ((area->prot & prot) != prot) {
			rc = -EPERM;
			break;
		}
		pieces[i].pages = area->pages;
		pieces[i].page_index = area->page_index +
				       ((start - area->node.start) >> PAGE_SHIFT);
		pieces[i].length = end - start + 1;
		kref_get(&area->pages->kref);
		next = end + 1;
	}
	if (!rc && (!num || next - 1 != last))
		rc = -ENOENT;
	if (rc) {
		while (i--)
			ioasid_pages_put(pieces[i].pages);
		kfree(pieces);
		goto out_unlock;
	}
	*out = pieces;
	*out_num = num;
out_unlock:
	up_read(&src->rwsem);
	return rc;
}

static void iopt_remove_areas_locked(struct ioasid_iopt *iopt,
				     unsigned long start, unsigned long last,
				     struct list_head *free_list);

/* Drop removed areas and their page references, with no lock held. */
static void iopt_free_areas(struct list_head *free_list)
{
	struct ioasid_area *area, *tmp;

	list_for_each_entry_safe(area, tmp, free_list, free_item) {
		ioasid_pages_put(area->pages);
		kfree(area);
	}
}

/**
 * ioasid_iopt_copy() - map, in @dst, the pages already mapped in @src
 * @dst: destination map
 * @src: source map (may be @dst)
 * @dst_iova: in, the IOVA if @fixed; out, the IOVA used
 * @src_iova: start of the source range
 * @length: non-zero, aligned length; neither IOVA range wraps
 * @prot: IOMMU_READ and/or IOMMU_WRITE; every source area must allow it
 * @fixed: use *@dst_iova rather than choosing
 *
 * No page is pinned or charged again: the new areas share the pages.
 *
 * Return: 0 or an errno, with @dst unchanged.
 */
int ioasid_iopt_copy(struct ioasid_iopt *dst, struct ioasid_iopt *src,
		     unsigned long *dst_iova, unsigned long src_iova,
		     unsigned long length, int prot, bool fixed)
{
	struct iopt_copy_piece *pieces;
	unsigned long iova, first;
	unsigned int num, i, done = 0;
	LIST_HEAD(free_list);
	int rc;

	if (src_iova % src->iova_alignment)
		return -EINVAL;
	rc = iopt_collect(src, src_iova, src_iova + length - 1, prot, &pieces,
			  &num);
	if (rc)
		return rc;

	down_write(&dst->rwsem);
	if (fixed) {
		rc = (*dst_iova % dst->iova_alignment) ? -EINVAL :
			iopt_check_fixed(dst, *dst_iova, *dst_iova + length - 1);
	} else {
		rc = iopt_alloc_iova(dst, dst_iova, src_iova, length);
	}
	first = *dst_iova;
	for (i = 0, iova = first; !rc && i < num; i++) {
		rc = iopt_insert_area(dst, pieces[i].pages,
				      pieces[i].page_index, &iova,
				      pieces[i].length, 0, prot, true);
		if (rc)
			break;
		iova += pieces[i].length;
		done++;
	}
	if (rc && done)
		iopt_remove_areas_locked(dst, first, iova - 1, &free_list);
	up_write(&dst->rwsem);

	/* References not handed to an area, or of areas taken back. */
	for (i = done; i < num; i++)
		ioasid_pages_put(pieces[i].pages);
	iopt_free_areas(&free_list);
	kfree(pieces);
	return rc;
}

/*
 * Unmap every area inside [start, last] from every domain, gathering the
 * IOTLB invalidations of all of them and syncing once per domain, then take
 * the areas out of the tree onto @free_list.
 */
static void iopt_remove_areas_locked(struct ioasid_iopt *iopt,
				     unsigned long start, unsigned long last,
				     struct list_head *free_list)
{
	struct iommu_domain *domain;
	struct ioasid_area *area;
	unsigned long index;

	lockdep_assert_held_write(&iopt->rwsem);
	xa_for_each(&iopt->domains, index, domain) {
		struct iommu_iotlb_gather gather;

		iommu_iotlb_gather_init(&gather);
		for (area = ioasid_iopt_area_first(iopt, start, last); area;
		     area = ioasid_iopt_area_next(area, start, last)) {
			size_t len = area_length(area);
			size_t done;

			done = iommu_unmap_fast(domain, area->node.start, len,
						&gather);
			IOASID_WARN_ON(done != len);
		}
		iommu_iotlb_sync(domain, &gather);
	}
	while ((area = ioasid_iopt_area_first(iopt, start, last))) {
		interval_tree_remove(&area->node, &iopt->area_itree);
		iopt->num_areas--;
		list_add_tail(&area->free_item, free_list);
	}
}

/**
 * ioasid_iopt_range_pinned() - does an access pin pages in the range?
 * @iopt: the map
 * @iova: first IOVA
 * @length: non-zero length
 *
 * Return: true when some area in the range has pages pinned by an access.
 */
bool ioasid_iopt_range_pinned(struct ioasid_iopt *iopt, unsigned long iova,
			      unsigned long length)
{
	unsigned long last = iova + length - 1;
	struct ioasid_area *area;
	bool pinned = false;

	down_read(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, iova, last); area && !pinned;
	     area = ioasid_iopt_area_next(area, iova, last))
		pinned = atomic_long_read(&area->num_access_pins);
	up_read(&iopt->rwsem);
	return pinned;
}

static int iopt_unmap_range(struct ioasid_iopt *iopt, unsigned long iova,
			    unsigned long last, unsigned long *unmapped)
{
	struct ioasid_area *area;
	LIST_HEAD(free_list);
	unsigned long total = 0;
	int rc = 0;

	down_write(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, iova, last); area;
	     area = ioasid_iopt_area_next(area, iova, last)) {
		if (area->node.start < iova || area->node.last > last) {
			rc = -ENOENT;
			break;
		}
		if (atomic_long_read(&area->num_access_pins)) {
			rc = -EBUSY;
			break;
		}
		total += area_length(area);
	}
	if (!rc)
		iopt_remove_areas_locked(iopt, iova, last, &free_list);
	up_write(&iopt->rwsem);
	iopt_free_areas(&free_list);
	*unmapped = rc ? 0 : total;
	return rc;
}

/**
 * ioasid_iopt_unmap() - unmap every area inside a range
 * @iopt: the map
 * @iova: first IOVA
 * @length: non-zero length; iova + length - 1 does not wrap
 * @unmapped: out, bytes unmapped
 *
 * Return: 0; -EINVAL if unaligned; -ENOENT if an area crosses either end of
 * the range, -EBUSY if an access still pins pages in it (nothing is
 * unmapped then).
 */
int ioasid_iopt_unmap(struct ioasid_iopt *iopt, unsigned long iova,
		      unsigned long length, unsigned long *unmapped)
{
	if (iova % iopt->iova_alignment || length % iopt->iova_alignment)
		return -EINVAL;
	return iopt_unmap_range(iopt, iova, iova + length - 1, unmapped);
}

/**
 * ioasid_iopt_unmap_all() - unmap everything
 * @iopt: the map
 * @unmapped: out, bytes unmapped
 *
 * Return: 0, or -EBUSY if an access pins pages (nothing is unmapped).
 */
int ioasid_iopt_unmap_all(struct ioasid_iopt *iopt, unsigned long *unmapped)
{
	return iopt_unmap_range(iopt, 0, ULONG_MAX, unmapped);
}

/**
 * ioasid_iopt_destroy() - free an IOVA map with no domain attached
 * @iopt: the map
 */
void ioasid_iopt_destroy(struct ioasid_iopt *iopt)
{
	LIST_HEAD(free_list);

	down_write(&iopt->rwsem);
	IOASID_WARN_ON(iopt->num_domains);
	iopt_remove_areas_locked(iopt, 0, ULONG_MAX, &free_list);
	iopt_free_tree(&iopt->reserved_itree,
		       offsetof(struct ioasid_reserved, node));
	iopt_free_tree(&iopt->allowed_itree,
		       offsetof(struct ioasid_allowed, node));
	up_write(&iopt->rwsem);
	iopt_free_areas(&free_list);
	xa_destroy(&iopt->domains);
}

static int iopt_add_reserved(struct ioasid_iopt *iopt, unsigned long start,
			     unsigned long last, void *owner)
{
	struct ioasid_reserved *resv;

	lockdep_assert_held_write(&iopt->rwsem);
	if (interval_tree_iter_first(&iopt->area_itree, start, last) ||
	    interval_tree_iter_first(&iopt->allowed_itree, start, last))
		return -EADDRINUSE;
	resv = kzalloc(sizeof(*resv), GFP_KERNEL_ACCOUNT);
	if (!resv)
		return -ENOMEM;
	resv->node.start = start;
	resv->node.last = last;
	resv->owner = owner;
	interval_tree_insert(&resv->node, &iopt->reserved_itree);
	return 0;
}

static void iopt_remove_reserved(struct ioasid_iopt *iopt, void *owner)
{
	struct interval_tree_node *node, *next;

	lockdep_assert_held_write(&iopt->rwsem);
	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0,
					     ULONG_MAX);
	     node; node = next) {
		struct ioasid_reserved *resv =
			container_of(node, struct ioasid_reserved, node);

		next = interval_tree_iter_next(node, 0, ULONG_MAX);
		if (resv->owner != owner)
			continue;
		interval_tree_remove(node, &iopt->reserved_itree);
		kfree(resv);
	}
}

static void iopt_recalc_alignment(struct ioasid_iopt *iopt)
{
	unsigned long align = PAGE_SIZE;
	struct iommu_domain *domain;
	unsigned long index;

	xa_for_each(&iopt->domains, index, domain)
		align = max(align, 1UL << __ffs(domain->pgsize_bitmap));
	iopt->iova_alignment = align;
}

static int iopt_reserve_aperture(struct ioasid_iopt *iopt,
				 struct iommu_domain *domain)
{
	struct iommu_domain_geometry *geo = &domain->geometry;
	int rc;

	if (!geo->force_aperture)
		return 0;
	if (geo->aperture_start) {
		rc = iopt_add_reserved(iopt, 0, geo->aperture_start - 1, domain);
		if (rc)
			return rc;
	}
	if (geo->aperture_end < ULONG_MAX)
		return iopt_add_reserved(iopt, geo->aperture_end + 1, ULONG_MAX,
					 domain);
	return 0;
}

/**
 * ioasid_iopt_add_domain() - mirror the map into a new domain
 * @iopt: the map
 * @domain: an empty paging domain
 *
 * Every area is mapped into @domain, in physically contiguous runs read from
 * the pinned pages. The domain's aperture becomes reserved and its smallest
 * page size raises the IOVA alignment.
 *
 * Return: 0, or an errno with @domain empty and @iopt unchanged.
 */
int ioasid_iopt_add_domain(struct ioasid_iopt *iopt,
			   struct iommu_domain *domain)
{
	unsigned long align = 1UL << __ffs(domain->pgsize_bitmap);
	struct ioasid_area *area, *undo;
	u32 id;
	int rc;

	down_write(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		if (area->node.start % align || area_length(area) % align) {
			rc = -EADDRINUSE;
			goto out_unlock;
		}
	}
	rc = iopt_reserve_aperture(iopt, domain);
	if (rc)
		goto err_unreserve;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		rc = iopt_fill_area(iopt, area, domain);
		if (rc)
			goto err_unfill;
	}
	rc = xa_alloc(&iopt->domains, &id, domain, xa_limit_32b,
		      GFP_KERNEL_ACCOUNT);
	if (rc)
		goto err_unfill;
	iopt->num_domains++;
	iopt->iova_alignment = max(iopt->iova_alignment, align);
	up_write(&iopt->rwsem);
	return 0;

err_unfill:
	for (undo = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); undo != area;
	     undo = ioasid_iopt_area_next(undo, 0, ULONG_MAX))
		iommu_unmap(domain, undo->node.start, area_length(undo));
err_unreserve:
	iopt_remove_reserved(iopt, domain);
out_unlock:
	up_write(&iopt->rwsem);
	return rc;
}

/**
 * ioasid_iopt_remove_domain() - stop mirroring into a domain and empty it
 * @iopt: the map
 * @domain: a domain added with ioasid_iopt_add_domain()
 */
void ioasid_iopt_remove_domain(struct ioasid_iopt *iopt,
			       struct iommu_domain *domain)
{
	struct iommu_iotlb_gather gather;
	struct iommu_domain *entry;
	struct ioasid_area *area;
	unsigned long index;

	down_write(&iopt->rwsem);
	xa_for_each(&iopt->domains, index, entry) {
		if (entry == domain) {
			xa_erase(&iopt->domains, index);
			iopt->num_domains--;
			break;
		}
	}
	iommu_iotlb_gather_init(&gather);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX))
		iommu_unmap_fast(domain, area->node.start, area_length(area),
				 &gather);
	iommu_iotlb_sync(domain, &gather);
	iopt_remove_reserved(iopt, domain);
	iopt_recalc_alignment(iopt);
	up_write(&iopt->rwsem);
}

/**
 * ioasid_iopt_reserve_group() - reserve the IOVAs a group's devices cannot use
 * @iopt: the map
 * @group: the IOMMU group
 * @owner: tag to remove them by with ioasid_iopt_unreserve()
 *
 * Return: 0; -EADDRINUSE if a region intersects a mapping or an allowed
 * range, with nothing reserved.
 */
int ioasid_iopt_reserve_group(struct ioasid_iopt *iopt,
			      struct iommu_group *group, void *owner)
{
	struct iommu_resv_region *resv;
	LIST_HEAD(regions);
	int rc;

	rc = iommu_get_group_resv_regions(group, &regions);
	if (rc)
		return rc;
	down_write(&iopt->rwsem);
	list_for_each_entry(resv, &regions, list) {
		rc = iopt_add_reserved(iopt, resv->start,
				       resv->start + resv->length - 1, owner);
		if (rc) {
			iopt_remove_reserved(iopt, owner);
			break;
		}
	}
	up_write(&iopt->rwsem);
	iommu_put_resv_regions(NULL, &regions);
	return rc;
}

/**
 * ioasid_iopt_reserve_range() - reserve one range for @owner
 * @iopt: the map
 * @start: first IOVA
 * @last: last IOVA, inclusive
 * @owner: tag to remove it by with ioasid_iopt_unreserve()
 *
 * Return: 0, -EADDRINUSE or -ENOMEM.
 */
int ioasid_iopt_reserve_range(struct ioasid_iopt *iopt, unsigned long start,
			      unsigned long last, void *owner)
{
	int rc;

	down_write(&iopt->rwsem);
	rc = iopt_add_reserved(iopt, start, last, owner);
	up_write(&iopt->rwsem);
	return rc;
}

/**
 * ioasid_iopt_unreserve() - remove every reserved range of @owner
 * @iopt: the map
 * @owner: tag given when reserving
 */
void ioasid_iopt_unreserve(struct ioasid_iopt *iopt, void *owner)
{
	down_write(&iopt->rwsem);
	iopt_remove_reserved(iopt, owner);
	up_write(&iopt->rwsem);
}

/**
 * ioasid_iopt_set_allowed() - replace the allow-list
 * @iopt: the map
 * @allowed: tree of struct ioasid_allowed; emptied into @iopt on success,
 *	     and left with the old list either way for the caller to free
 *
 * Return: 0; -EBUSY if a mapping lies outside the new list, -EADDRINUSE if
 * a reserved range intersects it.
 */
int ioasid_iopt_set_allowed(struct ioasid_iopt *iopt,
			    struct rb_root_cached *allowed)
{
	struct interval_tree_node *node;
	struct rb_root_cached old;
	struct ioasid_area *area;
	int rc = 0;

	down_write(&iopt->rwsem);
	for (node = interval_tree_iter_first(allowed, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		if (iopt_reserved_hit(iopt, node->start, node->last)) {
			rc = -EADDRINUSE;
			goto out_unlock;
		}
	}
	old = iopt->allowed_itree;
	iopt->allowed_itree = *allowed;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		if (!iopt_allowed(iopt, area->node.start, area->node.last)) {
			iopt->allowed_itree = old;
			rc = -EBUSY;
			goto out_unlock;
		}
	}
	*allowed = old;
out_unlock:
	up_write(&iopt->rwsem);
	return rc;
}

/* Record one usable range; count it even when there is no room left. */
static void iopt_emit_range(struct ioasid_iova_range *ranges, u32 max,
			    u32 *num, unsigned long start, unsigned long last)
{
	if (*num < max) {
		ranges[*num].start = start;
		ranges[*num].last = last;
	}
	(*num)++;
}

/* Emit the holes between reserved ranges inside [start, last]. */
static void iopt_emit_window(struct ioasid_iopt *iopt,
			     struct ioasid_iova_range *ranges, u32 max,
			     u32 *num, unsigned long start, unsigned long last)
{
	struct interval_tree_node *resv;

	for (resv = interval_tree_iter_first(&iopt->reserved_itree, start, last);
	     resv; resv = interval_tree_iter_next(resv, start, last)) {
		if (resv->start > start)
			iopt_emit_range(ranges, max, num, start,
					resv->start - 1);
		if (resv->last >= last)
			return;
		start = max(start, resv->last + 1);
	}
	iopt_emit_range(ranges, max, num, start, last);
}

/*
 * The usable ranges: allowed ranges (or everything) less reserved ranges.
 * Fills at most *@num entries of @ranges and sets *@num to the total.
 */
static int iopt_collect_usable(struct ioasid_iopt *iopt,
			       struct ioasid_iova_range *ranges, u32 *num)
{
	struct interval_tree_node *node;
	u32 max = *num, found = 0;

	lockdep_assert_held(&iopt->rwsem);
	if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root))
		iopt_emit_window(iopt, ranges, max, &found, 0, ULONG_MAX);
	for (node = interval_tree_iter_first(&iopt->allowed_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX))
		iopt_emit_window(iopt, ranges, max, &found, node->start,
				 node->last);
	*num = found;
	return found > max ? -EMSGSIZE : 0;
}

/**
 * ioasid_iopt_usable_array() - the IOVAs a mapping may use, in a new array
 * @iopt: the map
 * @out: out, kmalloc'ed array of the ranges (NULL when there are none)
 * @num: out, number of entries
 *
 * Return: 0 or -ENOMEM.
 */
int ioasid_iopt_usable_array(struct ioasid_iopt *iopt,
			     struct ioasid_iova_range **out, u32 *num)
{
	struct ioasid_iova_range *ranges = NULL;
	u32 room = 0, total;
	int rc;

	/* Count, allocate, collect; again if the map changed meanwhile. */
	for (;;) {
		total = room;
		down_read(&iopt->rwsem);
		rc = iopt_collect_usable(iopt, ranges, &total);
		up_read(&iopt->rwsem);
		if (rc != -EMSGSIZE || total <= room)
			break;
		kfree(ranges);
		room = total;
		ranges = kcalloc(room, sizeof(*ranges), GFP_KERNEL_ACCOUNT);
		if (!ranges)
			return -ENOMEM;
	}
	*out = ranges;
	*num = total;
	return 0;
}

/**
 * ioasid_iopt_usable_ranges() - report the IOVAs a mapping may use
 * @iopt: the map
 * @uranges: user array
 * @num: in, entries in @uranges; out, number of usable ranges
 *
 * Return: 0, -EMSGSIZE when @uranges was too small (filled as far as it
 * goes), -ENOMEM or -EFAULT.
 */
int ioasid_iopt_usable_ranges(struct ioasid_iopt *iopt,
			      struct ioasid_iova_range __user *uranges,
			      u32 *num)
{
	struct ioasid_iova_range *ranges;
	u32 total;
	int rc;

	rc = ioasid_iopt_usable_array(iopt, &ranges, &total);
	if (rc)
		return rc;
	rc = total > *num ? -EMSGSIZE : 0;
	if (copy_to_user(uranges, ranges, min(total, *num) * sizeof(*ranges)))
		rc = -EFAULT;
	*num = total;
	kfree(ranges);
	return rc;
}

/**
 * ioasid_iopt_check_map() - could [iova, last] be mapped now?
 * @iopt: the map
 * @iova: first IOVA
 * @last: last IOVA, inclusive
 *
 * Return: 0; -EEXIST if a mapping overlaps; -EADDRINUSE if the range is
 * reserved or outside the allowed ranges.
 */
int ioasid_iopt_check_map(struct ioasid_iopt *iopt, unsigned long iova,
			  unsigned long last)
{
	int rc;

	down_read(&iopt->rwsem);
	rc = iopt_check_fixed(iopt, iova, last);
	up_read(&iopt->rwsem);
	return rc;
}

/*
 * Split @area so that a new area starts at @iova. The two halves map the
 * same pages at the same IOVAs, so no domain changes. When the area is
 * the only user of its pages, the pages are split too, so unmapping one
 * half unpins and uncharges exactly that half.
 */
static int iopt_split_area(struct ioasid_iopt *iopt, struct ioasid_area *area,
			   unsigned long iova)
{
	unsigned long index = area->page_index +
			      ((iova - area->node.start) >> PAGE_SHIFT);
	struct ioasid_pages *tail_pages = area->pages;
	struct ioasid_area *tail;

	lockdep_assert_held_write(&iopt->rwsem);
	if (atomic_long_read(&area->num_access_pins))
		return -EBUSY;
	tail = kzalloc(sizeof(*tail), GFP_KERNEL_ACCOUNT);
	if (!tail)
		return -ENOMEM;
	if (kref_read(&area->pages->kref) == 1) {
		tail_pages = ioasid_pages_split(area->pages, index);
		if (IS_ERR(tail_pages)) {
			kfree(tail);
			return PTR_ERR(tail_pages);
		}
		index = 0;
	} else {
		kref_get(&tail_pages->kref);
	}
	tail->pages = tail_pages;
	tail->page_index = index;
	tail->prot = area->prot;
	tail->vaddr_invalid = area->vaddr_invalid;
	tail->node.start = iova;
	tail->node.last = area->node.last;

	interval_tree_remove(&area->node, &iopt->area_itree);
	area->node.last = iova - 1;
	interval_tree_insert(&area->node, &iopt->area_itree);
	interval_tree_insert(&tail->node, &iopt->area_itree);
	iopt->num_areas++;
	return 0;
}

/**
 * ioasid_iopt_cut() - make mappings begin or end at given IOVAs
 * @iopt: the map, whose domains use PAGE_SIZE IOPTEs only
 * @iovas: IOVAs at which a mapping must start (if one covers them)
 * @num: number of entries in @iovas
 *
 * Return: 0; -EINVAL if the map may hold large IOPTEs; -EBUSY if an access
 * pins pages of an area to split; -ENOMEM. Cuts made before a failure stay:
 * they change nothing a device sees.
 */
int ioasid_iopt_cut(struct ioasid_iopt *iopt, const unsigned long *iovas,
		    unsigned int num)
{
	struct ioasid_area *area;
	unsigned int i;
	int rc = 0;

	down_write(&iopt->rwsem);
	if (!iopt->disable_large_pages) {
		rc = -EINVAL;
		goto out_unlock;
	}
	for (i = 0; i < num && !rc; i++) {
		if (iovas[i] % PAGE_SIZE) {
			rc = -EINVAL;
			break;
		}
		area = ioasid_iopt_area_first(iopt, iovas[i], iovas[i]);
		if (area && area->node.start != iovas[i])
			rc = iopt_split_area(iopt, area, iovas[i]);
	}
out_unlock:
	up_write(&iopt->rwsem);
	return rc;
}

#ifdef CONFIG_IOASID_KUNIT_TEST
#include "iopt_kunit.c"
#endif
