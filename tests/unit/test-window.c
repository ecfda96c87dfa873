/* test-window: the window cache (core/mf-window.c) on its own.
 *
 * Which windows are mapped is read from the cache's own counters: pinning a
 * window that is mapped counts a hit, one that is not counts a miss.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mf-window.h"

#define WS ((size_t)64 * 1024)
/* The test file: eight whole windows and a partial ninth. */
#define NWIN 9
#define FILE_SIZE (8 * WS + 1000)
#define MAX_HELD 64

typedef struct Fix {
	char *dir;
	MfWindowCache *cache;
	int fd;	  /* "a", O_RDWR */
	int fd_b; /* "b", O_RDWR, same size */
	MfWindow *held[MAX_HELD];
	unsigned nheld;
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);

	f->dir = unit_tmpdir();
	f->fd = unit_create(f->dir, "a", FILE_SIZE, O_RDWR, NULL);
	f->fd_b = unit_create(f->dir, "b", FILE_SIZE, O_RDWR, NULL);
	f->cache = mf_window_cache_new(WS, 4);
	assert_non_null(f->cache);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

	/* A failed assertion may leave windows pinned; the cache insists
	 * they are all unpinned before it is freed. */
	for (unsigned i = 0; i < f->nheld; i++)
		mf_window_unpin(f->held[i]);
	mf_window_cache_free(f->cache);
	close(f->fd);
	close(f->fd_b);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

/* Replace the fixture's cache by one with another size or budget. */
static void new_cache(Fix *f, size_t window_size, unsigned max_windows)
{
	assert_int_equal(f->nheld, 0);
	mf_window_cache_free(f->cache);
	f->cache = mf_window_cache_new(window_size, max_windows);
	assert_non_null(f->cache);
}

static MfWindow *pin_fd(Fix *f, int fd, bool writable, uint64_t off)
{
	MfWindow *w = NULL;

	assert_int_equal(mf_window_pin(f->cache, fd, writable, off, &w), 0);
	assert_non_null(w);
	assert_true(f->nheld < MAX_HELD);
	f->held[f->nheld++] = w;
	return w;
}

static MfWindow *pin(Fix *f, uint64_t off)
{
	return pin_fd(f, f->fd, false, off);
}

static void unpin(Fix *f, MfWindow *w)
{
	for (unsigned i = 0; i < f->nheld; i++) {
		if (f->held[i] == w) {
			f->held[i] = f->held[--f->nheld];
			mf_window_unpin(w);
			return;
		}
	}
	fail_msg("unpinning a window the test does not hold");
}

static MfWindowStats stats(Fix *f)
{
	MfWindowStats s;

	mf_window_cache_stats(f->cache, &s);
	return s;
}

/* Pin and unpin window idx of fd; true if it was mapped (a hit). */
static bool touch_fd(Fix *f, int fd, unsigned idx)
{
	MfWindowStats before = stats(f), after;
	MfWindow *w = pin_fd(f, fd, false, (uint64_t)idx * WS);

	unpin(f, w);
	after = stats(f);
	assert_int_equal(after.hits + after.misses,
			 before.hits + before.misses + 1);
	return after.hits == before.hits + 1;
}

static bool touch(Fix *f, unsigned idx)
{
	return touch_fd(f, f->fd, idx);
}

/* The window's bytes that lie inside the file. */
static size_t valid_bytes(uint64_t woff, size_t wsize)
{
	return FILE_SIZE - woff < wsize ? (size_t)(FILE_SIZE - woff) : wsize;
}

static bool is_mapped(const void *addr)
{
	unsigned char vec[1];

	return mincore((void *)addr, 1, vec) == 0 || errno != ENOMEM;
}

/* Whether the mapping holding addr allows stores, from /proc/self/maps. */
static bool mapped_writable(const void *addr)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false, writable = false;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
		    (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
			found = true;
			writable = perms[1] == 'w';
		}
	}
	fclose(fp);
	assert_true(found);
	return writable;
}

static void test_new_rejects_bad_parameters(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t bad_sizes[] = { 0,	       1,      page / 2, page + 1,
				     3 * page, WS - 1, WS + page };
	(void)state;

	for (size_t i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
		errno = 0;
		assert_null(mf_window_cache_new(bad_sizes[i], 4));
		assert_int_equal(errno, EINVAL);
	}
	/* Zero budget. */
	errno = 0;
	assert_null(mf_window_cache_new(WS, 0));
	assert_int_equal(errno, EINVAL);
}

static void test_new_accepts_good_parameters(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t sizes[] = { page, 2 * page, WS, (size_t)1 << 20,
				 (size_t)1 << 26 };
	(void)state;

	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		MfWindowCache *c = mf_window_cache_new(sizes[i], 1);
		MfWindowStats s;

		assert_non_null(c);
		assert_int_equal(mf_window_cache_window_size(c), sizes[i]);
		mf_window_cache_stats(c, &s);
		assert_int_equal(s.mapped_now, 0);
		assert_int_equal(s.maps, 0);
		assert_int_equal(s.unmaps, 0);
		assert_int_equal(s.hits, 0);
		assert_int_equal(s.misses, 0);
		assert_int_equal(s.map_failures, 0);
		mf_window_cache_free(c);
	}
	mf_window_cache_free(NULL);
}

/* A window starts at off rounded down to the window size and its memory is
 * exactly the file's bytes from there, for several window sizes. */
static void test_pin_alignment(void **state)
{
	Fix *f = *state;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t sizes[] = { page, WS, (size_t)1 << 20 };
	const uint64_t offs[] = {
		0,  1,		page - 1,   page,   WS - 1,
		WS, WS + 12345, 3 * WS + 7, 8 * WS, FILE_SIZE - 1
	};

	for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
		size_t wsize = sizes[s];

		new_cache(f, wsize, 4);
		for (size_t i = 0; i < G_N_ELEMENTS(offs); i++) {
			uint64_t off = offs[i];
			MfWindow *w = pin(f, off);
			uint64_t woff = mf_window_offset(w);
			const uint8_t *addr =
				(const uint8_t *)mf_window_addr(w);

			assert_int_equal(woff, off & ~(uint64_t)(wsize - 1));
			assert_int_equal(woff % wsize, 0);
			assert_true(off - woff < wsize);
			assert_int_equal(addr[off - woff], unit_pattern(off));
			unit_assert_pattern(addr, woff,
					    valid_bytes(woff, wsize));
			unpin(f, w);
		}
	}
}

/* The window is MAP_SHARED: bytes written to the file show in it at the
 * same offset, and stores into a writable window reach the file. */
static void test_pin_maps_file_coherently(void **state)
{
	Fix *f = *state;
	uint8_t mark[50], back[50];
	MfWindow *w = pin(f, 2 * WS + 5);
	MfWindow *ww;
	char *addr = mf_window_addr(w);

	memset(mark, 0xAB, sizeof(mark));
	unit_pwrite(f->fd, mark, sizeof(mark), 2 * WS + 100);
	assert_memory_equal(addr + 100, mark, sizeof(mark));
	/* Neighbours untouched. */
	unit_assert_pattern(addr, 2 * WS, 100);
	unit_assert_pattern(addr + 150, 2 * WS + 150, 100);
	unpin(f, w);

	ww = pin_fd(f, f->fd_b, true, 5 * WS + 77);
	addr = mf_window_addr(ww);
	assert_int_equal(mf_window_offset(ww), 5 * WS);
	memset(addr + 77, 0x5C, sizeof(mark));
	unit_pread(f->fd_b, back, sizeof(back), 5 * WS + 77);
	memset(mark, 0x5C, sizeof(mark));
	assert_memory_equal(back, mark, sizeof(mark));
	unpin(f, ww);
}

/* Two pins of one window share it: one map, one miss, then a hit. */
static void test_pin_same_window_shared(void **state)
{
	Fix *f = *state;
	MfWindow *a = pin(f, WS + 1);
	MfWindow *b = pin(f, 2 * WS - 1);
	MfWindowStats s = stats(f);

	assert_ptr_equal(a, b);
	assert_ptr_equal(mf_window_addr(a), mf_window_addr(b));
	assert_int_equal(s.maps, 1);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.mapped_now, 1);
	unpin(f, a);
	/* Still pinned once: touching it again is a hit, not a remap. */
	assert_true(touch(f, 1));
	unpin(f, b);
	assert_int_equal(stats(f).maps, 1);
	assert_int_equal(stats(f).unmaps, 0);
}

/* A pinned window survives any amount of eviction pressure, and the budget
 * may be exceeded while every mapped window is pinned. */
static void test_pinned_never_evicted(void **state)
{
	Fix *f = *state;
	MfWindow *w0, *ws[4];
	MfWindowStats s;

	new_cache(f, WS, 2);
	w0 = pin(f, 0);
	for (unsigned i = 1; i < NWIN; i++)
		touch(f, i);
	s = stats(f);
	assert_int_equal(s.mapped_now, 2);
	assert_int_equal(s.maps, NWIN);
	assert_int_equal(s.unmaps, NWIN - 2);
	/* Its memory is still the file's. */
	assert_true(is_mapped(mf_window_addr(w0)));
	unit_assert_pattern(mf_window_addr(w0), 0, WS);
	unpin(f, w0);

	/* Now four pinned at once with a budget of two. */
	new_cache(f, WS, 2);
	for (unsigned i = 0; i < 4; i++)
		ws[i] = pin(f, (uint64_t)i * WS);
	s = stats(f);
	assert_int_equal(s.mapped_now, 4);
	assert_int_equal(s.unmaps, 0);
	for (unsigned i = 0; i < 4; i++)
		unit_assert_pattern(mf_window_addr(ws[i]), (uint64_t)i * WS,
				    WS);
	/* A fifth pin must not evict any of them either. */
	ws[0] = pin(f, 4 * WS);
	s = stats(f);
	assert_int_equal(s.mapped_now, 5);
	assert_int_equal(s.unmaps, 0);
	for (unsigned i = 1; i < 4; i++)
		unit_assert_pattern(mf_window_addr(ws[i]), (uint64_t)i * WS,
				    WS);
	while (f->nheld)
		unpin(f, f->held[0]);
	/* Back within the budget once the pins drop. */
	s = stats(f);
	assert_int_equal(s.mapped_now, 2);
	assert_int_equal(s.unmaps, 3);
	assert_int_equal(s.maps - s.unmaps, s.mapped_now);
}

/* Least recently used goes first; a hit makes a window the most recent. */
static void test_lru_eviction_order(void **state)
{
	Fix *f = *state;
	MfWindowStats s;

	new_cache(f, WS, 3);
	for (unsigned i = 0; i < 6; i++)
		assert_false(touch(f, i));
	s = stats(f);
	assert_int_equal(s.mapped_now, 3);
	assert_int_equal(s.unmaps, 3);
	/* Mapped now: 3, 4, 5 (oldest first). Refresh 3: 4, 5, 3. */
	assert_true(touch(f, 3));
	/* 6 evicts 4: 5, 3, 6. */
	assert_false(touch(f, 6));
	assert_true(touch(f, 5));  /* 3, 6, 5 */
	assert_true(touch(f, 3));  /* 6, 5, 3 */
	assert_true(touch(f, 6));  /* 5, 3, 6 */
	assert_false(touch(f, 4)); /* evicts 5: 3, 6, 4 */
	assert_false(touch(f, 0)); /* evicts 3: 6, 4, 0 */
	assert_false(touch(f, 5)); /* evicts 6: 4, 0, 5 */
	assert_true(touch(f, 4));
	assert_true(touch(f, 0));
	assert_true(touch(f, 5));
	assert_false(touch(f, 3));
	s = stats(f);
	assert_int_equal(s.mapped_now, 3);
	assert_int_equal(s.maps, 11);
	assert_int_equal(s.unmaps, 8);
	assert_int_equal(s.hits, 7);
	assert_int_equal(s.misses, 11);
	assert_int_equal(s.map_failures, 0);
}

static void test_stats_counters(void **state)
{
	Fix *f = *state;
	MfWindow *a, *b;
	MfWindowStats s;

	new_cache(f, WS, 1);
	a = pin(f, 0);
	s = stats(f);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.maps, 1);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.mapped_now, 1);
	b = pin(f, 10);
	s = stats(f);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.maps, 1);
	unpin(f, a);
	unpin(f, b);
	s = stats(f);
	assert_int_equal(s.mapped_now, 1);
	assert_int_equal(s.unmaps, 0);
	/* Budget one: the next window replaces it. */
	a = pin(f, WS);
	s = stats(f);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.maps, 2);
	assert_int_equal(s.unmaps, 1);
	assert_int_equal(s.mapped_now, 1);
	unpin(f, a);
	/* Another fd's window at the same offset is another window. */
	assert_false(touch_fd(f, f->fd_b, 1));
	assert_false(touch_fd(f, f->fd, 1));
	s = stats(f);
	assert_int_equal(s.maps, 4);
	assert_int_equal(s.unmaps, 3);
	assert_int_equal(s.mapped_now, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.misses, 4);
	assert_int_equal(s.map_failures, 0);
}

/* A failed mmap is counted and leaves the cache as it was. */
static void test_pin_failure(void **state)
{
	Fix *f = *state;
	MfWindow *w = (MfWindow *)&w;
	MfWindowStats before, s;
	char *path;
	int ro;

	int closed = dup(f->fd);

	assert_true(closed >= 0);
	close(closed);
	assert_false(touch(f, 0));
	before = stats(f);
	/* A closed fd. */
	assert_int_equal(mf_window_pin(f->cache, closed, false, 0, &w), -EBADF);
	assert_null(w);
	s = stats(f);
	assert_int_equal(s.map_failures, before.map_failures + 1);
	assert_int_equal(s.mapped_now, before.mapped_now);
	assert_int_equal(s.maps, before.maps);
	assert_int_equal(s.unmaps, before.unmaps);

	/* A writable window of a read-only fd. */
	ro = unit_create(f->dir, "ro", WS, O_RDONLY, &path);
	w = (MfWindow *)&w;
	assert_int_equal(mf_window_pin(f->cache, ro, true, 0, &w), -EACCES);
	assert_null(w);
	s = stats(f);
	assert_int_equal(s.map_failures, before.map_failures + 2);
	assert_int_equal(s.mapped_now, before.mapped_now);
	/* A read-only one works. */
	assert_false(touch_fd(f, ro, 0));
	mf_window_cache_forget_fd(f->cache, ro);
	close(ro);
	g_free(path);

	/* An offset mmap cannot take (past INT64_MAX). */
	w = (MfWindow *)&w;
	assert_int_equal(mf_window_pin(f->cache, f->fd, false, UINT64_MAX - 5,
				       &w),
			 -EOVERFLOW);
	assert_null(w);
	assert_int_equal(stats(f).map_failures, before.map_failures + 3);

	/* The failures cost nothing: the earlier window is still there. */
	assert_true(touch(f, 0));
}

/* mf-window.h: "A read-only window of an fd is replaced by a writable one
 * on demand." */
/* A window is mapped with the protection its fd's first pin asked for;
 * every pin of one fd asks for the same (mf-window.h). */
static void test_window_protection(void **state)
{
	Fix *f = *state;
	MfWindow *w = pin(f, 3 * WS);

	assert_false(mapped_writable(mf_window_addr(w)));
	unpin(f, w);
	w = pin_fd(f, f->fd, true, 5 * WS + 10);
	assert_int_equal(mf_window_offset(w), 5 * WS);
	assert_true(mapped_writable(mf_window_addr(w)));
	unit_assert_pattern(mf_window_addr(w), 5 * WS, WS);
	unpin(f, w);
}

static void test_sync_range(void **state)
{
	Fix *f = *state;
	MfWindow *a = pin_fd(f, f->fd, true, 0);
	MfWindow *b = pin_fd(f, f->fd, true, 2 * WS);
	uint8_t back[16];

	memset(mf_window_addr(a) + 100, 0x11, 16);
	memset(mf_window_addr(b) + 4097, 0x22, 16);
	unpin(f, a);
	unpin(f, b);

	assert_int_equal(mf_window_cache_sync(f->cache, f->fd, 0, 0), 0);
	/* Unaligned starts inside windows (msync needs a page start). */
	assert_int_equal(mf_window_cache_sync(f->cache, f->fd, 100, 16), 0);
	assert_int_equal(
		mf_window_cache_sync(f->cache, f->fd, 2 * WS + 4097, 16), 0);
	/* Spanning both windows and the unmapped one between. */
	assert_int_equal(
		mf_window_cache_sync(f->cache, f->fd, 50, 3 * WS - 100), 0);
	/* Past EOF, an unmapped range, an fd with no windows. */
	assert_int_equal(mf_window_cache_sync(f->cache, f->fd, 8 * WS, WS), 0);
	assert_int_equal(mf_window_cache_sync(f->cache, f->fd, 5 * WS, 10), 0);
	assert_int_equal(mf_window_cache_sync(f->cache, f->fd_b, 0, 0), 0);
	/* A length that runs past 2^64 means "to the end". */
	assert_int_equal(
		mf_window_cache_sync(f->cache, f->fd, WS + 1, UINT64_MAX), 0);
	/* Sync pins and unpins: nothing is left pinned or evicted. */
	assert_int_equal(stats(f).mapped_now, 2);
	assert_int_equal(stats(f).unmaps, 0);

	unit_pread(f->fd, back, 16, 100);
	assert_int_equal(back[0], 0x11);
	assert_int_equal(back[15], 0x11);
	unit_pread(f->fd, back, 16, 2 * WS + 4097);
	assert_int_equal(back[0], 0x22);
	assert_int_equal(back[15], 0x22);
}

static void test_forget_fd(void **state)
{
	Fix *f = *state;
	void *gone[2];
	MfWindowStats s;

	new_cache(f, WS, 8);
	for (unsigned i = 0; i < 3; i++) {
		touch_fd(f, f->fd, i);
		touch_fd(f, f->fd_b, i);
	}
	{
		MfWindow *w = pin(f, 0);

		gone[0] = mf_window_addr(w);
		unpin(f, w);
		w = pin(f, 2 * WS);
		gone[1] = mf_window_addr(w);
		unpin(f, w);
	}
	assert_int_equal(stats(f).mapped_now, 6);
	mf_window_cache_forget_fd(f->cache, f->fd);
	/* Really unmapped, before anything else can reuse the addresses. */
	assert_false(is_mapped(gone[0]));
	assert_false(is_mapped(gone[1]));
	s = stats(f);
	assert_int_equal(s.mapped_now, 3);
	assert_int_equal(s.unmaps, 3);
	/* The other fd's windows are untouched, this fd's are gone. */
	for (unsigned i = 0; i < 3; i++)
		assert_true(touch_fd(f, f->fd_b, i));
	for (unsigned i = 0; i < 3; i++)
		assert_false(touch_fd(f, f->fd, i));
	/* Forgetting an fd without windows is harmless. */
	mf_window_cache_forget_fd(f->cache, 999);
	assert_int_equal(stats(f).mapped_now, 6);
}

typedef struct Hammer {
	Fix *f;
	unsigned seed;
	unsigned errors;
	unsigned pins;
} Hammer;

static gpointer hammer(gpointer p)
{
	Hammer *h = p;
	GRand *rand = g_rand_new_with_seed(h->seed);

	for (unsigned i = 0; i < 3000; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(rand, 0, FILE_SIZE);
		int fd = i & 1 ? h->f->fd : h->f->fd_b;
		MfWindow *w;
		const uint8_t *addr;
		uint64_t woff;

		if (mf_window_pin(h->f->cache, fd, false, off, &w) < 0) {
			h->errors++;
			continue;
		}
		h->pins++;
		woff = mf_window_offset(w);
		addr = (const uint8_t *)mf_window_addr(w);
		if (woff != (off & ~(uint64_t)(WS - 1)) ||
		    addr[off - woff] != unit_pattern(off) ||
		    addr[0] != unit_pattern(woff))
			h->errors++;
		mf_window_unpin(w);
	}
	g_rand_free(rand);
	return NULL;
}

/* Many threads pinning through a tiny budget: every pin sees the right
 * bytes, the counters add up and the budget holds at the end. */
static void test_concurrent_pins(void **state)
{
	Fix *f = *state;
	Hammer h[4];
	GThread *t[4];
	MfWindowStats s;
	unsigned pins = 0;

	new_cache(f, WS, 3);
	for (unsigned i = 0; i < 4; i++) {
		h[i] = (Hammer){ .f = f, .seed = 17 + i };
		t[i] = g_thread_new("hammer", hammer, &h[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		assert_int_equal(h[i].errors, 0);
		pins += h[i].pins;
	}
	s = stats(f);
	assert_int_equal(s.hits + s.misses, pins);
	assert_int_equal(s.maps, s.misses);
	assert_int_equal(s.maps - s.unmaps, s.mapped_now);
	assert_true(s.mapped_now <= 3);
}

typedef struct Racer {
	Fix *f;
	pthread_barrier_t *start;
	uint64_t off;
	MfWindow *got;
} Racer;

static gpointer race_pin(gpointer p)
{
	Racer *r = p;

	pthread_barrier_wait(r->start);
	if (mf_window_pin(r->f->cache, r->f->fd, false, r->off, &r->got) < 0)
		r->got = NULL;
	return NULL;
}

/* Threads missing the same window at once map outside the cache's lock:
 * they all end up with one window, the others' maps undone, and the
 * counters still add up. */
static void test_concurrent_misses_share(void **state)
{
	Fix *f = *state;
	pthread_barrier_t start;
	Racer r[6];
	GThread *t[6];
	MfWindowStats s;

	for (unsigned round = 0; round < 20; round++) {
		uint64_t off = (uint64_t)(round % 4) * WS + 123;

		new_cache(f, WS, 2);
		pthread_barrier_init(&start, NULL, 6);
		for (unsigned i = 0; i < 6; i++) {
			r[i] = (Racer){ .f = f, .start = &start, .off = off };
			t[i] = g_thread_new("racer", race_pin, &r[i]);
		}
		for (unsigned i = 0; i < 6; i++)
			g_thread_join(t[i]);
		pthread_barrier_destroy(&start);
		for (unsigned i = 0; i < 6; i++) {
			assert_non_null(r[i].got);
			assert_ptr_equal(r[i].got, r[0].got);
		}
		assert_int_equal(mf_window_offset(r[0].got), off - 123);
		assert_int_equal(mf_window_addr(r[0].got)[123],
				 (char)unit_pattern(off));
		s = stats(f);
		assert_int_equal(s.mapped_now, 1);
		assert_int_equal(s.hits + s.misses, 6);
		assert_int_equal(s.maps, s.misses);
		assert_int_equal(s.maps - s.unmaps, s.mapped_now);
		for (unsigned i = 0; i < 6; i++)
			mf_window_unpin(r[i].got);
	}
}

static void bump(void *arg)
{
	g_usleep(1000);
	g_atomic_int_inc((gint *)arg);
}

/* Deferred work runs on the helper thread; draining and freeing the
 * cache wait for all of it. */
static void test_defer_runs_before_free(void **state)
{
	Fix *f = *state;
	gint done = 0;

	for (int i = 0; i < 5; i++)
		mf_window_cache_defer(f->cache, bump, &done);
	mf_window_cache_drain(f->cache);
	assert_int_equal(g_atomic_int_get(&done), 5);
	/* Work deferred after a drain runs too. */
	for (int i = 0; i < 15; i++)
		mf_window_cache_defer(f->cache, bump, &done);
	mf_window_cache_free(f->cache);
	f->cache = mf_window_cache_new(WS, 4);
	assert_int_equal(g_atomic_int_get(&done), 20);
}

/* Populating a pinned window: the pages come in, the bytes are the
 * file's, the figure counts it; ranges are clipped to the window. */
static void test_populate(void **state)
{
	Fix *f = *state;
	MfWindow *w = pin_fd(f, f->fd, false, WS);
	unsigned char vec[WS / 4096];

	assert_int_equal(mf_window_populate(w, 100, WS - 200), 0);
	assert_int_equal(stats(f).populates, 1);
	assert_int_equal(mincore(mf_window_addr(w), WS, vec), 0);
	for (size_t i = 0; i < sizeof(vec); i++)
		assert_true(vec[i] & 1);
	assert_int_equal(mf_window_populate(w, WS - 10, 1000), 0);
	assert_int_equal(mf_window_populate(w, WS, 10), 0);
	assert_int_equal(stats(f).populates, 2);
	unit_assert_pattern((const uint8_t *)mf_window_addr(w), WS, WS);
}

/* Writes to pages new to a window go by pwrite until a page has been
 * rewritten MF_WINDOW_REWRITES times; then it is faulted in once, in one
 * call, and copied into from then on. Pages of a window the file lost
 * through us (forget_written) are new again; a read-only window always
 * copies (it is never written). */
static void test_prepare_write(void **state)
{
	Fix *f = *state;
	MfWindow *w = pin_fd(f, f->fd, true, 0);
	unsigned char vec[WS / 4096];

	for (int i = 0; i < MF_WINDOW_REWRITES; i++)
		assert_false(mf_window_prepare_write(w, 4096, 8192));
	assert_int_equal(stats(f).write_populated, 0);
	/* A write that also covers a page new to the window: pwrite. */
	assert_false(mf_window_prepare_write(w, 4000, 8192));
	assert_true(mf_window_prepare_write(w, 4096, 8192));
	assert_int_equal(stats(f).write_populated, 2);
	assert_int_equal(mincore(mf_window_addr(w) + 4096, 8192, vec), 0);
	assert_true((vec[0] & 1) && (vec[1] & 1));
	assert_true(mf_window_prepare_write(w, 5000, 100));
	assert_int_equal(stats(f).write_populated, 2);

	mf_window_cache_forget_written(f->cache, f->fd);
	assert_false(mf_window_prepare_write(w, 4096, 8192));
	assert_true(mf_window_prepare_write(pin(f, WS), 0, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_parameters),
		cmocka_unit_test(test_new_accepts_good_parameters),
		cmocka_unit_test_setup_teardown(test_pin_alignment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pin_maps_file_coherently,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_same_window_shared,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinned_never_evicted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_eviction_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stats_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pin_failure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_window_protection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_range, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forget_fd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_pins, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_misses_share,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_runs_before_free,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_populate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prepare_write, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
