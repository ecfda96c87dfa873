/* tree: whole-tree snapshots through the mount (the engine is
 * core/mf-tree.h).
 *
 * MOUNT/.snapshots (FS_TREEDIR) sits at the root, hidden from readdir
 * like F@@ and listed with -o views=visible: mkdir takes a snapshot,
 * rmdir deletes one, mv within it renames one. .snapshots/NAME/... are
 * FS_TREE inodes, each holding one MfTreeNode: read-only (EROFS for every
 * change), shared per node identity so that hard links are one inode.
 *
 * Every change through the mount runs between fs_tree_begin() and
 * fs_tree_end(), and keeps the objects it changes first
 * (fs_tree_keep(), fs_tree_keep_removed()). .shm objects and the state
 * directory are no part of tree snapshots.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"
#include "mf-backing.h"

#define FS_TREE_DIR_NAME ".snapshots"

/* Open the tree snapshots under statedir_fd (not taken). A backing
 * filesystem without file handles: logged, ctx->tree stays NULL and the
 * mount goes on without them. Returns 0 or -errno. */
int fs_tree_open(FsContext *ctx, int statedir_fd, bool sync);
void fs_tree_close(FsContext *ctx);

/* Is in .snapshots, an object of a snapshot, or a view of one
 * (treeviews.h, whose base is an FS_TREE inode)? */
static inline bool fs_tree_is(const FsInode *in)
{
	return in->kind == FS_TREE || in->kind == FS_TREEDIR ||
	       (in->base && in->base->kind == FS_TREE);
}

/* ------------------------------------------------------------------ */
/* Changes through the mount                                           */

/* Around one change; a thread's nested begin counts as one. */
void fs_tree_begin(FsContext *ctx);
void fs_tree_end(FsContext *ctx);
/* Between them, before in (an object of the tree) changes: keep its
 * version for the newest snapshot. b: its open backing, or NULL to use
 * the one it holds, if any. Returns 0 or -errno (logged): the change
 * must not go on. */
int fs_tree_keep(FsContext *ctx, FsInode *in, MfBacking *b);
/* fs_tree_begin() and fs_tree_keep(in, b); on failure nothing is begun. */
int fs_tree_change(FsContext *ctx, FsInode *in, MfBacking *b);
/* Keep the object name in dir (a rename moves it). 0 if there is none. */
int fs_tree_keep_at(FsContext *ctx, FsInode *dir, const char *name);
/* name in dir is about to lose a link (unlink, rmdir, replaced by
 * rename). 0 if there is none. */
int fs_tree_keep_removed(FsContext *ctx, FsInode *dir, const char *name);
/* The links tree snapshots keep to the object fd (a removed file they
 * still show): not names of the tree. 0 or 1. */
unsigned fs_tree_links(FsContext *ctx, int fd);

/* ------------------------------------------------------------------ */
/* The namespace                                                       */

/* Is name in parent .snapshots (the tree has no such name)? */
bool fs_tree_is_dir_name(FsContext *ctx, FsInode *parent, const char *name);
/* Does the root list .snapshots with views=visible? */
bool fs_tree_listed(FsContext *ctx);
void fs_tree_lookup_dir(fuse_req_t req);
/* The name of the snapshot whose root in is (g_free), or NULL. */
char *fs_tree_snap_name(FsContext *ctx, FsInode *in);
/* Requests on FS_TREEDIR and FS_TREE inodes. */
void fs_tree_lookup(fuse_req_t req, FsInode *dir, const char *name);
void fs_tree_getattr(fuse_req_t req, FsInode *in);
void fs_tree_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		     bool plus);
void fs_tree_readlink(fuse_req_t req, FsInode *in);
void fs_tree_open_file(fuse_req_t req, FsInode *in,
		       struct fuse_file_info *fi);
/* Count an open (open, opendir) of a tree inode, and its end: the last
 * one lets the engine drop what reading it holds (descriptors, a
 * directory's listing). Opens of F@@ and its views count on F. */
void fs_tree_opened(FsInode *in);
/* opendir of a tree inode: fs_tree_opened(), and the kernel's cache of
 * the listing set in fi. */
void fs_tree_opendir(FsInode *in, struct fuse_file_info *fi);
void fs_tree_closed(FsInode *in);
/* release of a tree inode: fs_tree_closed(), and a file snapshot's view
 * (F@@/snap/X) lets go of the entry its open held (fs_views_pin(), the
 * state in fi->fh): X, deleted meanwhile, goes at its last close, as
 * live, even if the tree snapshot went first. */
void fs_tree_release(FsInode *in, struct fuse_file_info *fi);
void fs_tree_read(fuse_req_t req, FsInode *in, size_t size, off_t off);
void fs_tree_lseek(fuse_req_t req, FsInode *in, off_t off, int whence);
void fs_tree_getxattr(fuse_req_t req, FsInode *in, const char *name,
		      size_t size);
void fs_tree_listxattr(fuse_req_t req, FsInode *in, size_t size);
/* mkdir, rmdir and rename in .snapshots take, delete and rename
 * snapshots; anywhere else in a snapshot: refused. */
void fs_tree_mkdir(fuse_req_t req, FsInode *dir, const char *name);
void fs_tree_rmdir(fuse_req_t req, FsInode *dir, const char *name);
/* A rename with from or to a tree inode. */
void fs_tree_rename(fuse_req_t req, FsInode *from, const char *name,
		    FsInode *to, const char *newname, unsigned flags);
/* Any other change: EROFS in a snapshot, EPERM on .snapshots, logged. */
void fs_tree_refuse(fuse_req_t req, FsInode *in, const char *op);
