/* splice: large reads of a file answered by splice from its backing
 * descriptor, not copied out of windows. */
#pragma once

#include "fs.h"
#include "mf-backing.h"

/* Before the session is made: whether replies can be spliced here and
 * how large a read may then be. Returns the max_read= mount option to
 * add ("" for none); fs_splice_init() asks the same of the kernel. */
const char *fs_splice_setup(void);

/* In INIT: ask the kernel for spliced replies and the read size chosen
 * by fs_splice_setup(). */
void fs_splice_init(struct fuse_conn_info *conn);

/* Answer a read of size bytes at off of b's file by splice, if it is
 * one worth it (large, and splice on). Returns true if it answered req,
 * false if the caller should read through windows. */
bool fs_splice_read(fuse_req_t req, MfBacking *b, size_t size, off_t off);
