/* Small-file and snapshot workloads for scripts/bench, timed from inside
 * one process so that no fork or interpreter start-up is counted.
 *
 *   files create DIR N SIZE   mkdir DIR, create N files of SIZE bytes in it
 *   files stat DIR N          lstat the N files by name
 *   files snap N FILE...      N rounds: in each, take a snapshot of every
 *                             FILE in turn, as open(FILE@@/snap/bench-take-I,
 *                             O_CREAT|O_EXCL) + close, and delete it (unlink,
 *                             timed apart) before the next
 *   files take FILE NAME...   take snapshots FILE@@/snap/NAME, untimed
 *   files treetake N MOUNT    N rounds: take tree snapshot
 *                             MOUNT/.snapshots/bench-tree-I (mkdir), then
 *                             delete it (rmdir, timed apart)
 *   files mktree DIR N        N empty files in DIR/dNNNN/fNNNNNN, 1,000 a
 *                             directory, untimed
 *   files treediff N SNAPDIR  N rounds: read SNAPDIR's user.mapfs.diff
 *                             (what changed since the tree snapshot)
 *
 * Files are named f000000, f000001, ... create and stat print the elapsed
 * time in milliseconds on stdout; snap prints a line per FILE: the median,
 * minimum, maximum and first take time, and the median unlink time, in
 * milliseconds; treetake prints one such line; treediff prints the
 * median, minimum, maximum and first, and the lines of the answer. Any
 * failure prints why
 * and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *name)
{
	fprintf(stderr, "files: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* FILE@@/snap/NAME, made with O_CREAT|O_EXCL as touch would (read-only:
 * a snapshot cannot be opened for writing). */
static void take(const char *path)
{
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0444);

	if (fd < 0)
		die("take", path);
	if (close(fd) < 0)
		die("close", path);
}

static void print_times(double *t, double *dels, long n);

/* N rounds; each takes and deletes one snapshot of every file in turn, so
 * that whatever else the machine does falls on all the files alike. */
static int snap(long n, char **files, int nfiles)
{
	double *takes = calloc((size_t)(n * nfiles), sizeof(double));
	double *dels = calloc((size_t)(n * nfiles), sizeof(double));
	double t0;
	char *path;

	if (n < 1 || !takes || !dels) {
		fprintf(stderr, "files: snap wants N >= 1\n");
		return 2;
	}
	for (long i = 0; i < n; i++) {
		for (int f = 0; f < nfiles; f++) {
			if (asprintf(&path, "%s@@/snap/bench-take-%ld", files[f],
				     i) < 0)
				die("asprintf", files[f]);
			t0 = now_ms();
			take(path);
			takes[f * n + i] = now_ms() - t0;
			t0 = now_ms();
			if (unlink(path) < 0)
				die("unlink", path);
			dels[f * n + i] = now_ms() - t0;
			free(path);
		}
	}
	for (int f = 0; f < nfiles; f++)
		print_times(takes + f * n, dels + f * n, n);
	return 0;
}

/* The median, minimum, maximum and first of n times, and the median of
 * dels: one line. Sorts both. */
static void print_times(double *t, double *dels, long n)
{
	double first = t[0];

	printf("%.4f", median_of(t, n));
	printf(" %.4f %.4f %.4f", t[0], t[n - 1], first);
	printf(" %.4f\n", median_of(dels, n));
}

static int treetake(long n, const char *mount)
{
	double *takes = calloc((size_t)n, sizeof(double));
	double *dels = calloc((size_t)n, sizeof(double));
	char path[4096];
	double t0;

	if (n < 1 || !takes || !dels) {
		fprintf(stderr, "files: treetake wants N >= 1\n");
		return 2;
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/.snapshots/bench-tree-%ld",
			 mount, i);
		t0 = now_ms();
		if (mkdir(path, 0555) < 0)
			die("mkdir", path);
		takes[i] = now_ms() - t0;
		t0 = now_ms();
		if (rmdir(path) < 0)
			die("rmdir", path);
		dels[i] = now_ms() - t0;
	}
	print_times(takes, dels, n);
	return 0;
}

static int treediff(long n, const char *snapdir)
{
	double *t = calloc((size_t)n, sizeof(double));
	static char buf[65536];
	double first;
	long lines = 0;
	ssize_t len = 0;

	if (n < 1 || !t) {
		fprintf(stderr, "files: treediff wants N >= 1\n");
		return 2;
	}
	for (long i = 0; i < n; i++) {
		double t0 = now_ms();

		len = getxattr(snapdir, "user.mapfs.diff", buf, sizeof(buf));
		if (len < 0)
			die("getxattr user.mapfs.diff", snapdir);
		t[i] = now_ms() - t0;
	}
	for (ssize_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	first = t[0];
	printf("%.4f", median_of(t, n));      /* sorts t */
	printf(" %.4f %.4f %.4f %ld\n", t[0], t[n - 1], first, lines);
	return 0;
}

static int mktree(const char *dir, long n)
{
	char path[4096];
	int dfd = -1;

	if (mkdir(dir, 0755) < 0)
		die("mkdir", dir);
	for (long i = 0; i < n; i++) {
		int fd;

		if (i % 1000 == 0) {
			if (dfd >= 0)
				close(dfd);
			snprintf(path, sizeof(path), "%s/d%04ld", dir, i / 1000);
			if (mkdir(path, 0755) < 0)
				die("mkdir", path);
			dfd = open(path, O_RDONLY | O_DIRECTORY);
			if (dfd < 0)
				die("open", path);
		}
		snprintf(path, sizeof(path), "f%06ld", i);
		fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || close(fd) < 0)
			die("create", path);
	}
	if (dfd >= 0)
		close(dfd);
	return 0;
}

int main(int argc, char **argv)
{
	char name[32];
	double t0;
	long n;

	if (argc < 4 || (strcmp(argv[1], "create") == 0 && argc != 5)) {
		fprintf(stderr, "usage: files create DIR N SIZE | files stat DIR N"
			" | files snap N FILE... | files take FILE NAME..."
			" | files treetake N MOUNT | files mktree DIR N"
			" | files treediff N SNAPDIR\n");
		return 2;
	}
	if (strcmp(argv[1], "treetake") == 0)
		return treetake(atol(argv[2]), argv[3]);
	if (strcmp(argv[1], "treediff") == 0)
		return treediff(atol(argv[2]), argv[3]);
	if (strcmp(argv[1], "mktree") == 0)
		return mktree(argv[2], atol(argv[3]));
	if (strcmp(argv[1], "snap") == 0)
		return snap(atol(argv[2]), argv + 3, argc - 3);
	if (strcmp(argv[1], "take") == 0) {
		for (int i = 3; i < argc; i++) {
			char *path;

			if (asprintf(&path, "%s@@/snap/%s", argv[2], argv[i]) < 0)
				die("asprintf", argv[2]);
			take(path);
			free(path);
		}
		return 0;
	}
	n = atol(argv[3]);
	if (strcmp(argv[1], "create") == 0) {
		size_t size = (size_t)atol(argv[4]);
		char *buf = malloc(size ? size : 1);
		int dfd;

		memset(buf, 'x', size);
		t0 = now_ms();
		if (mkdir(argv[2], 0755) < 0)
			die("mkdir", argv[2]);
		dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			die("open", argv[2]);
		for (long i = 0; i < n; i++) {
			int fd;

			snprintf(name, sizeof(name), "f%06ld", i);
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				die("create", name);
			if (write(fd, buf, size) != (ssize_t)size)
				die("write", name);
			if (close(fd) < 0)
				die("close", name);
		}
		close(dfd);
	} else if (strcmp(argv[1], "stat") == 0) {
		struct stat st;
		int dfd;

		t0 = now_ms();
		dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			die("open", argv[2]);
		for (long i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "f%06ld", i);
			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				die("stat", name);
		}
		close(dfd);
	} else {
		fprintf(stderr, "files: unknown command %s\n", argv[1]);
		return 2;
	}
	printf("%.3f\n", now_ms() - t0);
	return 0;
}
