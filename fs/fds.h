/* fds: the O_PATH descriptors of the inodes the kernel knows, under a
 * budget, whatever the size of the tree (virtiofsd's file-handle mode).
 *
 * An inode of the tree keeps a file handle (name_to_handle_at), taken when
 * it is first looked up, and an O_PATH descriptor only while it is among
 * the most recently used: past the budget the least recently used one is
 * closed, and the next use opens it again by its handle
 * (open_by_handle_at, which needs CAP_DAC_READ_SEARCH). Where the backing
 * filesystem has no handles, or the daemon may not open them, every inode
 * keeps its descriptor, as before: the log says so once, at start.
 *
 * fs_fd(in) is the one way to an inode's descriptor, and it is called in
 * the argument list of the system call that uses it, never kept: the
 * descriptor stays open while the thread that asked makes its next
 * FS_FD_PINS - 1 uses of other inodes' descriptors (a call takes two at
 * most: linkat, renameat2). Each thread pins the ones it used last, and
 * the budget never closes a pinned descriptor, so no thread sees one
 * closed under it by another.
 *
 * Lock order: table->lock, then inode->lock, then the fds lock, which is
 * innermost: nothing is called under it but close and the list's own work.
 */
#pragma once

#include "fs.h"

#define FS_FD_PINS 4

/* Raise the soft descriptor limit to the hard one, then set the budget:
 * max_fds (0: from the limit) descriptors for the whole daemon, of which
 * the inodes' O_PATH descriptors get most and idle backings of closed
 * files a share (fs_fds_idle_backings); a fixed headroom is kept for
 * /dev/fuse, the state directory, libfuse's pipes and libraries. Probe
 * whether root_fd's filesystem gives handles the daemon can open.
 * Returns 0, or -EINVAL (after saying why on stderr) for a max_fds the
 * limit cannot hold. */
int fs_fds_init(int root_fd, unsigned max_fds);

/* The inode's descriptor (-1 for a virtual inode), pinned as said above.
 * On failure -1, with errno EBADF for the call it is handed to, and the
 * reason kept for fs_fds_why(): ENOENT for an object gone from the tree
 * (a stale handle), or what open_by_handle_at said. */
int fs_fd(const FsInode *in);

/* Give a new inode of the tree its descriptor fd, just opened O_PATH:
 * with a handle, the budget manages it; without, the inode keeps it. */
void fs_fds_track(FsInode *in, int fd);
/* Offer a descriptor just opened for an inode the table holds already:
 * it is taken if the inode's own was closed. Returns the fd to close, or
 * -1 if it was taken. */
int fs_fds_offer(FsInode *in, int fd);
/* The inode is freed: its descriptor is closed now (nothing holding the
 * inode, nothing uses it), its handle goes at its last unpin. */
void fs_fds_forget(FsInode *in);

/* The errno an EBADF stands for when fs_fd() failed on this thread (and
 * forget it), or err itself. */
int fs_fds_why(int err);

/* Idle backings that may stay open after their file's last close. */
unsigned fs_fds_idle_backings(void);

typedef struct FsFdStats {
	unsigned budget;        /* max_fds */
	unsigned open;          /* O_PATH descriptors of inodes held now */
	uint64_t reopens;       /* open_by_handle_at calls */
	bool handles;           /* false: one descriptor per inode */
} FsFdStats;
void fs_fds_stats(FsFdStats *out);
