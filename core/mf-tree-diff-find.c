/* mf-tree-diff-find: what changed between two views, found from what the
 * snapshots kept instead of a walk of the tree. See mf-tree-diff-impl.h.
 *
 * Only an object with a version between the two views changed (its
 * attributes, bytes, entries or names: a move, link or removal keeps the
 * object first). Each is named in each view by walking up: a version
 * records the directory that had the object and the name there
 * (mf-tree-where.c); an object with no version at or after a view is
 * as it is now, found where it is now. Each step is checked in the
 * view's own listing of that directory, so an object that was not there
 * yet (made after the view) is found in none. What is new without a
 * version (made after the older view) is found in the listings of the
 * changed directories, and below it what it holds. So a diff reads the
 * directories on the paths of what changed and the changed directories,
 * not the tree.
 *
 * Objects whose names cannot be told so say -EAGAIN: a file with several
 * names (one of them may be in a directory that did not change, where
 * nothing names it), a version kept before places were recorded, a place
 * that could not be told when kept.
 */
#include "mf-tree-diff-impl.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Past this many directory nodes holding a listing (and a live one's
 * descriptor), they let go of them: read again if asked again. */
#define OPEN_DIRS_MAX 256u
/* Deeper than this, the places recorded are taken for a loop. */
#define DEPTH_MAX 4096

typedef struct Place {
	char *path;             /* NULL: not in the view */
	MfTreeNode *node;       /* the object in the view */
	unsigned char type;
	bool listed;            /* its listing counted (a directory) */
} Place;

static void place_free(Place *p)
{
	mf_tree_node_unref(p->node);
	g_free(p->path);
	g_free(p);
}

static void ent_free(TreeEnt *e)
{
	g_free(e->name);
	g_free(e->key);
	g_free(e);
}

static char *join(const char *dir, const char *name)
{
	return *dir ? g_strconcat(dir, "/", name, NULL) : g_strdup(name);
}

static bool changed(Diff *d, const char *key)
{
	return key && g_hash_table_contains(d->changed, key);
}

static void view_init(View *v)
{
	v->partial = true;
	v->places = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  (GDestroyNotify)place_free);
	v->dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					NULL);
	v->found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 NULL);
	v->extra = g_ptr_array_new_with_free_func(
		(GDestroyNotify)mf_tree_diff_item_free);
	v->spare = g_ptr_array_new_with_free_func((GDestroyNotify)place_free);
}

void mf_tree_diff_find_free(View *v)
{
	if (v->found)
		g_hash_table_destroy(v->found);
	if (v->dirs)
		g_hash_table_destroy(v->dirs);
	if (v->places)
		g_hash_table_destroy(v->places);
	if (v->spare)
		g_ptr_array_free(v->spare, TRUE);
	if (v->extra)
		g_ptr_array_free(v->extra, TRUE);
	v->found = v->dirs = v->places = NULL;
	v->extra = v->spare = NULL;
}

/* Let every directory node of both views go of its listing and
 * descriptor. */
static void close_dirs(Diff *d)
{
	View *views[] = { &d->a, &d->b };

	for (int i = 0; i < 2; i++) {
		GHashTableIter it;
		gpointer p;

		g_hash_table_iter_init(&it, views[i]->dirs);
		while (g_hash_table_iter_next(&it, NULL, &p)) {
			mf_tree_node_close(((Place *)p)->node);
			((Place *)p)->listed = false;
		}
	}
	d->open_dirs = 0;
}

/* The entries of directory p, copied (TreeEnt*): the node's own may be
 * listed again by the lookups that follow. */
static int entries(Diff *d, Place *p, GPtrArray **ret)
{
	GPtrArray *ents, *copy;
	int r = mf_tree_entries(d->t, p->node, &ents);

	if (r < 0)
		return r;
	copy = g_ptr_array_new_full(ents->len, (GDestroyNotify)ent_free);
	for (guint i = 0; i < ents->len; i++) {
		TreeEnt *e = ents->pdata[i], *c = g_new0(TreeEnt, 1);

		c->name = g_strdup(e->name);
		c->key = g_strdup(e->key);
		c->type = e->type;
		c->ino = e->ino;
		g_ptr_array_add(copy, c);
	}
	*ret = copy;
	if (!p->listed) {
		p->listed = true;
		mf_tree_diff_count(d, ents->len);
		/* A held directory's: a passing one is closed by its user. */
		if (p->path && ++d->open_dirs > OPEN_DIRS_MAX)
			close_dirs(d);
	}
	return 0;
}

/* name in directory p: its node, or NULL (no such name). */
static int lookup(Diff *d, Place *p, const char *name, MfTreeNode **ret)
{
	int r;

	if (!p->listed) {
		GPtrArray *ents;

		/* Counts the listing the lookup makes. */
		r = entries(d, p, &ents);
		if (r < 0)
			return r == -ENOENT || r == -ENOTDIR ? (*ret = NULL, 0) : r;
		g_ptr_array_free(ents, TRUE);
	}
	mf_tree_diff_count(d, 1);
	r = mf_tree_lookup(d->t, p->node, name, ret);
	if (r == -ENOENT || r == -ENOTDIR) {
		*ret = NULL;
		r = 0;
	}
	return r;
}

static unsigned char type_of(Diff *d, MfTreeNode *n)
{
	struct stat sb;

	return mf_tree_stat(d->t, n, &sb) == 0
		       ? (unsigned char)IFTODT(sb.st_mode)
		       : DT_UNKNOWN;
}

/* The place recorded in key's newest version. */
static int newest_place(Diff *d, const char *key, char **parent, char **name)
{
	g_autoptr(GKeyFile) kf = NULL;
	uint64_t vs = 0, next;
	unsigned links;

	g_mutex_lock(&d->t->lock);
	while ((next = mf_tree_version_for(d->t, key, vs + 1)))
		vs = next;
	g_mutex_unlock(&d->t->lock);
	kf = vs ? mf_tree_version_load(d->t, key, vs) : NULL;
	if (!kf || mf_tree_where_load(kf, parent, name, &links) < 0)
		return -ENOENT;
	if (*parent)
		return 0;
	g_free(*name);
	*name = NULL;
	return -ENOENT;
}

/* Where key is in view v as recorded: its directory (NULL: none, when
 * *links is 0) and name, and whether that is only a guess (to be
 * checked, -EAGAIN if wrong). */
static int where(Diff *d, View *v, const char *key, char **parent,
		 char **name, unsigned *links, bool *guess)
{
	*guess = false;
	for (int tries = 0; tries < 2; tries++) {
		uint64_t vs, again;
		struct stat st;
		int fd, r;

		g_mutex_lock(&d->t->lock);
		vs = mf_tree_version_for(d->t, key, v->seq);
		g_mutex_unlock(&d->t->lock);
		if (vs) {
			g_autoptr(GKeyFile) kf = mf_tree_version_load(d->t,
								     key, vs);

			if (!kf)
				return -EAGAIN;
			return mf_tree_where_load(kf, parent, name, links) < 0
				       ? -EAGAIN
				       : 0;
		}
		/* Unchanged since v: where it is now. */
		*parent = *name = NULL;
		fd = mf_tree_open_key(d->t, key, O_PATH | O_NOFOLLOW);
		if (fd == -ESTALE || fd == -ENOENT) {
			*links = 0;     /* gone */
			return 0;
		}
		if (fd < 0)
			return fd;
		r = fstat(fd, &st) < 0 ? -errno : 0;
		*links = r == 0 ? mf_tree_tree_links(d->t, fd, &st) : 0;
		if (r == 0 && *links)
			r = mf_tree_locate(d->t, fd, &st, parent, name);
		close(fd);
		/* No path to tell (a file opened by handle may have none):
		 * where it was when last kept, if it is there still. */
		if (r == -ENOENT && *links == 1 && newest_place(d, key, parent,
								 name) == 0) {
			*guess = true;
			r = 0;
		}
		if (r < 0)
			return r == -ENOENT ? -EAGAIN : r;
		g_mutex_lock(&d->t->lock);
		again = mf_tree_version_for(d->t, key, v->seq);
		g_mutex_unlock(&d->t->lock);
		if (!again)
			return 0;
		/* Changed while we looked: its version says. */
		g_free(*parent);
		g_free(*name);
	}
	return -EAGAIN;
}

/* The place of key in view v, found once (walking up) and kept. */
static int locate(Diff *d, View *v, const char *key, int depth,
		  Place **ret)
{
	g_autofree char *parent = NULL, *name = NULL;
	Place *p = g_hash_table_lookup(v->places, key), *pp;
	unsigned links = 1;
	bool guess;
	MfTreeNode *n = NULL;
	int r;

	if (p) {
		*ret = p;
		return 0;
	}
	if (depth > DEPTH_MAX)
		return -EAGAIN;
	if (strcmp(key, d->t->root_key) == 0) {
		r = mf_tree_root_seq(d->t, v->seq, &n);
		if (r < 0)
			return r;
		p = g_new0(Place, 1);
		p->path = g_strdup("");
		p->node = n;
		p->type = DT_DIR;
		goto found;
	}
	r = where(d, v, key, &parent, &name, &links, &guess);
	if (r < 0)
		return r;
	if (links > 1)
		return -EAGAIN; /* another name may be where nothing changed */
	p = g_new0(Place, 1);
	if (!links || !parent)
		goto found;     /* no name in the view */
	r = locate(d, v, parent, depth + 1, &pp);
	if (r == 0 && pp->path && pp->type == DT_DIR)
		r = lookup(d, pp, name, &n);
	if (r < 0) {
		g_free(p);
		return r;
	}
	/* Not there (made after the view, or the directory was): not in
	 * it; unless the place was a guess. */
	if (n && strcmp(n->key, key) == 0) {
		p->path = join(pp->path, name);
		p->node = n;
		p->type = type_of(d, n);
	} else {
		mf_tree_node_unref(n);
		if (guess) {
			g_free(p);
			return -EAGAIN;
		}
	}
found:
	g_hash_table_insert(v->places, g_strdup(key), p);
	if (p->path && p->type == DT_DIR)
		g_hash_table_insert(v->dirs, g_strdup(p->path), p);
	*ret = p;
	return 0;
}

static void add(View *v, const char *path, const char *key,
		unsigned char type, MfTreeNode *node)
{
	g_ptr_array_add(v->items, mf_tree_diff_item_new(path, key, type,
							node));
}

/* What directory n (at path in v) holds, none of it changed: made after
 * the other view, all of it. */
static int add_new_tree(Diff *d, View *v, const char *path, MfTreeNode *n)
{
	Place p = { .node = n };        /* no path: not among those held */
	GPtrArray *ents;
	int r = entries(d, &p, &ents);

	for (guint i = 0; r == 0 && i < ents->len; i++) {
		TreeEnt *e = ents->pdata[i];
		g_autofree char *at = join(path, e->name);
		MfTreeNode *c;

		r = lookup(d, &p, e->name, &c);
		if (r < 0 || !c)
			continue;
		if (!changed(d, c->key)) {
			unsigned char type = type_of(d, c);

			add(v, at, c->key, type, NULL);
			if (type == DT_DIR)
				r = add_new_tree(d, v, at, c);
		}
		mf_tree_node_close(c);
		mf_tree_node_unref(c);
	}
	if (ents)
		g_ptr_array_free(ents, TRUE);
	return r;
}

/* Is entry e of a changed directory in v (x: the same name in the other
 * view, or NULL) the same object there? Without a lookup when it can be
 * told: an object with no version between keeps its names. */
static bool same_ent(Diff *d, View *v, TreeEnt *e, TreeEnt *x)
{
	if (x && x->key && e->key)
		return strcmp(x->key, e->key) == 0;
	/* In the older view, unchanged: in the newer one too. */
	if (v->seq == d->lo && e->key && !changed(d, e->key))
		return true;
	return x && x->ino == e->ino && x->key && !changed(d, x->key);
}

/* The entries of changed directory p (in v) that o (its place in the
 * other view; path NULL if not there) lacks, and that have no version
 * between (those are found by their own): made after the other view, or
 * gone before it. */
static int add_new(Diff *d, View *v, Place *p, Place *o)
{
	g_autoptr(GHashTable) other = g_hash_table_new(g_str_hash,
						       g_str_equal);
	GPtrArray *ents = NULL, *oents = NULL;
	int r = entries(d, p, &ents);

	if (r == 0 && o->path && o->type == DT_DIR) {
		r = entries(d, o, &oents);
		for (guint i = 0; r == 0 && i < oents->len; i++)
			g_hash_table_insert(other,
					    ((TreeEnt *)oents->pdata[i])->name,
					    oents->pdata[i]);
	}
	for (guint i = 0; r == 0 && i < ents->len; i++) {
		TreeEnt *e = ents->pdata[i];
		TreeEnt *x = g_hash_table_lookup(other, e->name);
		MfTreeNode *n, *m = NULL;
		bool same;

		if (same_ent(d, v, e, x))
			continue;
		r = lookup(d, p, e->name, &n);
		if (r < 0 || !n)
			continue;
		same = changed(d, n->key);
		if (!same && x && x->key) {
			same = strcmp(x->key, n->key) == 0;
		} else if (!same && x) {
			r = lookup(d, o, x->name, &m);
			same = m && strcmp(m->key, n->key) == 0;
			mf_tree_node_unref(m);
		}
		if (r == 0 && !same) {
			g_autofree char *at = join(p->path, e->name);
			unsigned char type = type_of(d, n);

			add(v, at, n->key, type, NULL);
			if (type == DT_DIR)
				r = add_new_tree(d, v, at, n);
		}
		mf_tree_node_close(n);
		mf_tree_node_unref(n);
	}
	if (ents)
		g_ptr_array_free(ents, TRUE);
	if (oents)
		g_ptr_array_free(oents, TRUE);
	return r;
}

int mf_tree_diff_find(Diff *d)
{
	int r = 0;

	view_init(&d->a);
	view_init(&d->b);
	for (guint i = 0; r == 0 && i < d->keys->len; i++) {
		const char *key = d->keys->pdata[i];
		Place *pa, *pb;

		r = locate(d, &d->a, key, 0, &pa);
		if (r == 0)
			r = locate(d, &d->b, key, 0, &pb);
		if (r < 0)
			break;
		/* The root is no item: what it holds is. */
		if (pa->path && *pa->path)
			add(&d->a, pa->path, key, pa->type,
			    mf_tree_node_ref(pa->node));
		if (pb->path && *pb->path)
			add(&d->b, pb->path, key, pb->type,
			    mf_tree_node_ref(pb->node));
		if (pa->path && pa->type == DT_DIR)
			r = add_new(d, &d->a, pa, pb);
		if (r == 0 && pb->path && pb->type == DT_DIR)
			r = add_new(d, &d->b, pb, pa);
	}
	close_dirs(d);
	if (r == 0) {
		mf_tree_diff_index(&d->a);
		mf_tree_diff_index(&d->b);
	}
	return r;
}

/* The directory at path in v, or NULL: looked up from the root, not
 * located (what it is needs no place recorded). */
static int dir_at(Diff *d, View *v, const char *path, Place **ret)
{
	g_autofree char *up = NULL;
	const char *slash = strrchr(path, '/');
	Place *p = g_hash_table_lookup(v->dirs, path), *pp;
	MfTreeNode *n = NULL;
	int r;

	*ret = p;
	if (p)
		return 0;
	if (!*path)
		return locate(d, v, d->t->root_key, 0, ret);
	up = slash ? g_strndup(path, (size_t)(slash - path)) : g_strdup("");
	r = dir_at(d, v, up, &pp);
	if (r == 0 && pp)
		r = lookup(d, pp, slash ? slash + 1 : path, &n);
	if (r < 0 || !n)
		return r;
	if (type_of(d, n) != DT_DIR) {
		mf_tree_node_unref(n);
		return 0;
	}
	p = g_new0(Place, 1);
	p->path = g_strdup(path);
	p->node = n;
	p->type = DT_DIR;
	g_ptr_array_add(v->spare, p);
	g_hash_table_insert(v->dirs, g_strdup(path), p);
	*ret = p;
	return 0;
}

int mf_tree_diff_at(Diff *d, View *v, const char *path, Item **ret)
{
	g_autofree char *dir = NULL;
	const char *slash = strrchr(path, '/');
	gpointer found;
	MfTreeNode *n = NULL;
	Place *p;
	int r;

	*ret = g_hash_table_lookup(v->by_path, path);
	if (*ret || !v->partial)
		return 0;
	if (g_hash_table_lookup_extended(v->found, path, NULL, &found)) {
		*ret = found;
		return 0;
	}
	dir = slash ? g_strndup(path, (size_t)(slash - path)) : g_strdup("");
	r = dir_at(d, v, dir, &p);
	if (r == 0 && p)
		r = lookup(d, p, slash ? slash + 1 : path, &n);
	if (r < 0)
		return r;
	if (n) {
		*ret = mf_tree_diff_item_new(path, n->key, type_of(d, n), NULL);
		g_ptr_array_add(v->extra, *ret);
		mf_tree_node_unref(n);
	}
	g_hash_table_insert(v->found, g_strdup(path), *ret);
	return 0;
}
