/* aliases: the ro views a file's changes must drop. See aliases.h. */
#include "aliases.h"


#include "notify.h"
#include "ops.h"
#include "reply.h"

typedef struct Drop {
	fuse_ino_t ino;
	off_t off, len;         /* in the view; len 0: to its end */
} Drop;

struct FsAliasDrops {
	GArray *drops;          /* Drop */
};

bool fs_aliases_cached(const FsInode *view)
{
	return view->kind == FS_VIEW && view->spec.mode == MF_VIEW_RO &&
	       !view->spec.mapped;
}

void fs_aliases_opened_locked(FsInode *view)
{
	FsInode *f = view->base;

	if (!g_slist_find(f->cached_views, view))
		f->cached_views = g_slist_prepend(f->cached_views, view);
}

void fs_aliases_forget(FsInode *view)
{
	FsInode *f = view->base;

	if (!fs_aliases_cached(view))
		return;
	g_mutex_lock(&f->lock);
	f->cached_views = g_slist_remove(f->cached_views, view);
	g_mutex_unlock(&f->lock);
}

/* The part of the file's [off, end) that view s shows, in view offsets.
 * end is UINT64_MAX for "to the end of the file". */
static bool overlap(const MfViewSpec *s, uint64_t off, uint64_t end, Drop *d)
{
	uint64_t vend = s->len > UINT64_MAX - s->off ? UINT64_MAX
						      : s->off + s->len;
	uint64_t lo = MAX(off, s->off), hi = MIN(end, vend);

	if (lo >= hi || lo - s->off > INT64_MAX)
		return false;
	d->off = (off_t)(lo - s->off);
	d->len = hi == UINT64_MAX || hi - lo > INT64_MAX ? 0 : (off_t)(hi - lo);
	return true;
}

FsAliasDrops *fs_aliases_changed(FsInode *file, uint64_t off, uint64_t len)
{
	uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	GArray *drops = NULL;
	GSList *l, *next;

	if (len == 0)
		return NULL;
	g_mutex_lock(&file->lock);
	for (l = file->cached_views; l; l = next) {
		FsInode *v = l->data;
		Drop d = { .ino = (fuse_ino_t)(uintptr_t)v };

		next = l->next;
		if (v->view_opens == 0) {
			/* Closed: drop all of it, and it caches nothing
			 * until it is opened again. */
			file->cached_views =
				g_slist_delete_link(file->cached_views, l);
		} else if (!overlap(&v->spec, off, end, &d)) {
			continue;
		}
		if (!drops)
			drops = g_array_new(FALSE, FALSE, sizeof(Drop));
		g_array_append_val(drops, d);
	}
	g_mutex_unlock(&file->lock);
	if (!drops)
		return NULL;
	FsAliasDrops *r = g_new(FsAliasDrops, 1);

	r->drops = drops;
	return r;
}

void fs_aliases_drop(FsAliasDrops *drops)
{
	if (!drops)
		return;
	/* A view forgotten since holds nothing: the kernel says ENOENT. */
	for (guint i = 0; i < drops->drops->len; i++) {
		Drop *d = &g_array_index(drops->drops, Drop, i);

		fs_notify_inval(d->ino, d->off, d->len);
	}
	g_array_free(drops->drops, TRUE);
	g_free(drops);
}

/* A reply waiting for its drops. */
typedef enum ReplyKind { R_WRITE, R_ERR, R_ATTR, R_OPEN, R_CREATE } ReplyKind;

typedef struct Deferred {
	fuse_req_t req;
	FsAliasDrops *drops;
	ReplyKind kind;
	size_t count;                   /* R_WRITE */
	int err;                        /* R_ERR */
	struct stat st;                 /* R_ATTR */
	double timeout;                 /* R_ATTR */
	FsInode *in;                    /* R_OPEN, R_CREATE */
	bool stale;                     /* R_OPEN, R_CREATE: drop in's pages */
	struct fuse_file_info fi;       /* R_OPEN, R_CREATE */
	struct fuse_entry_param e;      /* R_CREATE */
} Deferred;

/* The open the caller gave up on is counted as closed again. */
static void closed(FsContext *ctx, Deferred *d)
{
	if (d->fi.fh & FS_FH_DIRECT)
		fs_inode_closed_direct(ctx, d->in);
	else
		fs_inode_closed(ctx, d->in);
}

static void reply(Deferred *d)
{
	FsContext *ctx = ctx_of(d->req);

	switch (d->kind) {
	case R_WRITE:
		fuse_reply_write(d->req, d->count);
		break;
	case R_ERR:
		fuse_reply_err(d->req, d->err);
		break;
	case R_ATTR:
		fuse_reply_attr(d->req, &d->st, d->timeout);
		break;
	case R_OPEN:
		if (fuse_reply_open(d->req, &d->fi) == -ENOENT)
			closed(ctx, d);
		break;
	case R_CREATE:
		if (fuse_reply_create(d->req, &d->e, &d->fi) == -ENOENT) {
			closed(ctx, d);
			fs_inode_forget(ctx->inodes, d->in, 1);
		}
		break;
	}
}

static void deferred_job(void *arg)
{
	Deferred *d = arg;

	/* Only the first open after the file went stale finds pages to
	 * drop; the opens queued behind it find it fresh. Dirty pages of a
	 * map are written back first (fs_notify_inval). */
	if (d->stale && fs_inode_is_stale(d->in)) {
		fs_notify_drop_file(d->in, 0, 0);
		fs_inode_unstale(d->in);
	}
	/* Writes through this open come after that drop: not raced by it. */
	if (d->stale)
		d->fi.fh = (d->fi.fh & FS_FH_DIRECT) |
			   fs_inode_drops_done(d->in);
	fs_aliases_drop(d->drops);
	reply(d);
	g_free(d);
}

/* Reply now, or after the drops: on the files lane if the file's own
 * pages go, else on the aliases lane. */
static void finish(Deferred *d)
{
	if (!d->drops && !d->stale) {
		reply(d);
		return;
	}
	Deferred *j = g_new(Deferred, 1);

	*j = *d;
	if (d->stale)
		fs_notify_run(deferred_job, j);
	else
		fs_notify_run_alias(deferred_job, j);
}

void fs_aliases_reply_write(fuse_req_t req, FsAliasDrops *drops,
			    size_t count)
{
	finish(&(Deferred){ .req = req, .drops = drops, .kind = R_WRITE,
			    .count = count });
}

void fs_aliases_reply_err(fuse_req_t req, FsAliasDrops *drops, int err,
			  const char *op, const char *what)
{
	fs_log_err(err, op, what);
	finish(&(Deferred){ .req = req, .drops = drops, .kind = R_ERR,
			    .err = err });
}

void fs_aliases_reply_attr(fuse_req_t req, FsAliasDrops *drops,
			   const struct stat *st, double timeout)
{
	finish(&(Deferred){ .req = req, .drops = drops, .kind = R_ATTR,
			    .st = *st, .timeout = timeout });
}

void fs_aliases_reply_open(fuse_req_t req, FsAliasDrops *drops, FsInode *in,
			   const struct fuse_file_info *fi, bool stale)
{
	finish(&(Deferred){ .req = req, .drops = drops, .kind = R_OPEN,
			    .in = in, .fi = *fi, .stale = stale });
}

void fs_aliases_reply_create(fuse_req_t req, FsAliasDrops *drops,
			     FsInode *in, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, bool stale)
{
	finish(&(Deferred){ .req = req, .drops = drops, .kind = R_CREATE,
			    .in = in, .fi = *fi, .e = *e, .stale = stale });
}
