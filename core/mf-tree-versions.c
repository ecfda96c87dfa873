/* mf-tree-versions: which versions of each object are kept. The truth is
 * on disk, trees/objs/KEY/SEQ (one directory per object: a lookup is an
 * openat and one getdents); in memory only a cache of the objects asked
 * for lately, of at most t->vcache_max entries, so that the daemon's
 * memory does not grow with the objects kept, however many snapshots
 * keep however many files. See mf-tree-impl.h.
 *
 * Every call here is made with t->lock held, and every change of a
 * version on disk is made before the cache is told (mf_tree_add_version,
 * mf_tree_drop_version): an object loaded under the lock either saw the
 * change on disk or is in the cache when it is told.
 */
#include "mf-tree-impl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void versions_free(Versions *v)
{
	g_array_free(v->seqs, TRUE);
	g_free(v->key);
	g_free(v);
}

void mf_tree_versions_init(MfTree *t)
{
	t->vcache = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					  (GDestroyNotify)versions_free);
	g_queue_init(&t->vlru);
	t->vcache_max = MF_TREE_VCACHE_MAX;
}

void mf_tree_versions_clear(MfTree *t)
{
	if (!t->vcache)
		return;
	g_queue_init(&t->vlru); /* its links are the entries': not freed */
	g_hash_table_destroy(t->vcache);
	t->vcache = NULL;
}

static gint cmp_seq(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

DIR *mf_tree_objs_open(MfTree *t)
{
	int fd = dup(t->objs_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	/* The dup shares objs_fd's offset, which an earlier walk left at
	 * the end. */
	rewinddir(d);
	return d;
}

int mf_tree_versions_read(MfTree *t, const char *key, GArray *seqs)
{
	int fd = openat(t->objs_fd, key, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;

		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		uint64_t seq;

		if (de->d_name[0] == '.')       /* ., .., and ".new-" */
			continue;
		seq = g_ascii_strtoull(de->d_name, NULL, 10);
		if (seq)
			g_array_append_val(seqs, seq);
	}
	if (errno) {
		int r = -errno;

		closedir(d);
		return r;
	}
	closedir(d);
	g_array_sort(seqs, cmp_seq);
	return 0;
}

/* The least recently used entries beyond the budget, out. */
static void trim(MfTree *t)
{
	while (t->vlru.length > t->vcache_max) {
		Versions *v = g_queue_peek_tail(&t->vlru);

		g_queue_unlink(&t->vlru, &v->link);
		g_hash_table_remove(t->vcache, v->key);
	}
}

int mf_tree_versions_get(MfTree *t, const char *key, Versions **ret)
{
	Versions *v = g_hash_table_lookup(t->vcache, key);
	int r;

	if (v) {
		g_queue_unlink(&t->vlru, &v->link);
		g_queue_push_head_link(&t->vlru, &v->link);
		*ret = v;
		return 0;
	}
	v = g_new0(Versions, 1);
	v->seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	r = mf_tree_versions_read(t, key, v->seqs);
	if (r < 0) {
		g_log("mapfs", G_LOG_LEVEL_WARNING,
		      "tree snapshots: cannot read the versions of %s: %s", key,
		      g_strerror(-r));
		g_array_free(v->seqs, TRUE);
		g_free(v);
		return r;
	}
	v->key = g_strdup(key);
	v->link.data = v;
	g_hash_table_insert(t->vcache, v->key, v);
	g_queue_push_head_link(&t->vlru, &v->link);
	trim(t);
	*ret = v;
	return 0;
}

Versions *mf_tree_versions_peek(MfTree *t, const char *key)
{
	return g_hash_table_lookup(t->vcache, key);
}

int mf_tree_version_find(MfTree *t, const char *key, uint64_t seq,
			 uint64_t *vs)
{
	Versions *v;
	int r = mf_tree_versions_get(t, key, &v);

	*vs = 0;
	for (guint i = 0; r == 0 && i < v->seqs->len; i++)
		if (g_array_index(v->seqs, uint64_t, i) >= seq) {
			*vs = g_array_index(v->seqs, uint64_t, i);
			break;
		}
	return r;
}

uint64_t mf_tree_version_for(MfTree *t, const char *key, uint64_t seq)
{
	uint64_t vs;

	return mf_tree_version_find(t, key, seq, &vs) == 0 ? vs : 0;
}

bool mf_tree_version_between(MfTree *t, const char *key, uint64_t a,
			     uint64_t b)
{
	uint64_t s = mf_tree_version_for(t, key, a);

	return s && s < b;
}

void mf_tree_add_version(MfTree *t, const char *key, uint64_t seq,
			 unsigned char type)
{
	Versions *v = g_hash_table_lookup(t->vcache, key);
	guint i = 0;

	/* Not cached: the disk has it for whoever asks. */
	if (!v)
		return;
	if (type)
		v->type = type;
	while (i < v->seqs->len && g_array_index(v->seqs, uint64_t, i) < seq)
		i++;
	if (i < v->seqs->len && g_array_index(v->seqs, uint64_t, i) == seq)
		return;
	g_array_insert_val(v->seqs, i, seq);
}

void mf_tree_drop_version(MfTree *t, const char *key, uint64_t seq)
{
	Versions *v = g_hash_table_lookup(t->vcache, key);

	for (guint i = 0; v && i < v->seqs->len; i++)
		if (g_array_index(v->seqs, uint64_t, i) == seq) {
			g_array_remove_index(v->seqs, i);
			break;
		}
}

size_t mf_tree_versions_cached(MfTree *t)
{
	size_t n;

	g_mutex_lock(&t->lock);
	n = t->vlru.length;
	g_mutex_unlock(&t->lock);
	return n;
}

GPtrArray *mf_tree_changed_keys(MfTree *t, uint64_t a, uint64_t b)
{
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
	GArray *seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	DIR *d = mf_tree_objs_open(t);
	struct dirent *de;

	if (!d) {
		g_array_free(seqs, TRUE);
		return keys;
	}
	while ((de = readdir(d))) {
		int r;

		if (de->d_name[0] == '.')
			continue;
		g_array_set_size(seqs, 0);
		/* One object at a time: the walk is disk work, and writers
		 * keeping versions take the same lock. */
		g_mutex_lock(&t->lock);
		r = mf_tree_versions_read(t, de->d_name, seqs);
		g_mutex_unlock(&t->lock);
		if (r < 0)
			continue;
		for (guint i = 0; i < seqs->len; i++) {
			uint64_t s = g_array_index(seqs, uint64_t, i);

			if (s >= a && s < b) {
				g_ptr_array_add(keys, g_strdup(de->d_name));
				break;
			}
		}
	}
	closedir(d);
	g_array_free(seqs, TRUE);
	return keys;
}
