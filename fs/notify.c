/* notify: the notifier threads and their queues. See notify.h. */
#include "notify.h"

#include <errno.h>
#include <string.h>

#include "log.h"

typedef struct Job {
	void (*fn)(void *arg);  /* NULL: the stop sentinel */
	void *arg;
} Job;

typedef struct Lane {
	const char *name;
	GAsyncQueue *jobs;
	GThread *thread;
} Lane;

static Lane files = { .name = "mapfs-notify" };
static Lane aliases = { .name = "mapfs-aliases" };
static struct fuse_session *session;

static gpointer run_lane(gpointer data)
{
	Lane *lane = data;
	Job *j;

	while ((j = g_async_queue_pop(lane->jobs))->fn) {
		j->fn(j->arg);
		g_free(j);
	}
	g_free(j);
	return NULL;
}

static void lane_start(Lane *lane)
{
	lane->jobs = g_async_queue_new();
	lane->thread = g_thread_new(lane->name, run_lane, lane);
}

static void lane_stop(Lane *lane)
{
	Job *j;

	if (!lane->thread)
		return;
	g_async_queue_push(lane->jobs, g_new0(Job, 1));
	g_thread_join(lane->thread);
	lane->thread = NULL;
	while ((j = g_async_queue_try_pop(lane->jobs))) {
		if (j->fn)
			j->fn(j->arg);
		g_free(j);
	}
	g_async_queue_unref(lane->jobs);
}

static void lane_push(Lane *lane, void (*fn)(void *arg), void *arg)
{
	Job *j = g_new0(Job, 1);

	j->fn = fn;
	j->arg = arg;
	g_async_queue_push(lane->jobs, j);
}

int fs_notify_start(struct fuse_session *se)
{
	session = se;
	lane_start(&files);
	lane_start(&aliases);
	return 0;
}

void fs_notify_stop(void)
{
	/* Files first: its jobs may still drop aliases. */
	lane_stop(&files);
	lane_stop(&aliases);
}

void fs_notify_run(void (*fn)(void *arg), void *arg)
{
	lane_push(&files, fn, arg);
}

void fs_notify_run_alias(void (*fn)(void *arg), void *arg)
{
	lane_push(&aliases, fn, arg);
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

void fs_notify_drop_file(FsInode *file, off_t off, off_t len)
{
	g_atomic_int_inc(&file->page_drops);
	fs_notify_inval((fuse_ino_t)(uintptr_t)file, off, len);
}

void fs_notify_inval_attr(fuse_ino_t ino)
{
	check(fuse_lowlevel_notify_inval_inode(session, ino, -1, 0),
	      "a file's attributes");
}

void fs_notify_inval_entry(fuse_ino_t parent, const char *name)
{
	check(fuse_lowlevel_notify_inval_entry(session, parent, name,
					       strlen(name)),
	      "an entry");
}
