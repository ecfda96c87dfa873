/* tree: whole-tree snapshots (MOUNT/.snapshots/NAME) and what changed
 * between one and the live tree or a later one, from the daemon's
 * user.mapfs.diff[.SNAP2][@FROM] on MOUNT/.snapshots/SNAP. See mapfsctl.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapfsctl.h"

/* MOUNT/.snapshots, checked to be a mapfs mount's. */
static char *snapshots_dir(const char *mount, const char *what)
{
	char *dir = g_build_filename(mount, TREE_SNAPSHOTS_DIR, NULL);
	struct stat st;

	if (stat(mount, &st) < 0)
		die(errno, NULL, "%s %s", what, mount);
	if (!S_ISDIR(st.st_mode))
		die(ENOTDIR, "tree snapshots are of a whole mount", "%s %s",
		    what, mount);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		die(ENOENT, "not the root of a mapfs mount with tree snapshots "
		    "(no MOUNT/" TREE_SNAPSHOTS_DIR ")", "%s %s", what, mount);
	return dir;
}

static char *iso_time(const struct timespec *ts)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(ts->tv_sec);
	g_autofree char *s = dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S")
				: NULL;

	return s ? g_strdup_printf("%s.%09ldZ", s, ts->tv_nsec) : g_strdup("?");
}

typedef struct TreeSnap {
	char *name;
	char *path;
	struct timespec taken;
} TreeSnap;

static void tree_snap_free(gpointer p)
{
	TreeSnap *s = p;

	g_free(s->name);
	g_free(s->path);
	g_free(s);
}

static gint taken_cmp(gconstpointer a, gconstpointer b)
{
	const TreeSnap *x = *(TreeSnap *const *)a, *y = *(TreeSnap *const *)b;

	if (x->taken.tv_sec != y->taken.tv_sec)
		return x->taken.tv_sec < y->taken.tv_sec ? -1 : 1;
	if (x->taken.tv_nsec != y->taken.tv_nsec)
		return x->taken.tv_nsec < y->taken.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static TreeSnap *tree_snap_load(const char *dir, const char *name)
{
	TreeSnap *s = g_new0(TreeSnap, 1);
	struct stat st;

	s->name = g_strdup(name);
	s->path = g_build_filename(dir, name, NULL);
	if (lstat(s->path, &st) < 0) {
		tree_snap_free(s);
		return NULL;
	}
	s->taken = st.st_mtim;      /* the daemon shows when it was taken */
	return s;
}

static void tree_snap_json(GString *out, const TreeSnap *s)
{
	g_autofree char *taken = iso_time(&s->taken);

	g_string_append_c(out, '{');
	json_key(out, "name");
	json_str(out, s->name);
	g_string_append(out, ", ");
	json_key(out, "path");
	json_str(out, s->path);
	g_string_append(out, ", ");
	json_key(out, "taken");
	json_str(out, taken);
	g_string_append_c(out, '}');
}

/* '{"mount": MOUNT, ' for the rest of a JSON object. */
static GString *mount_object(const char *mount)
{
	GString *out = g_string_new("{");

	json_key(out, "mount");
	json_str(out, mount);
	g_string_append(out, ", ");
	return out;
}

/* The snapshot made or renamed (from old, if not NULL). */
static void print_one(const char *mount, const char *old, const TreeSnap *s)
{
	g_autoptr(GString) out = NULL;

	if (!opt_json) {
		printf("%s\n", s->path);
		return;
	}
	out = mount_object(mount);
	if (old) {
		g_string_append(out, "\"renamed\": {");
		json_key(out, "from");
		json_str(out, old);
		g_string_append(out, ", ");
		json_key(out, "to");
		json_str(out, s->name);
		g_string_append(out, "}, ");
	}
	json_key(out, "tree_snapshot");
	tree_snap_json(out, s);
	g_string_append_c(out, '}');
	json_print(out);
}

int cmd_tree_create(const char *mount, const char *name)
{
	g_autofree char *dir = NULL, *path = NULL;
	TreeSnap *s;

	check_name("tree snapshot", name);
	dir = snapshots_dir(mount, "cannot take a tree snapshot of");
	path = g_build_filename(dir, name, NULL);
	if (mkdir(path, 0555) < 0)
		die(errno, NULL, "cannot take tree snapshot '%s' of %s", name,
		    mount);
	s = tree_snap_load(dir, name);
	if (!s)
		die(errno, path, "took tree snapshot '%s' of %s, but cannot stat it",
		    name, mount);
	print_one(mount, NULL, s);
	tree_snap_free(s);
	return 0;
}

int cmd_tree_delete(const char *mount, const char *name)
{
	g_autofree char *dir = NULL, *path = NULL;

	check_name("tree snapshot", name);
	dir = snapshots_dir(mount, "cannot delete a tree snapshot of");
	path = g_build_filename(dir, name, NULL);
	if (rmdir(path) < 0)
		die(errno, NULL, "cannot delete tree snapshot '%s' of %s", name,
		    mount);
	if (opt_json) {
		g_autoptr(GString) out = mount_object(mount);

		json_key(out, "deleted");
		json_str(out, name);
		g_string_append_c(out, '}');
		json_print(out);
	}
	return 0;
}

int cmd_tree_rename(const char *mount, const char *old, const char *new)
{
	g_autofree char *dir = NULL, *from = NULL, *to = NULL;
	TreeSnap *s;

	check_name("tree snapshot", old);
	check_name("tree snapshot", new);
	dir = snapshots_dir(mount, "cannot rename a tree snapshot of");
	from = g_build_filename(dir, old, NULL);
	to = g_build_filename(dir, new, NULL);
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
		die(errno, NULL, "cannot rename tree snapshot '%s' of %s to '%s'",
		    old, mount, new);
	s = tree_snap_load(dir, new);
	if (!s)
		die(errno, to, "renamed tree snapshot '%s' of %s, but cannot stat it",
		    old, mount);
	print_one(mount, old, s);
	tree_snap_free(s);
	return 0;
}

int cmd_tree_list(const char *mount)
{
	g_autofree char *dir = snapshots_dir(mount, "cannot list the tree snapshots of");
	g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(tree_snap_free);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		die(errno, dir, "cannot list the tree snapshots of %s", mount);
	while ((de = readdir(d))) {
		TreeSnap *s;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Deleted meanwhile: not listed. */
		s = tree_snap_load(dir, de->d_name);
		if (s)
			g_ptr_array_add(list, s);
	}
	closedir(d);
	g_ptr_array_sort(list, taken_cmp);
	if (opt_json) {
		g_autoptr(GString) out = mount_object(mount);

		json_key(out, "tree_snapshots");
		g_string_append_c(out, '[');
		for (guint i = 0; i < list->len; i++) {
			if (i)
				g_string_append(out, ", ");
			tree_snap_json(out, list->pdata[i]);
		}
		g_string_append(out, "]}");
		json_print(out);
		return 0;
	}
	if (list->len)
		printf("%-32s %s\n", "NAME", "TAKEN");
	for (guint i = 0; i < list->len; i++) {
		TreeSnap *s = list->pdata[i];
		g_autofree char *taken = iso_time(&s->taken);

		printf("%-32s %s\n", s->name, taken);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* diff MOUNT SNAP [SNAP2]                                             */

typedef struct Change {
	char sign;              /* + - > M */
	char type;              /* f d l o */
	char *path;
	char *to;               /* '>' */
	GArray *ranges;         /* 'M': guint64 pairs; NULL: attributes only */
} Change;

static void change_free(gpointer p)
{
	Change *c = p;

	g_free(c->path);
	g_free(c->to);
	if (c->ranges)
		g_array_free(c->ranges, TRUE);
	g_free(c);
}

/* One line of the daemon's answer: "S T PATH[\tMORE]", PATH and TO
 * escaped as g_strescape() does. NULL if it is not one. */
static Change *parse_change(const char *line)
{
	g_auto(GStrv) f = NULL;
	Change *c;

	if (strlen(line) < 5 || !strchr("+->M", line[0]) || line[1] != ' ' ||
	    !strchr("fdlo", line[2]) || line[3] != ' ')
		return NULL;
	f = g_strsplit(line + 4, "\t", -1);
	c = g_new0(Change, 1);
	c->sign = line[0];
	c->type = line[2];
	c->path = g_strcompress(f[0]);
	if (c->sign == '>') {
		if (!f[1] || f[2]) {
			change_free(c);
			return NULL;
		}
		c->to = g_strcompress(f[1]);
	} else if (c->sign == 'M' && f[1]) {
		c->ranges = g_array_new(FALSE, FALSE, sizeof(guint64));
		for (char **r = f + 1; *r; r++) {
			g_auto(GStrv) rs = g_strsplit(*r, " ", -1);

			for (char **x = rs; *x; x++) {
				guint64 off, len;

				if (!**x)
					continue;
				if (sscanf(*x, "%" SCNu64 "+%" SCNu64, &off, &len) != 2) {
					change_free(c);
					return NULL;
				}
				g_array_append_val(c->ranges, off);
				g_array_append_val(c->ranges, len);
			}
		}
	} else if (f[1]) {
		change_free(c);
		return NULL;
	}
	return c;
}

/* user.mapfs.diff[.TO]@FROM: the daemon reads the last "@DIGITS" as FROM,
 * so a TO of its own ("x@3") is always followed by one. */
static char *diff_name(guint64 from, const void *to)
{
	if (to)
		return g_strdup_printf("user.mapfs.diff.%s@%" PRIu64,
				       (const char *)to, from);
	return from ? g_strdup_printf("user.mapfs.diff@%" PRIu64, from)
		    : g_strdup("user.mapfs.diff");
}

static bool change_line(const char *l, void *changes)
{
	Change *c = parse_change(l);

	if (c)
		g_ptr_array_add(changes, c);
	return c != NULL;
}

/* Every part of the answer, into changes; returns 0 or an errno (EPROTO:
 * a line mapfsctl does not understand, in *bad). */
static int tree_diff_read(const char *path, const char *to, GPtrArray *changes,
			  char **bad)
{
	return read_paged_xattr(path, diff_name, to, change_line, changes, bad);
}

static const char *change_word(char sign)
{
	switch (sign) {
	case '+':
		return "created";
	case '-':
		return "removed";
	case '>':
		return "renamed";
	default:
		return "modified";
	}
}

static const char *type_word(char type)
{
	switch (type) {
	case 'f':
		return "file";
	case 'd':
		return "directory";
	case 'l':
		return "symlink";
	default:
		return "other";
	}
}

static void change_json(GString *out, const Change *c)
{
	g_string_append_c(out, '{');
	json_key(out, "change");
	json_str(out, change_word(c->sign));
	g_string_append(out, ", ");
	json_key(out, "type");
	json_str(out, type_word(c->type));
	g_string_append(out, ", ");
	json_key(out, "path");
	json_str(out, c->path);
	if (c->to) {
		g_string_append(out, ", ");
		json_key(out, "to");
		json_str(out, c->to);
	}
	if (c->sign == 'M') {
		g_string_append(out, ", \"changed\": ");
		if (!c->ranges)
			g_string_append(out, "null");
		else
			g_string_append_c(out, '[');
		for (guint i = 0; c->ranges && i < c->ranges->len; i += 2)
			g_string_append_printf(out, "%s{\"offset\": %" PRIu64
					       ", \"length\": %" PRIu64 "}",
					       i ? ", " : "",
					       g_array_index(c->ranges, guint64, i),
					       g_array_index(c->ranges, guint64, i + 1));
		if (c->ranges)
			g_string_append_c(out, ']');
	}
	g_string_append_c(out, '}');
}

/* Like zfs diff: "SIGN\tTYPE\tPATH[ -> TO][\tOFF+LEN ...]", the sign R
 * for a rename; bytes shown as written to the terminal, escaped. */
static void change_text(const Change *c)
{
	g_autofree char *path = g_strescape(c->path, NULL);

	printf("%c\t%c\t%s", c->sign == '>' ? 'R' : c->sign, c->type, path);
	if (c->to) {
		g_autofree char *to = g_strescape(c->to, NULL);

		printf(" -> %s", to);
	}
	for (guint i = 0; c->ranges && i < c->ranges->len; i += 2)
		printf("%c%" PRIu64 "+%" PRIu64, i ? ' ' : '\t',
		       g_array_index(c->ranges, guint64, i),
		       g_array_index(c->ranges, guint64, i + 1));
	putchar('\n');
}

int cmd_tree_diff(const char *mount, const char *snap, const char *to)
{
	g_autofree char *dir = NULL, *path = NULL, *bad = NULL;
	g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func(change_free);
	int r;

	check_name("tree snapshot", snap);
	if (to)
		check_name("tree snapshot", to);
	dir = snapshots_dir(mount, "cannot diff a tree snapshot of");
	path = g_build_filename(dir, snap, NULL);
	r = tree_diff_read(path, to, changes, &bad);
	if (r == ENODATA && to)
		die(ENOENT, NULL, "cannot diff tree snapshot '%s' of %s with '%s'",
		    snap, mount, to);
	if (r)
		die(r, bad, "cannot diff tree snapshot '%s' of %s%s%s", snap,
		    mount, to ? " with " : "", to ? to : "");
	if (!opt_json) {
		for (guint i = 0; i < changes->len; i++)
			change_text(changes->pdata[i]);
		return 0;
	}
	g_autoptr(GString) out = mount_object(mount);

	json_key(out, "from");
	json_str(out, snap);
	g_string_append(out, ", ");
	json_key(out, "to");
	json_str_or_null(out, to);
	g_string_append(out, ", \"changes\": [");
	for (guint i = 0; i < changes->len; i++) {
		if (i)
			g_string_append(out, ", ");
		change_json(out, changes->pdata[i]);
	}
	g_string_append(out, "]}");
	json_print(out);
	return 0;
}
