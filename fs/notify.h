/* notify: kernel cache invalidations, sent from a thread of their own.
 *
 * libfuse forbids notifications from inside a request's own code path, and
 * a write through one alias must not return before the kernel's cache of
 * the others is true. So the handler does its work, queues the
 * invalidation with the reply it owes, and returns; the notifier thread
 * invalidates, then replies. No daemon lock is held while it does.
 */
#pragma once

#include <sys/stat.h>

#include "fs.h"

int fs_notify_start(struct fuse_session *se);
/* Answers whatever is still queued (without invalidating) and joins. */
void fs_notify_stop(void);

/* Invalidate ino's cached pages in [off, off+len) (len 0: to the end)
 * and its attributes, then reply to req: a write of count bytes. */
void fs_notify_then_write(fuse_req_t req, fuse_ino_t ino, off_t off,
			  off_t len, size_t count);
/* The same, then reply attributes. */
void fs_notify_then_attr(fuse_req_t req, fuse_ino_t ino, off_t off,
			 off_t len, const struct stat *attr, double timeout);
