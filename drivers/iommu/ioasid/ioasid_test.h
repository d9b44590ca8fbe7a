/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The test-only ioctl of /dev/ioasid (CONFIG_IOASID_TEST). Not a stable
 * ABI: it exists for tools/testing/selftests/ioasid, which includes this
 * file directly.
 */
#ifndef _IOASID_TEST_H
#define _IOASID_TEST_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <uapi/linux/ioasid.h>
#else
#include <linux/ioasid.h>
#endif

/**
 * enum ioasid_test_op - what IOASID_TEST does
 * @IOASID_TEST_MOCK_DEVICE: create a mock device on the mock IOMMU, bind
 *	it to this file and attach it to @obj_id (an IOAS or a HWPT). Returns
 *	the device ID and the attached HWPT ID. Its PASIDs are
 *	@mock.pasid_bits wide (0: 20 bits). The device lives until its ID
 *	is destroyed with IOASID_OBJ_DESTROY or the file is closed.
 * @IOASID_TEST_RESERVE: give the mock device @obj_id a reserved region
 *	[@resv.first, @resv.last] of type @resv.type; it is honoured at the
 *	device's next attach.
 * @IOASID_TEST_PIN_COUNT: check that each page of the user range
 *	[@pins.uaddr, @pins.uaddr + @pins.length) is DMA-pinned exactly
 *	@pins.count times by the core (0: not pinned). Fails with EINVAL at
 *	the first page that differs.
 * @IOASID_TEST_DMA: make mock device @obj_id do DMA of @dma.length bytes
 *	between IOVA @dma.iova and the user buffer @dma.uaddr, translating
 *	through the device's mock page table (a real walk): the RID's, or
 *	with @dma.pasid not 0, the page table of the domain that PASID of the
 *	device is attached to. A page that is
 *	not mapped, or lacks the needed permission, stops the DMA with
 *	EFAULT; nothing after it is transferred.
 * @IOASID_TEST_IOPTE: report the IOPTE that maps @iopte.iova in the mock
 *	page table of HWPT @obj_id: its page size and physical address.
 *	ENOENT when nothing maps it.
 * @IOASID_TEST_SYNC_COUNT: return in @syncs how many times the IOMMU core
 *	called the IOTLB sync (after unmaps) and the map sync (after maps)
 *	of the mock domain of HWPT @obj_id since it was allocated.
 * @IOASID_TEST_CHARGES: return in @charges the pages this file has charged
 *	to RLIMIT_MEMLOCK, and the pages it holds pinned.
 * @IOASID_TEST_ACCESS_CREATE: create an access (emulated device) on IOAS
 *	@obj_id. Returns its ID in @access.out_access_id. Its unmap callback
 *	unpins whatever it has pinned in the range.
 * @IOASID_TEST_ACCESS_PIN: pin @access.length bytes at @access.iova through
 *	access @obj_id (page aligned).
 * @IOASID_TEST_ACCESS_RW: copy @access.length bytes between the IOVA and the
 *	user buffer @access.uaddr through access @obj_id.
 * @IOASID_TEST_MOCK_MOVE: move mock device @obj_id to @move.pt_id (an IOAS
 *	or a HWPT) with ioasid_device_replace(). Returns the HWPT it is
 *	attached to afterwards; on failure it stays where it was.
 * @IOASID_TEST_ACCESS_UNPIN: unpin @access.length bytes at @access.iova
 *	through access @obj_id with ioasid_access_unpin_pages() as given,
 *	whatever the access pinned, and return its result. On success the
 *	access forgets a pin it recorded for exactly that range.
 * @IOASID_TEST_ACCESS_NOTIFIED: report in @notified the unmap callbacks
 *	access @obj_id received: how many, the last range and the longest.
 * @IOASID_TEST_PASID: for mock device @obj_id, attach (@pasid.op 0),
 *	replace (1) or detach (2) PASID @pasid.pasid with
 *	ioasid_device_attach_pasid(), _replace_pasid() or _detach_pasid(),
 *	to @pasid.pt_id; returns the HWPT in @pasid.out_hwpt_id.
 * @IOASID_TEST_SVA_BIND: bind the current process's address space to mock
 *	device @obj_id with iommu_sva_bind_device(), as a kernel driver of
 *	the device would; the PASID (from the system's PASID space) is
 *	returned in @sva.pasid. The bond lasts until SVA_UNBIND or the
 *	device's end.
 * @IOASID_TEST_SVA_UNBIND: undo the SVA_BIND of mock device @obj_id that
 *	returned @sva.pasid.
 * @IOASID_TEST_OP_END: one past the last op; it and every op above it
 *	(up to 0xffff) fail with EOPNOTSUPP, as do those below
 *	IOASID_TEST_MOCK_DEVICE.
 *
 * Failures are injected with the kernel's fault-injection framework: the
 * fault_attr "fail_ioasid" in debugfs, which honours the task's
 * /proc/self/task/TID/fail-nth.
 */
enum ioasid_test_op {
	IOASID_TEST_MOCK_DEVICE = 0x10,
	IOASID_TEST_RESERVE,
	IOASID_TEST_PIN_COUNT,
	IOASID_TEST_DMA,
	IOASID_TEST_IOPTE,
	IOASID_TEST_CHARGES,
	IOASID_TEST_ACCESS_CREATE,
	IOASID_TEST_ACCESS_PIN,
	IOASID_TEST_ACCESS_RW,
	IOASID_TEST_MOCK_MOVE,
	IOASID_TEST_ACCESS_UNPIN,
	IOASID_TEST_ACCESS_NOTIFIED,
	IOASID_TEST_PASID,
	IOASID_TEST_SVA_BIND,
	IOASID_TEST_SVA_UNBIND,
	IOASID_TEST_SYNC_COUNT,
	IOASID_TEST_OP_END,
};

/**
 * enum ioasid_test_dma_dir - direction of IOASID_TEST_DMA and ACCESS_RW
 * @IOASID_TEST_DMA_READ: the device reads memory at the IOVA into uaddr
 * @IOASID_TEST_DMA_WRITE: the device writes uaddr into memory at the IOVA
 */
enum ioasid_test_dma_dir {
	IOASID_TEST_DMA_READ = 0,
	IOASID_TEST_DMA_WRITE = 1,
};

/**
 * struct ioasid_test_cmd - ioctl(IOASID_TEST)
 * @argsz: sizeof(struct ioasid_test_cmd)
 * @op: one of enum ioasid_test_op
 * @flags: must be 0
 * @obj_id: the object the operation works on (see enum ioasid_test_op)
 * @__rsvd: must be 0
 * @mock: for MOCK_DEVICE
 * @mock.out_dev_id: the new device's ID
 * @mock.out_hwpt_id: the HWPT it is attached to
 * @mock.pasid_bits: in, the PASID width of the new device; 0 for 20
 * @resv: for RESERVE
 * @resv.first: first IOVA reserved
 * @resv.last: last IOVA reserved
 * @resv.type: IOASID_TEST_RESV_RESERVED (0, IOMMU_RESV_RESERVED) or
 *	IOASID_TEST_RESV_RELAXABLE (1, IOMMU_RESV_DIRECT_RELAXABLE)
 * @pins: for PIN_COUNT
 * @pins.uaddr: user address, page aligned
 * @pins.length: bytes, a multiple of the page size
 * @pins.count: expected pin count of every page
 * @dma: for DMA
 * @dma.iova: device address
 * @dma.uaddr: user buffer
 * @dma.length: bytes
 * @dma.out_done: bytes transferred before any fault
 * @dma.dir: one of enum ioasid_test_dma_dir
 * @dma.pasid: the PASID the DMA is tagged with, 0 for none (the RID)
 *
 * DMA takes @flags: with IOASID_TEST_DMA_PRI, a page the DMA finds missing
 * is asked for with page requests (groups of up to 8 pages), and the DMA
 * waits for the answer (10 s at most: ETIMEDOUT) and retries; without it,
 * the access stops there and is reported as an unrecoverable fault. A
 * refused or failed group is EFAULT (out_done set). Once answered Response
 * Failure, the device sends no page request any more. A device blocked
 * for faulting (IOASID_DEVICE_FAULTS) does no DMA at all: EIO.
 * @iopte: for IOPTE
 * @iopte.iova: device address to look up
 * @iopte.out_size: size of the IOPTE mapping it
 * @iopte.out_phys: physical address @iova translates to
 * @iopte.out_prot: the IOPTE's IOMMU_READ (1), IOMMU_WRITE (2) and
 *	IOMMU_CACHE (4) bits, as the kernel's iommu_map() took them
 * @charges: for CHARGES
 * @charges.out_locked: pages charged to RLIMIT_MEMLOCK by this file
 * @charges.out_pinned: pages this file holds pinned
 * @syncs: for SYNC_COUNT
 * @syncs.out_iotlb_syncs: IOTLB syncs (after unmaps) of the mock domain
 * @syncs.out_map_syncs: map syncs (after maps) of the mock domain
 * @access: for ACCESS_CREATE, ACCESS_PIN and ACCESS_RW
 * @access.iova: device address
 * @access.uaddr: user buffer for ACCESS_RW
 * @access.length: bytes
 * @access.dir: one of enum ioasid_test_dma_dir, for ACCESS_RW
 * @access.out_access_id: the ID of a new access
 * @access.pasid: for ACCESS_CREATE, not 0: the access attaches under this
 *	PASID, which the file must hold, with ioasid_access_attach_pasid()
 * @move: for MOCK_MOVE
 * @move.pt_id: the IOAS or HWPT to move to
 * @move.out_hwpt_id: the HWPT attached to afterwards
 * @notified: for ACCESS_NOTIFIED
 * @notified.out_calls: unmap callbacks received
 * @notified.out_last_iova: IOVA of the last one
 * @notified.out_last_length: its length
 * @notified.out_max_length: the longest length received
 * @pasid: for PASID
 * @pasid.pasid: the PASID
 * @pasid.pt_id: the IOAS or HWPT, for attach and replace
 * @pasid.op: 0 attach, 1 replace, 2 detach
 * @pasid.out_hwpt_id: the HWPT attached to afterwards
 * @sva: for SVA_BIND and SVA_UNBIND
 * @sva.pasid: out for SVA_BIND, in for SVA_UNBIND
 */
struct ioasid_test_cmd {
	__u32 argsz;
	__u16 op;
	__u16 flags;
	__u32 obj_id;
	__u32 __rsvd;
	union {
		struct {
			__u32 out_dev_id;
			__u32 out_hwpt_id;
			__u32 pasid_bits;
		} mock;
		struct {
			__aligned_u64 first;
			__aligned_u64 last;
			__u32 type;
		} resv;
		struct {
			__aligned_u64 uaddr;
			__aligned_u64 length;
			__u32 count;
		} pins;
		struct {
			__aligned_u64 iova;
			__aligned_u64 uaddr;
			__aligned_u64 length;
			__aligned_u64 out_done;
			__u32 dir;
			__u32 pasid;
		} dma;
		struct {
			__aligned_u64 iova;
			__aligned_u64 out_size;
			__aligned_u64 out_phys;
			__u32 out_prot;
		} iopte;
		struct {
			__aligned_u64 out_locked;
			__aligned_u64 out_pinned;
		} charges;
		struct {
			__aligned_u64 out_iotlb_syncs;
			__aligned_u64 out_map_syncs;
		} syncs;
		struct {
			__aligned_u64 iova;
			__aligned_u64 uaddr;
			__aligned_u64 length;
			__u32 dir;
			__u32 out_access_id;
			__u32 pasid;
		} access;
		struct {
			__u32 pt_id;
			__u32 out_hwpt_id;
		} move;
		struct {
			__aligned_u64 out_calls;
			__aligned_u64 out_last_iova;
			__aligned_u64 out_last_length;
			__aligned_u64 out_max_length;
		} notified;
		struct {
			__u32 pasid;
			__u32 pt_id;
			__u32 op;
			__u32 out_hwpt_id;
		} pasid;
		struct {
			__u32 pasid;
		} sva;
	};
};

#define IOASID_TEST_RESV_RESERVED	0
#define IOASID_TEST_RESV_RELAXABLE	1

#define IOASID_TEST_PASID_ATTACH	0
#define IOASID_TEST_PASID_REPLACE	1
#define IOASID_TEST_PASID_DETACH	2

#define IOASID_TEST_DMA_PRI	0x1

/*
 * The mock IOMMU's stage-1 format, for nested HWPTs (IOASID_HWPT_NESTED)
 * over a mock paging HWPT made with IOASID_HWPT_NEST_PARENT.
 *
 * Format number IOASID_TEST_S1_FORMAT: mock devices report bit
 * (1 << IOASID_TEST_S1_FORMAT) in ioasid_device_info.out_s1_formats.
 *
 * The table is a radix tree of 4 levels of 512 little-endian 8-byte
 * entries, one 4 KiB page per table, translating 48-bit IOVAs with 4 KiB
 * pages only: IOVA bits 47:39 index the root table, 38:30 the next, 29:21
 * the next and 20:12 the last, whose entries map pages. Every address in
 * it (the root, the tables, the pages) is a GPA: an IOVA of the parent's
 * IOAS, translated by the parent for each table read (which needs read
 * permission there) and for the final access.
 *
 * An entry is IOASID_TEST_S1_PRESENT, for a leaf IOASID_TEST_S1_WRITE to
 * let the device write (reads need only PRESENT), and in
 * IOASID_TEST_S1_ADDR (bits 51:12) the GPA of the next table or of the
 * page. Other bits are ignored.
 *
 * The mock caches each leaf it walked (IOVA page -> entry) until an
 * invalidation covers that page: a changed entry keeps its old translation
 * until then, as in real IOTLBs.
 */
#define IOASID_TEST_S1_FORMAT	1
#define IOASID_TEST_S1_LEVELS	4
#define IOASID_TEST_S1_PRESENT	0x1ULL
#define IOASID_TEST_S1_WRITE	0x2ULL
#define IOASID_TEST_S1_ADDR	0x000ffffffffff000ULL

/**
 * struct ioasid_test_s1_hwpt - IOASID_HWPT_CREATE data of the mock format
 * @root_gpa: the GPA of the root table, 4 KiB aligned, below 2^48
 * @flags: must be 0
 * @__reserved: must be 0
 *
 * EINVAL for a misaligned or too large @root_gpa, non-zero @flags or
 * @__reserved, or a data_len shorter than @root_gpa's end; E2BIG for a
 * longer one with non-zero bytes past this structure.
 */
struct ioasid_test_s1_hwpt {
	__aligned_u64 root_gpa;
	__u32 flags;
	__u32 __reserved;
};

/**
 * enum ioasid_test_s1_inv_flags - flags of struct ioasid_test_s1_inv
 * @IOASID_TEST_S1_INV_ALL: invalidate everything cached; @iova and @length
 *	must be 0
 */
enum ioasid_test_s1_inv_flags {
	IOASID_TEST_S1_INV_ALL = 1 << 0,
};

/**
 * struct ioasid_test_s1_inv - one IOASID_HWPT_INVALIDATE entry of the mock
 *	format
 * @flags: enum ioasid_test_s1_inv_flags
 * @__reserved: must be 0
 * @iova: without IOASID_TEST_S1_INV_ALL, the first IOVA, 4 KiB aligned
 * @length: its length, a non-zero multiple of 4 KiB
 *
 * An entry fails with EINVAL for an unknown flag, a non-zero @__reserved,
 * a zero or misaligned range, or a range given with
 * IOASID_TEST_S1_INV_ALL; EOVERFLOW for a range that wraps; E2BIG when
 * entry_len is longer than this structure and a byte past it is not 0.
 * entry_len must be at least 24 (EINVAL at index 0).
 */
struct ioasid_test_s1_inv {
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
};

#define IOASID_TEST _IO(IOASID_TYPE, IOASID_NR_TEST)

#endif
