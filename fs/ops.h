/* ops: the handlers of fs_ops: names, attributes and file data in
 * ops.c, directories in dirs.c, extended attributes in xattrs.c, inode
 * flags in fileattr.c; and what they share. */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

static inline FsContext *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline FsInode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	return fs_inode_get(ctx_of(req)->inodes, ino);
}

static inline bool is_virtual(const FsInode *in)
{
	return in->kind != FS_REAL;
}

/* dirs.c */
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);

/* xattrs.c */
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* fileattr.c: chattr and lsattr */
void fs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		 struct fuse_file_info *fi, unsigned flags,
		 const void *in_buf, size_t in_bufsz, size_t out_bufsz);
