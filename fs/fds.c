/* fds: the inodes' O_PATH descriptors under a budget. See fds.h. */
#include "fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "inode.h"
#include "log.h"

/* What the budget keeps clear of inodes and idle backings: stdio,
 * /dev/fuse, BACKING, the state directory and its lock, libfuse's pipes,
 * and what libraries open (the dlopen of libgcc_s at pthread_cancel). */
#define FIXED_FDS 32
/* The smallest budget: the descriptors the threads pin (FS_FD_PINS each,
 * for libfuse's 10 workers and the notifier's lanes) must fit in the
 * inodes' share, or the budget could not be kept. */
#define MIN_MAX_FDS 128
/* A default of half the limit leaves the other half to the backings of
 * the files users hold open; past this, more descriptors buy little. */
#define MAX_DEFAULT_MAX_FDS 65536
/* Idle backings keep windows for the next open of a closed file: a
 * quarter of the budget, at most this many (the old fixed figure). */
#define MAX_IDLE_BACKINGS 1024

/* An inode's descriptor as the budget manages it: only inodes with a
 * handle have one. */
typedef struct FsFdSlot {
	int fd;                 /* -1 while closed; lock */
	unsigned pins;          /* threads' pins on it; lock */
	bool dead;              /* its inode is gone, its descriptor closed:
				 * the last unpin frees it; lock */
	GList link;             /* in lru while fd >= 0 and not dead; lock */
	struct file_handle *fh; /* constant */
} FsFdSlot;

static struct {
	GMutex lock;
	GQueue lru;             /* FsFdSlot, most recently used first */
	unsigned open;          /* descriptors in lru */
	unsigned cap;           /* most descriptors of inodes: constant */
	unsigned max_fds;       /* constant */
	unsigned idle_backings; /* constant */
	int mount_fd;           /* constant */
	int mount_id;           /* constant */
	bool handles;           /* constant */
	uint64_t reopens;       /* lock */
} fds = { .idle_backings = MAX_IDLE_BACKINGS, .mount_fd = -1 };

/* A thread's pins: the slots it used last, most recent first. */
typedef struct Pins {
	FsFdSlot *s[FS_FD_PINS];
	unsigned n;
} Pins;

static void pins_free(gpointer p);
static GPrivate thread_pins = G_PRIVATE_INIT(pins_free);
/* Why the last fs_fd() of this thread failed (positive errno), or 0. */
static __thread int fd_error;

/* Descriptors to close once the lock is dropped: a close may be the
 * last reference to a removed file, and free its blocks. */
typedef struct Closing {
	int fd[FS_FD_PINS + 4];
	unsigned n;
} Closing;

static void close_later(Closing *c, int fd)
{
	if (c->n < G_N_ELEMENTS(c->fd))
		c->fd[c->n++] = fd;
	else
		close(fd);
}

static void close_now(Closing *c)
{
	for (unsigned i = 0; i < c->n; i++)
		close(c->fd[i]);
}

static void slot_free(FsFdSlot *s)
{
	g_free(s->fh);
	g_free(s);
}

/* lock held. */
static void unpin_locked(FsFdSlot *s)
{
	if (--s->pins == 0 && s->dead)
		slot_free(s);
}

static void pins_free(gpointer p)
{
	Pins *pins = p;

	g_mutex_lock(&fds.lock);
	for (unsigned i = 0; i < pins->n; i++)
		unpin_locked(pins->s[i]);
	g_mutex_unlock(&fds.lock);
	g_free(pins);
}

/* Pin s for this thread, as its most recent; the oldest pin goes when
 * there is no room. lock held. */
static void pin_locked(FsFdSlot *s)
{
	Pins *p = g_private_get(&thread_pins);
	unsigned i;

	if (!p) {
		p = g_new0(Pins, 1);
		g_private_set(&thread_pins, p);
	}
	for (i = 0; i < p->n && p->s[i] != s; i++)
		;
	if (i == p->n) {
		if (p->n == FS_FD_PINS)
			unpin_locked(p->s[--i]);
		else
			p->n++;
		s->pins++;
	}
	memmove(&p->s[1], &p->s[0], i * sizeof(p->s[0]));
	p->s[0] = s;
}

/* Close the least recently used unpinned descriptors past the cap.
 * lock held. */
static void trim_locked(Closing *c)
{
	GList *l = fds.lru.tail;

	while (fds.open > fds.cap && l) {
		FsFdSlot *s = l->data;

		l = l->prev;
		if (s->pins)
			continue;
		g_queue_unlink(&fds.lru, &s->link);
		close_later(c, s->fd);
		s->fd = -1;
		fds.open--;
		if (c->n == G_N_ELEMENTS(c->fd))
			break;
	}
}

/* lock held. */
static void add_locked(FsFdSlot *s, int fd, Closing *c)
{
	s->fd = fd;
	fds.open++;
	g_queue_push_head_link(&fds.lru, &s->link);
	trim_locked(c);
}

static int fail(int err)
{
	/* The object is gone from the tree: what a path to it would say. */
	fd_error = err == ESTALE ? ENOENT : err;
	errno = EBADF;
	return -1;
}

int fs_fd(const FsInode *in)
{
	FsFdSlot *s = in->fd_slot;
	Closing c = { .n = 0 };
	int fd;

	if (!s)
		return in->fd;
	g_mutex_lock(&fds.lock);
	if (s->fd < 0) {
		g_mutex_unlock(&fds.lock);
		/* Outside the lock: other inodes' uses need not wait. */
		fd = open_by_handle_at(fds.mount_fd, s->fh, O_PATH | O_CLOEXEC);
		if (fd < 0)
			return fail(errno);
		g_mutex_lock(&fds.lock);
		fds.reopens++;
		if (s->fd < 0) {
			s->link.data = s;
			add_locked(s, fd, &c);
		} else {
			close_later(&c, fd);    /* another thread was first */
		}
	} else {
		g_queue_unlink(&fds.lru, &s->link);
		g_queue_push_head_link(&fds.lru, &s->link);
	}
	pin_locked(s);
	fd = s->fd;
	g_mutex_unlock(&fds.lock);
	close_now(&c);
	return fd;
}

/* The handle of fd's object, or NULL if it has none we can use. */
static struct file_handle *handle_of(int fd)
{
	struct file_handle *fh = g_malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH) < 0 ||
	    mount_id != fds.mount_id) {
		/* Another filesystem mounted inside the tree: its objects
		 * keep their descriptors. */
		g_free(fh);
		return NULL;
	}
	return g_realloc(fh, sizeof(*fh) + fh->handle_bytes);
}

void fs_fds_track(FsInode *in, int fd)
{
	struct file_handle *fh = fds.handles ? handle_of(fd) : NULL;
	Closing c = { .n = 0 };
	FsFdSlot *s;

	if (!fh) {
		in->fd = fd;
		return;
	}
	s = g_new0(FsFdSlot, 1);
	s->fh = fh;
	s->link.data = s;
	in->fd = -1;
	in->fd_slot = s;
	g_mutex_lock(&fds.lock);
	add_locked(s, fd, &c);
	g_mutex_unlock(&fds.lock);
	close_now(&c);
}

int fs_fds_offer(FsInode *in, int fd)
{
	FsFdSlot *s = in->fd_slot;
	Closing c = { .n = 0 };

	if (!s)
		return fd;
	g_mutex_lock(&fds.lock);
	if (s->fd < 0) {
		add_locked(s, fd, &c);
		fd = -1;
	}
	g_mutex_unlock(&fds.lock);
	close_now(&c);
	return fd;
}

void fs_fds_forget(FsInode *in)
{
	FsFdSlot *s = in->fd_slot;
	int fd = -1;

	if (!s) {
		if (in->fd >= 0)
			close(in->fd);
		return;
	}
	in->fd_slot = NULL;
	g_mutex_lock(&fds.lock);
	/* Closed at once, pinned or not: nothing holds the inode (no
	 * lookup of the kernel's, no reference of ours), so no request is
	 * using its descriptor, and a removed file's blocks are freed now.
	 * Pins only keep the slot's memory until they go. */
	if (s->fd >= 0) {
		g_queue_unlink(&fds.lru, &s->link);
		fds.open--;
		fd = s->fd;
		s->fd = -1;
	}
	if (s->pins) {
		s->dead = true;         /* the last unpin frees it */
		s = NULL;
	}
	g_mutex_unlock(&fds.lock);
	if (fd >= 0)
		close(fd);
	if (s)
		slot_free(s);
}

int fs_fds_why(int err)
{
	int why = fd_error;

	fd_error = 0;
	return err == EBADF && why ? why : err;
}

unsigned fs_fds_idle_backings(void)
{
	return fds.idle_backings;
}

void fs_fds_stats(FsFdStats *out)
{
	g_mutex_lock(&fds.lock);
	out->budget = fds.max_fds;
	out->open = fds.open;
	out->reopens = fds.reopens;
	out->handles = fds.handles;
	g_mutex_unlock(&fds.lock);
}

/* Open the object at name in dir (or dir itself, name "") by its handle.
 * Returns 0 or -errno. */
static int reopen_test(int dir, const char *name, int flags)
{
	struct file_handle *fh = g_malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id, fd, r = 0;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dir, name, fh, &mount_id, flags) < 0)
		r = -errno;
	else if ((fd = open_by_handle_at(fds.mount_fd, fh,
					 O_PATH | O_CLOEXEC)) < 0)
		r = -errno;
	else
		close(fd);
	g_free(fh);
	return r;
}

/* Can the daemon open BACKING's objects by handle? Tried on BACKING and
 * on an entry of it: name_to_handle_at answers EOPNOTSUPP where the
 * filesystem has none, open_by_handle_at EPERM without
 * CAP_DAC_READ_SEARCH and ESTALE where handles are not for opening. */
static bool probe_handles(void)
{
	struct file_handle *fh = g_malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	struct statfs sfs;
	DIR *d = NULL;
	struct dirent *de;
	int r, fd;

	fh->handle_bytes = MAX_HANDLE_SZ;
	r = name_to_handle_at(fds.mount_fd, "", fh, &fds.mount_id,
			      AT_EMPTY_PATH) < 0 ? -errno : 0;
	g_free(fh);
	/* FUSE opens a handle only while the kernel still caches its
	 * inode, unless the daemon exports them, which cannot be asked. */
	if (r == 0 && fstatfs(fds.mount_fd, &sfs) == 0 &&
	    sfs.f_type == FUSE_SUPER_MAGIC)
		r = -EOPNOTSUPP;
	if (r == 0)
		r = reopen_test(fds.mount_fd, "", AT_EMPTY_PATH);
	fd = r == 0 ? dup(fds.mount_fd) : -1;
	if (fd >= 0 && !(d = fdopendir(fd)))
		close(fd);
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = reopen_test(dirfd(d), de->d_name, 0);
			break;
		}
	}
	if (d)
		closedir(d);
	if (r < 0)
		fs_log(LOG_NOTICE, "BACKING's file handles cannot be used "
		       "(%s%s): every inode the kernel knows holds a "
		       "descriptor, so the tree served is bounded by the "
		       "descriptor limit", strerror(-r), r == -EPERM
		       ? ": CAP_DAC_READ_SEARCH is needed" : "");
	return r == 0;
}

int fs_fds_init(int root_fd, unsigned max_fds)
{
	struct rlimit rl = { 0, 0 };
	unsigned limit, avail;

	g_mutex_init(&fds.lock);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	limit = rl.rlim_cur > UINT_MAX ? UINT_MAX : (unsigned)rl.rlim_cur;
	if (!max_fds)
		max_fds = MAX(MIN_MAX_FDS, MIN(limit / 2, MAX_DEFAULT_MAX_FDS));
	if (max_fds < MIN_MAX_FDS || max_fds > limit) {
		fprintf(stderr, "mapfs: max_fds=%u: must be from %u to the "
			"descriptor limit, %u\n", max_fds, MIN_MAX_FDS, limit);
		return -EINVAL;
	}
	avail = max_fds - FIXED_FDS;
	fds.max_fds = max_fds;
	fds.idle_backings = MIN(avail / 4, MAX_IDLE_BACKINGS);
	fds.cap = avail - fds.idle_backings;
	/* open_by_handle_at takes no O_PATH descriptor for its mount. */
	fds.mount_fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fds.handles = fds.mount_fd >= 0 && probe_handles();
	fs_log(LOG_INFO, "descriptors: %u of a limit of %u (%u for inodes, "
	       "%u for idle backings)%s", max_fds, limit, fds.cap,
	       fds.idle_backings, fds.handles ? ", inodes by file handle" : "");
	return 0;
}
