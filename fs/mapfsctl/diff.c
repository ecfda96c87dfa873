/* diff: what changed in a file since one of its snapshots, from the
 * daemon's user.mapfs.changed on F@@/snap/NAME, which costs what changed,
 * not the file's size: "size SNAPSHOT_SIZE FILE_SIZE", then one
 * "OFFSET LENGTH" line per range, and a last "more FROM" when the rest is
 * to be asked for with user.mapfs.changed.FROM. See mapfsctl.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mapfsctl.h"

typedef struct Diff {
	guint64 snap_size, size;
	GArray *ranges;         /* guint64 pairs: offset, length */
} Diff;

static char *changed_name(guint64 from, const void *arg)
{
	(void)arg;
	return from ? g_strdup_printf("user.mapfs.changed.%" PRIu64, from)
		    : g_strdup("user.mapfs.changed");
}

static bool diff_line(const char *l, void *arg)
{
	Diff *d = arg;
	guint64 a, b;

	if (sscanf(l, "size %" SCNu64 " %" SCNu64, &a, &b) == 2) {
		d->snap_size = a;
		d->size = b;
	} else if (sscanf(l, "%" SCNu64 " %" SCNu64, &a, &b) == 2) {
		g_array_append_val(d->ranges, a);
		g_array_append_val(d->ranges, b);
	} else {
		return false;
	}
	return true;
}

/* Read every part of the answer into d; returns 0 or an errno (EPROTO:
 * an answer mapfsctl does not understand, *bad the line). */
static int diff_read(const char *path, Diff *d, char **bad)
{
	return read_paged_xattr(path, changed_name, NULL, diff_line, d, bad);
}

int cmd_diff(const char *file_arg, const char *name)
{
	g_autofree char *file = NULL, *path = NULL, *what = NULL, *bad = NULL;
	Diff d = { .ranges = g_array_new(FALSE, FALSE, sizeof(guint64)) };
	g_autoptr(GString) out = NULL;
	int r;

	check_name("snapshot", name);
	what = g_strdup_printf("cannot diff snapshot '%s' of", name);
	file = check_file(file_arg, what);
	path = entry_path(file, "snap", name);
	r = diff_read(path, &d, &bad);
	if (r)
		die(r, bad ? bad : diagnose(file, "snap", r),
		    "cannot diff snapshot '%s' of %s", name, file_arg);
	if (!opt_json) {
		printf("snapshot %s of %s: %" PRIu64 " bytes, now %" PRIu64 "\n",
		       name, file_arg, d.snap_size, d.size);
		for (guint i = 0; i < d.ranges->len; i += 2)
			printf("changed %" PRIu64 "+%" PRIu64 "\n",
			       g_array_index(d.ranges, guint64, i),
			       g_array_index(d.ranges, guint64, i + 1));
		g_array_free(d.ranges, TRUE);
		return 0;
	}
	out = json_file_object(file);
	json_key(out, "snapshot");
	json_str(out, name);
	g_string_append_printf(out, ", \"snapshot_size\": %" PRIu64
			       ", \"size\": %" PRIu64 ", \"changed\": [",
			       d.snap_size, d.size);
	for (guint i = 0; i < d.ranges->len; i += 2)
		g_string_append_printf(out, "%s{\"offset\": %" PRIu64
				       ", \"length\": %" PRIu64 "}",
				       i ? ", " : "",
				       g_array_index(d.ranges, guint64, i),
				       g_array_index(d.ranges, guint64, i + 1));
	g_string_append(out, "]}");
	json_print(out);
	g_array_free(d.ranges, TRUE);
	return 0;
}
