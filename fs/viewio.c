/* viewio: requests on open views. Shared views (rw, ro) move bytes through
 * the file's windows; cow views and snapshots through mf-state. A change
 * through a shared view of an open file runs as a notifier job
 * (notify.h): the file's cached pages are dropped (dirty ones written back
 * first, so they cannot land over the change later), the change is made,
 * the pages are dropped again, along with the ro views' (aliases.h), and
 * only then is the request answered. A write to a file that nobody has
 * open is made in the worker instead (write_closed()).
 */
#include "views.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "aliases.h"
#include "image.h"
#include "killpriv.h"
#include "log.h"
#include "mf-view.h"
#include "notify.h"
#include "ops.h"
#include "orphans.h"
#include "reply.h"
#include "shm.h"
#include "tree.h"

/* What a write-only open of the file writes through (fs_views_write_file):
 * all of it, as F@@/rw does. */
static const MfViewSpec whole_file = { .mode = MF_VIEW_RW, .len = UINT64_MAX };

/* The view's spec; the whole file for the file itself. */
static const MfViewSpec *spec_of(const FsInode *in)
{
	return in->kind == FS_VIEW ? &in->spec : &whole_file;
}

/* The file's backing, read-write if the view writes with it: reading an
 * rw view of a file that cannot be written (chattr +i) still works. */
static int view_backing(fuse_req_t req, FsInode *in, bool writes,
			MfBacking **ret)
{
	if (writes && spec_of(in)->mode == MF_VIEW_RW)
		return fs_inode_backing_rw(ctx_of(req), file_of(in), ret);
	return fs_inode_backing(ctx_of(req), file_of(in), ret);
}

/* A change of the bytes of in's file through b, kept for tree snapshots
 * first. */
static ssize_t view_write(FsContext *ctx, FsInode *in, MfBacking *b,
			  uint64_t voff, const char *buf, size_t size)
{
	ssize_t r = fs_tree_change(ctx, file_of(in), b);

	if (r == 0) {
		r = mf_view_write(b, spec_of(in), voff, buf, size);
		fs_tree_end(ctx);
	}
	return r;
}

static int view_truncate(FsContext *ctx, FsInode *in, MfBacking *b,
			 uint64_t size)
{
	int r = fs_tree_change(ctx, in->base, b);

	if (r == 0) {
		r = mf_view_truncate(b, &in->spec, size);
		fs_tree_end(ctx);
	}
	return r;
}

/* fs_killpriv_clear() before a change through a view: a change of the
 * file's mode, kept for tree snapshots first. */
static int killpriv(fuse_req_t req, FsInode *in, MfBacking *b)
{
	int r = fs_tree_change(ctx_of(req), file_of(in), b);

	if (r == 0) {
		fs_killpriv_clear(req, in);
		fs_tree_end(ctx_of(req));
	}
	return r;
}

static fuse_ino_t file_ino(FsInode *in)
{
	return (fuse_ino_t)(uintptr_t)file_of(in);
}

static bool is_entry(const FsInode *in)
{
	return in->kind == FS_VIEW && (in->spec.mode == MF_VIEW_SNAP ||
				       in->spec.mode == MF_VIEW_COW);
}

int fs_views_pin(FsContext *ctx, FsInode *in, MfState **pinned)
{
	MfState *st;
	int r;

	if (pinned)
		*pinned = NULL;
	if (!is_entry(in))
		return 0;
	r = fs_views_state(ctx, in, false, &st);
	if (r == 0) {
		r = mf_state_entry_open(st, in->entry_id);
		if (r == 0 && pinned)
			*pinned = st;   /* alive until mf_state_entry_close() */
		mf_state_unref(st);
	}
	return r;
}

void fs_views_release(FsContext *ctx, FsInode *in)
{
	MfState *st;

	if (!is_entry(in) || fs_views_state(ctx, in, false, &st) < 0)
		return;
	/* Its last descriptor gone, an entry deleted while open goes; and
	 * the file with it, if that was the last entry of a removed one. */
	if (mf_state_entry_close(st, in->entry_id) > 0)
		fs_orphans_release(ctx, in->base);
	mf_state_unref(st);
}

/* Flags kept in fi->fh of an open view. */
#define FH_APPEND 1

void fs_views_open(fuse_req_t req, FsInode *in, struct fuse_file_info *fi)
{
	bool writes = (fi->flags & O_ACCMODE) != O_RDONLY;
	bool ro = in->spec.mode == MF_VIEW_RO || in->spec.mode == MF_VIEW_SNAP;
	MfBacking *b;
	int r;

	if (!is_entry(in) &&
	    fs_views_refuse_removed(ctx_of(req), in, "open", NULL))
		return fs_reply_err(req, ENOENT, "open", NULL);
	if (ro && (writes || (fi->flags & O_TRUNC)))
		return fs_views_refuse(req, in, "open for writing");
	if ((fi->flags & O_TRUNC) &&
	    (in->spec.window || in->spec.mode != MF_VIEW_RW))
		return fs_views_refuse(req, in, "open with O_TRUNC");
	r = view_backing(req, in, writes || (fi->flags & O_TRUNC), &b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", in->entry);
	if (fi->flags & O_TRUNC)
		r = view_truncate(ctx_of(req), in, b, 0);
	mf_backing_unref(b);
	if (r == 0)
		r = fs_views_pin(ctx_of(req), in, NULL);
	if (r < 0)
		return fs_reply_err(req, -r, "open", in->entry);
	fi->fh = fi->flags & O_APPEND ? FH_APPEND : 0;
	if (fs_aliases_cached(in)) {
		/* Cached like the file: see aliases.h. */
		fi->keep_cache = fs_inode_opened_cached(ctx_of(req), in, NULL,
							 NULL);
	} else {
		/* Served without the kernel's page cache: see views.h. */
		fi->direct_io = 1;
		fi->keep_cache = 0;
		fs_inode_opened(ctx_of(req), in);
	}
	if (fuse_reply_open(req, fi) == -ENOENT) {
		fs_views_release(ctx_of(req), in);
		fs_inode_closed(ctx_of(req), in);
	}
}

/* Clamp [voff, voff+*len) to the view's window; false if it starts past
 * the window's end. */
static bool in_window(const MfViewSpec *s, uint64_t voff, size_t *len)
{
	if (voff >= s->len)
		return false;
	*len = (size_t)MIN((uint64_t)*len, s->len - voff);
	return true;
}

/* Reads of cow views and snapshots: copied out of mf-state. */
static void read_entry(fuse_req_t req, FsInode *in, MfBacking *b,
		       size_t size, uint64_t voff)
{
	g_autofree char *buf = NULL;
	MfState *st;
	ssize_t r;

	if (!in_window(&in->spec, voff, &size))
		return (void)fuse_reply_buf(req, NULL, 0);
	r = fs_views_state(ctx_of(req), in, false, &st);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", in->entry);
	buf = g_malloc(size);
	r = mf_state_entry_read(st, b, in->entry_id,
				mf_view_file_offset(&in->spec, voff), buf,
				size);
	if (r == -EIO && mf_state_damaged(st))
		fs_log(LOG_WARNING, "snapshot %s: its file was changed outside "
		       "the mount; not served", in->entry);
	mf_state_unref(st);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", in->entry);
	fuse_reply_buf(req, buf, (size_t)r);
}

void fs_views_read(fuse_req_t req, FsInode *in, size_t size, off_t off)
{
	MfBacking *b;
	MfReadVec v;
	ssize_t r = view_backing(req, in, false, &b);

	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", in->entry);
	if (in->spec.mode == MF_VIEW_SNAP || in->spec.mode == MF_VIEW_COW) {
		read_entry(req, in, b, size, (uint64_t)off);
		mf_backing_unref(b);
		return;
	}
	if (in->spec.mapped) {
		mf_backing_unref(b);
		return fs_image_read_mapped(req, in, size, off);
	}
	r = mf_view_read(b, &in->spec, (uint64_t)off, size, &v);
	if (r < 0) {
		mf_backing_unref(b);
		return fs_reply_err(req, (int)-r, "read", NULL);
	}
	fuse_reply_iov(req, v.iov, v.niov);
	mf_read_vec_release(&v);
	mf_backing_unref(b);
}

static void write_cow(fuse_req_t req, FsInode *in, const char *buf,
		      size_t size, uint64_t voff)
{
	MfBacking *b = NULL;
	MfState *st = NULL;
	ssize_t r;

	if (voff > in->spec.len || size > in->spec.len - voff)
		return fs_reply_err(req, EFBIG, "write",
				    "past the view's window");
	r = view_backing(req, in, false, &b);
	if (r == 0)
		r = fs_views_state(ctx_of(req), in, false, &st);
	if (r == 0)
		r = mf_state_entry_write(st, b, in->entry_id,
					 mf_view_file_offset(&in->spec, voff),
					 buf, size);
	if (st)
		mf_state_unref(st);
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", in->entry);
	fuse_reply_write(req, (size_t)r);
}

/* A write through a shared view, as a notifier job. */
typedef struct WriteJob {
	fuse_req_t req;
	FsInode *in;
	MfBacking *b;
	uint64_t voff;
	bool append;
	size_t size;
	char data[];            /* the request's buffer is libfuse's */
} WriteJob;

static void reply_write_err(fuse_req_t req, FsInode *in, ssize_t r)
{
	fs_reply_err(req, (int)-r, "write",
		     r == -EFBIG	       ? "past the view's window"
		     : in->kind == FS_VIEW ? "view"
					   : NULL);
}

/* On the files lane, once r bytes were written at file offset off: drop
 * them from the file's cache and from its ro views, then reply. */
static void finish_write(fuse_req_t req, FsInode *in, uint64_t off,
			 ssize_t r)
{
	if (r > 0) {
		fs_notify_drop_file(file_of(in), (off_t)off, (off_t)r);
		fs_aliases_drop(fs_aliases_changed(file_of(in), off,
						   (uint64_t)r));
	}
	if (r < 0)
		reply_write_err(req, in, r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void write_job(void *arg)
{
	WriteJob *j = arg;
	FsInode *in = j->in;
	uint64_t size, off;
	ssize_t r = 0;

	if (j->append) {        /* where the view ends now */
		r = mf_backing_size(j->b, &size);
		j->voff = mf_view_size(spec_of(in), size);
	}
	off = mf_view_file_offset(spec_of(in), j->voff);
	fs_notify_drop_file(file_of(in), (off_t)off, (off_t)j->size);
	if (r == 0)
		r = view_write(ctx_of(j->req), in, j->b, j->voff, j->data,
			       j->size);
	finish_write(j->req, in, off, r);
	mf_backing_unref(j->b);
	g_free(j);
}

/* A write made in the worker that an open of the file raced with. */
typedef struct WrittenJob {
	fuse_req_t req;
	FsInode *in;
	uint64_t off;
	ssize_t count;
} WrittenJob;

static void written_job(void *arg)
{
	WrittenJob *j = arg;

	finish_write(j->req, j->in, j->off, j->count);
	g_free(j);
}

/* A write through a shared view while the file is not open: nothing can
 * read the kernel's pages of the file before its next open drops them
 * (fs_inode_stale_if_closed), and no mmap of it holds dirty ones. So the
 * write is made here, and only the file's attributes are dropped, which
 * takes no page lock: no trip to the notifier, unless an ro view caches
 * the bytes, or an open of the file came while the bytes changed (gen:
 * how many opens it had before). */
static void write_closed(fuse_req_t req, FsInode *in, MfBacking *b,
			 const char *buf, size_t size, uint64_t voff,
			 uint64_t gen)
{
	ssize_t r = view_write(ctx_of(req), in, b, voff, buf, size);
	uint64_t off = mf_view_file_offset(spec_of(in), voff);

	mf_backing_unref(b);
	if (r < 0)
		return reply_write_err(req, in, r);
	if (fs_inode_opened_since(file_of(in), gen)) {
		/* That open may have cached the old bytes before they
		 * changed: drop them as an open file's write would. */
		WrittenJob *j = g_new(WrittenJob, 1);

		*j = (WrittenJob){ req, in, off, r };
		return fs_notify_run(written_job, j);
	}
	/* A write-only open's own write: the kernel knows the new size. */
	if (in->kind == FS_VIEW)
		fs_notify_inval_attr(file_ino(in));
	fs_aliases_reply_write(req,
			       fs_aliases_changed(file_of(in), off,
						  (uint64_t)r),
			       (size_t)r);
}

/* A write through an rw view, or through a write-only open of the file
 * itself (in is the file then). */
static void write_shared(fuse_req_t req, FsInode *in, const char *buf,
			 size_t size, off_t off, bool append)
{
	WriteJob *j;
	MfBacking *b;
	uint64_t gen;
	int r;

	r = fs_shm_charge(ctx_of(req), file_of(in),
			  spec_of(in)->off + (uint64_t)off, size);
	if (r == 0)
		r = view_backing(req, in, true, &b);
	if (r < 0)
		return fs_reply_err(req, -r, "write", NULL);
	r = killpriv(req, in, b);
	if (r < 0) {
		mf_backing_unref(b);
		return fs_reply_err(req, -r, "write", NULL);
	}
	if (!append && fs_inode_stale_if_closed(file_of(in), &gen))
		return write_closed(req, in, b, buf, size, (uint64_t)off, gen);
	j = g_malloc(sizeof(*j) + size);
	j->req = req;
	j->in = in;     /* the kernel holds it open until we reply */
	j->b = b;
	j->voff = (uint64_t)off;
	j->append = append;
	j->size = size;
	memcpy(j->data, buf, size);
	fs_notify_run(write_job, j);
}

void fs_views_write(fuse_req_t req, FsInode *in, const char *buf,
		    size_t size, off_t off, struct fuse_file_info *fi)
{
	if (in->spec.mode == MF_VIEW_COW)
		return write_cow(req, in, buf, size, (uint64_t)off);
	if (in->spec.mode != MF_VIEW_RW)
		return fs_views_refuse(req, in, "write");
	write_shared(req, in, buf, size, off, fi->fh & FH_APPEND);
}

void fs_views_write_file(fuse_req_t req, FsInode *file, const char *buf,
			 size_t size, off_t off)
{
	write_shared(req, file, buf, size, off, false);
}

void fs_views_fsync(fuse_req_t req, FsInode *in, int datasync)
{
	MfBacking *b;
	int r = view_backing(req, in, false, &b);

	if (r == 0) {
		/* Private pages and snapshots are not the file's: flushing
		 * the view flushes the file. */
		r = in->spec.mode == MF_VIEW_RW || in->spec.mode == MF_VIEW_RO
			    ? mf_view_flush(b, &in->spec, datasync)
			    : mf_backing_flush(b, 0, 0, datasync);
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "fsync", NULL);
	fuse_reply_err(req, 0);
}

/* A view reports no holes: all of it is data. */
void fs_views_lseek(fuse_req_t req, FsInode *in, off_t off, int whence)
{
	struct stat st;
	int r = fs_views_stat(ctx_of(req), in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "lseek", NULL);
	if (off >= st.st_size)
		return fs_reply_err(req, ENXIO, "lseek", "view");
	fuse_reply_lseek(req, whence == SEEK_DATA ? off : st.st_size);
}

/* setattr on an rw view: times go to the file, size truncates it. */
typedef struct AttrJob {
	fuse_req_t req;
	FsInode *in;
	struct stat attr;
	int valid;
} AttrJob;

static void attr_job(void *arg)
{
	AttrJob *j = arg;
	FsContext *ctx = ctx_of(j->req);
	FsInode *in = j->in;
	bool resize = j->valid & FUSE_SET_ATTR_SIZE;
	off_t from = resize ? j->attr.st_size : -1;
	struct stat st;
	MfBacking *b;
	int r = 0;

	fs_notify_drop_file(in->base, from, 0);
	r = fs_tree_change(ctx, in->base, NULL);
	if (r == 0) {
		if (j->valid & ~FUSE_SET_ATTR_SIZE)
			r = fs_views_set_times(ctx, in->base, &j->attr,
					       j->valid);
		if (r == 0 && resize)
			r = fs_inode_backing_rw(ctx, in->base, &b);
		if (r == 0 && resize) {
			r = view_truncate(ctx, in, b,
					  (uint64_t)j->attr.st_size);
			mf_backing_unref(b);
		}
		fs_tree_end(ctx);
	}
	fs_notify_drop_file(in->base, from, 0);
	if (r == 0 && resize)
		fs_aliases_drop(fs_aliases_changed(in->base, (uint64_t)from,
						   FS_ALIASES_TO_END));
	if (r == 0)
		r = fs_views_stat(ctx, in, &st);
	if (r == -EPERM)
		fs_views_refuse(j->req, in, "truncate");
	else if (r < 0)
		fs_reply_err(j->req, -r, "setattr", NULL);
	else
		fuse_reply_attr(j->req, &st, 0);
	g_free(j);
}

/* Does valid set times, and only to now? That is touch(1), which also
 * makes private views and snapshots (open O_CREAT, then futimens). */
static bool times_now_only(int valid)
{
	int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;

	return (valid & times) && !(valid & ~times) &&
	       (!(valid & FUSE_SET_ATTR_ATIME) ||
		(valid & FUSE_SET_ATTR_ATIME_NOW)) &&
	       (!(valid & FUSE_SET_ATTR_MTIME) ||
		(valid & FUSE_SET_ATTR_MTIME_NOW));
}

void fs_views_setattr(fuse_req_t req, FsInode *in, struct stat *attr,
		      int valid)
{
	int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	struct stat st;
	AttrJob *j;
	int r;

	/* In a tree snapshot nothing changes, its views' times included. */
	if (fs_tree_is(in))
		return fs_views_refuse(req, in, "setattr");
	if (in->kind == FS_VIEW &&
	    (in->spec.mode == MF_VIEW_COW || in->spec.mode == MF_VIEW_SNAP) &&
	    times_now_only(valid)) {
		/* touch on a private view (whose times are its file's) or
		 * on a snapshot (when it was taken): nothing to change, and
		 * touch, which made it, must succeed. Any other time would
		 * have to change the file (a private view never does: EPERM)
		 * or the snapshot (EROFS), and is refused below. */
		r = fs_views_stat(ctx_of(req), in, &st);
		if (r < 0)
			return fs_reply_err(req, -r, "setattr", in->entry);
		return (void)fuse_reply_attr(req, &st, 0);
	}
	if (in->kind != FS_VIEW || in->spec.mode != MF_VIEW_RW ||
	    (valid & ~(FUSE_SET_ATTR_SIZE | times)))
		return fs_views_refuse(req, in, "setattr");
	if (fs_views_refuse_removed(ctx_of(req), in, "setattr", NULL))
		return fs_reply_err(req, ENOENT, "setattr", NULL);
	if ((valid & FUSE_SET_ATTR_SIZE) && (r = killpriv(req, in, NULL)) < 0)
		return fs_reply_err(req, -r, "truncate", NULL);
	j = g_new0(AttrJob, 1);
	j->req = req;
	j->in = in;
	j->attr = *attr;
	j->valid = valid;
	fs_notify_run(attr_job, j);
}

/* mv F@@/cow/NAME F: write the private pages into F, then drop the
 * kernel's entries, which still think a view took F's name. */
typedef struct CommitJob {
	fuse_req_t req;
	FsInode *cowdir, *target_dir;
	char *name, *target;
} CommitJob;

static void commit_job(void *arg)
{
	CommitJob *j = arg;
	FsContext *ctx = ctx_of(j->req);
	FsInode *base = j->cowdir->base;
	MfBacking *b = NULL;
	MfState *st = NULL;
	int r;

	fs_notify_drop_file(base, 0, 0);
	r = fs_inode_backing_rw(ctx, base, &b);
	if (r == 0)
		r = fs_views_state(ctx, j->cowdir, false, &st);
	if (r == 0 && (r = fs_tree_change(ctx, base, b)) == 0) {
		r = mf_state_cow_commit(st, b, j->name);
		fs_tree_end(ctx);
	}
	if (st)
		mf_state_unref(st);
	mf_backing_unref(b);
	fs_notify_drop_file(base, 0, 0);
	if (r == 0)
		fs_aliases_drop(fs_aliases_changed(base, 0, FS_ALIASES_TO_END));
	if (r < 0) {
		fs_reply_err(j->req, -r, "commit", j->name);
	} else {
		fs_log(LOG_INFO, "private view %s committed", j->name);
		fuse_reply_err(j->req, 0);
		/* After the reply: the rename holds both directories. */
		fs_notify_inval_entry((fuse_ino_t)(uintptr_t)j->target_dir,
				      j->target);
		fs_notify_inval_entry((fuse_ino_t)(uintptr_t)j->cowdir,
				      j->name);
	}
	fs_inode_unref(ctx->inodes, j->cowdir);
	fs_inode_unref(ctx->inodes, j->target_dir);
	g_free(j->name);
	g_free(j->target);
	g_free(j);
}

void fs_views_commit(fuse_req_t req, FsInode *cowdir, const char *name,
		     FsInode *target_dir, const char *target)
{
	FsContext *ctx = ctx_of(req);
	CommitJob *j = g_new0(CommitJob, 1);

	j->req = req;
	j->cowdir = fs_inode_hold(ctx->inodes, cowdir);
	j->target_dir = fs_inode_hold(ctx->inodes, target_dir);
	j->name = g_strdup(name);
	j->target = g_strdup(target);
	fs_notify_run(commit_job, j);
}
