/*
 * mf-ops — single system calls for the integration tests, where the shell
 * tools either cannot make the call or hide its errno.
 *
 * Every command prints one line: "OK", a number, or the errno name of the
 * failing call (EEXIST, ENXIO...), and exits 0.  It exits 2 only for a usage
 * error or a failure of the test's own setup, which the shell reports.
 *
 *   open PATH FLAGS [MODE]        FLAGS: comma list of rdonly wronly rdwr
 *                                 creat excl trunc append direct
 *   append PATH DATA              O_APPEND write after lseek(0): "OK"
 *   rename OLD NEW none|noreplace|exchange|whiteout|whiteout,noreplace|
 *          whiteout,exchange      renameat2(2)
 *   seek PATH data|hole OFFSET    lseek SEEK_DATA/SEEK_HOLE: the offset
 *   copy SRC DST                  copy_file_range(2) loop: bytes copied
 *   fsync PATH | fdatasync PATH   on an O_RDWR descriptor
 *   unlink-open PATH              open, unlink, read back: bytes read
 *   hold PATH LEN MARKER          open, read LEN bytes, create MARKER, wait
 *                                 (15 s at most) until MARKER is removed
 *   mmap-store PATH OFF DATA      store DATA at OFF through a MAP_SHARED
 *                                 mapping, msync, munmap: "OK"
 *   sigbus PATH BACKING OFF LEN   read OFF+LEN through PATH, truncate BACKING
 *                                 to 0 behind the daemon, drop the page cache
 *                                 of PATH, read again: "EIO", "eof",
 *                                 "short N", or "full" (the stale bytes)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of mf-ops.c\n");
	return 2;
}

static int setup_fail(const char *what)
{
	fprintf(stderr, "mf-ops: %s: %s\n", what, strerror(errno));
	return 2;
}

static int print_errno(int e)
{
	const char *n = strerrorname_np(e);

	if (n)
		printf("%s\n", n);
	else
		printf("errno%d\n", e);
	return 0;
}

static int parse_flags(const char *s, int *flags)
{
	static const struct {
		const char *name;
		int flag;
	} table[] = {
		{ "rdonly", O_RDONLY }, { "wronly", O_WRONLY }, { "rdwr", O_RDWR },
		{ "creat", O_CREAT },   { "excl", O_EXCL },     { "trunc", O_TRUNC },
		{ "append", O_APPEND }, { "direct", O_DIRECT },
	};
	char *copy = strdup(s), *save = NULL;

	*flags = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
			if (strcmp(t, table[i].name) == 0)
				break;
		if (i == sizeof(table) / sizeof(table[0])) {
			free(copy);
			return -1;
		}
		*flags |= table[i].flag;
	}
	free(copy);
	return 0;
}

static int cmd_open(int argc, char **argv)
{
	int flags, fd;
	mode_t mode = 0644;

	if (argc < 2 || parse_flags(argv[1], &flags) < 0)
		return usage();
	if (argc > 2)
		mode = strtoul(argv[2], NULL, 8);
	fd = open(argv[0], flags, mode);
	if (fd < 0)
		return print_errno(errno);
	close(fd);
	printf("OK\n");
	return 0;
}

static int cmd_append(int argc, char **argv)
{
	size_t len;
	ssize_t n;
	int fd;

	if (argc != 2)
		return usage();
	fd = open(argv[0], O_WRONLY | O_APPEND);
	if (fd < 0)
		return print_errno(errno);
	/* O_APPEND must win over the file position. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return print_errno(errno);
	len = strlen(argv[1]);
	n = write(fd, argv[1], len);
	if (n < 0)
		return print_errno(errno);
	if ((size_t)n != len) {
		printf("short %zd\n", n);
		return 0;
	}
	if (close(fd) < 0)
		return print_errno(errno);
	printf("OK\n");
	return 0;
}

static int cmd_rename(int argc, char **argv)
{
	unsigned int flags;

	if (argc != 3)
		return usage();
	if (strcmp(argv[2], "none") == 0)
		flags = 0;
	else if (strcmp(argv[2], "noreplace") == 0)
		flags = RENAME_NOREPLACE;
	else if (strcmp(argv[2], "exchange") == 0)
		flags = RENAME_EXCHANGE;
	else if (strcmp(argv[2], "whiteout") == 0)
		flags = RENAME_WHITEOUT;
	else if (strcmp(argv[2], "whiteout,noreplace") == 0)
		flags = RENAME_WHITEOUT | RENAME_NOREPLACE;
	else if (strcmp(argv[2], "whiteout,exchange") == 0)
		flags = RENAME_WHITEOUT | RENAME_EXCHANGE;
	else
		return usage();
	if (renameat2(AT_FDCWD, argv[0], AT_FDCWD, argv[1], flags) < 0)
		return print_errno(errno);
	printf("OK\n");
	return 0;
}

static int cmd_seek(int argc, char **argv)
{
	int fd, whence;
	off_t r;

	if (argc != 3)
		return usage();
	if (strcmp(argv[1], "data") == 0)
		whence = SEEK_DATA;
	else if (strcmp(argv[1], "hole") == 0)
		whence = SEEK_HOLE;
	else
		return usage();
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return setup_fail(argv[0]);
	r = lseek(fd, strtoll(argv[2], NULL, 0), whence);
	if (r < 0)
		return print_errno(errno);
	printf("%lld\n", (long long)r);
	close(fd);
	return 0;
}

static int cmd_copy(int argc, char **argv)
{
	long long total = 0;
	int in, out;
	ssize_t n;

	if (argc != 2)
		return usage();
	in = open(argv[0], O_RDONLY);
	if (in < 0)
		return setup_fail(argv[0]);
	out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return setup_fail(argv[1]);
	while ((n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0)) > 0)
		total += n;
	if (n < 0)
		return print_errno(errno);
	if (close(out) < 0)
		return print_errno(errno);
	close(in);
	printf("%lld\n", total);
	return 0;
}

static int cmd_sync(int argc, char **argv, int data_only)
{
	int fd;

	if (argc != 1)
		return usage();
	fd = open(argv[0], O_RDWR);
	if (fd < 0)
		return setup_fail(argv[0]);
	if ((data_only ? fdatasync(fd) : fsync(fd)) < 0)
		return print_errno(errno);
	close(fd);
	printf("OK\n");
	return 0;
}

static int cmd_unlink_open(int argc, char **argv)
{
	char buf[65536];
	long long total = 0;
	struct stat st;
	ssize_t n;
	int fd;

	if (argc != 1)
		return usage();
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return setup_fail(argv[0]);
	if (unlink(argv[0]) < 0)
		return print_errno(errno);
	if (fstat(fd, &st) < 0)
		return print_errno(errno);
	if (st.st_nlink != 0) {
		printf("nlink %lu\n", (unsigned long)st.st_nlink);
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	if (n < 0)
		return print_errno(errno);
	close(fd);
	printf("%lld\n", total);
	return 0;
}

static int cmd_hold(int argc, char **argv)
{
	size_t len, done = 0;
	char *buf;
	int fd, m;

	if (argc != 3)
		return usage();
	len = strtoull(argv[1], NULL, 0);
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return setup_fail(argv[0]);
	buf = malloc(1 << 20);
	while (done < len) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0)
			return setup_fail("read");
		if (n == 0)
			break;
		done += n;
	}
	m = open(argv[2], O_WRONLY | O_CREAT, 0644);
	if (m < 0)
		return setup_fail(argv[2]);
	close(m);
	for (int i = 0; i < 1500 && access(argv[2], F_OK) == 0; i++)
		usleep(10000);
	close(fd);
	free(buf);
	printf("%zu\n", done);
	return 0;
}

static int cmd_mmap_store(int argc, char **argv)
{
	size_t off, len, start;
	struct stat st;
	char *m;
	int fd;

	if (argc != 3)
		return usage();
	off = strtoull(argv[1], NULL, 0);
	len = strlen(argv[2]);
	fd = open(argv[0], O_RDWR);
	if (fd < 0)
		return setup_fail(argv[0]);
	if (fstat(fd, &st) < 0)
		return setup_fail("fstat");
	if ((size_t)st.st_size < off + len) {
		fprintf(stderr, "mf-ops: mmap-store past the end of %s\n", argv[0]);
		return 2;
	}
	m = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return print_errno(errno);
	memcpy(m + off, argv[2], len);
	start = off & ~(size_t)4095;
	if (msync(m + start, off + len - start, MS_SYNC) < 0)
		return print_errno(errno);
	if (munmap(m, st.st_size) < 0 || close(fd) < 0)
		return print_errno(errno);
	printf("OK\n");
	return 0;
}

static int cmd_sigbus(int argc, char **argv)
{
	size_t len;
	off_t off;
	ssize_t n;
	char *buf;
	int fd;

	if (argc != 4)
		return usage();
	off = strtoll(argv[2], NULL, 0);
	len = strtoull(argv[3], NULL, 0);
	buf = malloc(len);
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return setup_fail(argv[0]);
	n = pread(fd, buf, len, off);
	if (n != (ssize_t)len)
		return setup_fail("first read");
	if (truncate(argv[1], 0) < 0)
		return setup_fail("truncate of the backing file");
	/* Make the kernel ask the daemon again, as after memory pressure. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	n = pread(fd, buf, len, off);
	free(buf);
	close(fd);
	if (n < 0)
		return print_errno(errno);
	if (n == 0)
		printf("eof\n");
	else if ((size_t)n < len)
		printf("short %zd\n", n);
	else
		printf("full\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "open") == 0)
		return cmd_open(argc, argv);
	if (strcmp(cmd, "append") == 0)
		return cmd_append(argc, argv);
	if (strcmp(cmd, "rename") == 0)
		return cmd_rename(argc, argv);
	if (strcmp(cmd, "seek") == 0)
		return cmd_seek(argc, argv);
	if (strcmp(cmd, "copy") == 0)
		return cmd_copy(argc, argv);
	if (strcmp(cmd, "fsync") == 0)
		return cmd_sync(argc, argv, 0);
	if (strcmp(cmd, "fdatasync") == 0)
		return cmd_sync(argc, argv, 1);
	if (strcmp(cmd, "unlink-open") == 0)
		return cmd_unlink_open(argc, argv);
	if (strcmp(cmd, "hold") == 0)
		return cmd_hold(argc, argv);
	if (strcmp(cmd, "mmap-store") == 0)
		return cmd_mmap_store(argc, argv);
	if (strcmp(cmd, "sigbus") == 0)
		return cmd_sigbus(argc, argv);
	return usage();
}
