/* committed: user.mapfs.committed. See committed.h.
 *
 * A file or object: st_blocks * 512 of the backing file or memfd. A
 * window view (rw, ro): the bytes inside its window that SEEK_DATA finds
 * data for. A private view or a snapshot: the pages it holds in the page
 * store, its own copies (the pages it shares with the file are the
 * file's). Stores through a mapping count once written back.
 */
#include "committed.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mf-backing.h"
#include "ops.h"
#include "reply.h"
#include "views.h"

/* Bytes of [off, end) that the backing has data for. */
static int window_data(MfBacking *b, uint64_t off, uint64_t end,
		       uint64_t *out)
{
	uint64_t sum = 0;

	while (off < end) {
		off_t data = mf_backing_seek(b, (off_t)off, SEEK_DATA), hole;

		if (data == -ENXIO || (data >= 0 && (uint64_t)data >= end))
			break;
		if (data < 0)
			return (int)data;
		hole = mf_backing_seek(b, data, SEEK_HOLE);
		if (hole < 0)
			return (int)hole;
		sum += MIN((uint64_t)hole, end) - (uint64_t)data;
		off = (uint64_t)hole;
	}
	*out = sum;
	return 0;
}

static int committed(FsContext *ctx, FsInode *in, uint64_t *out)
{
	struct stat st;
	MfBacking *b;
	int r;

	if (in->kind == FS_REAL) {
		if (in->type != S_IFREG)
			return -ENODATA;
		if (fstatat(fs_fd(in), "", &st, AT_EMPTY_PATH) < 0)
			return -errno;
		*out = (uint64_t)st.st_blocks * 512;
		return 0;
	}
	if (in->kind != FS_VIEW)
		return -ENODATA;
	r = fs_views_stat(ctx, in, &st);
	if (r < 0)
		return r;
	if (in->spec.mode == MF_VIEW_COW || in->spec.mode == MF_VIEW_SNAP) {
		*out = (uint64_t)st.st_blocks * 512;
		return 0;
	}
	r = fs_inode_backing(ctx, in->base, &b);
	if (r < 0)
		return r;
	r = window_data(b, in->spec.off, in->spec.off + (uint64_t)st.st_size,
			out);
	mf_backing_unref(b);
	return r;
}

void fs_committed_reply(fuse_req_t req, FsInode *in, size_t size)
{
	uint64_t bytes = 0;
	char text[24];
	int r = committed(ctx_of(req), in, &bytes);

	if (r < 0)
		return fs_reply_err(req, -r, "getxattr", FS_COMMITTED_XATTR);
	snprintf(text, sizeof(text), "%" PRIu64, bytes);
	fs_reply_xattr(req, text, strlen(text), size);
}
