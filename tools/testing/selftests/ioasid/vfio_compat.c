// SPDX-License-Identifier: GPL-2.0-only
/*
 * The legacy VFIO type1 container served by the /dev/ioasid core, checked
 * against the stock VFIO type1 container of the same kernel. QEMU's edu
 * device, bound to vfio-pci, supplies the IOMMU group and the DMA.
 *
 * compat_table: every case is one container ioctl with fixed inputs, run
 * on a fresh /dev/vfio/vfio container and on a fresh /dev/ioasid file,
 * each brought to the same state first (group set, SET_IOMMU, device
 * open, a mapping, dirty tracking on, ...). One line per case shows both
 * results next to what 6.1's drivers/vfio/container.c and
 * vfio_iommu_type1.c return for those inputs. In a boot with
 * ioasid.vfio_container=1 the core serves /dev/vfio/vfio as well; both
 * columns are then held to the expected values only.
 *
 * Deliberate differences of the core, expected here on purpose:
 *  (a) type1 v1 unmap of part of a mapping: type1 returns size 0 for a
 *      range starting inside a mapping and drops whole mappings whose
 *      first IOVA is in the range; the core unmaps exactly the range.
 *  (b) the core lets a group's device be opened before VFIO_SET_IOMMU.
 *
 * compat_edu: real edu DMA through MAP_DMA/UNMAP_DMA mappings, for both
 * container files and both type1 versions.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <linux/vfio.h>

#include "ioasid_utils.h"
#include "edu.h"
#include "vfio_cdev.h"

/* TEST() bodies of the 6.1 harness leave their variant unused */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define VFIO_CONTAINER_PATH	"/dev/vfio/vfio"

#define PG			SZ_4K
#define MAP_LEN			(4 * SZ_4K)	/* the mapping of a table case */
#define BUF_SIZE		SZ_64K
#define BUF_PAGES		(BUF_SIZE / PG)
#define DMA_LEN			EDU_TEST_DMA_LEN
#define SENTINEL		0x5a

#define RW			(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)
#define UNMAP_ALL		VFIO_DMA_UNMAP_FLAG_ALL
#define UNMAP_VADDR		VFIO_DMA_UNMAP_FLAG_VADDR
#define UNMAP_DIRTY		VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
#define DIRTY_START		VFIO_IOMMU_DIRTY_PAGES_FLAG_START
#define DIRTY_STOP		VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP
#define DIRTY_GET		VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP

/* IOVA picking: X low, Y far above it (and above guest RAM if it can) */
#define IOVA_ALIGN		SZ_1M
#define X_MIN			SZ_1M
#define X_SPAN			SZ_1M
#define Y_MIN			0x200000000ULL
#define MSI_START		0xfee00000ULL
#define MSI_LAST		0xfeefffffULL

#define MAX_RANGES		32
/* type1's default dma_entry_limit, the core's default too */
#define DMA_ENTRY_LIMIT		65535
#define TYPE1_LIMIT_PARAM \
	"/sys/module/vfio_iommu_type1/parameters/dma_entry_limit"
#define CORE_LIMIT_PARAM	"/sys/module/ioasid/parameters/dma_entry_limit"
/* The limit compat_edu sets v2 containers up with: a thousand maps reach it */
#define TEST_ENTRY_LIMIT	1024

#define NO_EDU_REASON		"needs an edu device (1234:11e8) bound to vfio-pci"

/* VFIO_IOMMU_DIRTY_PAGES with GET_BITMAP: the header and its payload */
struct dirty_get {
	__u32 argsz;
	__u32 flags;
	struct vfio_iommu_type1_dirty_bitmap_get get;
};

/* VFIO_IOMMU_UNMAP_DMA with GET_DIRTY_BITMAP: the bitmap follows */
struct unmap_bitmap {
	__u32 argsz;
	__u32 flags;
	__u64 iova;
	__u64 size;
	struct vfio_bitmap bitmap;
};

/* What VFIO_IOMMU_GET_INFO reports, capabilities parsed */
struct compat_info {
	__u32 flags;
	__u64 pgsizes;
	__u32 nr_ranges;
	struct vfio_iova_range ranges[MAX_RANGES];
	bool has_migration;
	__u32 mig_flags;
	__u64 mig_pgsizes;
	__u64 mig_max_bitmap;
	bool has_avail;
	__u32 avail;
};

/* ioctl wrappers: 0 or -errno */

static int vfio_map(int fd, __u32 flags, __u64 vaddr, __u64 iova, __u64 size)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };

	map.flags = flags;
	map.vaddr = vaddr;
	map.iova = iova;
	map.size = size;

	return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int vfio_map_rw(int fd, const void *va, __u64 iova, __u64 size)
{
	return vfio_map(fd, RW, (uintptr_t)va, iova, size);
}

/* *@unmapped (may be NULL) gets the bytes unmapped, on success only */
static int vfio_unmap(int fd, __u32 flags, __u64 iova, __u64 size,
		      __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = size,
	};

	if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	if (unmapped)
		*unmapped = unmap.size;
	return 0;
}

/* UNMAP_DMA with GET_DIRTY_BITMAP at 4K granularity */
static int vfio_unmap_dirty(int fd, __u64 iova, __u64 size, __u64 *bitmap,
			    __u64 bitmap_bytes, __u64 *unmapped)
{
	struct unmap_bitmap u = { .argsz = sizeof(u), .flags = UNMAP_DIRTY };

	u.iova = iova;
	u.size = size;
	u.bitmap.pgsize = PG;
	u.bitmap.size = bitmap_bytes;
	u.bitmap.data = bitmap;
	if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u))
		return -errno;
	*unmapped = u.size;
	return 0;
}

static int vfio_dirty(int fd, __u32 flags)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d),
		.flags = flags,
	};

	return ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, &d) ? -errno : 0;
}

static int vfio_dirty_get(int fd, __u64 iova, __u64 size, __u64 *bitmap,
			  __u64 bitmap_bytes)
{
	struct dirty_get d = { .argsz = sizeof(d), .flags = DIRTY_GET };

	d.get.iova = iova;
	d.get.size = size;
	d.get.bitmap.pgsize = PG;
	d.get.bitmap.size = bitmap_bytes;
	d.get.bitmap.data = bitmap;
	return ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, &d) ? -errno : 0;
}

/* GET_INFO capabilities */

static int info_cap_iova(const char *buf, __u32 size, __u32 off,
			 struct compat_info *ci)
{
	const struct vfio_iommu_type1_info_cap_iova_range *cap =
		(const void *)(buf + off);

	if (size - off < sizeof(*cap) ||
	    (size - off - sizeof(*cap)) / sizeof(cap->iova_ranges[0]) <
	    cap->nr_iovas)
		return -EPROTO;
	if (cap->nr_iovas > MAX_RANGES)
		return -E2BIG;
	ci->nr_ranges = cap->nr_iovas;
	memcpy(ci->ranges, cap->iova_ranges,
	       cap->nr_iovas * sizeof(cap->iova_ranges[0]));
	return 0;
}

static int info_cap_migration(const char *buf, __u32 size, __u32 off,
			      struct compat_info *ci)
{
	const struct vfio_iommu_type1_info_cap_migration *cap =
		(const void *)(buf + off);

	if (size - off < sizeof(*cap))
		return -EPROTO;
	ci->has_migration = true;
	ci->mig_flags = cap->flags;
	ci->mig_pgsizes = cap->pgsize_bitmap;
	ci->mig_max_bitmap = cap->max_dirty_bitmap_size;
	return 0;
}

static int info_cap_avail(const char *buf, __u32 size, __u32 off,
			  struct compat_info *ci)
{
	const struct vfio_iommu_type1_info_dma_avail *cap =
		(const void *)(buf + off);

	if (size - off < sizeof(*cap))
		return -EPROTO;
	ci->has_avail = true;
	ci->avail = cap->avail;
	return 0;
}

/*
 * Walk the capability chain of a GET_INFO answer of @size bytes. Each
 * known capability must appear once, inside the buffer, version 1.
 */
static int info_walk_caps(const char *buf, __u32 size, __u32 off,
			  struct compat_info *ci)
{
	const struct vfio_info_cap_header *hdr;
	unsigned int seen = 0, hops;
	int ret = 0;

	for (hops = 0; off && !ret; hops++, off = hdr->next) {
		if (hops > 16 || off < sizeof(struct vfio_iommu_type1_info) ||
		    off > size || size - off < sizeof(*hdr) || off % 4)
			return -EPROTO;
		hdr = (const void *)(buf + off);
		if (hdr->id < 32 && (seen & (1U << hdr->id)))
			return -EPROTO;
		if (hdr->id < 32)
			seen |= 1U << hdr->id;
		switch (hdr->id) {
		case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
			ret = hdr->version == 1 ?
			      info_cap_iova(buf, size, off, ci) : -EPROTO;
			break;
		case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION:
			ret = hdr->version == 1 ?
			      info_cap_migration(buf, size, off, ci) : -EPROTO;
			break;
		case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
			ret = hdr->version == 1 ?
			      info_cap_avail(buf, size, off, ci) : -EPROTO;
			break;
		}
	}
	return ret;
}

/* GET_INFO with as much room as the answer needs, caps parsed into @ci */
static int compat_get_info(int fd, struct compat_info *ci)
{
	struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
	struct vfio_iommu_type1_info *info;
	__u32 need;
	int ret;

	memset(ci, 0, sizeof(*ci));
	if (ioctl(fd, VFIO_IOMMU_GET_INFO, &probe))
		return -errno;
	need = probe.argsz > sizeof(probe) ? probe.argsz : sizeof(probe);
	if (need > SZ_64K)
		return -E2BIG;
	info = calloc(1, need);
	if (!info)
		return -ENOMEM;
	info->argsz = need;
	ret = ioctl(fd, VFIO_IOMMU_GET_INFO, info) ? -errno : 0;
	if (!ret && info->argsz > need)
		ret = -EAGAIN;		/* the answer grew between the calls */
	if (!ret) {
		ci->flags = info->flags;
		ci->pgsizes = info->iova_pgsizes;
		if (info->flags & VFIO_IOMMU_INFO_CAPS)
			ret = info_walk_caps((const char *)info, need,
					     info->cap_offset, ci);
	}
	free(info);
	return ret;
}

static bool iova_in_ranges(const struct compat_info *ci, __u64 iova,
			   __u64 len)
{
	__u32 i;

	for (i = 0; i < ci->nr_ranges; i++)
		if (iova >= ci->ranges[i].start && iova <= ci->ranges[i].end &&
		    ci->ranges[i].end - iova >= len - 1)
			return true;
	return false;
}

/*
 * Lowest IOVA_ALIGN-aligned IOVA >= @min such that [iova, iova + @len) is
 * inside one valid range and clear of the MSI window. 0 when none.
 */
static __u64 pick_iova(const struct compat_info *ci, __u64 min, __u64 len)
{
	__u64 start;
	__u32 i;

	for (i = 0; i < ci->nr_ranges; i++) {
		start = ci->ranges[i].start > min ? ci->ranges[i].start : min;
		if (start > ~0ULL - IOVA_ALIGN)
			continue;
		start = (start + IOVA_ALIGN - 1) & ~(__u64)(IOVA_ALIGN - 1);
		if (start <= MSI_LAST && start + len - 1 >= MSI_START)
			start = MSI_LAST + 1;
		if (start > ci->ranges[i].end ||
		    ci->ranges[i].end - start < len - 1)
			continue;
		return start;
	}
	return 0;
}

/* An IOVA the IOVA range capability leaves out: MSI window, else a gap */
static bool pick_reserved(const struct compat_info *ci, __u64 *iova)
{
	__u64 gap;
	__u32 i;

	if (!ci->nr_ranges)
		return false;
	if (!iova_in_ranges(ci, MSI_START, PG)) {
		*iova = MSI_START;
		return true;
	}
	for (i = 0; i + 1 < ci->nr_ranges; i++) {
		if (ci->ranges[i].end >= ~0ULL - PG)
			break;
		gap = (ci->ranges[i].end + PG) & ~(__u64)(PG - 1);
		if (gap < ci->ranges[i + 1].start &&
		    !iova_in_ranges(ci, gap, PG)) {
			*iova = gap;
			return true;
		}
	}
	return false;
}

/* The first page above every valid range, if the ranges leave one */
static bool pick_beyond(const struct compat_info *ci, __u64 *iova)
{
	__u64 last = 0;
	__u32 i;

	if (!ci->nr_ranges)
		return false;
	for (i = 0; i < ci->nr_ranges; i++)
		if (ci->ranges[i].end > last)
			last = ci->ranges[i].end;
	if (last >= ~0ULL - 2 * PG)
		return false;
	*iova = (last + PG) & ~(__u64)(PG - 1);
	return true;
}

/* Whether the file at @path is served by the /dev/ioasid core */
static bool served_by_core(const char *path)
{
	struct ioasid_ioas_create cmd = { .argsz = sizeof(cmd) };
	bool core;
	int fd;

	if (!strcmp(path, VFIO_CONTAINER_PATH))
		return vfio_container_is_core();
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	core = !ioctl(fd, IOASID_IOAS_CREATE, &cmd);
	close(fd);
	return core;
}

/* An edu bound to vfio-pci: 0 with its BDF and group, or a skip reason */
static const char *find_edu(char *bdf, size_t len, int *group)
{
	char driver[64];

	if (edu_find(bdf, len))
		return NO_EDU_REASON;
	if (edu_bound_driver(bdf, driver, sizeof(driver)) ||
	    strcmp(driver, "vfio-pci"))
		return NO_EDU_REASON;
	*group = edu_iommu_group(bdf);
	if (*group < 0)
		return "the edu device has no IOMMU group";
	return NULL;
}

/*
 * Part A: the table
 */

enum compat_section {
	SEC_EXTENSION,
	SEC_SET_IOMMU,
	SEC_GET_INFO,
	SEC_MAP_DMA,
	SEC_UNMAP_DMA,
	SEC_DIRTY_PAGES,
	SEC_UPDATE_VADDR,
	SEC_GROUP,
};

/* Setup steps, done in this order */
#define SU_GROUP	0x01	/* VFIO_GROUP_SET_CONTAINER */
#define SU_V1		0x02	/* VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) */
#define SU_V2		0x04	/* VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU) */
#define SU_DEV		0x08	/* VFIO_GROUP_GET_DEVICE_FD, see below */
#define SU_MAP		0x10	/* MAP_LEN of buf mapped read-write at X */
#define SU_DIRTY	0x20	/* DIRTY_PAGES START */
#define SU_VINV		0x40	/* UNMAP_DMA FLAG_VADDR of the mapping */

/*
 * type1 attaches the group to its domain at SET_IOMMU, whether a device is
 * open or not. Opening the device costs a PCI reset each way, about a
 * second on the debug kernel, so only the cases the device may matter for
 * open it: IOVA ranges, pinning at MAP_DMA, dirty bitmaps, DMA_CC_IOMMU.
 */
#define S_NONE		0
#define S_GROUP		SU_GROUP
#define S_V1		(SU_GROUP | SU_V1)
#define S_V2		(SU_GROUP | SU_V2)
#define S_V1D		(S_V1 | SU_DEV)
#define S_V2D		(S_V2 | SU_DEV)
#define S_V1M		(S_V1 | SU_MAP)
#define S_V2M		(S_V2 | SU_MAP)
#define S_V2MD		(S_V2M | SU_DIRTY)
#define S_V1MI		(S_V1M | SU_VINV)
#define S_V2MI		(S_V2M | SU_VINV)
#define S_V2DMD		(S_V2MD | SU_DEV)

enum compat_op {
	OP_API,		/* VFIO_GET_API_VERSION */
	OP_EXT,		/* VFIO_CHECK_EXTENSION(arg) */
	OP_SET_IOMMU,	/* VFIO_SET_IOMMU(arg) */
	OP_INFO,	/* VFIO_IOMMU_GET_INFO with argsz arg */
	OP_MAP,		/* VFIO_IOMMU_MAP_DMA */
	OP_MAP_PARTIAL,	/* MAP_DMA of memory backed in its first page only */
	OP_UNMAP,	/* VFIO_IOMMU_UNMAP_DMA */
	OP_DIRTY,	/* VFIO_IOMMU_DIRTY_PAGES */
	OP_DEVICE,	/* VFIO_GROUP_GET_DEVICE_FD */
	OP_UNKNOWN,	/* VFIO_IOMMU_ENABLE, an sPAPR-only container ioctl */
};

/* GET_INFO argsz: ask first, then give exactly what was asked for */
#define INFO_NEEDED	0xffffffffUL
/* GET_INFO as needed; outputs: a hash of the IOVA ranges, their number */
#define INFO_RANGES	0xfffffffeUL

enum iova_sel {
	IV_X,		/* X + ioff */
	IV_Y,		/* Y + ioff, never mapped in a table case */
	IV_ABS,		/* ioff itself */
	IV_RESV,	/* left out of the IOVA range capability */
	IV_BEYOND,	/* above every valid range (n/a if none) */
};

enum va_sel {
	VA_BUF,		/* buf + voff */
	VA_BUF2,	/* buf2 + voff */
	VA_RO,		/* read-only populated memory + voff */
	VA_ABS,		/* voff itself */
	VA_UNBACKED,	/* an address with no VMA */
};

enum out_kind {
	OUT_NONE,	/* just the errno */
	OUT_RET,	/* the ioctl's return value */
	OUT_VAL,	/* one output: unmapped size, bitmap word, ... */
	OUT_VAL2,	/* two outputs: unmapped size and bitmap word */
};

struct compat_case {
	enum compat_section sec;
	const char *name;
	unsigned int setup;
	enum compat_op op;
	unsigned long arg;
	__u32 flags;
	bool argsz_set;
	__u32 argsz;
	enum iova_sel isel;
	__s64 ioff;
	enum va_sel vsel;
	__u64 voff;
	__u64 size;
	__u64 bm_pgsize;	/* 0: 4K pages, an 8-byte bitmap */
	__u64 bm_bytes;
	/* expected, from the 6.1 type1 source */
	int err;		/* 0 or a positive errno */
	enum out_kind out;
	__u64 val;
	__u64 val2;
	bool iommu_dep;		/* output depends on the IOMMU: columns agree */
	/* the core's deliberate difference, when split */
	bool split;
	int core_err;
	__u64 core_val;
	__u64 core_val2;
};

#define CASE(_sec, _name, _setup, _op) \
	.sec = (_sec), .name = (_name), .setup = (_setup), .op = (_op)
#define ARGSZ(_n)	.argsz_set = true, .argsz = (_n)
#define BITMAP(_pg, _b)	.bm_pgsize = (_pg), .bm_bytes = (_b)
#define VAL(_v)		.out = OUT_VAL, .val = (_v)
#define VAL2(_v, _w)	.out = OUT_VAL2, .val = (_v), .val2 = (_w)
#define RET(_v)		.out = OUT_RET, .val = (_v)

struct compat_res {
	int err;
	__u64 out;
	__u64 out2;
	bool na;		/* the case has no meaning here (see IV_BEYOND) */
	const char *setup_step;	/* set when the setup failed */
	int setup_err;
	const char *bad;	/* a post-condition the op checks failed */
};

struct compat_col {
	const char *path;
	const char *label;
	bool core;
};

struct compat_env {
	char bdf[32];
	int group;
	void *buf;	/* BUF_SIZE read-write, populated */
	void *buf2;	/* BUF_SIZE read-write, populated: another vaddr */
	void *ro;	/* MAP_LEN populated, then made read-only */
};

struct compat_ctx {
	int fd;
	int group_fd;
	int dev_fd;
	__u64 x;
	__u64 y;
	__u64 resv;
	__u64 beyond;
	bool have_resv;
	bool have_beyond;
};

static const struct compat_case compat_cases[] = {
	/* container.c: no driver yet, everything but three ioctls is EINVAL */
	{ CASE(SEC_EXTENSION, "GET_API_VERSION", S_NONE, OP_API), RET(0) },
	{ CASE(SEC_EXTENSION, "GET_API_VERSION", S_V2, OP_API), RET(0) },

	/* vfio_ioctl_set_iommu() */
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v2, no group", S_NONE, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1v2_IOMMU, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v1, no group", S_NONE, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1_IOMMU, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU 0x7f, no group", S_NONE, OP_SET_IOMMU),
	  .arg = 0x7f, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v2", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1v2_IOMMU },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v1", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1_IOMMU },
	/* no driver claims the type: ret stays -ENODEV */
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU type 0", S_GROUP, OP_SET_IOMMU),
	  .arg = 0, .err = ENODEV },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU type 0x7f", S_GROUP, OP_SET_IOMMU),
	  .arg = 0x7f, .err = ENODEV },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU SPAPR_TCE", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_SPAPR_TCE_IOMMU, .err = ENODEV },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU DMA_CC_IOMMU", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_DMA_CC_IOMMU, .err = ENODEV },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU NOIOMMU", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_NOIOMMU_IOMMU, .err = ENODEV },
	/* type1 has no emulated group: check_extension(NULL, ..) says 0 */
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU UPDATE_VADDR", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_UPDATE_VADDR, .err = ENODEV },
	/* check_extension says yes, type1's open() then says -EINVAL */
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU UNMAP_ALL", S_GROUP, OP_SET_IOMMU),
	  .arg = VFIO_UNMAP_ALL, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v2 twice", S_V2, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1v2_IOMMU, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v1 after v2", S_V2, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1_IOMMU, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v2 after v1", S_V1, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1v2_IOMMU, .err = EINVAL },
	{ CASE(SEC_SET_IOMMU, "SET_IOMMU v2, device open", S_V2D, OP_SET_IOMMU),
	  .arg = VFIO_TYPE1v2_IOMMU, .err = EINVAL },

	/* vfio_iommu_type1_get_info(): minsz 16, cap_offset from 20 on */
	{ CASE(SEC_GET_INFO, "GET_INFO, no group", S_NONE, OP_INFO),
	  .arg = INFO_NEEDED, .err = EINVAL },
	{ CASE(SEC_GET_INFO, "GET_INFO before SET_IOMMU", S_GROUP, OP_INFO),
	  .arg = INFO_NEEDED, .err = EINVAL },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 0", S_V2, OP_INFO),
	  .arg = 0, .err = EINVAL },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 15", S_V2, OP_INFO),
	  .arg = 15, .err = EINVAL },
	/* the output is a mask of broken promises, see info_check() */
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 16", S_V2, OP_INFO),
	  .arg = 16, VAL(0) },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 20", S_V2, OP_INFO),
	  .arg = 20, VAL(0) },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 24 = sizeof(info)", S_V2, OP_INFO),
	  .arg = sizeof(struct vfio_iommu_type1_info), VAL(0) },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz as needed", S_V2, OP_INFO),
	  .arg = INFO_NEEDED, VAL(0) },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz 4096", S_V2, OP_INFO),
	  .arg = 4096, VAL(0) },
	{ CASE(SEC_GET_INFO, "GET_INFO argsz as needed", S_V1D, OP_INFO),
	  .arg = INFO_NEEDED, VAL(0) },
	/* aperture minus the group's reserved regions: same in both */
	{ CASE(SEC_GET_INFO, "GET_INFO IOVA ranges (hash, nr)", S_V2D, OP_INFO),
	  .arg = INFO_RANGES, .out = OUT_VAL2, .iommu_dep = true },
	/* type1 knows the group's reserved regions from SET_IOMMU on */
	{ CASE(SEC_GET_INFO, "GET_INFO IOVA ranges (hash, nr)", S_V1, OP_INFO),
	  .arg = INFO_RANGES, .out = OUT_VAL2, .iommu_dep = true },

	/* container.c passes MAP_DMA to a driver only after SET_IOMMU */
	{ CASE(SEC_MAP_DMA, "MAP_DMA, no group", S_NONE, OP_MAP),
	  .flags = RW, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA before SET_IOMMU", S_GROUP, OP_MAP),
	  .flags = RW, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA", S_V2, OP_MAP),
	  .flags = RW, .size = MAP_LEN },
	{ CASE(SEC_MAP_DMA, "MAP_DMA", S_V1D, OP_MAP),
	  .flags = RW, .size = MAP_LEN },
	/* vfio_iommu_type1_map_dma(): minsz 32, flags mask */
	{ CASE(SEC_MAP_DMA, "MAP_DMA argsz 0", S_V2, OP_MAP),
	  .flags = RW, .size = MAP_LEN, ARGSZ(0), .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA argsz 31", S_V2, OP_MAP),
	  .flags = RW, .size = MAP_LEN, ARGSZ(31), .err = EINVAL },
	/* bytes past minsz are never read */
	{ CASE(SEC_MAP_DMA, "MAP_DMA argsz 64, junk after", S_V2, OP_MAP),
	  .flags = RW, .size = MAP_LEN, ARGSZ(64) },
	{ CASE(SEC_MAP_DMA, "MAP_DMA flag 1<<3", S_V2, OP_MAP),
	  .flags = RW | 0x8, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA flag 1<<31", S_V2, OP_MAP),
	  .flags = RW | 0x80000000U, .size = MAP_LEN, .err = EINVAL },
	/* vfio_dma_do_map(): prot xor VADDR, then alignment and wrap */
	{ CASE(SEC_MAP_DMA, "MAP_DMA no READ/WRITE", S_V2, OP_MAP),
	  .flags = 0, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA WRITE only", S_V2, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_WRITE, .size = MAP_LEN },
	{ CASE(SEC_MAP_DMA, "MAP_DMA READ only", S_V2, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_READ, .size = MAP_LEN },
	{ CASE(SEC_MAP_DMA, "MAP_DMA READ|VADDR", S_V2, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_VADDR,
	  .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA size 0", S_V2, OP_MAP),
	  .flags = RW, .size = 0, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA iova unaligned", S_V2, OP_MAP),
	  .flags = RW, .ioff = 0x800, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA vaddr unaligned", S_V2, OP_MAP),
	  .flags = RW, .voff = 0x800, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA size unaligned", S_V2, OP_MAP),
	  .flags = RW, .size = 0x1800, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA iova+size wraps", S_V2, OP_MAP),
	  .flags = RW, .isel = IV_ABS, .ioff = -(__s64)PG, .size = 2 * PG,
	  .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA vaddr+size wraps", S_V2, OP_MAP),
	  .flags = RW, .vsel = VA_ABS, .voff = ~0ULL - PG + 1,
	  .size = 2 * PG, .err = EINVAL },
	/* vfio_find_dma() of any overlap */
	{ CASE(SEC_MAP_DMA, "MAP_DMA same range as a mapping", S_V2M, OP_MAP),
	  .flags = RW, .size = MAP_LEN, .err = EEXIST },
	{ CASE(SEC_MAP_DMA, "MAP_DMA over a mapping's tail", S_V2M, OP_MAP),
	  .flags = RW, .ioff = PG, .size = MAP_LEN, .err = EEXIST },
	{ CASE(SEC_MAP_DMA, "MAP_DMA over a mapping's head", S_V2M, OP_MAP),
	  .flags = RW, .ioff = -(__s64)PG, .size = 2 * PG, .err = EEXIST },
	{ CASE(SEC_MAP_DMA, "MAP_DMA inside a mapping", S_V2M, OP_MAP),
	  .flags = RW, .ioff = PG, .size = PG, .err = EEXIST },
	{ CASE(SEC_MAP_DMA, "MAP_DMA over a mapping's tail", S_V1M, OP_MAP),
	  .flags = RW, .ioff = PG, .size = MAP_LEN, .err = EEXIST },
	{ CASE(SEC_MAP_DMA, "MAP_DMA right after a mapping", S_V2M, OP_MAP),
	  .flags = RW, .ioff = MAP_LEN, .size = PG },
	{ CASE(SEC_MAP_DMA, "MAP_DMA overlap + flag 1<<3", S_V2M, OP_MAP),
	  .flags = RW | 0x8, .size = MAP_LEN, .err = EINVAL },
	/* vfio_iommu_iova_dma_valid() */
	{ CASE(SEC_MAP_DMA, "MAP_DMA reserved IOVA", S_V2D, OP_MAP),
	  .flags = RW, .isel = IV_RESV, .size = PG, .err = EINVAL },
	/* type1 knows the group's reserved regions from SET_IOMMU on */
	{ CASE(SEC_MAP_DMA, "MAP_DMA reserved IOVA", S_V1, OP_MAP),
	  .flags = RW, .isel = IV_RESV, .size = PG, .err = EINVAL },
	{ CASE(SEC_MAP_DMA, "MAP_DMA IOVA above all ranges", S_V2D, OP_MAP),
	  .flags = RW, .isel = IV_BEYOND, .size = PG, .err = EINVAL },
	/* vaddr_get_pfns(): nothing to pin and no VM_PFNMAP vma */
	{ CASE(SEC_MAP_DMA, "MAP_DMA unbacked vaddr", S_V2D, OP_MAP),
	  .flags = RW, .vsel = VA_UNBACKED, .size = MAP_LEN, .err = EFAULT },
	{ CASE(SEC_MAP_DMA, "MAP_DMA unbacked vaddr", S_V1, OP_MAP),
	  .flags = RW, .vsel = VA_UNBACKED, .size = MAP_LEN, .err = EFAULT },
	{ CASE(SEC_MAP_DMA, "MAP_DMA unbacked, reserved IOVA", S_V2D, OP_MAP),
	  .flags = RW, .isel = IV_RESV, .vsel = VA_UNBACKED, .size = PG,
	  .err = EINVAL },
	/* the core pins first: a pin that fails still says what type1 says */
	{ CASE(SEC_MAP_DMA, "MAP_DMA unbacked, over a mapping", S_V2M, OP_MAP),
	  .flags = RW, .ioff = PG, .vsel = VA_UNBACKED, .size = PG,
	  .err = EEXIST },
	/* the pin fails part way: the whole mapping is undone */
	{ CASE(SEC_MAP_DMA, "MAP_DMA only 1st page backed", S_V2D,
	       OP_MAP_PARTIAL),
	  .flags = RW, .size = MAP_LEN, .err = EFAULT },
	/* FOLL_WRITE only when the device may write */
	{ CASE(SEC_MAP_DMA, "MAP_DMA read-only memory, READ", S_V2, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_READ, .vsel = VA_RO, .size = MAP_LEN },
	{ CASE(SEC_MAP_DMA, "MAP_DMA read-only memory, RW", S_V2D, OP_MAP),
	  .flags = RW, .vsel = VA_RO, .size = MAP_LEN, .err = EFAULT },

	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA, no group", S_NONE, OP_UNMAP),
	  .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA before SET_IOMMU", S_GROUP, OP_UNMAP),
	  .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA", S_V2M, OP_UNMAP),
	  .size = MAP_LEN, VAL(MAP_LEN) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA", S_V1M, OP_UNMAP),
	  .size = MAP_LEN, VAL(MAP_LEN) },
	/* vfio_iommu_type1_unmap_dma(): minsz 24, flags mask */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA argsz 23", S_V2M, OP_UNMAP),
	  .size = MAP_LEN, ARGSZ(23), .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA flag 1<<3", S_V2M, OP_UNMAP),
	  .flags = 0x8, .size = MAP_LEN, .err = EINVAL },
	/* vfio_dma_do_unmap() */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA iova unaligned", S_V2M, OP_UNMAP),
	  .ioff = 0x800, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA size unaligned", S_V2M, OP_UNMAP),
	  .size = 0x1800, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA size 0", S_V2M, OP_UNMAP),
	  .size = 0, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA iova+size wraps", S_V2M, OP_UNMAP),
	  .isel = IV_ABS, .ioff = -(__s64)PG, .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA wider than the mapping", S_V2M,
	       OP_UNMAP),
	  .ioff = -(__s64)SZ_64K, .size = 4 * SZ_64K, VAL(MAP_LEN) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA empty range", S_V2M, OP_UNMAP),
	  .isel = IV_Y, .size = MAP_LEN, VAL(0) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA, nothing mapped", S_V2, OP_UNMAP),
	  .size = MAP_LEN, VAL(0) },
	/* v2: no mapping may be bisected */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA bisects middle", S_V2M, OP_UNMAP),
	  .ioff = PG, .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA bisects end", S_V2M, OP_UNMAP),
	  .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA bisects start", S_V2M, OP_UNMAP),
	  .ioff = -(__s64)PG, .size = 2 * PG, .err = EINVAL },
	/*
	 * v1: type1 stops at a mapping starting below the range (size 0) and
	 * drops whole mappings starting in it; the core splits: (a).
	 */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA middle of a mapping", S_V1M, OP_UNMAP),
	  .ioff = PG, .size = 2 * PG, VAL(0),
	  .split = true, .core_val = 2 * PG },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA first page", S_V1M, OP_UNMAP),
	  .size = PG, VAL(MAP_LEN), .split = true, .core_val = PG },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA from below into it", S_V1M, OP_UNMAP),
	  .ioff = -(__s64)PG, .size = 2 * PG, VAL(MAP_LEN),
	  .split = true, .core_val = PG },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA from inside to past", S_V1M, OP_UNMAP),
	  .ioff = 3 * PG, .size = 2 * PG, VAL(0),
	  .split = true, .core_val = PG },
	/* FLAG_ALL: iova and size 0, everything goes */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL", S_V2M, OP_UNMAP),
	  .flags = UNMAP_ALL, .isel = IV_ABS, VAL(MAP_LEN) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL", S_V1M, OP_UNMAP),
	  .flags = UNMAP_ALL, .isel = IV_ABS, VAL(MAP_LEN) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL, nothing mapped", S_V2, OP_UNMAP),
	  .flags = UNMAP_ALL, .isel = IV_ABS, VAL(0) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL, iova != 0", S_V2M, OP_UNMAP),
	  .flags = UNMAP_ALL, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL, size != 0", S_V2M, OP_UNMAP),
	  .flags = UNMAP_ALL, .isel = IV_ABS, .size = MAP_LEN, .err = EINVAL },
	/* allowed: invalidates every vaddr */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL|VADDR", S_V2M, OP_UNMAP),
	  .flags = UNMAP_ALL | UNMAP_VADDR, .isel = IV_ABS, VAL(MAP_LEN) },
	/* GET_DIRTY_BITMAP excludes ALL and VADDR before anything else */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA ALL|GET_DIRTY_BITMAP", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_ALL | UNMAP_DIRTY, .isel = IV_ABS, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA VADDR|GET_DIRTY_BITMAP", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_VADDR | UNMAP_DIRTY, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP", S_V2M, OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP", S_V1M, OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP argsz 24", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, ARGSZ(24), .err = EINVAL },
	/* verify_bitmap_size() */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP size 0", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, BITMAP(PG, 0), .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP pgsize 8K", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, BITMAP(2 * PG, 8),
	  .err = EINVAL },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP bisects", S_V2MD,
	       OP_UNMAP),
	  .flags = UNMAP_DIRTY, .ioff = PG, .size = 2 * PG, .err = EINVAL },
	/* every page of a pinned mapping is dirty: num_non_pinned_groups */
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP", S_V2DMD, OP_UNMAP),
	  .flags = UNMAP_DIRTY, .size = MAP_LEN, VAL2(MAP_LEN, 0xf) },
	{ CASE(SEC_UNMAP_DMA, "UNMAP_DMA GET_DIRTY_BITMAP wider", S_V2DMD,
	       OP_UNMAP),
	  .flags = UNMAP_DIRTY, .ioff = -4 * (__s64)PG, .size = 12 * PG,
	  VAL2(MAP_LEN, 0xf0) },

	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START, no group", S_NONE,
	       OP_DIRTY),
	  .flags = DIRTY_START, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START before SET_IOMMU", S_GROUP,
	       OP_DIRTY),
	  .flags = DIRTY_START, .err = EINVAL },
	/* vfio_iommu_type1_dirty_pages(): v1 is refused before anything */
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START", S_V1M, OP_DIRTY),
	  .flags = DIRTY_START, .err = EACCES },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES argsz 0", S_V1M, OP_DIRTY),
	  .flags = DIRTY_START, ARGSZ(0), .err = EACCES },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES GET_BITMAP", S_V1M, OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, .err = EACCES },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES argsz 7", S_V2M, OP_DIRTY),
	  .flags = DIRTY_START, ARGSZ(7), .err = EINVAL },
	/*
	 * No flag: __ffs(0) and __fls(0) are undefined; whatever they give,
	 * either the "one flag" test or the final return is -EINVAL.
	 */
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES no flag", S_V2M, OP_DIRTY),
	  .flags = 0, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START|STOP", S_V2M, OP_DIRTY),
	  .flags = DIRTY_START | DIRTY_STOP, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES STOP|GET_BITMAP", S_V2MD,
	       OP_DIRTY),
	  .flags = DIRTY_STOP | DIRTY_GET, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES flag 1<<3", S_V2M, OP_DIRTY),
	  .flags = 0x8, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START", S_V2M, OP_DIRTY),
	  .flags = DIRTY_START },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START, nothing mapped", S_V2,
	       OP_DIRTY),
	  .flags = DIRTY_START },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES START twice", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_START },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES STOP, not started", S_V2M,
	       OP_DIRTY),
	  .flags = DIRTY_STOP },
	{ CASE(SEC_DIRTY_PAGES, "DIRTY_PAGES STOP", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_STOP },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP, not started", S_V2M, OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP argsz 8, no range", S_V2MD,
	       OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, ARGSZ(8), .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP argsz 47, short range", S_V2MD,
	       OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, ARGSZ(47), .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP iova+size wraps", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .isel = IV_ABS, .ioff = -(__s64)PG,
	  .size = 2 * PG, .err = EINVAL },
	/* verify_bitmap_size() */
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP size 0", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = 0, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP bitmap size 0", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, BITMAP(PG, 0), .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP bitmap too small", S_V2MD,
	       OP_DIRTY),
	  .flags = DIRTY_GET, .size = SZ_1M, BITMAP(PG, 8), .err = EINVAL },
	/* pgsize, alignment, then the mappings */
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP pgsize 8K", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, BITMAP(2 * PG, 8),
	  .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP iova unaligned", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .ioff = 0x800, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP size unaligned", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = 0x3800, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP bisects middle", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .ioff = PG, .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP bisects end", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP", S_V2DMD, OP_DIRTY),
	  .flags = DIRTY_GET, .size = MAP_LEN, VAL(0xf) },
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP wider range", S_V2DMD, OP_DIRTY),
	  .flags = DIRTY_GET, .ioff = -4 * (__s64)PG, .size = 12 * PG,
	  VAL(0xf0) },
	/* nothing in the range: the bitmap is left alone */
	{ CASE(SEC_DIRTY_PAGES, "GET_BITMAP empty range", S_V2MD, OP_DIRTY),
	  .flags = DIRTY_GET, .isel = IV_Y, .size = MAP_LEN, VAL(0) },

	/* UNMAP FLAG_VADDR: the IOMMU mapping stays, the vaddr is forgotten */
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA VADDR", S_V2M, OP_UNMAP),
	  .flags = UNMAP_VADDR, .size = MAP_LEN, VAL(MAP_LEN) },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA VADDR", S_V1M, OP_UNMAP),
	  .flags = UNMAP_VADDR, .size = MAP_LEN, VAL(MAP_LEN) },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA VADDR empty range", S_V2M,
	       OP_UNMAP),
	  .flags = UNMAP_VADDR, .isel = IV_Y, .size = MAP_LEN, VAL(0) },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA VADDR bisects", S_V2M, OP_UNMAP),
	  .flags = UNMAP_VADDR, .ioff = PG, .size = 2 * PG, .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA VADDR twice", S_V2MI, OP_UNMAP),
	  .flags = UNMAP_VADDR, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA ALL|VADDR twice", S_V2MI, OP_UNMAP),
	  .flags = UNMAP_ALL | UNMAP_VADDR, .isel = IV_ABS, .err = EINVAL },
	/* MAP FLAG_VADDR: iova and size as mapped, prot 0 */
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR new vaddr", S_V2MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .size = MAP_LEN },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR new vaddr", S_V1MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .size = MAP_LEN },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR same vaddr", S_V2MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .size = MAP_LEN },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR not invalidated", S_V2M,
	       OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .size = MAP_LEN,
	  .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR other size", S_V2MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .size = 2 * PG,
	  .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR other iova", S_V2MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .ioff = PG,
	  .size = PG, .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR nothing mapped", S_V2MI,
	       OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .isel = IV_Y,
	  .size = MAP_LEN, .err = ENOENT },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR|WRITE", S_V2MI, OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_WRITE,
	  .vsel = VA_BUF2, .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA VADDR vaddr unaligned", S_V2MI,
	       OP_MAP),
	  .flags = VFIO_DMA_MAP_FLAG_VADDR, .vsel = VA_BUF2, .voff = 0x800,
	  .size = MAP_LEN, .err = EINVAL },
	{ CASE(SEC_UPDATE_VADDR, "MAP_DMA over an invalidated one", S_V2MI,
	       OP_MAP),
	  .flags = RW, .vsel = VA_BUF2, .size = MAP_LEN, .err = EEXIST },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA of an invalidated one", S_V2MI,
	       OP_UNMAP),
	  .size = MAP_LEN, VAL(MAP_LEN) },
	{ CASE(SEC_UPDATE_VADDR, "UNMAP_DMA ALL, one invalidated", S_V2MI,
	       OP_UNMAP),
	  .flags = UNMAP_ALL, .isel = IV_ABS, VAL(MAP_LEN) },

	/* vfio_device_assign_container(): type1 needs a driver: (b) */
	{ CASE(SEC_GROUP, "GROUP_GET_DEVICE_FD", S_GROUP, OP_DEVICE),
	  .err = EINVAL, .split = true, .core_err = 0 },
	{ CASE(SEC_GROUP, "GROUP_GET_DEVICE_FD", S_V2, OP_DEVICE) },
	{ CASE(SEC_GROUP, "GROUP_GET_DEVICE_FD", S_V1, OP_DEVICE) },
	/* an ioctl type1 does not know: container.c EINVAL, type1 ENOTTY */
	{ CASE(SEC_GROUP, "IOMMU_ENABLE (sPAPR), no group", S_NONE, OP_UNKNOWN),
	  .err = EINVAL },
	{ CASE(SEC_GROUP, "IOMMU_ENABLE (sPAPR)", S_GROUP, OP_UNKNOWN),
	  .err = EINVAL },
	{ CASE(SEC_GROUP, "IOMMU_ENABLE (sPAPR)", S_V2, OP_UNKNOWN),
	  .err = ENOTTY },
};

/*
 * VFIO_CHECK_EXTENSION, generated: every id in every state. Before
 * SET_IOMMU container.c polls each driver with a NULL iommu; after it,
 * only type1 answers, from vfio_iommu_type1_check_extension().
 */
struct ext_id {
	unsigned long id;
	const char *name;
	int unset;		/* answer before SET_IOMMU */
	int set;		/* answer after; -1: depends on the IOMMU */
};

static const struct ext_id ext_ids[] = {
	{ 0, "0 (none)", 0, 0 },
	{ VFIO_TYPE1_IOMMU, "TYPE1", 1, 1 },
	{ VFIO_SPAPR_TCE_IOMMU, "SPAPR_TCE", 0, 0 },
	{ VFIO_TYPE1v2_IOMMU, "TYPE1v2", 1, 1 },
	/* enforce_cache_coherency of every domain: IOMMU dependent */
	{ VFIO_DMA_CC_IOMMU, "DMA_CC_IOMMU", 0, -1 },
	{ VFIO_EEH, "EEH", 0, 0 },
	{ VFIO_TYPE1_NESTING_IOMMU, "TYPE1_NESTING", 1, 1 },
	{ VFIO_SPAPR_TCE_v2_IOMMU, "SPAPR_TCE_v2", 0, 0 },
	/* CONFIG_VFIO_NOIOMMU is off; it is 0 unless its unsafe mode is on */
	{ VFIO_NOIOMMU_IOMMU, "NOIOMMU", 0, 0 },
	{ VFIO_UNMAP_ALL, "UNMAP_ALL", 1, 1 },
	/* needs an iommu without emulated (mdev) groups */
	{ VFIO_UPDATE_VADDR, "UPDATE_VADDR", 0, 1 },
	{ 11, "11 (none)", 0, 0 },
};

/* opening the device is slow: with it, only the IOMMU dependent ids */
static const unsigned int ext_states[] = {
	S_NONE, S_GROUP, S_V1, S_V2, S_V1D, S_V2D,
};

/* Setup */

static void ctx_init(struct compat_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->group_fd = -1;
	c->dev_fd = -1;
	c->x = X_MIN;
	c->y = Y_MIN;
}

static void ctx_teardown(struct compat_ctx *c)
{
	if (c->dev_fd >= 0)
		close(c->dev_fd);
	if (c->group_fd >= 0)
		close(c->group_fd);
	if (c->fd >= 0)
		close(c->fd);
	ctx_init(c);
}

static int ctx_pick_iovas(struct compat_ctx *c)
{
	struct compat_info ci;
	__u64 y_min;
	int ret;

	ret = compat_get_info(c->fd, &ci);
	if (ret)
		return ret;
	c->x = pick_iova(&ci, X_MIN, X_SPAN);
	if (!c->x)
		return -ERANGE;
	y_min = c->x + X_SPAN + SZ_4M;
	c->y = pick_iova(&ci, y_min > Y_MIN ? y_min : Y_MIN, SZ_1M);
	if (!c->y)
		c->y = pick_iova(&ci, y_min, SZ_1M);
	if (!c->y)
		return -ERANGE;
	c->have_resv = pick_reserved(&ci, &c->resv);
	c->have_beyond = pick_beyond(&ci, &c->beyond);
	return 0;
}

/* The state changes that need the IOMMU set and the device open */
static int ctx_populate(struct compat_ctx *c, const struct compat_env *env,
			unsigned int setup, const char **step)
{
	int ret;

	if (setup & SU_MAP) {
		*step = "MAP_DMA";
		ret = vfio_map_rw(c->fd, env->buf, c->x, MAP_LEN);
		if (ret)
			return ret;
	}
	if (setup & SU_DIRTY) {
		*step = "DIRTY_PAGES START";
		ret = vfio_dirty(c->fd, DIRTY_START);
		if (ret)
			return ret;
	}
	if (setup & SU_VINV) {
		*step = "UNMAP_DMA FLAG_VADDR";
		ret = vfio_unmap(c->fd, UNMAP_VADDR, c->x, MAP_LEN, NULL);
		if (ret)
			return ret;
	}
	return 0;
}

static int ctx_setup(struct compat_ctx *c, const struct compat_col *col,
		     const struct compat_env *env, unsigned int setup,
		     const char **step)
{
	unsigned long type;
	char path[64];
	int ret;

	ctx_init(c);
	*step = col->path;
	c->fd = open(col->path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	if (!(setup & SU_GROUP))
		return 0;

	*step = "open group";
	snprintf(path, sizeof(path), "/dev/vfio/%d", env->group);
	c->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->group_fd < 0)
		return -errno;
	*step = "GROUP_SET_CONTAINER";
	if (ioctl(c->group_fd, VFIO_GROUP_SET_CONTAINER, &c->fd))
		return -errno;
	if (setup & (SU_V1 | SU_V2)) {
		*step = "SET_IOMMU";
		type = setup & SU_V1 ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU;
		if (ioctl(c->fd, VFIO_SET_IOMMU, type))
			return -errno;
	}
	if (setup & SU_DEV) {
		*step = "GROUP_GET_DEVICE_FD";
		c->dev_fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD,
				  env->bdf);
		if (c->dev_fd < 0)
			return -errno;
	}
	if (!(setup & (SU_V1 | SU_V2)))
		return 0;
	*step = "GET_INFO, picking IOVAs";
	ret = ctx_pick_iovas(c);
	if (ret)
		return ret;
	return ctx_populate(c, env, setup, step);
}

/* Inputs */

static bool case_iova_pick(const struct compat_ctx *c,
			   const struct compat_case *cs, __u64 *iova)
{
	switch (cs->isel) {
	case IV_X:
		*iova = c->x + cs->ioff;
		return true;
	case IV_Y:
		*iova = c->y + cs->ioff;
		return true;
	case IV_ABS:
		*iova = cs->ioff;
		return true;
	case IV_RESV:
		*iova = c->resv;
		return c->have_resv;
	case IV_BEYOND:
		*iova = c->beyond;
		return c->have_beyond;
	}
	return false;
}

/*
 * The IOVA of a case. Every x86 IOMMU reserves the MSI window, so a
 * capability that leaves nothing out is a failure; an aperture reaching
 * the top of the 64-bit space leaves nothing above it, which is fine.
 */
static bool case_iova(const struct compat_ctx *c, const struct compat_case *cs,
		      __u64 *iova, struct compat_res *r)
{
	if (case_iova_pick(c, cs, iova))
		return true;
	if (cs->isel == IV_BEYOND)
		r->na = true;
	else
		r->bad = "the IOVA range capability leaves nothing out";
	return false;
}

/* An address no VMA covers: mapped and unmapped again just now */
static __u64 unbacked_vaddr(void)
{
	void *p = mmap(NULL, BUF_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return 0;
	munmap(p, BUF_SIZE);
	return (uintptr_t)p;
}

static __u64 case_vaddr(const struct compat_env *env,
			const struct compat_case *cs)
{
	switch (cs->vsel) {
	case VA_BUF:
		return (uintptr_t)env->buf + cs->voff;
	case VA_BUF2:
		return (uintptr_t)env->buf2 + cs->voff;
	case VA_RO:
		return (uintptr_t)env->ro + cs->voff;
	case VA_ABS:
		return cs->voff;
	case VA_UNBACKED:
		return unbacked_vaddr();
	}
	return 0;
}

/* Ops: fill r->err and the outputs */

static void op_map(struct compat_ctx *c, const struct compat_env *env,
		   const struct compat_case *cs, struct compat_res *r)
{
	union {
		struct vfio_iommu_type1_dma_map map;
		__u8 raw[64];
	} u;

	memset(u.raw, 0xff, sizeof(u.raw));	/* junk past the struct */
	u.map.argsz = cs->argsz_set ? cs->argsz : sizeof(u.map);
	u.map.flags = cs->flags;
	u.map.size = cs->size;
	if (!case_iova(c, cs, &u.map.iova, r))
		return;
	u.map.vaddr = case_vaddr(env, cs);
	if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &u))
		r->err = errno;
}

/* MAP_DMA fails part way: afterwards nothing may be left mapped */
static void op_map_partial(struct compat_ctx *c, const struct compat_case *cs,
			   struct compat_res *r)
{
	__u64 left = 0;
	char *p;

	p = mmap(NULL, cs->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		r->bad = "mmap";
		return;
	}
	munmap(p + PG, cs->size - PG);
	memset(p, 1, PG);
	if (vfio_map(c->fd, cs->flags, (uintptr_t)p, c->x, cs->size))
		r->err = errno;
	if (vfio_unmap(c->fd, 0, c->x, cs->size, &left) || left)
		r->bad = "a failed MAP_DMA left something mapped";
	munmap(p, PG);
}

static void op_unmap(struct compat_ctx *c, const struct compat_case *cs,
		     struct compat_res *r)
{
	__u64 bitmap[2] = { 0, 0 };
	struct unmap_bitmap u = {
		.flags = cs->flags,
		.size = cs->size,
		.bitmap = {
			.pgsize = cs->bm_pgsize ? cs->bm_pgsize : PG,
			.size = cs->bm_pgsize ? cs->bm_bytes : sizeof(__u64),
			.data = bitmap,
		},
	};

	if (cs->argsz_set)
		u.argsz = cs->argsz;
	else if (cs->flags & UNMAP_DIRTY)
		u.argsz = sizeof(u);
	else
		u.argsz = sizeof(struct vfio_iommu_type1_dma_unmap);
	if (!case_iova(c, cs, &u.iova, r))
		return;
	if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &u)) {
		r->err = errno;
		return;
	}
	r->out = u.size;
	r->out2 = bitmap[0];
	if (bitmap[1])
		r->bad = "bitmap written past the range";
}

static void op_dirty(struct compat_ctx *c, const struct compat_case *cs,
		     struct compat_res *r)
{
	__u64 bitmap[2] = { 0, 0 };
	struct dirty_get d = {
		.flags = cs->flags,
		.get = {
			.size = cs->size,
			.bitmap = {
				.pgsize = cs->bm_pgsize ? cs->bm_pgsize : PG,
				.size = cs->bm_pgsize ? cs->bm_bytes :
					sizeof(__u64),
				.data = bitmap,
			},
		},
	};

	if (cs->argsz_set)
		d.argsz = cs->argsz;
	else if (cs->flags & DIRTY_GET)
		d.argsz = sizeof(d);
	else
		d.argsz = sizeof(struct vfio_iommu_type1_dirty_bitmap);
	if (!case_iova(c, cs, &d.get.iova, r))
		return;
	if (ioctl(c->fd, VFIO_IOMMU_DIRTY_PAGES, &d)) {
		r->err = errno;
		return;
	}
	r->out = bitmap[0];
	if (bitmap[1])
		r->bad = "bitmap written past the range";
}

/* GET_INFO promises broken, as a mask; 0 when all is well */
#define INFO_BAD_FLAGS		0x01	/* not exactly PGSIZES | CAPS */
#define INFO_BAD_PGSIZES	0x02	/* no 4K page size */
#define INFO_BAD_ARGSZ		0x04	/* argsz out not what it must be */
#define INFO_BAD_CAP_OFFSET	0x08
#define INFO_BAD_OVERRUN	0x10	/* wrote past what argsz allows */
#define INFO_BAD_CAPS		0x20	/* chain malformed or incomplete */

#define INFO_MARK		0xa5

static __u64 info_check(const char *buf, __u32 given, __u32 bufsize)
{
	const struct vfio_iommu_type1_info *info = (const void *)buf;
	const __u32 cap_end = offsetof(struct vfio_iommu_type1_info, cap_offset) +
			      sizeof(info->cap_offset);
	struct compat_info ci = {};
	__u64 bad = 0;
	__u32 copied, i;

	if (info->flags != (VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS))
		bad |= INFO_BAD_FLAGS;
	if (!(info->iova_pgsizes & PG))
		bad |= INFO_BAD_PGSIZES;
	if (given < sizeof(*info) || info->argsz > given) {
		/* too small for the caps: argsz says how much is needed */
		if (info->argsz <= sizeof(*info))
			bad |= INFO_BAD_ARGSZ;
		/* not copied below cap_end, 0 (no caps) from there on */
		if (given >= cap_end && info->cap_offset)
			bad |= INFO_BAD_CAP_OFFSET;
		/* no caps: nothing past the struct, nothing past argsz */
		copied = given < sizeof(*info) ? given : sizeof(*info);
	} else {
		if (info->argsz != given)
			bad |= INFO_BAD_ARGSZ;
		if (info->cap_offset != sizeof(*info))
			bad |= INFO_BAD_CAP_OFFSET;
		if (info_walk_caps(buf, given, info->cap_offset, &ci) ||
		    !ci.nr_ranges || !ci.has_migration || !ci.has_avail)
			bad |= INFO_BAD_CAPS;
		copied = given;
	}
	for (i = copied; i < bufsize; i++)
		if ((unsigned char)buf[i] != INFO_MARK)
			bad |= INFO_BAD_OVERRUN;
	return bad;
}

/* FNV-1a over the valid IOVA ranges, folded: compared across columns */
static void op_info_ranges(struct compat_ctx *c, struct compat_res *r)
{
	const unsigned char *p;
	struct compat_info ci;
	__u64 hash = 0xcbf29ce484222325ULL;
	size_t i;
	int ret;

	ret = compat_get_info(c->fd, &ci);
	if (ret) {
		r->err = -ret;
		return;
	}
	p = (const unsigned char *)ci.ranges;
	for (i = 0; i < ci.nr_ranges * sizeof(ci.ranges[0]); i++)
		hash = (hash ^ p[i]) * 0x100000001b3ULL;
	r->out = (__u32)(hash ^ (hash >> 32));
	r->out2 = ci.nr_ranges;
}

static void op_info(struct compat_ctx *c, const struct compat_case *cs,
		    struct compat_res *r)
{
	struct vfio_iommu_type1_info *info;
	__u32 given = cs->arg;
	char buf[8192];

	if (cs->arg == INFO_RANGES) {
		op_info_ranges(c, r);
		return;
	}
	info = (void *)buf;
	if (cs->arg == INFO_NEEDED) {
		memset(buf, 0, sizeof(buf));
		info->argsz = sizeof(*info);
		if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info)) {
			r->err = errno;
			return;
		}
		given = info->argsz;
		if (given > sizeof(buf) - 64) {
			r->bad = "GET_INFO needs more than 8K";
			return;
		}
	}
	memset(buf, INFO_MARK, sizeof(buf));
	info->argsz = given;
	info->flags = 0;
	if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info)) {
		r->err = errno;
		return;
	}
	r->out = info_check(buf, given, given + 64);
}

static void op_device(struct compat_ctx *c, const struct compat_env *env,
		      struct compat_res *r)
{
	int fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD, env->bdf);

	if (fd < 0)
		r->err = errno;
	else
		close(fd);
}

static void op_run(struct compat_ctx *c, const struct compat_env *env,
		   const struct compat_case *cs, struct compat_res *r)
{
	char junk[64] = { 64 };
	int ret = 0;

	switch (cs->op) {
	case OP_API:
		ret = ioctl(c->fd, VFIO_GET_API_VERSION);
		break;
	case OP_EXT:
		ret = ioctl(c->fd, VFIO_CHECK_EXTENSION, cs->arg);
		break;
	case OP_SET_IOMMU:
		ret = ioctl(c->fd, VFIO_SET_IOMMU, cs->arg);
		break;
	case OP_UNKNOWN:
		ret = ioctl(c->fd, VFIO_IOMMU_ENABLE, junk);
		break;
	case OP_INFO:
		op_info(c, cs, r);
		return;
	case OP_MAP:
		op_map(c, env, cs, r);
		return;
	case OP_MAP_PARTIAL:
		op_map_partial(c, cs, r);
		return;
	case OP_UNMAP:
		op_unmap(c, cs, r);
		return;
	case OP_DIRTY:
		op_dirty(c, cs, r);
		return;
	case OP_DEVICE:
		op_device(c, env, r);
		return;
	}
	if (ret < 0)
		r->err = errno;
	else
		r->out = ret;
}

static void case_run(const struct compat_col *col,
		     const struct compat_env *env,
		     const struct compat_case *cs, struct compat_res *r)
{
	struct compat_ctx c;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = ctx_setup(&c, col, env, cs->setup, &r->setup_step);
	if (ret) {
		r->setup_err = -ret;
	} else {
		r->setup_step = NULL;
		op_run(&c, env, cs, r);
	}
	ctx_teardown(&c);
}

/* Judging and printing */

static bool res_matches(const struct compat_case *cs, bool core,
			const struct compat_res *r)
{
	bool split = core && cs->split;
	int err = split ? cs->core_err : cs->err;
	__u64 val = split ? cs->core_val : cs->val;
	__u64 val2 = split ? cs->core_val2 : cs->val2;

	if (r->na)
		return true;
	if (r->setup_step || r->bad || r->err != err)
		return false;
	if (err)
		return true;
	if (cs->iommu_dep)
		return cs->out != OUT_RET || r->out <= 1;
	switch (cs->out) {
	case OUT_NONE:
		return true;
	case OUT_RET:
	case OUT_VAL:
		return r->out == val;
	case OUT_VAL2:
		return r->out == val && r->out2 == val2;
	}
	return false;
}

static const char *errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EIO, "EIO" },
		{ E2BIG, "E2BIG" }, { EBADF, "EBADF" }, { ENOMEM, "ENOMEM" },
		{ EACCES, "EACCES" }, { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" },
		{ EEXIST, "EEXIST" }, { ENODEV, "ENODEV" },
		{ EINVAL, "EINVAL" }, { ENOSPC, "ENOSPC" }, { ERANGE, "ERANGE" },
		{ ENOTTY, "ENOTTY" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ EOVERFLOW, "EOVERFLOW" }, { ENXIO, "ENXIO" },
	};
	static char other[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(other, sizeof(other), "E%d", err);
	return other;
}

static void fmt_value(char *s, size_t n, const struct compat_case *cs,
		      int err, __u64 v, __u64 v2)
{
	if (err)
		snprintf(s, n, "%s", errno_name(err));
	else if (cs->out == OUT_RET && cs->iommu_dep)
		snprintf(s, n, "=any");
	else if (cs->out == OUT_RET)
		snprintf(s, n, "=%llu", (unsigned long long)v);
	else if (cs->out == OUT_VAL)
		snprintf(s, n, "0:%#llx", (unsigned long long)v);
	else if (cs->out == OUT_VAL2)
		snprintf(s, n, "0:%#llx,%#llx", (unsigned long long)v,
			 (unsigned long long)v2);
	else
		snprintf(s, n, "0");
}

static void fmt_res(char *s, size_t n, const struct compat_case *cs,
		    const struct compat_res *r)
{
	if (r->na)
		snprintf(s, n, "n/a");
	else if (r->setup_step)
		snprintf(s, n, "setup!");
	else if (r->bad)
		snprintf(s, n, "bad!");
	else if (cs->out == OUT_RET && !r->err)
		snprintf(s, n, "=%llu", (unsigned long long)r->out);
	else
		fmt_value(s, n, cs, r->err, r->out, r->out2);
}

static void fmt_expect(char *s, size_t n, const struct compat_case *cs,
		       bool core_only)
{
	char a[32], b[32];

	fmt_value(a, sizeof(a), cs, cs->err, cs->val, cs->val2);
	if (!cs->split) {
		snprintf(s, n, "%s", !cs->iommu_dep ? a :
			 cs->out == OUT_RET ? "=0/1, same" : "0, same");
		return;
	}
	fmt_value(b, sizeof(b), cs, cs->core_err, cs->core_val, cs->core_val2);
	if (core_only)
		snprintf(s, n, "%s (core)", b);
	else
		snprintf(s, n, "%s, core %s", a, b);
}

static const char *setup_name(unsigned int setup)
{
	static char s[48];

	if (!setup)
		return "none";
	snprintf(s, sizeof(s), "%s%s%s%s%s%s",
		 setup & SU_V1 ? "v1" : setup & SU_V2 ? "v2" : "group",
		 setup & SU_DEV ? "+dev" : "",
		 setup & SU_MAP ? "+map" : "",
		 setup & SU_DIRTY ? "+dirty" : "",
		 setup & SU_VINV ? "+vinv" : "",
		 "");
	return s;
}

/*
 * Part A fixture: one variant per section of the table
 */

struct compat_table {
	struct compat_env env;
	struct compat_col col[2];
	unsigned int ncol;
	bool core_only;		/* /dev/vfio/vfio is served by the core */
};

FIXTURE(compat_table) {
	bool skip;
	struct compat_table t;
};

FIXTURE_VARIANT(compat_table) {
	enum compat_section sec;
};

FIXTURE_VARIANT_ADD(compat_table, extension) { .sec = SEC_EXTENSION };
FIXTURE_VARIANT_ADD(compat_table, set_iommu) { .sec = SEC_SET_IOMMU };
FIXTURE_VARIANT_ADD(compat_table, get_info) { .sec = SEC_GET_INFO };
FIXTURE_VARIANT_ADD(compat_table, map_dma) { .sec = SEC_MAP_DMA };
FIXTURE_VARIANT_ADD(compat_table, unmap_dma) { .sec = SEC_UNMAP_DMA };
FIXTURE_VARIANT_ADD(compat_table, dirty_pages) { .sec = SEC_DIRTY_PAGES };
FIXTURE_VARIANT_ADD(compat_table, update_vaddr) { .sec = SEC_UPDATE_VADDR };
FIXTURE_VARIANT_ADD(compat_table, group) { .sec = SEC_GROUP };

static void *populated(size_t len)
{
	void *p = buf_map(len, PG, BUF_SMALL_PAGES);

	if (p)
		fill_pattern(p, len, len >> 12);
	return p;
}

FIXTURE_SETUP(compat_table)
{
	struct compat_table *t = &self->t;
	const char *why;

	t->env.buf = NULL;
	t->env.buf2 = NULL;
	t->env.ro = NULL;
	why = find_edu(t->env.bdf, sizeof(t->env.bdf), &t->env.group);
	if (!why && access(IOASID_DEV_PATH, F_OK))
		why = "needs " IOASID_DEV_PATH;
	if (!why && sysconf(_SC_PAGESIZE) != PG)
		why = "the table is written for 4K pages";
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}

	if (!access(VFIO_CONTAINER_PATH, F_OK)) {
		t->core_only = served_by_core(VFIO_CONTAINER_PATH);
		t->col[t->ncol++] = (struct compat_col) {
			.path = VFIO_CONTAINER_PATH,
			.label = t->core_only ? "vfio(core)" : "type1",
			.core = t->core_only,
		};
	} else {
		/* without a stock container only the expected values count */
		t->core_only = true;
	}
	t->col[t->ncol++] = (struct compat_col) {
		.path = IOASID_DEV_PATH, .label = "ioasid", .core = true,
	};
	if (t->core_only)
		ksft_print_msg("%s %s: %s held to the expected values only\n",
			       VFIO_CONTAINER_PATH, t->ncol == 2 ?
			       "is served by the core (ioasid.vfio_container=1)" :
			       "is missing", t->ncol == 2 ?
			       "no stock type1 to compare, both columns" :
			       "the ioasid column");

	t->env.buf = populated(BUF_SIZE);
	t->env.buf2 = populated(BUF_SIZE);
	t->env.ro = populated(MAP_LEN);
	ASSERT_NE(NULL, t->env.buf);
	ASSERT_NE(NULL, t->env.buf2);
	ASSERT_NE(NULL, t->env.ro);
	ASSERT_EQ(0, mprotect(t->env.ro, MAP_LEN, PROT_READ));
}

FIXTURE_TEARDOWN(compat_table)
{
	struct compat_table *t = &self->t;

	if (t->env.buf)
		munmap(t->env.buf, BUF_SIZE);
	if (t->env.buf2)
		munmap(t->env.buf2, BUF_SIZE);
	if (t->env.ro)
		munmap(t->env.ro, MAP_LEN);
}

static void table_header(struct compat_table *t)
{
	ksft_print_msg("%-36s %-16s | %-10s %-16s | %-10s %-16s | expect\n",
		       "case", "setup", t->col[0].label, "",
		       t->ncol > 1 ? t->col[1].label : "", "");
}

static void table_run_case(struct __test_metadata *_metadata,
			   struct compat_table *t,
			   const struct compat_case *cs)
{
	struct compat_res res[2];
	char got[2][32] = { "", "" }, exp[80];
	bool ok[2] = { true, true }, same = true;
	unsigned int i;

	for (i = 0; i < t->ncol; i++) {
		case_run(&t->col[i], &t->env, cs, &res[i]);
		ok[i] = res_matches(cs, t->col[i].core, &res[i]);
		fmt_res(got[i], sizeof(got[i]), cs, &res[i]);
	}
	/* IOMMU dependent outputs: the two columns must agree */
	if (cs->iommu_dep && t->ncol == 2 && ok[0] && ok[1] &&
	    !res[0].na && !res[1].na)
		same = res[0].out == res[1].out && res[0].out2 == res[1].out2;
	fmt_expect(exp, sizeof(exp), cs, t->core_only);

	ksft_print_msg("%-36s %-16s | %-10s %-16s | %-10s %-16s | expect %s%s\n",
		       cs->name, setup_name(cs->setup), t->col[0].label,
		       got[0], t->ncol > 1 ? t->col[1].label : "",
		       t->ncol > 1 ? got[1] : "", exp,
		       ok[0] && ok[1] && same ? "" : "   <-- MISMATCH");

	for (i = 0; i < t->ncol; i++) {
		EXPECT_TRUE(ok[i])
			TH_LOG("%s [%s] on %s: got %s%s%s%s%s", cs->name,
			       setup_name(cs->setup), t->col[i].path, got[i],
			       res[i].setup_step ? ", setup failed at " : "",
			       res[i].setup_step ? res[i].setup_step : "",
			       res[i].setup_step ? ": " : "",
			       res[i].setup_step ? errno_name(res[i].setup_err) :
			       res[i].bad ? res[i].bad : "");
	}
	EXPECT_TRUE(same)
		TH_LOG("%s [%s]: type1 and the core disagree", cs->name,
		       setup_name(cs->setup));
}

static void table_run_extensions(struct __test_metadata *_metadata,
				 struct compat_table *t)
{
	struct compat_case cs = {
		.sec = SEC_EXTENSION, .op = OP_EXT, .out = OUT_RET,
	};
	char name[48];
	unsigned int s, i;
	int want;

	for (s = 0; s < ARRAY_SIZE(ext_states); s++) {
		for (i = 0; i < ARRAY_SIZE(ext_ids); i++) {
			cs.setup = ext_states[s];
			want = cs.setup & (SU_V1 | SU_V2) ?
			       ext_ids[i].set : ext_ids[i].unset;
			if ((cs.setup & SU_DEV) && want >= 0)
				continue;
			snprintf(name, sizeof(name), "CHECK_EXTENSION %s",
				 ext_ids[i].name);
			cs.name = name;
			cs.arg = ext_ids[i].id;
			cs.iommu_dep = want < 0;
			cs.val = want < 0 ? 0 : want;
			table_run_case(_metadata, t, &cs);
		}
	}
}

TEST_F_TIMEOUT(compat_table, cases, 600)
{
	size_t i;

	if (self->skip)
		return;
	table_header(&self->t);
	for (i = 0; i < ARRAY_SIZE(compat_cases); i++)
		if (compat_cases[i].sec == variant->sec)
			table_run_case(_metadata, &self->t, &compat_cases[i]);
	if (variant->sec == SEC_EXTENSION)
		table_run_extensions(_metadata, &self->t);
}

/*
 * Part B: the edu device's DMA through MAP_DMA mappings
 */

FIXTURE(compat_edu) {
	bool skip;
	bool core;		/* the container file is served by the core */
	bool v2;
	unsigned int limit;	/* mappings the container holds at most */
	int fd;
	int group_fd;
	struct edu edu;
	char bdf[32];
	int group;
	__u64 x;
	__u64 y;
	void *a;
	void *b;
};

FIXTURE_VARIANT(compat_edu) {
	const char *path;
	unsigned long type;
};

FIXTURE_VARIANT_ADD(compat_edu, vfio_v1) {
	.path = VFIO_CONTAINER_PATH, .type = VFIO_TYPE1_IOMMU,
};

FIXTURE_VARIANT_ADD(compat_edu, vfio_v2) {
	.path = VFIO_CONTAINER_PATH, .type = VFIO_TYPE1v2_IOMMU,
};

FIXTURE_VARIANT_ADD(compat_edu, ioasid_v1) {
	.path = IOASID_DEV_PATH, .type = VFIO_TYPE1_IOMMU,
};

FIXTURE_VARIANT_ADD(compat_edu, ioasid_v2) {
	.path = IOASID_DEV_PATH, .type = VFIO_TYPE1v2_IOMMU,
};

/*
 * VFIO_SET_IOMMU on @fd. Both type1 and the core read their mapping limit
 * (dma_entry_limit) then: a v2 container is set up with TEST_ENTRY_LIMIT,
 * the parameter given back at once, so that reaching the limit takes a
 * thousand maps rather than 65535; a v1 one keeps the default. *@limit is
 * the limit the container got.
 */
static int compat_set_iommu(int fd, unsigned long type, bool core, bool lower,
			    unsigned int *limit)
{
	const char *param = core ? CORE_LIMIT_PARAM : TYPE1_LIMIT_PARAM;
	long saved = read_long_file(param);
	int ret, err;

	*limit = saved > 0 ? saved : DMA_ENTRY_LIMIT;
	if (lower && saved > 0) {
		ret = write_long_file(param, TEST_ENTRY_LIMIT);
		if (ret)
			return ret;
		*limit = TEST_ENTRY_LIMIT;
	}
	ret = ioctl(fd, VFIO_SET_IOMMU, type) ? -errno : 0;
	if (*limit != saved && saved > 0) {
		err = write_long_file(param, saved);
		ret = ret ? ret : err;
	}
	return ret;
}

FIXTURE_SETUP(compat_edu)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct compat_info ci;
	char path[64];
	const char *why;
	int dev_fd, ret;

	self->fd = -1;
	self->group_fd = -1;
	self->edu.device_fd = -1;
	why = find_edu(self->bdf, sizeof(self->bdf), &self->group);
	if (!why && access(variant->path, F_OK))
		why = "the container file is missing";
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->core = served_by_core(variant->path);
	self->v2 = variant->type == VFIO_TYPE1v2_IOMMU;

	self->fd = open(variant->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group);
	self->group_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->group_fd);
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_NE(0U, status.flags & VFIO_GROUP_FLAGS_VIABLE);
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER, &self->fd))
		TH_LOG("GROUP_SET_CONTAINER(%s): %s", variant->path,
		       strerror(errno));
	ASSERT_EQ(0, compat_set_iommu(self->fd, variant->type, self->core,
				      self->v2, &self->limit))
		TH_LOG("SET_IOMMU(%lu) on %s: %s", variant->type, variant->path,
		       strerror(errno));
	dev_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->bdf);
	ASSERT_LE(0, dev_fd)
		TH_LOG("GROUP_GET_DEVICE_FD: %s", strerror(errno));
	ret = edu_open_from_device_fd(&self->edu, dev_fd);
	ASSERT_EQ(0, ret)
		TH_LOG("edu setup failed at %s: %s", self->edu.failed_step,
		       strerror(-ret));

	ASSERT_EQ(0, compat_get_info(self->fd, &ci));
	self->x = pick_iova(&ci, X_MIN, 4 * BUF_SIZE);
	ASSERT_NE(0ULL, self->x);
	self->y = pick_iova(&ci, Y_MIN, BUF_SIZE);
	if (!self->y)
		self->y = pick_iova(&ci, self->x + SZ_1G, BUF_SIZE);
	ASSERT_NE(0ULL, self->y);

	self->a = buf_map(BUF_SIZE, PG, BUF_SMALL_PAGES);
	self->b = buf_map(BUF_SIZE, PG, BUF_SMALL_PAGES);
	ASSERT_NE(NULL, self->a);
	ASSERT_NE(NULL, self->b);
}

FIXTURE_TEARDOWN(compat_edu)
{
	edu_close(&self->edu);
	if (self->group_fd >= 0)
		close(self->group_fd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->a)
		munmap(self->a, BUF_SIZE);
	if (self->b)
		munmap(self->b, BUF_SIZE);
}

/* Load the edu buffer with a pattern taken through a mapping of @p at @iova */
static int edu_prime(struct edu *edu, void *p, __u64 iova, unsigned int seed,
		     char *expect)
{
	fill_pattern(p, BUF_SIZE, seed);
	memcpy(expect, p, DMA_LEN);
	return edu_load(edu, iova);
}

TEST_F(compat_edu, dma_round_trip)
{
	char expect[DMA_LEN];
	__u64 off = 2 * PG + 128, unmapped = 0;

	if (self->skip)
		return;
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, edu_prime(&self->edu, self->a, self->x, 0x21, expect));
	memset(self->a, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x + off));
	ASSERT_EQ(0, memcmp((char *)self->a + off, expect, DMA_LEN));
	ASSERT_EQ(-1, check_fill(self->a, off, 0));
	ASSERT_EQ(-1, check_fill((char *)self->a + off + DMA_LEN, 0,
				 BUF_SIZE - off - DMA_LEN));
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->x, BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	TH_LOG("%s %s: %d bytes RAM -> edu -> RAM through IOVA %#llx",
	       self->core ? "core" : "type1", self->v2 ? "v2" : "v1", DMA_LEN,
	       (unsigned long long)self->x);
}

TEST_F(compat_edu, dma_blocked)
{
	char expect[DMA_LEN];
	__u64 unmapped = 0;

	if (self->skip)
		return;
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, edu_prime(&self->edu, self->a, self->x, 0x43, expect));

	/* Y was never mapped: the write lands nowhere */
	memset(self->a, SENTINEL, BUF_SIZE);
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(-1, check_fill(self->a, BUF_SIZE, SENTINEL));
	ASSERT_EQ(-1, check_fill(self->b, BUF_SIZE, SENTINEL));

	/* mapped it lands, after UNMAP_DMA it does not */
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->b, self->y, BUF_SIZE));
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(0, memcmp(self->b, expect, DMA_LEN));
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->y, BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(-1, check_fill(self->b, BUF_SIZE, SENTINEL));
	ASSERT_EQ(-1, check_fill(self->a, BUF_SIZE, SENTINEL));

	/* the device and X still work */
	ASSERT_EQ(0, edu_store(&self->edu, self->x + PG));
	ASSERT_EQ(0, memcmp((char *)self->a + PG, expect, DMA_LEN));
}

TEST_F(compat_edu, unmap_all)
{
	char expect[DMA_LEN];
	__u64 z = self->x + 2 * BUF_SIZE, unmapped = 0;

	if (self->skip)
		return;
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->b, self->y, BUF_SIZE));
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->b, z, BUF_SIZE));
	ASSERT_EQ(0, edu_prime(&self->edu, self->a, self->x, 0x65, expect));

	ASSERT_EQ(0, vfio_unmap(self->fd, UNMAP_ALL, 0, 0, &unmapped));
	ASSERT_EQ(3 * BUF_SIZE, unmapped);
	memset(self->a, SENTINEL, BUF_SIZE);
	memset(self->b, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_EQ(0, edu_store(&self->edu, self->y));
	ASSERT_EQ(0, edu_store(&self->edu, z));
	ASSERT_EQ(-1, check_fill(self->a, BUF_SIZE, SENTINEL));
	ASSERT_EQ(-1, check_fill(self->b, BUF_SIZE, SENTINEL));

	/* nothing left */
	ASSERT_EQ(0, vfio_unmap(self->fd, UNMAP_ALL, 0, 0, &unmapped));
	ASSERT_EQ(0ULL, unmapped);
}

struct limit_racer {
	pthread_barrier_t *barrier;
	int fd;
	const void *va;
	__u64 iova;
	int ret;
};

static void *limit_race_map(void *arg)
{
	struct limit_racer *r = arg;

	pthread_barrier_wait(r->barrier);
	r->ret = vfio_map_rw(r->fd, r->va, r->iova, BUF_SIZE);
	return NULL;
}

/*
 * The mapping limit holds when maps race for its last entry: with one
 * entry left, of 8 threads mapping at once exactly one succeeds.
 */
TEST_F_TIMEOUT(compat_edu, entry_limit_concurrent, 900)
{
	const unsigned int nthreads = 8, rounds = 3;
	struct limit_racer racers[8];
	pthread_t threads[8];
	pthread_barrier_t barrier;
	unsigned int limit, i, round, won;
	struct compat_info ci;
	__u64 base, unmapped = 0;

	if (self->skip)
		return;
	if (!self->v2)
		SKIP(return, "the limit does not depend on the type1 version");
	limit = self->limit;
	ASSERT_EQ(0, compat_get_info(self->fd, &ci));
	base = pick_iova(&ci, X_MIN, (limit + nthreads * BUF_SIZE / PG) * PG);
	ASSERT_NE(0ULL, base);
	for (i = 0; i < limit - 1; i++)
		ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, base + (__u64)i * PG, PG))
			TH_LOG("mapping %u", i);
	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, nthreads));
	for (round = 0; round < rounds; round++) {
		for (i = 0; i < nthreads; i++) {
			racers[i] = (struct limit_racer){
				.barrier = &barrier, .fd = self->fd, .va = self->b,
				.iova = base + (__u64)limit * PG + (__u64)i * BUF_SIZE,
			};
			ASSERT_EQ(0, pthread_create(&threads[i], NULL, limit_race_map,
						    &racers[i]));
		}
		for (i = 0, won = nthreads; i < nthreads; i++) {
			ASSERT_EQ(0, pthread_join(threads[i], NULL));
			if (!racers[i].ret) {
				ASSERT_EQ(nthreads, won) TH_LOG("round %u: two maps won", round);
				won = i;
			} else {
				ASSERT_EQ(-ENOSPC, racers[i].ret);
			}
		}
		ASSERT_NE(nthreads, won) TH_LOG("round %u: no map won", round);
		ASSERT_EQ(0, vfio_unmap(self->fd, 0, racers[won].iova, BUF_SIZE, &unmapped));
		ASSERT_EQ(BUF_SIZE, unmapped);
	}
	pthread_barrier_destroy(&barrier);
	ASSERT_EQ(0, vfio_unmap(self->fd, UNMAP_ALL, 0, 0, &unmapped));
	ASSERT_EQ((__u64)(limit - 1) * PG, unmapped);
}

/* Foreign ioctls on the container: type1 knows none of them */
TEST_F(compat_edu, foreign_ioctls)
{
	struct ioasid_ioas_create create = { .argsz = sizeof(create) };
	struct ioasid_test_cmd t = { .argsz = sizeof(t), .op = IOASID_TEST_CHARGES };

	if (self->skip)
		return;
	if (!strcmp(variant->path, IOASID_DEV_PATH))
		SKIP(return, "a /dev/ioasid file answers its own uAPI");
	ASSERT_EQ(-ENOTTY, ioasid_do(self->fd, IOASID_IOAS_CREATE, &create));
	ASSERT_EQ(-ENOTTY, ioasid_do(self->fd, IOASID_TEST, &t));
	ASSERT_EQ(-ENOTTY, ioasid_destroy(self->fd, NO_SUCH_ID));
}

TEST_F(compat_edu, info_caps)
{
	__u64 iovas[3] = { self->x, self->y, self->x + 2 * BUF_SIZE };
	struct compat_info ci;
	unsigned int i, avail0;
	__u64 unmapped = 0;

	if (self->skip)
		return;
	ASSERT_EQ(0, compat_get_info(self->fd, &ci));
	ASSERT_EQ((__u32)(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS),
		  ci.flags);
	ASSERT_NE(0ULL, ci.pgsizes & PG);
	ASSERT_LE(1U, ci.nr_ranges);
	for (i = 0; i < ci.nr_ranges; i++) {
		TH_LOG("IOVA range [%#llx, %#llx]",
		       (unsigned long long)ci.ranges[i].start,
		       (unsigned long long)ci.ranges[i].end);
		ASSERT_LE(ci.ranges[i].start, ci.ranges[i].end);
		if (i)
			ASSERT_LT(ci.ranges[i - 1].end, ci.ranges[i].start);
	}
	ASSERT_TRUE(iova_in_ranges(&ci, self->x, 4 * BUF_SIZE));
	ASSERT_TRUE(iova_in_ranges(&ci, self->y, BUF_SIZE));
	ASSERT_FALSE(iova_in_ranges(&ci, MSI_START, PG));
	ASSERT_TRUE(ci.has_migration);
	ASSERT_NE(0ULL, ci.mig_pgsizes & PG);
	ASSERT_NE(0ULL, ci.mig_max_bitmap);
	ASSERT_TRUE(ci.has_avail);
	avail0 = ci.avail;
	ASSERT_EQ(self->limit, avail0);
	/* The core's limit is a parameter, as type1's is */
	if (self->core)
		ASSERT_LT(0, read_long_file(CORE_LIMIT_PARAM));

	/* each mapping takes exactly one entry */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, vfio_map_rw(self->fd, i == 1 ? self->b : self->a,
					 iovas[i], BUF_SIZE));
		ASSERT_EQ(0, compat_get_info(self->fd, &ci));
		ASSERT_TRUE(ci.has_avail);
		ASSERT_EQ(avail0 - i - 1, ci.avail);
		/* the mappings do not change the usable ranges */
		ASSERT_TRUE(iova_in_ranges(&ci, iovas[i], BUF_SIZE));
	}
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->y, BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	ASSERT_EQ(0, compat_get_info(self->fd, &ci));
	ASSERT_EQ(avail0 - 2, ci.avail);
	ASSERT_EQ(0, vfio_unmap(self->fd, UNMAP_ALL, 0, 0, &unmapped));
	ASSERT_EQ(2 * BUF_SIZE, unmapped);
	ASSERT_EQ(0, compat_get_info(self->fd, &ci));
	ASSERT_EQ(avail0, ci.avail);
	TH_LOG("%u DMA entries available, migration pgsizes %#llx, bitmap max %#llx",
	       avail0, (unsigned long long)ci.mig_pgsizes,
	       (unsigned long long)ci.mig_max_bitmap);
}

TEST_F(compat_edu, dirty_tracking)
{
	const __u64 all = (1ULL << BUF_PAGES) - 1;
	__u64 bitmap[2], unmapped = 0;
	char expect[DMA_LEN];

	if (self->skip)
		return;
	if (!self->v2) {
		ASSERT_EQ(-EACCES, vfio_dirty(self->fd, DIRTY_START));
		return;
	}
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, vfio_dirty(self->fd, DIRTY_START));
	ASSERT_EQ(0, edu_prime(&self->edu, self->a, self->x, 0x87, expect));
	ASSERT_EQ(0, edu_store(&self->edu, self->x + PG));

	/* every page of the mapping, however little the device touched */
	memset(bitmap, 0, sizeof(bitmap));
	ASSERT_EQ(0, vfio_dirty_get(self->fd, self->x, BUF_SIZE, bitmap, 8));
	ASSERT_EQ(all, bitmap[0]);
	ASSERT_EQ(0ULL, bitmap[1]);
	/* and again: a pinned mapping stays dirty while tracking is on */
	memset(bitmap, 0, sizeof(bitmap));
	ASSERT_EQ(0, vfio_dirty_get(self->fd, self->x, BUF_SIZE, bitmap, 8));
	ASSERT_EQ(all, bitmap[0]);

	/* a mapping made while tracking is on */
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->b, self->y, BUF_SIZE));
	memset(bitmap, 0, sizeof(bitmap));
	ASSERT_EQ(0, vfio_dirty_get(self->fd, self->y, BUF_SIZE, bitmap, 8));
	ASSERT_EQ(all, bitmap[0]);

	/* stopped: no bitmap, and UNMAP with one is refused, unmapping nothing */
	ASSERT_EQ(0, vfio_dirty(self->fd, DIRTY_STOP));
	ASSERT_EQ(-EINVAL, vfio_dirty_get(self->fd, self->x, BUF_SIZE, bitmap,
					  8));
	ASSERT_EQ(-EINVAL, vfio_unmap_dirty(self->fd, self->x, BUF_SIZE,
					    bitmap, 8, &unmapped));
	memset(self->a, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_EQ(0, memcmp(self->a, expect, DMA_LEN));

	ASSERT_EQ(0, vfio_dirty(self->fd, DIRTY_START));
	memset(bitmap, 0, sizeof(bitmap));
	ASSERT_EQ(0, vfio_unmap_dirty(self->fd, self->x, BUF_SIZE, bitmap, 8,
				      &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	ASSERT_EQ(all, bitmap[0]);
	ASSERT_EQ(0ULL, bitmap[1]);
	ASSERT_EQ(0, vfio_dirty(self->fd, DIRTY_STOP));
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->y, BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
}

/*
 * UPDATE_VADDR the way a VMM does across exec: the old vaddr goes away,
 * the same memfd pages come back at a new vaddr. The device keeps
 * reaching the same pages throughout.
 */
/*
 * exec() with mappings withdrawn by VFIO_DMA_UNMAP_FLAG_VADDR: the new
 * image gives them back, and takes their charge over within its own
 * RLIMIT_MEMLOCK, as a VMM restarting itself does.
 */
#define EXEC_STAGE2_ENV		"VFIO_COMPAT_EXEC_STAGE2"
#define EXEC_LIMIT		(3 * PG)

/* The image after exec(): 0, or the step that failed */
static int exec_stage2(int fd, int memfd, __u64 iova)
{
	struct rlimit lim = { .rlim_cur = EXEC_LIMIT, .rlim_max = EXEC_LIMIT };
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_VADDR,
		.iova = iova, .size = 2 * PG,
	};
	char *mem, *extra;

	if (setrlimit(RLIMIT_MEMLOCK, &lim) || drop_cap_ipc_lock())
		return 1;
	mem = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	extra = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || extra == MAP_FAILED)
		return 2;
	memset(extra, 1, 2 * PG);
	if (vfio_map_rw(fd, mem + 2 * PG, iova + 16 * PG, PG))
		return 3;
	if (vm_locked_kb() != PG / 1024)
		return 4;
	map.vaddr = (uintptr_t)mem;
	if (ioctl(fd, VFIO_IOMMU_MAP_DMA, &map))
		return 5;
	if (vm_locked_kb() != 3 * PG / 1024)
		return 6;
	/* the limit is reached: one more page is too many */
	if (vfio_map_rw(fd, extra, iova + 32 * PG, PG) != -ENOMEM)
		return 7;
	return 0;
}

static void __attribute__((constructor)) exec_stage2_hook(void)
{
	const char *env = getenv(EXEC_STAGE2_ENV);
	unsigned long long iova;
	int fd, memfd;

	if (!env)
		return;
	if (sscanf(env, "%d,%d,%llx", &fd, &memfd, &iova) != 3)
		_exit(100);
	_exit(exec_stage2(fd, memfd, iova));
}

/* Before exec(): 0, or the step that failed */
static int exec_stage1(int fd, __u64 iova)
{
	static const char *const argv[] = { "vfio_compat", NULL };
	char env[128], *envp[] = { env, NULL };
	__u64 unmapped = 0;
	char *mem;
	int memfd;

	memfd = syscall(SYS_memfd_create, "exec_vaddr", 0);
	if (memfd < 0 || ftruncate(memfd, 3 * PG))
		return 20;
	mem = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return 21;
	memset(mem, 2, 3 * PG);
	if (vfio_map_rw(fd, mem, iova, 2 * PG))
		return 22;
	if (vfio_unmap(fd, UNMAP_VADDR, iova, 2 * PG, &unmapped) || unmapped != 2 * PG)
		return 23;
	if (fcntl(fd, F_SETFD, 0))
		return 24;
	snprintf(env, sizeof(env), EXEC_STAGE2_ENV "=%d,%d,%llx", fd, memfd,
		 (unsigned long long)iova);
	execve("/proc/self/exe", (char *const *)argv, envp);
	return 25;
}

TEST_F(compat_edu, exec_vaddr_charge)
{
	int status = -1;
	pid_t pid;

	if (self->skip)
		return;
	if (ioctl(self->fd, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR) != 1)
		SKIP(return, "no VFIO_UPDATE_VADDR");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(exec_stage1(self->fd, self->x));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("failed at step %d", WEXITSTATUS(status));
}

/*
 * Peer-to-peer: a mapping of a device BAR (a VM_PFNMAP mmap of a vfio-pci
 * region, without struct pages) is mapped, charged nothing, and DMA
 * through it reaches the BAR: edu reads its own ID register.
 */
TEST_F(compat_edu, map_bar_p2p)
{
	long locked;
	__u32 id = 0;

	if (self->skip)
		return;
	locked = vm_locked_kb();
	ASSERT_EQ(0, vfio_map(self->fd, VFIO_DMA_MAP_FLAG_READ, (uintptr_t)self->edu.bar0,
			      self->y, PG));
	ASSERT_EQ(locked, vm_locked_kb());
	memset(self->a, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	/* 4 bytes: edu answers its registers to 4-byte reads only */
	ASSERT_EQ(0, edu_dma(&self->edu, self->y + EDU_REG_ID, EDU_BUF_ADDR, 4, false));
	ASSERT_EQ(0, edu_dma(&self->edu, EDU_BUF_ADDR, self->x, 4, true));
	memcpy(&id, self->a, sizeof(id));
	ASSERT_EQ(EDU_ID_VALUE, id);
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->y, PG, NULL));
	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->x, BUF_SIZE, NULL));
	ASSERT_EQ(locked, vm_locked_kb());
}

TEST_F(compat_edu, update_vaddr)
{
	char expect[DMA_LEN];
	void *va1, *va2;
	__u64 unmapped = 0;
	int memfd;

	if (self->skip)
		return;
	ASSERT_EQ(1, ioctl(self->fd, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR));
	memfd = memfd_create("vfio_compat", MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, BUF_SIZE));
	va1 = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, va1);

	ASSERT_EQ(0, vfio_map_rw(self->fd, va1, self->x, BUF_SIZE));
	ASSERT_EQ(0, edu_prime(&self->edu, va1, self->x, 0xa9, expect));
	ASSERT_EQ(0, vfio_unmap(self->fd, UNMAP_VADDR, self->x, BUF_SIZE,
				&unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);

	/* the same pages at a new address, the old one gone */
	va2 = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, va2);
	ASSERT_EQ(0, munmap(va1, BUF_SIZE));
	memset(va2, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x + PG + 64));
	ASSERT_EQ(0, memcmp((char *)va2 + PG + 64, expect, DMA_LEN));

	ASSERT_EQ(0, vfio_map(self->fd, VFIO_DMA_MAP_FLAG_VADDR, (uintptr_t)va2,
			      self->x, BUF_SIZE));
	memset(va2, 0, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x + 5 * PG));
	ASSERT_EQ(0, memcmp((char *)va2 + 5 * PG, expect, DMA_LEN));
	ASSERT_EQ(-1, check_fill(va2, 5 * PG, 0));

	ASSERT_EQ(0, vfio_unmap(self->fd, 0, self->x, BUF_SIZE, &unmapped));
	ASSERT_EQ(BUF_SIZE, unmapped);
	memset(va2, SENTINEL, BUF_SIZE);
	ASSERT_EQ(0, edu_store(&self->edu, self->x));
	ASSERT_EQ(-1, check_fill(va2, BUF_SIZE, SENTINEL));
	munmap(va2, BUF_SIZE);
	close(memfd);
}

/* Store to @iova; true if it landed at @p, false if @p kept SENTINEL */
static int store_lands(struct edu *edu, __u64 iova, char *p,
		       const char *expect)
{
	memset(p, SENTINEL, DMA_LEN);
	if (edu_store(edu, iova))
		return -1;
	if (!memcmp(p, expect, DMA_LEN))
		return 1;
	return check_fill(p, DMA_LEN, SENTINEL) == -1 ? 0 : -1;
}

/*
 * Unmap the middle two pages of a four page mapping. v2 refuses; type1
 * v1 returns size 0 and keeps it all; the core unmaps just those: (a).
 */
TEST_F(compat_edu, partial_unmap)
{
	const __u64 len = 4 * PG;
	char expect[DMA_LEN], *a = self->a;
	__u64 unmapped = ~0ULL, x = self->x;
	int blocked;

	if (self->skip)
		return;
	ASSERT_EQ(0, vfio_map_rw(self->fd, a, x, len));
	ASSERT_EQ(0, edu_prime(&self->edu, a, x, 0xcb, expect));

	if (self->v2) {
		ASSERT_EQ(-EINVAL, vfio_unmap(self->fd, 0, x + PG, 2 * PG,
					      &unmapped));
		ASSERT_EQ(1, store_lands(&self->edu, x + PG, a + PG, expect));
		ASSERT_EQ(0, vfio_unmap(self->fd, 0, x, len, &unmapped));
		ASSERT_EQ(len, unmapped);
		return;
	}

	ASSERT_EQ(0, vfio_unmap(self->fd, 0, x + PG, 2 * PG, &unmapped));
	ASSERT_EQ(self->core ? 2 * PG : 0, unmapped);
	blocked = self->core ? 0 : 1;
	ASSERT_EQ(1, store_lands(&self->edu, x, a, expect));
	ASSERT_EQ(blocked, store_lands(&self->edu, x + PG, a + PG, expect));
	ASSERT_EQ(blocked, store_lands(&self->edu, x + 2 * PG, a + 2 * PG,
				       expect));
	ASSERT_EQ(1, store_lands(&self->edu, x + 3 * PG, a + 3 * PG, expect));

	ASSERT_EQ(0, vfio_unmap(self->fd, 0, x, len, &unmapped));
	ASSERT_EQ(self->core ? 2 * PG : len, unmapped);
	ASSERT_EQ(0, store_lands(&self->edu, x, a, expect));
	ASSERT_EQ(0, store_lands(&self->edu, x + 3 * PG, a + 3 * PG, expect));
}

/*
 * Pins are counted by the core's test ioctl on a separate /dev/ioasid
 * file; it looks at the pages themselves, so it sees type1's pins too.
 * Returns the checker fd, or -1 when CONFIG_IOASID_TEST is missing.
 */
static int pin_checker(void *p, __u64 len)
{
	int fd = ioasid_open();

	if (fd < 0)
		return -1;
	if (mock_check_refs(fd, p, len, 0) == -ENOTTY) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Close an fd the fixture holds, so that the teardown skips it */
static void close_fd(int *fd)
{
	close(*fd);
	*fd = -1;
}

TEST_F(compat_edu, close_device_first)
{
	int checker;

	if (self->skip)
		return;
	checker = pin_checker(self->a, BUF_SIZE);
	if (checker < 0)
		SKIP(return, "needs /dev/ioasid with CONFIG_IOASID_TEST");
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	edu_close(&self->edu);
	/* group and container still hold the mapping */
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	close_fd(&self->group_fd);
	/* type1 drops it with the last group; the core may keep it */
	TH_LOG("after the group's close the pages are %spinned",
	       mock_check_refs(checker, self->a, BUF_SIZE, 0) ? "" : "un");
	close_fd(&self->fd);
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 0));
	close(checker);
}

TEST_F(compat_edu, close_container_first)
{
	int checker;

	if (self->skip)
		return;
	checker = pin_checker(self->a, BUF_SIZE);
	if (checker < 0)
		SKIP(return, "needs /dev/ioasid with CONFIG_IOASID_TEST");
	ASSERT_EQ(0, vfio_map_rw(self->fd, self->a, self->x, BUF_SIZE));
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	close_fd(&self->fd);
	/* the group holds the container: the mapping lives on */
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	edu_close(&self->edu);
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 1));
	close_fd(&self->group_fd);
	ASSERT_EQ(0, mock_check_refs(checker, self->a, BUF_SIZE, 0));
	close(checker);
}

/*
 * /dev/vfio/vfio, whoever serves it, is a VFIO container and nothing more:
 * before a group and an IOMMU type, no ioctl but VFIO's first three does
 * anything, and it is no /dev/ioasid file a device could be bound to.
 */
TEST(container_node_is_a_container)
{
	struct ioasid_ioas_create create = { .argsz = sizeof(create) };
	struct ioasid_test_cmd t = { .argsz = sizeof(t), .op = IOASID_TEST_CHARGES };
	char bdf[32], cdev[PATH_MAX];
	int fd, dev_fd, group;

	fd = open(VFIO_CONTAINER_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, VFIO_CONTAINER_PATH " is missing");
	ASSERT_EQ(VFIO_API_VERSION, ioctl(fd, VFIO_GET_API_VERSION));
	ASSERT_EQ(-EINVAL, ioasid_do(fd, IOASID_IOAS_CREATE, &create));
	ASSERT_EQ(-EINVAL, ioasid_do(fd, IOASID_TEST, &t));
	ASSERT_EQ(-EINVAL, ioasid_destroy(fd, NO_SUCH_ID));
	ASSERT_EQ(-EINVAL, vfio_map(fd, RW, (uintptr_t)&t, X_MIN, PG));
	ASSERT_EQ(-1, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(EINVAL, errno);
	if (!find_edu(bdf, sizeof(bdf), &group) &&
	    !pci_vfio_cdev_path(bdf, cdev, sizeof(cdev))) {
		dev_fd = open(cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dev_fd);
		ASSERT_EQ(-EINVAL, cdev_bind(dev_fd, fd, NULL));
		close(dev_fd);
	}
	close(fd);
}

TEST_HARNESS_MAIN
