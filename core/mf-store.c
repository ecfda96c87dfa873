/* mf-store: presence map and pages of one store. See mf-store.h. */
#include "mf-store.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct MfStore {
	int pages_fd;
	int map_fd;
	GMutex lock;            /* serialises read-modify-write of map bytes */
	uint64_t count;         /* pages held; lock */
	/* The map byte last read or written, and where (UINT64_MAX: none):
	 * a page is looked up and then put, one read for both. Only this
	 * store writes its map (a file's state is loaded once). lock */
	uint64_t cached_at;
	unsigned char cached;
	bool by_hand;           /* copy_file_range failed here: atomic */
};

/* Only the map's data is read: the map of a snapshot of a sparse file
 * of 2^63 bytes is 256 TiB of hole, which a plain read would walk for
 * days at every load of its file's state. */
static int count_bits(int fd, uint64_t *count)
{
	unsigned char buf[4096];
	off_t off = 0, end;
	ssize_t n = 0;

	*count = 0;
	while ((off = lseek(fd, off, SEEK_DATA)) >= 0) {
		end = lseek(fd, off, SEEK_HOLE);
		if (end < 0)
			return -errno;
		while (off < end &&
		       (n = pread(fd, buf, (size_t)MIN((off_t)sizeof(buf),
						       end - off), off)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				*count += (uint64_t)__builtin_popcount(buf[i]);
			off += n;
		}
		if (n < 0)
			return -errno;
		if (off < end)
			break;          /* shorter than it was: the end */
	}
	return off < 0 && errno != ENXIO ? -errno : 0;
}

int mf_store_open(int dirfd, bool create, MfStore **ret)
{
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
	MfStore *s = g_new0(MfStore, 1);
	int r;

	s->pages_fd = openat(dirfd, "pages", flags, 0600);
	s->map_fd = openat(dirfd, "map", flags, 0600);
	if (s->pages_fd < 0 || s->map_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = count_bits(s->map_fd, &s->count);
	if (r < 0)
		goto fail;
	g_mutex_init(&s->lock);
	s->cached_at = UINT64_MAX;
	*ret = s;
	return 0;
fail:
	if (s->pages_fd >= 0)
		close(s->pages_fd);
	if (s->map_fd >= 0)
		close(s->map_fd);
	g_free(s);
	return r;
}

void mf_store_close(MfStore *s)
{
	if (!s)
		return;
	close(s->pages_fd);
	close(s->map_fd);
	g_mutex_clear(&s->lock);
	g_free(s);
}

/* Lock held. */
static int map_byte(MfStore *s, uint64_t page, unsigned char *byte)
{
	ssize_t n;

	if (s->cached_at == page / 8) {
		*byte = s->cached;
		return 0;
	}
	n = pread(s->map_fd, byte, 1, (off_t)(page / 8));
	if (n < 0)
		return -errno;
	if (n == 0)
		*byte = 0;      /* past the map's end: not held */
	s->cached_at = page / 8;
	s->cached = *byte;
	return 0;
}

int mf_store_has(MfStore *s, uint64_t page)
{
	unsigned char byte;
	int r;

	g_mutex_lock(&s->lock);
	r = map_byte(s, page, &byte);
	g_mutex_unlock(&s->lock);
	return r < 0 ? r : (byte >> (page % 8)) & 1;
}

/* Bytes of page the pages file can hold: all, but for the last page
 * below 2^63, which loses its last byte (2^63 - 1, no file's). */
static size_t page_len(uint64_t page)
{
	uint64_t at = page * MF_PAGE;

	if (page >= ((uint64_t)1 << 63) / MF_PAGE)
		return 0;       /* no file has such a page */
	return at > (uint64_t)INT64_MAX - MF_PAGE ? (size_t)(INT64_MAX - at)
						  : MF_PAGE;
}

int mf_store_get(MfStore *s, uint64_t page, void *buf)
{
	size_t done = 0, len = page_len(page);

	memset((char *)buf + len, 0, MF_PAGE - len);
	while (done < len) {
		ssize_t n = pread(s->pages_fd, (char *)buf + done, len - done,
				  (off_t)(page * MF_PAGE + done));

		if (n < 0)
			return -errno;
		if (n == 0) {   /* a trailing hole */
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0)
			return -errno;
		buf = (const char *)buf + n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Set page's presence bit, its bytes being in the pages file. */
static int mark_held(MfStore *s, uint64_t page, bool sync)
{
	unsigned char byte;
	int r = 0;

	if (sync && fdatasync(s->pages_fd) < 0)
		return -errno;
	g_mutex_lock(&s->lock);
	r = map_byte(s, page, &byte);
	if (r == 0 && !((byte >> (page % 8)) & 1)) {
		byte |= (unsigned char)(1u << (page % 8));
		r = write_all(s->map_fd, &byte, 1, (off_t)(page / 8));
		if (r == 0 && sync && fdatasync(s->map_fd) < 0) {
			/* Not known to be on disk: take the bit back. */
			r = -errno;
			byte &= (unsigned char)~(1u << (page % 8));
			write_all(s->map_fd, &byte, 1, (off_t)(page / 8));
		} else if (r == 0) {
			s->count++;
		}
		/* Whatever the map holds now: unknown after a failure. */
		s->cached_at = r == 0 ? page / 8 : UINT64_MAX;
		s->cached = byte;
	}
	g_mutex_unlock(&s->lock);
	return r;
}

int mf_store_put(MfStore *s, uint64_t page, const void *data, bool sync)
{
	off_t at = (off_t)(page * MF_PAGE);
	size_t len = page_len(page);
	int r;

	if (data)
		r = write_all(s->pages_fd, data, len, at);
	else if (fallocate(s->pages_fd,
			   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at,
			   (off_t)len) == 0)
		r = 0;
	else if (errno == EOPNOTSUPP) {   /* no holes here: write zeros */
		static const char zero[MF_PAGE];

		r = write_all(s->pages_fd, zero, len, at);
	} else
		r = -errno;
	return r < 0 ? r : mark_held(s, page, sync);
}

int mf_store_copy(MfStore *s, uint64_t page, int fd, bool sync)
{
	off_t in = (off_t)(page * MF_PAGE), out = in;
	size_t left = page_len(page);
	bool by_hand = __atomic_load_n(&s->by_hand, __ATOMIC_RELAXED);

	/* Inside the kernel: no trip of the bytes through the daemon, a
	 * syscall less, and a clone where the filesystem shares blocks. */
	while (left) {
		ssize_t n = by_hand ? -1
				    : copy_file_range(fd, &in, s->pages_fd,
						      &out, left, 0);

		if (n < 0 && left == page_len(page) &&
		    (by_hand || errno == EXDEV || errno == EOPNOTSUPP ||
		     errno == ENOSYS || errno == EINVAL)) {
			char buf[MF_PAGE];

			/* Not between these two filesystems (a state
			 * directory elsewhere): by hand, from now on. */
			__atomic_store_n(&s->by_hand, true, __ATOMIC_RELAXED);
			n = pread(fd, buf, left, in);
			if (n >= 0 && (size_t)n < left)
				return -EIO;
			return n < 0 ? -errno : mf_store_put(s, page, buf, sync);
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;    /* shorter than the caller saw it */
		left -= (size_t)n;
	}
	return mark_held(s, page, sync);
}

uint64_t mf_store_count(MfStore *s)
{
	uint64_t n;

	g_mutex_lock(&s->lock);
	n = s->count;
	g_mutex_unlock(&s->lock);
	return n;
}

int mf_store_foreach(MfStore *s, uint64_t limit,
		     int (*fn)(uint64_t page, void *arg), void *arg)
{
	unsigned char buf[4096];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(s->map_fd, buf, sizeof(buf), off)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			for (unsigned bit = 0; buf[i] >> bit; bit++) {
				uint64_t page = (uint64_t)(off + i) * 8 + bit;
				int r;

				if (!((buf[i] >> bit) & 1))
					continue;
				if (page >= limit)
					return 0;
				r = fn(page, arg);
				if (r)
					return r;
			}
		}
		off += n;
	}
	return n < 0 ? -errno : 0;
}
