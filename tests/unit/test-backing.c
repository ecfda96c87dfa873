/* test-backing: one backing file served through the window cache
 * (core/mf-backing.c), including a file that grows or shrinks behind the
 * engine's back.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/falloc.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mf-backing.h"
#include "mf-guard.h"
#include "mf-store.h"

#define WS ((size_t)64 * 1024)
#define MAXB 4

typedef struct Fix {
	char *dir;
	MfWindowCache *cache;
	MfBacking *b[MAXB];
	char *path[MAXB];
	int ext[MAXB]; /* the test's own fd of the same file */
	MfReadVec vec; /* released in teardown if still held */
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);

	f->dir = unit_tmpdir();
	f->cache = mf_window_cache_new(WS, 8);
	assert_non_null(f->cache);
	for (int i = 0; i < MAXB; i++)
		f->ext[i] = -1;
	/* Here for the record; cmocka swaps SIGBUS handlers around each
	 * call, so every test installs the guard again (see unit.h). */
	unit_guard();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

	mf_read_vec_release(&f->vec);
	for (int i = 0; i < MAXB; i++) {
		mf_backing_unref(f->b[i]);
		if (f->ext[i] >= 0)
			close(f->ext[i]);
		g_free(f->path[i]);
	}
	mf_window_cache_free(f->cache);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

/* Open backing i on a new file of size pattern bytes (sparse: no data).
 * f->ext[i] is a second O_RDWR fd of the same file for the test's use. */
static MfBacking *open_backing(Fix *f, int i, uint64_t size, bool sparse,
			       bool writable)
{
	char name[16];
	int flags = writable ? O_RDWR : O_RDONLY;
	int fd;

	g_snprintf(name, sizeof(name), "file%d", i);
	fd = sparse ? unit_create_sparse(f->dir, name, size, flags,
					 &f->path[i]) :
		      unit_create(f->dir, name, size, flags, &f->path[i]);
	assert_int_equal(mf_backing_new(f->cache, fd, writable, &f->b[i]), 0);
	assert_non_null(f->b[i]);
	assert_int_equal(mf_backing_fd(f->b[i]), fd);
	assert_true(mf_backing_writable(f->b[i]) == writable);
	f->ext[i] = open(f->path[i], O_RDWR | O_CLOEXEC);
	assert_true(f->ext[i] >= 0);
	return f->b[i];
}

static MfWindowStats wstats(Fix *f)
{
	MfWindowStats s;

	mf_window_cache_stats(f->cache, &s);
	return s;
}

static MfIoStats iostats(void)
{
	MfIoStats s;

	mf_backing_io_stats(&s);
	return s;
}

/* Gather f->vec into buf, checking its shape. */
static void vec_gather(const MfReadVec *v, uint8_t *buf)
{
	size_t n = 0;

	assert_true(v->niov >= 0 && v->niov <= MF_READ_VEC_MAX);
	assert_true(v->npins >= 0 && v->npins <= MF_READ_VEC_MAX);
	for (int i = 0; i < v->niov; i++) {
		memcpy(buf + n, v->iov[i].iov_base, v->iov[i].iov_len);
		n += v->iov[i].iov_len;
	}
	assert_int_equal(n, v->bytes);
}

static void test_new_rejects_non_files(void **state)
{
	Fix *f = *state;
	MfBacking *b = NULL;
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(mf_backing_new(f->cache, fd, false, &b), -EINVAL);
	assert_null(b);
	close(fd);
	assert_int_equal(mf_backing_new(f->cache, fd, false, &b), -EBADF);
	assert_null(b);
}

/* The last unref forgets the backing's windows before closing its fd, so
 * a file opened later under the same fd number never sees them. */
static void test_unref_forgets_windows(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 3 * WS, false, true);
	uint8_t buf[100];
	char *path;
	int fd;

	unit_guard();
	assert_int_equal(mf_backing_read_copy(b, WS + 7, buf, 100), 100);
	assert_int_equal(wstats(f).mapped_now, 1);
	/* A second reference keeps it alive. */
	assert_ptr_equal(mf_backing_ref(b), b);
	mf_backing_unref(b);
	assert_int_equal(mf_backing_read_copy(b, WS + 7, buf, 100), 100);
	assert_int_equal(wstats(f).mapped_now, 1);
	fd = mf_backing_fd(b);
	mf_backing_unref(b);
	f->b[0] = NULL;
	assert_int_equal(wstats(f).mapped_now, 0);

	/* Same fd number, other bytes. */
	path = g_build_filename(f->dir, "other", NULL);
	{
		int o = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

		assert_int_equal(o, fd);
		memset(buf, 0x99, sizeof(buf));
		for (uint64_t off = 0; off < 3 * WS; off += sizeof(buf))
			unit_pwrite(o, buf, sizeof(buf), off);
		assert_int_equal(mf_backing_new(f->cache, o, true, &f->b[0]),
				 0);
	}
	g_free(path);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(mf_backing_read_copy(f->b[0], WS + 7, buf, 100), 100);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x99);
}

static void test_read_within_size(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 200000, false, true);
	uint8_t buf[3 * WS];
	MfIoStats io = iostats();
	uint64_t size = 0;

	unit_guard();
	assert_int_equal(mf_backing_size(b, &size), 0);
	assert_int_equal(size, 200000);
	assert_int_equal(mf_backing_read_copy(b, 1000, buf, 5000), 5000);
	unit_assert_pattern(buf, 1000, 5000);
	assert_int_equal(iostats().bytes_read, io.bytes_read + 5000);

	/* The iovec form, inside one window. */
	assert_int_equal(mf_backing_read(b, 7, 300, &f->vec), 300);
	assert_int_equal(f->vec.niov, 1);
	assert_int_equal(f->vec.npins, 1);
	vec_gather(&f->vec, buf);
	unit_assert_pattern(buf, 7, 300);
	mf_read_vec_release(&f->vec);
	assert_int_equal(f->vec.niov, 0);

	/* Across a window boundary: one iovec per window. */
	assert_int_equal(mf_backing_read(b, WS - 10, 20, &f->vec), 20);
	assert_int_equal(f->vec.niov, 2);
	assert_int_equal(f->vec.npins, 2);
	assert_int_equal(f->vec.iov[0].iov_len, 10);
	assert_int_equal(f->vec.iov[1].iov_len, 10);
	vec_gather(&f->vec, buf);
	unit_assert_pattern(buf, WS - 10, 20);
	mf_read_vec_release(&f->vec);
	/* Over three windows, the middle one whole. */
	assert_int_equal(mf_backing_read(b, WS - 10, WS + 20, &f->vec),
			 WS + 20);
	assert_int_equal(f->vec.niov, 3);
	assert_int_equal(f->vec.npins, 3);
	assert_int_equal(f->vec.iov[1].iov_len, WS);
	vec_gather(&f->vec, buf);
	unit_assert_pattern(buf, WS - 10, WS + 20);
	mf_read_vec_release(&f->vec);
	/* Released: truncation (which takes the lock exclusively) works. */
	assert_int_equal(mf_backing_truncate(b, 200000), 0);
}

static void test_read_at_and_after_eof(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 10000, false, true);
	const uint64_t offs[] = { 10000, 10001, 5 * WS, (uint64_t)INT64_MAX,
				  UINT64_MAX - 10 };
	uint8_t buf[64];

	unit_guard();
	for (size_t i = 0; i < G_N_ELEMENTS(offs); i++) {
		assert_int_equal(mf_backing_read_copy(b, offs[i], buf, 64), 0);
		assert_int_equal(mf_backing_read(b, offs[i], 64, &f->vec), 0);
		assert_int_equal(f->vec.bytes, 0);
		assert_int_equal(f->vec.niov, 0);
		mf_read_vec_release(&f->vec);
	}
	/* A zero-length read inside the file is 0 as well. */
	assert_int_equal(mf_backing_read_copy(b, 100, buf, 0), 0);
	/* No lock left held by the EOF paths. */
	assert_int_equal(mf_backing_truncate(b, 10), 0);
}

static void test_read_clamps_at_eof(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 10000, false, true);
	uint8_t buf[5000];

	unit_guard();
	memset(buf, 0xEE, sizeof(buf));
	assert_int_equal(mf_backing_read_copy(b, 9000, buf, 5000), 1000);
	unit_assert_pattern(buf, 9000, 1000);
	/* Nothing written past what was returned. */
	assert_int_equal(buf[1000], 0xEE);
	assert_int_equal(mf_backing_read(b, 9999, 5000, &f->vec), 1);
	mf_read_vec_release(&f->vec);
}

static void test_read_caps_at_read_max(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 3 << 20, false, true);
	uint8_t *buf = unit_alloc(MF_READ_MAX);

	unit_guard();
	assert_int_equal(mf_backing_read(b, 12345, 2 << 20, &f->vec),
			 MF_READ_MAX);
	vec_gather(&f->vec, buf);
	mf_read_vec_release(&f->vec);
	unit_assert_pattern(buf, 12345, MF_READ_MAX);
}

static int small_window_read(void *arg)
{
	const char *path = arg;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = MF_READ_MAX;
	MfWindowCache *cache = mf_window_cache_new(page, 8);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *buf = unit_alloc(len);
	MfBacking *b;
	MfReadVec v;
	ssize_t r;

	if (!cache || fd < 0 || mf_backing_new(cache, fd, true, &b) < 0)
		return 10;
	/* The iovec form: a count within the array, and right bytes. */
	r = mf_backing_read(b, 0, len, &v);
	if (r <= 0 || v.niov > MF_READ_VEC_MAX || v.npins > MF_READ_VEC_MAX)
		return 11;
	for (int i = 0, n = 0; i < v.niov; i++) {
		for (size_t j = 0; j < v.iov[i].iov_len; j++, n++)
			if (((uint8_t *)v.iov[i].iov_base)[j] !=
			    unit_pattern((uint64_t)n))
				return 12;
	}
	mf_read_vec_release(&v);
	/* The copying form serves the whole length. */
	r = mf_backing_read_copy(b, 100, buf, len);
	if (r != (ssize_t)len)
		return 13;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != unit_pattern(100 + i))
			return 14;
	mf_backing_unref(b);
	mf_window_cache_free(cache);
	return 0;
}

/* The smallest window the cache accepts (a page) with the largest read:
 * more windows than MF_READ_VEC_MAX. Run in a child, as an overflow of
 * the read vector would corrupt the stack. */
static void test_read_with_page_sized_windows(void **state)
{
	Fix *f = *state;
	int status;

	open_backing(f, 0, 2 << 20, false, true);
	status = unit_in_child(small_window_read, f->path[0]);
	if (WIFSIGNALED(status))
		print_error("child killed by signal %d\n", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A leading hole is served from zeros without mapping anything. */
static void test_read_leading_hole(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 4 << 20, true, true);
	uint8_t data[8192];
	uint8_t *buf = unit_alloc(MF_READ_MAX);
	MfWindowStats before;

	unit_guard();
	unit_fill(data, 3 << 20, sizeof(data));
	unit_pwrite(f->ext[0], data, sizeof(data), 3 << 20);
	before = wstats(f);
	memset(buf, 0xEE, MF_READ_MAX);
	assert_int_equal(mf_backing_read_copy(b, 0, buf, MF_READ_MAX),
			 MF_READ_MAX);
	unit_assert_zero(buf, MF_READ_MAX);
	assert_int_equal(mf_backing_read(b, 5, 2 << 20, &f->vec), MF_READ_MAX);
	assert_int_equal(f->vec.npins, 0);
	mf_read_vec_release(&f->vec);
	assert_int_equal(wstats(f).misses, before.misses);
	assert_int_equal(wstats(f).hits, before.hits);
	assert_int_equal(wstats(f).maps, before.maps);

	/* Hole then data: zeros, then the bytes, one window mapped. */
	memset(buf, 0xEE, 3 * 4096);
	assert_int_equal(mf_backing_read_copy(b, (3 << 20) - 4096, buf,
					      3 * 4096),
			 3 * 4096);
	unit_assert_zero(buf, 4096);
	unit_assert_pattern(buf + 4096, 3 << 20, 8192);
	assert_int_equal(wstats(f).misses, before.misses + 1);
	/* A trailing hole reads as zeros too. */
	assert_int_equal(mf_backing_read_copy(b, (4 << 20) - 100, buf, 1000),
			 100);
	unit_assert_zero(buf, 100);
}

static blkcnt_t blocks_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_blocks;
}

/* Holes within a read are answered from zeros too, not through a window:
 * on tmpfs (a memfd here) a window's read fault allocates the page. The
 * data extent found is forgotten when the file loses data through us. */
static void test_read_inner_holes_allocate_nothing(void **state)
{
	Fix *f = *state;
	int fd = memfd_create("inner-holes", MFD_CLOEXEC);
	uint8_t data[256 << 10];
	uint8_t *buf = unit_alloc(MF_READ_MAX);
	MfBacking *b;

	unit_guard();
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	unit_fill(data, 0, sizeof(data));
	unit_pwrite(fd, data, sizeof(data), 0);         /* [0, 256K) */
	unit_pwrite(fd, data, 4096, 600 << 10);         /* [600K, 604K) */
	assert_int_equal(blocks_of(fd), (260 << 10) / 512);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	f->b[0] = b;

	memset(buf, 0xEE, MF_READ_MAX);
	assert_int_equal(mf_backing_read_copy(b, 0, buf, MF_READ_MAX),
			 MF_READ_MAX);
	unit_assert_pattern(buf, 0, sizeof(data));
	unit_assert_zero(buf + (256 << 10), (600 - 256) << 10);
	unit_assert_pattern(buf + (600 << 10), 0, 4096);
	unit_assert_zero(buf + (604 << 10), (1024 - 604) << 10);
	assert_int_equal(blocks_of(fd), (260 << 10) / 512);

	/* A read within [0, 256K) remembers that extent; a hole punched in
	 * it through the backing must not be read through a window next. */
	assert_int_equal(mf_backing_read_copy(b, 0, buf, 128 << 10), 128 << 10);
	assert_int_equal(mf_backing_fallocate(b, FALLOC_FL_PUNCH_HOLE |
						      FALLOC_FL_KEEP_SIZE,
					      64 << 10, 64 << 10),
			 0);
	assert_int_equal(blocks_of(fd), (196 << 10) / 512);
	memset(buf, 0xEE, MF_READ_MAX);
	assert_int_equal(mf_backing_read_copy(b, 0, buf, 256 << 10), 256 << 10);
	unit_assert_pattern(buf, 0, 64 << 10);
	unit_assert_zero(buf + (64 << 10), 64 << 10);
	unit_assert_pattern(buf + (128 << 10), 128 << 10, 128 << 10);
	assert_int_equal(blocks_of(fd), (196 << 10) / 512);
}

static void test_write_extends(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 0, false, true);
	uint8_t src[10000], back[10000];
	MfIoStats io = iostats();
	uint64_t size;

	unit_guard();
	unit_fill(src, 0, sizeof(src));
	assert_int_equal(mf_backing_write(b, 0, src, sizeof(src)), sizeof(src));
	assert_int_equal(unit_size(f->ext[0]), sizeof(src));
	assert_int_equal(mf_backing_size(b, &size), 0);
	assert_int_equal(size, sizeof(src));
	assert_int_equal(iostats().bytes_written,
			 io.bytes_written + sizeof(src));
	/* Seen by the engine and by the file itself. */
	assert_int_equal(mf_backing_read_copy(b, 0, back, sizeof(back)),
			 sizeof(back));
	unit_assert_pattern(back, 0, sizeof(back));
	unit_pread(f->ext[0], back, sizeof(back), 0);
	unit_assert_pattern(back, 0, sizeof(back));

	/* Past EOF: a hole between, then the bytes. */
	unit_fill(src, 100000, 10);
	assert_int_equal(mf_backing_write(b, 100000, src, 10), 10);
	assert_int_equal(unit_size(f->ext[0]), 100010);
	assert_int_equal(mf_backing_read_copy(b, 10000, back, 10000), 10000);
	unit_assert_zero(back, 10000);
	assert_int_equal(mf_backing_read_copy(b, 99995, back, 100), 15);
	unit_assert_zero(back, 5);
	unit_assert_pattern(back + 5, 100000, 10);

	/* Inside the file: size unchanged. */
	assert_int_equal(mf_backing_write(b, 50, src, 10), 10);
	assert_int_equal(unit_size(f->ext[0]), 100010);
	/* Zero length: nothing. */
	assert_int_equal(mf_backing_write(b, 200000, src, 0), 0);
	assert_int_equal(unit_size(f->ext[0]), 100010);
}

static void test_write_across_windows(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 3 * WS, true, true);
	size_t big = 20 * WS + 333; /* far beyond the budget of 8 */
	uint8_t *src = unit_alloc(big), *back = unit_alloc(big);

	unit_guard();
	unit_fill(src, WS - 100, 300);
	assert_int_equal(mf_backing_write(b, WS - 100, src, 300), 300);
	unit_pread(f->ext[0], back, 300, WS - 100);
	unit_assert_pattern(back, WS - 100, 300);
	/* The bytes on either side are still a hole. */
	unit_pread(f->ext[0], back, 100, WS - 200);
	unit_assert_zero(back, 100);
	unit_pread(f->ext[0], back, 100, WS + 200);
	unit_assert_zero(back, 100);

	unit_fill(src, 77, big);
	assert_int_equal(mf_backing_write(b, 77, src, big), big);
	assert_int_equal(unit_size(f->ext[0]), 77 + big);
	unit_pread(f->ext[0], back, big, 77);
	unit_assert_pattern(back, 77, big);
	assert_true(wstats(f).mapped_now <= 8);
}

/* A terabyte sparse file goes through the same small budget. */
static void test_write_huge_offset(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 0, false, true);
	const uint64_t tib = (uint64_t)1 << 40;
	uint8_t src[5000], back[6000];
	struct stat st;

	unit_guard();
	unit_fill(src, tib - 100, sizeof(src));
	assert_int_equal(mf_backing_write(b, tib - 100, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(fstat(f->ext[0], &st), 0);
	assert_int_equal(st.st_size, tib - 100 + sizeof(src));
	/* Sparse: a few blocks, not a terabyte. */
	assert_true(st.st_blocks < 1024);
	unit_pread(f->ext[0], back, sizeof(src), tib - 100);
	unit_assert_pattern(back, tib - 100, sizeof(src));

	assert_int_equal(mf_backing_read_copy(b, tib - 1000, back, 6000), 5900);
	unit_assert_zero(back, 900);
	unit_assert_pattern(back + 900, tib - 100, 5000);
	assert_int_equal(mf_backing_read_copy(b, 0, back, sizeof(back)),
			 sizeof(back));
	unit_assert_zero(back, sizeof(back));
	assert_true(wstats(f).mapped_now <= 8);
	/* A middle read of the hole maps nothing. */
	{
		MfWindowStats before = wstats(f);

		assert_int_equal(mf_backing_read_copy(b, tib / 2, back, 6000),
				 6000);
		unit_assert_zero(back, 6000);
		assert_int_equal(wstats(f).misses, before.misses);
	}
}

static void test_write_beyond_int64_max(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 1000, false, true);
	uint8_t src[10] = { 0 }, back[1000];

	unit_guard();
	assert_int_equal(mf_backing_write(b, (uint64_t)INT64_MAX - 5, src, 10),
			 -EFBIG);
	assert_int_equal(mf_backing_write(b, (uint64_t)INT64_MAX, src, 1),
			 -EFBIG);
	/* off + len wraps around 2^64. */
	assert_int_equal(mf_backing_write(b, UINT64_MAX - 3, src, 10), -EFBIG);
	/* Within int64 but past what the filesystem allows. */
	assert_int_equal(mf_backing_write(b, (uint64_t)INT64_MAX - 10, src, 10),
			 -EFBIG);
	assert_int_equal(mf_backing_truncate(b, (uint64_t)INT64_MAX + 1),
			 -EFBIG);
	/* Nothing changed. */
	assert_int_equal(unit_size(f->ext[0]), 1000);
	unit_pread(f->ext[0], back, 1000, 0);
	unit_assert_pattern(back, 0, 1000);
}

/* The top of the 63-bit range, on tmpfs (/dev/shm), which takes files of
 * up to 2^63 - 1 bytes, as ext4 does not: the kernel maps no page that
 * ends past 2^63 - 1, so the last window is mapped short of the last page
 * below 2^63, which is written and read with pwrite and pread. */
static void test_write_top_on_tmpfs(void **state)
{
	Fix *f = *state;
	const uint64_t top = (uint64_t)INT64_MAX, limit = mf_window_map_limit();
	const uint64_t offs[] = { limit - WS - 3, limit - 5, limit, top - 4000,
				  top - 10 };
	char *dir = g_strdup("/dev/shm/mapfs-unit-XXXXXX"), *path;
	uint8_t src[10], back[10], page[MF_PAGE];
	MfWindow *w;
	MfBacking *b;
	bool hole;
	int fd, ext;

	unit_guard();
	if (!g_mkdtemp(dir)) {
		g_free(dir);
		skip();
	}
	path = g_build_filename(dir, "top", NULL);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ext = open(path, O_RDWR);
	assert_true(fd >= 0 && ext >= 0);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	assert_true(limit == ((uint64_t)1 << 63) - MF_PAGE);
	for (size_t i = 0; i < G_N_ELEMENTS(offs); i++) {
		unit_fill(src, offs[i], sizeof(src));
		assert_int_equal(mf_backing_write(b, offs[i], src, sizeof(src)),
				 sizeof(src));
		unit_pread(ext, back, sizeof(back), offs[i]);
		unit_assert_pattern(back, offs[i], sizeof(back));
		memset(back, 0, sizeof(back));
		assert_int_equal(mf_backing_read_copy(b, offs[i], back,
						      sizeof(back)),
				 sizeof(back));
		unit_assert_pattern(back, offs[i], sizeof(back));
	}
	assert_int_equal(unit_size(ext), top);
	/* A read across the limit: the window's bytes, then the page's. */
	{
		uint8_t across[20];

		assert_int_equal(mf_backing_read_copy(b, limit - 5, across, 20), 20);
		unit_assert_pattern(across, limit - 5, 15);
	}
	/* The last window is mapped short; none starts at the limit. */
	assert_int_equal(mf_window_pin(f->cache, fd, true, limit - 1, &w), 0);
	assert_true(mf_window_length(w) == WS - MF_PAGE);
	mf_window_unpin(w);
	assert_int_equal(mf_window_pin(f->cache, fd, true, limit, &w), -EOVERFLOW);
	/* Snapshots copy the last page as any other. */
	mf_backing_lock_shared(b);
	assert_int_equal(mf_backing_page_locked(b, top / MF_PAGE, page, &hole), 0);
	mf_backing_unlock(b);
	assert_false(hole);
	unit_assert_pattern(page + (top - 10) % MF_PAGE, top - 10, 10);
	assert_int_equal(mf_backing_flush(b, top - 2 * MF_PAGE, 2 * MF_PAGE,
					  true),
			 0);
	/* Past 2^63 - 1: EFBIG, as before. */
	assert_int_equal(mf_backing_write(b, top - 5, src, 10), -EFBIG);
	mf_backing_unref(b);
	close(ext);
	unlink(path);
	rmdir(dir);
	g_free(path);
	g_free(dir);
}

static void test_readonly_backing(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 3000, false, false);
	MfBacking *w = open_backing(f, 1, 3000, false, true);
	uint8_t src[10] = { 1, 2, 3 }, back[3000];

	unit_guard();
	assert_int_equal(mf_backing_write(b, 0, src, 10), -EBADF);
	assert_int_equal(mf_backing_write(b, 0, src, 0), -EBADF);
	assert_int_equal(mf_backing_truncate(b, 10), -EBADF);
	assert_int_equal(mf_backing_fallocate(b, 0, 0, 4096), -EBADF);
	/* A copy into it fails the same way and changes nothing. */
	assert_int_equal(mf_backing_copy(w, 0, b, 0, 100), -EBADF);
	assert_int_equal(unit_size(f->ext[0]), 3000);
	/* It reads. */
	assert_int_equal(mf_backing_read_copy(b, 0, back, 3000), 3000);
	unit_assert_pattern(back, 0, 3000);
}

static void test_truncate_shrink_grow(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 200000, false, true);
	uint8_t back[20000];

	unit_guard();
	/* Map every window first, so stale mappings would show. */
	assert_int_equal(mf_backing_read_copy(b, 0, back, 20000), 20000);
	assert_int_equal(mf_backing_read_copy(b, 40000, back, 20000), 20000);
	assert_int_equal(mf_backing_read_copy(b, 150000, back, 20000), 20000);

	assert_int_equal(mf_backing_truncate(b, 50000), 0);
	assert_int_equal(unit_size(f->ext[0]), 50000);
	assert_int_equal(mf_backing_read_copy(b, 40000, back, 20000), 10000);
	unit_assert_pattern(back, 40000, 10000);
	assert_int_equal(mf_backing_read_copy(b, 150000, back, 100), 0);

	assert_int_equal(mf_backing_truncate(b, 300000), 0);
	assert_int_equal(unit_size(f->ext[0]), 300000);
	/* What was cut is gone: zeros, not the old bytes. */
	assert_int_equal(mf_backing_read_copy(b, 45000, back, 20000), 20000);
	unit_assert_pattern(back, 45000, 5000);
	unit_assert_zero(back + 5000, 15000);
	assert_int_equal(mf_backing_read_copy(b, 150000, back, 20000), 20000);
	unit_assert_zero(back, 20000);

	/* A write after a shrink extends again from the new size. */
	unit_fill(back, 10, 10);
	assert_int_equal(mf_backing_truncate(b, 0), 0);
	assert_int_equal(mf_backing_write(b, 10, back, 10), 10);
	assert_int_equal(unit_size(f->ext[0]), 20);
	assert_int_equal(mf_backing_read_copy(b, 0, back, 100), 20);
	unit_assert_zero(back, 10);
	unit_assert_pattern(back + 10, 10, 10);
}

static void test_fallocate(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 200000, false, true);
	uint8_t *back = unit_alloc(200000);
	uint8_t src[100];

	unit_guard();
	assert_int_equal(mf_backing_read_copy(b, 0, back, 200000), 200000);
	assert_int_equal(mf_backing_fallocate(
				 b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 WS, WS),
			 0);
	assert_int_equal(unit_size(f->ext[0]), 200000);
	memset(back, 0xEE, 200000);
	assert_int_equal(mf_backing_read_copy(b, 0, back, 200000), 200000);
	unit_assert_pattern(back, 0, WS);
	unit_assert_zero(back + WS, WS);
	unit_assert_pattern(back + 2 * WS, 2 * WS, 200000 - 2 * WS);
	/* The hole is a hole. */
	assert_int_equal(mf_backing_seek(b, WS, SEEK_HOLE), WS);
	assert_int_equal(mf_backing_seek(b, WS, SEEK_DATA), 2 * WS);
	assert_int_equal(mf_backing_seek(b, 300000, SEEK_DATA), -ENXIO);

	/* Plain allocation past EOF grows the file, and the engine's idea
	 * of the size follows: a write just inside it does not shrink it. */
	assert_int_equal(mf_backing_fallocate(b, 0, 200000, 100000), 0);
	assert_int_equal(unit_size(f->ext[0]), 300000);
	unit_fill(src, 250000, sizeof(src));
	assert_int_equal(mf_backing_write(b, 250000, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(unit_size(f->ext[0]), 300000);
	/* KEEP_SIZE past EOF leaves the size. */
	assert_int_equal(
		mf_backing_fallocate(b, FALLOC_FL_KEEP_SIZE, 300000, WS), 0);
	assert_int_equal(unit_size(f->ext[0]), 300000);
	/* Bad arguments come back as they are. */
	assert_int_equal(mf_backing_fallocate(b, 0, 0, 0), -EINVAL);
}

static void set_old_mtime(int fd)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	assert_int_equal(futimens(fd, ts), 0);
}

static void test_write_advances_mtime(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 10000, false, true);
	uint8_t src[16] = { 9 };
	time_t start = time(NULL);
	struct stat st;

	unit_guard();
	set_old_mtime(f->ext[0]);
	assert_int_equal(mf_backing_write(b, 100, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(fstat(f->ext[0], &st), 0);
	assert_true(st.st_mtim.tv_sec >= start - 1);

	/* Again on a page already mapped and dirty, where the kernel does not
	 * stamp by itself; times_changed tells the engine times were set. */
	set_old_mtime(f->ext[0]);
	mf_backing_times_changed(b);
	assert_int_equal(mf_backing_write(b, 200, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(fstat(f->ext[0], &st), 0);
	assert_true(st.st_mtim.tv_sec >= start - 1);
	assert_true(st.st_ctim.tv_sec >= start - 1);
}

static void test_copy_between_backings(void **state)
{
	Fix *f = *state;
	MfBacking *src = open_backing(f, 0, 300000, false, true);
	MfBacking *dst = open_backing(f, 1, 0, false, true);
	MfBacking *holey = open_backing(f, 2, 100000, true, true);
	size_t len = 200000;
	uint8_t *back = unit_alloc(len + 5000);

	unit_guard();
	assert_int_equal(mf_backing_copy(src, 1000, dst, 5000, len), len);
	assert_int_equal(unit_size(f->ext[1]), 5000 + len);
	unit_pread(f->ext[1], back, 5000 + len, 0);
	unit_assert_zero(back, 5000);
	unit_assert_pattern(back + 5000, 1000, len);

	/* Clamped at the source's EOF. */
	assert_int_equal(mf_backing_copy(src, 250000, dst, 0, 100000), 50000);
	unit_pread(f->ext[1], back, 50000, 0);
	unit_assert_pattern(back, 250000, 50000);
	/* From past the source's EOF: nothing. */
	assert_int_equal(mf_backing_copy(src, 400000, dst, 0, 100), 0);

	/* A hole in the source becomes zeros over the destination's data. */
	assert_int_equal(mf_backing_copy(holey, 0, dst, 0, 100000), 100000);
	unit_pread(f->ext[1], back, 100000, 0);
	unit_assert_zero(back, 100000);
}

static void test_copy_within_file(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 300000, false, true);
	uint8_t *back = unit_alloc(100000);

	unit_guard();
	/* Forward, past EOF. */
	assert_int_equal(mf_backing_copy(b, 0, b, 400000, 100000), 100000);
	assert_int_equal(unit_size(f->ext[0]), 500000);
	unit_pread(f->ext[0], back, 100000, 400000);
	unit_assert_pattern(back, 0, 100000);
	/* Backward, inside. */
	assert_int_equal(mf_backing_copy(b, 200000, b, 10, 50000), 50000);
	unit_pread(f->ext[0], back, 50000, 10);
	unit_assert_pattern(back, 200000, 50000);
	unit_pread(f->ext[0], back, 10, 0);
	unit_assert_pattern(back, 0, 10);
	/* The source range is unchanged. */
	unit_pread(f->ext[0], back, 50000, 200000);
	unit_assert_pattern(back, 200000, 50000);
}

static void test_flush(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 300000, false, true);
	MfBacking *ro = open_backing(f, 1, 3000, false, false);
	uint8_t src[100] = { 7 };

	unit_guard();
	assert_int_equal(mf_backing_write(b, WS - 50, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(mf_backing_flush(b, 0, 0, false), 0);
	assert_int_equal(mf_backing_flush(b, 0, 0, true), 0);
	assert_int_equal(mf_backing_flush(b, WS - 50, 100, false), 0);
	assert_int_equal(mf_backing_flush(b, 12345, 1, true), 0);
	assert_int_equal(mf_backing_flush(b, 10 * WS, WS, false), 0);
	assert_int_equal(mf_backing_read_copy(ro, 0, src, 100), 100);
	assert_int_equal(mf_backing_flush(ro, 0, 0, false), 0);
}

/* The file cut to nothing by someone else after the engine mapped it:
 * reads come back empty, never with stale bytes, never a crash. */
static void test_external_shrink_read(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 4 * WS, false, true);
	uint8_t back[1000];
	ssize_t r;

	unit_guard();
	assert_int_equal(mf_backing_read_copy(b, 100000, back, 1000), 1000);
	assert_true(wstats(f).mapped_now > 0);
	assert_int_equal(ftruncate(f->ext[0], 0), 0);
	r = mf_backing_read_copy(b, 100000, back, 1000);
	assert_true(r == 0 || r == -EIO);
	r = mf_backing_read_copy(b, 0, back, 1000);
	assert_true(r == 0 || r == -EIO);

	/* Cut in the middle of the read: at most the bytes that exist. */
	assert_int_equal(ftruncate(f->ext[0], 0), 0);
	assert_int_equal(ftruncate(f->ext[0], 4 * WS), 0);
	unit_fill(back, 100000, 1000);
	unit_pwrite(f->ext[0], back, 1000, 100000);
	assert_int_equal(mf_backing_read_copy(b, 100000, back, 1000), 1000);
	assert_int_equal(ftruncate(f->ext[0], 100500), 0);
	memset(back, 0xEE, sizeof(back));
	r = mf_backing_read_copy(b, 100000, back, 1000);
	assert_true(r == -EIO || (r >= 0 && r <= 500));
	if (r > 0)
		unit_assert_pattern(back, 100000, (size_t)r);
}

/* A read vector built before the cut: copying from it through the guard
 * comes back short instead of killing the process. */
static void test_external_shrink_under_read_vec(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 4 * WS, false, true);
	uint8_t *buf = unit_alloc(2 * WS);
	size_t n;

	unit_guard();
	assert_int_equal(mf_backing_read(b, WS / 2, 2 * WS, &f->vec), 2 * WS);
	assert_int_equal(f->vec.niov, 3);
	assert_int_equal(ftruncate(f->ext[0], WS), 0);
	/* The first iovec lies wholly inside what is left. */
	n = mf_guard_copy(buf, f->vec.iov[0].iov_base, f->vec.iov[0].iov_len);
	assert_int_equal(n, f->vec.iov[0].iov_len);
	unit_assert_pattern(buf, WS / 2, n);
	/* The second lies wholly past it. */
	n = mf_guard_copy(buf, f->vec.iov[1].iov_base, f->vec.iov[1].iov_len);
	assert_int_equal(n, 0);
	mf_read_vec_release(&f->vec);
}

/* A write after the file was cut behind the engine's back still lands,
 * and the file grows to hold it. */
static void test_external_shrink_write(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 4 * WS, false, true);
	uint8_t src[1000], *back = unit_alloc(201000);

	unit_guard();
	unit_fill(src, 0, sizeof(src));
	/* Map the windows the later write will use. */
	assert_int_equal(mf_backing_write(b, 100000, src, 10), 10);
	assert_int_equal(mf_backing_write(b, 200000, src, 10), 10);
	assert_int_equal(ftruncate(f->ext[0], 0), 0);

	unit_fill(src, 200000, sizeof(src));
	assert_int_equal(mf_backing_write(b, 200000, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(unit_size(f->ext[0]), 201000);
	unit_pread(f->ext[0], back, 201000, 0);
	unit_assert_zero(back, 200000);
	unit_assert_pattern(back + 200000, 200000, sizeof(src));
	assert_int_equal(mf_backing_read_copy(b, 199990, back, 2000), 1010);
	unit_assert_zero(back, 10);
	unit_assert_pattern(back + 10, 200000, 1000);

	/* And once more, cut to a size in the middle of the write. */
	assert_int_equal(ftruncate(f->ext[0], 200500), 0);
	unit_fill(src, 200000, sizeof(src));
	assert_int_equal(mf_backing_write(b, 200000, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(unit_size(f->ext[0]), 201000);
	unit_pread(f->ext[0], back, sizeof(src), 200000);
	unit_assert_pattern(back, 200000, sizeof(src));
}

/* The file grown by someone else: the engine reads the new bytes and a
 * write inside the new size never shrinks it. */
static void test_external_growth(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 1000, false, true);
	uint8_t src[100], back[100];

	unit_guard();
	assert_int_equal(mf_backing_read_copy(b, 0, back, 100), 100);
	unit_fill(src, 500000, sizeof(src));
	unit_pwrite(f->ext[0], src, sizeof(src), 500000);
	assert_int_equal(mf_backing_read_copy(b, 500000, back, 1000), 100);
	unit_assert_pattern(back, 500000, 100);

	unit_fill(src, 300000, sizeof(src));
	assert_int_equal(mf_backing_write(b, 300000, src, sizeof(src)),
			 sizeof(src));
	assert_int_equal(unit_size(f->ext[0]), 500100);
	unit_pread(f->ext[0], back, 100, 500000);
	unit_assert_pattern(back, 500000, 100);
	unit_pread(f->ext[0], back, 100, 300000);
	unit_assert_pattern(back, 300000, 100);
}

typedef struct Writer {
	MfBacking *b;
	unsigned id;
	ssize_t bad;
} Writer;

static gpointer write_loop(gpointer p)
{
	Writer *w = p;
	uint8_t buf[3000];

	/* Each writer owns every fourth 3000-byte slot, in a file that keeps
	 * growing, through a budget smaller than the file. */
	for (unsigned slot = w->id; slot < 4 * 200; slot += 4) {
		uint64_t off = (uint64_t)slot * 3000;
		ssize_t r;

		unit_fill(buf, off, sizeof(buf));
		r = mf_backing_write(w->b, off, buf, sizeof(buf));
		if (r != (ssize_t)sizeof(buf))
			w->bad = r ? r : -1;
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	Fix *f = *state;
	MfBacking *b;
	Writer w[4];
	GThread *t[4];
	size_t len = 4 * 200 * 3000;
	uint8_t *back = unit_alloc(len);

	unit_guard();
	mf_window_cache_free(f->cache);
	f->cache = mf_window_cache_new(WS, 3);
	b = open_backing(f, 0, 0, false, true);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (Writer){ .b = b, .id = i };
		t[i] = g_thread_new("writer", write_loop, &w[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		assert_int_equal(w[i].bad, 0);
	}
	assert_int_equal(unit_size(f->ext[0]), len);
	unit_pread(f->ext[0], back, len, 0);
	unit_assert_pattern(back, 0, len);
	assert_true(wstats(f).mapped_now <= 3);
}

/* Wait up to 5 s for the cache's populates figure to reach n. */
static bool wait_populates(Fix *f, uint64_t n)
{
	for (int i = 0; i < 500 && wstats(f).populates < n; i++)
		g_usleep(10000);
	return wstats(f).populates >= n;
}

/* A sequential reader of a file without holes gets its next window
 * mapped and faulted in ahead, once; short runs (the kernel's read-around
 * of a random mmap fault) and readers of a file with holes never do, so
 * no hole is allocated. */
static void test_read_ahead_populates(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 0, 16 * WS, false, true);
	MfBacking *s = open_backing(f, 1, 16 * WS, true, true);
	uint8_t *buf = unit_alloc(WS);
	uint64_t off;
	struct stat st;

	unit_guard();
	/* Random reads, and a short run: nothing ahead. */
	assert_int_equal(mf_backing_read_copy(b, 3 * WS, buf, 100), 100);
	assert_int_equal(mf_backing_read_copy(b, WS, buf, 100), 100);
	assert_int_equal(mf_backing_read_copy(b, 12 * WS, buf, WS), WS);
	assert_int_equal(mf_backing_read_copy(b, 13 * WS, buf, WS), WS);
	/* A run of 512 KiB: the window after the one it ends in. */
	for (off = WS + 100; off < WS + 100 + (512 << 10); off += WS)
		assert_int_equal(mf_backing_read_copy(b, off, buf, WS), WS);
	g_usleep(20000);
	assert_true(wait_populates(f, 1));
	assert_int_equal(wstats(f).populates, 1);
	{
		MfWindowStats before = wstats(f);

		/* Window 10 is mapped already: a hit. */
		assert_int_equal(mf_backing_read_copy(b, 10 * WS + 10, buf, 10),
				 10);
		assert_int_equal(wstats(f).misses, before.misses);
		assert_int_equal(wstats(f).hits, before.hits + 1);
		unit_assert_pattern(buf, 10 * WS + 10, 10);
	}
	/* Continuing the run inside window 9: window 10 again, not twice. */
	assert_int_equal(mf_backing_read_copy(b, off, buf, 10), 10);
	g_usleep(50000);
	assert_int_equal(wstats(f).populates, 1);

	/* Data at the start of a sparse file, read sequentially. */
	unit_fill(buf, 0, WS);
	unit_pwrite(f->ext[1], buf, WS, 0);
	for (off = 100; off < 12 * WS; off += WS)
		assert_int_equal(mf_backing_read_copy(s, off, buf, WS), WS);
	g_usleep(50000);
	assert_int_equal(wstats(f).populates, 1);
	assert_int_equal(fstat(f->ext[1], &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= 2 * WS);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_new_rejects_non_files),
		T(test_unref_forgets_windows),
		T(test_read_within_size),
		T(test_read_at_and_after_eof),
		T(test_read_clamps_at_eof),
		T(test_read_caps_at_read_max),
		T(test_read_with_page_sized_windows),
		T(test_read_leading_hole),
		T(test_read_inner_holes_allocate_nothing),
		T(test_read_ahead_populates),
		T(test_write_extends),
		T(test_write_across_windows),
		T(test_write_huge_offset),
		T(test_write_beyond_int64_max),
		T(test_write_top_on_tmpfs),
		T(test_readonly_backing),
		T(test_truncate_shrink_grow),
		T(test_fallocate),
		T(test_write_advances_mtime),
		T(test_copy_between_backings),
		T(test_copy_within_file),
		T(test_flush),
		T(test_external_shrink_read),
		T(test_external_shrink_under_read_vec),
		T(test_external_shrink_write),
		T(test_external_growth),
		T(test_concurrent_writers),
	};
#undef T

	return cmocka_run_group_tests_name("backing", tests, NULL, NULL);
}
