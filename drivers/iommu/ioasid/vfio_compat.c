// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOAS that VFIO's group path attaches devices to. A group given a
 * /dev/ioasid file in VFIO_GROUP_SET_CONTAINER binds each device when it is
 * opened and attaches it here; userspace picks or learns the IOAS with
 * IOASID_VFIO_IOAS. The context holds a reference on it.
 */
#include <linux/mutex.h>
#include <uapi/linux/ioasid.h>

#include "ioasid_private.h"

/**
 * ioasid_vfio_compat_ioas_id() - the IOAS for VFIO's group path
 * @ictx: context
 * @ioas_id: out, its ID; an empty IOAS is made when none is set
 *
 * Return: 0 or an errno.
 */
int ioasid_vfio_compat_ioas_id(struct ioasid_ctx *ictx, u32 *ioas_id)
{
	struct ioasid_ioas *ioas;
	int rc = 0;

	mutex_lock(&ictx->vfio_lock);
	if (!ictx->vfio_ioas) {
		ioas = ioasid_ioas_alloc(ictx);
		if (IS_ERR(ioas)) {
			rc = PTR_ERR(ioas);
			goto out_unlock;
		}
		refcount_inc(&ioas->obj.users);
		ioasid_object_publish(ictx, &ioas->obj);
		ictx->vfio_ioas = ioas;
	}
	*ioas_id = ictx->vfio_ioas->obj.id;
out_unlock:
	mutex_unlock(&ictx->vfio_lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(ioasid_vfio_compat_ioas_id, IOASID);

/* Replace the context's IOAS by @ioas, whose reference it takes over. */
static void vfio_compat_set(struct ioasid_ctx *ictx, struct ioasid_ioas *ioas)
{
	struct ioasid_ioas *old;

	mutex_lock(&ictx->vfio_lock);
	old = ictx->vfio_ioas;
	ictx->vfio_ioas = ioas;
	mutex_unlock(&ictx->vfio_lock);
	if (old)
		ioasid_put_object(&old->obj);
}

/**
 * ioasid_vfio_compat_release() - drop the context's IOAS at close
 * @ictx: context
 */
void ioasid_vfio_compat_release(struct ioasid_ctx *ictx)
{
	vfio_compat_set(ictx, NULL);
}

int ioasid_vfio_ioas_ioctl(struct ioasid_ucmd *ucmd)
{
	struct ioasid_vfio_ioas *cmd = ucmd->cmd;
	struct ioasid_ioas *ioas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->op) {
	case IOASID_VFIO_IOAS_GET:
		rc = ioasid_vfio_compat_ioas_id(ucmd->ictx, &cmd->ioas_id);
		return rc ? rc : ioasid_ucmd_respond(ucmd, sizeof(*cmd));
	case IOASID_VFIO_IOAS_SET:
		ioas = ioasid_get_ioas(ucmd->ictx, cmd->ioas_id);
		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		vfio_compat_set(ucmd->ictx, ioas);
		return 0;
	case IOASID_VFIO_IOAS_CLEAR:
		vfio_compat_set(ucmd->ictx, NULL);
		return 0;
	}
	return -EOPNOTSUPP;
}
