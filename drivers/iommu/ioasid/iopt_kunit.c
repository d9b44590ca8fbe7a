// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests of the IOVA map's pure logic: hole finding, alignment
 * choice, allow-lists, usable-range bookkeeping, physical run lengths,
 * cutting mappings (type1 v1 partial unmap), what maps and unmaps see of
 * each other's areas in transit, and the per-user accounting
 * arithmetic. Included at the end of
 * io_pagetable.c so the static helpers can be reached.
 */
#include <kunit/test.h>
#include <linux/sched/user.h>
#include <linux/sizes.h>

static void iopt_kunit_add(struct kunit *test, struct rb_root_cached *root,
			   unsigned long start, unsigned long last)
{
	struct interval_tree_node *node;

	node = kunit_kzalloc(test, sizeof(*node), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, node);
	node->start = start;
	node->last = last;
	interval_tree_insert(node, root);
}

/* A bare map whose helpers can be called: they expect the lock held. */
static void iopt_kunit_init(struct kunit *test, struct ioasid_iopt *iopt)
{
	ioasid_iopt_init(iopt);
	down_write(&iopt->rwsem);
}

static void iopt_kunit_done(struct ioasid_iopt *iopt)
{
	up_write(&iopt->rwsem);
}

static void iopt_test_hole_empty(struct kunit *test)
{
	struct ioasid_iopt iopt;
	unsigned long iova;

	iopt_kunit_init(test, &iopt);
	/* IOVA 0 is never chosen: the first hole starts at the alignment. */
	KUNIT_ASSERT_TRUE(test, iopt_find_hole(&iopt, 0, ULONG_MAX, SZ_8K,
					       SZ_4K, 0, &iova));
	KUNIT_EXPECT_EQ(test, iova, SZ_4K);
	KUNIT_ASSERT_TRUE(test, iopt_find_hole(&iopt, 0, ULONG_MAX, SZ_2M,
					       SZ_2M, 0, &iova));
	KUNIT_EXPECT_EQ(test, iova, SZ_2M);
	iopt_kunit_done(&iopt);
}

static void iopt_test_hole_skips(struct kunit *test)
{
	struct ioasid_iopt iopt;
	unsigned long iova;

	iopt_kunit_init(test, &iopt);
	iopt_kunit_add(test, &iopt.area_itree, SZ_4K, SZ_1M - 1);
	iopt_kunit_add(test, &iopt.reserved_itree, SZ_1M, SZ_2M + SZ_4K - 1);
	KUNIT_ASSERT_TRUE(test, iopt_find_hole(&iopt, 0, ULONG_MAX, SZ_4K,
					       SZ_4K, 0, &iova));
	KUNIT_EXPECT_EQ(test, iova, SZ_2M + SZ_4K);
	/* 2M alignment skips to the next 2M boundary after both. */
	KUNIT_ASSERT_TRUE(test, iopt_find_hole(&iopt, 0, ULONG_MAX, SZ_2M,
					       SZ_2M, 0, &iova));
	KUNIT_EXPECT_EQ(test, iova, SZ_4M);
	iopt_kunit_done(&iopt);
}

static void iopt_test_hole_window(struct kunit *test)
{
	struct ioasid_iopt iopt;
	unsigned long iova;

	iopt_kunit_init(test, &iopt);
	iopt_kunit_add(test, &iopt.area_itree, SZ_1M, SZ_1M + SZ_64K - 1);
	/* The window is too small once the area is skipped. */
	KUNIT_EXPECT_FALSE(test, iopt_find_hole(&iopt, SZ_1M, SZ_1M + SZ_128K - 1,
						SZ_128K, SZ_4K, 0, &iova));
	KUNIT_ASSERT_TRUE(test, iopt_find_hole(&iopt, SZ_1M, SZ_1M + SZ_128K - 1,
					       SZ_64K, SZ_4K, 0, &iova));
	KUNIT_EXPECT_EQ(test, iova, SZ_1M + SZ_64K);
	/* A hole that would wrap the address space is refused. */
	KUNIT_EXPECT_FALSE(test, iopt_find_hole(&iopt, ULONG_MAX - SZ_8K + 1,
						ULONG_MAX, SZ_16K, SZ_4K, 0,
						&iova));
	iopt_kunit_done(&iopt);
}

static void iopt_test_alloc_allowed(struct kunit *test)
{
	struct ioasid_iopt iopt;
	unsigned long iova;

	iopt_kunit_init(test, &iopt);
	iopt_kunit_add(test, &iopt.allowed_itree, SZ_1G, SZ_1G + SZ_1M - 1);
	iopt_kunit_add(test, &iopt.allowed_itree, SZ_4G, SZ_4G + SZ_16M - 1);
	KUNIT_ASSERT_EQ(test, iopt_alloc_iova(&iopt, &iova, SZ_64K, SZ_64K), 0);
	KUNIT_EXPECT_EQ(test, iova, SZ_1G);
	/* Too large for the first window: lands in the second. */
	KUNIT_ASSERT_EQ(test, iopt_alloc_iova(&iopt, &iova, SZ_2M, SZ_2M), 0);
	KUNIT_EXPECT_EQ(test, iova, SZ_4G);
	/* The user address's offset into a 2M page is kept. */
	KUNIT_ASSERT_EQ(test, iopt_alloc_iova(&iopt, &iova, SZ_2M + 5 * SZ_4K,
					      SZ_4M - 5 * SZ_4K), 0);
	KUNIT_EXPECT_EQ(test, iova, SZ_4G + 5 * SZ_4K);
	KUNIT_EXPECT_EQ(test, iopt_alloc_iova(&iopt, &iova, SZ_4K, SZ_32M),
			-ENOSPC);
	iopt_kunit_done(&iopt);
}

static void iopt_test_allowed_union(struct kunit *test)
{
	struct ioasid_iopt iopt;

	iopt_kunit_init(test, &iopt);
	KUNIT_EXPECT_TRUE(test, iopt_allowed(&iopt, 0, ULONG_MAX));
	iopt_kunit_add(test, &iopt.allowed_itree, SZ_1M, SZ_2M - 1);
	iopt_kunit_add(test, &iopt.allowed_itree, SZ_2M, SZ_4M - 1);
	/* Adjacent ranges cover together. */
	KUNIT_EXPECT_TRUE(test, iopt_allowed(&iopt, SZ_1M, SZ_4M - 1));
	KUNIT_EXPECT_FALSE(test, iopt_allowed(&iopt, SZ_1M - SZ_4K, SZ_2M));
	KUNIT_EXPECT_FALSE(test, iopt_allowed(&iopt, SZ_2M, SZ_4M));
	iopt_kunit_done(&iopt);
}

static void iopt_test_alignment(struct kunit *test)
{
	unsigned long align, phase;
	struct ioasid_iopt iopt;

	iopt_kunit_init(test, &iopt);
	/* The offset into the largest huge page the range covers is kept. */
	iopt_pick_placement(&iopt, SZ_2M, SZ_4M, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_2M);
	KUNIT_EXPECT_EQ(test, phase, 0);
	/* 4M from 1M covers one 2M page whole, and no 1G page */
	iopt_pick_placement(&iopt, SZ_1M, SZ_4M, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_2M);
	KUNIT_EXPECT_EQ(test, phase, SZ_1M);
	/* 2M from 1M + 4K covers none: packed at the IOAS's alignment */
	iopt_pick_placement(&iopt, SZ_1M + SZ_4K, SZ_2M, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_4K);
	KUNIT_EXPECT_EQ(test, phase, 0);
	iopt_pick_placement(&iopt, SZ_1G + 5 * SZ_4K, 0x3fb000, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_2M);
	KUNIT_EXPECT_EQ(test, phase, 5 * SZ_4K);
	/* Never below the map's own alignment, never above 1G. */
	iopt.iova_alignment = SZ_64K;
	iopt_pick_placement(&iopt, SZ_4K, SZ_4K, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_64K);
	/* An offset the IOMMU cannot start at is not kept. */
	KUNIT_EXPECT_EQ(test, phase, 0);
	iopt_pick_placement(&iopt, SZ_1G + SZ_128K, SZ_4G, &align, &phase);
	KUNIT_EXPECT_EQ(test, align, SZ_1G);
	KUNIT_EXPECT_EQ(test, phase, SZ_128K);
	iopt_kunit_done(&iopt);
}

/* Usable ranges are written to userspace: collect them in a kernel copy. */
static void iopt_test_usable(struct kunit *test)
{
	struct ioasid_iopt iopt;
	struct ioasid_iova_range *ranges;
	u32 num = 4;
	int rc;

	ranges = kunit_kcalloc(test, num, sizeof(*ranges), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ranges);
	iopt_kunit_init(test, &iopt);
	iopt_kunit_add(test, &iopt.reserved_itree, 0xfee00000, 0xfeefffff);
	iopt_kunit_add(test, &iopt.reserved_itree, 0xfef00000, 0xfeffffff);
	iopt_kunit_add(test, &iopt.reserved_itree, 1UL << 48, ULONG_MAX);
	iopt_kunit_add(test, &iopt.allowed_itree, 0, 0xffffffff);
	iopt_kunit_add(test, &iopt.allowed_itree, 1UL << 40, (1UL << 41) - 1);
	rc = iopt_collect_usable(&iopt, ranges, &num);
	KUNIT_ASSERT_EQ(test, rc, 0);
	KUNIT_ASSERT_EQ(test, num, 3);
	KUNIT_EXPECT_EQ(test, ranges[0].first, 0);
	KUNIT_EXPECT_EQ(test, ranges[0].last, 0xfedfffff);
	KUNIT_EXPECT_EQ(test, ranges[1].first, 0xff000000);
	KUNIT_EXPECT_EQ(test, ranges[1].last, 0xffffffff);
	KUNIT_EXPECT_EQ(test, ranges[2].first, 1UL << 40);
	num = 1;
	KUNIT_EXPECT_EQ(test, iopt_collect_usable(&iopt, ranges, &num),
			-EMSGSIZE);
	KUNIT_EXPECT_EQ(test, num, 3);
	iopt_kunit_done(&iopt);
}

static void iopt_test_runs(struct kunit *test)
{
	struct ioasid_pages *pages;
	struct page *block, *other;
	struct page *array[8];
	unsigned long pfn;
	int i;

	block = alloc_pages(GFP_KERNEL, 2);
	KUNIT_ASSERT_NOT_NULL(test, block);
	other = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, other);
	for (i = 0; i < 4; i++)
		array[i] = block + i;
	array[4] = other;
	array[5] = block;
	array[6] = block + 1;
	array[7] = block + 3;
	pages = ioasid_pages_fake(array, ARRAY_SIZE(array));
	KUNIT_ASSERT_NOT_NULL(test, pages);
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 0, 8, &pfn), 4);
	KUNIT_EXPECT_EQ(test, pfn, page_to_pfn(block));
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 0, 3, &pfn), 3);
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 1, 7, &pfn), 3);
	KUNIT_EXPECT_EQ(test, pfn, page_to_pfn(block + 1));
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 4, 4, &pfn), 1);
	KUNIT_EXPECT_EQ(test, pfn, page_to_pfn(other));
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 5, 3, &pfn), 2);
	KUNIT_EXPECT_EQ(test, pfn, page_to_pfn(block));
	KUNIT_EXPECT_EQ(test, ioasid_pages_run(pages, 7, 1, &pfn), 1);
	KUNIT_EXPECT_EQ(test, pfn, page_to_pfn(block + 3));
	ioasid_pages_fake_free(pages);
	__free_page(other);
	__free_pages(block, 2);
}

static void iopt_test_acct_user(struct kunit *test)
{
	struct user_struct *user;

	user = kunit_kzalloc(test, sizeof(*user), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, user);
	KUNIT_EXPECT_EQ(test, ioasid_acct_user(user, 10), 0);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&user->locked_vm), 10);
	/* An overflowing charge fails and changes nothing. */
	KUNIT_EXPECT_EQ(test, ioasid_acct_user(user, ULONG_MAX - 5), -ENOMEM);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&user->locked_vm), 10);
}

static void iopt_kunit_release_noop(struct kref *kref)
{
}

/* Pages that were never pinned: built and freed here, never put. */
static struct ioasid_pages *iopt_kunit_pages(struct kunit *test,
					     struct page *block,
					     unsigned long npages)
{
	struct ioasid_pages *pages;
	struct page **array;
	unsigned long i;

	array = kcalloc(npages, sizeof(*array), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, array);
	for (i = 0; i < npages; i++)
		array[i] = block + i;
	pages = ioasid_pages_fake(array, npages);
	kfree(array);
	KUNIT_ASSERT_NOT_NULL(test, pages);
	return pages;
}

static void iopt_kunit_free_areas(struct ioasid_iopt *iopt)
{
	struct ioasid_area *area;

	down_write(&iopt->rwsem);
	while ((area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX))) {
		interval_tree_remove(&area->node, &iopt->area_itree);
		interval_tree_remove(&area->pages_node, &area->pages->users);
		if (kref_put(&area->pages->kref, iopt_kunit_release_noop))
			ioasid_pages_fake_free(area->pages);
		kfree(area);
	}
	up_write(&iopt->rwsem);
}

/*
 * Insert an area LIVE for @pages[@page_index...], as a map into an IOAS
 * with no domain does, consuming the reference on @pages on success.
 * Under iopt.rwsem held for writing.
 */
static int iopt_insert_area(struct ioasid_iopt *iopt, struct ioasid_pages *pages,
			    unsigned long page_index, unsigned long *iova,
			    unsigned long length, unsigned long uptr, int prot,
			    bool fixed)
{
	struct ioasid_area *area;
	LIST_HEAD(batch);
	int rc;

	area = kzalloc(sizeof(*area), GFP_KERNEL);
	if (!area)
		return -ENOMEM;
	rc = iopt_insert_prealloc(iopt, area, pages, page_index, iova, length,
				  uptr, prot, fixed, &batch);
	if (rc) {
		kfree(area);
		return rc;
	}
	ioasid_pages_use(pages, &area->pages_node);
	area->state = IOASID_AREA_LIVE;
	area->mover = NULL;
	list_del_init(&area->free_item);
	return 0;
}

static void iopt_test_cut(struct kunit *test)
{
	const unsigned long base = SZ_1M;
	unsigned long iova = base, cuts[3];
	struct ioasid_pages *pages;
	struct ioasid_area *area;
	struct ioasid_iopt iopt;
	struct page *block;

	block = alloc_pages(GFP_KERNEL, 3);
	KUNIT_ASSERT_NOT_NULL(test, block);
	pages = iopt_kunit_pages(test, block, 8);
	ioasid_iopt_init(&iopt);
	down_write(&iopt.rwsem);
	KUNIT_ASSERT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       8 * PAGE_SIZE, 0, IOMMU_READ,
					       true), 0);
	up_write(&iopt.rwsem);

	/* Large IOPTEs could straddle a cut: refused. */
	cuts[0] = base + 2 * PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 1), -EINVAL);
	iopt.disable_large_pages = true;
	cuts[0] = base + 1;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 1), -EINVAL);

	/* Cutting at a start, or where nothing is mapped, changes nothing. */
	cuts[0] = base;
	cuts[1] = base + 64 * PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 2), 0);
	KUNIT_EXPECT_EQ(test, iopt.num_areas, 1);

	/* The pieces share the pages, each using its own part of them. */
	cuts[0] = base + 2 * PAGE_SIZE;
	cuts[1] = base + 6 * PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 2), 0);
	KUNIT_EXPECT_EQ(test, iopt.num_areas, 3);
	KUNIT_EXPECT_EQ(test, kref_read(&pages->kref), 3);
	down_read(&iopt.rwsem);
	area = ioasid_iopt_area_first(&iopt, base, base);
	KUNIT_EXPECT_EQ(test, area->node.last, base + 2 * PAGE_SIZE - 1);
	KUNIT_EXPECT_EQ(test, area->pages_node.start, 0);
	KUNIT_EXPECT_EQ(test, area->pages_node.last, 1);
	area = ioasid_iopt_area_next(area, base, ULONG_MAX);
	KUNIT_EXPECT_EQ(test, area->node.start, base + 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, area->node.last, base + 6 * PAGE_SIZE - 1);
	KUNIT_EXPECT_PTR_EQ(test, area->pages, pages);
	KUNIT_EXPECT_EQ(test, area->page_index, 2);
	KUNIT_EXPECT_EQ(test, area->pages_node.last, 5);
	KUNIT_EXPECT_PTR_EQ(test, ioasid_pages_page(pages, area->page_index),
			    block + 2);
	area = ioasid_iopt_area_next(area, base, ULONG_MAX);
	KUNIT_EXPECT_EQ(test, area->node.start, base + 6 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, area->page_index, 6);
	KUNIT_EXPECT_EQ(test, area->pages_node.last, 7);
	KUNIT_EXPECT_PTR_EQ(test, ioasid_pages_page(pages, 7), block + 7);
	KUNIT_EXPECT_NULL(test, ioasid_iopt_area_next(area, base, ULONG_MAX));
	up_read(&iopt.rwsem);

	/* A limit on the number of areas holds for cuts too. */
	iopt.max_areas = 3;
	cuts[0] = base + 3 * PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 1), -ENOSPC);
	iopt.max_areas = 0;
	KUNIT_EXPECT_EQ(test, ioasid_iopt_cut(&iopt, cuts, 1), 0);
	down_read(&iopt.rwsem);
	area = ioasid_iopt_area_first(&iopt, cuts[0], cuts[0]);
	KUNIT_EXPECT_EQ(test, area->page_index, 3);
	KUNIT_EXPECT_EQ(test, kref_read(&pages->kref), 4);
	up_read(&iopt.rwsem);
	KUNIT_EXPECT_EQ(test, iopt.num_areas, 4);

	iopt_kunit_free_areas(&iopt);
	ioasid_iopt_destroy(&iopt);
	__free_pages(block, 3);
}

/*
 * The errors of a map come in type1's order: overlap, the limit on
 * mappings, then a reserved range. An unmap that bisects an area fails so
 * before one that an access pins.
 */
static void iopt_test_errno_order(struct kunit *test)
{
	const unsigned long base = SZ_1M;
	unsigned long unmapped, iova = base;
	struct ioasid_pages *pages;
	struct ioasid_area *area;
	struct ioasid_iopt iopt;
	struct page *block;

	block = alloc_pages(GFP_KERNEL, 1);
	KUNIT_ASSERT_NOT_NULL(test, block);
	pages = iopt_kunit_pages(test, block, 2);
	ioasid_iopt_init(&iopt);
	KUNIT_ASSERT_EQ(test, ioasid_iopt_reserve_range(&iopt, SZ_2M,
							SZ_2M + SZ_4K - 1,
							test), 0);
	down_write(&iopt.rwsem);
	KUNIT_ASSERT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       2 * PAGE_SIZE, 0, IOMMU_READ,
					       true), 0);
	iopt.max_areas = 1;
	iova = base + PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       PAGE_SIZE, 0, IOMMU_READ, true),
			-EEXIST);
	iova = SZ_2M;
	KUNIT_EXPECT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       PAGE_SIZE, 0, IOMMU_READ, true),
			-ENOSPC);
	KUNIT_EXPECT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       PAGE_SIZE, 0, IOMMU_READ, false),
			-ENOSPC);
	iopt.max_areas = 0;
	KUNIT_EXPECT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       PAGE_SIZE, 0, IOMMU_READ, true),
			-EADDRINUSE);
	KUNIT_EXPECT_EQ(test, iopt.num_areas, 1);
	area = ioasid_iopt_area_first(&iopt, base, base);
	atomic_long_set(&area->num_access_pins, 1);
	up_write(&iopt.rwsem);

	KUNIT_EXPECT_EQ(test, ioasid_iopt_unmap(&iopt, base, PAGE_SIZE,
						&unmapped), -ENOENT);
	KUNIT_EXPECT_EQ(test, ioasid_iopt_unmap(&iopt, base - PAGE_SIZE,
						2 * PAGE_SIZE, &unmapped),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, ioasid_iopt_unmap(&iopt, base, 2 * PAGE_SIZE,
						&unmapped), -EBUSY);
	KUNIT_EXPECT_EQ(test, iopt.num_areas, 1);
	atomic_long_set(&area->num_access_pins, 0);

	iopt_kunit_free_areas(&iopt);
	ioasid_iopt_destroy(&iopt);
	__free_pages(block, 1);
}

/*
 * Areas in transit: a FILLING area of another call is no mapping yet to
 * walkers and unmaps, but its IOVAs are taken (a fixed map waits for it,
 * a placed one goes around it); a REMOVING area of another call is gone
 * to walkers, and an unmap of its IOVAs waits for it. A call's own areas
 * in transit count for it.
 */
static void iopt_test_transit(struct kunit *test)
{
	const unsigned long base = SZ_1M;
	unsigned long bytes = 0, iova = base;
	struct ioasid_pages *pages;
	struct ioasid_area *area;
	struct ioasid_iopt iopt;
	LIST_HEAD(other);
	LIST_HEAD(mine);
	struct page *block;

	block = alloc_pages(GFP_KERNEL, 1);
	KUNIT_ASSERT_NOT_NULL(test, block);
	pages = iopt_kunit_pages(test, block, 2);
	ioasid_iopt_init(&iopt);
	down_write(&iopt.rwsem);
	KUNIT_ASSERT_EQ(test, iopt_insert_area(&iopt, pages, 0, &iova,
					       2 * PAGE_SIZE, 0, IOMMU_READ,
					       true), 0);
	area = ioasid_iopt_area_first(&iopt, base, base);
	KUNIT_ASSERT_NOT_NULL(test, area);

	/* Another call fills it: hidden, yet its IOVAs are taken. */
	area->state = IOASID_AREA_FILLING;
	area->mover = &other;
	KUNIT_EXPECT_NULL(test, ioasid_iopt_area_first(&iopt, 0, ULONG_MAX));
	KUNIT_EXPECT_EQ(test, iopt_check_fixed(&iopt, base, base, &mine),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, iopt_check_fixed(&iopt, base, base, &other),
			-EEXIST);
	KUNIT_EXPECT_FALSE(test, iopt_find_hole(&iopt, base, base + SZ_8K - 1,
						PAGE_SIZE, PAGE_SIZE, 0,
						&iova));
	KUNIT_EXPECT_FALSE(test, ioasid_iopt_crosses(&iopt, base + PAGE_SIZE,
						     ULONG_MAX));
	/* An unmap leaves it to the map, which comes after it. */
	KUNIT_EXPECT_EQ(test, iopt_doom(&iopt, base + PAGE_SIZE, ULONG_MAX,
					&mine, &bytes), 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&mine));
	KUNIT_EXPECT_EQ(test, bytes, 0);

	/* Another call removes it: an unmap of its IOVAs waits. */
	area->state = IOASID_AREA_REMOVING;
	KUNIT_EXPECT_EQ(test, iopt_doom(&iopt, 0, ULONG_MAX, &mine, &bytes),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, iopt_check_fixed(&iopt, base, base, NULL),
			-EAGAIN);

	/* An unmap's own REMOVING areas count for it, once. */
	area->state = IOASID_AREA_LIVE;
	area->mover = NULL;
	KUNIT_EXPECT_EQ(test, iopt_doom(&iopt, base, base + SZ_8K - 1, &mine,
					&bytes), 0);
	KUNIT_EXPECT_EQ(test, area->state, IOASID_AREA_REMOVING);
	KUNIT_EXPECT_EQ(test, iopt_doom(&iopt, base, base + SZ_8K - 1, &mine,
					&bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, iopt_doom(&iopt, base + PAGE_SIZE, ULONG_MAX,
					&mine, &bytes), -ENOENT);
	iopt_spare(&mine);
	KUNIT_EXPECT_EQ(test, area->state, IOASID_AREA_LIVE);
	KUNIT_EXPECT_PTR_EQ(test, ioasid_iopt_area_first(&iopt, base, base),
			    area);
	up_write(&iopt.rwsem);

	iopt_kunit_free_areas(&iopt);
	ioasid_iopt_destroy(&iopt);
	__free_pages(block, 1);
}

static struct kunit_case iopt_test_cases[] = {
	KUNIT_CASE(iopt_test_hole_empty),
	KUNIT_CASE(iopt_test_hole_skips),
	KUNIT_CASE(iopt_test_hole_window),
	KUNIT_CASE(iopt_test_alloc_allowed),
	KUNIT_CASE(iopt_test_allowed_union),
	KUNIT_CASE(iopt_test_alignment),
	KUNIT_CASE(iopt_test_usable),
	KUNIT_CASE(iopt_test_runs),
	KUNIT_CASE(iopt_test_acct_user),
	KUNIT_CASE(iopt_test_cut),
	KUNIT_CASE(iopt_test_errno_order),
	KUNIT_CASE(iopt_test_transit),
	{}
};

static struct kunit_suite iopt_test_suite = {
	.name = "ioasid-iopt",
	.test_cases = iopt_test_cases,
};

kunit_test_suite(iopt_test_suite);
