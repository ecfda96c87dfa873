/* shm: named shared memory, MOUNT/.shm/NAME.
 *
 * The .shm directory sits at the root, hidden from readdir like F@@. Each
 * object in it is a memfd, never a file of BACKING: an FsInode of kind
 * FS_REAL whose fd is (a dup of) the memfd and whose shm points here, so
 * that reads, writes, mmap, views and snapshots take the paths of a file.
 * The name table holds one reference to an object while it is named; its
 * inode holds one while the kernel knows it. rm drops the name; the
 * memory goes with the last reference. All objects go at unmount.
 *
 * Inode numbers: an object shows FS_SHM_INO_BASE | serial, which is also
 * its key in the state directory (snapshots, private views): clear of the
 * backing tree's numbers (below 2^62) and of views' (2^63 and up). Those
 * state entries go with the object, and at mount and unmount.
 *
 * Locking: FsShm.lock protects the tables and the directory's times; it
 * is taken after no other lock, and never held across a reply.
 */
#pragma once

#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"
#include "inode.h"

#define FS_SHM_DIR_NAME ".shm"
#define FS_SHM_INO_BASE (UINT64_C(1) << 62)

typedef struct FsShm FsShm;
typedef struct FsShmObj FsShmObj;

/* cap: the bytes all objects may commit together; states: where their
 * snapshots and private views are, removed with them. */
FsShm *fs_shm_new(uint64_t cap, MfStateDir *states);
/* Drops the names; objects still held by inodes go with them. */
void fs_shm_free(FsShm *shm);
/* Half the machine's memory, as tmpfs gives /dev/shm. */
uint64_t fs_shm_default_cap(void);

void fs_shm_obj_ref(FsShmObj *obj);
void fs_shm_obj_unref(FsShmObj *obj);

/* Is name in parent the .shm directory (the tree has no such name)? */
bool fs_shm_is_dir_name(FsContext *ctx, FsInode *parent, const char *name);
/* Reply to a lookup of .shm in the root. */
void fs_shm_lookup_dir(fuse_req_t req);

/* Requests on the .shm directory (kind FS_SHMDIR). */
void fs_shm_lookup(fuse_req_t req, FsInode *dir, const char *name);
void fs_shm_getattr(fuse_req_t req, FsInode *dir);
void fs_shm_create(fuse_req_t req, FsInode *dir, const char *name,
		   mode_t mode, struct fuse_file_info *fi);
void fs_shm_mknod(fuse_req_t req, FsInode *dir, const char *name,
		  mode_t mode);
void fs_shm_unlink(fuse_req_t req, FsInode *dir, const char *name);
/* A rename with from or to the .shm directory. */
void fs_shm_rename(fuse_req_t req, FsInode *from, const char *name,
		   FsInode *to, const char *newname, unsigned flags);
void fs_shm_readdir(fuse_req_t req, FsInode *dir, size_t size, off_t off,
		    bool plus);

/* An object's attributes as the mount shows them: its own inode number,
 * and no link once removed. st is the memfd's fstat. */
void fs_shm_fix_stat(const FsInode *in, struct stat *st);
/* May len bytes at off be written into the file in (a write, a
 * fallocate)? 0, or -ENOSPC when the pages it would commit pass the cap
 * (logged). 0 at once for anything but an object. */
int fs_shm_charge(FsContext *ctx, FsInode *in, uint64_t off, uint64_t len);
/* "shm_objects=N\nshm_committed=BYTES\nshm_size=CAP\n" for the stats. */
char *fs_shm_stats_text(FsContext *ctx);
/* MOUNTPOINT/.shm/NAME of obj, or "(removed)". g_free it. */
char *fs_shm_path(FsContext *ctx, const FsShmObj *obj);
/* statfs of .shm and its objects, as df shows /dev/shm: the cap as the
 * size, what objects commit as used. */
void fs_shm_statfs(fuse_req_t req);
