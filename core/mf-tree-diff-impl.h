/* mf-tree-diff-impl: what mf-tree-diff.c (comparing two views, the walk
 * of the whole tree) and mf-tree-diff-find.c (finding what changed from
 * the versions kept, without the walk) share. Not for fs/.
 *
 * A view is the items (path, key) the comparison looks at, in walk order
 * (names sorted at each level), and lookups by path and key. The walk
 * makes a complete one; the finder a partial one: the items that may
 * have changed, other paths looked up as asked (view_at()).
 */
#pragma once

#include "mf-tree-impl.h"

typedef struct Item {
	char *path;
	char *key;
	unsigned char type;
	MfTreeNode *node;       /* if its key changed between the two */
} Item;

typedef struct View {
	uint64_t seq;           /* a snapshot's, or MF_TREE_LIVE */
	GPtrArray *items;       /* Item*, in walk order */
	GHashTable *by_path;    /* path -> Item* */
	GHashTable *by_key;     /* key -> path of its first item */
	/* A partial view's (mf-tree-diff-find.c): */
	bool partial;
	GHashTable *places;     /* key -> Place*: where objects are */
	GHashTable *dirs;       /* path -> Place*: directories looked in */
	GPtrArray *spare;       /* Place*: those found by path alone */
	GHashTable *found;      /* path -> Item* or NULL: paths looked up */
	GPtrArray *extra;       /* Item*: what the lookups made */
} View;

typedef struct Diff {
	MfTree *t;
	uint64_t lo, hi;        /* versions in [lo, hi) mean changes */
	View a, b;
	GPtrArray *keys;        /* what changed: keys with such a version */
	GHashTable *changed;    /* the same, as a set */
	unsigned open_dirs;     /* directory nodes holding a listing */
	GHashTable *renamed_dirs;       /* a path -> b path */
	GHashTable *renamed_back;       /* b path -> a path */
	GHashTable *targets;            /* b paths reported as rename targets */
	MfTreeDiffFn fn;
	void *arg;
} Diff;

Item *mf_tree_diff_item_new(const char *path, const char *key,
			    unsigned char type, MfTreeNode *node);
void mf_tree_diff_item_free(Item *it);
/* Sort v's items in walk order and index them. */
void mf_tree_diff_index(View *v);
/* Count n names looked at (mf_tree_diff_work()). */
void mf_tree_diff_count(Diff *d, uint64_t n);

/* mf-tree-diff-find.c. Fill both views with what may have changed, from
 * the versions between them and where they were kept. -EAGAIN when that
 * cannot be told for sure (a version kept before places were recorded, a
 * file with several names): the caller walks the trees instead. */
int mf_tree_diff_find(Diff *d);
/* The item at path in v (NULL if none), looked up in a partial view.
 * Returns 0 or -errno. */
int mf_tree_diff_at(Diff *d, View *v, const char *path, Item **ret);
/* Let go of what a partial view holds beyond its items. */
void mf_tree_diff_find_free(View *v);
