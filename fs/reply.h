/* reply: the replies several handlers share. */
#pragma once

#include <sys/stat.h>

#include "fs.h"
#include "inode.h"

/* Reply err (a positive errno) to req and log why, naming the operation
 * and what it was about. Expected misses (ENOENT, EEXIST, ...) are logged
 * only with -d. */
void fs_reply_err(fuse_req_t req, int err, const char *op, const char *what);
/* The log line alone, for replies sent later. */
void fs_log_err(int err, const char *op, const char *what);

/* Reply in's entry, cached for the mount's timeout (attributes for
 * attr_timeout); if the request was interrupted, give the lookup back. */
void fs_reply_entry(fuse_req_t req, FsInode *in, const struct stat *st,
		    double attr_timeout);
/* The same with an entry timeout of its own. */
void fs_reply_entry_for(fuse_req_t req, FsInode *in, const struct stat *st,
			double attr_timeout, double entry_timeout);

/* Reply to a getxattr or listxattr asking for size bytes: the length
 * alone when size is 0, ERANGE when the value does not fit. */
void fs_reply_xattr(fuse_req_t req, const char *value, size_t len,
		    size_t size);
