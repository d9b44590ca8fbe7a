/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * In-kernel API of the /dev/ioasid core, for the drivers that attach
 * devices to it: VFIO, vhost-vdpa and emulated (mdev) devices.
 *
 * A driver gets a context from the file userspace hands it, binds its
 * device to the context (which claims DMA ownership of the device's whole
 * IOMMU group) and attaches the bound device to an IOAS or a hardware page
 * table by ID. Emulated devices, which have no IOMMU, instead create an
 * access and read, write or pin memory by IOVA through it. Devices that
 * translate DMA themselves (vDPA devices with set_map or dma_map) create a
 * mirror, which the core keeps equal to the IOAS it is attached to.
 */
#ifndef __LINUX_IOASID_CORE_H
#define __LINUX_IOASID_CORE_H

#include <linux/types.h>
#include <linux/err.h>

struct device;
struct file;
struct iommu_group;
struct page;
struct ioasid_ctx;
struct ioasid_device;
struct ioasid_access;
struct ioasid_mirror;

/*
 * The PASID key of a device's RID: DMA without a PASID. Attachments are
 * per (device, PASID); this is the value that names the RID among them.
 */
#define IOASID_PASID_RID	U32_MAX

/**
 * struct ioasid_access_ops - callbacks of an access
 * @needs_pin_pages: the access will call ioasid_access_pin_pages()
 * @unmap: the range [@iova, @iova + @length) is about to be unmapped: the
 *	   whole IOVA range of one mapping in which the access pins pages.
 *	   The access must call ioasid_access_unpin_pages() for everything it
 *	   pinned in the range before returning. Called with the IOAS's
 *	   mutex held: it may pin, unpin and read or write through accesses,
 *	   which take only the IOVA map's lock, and nothing else of the core.
 */
struct ioasid_access_ops {
	u8 needs_pin_pages : 1;
	void (*unmap)(void *data, unsigned long iova, unsigned long length);
};

/**
 * enum ioasid_access_flags - flags of access pin and rw
 * @IOASID_ACCESS_WRITE: the access will write the memory
 */
enum ioasid_access_flags {
	IOASID_ACCESS_WRITE = 1 << 0,
};

/**
 * struct ioasid_mirror_ops - callbacks of a mirror
 *
 * They are called with the IOAS's IOVA map locked, by whichever thread
 * maps or unmaps, and must not call into the core. Between two flushes
 * the device may go on using the translation it had: flush is where the
 * device must start using exactly what map and unmap said, for example
 * with one vDPA set_map of the whole translation.
 *
 * @map: translate [@iova, @iova + @size) to the physically contiguous
 *	 [@paddr, @paddr + @size), with @prot IOMMU_READ and/or IOMMU_WRITE
 *	 (and IOMMU_CACHE). The range is mapped nowhere else in the mirror.
 *	 Return 0 or an errno; on failure nothing of the range is mapped.
 * @unmap: stop translating [@iova, @iova + @size), a range or a union of
 *	   ranges given to @map. Cannot fail.
 * @flush: make the device use the translation as it now stands.
 */
struct ioasid_mirror_ops {
	int (*map)(void *data, unsigned long iova, phys_addr_t paddr,
		   size_t size, int prot);
	void (*unmap)(void *data, unsigned long iova, size_t size);
	void (*flush)(void *data);
};

#if IS_ENABLED(CONFIG_IOASID_CORE)
struct ioasid_ctx *ioasid_ctx_from_file(struct file *file);
struct ioasid_ctx *ioasid_ctx_from_fd(int fd);
void ioasid_ctx_get(struct ioasid_ctx *ictx);
void ioasid_ctx_put(struct ioasid_ctx *ictx);

struct ioasid_device *ioasid_device_bind(struct ioasid_ctx *ictx,
					 struct device *dev, u32 *id);
void ioasid_device_unbind(struct ioasid_device *idev);
int ioasid_device_attach(struct ioasid_device *idev, u32 *pt_id);
int ioasid_device_replace(struct ioasid_device *idev, u32 *pt_id);
void ioasid_device_detach(struct ioasid_device *idev);
int ioasid_device_attach_pasid(struct ioasid_device *idev, u32 pasid,
			       u32 *pt_id);
int ioasid_device_replace_pasid(struct ioasid_device *idev, u32 pasid,
				u32 *pt_id);
void ioasid_device_detach_pasid(struct ioasid_device *idev, u32 pasid);

struct ioasid_access *
ioasid_access_create(struct ioasid_ctx *ictx,
		     const struct ioasid_access_ops *ops, void *data, u32 *id);
void ioasid_access_destroy(struct ioasid_access *access);
int ioasid_access_attach(struct ioasid_access *access, u32 ioas_id);
int ioasid_access_attach_pasid(struct ioasid_access *access, u32 ioas_id,
			       u32 pasid);
void ioasid_access_detach(struct ioasid_access *access);
int ioasid_access_pin_pages(struct ioasid_access *access, unsigned long iova,
			    unsigned long length, struct page **out_pages,
			    unsigned int flags);
int ioasid_access_unpin_pages(struct ioasid_access *access, unsigned long iova,
			      unsigned long length);
void ioasid_access_release_pins(struct ioasid_access *access);
int ioasid_access_rw(struct ioasid_access *access, unsigned long iova,
		     void *data, size_t length, unsigned int flags);

struct ioasid_mirror *ioasid_mirror_create(struct ioasid_ctx *ictx,
					   const struct ioasid_mirror_ops *ops,
					   void *data, unsigned long first,
					   unsigned long last, u32 *id);
void ioasid_mirror_destroy(struct ioasid_mirror *mirror);
int ioasid_mirror_attach(struct ioasid_mirror *mirror, u32 pt_id);
void ioasid_mirror_detach(struct ioasid_mirror *mirror);
u32 ioasid_mirror_ioas_id(struct ioasid_mirror *mirror);

bool ioasid_group_enforced_coherent(struct iommu_group *group);
int ioasid_vfio_compat_ioas_id(struct ioasid_ctx *ictx, u32 *ioas_id);
int ioasid_vfio_group_add(struct ioasid_ctx *ictx, struct iommu_group *group,
			  bool emulated);
void ioasid_vfio_group_del(struct ioasid_ctx *ictx, struct iommu_group *group);
bool ioasid_vfio_container_served(void);
#else
static inline struct ioasid_ctx *ioasid_ctx_from_file(struct file *file)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline struct ioasid_ctx *ioasid_ctx_from_fd(int fd)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void ioasid_ctx_get(struct ioasid_ctx *ictx)
{
}

static inline void ioasid_ctx_put(struct ioasid_ctx *ictx)
{
}

static inline bool ioasid_vfio_container_served(void)
{
	return false;
}

static inline struct ioasid_device *
ioasid_device_bind(struct ioasid_ctx *ictx, struct device *dev, u32 *id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void ioasid_device_unbind(struct ioasid_device *idev)
{
}

static inline int ioasid_device_attach(struct ioasid_device *idev,
				       u32 *pt_id)
{
	return -EOPNOTSUPP;
}

static inline int ioasid_device_replace(struct ioasid_device *idev,
					u32 *pt_id)
{
	return -EOPNOTSUPP;
}

static inline void ioasid_device_detach(struct ioasid_device *idev)
{
}

static inline struct ioasid_mirror *
ioasid_mirror_create(struct ioasid_ctx *ictx,
		     const struct ioasid_mirror_ops *ops, void *data,
		     unsigned long first, unsigned long last, u32 *id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void ioasid_mirror_destroy(struct ioasid_mirror *mirror)
{
}

static inline int ioasid_mirror_attach(struct ioasid_mirror *mirror,
				       u32 pt_id)
{
	return -EOPNOTSUPP;
}

static inline void ioasid_mirror_detach(struct ioasid_mirror *mirror)
{
}

static inline u32 ioasid_mirror_ioas_id(struct ioasid_mirror *mirror)
{
	return 0;
}
#endif

#endif
