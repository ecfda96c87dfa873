/* rollback: rolling a file back to a snapshot through rename, and the
 * changed ranges of a snapshot as an attribute. See rollback.h.
 *
 * A rollback runs as a files-lane job (notify.h), as a commit does: the
 * file's kernel pages are dropped (dirty ones written back first), the
 * snapshot's pages are written back under the backing's resize lock, the
 * pages are dropped again with the ro views' (aliases.h), and only then is
 * the rename answered.
 */
#include "rollback.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "log.h"
#include "mf-rollback.h"
#include "notify.h"
#include "orphans.h"
#include "ops.h"
#include "reply.h"
#include "tree.h"
#include "views.h"

#define CHANGED_XATTR "user.mapfs.changed"
#define CHANGED_MAX 60000       /* below XATTR_SIZE_MAX (64 KiB) */

typedef struct RollbackJob {
	fuse_req_t req;
	FsInode *snapdir, *target_dir;
	char *name, *target;
	bool relink;            /* the file was removed: link it back */
} RollbackJob;

/* Give the removed file its name back: by its /proc link, as linkat
 * cannot take an O_PATH fd without CAP_DAC_READ_SEARCH. */
static int relink(FsInode *base, FsInode *dir, const char *name)
{
	char proc[FS_PROC_PATH_MAX];

	fs_inode_proc_path(base, proc);
	return linkat(AT_FDCWD, proc, fs_fd(dir), name, AT_SYMLINK_FOLLOW) < 0
		       ? -errno
		       : 0;
}

/* Begin the rollback's change: keep the file, and the directory it is
 * linked back into. Returns 0 (begun) or -errno (not). */
static int keep_rollback(FsContext *ctx, RollbackJob *j, MfBacking *b)
{
	int r = fs_tree_change(ctx, j->snapdir->base, b);

	if (r == 0 && j->relink && (r = fs_tree_keep(ctx, j->target_dir,
						     NULL)) < 0)
		fs_tree_end(ctx);
	return r;
}

static void rollback_job(void *arg)
{
	RollbackJob *j = arg;
	FsContext *ctx = ctx_of(j->req);
	FsInode *base = j->snapdir->base;
	MfBacking *b = NULL;
	MfState *st = NULL;
	uint64_t pages = 0;
	bool linked = false, began = false;
	int r;

	fs_notify_drop_file(base, 0, 0);
	r = fs_inode_backing_rw(ctx, base, &b);
	if (r == 0)
		r = fs_views_state(ctx, j->snapdir, false, &st);
	if (r == 0 && (r = keep_rollback(ctx, j, b)) == 0)
		began = true;
	/* The name first: if it cannot be had, nothing has changed. */
	if (r == 0 && j->relink && (r = relink(base, j->target_dir,
					       j->target)) == 0)
		linked = true;
	if (r == 0)
		r = mf_state_snap_rollback(st, b, j->name, &pages);
	if (r < 0 && linked)
		unlinkat(fs_fd(j->target_dir), j->target, 0);
	if (began)
		fs_tree_end(ctx);
	if (r == -ENOENT && !j->relink) {
		/* Not F's own: a snapshot of the file F replaced (sed -i,
		 * mv G F), shown at its path. */
		uint64_t id;
		FsInode *old = fs_views_replaced_holding(ctx, j->snapdir,
							 j->name, &id);

		if (old) {
			fs_log(LOG_NOTICE, "rollback %s: a snapshot of the file "
			       "that %s replaced; rm %s first to bring that "
			       "file back, or cp -p the snapshot",
			       j->name, j->target, j->target);
			fs_inode_unref(ctx->inodes, old);
			r = -EEXIST;
		}
	}
	if (st)
		mf_state_unref(st);
	mf_backing_unref(b);
	fs_notify_drop_file(base, 0, 0);
	if (r == 0) {
		fs_aliases_drop(fs_aliases_changed(base, 0, FS_ALIASES_TO_END));
		/* Back at its path, or its last snapshot gone, a removed
		 * file is no orphan (nor listed in .removed, nor one link
		 * more in its st_nlink). */
		if (linked)
			fs_orphans_returned(ctx, base);
		else
			fs_orphans_release(ctx, base);
	}
	if (r < 0) {
		fs_reply_err(j->req, -r, "rollback", j->name);
	} else {
		fs_log(LOG_INFO, "snapshot %s rolled back into %s: %" PRIu64
		       " pages written", j->name, j->target, pages);
		fuse_reply_err(j->req, 0);
		/* After the reply: the rename holds both directories. */
		fs_notify_inval_entry((fuse_ino_t)(uintptr_t)j->target_dir,
				      j->target);
		fs_notify_inval_entry((fuse_ino_t)(uintptr_t)j->snapdir,
				      j->name);
	}
	fs_inode_unref(ctx->inodes, j->snapdir);
	fs_inode_unref(ctx->inodes, j->target_dir);
	g_free(j->name);
	g_free(j->target);
	g_free(j);
}

/* Does name in dir hold base, or is it the free path base was removed
 * from? */
static int target_kind(FsContext *ctx, FsInode *snapdir, FsInode *dir,
		       const char *name, bool *relink)
{
	g_autofree char *key = NULL;
	struct stat st;

	/* .shm/X: fs_shm_rename checked that X is base's object. */
	if (dir->kind == FS_SHMDIR && snapdir->base->shm) {
		*relink = false;
		return 0;
	}
	if (dir->kind != FS_REAL)
		return -EINVAL;
	if (fstatat(fs_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*relink = false;
		if (st.st_dev == snapdir->base->dev &&
		    st.st_ino == snapdir->base->ino)
			return 0;
		/* Through .removed, onto the file that replaced it: as
		 * through F@@ (rollback_job), EEXIST. */
		if (!snapdir->entry) {
			key = fs_orphans_key(ctx, dir, name);
			if (fs_orphans_was_at(ctx, snapdir->base, key)) {
				fs_log(LOG_NOTICE, "rollback: %s replaced the "
				       "file removed from there; rm it first, "
				       "or cp -p the snapshot", name);
				return -EEXIST;
			}
		}
		return -EINVAL;
	}
	if (errno != ENOENT)
		return -errno;
	/* F@@ remembers the path it was reached by (views.c); reached
	 * through .removed/KEY@INO@@ it has none, and the orphan's link
	 * tells the path the file was removed from. */
	key = fs_orphans_key(ctx, dir, name);
	*relink = true;
	if (!snapdir->entry)
		return fs_orphans_was_at(ctx, snapdir->base, key) ? 0 : -EINVAL;
	return key && strcmp(key, snapdir->entry) == 0 ? 0 : -EINVAL;
}

void fs_rollback_rename(fuse_req_t req, FsInode *snapdir, const char *name,
			FsInode *target_dir, const char *target)
{
	FsContext *ctx = ctx_of(req);
	RollbackJob *j;
	bool relink = false;
	int r = target_kind(ctx, snapdir, target_dir, target, &relink);

	if (r == -EINVAL) {
		fs_log(LOG_NOTICE, "rename %s: a snapshot rolls back only onto "
		       "its own file (mv F@@/snap/NAME F); cp -p copies it "
		       "anywhere", name);
		return (void)fuse_reply_err(req, EINVAL);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "rollback", target);
	j = g_new0(RollbackJob, 1);
	j->req = req;
	j->snapdir = fs_inode_hold(ctx->inodes, snapdir);
	j->target_dir = fs_inode_hold(ctx->inodes, target_dir);
	j->name = g_strdup(name);
	j->target = g_strdup(target);
	j->relink = relink;
	fs_notify_run(rollback_job, j);
}

bool fs_rollback_interrupted(FsContext *ctx, FsInode *in)
{
	MfState *st;
	bool yes;

	if (fs_views_state(ctx, in, false, &st) < 0)
		return false;
	yes = mf_state_snap_interrupted(st, in->entry);
	mf_state_unref(st);
	return yes;
}

/* ------------------------------------------------------------------ */
/* user.mapfs.changed                                                  */

bool fs_rollback_is_changed_xattr(const char *name)
{
	return g_str_has_prefix(name, CHANGED_XATTR) &&
	       (name[sizeof(CHANGED_XATTR) - 1] == '\0' ||
		name[sizeof(CHANGED_XATTR) - 1] == '.');
}

char *fs_rollback_changed_xattr(FsContext *ctx, FsInode *in,
				const char *name, int *err)
{
	const char *from_s = name + sizeof(CHANGED_XATTR) - 1;
	g_autoptr(GArray) ranges = NULL;
	uint64_t from = 0, ssize, size;
	MfBacking *b = NULL;
	MfState *st = NULL;
	GString *out;
	char *end;
	int r;

	if (*from_s == '.') {
		errno = 0;
		from = g_ascii_strtoull(from_s + 1, &end, 10);
		if (errno || end == from_s + 1 || *end) {
			*err = ENODATA;
			return NULL;
		}
	}
	r = fs_inode_backing(ctx, in->base, &b);
	if (r == 0)
		r = fs_views_state(ctx, in, false, &st);
	if (r == 0)
		r = mf_state_snap_changed(st, b, in->entry, &ranges, &ssize,
					  &size);
	if (st)
		mf_state_unref(st);
	mf_backing_unref(b);
	if (r < 0) {
		*err = -r;
		return NULL;
	}
	out = g_string_new(NULL);
	g_string_append_printf(out, "size %" PRIu64 " %" PRIu64 "\n", ssize,
			       size);
	for (guint i = 0; i < ranges->len; i++) {
		MfRange *x = &g_array_index(ranges, MfRange, i);

		if (x->off + x->len <= from)
			continue;
		if (out->len > CHANGED_MAX) {
			g_string_append_printf(out, "more %" PRIu64 "\n",
					       x->off);
			break;
		}
		g_string_append_printf(out, "%" PRIu64 " %" PRIu64 "\n",
				       x->off, x->len);
	}
	return g_string_free(out, FALSE);
}
