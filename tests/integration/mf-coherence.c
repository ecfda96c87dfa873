/*
 * mf-coherence SCENARIO PATH — two processes on one file of a mount.
 *
 * Process A (the parent) changes the file; process B (a forked child that
 * opened the file, and read or mapped it, before the change) checks at once
 * that it sees the new bytes.  Many rounds, at varying offsets and lengths,
 * each round waiting for the other side through a pipe (never a sleep).
 *
 *   write-read   A pwrite(2)s, B pread(2)s on its own earlier descriptor
 *   mmap-mmap    both map MAP_SHARED; A stores, B sees; B stores, A sees
 *   write-mmap   B maps (and has read the pages); A pwrite(2)s, B sees
 *   mmap-read    A stores into its MAP_SHARED map and msyncs; B pread(2)s
 *   wronly-read  as write-read, A's descriptor opened O_WRONLY (the mount
 *                serves such opens without the kernel's page cache)
 *   wronly-mmap  as write-mmap, A's descriptor opened O_WRONLY
 *
 * Exit 0 when every round matched; 1 with a message naming the round and the
 * first differing byte otherwise; 2 for a setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (256 * 1024)
#define ROUNDS 64
#define MAXLEN 9000

static const char *scenario, *path;

static void die(const char *who, const char *what)
{
	fprintf(stderr, "mf-coherence %s (%s): %s: %s\n", scenario, who, what, strerror(errno));
	exit(2);
}

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
		fprintf(stderr, "mf-coherence %s (%s): the other process did not answer in 20 s\n",
			scenario, who);
		exit(1);
	}
	if (read(fd, &c, 1) != 1) {
		fprintf(stderr, "mf-coherence %s (%s): the other process went away\n", scenario, who);
		exit(1);
	}
	return c;
}

static size_t round_off(int i, int salt)
{
	return ((size_t)i * 12289 + (size_t)salt * 4093) % (SZ - MAXLEN);
}

static size_t round_len(int i, int salt)
{
	return 1 + ((size_t)i * 977 + (size_t)salt * 131) % (MAXLEN - 1);
}

static void pattern(unsigned char *buf, size_t len, int i, int salt)
{
	for (size_t j = 0; j < len; j++)
		buf[j] = (unsigned char)(i * 31 + salt * 101 + j * 7 + 1);
}

/* 1 if MEM holds round I's pattern, else report the first difference. */
static int matches(const unsigned char *mem, int i, int salt, const char *who)
{
	unsigned char want[MAXLEN];
	size_t len = round_len(i, salt);

	pattern(want, len, i, salt);
	for (size_t j = 0; j < len; j++) {
		if (mem[j] != want[j]) {
			fprintf(stderr,
				"mf-coherence %s (%s): round %d: byte %zu of the file is 0x%02x, "
				"expected 0x%02x (written just before by the other process)\n",
				scenario, who, i, round_off(i, salt) + j, mem[j], want[j]);
			return 0;
		}
	}
	return 1;
}

static void *map(int fd, int prot, const char *who)
{
	void *m = mmap(NULL, SZ, prot, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED)
		die(who, "mmap MAP_SHARED");
	return m;
}

static void read_all(int fd, const char *who)
{
	static unsigned char buf[SZ];

	if (pread(fd, buf, SZ, 0) != SZ)
		die(who, "initial read");
}

static void touch_pages(const unsigned char *m)
{
	volatile unsigned char sink = 0;

	for (size_t j = 0; j < SZ; j += 4096)
		sink ^= m[j];
	(void)sink;
}

/* B: the observer. */
static int child(int in, int out)
{
	const char *who = "B";
	int mmap_mode = strcmp(scenario, "mmap-mmap") == 0 || strcmp(scenario, "write-mmap") == 0 ||
			strcmp(scenario, "wronly-mmap") == 0;
	unsigned char buf[MAXLEN], *m = NULL;
	int fd = open(path, strcmp(scenario, "mmap-mmap") == 0 ? O_RDWR : O_RDONLY);

	if (fd < 0)
		die(who, "open");
	if (mmap_mode) {
		m = map(fd, strcmp(scenario, "mmap-mmap") == 0 ? PROT_READ | PROT_WRITE : PROT_READ,
			who);
		touch_pages(m);
	} else {
		read_all(fd, who);
	}
	msg_send(out, 'r', who);
	for (int i = 0; i < ROUNDS; i++) {
		const unsigned char *seen;
		int ok;

		if (msg_recv(in, who) != 'g')
			return 1;
		if (mmap_mode) {
			seen = m + round_off(i, 0);
		} else {
			ssize_t n = pread(fd, buf, round_len(i, 0), round_off(i, 0));

			if (n != (ssize_t)round_len(i, 0)) {
				fprintf(stderr, "mf-coherence %s (B): round %d: pread returned %zd\n",
					scenario, i, n);
				msg_send(out, 'n', who);
				return 1;
			}
			seen = buf;
		}
		ok = matches(seen, i, 0, who);
		if (ok && strcmp(scenario, "mmap-mmap") == 0)
			pattern(m + round_off(i, 1), round_len(i, 1), i, 1);
		msg_send(out, ok ? 'y' : 'n', who);
		if (!ok)
			return 1;
	}
	return 0;
}

/* A: the writer. */
static int parent(int in, int out)
{
	const char *who = "A";
	unsigned char buf[MAXLEN], *m = NULL;
	int fd;

	if (msg_recv(in, who) != 'r')
		return 1;
	fd = open(path, strncmp(scenario, "wronly-", 7) == 0 ? O_WRONLY : O_RDWR);
	if (fd < 0)
		die(who, "open");
	if (strcmp(scenario, "mmap-mmap") == 0 || strcmp(scenario, "mmap-read") == 0)
		m = map(fd, PROT_READ | PROT_WRITE, who);
	for (int i = 0; i < ROUNDS; i++) {
		size_t off = round_off(i, 0), len = round_len(i, 0);

		if (m) {
			pattern(m + off, len, i, 0);
			if (strcmp(scenario, "mmap-read") == 0) {
				size_t start = off & ~(size_t)4095;

				if (msync(m + start, off + len - start, MS_SYNC) < 0)
					die(who, "msync");
			}
		} else {
			pattern(buf, len, i, 0);
			if (pwrite(fd, buf, len, off) != (ssize_t)len)
				die(who, "pwrite");
		}
		msg_send(out, 'g', who);
		if (msg_recv(in, who) != 'y')
			return 1;
		if (strcmp(scenario, "mmap-mmap") == 0 && !matches(m + round_off(i, 1), i, 1, who))
			return 1;
	}
	if (m)
		munmap(m, SZ);
	if (close(fd) < 0)
		die(who, "close");
	return 0;
}

int main(int argc, char **argv)
{
	static const char *known[] = { "write-read", "mmap-mmap", "write-mmap", "mmap-read",
				       "wronly-read", "wronly-mmap" };
	static unsigned char zero[SZ];
	int to_child[2], to_parent[2], fd, status, rc;
	size_t k;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: mf-coherence SCENARIO PATH\n");
		return 2;
	}
	scenario = argv[1];
	path = argv[2];
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(scenario, known[k]) == 0)
			break;
	if (k == sizeof(known) / sizeof(known[0])) {
		fprintf(stderr, "mf-coherence: unknown scenario %s\n", scenario);
		return 2;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, zero, SZ) != SZ || close(fd) < 0)
		die("setup", "create the file");
	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		die("setup", "pipe");
	pid = fork();
	if (pid < 0)
		die("setup", "fork");
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(child(to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);
	rc = parent(to_parent[0], to_child[1]);
	close(to_child[1]);
	if (waitpid(pid, &status, 0) < 0)
		die("setup", "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = rc ? rc : 1;
	if (rc == 0)
		printf("%s: %d rounds coherent\n", scenario, ROUNDS);
	return rc;
}
