/* views: the @@ namespace. F@@ is the view directory of the regular file
 * F; inside it, "rw" and "ro" with optional windows ":OFF[+LEN]".
 *
 * Views are served without kernel page cache (direct_io) and with no
 * attribute caching, so reads through them always see the file as it is.
 * The file itself keeps its cache; a write through a view invalidates the
 * file's cached range (see notify.h) before it is answered. Only one alias
 * of a file is ever cached and writable, which is what keeps those
 * invalidations free of deadlock.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

/* Is name "F@@", the view directory of F? */
bool fs_views_is_dir_name(const char *name);
/* Reply to a lookup of "F@@" in parent (the tree has no such name). */
void fs_views_lookup_dir(fuse_req_t req, FsInode *parent, const char *name);
/* Say once per mount that a backing file named "F@@" hides F's views. */
void fs_views_note_shadowed(const char *name);
/* Reply to a lookup of name inside the view directory dir. */
void fs_views_lookup(fuse_req_t req, FsInode *dir, const char *name);

/* Handlers for requests on virtual inodes (in->kind != FS_REAL). */
void fs_views_getattr(fuse_req_t req, FsInode *in);
void fs_views_setattr(fuse_req_t req, FsInode *in, struct stat *attr,
		      int valid);
void fs_views_open(fuse_req_t req, FsInode *in, struct fuse_file_info *fi);
void fs_views_read(fuse_req_t req, FsInode *in, size_t size, off_t off);
void fs_views_write(fuse_req_t req, FsInode *in, const char *buf,
		    size_t size, off_t off);
void fs_views_fsync(fuse_req_t req, FsInode *in, int datasync);
void fs_views_lseek(fuse_req_t req, FsInode *in, off_t off, int whence);
void fs_views_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		      bool plus);
void fs_views_getxattr(fuse_req_t req, FsInode *in, const char *name,
		       size_t size);
void fs_views_listxattr(fuse_req_t req, FsInode *in, size_t size);
/* Everything that would change a view's metadata or a view directory's
 * names: EROFS on ro views, else EPERM. */
void fs_views_refuse(fuse_req_t req, FsInode *in, const char *op);
