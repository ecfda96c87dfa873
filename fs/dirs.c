/* dirs: directory listings. Entries of the backing tree, less the state
 * directory; with -o views=visible, each regular file's F@@ after it and
 * the root's synthetic directories after "."; view directories list their
 * views (views.c), .snapshots and snapshots theirs (tree.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"
#include "orphans.h"
#include "reply.h"
#include "shm.h"
#include "tree.h"
#include "views.h"

typedef struct FsDir {
	DIR *dp;
	off_t pos;              /* where dp stands, as telldir() says */
	struct dirent *entry;   /* read but not yet replied */
	char **listed;          /* names still to list after the last entry
				 * (views=visible): "F@@" after F, the root's
				 * synthetic directories after "."; they share
				 * its offset */
	guint next;             /* the first of them not yet replied */
} FsDir;

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);
	struct stat st;
	FsDir *d;
	int fd;

	if (is_virtual(in)) {   /* a view directory: nothing to hold */
		fi->fh = 0;
		if (fs_tree_is(in))
			fs_tree_opendir(in, fi);
		if (fuse_reply_open(req, fi) == -ENOENT && fs_tree_is(in))
			fs_tree_closed(in);
		return;
	}
	fd = openat(fs_fd(in), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
	/* The kernel may cache the listing and keep it across opens: it
	 * drops it itself when the directory changes through the mount,
	 * and we tell it to when the directory changed behind the mount
	 * since the last open (its mtime moved). */
	fi->cache_readdir = 1;
	fi->keep_cache = fstat(fd, &st) == 0 && fs_inode_saw(in, &st);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		g_free(d);
	}
}

/* Does dir have no entry name (which would win over a synthetic one)? */
static bool absent(FsInode *dir, const char *name)
{
	return faccessat(fs_fd(dir), name, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
}

/* "F@@" to list after F with -o views=visible, unless the tree has a
 * file of that name, which wins and is listed on its own. */
static char **view_dir_name(FsInode *dir, const char *file)
{
	char *name = g_strconcat(file, "@@", NULL);
	char **names = g_new0(char *, 2);

	if (absent(dir, name))
		names[0] = name;
	else
		g_free(name);
	return names;
}

/* The synthetic directories the root lists with views=visible, each
 * while it serves something and the tree has no entry of its name. */
static char **root_names(FsContext *ctx, FsInode *root)
{
	const struct {
		const char *name;
		bool shown;
	} dirs[] = {
		{ FS_SHM_DIR_NAME, true },
		{ FS_TREE_DIR_NAME, fs_tree_listed(ctx) },
		{ FS_REMOVED_DIR, fs_orphans_any(ctx) },
	};
	g_autoptr(GStrvBuilder) names = g_strv_builder_new();

	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++)
		if (dirs[i].shown && absent(root, dirs[i].name))
			g_strv_builder_add(names, dirs[i].name);
	return g_strv_builder_end(names);
}

static void clear_listed(FsDir *d)
{
	g_clear_pointer(&d->listed, g_strfreev);
	d->next = 0;
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
		clear_listed(d);
		d->pos = off;
	}
	for (;;) {
		struct stat st = { 0 };
		FsInode *in = NULL;
		size_t n;

		if (d->listed && d->listed[d->next]) {
			/* No node: the kernel looks it up when used. Any
			 * inode number but 0, which reads as deleted. */
			struct fuse_entry_param e = { .ino = 0 };
			const char *name = d->listed[d->next];

			e.attr.st_ino = 1;
			e.attr.st_mode = S_IFDIR;
			n = plus ? fuse_add_direntry_plus(req, p, left, name,
							  &e, d->pos)
				 : fuse_add_direntry(req, p, left, name,
						     &e.attr, d->pos);
			if (n > left)
				break;
			p += n;
			left -= n;
			d->next++;
			continue;
		}
		clear_listed(d);
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
			int r = fs_inode_lookup_entry(ctx->inodes, dir,
						      d->entry->d_name, &st,
						      &in);

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
		if (ctx->views_visible && d->entry->d_type == DT_REG)
			d->listed = view_dir_name(dir, d->entry->d_name);
		else if (ctx->views_visible && ino == FUSE_ROOT_ID &&
			 !strcmp(d->entry->d_name, "."))
			d->listed = root_names(ctx, dir);
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

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);

	if (in->kind == FS_SHMDIR)
		return fs_shm_readdir(req, in, size, off, false);
	if (fs_tree_is(in))
		return fs_tree_readdir(req, in, size, off, false);
	if (is_virtual(in))
		return fs_views_readdir(req, in, size, off, false);
	readdir_common(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	FsInode *in = inode_of(req, ino);

	if (in->kind == FS_SHMDIR)
		return fs_shm_readdir(req, in, size, off, true);
	if (fs_tree_is(in))
		return fs_tree_readdir(req, in, size, off, true);
	if (is_virtual(in))
		return fs_views_readdir(req, in, size, off, true);
	readdir_common(req, ino, size, off, fi, true);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	FsDir *d = (FsDir *)(uintptr_t)fi->fh;
	FsInode *in = inode_of(req, ino);

	if (fs_tree_is(in))
		fs_tree_closed(in);
	if (d) {
		closedir(d->dp);
		g_strfreev(d->listed);
		g_free(d);
	}
	fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	FsDir *d = (FsDir *)(uintptr_t)fi->fh;
	int fd;

	(void)ino;
	fd = d ? dirfd(d->dp) : -1;
	if (fd >= 0 && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return fs_reply_err(req, errno, "fsyncdir", NULL);
	fuse_reply_err(req, 0);
}
