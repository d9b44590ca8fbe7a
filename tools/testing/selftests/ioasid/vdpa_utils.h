/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small user-space virtio driver over a vhost-vdpa character device,
 * for the vdpa device simulators (vdpa_sim_blk, vdpa_sim_net).
 *
 * Three layers, each usable on its own:
 *  - vdpa_nl_*: create and delete vdpa devices over the "vdpa" generic
 *    netlink family with a raw netlink socket (the test initramfs has no
 *    iproute2), and find the /dev/vhost-vdpa-N node of a device.
 *  - vdpa_dev_* / vdpa_vq_*: the virtio status and feature handshake and
 *    split virtqueues.  Rings and buffers live in one arena of user memory;
 *    the device is only ever given IOVAs.  How those IOVAs get mapped is
 *    left to a struct vdpa_dma_ops backend: vdpa_legacy_dma_ops writes
 *    vhost IOTLB messages to the vhost-vdpa fd; another backend (an IOMMU
 *    address space from /dev/ioasid, say) can replace it without touching
 *    anything else here.
 *  - vblk_* and vnet_*: just enough of virtio-blk and virtio-net to move
 *    real data through the device and check it.
 */
#ifndef __SELFTESTS_IOASID_VDPA_UTILS_H
#define __SELFTESTS_IOASID_VDPA_UTILS_H

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/types.h>
#include <linux/vdpa.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#define VDPA_SYSFS_DEVICES	"/sys/bus/vdpa/devices"
#define VDPA_MGMTDEV_BLK	"vdpasim_blk"
#define VDPA_MGMTDEV_NET	"vdpasim_net"

#define VDPA_PAGE_SIZE		4096UL
#define VDPA_MAX_VQS		4
#define VDPA_TIMEOUT_MS		10000

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

static inline size_t vdpa_align(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* ---------------------------------------------------------------------- */
/* vdpa devices over generic netlink                                        */
/* ---------------------------------------------------------------------- */

struct vdpa_nl {
	int fd;
	__u16 family;		/* generic netlink id of "vdpa" */
	__u32 seq;
};

/* One request: headers and room for a few attributes */
struct vdpa_nl_req {
	struct nlmsghdr nlh;
	struct genlmsghdr genl;
	char attrs[256];
};

static inline void vdpa_nl_req_init(struct vdpa_nl_req *req, __u16 type,
				    __u8 cmd)
{
	memset(req, 0, sizeof(*req));
	req->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	req->nlh.nlmsg_type = type;
	req->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req->genl.cmd = cmd;
	req->genl.version = 1;
}

/* Append one attribute; -E2BIG when the request is full. */
static inline int vdpa_nl_put(struct vdpa_nl_req *req, __u16 type,
			      const void *data, __u16 len)
{
	size_t off = NLMSG_ALIGN(req->nlh.nlmsg_len);
	struct nlattr *nla = (struct nlattr *)((char *)req + off);

	if (off + NLA_ALIGN(NLA_HDRLEN + len) > sizeof(*req))
		return -E2BIG;
	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, data, len);
	req->nlh.nlmsg_len = off + NLA_ALIGN(nla->nla_len);
	return 0;
}

static inline int vdpa_nl_put_str(struct vdpa_nl_req *req, __u16 type,
				  const char *s)
{
	return vdpa_nl_put(req, type, s, strlen(s) + 1);
}

/* A wanted top-level attribute of a reply, copied out when found */
struct vdpa_nl_want {
	__u16 type;
	__u16 size;
	void *val;
};

/*
 * Look for the attribute @w->type, of at least @w->size bytes, in the
 * generic netlink message @nlh, and copy its first @w->size bytes.
 */
static inline int vdpa_nl_find(const struct nlmsghdr *nlh,
			       struct vdpa_nl_want *w)
{
	const char *p = (const char *)NLMSG_DATA(nlh) + GENL_HDRLEN;
	const char *end = (const char *)nlh + nlh->nlmsg_len;

	while (p + NLA_HDRLEN <= end) {
		const struct nlattr *nla = (const struct nlattr *)p;

		if (nla->nla_len < NLA_HDRLEN || p + nla->nla_len > end)
			break;
		if ((nla->nla_type & NLA_TYPE_MASK) == w->type &&
		    nla->nla_len >= NLA_HDRLEN + w->size) {
			memcpy(w->val, p + NLA_HDRLEN, w->size);
			return 0;
		}
		p += NLA_ALIGN(nla->nla_len);
	}
	return -ENOENT;
}

/*
 * Send @req and read replies up to its acknowledgment.  Returns the
 * kernel's answer (0 or a negative errno).  Each of the @n attributes of
 * @want found in a reply is copied out.
 */
static inline int vdpa_nl_xfer(struct vdpa_nl *nl, struct vdpa_nl_req *req,
			       struct vdpa_nl_want *want, unsigned int n)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr align;
		char buf[8192];
	} u;
	struct nlmsghdr *nlh;
	unsigned int i;
	ssize_t len;

	req->nlh.nlmsg_seq = ++nl->seq;
	if (sendto(nl->fd, req, req->nlh.nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;

	for (;;) {
		len = recv(nl->fd, u.buf, sizeof(u.buf), 0);
		if (len < 0)
			return -errno;
		for (nlh = &u.align; NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			if (nlh->nlmsg_seq != nl->seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *err = NLMSG_DATA(nlh);

				return err->error;
			}
			for (i = 0; i < n; i++)
				vdpa_nl_find(nlh, &want[i]);
		}
	}
}

/*
 * Open a generic netlink socket and resolve the "vdpa" family.
 * Returns 0, -ENOENT when the kernel has no vdpa core, or another errno.
 */
static inline int vdpa_nl_open(struct vdpa_nl *nl)
{
	struct vdpa_nl_want family = {
		.type = CTRL_ATTR_FAMILY_ID,
		.size = sizeof(nl->family),
		.val = &nl->family,
	};
	struct vdpa_nl_req req;
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		return -errno;

	vdpa_nl_req_init(&req, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	ret = vdpa_nl_put_str(&req, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
	if (!ret)
		ret = vdpa_nl_xfer(nl, &req, &family, 1);
	if (!ret && !nl->family)
		ret = -ENOENT;
	if (ret) {
		close(nl->fd);
		nl->fd = -1;
	}
	return ret;
}

static inline void vdpa_nl_close(struct vdpa_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/*
 * The management device handle: "BUS/DEV" (vp_vdpa's "pci/0000:00:04.0")
 * or, for the simulators, which sit on no bus, the device name alone.
 */
static inline int vdpa_nl_put_mgmtdev(struct vdpa_nl_req *req,
				      const char *mgmtdev)
{
	const char *slash = strchr(mgmtdev, '/');
	char bus[32];
	int ret;

	if (!slash)
		return vdpa_nl_put_str(req, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev);
	if ((size_t)(slash - mgmtdev) >= sizeof(bus))
		return -ENAMETOOLONG;
	memcpy(bus, mgmtdev, slash - mgmtdev);
	bus[slash - mgmtdev] = '\0';
	ret = vdpa_nl_put_str(req, VDPA_ATTR_MGMTDEV_BUS_NAME, bus);
	return ret ? ret : vdpa_nl_put_str(req, VDPA_ATTR_MGMTDEV_DEV_NAME,
					   slash + 1);
}

/*
 * "vdpa dev add mgmtdev @mgmtdev name @name [mac @mac]".  Returns 0,
 * -ENODEV for an unknown management device, -EEXIST for a name in use,
 * or another negative errno.
 */
static inline int vdpa_nl_dev_new(struct vdpa_nl *nl, const char *mgmtdev,
				  const char *name, const __u8 *mac)
{
	struct vdpa_nl_req req;
	int ret;

	vdpa_nl_req_init(&req, nl->family, VDPA_CMD_DEV_NEW);
	ret = vdpa_nl_put_mgmtdev(&req, mgmtdev);
	if (!ret)
		ret = vdpa_nl_put_str(&req, VDPA_ATTR_DEV_NAME, name);
	if (!ret && mac)
		ret = vdpa_nl_put(&req, VDPA_ATTR_DEV_NET_CFG_MACADDR, mac, 6);
	return ret ? ret : vdpa_nl_xfer(nl, &req, NULL, 0);
}

/* "vdpa dev del @name"; the device's vhost-vdpa fd must be closed first. */
static inline int vdpa_nl_dev_del(struct vdpa_nl *nl, const char *name)
{
	struct vdpa_nl_req req;
	int ret;

	vdpa_nl_req_init(&req, nl->family, VDPA_CMD_DEV_DEL);
	ret = vdpa_nl_put_str(&req, VDPA_ATTR_DEV_NAME, name);
	return ret ? ret : vdpa_nl_xfer(nl, &req, NULL, 0);
}

/*
 * "vdpa dev config show @name": the features its driver negotiated (0
 * until FEATURES_OK) and, for a net device, its status (VIRTIO_NET_S_*).
 */
static inline int vdpa_nl_dev_config(struct vdpa_nl *nl, const char *name,
				     __u64 *features, __u8 *net_status)
{
	struct vdpa_nl_want want[] = {
		{ .type = VDPA_ATTR_DEV_NEGOTIATED_FEATURES,
		  .size = sizeof(*features), .val = features },
		{ .type = VDPA_ATTR_DEV_NET_STATUS,
		  .size = sizeof(*net_status), .val = net_status },
	};
	struct vdpa_nl_req req;
	int ret;

	*features = 0;
	*net_status = 0;
	vdpa_nl_req_init(&req, nl->family, VDPA_CMD_DEV_CONFIG_GET);
	ret = vdpa_nl_put_str(&req, VDPA_ATTR_DEV_NAME, name);
	return ret ? ret : vdpa_nl_xfer(nl, &req, want, ARRAY_SIZE(want));
}

/*
 * The vhost-vdpa driver gives a bound vdpa device a child device
 * "vhost-vdpa-N", whose node devtmpfs names /dev/vhost-vdpa-N.
 */
static inline int vdpa_vhost_path(const char *name, char *path, size_t len)
{
	char dir_path[PATH_MAX];
	struct dirent *ent;
	int ret = -ENODEV;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "%s/%s", VDPA_SYSFS_DEVICES, name);
	dir = opendir(dir_path);
	if (!dir)
		return -errno;
	while ((ent = readdir(dir)) != NULL) {
		if (strncmp(ent->d_name, "vhost-vdpa-", strlen("vhost-vdpa-")))
			continue;
		if ((size_t)snprintf(path, len, "/dev/%s", ent->d_name) >= len)
			ret = -ENAMETOOLONG;
		else
			ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* DMA mapping backends                                                     */
/* ---------------------------------------------------------------------- */

/*
 * Make [@iova, @iova + @len) of address space @asid reach the user memory
 * at @va (device reads always; device writes too when @write), and take
 * it away again.  Returns 0 or a negative errno.
 */
struct vdpa_dma_ops {
	const char *name;
	int (*map)(void *ctx, __u32 asid, __u64 iova, void *va, __u64 len,
		   bool write);
	int (*unmap)(void *ctx, __u32 asid, __u64 iova, __u64 len);
};

/*
 * The legacy backend: vhost IOTLB messages written to the vhost-vdpa fd,
 * each update wrapped in a batch so that a device with one set_map() for
 * its whole table (vdpa_sim) rebuilds it once per call rather than once
 * per physically contiguous chunk that vhost-vdpa pins.
 */
struct vdpa_legacy_dma {
	int fd;
	bool batch;		/* VHOST_BACKEND_F_IOTLB_BATCH negotiated */
	bool asid;		/* VHOST_BACKEND_F_IOTLB_ASID negotiated */
};

/*
 * vhost-vdpa answers -EFAULT to any message it rejects, whatever the
 * reason; the reason only shows in the kernel log.
 */
static inline int vdpa_legacy_msg(struct vdpa_legacy_dma *l, __u32 asid,
				  __u8 type, __u64 iova, __u64 size,
				  __u64 uaddr, __u8 perm)
{
	struct vhost_msg_v2 msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.type = VHOST_IOTLB_MSG_V2;
	msg.asid = asid;
	msg.iotlb.type = type;
	msg.iotlb.iova = iova;
	msg.iotlb.size = size;
	msg.iotlb.uaddr = uaddr;
	msg.iotlb.perm = perm;
	n = write(l->fd, &msg, sizeof(msg));
	if (n < 0)
		return -errno;
	return n == sizeof(msg) ? 0 : -EIO;
}

/* Without IOTLB_ASID the kernel ignores msg.asid: refuse rather than alias. */
static inline int vdpa_legacy_check_asid(struct vdpa_legacy_dma *l, __u32 asid)
{
	return asid && !l->asid ? -EINVAL : 0;
}

static inline int vdpa_legacy_update(struct vdpa_legacy_dma *l, __u32 asid,
				     __u8 type, __u64 iova, __u64 size,
				     __u64 uaddr, __u8 perm)
{
	int ret, end;

	ret = vdpa_legacy_check_asid(l, asid);
	if (ret)
		return ret;
	if (!l->batch)
		return vdpa_legacy_msg(l, asid, type, iova, size, uaddr, perm);

	ret = vdpa_legacy_msg(l, asid, VHOST_IOTLB_BATCH_BEGIN, 0, 0, 0, 0);
	if (ret)
		return ret;
	ret = vdpa_legacy_msg(l, asid, type, iova, size, uaddr, perm);
	/* Always leave batch mode, or every later message is held back */
	end = vdpa_legacy_msg(l, asid, VHOST_IOTLB_BATCH_END, 0, 0, 0, 0);
	return ret ? ret : end;
}

static inline int vdpa_legacy_map(void *ctx, __u32 asid, __u64 iova, void *va,
				  __u64 len, bool write)
{
	return vdpa_legacy_update(ctx, asid, VHOST_IOTLB_UPDATE, iova, len,
				  (__u64)(uintptr_t)va,
				  write ? VHOST_ACCESS_RW : VHOST_ACCESS_RO);
}

static inline int vdpa_legacy_unmap(void *ctx, __u32 asid, __u64 iova,
				    __u64 len)
{
	return vdpa_legacy_update(ctx, asid, VHOST_IOTLB_INVALIDATE, iova, len,
				  0, 0);
}

/*
 * An empty batch: at its end vhost-vdpa hands its whole IOTLB of @asid to
 * a set_map() device again.  6.1's vdpa_sim forgets its translations on
 * every reset while vhost-vdpa keeps its own (and the pins), so after a
 * reset this is how the device gets them back without a new update.
 */
static inline int vdpa_legacy_resync(struct vdpa_legacy_dma *l, __u32 asid)
{
	int ret = vdpa_legacy_check_asid(l, asid);

	if (!ret && !l->batch)
		ret = -EOPNOTSUPP;
	if (!ret)
		ret = vdpa_legacy_msg(l, asid, VHOST_IOTLB_BATCH_BEGIN, 0, 0, 0, 0);
	if (!ret)
		ret = vdpa_legacy_msg(l, asid, VHOST_IOTLB_BATCH_END, 0, 0, 0, 0);
	return ret;
}

static const struct vdpa_dma_ops vdpa_legacy_dma_ops = {
	.name = "vhost-iotlb",
	.map = vdpa_legacy_map,
	.unmap = vdpa_legacy_unmap,
};

/* Test data */

/* Byte @i of the test pattern @seed: never constant over a sector */
static inline __u8 vdpa_pattern(unsigned int seed, size_t i)
{
	return (__u8)(seed * 131 + i * 7 + (i >> 9));
}

static inline void vdpa_fill(void *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		((__u8 *)buf)[i] = vdpa_pattern(seed, i);
}

/* First index where @buf differs from pattern @seed, or -1. */
static inline ssize_t vdpa_check(const void *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((const __u8 *)buf)[i] != vdpa_pattern(seed, i))
			return i;
	return -1;
}

/* ---------------------------------------------------------------------- */
/* The device and its split virtqueues                                      */
/* ---------------------------------------------------------------------- */

/* One buffer of a request, as the device sees it */
struct vdpa_sg {
	__u64 iova;
	__u32 len;
	bool dev_writes;	/* device-writable (VRING_DESC_F_WRITE) */
};

struct vdpa_vq {
	unsigned int index;
	unsigned int num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	__u64 desc_iova, avail_iova, used_iova;
	__u16 free_head;
	unsigned int num_free;
	__u16 avail_idx;	/* next free slot of the avail ring */
	__u16 last_used;	/* next used entry to consume */
	void **cookie;		/* per head: what the caller queued */
	int kick_fd;
	int call_fd;
};

/* User memory the device reaches: rings and buffers, one IOVA range */
struct vdpa_arena {
	void *va;
	__u64 iova;
	size_t size;
	size_t used;
};

struct vdpa_dev {
	int fd;
	__u32 device_id;	/* VIRTIO_ID_* */
	__u64 device_features;
	__u64 features;		/* negotiated */
	__u64 backend_features;
	__u32 ngroups;		/* virtqueue groups */
	__u32 nas;		/* address spaces */
	__u16 vq_num_max;
	__u64 iova_first, iova_last;
	__u8 status;
	const struct vdpa_dma_ops *dma;
	void *dma_ctx;
	__u32 asid;		/* address space of the arena */
	struct vdpa_arena arena;
	bool arena_mapped;
	unsigned int nvqs;
	struct vdpa_vq vqs[VDPA_MAX_VQS];
	const char *failed_step;	/* what vdpa_dev_*() last hit */
};

/* Record which step failed; evaluates to the negative errno @ret. */
static inline int vdpa_fail(struct vdpa_dev *d, const char *step, int ret)
{
	d->failed_step = step;
	return ret;
}

static inline int vdpa_ioctl(struct vdpa_dev *d, unsigned long req, void *arg,
			     const char *name)
{
	return ioctl(d->fd, req, arg) ? vdpa_fail(d, name, -errno) : 0;
}

#define VDPA_IOCTL(d, req, arg) vdpa_ioctl(d, req, arg, #req)

static inline __u64 vdpa_iova(const struct vdpa_dev *d, const void *va)
{
	return d->arena.iova + ((const char *)va - (const char *)d->arena.va);
}

static inline void *vdpa_arena_alloc(struct vdpa_dev *d, size_t len,
				     size_t align)
{
	size_t off = vdpa_align(d->arena.used, align);

	if (off > d->arena.size || len > d->arena.size - off)
		return NULL;
	d->arena.used = off + len;
	return (char *)d->arena.va + off;
}

/* A vdpa_sg for @len bytes at @va, which lies in the arena. */
static inline struct vdpa_sg vdpa_sg(const struct vdpa_dev *d, const void *va,
				     __u32 len, bool dev_writes)
{
	struct vdpa_sg sg = {
		.iova = vdpa_iova(d, va),
		.len = len,
		.dev_writes = dev_writes,
	};

	return sg;
}

static inline int vdpa_set_status(struct vdpa_dev *d, __u8 status)
{
	int ret = VDPA_IOCTL(d, VHOST_VDPA_SET_STATUS, &status);

	if (!ret)
		d->status = status;
	return ret;
}

static inline int vdpa_get_status(struct vdpa_dev *d, __u8 *status)
{
	return VDPA_IOCTL(d, VHOST_VDPA_GET_STATUS, status);
}

static inline int vdpa_add_status(struct vdpa_dev *d, __u8 bits)
{
	return vdpa_set_status(d, d->status | bits);
}

static inline int vdpa_get_config(struct vdpa_dev *d, __u32 off, void *buf,
				  __u32 len)
{
	struct vhost_vdpa_config *cfg;
	int ret;

	cfg = calloc(1, sizeof(*cfg) + len);
	if (!cfg)
		return -ENOMEM;
	cfg->off = off;
	cfg->len = len;
	ret = VDPA_IOCTL(d, VHOST_VDPA_GET_CONFIG, cfg);
	if (!ret)
		memcpy(buf, cfg->buf, len);
	free(cfg);
	return ret;
}

/*
 * Take ownership and negotiate the backend features: IOTLB messages v2
 * and batching are needed by the legacy DMA backend, ASIDs when the
 * device has several address spaces.
 */
static inline int vdpa_dev_open_fd(struct vdpa_dev *d, int fd)
{
	__u64 want = 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2 |
		     1ULL << VHOST_BACKEND_F_IOTLB_BATCH |
		     1ULL << VHOST_BACKEND_F_IOTLB_ASID;
	struct vhost_vdpa_iova_range range;
	__u64 offered;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->iova_last = ~0ULL;

	ret = VDPA_IOCTL(d, VHOST_SET_OWNER, NULL);
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_GET_BACKEND_FEATURES, &offered);
	if (ret)
		return ret;
	if (!(offered & (1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2)))
		return vdpa_fail(d, "backend without IOTLB_MSG_V2", -EOPNOTSUPP);
	d->backend_features = offered & want;
	ret = VDPA_IOCTL(d, VHOST_SET_BACKEND_FEATURES, &d->backend_features);
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_VDPA_GET_DEVICE_ID, &d->device_id);
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_VDPA_GET_VRING_NUM, &d->vq_num_max);
	if (ret)
		return ret;

	/* Older kernels lack these three: keep the single-AS defaults */
	d->ngroups = 1;
	d->nas = 1;
	if (ioctl(fd, VHOST_VDPA_GET_GROUP_NUM, &d->ngroups))
		d->ngroups = 1;
	if (ioctl(fd, VHOST_VDPA_GET_AS_NUM, &d->nas))
		d->nas = 1;
	if (!ioctl(fd, VHOST_VDPA_GET_IOVA_RANGE, &range)) {
		d->iova_first = range.first;
		d->iova_last = range.last;
	}
	return 0;
}

/* Fill a struct vdpa_legacy_dma for @d, after vdpa_dev_open_fd(). */
static inline void vdpa_legacy_dma_init(struct vdpa_legacy_dma *l,
					const struct vdpa_dev *d)
{
	l->fd = d->fd;
	l->batch = d->backend_features & (1ULL << VHOST_BACKEND_F_IOTLB_BATCH);
	l->asid = d->backend_features & (1ULL << VHOST_BACKEND_F_IOTLB_ASID);
}

/*
 * Reset, then ACKNOWLEDGE, DRIVER and FEATURES_OK with the device's
 * features masked by @want.  VERSION_1 (little-endian rings, 12-byte net
 * header) and ACCESS_PLATFORM (the device uses IOVAs, not user addresses;
 * vdpa_sim refuses to run without it) are always asked for.
 */
static inline int vdpa_dev_negotiate(struct vdpa_dev *d, __u64 want)
{
	__u64 must = 1ULL << VIRTIO_F_VERSION_1 |
		     1ULL << VIRTIO_F_ACCESS_PLATFORM;
	__u8 status;
	int ret;

	ret = vdpa_set_status(d, 0);
	if (!ret)
		ret = vdpa_add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (!ret)
		ret = vdpa_add_status(d, VIRTIO_CONFIG_S_DRIVER);
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_GET_FEATURES, &d->device_features);
	if (ret)
		return ret;
	if ((d->device_features & must) != must)
		return vdpa_fail(d, "device lacks VERSION_1/ACCESS_PLATFORM",
				 -EOPNOTSUPP);

	d->features = d->device_features & (want | must);
	ret = VDPA_IOCTL(d, VHOST_SET_FEATURES, &d->features);
	if (!ret)
		ret = vdpa_add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!ret)
		ret = vdpa_get_status(d, &status);
	if (ret)
		return ret;
	/* The device clears FEATURES_OK when it cannot take the subset */
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return vdpa_fail(d, "FEATURES_OK not kept", -EOPNOTSUPP);
	return 0;
}

/*
 * Map a fresh arena of @size bytes at @iova in address space @asid.
 * Everything the device touches is carved out of it.
 */
static inline int vdpa_dev_arena(struct vdpa_dev *d,
				 const struct vdpa_dma_ops *dma, void *ctx,
				 __u32 asid, __u64 iova, size_t size)
{
	int ret;

	d->dma = dma;
	d->dma_ctx = ctx;
	d->asid = asid;
	size = vdpa_align(size, VDPA_PAGE_SIZE);
	if (iova < d->iova_first || iova + size - 1 > d->iova_last)
		return vdpa_fail(d, "arena outside the IOVA range", -ERANGE);

	d->arena.va = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->arena.va == MAP_FAILED) {
		d->arena.va = NULL;
		return vdpa_fail(d, "mmap arena", -errno);
	}
	d->arena.iova = iova;
	d->arena.size = size;
	d->arena.used = 0;

	ret = dma->map(ctx, asid, iova, d->arena.va, size, true);
	if (ret)
		return vdpa_fail(d, "map arena", ret);
	d->arena_mapped = true;
	return 0;
}

/* Lay out a split ring of @num entries in the arena and link its free list. */
static inline int vdpa_vq_alloc(struct vdpa_dev *d, struct vdpa_vq *vq,
				unsigned int index, unsigned int num)
{
	unsigned int i;

	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->num = num;
	vq->kick_fd = -1;
	vq->call_fd = -1;
	vq->desc = vdpa_arena_alloc(d, sizeof(*vq->desc) * num, VDPA_PAGE_SIZE);
	vq->avail = vdpa_arena_alloc(d, sizeof(*vq->avail) + 2 * (num + 1), 64);
	vq->used = vdpa_arena_alloc(d, sizeof(*vq->used) +
				    sizeof(struct vring_used_elem) * num + 2,
				    64);
	vq->cookie = calloc(num, sizeof(*vq->cookie));
	if (!vq->desc || !vq->avail || !vq->used || !vq->cookie)
		return vdpa_fail(d, "ring allocation", -ENOMEM);
	vq->desc_iova = vdpa_iova(d, vq->desc);
	vq->avail_iova = vdpa_iova(d, vq->avail);
	vq->used_iova = vdpa_iova(d, vq->used);

	for (i = 0; i < num; i++)
		vq->desc[i].next = htole16((i + 1) % num);
	vq->free_head = 0;
	vq->num_free = num;
	return 0;
}

/* Give the device the ring addresses (IOVAs), its eventfds, and enable it. */
static inline int vdpa_vq_setup(struct vdpa_dev *d, struct vdpa_vq *vq)
{
	struct vhost_vring_state state = { .index = vq->index };
	struct vhost_vring_addr addr = {
		.index = vq->index,
		.desc_user_addr = vq->desc_iova,
		.avail_user_addr = vq->avail_iova,
		.used_user_addr = vq->used_iova,
	};
	struct vhost_vring_file file = { .index = vq->index };
	int ret;

	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0 || vq->call_fd < 0)
		return vdpa_fail(d, "eventfd", -errno);

	state.num = vq->num;
	ret = VDPA_IOCTL(d, VHOST_SET_VRING_NUM, &state);
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_SET_VRING_ADDR, &addr);
	state.num = 0;
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_SET_VRING_BASE, &state);
	file.fd = vq->kick_fd;
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_SET_VRING_KICK, &file);
	file.fd = vq->call_fd;
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_SET_VRING_CALL, &file);
	/* Enabling snapshots the addresses: it comes after SET_VRING_ADDR */
	state.num = 1;
	if (!ret)
		ret = VDPA_IOCTL(d, VHOST_VDPA_SET_VRING_ENABLE, &state);
	return ret;
}

/* Virtqueue group of queue @index, or a negative errno. */
static inline int vdpa_vq_group(struct vdpa_dev *d, unsigned int index)
{
	struct vhost_vring_state state = { .index = index };
	int ret = VDPA_IOCTL(d, VHOST_VDPA_GET_VRING_GROUP, &state);

	return ret ? ret : (int)state.num;
}

/* Put virtqueue group @group in address space @asid (before DRIVER_OK). */
static inline int vdpa_set_group_asid(struct vdpa_dev *d, unsigned int group,
				      unsigned int asid)
{
	struct vhost_vring_state state = { .index = group, .num = asid };

	return VDPA_IOCTL(d, VHOST_VDPA_SET_GROUP_ASID, &state);
}

/*
 * Allocate and set up @nvqs rings of @num entries each; with a device of
 * several groups, move the groups of these queues to the arena's ASID.
 */
static inline int vdpa_dev_setup_vqs(struct vdpa_dev *d, unsigned int nvqs,
				     unsigned int num)
{
	unsigned int i;
	int ret, group;

	if (nvqs > VDPA_MAX_VQS || num > d->vq_num_max)
		return vdpa_fail(d, "too many queues or entries", -EINVAL);
	for (i = 0; i < nvqs; i++) {
		ret = vdpa_vq_alloc(d, &d->vqs[i], i, num);
		if (ret)
			return ret;
		d->nvqs = i + 1;
		if (d->asid) {
			group = vdpa_vq_group(d, i);
			if (group < 0)
				return group;
			ret = vdpa_set_group_asid(d, group, d->asid);
			if (ret)
				return ret;
		}
		ret = vdpa_vq_setup(d, &d->vqs[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static inline int vdpa_dev_driver_ok(struct vdpa_dev *d)
{
	return vdpa_add_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
}

/*
 * What every driver below does once the arena is mapped: check the
 * device type, set up @nvqs queues of @num entries, DRIVER_OK, and read
 * @cfg_len bytes of the device's config space.
 */
static inline int vdpa_dev_start(struct vdpa_dev *d, __u32 device_id,
				 unsigned int nvqs, unsigned int num,
				 void *cfg, __u32 cfg_len)
{
	int ret;

	if (d->device_id != device_id)
		return vdpa_fail(d, "unexpected virtio device type", -ENODEV);
	ret = vdpa_dev_setup_vqs(d, nvqs, num);
	if (!ret)
		ret = vdpa_dev_driver_ok(d);
	if (!ret)
		ret = vdpa_get_config(d, 0, cfg, cfg_len);
	return ret;
}

/* Forget the queues (their rings stay in the arena, unused). */
static inline void vdpa_dev_release_vqs(struct vdpa_dev *d)
{
	unsigned int i;

	for (i = 0; i < d->nvqs; i++) {
		if (d->vqs[i].kick_fd >= 0)
			close(d->vqs[i].kick_fd);
		if (d->vqs[i].call_fd >= 0)
			close(d->vqs[i].call_fd);
		free(d->vqs[i].cookie);
	}
	d->nvqs = 0;
}

/*
 * Reset the device, unmap the arena, close everything.  The vhost-vdpa fd
 * is closed too: vdpa_nl_dev_del() waits for it.
 */
static inline void vdpa_dev_close(struct vdpa_dev *d)
{
	if (d->fd >= 0)
		vdpa_set_status(d, 0);
	if (d->arena_mapped)
		d->dma->unmap(d->dma_ctx, d->asid, d->arena.iova,
			      d->arena.size);
	d->arena_mapped = false;
	vdpa_dev_release_vqs(d);
	if (d->arena.va)
		munmap(d->arena.va, d->arena.size);
	d->arena.va = NULL;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/*
 * Queue one request made of @n buffers, device-readable ones first as
 * virtio requires.  @cookie comes back from vdpa_vq_get().  Returns the
 * head descriptor index, or -ENOSPC when the ring is full.
 */
static inline int vdpa_vq_add(struct vdpa_vq *vq, const struct vdpa_sg *sg,
			      unsigned int n, void *cookie)
{
	__u16 head = vq->free_head, i = head;
	unsigned int k;

	if (!n || n > vq->num_free)
		return -ENOSPC;
	for (k = 0; k < n; k++) {
		struct vring_desc *desc = &vq->desc[i];
		__u16 flags = sg[k].dev_writes ? VRING_DESC_F_WRITE : 0;

		if (k + 1 < n)
			flags |= VRING_DESC_F_NEXT;
		desc->addr = htole64(sg[k].iova);
		desc->len = htole32(sg[k].len);
		desc->flags = htole16(flags);
		i = le16toh(desc->next);
	}
	vq->free_head = i;
	vq->num_free -= n;
	vq->cookie[head] = cookie;

	vq->avail->ring[vq->avail_idx % vq->num] = htole16(head);
	/* The entry must be visible before the index that publishes it */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, htole16(vq->avail_idx),
			 __ATOMIC_RELAXED);
	return head;
}

/* Tell the device there is work: vhost-vdpa calls its kick_vq(). */
static inline int vdpa_vq_kick(struct vdpa_vq *vq)
{
	__u64 one = 1;

	return write(vq->kick_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* Return the descriptors of the chain at @head to the free list. */
static inline void vdpa_vq_free_chain(struct vdpa_vq *vq, __u16 head)
{
	__u16 i = head;

	for (;;) {
		vq->num_free++;
		if (!(le16toh(vq->desc[i].flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(vq->desc[i].next);
	}
	vq->desc[i].next = htole16(vq->free_head);
	vq->free_head = head;
}

/*
 * Consume one used entry if there is one: its cookie and the number of
 * bytes the device says it wrote.  Returns 0, -EAGAIN when none is used,
 * or -EIO for an id the driver never queued.
 */
static inline int vdpa_vq_get(struct vdpa_vq *vq, void **cookie, __u32 *len)
{
	struct vring_used_elem *e;
	__u16 idx;
	__u32 id;

	idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	if (idx == vq->last_used)
		return -EAGAIN;
	e = &vq->used->ring[vq->last_used % vq->num];
	id = le32toh(e->id);
	if (id >= vq->num)
		return -EIO;
	*len = le32toh(e->len);
	*cookie = vq->cookie[id];
	vq->cookie[id] = NULL;
	vdpa_vq_free_chain(vq, id);
	vq->last_used++;
	return 0;
}

static inline long vdpa_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Wait up to @timeout_ms for a used entry, sleeping on the call eventfd
 * the device signals.  Returns as vdpa_vq_get(), or -ETIMEDOUT.
 */
static inline int vdpa_vq_wait(struct vdpa_vq *vq, void **cookie, __u32 *len,
			       int timeout_ms)
{
	struct pollfd pfd = { .fd = vq->call_fd, .events = POLLIN };
	struct timespec t0;
	__u64 count;
	long left;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* Checking after draining the eventfd closes the race */
		ret = vdpa_vq_get(vq, cookie, len);
		if (ret != -EAGAIN)
			return ret;
		left = timeout_ms - vdpa_ms_since(&t0);
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
		if (read(vq->call_fd, &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			return -errno;
	}
}

/* ---------------------------------------------------------------------- */
/* virtio-blk                                                              */
/* ---------------------------------------------------------------------- */

#define VBLK_SECTOR		512U
#define VBLK_SLOTS		32	/* requests in flight at most */
#define VBLK_STATUS_POISON	0xa5	/* no VIRTIO_BLK_S_* value */

struct vblk_slot {
	struct virtio_blk_outhdr hdr;
	__u8 status;
};

struct vblk {
	struct vdpa_dev *dev;
	struct vdpa_vq *vq;
	__u64 capacity;		/* in 512-byte sectors */
	__u32 blk_size;
	struct vblk_slot *slots;	/* in the arena */
	bool busy[VBLK_SLOTS];
	__u32 last_len;		/* bytes written, says the last completion */
};

/*
 * Bring @d up as a virtio-blk driver: one queue of @num entries.  The
 * arena must be mapped already.
 */
static inline int vblk_init(struct vblk *b, struct vdpa_dev *d,
			    unsigned int num)
{
	struct virtio_blk_config cfg;
	int ret;

	memset(b, 0, sizeof(*b));
	b->dev = d;
	ret = vdpa_dev_start(d, VIRTIO_ID_BLOCK, 1, num, &cfg, sizeof(cfg));
	if (ret)
		return ret;
	b->vq = &d->vqs[0];
	b->capacity = le64toh(cfg.capacity);
	b->blk_size = VBLK_SECTOR;
	if (d->features & (1ULL << VIRTIO_BLK_F_BLK_SIZE))
		b->blk_size = le32toh(cfg.blk_size);
	b->slots = vdpa_arena_alloc(d, sizeof(*b->slots) * VBLK_SLOTS, 64);
	if (!b->slots)
		return vdpa_fail(d, "blk slots", -ENOMEM);
	return 0;
}

/*
 * Queue a read (VIRTIO_BLK_T_IN) or write (VIRTIO_BLK_T_OUT) of the data
 * buffers @data at @sector, without waiting: header, data, status byte.
 * Returns the slot used (the request's tag), -EBUSY or -ENOSPC.
 */
static inline int vblk_submit(struct vblk *b, __u32 type, __u64 sector,
			      const struct vdpa_sg *data, unsigned int n)
{
	struct vdpa_sg sg[VDPA_PAGE_SIZE / sizeof(struct vdpa_sg)];
	struct vblk_slot *s;
	unsigned int k;
	int slot, ret;

	if (n + 2 > ARRAY_SIZE(sg))
		return -E2BIG;
	for (slot = 0; slot < VBLK_SLOTS && b->busy[slot]; slot++)
		;
	if (slot == VBLK_SLOTS)
		return -EBUSY;
	s = &b->slots[slot];
	s->hdr.type = htole32(type);
	s->hdr.ioprio = 0;
	s->hdr.sector = htole64(sector);
	/* Shows whether the device wrote a status at all */
	s->status = VBLK_STATUS_POISON;

	sg[0] = vdpa_sg(b->dev, &s->hdr, sizeof(s->hdr), false);
	for (k = 0; k < n; k++)
		sg[k + 1] = data[k];
	sg[n + 1] = vdpa_sg(b->dev, &s->status, 1, true);

	ret = vdpa_vq_add(b->vq, sg, n + 2, &b->slots[slot]);
	if (ret < 0)
		return ret;
	b->busy[slot] = true;
	return slot;
}

/* Wait for one request; its slot and status byte. */
static inline int vblk_complete(struct vblk *b, int *slot, __u8 *status,
				int timeout_ms)
{
	void *cookie;
	__u32 len;
	int ret;

	ret = vdpa_vq_wait(b->vq, &cookie, &len, timeout_ms);
	if (ret)
		return ret;
	*slot = (struct vblk_slot *)cookie - b->slots;
	if (*slot < 0 || *slot >= VBLK_SLOTS || !b->busy[*slot])
		return -EIO;
	b->busy[*slot] = false;
	*status = b->slots[*slot].status;
	b->last_len = len;
	return 0;
}

/*
 * One synchronous request.  Returns 0 with the device's status byte in
 * @status (VBLK_STATUS_POISON if it wrote none), or a negative errno.
 */
static inline int vblk_rw(struct vblk *b, __u32 type, __u64 sector,
			  const struct vdpa_sg *data, unsigned int n,
			  __u8 *status)
{
	int slot, done, ret;

	slot = vblk_submit(b, type, sector, data, n);
	if (slot < 0)
		return slot;
	ret = vdpa_vq_kick(b->vq);
	if (!ret)
		ret = vblk_complete(b, &done, status, VDPA_TIMEOUT_MS);
	if (!ret && done != slot)
		ret = -EIO;
	return ret;
}

/* ---------------------------------------------------------------------- */
/* virtio-net                                                              */
/* ---------------------------------------------------------------------- */

#define VNET_RXQ		0
#define VNET_TXQ		1
#define VNET_HDR_LEN		sizeof(struct virtio_net_hdr_v1)

struct vnet {
	struct vdpa_dev *dev;
	struct vdpa_vq *rx, *tx;
	__u8 mac[6];
	__u16 mtu;
};

/* Bring @d up as a virtio-net driver: RX and TX queues, no control queue. */
static inline int vnet_init(struct vnet *v, struct vdpa_dev *d,
			    unsigned int num)
{
	struct virtio_net_config cfg;
	int ret;

	memset(v, 0, sizeof(*v));
	v->dev = d;
	ret = vdpa_dev_start(d, VIRTIO_ID_NET, 2, num, &cfg, sizeof(cfg));
	if (ret)
		return ret;
	v->rx = &d->vqs[VNET_RXQ];
	v->tx = &d->vqs[VNET_TXQ];
	memcpy(v->mac, cfg.mac, sizeof(v->mac));
	v->mtu = le16toh(cfg.mtu);
	return 0;
}

/* Offer the device one receive buffer; @cookie comes back with it. */
static inline int vnet_post_rx(struct vnet *v, void *buf, __u32 len)
{
	struct vdpa_sg sg = vdpa_sg(v->dev, buf, len, true);
	int ret = vdpa_vq_add(v->rx, &sg, 1, buf);

	return ret < 0 ? ret : 0;
}

/*
 * Queue one packet: the virtio_net_hdr_v1 at @hdr and the frame at
 * @frame, as one descriptor when they are adjacent, else as two.
 */
static inline int vnet_send(struct vnet *v, void *hdr, void *frame,
			    __u32 frame_len)
{
	struct vdpa_sg sg[2];
	unsigned int n = 0;
	int ret;

	if ((char *)hdr + VNET_HDR_LEN == (char *)frame) {
		sg[n++] = vdpa_sg(v->dev, hdr, VNET_HDR_LEN + frame_len, false);
	} else {
		sg[n++] = vdpa_sg(v->dev, hdr, VNET_HDR_LEN, false);
		sg[n++] = vdpa_sg(v->dev, frame, frame_len, false);
	}
	ret = vdpa_vq_add(v->tx, sg, n, hdr);
	return ret < 0 ? ret : 0;
}

#endif /* __SELFTESTS_IOASID_VDPA_UTILS_H */
