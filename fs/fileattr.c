/* fileattr: the inode flags of chattr(1) and lsattr(1).
 *
 * The kernel turns FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC_FSGETXATTR and
 * FS_IOC_FSSETXATTR on a FUSE file or directory into FUSE_IOCTL requests
 * with those commands, having checked the caller's right to change them
 * (owner, CAP_LINUX_IMMUTABLE for the immutable and append-only flags);
 * they go to the backing object as they are. The flags take an int (the
 * kernel copies an int, whatever the `long` in _IOR says) or a struct
 * fsxattr.
 *
 * The backing filesystem enforces the flags on everything the daemon asks
 * of it by system call, but not on stores into the file's windows mapped
 * before a flag was set. So once a file is made immutable or append-only
 * through the mount, its backing refuses writes (mf_backing_deny_writes),
 * and the next request replaces it with one reopened read-only (the
 * backing filesystem refuses a writable open), whose windows the kernel
 * maps even for an append-only file, and whose writes fail with EPERM.
 * Appends to an append-only file are refused too: the kernel maps no
 * append-only file shared from a writable descriptor, and the daemon
 * writes only through such mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "ops.h"
#include "reply.h"
#include "tree.h"

/* Flags that forbid writing the file's bytes. */
static bool forbids_writes(int fd)
{
	int flags = 0;

	return ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
	       (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL));
}

/* The flags of in's file changed: its backing follows. Once writes are
 * forbidden, the next request replaces it with a read-only one
 * (fs_inode_backing); once allowed again, a writable one replaces it. */
static void flags_changed(fuse_req_t req, FsInode *in, int fd)
{
	bool forbid = forbids_writes(fd);
	MfBacking *b;
	int r;

	if (in->type != S_IFREG)
		return;
	r = forbid ? fs_inode_backing(ctx_of(req), in, &b)
		   : fs_inode_backing_rw(ctx_of(req), in, &b);
	if (r < 0)
		return;
	mf_backing_deny_writes(b, forbid ? EPERM : 0);
	mf_backing_unref(b);
}

void fs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		 struct fuse_file_info *fi, unsigned flags,
		 const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	FsInode *in = inode_of(req, ino);
	char path[FS_PROC_PATH_MAX];
	union {
		int flags;
		struct fsxattr fsx;
	} v;
	bool set = cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSSETXATTR;
	size_t size;
	int fd, r;

	(void)arg;
	(void)fi;
	(void)flags;
	switch (cmd) {
	case FS_IOC_GETFLAGS:
	case FS_IOC_SETFLAGS:
		size = sizeof(v.flags);
		break;
	case FS_IOC_FSGETXATTR:
	case FS_IOC_FSSETXATTR:
		size = sizeof(v.fsx);
		break;
	default:
		return fs_reply_err(req, ENOTTY, "ioctl", NULL);
	}
	/* A view has no flags of its own: its file's are on the file. */
	if (is_virtual(in))
		return fs_reply_err(req, ENOTTY, "ioctl", "view");
	if (set ? in_bufsz < size : out_bufsz < size)
		return fs_reply_err(req, EINVAL, "ioctl", "short argument");
	memset(&v, 0, sizeof(v));
	if (set)
		memcpy(&v, in_buf, size);
	/* The ioctls want an open file; in->fd is O_PATH. */
	fs_inode_proc_path(in, path);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fs_reply_err(req, errno, "ioctl", NULL);
	/* Setting flags changes the file's ctime: a change like any. */
	r = set ? fs_tree_change(ctx_of(req), in, NULL) : 0;
	if (r == 0) {
		r = ioctl(fd, cmd, &v) < 0 ? -errno : 0;
		if (set)
			fs_tree_end(ctx_of(req));
	}
	if (r == 0 && set)
		flags_changed(req, in, fd);
	close(fd);
	if (r < 0)
		return fs_reply_err(req, -r, "ioctl", NULL);
	fuse_reply_ioctl(req, 0, set ? NULL : &v, set ? 0 : size);
}
