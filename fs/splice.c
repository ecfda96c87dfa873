/* splice: large reads of a file answered by splice from its backing file.
 *
 * A read answered from window memory makes the kernel pin every page of
 * the reply in our address space, and a window not yet populated faults
 * each one in first: for a cold sequential read, the daemon spent 36% of
 * its time faulting window pages in (MADV_POPULATE_READ) and 10% pinning
 * them, for one copy (issue 11, seqread-cold). libfuse's spliced reply
 * (fuse_reply_data on a descriptor, FUSE_CAP_SPLICE_WRITE) takes the
 * backing file's page-cache pages into a pipe by reference, and the
 * kernel copies them once into the reader's pages: nothing is mapped.
 *
 * The backing file's page cache is the one the windows map (MAP_SHARED),
 * so a spliced read gives the bytes a window would, including those a
 * write stored through a window a moment before: views stay coherent.
 * Small reads (4 KiB O_DIRECT, page faults of a map) keep the windows,
 * where one writev from mapped memory is cheaper than three calls.
 *
 * libfuse's pipe must hold the whole reply: its header, a page of slack
 * and the data. A pipe grows past pipe-max-size (1 MiB) only with
 * CAP_SYS_RESOURCE; without it, a 1 MiB reply would fall back to a read
 * into a buffer and a copy of that, so reads are asked in halves then
 * (max_read), both in the mount option and in INIT, as libfuse wants.
 */
#include "splice.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

/* Reads from this size up are spliced. */
#define SPLICE_MIN (64u << 10)
/* What libfuse's pipe holds besides the data: the header's buffer, the
 * slack it counts, rounded up. */
#define PIPE_SLACK (16u << 10)

static size_t splice_max;       /* largest read spliced; 0: splice off */
static unsigned max_read;       /* asked of the kernel; 0: no limit */

static bool pipe_can_hold(size_t bytes)
{
	int p[2];
	bool ok;

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	ok = fcntl(p[0], F_SETPIPE_SZ, (int)bytes) >= (int)bytes;
	close(p[0]);
	close(p[1]);
	return ok;
}

const char *fs_splice_setup(void)
{
	static char opt[32];

	if (pipe_can_hold(MF_READ_MAX + PIPE_SLACK)) {
		splice_max = MF_READ_MAX;
	} else if (pipe_can_hold(MF_READ_MAX)) {
		splice_max = max_read = MF_READ_MAX / 2;
	} else {
		fs_log(LOG_INFO, "reads copied from windows: a pipe cannot "
		       "hold a reply (pipe-max-size)");
		return "";
	}
	if (max_read)
		snprintf(opt, sizeof(opt), "-omax_read=%u", max_read);
	return opt;
}

void fs_splice_init(struct fuse_conn_info *conn)
{
	conn->max_read = max_read;
	if (!(conn->capable & FUSE_CAP_SPLICE_WRITE)) {
		splice_max = 0;
		return;
	}
	if (splice_max)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
}

bool fs_splice_read(fuse_req_t req, MfBacking *b, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	ssize_t n;

	if (size < SPLICE_MIN || size > splice_max)
		return false;
	n = mf_backing_read_by_fd(b, (uint64_t)off, size);
	if (n < 0)
		return false;   /* the windows' path says what went wrong */
	if (n == 0) {
		fuse_reply_buf(req, NULL, 0);
		return true;
	}
	bv.buf[0].size = (size_t)n;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = mf_backing_fd(b);
	bv.buf[0].pos = off;
	n = fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	if (n < 0)
		fs_log(LOG_WARNING, "read: spliced reply failed (%s)",
		       strerror((int)-n));
	return true;
}
