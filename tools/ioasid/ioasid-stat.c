// SPDX-License-Identifier: GPL-2.0-only
/*
 * ioasid-stat: what every open /dev/ioasid file holds, readably.
 *
 * Reads /sys/kernel/debug/ioasid/<seq>-<pid>/ (see "Introspection" in
 * Documentation/userspace-api/ioasid.rst) and prints, per file: who opened
 * it, its counters, its objects, each IOAS with its mappings, and what is
 * attached where.
 *
 *	ioasid-stat [-p PID] [-m] [DEBUGFS_DIR]
 *
 * -p PID	only the files PID opened
 * -m		no mapping lines, only each IOAS's totals
 *
 * Needs root and debugfs mounted (mount -t debugfs none /sys/kernel/debug).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_ROOT	"/sys/kernel/debug/ioasid"
#define MAX_FILE	(16 << 20)

static int no_mappings;

static char *slurp(const char *dir, const char *name)
{
	char path[4096];
	size_t len = 0;
	char *buf;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	buf = malloc(MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	while ((n = fread(buf + len, 1, MAX_FILE - len, f)) > 0)
		len += n;
	buf[len] = 0;
	fclose(f);
	return buf;
}

/* Next line of *@p, NUL-terminated in place, or NULL at the end */
static char *next_line(char **p)
{
	char *line = *p, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = 0;
		*p = nl + 1;
	} else {
		*p = NULL;
	}
	return line;
}

static const char *human(unsigned long long bytes, char *out, size_t size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (bytes >= 1024 && !(bytes % 1024) && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, size, "%llu %s", bytes, unit[u]);
	return out;
}

static void show_counters(const char *dir)
{
	char *buf = slurp(dir, "counters"), *p = buf, *line;
	char key[64], h[32];
	long long v;

	if (!buf)
		return;
	printf("  counters:\n");
	while ((line = next_line(&p))) {
		if (sscanf(line, "%63s %lld", key, &v) != 2)
			continue;
		if (strstr(key, "_pages"))
			printf("    %-14s %lld (%s)\n", key, v,
			       human(v * sysconf(_SC_PAGESIZE), h, sizeof(h)));
		else
			printf("    %-14s %lld\n", key, v);
	}
	free(buf);
}

static void show_objects(const char *dir)
{
	char *buf = slurp(dir, "objects"), *p = buf, *line;
	char type[32];
	unsigned int id, holds;
	int active, off;

	if (!buf)
		return;
	printf("  objects:\n");
	next_line(&p);	/* header */
	while ((line = next_line(&p))) {
		if (sscanf(line, "%u %31s %u %d %n", &id, type, &holds, &active,
			   &off) != 4)
			continue;
		printf("    %-5u %-11s depended on by %u%s, %d command%s in flight%s%s\n",
		       id, type, holds ? holds - 1 : 0,
		       holds ? "" : " (being destroyed)", active,
		       active == 1 ? "" : "s", line[off] ? "; " : "",
		       line + off);
	}
	free(buf);
}

/* An IOAS's line, in two: its mappings, then what uses it */
static const char ioas_fmt[] =
	"ioas %u mappings %lu bytes %llx pinned %llu charged %llu %n";
static const char users_fmt[] = "hwpts %u domains %u accesses %u";

static void show_ioas(const char *dir)
{
	char *buf = slurp(dir, "ioas"), *p = buf, *line;
	unsigned long long first, last, len, bytes, pinned, charged;
	unsigned int id, hwpts, domains, accesses;
	unsigned long n;
	char prot[8], h[32];
	int off;

	if (!buf)
		return;
	while ((line = next_line(&p))) {
		if (sscanf(line, ioas_fmt, &id, &n, &bytes, &pinned, &charged,
			   &off) == 5 &&
		    sscanf(line + off, users_fmt, &hwpts, &domains,
			   &accesses) == 3) {
			printf("  IOAS %u: %lu mapping%s, %s mapped,", id, n, n == 1 ? "" : "s",
			       human(bytes, h, sizeof(h)));
			printf(" %llu pages pinned, %llu charged;", pinned,
			       charged);
			printf(" %u HWPT%s, %u domain%s, %u access%s\n",
			       hwpts, hwpts == 1 ? "" : "s", domains,
			       domains == 1 ? "" : "s", accesses,
			       accesses == 1 ? "" : "es");
			continue;
		}
		if (no_mappings)
			continue;
		if (sscanf(line, " %llx-%llx %llx %7s %n", &first, &last, &len,
			   prot, &off) == 4)
			printf("    %#14llx..%#-14llx %10s %s%s%s\n", first,
			       last, human(len, h, sizeof(h)), prot,
			       line[off] ? " " : "", line + off);
	}
	free(buf);
}

static void show_attachments(const char *dir)
{
	char *buf = slurp(dir, "attachments"), *p = buf, *line;
	char kind[16], pasid[16], hwpt[16], ioas[16];
	unsigned int id;
	int off;

	if (!buf)
		return;
	printf("  attachments:\n");
	next_line(&p);	/* header */
	while ((line = next_line(&p))) {
		if (sscanf(line, "%15s %u %15s %15s %15s %n", kind, &id, pasid,
			   hwpt, ioas, &off) != 5)
			continue;
		printf("    %-6s %-5u", kind, id);
		if (strcmp(pasid, "-")) {
			char what[32] = "RID";

			if (strcmp(pasid, "rid"))
				snprintf(what, sizeof(what), "PASID %s", pasid);
			printf(" %-12s", what);
		}
		if (strcmp(hwpt, "-"))
			printf(" -> HWPT %s", hwpt);
		printf(" -> IOAS %s%s%s\n", ioas, line[off] ? " " : "",
		       line + off);
	}
	free(buf);
}

static void show_file(const char *root, const char *name)
{
	char dir[4096], comm[64] = "?", path[64];
	unsigned int seq;
	FILE *f;
	int pid;

	if (sscanf(name, "%u-%d", &seq, &pid) != 2)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	printf("/dev/ioasid file #%u, opened by pid %d (%s)\n", seq, pid,
	       comm);
	show_counters(dir);
	show_objects(dir);
	show_ioas(dir);
	show_attachments(dir);
	printf("\n");
}

static int by_seq(const struct dirent **a, const struct dirent **b)
{
	return atol((*a)->d_name) - atol((*b)->d_name);
}

int main(int argc, char **argv)
{
	const char *root = DEFAULT_ROOT;
	struct dirent **names;
	int opt, n, i, pid = 0;

	while ((opt = getopt(argc, argv, "p:mh")) != -1) {
		switch (opt) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'm':
			no_mappings = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-p PID] [-m] [DEBUGFS_DIR]\n",
				argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		root = argv[optind];
	n = scandir(root, &names, NULL, by_seq);
	if (n < 0) {
		fprintf(stderr, "%s: %s (root, debugfs mounted, CONFIG_IOASID_CORE?)\n",
			root, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *dash = strchr(names[i]->d_name, '-');

		if (dash && (!pid || atoi(dash + 1) == pid))
			show_file(root, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return 0;
}
