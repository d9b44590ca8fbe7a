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
 * Every domain in @domains holds exactly the LIVE areas: a map's area is
 * LIVE only after it went into every domain, an unmap's leaves the tree
 * only after it left every domain, and a new domain is filled from all
 * areas before it is added. Unmap gathers IOTLB invalidations across all
 * the areas it removes and syncs once per domain.
 *
 * Maps and unmaps on one IOAS run side by side. Pinning, the slow part of
 * a map, happens with no lock held. Each call then holds
 * iopt.domains_rwsem for reading throughout, so that the domains stay,
 * and takes iopt.rwsem for writing twice, briefly:
 *
 * - a map inserts its areas as FILLING (their IOVAs are taken), writes
 *   their IOPTEs and syncs with iopt.rwsem dropped, then makes them LIVE;
 * - an unmap marks its areas REMOVING (their IOVAs stay taken, so that no
 *   map reuses an IOVA the IOTLB may still hold), clears their IOPTEs and
 *   syncs with iopt.rwsem dropped, then takes them out of the tree.
 *
 * Everyone else sees LIVE areas only. A call that needs an IOVA another
 * call holds in transit waits for it to settle (iopt_wait_transit()); a
 * call never waits while areas of its own are in transit, so waits do not
 * chain into a cycle. Adding or removing a domain takes
 * iopt.domains_rwsem for writing, and so never meets an area in transit.
 */
#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/*
 * A reserved range. Ranges are allocated in a batch before iopt.rwsem is
 * taken, then inserted all at once or not at all (iopt_resv_commit()).
 */
struct ioasid_reserved {
	struct interval_tree_node node;
	struct list_head batch;
	void *owner;
};

struct ioasid_allowed {
	struct interval_tree_node node;
};

static struct ioasid_area *to_area(struct interval_tree_node *node)
{
	return node ? container_of(node, struct ioasid_area, node) : NULL;
}

/* Every area intersecting [start, last], in transit or not. */
static struct ioasid_area *iopt_any_first(struct ioasid_iopt *iopt,
					  unsigned long start,
					  unsigned long last)
{
	return to_area(interval_tree_iter_first(&iopt->area_itree, start, last));
}

static struct ioasid_area *iopt_any_next(struct ioasid_area *area,
					 unsigned long start,
					 unsigned long last)
{
	return to_area(interval_tree_iter_next(&area->node, start, last));
}

/*
 * Does @area count for the call whose list is @mover? LIVE areas count for
 * everyone, areas in transit only for the call moving them.
 */
static bool iopt_area_counts(struct ioasid_area *area,
			     const struct list_head *mover)
{
	return area->state == IOASID_AREA_LIVE || (mover && area->mover == mover);
}

static struct ioasid_area *iopt_live_from(struct ioasid_area *area,
					  unsigned long start,
					  unsigned long last)
{
	while (area && area->state != IOASID_AREA_LIVE)
		area = iopt_any_next(area, start, last);
	return area;
}

/**
 * ioasid_iopt_area_first() - first LIVE area intersecting [start, last]
 * @iopt: the IOVA map, rwsem held
 * @start: first IOVA
 * @last: last IOVA, inclusive
 *
 * Areas a map or an unmap has in transit are skipped: to everyone but
 * that call, a FILLING area is not mapped yet and a REMOVING one is gone.
 *
 * Return: the area, or NULL.
 */
struct ioasid_area *ioasid_iopt_area_first(struct ioasid_iopt *iopt,
					   unsigned long start,
					   unsigned long last)
{
	lockdep_assert_held(&iopt->rwsem);
	return iopt_live_from(iopt_any_first(iopt, start, last), start, last);
}

/**
 * ioasid_iopt_area_next() - next LIVE area intersecting [start, last]
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
	return iopt_live_from(iopt_any_next(area, start, last), start, last);
}

static unsigned long area_length(struct ioasid_area *area)
{
	return area->node.last - area->node.start + 1;
}

/* The IOVA at which page 0 of @area's pages is, or would be, mapped */
static unsigned long area_iova0(struct ioasid_area *area)
{
	/* Modulo 2^BITS_PER_LONG, as the IOVAs of its pages are computed. */
	return area->node.start - (area->page_index << PAGE_SHIFT);
}

/* A domain of @iopt but @except that can read an IOPTE back, or NULL */
static struct iommu_domain *iopt_store_domain(struct ioasid_iopt *iopt,
					      struct iommu_domain *except)
{
	struct iommu_domain *domain;
	unsigned long index;

	lockdep_assert_held(&iopt->domains_rwsem);
	xa_for_each(&iopt->domains, index, domain)
		if (domain != except && domain->ops->iova_to_phys)
			return domain;
	return NULL;
}

/* Let a domain hold the PFNs of @area's pages (ioasid_pages_store()). */
static void iopt_store_area(struct ioasid_iopt *iopt, struct ioasid_area *area,
			    struct iommu_domain *domain)
{
	if (domain)
		ioasid_pages_store(area->pages, &iopt->domains_rwsem, domain,
				   area_iova0(area), area->pages_node.start,
				   area->pages_node.last);
}

/**
 * ioasid_iopt_init() - initialise an empty IOVA map
 * @iopt: the map
 */
void ioasid_iopt_init(struct ioasid_iopt *iopt)
{
	init_rwsem(&iopt->domains_rwsem);
	init_rwsem(&iopt->rwsem);
	iopt->area_itree = RB_ROOT_CACHED;
	iopt->reserved_itree = RB_ROOT_CACHED;
	iopt->allowed_itree = RB_ROOT_CACHED;
	xa_init_flags(&iopt->domains, XA_FLAGS_ALLOC | XA_FLAGS_ACCOUNT);
	xa_init_flags(&iopt->access_dirty, XA_FLAGS_ACCOUNT);
	iopt->iova_alignment = PAGE_SIZE;
	iopt->pgsize_bitmap = ULONG_MAX;
}

static void iopt_free_tree(struct rb_root_cached *root, size_t offset)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(node, root);
		kfree((void *)node - offset);
	}
}

/*
 * Map @npages of @area, from page @first of the area, at their IOVA, in
 * physically contiguous runs, cacheable (IOMMU_CACHE, as VFIO type1 always
 * maps: DMA coherent with the CPU caches where the IOMMU leaves the choice
 * to the IOPTE). The IOTLB is not synced here: the caller
 * syncs once for everything it mapped (iopt_sync_span()).
 */
static int iopt_map_run(struct ioasid_iopt *iopt, struct ioasid_area *area,
			struct iommu_domain *domain, unsigned long first,
			unsigned long npages)
{
	unsigned long index = area->page_index + first;
	unsigned long iova = area->node.start + first * PAGE_SIZE;
	unsigned long end = index + npages;
	int prot = area->prot | IOMMU_CACHE;
	int rc;

	while (index < end) {
		unsigned long run, pfn;

		rc = ioasid_inject_fault();
		if (rc)
			return rc;
		run = ioasid_pages_run(area->pages, index,
				       iopt->disable_large_pages ? 1 : end - index,
				       &pfn);
		rc = iommu_map_nosync(domain, iova, PFN_PHYS(pfn),
				      run * PAGE_SIZE, prot);
		if (rc)
			return rc;
		index += run;
		iova += run * PAGE_SIZE;
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

	lockdep_assert_held(&iopt->domains_rwsem);
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

/* One IOTLB sync per domain for everything mapped in [first, last]. */
static void iopt_sync_span(struct ioasid_iopt *iopt, unsigned long first,
			   unsigned long last)
{
	struct iommu_domain *domain;
	unsigned long index;

	lockdep_assert_held(&iopt->domains_rwsem);
	if (first > last)
		return;
	xa_for_each(&iopt->domains, index, domain) {
		iommu_sync_map(domain, first, last - first + 1);
		ioasid_stat_add(iopt->stats, IOASID_STAT_IOTLB_SYNCS, 1);
	}
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

/*
 * May the call whose list is @mover map [iova, last]? An area that counts
 * for it is -EEXIST; one only in another call's transit is -EAGAIN, to
 * wait for and check again; then a reserved or disallowed range is
 * -EADDRINUSE.
 */
static int iopt_check_fixed(struct ioasid_iopt *iopt, unsigned long iova,
			    unsigned long last, const struct list_head *mover)
{
	struct ioasid_area *area;
	int rc = 0;

	for (area = iopt_any_first(iopt, iova, last); area;
	     area = iopt_any_next(area, iova, last)) {
		if (iopt_area_counts(area, mover))
			return -EEXIST;
		rc = -EAGAIN;
	}
	if (rc)
		return rc;
	if (iopt_reserved_hit(iopt, iova, last) ||
	    !iopt_allowed(iopt, iova, last))
		return -EADDRINUSE;
	return 0;
}

/*
 * Wait until some area in transit settles. A call waits only with no area
 * of its own in transit; iopt.domains_rwsem stays held for reading, as it
 * is by the call that will settle it, which needs only iopt.rwsem.
 */
static void iopt_wait_transit(struct ioasid_iopt *iopt)
{
	unsigned long gen = iopt->transit_gen;

	lockdep_assert_held_write(&iopt->rwsem);
	lockdep_assert_held(&iopt->domains_rwsem);
	iopt->transit_waiters++;
	up_write(&iopt->rwsem);
	wait_var_event(&iopt->transit_gen, READ_ONCE(iopt->transit_gen) != gen);
	down_write(&iopt->rwsem);
	iopt->transit_waiters--;
}

/* Areas left transit: wake whoever waits for that. */
static void iopt_settled(struct ioasid_iopt *iopt)
{
	lockdep_assert_held_write(&iopt->rwsem);
	if (!iopt->transit_waiters)
		return;
	WRITE_ONCE(iopt->transit_gen, iopt->transit_gen + 1);
	/* Order the store before wake_up_var()'s look at the queue. */
	smp_mb();
	wake_up_var(&iopt->transit_gen);
}

/* Huge IOPTE sizes a placement aims for, largest first. */
static const unsigned long iopt_huge_sizes[] = { SZ_1G, SZ_2M };

/*
 * Placement of a kernel-chosen IOVA: a multiple of *@align plus *@phase.
 * When the user range covers a whole huge page (2 MiB or 1 GiB, aligned),
 * the IOVA keeps the user address's offset into it, so that every huge
 * page the range covers whole can be mapped with one IOPTE. Otherwise
 * only the IOAS's alignment applies, and small maps pack tightly.
 */
static void iopt_pick_placement(struct ioasid_iopt *iopt, unsigned long uptr,
				unsigned long length, unsigned long *align,
				unsigned long *phase)
{
	unsigned int i;

	*align = iopt->iova_alignment;
	*phase = 0;
	for (i = 0; i < ARRAY_SIZE(iopt_huge_sizes); i++) {
		unsigned long size = iopt_huge_sizes[i], start, end;

		if (size <= iopt->iova_alignment || length < size)
			continue;
		/* A huge page inside [uptr, uptr + length)? */
		if (check_add_overflow(uptr, size - 1, &start) ||
		    check_add_overflow(ALIGN_DOWN(start, size), size - 1, &end) ||
		    end - uptr > length - 1)
			continue;
		/* An offset the IOMMU cannot start at is not kept. */
		if ((uptr % size) % iopt->iova_alignment)
			continue;
		*align = size;
		*phase = uptr % size;
		return;
	}
}

/* The first IOVA >= @from that is @phase past a multiple of @align. */
static bool iopt_next_placed(unsigned long from, unsigned long align,
			     unsigned long phase, unsigned long *iova)
{
	unsigned long start = ALIGN_DOWN(from, align) + phase;

	if (start < from && check_add_overflow(start, align, &start))
		return false;
	*iova = start;
	return true;
}

/* First hole of @length in [wstart, wlast], placed by @align and @phase. */
static bool iopt_find_hole(struct ioasid_iopt *iopt, unsigned long wstart,
			   unsigned long wlast, unsigned long length,
			   unsigned long align, unsigned long phase,
			   unsigned long *iova)
{
	struct interval_tree_node *hit;
	unsigned long start, last;

	/* IOVA 0 is never handed out: it looks like a NULL DMA address. */
	if (!iopt_next_placed(wstart ? wstart : 1, align, phase, &start))
		return false;
	for (;;) {
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
		if (hit->last == ULONG_MAX ||
		    !iopt_next_placed(hit->last + 1, align, phase, &start))
			return false;
	}
}

/* A hole of @length placed by @align and @phase, in an allowed window. */
static bool iopt_find_placed(struct ioasid_iopt *iopt, unsigned long length,
			     unsigned long align, unsigned long phase,
			     unsigned long *iova)
{
	struct interval_tree_node *node;

	if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root))
		return iopt_find_hole(iopt, 0, ULONG_MAX, length, align, phase,
				      iova);
	for (node = interval_tree_iter_first(&iopt->allowed_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX))
		if (iopt_find_hole(iopt, node->start, node->last, length, align,
				   phase, iova))
			return true;
	return false;
}

/*
 * Choose an IOVA for @length bytes of user memory at @uptr: placed for
 * large IOPTEs if a hole allows, else anywhere the IOAS's alignment allows,
 * so that placement never makes a map fail that would fit.
 */
static int iopt_alloc_iova(struct ioasid_iopt *iopt, unsigned long *iova,
			   unsigned long uptr, unsigned long length)
{
	unsigned long align, phase;

	lockdep_assert_held(&iopt->rwsem);
	iopt_pick_placement(iopt, uptr, length, &align, &phase);
	if (iopt_find_placed(iopt, length, align, phase, iova))
		return 0;
	if (align == iopt->iova_alignment && !phase)
		return -ENOSPC;
	return iopt_find_placed(iopt, length, iopt->iova_alignment, 0, iova) ?
		       0 : -ENOSPC;
}

/*
 * Insert @area, allocated and zeroed by the caller, FILLING, for the call
 * whose list is @batch, for @pages[@page_index...] at *@iova (or a chosen
 * IOVA), and put it on @batch. Nothing is mapped and the pages are not
 * used yet (iopt_publish() does both). The errors come in type1's order:
 * an overlap (-EEXIST), then the limit on mappings (-ENOSPC), then a
 * reserved or disallowed range (-EADDRINUSE); -EAGAIN when only another
 * call's areas in transit are in the way.
 */
static int iopt_insert_prealloc(struct ioasid_iopt *iopt,
				struct ioasid_area *area,
				struct ioasid_pages *pages,
				unsigned long page_index, unsigned long *iova,
				unsigned long length, unsigned long uptr,
				int prot, bool fixed, struct list_head *batch)
{
	/* A limit on mappings holds however many maps run at once. */
	bool full = iopt->max_areas && iopt->num_areas >= iopt->max_areas;
	int rc;

	lockdep_assert_held_write(&iopt->rwsem);
	if (fixed) {
		if (*iova % iopt->iova_alignment || length % iopt->iova_alignment)
			return -EINVAL;
		rc = iopt_check_fixed(iopt, *iova, *iova + length - 1, batch);
	} else {
		if (length % iopt->iova_alignment)
			return -EINVAL;
		rc = full ? 0 : iopt_alloc_iova(iopt, iova, uptr, length);
	}
	if (rc != -EEXIST && rc != -EAGAIN && full)
		return -ENOSPC;
	if (rc)
		return rc;

	area->node.start = *iova;
	area->node.last = *iova + length - 1;
	area->pages = pages;
	area->page_index = page_index;
	area->prot = prot;
	area->pages_node.start = page_index;
	area->pages_node.last = page_index + (length >> PAGE_SHIFT) - 1;
	area->state = IOASID_AREA_FILLING;
	area->mover = batch;
	interval_tree_insert(&area->node, &iopt->area_itree);
	iopt->num_areas++;
	list_add_tail(&area->free_item, batch);
	return 0;
}

/*
 * Take the FILLING areas of @batch out of the tree, mapped nowhere, and off
 * the list: they go back to their owner (the map's requests, the copy's
 * array) unused.
 */
static void iopt_withdraw(struct ioasid_iopt *iopt, struct list_head *batch)
{
	struct ioasid_area *area, *tmp;

	lockdep_assert_held_write(&iopt->rwsem);
	list_for_each_entry_safe(area, tmp, batch, free_item) {
		interval_tree_remove(&area->node, &iopt->area_itree);
		iopt->num_areas--;
		list_del_init(&area->free_item);
	}
	iopt_settled(iopt);
}

/*
 * Unmap the areas of @list, up to @stop (exclusive; NULL for all), from
 * every domain, gathering their IOTLB invalidations and syncing once per
 * domain.
 */
static void iopt_clear_list(struct ioasid_iopt *iopt, struct list_head *list,
			    struct ioasid_area *stop)
{
	struct iommu_domain *domain;
	struct ioasid_area *area;
	unsigned long index;

	lockdep_assert_held(&iopt->domains_rwsem);
	if (list_empty(list) || list_first_entry(list, struct ioasid_area,
						 free_item) == stop)
		return;
	/* Pages whose PFNs only these IOPTEs hold get arrays back first. */
	list_for_each_entry(area, list, free_item) {
		if (area == stop)
			break;
		ioasid_pages_unstore(area->pages, &iopt->domains_rwsem,
				     area_iova0(area), area->pages_node.start,
				     area->pages_node.last);
	}
	xa_for_each(&iopt->domains, index, domain) {
		struct iommu_iotlb_gather gather;

		iommu_iotlb_gather_init(&gather);
		list_for_each_entry(area, list, free_item) {
			size_t len = area_length(area);
			size_t done;

			if (area == stop)
				break;
			done = iommu_unmap_fast(domain, area->node.start, len,
						&gather);
			IOASID_WARN_ON(done != len);
			/* Tens of thousands of mappings may go at once. */
			cond_resched();
		}
		iommu_iotlb_sync(domain, &gather);
		ioasid_stat_add(iopt->stats, IOASID_STAT_IOTLB_SYNCS, 1);
	}
}

/*
 * Map every area of @batch into every domain. On failure, *@at is the
 * position on @batch of the area that failed, and no area is mapped
 * anywhere.
 */
static int iopt_fill_batch(struct ioasid_iopt *iopt, struct list_head *batch,
			   unsigned int *at)
{
	struct ioasid_area *area;
	int rc = 0;

	lockdep_assert_held(&iopt->domains_rwsem);
	*at = 0;
	list_for_each_entry(area, batch, free_item) {
		rc = iopt_fill_domains(iopt, area);
		if (rc)
			break;
		(*at)++;
	}
	if (rc)
		iopt_clear_list(iopt, batch, area);
	return rc;
}

/*
 * The areas of @batch, in every domain and synced, start using their
 * pages and become LIVE; they leave the list, owned by the tree.
 */
static void iopt_publish(struct ioasid_iopt *iopt, struct list_head *batch)
{
	struct ioasid_area *area, *tmp;

	/* FILLING: no one else touches them, so the pages.lock goes first. */
	list_for_each_entry(area, batch, free_item)
		ioasid_pages_use(area->pages, &area->pages_node);
	down_write(&iopt->rwsem);
	list_for_each_entry_safe(area, tmp, batch, free_item) {
		area->state = IOASID_AREA_LIVE;
		area->mover = NULL;
		list_del_init(&area->free_item);
	}
	iopt_settled(iopt);
	up_write(&iopt->rwsem);
}

/*
 * Drop removed areas and their page references, with no lock held. What
 * no other area maps is unpinned now, and uncharged once for them all.
 */
static void iopt_free_areas(struct list_head *free_list)
{
	struct ioasid_acct_batch acct = {};
	struct ioasid_area *area, *tmp;

	list_for_each_entry_safe(area, tmp, free_list, free_item) {
		ioasid_pages_unuse(area->pages, &area->pages_node, &acct);
		ioasid_pages_put(area->pages);
		kfree(area);
		cond_resched();
	}
	ioasid_acct_settle(&acct);
}

/**
 * ioasid_iopt_crosses() - does an area cross either end of a range?
 * @iopt: the map, its lock held
 * @first: first IOVA of the range
 * @last: last IOVA of the range, inclusive
 *
 * Return: true when a LIVE area starts before @first and covers it, or
 * covers @last and ends after it: unmapping the range would bisect it.
 */
bool ioasid_iopt_crosses(struct ioasid_iopt *iopt, unsigned long first,
			 unsigned long last)
{
	struct ioasid_area *area;

	lockdep_assert_held(&iopt->rwsem);
	area = iopt_any_first(iopt, first, first);
	if (area && area->state == IOASID_AREA_LIVE && area->node.start < first)
		return true;
	area = iopt_any_first(iopt, last, last);
	return area && area->state == IOASID_AREA_LIVE && area->node.last > last;
}

/*
 * Mark every area inside [first, last] REMOVING and put it on @doomed,
 * once, adding its length to *@bytes. Another call's REMOVING area in the
 * range is -EAGAIN, to wait for; another call's FILLING area is a map
 * that comes after this unmap, and is left alone. An area crossing either
 * end is -ENOENT, before any other error; one that an access still pins
 * pages of is -EBUSY. On error the caller gives the list back with
 * iopt_spare(); nobody saw the marks, iopt.rwsem being held throughout.
 *
 * One walk of the tree does it all: areas never overlap, so the only ones
 * that can cross an end are the first and the last the walk meets, and
 * the walk goes on past an error only to find a reason that comes before.
 */
static int iopt_doom(struct ioasid_iopt *iopt, unsigned long first,
		     unsigned long last, struct list_head *doomed,
		     unsigned long *bytes)
{
	struct ioasid_area *area;
	int rc = 0;

	lockdep_assert_held_write(&iopt->rwsem);
	for (area = iopt_any_first(iopt, first, last); area;
	     area = iopt_any_next(area, first, last)) {
		if (area->state == IOASID_AREA_REMOVING && area->mover != doomed)
			return -EAGAIN;
		if (!iopt_area_counts(area, doomed))
			continue;
		if (area->node.start < first || area->node.last > last) {
			rc = -ENOENT;
			continue;
		}
		if (rc)
			continue;
		if (atomic_long_read(&area->num_access_pins)) {
			rc = -EBUSY;
			continue;
		}
		if (area->state == IOASID_AREA_REMOVING)
			continue;
		area->state = IOASID_AREA_REMOVING;
		area->mover = doomed;
		list_add_tail(&area->free_item, doomed);
		*bytes += area_length(area);
	}
	return rc;
}

static void iopt_spare(struct list_head *doomed)
{
	struct ioasid_area *area, *tmp;

	list_for_each_entry_safe(area, tmp, doomed, free_item) {
		area->state = IOASID_AREA_LIVE;
		area->mover = NULL;
		list_del(&area->free_item);
	}
}

/*
 * Take the REMOVING areas of @doomed, cleared from every domain, out of
 * the tree. They stay on @doomed for iopt_free_areas().
 */
static void iopt_remove_doomed(struct ioasid_iopt *iopt,
			       struct list_head *doomed)
{
	struct ioasid_area *area;

	lockdep_assert_held_write(&iopt->rwsem);
	list_for_each_entry(area, doomed, free_item) {
		interval_tree_remove(&area->node, &iopt->area_itree);
		iopt->num_areas--;
	}
	iopt_settled(iopt);
}

/* Insert every request's area FILLING on @batch, or none. */
static int iopt_insert_all(struct ioasid_iopt *iopt,
			   struct ioasid_map_req *reqs, unsigned int num,
			   struct list_head *batch, unsigned int *failed)
{
	unsigned int i;
	int rc;

	for (i = 0; i < num; i++) {
		struct ioasid_map_req *req = &reqs[i];

		rc = iopt_insert_prealloc(iopt, req->area, req->pages, 0,
					  &req->iova, req->length, req->uptr,
					  req->prot, req->fixed, batch);
		if (rc) {
			*failed = i;
			iopt_withdraw(iopt, batch);
			return rc;
		}
	}
	return 0;
}

/*
 * Insert every request's area FILLING on @batch, or none: on failure
 * *@failed is the request that failed and the requests keep their areas
 * and pages. When only other calls' areas in transit are in the way, wait
 * for them with nothing of this call inserted, and start again.
 */
static int iopt_insert_reqs(struct ioasid_iopt *iopt,
			    struct ioasid_map_req *reqs, unsigned int num,
			    struct list_head *batch, unsigned int *failed)
{
	int rc;

	down_write(&iopt->rwsem);
	while ((rc = iopt_insert_all(iopt, reqs, num, batch, failed)) ==
	       -EAGAIN)
		iopt_wait_transit(iopt);
	up_write(&iopt->rwsem);
	return rc;
}

/*
 * Pin every range, and allocate its area, with no lock held. On failure
 * *@failed is the range that failed; the ranges before it and it hold
 * what they got, for the caller to free.
 */
/* Prepay the charge of all of @reqs, when there are several. */
static void iopt_prepay_reqs(struct ioasid_acct_batch *acct,
			     const struct ioasid_map_req *reqs,
			     unsigned int num, u8 acct_mode)
{
	unsigned long npages = 0;
	unsigned int i;

	if (num < 2)
		return;
	for (i = 0; i < num; i++)
		if (check_add_overflow(npages, reqs[i].length >> PAGE_SHIFT,
				       &npages))
			return;
	ioasid_acct_prepay(acct, acct_mode, npages);
}

/*
 * Allocate an area for, and pin, each of @reqs. On failure, *@failed is
 * the index of the request that failed, and the caller drops what the
 * requests before it, and its own, hold.
 */
static int iopt_pin_reqs(struct ioasid_ctx *ictx, struct ioasid_map_req *reqs,
			 unsigned int num, u8 acct_mode, unsigned int *failed)
{
	struct ioasid_acct_batch acct = { .ictx = ictx };
	struct ioasid_pages *pages;
	unsigned int i;
	int rc = 0;

	iopt_prepay_reqs(&acct, reqs, num, acct_mode);
	for (i = 0; i < num; i++) {
		reqs[i].pages = NULL;
		reqs[i].area = kzalloc(sizeof(*reqs[i].area), GFP_KERNEL_ACCOUNT);
		if (!reqs[i].area) {
			rc = -ENOMEM;
			break;
		}
		INIT_LIST_HEAD(&reqs[i].area->free_item);
		pages = ioasid_pages_pin(ictx, reqs[i].uptr,
					 reqs[i].length >> PAGE_SHIFT,
					 reqs[i].prot & IOMMU_WRITE, acct_mode,
					 &acct);
		if (IS_ERR(pages)) {
			rc = PTR_ERR(pages);
			break;
		}
		reqs[i].pages = pages;
	}
	*failed = i;
	ioasid_acct_settle(&acct);
	return rc;
}

/**
 * ioasid_iopt_map_vec() - pin and map several ranges, all or nothing
 * @ictx: context the pages are charged to
 * @iopt: the map
 * @reqs: the ranges; on success each @iova holds the IOVA used
 * @num: entries in @reqs, at least one
 * @acct_mode: enum ioasid_acct_mode to charge the pages with
 * @failed: out, on failure, the index of the range that failed
 *
 * Every range is pinned, and its area allocated, first, with no lock held.
 * All are inserted FILLING under one short hold of iopt.rwsem, mapped into
 * every domain with it dropped, with one IOTLB sync per domain, and made
 * LIVE under a second short hold. Each request's @uptr and @length are
 * page aligned and do not wrap; the caller checked.
 *
 * Context: process context; takes iopt.domains_rwsem and iopt.rwsem; may
 * wait for other maps and unmaps of the same IOVAs.
 * Return: 0, or an errno with nothing pinned, charged or mapped: -ENOMEM,
 * -EFAULT (pin), -EINVAL (unaligned), -EEXIST, -EADDRINUSE, -ENOSPC.
 */
int ioasid_iopt_map_vec(struct ioasid_ctx *ictx, struct ioasid_iopt *iopt,
			struct ioasid_map_req *reqs, unsigned int num,
			u8 acct_mode, unsigned int *failed)
{
	unsigned long lo = ULONG_MAX, hi = 0;
	unsigned int i, held = num;
	LIST_HEAD(batch);
	int rc;

	rc = iopt_pin_reqs(ictx, reqs, num, acct_mode, failed);
	if (rc) {
		held = *failed + 1;
		goto out_put;
	}

	down_read(&iopt->domains_rwsem);
	rc = iopt_insert_reqs(iopt, reqs, num, &batch, failed);
	if (!rc)
		rc = iopt_fill_batch(iopt, &batch, failed);
	if (rc) {
		if (!list_empty(&batch)) {
			down_write(&iopt->rwsem);
			iopt_withdraw(iopt, &batch);
			up_write(&iopt->rwsem);
		}
		up_read(&iopt->domains_rwsem);
		goto out_put;
	}
	for (i = 0; i < num; i++) {
		lo = min(lo, reqs[i].iova);
		hi = max(hi, reqs[i].iova + reqs[i].length - 1);
	}
	iopt_sync_span(iopt, lo, hi);
	/* The pages are new: no one else reads them until they are LIVE. */
	for (i = 0; i < num; i++)
		if (reqs[i].pages->narrays)
			iopt_store_area(iopt, reqs[i].area,
					iopt_store_domain(iopt, NULL));
	iopt_publish(iopt, &batch);
	up_read(&iopt->domains_rwsem);
	ioasid_stat_add(iopt->stats, IOASID_STAT_MAPS, num);
	/* The tree owns the areas, and the areas the references. */
	for (i = 0; i < num; i++) {
		reqs[i].area = NULL;
		reqs[i].pages = NULL;
	}
	return 0;

out_put:
	for (i = 0; i < held; i++) {
		kfree(reqs[i].area);
		reqs[i].area = NULL;
		if (reqs[i].pages)
			ioasid_pages_put(reqs[i].pages);
		reqs[i].pages = NULL;
	}
	return rc;
}

/**
 * ioasid_iopt_map_user() - pin user memory and map it, one range
 * @ictx: context the pages are charged to
 * @iopt: the map
 * @iova: in, the IOVA if @fixed; out, the IOVA used
 * @uptr: page-aligned user address
 * @length: non-zero, page-aligned length; uptr + length does not wrap
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @fixed: use *@iova rather than choosing
 * @acct_mode: enum ioasid_acct_mode to charge the pages with
 *
 * Context: process context; takes iopt.rwsem.
 * Return: as ioasid_iopt_map_vec().
 */
int ioasid_iopt_map_user(struct ioasid_ctx *ictx, struct ioasid_iopt *iopt,
			 unsigned long *iova, unsigned long uptr,
			 unsigned long length, int prot, bool fixed,
			 u8 acct_mode)
{
	struct ioasid_map_req req = {
		.uptr = uptr,
		.length = length,
		.iova = *iova,
		.prot = prot,
		.fixed = fixed,
	};
	unsigned int failed;
	int rc;

	rc = ioasid_iopt_map_vec(ictx, iopt, &req, 1, acct_mode, &failed);
	if (!rc)
		*iova = req.iova;
	return rc;
}

/*
 * A piece of a copy: a reference on pages, and their use, so that they
 * stay pinned between the source lock and the destination's.
 */
struct iopt_copy_piece {
	struct ioasid_pages *pages;
	struct interval_tree_node node;
	unsigned long page_index;
	unsigned long length;
};

/* Drop pieces [from, num): their use, then their reference. */
static void iopt_drop_pieces(struct iopt_copy_piece *pieces,
			     unsigned int from, unsigned int num)
{
	unsigned int i;

	for (i = from; i < num; i++) {
		ioasid_pages_unuse(pieces[i].pages, &pieces[i].node, NULL);
		ioasid_pages_put(pieces[i].pages);
	}
}

/*
 * Take references on, and use, the pages behind [iova, last] of @src. The
 * pages are marked shared first (ioasid_pages_share()): the copy reads
 * them while the source's IOPTEs may be cleared, so their PFNs are never
 * kept by a domain alone again.
 */
static int iopt_collect(struct ioasid_iopt *src, unsigned long iova,
			unsigned long last, int prot,
			struct iopt_copy_piece **out, unsigned int *out_num)
{
	struct iopt_copy_piece *pieces = NULL;
	unsigned long next = iova;
	struct ioasid_area *area;
	unsigned int num = 0, i;
	int rc = 0;

	down_read(&src->domains_rwsem);
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
		pieces[i].node.start = pieces[i].page_index;
		pieces[i].node.last = pieces[i].page_index +
				      (pieces[i].length >> PAGE_SHIFT) - 1;
		kref_get(&area->pages->kref);
		ioasid_pages_share(area->pages);
		ioasid_pages_use(area->pages, &pieces[i].node);
		next = end + 1;
	}
	if (!rc && (!num || next - 1 != last))
		rc = -ENOENT;
	if (rc) {
		up_read(&src->rwsem);
		up_read(&src->domains_rwsem);
		iopt_drop_pieces(pieces, 0, i);
		kfree(pieces);
		return rc;
	}
	*out = pieces;
	*out_num = num;
out_unlock:
	up_read(&src->rwsem);
	up_read(&src->domains_rwsem);
	return rc;
}

/*
 * Insert an area FILLING on @batch for each piece, one after another from
 * *@dst_iova (or a chosen IOVA), or none: waits out other calls' areas in
 * transit in the way.
 */
static int iopt_insert_pieces(struct ioasid_iopt *dst,
			      struct iopt_copy_piece *pieces,
			      struct ioasid_area **areas, unsigned int num,
			      unsigned long *dst_iova, unsigned long src_iova,
			      unsigned long length, int prot, bool fixed,
			      struct list_head *batch)
{
	unsigned long iova;
	unsigned int i;
	int rc;

	lockdep_assert_held_write(&dst->rwsem);
	for (;;) {
		if (!fixed)
			rc = iopt_alloc_iova(dst, dst_iova, src_iova, length);
		else if (*dst_iova % dst->iova_alignment)
			rc = -EINVAL;
		else
			rc = iopt_check_fixed(dst, *dst_iova,
					      *dst_iova + length - 1, batch);
		if (rc != -EAGAIN)
			break;
		iopt_wait_transit(dst);
	}
	if (rc)
		return rc;
	for (i = 0, iova = *dst_iova; i < num; i++) {
		rc = iopt_insert_prealloc(dst, areas[i], pieces[i].pages,
					  pieces[i].page_index, &iova,
					  pieces[i].length, 0, prot, true,
					  batch);
		if (rc) {
			iopt_withdraw(dst, batch);
			return rc;
		}
		iova += pieces[i].length;
	}
	return 0;
}

static struct ioasid_area **iopt_alloc_areas(unsigned int num)
{
	struct ioasid_area **areas;
	unsigned int i;

	areas = kcalloc(num, sizeof(*areas), GFP_KERNEL_ACCOUNT);
	for (i = 0; areas && i < num; i++) {
		areas[i] = kzalloc(sizeof(*areas[i]), GFP_KERNEL_ACCOUNT);
		if (!areas[i])
			goto err;
		INIT_LIST_HEAD(&areas[i]->free_item);
	}
	return areas;
err:
	while (i--)
		kfree(areas[i]);
	kfree(areas);
	return NULL;
}

/* Map the pieces at *@dst_iova, as a map does its requests. */
static int iopt_map_pieces(struct ioasid_iopt *dst,
			   struct iopt_copy_piece *pieces,
			   struct ioasid_area **areas, unsigned int num,
			   unsigned long *dst_iova, unsigned long src_iova,
			   unsigned long length, int prot, bool fixed)
{
	LIST_HEAD(batch);
	unsigned int at;
	int rc;

	down_read(&dst->domains_rwsem);
	down_write(&dst->rwsem);
	rc = iopt_insert_pieces(dst, pieces, areas, num, dst_iova, src_iova,
				length, prot, fixed, &batch);
	up_write(&dst->rwsem);
	if (!rc) {
		rc = iopt_fill_batch(dst, &batch, &at);
		if (rc) {
			down_write(&dst->rwsem);
			iopt_withdraw(dst, &batch);
			up_write(&dst->rwsem);
		}
	}
	if (!rc) {
		iopt_sync_span(dst, *dst_iova, *dst_iova + length - 1);
		iopt_publish(dst, &batch);
	}
	up_read(&dst->domains_rwsem);
	return rc;
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
 * No page is pinned or charged again: the new areas share the pages. The
 * source's areas in transit are not mapped (-ENOENT); the destination's
 * are waited for, as a map waits.
 *
 * Context: process context; takes each map's iopt.domains_rwsem and
 * iopt.rwsem.
 * Return: 0 or an errno, with @dst unchanged: -EINVAL (unaligned),
 * -ENOENT (a hole in the source), -EPERM (@prot not allowed there),
 * -EEXIST, -EADDRINUSE, -ENOSPC, -ENOMEM.
 */
int ioasid_iopt_copy(struct ioasid_iopt *dst, struct ioasid_iopt *src,
		     unsigned long *dst_iova, unsigned long src_iova,
		     unsigned long length, int prot, bool fixed)
{
	struct iopt_copy_piece *pieces;
	struct ioasid_area **areas;
	unsigned int num, i;
	int rc;

	if (src_iova % src->iova_alignment)
		return -EINVAL;
	rc = iopt_collect(src, src_iova, src_iova + length - 1, prot, &pieces,
			  &num);
	if (rc)
		return rc;
	areas = iopt_alloc_areas(num);
	if (!areas) {
		rc = -ENOMEM;
		goto out_drop;
	}
	rc = iopt_map_pieces(dst, pieces, areas, num, dst_iova, src_iova,
			     length, prot, fixed);
	if (rc) {
		for (i = 0; i < num; i++)
			kfree(areas[i]);
		goto out_free;
	}
	ioasid_stat_add(dst->stats, IOASID_STAT_MAPS, num);
	/*
	 * The areas use the pages now, and own the pieces' references: end
	 * only the pieces' use.
	 */
	for (i = 0; i < num; i++)
		ioasid_pages_unuse(pieces[i].pages, &pieces[i].node, NULL);
	kfree(areas);
	kfree(pieces);
	return 0;

out_free:
	kfree(areas);
out_drop:
	iopt_drop_pieces(pieces, 0, num);
	kfree(pieces);
	return rc;
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

/*
 * Mark the areas of every range REMOVING on @doomed, or none: on failure
 * *@failed is the range that failed. Waits out other calls' REMOVING
 * areas in the way with nothing of this call marked.
 */
static int iopt_doom_ranges(struct ioasid_iopt *iopt,
			    const struct ioasid_iova_range *ranges,
			    unsigned int num, struct list_head *doomed,
			    unsigned long *bytes, unsigned int *failed)
{
	unsigned int i;
	int rc = 0;

	lockdep_assert_held_write(&iopt->rwsem);
	for (i = 0; i < num; i++) {
		if (ranges[i].first % iopt->iova_alignment ||
		    (ranges[i].last + 1) % iopt->iova_alignment)
			rc = -EINVAL;
		else
			rc = iopt_doom(iopt, ranges[i].first, ranges[i].last,
				       doomed, bytes);
		if (rc) {
			*failed = i;
			iopt_spare(doomed);
			*bytes = 0;
			return rc;
		}
	}
	return 0;
}

/**
 * ioasid_iopt_unmap_vec() - unmap every area inside any of several ranges
 * @iopt: the map
 * @ranges: inclusive ranges, in any order, possibly overlapping; each
 *	    first <= last
 * @num: entries in @ranges
 * @unmapped: out, bytes unmapped
 * @failed: out, on failure, the index of the range that failed
 *
 * All or nothing. The areas are marked REMOVING under one short hold of
 * iopt.rwsem, cleared from every domain with it dropped, with one IOTLB
 * sync per domain for the whole call, and taken out of the tree under a
 * second short hold. A map still filling an area in a range comes after
 * this unmap and is left alone; another unmap's areas in a range are
 * waited for.
 *
 * Context: process context; takes iopt.domains_rwsem and iopt.rwsem; may
 * wait for other unmaps of the same IOVAs.
 * Return: 0; -EINVAL if a range is unaligned; -ENOENT if an area crosses
 * either end of a range; -EBUSY if an access still pins pages in one.
 * Nothing is unmapped on failure.
 */
int ioasid_iopt_unmap_vec(struct ioasid_iopt *iopt,
			  const struct ioasid_iova_range *ranges,
			  unsigned int num, unsigned long *unmapped,
			  unsigned int *failed)
{
	struct ioasid_area *area;
	unsigned long bytes = 0;
	unsigned int n = 0;
	LIST_HEAD(doomed);
	int rc;

	down_read(&iopt->domains_rwsem);
	down_write(&iopt->rwsem);
	while ((rc = iopt_doom_ranges(iopt, ranges, num, &doomed, &bytes,
				      failed)) == -EAGAIN)
		iopt_wait_transit(iopt);
	up_write(&iopt->rwsem);
	if (!rc && !list_empty(&doomed)) {
		iopt_clear_list(iopt, &doomed, NULL);
		down_write(&iopt->rwsem);
		iopt_remove_doomed(iopt, &doomed);
		up_write(&iopt->rwsem);
	}
	up_read(&iopt->domains_rwsem);
	list_for_each_entry(area, &doomed, free_item)
		n++;
	ioasid_stat_add(iopt->stats, IOASID_STAT_UNMAPS, n);
	iopt_free_areas(&doomed);
	*unmapped = bytes;
	return rc;
}

/**
 * ioasid_iopt_unmap() - unmap every area inside a range
 * @iopt: the map
 * @iova: first IOVA
 * @length: non-zero length; iova + length - 1 does not wrap
 * @unmapped: out, bytes unmapped
 *
 * Context: process context; takes iopt.rwsem.
 * Return: as ioasid_iopt_unmap_vec().
 */
int ioasid_iopt_unmap(struct ioasid_iopt *iopt, unsigned long iova,
		      unsigned long length, unsigned long *unmapped)
{
	struct ioasid_iova_range range = {
		.first = iova,
		.last = iova + length - 1,
	};
	unsigned int failed;

	return ioasid_iopt_unmap_vec(iopt, &range, 1, unmapped, &failed);
}

/**
 * ioasid_iopt_unmap_all() - unmap everything
 * @iopt: the map
 * @unmapped: out, bytes unmapped
 *
 * Context: process context; takes iopt.rwsem.
 * Return: 0, or -EBUSY if an access pins pages (nothing is unmapped).
 */
int ioasid_iopt_unmap_all(struct ioasid_iopt *iopt, unsigned long *unmapped)
{
	struct ioasid_iova_range all = { .first = 0, .last = ULONG_MAX };
	unsigned int failed;

	return ioasid_iopt_unmap_vec(iopt, &all, 1, unmapped, &failed);
}

/**
 * ioasid_iopt_destroy() - free an IOVA map with no domain attached
 * @iopt: the map, which no call uses any more
 */
void ioasid_iopt_destroy(struct ioasid_iopt *iopt)
{
	unsigned long bytes = 0;
	LIST_HEAD(free_list);

	down_read(&iopt->domains_rwsem);
	down_write(&iopt->rwsem);
	IOASID_WARN_ON(iopt->num_domains);
	IOASID_WARN_ON(iopt_doom(iopt, 0, ULONG_MAX, &free_list, &bytes));
	iopt_clear_list(iopt, &free_list, NULL);
	iopt_remove_doomed(iopt, &free_list);
	iopt_free_tree(&iopt->reserved_itree,
		       offsetof(struct ioasid_reserved, node));
	iopt_free_tree(&iopt->allowed_itree,
		       offsetof(struct ioasid_allowed, node));
	xa_destroy(&iopt->access_dirty);
	up_write(&iopt->rwsem);
	up_read(&iopt->domains_rwsem);
	iopt_free_areas(&free_list);
	xa_destroy(&iopt->domains);
}

/* Queue [first, last] on @batch, owned by @owner. */
static int iopt_resv_queue(struct list_head *batch, unsigned long first,
			   unsigned long last, void *owner)
{
	struct ioasid_reserved *resv;

	resv = kmalloc(sizeof(*resv), GFP_KERNEL_ACCOUNT);
	if (resv) {
		*resv = (struct ioasid_reserved){
			.node = { .start = first, .last = last },
			.owner = owner,
		};
		list_add_tail(&resv->batch, batch);
	}
	return resv ? 0 : -ENOMEM;
}

/* Free what is left on @batch: nothing, after a successful commit. */
static void iopt_resv_discard(struct list_head *batch)
{
	struct ioasid_reserved *resv, *next;

	list_for_each_entry_safe(resv, next, batch, batch)
		kfree(resv);
	INIT_LIST_HEAD(batch);
}

/*
 * Insert every range of @batch, or none: a range that meets a mapping, or
 * an allowed range userspace declared it will use, is -EADDRINUSE.
 */
static int iopt_resv_commit(struct ioasid_iopt *iopt, struct list_head *batch)
{
	struct ioasid_reserved *resv, *next;

	lockdep_assert_held_write(&iopt->rwsem);
	list_for_each_entry(resv, batch, batch) {
		unsigned long first = resv->node.start, last = resv->node.last;

		if (interval_tree_iter_first(&iopt->area_itree, first, last) ||
		    interval_tree_iter_first(&iopt->allowed_itree, first, last))
			return -EADDRINUSE;
	}
	list_for_each_entry_safe(resv, next, batch, batch) {
		list_del(&resv->batch);
		interval_tree_insert(&resv->node, &iopt->reserved_itree);
	}
	return 0;
}

/* Take every reserved range of @owner out of the tree. */
static void iopt_resv_drop(struct ioasid_iopt *iopt, void *owner)
{
	struct interval_tree_node *node = NULL;
	struct ioasid_reserved *resv;
	LIST_HEAD(gone);

	lockdep_assert_held_write(&iopt->rwsem);
	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		resv = container_of(node, struct ioasid_reserved, node);
		if (resv->owner == owner)
			list_add_tail(&resv->batch, &gone);
	}
	list_for_each_entry(resv, &gone, batch)
		interval_tree_remove(&resv->node, &iopt->reserved_itree);
	iopt_resv_discard(&gone);
}

static void iopt_recalc_alignment(struct ioasid_iopt *iopt)
{
	unsigned long align = PAGE_SIZE, pgsizes = ULONG_MAX;
	struct iommu_domain *domain;
	unsigned long index;

	xa_for_each(&iopt->domains, index, domain) {
		align = max(align, 1UL << __ffs(domain->pgsize_bitmap));
		pgsizes &= domain->pgsize_bitmap;
	}
	iopt->iova_alignment = align;
	WRITE_ONCE(iopt->pgsize_bitmap, pgsizes);
}

/* Queue what lies outside @domain's aperture, owned by the domain. */
static int iopt_queue_aperture(struct list_head *batch,
			       struct iommu_domain *domain)
{
	struct iommu_domain_geometry *geo = &domain->geometry;
	int rc = 0;

	if (!geo->force_aperture)
		return 0;
	if (geo->aperture_start)
		rc = iopt_resv_queue(batch, 0, geo->aperture_start - 1, domain);
	if (!rc && geo->aperture_end < ULONG_MAX)
		rc = iopt_resv_queue(batch, geo->aperture_end + 1, ULONG_MAX,
				     domain);
	return rc;
}

/*
 * Store the pages of every area in the domain chosen for it, now that
 * @iopt has one more (ioasid_pages_store()). Holds iopt.domains_rwsem for
 * writing: nobody reads the pages meanwhile.
 */
static void iopt_store_all(struct ioasid_iopt *iopt)
{
	struct iommu_domain *domain = iopt_store_domain(iopt, NULL);
	struct ioasid_area *area;

	lockdep_assert_held_write(&iopt->domains_rwsem);
	if (!domain)
		return;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		iopt_store_area(iopt, area, domain);
		cond_resched();
	}
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
 * Context: process context; takes iopt.domains_rwsem and iopt.rwsem for
 * writing, after the maps and unmaps under way.
 * Return: 0, or an errno with @domain empty and @iopt unchanged:
 * -EADDRINUSE (an area the domain cannot map, or its aperture meets one),
 * -ENOMEM, or the IOMMU driver's errno.
 */
int ioasid_iopt_add_domain(struct ioasid_iopt *iopt,
			   struct iommu_domain *domain)
{
	unsigned long align = 1UL << __ffs(domain->pgsize_bitmap);
	unsigned long lo = ULONG_MAX, hi = 0;
	struct ioasid_area *area, *undo;
	LIST_HEAD(batch);
	u32 id;
	int rc;

	rc = iopt_queue_aperture(&batch, domain);
	if (rc)
		goto out_discard;
	/* Exclusive: no area is in transit. */
	down_write(&iopt->domains_rwsem);
	down_write(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		if (area->node.start % align || area_length(area) % align) {
			rc = -EADDRINUSE;
			goto out_unlock;
		}
	}
	rc = iopt_resv_commit(iopt, &batch);
	if (rc)
		goto out_unlock;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		rc = iopt_fill_area(iopt, area, domain);
		if (rc)
			goto err_unfill;
		lo = min(lo, area->node.start);
		hi = max(hi, area->node.last);
		cond_resched();
	}
	rc = xa_alloc(&iopt->domains, &id, domain, xa_limit_32b,
		      GFP_KERNEL_ACCOUNT);
	if (rc)
		goto err_unfill;
	if (lo <= hi) {
		iommu_sync_map(domain, lo, hi - lo + 1);
		ioasid_stat_add(iopt->stats, IOASID_STAT_IOTLB_SYNCS, 1);
	}
	iopt->num_domains++;
	iopt->iova_alignment = max(iopt->iova_alignment, align);
	WRITE_ONCE(iopt->pgsize_bitmap,
		   iopt->pgsize_bitmap & domain->pgsize_bitmap);
	iopt_store_all(iopt);
	up_write(&iopt->rwsem);
	up_write(&iopt->domains_rwsem);
	return 0;

err_unfill:
	for (undo = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); undo != area;
	     undo = ioasid_iopt_area_next(undo, 0, ULONG_MAX))
		iommu_unmap(domain, undo->node.start, area_length(undo));
	iopt_resv_drop(iopt, domain);
out_unlock:
	up_write(&iopt->rwsem);
	up_write(&iopt->domains_rwsem);
out_discard:
	iopt_resv_discard(&batch);
	return rc;
}

/**
 * ioasid_iopt_remove_domain() - stop mirroring into a domain and empty it
 * @iopt: the map
 * @domain: a domain added with ioasid_iopt_add_domain()
 *
 * Context: process context; takes iopt.domains_rwsem and iopt.rwsem for
 * writing, after the maps and unmaps under way.
 */
void ioasid_iopt_remove_domain(struct ioasid_iopt *iopt,
			       struct iommu_domain *domain)
{
	struct iommu_domain *entry, *to;
	struct iommu_iotlb_gather gather;
	struct ioasid_area *area;
	unsigned long index;

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->rwsem);
	xa_for_each(&iopt->domains, index, entry) {
		if (entry == domain) {
			xa_erase(&iopt->domains, index);
			iopt->num_domains--;
			break;
		}
	}
	/* Pages stored in the domain move to another, or get arrays back. */
	to = iopt_store_domain(iopt, domain);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX))
		ioasid_pages_drop_domain(area->pages, domain, to);
	iommu_iotlb_gather_init(&gather);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		size_t len = area_length(area);

		/* The domain held exactly the areas: anything else is lost */
		IOASID_WARN_ON(iommu_unmap_fast(domain, area->node.start, len,
						&gather) != len);
		cond_resched();
	}
	iommu_iotlb_sync(domain, &gather);
	ioasid_stat_add(iopt->stats, IOASID_STAT_IOTLB_SYNCS, 1);
	iopt_resv_drop(iopt, domain);
	iopt_recalc_alignment(iopt);
	up_write(&iopt->rwsem);
	up_write(&iopt->domains_rwsem);
}

/**
 * ioasid_iopt_freeze_domains() - keep maps and unmaps off the domains
 * @a: a map, or NULL
 * @b: another map, the same, or NULL
 *
 * An IOMMU driver changes a domain's state when it attaches the domain to a
 * device or detaches it, and 6.1's drivers expect no map or unmap meanwhile,
 * as type1 attaches under its own lock: VT-d drops the top levels of the
 * page table its IOMMU does not walk, freeing the old root, and frees its
 * per-IOMMU record of the domain, which the map and unmap paths read
 * unlocked when they flush. A domain that mirrors a map is written by every
 * map and unmap of it, so an attach, replace or detach of such a domain
 * runs between this and ioasid_iopt_thaw_domains(): for a replace, both
 * the old and the new domain's. Readers (accesses, mock DMA) go on.
 *
 * Context: process context; takes iopt.domains_rwsem of each for writing,
 * the lower address first, after the maps and unmaps under way.
 */
void ioasid_iopt_freeze_domains(struct ioasid_iopt *a, struct ioasid_iopt *b)
{
	if (a == b || !a)
		a = NULL;
	else if (b && b < a)
		swap(a, b);
	if (a)
		down_write(&a->domains_rwsem);
	if (b)
		down_write_nested(&b->domains_rwsem,
				  a ? SINGLE_DEPTH_NESTING : 0);
}

/**
 * ioasid_iopt_thaw_domains() - end ioasid_iopt_freeze_domains()
 * @a: as given to ioasid_iopt_freeze_domains()
 * @b: as given to ioasid_iopt_freeze_domains()
 *
 * Context: process context; releases what ioasid_iopt_freeze_domains()
 * took.
 */
void ioasid_iopt_thaw_domains(struct ioasid_iopt *a, struct ioasid_iopt *b)
{
	if (a && a != b)
		up_write(&a->domains_rwsem);
	if (b)
		up_write(&b->domains_rwsem);
}

/**
 * ioasid_iopt_reserve_group() - reserve the IOVAs a group's devices cannot use
 * @iopt: the map, whose reserved ranges get the group's reserved regions but
 *	  its relaxable direct mappings
 * @group: the IOMMU group
 * @owner: tag to remove them by with ioasid_iopt_unreserve(); each
 *	   attachment is its own owner, so two attachments of one device
 *	   (during a replace) never take each other's ranges away
 *
 * Context: process context; takes iopt.rwsem.
 * Return: 0; -EADDRINUSE if a region meets a mapping or an allowed range;
 * -ENOMEM. Nothing is reserved on failure.
 */
int ioasid_iopt_reserve_group(struct ioasid_iopt *iopt,
			      struct iommu_group *group, void *owner)
{
	struct iommu_resv_region *region;
	LIST_HEAD(regions);
	LIST_HEAD(batch);
	int rc;

	rc = iommu_get_group_resv_regions(group, &regions);
	if (rc)
		return rc;
	list_for_each_entry(region, &regions, list) {
		/*
		 * A relaxable direct mapping (an RMRR of a USB or graphics
		 * device) only matters to the device's own kernel driver;
		 * assigned, it may be covered by guest RAM, as type1 allows.
		 */
		if (region->type == IOMMU_RESV_DIRECT_RELAXABLE)
			continue;
		rc = iopt_resv_queue(&batch, region->start,
				     region->start + region->length - 1, owner);
		if (rc)
			goto out_free;
	}
	down_write(&iopt->rwsem);
	rc = iopt_resv_commit(iopt, &batch);
	up_write(&iopt->rwsem);
out_free:
	iopt_resv_discard(&batch);
	iommu_put_resv_regions(NULL, &regions);
	return rc;
}

/**
 * ioasid_iopt_reserve_range() - reserve one range for @owner
 * @iopt: the map
 * @first: first IOVA
 * @last: last IOVA, inclusive
 * @owner: tag to remove it by with ioasid_iopt_unreserve()
 *
 * Context: process context; takes iopt.rwsem.
 * Return: 0, -EADDRINUSE or -ENOMEM.
 */
int ioasid_iopt_reserve_range(struct ioasid_iopt *iopt, unsigned long first,
			      unsigned long last, void *owner)
{
	LIST_HEAD(batch);
	int rc;

	rc = iopt_resv_queue(&batch, first, last, owner);
	if (rc)
		return rc;
	down_write(&iopt->rwsem);
	rc = iopt_resv_commit(iopt, &batch);
	up_write(&iopt->rwsem);
	iopt_resv_discard(&batch);
	return rc;
}

/**
 * ioasid_iopt_unreserve() - remove every reserved range of @owner
 * @iopt: the map
 * @owner: tag given when reserving
 *
 * Context: process context; takes iopt.rwsem.
 */
void ioasid_iopt_unreserve(struct ioasid_iopt *iopt, void *owner)
{
	down_write(&iopt->rwsem);
	iopt_resv_drop(iopt, owner);
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
	/* Areas in transit too: a FILLING one is about to be LIVE. */
	for (area = iopt_any_first(iopt, 0, ULONG_MAX); area;
	     area = iopt_any_next(area, 0, ULONG_MAX)) {
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
		ranges[*num].first = start;
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
 * Return: 0; -EEXIST if a mapping overlaps, or one being mapped or
 * unmapped; -EADDRINUSE if the range is reserved or outside the allowed
 * ranges.
 */
int ioasid_iopt_check_map(struct ioasid_iopt *iopt, unsigned long iova,
			  unsigned long last)
{
	int rc;

	down_read(&iopt->rwsem);
	rc = iopt_check_fixed(iopt, iova, last, NULL);
	up_read(&iopt->rwsem);
	return rc == -EAGAIN ? -EEXIST : rc;
}

/*
 * Split @area so that a new area starts at @iova. The two halves map the
 * same pages at the same IOVAs, so no domain changes; each uses its own
 * part of the pages, so unmapping one half unpins and uncharges exactly
 * what no other area maps.
 */
static int iopt_split_area(struct ioasid_iopt *iopt, struct ioasid_area *area,
			   unsigned long iova)
{
	unsigned long index = area->page_index +
			      ((iova - area->node.start) >> PAGE_SHIFT);
	struct ioasid_area *tail;

	lockdep_assert_held_write(&iopt->rwsem);
	if (atomic_long_read(&area->num_access_pins))
		return -EBUSY;
	if (iopt->max_areas && iopt->num_areas >= iopt->max_areas)
		return -ENOSPC;
	tail = kzalloc(sizeof(*tail), GFP_KERNEL_ACCOUNT);
	if (!tail)
		return -ENOMEM;
	kref_get(&area->pages->kref);
	tail->pages = area->pages;
	tail->page_index = index;
	tail->prot = area->prot;
	tail->vaddr_invalid = area->vaddr_invalid;
	tail->node.start = iova;
	tail->node.last = area->node.last;
	tail->pages_node.start = index;
	tail->pages_node.last = area->pages_node.last;
	ioasid_pages_use(tail->pages, &tail->pages_node);
	ioasid_pages_trim(area->pages, &area->pages_node, index - 1);

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
