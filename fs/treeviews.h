/* treeviews: the view namespace inside tree snapshots (tree.h).
 *
 * MOUNT/.snapshots/NAME/F@@ is the view directory of the snapshot's
 * regular file F, as F@@ is of a live file (views.h), frozen:
 *   ro, ro:OFF[+LEN]  the snapshot's bytes of F, windows parsed, limited
 *                     and sized as live ones (mf_view_spec_parse());
 *   rw, rw:OFF[+LEN]  resolve to the same read-only views (one inode with
 *                     ro's): a reader that names rw gets the bytes, a
 *                     writer EROFS;
 *   cow/              empty and read-only: creating in it is EROFS;
 *   snap/NAME[:WIN]   the file's own snapshots that the tree snapshot
 *                     saw (mf_tree_file_snap_list()): taken before it and
 *                     not deleted since, by their names now; read-only
 *                     (creating in snap/ is EROFS).
 * image/ is not served (ENOENT, logged). F@@ of a directory, a symlink
 * or anything but a regular file is ENOENT, as live.
 *
 * Their inodes are the live namespace's kinds (FS_VIEWDIR, FS_VIEW,
 * FS_COWDIR, FS_SNAPDIR; a file snapshot's FS_VIEW bound to its entry's
 * identity, entry_id) whose base is the FS_TREE inode of F: that
 * alone makes them tree inodes (fs_tree_is()), so every request on them
 * reaches tree.c, which reads and refuses for them as for the snapshot's
 * other objects. No flag of their own. Their inode numbers are the
 * table's virtual ones (top bits 10, one per inode), clear of the live
 * tree's (below 2^62) and of the snapshots' objects (top bits 11).
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

/* Is in F@@ of a snapshot's file, or a name in it? */
static inline bool fs_treeviews_is(const FsInode *in)
{
	return in->base && in->base->kind == FS_TREE;
}

/* Reply to a lookup of "F@@" in dir, a snapshot's directory without
 * that name. */
void fs_treeviews_lookup_dir(fuse_req_t req, FsInode *dir, const char *name);
/* Reply to a lookup of name in dir (fs_treeviews_is()). */
void fs_treeviews_lookup(fuse_req_t req, FsInode *dir, const char *name);
/* Attributes of in (fs_treeviews_is()): its file's in the snapshot, with
 * its own inode number and size, and no write permission. 0 or -errno. */
int fs_treeviews_stat(FsContext *ctx, FsInode *in, struct stat *st);
/* The names directory in lists, NULL-terminated (g_strfreev). */
char **fs_treeviews_names(FsContext *ctx, const FsInode *dir);
/* Reply to a read of the view in: the snapshot's bytes of its window. */
void fs_treeviews_read(fuse_req_t req, FsInode *in, size_t size, off_t off);
/* For views.c, which serves their user.mapfs.* attributes as live
 * views' (mode ro or snap, coherence frozen; no committed, and no
 * changed, which compares with the live file): the state of in's file
 * (fs_views_state()), and user.mapfs.base, the file's path in the
 * snapshot, MOUNT/.snapshots/SNAP/dir/name (g_free). */
int fs_treeviews_state(FsContext *ctx, FsInode *in, MfState **ret);
char *fs_treeviews_base_path(FsContext *ctx, FsInode *in);
