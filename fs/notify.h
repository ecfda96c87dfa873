/* notify: work that needs kernel cache invalidations, done on threads of
 * their own.
 *
 * libfuse forbids notifications from inside a request's own code path, and
 * a change through one alias of a file must not be answered before the
 * kernel's cache of the file is true again. So such a handler packs its
 * work into a job and returns; a notifier thread runs the job, which
 * invalidates, changes, invalidates again and replies. No daemon lock is
 * held across a notification.
 *
 * Two threads, two lanes, and the order between them is what keeps them
 * free of deadlock:
 *
 *   files    jobs that drop pages of file inodes (changes through rw
 *            views, commits, lseek). The requests that may hold those
 *            pages locked (buffered writes, reads, writeback of the file)
 *            never wait for this lane.
 *   aliases  jobs that drop pages of cached ro views only, then answer a
 *            request that changed a file (aliases.h). ro view pages are
 *            locked only by reads of ro views, which the worker threads
 *            answer without waiting for either lane.
 *
 * So a files job may wait for ro view pages (it drops aliases too), and a
 * file's write may wait for the aliases lane, but nothing waits for the
 * files lane while holding what it needs. A job must never drop pages
 * that its own request holds locked. The one wait for a drop that may
 * need such a page, fs_notify_redrop_file(), is bounded in time.
 */
#pragma once

#include "fs.h"
#include "inode.h"

int fs_notify_start(struct fuse_session *se);
/* Runs what is still queued, then joins the threads. */
void fs_notify_stop(void);

/* Run fn(arg) on the files lane; fn replies to its request. */
void fs_notify_run(void (*fn)(void *arg), void *arg);
/* Run fn(arg) on the aliases lane: fn drops only pages of ro views. */
void fs_notify_run_alias(void (*fn)(void *arg), void *arg);

/* For jobs: drop ino's cached pages in [off, off+len) (len 0: to the end;
 * off -1: none) and its cached attributes. Dirty pages are written back
 * first. */
void fs_notify_inval(fuse_ino_t ino, off_t off, off_t len);
/* fs_notify_inval() of a file's own pages, counted when it begins and
 * when it ends (fs_inode_dropped_since_write()). */
void fs_notify_drop_file(FsInode *file, off_t off, off_t len);
/* In a buffered write's request that raced a drop of its file's pages
 * (fs_inode_dropped_since_write), before its reply: drop [off, off+len)
 * again on a thread of its own, and wait for that, but for a few
 * milliseconds at most. A reader may have cached the bytes from before
 * the write between the drop and the write reaching us, and once the
 * write returns, nobody may read them. The wait is bounded because the
 * request may hold its last page locked until it is answered (only a
 * page the kernel did not hold up to date, so never a stale one): then
 * the drop ends after the reply, as it has to. */
void fs_notify_redrop_file(FsInode *file, off_t off, off_t len);
/* Drop only ino's cached attributes. This takes no page lock, so unlike
 * the other drops a request may make it on its own path. */
void fs_notify_inval_attr(fuse_ino_t ino);
/* For jobs: drop the kernel's entry name in parent. */
void fs_notify_inval_entry(fuse_ino_t parent, const char *name);
