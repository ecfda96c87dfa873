/*
 * mf-viewcheck — system calls on views (F@@/rw, F@@/ro:OFF+LEN...) for
 * test-views.sh, where the shell tools hide the errno or cannot make the
 * call at all.
 *
 * Single calls print one line: "OK", "short N", or the errno name of the
 * failing call (EFBIG, ENODEV...), and exit 0.  The two-process scenarios
 * print "OK" and exit 0 when every round matched, or exit 1 with a message
 * naming the round and the first differing byte.  Exit 2 is a usage error or
 * a failure of the test's own setup.
 *
 *   pwrite PATH OFF DATA          one pwrite(2) of DATA at OFF (O_WRONLY)
 *   pwrite-fill PATH OFF N        one pwrite(2) of N bytes 'Z' at OFF
 *   fsync PATH rdonly|rdwr        fsync(2) on a descriptor opened so
 *   mmap PATH shared|private rdonly|rdwr LEN [OUT]
 *                                 mmap(2) LEN bytes at 0 (PROT_READ, and
 *                                 PROT_WRITE for rdwr).  A private mapping
 *                                 is read into OUT, then stored into; the
 *                                 store must not reach the file.
 *   xproc WPATH WOFF RPATH ROFF LEN read|mmap ROUNDS
 *                                 process B opens RPATH and reads LEN bytes
 *                                 at ROFF (read: pread(2), so the kernel may
 *                                 cache them; mmap: through a MAP_SHARED
 *                                 mapping it touched), then process A
 *                                 pwrite(2)s new bytes at WOFF of WPATH;
 *                                 once that returned, B must read them.
 *                                 Before the first write the range may lie
 *                                 past the end of the file.
 *   append-alias HELD OTHER       open HELD with O_APPEND and keep it; append
 *                                 "other\n" through OTHER (opened, written,
 *                                 closed); then append "held\n" through
 *                                 HELD: "OK" (the shell checks the bytes)
 *   mmap-dirty FILE VIEW VIEWOFF  store 'M' at byte 0 of FILE through a
 *                                 MAP_SHARED mapping (a dirty page, no msync),
 *                                 then pwrite(2) 'V' at file byte 100
 *                                 through VIEW (whose byte 0 is file byte
 *                                 VIEWOFF <= 100), then msync: the view reads
 *                                 'V' at once, and after msync the file has
 *                                 both.  "OK", or what was read instead.
 *   mmap-views FILE OFF VIEW VOFF LEN ROUNDS
 *                                 A and B map FILE MAP_SHARED; A stores LEN
 *                                 bytes at OFF: B's mapping shows them at
 *                                 once; A msyncs: B's pread(2) of VIEW at
 *                                 VOFF returns them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cmd = "?";

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of mf-viewcheck.c\n");
	return 2;
}

static void die(const char *who, const char *what)
{
	fprintf(stderr, "mf-viewcheck %s (%s): %s: %s\n", cmd, who, what,
		strerror(errno));
	exit(2);
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

static long long num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || v < 0) {
		fprintf(stderr, "mf-viewcheck: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int do_pwrite(const char *path, off_t off, const void *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return print_errno(errno);
	n = pwrite(fd, buf, len, off);
	if (n < 0)
		return print_errno(errno);
	if (close(fd) < 0)
		return print_errno(errno);
	if ((size_t)n != len)
		printf("short %zd\n", n);
	else
		printf("OK\n");
	return 0;
}

static int cmd_pwrite(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	return do_pwrite(argv[0], num(argv[1]), argv[2], strlen(argv[2]));
}

static int cmd_pwrite_fill(int argc, char **argv)
{
	size_t n;
	char *buf;

	if (argc != 3)
		return usage();
	n = num(argv[2]);
	buf = malloc(n ? n : 1);
	if (!buf)
		die("A", "malloc");
	memset(buf, 'Z', n);
	return do_pwrite(argv[0], num(argv[1]), buf, n);
}

static int cmd_fsync(int argc, char **argv)
{
	int fd;

	if (argc != 2)
		return usage();
	fd = open(argv[0], strcmp(argv[1], "rdwr") == 0 ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return print_errno(errno);
	if (fsync(fd) < 0)
		return print_errno(errno);
	if (fdatasync(fd) < 0)
		return print_errno(errno);
	close(fd);
	printf("OK\n");
	return 0;
}

static int cmd_mmap(int argc, char **argv)
{
	bool shared, rw;
	size_t len;
	char *m, *copy;
	int fd;

	if (argc != 4 && argc != 5)
		return usage();
	shared = strcmp(argv[1], "shared") == 0;
	rw = strcmp(argv[2], "rdwr") == 0;
	len = num(argv[3]);
	fd = open(argv[0], rw ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return print_errno(errno);
	m = mmap(NULL, len, PROT_READ | (rw || !shared ? PROT_WRITE : 0),
		 shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return print_errno(errno);
	if (argc == 5) {
		FILE *out = fopen(argv[4], "w");

		if (!out || fwrite(m, 1, len, out) != len || fclose(out) != 0)
			die("A", argv[4]);
	}
	if (!shared) {
		/* Private stores stay private: the file keeps its bytes. */
		unsigned char *back = malloc(len);
		ssize_t n;

		copy = malloc(len);
		if (!copy || !back)
			die("A", "malloc");
		memcpy(copy, m, len);
		memset(m, 0xA5, len);
		n = pread(fd, back, len, 0);
		if (n < 0)
			return print_errno(errno);
		if (memcmp(back, copy, (size_t)n) != 0) {
			printf("private stores reached the file\n");
			return 0;
		}
		free(back);
		free(copy);
	}
	munmap(m, len);
	close(fd);
	printf("OK\n");
	return 0;
}

static int cmd_append_alias(int argc, char **argv)
{
	int held, other;

	if (argc != 2)
		return usage();
	held = open(argv[0], O_WRONLY | O_APPEND);
	if (held < 0)
		return print_errno(errno);
	other = open(argv[1], O_WRONLY | O_APPEND);
	if (other < 0)
		return print_errno(errno);
	if (write(other, "other\n", 6) != 6)
		return print_errno(errno);
	if (close(other) < 0)
		return print_errno(errno);
	if (write(held, "held\n", 5) != 5)
		return print_errno(errno);
	if (close(held) < 0)
		return print_errno(errno);
	printf("OK\n");
	return 0;
}

static int cmd_mmap_dirty(int argc, char **argv)
{
	off_t voff;
	char *m, b0 = '?', b100 = '?';
	int fd, vfd;

	if (argc != 3)
		return usage();
	voff = 100 - num(argv[2]);
	fd = open(argv[0], O_RDWR);
	vfd = open(argv[1], O_RDWR);
	if (fd < 0 || vfd < 0)
		die("A", "open");
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("A", "mmap");
	m[0] = 'M';
	if (pwrite(vfd, "V", 1, voff) != 1)
		return print_errno(errno);
	if (pread(vfd, &b100, 1, voff) != 1)
		die("A", "pread of the view");
	if (b100 != 'V') {
		printf("the view reads '%c' at once after pwrite(2) of 'V' "
		       "returned\n", b100);
		return 0;
	}
	if (msync(m, 4096, MS_SYNC) < 0)
		die("A", "msync");
	munmap(m, 4096);
	close(fd);
	fd = open(argv[0], O_RDONLY);
	if (fd < 0 || pread(fd, &b0, 1, 0) != 1 || pread(fd, &b100, 1, 100) != 1)
		die("A", "pread of the file");
	if (b0 != 'M' || b100 != 'V') {
		printf("after msync the file has '%c' at 0 (stored 'M') and '%c' "
		       "at 100 (written 'V')\n", b0, b100);
		return 0;
	}
	printf("OK\n");
	return 0;
}

/* ----------------------------------------------------- two processes */

static void msg_send(int fd, char c, const char *who)
{
	if (write(fd, &c, 1) != 1)
		die(who, "pipe write");
}

static char msg_recv(int fd, const char *who)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 20000) != 1) {
		fprintf(stderr, "mf-viewcheck %s (%s): the other process did not "
			"answer in 20 s\n", cmd, who);
		exit(1);
	}
	if (read(fd, &c, 1) != 1) {
		fprintf(stderr, "mf-viewcheck %s (%s): the other process went "
			"away\n", cmd, who);
		exit(1);
	}
	return c;
}

/* The bytes of round r: differ from every other round's at every byte. */
static void pattern(unsigned char *p, size_t len, int r)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(r * 7 + 1 + (i * 131 + i / 251) % 200);
}

static int compare(const unsigned char *got, const unsigned char *want,
		   size_t len, const char *where, int r)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "mf-viewcheck %s: round %d: %s: byte %zu "
				"is 0x%02x, expected 0x%02x (the write had "
				"returned)\n", cmd, r, where, i, got[i], want[i]);
			return 1;
		}
	return 0;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		die("A", "waitpid");
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "mf-viewcheck %s: process B died of signal %d\n", cmd,
		WTERMSIG(st));
	return 1;
}

static int cmd_xproc(int argc, char **argv)
{
	const char *wpath, *rpath;
	off_t woff, roff;
	size_t len;
	bool use_mmap;
	int rounds, to_b[2], to_a[2], rc = 0;
	unsigned char *want, *got;
	pid_t pid;

	if (argc != 7)
		return usage();
	wpath = argv[0];
	woff = num(argv[1]);
	rpath = argv[2];
	roff = num(argv[3]);
	len = num(argv[4]);
	use_mmap = strcmp(argv[5], "mmap") == 0;
	rounds = (int)num(argv[6]);
	want = malloc(len);
	got = malloc(len);
	if (!want || !got || pipe(to_b) < 0 || pipe(to_a) < 0)
		die("A", "setup");
	pid = fork();
	if (pid < 0)
		die("A", "fork");
	if (pid == 0) {                 /* B: the reader */
		off_t start = roff & ~(off_t)4095;
		size_t mlen = (size_t)(roff - start) + len;
		unsigned char *m = NULL;
		int fd = open(rpath, O_RDONLY);

		if (fd < 0)
			die("B", rpath);
		if (use_mmap) {
			m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, start);
			if (m == MAP_FAILED)
				die("B", "mmap");
			m += roff - start;
		}
		for (int r = 1; r <= rounds; r++) {
			/* Bring the old bytes into the cache, and check them.
			 * Before the first write they may lie past the end of
			 * the file (a write that extends it). */
			ssize_t n = (ssize_t)len;

			if (use_mmap)
				memcpy(got, m, len);
			else if ((n = pread(fd, got, len, roff)) < 0)
				die("B", "pread before the write");
			if (r > 1 && n != (ssize_t)len) {
				fprintf(stderr, "mf-viewcheck %s: round %d: %s: "
					"read %zd bytes of %zu\n", cmd, r - 1,
					rpath, n, len);
				_exit(1);
			}
			if (r > 1) {
				pattern(want, len, r - 1);
				if (compare(got, want, len, "before the write", r - 1))
					_exit(1);
			}
			msg_send(to_a[1], 'r', "B");
			msg_recv(to_b[0], "B");
			pattern(want, len, r);
			if (use_mmap) {
				memcpy(got, m, len);
			} else if ((n = pread(fd, got, len, roff)) != (ssize_t)len) {
				fprintf(stderr, "mf-viewcheck %s: round %d: %s: "
					"read %zd bytes of %zu after the write "
					"returned\n", cmd, r, rpath, n, len);
				_exit(1);
			}
			if (compare(got, want, len, rpath, r))
				_exit(1);
		}
		msg_send(to_a[1], 'd', "B");
		_exit(0);
	}
	{                               /* A: the writer */
		int fd = open(wpath, O_WRONLY);

		if (fd < 0)
			die("A", wpath);
		for (int r = 1; r <= rounds; r++) {
			if (msg_recv(to_a[0], "A") != 'r') {
				rc = 1;
				break;
			}
			pattern(want, len, r);
			if (pwrite(fd, want, len, woff) != (ssize_t)len)
				die("A", "pwrite");
			msg_send(to_b[1], 'w', "A");
		}
		if (rc == 0 && msg_recv(to_a[0], "A") != 'd')
			rc = 1;
		close(fd);
	}
	rc |= wait_child(pid);
	if (rc == 0)
		printf("OK\n");
	return rc;
}

static int cmd_mmap_views(int argc, char **argv)
{
	const char *file, *view;
	off_t off, voff, start;
	size_t len, mlen;
	int rounds, to_b[2], to_a[2], rc = 0;
	unsigned char *want, *got, *m;
	pid_t pid;

	if (argc != 6)
		return usage();
	file = argv[0];
	off = num(argv[1]);
	view = argv[2];
	voff = num(argv[3]);
	len = num(argv[4]);
	rounds = (int)num(argv[5]);
	start = off & ~(off_t)4095;
	mlen = (size_t)(off - start) + len;
	want = malloc(len);
	got = malloc(len);
	if (!want || !got || pipe(to_b) < 0 || pipe(to_a) < 0)
		die("A", "setup");
	pid = fork();
	if (pid < 0)
		die("A", "fork");
	if (pid == 0) {                 /* B: maps the file, reads the view */
		int fd = open(file, O_RDONLY), vfd = open(view, O_RDONLY);

		if (fd < 0 || vfd < 0)
			die("B", "open");
		m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, start);
		if (m == MAP_FAILED)
			die("B", "mmap");
		m += off - start;
		for (int r = 1; r <= rounds; r++) {
			memcpy(got, m, len);    /* fault the pages in */
			msg_send(to_a[1], 'r', "B");
			msg_recv(to_b[0], "B"); /* A stored */
			pattern(want, len, r);
			memcpy(got, m, len);
			if (compare(got, want, len, "the other process's mapping", r))
				_exit(1);
			msg_send(to_a[1], 's', "B");
			msg_recv(to_b[0], "B"); /* A msynced */
			if (pread(vfd, got, len, voff) != (ssize_t)len)
				die("B", "pread of the view");
			if (compare(got, want, len, view, r))
				_exit(1);
		}
		msg_send(to_a[1], 'd', "B");
		_exit(0);
	}
	{
		int fd = open(file, O_RDWR);

		if (fd < 0)
			die("A", file);
		m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 start);
		if (m == MAP_FAILED)
			die("A", "mmap");
		for (int r = 1; r <= rounds; r++) {
			if (msg_recv(to_a[0], "A") != 'r') {
				rc = 1;
				break;
			}
			pattern(want, len, r);
			memcpy(m + (off - start), want, len);
			msg_send(to_b[1], 'm', "A");
			if (msg_recv(to_a[0], "A") != 's') {
				rc = 1;
				break;
			}
			if (msync(m, mlen, MS_SYNC) < 0)
				die("A", "msync");
			msg_send(to_b[1], 'y', "A");
		}
		if (rc == 0 && msg_recv(to_a[0], "A") != 'd')
			rc = 1;
		munmap(m, mlen);
		close(fd);
	}
	rc |= wait_child(pid);
	if (rc == 0)
		printf("OK\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	cmd = argv[1];
	argc -= 2;
	argv += 2;
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "pwrite") == 0)
		return cmd_pwrite(argc, argv);
	if (strcmp(cmd, "pwrite-fill") == 0)
		return cmd_pwrite_fill(argc, argv);
	if (strcmp(cmd, "fsync") == 0)
		return cmd_fsync(argc, argv);
	if (strcmp(cmd, "mmap") == 0)
		return cmd_mmap(argc, argv);
	if (strcmp(cmd, "xproc") == 0)
		return cmd_xproc(argc, argv);
	if (strcmp(cmd, "append-alias") == 0)
		return cmd_append_alias(argc, argv);
	if (strcmp(cmd, "mmap-dirty") == 0)
		return cmd_mmap_dirty(argc, argv);
	if (strcmp(cmd, "mmap-views") == 0)
		return cmd_mmap_views(argc, argv);
	return usage();
}
