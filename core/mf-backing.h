/* mf-backing: one backing file as the daemon serves it.
 *
 * All file data moves through the window cache, with three exceptions
 * made with pread/pwrite: a write at or past EOF (which grows the file
 * itself), pages new to a window that mf_window_prepare_write() says are
 * cheaper written than faulted in one by one, and the file's last bytes
 * below 2^63, which the kernel maps for nobody (mf_window_map_limit). It
 * keeps the file's size in step with writes (a writable mapping must never
 * be touched past EOF, so a write that straddles EOF ftruncates first),
 * stamps mtime/ctime the way a kernel filesystem would, and turns SIGBUS
 * (file truncated behind our back, no space for a page) into -EIO or
 * -ENOSPC.
 *
 * Locking: resize_lock (rwlock) is held shared by every read and write and
 * exclusively by truncation, so our own truncation never races a copy.
 * extend_lock (mutex) serialises growth of the file by writes. Order:
 * resize_lock before extend_lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "mf-window.h"

typedef struct MfBacking MfBacking;

/* What the backing calls around every change of the file (writes,
 * truncation, fallocate), with the backing locked (shared or exclusive):
 * before(), with the bytes [off, off+len) about to change (len UINT64_MAX:
 * truncation, the bytes from off on go away; 0: none, the file only
 * grows), so snapshots can
 * keep the old ones; a negative errno refuses the change, nothing changes
 * and the caller gets that error. after(), once the change is done or
 * failed, whenever before() returned 0. free() when the backing goes. */
typedef struct MfChangeHooks {
	int (*before)(void *arg, MfBacking *b, uint64_t off, uint64_t len);
	void (*after)(void *arg, MfBacking *b);
	void (*free)(void *arg, MfBacking *b);
} MfChangeHooks;

/* A read's reply: iovecs pointing into pinned windows (or a shared zero
 * page for holes, or tail for the bytes no window maps). Release with
 * mf_read_vec_release() once replied. */
#define MF_READ_VEC_MAX 72
typedef struct MfReadVec {
	struct iovec iov[MF_READ_VEC_MAX];
	MfWindow *pins[MF_READ_VEC_MAX];
	int niov;
	int npins;
	size_t bytes;
	MfBacking *owner;       /* its resize_lock is held until release */
	char *tail;             /* g_malloc'd, or NULL */
} MfReadVec;

/* Largest read mf_backing_read() serves in one call. */
#define MF_READ_MAX (1u << 20)

/* Takes ownership of fd (opened O_RDWR when writable, else O_RDONLY).
 * Returns 0 or -errno. */
int mf_backing_new(MfWindowCache *cache, int fd, bool writable,
		   MfBacking **ret);
/* The same, for a caller that has just fstat()ed fd: st is trusted, so no
 * system call is made. Returns 0 or -EINVAL (not a regular file). */
int mf_backing_new_stat(MfWindowCache *cache, int fd, bool writable,
			const struct stat *st, MfBacking **ret);
MfBacking *mf_backing_ref(MfBacking *b);
void mf_backing_unref(MfBacking *b);

int mf_backing_fd(const MfBacking *b);
/* Opened for writing, and writes not denied. */
bool mf_backing_writable(const MfBacking *b);
/* Opened for writing, denied or not: its windows are mapped from a
 * writable descriptor, which the kernel refuses for an append-only file
 * (mmap EACCES), so such a backing should be replaced. */
bool mf_backing_fd_writable(const MfBacking *b);
/* Refuse every write from now on with -err, or accept them again (err
 * 0, on a backing opened for writing): the file was made immutable or
 * append-only, which the kernel checks when a file is opened or mapped but
 * not on stores into windows mapped before; or a read-only backing says
 * why it is one. Truncation and fallocate go to the file, which refuses
 * them itself. */
void mf_backing_deny_writes(MfBacking *b, int err);

/* Current size from the file itself; takes no lock, so callers holding
 * the resize lock may ask too. Returns 0 or -errno. */
int mf_backing_size(MfBacking *b, uint64_t *size);

/* Map up to len bytes at off (capped at MF_READ_MAX and at EOF) into out.
 * Returns bytes (0 at EOF) or -errno. On success the caller must call
 * mf_read_vec_release(). */
ssize_t mf_backing_read(MfBacking *b, uint64_t off, size_t len,
			MfReadVec *out);
void mf_read_vec_release(MfReadVec *v);
/* A read of up to len bytes at off that the caller serves from the
 * backing's descriptor (splice), not from windows: the bytes it should
 * read, capped at MF_READ_MAX and at EOF (0 there), counted as read.
 * The descriptor reads the page cache the windows map, so the bytes are
 * those a window would give. Returns bytes or -errno. */
ssize_t mf_backing_read_by_fd(MfBacking *b, uint64_t off, size_t len);
/* Append len bytes of zeros (at most MF_READ_MAX) to v. Returns false,
 * appending nothing, when v has no iovec left. */
bool mf_read_vec_zeros(MfReadVec *v, size_t len);

/* Copy len bytes at off out of the file into buf. Returns bytes (short at
 * EOF) or -errno. */
ssize_t mf_backing_read_copy(MfBacking *b, uint64_t off, void *buf,
			     size_t len);

/* Write len bytes at off, extending the file if needed. Returns len, a
 * shorter count when space ran out part way, or -errno (-ENOSPC, -EIO if the
 * file shrank behind our back, -EBADF on a read-only backing, -EFBIG). */
ssize_t mf_backing_write(MfBacking *b, uint64_t off, const void *buf,
			 size_t len);

/* Someone set the file's times explicitly: the next write stamps mtime
 * again even within the same clock tick. */
void mf_backing_times_changed(MfBacking *b);

/* Returns 0 or -errno. */
int mf_backing_truncate(MfBacking *b, uint64_t size);
/* fallocate(2) with its mode bits. Returns 0 or -errno. */
int mf_backing_fallocate(MfBacking *b, int mode, uint64_t off, uint64_t len);
/* Flush the whole file (len 0): msync of its mapped windows, then fsync
 * or fdatasync. Or flush only [off, off+len): msync(MS_SYNC) of those
 * pages, mapping windows as needed (Linux writes back and waits on just
 * that range). Returns 0 or -errno. */
int mf_backing_flush(MfBacking *b, uint64_t off, uint64_t len, bool datasync);
/* lseek(2) SEEK_DATA / SEEK_HOLE. Returns the offset or -errno. */
off_t mf_backing_seek(MfBacking *b, off_t off, int whence);
/* Copy len bytes from src at soff to dst at doff through windows.
 * Returns bytes copied or -errno. */
ssize_t mf_backing_copy(MfBacking *src, uint64_t soff, MfBacking *dst,
			uint64_t doff, size_t len);

/* Install the change hooks (static, not copied), once. Waits for reads
 * and writes in flight. Returns false (and frees nothing) if hooks are
 * installed already. */
bool mf_backing_set_hooks(MfBacking *b, const MfChangeHooks *hooks,
			  void *arg);
/* Whether change hooks are installed (they hold descriptors of their
 * own: a file's snapshot and private view stores). */
bool mf_backing_has_hooks(MfBacking *b);

/* The resize lock, for callers that must see or change the file as one
 * step (taking a snapshot, committing a cow view). Shared locks nest;
 * nothing else may be called with the exclusive lock held except the
 * _locked functions. */
void mf_backing_lock_shared(MfBacking *b);
void mf_backing_lock_exclusive(MfBacking *b);
void mf_backing_unlock(MfBacking *b);

/* Copy page number page (MF_PAGE-sized pages of mf-store.h) of the live
 * file into buf, zeros past EOF; *hole tells that the whole page reads
 * as zeros without data behind it. Lock held. Returns 0 or -errno (-EIO:
 * the file shrank behind our back). */
int mf_backing_page_locked(MfBacking *b, uint64_t page, void *buf,
			   bool *hole);
/* The same, with st an fstat of the file the caller took under the lock
 * (one for many pages: a syscall less per page kept). */
int mf_backing_page_at(MfBacking *b, const struct stat *st, uint64_t page,
		       void *buf, bool *hole);
/* What mf_backing_page_at() would read, for a copy made without reading:
 * *len bytes of data from page * MF_PAGE, 0 if the page is a hole or past
 * EOF. Returns 0, or -EAGAIN when only mf_backing_page_at() can tell. */
int mf_backing_page_extent(MfBacking *b, const struct stat *st,
			   uint64_t page, size_t *len);
/* mf_backing_write() with the lock already held (shared or exclusive);
 * the change hook still runs. */
ssize_t mf_backing_write_locked(MfBacking *b, uint64_t off, const void *buf,
				size_t len);

/* mf_backing_truncate() with the lock held exclusively; the change hook
 * still runs. */
int mf_backing_truncate_locked(MfBacking *b, uint64_t size);

/* Counters summed over every backing. */
typedef struct MfIoStats {
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t sigbus;
	uint64_t write_syscalls; /* writes (or parts) made with pwrite */
	uint64_t reads;          /* mf_backing_read calls that read bytes */
} MfIoStats;
void mf_backing_io_stats(MfIoStats *out);
