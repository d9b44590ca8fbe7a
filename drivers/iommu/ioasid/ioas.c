// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOAS object and its commands. This layer checks what userspace
 * passes (flags, sizes, alignment, wrap-around) and turns it into calls on
 * the IOVA map (io_pagetable.c), which does the work.
 */
#include <linux/interval_tree.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

static void ioasid_ioas_free(struct ioasid_object *obj)
{
	struct ioasid_ioas *ioas = container_of(obj, struct ioasid_ioas, obj);

	IOASID_WARN_ON(!list_empty(&ioas->hwpt_list));
	IOASID_WARN_ON(!list_empty(&ioas->access_list));
	ioasid_iopt_destroy(&ioas->iopt);
	mutex_destroy(&ioas->mutex);
	kfree(ioas);
}

/* An IOAS is complete as soon as it exists: abort and destroy agree. */
const struct ioasid_obj_ops ioasid_ioas_ops = {
	.name = "ioas",
	.destroy = ioasid_ioas_free,
	.abort = ioasid_ioas_free,
};

/**
 * ioasid_get_ioas() - find an IOAS for the command in flight
 * @ictx: the context
 * @id: ID from userspace
 *
 * Context: any.
 * Return: the IOAS, to be released with ioasid_obj_done(), or
 * ERR_PTR(-ENOENT).
 */
struct ioasid_ioas *ioasid_get_ioas(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj = ioasid_obj_find(ictx, id, &ioasid_ioas_ops);

	return IS_ERR(obj) ? ERR_CAST(obj) :
			     container_of(obj, struct ioasid_ioas, obj);
}

/**
 * ioasid_ioas_new() - make an empty IOAS
 * @ictx: the context
 *
 * Context: process context; may sleep.
 * Return: the IOAS, not yet published (ioasid_obj_publish() or
 * ioasid_obj_abort()), or an ERR_PTR from ioasid_obj_new().
 */
struct ioasid_ioas *ioasid_ioas_new(struct ioasid_ctx *ictx)
{
	struct ioasid_ioas *ioas;

	ioas = ioasid_obj_new(ictx, sizeof(*ioas), &ioasid_ioas_ops);
	if (IS_ERR(ioas))
		return ioas;
	ioasid_iopt_init(&ioas->iopt);
	ioas->iopt.stats = &ictx->stats;
	mutex_init(&ioas->mutex);
	INIT_LIST_HEAD(&ioas->hwpt_list);
	INIT_LIST_HEAD(&ioas->access_list);
	return ioas;
}

int ioasid_ioas_create_ioctl(struct ioasid_call *call)
{
	struct ioasid_ioas_create args;
	struct ioasid_ioas *ioas;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags || args.__rsvd)
		return -EOPNOTSUPP;
	ioas = ioasid_ioas_new(call->ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	args.out_ioas_id = ioas->obj.id;
	rc = ioasid_call_reply(call, &args, sizeof(args));
	if (rc) {
		ioasid_obj_abort(&ioas->obj);
		return rc;
	}
	ioasid_obj_publish(&ioas->obj);
	return 0;
}

/* What IOAS_INFO reports besides the ranges, read under the lock. */
static void ioas_info_counts(struct ioasid_ioas *ioas,
			     struct ioasid_ioas_info *args)
{
	struct ioasid_iopt *iopt = &ioas->iopt;
	struct ioasid_area *area;
	u64 mapped = 0;

	down_read(&iopt->rwsem);
	for (area = ioasid_iopt_area_first(iopt, 0, ULONG_MAX); area;
	     area = ioasid_iopt_area_next(area, 0, ULONG_MAX))
		mapped += area->node.last - area->node.start + 1;
	args->out_alignment = iopt->iova_alignment;
	args->out_mapped = mapped;
	args->out_nr_mappings = min_t(unsigned long, iopt->num_areas, U32_MAX);
	args->out_nr_hwpts = iopt->num_domains;
	up_read(&iopt->rwsem);
}

int ioasid_ioas_info_ioctl(struct ioasid_call *call)
{
	struct ioasid_ioas_info args;
	struct ioasid_ioas *ioas;
	int rc, rc2;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	ioas = ioasid_get_ioas(call->ictx, args.ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioasid_iopt_usable_ranges(&ioas->iopt, u64_to_user_ptr(args.ranges),
				       &args.nr_ranges);
	ioas_info_counts(ioas, &args);
	ioasid_obj_done(&ioas->obj);
	if (rc && rc != -EMSGSIZE)
		return rc;
	/* EMSGSIZE still tells how many ranges there are. */
	rc2 = ioasid_call_reply(call, &args, sizeof(args));
	return rc2 ? rc2 : rc;
}

/* A limit range must be aligned, ordered, and clear of the others. */
static bool ioas_limit_range_ok(const struct ioasid_iova_range *r,
				unsigned long align, struct rb_root_cached *root)
{
	/* r->last + 1 wraps to 0 for a range that ends at the top. */
	return r->first <= r->last && r->last <= ULONG_MAX &&
	       !(r->first % align) && !((r->last + 1) % align) &&
	       !interval_tree_iter_first(root, r->first, r->last);
}

/* Read the user's ranges into a new interval tree, checking each. */
static int ioas_limit_read(struct ioasid_ioas_limit *args, unsigned long align,
			   struct rb_root_cached *root)
{
	struct ioasid_iova_range __user *uranges = u64_to_user_ptr(args->ranges);
	struct interval_tree_node *node;
	struct ioasid_iova_range r;
	u32 i;

	for (i = 0; i < args->nr_ranges; i++) {
		if (copy_from_user(&r, &uranges[i], sizeof(r)))
			return -EFAULT;
		if (!ioas_limit_range_ok(&r, align, root))
			return -EINVAL;
		node = kmalloc(sizeof(*node), GFP_KERNEL_ACCOUNT);
		if (!node)
			return -ENOMEM;
		*node = (struct interval_tree_node){
			.start = r.first,
			.last = r.last,
		};
		interval_tree_insert(node, root);
	}
	return 0;
}

static void ioas_limit_free(struct rb_root_cached *root)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(node, root);
		kfree(node);
	}
}

int ioasid_ioas_limit_ioctl(struct ioasid_call *call)
{
	struct rb_root_cached tree = RB_ROOT_CACHED;
	struct ioasid_ioas_limit args;
	struct ioasid_ioas *ioas;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags)
		return -EOPNOTSUPP;
	/* As many ranges as a map takes: the kernel's work stays bounded. */
	if (args.nr_ranges > IOASID_MAP_MAX_RANGES)
		return -EINVAL;
	ioas = ioasid_get_ioas(call->ictx, args.ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioas_limit_read(&args, ioas->iopt.iova_alignment, &tree);
	if (!rc)
		rc = ioasid_iopt_set_allowed(&ioas->iopt, &tree);
	ioas_limit_free(&tree);
	ioasid_obj_done(&ioas->obj);
	return rc;
}

/* IOMMU_READ/IOMMU_WRITE from enum ioasid_map_prot. */
static int ioas_prot(u32 uprot, int *prot)
{
	if (!uprot)
		return -EINVAL;
	if (uprot & ~(IOASID_PROT_READ | IOASID_PROT_WRITE))
		return -EOPNOTSUPP;
	*prot = 0;
	if (uprot & IOASID_PROT_READ)
		*prot |= IOMMU_READ;
	if (uprot & IOASID_PROT_WRITE)
		*prot |= IOMMU_WRITE;
	return 0;
}

/*
 * Every address range from userspace goes through here: non-zero length,
 * and no wrap past the end of a 64-bit or an unsigned long address space.
 */
static int ioas_check_span(u64 start, u64 length)
{
	u64 last;

	if (!length)
		return -EINVAL;
	if (check_add_overflow(start, length - 1, &last) || last > ULONG_MAX)
		return -EOVERFLOW;
	return 0;
}

/* Check one user range of a map and turn it into a request. */
static int ioas_map_req(const struct ioasid_map_range *r,
			struct ioasid_map_req *req)
{
	int rc;

	if (r->flags & ~IOASID_MAP_FIXED)
		return -EOPNOTSUPP;
	rc = ioas_prot(r->prot, &req->prot);
	if (rc)
		return rc;
	rc = ioas_check_span(r->uaddr, r->length);
	if (!rc && (r->flags & IOASID_MAP_FIXED))
		rc = ioas_check_span(r->iova, r->length);
	if (rc)
		return rc;
	if (!PAGE_ALIGNED(r->uaddr) || !PAGE_ALIGNED(r->length))
		return -EINVAL;
	req->uptr = r->uaddr;
	req->length = r->length;
	req->iova = r->iova;
	req->fixed = r->flags & IOASID_MAP_FIXED;
	return 0;
}

/* Read and check the ranges of a map into @reqs. */
static int ioas_map_read(struct ioasid_ioas_map *args,
			 struct ioasid_map_range *ranges,
			 struct ioasid_map_req *reqs)
{
	u32 i;
	int rc;

	if (copy_from_user(ranges, u64_to_user_ptr(args->ranges),
			   array_size(args->nr_ranges, sizeof(*ranges))))
		return -EFAULT;
	for (i = 0; i < args->nr_ranges; i++) {
		rc = ioas_map_req(&ranges[i], &reqs[i]);
		if (rc) {
			args->out_failed = i;
			return rc;
		}
	}
	return 0;
}

static int ioas_unmap(struct ioasid_ioas *ioas,
		      struct ioasid_iova_range *ranges, u32 num,
		      struct ioasid_ioas_unmap *args);

/* Write the picked IOVAs back; on failure undo the whole map. */
static int ioas_map_report(struct ioasid_call *call, struct ioasid_ioas *ioas,
			   struct ioasid_ioas_map *args,
			   struct ioasid_map_range *ranges,
			   const struct ioasid_map_req *reqs)
{
	struct ioasid_ioas_unmap unmap_args = {};
	struct ioasid_iova_range *undo;
	u32 i, n = args->nr_ranges;
	int rc;

	for (i = 0; i < n; i++)
		ranges[i].iova = reqs[i].iova;
	rc = copy_to_user(u64_to_user_ptr(args->ranges), ranges,
			  array_size(n, sizeof(*ranges))) ? -EFAULT : 0;
	if (!rc)
		rc = ioasid_call_reply(call, args, sizeof(*args));
	if (!rc)
		return 0;
	/* The ranges array holds the IOVAs now; reuse it for the unmap. */
	undo = (struct ioasid_iova_range *)ranges;
	for (i = 0; i < n; i++) {
		unsigned long iova = reqs[i].iova, len = reqs[i].length;

		undo[i].first = iova;
		undo[i].last = iova + len - 1;
	}
	/* An emulated device may have pinned meanwhile: ask it to let go. */
	ioas_unmap(ioas, undo, n, &unmap_args);
	return rc;
}

/*
 * Calls of up to this many ranges keep their arrays on the stack: a
 * vIOMMU maps and unmaps one range at a time, and an allocation per call
 * is a good part of such a call.
 */
#define IOAS_STACK_RANGES 4

int ioasid_ioas_map_ioctl(struct ioasid_call *call)
{
	struct ioasid_map_range stack_ranges[IOAS_STACK_RANGES];
	struct ioasid_map_req stack_reqs[IOAS_STACK_RANGES] = {};
	struct ioasid_map_range *ranges = stack_ranges;
	struct ioasid_map_req *reqs = stack_reqs;
	struct ioasid_ioas_map args;
	struct ioasid_ioas *ioas;
	unsigned int failed;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags || args.__rsvd)
		return -EOPNOTSUPP;
	if (!args.nr_ranges || args.nr_ranges > IOASID_MAP_MAX_RANGES)
		return -EINVAL;
	static_assert(sizeof(struct ioasid_map_range) >=
		      sizeof(struct ioasid_iova_range));
	if (args.nr_ranges > IOAS_STACK_RANGES) {
		ranges = kvcalloc(args.nr_ranges, sizeof(*ranges),
				  GFP_KERNEL_ACCOUNT);
		reqs = kvcalloc(args.nr_ranges, sizeof(*reqs),
				GFP_KERNEL_ACCOUNT);
		if (!ranges || !reqs) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	args.out_failed = args.nr_ranges;
	rc = ioas_map_read(&args, ranges, reqs);
	if (rc)
		goto out_fail;

	ioas = ioasid_get_ioas(call->ictx, args.ioas_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		goto out_fail;
	}
	rc = ioasid_iopt_map_vec(call->ictx, &ioas->iopt, reqs, args.nr_ranges,
				 call->ictx->account_mode, &failed);
	if (rc)
		args.out_failed = failed;
	else
		rc = ioas_map_report(call, ioas, &args, ranges, reqs);
	ioasid_obj_done(&ioas->obj);
	if (!rc)
		goto out_free;
out_fail:
	if (rc != -EFAULT)
		ioasid_call_reply(call, &args, sizeof(args));
out_free:
	if (reqs != stack_reqs) {
		kvfree(reqs);
		kvfree(ranges);
	}
	return rc;
}

/* Read and check the ranges of an unmap. */
static int ioas_unmap_read(struct ioasid_ioas_unmap *args,
			   struct ioasid_iova_range *ranges)
{
	u32 i;

	if (copy_from_user(ranges, u64_to_user_ptr(args->ranges),
			   array_size(args->nr_ranges, sizeof(*ranges))))
		return -EFAULT;
	for (i = 0; i < args->nr_ranges; i++) {
		/* first > last is what a wrapped iova + length gives. */
		if (ranges[i].first > ranges[i].last ||
		    ranges[i].last > ULONG_MAX) {
			args->out_failed = i;
			return -EOVERFLOW;
		}
	}
	return 0;
}

/* How many times unmap asks accesses to let go before giving up. */
#define IOAS_UNMAP_TRIES 4

/* Unmap, asking emulated devices that pin pages to let them go. */
static int ioas_unmap(struct ioasid_ioas *ioas,
		      struct ioasid_iova_range *ranges, u32 num,
		      struct ioasid_ioas_unmap *args)
{
	unsigned long unmapped = 0;
	unsigned int failed = num;
	int tries, rc;
	u32 i;

	for (tries = 0; tries < IOAS_UNMAP_TRIES; tries++) {
		rc = ioasid_iopt_unmap_vec(&ioas->iopt, ranges, num, &unmapped,
					   &failed);
		if (rc != -EBUSY)
			break;
		for (i = 0; i < num; i++)
			ioasid_access_notify_unmap(ioas, ranges[i].first,
						   ranges[i].last);
	}
	args->out_unmapped = unmapped;
	args->out_failed = rc ? failed : 0;
	return rc;
}

int ioasid_ioas_unmap_ioctl(struct ioasid_call *call)
{
	struct ioasid_iova_range stack[IOAS_STACK_RANGES] = {
		{ .first = 0, .last = ULONG_MAX },
	};
	struct ioasid_iova_range *ranges = stack;
	struct ioasid_ioas_unmap args;
	struct ioasid_ioas *ioas;
	u32 num = 1;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags & ~IOASID_UNMAP_EVERYTHING || args.__rsvd)
		return -EOPNOTSUPP;
	args.out_unmapped = 0;
	args.out_failed = 0;
	if (args.flags & IOASID_UNMAP_EVERYTHING) {
		if (args.ranges || args.nr_ranges)
			return -EINVAL;
	} else {
		if (args.nr_ranges > IOASID_MAP_MAX_RANGES)
			return -EINVAL;
		num = args.nr_ranges;
		if (num > IOAS_STACK_RANGES)
			ranges = kvcalloc(num, sizeof(*ranges),
					  GFP_KERNEL_ACCOUNT);
		if (!ranges)
			return -ENOMEM;
		args.out_failed = num;
		rc = ioas_unmap_read(&args, ranges);
		if (rc)
			goto out_reply;
	}
	ioas = ioasid_get_ioas(call->ictx, args.ioas_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		args.out_failed = num;
		goto out_reply;
	}
	rc = num ? ioas_unmap(ioas, ranges, num, &args) : 0;
	ioasid_obj_done(&ioas->obj);
out_reply:
	if (rc != -EFAULT) {
		int rc2 = ioasid_call_reply(call, &args, sizeof(args));

		rc = rc ? rc : rc2;
	}
	if (ranges != stack)
		kvfree(ranges);
	return rc;
}

static int ioas_copy_check(const struct ioasid_ioas_copy *args, int *prot)
{
	int rc;

	if (args->flags & ~IOASID_MAP_FIXED || args->__rsvd)
		return -EOPNOTSUPP;
	rc = ioas_prot(args->prot, prot);
	if (rc)
		return rc;
	rc = ioas_check_span(args->src_iova, args->length);
	if (!rc && (args->flags & IOASID_MAP_FIXED))
		rc = ioas_check_span(args->dst_iova, args->length);
	if (rc)
		return rc;
	return PAGE_ALIGNED(args->length) ? 0 : -EINVAL;
}

int ioasid_ioas_copy_ioctl(struct ioasid_call *call)
{
	struct ioasid_ioas *src, *dst;
	struct ioasid_ioas_copy args;
	unsigned long iova, unmapped;
	int prot, rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	rc = ioas_copy_check(&args, &prot);
	if (rc)
		return rc;
	src = ioasid_get_ioas(call->ictx, args.src_ioas_id);
	if (IS_ERR(src))
		return PTR_ERR(src);
	dst = ioasid_get_ioas(call->ictx, args.dst_ioas_id);
	if (IS_ERR(dst)) {
		rc = PTR_ERR(dst);
		goto out_src;
	}
	iova = args.dst_iova;
	rc = ioasid_iopt_copy(&dst->iopt, &src->iopt, &iova, args.src_iova,
			      args.length, prot, args.flags & IOASID_MAP_FIXED);
	if (rc)
		goto out_dst;
	args.dst_iova = iova;
	rc = ioasid_call_reply(call, &args, sizeof(args));
	if (rc)
		ioasid_iopt_unmap(&dst->iopt, iova, args.length, &unmapped);
out_dst:
	ioasid_obj_done(&dst->obj);
out_src:
	ioasid_obj_done(&src->obj);
	return rc;
}

/**
 * ioasid_ioas_opt_large_ioptes() - IOASID_OPT_LARGE_IOPTES of an IOAS
 * @ictx: the context
 * @args: the option command; @value is written when reading
 *
 * Context: process context; takes iopt.rwsem.
 * Return: 0; -ENOENT for an unknown IOAS; -EINVAL for a value other than
 * 0 or 1; -EBUSY when writing while a HWPT mirrors the IOAS.
 */
int ioasid_ioas_opt_large_ioptes(struct ioasid_ctx *ictx,
				 struct ioasid_option *args)
{
	bool write = args->flags & IOASID_OPTION_WRITE;
	struct ioasid_ioas *ioas;
	int rc = 0;

	if (write && args->value > 1)
		return -EINVAL;
	ioas = ioasid_get_ioas(ictx, args->obj_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	down_write(&ioas->iopt.rwsem);
	if (!write)
		args->value = !ioas->iopt.disable_large_pages;
	else if (ioas->iopt.num_domains)
		rc = -EBUSY;
	else
		ioas->iopt.disable_large_pages = !args->value;
	up_write(&ioas->iopt.rwsem);
	ioasid_obj_done(&ioas->obj);
	return rc;
}
