/*
 * mf-stress FILE SECONDS [WRITERS [READERS [HANG_SECONDS [HANG_MARK]]]]
 *
 * The views stress test (issue 3, point 4).  FILE is a path in a mapfs
 * mount; its views are FILE@@/rw, FILE@@/ro and windows of them.  For
 * SECONDS, WRITERS processes write and READERS processes read, all at once:
 *
 *   The file is cut into 8-byte slots, SLOT_STRIDE bytes apart, so that
 *   every page holds slots of every writer.  Writer w owns the slots
 *   j % WRITERS == w and is their only writer: it writes an increasing
 *   counter into a slot with one pwrite(2), through an alias chosen at
 *   random (the file, FILE@@/rw, an rw window that covers the slot, or a
 *   window looked up afresh under a random name), and once pwrite returned
 *   it publishes the counter as the slot's acknowledged value in memory
 *   shared by all processes (an anonymous MAP_SHARED region made before the
 *   fork).
 *
 *   A reader picks a range of slots and an alias (the file by read(2) on a
 *   descriptor it keeps or on one opened afresh, its MAP_SHARED mapping,
 *   FILE@@/ro, an ro window, an rw window, a fresh ro window), takes the
 *   acknowledged values of those slots, then reads, and
 *   checks every slot: a value below what was acknowledged before the read
 *   started is a STALE read, the bug this test exists to find.
 *
 * A slot holds the counter (32 bits) and a check word derived from it and
 * the slot number.  A read that races with the slot's write may see parts of
 * two values (nothing makes an 8-byte copy atomic); such a torn slot fails
 * its check and is counted, not judged.  Stale cache pages hold well-formed
 * old values, and those are judged.
 *
 * Every process reports progress in shared memory.  The parent is the
 * watchdog: a process that completes no operation for HANG_SECONDS (default
 * 10) is a hang; the parent prints what every process was doing (and the
 * kernel's wait channel), SIGKILLs its children (by pid) and exits 3 once
 * they are gone.  A child blocked in a request the daemon never answers
 * dies only when the mount's connection ends: given HANG_MARK, the parent
 * creates that file on a hang and then waits up to 120 s for its children,
 * so that the caller can end the daemon and nothing is left behind;
 * without it, the parent waits 5 s.
 *
 * At the end, with no write in flight, every slot must read back exactly its
 * acknowledged value through the file, its mapping and FILE@@/ro.
 *
 * With MF_STRESS_CLOSED=1 in the environment, nothing holds the file itself
 * open: writers and readers open it afresh for each operation and nobody
 * maps it, so writes through views mostly find the file closed (the
 * daemon's path for that) while opens of it race with them.
 *
 * Exit: 0 pass; 1 stale reads, I/O errors or a wrong final value; 2 setup
 * error; 3 hang.  A summary of operations per alias kind is printed always.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS 8192
#define SLOT_STRIDE 520         /* 8-aligned, not a divisor of a page */
#define FILE_SIZE ((off_t)NSLOTS * SLOT_STRIDE + 777)
#define MAXPROC 32
#define MAXWIN 16
#define MAX_READ_SLOTS 256

enum kind {
	/* writes */
	W_FILE, W_RW, W_WINDOW, W_FRESH,
	/* reads */
	R_FILE, R_FILE_OPEN, R_MMAP, R_RO, R_ROWIN, R_RWWIN, R_FRESH,
	NKINDS
};

static const char *const kind_name[NKINDS] = {
	[W_FILE] = "write file",
	[W_RW] = "write F@@/rw",
	[W_WINDOW] = "write F@@/rw:OFF+LEN (open)",
	[W_FRESH] = "write F@@/rw:OFF+LEN (fresh lookup)",
	[R_FILE] = "read file",
	[R_FILE_OPEN] = "read file (opened afresh)",
	[R_MMAP] = "read file mmap(MAP_SHARED)",
	[R_RO] = "read F@@/ro",
	[R_ROWIN] = "read F@@/ro:OFF+LEN (open)",
	[R_RWWIN] = "read F@@/rw:OFF+LEN (open)",
	[R_FRESH] = "read F@@/ro:OFF+LEN (fresh lookup)",
};

/* Windows every process opens, rw and ro: overlapping, some unaligned,
 * some spelled two ways (the same inode), one of a single slot, one past
 * the end of the file. */
static const struct {
	const char *spec;       /* after "rw:" / "ro:" */
	off_t off, len;         /* len 0: to the end */
} windows[] = {
	{ "0+1M", 0, 1 << 20 },
	{ "512K+1M", 512 << 10, 1 << 20 },
	{ "1M+2M", 1 << 20, 2 << 20 },
	{ "0x100000+0x200000", 1 << 20, 2 << 20 },
	{ "3M", 3 << 20, 0 },
	{ "0x1234+777K", 0x1234, 777 << 10 },
	{ "1000+3M", 1000, 3 << 20 },
	{ "4K+5M", 4096, 5 << 20 },
	{ "2K+1040", 2048, 1040 },
	{ "2104960+8", 2104960, 8 },    /* slot 4048 exactly */
	{ "1536K+64K", 1536 << 10, 64 << 10 },
};
#define NWIN ((int)(sizeof(windows) / sizeof(windows[0])))

struct proc {
	pid_t pid;
	int id;
	bool writer;
	uint64_t ops;                   /* completed operations */
	uint64_t kind_ops[NKINDS];
	uint64_t slots_checked, torn, stale, errors;
	uint64_t max_op_ns;
	char doing[200];                /* the operation in progress */
	int done;
};

struct shared {
	int stop;
	int failed;
	uint32_t ack[NSLOTS];           /* acknowledged counter per slot */
	uint8_t ack_kind[NSLOTS];       /* the alias of that write */
	struct proc proc[MAXPROC];
};

static struct shared *sh;
static const char *file;
static char path_rw[4096], path_ro[4096];
static char win_path[2][MAXWIN][4096];  /* [0]: rw, [1]: ro */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "mf-stress: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ------------------------------------------------------------- slots */

static off_t slot_off(int j)
{
	return (off_t)j * SLOT_STRIDE;
}

static uint32_t check_word(uint32_t v, int j)
{
	uint32_t h = v * 0x9E3779B1u ^ ((uint32_t)j * 0x85EBCA77u) ^ 0x5bd1e995u;

	h ^= h >> 15;
	h *= 0x2C1B3C6Du;
	h ^= h >> 12;
	return h | 1;                   /* never 0: zeros are not a value */
}

static void encode(unsigned char *p, uint32_t v, int j)
{
	uint32_t c = check_word(v, j);

	memcpy(p, &v, 4);
	memcpy(p + 4, &c, 4);
}

/* The counter in p, or -1 when the check word does not match. */
static int64_t decode(const unsigned char *p, int j)
{
	uint32_t v, c;

	memcpy(&v, p, 4);
	memcpy(&c, p + 4, 4);
	return c == check_word(v, j) ? (int64_t)v : -1;
}

/* ------------------------------------------------------------ random */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* -------------------------------------------------------- reporting */

static struct proc *me;

static void doing(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(me->doing, sizeof(me->doing), fmt, ap);
	va_end(ap);
}

static void op_done(enum kind k, uint64_t t0)
{
	uint64_t dt = now_ns() - t0;

	if (dt > me->max_op_ns)
		me->max_op_ns = dt;
	me->kind_ops[k]++;
	__atomic_add_fetch(&me->ops, 1, __ATOMIC_RELEASE);
}

static void failure(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "mf-stress: %s %d: ", me->writer ? "writer" : "reader",
		me->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__atomic_store_n(&sh->failed, 1, __ATOMIC_RELEASE);
}

static bool stopping(uint64_t deadline)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE) ||
	       now_ns() >= deadline;
}

/* ------------------------------------------------------------ aliases */

static bool covers(int w, off_t off, off_t len)
{
	off_t end = windows[w].len ? windows[w].off + windows[w].len
				   : (off_t)INT64_MAX;

	return off >= windows[w].off && off + len <= end;
}

/* A random window of the table covering [off, off+len), or -1. */
static int pick_window(off_t off, off_t len)
{
	int cand[MAXWIN], n = 0;

	for (int w = 0; w < NWIN; w++)
		if (covers(w, off, len))
			cand[n++] = w;
	return n ? cand[rnd_below(n)] : -1;
}

/* A random fresh window name covering [off, off+len): "F@@/MODE:OFF+LEN"
 * with numbers in decimal, hex or K units. Sets *woff. */
static void fresh_window(char *buf, size_t size, const char *mode, off_t off,
			 off_t len, off_t *woff)
{
	off_t start = off - (off_t)rnd_below((uint64_t)off < 300000 ? (uint64_t)off + 1 : 300000);
	off_t wlen = off + len - start + (off_t)rnd_below(300000);

	switch (rnd_below(3)) {
	case 0:
		snprintf(buf, size, "%s@@/%s:%lld+%lld", file, mode,
			 (long long)start, (long long)wlen);
		break;
	case 1:
		snprintf(buf, size, "%s@@/%s:%#llx+%#llx", file, mode,
			 (long long)start, (long long)wlen);
		break;
	default:
		/* K units: round the start down, the length up. */
		start &= ~(off_t)1023;
		wlen = (off + len - start + (off_t)rnd_below(300000) + 1023) / 1024;
		snprintf(buf, size, "%s@@/%s:%lldK+%lldK", file, mode,
			 (long long)start / 1024, (long long)wlen);
		break;
	}
	*woff = start;
}

static unsigned char *map;              /* the file, MAP_SHARED; NULL
					 * when closed_file */
static bool closed_file;                /* MF_STRESS_CLOSED: see above */

/* The file, opened for one operation (closed_file) or kept open. */
static int file_fd(int kept, int flags)
{
	return kept >= 0 ? kept : open(file, flags);
}

static void file_done(int kept, int fd)
{
	if (fd != kept && fd >= 0)
		close(fd);
}

/* ------------------------------------------------------------ writers */

static void writer(int id, int nwriters, uint64_t deadline)
{
	int fd_file = closed_file ? -1 : open(file, O_RDWR);
	int fd_rw = open(path_rw, O_RDWR);
	int fd_win[MAXWIN];
	int mine = 0, owned[NSLOTS];
	uint32_t next[NSLOTS];

	if ((!closed_file && fd_file < 0) || fd_rw < 0)
		die("writer: open");
	for (int w = 0; w < NWIN; w++)
		if ((fd_win[w] = open(win_path[0][w], O_RDWR)) < 0)
			die(win_path[0][w]);
	for (int j = id; j < NSLOTS; j += nwriters)
		owned[mine++] = j;
	for (int j = 0; j < NSLOTS; j++)
		next[j] = 1;

	while (!stopping(deadline)) {
		int j = owned[rnd_below(mine)], fd = -1, w;
		off_t off = slot_off(j), at = off;
		unsigned char buf[8];
		char fresh[4096];
		enum kind k;
		uint64_t t0 = now_ns();
		uint64_t r = rnd_below(32);
		ssize_t n;

		encode(buf, next[j], j);
		if (r == 0) {
			off_t woff;

			k = W_FRESH;
			fresh_window(fresh, sizeof(fresh), "rw", off, 8, &woff);
			at = off - woff;
			doing("open %s", fresh);
			fd = open(fresh, O_WRONLY);
			if (fd < 0) {
				failure("open %s: %s", fresh, strerror(errno));
				me->errors++;
				break;
			}
		} else if (r < 11) {
			k = W_FILE;
			doing("open %s", file);
			fd = file_fd(fd_file, O_WRONLY);
			if (fd < 0) {
				failure("open %s: %s", file, strerror(errno));
				me->errors++;
				break;
			}
		} else if (r < 18) {
			k = W_RW;
			fd = fd_rw;
		} else {
			k = W_WINDOW;
			w = pick_window(off, 8);
			if (w < 0) {
				k = W_RW;
				fd = fd_rw;
			} else {
				fd = fd_win[w];
				at = off - windows[w].off;
			}
		}
		doing("%s: pwrite slot %d (file offset %lld, value %u) at %lld%s%s",
		      kind_name[k], j, (long long)off, next[j], (long long)at,
		      k == W_FRESH ? " of " : "", k == W_FRESH ? fresh : "");
		n = pwrite(fd, buf, 8, at);
		if (n != 8) {
			failure("%s: pwrite of slot %d at %lld returned %zd (%s)",
				kind_name[k], j, (long long)at, n,
				n < 0 ? strerror(errno) : "short");
			me->errors++;
			break;
		}
		if (k == W_FRESH && close(fd) < 0) {
			failure("close %s: %s", fresh, strerror(errno));
			me->errors++;
			break;
		}
		if (k == W_FILE)
			file_done(fd_file, fd);
		/* Acknowledged: every later read must see it. */
		sh->ack_kind[j] = (uint8_t)k;
		__atomic_store_n(&sh->ack[j], next[j], __ATOMIC_RELEASE);
		next[j]++;
		op_done(k, t0);
	}
	doing("finished");
}

/* ------------------------------------------------------------ readers */


/* Re-read one slot through a few aliases, to say whether a stale value
 * stays stale (a cache that was not invalidated) or not. */
static void describe_stale(int j, int fd_file, int fd_ro)
{
	unsigned char b[8];
	int64_t via_file = -2, via_ro = -2, via_map;

	int fd = file_fd(fd_file, O_RDONLY);

	if (pread(fd, b, 8, slot_off(j)) == 8)
		via_file = decode(b, j);
	file_done(fd_file, fd);
	if (pread(fd_ro, b, 8, slot_off(j)) == 8)
		via_ro = decode(b, j);
	via_map = -2;
	if (map) {
		memcpy(b, map + slot_off(j), 8);
		via_map = decode(b, j);
	}
	fprintf(stderr, "    re-read at once: file read(2) %lld, F@@/ro %lld, "
		"mmap %lld; acknowledged now %u "
		"(-1: torn, -2: read failed)\n",
		(long long)via_file, (long long)via_ro, (long long)via_map,
		__atomic_load_n(&sh->ack[j], __ATOMIC_ACQUIRE));
}

static void reader(int id, uint64_t deadline)
{
	int fd_file = closed_file ? -1 : open(file, O_RDONLY);
	int fd_ro = open(path_ro, O_RDONLY);
	int fd_win[2][MAXWIN];
	static unsigned char buf[MAX_READ_SLOTS * SLOT_STRIDE];
	uint32_t before[MAX_READ_SLOTS];

	(void)id;
	if ((!closed_file && fd_file < 0) || fd_ro < 0)
		die("reader: open");
	for (int m = 0; m < 2; m++)
		for (int w = 0; w < NWIN; w++)
			if ((fd_win[m][w] = open(win_path[m][w], O_RDONLY)) < 0)
				die(win_path[m][w]);

	while (!stopping(deadline)) {
		int n = rnd_below(8) == 0 ? MAX_READ_SLOTS
					  : 1 + (int)rnd_below(24);
		int j0 = (int)rnd_below(NSLOTS - n + 1), fd = -1, w = -1;
		off_t off = slot_off(j0);
		off_t len = slot_off(j0 + n - 1) + 8 - off, at = off;
		uint64_t r = rnd_below(32), t0 = now_ns();
		char fresh[4096] = "";
		const char *name;
		enum kind k;
		ssize_t got;

		if (r == 0)
			k = R_FRESH;
		else if (r == 1)
			k = R_FILE_OPEN;
		else if (r < 8)
			k = R_FILE;
		else if (r < 14)
			k = R_MMAP;
		else if (r < 20)
			k = R_RO;
		else if (r < 28)
			k = R_ROWIN;
		else
			k = R_RWWIN;
		if (closed_file && (k == R_FILE || k == R_MMAP))
			k = R_FILE_OPEN;
		if (k == R_ROWIN || k == R_RWWIN) {
			w = pick_window(off, len);
			if (w < 0)
				k = R_RO;
		}
		switch (k) {
		case R_FILE: fd = fd_file; name = file; break;
		case R_FILE_OPEN:
			name = file;
			doing("open %s", file);
			fd = open(file, O_RDONLY);
			if (fd < 0) {
				failure("open %s: %s", file, strerror(errno));
				me->errors++;
				goto out;
			}
			break;
		case R_RO: fd = fd_ro; name = path_ro; break;
		case R_MMAP: name = "the file's mapping"; break;
		case R_ROWIN:
		case R_RWWIN:
			fd = fd_win[k == R_ROWIN][w];
			name = win_path[k == R_ROWIN][w];
			at = off - windows[w].off;
			break;
		default: {
			off_t woff;

			fresh_window(fresh, sizeof(fresh), "ro", off, len, &woff);
			at = off - woff;
			name = fresh;
			doing("open %s", fresh);
			fd = open(fresh, O_RDONLY);
			if (fd < 0) {
				failure("open %s: %s", fresh, strerror(errno));
				me->errors++;
				goto out;
			}
		}
		}
		/* What was acknowledged before the read starts. */
		for (int i = 0; i < n; i++)
			before[i] = __atomic_load_n(&sh->ack[j0 + i],
						    __ATOMIC_ACQUIRE);
		doing("%s: read slots %d..%d (file offset %lld, %lld bytes) "
		      "at %lld of %s", kind_name[k], j0, j0 + n - 1,
		      (long long)off, (long long)len, (long long)at, name);
		if (k == R_MMAP) {
			memcpy(buf, map + off, (size_t)len);
			got = len;
		} else {
			got = pread(fd, buf, (size_t)len, at);
		}
		if (got != len) {
			failure("%s: pread of %lld bytes at %lld of %s returned "
				"%zd (%s)", kind_name[k], (long long)len,
				(long long)at, name, got,
				got < 0 ? strerror(errno) : "short");
			me->errors++;
			break;
		}
		for (int i = 0; i < n; i++) {
			int j = j0 + i;
			int64_t v = decode(buf + slot_off(j) - off, j);

			me->slots_checked++;
			if (v < 0) {
				me->torn++;
				continue;
			}
			if (v < before[i]) {
				me->stale++;
				failure("STALE read: %s read slot %d (file offset "
					"%lld, page %lld) through %s (at %lld): "
					"value %lld, but %u had been acknowledged "
					"before the read began (written through: %s)",
					kind_name[k], j, (long long)slot_off(j),
					(long long)slot_off(j) / 4096, name,
					(long long)(at + slot_off(j) - off),
					(long long)v, before[i],
					kind_name[sh->ack_kind[j]]);
				describe_stale(j, fd_file, fd_ro);
			}
		}
		if ((k == R_FRESH || k == R_FILE_OPEN) && close(fd) < 0) {
			failure("close %s: %s", name, strerror(errno));
			me->errors++;
			break;
		}
		if (me->stale)
			break;
		op_done(k, t0);
	}
out:
	doing("finished");
}

/* ------------------------------------------------------------ parent */

static void print_doing(void)
{
	for (int i = 0; i < MAXPROC && sh->proc[i].pid; i++) {
		struct proc *p = &sh->proc[i];
		char wchan[128] = "?", path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/wchan", p->pid);
		if ((f = fopen(path, "r"))) {
			if (!fgets(wchan, sizeof(wchan), f))
				strcpy(wchan, "?");
			fclose(f);
		}
		fprintf(stderr, "    %s %d (pid %d, %" PRIu64 " ops, wchan %s): %s\n",
			p->writer ? "writer" : "reader", p->id, p->pid, p->ops,
			wchan, p->doing);
	}
}

static void setup_file(void)
{
	static unsigned char zero[SLOT_STRIDE];
	unsigned char b[8];
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die(file);
	for (int j = 0; j < NSLOTS; j++) {
		unsigned char rec[SLOT_STRIDE];

		memcpy(rec, zero, sizeof(rec));
		encode(rec, 0, j);
		if (pwrite(fd, rec, SLOT_STRIDE, slot_off(j)) != SLOT_STRIDE)
			die("writing the initial slots");
	}
	if (ftruncate(fd, FILE_SIZE) < 0)
		die("ftruncate");
	close(fd);
	/* Every alias is there and sees the initial values. */
	snprintf(path_rw, sizeof(path_rw), "%s@@/rw", file);
	snprintf(path_ro, sizeof(path_ro), "%s@@/ro", file);
	for (int w = 0; w < NWIN; w++) {
		snprintf(win_path[0][w], sizeof(win_path[0][w]), "%s@@/rw:%s",
			 file, windows[w].spec);
		snprintf(win_path[1][w], sizeof(win_path[1][w]), "%s@@/ro:%s",
			 file, windows[w].spec);
	}
	fd = open(path_ro, O_RDONLY);
	if (fd < 0)
		die(path_ro);
	for (int j = 0; j < NSLOTS; j++)
		if (pread(fd, b, 8, slot_off(j)) != 8 || decode(b, j) != 0) {
			fprintf(stderr, "mf-stress: slot %d does not read back "
				"through %s after setup\n", j, path_ro);
			exit(2);
		}
	close(fd);
}

/* After the run, nothing in flight: every alias shows every ack. */
static int final_check(void)
{
	static unsigned char buf[FILE_SIZE];
	const char *names[3] = { file, path_ro, "the file's mapping" };
	int bad = 0;

	for (int a = 0; a < (map ? 3 : 2); a++) {
		if (a < 2) {
			int fd = open(names[a], O_RDONLY);
			off_t done = 0;

			if (fd < 0)
				die(names[a]);
			while (done < FILE_SIZE) {
				ssize_t n = pread(fd, buf + done, FILE_SIZE - done, done);

				if (n <= 0) {
					fprintf(stderr, "mf-stress: final read of %s: %s\n",
						names[a], n < 0 ? strerror(errno) : "short");
					return 1;
				}
				done += n;
			}
			close(fd);
		} else {
			memcpy(buf, map, FILE_SIZE);
		}
		for (int j = 0; j < NSLOTS && bad < 10; j++) {
			int64_t v = decode(buf + slot_off(j), j);

			if (v != (int64_t)sh->ack[j]) {
				fprintf(stderr, "mf-stress: at the end, slot %d reads "
					"%lld through %s, but %u was its last "
					"acknowledged value (written through: %s)\n",
					j, (long long)v, names[a], sh->ack[j],
					kind_name[sh->ack_kind[j]]);
				bad++;
			}
		}
	}
	return bad ? 1 : 0;
}

static void summary(int nproc, double secs)
{
	uint64_t by_kind[NKINDS] = { 0 }, checked = 0, torn = 0, stale = 0,
		 errors = 0, max_ns = 0;

	for (int i = 0; i < nproc; i++) {
		struct proc *p = &sh->proc[i];

		for (int k = 0; k < NKINDS; k++)
			by_kind[k] += p->kind_ops[k];
		checked += p->slots_checked;
		torn += p->torn;
		stale += p->stale;
		errors += p->errors;
		if (p->max_op_ns > max_ns)
			max_ns = p->max_op_ns;
	}
	printf("mf-stress summary (%.1f s, %d processes):\n", secs, nproc);
	for (int k = 0; k < NKINDS; k++)
		printf("  %-40s %10" PRIu64 "\n", kind_name[k], by_kind[k]);
	printf("  slots checked %" PRIu64 ", torn (raced a write, not judged) %"
	       PRIu64 ", stale %" PRIu64 ", I/O errors %" PRIu64
	       ", slowest operation %.1f ms\n", checked, torn, stale, errors,
	       (double)max_ns / 1e6);
}

int main(int argc, char **argv)
{
	int nw = 4, nr = 4, nproc, rc = 0;
	double secs, hang_s = 10;
	uint64_t start, deadline, last_ops[MAXPROC], last_change[MAXPROC];
	bool hung = false;
	const char *hang_mark = NULL;

	if (argc < 3 || argc > 7) {
		fprintf(stderr, "usage: mf-stress FILE SECONDS [WRITERS [READERS "
			"[HANG_SECONDS [HANG_MARK]]]]\n");
		return 2;
	}
	file = argv[1];
	secs = atof(argv[2]);
	if (argc > 3)
		nw = atoi(argv[3]);
	if (argc > 4)
		nr = atoi(argv[4]);
	if (argc > 5)
		hang_s = atof(argv[5]);
	if (argc > 6)
		hang_mark = argv[6];
	nproc = nw + nr;
	if (secs <= 0 || nw < 1 || nr < 1 || nproc > MAXPROC || hang_s <= 0) {
		fprintf(stderr, "mf-stress: bad arguments\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap of the shared region");
	closed_file = getenv("MF_STRESS_CLOSED") &&
		      strcmp(getenv("MF_STRESS_CLOSED"), "1") == 0;
	setup_file();
	if (!closed_file) {
		int fd = open(file, O_RDONLY);

		if (fd < 0)
			die(file);
		map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			die("mmap(MAP_SHARED) of the file");
		close(fd);
	}

	start = now_ns();
	deadline = start + (uint64_t)(secs * 1e9);
	for (int i = 0; i < nproc; i++) {
		struct proc *p = &sh->proc[i];
		pid_t pid;

		p->id = i < nw ? i : i - nw;
		p->writer = i < nw;
		strcpy(p->doing, "starting");
		pid = fork();
		if (pid < 0) {
			perror("mf-stress: fork");
			for (int k = 0; k < i; k++)
				kill(sh->proc[k].pid, SIGKILL);
			return 2;
		}
		if (pid == 0) {
			me = p;
			rng_state = 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 20) ^ now_ns();
			if (p->writer)
				writer(p->id, nw, deadline);
			else
				reader(p->id, deadline);
			__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
			_exit(0);
		}
		p->pid = pid;
		last_ops[i] = 0;
		last_change[i] = now_ns();
	}

	/* The watchdog. */
	for (int alive = nproc; alive > 0;) {
		uint64_t t = now_ns();
		int st;
		pid_t pid;

		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			alive--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				for (int i = 0; i < nproc; i++)
					if (sh->proc[i].pid == pid)
						fprintf(stderr, "mf-stress: %s %d (pid %d) "
							"ended with %s %d while: %s\n",
							sh->proc[i].writer ? "writer" : "reader",
							sh->proc[i].id, pid,
							WIFEXITED(st) ? "status" : "signal",
							WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
							sh->proc[i].doing);
				sh->failed = 1;
			}
		}
		if (alive == 0)
			break;
		for (int i = 0; i < nproc; i++) {
			uint64_t ops = __atomic_load_n(&sh->proc[i].ops, __ATOMIC_ACQUIRE);

			if (__atomic_load_n(&sh->proc[i].done, __ATOMIC_ACQUIRE))
				continue;
			if (ops != last_ops[i]) {
				last_ops[i] = ops;
				last_change[i] = t;
			} else if (!hung &&
				   t - last_change[i] > (uint64_t)(hang_s * 1e9)) {
				hung = true;
				fprintf(stderr, "mf-stress: HANG: %s %d (pid %d) "
					"completed no operation for %.0f s, in: %s\n",
					sh->proc[i].writer ? "writer" : "reader",
					sh->proc[i].id, sh->proc[i].pid, hang_s,
					sh->proc[i].doing);
			}
		}
		if (hung) {
			fprintf(stderr, "mf-stress: every process:\n");
			print_doing();
			break;
		}
		if (t >= deadline)
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
		usleep(100000);
	}
	if (hung) {
		/* Kill our children (by pid); those stuck in a request the
		 * daemon never answers go when the mount goes. */
		for (int i = 0; i < nproc; i++)
			if (!sh->proc[i].done)
				kill(sh->proc[i].pid, SIGKILL);
		if (hang_mark) {
			int fd = open(hang_mark, O_WRONLY | O_CREAT, 0644);

			if (fd >= 0)
				close(fd);
		}
		for (int tries = 0; tries < (hang_mark ? 1200 : 50); tries++) {
			if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
				break;
			usleep(100000);
		}
		summary(nproc, (double)(now_ns() - start) / 1e9);
		return 3;
	}
	summary(nproc, (double)(now_ns() - start) / 1e9);
	if (sh->failed)
		rc = 1;
	if (final_check() != 0)
		rc = 1;
	return rc;
}
