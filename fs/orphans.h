/* orphans: files that were removed through the mount while they had
 * snapshots or private views. Their snapshots stay reachable under the
 * old path (F@@/snap/NAME after rm F) until deleted.
 *
 * Instead of copying the file's pages into its snapshots, removal keeps
 * the inode alive with a hard link in STATEDIR/orphans, named after the
 * path it had: O(1), nothing to copy, and the state (keyed by inode
 * number) stays attached. The link goes when the last snapshot and
 * private view of the file do.
 */
#pragma once

#include "fs.h"
#include "inode.h"

/* Open (creating) STATEDIR/orphans; statedir_fd is not taken. */
int fs_orphans_open(FsContext *ctx, int statedir_fd);
void fs_orphans_close(FsContext *ctx);

/* name in dir is about to lose a link (unlink, or replaced by rename):
 * if that is its last link and it has snapshots or private views, keep
 * it as an orphan. Returns 0 or -errno (the removal must not go on). */
int fs_orphans_keep(FsContext *ctx, FsInode *dir, const char *name);
/* The orphan once at name in dir, with one reference (fs_inode_unref).
 * Returns 0 or -ENOENT. */
int fs_orphans_find(FsContext *ctx, FsInode *dir, const char *name,
		    FsInode **ret);
/* The orphan once at the path file has now: a file replaced there (mv G
 * F, sed -i) whose snapshots F@@/snap still shows. Returns 0 with one
 * reference, or -ENOENT. */
int fs_orphans_find_for(FsContext *ctx, FsInode *file, FsInode **ret);
/* base lost its last snapshot or private view: if it is an orphan, let
 * it go. */
void fs_orphans_release(FsContext *ctx, FsInode *base);
