// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pinned user pages and their accounting.
 *
 * A struct ioasid_pages is built by one IOASID_IOAS_MAP: the user range is
 * charged to RLIMIT_MEMLOCK first, before anything is allocated for it,
 * then pinned with FOLL_LONGTERM in batches. Every area that maps it, in
 * any IOAS, through IOASID_IOAS_COPY too, shares it by reference, so a
 * page is pinned and charged once however many domains or copies use it.
 *
 * Each area registers the page indexes it uses (ioasid_pages_use()). When
 * an area goes (ioasid_pages_unuse()), the pages no other area covers any
 * more are unpinned and uncharged at once: after a partial copy and an
 * unmap of the original, only what the copy maps stays pinned. The last
 * reference releases whatever is left.
 *
 * The page pointers are kept in chunks of one page each, in an xarray
 * indexed by chunk: no allocation is proportional to the whole range, and
 * a chunk is only allocated when its pages are being pinned. A chunk whose
 * pages turn out to be physically contiguous, all pinned (a 2 MiB THP or
 * hugetlbfs page under a 2 MiB aligned chunk, a single page, a BAR), is
 * stored as its first PFN in an xarray value entry instead, and its array
 * freed: such memory costs no per-page metadata. Unpinning part of such a
 * chunk turns it back into an array. Domains are filled from them in
 * physically contiguous runs (ioasid_pages_run()), never one page at a
 * time.
 *
 * Once an area of a map is in an IOMMU domain, a chunk that is still an
 * array is stored in that domain instead: its array is freed and the
 * chunk reads its PFNs back from the domain's IOPTEs (iommu_iova_to_phys()),
 * as VFIO type1 does for all of its pages. Fragmented 4K memory then costs
 * no per-page metadata either. The rules are in "Stored chunks" below.
 */
#include <linux/interval_tree.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/* Page pointers per chunk: one page of them. */
#define IOASID_CHUNK_PAGES (PAGE_SIZE / sizeof(struct page *))

/**
 * ioasid_acct_user() - charge pages to a user's RLIMIT_MEMLOCK
 * @user: the user
 * @npages: pages to charge
 *
 * Return: 0, or -ENOMEM with nothing charged when the limit (unless the
 * caller has CAP_IPC_LOCK) or the counter would overflow.
 */
int ioasid_acct_user(struct user_struct *user, unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur, new;

	do {
		cur = atomic_long_read(&user->locked_vm);
		if (check_add_overflow(cur, npages, &new))
			return -ENOMEM;
		if (new > limit && !capable(CAP_IPC_LOCK))
			return -ENOMEM;
	} while (atomic_long_cmpxchg(&user->locked_vm, cur, new) != cur);
	return 0;
}

/*
 * The user whose credentials opened @ictx's file. The file holds them until
 * it is freed, after its release: pages charged to this user, every pages
 * of the file whose caller is its opener, borrow that reference rather
 * than take one each, and their charges are the ones a batch settles.
 */
static struct user_struct *ctx_user(struct ioasid_ctx *ictx)
{
	return ictx->file->f_cred->user;
}

/* Are @pages charged to the user of their context's file? */
static bool pages_ctx_user(struct ioasid_pages *pages)
{
	return pages->user && pages->user == ctx_user(pages->ictx);
}

/**
 * ioasid_acct_prepay() - charge the pins of a whole call at once
 * @batch: the call's batch, with @ictx set and nothing charged
 * @acct_mode: enum ioasid_acct_mode its pins will charge with
 * @npages: pages the call will pin in all
 *
 * A vector of maps charges its user's RLIMIT_MEMLOCK and the context's
 * count once, where every pin would touch those shared counters on its
 * own; ioasid_pages_pin() takes its part from @batch, and
 * ioasid_acct_settle() gives back what no pin took. Only pins charged to
 * the user of the context's file are prepaid. When the whole would go over
 * the limit nothing is prepaid, so each pin charges, and the first one the
 * limit refuses fails, on its own.
 *
 * Context: process context.
 */
void ioasid_acct_prepay(struct ioasid_acct_batch *batch, u8 acct_mode,
			unsigned long npages)
{
	struct user_struct *user = ctx_user(batch->ictx);

	if (acct_mode != IOASID_ACCT_USER || current_user() != user)
		return;
	if (ioasid_acct_user(user, npages))
		return;
	atomic_long_add(npages, &batch->ictx->locked_pages);
	batch->charged = npages;
}

/**
 * ioasid_acct_settle() - give back what a batch holds
 * @batch: the batch, of a map (what no pin took) or of unpins; with no
 *	   @ictx yet, nothing
 *
 * Uncharges @batch->charged pages from the user of the context's file and
 * from the context, and takes @batch->unpinned off its pinned count.
 *
 * Context: any.
 */
void ioasid_acct_settle(struct ioasid_acct_batch *batch)
{
	struct ioasid_ctx *ictx = batch->ictx;

	if (!ictx)
		return;
	if (batch->charged) {
		atomic_long_sub(batch->charged, &ctx_user(ictx)->locked_vm);
		atomic_long_sub(batch->charged, &ictx->locked_pages);
	}
	if (batch->unpinned)
		atomic_long_sub(batch->unpinned, &ictx->pinned_pages);
	batch->charged = 0;
	batch->unpinned = 0;
}

/*
 * The chunk holding page @index, and the offset of @index in it: an array
 * of struct page pointers, or of PFNs for memory with no struct page
 * (pages.pfnmap); or a value entry, the PFN of the chunk's first page.
 */
static void *pages_chunk(struct ioasid_pages *pages, unsigned long index,
			 unsigned long *off)
{
	*off = index % IOASID_CHUNK_PAGES;
	return xa_load(&pages->chunks, index / IOASID_CHUNK_PAGES);
}

/*
 * Stored chunks. The pages of a stored chunk are mapped at
 * store_iova + index * PAGE_SIZE in store_domain, a domain of the IOVA map
 * whose iopt.domains_rwsem is store_lock, that can read an IOPTE back; the
 * chunk's entry is CHUNK_STORED.
 *
 * - Only pages that one IOAS maps are stored: a copy into another IOAS
 *   marks them shared and gives their chunks arrays back for good.
 * - A chunk is stored when an area of a map is published into an IOAS
 *   with a domain (the pages are new, nobody else reads them), or when
 *   a domain is added (iopt.domains_rwsem held for writing).
 * - A stored PFN is read with store_lock held: the
 *   domain's page table is neither emptied nor reshaped by an attach
 *   (ioasid_iopt_freeze_domains()) meanwhile.
 * - Before IOPTEs of stored chunks are cleared (an unmap, a domain
 *   removed), the chunks get arrays back (ioasid_pages_unstore()), read
 *   from the domain: an array replaces the entry only once filled, so a
 *   concurrent reader finds either. Pages are unpinned from arrays only.
 */
#define CHUNK_STORED xa_mk_value(LONG_MAX)

static bool chunk_stored(void *chunk)
{
	return chunk == CHUNK_STORED;
}

/* The PFN of page @index of a stored chunk, from its IOPTE */
static unsigned long stored_pfn(struct ioasid_pages *pages,
				unsigned long index)
{
	phys_addr_t phys;

	lockdep_assert_held(pages->store_lock);
	phys = iommu_iova_to_phys(pages->store_domain,
				  pages->store_iova + index * PAGE_SIZE);
	/* A stored page's IOPTE is cleared only after its unstore. */
	IOASID_WARN_ON(!phys);
	return PHYS_PFN(phys);
}

/* The PFN at @off of a chunk that is not stored */
static unsigned long chunk_pfn(struct ioasid_pages *pages, void *chunk,
			       unsigned long off)
{
	if (xa_is_value(chunk))
		return xa_to_value(chunk) + off;
	if (pages->pfnmap)
		return ((unsigned long *)chunk)[off];
	return page_to_pfn(((struct page **)chunk)[off]);
}

static struct page *chunk_page(void *chunk, unsigned long off)
{
	if (xa_is_value(chunk))
		return pfn_to_page(xa_to_value(chunk) + off);
	return ((struct page **)chunk)[off];
}

/* Pages in chunk @c */
static unsigned long chunk_len(struct ioasid_pages *pages, unsigned long c)
{
	return min(pages->npages - c * IOASID_CHUNK_PAGES, IOASID_CHUNK_PAGES);
}

/* The PFN of page @index, pinned, in any chunk */
static unsigned long pages_pfn(struct ioasid_pages *pages, unsigned long index)
{
	unsigned long off;
	void *chunk = pages_chunk(pages, index, &off);

	if (chunk_stored(chunk))
		return stored_pfn(pages, index);
	return chunk_pfn(pages, chunk, off);
}

/**
 * ioasid_pages_page() - the page at an index
 * @pages: pages with struct pages (not pfnmap)
 * @index: page index, covered by an area
 *
 * Context: holds the iopt.domains_rwsem of an IOAS mapping @index.
 * Return: the pinned page.
 */
struct page *ioasid_pages_page(struct ioasid_pages *pages, unsigned long index)
{
	return pfn_to_page(pages_pfn(pages, index));
}

/**
 * ioasid_pages_copy() - copy out the page pointers of an index range
 * @pages: pages with struct pages (not pfnmap)
 * @index: first index, the range covered by an area
 * @n: number of pages
 * @out: array of @n entries
 *
 * Context: holds the iopt.domains_rwsem of an IOAS mapping the range.
 */
void ioasid_pages_copy(struct ioasid_pages *pages, unsigned long index,
		       unsigned long n, struct page **out)
{
	while (n) {
		unsigned long off, i;
		void *chunk = pages_chunk(pages, index, &off);
		unsigned long k = min(n, IOASID_CHUNK_PAGES - off);

		if (chunk_stored(chunk)) {
			for (i = 0; i < k; i++)
				out[i] = pfn_to_page(stored_pfn(pages,
								index + i));
		} else if (xa_is_value(chunk)) {
			for (i = 0; i < k; i++)
				out[i] = chunk_page(chunk, off + i);
		} else {
			memcpy(out, (struct page **)chunk + off,
			       k * sizeof(*out));
		}
		out += k;
		index += k;
		n -= k;
	}
}

/**
 * ioasid_pages_run() - the physically contiguous run at @index
 * @pages: pages
 * @index: first page of the run
 * @max: the run stops after at most this many pages
 * @pfn: out, the PFN of page @index
 *
 * Domains are filled a run at a time: one lookup of the chunk gives both
 * the run and its first PFN.
 *
 * Context: holds the iopt.domains_rwsem of an IOAS mapping the range.
 * Return: number of pages, at least 1, from @index whose PFNs follow each
 * other.
 */
unsigned long ioasid_pages_run(struct ioasid_pages *pages,
			       unsigned long index, unsigned long max,
			       unsigned long *pfn)
{
	unsigned long off, first, n = 0;
	void *chunk = pages_chunk(pages, index, &off);

	first = chunk_stored(chunk) ? stored_pfn(pages, index) :
				      chunk_pfn(pages, chunk, off);
	*pfn = first;
	while (n < max) {
		unsigned long k = 1;

		if (chunk_stored(chunk)) {
			if (n && stored_pfn(pages, index + n) != first + n)
				break;
		} else {
			if (chunk_pfn(pages, chunk, off) != first + n)
				break;
			/* A contiguous chunk continues the run to its end. */
			if (xa_is_value(chunk))
				k = min(max - n, IOASID_CHUNK_PAGES - off);
		}
		n += k;
		off += k;
		if (off == IOASID_CHUNK_PAGES && n < max)
			chunk = pages_chunk(pages, index + n, &off);
	}
	return n;
}

/* Charge @n pages to the user or mm of @pages. */
static int pages_charge(struct ioasid_pages *pages, unsigned long n)
{
	int rc;

	if (pages->user)
		rc = ioasid_acct_user(pages->user, n);
	else
		rc = account_locked_vm(pages->mm, n, true);
	if (!rc)
		atomic_long_add(n, &pages->ictx->locked_pages);
	return rc;
}

static void pages_uncharge(struct ioasid_pages *pages, unsigned long n)
{
	if (pages->user)
		atomic_long_sub(n, &pages->user->locked_vm);
	else
		account_locked_vm(pages->mm, n, false);
	atomic_long_sub(n, &pages->ictx->locked_pages);
}

/*
 * Turn contiguous chunk @c back into an array, to unpin part of it. The
 * array is filled before it replaces the value entry, so a reader sees
 * either; it can't fail, as unpinning can't.
 */
static struct page **pages_expand_chunk(struct ioasid_pages *pages,
					unsigned long c, void *value)
{
	unsigned long i, n = chunk_len(pages, c);
	struct page **chunk;

	chunk = kcalloc(n, sizeof(*chunk), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	atomic_long_add(n * sizeof(*chunk), &pages->ictx->page_meta_bytes);
	for (i = 0; i < n; i++)
		chunk[i] = chunk_page(value, i);
	/* Replacing an entry allocates nothing: this can't fail either. */
	xa_store(&pages->chunks, c, chunk, GFP_KERNEL_ACCOUNT);
	pages->narrays++;
	return chunk;
}

/*
 * Unpin and uncharge pages [first, last], all pinned. The counters of
 * @batch (may be NULL) take what it can settle, once, for the whole call.
 */
static void pages_unpin(struct ioasid_pages *pages, unsigned long first,
			unsigned long last, struct ioasid_acct_batch *batch)
{
	unsigned long index = first, n = last - first + 1;

	pages->npinned -= n;
	/* Memory without struct pages was neither pinned nor charged. */
	if (pages->pfnmap)
		return;
	while (index <= last) {
		unsigned long off, c = index / IOASID_CHUNK_PAGES;
		void *chunk = pages_chunk(pages, index, &off);
		unsigned long k = min(last - index + 1, IOASID_CHUNK_PAGES - off);
		struct page **array;

		/* The IOPTEs of a stored chunk are cleared after its unstore. */
		if (IOASID_WARN_ON(chunk_stored(chunk))) {
			index += k;
			continue;
		}
		if (xa_is_value(chunk) && k == chunk_len(pages, c)) {
			unpin_user_page_range_dirty_lock(chunk_page(chunk, 0),
							 k, pages->writable);
			xa_erase(&pages->chunks, c);
			index += k;
			continue;
		}
		array = xa_is_value(chunk) ?
			pages_expand_chunk(pages, c, chunk) : chunk;
		unpin_user_pages_dirty_lock(array + off, k, pages->writable);
		memset(array + off, 0, k * sizeof(*array));
		index += k;
	}
	pages->ncharged -= n;
	if (!batch || batch->ictx != pages->ictx) {
		atomic_long_sub(n, &pages->ictx->pinned_pages);
		pages_uncharge(pages, n);
		return;
	}
	batch->unpinned += n;
	if (pages_ctx_user(pages))
		batch->charged += n;
	else
		pages_uncharge(pages, n);
}

/*
 * Allocate chunk @c, of @n zeroed entries (page pointers and PFNs are both
 * one word), and store it. The chunk belongs to @pages from here on.
 */
static void *pages_new_chunk(struct ioasid_pages *pages, unsigned long c,
			     unsigned long n)
{
	void *chunk;
	int rc;

	BUILD_BUG_ON(sizeof(struct page *) != sizeof(unsigned long));
	chunk = kcalloc(n, sizeof(unsigned long), GFP_KERNEL_ACCOUNT);
	if (!chunk)
		return ERR_PTR(-ENOMEM);
	rc = xa_err(xa_store(&pages->chunks, c, chunk, GFP_KERNEL_ACCOUNT));
	if (rc) {
		kfree(chunk);
		return ERR_PTR(rc);
	}
	atomic_long_add(n * sizeof(unsigned long), &pages->ictx->page_meta_bytes);
	pages->narrays++;
	return chunk;
}

/* Do the @n entries of array @chunk, all set, follow each other? */
static bool chunk_contiguous(struct ioasid_pages *pages, void *chunk,
			     unsigned long n)
{
	unsigned long i, pfn = chunk_pfn(pages, chunk, 0);

	for (i = 1; i < n; i++)
		if (chunk_pfn(pages, chunk, i) != pfn + i)
			return false;
	return true;
}

/*
 * Store chunk @c, all of whose entries are set, as the PFN of its first
 * page when its pages are physically contiguous, and free its array.
 */
static void pages_compact_chunk(struct ioasid_pages *pages, unsigned long c,
				void *chunk)
{
	unsigned long n = chunk_len(pages, c);
	unsigned long pfn = chunk_pfn(pages, chunk, 0);

	if (!chunk_contiguous(pages, chunk, n))
		return;
	/* Replacing an entry allocates nothing: this can't fail. */
	xa_store(&pages->chunks, c, xa_mk_value(pfn), GFP_KERNEL_ACCOUNT);
	kfree(chunk);
	pages->narrays--;
	atomic_long_sub(n * sizeof(unsigned long), &pages->ictx->page_meta_bytes);
}

/* Pin up to @n pages from @va into @out; the number pinned, or an errno. */
static long pages_pin_some(unsigned long va, unsigned long n,
			   unsigned int gup_flags, struct page **out)
{
	long rc = ioasid_inject_fault();

	if (rc)
		return rc;
	rc = pin_user_pages_fast(va, n, gup_flags, out);
	return rc ? rc : -EFAULT;
}

/* A chunk this short is pinned on the stack first (a vIOMMU's 4K maps). */
#define IOASID_PIN_SMALL 16

/*
 * Pin chunk @c, of @n <= IOASID_PIN_SMALL pages, into an array on the
 * stack, and store it as a value entry when contiguous (as a single page
 * always is), with no allocation, else as a new array. On error nothing
 * stays pinned.
 */
static int pages_pin_small(struct ioasid_pages *pages, unsigned long c,
			   unsigned long n, unsigned long uptr,
			   unsigned int gup_flags)
{
	unsigned long va = uptr + c * IOASID_CHUNK_PAGES * PAGE_SIZE;
	struct page *local[IOASID_PIN_SMALL], **chunk;
	unsigned long done = 0;
	long rc = 0;

	while (done < n) {
		rc = pages_pin_some(va + done * PAGE_SIZE, n - done, gup_flags,
				    local + done);
		if (rc < 0)
			goto err_unpin;
		done += rc;
	}
	if (chunk_contiguous(pages, local, n)) {
		rc = xa_err(xa_store(&pages->chunks, c,
				     xa_mk_value(page_to_pfn(local[0])),
				     GFP_KERNEL_ACCOUNT));
	} else {
		chunk = pages_new_chunk(pages, c, n);
		rc = PTR_ERR_OR_ZERO(chunk);
		if (!rc)
			memcpy(chunk, local, n * sizeof(*local));
	}
	if (rc)
		goto err_unpin;
	pages->npinned += n;
	atomic_long_add(n, &pages->ictx->pinned_pages);
	return 0;

err_unpin:
	unpin_user_pages(local, done);
	return rc;
}

/* Pin the pages of chunk @c from @uptr; the chunk is allocated here. */
static int pages_pin_chunk(struct ioasid_pages *pages, unsigned long c,
			   unsigned long uptr, unsigned int gup_flags)
{
	unsigned long first = c * IOASID_CHUNK_PAGES;
	unsigned long n = min(pages->npages - first, IOASID_CHUNK_PAGES);
	unsigned long done = 0;
	struct page **chunk;
	int rc;

	if (n <= IOASID_PIN_SMALL)
		return pages_pin_small(pages, c, n, uptr, gup_flags);
	chunk = pages_new_chunk(pages, c, n);
	if (IS_ERR(chunk))
		return PTR_ERR(chunk);
	while (done < n) {
		long got = pages_pin_some(uptr + (first + done) * PAGE_SIZE,
					  n - done, gup_flags, chunk + done);

		rc = got < 0 ? got : 0;
		if (rc)
			break;
		done += got;
	}
	pages->npinned += done;
	atomic_long_add(done, &pages->ictx->pinned_pages);
	if (!rc)
		pages_compact_chunk(pages, c, chunk);
	return rc;
}

/*
 * The PFN behind @va in @vma, a VM_IO or VM_PFNMAP mapping (such as a
 * device BAR mapped by its driver), faulting it in first if need be.
 * -EAGAIN when the fault dropped mmap_lock: the VMA must be looked up
 * again. Holds mmap_lock for read.
 */
static int pages_follow_pfn(struct vm_area_struct *vma, unsigned long va,
			    bool write, unsigned long *pfn)
{
	bool unlocked = false;
	int rc;

	if (write && !(vma->vm_flags & VM_WRITE))
		return -EFAULT;
	if (!follow_pfn(vma, va, pfn))
		return 0;
	rc = fixup_user_fault(vma->vm_mm, va, write ? FAULT_FLAG_WRITE : 0,
			      &unlocked);
	if (unlocked)
		return -EAGAIN;
	return rc ? rc : follow_pfn(vma, va, pfn);
}

static bool pages_vma_pfnmap(struct vm_area_struct *vma)
{
	return vma && (vma->vm_flags & (VM_IO | VM_PFNMAP));
}

/* Is the memory at @uptr mapped without struct pages? */
static bool pages_uptr_pfnmap(unsigned long uptr)
{
	struct mm_struct *mm = current->mm;
	bool ret;

	mmap_read_lock(mm);
	ret = pages_vma_pfnmap(vma_lookup(mm, uptr));
	mmap_read_unlock(mm);
	return ret;
}

/* Record the PFNs of chunk @c from @uptr; the chunk is allocated here. */
static int pages_follow_chunk(struct ioasid_pages *pages, unsigned long c,
			      unsigned long uptr)
{
	unsigned long first = c * IOASID_CHUNK_PAGES;
	unsigned long n = min(pages->npages - first, IOASID_CHUNK_PAGES);
	struct mm_struct *mm = current->mm;
	unsigned long *chunk, i = 0;
	int rc = 0;

	chunk = pages_new_chunk(pages, c, n);
	if (IS_ERR(chunk))
		return PTR_ERR(chunk);
	mmap_read_lock(mm);
	while (i < n) {
		unsigned long va = uptr + (first + i) * PAGE_SIZE;
		struct vm_area_struct *vma = vma_lookup(mm, va);

		rc = -EFAULT;
		if (!pages_vma_pfnmap(vma))
			break;
		rc = pages_follow_pfn(vma, va, pages->writable, &chunk[i]);
		if (rc == -EAGAIN)
			continue;
		if (rc)
			break;
		i++;
	}
	mmap_read_unlock(mm);
	pages->npinned += i;
	if (!rc)
		pages_compact_chunk(pages, c, chunk);
	return rc;
}

static int pages_pin_all(struct ioasid_pages *pages, unsigned long uptr)
{
	unsigned int gup_flags = FOLL_LONGTERM;
	unsigned long c, nchunks = DIV_ROUND_UP(pages->npages,
						IOASID_CHUNK_PAGES);
	int rc;

	if (pages->writable)
		gup_flags |= FOLL_WRITE;
	for (c = 0; c < nchunks; c++) {
		if (pages->pfnmap)
			rc = pages_follow_chunk(pages, c, uptr);
		else
			rc = pages_pin_chunk(pages, c, uptr, gup_flags);
		if (rc)
			return rc;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/* Unpin what is still pinned, uncharge what is charged, free the chunks. */
static void pages_free(struct ioasid_pages *pages)
{
	unsigned long c, unpinned = 0;
	struct page **chunk;

	xa_for_each(&pages->chunks, c, chunk) {
		unsigned long n = chunk_len(pages, c);
		unsigned long i = 0, k;

		/* Stored chunks are unstored before their areas go. */
		if (IOASID_WARN_ON(chunk_stored(chunk)))
			continue;
		if (xa_is_value(chunk)) {
			if (pages->pfnmap)
				continue;
			unpin_user_page_range_dirty_lock(chunk_page(chunk, 0),
							 n, pages->writable);
			unpinned += n;
			continue;
		}
		while (i < n && !pages->pfnmap) {
			for (k = 0; i + k < n && chunk[i + k]; k++)
				;
			if (k)
				unpin_user_pages_dirty_lock(chunk + i, k,
							    pages->writable);
			unpinned += k;
			i += k + 1;
		}
		kfree(chunk);
		atomic_long_sub(n * sizeof(*chunk), &pages->ictx->page_meta_bytes);
	}
	xa_destroy(&pages->chunks);
	IOASID_WARN_ON(!pages->pfnmap && unpinned != pages->npinned);
	atomic_long_sub(unpinned, &pages->ictx->pinned_pages);
	if (pages->ncharged)
		pages_uncharge(pages, pages->ncharged);
	if (pages->user && !pages_ctx_user(pages))
		free_uid(pages->user);
	if (pages->mm)
		mmdrop(pages->mm);
	mutex_destroy(&pages->lock);
	kfree(pages);
}

static void pages_init(struct ioasid_pages *pages, unsigned long npages)
{
	kref_init(&pages->kref);
	mutex_init(&pages->lock);
	xa_init(&pages->chunks);
	pages->users = RB_ROOT_CACHED;
	pages->npages = npages;
}

static struct ioasid_pages *pages_alloc(struct ioasid_ctx *ictx,
					unsigned long npages, bool writable,
					u8 acct_mode, bool pfnmap)
{
	struct ioasid_pages *pages;

	pages = kzalloc(sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return NULL;
	pages_init(pages, npages);
	pages->ictx = ictx;
	pages->writable = writable;
	pages->pfnmap = pfnmap;
	if (acct_mode == IOASID_ACCT_USER) {
		pages->user = current_user();
		if (!pages_ctx_user(pages))
			get_uid(pages->user);
	} else {
		mmgrab(current->mm);
		pages->mm = current->mm;
	}
	return pages;
}

/*
 * Charge and pin all of @pages, or record the PFNs of device memory. The
 * charge comes from @batch (may be NULL) when it prepaid it.
 */
static int pages_fill(struct ioasid_pages *pages, unsigned long uptr,
		      struct ioasid_acct_batch *batch)
{
	int rc;

	/* Device memory (a BAR): nothing to pin, nothing to charge. */
	if (!pages->pfnmap) {
		if (batch && batch->ictx == pages->ictx &&
		    batch->charged >= pages->npages && pages_ctx_user(pages)) {
			batch->charged -= pages->npages;
		} else {
			rc = pages_charge(pages, pages->npages);
			if (rc)
				return rc;
		}
		pages->ncharged = pages->npages;
	}
	return pages_pin_all(pages, uptr);
}

/**
 * ioasid_pages_pin() - charge and pin a range of the caller's memory
 * @ictx: context whose accounting mode and counters apply
 * @uptr: page-aligned user address
 * @npages: number of pages, non-zero
 * @writable: pin for device writes
 * @acct_mode: enum ioasid_acct_mode to charge them with
 * @batch: the call's prepaid charge (ioasid_acct_prepay()), or NULL
 *
 * The whole range is charged to RLIMIT_MEMLOCK, or its charge taken from
 * @batch, before any memory is allocated for it; page pointers are then
 * allocated a chunk at a time as the pages are pinned. Memory without
 * struct pages (a device BAR mapped by its driver) cannot be pinned: when
 * the pin or the charge fails and the range starts in such a mapping, its
 * PFNs are recorded instead, uncharged. Trying the pin first keeps a VMA
 * lookup off the common path.
 *
 * Context: process context; may sleep.
 * Return: the pages with one reference and no user, or an ERR_PTR:
 * -ENOMEM over the limit or out of memory, -EFAULT for memory that cannot
 * be pinned, -EINTR on a fatal signal. On error nothing is pinned or
 * charged.
 */
struct ioasid_pages *ioasid_pages_pin(struct ioasid_ctx *ictx,
				      unsigned long uptr, unsigned long npages,
				      bool writable, u8 acct_mode,
				      struct ioasid_acct_batch *batch)
{
	struct ioasid_pages *pages;
	int rc;

	pages = pages_alloc(ictx, npages, writable, acct_mode, false);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	rc = pages_fill(pages, uptr, batch);
	if ((rc == -ENOMEM || (rc == -EFAULT && !pages->npinned)) &&
	    pages_uptr_pfnmap(uptr)) {
		pages_free(pages);
		pages = pages_alloc(ictx, npages, writable, acct_mode, true);
		if (!pages)
			return ERR_PTR(-ENOMEM);
		rc = pages_fill(pages, uptr, NULL);
	}
	if (rc) {
		pages_free(pages);
		return ERR_PTR(rc);
	}
	return pages;
}

static void ioasid_pages_release(struct kref *kref)
{
	pages_free(container_of(kref, struct ioasid_pages, kref));
}

/**
 * ioasid_pages_put() - drop a reference; the last one unpins and uncharges
 * @pages: pages
 *
 * Context: process context; may sleep.
 */
void ioasid_pages_put(struct ioasid_pages *pages)
{
	kref_put(&pages->kref, ioasid_pages_release);
}

/**
 * ioasid_pages_use() - an area starts using pages [first, last]
 * @pages: pages, referenced by the caller for the area
 * @node: the area's node, [first, last] filled in
 *
 * Context: process context; takes pages.lock.
 */
void ioasid_pages_use(struct ioasid_pages *pages,
		      struct interval_tree_node *node)
{
	mutex_lock(&pages->lock);
	interval_tree_insert(node, &pages->users);
	mutex_unlock(&pages->lock);
}

/* Unpin the pages of [next, last] that no user covers. Holds pages.lock. */
static void pages_unpin_uncovered(struct ioasid_pages *pages,
				  unsigned long next, unsigned long last,
				  struct ioasid_acct_batch *batch)
{
	struct interval_tree_node *other;

	lockdep_assert_held(&pages->lock);
	/* Users come in order of their first page: unpin the gaps. */
	for (other = interval_tree_iter_first(&pages->users, next, last);
	     other && next <= last;
	     other = interval_tree_iter_next(other, next, last)) {
		if (other->start > next)
			pages_unpin(pages, next, other->start - 1, batch);
		next = max(next, other->last + 1);
	}
	if (next <= last)
		pages_unpin(pages, next, last, batch);
}

/**
 * ioasid_pages_unuse() - an area stops using its pages
 * @pages: pages
 * @node: the node given to ioasid_pages_use()
 * @batch: where the uncharge may wait for ioasid_acct_settle(), or NULL
 *
 * The pages of the node that no other user covers are unpinned now, and
 * uncharged now or, for pages of @batch's context, when the caller
 * settles @batch; the caller's reference is not dropped.
 *
 * Context: process context; takes pages.lock; may sleep.
 */
void ioasid_pages_unuse(struct ioasid_pages *pages,
			struct interval_tree_node *node,
			struct ioasid_acct_batch *batch)
{
	if (batch && !batch->ictx)
		batch->ictx = pages->ictx;
	mutex_lock(&pages->lock);
	interval_tree_remove(node, &pages->users);
	pages_unpin_uncovered(pages, node->start, node->last, batch);
	mutex_unlock(&pages->lock);
}

/**
 * ioasid_pages_trim() - an area now uses fewer pages
 * @pages: pages
 * @node: the node given to ioasid_pages_use()
 * @last: its new last page index, from node->start to node->last
 *
 * As ioasid_pages_unuse() for the pages after @last.
 *
 * Context: process context; takes pages.lock; may sleep.
 */
void ioasid_pages_trim(struct ioasid_pages *pages,
		       struct interval_tree_node *node, unsigned long last)
{
	unsigned long old = node->last;

	mutex_lock(&pages->lock);
	interval_tree_remove(node, &pages->users);
	node->last = last;
	interval_tree_insert(node, &pages->users);
	if (last < old)
		pages_unpin_uncovered(pages, last + 1, old, NULL);
	mutex_unlock(&pages->lock);
}

/**
 * ioasid_pages_recharge() - move the charge to the calling process's mm
 * @pages: pages charged per mm
 *
 * For a VMM that exec()s and takes its mappings over in the new image:
 * the new mm is charged, within its limit, before the old one is relieved.
 *
 * Context: process context; takes pages.lock.
 * Return: 0, or -ENOMEM over the new mm's RLIMIT_MEMLOCK, with the charge
 * unchanged.
 */
int ioasid_pages_recharge(struct ioasid_pages *pages)
{
	struct mm_struct *old;
	int rc = 0;

	mutex_lock(&pages->lock);
	old = pages->mm;
	if (!old || old == current->mm)
		goto out_unlock;
	rc = account_locked_vm(current->mm, pages->ncharged, true);
	if (rc)
		goto out_unlock;
	account_locked_vm(old, pages->ncharged, false);
	mmgrab(current->mm);
	pages->mm = current->mm;
	mmdrop(old);
out_unlock:
	mutex_unlock(&pages->lock);
	return rc;
}

/*
 * Store chunk @c, an array whose pages are all pinned and mapped in the
 * store domain: free the array. Holds pages.lock.
 */
static void pages_store_chunk(struct ioasid_pages *pages, unsigned long c)
{
	unsigned long i, n = chunk_len(pages, c), base = c * IOASID_CHUNK_PAGES;
	struct page **chunk = xa_load(&pages->chunks, c);

	if (!chunk || xa_is_value(chunk))
		return;
	for (i = 0; i < n; i++)
		if (!chunk[i])
			return;
	/* The domain maps exactly these pages there: check both ends. */
	if (IOASID_WARN_ON(stored_pfn(pages, base) != page_to_pfn(chunk[0]) ||
			   stored_pfn(pages, base + n - 1) !=
			   page_to_pfn(chunk[n - 1])))
		return;
	/* Replacing an entry allocates nothing: this can't fail. */
	xa_store(&pages->chunks, c, CHUNK_STORED, GFP_KERNEL_ACCOUNT);
	kfree(chunk);
	pages->narrays--;
	WRITE_ONCE(pages->nstored, pages->nstored + 1);
	atomic_long_sub(n * sizeof(*chunk), &pages->ictx->page_meta_bytes);
}

/*
 * Give stored chunk @c its array back, read from the store domain. It
 * can't fail, as the unmap or the domain removal that needs it can't.
 * Holds pages.lock.
 */
static void pages_unstore_chunk(struct ioasid_pages *pages, unsigned long c)
{
	unsigned long i, n = chunk_len(pages, c), base = c * IOASID_CHUNK_PAGES;
	struct page **array;

	if (!chunk_stored(xa_load(&pages->chunks, c)))
		return;
	array = kcalloc(n, sizeof(*array), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	atomic_long_add(n * sizeof(*array), &pages->ictx->page_meta_bytes);
	for (i = 0; i < n; i++)
		array[i] = pfn_to_page(stored_pfn(pages, base + i));
	/* Filled before it replaces the entry: a reader finds either. */
	xa_store(&pages->chunks, c, array, GFP_KERNEL_ACCOUNT);
	WRITE_ONCE(pages->nstored, pages->nstored - 1);
	pages->narrays++;
}

/* Unstore the chunks that meet pages [first, last]. Holds pages.lock. */
static void pages_unstore_range(struct ioasid_pages *pages,
				unsigned long first, unsigned long last)
{
	unsigned long c;

	lockdep_assert_held(&pages->lock);
	for (c = first / IOASID_CHUNK_PAGES;
	     c <= last / IOASID_CHUNK_PAGES && pages->nstored; c++) {
		pages_unstore_chunk(pages, c);
		cond_resched();
	}
}

/**
 * ioasid_pages_store() - let a domain hold the PFNs of the pages an area maps
 * @pages: the area's pages
 * @domains_rwsem: the iopt.domains_rwsem of the area's IOVA map
 * @domain: a domain of that map that can read an IOPTE back (iova_to_phys)
 * @iova: the IOVA at which page 0 of @pages is, or would be, mapped in it
 * @first: first page index the area maps
 * @last: last page index the area maps
 *
 * Each chunk wholly in [@first, @last] that has an array of pinned pages
 * loses it: its PFNs are read back from @domain from then on. Pages that
 * more than one IOAS maps, pages stored elsewhere, and memory without
 * struct pages are left as they are.
 *
 * Context: process context; takes pages.lock. Holds @domains_rwsem for
 * writing, or for reading when nobody else can read @pages yet (an area
 * of a map being published).
 */
void ioasid_pages_store(struct ioasid_pages *pages,
			struct rw_semaphore *domains_rwsem,
			struct iommu_domain *domain, unsigned long iova,
			unsigned long first, unsigned long last)
{
	unsigned long c;

	lockdep_assert_held(domains_rwsem);
	mutex_lock(&pages->lock);
	if (pages->pfnmap || pages->shared || !pages->narrays)
		goto out_unlock;
	if (pages->nstored &&
	    (pages->store_lock != domains_rwsem ||
	     pages->store_domain != domain || pages->store_iova != iova))
		goto out_unlock;
	pages->store_lock = domains_rwsem;
	pages->store_domain = domain;
	pages->store_iova = iova;
	for (c = DIV_ROUND_UP(first, IOASID_CHUNK_PAGES);
	     c * IOASID_CHUNK_PAGES < pages->npages &&
	     c * IOASID_CHUNK_PAGES + chunk_len(pages, c) - 1 <= last; c++) {
		pages_store_chunk(pages, c);
		cond_resched();
	}
out_unlock:
	mutex_unlock(&pages->lock);
}

/**
 * ioasid_pages_unstore() - arrays back, before an area's IOPTEs are cleared
 * @pages: the area's pages
 * @domains_rwsem: the iopt.domains_rwsem of the area's IOVA map
 * @iova: the IOVA at which page 0 of @pages is, or would be, mapped there
 * @first: first page index the area maps
 * @last: last page index the area maps
 *
 * The chunks that meet [@first, @last] and are stored in a domain of
 * that map at @iova get their arrays back, read from the domain. Pages
 * stored anywhere else are mapped at other IOVAs: they are left alone.
 *
 * Context: process context; takes pages.lock; may sleep. Holds
 * @domains_rwsem.
 */
void ioasid_pages_unstore(struct ioasid_pages *pages,
			  struct rw_semaphore *domains_rwsem,
			  unsigned long iova, unsigned long first,
			  unsigned long last)
{
	/*
	 * Chunks are stored only under the domains_rwsem of the IOAS that
	 * maps them, held here, or before anyone (this caller too) sees
	 * the pages: none of this area's can be being stored now.
	 */
	if (!READ_ONCE(pages->nstored))
		return;
	mutex_lock(&pages->lock);
	if (pages->store_lock == domains_rwsem && pages->store_iova == iova)
		pages_unstore_range(pages, first, last);
	mutex_unlock(&pages->lock);
}

/**
 * ioasid_pages_drop_domain() - a domain stops mapping the pages
 * @pages: pages an area of the domain's IOVA map maps
 * @domain: the domain, still mapping them
 * @to: another domain of the same IOVA map, which maps them at the same
 *	IOVAs and can read an IOPTE back, or NULL
 *
 * Chunks stored in @domain are stored in @to instead, or get arrays back.
 *
 * Context: process context; takes pages.lock; may sleep. Holds the IOVA
 * map's iopt.domains_rwsem for writing.
 */
void ioasid_pages_drop_domain(struct ioasid_pages *pages,
			      struct iommu_domain *domain,
			      struct iommu_domain *to)
{
	mutex_lock(&pages->lock);
	if (pages->nstored && pages->store_domain == domain) {
		if (to)
			pages->store_domain = to;
		else
			pages_unstore_range(pages, 0, pages->npages - 1);
	}
	mutex_unlock(&pages->lock);
}

/**
 * ioasid_pages_share() - pages are about to be mapped by another IOAS
 * @pages: pages
 *
 * They are never stored again, and their stored chunks get arrays back:
 * a reader in the other IOAS does not hold the store's domains_rwsem.
 *
 * Context: process context; takes pages.lock; may sleep. Holds the
 * iopt.domains_rwsem of an IOAS mapping them, which is the store's if
 * any chunk is stored.
 */
void ioasid_pages_share(struct ioasid_pages *pages)
{
	mutex_lock(&pages->lock);
	pages->shared = true;
	if (pages->nstored)
		pages_unstore_range(pages, 0, pages->npages - 1);
	mutex_unlock(&pages->lock);
}

#if IS_ENABLED(CONFIG_IOASID_KUNIT_TEST)
/* Pages that were never pinned, for KUnit: never unused, unpinned or put. */
struct ioasid_pages *ioasid_pages_fake(struct page **array, unsigned long n)
{
	struct ioasid_pages *pages = kzalloc(sizeof(*pages), GFP_KERNEL);
	unsigned long c;

	if (!pages)
		return NULL;
	pages_init(pages, n);
	for (c = 0; c * IOASID_CHUNK_PAGES < n; c++) {
		unsigned long k = min(n - c * IOASID_CHUNK_PAGES,
				      IOASID_CHUNK_PAGES);
		struct page **chunk = kmemdup(array + c * IOASID_CHUNK_PAGES,
					      k * sizeof(*chunk), GFP_KERNEL);

		if (!chunk || xa_is_err(xa_store(&pages->chunks, c, chunk,
						 GFP_KERNEL))) {
			kfree(chunk);
			ioasid_pages_fake_free(pages);
			return NULL;
		}
	}
	return pages;
}

void ioasid_pages_fake_free(struct ioasid_pages *pages)
{
	struct page **chunk;
	unsigned long c;

	xa_for_each(&pages->chunks, c, chunk)
		kfree(chunk);
	xa_destroy(&pages->chunks);
	mutex_destroy(&pages->lock);
	kfree(pages);
}
#endif
