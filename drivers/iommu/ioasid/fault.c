// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fault queues: I/O faults of a file's devices, delivered to userspace.
 *
 * A fault queue is an object of the file with a file descriptor of its own,
 * which userspace reads records from and writes responses to. Two kinds of
 * fault reach it, both through the handler the core registers with the
 * IOMMU core for every device it binds (iommu_register_device_fault_handler):
 *
 * Page requests (PCI PRI, or the mock's) of a (device, PASID) attached to a
 * HWPT made with the queue. The device waits for the answer to its request
 * group. A group becomes readable when its last request arrived, all its
 * records with the same cookie; userspace maps what is missing and answers
 * the cookie. The route a request takes is the device's per-PASID table
 * @routes, which attach, replace and detach keep up to date under the
 * group's lock; a group a (device, PASID) left behind is answered by the
 * core when the (device, PASID) moves: Success on replace (the device
 * retries, now through the new HWPT, and asks the new HWPT's queue if it
 * faults again), Invalid Request on detach, and Invalid Request for every
 * group outstanding when the queue's file is closed.
 *
 * Unrecoverable DMA faults of a device that reports to the queue
 * (IOASID_DEVICE_FAULTS). Nothing answers them. A device may produce them
 * as fast as it can issue DMA, so they are rate-limited per device: beyond
 * the device's rate per second, faults are only counted, and the count is
 * carried in the device's next record. By policy, a device faulting more
 * than a threshold within one second is blocked: its bus mastering is
 * turned off until its owner turns it back on.
 *
 * A queue holds at most @depth records, read or being collected. A page
 * request that finds it full fails, which makes the IOMMU driver answer
 * its group with Invalid Request; one IOASID_FAULT_LOST record, allocated
 * with the queue, counts them. A DMA fault that finds it full is counted
 * in the device's lost faults.
 *
 * Locking. The IOMMU core calls the handler with the device's fault
 * parameter mutex held (dev->iommu->lock), and takes it again in
 * iommu_page_response(): responses are therefore sent with no queue lock
 * held, and the handler never takes a group's lock. Its order:
 *
 *   ioasid_group.lock -> dev->iommu->lock -> faultq.lock
 *   dev->iommu->lock -> ioasid_dev_faults.lock (spinlock)
 *   dev->iommu->lock -> routes xa_lock (spinlock)
 *
 * A request routed to a queue is added under the queue's lock only if the
 * route still names the queue; a (device, PASID) leaving a queue changes
 * the route first and then collects its groups under the queue's lock, so
 * no group can be added behind its back.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/jiffies.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

#define FAULTQ_DEFAULT_DEPTH	256
#define FAULT_DEFAULT_RATE	100

/**
 * struct ioasid_fault_group - a page request group waiting for its answer
 * @idev: the device that sent it; answered before the device unbinds
 * @pasid: the PASID it came with, or IOASID_PASID_RID
 * @grpid: the device's group index
 * @pri_flags: the IOMMU core's flags of the last request
 * @cookie: its index in faultq.groups
 * @items: records collected until the last request arrives
 * @complete: the last request arrived; the records are readable
 * @lost: a request of the group found the queue full
 */
struct ioasid_fault_group {
	struct ioasid_device *idev;
	u32 pasid;
	u32 grpid;
	u32 pri_flags;
	u32 cookie;
	struct list_head items;
	bool complete;
	bool lost;
};

static void faultq_release(struct kref *kref)
{
	struct ioasid_faultq *q = container_of(kref, struct ioasid_faultq, ref);

	IOASID_WARN_ON(!list_empty(&q->records));
	IOASID_WARN_ON(!xa_empty(&q->groups));
	xa_destroy(&q->groups);
	mutex_destroy(&q->lock);
	kfree(q);
}

static void faultq_put(struct ioasid_faultq *q)
{
	kref_put(&q->ref, faultq_release);
}

static void faultq_destroy(struct ioasid_object *obj)
{
	faultq_put(container_of(obj, struct ioasid_faultq, obj));
}

const struct ioasid_obj_ops ioasid_faultq_ops = {
	.name = "fault queue",
	.destroy = faultq_destroy,
	.abort = faultq_destroy,
};

/**
 * ioasid_get_faultq() - find a fault queue for the command in flight
 * @ictx: the context
 * @id: ID from userspace
 *
 * Context: any.
 * Return: the queue, to be released with ioasid_obj_done(), or
 * ERR_PTR(-ENOENT).
 */
struct ioasid_faultq *ioasid_get_faultq(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj = ioasid_obj_find(ictx, id,
						    &ioasid_faultq_ops);

	return IS_ERR(obj) ? ERR_CAST(obj) :
			     container_of(obj, struct ioasid_faultq, obj);
}

/* Queueing -------------------------------------------------------------- */

static bool faultq_full(struct ioasid_faultq *q)
{
	lockdep_assert_held(&q->lock);
	return q->nr_items >= q->depth;
}

/* Count a page request lost to a full queue in the LOST record. */
static void faultq_lose_request(struct ioasid_faultq *q)
{
	lockdep_assert_held(&q->lock);
	q->lost_item.rec.lost++;
	if (list_empty(&q->lost_item.node)) {
		list_add_tail(&q->lost_item.node, &q->records);
		wake_up_interruptible(&q->wait);
	}
}

static struct ioasid_fault_group *faultq_open_group(struct ioasid_faultq *q,
						    struct ioasid_device *idev,
						    u32 pasid, u32 grpid)
{
	struct ioasid_fault_group *group;
	unsigned long cookie;

	xa_for_each(&q->groups, cookie, group)
		if (!group->complete && group->idev == idev &&
		    group->pasid == pasid && group->grpid == grpid)
			return group;
	group = kzalloc(sizeof(*group), GFP_KERNEL);
	if (!group)
		return NULL;
	group->idev = idev;
	group->pasid = pasid;
	group->grpid = grpid;
	INIT_LIST_HEAD(&group->items);
	/* Cyclic: a late answer to an old cookie must not hit a new group. */
	if (xa_alloc_cyclic(&q->groups, &group->cookie, group, xa_limit_32b,
			    &q->next_cookie, GFP_KERNEL) < 0) {
		kfree(group);
		return NULL;
	}
	return group;
}

static void faultq_free_items(struct ioasid_faultq *q, struct list_head *list)
{
	struct ioasid_fault_item *item, *next;

	list_for_each_entry_safe(item, next, list, node) {
		list_del(&item->node);
		q->nr_items--;
		kfree(item);
	}
}

static void faultq_drop_group(struct ioasid_faultq *q,
			      struct ioasid_fault_group *group)
{
	xa_erase(&q->groups, group->cookie);
	faultq_free_items(q, &group->items);
	kfree(group);
}

static u32 fault_perm_flags(u32 perm)
{
	return (perm & IOMMU_FAULT_PERM_READ ? IOASID_FAULT_READ : 0) |
	       (perm & IOMMU_FAULT_PERM_WRITE ? IOASID_FAULT_WRITE : 0) |
	       (perm & IOMMU_FAULT_PERM_EXEC ? IOASID_FAULT_EXEC : 0) |
	       (perm & IOMMU_FAULT_PERM_PRIV ? IOASID_FAULT_PRIV : 0);
}

/* Add one page request to its group; the group is readable once complete. */
static int faultq_add_request(struct ioasid_faultq *q,
			      struct ioasid_device *idev, u32 pasid,
			      const struct iommu_fault_page_request *prm)
{
	bool last = prm->flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
	struct ioasid_fault_group *group;
	struct ioasid_fault_item *item;

	group = faultq_open_group(q, idev, pasid, prm->grpid);
	if (!group)
		return -ENOMEM;
	item = NULL;
	if (!group->lost && !faultq_full(q))
		item = kzalloc(sizeof(*item), GFP_KERNEL);
	if (!item) {
		group->lost = true;
		faultq_lose_request(q);
	} else {
		q->nr_items++;
		item->rec = (struct ioasid_fault){
			.type = IOASID_FAULT_PAGE_REQ,
			.flags = fault_perm_flags(prm->perm) |
				 IOASID_FAULT_ADDR_VALID,
			.addr = prm->addr,
			.dev_id = idev->obj.id,
			.grpid = prm->grpid,
			.cookie = group->cookie,
		};
		if (pasid != IOASID_PASID_RID) {
			item->rec.flags |= IOASID_FAULT_PASID_VALID;
			item->rec.pasid = pasid;
		}
		list_add_tail(&item->node, &group->items);
	}
	if (!last)
		return group->lost ? -ENOSPC : 0;
	if (group->lost) {
		faultq_drop_group(q, group);
		return -ENOSPC;
	}
	item = list_last_entry(&group->items, struct ioasid_fault_item, node);
	item->rec.flags |= IOASID_FAULT_LAST_IN_GROUP;
	group->pri_flags = prm->flags;
	group->complete = true;
	list_splice_tail_init(&group->items, &q->records);
	wake_up_interruptible(&q->wait);
	return 0;
}

/*
 * A group leaves its queue to be answered: its device cannot unbind until
 * the answer is sent (ioasid_fault_unbind() waits), as the IOMMU core
 * keeps the last request until then.
 */
static void fault_group_taken(struct ioasid_fault_group *group)
{
	atomic_inc(&group->idev->faults.answering);
}

/* Answer one group: with no queue lock held (see the top of the file). */
static void fault_respond(struct ioasid_fault_group *group, u32 code)
{
	struct ioasid_dev_faults *df = &group->idev->faults;

	struct iommu_page_response msg = {
		.argsz = sizeof(msg),
		.version = IOMMU_PAGE_RESP_VERSION_1,
		.grpid = group->grpid,
		.code = code,
	};

	if (group->pri_flags & IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID) {
		msg.flags = IOMMU_PAGE_RESP_PASID_VALID;
		msg.pasid = group->pasid;
	}
	if (iommu_page_response(group->idev->dev, &msg))
		dev_dbg(group->idev->dev, "page response to group %u lost\n",
			group->grpid);
	kfree(group);
	if (atomic_dec_and_test(&df->answering))
		wake_up_var(&df->answering);
}

/*
 * Take the groups of (@idev, @pasid) (of every device when @idev is NULL)
 * out of the queue: the complete ones onto @out, to be answered; the
 * others are dropped, as their last request will find no route (or a
 * closed queue) and the IOMMU driver answers it.
 */
static void faultq_take_groups(struct ioasid_faultq *q,
			       struct ioasid_device *idev, u32 pasid,
			       struct list_head *out)
{
	struct ioasid_fault_item *item, *next;
	struct ioasid_fault_group *group;
	unsigned long cookie;

	mutex_lock(&q->lock);
	xa_for_each(&q->groups, cookie, group) {
		if (idev && (group->idev != idev || group->pasid != pasid))
			continue;
		if (!group->complete) {
			faultq_drop_group(q, group);
			continue;
		}
		xa_erase(&q->groups, cookie);
		fault_group_taken(group);
		/* Its records not read yet name a cookie that is gone. */
		list_for_each_entry_safe(item, next, &q->records, node) {
			if (item->rec.type != IOASID_FAULT_PAGE_REQ ||
			    item->rec.cookie != group->cookie)
				continue;
			list_del(&item->node);
			q->nr_items--;
			kfree(item);
		}
		list_add_tail(&group->items, out);
	}
	mutex_unlock(&q->lock);
}

static void faultq_answer(struct ioasid_faultq *q, struct ioasid_device *idev,
			  u32 pasid, u32 code)
{
	struct ioasid_fault_group *group, *next;
	LIST_HEAD(taken);

	faultq_take_groups(q, idev, pasid, &taken);
	/* @items is empty in a complete group: it links the taken list. */
	list_for_each_entry_safe(group, next, &taken, items) {
		list_del(&group->items);
		fault_respond(group, code);
	}
}

/* Routes ---------------------------------------------------------------- */

/**
 * ioasid_fault_route() - point (device, PASID)'s page requests at a HWPT's queue
 * @idev: bound device
 * @pasid: the PASID, or IOASID_PASID_RID
 * @hwpt: the HWPT it is attached to now, or NULL when detached
 * @old: the HWPT it was attached to, or NULL
 *
 * Groups the (device, PASID) left in @old's queue are answered: Success
 * when it moved to another HWPT (the device retries there), Invalid
 * Request when it was detached.
 *
 * Context: process context; the caller holds the device's group lock.
 */
void ioasid_fault_route(struct ioasid_device *idev, u32 pasid,
			struct ioasid_hwpt *hwpt, struct ioasid_hwpt *old)
{
	struct ioasid_faultq *newq = hwpt ? hwpt->faultq : NULL;
	struct ioasid_faultq *oldq = old ? old->faultq : NULL;

	lockdep_assert_held(&idev->igroup->lock);
	/*
	 * Without memory for the route, the requests find none and the IOMMU
	 * driver answers them Invalid Request.
	 */
	if (newq)
		xa_store(&idev->faults.routes, pasid, newq, GFP_KERNEL);
	else
		xa_erase(&idev->faults.routes, pasid);
	if (oldq)
		faultq_answer(oldq, idev, pasid,
			      hwpt ? IOMMU_PAGE_RESP_SUCCESS :
				     IOMMU_PAGE_RESP_INVALID);
}

/* The queue page requests of (@idev, @pasid) go to, referenced, or NULL. */
static struct ioasid_faultq *fault_route_get(struct ioasid_device *idev,
					     u32 pasid)
{
	struct ioasid_faultq *q;

	xa_lock(&idev->faults.routes);
	q = xa_load(&idev->faults.routes, pasid);
	if (q)
		kref_get(&q->ref);
	xa_unlock(&idev->faults.routes);
	return q;
}

static int fault_page_request(struct ioasid_device *idev,
			      const struct iommu_fault_page_request *prm)
{
	u32 pasid = prm->flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID ?
		    prm->pasid : IOASID_PASID_RID;
	struct ioasid_faultq *q;
	int rc = -ENODEV;

	q = fault_route_get(idev, pasid);
	if (!q)
		return rc;
	mutex_lock(&q->lock);
	/* Still routed here: a leaving (device, PASID) collects after us. */
	if (!q->closed && xa_load(&idev->faults.routes, pasid) == q)
		rc = faultq_add_request(q, idev, pasid, prm);
	mutex_unlock(&q->lock);
	faultq_put(q);
	return rc;
}

/* Unrecoverable faults -------------------------------------------------- */

static u32 fault_reason(u32 reason)
{
	/* A translation fault is PTE_FETCH to the IOMMU core's drivers. */
	switch (reason) {
	case IOMMU_FAULT_REASON_PTE_FETCH:
		return IOASID_FAULT_REASON_NOT_PRESENT;
	case IOMMU_FAULT_REASON_WALK_EABT:
		return IOASID_FAULT_REASON_TABLE;
	case IOMMU_FAULT_REASON_PASID_FETCH:
	case IOMMU_FAULT_REASON_BAD_PASID_ENTRY:
	case IOMMU_FAULT_REASON_PASID_INVALID:
		return IOASID_FAULT_REASON_PASID;
	case IOMMU_FAULT_REASON_PERMISSION:
	case IOMMU_FAULT_REASON_ACCESS:
		return IOASID_FAULT_REASON_PERMISSION;
	case IOMMU_FAULT_REASON_OOR_ADDRESS:
		return IOASID_FAULT_REASON_RANGE;
	}
	return IOASID_FAULT_REASON_UNKNOWN;
}

/*
 * Count one fault against the device's rate and block threshold. Returns
 * the faults to report as lost in a record, or -1 when no record is due.
 */
static s64 fault_dma_account(struct ioasid_dev_faults *df, bool *block)
{
	unsigned long now = jiffies;
	s64 lost = -1;

	lockdep_assert_held(&df->lock);
	if (time_after_eq(now, df->win_start + HZ)) {
		df->win_start = now;
		df->win_faults = 0;
		df->win_records = 0;
	}
	df->faults++;
	df->win_faults++;
	if (df->block_after && !df->blocked &&
	    df->win_faults >= df->block_after) {
		df->blocked = true;
		*block = true;
	}
	if (df->win_records < df->rate) {
		df->win_records++;
		lost = df->pending_lost;
		df->pending_lost = 0;
	} else {
		df->pending_lost++;
		df->lost++;
	}
	return lost;
}

/* A record lost to a full queue is lost with the faults it carried. */
static void fault_dma_lost(struct ioasid_dev_faults *df, u64 carried)
{
	spin_lock(&df->lock);
	df->pending_lost += carried + 1;
	df->lost++;
	spin_unlock(&df->lock);
}

static int faultq_add_record(struct ioasid_faultq *q,
			     const struct ioasid_fault *rec)
{
	struct ioasid_fault_item *item;
	int rc = -ENOSPC;

	mutex_lock(&q->lock);
	if (q->closed || faultq_full(q))
		goto out_unlock;
	item = kzalloc(sizeof(*item), GFP_KERNEL);
	rc = -ENOMEM;
	if (!item)
		goto out_unlock;
	item->rec = *rec;
	q->nr_items++;
	list_add_tail(&item->node, &q->records);
	wake_up_interruptible(&q->wait);
	rc = 0;
out_unlock:
	mutex_unlock(&q->lock);
	return rc;
}

static void fault_block(struct ioasid_device *idev)
{
	if (dev_is_pci(idev->dev))
		pci_clear_master(to_pci_dev(idev->dev));
	dev_warn_ratelimited(idev->dev,
			     "blocked for faulting %u times in a second\n",
			     idev->faults.block_after);
}

static int fault_dma(struct ioasid_device *idev,
		     const struct iommu_fault_unrecoverable *event)
{
	struct ioasid_dev_faults *df = &idev->faults;
	struct ioasid_fault rec = {
		.type = IOASID_FAULT_DMA,
		.dev_id = idev->obj.id,
		.reason = fault_reason(event->reason),
	};
	struct ioasid_faultq *q;
	bool block = false;
	s64 lost;

	spin_lock(&df->lock);
	q = df->q;
	if (!q) {
		spin_unlock(&df->lock);
		return -ENODEV;
	}
	kref_get(&q->ref);
	lost = fault_dma_account(df, &block);
	spin_unlock(&df->lock);

	if (event->flags & IOMMU_FAULT_UNRECOV_ADDR_VALID) {
		rec.flags |= IOASID_FAULT_ADDR_VALID;
		rec.addr = event->addr;
	}
	if (event->flags & IOMMU_FAULT_UNRECOV_PASID_VALID) {
		rec.flags |= IOASID_FAULT_PASID_VALID;
		rec.pasid = event->pasid;
	}
	rec.flags |= fault_perm_flags(event->perm);
	if (lost >= 0) {
		rec.lost = lost;
		if (faultq_add_record(q, &rec))
			fault_dma_lost(df, lost);
	}
	if (block) {
		fault_block(idev);
		rec = (struct ioasid_fault){
			.type = IOASID_FAULT_BLOCKED,
			.dev_id = idev->obj.id,
		};
		faultq_add_record(q, &rec);
	}
	faultq_put(q);
	return 0;
}

/*
 * The handler the core registers for every device it binds. Called by the
 * IOMMU core with the device's fault parameter mutex held. An error makes
 * the IOMMU driver handle the fault itself: answer a page request group
 * with Invalid Request, log an unrecoverable fault.
 */
static int ioasid_fault_handler(struct iommu_fault *fault, void *data)
{
	struct ioasid_device *idev = data;
	struct ioasid_stats *stats = &idev->ictx->stats;

	switch (fault->type) {
	case IOMMU_FAULT_PAGE_REQ:
		ioasid_stat_add(stats, IOASID_STAT_PAGE_REQUESTS, 1);
		return fault_page_request(idev, &fault->prm);
	case IOMMU_FAULT_DMA_UNRECOV:
		ioasid_stat_add(stats, IOASID_STAT_DMA_FAULTS, 1);
		return fault_dma(idev, &fault->event);
	}
	return -EOPNOTSUPP;
}

/**
 * ioasid_fault_bind() - take a newly bound device's I/O faults
 * @idev: the device, not published yet
 *
 * Context: process context; may sleep.
 * Return: 0; -EBUSY when another fault handler has the device's faults;
 * -ENOMEM.
 */
int ioasid_fault_bind(struct ioasid_device *idev)
{
	struct ioasid_dev_faults *df = &idev->faults;
	int rc;

	spin_lock_init(&df->lock);
	xa_init(&df->routes);
	df->rate = FAULT_DEFAULT_RATE;
	rc = iommu_register_device_fault_handler(idev->dev,
						 ioasid_fault_handler, idev);
	if (rc)
		return rc;
	df->registered = true;
	return 0;
}

/**
 * ioasid_fault_unbind() - give up a device's I/O faults
 * @idev: the device, detached from every HWPT (its page request groups
 *	  were answered then)
 *
 * Context: process context; may sleep.
 */
void ioasid_fault_unbind(struct ioasid_device *idev)
{
	struct ioasid_dev_faults *df = &idev->faults;

	/* Answers taken out of a queue before the detach are on their way. */
	wait_var_event(&df->answering, !atomic_read(&df->answering));
	if (df->registered)
		IOASID_WARN_ON(iommu_unregister_device_fault_handler(idev->dev));
	df->registered = false;
	if (df->q) {
		ioasid_obj_unhold(&df->q->obj);
		faultq_put(df->q);
		df->q = NULL;
	}
	IOASID_WARN_ON(!xa_empty(&df->routes));
	xa_destroy(&df->routes);
}

/**
 * ioasid_device_dma_blocked() - was the device blocked for faulting?
 * @idev: a bound device
 *
 * For devices the core models itself (the mock), whose DMA has no bus
 * master bit.
 *
 * Context: any.
 * Return: true while blocked.
 */
bool ioasid_device_dma_blocked(struct ioasid_device *idev)
{
	return READ_ONCE(idev->faults.blocked);
}

/* IOASID_DEVICE_FAULTS -------------------------------------------------- */

static int device_faults_report(struct ioasid_device *idev,
				struct ioasid_device_faults *args)
{
	struct ioasid_dev_faults *df = &idev->faults;
	struct ioasid_faultq *q, *old;
	int rc;

	q = ioasid_get_faultq(idev->ictx, args->fault_id);
	if (IS_ERR(q))
		return PTR_ERR(q);
	rc = ioasid_obj_hold(&q->obj);
	if (rc)
		goto out_done;
	kref_get(&q->ref);
	spin_lock(&df->lock);
	old = df->q;
	df->q = q;
	df->rate = args->rate ?: FAULT_DEFAULT_RATE;
	df->block_after = args->block_after;
	df->faults = 0;
	df->lost = 0;
	df->pending_lost = 0;
	df->win_faults = 0;
	df->win_records = 0;
	df->win_start = jiffies;
	spin_unlock(&df->lock);
	if (old) {
		ioasid_obj_unhold(&old->obj);
		faultq_put(old);
	}
out_done:
	ioasid_obj_done(&q->obj);
	return rc;
}

static void device_faults_stop(struct ioasid_device *idev)
{
	struct ioasid_dev_faults *df = &idev->faults;
	struct ioasid_faultq *old;

	spin_lock(&df->lock);
	old = df->q;
	df->q = NULL;
	spin_unlock(&df->lock);
	if (old) {
		ioasid_obj_unhold(&old->obj);
		faultq_put(old);
	}
}

static void device_faults_unblock(struct ioasid_device *idev)
{
	struct ioasid_dev_faults *df = &idev->faults;
	bool was;

	spin_lock(&df->lock);
	was = df->blocked;
	df->blocked = false;
	df->win_faults = 0;
	df->win_start = jiffies;
	spin_unlock(&df->lock);
	if (was && dev_is_pci(idev->dev))
		pci_set_master(to_pci_dev(idev->dev));
}

static int device_faults_apply(struct ioasid_device *idev,
			       struct ioasid_device_faults *args)
{
	switch (args->flags) {
	case 0:
		return 0;
	case IOASID_DEVICE_FAULTS_REPORT:
		if (!idev->faults.registered)
			return -EBUSY;
		return device_faults_report(idev, args);
	case IOASID_DEVICE_FAULTS_STOP:
		device_faults_stop(idev);
		return 0;
	case IOASID_DEVICE_FAULTS_UNBLOCK:
		device_faults_unblock(idev);
		return 0;
	}
	return -EOPNOTSUPP;
}

int ioasid_device_faults_ioctl(struct ioasid_call *call)
{
	struct ioasid_device_faults args;
	struct ioasid_dev_faults *df;
	struct ioasid_device *idev;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.__reserved)
		return -EOPNOTSUPP;
	idev = ioasid_get_device(call->ictx, args.dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	rc = device_faults_apply(idev, &args);
	if (rc)
		goto out_done;
	df = &idev->faults;
	spin_lock(&df->lock);
	args.out_faults = df->faults;
	args.out_lost = df->lost;
	args.out_blocked = df->blocked;
	spin_unlock(&df->lock);
	rc = ioasid_call_reply(call, &args, sizeof(args));
out_done:
	ioasid_obj_done(&idev->obj);
	return rc;
}

/* The queue's file ------------------------------------------------------ */

/* Move up to @max records to @out, in order. */
static unsigned int faultq_pop(struct ioasid_faultq *q, struct list_head *out,
			       unsigned int max)
{
	struct ioasid_fault_item *item, *next;
	unsigned int n = 0;

	lockdep_assert_held(&q->lock);
	list_for_each_entry_safe(item, next, &q->records, node) {
		if (n == max)
			break;
		list_move_tail(&item->node, out);
		n++;
	}
	return n;
}

/* Give back records that could not be copied, ahead of the others. */
static void faultq_unpop(struct ioasid_faultq *q, struct list_head *list)
{
	mutex_lock(&q->lock);
	list_splice(list, &q->records);
	mutex_unlock(&q->lock);
}

/*
 * Consume a record userspace got. The LOST record is reused: losses
 * counted after it was copied stay in it, and it goes back in the queue.
 */
static void faultq_consumed(struct ioasid_faultq *q,
			    struct ioasid_fault_item *item, u64 copied_lost)
{
	lockdep_assert_held(&q->lock);
	list_del_init(&item->node);
	if (item == &q->lost_item) {
		item->rec.lost -= copied_lost;
		if (item->rec.lost)
			list_add_tail(&item->node, &q->records);
		return;
	}
	q->nr_items--;
	kfree(item);
}

static int faultq_copy_out(struct ioasid_faultq *q, struct list_head *list,
			   char __user *buf, size_t *done)
{
	struct ioasid_fault_item *item, *next;
	struct ioasid_fault rec;

	list_for_each_entry_safe(item, next, list, node) {
		mutex_lock(&q->lock);
		rec = item->rec;
		mutex_unlock(&q->lock);
		if (copy_to_user(buf + *done, &rec, sizeof(rec)))
			return -EFAULT;
		*done += sizeof(rec);
		mutex_lock(&q->lock);
		faultq_consumed(q, item, rec.lost);
		mutex_unlock(&q->lock);
	}
	return 0;
}

static ssize_t faultq_fops_read(struct file *filp, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct ioasid_faultq *q = filp->private_data;
	size_t max = count / sizeof(struct ioasid_fault);
	size_t done = 0;
	LIST_HEAD(got);
	int rc;

	if (*ppos || !max)
		return -EINVAL;
	mutex_lock(&q->lock);
	while (list_empty(&q->records)) {
		mutex_unlock(&q->lock);
		if (filp->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(q->wait,
					     !list_empty(&q->records)))
			return -ERESTARTSYS;
		mutex_lock(&q->lock);
	}
	faultq_pop(q, &got, max);
	mutex_unlock(&q->lock);
	rc = faultq_copy_out(q, &got, buf, &done);
	if (!list_empty(&got))
		faultq_unpop(q, &got);
	return done ? done : rc;
}

/* Take the group @resp answers; NULL when there is none to answer. */
static struct ioasid_fault_group *
faultq_take_answered(struct ioasid_faultq *q,
		     const struct ioasid_fault_response *resp)
{
	struct ioasid_fault_group *group;

	if (resp->code > IOASID_FAULT_RESP_FAILURE)
		return NULL;
	mutex_lock(&q->lock);
	group = xa_load(&q->groups, resp->cookie);
	if (group && group->complete) {
		xa_erase(&q->groups, resp->cookie);
		fault_group_taken(group);
	} else {
		group = NULL;
	}
	mutex_unlock(&q->lock);
	return group;
}

static ssize_t faultq_fops_write(struct file *filp, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct ioasid_faultq *q = filp->private_data;
	struct ioasid_fault_response resp;
	struct ioasid_fault_group *group;
	size_t done = 0;

	if (*ppos || !count || count % sizeof(resp))
		return -EINVAL;
	while (done < count) {
		if (copy_from_user(&resp, buf + done, sizeof(resp)))
			return done ? done : -EFAULT;
		group = faultq_take_answered(q, &resp);
		if (!group)
			return done ? done : -EINVAL;
		fault_respond(group, resp.code);
		done += sizeof(resp);
	}
	return done;
}

static __poll_t faultq_fops_poll(struct file *filp,
				 struct poll_table_struct *wait)
{
	struct ioasid_faultq *q = filp->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(filp, &q->wait, wait);
	mutex_lock(&q->lock);
	if (!list_empty(&q->records))
		mask |= EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&q->lock);
	return mask;
}

/*
 * No one reads the queue any more: every group outstanding is answered
 * Invalid Request, and so is every page request from now on.
 */
static int faultq_fops_release(struct inode *inode, struct file *filp)
{
	struct ioasid_faultq *q = filp->private_data;
	struct ioasid_ctx *ictx = q->obj.ictx;
	struct ioasid_fault_item *item, *next;

	mutex_lock(&q->lock);
	q->closed = true;
	mutex_unlock(&q->lock);
	faultq_answer(q, NULL, 0, IOMMU_PAGE_RESP_INVALID);
	mutex_lock(&q->lock);
	list_for_each_entry_safe(item, next, &q->records, node)
		faultq_consumed(q, item, item->rec.lost);
	mutex_unlock(&q->lock);
	ioasid_obj_unhold(&q->obj);
	faultq_put(q);
	fput(ictx->file);
	return 0;
}

static const struct file_operations faultq_fops = {
	.owner = THIS_MODULE,
	.read = faultq_fops_read,
	.write = faultq_fops_write,
	.poll = faultq_fops_poll,
	.release = faultq_fops_release,
	.llseek = no_llseek,
};

static struct ioasid_faultq *faultq_new(struct ioasid_ctx *ictx, u32 depth)
{
	struct ioasid_faultq *q;

	q = ioasid_obj_new(ictx, sizeof(*q), &ioasid_faultq_ops);
	if (IS_ERR(q))
		return q;
	kref_init(&q->ref);
	mutex_init(&q->lock);
	init_waitqueue_head(&q->wait);
	INIT_LIST_HEAD(&q->records);
	xa_init_flags(&q->groups, XA_FLAGS_ALLOC1);
	INIT_LIST_HEAD(&q->lost_item.node);
	q->lost_item.rec.type = IOASID_FAULT_LOST;
	q->depth = depth;
	return q;
}

/*
 * The new file holds the queue (which cannot be destroyed while it is
 * open) and the context's file; it is installed only after the reply.
 */
static struct file *faultq_file(struct ioasid_faultq *q)
{
	struct file *file;

	file = anon_inode_getfile("[ioasid-fault]", &faultq_fops, q,
				  O_RDWR | O_CLOEXEC);
	if (IS_ERR(file))
		return file;
	refcount_inc(&q->obj.holds);
	kref_get(&q->ref);
	get_file(q->obj.ictx->file);
	return file;
}

int ioasid_fault_queue_alloc_ioctl(struct ioasid_call *call)
{
	struct ioasid_fault_queue_alloc args;
	struct ioasid_faultq *q;
	struct file *file;
	int fd, rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags || args.__reserved)
		return -EOPNOTSUPP;
	if (args.depth > IOASID_FAULT_QUEUE_MAX_DEPTH)
		return -EINVAL;
	q = faultq_new(call->ictx, args.depth ?: FAULTQ_DEFAULT_DEPTH);
	if (IS_ERR(q))
		return PTR_ERR(q);
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		rc = fd;
		goto err_abort;
	}
	file = faultq_file(q);
	if (IS_ERR(file)) {
		rc = PTR_ERR(file);
		goto err_fd;
	}
	args.out_fault_id = q->obj.id;
	args.out_fault_fd = fd;
	rc = ioasid_call_reply(call, &args, sizeof(args));
	if (rc)
		goto err_file;
	ioasid_obj_publish(&q->obj);
	fd_install(fd, file);
	return 0;

err_file:
	/*
	 * Its release, deferred to the return to userspace, drops what the
	 * file holds; its reference keeps the queue's memory until then.
	 */
	fput(file);
err_fd:
	put_unused_fd(fd);
err_abort:
	ioasid_obj_abort(&q->obj);
	return rc;
}
