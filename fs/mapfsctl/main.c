/* mapfsctl main: options, usage and the verb table. See mapfsctl.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "mapfsctl.h"

#ifndef MAPFS_VERSION
#define MAPFS_VERSION "unknown"
#endif


static const char usage_text[] =
	"Usage: mapfsctl [--json] COMMAND ARGS...\n"
	"\n"
	"Snapshots and private copy-on-write views of files on a mapfs mount,\n"
	"and snapshots of the whole mount, through the mount's own namespace\n"
	"(FILE@@/snap/, FILE@@/cow/, MOUNT/.snapshots/).\n"
	"\n"
	"Commands:\n"
	"  snapshot create FILE NAME      take snapshot NAME of FILE\n"
	"  snapshot list FILE             list FILE's snapshots (oldest first)\n"
	"  snapshot delete FILE NAME      delete a snapshot, freeing its pages\n"
	"  snapshot rename FILE OLD NEW   rename a snapshot (never over another)\n"
	"  snapshot rollback FILE NAME    put snapshot NAME back into FILE, and\n"
	"                                 delete it (writes only what changed)\n"
	"  cow create FILE NAME           start private view NAME of FILE\n"
	"  cow list FILE                  list FILE's private views\n"
	"  cow commit FILE NAME           write a private view into FILE\n"
	"  cow discard FILE NAME          discard a private view\n"
	"  list DIR                       snapshots and private views of every\n"
	"                                 file under DIR (and, for a mount,\n"
	"                                 of removed files, in DIR/.removed)\n"
	"  diff FILE NAME                 the byte ranges of FILE changed since\n"
	"                                 snapshot NAME\n"
	"  tree create MOUNT NAME         take tree snapshot NAME of the whole\n"
	"                                 mount (MOUNT/.snapshots/NAME)\n"
	"  tree list MOUNT                list the tree snapshots (oldest first)\n"
	"  tree delete MOUNT NAME         delete a tree snapshot\n"
	"  tree rename MOUNT OLD NEW      rename a tree snapshot\n"
	"  diff MOUNT NAME [NAME2]        what changed in the tree since tree\n"
	"                                 snapshot NAME (until NAME2): created,\n"
	"                                 removed, renamed and modified paths\n"
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
				    k == &SNAP ? "create, list, delete, rename, rollback"
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
		if (k == &SNAP && strcmp(sub, "rollback") == 0) {
			need_args(full, n - 2, 2, "FILE NAME");
			return cmd_snap_rollback(a[2], a[3]);
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
			    k == &SNAP ? "create, list, delete, rename, rollback"
				       : "create, list, commit, discard");
	}
	if (strcmp(cmd, "list") == 0) {
		need_args("list", n - 1, 1, "MOUNTPOINT_OR_DIR");
		return cmd_list(a[1]);
	}
	if (strcmp(cmd, "tree") == 0) {
		static const char subs[] = "create, list, delete, rename";
		g_autofree char *full = NULL;

		if (n < 2)
			usage_error("'tree' needs a subcommand (%s)", subs);
		sub = a[1];
		full = g_strdup_printf("tree %s", sub);
		if (strcmp(sub, "create") == 0) {
			need_args(full, n - 2, 2, "MOUNT NAME");
			return cmd_tree_create(a[2], a[3]);
		}
		if (strcmp(sub, "list") == 0) {
			need_args(full, n - 2, 1, "MOUNT");
			return cmd_tree_list(a[2]);
		}
		if (strcmp(sub, "delete") == 0) {
			need_args(full, n - 2, 2, "MOUNT NAME");
			return cmd_tree_delete(a[2], a[3]);
		}
		if (strcmp(sub, "rename") == 0) {
			need_args(full, n - 2, 3, "MOUNT OLD NEW");
			return cmd_tree_rename(a[2], a[3], a[4]);
		}
		usage_error("unknown 'tree' subcommand '%s' (%s)", sub, subs);
	}
	if (strcmp(cmd, "diff") == 0) {
		struct stat st;

		/* A directory is a mount: its tree snapshots. */
		if (n - 1 == 3 || (n - 1 == 2 && stat(a[1], &st) == 0 &&
				   S_ISDIR(st.st_mode)))
			return cmd_tree_diff(a[1], a[2], n - 1 == 3 ? a[3] : NULL);
		need_args("diff", n - 1, 2, "FILE SNAPSHOT, or MOUNT SNAPSHOT [SNAPSHOT2]");
		return cmd_diff(a[1], a[2]);
	}
	if (strcmp(cmd, "stats") == 0) {
		need_args("stats", n - 1, 1, "MOUNTPOINT");
		return cmd_stats(a[1]);
	}
	usage_error("unknown command '%s'", cmd);
}
