/* test-state: snapshots and private (cow) views of one file
 * (core/mf-state.c), on a real backing file served through the window
 * cache. Every test keeps a model of the live file and of each snapshot
 * as it was when taken, and checks the engine's bytes against it.
 *
 * Built twice (meson.build): plainly, and with -DUNIT_WRAP_IO and the
 * store's writes wrapped (unit.h), where only the fault tests run.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-backing.h"
#include "mf-guard.h"
#include "mf-state.h"
#include "mf-store.h"

#define P ((uint64_t)MF_PAGE)
#define WS ((size_t)64 * 1024)
#define N0 (20 * P + 100)       /* the file's size at the start: 21 pages */
#define MAXSZ (64 * P)          /* the models' capacity */
#define MAXPAGES (MAXSZ / P)

/* A file's bytes; zeros past size, always. */
typedef struct Model {
	uint8_t *b;
	uint64_t size;
} Model;

/* A private view: the pages it holds, the others follow the live file. */
typedef struct CowModel {
	bool held[MAXPAGES];
	uint8_t *pages;         /* MAXSZ, page p at p * P */
} CowModel;

typedef struct Fix {
	char *dir;
	char *path;             /* the file */
	int statefd;            /* dir/state, the state directory */
	int ext;                /* the test's own fd of the file */
	uint64_t ino;
	char *key;              /* its state's name under files/ */
	MfWindowCache *cache;
	MfBacking *b;
	MfStateDir *sd;
	MfState *st;
	Model live;
} Fix;

static void open_all(Fix *f, bool create)
{
	int fd = open(f->path, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &f->b), 0);
	assert_int_equal(mf_statedir_open(f->statefd, false, &f->sd), 0);
	assert_int_equal(mf_state_get(f->sd, f->ext, create, &f->st), 0);
	assert_non_null(f->st);
}

/* Let go of everything, as an unmount does: the state's last reference
 * goes with the backing (its change hook holds one). */
static void close_all(Fix *f)
{
	mf_state_unref(f->st);
	f->st = NULL;
	mf_backing_unref(f->b);
	f->b = NULL;
	mf_statedir_free(f->sd);
	f->sd = NULL;
}

/* A remount: everything freed, then loaded again from disk. */
G_GNUC_UNUSED static void reload(Fix *f)
{
	close_all(f);
	open_all(f, false);
	mf_state_attach(f->st, f->b);
	assert_false(mf_state_damaged(f->st));
}

/* The name the state of fd must have: INO-SEC.NSEC of its birth time
 * where the filesystem keeps one (the test's /tmp: ext4 or tmpfs). */
static char *file_key(int fd)
{
	struct statx sx;

	assert_int_equal(statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME,
			       &sx),
			 0);
	if (!(sx.stx_mask & STATX_BTIME))
		return g_strdup_printf("%llu", (unsigned long long)sx.stx_ino);
	return g_strdup_printf("%llu-%lld.%09u",
			       (unsigned long long)sx.stx_ino,
			       (long long)sx.stx_btime.tv_sec,
			       sx.stx_btime.tv_nsec);
}

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);
	g_autofree char *sdir = NULL;
	struct stat sb;
	int fd;

	f->dir = unit_tmpdir();
	sdir = g_build_filename(f->dir, "state", NULL);
	assert_int_equal(mkdir(sdir, 0700), 0);
	f->statefd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->statefd >= 0);
	fd = unit_create(f->dir, "file", N0, O_RDWR, &f->path);
	assert_int_equal(fstat(fd, &sb), 0);
	close(fd);
	f->ino = (uint64_t)sb.st_ino;
	f->ext = open(f->path, O_RDWR | O_CLOEXEC);
	assert_true(f->ext >= 0);
	f->key = file_key(f->ext);
	f->cache = mf_window_cache_new(WS, 8);
	assert_non_null(f->cache);
	f->live.b = g_malloc0(MAXSZ);
	unit_fill(f->live.b, 0, N0);
	f->live.size = N0;
	open_all(f, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

#ifdef UNIT_WRAP_IO
	unit_io_reset();
#endif
	close_all(f);
	close(f->ext);
	g_free(f->key);
	close(f->statefd);
	mf_window_cache_free(f->cache);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->live.b);
	g_free(f->path);
	g_free(f->dir);
	g_free(f);
	return 0;
}

/* ---- checking bytes --------------------------------------------------- */

#define assert_bytes(got, want, len, what) \
	check_bytes(got, want, len, what, __LINE__)
static void check_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			const char *what, int line)
{
	for (size_t i = 0; i < len; i++) {
		if (got[i] != want[i]) {
			print_error("%s: byte %zu is 0x%02x, expected 0x%02x "
				    "(of %zu)\n",
				    what, i, got[i], want[i], len);
			_fail(__FILE__, line);
		}
	}
}

/* The file on disk, read with the test's own fd, is the model. */
#define assert_file(f) check_file(f, __LINE__)
static void check_file(Fix *f, int line)
{
	uint8_t *buf = unit_alloc(f->live.size + 1);
	ssize_t n = pread(f->ext, buf, f->live.size + 1, 0);

	if (n != (ssize_t)f->live.size) {
		print_error("file: %zd bytes, expected %llu\n", n,
			    (unsigned long long)f->live.size);
		_fail(__FILE__, line);
	}
	check_bytes(buf, f->live.b, f->live.size, "file", line);
}

/* Snapshot name reads exactly m: whole, in odd chunks across pages, and
 * nothing at or past its size. */
#define assert_snap(f, name, m) check_snap(f, name, m, __LINE__)
static void check_snap(Fix *f, const char *name, const Model *m, int line)
{
	uint8_t *buf = unit_alloc(m->size + 2 * P);
	MfEntryInfo info = { 0 };
	ssize_t n;
	char what[300];

	g_snprintf(what, sizeof(what), "snapshot %s", name);
	if (mf_state_snap_info(f->st, name, &info) != 0 ||
	    info.size != m->size) {
		print_error("%s: no such snapshot or size %llu, expected "
			    "%llu\n",
			    what, (unsigned long long)info.size,
			    (unsigned long long)m->size);
		_fail(__FILE__, line);
	}
	n = mf_state_snap_read(f->st, f->b, name, 0, buf, m->size + 2 * P);
	if (n != (ssize_t)m->size) {
		print_error("%s: read %zd bytes, expected %llu\n", what, n,
			    (unsigned long long)m->size);
		_fail(__FILE__, line);
	}
	check_bytes(buf, m->b, m->size, what, line);
	for (uint64_t off = 7; off < m->size; off += 1531) {
		size_t want = (size_t)MIN((uint64_t)1531, m->size - off);

		memset(buf, 0xEE, 1531);
		n = mf_state_snap_read(f->st, f->b, name, off, buf, 1531);
		if (n != (ssize_t)want) {
			print_error("%s: read at %llu: %zd bytes, expected "
				    "%zu\n",
				    what, (unsigned long long)off, n, want);
			_fail(__FILE__, line);
		}
		check_bytes(buf, m->b + off, want, what, line);
	}
	if (mf_state_snap_read(f->st, f->b, name, m->size, buf, 10) != 0 ||
	    mf_state_snap_read(f->st, f->b, name, m->size + P, buf, 10) != 0) {
		print_error("%s: bytes past its size\n", what);
		_fail(__FILE__, line);
	}
}

static uint64_t snap_pages(Fix *f, const char *name)
{
	MfEntryInfo info;

	assert_int_equal(mf_state_snap_info(f->st, name, &info), 0);
	return info.pages;
}

static uint64_t cow_pages(Fix *f, const char *name)
{
	MfEntryInfo info;

	assert_int_equal(mf_state_cow_info(f->st, name, &info), 0);
	return info.pages;
}

/* Page counts of snapshots s1, s2, s3... in one go; -1: none such. */
#define assert_pages(f, ...) check_pages(f, (const int[]){ __VA_ARGS__ }, \
	sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int), __LINE__)
static void check_pages(Fix *f, const int *want, size_t n, int line)
{
	for (size_t i = 0; i < n; i++) {
		char name[16];
		MfEntryInfo info = { 0 };
		int r;

		g_snprintf(name, sizeof(name), "s%zu", i + 1);
		r = mf_state_snap_info(f->st, name, &info);
		if (want[i] < 0 ? r != -ENOENT :
				  r != 0 || info.pages != (uint64_t)want[i]) {
			print_error("%s: %d, %llu pages, expected %d\n", name,
				    r, r ? 0ULL : (unsigned long long)info.pages,
				    want[i]);
			_fail(__FILE__, line);
		}
	}
}

/* The list is exactly names, in that order (snapshots: oldest first). */
#define assert_list(list, ...) check_list(list, \
	(const char *const[]){ __VA_ARGS__, NULL }, false, __LINE__)
/* The list holds exactly names, in any order. */
#define assert_set(list, ...) check_list(list, \
	(const char *const[]){ __VA_ARGS__, NULL }, true, __LINE__)
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_list(char **list, const char *const *want, bool any_order,
		       int line)
{
	char *got;

	if (any_order)
		qsort(list, g_strv_length(list), sizeof(char *), cmp_str);
	got = g_strjoinv(",", list);
	char *exp = g_strjoinv(",", (char **)want);
	bool same = strcmp(got, exp) == 0;

	g_strfreev(list);
	if (!same)
		print_error("list is [%s], expected [%s]\n", got, exp);
	g_free(got);
	g_free(exp);
	if (!same)
		_fail(__FILE__, line);
}

/* Does files/INO/KIND/NAME exist in the state directory? */
G_GNUC_UNUSED static bool entry_on_disk(Fix *f, const char *kind,
					 const char *name)
{
	g_autofree char *p = g_strdup_printf("files/%s/%s/%s", f->key, kind,
					     name);
	struct stat sb;

	return fstatat(f->statefd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- changing the file ------------------------------------------------ */

/* Bytes that differ from every byte they replace. */
static uint8_t *new_bytes(const Model *m, uint64_t off, size_t len,
			  unsigned seed)
{
	uint8_t *buf = unit_alloc(len);

	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i;
		uint8_t old = pos < m->size ? m->b[pos] : unit_pattern(pos);

		buf[i] = old ^ (uint8_t)(0x11 * (seed % 15 + 1));
	}
	return buf;
}

static void model_write(Model *m, uint64_t off, const uint8_t *buf,
			size_t len)
{
	assert_true(off + len <= MAXSZ);
	memcpy(m->b + off, buf, len);
	if (off + len > m->size)
		m->size = off + len;
}

static void model_truncate(Model *m, uint64_t size)
{
	assert_true(size <= MAXSZ);
	if (size < m->size)
		memset(m->b + size, 0, m->size - size);
	m->size = size;
}

/* Write through the backing, as the mount does. */
static void live_write(Fix *f, uint64_t off, size_t len, unsigned seed)
{
	uint8_t *buf = new_bytes(&f->live, off, len, seed);

	assert_int_equal(mf_backing_write(f->b, off, buf, len), (ssize_t)len);
	model_write(&f->live, off, buf, len);
}

static void live_truncate(Fix *f, uint64_t size)
{
	assert_int_equal(mf_backing_truncate(f->b, size), 0);
	model_truncate(&f->live, size);
}

G_GNUC_UNUSED static void live_punch(Fix *f, uint64_t off, uint64_t len)
{
	assert_int_equal(mf_backing_fallocate(f->b, FALLOC_FL_PUNCH_HOLE |
						    FALLOC_FL_KEEP_SIZE,
					      off, len),
			 0);
	if (off < f->live.size)
		memset(f->live.b + off, 0,
		       (size_t)MIN(len, f->live.size - off));
}

/* Take snapshot name; returns the model of what it must read forever. */
static Model snap(Fix *f, const char *name)
{
	Model m = { unit_alloc(MAXSZ), f->live.size };

	assert_int_equal(mf_state_snap_create(f->st, f->b, name), 0);
	memcpy(m.b, f->live.b, MAXSZ);
	return m;
}

/* ---- private views ---------------------------------------------------- */

static CowModel *cow_model(void)
{
	CowModel *c = unit_alloc(sizeof(*c));

	c->pages = unit_alloc(MAXSZ);
	return c;
}

/* What the view shows now: its pages, else the live file's. */
static uint8_t *cow_expected(Fix *f, const CowModel *c)
{
	uint8_t *out = unit_alloc(f->live.size + 1);

	for (uint64_t pos = 0; pos < f->live.size; pos++)
		out[pos] = c->held[pos / P] ? c->pages[pos] : f->live.b[pos];
	return out;
}

static unsigned cow_held(const CowModel *c)
{
	unsigned n = 0;

	for (unsigned p = 0; p < MAXPAGES; p++)
		n += c->held[p];
	return n;
}

/* Write through view name, and into its model. */
static void cow_write(Fix *f, CowModel *c, const char *name, uint64_t off,
		      size_t len, unsigned seed)
{
	Model now = { cow_expected(f, c), f->live.size };
	uint8_t *buf = new_bytes(&now, off, len, seed);

	assert_int_equal(mf_state_cow_write(f->st, f->b, name, off, buf, len),
			 (ssize_t)len);
	for (uint64_t p = off / P; p * P < off + len; p++) {
		if (!c->held[p]) {
			memcpy(c->pages + p * P, f->live.b + p * P, P);
			c->held[p] = true;
		}
	}
	memcpy(c->pages + off, buf, len);
}

#define assert_cow(f, c, name) check_cow(f, c, name, __LINE__)
static void check_cow(Fix *f, const CowModel *c, const char *name, int line)
{
	uint64_t size = f->live.size;
	uint8_t *want = cow_expected(f, c);
	uint8_t *buf = unit_alloc(size + 2 * P);
	ssize_t n = mf_state_cow_read(f->st, f->b, name, 0, buf, size + 2 * P);
	char what[300];

	g_snprintf(what, sizeof(what), "cow view %s", name);
	if (n != (ssize_t)size) {
		print_error("%s: read %zd bytes, expected %llu\n", what, n,
			    (unsigned long long)size);
		_fail(__FILE__, line);
	}
	check_bytes(buf, want, size, what, line);
	for (uint64_t off = 11; off < size; off += 2999) {
		size_t len = (size_t)MIN((uint64_t)2999, size - off);

		n = mf_state_cow_read(f->st, f->b, name, off, buf, 2999);
		if (n != (ssize_t)len) {
			print_error("%s: read at %llu: %zd bytes\n", what,
				    (unsigned long long)off, n);
			_fail(__FILE__, line);
		}
		check_bytes(buf, want + off, len, what, line);
	}
	if (mf_state_cow_read(f->st, f->b, name, size, buf, 10) != 0) {
		print_error("%s: bytes past the file's size\n", what);
		_fail(__FILE__, line);
	}
	if (cow_pages(f, name) != cow_held(c)) {
		print_error("%s: %llu pages, expected %u\n", what,
			    (unsigned long long)cow_pages(f, name),
			    cow_held(c));
		_fail(__FILE__, line);
	}
}

/* ---- a chain of three snapshots --------------------------------------- */

/* s1, write, s2, write, s3, write: each reads the file as it was when
 * taken, and only the newest gets the copy of a page written. */
G_GNUC_UNUSED static void build_chain(Fix *f, Model m[3])
{
	m[0] = snap(f, "s1");
	assert_pages(f, 0);
	live_write(f, 2 * P + 100, P, 1);               /* pages 2, 3 */
	assert_pages(f, 2);
	live_write(f, 2 * P, 10, 11);                   /* 2 again */
	assert_pages(f, 2);
	assert_snap(f, "s1", &m[0]);

	m[1] = snap(f, "s2");
	assert_pages(f, 2, 0);
	assert_snap(f, "s2", &m[1]);
	live_write(f, 3 * P, 2 * P, 2);                 /* pages 3, 4 */
	assert_pages(f, 2, 2);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s2", &m[1]);

	m[2] = snap(f, "s3");
	/* One page rewritten after s3 adds a page to s3 only. */
	live_write(f, 3 * P, P, 3);                     /* page 3 */
	assert_pages(f, 2, 2, 1);
	live_write(f, 4 * P + 4000, 200, 4);            /* pages 4, 5 */
	assert_pages(f, 2, 2, 3);
	live_write(f, 3 * P + 10, 50, 5);               /* page 3 again */
	assert_pages(f, 2, 2, 3);
	/* Appending changes no byte s3 sees, but shares its last page. */
	live_write(f, N0, 5000, 6);                     /* pages 20, 21 */
	assert_pages(f, 2, 2, 4);
	assert_file(f);
	for (int i = 0; i < 3; i++) {
		char name[4] = { 's', (char)('1' + i), 0 };

		assert_snap(f, name, &m[i]);
	}
	assert_list(mf_state_snap_list(f->st), "s1", "s2", "s3");
}

/* ---- the plain tests ---------------------------------------------------- */
#ifndef UNIT_WRAP_IO

static void test_snapshot_keeps_old_bytes(void **state)
{
	Fix *f = *state;
	struct timespec before, after;
	MfEntryInfo info;
	Model m;
	uint8_t buf[16];

	unit_guard();
	clock_gettime(CLOCK_REALTIME, &before);
	m = snap(f, "s1");
	clock_gettime(CLOCK_REALTIME, &after);
	assert_int_equal(mf_state_snap_info(f->st, "s1", &info), 0);
	assert_int_equal(info.size, N0);
	assert_int_equal(info.pages, 0);
	assert_true(info.taken.tv_sec > before.tv_sec ||
		    (info.taken.tv_sec == before.tv_sec &&
		     info.taken.tv_nsec >= before.tv_nsec));
	assert_true(info.taken.tv_sec < after.tv_sec ||
		    (info.taken.tv_sec == after.tv_sec &&
		     info.taken.tv_nsec <= after.tv_nsec));
	assert_true(entry_on_disk(f, "snap", "s1"));
	assert_snap(f, "s1", &m);

	live_write(f, 3 * P - 50, 200, 1);              /* pages 2, 3 */
	assert_file(f);
	assert_snap(f, "s1", &m);
	assert_int_equal(snap_pages(f, "s1"), 2);
	live_write(f, 3 * P - 20, 100, 2);              /* the same again */
	assert_file(f);
	assert_snap(f, "s1", &m);
	assert_int_equal(snap_pages(f, "s1"), 2);
	live_write(f, 0, N0, 3);                        /* all of it */
	assert_file(f);
	assert_snap(f, "s1", &m);
	assert_int_equal(snap_pages(f, "s1"), 21);
	assert_false(mf_state_damaged(f->st));

	assert_int_equal(mf_state_snap_read(f->st, f->b, "s1", 5, buf, 0), 0);
	assert_int_equal(mf_state_snap_read(f->st, f->b, "nope", 0, buf, 1),
			 -ENOENT);
	assert_int_equal(mf_state_snap_info(f->st, "nope", &info), -ENOENT);
	assert_int_equal(mf_state_snap_create(f->st, f->b, "s1"), -EEXIST);
	assert_list(mf_state_snap_list(f->st), "s1");
}

static void test_state_get(void **state)
{
	Fix *f = *state;
	MfState *again = NULL, *other = NULL;

	int fd = unit_create(f->dir, "other", 10, O_RDWR, NULL);

	assert_int_equal(mf_state_get(f->sd, f->ext, false, &again), 0);
	assert_ptr_equal(again, f->st);
	mf_state_unref(again);
	assert_int_equal(mf_state_get(f->sd, fd, false, &other), -ENOENT);
	close(fd);
	assert_null(other);
	assert_list(mf_state_snap_list(f->st), NULL);
	assert_set(mf_state_cow_list(f->st), NULL);
}

/* Which files may have state is known without a system call: the file's
 * own (made in this run, or listed when the state directory is opened
 * again), not another inode number. */
static void test_state_may_exist(void **state)
{
	Fix *f = *state;
	struct stat sb;

	assert_int_equal(fstat(f->ext, &sb), 0);
	assert_true(mf_state_may_exist(f->sd, sb.st_ino));
	assert_false(mf_state_may_exist(f->sd, sb.st_ino + 1));
	close_all(f);
	open_all(f, false);
	assert_true(mf_state_may_exist(f->sd, sb.st_ino));
	assert_false(mf_state_may_exist(f->sd, sb.st_ino + 1));
}

static void test_chain(void **state)
{
	Fix *f = *state;
	Model m[3];

	unit_guard();
	build_chain(f, m);
	/* A page none of them saw change. */
	live_write(f, 15 * P, 1, 7);
	assert_pages(f, 2, 2, 5);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s2", &m[1]);
	assert_snap(f, "s3", &m[2]);
	/* The mount's own changes are no bypass. */
	assert_false(mf_state_verify(f->st, f->ext));
}

/* Deleting a snapshot hands the pages it kept to the next older one. */
static void test_delete_middle_and_newest(void **state)
{
	Fix *f = *state;
	Model m[3], m4;
	MfEntryInfo info;
	uint8_t buf[8];

	unit_guard();
	build_chain(f, m);                      /* s1 {2,3} s2 {3,4} s3 {3,4,5,20} */
	assert_int_equal(mf_state_snap_delete(f->st, "s2"), 0);
	assert_list(mf_state_snap_list(f->st), "s1", "s3");
	assert_pages(f, 3, -1, 4);              /* s1 got 4 */
	assert_false(entry_on_disk(f, "snap", "s2"));
	assert_int_equal(mf_state_snap_info(f->st, "s2", &info), -ENOENT);
	assert_int_equal(mf_state_snap_read(f->st, f->b, "s2", 0, buf, 8),
			 -ENOENT);
	assert_int_equal(mf_state_snap_delete(f->st, "s2"), -ENOENT);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s3", &m[2]);

	live_write(f, 6 * P, 10, 8);
	assert_pages(f, 3, -1, 5);
	assert_int_equal(mf_state_snap_delete(f->st, "s3"), 0);
	assert_list(mf_state_snap_list(f->st), "s1");
	assert_pages(f, 6, -1, -1);             /* s1 got 5, 6, 20 */
	assert_snap(f, "s1", &m[0]);

	/* s1 is the newest again. */
	live_write(f, 7 * P, 10, 9);
	assert_pages(f, 7);
	assert_snap(f, "s1", &m[0]);

	assert_int_equal(mf_state_snap_delete(f->st, "s1"), 0);
	assert_list(mf_state_snap_list(f->st), NULL);
	assert_false(entry_on_disk(f, "snap", "s1"));
	live_write(f, 8 * P, 10, 10);
	assert_file(f);
	m4 = snap(f, "s4");
	live_write(f, 8 * P, 10, 11);
	assert_int_equal(snap_pages(f, "s4"), 1);
	assert_snap(f, "s4", &m4);
}

static void test_delete_oldest(void **state)
{
	Fix *f = *state;
	Model m1, m2;

	unit_guard();
	m1 = snap(f, "s1");
	live_write(f, 2 * P, 10, 1);
	m2 = snap(f, "s2");
	live_write(f, 2 * P, 20, 2);
	assert_pages(f, 1, 1);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_int_equal(mf_state_snap_delete(f->st, "s1"), 0);
	assert_pages(f, -1, 1);
	assert_snap(f, "s2", &m2);
	assert_list(mf_state_snap_list(f->st), "s2");
}

/* Truncation and punched holes change bytes too: snapshots stay frozen. */
static void test_truncate_and_punch(void **state)
{
	Fix *f = *state;
	const uint64_t T = 3 * P + 10, G = 12 * P;
	Model m1, m2, m3;
	uint64_t n3;

	unit_guard();
	m1 = snap(f, "s1");
	live_truncate(f, T);
	assert_pages(f, 18);                    /* pages 3..20 */
	assert_file(f);
	assert_snap(f, "s1", &m1);

	m2 = snap(f, "s2");
	assert_int_equal(m2.size, T);
	live_truncate(f, G);                    /* growing changes nothing */
	assert_pages(f, 18, 0);
	live_write(f, 10 * P, 100, 1);          /* past s2's size */
	assert_pages(f, 18, 0);
	live_write(f, 3 * P, 20, 2);            /* s2's last, partial page */
	assert_pages(f, 18, 1);
	live_punch(f, 0, 2 * P);
	assert_pages(f, 18, 3);
	assert_file(f);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);

	m3 = snap(f, "s3");
	live_write(f, 0, 10, 3);                /* into the hole: kept as one */
	assert_pages(f, 18, 3, 1);
	live_punch(f, 5 * P, 2 * P);            /* holes already */
	assert_pages(f, 18, 3, 3);
	/* Truncation keeps what s3 sees of data: pages 2, 3 and 10 at least.
	 * Holes may be skipped (they read as zeros either way); which pages
	 * are holes is the filesystem's business (ext4 with large folios
	 * allocates around a written page). */
	live_truncate(f, 0);
	n3 = snap_pages(f, "s3");
	assert_true(n3 >= 6 && n3 <= 12);
	assert_pages(f, 18, 3);
	assert_file(f);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_snap(f, "s3", &m3);

	/* Writing over pages s3 sees keeps their zeros, if not kept yet. */
	live_write(f, 0, 3 * P, 4);
	assert_pages(f, 18, 3);
	assert_false(mf_state_verify(f->st, f->ext));
	assert_true(snap_pages(f, "s3") >= MAX(n3, 7));
	n3 = snap_pages(f, "s3");
	assert_true(n3 <= 12);
	assert_file(f);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_snap(f, "s3", &m3);

	reload(f);
	assert_pages(f, 18, 3);
	assert_int_equal(snap_pages(f, "s3"), n3);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_snap(f, "s3", &m3);
}

/* A hole that truncation cut off, filled again later, where only an older
 * (larger) snapshot sees it: that snapshot must keep reading zeros. */
static void test_refilled_hole_past_newest(void **state)
{
	Fix *f = *state;
	Model m1, m2;

	unit_guard();
	live_punch(f, 12 * P, 4 * P);           /* no snapshot yet */
	assert_file(f);
	m1 = snap(f, "s1");
	live_truncate(f, 3 * P);
	m2 = snap(f, "s2");
	assert_snap(f, "s1", &m1);
	live_write(f, 13 * P, 100, 1);          /* into s1's hole */
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	live_write(f, 2 * P, 14 * P, 2);        /* over all of it */
	assert_file(f);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_int_equal(mf_state_snap_delete(f->st, "s2"), 0);
	assert_snap(f, "s1", &m1);
	reload(f);
	assert_snap(f, "s1", &m1);
}

/* Deleting a snapshot whose older neighbour is smaller hands over only
 * what the older one can see. */
static void test_delete_hands_only_visible_pages(void **state)
{
	Fix *f = *state;
	Model m1, m3;

	unit_guard();
	live_truncate(f, 2 * P + 1);
	m1 = snap(f, "s1");                     /* pages 0..2 */
	live_write(f, 2 * P + 1, 8 * P, 1);     /* grows: s1 gets page 2 */
	assert_pages(f, 1);
	snap(f, "s2");
	live_write(f, 0, 10 * P, 2);            /* s2 gets pages 0..9 */
	assert_pages(f, 1, 10);
	m3 = snap(f, "s3");
	assert_int_equal(mf_state_snap_delete(f->st, "s2"), 0);
	assert_pages(f, 3, -1, 0);              /* 0 and 1, not 3..9 */
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s3", &m3);
}

static void test_zero_size_snapshot(void **state)
{
	Fix *f = *state;
	Model m0, m1;
	uint8_t buf[16];

	unit_guard();
	live_truncate(f, 0);
	m0 = snap(f, "empty");
	assert_int_equal(m0.size, 0);
	assert_int_equal(snap_pages(f, "empty"), 0);
	assert_int_equal(mf_state_snap_read(f->st, f->b, "empty", 0, buf, 16),
			 0);
	live_write(f, 0, 3 * P + 5, 1);
	assert_int_equal(snap_pages(f, "empty"), 0);
	assert_snap(f, "empty", &m0);

	m1 = snap(f, "s1");
	live_write(f, P, 10, 2);
	live_truncate(f, 0);
	assert_int_equal(snap_pages(f, "s1"), 4);
	assert_snap(f, "s1", &m1);
	assert_int_equal(mf_state_snap_delete(f->st, "s1"), 0);
	assert_int_equal(snap_pages(f, "empty"), 0);
	assert_snap(f, "empty", &m0);

	reload(f);
	assert_snap(f, "empty", &m0);
	assert_list(mf_state_snap_list(f->st), "empty");
}

static void test_rename(void **state)
{
	Fix *f = *state;
	Model ma, mb, ma2;

	unit_guard();
	ma = snap(f, "a");
	live_write(f, P, 10, 1);
	mb = snap(f, "b");
	live_write(f, P, 10, 2);

	assert_int_equal(mf_state_snap_rename(f->st, "a", "c"), 0);
	assert_list(mf_state_snap_list(f->st), "c", "b");
	assert_false(entry_on_disk(f, "snap", "a"));
	assert_true(entry_on_disk(f, "snap", "c"));
	assert_snap(f, "c", &ma);
	assert_snap(f, "b", &mb);

	assert_int_equal(mf_state_snap_rename(f->st, "c", "b"), -EEXIST);
	assert_int_equal(mf_state_snap_rename(f->st, "zz", "x"), -ENOENT);
	assert_int_equal(mf_state_snap_rename(f->st, "a", "x"), -ENOENT);
	assert_int_equal(mf_state_snap_rename(f->st, "b", "bad/name"),
			 -EINVAL);
	assert_int_equal(mf_state_snap_rename(f->st, "b", ".hidden"), -EINVAL);
	assert_int_equal(mf_state_snap_rename(f->st, "b", "b"), 0);
	assert_list(mf_state_snap_list(f->st), "c", "b");
	assert_snap(f, "c", &ma);
	assert_snap(f, "b", &mb);

	/* The old name is free, the new one taken. */
	assert_int_equal(mf_state_snap_create(f->st, f->b, "c"), -EEXIST);
	ma2 = snap(f, "a");
	live_write(f, 2 * P, 10, 3);
	assert_list(mf_state_snap_list(f->st), "c", "b", "a");

	reload(f);
	assert_list(mf_state_snap_list(f->st), "c", "b", "a");
	assert_snap(f, "c", &ma);
	assert_snap(f, "b", &mb);
	assert_snap(f, "a", &ma2);
}

static void test_bad_names(void **state)
{
	Fix *f = *state;
	const char *bad[] = { "", ".", "..", ".hidden", ".new-1", "a/b", "/",
			      "a:b", ":0+1", "x/.." };
	char longest[NAME_MAX + 2];
	Model m;

	unit_guard();
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		if (mf_state_check_name(bad[i]) != -EINVAL) {
			print_error("name \"%s\" accepted\n", bad[i]);
			fail();
		}
		assert_int_equal(mf_state_snap_create(f->st, f->b, bad[i]),
				 -EINVAL);
		assert_int_equal(mf_state_cow_create(f->st, bad[i]), -EINVAL);
	}
	memset(longest, 'n', NAME_MAX + 1);
	longest[NAME_MAX + 1] = '\0';
	assert_int_equal(mf_state_check_name(longest), -EINVAL);
	assert_int_equal(mf_state_snap_create(f->st, f->b, longest), -EINVAL);
	assert_list(mf_state_snap_list(f->st), NULL);
	assert_set(mf_state_cow_list(f->st), NULL);

	assert_int_equal(mf_state_check_name("a"), 0);
	assert_int_equal(mf_state_check_name("a.b"), 0);
	assert_int_equal(mf_state_check_name("x y"), 0);
	assert_int_equal(mf_state_check_name("before-upgrade"), 0);
	assert_int_equal(mf_state_check_name("snäp"), 0);
	assert_int_equal(mf_state_check_name("a.."), 0);
	/* NAME_MAX bytes: a name, and it can be made. */
	longest[NAME_MAX] = '\0';
	assert_int_equal(mf_state_check_name(longest), 0);
	m = snap(f, longest);
	assert_int_equal(mf_state_cow_create(f->st, longest), 0);
	live_write(f, 0, 10, 1);
	assert_snap(f, longest, &m);
	reload(f);
	assert_snap(f, longest, &m);
}

/* A remount: the state freed and loaded from disk gives the same
 * snapshots, in the same order, with the same bytes, and goes on keeping
 * them frozen. Half-made entries left by a crash are dropped. */
static void test_reload(void **state)
{
	Fix *f = *state;
	Model m[3], m4;
	MfEntryInfo before[3], info;
	const char *names[] = { "s1", "s2", "s3" };
	g_autofree char *junk = NULL;
	MfState *none = NULL;
	int fd;

	unit_guard();
	build_chain(f, m);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mf_state_snap_info(f->st, names[i],
						    &before[i]),
				 0);

	reload(f);
	assert_list(mf_state_snap_list(f->st), "s1", "s2", "s3");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mf_state_snap_info(f->st, names[i], &info),
				 0);
		assert_int_equal(info.size, before[i].size);
		assert_int_equal(info.pages, before[i].pages);
		assert_int_equal(info.taken.tv_sec, before[i].taken.tv_sec);
		assert_int_equal(info.taken.tv_nsec, before[i].taken.tv_nsec);
		assert_snap(f, names[i], &m[i]);
	}

	/* Copy-before-write goes on, into the newest. */
	live_write(f, 8 * P, 10, 1);
	assert_pages(f, 2, 2, 5);
	m4 = snap(f, "s4");
	live_write(f, 8 * P, 10, 2);
	assert_pages(f, 2, 2, 5, 1);
	assert_list(mf_state_snap_list(f->st), "s1", "s2", "s3", "s4");

	/* A crash while an entry was being made. */
	junk = g_strdup_printf("files/%s/snap/.new-99", f->key);
	assert_int_equal(mkdirat(f->statefd, junk, 0700), 0);
	fd = openat(f->statefd, junk, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(openat(fd, "meta", O_WRONLY | O_CREAT, 0600));
	close(openat(fd, "pages", O_WRONLY | O_CREAT, 0600));
	close(fd);

	reload(f);
	assert_false(entry_on_disk(f, "snap", ".new-99"));
	assert_list(mf_state_snap_list(f->st), "s1", "s2", "s3", "s4");
	assert_pages(f, 2, 2, 5, 1);
	for (int i = 0; i < 3; i++)
		assert_snap(f, names[i], &m[i]);
	assert_snap(f, "s4", &m4);
	assert_file(f);

	/* A file with no state has none after a reload either. */
	fd = unit_create(f->dir, "other", 10, O_RDWR, NULL);
	assert_int_equal(mf_state_get(f->sd, fd, false, &none), -ENOENT);
	close(fd);
}

/* A write that bypassed the mount while snapshots existed: they can no
 * longer be trusted, and say so, also after the next remount. */
static void test_damaged_by_outside_write(void **state)
{
	Fix *f = *state;
	uint8_t buf[16] = { 1 };

	unit_guard();
	snap(f, "s1");
	live_write(f, P, 10, 1);
	close_all(f);
	g_usleep(20000);                /* past the clock's granularity */
	unit_pwrite(f->ext, buf, sizeof(buf), 0);
	open_all(f, false);
	mf_state_attach(f->st, f->b);
	assert_true(mf_state_damaged(f->st));
	assert_int_equal(mf_state_snap_read(f->st, f->b, "s1", 0, buf, 16),
			 -EIO);
	close_all(f);
	open_all(f, false);
	mf_state_attach(f->st, f->b);
	assert_true(mf_state_damaged(f->st));
}

/* The same while mounted: the next look at the file notices. */
static void test_damaged_by_outside_write_while_attached(void **state)
{
	Fix *f = *state;
	uint8_t buf[16] = { 1 };

	unit_guard();
	snap(f, "s1");
	live_write(f, P, 10, 1);
	live_truncate(f, N0 + 10);
	assert_false(mf_state_verify(f->st, f->ext));
	g_usleep(20000);
	unit_pwrite(f->ext, buf, sizeof(buf), 0);
	assert_true(mf_state_verify(f->st, f->ext));
	assert_true(mf_state_damaged(f->st));
	assert_int_equal(mf_state_snap_read(f->st, f->b, "s1", 0, buf, 16),
			 -EIO);
}

/* Many writers at once after a snapshot: every page copied once, before
 * any of it changed. */
#define WRITERS 4

typedef struct Writer {
	MfBacking *b;
	unsigned id;
	gint *go;
	int bad;
} Writer;

static uint8_t writer_byte(uint64_t pos, unsigned round)
{
	return unit_pattern(pos + 1000003 * (round + 1)) ^ 0x3C;
}

static gpointer write_loop(gpointer arg)
{
	Writer *w = arg;
	uint8_t buf[1024];

	while (!g_atomic_int_get(w->go))
		;
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned k = 0; k < 20; k++) {
			uint64_t p = (k + w->id * 5) % 20;
			uint64_t off = p * P + w->id * 1024;

			for (unsigned i = 0; i < sizeof(buf); i++)
				buf[i] = writer_byte(off + i, round);
			if (mf_backing_write(w->b, off, buf, sizeof(buf)) !=
			    (ssize_t)sizeof(buf))
				w->bad++;
		}
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	Fix *f = *state;
	Writer w[WRITERS];
	GThread *t[WRITERS];
	gint go = 0;
	Model m;

	unit_guard();
	m = snap(f, "s1");
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (Writer){ .b = f->b, .id = i, .go = &go };
		t[i] = g_thread_new("writer", write_loop, &w[i]);
	}
	g_atomic_int_set(&go, 1);
	for (unsigned i = 0; i < WRITERS; i++) {
		g_thread_join(t[i]);
		assert_int_equal(w[i].bad, 0);
	}
	for (uint64_t pos = 0; pos < 20 * P; pos++)
		f->live.b[pos] = writer_byte(pos, 2);
	assert_file(f);
	assert_int_equal(snap_pages(f, "s1"), 20);
	assert_snap(f, "s1", &m);
	assert_false(mf_state_verify(f->st, f->ext));
}

/* ---- private views ---- */

static void test_cow_private_pages(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model();
	struct timespec before;
	MfEntryInfo info;
	uint8_t buf[16];

	unit_guard();
	clock_gettime(CLOCK_REALTIME, &before);
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	assert_int_equal(mf_state_cow_create(f->st, "c1"), -EEXIST);
	assert_true(entry_on_disk(f, "cow", "c1"));
	assert_set(mf_state_cow_list(f->st), "c1");
	assert_int_equal(mf_state_cow_info(f->st, "c1", &info), 0);
	assert_int_equal(info.pages, 0);
	assert_true(info.taken.tv_sec >= before.tv_sec);
	assert_cow(f, c, "c1");

	/* Its writes are its own; the file does not change. */
	cow_write(f, c, "c1", 2 * P - 10, 30, 1);       /* pages 1, 2 */
	assert_int_equal(cow_pages(f, "c1"), 2);
	assert_file(f);
	assert_cow(f, c, "c1");
	cow_write(f, c, "c1", 2 * P + 100, 10, 2);      /* page 2 again */
	assert_int_equal(cow_pages(f, "c1"), 2);
	assert_file(f);
	assert_cow(f, c, "c1");

	/* Pages it never wrote follow the file; the others do not. */
	live_write(f, 5 * P, 100, 3);
	live_write(f, 2 * P, P, 4);
	assert_cow(f, c, "c1");

	/* It cannot grow the file: nothing of such a write happens. */
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", N0 - 5, buf, 10),
			 -EFBIG);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", N0, buf, 1),
			 -EFBIG);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", N0 + P, buf, 1),
			 -EFBIG);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", UINT64_MAX - 4,
					    buf, 8),
			 -EFBIG);
	assert_cow(f, c, "c1");
	assert_file(f);
	/* Up to the end is fine. */
	cow_write(f, c, "c1", N0 - 5, 5, 5);            /* page 20 */
	assert_cow(f, c, "c1");

	/* Its size is the file's. */
	live_write(f, N0, 2 * P, 6);
	assert_cow(f, c, "c1");
	cow_write(f, c, "c1", N0 + P, 10, 7);           /* now inside */
	assert_cow(f, c, "c1");
	live_truncate(f, 2 * P + 50);
	assert_cow(f, c, "c1");
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", 3 * P, buf, 1),
			 -EFBIG);
	live_truncate(f, 4 * P);
	assert_file(f);

	/* A second view is independent of the first. */
	assert_int_equal(mf_state_cow_create(f->st, "c2"), 0);
	assert_set(mf_state_cow_list(f->st), "c1", "c2");
	assert_int_equal(cow_pages(f, "c2"), 0);
	{
		CowModel *c2 = cow_model();

		cow_write(f, c2, "c2", P, 10, 8);
		assert_cow(f, c2, "c2");
	}
	assert_file(f);

	/* Discarding. */
	assert_int_equal(mf_state_cow_delete(f->st, "c1"), 0);
	assert_int_equal(mf_state_cow_delete(f->st, "c1"), -ENOENT);
	assert_false(entry_on_disk(f, "cow", "c1"));
	assert_set(mf_state_cow_list(f->st), "c2");
	assert_int_equal(mf_state_cow_read(f->st, f->b, "c1", 0, buf, 1),
			 -ENOENT);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", 0, buf, 1),
			 -ENOENT);
	assert_int_equal(mf_state_cow_info(f->st, "c1", &info), -ENOENT);
	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), -ENOENT);
	assert_file(f);
}

/* Commit writes the view's pages into the file and drops the view; a
 * snapshot taken before keeps the bytes from before. */
static void test_cow_commit(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model(), *c2 = cow_model();
	uint8_t *want;
	Model before;

	unit_guard();
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	assert_int_equal(mf_state_cow_create(f->st, "c2"), 0);
	cow_write(f, c, "c1", P + 7, 100, 1);           /* page 1 */
	cow_write(f, c, "c1", 8 * P - 3, 6, 2);         /* pages 7, 8 */
	cow_write(f, c, "c1", N0 - 1, 1, 3);            /* page 20, partial */
	cow_write(f, c2, "c2", 7 * P, 1, 4);            /* c2's own page 7 */
	before = snap(f, "s1");
	live_write(f, 12 * P, 10, 5);                   /* s1 gets page 12 */
	live_write(f, 8 * P + 100, 10, 6);              /* and 8 */
	assert_int_equal(snap_pages(f, "s1"), 2);
	assert_cow(f, c, "c1");

	want = cow_expected(f, c);
	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), 0);
	memcpy(f->live.b, want, f->live.size);
	assert_int_equal(unit_size(f->ext), N0);
	assert_file(f);
	assert_set(mf_state_cow_list(f->st), "c2");
	assert_false(entry_on_disk(f, "cow", "c1"));
	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), -ENOENT);

	/* The snapshot kept what the commit changed. */
	assert_snap(f, "s1", &before);
	assert_int_equal(snap_pages(f, "s1"), 5);       /* 1, 7, 8, 12, 20 */
	/* The other view sees the commit where it holds nothing. */
	assert_cow(f, c2, "c2");

	reload(f);
	assert_file(f);
	assert_snap(f, "s1", &before);
	assert_cow(f, c2, "c2");
	assert_set(mf_state_cow_list(f->st), "c2");
}

/* A commit after the file shrank writes only what lies inside it. */
static void test_cow_commit_after_shrink(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model();
	const uint64_t size = 5 * P + 7;
	uint8_t *want;

	unit_guard();
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	cow_write(f, c, "c1", P, 10, 1);
	cow_write(f, c, "c1", 5 * P, 100, 2);           /* cut at 7 bytes */
	cow_write(f, c, "c1", 10 * P, 10, 3);           /* gone */
	live_truncate(f, size);
	assert_cow(f, c, "c1");
	want = cow_expected(f, c);
	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), 0);
	memcpy(f->live.b, want, size);
	assert_int_equal(unit_size(f->ext), size);
	assert_file(f);
	assert_set(mf_state_cow_list(f->st), NULL);
}

/* mf_state_cow_list() sorts by name. */
static void test_cow_list_sorted(void **state)
{
	Fix *f = *state;
	const char *names[] = { "b", "a", "d", "c", "aa", "B" };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		assert_int_equal(mf_state_cow_create(f->st, names[i]), 0);
	assert_list(mf_state_cow_list(f->st), "B", "a", "aa", "b", "c", "d");
	reload(f);
	assert_list(mf_state_cow_list(f->st), "B", "a", "aa", "b", "c", "d");
}

/* Private views persist across remounts until committed or discarded. */
static void test_cow_reload(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model(), *e = cow_model();
	MfEntryInfo before, info;
	uint8_t *want;

	unit_guard();
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	assert_int_equal(mf_state_cow_create(f->st, "empty"), 0);
	cow_write(f, c, "c1", 3 * P - 1, 2, 1);
	cow_write(f, c, "c1", 9 * P, P, 2);
	assert_int_equal(mf_state_cow_info(f->st, "c1", &before), 0);

	reload(f);
	assert_set(mf_state_cow_list(f->st), "c1", "empty");
	assert_int_equal(mf_state_cow_info(f->st, "c1", &info), 0);
	assert_int_equal(info.pages, before.pages);
	assert_int_equal(info.taken.tv_sec, before.taken.tv_sec);
	assert_int_equal(info.taken.tv_nsec, before.taken.tv_nsec);
	assert_cow(f, c, "c1");
	assert_cow(f, e, "empty");
	assert_file(f);

	/* And work on after it. */
	live_write(f, 4 * P, 10, 3);
	cow_write(f, c, "c1", 4 * P + 5, 10, 4);
	assert_cow(f, c, "c1");
	want = cow_expected(f, c);
	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), 0);
	memcpy(f->live.b, want, f->live.size);
	assert_file(f);
	assert_cow(f, e, "empty");

	reload(f);
	assert_set(mf_state_cow_list(f->st), "empty");
	assert_file(f);
}

#else /* UNIT_WRAP_IO */
/* ---- faults: the store cannot keep a page ------------------------------ */

/* The old page cannot be preserved: the write is refused and changes
 * nothing; once space is back it goes through. */
static void test_preserve_fails_refuses_write(void **state)
{
	Fix *f = *state;
	const char *files[] = { "snap/s1/pages", "snap/s1/map" };
	const size_t after[] = { 1000, 0 };     /* part of the page, or none */
	uint8_t buf[100];
	Model m;

	unit_guard();
	m = snap(f, "s1");
	memset(buf, 0x5A, sizeof(buf));
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		unit_io_fail("pwrite", files[i], ENOSPC, after[i]);
		assert_int_equal(mf_backing_write(f->b, 2 * P + 10, buf,
						  sizeof(buf)),
				 -ENOSPC);
		assert_true(unit_io_hits() > 0);
		unit_io_reset();
		assert_file(f);
		assert_int_equal(snap_pages(f, "s1"), 0);
		assert_snap(f, "s1", &m);
	}
	live_write(f, 2 * P + 10, 100, 1);
	assert_int_equal(snap_pages(f, "s1"), 1);
	assert_file(f);
	assert_snap(f, "s1", &m);
}

static void test_preserve_fails_refuses_truncate_and_punch(void **state)
{
	Fix *f = *state;
	Model m;

	unit_guard();
	m = snap(f, "s1");
	unit_io_fail("pwrite", "snap/s1/pages", ENOSPC, 3 * P);
	assert_int_equal(mf_backing_truncate(f->b, 2 * P), -ENOSPC);
	assert_int_equal(unit_size(f->ext), N0);
	assert_int_equal(mf_backing_fallocate(f->b, FALLOC_FL_PUNCH_HOLE |
						    FALLOC_FL_KEEP_SIZE,
					      10 * P, 6 * P),
			 -ENOSPC);
	unit_io_reset();
	assert_file(f);
	assert_snap(f, "s1", &m);
	/* Pages kept before space ran out stay kept: they are right. */
	assert_true(snap_pages(f, "s1") <= 3);

	live_truncate(f, 2 * P);
	assert_file(f);
	assert_snap(f, "s1", &m);
	assert_int_equal(snap_pages(f, "s1"), 19);
}

/* A private view's page that cannot be stored: the view is unchanged. */
static void test_cow_write_fails(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model();
	uint8_t buf[10] = { 0 };

	unit_guard();
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	unit_io_fail("pwrite", "cow/c1/pages", ENOSPC, 0);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c1", P, buf, 10),
			 -ENOSPC);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_cow(f, c, "c1");
	assert_file(f);
}

/* A commit that fails part way (no room to preserve a page for a
 * snapshot) must not leave half of the view in the file: the view is kept
 * and the file is as before, or the commit is whole. */
static void test_commit_fails_whole_or_nothing(void **state)
{
	Fix *f = *state;
	CowModel *c = cow_model();
	Model before;
	uint8_t *want;
	int r;

	unit_guard();
	assert_int_equal(mf_state_cow_create(f->st, "c1"), 0);
	cow_write(f, c, "c1", 2 * P, 10, 1);
	cow_write(f, c, "c1", 7 * P, 10, 2);
	before = snap(f, "s1");
	want = cow_expected(f, c);
	/* Room for one preserved page, not two. */
	unit_io_fail("pwrite", "snap/s1/pages", ENOSPC, P);
	r = mf_state_cow_commit(f->st, f->b, "c1");
	unit_io_reset();
	assert_snap(f, "s1", &before);
	if (r == 0) {
		memcpy(f->live.b, want, f->live.size);
		assert_file(f);
		assert_set(mf_state_cow_list(f->st), NULL);
		return;
	}
	assert_int_equal(r, -ENOSPC);
	assert_set(mf_state_cow_list(f->st), "c1");
	assert_cow(f, c, "c1");
	assert_file(f);         /* nothing of the commit */

	assert_int_equal(mf_state_cow_commit(f->st, f->b, "c1"), 0);
	memcpy(f->live.b, want, f->live.size);
	assert_file(f);
	assert_snap(f, "s1", &before);
}
#endif /* UNIT_WRAP_IO */


#ifndef UNIT_WRAP_IO
/* Rename the state to the name an older mapfs gave it: files/INO. */
static void make_legacy(Fix *f)
{
	g_autofree char *legacy = g_strdup_printf("files/%llu",
						  (unsigned long long)f->ino);
	g_autofree char *now = g_strconcat("files/", f->key, NULL);

	assert_string_not_equal(now, legacy);
	assert_int_equal(renameat(f->statefd, now, f->statefd, legacy), 0);
}

/* The state is kept under the file's inode number and birth time; one
 * an older mapfs kept under the inode number alone is taken over, whole
 * if its record matches the file, else marked damaged, private views
 * too: it may be another file's that had the number. */
static void test_state_key_and_legacy(void **state)
{
	Fix *f = *state;
	uint8_t buf[16];
	Model m;

	unit_guard();
	m = snap(f, "s");
	assert_int_equal(mf_state_cow_create(f->st, "c"), 0);
	live_write(f, 0, 10, 1);
	assert_true(entry_on_disk(f, "snap", "s"));
	close_all(f);

	/* Made by an older mapfs, released cleanly: taken over. */
	make_legacy(f);
	open_all(f, false);
	assert_true(entry_on_disk(f, "snap", "s"));
	mf_state_attach(f->st, f->b);
	assert_false(mf_state_damaged(f->st));
	assert_snap(f, "s", &m);
	assert_int_equal(mf_state_cow_read(f->st, f->b, "c", 0, buf, 16), 16);
	close_all(f);

	/* Its record does not match the file: maybe another's. */
	make_legacy(f);
	assert_int_equal(ftruncate(f->ext, (off_t)N0 + 1), 0);
	open_all(f, false);
	assert_true(mf_state_verify(f->st, f->ext));
	assert_int_equal(mf_state_snap_read(f->st, f->b, "s", 0, buf, 16),
			 -EIO);
	assert_int_equal(mf_state_cow_read(f->st, f->b, "c", 0, buf, 16),
			 -EIO);
	assert_int_equal(mf_state_cow_write(f->st, f->b, "c", 0, buf, 1),
			 -EIO);
	/* And stays so. */
	close_all(f);
	open_all(f, false);
	assert_true(mf_state_verify(f->st, f->ext));
	assert_int_equal(mf_state_cow_read(f->st, f->b, "c", 0, buf, 16),
			 -EIO);
}

/* Read all of entry id into a fresh buffer of m->size + P; compare. */
static void check_id(Fix *f, uint64_t id, const Model *m)
{
	uint8_t *buf = unit_alloc(m->size + P);
	MfEntryInfo info;

	assert_int_equal(mf_state_entry_info(f->st, id, &info), 0);
	assert_int_equal(mf_state_entry_read(f->st, f->b, id, 0, buf,
					     m->size + P),
			 (ssize_t)m->size);
	check_bytes(buf, m->b, m->size, "entry by identity", __LINE__);
}

/* An entry's identity survives renames and reloads, is never another
 * entry's, and holds a deleted entry while it is open: its bytes stay
 * (a snapshot in the chain) until the last close, and a reload finishes
 * the delete, handing the pages over. */
static void test_identity_and_open_delete(void **state)
{
	Fix *f = *state;
	MfEntryInfo info, again;
	uint64_t ida, idb, idv;
	Model ma, mb, mv, mnew;
	uint8_t buf[8];

	unit_guard();
	ma = snap(f, "a");
	live_write(f, 0, 10, 1);
	mb = snap(f, "b");
	assert_int_equal(mf_state_snap_info(f->st, "a", &info), 0);
	ida = info.id;
	assert_int_equal(mf_state_snap_info(f->st, "b", &info), 0);
	idb = info.id;
	assert_true(ida != 0 && idb != 0 && ida != idb);

	/* A rename keeps it. */
	assert_int_equal(mf_state_snap_rename(f->st, "b", "c"), 0);
	assert_int_equal(mf_state_snap_info(f->st, "c", &again), 0);
	assert_int_equal(again.id, idb);

	/* Deleted while open: gone by name, there by identity, frozen. */
	assert_int_equal(mf_state_entry_open(f->st, idb), 0);
	assert_int_equal(mf_state_snap_delete(f->st, "c"), 0);
	assert_list(mf_state_snap_list(f->st), "a");
	assert_int_equal(mf_state_snap_info(f->st, "c", &info), -ENOENT);
	mnew = snap(f, "c");
	assert_int_equal(mf_state_snap_info(f->st, "c", &info), 0);
	assert_true(info.id != idb && info.id != ida);
	live_write(f, 0, 3 * P, 2);
	check_id(f, idb, &mb);
	assert_snap(f, "a", &ma);
	assert_snap(f, "c", &mnew);
	assert_int_equal(mf_state_entry_write(f->st, f->b, idb, 0, buf, 1),
			 -ENOENT);
	/* The last close removes it, handing its pages to a. */
	assert_int_equal(mf_state_entry_close(f->st, idb), 1);
	assert_int_equal(mf_state_entry_info(f->st, idb, &info), -ENOENT);
	assert_snap(f, "a", &ma);
	assert_snap(f, "c", &mnew);

	/* A private view the same way, written after its delete. */
	assert_int_equal(mf_state_cow_create(f->st, "v"), 0);
	assert_int_equal(mf_state_cow_info(f->st, "v", &info), 0);
	idv = info.id;
	assert_int_equal(mf_state_entry_open(f->st, idv), 0);
	assert_int_equal(mf_state_cow_delete(f->st, "v"), 0);
	assert_list(mf_state_cow_list(f->st), NULL);
	assert_int_equal(mf_state_cow_create(f->st, "v"), 0);
	assert_int_equal(mf_state_entry_write(f->st, f->b, idv, 5, "XYZ", 3), 3);
	mv = f->live;
	mv.b = unit_alloc(MAXSZ);
	memcpy(mv.b, f->live.b, MAXSZ);
	memcpy(mv.b + 5, "XYZ", 3);
	check_id(f, idv, &mv);
	assert_int_equal(mf_state_cow_read(f->st, f->b, "v", 5, buf, 3), 3);
	assert_memory_equal(buf, f->live.b + 5, 3);

	/* Left open at a stop: the next load finishes both deletes. */
	assert_int_equal(mf_state_snap_info(f->st, "c", &info), 0);
	assert_int_equal(mf_state_entry_open(f->st, info.id), 0);
	assert_int_equal(mf_state_snap_delete(f->st, "c"), 0);
	mf_state_unref(f->st);  /* the open's reference: a daemon killed */
	reload(f);
	assert_list(mf_state_snap_list(f->st), "a");
	assert_list(mf_state_cow_list(f->st), "v");
	assert_snap(f, "a", &ma);
	assert_false(entry_on_disk(f, "snap", "c"));
	assert_int_equal(mf_state_entry_info(f->st, idv, &info), -ENOENT);
	assert_int_equal(mf_state_snap_info(f->st, "a", &info), 0);
	assert_int_equal(info.id, ida);
}
#endif

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
#ifndef UNIT_WRAP_IO
		T(test_snapshot_keeps_old_bytes),
		T(test_state_get),
	T(test_state_may_exist),
		T(test_chain),
		T(test_delete_middle_and_newest),
		T(test_delete_oldest),
		T(test_truncate_and_punch),
		T(test_refilled_hole_past_newest),
		T(test_delete_hands_only_visible_pages),
		T(test_zero_size_snapshot),
		T(test_rename),
		T(test_bad_names),
		T(test_reload),
		T(test_damaged_by_outside_write),
		T(test_damaged_by_outside_write_while_attached),
		T(test_concurrent_writers),
		T(test_cow_private_pages),
		T(test_cow_commit),
		T(test_cow_commit_after_shrink),
		T(test_cow_reload),
		T(test_cow_list_sorted),
		T(test_identity_and_open_delete),
		T(test_state_key_and_legacy),
#else
		T(test_preserve_fails_refuses_write),
		T(test_preserve_fails_refuses_truncate_and_punch),
		T(test_cow_write_fails),
		T(test_commit_fails_whole_or_nothing),
#endif
	};
#undef T

#ifndef UNIT_WRAP_IO
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
#else
	return cmocka_run_group_tests_name("state-faults", tests, NULL, NULL);
#endif
}
