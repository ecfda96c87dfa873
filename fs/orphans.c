/* orphans: removed files kept for their snapshots. See orphans.h. */
#include "orphans.h"
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The inode numbers of the orphans, for fs_orphans_is_removed() without
 * a walk of the directory: filled when it opens, kept by keep and release. */
static GMutex kept_lock;
static GHashTable *kept;        /* ino (gint64*) -> itself */

static void note_kept(ino_t ino, bool add)
{
	gint64 key = (gint64)ino;

	g_mutex_lock(&kept_lock);
	if (add)
		g_hash_table_add(kept, g_memdup2(&key, sizeof(key)));
	else
		g_hash_table_remove(kept, &key);
	g_mutex_unlock(&kept_lock);
}

static bool has_entries(FsContext *ctx, int fd);

/* At the start: note each orphan, and let go of those left with nothing
 * (their last entry went while the daemon stopped: deleted while open). */
static bool note_link(const char *name, ino_t ino, void *arg)
{
	FsContext *ctx = arg;
	int fd = openat(ctx->orphans->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	MfState *st;

	if (fd >= 0 && !has_entries(ctx, fd)) {
		if (mf_state_get(ctx->states, fd, false, &st) == 0) {
			mf_state_purge(st);
			mf_state_unref(st);
		}
		unlinkat(ctx->orphans->fd, name, 0);
	} else {
		note_kept(ino, true);
	}
	if (fd >= 0)
		close(fd);
	return false;
}


static void each_link(FsContext *ctx, bool (*fn)(const char *, ino_t, void *),
		      void *arg);

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
	kept = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	each_link(ctx, note_link, ctx);
	return 0;
}

void fs_orphans_close(FsContext *ctx)
{
	if (!ctx->orphans)
		return;
	close(ctx->orphans->fd);
	g_mutex_clear(&ctx->orphans->lock);
	g_clear_pointer(&kept, g_hash_table_destroy);
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

/* Has the file fd snapshots or private views (deleted ones still open
 * count: they read through the file)? Tree snapshots' hidden entries do
 * not: those keep the file alive themselves (trees/kept). */
static bool has_entries(FsContext *ctx, int fd)
{
	MfState *st;
	bool any;

	if (mf_state_get(ctx->states, fd, false, &st) < 0)
		return false;
	any = mf_state_has_named(st);
	mf_state_unref(st);
	return any;
}

int fs_orphans_keep(FsContext *ctx, FsInode *dir, const char *name)
{
	g_autofree char *key = NULL, *link = NULL;
	struct stat st;
	bool keep;
	int fd;

	if (!ctx->orphans ||
	    fstatat(fs_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_nlink > 2)
		return 0;
	if (!mf_state_may_exist(ctx->states, (uint64_t)st.st_ino))
		return 0;
	fd = openat(fs_fd(dir), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	/* Its last name: tree snapshots' link to it (tree.h) is none. */
	keep = fd >= 0 && st.st_nlink - fs_tree_links(ctx, fd) == 1 &&
	       has_entries(ctx, fd);
	if (fd >= 0)
		close(fd);
	if (!keep)
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
	note_kept(st.st_ino, true);
	fs_log(LOG_INFO, "%s removed; its snapshots stay at %s@@/snap and "
	       "%s/%s@%" PRIu64 "@@/snap", name, name, FS_REMOVED_DIR, key,
	       (uint64_t)st.st_ino);
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

	if (ino == u->ino && unlinkat(u->ctx->orphans->fd, name, 0) == 0)
		note_kept(ino, false);
	return false;
}

void fs_orphans_returned(FsContext *ctx, FsInode *base)
{
	Unlink u = { ctx, base->ino };

	if (ctx->orphans)
		each_link(ctx, unlink_link, &u);
}

void fs_orphans_release(FsContext *ctx, FsInode *base)
{
	Unlink u = { ctx, base->ino };
	MfState *st;

	if (!ctx->orphans || base->kind != FS_REAL || has_entries(ctx, fs_fd(base)))
		return;
	each_link(ctx, unlink_link, &u);
	/* If that was its last link, its inode number may be reused: the
	 * record must not outlive it. */
	if (base->type == S_IFREG &&
	    fs_inode_state(ctx, base, false, &st) == 0) {
		struct stat now;

		if (fstatat(fs_fd(base), "", &now, AT_EMPTY_PATH) == 0 &&
		    now.st_nlink == 0)
			mf_state_purge(st);
		mf_state_unref(st);
	}
}

bool fs_orphans_any(FsContext *ctx)
{
	bool any;

	if (!ctx->orphans)
		return false;
	g_mutex_lock(&kept_lock);
	any = g_hash_table_size(kept) > 0;
	g_mutex_unlock(&kept_lock);
	return any;
}

bool fs_orphans_is_removed(FsContext *ctx, FsInode *base)
{
	gint64 key = (gint64)base->ino;
	struct stat st;
	bool in;

	if (!ctx->orphans || base->kind != FS_REAL)
		return false;
	g_mutex_lock(&kept_lock);
	in = kept && g_hash_table_contains(kept, &key);
	g_mutex_unlock(&kept_lock);
	/* Kept, and that link is its last one (not a removal that failed
	 * after the link was made). */
	return in && fstatat(fs_fd(base), "", &st, AT_EMPTY_PATH) == 0 &&
	       st.st_nlink - fs_tree_links(ctx, fs_fd(base)) <= 1;
}

static bool add_name(const char *name, ino_t ino, void *arg)
{
	(void)ino;
	g_ptr_array_add(arg, g_strconcat(name, "@@", NULL));
	return false;
}

char **fs_orphans_names(FsContext *ctx)
{
	GPtrArray *names = g_ptr_array_new();

	if (ctx->orphans)
		each_link(ctx, add_name, names);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

bool fs_orphans_was_at(FsContext *ctx, FsInode *base, const char *key)
{
	g_autofree char *link = NULL;
	struct stat st;

	if (!ctx->orphans || !key)
		return false;
	link = g_strdup_printf("%s@%" PRIu64, key, (uint64_t)base->ino);
	return fstatat(ctx->orphans->fd, link, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_ino == base->ino && st.st_dev == base->dev;
}

int fs_orphans_find(FsContext *ctx, const char *name, FsInode **ret)
{
	g_autofree char *link = NULL;
	size_t n = strlen(name);
	struct stat st;
	int r;

	/* KEY@INO@@: a link name, which has no '/' and is no dot name. */
	if (!ctx->orphans || n < 3 || strcmp(name + n - 2, "@@") != 0 ||
	    name[0] == '.' || strchr(name, '/'))
		return -ENOENT;
	link = g_strndup(name, n - 2);
	r = fs_inode_find(ctx->inodes, ctx->orphans, link, &st, ret);
	if (r == 0 && !S_ISREG(st.st_mode)) {
		fs_inode_unref(ctx->inodes, *ret);
		r = -ENOENT;
	}
	return r;
}
