/* test-store: the page store of snapshots and private views
 * (core/mf-store.c): data pages and zero pages, the presence map, its
 * count, in-order iteration, reopening, and concurrent puts.
 *
 * Built twice (meson.build): plainly, and with -DUNIT_WRAP_IO and the
 * system calls the store writes with wrapped (unit.h), where only the
 * fault tests run: a put that fails must leave its page absent.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-store.h"

typedef struct Fix {
	char *dir;
	int dirfd;
	MfStore *s;
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);

	f->dir = unit_tmpdir();
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

#ifdef UNIT_WRAP_IO
	unit_io_reset();
#endif
	mf_store_close(f->s);
	close(f->dirfd);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

static MfStore *open_store(Fix *f, bool create)
{
	MfStore *s = NULL;

	assert_int_equal(mf_store_open(f->dirfd, create, &s), 0);
	assert_non_null(s);
	f->s = s;
	return s;
}

static MfStore *reopen(Fix *f)
{
	mf_store_close(f->s);
	f->s = NULL;
	return open_store(f, false);
}

/* The bytes a test stores as page `page`, version `seed`: differ between
 * pages and versions, and never a page of zeros. */
static void page_bytes(void *buf, uint64_t page, unsigned seed)
{
	unit_fill(buf, page * MF_PAGE + (uint64_t)seed * 7919, MF_PAGE);
}

/* Assert that page is held with exactly the bytes of page_bytes(seed),
 * or zeros for seed 0. */
#define assert_page(s, page, seed) check_page(s, page, seed, __LINE__)
static void check_page(MfStore *s, uint64_t page, unsigned seed, int line)
{
	uint8_t *got = unit_alloc(MF_PAGE), *want = unit_alloc(MF_PAGE);

	if (mf_store_has(s, page) != 1) {
		print_error("line %d: page %llu not held\n", line,
			    (unsigned long long)page);
		fail();
	}
	memset(got, 0xAA, MF_PAGE);
	assert_int_equal(mf_store_get(s, page, got), 0);
	if (seed)
		page_bytes(want, page, seed);
	if (memcmp(got, want, MF_PAGE) != 0) {
		print_error("line %d: page %llu holds the wrong bytes\n", line,
			    (unsigned long long)page);
		fail();
	}
}

static void put_data(MfStore *s, uint64_t page, unsigned seed, bool sync)
{
	uint8_t buf[MF_PAGE];

	page_bytes(buf, page, seed);
	assert_int_equal(mf_store_put(s, page, buf, sync), 0);
}

/* A file "src" beside the store with pages [0, n) of page_bytes(seed):
 * the live file a snapshot copies from. Returns its descriptor. */
static int src_file(Fix *f, uint64_t n, unsigned seed)
{
	uint8_t buf[MF_PAGE];
	int fd = openat(f->dirfd, "src", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);

	assert_true(fd >= 0);
	for (uint64_t p = 0; p < n; p++) {
		page_bytes(buf, p, seed);
		unit_pwrite(fd, buf, MF_PAGE, p * MF_PAGE);
	}
	return fd;
}

/* ---- foreach helpers ------------------------------------------------- */

typedef struct Seen {
	uint64_t pages[64];
	unsigned n;
	unsigned stop_after;    /* return stop_value on this call (1-based) */
	int stop_value;
} Seen;

G_GNUC_UNUSED static int collect(uint64_t page, void *arg)
{
	Seen *s = arg;

	assert_true(s->n < G_N_ELEMENTS(s->pages));
	s->pages[s->n++] = page;
	return s->n == s->stop_after ? s->stop_value : 0;
}

G_GNUC_UNUSED static void assert_seen(const Seen *s, const uint64_t *want,
				       unsigned n)
{
	assert_int_equal(s->n, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(s->pages[i], want[i]);
}

#ifndef UNIT_WRAP_IO
/* ---- the plain tests ------------------------------------------------- */

static void test_open_missing_and_create(void **state)
{
	Fix *f = *state;
	MfStore *s = NULL;
	struct stat sb;
	Seen seen = { 0 };

	assert_int_equal(mf_store_open(f->dirfd, false, &s), -ENOENT);
	assert_null(s);
	/* A failed open makes no files. */
	assert_int_equal(fstatat(f->dirfd, "pages", &sb, 0), -1);
	assert_int_equal(fstatat(f->dirfd, "map", &sb, 0), -1);

	s = open_store(f, true);
	assert_int_equal(fstatat(f->dirfd, "pages", &sb, 0), 0);
	assert_int_equal(fstatat(f->dirfd, "map", &sb, 0), 0);
	assert_int_equal(mf_store_count(s), 0);
	assert_int_equal(mf_store_has(s, 0), 0);
	assert_int_equal(mf_store_has(s, 7), 0);
	assert_int_equal(mf_store_has(s, (uint64_t)1 << 40), 0);
	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), 0);
	assert_int_equal(seen.n, 0);

	/* Only one of the two files: not a store. */
	mf_store_close(s);
	f->s = NULL;
	assert_int_equal(unlinkat(f->dirfd, "map", 0), 0);
	s = NULL;
	assert_int_equal(mf_store_open(f->dirfd, false, &s), -ENOENT);
	assert_null(s);
}

static void test_put_get_data(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	const uint64_t held[] = { 0, 5, 8, 15, 12345 };
	const uint64_t absent[] = { 1, 4, 6, 7, 9, 14, 16, 12344, 12346 };
	uint8_t buf[MF_PAGE];

	for (size_t i = 0; i < G_N_ELEMENTS(held); i++) {
		put_data(s, held[i], 1, i % 2);
		assert_int_equal(mf_store_count(s), i + 1);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(held); i++)
		assert_page(s, held[i], 1);
	for (size_t i = 0; i < G_N_ELEMENTS(absent); i++)
		assert_int_equal(mf_store_has(s, absent[i]), 0);

	/* Rewriting a held page replaces its bytes and counts it once. */
	put_data(s, 5, 2, false);
	assert_int_equal(mf_store_count(s), G_N_ELEMENTS(held));
	assert_page(s, 5, 2);
	assert_page(s, 0, 1);
	assert_page(s, 8, 1);

	/* An absent page reads as zeros (the store does not check). */
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(mf_store_get(s, 1 << 20, buf), 0);
	unit_assert_zero(buf, sizeof(buf));
}

static void test_put_zero_page(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	int fd;

	assert_int_equal(mf_store_put(s, 3, NULL, false), 0);
	assert_int_equal(mf_store_count(s), 1);
	assert_int_equal(mf_store_has(s, 2), 0);
	assert_page(s, 3, 0);

	/* A data page turned into zeros: held once, reads zeros, and is a
	 * hole in the pages file. */
	put_data(s, 4, 1, false);
	assert_page(s, 4, 1);
	assert_int_equal(mf_store_put(s, 4, NULL, true), 0);
	assert_int_equal(mf_store_count(s), 2);
	assert_page(s, 4, 0);
	assert_page(s, 3, 0);

	/* Zeros in front of a data page, in the middle of the file. */
	put_data(s, 9, 1, false);
	assert_int_equal(mf_store_put(s, 8, NULL, false), 0);
	assert_int_equal(mf_store_count(s), 4);
	assert_page(s, 8, 0);
	assert_page(s, 9, 1);

	fd = openat(f->dirfd, "pages", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* No data in pages 3 to 8: the first data is page 9. */
	assert_int_equal(lseek(fd, 3 * MF_PAGE, SEEK_DATA), 9 * MF_PAGE);
	close(fd);
}

/* A page copied from a file holds the file's bytes; one the file does
 * not have whole is refused and stays absent. */
static void test_copy_from_file(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	int fd = src_file(f, 4, 3);

	assert_int_equal(mf_store_copy(s, 1, fd, false), 0);
	assert_int_equal(mf_store_copy(s, 3, fd, true), 0);
	assert_int_equal(mf_store_count(s), 2);
	assert_page(s, 1, 3);
	assert_page(s, 3, 3);
	assert_int_equal(mf_store_has(s, 2), 0);

	assert_int_equal(mf_store_copy(s, 4, fd, false), -EIO);
	assert_int_equal(mf_store_has(s, 4), 0);
	assert_int_equal(ftruncate(fd, 5 * MF_PAGE + 100), 0);
	assert_int_equal(mf_store_copy(s, 5, fd, false), -EIO);
	assert_int_equal(mf_store_has(s, 5), 0);
	assert_int_equal(mf_store_count(s), 2);

	s = reopen(f);
	assert_int_equal(mf_store_count(s), 2);
	assert_page(s, 1, 3);
	assert_page(s, 3, 3);
	close(fd);
}

static void test_count_survives_reopen(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint64_t n = 0;

	/* Pages in many map bytes, some bytes full, one far out. */
	for (uint64_t p = 0; p < 300; p += 1 + p % 3) {
		if (p % 5 == 0)
			assert_int_equal(mf_store_put(s, p, NULL, false), 0);
		else
			put_data(s, p, 3, false);
		n++;
	}
	put_data(s, 1000000, 3, false);
	n++;
	assert_int_equal(mf_store_count(s), n);

	s = reopen(f);
	assert_int_equal(mf_store_count(s), n);
	for (uint64_t p = 0; p < 300; p++) {
		bool held = false;

		for (uint64_t q = 0; q < 300; q += 1 + q % 3)
			held |= q == p;
		assert_int_equal(mf_store_has(s, p), held);
		if (held)
			check_page(s, p, p % 5 == 0 ? 0 : 3, __LINE__);
	}
	assert_page(s, 1000000, 3);

	/* Opening with create does not empty an existing store. */
	mf_store_close(s);
	f->s = NULL;
	s = open_store(f, true);
	assert_int_equal(mf_store_count(s), n);
	put_data(s, 301, 1, false);
	assert_int_equal(mf_store_count(s), n + 1);
	s = reopen(f);
	assert_int_equal(mf_store_count(s), n + 1);
}

static void test_foreach_order_and_limit(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	/* Put out of order; 32767/32768 straddle foreach's 4 KiB map reads. */
	const uint64_t put[] = { 40000, 7, 0, 32768, 32767, 8, 15, 100000, 3 };
	const uint64_t all[] = { 0, 3, 7, 8, 15, 32767, 32768, 40000, 100000 };
	Seen seen = { 0 };

	for (size_t i = 0; i < G_N_ELEMENTS(put); i++)
		put_data(s, put[i], 1, false);

	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), 0);
	assert_seen(&seen, all, G_N_ELEMENTS(all));

	/* limit is exclusive. */
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 15, collect, &seen), 0);
	assert_seen(&seen, all, 4);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 16, collect, &seen), 0);
	assert_seen(&seen, all, 5);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 32768, collect, &seen), 0);
	assert_seen(&seen, all, 6);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 32769, collect, &seen), 0);
	assert_seen(&seen, all, 7);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 0, collect, &seen), 0);
	assert_int_equal(seen.n, 0);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, 1, collect, &seen), 0);
	assert_seen(&seen, all, 1);

	/* The first non-zero return stops the walk and is returned. */
	seen = (Seen){ .stop_after = 3, .stop_value = 42 };
	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), 42);
	assert_seen(&seen, all, 3);
	seen = (Seen){ .stop_after = 7, .stop_value = -EIO };
	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), -EIO);
	assert_seen(&seen, all, 7);

	/* The same after reopening. */
	s = reopen(f);
	seen = (Seen){ 0 };
	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), 0);
	assert_seen(&seen, all, G_N_ELEMENTS(all));
}

/* ---- concurrency ----------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 512

typedef struct Putter {
	MfStore *s;
	unsigned id;
	gint *go;
	int err;
} Putter;

/* Thread id puts pages id, id + THREADS, ...: every map byte gets one bit
 * from each thread. Odd rounds put zero pages. */
static gpointer put_loop(gpointer arg)
{
	Putter *p = arg;
	uint8_t buf[MF_PAGE];

	while (!g_atomic_int_get(p->go))
		;
	for (unsigned k = 0; k < PER_THREAD && !p->err; k++) {
		uint64_t page = (uint64_t)k * THREADS + p->id;

		if (k % 2) {
			p->err = mf_store_put(p->s, page, NULL, false);
		} else {
			page_bytes(buf, page, 5);
			p->err = mf_store_put(p->s, page, buf, false);
		}
	}
	return NULL;
}

static void test_concurrent_puts_keep_every_bit(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	Putter p[THREADS];
	GThread *t[THREADS];
	gint go = 0;
	Seen seen = { 0 };

	for (unsigned i = 0; i < THREADS; i++) {
		p[i] = (Putter){ .s = s, .id = i, .go = &go };
		t[i] = g_thread_new("put", put_loop, &p[i]);
	}
	g_atomic_int_set(&go, 1);
	for (unsigned i = 0; i < THREADS; i++) {
		g_thread_join(t[i]);
		assert_int_equal(p[i].err, 0);
	}
	assert_int_equal(mf_store_count(s), THREADS * PER_THREAD);
	for (uint64_t page = 0; page < THREADS * PER_THREAD; page++)
		check_page(s, page, (page / THREADS) % 2 ? 0 : 5, __LINE__);
	assert_int_equal(mf_store_has(s, THREADS * PER_THREAD), 0);

	/* The bits are in the map file, not only in the count. */
	s = reopen(f);
	assert_int_equal(mf_store_count(s), THREADS * PER_THREAD);
	seen.stop_after = 64;
	seen.stop_value = 1;
	assert_int_equal(mf_store_foreach(s, UINT64_MAX, collect, &seen), 1);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(seen.pages[i], i);
}

typedef struct SamePage {
	MfStore *s;
	gint *go;
	int err;
} SamePage;

static gpointer put_same(gpointer arg)
{
	SamePage *p = arg;
	uint8_t buf[MF_PAGE];

	page_bytes(buf, 77, 1);
	while (!g_atomic_int_get(p->go))
		;
	for (int i = 0; i < 200 && !p->err; i++)
		p->err = mf_store_put(p->s, 77, buf, false);
	return NULL;
}

/* Many puts of one page at once count it once. */
static void test_concurrent_puts_same_page(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	SamePage p[THREADS];
	GThread *t[THREADS];
	gint go = 0;

	for (unsigned i = 0; i < THREADS; i++) {
		p[i] = (SamePage){ .s = s, .go = &go };
		t[i] = g_thread_new("put", put_same, &p[i]);
	}
	g_atomic_int_set(&go, 1);
	for (unsigned i = 0; i < THREADS; i++) {
		g_thread_join(t[i]);
		assert_int_equal(p[i].err, 0);
	}
	assert_int_equal(mf_store_count(s), 1);
	assert_page(s, 77, 1);
	s = reopen(f);
	assert_int_equal(mf_store_count(s), 1);
}

#else /* UNIT_WRAP_IO */
/* ---- faults ---------------------------------------------------------- */

/* The data write runs out of space part way: the page is absent, the
 * others are untouched, and the page can be put once space is back. */
static void test_put_data_write_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint8_t buf[MF_PAGE];

	put_data(s, 1, 1, false);
	put_data(s, 3, 1, false);
	unit_io_fail("pwrite", "pages", ENOSPC, 1000);
	page_bytes(buf, 2, 1);
	assert_int_equal(mf_store_put(s, 2, buf, false), -ENOSPC);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 2), 0);
	assert_int_equal(mf_store_count(s), 2);
	assert_page(s, 1, 1);
	assert_page(s, 3, 1);

	s = reopen(f);
	assert_int_equal(mf_store_has(s, 2), 0);
	assert_int_equal(mf_store_count(s), 2);

	put_data(s, 2, 1, false);
	assert_page(s, 2, 1);
	assert_int_equal(mf_store_count(s), 3);
}

/* The map write fails: the bytes may be in the pages file, but the page is
 * not held, and the map byte keeps the bits it had. */
static void test_put_map_write_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint8_t buf[MF_PAGE];

	put_data(s, 8, 1, false);
	unit_io_fail("pwrite", "map", EIO, 0);
	page_bytes(buf, 9, 1);
	assert_int_equal(mf_store_put(s, 9, buf, false), -EIO);
	assert_int_equal(mf_store_put(s, 10, NULL, false), -EIO);
	assert_int_equal(unit_io_hits(), 2);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 9), 0);
	assert_int_equal(mf_store_has(s, 10), 0);
	assert_int_equal(mf_store_count(s), 1);
	assert_page(s, 8, 1);

	s = reopen(f);
	assert_int_equal(mf_store_has(s, 9), 0);
	assert_int_equal(mf_store_count(s), 1);
	assert_page(s, 8, 1);
}

/* Where the kernel cannot copy between the two files (a state directory
 * on another filesystem), the store copies by hand: the same bytes. */
static void test_copy_by_hand(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	int fd = src_file(f, 3, 2);

	unit_io_fail("copy_file_range", "pages", EXDEV, 0);
	assert_int_equal(mf_store_copy(s, 2, fd, false), 0);
	assert_int_equal(unit_io_hits(), 1);
	/* Known now: the next copy does not try again. */
	assert_int_equal(mf_store_copy(s, 0, fd, false), 0);
	assert_int_equal(unit_io_hits(), 1);
	unit_io_reset();
	assert_page(s, 2, 2);
	assert_page(s, 0, 2);
	assert_int_equal(mf_store_count(s), 2);
	close(fd);
}

/* The copy runs out of room part way: the page is absent. */
static void test_copy_write_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	int fd = src_file(f, 3, 2);

	unit_io_fail("pwrite", "pages", ENOSPC, 1000);
	assert_int_equal(mf_store_copy(s, 1, fd, false), -ENOSPC);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 1), 0);
	assert_int_equal(mf_store_count(s), 0);
	s = reopen(f);
	assert_int_equal(mf_store_has(s, 1), 0);
	close(fd);
}

/* Punching the hole of a zero page fails: absent. */
static void test_put_zero_punch_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);

	unit_io_fail("fallocate", "pages", EIO, 0);
	assert_int_equal(mf_store_put(s, 4, NULL, false), -EIO);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 4), 0);
	assert_int_equal(mf_store_count(s), 0);
}

/* A filesystem that cannot punch holes: a zero page must still read as
 * zeros, also where the pages file has bytes from before: a data page
 * rewritten as zeros, and the leftover of a put whose map write failed. */
static void test_put_zero_without_punch(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint8_t buf[MF_PAGE];

	put_data(s, 6, 1, false);
	unit_io_fail("pwrite", "map", ENOSPC, 0);
	page_bytes(buf, 5, 1);
	assert_int_equal(mf_store_put(s, 5, buf, false), -ENOSPC);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 5), 0);

	unit_io_fail("fallocate", "pages", EOPNOTSUPP, 0);
	assert_int_equal(mf_store_put(s, 5, NULL, false), 0);
	assert_int_equal(mf_store_put(s, 6, NULL, false), 0);
	assert_int_equal(unit_io_hits(), 2);
	unit_io_reset();
	assert_int_equal(mf_store_count(s), 2);
	assert_page(s, 5, 0);
	assert_page(s, 6, 0);
}

/* With sync, the data not reaching the disk leaves the page absent. */
static void test_put_sync_pages_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint8_t buf[MF_PAGE];

	unit_io_fail("fdatasync", "pages", EIO, 0);
	page_bytes(buf, 2, 1);
	assert_int_equal(mf_store_put(s, 2, buf, true), -EIO);
	assert_int_equal(mf_store_put(s, 3, NULL, true), -EIO);
	assert_int_equal(unit_io_hits(), 2);
	unit_io_reset();
	assert_int_equal(mf_store_has(s, 2), 0);
	assert_int_equal(mf_store_has(s, 3), 0);
	assert_int_equal(mf_store_count(s), 0);
	s = reopen(f);
	assert_int_equal(mf_store_count(s), 0);
}

/* With sync, the presence bit not reaching the disk: mf-store.h promises
 * "on error the page is absent". */
static void test_put_sync_map_fails(void **state)
{
	Fix *f = *state;
	MfStore *s = open_store(f, true);
	uint8_t buf[MF_PAGE];

	put_data(s, 1, 1, true);
	unit_io_fail("fdatasync", "map", EIO, 0);
	page_bytes(buf, 2, 1);
	assert_int_equal(mf_store_put(s, 2, buf, true), -EIO);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_int_equal(mf_store_count(s), 1);
	assert_int_equal(mf_store_has(s, 2), 0);
	assert_page(s, 1, 1);
	s = reopen(f);
	assert_int_equal(mf_store_count(s), 1);
	assert_int_equal(mf_store_has(s, 2), 0);
}
#endif /* UNIT_WRAP_IO */

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
#ifndef UNIT_WRAP_IO
		T(test_open_missing_and_create),
		T(test_put_get_data),
		T(test_put_zero_page),
		T(test_copy_from_file),
		T(test_count_survives_reopen),
		T(test_foreach_order_and_limit),
		T(test_concurrent_puts_keep_every_bit),
		T(test_concurrent_puts_same_page),
#else
		T(test_put_data_write_fails),
		T(test_put_map_write_fails),
		T(test_copy_by_hand),
		T(test_copy_write_fails),
		T(test_put_zero_punch_fails),
		T(test_put_zero_without_punch),
		T(test_put_sync_pages_fails),
		T(test_put_sync_map_fails),
#endif
	};
#undef T

#ifndef UNIT_WRAP_IO
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
#else
	return cmocka_run_group_tests_name("store-faults", tests, NULL, NULL);
#endif
}
