/* entry-verbs: the snapshot and cow verbs, one system call each on
 * F@@/snap/NAME or F@@/cow/NAME. See mapfsctl.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapfsctl.h"

const Kind SNAP = { "snap", "snapshot", "snapshot", "snapshots" };
const Kind COW = { "cow", "private view", "cow", "cow" };

/* Open-create-close FILE@@/KIND/NAME, then report it. */
int cmd_create(const Kind *k, const char *file_arg, const char *name)
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
		out = json_file_object(file);
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

int cmd_list_kind(const Kind *k, const char *file_arg)
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
		out = json_file_object(file);
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
int cmd_remove(const Kind *k, const char *file_arg, const char *name)
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
		out = json_file_object(file);
		json_key(out, done);
		json_str(out, name);
		g_string_append_c(out, '}');
		json_print(out);
	}
	return 0;
}

/* Rename a snapshot, never over another one (RENAME_NOREPLACE). */
int cmd_snap_rename(const char *file_arg, const char *old,
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
		out = json_file_object(file);
		g_string_append(out, "\"renamed\": {");
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

/* rename(FILE@@/KIND/NAME, FILE), which the daemon answers by putting the
 * entry's bytes into the file (what says so in errors, done in JSON). */
static int entry_onto_file(const char *file_arg, const char *kind,
			   const char *name, const char *what,
			   const char *done)
{
	g_autofree char *file = NULL, *path = NULL, *fail = NULL;
	g_autoptr(GString) out = NULL;
	struct stat st;

	check_name(strcmp(kind, "cow") == 0 ? "private view" : "snapshot",
		   name);
	fail = g_strdup_printf("cannot %s '%s' into", what, name);
	file = check_file(file_arg, fail);
	path = entry_path(file, kind, name);
	if (rename(path, file) < 0) {
		int e0 = errno;

		die(e0, diagnose(file, kind, e0), "cannot %s '%s' into %s",
		    what, name, file_arg);
	}
	if (!opt_json)
		return 0;       /* nothing to say, as mv */
	if (stat(file, &st) < 0)
		die(errno, NULL, "%s: done with '%s', but cannot stat it",
		    file_arg, name);
	out = json_file_object(file);
	json_key(out, done);
	json_str(out, name);
	g_string_append_printf(out, ", \"size\": %lld}", (long long)st.st_size);
	json_print(out);
	return 0;
}

/* The daemon puts the private pages into the file, atomically for
 * readers of the mount, and removes the view. */
int cmd_cow_commit(const char *file_arg, const char *name)
{
	return entry_onto_file(file_arg, "cow", name, "commit private view",
			       "committed");
}

/* The daemon puts the snapshot's bytes and size back into the file,
 * writing only what changed since, and deletes the snapshot. */
int cmd_snap_rollback(const char *file_arg, const char *name)
{
	return entry_onto_file(file_arg, "snap", name,
			       "roll back to snapshot", "rolled_back");
}
