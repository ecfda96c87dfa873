/* shm: the .shm directory of named shared memory. See shm.h.
 *
 * An object is a memfd: in memory, never in BACKING, gone with the
 * daemon however it ends. Its pages are committed on first touch, so an
 * ftruncate reserves and a store commits, as SEC_RESERVE/SEC_COMMIT.
 * The cap (shm_size) counts what the memfds hold (st_blocks), and every
 * write and fallocate that could pass it is checked first.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "aliases.h"
#include "log.h"
#include "mf-backing.h"
#include "mf-state-sweep.h"
#include "mf-store.h"
#include "notify.h"
#include "ops.h"
#include "reply.h"
#include "rollback.h"
#include "views.h"

struct FsShmObj {
	gint refs;              /* the name's while named, and its inode's */
	int fd;                 /* the memfd */
	uint64_t ino;           /* FS_SHM_INO_BASE | serial; set once named */
	gint linked;            /* named in .shm (atomic) */
	FsShm *shm;
};

struct FsShm {
	GMutex lock;
	GHashTable *names;      /* name -> FsShmObj*, one reference each; lock */
	GHashTable *live;       /* every FsShmObj not yet freed; lock */
	uint64_t next;          /* serials; lock */
	uint64_t cap;           /* constant */
	MfStateDir *states;     /* constant */
	struct timespec mtime;  /* of the directory; lock */
};

FsShm *fs_shm_new(uint64_t cap, MfStateDir *states)
{
	FsShm *shm = g_new0(FsShm, 1);

	g_mutex_init(&shm->lock);
	shm->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   NULL);
	shm->live = g_hash_table_new(NULL, NULL);
	shm->cap = cap;
	shm->states = states;
	clock_gettime(CLOCK_REALTIME, &shm->mtime);
	return shm;
}

void fs_shm_free(FsShm *shm)
{
	GList *named;

	if (!shm)
		return;
	g_mutex_lock(&shm->lock);
	named = g_hash_table_get_values(shm->names);
	g_hash_table_remove_all(shm->names);
	for (GList *l = named; l; l = l->next)
		g_atomic_int_set(&((FsShmObj *)l->data)->linked, 0);
	g_mutex_unlock(&shm->lock);
	/* Objects an inode still held went with the inode table. */
	g_list_free_full(named, (GDestroyNotify)fs_shm_obj_unref);
	g_hash_table_destroy(shm->names);
	g_hash_table_destroy(shm->live);
	g_mutex_clear(&shm->lock);
	g_free(shm);
}

uint64_t fs_shm_default_cap(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return UINT64_C(1) << 30;
	return (uint64_t)pages * (uint64_t)size / 2;
}

void fs_shm_obj_ref(FsShmObj *obj)
{
	g_atomic_int_inc(&obj->refs);
}

void fs_shm_obj_unref(FsShmObj *obj)
{
	if (!obj || !g_atomic_int_dec_and_test(&obj->refs))
		return;
	g_mutex_lock(&obj->shm->lock);
	g_hash_table_remove(obj->shm->live, obj);
	g_mutex_unlock(&obj->shm->lock);
	/* The inode's backing and windows held the memory until now. */
	close(obj->fd);
	/* Its snapshots and private views, unreachable now: no inode of
	 * its views is left to use them. */
	if (obj->ino)
		mf_statedir_sweep(obj->shm->states, obj->ino, obj->ino);
	g_free(obj);
}

static int charge_entry(FsContext *ctx, FsInode *dir, const char *name);

/* The object named name, with a reference; NULL if none. */
static FsShmObj *find(FsShm *shm, const char *name)
{
	FsShmObj *obj;

	g_mutex_lock(&shm->lock);
	obj = g_hash_table_lookup(shm->names, name);
	if (obj)
		fs_shm_obj_ref(obj);
	g_mutex_unlock(&shm->lock);
	return obj;
}

/* lock held */
static void touch_dir_locked(FsShm *shm)
{
	clock_gettime(CLOCK_REALTIME, &shm->mtime);
}

/* 0, or the errno a bad object name gets (logged). The kernel never
 * sends "." or "..", nor a name with '/'; it does send names up to 1024
 * bytes. A name ending in "@@" is the view directory of another. */
static int check_name(const char *name, const char *op)
{
	size_t n = strlen(name);
	int err = 0;

	if (n > NAME_MAX)
		err = ENAMETOOLONG;
	else if (n == 0 || strchr(name, '/') || !strcmp(name, ".") ||
		 !strcmp(name, "..") || fs_views_is_dir_name(name))
		err = EINVAL;
	if (err)
		fs_log(LOG_NOTICE, "%s .shm/%.64s%s: bad name: at most %d bytes, "
		       "no '/', not . or .., not ending in @@", op, name,
		       n > 64 ? "..." : "", NAME_MAX);
	return err;
}

/* ------------------------------------------------------------------ */
/* Attributes and entries                                              */

void fs_shm_fix_stat(const FsInode *in, struct stat *st)
{
	st->st_ino = (ino_t)in->ino;
	st->st_nlink = g_atomic_int_get(&in->shm->linked) ? 1 : 0;
}

/* The inode of obj with one lookup, and its attributes. */
static int obj_entry(FsContext *ctx, FsShmObj *obj, FsInode **in,
		     struct stat *st)
{
	int r;

	if (fstat(obj->fd, st) < 0)
		return -errno;
	r = fs_inode_memfd(ctx->inodes, obj->fd, st->st_dev, obj->ino, obj, in);
	if (r == 0)
		fs_shm_fix_stat(*in, st);
	return r;
}

/* The directory: the mount root's owner, sticky and open to all, as
 * /dev/shm is; its times move when names come and go. */
static int dir_stat(FsContext *ctx, FsInode *dir, struct stat *st)
{
	if (fstat(ctx->root_fd, st) < 0)
		return -errno;
	st->st_ino = dir->vino;
	st->st_mode = S_IFDIR | 01777;
	st->st_nlink = 2;
	st->st_size = 0;
	st->st_blocks = 0;
	g_mutex_lock(&ctx->shm->lock);
	st->st_mtim = st->st_ctim = ctx->shm->mtime;
	g_mutex_unlock(&ctx->shm->lock);
	return 0;
}

bool fs_shm_is_dir_name(FsContext *ctx, FsInode *parent, const char *name)
{
	return parent == fs_inode_get(ctx->inodes, FUSE_ROOT_ID) &&
	       strcmp(name, FS_SHM_DIR_NAME) == 0;
}

void fs_shm_lookup_dir(fuse_req_t req)
{
	FsContext *ctx = ctx_of(req);
	FsInode *root = fs_inode_get(ctx->inodes, FUSE_ROOT_ID);
	FsInode *dir = fs_inode_view(ctx->inodes, root, FS_SHMDIR, NULL, NULL);
	struct stat st;
	int r = dir_stat(ctx, dir, &st);

	if (r < 0) {
		fs_inode_forget(ctx->inodes, dir, 1);
		return fs_reply_err(req, -r, "lookup", FS_SHM_DIR_NAME);
	}
	fs_reply_entry(req, dir, &st, ctx->timeout);
}

void fs_shm_getattr(fuse_req_t req, FsInode *dir)
{
	struct stat st;
	int r = dir_stat(ctx_of(req), dir, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "getattr", FS_SHM_DIR_NAME);
	fuse_reply_attr(req, &st, ctx_of(req)->timeout);
}

/* NAME@@: the view directory of object NAME, as for a file. */
static void lookup_views(fuse_req_t req, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *file = g_strndup(name, strlen(name) - 2);
	FsShmObj *obj = find(ctx->shm, file);
	FsInode *base;
	struct stat st;
	int r;

	if (!obj)
		return fs_reply_err(req, ENOENT, "lookup .shm", name);
	r = obj_entry(ctx, obj, &base, &st);
	fs_shm_obj_unref(obj);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup .shm", name);
	/* No path: nothing removed from it keeps snapshots (orphans.h). */
	fs_views_reply_dir(req, base, NULL);
	fs_inode_forget(ctx->inodes, base, 1);  /* the view dir holds it */
}

void fs_shm_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	FsShmObj *obj;
	FsInode *in;
	struct stat st;
	int r;

	(void)dir;
	/* NAME@@ of a NAME of NAME_MAX bytes is two bytes more, as for
	 * files. */
	if (strlen(name) > NAME_MAX + (fs_views_is_dir_name(name) ? 2 : 0))
		return fs_reply_err(req, ENAMETOOLONG, "lookup .shm", NULL);
	if (fs_views_is_dir_name(name))
		return lookup_views(req, name);
	obj = find(ctx->shm, name);
	if (!obj)
		return fs_reply_err(req, ENOENT, "lookup .shm", name);
	r = obj_entry(ctx, obj, &in, &st);
	fs_shm_obj_unref(obj);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup .shm", name);
	fs_reply_entry(req, in, &st, ctx->timeout);
}

/* ------------------------------------------------------------------ */
/* Making and removing names                                           */

/* A new memfd with the caller's mode (less its umask) and ownership, as
 * the kernel would make a file. Returns the fd or -errno. */
static int new_memfd(fuse_req_t req, mode_t mode)
{
	const struct fuse_ctx *caller = fuse_req_ctx(req);
	int fd = memfd_create("mapfs-shm", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ctx_of(req)->apply_umask)
		mode &= ~caller->umask;
	if (fchmod(fd, mode & 07777) < 0 ||
	    (geteuid() == 0 && (caller->uid != 0 || caller->gid != 0) &&
	     fchown(fd, caller->uid, caller->gid) < 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The object name, made with mode if it does not exist (*made then);
 * EEXIST if it does and excl. A reference in *ret. Returns 0 or -errno. */
static int obtain(fuse_req_t req, const char *name, mode_t mode, bool excl,
		  FsShmObj **ret, bool *made)
{
	FsShm *shm = ctx_of(req)->shm;
	FsShmObj *obj = find(shm, name), *had;
	int fd;

	*made = false;
	if (obj && excl) {
		fs_shm_obj_unref(obj);
		return -EEXIST;
	}
	if (obj) {
		*ret = obj;
		return 0;
	}
	fd = new_memfd(req, mode);
	if (fd < 0)
		return fd;
	obj = g_new0(FsShmObj, 1);
	obj->refs = 2;          /* ours and the name's */
	obj->fd = fd;
	obj->shm = shm;
	g_mutex_lock(&shm->lock);
	had = g_hash_table_lookup(shm->names, name);
	if (had) {              /* made by another request meanwhile */
		if (!excl)
			fs_shm_obj_ref(had);
	} else {
		obj->ino = FS_SHM_INO_BASE | ++shm->next;
		obj->linked = 1;
		g_hash_table_insert(shm->names, g_strdup(name), obj);
		g_hash_table_add(shm->live, obj);
		touch_dir_locked(shm);
	}
	g_mutex_unlock(&shm->lock);
	if (had) {
		close(fd);
		g_free(obj);
		if (excl)
			return -EEXIST;
		obj = had;
	} else {
		*made = true;
	}
	*ret = obj;
	return 0;
}

void fs_shm_create(fuse_req_t req, FsInode *dir, const char *name,
		   mode_t mode, struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	struct fuse_entry_param e;
	FsAliasDrops *drops = NULL;
	FsShmObj *obj;
	FsInode *in;
	MfBacking *b;
	bool made, stale;
	int r = check_name(name, "create");

	(void)dir;
	if (r)
		return fuse_reply_err(req, r), (void)0;
	r = obtain(req, name, mode, fi->flags & O_EXCL, &obj, &made);
	if (r < 0)
		return fs_reply_err(req, -r, "create .shm", name);
	memset(&e, 0, sizeof(e));
	r = obj_entry(ctx, obj, &in, &e.attr);
	fs_shm_obj_unref(obj);
	if (r < 0)
		return fs_reply_err(req, -r, "create .shm", name);
	if (!made && (fi->flags & O_TRUNC)) {
		r = fs_inode_backing_rw(ctx, in, &b);
		if (r == 0) {
			r = mf_backing_truncate(b, 0);
			mf_backing_unref(b);
		}
		if (r == 0 && fstat(fs_fd(in), &e.attr) < 0)
			r = -errno;
		if (r < 0) {
			fs_inode_forget(ctx->inodes, in, 1);
			return fs_reply_err(req, -r, "create .shm", name);
		}
		fs_shm_fix_stat(in, &e.attr);
		drops = fs_aliases_changed(in, 0, FS_ALIASES_TO_END);
	}
	e.ino = (uintptr_t)in;
	e.attr_timeout = ctx->timeout;
	e.entry_timeout = ctx->timeout;
	fi->keep_cache = fs_inode_opened_cached(ctx, in, &e.attr, &stale);
	fi->fh = fs_inode_drops_done(in);
	fs_aliases_reply_create(req, drops, in, &e, fi, stale);
}

void fs_shm_mknod(fuse_req_t req, FsInode *dir, const char *name,
		  mode_t mode)
{
	FsContext *ctx = ctx_of(req);
	FsShmObj *obj;
	FsInode *in;
	struct stat st;
	bool made;
	int r = check_name(name, "mknod");

	(void)dir;
	if (r)
		return fuse_reply_err(req, r), (void)0;
	if (!S_ISREG(mode)) {
		fs_log(LOG_NOTICE, "mknod .shm/%s: .shm holds only shared "
		       "memory objects (regular files)", name);
		return fuse_reply_err(req, EPERM), (void)0;
	}
	r = obtain(req, name, mode, true, &obj, &made);
	if (r < 0)
		return fs_reply_err(req, -r, "mknod .shm", name);
	r = obj_entry(ctx, obj, &in, &st);
	fs_shm_obj_unref(obj);
	if (r < 0)
		return fs_reply_err(req, -r, "mknod .shm", name);
	fs_reply_entry(req, in, &st, ctx->timeout);
}

typedef struct ViewsJob {
	fuse_ino_t dir;
	char *name;             /* NAME@@ */
} ViewsJob;

static void forget_views_job(void *arg)
{
	ViewsJob *j = arg;

	fs_notify_inval_entry(j->dir, j->name);
	g_free(j->name);
	g_free(j);
}

static void forget_views(FsInode *dir, const char *name)
{
	ViewsJob *j = g_new(ViewsJob, 1);

	j->dir = (fuse_ino_t)(uintptr_t)dir;
	j->name = g_strconcat(name, "@@", NULL);
	fs_notify_run(forget_views_job, j);
}

void fs_shm_unlink(fuse_req_t req, FsInode *dir, const char *name)
{
	FsShm *shm = ctx_of(req)->shm;
	gpointer key = NULL, value = NULL;

	g_mutex_lock(&shm->lock);
	if (g_hash_table_steal_extended(shm->names, name, &key, &value)) {
		g_atomic_int_set(&((FsShmObj *)value)->linked, 0);
		touch_dir_locked(shm);
	}
	g_mutex_unlock(&shm->lock);
	if (!value) {
		bool views = false;

		if (fs_views_is_dir_name(name)) {
			g_autofree char *file = g_strndup(name, strlen(name) - 2);
			FsShmObj *obj = find(shm, file);

			views = obj != NULL;
			fs_shm_obj_unref(obj);
		}
		if (views)
			fs_log(LOG_NOTICE, "unlink .shm/%s: view directories "
			       "cannot be removed", name);
		return fs_reply_err(req, views ? EPERM : ENOENT, "unlink .shm",
				    name);
	}
	g_free(key);
	/* The memory stays while an inode (an open, a mapping) holds it. */
	fs_shm_obj_unref(value);
	fuse_reply_err(req, 0);
	/* So do its views, while the kernel keeps their entries: let go of
	 * NAME@@, so that unused ones are forgotten now. After the reply:
	 * the kernel holds .shm locked until then. */
	forget_views(dir, name);
}

void fs_shm_rename(fuse_req_t req, FsInode *from, const char *name,
		   FsInode *to, const char *newname, unsigned flags)
{
	FsShm *shm = ctx_of(req)->shm;
	FsShmObj *src, *dst, *gone = NULL;
	FsInode *other;
	gpointer key;
	int err = 0;

	if (from->kind == FS_COWDIR && to->kind == FS_SHMDIR) {
		FsShmObj *obj = find(shm, newname);
		bool own = obj && from->base->shm == obj;

		fs_shm_obj_unref(obj);
		/* mv .shm/X@@/cow/NAME .shm/X: commit, as for a file. */
		if (own && (err = charge_entry(ctx_of(req), from, name)) < 0)
			return fs_reply_err(req, -err, "rename", name);
		if (own)
			return fs_views_commit(req, from, name, to, newname);
	}
	if (from->kind == FS_SNAPDIR && to->kind == FS_SHMDIR) {
		FsShmObj *obj = find(shm, newname);
		bool own = obj && from->base->shm == obj;

		fs_shm_obj_unref(obj);
		/* mv .shm/X@@/snap/NAME .shm/X: roll back, as for a file. */
		if (own && (err = charge_entry(ctx_of(req), from, name)) < 0)
			return fs_reply_err(req, -err, "rename", name);
		if (own)
			return fs_rollback_rename(req, from, name, to, newname);
		fs_log(LOG_NOTICE, "rename %s: a snapshot rolls back only onto "
		       "its own object (mv .shm/X@@/snap/NAME .shm/X); cp -p "
		       "copies it anywhere", name);
		return fuse_reply_err(req, EINVAL), (void)0;
	}
	/* Views in or out: refused as views.c refuses them for files. */
	other = from->kind == FS_SHMDIR ? to : from;
	if (other->kind != FS_SHMDIR && other->kind != FS_REAL)
		return fs_views_rename(req, from, name, to, newname);
	if (from != to) {
		fs_log(LOG_NOTICE, "rename %s: .shm objects stay in .shm, and "
		       "nothing else enters it", name);
		return fuse_reply_err(req, EXDEV), (void)0;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return fs_reply_err(req, EINVAL, "rename .shm", name);
	err = check_name(newname, "rename");
	if (err)
		return fuse_reply_err(req, err), (void)0;
	g_mutex_lock(&shm->lock);
	src = g_hash_table_lookup(shm->names, name);
	dst = g_hash_table_lookup(shm->names, newname);
	if (!src || ((flags & RENAME_EXCHANGE) && !dst))
		err = ENOENT;
	else if ((flags & RENAME_NOREPLACE) && dst)
		err = EEXIST;
	else if (src == dst)
		;       /* the same object: nothing to do, as rename(2) */
	else if (flags & RENAME_EXCHANGE) {
		g_hash_table_insert(shm->names, g_strdup(name), dst);
		g_hash_table_insert(shm->names, g_strdup(newname), src);
	} else {
		g_hash_table_steal_extended(shm->names, name, &key, NULL);
		g_free(key);
		if (dst) {
			g_atomic_int_set(&dst->linked, 0);
			gone = dst;
		}
		g_hash_table_insert(shm->names, g_strdup(newname), src);
	}
	if (!err)
		touch_dir_locked(shm);
	g_mutex_unlock(&shm->lock);
	fs_shm_obj_unref(gone);
	if (err)
		return fs_reply_err(req, err, "rename .shm", name);
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */
/* Listing                                                             */

typedef struct Listed {
	char *name;
	uint64_t ino;
} Listed;

static gint by_ino(gconstpointer a, gconstpointer b)
{
	const Listed *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Offsets: "." 1, ".." 2, then each object its serial + 2, which stays
 * its place in the listing however names come and go meanwhile. */
void fs_shm_readdir(fuse_req_t req, FsInode *dir, size_t size, off_t off,
		    bool plus)
{
	FsShm *shm = ctx_of(req)->shm;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(Listed));
	char *buf = g_malloc(size), *p = buf;
	size_t left = size;
	GHashTableIter it;
	gpointer name, value;

	g_mutex_lock(&shm->lock);
	g_hash_table_iter_init(&it, shm->names);
	while (g_hash_table_iter_next(&it, &name, &value)) {
		Listed l = { g_strdup(name), ((FsShmObj *)value)->ino };

		if ((off_t)((l.ino & ~FS_SHM_INO_BASE) + 2) > off)
			g_array_append_val(all, l);
		else
			g_free(l.name);
	}
	g_mutex_unlock(&shm->lock);
	g_array_sort(all, by_ino);
	for (guint i = 0; i < all->len + 2; i++) {
		/* Plus entries without a node, as views.c lists them. */
		struct fuse_entry_param e = { .ino = 0 };
		Listed *l = i >= 2 ? &g_array_index(all, Listed, i - 2) : NULL;
		const char *n = i == 0 ? "." : i == 1 ? ".." : l->name;
		off_t next = l ? (off_t)((l->ino & ~FS_SHM_INO_BASE) + 2)
			       : (off_t)i + 1;
		size_t len;

		if (!l && (off_t)i < off)
			continue;
		e.attr.st_ino = l ? l->ino : dir->vino;
		e.attr.st_mode = l ? S_IFREG : S_IFDIR;
		len = plus ? fuse_add_direntry_plus(req, p, left, n, &e, next)
			   : fuse_add_direntry(req, p, left, n, &e.attr, next);
		if (len > left)
			break;
		p += len;
		left -= len;
	}
	for (guint i = 0; i < all->len; i++)
		g_free(g_array_index(all, Listed, i).name);
	fuse_reply_buf(req, buf, (size_t)(p - buf));
	g_free(buf);
}

/* ------------------------------------------------------------------ */
/* The cap                                                             */

/* Bytes all objects commit now (what their memfds hold). lock held. */
static uint64_t committed_locked(FsShm *shm, unsigned *count)
{
	GHashTableIter it;
	FsShmObj *obj;
	uint64_t sum = 0;
	struct stat st;

	g_hash_table_iter_init(&it, shm->live);
	while (g_hash_table_iter_next(&it, (gpointer *)&obj, NULL))
		if (fstat(obj->fd, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	if (count)
		*count = g_hash_table_size(shm->live);
	return sum;
}

/* Bytes of the pages of [off, off+len) that fd holds no memory for. */
static uint64_t uncommitted(int fd, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t pos = off / page * page, end = off + len, fresh = 0;

	end = (end + page - 1) / page * page;
	while (pos < end) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0 || (uint64_t)data >= end)
			return fresh + (end - pos);     /* ENXIO: holes on */
		fresh += (uint64_t)data - pos;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return fresh;
		pos = (uint64_t)hole;
	}
	return fresh;
}

/* What all objects commit now. */
static uint64_t committed_now(FsShm *shm)
{
	uint64_t used;

	g_mutex_lock(&shm->lock);
	used = committed_locked(shm, NULL);
	g_mutex_unlock(&shm->lock);
	return used;
}

/* 0 if fresh more bytes fit under the cap, else -ENOSPC, logged. */
static int fits(FsShm *shm, uint64_t used, uint64_t fresh, const char *what)
{
	if (used + fresh <= shm->cap)
		return 0;
	fs_log(LOG_NOTICE, "%s: %" PRIu64 " bytes more would pass "
	       "shm_size=%" PRIu64 " (%" PRIu64 " committed)", what, fresh,
	       shm->cap, used);
	return -ENOSPC;
}

int fs_shm_charge(FsContext *ctx, FsInode *in, uint64_t off, uint64_t len)
{
	FsShm *shm = ctx->shm;
	uint64_t used;

	if (!in->shm || len == 0)
		return 0;
	used = committed_now(shm);
	/* Most writes fit even if every byte were new: no page walk. */
	if (used + len <= shm->cap)
		return 0;
	return fits(shm, used, uncommitted(in->shm->fd, off, len),
		    "write to a .shm object");
}

/* Committing private view name of dir's object (dir: its cow/), or
 * rolling it back to snapshot name (dir: its snap/), writes at most the
 * pages the entry holds into the object: counted as if every one were
 * new. */
static int charge_entry(FsContext *ctx, FsInode *dir, const char *name)
{
	bool snap = dir->kind == FS_SNAPDIR;
	MfEntryInfo info;
	MfState *st;
	int r = fs_views_state(ctx, dir, false, &st);

	if (r < 0)
		return 0;       /* the commit or rollback says what is wrong */
	r = snap ? mf_state_snap_info(st, name, &info)
		 : mf_state_cow_info(st, name, &info);
	mf_state_unref(st);
	if (r < 0)
		return 0;
	return fits(ctx->shm, committed_now(ctx->shm), info.pages * MF_PAGE,
		    snap ? "roll back a .shm object"
			 : "commit into a .shm object");
}

char *fs_shm_stats_text(FsContext *ctx)
{
	FsShm *shm = ctx->shm;
	unsigned count;
	uint64_t used;

	g_mutex_lock(&shm->lock);
	used = committed_locked(shm, &count);
	g_mutex_unlock(&shm->lock);
	return g_strdup_printf("shm_objects=%u\nshm_committed=%" PRIu64
			       "\nshm_size=%" PRIu64 "\n",
			       count, used, shm->cap);
}

char *fs_shm_path(FsContext *ctx, const FsShmObj *obj)
{
	FsShm *shm = ctx->shm;
	GHashTableIter it;
	gpointer name, value;
	char *path = NULL;

	g_mutex_lock(&shm->lock);
	g_hash_table_iter_init(&it, shm->names);
	while (!path && g_hash_table_iter_next(&it, &name, &value))
		if (value == obj)
			path = g_strdup_printf("%s/" FS_SHM_DIR_NAME "/%s",
					       ctx->mountpoint, (char *)name);
	g_mutex_unlock(&shm->lock);
	return path ? path : g_strdup("(removed)");
}

void fs_shm_statfs(fuse_req_t req)
{
	FsShm *shm = ctx_of(req)->shm;
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096,
			      .f_namemax = NAME_MAX };
	uint64_t used;
	unsigned count;

	g_mutex_lock(&shm->lock);
	used = committed_locked(shm, &count);
	g_mutex_unlock(&shm->lock);
	sv.f_blocks = shm->cap / sv.f_frsize;
	sv.f_bfree = sv.f_bavail =
		used < shm->cap ? (shm->cap - used) / sv.f_frsize : 0;
	sv.f_files = count;
	fuse_reply_statfs(req, &sv);
}
