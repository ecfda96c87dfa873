/* fs.h: what every part of the FUSE face shares: the mount's context. */
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mf-state.h"
#include "mf-window.h"

typedef struct FsInodeTable FsInodeTable;
typedef struct FsInode FsInode;
typedef struct FsShm FsShm;
typedef struct MfTree MfTree;

typedef struct FsContext {
	char *backing;          /* BACKING as given, made absolute */
	char *mountpoint;       /* MOUNTPOINT, absolute */
	bool views_visible;     /* -o views=visible: readdir lists F@@ */
	int root_fd;            /* O_PATH of BACKING, opened before mounting */
	MfWindowCache *cache;
	MfStateDir *states;     /* snapshots and private views */
	FsInode *orphans;       /* STATEDIR/orphans (orphans.h) */
	FsInodeTable *inodes;
	FsShm *shm;             /* the .shm directory (shm.h) */
	MfTree *tree;           /* tree snapshots (tree.h); NULL without */
	double timeout;         /* entry and attribute timeout, seconds */
	/* The state directory, hidden from the mount when it lies inside. */
	dev_t state_dev;
	ino_t state_ino;
	char *state_name;       /* its name in its parent; NULL if outside */
	int open_files;         /* atomic */
	bool debug;
	/* The kernel leaves the caller's umask to us (FUSE_CAP_DONT_MASK,
	 * asked for with FUSE_CAP_POSIX_ACL): set once, in init. */
	bool apply_umask;
	struct fuse_session *se;
} FsContext;

extern const struct fuse_lowlevel_ops fs_ops;
