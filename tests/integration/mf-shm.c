/*
 * mf-shm — named shared memory (MOUNT/.shm/NAME) from several processes,
 * for the integration tests and scripts/demo.
 *
 *   counter PATH N [-v]   the instance counter: N processes each open
 *                         PATH (made and sized by the first), map it
 *                         MAP_SHARED, add themselves atomically, meet at a
 *                         barrier, check that they see exactly N, meet
 *                         again, take themselves out and exit. Prints
 *                         "seen N by N", then the count read(2) gives
 *                         afterwards: "final 0". -v: each process says
 *                         what it saw.
 *   coherence PATH        on an object of at least 8 KiB: a store through
 *                         one process's mapping is read at once by read(2)
 *                         in another, and a write(2) by that one is seen
 *                         at once through the mapping: "OK", or what
 *                         differed.
 *   fill PATH LEN         map LEN bytes of PATH MAP_SHARED, store into
 *                         every byte, msync: "OK" or msync's errno name.
 *
 * Exits 0 after printing; 1 when a check failed; 2 on usage or setup
 * errors.
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
#include <sys/wait.h>
#include <unistd.h>

#define SIZE 4096

static int setup_fail(const char *what)
{
	fprintf(stderr, "mf-shm: %s: %s\n", what, strerror(errno));
	return 2;
}

/* Block until the parent closes the write end of the barrier pipe. */
static void barrier_wait(int fd)
{
	char c;

	while (read(fd, &c, 1) > 0 || errno == EINTR)
		;
}

static void barrier_arrive(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		_exit(2);
}

/* One instance: returns its exit status (0: it saw n). */
static int instance(const char *path, long n, int arrive, int go1, int go2,
		    int verbose)
{
	int fd = open(path, O_RDWR);
	long *count, seen;

	if (fd < 0)
		return setup_fail(path);
	count = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (count == MAP_FAILED)
		return setup_fail("mmap");
	__atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
	barrier_arrive(arrive);
	barrier_wait(go1);      /* every instance has added itself */
	seen = __atomic_load_n(count, __ATOMIC_SEQ_CST);
	if (verbose)
		printf("instance %d: %ld instances running\n", (int)getpid(),
		       seen);
	fflush(stdout);
	barrier_arrive(arrive);
	barrier_wait(go2);      /* every instance has looked */
	__atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST);
	munmap(count, SIZE);
	close(fd);
	return seen == n ? 0 : 1;
}

static void wait_arrivals(int fd, long n)
{
	char c;

	for (long i = 0; i < n; i++)
		if (read(fd, &c, 1) != 1)
			exit(setup_fail("barrier"));
}

static int counter(const char *path, long n, int verbose)
{
	int arrive[2], go1[2], go2[2], fd, bad = 0, status;
	long final = -1;

	fd = open(path, O_RDWR | O_CREAT, 0666);
	if (fd < 0)
		return setup_fail(path);
	if (ftruncate(fd, SIZE) < 0)
		return setup_fail("ftruncate");
	close(fd);
	if (pipe(arrive) < 0 || pipe(go1) < 0 || pipe(go2) < 0)
		return setup_fail("pipe");
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return setup_fail("fork");
		if (pid == 0) {
			close(arrive[0]);
			close(go1[1]);
			close(go2[1]);
			_exit(instance(path, n, arrive[1], go1[0], go2[0],
				       verbose));
		}
	}
	close(arrive[1]);
	close(go1[0]);
	close(go2[0]);
	wait_arrivals(arrive[0], n);
	close(go1[1]);
	wait_arrivals(arrive[0], n);
	close(go2[1]);
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	printf("seen %ld by %ld\n", n, n - bad);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, &final, sizeof(final), 0) != sizeof(final))
		return setup_fail("read back");
	close(fd);
	printf("final %ld\n", final);
	return bad || final != 0;
}

static int coherence(const char *path)
{
	int fd = open(path, O_RDWR), sync[2], done[2], status;
	char *map, c;
	pid_t pid;

	if (fd < 0)
		return setup_fail(path);
	map = mmap(NULL, 2 * SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return setup_fail("mmap");
	if (pipe(sync) < 0 || pipe(done) < 0)
		return setup_fail("pipe");
	pid = fork();
	if (pid < 0)
		return setup_fail("fork");
	if (pid == 0) {         /* the other process: read(2) and write(2) */
		int f = open(path, O_RDWR);
		char buf[8] = "";

		if (f < 0 || read(sync[0], &c, 1) != 1)
			_exit(2);
		if (pread(f, buf, 7, SIZE + 100) != 7 ||
		    memcmp(buf, "mapped!", 7) != 0) {
			printf("read(2) saw '%.7s', not the store 'mapped!'\n",
			       buf);
			_exit(1);
		}
		if (pwrite(f, "written", 7, 10) != 7)
			_exit(2);
		close(f);
		_exit(write(done[1], "x", 1) == 1 ? 0 : 2);
	}
	memcpy(map + SIZE + 100, "mapped!", 7);
	if (write(sync[1], "x", 1) != 1 || read(done[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	if (memcmp(map + 10, "written", 7) != 0) {
		printf("the mapping saw '%.7s', not the write 'written'\n",
		       map + 10);
		return 1;
	}
	printf("OK\n");
	return 0;
}

static int fill(const char *path, size_t len)
{
	int fd = open(path, O_RDWR);
	char *map;

	if (fd < 0)
		return setup_fail(path);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return setup_fail("mmap");
	memset(map, 'F', len);
	if (msync(map, len, MS_SYNC) < 0)
		printf("%s\n", strerrorname_np(errno));
	else
		printf("OK\n");
	munmap(map, len);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "counter") == 0)
		return counter(argv[2], strtol(argv[3], NULL, 10),
			       argc > 4 && strcmp(argv[4], "-v") == 0);
	if (argc == 3 && strcmp(argv[1], "coherence") == 0)
		return coherence(argv[2]);
	if (argc == 4 && strcmp(argv[1], "fill") == 0)
		return fill(argv[2], strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: see the comment at the top of mf-shm.c\n");
	return 2;
}
