/* orphans: removed files kept for their snapshots. See orphans.h. */
#include "orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int fs_orphans_open(FsContext *ctx, int statedir_fd)
{
	if (mkdirat(statedir_fd, "orphans", 0700) < 0 && errno != EEXIST)
		return -errno;
	ctx->orphans = g_new0(FsInode, 1);
	ctx->orphans->kind = FS_REAL;
	ctx->orphans->type = S_IFDIR;
	ctx->orphans->fd = openat(statedir_fd, "orphans",
				  O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx->orphans->fd < 0) {
		int r = -errno;

		g_clear_pointer(&ctx->orphans, g_free);
		return r;
	}
	g_mutex_init(&ctx->orphans->lock);
	return 0;
}

void fs_orphans_close(FsContext *ctx)
{
	if (!ctx->orphans)
		return;
	close(ctx->orphans->fd);
	g_mutex_clear(&ctx->orphans->lock);
	g_clear_pointer(&ctx->orphans, g_free);
}

/* The orphan's name: the path name (in) has in the tree, escaped into
 * one component (hashed if that would be too long). */
static char *orphan_name(FsContext *ctx, FsInode *in, const char *name)
{
	char proc[FS_PROC_PATH_MAX];
	g_autofree char *target = NULL, *rel = NULL, *escaped = NULL;
	size_t n = strlen(ctx->backing);

	fs_inode_proc_path(in, proc);
	target = g_file_read_link(proc, NULL);
	if (!target || strncmp(target, ctx->backing, n) != 0)
		return NULL;
	rel = name ? g_build_filename(target + n, name, NULL)
		   : g_strdup(target + n);
	/* One spelling for both ways in: "a/b", never "/a/b". */
	memmove(rel, rel + strspn(rel, "/"), strlen(rel + strspn(rel, "/")) + 1);
	escaped = g_uri_escape_string(rel, NULL, TRUE);
	if (strlen(escaped) <= 200)
		return g_steal_pointer(&escaped);
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, rel, -1);
}

static bool has_entries(FsContext *ctx, ino_t ino)
{
	MfState *st;
	g_auto(GStrv) snaps = NULL, cows = NULL;

	if (mf_state_get(ctx->states, (uint64_t)ino, false, &st) < 0)
		return false;
	snaps = mf_state_snap_list(st);
	cows = mf_state_cow_list(st);
	mf_state_unref(st);
	return snaps[0] || cows[0];
}

int fs_orphans_keep(FsContext *ctx, FsInode *dir, const char *name)
{
	g_autofree char *orphan = NULL;
	struct stat st;

	if (!ctx->orphans ||
	    fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    !has_entries(ctx, st.st_ino))
		return 0;
	orphan = orphan_name(ctx, dir, name);
	if (!orphan)
		return -EIO;
	/* An older orphan of the same path gives way. */
	unlinkat(ctx->orphans->fd, orphan, 0);
	if (linkat(dir->fd, name, ctx->orphans->fd, orphan, 0) < 0) {
		int r = -errno;

		fs_log(LOG_WARNING, "cannot keep %s for its snapshots: %s", name,
		       strerror(-r));
		return r;
	}
	fs_log(LOG_INFO, "%s removed; its snapshots stay at %s@@/snap", name,
	       name);
	return 0;
}

int fs_orphans_find(FsContext *ctx, FsInode *dir, const char *name,
		    FsInode **ret)
{
	g_autofree char *orphan = ctx->orphans ? orphan_name(ctx, dir, name)
					       : NULL;
	struct stat st;

	if (!orphan)
		return -ENOENT;
	return fs_inode_find(ctx->inodes, ctx->orphans, orphan, &st, ret);
}

int fs_orphans_find_for(FsContext *ctx, FsInode *file, FsInode **ret)
{
	g_autofree char *orphan = ctx->orphans ? orphan_name(ctx, file, NULL)
					       : NULL;
	struct stat st;
	int r;

	if (!orphan)
		return -ENOENT;
	r = fs_inode_find(ctx->inodes, ctx->orphans, orphan, &st, ret);
	if (r == 0 && *ret == file) {   /* the file itself: no other */
		fs_inode_unref(ctx->inodes, *ret);
		r = -ENOENT;
	}
	return r;
}

void fs_orphans_release(FsContext *ctx, FsInode *base)
{
	int fd;
	DIR *d;
	struct dirent *de;

	if (!ctx->orphans || has_entries(ctx, base->ino))
		return;
	fd = openat(ctx->orphans->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_ino == base->ino && de->d_name[0] != '.')
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}
