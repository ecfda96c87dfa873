/* ops: the fuse_lowlevel_ops adapters. Each turns a request into calls on
 * the backing tree (metadata, through *at() calls on O_PATH fds) or on a
 * core object (file data, through mmap windows), and the result into a
 * reply. Every error leaves through fs_reply_err().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "aliases.h"
#include "killpriv.h"
#include "log.h"
#include "mf-backing.h"
#include "names.h"
#include "notify.h"
#include "ops.h"
#include "orphans.h"
#include "readahead.h"
#include "reply.h"
#include "shm.h"
#include "splice.h"
#include "tree.h"
#include "views.h"

static int stat_inode(FsInode *in, struct stat *st)
{
	if (fstatat(fs_fd(in), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (in->shm)
		fs_shm_fix_stat(in, st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookup and attributes                                               */

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
	fs_reply_entry(req, in, &st, ctx->timeout);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsContext *ctx = ctx_of(req);
	FsInode *dir = inode_of(req, parent), *in;
	struct stat st;
	int r;

	if (dir->kind == FS_SHMDIR)
		return fs_shm_lookup(req, dir, name);
	if (fs_tree_is(dir))
		return fs_tree_lookup(req, dir, name);
	if (is_virtual(dir))
		return fs_views_lookup(req, dir, name);
	r = fs_inode_lookup(ctx->inodes, dir, name, &st, &in);
	/* "F@@" of a file whose name has 254 or 255 bytes is longer than
	 * the backing filesystem takes, but not than FUSE passes. */
	if ((r == -ENOENT || r == -ENAMETOOLONG) && fs_views_is_dir_name(name))
		return fs_views_lookup_dir(req, dir, name);
	if (r == -ENOENT && fs_shm_is_dir_name(ctx, dir, name))
		return fs_shm_lookup_dir(req);
	if (r == -ENOENT && fs_tree_is_dir_name(ctx, dir, name))
		return fs_tree_lookup_dir(req);
	if (r == -ENOENT && parent == FUSE_ROOT_ID &&
	    strcmp(name, FS_REMOVED_DIR) == 0)
		return fs_views_lookup_removed(req);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	if (fs_names_is_state(ctx, &st)) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, ENOENT, "lookup", name);
	}
	if (fs_views_is_dir_name(name))
		fs_views_note_shadowed(name);
	fs_reply_entry(req, in, &st, ctx->timeout);
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
	FsInode *in = inode_of(req, ino);

	(void)fi;
	if (in->kind == FS_SHMDIR)
		return fs_shm_getattr(req, in);
	if (fs_tree_is(in))
		return fs_tree_getattr(req, in);
	if (is_virtual(in))
		return fs_views_getattr(req, in);
	reply_attr(req, in, "getattr");
}

/* The changes of a setattr, between fs_tree_change() and fs_tree_end().
 * Returns 0 or -errno, with the operation in *op. */
static int set_attrs(fuse_req_t req, FsInode *in, struct stat *attr,
		     int valid, FsAliasDrops **drops, const char **op)
{
	FsContext *ctx = ctx_of(req);
	char path[FS_PROC_PATH_MAX];
	int r = 0;

	if (valid & FUSE_SET_ATTR_MODE) {
		*op = "chmod";
		fs_inode_proc_path(in, path);
		if (in->type == S_IFLNK)
			return -EOPNOTSUPP;
		if (chmod(path, attr->st_mode & 07777) < 0)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		*op = "chown";
		if (fchownat(fs_fd(in), "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		MfBacking *b;

		*op = "truncate";
		r = fs_inode_backing_rw(ctx, in, &b);
		if (r == -EINVAL)
			r = in->type == S_IFDIR ? -EISDIR : -EINVAL;
		/* Kept already, but maybe before this backing was open: the
		 * chain attaches to it now (a hash lookup). */
		if (r == 0 && (r = fs_tree_keep(ctx, in, b)) < 0)
			mf_backing_unref(b);
		if (r == 0) {
			fs_killpriv_clear(req, in);
			r = mf_backing_truncate(b, (uint64_t)attr->st_size);
			mf_backing_unref(b);
		}
		if (r < 0)
			return r;
		*drops = fs_aliases_changed(in, (uint64_t)attr->st_size,
					    FS_ALIASES_TO_END);
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		*op = "utimens";
		r = fs_views_set_times(ctx, in, attr, valid);
		if (r < 0)
			return r;
		g_mutex_lock(&in->lock);
		if (in->backing)
			mf_backing_times_changed(in->backing);
		g_mutex_unlock(&in->lock);
	}
	return 0;
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int valid, struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *in = inode_of(req, ino);
	FsAliasDrops *drops = NULL;
	const char *op = "setattr";
	struct stat st;
	int r;

	(void)fi;
	if (is_virtual(in))
		return fs_views_setattr(req, in, attr, valid);
	r = fs_tree_change(ctx, in, NULL);
	if (r < 0)
		return fs_reply_err(req, -r, op, NULL);
	r = set_attrs(req, in, attr, valid, &drops, &op);
	fs_tree_end(ctx);
	if (r < 0)
		return fs_aliases_reply_err(req, drops, -r, op, NULL);
	r = stat_inode(in, &st);
	if (r < 0)
		return fs_aliases_reply_err(req, drops, -r, "setattr", NULL);
	fs_aliases_reply_attr(req, drops, &st, ctx->timeout);
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
	if (fstat(fs_fd(parent), &dir) == 0 && (dir.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (fd >= 0)
		return fchown(fd, caller->uid, gid) < 0 ? -errno : 0;
	return fchownat(fs_fd(parent), name, caller->uid, gid,
			AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

/* The mode of a new object in dir: the caller's umask applies unless dir
 * has a default ACL, which the backing filesystem applies instead (the
 * daemon's own umask is 0). */
static mode_t new_mode(fuse_req_t req, FsInode *dir, mode_t mode)
{
	mode_t mask = fuse_req_ctx(req)->umask;
	char path[FS_PROC_PATH_MAX];

	if (!ctx_of(req)->apply_umask || !(mode & mask))
		return mode;
	fs_inode_proc_path(dir, path);
	if (getxattr(path, "system.posix_acl_default", NULL, 0) > 0)
		return mode;
	return mode & ~mask;
}

/* Refuse names inside view directories, and names that would touch the
 * state directory. */
static bool refuse_state(fuse_req_t req, FsInode *parent, const char *name,
			 const char *op)
{
	if (is_virtual(parent)) {
		fs_views_refuse(req, parent, op);
		return true;
	}
	if (!fs_names_hits_state(ctx_of(req), parent, name))
		return false;
	fs_log(LOG_NOTICE, "%s %s: the state directory is not part of the mount",
	       op, name);
	fuse_reply_err(req, EPERM);
	return true;
}

/* Before a name is made in dir: begin the change, keeping dir's entries
 * for tree snapshots. False if refused (replied). */
static bool begin_new(fuse_req_t req, FsInode *dir, const char *name,
		      const char *op)
{
	int r = fs_tree_change(ctx_of(req), dir, NULL);

	if (r < 0)
		fs_reply_err(req, -r, op, name);
	return r == 0;
}

/* A name made by mkdir, mknod or symlink (after begin_new()): own it,
 * end the change, then answer its entry. */
static void finish_new(fuse_req_t req, FsInode *parent, const char *name,
		       int made, const char *op)
{
	int err = made < 0 ? errno : 0;

	if (!err)
		chown_new(req, parent, name, -1);
	fs_tree_end(ctx_of(req));
	if (err)
		return fs_reply_err(req, err, op, name);
	lookup_and_reply(req, parent, name, op);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	FsInode *dir = inode_of(req, parent);

	if (fs_tree_is(dir))
		return fs_tree_mkdir(req, dir, name);
	if (refuse_state(req, dir, name, "mkdir") ||
	    !begin_new(req, dir, name, "mkdir"))
		return;
	finish_new(req, dir, name,
		   mkdirat(fs_fd(dir), name, new_mode(req, dir, mode)), "mkdir");
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	FsInode *dir = inode_of(req, parent);

	if (dir->kind == FS_SHMDIR)
		return fs_shm_mknod(req, dir, name, mode);
	if (refuse_state(req, dir, name, "mknod") ||
	    !begin_new(req, dir, name, "mknod"))
		return;
	finish_new(req, dir, name,
		   mknodat(fs_fd(dir), name, new_mode(req, dir, mode), rdev),
		   "mknod");
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	FsInode *dir = inode_of(req, parent);

	if (refuse_state(req, dir, name, "symlink") ||
	    !begin_new(req, dir, name, "symlink"))
		return;
	finish_new(req, dir, name, symlinkat(link, fs_fd(dir), name), "symlink");
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	FsInode *in = inode_of(req, ino), *dir = inode_of(req, newparent);
	char path[FS_PROC_PATH_MAX];
	int r;

	if (is_virtual(in))
		return fs_views_refuse(req, in, "link");
	if (refuse_state(req, dir, newname, "link") ||
	    !begin_new(req, dir, newname, "link"))
		return;
	/* The file gains a link: its nlink and ctime change. */
	r = fs_tree_keep(ctx_of(req), in, NULL);
	if (r == 0) {
		r = linkat(fs_fd(in), "", fs_fd(dir), newname, AT_EMPTY_PATH);
		if (r < 0 && (errno == ENOENT || errno == EPERM)) {
			/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH. */
			fs_inode_proc_path(in, path);
			r = linkat(AT_FDCWD, path, fs_fd(dir), newname,
				   AT_SYMLINK_FOLLOW);
		}
		r = r < 0 ? -errno : 0;
	}
	fs_tree_end(ctx_of(req));
	if (r < 0)
		return fs_reply_err(req, -r, "link", newname);
	lookup_and_reply(req, dir, newname, "link");
}

/* ENOENT from the tree for "F@@" means the view directory was named
 * (for ".shm" and ".snapshots", the synthetic directories): it cannot be
 * removed or renamed. */
static void reply_tree_err(fuse_req_t req, int err, const char *op,
			   const char *name)
{
	if (err == ENOENT && (fs_views_is_dir_name(name) ||
			      strcmp(name, FS_SHM_DIR_NAME) == 0 ||
			      strcmp(name, FS_TREE_DIR_NAME) == 0)) {
		fs_log(LOG_NOTICE, "%s %s: view directories, .shm and "
		       ".snapshots cannot be removed or renamed", op, name);
		err = EPERM;
	}
	fs_reply_err(req, err, op, name);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			int flags, const char *op)
{
	FsContext *ctx = ctx_of(req);
	FsInode *dir = inode_of(req, parent);
	int r;

	if (refuse_state(req, dir, name, op))
		return;
	r = fs_tree_change(ctx, dir, NULL);
	if (r < 0)
		return fs_reply_err(req, -r, op, name);
	r = fs_tree_keep_removed(ctx, dir, name);
	if (r == 0 && !flags)
		r = fs_orphans_keep(ctx, dir, name);
	if (r < 0) {
		fs_tree_end(ctx);
		return fs_reply_err(req, -r, op, name);
	}
	r = unlinkat(fs_fd(dir), name, flags) < 0 ? errno : 0;
	fs_tree_end(ctx);
	if (r)
		return reply_tree_err(req, r, op, name);
	fuse_reply_err(req, 0);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsInode *dir = inode_of(req, parent);

	if (dir->kind == FS_SHMDIR)
		return fs_shm_unlink(req, dir, name);
	if (is_virtual(dir))
		return fs_views_unlink(req, dir, name);
	remove_name(req, parent, name, 0, "unlink");
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsInode *dir = inode_of(req, parent);

	if (fs_tree_is(dir))
		return fs_tree_rmdir(req, dir, name);
	remove_name(req, parent, name, AT_REMOVEDIR, "rmdir");
}

/* Begin a rename: keep both directories, what moves, and what it
 * replaces. Returns 0 (begun) or -errno (not). */
static int keep_renamed(FsContext *ctx, FsInode *from, const char *name,
			FsInode *to, const char *newname, unsigned flags)
{
	int r = fs_tree_change(ctx, from, NULL);

	if (r < 0)
		return r;
	if (to != from)
		r = fs_tree_keep(ctx, to, NULL);
	/* A moved directory's ".." and a moved object's ctime change. */
	if (r == 0)
		r = fs_tree_keep_at(ctx, from, name);
	if (r == 0 && (flags & RENAME_EXCHANGE))
		r = fs_tree_keep_at(ctx, to, newname);
	else if (r == 0 && !(flags & RENAME_NOREPLACE))
		r = fs_tree_keep_removed(ctx, to, newname);
	if (r < 0)
		fs_tree_end(ctx);
	return r;
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	FsContext *ctx = ctx_of(req);
	FsInode *from = inode_of(req, parent), *to = inode_of(req, newparent);
	int r;

	if (fs_tree_is(from) || fs_tree_is(to))
		return fs_tree_rename(req, from, name, to, newname, flags);
	if (from->kind == FS_SHMDIR || to->kind == FS_SHMDIR)
		return fs_shm_rename(req, from, name, to, newname, flags);
	if (is_virtual(from) || is_virtual(to)) {
		/* Renames of views never replace: NOREPLACE is a given. */
		if (flags & ~RENAME_NOREPLACE)
			return fs_reply_err(req, EINVAL, "rename", name);
		return fs_views_rename(req, from, name, to, newname);
	}
	if (refuse_state(req, from, name, "rename") ||
	    refuse_state(req, to, newname, "rename"))
		return;
	/* RENAME_WHITEOUT (overlayfs's, on a FUSE upper layer) goes to the
	 * backing filesystem, which supports it or says not. */
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return fs_reply_err(req, EINVAL, "rename", name);
	r = keep_renamed(ctx, from, name, to, newname, flags);
	if (r < 0)
		return fs_reply_err(req, -r, "rename", name);
	if (!(flags & (RENAME_NOREPLACE | RENAME_EXCHANGE))) {
		/* a file replaced by the rename loses a link */
		r = fs_orphans_keep(ctx, to, newname);

		if (r < 0) {
			fs_tree_end(ctx);
			return fs_reply_err(req, -r, "rename", newname);
		}
	}
	r = renameat2(fs_fd(from), name, fs_fd(to), newname, flags) < 0 ? errno
									 : 0;
	/* The whiteout left at the old name is the caller's, as the
	 * kernel would make it. */
	if (r == 0 && (flags & RENAME_WHITEOUT))
		chown_new(req, from, name, -1);
	fs_tree_end(ctx);
	if (r)
		return reply_tree_err(req, r, "rename", name);
	fuse_reply_err(req, 0);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n;

	if (fs_tree_is(inode_of(req, ino)))
		return fs_tree_readlink(req, inode_of(req, ino));
	n = readlinkat(fs_fd(inode_of(req, ino)), "", buf, sizeof(buf));

	if (n < 0)
		return fs_reply_err(req, errno, "readlink", NULL);
	if (n >= (ssize_t)sizeof(buf))
		return fs_reply_err(req, ENAMETOOLONG, "readlink", NULL);
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

/* Fill fi for an open regular file and count it. Returns whether its
 * kernel pages must be dropped before the reply (fs_inode_opened_cached).
 *
 * A write-only open (cp, tar x, a shell's >, a compiler's output) is
 * served without the kernel's page cache: it can neither read nor map
 * what it writes, and a buffered write of a new file cost a page-cache
 * page and a copy more than the write itself (cp and dd of a new file:
 * 0.42-0.44 of native before, 0.62-0.72 after; issue 11). Its writes
 * are made as F@@/rw's are (fs_views_write_file), which keeps the pages
 * that other opens cache true. keep_cache: the kernel must not drop
 * those on its own. */
static bool opened(fuse_req_t req, FsInode *in, const struct stat *now,
		   struct fuse_file_info *fi)
{
	bool stale = false;

	if ((fi->flags & O_ACCMODE) == O_WRONLY) {
		fi->direct_io = 1;
		fi->keep_cache = 1;
		fs_inode_opened_direct(ctx_of(req), in);
	} else {
		fi->keep_cache = fs_inode_opened_cached(ctx_of(req), in, now,
							&stale);
	}
	fi->fh = fs_inode_drops_done(in) |
		 (fi->direct_io ? FS_FH_DIRECT : 0);
	return stale;
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *in = inode_of(req, ino);
	bool rw = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	MfBacking *b;
	bool stale;
	int r;

	if (fs_tree_is(in))
		return fs_tree_open_file(req, in, fi);
	if (is_virtual(in))
		return fs_views_open(req, in, fi);
	r = rw ? fs_inode_backing_rw(ctx, in, &b)
	       : fs_inode_backing(ctx, in, &b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", NULL);
	if ((fi->flags & O_TRUNC) && (r = fs_tree_change(ctx, in, b)) == 0) {
		fs_killpriv_clear(req, in);
		r = mf_backing_truncate(b, 0);
		fs_tree_end(ctx);
	}
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, -r, "open", NULL);
	stale = opened(req, in, NULL, fi);
	/* Truncated: the kernel drops its pages itself once this is
	 * answered, a map's dirty ones too. A drop now would write those
	 * back past the new end (difftest seed 1: a lingering map). */
	if (fi->flags & O_TRUNC)
		stale = false;
	fs_aliases_reply_open(req, fi->flags & O_TRUNC
					   ? fs_aliases_changed(in, 0, FS_ALIASES_TO_END)
					   : NULL,
			      in, fi, stale);
}

/* Truncate an existing file just opened by create to 0 through its
 * backing, and take its attributes again. Returns 0 or -errno. */
static int truncate_new_open(fuse_req_t req, FsInode *in, struct stat *st)
{
	MfBacking *b = NULL;
	int r = fs_inode_backing_rw(ctx_of(req), in, &b);

	if (r == 0)
		r = fs_tree_change(ctx_of(req), in, b);
	if (r < 0) {
		mf_backing_unref(b);
		return r;
	}
	fs_killpriv_clear(req, in);
	r = mf_backing_truncate(b, 0);
	fs_tree_end(ctx_of(req));
	if (r == 0 && fstat(mf_backing_fd(b), st) < 0)
		r = -errno;
	mf_backing_unref(b);
	return r;
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	FsInode *dir = inode_of(req, parent), *in;
	int base = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	struct fuse_entry_param e;
	bool made = true, stale;
	int fd, r;

	if (dir->kind == FS_SHMDIR)
		return fs_shm_create(req, dir, name, mode, fi);
	if (fs_tree_is(dir))
		return fs_tree_refuse(req, dir, "create");
	if (is_virtual(dir))
		return fs_views_create(req, dir, name, fi);
	if (refuse_state(req, dir, name, "create"))
		return;
	mode = new_mode(req, dir, mode);
	if (!begin_new(req, dir, name, "create"))
		return;
	/* O_EXCL first, so we know whether we made it and must chown it. */
	fd = openat(fs_fd(dir), name, base | O_CREAT | O_EXCL, mode);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		made = false;
		fd = openat(fs_fd(dir), name, base);
	}
	r = fd < 0 ? errno : 0;
	if (fd >= 0 && made)
		chown_new(req, dir, name, fd);
	fs_tree_end(ctx);
	if (fd < 0)
		return fs_reply_err(req, r, "create", name);
	r = fs_inode_lookup(ctx->inodes, dir, name, &e.attr, &in);
	if (r < 0) {
		close(fd);
		return fs_reply_err(req, -r, "create", name);
	}
	/* e.attr, just taken, serves for the backing's size and for the
	 * state the kernel's cache starts from: no more fstat calls. */
	fs_inode_adopt_fd(ctx, in, fd, &e.attr);
	/* A file that was there already (made behind the mount while the
	 * kernel remembered the name as absent) is truncated as an open
	 * with O_TRUNC is: through its backing, so that its snapshots keep
	 * their bytes, not by openat. */
	if (!made && (fi->flags & O_TRUNC) &&
	    (r = truncate_new_open(req, in, &e.attr)) < 0) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, -r, "create", name);
	}
	memset(&e, 0, offsetof(struct fuse_entry_param, attr));
	e.ino = (uintptr_t)in;
	e.attr_timeout = ctx->timeout;
	e.entry_timeout = ctx->timeout;
	stale = opened(req, in, &e.attr, fi);
	/* An existing file opened with O_TRUNC lost its bytes. */
	fs_aliases_reply_create(req, !made && (fi->flags & O_TRUNC)
					     ? fs_aliases_changed(in, 0, FS_ALIASES_TO_END)
					     : NULL,
				in, &e, fi, stale);
}

/* The backing of an open file. The kernel only sends data requests for
 * files it opened, so the backing exists; a reference keeps it alive. */
static int backing_of(fuse_req_t req, fuse_ino_t ino, MfBacking **ret)
{
	return fs_inode_backing(ctx_of(req), inode_of(req, ino), ret);
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	MfBacking *b = NULL;
	MfReadVec v;
	ssize_t r;

	(void)fi;
	if (fs_tree_is(in))
		return fs_tree_read(req, in, size, off);
	if (is_virtual(in))
		return fs_views_read(req, in, size, off);
	r = backing_of(req, ino, &b);
	if (r == 0 && fs_splice_read(req, b, size, off)) {
		mf_backing_unref(b);
		return;
	}
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

/* Drop a file's cached pages [off, off+len) (len 0: to the end) once a
 * write's reply is out, on the files lane. */
typedef struct InvalAfter {
	FsInode *in;            /* the kernel holds it: the file is open */
	off_t off, len;
} InvalAfter;

static void inval_after_job(void *arg)
{
	InvalAfter *j = arg;

	fs_notify_drop_file(j->in, j->off, j->len);
	g_free(j);
}

static void inval_after(FsInode *in, off_t off, off_t len)
{
	InvalAfter *j = g_new(InvalAfter, 1);

	*j = (InvalAfter){ in, off, len };
	fs_notify_run(inval_after_job, j);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	uint64_t end = 0, at;
	MfBacking *b;
	ssize_t r;

	if (fs_tree_is(in))
		return fs_tree_refuse(req, in, "write");
	if (is_virtual(in))
		return fs_views_write(req, in, buf, size, off, fi);
	if ((fi->fh & FS_FH_DIRECT) && !(fi->flags & O_APPEND))
		return fs_views_write_file(req, in, buf, size, off);
	r = fs_shm_charge(ctx_of(req), in, (uint64_t)off, size);
	if (r == 0)
		r = backing_of(req, ino, &b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", NULL);
	/* O_APPEND: the kernel took the offset from its cached size, which
	 * a write through a view may have left behind. Append at the end. */
	if ((fi->flags & O_APPEND) && mf_backing_size(b, &end) == 0 &&
	    end == (uint64_t)off)
		end = 0;
	at = end ? end : (uint64_t)off;
	r = fs_tree_change(ctx_of(req), in, b);
	if (r == 0) {
		fs_killpriv_clear(req, in);
		r = mf_backing_write(b, at, buf, size);
		fs_tree_end(ctx_of(req));
	}
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "write", NULL);
	if (!end && !fi->writepage && !(fi->fh & FS_FH_DIRECT) && r > 0 &&
	    fs_inode_dropped_since_write(in, fi->fh))
		fs_notify_redrop_file(in, (off_t)at, (off_t)r);
	fs_aliases_reply_write(req, fs_aliases_changed(in, at, (uint64_t)r),
			       (size_t)r);
	/* After the reply: the request may hold those pages locked. */
	if (end)
		inval_after(in, (off_t)MIN(end, (uint64_t)off), 0);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);

	if (fs_tree_is(in)) {
		fs_tree_release(in, fi);
		return (void)fuse_reply_err(req, 0);
	}
	if (is_virtual(in)) {
		if (fs_aliases_cached(in))
			fs_inode_remember(in);
		fs_views_release(ctx_of(req), in);
		fs_inode_closed(ctx_of(req), in);
	} else if (fi->fh & FS_FH_DIRECT) {
		fs_inode_closed_direct(ctx_of(req), in);
	} else {
		fs_inode_remember(in);
		fs_inode_closed(ctx_of(req), in);
	}
	fuse_reply_err(req, 0);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	MfBacking *b;
	int r;

	(void)fi;
	if (fs_tree_is(in))
		return (void)fuse_reply_err(req, 0);
	if (is_virtual(in))
		return fs_views_fsync(req, in, datasync);
	r = backing_of(req, ino, &b);
	if (r == 0) {
		r = mf_backing_flush(b, 0, 0, datasync);
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "fsync", NULL);
	fuse_reply_err(req, 0);
}

/* What fallocate changed of the bytes: punching and zeroing change the
 * range, collapsing and inserting everything after it; allocating only
 * the size. */
static FsAliasDrops *changed_by_fallocate(FsInode *in, int mode, off_t off,
					  off_t len)
{
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		return fs_aliases_changed(in, (uint64_t)off,
					  FS_ALIASES_TO_END);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return fs_aliases_changed(in, (uint64_t)off, (uint64_t)len);
	return NULL;
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t off, off_t len, struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	MfBacking *b;
	int r;

	(void)fi;
	if (fs_tree_is(in))
		return fs_tree_refuse(req, in, "fallocate");
	if (is_virtual(in))
		return fs_reply_err(req, EOPNOTSUPP, "fallocate on a view", NULL);
	r = mode & FALLOC_FL_PUNCH_HOLE
		    ? 0
		    : fs_shm_charge(ctx_of(req), in, (uint64_t)off, (uint64_t)len);
	if (r == 0)
		r = fs_inode_backing_rw(ctx_of(req), in, &b);
	if (r == 0) {
		r = fs_tree_change(ctx_of(req), in, b);
		if (r == 0) {
			fs_killpriv_clear(req, in);
			r = mf_backing_fallocate(b, mode, (uint64_t)off,
						 (uint64_t)len);
			fs_tree_end(ctx_of(req));
		}
		mf_backing_unref(b);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "fallocate", NULL);
	fs_aliases_reply_err(req, changed_by_fallocate(in, mode, off, len), 0,
			     "fallocate", NULL);
}

/* SEEK_DATA and SEEK_HOLE, as a notifier job: the kernel asks without
 * writing back the pages mmap dirtied, so the backing file would show a
 * hole where a reader sees data. Dropping the pages writes them back. */
typedef struct SeekJob {
	fuse_req_t req;
	FsInode *in;            /* open, so held by the kernel */
	off_t off;
	int whence;
} SeekJob;

static void seek_job(void *arg)
{
	SeekJob *j = arg;
	MfBacking *b;
	off_t r;

	fs_notify_drop_file(j->in, j->off, 0);
	r = fs_inode_backing(ctx_of(j->req), j->in, &b);
	if (r == 0) {
		r = mf_backing_seek(b, j->off, j->whence);
		mf_backing_unref(b);
	}
	if (r < 0)
		fs_reply_err(j->req, (int)-r, "lseek", NULL);
	else
		fuse_reply_lseek(j->req, r);
	g_free(j);
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	SeekJob *j;

	(void)fi;
	if (fs_tree_is(in))
		return fs_tree_lseek(req, in, off, whence);
	if (is_virtual(in))
		return fs_views_lseek(req, in, off, whence);
	j = g_new(SeekJob, 1);
	*j = (SeekJob){ req, in, off, whence };
	fs_notify_run(seek_job, j);
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
	/* Callers fall back to read and write, which views serve. */
	if (is_virtual(inode_of(req, ino_in)) ||
	    is_virtual(inode_of(req, ino_out)))
		return fs_reply_err(req, EOPNOTSUPP, "copy_file_range", "view");
	r = fs_shm_charge(ctx_of(req), inode_of(req, ino_out),
			  (uint64_t)off_out, len);
	if (r == 0)
		r = backing_of(req, ino_in, &src);
	if (r == 0)
		r = fs_inode_backing_rw(ctx_of(req), inode_of(req, ino_out),
					&dst);
	if (r == 0)
		r = fs_tree_change(ctx_of(req), inode_of(req, ino_out), dst);
	if (r == 0) {
		fs_killpriv_clear(req, inode_of(req, ino_out));
		r = mf_backing_copy(src, (uint64_t)off_in, dst,
				    (uint64_t)off_out, len);
		fs_tree_end(ctx_of(req));
	}
	mf_backing_unref(src);
	mf_backing_unref(dst);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "copy_file_range", NULL);
	fs_aliases_reply_write(req,
			       fs_aliases_changed(inode_of(req, ino_out),
						  (uint64_t)off_out,
						  (uint64_t)r),
			       (size_t)r);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	FsInode *in = inode_of(req, ino);
	struct statvfs sv;

	if (in->kind == FS_SHMDIR || in->shm)
		return fs_shm_statfs(req);
	if (fstatvfs(is_virtual(in) ? fs_fd(in->base) : fs_fd(in), &sv) < 0)
		return fs_reply_err(req, errno, "statfs", NULL);
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	FsContext *ctx = userdata;

	/* Requests of up to 1 MiB, the kernel's FUSE_MAX_MAX_PAGES. */
	conn->max_write = 1u << 20;
	/* Readahead as large, if main() could raise the kernel's default
	 * (readahead.c): the kernel keeps the lower of the two. */
	conn->max_readahead = FS_READAHEAD;
	/* Large reads by splice from the backing file (splice.c). */
	fs_splice_init(conn);
	/* The mount owns the tree: pages stay cached across opens unless
	 * the file changed behind us (fs_inode_opened_cached), instead of
	 * being dropped whenever mtime moves, which our own writes do. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Version 1 of killpriv spares no round trip; version 2, which
	 * does, is negotiated past libfuse by killpriv.c. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/* Writeback caching would let the kernel reorder and merge our
	 * writes; see the man page. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* chattr and lsattr on directories too (fileattr.c). */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	/* POSIX ACLs, as on a local filesystem: the kernel enforces them
	 * (it only looked at the mode bits before) and caches them, so
	 * ls -l asks us for system.posix_acl_access once per inode instead
	 * of on every listing. The backing filesystem keeps them and
	 * updates the mode when they change. A default ACL replaces the
	 * umask, so the kernel must leave the umask to us (new_mode). */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		ctx->apply_umask = true;
	}
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
	/* No .flush: it had nothing to do (writes reach the backing before
	 * they are answered, and the kernel keeps POSIX locks itself), but
	 * cost every close(2) a round trip. The ENOSYS libfuse answers the
	 * first one with tells the kernel to send no more. */
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
	.ioctl = fs_op_ioctl,
};
