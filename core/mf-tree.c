/* mf-tree: whole-tree snapshots, and keeping what the changes after them
 * change. See mf-tree.h and mf-tree-impl.h. */
#include "mf-tree-impl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char NEW_PREFIX[] = ".new-";

/* ------------------------------------------------------------------ */
/* Keys and small files                                                */

int mf_tree_key_at(int dirfd, const char *name, char **key)
{
	union {
		struct file_handle h;
		char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	GString *s;
	int mnt;

	u.h.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dirfd, name, &u.h, &mnt,
			      name[0] ? 0 : AT_EMPTY_PATH) < 0)
		return -errno;
	s = g_string_sized_new(8 + 2 * u.h.handle_bytes);
	g_string_append_printf(s, "%08x", (unsigned)u.h.handle_type);
	for (unsigned i = 0; i < u.h.handle_bytes; i++)
		g_string_append_printf(s, "%02x", u.h.f_handle[i]);
	*key = g_string_free(s, FALSE);
	return 0;
}

int mf_tree_open_key(MfTree *t, const char *key, int flags)
{
	union {
		struct file_handle h;
		char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	size_t n = strlen(key);
	char hex[9] = { 0 };
	int fd;

	if (n < 8 || n % 2 || (n - 8) / 2 > MAX_HANDLE_SZ)
		return -EINVAL;
	memcpy(hex, key, 8);
	u.h.handle_type = (int)strtoul(hex, NULL, 16);
	u.h.handle_bytes = (unsigned)(n - 8) / 2;
	for (unsigned i = 0; i < u.h.handle_bytes; i++) {
		char b[3] = { key[8 + 2 * i], key[9 + 2 * i], 0 };

		u.h.f_handle[i] = (unsigned char)strtoul(b, NULL, 16);
	}
	fd = open_by_handle_at(t->mount_fd, &u.h, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Write kf as name in dirfd: under a ".new-" name, then renamed (with
 * noreplace: never over another), fsync'd with sync. */
static int write_keyfile(MfTree *t, int dirfd, const char *name, GKeyFile *kf,
			 bool noreplace)
{
	g_autofree char *tmp = g_strdup_printf(
		"%s%" PRIu64, NEW_PREFIX,
		__atomic_fetch_add(&t->next_tmp, 1, __ATOMIC_RELAXED));
	gsize len;
	g_autofree char *data = g_key_file_to_data(kf, &len, NULL);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len || (t->sync && fsync(fd) < 0))
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && renameat2(dirfd, tmp, dirfd, name,
				noreplace ? RENAME_NOREPLACE : 0) < 0)
		r = -errno;
	if (r == 0 && t->sync && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

static GKeyFile *read_keyfile(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	GKeyFile *kf = NULL;
	struct stat sb;
	char *buf;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && sb.st_size < (1 << 30)) {
		buf = g_malloc((size_t)sb.st_size + 1);
		if (pread(fd, buf, (size_t)sb.st_size, 0) == sb.st_size) {
			kf = g_key_file_new();
			if (!g_key_file_load_from_data(kf, buf,
						       (gsize)sb.st_size,
						       G_KEY_FILE_NONE, NULL)) {
				g_key_file_free(kf);
				kf = NULL;
				errno = EIO;
			}
		}
		g_free(buf);
	}
	close(fd);
	return kf;
}

GKeyFile *mf_tree_version_load(MfTree *t, const char *key, uint64_t seq)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%" PRIu64, key, seq);
	return read_keyfile(t->objs_fd, path);
}

static int open_subdir(int dirfd, const char *name)
{
	int fd;

	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */

static void snap_free(TreeSnap *s)
{
	g_free(s->name);
	g_free(s);
}

TreeSnap *mf_tree_snap_by_seq(MfTree *t, uint64_t seq)
{
	for (guint i = 0; i < t->snaps->len; i++)
		if (((TreeSnap *)t->snaps->pdata[i])->seq == seq)
			return t->snaps->pdata[i];
	return NULL;
}

TreeSnap *mf_tree_snap_by_name(MfTree *t, const char *name)
{
	for (guint i = 0; i < t->snaps->len; i++)
		if (strcmp(((TreeSnap *)t->snaps->pdata[i])->name, name) == 0)
			return t->snaps->pdata[i];
	return NULL;
}

static gint snap_by_seq(gconstpointer a, gconstpointer b)
{
	const TreeSnap *x = *(TreeSnap *const *)a, *y = *(TreeSnap *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Remove what a crash left half made (".new-" names) in dirfd. */
static bool is_tmp(int dirfd, const char *name)
{
	if (!g_str_has_prefix(name, NEW_PREFIX))
		return false;
	unlinkat(dirfd, name, 0);
	return true;
}

static int load_snaps(MfTree *t)
{
	DIR *d = fdopendir(dup(t->snaps_fd));
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		g_autoptr(GKeyFile) kf = NULL;
		TreeSnap *s;

		if (de->d_name[0] == '.') {
			is_tmp(t->snaps_fd, de->d_name);
			continue;
		}
		kf = read_keyfile(t->snaps_fd, de->d_name);
		if (!kf) {
			g_log("mapfs", G_LOG_LEVEL_WARNING,
			      "tree snapshot %s unreadable: left alone",
			      de->d_name);
			continue;
		}
		s = g_new0(TreeSnap, 1);
		s->name = g_strdup(de->d_name);
		s->seq = (uint64_t)g_key_file_get_uint64(kf, "snap", "seq", NULL);
		s->taken.tv_sec = (time_t)g_key_file_get_int64(kf, "snap", "taken_sec", NULL);
		s->taken.tv_nsec = (long)g_key_file_get_int64(kf, "snap", "taken_nsec", NULL);
		mf_statedir_seen_seq(t->sd, s->seq);
		g_ptr_array_add(t->snaps, s);
	}
	closedir(d);
	g_ptr_array_sort(t->snaps, snap_by_seq);
	return 0;
}

/* Walk objs/KEY/SEQ: each snapshot's count of versions, the sequence
 * numbers used, and what a crash left half made. Costs the versions
 * kept, not the tree, in time; in memory nothing: versions are looked
 * up on disk when asked (mf-tree-versions.c). */
static int load_objs(MfTree *t)
{
	DIR *d = mf_tree_objs_open(t);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct dirent *ve;
		DIR *vd;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(t->objs_fd, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		vd = fd >= 0 ? fdopendir(fd) : NULL;
		if (!vd) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		bool any = false;

		while ((ve = readdir(vd))) {
			if (ve->d_name[0] == '.') {
				is_tmp(dirfd(vd), ve->d_name);
				continue;
			}
			uint64_t seq = g_ascii_strtoull(ve->d_name, NULL, 10);
			TreeSnap *s = mf_tree_snap_by_seq(t, seq);

			any = true;
			mf_statedir_seen_seq(t->sd, seq);
			if (s)
				s->versions++;
		}
		closedir(vd);
		if (!any)
			unlinkat(t->objs_fd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	return 0;
}

/* kept/KEY links with no version left: a crash during a delete. */
static void sweep_kept(MfTree *t)
{
	DIR *d = fdopendir(dup(t->kept_fd));
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    faccessat(t->objs_fd, de->d_name, F_OK,
			      AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			unlinkat(t->kept_fd, de->d_name, 0);
		else if (de->d_name[0] == '.')
			is_tmp(t->kept_fd, de->d_name);
	closedir(d);
}

int mf_tree_open(int statedir_fd, int mount_fd, int root_fd, MfStateDir *sd,
		 MfWindowCache *cache, bool sync, dev_t state_dev,
		 ino_t state_ino, MfTree **ret)
{
	pthread_rwlockattr_t attr;
	g_autofree char *root_key = NULL;
	MfTree *t;
	int r = mf_tree_key_at(root_fd, "", &root_key);

	if (r < 0) {
		g_log("mapfs", G_LOG_LEVEL_WARNING,
		      "no tree snapshots: the backing filesystem gives no "
		      "file handles (%s)", g_strerror(-r));
		return -EOPNOTSUPP;
	}
	t = g_new0(MfTree, 1);
	t->trees_fd = t->snaps_fd = t->objs_fd = t->kept_fd = -1;
	t->mount_fd = mount_fd;
	t->root_fd = root_fd;
	t->sd = sd;
	t->cache = cache;
	t->sync = sync;
	t->state_dev = state_dev;
	t->state_ino = state_ino;
	t->root_key = g_steal_pointer(&root_key);
	t->root_path = mf_tree_path_of(root_fd);
	pthread_rwlockattr_init(&attr);
	/* Writers first: a stream of changes must not starve a taker. */
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->change, &attr);
	pthread_rwlockattr_destroy(&attr);
	g_mutex_init(&t->keep_lock);
	g_mutex_init(&t->lock);
	t->snaps = g_ptr_array_new_with_free_func((GDestroyNotify)snap_free);
	mf_tree_versions_init(t);
	t->fast = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
					NULL);
	r = t->trees_fd = open_subdir(statedir_fd, "trees");
	if (r >= 0)
		r = t->snaps_fd = open_subdir(t->trees_fd, "snaps");
	if (r >= 0)
		r = t->objs_fd = open_subdir(t->trees_fd, "objs");
	if (r >= 0)
		r = t->kept_fd = open_subdir(t->trees_fd, "kept");
	if (r >= 0)
		r = load_snaps(t);
	if (r >= 0)
		r = load_objs(t);
	if (r < 0) {
		mf_tree_free(t);
		return r;
	}
	/* Handles that cannot be opened (no CAP_DAC_READ_SEARCH) are no
	 * better than none. */
	r = mf_tree_open_key(t, t->root_key, O_PATH);
	if (r < 0) {
		g_log("mapfs", G_LOG_LEVEL_WARNING,
		      "no tree snapshots: file handles cannot be opened (%s)",
		      g_strerror(-r));
		mf_tree_free(t);
		return -EOPNOTSUPP;
	}
	close(r);
	sweep_kept(t);
	t->active = t->snaps->len > 0;
	*ret = t;
	return 0;
}

void mf_tree_free(MfTree *t)
{
	if (!t)
		return;
	g_hash_table_destroy(t->fast);
	mf_tree_versions_clear(t);
	g_ptr_array_free(t->snaps, TRUE);
	for (int *fd = &t->trees_fd; fd <= &t->kept_fd; fd++)
		if (*fd >= 0)
			close(*fd);
	pthread_rwlock_destroy(&t->change);
	g_mutex_clear(&t->keep_lock);
	g_mutex_clear(&t->lock);
	g_free(t->root_key);
	g_free(t->root_path);
	g_free(t);
}

/* ------------------------------------------------------------------ */
/* The change lock                                                     */

/* How this thread entered its change, and how deep it is in it: a
 * change made inside another (a commit's truncation, say) is part of it,
 * and must not take the lock twice (a waiting taker would deadlock us). */
enum { NOT_IN, LOCKED, UNLOCKED };
static __thread int in_change;
static __thread unsigned nested;

bool mf_tree_active(MfTree *t)
{
	return t && __atomic_load_n(&t->active, __ATOMIC_RELAXED);
}

void mf_tree_change_begin(MfTree *t)
{
	if (!t)
		return;
	if (in_change != NOT_IN) {
		nested++;
		return;
	}
	if (!__atomic_load_n(&t->active, __ATOMIC_SEQ_CST)) {
		/* Counted, then checked again: a taker that sets active
		 * meanwhile waits for us (mf_tree_snap_lock()), or we see it. */
		__atomic_add_fetch(&t->unlocked, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&t->active, __ATOMIC_SEQ_CST)) {
			in_change = UNLOCKED;
			return;
		}
		__atomic_sub_fetch(&t->unlocked, 1, __ATOMIC_SEQ_CST);
	}
	pthread_rwlock_rdlock(&t->change);
	in_change = LOCKED;
}

void mf_tree_change_end(MfTree *t)
{
	if (!t)
		return;
	if (nested) {
		nested--;
		return;
	}
	if (in_change == LOCKED)
		pthread_rwlock_unlock(&t->change);
	else if (in_change == UNLOCKED)
		__atomic_sub_fetch(&t->unlocked, 1, __ATOMIC_SEQ_CST);
	in_change = NOT_IN;
}

bool mf_tree_in_change(void)
{
	return in_change != NOT_IN;
}

void mf_tree_snap_lock(MfTree *t)
{
	__atomic_store_n(&t->active, 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_wrlock(&t->change);
	while (__atomic_load_n(&t->unlocked, __ATOMIC_SEQ_CST))
		g_usleep(20);
}

void mf_tree_snap_unlock(MfTree *t)
{
	g_mutex_lock(&t->lock);
	__atomic_store_n(&t->active, t->snaps->len > 0, __ATOMIC_SEQ_CST);
	g_mutex_unlock(&t->lock);
	pthread_rwlock_unlock(&t->change);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */

static int check_name(const char *name)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	return mf_state_check_name(name);
}

int mf_tree_snap_create(MfTree *t, const char *name)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	TreeSnap *s;
	int r = check_name(name);

	if (!t)
		return -EOPNOTSUPP;
	if (r == 0 && mf_tree_in_change())
		r = -EDEADLK;
	if (r < 0) {
		g_log("mapfs", G_LOG_LEVEL_INFO, "tree snapshot \"%s\": %s",
		      name, g_strerror(-r));
		return r;
	}
	mf_tree_snap_lock(t);
	g_mutex_lock(&t->lock);
	r = mf_tree_snap_by_name(t, name) ? -EEXIST : 0;
	g_mutex_unlock(&t->lock);
	if (r == 0) {
		s = g_new0(TreeSnap, 1);
		s->name = g_strdup(name);
		s->seq = mf_statedir_next_seq(t->sd);
		clock_gettime(CLOCK_REALTIME, &s->taken);
		g_key_file_set_uint64(kf, "snap", "seq", s->seq);
		g_key_file_set_int64(kf, "snap", "taken_sec", s->taken.tv_sec);
		g_key_file_set_int64(kf, "snap", "taken_nsec", s->taken.tv_nsec);
		r = write_keyfile(t, t->snaps_fd, name, kf, true);
		g_mutex_lock(&t->lock);
		if (r == 0)
			g_ptr_array_add(t->snaps, s);
		else
			snap_free(s);
		g_mutex_unlock(&t->lock);
	}
	mf_tree_snap_unlock(t);
	return r;
}

int mf_tree_snap_rename(MfTree *t, const char *from, const char *to)
{
	TreeSnap *s;
	int r = check_name(to);

	if (!t)
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	g_mutex_lock(&t->keep_lock);
	g_mutex_lock(&t->lock);
	s = mf_tree_snap_by_name(t, from);
	if (!s)
		r = -ENOENT;
	else if (mf_tree_snap_by_name(t, to))
		r = strcmp(from, to) == 0 ? 0 : -EEXIST;
	g_mutex_unlock(&t->lock);
	if (r == 0 && strcmp(from, to) != 0) {
		if (renameat2(t->snaps_fd, from, t->snaps_fd, to,
			      RENAME_NOREPLACE) < 0)
			r = -errno;
		else if (t->sync)
			fsync(t->snaps_fd);
		if (r == 0) {
			g_mutex_lock(&t->lock);
			g_free(s->name);
			s->name = g_strdup(to);
			g_mutex_unlock(&t->lock);
		}
	}
	g_mutex_unlock(&t->keep_lock);
	return r;
}

int mf_tree_snap_info(MfTree *t, const char *name, MfTreeSnapInfo *out)
{
	TreeSnap *s;

	if (!t)
		return -EOPNOTSUPP;
	g_mutex_lock(&t->lock);
	s = mf_tree_snap_by_name(t, name);
	if (s) {
		out->seq = s->seq;
		out->taken = s->taken;
		out->versions = s->versions;
	}
	g_mutex_unlock(&t->lock);
	return s ? 0 : -ENOENT;
}

char **mf_tree_snap_list(MfTree *t)
{
	GPtrArray *names = g_ptr_array_new();

	if (!t) {
		g_ptr_array_add(names, NULL);
		return (char **)g_ptr_array_free(names, FALSE);
	}
	g_mutex_lock(&t->lock);
	for (guint i = 0; i < t->snaps->len; i++)
		g_ptr_array_add(names,
				g_strdup(((TreeSnap *)t->snaps->pdata[i])->name));
	g_mutex_unlock(&t->lock);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}
