/* views: the @@ namespace and requests on view inodes. See views.h. */
#include "views.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mf-view.h"
#include "notify.h"
#include "reply.h"

#define VIEWDIR_SUFFIX "@@"

static FsContext *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

bool fs_views_is_dir_name(const char *name)
{
	size_t n = strlen(name);

	return n > 2 && strcmp(name + n - 2, VIEWDIR_SUFFIX) == 0;
}

/* Attributes of a view or view directory: the file's, with the view's
 * own inode number, size and mode. */
static int view_stat(FsInode *in, struct stat *st)
{
	if (fstatat(in->base->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) <
	    0)
		return -errno;
	st->st_ino = in->vino;
	if (in->kind == FS_VIEWDIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 0;
		st->st_blocks = 0;
		return 0;
	}
	st->st_nlink = 1;
	st->st_size = (off_t)mf_view_size(&in->spec, (uint64_t)st->st_size);
	st->st_blocks = MIN(st->st_blocks, (st->st_size + 511) / 512);
	if (in->spec.mode == MF_VIEW_RO)
		st->st_mode &= ~(mode_t)0222;
	return 0;
}

static void reply_view_entry(fuse_req_t req, FsInode *in)
{
	FsContext *ctx = ctx_of(req);
	struct stat st;
	int r = view_stat(in, &st);

	if (r < 0) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, -r, "lookup", NULL);
	}
	/* No attribute caching: a view's size follows the file's. */
	fs_reply_entry(req, in, &st, 0);
}

void fs_views_lookup_dir(fuse_req_t req, FsInode *parent, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *file = g_strndup(name, strlen(name) - 2);
	FsInode *base, *dir;
	struct stat st;
	int r = fs_inode_find(ctx->inodes, parent, file, &st, &base);

	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	if (base->kind != FS_REAL || !S_ISREG(st.st_mode)) {
		fs_inode_unref(ctx->inodes, base);
		return fs_reply_err(req, ENOENT, "lookup",
				    "view directory of a non-regular file");
	}
	dir = fs_inode_view(ctx->inodes, base, NULL);
	fs_inode_unref(ctx->inodes, base);      /* dir holds its own */
	reply_view_entry(req, dir);
}

void fs_views_note_shadowed(const char *name)
{
	static gsize said;

	if (g_once_init_enter(&said)) {
		fs_log(LOG_NOTICE, "%s is a file of the backing tree: it wins "
		       "over the view directory of the same name", name);
		g_once_init_leave(&said, 1);
	}
}

void fs_views_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	MfViewSpec spec;
	int r = mf_view_spec_parse(name, &spec);

	if (r == -EINVAL) {
		fs_log(LOG_NOTICE, "lookup %s: bad window: OFFSET[+LENGTH], "
		       "numbers decimal, 0x hex, K/M/G/T, within 2^63", name);
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (r < 0)
		return fs_reply_err(req, -r, "lookup view", name);
	reply_view_entry(req, fs_inode_view(ctx_of(req)->inodes, dir->base,
					    &spec));
}

void fs_views_getattr(fuse_req_t req, FsInode *in)
{
	struct stat st;
	int r = view_stat(in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "getattr", NULL);
	fuse_reply_attr(req, &st, 0);
}

void fs_views_refuse(fuse_req_t req, FsInode *in, const char *op)
{
	bool ro = in->kind == FS_VIEW && in->spec.mode == MF_VIEW_RO;

	fs_log(LOG_NOTICE, "%s on %s: %s", op,
	       in->kind == FS_VIEWDIR ? "a view directory" : "a view",
	       ro ? "read-only view"
	       : in->kind == FS_VIEWDIR ? "view directories hold only views"
					: "change the file, not its view");
	fuse_reply_err(req, ro ? EROFS : EPERM);
}

/* The file's backing, read-write if the view can write. */
static int view_backing(fuse_req_t req, FsInode *in, MfBacking **ret)
{
	MfWindowCache *cache = ctx_of(req)->cache;

	if (in->spec.mode == MF_VIEW_RW)
		return fs_inode_backing_rw(in->base, cache, ret);
	return fs_inode_backing(in->base, cache, ret);
}

/* The file's node: its cached pages and attributes go stale when a view
 * writes or truncates, and are invalidated before the reply. */
static fuse_ino_t file_ino(FsInode *in)
{
	return (fuse_ino_t)(uintptr_t)in->base;
}

void fs_views_setattr(fuse_req_t req, FsInode *in, struct stat *attr,
		      int valid)
{
	int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	struct stat st;
	MfBacking *b;
	int r;

	if (in->kind != FS_VIEW || in->spec.mode == MF_VIEW_RO ||
	    (valid & ~(FUSE_SET_ATTR_SIZE | times)))
		return fs_views_refuse(req, in, "setattr");
	if (valid & times) {
		/* touch on an rw view touches the file. */
		r = fs_inode_set_times(in->base, attr, valid);
		if (r < 0)
			return fs_reply_err(req, -r, "utimens", NULL);
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		r = view_backing(req, in, &b);
		if (r == 0) {
			r = mf_view_truncate(b, &in->spec,
					     (uint64_t)attr->st_size);
			mf_backing_unref(b);
		}
		if (r < 0) {
			if (r == -EPERM)
				return fs_views_refuse(req, in, "truncate");
			return fs_reply_err(req, -r, "truncate", NULL);
		}
	}
	r = view_stat(in, &st);
	if (r < 0)
		return fs_reply_err(req, -r, "setattr", NULL);
	if (valid & FUSE_SET_ATTR_SIZE)
		return fs_notify_then_attr(req, file_ino(in), attr->st_size, 0,
					   &st, 0);
	fuse_reply_attr(req, &st, 0);
}

void fs_views_open(fuse_req_t req, FsInode *in, struct fuse_file_info *fi)
{
	bool writes = (fi->flags & O_ACCMODE) != O_RDONLY;
	MfBacking *b;
	int r;

	if (in->spec.mode == MF_VIEW_RO && (writes || (fi->flags & O_TRUNC)))
		return fs_views_refuse(req, in, "open for writing");
	if ((fi->flags & O_TRUNC) && in->spec.window)
		return fs_views_refuse(req, in, "open with O_TRUNC");
	r = view_backing(req, in, &b);
	if (r == 0 && (fi->flags & O_TRUNC))
		r = mf_view_truncate(b, &in->spec, 0);
	if (r == 0)
		mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", NULL);
	/* Served without the kernel's page cache: see views.h. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->fh = 0;
	g_atomic_int_inc(&ctx_of(req)->open_files);
	if (fuse_reply_open(req, fi) == -ENOENT)
		g_atomic_int_add(&ctx_of(req)->open_files, -1);
}

void fs_views_read(fuse_req_t req, FsInode *in, size_t size, off_t off)
{
	MfBacking *b;
	MfReadVec v;
	ssize_t r = view_backing(req, in, &b);

	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", NULL);
	r = mf_view_read(b, &in->spec, (uint64_t)off, size, &v);
	if (r < 0) {
		mf_backing_unref(b);
		return fs_reply_err(req, (int)-r, "read", NULL);
	}
	fuse_reply_iov(req, v.iov, v.niov);
	mf_read_vec_release(&v);
	mf_backing_unref(b);
}

void fs_views_write(fuse_req_t req, FsInode *in, const char *buf,
		    size_t size, off_t off)
{
	MfBacking *b;
	ssize_t r = view_backing(req, in, &b);

	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", NULL);
	r = mf_view_write(b, &in->spec, (uint64_t)off, buf, size);
	mf_backing_unref(b);
	if (r == -EROFS)
		return fs_views_refuse(req, in, "write");
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write",
				    r == -EFBIG ? "past the view's window" : "view");
	fs_notify_then_write(req, file_ino(in),
			     (off_t)mf_view_file_offset(&in->spec,
							(uint64_t)off),
			     r, (size_t)r);
}

void fs_views_fsync(fuse_req_t req, FsInode *in, int datasync)
{
	MfBacking *b;
	int r = view_backing(req, in, &b);

	if (r == 0) {
		r = mf_view_flush(b, &in->spec, datasync);
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
	int r = view_stat(in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "lseek", NULL);
	if (off >= st.st_size)
		return fs_reply_err(req, ENXIO, "lseek", "view");
	fuse_reply_lseek(req, whence == SEEK_DATA ? off : st.st_size);
}

void fs_views_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		      bool plus)
{
	static const char *const names[] = { ".", "..", "rw", "ro" };
	char *buf = g_malloc(size), *p = buf;
	size_t left = size;

	for (off_t i = off; i < (off_t)G_N_ELEMENTS(names); i++) {
		/* Plus entries without a node: the kernel looks them up
		 * itself when they are used. */
		struct fuse_entry_param e = { .ino = 0 };
		size_t n;

		/* d_ino 0 would read as a deleted entry. */
		e.attr.st_ino = in->vino;
		e.attr.st_mode = i < 2 ? S_IFDIR : S_IFREG;
		n = plus ? fuse_add_direntry_plus(req, p, left, names[i], &e,
						  i + 1)
			 : fuse_add_direntry(req, p, left, names[i], &e.attr,
					     i + 1);
		if (n > left)
			break;
		p += n;
		left -= n;
	}
	fuse_reply_buf(req, buf, (size_t)(p - buf));
	g_free(buf);
}

/* user.mapfs.* attributes of a view. */
static const char *const xattr_names[] = {
	"user.mapfs.mode", "user.mapfs.coherence", "user.mapfs.base",
	"user.mapfs.offset", "user.mapfs.length",
};

/* The file's path in the mount, from where its fd points now. */
static char *base_path(FsContext *ctx, FsInode *in)
{
	char proc[FS_PROC_PATH_MAX];
	g_autofree char *target = NULL;
	size_t n = strlen(ctx->backing);

	fs_inode_proc_path(in->base, proc);
	target = g_file_read_link(proc, NULL);
	if (!target)
		return g_strdup("?");
	if (strncmp(target, ctx->backing, n) == 0 && target[n] == '/')
		return g_strconcat(ctx->mountpoint, target + n, NULL);
	return g_steal_pointer(&target);
}

static char *xattr_value(FsContext *ctx, FsInode *in, const char *name)
{
	struct stat st;

	if (strcmp(name, "user.mapfs.mode") == 0)
		return g_strdup(mf_view_mode_name(in->spec.mode));
	if (strcmp(name, "user.mapfs.coherence") == 0)
		return g_strdup("shared");
	if (strcmp(name, "user.mapfs.base") == 0)
		return base_path(ctx, in);
	if (strcmp(name, "user.mapfs.offset") == 0)
		return g_strdup_printf("%" PRIu64, in->spec.off);
	if (strcmp(name, "user.mapfs.length") == 0) {
		/* Open-ended windows: the bytes they show now. */
		if (in->spec.len != UINT64_MAX)
			return g_strdup_printf("%" PRIu64, in->spec.len);
		if (view_stat(in, &st) < 0)
			return NULL;
		return g_strdup_printf("%lld", (long long)st.st_size);
	}
	return NULL;
}

void fs_views_getxattr(fuse_req_t req, FsInode *in, const char *name,
		       size_t size)
{
	g_autofree char *value = in->kind == FS_VIEW
					 ? xattr_value(ctx_of(req), in, name)
					 : NULL;

	if (!value)
		return fs_reply_err(req, ENODATA, "getxattr", name);
	fs_reply_xattr(req, value, strlen(value), size);
}

void fs_views_listxattr(fuse_req_t req, FsInode *in, size_t size)
{
	GString *list = g_string_new(NULL);

	if (in->kind == FS_VIEW)
		for (size_t i = 0; i < G_N_ELEMENTS(xattr_names); i++)
			g_string_append_len(list, xattr_names[i],
					    (gssize)strlen(xattr_names[i]) + 1);
	fs_reply_xattr(req, list->str, list->len, size);
	g_string_free(list, TRUE);
}
