/* mf-tree-impl: what mf-tree.c (snapshots, changes), mf-tree-read.c
 * (nodes) and mf-tree-diff.c share inside core/. Not for fs/.
 *
 * Layout, below the state directory:
 *   trees/snaps/NAME      a snapshot: its sequence number and time taken
 *   trees/objs/KEY/SEQ    object KEY as snapshots up to SEQ saw it
 *   trees/kept/KEY        a hard link keeping a removed file alive
 * Each written under a ".new-" name and renamed into place.
 *
 * Locks, in this order: the change lock (changes shared, taking a snapshot
 * exclusive), keep_lock (writing versions, deleting snapshots), lock (the
 * tables below; held briefly, never across a system call that writes).
 */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>

#include "mf-tree.h"

/* Past this many the fast path's table starts again: the disk (and the
 * versions table) is the truth, the table only saves a lookup. */
#define MF_TREE_FAST_MAX 100000u

typedef struct TreeSnap {
	char *name;
	uint64_t seq;
	struct timespec taken;
	uint64_t versions;
} TreeSnap;

/* At most this many objects' versions are cached (mf-tree-versions.c):
 * some 200 bytes each. */
#define MF_TREE_VCACHE_MAX 8192u

/* The versions kept of one object. */
typedef struct Versions {
	GArray *seqs;           /* uint64_t, ascending */
	unsigned char type;     /* DT_*, 0 until known */
	char *key;              /* in the cache: its key, and */
	GList link;             /* its place in t->vlru (data: itself) */
} Versions;

struct MfTree {
	int trees_fd, snaps_fd, objs_fd, kept_fd;
	int mount_fd, root_fd;
	char *root_path;        /* the kernel's path of root_fd: places */
	MfStateDir *sd;
	MfWindowCache *cache;
	bool sync;
	dev_t state_dev;
	ino_t state_ino;
	char *root_key;

	pthread_rwlock_t change;
	int active;             /* snapshots exist: changes take the lock
				 * (atomic) */
	int unlocked;           /* changes under way without it (atomic) */

	GMutex keep_lock;
	GMutex lock;
	GPtrArray *snaps;       /* TreeSnap*, by seq */
	GHashTable *vcache;     /* key -> Versions*: the objects' versions
				 * asked for lately (the disk has them all) */
	GQueue vlru;            /* of them, the last asked for first */
	guint vcache_max;       /* how many it keeps */
	GHashTable *fast;       /* ino -> seq of the newest snapshot the
				 * object is kept for (or made after) */
	uint64_t next_tmp;
	uint64_t diff_work;     /* names diffs looked at (atomic) */
	bool diff_walk;         /* tests: diffs walk the trees, always */
	uint64_t diff_walks;    /* diffs that walked the trees (atomic) */
};

/* Key (hex of the file handle) of name in dirfd (name "" : dirfd
 * itself). Returns 0 or -errno. */
int mf_tree_key_at(int dirfd, const char *name, char **key);
/* Open the object key (flags for open_by_handle_at). Returns fd or
 * -errno (-ESTALE: gone). */
int mf_tree_open_key(MfTree *t, const char *key, int flags);
/* The snapshot with sequence number seq / named name. Lock held. */
TreeSnap *mf_tree_snap_by_seq(MfTree *t, uint64_t seq);
TreeSnap *mf_tree_snap_by_name(MfTree *t, const char *name);
/* The versions table (mf-tree-versions.c): a bounded cache of
 * trees/objs/KEY/. Lock held for every call but _init, _clear and
 * _cached. */
void mf_tree_versions_init(MfTree *t);
void mf_tree_versions_clear(MfTree *t);
/* The versions of key, cached (valid while the lock is held). Returns 0
 * or -errno (logged). */
int mf_tree_versions_get(MfTree *t, const char *key, Versions **ret);
/* Them if cached, else NULL: no system call. */
Versions *mf_tree_versions_peek(MfTree *t, const char *key);
/* Read key's versions from disk into seqs (ascending), past the cache;
 * no lock needed. Returns 0 (none: seqs empty) or -errno. */
int mf_tree_versions_read(MfTree *t, const char *key, GArray *seqs);
/* trees/objs/ for a walk from its first entry (closedir it). NULL with
 * errno set on failure. */
DIR *mf_tree_objs_open(MfTree *t);
/* How many objects' versions are cached now (takes the lock). */
size_t mf_tree_versions_cached(MfTree *t);
/* The sequence number of the version of key that snapshot seq reads:
 * the oldest at or after seq; 0 if none (the object is read live).
 * Returns 0 or -errno. Lock held. */
int mf_tree_version_find(MfTree *t, const char *key, uint64_t seq,
			 uint64_t *vs);
/* The same, 0 also when they cannot be read (logged). Lock held. */
uint64_t mf_tree_version_for(MfTree *t, const char *key, uint64_t seq);
/* Does key have a version in [a, b)? Lock held. */
bool mf_tree_version_between(MfTree *t, const char *key, uint64_t a,
			     uint64_t b);
/* The keys with a version in [a, b) (g_free'd by the array). Costs the
 * objects kept, not the tree. */
GPtrArray *mf_tree_changed_keys(MfTree *t, uint64_t a, uint64_t b);
/* Load version seq of key. NULL with errno set on failure. */
GKeyFile *mf_tree_version_load(MfTree *t, const char *key, uint64_t seq);

/* A directory entry as a snapshot has it. key NULL until looked up (the
 * entries of a live directory). */
typedef struct TreeEnt {
	char *name;
	char *key;
	unsigned char type;
	uint64_t ino;
} TreeEnt;

/* The view of the live tree (mf-tree-diff.c): no version is at or after
 * it. */
#define MF_TREE_LIVE UINT64_MAX

struct MfTreeNode {
	gint refs;
	MfTree *t;
	uint64_t seq;           /* the snapshot's, or MF_TREE_LIVE */
	char *key;
	char *id;
	char *path;             /* the names it was looked up by from its
				 * snapshot's root ("" for the root; NULL
				 * if not so reached): constant */
	GMutex lock;            /* what follows */
	uint64_t vseq;          /* the version read; 0: the live object */
	GKeyFile *ver;          /* it, loaded */
	struct stat live_st;    /* the live object's, when looked up */
	int fd;                 /* the live object (O_PATH), or -1 */
	GPtrArray *ents;        /* TreeEnt*, once listed */
	GHashTable *index;      /* name -> TreeEnt* */
	uint64_t ents_vseq;     /* the version ents were listed from */
	MfBacking *b;           /* for reading its bytes, once read */
	MfState *st;            /* its chain, once read through it */
};

/* Open n->b, a regular file's live object read-only, if not open yet
 * (n->lock held). Returns 0 or -errno (-EIO: the object is gone). */
int mf_tree_node_backing(MfTree *t, MfTreeNode *n);

/* The root of the view seq (a snapshot's, or MF_TREE_LIVE). */
int mf_tree_root_seq(MfTree *t, uint64_t seq, MfTreeNode **ret);
/* The entries of dir, listed (and kept in it) if not yet; the array is
 * the node's: valid while it is held and no other call is made on it.
 * Returns 0 or -errno. */
int mf_tree_entries(MfTree *t, MfTreeNode *dir, GPtrArray **ents);
/* Lookup of an entry got from mf_tree_entries(). */
int mf_tree_lookup_ent(MfTree *t, MfTreeNode *dir, TreeEnt *e,
		       MfTreeNode **ret);
/* Version seq of key was written (type: DT_*, 0 if unknown) / removed
 * on disk: the cache follows. Lock held. */
void mf_tree_add_version(MfTree *t, const char *key, uint64_t seq,
			 unsigned char type);
void mf_tree_drop_version(MfTree *t, const char *key, uint64_t seq);
/* No change under way from mf_tree_snap_lock() to _unlock(), which sets
 * whether changes take the lock from the snapshots there are then. Taken
 * before keep_lock (as changes do). */
void mf_tree_snap_lock(MfTree *t);
void mf_tree_snap_unlock(MfTree *t);
/* Is this thread between mf_tree_change_begin() and _end()? Taking or
 * deleting a snapshot there would wait for itself: -EDEADLK. */
bool mf_tree_in_change(void);

/* mf-tree-where: places. The kernel's path of fd (g_free), or NULL. */
char *mf_tree_path_of(int fd);
/* The directory (its key) that has the object fd (st: its fstat) now,
 * and its name there; -ENOENT if that cannot be told for sure. */
int mf_tree_locate(MfTree *t, int fd, const struct stat *st, char **parent,
		   char **name);
/* The object's names in the tree: its link count but trees/kept's (a
 * directory: 1). */
unsigned mf_tree_tree_links(MfTree *t, int fd, const struct stat *st);
/* Record in kf's [where] group where object key (fd, st) is now: its
 * names, and its directory and name when it can be told. */
void mf_tree_where_keep(MfTree *t, const char *key, int fd,
			const struct stat *st, GKeyFile *kf);
/* Read them back: *parent NULL for the root or an object with no name
 * (*links 0). -ENODATA: not recorded (a version kept before places were,
 * or a place that could not be told). */
int mf_tree_where_load(GKeyFile *kf, char **parent, char **name,
		       unsigned *links);
