// SPDX-License-Identifier: GPL-2.0-only
/*
 * PASIDs of a file: IOASID_PASID_ALLOC and IOASID_PASID_FREE, over the
 * system's PASID space (pasid.c), with two limits:
 *
 * - per file: the file's PASIDs are a set of the space, whose budget is
 *   ioasid.pasid_file_max as it was when the file was opened;
 * - per user: each PASID is charged to the user (real UID) that
 *   allocates it, as pinned pages are to RLIMIT_MEMLOCK, against
 *   ioasid.pasid_user_max, read at each allocation.
 *
 * Either limit reached is EDQUOT; no free value left is ENOSPC. The values
 * a file holds are recorded in its @pasids xarray, each with the user it is
 * charged to, and freed at close. An
 * attachment of a device under a PASID holds the value itself (see
 * device.c), so a free or a close during the attachment gives the quota
 * back but not the value.
 */
#include <linux/cred.h>
#include <linux/ioasid.h>
#include <linux/iommu.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/pci-ats.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "ioasid."

static unsigned int pasid_user_max = 1024;
module_param(pasid_user_max, uint, 0644);
MODULE_PARM_DESC(pasid_user_max,
		 "PASIDs one user may hold through /dev/ioasid files (0: none)");

static unsigned int pasid_file_max = 256;
module_param(pasid_file_max, uint, 0644);
MODULE_PARM_DESC(pasid_file_max,
		 "PASIDs one /dev/ioasid file may hold, read at open (0: none)");

/**
 * struct ioasid_pasid_user - the PASIDs one user holds through the core
 * @uid: the user
 * @nr: PASIDs charged to the user, under ioasid_pasid_users_lock; the
 *	entry goes with the last
 */
struct ioasid_pasid_user {
	kuid_t uid;
	unsigned int nr;
};

static DEFINE_MUTEX(ioasid_pasid_users_lock);
static DEFINE_XARRAY(ioasid_pasid_users);

/**
 * ioasid_ctx_pasid_init() - set up a new file's PASID state
 * @ictx: the context, being opened
 *
 * Context: process context.
 */
void ioasid_ctx_pasid_init(struct ioasid_ctx *ictx)
{
	xa_init(&ictx->pasids);
	ictx->pasid_set.name = "ioasid file";
	/* 0 allows none: a budget of 0 would mean no limit to the space. */
	ictx->pasid_set.budget = pasid_file_max ? pasid_file_max : 1;
	ictx->pasid_none = !pasid_file_max;
}

/*
 * Charge one PASID to the calling user, as RLIMIT_MEMLOCK charges pinned
 * pages to the user doing the pinning. Return: the user's entry, or an
 * ERR_PTR: -EDQUOT, -ENOMEM.
 */
static struct ioasid_pasid_user *ioasid_pasid_charge(void)
{
	unsigned long key = from_kuid(&init_user_ns, current_uid());
	struct ioasid_pasid_user *user;
	int rc;

	mutex_lock(&ioasid_pasid_users_lock);
	user = xa_load(&ioasid_pasid_users, key);
	if (!user) {
		user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
		if (!user) {
			user = ERR_PTR(-ENOMEM);
			goto out_unlock;
		}
		user->uid = current_uid();
		rc = xa_err(xa_store(&ioasid_pasid_users, key, user,
				     GFP_KERNEL));
		if (rc) {
			kfree(user);
			user = ERR_PTR(rc);
			goto out_unlock;
		}
	}
	if (user->nr >= READ_ONCE(pasid_user_max)) {
		if (!user->nr) {
			xa_erase(&ioasid_pasid_users, key);
			kfree(user);
		}
		user = ERR_PTR(-EDQUOT);
		goto out_unlock;
	}
	user->nr++;
out_unlock:
	mutex_unlock(&ioasid_pasid_users_lock);
	return user;
}

static void ioasid_pasid_uncharge(struct ioasid_pasid_user *user)
{
	mutex_lock(&ioasid_pasid_users_lock);
	if (!--user->nr) {
		xa_erase(&ioasid_pasid_users,
			 from_kuid(&init_user_ns, user->uid));
		kfree(user);
	}
	mutex_unlock(&ioasid_pasid_users_lock);
}

/**
 * ioasid_ctx_pasid_release() - free the PASIDs a closing file holds
 * @ictx: the context; no command runs on it any more
 *
 * Context: process context; may sleep.
 */
void ioasid_ctx_pasid_release(struct ioasid_ctx *ictx)
{
	struct ioasid_pasid_user *user;
	unsigned long pasid;

	xa_for_each(&ictx->pasids, pasid, user) {
		ioasid_pasid_free(pasid);
		ioasid_pasid_uncharge(user);
	}
	xa_destroy(&ictx->pasids);
}

/**
 * ioasid_device_pasid_width() - how many PASIDs a bound device can use
 * @idev: bound device
 *
 * The smallest of the device's own PASID width (its PCI PASID capability,
 * or what its binder set for a device that is not PCI) and its IOMMU's.
 *
 * Context: any context.
 * Return: the number of PASID values, 0 when the device can use none.
 */
u32 ioasid_device_pasid_width(struct ioasid_device *idev)
{
	struct device *dev = idev->dev;
	u32 width = 0;

	if (dev->iommu && dev->iommu->iommu_dev)
		width = dev->iommu->iommu_dev->max_pasids;
	if (dev_is_pci(dev)) {
		int pci = pci_max_pasids(to_pci_dev(dev));

		width = pci > 0 ? min_t(u32, width, pci) : 0;
	} else {
		width = min(width, idev->max_pasids);
	}
	return width;
}

/* The range a new PASID may take: the whole space or a device's width. */
static int ioasid_pasid_range(struct ioasid_ctx *ictx, u32 dev_id, u32 *max)
{
	struct ioasid_device *idev;
	u32 width;

	*max = IOASID_PASID_MAX;
	if (!dev_id)
		return 0;
	idev = ioasid_get_device(ictx, dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	width = ioasid_device_pasid_width(idev);
	ioasid_obj_done(&idev->obj);
	if (width < 2)
		return -EOPNOTSUPP;
	*max = min(*max, width - 1);
	return 0;
}

static int ioasid_pasid_take(struct ioasid_ctx *ictx,
			     struct ioasid_pasid_alloc *args, u32 max)
{
	if (ictx->pasid_none)
		return -EDQUOT;
	if (!(args->flags & IOASID_PASID_FIXED))
		return ioasid_pasid_alloc(&ictx->pasid_set, 1, max, ictx,
					  &args->pasid);
	if (args->pasid > max)
		return -EINVAL;
	return ioasid_pasid_alloc_fixed(&ictx->pasid_set, args->pasid, ictx);
}

/* IOASID_PASID_ALLOC; see include/uapi/linux/ioasid.h. */
int ioasid_pasid_alloc_ioctl(struct ioasid_call *call)
{
	struct ioasid_ctx *ictx = call->ictx;
	struct ioasid_pasid_user *user;
	struct ioasid_pasid_alloc args;
	u32 max;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags & ~IOASID_PASID_FIXED)
		return -EOPNOTSUPP;
	rc = ioasid_pasid_range(ictx, args.dev_id, &max);
	if (rc)
		return rc;
	user = ioasid_pasid_charge();
	if (IS_ERR(user))
		return PTR_ERR(user);
	rc = ioasid_pasid_take(ictx, &args, max);
	if (rc)
		goto err_uncharge;
	/*
	 * Reserved, the slot reads as empty: a racing IOASID_PASID_FREE of
	 * the value finds nothing (ENOENT) until the reply is out, so a
	 * failed reply can undo it alone.
	 */
	rc = xa_reserve(&ictx->pasids, args.pasid, GFP_KERNEL_ACCOUNT);
	if (rc)
		goto err_free;
	rc = ioasid_call_reply(call, &args, sizeof(args));
	if (rc)
		goto err_release;
	/* The slot exists: the store cannot fail. */
	xa_store(&ictx->pasids, args.pasid, user, GFP_KERNEL_ACCOUNT);
	return 0;

err_release:
	xa_release(&ictx->pasids, args.pasid);
err_free:
	ioasid_pasid_free(args.pasid);
err_uncharge:
	ioasid_pasid_uncharge(user);
	return rc;
}

/* IOASID_PASID_FREE; see include/uapi/linux/ioasid.h. */
int ioasid_pasid_free_ioctl(struct ioasid_call *call)
{
	struct ioasid_ctx *ictx = call->ictx;
	struct ioasid_pasid_user *user;
	struct ioasid_pasid_free args;
	int rc;

	rc = ioasid_call_fetch(call, &args, sizeof(args), sizeof(args));
	if (rc)
		return rc;
	if (args.flags || args.__rsvd)
		return -EOPNOTSUPP;
	/* Two frees of one value race here: one of them erases it. */
	user = xa_erase(&ictx->pasids, args.pasid);
	if (!user)
		return -ENOENT;
	ioasid_pasid_free(args.pasid);
	ioasid_pasid_uncharge(user);
	return 0;
}
