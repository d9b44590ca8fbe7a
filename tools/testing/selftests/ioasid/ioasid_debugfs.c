// SPDX-License-Identifier: GPL-2.0-only
/*
 * Introspection of /dev/ioasid files through debugfs
 * (/sys/kernel/debug/ioasid/<seq>-<pid>/): a directory per open file,
 * gone with it; the objects, IOAS, attachments and counters files checked
 * line by line against states built with the mock IOMMU; and a race of
 * readers of every file against threads creating and destroying objects,
 * mapping and unmapping, and closing and reopening the file, best run on
 * a kernel with KASAN and lockdep (IOASID_DEBUGFS_RACE_SECS, 5 by
 * default).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fnmatch.h>
#include <stdatomic.h>

#include "ioasid_utils.h"

#define DBG_ROOT	DEBUGFS_MNT "/ioasid"
#define DBG_MAX		SZ_1M
#define PAGE_SZ		SZ_4K
#define OBJ_HDR		"id type holds active detail"
#define ATT_HDR		"kind id pasid hwpt ioas"

/* Read a whole file into a new buffer; NULL with errno set on failure */
static char *slurp(const char *path)
{
	size_t len = 0;
	char *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(DBG_MAX + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, DBG_MAX - len)) > 0)
		len += n;
	if (n < 0) {
		int e = errno;

		free(buf);
		close(fd);
		errno = e;
		return NULL;
	}
	buf[len] = 0;
	close(fd);
	return buf;
}

/* Is @name the directory of a file this process opened? Its seq if so */
static long dbg_mine(const char *name)
{
	char *end;
	long seq = strtol(name, &end, 10);

	if (end == name || *end != '-' || atoi(end + 1) != getpid())
		return -1;
	return seq;
}

/*
 * How many directories of this process there are; the newest one's path
 * in @newest (PATH_MAX, may be NULL) and its seq in *@seq (may be NULL).
 */
static int dbg_dirs(char *newest, long *seq)
{
	struct dirent *de;
	long best = -1;
	int n = 0;
	DIR *d;

	d = opendir(DBG_ROOT);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		long s = dbg_mine(de->d_name);

		if (s < 0)
			continue;
		n++;
		if (s < best)
			continue;
		best = s;
		if (newest)
			snprintf(newest, PATH_MAX, "%s/%s", DBG_ROOT,
				 de->d_name);
	}
	closedir(d);
	if (seq)
		*seq = best;
	return n;
}

/* Collapse runs of blanks into one space and drop trailing ones, in place */
static void squeeze(char *s)
{
	char *w = s;
	bool blank = false;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			blank = true;
			continue;
		}
		if (blank && w != s && *s != '\n' && w[-1] != '\n')
			*w++ = ' ';
		blank = false;
		*w++ = *s;
	}
	*w = 0;
}

/*
 * Check that file @name of @dir has exactly the lines of @pats, in order,
 * blanks squeezed; each a fnmatch() pattern. NULL ends @pats.
 */
static bool lines_match(struct __test_metadata *_metadata, const char *dir,
			const char *name, const char *const *pats)
{
	char path[PATH_MAX], *buf, *line, *save;
	unsigned int i = 0;
	bool ok = true;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf = slurp(path);
	if (!buf) {
		TH_LOG("%s: %s", path, strerror(errno));
		return false;
	}
	squeeze(buf);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		if (!pats[i]) {
			TH_LOG("%s: extra line %u: '%s'", name, i, line);
			ok = false;
			break;
		}
		if (fnmatch(pats[i], line, 0)) {
			TH_LOG("%s: line %u is '%s', not '%s'", name, i, line,
			       pats[i]);
			ok = false;
		}
	}
	if (ok && pats[i]) {
		TH_LOG("%s: %u lines, line %u '%s' missing", name, i, i,
		       pats[i]);
		ok = false;
	}
	free(buf);
	return ok;
}

#define CHECK_LINES(dir, name, ...)					\
	do {								\
		const char *const __pats[] = { __VA_ARGS__, NULL };	\
		ASSERT_TRUE(lines_match(_metadata, dir, name, __pats));	\
	} while (0)

/* The value of counter @key in @dir's counters file, or -1 */
static long long counter(const char *dir, const char *key)
{
	char path[PATH_MAX], *buf, *p;
	long long v = -1;
	size_t n = strlen(key);

	snprintf(path, sizeof(path), "%s/counters", dir);
	buf = slurp(path);
	if (!buf)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (!strncmp(p, key, n) && p[n] == ' ') {
			v = strtoll(p + n + 1, NULL, 10);
			break;
		}
	}
	free(buf);
	return v;
}

/* A formatted pattern, kept until the test ends (the process exits) */
static const char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The line that begins each IOAS in the ioas file */
static const char ioas_fmt[] =
	"ioas %u mappings %u bytes 0x%llx pinned %lld charged %lld hwpts %u domains %u accesses %u";

static const char *ioas_line(__u32 id, unsigned int n, long long pages,
			     unsigned int hwpts, unsigned int domains,
			     unsigned int accesses)
{
	return fmt(ioas_fmt, id, n, pages * PAGE_SZ, pages, pages, hwpts,
		   domains, accesses);
}

FIXTURE(dbg) {
	int fd;
	__u32 ioas;
	char dir[PATH_MAX];
	char *buf;
	bool skip;
};

FIXTURE_SETUP(dbg)
{
	const char *why = ioasid_unusable();

	self->fd = -1;
	self->buf = NULL;
	if (!why && access(DBG_ROOT, F_OK))
		why = DBG_ROOT " is missing (CONFIG_DEBUG_FS, debugfs mounted?)";
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(1, dbg_dirs(self->dir, NULL));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	self->buf = mmap(NULL, 64 * PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(dbg)
{
	if (self->skip)
		return;
	if (self->fd >= 0)
		close(self->fd);
	/* The directory goes with the file */
	EXPECT_EQ(0, dbg_dirs(NULL, NULL));
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, 64 * PAGE_SZ);
}

/* One directory per open file, named <seq>-<pid>, gone at close */
TEST_F(dbg, directory_per_file)
{
	char dir2[PATH_MAX], path[PATH_MAX + 16], c;
	long seq1, seq2;
	int fd2, dfd;

	if (self->skip)
		return;
	ASSERT_EQ(1, dbg_dirs(NULL, &seq1));
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(2, dbg_dirs(dir2, &seq2));
	ASSERT_LT(seq1, seq2);
	snprintf(path, sizeof(path), "%s/objects", dir2);
	ASSERT_EQ(0, access(path, R_OK));
	snprintf(path, sizeof(path), "%s/ioas", dir2);
	ASSERT_EQ(0, access(path, R_OK));
	snprintf(path, sizeof(path), "%s/attachments", dir2);
	ASSERT_EQ(0, access(path, R_OK));
	snprintf(path, sizeof(path), "%s/counters", dir2);
	ASSERT_EQ(0, access(path, R_OK));
	/* a debugfs file held open across the close reads EIO after it */
	dfd = open(path, O_RDONLY);
	ASSERT_LE(0, dfd);
	close(fd2);
	ASSERT_EQ(1, dbg_dirs(path, &seq2));
	ASSERT_EQ(-1, read(dfd, &c, 1));
	ASSERT_EQ(EIO, errno);
	close(dfd);
	ASSERT_EQ(-1, access(dir2, F_OK));
	/* the first file's directory is still there */
	ASSERT_EQ(seq1, seq2);
	ASSERT_STREQ(self->dir, path);
}

/* A new file: one empty IOAS, no attachment, nothing counted */
TEST_F(dbg, empty)
{
	if (self->skip)
		return;
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 1 0", self->ioas));
	CHECK_LINES(self->dir, "ioas",
		    ioas_line(self->ioas, 0, 0, 0, 0, 0));
	CHECK_LINES(self->dir, "attachments", ATT_HDR);
	CHECK_LINES(self->dir, "counters", "maps 0", "unmaps 0",
		    "iotlb_syncs 0", "page_requests 0", "dma_faults 0",
		    "pinned_pages 0", "locked_pages 0", "page_meta_bytes 0");
}

/* An IOAS with N mappings of known IOVAs, sizes and protections */
TEST_F(dbg, ioas_mappings)
{
	static const struct { __u64 iova, pages; __u32 prot; } m[] = {
		{ 0x100000, 1, MAP_RW },
		{ 0x200000, 2, MAP_READ },
		{ 0x400000, 4, MAP_WRITE },
		{ 0x10000000, 8, MAP_RW },
		{ 0x7f0000000, 16, MAP_READ },
	};
	const unsigned int n = ARRAY_SIZE(m);
	long long total = 0;
	unsigned long off = 0;
	const char *lines[8];
	__u64 unmapped, iova;
	unsigned int i;
	__u32 ioas2;

	if (self->skip)
		return;
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas,
					    self->buf + off, m[i].pages * PAGE_SZ,
					    m[i].iova, m[i].prot));
		lines[i + 1] = fmt("0x%016llx-0x%016llx 0x%llx %c%c",
				   m[i].iova,
				   m[i].iova + m[i].pages * PAGE_SZ - 1,
				   m[i].pages * PAGE_SZ,
				   m[i].prot & MAP_READ ? 'r' : '-',
				   m[i].prot & MAP_WRITE ? 'w' : '-');
		off += m[i].pages * PAGE_SZ;
		total += m[i].pages;
	}
	lines[0] = ioas_line(self->ioas, n, total, 0, 0, 0);
	lines[n + 1] = NULL;
	ASSERT_TRUE(lines_match(_metadata, self->dir, "ioas", lines));
	ASSERT_EQ(n, counter(self->dir, "maps"));
	ASSERT_EQ(total, counter(self->dir, "pinned_pages"));
	ASSERT_EQ(total, counter(self->dir, "locked_pages"));
	/* no domain: nothing to sync */
	ASSERT_EQ(0, counter(self->dir, "iotlb_syncs"));

	/* a copy shares the run it maps: counted in both IOASes */
	ASSERT_EQ(0, ioas_alloc(self->fd, &ioas2));
	iova = 0x300000;
	ASSERT_EQ(0, ioas_copy_fixed(self->fd, ioas2, iova, self->ioas,
				     m[3].iova, m[3].pages * PAGE_SZ, MAP_RW));
	CHECK_LINES(self->dir, "ioas", lines[0], lines[1], lines[2], lines[3],
		    lines[4], lines[5],
		    ioas_line(ioas2, 1, m[3].pages, 0, 0, 0),
		    fmt("0x%016llx-0x%016llx 0x%llx rw", iova,
			iova + m[3].pages * PAGE_SZ - 1,
			m[3].pages * PAGE_SZ));
	ASSERT_EQ(n + 1, counter(self->dir, "maps"));
	/* pinned once, however many IOASes map it */
	ASSERT_EQ(total, counter(self->dir, "pinned_pages"));

	/* unmap two; the copy keeps its run pinned */
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, m[0].iova,
				m[0].pages * PAGE_SZ, &unmapped));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, m[3].iova,
				m[3].pages * PAGE_SZ, &unmapped));
	total -= m[0].pages;
	CHECK_LINES(self->dir, "ioas",
		    ioas_line(self->ioas, n - 2,
			      total - (long long)m[3].pages, 0, 0, 0),
		    lines[2], lines[3], lines[5],
		    ioas_line(ioas2, 1, m[3].pages, 0, 0, 0),
		    fmt("0x%016llx-0x%016llx 0x%llx rw", iova,
			iova + m[3].pages * PAGE_SZ - 1,
			m[3].pages * PAGE_SZ));
	ASSERT_EQ(2, counter(self->dir, "unmaps"));
	ASSERT_EQ(total, counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, ioas_unmap_all(self->fd, self->ioas, &unmapped));
	ASSERT_EQ(0, ioas_unmap_all(self->fd, ioas2, &unmapped));
	ASSERT_EQ(n + 1, counter(self->dir, "unmaps"));
	ASSERT_EQ(0, counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, counter(self->dir, "locked_pages"));
}

/*
 * Pages physically contiguous over a 2 MiB piece of a mapping (THP under a
 * 2 MiB aligned buffer) cost no page pointer array; unpinning part of a
 * piece gives it one again, 8 bytes per page of the piece; unpinning the
 * rest frees it.
 */
TEST_F(dbg, page_meta_contiguous)
{
	const __u64 iova = 0x40000000, len = 4 * SZ_1M;
	__u64 unmapped;
	__u32 ioas2;
	char *thp;

	if (self->skip)
		return;
	if (!thp_enabled())
		SKIP(return, "no transparent huge pages for MADV_HUGEPAGE");
	thp = buf_map(len, SZ_2M, BUF_THP);
	ASSERT_NE(NULL, thp);
	if (!thp_backed(thp, len)) {
		munmap(thp, len);
		SKIP(return, "the buffer did not get huge pages");
	}
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas, thp, len, iova,
				    MAP_RW));
	ASSERT_EQ((long long)(len / PAGE_SZ), counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));

	/* a copy of the first 1 MiB keeps a part of the first piece */
	ASSERT_EQ(0, ioas_alloc(self->fd, &ioas2));
	ASSERT_EQ(0, ioas_copy_fixed(self->fd, ioas2, iova, self->ioas, iova,
				     SZ_1M, MAP_RW));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	ASSERT_EQ((long long)(SZ_1M / PAGE_SZ), counter(self->dir, "pinned_pages"));
	ASSERT_EQ((long long)(SZ_2M / PAGE_SZ * 8),
		  counter(self->dir, "page_meta_bytes"));

	ASSERT_EQ(0, ioas_unmap(self->fd, ioas2, iova, SZ_1M, &unmapped));
	ASSERT_EQ(0, counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	munmap(thp, len);
}

/*
 * Check, in 1 MiB steps, that @len bytes at @iova read the same as @want:
 * through mock device @dev's DMA, or through access @acc when @dev is 0.
 */
static int stored_check(int fd, __u32 dev, __u32 acc, __u64 iova,
			const char *want, size_t len)
{
	char *got = malloc(SZ_1M);
	size_t off;
	int ret = 0;

	if (!got)
		return -ENOMEM;
	for (off = 0; off < len && !ret; off += SZ_1M) {
		size_t n = len - off < SZ_1M ? len - off : SZ_1M;

		memset(got, 0, n);
		if (dev)
			ret = mock_dma(fd, dev, iova + off, got, n,
				       IOASID_TEST_DMA_READ, NULL);
		else
			ret = access_rw(fd, acc, iova + off, got, n,
					IOASID_TEST_DMA_READ);
		if (!ret && memcmp(got, want + off, n))
			ret = -EIO;
	}
	free(got);
	return ret;
}

/*
 * Fragmented 4K memory (virtually adjacent pages physically apart) needs a
 * page pointer array per 2 MiB piece while no domain maps it. Once an
 * IOMMU domain does, the arrays go: the pages are read back from its
 * IOPTEs, by a second domain's fill, an access, or an unmap. Removing the
 * last domain, or copying to another IOAS, brings them back.
 */
TEST_F(dbg, page_meta_stored)
{
	const __u64 len = 4 * SZ_1M, len_b = SZ_2M;
	const __u64 iova = 0x40000000, iova_b = 0x80000000;
	const long long arrays = len / PAGE_SZ * 8;
	__u32 dev1, dev2, dev3, hwpt2, acc, ioas2;
	__u64 unmapped;
	char *a, *b;

	if (self->skip)
		return;
	a = buf_map(len, SZ_2M, BUF_SCATTERED);
	b = buf_map(len_b, SZ_2M, BUF_SCATTERED);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	fill_pattern(a, len, 7);
	fill_pattern(b, len_b, 8);

	/* No domain: an array for each 2 MiB piece */
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas, a, len, iova,
				    MAP_RW));
	ASSERT_EQ(arrays, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, access_create(self->fd, self->ioas, &acc));

	/* The first domain takes them over; a map after it never has any */
	ASSERT_EQ(0, mock_device(self->fd, self->ioas, &dev1, NULL));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas, b, len_b, iova_b,
				    MAP_RW));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ((long long)((len + len_b) / PAGE_SZ),
		  counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, stored_check(self->fd, dev1, 0, iova, a, len));
	ASSERT_EQ(0, stored_check(self->fd, dev1, 0, iova_b, b, len_b));

	/* A second domain is filled from the first one's IOPTEs */
	ASSERT_EQ(0, hwpt_alloc(self->fd, dev1, self->ioas, &hwpt2));
	ASSERT_EQ(0, mock_device(self->fd, hwpt2, &dev2, NULL));
	ASSERT_EQ(0, stored_check(self->fd, dev2, 0, iova, a, len));
	ASSERT_EQ(0, stored_check(self->fd, dev2, 0, iova_b, b, len_b));
	ASSERT_EQ(0, stored_check(self->fd, 0, acc, iova, a, len));

	/* The first domain goes: the second holds the pages now */
	ASSERT_EQ(0, ioasid_destroy(self->fd, dev1));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, stored_check(self->fd, 0, acc, iova, a, len));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, iova_b, len_b,
				&unmapped));
	ASSERT_EQ(len_b, unmapped);
	ASSERT_EQ((long long)(len / PAGE_SZ),
		  counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));

	/* The last domain goes: the arrays are read back from it */
	ASSERT_EQ(0, ioasid_destroy(self->fd, dev2));
	ASSERT_EQ(0, ioasid_destroy(self->fd, hwpt2));
	ASSERT_EQ(arrays, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, stored_check(self->fd, 0, acc, iova, a, len));

	/* Stored again; a copy to another IOAS brings the arrays back */
	ASSERT_EQ(0, mock_device(self->fd, self->ioas, &dev3, NULL));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, ioas_alloc(self->fd, &ioas2));
	ASSERT_EQ(0, ioas_copy_fixed(self->fd, ioas2, iova, self->ioas,
				     iova, SZ_1M, MAP_RW));
	ASSERT_EQ(arrays, counter(self->dir, "page_meta_bytes"));
	ASSERT_EQ(0, stored_check(self->fd, dev3, 0, iova, a, len));

	ASSERT_EQ(0, ioasid_destroy(self->fd, acc));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	ASSERT_EQ((long long)(SZ_1M / PAGE_SZ),
		  counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, ioas_unmap(self->fd, ioas2, iova, SZ_1M, &unmapped));
	ASSERT_EQ(0, counter(self->dir, "pinned_pages"));
	ASSERT_EQ(0, counter(self->dir, "page_meta_bytes"));
	munmap(a, len);
	munmap(b, len_b);
}

/* A mock device on an automatic HWPT, a PASID on another IOAS, an access */
TEST_F(dbg, attachments)
{
	__u32 dev, hwpt, ioas2, hwpt2, pasid, acc, i;
	__u64 syncs, map_syncs, unmapped;

	if (self->skip)
		return;
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas,
					    self->buf + i * PAGE_SZ, PAGE_SZ,
					    SZ_1M + i * SZ_64K, MAP_RW));
	ASSERT_EQ(0, mock_device(self->fd, self->ioas, &dev, &hwpt));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 2 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u auto", hwpt, self->ioas));
	CHECK_LINES(self->dir, "attachments", ATT_HDR,
		    fmt("device %u rid %u %u", dev, hwpt, self->ioas));
	CHECK_LINES(self->dir, "ioas",
		    ioas_line(self->ioas, 3, 3, 1, 1, 0),
		    "0x0000000000100000-0x0000000000100fff 0x1000 rw",
		    "0x0000000000110000-0x0000000000110fff 0x1000 rw",
		    "0x0000000000120000-0x0000000000120fff 0x1000 rw");
	/* the core's IOTLB syncs are the mock domain's: the fill, no more */
	ASSERT_EQ(0, mock_syncs(self->fd, hwpt, &syncs, &map_syncs));
	ASSERT_EQ((long long)(syncs + map_syncs),
		  counter(self->dir, "iotlb_syncs"));
	ASSERT_EQ(1, counter(self->dir, "iotlb_syncs"));
	/* one map and one unmap command: one sync each */
	ASSERT_EQ(0, ioas_map_fixed(self->fd, self->ioas, self->buf, PAGE_SZ,
				    SZ_2M, MAP_READ));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas, SZ_2M, PAGE_SZ,
				&unmapped));
	ASSERT_EQ(0, mock_syncs(self->fd, hwpt, &syncs, &map_syncs));
	ASSERT_EQ(3ULL, syncs + map_syncs);
	ASSERT_EQ(3, counter(self->dir, "iotlb_syncs"));

	/* a PASID of the device on another IOAS, and an access */
	ASSERT_EQ(0, ioas_alloc(self->fd, &ioas2));
	ASSERT_EQ(0, pasid_alloc(self->fd, dev, &pasid));
	ASSERT_EQ(0, pasid_op(self->fd, dev, IOASID_TEST_PASID_ATTACH, pasid,
			      ioas2, &hwpt2));
	ASSERT_EQ(0, access_create(self->fd, ioas2, &acc));
	CHECK_LINES(self->dir, "attachments", ATT_HDR,
		    fmt("device %u %u %u %u", dev, pasid, hwpt2, ioas2),
		    fmt("device %u rid %u %u", dev, hwpt, self->ioas),
		    fmt("access %u rid - %u", acc, ioas2));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 2 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u auto", hwpt, self->ioas),
		    fmt("%u IOAS 3 0", ioas2),
		    fmt("%u HWPT 2 0 paging ioas=%u auto", hwpt2, ioas2),
		    fmt("%u ACCESS 1 0", acc));
	/* in use: EBUSY, and nothing changes */
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, ioas2));

	/* detach the PASID: its automatic HWPT dies with the attachment */
	ASSERT_EQ(0, pasid_op(self->fd, dev, IOASID_TEST_PASID_DETACH, pasid,
			      0, NULL));
	ASSERT_EQ(0, ioasid_destroy(self->fd, acc));
	CHECK_LINES(self->dir, "attachments", ATT_HDR,
		    fmt("device %u rid %u %u", dev, hwpt, self->ioas));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 2 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u auto", hwpt, self->ioas),
		    fmt("%u IOAS 1 0", ioas2));
	/* destroying the device takes its HWPT along */
	ASSERT_EQ(0, ioasid_destroy(self->fd, dev));
	CHECK_LINES(self->dir, "attachments", ATT_HDR);
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 1 0", self->ioas),
		    fmt("%u IOAS 1 0", ioas2));
	ASSERT_EQ(0, counter(self->dir, "page_requests"));
	ASSERT_EQ(0, counter(self->dir, "dma_faults"));
}

/* An explicit HWPT and a fault queue show what they are made of */
TEST_F(dbg, explicit_hwpt_and_fault_queue)
{
	__u32 dev, auto_hwpt, hwpt, q;
	int qfd;

	if (self->skip)
		return;
	ASSERT_EQ(0, mock_device(self->fd, self->ioas, &dev, &auto_hwpt));
	ASSERT_EQ(0, hwpt_create(self->fd, dev, self->ioas, &hwpt));
	ASSERT_EQ(0, faultq_alloc(self->fd, 0, &q, &qfd));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 3 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u auto", auto_hwpt,
			self->ioas),
		    fmt("%u HWPT 1 0 paging ioas=%u", hwpt, self->ioas),
		    /* its file holds it too */
		    fmt("%u FAULT_QUEUE 2 0 depth=256", q));
	/* replace onto the explicit one: the automatic HWPT goes */
	ASSERT_EQ(0, mock_replace(self->fd, dev, hwpt, NULL));
	CHECK_LINES(self->dir, "attachments", ATT_HDR,
		    fmt("device %u rid %u %u", dev, hwpt, self->ioas));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 2 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u", hwpt, self->ioas),
		    fmt("%u FAULT_QUEUE 2 0 depth=256", q));
	close(qfd);
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 2 0", self->ioas),
		    fmt("%u DEVICE 1 0 dev=ioasid_mock*", dev),
		    fmt("%u HWPT 2 0 paging ioas=%u", hwpt, self->ioas),
		    fmt("%u FAULT_QUEUE 1 0 depth=256", q));
}

/* The race ---------------------------------------------------------------- */

#define RACE_SECS_DEFAULT	5
#define RACE_READERS		3
#define RACE_WRITERS		3
#define RACE_IDS		48
#define RACE_BUF_PAGES		16

struct race {
	atomic_int fd;
	atomic_bool stop;
	atomic_long reads, eio, enoent, ops, closes;
	char *buf;
};

static const char *const dbg_files[] = {
	"objects", "ioas", "attachments", "counters",
};

/* Read every file of every directory of this process, to the end */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	char path[PATH_MAX];
	struct dirent *de;
	unsigned int i;
	char *buf;
	DIR *d;

	while (!atomic_load(&r->stop)) {
		d = opendir(DBG_ROOT);
		if (!d)
			break;
		while ((de = readdir(d))) {
			if (dbg_mine(de->d_name) < 0)
				continue;
			for (i = 0; i < ARRAY_SIZE(dbg_files); i++) {
				snprintf(path, sizeof(path), "%s/%s/%s",
					 DBG_ROOT, de->d_name, dbg_files[i]);
				buf = slurp(path);
				if (buf)
					atomic_fetch_add(&r->reads, 1);
				else if (errno == EIO)
					atomic_fetch_add(&r->eio, 1);
				else
					atomic_fetch_add(&r->enoent, 1);
				free(buf);
			}
		}
		closedir(d);
	}
	return NULL;
}

/* Build and tear down objects and mappings on whatever file is current */
static void *race_writer(void *arg)
{
	struct race *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed ^ getpid();
	__u64 iova, unmapped;
	__u32 id, out;

	while (!atomic_load(&r->stop)) {
		int fd = atomic_load(&r->fd);
		__u32 pick = 1 + rand_r(&seed) % RACE_IDS;
		unsigned int pages = 1 + rand_r(&seed) % RACE_BUF_PAGES;

		/* fd may be closed, or reused, meanwhile: any errno goes */
		switch (rand_r(&seed) % 9) {
		case 0:
			ioas_alloc(fd, &id);
			break;
		case 1:
		case 2:
			iova = 0;
			ioas_map(fd, pick, r->buf, pages * PAGE_SZ, &iova,
				 MAP_RW);
			break;
		case 3:
			ioas_unmap_all(fd, pick, &unmapped);
			break;
		case 4:
			mock_device(fd, pick, &id, &out);
			break;
		case 5:
			access_create(fd, pick, &id);
			break;
		case 6:
			hwpt_create(fd, pick, 1 + rand_r(&seed) % RACE_IDS,
				    &out);
			break;
		case 7:
			mock_replace(fd, pick, 1 + rand_r(&seed) % RACE_IDS,
				     &out);
			break;
		case 8:
			ioasid_destroy(fd, pick);
			break;
		}
		atomic_fetch_add(&r->ops, 1);
	}
	return NULL;
}

/* Swap in a new file now and then, closing the old one under everyone */
static void *race_closer(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 7;

	while (!atomic_load(&r->stop)) {
		int nfd = ioasid_open();

		if (nfd >= 0)
			close(atomic_exchange(&r->fd, nfd));
		atomic_fetch_add(&r->closes, 1);
		usleep(1000 + rand_r(&seed) % 20000);
	}
	return NULL;
}

TEST_F(dbg, race_readers_vs_everything)
{
	pthread_t readers[RACE_READERS], writers[RACE_WRITERS], closer;
	long secs = test_param("IOASID_DEBUGFS_RACE_SECS",
			       "ioasid_debugfs_race_secs", RACE_SECS_DEFAULT,
			       NULL);
	struct race r = {};
	int i;

	if (self->skip)
		return;
	r.buf = self->buf;
	atomic_store(&r.fd, ioasid_open());
	ASSERT_LE(0, atomic_load(&r.fd));
	for (i = 0; i < RACE_READERS; i++)
		ASSERT_EQ(0, pthread_create(&readers[i], NULL, race_reader,
					    &r));
	for (i = 0; i < RACE_WRITERS; i++)
		ASSERT_EQ(0, pthread_create(&writers[i], NULL, race_writer,
					    &r));
	ASSERT_EQ(0, pthread_create(&closer, NULL, race_closer, &r));
	sleep(secs);
	atomic_store(&r.stop, true);
	for (i = 0; i < RACE_READERS; i++)
		pthread_join(readers[i], NULL);
	for (i = 0; i < RACE_WRITERS; i++)
		pthread_join(writers[i], NULL);
	pthread_join(closer, NULL);
	close(atomic_load(&r.fd));
	TH_LOG("%ld s: %ld reads, %ld EIO, %ld gone, %ld ops, %ld closes",
	       secs, atomic_load(&r.reads), atomic_load(&r.eio),
	       atomic_load(&r.enoent), atomic_load(&r.ops),
	       atomic_load(&r.closes));
	ASSERT_LT(0, atomic_load(&r.reads));
	ASSERT_LT(0, atomic_load(&r.ops));
	/* only the fixture's file is left, untouched */
	ASSERT_EQ(1, dbg_dirs(NULL, NULL));
	CHECK_LINES(self->dir, "objects", OBJ_HDR,
		    fmt("%u IOAS 1 0", self->ioas));
}

TEST_HARNESS_MAIN
