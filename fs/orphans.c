/* orphans: removed files kept for their snapshots. See orphans.h. */
#include "orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

char *fs_orphans_key(FsContext *ctx, FsInode *dir, const char *name)
{
	char proc[FS_PROC_PATH_MAX];
	g_autofree char *target = NULL, *rel = NULL, *escaped = NULL;
	size_t n = strlen(ctx->backing);

	if (dir->kind != FS_REAL)
		return NULL;
	fs_inode_proc_path(dir, proc);
	target = g_file_read_link(proc, NULL);
	if (!target || strncmp(target, ctx->backing, n) != 0)
		return NULL;
	rel = g_build_filename(target + n, name, NULL);
	/* One spelling however the path was reached: "a/b", not "/a/b". */
	memmove(rel, rel + strspn(rel, "/"), strlen(rel + strspn(rel, "/")) + 1);
	/* '@' is escaped too, so it can end the key in a link's name. */
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
	g_autofree char *key = NULL, *link = NULL;
	struct stat st;

	if (!ctx->orphans ||
	    fstatat(fs_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    !has_entries(ctx, st.st_ino))
		return 0;
	key = fs_orphans_key(ctx, dir, name);
	if (!key)
		return -EIO;
	/* KEY@INO: every file removed from one path keeps its own. */
	link = g_strdup_printf("%s@%" PRIu64, key, (uint64_t)st.st_ino);
	if (linkat(fs_fd(dir), name, ctx->orphans->fd, link, 0) < 0 &&
	    errno != EEXIST) {
		int r = -errno;

		fs_log(LOG_WARNING, "cannot keep %s for its snapshots: %s", name,
		       strerror(-r));
		return r;
	}
	fs_log(LOG_INFO, "%s removed; its snapshots stay at %s@@/snap", name,
	       name);
	return 0;
}

/* Call fn(name, arg) for every link in the orphans directory; stop when
 * it returns true. */
static void each_link(FsContext *ctx, bool (*fn)(const char *, ino_t, void *),
		      void *arg)
{
	int fd = openat(ctx->orphans->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && fn(de->d_name, de->d_ino, arg))
			break;
	closedir(d);
}

typedef struct Collect {
	FsContext *ctx;
	const char *key;
	GPtrArray *found;
} Collect;

static bool collect(const char *name, ino_t ino, void *arg)
{
	Collect *c = arg;
	size_t n = strlen(c->key);
	struct stat st;
	FsInode *in;

	(void)ino;
	if (strncmp(name, c->key, n) == 0 && name[n] == '@' &&
	    fs_inode_find(c->ctx->inodes, c->ctx->orphans, name, &st, &in) == 0)
		g_ptr_array_add(c->found, in);
	return false;
}

GPtrArray *fs_orphans_list(FsContext *ctx, const char *key)
{
	Collect c = { ctx, key, g_ptr_array_new() };

	if (ctx->orphans && key)
		each_link(ctx, collect, &c);
	return c.found;
}

void fs_orphans_unref_all(FsContext *ctx, GPtrArray *orphans)
{
	for (guint i = 0; i < orphans->len; i++)
		fs_inode_unref(ctx->inodes, orphans->pdata[i]);
	g_ptr_array_free(orphans, TRUE);
}

typedef struct Unlink {
	FsContext *ctx;
	ino_t ino;
} Unlink;

static bool unlink_link(const char *name, ino_t ino, void *arg)
{
	Unlink *u = arg;

	if (ino == u->ino)
		unlinkat(u->ctx->orphans->fd, name, 0);
	return false;
}

void fs_orphans_release(FsContext *ctx, FsInode *base)
{
	Unlink u = { ctx, base->ino };
	MfState *st;

	if (!ctx->orphans || base->kind != FS_REAL || has_entries(ctx, base->ino))
		return;
	each_link(ctx, unlink_link, &u);
	/* If that was its last link, its inode number may be reused: the
	 * record must not outlive it. */
	if (base->type == S_IFREG && mf_state_get(ctx->states,
						  (uint64_t)base->ino, false,
						  &st) == 0) {
		struct stat now;

		if (fstatat(fs_fd(base), "", &now, AT_EMPTY_PATH) == 0 &&
		    now.st_nlink == 0)
			mf_state_purge(st);
		mf_state_unref(st);
	}
}
