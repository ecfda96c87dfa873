/* test-tree: whole-tree snapshots (core/mf-tree*.c) on a real directory,
 * no FUSE. The tests change the tree the way the mount does: every change
 * between mf_tree_change_begin() and _end(), after mf_tree_keep() of what
 * it changes (the directories whose entries change, the object whose
 * attributes or bytes change) and mf_tree_keep_removed() of a name that
 * loses its link; writes and truncation through a backing with the file's
 * state attached. Then they read the snapshots back through the nodes.
 *
 * The state directory lies inside the tree (ROOT/.mapfs), as by default:
 * no snapshot lists it. name_to_handle_at on this filesystem needs root
 * where it is a tmpfs; the suite runs as root.
 *
 * Built twice (meson.build): plainly, and with -DUNIT_WRAP_IO and the
 * store's writes wrapped (unit.h), where only the fault tests run.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "mf-backing.h"
#include "mf-guard.h"
#include "mf-state.h"
#include "mf-store.h"
#include "mf-tree.h"
#include "mf-tree-impl.h"       /* diff_walk; the versions cache */

#include <malloc.h>

#define P ((uint64_t)MF_PAGE)

typedef struct Fix {
	bool sync;              /* -o sync: everything fsync'd */
	char *dir;
	char *root;             /* the tree */
	int rootfd;             /* O_RDONLY: the mount fd */
	int rootpath;           /* O_PATH */
	int statefd;            /* ROOT/.mapfs */
	struct stat state_sb;
	MfWindowCache *cache;
	MfStateDir *sd;
	MfTree *t;
} Fix;

static void open_tree(Fix *f)
{
	assert_int_equal(mf_statedir_open(f->statefd, f->sync, &f->sd), 0);
	assert_int_equal(mf_tree_open(f->statefd, f->rootfd, f->rootpath,
				      f->sd, f->cache, f->sync,
				      f->state_sb.st_dev, f->state_sb.st_ino,
				      &f->t),
			 0);
}

/* As after SIGKILL: nothing written at close, all loaded again. */
G_GNUC_UNUSED
static void reopen(Fix *f)
{
	mf_tree_free(f->t);
	mf_statedir_free(f->sd);
	open_tree(f);
}

static int setup_as(void **state, bool sync)
{
	Fix *f = g_new0(Fix, 1);

	f->sync = sync;
	f->dir = unit_tmpdir();
	f->root = g_build_filename(f->dir, "root", NULL);
	assert_int_equal(mkdir(f->root, 0755), 0);
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->rootpath = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0 && f->rootpath >= 0);
	assert_int_equal(mkdirat(f->rootfd, ".mapfs", 0700), 0);
	f->statefd = openat(f->rootfd, ".mapfs",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->statefd >= 0);
	assert_int_equal(fstat(f->statefd, &f->state_sb), 0);
	f->cache = mf_window_cache_new(64 * 1024, 16);
	assert_non_null(f->cache);
	open_tree(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_as(state, false);
}

G_GNUC_UNUSED
static int setup_sync(void **state)
{
	return setup_as(state, true);
}

static int teardown(void **state)
{
	Fix *f = *state;

	mf_tree_free(f->t);
	mf_statedir_free(f->sd);
	mf_window_cache_free(f->cache);
	close(f->statefd);
	close(f->rootfd);
	close(f->rootpath);
	unit_rmtree(f->dir);
	g_free(f->root);
	g_free(f->dir);
	g_free(f);
#ifdef UNIT_WRAP_IO
	unit_io_reset();
#endif
	unit_free_all();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Changes, as the mount makes them                                    */

static void keep_path(Fix *f, const char *path)
{
	int fd = openat(f->rootfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(mf_tree_keep(f->t, (uint64_t)sb.st_ino, fd, NULL), 0);
	close(fd);
}

static void keep_parent(Fix *f, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);

	keep_path(f, dir);
}

/* keep_removed of path's name in its directory (if it exists). */
static void keep_removed(Fix *f, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	int dfd = openat(f->rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	assert_true(dfd >= 0);
	r = mf_tree_keep_removed(f->t, dfd, base);
	assert_true(r == 0 || r == -ENOENT);
	close(dfd);
}

/* A backing of path for writing, its state attached if it has one (as
 * the mount does when it opens a file), kept for the snapshots. */
static MfBacking *open_backing(Fix *f, const char *path)
{
	int fd = openat(f->rootfd, path, O_RDWR | O_CLOEXEC);
	MfBacking *b;
	MfState *st;
	struct stat sb;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	if (mf_state_get(f->sd, fd, false, &st) == 0) {
		mf_state_attach(st, b);
		mf_state_unref(st);
	}
	assert_int_equal(mf_tree_keep(f->t, (uint64_t)sb.st_ino, fd, b), 0);
	return b;
}

G_GNUC_UNUSED
static void op_write(Fix *f, const char *path, uint64_t off, const void *buf,
		     size_t len)
{
	MfBacking *b;

	mf_tree_change_begin(f->t);
	b = open_backing(f, path);
	assert_int_equal(mf_backing_write(b, off, buf, len), (ssize_t)len);
	mf_backing_unref(b);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_truncate(Fix *f, const char *path, uint64_t size)
{
	MfBacking *b;

	mf_tree_change_begin(f->t);
	b = open_backing(f, path);
	assert_int_equal(mf_backing_truncate(b, size), 0);
	mf_backing_unref(b);
	mf_tree_change_end(f->t);
}

/* A new file of size bytes of the pattern. */
static void op_create(Fix *f, const char *path, uint64_t size)
{
	g_autofree char *buf = g_malloc(size + 1);
	int fd;

	mf_tree_change_begin(f->t);
	keep_parent(f, path);
	fd = openat(f->rootfd, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	assert_true(fd >= 0);
	unit_fill(buf, 0, size);
	if (size)
		unit_pwrite(fd, buf, size, 0);
	close(fd);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_mkdir(Fix *f, const char *path)
{
	mf_tree_change_begin(f->t);
	keep_parent(f, path);
	assert_int_equal(mkdirat(f->rootfd, path, 0755), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_symlink(Fix *f, const char *target, const char *path)
{
	mf_tree_change_begin(f->t);
	keep_parent(f, path);
	assert_int_equal(symlinkat(target, f->rootfd, path), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_link(Fix *f, const char *from, const char *to)
{
	mf_tree_change_begin(f->t);
	keep_parent(f, to);
	keep_path(f, from);     /* its link count */
	assert_int_equal(linkat(f->rootfd, from, f->rootfd, to, 0), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_unlink(Fix *f, const char *path, bool dir)
{
	mf_tree_change_begin(f->t);
	keep_parent(f, path);
	keep_removed(f, path);
	assert_int_equal(unlinkat(f->rootfd, path, dir ? AT_REMOVEDIR : 0), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_rename(Fix *f, const char *from, const char *to)
{
	mf_tree_change_begin(f->t);
	keep_parent(f, from);
	keep_parent(f, to);
	keep_path(f, from);     /* its ctime, a directory's ".." */
	keep_removed(f, to);
	assert_int_equal(renameat(f->rootfd, from, f->rootfd, to), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_chmod(Fix *f, const char *path, mode_t mode)
{
	mf_tree_change_begin(f->t);
	keep_path(f, path);
	assert_int_equal(fchmodat(f->rootfd, path, mode, 0), 0);
	mf_tree_change_end(f->t);
}

G_GNUC_UNUSED
static void op_setxattr(Fix *f, const char *path, const char *name,
			const char *value)
{
	g_autofree char *full = g_build_filename(f->root, path, NULL);

	mf_tree_change_begin(f->t);
	keep_path(f, path);
	assert_int_equal(setxattr(full, name, value, strlen(value), 0), 0);
	mf_tree_change_end(f->t);
}

static void snap(Fix *f, const char *name)
{
	assert_int_equal(mf_tree_snap_create(f->t, name), 0);
}

/* ------------------------------------------------------------------ */
/* Reading a snapshot                                                  */

/* The node of path in snapshot name, or NULL with *err. */
static MfTreeNode *node_at(Fix *f, const char *name, const char *path,
			   int *err)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	MfTreeNode *n;
	int r = mf_tree_root(f->t, name, &n);

	for (int i = 0; r == 0 && parts[i]; i++) {
		MfTreeNode *c;

		if (!*parts[i] || strcmp(parts[i], ".") == 0)
			continue;
		r = mf_tree_lookup(f->t, n, parts[i], &c);
		mf_tree_node_unref(n);
		n = r == 0 ? c : NULL;
	}
	if (err)
		*err = r;
	return r == 0 ? n : NULL;
}

static MfTreeNode *node(Fix *f, const char *name, const char *path)
{
	int err;
	MfTreeNode *n = node_at(f, name, path, &err);

	if (!n)
		print_error("%s:%s: %s\n", name, path, g_strerror(-err));
	assert_non_null(n);
	return n;
}

G_GNUC_UNUSED
static struct stat stat_of(Fix *f, const char *name, const char *path)
{
	MfTreeNode *n = node(f, name, path);
	struct stat st;

	assert_int_equal(mf_tree_stat(f->t, n, &st), 0);
	mf_tree_node_unref(n);
	return st;
}

G_GNUC_UNUSED
static bool exists(Fix *f, const char *name, const char *path)
{
	int err;
	MfTreeNode *n = node_at(f, name, path, &err);

	if (n)
		mf_tree_node_unref(n);
	else
		assert_int_equal(err, -ENOENT);
	return n != NULL;
}

/* Its bytes, all of them; *size from its attributes. */
static char *bytes_of(Fix *f, const char *name, const char *path,
		      uint64_t *size)
{
	MfTreeNode *n = node(f, name, path);
	struct stat st;
	char *buf;

	assert_int_equal(mf_tree_stat(f->t, n, &st), 0);
	buf = unit_alloc((size_t)st.st_size + 1);
	assert_int_equal(mf_tree_read(f->t, n, 0, buf, (size_t)st.st_size + 1),
			 st.st_size);
	*size = (uint64_t)st.st_size;
	mf_tree_node_unref(n);
	return buf;
}

static int add_name(const char *name, unsigned char type, uint64_t ino,
		    uint64_t next, void *arg)
{
	(void)type;
	(void)ino;
	(void)next;
	g_ptr_array_add(arg, g_strdup(name));
	return 0;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory path, sorted, joined by spaces. */
G_GNUC_UNUSED
static char *names_of(Fix *f, const char *name, const char *path)
{
	MfTreeNode *n = node(f, name, path);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	char *s;

	assert_int_equal(mf_tree_readdir(f->t, n, 0, add_name, names), 0);
	g_ptr_array_sort(names, cmp_str);
	g_ptr_array_add(names, NULL);
	s = g_strjoinv(" ", (char **)names->pdata);
	g_ptr_array_free(names, TRUE);
	mf_tree_node_unref(n);
	return s;
}

#define assert_names(f, snapname, path, want)                                \
	do {                                                                 \
		g_autofree char *got_ = names_of(f, snapname, path);        \
		assert_string_equal(got_, want);                             \
	} while (0)

static void assert_pattern_file(Fix *f, const char *name, const char *path,
				uint64_t size)
{
	uint64_t got;
	char *buf = bytes_of(f, name, path, &got);

	assert_int_equal(got, size);
	unit_assert_pattern(buf, 0, size);
}

G_GNUC_UNUSED
static void assert_xattr(Fix *f, const char *name, const char *path,
			 const char *xname, const char *want)
{
	MfTreeNode *n = node(f, name, path);
	char buf[256];
	ssize_t len = mf_tree_getxattr(f->t, n, xname, buf, sizeof(buf));

	if (!want) {
		assert_int_equal(len, -ENODATA);
	} else {
		assert_int_equal(len, (ssize_t)strlen(want));
		assert_memory_equal(buf, want, strlen(want));
		assert_int_equal(mf_tree_getxattr(f->t, n, xname, NULL, 0),
				 len);
		assert_int_equal(mf_tree_getxattr(f->t, n, xname, buf, 1),
				 -ERANGE);
	}
	mf_tree_node_unref(n);
}

G_GNUC_UNUSED
static void assert_link(Fix *f, const char *name, const char *path,
			const char *want)
{
	MfTreeNode *n = node(f, name, path);
	char buf[PATH_MAX];

	assert_int_equal(mf_tree_readlink(f->t, n, buf, sizeof(buf)),
			 (ssize_t)strlen(want));
	assert_string_equal(buf, want);
	mf_tree_node_unref(n);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

#ifndef UNIT_WRAP_IO
/* The tree of test_freezes: a/f (3 pages and a bit), a/h (its hard
 * link), b (2 pages, an xattr), s -> a/f, e/ (empty), g/x. */
static void make_tree(Fix *f)
{
	g_autofree char *b = g_build_filename(f->root, "b", NULL);

	op_mkdir(f, "a");
	op_create(f, "a/f", 3 * P + 10);
	op_link(f, "a/f", "a/h");
	op_create(f, "b", 2 * P);
	assert_int_equal(setxattr(b, "user.x", "old", 3, 0), 0);
	assert_int_equal(chmod(b, 0640), 0);
	op_symlink(f, "a/f", "s");
	op_mkdir(f, "e");
	op_mkdir(f, "g");
	op_create(f, "g/x", 100);
}

/* What make_tree made, as snapshot name must still show it. */
static void check_tree(Fix *f, const char *name)
{
	struct stat fs, hs, bs;

	assert_names(f, name, "", "a b e g s");
	assert_names(f, name, "a", "f h");
	assert_names(f, name, "e", "");
	assert_names(f, name, "g", "x");
	assert_pattern_file(f, name, "a/f", 3 * P + 10);
	assert_pattern_file(f, name, "a/h", 3 * P + 10);
	assert_pattern_file(f, name, "b", 2 * P);
	assert_pattern_file(f, name, "g/x", 100);
	fs = stat_of(f, name, "a/f");
	hs = stat_of(f, name, "a/h");
	bs = stat_of(f, name, "b");
	assert_int_equal(fs.st_ino, hs.st_ino);
	assert_int_equal(fs.st_nlink, 2);
	assert_true(S_ISREG(fs.st_mode));
	assert_int_equal(bs.st_mode & 07777, 0640);
	assert_true(S_ISDIR(stat_of(f, name, "e").st_mode));
	assert_true(S_ISLNK(stat_of(f, name, "s").st_mode));
	assert_link(f, name, "s", "a/f");
	assert_xattr(f, name, "b", "user.x", "old");
	assert_xattr(f, name, "b", "user.y", NULL);
	{
		MfTreeNode *x = node(f, name, "a/f"), *y = node(f, name, "a/h");

		assert_string_equal(mf_tree_node_id(x), mf_tree_node_id(y));
		mf_tree_node_unref(x);
		mf_tree_node_unref(y);
	}
}

/* Every kind of change after a snapshot, and the snapshot as it was. */
static void test_freezes(void **state)
{
	Fix *f = *state;
	char page[P];

	unit_guard();
	make_tree(f);
	snap(f, "s1");
	check_tree(f, "s1");    /* unchanged: read live */

	memset(page, 'w', P);
	op_write(f, "a/f", P, page, P);         /* bytes */
	op_truncate(f, "b", 10);                /* size */
	op_chmod(f, "b", 0600);                 /* mode */
	op_setxattr(f, "b", "user.x", "new");   /* xattrs */
	op_setxattr(f, "b", "user.y", "more");
	op_unlink(f, "a/h", false);             /* a link */
	op_rename(f, "a/f", "c");               /* a name */
	op_unlink(f, "s", false);               /* a symlink, replaced */
	op_symlink(f, "elsewhere", "s");
	op_unlink(f, "e", true);                /* a directory */
	op_unlink(f, "g/x", false);             /* a file's last link */
	op_unlink(f, "g", true);                /* and its directory */
	op_mkdir(f, "d");                       /* new ones */
	op_create(f, "d/new", 5);

	check_tree(f, "s1");
	/* The live tree did change. */
	assert_int_equal(faccessat(f->rootfd, "g", F_OK, 0), -1);
	reopen(f);              /* as after SIGKILL */
	check_tree(f, "s1");
	assert_false(exists(f, "s1", "d"));
	assert_false(exists(f, "s1", "c"));
	assert_false(exists(f, "s1", ".mapfs"));
}

/* Three snapshots with changes between: each sees its own. */
static void test_several(void **state)
{
	Fix *f = *state;
	char page[P];
	uint64_t size;
	char *buf;

	unit_guard();
	op_create(f, "f", 2 * P);
	snap(f, "s1");
	memset(page, '1', P);
	op_write(f, "f", 0, page, P);
	op_create(f, "one", 1);
	snap(f, "s2");
	memset(page, '2', P);
	op_write(f, "f", 0, page, P);
	op_write(f, "f", 2 * P, page, P);       /* grows */
	op_create(f, "two", 1);
	snap(f, "s3");
	op_truncate(f, "f", 0);
	op_unlink(f, "one", false);

	for (int pass = 0; pass < 2; pass++) {
		assert_pattern_file(f, "s1", "f", 2 * P);
		assert_names(f, "s1", "", "f");
		buf = bytes_of(f, "s2", "f", &size);
		assert_int_equal(size, 2 * P);
		assert_int_equal(buf[0], '1');
		assert_int_equal(buf[P - 1], '1');
		unit_assert_pattern(buf + P, P, P);
		assert_names(f, "s2", "", "f one");
		buf = bytes_of(f, "s3", "f", &size);
		assert_int_equal(size, 3 * P);
		assert_int_equal(buf[0], '2');
		unit_assert_pattern(buf + P, P, P);
		assert_int_equal(buf[2 * P], '2');
		assert_names(f, "s3", "", "f one two");
		reopen(f);
	}
	{
		g_auto(GStrv) names = mf_tree_snap_list(f->t);
		MfTreeSnapInfo i1, i3;

		/* s1 kept f and the root; s3 those and "one", removed. */
		assert_int_equal(mf_tree_snap_info(f->t, "s1", &i1), 0);
		assert_int_equal(mf_tree_snap_info(f->t, "s3", &i3), 0);
		assert_int_equal(i1.versions, 2);
		assert_int_equal(i3.versions, 3);
		assert_true(i1.seq < i3.seq);
		assert_int_equal(g_strv_length(names), 3);
		assert_string_equal(names[0], "s1");
		assert_string_equal(names[2], "s3");
	}
}

/* The pages held by every store under files/KEY (snap/ and tree/). */
static uint64_t pages_held(Fix *f, MfState *st, const char *key)
{
	uint64_t n = 0;

	(void)st;
	for (int k = 0; k < 2; k++) {
		g_autofree char *path = g_strdup_printf(
			"files/%s/%s", key, k ? "tree" : "snap");
		int dfd = openat(f->statefd, path,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			MfStore *s;
			int fd;

			if (de->d_name[0] == '.')
				continue;
			fd = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			assert_true(fd >= 0);
			assert_int_equal(mf_store_open(fd, false, &s), 0);
			n += mf_store_count(s);
			mf_store_close(s);
			close(fd);
		}
		closedir(d);
	}
	return n;
}

static int count_dir(Fix *f, const char *path)
{
	int dfd = openat(f->statefd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int n = 0;

	if (!d)
		return dfd >= 0 ? (close(dfd), -1) : -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static char *state_key(Fix *f, const char *path)
{
	struct statx sx;

	assert_int_equal(statx(f->rootfd, path, 0, STATX_INO | STATX_BTIME,
			       &sx),
			 0);
	if (!(sx.stx_mask & STATX_BTIME))
		return g_strdup_printf("%llu", (unsigned long long)sx.stx_ino);
	return g_strdup_printf("%llu-%lld.%09u",
			       (unsigned long long)sx.stx_ino,
			       (long long)sx.stx_btime.tv_sec,
			       sx.stx_btime.tv_nsec);
}

/* A file snapshot and a tree snapshot see one changed page: one copy,
 * and the file snapshot's F@@/snap lists only its own. Deleting the
 * file snapshot hands the page to the tree's. */
static void test_shared_pages(void **state)
{
	Fix *f = *state;
	g_autofree char *key = NULL;
	char page[P];
	MfBacking *b;
	MfState *st;
	int fd;

	unit_guard();
	op_create(f, "f", 4 * P);
	key = state_key(f, "f");
	snap(f, "t1");
	fd = openat(f->rootfd, "f", O_RDWR | O_CLOEXEC);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	assert_int_equal(mf_state_get(f->sd, fd, true, &st), 0);
	assert_int_equal(mf_state_snap_create(st, b, "file1"), 0);
	mf_backing_unref(b);

	memset(page, 'x', P);
	op_write(f, "f", P, page, P);
	op_write(f, "f", P, page, P);           /* again: no copy */
	assert_int_equal(pages_held(f, st, key), 1);
	{
		g_auto(GStrv) names = mf_state_snap_list(st);

		assert_int_equal(g_strv_length(names), 1);
		assert_string_equal(names[0], "file1");
	}
	assert_false(mf_state_empty(st));
	assert_pattern_file(f, "t1", "f", 4 * P);

	assert_int_equal(mf_state_snap_delete(st, "file1"), 0);
	assert_int_equal(pages_held(f, st, key), 1);
	assert_pattern_file(f, "t1", "f", 4 * P);
	/* The tree snapshot gone, its hidden entry goes too. */
	assert_int_equal(mf_tree_snap_delete(f->t, "t1"), 0);
	assert_int_equal(pages_held(f, st, key), 0);
	assert_true(mf_state_empty(st));
	mf_state_unref(st);
}

/* A file snapshot between two tree snapshots, the newer tree snapshot
 * deleted, then the file snapshot: the older tree snapshot still reads
 * its bytes (its hidden entry was not dropped for the file snapshot's
 * sake). */
static void test_file_snapshot_between(void **state)
{
	Fix *f = *state;
	char page[P];
	MfBacking *b;
	MfState *st;
	int fd;

	unit_guard();
	op_create(f, "f", 2 * P);
	snap(f, "t1");
	fd = openat(f->rootfd, "f", O_RDWR | O_CLOEXEC);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	assert_int_equal(mf_state_get(f->sd, fd, true, &st), 0);
	assert_int_equal(mf_state_snap_create(st, b, "m"), 0);
	mf_backing_unref(b);
	snap(f, "t2");
	memset(page, 'x', P);
	op_write(f, "f", 0, page, P);
	assert_pattern_file(f, "t1", "f", 2 * P);
	assert_int_equal(mf_tree_snap_delete(f->t, "t2"), 0);
	assert_pattern_file(f, "t1", "f", 2 * P);
	assert_int_equal(mf_state_snap_delete(st, "m"), 0);
	assert_pattern_file(f, "t1", "f", 2 * P);
	reopen(f);
	assert_pattern_file(f, "t1", "f", 2 * P);
	mf_state_unref(st);
}

/* A tree snapshot's file shows the file snapshots taken before it, by
 * their names now, with their bytes; not those taken after it, nor those
 * deleted since. */
static void test_file_snaps_of_tree(void **state)
{
	Fix *f = *state;
	char page[P], buf[2 * P];
	MfEntryInfo info;
	MfTreeNode *n;
	MfBacking *b;
	MfState *st;
	int fd;

	unit_guard();
	op_create(f, "f", 2 * P);
	fd = openat(f->rootfd, "f", O_RDWR | O_CLOEXEC);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	assert_int_equal(mf_state_get(f->sd, fd, true, &st), 0);
	mf_state_attach(st, b);
	assert_int_equal(mf_state_snap_create(st, b, "before"), 0);
	snap(f, "t1");
	assert_int_equal(mf_state_snap_create(st, b, "after"), 0);
	mf_backing_unref(b);
	memset(page, 'x', P);
	op_write(f, "f", 0, page, P);
	n = node(f, "t1", "f");
	{
		g_auto(GStrv) names = mf_tree_file_snap_list(f->t, n);

		assert_int_equal(g_strv_length(names), 1);
		assert_string_equal(names[0], "before");
	}
	assert_int_equal(mf_tree_file_snap_info(f->t, n, "after", 0, &info),
			 -ENOENT);
	assert_int_equal(mf_tree_file_snap_info(f->t, n, "before", 0, &info), 0);
	assert_int_equal(mf_tree_file_snap_info(f->t, n, NULL, info.id, &info), 0);
	assert_int_equal(info.size, 2 * P);
	assert_int_equal(mf_tree_file_snap_read(f->t, n, info.id, 0, buf,
						sizeof(buf)),
			 (ssize_t)(2 * P));
	unit_assert_pattern(buf, 0, 2 * P);
	assert_int_equal(mf_state_snap_rename(st, "before", "renamed"), 0);
	{
		g_auto(GStrv) names = mf_tree_file_snap_list(f->t, n);

		assert_int_equal(g_strv_length(names), 1);
		assert_string_equal(names[0], "renamed");
	}
	assert_int_equal(mf_state_snap_delete(st, "renamed"), 0);
	assert_int_equal(mf_tree_file_snap_read(f->t, n, info.id, 0, buf,
						sizeof(buf)),
			 -ENOENT);
	{
		g_auto(GStrv) names = mf_tree_file_snap_list(f->t, n);

		assert_int_equal(g_strv_length(names), 0);
	}
	/* A directory has none. */
	mf_tree_node_unref(n);
	n = node(f, "t1", "");
	assert_int_equal(mf_tree_file_snap_info(f->t, n, "after", 0, &info),
			 -EINVAL);
	mf_tree_node_unref(n);
	mf_state_unref(st);
}

typedef struct Writer {
	Fix *f;
	int id;
	volatile int *stop;
	unsigned done;
} Writer;

/* Change k: the file wK holds the 32-bit word k everywhere, and dK/ has
 * the names n0 .. nk, all in one change. */
static gpointer writer(gpointer arg)
{
	Writer *w = arg;
	uint32_t *words = g_malloc(4 * P);
	char file[32], name[48];

	snprintf(file, sizeof(file), "w%d", w->id);
	for (uint32_t k = 0; !*w->stop; k++) {
		MfBacking *b;

		for (size_t i = 0; i < 4 * P / 4; i++)
			words[i] = k;
		snprintf(name, sizeof(name), "d%d/n%05u", w->id, k);
		mf_tree_change_begin(w->f->t);
		b = open_backing(w->f, file);
		assert_int_equal(mf_backing_write(b, 0, words, 4 * P),
				 (ssize_t)(4 * P));
		mf_backing_unref(b);
		keep_parent(w->f, name);
		assert_int_equal(mknodat(w->f->rootfd, name, S_IFREG | 0644, 0),
				 0);
		mf_tree_change_end(w->f->t);
		w->done = k + 1;
	}
	g_free(words);
	return NULL;
}

/* Snapshots taken while two threads change the tree: each holds whole
 * changes only, and keeps holding them while the changes go on. */
static void test_concurrent_changes(void **state)
{
	Fix *f = *state;
	volatile int stop = 0;
	Writer w[2];
	GThread *th[2];
	uint32_t got[2][8];

	unit_guard();
	for (int i = 0; i < 2; i++) {
		char name[16];

		snprintf(name, sizeof(name), "w%d", i);
		op_create(f, name, 4 * P);
		snprintf(name, sizeof(name), "d%d", i);
		op_mkdir(f, name);
		w[i] = (Writer){ f, i, &stop, 0 };
		th[i] = g_thread_new("writer", writer, &w[i]);
	}
	for (int s = 0; s < 8; s++) {
		char name[16];

		g_usleep(20000);
		snprintf(name, sizeof(name), "s%d", s);
		snap(f, name);
	}
	/* Deletes while the changes go on, and a take after them. */
	for (int s = 1; s < 8; s += 2) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", s);
		assert_int_equal(mf_tree_snap_delete(f->t, name), 0);
		g_usleep(5000);
	}
	g_usleep(20000);
	snap(f, "s1");
	g_usleep(20000);
	stop = 1;
	for (int i = 0; i < 2; i++) {
		g_thread_join(th[i]);
		assert_true(w[i].done > 8);
	}
	for (int pass = 0; pass < 2; pass++) {
		/* s0, s2, s4, s6 and the new s1. */
		for (int s = 0; s < 8; s += s == 0 ? 1 : s == 1 ? 1 : 2)
			for (int i = 0; i < 2; i++) {
				char sn[16], file[16], dir[16];
				uint64_t size;
				uint32_t *words;
				MfTreeNode *n;
				GPtrArray *names;

				snprintf(sn, sizeof(sn), "s%d", s);
				snprintf(file, sizeof(file), "w%d", i);
				snprintf(dir, sizeof(dir), "d%d", i);
				words = (uint32_t *)(void *)bytes_of(f, sn, file,
								     &size);
				assert_int_equal(size, 4 * P);
				n = node(f, sn, dir);
				names = g_ptr_array_new_with_free_func(g_free);
				assert_int_equal(mf_tree_readdir(f->t, n, 0,
								 add_name, names),
						 0);
				if (words[1] != words[0]) {
					/* Before the first change. */
					unit_assert_pattern(words, 0, 4 * P);
					assert_int_equal(names->len, 0);
				} else {
					for (size_t k = 1; k < 4 * P / 4; k++)
						assert_int_equal(words[k],
								 words[0]);
					assert_int_equal(names->len,
							 words[0] + 1);
				}
				if (pass == 0)
					got[i][s] = words[0];
				else
					assert_int_equal(got[i][s], words[0]);
				g_ptr_array_free(names, TRUE);
				mf_tree_node_unref(n);
			}
		reopen(f);
	}
}

/* Deleting the middle of three snapshots: the others unchanged, the
 * versions only it read gone, on disk and in the chain. */
static void test_delete_middle(void **state)
{
	Fix *f = *state;
	g_autofree char *key = NULL;
	g_autofree char *tree = NULL;
	char page[P];
	MfTreeNode *held;
	uint64_t size;
	char *buf;

	unit_guard();
	op_create(f, "f", 2 * P);
	key = state_key(f, "f");
	tree = g_strdup_printf("files/%s/tree", key);
	snap(f, "s1");
	memset(page, '1', P);
	op_write(f, "f", 0, page, P);
	snap(f, "s2");
	memset(page, '2', P);
	op_write(f, "f", 0, page, P);
	op_create(f, "n2", 0);
	snap(f, "s3");
	memset(page, '3', P);
	op_write(f, "f", 0, page, P);
	assert_int_equal(count_dir(f, tree), 3);
	held = node(f, "s2", "f");

	assert_int_equal(mf_tree_snap_delete(f->t, "s2"), 0);
	assert_int_equal(mf_tree_snap_delete(f->t, "s2"), -ENOENT);
	assert_int_equal(count_dir(f, tree), 2);
	assert_pattern_file(f, "s1", "f", 2 * P);
	buf = bytes_of(f, "s3", "f", &size);
	assert_int_equal(buf[0], '2');
	assert_names(f, "s1", "", "f");
	assert_names(f, "s3", "", "f n2");
	/* A node held across the delete reads -ENOENT, no crash. */
	assert_int_equal(mf_tree_read(f->t, held, 0, page, 1), -ENOENT);
	mf_tree_node_unref(held);
	/* The root's versions: s1's (s1 reads it), s3's: s2's went. */
	{
		MfTreeNode *root = node(f, "s1", "");
		const char *id = mf_tree_node_id(root);
		g_autofree char *objs = g_strdup_printf(
			"trees/objs/%s", strchr(id, ':') + 1);

		assert_int_equal(count_dir(f, objs), 1);
		mf_tree_node_unref(root);
	}
	reopen(f);
	assert_pattern_file(f, "s1", "f", 2 * P);
	buf = bytes_of(f, "s3", "f", &size);
	assert_int_equal(buf[0], '2');
	/* All gone: nothing kept. */
	assert_int_equal(mf_tree_snap_delete(f->t, "s1"), 0);
	assert_int_equal(mf_tree_snap_delete(f->t, "s3"), 0);
	assert_int_equal(count_dir(f, "trees/objs"), 0);
	assert_int_equal(count_dir(f, "trees/kept"), 0);
	assert_int_equal(count_dir(f, tree), 0);
}

/* The newest snapshot deleted: an object kept for it is kept for the one
 * before it too, and a change after the delete does not keep it again as
 * it is then (found by difftest --tree-root, seed 3). */
static void test_newest_deleted(void **state)
{
	Fix *f = *state;
	char page[P];
	uint64_t size;
	char *buf;

	op_create(f, "f", P);
	snap(f, "t6");
	snap(f, "t7");
	memset(page, 'a', P);
	op_write(f, "f", 3 * P, page, P);
	assert_int_equal(mf_tree_snap_delete(f->t, "t7"), 0);
	memset(page, 'b', P);
	op_write(f, "f", 0, page, P);
	assert_int_equal(stat_of(f, "t6", "f").st_size, P);
	assert_pattern_file(f, "t6", "f", P);
	buf = bytes_of(f, "t6", "f", &size);
	assert_int_equal(size, P);
	assert_int_not_equal(buf[0], 'b');
	reopen(f);
	assert_int_equal(stat_of(f, "t6", "f").st_size, P);
	assert_pattern_file(f, "t6", "f", P);
}

/* An open file without a name or a link of ours is no snapshot's: a change
 * to it keeps nothing and succeeds (difftest seed 5); and the link the
 * tree keeps of a removed file is told apart from its names. */
static void test_unlinked_open(void **state)
{
	Fix *f = *state;
	char page[P];
	MfBacking *b;
	int fd;

	op_create(f, "f", P);
	snap(f, "t1");
	fd = openat(f->rootfd, "f", O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(mf_tree_links(f->t, fd), 0);
	mf_tree_change_begin(f->t);
	b = open_backing(f, "f");
	mf_tree_change_end(f->t);
	op_unlink(f, "f", false);
	/* kept: one link of ours, no name */
	assert_int_equal(mf_tree_links(f->t, fd), 1);
	assert_pattern_file(f, "t1", "f", P);
	assert_int_equal(mf_tree_snap_delete(f->t, "t1"), 0);
	assert_int_equal(mf_tree_links(f->t, fd), 0);
	snap(f, "t2");
	memset(page, 'x', P);
	mf_tree_change_begin(f->t);
	assert_int_equal(mf_tree_keep(f->t, 0, mf_backing_fd(b), b), 0);
	assert_int_equal(mf_backing_write(b, 0, page, P), (ssize_t)P);
	mf_tree_change_end(f->t);
	assert_false(exists(f, "t2", "f"));
	mf_backing_unref(b);
	close(fd);
}

/* A removed file stays readable through its kept link, and goes with
 * the last snapshot that sees it. */
static void test_removed_file_kept(void **state)
{
	Fix *f = *state;

	unit_guard();
	op_create(f, "f", 3 * P);
	snap(f, "s1");
	op_unlink(f, "f", false);
	assert_int_equal(count_dir(f, "trees/kept"), 1);
	reopen(f);
	assert_pattern_file(f, "s1", "f", 3 * P);
	/* A node let go of (closed) reads and lists again. */
	{
		MfTreeNode *n = node(f, "s1", "f"), *root = node(f, "s1", "");
		char *buf = unit_alloc(3 * P);
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

		for (int i = 0; i < 2; i++) {
			assert_int_equal(mf_tree_read(f->t, n, 0, buf, 3 * P),
					 (ssize_t)(3 * P));
			unit_assert_pattern(buf, 0, 3 * P);
			assert_int_equal(mf_tree_readdir(f->t, root, 0,
							 add_name, names),
					 0);
			mf_tree_node_close(n);
			mf_tree_node_close(root);
		}
		assert_int_equal(names->len, 2);
		assert_string_equal(names->pdata[1], "f");
		g_ptr_array_free(names, TRUE);
		mf_tree_node_unref(n);
		mf_tree_node_unref(root);
	}
	assert_int_equal(count_dir(f, "files"), 1);
	assert_int_equal(mf_tree_snap_delete(f->t, "s1"), 0);
	assert_int_equal(count_dir(f, "trees/kept"), 0);
	assert_int_equal(count_dir(f, "trees/objs"), 0);
	/* Its state went with it. */
	assert_int_equal(count_dir(f, "files"), 0);
}

static void test_names(void **state)
{
	Fix *f = *state;
	char long_name[NAME_MAX + 2];
	MfTreeSnapInfo info;
	MfTreeNode *n;

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[NAME_MAX + 1] = 0;
	assert_int_equal(mf_tree_snap_create(f->t, ""), -EINVAL);
	assert_int_equal(mf_tree_snap_create(f->t, "."), -EINVAL);
	assert_int_equal(mf_tree_snap_create(f->t, ".."), -EINVAL);
	assert_int_equal(mf_tree_snap_create(f->t, "a/b"), -EINVAL);
	assert_int_equal(mf_tree_snap_create(f->t, ".hidden"), -EINVAL);
	assert_int_equal(mf_tree_snap_create(f->t, long_name), -ENAMETOOLONG);
	long_name[NAME_MAX] = 0;
	assert_int_equal(mf_tree_snap_create(f->t, long_name), 0);
	assert_int_equal(mf_tree_snap_create(f->t, long_name), -EEXIST);
	assert_int_equal(mf_tree_snap_create(f->t, "x"), 0);
	assert_int_equal(mf_tree_snap_rename(f->t, "x", long_name), -EEXIST);
	assert_int_equal(mf_tree_snap_rename(f->t, "x", "x"), 0);
	assert_int_equal(mf_tree_snap_rename(f->t, "nope", "y"), -ENOENT);
	assert_int_equal(mf_tree_snap_rename(f->t, "x", "a/b"), -EINVAL);
	assert_int_equal(mf_tree_snap_rename(f->t, "x", "y"), 0);
	assert_int_equal(mf_tree_snap_info(f->t, "x", &info), -ENOENT);
	assert_int_equal(mf_tree_snap_info(f->t, "y", &info), 0);
	assert_int_equal(mf_tree_snap_delete(f->t, "x"), -ENOENT);
	assert_int_equal(mf_tree_root(f->t, "x", &n), -ENOENT);
	reopen(f);
	assert_int_equal(mf_tree_snap_info(f->t, "y", &info), 0);
	assert_int_equal(mf_tree_snap_create(f->t, "y"), -EEXIST);
	assert_int_equal(mf_tree_root(f->t, "y", &n), 0);
	assert_int_equal(mf_tree_lookup(f->t, n, "none", &(MfTreeNode *){ 0 }),
			 -ENOENT);
	mf_tree_node_unref(n);
}

/* A node's path: its snapshot's name now, and the names it was looked
 * up by. */
static void test_node_path(void **state)
{
	Fix *f = *state;
	MfTreeNode *n, *root;
	char *path;

	op_mkdir(f, "d");
	op_create(f, "d/f", 100);
	assert_int_equal(mf_tree_snap_create(f->t, "p"), 0);
	n = node(f, "p", "d/f");
	root = node(f, "p", "");
	path = mf_tree_node_path(f->t, n);
	assert_string_equal(path, "p/d/f");
	g_free(path);
	path = mf_tree_node_path(f->t, root);
	assert_string_equal(path, "p");
	g_free(path);
	assert_int_equal(mf_tree_snap_rename(f->t, "p", "q"), 0);
	path = mf_tree_node_path(f->t, n);
	assert_string_equal(path, "q/d/f");
	g_free(path);
	assert_int_equal(mf_tree_snap_delete(f->t, "q"), 0);
	assert_null(mf_tree_node_path(f->t, n));
	mf_tree_node_unref(n);
	mf_tree_node_unref(root);
}

/* Taking a snapshot costs the same at any tree size: 100,000 files. */
static void test_take_is_constant(void **state)
{
	Fix *f = *state;
	struct timespec a, b;
	double ms;

	for (int d = 0; d < 100; d++) {
		char dir[32];
		int dfd;

		snprintf(dir, sizeof(dir), "d%d", d);
		assert_int_equal(mkdirat(f->rootfd, dir, 0755), 0);
		dfd = openat(f->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (int i = 0; i < 1000; i++) {
			char name[32];
			int fd;

			snprintf(name, sizeof(name), "f%d", i);
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC,
				    0644);
			assert_true(fd >= 0);
			close(fd);
		}
		close(dfd);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	snap(f, "big");
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("# took a snapshot of 100,000 files in %.3f ms\n", ms);
	assert_true(ms < 50);
	{
		MfTreeNode *n = node(f, "big", "d7");
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

		assert_int_equal(mf_tree_readdir(f->t, n, 0, add_name, names),
				 0);
		assert_int_equal(names->len, 1000);
		g_ptr_array_free(names, TRUE);
		mf_tree_node_unref(n);
	}
}

/* A backing opened before the snapshot, with no state then: a chmod
 * keeps the file without it; its later writes must still be kept, after
 * a reopen too. And a change nested in another takes no second lock. */
static void test_backing_opened_before(void **state)
{
	Fix *f = *state;
	char page[P];
	MfBacking *b;
	struct stat sb;
	int fd;

	unit_guard();
	op_create(f, "f", 2 * P);
	fd = openat(f->rootfd, "f", O_RDWR | O_CLOEXEC);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	snap(f, "s1");
	op_chmod(f, "f", 0600);
	reopen(f);      /* the fast path forgotten: kept on disk */
	memset(page, 'x', P);
	mf_tree_change_begin(f->t);
	mf_tree_change_begin(f->t);     /* nested: counted only */
	/* It would wait for itself. */
	assert_int_equal(mf_tree_snap_create(f->t, "inside"), -EDEADLK);
	assert_int_equal(mf_tree_snap_delete(f->t, "s1"), -EDEADLK);
	assert_int_equal(mf_tree_keep(f->t, (uint64_t)sb.st_ino, fd, b), 0);
	assert_int_equal(mf_backing_write(b, 0, page, P), (ssize_t)P);
	mf_tree_change_end(f->t);
	mf_tree_change_end(f->t);
	snap(f, "s2");                  /* would wait forever on a leak */
	assert_pattern_file(f, "s1", "f", 2 * P);
	assert_int_equal(stat_of(f, "s1", "f").st_mode & 07777, 0644);
	assert_int_equal(stat_of(f, "s2", "f").st_mode & 07777, 0600);
	mf_backing_unref(b);
}

/* ls -lR of a snapshot: 10,000 names in a live directory and in one
 * kept (changed after the snapshot), against lstat of the live ones. */
static void test_listing_cost(void **state)
{
	Fix *f = *state;
	struct timespec a, b, c, d;
	double live, snap_live, snap_kept;
	int dfd;

	assert_int_equal(mkdirat(f->rootfd, "big", 0755), 0);
	dfd = openat(f->rootfd, "big", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 10000; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "file-%05d", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	snap(f, "s1");
	clock_gettime(CLOCK_MONOTONIC, &a);
	{
		DIR *dir = fdopendir(dup(dfd));
		struct dirent *de;
		struct stat sb;
		int n = 0;

		while ((de = readdir(dir)))
			n += fstatat(dfd, de->d_name, &sb,
				     AT_SYMLINK_NOFOLLOW) == 0;
		closedir(dir);
		assert_int_equal(n, 10002);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	for (int pass = 0; pass < 2; pass++) {
		MfTreeNode *n = node(f, "s1", "big");
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

		if (pass == 1)
			clock_gettime(CLOCK_MONOTONIC, &c);
		assert_int_equal(mf_tree_readdir(f->t, n, 0, add_name, names),
				 0);
		for (guint i = 0; i < names->len; i++) {
			MfTreeNode *x;
			struct stat sb;

			assert_int_equal(mf_tree_lookup(f->t, n, names->pdata[i],
							&x),
					 0);
			assert_int_equal(mf_tree_stat(f->t, x, &sb), 0);
			mf_tree_node_unref(x);
		}
		assert_int_equal(names->len, 10000);
		g_ptr_array_free(names, TRUE);
		mf_tree_node_unref(n);
		if (pass == 0) {
			clock_gettime(CLOCK_MONOTONIC, &d);
			/* The directory changes: its entries are kept. */
			op_create(f, "big/new", 0);
		}
	}
	live = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	clock_gettime(CLOCK_MONOTONIC, &a);
	close(dfd);
	snap_live = (double)(d.tv_sec - b.tv_sec) * 1e3 +
		    (double)(d.tv_nsec - b.tv_nsec) / 1e6;
	snap_kept = (double)(a.tv_sec - c.tv_sec) * 1e3 +
		    (double)(a.tv_nsec - c.tv_nsec) / 1e6;
	print_message("# 10,000 names: readdir+lstat live %.1f ms; "
		      "readdir+lookup+stat of a snapshot %.1f ms (live "
		      "directory), %.1f ms (kept)\n",
		      live, snap_live, snap_kept);
}

/* The first write to each page after a snapshot copies the old page by
 * read(2), through no window (a fault and page table entries for every
 * such write: half the daemon's time of one, under 10 tree snapshots). */
static void test_first_write_maps_nothing(void **state)
{
	Fix *f = *state;
	MfWindowStats a, b;
	MfBacking *bk;
	char page[P];

	unit_guard();
	op_create(f, "f", 8 * P);
	snap(f, "s1");
	memset(page, 'x', P);
	mf_tree_change_begin(f->t);
	bk = open_backing(f, "f");
	mf_window_cache_stats(f->cache, &a);
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(mf_backing_write(bk, i * P, page, P),
				 (ssize_t)P);
	mf_window_cache_stats(f->cache, &b);
	mf_backing_unref(bk);
	mf_tree_change_end(f->t);
	/* One pin a write: its own, to store its bytes. */
	assert_int_equal((b.hits + b.misses) - (a.hits + a.misses), 8);
	assert_pattern_file(f, "s1", "f", 8 * P);
}

/* Heap bytes in use (one thread: the main arena is all of it). */
static size_t heap_used(void)
{
	return mallinfo2().uordblks;
}

/* Heap the tree takes when opened (a restart): after the objects kept
 * since the last one. */
static size_t reopen_heap(Fix *f)
{
	size_t before;

	mf_tree_free(f->t);
	before = heap_used();
	assert_int_equal(mf_tree_open(f->statefd, f->rootfd, f->rootpath,
				      f->sd, f->cache, f->sync,
				      f->state_sb.st_dev, f->state_sb.st_ino,
				      &f->t),
			 0);
	return heap_used() - before;
}

static void chmod_files(Fix *f, int from, int to, mode_t mode, int step)
{
	for (int i = from; i < to; i += step) {
		char name[32];

		snprintf(name, sizeof(name), "d/f%05d", i);
		op_chmod(f, name, mode);
	}
}

/* Memory bounded whatever the number of objects kept: a restart loads no
 * table of them, and the versions asked for are cached up to a budget,
 * the others looked up on disk again, the same. */
static void test_versions_bounded(void **state)
{
	Fix *f = *state;
	size_t few, many;

	assert_int_equal(mkdirat(f->rootfd, "d", 0755), 0);
	for (int i = 0; i < 600; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "d/f%05d", i);
		fd = openat(f->rootfd, name, O_WRONLY | O_CREAT | O_CLOEXEC,
			    0644);
		assert_true(fd >= 0);
		close(fd);
	}
	snap(f, "s1");
	chmod_files(f, 0, 30, 0600, 1);
	few = reopen_heap(f);
	chmod_files(f, 30, 600, 0600, 1);
	many = reopen_heap(f);
	/* A table of them took some 190 bytes an object. */
	print_message("# the tree opened with 30 objects kept: %zu bytes of "
		      "heap; with 600: %zu\n", few, many);
	assert_true(many < few + 4096);
	/* A budget of 64: every kept object read back through it. */
	f->t->vcache_max = 64;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 600; i += 3) {
			char name[32];

			snprintf(name, sizeof(name), "d/f%05d", i);
			assert_int_equal(stat_of(f, "s1", name).st_mode & 07777,
					 0644);
			assert_true(mf_tree_versions_cached(f->t) <= 64);
		}
	/* Kept while evicted: a new version is seen, none is written
	 * twice. */
	snap(f, "s2");
	chmod_files(f, 0, 600, 0640, 3);
	assert_true(mf_tree_versions_cached(f->t) <= 64);
	assert_int_equal(stat_of(f, "s1", "d/f00003").st_mode & 07777, 0644);
	assert_int_equal(stat_of(f, "s2", "d/f00003").st_mode & 07777, 0600);
	assert_int_equal(stat_of(f, "s2", "d/f00597").st_mode & 07777, 0600);
	assert_int_equal(stat_of(f, "s2", "d/f00599").st_mode & 07777, 0600);
	/* Deleting walks the disk, not a table. */
	assert_int_equal(mf_tree_snap_delete(f->t, "s1"), 0);
	assert_int_equal(stat_of(f, "s2", "d/f00003").st_mode & 07777, 0600);
	assert_int_equal(mf_tree_snap_delete(f->t, "s2"), 0);
	{
		int dfd = openat(f->statefd, "trees/objs",
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fdopendir(dfd);
		struct dirent *de;
		int left = 0;

		assert_non_null(d);
		while ((de = readdir(d)))
			left += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(left, 0);
	}
}

/* Without tree snapshots (no file handles): every call says so, the
 * change hooks do nothing. */
static void test_no_tree(void **state)
{
	MfTreeSnapInfo info;
	MfTreeNode *n;
	char **names = mf_tree_snap_list(NULL);

	(void)state;
	assert_null(names[0]);
	g_strfreev(names);
	mf_tree_change_begin(NULL);
	assert_int_equal(mf_tree_keep(NULL, 1, 0, NULL), 0);
	assert_int_equal(mf_tree_keep_removed(NULL, AT_FDCWD, "x"), 0);
	mf_tree_change_end(NULL);
	assert_int_equal(mf_tree_snap_create(NULL, "s"), -EOPNOTSUPP);
	assert_int_equal(mf_tree_snap_delete(NULL, "s"), -EOPNOTSUPP);
	assert_int_equal(mf_tree_snap_rename(NULL, "s", "t"), -EOPNOTSUPP);
	assert_int_equal(mf_tree_snap_info(NULL, "s", &info), -EOPNOTSUPP);
	assert_int_equal(mf_tree_root(NULL, "s", &n), -EOPNOTSUPP);
	assert_int_equal(mf_tree_diff(NULL, "s", NULL, NULL, NULL),
			 -EOPNOTSUPP);
}

static int add_change(const MfTreeDiffEntry *e, void *arg)
{
	static const char *const kind[] = { "+", "-", "R", "M" };
	GString *s = arg;

	g_string_append_printf(s, "%s %s", kind[e->change], e->path);
	if (e->to)
		g_string_append_printf(s, " %s", e->to);
	for (size_t i = 0; i < e->nranges; i++)
		g_string_append_printf(s, " [%" PRIu64 "+%" PRIu64 "]",
				       e->ranges[2 * i], e->ranges[2 * i + 1]);
	g_string_append(s, "\n");
	return 0;
}

static char *diff(Fix *f, const char *a, const char *b)
{
	GString *s = g_string_new("");

	assert_int_equal(mf_tree_diff(f->t, a, b, add_change, s), 0);
	return g_string_free(s, FALSE);
}

/* Created, removed, renamed (a directory with what it holds reported
 * once), modified with the ranges of its changed pages. */
static void test_diff(void **state)
{
	Fix *f = *state;
	g_autofree char *d1 = NULL, *d2 = NULL, *d3 = NULL, *none = NULL;
	char page[P];

	unit_guard();
	op_create(f, "big", 4 * P);
	op_create(f, "gone", 10);
	op_create(f, "old", 10);
	op_create(f, "same", 10);
	op_mkdir(f, "dir");
	op_create(f, "dir/in", 10);
	snap(f, "s1");
	none = diff(f, "s1", NULL);
	assert_string_equal(none, "");

	memset(page, 'x', P);
	op_write(f, "big", 2 * P, page, 100);
	op_unlink(f, "gone", false);
	op_rename(f, "old", "new");
	op_rename(f, "dir", "moved");
	op_create(f, "fresh", 1);
	op_chmod(f, "same", 0600);
	snap(f, "s2");
	op_truncate(f, "big", P);

	d1 = diff(f, "s1", "s2");
	assert_string_equal(d1, "M big [8192+4096]\n"
				"R dir moved\n"
				"- gone\n"
				"R old new\n"
				"M same\n"
				"+ fresh\n");
	d2 = diff(f, "s2", NULL);
	assert_string_equal(d2, "M big [4096+12288]\n");
	d3 = diff(f, "s1", NULL);
	assert_string_equal(d3, "M big [4096+12288]\n"
				"R dir moved\n"
				"- gone\n"
				"R old new\n"
				"M same\n"
				"+ fresh\n");
	assert_int_equal(mf_tree_diff(f->t, "s1", "nope", add_change, NULL),
			 -ENOENT);
}

/* The diff found from what was kept, and the same diff by the walk of
 * both trees: they must say the same. Returns the first. */
static char *diff_both(Fix *f, const char *a, const char *b)
{
	g_autofree char *walked = NULL;
	char *found = diff(f, a, b);

	f->t->diff_walk = true;
	walked = diff(f, a, b);
	f->t->diff_walk = false;
	if (strcmp(found, walked) != 0)
		print_message("# diff %s..%s found:\n%s# walked:\n%s", a,
			      b ? b : "live", found, walked);
	assert_string_equal(found, walked);
	return found;
}

static uint64_t walks(Fix *f)
{
	return __atomic_load_n(&f->t->diff_walks, __ATOMIC_RELAXED);
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* 20,000 files, 3 changed deep in the tree (bytes, mode, a rename within
 * a directory of 200) and one made: the diff looks at the directories on
 * their paths and the changed ones, not at the tree. */
static void test_diff_cost(void **state)
{
	Fix *f = *state;
	g_autofree char *d1 = NULL, *d2 = NULL;
	struct timespec a;
	uint64_t w0, w1, w2;
	double found_ms, walk_ms;
	char page[P];

	unit_guard();
	assert_int_equal(mkdirat(f->rootfd, "a", 0755), 0);
	assert_int_equal(mkdirat(f->rootfd, "a/b", 0755), 0);
	assert_int_equal(mkdirat(f->rootfd, "a/b/c", 0755), 0);
	for (int d = 0; d < 100; d++) {
		char dir[32];
		int dfd;

		snprintf(dir, sizeof(dir), "a/b/c/d%02d", d);
		assert_int_equal(mkdirat(f->rootfd, dir, 0755), 0);
		dfd = openat(f->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (int i = 0; i < 200; i++) {
			char name[32];
			int fd;

			snprintf(name, sizeof(name), "f%03d", i);
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC,
				    0644);
			assert_true(fd >= 0);
			close(fd);
		}
		close(dfd);
	}
	op_truncate(f, "a/b/c/d07/f013", 2 * P);        /* before: no change */
	snap(f, "s1");
	memset(page, 'x', P);
	op_write(f, "a/b/c/d07/f013", P, page, 10);
	op_chmod(f, "a/b/c/d42/f100", 0600);
	op_rename(f, "a/b/c/d99/f005", "a/b/c/d99/g005");
	snap(f, "s2");
	op_create(f, "a/b/c/d50/new", 1);

	w0 = mf_tree_diff_work(f->t);
	clock_gettime(CLOCK_MONOTONIC, &a);
	d1 = diff(f, "s1", NULL);
	found_ms = ms_since(&a);
	w1 = mf_tree_diff_work(f->t);
	assert_string_equal(d1, "M a/b/c/d07/f013 [4096+4096]\n"
				"M a/b/c/d42/f100\n"
				"M a/b/c/d50\n"
				"M a/b/c/d99\n"
				"R a/b/c/d99/f005 a/b/c/d99/g005\n"
				"+ a/b/c/d50/new\n");
	f->t->diff_walk = true;
	clock_gettime(CLOCK_MONOTONIC, &a);
	g_free(diff(f, "s1", NULL));
	walk_ms = ms_since(&a);
	f->t->diff_walk = false;
	w2 = mf_tree_diff_work(f->t);
	print_message("# diff of 4 changes in 20,000 files: %" PRIu64
		      " names looked at in %.1f ms; the walk %" PRIu64
		      " in %.1f ms\n",
		      w1 - w0, found_ms, w2 - w1, walk_ms);
	assert_int_equal(walks(f), 1);  /* the one asked for */
	/* Each directory on the changed objects' paths read once in each
	 * view (a/b/c: 100 names; d07, d42, d50, d99: 200 each): about
	 * 2,000 names, where the walk looks at every name of both trees. */
	assert_true(w1 - w0 < 4000);
	assert_true(w2 - w1 > 40000);
	d2 = diff_both(f, "s2", NULL);
	assert_string_equal(d2, "M a/b/c/d50\n"
				"+ a/b/c/d50/new\n");
	g_free(diff_both(f, "s1", "s2"));
	assert_int_equal(walks(f), 3);  /* those of diff_both only */
}

/* Versions as kept before their places were recorded: without [where]. */
static void forget_places(Fix *f)
{
	int objs = openat(f->statefd, "trees/objs",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(objs);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		DIR *vd;
		struct dirent *ve;

		if (de->d_name[0] == '.')
			continue;
		vd = fdopendir(openat(objs, de->d_name,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		assert_non_null(vd);
		while ((ve = readdir(vd))) {
			g_autoptr(GKeyFile) kf = g_key_file_new();
			g_autofree char *path = NULL, *data = NULL;

			if (ve->d_name[0] == '.')
				continue;
			path = g_strdup_printf("%s/.mapfs/trees/objs/%s/%s",
					       f->root, de->d_name, ve->d_name);
			assert_true(g_key_file_load_from_file(kf, path, 0, NULL));
			assert_true(g_key_file_remove_group(kf, "where", NULL));
			data = g_key_file_to_data(kf, NULL, NULL);
			assert_true(g_file_set_contents(path, data, -1, NULL));
			n++;
		}
		closedir(vd);
	}
	closedir(d);
	assert_true(n > 0);
}

/* A state directory kept before places were recorded: its diffs walk
 * the trees and say what they said; versions kept since are found
 * without. */
static void test_diff_old_versions(void **state)
{
	Fix *f = *state;
	g_autofree char *d1 = NULL, *d2 = NULL, *o1 = NULL, *o2 = NULL;
	g_autofree char *d3 = NULL, *o3 = NULL;
	char page[P];

	unit_guard();
	op_create(f, "big", 4 * P);
	op_create(f, "gone", 10);
	op_create(f, "old", 10);
	op_mkdir(f, "dir");
	op_create(f, "dir/in", 10);
	snap(f, "s1");
	memset(page, 'x', P);
	op_write(f, "big", 2 * P, page, 100);
	op_unlink(f, "gone", false);
	op_rename(f, "old", "dir/new");
	op_rename(f, "dir", "moved");
	op_create(f, "fresh", 1);
	snap(f, "s2");
	op_chmod(f, "moved/in", 0600);
	d1 = diff_both(f, "s1", "s2");
	d2 = diff_both(f, "s1", NULL);
	assert_string_equal(d1, "M big [8192+4096]\n"
				"R dir moved\n"
				"M moved\n"
				"- gone\n"
				"R old moved/new\n"
				"+ fresh\n");
	forget_places(f);
	reopen(f);
	uint64_t w = walks(f);

	o1 = diff(f, "s1", "s2");
	o2 = diff(f, "s1", NULL);
	assert_string_equal(o1, d1);
	assert_string_equal(o2, d2);
	assert_int_equal(walks(f) - w, 2);
	/* Kept from now on: with their places. */
	snap(f, "s3");
	op_chmod(f, "fresh", 0600);
	d3 = diff(f, "s3", NULL);
	assert_string_equal(d3, "M fresh\n");
	assert_int_equal(walks(f) - w, 2);
	o3 = diff_both(f, "s2", NULL);
	assert_int_equal(walks(f) - w, 4);      /* and diff_both's */
}

/* Every path under f's root but the state directory: files (and
 * symlinks) and directories ("" the root). */
static void list_tree(Fix *f, const char *dir, GPtrArray *files,
		      GPtrArray *dirs)
{
	int dfd = openat(f->rootfd, *dir ? dir : ".",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	assert_non_null(d);
	g_ptr_array_add(dirs, g_strdup(dir));
	while ((de = readdir(d))) {
		g_autofree char *path = NULL;
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (!*dir && strcmp(de->d_name, ".mapfs") == 0))
			continue;
		path = *dir ? g_strconcat(dir, "/", de->d_name, NULL)
			    : g_strdup(de->d_name);
		assert_int_equal(fstatat(dfd, de->d_name, &sb,
					 AT_SYMLINK_NOFOLLOW), 0);
		if (S_ISDIR(sb.st_mode))
			list_tree(f, path, files, dirs);
		else
			g_ptr_array_add(files, g_steal_pointer(&path));
	}
	closedir(d);
}

static char *pick(GRand *rnd, GPtrArray *a)
{
	return a->pdata[g_rand_int_range(rnd, 0, (gint32)a->len)];
}

/* A storm of changes and snapshots (seeded): every diff between two of
 * them, either way, and to the live tree, says what the walk says; found
 * without a walk unless a file has several names. */
static void diff_model(Fix *f, guint32 seed, bool links)
{
	GRand *rnd = g_rand_new_with_seed(seed);
	GPtrArray *snaps = g_ptr_array_new_with_free_func(g_free);
	char page[P];
	int made = 0;
	uint64_t w;

	unit_guard();
	memset(page, 'y', P);
	for (int step = 0; step < 250; step++) {
		g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
		g_autofree char *to = NULL;
		const char *dir, *file;
		int op = g_rand_int_range(rnd, 0, 100);
		struct stat sb;

		list_tree(f, "", files, dirs);
		dir = pick(rnd, dirs);
		file = files->len ? pick(rnd, files) : NULL;
		/* chmod and setxattr would follow a symlink. */
		if (file && op >= 40 && op < 45 &&
		    (fstatat(f->rootfd, file, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		     S_ISLNK(sb.st_mode)))
			continue;
		if (file && op >= 75 && op < 80 &&
		    (fstatat(f->rootfd, file, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		     S_ISLNK(sb.st_mode)))
			continue;
		to = *dir ? g_strdup_printf("%s/n%d", dir, made++)
			  : g_strdup_printf("n%d", made++);
		if (op < 15 || !file) {
			op_create(f, to, (uint64_t)g_rand_int_range(rnd, 0, 3 * P));
		} else if (op < 25) {
			op_mkdir(f, to);
		} else if (op < 40) {
			if (fstatat(f->rootfd, file, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode))
				op_write(f, file, (uint64_t)g_rand_int_range(rnd, 0, 4 * P),
					 page, 100);
		} else if (op < 45) {
			op_chmod(f, g_rand_boolean(rnd) || !*dir ? file : dir,
				 g_rand_boolean(rnd) ? 0600 : 0644);
		} else if (op < 58) {
			/* A file, or a directory not into itself. */
			const char *from = file;

			if (g_rand_boolean(rnd) && dirs->len > 1) {
				from = pick(rnd, dirs);
				if (!*from || g_str_has_prefix(dir, from))
					from = file;
			}
			op_rename(f, from, to);
		} else if (op < 66) {
			op_unlink(f, file, false);
		} else if (op < 71) {
			/* An empty directory. */
			for (guint i = dirs->len; i-- > 1;) {
				const char *e = dirs->pdata[i];
				bool empty = true;

				for (guint k = 0; k < files->len && empty; k++)
					empty = !g_str_has_prefix(files->pdata[k], e);
				for (guint k = 0; k < dirs->len && empty; k++)
					empty = k == i || !g_str_has_prefix(dirs->pdata[k], e);
				if (empty) {
					op_unlink(f, e, true);
					break;
				}
			}
		} else if (op < 75) {
			op_symlink(f, file, to);
		} else if (op < 80) {
			op_setxattr(f, file, "user.k",
				    g_rand_boolean(rnd) ? "a" : "b");
		} else if (op < 84 && links) {
			if (fstatat(f->rootfd, file, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode))
				op_link(f, file, to);
		} else if (op < 88) {
			char name[16];

			snprintf(name, sizeof(name), "s%d", step);
			snap(f, name);
			g_ptr_array_add(snaps, g_strdup(name));
		} else if (op < 92 && snaps->len > 3) {
			guint i = (guint)g_rand_int_range(rnd, 0, (gint32)snaps->len);

			assert_int_equal(mf_tree_snap_delete(f->t, snaps->pdata[i]), 0);
			g_ptr_array_remove_index(snaps, i);
		}
	}
	w = walks(f);
	for (guint i = 0; i < snaps->len; i++) {
		g_free(diff_both(f, snaps->pdata[i], NULL));
		for (guint k = 0; k < snaps->len; k++)
			if (k != i)
				g_free(diff_both(f, snaps->pdata[i], snaps->pdata[k]));
	}
	/* Each diff_both walks once; without links, only then. */
	if (!links)
		assert_int_equal(walks(f) - w, snaps->len * snaps->len);
	print_message("# seed %u: %u snapshots, %" PRIu64 " diffs walked of %u\n",
		      seed, snaps->len, walks(f) - w - snaps->len * snaps->len,
		      snaps->len * snaps->len);
	g_ptr_array_free(snaps, TRUE);
	g_rand_free(rnd);
}

static void test_diff_model(void **state)
{
	diff_model(*state, 1, false);
}

static void test_diff_model_2(void **state)
{
	diff_model(*state, 2, false);
}

static void test_diff_model_links(void **state)
{
	diff_model(*state, 3, true);
}

#else /* UNIT_WRAP_IO */
/* ---- faults: the state filesystem is full ----------------------------- */

/* The old page cannot be kept: the change is refused with ENOSPC and
 * changes nothing, the snapshot intact; once space is back it goes
 * through, and the snapshot still holds the old bytes. */
static void test_full_refuses_change(void **state)
{
	Fix *f = *state;
	char page[P], back[2 * P];
	MfBacking *b;
	struct stat sb;
	ssize_t w = 0;
	int fd, r;

	unit_guard();
	op_create(f, "f", 2 * P);
	snap(f, "s1");
	memset(page, 'x', P);
	unit_io_fail("pwrite", "pages", ENOSPC, 0);
	mf_tree_change_begin(f->t);
	fd = openat(f->rootfd, "f", O_RDWR | O_CLOEXEC);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(mf_backing_new(f->cache, fd, true, &b), 0);
	r = mf_tree_keep(f->t, (uint64_t)sb.st_ino, fd, b);
	if (r == 0)
		w = mf_backing_write(b, 0, page, P);
	mf_tree_change_end(f->t);
	assert_true(r == -ENOSPC || w == -ENOSPC);
	assert_true(unit_io_hits() > 0);
	unit_pread(fd, back, 2 * P, 0);
	unit_assert_pattern(back, 0, 2 * P);
	assert_pattern_file(f, "s1", "f", 2 * P);
	unit_io_reset();

	mf_tree_change_begin(f->t);
	assert_int_equal(mf_tree_keep(f->t, (uint64_t)sb.st_ino, fd, b), 0);
	assert_int_equal(mf_backing_write(b, 0, page, P), (ssize_t)P);
	mf_tree_change_end(f->t);
	mf_backing_unref(b);
	assert_pattern_file(f, "s1", "f", 2 * P);
}
#endif /* UNIT_WRAP_IO */

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#ifndef UNIT_WRAP_IO
		T(test_freezes),
		{ "test_freezes (sync)", test_freezes, setup_sync, teardown,
		  NULL },
		{ "test_delete_middle (sync)", test_delete_middle, setup_sync,
		  teardown, NULL },
		T(test_several),
		T(test_shared_pages),
		T(test_delete_middle),
		T(test_file_snapshot_between),
		T(test_file_snaps_of_tree),
		T(test_concurrent_changes),
		T(test_removed_file_kept),
		T(test_newest_deleted),
		T(test_unlinked_open),
		T(test_names),
		T(test_node_path),
		T(test_take_is_constant),
		T(test_diff),
		T(test_diff_cost),
		T(test_diff_old_versions),
		T(test_diff_model),
		T(test_diff_model_2),
		T(test_diff_model_links),
		T(test_backing_opened_before),
		T(test_listing_cost),
		T(test_versions_bounded),
		T(test_first_write_maps_nothing),
		cmocka_unit_test(test_no_tree),
#else
		T(test_full_refuses_change),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
