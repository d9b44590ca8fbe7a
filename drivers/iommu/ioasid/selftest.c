// SPDX-License-Identifier: GPL-2.0-only
/*
 * The mock IOMMU and IOASID_TEST, for tools/testing/selftests/ioasid.
 *
 * Mock devices sit on a bus of their own whose iommu_ops is the mock
 * IOMMU, so the IOMMU core treats them like any other device: groups,
 * DMA ownership, domain attach. The mock domain keeps a real four-level
 * page table (4K, 2M and 1G leaves, 48-bit IOVA), and a mock device does
 * DMA by walking it, so tests check the bytes a device sees and the IOPTE
 * sizes used, not bookkeeping.
 *
 * Like a real IOMMU, the mock reports the faults of its devices' DMA to
 * the IOMMU core (iommu_report_device_fault()): a blocked access as an
 * unrecoverable fault, or, for a DMA asked to use page requests, a group
 * of page requests for the pages missing, after which the device waits for
 * the answer and retries, as a device with PCI PRI does.
 *
 * Nesting: a mock domain allocated as a nest parent can be the stage 2 of
 * nested domains, whose stage 1 is a radix table the test writes in its
 * own memory (the format is in ioasid_test.h). A mock DMA through a nested
 * domain walks that table, reading each entry through the parent's page
 * table, then translates the stage 1's output through the parent. Each
 * leaf walked is cached per nested domain until the test invalidates it.
 */
#include <linux/device.h>
#include <linux/highmem.h>
#include <linux/idr.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/ioasid.h>

#include "../iommu-sva-lib.h"
#include "ioasid_private.h"
#include "ioasid_test.h"

/* Page table entry: an address plus these bits. */
#define MOCK_PTE_PRESENT	BIT_ULL(0)
#define MOCK_PTE_READ		BIT_ULL(1)
#define MOCK_PTE_WRITE		BIT_ULL(2)
#define MOCK_PTE_LEAF		BIT_ULL(3)
#define MOCK_PTE_CACHE		BIT_ULL(4)
#define MOCK_PTE_ADDR		GENMASK_ULL(51, 12)

#define MOCK_LEVELS		4
#define MOCK_IOVA_BITS		48
#define MOCK_PGSIZES		(SZ_4K | SZ_2M | SZ_1G)

struct mock_domain {
	struct iommu_domain domain;
	struct mutex lock;	/* the page table */
	u64 *root;
	bool nest_parent;
	atomic64_t iotlb_syncs;	/* IOASID_TEST_SYNC_COUNT */
	atomic64_t map_syncs;
};

/* A nested domain: a test's stage 1 over a nest-parent mock domain. */
struct mock_nested {
	struct iommu_domain domain;
	struct mock_domain *parent;
	u64 root_gpa;
	struct mutex lock;	/* fills and invalidations of @iotlb */
	struct xarray iotlb;	/* IOVA page number -> xa_mk_value(leaf) */
};

struct mock_dev {
	struct device dev;
	/*
	 * The attached domain. It changes under the group mutex and @dma_rwsem
	 * held for write; a mock DMA translates and copies each chunk with
	 * @dma_rwsem held for read, so once attach_dev() returned, no DMA
	 * uses the old domain, as with an IOMMU whose switch is atomic.
	 */
	struct iommu_domain *domain;
	struct rw_semaphore dma_rwsem;
	/* PASID -> domain, changed as @domain is */
	struct xarray pasid_domains;
	struct list_head resv;		/* struct iommu_resv_region */
	struct mutex resv_lock;
	/* struct mock_sva, under the group mutex */
	struct list_head svas;
	/* struct mock_prq waiting for their answer, under @prq_lock */
	struct list_head prqs;
	spinlock_t prq_lock; /* @prqs and @next_grpid */
	u32 next_grpid;
	/* answered Response Failure once: sends no page request any more */
	bool pri_off;
	int id;
};

/* A page request group a mock DMA waits on. */
struct mock_prq {
	struct list_head item;
	struct completion done;
	u32 grpid;
	u32 code;
};

/* PCI's page request group index has 9 bits; a group asks for 8 pages. */
#define MOCK_PRQ_GRPIDS		512
#define MOCK_PRQ_PAGES		8
#define MOCK_PRQ_TIMEOUT	(10 * HZ)

/* A kernel SVA bond of a mock device. */
struct mock_sva {
	struct iommu_sva sva;
	struct list_head item;
	struct mm_struct *mm;
	u32 pasid;
};

#define MOCK_PASIDS		BIT(20)

/*
 * Serializes the tests' SVA binds and unbinds, so that the bonds of a mock
 * device (changed by the IOMMU core under the group mutex, inside this)
 * can be looked up.
 */
static DEFINE_MUTEX(mock_sva_lock);

static struct bus_type mock_bus = {
	.name = "ioasid_mock",
};

static struct iommu_device mock_iommu;
static DEFINE_IDA(mock_ida);

static struct mock_domain *to_mock_domain(struct iommu_domain *domain)
{
	return container_of(domain, struct mock_domain, domain);
}

static unsigned int mock_shift(int level)
{
	return PAGE_SHIFT + 9 * level;
}

static unsigned int mock_index(unsigned long iova, int level)
{
	return (iova >> mock_shift(level)) & 511;
}

static u64 *mock_table(u64 pte)
{
	return phys_to_virt(pte & MOCK_PTE_ADDR);
}

/* Walk to the leaf mapping @iova; level and entry pointer out. */
static u64 *mock_walk(struct mock_domain *md, unsigned long iova, int *level)
{
	u64 *table = md->root;
	int lvl;

	lockdep_assert_held(&md->lock);
	for (lvl = MOCK_LEVELS - 1; lvl >= 0; lvl--) {
		u64 *pte = &table[mock_index(iova, lvl)];

		if (!(*pte & MOCK_PTE_PRESENT))
			return NULL;
		if (*pte & MOCK_PTE_LEAF) {
			*level = lvl;
			return pte;
		}
		table = mock_table(*pte);
	}
	return NULL;
}

/* Does @table, at @level, map nothing at all? */
static bool mock_table_empty(u64 *table, int level)
{
	int i;

	for (i = 0; i < 512; i++) {
		if (!(table[i] & MOCK_PTE_PRESENT))
			continue;
		if ((table[i] & MOCK_PTE_LEAF) || !level ||
		    !mock_table_empty(mock_table(table[i]), level - 1))
			return false;
	}
	return true;
}

static void mock_free_table(u64 *table, int level);

static int mock_map_one(struct mock_domain *md, unsigned long iova,
			phys_addr_t paddr, int leaf_level, u64 perm, gfp_t gfp)
{
	u64 *table = md->root;
	int lvl;

	for (lvl = MOCK_LEVELS - 1; lvl > leaf_level; lvl--) {
		u64 *pte = &table[mock_index(iova, lvl)];

		if (!(*pte & MOCK_PTE_PRESENT)) {
			u64 *next = (u64 *)get_zeroed_page(gfp);

			if (!next)
				return -ENOMEM;
			*pte = virt_to_phys(next) | MOCK_PTE_PRESENT;
		} else if (*pte & MOCK_PTE_LEAF) {
			return -EEXIST;
		}
		table = mock_table(*pte);
	}
	table += mock_index(iova, leaf_level);
	/* A large leaf replaces a table left empty by unmaps, as in HW. */
	if ((*table & MOCK_PTE_PRESENT) && !(*table & MOCK_PTE_LEAF) &&
	    leaf_level && mock_table_empty(mock_table(*table), leaf_level - 1)) {
		mock_free_table(mock_table(*table), leaf_level - 1);
		*table = 0;
	}
	if (*table & MOCK_PTE_PRESENT)
		return -EEXIST;
	*table = paddr | perm | MOCK_PTE_PRESENT | MOCK_PTE_LEAF;
	return 0;
}

static int mock_map_pages(struct iommu_domain *domain, unsigned long iova,
			  phys_addr_t paddr, size_t pgsize, size_t pgcount,
			  int prot, gfp_t gfp, size_t *mapped)
{
	struct mock_domain *md = to_mock_domain(domain);
	int level = (__ffs(pgsize) - PAGE_SHIFT) / 9;
	u64 perm = 0;
	size_t i;
	int rc = 0;

	if (prot & IOMMU_READ)
		perm |= MOCK_PTE_READ;
	if (prot & IOMMU_WRITE)
		perm |= MOCK_PTE_WRITE;
	if (prot & IOMMU_CACHE)
		perm |= MOCK_PTE_CACHE;
	mutex_lock(&md->lock);
	for (i = 0; i < pgcount; i++) {
		rc = mock_map_one(md, iova, paddr, level, perm, gfp);
		if (rc)
			break;
		iova += pgsize;
		paddr += pgsize;
		*mapped += pgsize;
	}
	mutex_unlock(&md->lock);
	return rc;
}

static size_t mock_unmap_pages(struct iommu_domain *domain, unsigned long iova,
			       size_t pgsize, size_t pgcount,
			       struct iommu_iotlb_gather *gather)
{
	struct mock_domain *md = to_mock_domain(domain);
	unsigned long end = iova + pgsize * pgcount;
	size_t unmapped = 0;
	int level;
	u64 *pte;

	mutex_lock(&md->lock);
	while (iova < end) {
		pte = mock_walk(md, iova, &level);
		if (!pte)
			break;
		*pte = 0;
		iova += 1UL << mock_shift(level);
		unmapped += 1UL << mock_shift(level);
	}
	mutex_unlock(&md->lock);
	return unmapped;
}

static phys_addr_t mock_iova_to_phys(struct iommu_domain *domain,
				     dma_addr_t iova)
{
	struct mock_domain *md = to_mock_domain(domain);
	phys_addr_t phys = 0;
	int level;
	u64 *pte;

	mutex_lock(&md->lock);
	pte = mock_walk(md, iova, &level);
	if (pte)
		phys = (*pte & MOCK_PTE_ADDR) +
		       (iova & ((1UL << mock_shift(level)) - 1));
	mutex_unlock(&md->lock);
	return phys;
}

/* Translate @iova of a paging mock domain for a read or a write. */
static int mock_translate(struct mock_domain *md, unsigned long iova,
			  bool write, phys_addr_t *phys)
{
	int rc = -EFAULT;
	int level;
	u64 *pte;

	mutex_lock(&md->lock);
	pte = mock_walk(md, iova, &level);
	if (pte && (*pte & (write ? MOCK_PTE_WRITE : MOCK_PTE_READ))) {
		*phys = (*pte & MOCK_PTE_ADDR) +
			(iova & ((1UL << mock_shift(level)) - 1));
		rc = 0;
	}
	mutex_unlock(&md->lock);
	return rc;
}

static void mock_free_table(u64 *table, int level)
{
	int i;

	for (i = 0; level > 0 && i < 512; i++)
		if ((table[i] & MOCK_PTE_PRESENT) && !(table[i] & MOCK_PTE_LEAF))
			mock_free_table(mock_table(table[i]), level - 1);
	free_page((unsigned long)table);
}

static void mock_domain_free(struct iommu_domain *domain)
{
	struct mock_domain *md = to_mock_domain(domain);

	mock_free_table(md->root, MOCK_LEVELS - 1);
	mutex_destroy(&md->lock);
	kfree(md);
}

static void mock_set_domain(struct device *dev, struct iommu_domain *domain)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);

	down_write(&mdev->dma_rwsem);
	mdev->domain = domain;
	up_write(&mdev->dma_rwsem);
}

static int mock_attach_dev(struct iommu_domain *domain, struct device *dev)
{
	mock_set_domain(dev, domain);
	return 0;
}

static void mock_detach_dev(struct iommu_domain *domain, struct device *dev)
{
	mock_set_domain(dev, NULL);
}

static int mock_set_dev_pasid(struct iommu_domain *domain, struct device *dev,
			      ioasid_t pasid)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	int rc;

	down_write(&mdev->dma_rwsem);
	rc = xa_err(xa_store(&mdev->pasid_domains, pasid, domain, GFP_KERNEL));
	up_write(&mdev->dma_rwsem);
	return rc;
}

static void mock_remove_dev_pasid(struct device *dev, ioasid_t pasid,
				  struct iommu_domain *domain)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);

	down_write(&mdev->dma_rwsem);
	xa_erase(&mdev->pasid_domains, pasid);
	up_write(&mdev->dma_rwsem);
}

/* Kernel SVA: only the PASID is real; the mock walks no CPU page table. */
static struct iommu_sva *mock_sva_bind(struct device *dev, struct mm_struct *mm,
				       void *drvdata)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	struct mock_sva *ms;
	int rc;

	rc = iommu_sva_alloc_pasid(mm, 1, MOCK_PASIDS - 1);
	if (rc)
		return ERR_PTR(rc);
	list_for_each_entry(ms, &mdev->svas, item)
		if (ms->mm == mm)
			return ERR_PTR(-EBUSY);
	ms = kzalloc(sizeof(*ms), GFP_KERNEL);
	if (!ms)
		return ERR_PTR(-ENOMEM);
	ms->sva.dev = dev;
	/* As a real bond does: the mm, and so its PASID, lasts until unbind */
	mmgrab(mm);
	ms->mm = mm;
	ms->pasid = mm->pasid;
	list_add(&ms->item, &mdev->svas);
	return &ms->sva;
}

static void mock_sva_unbind(struct iommu_sva *handle)
{
	struct mock_sva *ms = container_of(handle, struct mock_sva, sva);

	list_del(&ms->item);
	mmdrop(ms->mm);
	kfree(ms);
}

static u32 mock_sva_get_pasid(struct iommu_sva *handle)
{
	return container_of(handle, struct mock_sva, sva)->pasid;
}

/* The mock has no IOTLB: count the syncs the core asks for. */
static void mock_iotlb_sync(struct iommu_domain *domain,
			    struct iommu_iotlb_gather *gather)
{
	atomic64_inc(&to_mock_domain(domain)->iotlb_syncs);
}

static void mock_iotlb_sync_map(struct iommu_domain *domain,
				unsigned long iova, size_t size)
{
	atomic64_inc(&to_mock_domain(domain)->map_syncs);
}

static const struct iommu_domain_ops mock_domain_ops = {
	.attach_dev = mock_attach_dev,
	.detach_dev = mock_detach_dev,
	.set_dev_pasid = mock_set_dev_pasid,
	.map_pages = mock_map_pages,
	.unmap_pages = mock_unmap_pages,
	.iotlb_sync = mock_iotlb_sync,
	.iotlb_sync_map = mock_iotlb_sync_map,
	.iova_to_phys = mock_iova_to_phys,
	.free = mock_domain_free,
};

/* Nested domains ---------------------------------------------------------- */

static const struct iommu_domain_ops mock_nested_ops;

static struct mock_nested *to_mock_nested(struct iommu_domain *domain)
{
	return container_of(domain, struct mock_nested, domain);
}

/* Read the stage-1 entry at @gpa through the parent, as the IOMMU would. */
static int mock_s1_read(struct mock_nested *mn, u64 gpa, u64 *entry)
{
	phys_addr_t phys;
	u64 *va;
	int rc;

	rc = mock_translate(mn->parent, gpa, false, &phys);
	if (rc)
		return rc;
	va = kmap_local_page(pfn_to_page(PHYS_PFN(phys)));
	*entry = le64_to_cpu(*(__le64 *)((char *)va + offset_in_page(phys)));
	kunmap_local(va);
	return 0;
}

/* Walk the stage 1 to the leaf entry of @iova; -EFAULT when not present. */
static int mock_s1_walk(struct mock_nested *mn, unsigned long iova, u64 *leaf)
{
	u64 table = mn->root_gpa, entry;
	int lvl, rc;

	if (iova >> MOCK_IOVA_BITS)
		return -EFAULT;
	for (lvl = IOASID_TEST_S1_LEVELS - 1; lvl >= 0; lvl--) {
		rc = mock_s1_read(mn, table + 8 * mock_index(iova, lvl),
				  &entry);
		if (rc)
			return rc;
		if (!(entry & IOASID_TEST_S1_PRESENT))
			return -EFAULT;
		table = entry & IOASID_TEST_S1_ADDR;
	}
	/* Only what the format defines: the cache holds xarray values. */
	*leaf = entry & (IOASID_TEST_S1_ADDR | IOASID_TEST_S1_WRITE |
			 IOASID_TEST_S1_PRESENT);
	return 0;
}

/* The cached leaf of @iova, walked and cached on a miss. */
static int mock_s1_lookup(struct mock_nested *mn, unsigned long iova,
			  u64 *leaf)
{
	unsigned long index = iova >> PAGE_SHIFT;
	void *cached;
	int rc = 0;

	mutex_lock(&mn->lock);
	cached = xa_load(&mn->iotlb, index);
	if (cached) {
		*leaf = xa_to_value(cached);
		goto out_unlock;
	}
	rc = mock_s1_walk(mn, iova, leaf);
	if (!rc)
		rc = xa_err(xa_store(&mn->iotlb, index, xa_mk_value(*leaf),
				     GFP_KERNEL));
out_unlock:
	mutex_unlock(&mn->lock);
	return rc;
}

/* IOVA -> GPA by the (cached) stage 1, then GPA -> HPA by the parent. */
static int mock_nested_translate(struct mock_nested *mn, unsigned long iova,
				 bool write, phys_addr_t *phys)
{
	u64 leaf;
	int rc;

	rc = mock_s1_lookup(mn, iova, &leaf);
	if (rc)
		return rc;
	if (write && !(leaf & IOASID_TEST_S1_WRITE))
		return -EFAULT;
	return mock_translate(mn->parent,
			      (leaf & IOASID_TEST_S1_ADDR) + offset_in_page(iova),
			      write, phys);
}

/* Forget the cached leaves of IOVA pages [first, last]. */
static void mock_s1_forget(struct mock_nested *mn, unsigned long first,
			   unsigned long last)
{
	unsigned long index;
	void *entry;

	lockdep_assert_held(&mn->lock);
	xa_for_each_range(&mn->iotlb, index, entry, first, last)
		xa_erase(&mn->iotlb, index);
}

/* Check and carry out one invalidation entry. */
static int mock_s1_inv_one(struct mock_nested *mn,
			   const struct ioasid_test_s1_inv *inv)
{
	u64 last;

	if (inv->flags & ~IOASID_TEST_S1_INV_ALL || inv->__reserved)
		return -EINVAL;
	if (inv->flags & IOASID_TEST_S1_INV_ALL) {
		if (inv->iova || inv->length)
			return -EINVAL;
		last = U64_MAX;
	} else {
		if (!inv->length || !IS_ALIGNED(inv->iova, SZ_4K) ||
		    !IS_ALIGNED(inv->length, SZ_4K))
			return -EINVAL;
		if (check_add_overflow(inv->iova, inv->length - 1, &last))
			return -EOVERFLOW;
	}
	mutex_lock(&mn->lock);
	mock_s1_forget(mn, inv->iova >> PAGE_SHIFT,
		       min_t(u64, last >> PAGE_SHIFT, ULONG_MAX));
	mutex_unlock(&mn->lock);
	return 0;
}

static int mock_cache_invalidate_user(struct iommu_domain *domain,
				      const void __user *entries,
				      u32 entry_len, u32 *num)
{
	struct mock_nested *mn = to_mock_nested(domain);
	struct ioasid_test_s1_inv inv;
	u32 i;
	int rc = 0;

	if (entry_len < offsetofend(struct ioasid_test_s1_inv, length)) {
		*num = 0;
		return -EINVAL;
	}
	for (i = 0; i < *num; i++) {
		rc = copy_struct_from_user(&inv, sizeof(inv),
					   entries + (size_t)i * entry_len,
					   entry_len);
		if (!rc)
			rc = mock_s1_inv_one(mn, &inv);
		if (rc)
			break;
	}
	*num = i;
	return rc;
}

static void mock_nested_free(struct iommu_domain *domain)
{
	struct mock_nested *mn = to_mock_nested(domain);

	xa_destroy(&mn->iotlb);
	mutex_destroy(&mn->lock);
	kfree(mn);
}

static const struct iommu_domain_ops mock_nested_ops = {
	.attach_dev = mock_attach_dev,
	.detach_dev = mock_detach_dev,
	.set_dev_pasid = mock_set_dev_pasid,
	.cache_invalidate_user = mock_cache_invalidate_user,
	.free = mock_nested_free,
};

static u64 mock_nest_formats(struct device *dev)
{
	return BIT_ULL(IOASID_TEST_S1_FORMAT);
}

static struct iommu_domain *mock_domain_alloc(unsigned int type);

static struct iommu_domain *mock_domain_alloc_nest_parent(struct device *dev)
{
	struct iommu_domain *domain = mock_domain_alloc(IOMMU_DOMAIN_UNMANAGED);

	if (!domain)
		return ERR_PTR(-ENOMEM);
	to_mock_domain(domain)->nest_parent = true;
	return domain;
}

static struct iommu_domain *
mock_domain_alloc_nested(struct device *dev, struct iommu_domain *parent,
			 u32 format, const void __user *data, size_t len)
{
	struct ioasid_test_s1_hwpt desc;
	struct mock_nested *mn;
	int rc;

	if (parent->ops != &mock_domain_ops ||
	    !to_mock_domain(parent)->nest_parent)
		return ERR_PTR(-EINVAL);
	if (len < offsetofend(struct ioasid_test_s1_hwpt, root_gpa))
		return ERR_PTR(-EINVAL);
	rc = copy_struct_from_user(&desc, sizeof(desc), data, len);
	if (rc)
		return ERR_PTR(rc);
	if (desc.flags || desc.__reserved || !IS_ALIGNED(desc.root_gpa, SZ_4K) ||
	    desc.root_gpa >> MOCK_IOVA_BITS)
		return ERR_PTR(-EINVAL);
	mn = kzalloc(sizeof(*mn), GFP_KERNEL_ACCOUNT);
	if (!mn)
		return ERR_PTR(-ENOMEM);
	mn->parent = to_mock_domain(parent);
	mn->root_gpa = desc.root_gpa;
	mutex_init(&mn->lock);
	xa_init(&mn->iotlb);
	mn->domain.ops = &mock_nested_ops;
	return &mn->domain;
}

static struct iommu_domain *mock_domain_alloc(unsigned int type)
{
	struct mock_domain *md;

	if (type != IOMMU_DOMAIN_UNMANAGED)
		return NULL;
	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md)
		return NULL;
	md->root = (u64 *)get_zeroed_page(GFP_KERNEL);
	if (!md->root) {
		kfree(md);
		return NULL;
	}
	mutex_init(&md->lock);
	md->domain.geometry.aperture_start = 0;
	md->domain.geometry.aperture_end = BIT_ULL(MOCK_IOVA_BITS) - 1;
	md->domain.geometry.force_aperture = true;
	return &md->domain;
}

static struct iommu_device *mock_probe_device(struct device *dev)
{
	return &mock_iommu;
}

static void mock_release_device(struct device *dev)
{
}

static bool mock_capable(struct device *dev, enum iommu_cap cap)
{
	return cap == IOMMU_CAP_CACHE_COHERENCY || cap == IOMMU_CAP_INTR_REMAP ||
	       cap == IOMMU_CAP_FAULT_REPORTS;
}

static void mock_get_resv_regions(struct device *dev, struct list_head *head)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	struct iommu_resv_region *resv, *copy;

	mutex_lock(&mdev->resv_lock);
	list_for_each_entry(resv, &mdev->resv, list) {
		copy = iommu_alloc_resv_region(resv->start, resv->length, 0,
					       resv->type, GFP_KERNEL);
		if (copy)
			list_add_tail(&copy->list, head);
	}
	mutex_unlock(&mdev->resv_lock);
}

static int mock_page_response(struct device *dev,
			      struct iommu_fault_event *evt,
			      struct iommu_page_response *msg)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	struct mock_prq *prq;
	int rc = -EINVAL;

	spin_lock(&mdev->prq_lock);
	list_for_each_entry(prq, &mdev->prqs, item) {
		if (prq->grpid != msg->grpid)
			continue;
		prq->code = msg->code;
		list_del_init(&prq->item);
		complete(&prq->done);
		rc = 0;
		break;
	}
	spin_unlock(&mdev->prq_lock);
	return rc;
}

static const struct iommu_ops mock_ops = {
	.capable = mock_capable,
	.domain_alloc = mock_domain_alloc,
	.probe_device = mock_probe_device,
	.release_device = mock_release_device,
	.device_group = generic_device_group,
	.get_resv_regions = mock_get_resv_regions,
	.remove_dev_pasid = mock_remove_dev_pasid,
	.sva_bind = mock_sva_bind,
	.sva_unbind = mock_sva_unbind,
	.sva_get_pasid = mock_sva_get_pasid,
	.page_response = mock_page_response,
	.nest_formats = mock_nest_formats,
	.domain_alloc_nest_parent = mock_domain_alloc_nest_parent,
	.domain_alloc_nested = mock_domain_alloc_nested,
	.pgsize_bitmap = MOCK_PGSIZES,
	.owner = THIS_MODULE,
	.default_domain_ops = &mock_domain_ops,
};

/* Mock devices ----------------------------------------------------------- */

static void mock_dev_release(struct device *dev)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	struct iommu_resv_region *resv, *tmp;

	list_for_each_entry_safe(resv, tmp, &mdev->resv, list)
		kfree(resv);
	WARN_ON(!xa_empty(&mdev->pasid_domains));
	xa_destroy(&mdev->pasid_domains);
	mutex_destroy(&mdev->resv_lock);
	ida_free(&mock_ida, mdev->id);
	kfree(mdev);
}

static void mock_dev_destroy(struct device *dev)
{
	struct mock_dev *mdev = container_of(dev, struct mock_dev, dev);
	struct mock_sva *ms, *tmp;

	/* Bonds the test left, as a driver unbinds at its remove. */
	mutex_lock(&mock_sva_lock);
	list_for_each_entry_safe(ms, tmp, &mdev->svas, item)
		iommu_sva_unbind_device(&ms->sva);
	mutex_unlock(&mock_sva_lock);
	iommu_release_device(dev);
	device_unregister(dev);
}

static struct mock_dev *mock_dev_create(void)
{
	struct mock_dev *mdev;
	int rc;

	mdev = kzalloc(sizeof(*mdev), GFP_KERNEL_ACCOUNT);
	if (!mdev)
		return ERR_PTR(-ENOMEM);
	mdev->id = ida_alloc(&mock_ida, GFP_KERNEL);
	if (mdev->id < 0) {
		rc = mdev->id;
		kfree(mdev);
		return ERR_PTR(rc);
	}
	INIT_LIST_HEAD(&mdev->resv);
	INIT_LIST_HEAD(&mdev->svas);
	INIT_LIST_HEAD(&mdev->prqs);
	spin_lock_init(&mdev->prq_lock);
	xa_init(&mdev->pasid_domains);
	mutex_init(&mdev->resv_lock);
	init_rwsem(&mdev->dma_rwsem);
	device_initialize(&mdev->dev);
	mdev->dev.bus = &mock_bus;
	mdev->dev.release = mock_dev_release;
	rc = dev_set_name(&mdev->dev, "ioasid_mock%d", mdev->id);
	if (rc)
		goto err_put;
	rc = device_add(&mdev->dev);
	if (rc)
		goto err_put;
	rc = iommu_probe_device(&mdev->dev);
	if (rc) {
		device_del(&mdev->dev);
		goto err_put;
	}
	return mdev;

err_put:
	put_device(&mdev->dev);
	return ERR_PTR(rc);
}

static int test_mock_device(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	u32 pt_id = cmd->obj_id;
	int rc;

	mdev = mock_dev_create();
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	/* Not visible to userspace until it is complete. */
	idev = ioasid_device_new(call->ictx, &mdev->dev);
	if (IS_ERR(idev)) {
		mock_dev_destroy(&mdev->dev);
		return PTR_ERR(idev);
	}
	/* From here the device object owns the mock device. */
	idev->destroy_dev = mock_dev_destroy;
	if (cmd->mock.pasid_bits > 20) {
		rc = -EINVAL;
		goto err_destroy;
	}
	idev->max_pasids = 1U << (cmd->mock.pasid_bits ?: 20);
	rc = ioasid_device_attach(idev, &pt_id);
	if (rc)
		goto err_destroy;
	cmd->mock.out_dev_id = idev->obj.id;
	cmd->mock.out_hwpt_id = pt_id;
	rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
	if (rc)
		goto err_destroy;
	ioasid_obj_publish(&idev->obj);
	return 0;

err_destroy:
	ioasid_obj_abort(&idev->obj);
	return rc;
}

static struct mock_dev *test_get_mock_dev(struct ioasid_ctx *ictx, u32 id,
					  struct ioasid_device **idev)
{
	*idev = ioasid_get_device(ictx, id);
	if (IS_ERR(*idev))
		return ERR_CAST(*idev);
	if ((*idev)->dev->bus != &mock_bus) {
		ioasid_obj_done(&(*idev)->obj);
		return ERR_PTR(-EINVAL);
	}
	return container_of((*idev)->dev, struct mock_dev, dev);
}

static int test_mock_replace(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	u32 pt_id = cmd->move.pt_id;
	int rc;

	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	rc = ioasid_device_replace(idev, &pt_id);
	if (!rc) {
		cmd->move.out_hwpt_id = pt_id;
		rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
	}
	ioasid_obj_done(&idev->obj);
	return rc;
}

static int test_add_reserved(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct iommu_resv_region *resv;
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	int rc = 0;

	if (cmd->resv.first > cmd->resv.last || cmd->resv.last > ULONG_MAX ||
	    cmd->resv.type > IOASID_TEST_RESV_RELAXABLE)
		return -EINVAL;
	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	resv = iommu_alloc_resv_region(cmd->resv.first,
				       cmd->resv.last - cmd->resv.first + 1, 0,
				       cmd->resv.type == IOASID_TEST_RESV_RELAXABLE ?
				       IOMMU_RESV_DIRECT_RELAXABLE :
				       IOMMU_RESV_RESERVED, GFP_KERNEL_ACCOUNT);
	if (!resv) {
		rc = -ENOMEM;
		goto out_put;
	}
	mutex_lock(&mdev->resv_lock);
	list_add_tail(&resv->list, &mdev->resv);
	mutex_unlock(&mdev->resv_lock);
out_put:
	ioasid_obj_done(&idev->obj);
	return rc;
}

/*
 * Pins on the page mapped at @uptr: exact for an order-0 page; for a page
 * of a large folio only whether the folio is pinned (0 or 1).
 */
static int test_page_pins(unsigned long uptr, unsigned int *pins, bool *large)
{
	struct folio *folio;
	struct page *page;
	int rc;

	rc = get_user_pages_fast(uptr, 1, 0, &page);
	if (rc != 1)
		return rc < 0 ? rc : -EFAULT;
	folio = page_folio(page);
	*large = folio_test_large(folio);
	if (*large)
		*pins = folio_maybe_dma_pinned(folio) ? 1 : 0;
	else
		*pins = folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
	put_page(page);
	return 0;
}

static int test_check_refs(struct ioasid_call *call,
			   struct ioasid_test_cmd *cmd)
{
	unsigned long uptr = cmd->pins.uaddr, end;
	unsigned int pins, want;
	bool large;
	int rc;

	if (!PAGE_ALIGNED(uptr) || !PAGE_ALIGNED(cmd->pins.length) ||
	    check_add_overflow(uptr, (unsigned long)cmd->pins.length, &end))
		return -EINVAL;
	for (; uptr < end; uptr += PAGE_SIZE) {
		rc = test_page_pins(uptr, &pins, &large);
		if (rc)
			return rc;
		want = large ? !!cmd->pins.count : cmd->pins.count;
		if (pins != want)
			return -EINVAL;
	}
	return 0;
}

/* Copy one chunk inside a page between a bounce buffer and @phys. */
static void test_dma_copy(phys_addr_t phys, void *buf, size_t n, bool write)
{
	char *va = kmap_local_page(pfn_to_page(PHYS_PFN(phys)));

	if (write)
		memcpy(va + offset_in_page(phys), buf, n);
	else
		memcpy(buf, va + offset_in_page(phys), n);
	kunmap_local(va);
}

/* Translate @iova for a DMA in direction @write; 0 or -EFAULT. */
static int test_dma_translate(struct iommu_domain *domain, unsigned long iova,
			      bool write, phys_addr_t *phys)
{
	if (domain && domain->ops == &mock_domain_ops)
		return mock_translate(to_mock_domain(domain), iova, write, phys);
	if (domain && domain->ops == &mock_nested_ops)
		return mock_nested_translate(to_mock_nested(domain), iova,
					     write, phys);
	return -EFAULT;
}

/* The domain a DMA of @mdev tagged with @pasid (0: none) translates by. */
static struct iommu_domain *mock_dma_domain(struct mock_dev *mdev, u32 pasid)
{
	lockdep_assert_held(&mdev->dma_rwsem);
	return pasid ? xa_load(&mdev->pasid_domains, pasid) : mdev->domain;
}

static int mock_dma_translate(struct mock_dev *mdev, u32 pasid,
			      unsigned long iova, bool write, phys_addr_t *phys)
{
	int rc;

	down_read(&mdev->dma_rwsem);
	rc = test_dma_translate(mock_dma_domain(mdev, pasid), iova, write,
				phys);
	up_read(&mdev->dma_rwsem);
	return rc;
}

/* Report a blocked access as the IOMMU would: an unrecoverable fault. */
static void mock_report_dma_fault(struct mock_dev *mdev, u32 pasid,
				  unsigned long iova, bool write)
{
	struct iommu_fault_event evt = {};
	struct iommu_fault_unrecoverable *event = &evt.fault.event;
	struct iommu_domain *domain;
	bool present = false;

	down_read(&mdev->dma_rwsem);
	domain = mock_dma_domain(mdev, pasid);
	if (domain && domain->ops == &mock_domain_ops)
		present = mock_iova_to_phys(domain, iova);
	up_read(&mdev->dma_rwsem);
	evt.fault.type = IOMMU_FAULT_DMA_UNRECOV;
	event->reason = present ? IOMMU_FAULT_REASON_PERMISSION :
				  IOMMU_FAULT_REASON_PTE_FETCH;
	event->flags = IOMMU_FAULT_UNRECOV_ADDR_VALID;
	event->perm = write ? IOMMU_FAULT_PERM_WRITE : IOMMU_FAULT_PERM_READ;
	event->addr = iova;
	if (pasid) {
		event->flags |= IOMMU_FAULT_UNRECOV_PASID_VALID;
		event->pasid = pasid;
	}
	iommu_report_device_fault(&mdev->dev, &evt);
}

/* The pages of [@iova, @last] not mapped for the access, up to @max. */
static unsigned int mock_missing_pages(struct mock_dev *mdev, u32 pasid,
				       unsigned long iova, unsigned long last,
				       bool write, unsigned long *pages,
				       unsigned int max)
{
	unsigned long page = iova & PAGE_MASK;
	phys_addr_t phys;
	unsigned int n = 0;

	for (; page <= last && n < max; page += PAGE_SIZE) {
		if (mock_dma_translate(mdev, pasid, page, write, &phys))
			pages[n++] = page;
		if (page + PAGE_SIZE < page)
			break;
	}
	return n;
}

static struct mock_prq *mock_prq_new(struct mock_dev *mdev)
{
	struct mock_prq *prq = kzalloc(sizeof(*prq), GFP_KERNEL);

	if (!prq)
		return NULL;
	init_completion(&prq->done);
	spin_lock(&mdev->prq_lock);
	prq->grpid = mdev->next_grpid++ % MOCK_PRQ_GRPIDS;
	list_add_tail(&prq->item, &mdev->prqs);
	spin_unlock(&mdev->prq_lock);
	return prq;
}

/* Forget a group: answered already, or given up on. */
static void mock_prq_free(struct mock_dev *mdev, struct mock_prq *prq)
{
	spin_lock(&mdev->prq_lock);
	list_del(&prq->item);
	spin_unlock(&mdev->prq_lock);
	kfree(prq);
}

/* Send one group of page requests for @pages; 0 when all were taken. */
static int mock_prq_send(struct mock_dev *mdev, struct mock_prq *prq,
			 u32 pasid, const unsigned long *pages, unsigned int n,
			 bool write)
{
	struct iommu_fault_event evt = {};
	struct iommu_fault_page_request *prm = &evt.fault.prm;
	unsigned int i;
	int rc = 0;

	evt.fault.type = IOMMU_FAULT_PAGE_REQ;
	for (i = 0; i < n; i++) {
		prm->flags = i == n - 1 ? IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0;
		if (pasid)
			prm->flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID |
				      IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
		prm->pasid = pasid;
		prm->grpid = prq->grpid;
		prm->perm = write ? IOMMU_FAULT_PERM_WRITE :
				    IOMMU_FAULT_PERM_READ;
		prm->addr = pages[i];
		rc = iommu_report_device_fault(&mdev->dev, &evt);
	}
	/* Only the last request's failure counts: it is the group's. */
	return rc;
}

/*
 * Ask for the pages of [@iova, @last] that are missing, at most
 * MOCK_PRQ_PAGES in one group, and wait for the answer.
 * 0: retry; -EFAULT: the request was refused or answered with a failure;
 * -ETIMEDOUT or -EINTR: no answer.
 */
static int mock_page_request(struct mock_dev *mdev, u32 pasid,
			     unsigned long iova, unsigned long last, bool write)
{
	unsigned long pages[MOCK_PRQ_PAGES];
	struct mock_prq *prq;
	unsigned int n;
	long left;
	int rc;

	if (READ_ONCE(mdev->pri_off))
		return -EFAULT;
	n = mock_missing_pages(mdev, pasid, iova, last, write, pages,
			       ARRAY_SIZE(pages));
	if (!n)
		return 0;
	prq = mock_prq_new(mdev);
	if (!prq)
		return -ENOMEM;
	/* A refused group was answered Invalid Request, as by a driver. */
	if (mock_prq_send(mdev, prq, pasid, pages, n, write)) {
		mock_prq_free(mdev, prq);
		return -EFAULT;
	}
	left = wait_for_completion_killable_timeout(&prq->done,
						    MOCK_PRQ_TIMEOUT);
	rc = left > 0 ? 0 : left ? -EINTR : -ETIMEDOUT;
	if (!rc && prq->code == IOMMU_PAGE_RESP_FAILURE)
		WRITE_ONCE(mdev->pri_off, true);
	if (!rc && prq->code != IOMMU_PAGE_RESP_SUCCESS)
		rc = -EFAULT;
	mock_prq_free(mdev, prq);
	return rc;
}

/* One chunk within a page; with @pri, missing pages are asked for. */
static int mock_dma_chunk(struct mock_dev *mdev, struct ioasid_test_cmd *cmd,
			  unsigned long iova, unsigned long last, void *buf,
			  size_t n)
{
	bool write = cmd->dma.dir == IOASID_TEST_DMA_WRITE;
	bool pri = cmd->flags & IOASID_TEST_DMA_PRI;
	unsigned int tries = 0;
	phys_addr_t phys;
	int rc;

	for (;;) {
		down_read(&mdev->dma_rwsem);
		rc = test_dma_translate(mock_dma_domain(mdev, cmd->dma.pasid),
					iova, write, &phys);
		if (!rc)
			test_dma_copy(phys, buf, n, write);
		up_read(&mdev->dma_rwsem);
		if (!rc)
			return 0;
		if (!pri) {
			mock_report_dma_fault(mdev, cmd->dma.pasid, iova, write);
			return rc;
		}
		/* Success with the page still missing: ask again, twice. */
		if (++tries > 3)
			return -EFAULT;
		rc = mock_page_request(mdev, cmd->dma.pasid, iova, last, write);
		if (rc)
			return rc;
	}
}

static int test_dma(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	bool write = cmd->dma.dir == IOASID_TEST_DMA_WRITE;
	void __user *uptr = u64_to_user_ptr(cmd->dma.uaddr);
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	unsigned long iova = cmd->dma.iova;
	u64 done = 0, last = 0;
	void *buf;
	int rc = 0;

	if (cmd->dma.dir > IOASID_TEST_DMA_WRITE ||
	    (cmd->flags & ~IOASID_TEST_DMA_PRI))
		return -EINVAL;
	if (cmd->dma.length &&
	    (check_add_overflow(cmd->dma.iova, cmd->dma.length - 1, &last) ||
	     last > ULONG_MAX))
		return -EOVERFLOW;
	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	/* Bus mastering off: the device issues nothing. */
	rc = ioasid_device_dma_blocked(idev) ? -EIO : 0;
	if (rc)
		goto out_put;
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	rc = buf ? 0 : -ENOMEM;
	if (rc)
		goto out_put;
	while (done < cmd->dma.length) {
		size_t n = min_t(u64, cmd->dma.length - done,
				 PAGE_SIZE - offset_in_page(iova));

		if (write && copy_from_user(buf, uptr + done, n)) {
			rc = -EFAULT;
			break;
		}
		rc = mock_dma_chunk(mdev, cmd, iova, last, buf, n);
		if (rc)
			break;
		if (!write && copy_to_user(uptr + done, buf, n)) {
			rc = -EFAULT;
			break;
		}
		done += n;
		iova += n;
	}
	kfree(buf);
	cmd->dma.out_done = done;
	if (rc == -EFAULT)
		ioasid_call_reply(call, cmd, sizeof(*cmd));
	else if (!rc)
		rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
out_put:
	ioasid_obj_done(&idev->obj);
	return rc;
}

static int test_iopte(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_object *obj;
	struct mock_domain *md;
	struct ioasid_hwpt *hwpt;
	int level, rc = 0;
	u64 *pte;

	hwpt = ioasid_get_hwpt(call->ictx, cmd->obj_id);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	obj = &hwpt->obj;
	if (hwpt->domain->ops != &mock_domain_ops) {
		rc = -EINVAL;
		goto out_put;
	}
	md = to_mock_domain(hwpt->domain);
	mutex_lock(&md->lock);
	pte = mock_walk(md, cmd->iopte.iova, &level);
	if (pte) {
		cmd->iopte.out_size = 1UL << mock_shift(level);
		cmd->iopte.out_phys = (*pte & MOCK_PTE_ADDR) +
			(cmd->iopte.iova & (cmd->iopte.out_size - 1));
		cmd->iopte.out_prot =
			((*pte & MOCK_PTE_READ) ? IOMMU_READ : 0) |
			((*pte & MOCK_PTE_WRITE) ? IOMMU_WRITE : 0) |
			((*pte & MOCK_PTE_CACHE) ? IOMMU_CACHE : 0);
	} else {
		rc = -ENOENT;
	}
	mutex_unlock(&md->lock);
	if (!rc)
		rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
out_put:
	ioasid_obj_done(obj);
	return rc;
}

static int test_sync_count(struct ioasid_call *call,
			   struct ioasid_test_cmd *cmd)
{
	struct ioasid_hwpt *hwpt;
	struct mock_domain *md;
	int rc;

	hwpt = ioasid_get_hwpt(call->ictx, cmd->obj_id);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	if (hwpt->domain->ops != &mock_domain_ops) {
		rc = -EINVAL;
		goto out_done;
	}
	md = to_mock_domain(hwpt->domain);
	cmd->syncs.out_iotlb_syncs = atomic64_read(&md->iotlb_syncs);
	cmd->syncs.out_map_syncs = atomic64_read(&md->map_syncs);
	rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
out_done:
	ioasid_obj_done(&hwpt->obj);
	return rc;
}

/* Test accesses ------------------------------------------------------------ */

struct mock_pin {
	struct list_head item;
	unsigned long iova;
	unsigned long length;
};

struct mock_access {
	struct ioasid_access *access;
	struct mutex lock;	/* pins and the counters */
	struct list_head pins;
	u64 calls;
	u64 last_iova;
	u64 last_length;
	u64 max_length;
};

/* Unpin what the access recorded in [iova, last]. Holds ma->lock. */
static void mock_access_unpin(struct mock_access *ma, unsigned long iova,
			      unsigned long last)
{
	struct mock_pin *pin, *tmp;

	lockdep_assert_held(&ma->lock);
	list_for_each_entry_safe(pin, tmp, &ma->pins, item) {
		if (pin->iova > last || pin->iova + pin->length - 1 < iova)
			continue;
		ioasid_access_unpin_pages(ma->access, pin->iova, pin->length);
		list_del(&pin->item);
		kfree(pin);
	}
}

static void mock_access_unmap(void *data, unsigned long iova,
			      unsigned long length)
{
	struct mock_access *ma = data;

	mutex_lock(&ma->lock);
	ma->calls++;
	ma->last_iova = iova;
	ma->last_length = length;
	ma->max_length = max_t(u64, ma->max_length, length);
	mock_access_unpin(ma, iova, iova + length - 1);
	mutex_unlock(&ma->lock);
}

static void mock_access_destroy(void *data)
{
	struct mock_access *ma = data;

	mutex_lock(&ma->lock);
	mock_access_unpin(ma, 0, ULONG_MAX);
	mutex_unlock(&ma->lock);
	mutex_destroy(&ma->lock);
	kfree(ma);
}

static const struct ioasid_access_ops mock_access_ops = {
	.needs_pin_pages = 1,
	.unmap = mock_access_unmap,
};

static int test_access_create(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_access *access;
	struct mock_access *ma;
	int rc;

	ma = kzalloc(sizeof(*ma), GFP_KERNEL_ACCOUNT);
	if (!ma)
		return -ENOMEM;
	mutex_init(&ma->lock);
	INIT_LIST_HEAD(&ma->pins);
	/* Not visible to userspace until it is complete. */
	access = ioasid_access_new(call->ictx, &mock_access_ops, ma);
	if (IS_ERR(access)) {
		mutex_destroy(&ma->lock);
		kfree(ma);
		return PTR_ERR(access);
	}
	ma->access = access;
	access->destroy_data = mock_access_destroy;
	if (cmd->access.pasid)
		rc = ioasid_access_attach_pasid(access, cmd->obj_id,
						cmd->access.pasid);
	else
		rc = ioasid_access_attach(access, cmd->obj_id);
	if (!rc) {
		cmd->access.out_access_id = access->obj.id;
		rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
	}
	if (rc)
		ioasid_obj_abort(&access->obj);
	else
		ioasid_obj_publish(&access->obj);
	return rc;
}

static struct mock_access *test_get_access(struct ioasid_ctx *ictx, u32 id,
					   struct ioasid_object **obj)
{
	struct ioasid_access *access;

	*obj = ioasid_obj_find(ictx, id, &ioasid_access_ops);
	if (IS_ERR(*obj))
		return ERR_CAST(*obj);
	access = container_of(*obj, struct ioasid_access, obj);
	if (access->ops != &mock_access_ops) {
		ioasid_obj_done(*obj);
		return ERR_PTR(-EINVAL);
	}
	return access->data;
}

static int test_access_pin(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_object *obj;
	struct mock_access *ma;
	struct mock_pin *pin;
	struct page **pages;
	int rc;

	if (!PAGE_ALIGNED(cmd->access.length) || !cmd->access.length ||
	    cmd->access.length > SZ_64M)
		return -EINVAL;
	ma = test_get_access(call->ictx, cmd->obj_id, &obj);
	if (IS_ERR(ma))
		return PTR_ERR(ma);
	pin = kzalloc(sizeof(*pin), GFP_KERNEL_ACCOUNT);
	pages = kvcalloc(cmd->access.length >> PAGE_SHIFT, sizeof(*pages),
			 GFP_KERNEL_ACCOUNT);
	if (!pin || !pages) {
		rc = -ENOMEM;
		goto out_free;
	}
	mutex_lock(&ma->lock);
	rc = ioasid_access_pin_pages(ma->access, cmd->access.iova,
				     cmd->access.length, pages, 0);
	if (!rc) {
		pin->iova = cmd->access.iova;
		pin->length = cmd->access.length;
		list_add_tail(&pin->item, &ma->pins);
		pin = NULL;
	}
	mutex_unlock(&ma->lock);
out_free:
	kvfree(pages);
	kfree(pin);
	ioasid_obj_done(obj);
	return rc;
}

static int test_access_rw(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	bool write = cmd->access.dir == IOASID_TEST_DMA_WRITE;
	void __user *uptr = u64_to_user_ptr(cmd->access.uaddr);
	struct ioasid_object *obj;
	struct mock_access *ma;
	void *buf;
	int rc;

	if (cmd->access.dir > IOASID_TEST_DMA_WRITE || !cmd->access.length ||
	    cmd->access.length > SZ_1M)
		return -EINVAL;
	ma = test_get_access(call->ictx, cmd->obj_id, &obj);
	if (IS_ERR(ma))
		return PTR_ERR(ma);
	buf = kvzalloc(cmd->access.length, GFP_KERNEL_ACCOUNT);
	if (!buf) {
		rc = -ENOMEM;
		goto out_put;
	}
	rc = 0;
	if (write && copy_from_user(buf, uptr, cmd->access.length))
		rc = -EFAULT;
	if (!rc)
		rc = ioasid_access_rw(ma->access, cmd->access.iova, buf,
				      cmd->access.length,
				      write ? IOASID_ACCESS_WRITE : 0);
	if (!rc && !write && copy_to_user(uptr, buf, cmd->access.length))
		rc = -EFAULT;
	kvfree(buf);
out_put:
	ioasid_obj_done(obj);
	return rc;
}

static int test_access_unpin(struct ioasid_call *call,
			     struct ioasid_test_cmd *cmd)
{
	struct ioasid_object *obj;
	struct mock_access *ma;
	struct mock_pin *pin;
	int rc;

	ma = test_get_access(call->ictx, cmd->obj_id, &obj);
	if (IS_ERR(ma))
		return PTR_ERR(ma);
	mutex_lock(&ma->lock);
	rc = ioasid_access_unpin_pages(ma->access, cmd->access.iova,
				       cmd->access.length);
	list_for_each_entry(pin, &ma->pins, item) {
		if (!rc && pin->iova == cmd->access.iova &&
		    pin->length == cmd->access.length) {
			list_del(&pin->item);
			kfree(pin);
			break;
		}
	}
	mutex_unlock(&ma->lock);
	ioasid_obj_done(obj);
	return rc;
}

static int test_access_notified(struct ioasid_call *call,
				struct ioasid_test_cmd *cmd)
{
	struct ioasid_object *obj;
	struct mock_access *ma;

	ma = test_get_access(call->ictx, cmd->obj_id, &obj);
	if (IS_ERR(ma))
		return PTR_ERR(ma);
	mutex_lock(&ma->lock);
	cmd->notified.out_calls = ma->calls;
	cmd->notified.out_last_iova = ma->last_iova;
	cmd->notified.out_last_length = ma->last_length;
	cmd->notified.out_max_length = ma->max_length;
	mutex_unlock(&ma->lock);
	ioasid_obj_done(obj);
	return ioasid_call_reply(call, cmd, sizeof(*cmd));
}

static int test_pasid(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	u32 pt_id = cmd->pasid.pt_id;
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	int rc = 0;

	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	switch (cmd->pasid.op) {
	case IOASID_TEST_PASID_ATTACH:
		rc = ioasid_device_attach_pasid(idev, cmd->pasid.pasid, &pt_id);
		break;
	case IOASID_TEST_PASID_REPLACE:
		rc = ioasid_device_replace_pasid(idev, cmd->pasid.pasid,
						 &pt_id);
		break;
	case IOASID_TEST_PASID_DETACH:
		ioasid_device_detach_pasid(idev, cmd->pasid.pasid);
		break;
	default:
		rc = -EINVAL;
	}
	if (!rc) {
		cmd->pasid.out_hwpt_id = pt_id;
		rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
	}
	ioasid_obj_done(&idev->obj);
	return rc;
}

static int test_sva_bind(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	struct ioasid_device *idev;
	struct iommu_sva *handle;
	struct mock_dev *mdev;
	int rc;

	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	mutex_lock(&mock_sva_lock);
	handle = iommu_sva_bind_device(&mdev->dev, current->mm, NULL);
	if (IS_ERR(handle)) {
		rc = PTR_ERR(handle);
		goto out_unlock;
	}
	cmd->sva.pasid = iommu_sva_get_pasid(handle);
	rc = ioasid_call_reply(call, cmd, sizeof(*cmd));
	if (rc)
		iommu_sva_unbind_device(handle);
out_unlock:
	mutex_unlock(&mock_sva_lock);
	ioasid_obj_done(&idev->obj);
	return rc;
}

static int test_sva_unbind(struct ioasid_call *call,
			   struct ioasid_test_cmd *cmd)
{
	struct iommu_sva *handle = NULL;
	struct ioasid_device *idev;
	struct mock_dev *mdev;
	struct mock_sva *ms;

	mdev = test_get_mock_dev(call->ictx, cmd->obj_id, &idev);
	if (IS_ERR(mdev))
		return PTR_ERR(mdev);
	mutex_lock(&mock_sva_lock);
	list_for_each_entry(ms, &mdev->svas, item)
		if (ms->pasid == cmd->sva.pasid)
			handle = &ms->sva;
	if (handle)
		iommu_sva_unbind_device(handle);
	mutex_unlock(&mock_sva_lock);
	ioasid_obj_done(&idev->obj);
	return handle ? 0 : -ENOENT;
}

static int test_charges(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	cmd->charges.out_locked = atomic_long_read(&call->ictx->locked_pages);
	cmd->charges.out_pinned = atomic_long_read(&call->ictx->pinned_pages);
	return ioasid_call_reply(call, cmd, sizeof(*cmd));
}

typedef int (*test_op_t)(struct ioasid_call *call,
			 struct ioasid_test_cmd *cmd);

/* The operations, by enum ioasid_test_op less the first one. */
#define TEST_IDX(op) ((op) - IOASID_TEST_MOCK_DEVICE)
static const test_op_t test_ops[] = {
	[TEST_IDX(IOASID_TEST_MOCK_DEVICE)] = test_mock_device,
	[TEST_IDX(IOASID_TEST_RESERVE)] = test_add_reserved,
	[TEST_IDX(IOASID_TEST_PIN_COUNT)] = test_check_refs,
	[TEST_IDX(IOASID_TEST_DMA)] = test_dma,
	[TEST_IDX(IOASID_TEST_IOPTE)] = test_iopte,
	[TEST_IDX(IOASID_TEST_SYNC_COUNT)] = test_sync_count,
	[TEST_IDX(IOASID_TEST_CHARGES)] = test_charges,
	[TEST_IDX(IOASID_TEST_ACCESS_CREATE)] = test_access_create,
	[TEST_IDX(IOASID_TEST_ACCESS_PIN)] = test_access_pin,
	[TEST_IDX(IOASID_TEST_ACCESS_RW)] = test_access_rw,
	[TEST_IDX(IOASID_TEST_MOCK_MOVE)] = test_mock_replace,
	[TEST_IDX(IOASID_TEST_ACCESS_UNPIN)] = test_access_unpin,
	[TEST_IDX(IOASID_TEST_ACCESS_NOTIFIED)] = test_access_notified,
	[TEST_IDX(IOASID_TEST_PASID)] = test_pasid,
	[TEST_IDX(IOASID_TEST_SVA_BIND)] = test_sva_bind,
	[TEST_IDX(IOASID_TEST_SVA_UNBIND)] = test_sva_unbind,
};

static int test_run(struct ioasid_call *call, struct ioasid_test_cmd *cmd)
{
	unsigned int idx = TEST_IDX(cmd->op);

	if (cmd->op < IOASID_TEST_MOCK_DEVICE || idx >= ARRAY_SIZE(test_ops))
		return -EOPNOTSUPP;
	return test_ops[idx](call, cmd);
}

/**
 * ioasid_test_ioctl() - IOASID_TEST
 * @call: the command in flight
 *
 * Context: process context; may sleep.
 * Return: 0 or an errno; see enum ioasid_test_op.
 */
int ioasid_test_ioctl(struct ioasid_call *call)
{
	struct ioasid_test_cmd cmd;
	int rc;

	/* Not a stable ABI: the whole structure, always. */
	rc = ioasid_call_fetch(call, &cmd, sizeof(cmd), sizeof(cmd));
	if (rc)
		return rc;
	if ((cmd.flags && cmd.op != IOASID_TEST_DMA) || cmd.__rsvd)
		return -EOPNOTSUPP;
	return test_run(call, &cmd);
}

/**
 * ioasid_test_init() - register the mock bus and IOMMU
 *
 * Return: 0 or an errno.
 */
int ioasid_test_init(void)
{
	int rc;

	rc = bus_register(&mock_bus);
	if (rc)
		return rc;
	/* The IOMMU core links every probed device to the IOMMU in sysfs. */
	rc = iommu_device_sysfs_add(&mock_iommu, NULL, NULL, "ioasid-mock");
	if (rc) {
		bus_unregister(&mock_bus);
		return rc;
	}
	mock_iommu.ops = &mock_ops;
	mock_iommu.max_pasids = MOCK_PASIDS;
	mock_bus.iommu_ops = &mock_ops;
	return 0;
}

/**
 * ioasid_test_exit() - unregister the mock bus
 */
void ioasid_test_exit(void)
{
	mock_bus.iommu_ops = NULL;
	iommu_device_sysfs_remove(&mock_iommu);
	bus_unregister(&mock_bus);
}
