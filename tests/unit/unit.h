/* unit: helpers shared by the cmocka unit tests of core/.
 *
 * Every test runs in a fresh temporary directory (under g_get_tmp_dir(),
 * normally /tmp) made by its setup fixture and removed by its teardown.
 * Files are filled with a position-dependent pattern so that a byte read
 * from the wrong offset is always noticed.
 *
 * The test may pwrite and pread the backing files directly to set up and
 * check the engine's work; the engine itself never does.
 *
 * A note on SIGBUS: cmocka replaces the SIGBUS handler with its own around
 * every test and fixture call and restores the previous one afterwards, so
 * an mf_guard_install() made in a setup fixture is gone by the time the test
 * body runs. Tests that may fault call unit_guard() at their start.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

/* Make a fresh temporary directory; the caller g_free()s the path. */
char *unit_tmpdir(void);
/* Remove dir and everything below it. */
void unit_rmtree(const char *dir);

/* A zeroed buffer that unit_free_all() releases: tests that may fail part
 * way take their buffers from here, so a failed assertion leaks nothing. */
void *unit_alloc(size_t size);
void unit_free_all(void);

/* Install mf-guard's SIGBUS handler, asserting success. */
void unit_guard(void);

/* The pattern byte at file offset off. */
uint8_t unit_pattern(uint64_t off);
/* Fill buf with the pattern of [off, off+len). */
void unit_fill(void *buf, uint64_t off, size_t len);
/* Assert that buf holds the pattern of [off, off+len). */
#define unit_assert_pattern(buf, off, len) \
	unit_check_pattern(buf, off, len, __FILE__, __LINE__)
/* Assert that buf holds len zero bytes. */
#define unit_assert_zero(buf, len) unit_check_zero(buf, len, __FILE__, __LINE__)
void unit_check_pattern(const void *buf, uint64_t off, size_t len,
			const char *file, int line);
void unit_check_zero(const void *buf, size_t len, const char *file, int line);

/* Create dir/name holding the pattern of [0, size) and return an fd opened
 * with flags (O_RDWR or O_RDONLY). *path, if not NULL, gets the g_strdup'd
 * path. */
int unit_create(const char *dir, const char *name, uint64_t size, int flags,
		char **path);
/* Create dir/name as a sparse file of size bytes, no data. */
int unit_create_sparse(const char *dir, const char *name, uint64_t size,
		       int flags, char **path);

/* pread / pwrite exactly len bytes, asserting success. */
void unit_pread(int fd, void *buf, size_t len, uint64_t off);
void unit_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* st_size of fd, asserting fstat succeeds. */
uint64_t unit_size(int fd);

/* Run fn(arg) in a forked child and return its wait status. For code that
 * may corrupt memory or kill the process: the suite survives either way. */
int unit_in_child(int (*fn)(void *arg), void *arg);

/* I/O fault injection, for executables built with -DUNIT_WRAP_IO and
 * linked with -Wl,--wrap= for pwrite, pwrite64, fallocate, fallocate64,
 * fdatasync and copy_file_range (see meson.build): every call, the
 * engine's included, goes through unit.c first. A copy_file_range into a
 * file counts as a pwrite of it.
 *
 * unit_io_fail("pwrite", "snap/s1/pages", ENOSPC, 4096): from now on, calls
 * of that name on a file whose path ends with "/snap/s1/pages" fail with
 * ENOSPC, once `after` bytes have been let through (pwrite only: a call
 * that would cross the budget writes up to it and returns short). call is
 * "pwrite", "fallocate", "fdatasync" or "copy_file_range". Until
 * unit_io_reset(), which the test must call (a teardown does no harm).
 * unit_io_hits() counts the calls that failed, so a test can tell that
 * its fault was reached. */
void unit_io_fail(const char *call, const char *file, int err, size_t after);
void unit_io_reset(void);
unsigned unit_io_hits(void);
