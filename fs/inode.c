/* inode: the inode table. See inode.h for the rules it keeps. */
#include "inode.h"

#include "aliases.h"
#include "mf-state.h"
#include "mf-tree.h"
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

struct FsInodeTable {
	GMutex lock;
	GHashTable *by_key;     /* FsInode* (dev, ino) -> itself; lock */
	GHashTable *views;      /* view_key -> virtual FsInode*; lock */
	uint64_t next_vino;     /* lock */
	FsInode root;
};

/* Backings held by inodes (atomic). Up to fs_fds_idle_backings() of them
 * stay open after their last close, keeping their windows for the next
 * open; past that a closed file lets its backing go, so fds stay within
 * the budget. */
static gint held_backings;

/* st_ino of virtual inodes: the top bit keeps them clear of real ones. */
#define VINO_BASE (UINT64_C(1) << 63)

static guint inode_hash(gconstpointer p)
{
	const FsInode *in = p;

	return (guint)(in->ino * 0x9E3779B97F4A7C15ull >> 32) ^ (guint)in->dev;
}

static gboolean inode_equal(gconstpointer a, gconstpointer b)
{
	const FsInode *x = a, *y = b;

	return x->dev == y->dev && x->ino == y->ino;
}

FsInodeTable *fs_inode_table_new(int root_fd)
{
	FsInodeTable *t = g_new0(FsInodeTable, 1);
	struct stat st;

	g_mutex_init(&t->lock);
	t->by_key = g_hash_table_new(inode_hash, inode_equal);
	t->views = g_hash_table_new(g_str_hash, g_str_equal);
	if (fstat(root_fd, &st) == 0) {
		t->root.dev = st.st_dev;
		t->root.ino = st.st_ino;
	}
	t->root.fd = root_fd;
	t->root.type = S_IFDIR;
	t->root.nlookup = 2;    /* never reaches zero */
	g_mutex_init(&t->root.lock);
	return t;
}

static void inode_free(FsInode *in)
{
	if (in->backing)
		g_atomic_int_add(&held_backings, -1);
	mf_backing_unref(in->backing);
	fs_fds_forget(in);
	g_free(in->view_key);
	g_free(in->entry);
	g_slist_free(in->cached_views);
	if (in->shm)
		fs_shm_obj_unref(in->shm);
	if (in->tree_node)
		mf_tree_node_unref(in->tree_node);
	g_mutex_clear(&in->lock);
	g_free(in);
}

/* Unlink in from the table if nothing holds it any more; a virtual inode
 * then lets go of its base, which may go too. Returns the inodes to free
 * once the lock is dropped. */
static GSList *drop_if_unused_locked(FsInodeTable *t, FsInode *in)
{
	GSList *dead = NULL;

	while (in && in != &t->root && in->nlookup == 0 && in->refs == 0) {
		FsInode *base = in->base;

		if (in->kind == FS_REAL) {
			g_hash_table_remove(t->by_key, in);
		} else {
			g_hash_table_remove(t->views, in->view_key);
			fs_aliases_forget(in);
		}
		dead = g_slist_prepend(dead, in);
		if (base)
			base->refs--;
		in = base;
	}
	return dead;
}

void fs_inode_table_free(FsInodeTable *t)
{
	GHashTableIter it;
	FsInode *in;

	g_hash_table_iter_init(&it, t->by_key);
	while (g_hash_table_iter_next(&it, (gpointer *)&in, NULL))
		inode_free(in);
	g_hash_table_iter_init(&it, t->views);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&in))
		inode_free(in);
	g_hash_table_destroy(t->by_key);
	g_hash_table_destroy(t->views);
	g_mutex_clear(&t->root.lock);
	g_mutex_clear(&t->lock);
	g_free(t);
}

unsigned fs_inode_table_size(FsInodeTable *t)
{
	unsigned n;

	g_mutex_lock(&t->lock);
	n = g_hash_table_size(t->by_key);
	g_mutex_unlock(&t->lock);
	return n;
}

FsInode *fs_inode_get(FsInodeTable *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : (FsInode *)(uintptr_t)ino;
}

/* Find or add the inode of name in parent; count it as a lookup of the
 * kernel's or as one of our references. */
static int find(FsInodeTable *t, FsInode *parent, const char *name,
		struct stat *st, bool as_lookup, FsInode **ret)
{
	FsInode key, *in;
	int fd = openat(fs_fd(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	key.dev = st->st_dev;
	key.ino = st->st_ino;
	g_mutex_lock(&t->lock);
	if (key.dev == t->root.dev && key.ino == t->root.ino) {
		in = &t->root;  /* ".." of a top-level directory */
	} else if (!(in = g_hash_table_lookup(t->by_key, &key))) {
		in = g_new0(FsInode, 1);
		in->kind = FS_REAL;
		fs_fds_track(in, fd);
		fd = -1;
		in->dev = key.dev;
		in->ino = key.ino;
		in->type = st->st_mode & S_IFMT;
		g_mutex_init(&in->lock);
		g_hash_table_add(t->by_key, in);
	}
	if (as_lookup)
		in->nlookup++;
	else
		in->refs++;
	g_mutex_unlock(&t->lock);
	/* Our reference keeps in; its descriptor may have been closed. */
	if (fd >= 0 && (fd = fs_fds_offer(in, fd)) >= 0)
		close(fd);
	*ret = in;
	return 0;
}

int fs_inode_lookup(FsInodeTable *t, FsInode *parent, const char *name,
		    struct stat *st, FsInode **ret)
{
	return find(t, parent, name, st, true, ret);
}

int fs_inode_lookup_entry(FsInodeTable *t, FsInode *parent,
			  const char *name, struct stat *st, FsInode **ret)
{
	FsInode key, *in;

	if (fstatat(fs_fd(parent), name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	key.dev = st->st_dev;
	key.ino = st->st_ino;
	g_mutex_lock(&t->lock);
	in = g_hash_table_lookup(t->by_key, &key);
	if (in)
		in->nlookup++;
	g_mutex_unlock(&t->lock);
	if (!in)
		return fs_inode_lookup(t, parent, name, st, ret);
	*ret = in;
	return 0;
}

int fs_inode_find(FsInodeTable *t, FsInode *parent, const char *name,
		  struct stat *st, FsInode **ret)
{
	return find(t, parent, name, st, false, ret);
}

static FsInode *view_get(FsInodeTable *t, FsInode *base, FsKind kind,
			 const MfViewSpec *spec, const char *entry, uint64_t id)
{
	g_autofree char *name = spec ? mf_view_spec_name(spec) : NULL;
	char *key = g_strdup_printf("%p/%d/%s/%s/%" PRIu64, (void *)base,
				    (int)kind, entry ? entry : "",
				    name ? name : "", id);
	FsInode *in;

	g_mutex_lock(&t->lock);
	in = g_hash_table_lookup(t->views, key);
	if (in) {
		g_free(key);
	} else {
		in = g_new0(FsInode, 1);
		in->kind = kind;
		in->fd = -1;
		in->type = kind == FS_VIEW ? S_IFREG : S_IFDIR;
		in->entry = g_strdup(entry);
		in->entry_id = id;
		in->base = base;
		base->refs++;
		if (spec)
			in->spec = *spec;
		in->vino = VINO_BASE | ++t->next_vino;
		in->view_key = key;
		g_mutex_init(&in->lock);
		g_hash_table_insert(t->views, key, in);
	}
	in->nlookup++;
	g_mutex_unlock(&t->lock);
	return in;
}

int fs_inode_memfd(FsInodeTable *t, int fd, dev_t dev, uint64_t ino,
		   FsShmObj *obj, FsInode **ret)
{
	FsInode key = { .dev = dev, .ino = (ino_t)ino }, *in;
	int err = 0;

	g_mutex_lock(&t->lock);
	in = g_hash_table_lookup(t->by_key, &key);
	if (!in) {
		int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (copy < 0) {
			err = -errno;
		} else {
			in = g_new0(FsInode, 1);
			in->kind = FS_REAL;
			in->fd = copy;
			in->dev = dev;
			in->ino = (ino_t)ino;
			in->type = S_IFREG;
			in->shm = obj;
			fs_shm_obj_ref(obj);
			g_mutex_init(&in->lock);
			g_hash_table_add(t->by_key, in);
		}
	}
	if (in)
		in->nlookup++;
	g_mutex_unlock(&t->lock);
	*ret = in;
	return err;
}

FsInode *fs_inode_view(FsInodeTable *t, FsInode *base, FsKind kind,
		       const MfViewSpec *spec, const char *entry)
{
	return view_get(t, base, kind, spec, entry, 0);
}

FsInode *fs_inode_entry_view(FsInodeTable *t, FsInode *base,
			     const MfViewSpec *spec, const char *name,
			     uint64_t id)
{
	return view_get(t, base, FS_VIEW, spec, name, id);
}

FsInode *fs_inode_tree(FsInodeTable *t, MfTreeNode *node, mode_t type,
		       uint64_t seq)
{
	FsInode *in = view_get(t, &t->root, FS_TREE, NULL,
			       mf_tree_node_id(node), seq);

	/* Set before the kernel can know it: the lookup is still ours. */
	g_mutex_lock(&t->lock);
	if (!in->tree_node) {
		in->tree_node = mf_tree_node_ref(node);
		in->type = type & S_IFMT;
	}
	g_mutex_unlock(&t->lock);
	return in;
}

static void release(FsInodeTable *t, FsInode *in, uint64_t lookups,
		    unsigned refs)
{
	GSList *dead;

	if (in == &t->root)
		return;
	g_mutex_lock(&t->lock);
	g_assert(in->nlookup >= lookups && in->refs >= refs);
	in->nlookup -= lookups;
	in->refs -= refs;
	dead = drop_if_unused_locked(t, in);
	g_mutex_unlock(&t->lock);
	g_slist_free_full(dead, (GDestroyNotify)inode_free);
}

void fs_inode_forget(FsInodeTable *t, FsInode *in, uint64_t n)
{
	release(t, in, n, 0);
}

void fs_inode_unref(FsInodeTable *t, FsInode *in)
{
	release(t, in, 0, 1);
}

FsInode *fs_inode_hold(FsInodeTable *t, FsInode *in)
{
	if (in == &t->root)
		return in;
	g_mutex_lock(&t->lock);
	in->refs++;
	g_mutex_unlock(&t->lock);
	return in;
}

int fs_inode_state(FsContext *ctx, FsInode *in, bool create, MfState **ret)
{
	if (in->shm)
		return mf_state_get_ino(ctx->states, (uint64_t)in->ino, create,
					ret);
	if (!create && !mf_state_may_exist(ctx->states, (uint64_t)in->ino))
		return -ENOENT;
	return mf_state_get(ctx->states, fs_fd(in), create, ret);
}

/* Give a new backing its file's copy-before-write, if it has snapshots. */
static void attach_state(FsContext *ctx, FsInode *in)
{
	MfState *st;

	if (fs_inode_state(ctx, in, false, &st) == 0) {
		mf_state_attach(st, in->backing);
		mf_state_unref(st);
	}
}

static int open_backing_locked(FsContext *ctx, FsInode *in)
{
	char path[FS_PROC_PATH_MAX];
	bool writable = true;
	int fd, r;

	fs_inode_proc_path(in, path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS ||
		       errno == ETXTBSY || errno == EPERM)) {
		in->backing_rw_err = errno;
		writable = false;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	r = mf_backing_new(ctx->cache, fd, writable, &in->backing);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Writes through descriptors opened before get the reason. */
	if (!writable)
		mf_backing_deny_writes(in->backing, in->backing_rw_err);
	g_atomic_int_inc(&held_backings);
	attach_state(ctx, in);
	return 0;
}

static int get_backing(FsContext *ctx, FsInode *in, bool rw,
		       MfBacking **ret)
{
	int r = 0;

	if (in->type != S_IFREG)
		return -EINVAL;
	g_mutex_lock(&in->lock);
	if (!in->backing) {
		r = open_backing_locked(ctx, in);
	} else if (!mf_backing_writable(in->backing) &&
		   (rw || mf_backing_fd_writable(in->backing))) {
		/* Whatever kept it read-only (mode, a running executable)
		 * may have passed: try again. Readers still holding the old
		 * backing keep it until they are done. A backing whose
		 * writes were denied (chattr +i, +a) goes at once: no window
		 * of an append-only file maps from its writable fd. */
		MfBacking *old = in->backing;

		in->backing = NULL;
		if (open_backing_locked(ctx, in) < 0) {
			in->backing = old;
		} else {
			g_atomic_int_add(&held_backings, -1);
			mf_backing_unref(old);
		}
	}
	if (r == 0 && rw && !mf_backing_writable(in->backing))
		r = -in->backing_rw_err;
	if (r == 0)
		*ret = mf_backing_ref(in->backing);
	g_mutex_unlock(&in->lock);
	return r;
}

int fs_inode_backing(FsContext *ctx, FsInode *in, MfBacking **ret)
{
	return get_backing(ctx, in, false, ret);
}

int fs_inode_backing_rw(FsContext *ctx, FsInode *in, MfBacking **ret)
{
	return get_backing(ctx, in, true, ret);
}

void fs_inode_adopt_fd(FsContext *ctx, FsInode *in, int fd,
		       const struct stat *st)
{
	g_mutex_lock(&in->lock);
	in->seen_size = st->st_size;
	in->seen_mtime = st->st_mtim;
	if (in->backing ||
	    mf_backing_new_stat(ctx->cache, fd, true, st, &in->backing) < 0) {
		close(fd);
	} else {
		g_atomic_int_inc(&held_backings);
		attach_state(ctx, in);
	}
	g_mutex_unlock(&in->lock);
}

static struct timespec time_arg(int valid, int set_bit, int now_bit,
				struct timespec t)
{
	if (valid & now_bit)
		return (struct timespec){ 0, UTIME_NOW };
	if (valid & set_bit)
		return t;
	return (struct timespec){ 0, UTIME_OMIT };
}

int fs_inode_set_times(FsInode *in, const struct stat *attr, int valid)
{
	struct timespec ts[2] = {
		time_arg(valid, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW,
			 attr->st_atim),
		time_arg(valid, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW,
			 attr->st_mtim),
	};
	char path[FS_PROC_PATH_MAX];

	if (in->type == S_IFLNK)
		return utimensat(fs_fd(in), "", ts, AT_EMPTY_PATH) < 0 ? -errno
								     : 0;
	fs_inode_proc_path(in, path);
	return utimensat(AT_FDCWD, path, ts, 0) < 0 ? -errno : 0;
}

void fs_inode_remember(FsInode *in)
{
	struct stat st;

	if (fstatat(fs_fd(file_of(in)), "", &st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return;
	g_mutex_lock(&file_of(in)->lock);
	in->seen_size = st.st_size;
	in->seen_mtime = st.st_mtim;
	g_mutex_unlock(&file_of(in)->lock);
}

/* Did in see the file as st shows it now? Remembers st either way.
 * file_of(in)->lock held. */
static bool saw_locked(FsInode *in, const struct stat *st)
{
	bool same = in->seen_size == st->st_size &&
		    in->seen_mtime.tv_sec == st->st_mtim.tv_sec &&
		    in->seen_mtime.tv_nsec == st->st_mtim.tv_nsec;

	in->seen_size = st->st_size;
	in->seen_mtime = st->st_mtim;
	return same;
}

bool fs_inode_saw(FsInode *in, const struct stat *st)
{
	bool same;

	g_mutex_lock(&file_of(in)->lock);
	same = saw_locked(in, st);
	g_mutex_unlock(&file_of(in)->lock);
	return same;
}

/* f->lock held. */
static void count_open_locked(FsContext *ctx, FsInode *f, FsInode *in)
{
	g_atomic_int_inc(&ctx->open_files);
	f->opens++;
	if (in == f) {
		f->own_opens++;
		f->own_open_gen++;
	} else
		in->view_opens++;
}

void fs_inode_opened(FsContext *ctx, FsInode *in)
{
	FsInode *f = file_of(in);

	g_mutex_lock(&f->lock);
	count_open_locked(ctx, f, in);
	g_mutex_unlock(&f->lock);
}

bool fs_inode_opened_cached(FsContext *ctx, FsInode *in,
			    const struct stat *now, bool *stale)
{
	FsInode *f = file_of(in);
	struct stat st;
	bool keep, seen = true;

	if (now)
		st = *now;
	else
		seen = fstatat(fs_fd(f), "", &st,
			       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0;
	/* One step with the count: a view's write either sees this open or
	 * marks the pages stale before it is decided (fs_inode_stale_if_closed). */
	g_mutex_lock(&f->lock);
	/* Seen now too: the kernel sends RELEASE after close(2) has
	 * returned, so the next open may come before the last release. */
	keep = seen && saw_locked(in, &st);
	if (in == f) {
		/* The file's pages go through a counted drop before the
		 * reply, never through keep_cache = 0: the kernel's own
		 * drop at open is invisible to fs_inode_dropped_since_write,
		 * and a buffered write racing it would leave its old bytes
		 * cached for good (views-stress, 64 KiB windows). */
		if (!keep && f->own_open_gen > 0)
			f->stale = true;        /* else nothing is cached */
		keep = true;
		*stale = f->stale;
	} else {
		/* With the count, in one step: a change that sees the view
		 * closed takes it off the list (aliases.c). */
		fs_aliases_opened_locked(in);
	}
	count_open_locked(ctx, f, in);
	g_mutex_unlock(&f->lock);
	return keep;
}

bool fs_inode_stale_if_closed(FsInode *file, uint64_t *gen)
{
	bool closed;

	g_mutex_lock(&file->lock);
	closed = file->own_opens == 0;
	if (closed)
		file->stale = true;
	*gen = file->own_open_gen;
	g_mutex_unlock(&file->lock);
	return closed;
}

bool fs_inode_is_stale(FsInode *file)
{
	bool stale;

	g_mutex_lock(&file->lock);
	stale = file->stale;
	g_mutex_unlock(&file->lock);
	return stale;
}

void fs_inode_unstale(FsInode *file)
{
	g_mutex_lock(&file->lock);
	file->stale = false;
	g_mutex_unlock(&file->lock);
}

uint64_t fs_inode_drops_done(FsInode *file)
{
	return (guint)g_atomic_int_get(&file->drops_done);
}

bool fs_inode_dropped_since_write(FsInode *file, uint64_t opened_at)
{
	/* Finished first: a drop that ends between the two loads is still
	 * seen as started and not finished. */
	gint done = g_atomic_int_get(&file->drops_done);
	gint started = g_atomic_int_get(&file->page_drops);
	gint was = g_atomic_int_get(&file->drops_at_write);

	g_atomic_int_set(&file->drops_at_write, done);
	/* The counts only grow: done is past both or equal to one. */
	return started != done ||
	       (done != was && (guint)done != (guint)opened_at);
}

bool fs_inode_opened_since(FsInode *file, uint64_t gen)
{
	bool opened;

	g_mutex_lock(&file->lock);
	opened = file->own_open_gen != gen;
	g_mutex_unlock(&file->lock);
	return opened;
}

void fs_inode_opened_direct(FsContext *ctx, FsInode *file)
{
	g_mutex_lock(&file->lock);
	g_atomic_int_inc(&ctx->open_files);
	file->opens++;
	g_mutex_unlock(&file->lock);
}

/* own: an open of the file itself that may cache its pages. */
static void closed(FsContext *ctx, FsInode *in, bool own)
{
	FsInode *f = file_of(in);
	MfBacking *gone = NULL;

	g_atomic_int_add(&ctx->open_files, -1);
	g_mutex_lock(&f->lock);
	if (own)
		f->own_opens--;
	else if (in != f)
		in->view_opens--;
	/* A backing with snapshots or private views holds their stores'
	 * descriptors too (five and more), which the idle share does not
	 * count: it goes at once, or idle backings alone would take the
	 * daemon past its descriptor limit (EMFILE under ulimit -n 1024
	 * with a few hundred snapshotted files). */
	if (--f->opens == 0 && f->backing &&
	    (g_atomic_int_get(&held_backings) >
			    (gint)fs_fds_idle_backings() ||
	     mf_backing_has_hooks(f->backing))) {
		gone = g_steal_pointer(&f->backing);
		g_atomic_int_add(&held_backings, -1);
	}
	g_mutex_unlock(&f->lock);
	/* Requests still using it hold references of their own. */
	mf_backing_unref(gone);
}

void fs_inode_closed(FsContext *ctx, FsInode *in)
{
	closed(ctx, in, in == file_of(in));
}

void fs_inode_closed_direct(FsContext *ctx, FsInode *file)
{
	closed(ctx, file, false);
}

void fs_inode_proc_path(const FsInode *in, char buf[FS_PROC_PATH_MAX])
{
	snprintf(buf, FS_PROC_PATH_MAX, "/proc/self/fd/%d", fs_fd(in));
}
