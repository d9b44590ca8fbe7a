/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internals of the /dev/ioasid core.
 *
 * Layers, bottom up, one file each:
 *   pages.c         pinned user pages and their RLIMIT_MEMLOCK accounting
 *   io_pagetable.c  the IOVA map of an IOAS: areas, reserved and allowed
 *                   ranges, and the IOMMU domains that mirror it
 *   ioas.c          the IOAS object and its ioctls
 *   hw_pagetable.c  the HWPT object: one IOMMU domain filled from an IOAS,
 *                   or a user's stage 1 nested over such a one
 *   device.c        device bind/attach per (device, PASID), the kernel
 *                   API for drivers
 *   ctx_pasid.c     the PASIDs a file holds, and the quotas, over the
 *                   system's PASID space (pasid.c, built in)
 *   access.c        accesses: emulated devices reading and pinning by IOVA
 *   mirror.c        mirrors: devices translating DMA themselves (vDPA),
 *                   kept equal to an IOAS as a software domain
 *   fault.c         fault queues: page requests and unrecoverable DMA
 *                   faults of the file's devices, read by userspace
 *   vfio_compat.c   VFIO's IOAS: the group path and the type1 container
 *   main.c          the file, the object table and ioctl dispatch
 *   debugfs.c       introspection: each file's state, in debugfs
 *   selftest.c      the mock IOMMU and IOASID_TEST (CONFIG_IOASID_TEST)
 *
 * Lock order, outermost first. Nothing else nests.
 *
 *   ctx.vfio_lock              the IOAS of VFIO's group path
 *   ioasid_group.lock          the attachments of one IOMMU group
 *     ioasid_pasids xa_lock    (pasid.c, spinlock) the PASID space
 *     ioas.mutex               the IOAS's lists of HWPTs and accesses
 *       hwpt.lock              a paging HWPT's attach: mirror, coherency
 *                              (a nested HWPT's attach takes its parent's)
 *         iopt.domains_rwsem   the domains' IOPTEs: read across a map's or
 *                              an unmap's IOPTE writes, several at once;
 *                              written to add or remove a domain, and
 *                              across an attach or detach of a mirrored
 *                              domain (two IOASes' for a replace: the
 *                              lower address first)
 *           iommu_group mutex  (6.1's IOMMU core, in attach and detach)
 *           iopt.rwsem         areas, reserved/allowed trees, domains;
 *                              maps and unmaps write it briefly, to move
 *                              areas in and out of transit
 *             mirror.ops_lock  a mirror's driver callbacks, one at a time
 *             pages.lock       which pages of a pinned range areas use,
 *                              and their stored chunks (read back from a
 *                              domain's IOPTEs under it: the IOMMU
 *                              driver's page-table lock, if any, nests)
 *             access.lock      an access's pins, per IOVA page
 *             ctx.objects xa_lock  object table (spinlock, never sleeps)
 *   ioasid_pasid_users_lock    per-user PASID counts
 *
 * The IOMMU core calls the fault handler (fault.c) with the device's
 * dev->iommu->lock held, and takes it in iommu_page_response():
 *
 *   ioasid_group.lock -> dev->iommu->lock -> faultq.lock
 *   dev->iommu->lock -> ioasid_dev_faults.lock, routes xa_lock (spinlocks)
 *
 * Pages are pinned with no lock held; they are unpinned under pages.lock
 * when the last area using them goes, with no other lock held (an area
 * is freed after it left its IOAS). A stored page is read back with its
 * IOAS's iopt.domains_rwsem held, so accesses take it before iopt.rwsem
 * to pin or copy, and a copy to another IOAS takes the source's to mark
 * the pages shared. Access unmap callbacks run with
 * ioas.mutex held and iopt.rwsem not held. Waiting for an
 * object's commands in flight to finish (a destroy) is done with no core
 * lock held, since those commands may need any of them. A debugfs reader
 * is one more command in flight: it finds objects as lookups do and takes
 * the locks above in this order; a file's release removes its directory,
 * waiting for readers, before it frees anything.
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

/* Objects (main.c) ------------------------------------------------------- */

struct ioasid_object;

/**
 * struct ioasid_obj_ops - what one type of object does
 * @name: the type's name, for messages
 * @destroy: free a published object that left the table; no holds and no
 *	     active users remain
 * @abort: free an object that was never published, undoing whatever part
 *	   of its construction was done (fields not reached are zero)
 */
struct ioasid_obj_ops {
	const char *name;
	void (*destroy)(struct ioasid_object *obj);
	void (*abort)(struct ioasid_object *obj);
};

/**
 * struct ioasid_object - header of every object of a context
 * @ops: its type; lookups compare it
 * @ictx: the context whose table holds it
 * @holds: long-lived references: one for the table while the object is
 *	   in it, one per object or driver depending on it. 0 means it is
 *	   being destroyed: no new hold and no new lookup succeeds.
 * @active: commands in flight using it (lookups not yet done). Destroy
 *	    waits for this to drop to 0; it is never a reason for EBUSY.
 * @id: the ID userspace names it by
 * @driver_owned: a kernel driver made it and destroys it; userspace's
 *		  IOASID_OBJ_DESTROY is refused
 */
struct ioasid_object {
	const struct ioasid_obj_ops *ops;
	struct ioasid_ctx *ictx;
	refcount_t holds;
	atomic_t active;
	u32 id;
	bool driver_owned;
};

/**
 * enum ioasid_stat - what a context's counters count, for debugfs
 * @IOASID_STAT_MAPS: mappings made by a map or a copy
 * @IOASID_STAT_UNMAPS: mappings removed by an unmap
 * @IOASID_STAT_IOTLB_SYNCS: IOTLB syncs the core asked of a domain (one per
 *	domain per map, unmap, fill or empty)
 * @IOASID_STAT_PAGE_REQUESTS: page requests of the context's devices
 * @IOASID_STAT_DMA_FAULTS: unrecoverable DMA faults of the context's devices
 * @IOASID_STAT_NR: number of counters
 */
enum ioasid_stat {
	IOASID_STAT_MAPS,
	IOASID_STAT_UNMAPS,
	IOASID_STAT_IOTLB_SYNCS,
	IOASID_STAT_PAGE_REQUESTS,
	IOASID_STAT_DMA_FAULTS,
	IOASID_STAT_NR,
};

/**
 * struct ioasid_stats - a context's counters: cheap, only ever incremented
 * @count: by enum ioasid_stat
 */
struct ioasid_stats {
	atomic64_t count[IOASID_STAT_NR];
};

/* Count @n in counter @which of @stats, which may be NULL (KUnit). */
static inline void ioasid_stat_add(struct ioasid_stats *stats,
				   enum ioasid_stat which, long n)
{
	if (stats)
		atomic64_add(n, &stats->count[which]);
}

/**
 * struct ioasid_ctx - one open /dev/ioasid
 * @file: the file; drivers that use the context hold a file reference
 * @objects: ID -> struct ioasid_object; XA_ZERO_ENTRY while being built
 * @drain_wq: woken when an object's @active count drops to zero
 * @account_mode: enum ioasid_acct_mode for new pins
 * @locked_pages: pages this context charged to RLIMIT_MEMLOCK
 * @pinned_pages: pages this context holds pinned
 * @page_meta_bytes: bytes of page pointer arrays its pinned pages use
 * @vfio_lock: protects the VFIO state below
 * @vfio_ioas: the IOAS VFIO's group path attaches to, held, or NULL
 * @vfio_groups: struct ioasid_vfio_group of the VFIO groups using the file
 * @vfio_type: VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU once set, else 0
 * @vfio_dirty: VFIO dirty page tracking is on
 * @vfio_node: opened through /dev/vfio/vfio: VFIO container ioctls only
 * @pasid_none: ioasid.pasid_file_max was 0 at open: no PASID may be taken
 * @pasid_set: the PASIDs the file owns, with the file's budget
 * @pasids: PASID -> the struct ioasid_pasid_user it is charged to, for each
 *	    PASID the file holds
 * @stats: counters for debugfs
 * @debugfs: the file's directory in debugfs, or an error or NULL
 */
struct ioasid_ctx {
	struct file *file;
	struct xarray objects;
	wait_queue_head_t drain_wq;
	u8 account_mode;
	atomic_long_t locked_pages;
	atomic_long_t pinned_pages;
	atomic_long_t page_meta_bytes;
	struct mutex vfio_lock; /* VFIO state */
	struct ioasid_ioas *vfio_ioas;
	struct list_head vfio_groups;
	unsigned long vfio_type;
	bool vfio_dirty;
	bool vfio_node;
	bool pasid_none;
	struct ioasid_pasid_set pasid_set;
	struct xarray pasids;
	struct ioasid_stats stats;
	struct dentry *debugfs;
};

/**
 * struct ioasid_call - one ioctl in flight
 * @ictx: the context
 * @uarg: the user's argument structure
 * @argsz: its size as the user gave it
 */
struct ioasid_call {
	struct ioasid_ctx *ictx;
	void __user *uarg;
	u32 argsz;
};

/* Declares the handler of one command. */
#define IOASID_HANDLER(name) int name(struct ioasid_call *call)

int ioasid_call_fetch(struct ioasid_call *call, void *args, size_t size,
		      size_t minsz);
int ioasid_call_reply(struct ioasid_call *call, const void *args,
		      size_t size);

void *ioasid_obj_new(struct ioasid_ctx *ictx, size_t size,
		     const struct ioasid_obj_ops *ops);
void ioasid_obj_publish(struct ioasid_object *obj);
void ioasid_obj_abort(struct ioasid_object *obj);
struct ioasid_object *ioasid_obj_find(struct ioasid_ctx *ictx, u32 id,
				      const struct ioasid_obj_ops *ops);
void ioasid_obj_done(struct ioasid_object *obj);
int ioasid_obj_hold(struct ioasid_object *obj);
void ioasid_obj_unhold(struct ioasid_object *obj);
void ioasid_obj_unhold_auto(struct ioasid_object *obj);
void ioasid_obj_destroy_held(struct ioasid_object *obj);
int ioasid_inject_fault(void);

extern const struct ioasid_obj_ops ioasid_ioas_ops;
extern const struct ioasid_obj_ops ioasid_hwpt_ops;
extern const struct ioasid_obj_ops ioasid_device_ops;
extern const struct ioasid_obj_ops ioasid_access_ops;
extern const struct ioasid_obj_ops ioasid_mirror_obj_ops;
extern const struct ioasid_obj_ops ioasid_faultq_ops;

/* pages.c ---------------------------------------------------------------- */

enum ioasid_acct_mode {
	IOASID_ACCT_USER = 0,
	IOASID_ACCT_MM = 1,
};

/**
 * struct ioasid_pages - a run of pinned user pages, shared by areas
 * @kref: one per area using the pages (IOAS copy shares them)
 * @lock: protects @users, @npinned, @ncharged, @mm and the chunk contents
 * @users: interval tree of the page indexes each area uses
 * @chunks: chunk number -> array of IOASID_CHUNK_PAGES page pointers,
 *	    NULL for a page no longer (or not yet) pinned; or, for a chunk
 *	    of physically contiguous pages all pinned, a value entry holding
 *	    the PFN of its first page; or, for a stored chunk, a marker:
 *	    its PFNs are read back from the IOPTEs of @store_domain
 * @ictx: context whose counters account the pages
 * @npages: number of pages in the range
 * @npinned: pages pinned now
 * @ncharged: pages charged now
 * @writable: pinned with FOLL_WRITE, so devices may write them
 * @pfnmap: memory without struct pages (VM_IO or VM_PFNMAP, such as a
 *	    device BAR): @chunks hold PFNs; nothing is pinned or charged,
 *	    as VFIO type1 does for such memory
 * @user: user charged in IOASID_ACCT_USER mode
 * @mm: mm charged in IOASID_ACCT_MM mode
 * @store_lock: the iopt.domains_rwsem of the IOVA map whose domain holds
 *		the stored chunks; it names the map
 * @store_domain: that domain
 * @store_iova: the IOVA at which page 0 is, or would be, mapped in it
 * @nstored: chunks stored
 * @narrays: chunks that are arrays
 * @shared: mapped by more than one IOAS: never stored
 */
struct ioasid_pages {
	struct kref kref;
	struct mutex lock; /* see above */
	struct rb_root_cached users;
	struct xarray chunks;
	struct ioasid_ctx *ictx;
	unsigned long npages;
	unsigned long npinned;
	unsigned long ncharged;
	bool writable;
	bool pfnmap;
	struct user_struct *user;
	struct mm_struct *mm;
	struct rw_semaphore *store_lock;
	struct iommu_domain *store_domain;
	unsigned long store_iova;
	unsigned long nstored;
	unsigned long narrays;
	bool shared;
};

/**
 * struct ioasid_acct_batch - the charges of one call, settled once
 * @ictx: the context of the call
 * @charged: pages charged to the user of @ictx's file that no pages hold:
 *	     prepaid for a vector of maps and not taken yet, or unpinned
 * @unpinned: pages unpinned, still in @ictx's pinned count
 */
struct ioasid_acct_batch {
	struct ioasid_ctx *ictx;
	unsigned long charged;
	unsigned long unpinned;
};

void ioasid_acct_prepay(struct ioasid_acct_batch *batch, u8 acct_mode,
			unsigned long npages);
void ioasid_acct_settle(struct ioasid_acct_batch *batch);
struct ioasid_pages *ioasid_pages_pin(struct ioasid_ctx *ictx,
				      unsigned long uptr, unsigned long npages,
				      bool writable, u8 acct_mode,
				      struct ioasid_acct_batch *batch);
void ioasid_pages_put(struct ioasid_pages *pages);
void ioasid_pages_use(struct ioasid_pages *pages,
		      struct interval_tree_node *node);
void ioasid_pages_unuse(struct ioasid_pages *pages,
			struct interval_tree_node *node,
			struct ioasid_acct_batch *batch);
void ioasid_pages_trim(struct ioasid_pages *pages,
		       struct interval_tree_node *node, unsigned long last);
int ioasid_pages_recharge(struct ioasid_pages *pages);
void ioasid_pages_store(struct ioasid_pages *pages,
			struct rw_semaphore *domains_rwsem,
			struct iommu_domain *domain, unsigned long iova,
			unsigned long first, unsigned long last);
void ioasid_pages_unstore(struct ioasid_pages *pages,
			  struct rw_semaphore *domains_rwsem,
			  unsigned long iova, unsigned long first,
			  unsigned long last);
void ioasid_pages_drop_domain(struct ioasid_pages *pages,
			      struct iommu_domain *domain,
			      struct iommu_domain *to);
void ioasid_pages_share(struct ioasid_pages *pages);
int ioasid_acct_user(struct user_struct *user, unsigned long npages);
struct page *ioasid_pages_page(struct ioasid_pages *pages, unsigned long index);
void ioasid_pages_copy(struct ioasid_pages *pages, unsigned long index,
		       unsigned long n, struct page **out);
unsigned long ioasid_pages_run(struct ioasid_pages *pages,
			       unsigned long index, unsigned long max,
			       unsigned long *pfn);
#if IS_ENABLED(CONFIG_IOASID_KUNIT_TEST)
struct ioasid_pages *ioasid_pages_fake(struct page **array, unsigned long n);
void ioasid_pages_fake_free(struct ioasid_pages *pages);
#endif

/* io_pagetable.c --------------------------------------------------------- */

/**
 * struct ioasid_iopt - the IOVA map of an IOAS
 * @domains_rwsem: held for reading while IOPTEs of @domains are written or
 *		   cleared (maps and unmaps, several at once), for writing
 *		   to change @domains or to attach or detach one of them
 * @rwsem: protects everything below; maps and unmaps hold it for writing
 *	   only to move areas in and out of @area_itree
 * @area_itree: struct ioasid_area by IOVA
 * @reserved_itree: struct ioasid_reserved by IOVA
 * @allowed_itree: struct ioasid_allowed by IOVA; empty means all
 * @domains: the domains mirroring the map, indexed from 0
 * @num_domains: number of entries in @domains
 * @num_areas: number of areas in @area_itree
 * @max_areas: most areas allowed, counted under @rwsem; 0 for no limit
 * @iova_alignment: required alignment of IOVAs and lengths
 * @pgsize_bitmap: the page sizes every domain maps (ULONG_MAX with none);
 *		   written with @domains_rwsem and @rwsem held for writing,
 *		   read with neither (READ_ONCE())
 * @disable_large_pages: map with PAGE_SIZE IOPTEs only
 * @track_access_dirty: record in @access_dirty what accesses dirty
 * @access_dirty: IOVA page number -> present once an access pinned the
 *		  page or wrote to it while @track_access_dirty was on
 * @stats: the counters of the context owning the map, or NULL
 * @transit_waiters: calls waiting for an area in transit to settle
 * @transit_gen: bumped, with a wake-up on it, when areas settle while a
 *		 call waits
 */
struct ioasid_iopt {
	struct rw_semaphore domains_rwsem;
	struct rw_semaphore rwsem;
	struct rb_root_cached area_itree;
	struct rb_root_cached reserved_itree;
	struct rb_root_cached allowed_itree;
	struct xarray domains;
	unsigned int num_domains;
	unsigned long num_areas;
	unsigned long max_areas;
	unsigned long iova_alignment;
	unsigned long pgsize_bitmap;
	bool disable_large_pages;
	bool track_access_dirty;
	struct xarray access_dirty;
	struct ioasid_stats *stats;
	unsigned int transit_waiters;
	unsigned long transit_gen;
};

/**
 * enum ioasid_area_state - where an area is in its life
 * @IOASID_AREA_LIVE: mapped in every domain; what every walker sees
 * @IOASID_AREA_FILLING: its IOVAs are taken while a map writes its IOPTEs;
 *			 the map has not happened yet to anyone else
 * @IOASID_AREA_REMOVING: its IOVAs stay taken while an unmap clears its
 *			  IOPTEs and flushes; the unmap has happened
 *
 * Only a map or an unmap moves areas out of or into LIVE, each under
 * iopt.rwsem held for writing, and between the two holds it writes IOPTEs
 * under iopt.domains_rwsem held for reading. Walkers skip areas in transit
 * (ioasid_iopt_area_first()); a map or unmap that meets one another call
 * moves waits for it to settle (iopt_wait_transit()).
 */
enum ioasid_area_state {
	IOASID_AREA_LIVE,
	IOASID_AREA_FILLING,
	IOASID_AREA_REMOVING,
};

/**
 * struct ioasid_area - one mapping: IOVA range -> part of a pages
 * @node: [iova, last] in iopt.area_itree
 * @pages: the pinned pages, referenced
 * @page_index: index in @pages of the page at node.start
 * @pages_node: the page indexes the area uses, in pages.users
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @num_access_pins: pages of this area pinned through accesses
 * @vaddr_invalid: VFIO_DMA_UNMAP_FLAG_VADDR withdrew its user address
 * @state: enum ioasid_area_state, under iopt.rwsem
 * @mover: while in transit, the list of the call moving it, so that a
 *	   call tells its own areas from another call's
 * @free_item: on that list, or on a list of removed areas
 */
struct ioasid_area {
	struct interval_tree_node node;
	struct ioasid_pages *pages;
	unsigned long page_index;
	struct interval_tree_node pages_node;
	int prot;
	atomic_long_t num_access_pins;
	bool vaddr_invalid;
	u8 state;
	const struct list_head *mover;
	struct list_head free_item;
};

/**
 * struct ioasid_map_req - one range of a vector map
 * @uptr: page-aligned user address
 * @length: page-aligned length
 * @iova: in when @fixed, out otherwise
 * @prot: IOMMU_READ and/or IOMMU_WRITE
 * @fixed: map at @iova rather than picking
 * @pages: the pinned pages while the map is under way
 * @area: the area allocated for it while the map is under way
 */
struct ioasid_map_req {
	unsigned long uptr;
	unsigned long length;
	unsigned long iova;
	int prot;
	bool fixed;
	struct ioasid_pages *pages;
	struct ioasid_area *area;
};

void ioasid_iopt_init(struct ioasid_iopt *iopt);
void ioasid_iopt_destroy(struct ioasid_iopt *iopt);
int ioasid_iopt_map_vec(struct ioasid_ctx *ictx, struct ioasid_iopt *iopt,
			struct ioasid_map_req *reqs, unsigned int num,
			u8 acct_mode, unsigned int *failed);
int ioasid_iopt_unmap_vec(struct ioasid_iopt *iopt,
			  const struct ioasid_iova_range *ranges,
			  unsigned int num, unsigned long *unmapped,
			  unsigned int *failed);
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
int ioasid_iopt_add_domain(struct ioasid_iopt *iopt, struct iommu_domain *domain);
void ioasid_iopt_remove_domain(struct ioasid_iopt *iopt, struct iommu_domain *domain);
void ioasid_iopt_freeze_domains(struct ioasid_iopt *a, struct ioasid_iopt *b);
void ioasid_iopt_thaw_domains(struct ioasid_iopt *a, struct ioasid_iopt *b);
int ioasid_iopt_reserve_group(struct ioasid_iopt *iopt,
			      struct iommu_group *group, void *owner);
int ioasid_iopt_reserve_range(struct ioasid_iopt *iopt, unsigned long first,
			      unsigned long last, void *owner);
void ioasid_iopt_unreserve(struct ioasid_iopt *iopt, void *owner);
int ioasid_iopt_set_allowed(struct ioasid_iopt *iopt,
			    struct rb_root_cached *allowed);
int ioasid_iopt_usable_array(struct ioasid_iopt *iopt,
			     struct ioasid_iova_range **out, u32 *num);
int ioasid_iopt_check_map(struct ioasid_iopt *iopt, unsigned long iova,
			  unsigned long last);
bool ioasid_iopt_crosses(struct ioasid_iopt *iopt, unsigned long first,
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
struct ioasid_ioas *ioasid_ioas_new(struct ioasid_ctx *ictx);
IOASID_HANDLER(ioasid_ioas_create_ioctl);
IOASID_HANDLER(ioasid_ioas_info_ioctl);
IOASID_HANDLER(ioasid_ioas_limit_ioctl);
IOASID_HANDLER(ioasid_ioas_map_ioctl);
IOASID_HANDLER(ioasid_ioas_unmap_ioctl);
IOASID_HANDLER(ioasid_ioas_copy_ioctl);
int ioasid_ioas_opt_large_ioptes(struct ioasid_ctx *ictx,
				 struct ioasid_option *args);

/* hw_pagetable.c --------------------------------------------------------- */

/**
 * struct ioasid_hwpt - what every kind of HWPT starts with
 * @obj: object header
 * @kind: enum ioasid_hwpt_kind
 * @domain: the IOMMU domain
 * @faultq: the fault queue page requests of attached devices go to, held,
 *	    or NULL
 */
struct ioasid_hwpt {
	struct ioasid_object obj;
	u32 kind;
	struct iommu_domain *domain;
	struct ioasid_faultq *faultq;
};

/**
 * struct ioasid_hwpt_paging - a HWPT mirroring an IOAS
 * @common: the common header
 * @ioas: the IOAS, held
 * @item: in ioas.hwpt_list once published
 * @auto_domain: made by attach to an IOAS; dies with its last attachment
 * @enforce_cache_coherency: no DMA can bypass IOMMU_CACHE
 * @mirrored: the domain is among the IOAS's domains: filled and in sync
 * @nest_parent: the domain was allocated to be the stage 2 of nested HWPTs
 * @msi_cookie: the domain has its software MSI window (IOMMU_RESV_SW_MSI)
 * @lock: serialises attaches of groups to the HWPT, which decide and
 *	  change @enforce_cache_coherency, @mirrored and @msi_cookie: groups
 *	  of different devices may attach to one explicit HWPT at once
 */
struct ioasid_hwpt_paging {
	struct ioasid_hwpt common;
	struct ioasid_ioas *ioas;
	struct list_head item;
	struct mutex lock; /* see above */
	bool auto_domain;
	bool enforce_cache_coherency;
	bool mirrored;
	bool nest_parent;
	bool msi_cookie;
};

/**
 * struct ioasid_hwpt_nested - a user's stage 1 over a paging HWPT
 * @common: the common header; its domain is an IOMMU_DOMAIN_NESTED one
 * @parent: the nest parent translating the stage 1's output and its table
 *	    reads, held: it cannot be destroyed first (EBUSY)
 */
struct ioasid_hwpt_nested {
	struct ioasid_hwpt common;
	struct ioasid_hwpt_paging *parent;
};

static inline struct ioasid_hwpt_paging *to_hwpt_paging(struct ioasid_hwpt *hwpt)
{
	return container_of(hwpt, struct ioasid_hwpt_paging, common);
}

static inline struct ioasid_hwpt_nested *to_hwpt_nested(struct ioasid_hwpt *hwpt)
{
	return container_of(hwpt, struct ioasid_hwpt_nested, common);
}

/*
 * The paging HWPT whose IOAS a HWPT's DMA ends in: itself, or a nested
 * HWPT's parent. Reserved regions and cache coherency are decided there.
 */
static inline struct ioasid_hwpt_paging *ioasid_hwpt_s2(struct ioasid_hwpt *hwpt)
{
	if (hwpt->kind == IOASID_HWPT_NESTED)
		return to_hwpt_nested(hwpt)->parent;
	return to_hwpt_paging(hwpt);
}

struct ioasid_hwpt *ioasid_get_hwpt(struct ioasid_ctx *ictx, u32 id);
struct ioasid_hwpt_paging *ioasid_hwpt_paging_new(struct ioasid_ctx *ictx,
						  struct ioasid_ioas *ioas,
						  struct device *dev,
						  bool auto_domain,
						  bool nest_parent);
void ioasid_hwpt_paging_publish(struct ioasid_hwpt_paging *hwpt);
bool ioasid_hwpt_paging_early(struct ioasid_hwpt_paging *hwpt);
int ioasid_hwpt_paging_mirror(struct ioasid_hwpt_paging *hwpt);
void ioasid_hwpt_paging_unmirror(struct ioasid_hwpt_paging *hwpt);
void ioasid_hwpt_paging_enforce(struct ioasid_hwpt_paging *hwpt);
int ioasid_hwpt_paging_msi_cookie(struct ioasid_hwpt_paging *hwpt,
				  struct iommu_group *group);
bool ioasid_hwpt_paging_fits(struct ioasid_hwpt_paging *hwpt,
			     struct device *dev);
int ioasid_hwpt_nested_prepare(struct ioasid_hwpt_nested *hwpt);
IOASID_HANDLER(ioasid_hwpt_create_ioctl);
IOASID_HANDLER(ioasid_hwpt_invalidate_ioctl);

/* device.c --------------------------------------------------------------- */

/**
 * struct ioasid_group - attachment state of one IOMMU group in a context
 * @kref: one per bound device of the group
 * @lock: serialises the attachments of the group's devices
 * @ictx: the context the group's devices are bound to
 * @group: the IOMMU group, referenced
 * @hwpt: the HWPT the group's RIDs are attached to, or NULL
 * @num_attached: RID attachments of the group's devices to @hwpt
 * @iova_bits: the IOVA width of the group's IOMMU, learnt at bind
 * @pgsize_bitmap: the IOPTE sizes of the group's IOMMU, learnt at bind
 */
struct ioasid_group {
	struct kref kref;
	struct mutex lock; /* attachments of the group */
	struct ioasid_ctx *ictx;
	struct iommu_group *group;
	struct ioasid_hwpt *hwpt;
	unsigned int num_attached;
	u32 iova_bits;
	unsigned long pgsize_bitmap;
};

/**
 * struct ioasid_attach - what one (device, PASID) translates through
 * @idev: the device
 * @pasid: the PASID, or IOASID_PASID_RID
 * @hwpt: the HWPT, paging or nested, held
 * @pasid_held: the attachment holds a reference to @pasid in the PASID
 *	space, taken from the file's set (global PASID mode)
 *
 * The attachment is also the owner tag of the reserved regions it put in
 * its HWPT's IOAS (a nested HWPT's parent's).
 */
struct ioasid_attach {
	struct ioasid_device *idev;
	u32 pasid;
	struct ioasid_hwpt *hwpt;
	bool pasid_held;
};

/**
 * struct ioasid_dev_faults - the I/O fault state of a bound device
 * @lock: protects the members below but @routes and @registered
 * @routes: PASID (or IOASID_PASID_RID) -> the struct ioasid_faultq its page
 *	    requests go to; changed under the group's lock
 * @registered: the core's fault handler is registered for the device
 * @q: the queue unrecoverable faults are reported to, held, or NULL
 * @rate: records per second
 * @block_after: faults within a second that block the device; 0: never
 * @win_start: jiffies when the current one-second window began
 * @win_faults: faults in the window
 * @win_records: records produced in the window
 * @faults: faults reported since @q was set
 * @lost: of those, faults that got no record of their own
 * @pending_lost: lost faults the next record will carry
 * @blocked: the device was blocked for faulting too much
 * @answering: page request groups of the device taken out of a queue
 *	       whose answer is not sent yet
 */
struct ioasid_dev_faults {
	spinlock_t lock; /* see above */
	struct xarray routes;
	bool registered;
	struct ioasid_faultq *q;
	u32 rate;
	u32 block_after;
	unsigned long win_start;
	u32 win_faults;
	u32 win_records;
	u64 faults;
	u64 lost;
	u64 pending_lost;
	bool blocked;
	atomic_t answering;
};

/**
 * struct ioasid_device - a device bound to a context
 * @obj: object header
 * @ictx: the context, whose file the device holds
 * @dev: the device
 * @igroup: its group's attachment state
 * @attaches: struct ioasid_attach by PASID, under @igroup's lock
 * @destroy_dev: for devices the core owns (mock devices), called after
 *		 unbind to remove the device
 * @max_pasids: the PASID width of a device that is not PCI, set by its
 *		binder; 0 for none
 * @pasid_mode: IOASID_PASID_MODE_GLOBAL or _DEVICE, under @igroup's lock
 * @features: enum ioasid_device_feature bits the core turned on
 * @faults: its I/O faults (fault.c)
 */
struct ioasid_device {
	struct ioasid_object obj;
	struct ioasid_ctx *ictx;
	struct device *dev;
	struct ioasid_group *igroup;
	struct xarray attaches;
	void (*destroy_dev)(struct device *dev);
	u32 max_pasids;
	u8 pasid_mode;
	u32 features;
	struct ioasid_dev_faults faults;
};

struct ioasid_device *ioasid_device_new(struct ioasid_ctx *ictx,
					struct device *dev);
struct ioasid_device *ioasid_get_device(struct ioasid_ctx *ictx, u32 id);
int ioasid_device_opt_pasid_mode(struct ioasid_ctx *ictx,
				 struct ioasid_option *args);
IOASID_HANDLER(ioasid_device_features_ioctl);
IOASID_HANDLER(ioasid_device_info_ioctl);

/* ctx_pasid.c ------------------------------------------------------------ */

void ioasid_ctx_pasid_init(struct ioasid_ctx *ictx);
void ioasid_ctx_pasid_release(struct ioasid_ctx *ictx);
u32 ioasid_device_pasid_width(struct ioasid_device *idev);
IOASID_HANDLER(ioasid_pasid_alloc_ioctl);
IOASID_HANDLER(ioasid_pasid_free_ioctl);

/* access.c --------------------------------------------------------------- */

/**
 * struct ioasid_access - an emulated device reading memory by IOVA
 * @obj: object header
 * @ictx: the context
 * @ioas: the IOAS it is attached to, held, or NULL
 * @ops: the driver's callbacks
 * @data: passed to @ops
 * @item: in ioas.access_list
 * @destroy_data: for accesses userspace owns (test accesses), called
 *		  first when the access is destroyed
 * @lock: protects @pins
 * @pins: IOVA page number -> xa_mk_value(pins this access holds on it)
 * @pasid: the PASID the access is attached under, held in the PASID
 *	   space, or IOASID_PASID_RID
 */
struct ioasid_access {
	struct ioasid_object obj;
	struct ioasid_ctx *ictx;
	struct ioasid_ioas *ioas;
	const struct ioasid_access_ops *ops;
	void *data;
	struct list_head item;
	void (*destroy_data)(void *data);
	struct mutex lock; /* see above */
	struct xarray pins;
	u32 pasid;
};

struct ioasid_access *ioasid_access_new(struct ioasid_ctx *ictx,
					const struct ioasid_access_ops *ops,
					void *data);
void ioasid_access_notify_unmap(struct ioasid_ioas *ioas, unsigned long first,
				unsigned long last);

/* fault.c ---------------------------------------------------------------- */

/**
 * struct ioasid_fault_item - one record in a fault queue
 * @node: in faultq.records, or in a group still being collected
 * @rec: the record as userspace reads it
 */
struct ioasid_fault_item {
	struct list_head node;
	struct ioasid_fault rec;
};

/**
 * struct ioasid_faultq - a fault queue (see fault.c)
 * @obj: object header
 * @ref: the memory: the object, its file, and the fault handler while it
 *	 works on the queue each hold one
 * @lock: protects everything below
 * @wait: readers wait here for records
 * @records: struct ioasid_fault_item readable, oldest first
 * @groups: cookie -> struct ioasid_fault_group waiting for an answer
 * @nr_items: records queued or being collected in groups
 * @depth: the most @nr_items may be
 * @lost_item: the IOASID_FAULT_LOST record, in @records when due
 * @next_cookie: for the cyclic allocation of cookies in @groups
 * @closed: its file was closed: no one will answer
 */
struct ioasid_faultq {
	struct ioasid_object obj;
	struct kref ref;
	struct mutex lock; /* see above */
	wait_queue_head_t wait;
	struct list_head records;
	struct xarray groups;
	u32 nr_items;
	u32 depth;
	struct ioasid_fault_item lost_item;
	u32 next_cookie;
	bool closed;
};

struct ioasid_faultq *ioasid_get_faultq(struct ioasid_ctx *ictx, u32 id);
int ioasid_fault_bind(struct ioasid_device *idev);
void ioasid_fault_unbind(struct ioasid_device *idev);
void ioasid_fault_route(struct ioasid_device *idev, u32 pasid,
			struct ioasid_hwpt *hwpt, struct ioasid_hwpt *old);
bool ioasid_device_dma_blocked(struct ioasid_device *idev);
IOASID_HANDLER(ioasid_fault_queue_alloc_ioctl);
IOASID_HANDLER(ioasid_device_faults_ioctl);

/* vfio_compat.c ---------------------------------------------------------- */

IOASID_HANDLER(ioasid_vfio_ioas_ioctl);
void ioasid_vfio_compat_release(struct ioasid_ctx *ictx);
long ioasid_vfio_ioctl(struct ioasid_ctx *ictx, unsigned int cmd,
		       unsigned long arg);

/* debugfs.c -------------------------------------------------------------- */

#ifdef CONFIG_DEBUG_FS
void ioasid_debugfs_init(void);
void ioasid_debugfs_exit(void);
void ioasid_debugfs_ctx_add(struct ioasid_ctx *ictx);
void ioasid_debugfs_ctx_remove(struct ioasid_ctx *ictx);
#else
static inline void ioasid_debugfs_init(void)
{
}

static inline void ioasid_debugfs_exit(void)
{
}

static inline void ioasid_debugfs_ctx_add(struct ioasid_ctx *ictx)
{
}

static inline void ioasid_debugfs_ctx_remove(struct ioasid_ctx *ictx)
{
}
#endif

/* selftest.c ------------------------------------------------------------- */

#ifdef CONFIG_IOASID_TEST
IOASID_HANDLER(ioasid_test_ioctl);
int ioasid_test_init(void);
void ioasid_test_exit(void);
#else
static inline int ioasid_test_init(void)
{
	return 0;
}

static inline void ioasid_test_exit(void)
{
}
#endif

/* ioasid_obj_new() allocates the whole object; the header comes first. */
static_assert(offsetof(struct ioasid_ioas, obj) == 0);
static_assert(offsetof(struct ioasid_hwpt, obj) == 0);
static_assert(offsetof(struct ioasid_hwpt_paging, common) == 0);
static_assert(offsetof(struct ioasid_hwpt_nested, common) == 0);
static_assert(offsetof(struct ioasid_device, obj) == 0);
static_assert(offsetof(struct ioasid_access, obj) == 0);
static_assert(offsetof(struct ioasid_faultq, obj) == 0);

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
