// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PASID space: one system-wide set of PASID values, from which kernel
 * SVA, the /dev/ioasid core's users and IOMMU drivers all draw, so that no
 * value is ever handed out twice. It replaces 6.1's drivers/iommu/ioasid.c.
 *
 * Every value belongs to a set (struct ioasid_pasid_set) while its owner
 * holds it. A set has a budget: the number of values it may own at once,
 * so that one kind of user cannot drain the space. Besides the owner's,
 * a value can have references of its users (attachments of a device to a
 * page table under that PASID, for instance), taken with ioasid_pasid_get()
 * while the owner still holds it. When the owner frees the value, the set
 * gets its budget back at once; the value itself becomes free for others
 * only with its last reference, so that it is never reused while a device
 * may still issue DMA with it.
 *
 * A guest's VT-d driver must obtain values from its host (the virtual
 * command interface): such an IOMMU driver installs a backend, and values
 * are then taken from it and recorded here.
 *
 * Locking: the xarray's spinlock covers everything here: the values, the
 * sets' counts and the backends. A value can be freed from any context
 * that may take a spinlock, as the last drop of an mm (mm_pasid_drop())
 * can run in the scheduler; allocation may sleep, dropping the lock to
 * allocate xarray nodes.
 */
#include <linux/ioasid.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/spinlock.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/xarray.h>

/**
 * struct ioasid_pasid - one value in use
 * @set: the set owning the value, or NULL once its owner freed it
 * @private: the owner's data, for ioasid_pasid_find()
 * @refs: the owner's reference and its users'
 * @from_backend: the value came from the backend in use then
 */
struct ioasid_pasid {
	struct ioasid_pasid_set *set;
	void *private;
	refcount_t refs;
	bool from_backend;
};

static DEFINE_XARRAY_FLAGS(ioasid_pasids, XA_FLAGS_ALLOC);
/* Installed backends; the first is the one in use. */
static LIST_HEAD(ioasid_pasid_backends);

static struct ioasid_pasid_backend *ioasid_pasid_backend(void)
{
	return list_first_entry_or_null(&ioasid_pasid_backends,
					struct ioasid_pasid_backend, list);
}

static bool ioasid_pasid_range_ok(ioasid_t min, ioasid_t max)
{
	return min && min <= max && max <= IOASID_PASID_MAX;
}

/* Take a value in [@min, @max] for @entry. Return: 0 or -errno. */
static int ioasid_pasid_take(struct ioasid_pasid *entry, ioasid_t min,
			     ioasid_t max, ioasid_t *pasid)
{
	struct ioasid_pasid_backend *backend = ioasid_pasid_backend();
	ioasid_t val;
	int rc;

	lockdep_assert_held(&ioasid_pasids.xa_lock);
	if (!backend) {
		rc = __xa_alloc(&ioasid_pasids, pasid, entry,
				XA_LIMIT(min, max), GFP_KERNEL);
		return rc == -EBUSY ? -ENOSPC : rc;
	}
	val = backend->alloc(min, max, backend->data);
	if (!pasid_valid(val))
		return -ENOSPC;
	rc = __xa_insert(&ioasid_pasids, val, entry, GFP_KERNEL);
	if (rc) {
		backend->free(val, backend->data);
		return rc == -EBUSY ? -ENOSPC : rc;
	}
	entry->from_backend = true;
	*pasid = val;
	return 0;
}

static struct ioasid_pasid *ioasid_pasid_entry(struct ioasid_pasid_set *set,
					       void *private)
{
	struct ioasid_pasid *entry;

	entry = kzalloc(sizeof(*entry), GFP_KERNEL);
	if (!entry)
		return NULL;
	entry->set = set;
	entry->private = private;
	refcount_set(&entry->refs, 1);
	return entry;
}

static int ioasid_pasid_charge(struct ioasid_pasid_set *set)
{
	lockdep_assert_held(&ioasid_pasids.xa_lock);
	if (set->budget && set->nr >= set->budget)
		return -EDQUOT;
	set->nr++;
	return 0;
}

/* Place @entry at a fixed value: only without a backend, which picks. */
static int ioasid_pasid_place(struct ioasid_pasid *entry, ioasid_t pasid)
{
	int rc;

	if (ioasid_pasid_backend())
		return -EOPNOTSUPP;
	rc = __xa_insert(&ioasid_pasids, pasid, entry, GFP_KERNEL);
	return rc == -EBUSY ? -EEXIST : rc;
}

/*
 * Take a value in [@min, @max] for @set, or exactly *@pasid when @fixed,
 * charging the set's budget.
 */
static int __ioasid_pasid_alloc(struct ioasid_pasid_set *set, ioasid_t min,
				ioasid_t max, bool fixed, void *private,
				ioasid_t *pasid)
{
	struct ioasid_pasid *entry;
	int rc;

	if (!ioasid_pasid_range_ok(min, max))
		return -EINVAL;
	entry = ioasid_pasid_entry(set, private);
	if (!entry)
		return -ENOMEM;

	xa_lock(&ioasid_pasids);
	rc = ioasid_pasid_charge(set);
	if (rc)
		goto err_unlock;
	if (fixed)
		rc = ioasid_pasid_place(entry, min);
	else
		rc = ioasid_pasid_take(entry, min, max, pasid);
	if (rc) {
		set->nr--;
		goto err_unlock;
	}
	xa_unlock(&ioasid_pasids);
	return 0;

err_unlock:
	xa_unlock(&ioasid_pasids);
	kfree(entry);
	return rc;
}

/**
 * ioasid_pasid_alloc() - take a free PASID value for a set
 * @set: the set that will own the value
 * @min: the lowest acceptable value, at least 1
 * @max: the highest acceptable value, at most IOASID_PASID_MAX
 * @private: the owner's data, returned by ioasid_pasid_find()
 * @pasid: out, the value
 *
 * Context: process context; may sleep.
 * Return: 0; -EINVAL for an empty or out-of-range [@min, @max]; -EDQUOT
 * when @set has used its budget; -ENOSPC when no value in the range is
 * free; -ENOMEM.
 */
int ioasid_pasid_alloc(struct ioasid_pasid_set *set, ioasid_t min,
		       ioasid_t max, void *private, ioasid_t *pasid)
{
	return __ioasid_pasid_alloc(set, min, max, false, private, pasid);
}
EXPORT_SYMBOL_GPL(ioasid_pasid_alloc);

/**
 * ioasid_pasid_alloc_fixed() - take one given PASID value for a set
 * @set: the set that will own the value
 * @pasid: the value, 1 to IOASID_PASID_MAX
 * @private: the owner's data, returned by ioasid_pasid_find()
 *
 * Not available while a backend hands out the values: only it can.
 *
 * Context: process context; may sleep.
 * Return: 0; -EINVAL for a value out of range; -EDQUOT when @set has used
 * its budget; -EEXIST when the value is in use; -EOPNOTSUPP with a
 * backend; -ENOMEM.
 */
int ioasid_pasid_alloc_fixed(struct ioasid_pasid_set *set, ioasid_t pasid,
			     void *private)
{
	return __ioasid_pasid_alloc(set, pasid, pasid, true, private, &pasid);
}
EXPORT_SYMBOL_GPL(ioasid_pasid_alloc_fixed);

/**
 * ioasid_pasid_get() - take a user's reference to a value a set owns
 * @set: the set that must own the value now
 * @pasid: the value
 *
 * Context: process context; does not sleep.
 * Return: 0, or -ENOENT when @set does not own @pasid.
 */
int ioasid_pasid_get(struct ioasid_pasid_set *set, ioasid_t pasid)
{
	struct ioasid_pasid *entry;
	int rc = -ENOENT;

	xa_lock(&ioasid_pasids);
	entry = xa_load(&ioasid_pasids, pasid);
	if (entry && entry->set == set && refcount_inc_not_zero(&entry->refs))
		rc = 0;
	xa_unlock(&ioasid_pasids);
	return rc;
}
EXPORT_SYMBOL_GPL(ioasid_pasid_get);

/**
 * ioasid_pasid_put() - drop a reference; the last one frees the value
 * @pasid: a value the caller holds a reference to
 *
 * Context: process context; does not sleep, so it can be called with
 * preemption disabled, as the last drop of an mm may be.
 */
void ioasid_pasid_put(ioasid_t pasid)
{
	struct ioasid_pasid_backend *backend;
	struct ioasid_pasid *entry;

	xa_lock(&ioasid_pasids);
	entry = xa_load(&ioasid_pasids, pasid);
	if (WARN_ON(!entry) || !refcount_dec_and_test(&entry->refs)) {
		xa_unlock(&ioasid_pasids);
		return;
	}
	__xa_erase(&ioasid_pasids, pasid);
	backend = ioasid_pasid_backend();
	if (entry->from_backend && backend)
		backend->free(pasid, backend->data);
	xa_unlock(&ioasid_pasids);
	kfree(entry);
}
EXPORT_SYMBOL_GPL(ioasid_pasid_put);

/**
 * ioasid_pasid_free() - the owner gives a value up
 * @pasid: a value returned by ioasid_pasid_alloc() or _alloc_fixed(), or
 *	   INVALID_IOASID, which is ignored
 *
 * The owner's set gets the budget back at once, and ioasid_pasid_get()
 * and ioasid_pasid_find() no longer find the value; it becomes free once
 * its users have dropped their references too.
 *
 * Context: process context; does not sleep, so it can be called with
 * preemption disabled, as the last drop of an mm may be.
 */
void ioasid_pasid_free(ioasid_t pasid)
{
	struct ioasid_pasid *entry;

	if (!pasid_valid(pasid))
		return;
	xa_lock(&ioasid_pasids);
	entry = xa_load(&ioasid_pasids, pasid);
	if (WARN_ON(!entry || !entry->set)) {
		xa_unlock(&ioasid_pasids);
		return;
	}
	entry->set->nr--;
	entry->set = NULL;
	xa_unlock(&ioasid_pasids);
	ioasid_pasid_put(pasid);
}
EXPORT_SYMBOL_GPL(ioasid_pasid_free);

/**
 * ioasid_pasid_find() - the owner's data of a value a set owns
 * @set: the set that must own the value
 * @pasid: the value
 * @getter: called on the data under the lookup's lock, to take a
 *	    reference of its own; a false return means "not found". May be
 *	    NULL.
 *
 * Context: process context; does not sleep; @getter runs with a spinlock
 * held.
 * Return: the data, or ERR_PTR(-ENOENT).
 */
void *ioasid_pasid_find(struct ioasid_pasid_set *set, ioasid_t pasid,
			bool (*getter)(void *))
{
	struct ioasid_pasid *entry;
	void *ret = ERR_PTR(-ENOENT);

	xa_lock(&ioasid_pasids);
	entry = xa_load(&ioasid_pasids, pasid);
	if (entry && entry->set == set &&
	    (!getter || getter(entry->private)))
		ret = entry->private;
	xa_unlock(&ioasid_pasids);
	return ret;
}
EXPORT_SYMBOL_GPL(ioasid_pasid_find);

/**
 * ioasid_pasid_add_backend() - let an IOMMU driver hand out the values
 * @backend: the driver's allocator; several IOMMUs of one machine may
 *	     install one each, and the first installed is used. Its
 *	     callbacks run under a spinlock.
 *
 * Only while no value is in use: values already given cannot be moved.
 *
 * Context: process context; may sleep.
 * Return: 0; -EBUSY when values are in use and no backend is installed.
 */
int ioasid_pasid_add_backend(struct ioasid_pasid_backend *backend)
{
	int rc = 0;

	xa_lock(&ioasid_pasids);
	if (!ioasid_pasid_backend() && !xa_empty(&ioasid_pasids))
		rc = -EBUSY;
	else
		list_add_tail(&backend->list, &ioasid_pasid_backends);
	xa_unlock(&ioasid_pasids);
	return rc;
}
EXPORT_SYMBOL_GPL(ioasid_pasid_add_backend);

/**
 * ioasid_pasid_remove_backend() - undo ioasid_pasid_add_backend()
 * @backend: a backend; one that is not installed is ignored
 *
 * The next installed backend, if any, takes over: the backends of one
 * machine share the allocator behind them. Values given by the last one
 * are not given back to it when they are freed.
 *
 * Context: process context; may sleep.
 */
void ioasid_pasid_remove_backend(struct ioasid_pasid_backend *backend)
{
	struct ioasid_pasid_backend *cur;

	xa_lock(&ioasid_pasids);
	list_for_each_entry(cur, &ioasid_pasid_backends, list) {
		if (cur == backend) {
			list_del(&backend->list);
			break;
		}
	}
	xa_unlock(&ioasid_pasids);
}
EXPORT_SYMBOL_GPL(ioasid_pasid_remove_backend);

#if IS_ENABLED(CONFIG_IOASID_KUNIT_TEST)
#include "pasid_kunit.c"
#endif

MODULE_DESCRIPTION("The PASID space of the ioasid core");
MODULE_LICENSE("GPL");
