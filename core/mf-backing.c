/* mf-backing: reads, writes and resizes of one backing file, all data moving
 * through the window cache. See mf-backing.h for the locking rules.
 */
#include "mf-backing.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mf-guard.h"
#include "mf-store.h"

struct MfBacking {
	gint refs;
	MfWindowCache *cache;
	int fd;
	bool writable;
	int deny_err;           /* refuse writes with it (atomic); see
				 * mf_backing_deny_writes */
	/* Shared by reads and writes, exclusive for truncate and fallocate.
	 * Reader-preferring (glibc's default), so nested read locks of one
	 * file (copy_file_range within a file) cannot deadlock. */
	pthread_rwlock_t resize_lock;
	GMutex extend_lock;
	uint64_t known_size;    /* protected by extend_lock */
	const MfChangeHooks *hooks;     /* set under resize_lock exclusive */
	void *hook_arg;
	int64_t stamped_ns;     /* coarse time of the last mtime stamp; atomic */
	uint64_t read_end;      /* where the last read ended; atomic */
	uint64_t run_start;     /* where the run of reads, each continuing
				 * the last, began; atomic */
	uint64_t ahead;         /* window index last populated ahead, + 1;
				 * atomic */
	/* [extent_start, extent_end): data, no hole, as SEEK_HOLE last found
	 * it (see data_end). Cleared under resize_lock exclusive. */
	GMutex extent_lock;
	uint64_t extent_start, extent_end;
};

static MfIoStats io_stats;  /* updated atomically */

/* A read-only mapping of zeros that hole reads reply from. */
static const char *zeros(void)
{
	static gsize once;
	static void *page;

	if (g_once_init_enter(&once)) {
		page = mmap(NULL, MF_READ_MAX, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		g_assert(page != MAP_FAILED);
		g_once_init_leave(&once, 1);
	}
	return page;
}

int mf_backing_new(MfWindowCache *cache, int fd, bool writable,
		   MfBacking **ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return mf_backing_new_stat(cache, fd, writable, &st, ret);
}

int mf_backing_new_stat(MfWindowCache *cache, int fd, bool writable,
			const struct stat *st, MfBacking **ret)
{
	MfBacking *b;

	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	b = g_new0(MfBacking, 1);
	b->refs = 1;
	b->cache = cache;
	b->fd = fd;
	b->writable = writable;
	b->known_size = (uint64_t)st->st_size;
	pthread_rwlock_init(&b->resize_lock, NULL);
	g_mutex_init(&b->extend_lock);
	g_mutex_init(&b->extent_lock);
	*ret = b;
	return 0;
}

MfBacking *mf_backing_ref(MfBacking *b)
{
	g_atomic_int_inc(&b->refs);
	return b;
}

void mf_backing_unref(MfBacking *b)
{
	if (!b || !g_atomic_int_dec_and_test(&b->refs))
		return;
	if (b->hooks)
		b->hooks->free(b->hook_arg, b);
	mf_window_cache_forget_fd(b->cache, b->fd);
	close(b->fd);
	pthread_rwlock_destroy(&b->resize_lock);
	g_mutex_clear(&b->extend_lock);
	g_mutex_clear(&b->extent_lock);
	g_free(b);
}

int mf_backing_fd(const MfBacking *b)
{
	return b->fd;
}

bool mf_backing_writable(const MfBacking *b)
{
	return b->writable && !__atomic_load_n(&b->deny_err, __ATOMIC_RELAXED);
}

bool mf_backing_fd_writable(const MfBacking *b)
{
	return b->writable;
}

void mf_backing_deny_writes(MfBacking *b, int err)
{
	__atomic_store_n(&b->deny_err, err, __ATOMIC_RELAXED);
}

int mf_backing_size(MfBacking *b, uint64_t *size)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Has the file as many blocks as its size needs, so no hole a read must
 * answer from zeros? Blocks past EOF (fallocate KEEP_SIZE) or of metadata
 * can hide a hole; reading such a hole through a window costs at worst a
 * page of the backing file's memory, never a wrong byte. */
static bool is_dense(const struct stat *st)
{
	uint64_t page = 4096, size = (uint64_t)st->st_size;

	return (uint64_t)st->st_blocks * 512 >= ((size + page - 1) & ~(page - 1));
}

/* Limit [off, off+*len) to the file as it is now. *dense tells that the
 * file has as many blocks as its size needs, so it has no hole a read
 * must answer from zeros. Returns 0 or -errno. */
static int clamp_to_size(MfBacking *b, uint64_t off, size_t *len, bool *dense)
{
	uint64_t size;
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	*dense = is_dense(&st);
	if (off >= size)
		*len = 0;
	else if (*len > size - off)
		*len = (size_t)(size - off);
	return 0;
}

static void vec_push(MfReadVec *v, const void *base, size_t len)
{
	v->iov[v->niov].iov_base = (void *)base;
	v->iov[v->niov].iov_len = len;
	v->niov++;
	v->bytes += len;
}

/* Where the data at or after pos starts, capped at *end. No data after
 * pos is a hole to EOF, or a file that shrank behind our back since its
 * size was taken: then *end comes down to EOF as it is now, and the read
 * stops there. An error reads as data at pos: the window then reads it,
 * which is never a wrong byte. */
static uint64_t next_data(MfBacking *b, uint64_t pos, uint64_t *end)
{
	off_t data = lseek(b->fd, (off_t)pos, SEEK_DATA), size;

	if (data >= 0)
		return MIN((uint64_t)data, *end);
	if (errno != ENXIO)
		return pos;
	size = lseek(b->fd, 0, SEEK_END);
	if (size >= 0 && (uint64_t)size < *end)
		*end = MAX((uint64_t)size, pos);
	return *end;
}

/* Holding resize_lock exclusive: the file may have lost data, and its
 * windows the pages that held it. */
static void forget_extent(MfBacking *b)
{
	mf_window_cache_forget_written(b->cache, b->fd);
	g_mutex_lock(&b->extent_lock);
	b->extent_start = b->extent_end = 0;
	g_mutex_unlock(&b->extent_lock);
}

/* Where the data that starts at pos ends: the next hole, capped at end.
 * SEEK_HOLE walks every page of the data extent pos is in, which for a
 * large file with a hole at its far end is every read's cost; so the
 * extent found is remembered until the file loses data through us
 * (truncate, fallocate: forget_extent). Writes only turn holes into data.
 * A hole punched behind our back is read through a window (allocated, on
 * tmpfs), never answered wrongly. */
static uint64_t data_end(MfBacking *b, uint64_t pos, uint64_t end)
{
	uint64_t stop = 0;
	off_t hole;

	g_mutex_lock(&b->extent_lock);
	if (pos >= b->extent_start && pos < b->extent_end)
		stop = b->extent_end;
	g_mutex_unlock(&b->extent_lock);
	if (stop)
		return MIN(stop, end);
	hole = lseek(b->fd, (off_t)pos, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= pos)
		return end;
	g_mutex_lock(&b->extent_lock);
	b->extent_start = pos;
	b->extent_end = (uint64_t)hole;
	g_mutex_unlock(&b->extent_lock);
	return MIN((uint64_t)hole, end);
}

/* Populating ahead: a sequential reader's next window is mapped and its
 * pages faulted in on the window cache's helper thread, while the reply
 * that comes before it is copied. The kernel then finds the pages mapped
 * when it copies the next replies out of the window, instead of faulting
 * them in one by one on the thread that answers: with 1 MiB windows and
 * 4 KiB pages that is most of a cold read's cost in the daemon. */
typedef struct Ahead {
	MfBacking *b;           /* a reference */
	uint64_t off;           /* the window's first byte */
} Ahead;

static void populate_ahead(void *arg)
{
	Ahead *a = arg;
	MfBacking *b = a->b;
	size_t wsize = mf_window_cache_window_size(b->cache);
	struct stat st;
	MfWindow *w;

	pthread_rwlock_rdlock(&b->resize_lock);
	/* Only data: faulting a hole in would allocate it on tmpfs. So only
	 * a file without holes, as it is now, up to its end. */
	if (fstat(b->fd, &st) == 0 && a->off < (uint64_t)st.st_size &&
	    is_dense(&st) && mf_window_pin(b->cache, b->fd, b->writable, a->off, &w) == 0) {
		mf_window_populate(w, 0, (size_t)MIN((uint64_t)wsize,
						     (uint64_t)st.st_size - a->off));
		mf_window_unpin(w);
	}
	pthread_rwlock_unlock(&b->resize_lock);
	mf_backing_unref(b);
	g_free(a);
}

/* Reads that continue each other over this many bytes are a sequential
 * reader. Less would catch the kernel's read-around of a random mmap
 * fault, sent as two or three requests back to back (128 KiB), and
 * populate whole windows nobody reads. */
#define AHEAD_AFTER (512u << 10)

/* After a read of [off, end) of a file without holes: if it ends a run of
 * reads continuing each other of AHEAD_AFTER bytes or more, have the
 * window after the one end lies in populated ahead, once. */
static void read_ahead(MfBacking *b, uint64_t off, uint64_t end, bool dense)
{
	size_t wsize = mf_window_cache_window_size(b->cache);
	uint64_t next = end / wsize + 1;
	Ahead *a;

	if (__atomic_exchange_n(&b->read_end, end, __ATOMIC_RELAXED) != off) {
		__atomic_store_n(&b->run_start, off, __ATOMIC_RELAXED);
		return;
	}
	if (!dense ||
	    end - __atomic_load_n(&b->run_start, __ATOMIC_RELAXED) <
		    AHEAD_AFTER ||
	    __atomic_exchange_n(&b->ahead, next + 1, __ATOMIC_RELAXED) ==
		    next + 1)
		return;
	a = g_new(Ahead, 1);
	a->b = mf_backing_ref(b);
	a->off = next * wsize;
	mf_window_cache_defer(b->cache, populate_ahead, a);
}

/* Windows that [off, end) touches. */
static int windows_spanned(size_t wsize, uint64_t off, uint64_t end)
{
	return (int)((end - 1) / wsize - off / wsize + 1);
}

/* The file's last page below 2^63 can hold data but no window maps it
 * (mf_window_map_limit): its bytes [pos, stop) are read into out->tail.
 * Returns the bytes read (short at EOF; 0 if out has no iovec left, and
 * the read ends before them) or -errno. */
static ssize_t read_unmapped(MfBacking *b, uint64_t pos, uint64_t stop,
			     MfReadVec *out)
{
	ssize_t n;

	if (out->niov == MF_READ_VEC_MAX)
		return 0;
	out->tail = g_malloc(stop - pos);
	n = pread(b->fd, out->tail, stop - pos, (off_t)pos);
	if (n < 0)
		return -errno;
	if (n > 0)
		vec_push(out, out->tail, (size_t)n);
	return n;
}

ssize_t mf_backing_read(MfBacking *b, uint64_t off, size_t len,
			MfReadVec *out)
{
	size_t wsize = mf_window_cache_window_size(b->cache);
	uint64_t pos, end;
	bool dense = false;
	int r;

	out->niov = out->npins = 0;
	out->bytes = 0;
	out->owner = NULL;
	out->tail = NULL;
	if (len > MF_READ_MAX)
		len = MF_READ_MAX;
	pthread_rwlock_rdlock(&b->resize_lock);
	r = clamp_to_size(b, off, &len, &dense);
	if (r < 0 || len == 0)
		goto fail;
	/* With small windows, a long read would need more iovecs than out
	 * has: one is kept for a leading hole. Callers loop on short reads. */
	len = (size_t)MIN((uint64_t)len, (uint64_t)(MF_READ_VEC_MAX - 1) * wsize -
					      (off & (wsize - 1)));
	pos = off;
	end = off + len;
	while (pos < end) {
		uint64_t stop = end;

		/* Holes are answered from the zero page: touching one through
		 * a shared window would allocate pages on tmpfs, and a sparse
		 * terabyte would fill memory. A dense file has no hole to look
		 * for: no system call. Once out has no room for one more hole
		 * and the windows after it, the rest of the read goes through
		 * windows, holes and all. */
		if (!dense && pos < mf_window_map_limit() &&
		    out->niov + 1 + windows_spanned(wsize, pos, end) <=
			    MF_READ_VEC_MAX) {
			/* Holes are looked for below the map limit only:
			 * tmpfs (Linux 6.x) finds no data in the last page
			 * below 2^63, so that page is read as it is. */
			uint64_t cap = MIN(end, mf_window_map_limit()), to = cap;
			uint64_t data = next_data(b, pos, &to);

			if (to < cap)
				end = to;       /* the file ends there now */
			if (data > pos) {
				vec_push(out, zeros(), data - pos);
				pos = data;
				continue;
			}
			stop = data_end(b, pos, to);
		}
		while (pos < stop) {
			MfWindow *w;
			uint64_t wend;

			if (pos >= mf_window_map_limit()) {
				r = read_unmapped(b, pos, stop, out);
				if (r < 0)
					goto fail;
				end = pos = stop = pos + (uint64_t)r;
				break;
			}
			r = mf_window_pin(b->cache, b->fd, b->writable, pos, &w);
			if (r < 0)
				goto fail;
			out->pins[out->npins++] = w;
			wend = mf_window_offset(w) + mf_window_length(w);
			if (wend > stop)
				wend = stop;
			vec_push(out, mf_window_addr(w) + (pos - mf_window_offset(w)),
				 wend - pos);
			pos = wend;
		}
	}
	__atomic_add_fetch(&io_stats.bytes_read, out->bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&io_stats.reads, 1, __ATOMIC_RELAXED);
	read_ahead(b, off, end, dense);
	/* resize_lock stays held until mf_read_vec_release(): the reply is
	 * built from window memory that our own truncate must not cut. */
	out->owner = b;
	return (ssize_t)out->bytes;
fail:
	pthread_rwlock_unlock(&b->resize_lock);
	for (int i = 0; i < out->npins; i++)
		mf_window_unpin(out->pins[i]);
	out->niov = out->npins = 0;
	g_clear_pointer(&out->tail, g_free);
	return r;
}

void mf_read_vec_release(MfReadVec *v)
{
	for (int i = 0; i < v->npins; i++)
		mf_window_unpin(v->pins[i]);
	if (v->owner)
		pthread_rwlock_unlock(&v->owner->resize_lock);
	v->owner = NULL;
	v->niov = v->npins = 0;
	g_clear_pointer(&v->tail, g_free);
}

ssize_t mf_backing_read_by_fd(MfBacking *b, uint64_t off, size_t len)
{
	uint64_t size;
	int r = mf_backing_size(b, &size);

	if (r < 0)
		return r;
	len = MIN(len, (size_t)MF_READ_MAX);
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	__atomic_add_fetch(&io_stats.bytes_read, len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&io_stats.reads, 1, __ATOMIC_RELAXED);
	return (ssize_t)len;
}

bool mf_read_vec_zeros(MfReadVec *v, size_t len)
{
	if (v->niov == MF_READ_VEC_MAX)
		return false;
	vec_push(v, zeros(), MIN(len, (size_t)MF_READ_MAX));
	return true;
}

ssize_t mf_backing_read_copy(MfBacking *b, uint64_t off, void *buf,
			     size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		MfReadVec v;
		size_t got = 0;

		r = mf_backing_read(b, off + done, len - done, &v);
		if (r <= 0) {
			if (r < 0 && done == 0)
				return r;
			break;
		}
		for (int i = 0; i < v.niov; i++) {
			size_t n = mf_guard_copy((char *)buf + done + got,
						 v.iov[i].iov_base,
						 v.iov[i].iov_len);

			got += n;
			if (n < v.iov[i].iov_len)
				break;
		}
		mf_read_vec_release(&v);
		done += got;
		if (got < (size_t)r) {
			/* The file shrank behind our back. */
			__atomic_add_fetch(&io_stats.sigbus, 1,
					   __ATOMIC_RELAXED);
			return done ? (ssize_t)done : -EIO;
		}
	}
	return (ssize_t)done;
}

/* Make the file at least end bytes long: a writable window must never be
 * stored to past EOF. *grown_from is set to the old size when we grew it.
 * Called under resize_lock (shared). Returns 0 or -errno. */
static int ensure_size(MfBacking *b, uint64_t end, bool refresh,
		       int64_t *grown_from)
{
	int r = 0;

	g_mutex_lock(&b->extend_lock);
	if (refresh || end > b->known_size) {
		/* known_size may be stale if someone bypassed the mount. */
		r = mf_backing_size(b, &b->known_size);
		if (r == 0 && end > b->known_size) {
			if (ftruncate(b->fd, (off_t)end) < 0) {
				r = -errno;
			} else {
				*grown_from = (int64_t)b->known_size;
				b->known_size = end;
			}
		}
	}
	g_mutex_unlock(&b->extend_lock);
	return r;
}

/* Give back what a failed write grew, keeping the bytes it did store. */
static void undo_growth(MfBacking *b, int64_t grown_from, uint64_t end,
			uint64_t kept_end)
{
	uint64_t size = (uint64_t)grown_from > kept_end ? (uint64_t)grown_from
							: kept_end;

	g_mutex_lock(&b->extend_lock);
	/* Only if nobody grew it further meanwhile. */
	if (b->known_size == end && ftruncate(b->fd, (off_t)size) == 0)
		b->known_size = size;
	g_mutex_unlock(&b->extend_lock);
}

/* Set mtime and ctime to now, as a kernel filesystem does on write. Stores
 * through a mapping only stamp on the first fault of a clean page, so we
 * stamp ourselves, at most once per tick of the coarse clock — the
 * granularity the kernel itself keeps. */
static void stamp_mtime(MfBacking *b)
{
	static const struct timespec now[2] = { { 0, UTIME_OMIT },
						{ 0, UTIME_NOW } };
	struct timespec ts;
	int64_t ns;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (__atomic_exchange_n(&b->stamped_ns, ns, __ATOMIC_RELAXED) == ns)
		return;
	futimens(b->fd, now);
}

/* The file's mtime was just set to now by a call of ours: stamp_mtime()
 * need not set it again in this tick. */
static void note_stamped(MfBacking *b)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	__atomic_store_n(&b->stamped_ns,
			 (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
			 __ATOMIC_RELAXED);
}

void mf_backing_times_changed(MfBacking *b)
{
	__atomic_store_n(&b->stamped_ns, 0, __ATOMIC_RELAXED);
}

/* pwrite(2) all of buf at off, adding the bytes written to *put.
 * Returns 0 or -errno. */
static int pwrite_all(int fd, const char *buf, size_t len, uint64_t off,
		      size_t *put)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		*put += (size_t)n;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* A write that starts at or past EOF (cp, tar, a new file: most writes
 * that grow a file) has no byte in any window: pwrite it, which grows the
 * file itself, with no ftruncate first and no window mapped for it (nor
 * another evicted). Under extend_lock, so that no other writer's
 * ensure_size(), having found the file shorter, cuts it back meanwhile.
 * Returns 1 when the write starts inside the file (nothing done), else 0
 * when it is all written or -errno, adding the bytes written to *done. */
static int append(MfBacking *b, uint64_t off, const char *buf, size_t len,
		  size_t *done)
{
	int r = 1;

	g_mutex_lock(&b->extend_lock);
	if (off >= b->known_size) {
		__atomic_add_fetch(&io_stats.write_syscalls, 1,
				   __ATOMIC_RELAXED);
		r = pwrite_all(b->fd, buf, len, off, done);
		if (off + *done > b->known_size)
			b->known_size = off + *done;
	}
	g_mutex_unlock(&b->extend_lock);
	return r;
}

/* Store [off, off+len) through windows (each window's pages new to it
 * with pwrite: mf_window_prepare_write, setting *pwrote), adding the
 * bytes stored to *done.
 * Returns 0 when all are stored, 1 when a SIGBUS stopped the copy, or
 * -errno when a window cannot be mapped or pwrite fails. */
static int store(MfBacking *b, uint64_t off, const char *buf, size_t len,
		 size_t *stored, bool *pwrote)
{
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done;
		size_t chunk, n;
		MfWindow *w;
		int r;

		if (pos >= mf_window_map_limit()) {
			/* No window maps these: see read_unmapped(). */
			r = pwrite_all(b->fd, buf + done, len - done, pos, &done);
			*stored += done;
			return r;
		}
		r = mf_window_pin(b->cache, b->fd, true, pos, &w);
		if (r < 0) {
			*stored += done;
			return r;
		}
		chunk = mf_window_length(w) - (size_t)(pos - mf_window_offset(w));
		if (chunk > len - done)
			chunk = len - done;
		if (!mf_window_prepare_write(w, (size_t)(pos - mf_window_offset(w)),
					     chunk)) {
			*pwrote = true;
			__atomic_add_fetch(&io_stats.write_syscalls, 1,
					   __ATOMIC_RELAXED);
			r = pwrite_all(b->fd, buf + done, chunk, pos, &done);
			mf_window_unpin(w);
			if (r < 0) {
				*stored += done;
				return r;
			}
			continue;
		}
		n = mf_guard_copy(mf_window_addr(w) + (pos - mf_window_offset(w)),
				  buf + done, chunk);
		mf_window_unpin(w);
		done += n;
		if (n < chunk) {
			*stored += done;
			return 1;
		}
	}
	*stored += done;
	return 0;
}

ssize_t mf_backing_write(MfBacking *b, uint64_t off, const void *buf,
			 size_t len)
{
	ssize_t r;

	pthread_rwlock_rdlock(&b->resize_lock);
	r = mf_backing_write_locked(b, off, buf, len);
	pthread_rwlock_unlock(&b->resize_lock);
	return r;
}

ssize_t mf_backing_write_locked(MfBacking *b, uint64_t off, const void *buf,
				size_t len)
{
	uint64_t end = off + len;
	int64_t grown_from = -1;
	bool pwrote = false;
	size_t done = 0;
	ssize_t r = 0;

	if ((r = __atomic_load_n(&b->deny_err, __ATOMIC_RELAXED)))
		return -r;
	if (!b->writable)
		return -EBADF;
	if (len == 0)
		return 0;
	if (end < off || end > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (b->hooks && (r = b->hooks->before(b->hook_arg, b, off, len)) < 0)
		return r;
	r = append(b, off, buf, len, &done);
	if (r <= 0) {
		pwrote = true;
		goto out;
	}
	r = ensure_size(b, end, false, &grown_from);
	for (int attempt = 0; r == 0 && done < len; attempt++) {
		uint64_t size;

		r = store(b, off + done, (const char *)buf + done, len - done,
			  &done, &pwrote);
		if (r <= 0)
			break;
		/* A SIGBUS: the file shrank behind our back, or the
		 * filesystem had no page to give. Find out which, once. */
		__atomic_add_fetch(&io_stats.sigbus, 1, __ATOMIC_RELAXED);
		if (attempt > 0) {
			r = -EIO;
		} else if ((r = mf_backing_size(b, &size)) == 0) {
			if (size < end) {
				/* Growing again zeroes what we stored past
				 * the new EOF: store all of it again. */
				r = ensure_size(b, end, true, &grown_from);
				done = 0;
			} else if (fallocate(b->fd, 0, (off_t)(off + done),
					     (off_t)(len - done)) < 0) {
				r = errno == EOPNOTSUPP ? -EIO : -errno;
			}
		}
	}
	if (done < len && grown_from >= 0)
		undo_growth(b, grown_from, end, done ? off + done : 0);
out:
	if (done > 0) {
		/* The ftruncate that grew the file for this write, or a
		 * pwrite that stored part of it, has stamped it already, as
		 * a kernel write stamps before it copies: one system call
		 * less. */
		if (grown_from >= 0 || pwrote)
			note_stamped(b);
		else
			stamp_mtime(b);
		__atomic_add_fetch(&io_stats.bytes_written, done,
				   __ATOMIC_RELAXED);
	}
	if (b->hooks)
		b->hooks->after(b->hook_arg, b);
	return done ? (ssize_t)done : r;
}

int mf_backing_truncate(MfBacking *b, uint64_t size)
{
	int r;

	if (!b->writable)
		return -EBADF;
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&b->resize_lock);
	r = mf_backing_truncate_locked(b, size);
	pthread_rwlock_unlock(&b->resize_lock);
	return r;
}

int mf_backing_truncate_locked(MfBacking *b, uint64_t size)
{
	int r = 0;

	if (!b->writable)
		return -EBADF;
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	g_mutex_lock(&b->extend_lock);
	if (b->hooks && (r = mf_backing_size(b, &b->known_size)) == 0)
		r = b->hooks->before(b->hook_arg, b, size,
				     size < b->known_size ? UINT64_MAX : 0);
	forget_extent(b);
	if (r == 0) {
		if (ftruncate(b->fd, (off_t)size) < 0)
			r = -errno;
		else
			b->known_size = size;
		if (b->hooks)
			b->hooks->after(b->hook_arg, b);
	}
	g_mutex_unlock(&b->extend_lock);
	mf_backing_times_changed(b);
	return r;
}

int mf_backing_fallocate(MfBacking *b, int mode, uint64_t off, uint64_t len)
{
	int r = 0;

	if (!b->writable)
		return -EBADF;
	pthread_rwlock_wrlock(&b->resize_lock);
	g_mutex_lock(&b->extend_lock);
	/* Modes that change bytes: the old ones go to snapshots first.
	 * Collapse and insert move every byte after off, holes too. */
	if (b->hooks) {
		uint64_t changed = 0;

		if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
			changed = mf_backing_size(b, &b->known_size) == 0 &&
						  b->known_size > off
					  ? b->known_size - off
					  : 0;
		else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
			changed = len;
		r = b->hooks->before(b->hook_arg, b, off, changed);
	}
	forget_extent(b);
	if (r == 0) {
		if (fallocate(b->fd, mode, (off_t)off, (off_t)len) < 0)
			r = -errno;
		if (b->hooks)
			b->hooks->after(b->hook_arg, b);
	}
	mf_backing_size(b, &b->known_size);
	g_mutex_unlock(&b->extend_lock);
	pthread_rwlock_unlock(&b->resize_lock);
	return r;
}

/* msync(MS_SYNC) every page of [off, off+len), mapping windows as needed:
 * on Linux that writes back and waits on exactly that range, as
 * FlushViewOfFile does. */
static int flush_range(MfBacking *b, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t pos = off & ~(page - 1), end = off + len;
	int err = 0;

	while (pos < end) {
		MfWindow *w;
		uint64_t wstart, stop;
		int r;

		if (pos >= mf_window_map_limit()) {
			/* Written with pwrite: what msync does for the rest. */
			if (sync_file_range(b->fd, (off_t)pos, (off_t)(end - pos),
					    SYNC_FILE_RANGE_WAIT_BEFORE |
						    SYNC_FILE_RANGE_WRITE |
						    SYNC_FILE_RANGE_WAIT_AFTER) < 0 &&
			    !err)
				err = -errno;
			break;
		}
		r = mf_window_pin(b->cache, b->fd, b->writable, pos, &w);
		if (r < 0)
			return r;
		wstart = mf_window_offset(w);
		stop = MIN(end, wstart + mf_window_length(w));
		if (msync(mf_window_addr(w) + (pos - wstart), stop - pos,
			  MS_SYNC) < 0 && !err)
			err = -errno;
		mf_window_unpin(w);
		pos = stop;
	}
	return err;
}

int mf_backing_flush(MfBacking *b, uint64_t off, uint64_t len, bool datasync)
{
	int r;

	if (len)
		return flush_range(b, off, len);
	r = mf_window_cache_sync(b->cache, b->fd, 0, 0);
	if ((datasync ? fdatasync(b->fd) : fsync(b->fd)) < 0 && r == 0)
		r = -errno;
	return r;
}

off_t mf_backing_seek(MfBacking *b, off_t off, int whence)
{
	off_t r = lseek(b->fd, off, whence);

	return r < 0 ? -errno : r;
}

ssize_t mf_backing_copy(MfBacking *src, uint64_t soff, MfBacking *dst,
			uint64_t doff, size_t len)
{
	size_t done = 0;
	ssize_t r = 0;

	while (done < len) {
		MfReadVec v;
		size_t got = 0;

		r = mf_backing_read(src, soff + done, len - done, &v);
		if (r <= 0)
			break;
		for (int i = 0; i < v.niov; i++) {
			r = mf_backing_write(dst, doff + done + got,
					     v.iov[i].iov_base,
					     v.iov[i].iov_len);
			if (r <= 0)
				break;
			got += (size_t)r;
			if ((size_t)r < v.iov[i].iov_len) {
				r = 0;
				break;
			}
		}
		mf_read_vec_release(&v);
		done += got;
		if (r <= 0)
			break;
	}
	return done ? (ssize_t)done : r;
}

bool mf_backing_set_hooks(MfBacking *b, const MfChangeHooks *hooks,
			  void *arg)
{
	bool set = false;

	pthread_rwlock_wrlock(&b->resize_lock);
	if (!b->hooks) {
		b->hooks = hooks;
		b->hook_arg = arg;
		set = true;
	}
	pthread_rwlock_unlock(&b->resize_lock);
	return set;
}

bool mf_backing_has_hooks(MfBacking *b)
{
	bool has;

	pthread_rwlock_rdlock(&b->resize_lock);
	has = b->hooks != NULL;
	pthread_rwlock_unlock(&b->resize_lock);
	return has;
}

void mf_backing_lock_shared(MfBacking *b)
{
	pthread_rwlock_rdlock(&b->resize_lock);
}

void mf_backing_lock_exclusive(MfBacking *b)
{
	pthread_rwlock_wrlock(&b->resize_lock);
}

void mf_backing_unlock(MfBacking *b)
{
	pthread_rwlock_unlock(&b->resize_lock);
}

int mf_backing_page_locked(MfBacking *b, uint64_t page, void *buf,
			   bool *hole)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	return mf_backing_page_at(b, &st, page, buf, hole);
}

int mf_backing_page_extent(MfBacking *b, const struct stat *st,
			   uint64_t page, size_t *len)
{
	uint64_t start = page * MF_PAGE, size = (uint64_t)st->st_size;
	off_t data;

	*len = 0;
	if (start >= size)
		return 0;
	*len = (size_t)MIN(size - start, (uint64_t)MF_PAGE);
	/* No window maps it, and SEEK_DATA may miss its data (see
	 * mf_backing_read): it is read as it is. */
	if (start >= mf_window_map_limit())
		return -EAGAIN;
	/* A hole reads as zeros, and is kept as a hole; a file with no
	 * hole needs no look (one hidden by extra blocks is kept as a page
	 * of zeros: never a wrong byte). */
	data = is_dense(st) ? (off_t)start
			    : lseek(b->fd, (off_t)start, SEEK_DATA);
	if ((data < 0 && errno == ENXIO) ||
	    (data >= 0 && (uint64_t)data >= start + MF_PAGE))
		*len = 0;
	return 0;
}

int mf_backing_page_at(MfBacking *b, const struct stat *st, uint64_t page,
		       void *buf, bool *hole)
{
	size_t len;
	int r = mf_backing_page_extent(b, st, page, &len);
	/* Read, not copied from a window: the page is copied once, before
	 * its first write after a snapshot, and a window would map it for
	 * that alone (a fault and its page table entries each time: half
	 * the daemon's time per such write). The page cache is the one
	 * the windows map. */
	ssize_t n = r == 0 && len == 0
			    ? 0
			    : pread(b->fd, buf, len, (off_t)(page * MF_PAGE));

	*hole = len == 0;
	if (n < 0)
		return -errno;
	if (r == 0 && (size_t)n < len)
		return -EIO;    /* shrunk behind the mount since the size */
	memset((char *)buf + n, 0, MF_PAGE - (size_t)n);
	return 0;
}

void mf_backing_io_stats(MfIoStats *out)
{
	out->bytes_read = __atomic_load_n(&io_stats.bytes_read, __ATOMIC_RELAXED);
	out->bytes_written =
		__atomic_load_n(&io_stats.bytes_written, __ATOMIC_RELAXED);
	out->sigbus = __atomic_load_n(&io_stats.sigbus, __ATOMIC_RELAXED);
	out->write_syscalls =
		__atomic_load_n(&io_stats.write_syscalls, __ATOMIC_RELAXED);
	out->reads = __atomic_load_n(&io_stats.reads, __ATOMIC_RELAXED);
}
