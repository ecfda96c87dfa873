/* mf-cow: private (copy-on-write) views of a file, FILE_MAP_COPY. A page
 * written through one lands in its own store; the others follow the live
 * file. A commit writes its pages into the file as one step for readers
 * through the backing. See mf-state.h.
 */
#include <errno.h>
#include <string.h>

#include "mf-state-impl.h"

int mf_state_cow_create(MfState *st, const char *name)
{
	g_autoptr(GKeyFile) meta = g_key_file_new();
	struct timespec now;
	Entry *e;
	int r = mf_state_check_name(name);

	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	g_key_file_set_int64(meta, "entry", "taken_sec", now.tv_sec);
	g_key_file_set_int64(meta, "entry", "taken_nsec", now.tv_nsec);
	g_mutex_lock(&st->lock);
	if (g_hash_table_contains(st->cows, name)) {
		r = -EEXIST;
	} else if ((r = mf_entry_make(st, st->cow_fd, name, meta, &e)) == 0) {
		e->taken = now;
		g_hash_table_insert(st->cows, e->name, e);
	}
	g_mutex_unlock(&st->lock);
	return r;
}

int mf_state_cow_delete(MfState *st, const char *name)
{
	int r = -ENOENT;
	Entry *e;

	g_mutex_lock(&st->lock);
	e = g_hash_table_lookup(st->cows, name);
	if (e && e->opens) {
		/* Its open descriptors keep their pages until the last one
		 * closes; the name is free at once. */
		g_hash_table_steal(st->cows, name);
		r = mf_entry_hide(st, st->cow_fd, e);
		g_hash_table_insert(st->cows, e->name, e);
	} else if (e) {
		r = mf_entry_discard(st, st->cow_fd, name);
		g_hash_table_remove(st->cows, name);
	}
	g_mutex_unlock(&st->lock);
	return r;
}

int mf_state_cow_info(MfState *st, const char *name, MfEntryInfo *out)
{
	Entry *e;

	g_mutex_lock(&st->lock);
	e = g_hash_table_lookup(st->cows, name);
	if (e)
		mf_entry_info(e, out);
	g_mutex_unlock(&st->lock);
	return e ? 0 : -ENOENT;
}

static gint cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

char **mf_state_cow_list(MfState *st)
{
	GPtrArray *names = g_ptr_array_new();
	GHashTableIter it;
	gpointer key;

	g_mutex_lock(&st->lock);
	g_hash_table_iter_init(&it, st->cows);
	while (g_hash_table_iter_next(&it, &key, NULL))
		if (((char *)key)[0] != '.')    /* deleted, still open */
			g_ptr_array_add(names, g_strdup(key));
	g_mutex_unlock(&st->lock);
	g_ptr_array_sort(names, cmp_names);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

typedef struct CowRead {
	Entry *e;
	MfBacking *b;
} CowRead;

/* Page p of a private view: its own if written, else the file's. */
static int cow_page(void *ctx, uint64_t p, char *buf)
{
	CowRead *c = ctx;
	bool hole;
	int r = mf_store_has(c->e->store, p);

	if (r < 0)
		return r;
	if (r)
		return mf_store_get(c->e->store, p, buf);
	return mf_backing_page_locked(c->b, p, buf, &hole);
}

/* Find cow view name (NULL: the one with identity id) and the file's
 * size; st->lock and b (shared) held on success. */
static int cow_begin(MfState *st, MfBacking *b, const char *name,
		     uint64_t id, CowRead *c, uint64_t *size)
{
	int r;

	mf_backing_lock_shared(b);
	g_mutex_lock(&st->lock);
	c->b = b;
	c->e = mf_cow_find(st, name, id);
	r = !c->e ? -ENOENT : st->replaced ? -EIO : mf_backing_size(b, size);
	if (r < 0) {
		g_mutex_unlock(&st->lock);
		mf_backing_unlock(b);
	}
	return r;
}

static void cow_end(MfState *st, MfBacking *b)
{
	g_mutex_unlock(&st->lock);
	mf_backing_unlock(b);
}

ssize_t mf_cow_read(MfState *st, MfBacking *b, const char *name, uint64_t id,
		    uint64_t off, void *buf, size_t len)
{
	uint64_t size;
	CowRead c;
	ssize_t r = cow_begin(st, b, name, id, &c, &size);

	if (r < 0)
		return r;
	r = off >= size ? 0
			: mf_copy_pages(cow_page, &c, off, buf,
				     (size_t)MIN((uint64_t)len, size - off));
	cow_end(st, b);
	return r;
}

ssize_t mf_state_cow_read(MfState *st, MfBacking *b, const char *name,
			  uint64_t off, void *buf, size_t len)
{
	return mf_cow_read(st, b, name, 0, off, buf, len);
}

/* Write cow view name, or (name NULL) the one with identity id. */
static ssize_t cow_write(MfState *st, MfBacking *b, const char *name,
			 uint64_t id, uint64_t off, const void *buf,
			 size_t len)
{
	g_autofree char *page = g_malloc(MF_PAGE);
	size_t done = 0;
	uint64_t size;
	CowRead c;
	int r = cow_begin(st, b, name, id, &c, &size);

	if (r < 0)
		return r;
	if (off > size || len > size - off)
		r = -EFBIG;     /* a private view cannot grow the file */
	while (r == 0 && done < len) {
		uint64_t pos = off + done, p = pos / MF_PAGE;
		size_t in = (size_t)(pos % MF_PAGE);
		size_t n = MIN(len - done, MF_PAGE - in);

		r = cow_page(&c, p, page);
		if (r == 0) {
			memcpy(page + in, (const char *)buf + done, n);
			r = mf_store_put(c.e->store, p, page, st->sd->sync);
		}
		if (r == 0)
			done += n;
	}
	cow_end(st, b);
	return done ? (ssize_t)done : r;
}

ssize_t mf_state_cow_write(MfState *st, MfBacking *b, const char *name,
			   uint64_t off, const void *buf, size_t len)
{
	return cow_write(st, b, name, 0, off, buf, len);
}

ssize_t mf_state_entry_write(MfState *st, MfBacking *b, uint64_t id,
			     uint64_t off, const void *buf, size_t len)
{
	/* Only private views are found: snapshots are not written. */
	return cow_write(st, b, NULL, id, off, buf, len);
}

typedef struct Commit {
	MfState *st;
	Entry *e;
	MfBacking *b;
	uint64_t size;
	char *buf;
} Commit;

static int commit_page(uint64_t p, void *arg)
{
	Commit *c = arg;
	uint64_t at = p * MF_PAGE;
	size_t n = (size_t)MIN((uint64_t)MF_PAGE, c->size - at);
	ssize_t r = mf_store_get(c->e->store, p, c->buf);

	if (r == 0)
		r = mf_backing_write_locked(c->b, at, c->buf, n);
	return r < 0 ? (int)r : (size_t)r == n ? 0 : -EIO;
}

static int commit_preserve(uint64_t p, void *arg)
{
	Commit *c = arg;
	int r = mf_state_preserve(c->st, c->b, p * MF_PAGE, MF_PAGE);

	if (r == 0)
		mf_state_changed(c->st, c->b);   /* mf_state_preserve() counted a change */
	return r;
}

int mf_state_cow_commit(MfState *st, MfBacking *b, const char *name)
{
	Commit c = { .st = st, .b = b, .buf = g_malloc(MF_PAGE) };
	gpointer key;
	int r;

	mf_state_attach(st, b);
	/* Exclusive: readers through the backing see all of it or none. */
	mf_backing_lock_exclusive(b);
	/* Take the view out of the table while its pages are written: the
	 * hook takes st->lock for each page, so it cannot be held, and
	 * nobody may discard the view meanwhile. */
	g_mutex_lock(&st->lock);
	r = st->replaced ? -EIO
	    : g_hash_table_steal_extended(st->cows, name, &key,
					  (gpointer *)&c.e)
		    ? mf_backing_size(b, &c.size)
		    : -ENOENT;
	g_mutex_unlock(&st->lock);
	/* Every page the commit changes is kept for the snapshots first:
	 * a failure then leaves the file as it was. */
	if (r == 0)
		r = mf_store_foreach(c.e->store,
				     (c.size + MF_PAGE - 1) / MF_PAGE,
				     commit_preserve, &c);
	if (r == 0)
		r = mf_store_foreach(c.e->store,
				     (c.size + MF_PAGE - 1) / MF_PAGE,
				     commit_page, &c);
	if (r == 0 && st->sd->sync)
		r = mf_backing_flush(b, 0, 0, true);
	mf_backing_unlock(b);
	g_free(c.buf);
	if (!c.e)
		return r;
	g_mutex_lock(&st->lock);
	if (r == 0) {
		mf_entry_discard(st, st->cow_fd, c.e->name);
		mf_entry_free(c.e);
	} else {        /* keep the view: nothing is lost */
		g_hash_table_insert(st->cows, c.e->name, c.e);
	}
	g_mutex_unlock(&st->lock);
	return r;
}
