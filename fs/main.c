/* main: options, the backing tree and its state directory, the session.
 *
 * Start-up order matters: BACKING is opened before mounting, so that
 * `mapfs DIR DIR` serves the directory the mount then covers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "fs.h"
#include "inode.h"
#include "killpriv.h"
#include "log.h"
#include "mf-guard.h"
#include "mf-number.h"
#include "mf-state-sweep.h"
#include "notify.h"
#include "orphans.h"
#include "readahead.h"
#include "shm.h"
#include "splice.h"
#include "tree.h"

/* 2M: the size of a huge page, so that on a tmpfs mounted with huge=
 * each window is one PMD mapping (see mapfs(1), window_size). */
#define DEFAULT_WINDOW_SIZE (2u << 20)
#define DEFAULT_MAX_WINDOWS 4096
#define MIN_WINDOW_SIZE (64u << 10)
#define MAX_MAX_WINDOWS 1048576

typedef struct Options {
	char *backing;
	char *window_size;
	char *max_windows;
	char *max_fds;
	char *statedir;
	char *views;
	char *shm_size;
	int sync;
	double timeout;
	int help;
	int version;
} Options;

static Options arg_opts = { .timeout = 1.0 };

enum { KEY_HELP, KEY_VERSION };

#define OPT(t, f) { t, offsetof(Options, f), 1 }
static const struct fuse_opt option_spec[] = {
	OPT("window_size=%s", window_size),
	OPT("max_windows=%s", max_windows),
	OPT("max_fds=%s", max_fds),
	OPT("statedir=%s", statedir),
	OPT("timeout=%lf", timeout),
	OPT("views=%s", views),
	OPT("shm_size=%s", shm_size),
	OPT("sync", sync),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static int take_arg(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	Options *o = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->help = 1;
		return 0;
	case KEY_VERSION:
		o->version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!o->backing) {  /* the first one; the mountpoint follows */
			o->backing = strdup(arg);
			return 0;
		}
		return 1;
	default:
		return 1;
	}
}

static void usage(const char *prog)
{
	printf("usage: %s [options] BACKING MOUNTPOINT\n\n"
	       "Serve the directory BACKING at MOUNTPOINT, moving all file data\n"
	       "through mmap windows of the backing files.\n\n"
	       "mapfs options:\n"
	       "    -o window_size=SIZE    size of one mmap window, a power of two\n"
	       "                           >= 64K (K/M/G suffixes; default 2M)\n"
	       "    -o max_windows=N       windows kept mapped when idle (default %u)\n"
	       "    -o max_fds=N           descriptors the daemon holds, besides one\n"
	       "                           per file held open (default: half the\n"
	       "                           raised limit, at most 65536; >= 128)\n"
	       "    -o statedir=DIR        state directory (default BACKING/.mapfs)\n"
	       "    -o timeout=SECS        entry and attribute cache timeout (default 1)\n"
	       "    -o sync                snapshot and private-view pages reach the\n"
	       "                           disk before the file changes\n"
	       "    -o views=hidden|visible  list F@@ view directories, .shm,\n"
	       "                           .snapshots and .removed (removed files'\n"
	       "                           snapshots) in readdir (default hidden:\n"
	       "                           by name only)\n"
	       "    -o shm_size=SIZE       memory all .shm objects may commit (K/M/G/T;\n"
	       "                           default half the RAM); ENOSPC past it\n"
	       "    -h, --help             this help\n"
	       "    -V, --version          version\n\n"
	       "Beside each file F, by name: F@@/rw, F@@/ro (windows :OFF+LEN),\n"
	       "F@@/cow/NAME (private views), F@@/snap/NAME (snapshots), and for\n"
	       "ELF and PE files F@@/image/SECTION and F@@/image/mapped.\n\n"
	       "Tree snapshots: mkdir MOUNTPOINT/.snapshots/NAME takes one (read-only,\n"
	       "constant time), rmdir deletes it, mv within .snapshots renames it.\n\n"
	       "Named shared memory: MOUNTPOINT/.shm/NAME (open O_CREAT, ftruncate,\n"
	       "mmap MAP_SHARED), in memory only, gone at unmount.\n\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n"
	       "Figures: getfattr -n user.mapfs.stats MOUNTPOINT\n\n",
	       prog, DEFAULT_MAX_WINDOWS);
	printf("FUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "mapfs: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

/* "fsname=PATH" with libfuse's option separators escaped. */
static char *fsname_option(const char *path)
{
	GString *s = g_string_new("-ofsname=");

	for (const char *p = path; *p; p++) {
		if (*p == ',' || *p == '\\')
			g_string_append_c(s, '\\');
		g_string_append_c(s, *p);
	}
	return g_string_free(s, FALSE);
}

/* Open (creating if needed) and lock the state directory. Fills the
 * context's fields that hide it. Returns the locked fd, or -1 after
 * printing why. */
static int lock_state_dir(FsContext *ctx, const char *statedir)
{
	g_autofree char *dir = statedir ? g_strdup(statedir)
				       : g_build_filename(ctx->backing, ".mapfs",
							  NULL);
	struct stat st;
	int dfd, lfd, r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail("cannot create state directory %s: %s", dir,
			    strerror(errno)), -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail("cannot open state directory %s: %s", dir,
			    strerror(errno)), -1;
	lfd = openat(dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || fstat(dfd, &st) < 0) {
		fail("cannot open %s/lock: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		char other[32] = "";
		ssize_t n = pread(lfd, other, sizeof(other) - 1, 0);

		other[n > 0 ? n : 0] = '\0';
		g_strchomp(other);
		fprintf(stderr,
			"mapfs: %s is already served by another mapfs (pid %s): "
			"its state directory %s is locked\n",
			ctx->backing, *other ? other : "?", dir);
		close(lfd);
		close(dfd);
		return -1;
	}
	r = mf_statedir_open(dfd, arg_opts.sync, &ctx->states);
	if (r == 0)
		r = fs_orphans_open(ctx, dfd);
	if (r == 0)
		r = fs_tree_open(ctx, dfd, arg_opts.sync);
	close(dfd);
	if (r < 0) {
		fail("cannot use state directory %s: %s", dir, strerror(-r));
		close(lfd);
		return -1;
	}
	/* Hidden by identity wherever it is; outside the tree it never
	 * matches anything. */
	ctx->state_dev = st.st_dev;
	ctx->state_ino = st.st_ino;
	ctx->state_name = g_path_get_basename(dir);
	return lfd;
}

/* Record who holds the lock, after daemonizing changed our pid. */
static void record_pid(int lock_fd)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(lock_fd, 0) < 0 ||
	    pwrite(lock_fd, pid, strlen(pid), 0) < 0)
		fs_log(LOG_WARNING, "cannot record our pid in the lock file: %s",
		       strerror(errno));
}

static int parse_window_size(size_t *out)
{
	uint64_t v = DEFAULT_WINDOW_SIZE;

	if (arg_opts.window_size && mf_parse_size(arg_opts.window_size, &v) < 0)
		return fail("window_size=%s: not a size%s", arg_opts.window_size,
			    ""), -1;
	if (v < MIN_WINDOW_SIZE || (v & (v - 1)) || v > (1ull << 30))
		return fail("window_size=%s: must be a power of two from 64K "
			    "to 1G%s", arg_opts.window_size, ""), -1;
	*out = (size_t)v;
	return 0;
}

static int serve(FsContext *ctx, struct fuse_args *args,
		 struct fuse_cmdline_opts *cmd, int lock_fd)
{
	struct fuse_session *se;
	int r = 1;

	se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), ctx);
	if (!se)
		return fail("bad options (see --help)%s%s", "", "");
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, cmd->mountpoint) != 0) {
		fail("cannot mount on %s%s", cmd->mountpoint, "");
		goto out_signals;
	}
	if (fs_killpriv_install(se) != 0) {
		fail("cannot hook /dev/fuse for %s%s", cmd->mountpoint, "");
		goto out_unmount;
	}
	fs_log_init(!cmd->foreground, cmd->debug);
	fs_readahead_raise(ctx->mountpoint);
	if (fuse_daemonize(cmd->foreground) != 0)
		goto out_unmount;
	record_pid(lock_fd);
	ctx->se = se;
	fs_notify_start(se);
	fs_log(LOG_INFO, "serving %s at %s", ctx->backing, cmd->mountpoint);
	if (cmd->singlethread) {
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd->clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
		r = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fs_notify_stop();
	r = r != 0;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return r;
}

/* Everything before mounting: options, the backing tree, the state
 * directory. Returns 1 to go on and serve, or minus the exit status when
 * done (help, version, or a refusal already explained on stderr). */
static int start(struct fuse_args *args, struct fuse_cmdline_opts *cmd,
		 FsContext *ctx, const char *prog, int *lock_fd)
{
	uint64_t max_windows = DEFAULT_MAX_WINDOWS, max_fds = 0;
	uint64_t shm_size = fs_shm_default_cap();
	size_t window_size;
	int r;

	if (fuse_opt_parse(args, &arg_opts, option_spec, take_arg) != 0)
		return -fail("bad options (see --help)%s%s", "", "");
	if (arg_opts.help) {
		usage(prog);
		return 0;
	}
	if (arg_opts.version) {
		printf("mapfs %s (libfuse %s)\n", MAPFS_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	if (fuse_parse_cmdline(args, cmd) != 0)
		return -fail("bad options (see --help)%s%s", "", "");
	if (!arg_opts.backing || !cmd->mountpoint)
		return -fail("usage: %s [options] BACKING MOUNTPOINT%s", prog,
			     "");
	if (parse_window_size(&window_size) < 0)
		return -1;
	if (arg_opts.max_windows &&
	    (mf_parse_size(arg_opts.max_windows, &max_windows) < 0 ||
	     max_windows == 0 || max_windows > MAX_MAX_WINDOWS))
		return -fail("max_windows=%s: must be a number from 1 to %s",
			     arg_opts.max_windows, G_STRINGIFY(MAX_MAX_WINDOWS));
	if (arg_opts.shm_size && mf_parse_size(arg_opts.shm_size, &shm_size) < 0)
		return -fail("shm_size=%s: not a size%s", arg_opts.shm_size, "");
	if (arg_opts.max_fds &&
	    (mf_parse_size(arg_opts.max_fds, &max_fds) < 0 || max_fds == 0 ||
	     max_fds > UINT_MAX))
		return -fail("max_fds=%s: not a number of descriptors%s",
			     arg_opts.max_fds, "");
	if (!(arg_opts.timeout >= 0))
		return -fail("timeout must be >= 0%s%s", "", "");
	if (arg_opts.views && strcmp(arg_opts.views, "visible") != 0 &&
	    strcmp(arg_opts.views, "hidden") != 0)
		return -fail("views=%s: must be hidden or visible%s",
			     arg_opts.views, "");
	ctx->views_visible =
		arg_opts.views && !strcmp(arg_opts.views, "visible");

	ctx->backing = realpath(arg_opts.backing, NULL);
	if (!ctx->backing)
		return -fail("%s: %s", arg_opts.backing, strerror(errno));
	ctx->mountpoint = realpath(cmd->mountpoint, NULL);
	if (!ctx->mountpoint)
		return -fail("%s: %s", cmd->mountpoint, strerror(errno));
	ctx->root_fd = open(ctx->backing, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx->root_fd < 0)
		return -fail("%s: %s", ctx->backing, strerror(errno));
	/* Before the state directory: tree snapshots read live files. */
	ctx->cache = mf_window_cache_new(window_size, (unsigned)max_windows);
	*lock_fd = lock_state_dir(ctx, arg_opts.statedir);
	if (*lock_fd < 0)
		return -1;
	/* .shm objects died with the daemon that served them last. */
	mf_statedir_sweep(ctx->states, FS_SHM_INO_BASE, UINT64_MAX);
	/* After the state directory: BACKING has an entry to probe. */
	if (fs_fds_init(ctx->root_fd, (unsigned)max_fds) < 0)
		return -1;
	r = mf_guard_install();
	if (r < 0)
		return -fail("cannot install the SIGBUS guard: %s%s",
			     strerror(-r), "");
	ctx->timeout = arg_opts.timeout;
	ctx->debug = cmd->debug;
	ctx->inodes = fs_inode_table_new(ctx->root_fd);
	ctx->shm = fs_shm_new(shm_size, ctx->states);
	return 1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	FsContext ctx = { .root_fd = -1 };
	g_autofree char *fsname = NULL;
	const char *splice_opt;
	int lock_fd = -1, r;

	r = start(&args, &cmd, &ctx, argv[0], &lock_fd);
	if (r > 0) {
		umask(0);       /* the caller's umask is applied for it */
		fsname = fsname_option(ctx.backing);
		fuse_opt_add_arg(&args, fsname);
		fuse_opt_add_arg(&args, "-osubtype=mapfs,default_permissions");
		splice_opt = fs_splice_setup();
		if (*splice_opt)
			fuse_opt_add_arg(&args, splice_opt);
		r = serve(&ctx, &args, &cmd, lock_fd);
	} else {
		r = -r;
	}
	/* Work the window cache's helper still has may hold the last
	 * reference to a backing, whose snapshot state goes below. */
	if (ctx.cache)
		mf_window_cache_drain(ctx.cache);
	if (ctx.inodes)
		fs_inode_table_free(ctx.inodes);
	/* After the inodes, which hold objects; their snapshots go too. */
	fs_shm_free(ctx.shm);
	if (ctx.states)
		mf_statedir_sweep(ctx.states, FS_SHM_INO_BASE, UINT64_MAX);
	/* After the inodes, which hold its nodes; before the states. */
	fs_tree_close(&ctx);
	fs_orphans_close(&ctx);
	mf_statedir_free(ctx.states);
	mf_window_cache_free(ctx.cache);
	if (lock_fd >= 0)
		close(lock_fd);
	if (ctx.root_fd >= 0)
		close(ctx.root_fd);
	free(cmd.mountpoint);
	free(ctx.backing);
	free(ctx.mountpoint);
	free(arg_opts.backing);
	g_free(ctx.state_name);
	fuse_opt_free_args(&args);
	return r;
}
