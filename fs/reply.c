/* reply: error, entry and xattr replies. */
#include "reply.h"

#include <errno.h>
#include <string.h>

#include "fds.h"
#include "log.h"

/* Errors that are a normal answer, not a problem worth a log line. */
static bool is_expected(int err)
{
	switch (err) {
	case ENOENT: case EEXIST: case ENODATA: case ENOTEMPTY:
	case ERANGE: case EAGAIN: case EINTR: case ENOSYS:
	case EOPNOTSUPP: case ENXIO:
		return true;
	default:
		return false;
	}
}

void fs_log_err(int err, const char *op, const char *what)
{
	if (err != 0)
		fs_log(is_expected(err) ? LOG_DEBUG : LOG_NOTICE, "%s %s: %s",
		       op, what ? what : "", strerror(err));
}

void fs_reply_err(fuse_req_t req, int err, const char *op, const char *what)
{
	/* EBADF: an inode's descriptor could not be opened again. */
	err = fs_fds_why(err);
	fs_log_err(err, op, what);
	fuse_reply_err(req, err);
}

void fs_reply_entry(fuse_req_t req, FsInode *in, const struct stat *st,
		    double attr_timeout)
{
	FsContext *ctx = fuse_req_userdata(req);

	fs_reply_entry_for(req, in, st, attr_timeout, ctx->timeout);
}

void fs_reply_entry_for(fuse_req_t req, FsInode *in, const struct stat *st,
			double attr_timeout, double entry_timeout)
{
	FsContext *ctx = fuse_req_userdata(req);
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = (uintptr_t)in;
	e.attr = *st;
	e.attr_timeout = attr_timeout;
	e.entry_timeout = entry_timeout;
	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_inode_forget(ctx->inodes, in, 1);  /* interrupted */
}

void fs_reply_xattr(fuse_req_t req, const char *value, size_t len,
		    size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}
