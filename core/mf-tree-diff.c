/* mf-tree-diff: what changed between two views of the tree. See mf-tree.h.
 *
 * Two views of items (path, key) are compared by key: the same key at the
 * same path is the same object; at another path, a rename. Only the
 * objects with a version between the two snapshots can have changed:
 * they alone are compared, and a file's changed bytes come from its
 * chain (the pages kept between the two), never from reading it.
 *
 * The views come from mf-tree-diff-find.c: what changed, named by walking
 * up from it. Where that cannot be told (versions kept before their
 * places were recorded), both views are walked from the root, name by
 * name, as a last resort: the same answer, at the tree's cost.
 */
#include "mf-tree-diff-impl.h"
#include "mf-store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

Item *mf_tree_diff_item_new(const char *path, const char *key,
			    unsigned char type, MfTreeNode *node)
{
	Item *it = g_new0(Item, 1);

	it->path = g_strdup(path);
	it->key = g_strdup(key);
	it->type = type;
	it->node = node;
	return it;
}

void mf_tree_diff_item_free(Item *it)
{
	mf_tree_node_unref(it->node);
	g_free(it->path);
	g_free(it->key);
	g_free(it);
}

void mf_tree_diff_count(Diff *d, uint64_t n)
{
	__atomic_add_fetch(&d->t->diff_work, n, __ATOMIC_RELAXED);
}

uint64_t mf_tree_diff_work(MfTree *t)
{
	return t ? __atomic_load_n(&t->diff_work, __ATOMIC_RELAXED) : 0;
}

/* Walk order: names sorted at each level, a directory before what it
 * holds; as strcmp with '/' below every other byte. */
static int walk_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
		int y = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;

		if (x != y || !x)
			return x - y;
	}
}

static gint by_walk(gconstpointer a, gconstpointer b)
{
	return walk_cmp((*(Item *const *)a)->path, (*(Item *const *)b)->path);
}

static void index_item(View *v, Item *it)
{
	g_hash_table_insert(v->by_path, it->path, it);
	if (!g_hash_table_contains(v->by_key, it->key))
		g_hash_table_insert(v->by_key, it->key, it->path);
}

void mf_tree_diff_index(View *v)
{
	GPtrArray *items = v->items;

	g_ptr_array_sort(items, by_walk);
	v->items = g_ptr_array_new_with_free_func(
		(GDestroyNotify)mf_tree_diff_item_free);
	for (guint i = 0; i < items->len; i++) {
		Item *it = items->pdata[i];

		/* Found twice (by its version and in a listing): once. */
		if (g_hash_table_contains(v->by_path, it->path)) {
			mf_tree_diff_item_free(it);
			continue;
		}
		g_ptr_array_add(v->items, it);
		index_item(v, it);
	}
	g_ptr_array_free(items, FALSE);
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp((*(TreeEnt *const *)a)->name,
		      (*(TreeEnt *const *)b)->name);
}

static int walk(Diff *d, View *v, MfTreeNode *dir, const char *prefix)
{
	GPtrArray *ents, *sorted;
	int r = mf_tree_entries(d->t, dir, &ents);

	if (r < 0)
		return r;
	mf_tree_diff_count(d, ents->len);
	/* Our own copy of the order: lookups below may list dir again. */
	sorted = g_ptr_array_new();
	for (guint i = 0; i < ents->len; i++)
		g_ptr_array_add(sorted, ents->pdata[i]);
	g_ptr_array_sort(sorted, by_name);
	for (guint i = 0; r == 0 && i < sorted->len; i++) {
		TreeEnt *e = sorted->pdata[i];
		MfTreeNode *n;
		Item *it;
		bool changed;

		r = mf_tree_lookup_ent(d->t, dir, e, &n);
		if (r == -ENOENT) {     /* went meanwhile (live view) */
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		mf_tree_diff_count(d, 1);
		it = mf_tree_diff_item_new(NULL, n->key, e->type, NULL);
		it->path = *prefix ? g_strconcat(prefix, "/", e->name, NULL)
				   : g_strdup(e->name);
		if (it->type == DT_UNKNOWN) {
			struct stat sb;

			if (mf_tree_stat(d->t, n, &sb) == 0)
				it->type = (unsigned char)IFTODT(sb.st_mode);
		}
		g_ptr_array_add(v->items, it);
		index_item(v, it);
		changed = g_hash_table_contains(d->changed, it->key);
		if (e->type == DT_DIR)
			r = walk(d, v, n, it->path);
		if (changed) {
			/* Kept for the comparison: without its descriptor
			 * and listing, however many changed. */
			mf_tree_node_close(n);
			it->node = n;
		} else {
			mf_tree_node_unref(n);
		}
	}
	g_ptr_array_free(sorted, TRUE);
	return r;
}

static void view_new(View *v, uint64_t seq)
{
	v->seq = seq;
	v->items = g_ptr_array_new_with_free_func(
		(GDestroyNotify)mf_tree_diff_item_free);
	v->by_path = g_hash_table_new(g_str_hash, g_str_equal);
	v->by_key = g_hash_table_new(g_str_hash, g_str_equal);
}

static void view_free(View *v)
{
	mf_tree_diff_find_free(v);
	if (v->by_path)
		g_hash_table_destroy(v->by_path);
	if (v->by_key)
		g_hash_table_destroy(v->by_key);
	if (v->items)
		g_ptr_array_free(v->items, TRUE);
	v->by_path = v->by_key = NULL;
	v->items = NULL;
	v->partial = false;
}

static int walk_view(Diff *d, View *v)
{
	MfTreeNode *root;
	int r = mf_tree_root_seq(d->t, v->seq, &root);

	if (r < 0)
		return r;
	r = walk(d, v, root, "");
	mf_tree_node_unref(root);
	return r;
}

/* path with its nearest ancestor found in map replaced by its value;
 * NULL if no ancestor is. */
static char *translate(GHashTable *map, const char *path)
{
	g_autofree char *p = g_strdup(path);

	for (char *slash; (slash = strrchr(p, '/'));) {
		const char *to;

		*slash = 0;
		to = g_hash_table_lookup(map, p);
		if (to)
			return g_strconcat(to, path + (slash - p), NULL);
	}
	return NULL;
}

static bool same_xattrs(MfTree *t, MfTreeNode *x, MfTreeNode *y)
{
	ssize_t nx = mf_tree_listxattr(t, x, NULL, 0);
	ssize_t ny = mf_tree_listxattr(t, y, NULL, 0);
	g_autofree char *lx = NULL, *ly = NULL;

	if (nx != ny || nx < 0)
		return nx == ny;
	lx = g_malloc((size_t)nx + 1);
	ly = g_malloc((size_t)ny + 1);
	if (mf_tree_listxattr(t, x, lx, (size_t)nx) != nx ||
	    mf_tree_listxattr(t, y, ly, (size_t)ny) != ny ||
	    memcmp(lx, ly, (size_t)nx) != 0)
		return false;
	for (char *p = lx; p < lx + nx; p += strlen(p) + 1) {
		char vx[4096], vy[4096];
		ssize_t a = mf_tree_getxattr(t, x, p, vx, sizeof(vx));
		ssize_t b = mf_tree_getxattr(t, y, p, vy, sizeof(vy));

		if (a != b || (a > 0 && memcmp(vx, vy, (size_t)a) != 0))
			return false;
	}
	return true;
}

static bool same_target(MfTree *t, MfTreeNode *x, MfTreeNode *y)
{
	char a[PATH_MAX], b[PATH_MAX];

	return mf_tree_readlink(t, x, a, sizeof(a)) >= 0 &&
	       mf_tree_readlink(t, y, b, sizeof(b)) >= 0 && strcmp(a, b) == 0;
}

static void ent_free(TreeEnt *e)
{
	g_free(e->name);
	g_free(e->key);
	g_free(e);
}

/* A known key with no version between: it keeps its names. */
static bool unchanged(Diff *d, const char *key)
{
	return key && !g_hash_table_contains(d->changed, key);
}

/* Do directories x and y hold other names, or other objects under a
 * name? Told by inode numbers where an object with no version between
 * (it keeps its names) is known on one side, by keys else. */
static bool other_entries(Diff *d, MfTreeNode *x, MfTreeNode *y)
{
	/* x's copied (name -> TreeEnt*, no name) before y's are listed:
	 * a node's list is valid only until the next call on it. */
	g_autoptr(GHashTable) xs = g_hash_table_new_full(
		g_str_hash, g_str_equal, g_free, (GDestroyNotify)ent_free);
	g_autoptr(GPtrArray) ask = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *ents;
	bool other = false;

	if (mf_tree_entries(d->t, x, &ents) < 0)
		return true;
	for (guint i = 0; i < ents->len; i++) {
		TreeEnt *e = ents->pdata[i], *c = g_new0(TreeEnt, 1);

		c->ino = e->ino;
		c->key = g_strdup(e->key);
		g_hash_table_insert(xs, g_strdup(e->name), c);
	}
	if (mf_tree_entries(d->t, y, &ents) < 0 ||
	    ents->len != g_hash_table_size(xs))
		return true;
	for (guint i = 0; !other && i < ents->len; i++) {
		TreeEnt *e = ents->pdata[i];
		TreeEnt *c = g_hash_table_lookup(xs, e->name);

		if (!c || c->ino != e->ino)
			other = true;
		else if (c->key && e->key)
			other = strcmp(c->key, e->key) != 0;
		else if (!unchanged(d, c->key) && !unchanged(d, e->key))
			g_ptr_array_add(ask, g_strdup(e->name));
	}
	for (guint i = 0; !other && i < ask->len; i++) {
		MfTreeNode *m = NULL, *n = NULL;

		if (mf_tree_lookup(d->t, x, ask->pdata[i], &m) < 0 ||
		    mf_tree_lookup(d->t, y, ask->pdata[i], &n) < 0 ||
		    strcmp(m->key, n->key) != 0)
			other = true;
		mf_tree_node_unref(m);
		mf_tree_node_unref(n);
	}
	return other;
}

/* The byte ranges of file x (in a) and y (in b) that may differ. */
static int changed_ranges(Diff *d, MfTreeNode *x, uint64_t size_a,
			  uint64_t size_b, GArray *ranges)
{
	g_autofree uint64_t *pages = NULL;
	uint64_t sa, sb, low = MIN(size_a, size_b), high = MAX(size_a, size_b);
	size_t n = 0;
	MfState *st;
	int fd = mf_tree_open_key(d->t, x->key, O_PATH);
	int r;

	if (fd < 0)
		return fd == -ESTALE ? -EIO : fd;
	r = mf_state_get(d->t->sd, fd, false, &st);
	close(fd);
	if (r == 0) {
		r = mf_state_tree_changed(st, NULL, d->lo,
					  d->hi == MF_TREE_LIVE ? 0 : d->hi,
					  &pages, &n, &sa, &sb);
		mf_state_unref(st);
	} else if (r == -ENOENT) {
		r = 0;          /* no chain: its bytes never changed */
	}
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		uint64_t off = pages[k] * MF_PAGE;
		uint64_t end = MIN(off + MF_PAGE, high);
		uint64_t *last = ranges->len ? &g_array_index(ranges, uint64_t,
							      ranges->len - 2)
					     : NULL;

		if (end <= off)
			continue;
		if (last && last[0] + last[1] >= off)
			last[1] = end - last[0];
		else {
			g_array_append_val(ranges, off);
			uint64_t len = end - off;
			g_array_append_val(ranges, len);
		}
	}
	if (high > low) {       /* past the smaller size all came or went */
		uint64_t *last = ranges->len ? &g_array_index(ranges, uint64_t,
							      ranges->len - 2)
					     : NULL;
		uint64_t len = high - low;

		if (last && last[0] + last[1] >= low)
			last[1] = MAX(last[0] + last[1], high) - last[0];
		else {
			g_array_append_val(ranges, low);
			g_array_append_val(ranges, len);
		}
	}
	return 0;
}

/* Report x (path in a) against y (path to in b), the same object, if it
 * changed. */
static int compare(Diff *d, Item *x, Item *y, const char *to)
{
	g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	MfTreeDiffEntry e = { .change = MF_TREE_MODIFIED, .path = to,
			      .type = y->type };
	struct stat a, b;
	bool attrs;
	int r;

	if (!x->node || !y->node)
		return 0;       /* no version between: unchanged */
	r = mf_tree_stat(d->t, x->node, &a);
	if (r == 0)
		r = mf_tree_stat(d->t, y->node, &b);
	if (r < 0)
		return r;
	attrs = a.st_mode != b.st_mode || a.st_uid != b.st_uid ||
		a.st_gid != b.st_gid ||
		(!S_ISDIR(a.st_mode) &&
		 (a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
		  a.st_mtim.tv_nsec != b.st_mtim.tv_nsec)) ||
		!same_xattrs(d->t, x->node, y->node) ||
		(S_ISLNK(a.st_mode) && !same_target(d->t, x->node, y->node)) ||
		(S_ISDIR(a.st_mode) && S_ISDIR(b.st_mode) &&
		 other_entries(d, x->node, y->node));
	/* Its listing and descriptor go: a diff of many changed
	 * directories holds none of them. */
	if (S_ISDIR(a.st_mode)) {
		mf_tree_node_close(x->node);
		mf_tree_node_close(y->node);
	}
	if (S_ISREG(a.st_mode) && S_ISREG(b.st_mode)) {
		r = changed_ranges(d, x->node, (uint64_t)a.st_size,
				   (uint64_t)b.st_size, ranges);
		if (r < 0)
			return r;
	}
	if (!attrs && !ranges->len)
		return 0;
	e.bytes = ranges->len > 0;
	e.ranges = (const uint64_t *)(void *)ranges->data;
	e.nranges = ranges->len / 2;
	return d->fn(&e, d->arg);
}

static int emit(Diff *d, MfTreeChange change, const char *path,
		const char *to, unsigned char type)
{
	MfTreeDiffEntry e = { .change = change, .path = path, .to = to,
			      .type = type };

	return d->fn(&e, d->arg);
}

/* a's side: removed, renamed or modified. */
static int from_a(Diff *d, Item *x)
{
	g_autofree char *moved = translate(d->renamed_dirs, x->path);
	const char *at = moved ? moved : x->path;
	const char *to;
	Item *y;
	int r = mf_tree_diff_at(d, &d->b, at, &y);

	if (r < 0)
		return r;
	if (y && strcmp(y->key, x->key) == 0)
		return compare(d, x, y, at);
	to = g_hash_table_lookup(d->b.by_key, x->key);
	if (to && !g_hash_table_contains(d->targets, to)) {
		Item *was;

		r = mf_tree_diff_at(d, &d->a, to, &was);
		if (r < 0)
			return r;
		/* Not a rename if the object is there in a as well (a hard
		 * link kept) */
		if (!was || strcmp(was->key, x->key) != 0) {
			g_hash_table_add(d->targets, (gpointer)to);
			if (x->type == DT_DIR) {
				g_hash_table_insert(d->renamed_dirs, x->path,
						    (gpointer)to);
				g_hash_table_insert(d->renamed_back,
						    (gpointer)to, x->path);
			}
			r = emit(d, MF_TREE_RENAMED, x->path, to, x->type);
			y = g_hash_table_lookup(d->b.by_path, to);
			return r ? r : compare(d, x, y, to);
		}
	}
	return emit(d, MF_TREE_REMOVED, x->path, NULL, x->type);
}

/* b's side: created, unless a rename's target or moved with one. */
static int from_b(Diff *d, Item *y)
{
	g_autofree char *was = translate(d->renamed_back, y->path);
	Item *x;
	int r = mf_tree_diff_at(d, &d->a, was ? was : y->path, &x);

	if (r < 0)
		return r;
	if ((x && strcmp(x->key, y->key) == 0) ||
	    g_hash_table_contains(d->targets, y->path))
		return 0;
	return emit(d, MF_TREE_CREATED, y->path, NULL, y->type);
}

int mf_tree_diff(MfTree *t, const char *a, const char *b, MfTreeDiffFn fn,
		 void *arg)
{
	Diff d = { .t = t, .fn = fn, .arg = arg };
	TreeSnap *sa, *sb = NULL;
	uint64_t seq_a = 0, seq_b = 0;
	int r = 0;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&t->lock);
	sa = mf_tree_snap_by_name(t, a);
	if (b)
		sb = mf_tree_snap_by_name(t, b);
	if (!sa || (b && !sb))
		r = -ENOENT;
	else {
		seq_a = sa->seq;
		seq_b = sb ? sb->seq : MF_TREE_LIVE;
	}
	g_mutex_unlock(&t->lock);
	if (r < 0)
		return r;
	d.lo = MIN(seq_a, seq_b);
	d.hi = MAX(seq_a, seq_b);
	d.keys = mf_tree_changed_keys(t, d.lo, d.hi);
	d.changed = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < d.keys->len; i++)
		g_hash_table_add(d.changed, d.keys->pdata[i]);
	d.renamed_dirs = g_hash_table_new(g_str_hash, g_str_equal);
	d.renamed_back = g_hash_table_new(g_str_hash, g_str_equal);
	d.targets = g_hash_table_new(g_str_hash, g_str_equal);
	view_new(&d.a, seq_a);
	view_new(&d.b, seq_b);
	r = t->diff_walk ? -EAGAIN : mf_tree_diff_find(&d);
	if (r == -EAGAIN) {
		/* Not told by what was kept: walk it all. */
		__atomic_add_fetch(&t->diff_walks, 1, __ATOMIC_RELAXED);
		view_free(&d.a);
		view_free(&d.b);
		view_new(&d.a, seq_a);
		view_new(&d.b, seq_b);
		r = walk_view(&d, &d.a);
		if (r == 0)
			r = walk_view(&d, &d.b);
	}
	for (guint i = 0; r == 0 && i < d.a.items->len; i++)
		r = from_a(&d, d.a.items->pdata[i]);
	for (guint i = 0; r == 0 && i < d.b.items->len; i++)
		r = from_b(&d, d.b.items->pdata[i]);
	g_hash_table_destroy(d.renamed_dirs);
	g_hash_table_destroy(d.renamed_back);
	g_hash_table_destroy(d.targets);
	view_free(&d.a);
	view_free(&d.b);
	g_hash_table_destroy(d.changed);
	g_ptr_array_free(d.keys, TRUE);
	return r > 0 ? 0 : r;
}
