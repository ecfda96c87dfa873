/* list: the snapshots and private views of every file under a
 * directory, by a walk of the tree. See mapfsctl.h. */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mapfsctl.h"

typedef struct Found {
	char *path;
	gint64 size;		/* -1: unlinked */
	GPtrArray *snaps;
	GPtrArray *cows;
} Found;

static GPtrArray *walk_found;

static void found_free(gpointer p)
{
	Found *f = p;

	g_free(f->path);
	g_ptr_array_unref(f->snaps);
	g_ptr_array_unref(f->cows);
	g_free(f);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The snapshots or the private views of one file met in the walk: an
 * empty list when it has none or its mount has no such views. */
static GPtrArray *walk_kind(const char *path, const char *kind)
{
	GPtrArray *list;
	int err = 0;

	list = list_kind(path, kind, &err);
	if (list)
		return list;
	if (err != ENOENT && err != ENOTDIR)
		warn(path, err, "cannot list the %s of %s",
		     strcmp(kind, "snap") == 0 ? "snapshots" : "private views",
		     path);
	return g_ptr_array_new_with_free_func(entry_free);
}

/* The view directory X@@ of a file X that was unlinked while it had
 * snapshots (listed only by a daemon that lists view directories). */
static bool is_unlinked_view_dir(const char *path)
{
	g_autofree char *base = g_strndup(path, strlen(path) - 2);
	g_autofree char *snap = g_strconcat(path, "/snap", NULL);
	struct stat st;

	return lstat(base, &st) < 0 && errno == ENOENT &&
	       lstat(snap, &st) == 0 && S_ISDIR(st.st_mode);
}

static void walk_unlinked(const char *path)
{
	Found *f = g_new0(Found, 1);

	f->path = g_strndup(path, strlen(path) - 2);
	f->size = -1;
	f->snaps = walk_kind(f->path, "snap");
	f->cows = walk_kind(f->path, "cow");
	if (f->snaps->len || f->cows->len)
		g_ptr_array_add(walk_found, f);
	else
		found_free(f);
}

static int walk_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	Found *f;

	switch (type) {
	case FTW_D:
		/* Walked on its own, after the tree (cmd_list). */
		if (ftw->level == 1 &&
		    strcmp(path + ftw->base, REMOVED_DIR) == 0)
			return FTW_SKIP_SUBTREE;
		if (ftw->level == 0 || !has_suffix(path, "@@"))
			return FTW_CONTINUE;
		if (is_view_dir(path))
			return FTW_SKIP_SUBTREE;
		if (is_unlinked_view_dir(path)) {
			walk_unlinked(path);
			return FTW_SKIP_SUBTREE;
		}
		return FTW_CONTINUE;
	case FTW_DNR:
		warn(path, EACCES, "cannot read directory %s", path);
		return FTW_CONTINUE;
	case FTW_NS: {
		/* nftw does not say why; ask again. */
		struct stat again;

		if (lstat(path, &again) < 0)
			warn(path, errno, "cannot stat %s", path);
		return FTW_CONTINUE;
	}
	case FTW_F:
		break;
	default:
		return FTW_CONTINUE;
	}
	if (!S_ISREG(st->st_mode))
		return FTW_CONTINUE;
	f = g_new0(Found, 1);
	f->path = g_strdup(path);
	f->size = st->st_size;
	f->snaps = walk_kind(path, "snap");
	f->cows = walk_kind(path, "cow");
	if (f->snaps->len || f->cows->len) {
		/* Entries of a real directory named F@@ are no views. */
		g_autofree char *views = g_strconcat(path, "@@", NULL);

		if (is_view_dir(views)) {
			g_ptr_array_add(walk_found, f);
			return FTW_CONTINUE;
		}
	}
	found_free(f);
	return FTW_CONTINUE;
}

int cmd_list(const char *root_arg)
{
	g_autoptr(GString) out = NULL;
	g_autofree char *root = NULL, *removed = NULL;
	struct stat st;

	if (!*root_arg)
		die(ENOENT, NULL, "cannot list ''");
	if (stat(root_arg, &st) < 0)
		die(errno, NULL, "cannot list %s", root_arg);
	if (!S_ISDIR(st.st_mode))
		die(ENOTDIR, NULL, "cannot list %s", root_arg);
	/* A symbolic link given as DIR is followed (only that one): the
	 * walk starts from the directory it names. */
	if (lstat(root_arg, &st) == 0 && S_ISLNK(st.st_mode)) {
		root = realpath(root_arg, NULL);
		if (!root)
			die(errno, NULL, "cannot list %s", root_arg);
	} else {
		root = g_strdup(root_arg);
	}
	walk_found = g_ptr_array_new_with_free_func(found_free);
	if (nftw(root, walk_one, 64,
		 FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL) < 0)
		die(errno, NULL, "cannot walk %s", root);
	/* Files removed with snapshots, listed by name however hidden. */
	removed = g_build_filename(root, REMOVED_DIR, NULL);
	if (lstat(removed, &st) == 0 && S_ISDIR(st.st_mode) &&
	    nftw(removed, walk_one, 64,
		 FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL) < 0)
		warn(removed, errno, "cannot walk %s", removed);
	if (opt_json) {
		out = g_string_new("{");
		json_key(out, "root");
		json_str(out, root);
		g_string_append(out, ", \"files\": [");
		for (guint i = 0; i < walk_found->len; i++) {
			Found *f = walk_found->pdata[i];

			if (i)
				g_string_append(out, ", ");
			g_string_append_c(out, '{');
			json_key(out, "path");
			json_str(out, f->path);
			g_string_append(out, ", \"size\": ");
			json_int_or_null(out, f->size);
			g_string_append_printf(out, ", \"unlinked\": %s, ",
					       f->size < 0 ? "true" : "false");
			json_key(out, "snapshots");
			entries_json(out, f->snaps, true);
			g_string_append(out, ", ");
			json_key(out, "cow");
			entries_json(out, f->cows, false);
			g_string_append_c(out, '}');
		}
		g_string_append(out, "]");
		if (walk_errors->len) {
			g_string_append(out, ", \"errors\": [");
			for (guint i = 0; i < walk_errors->len; i++) {
				WalkError *w = walk_errors->pdata[i];

				if (i)
					g_string_append(out, ", ");
				g_string_append_c(out, '{');
				json_key(out, "path");
				json_str(out, w->path);
				g_string_append(out, ", ");
				json_key(out, "error");
				json_str(out, w->msg);
				g_string_append_printf(out, ", \"errno\": %d, ",
						       w->errnum);
				json_key(out, "code");
				json_str(out, errno_name(w->errnum));
				g_string_append_c(out, '}');
			}
			g_string_append(out, "]");
		}
		g_string_append_c(out, '}');
		json_print(out);
	} else {
		for (guint i = 0; i < walk_found->len; i++) {
			Found *f = walk_found->pdata[i];

			if (f->size < 0)
				printf("%s (unlinked)\n", f->path);
			else
				printf("%s (%" G_GINT64_FORMAT " bytes)\n",
				       f->path, f->size);
			if (f->snaps->len) {
				printf("  snapshots:\n");
				entries_table(f->snaps, true, "    ");
			}
			if (f->cows->len) {
				printf("  private views:\n");
				entries_table(f->cows, false, "    ");
			}
		}
	}
	g_ptr_array_unref(walk_found);
	return walk_errors->len ? EXIT_FAILED : 0;
}
