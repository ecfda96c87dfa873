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
 *   snapshot rollback  rename(F@@/snap/NAME, F)
 *   diff               getxattr(F@@/snap/NAME, user.mapfs.changed[.FROM])
 *   tree create        mkdir(MOUNT/.snapshots/NAME)
 *   tree delete        rmdir(MOUNT/.snapshots/NAME)
 *   tree rename        renameat2(.snapshots/OLD, .snapshots/NEW, RENAME_NOREPLACE)
 *   tree list          readdir(MOUNT/.snapshots), stat (mtime: when taken)
 *   diff MOUNT A [B]   getxattr(MOUNT/.snapshots/A, user.mapfs.diff[.B][@FROM])
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
 *
 * The files, one job each, all sharing this header:
 *   output.c       the one output layer: JSON written by hand, errors
 *                  (text on stderr, and the error object with --json)
 *   paths.c        names, the file worked on, its F@@ paths, xattrs
 *   entries.c      one snapshot or private view: stat, attributes, lists,
 *                  as JSON or as a table
 *   entry-verbs.c  snapshot and cow verbs
 *   diff.c         diff: what changed in a file since a snapshot
 *   tree.c         tree snapshots and what changed in the whole tree
 *   list.c         list: a walk of a whole tree
 *   stats.c        stats: the daemon's figures
 *   main.c         options, usage and the verb table
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <glib.h>

#define STATS_XATTR "user.mapfs.stats"
/* MOUNT/.removed/KEY@INO@@: files removed while they had snapshots. */
#define REMOVED_DIR ".removed"
/* MOUNT/.snapshots/NAME: whole-tree snapshots. */
#define TREE_SNAPSHOTS_DIR ".snapshots"
#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* output.c */

extern bool opt_json;

void json_str(GString *out, const char *s);
void json_key(GString *out, const char *key);
/* A new JSON object's text so far: '{"file": FILE, ', for the rest. */
GString *json_file_object(const char *file);
void json_str_or_null(GString *out, const char *s);
void json_int_or_null(GString *out, gint64 v);
void json_print(GString *out);

const char *errno_name(int e);
G_GNUC_PRINTF(3, 4)
G_NORETURN void die(int e, const char *detail, const char *fmt, ...);
G_GNUC_PRINTF(1, 2)
G_NORETURN void usage_error(const char *fmt, ...);

typedef struct WalkError {
	char *path;
	char *msg;
	int errnum;
} WalkError;

extern GPtrArray *walk_errors;     /* WalkError*, of the walk of list */
G_GNUC_PRINTF(3, 4)
void warn(const char *path, int e, const char *fmt, ...);

/* paths.c */

void check_name(const char *kind, const char *name);
char *check_file(const char *file, const char *what);
char *kind_dir(const char *file, const char *kind);
char *entry_path(const char *file, const char *kind, const char *name);
const char *diagnose(const char *file, const char *kind, int e);
char *get_xattr(const char *path, const char *name);
bool is_view_dir(const char *path);
/* A paged answer of the daemon: xattr name_of(0) of path, then
 * name_of(N) for each last line "more N", every other line to fn, which
 * returns false for one it does not understand. Returns 0, an errno, or
 * EPROTO with that line in *bad. */
typedef char *(*PageName)(guint64 from, const void *arg);
typedef bool (*LineFn)(const char *line, void *arg);
int read_paged_xattr(const char *path, PageName name_of, const void *name_arg,
		     LineFn fn, void *arg, char **bad);

/* entries.c */

typedef struct Entry {
	char *name;
	char *path;
	gint64 size;
	gint64 pages;		/* -1: not reported */
	char *taken;		/* snapshots; NULL: not reported */
	char *state;		/* snapshots; NULL: not reported */
	struct timespec mtime;
} Entry;

void entry_free(gpointer p);
int entry_load(Entry *e, bool snap);
Entry *entry_new(const char *file, const char *kind, const char *name);
GPtrArray *list_kind(const char *file, const char *kind, int *err);
void entry_json(GString *out, const Entry *e, bool snap);
void entries_json(GString *out, GPtrArray *list, bool snap);
void entries_table(GPtrArray *list, bool snap, const char *indent);

/* entry-verbs.c */

typedef struct Kind {
	const char *dir;	/* "snap", "cow" */
	const char *noun;	/* "snapshot", "private view" */
	const char *key;	/* JSON key of one entry and of the list */
	const char *list_key;
} Kind;

extern const Kind SNAP, COW;

int cmd_create(const Kind *k, const char *file_arg, const char *name);
int cmd_list_kind(const Kind *k, const char *file_arg);
int cmd_remove(const Kind *k, const char *file_arg, const char *name);
int cmd_snap_rename(const char *file_arg, const char *old, const char *new);
int cmd_cow_commit(const char *file_arg, const char *name);
int cmd_snap_rollback(const char *file_arg, const char *name);

/* diff.c */

int cmd_diff(const char *file_arg, const char *name);

/* tree.c */

int cmd_tree_create(const char *mount, const char *name);
int cmd_tree_delete(const char *mount, const char *name);
int cmd_tree_rename(const char *mount, const char *old, const char *new);
int cmd_tree_list(const char *mount);
/* to NULL: against the live tree */
int cmd_tree_diff(const char *mount, const char *snap, const char *to);

/* list.c, stats.c */

int cmd_list(const char *root_arg);
int cmd_stats(const char *mount);
