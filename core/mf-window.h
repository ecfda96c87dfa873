/* mf-window: the window cache.
 *
 * A window is an aligned, fixed-size MAP_SHARED mapping of one backing file.
 * Windows are pinned by a count while a request uses their memory and evicted
 * least-recently-used once more than max_windows are mapped. Pinned windows
 * are never unmapped, so the budget may be exceeded briefly while every
 * mapped window is in use (or by one window per thread mapping at that
 * moment); it is restored as soon as pins drop.
 *
 * Windows are keyed by the backing file descriptor: whoever closes that fd
 * calls mf_window_cache_forget_fd() first.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct MfWindowCache MfWindowCache;
typedef struct MfWindow MfWindow;

typedef struct MfWindowStats {
	uint64_t mapped_now;   /* windows mapped at this moment */
	uint64_t maps;         /* mmap calls made (that succeeded) */
	uint64_t unmaps;       /* munmap calls made */
	uint64_t hits;         /* pins served by a mapped window */
	uint64_t misses;       /* pins that had to map */
	uint64_t map_failures; /* mmap calls that failed */
	uint64_t populates;    /* windows faulted in ahead of a reader */
	uint64_t write_populated; /* pages faulted in for a rewrite, ahead */
} MfWindowStats;

/* window_size: a power of two, at least the page size. max_windows >= 1.
 * Returns NULL with errno EINVAL for bad sizes. */
MfWindowCache *mf_window_cache_new(size_t window_size, unsigned max_windows);
/* Waits for deferred work (mf_window_cache_defer), which may unpin and
 * forget windows; then every window must be unpinned. */
void mf_window_cache_free(MfWindowCache *cache);

size_t mf_window_cache_window_size(const MfWindowCache *cache);
void mf_window_cache_stats(MfWindowCache *cache, MfWindowStats *out);

/* Pin the window of fd that holds byte offset off. writable selects
 * PROT_WRITE when the window is mapped: every pin of one fd must ask for
 * the same (a backing decides once, by how its fd was opened). Returns 0,
 * -EOVERFLOW for off at or past mf_window_map_limit(), or -errno from mmap
 * (ENOMEM, EACCES, ENODEV...). */
int mf_window_pin(MfWindowCache *cache, int fd, bool writable, uint64_t off,
		  MfWindow **ret);
void mf_window_unpin(MfWindow *w);

/* First file offset the window maps, its memory, and how many bytes of
 * it are mapped: the window size, but for the window that reaches
 * mf_window_map_limit(). */
uint64_t mf_window_offset(const MfWindow *w);
char *mf_window_addr(const MfWindow *w);
size_t mf_window_length(const MfWindow *w);

/* The end of what mmap reaches of a file: 2^63 less a page. The kernel
 * maps no page that ends past MAX_LFS_FILESIZE (2^63 - 1), so a file's
 * last page below 2^63, which can hold data, is no window's: callers move
 * those bytes with pread and pwrite. */
uint64_t mf_window_map_limit(void);

/* msync(MS_SYNC) the mapped windows of fd that overlap [off, off+len).
 * Returns 0 or the first -errno. */
int mf_window_cache_sync(MfWindowCache *cache, int fd, uint64_t off,
			 uint64_t len);

/* Fault the pages of [from, from+len) of pinned window w in, without
 * copying anything (MADV_POPULATE_READ), so the kernel finds them mapped
 * when it copies a reply out of the window. Every page must be backed by
 * data: a hole would be allocated on tmpfs. Returns 0 or -errno. */
int mf_window_populate(MfWindow *w, size_t from, size_t len);

/* Before a write of [from, from+len) of pinned writable window w: how to
 * write it. false: with pwrite(2), the kernel copying through its own map:
 * some page of it is new to this window (the file grows into it, or the
 * window was just mapped) or has been written only a few times. A page
 * touched for the first time through a window costs a page fault, on a
 * virtual machine with shadow page tables a fault on the host as well,
 * 8 us here, many times the pwrite of its 4 KiB; a file written once, as
 * cp and tar write, never pays it. true: copy into the window's memory:
 * every page of it has been rewritten often enough through this window to
 * pay for faulting it in, which this call does for those not faulted in
 * yet, in one system call (MADV_POPULATE_WRITE). The pages must lie within
 * EOF. Both paths store into the same page cache, which every window and
 * reader of the file shares: they see the bytes at once either way. */
bool mf_window_prepare_write(MfWindow *w, size_t from, size_t len);
/* Writes to a page with pwrite before it is faulted in (mf-window.c says
 * why this many). */
#define MF_WINDOW_REWRITES 24
/* fd lost pages through us (truncation, hole punching): the kernel
 * unmapped them from its windows, which must fault them in again. */
void mf_window_cache_forget_written(MfWindowCache *cache, int fd);

/* Run fn(arg) later on the cache's helper thread (one, started on first
 * use), for work that should not delay a request: populating the window a
 * sequential reader comes to next. fn must release whatever arg holds.
 * mf_window_cache_free() waits for the queued work. */
void mf_window_cache_defer(MfWindowCache *cache, void (*fn)(void *arg),
			   void *arg);
/* Wait until the work deferred so far is done: deferred work may drop
 * the last reference to objects whose owners are about to go. */
void mf_window_cache_drain(MfWindowCache *cache);

/* Unmap every window of fd. None may be pinned. */
void mf_window_cache_forget_fd(MfWindowCache *cache, int fd);
