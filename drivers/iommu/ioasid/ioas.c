// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOAS object and its ioctls: argument checking from userspace, then
 * the IOVA map (io_pagetable.c) does the work.
 */
#include <linux/interval_tree.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

/**
 * ioasid_get_ioas() - look up an IOAS and take a reference
 * @ictx: context
 * @id: ID from userspace
 *
 * Return: the IOAS or ERR_PTR(-ENOENT). Drop with ioasid_put_object().
 */
struct ioasid_ioas *ioasid_get_ioas(struct ioasid_ctx *ictx, u32 id)
{
	struct ioasid_object *obj = ioasid_get_object(ictx, id, IOASID_OBJ_IOAS);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct ioasid_ioas, obj);
}

/**
 * ioasid_ioas_destroy() - free an IOAS nothing depends on any more
 * @obj: the IOAS's header
 */
void ioasid_ioas_destroy(struct ioasid_object *obj)
{
	struct ioasid_ioas *ioas = container_of(obj, struct ioasid_ioas, obj);

	IOASID_WARN_ON(!list_empty(&ioas->hwpt_list));
	IOASID_WARN_ON(!list_empty(&ioas->access_list));
	ioasid_iopt_destroy(&ioas->iopt);
	mutex_destroy(&ioas->mutex);
	kfree(ioas);
}

/**
 * ioasid_ioas_alloc() - make an empty IOAS
 * @ictx: context
 *
 * Return: the IOAS, reserved but not published, or an ERR_PTR.
 */
struct ioasid_ioas *ioasid_ioas_alloc(struct ioasid_ctx *ictx)
{
	struct ioasid_ioas *ioas;

	ioas = ioasid_object_reserve(ictx, sizeof(*ioas), IOASID_OBJ_IOAS);
	if (IS_ERR(ioas))
		return ioas;
	ioasid_iopt_init(&ioas->iopt);
	mutex_init(&ioas->mutex);
	INIT_LIST_HEAD(&ioas->hwpt_list);
	INIT_LIST_HEAD(&ioas->access_list);
	return ioas;
}

int ioasid_ioas_alloc_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_alloc *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ioas = ioasid_ioas_alloc(ucmd->ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	cmd->out_ioas_id = ioas->obj.id;
	rc = ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		ioasid_iopt_destroy(&ioas->iopt);
		mutex_destroy(&ioas->mutex);
		ioasid_object_abort(ucmd->ictx, &ioas->obj);
		return rc;
	}
	ioasid_object_publish(ucmd->ictx, &ioas->obj);
	return 0;
}

int ioasid_ioas_iova_ranges_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_iova_ranges *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	int rc, rc2;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = ioasid_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioasid_iopt_usable_ranges(&ioas->iopt,
				       u64_to_user_ptr(cmd->allowed_iovas),
				       &cmd->num_iovas);
	cmd->out_iova_alignment = ioas->iopt.iova_alignment;
	ioasid_put_object(&ioas->obj);
	if (rc && rc != -EMSGSIZE)
		return rc;
	/* EMSGSIZE still reports the number of ranges and the alignment. */
	rc2 = ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	return rc2 ? rc2 : rc;
}

static int ioas_read_allowed(struct ioasid_ioas_allow_iovas *cmd,
			     unsigned long align, struct rb_root_cached *root)
{
	struct ioasid_iova_range __user *uranges =
		u64_to_user_ptr(cmd->allowed_iovas);
	struct ioasid_iova_range range;
	struct interval_tree_node *node;
	u32 i;

	for (i = 0; i < cmd->num_iovas; i++) {
		if (copy_from_user(&range, &uranges[i], sizeof(range)))
			return -EFAULT;
		if (range.start > range.last || range.last > ULONG_MAX ||
		    range.start % align || (range.last + 1) % align)
			return -EINVAL;
		if (interval_tree_iter_first(root, range.start, range.last))
			return -EINVAL;
		node = kzalloc(sizeof(*node), GFP_KERNEL_ACCOUNT);
		if (!node)
			return -ENOMEM;
		node->start = range.start;
		node->last = range.last;
		interval_tree_insert(node, root);
	}
	return 0;
}

static void ioas_free_allowed(struct rb_root_cached *root)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(node, root);
		kfree(node);
	}
}

int ioasid_ioas_allow_iovas_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_allow_iovas *cmd = ucmd->cmd;
	struct rb_root_cached allowed = RB_ROOT_CACHED;
	struct ioasid_ioas *ioas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = ioasid_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioas_read_allowed(cmd, ioas->iopt.iova_alignment, &allowed);
	if (!rc)
		rc = ioasid_iopt_set_allowed(&ioas->iopt, &allowed);
	ioas_free_allowed(&allowed);
	ioasid_put_object(&ioas->obj);
	return rc;
}

static int ioas_map_prot(u32 flags, int *prot)
{
	*prot = 0;
	if (flags & IOASID_IOAS_MAP_WRITEABLE)
		*prot |= IOMMU_WRITE;
	if (flags & IOASID_IOAS_MAP_READABLE)
		*prot |= IOMMU_READ;
	return *prot ? 0 : -EINVAL;
}

#define IOAS_MAP_FLAGS                                                         \
	(IOASID_IOAS_MAP_FIXED_IOVA | IOASID_IOAS_MAP_WRITEABLE |              \
	 IOASID_IOAS_MAP_READABLE)

/* The checks every IOVA range from userspace goes through. */
static int ioas_check_range(u64 start, u64 length)
{
	u64 end;

	if (!length)
		return -EINVAL;
	if (check_add_overflow(start, length - 1, &end) || end > ULONG_MAX)
		return -EOVERFLOW;
	return 0;
}

/* Report a new mapping to userspace; undo it when that cannot be done. */
static int ioas_respond_mapped(struct ioasid_ucmd *ucmd, size_t cmd_len,
			       struct ioasid_iopt *iopt, unsigned long iova,
			       unsigned long length)
{
	unsigned long unmapped;
	int rc;

	rc = ioasid_ucmd_respond(ucmd, cmd_len);
	if (rc)
		ioasid_iopt_unmap(iopt, iova, length, &unmapped);
	return rc;
}

int ioasid_ioas_map_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_map *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	unsigned long iova;
	int prot, rc;

	if (cmd->flags & ~IOAS_MAP_FLAGS || cmd->__reserved)
		return -EOPNOTSUPP;
	rc = ioas_map_prot(cmd->flags, &prot);
	if (rc)
		return rc;
	rc = ioas_check_range(cmd->user_va, cmd->length);
	if (!rc && (cmd->flags & IOASID_IOAS_MAP_FIXED_IOVA))
		rc = ioas_check_range(cmd->iova, cmd->length);
	if (rc)
		return rc;
	if (!PAGE_ALIGNED(cmd->user_va) || !PAGE_ALIGNED(cmd->length))
		return -EINVAL;

	ioas = ioasid_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	iova = cmd->iova;
	rc = ioasid_iopt_map_user(ucmd->ictx, &ioas->iopt, &iova, cmd->user_va,
				  cmd->length, prot,
				  cmd->flags & IOASID_IOAS_MAP_FIXED_IOVA,
				  ucmd->ictx->account_mode);
	if (rc)
		goto out_put;
	cmd->iova = iova;
	rc = ioas_respond_mapped(ucmd, sizeof(*cmd), &ioas->iopt, iova,
				 cmd->length);
out_put:
	ioasid_put_object(&ioas->obj);
	return rc;
}

int ioasid_ioas_copy_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_copy *cmd = ucmd->cmd;
	struct ioasid_ioas *src, *dst;
	unsigned long iova;
	int prot, rc;

	if (cmd->flags & ~IOAS_MAP_FLAGS)
		return -EOPNOTSUPP;
	rc = ioas_map_prot(cmd->flags, &prot);
	if (rc)
		return rc;
	rc = ioas_check_range(cmd->src_iova, cmd->length);
	if (!rc && (cmd->flags & IOASID_IOAS_MAP_FIXED_IOVA))
		rc = ioas_check_range(cmd->dst_iova, cmd->length);
	if (rc)
		return rc;
	if (!PAGE_ALIGNED(cmd->length))
		return -EINVAL;

	src = ioasid_get_ioas(ucmd->ictx, cmd->src_ioas_id);
	if (IS_ERR(src))
		return PTR_ERR(src);
	dst = ioasid_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
	if (IS_ERR(dst)) {
		rc = PTR_ERR(dst);
		goto out_put_src;
	}
	iova = cmd->dst_iova;
	rc = ioasid_iopt_copy(&dst->iopt, &src->iopt, &iova, cmd->src_iova,
			      cmd->length, prot,
			      cmd->flags & IOASID_IOAS_MAP_FIXED_IOVA);
	if (rc)
		goto out_put_dst;
	cmd->dst_iova = iova;
	rc = ioas_respond_mapped(ucmd, sizeof(*cmd), &dst->iopt, iova,
				 cmd->length);
out_put_dst:
	ioasid_put_object(&dst->obj);
out_put_src:
	ioasid_put_object(&src->obj);
	return rc;
}

/* How many times unmap asks accesses to let go before giving up. */
#define IOAS_UNMAP_RETRIES 4

static int ioas_unmap(struct ioasid_ioas *ioas, struct ioasid_ioas_unmap *cmd,
		      unsigned long *unmapped)
{
	bool all = cmd->flags & IOASID_IOAS_UNMAP_ALL;
	unsigned long iova = all ? 0 : cmd->iova;
	unsigned long length = all ? ULONG_MAX : cmd->length;
	int tries, rc;

	for (tries = 0; tries < IOAS_UNMAP_RETRIES; tries++) {
		if (all)
			rc = ioasid_iopt_unmap_all(&ioas->iopt, unmapped);
		else
			rc = ioasid_iopt_unmap(&ioas->iopt, iova, length,
					       unmapped);
		if (rc != -EBUSY)
			return rc;
		/* Accesses pin pages in the range: ask them to unpin. */
		ioasid_access_notify_unmap(ioas, iova, length);
	}
	return rc;
}

int ioasid_ioas_unmap_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_ioas_unmap *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	unsigned long unmapped;
	int rc;

	if (cmd->flags & ~IOASID_IOAS_UNMAP_ALL || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->flags & IOASID_IOAS_UNMAP_ALL) {
		if (cmd->iova || cmd->length)
			return -EINVAL;
	} else {
		rc = ioas_check_range(cmd->iova, cmd->length);
		if (rc)
			return rc;
	}
	ioas = ioasid_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = ioas_unmap(ioas, cmd, &unmapped);
	ioasid_put_object(&ioas->obj);
	if (rc)
		return rc;
	cmd->length = unmapped;
	return ioasid_ucmd_respond(ucmd, sizeof(*cmd));
}

/**
 * ioasid_ioas_option() - IOASID_OPTION_HUGE_PAGES on an IOAS
 * @ucmd: the IOASID_OPTION command
 *
 * Return: 0 or an errno.
 */
int ioasid_ioas_option(struct ioasid_ucmd *ucmd)
{
	struct ioasid_option *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	int rc = 0;

	ioas = ioasid_get_ioas(ucmd->ictx, cmd->object_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	down_write(&ioas->iopt.rwsem);
	if (cmd->op == IOASID_OPTION_OP_GET)
		cmd->val64 = !ioas->iopt.disable_large_pages;
	else if (cmd->val64 > 1)
		rc = -EINVAL;
	else if (ioas->iopt.num_domains)
		rc = -EBUSY;
	else
		ioas->iopt.disable_large_pages = !cmd->val64;
	up_write(&ioas->iopt.rwsem);
	ioasid_put_object(&ioas->obj);
	if (!rc && cmd->op == IOASID_OPTION_OP_GET)
		rc = ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	return rc;
}
