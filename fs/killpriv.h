/* killpriv: FUSE_HANDLE_KILLPRIV_V2 through libfuse's custom I/O hooks
 * (see killpriv.c for why), and the setuid/setgid clearing it leaves to
 * the daemon. */
#pragma once

#include "fs.h"
#include "inode.h"

/* On a mounted session, before it serves: read and write /dev/fuse
 * through our hooks. Returns 0 or -errno. */
int fs_killpriv_install(struct fuse_session *se);

/* req is about to change the bytes or size of in (a file, or a view of
 * one): clear the file's setuid bit, and its setgid bit if group
 * executable, unless the caller is root, as the kernel would for a
 * caller without CAP_FSETID. Failures are logged, not returned: the
 * change goes on, as the kernel's would. */
void fs_killpriv_clear(fuse_req_t req, FsInode *in);
