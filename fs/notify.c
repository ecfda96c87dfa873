/* notify: the invalidation thread. See notify.h for why it exists.
 *
 * One thread is enough and cannot deadlock: it only ever invalidates the
 * pages of a file inode, and the requests that hold those pages locked
 * (buffered writes, reads, writeback of the file) are answered by the
 * worker threads without waiting for this one.
 */
#include "notify.h"

#include <errno.h>
#include <string.h>

#include "log.h"

typedef struct Job {
	fuse_req_t req;         /* NULL: the stop sentinel */
	fuse_ino_t ino;
	off_t off, len;
	bool attr_reply;
	size_t count;           /* for a write reply */
	struct stat attr;       /* for an attribute reply */
	double timeout;
} Job;

static GAsyncQueue *jobs;
static GThread *thread;
static struct fuse_session *session;

static void reply(Job *j)
{
	if (j->attr_reply)
		fuse_reply_attr(j->req, &j->attr, j->timeout);
	else
		fuse_reply_write(j->req, j->count);
}

static gpointer notifier(gpointer unused)
{
	Job *j;

	(void)unused;
	while ((j = g_async_queue_pop(jobs))->req) {
		int r = fuse_lowlevel_notify_inval_inode(session, j->ino,
							 j->off, j->len);

		/* ENOENT: the kernel holds no such inode, so nothing of it
		 * is cached. */
		if (r < 0 && r != -ENOENT)
			fs_log(LOG_WARNING, "invalidating a file's cache: %s",
			       strerror(-r));
		reply(j);
		g_free(j);
	}
	g_free(j);
	return NULL;
}

int fs_notify_start(struct fuse_session *se)
{
	session = se;
	jobs = g_async_queue_new();
	thread = g_thread_new("mapfs-notify", notifier, NULL);
	return 0;
}

void fs_notify_stop(void)
{
	Job *j;

	if (!thread)
		return;
	g_async_queue_push(jobs, g_new0(Job, 1));
	g_thread_join(thread);
	thread = NULL;
	while ((j = g_async_queue_try_pop(jobs))) {
		if (j->req)
			reply(j);
		g_free(j);
	}
	g_async_queue_unref(jobs);
}

static void push(Job *j)
{
	g_async_queue_push(jobs, j);
}

void fs_notify_then_write(fuse_req_t req, fuse_ino_t ino, off_t off,
			  off_t len, size_t count)
{
	Job *j = g_new0(Job, 1);

	*j = (Job){ .req = req, .ino = ino, .off = off, .len = len,
		    .count = count };
	push(j);
}

void fs_notify_then_attr(fuse_req_t req, fuse_ino_t ino, off_t off,
			 off_t len, const struct stat *attr, double timeout)
{
	Job *j = g_new0(Job, 1);

	*j = (Job){ .req = req, .ino = ino, .off = off, .len = len,
		    .attr_reply = true, .attr = *attr, .timeout = timeout };
	push(j);
}
