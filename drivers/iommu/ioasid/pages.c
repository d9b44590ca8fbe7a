// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pinned user pages and their accounting.
 *
 * A struct ioasid_pages is built by one IOASID_IOAS_MAP: the user range is
 * charged to RLIMIT_MEMLOCK first, then pinned with FOLL_LONGTERM in
 * batches. Every area that maps it, in any IOAS, through IOASID_IOAS_COPY
 * too, shares it by reference, so a page is pinned and charged once
 * however many domains or copies use it. The last reference unpins and
 * uncharges.
 *
 * The page array is also where domains are filled from: a new domain
 * walks it in physically contiguous runs (ioasid_pages_run()), never one
 * page at a time.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/* Pages pinned per pin_user_pages_fast() call. */
#define IOASID_PIN_BATCH 512

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

static int ioasid_pages_charge(struct ioasid_pages *pages)
{
	int rc;

	if (pages->acct_mode == IOASID_ACCT_USER) {
		pages->user = get_uid(current_user());
		rc = ioasid_acct_user(pages->user, pages->npages);
		if (rc) {
			free_uid(pages->user);
			pages->user = NULL;
			return rc;
		}
	} else {
		mmgrab(current->mm);
		pages->mm = current->mm;
		rc = account_locked_vm(pages->mm, pages->npages, true);
		if (rc) {
			mmdrop(pages->mm);
			pages->mm = NULL;
			return rc;
		}
	}
	atomic_long_add(pages->npages, &pages->ictx->locked_pages);
	return 0;
}

static void ioasid_pages_uncharge(struct ioasid_pages *pages)
{
	if (pages->user) {
		atomic_long_sub(pages->npages, &pages->user->locked_vm);
		free_uid(pages->user);
	}
	if (pages->mm) {
		account_locked_vm(pages->mm, pages->npages, false);
		mmdrop(pages->mm);
	}
	atomic_long_sub(pages->npages, &pages->ictx->locked_pages);
}

static int ioasid_pages_pin_all(struct ioasid_pages *pages,
				unsigned long uptr)
{
	unsigned int gup_flags = FOLL_LONGTERM;
	unsigned long done = 0;
	int rc;

	if (pages->writable)
		gup_flags |= FOLL_WRITE;
	while (done < pages->npages) {
		int batch = min_t(unsigned long, pages->npages - done,
				  IOASID_PIN_BATCH);

		rc = ioasid_inject_fault();
		if (rc)
			goto err_unpin;
		rc = pin_user_pages_fast(uptr + done * PAGE_SIZE, batch,
					 gup_flags, pages->pages + done);
		if (rc <= 0) {
			rc = rc ? rc : -EFAULT;
			goto err_unpin;
		}
		done += rc;
		if (fatal_signal_pending(current)) {
			rc = -EINTR;
			goto err_unpin;
		}
		cond_resched();
	}
	atomic_long_add(done, &pages->ictx->pinned_pages);
	return 0;

err_unpin:
	unpin_user_pages(pages->pages, done);
	return rc;
}

/**
 * ioasid_pages_pin() - charge and pin a range of the caller's memory
 * @ictx: context whose accounting mode and counters apply
 * @uptr: page-aligned user address
 * @npages: number of pages, non-zero
 * @writable: pin for device writes
 * @acct_mode: enum ioasid_acct_mode to charge them with
 *
 * Return: the pages with one reference, or an ERR_PTR. On error nothing
 * is pinned or charged.
 */
struct ioasid_pages *ioasid_pages_pin(struct ioasid_ctx *ictx,
				      unsigned long uptr, unsigned long npages,
				      bool writable, u8 acct_mode)
{
	struct ioasid_pages *pages;
	int rc;

	pages = kzalloc(sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	kref_init(&pages->kref);
	pages->ictx = ictx;
	pages->npages = npages;
	pages->writable = writable;
	pages->acct_mode = acct_mode;
	pages->pages = kvcalloc(npages, sizeof(*pages->pages),
				GFP_KERNEL_ACCOUNT);
	if (!pages->pages) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = ioasid_pages_charge(pages);
	if (rc)
		goto err_free_array;
	rc = ioasid_pages_pin_all(pages, uptr);
	if (rc)
		goto err_uncharge;
	return pages;

err_uncharge:
	ioasid_pages_uncharge(pages);
err_free_array:
	kvfree(pages->pages);
err_free:
	kfree(pages);
	return ERR_PTR(rc);
}

static void ioasid_pages_release(struct kref *kref)
{
	struct ioasid_pages *pages =
		container_of(kref, struct ioasid_pages, kref);

	unpin_user_pages_dirty_lock(pages->pages, pages->npages,
				    pages->writable);
	atomic_long_sub(pages->npages, &pages->ictx->pinned_pages);
	ioasid_pages_uncharge(pages);
	kvfree(pages->pages);
	kfree(pages);
}

/**
 * ioasid_pages_put() - drop a reference; the last one unpins and uncharges
 * @pages: pages
 */
void ioasid_pages_put(struct ioasid_pages *pages)
{
	kref_put(&pages->kref, ioasid_pages_release);
}

/**
 * ioasid_pages_split() - move the pages from @index on into a new object
 * @pages: pages with a single reference, 0 < @index < npages
 * @index: first page of the new object
 *
 * Both objects keep the charge of their own pages, with the same user or
 * mm, so the totals do not change.
 *
 * Return: the new pages with one reference, or an ERR_PTR with @pages
 * unchanged.
 */
struct ioasid_pages *ioasid_pages_split(struct ioasid_pages *pages,
					unsigned long index)
{
	unsigned long n = pages->npages - index;
	struct ioasid_pages *tail;

	if (IOASID_WARN_ON(!index || index >= pages->npages ||
			   kref_read(&pages->kref) != 1))
		return ERR_PTR(-EINVAL);
	tail = kzalloc(sizeof(*tail), GFP_KERNEL_ACCOUNT);
	if (!tail)
		return ERR_PTR(-ENOMEM);
	tail->pages = kvcalloc(n, sizeof(*tail->pages), GFP_KERNEL_ACCOUNT);
	if (!tail->pages) {
		kfree(tail);
		return ERR_PTR(-ENOMEM);
	}
	memcpy(tail->pages, pages->pages + index, n * sizeof(*tail->pages));
	kref_init(&tail->kref);
	tail->ictx = pages->ictx;
	tail->npages = n;
	tail->writable = pages->writable;
	tail->acct_mode = pages->acct_mode;
	if (pages->user)
		tail->user = get_uid(pages->user);
	if (pages->mm) {
		mmgrab(pages->mm);
		tail->mm = pages->mm;
	}
	pages->npages = index;
	return tail;
}

/**
 * ioasid_pages_run() - length of the physically contiguous run at @index
 * @pages: pages
 * @index: first page of the run
 * @max: the run stops after at most this many pages
 *
 * Return: number of pages, at least 1, from @index whose PFNs follow each
 * other.
 */
unsigned long ioasid_pages_run(struct ioasid_pages *pages,
			       unsigned long index, unsigned long max)
{
	unsigned long pfn = page_to_pfn(pages->pages[index]);
	unsigned long n = 1;

	while (n < max && page_to_pfn(pages->pages[index + n]) == pfn + n)
		n++;
	return n;
}
