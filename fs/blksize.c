/* blksize: st_blksize of a regular file is the largest request the kernel
 * sends us, 1 MiB, not the backing filesystem's 4 KiB.
 *
 * Tools size their buffers by it: cp and cat read and write
 * max(128 KiB, st_blksize) at a time, stdio buffers st_blksize. Every
 * write(2) through the mount is a WRITE round trip, so cp with 128 KiB
 * buffers paid eight round trips a MiB where one would do: copying a
 * 512 MiB file into the mount ran at 0.4-0.9 GB/s in 128 KiB writes and
 * at 1.2-1.5 GB/s in 1 MiB ones (issue 11, the cp row).
 *
 * The kernel takes a file's block size from every reply that carries its
 * attributes, so every such reply must say the same. They are built in a
 * dozen places; rather than touch each, the linker routes libfuse's four
 * functions that send attributes through the wrappers below
 * (-Wl,--wrap=..., fs/meson.build). Directories, links and the rest keep
 * what the backing filesystem says.
 */
#include <sys/stat.h>

#include "fs.h"
#include "readahead.h"

int __real_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout);
int __real_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);
int __real_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi);
size_t __real_fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
				     const char *name,
				     const struct fuse_entry_param *e,
				     off_t off);

int __wrap_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout);
int __wrap_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);
int __wrap_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi);
size_t __wrap_fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
				     const char *name,
				     const struct fuse_entry_param *e,
				     off_t off);

/* FS_READAHEAD is also max_write: the one request size of the mount. */
static void fix(struct stat *st)
{
	if (S_ISREG(st->st_mode))
		st->st_blksize = FS_READAHEAD;
}

int __wrap_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout)
{
	struct stat st = *attr;

	fix(&st);
	return __real_fuse_reply_attr(req, &st, attr_timeout);
}

int __wrap_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct fuse_entry_param fixed = *e;

	fix(&fixed.attr);
	return __real_fuse_reply_entry(req, &fixed);
}

int __wrap_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi)
{
	struct fuse_entry_param fixed = *e;

	fix(&fixed.attr);
	return __real_fuse_reply_create(req, &fixed, fi);
}

size_t __wrap_fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
				     const char *name,
				     const struct fuse_entry_param *e,
				     off_t off)
{
	struct fuse_entry_param fixed;

	/* Asked for the size an entry takes (no buffer): e may be NULL. */
	if (!buf || !e)
		return __real_fuse_add_direntry_plus(req, buf, bufsize, name, e,
						     off);
	fixed = *e;
	fix(&fixed.attr);
	return __real_fuse_add_direntry_plus(req, buf, bufsize, name, &fixed,
					     off);
}
