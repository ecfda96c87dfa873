/* Small-file workloads for scripts/bench, timed from inside one process so
 * that no fork or interpreter start-up is counted.
 *
 *   files create DIR N SIZE   mkdir DIR, create N files of SIZE bytes in it
 *   files stat DIR N          lstat the N files by name
 *
 * Files are named f000000, f000001, ... Prints the elapsed time in
 * milliseconds on stdout; any failure prints why and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int main(int argc, char **argv)
{
	char name[32];
	double t0;
	long n;

	if (argc < 4 || (strcmp(argv[1], "create") == 0 && argc != 5)) {
		fprintf(stderr, "usage: files create DIR N SIZE | files stat DIR N\n");
		return 2;
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
