// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HWPT object: one IOMMU paging domain, filled from an IOAS and kept in
 * sync with it for as long as it lives. It holds a reference on the IOAS,
 * and every device attached to it holds a reference on it.
 */
#include <linux/iommu.h>
#include <linux/slab.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"
#include "ioasid_test.h"

/**
 * ioasid_hwpt_alloc() - build a HWPT for @dev mirroring @ioas
 * @ictx: context
 * @ioas: the IOAS, referenced by the caller
 * @dev: a device whose IOMMU driver allocates the domain
 * @group: when not NULL, attach this group to the new domain
 * @auto_domain: destroy it when its last device detaches
 *
 * With @group, the domain is attached while still empty, then asked to
 * enforce cache coherency, which a driver can only judge with a device
 * attached and must be settled before anything is mapped; only then is it
 * filled from @ioas. A HWPT allocated without a device does not enforce.
 *
 * Return: the HWPT, reserved but not published, or an ERR_PTR.
 */
struct ioasid_hwpt *ioasid_hwpt_alloc(struct ioasid_ctx *ictx,
				      struct ioasid_ioas *ioas,
				      struct device *dev,
				      struct iommu_group *group,
				      bool auto_domain)
{
	struct ioasid_hwpt *hwpt;
	int rc;

	hwpt = ioasid_object_reserve(ictx, sizeof(*hwpt), IOASID_OBJ_HWPT);
	if (IS_ERR(hwpt))
		return hwpt;
	hwpt->domain = iommu_domain_alloc(dev->bus);
	if (!hwpt->domain) {
		rc = -ENOMEM;
		goto err_abort;
	}
	if (group) {
		rc = ioasid_test_should_fail(IOASID_FAIL_ATTACH);
		if (!rc)
			rc = iommu_attach_group(hwpt->domain, group);
		if (rc)
			goto err_free_domain;
		if (hwpt->domain->ops->enforce_cache_coherency)
			hwpt->enforce_cache_coherency =
				hwpt->domain->ops->enforce_cache_coherency(hwpt->domain);
	}
	hwpt->auto_domain = auto_domain;
	rc = ioasid_iopt_add_domain(&ioas->iopt, hwpt->domain);
	if (rc)
		goto err_detach;
	hwpt->ioas = ioas;
	refcount_inc(&ioas->obj.users);
	mutex_lock(&ioas->mutex);
	list_add_tail(&hwpt->item, &ioas->hwpt_list);
	mutex_unlock(&ioas->mutex);
	return hwpt;

err_detach:
	if (group)
		iommu_detach_group(hwpt->domain, group);
err_free_domain:
	iommu_domain_free(hwpt->domain);
err_abort:
	ioasid_object_abort(ictx, &hwpt->obj);
	return ERR_PTR(rc);
}

/* Undo ioasid_hwpt_alloc() but for the object itself. */
static void hwpt_teardown(struct ioasid_hwpt *hwpt)
{
	struct ioasid_ioas *ioas = hwpt->ioas;

	mutex_lock(&ioas->mutex);
	list_del(&hwpt->item);
	mutex_unlock(&ioas->mutex);
	ioasid_iopt_remove_domain(&ioas->iopt, hwpt->domain);
	iommu_domain_free(hwpt->domain);
	refcount_dec(&ioas->obj.users);
}

/**
 * ioasid_hwpt_abort() - free a HWPT that was never published
 * @ictx: context
 * @hwpt: from ioasid_hwpt_alloc()
 */
void ioasid_hwpt_abort(struct ioasid_ctx *ictx, struct ioasid_hwpt *hwpt)
{
	hwpt_teardown(hwpt);
	ioasid_object_abort(ictx, &hwpt->obj);
}

/**
 * ioasid_hwpt_destroy() - free a HWPT no device uses
 * @obj: the HWPT's header
 */
void ioasid_hwpt_destroy(struct ioasid_object *obj)
{
	struct ioasid_hwpt *hwpt = container_of(obj, struct ioasid_hwpt, obj);

	hwpt_teardown(hwpt);
	kfree(hwpt);
}

int ioasid_hwpt_alloc_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_hwpt_alloc *cmd = ucmd->cmd;
	struct ioasid_device *idev;
	struct ioasid_hwpt *hwpt;
	struct ioasid_ioas *ioas;
	int rc;

	if (cmd->flags || cmd->__reserved)
		return -EOPNOTSUPP;
	idev = ioasid_get_device(ucmd->ictx, cmd->dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	ioas = ioasid_get_ioas(ucmd->ictx, cmd->pt_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		goto out_put_idev;
	}
	hwpt = ioasid_hwpt_alloc(ucmd->ictx, ioas, idev->dev, NULL, false);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_put_ioas;
	}
	cmd->out_hwpt_id = hwpt->obj.id;
	rc = ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		ioasid_hwpt_abort(ucmd->ictx, hwpt);
		goto out_put_ioas;
	}
	ioasid_object_publish(ucmd->ictx, &hwpt->obj);
out_put_ioas:
	ioasid_put_object(&ioas->obj);
out_put_idev:
	ioasid_put_object(&idev->obj);
	return rc;
}
