/* mf-state: snapshots and private views of one file. See mf-state.h. */
#include "mf-state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-store.h"

#include "mf-state-impl.h"

static const char NEW_PREFIX[] = ".new-";
static const char DELETED_PREFIX[] = ".deleted-";

/* ------------------------------------------------------------------ */
/* Small files                                                         */

static int write_keyfile(int dirfd, const char *name, GKeyFile *kf, bool sync)
{
	g_autofree char *tmp = g_strconcat(NEW_PREFIX, name, NULL);
	gsize len;
	g_autofree char *data = g_key_file_to_data(kf, &len, NULL);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len || (sync && fsync(fd) < 0))
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

static GKeyFile *read_keyfile(int dirfd, const char *name)
{
	GKeyFile *kf = g_key_file_new();
	char buf[4096];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0 || !g_key_file_load_from_data(kf, buf, (gsize)n,
						G_KEY_FILE_NONE, NULL)) {
		g_key_file_free(kf);
		return NULL;
	}
	return kf;
}

/* Remove directory name in dirfd with the files a store or entry holds. */
static int remove_entry_dir(int dirfd, const char *name)
{
	static const char *const files[] = { "pages", "map", "meta" };
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
		unlinkat(fd, files[i], 0);
	close(fd);
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Remove entry name whole or not at all: first out of sight (a dot name,
 * which loading sweeps), then its files. */
int mf_entry_discard(MfState *st, int kind_fd, const char *name)
{
	g_autofree char *gone = g_strdup_printf(".gone-%" PRIu64,
						st->next_tmp++);

	if (renameat(kind_fd, name, kind_fd, gone) < 0)
		return -errno;
	if (st->sd->sync)
		fsync(kind_fd);
	remove_entry_dir(kind_fd, gone);
	return 0;
}

static int open_subdir(int dirfd, const char *name, bool create)
{
	if (create && mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */

void mf_entry_free(Entry *e)
{
	mf_store_close(e->store);
	g_free(e->name);
	g_free(e);
}

/* The snapshot named name (NULL: with identity id); a deleted one only
 * by identity. Lock held. */
static Entry *find_snap_by(MfState *st, const char *name, uint64_t id,
			   guint *index)
{
	for (guint i = 0; i < st->snaps->len; i++) {
		Entry *e = st->snaps->pdata[i];

		if (name ? !e->deleted && !e->tree &&
				   strcmp(e->name, name) == 0
			 : e->id == id) {
			if (index)
				*index = i;
			return e;
		}
	}
	return NULL;
}

Entry *mf_snap_find(MfState *st, const char *name, guint *index)
{
	return find_snap_by(st, name, 0, index);
}

Entry *mf_cow_find(MfState *st, const char *name, uint64_t id)
{
	GHashTableIter it;
	Entry *e;

	if (name)       /* deleted ones have dot names, which none is given */
		return name[0] == '.' ? NULL
				      : g_hash_table_lookup(st->cows, name);
	g_hash_table_iter_init(&it, st->cows);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&e))
		if (e->id == id)
			return e;
	return NULL;
}

/* A fresh identity: from a clock in nanoseconds at the mount's start,
 * counted up, and above every identity loaded: never one an entry of an
 * earlier mount had, while clocks go forward. */
static uint64_t new_id(MfStateDir *sd)
{
	return __atomic_fetch_add(&sd->next_id, 1, __ATOMIC_RELAXED);
}

uint64_t mf_statedir_next_seq(MfStateDir *sd)
{
	return new_id(sd);
}

static void seen_id(MfStateDir *sd, uint64_t id)
{
	uint64_t now = __atomic_load_n(&sd->next_id, __ATOMIC_RELAXED);

	while (now <= id &&
	       !__atomic_compare_exchange_n(&sd->next_id, &now, id + 1, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

int mf_entry_hide(MfState *st, int kind_fd, Entry *e)
{
	char *hidden = g_strdup_printf("%s%" PRIu64, DELETED_PREFIX, e->id);

	if (renameat(kind_fd, e->name, kind_fd, hidden) < 0) {
		int r = -errno;

		g_free(hidden);
		return r;
	}
	if (st->sd->sync)
		fsync(kind_fd);
	g_free(e->name);
	e->name = hidden;
	e->deleted = true;
	return 0;
}

static gint by_seq(gconstpointer a, gconstpointer b)
{
	const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void mf_statedir_seen_seq(MfStateDir *sd, uint64_t seq)
{
	seen_id(sd, seq);
}

/* Load the entries of one kind (snap/, cow/ or tree/); drop half-made
 * ones. */
int mf_load_entries(MfState *st, int kind_fd, bool snaps, bool tree)
{
	DIR *d = fdopendir(dup(kind_fd));
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		g_autoptr(GKeyFile) kf = NULL;
		Entry *e;
		int fd;

		if (de->d_name[0] == '.' &&
		    !g_str_has_prefix(de->d_name, DELETED_PREFIX)) {
			/* ".new-N", ".gone-N": half made or half gone. */
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				remove_entry_dir(kind_fd, de->d_name);
			continue;
		}
		fd = openat(kind_fd, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		e = g_new0(Entry, 1);
		e->name = g_strdup(de->d_name);
		e->tree = tree;
		/* Deleted while open when the daemon stopped: removed below. */
		e->deleted = de->d_name[0] == '.';
		kf = read_keyfile(fd, "meta");
		if (kf) {
			e->id = (uint64_t)g_key_file_get_uint64(kf, "entry", "id", NULL);
			if (e->id == 0) {
				/* Made before entries had identities. */
				e->id = new_id(st->sd);
				g_key_file_set_uint64(kf, "entry", "id", e->id);
				write_keyfile(fd, "meta", kf, st->sd->sync);
			}
			seen_id(st->sd, e->id);
			e->seq = (uint64_t)g_key_file_get_uint64(kf, "entry", "seq", NULL);
			/* Tree snapshots draw from the same counter. */
			seen_id(st->sd, e->seq);
			e->size = (uint64_t)g_key_file_get_uint64(kf, "entry", "size", NULL);
			e->taken.tv_sec = (time_t)g_key_file_get_int64(kf, "entry", "taken_sec", NULL);
			e->taken.tv_nsec = (long)g_key_file_get_int64(kf, "entry", "taken_nsec", NULL);
		}
		if (!kf)        /* a private view made before they had meta */
			e->id = new_id(st->sd);
		r = kf || !snaps ? mf_store_open(fd, false, &e->store) : -EIO;
		close(fd);
		if (r < 0) {
			/* Keep the others; but a chain with a hole in it cannot
			 * vouch for the snapshots before the hole. */
			g_log("mapfs", G_LOG_LEVEL_WARNING,
			      "inode %" PRIu64 ": %s %s unreadable: %s",
			      st->ino, snaps ? "snapshot" : "private view",
			      e->name, g_strerror(-r));
			if (snaps)
				st->damaged = true;
			g_free(e->name);
			g_free(e);
			r = 0;
			continue;
		}
		if (snaps) {
			g_ptr_array_add(st->snaps, e);
			st->next_seq = MAX(st->next_seq, e->seq + 1);
		} else {
			g_hash_table_insert(st->cows, e->name, e);
		}
	}
	closedir(d);
	g_ptr_array_sort(st->snaps, by_seq);
	return r;
}

/* Make a new entry under kind_fd, whole or not at all. */
int mf_entry_make(MfState *st, int kind_fd, const char *name,
		      GKeyFile *meta, Entry **ret)
{
	/* Not derived from name: a name of NAME_MAX bytes must fit. */
	g_autofree char *tmp = g_strdup_printf("%s%" PRIu64, NEW_PREFIX,
					       st->next_tmp++);
	Entry *e = g_new0(Entry, 1);
	int fd, r;

	e->id = new_id(st->sd);
	g_key_file_set_uint64(meta, "entry", "id", e->id);
	remove_entry_dir(kind_fd, tmp);
	fd = open_subdir(kind_fd, tmp, true);
	if (fd < 0) {
		g_free(e);
		return fd;
	}
	r = write_keyfile(fd, "meta", meta, st->sd->sync);
	if (r == 0)
		r = mf_store_open(fd, true, &e->store);
	if (r == 0 && st->sd->sync)
		r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	if (r == 0 && renameat2(kind_fd, tmp, kind_fd, name, RENAME_NOREPLACE) < 0)
		r = -errno;
	if (r == 0 && st->sd->sync && fsync(kind_fd) < 0)
		r = -errno;
	if (r < 0) {
		mf_store_close(e->store);
		g_free(e);
		remove_entry_dir(kind_fd, tmp);
		return r;
	}
	e->name = g_strdup(name);
	*ret = e;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The state directory and file states                                 */

static int state_get_key(MfStateDir *sd, const char *key, bool create,
			 MfState **ret);
static void sweep_deleted(MfStateDir *sd);

/* files/name is, or may be, a state directory. sd->lock held, or sd not
 * yet shared. */
static void note_present(MfStateDir *sd, const char *name)
{
	g_hash_table_add(sd->present, g_strdup(name));
	g_hash_table_add(sd->present_ino,
			 GSIZE_TO_POINTER(g_ascii_strtoull(name, NULL, 10)));
}

int mf_statedir_open(int dirfd, bool sync, MfStateDir **ret)
{
	int fd = open_subdir(dirfd, "files", true);
	MfStateDir *sd;

	if (fd < 0)
		return fd;
	sd = g_new0(MfStateDir, 1);
	sd->files_fd = fd;
	sd->sync = sync;
	sd->next_id = (uint64_t)g_get_real_time() * 1000 + 1;
	g_mutex_init(&sd->lock);
	sd->by_ino = g_hash_table_new(g_str_hash, g_str_equal);
	sd->present = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					    NULL);
	sd->present_ino = g_hash_table_new(g_direct_hash, g_direct_equal);
	sweep_deleted(sd);
	*ret = sd;
	return 0;
}

/* Has kind (snap or cow) of the state directory name deleted entries
 * that a stopped daemon left? */
static bool has_deleted(int files_fd, const char *name, const char *kind)
{
	g_autofree char *path = g_build_filename(name, kind, NULL);
	int fd = openat(files_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	bool found = false;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (!found && (de = readdir(d)))
		found = g_str_has_prefix(de->d_name, DELETED_PREFIX);
	closedir(d);
	return found;
}

/* Finish the deletes a stopped daemon left (loading a state does), so
 * that nothing stays that no name reaches. */
static void sweep_deleted(MfStateDir *sd)
{
	DIR *d = fdopendir(dup(sd->files_fd));
	struct dirent *de;

	if (!d)
		return;
	errno = 0;
	while ((de = readdir(d))) {
		MfState *st;

		if (de->d_name[0] != '.')
			note_present(sd, de->d_name);
		if (de->d_name[0] != '.' &&
		    (has_deleted(sd->files_fd, de->d_name, "snap") ||
		     has_deleted(sd->files_fd, de->d_name, "cow")) &&
		    state_get_key(sd, de->d_name, false, &st) == 0)
			mf_state_unref(st);
		errno = 0;
	}
	/* Only a whole listing can say that a key has no directory. */
	sd->present_all = errno == 0;
	closedir(d);
}

void mf_statedir_free(MfStateDir *sd)
{
	if (!sd)
		return;
	g_hash_table_destroy(sd->by_ino);
	g_hash_table_destroy(sd->present);
	g_hash_table_destroy(sd->present_ino);
	close(sd->files_fd);
	g_mutex_clear(&sd->lock);
	g_free(sd);
}

static void state_free(MfState *st)
{
	g_ptr_array_free(st->snaps, TRUE);
	g_hash_table_destroy(st->cows);
	if (st->snap_fd >= 0)
		close(st->snap_fd);
	if (st->cow_fd >= 0)
		close(st->cow_fd);
	if (st->tree_fd >= 0)
		close(st->tree_fd);
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	g_mutex_clear(&st->lock);
	g_free(st->key);
	g_free(st);
}

/* Entries deleted while open when the daemon last stopped: their
 * descriptors are gone, so are they now (a snapshot handing its pages to
 * the older ones first, as any delete). */
static void finish_deletes(MfState *st)
{
	GHashTableIter it;
	Entry *e;

	for (guint i = st->snaps->len; i-- > 0;)
		if (((Entry *)st->snaps->pdata[i])->deleted)
			mf_snap_remove_locked(st, i);
	g_hash_table_iter_init(&it, st->cows);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&e))
		if (e->deleted) {
			mf_entry_discard(st, st->cow_fd, e->name);
			g_hash_table_iter_remove(&it);
		}
}

static int state_load(MfStateDir *sd, const char *name, bool create,
		      MfState **ret)
{
	MfState *st;
	int r;

	st = g_new0(MfState, 1);
	st->refs = 1;
	st->sd = sd;
	st->key = g_strdup(name);
	st->ino = g_ascii_strtoull(name, NULL, 10);
	st->snaps = g_ptr_array_new_with_free_func((GDestroyNotify)mf_entry_free);
	st->cows = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					 (GDestroyNotify)mf_entry_free);
	st->next_seq = 1;
	g_mutex_init(&st->lock);
	st->snap_fd = st->cow_fd = st->tree_fd = -1;
	/* Most files have no state: no system call tells them so. */
	if (!create && sd->present_all &&
	    !g_hash_table_contains(sd->present, name))
		st->dir_fd = -ENOENT;
	else
		st->dir_fd = open_subdir(sd->files_fd, name, create);
	if (st->dir_fd >= 0)
		note_present(sd, name);
	r = st->dir_fd;
	if (r >= 0)
		r = st->snap_fd = open_subdir(st->dir_fd, "snap", true);
	if (r >= 0)
		r = st->cow_fd = open_subdir(st->dir_fd, "cow", true);
	if (r >= 0)
		r = mf_load_entries(st, st->snap_fd, true, false);
	if (r >= 0)
		r = mf_load_entries(st, st->cow_fd, false, false);
	/* Made by the first hidden entry only (mf-state-tree.c). */
	if (r >= 0)
		st->tree_fd = open_subdir(st->dir_fd, "tree", false);
	if (st->tree_fd >= 0)
		r = mf_load_entries(st, st->tree_fd, true, true);
	if (r >= 0)
		finish_deletes(st);
	if (r < 0) {
		state_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

/* The state kept under files/key. */
static int state_get_key(MfStateDir *sd, const char *key, bool create,
			 MfState **ret)
{
	MfState *st;
	int r = 0;

	g_mutex_lock(&sd->lock);
	st = g_hash_table_lookup(sd->by_ino, key);
	if (st) {
		mf_state_ref(st);
	} else {
		r = state_load(sd, key, create, &st);
		if (r == 0)
			g_hash_table_insert(sd->by_ino, st->key, st);
	}
	g_mutex_unlock(&sd->lock);
	if (r == 0)
		*ret = st;
	return r;
}

/* The name of a file's state under files/: its inode number, and its
 * birth time where the filesystem keeps one (ext4, XFS, btrfs, tmpfs...),
 * which no later file that gets the inode number shares. */
static int file_key(int fd, char key[64], char legacy[32])
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
		  STATX_INO | STATX_BTIME, &sx) < 0)
		return -errno;
	snprintf(legacy, 32, "%" PRIu64, (uint64_t)sx.stx_ino);
	if (sx.stx_mask & STATX_BTIME)
		snprintf(key, 64, "%" PRIu64 "-%" PRId64 ".%09" PRIu32,
			 (uint64_t)sx.stx_ino, (int64_t)sx.stx_btime.tv_sec,
			 sx.stx_btime.tv_nsec);
	else
		snprintf(key, 64, "%s", legacy);
	return 0;
}

/* A state directory made before keys had birth times (files/INO): the
 * file's, unless it is another's that had the inode number. Its record of a
 * clean release tells: a size or mtime other than the file's marks it
 * replaced (its snapshots and private views are then not served). Renamed to key, so
 * it is looked at once. sd->lock held. */
static void adopt_legacy(MfStateDir *sd, const char *key, const char *legacy,
			 int fd)
{
	g_autoptr(GKeyFile) kf = NULL;
	struct stat now;
	int dfd;

	if (strcmp(key, legacy) == 0 ||
	    (sd->present_all && !g_hash_table_contains(sd->present, legacy)) ||
	    faccessat(sd->files_fd, key, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    renameat(sd->files_fd, legacy, sd->files_fd, key) < 0)
		return;
	note_present(sd, key);
	g_log("mapfs", G_LOG_LEVEL_INFO, "state of inode %s now kept as %s",
	      legacy, key);
	dfd = open_subdir(sd->files_fd, key, false);
	if (dfd < 0)
		return;
	kf = read_keyfile(dfd, "meta");
	/* After a crash the record cannot tell (as for verify_locked()). */
	if (kf && g_key_file_get_boolean(kf, "file", "clean", NULL) &&
	    fstat(fd, &now) == 0 &&
	    (g_key_file_get_int64(kf, "file", "mtime_sec", NULL) !=
		     now.st_mtim.tv_sec ||
	     g_key_file_get_int64(kf, "file", "mtime_nsec", NULL) !=
		     now.st_mtim.tv_nsec ||
	     g_key_file_get_int64(kf, "file", "size", NULL) != now.st_size)) {
		g_log("mapfs", G_LOG_LEVEL_WARNING,
		      "inode %s: its snapshots and private views may be "
		      "another file's, which had the inode number: marked "
		      "damaged", legacy);
		g_key_file_set_boolean(kf, "file", "damaged", true);
		g_key_file_set_boolean(kf, "file", "replaced", true);
		write_keyfile(dfd, "meta", kf, sd->sync);
	}
	close(dfd);
}

int mf_state_get(MfStateDir *sd, int fd, bool create, MfState **ret)
{
	char key[64], legacy[32];
	int r = file_key(fd, key, legacy);

	if (r < 0)
		return r;
	g_mutex_lock(&sd->lock);
	if (!g_hash_table_contains(sd->by_ino, key))
		adopt_legacy(sd, key, legacy, fd);
	g_mutex_unlock(&sd->lock);
	return state_get_key(sd, key, create, ret);
}

bool mf_state_may_exist(MfStateDir *sd, uint64_t ino)
{
	bool may;

	g_mutex_lock(&sd->lock);
	may = !sd->present_all ||
	      g_hash_table_contains(sd->present_ino, GSIZE_TO_POINTER(ino));
	g_mutex_unlock(&sd->lock);
	return may;
}

int mf_state_get_ino(MfStateDir *sd, uint64_t ino, bool create,
		     MfState **ret)
{
	char key[32];

	snprintf(key, sizeof(key), "%" PRIu64, ino);
	return state_get_key(sd, key, create, ret);
}

MfState *mf_state_ref(MfState *st)
{
	g_atomic_int_inc(&st->refs);
	return st;
}

void mf_state_unref(MfState *st)
{
	MfStateDir *sd;

	if (!st)
		return;
	sd = st->sd;
	g_mutex_lock(&sd->lock);
	if (!g_atomic_int_dec_and_test(&st->refs)) {
		g_mutex_unlock(&sd->lock);
		return;
	}
	g_hash_table_remove(sd->by_ino, st->key);
	g_mutex_unlock(&sd->lock);
	state_free(st);
}

bool mf_state_damaged(MfState *st)
{
	bool d;

	g_mutex_lock(&st->lock);
	d = st->damaged;
	g_mutex_unlock(&st->lock);
	return d;
}

/* The file's record: its mtime and size when we last let go of it
 * cleanly. If they changed since, someone wrote it outside the mount. */
static void record_file(MfState *st, const struct stat *sb, bool clean)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();

	g_key_file_set_boolean(kf, "file", "clean", clean);
	g_key_file_set_boolean(kf, "file", "damaged", st->damaged);
	g_key_file_set_boolean(kf, "file", "replaced", st->replaced);
	g_key_file_set_int64(kf, "file", "mtime_sec", sb->st_mtim.tv_sec);
	g_key_file_set_int64(kf, "file", "mtime_nsec", sb->st_mtim.tv_nsec);
	g_key_file_set_int64(kf, "file", "size", sb->st_size);
	write_keyfile(st->dir_fd, "meta", kf, st->sd->sync);
}

static void seen(MfState *st, const struct stat *sb)
{
	st->seen_mtime = sb->st_mtim;
	st->seen_size = sb->st_size;
	st->seen_valid = true;
}

static void mark_damaged(MfState *st, const struct stat *sb)
{
	if (st->damaged)
		return;
	st->damaged = true;
	g_log("mapfs", G_LOG_LEVEL_WARNING,
	      "file with inode %" PRIu64 " was changed outside the mount: "
	      "its snapshots are damaged", st->ino);
	record_file(st, sb, false);
}

/* Locked. The first look after loading compares with what we recorded
 * when we last let go of the file cleanly; later ones with our last
 * change. */
static bool verify_locked(MfState *st, const struct stat *now)
{
	g_autoptr(GKeyFile) kf = NULL;

	if (!st->seen_valid) {
		kf = read_keyfile(st->dir_fd, "meta");
		if (kf && g_key_file_get_boolean(kf, "file", "damaged", NULL))
			st->damaged = true;
		if (kf && g_key_file_get_boolean(kf, "file", "replaced", NULL))
			st->replaced = st->damaged = true;
		/* Data changes move mtime or size; chmod, rename, xattrs and
		 * links move only ctime, and keep snapshots right. */
		if (kf && st->snaps->len &&
		    g_key_file_get_boolean(kf, "file", "clean", NULL) &&
		    (g_key_file_get_int64(kf, "file", "mtime_sec", NULL) !=
			     now->st_mtim.tv_sec ||
		     g_key_file_get_int64(kf, "file", "mtime_nsec", NULL) !=
			     now->st_mtim.tv_nsec ||
		     g_key_file_get_int64(kf, "file", "size", NULL) !=
			     now->st_size))
			mark_damaged(st, now);
		seen(st, now);
	} else if (st->busy == 0 && st->snaps->len &&
		   (now->st_size != st->seen_size ||
		    now->st_mtim.tv_sec != st->seen_mtime.tv_sec ||
		    now->st_mtim.tv_nsec != st->seen_mtime.tv_nsec)) {
		mark_damaged(st, now);
		seen(st, now);
	}
	return st->damaged;
}

bool mf_state_verify(MfState *st, int fd)
{
	struct stat now;
	bool d;

	g_mutex_lock(&st->lock);
	/* Under the lock, as everywhere seen is compared or set. */
	d = fstat(fd, &now) == 0 ? verify_locked(st, &now) : st->damaged;
	g_mutex_unlock(&st->lock);
	return d;
}

void mf_state_change_begin(MfState *st)
{
	g_mutex_lock(&st->lock);
	st->busy++;
	g_mutex_unlock(&st->lock);
}

void mf_state_change_end(MfState *st, int fd)
{
	struct stat now;

	g_mutex_lock(&st->lock);
	st->busy--;
	/* Under the lock: a stat taken before it could be older than what
	 * a write recorded meanwhile. */
	if (fstat(fd, &now) == 0)
		seen(st, &now);
	g_mutex_unlock(&st->lock);
}

void mf_state_changed(void *arg, MfBacking *b)
{
	MfState *st = arg;
	struct stat sb;

	g_mutex_lock(&st->lock);
	st->busy--;
	if (fstat(mf_backing_fd(b), &sb) == 0)
		seen(st, &sb);
	g_mutex_unlock(&st->lock);
}

static void detach(void *arg, MfBacking *b)
{
	MfState *st = arg;
	struct stat sb;

	g_mutex_lock(&st->lock);
	/* Clean only if no other backing of the file took over meanwhile. */
	if (st->attached == b) {
		if (fstat(mf_backing_fd(b), &sb) == 0)
			record_file(st, &sb, true);
		st->attached = NULL;
	}
	g_mutex_unlock(&st->lock);
	mf_state_unref(st);
}

static const MfChangeHooks hooks = {
	.before = mf_state_preserve,
	.after = mf_state_changed,
	.free = detach,
};

void mf_state_attach(MfState *st, MfBacking *b)
{
	struct stat sb;

	if (!mf_backing_set_hooks(b, &hooks, mf_state_ref(st))) {
		mf_state_unref(st);
		return;
	}
	g_mutex_lock(&st->lock);
	st->attached = b;
	if (fstat(mf_backing_fd(b), &sb) == 0) {
		/* Until now b changed the file unwatched: those changes were
		 * the mount's own. Only a first look compares with the
		 * record of a clean release. */
		if (st->seen_valid)
			seen(st, &sb);
		else
			verify_locked(st, &sb);
		/* Not clean until we let go: after a crash we cannot tell our
		 * own last writes from someone else's. */
		record_file(st, &sb, false);
	}
	g_mutex_unlock(&st->lock);
}

bool mf_state_empty(MfState *st)
{
	bool empty;

	g_mutex_lock(&st->lock);
	empty = !st->snaps->len && !g_hash_table_size(st->cows);
	g_mutex_unlock(&st->lock);
	return empty;
}

bool mf_state_has_named(MfState *st)
{
	bool any = false;

	g_mutex_lock(&st->lock);
	for (guint i = 0; !any && i < st->snaps->len; i++)
		any = !((Entry *)st->snaps->pdata[i])->tree;
	any = any || g_hash_table_size(st->cows);
	g_mutex_unlock(&st->lock);
	return any;
}

int mf_state_purge(MfState *st)
{
	int r = 0;

	g_mutex_lock(&st->lock);
	if (st->snaps->len || g_hash_table_size(st->cows)) {
		r = -ENOTEMPTY;
	} else {
		unlinkat(st->dir_fd, "meta", 0);
		unlinkat(st->dir_fd, "snap", AT_REMOVEDIR);
		unlinkat(st->dir_fd, "cow", AT_REMOVEDIR);
		unlinkat(st->dir_fd, "tree", AT_REMOVEDIR);
		if (unlinkat(st->sd->files_fd, st->key, AT_REMOVEDIR) < 0)
			r = -errno;
	}
	g_mutex_unlock(&st->lock);
	return r;
}

int mf_state_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX || name[0] == '.' || strchr(name, '/') ||
	    strchr(name, ':'))
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Copy-before-write                                                   */

/* The newest snapshot that can see page p, or NULL. Lock held. */
static Entry *newest_seeing(MfState *st, uint64_t p)
{
	for (guint i = st->snaps->len; i-- > 0;) {
		Entry *e = st->snaps->pdata[i];

		if (p * MF_PAGE < e->size)
			return e;
	}
	return NULL;
}

/* Keep page p, as the file has it now, for the snapshots that see it:
 * in the newest of them, unless it holds p already. Newer snapshots
 * cannot see p, nor hold it, so the chain stays whole. Lock held. */
static int preserve_page(MfState *st, MfBacking *b, const struct stat *sb,
			 uint64_t p, char *buf)
{
	Entry *e = newest_seeing(st, p);
	bool hole;
	size_t len;
	int r;

	if (!e)
		return 0;
	r = mf_store_has(e->store, p);
	if (r != 0)
		return r < 0 ? r : 0;
	r = mf_backing_page_extent(b, sb, p, &len);
	if (r == 0 && len == 0)
		return mf_store_put(e->store, p, NULL, st->sd->sync);
	if (r == 0 && len == MF_PAGE)
		return mf_store_copy(e->store, p, mf_backing_fd(b),
				     st->sd->sync);
	r = mf_backing_page_at(b, sb, p, buf, &hole);
	return r < 0 ? r : mf_store_put(e->store, p, hole ? NULL : buf,
					 st->sd->sync);
}

/* The largest size any snapshot was taken at. Lock held. */
static uint64_t widest(MfState *st)
{
	uint64_t w = 0;

	for (guint i = 0; i < st->snaps->len; i++)
		w = MAX(w, ((Entry *)st->snaps->pdata[i])->size);
	return w;
}

/* The change hook: before [off, off+len) of the file changes, keep the
 * old pages snapshots can see and do not hold yet. len UINT64_MAX: the
 * bytes from off on go away (truncation); holes among them need no copy:
 * they read as zeros before and after, and should one get data later,
 * that write keeps its zeros for the snapshots that see it. So only data
 * is walked, and a sparse terabyte truncates as fast as its data. */
int mf_state_preserve(void *arg, MfBacking *b, uint64_t off, uint64_t len)
{
	MfState *st = arg;
	bool shrink = len == UINT64_MAX;
	uint64_t end = shrink || off + len < off ? UINT64_MAX : off + len;
	g_autofree char *page = g_malloc(MF_PAGE);
	struct stat sb;
	int r = 0;

	g_mutex_lock(&st->lock);
	if (!st->snaps->len || len == 0)
		goto out;
	/* One look serves the check and every page's copy: no write through
	 * the mount reaches a page before its own call here has kept it,
	 * and calls wait for each other on st->lock; a change behind the
	 * mount shows as a short copy (-EIO). */
	if (fstat(mf_backing_fd(b), &sb) < 0) {
		r = -errno;
		goto out;
	}
	/* Was it changed behind our back since our last change? */
	if (st->busy == 0 && st->seen_valid)
		verify_locked(st, &sb);
	end = MIN(end, widest(st));
	for (uint64_t pos = off / MF_PAGE * MF_PAGE; pos < end && r == 0;) {
		uint64_t stop = end;

		if (shrink) {   /* the next run of data: [pos, stop) */
			off_t d = lseek(mf_backing_fd(b), (off_t)pos, SEEK_DATA);
			off_t h = d >= 0 ? lseek(mf_backing_fd(b), d, SEEK_HOLE)
					 : -1;

			if (d < 0 && errno == ENXIO)
				break;
			if (d >= 0)
				pos = (uint64_t)d / MF_PAGE * MF_PAGE;
			if (h >= 0)
				stop = MIN(end, (uint64_t)h);
		}
		for (; pos < stop && r == 0; pos += MF_PAGE)
			r = preserve_page(st, b, &sb, pos / MF_PAGE, page);
	}
out:
	if (r == 0)
		st->busy++;     /* until mf_state_changed() */
	g_mutex_unlock(&st->lock);
	return r;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */

int mf_state_snap_create(MfState *st, MfBacking *b, const char *name)
{
	g_autoptr(GKeyFile) meta = g_key_file_new();
	struct timespec now;
	uint64_t size;
	Entry *e;
	int r = mf_state_check_name(name);

	if (r < 0)
		return r;
	mf_state_attach(st, b);
	/* Exclusive: no write is half done while the size is taken. */
	mf_backing_lock_exclusive(b);
	g_mutex_lock(&st->lock);
	r = mf_snap_find(st, name, NULL) ? -EEXIST : mf_backing_size(b, &size);
	if (r < 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &now);
	/* From the counter tree snapshots draw from too, so that the two
	 * kinds order in one chain; above every number the file has seen,
	 * so a state made before (seqs 1, 2, ...) keeps its order. */
	st->next_seq = MAX(st->next_seq, new_id(st->sd));
	g_key_file_set_uint64(meta, "entry", "seq", st->next_seq);
	g_key_file_set_uint64(meta, "entry", "size", size);
	g_key_file_set_int64(meta, "entry", "taken_sec", now.tv_sec);
	g_key_file_set_int64(meta, "entry", "taken_nsec", now.tv_nsec);
	r = mf_entry_make(st, st->snap_fd, name, meta, &e);
	if (r < 0)
		goto out;
	e->seq = st->next_seq++;
	e->size = size;
	e->taken = now;
	g_ptr_array_add(st->snaps, e);
out:
	g_mutex_unlock(&st->lock);
	mf_backing_unlock(b);
	return r;
}

typedef struct HandOver {
	MfState *st;
	guint index;            /* of the snapshot going */
	char *buf;
} HandOver;

/* Page p of the snapshot going: the older snapshots that see p read it
 * through the newest of them; give it to that one, unless it has p. */
static int hand_page(uint64_t p, void *arg)
{
	HandOver *h = arg;
	Entry *from = h->st->snaps->pdata[h->index];

	for (guint j = h->index; j-- > 0;) {
		Entry *to = h->st->snaps->pdata[j];
		int r;

		if (p * MF_PAGE >= to->size)
			continue;
		r = mf_store_has(to->store, p);
		if (r != 0)
			return r < 0 ? r : 0;
		r = mf_store_get(from->store, p, h->buf);
		return r < 0 ? r : mf_store_put(to->store, p, h->buf,
						 h->st->sd->sync);
	}
	return 0;
}

/* Remove snapshot number i from the chain and from the disk. Lock held. */
int mf_snap_remove_locked(MfState *st, guint i)
{
	Entry *e = st->snaps->pdata[i];
	int r = 0;

	if (i > 0) {
		/* Older ones may still need what this one kept. */
		HandOver h = { st, i, g_malloc(MF_PAGE) };
		uint64_t seen_by_older = 0;

		for (guint j = 0; j < i; j++)
			seen_by_older = MAX(seen_by_older,
					    ((Entry *)st->snaps->pdata[j])->size);
		r = mf_store_foreach(e->store,
				     (seen_by_older + MF_PAGE - 1) / MF_PAGE,
				     hand_page, &h);
		g_free(h.buf);
	}
	if (r == 0) {
		r = mf_entry_discard(st, e->tree ? st->tree_fd : st->snap_fd,
				     e->name);
		g_ptr_array_remove_index(st->snaps, i);
	}
	return r;
}

int mf_state_snap_delete(MfState *st, const char *name)
{
	Entry *e;
	guint i;
	int r;

	g_mutex_lock(&st->lock);
	e = mf_snap_find(st, name, &i);
	if (!e)
		r = -ENOENT;
	else if (e == st->rolling)
		r = -EBUSY;     /* mf-rollback.c consumes it */
	else if (e->opens)
		/* Its open descriptors keep reading it: it stays in the
		 * chain, out of sight, until the last one closes. */
		r = mf_entry_hide(st, st->snap_fd, e);
	else
		r = mf_snap_remove_locked(st, i);
	g_mutex_unlock(&st->lock);
	return r;
}

int mf_state_snap_rename(MfState *st, const char *from, const char *to)
{
	Entry *e;
	int r = mf_state_check_name(to);

	if (r < 0)
		return r;
	g_mutex_lock(&st->lock);
	e = mf_snap_find(st, from, NULL);
	if (!e)
		r = -ENOENT;
	else if (e == st->rolling)
		r = -EBUSY;
	else if (mf_snap_find(st, to, NULL))
		r = strcmp(from, to) == 0 ? 0 : -EEXIST;
	else if (renameat2(st->snap_fd, from, st->snap_fd, to,
			   RENAME_NOREPLACE) < 0)
		r = -errno;
	else {
		g_free(e->name);
		e->name = g_strdup(to);
	}
	g_mutex_unlock(&st->lock);
	return r;
}

void mf_entry_info(const Entry *e, MfEntryInfo *out)
{
	out->size = e->size;
	out->taken = e->taken;
	out->pages = mf_store_count(e->store);
	out->id = e->id;
	out->seq = e->seq;
}

int mf_state_snap_info(MfState *st, const char *name, MfEntryInfo *out)
{
	Entry *e;

	g_mutex_lock(&st->lock);
	e = mf_snap_find(st, name, NULL);
	if (e)
		mf_entry_info(e, out);
	g_mutex_unlock(&st->lock);
	return e ? 0 : -ENOENT;
}

char **mf_state_snap_list(MfState *st)
{
	GPtrArray *names = g_ptr_array_new();

	g_mutex_lock(&st->lock);
	for (guint i = 0; i < st->snaps->len; i++) {
		Entry *e = st->snaps->pdata[i];

		if (!e->deleted && !e->tree)
			g_ptr_array_add(names, g_strdup(e->name));
	}
	g_mutex_unlock(&st->lock);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}

/* Page p as snapshot number i sees it: the first of it and the newer
 * snapshots that holds p, else the live file. Lock held. */
int mf_snap_page(MfState *st, guint i, MfBacking *b, uint64_t p,
		 char *buf)
{
	bool hole;

	for (; i < st->snaps->len; i++) {
		Entry *e = st->snaps->pdata[i];
		int r = mf_store_has(e->store, p);

		if (r < 0)
			return r;
		if (r)
			return mf_store_get(e->store, p, buf);
	}
	if (!b) {
		memset(buf, 0, MF_PAGE);
		return 0;
	}
	return mf_backing_page_locked(b, p, buf, &hole);
}

/* Copy [off, off+len) page by page with page_fn(p, buf), which fills a
 * whole page. Returns bytes or -errno. */
ssize_t mf_copy_pages(MfPageFn fn, void *ctx, uint64_t off, void *out,
			  size_t len)
{
	g_autofree char *page = g_malloc(MF_PAGE);
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done, p = pos / MF_PAGE;
		size_t in = (size_t)(pos % MF_PAGE);
		size_t n = MIN(len - done, MF_PAGE - in);
		int r = fn(ctx, p, page);

		if (r < 0)
			return done ? (ssize_t)done : r;
		memcpy((char *)out + done, page + in, n);
		done += n;
	}
	return (ssize_t)done;
}

typedef struct SnapRead {
	MfState *st;
	guint index;
	MfBacking *b;
} SnapRead;

static int snap_read_page(void *ctx, uint64_t p, char *buf)
{
	SnapRead *s = ctx;

	return mf_snap_page(s->st, s->index, s->b, p, buf);
}

ssize_t mf_chain_read(MfState *st, MfBacking *b, MfEntryPick pick,
		      const void *arg, uint64_t off, void *buf, size_t len)
{
	SnapRead s = { st, 0, b };
	ssize_t r;
	Entry *e;

	if (b)
		mf_backing_lock_shared(b);
	g_mutex_lock(&st->lock);
	e = pick(st, arg, &s.index);
	if (!e)
		r = -ENOENT;
	else if (st->damaged)
		r = -EIO;
	else if (off >= e->size)
		r = 0;
	else
		r = mf_copy_pages(snap_read_page, &s, off, buf,
			       (size_t)MIN((uint64_t)len, e->size - off));
	g_mutex_unlock(&st->lock);
	if (b)
		mf_backing_unlock(b);
	return r;
}

typedef struct ByName {
	const char *name;
	uint64_t id;
} ByName;

static Entry *pick_by_name(MfState *st, const void *arg, guint *index)
{
	const ByName *n = arg;

	return find_snap_by(st, n->name, n->id, index);
}

/* Read snapshot name, or (name NULL) the one with identity id. */
static ssize_t snap_read(MfState *st, MfBacking *b, const char *name,
			 uint64_t id, uint64_t off, void *buf, size_t len)
{
	ByName n = { name, id };

	return mf_chain_read(st, b, pick_by_name, &n, off, buf, len);
}

ssize_t mf_state_snap_read(MfState *st, MfBacking *b, const char *name,
			   uint64_t off, void *buf, size_t len)
{
	return snap_read(st, b, name, 0, off, buf, len);
}

/* ------------------------------------------------------------------ */
/* Entries by identity                                                 */

/* The entry with identity id, snapshot or private view. Lock held. */
static Entry *find_id(MfState *st, uint64_t id, bool *snap, guint *index)
{
	Entry *e = find_snap_by(st, NULL, id, index);

	*snap = e != NULL;
	return e ? e : mf_cow_find(st, NULL, id);
}

int mf_state_entry_info(MfState *st, uint64_t id, MfEntryInfo *out)
{
	bool snap;
	Entry *e;

	g_mutex_lock(&st->lock);
	e = find_id(st, id, &snap, NULL);
	if (e)
		mf_entry_info(e, out);
	g_mutex_unlock(&st->lock);
	return e ? 0 : -ENOENT;
}

ssize_t mf_state_entry_read(MfState *st, MfBacking *b, uint64_t id,
			    uint64_t off, void *buf, size_t len)
{
	bool snap;
	Entry *e;

	/* Which kind it is never changes: the read finds it again. */
	g_mutex_lock(&st->lock);
	e = find_id(st, id, &snap, NULL);
	g_mutex_unlock(&st->lock);
	if (!e)
		return -ENOENT;
	return snap ? snap_read(st, b, NULL, id, off, buf, len)
		    : mf_cow_read(st, b, NULL, id, off, buf, len);
}

int mf_state_entry_open(MfState *st, uint64_t id)
{
	bool snap;
	Entry *e;

	g_mutex_lock(&st->lock);
	e = find_id(st, id, &snap, NULL);
	if (e)
		e->opens++;
	g_mutex_unlock(&st->lock);
	if (!e)
		return -ENOENT;
	mf_state_ref(st);       /* the state stays loaded while it is open */
	return 0;
}

int mf_state_entry_close(MfState *st, uint64_t id)
{
	bool snap;
	guint i;
	Entry *e;
	int r = 0;

	g_mutex_lock(&st->lock);
	e = find_id(st, id, &snap, &i);
	/* Gone already if a commit took it. */
	if (e && --e->opens == 0 && e->deleted) {
		if (snap) {
			r = mf_snap_remove_locked(st, i);
		} else {
			r = mf_entry_discard(st, st->cow_fd, e->name);
			g_hash_table_remove(st->cows, e->name);
		}
		r = r < 0 ? r : 1;
	}
	g_mutex_unlock(&st->lock);
	mf_state_unref(st);
	return r;
}
