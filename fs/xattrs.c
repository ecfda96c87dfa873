/* xattrs: extended attributes: the backing object's own, the user.mapfs.*
 * of views (views.c), and the daemon's figures on the mount's root.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/xattr.h>

#include "committed.h"
#include "mf-backing.h"
#include "ops.h"
#include "reply.h"
#include "shm.h"
#include "tree.h"
#include "views.h"

#define STATS_XATTR "user.mapfs.stats"

static char *stats_text(FsContext *ctx)
{
	g_autofree char *shm = fs_shm_stats_text(ctx);
	MfWindowStats ws;
	MfIoStats io;
	FsFdStats fd;

	mf_window_cache_stats(ctx->cache, &ws);
	mf_backing_io_stats(&io);
	fs_fds_stats(&fd);
	return g_strdup_printf(
		"windows_mapped=%" PRIu64 "\nmaps=%" PRIu64 "\nunmaps=%" PRIu64
		"\nhits=%" PRIu64 "\nmisses=%" PRIu64 "\nmap_failures=%" PRIu64
		"\npopulates=%" PRIu64 "\nwrite_syscalls=%" PRIu64
		"\nwrite_populated=%" PRIu64
		"\nreads=%" PRIu64
		"\nbytes_read=%" PRIu64 "\nbytes_written=%" PRIu64
		"\nopen_files=%d\nsigbus=%" PRIu64 "\ninodes=%u\n"
		"fd_budget=%u\nfds_open=%u\nfd_reopens=%" PRIu64
		"\nfile_handles=%d\n%s",
		ws.mapped_now, ws.maps, ws.unmaps, ws.hits, ws.misses,
		ws.map_failures, ws.populates, io.write_syscalls,
		ws.write_populated, io.reads, io.bytes_read, io.bytes_written,
		g_atomic_int_get(&ctx->open_files), io.sigbus,
		fs_inode_table_size(ctx->inodes), fd.budget, fd.open,
		fd.reopens, fd.handles, shm);
}

/* The inode's open backing file, if it has one: a reference, or NULL. */
static MfBacking *open_backing(FsInode *in)
{
	MfBacking *b = NULL;

	g_mutex_lock(&in->lock);
	if (in->backing)
		b = mf_backing_ref(in->backing);
	g_mutex_unlock(&in->lock);
	return b;
}

/* getxattr or listxattr (name NULL) of the object itself. Through the
 * backing's fd when the file has one open: resolving /proc/self/fd/N for
 * the O_PATH fd (O_PATH fds take no f*xattr call) costs 4 us here, the
 * fd 0.7 us, and the kernel asks for security.capability before the
 * first write to a file after its attributes change (killpriv.c). */
static ssize_t object_xattr(FsInode *in, const char *name, char *buf,
			    size_t size)
{
	MfBacking *b = in->type == S_IFREG ? open_backing(in) : NULL;
	char path[FS_PROC_PATH_MAX];
	ssize_t n;

	if (b) {
		n = name ? fgetxattr(mf_backing_fd(b), name, buf, size)
			 : flistxattr(mf_backing_fd(b), buf, size);
		if (n < 0)
			n = -errno;
		mf_backing_unref(b);
		return n;
	}
	fs_inode_proc_path(in, path);
	n = name ? getxattr(path, name, buf, size) : listxattr(path, buf, size);
	return n < 0 ? -errno : n;
}

/* SELinux labels do not pass through the mount. The kernel labels a FUSE
 * mount as a whole (genfscon) and, where SELinux runs, answers
 * security.selinux itself without asking us; where it does not run, a
 * label stored on a backing file means nothing. Saying "not supported"
 * rather than "no such attribute" tells ls(1) so: it asks for the label
 * of every file it lists, one round trip each, unless the filesystem
 * said once that it has none, and that was most of an ls -l (issue 5). */
static bool is_label(const char *name)
{
	return strcmp(name, "security.selinux") == 0;
}

/* The object's xattr names, without labels: *list (g_free) and its
 * length, or -errno. */
static ssize_t object_xattr_names(FsInode *in, char **list)
{
	ssize_t n, len;

	*list = NULL;
	do {
		g_clear_pointer(list, g_free);
		len = object_xattr(in, NULL, NULL, 0);
		if (len <= 0)
			return len;
		*list = g_malloc((size_t)len);
		/* ERANGE: a name was added since we asked the size. */
		n = object_xattr(in, NULL, *list, (size_t)len);
	} while (n == -ERANGE);
	if (n < 0) {
		g_clear_pointer(list, g_free);
		return n;
	}
	for (char *p = *list; p < *list + n;) {
		size_t one = strlen(p) + 1;

		if (is_label(p)) {
			memmove(p, p + one, (size_t)(*list + n - (p + one)));
			n -= (ssize_t)one;
		} else
			p += one;
	}
	return n;
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	FsInode *in = inode_of(req, ino);
	char *value = NULL;
	ssize_t n;

	if (is_label(name))
		return fs_reply_err(req, EOPNOTSUPP, "getxattr", name);
	if (fs_tree_is(in))
		return fs_tree_getxattr(req, in, name, size);
	if (strcmp(name, FS_COMMITTED_XATTR) == 0)
		return fs_committed_reply(req, in, size);
	if (is_virtual(in))
		return fs_views_getxattr(req, in, name, size);
	if (ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0) {
		char *text = stats_text(ctx_of(req));

		fs_reply_xattr(req, text, strlen(text), size);
		g_free(text);
		return;
	}
	if (size)
		value = g_malloc(size);
	n = object_xattr(in, name, value, size);
	if (n < 0)
		fs_reply_err(req, (int)-n, "getxattr", name);
	else
		fs_reply_xattr(req, value, (size_t)n, size);
	g_free(value);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	FsInode *in = inode_of(req, ino);
	char *list = NULL;
	ssize_t n;

	if (fs_tree_is(in))
		return fs_tree_listxattr(req, in, size);
	if (is_virtual(in))
		return fs_views_listxattr(req, in, size);
	n = object_xattr_names(in, &list);
	if (n < 0)
		fs_reply_err(req, (int)-n, "listxattr", NULL);
	else
		fs_reply_xattr(req, list, (size_t)n, size);
	g_free(list);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	FsInode *in = inode_of(req, ino);
	char path[FS_PROC_PATH_MAX];
	int r;

	if (is_virtual(in))
		return fs_views_refuse(req, in, "setxattr");
	if ((ino == FUSE_ROOT_ID && strcmp(name, STATS_XATTR) == 0) ||
	    strcmp(name, FS_COMMITTED_XATTR) == 0)
		return fs_reply_err(req, EPERM, "setxattr", name);
	if (is_label(name))
		return fs_reply_err(req, EOPNOTSUPP, "setxattr", name);
	r = fs_tree_change(ctx_of(req), in, NULL);
	if (r < 0)
		return fs_reply_err(req, -r, "setxattr", name);
	fs_inode_proc_path(in, path);
	r = setxattr(path, name, value, size, flags) < 0 ? errno : 0;
	fs_tree_end(ctx_of(req));
	if (r)
		return fs_reply_err(req, r, "setxattr", name);
	fuse_reply_err(req, 0);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino,
			      const char *name)
{
	FsInode *in = inode_of(req, ino);
	char path[FS_PROC_PATH_MAX];
	int r;

	if (is_virtual(in))
		return fs_views_refuse(req, in, "removexattr");
	if (is_label(name))
		return fs_reply_err(req, EOPNOTSUPP, "removexattr", name);
	r = fs_tree_change(ctx_of(req), in, NULL);
	if (r < 0)
		return fs_reply_err(req, -r, "removexattr", name);
	fs_inode_proc_path(in, path);
	r = removexattr(path, name) < 0 ? errno : 0;
	fs_tree_end(ctx_of(req));
	if (r)
		return fs_reply_err(req, r, "removexattr", name);
	fuse_reply_err(req, 0);
}
