// SPDX-License-Identifier: GPL-2.0-only
/*
 * PASIDs through /dev/ioasid: allocation from the system's one PASID
 * space, the per-file and per-user quotas, exhaustion of a device's width,
 * kernel SVA drawing from the same space, PASID-granular attach with mock
 * DMA, accesses under a PASID, and races of frees, attaches and closes.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "ioasid_utils.h"

#define PAGE_SZ		SZ_4K

#define PARAM_DIR	"/sys/module/ioasid/parameters/"
#define USER_MAX	PARAM_DIR "pasid_user_max"
#define FILE_MAX	PARAM_DIR "pasid_file_max"

static int pasid_alloc_fixed(int fd, __u32 dev_id, __u32 pasid)
{
	struct ioasid_pasid_alloc a = {
		.argsz = sizeof(a),
		.flags = IOASID_PASID_FIXED,
		.dev_id = dev_id,
		.pasid = pasid,
	};

	return ioasid_do(fd, IOASID_PASID_ALLOC, &a);
}

static int pasid_free(int fd, __u32 pasid)
{
	struct ioasid_pasid_free f = { .argsz = sizeof(f), .pasid = pasid };

	return ioasid_do(fd, IOASID_PASID_FREE, &f);
}

static int pasid_dma(int fd, __u32 dev_id, __u32 pasid, __u64 iova, void *p,
		     __u64 len, __u32 dir)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_DMA,
		.obj_id = dev_id,
		.dma = {
			.iova = iova,
			.uaddr = (uintptr_t)p,
			.length = len,
			.dir = dir,
			.pasid = pasid,
		},
	};

	return ioasid_test(fd, &t);
}

static int sva_bind(int fd, __u32 dev_id, __u32 *pasid)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_SVA_BIND,
		.obj_id = dev_id,
	};
	int ret = ioasid_test(fd, &t);

	if (!ret)
		*pasid = t.sva.pasid;
	return ret;
}

static int sva_unbind(int fd, __u32 dev_id, __u32 pasid)
{
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_SVA_UNBIND,
		.obj_id = dev_id,
		.sva = { .pasid = pasid },
	};

	return ioasid_test(fd, &t);
}

/* A mock DMA-visible page of a byte pattern, mapped at @iova in @ioas. */
static void *map_pattern(struct __test_metadata *_metadata, int fd, __u32 ioas,
			 __u64 iova, int byte)
{
	void *p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	memset(p, byte, PAGE_SZ);
	ASSERT_EQ(0, ioas_map_fixed(fd, ioas, p, PAGE_SZ, iova, MAP_RW));
	return p;
}

static long param_get(const char *path)
{
	return read_long_file(path);
}

FIXTURE(pasid) {
	int fd;
	__u32 ioas[2];
	__u32 dev;
	long user_max, file_max;
	bool skip;
};

FIXTURE_SETUP(pasid)
{
	const char *why = ioasid_unusable();

	self->fd = -1;
	self->user_max = param_get(USER_MAX);
	self->file_max = param_get(FILE_MAX);
	if (!why && (self->user_max < 0 || self->file_max < 0))
		why = "no ioasid.pasid_*_max parameters";
	if (why) {
		self->skip = true;
		SKIP(return, "%s", why);
	}
	self->fd = ioasid_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas[0]));
	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas[1]));
	ASSERT_EQ(0, mock_device(self->fd, self->ioas[0], &self->dev, NULL));
}

FIXTURE_TEARDOWN(pasid)
{
	if (self->skip)
		return;
	if (self->fd >= 0)
		close(self->fd);
	write_long_file(USER_MAX, self->user_max);
	write_long_file(FILE_MAX, self->file_max);
}

TEST_F(pasid, alloc_free_errors)
{
	struct ioasid_pasid_alloc a = { .argsz = sizeof(a) };
	__u32 p, q;

	if (self->skip)
		return;
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	ASSERT_NE(0U, p);
	ASSERT_GE(0xfffffU, p);
	ASSERT_EQ(0, pasid_alloc(self->fd, self->dev, &q));
	ASSERT_NE(p, q);
	/* a fixed value in use, 0, and beyond 20 bits */
	ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, 0, p));
	ASSERT_EQ(-EINVAL, pasid_alloc_fixed(self->fd, 0, 0));
	ASSERT_EQ(-EINVAL, pasid_alloc_fixed(self->fd, 0, 1U << 20));
	a.flags = 1U << 5;
	ASSERT_EQ(-EOPNOTSUPP, ioasid_do(self->fd, IOASID_PASID_ALLOC, &a));
	a.flags = 0;
	a.dev_id = NO_SUCH_ID;
	ASSERT_EQ(-ENOENT, ioasid_do(self->fd, IOASID_PASID_ALLOC, &a));
	/* only the holder frees, and once */
	ASSERT_EQ(0, pasid_free(self->fd, p));
	ASSERT_EQ(-ENOENT, pasid_free(self->fd, p));
	ASSERT_EQ(-ENOENT, pasid_free(self->fd, 0));
	/* freed: the value can be taken again */
	ASSERT_EQ(0, pasid_alloc_fixed(self->fd, 0, p));
	ASSERT_EQ(0, pasid_free(self->fd, p));
	ASSERT_EQ(0, pasid_free(self->fd, q));
}

/* Another file of the same process cannot free or use this file's PASID */
TEST_F(pasid, owned_by_the_file)
{
	__u32 p, dev2, ioas2;
	int fd2;

	if (self->skip)
		return;
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ioas_alloc(fd2, &ioas2));
	ASSERT_EQ(0, mock_device(fd2, ioas2, &dev2, NULL));
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	ASSERT_EQ(-ENOENT, pasid_free(fd2, p));
	ASSERT_EQ(-EEXIST, pasid_alloc_fixed(fd2, 0, p));
	ASSERT_EQ(-EPERM, pasid_op(fd2, dev2, IOASID_TEST_PASID_ATTACH, p, ioas2, NULL));
	close(fd2);
	/* closing the other file changed nothing here */
	ASSERT_EQ(0, pasid_free(self->fd, p));
}

TEST_F(pasid, file_quota)
{
	__u32 p[9];
	int fd2, i;

	if (self->skip)
		return;
	ASSERT_EQ(0, write_long_file(FILE_MAX, 8));
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pasid_alloc(fd2, 0, &p[i]));
	ASSERT_EQ(-EDQUOT, pasid_alloc(fd2, 0, &p[8]));
	ASSERT_EQ(-EDQUOT, pasid_alloc_fixed(fd2, 0, 0xffff0));
	/* freeing gives the budget back at once */
	ASSERT_EQ(0, pasid_free(fd2, p[3]));
	ASSERT_EQ(0, pasid_alloc(fd2, 0, &p[3]));
	ASSERT_EQ(-EDQUOT, pasid_alloc(fd2, 0, &p[8]));
	/* the limit is read at open: the first file is not bound by it */
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p[8]));
	TH_LOG("file limit 8: 8 allocated, the 9th EDQUOT");
	close(fd2);
	/* close released the 8: they can be taken again */
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, pasid_alloc_fixed(fd2, 0, p[0]));
	close(fd2);
	ASSERT_EQ(0, write_long_file(FILE_MAX, 0));
	fd2 = ioasid_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(-EDQUOT, pasid_alloc(fd2, 0, &p[0]));
	close(fd2);
}

/* Files opened as root, used as @uid: the PASIDs are charged to @uid. */
static int user_quota_child(uid_t uid, int n_first, int n_second)
{
	int fd1 = ioasid_open(), fd2 = ioasid_open();
	__u32 p, last = 0;
	int i;

	if (fd1 < 0 || fd2 < 0)
		return 10;
	if (uid && setresuid(uid, uid, uid))
		return 9;
	for (i = 0; i < n_first; i++)
		if (pasid_alloc(fd1, 0, &last))
			return 11;
	for (i = 0; i < n_second; i++)
		if (pasid_alloc(fd2, 0, &p))
			return 12;
	if (pasid_alloc(fd2, 0, &p) != -EDQUOT)
		return 13;
	if (pasid_alloc(fd1, 0, &p) != -EDQUOT)
		return 14;
	/* one freed in one file makes room in the other */
	if (pasid_free(fd1, last) || pasid_alloc(fd2, 0, &p))
		return 15;
	return 0;
}

static int run_as(uid_t uid, int n_first, int n_second)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (!pid)
		_exit(user_quota_child(uid, n_first, n_second));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(pasid, user_quota)
{
	__u32 p = 0;
	int fd, i;

	if (self->skip)
		return;
	ASSERT_EQ(0, write_long_file(USER_MAX, 12));
	ASSERT_EQ(0, write_long_file(FILE_MAX, 8));
	/* one user, two files: 8 + 4, then EDQUOT in both */
	ASSERT_EQ(0, run_as(4242, 8, 4));
	/* the children's files are closed: that user starts from 0 again */
	ASSERT_EQ(0, run_as(4242, 8, 4));
	/* another user has a quota of its own */
	ASSERT_EQ(0, run_as(4343, 6, 6));
	/* and root is counted too, with this fixture's file open */
	fd = ioasid_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pasid_alloc(fd, 0, &p));
	ASSERT_EQ(-EDQUOT, pasid_alloc(fd, 0, &p));
	ASSERT_EQ(0, pasid_free(fd, p));
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	close(fd);
	TH_LOG("user limit 12: 8 + 4 in two files, the 13th EDQUOT in either");
}

TEST_F(pasid, device_width_exhaustion)
{
	__u32 dev, p, got = 0, first = 0;
	int ret, i;

	if (self->skip)
		return;
	/* 4 bits: PASIDs 1..15, minus what others hold in that range */
	ASSERT_EQ(0, mock_device_bits(self->fd, self->ioas[0], 4, &dev));
	for (i = 0; i < 16; i++) {
		ret = pasid_alloc(self->fd, dev, &p);
		if (ret)
			break;
		ASSERT_GE(15U, p);
		ASSERT_NE(0U, p);
		if (!first)
			first = p;
		got++;
	}
	ASSERT_EQ(-ENOSPC, ret);
	ASSERT_LE(1U, got);
	ASSERT_EQ(-EINVAL, pasid_alloc_fixed(self->fd, dev, 16));
	ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, dev, first));
	/* the whole space still has room */
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	ASSERT_LT(15U, p);
	/* freeing one makes exactly that room */
	ASSERT_EQ(0, pasid_free(self->fd, first));
	ASSERT_EQ(0, pasid_alloc(self->fd, dev, &p));
	ASSERT_EQ(first, p);
	ASSERT_EQ(-ENOSPC, pasid_alloc(self->fd, dev, &p));
	TH_LOG("4-bit device: %u PASIDs allocated, then ENOSPC", got);
}

/*
 * An idle CPU keeps the mm of the last process it ran, lazily, and the mm
 * (with its SVA PASID) is freed only when that CPU switches to another
 * process's: run a short process on every CPU.
 */
static void flush_lazy_mms(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	int status;
	long cpu;
	pid_t pid;

	for (cpu = 0; cpu < cpus; cpu++) {
		pid = fork();
		if (!pid) {
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, &status, 0);
	}
}

/*
 * Kernel SVA and user allocations interleave: every value is handed out
 * once. Each child process is one mm, so one SVA PASID.
 */
TEST_F(pasid, sva_and_user_interleave)
{
	__u32 user[16], sva[8];
	int pipefd[2], i, j;

	if (self->skip)
		return;
	for (i = 0; i < 8; i++) {
		pid_t pid;
		int status;

		ASSERT_EQ(0, pasid_alloc(self->fd, 0, &user[2 * i]));
		ASSERT_EQ(0, pipe(pipefd));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			__u32 v = 0, again = 0;
			int ret = sva_bind(self->fd, self->dev, &v);

			/* one bond per mm and device */
			if (!ret && sva_bind(self->fd, self->dev, &again) != -EBUSY)
				ret = -1000;
			if (write(pipefd[1], &ret, sizeof(ret)) != sizeof(ret) ||
			    write(pipefd[1], &v, sizeof(v)) != sizeof(v))
				_exit(1);
			/* stay alive (the bond and the mm) until told */
			pause();
			_exit(0);
		}
		close(pipefd[1]);
		{
			int ret;

			ASSERT_EQ((ssize_t)sizeof(ret), read(pipefd[0], &ret, sizeof(ret)));
			ASSERT_EQ((ssize_t)sizeof(sva[i]),
				  read(pipefd[0], &sva[i], sizeof(sva[i])));
			close(pipefd[0]);
			if (ret) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
			}
			ASSERT_EQ(0, ret);
		}
		/* the user cannot take the kernel's value */
		ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, 0, sva[i]));
		ASSERT_EQ(-EPERM, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH,
					   sva[i], self->ioas[1], NULL));
		ASSERT_EQ(0, pasid_alloc(self->fd, 0, &user[2 * i + 1]));
		/* the process ends; the bond keeps its mm, and so the PASID */
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, 0, sva[i]));
		ASSERT_EQ(0, sva_unbind(self->fd, self->dev, sva[i]));
		ASSERT_EQ(-ENOENT, sva_unbind(self->fd, self->dev, sva[i]));
	}
	/*
	 * No value was held twice at once: the user's are all held to the
	 * end, and SVA PASID i was held from before user[2i + 1] was taken
	 * until its unbind; later user values may reuse it.
	 */
	for (i = 0; i < 16; i++)
		for (j = i + 1; j < 16; j++)
			ASSERT_NE(user[i], user[j]);
	for (j = 0; j < 8; j++)
		for (i = 0; i <= 2 * j + 1; i++)
			ASSERT_NE(user[i], sva[j]);
	/*
	 * Unbound, the processes gone: each PASID goes back to the space when
	 * its mm is freed, which lazy TLB users of the mm may delay a little.
	 */
	for (j = 0; j < 8; j++) {
		int ret, tries = 0;

		for (i = 0; i < 16 && user[i] != sva[j]; i++)
			;
		if (i < 16)
			continue;	/* reused by this file already */
		while ((ret = pasid_alloc_fixed(self->fd, 0, sva[j])) == -EEXIST &&
		       tries++ < 100) {
			flush_lazy_mms();
			usleep(20000);
		}
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, pasid_free(self->fd, sva[j]));
	}
}

/*
 * Two PASIDs of one device in two IOASes read different bytes at one
 * IOVA; the RID is independent; detaching one leaves the other working.
 */
TEST_F(pasid, attach_two_pasids_dma)
{
	const __u64 iova = 0x100000;
	char *a, *b, buf[64];
	__u32 p1, p2, h1, h2;

	if (self->skip)
		return;
	a = map_pattern(_metadata, self->fd, self->ioas[0], iova, 0xa1);
	b = map_pattern(_metadata, self->fd, self->ioas[1], iova, 0xb2);
	ASSERT_EQ(0, pasid_alloc(self->fd, self->dev, &p1));
	ASSERT_EQ(0, pasid_alloc(self->fd, self->dev, &p2));
	/* not attached: the PASID's DMA is blocked */
	ASSERT_EQ(-EFAULT, pasid_dma(self->fd, self->dev, p1, iova, buf, 64,
				     IOASID_TEST_DMA_READ));
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, p1,
			      self->ioas[0], &h1));
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, p2,
			      self->ioas[1], &h2));
	ASSERT_NE(h1, h2);
	ASSERT_EQ(-EBUSY, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, p1,
				   self->ioas[1], NULL));
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, p1, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ((char)0xa1, buf[0]);
	ASSERT_EQ((char)0xa1, buf[63]);
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, p2, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ((char)0xb2, buf[0]);
	/* the RID is on IOAS 0, by its own attachment */
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, 0, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ((char)0xa1, buf[0]);
	/* a write through PASID 2 lands in IOAS 1's memory only */
	memset(buf, 0x5c, sizeof(buf));
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, p2, iova, buf, 64,
			       IOASID_TEST_DMA_WRITE));
	ASSERT_EQ(0x5c, b[0]);
	ASSERT_EQ((char)0xa1, a[0]);
	/* detach PASID 1: it is blocked, PASID 2 and the RID still work */
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_DETACH, p1, 0, NULL));
	ASSERT_EQ(-EFAULT, pasid_dma(self->fd, self->dev, p1, iova, buf, 64,
				     IOASID_TEST_DMA_READ));
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, p2, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ(0x5c, buf[0]);
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, 0, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ((char)0xa1, buf[0]);
	/* replace PASID 2 onto IOAS 0: redirected */
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_REPLACE, p2,
			      self->ioas[0], &h2));
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, p2, iova, buf, 64,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ((char)0xa1, buf[0]);
	/* replacing a PASID that is not attached is EINVAL */
	ASSERT_EQ(-EINVAL, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_REPLACE, p1,
				    self->ioas[0], NULL));
	/* the RID detached (device destroyed with its PASIDs) */
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, self->ioas[0]));
	ASSERT_EQ(0, ioasid_destroy(self->fd, self->dev));
	ASSERT_EQ(0, ioasid_destroy(self->fd, self->ioas[0]));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas[1], iova, PAGE_SZ, NULL));
	munmap(a, PAGE_SZ);
	munmap(b, PAGE_SZ);
}

TEST_F(pasid, attach_errors)
{
	__u32 p, dev4;

	if (self->skip)
		return;
	/* not held by the file */
	ASSERT_EQ(-EPERM, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, 77,
				   self->ioas[0], NULL));
	/* 0 and beyond the width */
	ASSERT_EQ(-EINVAL, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, 0,
				    self->ioas[0], NULL));
	ASSERT_EQ(0, mock_device_bits(self->fd, self->ioas[0], 4, &dev4));
	ASSERT_EQ(0, pasid_alloc(self->fd, 0, &p));
	if (p >= 16)
		ASSERT_EQ(-EINVAL, pasid_op(self->fd, dev4, IOASID_TEST_PASID_ATTACH, p,
					    self->ioas[0], NULL));
	/* unknown target */
	ASSERT_EQ(-ENOENT, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, p,
				    NO_SUCH_ID, NULL));
	/* detaching what is not attached does nothing */
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_DETACH, p, 0, NULL));
	ASSERT_EQ(0, pasid_free(self->fd, p));
}

/* A PASID stays taken while an attachment uses it, even once freed. */
TEST_F(pasid, held_while_attached)
{
	__u32 p, access;
	struct ioasid_test_cmd t = {
		.op = IOASID_TEST_ACCESS_CREATE,
	};

	if (self->skip)
		return;
	ASSERT_EQ(0, pasid_alloc(self->fd, self->dev, &p));
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, p,
			      self->ioas[1], NULL));
	ASSERT_EQ(0, pasid_free(self->fd, p));
	/* the quota is back, the value is not */
	ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, 0, p));
	ASSERT_EQ(-EBUSY, ioasid_destroy(self->fd, self->ioas[1]));
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_DETACH, p, 0, NULL));
	ASSERT_EQ(0, pasid_alloc_fixed(self->fd, 0, p));

	/* the same for an access (an emulated device) under the PASID */
	t.obj_id = self->ioas[1];
	t.access.pasid = p;
	ASSERT_EQ(0, ioasid_test(self->fd, &t));
	access = t.access.out_access_id;
	ASSERT_EQ(0, pasid_free(self->fd, p));
	ASSERT_EQ(-EEXIST, pasid_alloc_fixed(self->fd, 0, p));
	ASSERT_EQ(0, ioasid_destroy(self->fd, access));
	ASSERT_EQ(0, pasid_alloc_fixed(self->fd, 0, p));
	/* and an access cannot use a PASID the file does not hold */
	t.access.pasid = p + 1;
	if (pasid_free(self->fd, p + 1))
		ASSERT_EQ(-EPERM, ioasid_test(self->fd, &t));
}

TEST_F(pasid, device_mode)
{
	__u64 mode = 9;
	char buf[8];
	char *a;

	if (self->skip)
		return;
	ASSERT_EQ(0, ioasid_option_get(self->fd, IOASID_OPT_PASID_MODE, self->dev, &mode));
	ASSERT_EQ((__u64)IOASID_PASID_MODE_GLOBAL, mode);
	ASSERT_EQ(-EINVAL, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE, self->dev, 2));
	ASSERT_EQ(-ENOENT, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE, self->ioas[0],
					     IOASID_PASID_MODE_DEVICE));
	ASSERT_EQ(0, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE, self->dev,
				       IOASID_PASID_MODE_DEVICE));
	/* the guest's value, not allocated: as a vIOMMU passes it through */
	a = map_pattern(_metadata, self->fd, self->ioas[1], 0x200000, 0x77);
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, 42,
			      self->ioas[1], NULL));
	ASSERT_EQ(0, pasid_dma(self->fd, self->dev, 42, 0x200000, buf, 8,
			       IOASID_TEST_DMA_READ));
	ASSERT_EQ(0x77, buf[0]);
	/* no global value was taken */
	ASSERT_EQ(0, pasid_alloc_fixed(self->fd, 0, 42));
	ASSERT_EQ(0, pasid_free(self->fd, 42));
	/* the mode cannot change under an attached PASID */
	ASSERT_EQ(-EBUSY, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE, self->dev,
					    IOASID_PASID_MODE_GLOBAL));
	ASSERT_EQ(0, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_DETACH, 42, 0, NULL));
	ASSERT_EQ(0, ioasid_option_set(self->fd, IOASID_OPT_PASID_MODE, self->dev,
				       IOASID_PASID_MODE_GLOBAL));
	ASSERT_EQ(-EPERM, pasid_op(self->fd, self->dev, IOASID_TEST_PASID_ATTACH, 42,
				   self->ioas[1], NULL));
	ASSERT_EQ(0, ioas_unmap(self->fd, self->ioas[1], 0x200000, PAGE_SZ, NULL));
	munmap(a, PAGE_SZ);
}

/* Races: free, attach, detach, SVA binds and close of one file's PASIDs. */
struct race {
	int fd;
	__u32 dev, ioas;
	int stop;	/* read and written with __atomic builtins */
	unsigned int ops[3];
};

static void *race_alloc_free(void *arg)
{
	struct race *r = arg;
	__u32 p;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		if (!pasid_alloc(r->fd, r->dev, &p)) {
			pasid_free(r->fd, p);
			r->ops[0]++;
		}
		/* frees of values another thread may be attaching */
		pasid_free(r->fd, 1 + (rand() & 15));
	}
	return NULL;
}

static void *race_attach(void *arg)
{
	struct race *r = arg;
	__u32 p;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		p = 1 + (rand() & 15);
		if (pasid_alloc_fixed(r->fd, r->dev, p) && !(rand() & 1))
			continue;
		if (!pasid_op(r->fd, r->dev, IOASID_TEST_PASID_ATTACH, p, r->ioas, NULL)) {
			r->ops[1]++;
			pasid_op(r->fd, r->dev, IOASID_TEST_PASID_REPLACE, p, r->ioas, NULL);
			pasid_op(r->fd, r->dev, IOASID_TEST_PASID_DETACH, p, 0, NULL);
		}
	}
	return NULL;
}

static void *race_destroy(void *arg)
{
	struct race *r = arg;
	__u32 dev;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		/* a second device comes and goes with PASIDs attached */
		if (mock_device(r->fd, r->ioas, &dev, NULL))
			continue;
		pasid_op(r->fd, dev, IOASID_TEST_PASID_ATTACH, 1 + (rand() & 15), r->ioas, NULL);
		ioasid_destroy(r->fd, dev);
		r->ops[2]++;
	}
	return NULL;
}

TEST_F(pasid, race_free_attach_close)
{
	struct race r = { 0 };
	pthread_t th[3];
	int round, i;

	if (self->skip)
		return;
	for (round = 0; round < 6; round++) {
		r.fd = ioasid_open();
		ASSERT_LE(0, r.fd);
		ASSERT_EQ(0, ioas_alloc(r.fd, &r.ioas));
		ASSERT_EQ(0, mock_device(r.fd, r.ioas, &r.dev, NULL));
		__atomic_store_n(&r.stop, 0, __ATOMIC_RELAXED);
		ASSERT_EQ(0, pthread_create(&th[0], NULL, race_alloc_free, &r));
		ASSERT_EQ(0, pthread_create(&th[1], NULL, race_attach, &r));
		ASSERT_EQ(0, pthread_create(&th[2], NULL, race_destroy, &r));
		usleep(400000);
		/* close while they run: every call after it fails cleanly */
		if (round & 1)
			close(r.fd);
		__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
		for (i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		if (!(round & 1))
			close(r.fd);
	}
	TH_LOG("alloc/free %u, attach cycles %u, device destroys %u",
	       r.ops[0], r.ops[1], r.ops[2]);
	ASSERT_LT(0U, r.ops[0]);
	ASSERT_LT(0U, r.ops[1]);
	/* nothing was left taken: the whole low range is free again */
	for (i = 1; i < 16; i++)
		ASSERT_EQ(0, pasid_alloc_fixed(self->fd, 0, i));
}

TEST_HARNESS_MAIN
