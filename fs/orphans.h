/* orphans: files that were removed through the mount while they had
 * snapshots or private views. Their snapshots stay reachable under the
 * old path (F@@/snap/NAME after rm F, or after mv G F) until deleted.
 *
 * Instead of copying the file's pages into its snapshots, removal keeps
 * the inode alive with a hard link in STATEDIR/orphans named KEY@INO,
 * KEY being the path it had: O(1), nothing to copy, and the state (keyed
 * by inode number) stays attached. The link goes when the last snapshot
 * and private view of the file do, and so does the file's record.
 *
 * MOUNT/.removed (FS_REMOVED_DIR) lists them, whatever happened to their
 * directory since: .removed/KEY@INO@@ is the removed file's view
 * directory, with its snapshots and private views and nothing live (no rw,
 * ro, nor new entries: a removed file has no live views).
 */
#pragma once

#include "fs.h"
#include "inode.h"

/* The root directory that lists removed files kept for their entries;
 * hidden like F@@. */
#define FS_REMOVED_DIR ".removed"

/* Open (creating) STATEDIR/orphans; statedir_fd is not taken. */
int fs_orphans_open(FsContext *ctx, int statedir_fd);
void fs_orphans_close(FsContext *ctx);

/* The key of name in dir: its path in the tree, escaped into one name
 * component. g_free it; NULL outside the tree. */
char *fs_orphans_key(FsContext *ctx, FsInode *dir, const char *name);
/* name in dir is about to lose a link (unlink, or replaced by rename):
 * if that is its last link and it has snapshots or private views, keep
 * it as an orphan. Returns 0 or -errno (the removal must not go on). */
int fs_orphans_keep(FsContext *ctx, FsInode *dir, const char *name);
/* base has a name in the tree again (a rollback linked it back): it is
 * no orphan, whatever snapshots or private views it still has. */
void fs_orphans_returned(FsContext *ctx, FsInode *base);
/* Was base kept as an orphan removed from the path key? */
bool fs_orphans_was_at(FsContext *ctx, FsInode *base, const char *key);
/* The orphans once at the path key, each with one reference. */
GPtrArray *fs_orphans_list(FsContext *ctx, const char *key);
void fs_orphans_unref_all(FsContext *ctx, GPtrArray *orphans);
/* Does it keep any? */
bool fs_orphans_any(FsContext *ctx);
/* Is base a removed file kept here (its last link is ours)? */
bool fs_orphans_is_removed(FsContext *ctx, FsInode *base);
/* The names .removed lists: "KEY@INO@@" for each orphan. g_strfreev it. */
char **fs_orphans_names(FsContext *ctx);
/* The orphan named by "KEY@INO@@", with one reference. 0 or -ENOENT. */
int fs_orphans_find(FsContext *ctx, const char *name, FsInode **ret);
/* base lost its last snapshot or private view: if it is an orphan, let
 * it go, with its record. */
void fs_orphans_release(FsContext *ctx, FsInode *base);
