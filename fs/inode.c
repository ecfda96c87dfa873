/* inode: the inode table. See inode.h for the rules it keeps. */
#include "inode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

struct FsInodeTable {
	GMutex lock;
	GHashTable *by_key;     /* FsInode* (dev, ino) -> itself; lock */
	FsInode root;
};

static guint inode_hash(gconstpointer p)
{
	const FsInode *in = p;

	return (guint)(in->ino * 0x9E3779B97F4A7C15ull >> 32) ^ (guint)in->dev;
}

static gboolean inode_equal(gconstpointer a, gconstpointer b)
{
	const FsInode *x = a, *y = b;

	return x->dev == y->dev && x->ino == y->ino;
}

FsInodeTable *fs_inode_table_new(int root_fd)
{
	FsInodeTable *t = g_new0(FsInodeTable, 1);
	struct stat st;

	g_mutex_init(&t->lock);
	t->by_key = g_hash_table_new(inode_hash, inode_equal);
	if (fstat(root_fd, &st) == 0) {
		t->root.dev = st.st_dev;
		t->root.ino = st.st_ino;
	}
	t->root.fd = root_fd;
	t->root.type = S_IFDIR;
	t->root.nlookup = 2;    /* never reaches zero */
	g_mutex_init(&t->root.lock);
	return t;
}

static void inode_free(FsInode *in)
{
	mf_backing_unref(in->backing);
	close(in->fd);
	g_mutex_clear(&in->lock);
	g_free(in);
}

void fs_inode_table_free(FsInodeTable *t)
{
	GHashTableIter it;
	FsInode *in;

	g_hash_table_iter_init(&it, t->by_key);
	while (g_hash_table_iter_next(&it, (gpointer *)&in, NULL))
		inode_free(in);
	g_hash_table_destroy(t->by_key);
	g_mutex_clear(&t->root.lock);
	g_mutex_clear(&t->lock);
	g_free(t);
}

FsInode *fs_inode_root(FsInodeTable *t)
{
	return &t->root;
}

unsigned fs_inode_table_size(FsInodeTable *t)
{
	unsigned n;

	g_mutex_lock(&t->lock);
	n = g_hash_table_size(t->by_key);
	g_mutex_unlock(&t->lock);
	return n;
}

FsInode *fs_inode_get(FsInodeTable *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : (FsInode *)(uintptr_t)ino;
}

int fs_inode_lookup(FsInodeTable *t, FsInode *parent, const char *name,
		    struct stat *st, FsInode **ret)
{
	FsInode key, *in;
	int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	key.dev = st->st_dev;
	key.ino = st->st_ino;
	g_mutex_lock(&t->lock);
	if (key.dev == t->root.dev && key.ino == t->root.ino) {
		in = &t->root;  /* ".." of a top-level directory */
	} else if ((in = g_hash_table_lookup(t->by_key, &key))) {
		in->nlookup++;
	} else {
		in = g_new0(FsInode, 1);
		in->fd = fd;
		fd = -1;
		in->dev = key.dev;
		in->ino = key.ino;
		in->type = st->st_mode & S_IFMT;
		in->nlookup = 1;
		g_mutex_init(&in->lock);
		g_hash_table_add(t->by_key, in);
	}
	g_mutex_unlock(&t->lock);
	if (fd >= 0)
		close(fd);
	*ret = in;
	return 0;
}

void fs_inode_forget(FsInodeTable *t, FsInode *in, uint64_t n)
{
	bool drop = false;

	if (in == &t->root)
		return;
	g_mutex_lock(&t->lock);
	g_assert(in->nlookup >= n);
	in->nlookup -= n;
	if (in->nlookup == 0 && in->refs == 0) {
		g_hash_table_remove(t->by_key, in);
		drop = true;
	}
	g_mutex_unlock(&t->lock);
	if (drop)
		inode_free(in);
}

static int open_backing_locked(FsInode *in, MfWindowCache *cache)
{
	char path[FS_PROC_PATH_MAX];
	bool writable = true;
	int fd, r;

	fs_inode_proc_path(in, path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS ||
		       errno == ETXTBSY || errno == EPERM)) {
		in->backing_rw_err = errno;
		writable = false;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	r = mf_backing_new(cache, fd, writable, &in->backing);
	if (r < 0)
		close(fd);
	return r;
}

static int get_backing(FsInode *in, MfWindowCache *cache, bool rw,
		       MfBacking **ret)
{
	int r = 0;

	if (in->type != S_IFREG)
		return -EINVAL;
	g_mutex_lock(&in->lock);
	if (!in->backing) {
		r = open_backing_locked(in, cache);
	} else if (rw && !mf_backing_writable(in->backing)) {
		/* Whatever kept it read-only (mode, a running executable)
		 * may have passed: try again. Readers still holding the old
		 * backing keep it until they are done. */
		MfBacking *old = in->backing;

		in->backing = NULL;
		if (open_backing_locked(in, cache) < 0)
			in->backing = old;
		else
			mf_backing_unref(old);
	}
	if (r == 0 && rw && !mf_backing_writable(in->backing))
		r = -in->backing_rw_err;
	if (r == 0)
		*ret = mf_backing_ref(in->backing);
	g_mutex_unlock(&in->lock);
	return r;
}

int fs_inode_backing(FsInode *in, MfWindowCache *cache, MfBacking **ret)
{
	return get_backing(in, cache, false, ret);
}

int fs_inode_backing_rw(FsInode *in, MfWindowCache *cache, MfBacking **ret)
{
	return get_backing(in, cache, true, ret);
}

void fs_inode_adopt_fd(FsInode *in, MfWindowCache *cache, int fd)
{
	g_mutex_lock(&in->lock);
	if (in->backing || mf_backing_new(cache, fd, true, &in->backing) < 0)
		close(fd);
	g_mutex_unlock(&in->lock);
}

void fs_inode_proc_path(const FsInode *in, char buf[FS_PROC_PATH_MAX])
{
	snprintf(buf, FS_PROC_PATH_MAX, "/proc/self/fd/%d", in->fd);
}
