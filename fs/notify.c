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

/* How long a raced write's reply waits for its drop (microseconds). */
#define REDROP_WAIT_US 5000
/* Threads for redrops: each is blocked for REDROP_WAIT_US at most. */
#define REDROP_THREADS 8

typedef struct Redrop {
	FsInode *file;          /* the kernel holds it: the file is open */
	off_t off, len;
	gint refs;              /* the waiting request's and the job's */
	GMutex lock;
	GCond cond;
	bool done;
} Redrop;

static GThreadPool *redrops;

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

static void redrop_unref(Redrop *j)
{
	if (!g_atomic_int_dec_and_test(&j->refs))
		return;
	g_mutex_clear(&j->lock);
	g_cond_clear(&j->cond);
	g_free(j);
}

static void run_redrop(gpointer data, gpointer unused)
{
	Redrop *j = data;

	(void)unused;
	fs_notify_drop_file(j->file, j->off, j->len);
	g_mutex_lock(&j->lock);
	j->done = true;
	g_cond_signal(&j->cond);
	g_mutex_unlock(&j->lock);
	redrop_unref(j);
}

int fs_notify_start(struct fuse_session *se)
{
	session = se;
	lane_start(&files);
	lane_start(&aliases);
	redrops = g_thread_pool_new(run_redrop, NULL, REDROP_THREADS, FALSE,
				    NULL);
	return 0;
}

void fs_notify_stop(void)
{
	if (redrops)
		g_thread_pool_free(redrops, FALSE, TRUE);
	redrops = NULL;
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
	g_atomic_int_inc(&file->drops_done);
}

void fs_notify_redrop_file(FsInode *file, off_t off, off_t len)
{
	gint64 until = g_get_monotonic_time() + REDROP_WAIT_US;
	Redrop *j = g_new0(Redrop, 1);

	j->file = file;
	j->off = off;
	j->len = len;
	j->refs = 2;
	g_mutex_init(&j->lock);
	g_cond_init(&j->cond);
	g_thread_pool_push(redrops, j, NULL);
	g_mutex_lock(&j->lock);
	while (!j->done && g_cond_wait_until(&j->cond, &j->lock, until))
		;
	g_mutex_unlock(&j->lock);
	redrop_unref(j);
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
