/* mf-tree-read: a snapshot's objects as nodes. See mf-tree.h.
 *
 * A node finds the version it reads (the oldest at or after its snapshot)
 * in memory at every call: no system call for an object without one,
 * which is read live. A live object is looked at first and the versions
 * asked after: a version, kept before any change, that is not there yet
 * then says that nothing had changed when we looked.
 */
#include "mf-tree-impl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static void ent_free(TreeEnt *e)
{
	g_free(e->name);
	g_free(e->key);
	g_free(e);
}

static void drop_ents(MfTreeNode *n)
{
	if (n->index)
		g_hash_table_destroy(n->index);
	if (n->ents)
		g_ptr_array_free(n->ents, TRUE);
	n->index = NULL;
	n->ents = NULL;
}

/* Find the version n reads now; load it if it is another. n->lock held.
 * Returns 0, or -ENOENT once the snapshot is gone. */
static int refresh(MfTree *t, MfTreeNode *n)
{
	uint64_t vs;
	int r;

	g_mutex_lock(&t->lock);
	if (n->seq != MF_TREE_LIVE && !mf_tree_snap_by_seq(t, n->seq)) {
		g_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	r = mf_tree_version_find(t, n->key, n->seq, &vs);
	g_mutex_unlock(&t->lock);
	if (r < 0)
		return -EIO;
	if (vs == n->vseq && (!vs || n->ver))
		return 0;
	if (vs) {
		GKeyFile *kf = mf_tree_version_load(t, n->key, vs);

		if (!kf)
			return -EIO;
		if (n->ver)
			g_key_file_free(n->ver);
		n->ver = kf;
	}
	n->vseq = vs;
	return 0;
}

/* The live object, O_PATH. n->lock held. */
static void drop_fd(MfTreeNode *n)
{
	if (n->fd >= 0 && !S_ISDIR(n->live_st.st_mode)) {
		close(n->fd);
		n->fd = -1;
	}
}

static int live_fd(MfTree *t, MfTreeNode *n)
{
	if (n->fd < 0) {
		n->fd = mf_tree_open_key(t, n->key, O_PATH | O_NOFOLLOW);
		if (n->fd == -ESTALE)
			n->fd = -ENOENT;
	}
	return n->fd;
}

/* A new node: object key in view seq; st, if not NULL, its live
 * attributes, looked at just now. */
static int node_new(MfTree *t, uint64_t seq, const char *key,
		    const struct stat *st, MfTreeNode **ret)
{
	MfTreeNode *n = g_new0(MfTreeNode, 1);
	int r;

	n->refs = 1;
	n->t = t;
	n->seq = seq;
	n->key = g_strdup(key);
	n->id = seq == MF_TREE_LIVE ? g_strdup_printf("live:%s", key)
				    : g_strdup_printf("%" PRIu64 ":%s", seq, key);
	n->fd = -1;
	g_mutex_init(&n->lock);
	if (st)
		n->live_st = *st;
	r = refresh(t, n);
	if (r == 0 && !n->vseq && !st) {
		r = live_fd(t, n);
		if (r >= 0)
			r = fstatat(n->fd, "", &n->live_st,
				    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
				    ? -errno
				    : 0;
		if (r == 0)
			r = refresh(t, n);
		/* Only a directory's lookups use it: a held node holds no
		 * descriptor else (reads open their own). */
		drop_fd(n);
	}
	if (r < 0) {
		mf_tree_node_unref(n);
		return r;
	}
	*ret = n;
	return 0;
}

int mf_tree_root_seq(MfTree *t, uint64_t seq, MfTreeNode **ret)
{
	int r = node_new(t, seq, t->root_key, NULL, ret);

	if (r == 0)
		(*ret)->path = g_strdup("");
	return r;
}

int mf_tree_root(MfTree *t, const char *snap, MfTreeNode **ret)
{
	TreeSnap *s;
	uint64_t seq = 0;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&t->lock);
	s = mf_tree_snap_by_name(t, snap);
	if (s)
		seq = s->seq;
	g_mutex_unlock(&t->lock);
	return s ? mf_tree_root_seq(t, seq, ret) : -ENOENT;
}

MfTreeNode *mf_tree_node_ref(MfTreeNode *n)
{
	g_atomic_int_inc(&n->refs);
	return n;
}

void mf_tree_node_unref(MfTreeNode *n)
{
	if (!n || !g_atomic_int_dec_and_test(&n->refs))
		return;
	drop_ents(n);
	if (n->ver)
		g_key_file_free(n->ver);
	if (n->fd >= 0)
		close(n->fd);
	if (n->st)
		mf_state_unref(n->st);
	if (n->b)
		mf_backing_unref(n->b);
	g_mutex_clear(&n->lock);
	g_free(n->key);
	g_free(n->id);
	g_free(n->path);
	g_free(n);
}

void mf_tree_node_close(MfTreeNode *n)
{
	g_mutex_lock(&n->lock);
	drop_fd(n);
	/* A directory's listing is made again when asked: in the same
	 * order, for an unchanged directory or a version. */
	drop_ents(n);
	if (n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	if (n->st)
		mf_state_unref(n->st);
	if (n->b)
		mf_backing_unref(n->b);
	n->st = NULL;
	n->b = NULL;
	g_mutex_unlock(&n->lock);
}

const char *mf_tree_node_id(const MfTreeNode *n)
{
	return n->id;
}

char *mf_tree_node_path(MfTree *t, const MfTreeNode *n)
{
	TreeSnap *s;
	char *path = NULL;

	if (!t || !n->path)
		return NULL;
	/* The snapshot's name now: a rename of it shows. */
	g_mutex_lock(&t->lock);
	s = mf_tree_snap_by_seq(t, n->seq);
	if (s)
		path = *n->path ? g_strconcat(s->name, "/", n->path, NULL)
				: g_strdup(s->name);
	g_mutex_unlock(&t->lock);
	return path;
}

/* ------------------------------------------------------------------ */
/* Attributes                                                          */

static uint64_t attr(GKeyFile *kf, const char *name)
{
	return (uint64_t)g_key_file_get_uint64(kf, "attr", name, NULL);
}

static void attr_time(GKeyFile *kf, const char *name, struct timespec *ts)
{
	char k[32];

	snprintf(k, sizeof(k), "%s_sec", name);
	ts->tv_sec = (time_t)g_key_file_get_int64(kf, "attr", k, NULL);
	snprintf(k, sizeof(k), "%s_nsec", name);
	ts->tv_nsec = (long)g_key_file_get_int64(kf, "attr", k, NULL);
}

/* n's attributes as its view has them. n->lock held, refreshed. */
static void node_stat(MfTreeNode *n, struct stat *st)
{
	GKeyFile *kf = n->ver;

	if (!kf) {
		*st = n->live_st;
		return;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = (mode_t)attr(kf, "mode");
	st->st_uid = (uid_t)attr(kf, "uid");
	st->st_gid = (gid_t)attr(kf, "gid");
	st->st_size = (off_t)attr(kf, "size");
	st->st_nlink = (nlink_t)attr(kf, "nlink");
	st->st_ino = (ino_t)attr(kf, "ino");
	st->st_blocks = (blkcnt_t)attr(kf, "blocks");
	st->st_blksize = (blksize_t)attr(kf, "blksize");
	st->st_rdev = (dev_t)attr(kf, "rdev");
	st->st_dev = n->live_st.st_dev;
	attr_time(kf, "atime", &st->st_atim);
	attr_time(kf, "mtime", &st->st_mtim);
	attr_time(kf, "ctime", &st->st_ctim);
}

int mf_tree_stat(MfTree *t, MfTreeNode *n, struct stat *st)
{
	int r;

	g_mutex_lock(&n->lock);
	r = refresh(t, n);
	if (r == 0)
		node_stat(n, st);
	g_mutex_unlock(&n->lock);
	return r;
}

static mode_t node_mode(MfTreeNode *n)
{
	return n->ver ? (mode_t)attr(n->ver, "mode") : n->live_st.st_mode;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */

static int version_ents(MfTreeNode *n)
{
	int count = g_key_file_get_integer(n->ver, "dir", "count", NULL);

	for (int i = 0; i < count; i++) {
		char k[24];
		g_autofree char *line = NULL;
		g_auto(GStrv) f = NULL;
		TreeEnt *e;
		gsize len;

		snprintf(k, sizeof(k), "%d", i);
		line = g_key_file_get_string(n->ver, "dir", k, NULL);
		f = line ? g_strsplit(line, " ", 4) : NULL;
		if (!f || g_strv_length(f) != 4)
			return -EIO;
		e = g_new0(TreeEnt, 1);
		e->key = g_strdup(f[0]);
		e->type = (unsigned char)atoi(f[1]);
		e->ino = g_ascii_strtoull(f[2], NULL, 10);
		e->name = (char *)g_base64_decode(f[3], &len);
		e->name = g_realloc(e->name, len + 1);
		e->name[len] = 0;
		g_ptr_array_add(n->ents, e);
	}
	return 0;
}

/* The entries of the live directory, but the state directory. */
static int live_ents(MfTree *t, MfTreeNode *n)
{
	int fd = live_fd(t, n), dfd;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return fd;
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
	if (dfd < 0 && errno == EPERM)
		dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		TreeEnt *e;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (n->live_st.st_dev == t->state_dev &&
		     de->d_ino == t->state_ino))
			continue;
		e = g_new0(TreeEnt, 1);
		e->name = g_strdup(de->d_name);
		e->type = de->d_type;
		e->ino = de->d_ino;
		g_ptr_array_add(n->ents, e);
	}
	r = errno ? -errno : 0;
	closedir(d);
	return r;
}

/* n's entries, listed if not yet or if its version changed. n->lock
 * held. */
static int list_locked(MfTree *t, MfTreeNode *n)
{
	int r = refresh(t, n);

	for (int tries = 0; r == 0 && tries < 3; tries++) {
		uint64_t vs = n->vseq;

		if (n->ents && n->ents_vseq == vs)
			return 0;
		if (!S_ISDIR(node_mode(n)))
			return -ENOTDIR;
		drop_ents(n);
		n->ents = g_ptr_array_new_with_free_func((GDestroyNotify)ent_free);
		n->index = g_hash_table_new(g_str_hash, g_str_equal);
		n->ents_vseq = vs;
		r = n->ver ? version_ents(n) : live_ents(t, n);
		for (guint i = 0; r == 0 && i < n->ents->len; i++) {
			TreeEnt *e = n->ents->pdata[i];

			g_hash_table_insert(n->index, e->name, e);
		}
		/* Listed live, and changed meanwhile: list its version. */
		if (r == 0)
			r = refresh(t, n);
	}
	if (r < 0)
		drop_ents(n);
	return r;
}

int mf_tree_entries(MfTree *t, MfTreeNode *dir, GPtrArray **ents)
{
	int r;

	g_mutex_lock(&dir->lock);
	r = list_locked(t, dir);
	if (r == 0)
		*ents = dir->ents;
	g_mutex_unlock(&dir->lock);
	return r;
}

int mf_tree_readdir(MfTree *t, MfTreeNode *dir, uint64_t start,
		    MfTreeDirFn fn, void *arg)
{
	int r;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&dir->lock);
	r = list_locked(t, dir);
	for (uint64_t i = start; r == 0 && i < dir->ents->len; i++) {
		TreeEnt *e = dir->ents->pdata[i];

		if (fn(e->name, e->type, e->ino, i + 1, arg))
			break;
	}
	g_mutex_unlock(&dir->lock);
	return r;
}

/* The key and live attributes of entry e of dir. dir->lock held. */
static int ent_key(MfTree *t, MfTreeNode *dir, TreeEnt *e, struct stat *st,
		   bool *have_st)
{
	int r;

	*have_st = false;
	if (e->key)
		return 0;       /* from a version: the child is found by key */
	r = live_fd(t, dir);
	if (r < 0)
		return r;
	if (fstatat(dir->fd, e->name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	*have_st = true;
	return mf_tree_key_at(dir->fd, e->name, &e->key);
}

int mf_tree_lookup_ent(MfTree *t, MfTreeNode *dir, TreeEnt *e,
		       MfTreeNode **ret)
{
	g_autofree char *key = NULL;
	struct stat st;
	bool have_st;
	int r;

	g_mutex_lock(&dir->lock);
	r = ent_key(t, dir, e, &st, &have_st);
	if (r == 0)
		key = g_strdup(e->key);
	g_mutex_unlock(&dir->lock);
	return r < 0 ? r : node_new(t, dir->seq, key, have_st ? &st : NULL,
				   ret);
}

int mf_tree_lookup(MfTree *t, MfTreeNode *dir, const char *name,
		   MfTreeNode **ret)
{
	g_autofree char *key = NULL;
	struct stat st;
	bool have_st = false;
	int r = 0;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&dir->lock);
	for (int tries = 0; r == 0 && tries < 3 && !key; tries++) {
		uint64_t vs;
		TreeEnt *e;

		r = list_locked(t, dir);
		if (r < 0)
			break;
		vs = dir->vseq;
		e = g_hash_table_lookup(dir->index, name);
		if (!e) {
			r = -ENOENT;
			break;
		}
		if (e->key) {
			key = g_strdup(e->key);
			break;
		}
		r = ent_key(t, dir, e, &st, &have_st);
		/* The directory changed since it was listed? Then its
		 * version has the entry: again. */
		int rr = refresh(t, dir);

		if (rr < 0)
			r = rr;
		else if (dir->vseq != vs)
			r = 0, have_st = false;
		else if (r == 0)
			key = g_strdup(e->key);
	}
	g_mutex_unlock(&dir->lock);
	if (r == 0 && !key)
		r = -EIO;
	if (r == 0)
		r = node_new(t, dir->seq, key, have_st ? &st : NULL, ret);
	if (r == 0 && dir->path)
		(*ret)->path = *dir->path ? g_strconcat(dir->path, "/", name,
							NULL)
					  : g_strdup(name);
	return r;
}

/* ------------------------------------------------------------------ */
/* Contents                                                            */

ssize_t mf_tree_readlink(MfTree *t, MfTreeNode *n, char *buf, size_t size)
{
	ssize_t r;

	if (!t)
		return -EOPNOTSUPP;
	if (size == 0)
		return -EINVAL;
	g_mutex_lock(&n->lock);
	r = refresh(t, n);
	if (r == 0 && !S_ISLNK(node_mode(n)))
		r = -EINVAL;
	if (r == 0 && n->ver) {
		g_autofree char *b64 = g_key_file_get_string(n->ver, "link",
							     "target", NULL);
		g_autofree guchar *target = NULL;
		gsize len = 0;

		if (b64)
			target = g_base64_decode(b64, &len);
		r = (ssize_t)MIN(len, size - 1);
		if (target)
			memcpy(buf, target, (size_t)r);
	} else if (r == 0) {
		r = live_fd(t, n);
		if (r >= 0 && (r = readlinkat(n->fd, "", buf, size - 1)) < 0)
			r = -errno;
	}
	if (r >= 0)
		buf[r] = 0;
	drop_fd(n);
	g_mutex_unlock(&n->lock);
	return r;
}

int mf_tree_node_backing(MfTree *t, MfTreeNode *n)
{
	int fd, r;

	if (n->b)
		return 0;
	/* A snapshot's reader leaves the live file's atime alone. */
	fd = mf_tree_open_key(t, n->key, O_RDONLY | O_NOFOLLOW | O_NOATIME);
	if (fd == -EPERM)
		fd = mf_tree_open_key(t, n->key, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return fd == -ESTALE ? -EIO : fd;
	r = mf_backing_new(t->cache, fd, false, &n->b);
	if (r < 0)
		close(fd);
	return r;
}

/* Its bytes through the chain, or live. n->lock held. */
static ssize_t read_locked(MfTree *t, MfTreeNode *n, uint64_t off, void *buf,
			   size_t len)
{
	ssize_t r = mf_tree_node_backing(t, n);

	if (r < 0)
		return r;
	for (int tries = 0; tries < 2; tries++) {
		if (n->vseq) {
			if (!n->st) {
				r = mf_state_get(t->sd, mf_backing_fd(n->b),
						 false, &n->st);
				if (r < 0)
					return r == -ENOENT ? -EIO : r;
			}
			return mf_state_tree_read(n->st, n->b, n->seq, off, buf,
						  len);
		}
		r = mf_backing_read_copy(n->b, off, buf, len);
		if (r < 0)
			return r;
		/* Changed while we read it? Then the chain has it. */
		int e = refresh(t, n);

		if (e < 0)
			return e;
		if (!n->vseq)
			return r;
	}
	return -EIO;
}

ssize_t mf_tree_read(MfTree *t, MfTreeNode *n, uint64_t off, void *buf,
		     size_t len)
{
	ssize_t r;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&n->lock);
	r = refresh(t, n);
	if (r == 0 && S_ISDIR(node_mode(n)))
		r = -EISDIR;
	else if (r == 0 && !S_ISREG(node_mode(n)))
		r = -EINVAL;
	if (r == 0)
		r = read_locked(t, n, off, buf, len);
	g_mutex_unlock(&n->lock);
	return r;
}

/* ------------------------------------------------------------------ */
/* xattrs                                                              */

/* The value of name (NULL: the list of names) as n's version has it, in
 * a new GBytes; NULL if none. */
static GBytes *version_xattr(GKeyFile *kf, const char *name)
{
	int count = g_key_file_get_integer(kf, "xattr", "count", NULL);
	GByteArray *list = name ? NULL : g_byte_array_new();

	for (int i = 0; i < count; i++) {
		char k[32];
		g_autofree char *b64 = NULL;
		g_autofree guchar *nm = NULL;
		gsize nlen = 0, vlen = 0;

		snprintf(k, sizeof(k), "n%d", i);
		b64 = g_key_file_get_string(kf, "xattr", k, NULL);
		nm = b64 ? g_base64_decode(b64, &nlen) : NULL;
		if (!nm)
			continue;
		if (list) {
			g_byte_array_append(list, nm, (guint)nlen);
			g_byte_array_append(list, (const guint8 *)"", 1);
		} else if (nlen == strlen(name) &&
			   memcmp(nm, name, nlen) == 0) {
			g_autofree char *v64 = NULL;
			guchar *v;

			snprintf(k, sizeof(k), "v%d", i);
			v64 = g_key_file_get_string(kf, "xattr", k, NULL);
			v = v64 ? g_base64_decode(v64, &vlen) : NULL;
			return g_bytes_new_take(v, vlen);
		}
	}
	return list ? g_byte_array_free_to_bytes(list) : NULL;
}

/* getxattr (name) or listxattr (name NULL) of n. */
static ssize_t xattr(MfTree *t, MfTreeNode *n, const char *name, void *buf,
		     size_t size)
{
	g_autoptr(GBytes) val = NULL;
	ssize_t r;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&n->lock);
	r = refresh(t, n);
	if (r == 0 && !n->ver) {
		char path[64];

		r = live_fd(t, n);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", n->fd);
		if (r >= 0 && (r = name ? getxattr(path, name, buf, size)
					: listxattr(path, buf, size)) < 0)
			r = errno == ENOTSUP ? (name ? -ENODATA : 0) : -errno;
		/* Changed while we looked: its version has them. */
		if (refresh(t, n) == 0 && !n->ver)
			goto out;
		r = 0;
	}
	if (r == 0 && n->ver) {
		gsize len;
		const void *data;

		val = version_xattr(n->ver, name);
		if (!val) {
			r = -ENODATA;
			goto out;
		}
		data = g_bytes_get_data(val, &len);
		if (size == 0)
			r = (ssize_t)len;
		else if (size < len)
			r = -ERANGE;
		else {
			memcpy(buf, data, len);
			r = (ssize_t)len;
		}
	}
out:
	drop_fd(n);
	g_mutex_unlock(&n->lock);
	return r;
}

ssize_t mf_tree_getxattr(MfTree *t, MfTreeNode *n, const char *name,
			 void *buf, size_t size)
{
	return xattr(t, n, name, buf, size);
}

ssize_t mf_tree_listxattr(MfTree *t, MfTreeNode *n, char *buf, size_t size)
{
	return xattr(t, n, NULL, buf, size);
}
