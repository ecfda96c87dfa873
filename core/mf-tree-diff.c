/* mf-tree-diff: what changed between two views of the tree. See mf-tree.h.
 *
 * Both views are walked from the root, name by name (a live directory's
 * names cost a readdir, a stat and a handle each), and compared by key:
 * the same key at the same path is the same object; at another path, a
 * rename. Only the objects with a version between the two snapshots can
 * have changed: they alone are compared, and a file's changed bytes come
 * from its chain (the pages kept between the two), never from reading it.
 */
#include "mf-tree-impl.h"
#include "mf-store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

typedef struct Item {
	char *path;
	char *key;
	unsigned char type;
	MfTreeNode *node;       /* if its key changed between the two */
} Item;

typedef struct View {
	GPtrArray *items;       /* Item*, in walk order */
	GHashTable *by_path;    /* path -> Item* */
	GHashTable *by_key;     /* key -> path of its first item */
} View;

typedef struct Diff {
	MfTree *t;
	uint64_t lo, hi;        /* versions in [lo, hi) mean changes */
	uint64_t seq_a, seq_b;
	View a, b;
	GHashTable *renamed_dirs;       /* a path -> b path */
	GHashTable *renamed_back;       /* b path -> a path */
	GHashTable *targets;            /* b paths reported as rename targets */
	MfTreeDiffFn fn;
	void *arg;
} Diff;

static void item_free(Item *it)
{
	mf_tree_node_unref(it->node);
	g_free(it->path);
	g_free(it->key);
	g_free(it);
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
		it = g_new0(Item, 1);
		it->path = *prefix ? g_strconcat(prefix, "/", e->name, NULL)
				   : g_strdup(e->name);
		it->key = g_strdup(n->key);
		it->type = e->type;
		if (it->type == DT_UNKNOWN) {
			struct stat sb;

			if (mf_tree_stat(d->t, n, &sb) == 0)
				it->type = (unsigned char)IFTODT(sb.st_mode);
		}
		g_ptr_array_add(v->items, it);
		g_hash_table_insert(v->by_path, it->path, it);
		if (!g_hash_table_contains(v->by_key, it->key))
			g_hash_table_insert(v->by_key, it->key, it->path);
		g_mutex_lock(&d->t->lock);
		changed = mf_tree_version_between(d->t, it->key, d->lo, d->hi);
		g_mutex_unlock(&d->t->lock);
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

static int walk_view(Diff *d, View *v, uint64_t seq)
{
	MfTreeNode *root;
	int r = mf_tree_root_seq(d->t, seq, &root);

	v->items = g_ptr_array_new_with_free_func((GDestroyNotify)item_free);
	v->by_path = g_hash_table_new(g_str_hash, g_str_equal);
	v->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	if (r < 0)
		return r;
	r = walk(d, v, root, "");
	mf_tree_node_unref(root);
	return r;
}

static void view_free(View *v)
{
	if (v->by_path)
		g_hash_table_destroy(v->by_path);
	if (v->by_key)
		g_hash_table_destroy(v->by_key);
	if (v->items)
		g_ptr_array_free(v->items, TRUE);
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
		(S_ISLNK(a.st_mode) && !same_target(d->t, x->node, y->node));
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
	Item *y = g_hash_table_lookup(d->b.by_path, at);
	const char *to;

	if (y && strcmp(y->key, x->key) == 0)
		return compare(d, x, y, at);
	to = g_hash_table_lookup(d->b.by_key, x->key);
	if (to && !g_hash_table_contains(d->targets, to)) {
		Item *was = g_hash_table_lookup(d->a.by_path, to);

		/* Not a rename if the object is there in a as well (a hard
		 * link kept) */
		if (!was || strcmp(was->key, x->key) != 0) {
			int r;

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
	Item *x = g_hash_table_lookup(d->a.by_path, was ? was : y->path);

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
		d.seq_a = sa->seq;
		d.seq_b = sb ? sb->seq : MF_TREE_LIVE;
	}
	g_mutex_unlock(&t->lock);
	if (r < 0)
		return r;
	d.lo = MIN(d.seq_a, d.seq_b);
	d.hi = MAX(d.seq_a, d.seq_b);
	d.renamed_dirs = g_hash_table_new(g_str_hash, g_str_equal);
	d.renamed_back = g_hash_table_new(g_str_hash, g_str_equal);
	d.targets = g_hash_table_new(g_str_hash, g_str_equal);
	r = walk_view(&d, &d.a, d.seq_a);
	if (r == 0)
		r = walk_view(&d, &d.b, d.seq_b);
	for (guint i = 0; r == 0 && d.a.items && i < d.a.items->len; i++)
		r = from_a(&d, d.a.items->pdata[i]);
	for (guint i = 0; r == 0 && d.b.items && i < d.b.items->len; i++)
		r = from_b(&d, d.b.items->pdata[i]);
	g_hash_table_destroy(d.renamed_dirs);
	g_hash_table_destroy(d.renamed_back);
	g_hash_table_destroy(d.targets);
	view_free(&d.a);
	view_free(&d.b);
	return r > 0 ? 0 : r;
}
