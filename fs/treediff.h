/* treediff: what changed since a tree snapshot, as an attribute of its
 * root: getxattr user.mapfs.diff on .snapshots/A (against the live tree),
 * user.mapfs.diff.B (against snapshot B), from mf_tree_diff().
 *
 * One line per change, '\n'-terminated:
 *   + T PATH                  created
 *   - T PATH                  removed
 *   > T PATH<TAB>TO           renamed (the same object)
 *   M T PATH[<TAB>OFF+LEN ...] attributes or bytes changed; the byte
 *                             ranges (decimal, page granular) if bytes
 * T is f (regular file), d, l (symlink) or o (other); paths are from the
 * snapshot's root, escaped with g_strescape(). A value would pass 64 KiB
 * ends with "more N": ask for the rest with user.mapfs.diff@N (or
 * user.mapfs.diff.B@N), N lines skipped. The last "@DIGITS" of the name
 * is always the skip: a snapshot named "x@3" is asked as
 * user.mapfs.diff.x@3@0.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

bool fs_tree_is_diff_xattr(const char *name);
/* Reply to getxattr name (fs_tree_is_diff_xattr) on a tree inode:
 * ENODATA but on a snapshot's root. */
void fs_tree_diff_reply(fuse_req_t req, FsInode *in, const char *name,
			size_t size);
