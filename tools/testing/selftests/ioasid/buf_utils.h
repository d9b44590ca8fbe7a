/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Buffers for the selftests and the benchmark: sizes, populated mappings
 * of 4K pages, THP or hugetlbfs, and byte patterns to check DMA with.
 * Needs no uAPI header, so that ioasid_bench also builds against other
 * kernels' headers (make bench-anchor).
 */
#ifndef __SELFTEST_IOASID_BUF_UTILS_H
#define __SELFTEST_IOASID_BUF_UTILS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SZ_4K			0x1000UL
#define SZ_64K			0x10000UL
#define SZ_1M			0x100000UL
#define SZ_2M			0x200000UL
#define SZ_4M			0x400000UL
#define SZ_1G			0x40000000UL

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif

/* Buffers */

enum buf_kind {
	BUF_SMALL_PAGES,	/* anonymous, order-0 pages only */
	BUF_THP,		/* anonymous, MADV_HUGEPAGE */
	BUF_HUGETLB,		/* MAP_HUGETLB, 2M pages */
	BUF_SCATTERED,		/* order-0 pages, faulted in a scattered order */
};

/* Greatest common divisor */
static inline size_t buf_gcd(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * Fault in the @n pages at @p in a scattered order, page (k * stride) mod
 * @n for k = 0, 1, ...: the page allocator hands out physically adjacent
 * pages one after the other, so virtually adjacent pages end up physically
 * apart, as in the memory of a guest that has run for a while.
 */
static inline void buf_fault_scattered(char *p, size_t n)
{
	size_t k, stride = 40503;	/* a prime: coprime to most @n */

	while (n > 1 && buf_gcd(stride, n) != 1)
		stride += 2;
	for (k = 0; k < n; k++)
		p[(k * stride % n) * SZ_4K] = 1;
}

/*
 * mmap() exactly @length bytes aligned to @align (a power of two), of the
 * given kind, and fault every page in. Returns NULL on failure.
 */
static inline void *buf_map(size_t length, size_t align, enum buf_kind kind)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	size_t span = length + align;
	uintptr_t raw, start;
	void *p;

	if (kind == BUF_HUGETLB) {
		/* hugetlb mappings come 2M aligned */
		p = mmap(NULL, length, PROT_READ | PROT_WRITE,
			 flags | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		memset(p, 0, length);
		return p;
	}

	p = mmap(NULL, span, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	raw = (uintptr_t)p;
	start = (raw + align - 1) & ~(uintptr_t)(align - 1);
	/* trim so that the VMA is exactly the aligned buffer */
	if (start != raw)
		munmap(p, start - raw);
	if (raw + span != start + length)
		munmap((void *)(start + length), raw + span - start - length);
	p = (void *)start;

	if (madvise(p, length, kind == BUF_THP ? MADV_HUGEPAGE :
		    MADV_NOHUGEPAGE)) {
		munmap(p, length);
		return NULL;
	}
	if (kind == BUF_SCATTERED)
		buf_fault_scattered(p, length / SZ_4K);
	memset(p, 0, length);
	return p;
}

/* Write a recognisable byte pattern that depends on @seed */
/* Byte @i of the test pattern @seed */
static inline unsigned char pattern_byte(unsigned int seed, size_t i)
{
	return (unsigned char)(seed * 29 + i * 7 + (i >> 12) * 3 + 1);
}

static inline void fill_pattern(void *p, size_t length, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < length; i++)
		c[i] = pattern_byte(seed, i);
}

/* Index of the first byte that differs from the pattern, or -1 */
static inline long check_pattern(const void *p, size_t length,
				 unsigned int seed)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < length; i++)
		if (c[i] != pattern_byte(seed, i))
			return i;
	return -1;
}

/* THP is usable with MADV_HUGEPAGE: "[always]" or "[madvise]" selected */
static inline bool thp_enabled(void)
{
	char buf[128] = {};
	int fd, n;

	fd = open("/sys/kernel/mm/transparent_hugepage/enabled",
		  O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

/*
 * Whether the whole VMA holding [@p, @p + @length) is backed by THPs,
 * according to AnonHugePages in /proc/self/smaps.
 */
static inline bool thp_backed(const void *p, size_t length)
{
	unsigned long start, end, kb;
	bool in_vma = false, ok = false;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		/* only a VMA header line starts with "start-end" in hex */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in_vma = start <= (uintptr_t)p && (uintptr_t)p < end;
			continue;
		}
		if (in_vma && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) {
			ok = kb * 1024 >= length;
			break;
		}
	}
	fclose(f);
	return ok;
}

#endif
