/* mf-tree-filesnaps: the file snapshots a tree snapshot's file saw
 * (mf_tree_file_snap_list() in mf-tree.h).
 *
 * File snapshots and tree snapshots take their places in the chain from
 * one counter (mf_statedir_next_seq()), so a file snapshot was taken
 * before tree snapshot T exactly when its place (MfEntryInfo.seq) is below
 * T's. What a file snapshot holds never changes: T shows it as it is now,
 * under its name now; one deleted since is gone from T too.
 */
#include "mf-tree-impl.h"

#include <errno.h>
#include <sys/stat.h>

/* The state of n's file, with a reference (and a backing to read it
 * through, if b): -ENOENT if it has none or n's snapshot is gone,
 * -EINVAL if n is not a regular file. verify: check the file against the
 * state first, as every look at live snapshots does. */
static int file_state(MfTree *t, MfTreeNode *n, bool verify, MfState **st,
		      MfBacking **b)
{
	struct stat s;
	int r;

	if (!t)
		return -EOPNOTSUPP;
	r = mf_tree_stat(t, n, &s);
	if (r == 0 && !S_ISREG(s.st_mode))
		r = -EINVAL;
	if (r < 0)
		return r;
	g_mutex_lock(&n->lock);
	r = mf_tree_node_backing(t, n);
	if (r == 0 && !n->st)
		r = mf_state_get(t->sd, mf_backing_fd(n->b), false, &n->st);
	if (r == 0) {
		*st = mf_state_ref(n->st);
		if (b)
			*b = mf_backing_ref(n->b);
		if (verify)
			mf_state_verify(*st, mf_backing_fd(n->b));
	}
	g_mutex_unlock(&n->lock);
	return r;
}

int mf_tree_file_state(MfTree *t, MfTreeNode *n, MfState **ret)
{
	return file_state(t, n, true, ret, NULL);
}

char **mf_tree_file_snap_list(MfTree *t, MfTreeNode *n)
{
	g_autoptr(GStrvBuilder) out = g_strv_builder_new();
	MfEntryInfo info;
	MfState *st;

	if (file_state(t, n, true, &st, NULL) == 0) {
		g_auto(GStrv) names = mf_state_snap_list(st);

		for (char **p = names; *p; p++)
			if (mf_state_snap_info(st, *p, &info) == 0 &&
			    info.seq < n->seq)
				g_strv_builder_add(out, *p);
		mf_state_unref(st);
	}
	return g_strv_builder_end(out);
}

int mf_tree_file_snap_info(MfTree *t, MfTreeNode *n, const char *name,
			   uint64_t id, MfEntryInfo *out)
{
	MfState *st;
	int r = file_state(t, n, true, &st, NULL);

	if (r < 0)
		return r;
	r = name ? mf_state_snap_info(st, name, out)
		 : mf_state_entry_info(st, id, out);
	if (r == 0 && out->seq >= n->seq)
		r = -ENOENT;    /* taken after the tree snapshot */
	mf_state_unref(st);
	return r;
}

ssize_t mf_tree_file_snap_read(MfTree *t, MfTreeNode *n, uint64_t id,
			       uint64_t off, void *buf, size_t len)
{
	MfEntryInfo info;
	MfBacking *b;
	MfState *st;
	ssize_t r = file_state(t, n, false, &st, &b);

	if (r < 0)
		return r;
	r = mf_state_damaged(st) ? -EIO : mf_state_entry_info(st, id, &info);
	if (r == 0 && info.seq >= n->seq)
		r = -ENOENT;
	if (r == 0)
		r = mf_state_entry_read(st, b, id, off, buf, len);
	mf_state_unref(st);
	mf_backing_unref(b);
	return r;
}
