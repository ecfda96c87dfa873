/* mf-tree-keep: keeping an object's version before the first change after
 * the newest tree snapshot, and dropping the versions no snapshot reads
 * once one is deleted. See mf-tree.h and mf-tree-impl.h. */
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

static const char NEW_PREFIX[] = ".new-";

static unsigned char dt_of(mode_t mode)
{
	return (unsigned char)IFTODT(mode);
}

/* The xattrs of fd (O_PATH will do: through its /proc name) into the
 * [xattr] group as base64 names and values. */
static int keep_xattrs(int fd, GKeyFile *kf)
{
	char path[64];
	g_autofree char *names = NULL;
	ssize_t n;
	int k = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (;;) {
		n = listxattr(path, NULL, 0);
		if (n <= 0)
			return n < 0 && errno != ENOTSUP && errno != EPERM
				       ? -errno
				       : 0;
		g_free(names);
		names = g_malloc((size_t)n);
		n = listxattr(path, names, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE)
			return -errno;
	}
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		g_autofree char *val = NULL;
		g_autofree char *b64n = NULL, *b64v = NULL;
		char key[32];
		ssize_t v = getxattr(path, p, NULL, 0);

		if (v < 0)
			continue;       /* gone meanwhile */
		val = g_malloc((size_t)v + 1);
		v = getxattr(path, p, val, (size_t)v);
		if (v < 0)
			continue;
		b64n = g_base64_encode((const guchar *)p, strlen(p));
		b64v = g_base64_encode((const guchar *)val, (gsize)v);
		snprintf(key, sizeof(key), "n%d", k);
		g_key_file_set_string(kf, "xattr", key, b64n);
		snprintf(key, sizeof(key), "v%d", k++);
		g_key_file_set_string(kf, "xattr", key, b64v);
	}
	g_key_file_set_integer(kf, "xattr", "count", k);
	return 0;
}

/* A directory's entries (name -> key, type, inode number), but the state
 * directory's, into the [dir] group. */
static int keep_entries(MfTree *t, int fd, dev_t dev, GKeyFile *kf)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int k = 0, r = 0;

	if (!d) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		g_autofree char *key = NULL, *b64 = NULL, *line = NULL;
		unsigned char type = de->d_type;
		char num[24];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (dev == t->state_dev && de->d_ino == t->state_ino)
			continue;
		r = mf_tree_key_at(dirfd(d), de->d_name, &key);
		if (r == -ENOENT) {
			r = 0;  /* went meanwhile: not through the mount */
			continue;
		}
		if (r == 0 && type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) == 0)
				type = dt_of(sb.st_mode);
		}
		if (r < 0)
			break;
		b64 = g_base64_encode((const guchar *)de->d_name,
				      strlen(de->d_name));
		line = g_strdup_printf("%s %u %" PRIu64 " %s", key, type,
				       (uint64_t)de->d_ino, b64);
		snprintf(num, sizeof(num), "%d", k++);
		g_key_file_set_string(kf, "dir", num, line);
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(d);
	g_key_file_set_integer(kf, "dir", "count", k);
	return r;
}

static void set_time(GKeyFile *kf, const char *name,
		     const struct statx_timestamp *ts)
{
	char k[32];

	snprintf(k, sizeof(k), "%s_sec", name);
	g_key_file_set_int64(kf, "attr", k, ts->tv_sec);
	snprintf(k, sizeof(k), "%s_nsec", name);
	g_key_file_set_int64(kf, "attr", k, ts->tv_nsec);
}

/* Write the version of fd (its statx sx) as objs/key/seq. */
static int write_version(MfTree *t, const char *key, uint64_t seq, int fd,
			 const struct statx *sx)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *data = NULL;
	char name[32], tmp[48];
	unsigned char type = dt_of(sx->stx_mode);
	dev_t dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	gsize len;
	int dfd, vfd, r = 0;

	g_key_file_set_integer(kf, "attr", "type", type);
	g_key_file_set_uint64(kf, "attr", "mode", sx->stx_mode);
	g_key_file_set_uint64(kf, "attr", "uid", sx->stx_uid);
	g_key_file_set_uint64(kf, "attr", "gid", sx->stx_gid);
	g_key_file_set_uint64(kf, "attr", "size", sx->stx_size);
	g_key_file_set_uint64(kf, "attr", "nlink", sx->stx_nlink);
	g_key_file_set_uint64(kf, "attr", "ino", sx->stx_ino);
	g_key_file_set_uint64(kf, "attr", "blocks", sx->stx_blocks);
	g_key_file_set_uint64(kf, "attr", "blksize", sx->stx_blksize);
	g_key_file_set_uint64(kf, "attr", "rdev",
			      makedev(sx->stx_rdev_major, sx->stx_rdev_minor));
	set_time(kf, "atime", &sx->stx_atime);
	set_time(kf, "mtime", &sx->stx_mtime);
	set_time(kf, "ctime", &sx->stx_ctime);
	r = keep_xattrs(fd, kf);
	if (r == 0 && type == DT_LNK) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(fd, "", target, PATH_MAX);
		g_autofree char *b64 = NULL;

		if (n < 0)
			return -errno;
		b64 = g_base64_encode((const guchar *)target, (gsize)n);
		g_key_file_set_string(kf, "link", "target", b64);
	}
	if (r == 0 && type == DT_DIR)
		r = keep_entries(t, fd, dev, kf);
	if (r < 0)
		return r;
	/* Where it is: a diff names what changed from it. */
	mf_tree_where_keep(t, key, fd,
			   &(struct stat){ .st_ino = sx->stx_ino,
					   .st_dev = dev,
					   .st_mode = sx->stx_mode,
					   .st_nlink = sx->stx_nlink },
			   kf);
	if (mkdirat(t->objs_fd, key, 0700) < 0 && errno != EEXIST)
		return -errno;
	dfd = openat(t->objs_fd, key, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	snprintf(name, sizeof(name), "%" PRIu64, seq);
	snprintf(tmp, sizeof(tmp), "%s%s", NEW_PREFIX, name);
	data = g_key_file_to_data(kf, &len, NULL);
	vfd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (vfd < 0)
		r = -errno;
	else if (write(vfd, data, len) != (ssize_t)len ||
		 (t->sync && fsync(vfd) < 0))
		r = errno ? -errno : -EIO;
	if (vfd >= 0)
		close(vfd);
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r == 0 && t->sync && (fsync(dfd) < 0 || fsync(t->objs_fd) < 0))
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return r;
}

/* ino is kept for seq (or made after it): the fast path's answer. Lock
 * held. */
static void note_fast(MfTree *t, uint64_t ino, uint64_t seq)
{
	uint64_t *k;

	if (g_hash_table_size(t->fast) >= MF_TREE_FAST_MAX)
		g_hash_table_remove_all(t->fast);
	k = g_new(uint64_t, 1);
	*k = ino;
	g_hash_table_replace(t->fast, k, (gpointer)(uintptr_t)seq);
}

/* The newest snapshot's number and time; false if there is none, or if
 * ino is known kept for it. Lock held. */
static bool newest(MfTree *t, uint64_t ino, uint64_t *seq,
		   struct timespec *taken)
{
	TreeSnap *s;

	if (!t->snaps->len)
		return false;
	s = t->snaps->pdata[t->snaps->len - 1];
	*seq = s->seq;
	*taken = s->taken;
	return (uint64_t)(uintptr_t)g_hash_table_lookup(t->fast, &ino) != s->seq;
}

/* Attach the state of b's file, if it has one, to b. */
static void attach(MfTree *t, uint64_t ino, MfBacking *b)
{
	MfState *st;

	if (mf_state_may_exist(t->sd, ino) &&
	    mf_state_get(t->sd, mf_backing_fd(b), false, &st) == 0) {
		mf_state_attach(st, b);
		mf_state_unref(st);
	}
}

/* Keep fd's version for snapshot seq (taken then). keep_lock held. */
static int keep_locked(MfTree *t, int fd, uint64_t seq,
		       const struct timespec *taken, MfBacking *b,
		       const struct statx *sx)
{
	g_autofree char *key = NULL;
	TreeSnap *s;
	uint64_t vs;
	int r;

	/* No name, nor a link of ours (trees/kept): removed before the
	 * snapshot was taken, and open still. No snapshot sees it. */
	if (sx->stx_nlink == 0)
		return 0;
	/* Made after the snapshot: no snapshot sees it. The kernel stamps
	 * birth with a clock that lags ours, never one ahead of it. */
	if ((sx->stx_mask & STATX_BTIME) &&
	    (sx->stx_btime.tv_sec > taken->tv_sec ||
	     (sx->stx_btime.tv_sec == taken->tv_sec &&
	      (long)sx->stx_btime.tv_nsec >= taken->tv_nsec)))
		return 0;
	r = mf_tree_key_at(fd, "", &key);
	if (r < 0)
		return r;
	/* A version at or after seq holds the object as seq saw it: a
	 * later snapshot, since deleted, kept it before any change. */
	g_mutex_lock(&t->lock);
	r = mf_tree_version_find(t, key, seq, &vs);
	g_mutex_unlock(&t->lock);
	if (r < 0)
		return r;
	if (vs) {     /* before a reopen: b may have no hooks yet */
		if (b && !mf_backing_has_hooks(b))
			attach(t, sx->stx_ino, b);
		return 0;
	}
	/* The bytes first: a version on disk says all of it is kept. */
	if (S_ISREG(sx->stx_mode)) {
		MfState *st;

		r = mf_state_get(t->sd, fd, true, &st);
		if (r == 0) {
			r = mf_state_tree_keep(st, b, seq, sx->stx_size);
			mf_state_unref(st);
		}
		if (r < 0)
			return r;
	}
	r = write_version(t, key, seq, fd, sx);
	if (r < 0)
		return r;
	g_mutex_lock(&t->lock);
	mf_tree_add_version(t, key, seq, dt_of(sx->stx_mode));
	s = mf_tree_snap_by_seq(t, seq);
	if (s)
		s->versions++;
	g_mutex_unlock(&t->lock);
	return 0;
}

int mf_tree_keep(MfTree *t, uint64_t ino, int fd, MfBacking *b)
{
	struct timespec taken;
	struct statx sx;
	uint64_t seq;
	bool todo;
	int r;

	if (!t || !__atomic_load_n(&t->active, __ATOMIC_RELAXED))
		return 0;
	g_mutex_lock(&t->lock);
	todo = newest(t, ino, &seq, &taken);
	g_mutex_unlock(&t->lock);
	if (!todo) {
		/* Kept already, maybe without b (a chmod, say, before b was
		 * opened): b's changes must go through the chain all the
		 * same. */
		if (b && !mf_backing_has_hooks(b))
			attach(t, ino, b);
		return 0;
	}
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
		  STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
		return -errno;
	g_mutex_lock(&t->keep_lock);
	/* Again: a delete may have come between (it holds keep_lock). */
	g_mutex_lock(&t->lock);
	todo = newest(t, ino, &seq, &taken);
	g_mutex_unlock(&t->lock);
	r = todo ? keep_locked(t, fd, seq, &taken, b, &sx) : 0;
	g_mutex_unlock(&t->keep_lock);
	if (r == 0 && todo) {
		g_mutex_lock(&t->lock);
		note_fast(t, ino, seq);
		g_mutex_unlock(&t->lock);
	} else if (r < 0) {
		g_log("mapfs", G_LOG_LEVEL_WARNING,
		      "tree snapshot: cannot keep inode %" PRIu64 ": %s",
		      ino, g_strerror(-r));
	}
	return r;
}

int mf_tree_keep_removed(MfTree *t, int dirfd, const char *name)
{
	g_autofree char *key = NULL;
	struct stat sb;
	uint64_t vs;
	bool kept;
	int fd, r;

	if (!t || !__atomic_load_n(&t->active, __ATOMIC_RELAXED))
		return 0;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &sb) < 0 ? -errno : 0;
	if (r == 0)
		r = mf_tree_keep(t, (uint64_t)sb.st_ino, fd, NULL);
	if (r < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink > 1)
		goto out;
	/* Its last link: a version of it needs its bytes. */
	r = mf_tree_key_at(fd, "", &key);
	if (r < 0)
		goto out;
	g_mutex_lock(&t->lock);
	/* Versions that cannot be read: linked all the same (a link too
	 * many is swept at the next start). */
	kept = mf_tree_version_find(t, key, 0, &vs) < 0 || vs;
	g_mutex_unlock(&t->lock);
	if (kept && linkat(dirfd, name, t->kept_fd, key, 0) < 0 &&
	    errno != EEXIST) {
		r = -errno;
		/* The state directory on another filesystem (-o statedir=):
		 * the removal goes on, and the snapshots that see the file
		 * say EIO reading its bytes, never wrong ones. */
		if (r == -EXDEV) {
			g_log("mapfs", G_LOG_LEVEL_WARNING,
			      "tree snapshots lose the bytes of removed file "
			      "%s: the state directory is on another "
			      "filesystem", name);
			r = 0;
		}
	}
	if (r == 0 && kept && t->sync)
		fsync(t->kept_fd);
out:
	close(fd);
	return r;
}

unsigned mf_tree_links(MfTree *t, int fd)
{
	g_autofree char *key = NULL;

	if (!t || mf_tree_key_at(fd, "", &key) < 0)
		return 0;
	return faccessat(t->kept_fd, key, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ------------------------------------------------------------------ */
/* Deleting a snapshot                                                 */

/* Is the version at index i of seqs read by one of live (sorted)? The
 * oldest version at or after a snapshot is the one it reads. */
static bool version_read(GArray *seqs, guint i, const uint64_t *live,
			 size_t n)
{
	uint64_t hi = g_array_index(seqs, uint64_t, i);
	uint64_t lo = i ? g_array_index(seqs, uint64_t, i - 1) : 0;

	for (size_t k = 0; k < n; k++)
		if (live[k] > lo && live[k] <= hi)
			return true;
	return false;
}

/* Drop the versions of key (v, read from disk) that no snapshot in live
 * reads. Returns true if it has none left. keep_lock held. */
static bool drop_versions(MfTree *t, const char *key, Versions *v,
			  const uint64_t *live, size_t n)
{
	int dfd = openat(t->objs_fd, key, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char name[32];

	for (guint i = v->seqs->len; i-- > 0;) {
		/* Dropping one no snapshot reads changes what no other one
		 * reads: any order will do. */
		if (version_read(v->seqs, i, live, n))
			continue;
		snprintf(name, sizeof(name), "%" PRIu64,
			 g_array_index(v->seqs, uint64_t, i));
		if (dfd >= 0)
			unlinkat(dfd, name, 0);
		g_mutex_lock(&t->lock);
		mf_tree_drop_version(t, key, g_array_index(v->seqs, uint64_t,
							   i));
		g_mutex_unlock(&t->lock);
		g_array_remove_index(v->seqs, i);
	}
	if (dfd >= 0)
		close(dfd);
	if (v->seqs->len)
		return false;
	unlinkat(t->objs_fd, key, AT_REMOVEDIR);
	return true;
}

/* The type of key's object (versions seqs), from the cache, else from
 * one of its versions. */
static unsigned char version_type(MfTree *t, const char *key, GArray *seqs)
{
	g_autoptr(GKeyFile) kf = NULL;
	unsigned char type = 0;
	Versions *v;

	g_mutex_lock(&t->lock);
	v = mf_tree_versions_peek(t, key);
	if (v)
		type = v->type;
	g_mutex_unlock(&t->lock);
	if (type || !seqs->len)
		return type;
	kf = mf_tree_version_load(t, key, g_array_index(seqs, uint64_t, 0));
	if (kf)
		type = (unsigned char)g_key_file_get_integer(kf, "attr", "type",
							     NULL);
	return type;
}

/* Walk the versions on disk, one object at a time (its cost is what is
 * kept, not the tree; its memory, one object's). */
static void gc(MfTree *t, const uint64_t *live, size_t n)
{
	DIR *d = mf_tree_objs_open(t);
	struct dirent *de;

	if (!d)
		return;
	/* Removing the entries already read does not make readdir skip
	 * others. */
	while ((de = readdir(d))) {
		const char *key = de->d_name;
		Versions vv = { .seqs = NULL }, *v = &vv;
		int fd = -1;
		MfState *st = NULL;
		struct stat sb;
		bool none;

		if (key[0] == '.')
			continue;
		vv.seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
		if (mf_tree_versions_read(t, key, vv.seqs) < 0 ||
		    !vv.seqs->len) {
			g_array_free(vv.seqs, TRUE);
			continue;
		}
		if (version_type(t, key, vv.seqs) == DT_REG)
			fd = mf_tree_open_key(t, key, O_PATH);

		/* The file's hidden entries first, by the same rule as its
		 * versions: a crash between leaves versions that no snapshot
		 * reads (the next delete drops them), never a version
		 * without its bytes. */
		if (fd >= 0 && mf_state_get(t->sd, fd, false, &st) == 0)
			mf_state_tree_gc(st, live, n);
		none = drop_versions(t, key, v, live, n);
		if (none)
			unlinkat(t->kept_fd, key, 0);
		/* Gone with its kept link: nobody reaches its state again. */
		if (st && none && fstat(fd, &sb) == 0 && sb.st_nlink == 0 &&
		    mf_state_empty(st))
			mf_state_purge(st);
		mf_state_unref(st);
		if (fd >= 0)
			close(fd);
		g_array_free(vv.seqs, TRUE);
	}
	closedir(d);
}

int mf_tree_snap_delete(MfTree *t, const char *name)
{
	g_autofree uint64_t *live = NULL;
	TreeSnap *s;
	size_t n = 0;
	int r = 0;

	if (!t)
		return -EOPNOTSUPP;
	if (mf_tree_in_change()) {
		g_log("mapfs", G_LOG_LEVEL_WARNING, "tree snapshot \"%s\" "
		      "not deleted from inside a change", name);
		return -EDEADLK;
	}
	/* As a take: whether changes take the lock may change, and must
	 * not while a take waits for them. */
	mf_tree_snap_lock(t);
	g_mutex_lock(&t->lock);
	s = mf_tree_snap_by_name(t, name);
	if (!s)
		r = -ENOENT;
	else if (unlinkat(t->snaps_fd, name, 0) < 0)
		r = -errno;
	if (r == 0) {
		if (t->sync)
			fsync(t->snaps_fd);
		g_ptr_array_remove(t->snaps, s);
		/* Kept for a snapshot that may be gone: ask again. */
		g_hash_table_remove_all(t->fast);
	}
	g_mutex_unlock(&t->lock);
	mf_tree_snap_unlock(t);
	if (r < 0)
		return r;
	/* No version is written meanwhile: the walk sees them all, and
	 * the snapshots there are now (one taken since included). */
	g_mutex_lock(&t->keep_lock);
	g_mutex_lock(&t->lock);
	live = g_new(uint64_t, t->snaps->len + 1);
	for (guint i = 0; i < t->snaps->len; i++)
		live[n++] = ((TreeSnap *)t->snaps->pdata[i])->seq;
	g_mutex_unlock(&t->lock);
	gc(t, live, n);
	g_mutex_unlock(&t->keep_lock);
	return 0;
}
