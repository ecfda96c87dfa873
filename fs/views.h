/* views: the @@ namespace. F@@ is the view directory of the regular file
 * F; inside it "rw" and "ro" (with optional windows ":OFF[+LEN]"), and the
 * directories "cow" (private views) and "snap" (snapshots), whose entries
 * take windows too.
 *
 * rw views, private views and snapshots are served without kernel page
 * cache (direct_io) and without attribute caching, so reads through them
 * always see the file as it is. The file itself keeps its cache; a change
 * through a view invalidates the file's cached range before it is answered
 * (notify.h). ro views are cached too, and every change drops what it
 * changed from them (aliases.h). Only one alias of a file, the file, is
 * ever cached and writable, which is what keeps those invalidations free
 * of deadlock.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"
#include "mf-state.h"

/* Is name "F@@", the view directory of F? */
bool fs_views_is_dir_name(const char *name);
/* Say once per mount that a backing file named "F@@" hides F's views. */
void fs_views_note_shadowed(const char *name);
/* Reply to a lookup of "F@@" in parent (the tree has no such name). */
void fs_views_lookup_dir(fuse_req_t req, FsInode *parent, const char *name);
/* Reply to a lookup with the view in (one lookup of it held). */
void fs_views_reply_entry(fuse_req_t req, FsInode *in, const char *op);
/* Reply to a lookup with the view directory of the regular file base
 * (held by the caller), reached by the path key (fs_orphans_key, or
 * NULL). */
void fs_views_reply_dir(fuse_req_t req, FsInode *base, const char *key);
/* Reply to a lookup of .removed at the root (the tree has no such name). */
void fs_views_lookup_removed(fuse_req_t req);
/* If in's file was removed (it has no live views), log op and return true. */
bool fs_views_refuse_removed(FsContext *ctx, FsInode *in, const char *op,
			     const char *name);
/* Reply to a lookup of name inside the virtual directory dir. */
void fs_views_lookup(fuse_req_t req, FsInode *dir, const char *name);

/* Attributes of a virtual inode. Returns 0 or -errno. */
int fs_views_stat(FsContext *ctx, FsInode *in, struct stat *st);
/* The same from st, holding the attributes of in's file (a tree
 * snapshot's file for its views, treeviews.h), and for a snapshot or
 * private view its entry's info if known (else NULL: looked up). */
int fs_views_stat_of(FsContext *ctx, FsInode *in, const MfEntryInfo *known,
		     struct stat *st);
/* Log and reply EINVAL for the bad window of view name. */
void fs_views_bad_window(fuse_req_t req, const char *name);
void fs_views_getattr(fuse_req_t req, FsInode *in);
void fs_views_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		      bool plus);
void fs_views_getxattr(fuse_req_t req, FsInode *in, const char *name,
		       size_t size);
void fs_views_listxattr(fuse_req_t req, FsInode *in, size_t size);

/* Names in cow/ and snap/: create takes a snapshot or makes a private
 * view, unlink deletes, rename renames a snapshot or commits a private
 * view into its file. Elsewhere in the namespace: refused. */
void fs_views_create(fuse_req_t req, FsInode *dir, const char *name,
		     struct fuse_file_info *fi);
void fs_views_unlink(fuse_req_t req, FsInode *dir, const char *name);
void fs_views_rename(fuse_req_t req, FsInode *from, const char *name,
		     FsInode *to, const char *newname);
/* Everything else that would change a view or a virtual directory:
 * EROFS for ro views and snapshots, else EPERM, with a log line. */
void fs_views_refuse(fuse_req_t req, FsInode *in, const char *op);

/* viewio.c: requests on open views. */
void fs_views_open(fuse_req_t req, FsInode *in, struct fuse_file_info *fi);
void fs_views_read(fuse_req_t req, FsInode *in, size_t size, off_t off);
void fs_views_write(fuse_req_t req, FsInode *in, const char *buf,
		    size_t size, off_t off, struct fuse_file_info *fi);
/* A write through a write-only open of the regular file (served without
 * the kernel's page cache, direct_io, see ops.c), made as a write through
 * F@@/rw is: the pages other opens cache are dropped around it, or, with
 * no such open, marked stale. Not for O_APPEND. */
void fs_views_write_file(fuse_req_t req, FsInode *file, const char *buf,
			 size_t size, off_t off);
/* An open of a snapshot or private view holds its entry: deleted
 * meanwhile, it stays readable through the descriptor, out of sight,
 * until fs_views_release(). -ENOENT if it is gone already; 0 for other
 * views. A tree snapshot's F@@/snap/X holds the file's entry X the same
 * way (fs_views_state()); pinned, if not NULL, is set to the state that
 * holds it (NULL if none), valid until mf_state_entry_close() on it. */
int fs_views_pin(FsContext *ctx, FsInode *in, MfState **pinned);
/* The end of an open of in (a view, or a view directory: nothing to do). */
void fs_views_release(FsContext *ctx, FsInode *in);
void fs_views_fsync(fuse_req_t req, FsInode *in, int datasync);
void fs_views_lseek(fuse_req_t req, FsInode *in, off_t off, int whence);
void fs_views_setattr(fuse_req_t req, FsInode *in, struct stat *attr,
		      int valid);
/* Commit private view name of base into base (a rename's job). */
void fs_views_commit(fuse_req_t req, FsInode *cowdir, const char *name,
		     FsInode *target_dir, const char *target);

/* fs_inode_set_times(), known to the file's snapshots as the mount's own
 * change, not one from outside. Returns 0 or -errno. */
int fs_views_set_times(FsContext *ctx, FsInode *file, const struct stat *attr,
		       int valid);
/* The file removed from the path of dir (a snapshot directory) that has
 * snapshot entry, with a reference, and the snapshot's identity in *id;
 * NULL if none. */
FsInode *fs_views_replaced_holding(FsContext *ctx, FsInode *dir,
				   const char *entry, uint64_t *id);
/* The state (snapshots, private views) of in's file, checked against
 * changes made outside the mount: for a view in a tree snapshot, its
 * file's there (treeviews.h), never made. */
int fs_views_state(FsContext *ctx, FsInode *in, bool create, MfState **ret);
