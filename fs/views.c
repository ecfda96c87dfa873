/* views: the @@ namespace: lookups, listings, attributes and names of
 * views, cow views and snapshots. See views.h; requests on open views are
 * in viewio.c.
 */
#include "views.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "orphans.h"
#include "mf-store.h"
#include "mf-view.h"
#include "ops.h"
#include "reply.h"
#include "rollback.h"
#include "shm.h"
#include "tree.h"
#include "treeviews.h"

bool fs_views_is_dir_name(const char *name)
{
	size_t n = strlen(name);

	return n > 2 && strcmp(name + n - 2, "@@") == 0;
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

int fs_views_state(FsContext *ctx, FsInode *in, bool create, MfState **ret)
{
	int r;

	if (fs_treeviews_is(in))        /* a tree snapshot's file: checked
					 * by the engine */
		return fs_treeviews_state(ctx, in, ret);
	r = fs_inode_state(ctx, in->base, create, ret);

	/* Every look at snapshots first checks the file was not changed
	 * outside the mount. */
	if (r == 0)
		mf_state_verify(*ret, fs_fd(in->base));
	return r;
}

int fs_views_set_times(FsContext *ctx, FsInode *file,
		       const struct stat *attr, int valid)
{
	MfState *st = NULL;
	int r;

	if (file->type == S_IFREG &&
	    fs_inode_state(ctx, file, false, &st) == 0)
		mf_state_change_begin(st);
	r = fs_inode_set_times(file, attr, valid);
	if (st) {
		mf_state_change_end(st, fs_fd(file));
		mf_state_unref(st);
	}
	return r;
}

static bool is_snap(const FsInode *in)
{
	return in->kind == FS_VIEW && in->spec.mode == MF_VIEW_SNAP;
}

static bool is_cow(const FsInode *in)
{
	return in->kind == FS_VIEW && in->spec.mode == MF_VIEW_COW;
}

/* Size and time of a cow or snap entry; -ENOENT once it is gone. */
static int entry_info(FsContext *ctx, FsInode *in, MfEntryInfo *info,
		      bool *damaged)
{
	MfState *st;
	int r = fs_views_state(ctx, in, false, &st);

	if (r < 0)
		return r;
	r = mf_state_entry_info(st, in->entry_id, info);
	if (damaged)
		*damaged = mf_state_damaged(st);
	mf_state_unref(st);
	return r;
}

/* Attributes: the file's, with the view's own inode number, size and
 * mode. Snapshots show the size they were taken at and, as their times,
 * when they were taken. */
int fs_views_stat(FsContext *ctx, FsInode *in, struct stat *st)
{
	if (fs_treeviews_is(in))
		return fs_treeviews_stat(ctx, in, st);
	if (fstatat(fs_fd(in->base), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) <
	    0)
		return -errno;
	return fs_views_stat_of(ctx, in, NULL, st);
}

int fs_views_stat_of(FsContext *ctx, FsInode *in, const MfEntryInfo *known,
		     struct stat *st)
{
	MfEntryInfo info;
	uint64_t size;
	int r;

	st->st_ino = in->vino;
	if (in->kind != FS_VIEW) {
		/* Who may write the file may take snapshots and make
		 * private views of it; F@@ itself holds only views. */
		st->st_mode = S_IFDIR | (in->kind == FS_VIEWDIR ||
						 in->kind == FS_IMAGEDIR ||
						 in->kind == FS_REMOVED
					 ? 0555
					 : 0755);
		st->st_nlink = 2;
		st->st_size = 0;
		st->st_blocks = 0;
		return 0;
	}
	st->st_nlink = 1;
	size = (uint64_t)st->st_size;
	if (is_snap(in) || is_cow(in)) {
		r = known ? (info = *known, 0) : entry_info(ctx, in, &info, NULL);
		if (r < 0)
			return r;
		st->st_blocks = (blkcnt_t)(info.pages * (MF_PAGE / 512));
		if (is_snap(in)) {
			size = info.size;
			st->st_mtim = st->st_ctim = st->st_atim = info.taken;
		}
	}
	st->st_size = (off_t)mf_view_size(&in->spec, size);
	if (!is_snap(in) && !is_cow(in))
		st->st_blocks = MIN(st->st_blocks, (st->st_size + 511) / 512);
	if (in->spec.mode == MF_VIEW_RO || is_snap(in))
		st->st_mode &= ~(mode_t)0222;
	return 0;
}

static void reply_view_entry(fuse_req_t req, FsInode *in, const char *op)
{
	FsContext *ctx = ctx_of(req);
	struct stat st;
	int r = fs_views_stat(ctx, in, &st);

	if (r < 0) {
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, -r, op, in->entry);
	}
	/* No attribute caching: a view's size follows the file's. Entries of
	 * snapshots and private views are not cached either: a view inode
	 * stands for one entry (its identity), and after mv, rm and a new
	 * entry of the same name, or a commit (mv F@@/cow/N F), the kernel's
	 * entry for the name points at the old one until revalidated. Nor is
	 * F@@'s: F may be replaced. */
	fs_reply_entry_for(req, in, &st, 0,
			   in->entry || in->kind == FS_VIEWDIR ? 0 : ctx->timeout);
}

void fs_views_reply_entry(fuse_req_t req, FsInode *in, const char *op)
{
	reply_view_entry(req, in, op);
}

void fs_views_lookup_dir(fuse_req_t req, FsInode *parent, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *file = g_strndup(name, strlen(name) - 2);
	g_autofree char *key = fs_orphans_key(ctx, parent, file);
	FsInode *base;
	struct stat st;
	int r = fs_inode_find(ctx->inodes, parent, file, &st, &base);

	/* A file removed with snapshots: they stay under its path. */
	if (r == -ENOENT) {
		GPtrArray *old = fs_orphans_list(ctx, key);

		if (old->len) {
			base = fs_inode_hold(ctx->inodes, old->pdata[0]);
			r = fstatat(fs_fd(base), "", &st, AT_EMPTY_PATH) < 0
				    ? -errno
				    : 0;
		}
		fs_orphans_unref_all(ctx, old);
	}
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	if (base->kind != FS_REAL || !S_ISREG(st.st_mode)) {
		fs_inode_unref(ctx->inodes, base);
		return fs_reply_err(req, ENOENT, "lookup",
				    "view directory of a non-regular file");
	}
	fs_views_reply_dir(req, base, key);
	fs_inode_unref(ctx->inodes, base);      /* dir holds its own */
}

void fs_views_reply_dir(fuse_req_t req, FsInode *base, const char *key)
{
	/* The directory remembers the path it was reached by: the files
	 * removed from that path show their snapshots there too. */
	reply_view_entry(req, fs_inode_view(ctx_of(req)->inodes, base,
					    FS_VIEWDIR, NULL, key),
			 "lookup");
}

void fs_views_lookup_removed(fuse_req_t req)
{
	FsContext *ctx = ctx_of(req);
	FsInode *root = inode_of(req, FUSE_ROOT_ID);

	if (!ctx->orphans)      /* no snapshots served, so none kept */
		return fs_reply_err(req, ENOENT, "lookup", FS_REMOVED_DIR);
	reply_view_entry(req, fs_inode_view(ctx->inodes, root, FS_REMOVED,
					    NULL, NULL),
			 "lookup");
}

/* KEY@INO@@ in .removed: the view directory of a removed file. */
static void lookup_removed_file(fuse_req_t req, const char *name)
{
	FsContext *ctx = ctx_of(req);
	FsInode *base;
	int r = fs_orphans_find(ctx, name, &base);

	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	/* No path: the snapshots of other files once at its path are
	 * listed under their own names here. */
	reply_view_entry(req, fs_inode_view(ctx->inodes, base, FS_VIEWDIR,
					    NULL, NULL),
			 "lookup");
	fs_inode_unref(ctx->inodes, base);
}

/* A removed file has no live views: no rw or ro, no new snapshot or
 * private view. Says so and returns true if in's file is one. */
bool fs_views_refuse_removed(FsContext *ctx, FsInode *in, const char *op,
			     const char *name)
{
	if (!fs_orphans_is_removed(ctx, file_of(in)))
		return false;
	fs_log(LOG_NOTICE, "%s %s: the file was removed; only its snapshots "
	       "and private views are left", op, name ? name : "view");
	return true;
}

void fs_views_bad_window(fuse_req_t req, const char *name)
{
	fs_log(LOG_NOTICE, "lookup %s: bad window: OFFSET[+LENGTH], numbers "
	       "decimal, 0x hex, K/M/G/T, within 2^63", name);
	fuse_reply_err(req, EINVAL);
}

/* The file removed from dir's path (mv G F, sed -i, rm F) that has
 * snapshot entry, with a reference, and the snapshot's identity in *id;
 * NULL if none. */
FsInode *fs_views_replaced_holding(FsContext *ctx, FsInode *dir,
				   const char *entry, uint64_t *id)
{
	GPtrArray *old = fs_orphans_list(ctx, dir->entry);
	FsInode *found = NULL;
	MfEntryInfo info;
	MfState *st;

	for (guint i = 0; i < old->len && !found; i++) {
		FsInode *o = old->pdata[i];

		if (o == dir->base ||
		    fs_inode_state(ctx, o, false, &st) < 0)
			continue;
		mf_state_verify(st, fs_fd(o));
		if (mf_state_snap_info(st, entry, &info) == 0) {
			found = fs_inode_hold(ctx->inodes, o);
			*id = info.id;
		}
		mf_state_unref(st);
	}
	fs_orphans_unref_all(ctx, old);
	return found;
}

/* Snapshot entry of a file removed from this path: F@@/snap shows
 * those too. */
static void lookup_replaced(fuse_req_t req, FsInode *dir, const char *entry,
			    const MfViewSpec *spec, const char *name)
{
	FsContext *ctx = ctx_of(req);
	uint64_t id;
	FsInode *old = fs_views_replaced_holding(ctx, dir, entry, &id);

	if (!old)
		return fs_reply_err(req, ENOENT, "lookup", name);
	reply_view_entry(req, fs_inode_entry_view(ctx->inodes, old, spec,
						  entry, id),
			 "lookup");
	fs_inode_unref(ctx->inodes, old);
}

/* A cow or snap entry, NAME[:WINDOW], in dir. */
static void lookup_entry(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	MfViewMode mode = dir->kind == FS_SNAPDIR ? MF_VIEW_SNAP : MF_VIEW_COW;
	g_autofree char *entry = NULL;
	MfViewSpec spec;
	MfEntryInfo info;
	MfState *st;
	int r = mf_view_spec_parse_named(name, mode, &entry, &spec);

	if (r < 0)
		return fs_views_bad_window(req, name);
	r = fs_views_state(ctx, dir, false, &st);
	if (r == 0) {
		r = mode == MF_VIEW_SNAP ? mf_state_snap_info(st, entry, &info)
					 : mf_state_cow_info(st, entry, &info);
		mf_state_unref(st);
	}
	if (r == -ENOENT && mode == MF_VIEW_SNAP)
		return lookup_replaced(req, dir, entry, &spec, name);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	reply_view_entry(req, fs_inode_entry_view(ctx->inodes, dir->base,
						  &spec, entry, info.id),
			 "lookup");
}

void fs_views_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	FsInodeTable *t = ctx_of(req)->inodes;
	MfViewSpec spec;
	int r;

	if (dir->kind == FS_SNAPDIR || dir->kind == FS_COWDIR)
		return lookup_entry(req, dir, name);
	if (dir->kind == FS_IMAGEDIR)
		return fs_image_lookup(req, dir, name);
	if (strcmp(name, "image") == 0)
		return fs_image_lookup_dir(req, dir);
	if (dir->kind == FS_REMOVED)
		return lookup_removed_file(req, name);
	if (strcmp(name, "snap") == 0 || strcmp(name, "cow") == 0) {
		FsKind kind = name[0] == 's' ? FS_SNAPDIR : FS_COWDIR;

		return reply_view_entry(
			req, fs_inode_view(t, dir->base, kind, NULL, dir->entry),
			"lookup");
	}
	if (fs_views_refuse_removed(ctx_of(req), dir, "lookup", name))
		return fs_reply_err(req, ENOENT, "lookup", name);
	r = mf_view_spec_parse(name, &spec);
	if (r == -EINVAL)
		return fs_views_bad_window(req, name);
	if (r < 0)
		return fs_reply_err(req, -r, "lookup view", name);
	reply_view_entry(req, fs_inode_view(t, dir->base, FS_VIEW, &spec, NULL),
			 "lookup");
}

void fs_views_getattr(fuse_req_t req, FsInode *in)
{
	struct stat st;
	int r = fs_views_stat(ctx_of(req), in, &st);

	if (r < 0)
		return fs_reply_err(req, -r, "getattr", in->entry);
	fuse_reply_attr(req, &st, 0);
}

void fs_views_refuse(fuse_req_t req, FsInode *in, const char *op)
{
	bool ro = in->kind == FS_VIEW &&
		  (in->spec.mode == MF_VIEW_RO || in->spec.mode == MF_VIEW_SNAP);
	const char *why;

	if (fs_tree_is(in))
		return fs_tree_refuse(req, in, op);
	why = ro ? "read-only view"
	      : in->kind == FS_VIEW ? "change the file, not its view"
				    : "view directories hold only views";
	fs_log(LOG_NOTICE, "%s on %s%s: %s", op,
	       in->kind == FS_VIEW ? "view " : "a view directory",
	       in->kind == FS_VIEW && in->entry ? in->entry : "", why);
	fuse_reply_err(req, ro ? EROFS : EPERM);
}

/* names, and the snapshots of the files removed from snapdir's path
 * that are not there by the same name. */
static char **add_replaced(FsContext *ctx, FsInode *snapdir, char **names)
{
	g_autoptr(GStrvBuilder) all = g_strv_builder_new();
	GPtrArray *old = fs_orphans_list(ctx, snapdir->entry);
	g_autoptr(GHashTable) seen =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_strv_builder_addv(all, (const char **)names);
	for (char **n = names; *n; n++)
		g_hash_table_add(seen, g_strdup(*n));
	for (guint i = 0; i < old->len; i++) {
		FsInode *o = old->pdata[i];
		g_auto(GStrv) old_names = NULL;
		MfState *st;

		if (o == snapdir->base ||
		    fs_inode_state(ctx, o, false, &st) < 0)
			continue;
		old_names = mf_state_snap_list(st);
		mf_state_unref(st);
		for (char **n = old_names; *n; n++)
			if (!g_hash_table_contains(seen, *n)) {
				g_strv_builder_add(all, *n);
				g_hash_table_add(seen, g_strdup(*n));
			}
	}
	fs_orphans_unref_all(ctx, old);
	g_strfreev(names);
	return g_strv_builder_end(all);
}

/* The names a virtual directory lists, NULL-terminated. */
static char **dir_names(FsContext *ctx, FsInode *in)
{
	static const char *const fixed[] = { "rw", "ro", "cow", "snap", NULL };
	MfState *st;
	char **names;

	if (fs_tree_is(in))
		return fs_treeviews_names(ctx, in);
	if (in->kind == FS_REMOVED)
		return fs_orphans_names(ctx);
	if (in->kind == FS_IMAGEDIR)
		return fs_image_names(ctx, in);
	if (in->kind == FS_VIEWDIR) {
		/* A removed file has no rw nor ro, and no image. */
		if (fs_orphans_is_removed(ctx, in->base))
			return g_strdupv((char **)fixed + 2);
		names = g_new0(char *, G_N_ELEMENTS(fixed) + 1);
		for (size_t i = 0; fixed[i]; i++)
			names[i] = g_strdup(fixed[i]);
		if (fs_image_exists(ctx, in))
			names[G_N_ELEMENTS(fixed) - 1] = g_strdup("image");
		return names;
	}
	if (fs_views_state(ctx, in, false, &st) < 0)
		names = g_new0(char *, 1);
	else {
		names = in->kind == FS_SNAPDIR ? mf_state_snap_list(st)
					       : mf_state_cow_list(st);
		mf_state_unref(st);
	}
	if (in->kind == FS_SNAPDIR)
		names = add_replaced(ctx, in, names);
	return names;
}

void fs_views_readdir(fuse_req_t req, FsInode *in, size_t size, off_t off,
		      bool plus)
{
	g_auto(GStrv) names = dir_names(ctx_of(req), in);
	guint n = g_strv_length(names) + 2;
	char *buf = g_malloc(size), *p = buf;
	size_t left = size;

	for (off_t i = off; i < (off_t)n; i++) {
		/* Plus entries without a node: the kernel looks them up
		 * itself when they are used. */
		struct fuse_entry_param e = { .ino = 0 };
		const char *name = i == 0 ? "." : i == 1 ? ".." : names[i - 2];
		size_t len;

		/* d_ino 0 would read as a deleted entry. */
		e.attr.st_ino = in->vino;
		e.attr.st_mode = i < 2 || in->kind == FS_REMOVED ||
						 (in->kind == FS_VIEWDIR &&
						  (strcmp(name, "cow") == 0 ||
						   strcmp(name, "snap") == 0))
					 ? S_IFDIR
					 : S_IFREG;
		len = plus ? fuse_add_direntry_plus(req, p, left, name, &e,
						    i + 1)
			   : fuse_add_direntry(req, p, left, name, &e.attr,
					       i + 1);
		if (len > left)
			break;
		p += len;
		left -= len;
	}
	fuse_reply_buf(req, buf, (size_t)(p - buf));
	g_free(buf);
}

/* ------------------------------------------------------------------ */
/* user.mapfs.* attributes                                             */

static const char *const xattr_names[] = {
	"user.mapfs.mode",   "user.mapfs.coherence", "user.mapfs.base",
	"user.mapfs.offset", "user.mapfs.length",    "user.mapfs.pages",
	"user.mapfs.taken",  "user.mapfs.state",     "user.mapfs.changed",
};      /* changed last: a tree snapshot's snap views list all but it */

/* The file's path in the mount, from where its fd points now. */
static char *base_path(FsContext *ctx, FsInode *in)
{
	char proc[FS_PROC_PATH_MAX];
	g_autofree char *target = NULL;
	size_t n = strlen(ctx->backing);

	if (in->base->shm)
		return fs_shm_path(ctx, in->base->shm);
	if (fs_treeviews_is(in))
		return fs_treeviews_base_path(ctx, in);
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
	static const char *const coherence[] = {
		[MF_VIEW_RW] = "shared", [MF_VIEW_RO] = "shared",
		[MF_VIEW_COW] = "private", [MF_VIEW_SNAP] = "frozen",
	};
	bool named = is_snap(in) || is_cow(in), damaged = false;
	MfEntryInfo info;
	struct stat st;

	if (named && entry_info(ctx, in, &info, &damaged) < 0)
		return NULL;
	if (strcmp(name, "user.mapfs.mode") == 0)
		return g_strdup(mf_view_mode_name(in->spec.mode));
	if (strcmp(name, "user.mapfs.coherence") == 0)
		return g_strdup(fs_treeviews_is(in) ? "frozen"
						    : coherence[in->spec.mode]);
	if (strcmp(name, "user.mapfs.base") == 0)
		return base_path(ctx, in);
	if (strcmp(name, "user.mapfs.offset") == 0)
		return g_strdup_printf("%" PRIu64, in->spec.off);
	if (strcmp(name, "user.mapfs.length") == 0) {
		/* Open-ended windows: the bytes they show now. */
		if (in->spec.len != UINT64_MAX)
			return g_strdup_printf("%" PRIu64, in->spec.len);
		if (fs_views_stat(ctx, in, &st) < 0)
			return NULL;
		return g_strdup_printf("%lld", (long long)st.st_size);
	}
	if (named && strcmp(name, "user.mapfs.pages") == 0)
		return g_strdup_printf("%" PRIu64, info.pages);
	if (is_snap(in) && strcmp(name, "user.mapfs.taken") == 0) {
		g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(
			info.taken.tv_sec);

		return t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	}
	if (is_snap(in) && strcmp(name, "user.mapfs.state") == 0)
		return g_strdup(damaged ? "damaged"
				: fs_rollback_interrupted(ctx, in) ? "rollback-interrupted"
								   : "intact");
	return fs_image_xattr(ctx, in, name);
}

void fs_views_getxattr(fuse_req_t req, FsInode *in, const char *name,
		       size_t size)
{
	g_autofree char *value = in->kind == FS_VIEW
					 ? xattr_value(ctx_of(req), in, name)
					 : NULL;
	int err = ENODATA;

	if (is_snap(in) && !fs_treeviews_is(in) &&
	    fs_rollback_is_changed_xattr(name))
		value = fs_rollback_changed_xattr(ctx_of(req), in, name, &err);
	if (!value && err != ENODATA)
		return fs_reply_err(req, err, "getxattr", name);
	if (!value)
		return fs_reply_err(req, ENODATA, "getxattr", name);
	fs_reply_xattr(req, value, strlen(value), size);
}

void fs_views_listxattr(fuse_req_t req, FsInode *in, size_t size)
{
	/* ro/rw views have the first five; cow adds pages; snap all, but
	 * changed (from the live file, and last in xattr_names for this)
	 * in a tree snapshot. */
	size_t n = in->kind != FS_VIEW ? 0
		   : is_snap(in)       ? G_N_ELEMENTS(xattr_names) -
					   fs_treeviews_is(in)
		   : is_cow(in)        ? 6
				       : 5;
	GString *list = g_string_new(NULL);

	for (size_t i = 0; i < n; i++)
		g_string_append_len(list, xattr_names[i],
				    (gssize)strlen(xattr_names[i]) + 1);
	fs_image_xattr_names(in, list);
	if (in->kind == FS_VIEW && !fs_treeviews_is(in)) /* committed.c */
		g_string_append_len(list, "user.mapfs.committed",
				    sizeof("user.mapfs.committed"));
	fs_reply_xattr(req, list->str, list->len, size);
	g_string_free(list, TRUE);
}

/* ------------------------------------------------------------------ */
/* Names in cow/ and snap/                                             */

void fs_views_create(fuse_req_t req, FsInode *dir, const char *name,
		     struct fuse_file_info *fi)
{
	FsContext *ctx = ctx_of(req);
	MfViewMode mode = dir->kind == FS_SNAPDIR ? MF_VIEW_SNAP : MF_VIEW_COW;
	MfViewSpec spec = { .mode = mode, .len = UINT64_MAX };
	struct fuse_entry_param e;
	MfBacking *b = NULL;
	MfState *st = NULL;
	MfEntryInfo info;
	FsInode *in;
	int r;

	if (dir->kind != FS_REMOVED &&
	    fs_views_refuse_removed(ctx, dir, "create", name))
		return fs_reply_err(req, ENOENT, "create", name);
	if (dir->kind != FS_SNAPDIR && dir->kind != FS_COWDIR)
		return fs_views_refuse(req, dir, "create");
	r = mf_state_check_name(name);
	if (r < 0) {
		fs_log(LOG_NOTICE, "create %s: bad name: not empty, no '/' or "
		       "':', not starting with '.', at most 255 bytes", name);
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = fs_inode_backing(ctx, dir->base, &b);
	if (r == 0)
		r = fs_views_state(ctx, dir, true, &st);
	if (r == 0 && mode == MF_VIEW_COW)
		mf_state_attach(st, b);
	if (r == 0)
		r = mode == MF_VIEW_SNAP ? mf_state_snap_create(st, b, name)
					 : mf_state_cow_create(st, name);
	mf_backing_unref(b);
	if (r < 0) {
		if (st)
			mf_state_unref(st);
		return fs_reply_err(req, -r, "create", name);
	}
	fs_log(LOG_INFO, "%s %s made", mode == MF_VIEW_SNAP ? "snapshot"
							    : "private view",
	       name);
	/* The creator's descriptor is bound to what it made, whatever
	 * takes the name later. */
	r = mode == MF_VIEW_SNAP ? mf_state_snap_info(st, name, &info)
				 : mf_state_cow_info(st, name, &info);
	if (r == 0)
		r = mf_state_entry_open(st, info.id);
	mf_state_unref(st);
	if (r < 0)
		return fs_reply_err(req, -r, "create", name);
	in = fs_inode_entry_view(ctx->inodes, dir->base, &spec, name, info.id);
	memset(&e, 0, sizeof(e));
	r = fs_views_stat(ctx, in, &e.attr);
	if (r < 0) {
		fs_views_release(ctx, in);
		fs_inode_forget(ctx->inodes, in, 1);
		return fs_reply_err(req, -r, "create", name);
	}
	e.ino = (uintptr_t)in;
	e.entry_timeout = 0;    /* see reply_view_entry() */
	fi->direct_io = 1;
	fi->fh = 0;
	fs_inode_opened(ctx, in);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fs_views_release(ctx, in);
		fs_inode_closed(ctx, in);
		fs_inode_forget(ctx->inodes, in, 1);
	}
}

void fs_views_unlink(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	MfState *st;
	int r;

	if ((dir->kind != FS_SNAPDIR && dir->kind != FS_COWDIR) ||
	    fs_tree_is(dir))
		return fs_views_refuse(req, dir, "unlink");
	FsInode *file = fs_inode_hold(ctx->inodes, dir->base);

	r = fs_views_state(ctx, dir, false, &st);
	if (r == 0) {
		r = dir->kind == FS_SNAPDIR ? mf_state_snap_delete(st, name)
					    : mf_state_cow_delete(st, name);
		mf_state_unref(st);
	}
	/* Not the file's own: a removed file's, shown at this path. */
	if (r == -ENOENT && dir->kind == FS_SNAPDIR) {
		uint64_t id;
		FsInode *old = fs_views_replaced_holding(ctx, dir, name, &id);

		if (old && fs_inode_state(ctx, old, false, &st) == 0) {
			r = mf_state_snap_delete(st, name);
			mf_state_unref(st);
		}
		if (old) {
			fs_inode_unref(ctx->inodes, file);
			file = old;
		}
	}
	if (r == 0)
		fs_orphans_release(ctx, file);
	fs_inode_unref(ctx->inodes, file);
	if (r < 0)
		return fs_reply_err(req, -r, "unlink", name);
	fuse_reply_err(req, 0);
}

/* Is name in dir the file base itself? */
static bool names_file(FsInode *dir, const char *name, FsInode *base)
{
	struct stat st;

	return dir->kind == FS_REAL &&
	       fstatat(fs_fd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_dev == base->dev && st.st_ino == base->ino;
}

void fs_views_rename(fuse_req_t req, FsInode *from, const char *name,
		     FsInode *to, const char *newname)
{
	MfState *st;
	int r;

	if (from->kind == FS_SNAPDIR && to == from) {
		r = fs_views_state(ctx_of(req), from, false, &st);
		if (r == 0) {
			r = mf_state_snap_rename(st, name, newname);
			mf_state_unref(st);
		}
		if (r < 0)
			return fs_reply_err(req, -r, "rename", name);
		return (void)fuse_reply_err(req, 0);
	}
	if (from->kind == FS_COWDIR) {
		if (names_file(to, newname, from->base))
			return fs_views_commit(req, from, name, to, newname);
		fs_log(LOG_NOTICE, "rename %s: a private view commits only "
		       "onto its own file (mv F@@/cow/NAME F)", name);
		return (void)fuse_reply_err(req, EINVAL);
	}
	if (from->kind == FS_SNAPDIR && to->kind == FS_REAL)  /* roll back */
		return fs_rollback_rename(req, from, name, to, newname);
	fs_views_refuse(req, from->kind == FS_REAL ? to : from, "rename");
}
