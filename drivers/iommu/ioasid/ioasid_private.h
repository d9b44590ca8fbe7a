/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internals of the /dev/ioasid core.
 *
 * Layers, bottom up, one file each:
 *   pages.c         pinned user pages and their RLIMIT_MEMLOCK accounting
 *   io_pagetable.c  the IOVA map of an IOAS: areas, reserved and allowed
 *                   ranges, and the IOMMU domains that mirror it
 *   ioas.c          the IOAS object and its ioctls
 *   hw_pagetable.c  the HWPT object: one IOMMU domain filled from an IOAS
 *   device.c        device bind/attach, the kernel API for drivers
 *   access.c        accesses: emulated devices reading and pinning by IOVA
 *   vfio_compat.c   VFIO's IOAS: the group path and the type1 container
 *   main.c          the file, the object table and ioctl dispatch
 *   selftest.c      the mock IOMMU and IOASID_TEST (CONFIG_IOASID_TEST)
 *
 * Lock order, outermost first. Nothing else nests.
 *
 *   ctx.vfio_lock              the IOAS of VFIO's group path
 *   ioasid_group.lock          attachment of one IOMMU group
 *     ioas.mutex               the IOAS's lists of HWPTs and accesses
 *       iopt.rwsem             areas, reserved/allowed trees, domains
 *         ctx.objects xa_lock  object table (spinlock, never sleeps)
 *
 * Pages are pinned and unpinned with no lock held. Access unmap callbacks
 * run with ioas.mutex held and iopt.rwsem not held.
 */
#ifndef __IOASID_PRIVATE_H
#define __IOASID_PRIVATE_H

#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <linux/ioasid_core.h>
#include <uapi/linux/ioasid.h>

struct ioasid_ctx;
struct ioasid_hwpt;

/* Object table ----------------------------------------------------------- */

enum ioasid_object_type {
	IOASID_OBJ_NONE,
	IOASID_OBJ_ANY = IOASID_OBJ_NONE,
	IOASID_OBJ_IOAS,
	IOASID_OBJ_HWPT,
	IOASID_OBJ_DEVICE,
	IOASID_OBJ_ACCESS,
	IOASID_OBJ_NUM,
};

/**
 * struct ioasid_object - header of every object in the table
 * @users: one for the table, one per lookup in flight and one per object
 *	   or driver depending on this object. Destroy needs exactly 1.
 * @type: enum ioasid_object_type
 * @id: the ID userspace names it by
 */
struct ioasid_object {
	refcount_t users;
	enum ioasid_object_type type;
	u32 id;
};

/**
 * struct ioasid_ctx - one open /dev/ioasid
 * @file: the file; drivers that hold the context hold a file reference
 * @objects: ID -> struct ioasid_object; XA_ZERO_ENTRY while being built
 * @account_mode: enum ioasid_acct_mode for new pins
 * @locked_pages: pages this context accounted to RLIMIT_MEMLOCK
 * @pinned_pages: pages this context holds pinned
 * @vfio_lock: protects the VFIO state below
 * @vfio_ioas: the IOAS VFIO's group path attaches to, referenced, or NULL
 * @vfio_groups: struct ioasid_vfio_group of the VFIO groups using the file
 * @vfio_type: VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU once set, else 0
 * @vfio_dirty: VFIO dirty page tracking is on
 */
struct ioasid_ctx {
	struct file *file;
	struct xarray objects;
	u8 account_mode;
	atomic_long_t locked_pages;
	atomic_long_t pinned_pages;
	struct mutex vfio_lock; /* VFIO state */
	struct ioasid_ioas *vfio_ioas;
	struct list_head vfio_groups;
	unsigned long vfio_type;
	bool vfio_dirty;
};

/**
 * struct ioasid_ucmd - one ioctl in flight
 * @ictx: the context
 * @ubuffer: userspace copy of the command
 * @user_size: its size as userspace gave it
 * @cmd: kernel copy of the command
 */
struct ioasid_ucmd {
	struct ioasid_ctx *ictx;
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
};

int ioasid_ucmd_respond(struct ioasid_ucmd *ucmd, size_t cmd_len);

void *ioasid_object_reserve(struct ioasid_ctx *ictx, size_t size,
			    enum ioasid_object_type type);
void ioasid_object_publish(struct ioasid_ctx *ictx, struct ioasid_object *obj);
void ioasid_object_abort(struct ioasid_ctx *ictx, struct ioasid_object *obj);
struct ioasid_object *ioasid_get_object(struct ioasid_ctx *ictx, u32 id,
					enum ioasid_object_type type);
void ioasid_put_object(struct ioasid_object *obj);
int ioasid_object_remove(struct ioasid_ctx *ictx, struct ioasid_object *obj);
void ioasid_object_remove_owned(struct ioasid_ctx *ictx,
				struct ioasid_object *obj);

/* pages.c ---------------------------------------------------------------- */

enum ioasid_acct_mode {
	IOASID_ACCT_USER = 0,
	IOASID_ACCT_MM = 1,
};

/**
 * struct ioasid_pages - a run of pinned user pages, shared by areas
 * @kref: one per area using the pages (IOAS copy shares them)
 * @ictx: context whose counters account the pages
 * @pages: the pinned pages, @npages of them; immutable once built
 * @npages: number of pages
 * @writable: pinned with FOLL_WRITE, so devices may write them
 * @acct_mode: enum ioasid_acct_mode they were accounted with
 * @user: user charged in IOASID_ACCT_USER mode
 * @mm: mm charged in IOASID_ACCT_MM mode
 */
struct ioasid_pages {
	struct kref kref;
	struct ioasid_ctx *ictx;
	struct page **pages;
	unsigned long npages;
	bool writable;
	u8 acct_mode;
	struct user_struct *user;
	struct mm_struct *mm;
};

struct ioasid_pages *ioasid_pages_pin(struct ioasid_ctx *ictx,
				      unsigned long uptr, unsigned long npages,
				      bool writable, u8 acct_mode);
void ioasid_pages_put(struct ioasid_pages *pages);
struct ioasid_pages *ioasid_pages_split(struct ioasid_pages *pages,
					unsigned long index);
int ioasid_acct_user(struct user_struct *user, unsigned long npages);
unsigned long ioasid_pages_run(struct ioasid_pages *pages,
			       unsigned long index, unsigned long max);

/* io_pagetable.c --------------------------------------------------------- */

/**
 * struct ioasid_iopt - the IOVA map of an IOAS
 * @rwsem: protects everything below
 * @area_itree: struct ioasid_area by IOVA
 * @reserved_itree: struct ioasid_reserved by IOVA
 * @allowed_itree: struct ioasid_allowed by IOVA; empty means all
 * @domains: the domains mirroring the map, indexed from 0
 * @num_domains: number of entries in @domains
 * @num_areas: number of areas in @area_itree
 * @iova_alignment: required alignment of IOVAs and lengths
 * @disable_large_pages: map with PAGE_SIZE IOPTEs only
 */
struct ioasid_iopt {
	struct rw_semaphore rwsem;
	struct rb_root_cached area_itree;
	struct rb_root_cached reserved_itree;
	struct rb_root_cached allowed_itree;
	struct xarray domains;
	unsigned int num_domains;
	unsigned long num_areas;
	unsigned long iova_alignment;
	bool disable_large_pages;
};

/**
 * struct ioasid_area - one mapping: IOVA range -> part of a pages
 * @node: [iova, last] in iopt.area_itree
 * @pages: the pinned pages, referenced
 * @page_index: index in @pages of the page at node.start
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @num_access_pins: pages of this area pinned through accesses
 * @vaddr_invalid: VFIO_DMA_UNMAP_FLAG_VADDR withdrew its user address
 * @free_item: on a list of removed areas, once out of the tree
 */
struct ioasid_area {
	struct interval_tree_node node;
	struct ioasid_pages *pages;
	unsigned long page_index;
	int prot;
	atomic_long_t num_access_pins;
	bool vaddr_invalid;
	struct list_head free_item;
};

void ioasid_iopt_init(struct ioasid_iopt *iopt);
void ioasid_iopt_destroy(struct ioasid_iopt *iopt);
int ioasid_iopt_map_user(struct ioasid_ctx *ictx, struct ioasid_iopt *iopt,
			 unsigned long *iova, unsigned long uptr,
			 unsigned long length, int prot, bool fixed,
			 u8 acct_mode);
int ioasid_iopt_copy(struct ioasid_iopt *dst, struct ioasid_iopt *src,
		     unsigned long *dst_iova, unsigned long src_iova,
		     unsigned long length, int prot, bool fixed);
int ioasid_iopt_unmap(struct ioasid_iopt *iopt, unsigned long iova,
		      unsigned long length, unsigned long *unmapped);
int ioasid_iopt_unmap_all(struct ioasid_iopt *iopt, unsigned long *unmapped);
bool ioasid_iopt_range_pinned(struct ioasid_iopt *iopt, unsigned long iova,
			      unsigned long length);
int ioasid_iopt_add_domain(struct ioasid_iopt *iopt,
			   struct iommu_domain *domain);
void ioasid_iopt_remove_domain(struct ioasid_iopt *iopt,
			       struct iommu_domain *domain);
int ioasid_iopt_reserve_group(struct ioasid_iopt *iopt,
			      struct iommu_group *group, void *owner);
int ioasid_iopt_reserve_range(struct ioasid_iopt *iopt, unsigned long start,
			      unsigned long last, void *owner);
void ioasid_iopt_unreserve(struct ioasid_iopt *iopt, void *owner);
int ioasid_iopt_set_allowed(struct ioasid_iopt *iopt,
			    struct rb_root_cached *allowed);
int ioasid_iopt_usable_array(struct ioasid_iopt *iopt,
			     struct ioasid_iova_range **out, u32 *num);
int ioasid_iopt_check_map(struct ioasid_iopt *iopt, unsigned long iova,
			  unsigned long last);
int ioasid_iopt_cut(struct ioasid_iopt *iopt, const unsigned long *iovas,
		    unsigned int num);
int ioasid_iopt_usable_ranges(struct ioasid_iopt *iopt,
			      struct ioasid_iova_range __user *ranges,
			      u32 *num);
struct ioasid_area *ioasid_iopt_area_first(struct ioasid_iopt *iopt,
					   unsigned long start,
					   unsigned long last);
struct ioasid_area *ioasid_iopt_area_next(struct ioasid_area *area,
					  unsigned long start,
					  unsigned long last);

/* ioas.c ----------------------------------------------------------------- */

/**
 * struct ioasid_ioas - an I/O address space
 * @obj: object header
 * @iopt: the IOVA map
 * @mutex: protects @hwpt_list and @access_list
 * @hwpt_list: struct ioasid_hwpt mirroring this IOAS
 * @access_list: struct ioasid_access attached to this IOAS
 */
struct ioasid_ioas {
	struct ioasid_object obj;
	struct ioasid_iopt iopt;
	struct mutex mutex; /* lists below */
	struct list_head hwpt_list;
	struct list_head access_list;
};

struct ioasid_ioas *ioasid_get_ioas(struct ioasid_ctx *ictx, u32 id);
struct ioasid_ioas *ioasid_ioas_alloc(struct ioasid_ctx *ictx);
void ioasid_ioas_destroy(struct ioasid_object *obj);
int ioasid_ioas_alloc_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_iova_ranges_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_allow_iovas_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_map_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_copy_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_unmap_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_ioas_option(struct ioasid_ucmd *ucmd);

/* hw_pagetable.c --------------------------------------------------------- */

/**
 * struct ioasid_hwpt - a hardware page table (IOMMU domain) of an IOAS
 * @obj: object header
 * @ioas: the IOAS it mirrors, referenced
 * @domain: the IOMMU domain
 * @auto_domain: made by attach to an IOAS; destroyed with its last device
 * @enforce_cache_coherency: no DMA can bypass IOMMU_CACHE
 * @item: in ioas.hwpt_list
 */
struct ioasid_hwpt {
	struct ioasid_object obj;
	struct ioasid_ioas *ioas;
	struct iommu_domain *domain;
	bool auto_domain;
	bool enforce_cache_coherency;
	struct list_head item;
};

struct ioasid_hwpt *ioasid_hwpt_alloc(struct ioasid_ctx *ictx,
				      struct ioasid_ioas *ioas,
				      struct device *dev,
				      struct iommu_group *group,
				      bool auto_domain);
void ioasid_hwpt_abort(struct ioasid_ctx *ictx, struct ioasid_hwpt *hwpt);
void ioasid_hwpt_destroy(struct ioasid_object *obj);
int ioasid_hwpt_alloc_ioctl(struct ioasid_ucmd *ucmd);

/* device.c --------------------------------------------------------------- */

/**
 * struct ioasid_group - attachment state of one IOMMU group in a context
 * @kref: one per bound device of the group
 * @lock: serialises attach and detach of the group's devices
 * @ictx: the context the group's devices are bound to
 * @group: the IOMMU group, referenced
 * @hwpt: what the group is attached to, or NULL
 * @num_attached: bound devices of the group attached to @hwpt
 */
struct ioasid_group {
	struct kref kref;
	struct mutex lock; /* attachment of the group */
	struct ioasid_ctx *ictx;
	struct iommu_group *group;
	struct ioasid_hwpt *hwpt;
	unsigned int num_attached;
};

/**
 * struct ioasid_device - a device bound to a context
 * @obj: object header
 * @ictx: the context, whose file the device holds
 * @dev: the device
 * @igroup: its group's attachment state
 * @hwpt: what it is attached to, or NULL
 * @destroy_dev: for devices the core owns (mock devices), called after
 *		 unbind to remove the device
 */
struct ioasid_device {
	struct ioasid_object obj;
	struct ioasid_ctx *ictx;
	struct device *dev;
	struct ioasid_group *igroup;
	struct ioasid_hwpt *hwpt;
	void (*destroy_dev)(struct device *dev);
};

struct ioasid_device *ioasid_device_bind_common(struct ioasid_ctx *ictx,
						struct device *dev,
						bool driver_owned);
void ioasid_device_destroy(struct ioasid_object *obj);
struct ioasid_device *ioasid_get_device(struct ioasid_ctx *ictx, u32 id);

/* access.c --------------------------------------------------------------- */

/**
 * struct ioasid_access - an emulated device reading memory by IOVA
 * @obj: object header
 * @ictx: the context
 * @ioas: the IOAS it is attached to, referenced, or NULL
 * @ops: the driver's callbacks
 * @data: passed to @ops
 * @item: in ioas.access_list
 * @destroy_data: for accesses userspace owns (test accesses), called
 *		  first when the access is destroyed
 */
struct ioasid_access {
	struct ioasid_object obj;
	struct ioasid_ctx *ictx;
	struct ioasid_ioas *ioas;
	const struct ioasid_access_ops *ops;
	void *data;
	struct list_head item;
	void (*destroy_data)(void *data);
};

struct ioasid_access *
ioasid_access_create_common(struct ioasid_ctx *ictx,
			    const struct ioasid_access_ops *ops, void *data,
			    bool driver_owned, u32 *id);
void ioasid_access_obj_destroy(struct ioasid_object *obj);
void ioasid_access_notify_unmap(struct ioasid_ioas *ioas, unsigned long iova,
				unsigned long length);

/* vfio_compat.c ---------------------------------------------------------- */

int ioasid_vfio_ioas_ioctl(struct ioasid_ucmd *ucmd);
void ioasid_vfio_compat_release(struct ioasid_ctx *ictx);
long ioasid_vfio_ioctl(struct ioasid_ctx *ictx, unsigned int cmd,
		       unsigned long arg);

/* selftest.c ------------------------------------------------------------- */

#ifdef CONFIG_IOASID_TEST
int ioasid_test_ioctl(struct ioasid_ucmd *ucmd);
int ioasid_test_should_fail(unsigned int point);
int ioasid_test_init(void);
void ioasid_test_exit(void);
#else
static inline int ioasid_test_should_fail(unsigned int point)
{
	return 0;
}

static inline int ioasid_test_init(void)
{
	return 0;
}

static inline void ioasid_test_exit(void)
{
}
#endif

/* ioasid_object_reserve() returns the header, which starts each object. */
static_assert(offsetof(struct ioasid_ioas, obj) == 0);
static_assert(offsetof(struct ioasid_hwpt, obj) == 0);
static_assert(offsetof(struct ioasid_device, obj) == 0);
static_assert(offsetof(struct ioasid_access, obj) == 0);

/* Debug-only invariant checks, compiled in with the test Kconfig. */
#define IOASID_WARN_ON(cond)                                                   \
	({                                                                     \
		bool __ioasid_cond = !!(cond);                                 \
									       \
		if (IS_ENABLED(CONFIG_IOASID_TEST))                            \
			WARN_ON(__ioasid_cond);                                \
		unlikely(__ioasid_cond);                                       \
	})

#endif
