/* entries: one snapshot or private view (its stat and user.mapfs.*
 * attributes), the sorted entries of F@@/snap or F@@/cow, as JSON or as a
 * table. See mapfsctl.h. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "mapfsctl.h"

void entry_free(gpointer p)
{
	Entry *e = p;

	g_free(e->name);
	g_free(e->path);
	g_free(e->taken);
	g_free(e->state);
	g_free(e);
}

/* Stat an entry and read its user.mapfs.* attributes.  Returns 0, or an
 * errno (stat failed: ENOENT when it went away meanwhile).  Attributes
 * the daemon does not give are left unreported (null in JSON). */
int entry_load(Entry *e, bool snap)
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

Entry *entry_new(const char *file, const char *kind, const char *name)
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
GPtrArray *list_kind(const char *file, const char *kind, int *err)
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

void entry_json(GString *out, const Entry *e, bool snap)
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

void entries_json(GString *out, GPtrArray *list, bool snap)
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
void entries_table(GPtrArray *list, bool snap, const char *indent)
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
