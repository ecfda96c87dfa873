/* mapfsctl: snapshots and private copy-on-write views of files on a mapfs
 * mount, for scripts.
 *
 * mapfsctl has no private channel to the daemon: every operation is an
 * ordinary system call on a path of the mount's namespace, the same one
 * that touch, ls, mv and rm make (see DESIGN.md, "Ordinary tools are the
 * interface"):
 *
 *   snapshot create    open(F@@/snap/NAME, O_CREAT|O_EXCL|O_WRONLY), close
 *   snapshot delete    unlink(F@@/snap/NAME)
 *   snapshot rename    renameat2(F@@/snap/OLD, F@@/snap/NEW, RENAME_NOREPLACE)
 *   snapshot list      readdir(F@@/snap), stat and user.mapfs.* xattrs
 *   cow create         open(F@@/cow/NAME, O_CREAT|O_EXCL|O_WRONLY), close
 *   cow commit         rename(F@@/cow/NAME, F)
 *   cow discard        unlink(F@@/cow/NAME)
 *   cow list           readdir(F@@/cow), stat and xattrs
 *   list               a walk of the tree (never following symlinks, not
 *                      entering F@@ view directories, one filesystem),
 *                      then of DIR/.removed (removed files' views)
 *   stats              getxattr(MOUNTPOINT, user.mapfs.stats)
 *
 * What mapfsctl adds is checking (names, the file), clear one-line errors
 * and JSON output.  Exit status: 0 success, 1 an operation failed, 2 a
 * usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib.h>

#ifndef MAPFS_VERSION
#define MAPFS_VERSION "unknown"
#endif

#define STATS_XATTR "user.mapfs.stats"
/* MOUNT/.removed/KEY@INO@@: files removed while they had snapshots. */
#define REMOVED_DIR ".removed"
#define EXIT_FAILED 1
#define EXIT_USAGE 2

static bool opt_json;

/* ------------------------------------------------------------------ */
/* JSON, written by hand                                               */

/* A JSON string: quotes, backslashes and control characters escaped.
 * Paths and names are bytes; a byte that is not part of valid UTF-8 is
 * written as U+FFFD, so the output is always valid JSON. */
static void json_str(GString *out, const char *s)
{
	const char *p = s, *end = s + strlen(s);

	g_string_append_c(out, '"');
	while (p < end) {
		const char *bad;

		/* The longest valid UTF-8 run from p. */
		g_utf8_validate(p, end - p, &bad);
		for (const char *q = p; q < bad; q++) {
			unsigned char c = (unsigned char)*q;

			switch (c) {
			case '"':
				g_string_append(out, "\\\"");
				break;
			case '\\':
				g_string_append(out, "\\\\");
				break;
			case '\b':
				g_string_append(out, "\\b");
				break;
			case '\f':
				g_string_append(out, "\\f");
				break;
			case '\n':
				g_string_append(out, "\\n");
				break;
			case '\r':
				g_string_append(out, "\\r");
				break;
			case '\t':
				g_string_append(out, "\\t");
				break;
			default:
				if (c < 0x20 || c == 0x7f)
					g_string_append_printf(out, "\\u%04x", c);
				else
					g_string_append_c(out, (char)c);
			}
		}
		p = bad;
		if (p < end) {
			g_string_append(out, "\\ufffd");
			p++;
		}
	}
	g_string_append_c(out, '"');
}

/* "KEY": */
static void json_key(GString *out, const char *key)
{
	json_str(out, key);
	g_string_append(out, ": ");
}

static void json_str_or_null(GString *out, const char *s)
{
	if (s)
		json_str(out, s);
	else
		g_string_append(out, "null");
}

static void json_int_or_null(GString *out, gint64 v)
{
	if (v >= 0)
		g_string_append_printf(out, "%" G_GINT64_FORMAT, v);
	else
		g_string_append(out, "null");
}

/* Write one JSON document (and a newline) to stdout. */
static void json_print(GString *out)
{
	g_string_append_c(out, '\n');
	fwrite(out->str, 1, out->len, stdout);
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "";
}

/* Messages stay on one line whatever bytes a name holds. */
static void print_line(FILE *f, const char *msg)
{
	fputs("mapfsctl: ", f);
	for (const char *p = msg; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	fputc('\n', f);
}

static void report_error(const char *msg, int e, bool usage)
{
	print_line(stderr, msg);
	if (usage)
		fprintf(stderr, "Try 'mapfsctl --help' for more information.\n");
	if (opt_json) {
		GString *out = g_string_new("{");

		json_key(out, "error");
		json_str(out, msg);
		g_string_append_printf(out, ", \"errno\": %d, ", e);
		json_key(out, "code");
		json_str(out, errno_name(e));
		if (usage)
			g_string_append(out, ", \"usage\": true");
		g_string_append_c(out, '}');
		json_print(out);
		g_string_free(out, TRUE);
	}
}

/* An operation failed with errno E: "mapfsctl: WHAT[: DETAIL]: strerror"
 * on stderr, the error object on stdout with --json, exit 1. */
G_GNUC_PRINTF(3, 4)
static G_NORETURN void die(int e, const char *detail, const char *fmt, ...)
{
	va_list ap;
	GString *msg = g_string_new(NULL);

	va_start(ap, fmt);
	g_string_append_vprintf(msg, fmt, ap);
	va_end(ap);
	if (detail)
		g_string_append_printf(msg, ": %s", detail);
	g_string_append_printf(msg, ": %s", g_strerror(e));
	report_error(msg->str, e, false);
	exit(EXIT_FAILED);
}

G_GNUC_PRINTF(1, 2)
static G_NORETURN void usage_error(const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	report_error(msg, EINVAL, true);
	exit(EXIT_USAGE);
}

/* A warning that does not stop a walk (the walk then exits 1). */
typedef struct WalkError {
	char *path;
	char *msg;
	int errnum;
} WalkError;

static GPtrArray *walk_errors;

G_GNUC_PRINTF(3, 4)
static void warn(const char *path, int e, const char *fmt, ...)
{
	va_list ap;
	WalkError *w = g_new0(WalkError, 1);
	GString *msg = g_string_new(NULL);

	va_start(ap, fmt);
	g_string_append_vprintf(msg, fmt, ap);
	va_end(ap);
	g_string_append_printf(msg, ": %s", g_strerror(e));
	print_line(stderr, msg->str);
	w->path = g_strdup(path);
	w->msg = g_string_free(msg, FALSE);
	w->errnum = e;
	g_ptr_array_add(walk_errors, w);
}

/* ------------------------------------------------------------------ */
/* Names and files                                                     */

/* Snapshot and view names are one path component.  The daemon checks
 * them too; checking here gives a clear message and sends nothing. */
static void check_name(const char *kind, const char *name)
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

static char *get_xattr(const char *path, const char *name);
static bool is_view_dir(const char *path);

/* The path of FILE to work on.  FILE must be a regular file (a symbolic
 * link is followed to the file it names, which is the one worked on),
 * and FILE@@, if it exists, its view directory: a real directory of the
 * backing tree named FILE@@ hides the view directory, and must not be
 * taken for it. */
static char *check_file(const char *file, const char *what)
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
static char *kind_dir(const char *file, const char *kind)
{
	return g_strconcat(file, "@@/", kind, NULL);
}

static char *entry_path(const char *file, const char *kind, const char *name)
{
	return g_strconcat(file, "@@/", kind, "/", name, NULL);
}

/* Why FILE@@/KIND/... gave ENOENT, when the reason is not the entry:
 * FILE is not on a mapfs mount, or its daemon has no snapshots (views). */
static const char *diagnose(const char *file, const char *kind, int e)
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

/* ------------------------------------------------------------------ */
/* Snapshots and private views: one entry                              */

typedef struct Entry {
	char *name;
	char *path;
	gint64 size;
	gint64 pages;		/* -1: not reported */
	char *taken;		/* snapshots; NULL: not reported */
	char *state;		/* snapshots; NULL: not reported */
	struct timespec mtime;
} Entry;

static void entry_free(gpointer p)
{
	Entry *e = p;

	g_free(e->name);
	g_free(e->path);
	g_free(e->taken);
	g_free(e->state);
	g_free(e);
}

/* One xattr of PATH as a string, or NULL (errno set). */
static char *get_xattr(const char *path, const char *name)
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

/* Stat an entry and read its user.mapfs.* attributes.  Returns 0, or an
 * errno (stat failed: ENOENT when it went away meanwhile).  Attributes
 * the daemon does not give are left unreported (null in JSON). */
static int entry_load(Entry *e, bool snap)
{
	g_autofree char *pages = NULL;
	struct stat st;
	guint64 v;

	if (lstat(e->path, &st) < 0)
		return errno;
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	e->pages = -1;
	pages = get_xattr(e->path, "user.mapfs.pages");
	if (pages && g_ascii_string_to_unsigned(g_strstrip(pages), 10, 0,
						G_MAXINT64, &v, NULL))
		e->pages = (gint64)v;
	if (snap) {
		e->taken = get_xattr(e->path, "user.mapfs.taken");
		e->state = get_xattr(e->path, "user.mapfs.state");
		if (e->taken)
			g_strstrip(e->taken);
		if (e->state)
			g_strstrip(e->state);
	}
	return 0;
}

static Entry *entry_new(const char *file, const char *kind, const char *name)
{
	Entry *e = g_new0(Entry, 1);

	e->name = g_strdup(name);
	e->path = entry_path(file, kind, name);
	return e;
}

/* Oldest first (time taken, then name). */
static gint entry_cmp(gconstpointer a, gconstpointer b)
{
	const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static gint name_cmp(gconstpointer a, gconstpointer b)
{
	const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;

	return strcmp(x->name, y->name);
}

/* The entries of FILE@@/KIND, sorted (snapshots oldest first, private
 * views by name); NULL with *err set when the directory cannot be read.
 * Entries that vanish while being listed are left out. */
static GPtrArray *list_kind(const char *file, const char *kind, int *err)
{
	g_autofree char *dir = kind_dir(file, kind);
	bool snap = strcmp(kind, "snap") == 0;
	GPtrArray *list;
	struct dirent *de;
	DIR *dp;

	dp = opendir(dir);
	if (!dp) {
		*err = errno;
		return NULL;
	}
	list = g_ptr_array_new_with_free_func(entry_free);
	for (;;) {
		Entry *e;
		int r;

		errno = 0;
		de = readdir(dp);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		e = entry_new(file, kind, de->d_name);
		r = entry_load(e, snap);
		if (r == ENOENT) {
			entry_free(e);
			continue;
		}
		if (r) {
			entry_free(e);
			g_ptr_array_unref(list);
			closedir(dp);
			*err = r;
			return NULL;
		}
		g_ptr_array_add(list, e);
	}
	if (errno) {
		*err = errno;
		g_ptr_array_unref(list);
		closedir(dp);
		return NULL;
	}
	closedir(dp);
	g_ptr_array_sort(list, snap ? entry_cmp : name_cmp);
	return list;
}

static void entry_json(GString *out, const Entry *e, bool snap)
{
	g_string_append_c(out, '{');
	json_key(out, "name");
	json_str(out, e->name);
	g_string_append(out, ", ");
	json_key(out, "path");
	json_str(out, e->path);
	g_string_append_printf(out, ", \"size\": %" G_GINT64_FORMAT
			       ", \"pages\": ", e->size);
	json_int_or_null(out, e->pages);
	if (snap) {
		g_string_append(out, ", ");
		json_key(out, "taken");
		json_str_or_null(out, e->taken);
		g_string_append(out, ", ");
		json_key(out, "state");
		json_str_or_null(out, e->state);
	}
	g_string_append_c(out, '}');
}

static void entries_json(GString *out, GPtrArray *list, bool snap)
{
	g_string_append_c(out, '[');
	for (guint i = 0; i < list->len; i++) {
		if (i)
			g_string_append(out, ", ");
		entry_json(out, list->pdata[i], snap);
	}
	g_string_append_c(out, ']');
}

static char *int_or_dash(gint64 v)
{
	return v >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, v)
		      : g_strdup("-");
}

/* A table: NAME SIZE PAGES [TAKEN STATE], one entry per line, INDENT
 * before each line. */
static void entries_table(GPtrArray *list, bool snap, const char *indent)
{
	int wn = 4, ws = 4, wp = 5, wt = 5;

	for (guint i = 0; i < list->len; i++) {
		const Entry *e = list->pdata[i];
		g_autofree char *size = int_or_dash(e->size);
		g_autofree char *pages = int_or_dash(e->pages);

		wn = MAX(wn, (int)strlen(e->name));
		ws = MAX(ws, (int)strlen(size));
		wp = MAX(wp, (int)strlen(pages));
		if (e->taken)
			wt = MAX(wt, (int)strlen(e->taken));
	}
	if (snap)
		printf("%s%-*s  %*s  %*s  %-*s  %s\n", indent, wn, "NAME", ws,
		       "SIZE", wp, "PAGES", wt, "TAKEN", "STATE");
	else
		printf("%s%-*s  %*s  %*s\n", indent, wn, "NAME", ws, "SIZE",
		       wp, "PAGES");
	for (guint i = 0; i < list->len; i++) {
		const Entry *e = list->pdata[i];
		g_autofree char *size = int_or_dash(e->size);
		g_autofree char *pages = int_or_dash(e->pages);

		if (snap)
			printf("%s%-*s  %*s  %*s  %-*s  %s\n", indent, wn,
			       e->name, ws, size, wp, pages, wt,
			       e->taken ? e->taken : "-",
			       e->state ? e->state : "-");
		else
			printf("%s%-*s  %*s  %*s\n", indent, wn, e->name, ws,
			       size, wp, pages);
	}
}

/* ------------------------------------------------------------------ */
/* snapshot and cow                                                    */

typedef struct Kind {
	const char *dir;	/* "snap", "cow" */
	const char *noun;	/* "snapshot", "private view" */
	const char *key;	/* JSON key of one entry and of the list */
	const char *list_key;
} Kind;

static const Kind SNAP = { "snap", "snapshot", "snapshot", "snapshots" };
static const Kind COW = { "cow", "private view", "cow", "cow" };

/* Open-create-close FILE@@/KIND/NAME, then report it. */
static int cmd_create(const Kind *k, const char *file_arg, const char *name)
{
	g_autofree char *file = NULL, *path = NULL, *what = NULL;
	g_autoptr(GString) out = NULL;
	Entry *e;
	int fd, r;

	check_name(k->noun, name);
	what = g_strdup_printf("cannot create %s '%s' of", k->noun, name);
	file = check_file(file_arg, what);
	path = entry_path(file, k->dir, name);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY,
		  0444);
	if (fd < 0) {
		int e0 = errno;

		die(e0, diagnose(file, k->dir, e0), "cannot create %s '%s' of %s",
		    k->noun, name, file_arg);
	}
	if (close(fd) < 0)
		die(errno, path, "creating %s '%s' of %s", k->noun, name,
		    file_arg);
	e = entry_new(file, k->dir, name);
	r = entry_load(e, k == &SNAP);
	if (r)
		die(r, path, "created %s '%s' of %s, but cannot stat it",
		    k->noun, name, file_arg);
	if (opt_json) {
		out = g_string_new("{");
		json_key(out, "file");
		json_str(out, file);
		g_string_append(out, ", ");
		json_key(out, k->key);
		entry_json(out, e, k == &SNAP);
		g_string_append_c(out, '}');
		json_print(out);
	} else {
		printf("%s\n", e->path);
	}
	entry_free(e);
	return 0;
}

static int cmd_list_kind(const Kind *k, const char *file_arg)
{
	g_autofree char *file = NULL, *what = NULL;
	g_autoptr(GString) out = NULL;
	GPtrArray *list;
	int err = 0;

	what = g_strdup_printf("cannot list the %ss of", k->noun);
	file = check_file(file_arg, what);
	list = list_kind(file, k->dir, &err);
	if (!list)
		die(err, diagnose(file, k->dir, err), "cannot list the %ss of %s",
		    k->noun, file_arg);
	if (opt_json) {
		out = g_string_new("{");
		json_key(out, "file");
		json_str(out, file);
		g_string_append(out, ", ");
		json_key(out, k->list_key);
		entries_json(out, list, k == &SNAP);
		g_string_append_c(out, '}');
		json_print(out);
	} else {
		entries_table(list, k == &SNAP, "");
	}
	g_ptr_array_unref(list);
	return 0;
}

/* unlink FILE@@/KIND/NAME: delete a snapshot, discard a private view. */
static int cmd_remove(const Kind *k, const char *file_arg, const char *name)
{
	const char *verb = k == &SNAP ? "delete" : "discard";
	const char *done = k == &SNAP ? "deleted" : "discarded";
	g_autofree char *file = NULL, *path = NULL, *what = NULL;
	g_autoptr(GString) out = NULL;

	check_name(k->noun, name);
	what = g_strdup_printf("cannot %s %s '%s' of", verb, k->noun, name);
	file = check_file(file_arg, what);
	path = entry_path(file, k->dir, name);
	if (unlink(path) < 0) {
		int e0 = errno;

		die(e0, diagnose(file, k->dir, e0), "cannot %s %s '%s' of %s",
		    verb, k->noun, name, file_arg);
	}
	if (opt_json) {
		out = g_string_new("{");
		json_key(out, "file");
		json_str(out, file);
		g_string_append(out, ", ");
		json_key(out, done);
		json_str(out, name);
		g_string_append_c(out, '}');
		json_print(out);
	}
	return 0;
}

/* Rename a snapshot, never over another one (RENAME_NOREPLACE). */
static int cmd_snap_rename(const char *file_arg, const char *old,
			   const char *new)
{
	g_autofree char *file = NULL, *from = NULL, *to = NULL, *what = NULL;
	g_autoptr(GString) out = NULL;
	Entry *e;
	int r;

	check_name("snapshot", old);
	check_name("snapshot", new);
	what = g_strdup_printf("cannot rename snapshot '%s' to '%s' of", old,
			       new);
	file = check_file(file_arg, what);
	from = entry_path(file, "snap", old);
	to = entry_path(file, "snap", new);
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		int e0 = errno;

		die(e0, diagnose(file, "snap", e0),
		    "cannot rename snapshot '%s' to '%s' of %s", old, new,
		    file_arg);
	}
	if (opt_json) {
		e = entry_new(file, "snap", new);
		r = entry_load(e, true);
		if (r)
			die(r, to, "renamed snapshot '%s' to '%s' of %s, but cannot stat it",
			    old, new, file_arg);
		out = g_string_new("{");
		json_key(out, "file");
		json_str(out, file);
		g_string_append(out, ", \"renamed\": {");
		json_key(out, "from");
		json_str(out, old);
		g_string_append(out, ", ");
		json_key(out, "to");
		json_str(out, new);
		g_string_append(out, "}, ");
		json_key(out, "snapshot");
		entry_json(out, e, true);
		g_string_append_c(out, '}');
		json_print(out);
		entry_free(e);
	}
	return 0;
}

/* rename(FILE@@/cow/NAME, FILE): the daemon puts the private pages into
 * the file, atomically for readers of the mount, and removes the view. */
static int cmd_cow_commit(const char *file_arg, const char *name)
{
	g_autofree char *file = NULL, *path = NULL, *what = NULL;
	g_autoptr(GString) out = NULL;
	struct stat st;

	check_name("private view", name);
	what = g_strdup_printf("cannot commit private view '%s' into", name);
	file = check_file(file_arg, what);
	path = entry_path(file, "cow", name);
	if (rename(path, file) < 0) {
		int e0 = errno;

		die(e0, diagnose(file, "cow", e0),
		    "cannot commit private view '%s' into %s", name, file_arg);
	}
	if (opt_json) {
		if (stat(file, &st) < 0)
			die(errno, NULL, "committed private view '%s' into %s, but cannot stat it",
			    name, file_arg);
		out = g_string_new("{");
		json_key(out, "file");
		json_str(out, file);
		g_string_append(out, ", ");
		json_key(out, "committed");
		json_str(out, name);
		g_string_append_printf(out, ", \"size\": %lld}",
				       (long long)st.st_size);
		json_print(out);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* list: a whole tree                                                  */

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

/* Is PATH (a directory named X@@) the view directory of the file X, and
 * not a real directory of that name?  A view directory holds the rw view,
 * which says so in user.mapfs.mode. */
static bool is_view_dir(const char *path)
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

static int cmd_list(const char *root_arg)
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

/* ------------------------------------------------------------------ */
/* stats                                                               */

/* A value the daemon gives as a number is written as a JSON number. */
static bool is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!g_ascii_isdigit(*p))
		return false;
	if (*p == '0' && g_ascii_isdigit(p[1]))
		return false;
	while (g_ascii_isdigit(*p))
		p++;
	if (*p == '.') {
		p++;
		if (!g_ascii_isdigit(*p))
			return false;
		while (g_ascii_isdigit(*p))
			p++;
	}
	return *p == '\0';
}

static int cmd_stats(const char *mount)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GString) out = NULL;
	bool first = true;

	if (!*mount)
		die(ENOENT, NULL, "cannot read the statistics of ''");
	text = get_xattr(mount, STATS_XATTR);
	if (!text) {
		int e0 = errno;

		die(e0,
		    e0 == ENODATA || e0 == ENOTSUP
			    ? "not the mount point of a mapfs (no " STATS_XATTR ")"
			    : NULL,
		    "cannot read the statistics of %s", mount);
	}
	if (!opt_json) {
		fputs(text, stdout);
		if (*text && text[strlen(text) - 1] != '\n')
			putchar('\n');
		return 0;
	}
	out = g_string_new("{");
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *eq = strchr(*l, '=');

		if (!eq)
			continue;
		*eq = '\0';
		g_strstrip(*l);
		g_strstrip(eq + 1);
		if (!**l)
			continue;
		if (!first)
			g_string_append(out, ", ");
		first = false;
		json_key(out, *l);
		if (is_json_number(eq + 1))
			g_string_append(out, eq + 1);
		else
			json_str(out, eq + 1);
	}
	g_string_append_c(out, '}');
	json_print(out);
	return 0;
}

/* ------------------------------------------------------------------ */
/* main                                                                */

static const char usage_text[] =
	"Usage: mapfsctl [--json] COMMAND ARGS...\n"
	"\n"
	"Snapshots and private copy-on-write views of files on a mapfs mount,\n"
	"through the mount's own namespace (FILE@@/snap/, FILE@@/cow/).\n"
	"\n"
	"Commands:\n"
	"  snapshot create FILE NAME      take snapshot NAME of FILE\n"
	"  snapshot list FILE             list FILE's snapshots (oldest first)\n"
	"  snapshot delete FILE NAME      delete a snapshot, freeing its pages\n"
	"  snapshot rename FILE OLD NEW   rename a snapshot (never over another)\n"
	"  cow create FILE NAME           start private view NAME of FILE\n"
	"  cow list FILE                  list FILE's private views\n"
	"  cow commit FILE NAME           write a private view into FILE\n"
	"  cow discard FILE NAME          discard a private view\n"
	"  list DIR                       snapshots and private views of every\n"
	"                                 file under DIR (and, for a mount,\n"
	"                                 of removed files, in DIR/.removed)\n"
	"  stats MOUNTPOINT               the daemon's figures\n"
	"\n"
	"Options:\n"
	"  -j, --json      print one JSON object on stdout (errors too)\n"
	"  -h, --help      print this help and exit\n"
	"  -V, --version   print the version and exit\n"
	"  --              end of options (for names that begin with '-')\n"
	"\n"
	"Exit status: 0 success, 1 an operation failed, 2 a usage error.\n"
	"See mapfsctl(1).\n";

static void need_args(const char *cmd, int have, int want, const char *args)
{
	if (have != want)
		usage_error("'%s' takes %s (got %d argument%s)", cmd, args,
			    have, have == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	bool help = false, version = false, dashdash = false;
	const char *cmd, *sub;
	char **a;
	int n;

	/* Options may come anywhere before "--"; "--json" is looked for
	 * first, so that even a usage error is reported as JSON. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			opt_json = true;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (dashdash || s[0] != '-' || s[1] == '\0') {
			g_ptr_array_add(args, argv[i]);
		} else if (strcmp(s, "--") == 0) {
			dashdash = true;
		} else if (strcmp(s, "--json") == 0 || strcmp(s, "-j") == 0) {
			opt_json = true;
		} else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			help = true;
		} else if (strcmp(s, "--version") == 0 ||
			   strcmp(s, "-V") == 0) {
			version = true;
		} else {
			usage_error("unknown option '%s'", s);
		}
	}
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (version) {
		if (opt_json)
			printf("{\"version\": \"%s\"}\n", MAPFS_VERSION);
		else
			printf("mapfsctl %s\n", MAPFS_VERSION);
		return 0;
	}
	walk_errors = g_ptr_array_new();
	a = (char **)args->pdata;
	n = (int)args->len;
	if (n == 0)
		usage_error("no command given");
	cmd = a[0];
	if (strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "cow") == 0) {
		const Kind *k = cmd[0] == 's' ? &SNAP : &COW;
		g_autofree char *full = NULL;

		if (n < 2)
			usage_error("'%s' needs a subcommand (%s)", cmd,
				    k == &SNAP ? "create, list, delete, rename"
					       : "create, list, commit, discard");
		sub = a[1];
		full = g_strdup_printf("%s %s", cmd, sub);
		if (strcmp(sub, "create") == 0) {
			need_args(full, n - 2, 2, "FILE NAME");
			return cmd_create(k, a[2], a[3]);
		}
		if (strcmp(sub, "list") == 0) {
			need_args(full, n - 2, 1, "FILE");
			return cmd_list_kind(k, a[2]);
		}
		if (k == &SNAP && strcmp(sub, "delete") == 0) {
			need_args(full, n - 2, 2, "FILE NAME");
			return cmd_remove(k, a[2], a[3]);
		}
		if (k == &SNAP && strcmp(sub, "rename") == 0) {
			need_args(full, n - 2, 3, "FILE OLD NEW");
			return cmd_snap_rename(a[2], a[3], a[4]);
		}
		if (k == &COW && strcmp(sub, "commit") == 0) {
			need_args(full, n - 2, 2, "FILE NAME");
			return cmd_cow_commit(a[2], a[3]);
		}
		if (k == &COW && strcmp(sub, "discard") == 0) {
			need_args(full, n - 2, 2, "FILE NAME");
			return cmd_remove(k, a[2], a[3]);
		}
		usage_error("unknown '%s' subcommand '%s' (%s)", cmd, sub,
			    k == &SNAP ? "create, list, delete, rename"
				       : "create, list, commit, discard");
	}
	if (strcmp(cmd, "list") == 0) {
		need_args("list", n - 1, 1, "MOUNTPOINT_OR_DIR");
		return cmd_list(a[1]);
	}
	if (strcmp(cmd, "stats") == 0) {
		need_args("stats", n - 1, 1, "MOUNTPOINT");
		return cmd_stats(a[1]);
	}
	usage_error("unknown command '%s'", cmd);
}
