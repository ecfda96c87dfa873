/* inode: the table of inodes the kernel knows, keyed by the backing
 * object's (st_dev, st_ino), so hard links share one inode.
 *
 * Lookup counts (what the kernel holds, dropped by forget) are kept apart
 * from internal references (handles, requests in flight). An inode is freed
 * when both reach zero; the root never is.
 *
 * Lock order: table->lock before inode->lock. No lock is held across a
 * reply or a kernel notification.
 */
#pragma once

#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"
#include "mf-backing.h"

typedef struct FsInode {
	int fd;                 /* O_PATH|O_NOFOLLOW of the backing object */
	dev_t dev;              /* key, with ino; constant */
	ino_t ino;
	mode_t type;            /* S_IFMT bits; constant */
	uint64_t nlookup;       /* protected by table->lock */
	unsigned refs;          /* protected by table->lock */
	GMutex lock;            /* protects the fields below */
	MfBacking *backing;     /* opened on first open of a regular file */
	int backing_rw_err;     /* why it is read-only (positive errno), or 0 */
	struct timespec seen_mtime; /* mtime and size at our last release: */
	off_t seen_size;        /* the kernel may keep its cache if unchanged */
} FsInode;

FsInodeTable *fs_inode_table_new(int root_fd);
void fs_inode_table_free(FsInodeTable *t);
FsInode *fs_inode_root(FsInodeTable *t);
unsigned fs_inode_table_size(FsInodeTable *t);

/* The inode behind a FUSE inode number. */
FsInode *fs_inode_get(FsInodeTable *t, fuse_ino_t ino);

/* Find name in parent, add one lookup (the kernel's reference) and fill st.
 * Returns 0 or -errno. */
int fs_inode_lookup(FsInodeTable *t, FsInode *parent, const char *name,
		    struct stat *st, FsInode **ret);
/* Drop n of the kernel's lookups. */
void fs_inode_forget(FsInodeTable *t, FsInode *in, uint64_t n);

/* The inode's backing file, opened read-write if possible, else read-only.
 * Returns a new reference in *ret, or -errno. */
int fs_inode_backing(FsInode *in, MfWindowCache *cache, MfBacking **ret);
/* As fs_inode_backing, but fails with the reason the file cannot be
 * written (EACCES, EROFS, ETXTBSY) when it was opened read-only. */
int fs_inode_backing_rw(FsInode *in, MfWindowCache *cache, MfBacking **ret);
/* Hand a freshly created read-write fd to the inode (closed if it already
 * has a backing). */
void fs_inode_adopt_fd(FsInode *in, MfWindowCache *cache, int fd);

/* "/proc/self/fd/N" for the inode's O_PATH fd. */
#define FS_PROC_PATH_MAX 32
void fs_inode_proc_path(const FsInode *in, char buf[FS_PROC_PATH_MAX]);
