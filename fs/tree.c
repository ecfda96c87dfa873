/* tree: whole-tree snapshots through the mount: .snapshots, the
 * read-only trees under it, and the change hooks. See tree.h; the diff
 * attribute is in treediff.c.
 */
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mf-tree.h"
#include "ops.h"
#include "reply.h"
#include "treediff.h"
#include "treeviews.h"
#include "views.h"

/* BACKING, opened O_RDONLY for open_by_handle_at: the engine's. */
static int mount_fd = -1;

int fs_tree_open(FsContext *ctx, int statedir_fd, bool sync)
{
	struct stat sd;
	int r;

	if (fstat(statedir_fd, &sd) < 0)
		return -errno;
	mount_fd = open(ctx->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mount_fd < 0)
		return -errno;
	r = mf_tree_open(statedir_fd, mount_fd, ctx->root_fd, ctx->states,
			 ctx->cache, sync, sd.st_dev, sd.st_ino, &ctx->tree);
	if (r == -EOPNOTSUPP) {
		fs_log(LOG_NOTICE, "%s has no file handles: no tree snapshots "
		       "(.snapshots) on this mount", ctx->backing);
		ctx->tree = NULL;
		r = 0;
	}
	if (r < 0 || !ctx->tree) {
		close(mount_fd);
		mount_fd = -1;
	}
	return r;
}

void fs_tree_close(FsContext *ctx)
{
	if (ctx->tree)
		mf_tree_free(ctx->tree);
	ctx->tree = NULL;
	if (mount_fd >= 0)
		close(mount_fd);
	mount_fd = -1;
}

/* ------------------------------------------------------------------ */
/* Changes through the mount                                           */

/* The engine's lock is shared and prefers the taker: a thread that took
 * it twice could wait behind a taker that waits for it. */
static __thread unsigned change_depth;

void fs_tree_begin(FsContext *ctx)
{
	if (ctx->tree && change_depth++ == 0)
		mf_tree_change_begin(ctx->tree);
}

void fs_tree_end(FsContext *ctx)
{
	if (ctx->tree && --change_depth == 0)
		mf_tree_change_end(ctx->tree);
}

/* Is in an object of the tree snapshots see (not .shm, not virtual)? */
static bool in_tree(FsContext *ctx, const FsInode *in)
{
	return ctx->tree && in->kind == FS_REAL && !in->shm;
}

int fs_tree_keep(FsContext *ctx, FsInode *in, MfBacking *b)
{
	MfBacking *held = NULL;
	int r;

	/* No snapshot: nothing to keep, and no descriptor to look up (or
	 * reopen) on every write. */
	if (!in_tree(ctx, in) || !mf_tree_active(ctx->tree))
		return 0;
	/* A file open before its state existed gets the chain attached
	 * here: its writes go through that backing. */
	if (!b && in->type == S_IFREG) {
		g_mutex_lock(&in->lock);
		if (in->backing)
			held = b = mf_backing_ref(in->backing);
		g_mutex_unlock(&in->lock);
	}
	r = mf_tree_keep(ctx->tree, (uint64_t)in->ino, fs_fd(in), b);
	if (held)
		mf_backing_unref(held);
	if (r < 0)
		fs_log(LOG_WARNING, "keeping an object for tree snapshots: %s; "
		       "the change is refused", strerror(-r));
	return r;
}

int fs_tree_change(FsContext *ctx, FsInode *in, MfBacking *b)
{
	int r;

	fs_tree_begin(ctx);
	r = fs_tree_keep(ctx, in, b);
	if (r < 0)
		fs_tree_end(ctx);
	return r;
}

int fs_tree_keep_at(FsContext *ctx, FsInode *dir, const char *name)
{
	struct stat st;
	FsInode *in;
	int r;

	if (!in_tree(ctx, dir))
		return 0;
	r = fs_inode_find(ctx->inodes, dir, name, &st, &in);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = fs_tree_keep(ctx, in, NULL);
	fs_inode_unref(ctx->inodes, in);
	return r;
}

int fs_tree_keep_removed(FsContext *ctx, FsInode *dir, const char *name)
{
	int r;

	if (!in_tree(ctx, dir))
		return 0;
	r = mf_tree_keep_removed(ctx->tree, fs_fd(dir), name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		fs_log(LOG_WARNING, "keeping %s for tree snapshots: %s; the "
		       "change is refused", name, strerror(-r));
	return r;
}

unsigned fs_tree_links(FsContext *ctx, int fd)
{
	return ctx->tree ? mf_tree_links(ctx->tree, fd) : 0;
}

/* ------------------------------------------------------------------ */
/* .snapshots                                                          */

bool fs_tree_is_dir_name(FsContext *ctx, FsInode *parent, const char *name)
{
	return ctx->tree && parent == fs_inode_get(ctx->inodes, FUSE_ROOT_ID) &&
	       strcmp(name, FS_TREE_DIR_NAME) == 0;
}

bool fs_tree_listed(FsContext *ctx)
{
	return ctx->tree != NULL;
}

/* Attributes of .snapshots: the root's owner, who may take snapshots. */
static int dir_stat(FsContext *ctx, FsInode *dir, struct stat *st)
{
	if (fstat(ctx->root_fd, st) < 0)
		return -errno;
	st->st_ino = dir->vino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_size = 0;
	st->st_blocks = 0;
	return 0;
}

void fs_tree_lookup_dir(fuse_req_t req)
{
	FsContext *ctx = ctx_of(req);
	FsInode *root = fs_inode_get(ctx->inodes, FUSE_ROOT_ID);
	FsInode *dir = fs_inode_view(ctx->inodes, root, FS_TREEDIR, NULL, NULL);
	struct stat st;
	int r = dir_stat(ctx, dir, &st);

	if (r < 0) {
		fs_inode_forget(ctx->inodes, dir, 1);
		return fs_reply_err(req, -r, "lookup", FS_TREE_DIR_NAME);
	}
	/* Cached, as every name on the way into a snapshot: each path
	 * looked up walks them (ls -lR of a snapshot paid five round trips
	 * a file). Its listing is read afresh at each opendir. */
	fs_reply_entry(req, dir, &st, ctx->timeout);
}

/* The name and info of the snapshot numbered seq; NULL if it is gone. */
static char *snap_of_seq(FsContext *ctx, uint64_t seq, MfTreeSnapInfo *info)
{
	g_auto(GStrv) names = mf_tree_snap_list(ctx->tree);

	for (char **n = names; n && *n; n++)
		if (mf_tree_snap_info(ctx->tree, *n, info) == 0 &&
		    info->seq == seq)
			return g_strdup(*n);
	return NULL;
}

char *fs_tree_snap_name(FsContext *ctx, FsInode *in)
{
	MfTreeSnapInfo info;

	if (in->kind != FS_TREE || !in->entry_id)
		return NULL;
	return snap_of_seq(ctx, in->entry_id, &info);
}

/* Inode numbers in snapshots: the object's, made distinct from the live
 * tree's (below 2^62), from .shm's and views' (top bits 01 and 10), and
 * from other snapshots' (mixed with the snapshot's seq: a bijection
 * within one), so that cp -a, tar, find and du never take a snapshot's
 * object for a hard link of a live one, nor a snapshot's root for the
 * mount's (a directory loop). Hard links within a snapshot stay equal. */
#define TREE_INO_BASE (UINT64_C(3) << 62)

static ino_t tree_ino(const MfTreeNode *n, uint64_t ino)
{
	/* mf_tree_node_id(): "SEQ:KEY". */
	uint64_t seq = g_ascii_strtoull(mf_tree_node_id(n), NULL, 10);

	return (ino_t)(TREE_INO_BASE |
		       ((ino ^ (seq * UINT64_C(0x9E3779B97F4A7C15))) &
			((UINT64_C(1) << 62) - 1)));
}

/* How long the kernel may keep a tree inode's entry and attributes.
 * Nothing in a snapshot changes, so a year, as if for ever: a second
 * ls -lR of a snapshot is then answered by the kernel as the live tree's
 * is. A snapshot's root keeps the mount's timeout: its snapshot may go
 * (rmdir through the kernel drops its entry, but its attributes are the
 * snapshot's). -o timeout=0 asks for no caching at all: none here
 * either. */
#define TREE_TIMEOUT (365.0 * 24 * 3600)

static double tree_timeout(FsContext *ctx, const FsInode *in)
{
	return in->kind == FS_TREE && !in->entry_id && ctx->timeout > 0
		       ? TREE_TIMEOUT
		       : ctx->timeout;
}

/* Attributes of a tree inode. A snapshot's root shows as a read-only
 * directory with the time it was taken. */
static int tree_stat(FsContext *ctx, FsInode *in, struct stat *st)
{
	MfTreeSnapInfo info;
	g_autofree char *name = NULL;
	int r;

	if (fs_treeviews_is(in))
		return fs_treeviews_stat(ctx, in, st);
	if (in->kind == FS_TREEDIR)
		return dir_stat(ctx, in, st);
	r = mf_tree_stat(ctx->tree, in->tree_node, st);
	if (r == 0)
		st->st_ino = tree_ino(in->tree_node, st->st_ino);
	if (r < 0 || !in->entry_id)
		return r;
	name = snap_of_seq(ctx, in->entry_id, &info);
	if (!name)
		return -ENOENT;
	st->st_mode = S_IFDIR | 0555;
	st->st_mtim = st->st_ctim = st->st_atim = info.taken;
	return 0;
}

void fs_tree_getattr(fuse_req_t req, FsInode *in)
{
	FsContext *ctx = ctx_of(req);
	struct stat st;
	int r = tree_stat(ctx, in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "getattr", "in .snapshots");
	/* A snapshot never changes; rmdir and mv of one go through the
	 * kernel, which updates its entries itself. */
	fuse_reply_attr(req, &st, tree_timeout(ctx, in));
}

/* The inode of node (a snapshot's root when seq is not 0), with one
 * lookup, and its attributes. Takes the reference to node. Returns 0 or
 * -errno. */
static int node_inode(FsContext *ctx, MfTreeNode *node, uint64_t seq,
		      struct stat *st, FsInode **ret)
{
	int r = mf_tree_stat(ctx->tree, node, st);

	if (r < 0) {
		mf_tree_node_unref(node);
		return r;
	}
	*ret = fs_inode_tree(ctx->inodes, node, st->st_mode, seq);
	mf_tree_node_unref(node);
	r = tree_stat(ctx, *ret, st);
	if (r < 0)
		fs_inode_forget(ctx->inodes, *ret, 1);
	return r;
}

/* Reply the entry of node (a snapshot's root when seq is not 0). */
static void reply_node(fuse_req_t req, MfTreeNode *node, uint64_t seq,
		       const char *op, const char *name)
{
	FsContext *ctx = ctx_of(req);
	struct stat st;
	FsInode *in;
	int r = node_inode(ctx, node, seq, &st, &in);

	if (r < 0)
		return fs_reply_err(req, -r, op, name);
	fs_reply_entry_for(req, in, &st, tree_timeout(ctx, in),
			   tree_timeout(ctx, in));
}

static void lookup_snap(fuse_req_t req, const char *name, const char *op)
{
	FsContext *ctx = ctx_of(req);
	MfTreeSnapInfo info;
	MfTreeNode *node;
	int r = mf_tree_snap_info(ctx->tree, name, &info);

	if (r == 0)
		r = mf_tree_root(ctx->tree, name, &node);
	if (r < 0)
		return fs_reply_err(req, -r, op, name);
	reply_node(req, node, info.seq, op, name);
}

void fs_tree_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	MfTreeNode *node;
	int r;

	if (dir->kind == FS_TREEDIR)
		return lookup_snap(req, name, "lookup");
	if (fs_treeviews_is(dir))
		return fs_treeviews_lookup(req, dir, name);
	r = mf_tree_lookup(ctx_of(req)->tree, dir->tree_node, name, &node);
	/* A name of the snapshot wins over F@@, as live. */
	if ((r == -ENOENT || r == -ENAMETOOLONG) && fs_views_is_dir_name(name))
		return fs_treeviews_lookup_dir(req, dir, name);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	reply_node(req, node, 0, "lookup", name);
}

/* ------------------------------------------------------------------ */
/* Listings                                                            */

typedef struct Listing {
	fuse_req_t req;
	MfTreeNode *dir;        /* whose entries, if a snapshot's directory */
	GArray *later;          /* readdirplus: Pending entries to add once
				 * mf_tree_readdir() returns, which holds the
				 * tree's lock while it calls back */
	size_t later_size;      /* what they will take at least */
	char *p;
	size_t left;
	bool plus;
	bool full;
} Listing;

/* Add one entry; false (and nothing added) when it does not fit. Plus
 * entries carry no node: the kernel looks them up when used. */
static bool add_entry(Listing *l, const char *name, mode_t type,
		      uint64_t ino, off_t next)
{
	struct fuse_entry_param e = { .ino = 0 };
	size_t n;

	/* d_ino 0 would read as a deleted entry. */
	e.attr.st_ino = ino ? (ino_t)ino : 1;
	e.attr.st_mode = type;
	n = l->plus ? fuse_add_direntry_plus(l->req, l->p, l->left, name, &e,
					     next)
		    : fuse_add_direntry(l->req, l->p, l->left, name, &e.attr,
					next);
	if (n > l->left) {
		l->full = true;
		return false;
	}
	l->p += n;
	l->left -= n;
	return true;
}

/* A readdirplus entry with its node and attributes, as the live tree's
 * are: ls -l then costs no lookup per entry. False when it does not fit;
 * an entry gone meanwhile (its snapshot deleted) is left out. */
static bool add_plus_entry(Listing *l, const char *name, off_t next)
{
	FsContext *ctx = ctx_of(l->req);
	struct fuse_entry_param e;
	MfTreeNode *node;
	FsInode *in;
	size_t n;

	memset(&e, 0, sizeof(e));
	if (mf_tree_lookup(ctx->tree, l->dir, name, &node) < 0 ||
	    node_inode(ctx, node, 0, &e.attr, &in) < 0)
		return true;
	e.ino = (uintptr_t)in;
	e.attr_timeout = tree_timeout(ctx, in);
	e.entry_timeout = tree_timeout(ctx, in);
	n = fuse_add_direntry_plus(l->req, l->p, l->left, name, &e, next);
	if (n > l->left) {
		/* No room: give back the lookup it would have cost. */
		fs_inode_forget(ctx->inodes, in, 1);
		l->full = true;
		return false;
	}
	l->p += n;
	l->left -= n;
	return true;
}

typedef struct Pending {
	char *name;
	off_t next;
} Pending;

/* "." and ".." are at offsets 0 and 1, entry k at k + 2. */
static int add_node_entry(const char *name, unsigned char type, uint64_t ino,
			  uint64_t next, void *arg)
{
	Listing *l = arg;
	Pending p;

	if (!l->plus)
		return !add_entry(l, name, DTTOIF(type), tree_ino(l->dir, ino),
				  (off_t)next + 2);
	/* With a NULL buffer: the room the entry takes. */
	l->later_size += fuse_add_direntry_plus(l->req, NULL, 0, name, NULL, 0);
	if (l->later_size > l->left)
		return 1;
	p = (Pending){ g_strdup(name), (off_t)next + 2 };
	g_array_append_val(l->later, p);
	return 0;
}

static void add_later(Listing *l)
{
	for (guint i = 0; i < l->later->len; i++) {
		Pending *p = &g_array_index(l->later, Pending, i);

		if (!l->full)
			add_plus_entry(l, p->name, p->next);
		g_free(p->name);
	}
	g_array_free(l->later, TRUE);
}

/* The listing of .snapshots or of a snapshot's directory. */
static void list_dir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		     bool plus)
{
	FsContext *ctx = ctx_of(req);
	char *buf = g_malloc(size);
	Listing l = { .req = req, .dir = in->tree_node, .p = buf, .left = size,
		      .plus = plus,
		      .later = g_array_new(FALSE, FALSE, sizeof(Pending)) };
	g_auto(GStrv) names = NULL;
	struct stat st = { .st_ino = 1 };
	int r = 0;

	if (off < 2)
		r = tree_stat(ctx, in, &st);
	if (r == 0 && off == 0 && add_entry(&l, ".", S_IFDIR, st.st_ino, 1))
		off = 1;
	if (r == 0 && off == 1 && add_entry(&l, "..", S_IFDIR, st.st_ino, 2))
		off = 2;
	if (r == 0 && !l.full && in->kind == FS_TREE)
		r = mf_tree_readdir(ctx->tree, in->tree_node,
				    (uint64_t)off - 2, add_node_entry, &l);
	add_later(&l);
	if (r == 0 && !l.full && in->kind == FS_TREEDIR) {
		names = mf_tree_snap_list(ctx->tree);
		for (off_t i = off - 2; names && i < (off_t)g_strv_length(names);
		     i++)
			if (!add_entry(&l, names[i], S_IFDIR, in->vino, i + 3))
				break;
	}
	/* An error after some entries is reported on the next call. */
	if (r < 0 && l.p == buf) {
		g_free(buf);
		return fs_reply_err(req, -r, "readdir", "in .snapshots");
	}
	fuse_reply_buf(req, buf, (size_t)(l.p - buf));
	g_free(buf);
}

void fs_tree_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		     bool plus)
{
	/* F@@ in a snapshot lists as live ones do, its own names. */
	if (fs_treeviews_is(in))
		return fs_views_readdir(req, in, size, off, plus);
	list_dir(req, in, size, off, plus);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

void fs_tree_readlink(fuse_req_t req, FsInode *in)
{
	char buf[PATH_MAX + 1];
	ssize_t n = in->kind == FS_TREE
			    ? mf_tree_readlink(ctx_of(req)->tree, in->tree_node,
					       buf, sizeof(buf))
			    : -EINVAL;

	if (n < 0)
		return fs_reply_err(req, (int)-n, "readlink", "in .snapshots");
	fuse_reply_readlink(req, buf);
}

void fs_tree_opendir(FsInode *in, struct fuse_file_info *fi)
{
	/* A snapshot's listing never changes: the kernel may keep it
	 * across opens, as it keeps an unchanged live directory's (else
	 * every readdirplus would also drop the ACLs it caches of each
	 * entry, and ls -l ask for them again). .snapshots' changes. */
	if (in->kind == FS_TREE)
		fi->cache_readdir = fi->keep_cache = 1;
	fs_tree_opened(in);
}

/* Opens of a snapshot's file and of its views count on the file: its
 * views read through its node. */
void fs_tree_opened(FsInode *in)
{
	if (fs_treeviews_is(in))
		in = in->base;
	g_mutex_lock(&in->lock);
	in->opens++;
	g_mutex_unlock(&in->lock);
}

void fs_tree_closed(FsInode *in)
{
	bool last;

	if (fs_treeviews_is(in))
		in = in->base;
	g_mutex_lock(&in->lock);
	last = --in->opens == 0;
	g_mutex_unlock(&in->lock);
	/* A node held only by the kernel's inode cache costs nothing. */
	if (last && in->tree_node)
		mf_tree_node_close(in->tree_node);
}

void fs_tree_release(FsInode *in, struct fuse_file_info *fi)
{
	MfState *st = (MfState *)(uintptr_t)fi->fh;

	if (st)
		mf_state_entry_close(st, in->entry_id);
	fs_tree_closed(in);
}

void fs_tree_open_file(fuse_req_t req, FsInode *in, struct fuse_file_info *fi)
{
	MfState *st;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return fs_tree_refuse(req, in, "open for writing");
	/* What a snapshot holds never changes: the kernel may keep it. */
	fi->keep_cache = 1;
	fi->fh = 0;
	fs_tree_opened(in);
	/* A file snapshot's view holds its entry, as live (viewio.c). The
	 * state that holds it is kept for the release: the tree snapshot,
	 * through which its file's state is found, may be gone by then. */
	if (fs_treeviews_is(in)) {
		r = fs_views_pin(ctx_of(req), in, &st);
		if (r < 0) {
			fs_tree_closed(in);
			return fs_reply_err(req, -r, "open", "view in .snapshots");
		}
		fi->fh = (uintptr_t)st;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_tree_release(in, fi);        /* interrupted */
}

void fs_tree_read(fuse_req_t req, FsInode *in, size_t size, off_t off)
{
	char *buf;
	ssize_t n;

	if (fs_treeviews_is(in))
		return fs_treeviews_read(req, in, size, off);
	buf = g_malloc(size ? size : 1);
	n = mf_tree_read(ctx_of(req)->tree, in->tree_node, (uint64_t)off, buf,
			 size);
	if (n < 0)
		fs_reply_err(req, (int)-n, "read", "in .snapshots");
	else
		fuse_reply_buf(req, buf, (size_t)n);
	g_free(buf);
}

/* No holes are reported: all of a snapshot's file is data. */
void fs_tree_lseek(fuse_req_t req, FsInode *in, off_t off, int whence)
{
	struct stat st;
	int r = tree_stat(ctx_of(req), in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "lseek", "in .snapshots");
	if (off >= st.st_size)
		return fs_reply_err(req, ENXIO, "lseek", "in .snapshots");
	fuse_reply_lseek(req, whence == SEEK_DATA ? off : st.st_size);
}

void fs_tree_getxattr(fuse_req_t req, FsInode *in, const char *name,
		      size_t size)
{
	FsContext *ctx = ctx_of(req);
	char *value = NULL;
	ssize_t n;

	if (fs_tree_is_diff_xattr(name))
		return fs_tree_diff_reply(req, in, name, size);
	if (fs_treeviews_is(in))        /* user.mapfs.*, as live */
		return fs_views_getxattr(req, in, name, size);
	if (in->kind != FS_TREE)        /* .snapshots */
		return fs_reply_err(req, ENODATA, "getxattr", name);
	if (size)
		value = g_malloc(size);
	n = mf_tree_getxattr(ctx->tree, in->tree_node, name, value, size);
	if (n < 0)
		fs_reply_err(req, (int)-n, "getxattr", name);
	else
		fs_reply_xattr(req, value, (size_t)n, size);
	g_free(value);
}

void fs_tree_listxattr(fuse_req_t req, FsInode *in, size_t size)
{
	FsContext *ctx = ctx_of(req);
	char *list = NULL;
	ssize_t n;

	/* user.mapfs.diff is not listed: cp -a and rsync -X would copy it. */
	if (fs_treeviews_is(in))
		return fs_views_listxattr(req, in, size);
	if (in->kind != FS_TREE)
		return fs_reply_xattr(req, "", 0, size);
	if (size)
		list = g_malloc(size);
	n = mf_tree_listxattr(ctx->tree, in->tree_node, list, size);
	if (n < 0)
		fs_reply_err(req, (int)-n, "listxattr", NULL);
	else
		fs_reply_xattr(req, list, (size_t)n, size);
	g_free(list);
}

/* ------------------------------------------------------------------ */
/* Taking, deleting and renaming snapshots                             */

static const char bad_name[] =
	"a snapshot name is not empty, has no '/' or ':', does not start "
	"with '.', and has at most 255 bytes";

void fs_tree_mkdir(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	int r;

	if (dir->kind != FS_TREEDIR)
		return fs_tree_refuse(req, dir, "mkdir");
	r = mf_tree_snap_create(ctx->tree, name);
	if (r == -EINVAL || r == -ENAMETOOLONG || r == -EEXIST) {
		fs_log(LOG_NOTICE, "mkdir %s/%s: %s", FS_TREE_DIR_NAME, name,
		       r == -EEXIST ? "a snapshot of that name exists" : bad_name);
		return (void)fuse_reply_err(req, -r);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "mkdir", name);
	fs_log(LOG_INFO, "tree snapshot %s taken", name);
	lookup_snap(req, name, "mkdir");
}

void fs_tree_rmdir(fuse_req_t req, FsInode *dir, const char *name)
{
	int r;

	if (dir->kind != FS_TREEDIR)
		return fs_tree_refuse(req, dir, "rmdir");
	r = mf_tree_snap_delete(ctx_of(req)->tree, name);
	if (r < 0)
		return fs_reply_err(req, -r, "rmdir", name);
	fs_log(LOG_INFO, "tree snapshot %s deleted", name);
	fuse_reply_err(req, 0);
}

void fs_tree_rename(fuse_req_t req, FsInode *from, const char *name,
		    FsInode *to, const char *newname, unsigned flags)
{
	int r;

	/* Anything inside a snapshot, or involving one's views. */
	if ((fs_tree_is(from) && from->kind != FS_TREEDIR) ||
	    (fs_tree_is(to) && to->kind != FS_TREEDIR))
		return fs_tree_refuse(req, from->kind != FS_TREEDIR ? from : to,
				      "rename");
	if (from != to) {
		/* Into or out of .snapshots: EPERM rather than EXDEV, which
		 * would have mv copy a tree into .snapshots (taking a
		 * snapshot on its way) or out of it. */
		fs_log(LOG_NOTICE, "rename %s: snapshots are renamed only "
		       "within %s", name, FS_TREE_DIR_NAME);
		return (void)fuse_reply_err(req, EPERM);
	}
	if (flags & ~RENAME_NOREPLACE) {
		fs_log(LOG_NOTICE, "rename %s: snapshots cannot be exchanged",
		       name);
		return (void)fuse_reply_err(req, EINVAL);
	}
	r = mf_tree_snap_rename(ctx_of(req)->tree, name, newname);
	if (r == -EINVAL || r == -ENAMETOOLONG || r == -EEXIST) {
		fs_log(LOG_NOTICE, "rename %s to %s: %s", name, newname,
		       r == -EEXIST ? "a snapshot of that name exists"
				    : bad_name);
		return (void)fuse_reply_err(req, -r);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "rename", name);
	fs_log(LOG_INFO, "tree snapshot %s renamed %s", name, newname);
	fuse_reply_err(req, 0);
}

void fs_tree_refuse(fuse_req_t req, FsInode *in, const char *op)
{
	if (in->kind == FS_TREEDIR) {
		fs_log(LOG_NOTICE, "%s in %s: it holds only snapshots (mkdir, "
		       "rmdir, mv)", op, FS_TREE_DIR_NAME);
		return (void)fuse_reply_err(req, EPERM);
	}
	fs_log(LOG_NOTICE, "%s in %s: snapshots are read-only", op,
	       FS_TREE_DIR_NAME);
	fuse_reply_err(req, EROFS);
}
