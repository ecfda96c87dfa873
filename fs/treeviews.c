/* treeviews: F@@ inside tree snapshots. See treeviews.h. */
#include "treeviews.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mf-tree.h"
#include "mf-view.h"
#include "ops.h"
#include "reply.h"
#include "tree.h"
#include "views.h"

static bool is_snap(const FsInode *in)
{
	return in->kind == FS_VIEW && in->spec.mode == MF_VIEW_SNAP;
}

/* A snapshot never changes: its views' entries and attributes may be
 * cached as its other objects' are. Not a file snapshot's, which is
 * bound to its identity and may be renamed or deleted meanwhile (as
 * live, views.c). */
static void reply_entry(fuse_req_t req, FsInode *in, const char *name)
{
	FsContext *ctx = ctx_of(req);
	double timeout = is_snap(in) ? 0 : ctx->timeout;
	struct stat st;
	int r = fs_treeviews_stat(ctx, in, &st);

	if (r < 0) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, -r, "lookup", name);
	}
	fs_reply_entry_for(req, in, &st, timeout, timeout);
}

/* NAME[:WINDOW] in F@@/snap: one of the file snapshots the tree
 * snapshot saw. */
static void lookup_file_snap(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *entry = NULL;
	MfEntryInfo info;
	MfViewSpec spec;
	int r = mf_view_spec_parse_named(name, MF_VIEW_SNAP, &entry, &spec);

	if (r < 0)
		return fs_views_bad_window(req, name);
	r = mf_tree_file_snap_info(ctx->tree, dir->base->tree_node, entry, 0,
				   &info);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	reply_entry(req, fs_inode_entry_view(ctx->inodes, dir->base, &spec,
					     entry, info.id),
		    name);
}

void fs_treeviews_lookup_dir(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *file = g_strndup(name, strlen(name) - 2);
	MfTreeNode *node;
	FsInode *base;
	struct stat st;
	int r = mf_tree_lookup(ctx->tree, dir->tree_node, file, &node);

	if (r == 0) {
		r = mf_tree_stat(ctx->tree, node, &st);
		if (r < 0)
			mf_tree_node_unref(node);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	if (!S_ISREG(st.st_mode)) {
		mf_tree_node_unref(node);
		return fs_reply_err(req, ENOENT, "lookup",
				    "view directory of a non-regular file");
	}
	/* F's inode, held by F@@ (a reference, not the kernel's lookup). */
	base = fs_inode_tree(ctx->inodes, node, st.st_mode, 0);
	mf_tree_node_unref(node);
	reply_entry(req, fs_inode_view(ctx->inodes, base, FS_VIEWDIR, NULL,
				       NULL),
		    name);
	fs_inode_forget(ctx->inodes, base, 1);
}

void fs_treeviews_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	FsInodeTable *t = ctx_of(req)->inodes;
	MfViewSpec spec;
	int r;

	if (dir->kind == FS_SNAPDIR)
		return lookup_file_snap(req, dir, name);
	if (dir->kind != FS_VIEWDIR)    /* cow/: never any */
		return fs_reply_err(req, ENOENT, "lookup", name);
	if (strcmp(name, "image") == 0) {
		fs_log(LOG_NOTICE, "lookup image: image views are not served "
		       "inside a tree snapshot");
		return (void)fuse_reply_err(req, ENOENT);
	}
	if (strcmp(name, "snap") == 0 || strcmp(name, "cow") == 0)
		return reply_entry(req, fs_inode_view(t, dir->base,
						      name[0] == 's' ? FS_SNAPDIR
								     : FS_COWDIR,
						      NULL, NULL),
				   name);
	r = mf_view_spec_parse(name, &spec);
	if (r == -EINVAL)
		return fs_views_bad_window(req, name);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup view", name);
	/* Nothing in a snapshot is writable: rw is ro, the same inode. */
	spec.mode = MF_VIEW_RO;
	reply_entry(req, fs_inode_view(t, dir->base, FS_VIEW, &spec, NULL),
		    name);
}

int fs_treeviews_stat(FsContext *ctx, FsInode *in, struct stat *st)
{
	MfTreeNode *n = in->base->tree_node;
	MfEntryInfo info;
	int r = mf_tree_stat(ctx->tree, n, st);

	if (r == 0 && is_snap(in))
		r = mf_tree_file_snap_info(ctx->tree, n, NULL, in->entry_id,
					   &info);
	if (r == 0)
		r = fs_views_stat_of(ctx, in, is_snap(in) ? &info : NULL, st);
	if (r == 0)
		st->st_mode &= ~(mode_t)0222;
	return r;
}

char **fs_treeviews_names(FsContext *ctx, const FsInode *dir)
{
	static const char *const names[] = { "ro", "cow", "snap", NULL };

	if (dir->kind == FS_SNAPDIR)
		return mf_tree_file_snap_list(ctx->tree, dir->base->tree_node);
	return dir->kind == FS_VIEWDIR ? g_strdupv((char **)names)
				       : g_new0(char *, 1);
}

void fs_treeviews_read(fuse_req_t req, FsInode *in, size_t size, off_t off)
{
	const MfViewSpec *s = &in->spec;
	uint64_t voff = (uint64_t)off;
	/* The window's bytes from voff; the file's size cuts them shorter. */
	size_t n = voff >= s->len ? 0 : (size_t)MIN((uint64_t)size,
						    s->len - voff);
	char *buf = g_malloc(n ? n : 1);
	MfTree *t = ctx_of(req)->tree;
	ssize_t r = 0;

	if (n && is_snap(in))
		r = mf_tree_file_snap_read(t, in->base->tree_node, in->entry_id,
					   mf_view_file_offset(s, voff), buf, n);
	else if (n)
		r = mf_tree_read(t, in->base->tree_node,
				 mf_view_file_offset(s, voff), buf, n);

	if (r < 0)
		fs_reply_err(req, (int)-r, "read", "view in .snapshots");
	else
		fuse_reply_buf(req, buf, (size_t)r);
	g_free(buf);
}

int fs_treeviews_state(FsContext *ctx, FsInode *in, MfState **ret)
{
	return mf_tree_file_state(ctx->tree, in->base->tree_node, ret);
}

char *fs_treeviews_base_path(FsContext *ctx, FsInode *in)
{
	g_autofree char *path = mf_tree_node_path(ctx->tree,
						  in->base->tree_node);

	/* As live, "?" for a path that cannot be told. */
	if (!path)
		return g_strdup("?");
	return g_strconcat(ctx->mountpoint, "/" FS_TREE_DIR_NAME "/", path,
			   NULL);
}
