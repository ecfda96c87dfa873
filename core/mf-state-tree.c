/* mf-state-tree: a file's chain as tree snapshots use it: hidden entries
 * under files/KEY/tree/SEQ. See mf-state.h. */
#include "mf-state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-state-impl.h"

/* The index of the oldest entry at or after seq; snaps->len if none.
 * Lock held. */
static guint first_at(MfState *st, uint64_t seq)
{
	guint i = 0;

	while (i < st->snaps->len && ((Entry *)st->snaps->pdata[i])->seq < seq)
		i++;
	return i;
}

int mf_state_tree_keep(MfState *st, MfBacking *b, uint64_t seq,
		       uint64_t size)
{
	g_autoptr(GKeyFile) meta = g_key_file_new();
	char name[32];
	struct timespec now;
	Entry *e;
	guint i;
	int r = 0;

	if (b)
		mf_state_attach(st, b);
	g_mutex_lock(&st->lock);
	i = first_at(st, seq);
	if (i < st->snaps->len && ((Entry *)st->snaps->pdata[i])->seq == seq)
		goto out;       /* kept already */
	if (st->tree_fd < 0) {
		if (mkdirat(st->dir_fd, "tree", 0700) < 0 && errno != EEXIST)
			r = -errno;
		else if ((st->tree_fd = openat(st->dir_fd, "tree",
					       O_RDONLY | O_DIRECTORY |
						       O_CLOEXEC)) < 0)
			r = -errno;
		if (r < 0) {
			st->tree_fd = -1;
			goto out;
		}
	}
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(name, sizeof(name), "%" PRIu64, seq);
	g_key_file_set_uint64(meta, "entry", "seq", seq);
	g_key_file_set_uint64(meta, "entry", "size", size);
	g_key_file_set_int64(meta, "entry", "taken_sec", now.tv_sec);
	g_key_file_set_int64(meta, "entry", "taken_nsec", now.tv_nsec);
	r = mf_entry_make(st, st->tree_fd, name, meta, &e);
	if (r < 0)
		goto out;
	e->seq = seq;
	e->size = size;
	e->taken = now;
	e->tree = true;
	g_ptr_array_insert(st->snaps, (gint)i, e);
	st->next_seq = MAX(st->next_seq, seq + 1);
out:
	g_mutex_unlock(&st->lock);
	return r;
}

int mf_state_tree_size(MfState *st, uint64_t seq, uint64_t *size)
{
	guint i;
	int r = -ENOENT;

	g_mutex_lock(&st->lock);
	i = first_at(st, seq);
	if (i < st->snaps->len) {
		*size = ((Entry *)st->snaps->pdata[i])->size;
		r = 0;
	}
	g_mutex_unlock(&st->lock);
	return r;
}

/* The oldest entry at or after *seq, for mf_chain_read(). */
static Entry *pick_first_at(MfState *st, const void *seq, guint *index)
{
	*index = first_at(st, *(const uint64_t *)seq);
	return *index < st->snaps->len ? st->snaps->pdata[*index] : NULL;
}

ssize_t mf_state_tree_read(MfState *st, MfBacking *b, uint64_t seq,
			   uint64_t off, void *buf, size_t len)
{
	return mf_chain_read(st, b, pick_first_at, &seq, off, buf, len);
}

/* Does a tree snapshot of live need hidden entry i: is it the oldest
 * hidden entry at or after one of them? File snapshots in between do not
 * count: they may be deleted, and hand their pages to the entry before
 * them, which must then be there. Lock held. */
static bool read_through(MfState *st, guint i, const uint64_t *live,
			 size_t n)
{
	uint64_t hi = ((Entry *)st->snaps->pdata[i])->seq;
	uint64_t lo = 0;

	for (guint j = i; j-- > 0;)
		if (((Entry *)st->snaps->pdata[j])->tree) {
			lo = ((Entry *)st->snaps->pdata[j])->seq;
			break;
		}

	for (size_t k = 0; k < n; k++)
		if (live[k] > lo && live[k] <= hi)
			return true;
	return false;
}

int mf_state_tree_gc(MfState *st, const uint64_t *live_seqs, size_t n)
{
	int r = 0, removed = 0;

	g_mutex_lock(&st->lock);
	/* Removing an entry no snapshot reads through changes what no
	 * other one reads through: any order will do. */
	for (guint i = st->snaps->len; i-- > 0 && r == 0;) {
		Entry *e = st->snaps->pdata[i];

		if (!e->tree || e->opens || e == st->rolling ||
		    read_through(st, i, live_seqs, n))
			continue;
		r = mf_snap_remove_locked(st, i);
		removed += r == 0;
	}
	g_mutex_unlock(&st->lock);
	return r < 0 ? r : removed;
}

int mf_state_tree_changed(MfState *st, MfBacking *bl, uint64_t a, uint64_t b,
			  uint64_t **pages, size_t *npages, uint64_t *size_a,
			  uint64_t *size_b)
{
	g_autoptr(GArray) held = NULL;
	uint64_t live = 0;
	guint i, end;
	int r = 0;

	if (bl) {
		mf_backing_lock_shared(bl);
		r = mf_backing_size(bl, &live);
	}
	g_mutex_lock(&st->lock);
	i = first_at(st, a);
	end = b ? first_at(st, b) : st->snaps->len;
	*size_a = i < st->snaps->len ? ((Entry *)st->snaps->pdata[i])->size
				     : live;
	*size_b = end < st->snaps->len
			  ? ((Entry *)st->snaps->pdata[end])->size
			  : live;
	if (r == 0 && st->damaged)
		r = -EIO;
	if (r == 0)
		r = mf_changed_pages(st, i, end,
				     (*size_a + MF_PAGE - 1) / MF_PAGE, &held);
	g_mutex_unlock(&st->lock);
	if (bl)
		mf_backing_unlock(bl);
	if (r < 0)
		return r;
	*npages = held->len;
	*pages = (uint64_t *)g_array_steal(held, NULL);
	return 0;
}
