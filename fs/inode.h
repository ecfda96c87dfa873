/* inode: the table of inodes the kernel knows, keyed by the backing
 * object's (st_dev, st_ino), so hard links share one inode.
 *
 * Lookup counts (what the kernel holds, dropped by forget) are kept apart
 * from internal references (handles, requests in flight). An inode is freed
 * when both reach zero; the root never is.
 *
 * Lock order: table->lock before inode->lock, then the fds lock (fds.h).
 * No lock is held across a reply or a kernel notification.
 */
#pragma once

#include <stdint.h>
#include <sys/stat.h>

#include "fds.h"
#include "fs.h"
#include "mf-backing.h"
#include "mf-view.h"

/* What an inode stands for. Views and view directories are virtual: they
 * have no fd of their own and reach the bytes through their base. */
typedef enum FsKind {
	FS_REAL,        /* an object of the backing tree */
	FS_VIEWDIR,     /* F@@ */
	FS_VIEW,        /* F@@/rw, F@@/ro:4K+512, F@@/snap/NAME:1M, ... */
	FS_SNAPDIR,     /* F@@/snap */
	FS_COWDIR,      /* F@@/cow */
	FS_IMAGEDIR,    /* F@@/image (image.h) */
	FS_SHMDIR,      /* .shm (shm.h); its objects are FS_REAL */
	FS_REMOVED,     /* MOUNT/.removed (orphans.h); its base is the root */
	FS_TREEDIR,     /* MOUNT/.snapshots (tree.h); its base is the root */
	FS_TREE,        /* an object in a tree snapshot (tree.h) */
} FsKind;

typedef struct FsShmObj FsShmObj;
typedef struct MfTreeNode MfTreeNode;

struct FsInode {
	FsKind kind;            /* constant */
	int fd;                 /* O_PATH|O_NOFOLLOW of the backing object,
				 * if it has no handle (fds.h); -1 for
				 * virtual inodes; a .shm object's memfd,
				 * which must stay open (shm.h). Read it
				 * with fs_fd() */
	struct FsFdSlot *fd_slot; /* fds.c: its handle and descriptor */
	dev_t dev;              /* key, with ino; constant */
	ino_t ino;
	mode_t type;            /* S_IFMT bits; constant */
	uint64_t nlookup;       /* protected by table->lock */
	unsigned refs;          /* protected by table->lock */
	GMutex lock;            /* protects the fields below */
	MfBacking *backing;     /* opened on first use of a regular file's
				 * data, dropped when its last open ends */
	unsigned opens;         /* opens of it and of its views */
	unsigned own_opens;     /* opens of the file itself */
	GSList *cached_views;   /* its views that the kernel may cache
				 * (aliases.h): FsInode*, not held */
	int backing_rw_err;     /* why it is read-only (positive errno), or 0 */
	bool stale;             /* written through a view while it was not
				 * open: the kernel's pages of it are old */
	uint64_t own_open_gen;  /* opens of the file itself ever answered */
	gint page_drops;        /* drops of its kernel pages begun, */
	gint drops_done;        /* and ended (atomic) */
	gint drops_at_write;    /* drops_done at its last write (atomic) */
	struct timespec seen_mtime; /* the file's mtime and size at the last */
	off_t seen_size;        /* open or release of in (of a directory: at
				 * its last opendir): the kernel may keep its
				 * cache of in if they are unchanged; the
				 * file's lock, for views too */
	/* Virtual inodes only, all constant: */
	FsInode *base;          /* the file; we hold one of its refs */
	MfViewSpec spec;        /* FS_VIEW: mode and window */
	char *entry;            /* FS_VIEW of cow and snap: the entry's name
				 * when looked up (for messages) */
	uint64_t entry_id;      /* and its identity (mf-state.h), which the
				 * view is bound to: renames keep it */
	uint64_t vino;          /* st_ino shown for it */
	char *view_key;         /* its key in the table's view index */
	unsigned view_opens;    /* FS_VIEW: its opens; base->lock */
	FsShmObj *shm;          /* the .shm object it is, or NULL; constant,
				 * one reference held */
	MfTreeNode *tree_node;  /* FS_TREE: the object as its snapshot sees
				 * it, one reference held; entry is its
				 * mf_tree_node_id(), entry_id the snapshot's
				 * seq for a snapshot's root, else 0 */
};

FsInodeTable *fs_inode_table_new(int root_fd);
void fs_inode_table_free(FsInodeTable *t);
unsigned fs_inode_table_size(FsInodeTable *t);

/* The inode behind a FUSE inode number. */
FsInode *fs_inode_get(FsInodeTable *t, fuse_ino_t ino);

/* Find name in parent, add one lookup (the kernel's reference) and fill st.
 * Returns 0 or -errno. */
int fs_inode_lookup(FsInodeTable *t, FsInode *parent, const char *name,
		    struct stat *st, FsInode **ret);
/* fs_inode_lookup for readdirplus, where most entries tend to be known
 * already: stat the name first, and open it only if the table does not
 * hold its inode (an fstatat instead of an openat, an fstatat and a close;
 * an fstatat more for an inode not known). Returns 0 or -errno. */
int fs_inode_lookup_entry(FsInodeTable *t, FsInode *parent, const char *name,
			  struct stat *st, FsInode **ret);
/* Find name in parent for our own use: one reference (fs_inode_unref)
 * instead of a lookup. Returns 0 or -errno. */
int fs_inode_find(FsInodeTable *t, FsInode *parent, const char *name,
		  struct stat *st, FsInode **ret);
/* A virtual inode of base: a directory (FS_VIEWDIR, FS_SNAPDIR,
 * FS_COWDIR; spec and entry NULL) or a view (FS_VIEW: spec, and entry for
 * cow and snap views), with one lookup added. Virtual inodes are shared
 * while in use, so every path to the same view (ro:4K and ro:0x1000) is
 * one inode. */
FsInode *fs_inode_view(FsInodeTable *t, FsInode *base, FsKind kind,
		       const MfViewSpec *spec, const char *entry);
/* The inode of a .shm object (shm.h): found by its key (dev, ino), or
 * made with a dup of fd, holding a reference to obj. One lookup added.
 * Returns 0 or -errno. */
int fs_inode_memfd(FsInodeTable *t, int fd, dev_t dev, uint64_t ino,
		   FsShmObj *obj, FsInode **ret);
/* A view of snapshot or private view name of base, bound to the entry's
 * identity id: after a rename it still reaches the same entry, and never
 * another one that takes the name. */
FsInode *fs_inode_entry_view(FsInodeTable *t, FsInode *base,
			     const MfViewSpec *spec, const char *name,
			     uint64_t id);
/* The inode of an object of a tree snapshot (tree.h): shared per
 * mf_tree_node_id(node), so the hard links of a snapshot are one inode.
 * type: its S_IFMT bits; seq: the snapshot's for its root, else 0. Holds
 * its own reference to node. One lookup added. */
FsInode *fs_inode_tree(FsInodeTable *t, MfTreeNode *node, mode_t type,
		       uint64_t seq);
/* Drop n of the kernel's lookups. */
void fs_inode_forget(FsInodeTable *t, FsInode *in, uint64_t n);
void fs_inode_unref(FsInodeTable *t, FsInode *in);
/* Take one of our references on in (fs_inode_unref drops it). */
FsInode *fs_inode_hold(FsInodeTable *t, FsInode *in);

/* The inode's backing file, opened read-write if possible, else read-only,
 * with its snapshots' copy-before-write attached if it has any.
 * Returns a new reference in *ret, or -errno. */
int fs_inode_backing(FsContext *ctx, FsInode *in, MfBacking **ret);
/* As fs_inode_backing, but fails with the reason the file cannot be
 * written (EACCES, EROFS, ETXTBSY) when it was opened read-only. */
int fs_inode_backing_rw(FsContext *ctx, FsInode *in, MfBacking **ret);
/* Hand a freshly created read-write fd to the inode (closed if it already
 * has a backing). st is the file as it is now (fstat of fd just
 * taken): its size is the backing's, and its size and mtime are the state
 * the kernel's cache of it starts from (seen_*). */
void fs_inode_adopt_fd(FsContext *ctx, FsInode *in, int fd,
		       const struct stat *st);

/* utimens as FUSE's setattr asks for it (FUSE_SET_ATTR_[AM]TIME[_NOW]
 * in valid, the times in attr). Returns 0 or -errno. */
int fs_inode_set_times(FsInode *in, const struct stat *attr, int valid);

/* The file a view shows, or in itself. */
static inline FsInode *file_of(FsInode *in)
{
	return in->kind == FS_REAL ? in : in->base;
}

/* Count an open of in (a file, or a cached view of one) that is being
 * answered, as fs_inode_opened() does, and tell whether the kernel may
 * keep the pages of in that it cached at the last open (now: the file's
 * stat just taken, or NULL to take it): only if the file
 * did not change behind the mount since in last saw it (here, or at
 * fs_inode_remember()); the mount's own changes drop what they change
 * from the kernel's cache themselves. For a file, *stale tells that a
 * view wrote it while it was closed: its pages must be dropped before
 * this open is answered (keep_cache = 0 would not do, since an open
 * answered at the same time may keep them), then fs_inode_unstale(). A
 * file that changed behind the mount is made stale the same way, and
 * true is returned for it. */
bool fs_inode_opened_cached(FsContext *ctx, FsInode *in,
			    const struct stat *now, bool *stale);
/* Is the file still stale? Its first open after it went stale drops its
 * pages, then calls fs_inode_unstale(); the opens queued behind it find
 * nothing left to drop. Only then, or an open answered at once could read
 * the old pages before they are gone. */
bool fs_inode_is_stale(FsInode *file);
void fs_inode_unstale(FsInode *file);
/* Note the file's size and mtime in in, at the end of an open of it. */
void fs_inode_remember(FsInode *in);
/* Did in (a file, a view or a directory) last see its file as st shows
 * it? Remembers st either way. */
bool fs_inode_saw(FsInode *in, const struct stat *st);
/* If no open of the file itself is counted, mark its kernel pages stale
 * (its next open drops them), note in *gen how many opens it had, and
 * return true: a change through a view may then skip dropping them,
 * unless fs_inode_opened_since(file, *gen) says an open came meanwhile
 * (and may have cached the old bytes). */
bool fs_inode_stale_if_closed(FsInode *file, uint64_t *gen);
bool fs_inode_opened_since(FsInode *file, uint64_t gen);

/* Drops of the file's pages ended so far: an open notes it in fi->fh, as
 * the opened_at of fs_inode_dropped_since_write(). */
uint64_t fs_inode_drops_done(FsInode *file);
/* Were the file's kernel pages dropped since the last write through it,
 * and since the open the write came through (opened_at)?
 * A buffered write updates the kernel's page and lets go of it before the
 * daemon has the bytes; a drop in between lets a reader cache the old
 * bytes again, and the kernel never updates that page after the write.
 * A drop that began before the write's bytes were stored and is still
 * going counts too. The kernel serialises buffered writes of a file, so
 * this is asked once per write, after its bytes are stored and before it
 * is answered (the next write may begin at once after). */
bool fs_inode_dropped_since_write(FsInode *file, uint64_t opened_at);

/* Count an open of in (a file, or a view of one) that is being answered,
 * and its end. When the last open of a file ends and many files hold
 * backings, its backing goes: an fd and windows for every file the kernel
 * remembers would not fit the descriptor limit. */
void fs_inode_opened(FsContext *ctx, FsInode *in);
void fs_inode_closed(FsContext *ctx, FsInode *in);
/* The same for a write-only open of a regular file, served without the
 * kernel's page cache: it caches nothing, so it counts as an open but not
 * as one of the file's own (fs_inode_stale_if_closed). */
void fs_inode_opened_direct(FsContext *ctx, FsInode *file);
void fs_inode_closed_direct(FsContext *ctx, FsInode *file);
/* In fi->fh of such an open; the other bits hold fs_inode_drops_done(). */
#define FS_FH_DIRECT (UINT64_C(1) << 63)

/* The state (snapshots, private views) of the file in: a backing file's
 * is keyed by the file (mf_state_get), a .shm object's by its inode
 * number. Returns 0 with a reference, -ENOENT if it has none and create
 * is false, or -errno. */
int fs_inode_state(FsContext *ctx, FsInode *in, bool create, MfState **ret);

/* "/proc/self/fd/N" for the inode's O_PATH fd. */
#define FS_PROC_PATH_MAX 32
void fs_inode_proc_path(const FsInode *in, char buf[FS_PROC_PATH_MAX]);
