/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/ioasid: user-visible I/O address spaces.
 *
 * The model, the object life cycle, the lock order and the meaning of each
 * errno are in Documentation/userspace-api/ioasid.rst.
 *
 * Conventions shared by every command:
 *
 * - An ioctl's argument is a structure that begins with "__u32 argsz", the
 *   size of the structure as the caller's header defines it, and
 *   "__u32 flags". 64-bit members come next, then 32-bit ones, so that no
 *   padding is ever implied. A newer kernel accepts an older, shorter
 *   structure; an older kernel accepts a longer one only when every byte
 *   it does not know is zero (otherwise E2BIG).
 * - Objects are named by a __u32 ID, unique in the file and never 0.
 * - Lengths and addresses are in bytes. A range is inclusive: [first, last].
 * - Output members are named out_*; they are written only on success unless
 *   the command says otherwise.
 *
 * Errors every command can return:
 *
 *  ENOTTY      not a command of this file
 *  EINVAL      argsz smaller than the first version of the structure, or a
 *              value out of range (zero length, unaligned address, ...)
 *  E2BIG       argsz larger than the kernel knows, with non-zero extra bytes
 *  EOPNOTSUPP  an unknown flag, or a reserved member that is not zero
 *  EFAULT      a user pointer could not be read or written
 *  ENOENT      no object of the needed type has that ID
 *  EOVERFLOW   an address plus a length passes the end of the address space
 *  ENOMEM      out of memory, or RLIMIT_MEMLOCK would be exceeded
 *  EBUSY       another object depends on the one named
 */
#ifndef _UAPI_LINUX_IOASID_H
#define _UAPI_LINUX_IOASID_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define IOASID_TYPE	0xB9

/*
 * Command numbers, grouped by the object they act on: 0x0_ the file and any
 * object, 0x1_ IOAS, 0x2_ HWPT, 0x3_ bound devices, 0x4_ PASIDs, 0x6_ VFIO
 * compatibility, 0x7f testing.
 */
#define IOASID_NR_OBJ_DESTROY	0x00
#define IOASID_NR_OPTION	0x01
#define IOASID_NR_IOAS_CREATE	0x10
#define IOASID_NR_IOAS_INFO	0x11
#define IOASID_NR_IOAS_LIMIT	0x12
#define IOASID_NR_IOAS_MAP	0x13
#define IOASID_NR_IOAS_UNMAP	0x14
#define IOASID_NR_IOAS_COPY	0x15
#define IOASID_NR_HWPT_CREATE	0x20
#define IOASID_NR_HWPT_INVALIDATE	0x21
#define IOASID_NR_DEVICE_FEATURES	0x30
#define IOASID_NR_DEVICE_INFO	0x31
#define IOASID_NR_DEVICE_FAULTS	0x32
#define IOASID_NR_PASID_ALLOC	0x40
#define IOASID_NR_PASID_FREE	0x41
#define IOASID_NR_FAULT_QUEUE_ALLOC	0x50
#define IOASID_NR_VFIO_IOAS	0x60
#define IOASID_NR_TEST		0x7f

/**
 * struct ioasid_obj_destroy - ioctl(IOASID_OBJ_DESTROY)
 * @argsz: sizeof(struct ioasid_obj_destroy)
 * @flags: must be 0
 * @obj_id: the object to destroy
 *
 * Destroy an object the caller created. Fails with EBUSY, changing nothing,
 * while another object depends on it (a device attached to a HWPT, a HWPT
 * built over an IOAS, an access on an IOAS). Objects a kernel driver made
 * for its own device (a VFIO device bound to the file, the access of an
 * emulated device) are destroyed by closing that device, never by this
 * command: EPERM. While other threads are still using the object in a
 * command of their own, the call waits for them to finish, at most about a
 * second, and can be interrupted by a fatal signal; EBUSY then too.
 */
struct ioasid_obj_destroy {
	__u32 argsz;
	__u32 flags;
	__u32 obj_id;
};

#define IOASID_OBJ_DESTROY	_IO(IOASID_TYPE, IOASID_NR_OBJ_DESTROY)

/**
 * struct ioasid_option - ioctl(IOASID_OPTION)
 * @argsz: sizeof(struct ioasid_option)
 * @flags: IOASID_OPTION_WRITE or 0
 * @value: in when writing, out when reading
 * @key: IOASID_OPT_ACCOUNTING, IOASID_OPT_LARGE_IOPTES or
 *	 IOASID_OPT_PASID_MODE
 * @obj_id: the object the option belongs to, 0 for the file
 */
struct ioasid_option {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 value;
	__u32 key;
	__u32 obj_id;
};

#define IOASID_OPTION		_IO(IOASID_TYPE, IOASID_NR_OPTION)

/*
 * Options of IOASID_OPTION (@key):
 *
 * IOASID_OPT_ACCOUNTING: @obj_id 0 (the file). @value 0: pinned pages are
 *	charged to the user's RLIMIT_MEMLOCK (the default); 1: to the mm's,
 *	as VFIO type1 does. Changeable only while nothing is pinned through
 *	this file (EBUSY). Other values: EINVAL.
 * IOASID_OPT_LARGE_IOPTES: @obj_id an IOAS. @value 1 (default): mappings
 *	may use IOPTEs larger than PAGE_SIZE; 0: they may not. Changeable only
 *	while no HWPT mirrors the IOAS (EBUSY).
 * IOASID_OPT_PASID_MODE: @obj_id a bound device. @value
 *	IOASID_PASID_MODE_GLOBAL (default): a PASID of the device can be
 *	attached only once this file holds it (IOASID_PASID_ALLOC), as PASIDs
 *	are then one space shared by every device and by kernel SVA;
 *	IOASID_PASID_MODE_DEVICE: any PASID within the device's width can be
 *	attached without being allocated, as a vIOMMU needs when its guest
 *	picks PASID values. Only for a device whose PASIDs are local to it:
 *	its IOMMU keeps a PASID table per device, and no one else can issue
 *	DMA with those PASIDs (EOPNOTSUPP otherwise). Changeable only while no
 *	PASID of the device is attached (EBUSY).
 *
 * Flags of IOASID_OPTION (@flags):
 *
 * IOASID_OPTION_WRITE: set the option to @value; without it the option is
 *	read into @value.
 */
#define IOASID_OPT_ACCOUNTING	1
#define IOASID_OPT_LARGE_IOPTES	2
#define IOASID_OPT_PASID_MODE	3
#define IOASID_PASID_MODE_GLOBAL	0
#define IOASID_PASID_MODE_DEVICE	1
#define IOASID_OPTION_WRITE	(1U << 0)

/**
 * struct ioasid_ioas_create - ioctl(IOASID_IOAS_CREATE)
 * @argsz: sizeof(struct ioasid_ioas_create)
 * @flags: must be 0
 * @out_ioas_id: the new, empty IOAS
 * @__rsvd: must be 0
 */
struct ioasid_ioas_create {
	__u32 argsz;
	__u32 flags;
	__u32 out_ioas_id;
	__u32 __rsvd;
};

#define IOASID_IOAS_CREATE	_IO(IOASID_TYPE, IOASID_NR_IOAS_CREATE)

/**
 * struct ioasid_iova_range - an inclusive range of IOVAs
 * @first: first IOVA
 * @last: last IOVA
 */
struct ioasid_iova_range {
	__aligned_u64 first;
	__aligned_u64 last;
};

/**
 * struct ioasid_ioas_info - ioctl(IOASID_IOAS_INFO)
 * @argsz: sizeof(struct ioasid_ioas_info)
 * @flags: must be 0
 * @ranges: user pointer to an array of struct ioasid_iova_range
 * @out_alignment: every IOVA and length given to map, copy and unmap must
 *	be a multiple of this
 * @out_mapped: bytes mapped in the IOAS now
 * @ioas_id: the IOAS
 * @nr_ranges: in, how many entries @ranges has room for; out, how many
 *	usable ranges there are (written on EMSGSIZE too)
 * @out_nr_mappings: mappings in the IOAS now
 * @out_nr_hwpts: HWPTs mirroring the IOAS now
 *
 * Report the IOVAs a new mapping may use now: the intersection of the
 * apertures of every HWPT mirroring the IOAS, less the reserved regions of
 * every device attached to it, less what the limit (IOASID_IOAS_LIMIT)
 * excludes. The set changes as devices attach and detach. When @nr_ranges
 * is too small, the ranges that fit are written, @nr_ranges and the out_*
 * members are set, and the call fails with EMSGSIZE.
 */
struct ioasid_ioas_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 ranges;
	__aligned_u64 out_alignment;
	__aligned_u64 out_mapped;
	__u32 ioas_id;
	__u32 nr_ranges;
	__u32 out_nr_mappings;
	__u32 out_nr_hwpts;
};

#define IOASID_IOAS_INFO	_IO(IOASID_TYPE, IOASID_NR_IOAS_INFO)

/**
 * struct ioasid_ioas_limit - ioctl(IOASID_IOAS_LIMIT)
 * @argsz: sizeof(struct ioasid_ioas_limit)
 * @flags: must be 0
 * @ranges: user pointer to an array of struct ioasid_iova_range
 * @ioas_id: the IOAS
 * @nr_ranges: entries in @ranges, at most IOASID_MAP_MAX_RANGES; 0 lifts
 *	       the limit
 *
 * Limit the IOAS to the given ranges: IOVAs the kernel picks come only from
 * them, and a device whose reserved regions intersect them cannot attach
 * (EADDRINUSE). Ranges must be aligned, have first <= last and not overlap
 * (EINVAL). Fails with EBUSY when a mapping lies outside the new ranges, and
 * with EADDRINUSE when a range meets a reserved region: one of an attached
 * device, or what lies outside the aperture of a HWPT mirroring the IOAS;
 * the old limit stays then.
 */
struct ioasid_ioas_limit {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 ranges;
	__u32 ioas_id;
	__u32 nr_ranges;
};

#define IOASID_IOAS_LIMIT	_IO(IOASID_TYPE, IOASID_NR_IOAS_LIMIT)

/**
 * struct ioasid_map_range - one range of IOASID_IOAS_MAP
 * @uaddr: user address of the memory, page aligned
 * @length: bytes, a non-zero multiple of the IOAS's alignment
 * @iova: in with IOASID_MAP_FIXED; otherwise out, the IOVA picked, aligned
 *	as @uaddr is, up to the range's size and at most 1 GiB, so that large
 *	IOPTEs stay possible
 * @prot: enum ioasid_map_prot, at least one bit
 * @flags: enum ioasid_map_range_flags
 */
struct ioasid_map_range {
	__aligned_u64 uaddr;
	__aligned_u64 length;
	__aligned_u64 iova;
	__u32 prot;
	__u32 flags;
};

/**
 * enum ioasid_map_prot - what devices may do with a mapping
 * @IOASID_PROT_READ: devices may read the memory
 * @IOASID_PROT_WRITE: devices may write the memory
 */
enum ioasid_map_prot {
	IOASID_PROT_READ = 1 << 0,
	IOASID_PROT_WRITE = 1 << 1,
};

/**
 * enum ioasid_map_range_flags - per-range flags of map and copy
 * @IOASID_MAP_FIXED: map at the IOVA given in the range; without it the
 *	kernel picks the IOVA and writes it back into the range
 */
enum ioasid_map_range_flags {
	IOASID_MAP_FIXED = 1 << 0,
};

/**
 * struct ioasid_ioas_map - ioctl(IOASID_IOAS_MAP)
 * @argsz: sizeof(struct ioasid_ioas_map)
 * @flags: must be 0
 * @ranges: user pointer to an array of struct ioasid_map_range
 * @ioas_id: the IOAS
 * @nr_ranges: entries in @ranges, 1 to IOASID_MAP_MAX_RANGES
 * @out_failed: the index of the range that failed; @nr_ranges when the call
 *	succeeded or failed for no one range's sake (an unknown IOAS).
 *	Written whenever the structure is written back: not on EFAULT, nor
 *	on EINVAL or ENOMEM found before the ranges were read.
 * @__rsvd: must be 0
 *
 * Pin the memory of every range, charge it to RLIMIT_MEMLOCK once, and map
 * it into every HWPT mirroring the IOAS, with one IOTLB sync per HWPT for
 * the whole call. All or nothing: on any failure no range stays mapped,
 * pinned or charged. Ranges of one call must not overlap each other in
 * IOVA (EEXIST, as for an existing mapping). Per range: EINVAL for an
 * unaligned address or length or no @prot bit; EOVERFLOW when @uaddr or
 * @iova plus @length wraps; EEXIST when a fixed range overlaps a mapping;
 * EADDRINUSE when it meets a reserved region or lies outside the limit;
 * ENOSPC when no hole is large enough for a range the kernel places.
 */
struct ioasid_ioas_map {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 ranges;
	__u32 ioas_id;
	__u32 nr_ranges;
	__u32 out_failed;
	__u32 __rsvd;
};

#define IOASID_MAP_MAX_RANGES	4096
#define IOASID_IOAS_MAP		_IO(IOASID_TYPE, IOASID_NR_IOAS_MAP)

/**
 * enum ioasid_unmap_flags - flags of IOASID_IOAS_UNMAP
 * @IOASID_UNMAP_EVERYTHING: unmap every mapping of the IOAS; @ranges and
 *	@nr_ranges must be 0 (EINVAL)
 */
enum ioasid_unmap_flags {
	IOASID_UNMAP_EVERYTHING = 1 << 0,
};

/**
 * struct ioasid_ioas_unmap - ioctl(IOASID_IOAS_UNMAP)
 * @argsz: sizeof(struct ioasid_ioas_unmap)
 * @flags: enum ioasid_unmap_flags
 * @ranges: user pointer to an array of struct ioasid_iova_range
 * @out_unmapped: bytes unmapped by the whole call
 * @ioas_id: the IOAS
 * @nr_ranges: entries in @ranges, 0 to IOASID_MAP_MAX_RANGES
 * @out_failed: the index of the range that failed; 0 on success, and
 *	@nr_ranges when the call failed for no one range's sake
 * @__rsvd: must be 0
 *
 * Remove every mapping that lies inside one of the ranges, with one IOTLB
 * sync per HWPT for the whole call. All or nothing: a mapping that crosses
 * either end of a range is not split, and the call then fails with ENOENT,
 * unmapping nothing. A range holding no mapping is not an error. IOVAs
 * must be aligned (EINVAL); a range whose @last is below its @first, as a
 * wrapped "iova + length - 1" gives, or beyond the address space, is
 * EOVERFLOW. EBUSY when an
 * emulated device keeps pages of a range pinned after being asked to let
 * them go.
 */
struct ioasid_ioas_unmap {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 ranges;
	__aligned_u64 out_unmapped;
	__u32 ioas_id;
	__u32 nr_ranges;
	__u32 out_failed;
	__u32 __rsvd;
};

#define IOASID_IOAS_UNMAP	_IO(IOASID_TYPE, IOASID_NR_IOAS_UNMAP)

/**
 * struct ioasid_ioas_copy - ioctl(IOASID_IOAS_COPY)
 * @argsz: sizeof(struct ioasid_ioas_copy)
 * @flags: enum ioasid_map_range_flags: with IOASID_MAP_FIXED, @dst_iova is
 *	in; otherwise the kernel picks it and writes it back
 * @src_iova: start of the source, which must be mapped throughout, possibly
 *	by several mappings (ENOENT otherwise)
 * @dst_iova: see @flags
 * @length: bytes
 * @src_ioas_id: the IOAS holding the source mappings
 * @dst_ioas_id: the IOAS to map into; may be @src_ioas_id
 * @prot: enum ioasid_map_prot; a bit the source does not allow is EPERM
 * @__rsvd: must be 0
 *
 * Map into the destination the pages already pinned for the source: no
 * second pin, no second charge. The copy lives on after the source is
 * unmapped. Errors as for one range of IOASID_IOAS_MAP.
 */
struct ioasid_ioas_copy {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 src_iova;
	__aligned_u64 dst_iova;
	__aligned_u64 length;
	__u32 src_ioas_id;
	__u32 dst_ioas_id;
	__u32 prot;
	__u32 __rsvd;
};

#define IOASID_IOAS_COPY	_IO(IOASID_TYPE, IOASID_NR_IOAS_COPY)

/**
 * enum ioasid_hwpt_kind - what a HWPT is
 * @IOASID_HWPT_PAGING: an IOMMU paging domain that the kernel fills from an
 *	IOAS and keeps in sync with it
 * @IOASID_HWPT_NESTED: a stage-1 page table that userspace builds and owns,
 *	in its own memory, translated through a paging HWPT (the stage 2)
 *	made with IOASID_HWPT_NEST_PARENT
 */
enum ioasid_hwpt_kind {
	IOASID_HWPT_PAGING = 1,
	IOASID_HWPT_NESTED = 2,
};

/**
 * enum ioasid_hwpt_create_flags - flags of IOASID_HWPT_CREATE
 * @IOASID_HWPT_NEST_PARENT: a paging HWPT that nested HWPTs will use as
 *	their stage 2. The IOMMU must support nesting for the device
 *	(IOASID_DEVICE_CAP_NEST), else EOPNOTSUPP.
 * @IOASID_HWPT_FAULT_ID_VALID: @fault_id names a fault queue that receives
 *	the page requests of devices attached to the HWPT
 */
enum ioasid_hwpt_create_flags {
	IOASID_HWPT_NEST_PARENT = 1 << 0,
	IOASID_HWPT_FAULT_ID_VALID = 1 << 1,
};

/**
 * struct ioasid_hwpt_create - ioctl(IOASID_HWPT_CREATE)
 * @argsz: sizeof(struct ioasid_hwpt_create)
 * @flags: enum ioasid_hwpt_create_flags
 * @kind: one of enum ioasid_hwpt_kind; anything else is EOPNOTSUPP
 * @dev_id: a bound device whose IOMMU builds the page table
 * @parent_id: for IOASID_HWPT_PAGING, the IOAS the page table mirrors; for
 *	IOASID_HWPT_NESTED, the paging HWPT (made with
 *	IOASID_HWPT_NEST_PARENT) that translates the stage 1's output
 * @out_hwpt_id: the new HWPT
 * @data_uptr: IOASID_HWPT_NESTED: user address of the stage-1 description,
 *	whose layout @s1_format names; 0 otherwise
 * @data_len: its size in bytes
 * @s1_format: IOASID_HWPT_NESTED: the stage-1 format, one the device
 *	accepts (a bit of ioasid_device_info.out_s1_formats); 0 otherwise
 * @fault_id: with IOASID_HWPT_FAULT_ID_VALID, a fault queue
 * @__reserved: must be 0
 *
 * Create a HWPT explicitly, so devices can attach to it by its ID and
 * several IOMMU domains of one IOAS can be told apart. The HWPT depends on
 * its parent: destroying the parent first fails with EBUSY. A paging HWPT
 * is filled from the IOAS when the first device attaches to it; until then
 * it takes no mapping, as some IOMMU drivers finish a domain only at its
 * first attach. The format and the nesting intent are given here, at
 * creation, never after an attach.
 *
 * A nested HWPT's stage-1 table lives in user memory at addresses of the
 * parent's IOAS (guest physical addresses, for a VMM). The IOMMU walks it
 * and caches what it read: after changing the table, userspace tells the
 * IOMMU with IOASID_HWPT_INVALIDATE. Errors: EOPNOTSUPP the device's IOMMU
 * cannot nest or does not know @s1_format; EINVAL the parent is not a
 * nesting parent, or the description is malformed; ENOENT no such device,
 * parent or fault queue.
 */
struct ioasid_hwpt_create {
	__u32 argsz;
	__u32 flags;
	__u32 kind;
	__u32 dev_id;
	__u32 parent_id;
	__u32 out_hwpt_id;
	__aligned_u64 data_uptr;
	__u32 data_len;
	__u32 s1_format;
	__u32 fault_id;
	__u32 __reserved;
};

#define IOASID_HWPT_CREATE	_IO(IOASID_TYPE, IOASID_NR_HWPT_CREATE)

/**
 * struct ioasid_hwpt_invalidate - ioctl(IOASID_HWPT_INVALIDATE)
 * @argsz: sizeof(struct ioasid_hwpt_invalidate)
 * @flags: must be 0
 * @entries_uptr: user address of an array of @entry_num entries
 * @hwpt_id: a nested HWPT
 * @entry_len: the size of one entry, as the caller's header defines it
 *	(entries are extensible like ioctl structures: a longer entry must
 *	have zeroes where the kernel knows no field, else E2BIG)
 * @entry_num: in: the number of entries; out: the number done, which on
 *	failure is the index of the entry that failed
 * @__reserved: must be 0
 *
 * Pass stage-1 cache invalidations down to the IOMMU, in order. The
 * layout of an entry is the stage-1 format's (the one the HWPT was made
 * with). Processing stops at the first entry that fails; the entries
 * before it took effect. @entry_num is written back on success and on
 * failure. Errors: EINVAL a malformed entry (unknown flag, unaligned or
 * zero range), @entry_len smaller than the format's first entry, or more
 * than IOASID_INVALIDATE_MAX entries; EOVERFLOW a range that wraps;
 * EOPNOTSUPP @hwpt_id is not nested; EFAULT an unreadable entry.
 */
struct ioasid_hwpt_invalidate {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 entries_uptr;
	__u32 hwpt_id;
	__u32 entry_len;
	__u32 entry_num;
	__u32 __reserved;
};

#define IOASID_INVALIDATE_MAX	4096
#define IOASID_HWPT_INVALIDATE	_IO(IOASID_TYPE, IOASID_NR_HWPT_INVALIDATE)

/**
 * enum ioasid_device_feature - PCI features the core turns on for a device
 * @IOASID_DEVICE_ATS: Address Translation Services: the device caches
 *	translations and the IOMMU invalidates its device-IOTLB on unmap
 * @IOASID_DEVICE_PRI: Page Request Interface; needs ATS
 * @IOASID_DEVICE_PASID: PASID-tagged requests
 */
enum ioasid_device_feature {
	IOASID_DEVICE_ATS = 1 << 0,
	IOASID_DEVICE_PRI = 1 << 1,
	IOASID_DEVICE_PASID = 1 << 2,
};

/**
 * enum ioasid_device_features_flags - flags of IOASID_DEVICE_FEATURES
 * @IOASID_DEVICE_FEATURES_SET: make @features the enabled set; without
 *	it the call only reports
 */
enum ioasid_device_features_flags {
	IOASID_DEVICE_FEATURES_SET = 1 << 0,
};

/**
 * struct ioasid_device_features - ioctl(IOASID_DEVICE_FEATURES)
 * @argsz: sizeof(struct ioasid_device_features)
 * @flags: enum ioasid_device_features_flags
 * @dev_id: a device bound to the file
 * @features: in with IOASID_DEVICE_FEATURES_SET: the enum
 *	ioasid_device_feature bits wanted on; the others are turned off
 * @out_enabled: the features on now, after the call
 * @out_supported: the features the device has a capability for and its
 *	trust policy allows (the IOMMU may still refuse one when asked)
 *
 * The core turns ATS, PRI and PASID on and off explicitly, on the user's
 * behalf, through the PCI core's request API; the IOMMU driver gives or
 * refuses its consent, and nothing is turned on implicitly for a device
 * bound to the file. Whatever the file turned on is turned off when the
 * device is unbound. All or nothing: on failure @out_enabled is what was
 * on before. EPERM: ATS or PRI asked for an untrusted device (see
 * Documentation/PCI/pci-trust.rst); EOPNOTSUPP: the device has no such
 * capability, it is not a PCI device, or the IOMMU refused; EINVAL: PRI
 * without ATS, or an unknown bit. Changing the set turns off everything
 * on first, since PASID cannot be turned on while ATS is.
 */
struct ioasid_device_features {
	__u32 argsz;
	__u32 flags;
	__u32 dev_id;
	__u32 features;
	__u32 out_enabled;
	__u32 out_supported;
};

#define IOASID_DEVICE_FEATURES	_IO(IOASID_TYPE, IOASID_NR_DEVICE_FEATURES)

/**
 * enum ioasid_device_caps - what a bound device and its IOMMU can do
 * @IOASID_DEVICE_CAP_NEST: nested HWPTs: a user stage 1 over a paging HWPT
 * @IOASID_DEVICE_CAP_DIRTY: the IOMMU tracks pages the device dirtied
 * @IOASID_DEVICE_CAP_PRI: page requests: the device and its IOMMU take
 *	I/O page faults and retry after the response (PCI PRI on PCI)
 * @IOASID_DEVICE_CAP_ATS: the device has ATS and its IOMMU would allow it
 * @IOASID_DEVICE_CAP_FAULTS: the IOMMU reports the device's unrecoverable
 *	DMA faults (IOASID_DEVICE_FAULTS can deliver them)
 *
 * What the hardware can do, not what is turned on (see
 * IOASID_DEVICE_FEATURES for that).
 */
enum ioasid_device_caps {
	IOASID_DEVICE_CAP_NEST = 1 << 0,
	IOASID_DEVICE_CAP_DIRTY = 1 << 1,
	IOASID_DEVICE_CAP_PRI = 1 << 2,
	IOASID_DEVICE_CAP_ATS = 1 << 3,
	IOASID_DEVICE_CAP_FAULTS = 1 << 4,
};

/**
 * struct ioasid_device_info - ioctl(IOASID_DEVICE_INFO)
 * @argsz: sizeof(struct ioasid_device_info)
 * @flags: must be 0
 * @out_s1_formats: the stage-1 formats a nested HWPT of the device may
 *	have: bit N set for format N (0 when it cannot nest)
 * @out_pgsize_bitmap: the IOPTE sizes of the device's IOMMU, in bytes
 * @dev_id: a bound device
 * @out_caps: enum ioasid_device_caps
 * @out_pasid_bits: the PASID width: PASIDs 1 to 2^bits - 1 can be
 *	attached; 0 for none
 * @out_iova_bits: the width of the IOVAs the IOMMU translates for it
 *
 * Describe a bound device and its IOMMU, so a VMM can shape its vIOMMU
 * before it creates anything.
 */
struct ioasid_device_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 out_s1_formats;
	__aligned_u64 out_pgsize_bitmap;
	__u32 dev_id;
	__u32 out_caps;
	__u32 out_pasid_bits;
	__u32 out_iova_bits;
};

#define IOASID_DEVICE_INFO	_IO(IOASID_TYPE, IOASID_NR_DEVICE_INFO)

/**
 * enum ioasid_device_faults_flags - flags of IOASID_DEVICE_FAULTS
 * @IOASID_DEVICE_FAULTS_REPORT: deliver the device's unrecoverable DMA
 *	faults to the fault queue @fault_id, with the given limits
 * @IOASID_DEVICE_FAULTS_STOP: stop delivering them (host log only again)
 * @IOASID_DEVICE_FAULTS_UNBLOCK: the device was blocked for faulting too
 *	much: let it do DMA again
 *
 * With none of them, the call only reports.
 */
enum ioasid_device_faults_flags {
	IOASID_DEVICE_FAULTS_REPORT = 1 << 0,
	IOASID_DEVICE_FAULTS_STOP = 1 << 1,
	IOASID_DEVICE_FAULTS_UNBLOCK = 1 << 2,
};

/**
 * struct ioasid_device_faults - ioctl(IOASID_DEVICE_FAULTS)
 * @argsz: sizeof(struct ioasid_device_faults)
 * @flags: enum ioasid_device_faults_flags; at most one of them
 * @out_faults: faults the IOMMU reported for the device since delivery
 *	began
 * @out_lost: of those, the faults that did not get a record of their own
 *	(over @rate, or the queue was full): each was counted in the @lost of
 *	the device's next record, or is still waiting for one
 * @dev_id: a bound device
 * @fault_id: with IOASID_DEVICE_FAULTS_REPORT, the fault queue
 * @rate: records per second the device may produce; faults beyond it are
 *	coalesced into the next record's @lost count. 0: 100.
 * @block_after: block the device once this many faults came within one
 *	second: its DMA is stopped (Bus Master Enable cleared, for PCI) and a
 *	record of type IOASID_FAULT_BLOCKED is queued, until
 *	IOASID_DEVICE_FAULTS_UNBLOCK. 0: never.
 * @out_blocked: 1 while the device is blocked
 * @__reserved: must be 0
 *
 * Report the unrecoverable DMA faults (the IOMMU blocked an access) of a
 * device owned by this file to the file, as records on a fault queue. Such
 * faults are then no longer printed in the host log by IOMMU drivers that
 * report them (IOASID_DEVICE_CAP_FAULTS). EOPNOTSUPP: the IOMMU does not
 * report faults; EBUSY: another fault handler owns the device's faults.
 */
struct ioasid_device_faults {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 out_faults;
	__aligned_u64 out_lost;
	__u32 dev_id;
	__u32 fault_id;
	__u32 rate;
	__u32 block_after;
	__u32 out_blocked;
	__u32 __reserved;
};

#define IOASID_DEVICE_FAULTS	_IO(IOASID_TYPE, IOASID_NR_DEVICE_FAULTS)

/**
 * enum ioasid_pasid_alloc_flags - flags of IOASID_PASID_ALLOC
 * @IOASID_PASID_FIXED: allocate the value given in @pasid, or fail
 */
enum ioasid_pasid_alloc_flags {
	IOASID_PASID_FIXED = 1 << 0,
};

/**
 * struct ioasid_pasid_alloc - ioctl(IOASID_PASID_ALLOC)
 * @argsz: sizeof(struct ioasid_pasid_alloc)
 * @flags: enum ioasid_pasid_alloc_flags
 * @dev_id: 0, or a bound device whose PASID width bounds the value
 * @pasid: in with IOASID_PASID_FIXED, otherwise out
 *
 * Take a PASID from the one system-wide space that kernel SVA also draws
 * from, so no value is ever held twice. The file holds it until
 * IOASID_PASID_FREE or close; a PASID also stays taken while any
 * attachment uses it. PASID 0 is never handed out: it names the RID on
 * some IOMMUs. Errors: ENOSPC no free value (in the device's width);
 * EDQUOT the file's limit or the user's quota (ioasid.pasid_file_max,
 * ioasid.pasid_user_max) is reached; EOPNOTSUPP the device has no PASIDs;
 * ENOENT no device @dev_id; EEXIST a fixed value
 * is taken; EINVAL a fixed value outside the device's width or 0.
 */
struct ioasid_pasid_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 dev_id;
	__u32 pasid;
};

#define IOASID_PASID_ALLOC	_IO(IOASID_TYPE, IOASID_NR_PASID_ALLOC)

/**
 * struct ioasid_pasid_free - ioctl(IOASID_PASID_FREE)
 * @argsz: sizeof(struct ioasid_pasid_free)
 * @flags: must be 0
 * @pasid: a PASID the file holds (ENOENT otherwise)
 * @__rsvd: must be 0
 *
 * Give the PASID back. The value becomes free for others once no
 * attachment uses it any more; the quota is given back at once.
 */
struct ioasid_pasid_free {
	__u32 argsz;
	__u32 flags;
	__u32 pasid;
	__u32 __rsvd;
};

#define IOASID_PASID_FREE	_IO(IOASID_TYPE, IOASID_NR_PASID_FREE)

/**
 * struct ioasid_fault_queue_alloc - ioctl(IOASID_FAULT_QUEUE_ALLOC)
 * @argsz: sizeof(struct ioasid_fault_queue_alloc)
 * @flags: must be 0
 * @depth: the most records the queue holds unread; 0: 256; at most 4096
 * @out_fault_id: the queue object, for IOASID_HWPT_CREATE and
 *	IOASID_DEVICE_FAULTS
 * @out_fault_fd: a new file descriptor (O_CLOEXEC) to read records from
 *	and write responses to
 * @__reserved: must be 0
 *
 * A fault queue carries I/O faults of the file's devices to userspace:
 * page requests from devices attached to a HWPT made with the queue, which
 * wait for a response, and unrecoverable DMA faults of devices reporting to
 * the queue. read() returns whole struct ioasid_fault records, oldest
 * first; poll() says POLLIN when one is there. write() takes whole struct
 * ioasid_fault_response entries.
 */
struct ioasid_fault_queue_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 depth;
	__u32 out_fault_id;
	__u32 out_fault_fd;
	__u32 __reserved;
};

#define IOASID_FAULT_QUEUE_ALLOC _IO(IOASID_TYPE, IOASID_NR_FAULT_QUEUE_ALLOC)
#define IOASID_FAULT_QUEUE_MAX_DEPTH	4096

/**
 * enum ioasid_fault_type - what a record is
 * @IOASID_FAULT_PAGE_REQ: a page request, waiting for a response to its
 *	group
 * @IOASID_FAULT_DMA: an unrecoverable DMA fault: the access was blocked
 * @IOASID_FAULT_LOST: page requests the full queue could not take were
 *	answered IOASID_FAULT_RESP_INVALID; @lost says how many
 * @IOASID_FAULT_BLOCKED: the device was blocked for faulting too much
 */
enum ioasid_fault_type {
	IOASID_FAULT_PAGE_REQ = 1,
	IOASID_FAULT_DMA = 2,
	IOASID_FAULT_LOST = 3,
	IOASID_FAULT_BLOCKED = 4,
};

/**
 * enum ioasid_fault_flags - flags of a record
 * @IOASID_FAULT_READ: the device read
 * @IOASID_FAULT_WRITE: the device wrote
 * @IOASID_FAULT_EXEC: an instruction fetch
 * @IOASID_FAULT_PRIV: a privileged (supervisor) access
 * @IOASID_FAULT_PASID_VALID: @pasid is meaningful; without it the request
 *	carried no PASID (the RID)
 * @IOASID_FAULT_ADDR_VALID: @addr is meaningful
 * @IOASID_FAULT_LAST_IN_GROUP: the last request of its group: the group
 *	can be answered now
 */
enum ioasid_fault_flags {
	IOASID_FAULT_READ = 1 << 0,
	IOASID_FAULT_WRITE = 1 << 1,
	IOASID_FAULT_EXEC = 1 << 2,
	IOASID_FAULT_PRIV = 1 << 3,
	IOASID_FAULT_PASID_VALID = 1 << 4,
	IOASID_FAULT_ADDR_VALID = 1 << 5,
	IOASID_FAULT_LAST_IN_GROUP = 1 << 6,
};

/**
 * enum ioasid_fault_reason - why an unrecoverable DMA fault happened
 * @IOASID_FAULT_REASON_UNKNOWN: the IOMMU did not say
 * @IOASID_FAULT_REASON_NOT_PRESENT: no translation for the address
 * @IOASID_FAULT_REASON_PERMISSION: the translation forbids that access
 * @IOASID_FAULT_REASON_TABLE: a page table or context entry could not be
 *	read or was malformed
 * @IOASID_FAULT_REASON_PASID: the PASID is not set up or out of range
 * @IOASID_FAULT_REASON_RANGE: the address is beyond what the IOMMU
 *	translates
 */
enum ioasid_fault_reason {
	IOASID_FAULT_REASON_UNKNOWN = 0,
	IOASID_FAULT_REASON_NOT_PRESENT = 1,
	IOASID_FAULT_REASON_PERMISSION = 2,
	IOASID_FAULT_REASON_TABLE = 3,
	IOASID_FAULT_REASON_PASID = 4,
	IOASID_FAULT_REASON_RANGE = 5,
};

/**
 * struct ioasid_fault - one record read from a fault queue
 * @type: enum ioasid_fault_type
 * @flags: enum ioasid_fault_flags
 * @addr: the faulting IOVA (page-aligned for page requests)
 * @lost: IOASID_FAULT_DMA: faults of the device that got no record of
 *	their own since its previous record; IOASID_FAULT_LOST: page requests
 *	answered for lack of room since the previous such record
 * @dev_id: the bound device that faulted
 * @pasid: the PASID, with IOASID_FAULT_PASID_VALID
 * @grpid: IOASID_FAULT_PAGE_REQ: the device's page request group index
 * @cookie: IOASID_FAULT_PAGE_REQ: names the group in the response; the
 *	same in every record of the group
 * @reason: IOASID_FAULT_DMA: enum ioasid_fault_reason
 * @__reserved: 0
 */
struct ioasid_fault {
	__u32 type;
	__u32 flags;
	__aligned_u64 addr;
	__aligned_u64 lost;
	__u32 dev_id;
	__u32 pasid;
	__u32 grpid;
	__u32 cookie;
	__u32 reason;
	__u32 __reserved;
};

/**
 * enum ioasid_fault_resp_code - the answer to a page request group
 * @IOASID_FAULT_RESP_SUCCESS: the pages are mapped now; the device retries
 * @IOASID_FAULT_RESP_INVALID: the request cannot be served; the device
 *	gives up on it (and its DMA fails)
 * @IOASID_FAULT_RESP_FAILURE: a catastrophic error: the device stops
 *	sending page requests altogether (PCI PRI's Response Failure)
 */
enum ioasid_fault_resp_code {
	IOASID_FAULT_RESP_SUCCESS = 0,
	IOASID_FAULT_RESP_INVALID = 1,
	IOASID_FAULT_RESP_FAILURE = 2,
};

/**
 * struct ioasid_fault_response - one response written to a fault queue
 * @cookie: the group's cookie, from its records
 * @code: enum ioasid_fault_resp_code
 *
 * A group is answered once, after its last request was read. write()
 * returns the bytes of the responses it took; it stops at the first bad
 * one, and fails with EINVAL when that is the first (an unknown or
 * already answered cookie, an unknown code, a length that is not a
 * multiple of the entry).
 */
struct ioasid_fault_response {
	__u32 cookie;
	__u32 code;
};

/**
 * struct ioasid_vfio_ioas - ioctl(IOASID_VFIO_IOAS)
 * @argsz: sizeof(struct ioasid_vfio_ioas)
 * @flags: must be 0
 * @op: IOASID_VFIO_IOAS_QUERY, _ASSIGN or _FORGET
 * @ioas_id: out for QUERY, in for ASSIGN
 *
 * The IOAS that devices opened through the VFIO group path attach to, and
 * that the VFIO type1 container ioctls of this file act on.
 * VFIO_GROUP_SET_CONTAINER accepts a /dev/ioasid file descriptor in place of
 * a container; each device of the group is then bound to the file when it
 * is opened and attached to this IOAS.
 */
struct ioasid_vfio_ioas {
	__u32 argsz;
	__u32 flags;
	__u32 op;
	__u32 ioas_id;
};

#define IOASID_VFIO_IOAS	_IO(IOASID_TYPE, IOASID_NR_VFIO_IOAS)

/*
 * Operations of IOASID_VFIO_IOAS (@op):
 *
 * IOASID_VFIO_IOAS_QUERY: return the IOAS, creating an empty one if there is
 *	none.
 * IOASID_VFIO_IOAS_ASSIGN: make @ioas_id the IOAS.
 * IOASID_VFIO_IOAS_FORGET: forget the IOAS; attached devices stay attached.
 */
#define IOASID_VFIO_IOAS_QUERY	1
#define IOASID_VFIO_IOAS_ASSIGN	2
#define IOASID_VFIO_IOAS_FORGET	3

#endif
