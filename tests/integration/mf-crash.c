/*
 * mf-crash — the system calls of the snapshot, private-view and crash tests
 * that the shell tools cannot make.
 *
 *   cfr SRC SOFF DST DOFF LEN
 *       copy_file_range(2) LEN bytes of SRC at SOFF into DST at DOFF (DST is
 *       not truncated).  Prints the bytes copied, or the errno name.
 *
 *   rewrite FILE SEED N
 *       N pwrite(2)s of 4096 random bytes at random page-aligned offsets
 *       inside FILE (pages may repeat).  Prints the number of distinct pages
 *       written, or the errno name of the first failure.
 *
 *   storm ROOT MODELDIR SEED READY
 *       The write storm of the crash test, on the files a, b and c under
 *       ROOT (a mapfs mount) and the private views a@@/cow/v and b@@/cow/v,
 *       which must exist.  The storm runs in phases.  In a phase, writer
 *       threads each make a few operations on a region only they write:
 *
 *         a  pages [0,160)   and [160,320)  two threads, through a
 *         a  pages [320,448) one thread, through a@@/cow/v (private pages;
 *                            nobody writes these pages of a itself)
 *         b  pages [0,256)   one thread, through b
 *         b  pages [256,512) one thread, through b@@/cow/v
 *         c  anywhere        one thread: writes (some extend c) and
 *                            ftruncate to random sizes
 *
 *       Every operation is recorded in the model once it returned; until
 *       then it is "in flight".  Between phases, with no write in flight,
 *       the main thread takes a snapshot of each file (open O_CREAT|O_EXCL
 *       of F@@/snap/NAME) and records the model's bytes as the snapshot's;
 *       beyond MAX_SNAPS live snapshots of a file it deletes one (rm) chosen
 *       at random, so deletions in the middle of the chain happen too.
 *       READY is created once the first two phases are done.  The storm
 *       goes on until the daemon dies (every operation then fails with
 *       ENOTCONN or ECONNABORTED) or 30 s pass.  Any other error is a
 *       failure of the daemon (exit 1) if it came before the kill, whose
 *       time (CLOCK_REALTIME in ns) the caller writes to READY.killed just
 *       before killing; after it, the operation counts as in flight.  Then
 *       the model is written to MODELDIR (see write_model) and a summary
 *       printed.
 *
 *   check ROOT MODELDIR [files]
 *       Compare ROOT with the model: every file holds every acknowledged
 *       write (each byte of an operation still in flight at the crash may
 *       be old or new, and c's size the one before or after it); with
 *       "files" that is all (ROOT may be the backing directory).  Otherwise
 *       also: every private view holds what was acknowledged to it on its
 *       private pages and the file's bytes on all others, and has the
 *       file's size; every acknowledged snapshot exists, reads back exactly
 *       its model (size and bytes) and says user.mapfs.state=intact; a
 *       snapshot whose creation or deletion was in flight may exist or
 *       not, and if it exists it is exact; a deleted one is gone; no other
 *       snapshot exists.  Prints "OK ..." and exits 0, or prints what
 *       differs and exits 1.
 *
 * Exit status 2: a usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define MAX_SNAPS 6
#define MAX_FILE (4u << 20) /* c never grows past this */

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of mf-crash.c\n");
	return 2;
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mf-crash: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "errno?";
}

/* xorshift64*: the same sequence for the same seed everywhere. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t seed_of(uint64_t seed, uint64_t salt)
{
	uint64_t s = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (salt + 1) * 0xBF58476D1CE4E5B9ULL;

	return s ? s : 1;
}

static void fill(uint64_t *s, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(rnd(s) >> 56);
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------ cfr, rewrite */

static int cmd_cfr(int argc, char **argv)
{
	loff_t soff, doff;
	long long total = 0;
	size_t left;
	int in, out;

	if (argc != 5)
		return usage();
	soff = strtoll(argv[1], NULL, 0);
	doff = strtoll(argv[3], NULL, 0);
	left = strtoull(argv[4], NULL, 0);
	in = open(argv[0], O_RDONLY);
	if (in < 0)
		die("%s: %s", argv[0], strerror(errno));
	out = open(argv[2], O_WRONLY);
	if (out < 0)
		die("%s: %s", argv[2], strerror(errno));
	while (left) {
		ssize_t n = copy_file_range(in, &soff, out, &doff, left, 0);

		if (n < 0) {
			printf("%s\n", ename(errno));
			return 0;
		}
		if (n == 0)
			break;
		total += n;
		left -= (size_t)n;
	}
	if (close(out) < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	close(in);
	printf("%lld\n", total);
	return 0;
}

static int cmd_rewrite(int argc, char **argv)
{
	unsigned char buf[PAGE];
	uint64_t s, npages, distinct = 0;
	unsigned char *seen;
	struct stat st;
	long n;
	int fd;

	if (argc != 3)
		return usage();
	s = seed_of(strtoull(argv[1], NULL, 0), 7);
	n = strtol(argv[2], NULL, 0);
	fd = open(argv[0], O_RDWR);
	if (fd < 0)
		die("%s: %s", argv[0], strerror(errno));
	if (fstat(fd, &st) < 0)
		die("fstat: %s", strerror(errno));
	npages = (uint64_t)st.st_size / PAGE;
	if (!npages)
		die("%s is smaller than a page", argv[0]);
	seen = xmalloc(npages);
	for (long i = 0; i < n; i++) {
		uint64_t p = rnd(&s) % npages;

		fill(&s, buf, PAGE);
		if (pwrite(fd, buf, PAGE, (off_t)(p * PAGE)) != PAGE) {
			printf("%s\n", ename(errno));
			return 0;
		}
		if (!seen[p]) {
			seen[p] = 1;
			distinct++;
		}
	}
	if (close(fd) < 0) {
		printf("%s\n", ename(errno));
		return 0;
	}
	printf("%" PRIu64 "\n", distinct);
	return 0;
}

/* ------------------------------------------------------------------ model */

/* Bytes and size: a file, a snapshot, a private view's region. */
typedef struct {
	unsigned char *buf; /* MAX_FILE bytes */
	size_t size;
} Image;

static void image_init(Image *im, size_t size)
{
	im->buf = xmalloc(MAX_FILE);
	im->size = size;
}

static void image_copy(Image *to, const Image *from)
{
	image_init(to, from->size);
	memcpy(to->buf, from->buf, from->size);
}

enum { NFILES = 3, NVIEWS = 2 };
static const char *const file_names[NFILES] = { "a", "b", "c" };
static const size_t file_sizes[NFILES] = { 2u << 20, 2u << 20, 1u << 20 };

typedef struct {
	Image old;          /* acknowledged */
	Image new;          /* with the operations in flight applied */
	pthread_mutex_t lock;
} Model;

static Model files[NFILES];
static Model views[NVIEWS]; /* private views: a@@/cow/v, b@@/cow/v */
static const int view_file[NVIEWS] = { 0, 1 };

enum SnapState { S_MAYBE, S_ACKED, S_DELETING, S_GONE };
static const char *const snap_state_names[] = { "maybe", "acked", "maybe", "gone" };

typedef struct {
	int file;
	char name[32];
	enum SnapState state;
	Image img;
} Snap;

static Snap *snaps;
static size_t nsnaps, snaps_cap;

/* ------------------------------------------------------------------ storm */

static const char *root;
static volatile int stop;       /* the daemon is gone (or time is up) */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Errors other than the dead connection's: an error the daemon gave while
 * it lived is a failure; the kill may also cut a request short with another
 * errno (a write into a partial page needs a read first: EIO), so those
 * are judged against the moment of the kill once it is known. */
#define MAX_ODD 16
static struct {
	char text[600];
	long long when;         /* CLOCK_REALTIME, ns */
} odd[MAX_ODD];
static int nodd;

static bool gone_errno(int e)
{
	return e == ENOTCONN || e == ECONNABORTED;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* An operation failed: the daemon died (the storm ends), or a bug. */
static void op_failed(const char *what, const char *path, int e)
{
	long long when = now_ns();

	pthread_mutex_lock(&report_lock);
	if (!gone_errno(e) && nodd < MAX_ODD) {
		snprintf(odd[nodd].text, sizeof(odd[nodd].text), "%s %s: %s (%s)",
			 what, path, strerror(e), ename(e));
		odd[nodd++].when = when;
	}
	stop = 1;
	pthread_mutex_unlock(&report_lock);
}

/* READY.killed holds the kill's CLOCK_REALTIME in ns, written just before
 * the kill.  Returns how many errors came before it (failures). */
static int judge_odd(const char *ready)
{
	char path[4096];
	long long killed = -1;
	int bad = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s.killed", ready);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &killed) != 1)
			killed = -1;
		fclose(f);
	}
	for (int i = 0; i < nodd; i++) {
		bool before = killed < 0 || odd[i].when < killed;

		fprintf(stderr, "mf-crash storm: %s, %s\n", odd[i].text,
			before ? "while the daemon lived" : "after the kill (in flight)");
		bad += before;
	}
	return bad;
}

typedef struct {
	const char *path;   /* relative to root */
	Model *m;
	uint64_t lo, hi;    /* the region it writes: bytes */
	bool truncates;     /* c's writer */
	uint64_t seed;
	long ops_left;
	long ops_done;
	int fd;
} Writer;

static void *writer_main(void *arg)
{
	Writer *w = arg;
	unsigned char *data = xmalloc(3 * PAGE + 1);

	while (w->ops_left > 0 && !stop) {
		Model *m = w->m;
		uint64_t r = rnd(&w->seed) % 100;
		int e = 0;

		w->ops_left--;
		if (w->truncates && r < 15) {
			size_t size = (size_t)(rnd(&w->seed) % (3u << 20));

			pthread_mutex_lock(&m->lock);
			if (size > m->new.size)
				memset(m->new.buf + m->new.size, 0, size - m->new.size);
			m->new.size = size;
			pthread_mutex_unlock(&m->lock);
			if (ftruncate(w->fd, (off_t)size) < 0)
				e = errno;
		} else {
			uint64_t hi = w->hi, off;
			size_t len = 1 + (size_t)(rnd(&w->seed) % (3 * PAGE));

			if (w->truncates) {
				/* Anywhere in c, sometimes past its end. */
				pthread_mutex_lock(&m->lock);
				hi = m->new.size + 65536;
				pthread_mutex_unlock(&m->lock);
				if (hi > MAX_FILE - PAGE)
					hi = MAX_FILE - PAGE;
			}
			if (len > hi - w->lo)
				len = (size_t)(hi - w->lo);
			off = w->lo + rnd(&w->seed) % (hi - w->lo - len + 1);
			fill(&w->seed, data, len);
			pthread_mutex_lock(&m->lock);
			if (off > m->new.size)
				memset(m->new.buf + m->new.size, 0, off - m->new.size);
			memcpy(m->new.buf + off, data, len);
			if (off + len > m->new.size)
				m->new.size = off + len;
			pthread_mutex_unlock(&m->lock);
			ssize_t n = pwrite(w->fd, data, len, (off_t)off);
			if (n < 0)
				e = errno;
			else if ((size_t)n != len)
				e = EIO;
		}
		if (e) {
			/* In flight for ever: the model keeps old and new. */
			op_failed(w->truncates && r < 15 ? "ftruncate" : "pwrite",
				  w->path, e);
			break;
		}
		/* Acknowledged: old catches up with new on this region. */
		pthread_mutex_lock(&m->lock);
		if (w->truncates) {
			memcpy(m->old.buf, m->new.buf, m->new.size);
			m->old.size = m->new.size;
		} else {
			memcpy(m->old.buf + w->lo, m->new.buf + w->lo, w->hi - w->lo);
		}
		pthread_mutex_unlock(&m->lock);
		w->ops_done++;
	}
	free(data);
	return NULL;
}

static char *path_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_of(const char *fmt, ...)
{
	char rel[512], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (asprintf(&p, "%s/%s", root, rel) < 0)
		die("out of memory");
	return p;
}

static Snap *snap_new(int file, const char *name)
{
	if (nsnaps == snaps_cap) {
		snaps_cap = snaps_cap ? 2 * snaps_cap : 64;
		snaps = realloc(snaps, snaps_cap * sizeof(*snaps));
		if (!snaps)
			die("out of memory");
	}
	Snap *s = &snaps[nsnaps++];
	memset(s, 0, sizeof(*s));
	s->file = file;
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

static long snaps_taken, snaps_deleted;

/* Between phases: no write in flight, so the model is the file. */
static void take_snapshot(int f, int phase)
{
	char name[32];
	Snap *s;
	char *p;
	int fd;

	snprintf(name, sizeof(name), "p%03d", phase);
	s = snap_new(f, name);
	s->state = S_MAYBE;
	image_copy(&s->img, &files[f].old);
	p = path_of("%s@@/snap/%s", file_names[f], name);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0 || close(fd) < 0) {
		op_failed("snapshot create", p, errno);
	} else {
		s->state = S_ACKED;
		snaps_taken++;
	}
	free(p);
}

static void delete_snapshot(int f, uint64_t *seed)
{
	size_t live = 0, pick, k = 0;
	char *p;

	for (size_t i = 0; i < nsnaps; i++)
		live += snaps[i].file == f && snaps[i].state == S_ACKED;
	if (live <= MAX_SNAPS)
		return;
	pick = (size_t)(rnd(seed) % live);
	for (size_t i = 0; i < nsnaps; i++) {
		Snap *s = &snaps[i];

		if (s->file != f || s->state != S_ACKED || k++ != pick)
			continue;
		s->state = S_DELETING;
		p = path_of("%s@@/snap/%s", file_names[f], s->name);
		if (unlink(p) < 0) {
			op_failed("snapshot delete", p, errno);
		} else {
			s->state = S_GONE;
			free(s->img.buf);
			s->img.buf = NULL;
			snaps_deleted++;
		}
		free(p);
		return;
	}
}

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (len && write(fd, buf, len) != (ssize_t)len)
		die("%s: short write", path);
	close(fd);
	return 0;
}

/*
 * MODELDIR/F.old, F.new        file F: acknowledged / with in-flight ops
 * MODELDIR/view-F.old, .new    F@@/cow/v: its region's bytes (the rest of
 *                              the files is the file's size of anything)
 * MODELDIR/views               lines "F LO HI": the view's private region
 * MODELDIR/snaps               lines "F NAME acked|maybe|gone"
 * MODELDIR/snap-F-NAME         a snapshot's bytes
 */
static void write_model(const char *dir, const Writer *ws, int nw)
{
	FILE *list;
	char path[4096], name[128];

	for (int f = 0; f < NFILES; f++) {
		snprintf(name, sizeof(name), "%s.old", file_names[f]);
		write_file(dir, name, files[f].old.buf, files[f].old.size);
		snprintf(name, sizeof(name), "%s.new", file_names[f]);
		write_file(dir, name, files[f].new.buf, files[f].new.size);
	}
	snprintf(path, sizeof(path), "%s/views", dir);
	list = fopen(path, "w");
	if (!list)
		die("%s: %s", path, strerror(errno));
	for (int v = 0; v < NVIEWS; v++) {
		const char *fn = file_names[view_file[v]];
		uint64_t lo = 0, hi = 0;

		for (int i = 0; i < nw; i++)
			if (ws[i].m == &views[v]) {
				lo = ws[i].lo;
				hi = ws[i].hi;
			}
		fprintf(list, "%s %" PRIu64 " %" PRIu64 "\n", fn, lo, hi);
		snprintf(name, sizeof(name), "view-%s.old", fn);
		write_file(dir, name, views[v].old.buf, views[v].old.size);
		snprintf(name, sizeof(name), "view-%s.new", fn);
		write_file(dir, name, views[v].new.buf, views[v].new.size);
	}
	fclose(list);
	snprintf(path, sizeof(path), "%s/snaps", dir);
	list = fopen(path, "w");
	if (!list)
		die("%s: %s", path, strerror(errno));
	for (size_t i = 0; i < nsnaps; i++) {
		Snap *s = &snaps[i];

		fprintf(list, "%s %s %s\n", file_names[s->file], s->name,
			snap_state_names[s->state]);
		if (s->img.buf) {
			snprintf(name, sizeof(name), "snap-%s-%s",
				 file_names[s->file], s->name);
			write_file(dir, name, s->img.buf, s->img.size);
		}
	}
	fclose(list);
}

static int read_whole(const char *path, Image *im, int *err)
{
	int fd = open(path, O_RDONLY);
	size_t done = 0;

	*err = 0;
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	image_init(im, 0);
	for (;;) {
		ssize_t n = read(fd, im->buf + done, MAX_FILE - done);

		if (n < 0) {
			*err = errno;
			close(fd);
			free(im->buf);
			im->buf = NULL;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
		if (done == MAX_FILE)
			die("%s: larger than %u bytes", path, MAX_FILE);
	}
	close(fd);
	im->size = done;
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmd_storm(int argc, char **argv)
{
	uint64_t seed, ms;
	const char *modeldir, *ready;
	Writer ws[6];
	int nw = 0, phase;
	long ops = 0;
	double start;
	bool said_ready = false;

	if (argc != 4)
		return usage();
	root = argv[0];
	modeldir = argv[1];
	seed = strtoull(argv[2], NULL, 0);
	ready = argv[3];
	ms = seed_of(seed, 1000);

	/* The models start as the files are now (read through the mount). */
	for (int f = 0; f < NFILES; f++) {
		char *p = path_of("%s", file_names[f]);
		int e;

		if (read_whole(p, &files[f].old, &e) < 0)
			die("%s: %s", p, strerror(e));
		if (files[f].old.size != file_sizes[f])
			die("%s: %zu bytes, expected %zu", p, files[f].old.size,
			    file_sizes[f]);
		image_copy(&files[f].new, &files[f].old);
		pthread_mutex_init(&files[f].lock, NULL);
		free(p);
	}
	for (int v = 0; v < NVIEWS; v++) {
		char *p = path_of("%s@@/cow/v", file_names[view_file[v]]);
		int e;

		/* Fresh: no private pages, so it reads as its file. */
		if (read_whole(p, &views[v].old, &e) < 0)
			die("%s: %s", p, strerror(e));
		if (memcmp(views[v].old.buf, files[view_file[v]].old.buf,
			   files[view_file[v]].old.size) != 0)
			die("%s does not read as its file before the storm", p);
		image_copy(&views[v].new, &views[v].old);
		pthread_mutex_init(&views[v].lock, NULL);
		free(p);
	}

#define W(P, M, LO, HI, T)                                                  \
	ws[nw] = (Writer){ .path = (P), .m = (M), .lo = (uint64_t)(LO) * PAGE, \
			   .hi = (uint64_t)(HI) * PAGE, .truncates = (T),        \
			   .seed = seed_of(seed, (uint64_t)nw) };                  \
	nw++
	W("a", &files[0], 0, 160, false);
	W("a", &files[0], 160, 320, false);
	W("a@@/cow/v", &views[0], 320, 448, false);
	W("b", &files[1], 0, 256, false);
	W("b@@/cow/v", &views[1], 256, 512, false);
	W("c", &files[2], 0, 0, true);
#undef W
	for (int i = 0; i < nw; i++) {
		char *p = path_of("%s", ws[i].path);

		ws[i].fd = open(p, O_RDWR);
		if (ws[i].fd < 0)
			die("%s: %s", p, strerror(errno));
		free(p);
	}

	start = now_s();
	for (phase = 0; !stop; phase++) {
		pthread_t th[6];

		for (int f = 0; f < NFILES && !stop; f++) {
			take_snapshot(f, phase);
			if (!stop)
				delete_snapshot(f, &ms);
		}
		if (stop)
			break;
		for (int i = 0; i < nw; i++) {
			ws[i].ops_left = 5 + (long)(rnd(&ms) % 40);
			if (pthread_create(&th[i], NULL, writer_main, &ws[i]))
				die("pthread_create");
		}
		for (int i = 0; i < nw; i++)
			pthread_join(th[i], NULL);
		if (phase == 1 && !stop) {
			int fd = open(ready, O_WRONLY | O_CREAT, 0644);

			if (fd < 0)
				die("%s: %s", ready, strerror(errno));
			close(fd);
			said_ready = true;
		}
		if (now_s() - start > 30) {
			fprintf(stderr, "mf-crash storm: 30 s and the daemon still lives\n");
			stop = 1;
		}
	}
	for (int i = 0; i < nw; i++) {
		ops += ws[i].ops_done;
		close(ws[i].fd);
	}
	write_model(modeldir, ws, nw);
	printf("storm: %d phases, %ld writes acknowledged, %ld snapshots taken, "
	       "%ld deleted, %.2f s%s\n", phase, ops, snaps_taken, snaps_deleted,
	       now_s() - start, said_ready ? "" : " (never ready)");
	return judge_odd(ready) ? 1 : 0;
}

/* ------------------------------------------------------------------ check */

static int problems;

static __attribute__((format(printf, 1, 2))) void bad(const char *fmt, ...)
{
	va_list ap;

	if (++problems > 20)
		return;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void load(const char *dir, const char *name, Image *im)
{
	char path[4096];
	int e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (read_whole(path, im, &e) < 0)
		die("%s: %s", path, strerror(e));
}

static unsigned char at(const Image *im, size_t i)
{
	return i < im->size ? im->buf[i] : 0;
}

/* Every byte of got in [lo, hi) is old's or new's; returns the first
 * offending offset or -1. */
static long long either(const Image *got, const Image *old, const Image *new,
			size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		unsigned char g = at(got, i);

		if (g != at(old, i) && g != at(new, i))
			return (long long)i;
	}
	return -1;
}

static void check_file(const char *dir, int f, Image *got)
{
	char name[64], *p = path_of("%s", file_names[f]);
	Image old, new;
	long long i;
	int e;

	snprintf(name, sizeof(name), "%s.old", file_names[f]);
	load(dir, name, &old);
	snprintf(name, sizeof(name), "%s.new", file_names[f]);
	load(dir, name, &new);
	if (read_whole(p, got, &e) < 0)
		die("%s: %s", p, strerror(e));
	if (got->size != old.size && got->size != new.size)
		bad("%s: %zu bytes; acknowledged %zu (%zu with the operation in flight)",
		    p, got->size, old.size, new.size);
	else if ((i = either(got, &old, &new, 0, got->size)) >= 0)
		bad("%s: byte %lld is 0x%02x; acknowledged 0x%02x (0x%02x with the "
		    "operations in flight): an acknowledged write is lost",
		    p, i, at(got, (size_t)i), at(&old, (size_t)i), at(&new, (size_t)i));
	free(old.buf);
	free(new.buf);
	free(p);
}

static void check_view(const char *dir, const char *fn, uint64_t lo, uint64_t hi,
		       const Image *file)
{
	char name[128], *p = path_of("%s@@/cow/v", fn);
	Image old, new, got;
	long long i;
	int e;

	snprintf(name, sizeof(name), "view-%s.old", fn);
	load(dir, name, &old);
	snprintf(name, sizeof(name), "view-%s.new", fn);
	load(dir, name, &new);
	if (read_whole(p, &got, &e) < 0) {
		bad("%s: %s: the private view is lost", p, strerror(e));
		goto out;
	}
	if (got.size != file->size)
		bad("%s: %zu bytes, its file %zu", p, got.size, file->size);
	else if ((i = either(&got, &old, &new, lo, hi)) >= 0)
		bad("%s: private byte %lld is 0x%02x; acknowledged 0x%02x (0x%02x "
		    "with the write in flight)", p, i, at(&got, (size_t)i),
		    at(&old, (size_t)i), at(&new, (size_t)i));
	else if (memcmp(got.buf, file->buf, lo) != 0 ||
		 memcmp(got.buf + hi, file->buf + hi, got.size - hi) != 0)
		bad("%s: pages never written through the view differ from the file", p);
	free(got.buf);
out:
	free(old.buf);
	free(new.buf);
	free(p);
}

static void check_snaps(const char *dir, int *acked, int *maybe_there)
{
	char path[4096], f[64], name[64], state[16];
	FILE *list;

	snprintf(path, sizeof(path), "%s/snaps", dir);
	list = fopen(path, "r");
	if (!list)
		die("%s: %s", path, strerror(errno));
	while (fscanf(list, "%63s %63s %15s", f, name, state) == 3) {
		char *p = path_of("%s@@/snap/%s", f, name), mname[200], xv[64];
		Image model, got;
		ssize_t xn;
		int e;

		if (read_whole(p, &got, &e) < 0) {
			if (e != ENOENT)
				bad("%s: %s", p, strerror(e));
			else if (strcmp(state, "acked") == 0)
				bad("%s: acknowledged snapshot lost (%s)", p, strerror(e));
			free(p);
			continue;
		}
		if (strcmp(state, "gone") == 0) {
			bad("%s: deleted (rm returned), but it is back", p);
			free(got.buf);
			free(p);
			continue;
		}
		*acked += strcmp(state, "acked") == 0;
		*maybe_there += strcmp(state, "maybe") == 0;
		snprintf(mname, sizeof(mname), "snap-%s-%s", f, name);
		load(dir, mname, &model);
		if (got.size != model.size)
			bad("%s: %zu bytes, taken at %zu", p, got.size, model.size);
		else if (memcmp(got.buf, model.buf, got.size) != 0) {
			size_t i = 0;

			while (got.buf[i] == model.buf[i])
				i++;
			bad("%s: byte %zu is 0x%02x, was 0x%02x when taken", p, i,
			    got.buf[i], model.buf[i]);
		}
		xn = getxattr(p, "user.mapfs.state", xv, sizeof(xv) - 1);
		if (xn < 0)
			bad("%s: user.mapfs.state: %s", p, strerror(errno));
		else if ((xv[xn] = '\0', strcmp(xv, "intact") != 0))
			bad("%s: user.mapfs.state is '%s'", p, xv);
		free(model.buf);
		free(got.buf);
		free(p);
	}
	fclose(list);

	/* Nothing the storm did not make, and nothing deleted, is listed. */
	for (int i = 0; i < NFILES; i++) {
		char *p = path_of("%s@@/snap", file_names[i]);
		DIR *d = opendir(p);
		struct dirent *de;

		if (!d) {
			bad("%s: %s", p, strerror(errno));
			free(p);
			continue;
		}
		while ((de = readdir(d))) {
			char want[300], line[400];
			bool known = false;

			if (de->d_name[0] == '.')
				continue;
			snprintf(want, sizeof(want), "%s %s ", file_names[i], de->d_name);
			list = fopen(path, "r");
			while (fgets(line, sizeof(line), list))
				if (strncmp(line, want, strlen(want)) == 0 &&
				    !strstr(line, " gone"))
					known = true;
			fclose(list);
			if (!known)
				bad("%s lists %s, which is not a live snapshot", p, de->d_name);
		}
		closedir(d);
		free(p);
	}
}

static int cmd_check(int argc, char **argv)
{
	const char *dir;
	bool files_only;
	Image got[NFILES];
	int acked = 0, maybe_there = 0;

	if (argc != 2 && argc != 3)
		return usage();
	root = argv[0];
	dir = argv[1];
	files_only = argc == 3 && strcmp(argv[2], "files") == 0;
	for (int f = 0; f < NFILES; f++)
		check_file(dir, f, &got[f]);
	if (!files_only) {
		char path[4096], fn[64];
		uint64_t lo, hi;
		FILE *list;

		snprintf(path, sizeof(path), "%s/views", dir);
		list = fopen(path, "r");
		if (!list)
			die("%s: %s", path, strerror(errno));
		while (fscanf(list, "%63s %" SCNu64 " %" SCNu64, fn, &lo, &hi) == 3) {
			int f = 0;

			while (f < NFILES && strcmp(file_names[f], fn) != 0)
				f++;
			if (f == NFILES)
				die("views: unknown file %s", fn);
			check_view(dir, fn, lo, hi, &got[f]);
		}
		fclose(list);
		check_snaps(dir, &acked, &maybe_there);
	}
	for (int f = 0; f < NFILES; f++)
		free(got[f].buf);
	if (problems) {
		if (problems > 20)
			printf("... %d problems in all\n", problems);
		return 1;
	}
	if (files_only)
		printf("OK: %d files hold every acknowledged write\n", NFILES);
	else
		printf("OK: %d files, %d private views, %d acknowledged snapshots "
		       "(+%d whose creation or deletion was in flight) as the model says\n",
		       NFILES, NVIEWS, acked, maybe_there);
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
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "cfr") == 0)
		return cmd_cfr(argc, argv);
	if (strcmp(cmd, "rewrite") == 0)
		return cmd_rewrite(argc, argv);
	if (strcmp(cmd, "storm") == 0)
		return cmd_storm(argc, argv);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc, argv);
	return usage();
}
