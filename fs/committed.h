/* committed: user.mapfs.committed, on regular files, views and .shm
 * objects: the bytes that have storage behind them (allocated blocks of
 * the backing file, committed memory of an object), beside the size, so
 * that a sparse reservation can be told from committed pages, as
 * VirtualQuery tells MEM_RESERVE from MEM_COMMIT.
 *
 * Not listed by listxattr on files and objects, so that cp -a and
 * rsync -X do not copy it; views list it with their user.mapfs.*.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

#define FS_COMMITTED_XATTR "user.mapfs.committed"

/* Reply to getxattr of FS_COMMITTED_XATTR on in: ENODATA for what has
 * no data (directories, symlinks, view directories). */
void fs_committed_reply(fuse_req_t req, FsInode *in, size_t size);
