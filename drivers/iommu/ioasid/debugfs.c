// SPDX-License-Identifier: GPL-2.0-only
/*
 * Introspection: the state of every open /dev/ioasid file, in debugfs.
 *
 * /sys/kernel/debug/ioasid/<seq>-<pid>/ is made when a file is opened
 * (<seq> counts opens since boot, <pid> is the opener's) and removed when
 * it is released, before anything of the context goes: debugfs_remove()
 * waits for readers in the middle of a read, and later reads of a file
 * still open fail with EIO. The files are described in
 * Documentation/userspace-api/ioasid.rst, "Introspection".
 *
 * A reader is one more command in flight. It finds each object as a
 * command does (under the table's lock, counting itself in @active, so a
 * destroy waits for it) and then takes the locks the commands take, in
 * the documented order, one object at a time: ioas.mutex, then iopt.rwsem
 * for reading, then pages.lock; a group's lock for a device's
 * attachments; a mirror's lock. "objects" only reads object headers and
 * what never changes after a publish, under the table's lock alone. Each
 * object is consistent in itself; the file as a whole is not a snapshot.
 */
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

static struct dentry *ioasid_debugfs_root;
static atomic_t ioasid_debugfs_seq = ATOMIC_INIT(0);

/* Each type's name as the files print it: one upper-case word. */
static const struct {
	const struct ioasid_obj_ops *ops;
	const char *name;
} dbg_types[] = {
	{ &ioasid_ioas_ops, "IOAS" },
	{ &ioasid_hwpt_ops, "HWPT" },
	{ &ioasid_device_ops, "DEVICE" },
	{ &ioasid_access_ops, "ACCESS" },
	{ &ioasid_mirror_obj_ops, "MIRROR" },
	{ &ioasid_faultq_ops, "FAULT_QUEUE" },
};

static const char *dbg_type(const struct ioasid_object *obj)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dbg_types); i++)
		if (obj->ops == dbg_types[i].ops)
			return dbg_types[i].name;
	return "?";
}

/*
 * The next published, live object of type @ops from *@index on, counted
 * in its @active as a command's lookup does; *@index is left after it.
 * Release it with ioasid_obj_done().
 */
static struct ioasid_object *dbg_next(struct ioasid_ctx *ictx,
				      unsigned long *index,
				      const struct ioasid_obj_ops *ops)
{
	struct ioasid_object *obj;
	unsigned long id;

	xa_lock(&ictx->objects);
	xa_for_each_start(&ictx->objects, id, obj, *index) {
		if (obj->ops == ops && refcount_read(&obj->holds)) {
			atomic_inc(&obj->active);
			break;
		}
	}
	xa_unlock(&ictx->objects);
	if (obj)
		*index = id + 1;
	return obj;
}

static void dbg_pasid(struct seq_file *m, u32 pasid)
{
	if (pasid == IOASID_PASID_RID)
		seq_puts(m, " rid  ");
	else
		seq_printf(m, " %-5u", pasid);
}

/* objects ---------------------------------------------------------------- */

/* What never changes once the object is published. */
static void dbg_object_detail(struct seq_file *m, struct ioasid_object *obj)
{
	if (obj->ops == &ioasid_hwpt_ops) {
		struct ioasid_hwpt *hwpt = container_of(obj, struct ioasid_hwpt,
							obj);

		if (hwpt->kind == IOASID_HWPT_NESTED) {
			seq_printf(m, " nested parent=%u",
				   to_hwpt_nested(hwpt)->parent->common.obj.id);
		} else {
			struct ioasid_hwpt_paging *p = to_hwpt_paging(hwpt);

			seq_printf(m, " paging ioas=%u%s%s", p->ioas->obj.id,
				   p->auto_domain ? " auto" : "",
				   p->nest_parent ? " nest_parent" : "");
		}
		if (hwpt->faultq)
			seq_printf(m, " fault_queue=%u", hwpt->faultq->obj.id);
	} else if (obj->ops == &ioasid_device_ops) {
		struct ioasid_device *idev =
			container_of(obj, struct ioasid_device, obj);

		seq_printf(m, " dev=%s", dev_name(idev->dev));
	} else if (obj->ops == &ioasid_faultq_ops) {
		struct ioasid_faultq *q = container_of(obj,
						       struct ioasid_faultq, obj);

		seq_printf(m, " depth=%u", q->depth);
	}
	if (obj->driver_owned)
		seq_puts(m, " driver_owned");
}

static int objects_show(struct seq_file *m, void *unused)
{
	struct ioasid_ctx *ictx = m->private;
	struct ioasid_object *obj;
	unsigned long id;

	seq_puts(m, "id     type        holds  active detail\n");
	/* An object in the table is not freed before it leaves it. */
	xa_lock(&ictx->objects);
	xa_for_each(&ictx->objects, id, obj) {
		seq_printf(m, "%-6u %-11s %-6u %-6d", obj->id, dbg_type(obj),
			   refcount_read(&obj->holds),
			   atomic_read(&obj->active));
		/* A destroy under way: its object may be half torn down. */
		if (refcount_read(&obj->holds))
			dbg_object_detail(m, obj);
		else
			seq_puts(m, " dying");
		seq_putc(m, '\n');
	}
	xa_unlock(&ictx->objects);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(objects);

/* ioas ------------------------------------------------------------------- */

/*
 * Pages pinned and charged by the runs of pages the IOAS's areas use,
 * each run counted once. Under iopt.rwsem; takes pages.lock.
 */
static int dbg_ioas_pages(struct ioasid_iopt *iopt, unsigned long *pinned,
			  unsigned long *charged)
{
	struct ioasid_pages *pages;
	struct ioasid_area *area;
	struct xarray runs;
	unsigned long index;
	int rc = 0;

	lockdep_assert_held(&iopt->rwsem);
	xa_init(&runs);
	*pinned = 0;
	*charged = 0;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX)) {
		pages = area->pages;
		/* Distinct runs are at least one structure apart. */
		rc = xa_insert(&runs, (unsigned long)pages / sizeof(*pages),
			       pages, GFP_KERNEL);
		if (rc == -EBUSY)
			rc = 0;
		if (rc)
			goto out;
	}
	xa_for_each(&runs, index, pages) {
		mutex_lock(&pages->lock);
		*pinned += pages->npinned;
		*charged += pages->ncharged;
		mutex_unlock(&pages->lock);
	}
out:
	xa_destroy(&runs);
	return rc;
}

static void dbg_area(struct seq_file *m, struct ioasid_area *area)
{
	long pins = atomic_long_read(&area->num_access_pins);

	seq_printf(m, "  0x%016lx-0x%016lx 0x%-12lx %c%c",
		   area->node.start, area->node.last,
		   area->node.last - area->node.start + 1,
		   area->prot & IOMMU_READ ? 'r' : '-',
		   area->prot & IOMMU_WRITE ? 'w' : '-');
	if (area->pages->pfnmap)
		seq_puts(m, " pfnmap");
	if (area->vaddr_invalid)
		seq_puts(m, " vaddr_invalid");
	if (pins)
		seq_printf(m, " access_pins=%ld", pins);
	seq_putc(m, '\n');
}

static int dbg_ioas(struct seq_file *m, struct ioasid_ioas *ioas)
{
	struct ioasid_iopt *iopt = &ioas->iopt;
	unsigned long pinned, charged, bytes = 0;
	unsigned int nhwpts = 0, naccesses = 0;
	struct ioasid_hwpt_paging *hwpt;
	struct ioasid_access *access;
	struct ioasid_area *area;
	int rc;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, item)
		nhwpts++;
	list_for_each_entry(access, &ioas->access_list, item)
		naccesses++;
	down_read(&iopt->rwsem);
	rc = dbg_ioas_pages(iopt, &pinned, &charged);
	if (rc)
		goto out_unlock;
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX))
		bytes += area->node.last - area->node.start + 1;
	seq_printf(m,
		   "ioas %u mappings %lu bytes 0x%lx pinned %lu charged %lu hwpts %u domains %u accesses %u\n",
		   ioas->obj.id, iopt->num_areas, bytes, pinned, charged,
		   nhwpts, iopt->num_domains, naccesses);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX))
		dbg_area(m, area);
out_unlock:
	up_read(&iopt->rwsem);
	mutex_unlock(&ioas->mutex);
	return rc;
}

static int ioas_show(struct seq_file *m, void *unused)
{
	struct ioasid_ctx *ictx = m->private;
	struct ioasid_object *obj;
	unsigned long index;
	int rc = 0;

	for (index = 0; (obj = dbg_next(ictx, &index, &ioasid_ioas_ops));
	     ioasid_obj_done(obj)) {
		if (!rc)
			rc = dbg_ioas(m, container_of(obj, struct ioasid_ioas,
						      obj));
	}
	return rc;
}
DEFINE_SHOW_ATTRIBUTE(ioas);

/* attachments ------------------------------------------------------------ */

static void dbg_device_attachments(struct seq_file *m,
				   struct ioasid_device *idev)
{
	struct ioasid_group *igroup = idev->igroup;
	struct ioasid_attach *att;
	unsigned long pasid;

	mutex_lock(&igroup->lock);
	xa_for_each(&idev->attaches, pasid, att) {
		struct ioasid_hwpt *hwpt = att->hwpt;

		seq_printf(m, "device %-6u", idev->obj.id);
		dbg_pasid(m, att->pasid);
		seq_printf(m, " %-6u %-6u", hwpt->obj.id,
			   ioasid_hwpt_s2(hwpt)->ioas->obj.id);
		if (hwpt->kind == IOASID_HWPT_NESTED)
			seq_printf(m, " nested parent=%u",
				   ioasid_hwpt_s2(hwpt)->common.obj.id);
		seq_putc(m, '\n');
	}
	mutex_unlock(&igroup->lock);
}

static void dbg_ioas_accesses(struct seq_file *m, struct ioasid_ioas *ioas)
{
	struct ioasid_access *access;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(access, &ioas->access_list, item) {
		seq_printf(m, "access %-6u", access->obj.id);
		/* Set by the access's driver right after it joined the list */
		dbg_pasid(m, READ_ONCE(access->pasid));
		seq_printf(m, " -      %-6u\n", ioas->obj.id);
	}
	mutex_unlock(&ioas->mutex);
}

static int attachments_show(struct seq_file *m, void *unused)
{
	struct ioasid_ctx *ictx = m->private;
	struct ioasid_object *obj;
	unsigned long index;
	u32 ioas_id;

	seq_puts(m, "kind   id     pasid hwpt   ioas\n");
	for (index = 0; (obj = dbg_next(ictx, &index, &ioasid_device_ops));
	     ioasid_obj_done(obj))
		dbg_device_attachments(m, container_of(obj,
						       struct ioasid_device,
						       obj));
	for (index = 0; (obj = dbg_next(ictx, &index, &ioasid_ioas_ops));
	     ioasid_obj_done(obj))
		dbg_ioas_accesses(m, container_of(obj, struct ioasid_ioas, obj));
	for (index = 0;
	     (obj = dbg_next(ictx, &index, &ioasid_mirror_obj_ops));
	     ioasid_obj_done(obj)) {
		/* The header comes first in every object. */
		ioas_id = ioasid_mirror_ioas_id((struct ioasid_mirror *)obj);
		if (ioas_id)
			seq_printf(m, "mirror %-6u -     -      %-6u\n", obj->id,
				   ioas_id);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(attachments);

/* counters --------------------------------------------------------------- */

static const char *const dbg_stat_names[IOASID_STAT_NR] = {
	[IOASID_STAT_MAPS] = "maps",
	[IOASID_STAT_UNMAPS] = "unmaps",
	[IOASID_STAT_IOTLB_SYNCS] = "iotlb_syncs",
	[IOASID_STAT_PAGE_REQUESTS] = "page_requests",
	[IOASID_STAT_DMA_FAULTS] = "dma_faults",
};

static int counters_show(struct seq_file *m, void *unused)
{
	struct ioasid_ctx *ictx = m->private;
	unsigned int i;

	for (i = 0; i < IOASID_STAT_NR; i++)
		seq_printf(m, "%s %lld\n", dbg_stat_names[i],
			   atomic64_read(&ictx->stats.count[i]));
	seq_printf(m, "pinned_pages %ld\n",
		   atomic_long_read(&ictx->pinned_pages));
	seq_printf(m, "locked_pages %ld\n",
		   atomic_long_read(&ictx->locked_pages));
	seq_printf(m, "page_meta_bytes %ld\n",
		   atomic_long_read(&ictx->page_meta_bytes));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(counters);

/* Directories ------------------------------------------------------------ */

/**
 * ioasid_debugfs_ctx_add() - make the debugfs directory of a new file
 * @ictx: the context, initialised, not yet used
 *
 * Failures are not errors: the file works without its directory.
 *
 * Context: process context, in the opener's open(); may sleep.
 */
void ioasid_debugfs_ctx_add(struct ioasid_ctx *ictx)
{
	char name[32];
	struct dentry *dir;

	if (IS_ERR_OR_NULL(ioasid_debugfs_root))
		return;
	snprintf(name, sizeof(name), "%u-%d",
		 atomic_inc_return(&ioasid_debugfs_seq), task_tgid_nr(current));
	dir = debugfs_create_dir(name, ioasid_debugfs_root);
	if (IS_ERR(dir))
		return;
	debugfs_create_file("objects", 0400, dir, ictx, &objects_fops);
	debugfs_create_file("ioas", 0400, dir, ictx, &ioas_fops);
	debugfs_create_file("attachments", 0400, dir, ictx,
			    &attachments_fops);
	debugfs_create_file("counters", 0400, dir, ictx, &counters_fops);
	ictx->debugfs = dir;
}

/**
 * ioasid_debugfs_ctx_remove() - remove a file's debugfs directory
 * @ictx: the context being released
 *
 * Returns once no reader is in the middle of reading one of its files;
 * reads after that fail.
 *
 * Context: process context; may sleep. No core lock may be held.
 */
void ioasid_debugfs_ctx_remove(struct ioasid_ctx *ictx)
{
	debugfs_remove(ictx->debugfs);
	ictx->debugfs = NULL;
}

/**
 * ioasid_debugfs_init() - make /sys/kernel/debug/ioasid
 *
 * Context: module init, before the device nodes exist.
 */
void ioasid_debugfs_init(void)
{
	ioasid_debugfs_root = debugfs_create_dir("ioasid", NULL);
}

/**
 * ioasid_debugfs_exit() - remove /sys/kernel/debug/ioasid
 *
 * Context: module exit, after the device nodes are gone.
 */
void ioasid_debugfs_exit(void)
{
	debugfs_remove(ioasid_debugfs_root);
	ioasid_debugfs_root = NULL;
}
