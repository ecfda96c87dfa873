/* notify: work that needs kernel cache invalidations, done on a thread of
 * its own.
 *
 * libfuse forbids notifications from inside a request's own code path, and
 * a change through one alias of a file must not be answered before the
 * kernel's cache of the file is true again. So such a handler packs its
 * work into a job and returns; the notifier thread runs the job, which
 * invalidates, changes, invalidates again and replies. No daemon lock is
 * held across a notification.
 *
 * One thread is enough and cannot deadlock: jobs only invalidate the pages
 * of file inodes, and the requests that may hold those pages locked
 * (buffered writes, reads, writeback of the file) are answered by the
 * worker threads without waiting for this one. A job must never
 * invalidate pages that its own request holds locked.
 */
#pragma once

#include "fs.h"

int fs_notify_start(struct fuse_session *se);
/* Runs what is still queued, then joins the thread. */
void fs_notify_stop(void);

/* Run fn(arg) on the notifier thread; fn replies to its request. */
void fs_notify_run(void (*fn)(void *arg), void *arg);

/* For jobs: drop ino's cached pages in [off, off+len) (len 0: to the end;
 * off -1: none) and its cached attributes. Dirty pages are written back
 * first. */
void fs_notify_inval(fuse_ino_t ino, off_t off, off_t len);
/* For jobs: drop the kernel's entry name in parent. */
void fs_notify_inval_entry(fuse_ino_t parent, const char *name);
