/* aliases: keeping the kernel's cache of a file's ro views true.
 *
 * ro views (F@@/ro, F@@/ro:OFF+LEN) are served through the kernel's page
 * cache like the file itself, so re-reading one costs no round trip. They
 * are never written, so the kernel never holds a dirty page of one, and
 * dropping their pages never waits for a writeback; the file stays the
 * only alias that is both cached and writable (views.h).
 *
 * Every change the daemon makes to a file's bytes drops the changed range
 * from each ro view that may cache it, before the change is answered. A
 * view may cache pages from its first open until it is dropped whole while
 * closed, or forgotten by the kernel; the file keeps such views in its
 * cached_views list (inode.h). Drops are kernel notifications, so they run
 * on a notifier thread (notify.h): a handler that changed bytes answers
 * through fs_aliases_reply_*(), which reply at once when no view caches
 * the range, and otherwise hand the drops and the reply to the aliases
 * lane. That lane never touches the file's own pages: a buffered write of
 * the file holds them locked until it is answered.
 */
#pragma once

#include <stdint.h>

#include "fs.h"
#include "inode.h"

/* The drops one change needs. */
typedef struct FsAliasDrops FsAliasDrops;

/* Is view served through the kernel's page cache? */
bool fs_aliases_cached(const FsInode *view);

/* An open of the cached view is being answered, and counted in the same
 * hold of its file's lock (fs_inode_opened_cached): from now on it may
 * hold pages. */
void fs_aliases_opened_locked(FsInode *view);
/* The view is going away (its inode is freed): its pages are gone. Called
 * with the inode table locked. */
void fs_aliases_forget(FsInode *view);

/* The bytes [off, off+len) of file changed (len FS_ALIASES_TO_END: from
 * off on, as by a truncation). Returns the drops to make, or NULL if no
 * view may cache those bytes. */
#define FS_ALIASES_TO_END UINT64_MAX
FsAliasDrops *fs_aliases_changed(FsInode *file, uint64_t off, uint64_t len);
/* On a notifier thread: make the drops and free them (NULL: nothing). */
void fs_aliases_drop(FsAliasDrops *drops);

/* Replies that wait for drops (NULL drops: reply at once). */
void fs_aliases_reply_write(fuse_req_t req, FsAliasDrops *drops,
			    size_t count);
/* err 0: success; else logged as fs_reply_err() does. */
void fs_aliases_reply_err(fuse_req_t req, FsAliasDrops *drops, int err,
			  const char *op, const char *what);
void fs_aliases_reply_attr(fuse_req_t req, FsAliasDrops *drops,
			   const struct stat *st, double timeout);
/* Reply to the open of in (a regular file, counted as opened); an open
 * that the caller gave up on is counted as closed again. stale: drop the
 * file's own pages first, on the files lane (fs_inode_opened_cached). */
void fs_aliases_reply_open(fuse_req_t req, FsAliasDrops *drops, FsInode *in,
			   const struct fuse_file_info *fi, bool stale);
/* The same for a create that opened an existing file (one lookup of in
 * is given back if the caller gave up). */
void fs_aliases_reply_create(fuse_req_t req, FsAliasDrops *drops,
			     FsInode *in, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, bool stale);
