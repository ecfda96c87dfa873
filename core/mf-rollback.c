/* mf-rollback: what changed since a snapshot, and rolling a file back to
 * one. See mf-rollback.h.
 *
 * The pages changed since snapshot S (index i in the chain) are those held
 * by snapshots i, i+1, ... within S's size: each first write after a
 * snapshot copied its page into the newest snapshot that sees it, and a
 * deleted snapshot handed its pages to the next older one. So both the
 * diff and the rollback walk the presence maps of those stores, never the
 * file.
 */
#include "mf-rollback.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mf-state-impl.h"

static int add_page(uint64_t p, void *arg)
{
	g_array_append_val((GArray *)arg, p);
	return 0;
}

static gint cmp_u64(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The pages snapshot number i no longer shares with the file: held by it
 * or a newer one (up to end), below limit; sorted, each once. Lock held. */
int mf_changed_pages(MfState *st, guint i, guint end, uint64_t limit,
		     GArray **ret)
{
	GArray *pages = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	guint n = 0;
	int r = 0;

	for (guint j = i; j < MIN(end, st->snaps->len) && r == 0; j++)
		r = mf_store_foreach(((Entry *)st->snaps->pdata[j])->store,
				     limit, add_page, pages);
	if (r < 0) {
		g_array_free(pages, TRUE);
		return r;
	}
	g_array_sort(pages, cmp_u64);
	for (guint k = 0; k < pages->len; k++)
		if (n == 0 || g_array_index(pages, uint64_t, k) !=
				      g_array_index(pages, uint64_t, n - 1))
			g_array_index(pages, uint64_t, n++) =
				g_array_index(pages, uint64_t, k);
	g_array_set_size(pages, n);
	*ret = pages;
	return 0;
}

static uint64_t pages_in(uint64_t size)
{
	return size / MF_PAGE + (size % MF_PAGE != 0);
}

/* Add [off, end) to ranges, joining it to the last one if they touch. */
static void add_range(GArray *ranges, uint64_t off, uint64_t end)
{
	MfRange *last = ranges->len ? &g_array_index(ranges, MfRange,
						     ranges->len - 1)
				    : NULL;

	if (end <= off)
		return;
	if (last && last->off + last->len >= off) {
		last->len = MAX(last->off + last->len, end) - last->off;
		return;
	}
	g_array_append_val(ranges, ((MfRange){ off, end - off }));
}

int mf_state_snap_changed(MfState *st, MfBacking *b, const char *name,
			  GArray **ranges, uint64_t *snap_size,
			  uint64_t *size)
{
	g_autoptr(GArray) pages = NULL;
	uint64_t live = 0, low, high;
	Entry *e;
	guint i;
	int r = 0;

	if (b)
		mf_backing_lock_shared(b);
	g_mutex_lock(&st->lock);
	e = mf_snap_find(st, name, &i);
	if (!e)
		r = -ENOENT;
	else if (st->damaged)
		r = -EIO;
	else if (b)
		r = mf_backing_size(b, &live);
	if (r == 0)
		r = mf_changed_pages(st, i, G_MAXUINT, pages_in(e->size),
				     &pages);
	if (r == 0)
		*snap_size = e->size;
	g_mutex_unlock(&st->lock);
	if (b)
		mf_backing_unlock(b);
	if (r < 0)
		return r;
	*size = live;
	low = MIN(live, *snap_size);
	high = MAX(live, *snap_size);
	*ranges = g_array_new(FALSE, FALSE, sizeof(MfRange));
	for (guint k = 0; k < pages->len; k++) {
		uint64_t p = g_array_index(pages, uint64_t, k);

		add_range(*ranges, p * MF_PAGE, MIN(p * MF_PAGE + MF_PAGE, high));
	}
	/* Past the smaller size every byte came or went. */
	add_range(*ranges, low, high);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rollback                                                            */

/* files/INO/rollback names (by sequence number) the snapshot whose
 * rollback has begun to change the file and not finished: after a crash
 * it tells that the file is partly rolled back. */
static const char MARK[] = "rollback";

static int mark(MfState *st, uint64_t seq)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", seq);
	int fd = openat(st->dir_fd, MARK, O_WRONLY | O_CREAT | O_TRUNC |
						  O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n ||
	    (st->sd->sync && (fdatasync(fd) < 0 || fsync(st->dir_fd) < 0)))
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

static void unmark(MfState *st)
{
	unlinkat(st->dir_fd, MARK, 0);
}

bool mf_state_snap_interrupted(MfState *st, const char *name)
{
	char buf[32] = { 0 };
	bool yes = false;
	Entry *e;
	guint i;
	int fd;

	g_mutex_lock(&st->lock);
	e = mf_snap_find(st, name, &i);
	fd = e && st->rolling != e ? openat(st->dir_fd, MARK,
					    O_RDONLY | O_CLOEXEC)
				   : -1;
	if (fd >= 0) {
		yes = read(fd, buf, sizeof(buf) - 1) > 0 &&
		      g_ascii_strtoull(buf, NULL, 10) == e->seq;
		close(fd);
	}
	g_mutex_unlock(&st->lock);
	return yes;
}

typedef struct Rollback {
	MfState *st;
	MfBacking *b;
	Entry *e;               /* the snapshot, kept by st->rolling */
	uint64_t size;          /* its size */
	GArray *pages;          /* what to write back */
} Rollback;

/* Keep, for the other snapshots, every page the rollback will change:
 * runs of the pages to write back, and what a shrink takes away. The
 * file does not change here. */
static int preserve_all(Rollback *rb, uint64_t live)
{
	int r = 0;

	if (live > rb->size) {
		r = mf_state_preserve(rb->st, rb->b, rb->size, UINT64_MAX);
		if (r == 0)
			mf_state_changed(rb->st, rb->b);
	}
	for (guint k = 0; k < rb->pages->len && r == 0;) {
		uint64_t first = g_array_index(rb->pages, uint64_t, k), n = 1;

		while (k + n < rb->pages->len &&
		       g_array_index(rb->pages, uint64_t, k + n) == first + n)
			n++;
		r = mf_state_preserve(rb->st, rb->b, first * MF_PAGE,
				      n * MF_PAGE);
		if (r == 0)     /* mf_state_preserve() counted a change */
			mf_state_changed(rb->st, rb->b);
		k += (guint)n;
	}
	return r;
}

/* Pages written back per write: one hook call and one store per run of
 * up to this many consecutive pages, not per page. */
#define RUN_PAGES 64u

/* Write pages [p, p+n) of the snapshot into the file, in one write. */
static int write_back(Rollback *rb, uint64_t p, uint64_t n, char *buf)
{
	uint64_t at = p * MF_PAGE;
	size_t len = (size_t)MIN(n * MF_PAGE, rb->size - at);
	ssize_t w;
	guint i;
	int r = 0;

	g_mutex_lock(&rb->st->lock);
	/* Its index moves if an older snapshot is deleted meanwhile. */
	for (i = 0; rb->st->snaps->pdata[i] != rb->e; i++)
		;
	for (uint64_t k = 0; k < n && r == 0; k++)
		r = mf_snap_page(rb->st, i, rb->b, p + k, buf + k * MF_PAGE);
	g_mutex_unlock(&rb->st->lock);
	if (r < 0)
		return r;
	w = mf_backing_write_locked(rb->b, at, buf, len);
	return w < 0 ? (int)w : (size_t)w == len ? 0 : -ENOSPC;
}

int mf_state_snap_rollback(MfState *st, MfBacking *b, const char *name,
			   uint64_t *pages)
{
	Rollback rb = { .st = st, .b = b };
	g_autofree char *buf = g_malloc(RUN_PAGES * MF_PAGE);
	g_autofree char *kept = g_strdup(name);
	uint64_t live = 0;
	guint i;
	int r = 0;

	mf_state_attach(st, b);
	/* Exclusive: readers through the backing see all of it or none,
	 * and no snapshot is taken halfway. */
	mf_backing_lock_exclusive(b);
	g_mutex_lock(&st->lock);
	rb.e = mf_snap_find(st, name, &i);
	if (!rb.e)
		r = -ENOENT;
	else if (st->damaged)
		r = -EIO;
	else if (st->rolling)
		r = -EBUSY;
	if (r == 0)
		r = mf_changed_pages(st, i, G_MAXUINT, pages_in(rb.e->size),
				     &rb.pages);
	if (r == 0) {
		/* The hook takes st->lock for each page: it cannot stay held,
		 * and the snapshot must not go meanwhile. */
		st->rolling = rb.e;
		rb.size = rb.e->size;
	}
	g_mutex_unlock(&st->lock);
	if (r == 0)
		r = mf_backing_size(b, &live);
	/* The other snapshots first: a store that fills up stops us here,
	 * with the file as it was. */
	if (r == 0)
		r = preserve_all(&rb, live);
	/* From here on a crash leaves the file partly rolled back. */
	if (r == 0 && (rb.pages->len || live != rb.size))
		r = mark(st, rb.e->seq);
	if (r == 0 && live != rb.size)
		r = mf_backing_truncate_locked(b, rb.size);
	for (guint k = 0; r == 0 && k < rb.pages->len;) {
		uint64_t first = g_array_index(rb.pages, uint64_t, k), n = 1;

		while (n < RUN_PAGES && k + n < rb.pages->len &&
		       g_array_index(rb.pages, uint64_t, k + n) == first + n)
			n++;
		r = write_back(&rb, first, n, buf);
		k += (guint)n;
	}
	if (r == 0 && st->sd->sync)
		r = mf_backing_flush(b, 0, 0, true);
	if (r == 0 && pages)
		*pages = rb.pages->len;
	if (rb.e) {
		g_mutex_lock(&st->lock);
		if (st->rolling == rb.e)
			st->rolling = NULL;
		g_mutex_unlock(&st->lock);
	}
	/* Consumed once the file holds its bytes. Still under the resize
	 * lock: nobody writes the file before it is gone. */
	if (r == 0)
		r = mf_state_snap_delete(st, kept);
	if (r == 0)
		unmark(st);
	mf_backing_unlock(b);
	if (rb.pages)
		g_array_free(rb.pages, TRUE);
	return r;
}
