/* killpriv: the kernel's FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14
 * cannot ask for.
 *
 * Without it the kernel asks the daemon for security.capability before
 * every buffered write(2): a FUSE superblock is not SB_NOSEC, so
 * file_remove_privs() looks each time, and that round trip cost as much as
 * the write's own. With it the kernel looks once per inode and then trusts
 * S_NOSEC until the file's attributes change, and it still removes
 * security.capability itself (through removexattr). In return, clearing
 * setuid and setgid when an unprivileged caller writes or truncates is
 * ours: fs_killpriv_clear(), which the handlers that change bytes call.
 *
 * libfuse's custom I/O hooks carry the flag: read notes the unique id of
 * the kernel's INIT and whether it offers the flag, writev sets it in our
 * reply to that INIT. Everything else passes straight through.
 */
#include "killpriv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

/* The INIT request's unique id while its reply is due, if the kernel
 * offered FUSE_HANDLE_KILLPRIV_V2; 0 otherwise. INIT is the first
 * request and the kernel sends no other until it is answered; atomic
 * all the same, as every thread's writev looks at it. */
static uint64_t init_unique;

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	if (n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);

		__atomic_store_n(&init_unique,
				 (arg->flags & FUSE_HANDLE_KILLPRIV_V2) ? in->unique : 0,
				 __ATOMIC_RELAXED);
	}
	return n;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count,
			   void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t init = __atomic_load_n(&init_unique, __ATOMIC_RELAXED);

	(void)userdata;
	if (init && out->unique == init) {
		/* libfuse builds the reply as header, then fuse_init_out. */
		if (out->error == 0 && count > 1 &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) +
					      sizeof(uint32_t)) {
			struct fuse_init_out *arg = iov[1].iov_base;

			arg->flags |= FUSE_HANDLE_KILLPRIV_V2;
			fs_log(LOG_DEBUG, "init: FUSE_HANDLE_KILLPRIV_V2 on");
		}
		__atomic_store_n(&init_unique, 0, __ATOMIC_RELAXED);
	}
	return writev(fd, iov, count);
}

/* Spliced replies (splice.c) pass straight through; without this hook
 * libfuse would not offer FUSE_CAP_SPLICE_WRITE under custom I/O. They
 * are never the INIT reply. */
static ssize_t hook_splice_send(int fdin, off_t *offin, int fdout,
				off_t *offout, size_t len, unsigned flags,
				void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int fs_killpriv_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = hook_read,
		.writev = hook_writev,
		.splice_send = hook_splice_send,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

void fs_killpriv_clear(fuse_req_t req, FsInode *in)
{
	FsInode *f = file_of(in);
	char path[FS_PROC_PATH_MAX];
	struct stat st;
	mode_t kill;

	/* The kernel's rule (should_remove_suid) is "a caller without
	 * CAP_FSETID"; we see the caller's uid, not its capabilities. */
	if (fuse_req_ctx(req)->uid == 0 || fstat(fs_fd(f), &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return;
	kill = st.st_mode & S_ISUID;
	/* setgid without group execute marks mandatory locking, not a
	 * privilege: it stays, as on a local filesystem. */
	if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	if (!kill)
		return;
	fs_inode_proc_path(f, path);
	if (chmod(path, st.st_mode & 07777 & ~kill) < 0) {
		fs_log(LOG_WARNING, "clearing setuid/setgid: %s", strerror(errno));
		return;
	}
	fs_notify_inval_attr((fuse_ino_t)(uintptr_t)f);
	if (in != f)
		fs_notify_inval_attr((fuse_ino_t)(uintptr_t)in);
}
