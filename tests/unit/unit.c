/* unit: helpers shared by the cmocka unit tests. See unit.h. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mf-guard.h"

char *unit_tmpdir(void)
{
	GError *err = NULL;
	char *dir = g_dir_make_tmp("mapfs-unit-XXXXXX", &err);

	if (!dir) {
		print_error("g_dir_make_tmp: %s\n", err->message);
		g_error_free(err);
	}
	assert_non_null(dir);
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void unit_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static GPtrArray *allocs;

void *unit_alloc(size_t size)
{
	void *p = g_malloc0(size);

	if (!allocs)
		allocs = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(allocs, p);
	return p;
}

void unit_free_all(void)
{
	if (allocs)
		g_ptr_array_set_size(allocs, 0);
}

void unit_guard(void)
{
	assert_int_equal(mf_guard_install(), 0);
}

uint8_t unit_pattern(uint64_t off)
{
	/* Differs between neighbouring bytes, pages and windows. */
	return (uint8_t)(off * 131 + (off >> 8) * 7 + (off >> 16) * 13 +
			 (off >> 24) * 3 + 1);
}

void unit_fill(void *buf, uint64_t off, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = unit_pattern(off + i);
}

void unit_check_pattern(const void *buf, uint64_t off, size_t len,
			const char *file, int line)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (p[i] != unit_pattern(off + i)) {
			print_error("byte at file offset %llu is 0x%02x, "
				    "expected 0x%02x (checking %zu bytes "
				    "from %llu)\n",
				    (unsigned long long)(off + i), p[i],
				    unit_pattern(off + i), len,
				    (unsigned long long)off);
			_fail(file, line);
		}
	}
}

void unit_check_zero(const void *buf, size_t len, const char *file, int line)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (p[i]) {
			print_error("byte %zu of %zu is 0x%02x, expected 0\n",
				    i, len, p[i]);
			_fail(file, line);
		}
	}
}

void unit_pread(int fd, void *buf, size_t len, uint64_t off)
{
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
}

void unit_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
}

uint64_t unit_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

static int open_new(const char *dir, const char *name, int flags, char **path)
{
	char *p = g_build_filename(dir, name, NULL);
	int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	if ((flags & O_ACCMODE) != O_RDWR) {
		close(fd);
		fd = open(p, flags | O_CLOEXEC);
		assert_true(fd >= 0);
	}
	if (path)
		*path = p;
	else
		g_free(p);
	return fd;
}

int unit_create(const char *dir, const char *name, uint64_t size, int flags,
		char **path)
{
	char *p = g_build_filename(dir, name, NULL);
	int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t chunk = 1 << 20;
	uint8_t *buf = unit_alloc(chunk);

	assert_true(fd >= 0);
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;

		unit_fill(buf, off, n);
		unit_pwrite(fd, buf, n, off);
	}
	close(fd);
	fd = open(p, flags | O_CLOEXEC);
	assert_true(fd >= 0);
	if (path)
		*path = p;
	else
		g_free(p);
	return fd;
}

int unit_create_sparse(const char *dir, const char *name, uint64_t size,
		       int flags, char **path)
{
	int fd = open_new(dir, name, O_RDWR, path);

	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if ((flags & O_ACCMODE) != O_RDWR) {
		char *p = g_build_filename(dir, name, NULL);

		close(fd);
		fd = open(p, flags | O_CLOEXEC);
		g_free(p);
		assert_true(fd >= 0);
	}
	return fd;
}

int unit_in_child(int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would longjmp back into its runner and
		 * run the rest of the suite in the child. */
		const int sigs[] = { SIGSEGV, SIGBUS, SIGILL,
				     SIGFPE,  SIGSYS, SIGABRT };

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		_exit(fn(arg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

#ifdef UNIT_WRAP_IO
/* ---- I/O fault injection (see unit.h) -------------------------------- */

static struct {
	char call[16];
	char *suffix;           /* "/" + file */
	int err;
	size_t budget;          /* pwrite bytes still let through */
	unsigned hits;
} io_plan;

void unit_io_fail(const char *call, const char *file, int err, size_t after)
{
	unit_io_reset();
	g_strlcpy(io_plan.call, call, sizeof(io_plan.call));
	io_plan.suffix = g_strconcat("/", file, NULL);
	io_plan.err = err;
	io_plan.budget = after;
	io_plan.hits = 0;
}

void unit_io_reset(void)
{
	g_free(io_plan.suffix);
	io_plan.suffix = NULL;
	io_plan.call[0] = '\0';
}

unsigned unit_io_hits(void)
{
	return io_plan.hits;
}

/* Is call on fd armed? */
static bool io_armed(const char *call, int fd)
{
	char link[64], path[4096];
	ssize_t n;

	if (!io_plan.suffix || strcmp(io_plan.call, call) != 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return false;
	path[n] = '\0';
	return g_str_has_suffix(path, io_plan.suffix);
}

ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __real_fallocate(int fd, int mode, off_t off, off_t len);
int __real_fallocate64(int fd, int mode, off_t off, off_t len);
int __real_fdatasync(int fd);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate64(int fd, int mode, off_t off, off_t len);
int __wrap_fdatasync(int fd);

/* How much of an armed pwrite of n bytes goes through: n, fewer (short),
 * or 0 with errno set (fail). */
static size_t io_pwrite_budget(int fd, size_t n, bool *fail)
{
	*fail = false;
	if (!io_armed("pwrite", fd))
		return n;
	if (io_plan.budget == 0) {
		io_plan.hits++;
		*fail = true;
		return 0;
	}
	if (n > io_plan.budget)
		n = io_plan.budget;
	io_plan.budget -= n;
	return n;
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	bool fail;

	n = io_pwrite_budget(fd, n, &fail);
	if (fail) {
		errno = io_plan.err;
		return -1;
	}
	return __real_pwrite(fd, buf, n, off);
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	bool fail;

	n = io_pwrite_budget(fd, n, &fail);
	if (fail) {
		errno = io_plan.err;
		return -1;
	}
	return __real_pwrite64(fd, buf, n, off);
}

#define IO_FAIL_IF_ARMED(call, fd)              \
	do {                                    \
		if (io_armed(call, fd)) {       \
			io_plan.hits++;         \
			errno = io_plan.err;    \
			return -1;              \
		}                               \
	} while (0)

int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	IO_FAIL_IF_ARMED("fallocate", fd);
	return __real_fallocate(fd, mode, off, len);
}

int __wrap_fallocate64(int fd, int mode, off_t off, off_t len)
{
	IO_FAIL_IF_ARMED("fallocate", fd);
	return __real_fallocate64(fd, mode, off, len);
}

int __wrap_fdatasync(int fd)
{
	IO_FAIL_IF_ARMED("fdatasync", fd);
	return __real_fdatasync(fd);
}

ssize_t __real_copy_file_range(int in, off_t *in_off, int out,
			       off_t *out_off, size_t n, unsigned flags);
ssize_t __wrap_copy_file_range(int in, off_t *in_off, int out,
			       off_t *out_off, size_t n, unsigned flags);

/* A write into out, as pwrite's plan has it; "copy_file_range" fails the
 * copy itself (EXDEV: the caller must copy by hand). */
ssize_t __wrap_copy_file_range(int in, off_t *in_off, int out,
			       off_t *out_off, size_t n, unsigned flags)
{
	bool fail;

	IO_FAIL_IF_ARMED("copy_file_range", out);
	n = io_pwrite_budget(out, n, &fail);
	if (fail) {
		errno = io_plan.err;
		return -1;
	}
	return __real_copy_file_range(in, in_off, out, out_off, n, flags);
}
#endif /* UNIT_WRAP_IO */
