/* paths: names of snapshots and views, the file worked on, its F@@
 * paths, and xattrs. See mapfsctl.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "mapfsctl.h"

/* Snapshot and view names are one path component.  The daemon checks
 * them too; checking here gives a clear message and sends nothing. */
void check_name(const char *kind, const char *name)
{
	const char *why = NULL;

	if (!*name)
		why = "the name is empty";
	else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		why = "'.' and '..' are reserved";
	else if (strchr(name, '/'))
		why = "a name may not contain '/'";
	else if (strlen(name) > NAME_MAX)
		why = "a name is at most " G_STRINGIFY(NAME_MAX) " bytes";
	if (why && strlen(name) > 40)
		die(EINVAL, why, "invalid %s name '%.32s...' (%zu bytes)", kind,
		    name, strlen(name));
	if (why)
		die(EINVAL, why, "invalid %s name '%s'", kind, name);
}

/* The path of FILE to work on.  FILE must be a regular file (a symbolic
 * link is followed to the file it names, which is the one worked on),
 * and FILE@@, if it exists, its view directory: a real directory of the
 * backing tree named FILE@@ hides the view directory, and must not be
 * taken for it. */
char *check_file(const char *file, const char *what)
{
	g_autofree char *views = NULL;
	struct stat st;
	char *path;

	if (!*file)
		die(ENOENT, NULL, "%s ''", what);
	if (lstat(file, &st) < 0) {
		int e0 = errno;

		/* An unlinked file's snapshots stay reachable under its
		 * path, in FILE@@, until they are deleted. */
		views = g_strconcat(file, "@@", NULL);
		if (e0 == ENOENT && stat(views, &st) == 0 && S_ISDIR(st.st_mode))
			return g_strdup(file);
		die(e0, NULL, "%s %s", what, file);
	}
	if (S_ISLNK(st.st_mode)) {
		path = realpath(file, NULL);
		if (!path)
			die(errno, NULL, "%s %s", what, file);
		if (stat(path, &st) < 0)
			die(errno, NULL, "%s %s", what, file);
	} else {
		path = g_strdup(file);
	}
	if (S_ISDIR(st.st_mode))
		die(EISDIR, "only regular files have snapshots and views",
		    "%s %s", what, file);
	if (!S_ISREG(st.st_mode))
		die(EINVAL, "not a regular file", "%s %s", what, file);
	views = g_strconcat(path, "@@", NULL);
	if (lstat(views, &st) == 0 && !is_view_dir(views))
		die(ENOENT,
		    "its view directory is hidden by a real FILE@@ of the backing tree",
		    "%s %s", what, file);
	return path;
}

/* FILE@@/KIND, and FILE@@/KIND/NAME. */
char *kind_dir(const char *file, const char *kind)
{
	return g_strconcat(file, "@@/", kind, NULL);
}

char *entry_path(const char *file, const char *kind, const char *name)
{
	return g_strconcat(file, "@@/", kind, "/", name, NULL);
}

/* Why FILE@@/KIND/... gave ENOENT, when the reason is not the entry:
 * FILE is not on a mapfs mount, or its daemon has no snapshots (views). */
const char *diagnose(const char *file, const char *kind, int e)
{
	g_autofree char *views = NULL, *dir = NULL;
	struct stat st;

	if (e != ENOENT)
		return NULL;
	views = g_strconcat(file, "@@", NULL);
	if (stat(views, &st) < 0 || !S_ISDIR(st.st_mode))
		return "not on a mapfs mount (no FILE@@ view directory)";
	dir = kind_dir(file, kind);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return strcmp(kind, "snap") == 0
			       ? "this mapfs serves no snapshots (no FILE@@/snap)"
			       : "this mapfs serves no private views (no FILE@@/cow)";
	return NULL;
}

/* One xattr of PATH as a string, or NULL (errno set). */
char *get_xattr(const char *path, const char *name)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t n = lgetxattr(path, name, NULL, 0);
		char *buf;

		if (n < 0)
			return NULL;
		buf = g_malloc((size_t)n + 1);
		n = lgetxattr(path, name, buf, (size_t)n);
		if (n >= 0) {
			buf[n] = '\0';
			return buf;
		}
		g_free(buf);
		if (errno != ERANGE)
			return NULL;
	}
	errno = ERANGE;
	return NULL;
}

/* Is PATH (a directory named X@@) the view directory of the file X, and
 * not a real directory of that name?  A view directory holds the rw view,
 * which says so in user.mapfs.mode. */
bool is_view_dir(const char *path)
{
	g_autofree char *base = g_strndup(path, strlen(path) - 2);
	g_autofree char *rw = g_strconcat(path, "/rw", NULL);
	g_autofree char *mode = NULL;
	struct stat st;

	if (lstat(base, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	mode = get_xattr(rw, "user.mapfs.mode");
	return mode && strcmp(g_strstrip(mode), "rw") == 0;
}

int read_paged_xattr(const char *path, PageName name_of, const void *name_arg,
		     LineFn fn, void *arg, char **bad)
{
	guint64 from = 0;
	bool more = true;

	while (more) {
		g_autofree char *name = name_of(from, name_arg);
		g_autofree char *v = get_xattr(path, name);
		g_auto(GStrv) lines = NULL;

		if (!v)
			return errno;
		lines = g_strsplit(v, "\n", -1);
		more = false;
		for (char **l = lines; *l && **l; l++) {
			guint64 next;

			if (sscanf(*l, "more %" SCNu64, &next) == 1 && next > from) {
				from = next;
				more = true;
			} else if (!fn(*l, arg)) {
				*bad = g_strdup(*l);
				return EPROTO;
			}
		}
	}
	return 0;
}
