/* notify: the notifier thread and its queue. See notify.h. */
#include "notify.h"

#include <errno.h>
#include <string.h>

#include "log.h"

typedef struct Job {
	void (*fn)(void *arg);  /* NULL: the stop sentinel */
	void *arg;
} Job;

static GAsyncQueue *jobs;
static GThread *thread;
static struct fuse_session *session;

static gpointer notifier(gpointer unused)
{
	Job *j;

	(void)unused;
	while ((j = g_async_queue_pop(jobs))->fn) {
		j->fn(j->arg);
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
		if (j->fn)
			j->fn(j->arg);
		g_free(j);
	}
	g_async_queue_unref(jobs);
}

void fs_notify_run(void (*fn)(void *arg), void *arg)
{
	Job *j = g_new0(Job, 1);

	j->fn = fn;
	j->arg = arg;
	g_async_queue_push(jobs, j);
}

/* ENOENT: the kernel holds no such node, so it caches nothing of it. */
static void check(int r, const char *what)
{
	if (r < 0 && r != -ENOENT)
		fs_log(LOG_WARNING, "invalidating %s: %s", what, strerror(-r));
}

void fs_notify_inval(fuse_ino_t ino, off_t off, off_t len)
{
	check(fuse_lowlevel_notify_inval_inode(session, ino, off, len),
	      "a file's cache");
}

void fs_notify_inval_entry(fuse_ino_t parent, const char *name)
{
	check(fuse_lowlevel_notify_inval_entry(session, parent, name,
					       strlen(name)),
	      "an entry");
}
