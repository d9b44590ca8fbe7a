// SPDX-License-Identifier: GPL-2.0-only
/*
 * mdma: a mediated device that does DMA the way emulated devices do, by
 * copying through vfio_dma_rw() or by pinning pages with vfio_pin_pages()
 * and touching them from the CPU. It has no other purpose than letting
 * tests check those interfaces, and their unmap callback, against the VFIO
 * type1 container and against /dev/ioasid alike
 * (tools/testing/selftests/ioasid/vfio_mdev_dma.c).
 *
 * The parent device is /sys/class/mdma/mdma; it offers one mdev type,
 * "mdma-1". An instance is made by writing a UUID to
 * /sys/class/mdev_bus/mdma/mdev_supported_types/mdma-1/create.
 *
 * Device model
 * ============
 *
 * VFIO_DEVICE_GET_INFO: flags VFIO_DEVICE_FLAGS_PLATFORM (regions and
 * interrupts with no fixed meaning) | VFIO_DEVICE_FLAGS_RESET, one region,
 * no interrupts. VFIO_DEVICE_RESET is supported.
 *
 * Region 0: 4 KiB at file offset 0, read and write through pread() and
 * pwrite(), no mmap. Registers are little-endian and take naturally aligned
 * 32-bit accesses; IOVA also takes one 64-bit access. Any other register
 * access, and a write to a read-only register, fails with -EINVAL.
 *
 *   0x000  IOVA         u64  rw  bus address the next command works on
 *   0x008  LEN          u32  rw  length in bytes of the next command
 *   0x00c  CMD          u32  rw  writing it runs the command, synchronously
 *   0x010  STATUS       u32  ro  0, or the positive errno of the last command
 *   0x014  UNMAP_COUNT  u32  ro  dma_unmap callbacks that dropped pinned pages
 *   0x018  PINNED       u32  ro  pages the device holds pinned
 *   0x01c  ID           u32  ro  MDMA_ID ("MDMA" in ASCII)
 *   0x800  data window, 2 KiB, any access: the device's own buffer
 *
 * Commands. A transfer moves LEN bytes between the start of the data
 * window and [IOVA, IOVA + LEN); LEN is 1 to 2048.
 *
 *   1 RW_TO_MEM    vfio_dma_rw() write: data window -> IOVA
 *   2 RW_FROM_MEM  vfio_dma_rw() read: IOVA -> data window
 *   3 PIN          vfio_pin_pages(), for reading and writing, of the pages
 *                  covering [IOVA, IOVA + LEN): at most MDMA_MAX_PIN_PAGES
 *                  pages, one pinned range at a time
 *   4 PIN_WRITE    data window -> IOVA, through the pinned pages
 *   5 PIN_READ     IOVA -> data window, through the pinned pages
 *   6 UNPIN        vfio_unpin_pages() of the pinned range
 *
 * STATUS after a command: 0; the errno VFIO returned; or one of the
 * device's own: EINVAL (LEN 0 or too large, IOVA + LEN wraps), EBUSY (PIN
 * with a range already pinned), ENOENT (PIN_WRITE, PIN_READ or UNPIN with
 * nothing pinned), ERANGE (PIN_WRITE or PIN_READ outside the pinned range),
 * EOPNOTSUPP (unknown command).
 *
 * Unmap, close and reset. When userspace unmaps IOVA from the container or
 * IOAS, the dma_unmap callback unpins the whole pinned range if it meets
 * the unmapped one and then counts one in UNMAP_COUNT. Closing the device
 * and VFIO_DEVICE_RESET unpin too; open and reset clear every register and
 * the data window.
 *
 * Locking. mdma->lock guards all device state and is held across
 * vfio_dma_rw(), vfio_pin_pages() and vfio_unpin_pages(); dma_unmap takes
 * it as well and calls vfio_unpin_pages() under it, but never pins or
 * copies. The IOMMU backend must therefore call dma_unmap without holding
 * a lock that those three calls take. mdma->lock is never held across a
 * copy to or from the user buffer of read() and write().
 */
#include <linux/device.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#define MDMA_NAME		"mdma"
#define MDMA_MAX_INSTANCES	8

#define MDMA_REGION_SIZE	0x1000
#define MDMA_REG_IOVA		0x000
#define MDMA_REG_IOVA_HI	0x004
#define MDMA_REG_LEN		0x008
#define MDMA_REG_CMD		0x00c
#define MDMA_REG_STATUS		0x010
#define MDMA_REG_UNMAP_COUNT	0x014
#define MDMA_REG_PINNED		0x018
#define MDMA_REG_ID		0x01c
#define MDMA_DATA_OFFSET	0x800
#define MDMA_DATA_SIZE		(MDMA_REGION_SIZE - MDMA_DATA_OFFSET)

/* "MDMA" when read little-endian */
#define MDMA_ID			0x414d444d

#define MDMA_CMD_RW_TO_MEM	1
#define MDMA_CMD_RW_FROM_MEM	2
#define MDMA_CMD_PIN		3
#define MDMA_CMD_PIN_WRITE	4
#define MDMA_CMD_PIN_READ	5
#define MDMA_CMD_UNPIN		6

#define MDMA_MAX_PIN_PAGES	4

struct mdma_state {
	struct vfio_device vdev;
	struct mutex lock;		/* guards everything below */
	u64 iova;
	u32 len;
	u32 cmd;
	u32 status;
	u32 unmap_count;
	u64 pin_iova;			/* page aligned */
	unsigned int pin_npages;	/* 0: nothing pinned */
	struct page *pin_pages[MDMA_MAX_PIN_PAGES];
	u8 data[MDMA_DATA_SIZE];
};

struct mdma_parent {
	struct device dev;
	struct mdev_parent parent;
};

static struct class *mdma_class;
static struct mdma_parent *mdma_parent;

static struct mdev_type mdma_type = {
	.sysfs_name = "1",
	.pretty_name = "DMA through vfio_pin_pages and vfio_dma_rw",
};

static struct mdev_type *mdma_types[] = {
	&mdma_type,
};

static struct mdma_state *to_mdma(struct vfio_device *vdev)
{
	return container_of(vdev, struct mdma_state, vdev);
}

/* Check a command's range; @max is the largest LEN the command takes. */
static int mdma_check_range(u64 iova, u32 len, u32 max, u64 *last)
{
	if (!len || len > max)
		return -EINVAL;
	if (check_add_overflow(iova, (u64)len - 1, last))
		return -EINVAL;
	/* dma_addr_t may be narrower than the register */
	if ((dma_addr_t)*last != *last)
		return -EINVAL;
	return 0;
}

static u64 mdma_pin_last(struct mdma_state *mdma)
{
	return mdma->pin_iova + ((u64)mdma->pin_npages << PAGE_SHIFT) - 1;
}

static void mdma_unpin_all(struct mdma_state *mdma)
{
	lockdep_assert_held(&mdma->lock);
	if (!mdma->pin_npages)
		return;
	vfio_unpin_pages(&mdma->vdev, mdma->pin_iova, mdma->pin_npages);
	memset(mdma->pin_pages, 0, sizeof(mdma->pin_pages));
	mdma->pin_npages = 0;
	mdma->pin_iova = 0;
}

/* Back to the state after power-on, with nothing pinned. */
static void mdma_clear(struct mdma_state *mdma)
{
	lockdep_assert_held(&mdma->lock);
	mdma_unpin_all(mdma);
	mdma->iova = 0;
	mdma->len = 0;
	mdma->cmd = 0;
	mdma->status = 0;
	mdma->unmap_count = 0;
	memset(mdma->data, 0, sizeof(mdma->data));
}

static int mdma_cmd_rw(struct mdma_state *mdma, bool to_mem)
{
	u64 last;
	int ret;

	ret = mdma_check_range(mdma->iova, mdma->len, MDMA_DATA_SIZE, &last);
	if (ret)
		return ret;
	return vfio_dma_rw(&mdma->vdev, mdma->iova, mdma->data, mdma->len,
			   to_mem);
}

static int mdma_cmd_pin(struct mdma_state *mdma)
{
	u64 first, last;
	int npages, ret;

	if (mdma->pin_npages)
		return -EBUSY;
	ret = mdma_check_range(mdma->iova, mdma->len,
			       MDMA_MAX_PIN_PAGES * PAGE_SIZE, &last);
	if (ret)
		return ret;
	first = ALIGN_DOWN(mdma->iova, PAGE_SIZE);
	npages = ((last - first) >> PAGE_SHIFT) + 1;
	if (npages > MDMA_MAX_PIN_PAGES)
		return -EINVAL;

	ret = vfio_pin_pages(&mdma->vdev, first, npages,
			     IOMMU_READ | IOMMU_WRITE, mdma->pin_pages);
	if (ret < 0)
		return ret;
	if (ret != npages) {
		/* the backends pin all or nothing; do not trust a short pin */
		if (ret)
			vfio_unpin_pages(&mdma->vdev, first, ret);
		memset(mdma->pin_pages, 0, sizeof(mdma->pin_pages));
		return -EFAULT;
	}
	mdma->pin_iova = first;
	mdma->pin_npages = npages;
	return 0;
}

/* Copy between the data window and the pinned pages, from the CPU. */
static int mdma_cmd_pinned_copy(struct mdma_state *mdma, bool to_mem)
{
	u64 last, off;
	u32 done, n;
	int ret;

	if (!mdma->pin_npages)
		return -ENOENT;
	ret = mdma_check_range(mdma->iova, mdma->len, MDMA_DATA_SIZE, &last);
	if (ret)
		return ret;
	if (mdma->iova < mdma->pin_iova || last > mdma_pin_last(mdma))
		return -ERANGE;

	off = mdma->iova - mdma->pin_iova;
	for (done = 0; done < mdma->len; done += n, off += n) {
		struct page *page = mdma->pin_pages[off >> PAGE_SHIFT];
		unsigned int in_page = off & (PAGE_SIZE - 1);
		u8 *va;

		n = min_t(u32, mdma->len - done, PAGE_SIZE - in_page);
		va = kmap_local_page(page);
		if (to_mem) {
			memcpy(va + in_page, mdma->data + done, n);
			flush_dcache_page(page);
		} else {
			memcpy(mdma->data + done, va + in_page, n);
		}
		kunmap_local(va);
	}
	return 0;
}

static int mdma_cmd_unpin(struct mdma_state *mdma)
{
	if (!mdma->pin_npages)
		return -ENOENT;
	mdma_unpin_all(mdma);
	return 0;
}

static int mdma_run(struct mdma_state *mdma)
{
	lockdep_assert_held(&mdma->lock);
	switch (mdma->cmd) {
	case MDMA_CMD_RW_TO_MEM:
		return mdma_cmd_rw(mdma, true);
	case MDMA_CMD_RW_FROM_MEM:
		return mdma_cmd_rw(mdma, false);
	case MDMA_CMD_PIN:
		return mdma_cmd_pin(mdma);
	case MDMA_CMD_PIN_WRITE:
		return mdma_cmd_pinned_copy(mdma, true);
	case MDMA_CMD_PIN_READ:
		return mdma_cmd_pinned_copy(mdma, false);
	case MDMA_CMD_UNPIN:
		return mdma_cmd_unpin(mdma);
	}
	return -EOPNOTSUPP;
}

static bool mdma_reg_access_ok(unsigned int off, size_t size)
{
	if (size == sizeof(u64))
		return off == MDMA_REG_IOVA;
	return size == sizeof(u32) && IS_ALIGNED(off, sizeof(u32)) &&
	       off <= MDMA_REG_ID;
}

static u64 mdma_reg_get(struct mdma_state *mdma, unsigned int off,
			size_t size)
{
	lockdep_assert_held(&mdma->lock);
	switch (off) {
	case MDMA_REG_IOVA:
		return size == sizeof(u64) ? mdma->iova :
					     lower_32_bits(mdma->iova);
	case MDMA_REG_IOVA_HI:
		return upper_32_bits(mdma->iova);
	case MDMA_REG_LEN:
		return mdma->len;
	case MDMA_REG_CMD:
		return mdma->cmd;
	case MDMA_REG_STATUS:
		return mdma->status;
	case MDMA_REG_UNMAP_COUNT:
		return mdma->unmap_count;
	case MDMA_REG_PINNED:
		return mdma->pin_npages;
	case MDMA_REG_ID:
		return MDMA_ID;
	}
	return 0;	/* not reached: mdma_reg_access_ok() was checked */
}

static int mdma_reg_set(struct mdma_state *mdma, unsigned int off,
			size_t size, u64 val)
{
	lockdep_assert_held(&mdma->lock);
	switch (off) {
	case MDMA_REG_IOVA:
		if (size == sizeof(u64))
			mdma->iova = val;
		else
			mdma->iova = (mdma->iova & ~(u64)U32_MAX) | val;
		return 0;
	case MDMA_REG_IOVA_HI:
		mdma->iova = lower_32_bits(mdma->iova) | val << 32;
		return 0;
	case MDMA_REG_LEN:
		mdma->len = val;
		return 0;
	case MDMA_REG_CMD:
		mdma->cmd = val;
		mdma->status = -mdma_run(mdma);
		return 0;
	}
	return -EINVAL;		/* read-only */
}

static ssize_t mdma_reg_read(struct mdma_state *mdma, char __user *buf,
			     size_t count, unsigned int off)
{
	__le64 val64;
	__le32 val32;
	void *src;
	u64 val;

	if (!mdma_reg_access_ok(off, count))
		return -EINVAL;
	mutex_lock(&mdma->lock);
	val = mdma_reg_get(mdma, off, count);
	mutex_unlock(&mdma->lock);

	if (count == sizeof(u64)) {
		val64 = cpu_to_le64(val);
		src = &val64;
	} else {
		val32 = cpu_to_le32(val);
		src = &val32;
	}
	if (copy_to_user(buf, src, count))
		return -EFAULT;
	return count;
}

static ssize_t mdma_reg_write(struct mdma_state *mdma,
			      const char __user *buf, size_t count,
			      unsigned int off)
{
	__le64 val64;
	__le32 val32;
	u64 val;
	int ret;

	if (!mdma_reg_access_ok(off, count))
		return -EINVAL;
	if (count == sizeof(u64)) {
		if (copy_from_user(&val64, buf, count))
			return -EFAULT;
		val = le64_to_cpu(val64);
	} else {
		if (copy_from_user(&val32, buf, count))
			return -EFAULT;
		val = le32_to_cpu(val32);
	}

	mutex_lock(&mdma->lock);
	ret = mdma_reg_set(mdma, off, count, val);
	mutex_unlock(&mdma->lock);
	return ret ? ret : count;
}

static ssize_t mdma_data_read(struct mdma_state *mdma, char __user *buf,
			      size_t count, unsigned int off)
{
	ssize_t ret = count;
	u8 *bounce;

	bounce = kmalloc(count, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	mutex_lock(&mdma->lock);
	memcpy(bounce, mdma->data + off, count);
	mutex_unlock(&mdma->lock);
	if (copy_to_user(buf, bounce, count))
		ret = -EFAULT;
	kfree(bounce);
	return ret;
}

static ssize_t mdma_data_write(struct mdma_state *mdma,
			       const char __user *buf, size_t count,
			       unsigned int off)
{
	u8 *bounce;

	bounce = memdup_user(buf, count);
	if (IS_ERR(bounce))
		return PTR_ERR(bounce);
	mutex_lock(&mdma->lock);
	memcpy(mdma->data + off, bounce, count);
	mutex_unlock(&mdma->lock);
	kfree(bounce);
	return count;
}

/*
 * Where an access of @count bytes at @pos goes: 1 for the data window, 0
 * for the registers, -EINVAL when it falls outside the region or straddles
 * the two.
 */
static int mdma_locate(size_t count, loff_t pos)
{
	if (!count || pos < 0 || pos >= MDMA_REGION_SIZE ||
	    count > MDMA_REGION_SIZE - (size_t)pos)
		return -EINVAL;
	if (pos >= MDMA_DATA_OFFSET)
		return 1;
	return (size_t)pos + count <= MDMA_DATA_OFFSET ? 0 : -EINVAL;
}

static ssize_t mdma_read(struct vfio_device *vdev, char __user *buf,
			 size_t count, loff_t *ppos)
{
	struct mdma_state *mdma = to_mdma(vdev);
	int where = mdma_locate(count, *ppos);
	ssize_t ret;

	if (where < 0)
		return where;
	if (where)
		ret = mdma_data_read(mdma, buf, count,
				     *ppos - MDMA_DATA_OFFSET);
	else
		ret = mdma_reg_read(mdma, buf, count, *ppos);
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static ssize_t mdma_write(struct vfio_device *vdev, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	struct mdma_state *mdma = to_mdma(vdev);
	int where = mdma_locate(count, *ppos);
	ssize_t ret;

	if (where < 0)
		return where;
	if (where)
		ret = mdma_data_write(mdma, buf, count,
				      *ppos - MDMA_DATA_OFFSET);
	else
		ret = mdma_reg_write(mdma, buf, count, *ppos);
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static int mdma_get_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = 1;
	info.num_irqs = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int mdma_get_region_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index != 0)
		return -EINVAL;
	info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	info.cap_offset = 0;
	info.size = MDMA_REGION_SIZE;
	info.offset = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long mdma_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct mdma_state *mdma = to_mdma(vdev);

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return mdma_get_info((void __user *)arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return mdma_get_region_info((void __user *)arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return -EINVAL;		/* no interrupt index exists */
	case VFIO_DEVICE_RESET:
		mutex_lock(&mdma->lock);
		mdma_clear(mdma);
		mutex_unlock(&mdma->lock);
		return 0;
	}
	return -ENOTTY;
}

static int mdma_open_device(struct vfio_device *vdev)
{
	struct mdma_state *mdma = to_mdma(vdev);

	mutex_lock(&mdma->lock);
	mdma_clear(mdma);
	mutex_unlock(&mdma->lock);
	return 0;
}

static void mdma_close_device(struct vfio_device *vdev)
{
	struct mdma_state *mdma = to_mdma(vdev);

	mutex_lock(&mdma->lock);
	mdma_unpin_all(mdma);
	mutex_unlock(&mdma->lock);
}

/* Userspace is unmapping [@iova, @iova + @length): let go of its pages. */
static void mdma_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct mdma_state *mdma = to_mdma(vdev);
	u64 last;

	if (!length)
		return;
	if (check_add_overflow(iova, length - 1, &last))
		last = U64_MAX;

	mutex_lock(&mdma->lock);
	if (mdma->pin_npages && iova <= mdma_pin_last(mdma) &&
	    mdma->pin_iova <= last) {
		mdma_unpin_all(mdma);
		mdma->unmap_count++;
	}
	mutex_unlock(&mdma->lock);
}

static int mdma_init_dev(struct vfio_device *vdev)
{
	mutex_init(&to_mdma(vdev)->lock);
	return 0;
}

static void mdma_release_dev(struct vfio_device *vdev)
{
	mutex_destroy(&to_mdma(vdev)->lock);
	vfio_free_device(vdev);
}

static const struct vfio_device_ops mdma_dev_ops = {
	.name = "vfio-mdma",
	.init = mdma_init_dev,
	.release = mdma_release_dev,
	.open_device = mdma_open_device,
	.close_device = mdma_close_device,
	.read = mdma_read,
	.write = mdma_write,
	.ioctl = mdma_ioctl,
	.dma_unmap = mdma_dma_unmap,
};

static int mdma_probe(struct mdev_device *mdev)
{
	struct mdma_state *mdma;
	int ret;

	mdma = vfio_alloc_device(mdma_state, vdev, &mdev->dev, &mdma_dev_ops);
	if (IS_ERR(mdma))
		return PTR_ERR(mdma);
	ret = vfio_register_emulated_iommu_dev(&mdma->vdev);
	if (ret) {
		vfio_put_device(&mdma->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, mdma);
	return 0;
}

static void mdma_remove(struct mdev_device *mdev)
{
	struct mdma_state *mdma = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&mdma->vdev);
	vfio_put_device(&mdma->vdev);
}

static struct mdev_driver mdma_driver = {
	.device_api = VFIO_DEVICE_API_PLATFORM_STRING,
	.max_instances = MDMA_MAX_INSTANCES,
	.driver = {
		.name = MDMA_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe = mdma_probe,
	.remove = mdma_remove,
};

static void mdma_parent_release(struct device *dev)
{
	kfree(container_of(dev, struct mdma_parent, dev));
}

static int mdma_parent_add(void)
{
	struct mdma_parent *p;
	int ret;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	device_initialize(&p->dev);
	p->dev.class = mdma_class;
	p->dev.release = mdma_parent_release;
	ret = dev_set_name(&p->dev, MDMA_NAME);
	if (ret)
		goto err_put;
	ret = device_add(&p->dev);
	if (ret)
		goto err_put;
	ret = mdev_register_parent(&p->parent, &p->dev, &mdma_driver,
				   mdma_types, ARRAY_SIZE(mdma_types));
	if (ret)
		goto err_del;
	mdma_parent = p;
	return 0;

err_del:
	device_del(&p->dev);
err_put:
	put_device(&p->dev);
	return ret;
}

static int __init mdma_init(void)
{
	int ret;

	ret = mdev_register_driver(&mdma_driver);
	if (ret)
		return ret;
	mdma_class = class_create(THIS_MODULE, MDMA_NAME);
	if (IS_ERR(mdma_class)) {
		ret = PTR_ERR(mdma_class);
		goto err_driver;
	}
	ret = mdma_parent_add();
	if (ret)
		goto err_class;
	return 0;

err_class:
	class_destroy(mdma_class);
err_driver:
	mdev_unregister_driver(&mdma_driver);
	return ret;
}

static void __exit mdma_exit(void)
{
	mdev_unregister_parent(&mdma_parent->parent);
	device_unregister(&mdma_parent->dev);
	class_destroy(mdma_class);
	mdev_unregister_driver(&mdma_driver);
}

module_init(mdma_init);
module_exit(mdma_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Sample mdev that pins and does DMA through VFIO");
