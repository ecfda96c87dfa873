/* test-faults: system call failures injected under core/ with the linker.
 *
 * This executable is linked with -Wl,--wrap=mmap,--wrap=msync,... so every
 * call to those functions, the engine's included, lands in __wrap_X below.
 * A wrapper passes the call to __real_X unless the test queued a value for
 * it with FAIL_NEXT(), in the cmocka way (will_return() / mock()):
 *
 *	FAIL_NEXT(mmap, ENOMEM);     the next mmap fails with ENOMEM
 *	FAIL_NEXT(mmap, 0);          the next mmap runs; queue more after it
 *	FAKE_NEXT_SIZE(n);           the next fstat reports st_size n, and
 *	                             the blocks of a file without holes
 *	FAKE_NEXT_SPARSE_SIZE(n);    the same with the file's own blocks
 *
 * lseek is wrapped only to count the SEEK_DATA calls (seek_data_calls).
 * pwrite is the write of bytes new to a window (mf_window_prepare_write).
 *
 * cmocka fails a test that leaves a queued value unconsumed, so a wrapper
 * that is never reached (the engine no longer calls it) shows up.
 *
 * Under -D_FILE_OFFSET_BITS=64, which meson sets, glibc's headers turn
 * mmap, ftruncate, fallocate and fstat into mmap64 and so on; both spellings
 * are wrapped.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <glib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-backing.h"
#include "mf-guard.h"
#include "mf-window.h"

#define WS ((size_t)64 * 1024)

/* ---- the wrappers ---------------------------------------------------- */

static unsigned armed_mmap, armed_msync, armed_ftruncate, armed_fallocate,
	armed_fsync, armed_fstat, armed_pwrite;

/* The values queued by FAIL_NEXT live with these functions' names. */
static int fault_mmap(void)
{
	return (int)mock();
}
static int fault_msync(void)
{
	return (int)mock();
}
static int fault_ftruncate(void)
{
	return (int)mock();
}
static int fault_fallocate(void)
{
	return (int)mock();
}
static int fault_fsync(void)
{
	return (int)mock();
}
static int fault_pwrite(void)
{
	return (int)mock();
}
static int64_t fault_fstat(void)
{
	return (int64_t)mock();
}

#define FAIL_NEXT(fn, err)                      \
	do {                                    \
		will_return(fault_##fn, (err)); \
		armed_##fn++;                   \
	} while (0)
#define FAKE_NEXT_SIZE(size) FAIL_NEXT(fstat, (int64_t)(size))
#define FAKE_NEXT_SPARSE_SIZE(size) FAIL_NEXT(fstat, -(int64_t)(size))

/* The queued value for this call, 0 when none is queued. */
static int64_t take(unsigned *armed, int64_t value_if_armed(void))
{
	if (*armed == 0)
		return 0;
	(*armed)--;
	return value_if_armed();
}

static int64_t take_int(unsigned *armed, int next(void))
{
	if (*armed == 0)
		return 0;
	(*armed)--;
	return next();
}

/* Every msync the engine made, for checking the ranges it flushed. */
#define MSYNC_LOG 64
static struct {
	char *addr;
	size_t len;
} msync_log[MSYNC_LOG];
static unsigned msync_calls;
static unsigned seek_data_calls;

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off);
int __real_msync(void *addr, size_t len, int flags);
int __real_ftruncate(int fd, off_t len);
int __real_ftruncate64(int fd, off_t len);
int __real_fallocate(int fd, int mode, off_t off, off_t len);
int __real_fallocate64(int fd, int mode, off_t off, off_t len);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_fstat(int fd, struct stat *st);
int __real_fstat64(int fd, struct stat *st);
off_t __real_lseek(int fd, off_t off, int whence);
off_t __real_lseek64(int fd, off_t off, int whence);
ssize_t __real_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __real_pwrite64(int fd, const void *buf, size_t len, off_t off);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off);
int __wrap_msync(void *addr, size_t len, int flags);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_ftruncate64(int fd, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate64(int fd, int mode, off_t off, off_t len);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fstat(int fd, struct stat *st);
int __wrap_fstat64(int fd, struct stat *st);
off_t __wrap_lseek(int fd, off_t off, int whence);
off_t __wrap_lseek64(int fd, off_t off, int whence);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off);

#define WRAP_INT(fault, call)                                            \
	do {                                                             \
		int err_ = (int)take_int(&armed_##fault, fault_##fault); \
		if (err_) {                                              \
			errno = err_;                                    \
			return -1;                                       \
		}                                                        \
		return call;                                             \
	} while (0)

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	int err = (int)take_int(&armed_mmap, fault_mmap);

	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	return __real_mmap(addr, len, prot, flags, fd, off);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	int err = (int)take_int(&armed_mmap, fault_mmap);

	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	return __real_mmap64(addr, len, prot, flags, fd, off);
}

int __wrap_msync(void *addr, size_t len, int flags)
{
	if (msync_calls < MSYNC_LOG) {
		msync_log[msync_calls].addr = addr;
		msync_log[msync_calls].len = len;
	}
	msync_calls++;
	WRAP_INT(msync, __real_msync(addr, len, flags));
}

int __wrap_ftruncate(int fd, off_t len)
{
	WRAP_INT(ftruncate, __real_ftruncate(fd, len));
}

int __wrap_ftruncate64(int fd, off_t len)
{
	WRAP_INT(ftruncate, __real_ftruncate64(fd, len));
}

int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	WRAP_INT(fallocate, __real_fallocate(fd, mode, off, len));
}

int __wrap_fallocate64(int fd, int mode, off_t off, off_t len)
{
	WRAP_INT(fallocate, __real_fallocate64(fd, mode, off, len));
}

int __wrap_fsync(int fd)
{
	WRAP_INT(fsync, __real_fsync(fd));
}

int __wrap_fdatasync(int fd)
{
	WRAP_INT(fsync, __real_fdatasync(fd));
}

static int fake_size(int r, struct stat *st)
{
	int64_t size = take(&armed_fstat, fault_fstat);

	if (r == 0 && size > 0) {
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
	} else if (r == 0 && size < 0) {
		st->st_size = (off_t)-size;
	}
	return r;
}

int __wrap_fstat(int fd, struct stat *st)
{
	return fake_size(__real_fstat(fd, st), st);
}

int __wrap_fstat64(int fd, struct stat *st)
{
	return fake_size(__real_fstat64(fd, st), st);
}

off_t __wrap_lseek(int fd, off_t off, int whence)
{
	seek_data_calls += whence == SEEK_DATA;
	return __real_lseek(fd, off, whence);
}

off_t __wrap_lseek64(int fd, off_t off, int whence)
{
	seek_data_calls += whence == SEEK_DATA;
	return __real_lseek64(fd, off, whence);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	WRAP_INT(pwrite, __real_pwrite(fd, buf, len, off));
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	WRAP_INT(pwrite, __real_pwrite64(fd, buf, len, off));
}

/* ---- fixture --------------------------------------------------------- */

typedef struct Fix {
	char *dir;
	MfWindowCache *cache;
	MfBacking *b;
	char *path;
	int ext; /* the test's own fd of b's file */
	MfWindow *held[8];
	unsigned nheld;
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);

	armed_mmap = armed_msync = armed_ftruncate = armed_fallocate =
		armed_fsync = armed_fstat = 0;
	msync_calls = 0;
	seek_data_calls = 0;
	f->dir = unit_tmpdir();
	f->cache = mf_window_cache_new(WS, 4);
	assert_non_null(f->cache);
	f->ext = -1;
	/* Here for the record; cmocka swaps SIGBUS handlers around each
	 * call, so tests that fault install the guard again (see unit.h). */
	unit_guard();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

	/* Whatever a failed test left queued must not hit the cleanup. */
	armed_mmap = armed_msync = armed_ftruncate = armed_fallocate =
		armed_fsync = armed_fstat = 0;
	for (unsigned i = 0; i < f->nheld; i++)
		mf_window_unpin(f->held[i]);
	mf_backing_unref(f->b);
	if (f->ext >= 0)
		close(f->ext);
	mf_window_cache_free(f->cache);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->path);
	g_free(f->dir);
	g_free(f);
	return 0;
}

/* f->b on a new pattern file of size bytes, and f->ext beside it. */
static MfBacking *open_backing(Fix *f, uint64_t size)
{
	int fd = unit_create(f->dir, "file", size, O_RDWR, &f->path);

	assert_int_equal(mf_backing_new(f->cache, fd, true, &f->b), 0);
	f->ext = open(f->path, O_RDWR | O_CLOEXEC);
	assert_true(f->ext >= 0);
	return f->b;
}

static MfWindow *pin(Fix *f, int fd, uint64_t off)
{
	MfWindow *w = NULL;

	assert_int_equal(mf_window_pin(f->cache, fd, true, off, &w), 0);
	f->held[f->nheld++] = w;
	return w;
}

static void unpin_all(Fix *f)
{
	while (f->nheld)
		mf_window_unpin(f->held[--f->nheld]);
}

static MfWindowStats wstats(Fix *f)
{
	MfWindowStats s;

	mf_window_cache_stats(f->cache, &s);
	return s;
}

static uint64_t sigbus_count(void)
{
	MfIoStats s;

	mf_backing_io_stats(&s);
	return s.sigbus;
}

/* The file is still the pattern of [0, size). */
static void assert_file_unchanged(Fix *f, uint64_t size)
{
	uint8_t *buf = unit_alloc(size + 1);

	assert_int_equal(unit_size(f->ext), size);
	unit_pread(f->ext, buf, size, 0);
	unit_assert_pattern(buf, 0, size);
}

/* ---- mmap ------------------------------------------------------------ */

static void test_mmap_failure_pin(void **state)
{
	Fix *f = *state;
	int fd = unit_create(f->dir, "w", 8 * WS, O_RDWR, NULL);
	MfWindow *w = (MfWindow *)&w;
	MfWindowStats s;

	FAIL_NEXT(mmap, ENOMEM);
	assert_int_equal(mf_window_pin(f->cache, fd, false, 3 * WS, &w),
			 -ENOMEM);
	assert_null(w);
	s = wstats(f);
	assert_int_equal(s.map_failures, 1);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.maps, 0);
	assert_int_equal(s.mapped_now, 0);

	/* The next pin of the same window maps it. */
	w = pin(f, fd, 3 * WS + 1);
	unit_assert_pattern(mf_window_addr(w), 3 * WS, WS);
	unpin_all(f);

	/* A failure with a full budget: the cache stays consistent. */
	for (unsigned i = 0; i < 4; i++)
		pin(f, fd, (uint64_t)i * WS);
	unpin_all(f);
	FAIL_NEXT(mmap, EACCES);
	assert_int_equal(mf_window_pin(f->cache, fd, false, 6 * WS, &w),
			 -EACCES);
	s = wstats(f);
	assert_int_equal(s.map_failures, 2);
	assert_int_equal(s.maps - s.unmaps, s.mapped_now);
	assert_true(s.mapped_now <= 4);
	w = pin(f, fd, 6 * WS);
	unit_assert_pattern(mf_window_addr(w), 6 * WS, WS);
	unpin_all(f);
	mf_window_cache_forget_fd(f->cache, fd);
	assert_int_equal(wstats(f).mapped_now, 0);
	close(fd);
}

/* A read whose second window cannot be mapped: the error, nothing left
 * pinned, the lock released. */
static void test_mmap_failure_read(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint8_t buf[200];
	MfReadVec v;

	unit_guard();
	FAIL_NEXT(mmap, 0);
	FAIL_NEXT(mmap, ENOMEM);
	assert_int_equal(mf_backing_read(b, WS - 100, 200, &v), -ENOMEM);
	assert_int_equal(v.niov, 0);
	assert_int_equal(v.npins, 0);
	mf_read_vec_release(&v);
	assert_int_equal(wstats(f).map_failures, 1);

	FAIL_NEXT(mmap, ENOMEM);
	assert_int_equal(mf_backing_read_copy(b, 2 * WS, buf, 200), -ENOMEM);

	/* Truncation takes the lock exclusively: it would hang if a failed
	 * read had kept it. */
	assert_int_equal(mf_backing_truncate(b, 4 * WS), 0);
	assert_int_equal(mf_backing_read_copy(b, WS - 100, buf, 200), 200);
	unit_assert_pattern(buf, WS - 100, 200);
	/* Every window unpinned: forgetting the fd asserts that. */
	mf_window_cache_forget_fd(f->cache, mf_backing_fd(b));
}

/* A write that cannot map its window fails and leaves the file as it
 * was: neither bytes nor size change. */
static void test_mmap_failure_write(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 1000);
	uint8_t src[200];
	uint64_t maps;

	unit_guard();
	memset(src, 0x77, sizeof(src));
	/* Inside the file. */
	FAIL_NEXT(mmap, ENOMEM);
	assert_int_equal(mf_backing_write(b, 500, src, 100), -ENOMEM);
	assert_file_unchanged(f, 1000);
	/* Across EOF: the growth is given back. */
	FAIL_NEXT(mmap, ENOMEM);
	assert_int_equal(mf_backing_write(b, 900, src, 200), -ENOMEM);
	assert_file_unchanged(f, 1000);
	/* And then it works. */
	assert_int_equal(mf_backing_write(b, 900, src, 200), 200);
	assert_int_equal(unit_size(f->ext), 1100);
	/* At or past EOF no window is mapped: pwrite grows the file. */
	maps = wstats(f).maps;
	assert_int_equal(mf_backing_write(b, 1 << 20, src, 100), 100);
	assert_int_equal(unit_size(f->ext), (1 << 20) + 100);
	assert_int_equal(wstats(f).maps, maps);
}

/* The second window of a write cannot be mapped (once): the write either
 * retries it or comes back short, and either way its count, the file's
 * size and its bytes agree. A mapping failure is not a SIGBUS and must not
 * be counted as one. */
static void test_mmap_failure_mid_write(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 2 * WS);
	uint64_t sigbus = sigbus_count();
	uint8_t src[200], back[200];
	ssize_t r;

	unit_guard();
	memset(src, 0x77, sizeof(src));
	FAIL_NEXT(mmap, 0);
	FAIL_NEXT(mmap, ENOMEM);
	r = mf_backing_write(b, WS - 100, src, 200);
	assert_true(r == 100 || r == 200);
	assert_int_equal(unit_size(f->ext), 2 * WS);
	unit_pread(f->ext, back, (size_t)r, WS - 100);
	assert_memory_equal(back, src, (size_t)r);
	assert_int_equal(sigbus_count(), sigbus);
}

/* ---- msync ----------------------------------------------------------- */

static void test_msync_failure(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint8_t src[100];

	memset(src, 0x42, sizeof(src));
	assert_int_equal(mf_backing_write(b, 10, src, 100), 100);
	assert_int_equal(mf_backing_write(b, 2 * WS + 10, src, 100), 100);

	/* The first of two windows fails: -EIO, and the other is still
	 * flushed. */
	msync_calls = 0;
	FAIL_NEXT(msync, EIO);
	assert_int_equal(mf_window_cache_sync(f->cache, mf_backing_fd(b), 0, 0),
			 -EIO);
	assert_int_equal(msync_calls, 2);

	FAIL_NEXT(msync, EIO);
	assert_int_equal(mf_backing_flush(b, 0, 0, false), -EIO);
	FAIL_NEXT(msync, EIO);
	assert_int_equal(mf_backing_flush(b, 2 * WS, 200, true), -EIO);
	/* fsync and fdatasync failures as well. */
	FAIL_NEXT(fsync, EIO);
	assert_int_equal(mf_backing_flush(b, 0, 0, false), -EIO);
	FAIL_NEXT(fsync, ENOSPC);
	assert_int_equal(mf_backing_flush(b, 0, 0, true), -ENOSPC);
	/* Nothing left pinned; and it works again. */
	assert_int_equal(mf_backing_flush(b, 0, 0, false), 0);
	mf_window_cache_forget_fd(f->cache, mf_backing_fd(b));
}

/* Sync flushes the overlapping windows only, from a page-aligned start to
 * the end of the range. */
static void test_msync_ranges(void **state)
{
	Fix *f = *state;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int fd = unit_create(f->dir, "w", 8 * WS, O_RDWR, NULL);
	char *addr[4];

	for (unsigned i = 0; i < 4; i++)
		addr[i] = mf_window_addr(pin(f, fd, (uint64_t)i * WS));
	unpin_all(f);

	msync_calls = 0;
	assert_int_equal(
		mf_window_cache_sync(f->cache, fd, 2 * WS + 5000, 10000), 0);
	assert_int_equal(msync_calls, 1);
	assert_ptr_equal(msync_log[0].addr, addr[2] + (5000 & ~(page - 1)));
	assert_true(msync_log[0].addr + msync_log[0].len >= addr[2] + 15000);
	assert_true(msync_log[0].addr + msync_log[0].len <= addr[2] + WS);

	/* Across the boundary of windows 1 and 2. */
	msync_calls = 0;
	assert_int_equal(mf_window_cache_sync(f->cache, fd, 2 * WS - 10, 20),
			 0);
	assert_int_equal(msync_calls, 2);
	for (unsigned i = 0; i < 2; i++) {
		char *a = msync_log[i].addr;

		assert_int_equal((uintptr_t)a % page, 0);
		if (a >= addr[1] && a < addr[1] + WS) {
			assert_true(a <= addr[1] + WS - 10);
			assert_ptr_equal(a + msync_log[i].len, addr[1] + WS);
		} else {
			assert_ptr_equal(a, addr[2]);
			assert_true(msync_log[i].len >= 10);
		}
	}

	/* The whole file: every mapped window, whole. */
	msync_calls = 0;
	assert_int_equal(mf_window_cache_sync(f->cache, fd, 0, 0), 0);
	assert_int_equal(msync_calls, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(msync_log[i].len, WS);

	/* A range with no mapped window: no msync at all. */
	msync_calls = 0;
	assert_int_equal(mf_window_cache_sync(f->cache, fd, 5 * WS, WS), 0);
	assert_int_equal(msync_calls, 0);
	mf_window_cache_forget_fd(f->cache, fd);
	close(fd);
}

/* ---- ftruncate ------------------------------------------------------- */

/* A write that must grow the file and cannot: its errno, file unchanged. */
static void test_ftruncate_failure_write(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 1000);
	uint8_t src[600];

	unit_guard();
	memset(src, 0x66, sizeof(src));
	/* (A write at or past EOF grows the file with pwrite instead.) */
	FAIL_NEXT(ftruncate, ENOSPC);
	assert_int_equal(mf_backing_write(b, 500, src, 600), -ENOSPC);
	assert_file_unchanged(f, 1000);
	FAIL_NEXT(ftruncate, EFBIG);
	assert_int_equal(mf_backing_write(b, 900, src, 200), -EFBIG);
	assert_file_unchanged(f, 1000);
	/* A write inside the file needs no ftruncate and works. */
	assert_int_equal(mf_backing_write(b, 0, src, 100), 100);
	/* And growth works once ftruncate does. */
	assert_int_equal(mf_backing_write(b, 900, src, 200), 200);
	assert_int_equal(unit_size(f->ext), 1100);
}

/* A write of bytes new to the file fails in pwrite: the error, and the
 * file as it was, its size too. */
static void test_pwrite_failure_write(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 1000);
	uint8_t src[200];

	memset(src, 0x66, sizeof(src));
	FAIL_NEXT(pwrite, ENOSPC);
	assert_int_equal(mf_backing_write(b, 5000, src, 100), -ENOSPC);
	assert_file_unchanged(f, 1000);
	FAIL_NEXT(pwrite, EIO);
	assert_int_equal(mf_backing_write(b, 900, src, 200), -EIO);
	assert_file_unchanged(f, 1000);
	assert_int_equal(mf_backing_write(b, 900, src, 200), 200);
	assert_int_equal(unit_size(f->ext), 1100);
}

static void test_ftruncate_failure_truncate(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 1000);
	uint8_t src[10] = { 1 };

	unit_guard();
	FAIL_NEXT(ftruncate, EIO);
	assert_int_equal(mf_backing_truncate(b, 10), -EIO);
	assert_file_unchanged(f, 1000);
	FAIL_NEXT(ftruncate, EPERM);
	assert_int_equal(mf_backing_truncate(b, 5000), -EPERM);
	assert_file_unchanged(f, 1000);
	/* The engine's idea of the size did not follow the failure. */
	assert_int_equal(mf_backing_write(b, 2000, src, 10), 10);
	assert_int_equal(unit_size(f->ext), 2010);
}

/* ---- fallocate, and faults with space left --------------------------- */

static void test_fallocate_failure(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 1000);

	FAIL_NEXT(fallocate, EOPNOTSUPP);
	assert_int_equal(mf_backing_fallocate(b, 0, 0, 4096), -EOPNOTSUPP);
	FAIL_NEXT(fallocate, ENOSPC);
	assert_int_equal(mf_backing_fallocate(b, 0, 0, 1 << 20), -ENOSPC);
	assert_file_unchanged(f, 1000);
}

/* A store faults though the file looks big enough: the engine takes that
 * for a filesystem without a page to give and asks fallocate for one. The
 * fault is made real by cutting the file behind the engine, the size made
 * to look right by the fstat wrapper. */
static void test_store_fault_without_space(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint64_t sigbus = sigbus_count();
	uint8_t src[100];

	unit_guard();
	memset(src, 0x55, sizeof(src));
	/* Rewritten often enough that the window stores it, not pwrite. */
	for (int i = 0; i <= MF_WINDOW_REWRITES; i++)
		assert_int_equal(mf_backing_write(b, 1000, src, 100), 100);
	assert_true(wstats(f).write_populated > 0);
	assert_int_equal(ftruncate(f->ext, 0), 0);

	FAKE_NEXT_SIZE(4 * WS);
	FAIL_NEXT(fallocate, ENOSPC);
	assert_int_equal(mf_backing_write(b, 1000, src, 100), -ENOSPC);
	assert_int_equal(sigbus_count(), sigbus + 1);
	assert_int_equal(unit_size(f->ext), 0);

	/* A filesystem without fallocate: EIO, not EOPNOTSUPP. */
	FAKE_NEXT_SIZE(4 * WS);
	FAIL_NEXT(fallocate, EOPNOTSUPP);
	assert_int_equal(mf_backing_write(b, 1000, src, 100), -EIO);
	assert_int_equal(unit_size(f->ext), 0);
}

/* A read whose windows fault part way (the file shrank after the size
 * check): a short count of right bytes, counted as a SIGBUS. */
static void test_read_fault_after_size_check(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint64_t sigbus = sigbus_count();
	uint8_t *buf = unit_alloc(3 * WS);
	ssize_t r;

	unit_guard();
	assert_int_equal(mf_backing_read_copy(b, 0, buf, 100), 100);
	assert_int_equal(ftruncate(f->ext, 8192), 0);
	FAKE_NEXT_SIZE(4 * WS);
	r = mf_backing_read_copy(b, 0, buf, 3 * WS);
	assert_true(r > 0 && r <= 8192);
	unit_assert_pattern(buf, 0, (size_t)r);
	assert_int_equal(sigbus_count(), sigbus + 1);
}

/* The same for a file with holes: walking its data and holes finds where
 * it ends now, so the read stops there without a fault (not zeros up to
 * the size it had). */
static void test_read_sparse_shrunk_after_size_check(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint64_t sigbus = sigbus_count();
	uint8_t *buf = unit_alloc(3 * WS);

	unit_guard();
	assert_int_equal(ftruncate(f->ext, 8192), 0);
	FAKE_NEXT_SPARSE_SIZE(4 * WS);
	assert_int_equal(mf_backing_read_copy(b, 0, buf, 3 * WS), 8192);
	unit_assert_pattern(buf, 0, 8192);
	assert_int_equal(sigbus_count(), sigbus);
}

/* A read looks for a leading hole (SEEK_DATA) only in a file that has
 * one: a file with the blocks its size needs is served without it. */
static void test_read_dense_skips_seek(void **state)
{
	Fix *f = *state;
	MfBacking *b = open_backing(f, 4 * WS);
	uint8_t *buf = unit_alloc(2 * WS);
	struct stat st;

	unit_guard();
	assert_int_equal(fstat(f->ext, &st), 0);
	if ((uint64_t)st.st_blocks * 512 < 4 * WS)
		skip(); /* a compressing filesystem: blocks do not tell */
	seek_data_calls = 0;
	assert_int_equal(mf_backing_read_copy(b, 100, buf, 2 * WS), 2 * WS);
	unit_assert_pattern(buf, 100, 2 * WS);
	assert_int_equal(mf_backing_read_copy(b, 3 * WS, buf, WS), WS);
	assert_int_equal(seek_data_calls, 0);

	/* A hole punched behind the engine: the next read looks again and
	 * answers the hole from zeros. */
	assert_int_equal(__real_fallocate(f->ext, FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE, 2 * WS, WS), 0);
	assert_int_equal(mf_backing_read_copy(b, 2 * WS, buf, WS), WS);
	assert_true(seek_data_calls >= 1);
	unit_assert_zero(buf, WS);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_read_dense_skips_seek),
		T(test_mmap_failure_pin),
		T(test_mmap_failure_read),
		T(test_mmap_failure_write),
		T(test_mmap_failure_mid_write),
		T(test_msync_failure),
		T(test_msync_ranges),
		T(test_ftruncate_failure_write),
		T(test_pwrite_failure_write),
		T(test_ftruncate_failure_truncate),
		T(test_fallocate_failure),
		T(test_store_fault_without_space),
		T(test_read_fault_after_size_check),
		T(test_read_sparse_shrunk_after_size_check),
	};
#undef T

	return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
