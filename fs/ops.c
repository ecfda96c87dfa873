/* ops: the fuse_lowlevel_ops adapters. Each turns a request into calls on
 * the backing tree (metadata, through *at() calls on O_PATH fds) or on a
 * core object (file data, through mmap windows), and the result into a
 * reply. Every error leaves through fs_reply_err().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "inode.h"
#include "log.h"
#include "mf-backing.h"
#include "names.h"

#define STATS_XATTR "user.mapfs.stats"

static FsContext *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static FsInode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	return fs_inode_get(ctx_of(req)->inodes, ino);
}

static int stat_inode(FsInode *in, struct stat *st)
{
	return fstatat(in->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

/* ------------------------------------------------------------------ */
/* Lookup and attributes                                               */

static void reply_entry(fuse_req_t req, FsInode *in, const struct stat *st)
{
	FsContext *ctx = ctx_of(req);
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = (uintptr_t)in;
	e.attr = *st;
	e.attr_timeout = ctx->timeout;
	e.entry_timeout = ctx->timeout;
	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_inode_forget(ctx->inodes, in, 1);  /* interrupted */
}

/* Look name up and reply with its entry. */
static void lookup_and_reply(fuse_req_t req, FsInode *parent,
			     const char *name, const char *op)
{
	FsContext *ctx = ctx_of(req);
	struct stat st;
	FsInode *in;
	int r = fs_inode_lookup(ctx->inodes, parent, name, &st, &in);

	if (r < 0)
		return fs_reply_err(req, -r, op, name);
	if (fs_names_is_state(ctx, &st)) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, ENOENT, op, name);
	}
	reply_entry(req, in, &st);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	lookup_and_reply(req, inode_of(req, parent), name, "lookup");
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_forget(ctx_of(req)->inodes, inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	FsContext *ctx = ctx_of(req);

	for (size_t i = 0; i < count; i++)
		fs_inode_forget(ctx->inodes, inode_of(req, forgets[i].ino),
				forgets[i].nlookup);
	fuse_reply_none(req);
}

static void reply_attr(fuse_req_t req, FsInode *in, const char *op)
{
	struct stat st;
	int r = stat_inode(in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, op, NULL);
	fuse_reply_attr(req, &st, ctx_of(req)->timeout);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)fi;
	reply_attr(req, inode_of(req, ino), "getattr");
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

static int set_times(FsInode *in, const struct stat *attr, int valid)
{
	struct timespec ts[2] = {
		time_arg(valid, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW,
			 attr->st_atim),
		time_arg(valid, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW,
			 attr->st_mtim),
	};
	char path[FS_PROC_PATH_MAX];

	if (in->type == S_IFLNK)
		return utimensat(in->fd, "", ts, AT_EMPTY_PATH) < 0 ? -errno
								     : 0;
	fs_inode_proc_path(in, path);
	return utimensat(AT_FDCWD, path, ts, 0) < 0 ? -errno : 0;
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int valid, struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *in = inode_of(req, ino);
	char path[FS_PROC_PATH_MAX];
	int r = 0;

	(void)fi;
	if (valid & FUSE_SET_ATTR_MODE) {
		fs_inode_proc_path(in, path);
		if (in->type == S_IFLNK)
			r = -EOPNOTSUPP;
		else if (chmod(path, attr->st_mode & 07777) < 0)
			r = -errno;
		if (r < 0)
			return fs_reply_err(req, -r, "chmod", NULL);
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		if (fchownat(in->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return fs_reply_err(req, errno, "chown", NULL);
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		MfBacking *b;

		r = fs_inode_backing_rw(in, ctx->cache, &b);
		if (r == -EINVAL)
			r = in->type == S_IFDIR ? -EISDIR : -EINVAL;
		if (r == 0) {
			r = mf_backing_truncate(b, (uint64_t)attr->st_size);
			mf_backing_unref(b);
		}
		if (r < 0)
			return fs_reply_err(req, -r, "truncate", NULL);
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		r = set_times(in, attr, valid);
		if (r < 0)
			return fs_reply_err(req, -r, "utimens", NULL);
		g_mutex_lock(&in->lock);
		if (in->backing)
			mf_backing_times_changed(in->backing);
		g_mutex_unlock(&in->lock);
	}
	reply_attr(req, in, "setattr");
}

/* ------------------------------------------------------------------ */
/* Creating and removing names                                         */

/* Give what a root daemon just created to the caller, as the kernel
 * would have: the caller's uid, and its gid unless the directory is
 * setgid (then the backing filesystem already gave the directory's). */
static int chown_new(fuse_req_t req, FsInode *parent, const char *name,
		     int fd)
{
	const struct fuse_ctx *caller = fuse_req_ctx(req);
	struct stat dir;
	gid_t gid = caller->gid;

	if (geteuid() != 0 || (caller->uid == 0 && caller->gid == 0))
		return 0;
	if (fstat(parent->fd, &dir) == 0 && (dir.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (fd >= 0)
		return fchown(fd, caller->uid, gid) < 0 ? -errno : 0;
	return fchownat(parent->fd, name, caller->uid, gid,
			AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

/* Refuse names that would touch the state directory. */
static bool refuse_state(fuse_req_t req, FsInode *parent, const char *name,
			 const char *op)
{
	if (!fs_names_hits_state(ctx_of(req), parent, name))
		return false;
	fs_log(LOG_NOTICE, "%s %s: the state directory is not part of the mount",
	       op, name);
	fuse_reply_err(req, EPERM);
	return true;
}

/* A name made by mkdir, mknod or symlink: own it, then answer its entry. */
static void finish_new(fuse_req_t req, FsInode *parent, const char *name,
		       int made, const char *op)
{
	if (made < 0)
		return fs_reply_err(req, errno, op, name);
	chown_new(req, parent, name, -1);
	lookup_and_reply(req, parent, name, op);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	FsInode *dir = inode_of(req, parent);

	if (refuse_state(req, dir, name, "mkdir"))
		return;
	finish_new(req, dir, name, mkdirat(dir->fd, name, mode), "mkdir");
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	FsInode *dir = inode_of(req, parent);

	if (refuse_state(req, dir, name, "mknod"))
		return;
	finish_new(req, dir, name, mknodat(dir->fd, name, mode, rdev), "mknod");
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	FsInode *dir = inode_of(req, parent);

	if (refuse_state(req, dir, name, "symlink"))
		return;
	finish_new(req, dir, name, symlinkat(link, dir->fd, name), "symlink");
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	FsInode *in = inode_of(req, ino), *dir = inode_of(req, newparent);
	char path[FS_PROC_PATH_MAX];
	int r;

	if (refuse_state(req, dir, newname, "link"))
		return;
	r = linkat(in->fd, "", dir->fd, newname, AT_EMPTY_PATH);
	if (r < 0 && (errno == ENOENT || errno == EPERM)) {
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH. */
		fs_inode_proc_path(in, path);
		r = linkat(AT_FDCWD, path, dir->fd, newname, AT_SYMLINK_FOLLOW);
	}
	if (r < 0)
		return fs_reply_err(req, errno, "link", newname);
	lookup_and_reply(req, dir, newname, "link");
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			int flags, const char *op)
{
	FsInode *dir = inode_of(req, parent);

	if (refuse_state(req, dir, name, op))
		return;
	if (unlinkat(dir->fd, name, flags) < 0)
		return fs_reply_err(req, errno, op, name);
	fuse_reply_err(req, 0);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0, "unlink");
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, AT_REMOVEDIR, "rmdir");
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	FsInode *from = inode_of(req, parent), *to = inode_of(req, newparent);

	if (refuse_state(req, from, name, "rename") ||
	    refuse_state(req, to, newname, "rename"))
		return;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return fs_reply_err(req, EINVAL, "rename", name);
	if (renameat2(from->fd, name, to->fd, newname, flags) < 0)
		return fs_reply_err(req, errno, "rename", name);
	fuse_reply_err(req, 0);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(inode_of(req, ino)->fd, "", buf, sizeof(buf));

	if (n < 0)
		return fs_reply_err(req, errno, "readlink", NULL);
	if (n >= (ssize_t)sizeof(buf))
		return fs_reply_err(req, ENAMETOOLONG, "readlink", NULL);
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

/* May the kernel keep the pages it cached at the last open? Only if the
 * file did not change behind the mount since our last release. */
static bool may_keep_cache(FsInode *in, const struct stat *st)
{
	bool keep;

	g_mutex_lock(&in->lock);
	keep = in->seen_size == st->st_size &&
	       in->seen_mtime.tv_sec == st->st_mtim.tv_sec &&
	       in->seen_mtime.tv_nsec == st->st_mtim.tv_nsec;
	g_mutex_unlock(&in->lock);
	return keep;
}

static void remember_state(FsInode *in)
{
	struct stat st;

	if (stat_inode(in, &st) < 0)
		return;
	g_mutex_lock(&in->lock);
	in->seen_size = st.st_size;
	in->seen_mtime = st.st_mtim;
	g_mutex_unlock(&in->lock);
}

/* Fill fi for an open regular file and count it. */
static void opened(fuse_req_t req, FsInode *in, struct fuse_file_info *fi)
{
	struct stat st;

	fi->keep_cache = stat_inode(in, &st) == 0 && may_keep_cache(in, &st);
	fi->fh = 0;
	g_atomic_int_inc(&ctx_of(req)->open_files);
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *in = inode_of(req, ino);
	bool rw = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	MfBacking *b;
	int r;

	r = rw ? fs_inode_backing_rw(in, ctx->cache, &b)
	       : fs_inode_backing(in, ctx->cache, &b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", NULL);
	if (fi->flags & O_TRUNC)
		r = mf_backing_truncate(b, 0);
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", NULL);
	opened(req, in, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		g_atomic_int_add(&ctx->open_files, -1);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *dir = inode_of(req, parent), *in;
	int base = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (fi->flags & O_TRUNC);
	struct fuse_entry_param e;
	bool made = true;
	int fd, r;

	if (refuse_state(req, dir, name, "create"))
		return;
	/* O_EXCL first, so we know whether we made it and must chown it. */
	fd = openat(dir->fd, name, base | O_CREAT | O_EXCL, mode);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		made = false;
		fd = openat(dir->fd, name, base);
	}
	if (fd < 0)
		return fs_reply_err(req, errno, "create", name);
	if (made)
		chown_new(req, dir, name, fd);
	r = fs_inode_lookup(ctx->inodes, dir, name, &e.attr, &in);
	if (r < 0) {
		close(fd);
		return fs_reply_err(req, -r, "create", name);
	}
	fs_inode_adopt_fd(in, ctx->cache, fd);
	remember_state(in);
	memset(&e, 0, offsetof(struct fuse_entry_param, attr));
	e.ino = (uintptr_t)in;
	e.attr_timeout = ctx->timeout;
	e.entry_timeout = ctx->timeout;
	opened(req, in, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		g_atomic_int_add(&ctx->open_files, -1);
		fs_inode_forget(ctx->inodes, in, 1);
	}
}

/* The backing of an open file. The kernel only sends data requests for
 * files it opened, so the backing exists; a reference keeps it alive. */
static int backing_of(fuse_req_t req, fuse_ino_t ino, MfBacking **ret)
{
	return fs_inode_backing(inode_of(req, ino), ctx_of(req)->cache, ret);
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	MfReadVec v;
	MfBacking *b;
	ssize_t r;

	(void)fi;
	r = backing_of(req, ino, &b);
	if (r == 0)
		r = mf_backing_read(b, (uint64_t)off, size, &v);
	if (r < 0) {
		if (b)
			mf_backing_unref(b);
		return fs_reply_err(req, (int)-r, "read", NULL);
	}
	/* Straight from window memory: the kernel copies once. A page lost
	 * to a truncation behind our back makes that copy fail, and the
	 * kernel answers the reader EIO. */
	r = fuse_reply_iov(req, v.iov, v.niov);
	if (r < 0)
		fs_log(LOG_WARNING, "read: reply failed (%s): backing file "
		       "changed behind the mount?", strerror((int)-r));
	mf_read_vec_release(&v);
	mf_backing_unref(b);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	MfBacking *b;
	ssize_t r;

	(void)fi;
	r = backing_of(req, ino, &b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", NULL);
	r = mf_backing_write(b, (uint64_t)off, buf, size);
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", NULL);
	fuse_reply_write(req, (size_t)r);
}

static void fs_op_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)fi;
	remember_state(inode_of(req, ino));
	g_atomic_int_add(&ctx_of(req)->open_files, -1);
	fuse_reply_err(req, 0);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	MfBacking *b;
	int r;

	(void)fi;
	r = backing_of(req, ino, &b);
	if (r == 0) {
		r = mf_backing_flush(b, 0, 0, datasync);
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "fsync", NULL);
	fuse_reply_err(req, 0);
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t off, off_t len, struct fuse_file_info *fi)
{
	MfBacking *b;
	int r;

	(void)fi;
	r = fs_inode_backing_rw(inode_of(req, ino), ctx_of(req)->cache, &b);
	if (r == 0) {
		r = mf_backing_fallocate(b, mode, (uint64_t)off, (uint64_t)len);
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "fallocate", NULL);
	fuse_reply_err(req, 0);
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	MfBacking *b;
	off_t r;

	(void)fi;
	r = backing_of(req, ino, &b);
	if (r == 0) {
		r = mf_backing_seek(b, off, whence);
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, (int)-r, "lseek", NULL);
	fuse_reply_lseek(req, r);
}

static void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				  off_t off_in, struct fuse_file_info *fi_in,
				  fuse_ino_t ino_out, off_t off_out,
				  struct fuse_file_info *fi_out, size_t len,
				  int flags)
{
	MfBacking *src = NULL, *dst = NULL;
	ssize_t r;

	(void)fi_in;
	(void)fi_out;
	if (flags)
		return fs_reply_err(req, EINVAL, "copy_file_range", NULL);
	r = backing_of(req, ino_in, &src);
	if (r == 0)
		r = fs_inode_backing_rw(inode_of(req, ino_out),
					ctx_of(req)->cache, &dst);
	if (r == 0)
		r = mf_backing_copy(src, (uint64_t)off_in, dst,
				    (uint64_t)off_out, len);
	mf_backing_unref(src);
	mf_backing_unref(dst);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "copy_file_range", NULL);
	fuse_reply_write(req, (size_t)r);
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */

typedef struct FsDir {
	DIR *dp;
	off_t pos;              /* where dp stands, as telldir() says */
	struct dirent *entry;   /* read but not yet replied */
} FsDir;

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	FsDir *d;
	int fd = openat(inode_of(req, ino)->fd, ".",
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fs_reply_err(req, errno, "opendir", NULL);
	d = g_new0(FsDir, 1);
	d->dp = fdopendir(fd);
	if (!d->dp) {
		close(fd);
		g_free(d);
		return fs_reply_err(req, ENOMEM, "opendir", NULL);
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		g_free(d);
	}
}

static bool is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	FsContext *ctx = ctx_of(req);
	FsInode *dir = inode_of(req, ino);
	FsDir *d = (FsDir *)(uintptr_t)fi->fh;
	char *buf = g_malloc(size), *p = buf;
	size_t left = size;
	int err = 0;

	if (off != d->pos) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->pos = off;
	}
	for (;;) {
		struct stat st = { 0 };
		FsInode *in = NULL;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		st.st_ino = d->entry->d_ino;
		st.st_mode = (mode_t)DTTOIF(d->entry->d_type);
		if (ctx->state_name && st.st_ino == ctx->state_ino &&
		    dir->dev == ctx->state_dev &&
		    strcmp(d->entry->d_name, ctx->state_name) == 0) {
			d->pos = d->entry->d_off;
			d->entry = NULL;
			continue;
		}
		if (plus && !is_dot(d->entry->d_name)) {
			struct fuse_entry_param e;
			int r = fs_inode_lookup(ctx->inodes, dir,
						d->entry->d_name, &st, &in);

			if (r < 0) {    /* gone since readdir: skip it */
				d->pos = d->entry->d_off;
				d->entry = NULL;
				continue;
			}
			memset(&e, 0, sizeof(e));
			e.ino = (uintptr_t)in;
			e.attr = st;
			e.attr_timeout = ctx->timeout;
			e.entry_timeout = ctx->timeout;
			n = fuse_add_direntry_plus(req, p, left,
						   d->entry->d_name, &e,
						   d->entry->d_off);
		} else if (plus) {
			struct fuse_entry_param e = { .attr = st };

			n = fuse_add_direntry_plus(req, p, left,
						   d->entry->d_name, &e,
						   d->entry->d_off);
		} else {
			n = fuse_add_direntry(req, p, left, d->entry->d_name,
					      &st, d->entry->d_off);
		}
		if (n > left) {
			/* No room: keep the entry for the next call, and
			 * give back the lookup it would have cost. */
			if (in)
				fs_inode_forget(ctx->inodes, in, 1);
			break;
		}
		p += n;
		left -= n;
		d->pos = d->entry->d_off;
		d->entry = NULL;
	}
	/* An error after some entries is reported on the next call. */
	if (err && p == buf) {
		g_free(buf);
		return fs_reply_err(req, err, "readdir", NULL);
	}
	fuse_reply_buf(req, buf, (size_t)(p - buf));
	g_free(buf);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	FsDir *d = (FsDir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	g_free(d);
	fuse_reply_err(req, 0);
}

static void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	int fd = dirfd(((FsDir *)(uintptr_t)fi->fh)->dp);

	(void)ino;
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return fs_reply_err(req, errno, "fsyncdir", NULL);
	fuse_reply_err(req, 0);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(inode_of(req, ino)->fd, &sv) < 0)
		return fs_reply_err(req, errno, "statfs", NULL);
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */

static char *stats_text(FsContext *ctx)
{
	MfWindowStats ws;
	MfIoStats io;

	mf_window_cache_stats(ctx->cache, &ws);
	mf_backing_io_stats(&io);
	return g_strdup_printf(
		"windows_mapped=%" PRIu64 "\nmaps=%" PRIu64 "\nunmaps=%" PRIu64
		"\nhits=%" PRIu64 "\nmisses=%" PRIu64 "\nmap_failures=%" PRIu64
		"\nbytes_read=%" PRIu64 "\nbytes_written=%" PRIu64
		"\nopen_files=%d\nsigbus=%" PRIu64 "\ninodes=%u\n",
		ws.mapped_now, ws.maps, ws.unmaps, ws.hits, ws.misses,
		ws.map_failures, io.bytes_read, io.bytes_written,
		g_atomic_int_get(&ctx->open_files), io.sigbus,
		fs_inode_table_size(ctx->inodes));
}

/* Reply to a getxattr or listxattr of size: the length alone when size is
 * 0, ERANGE when it does not fit. */
static void reply_xattr_value(fuse_req_t req, const char *value, size_t len,
			      size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	char path[FS_PROC_PATH_MAX];
	char *value = NULL;
	ssize_t n;

	if (ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0) {
		char *text = stats_text(ctx_of(req));

		reply_xattr_value(req, text, strlen(text), size);
		g_free(text);
		return;
	}
	fs_inode_proc_path(inode_of(req, ino), path);
	if (size)
		value = g_malloc(size);
	n = getxattr(path, name, value, size);
	if (n < 0)
		fs_reply_err(req, errno, "getxattr", name);
	else
		reply_xattr_value(req, value, (size_t)n, size);
	g_free(value);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[FS_PROC_PATH_MAX];
	char *list = NULL;
	ssize_t n;

	fs_inode_proc_path(inode_of(req, ino), path);
	if (size)
		list = g_malloc(size);
	n = listxattr(path, list, size);
	if (n < 0)
		fs_reply_err(req, errno, "listxattr", NULL);
	else
		reply_xattr_value(req, list, (size_t)n, size);
	g_free(list);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	char path[FS_PROC_PATH_MAX];

	if (ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0)
		return fs_reply_err(req, EPERM, "setxattr", name);
	fs_inode_proc_path(inode_of(req, ino), path);
	if (setxattr(path, name, value, size, flags) < 0)
		return fs_reply_err(req, errno, "setxattr", name);
	fuse_reply_err(req, 0);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino,
			      const char *name)
{
	char path[FS_PROC_PATH_MAX];

	fs_inode_proc_path(inode_of(req, ino), path);
	if (removexattr(path, name) < 0)
		return fs_reply_err(req, errno, "removexattr", name);
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Requests of up to 1 MiB, the kernel's FUSE_MAX_MAX_PAGES. */
	conn->max_write = 1u << 20;
	/* The mount owns the tree: pages stay cached across opens unless
	 * the file changed behind us (see may_keep_cache), instead of
	 * being dropped whenever mtime moves, which our own writes do. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* The kernel clears setuid bits on write itself. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/* Writeback caching would let the kernel reorder and merge our
	 * writes; see the man page. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.fsyncdir = fs_op_fsyncdir,
	.statfs = fs_op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
	.fallocate = fs_op_fallocate,
	.lseek = fs_op_lseek,
	.copy_file_range = fs_op_copy_file_range,
};
