/* mf-guard: copies to and from mmap windows that survive SIGBUS.
 *
 * A backing file truncated behind the daemon's back, or a filesystem that
 * cannot allocate a page on a write fault (ENOSPC), raises SIGBUS on the
 * first touch of the lost page. Every copy the daemon makes to or from a
 * window goes through mf_guard_copy(), which turns that signal into a short
 * copy instead of a dead daemon.
 */
#pragma once

#include <stddef.h>

/* Install the process-wide SIGBUS handler. Call once, before any thread
 * touches a window. Returns 0 or -errno. */
int mf_guard_install(void);

/* Copy n bytes from src to dst, page by page. Returns the number of
 * bytes copied before a SIGBUS hit either side (n when none did). The bytes
 * counted are complete; a partly copied page is not counted. */
size_t mf_guard_copy(void *dst, const void *src, size_t n);
