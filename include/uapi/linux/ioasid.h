/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/ioasid: user-visible I/O address spaces.
 *
 * See Documentation/userspace-api/ioasid.rst for the model, the object
 * life cycle and the meaning of each errno.
 */
#ifndef _UAPI_LINUX_IOASID_H
#define _UAPI_LINUX_IOASID_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define IOASID_TYPE	0xB9

/*
 * Every ioctl takes a pointer to a structure whose first member is a __u32
 * "size" holding sizeof() the structure as userspace knows it. Common
 * errors, for every command:
 *
 *  ENOTTY      unknown ioctl number
 *  EINVAL      size smaller than the first version of the structure, or a
 *              value out of range (zero length, unaligned IOVA, ...)
 *  E2BIG       size larger than the kernel knows, with non-zero extra bytes
 *  EOPNOTSUPP  an unknown flag bit, or a non-zero reserved member
 *  EFAULT      a user pointer could not be read or written
 *  ENOENT      no object of the needed type has that ID
 *  EOVERFLOW   an address plus a length wraps around 64 bits
 *  ENOMEM      out of memory, or RLIMIT_MEMLOCK would be exceeded
 *  EBUSY       the object is in use by another object
 */
enum {
	IOASID_CMD_BASE = 0x80,
	IOASID_CMD_DESTROY = IOASID_CMD_BASE,
	IOASID_CMD_IOAS_ALLOC,
	IOASID_CMD_IOAS_IOVA_RANGES,
	IOASID_CMD_IOAS_ALLOW_IOVAS,
	IOASID_CMD_IOAS_MAP,
	IOASID_CMD_IOAS_COPY,
	IOASID_CMD_IOAS_UNMAP,
	IOASID_CMD_OPTION,
	IOASID_CMD_HWPT_ALLOC,
	IOASID_CMD_VFIO_IOAS,
};

/**
 * struct ioasid_destroy - ioctl(IOASID_DESTROY)
 * @size: sizeof(struct ioasid_destroy)
 * @id: ID of the object to destroy
 *
 * Destroy any object. Fails with EBUSY while another object (an attached
 * device, a hardware page table, an access) depends on it; nothing is
 * changed then.
 */
struct ioasid_destroy {
	__u32 size;
	__u32 id;
};

#define IOASID_DESTROY _IO(IOASID_TYPE, IOASID_CMD_DESTROY)

/**
 * struct ioasid_ioas_alloc - ioctl(IOASID_IOAS_ALLOC)
 * @size: sizeof(struct ioasid_ioas_alloc)
 * @flags: must be 0
 * @out_ioas_id: the ID of the new, empty IOAS
 */
struct ioasid_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};

#define IOASID_IOAS_ALLOC _IO(IOASID_TYPE, IOASID_CMD_IOAS_ALLOC)

/**
 * struct ioasid_iova_range - an inclusive range of IOVAs
 * @start: first IOVA
 * @last: last IOVA, inclusive
 */
struct ioasid_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/**
 * struct ioasid_ioas_iova_ranges - ioctl(IOASID_IOAS_IOVA_RANGES)
 * @size: sizeof(struct ioasid_ioas_iova_ranges)
 * @ioas_id: IOAS to query
 * @num_iovas: in, how many entries @allowed_iovas has room for; out, how
 *             many ranges there are
 * @__reserved: must be 0
 * @allowed_iovas: user pointer to an array of struct ioasid_iova_range
 * @out_iova_alignment: every map, copy and unmap must use IOVAs and lengths
 *                      that are multiples of this
 *
 * The IOVAs a mapping may use now: the intersection of every attached
 * domain's aperture, less every attached device's reserved regions, less
 * what the allow-list excludes. The set changes as devices attach and
 * detach. When @num_iovas is too small, the call fills what fits, sets
 * @num_iovas to the total and fails with EMSGSIZE.
 */
struct ioasid_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};

#define IOASID_IOAS_IOVA_RANGES _IO(IOASID_TYPE, IOASID_CMD_IOAS_IOVA_RANGES)

/**
 * struct ioasid_ioas_allow_iovas - ioctl(IOASID_IOAS_ALLOW_IOVAS)
 * @size: sizeof(struct ioasid_ioas_allow_iovas)
 * @ioas_id: IOAS to restrict
 * @num_iovas: number of entries in @allowed_iovas; 0 lifts the restriction
 * @__reserved: must be 0
 * @allowed_iovas: user pointer to an array of struct ioasid_iova_range
 *
 * Restrict the IOVAs the kernel may choose and the devices may later
 * reserve: a kernel-chosen IOVA is taken only from the allowed ranges, and
 * attaching a device whose reserved regions intersect an allowed range
 * fails. Ranges must be aligned, have start <= last and not overlap each
 * other (EINVAL). Fails with EBUSY if an existing mapping lies outside the
 * new allow-list, and with EADDRINUSE if an allowed range intersects a
 * reserved region of an attached device.
 */
struct ioasid_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};

#define IOASID_IOAS_ALLOW_IOVAS _IO(IOASID_TYPE, IOASID_CMD_IOAS_ALLOW_IOVAS)

/**
 * enum ioasid_ioas_map_flags - flags of map and copy
 * @IOASID_IOAS_MAP_FIXED_IOVA: use the IOVA given; otherwise the kernel
 *                              chooses one and returns it
 * @IOASID_IOAS_MAP_WRITEABLE: devices may write the memory
 * @IOASID_IOAS_MAP_READABLE: devices may read the memory
 */
enum ioasid_ioas_map_flags {
	IOASID_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOASID_IOAS_MAP_WRITEABLE = 1 << 1,
	IOASID_IOAS_MAP_READABLE = 1 << 2,
};

/**
 * struct ioasid_ioas_map - ioctl(IOASID_IOAS_MAP)
 * @size: sizeof(struct ioasid_ioas_map)
 * @flags: combination of enum ioasid_ioas_map_flags; at least one of
 *         READABLE and WRITEABLE
 * @ioas_id: IOAS to map into
 * @__reserved: must be 0
 * @user_va: userspace address of the memory
 * @length: bytes to map, a non-zero multiple of the IOVA alignment
 * @iova: in with FIXED_IOVA, the IOVA to map at; out otherwise, the IOVA
 *        the kernel chose, aligned like @user_va up to the largest page
 *        size the IOMMU supports, so large IOPTEs stay possible
 *
 * Pin the memory, account it against RLIMIT_MEMLOCK, and map it into
 * every domain the IOAS is attached to. @user_va, @length and @iova must
 * be multiples of the IOVA alignment (EINVAL). A fixed IOVA range must not
 * overlap a mapping (EEXIST), nor a reserved region or IOVAs outside the
 * allow-list (EADDRINUSE; see IOASID_IOAS_IOVA_RANGES). When the kernel
 * chooses, ENOSPC means no hole is large enough. @user_va + @length and
 * @iova + @length must not wrap (EOVERFLOW). On any failure nothing stays
 * pinned or accounted.
 */
struct ioasid_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};

#define IOASID_IOAS_MAP _IO(IOASID_TYPE, IOASID_CMD_IOAS_MAP)

/**
 * struct ioasid_ioas_copy - ioctl(IOASID_IOAS_COPY)
 * @size: sizeof(struct ioasid_ioas_copy)
 * @flags: as for map; READABLE/WRITEABLE beyond what every source mapping
 *         allows fail with EPERM
 * @dst_ioas_id: IOAS to map into
 * @src_ioas_id: IOAS holding the source mappings (may equal @dst_ioas_id)
 * @length: bytes to copy
 * @dst_iova: as @iova of struct ioasid_ioas_map
 * @src_iova: start of the source; the source range must be fully mapped,
 *            possibly by several mappings (ENOENT otherwise)
 *
 * Map, in the destination, the pages already pinned for the source, with
 * no second pin and no second accounting. The copy lives on after the
 * source is unmapped.
 */
struct ioasid_ioas_copy {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};

#define IOASID_IOAS_COPY _IO(IOASID_TYPE, IOASID_CMD_IOAS_COPY)

/**
 * enum ioasid_ioas_unmap_flags - flags of unmap
 * @IOASID_IOAS_UNMAP_ALL: unmap every mapping; @iova and @length must be 0
 */
enum ioasid_ioas_unmap_flags {
	IOASID_IOAS_UNMAP_ALL = 1 << 0,
};

/**
 * struct ioasid_ioas_unmap - ioctl(IOASID_IOAS_UNMAP)
 * @size: sizeof(struct ioasid_ioas_unmap)
 * @ioas_id: IOAS to unmap from
 * @flags: combination of enum ioasid_ioas_unmap_flags
 * @__reserved: must be 0
 * @iova: first IOVA of the range
 * @length: in, bytes in the range; out, bytes actually unmapped
 *
 * Remove every mapping inside the range. A mapping that crosses either end
 * of the range is not split: the call fails with ENOENT and unmaps
 * nothing. A range with no mapping in it succeeds with @length 0. @iova
 * and @length must be aligned (EINVAL) and must not wrap (EOVERFLOW).
 * With IOASID_IOAS_UNMAP_ALL, non-zero @iova or @length fail with EINVAL.
 */
struct ioasid_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
};

#define IOASID_IOAS_UNMAP _IO(IOASID_TYPE, IOASID_CMD_IOAS_UNMAP)

/**
 * enum ioasid_option_id - what IOASID_OPTION sets or gets
 * @IOASID_OPTION_RLIMIT_MODE: object_id 0; val64 0 accounts pinned pages to
 *                             the user (the default), 1 to the mm, as VFIO
 *                             type1 does. Changeable only while nothing
 *                             is pinned through this file (EBUSY); other
 *                             values fail with EINVAL.
 * @IOASID_OPTION_HUGE_PAGES: object_id an IOAS; val64 1 (default) lets
 *                            mappings use IOPTEs larger than PAGE_SIZE, 0
 *                            forbids it. Changeable only while the IOAS
 *                            is attached to no domain (EBUSY).
 */
enum ioasid_option_id {
	IOASID_OPTION_RLIMIT_MODE = 0,
	IOASID_OPTION_HUGE_PAGES = 1,
};

/**
 * enum ioasid_option_op - set or get
 * @IOASID_OPTION_OP_SET: set the option to val64
 * @IOASID_OPTION_OP_GET: return the option in val64
 */
enum ioasid_option_op {
	IOASID_OPTION_OP_SET = 0,
	IOASID_OPTION_OP_GET = 1,
};

/**
 * struct ioasid_option - ioctl(IOASID_OPTION)
 * @size: sizeof(struct ioasid_option)
 * @option_id: one of enum ioasid_option_id
 * @op: one of enum ioasid_option_op
 * @__reserved: must be 0
 * @object_id: the object the option applies to, or 0 for the file
 * @val64: the value, in for SET, out for GET
 */
struct ioasid_option {
	__u32 size;
	__u32 option_id;
	__u16 op;
	__u16 __reserved;
	__u32 object_id;
	__aligned_u64 val64;
};

#define IOASID_OPTION _IO(IOASID_TYPE, IOASID_CMD_OPTION)

/**
 * struct ioasid_hwpt_alloc - ioctl(IOASID_HWPT_ALLOC)
 * @size: sizeof(struct ioasid_hwpt_alloc)
 * @flags: must be 0
 * @dev_id: a bound device, whose IOMMU builds the page table
 * @pt_id: the IOAS the page table mirrors
 * @out_hwpt_id: the ID of the new hardware page table
 * @__reserved: must be 0
 *
 * Allocate a paging domain for @dev_id explicitly, filled from @pt_id and
 * kept in sync with it. Devices attach to it by its ID. It holds a
 * reference on the IOAS: destroying the IOAS first fails with EBUSY.
 */
struct ioasid_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;
	__u32 out_hwpt_id;
	__u32 __reserved;
};

#define IOASID_HWPT_ALLOC _IO(IOASID_TYPE, IOASID_CMD_HWPT_ALLOC)

/**
 * enum ioasid_vfio_ioas_op - what IOASID_VFIO_IOAS does
 * @IOASID_VFIO_IOAS_GET: return the IOAS, making an empty one if none is set
 * @IOASID_VFIO_IOAS_SET: make @ioas_id the IOAS
 * @IOASID_VFIO_IOAS_CLEAR: forget the IOAS (devices stay attached to it)
 */
enum ioasid_vfio_ioas_op {
	IOASID_VFIO_IOAS_GET = 0,
	IOASID_VFIO_IOAS_SET = 1,
	IOASID_VFIO_IOAS_CLEAR = 2,
};

/**
 * struct ioasid_vfio_ioas - ioctl(IOASID_VFIO_IOAS)
 * @size: sizeof(struct ioasid_vfio_ioas)
 * @ioas_id: out for GET, in for SET
 * @op: one of enum ioasid_vfio_ioas_op
 * @__reserved: must be 0
 *
 * The IOAS that devices opened through the VFIO group path attach to.
 * VFIO_GROUP_SET_CONTAINER accepts a /dev/ioasid file descriptor in place
 * of a container; each device of the group is then bound to that file
 * when it is opened and attached to this IOAS, which userspace maps with
 * IOASID_IOAS_MAP.
 */
struct ioasid_vfio_ioas {
	__u32 size;
	__u32 ioas_id;
	__u16 op;
	__u16 __reserved;
};

#define IOASID_VFIO_IOAS _IO(IOASID_TYPE, IOASID_CMD_VFIO_IOAS)

#endif
