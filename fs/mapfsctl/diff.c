/* diff: what changed in a file since one of its snapshots, from the
 * daemon's user.mapfs.changed on F@@/snap/NAME, which costs what changed,
 * not the file's size. See mapfsctl.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mapfsctl.h"

/* What changed in FILE since snapshot NAME: the daemon's
 * user.mapfs.changed on FILE@@/snap/NAME ("size SNAP NOW", then
 * "OFFSET LENGTH" lines, and "more FROM" when there is more to ask for
 * with user.mapfs.changed.FROM). */
int cmd_diff(const char *file_arg, const char *name)
{
	g_autofree char *file = NULL, *path = NULL, *what = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	unsigned long long ssize = 0, size = 0;
	guint64 from = 0;
	bool more = true, first = true;

	check_name("snapshot", name);
	what = g_strdup_printf("cannot diff snapshot '%s' of", name);
	file = check_file(file_arg, what);
	path = entry_path(file, "snap", name);
	while (more) {
		g_autofree char *xname = from ? g_strdup_printf(
				"user.mapfs.changed.%" G_GUINT64_FORMAT, from)
					      : g_strdup("user.mapfs.changed");
		g_autofree char *v = get_xattr(path, xname);
		g_auto(GStrv) lines = NULL;

		if (!v) {
			int e0 = errno;

			die(e0, diagnose(file, "snap", e0),
			    "cannot diff snapshot '%s' of %s", name, file_arg);
		}
		lines = g_strsplit(v, "\n", -1);
		more = false;
		for (char **l = lines; *l && **l; l++) {
			unsigned long long off, len;

			if (sscanf(*l, "size %llu %llu", &ssize, &size) == 2) {
				if (!first)
					continue;
				if (opt_json) {
					g_string_append(out, "{");
					json_key(out, "file");
					json_str(out, file);
					g_string_append(out, ", ");
					json_key(out, "snapshot");
					json_str(out, name);
					g_string_append_printf(out,
						", \"snapshot_size\": %llu, \"size\": %llu, \"changed\": [",
						ssize, size);
				} else {
					printf("snapshot %s of %s: %llu bytes, now %llu\n",
					       name, file_arg, ssize, size);
				}
			} else if (sscanf(*l, "more %" G_GUINT64_FORMAT, &from) == 1) {
				more = true;
			} else if (sscanf(*l, "%llu %llu", &off, &len) == 2) {
				if (opt_json)
					g_string_append_printf(out,
						"%s{\"offset\": %llu, \"length\": %llu}",
						out->str[out->len - 1] == '[' ? "" : ", ",
						off, len);
				else
					printf("changed %llu+%llu\n", off, len);
			} else {
				die(EPROTO, *l, "cannot diff snapshot '%s' of %s: unexpected answer",
				    name, file_arg);
			}
		}
		first = false;
	}
	if (opt_json) {
		g_string_append(out, "]}");
		json_print(out);
	}
	return 0;
}
