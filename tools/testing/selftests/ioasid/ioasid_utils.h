/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the /dev/ioasid selftests.
 *
 * Every ioctl wrapper returns 0 on success or -errno, so a test can write
 * ASSERT_EQ(-EEXIST, ioas_map_fixed(...)). Output members are copied back
 * only when the call succeeded, except where noted.
 */
#ifndef __SELFTEST_IOASID_UTILS_H
#define __SELFTEST_IOASID_UTILS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/ioasid.h>
#include "../../../../drivers/iommu/ioasid/ioasid_test.h"
#include "buf_utils.h"

/* The 6.1 harness leaves handler parameters unused; keep -Wextra quiet */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kselftest_harness.h"
#pragma GCC diagnostic pop

/* The mock IOMMU: 4K granule, 4K/2M/1G IOPTEs, 48-bit aperture */
#define MOCK_IOVA_ALIGN		SZ_4K
#define MOCK_APERTURE_LAST	((1ULL << 48) - 1)

/* An object ID no test ever gets: IDs are handed out from the bottom */
#define NO_SUCH_ID		0x7ffffff3U

#define IOASID_DEV_PATH		"/dev/ioasid"

/*
 * Map flags of the wrappers below (test-local): the protection bits of
 * struct ioasid_map_range, plus MAP_FIXED_IOVA, which the wrappers turn
 * into the range's IOASID_MAP_FIXED.
 */
#define MAP_FIXED_IOVA		0x80000000U
#define MAP_READ		IOASID_PROT_READ
#define MAP_WRITE		IOASID_PROT_WRITE
#define MAP_RW			(MAP_READ | MAP_WRITE)

/* Where the kernel's fault_attr "fail_ioasid" lives */
#define DEBUGFS_MNT		"/sys/kernel/debug"
#define FAIL_IOASID_DIR		DEBUGFS_MNT "/fail_ioasid"
#define FAIL_IOASID_TIMES	1000000000L

static inline int ioasid_do(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Returns the file descriptor, or -errno */
static inline int ioasid_open(void)
{
	int fd = open(IOASID_DEV_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int ioasid_destroy(int fd, __u32 id)
{
	struct ioasid_obj_destroy cmd = {
		.argsz = sizeof(cmd),
		.obj_id = id,
	};

	return ioasid_do(fd, IOASID_OBJ_DESTROY, &cmd);
}

static inline int ioas_alloc(int fd, __u32 *ioas_id)
{
	struct ioasid_ioas_create cmd = {
		.argsz = sizeof(cmd),
	};
	int ret = ioasid_do(fd, IOASID_IOAS_CREATE, &cmd);

	if (!ret)
		*ioas_id = cmd.out_ioas_id;
	return ret;
}

/*
 * Map @nr ranges in one call. On failure *@failed (may be NULL) gets the
 * kernel's out_failed, or ~0U if the kernel did not write it. Kernel-picked
 * IOVAs are written back into @r on success.
 */
static inline int ioas_map_vec(int fd, __u32 ioas_id, struct ioasid_map_range *r,
			       __u32 nr, __u32 *failed)
{
	struct ioasid_ioas_map cmd = {
		.argsz = sizeof(cmd),
		.ranges = (uintptr_t)r,
		.ioas_id = ioas_id,
		.nr_ranges = nr,
		.out_failed = ~0U,
	};
	int ret = ioasid_do(fd, IOASID_IOAS_MAP, &cmd);

	if (ret && failed)
		*failed = cmd.out_failed;
	return ret;
}

/* Fill one map range from the wrappers' @flags (MAP_FIXED_IOVA | MAP_RW) */
static inline void map_range_set(struct ioasid_map_range *r, const void *va,
				 __u64 length, __u64 iova, __u32 flags)
{
	memset(r, 0, sizeof(*r));
	r->uaddr = (uintptr_t)va;
	r->length = length;
	r->iova = (flags & MAP_FIXED_IOVA) ? iova : 0;
	r->prot = flags & ~MAP_FIXED_IOVA;
	r->flags = (flags & MAP_FIXED_IOVA) ? IOASID_MAP_FIXED : 0;
}

/*
 * Map @length bytes at @va. With MAP_FIXED_IOVA in @flags, *@iova is the
 * IOVA to use; otherwise the kernel's choice is stored there.
 */
static inline int ioas_map(int fd, __u32 ioas_id, const void *va,
			   __u64 length, __u64 *iova, __u32 flags)
{
	struct ioasid_map_range r;
	int ret;

	map_range_set(&r, va, length, *iova, flags);
	ret = ioas_map_vec(fd, ioas_id, &r, 1, NULL);
	if (!ret)
		*iova = r.iova;
	return ret;
}

static inline int ioas_map_fixed(int fd, __u32 ioas_id, const void *va,
				 __u64 length, __u64 iova, __u32 flags)
{
	return ioas_map(fd, ioas_id, va, length, &iova,
			flags | MAP_FIXED_IOVA);
}

/*
 * Unmap every mapping inside one of @nr ranges. *@unmapped (may be NULL)
 * gets the bytes unmapped on success; *@failed (may be NULL) the kernel's
 * out_failed on failure, or ~0U if it did not write it.
 */
static inline int ioas_unmap_vec(int fd, __u32 ioas_id,
				 struct ioasid_iova_range *r, __u32 nr,
				 __u64 *unmapped, __u32 *failed)
{
	struct ioasid_ioas_unmap cmd = {
		.argsz = sizeof(cmd),
		.ranges = (uintptr_t)r,
		.ioas_id = ioas_id,
		.nr_ranges = nr,
		.out_failed = ~0U,
	};
	int ret = ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd);

	if (!ret && unmapped)
		*unmapped = cmd.out_unmapped;
	if (ret && failed)
		*failed = cmd.out_failed;
	return ret;
}

/*
 * Unmap [@iova, @iova + @length); *@unmapped (may be NULL) gets the bytes
 * unmapped. A zero @length or a wrapping range is sent as a range whose
 * last IOVA is @iova + @length - 1 anyway, so that the kernel judges it.
 */
static inline int ioas_unmap(int fd, __u32 ioas_id, __u64 iova, __u64 length,
			     __u64 *unmapped)
{
	struct ioasid_iova_range r = {
		.first = iova,
		.last = iova + length - 1,
	};

	return ioas_unmap_vec(fd, ioas_id, &r, 1, unmapped, NULL);
}

static inline int ioas_unmap_all(int fd, __u32 ioas_id, __u64 *unmapped)
{
	struct ioasid_ioas_unmap cmd = {
		.argsz = sizeof(cmd),
		.flags = IOASID_UNMAP_EVERYTHING,
		.ioas_id = ioas_id,
	};
	int ret = ioasid_do(fd, IOASID_IOAS_UNMAP, &cmd);

	if (!ret && unmapped)
		*unmapped = cmd.out_unmapped;
	return ret;
}

/* Like ioas_map(): *@dst_iova is in with MAP_FIXED_IOVA, out otherwise */
static inline int ioas_copy(int fd, __u32 dst_ioas, __u64 *dst_iova,
			    __u32 src_ioas, __u64 src_iova, __u64 length,
			    __u32 flags)
{
	struct ioasid_ioas_copy cmd = {
		.argsz = sizeof(cmd),
		.flags = (flags & MAP_FIXED_IOVA) ? IOASID_MAP_FIXED : 0,
		.src_iova = src_iova,
		.dst_iova = (flags & MAP_FIXED_IOVA) ? *dst_iova : 0,
		.length = length,
		.src_ioas_id = src_ioas,
		.dst_ioas_id = dst_ioas,
		.prot = flags & ~MAP_FIXED_IOVA,
	};
	int ret = ioasid_do(fd, IOASID_IOAS_COPY, &cmd);

	if (!ret)
		*dst_iova = cmd.dst_iova;
	return ret;
}

static inline int ioas_copy_fixed(int fd, __u32 dst_ioas, __u64 dst_iova,
				  __u32 src_ioas, __u64 src_iova, __u64 length,
				  __u32 flags)
{
	return ioas_copy(fd, dst_ioas, &dst_iova, src_ioas, src_iova, length,
			 flags | MAP_FIXED_IOVA);
}

/*
 * IOASID_IOAS_INFO. The caller sets @info->ranges and @info->nr_ranges (both
 * may be 0); argsz, flags and ioas_id are filled in here. The kernel's
 * answer is left in *@info, on EMSGSIZE too.
 */
static inline int ioas_info(int fd, __u32 ioas_id,
			    struct ioasid_ioas_info *info)
{
	info->argsz = sizeof(*info);
	info->flags = 0;
	info->ioas_id = ioas_id;
	return ioasid_do(fd, IOASID_IOAS_INFO, info);
}

/*
 * The introspection counters of an IOAS, whatever the number of usable
 * ranges: every pointer may be NULL.
 */
static inline int ioas_stats(int fd, __u32 ioas_id, __u32 *nr_mappings,
			     __u64 *mapped, __u32 *nr_hwpts)
{
	struct ioasid_iova_range ranges[16];
	struct ioasid_ioas_info info = {
		.ranges = (uintptr_t)ranges,
		.nr_ranges = 16,
	};
	int ret = ioas_info(fd, ioas_id, &info);

	if (ret && ret != -EMSGSIZE)
		return ret;
	if (nr_mappings)
		*nr_mappings = info.out_nr_mappings;
	if (mapped)
		*mapped = info.out_mapped;
	if (nr_hwpts)
		*nr_hwpts = info.out_nr_hwpts;
	return 0;
}

/*
 * *@num is in (room in @ranges) and out (total number of ranges); it is
 * updated on EMSGSIZE too. @alignment may be NULL.
 */
static inline int ioas_iova_ranges(int fd, __u32 ioas_id,
				   struct ioasid_iova_range *ranges,
				   __u32 *num, __u64 *alignment)
{
	struct ioasid_ioas_info info = {
		.ranges = (uintptr_t)ranges,
		.nr_ranges = *num,
	};
	int ret = ioas_info(fd, ioas_id, &info);

	if (!ret || ret == -EMSGSIZE)
		*num = info.nr_ranges;
	if (!ret && alignment)
		*alignment = info.out_alignment;
	return ret;
}

/* IOASID_IOAS_LIMIT; @num 0 lifts the limit */
static inline int ioas_allow_iovas(int fd, __u32 ioas_id,
				   const struct ioasid_iova_range *ranges,
				   __u32 num)
{
	struct ioasid_ioas_limit cmd = {
		.argsz = sizeof(cmd),
		.ranges = (uintptr_t)ranges,
		.ioas_id = ioas_id,
		.nr_ranges = num,
	};

	return ioasid_do(fd, IOASID_IOAS_LIMIT, &cmd);
}

static inline int ioas_limit(int fd, __u32 ioas_id,
			     const struct ioasid_iova_range *ranges, __u32 num)
{
	return ioas_allow_iovas(fd, ioas_id, ranges, num);
}

/* @key: IOASID_OPT_*; @object_id: 0 for the file */
static inline int ioasid_option_set(int fd, __u32 key, __u32 object_id,
				    __u64 val)
{
	struct ioasid_option cmd = { .argsz = sizeof(cmd), .value = val };

	cmd.flags = IOASID_OPTION_WRITE;
	cmd.key = key;
	cmd.obj_id = object_id;
	return ioasid_do(fd, IOASID_OPTION, &cmd);
}

static inline int ioasid_option_get(int fd, __u32 key, __u32 object_id,
				    __u64 *val)
{
	struct ioasid_option cmd = {
		.argsz = sizeof(cmd),
		.key = key,
		.obj_id = object_id,
	};
	int ret = ioasid_do(fd, IOASID_OPTION, &cmd);

	if (!ret)
		*val = cmd.value;
	return ret;
}

/* A paging HWPT over IOAS @ioas_id, built by device @dev_id's IOMMU */
static inline int hwpt_create_flags(int fd, __u32 dev_id, __u32 ioas_id,
				    __u32 flags, __u32 *hwpt_id)
{
	struct ioasid_hwpt_create cmd = {
		.argsz = sizeof(cmd),
		.flags = flags,
		.kind = IOASID_HWPT_PAGING,
		.dev_id = dev_id,
		.parent_id = ioas_id,
	};
	int ret = ioasid_do(fd, IOASID_HWPT_CREATE, &cmd);

	if (!ret)
		*hwpt_id = cmd.out_hwpt_id;
	return ret;
}

static inline int hwpt_create(int fd, __u32 dev_id, __u32 ioas_id,
			      __u32 *hwpt_id)
{
	return hwpt_create_flags(fd, dev_id, ioas_id, 0, hwpt_id);
}

/* The old name of hwpt_create() */
static inline int hwpt_alloc(int fd, __u32 dev_id, __u32 pt_id,
			     __u32 *hwpt_id)
{
	return hwpt_create(fd, dev_id, pt_id, hwpt_id);
}

/* IOASID_VFIO_IOAS; *@ioas_id is out for QUERY, in for ASSIGN */
static inline int vfio_ioas(int fd, __u32 op, __u32 *ioas_id)
{
	struct ioasid_vfio_ioas cmd = {
		.argsz = sizeof(cmd),
		.op = op,
		.ioas_id = op == IOASID_VFIO_IOAS_ASSIGN ? *ioas_id : 0,
	};
	int ret = ioasid_do(fd, IOASID_VFIO_IOAS, &cmd);

	if (!ret && op == IOASID_VFIO_IOAS_QUERY)
		*ioas_id = cmd.ioas_id;
	return ret;
}

/* Fault queues */

/* A fault queue of @depth records (0: default) and its file */
static inline int faultq_alloc(int fd, __u32 depth, __u32 *id, int *qfd)
{
	struct ioasid_fault_queue_alloc a = {
		.argsz = sizeof(a),
		.depth = depth,
	};
	int ret = ioasid_do(fd, IOASID_FAULT_QUEUE_ALLOC, &a);

	if (!ret) {
		*id = a.out_fault_id;
		*qfd = a.out_fault_fd;
	}
	return ret;
}

/* IOASID_DEVICE_FAULTS; the reply in *@out (may be NULL) */
static inline int device_faults(int fd, __u32 flags, __u32 dev_id,
				__u32 fault_id, __u32 rate, __u32 block_after,
				struct ioasid_device_faults *out)
{
	struct ioasid_device_faults f = {
		.argsz = sizeof(f),
		.flags = flags,
		.dev_id = dev_id,
		.fault_id = fault_id,
		.rate = rate,
		.block_after = block_after,
	};
	int ret = ioasid_do(fd, IOASID_DEVICE_FAULTS, &f);

	if (!ret && out)
		*out = f;
	return ret;
}

/* Records queued now on an O_NONBLOCK queue file: how many, or -errno */
static inline int read_records(int qfd, struct ioasid_fault *recs, int max)
{
	ssize_t n = read(qfd, recs, max * sizeof(*recs));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n / sizeof(*recs);
}

/* IOASID_TEST */

static inline int ioasid_test(int fd, struct ioasid_test_cmd *t)
{
	t->argsz = sizeof(*t);
	return ioasid_do(fd, IOASID_TEST, t);
}

/* Create a mock device attached to @pt_id; @hwpt_id may be NULL */
static inline int mock_device(int fd, __u32 pt_id, __u32 *dev_id,
			      __u32 *hwpt_id)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_MOCK_DEVICE,
		.obj_id = pt_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret) {
		*dev_id = t.mock.out_dev_id;
		if (hwpt_id)
			*hwpt_id = t.mock.out_hwpt_id;
	}
	return ret;
}

/* A mock device whose PASIDs are @bits wide, attached to @pt_id */
static inline int mock_device_bits(int fd, __u32 pt_id, __u32 bits,
				   __u32 *dev_id)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_MOCK_DEVICE,
		.obj_id = pt_id,
		.mock = { .pasid_bits = bits },
	};
	int ret = ioasid_test(fd, &t);

	if (!ret)
		*dev_id = t.mock.out_dev_id;
	return ret;
}

/* Take a PASID for @dev_id from the system's space, for this file */
static inline int pasid_alloc(int fd, __u32 dev_id, __u32 *pasid)
{
	struct ioasid_pasid_alloc a = {
		.argsz = sizeof(a),
		.dev_id = dev_id,
	};
	int ret = ioasid_do(fd, IOASID_PASID_ALLOC, &a);

	if (!ret)
		*pasid = a.pasid;
	return ret;
}

/*
 * Attach (IOASID_TEST_PASID_ATTACH), replace or detach PASID @pasid of mock
 * device @dev_id to @pt_id; the HWPT it ends up on in @hwpt_id (may be NULL)
 */
static inline int pasid_op(int fd, __u32 dev_id, __u32 op, __u32 pasid,
			   __u32 pt_id, __u32 *hwpt_id)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_PASID,
		.obj_id = dev_id,
		.pasid = { .pasid = pasid, .pt_id = pt_id, .op = op },
	};
	int ret = ioasid_test(fd, &t);

	if (!ret && hwpt_id)
		*hwpt_id = t.pasid.out_hwpt_id;
	return ret;
}

/* Move mock device @dev_id to @pt_id; the HWPT it ends up on in @hwpt_id */
static inline int mock_replace(int fd, __u32 dev_id, __u32 pt_id,
			       __u32 *hwpt_id)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_MOCK_MOVE,
		.obj_id = dev_id,
		.move.pt_id = pt_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret && hwpt_id)
		*hwpt_id = t.move.out_hwpt_id;
	return ret;
}

static inline int mock_add_reserved(int fd, __u32 dev_id, __u64 start,
				    __u64 last)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_RESERVE,
		.obj_id = dev_id,
		.resv = { .first = start, .last = last },
	};

	return ioasid_test(fd, &t);
}

/* A reserved region of a given IOASID_TEST_RESV_* type */
static inline int mock_add_reserved_type(int fd, __u32 dev_id, __u64 start,
					 __u64 last, __u32 type)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_RESERVE,
		.obj_id = dev_id,
		.resv = { .first = start, .last = last, .type = type },
	};

	return ioasid_test(fd, &t);
}

/* 0 if every page of [@p, @p + @length) is DMA-pinned @refs times */
static inline int mock_check_refs(int fd, const void *p, __u64 length,
				  __u32 refs)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_PIN_COUNT,
		.pins = {
			.uaddr = (uintptr_t)p,
			.length = length,
			.count = refs,
		},
	};

	return ioasid_test(fd, &t);
}

/*
 * Mock device DMA; *@done gets the bytes moved, on success and also when
 * the DMA faulted (-EFAULT): then the bytes moved before the fault.
 */
static inline int mock_dma_done(int fd, __u32 dev_id, __u64 iova, void *p,
				__u64 length, __u32 dir, __u64 *done)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_DMA,
		.obj_id = dev_id,
		.dma = {
			.iova = iova,
			.uaddr = (uintptr_t)p,
			.length = length,
			.dir = dir,
		},
	};
	int ret = ioasid_test(fd, &t);

	if (!ret || ret == -EFAULT)
		*done = t.dma.out_done;
	return ret;
}

/* Mock device DMA; @done (may be NULL) gets the bytes moved on success */
static inline int mock_dma(int fd, __u32 dev_id, __u64 iova, void *p,
			   __u64 length, __u32 dir, __u64 *done)
{
	__u64 moved = 0;
	int ret = mock_dma_done(fd, dev_id, iova, p, length, dir, &moved);

	if (!ret && done)
		*done = moved;
	return ret;
}

static inline int mock_iopte(int fd, __u32 hwpt_id, __u64 iova,
			     __u64 *page_size, __u64 *phys)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_IOPTE,
		.obj_id = hwpt_id,
		.iopte = { .iova = iova },
	};
	int ret = ioasid_test(fd, &t);

	if (!ret) {
		if (page_size)
			*page_size = t.iopte.out_size;
		if (phys)
			*phys = t.iopte.out_phys;
	}
	return ret;
}

/* IOTLB syncs and map syncs the core asked of HWPT @hwpt_id's mock domain */
static inline int mock_syncs(int fd, __u32 hwpt_id, __u64 *iotlb_syncs,
			     __u64 *map_syncs)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_SYNC_COUNT,
		.obj_id = hwpt_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret) {
		*iotlb_syncs = t.syncs.out_iotlb_syncs;
		*map_syncs = t.syncs.out_map_syncs;
	}
	return ret;
}

/* Pages this file charged to RLIMIT_MEMLOCK and holds pinned */
static inline int mock_accounting(int fd, __u64 *locked, __u64 *pinned)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_CHARGES,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret) {
		if (locked)
			*locked = t.charges.out_locked;
		if (pinned)
			*pinned = t.charges.out_pinned;
	}
	return ret;
}

static inline int mock_charges(int fd, __u64 *locked, __u64 *pinned)
{
	return mock_accounting(fd, locked, pinned);
}

static inline int access_create(int fd, __u32 ioas_id, __u32 *access_id)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_CREATE,
		.obj_id = ioas_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret)
		*access_id = t.access.out_access_id;
	return ret;
}

static inline int access_pin(int fd, __u32 access_id, __u64 iova,
			     __u64 length)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_PIN,
		.obj_id = access_id,
		.access = { .iova = iova, .length = length },
	};

	return ioasid_test(fd, &t);
}

/* Unpin through the access, as given, whatever it pinned */
static inline int access_unpin(int fd, __u32 access_id, __u64 iova,
			       __u64 length)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_UNPIN,
		.obj_id = access_id,
		.access = { .iova = iova, .length = length },
	};

	return ioasid_test(fd, &t);
}

/* The unmap callbacks an access received */
static inline int access_notified(int fd, __u32 access_id, __u64 *calls,
				  __u64 *last_iova, __u64 *last_length,
				  __u64 *max_length)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_NOTIFIED,
		.obj_id = access_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret) {
		*calls = t.notified.out_calls;
		*last_iova = t.notified.out_last_iova;
		*last_length = t.notified.out_last_length;
		*max_length = t.notified.out_max_length;
	}
	return ret;
}

/* The IOMMU_READ (1), IOMMU_WRITE (2), IOMMU_CACHE (4) bits of an IOPTE */
static inline int mock_iopte_prot(int fd, __u32 hwpt_id, __u64 iova,
				  __u32 *prot)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_IOPTE,
		.obj_id = hwpt_id,
		.iopte = { .iova = iova },
	};
	int ret = ioasid_test(fd, &t);

	if (!ret)
		*prot = t.iopte.out_prot;
	return ret;
}

static inline int access_rw(int fd, __u32 access_id, __u64 iova, void *p,
			    __u64 length, __u32 dir)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_RW,
		.obj_id = access_id,
		.access = {
			.iova = iova,
			.uaddr = (uintptr_t)p,
			.length = length,
			.dir = dir,
		},
	};

	return ioasid_test(fd, &t);
}

/* Remove CAP_IPC_LOCK from this process, so that RLIMIT_MEMLOCK applies */
static inline int drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	unsigned int i = CAP_TO_INDEX(CAP_IPC_LOCK);
	__u32 mask = CAP_TO_MASK(CAP_IPC_LOCK);

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[i].effective &= ~mask;
	data[i].permitted &= ~mask;
	data[i].inheritable &= ~mask;
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* VmLck of this process, in kB, or -1 */
static inline long vm_locked_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * A number from the environment variable @env, else from @token=N on the
 * kernel command line, else @def. *@set (may be NULL) tells whether one
 * was given.
 */
static inline __u64 test_param(const char *env, const char *token, __u64 def,
			       bool *set)
{
	const char *e = getenv(env);
	size_t len = strlen(token);
	char line[4096], *p;
	bool unused;
	FILE *f;

	if (!set)
		set = &unused;
	*set = false;
	if (e && *e) {
		*set = true;
		return strtoull(e, NULL, 0);
	}
	f = fopen("/proc/cmdline", "re");
	if (!f)
		return def;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	for (p = strtok(line, "\n "); p; p = strtok(NULL, "\n ")) {
		if (!strncmp(p, token, len) && p[len] == '=') {
			*set = true;
			return strtoull(p + len + 1, NULL, 0);
		}
	}
	return def;
}

/* For user_locked_pages(): the user's locked_vm is measured up to this */
#define PROBE_MEMLOCK		SZ_1G

/*
 * The pages charged to this user's RLIMIT_MEMLOCK, all files and processes
 * together, up to PROBE_MEMLOCK. Measured in a child without CAP_IPC_LOCK:
 * mapping N pages of a PROT_NONE range is charged first (ENOMEM when the
 * user's total would pass the limit) and fails at the pin (EFAULT), so it
 * pins and keeps nothing. Returns -1 when the probe itself fails.
 */
static inline long user_locked_pages(void)
{
	long limit_pages = PROBE_MEMLOCK / SZ_4K;
	int pipefd[2];
	long result = -1;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		struct rlimit rl = { PROBE_MEMLOCK, PROBE_MEMLOCK };
		long lo = 0, hi = limit_pages, val = -1;
		__u32 ioas;
		void *hole;
		int fd;

		close(pipefd[0]);
		hole = mmap(NULL, PROBE_MEMLOCK, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		fd = ioasid_open();
		if (hole == MAP_FAILED || fd < 0 || drop_cap_ipc_lock() ||
		    setrlimit(RLIMIT_MEMLOCK, &rl) || ioas_alloc(fd, &ioas))
			goto out;
		/* The largest n that can still be charged, by bisection */
		while (lo < hi) {
			long mid = (lo + hi + 1) / 2;
			__u64 iova = 0;
			int ret = ioas_map(fd, ioas, hole, mid * SZ_4K, &iova,
					   MAP_READ);

			if (ret == -EFAULT) {
				lo = mid;
			} else if (ret == -ENOMEM) {
				hi = mid - 1;
			} else {
				if (!ret)	/* cannot be: nothing to pin */
					ioas_unmap_all(fd, ioas, NULL);
				goto out;
			}
		}
		val = limit_pages - lo;
out:
		if (write(pipefd[1], &val, sizeof(val)) != sizeof(val))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &result, sizeof(result)) != sizeof(result))
		result = -1;
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	return result;
}

/* What stays locked: for the user (RLIMIT_MEMLOCK) and for this mm */
struct locked_state {
	long user_pages;	/* user_locked_pages(), 0 when not probed */
	long vmlck_kb;		/* vm_locked_kb() */
};

/* Measure *@s; @probe_user: run user_locked_pages() (needs IOASID_TEST) */
static inline void locked_state_get(struct locked_state *s, bool probe_user)
{
	s->vmlck_kb = vm_locked_kb();
	s->user_pages = probe_user ? user_locked_pages() : 0;
}

/*
 * Measure *@after until it matches @before, for up to 5 s: releases may
 * finish a moment after close(). True when it matches.
 */
static inline bool locked_state_settle(const struct locked_state *before,
				       struct locked_state *after,
				       bool probe_user)
{
	int i;

	for (i = 0; i < 50; i++) {
		locked_state_get(after, probe_user);
		if (after->vmlck_kb == before->vmlck_kb &&
		    after->user_pages == before->user_pages)
			return true;
		usleep(100000);
	}
	return false;
}

/* Bad outcomes of a multi-threaded test: counted, the first kept */
struct bad_log {
	unsigned long count;
	char first[512];
	pthread_mutex_t lock;
};

/* Count one; keep the first message, print the first 20 to stderr */
static inline void bad_log_add(struct bad_log *log, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&log->lock);
	if (!log->count++) {
		va_start(ap, fmt);
		vsnprintf(log->first, sizeof(log->first), fmt, ap);
		va_end(ap);
	}
	if (log->count <= 20) {
		va_start(ap, fmt);
		fprintf(stderr, "# BAD: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	pthread_mutex_unlock(&log->lock);
}

/* "# @when: user locked_vm N pages, VmLck N kB" */
static inline void locked_state_print(const char *when,
				      const struct locked_state *s)
{
	printf("# %s: user locked_vm %ld pages, VmLck %ld kB\n", when,
	       s->user_pages, s->vmlck_kb);
}

/* Report to @log what changed from @before to @after */
static inline void locked_state_check(struct bad_log *log,
				      const struct locked_state *before,
				      const struct locked_state *after)
{
	if (after->user_pages != before->user_pages)
		bad_log_add(log, "the user's locked_vm went from %ld to %ld pages",
			    before->user_pages, after->user_pages);
	if (after->vmlck_kb != before->vmlck_kb)
		bad_log_add(log, "VmLck went from %ld to %ld kB",
			    before->vmlck_kb, after->vmlck_kb);
}

/* Print the kernel stack of every thread of this process to stderr */
static inline void dump_task_stacks(pid_t pid)
{
	char path[PATH_MAX], line[256];
	struct dirent *ent;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid ? pid : getpid());
	d = opendir(path);
	if (!d)
		return;
	while ((ent = readdir(d)) != NULL) {
		if (ent->d_name[0] == '.')
			continue;
		fprintf(stderr, "# task %s, kernel stack:\n", ent->d_name);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack",
			 pid ? pid : getpid(), ent->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			fprintf(stderr, "#   %s", line);
		fclose(f);
	}
	closedir(d);
}

/* CLOCK_MONOTONIC in ns */
static inline __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The name of errno @e (0 is "0"), for logs and histograms */
static inline const char *errname(int e)
{
	static __thread char other[24];

	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EADDRINUSE: return "EADDRINUSE";
	case EMSGSIZE: return "EMSGSIZE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EBADFD: return "EBADFD";
	}
	snprintf(other, sizeof(other), "errno%d", e);
	return other;
}

/*
 * Whether the /dev/ioasid core serves /dev/vfio/vfio (booted with
 * ioasid.vfio_container=1). That node answers only VFIO's container
 * ioctls, so its own answers cannot tell.
 */
static inline bool vfio_container_is_core(void)
{
	char c = 0;
	int fd = open("/sys/module/ioasid/parameters/vfio_container",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == '1';
}

/*
 * 0 when /dev/ioasid and its test ioctl can be used, otherwise a reason to
 * skip (a static string).
 */
static inline const char *ioasid_unusable(void)
{
	int fd = ioasid_open();
	int ret;

	if (fd == -ENOENT || fd == -ENODEV || fd == -ENXIO)
		return IOASID_DEV_PATH " is missing";
	if (fd < 0)
		return NULL;	/* let the caller's own open() report it */
	ret = mock_accounting(fd, NULL, NULL);
	close(fd);
	if (ret == -ENOTTY)
		return "IOASID_TEST unsupported (CONFIG_IOASID_TEST off)";
	return NULL;
}

/* Does [start, start + len) fit in one usable range of the IOAS? */
static inline bool iova_usable(const struct ioasid_iova_range *r, __u32 n,
			       __u64 start, __u64 len)
{
	__u32 i;

	for (i = 0; i < n; i++)
		if (start >= r[i].first && start + len - 1 <= r[i].last)
			return true;
	return false;
}

/* Index of the first byte that is not @val, or -1 */
static inline long check_fill(const void *p, size_t length, unsigned char val)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < length; i++)
		if (c[i] != val)
			return i;
	return -1;
}

static inline long read_long_file(const char *path)
{
	char buf[64] = {};
	long val = -1;
	int fd, n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		val = strtol(buf, NULL, 0);
	return val;
}

static inline int write_string_file(const char *path, const char *s)
{
	ssize_t n, len = strlen(s);
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n == len ? 0 : (n < 0 ? (int)n : -EIO);
}

static inline int write_long_file(const char *path, long val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", val);
	return write_string_file(path, buf);
}

/*
 * Make the fault_attr "fail_ioasid" fire only through fail-nth, silently.
 * In lib/fault-inject.c should_fail() consults the task's fail-nth before
 * anything else and fails the Nth call outright, whatever probability,
 * interval, times or space say; with probability 0 nothing else fires it.
 * Only the messages and stack dumps (verbose, 2 by default) need turning
 * off. Returns 0, or -errno: -ENOENT when the kernel has no fail_ioasid
 * (or debugfs is not mounted and cannot be).
 */
static inline int fail_ioasid_setup(void)
{
	int ret;

	if (access(FAIL_IOASID_DIR, F_OK)) {
		if (access(DEBUGFS_MNT "/.", F_OK) == 0)
			mount("debugfs", DEBUGFS_MNT, "debugfs", 0, NULL);
		if (access(FAIL_IOASID_DIR, F_OK))
			return -ENOENT;
	}
	ret = write_string_file(FAIL_IOASID_DIR "/probability", "0");
	if (!ret)
		ret = write_string_file(FAIL_IOASID_DIR "/verbose", "0");
	/*
	 * Every injection, fail-nth's too, decrements "times" unless it is -1;
	 * with probability 0 it gates nothing, so a large count lets a test
	 * tell (fail_ioasid_fired()) whether fail_ioasid or another fault_attr
	 * took the fault.
	 */
	if (!ret)
		ret = write_long_file(FAIL_IOASID_DIR "/times", FAIL_IOASID_TIMES);
	return ret;
}

/* Injections fail_ioasid made since fail_ioasid_setup(), or -errno */
static inline long fail_ioasid_fired(void)
{
	long left = read_long_file(FAIL_IOASID_DIR "/times");

	return left < 0 ? -EIO : FAIL_IOASID_TIMES - left;
}

/* Open this thread's fail-nth file; the descriptor, or -errno */
static inline int fail_nth_open(void)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Make the @nth fault injection site this thread reaches fail; 0 disarms */
static inline int fail_nth_arm(int nth_fd, unsigned int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", nth);

	return pwrite(nth_fd, buf, len, 0) == len ? 0 : -errno;
}

/*
 * How many sites are left before the armed one (0: it fired, or nothing
 * was armed), or -errno.
 */
static inline long fail_nth_left(int nth_fd)
{
	char buf[32] = {};
	ssize_t n = pread(nth_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	return strtol(buf, NULL, 10);
}

static inline int fail_nth_disarm(int nth_fd)
{
	/* with fault injection in user copies, disarming can fail once */
	if (!fail_nth_arm(nth_fd, 0))
		return 0;
	return fail_nth_arm(nth_fd, 0);
}

#define NR_HUGEPAGES_PATH	"/proc/sys/vm/nr_hugepages"
#define FREE_HUGEPAGES_2M_PATH \
	"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/*
 * Make sure @want free 2M huge pages exist, growing the pool if needed.
 * Returns the pool size to restore later (-1: nothing changed), or -2 if
 * the pages cannot be had.
 */
static inline long hugetlb_reserve(long want)
{
	long nr, free_pages;

	free_pages = read_long_file(FREE_HUGEPAGES_2M_PATH);
	if (free_pages >= want)
		return -1;
	nr = read_long_file(NR_HUGEPAGES_PATH);
	if (nr < 0 || free_pages < 0)
		return -2;
	if (write_long_file(NR_HUGEPAGES_PATH, nr + want - free_pages)) {
		write_long_file(NR_HUGEPAGES_PATH, nr);
		return -2;
	}
	if (read_long_file(FREE_HUGEPAGES_2M_PATH) < want) {
		write_long_file(NR_HUGEPAGES_PATH, nr);
		return -2;
	}
	return nr;
}

#endif
