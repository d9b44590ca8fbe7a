// SPDX-License-Identifier: GPL-2.0-only
/*
 * edu_dma_demo: one edu DMA round trip through VFIO type1, told in plain
 * words. `make run` runs it in a nested guest, whose edu device is the
 * host's, passed through by QEMU's vfio-pci, behind the guest's vIOMMU:
 * the guest's map becomes an entry in its vIOMMU's page table, which
 * QEMU (caching mode) turns into a map on the host's /dev/vfio/vfio.
 *
 * Not a test: it exits 0 when the bytes came back, 1 otherwise.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "edu.h"

#define IOVA		0x100000ULL
#define SIZE		(2 * 4096)

static int fail(const char *what)
{
	printf("guest: %s failed: %s\n", what, strerror(errno));
	return 1;
}

/* The group path of VFIO type1: container, group, device */
static int vfio_type1_open(const char *bdf, int *container)
{
	char path[64];
	int group_fd, device_fd, group = edu_iommu_group(bdf);

	if (group < 0)
		return -1;
	*container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (*container < 0 || group_fd < 0 ||
	    ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, container) ||
	    ioctl(*container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -1;
	device_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	close(group_fd);
	return device_fd;
}

int main(void)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = IOVA,
		.size = SIZE,
	};
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = IOVA,
		.size = SIZE,
	};
	char bdf[32], iommu[64] = "none";
	int container = -1, device_fd, i, n;
	unsigned char *buf;
	struct edu edu;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (edu_find(bdf, sizeof(bdf)))
		return fail("finding the edu device");
	edu_sysfs_link_name(bdf, "iommu", iommu, sizeof(iommu));
	printf("guest: edu device %s, behind IOMMU %s\n", bdf, iommu);
	device_fd = vfio_type1_open(bdf, &container);
	if (device_fd < 0)
		return fail("opening it through VFIO type1");
	if (edu_open_from_device_fd(&edu, device_fd))
		return fail(edu.failed_step);

	buf = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return fail("mmap");
	for (i = 0; i < 4096; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	memset(buf + 4096, 0, 4096);
	map.vaddr = (unsigned long)buf;
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
		return fail("VFIO_IOMMU_MAP_DMA");
	printf("guest: mapped 8 KiB of its memory at IOVA %#llx\n", IOVA);

	if (edu_load(&edu, IOVA) || edu_store(&edu, IOVA + 4096))
		return fail("the edu DMA");
	n = memcmp(buf, buf + 4096, EDU_TEST_DMA_LEN);
	printf("guest: edu read %d bytes by DMA at IOVA %#llx and wrote them at %#llx: %s\n",
	       EDU_TEST_DMA_LEN, IOVA, IOVA + 4096,
	       n ? "they differ" : "identical");

	ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
	edu_close(&edu);
	close(container);
	return n ? 1 : 0;
}
