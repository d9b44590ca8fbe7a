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
 * @IOASID_TEST_OP_MOCK_DEVICE: create a mock device on the mock IOMMU, bind
 *	it to this file and attach it to @id (an IOAS or a HWPT). Returns
 *	the device ID and the attached HWPT ID. The device lives until the
 *	returned device ID is destroyed with IOASID_DESTROY or the file is
 *	closed.
 * @IOASID_TEST_OP_ADD_RESERVED: give the mock device @id a reserved region
 *	[@resv.start, @resv.last]; it is honoured at the device's next attach.
 * @IOASID_TEST_OP_MD_CHECK_REFS: check that each page of the user range
 *	[@refs.uptr, @refs.uptr + @refs.length) is DMA-pinned exactly
 *	@refs.refs times by the core (0: not pinned). Fails with EINVAL at
 *	the first page that differs.
 * @IOASID_TEST_OP_DMA: make mock device @id do DMA of @dma.length bytes
 *	between IOVA @dma.iova and the user buffer @dma.uptr, translating
 *	through the device's mock page table (a real walk). A page that is
 *	not mapped, or lacks the needed permission, stops the DMA with
 *	EFAULT; nothing after it is transferred.
 * @IOASID_TEST_OP_IOPTE: report the IOPTE that maps @iopte.iova in the
 *	mock page table of HWPT @id: its page size and physical address.
 *	ENOENT when nothing maps it.
 * @IOASID_TEST_OP_ACCOUNTING: return in @acct the pages this file has
 *	accounted against RLIMIT_MEMLOCK, and the pinned page count.
 * @IOASID_TEST_OP_ACCESS_CREATE: create an access (emulated device) on IOAS
 *	@id. Returns its ID in @access.out_access_id. Its unmap callback
 *	unpins whatever it has pinned in the range.
 * @IOASID_TEST_OP_ACCESS_PIN: pin @access.length bytes at @access.iova
 *	through access @id (must be page aligned).
 * @IOASID_TEST_OP_ACCESS_RW: copy @access.length bytes between the IOVA
 *	and the user buffer @access.uptr through access @id.
 * @IOASID_TEST_OP_FAIL_POINT: make the core fail at failure point
 *	@fail.point the @fail.nth time it is reached (1 = next), with errno
 *	@fail.err; 0 for @fail.nth disarms.
 * @IOASID_TEST_OP_MOCK_REPLACE: move mock device @id to @replace.pt_id (an
 *	IOAS or a HWPT) with ioasid_device_replace(). Returns the HWPT it is
 *	attached to afterwards; on failure it stays where it was.
 */
enum ioasid_test_op {
	IOASID_TEST_OP_MOCK_DEVICE = 1,
	IOASID_TEST_OP_ADD_RESERVED,
	IOASID_TEST_OP_MD_CHECK_REFS,
	IOASID_TEST_OP_DMA,
	IOASID_TEST_OP_IOPTE,
	IOASID_TEST_OP_ACCOUNTING,
	IOASID_TEST_OP_ACCESS_CREATE,
	IOASID_TEST_OP_ACCESS_PIN,
	IOASID_TEST_OP_ACCESS_RW,
	IOASID_TEST_OP_FAIL_POINT,
	IOASID_TEST_OP_MOCK_REPLACE,
};

/**
 * enum ioasid_test_dma_dir - direction of IOASID_TEST_OP_DMA and ACCESS_RW
 * @IOASID_TEST_DMA_READ: the device reads memory at the IOVA into uptr
 * @IOASID_TEST_DMA_WRITE: the device writes uptr into memory at the IOVA
 */
enum ioasid_test_dma_dir {
	IOASID_TEST_DMA_READ = 0,
	IOASID_TEST_DMA_WRITE = 1,
};

/**
 * enum ioasid_test_fail_point - places where the core can be made to fail
 * @IOASID_FAIL_PIN: pinning user pages, after some pages were pinned
 * @IOASID_FAIL_DOMAIN_MAP: mapping a run into a domain, after earlier runs
 * @IOASID_FAIL_ATTACH: attaching a group to a domain
 * @IOASID_FAIL_NUM: number of failure points
 */
enum ioasid_test_fail_point {
	IOASID_FAIL_PIN = 0,
	IOASID_FAIL_DOMAIN_MAP,
	IOASID_FAIL_ATTACH,
	IOASID_FAIL_NUM,
};

/**
 * struct ioasid_test - ioctl(IOASID_TEST)
 * @size: sizeof(struct ioasid_test)
 * @op: one of enum ioasid_test_op
 * @id: the object the operation works on (see enum ioasid_test_op)
 * @__reserved: must be 0
 * @mock: for MOCK_DEVICE
 * @mock.out_dev_id: the new device's ID
 * @mock.out_hwpt_id: the HWPT it is attached to
 * @mock.flags: must be 0
 * @resv: for ADD_RESERVED
 * @resv.start: first IOVA reserved
 * @resv.last: last IOVA reserved, inclusive
 * @refs: for MD_CHECK_REFS
 * @refs.uptr: user address, page aligned
 * @refs.length: bytes, a multiple of the page size
 * @refs.refs: expected pin count of every page
 * @dma: for DMA
 * @dma.iova: device address
 * @dma.uptr: user buffer
 * @dma.length: bytes
 * @dma.dir: one of enum ioasid_test_dma_dir
 * @dma.out_done: bytes transferred before any fault
 * @iopte: for IOPTE
 * @iopte.iova: device address to look up
 * @iopte.out_page_size: size of the IOPTE mapping it
 * @iopte.out_phys: physical address @iova translates to
 * @acct: for ACCOUNTING
 * @acct.out_locked_pages: pages accounted to RLIMIT_MEMLOCK by this file
 * @acct.out_pinned_pages: pages this file holds pinned
 * @access: for ACCESS_CREATE, ACCESS_PIN and ACCESS_RW
 * @access.iova: device address
 * @access.uptr: user buffer for ACCESS_RW
 * @access.length: bytes
 * @access.dir: one of enum ioasid_test_dma_dir, for ACCESS_RW
 * @access.out_access_id: the ID of a new access
 * @fail: for FAIL_POINT
 * @fail.point: one of enum ioasid_test_fail_point
 * @fail.nth: fail the nth time the point is reached; 0 disarms
 * @fail.err: positive errno to fail with
 * @replace: for MOCK_REPLACE
 * @replace.pt_id: the IOAS or HWPT to move to
 * @replace.out_hwpt_id: the HWPT attached to afterwards
 */
struct ioasid_test {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__u32 out_dev_id;
			__u32 out_hwpt_id;
			__u32 flags;
		} mock;
		struct {
			__aligned_u64 start;
			__aligned_u64 last;
		} resv;
		struct {
			__aligned_u64 uptr;
			__aligned_u64 length;
			__u32 refs;
		} refs;
		struct {
			__aligned_u64 iova;
			__aligned_u64 uptr;
			__aligned_u64 length;
			__u32 dir;
			__u32 __reserved;
			__aligned_u64 out_done;
		} dma;
		struct {
			__aligned_u64 iova;
			__aligned_u64 out_page_size;
			__aligned_u64 out_phys;
		} iopte;
		struct {
			__aligned_u64 out_locked_pages;
			__aligned_u64 out_pinned_pages;
		} acct;
		struct {
			__aligned_u64 iova;
			__aligned_u64 uptr;
			__aligned_u64 length;
			__u32 dir;
			__u32 out_access_id;
		} access;
		struct {
			__u32 point;
			__u32 nth;
			__u32 err;
		} fail;
		struct {
			__u32 pt_id;
			__u32 out_hwpt_id;
		} replace;
	};
};

#define IOASID_TEST _IO(IOASID_TYPE, IOASID_CMD_BASE + 0x40)

#endif
