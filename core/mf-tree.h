/* mf-tree: snapshots of the whole tree, taken in constant time.
 *
 * A tree snapshot is a name and a sequence number, drawn from the counter
 * file snapshots use (mf_statedir_next_seq()), so the two kinds order in
 * one chain. Taking one writes one small file: no walk, no copy. What a
 * tree snapshot costs is what changes after it.
 *
 * Versions. Before the mount first changes an object (a file, directory,
 * symlink or special file) after the newest tree snapshot N was taken, it
 * keeps the object's version as of N in trees/objs/KEY/SEQ (SEQ: N's
 * sequence number): its attributes (type, mode, owner, size, times, nlink,
 * rdev, inode number), its xattrs, a symlink's target, and a directory's
 * entries (name -> key and type), and where it was: the directory that
 * had it and its name there (a diff names what changed from them). A
 * regular file's bytes are kept by its
 * page chain (mf-state.h): a hidden entry at SEQ (mf_state_tree_keep()),
 * so a page is copied once however many snapshots of either kind see it.
 * A file that loses its last link while a version of it exists is kept
 * alive by a hard link trees/kept/KEY.
 *
 * Reading. Snapshot T sees object X as X's oldest version whose sequence
 * number is at or after T's; if X has none, X is unchanged since T and is
 * read as it is now: the per-file chain's rule, applied to whole objects.
 * Deleting a snapshot drops the versions (and hidden chain entries) that
 * no remaining snapshot reads: those with no snapshot between them and
 * the object's previous version.
 *
 * Keys. Objects are keyed by their file handle (name_to_handle_at, in hex):
 * it names no other object, ever, and opens the object wherever it has
 * moved since (open_by_handle_at on the mount fd). Where the backing
 * filesystem has no handles, there are no tree snapshots (-EOPNOTSUPP).
 *
 * Freezing. Every change through the mount runs between
 * mf_tree_change_begin() and mf_tree_change_end() (a shared lock); taking
 * a snapshot holds it exclusively, so no change is half done in one. The
 * lock prefers the taker, and must not be taken twice by one thread.
 *
 * Changes that bypass the mount are not seen (as for file snapshots, which
 * then mark themselves damaged; tree snapshots show what they find).
 *
 * Crash safety: a version and a snapshot record are written under a ".new-"
 * name and renamed into place (fsync'd with sync), before the change they
 * precede; loading sweeps what a crash left half made.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "mf-backing.h"
#include "mf-state.h"
#include "mf-window.h"

typedef struct MfTree MfTree;
typedef struct MfTreeNode MfTreeNode;

typedef struct MfTreeSnapInfo {
	uint64_t seq;           /* its place in the chain; never reused */
	struct timespec taken;
	uint64_t versions;      /* object versions kept at its number */
} MfTreeSnapInfo;

/* Open the tree snapshots kept under statedir_fd (trees/, made if
 * missing; the fd is not taken). mount_fd: BACKING, opened O_RDONLY, for
 * open_by_handle_at; root_fd: BACKING's root (O_PATH will do). sd: the
 * file states (page chains); cache: for reading live files. The state
 * directory itself (state_dev, state_ino), when it lies inside BACKING,
 * is left out of every snapshot's listing. -EOPNOTSUPP when the backing
 * filesystem has no file handles: the mount goes on without tree
 * snapshots (every call below then says -EOPNOTSUPP; change hooks cost
 * nothing). */
int mf_tree_open(int statedir_fd, int mount_fd, int root_fd, MfStateDir *sd,
		 MfWindowCache *cache, bool sync, dev_t state_dev,
		 ino_t state_ino, MfTree **ret);
void mf_tree_free(MfTree *t);

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */

/* Names as mf_state_check_name() takes them (-EINVAL), or -ENAMETOOLONG
 * over NAME_MAX; -EEXIST if taken. Constant time at any tree size: it
 * waits only for the changes under way. -EDEADLK from inside a change of
 * the calling thread (create and delete alike). */
int mf_tree_snap_create(MfTree *t, const char *name);
/* -ENOENT if none. Waits for the changes under way, as a take does, then
 * costs the versions kept (of all snapshots: it walks them). */
int mf_tree_snap_delete(MfTree *t, const char *name);
/* -ENOENT, -EEXIST (to taken; from == to is 0), -EINVAL. */
int mf_tree_snap_rename(MfTree *t, const char *from, const char *to);
int mf_tree_snap_info(MfTree *t, const char *name, MfTreeSnapInfo *out);
/* Names, oldest first. g_strfreev() it. */
char **mf_tree_snap_list(MfTree *t);

/* ------------------------------------------------------------------ */
/* Changes through the mount                                           */

/* Around every change: create, mkdir, mknod, symlink, link, unlink,
 * rmdir, rename, setattr, setxattr, removexattr, write, truncate,
 * fallocate, copy_file_range, commits and rollbacks. Nothing when there
 * are no tree snapshots but an atomic load. Per thread: begin and end of
 * one change run on the same thread; a begin inside a change of the same
 * thread only counts (no second lock). A take or delete between them on
 * that thread would wait for itself: it says -EDEADLK. */
void mf_tree_change_begin(MfTree *t);
/* Is there a tree snapshot at all? (An atomic load: callers may skip
 * what a keep needs, such as a descriptor, when there is none.) */
bool mf_tree_active(MfTree *t);
void mf_tree_change_end(MfTree *t);

/* Between begin and end, before the change: keep the version of the
 * object fd (O_PATH will do; ino: its inode number in BACKING, st_ino,
 * the fast path's key) for the newest snapshot, unless kept already or
 * made after it. For a directory it holds its entries; for a regular file
 * it also keeps its bytes (mf_state_tree_keep()), attaching the chain to
 * b, the file's open backing (NULL if none: the caller attaches the state
 * when it opens one, as for file snapshots; a b without hooks passed
 * later is attached then, even when the object was kept already). Cheap
 * when done already (a hash lookup). Returns 0 or -errno (-ENOSPC: the
 * change must not go on).
 *
 * Who calls it, before the change, on what:
 *   create, mkdir, mknod, symlink: the parent directory;
 *   link: the new name's directory and the object (its link count);
 *   unlink, rmdir: the directory, then mf_tree_keep_removed() of the name;
 *   rename: both directories, the object moved (its ctime; a directory's
 *     ".."), and mf_tree_keep_removed() of a name it replaces;
 *   setattr (mode, owner, times, size), setxattr, removexattr: the object
 *     (with its backing for a truncation);
 *   write, fallocate, copy_file_range (destination), cow commits and
 *     rollbacks: the file, with the backing the change goes through.
 * Locks: none of the caller's that a snapshot reader or another change
 * waits for. It takes the tree's locks, the file state's lock, and, to
 * attach, b's resize lock exclusively: never call it with b's lock held.
 * It makes system calls in the state directory (once per object and
 * snapshot). */
int mf_tree_keep(MfTree *t, uint64_t ino, int fd, MfBacking *b);
/* Before name in dirfd loses a link (unlink, rmdir, replaced by a
 * rename): keep its version, and a regular file losing its last link
 * alive in trees/kept (a hard link: where the state directory is on
 * another filesystem, it cannot be; the removal goes on, logged, and the
 * snapshots then read EIO for its bytes). The directory's own version is
 * the caller's mf_tree_keep(). Returns 0, -ENOENT (no such name: nothing
 * to keep) or -errno. */
int mf_tree_keep_removed(MfTree *t, int dirfd, const char *name);
/* The links of the object fd (O_PATH will do) that tree snapshots keep
 * (trees/kept): 1 or 0. Whoever asks whether a file lost its last name
 * (fs/orphans.c) discounts them. */
unsigned mf_tree_links(MfTree *t, int fd);

/* ------------------------------------------------------------------ */
/* Reading a snapshot                                                  */

/* A node is one object as one snapshot sees it; it stays readable while
 * held, even if the snapshot is deleted meanwhile (its reads then fail
 * with -ENOENT). */
int mf_tree_root(MfTree *t, const char *snap, MfTreeNode **ret);
/* -ENOENT, -ENOTDIR. "." and ".." are the caller's. */
int mf_tree_lookup(MfTree *t, MfTreeNode *dir, const char *name,
		   MfTreeNode **ret);
MfTreeNode *mf_tree_node_ref(MfTreeNode *n);
void mf_tree_node_unref(MfTreeNode *n);
/* The last open descriptor of n closed (release, releasedir): let go of
 * the descriptors and the listing its reads made (made again by the next
 * call, a directory's listing in the same order). A node held by the
 * kernel's inode cache then costs no descriptor and no listing. */
void mf_tree_node_close(MfTreeNode *n);
/* Its identity within the mount: the same object in the same snapshot
 * (hard links, two lookups) gives the same string; "SEQ:KEY". */
const char *mf_tree_node_id(const MfTreeNode *n);
/* Where n is: "SNAP/dir/name", its snapshot's name now and the names it
 * was looked up by from the snapshot's root (for a hard link, the one it
 * was first reached by), or NULL if the snapshot is gone or n was not
 * reached so. g_free() it. */
char *mf_tree_node_path(MfTree *t, const MfTreeNode *n);
/* Attributes as the snapshot has them; st_ino is the object's. */
int mf_tree_stat(MfTree *t, MfTreeNode *n, struct stat *st);
/* Entries in a stable order, without "." and "..": fn(name, d_type, ino,
 * arg) for each from index start on (the index of the next one is
 * start + k); fn returns nonzero to stop. Returns 0 or -errno. fn runs
 * with the tree's lock held: it must not call the engine (collect, and
 * look up after the return). */
typedef int (*MfTreeDirFn)(const char *name, unsigned char type,
			   uint64_t ino, uint64_t next, void *arg);
int mf_tree_readdir(MfTree *t, MfTreeNode *dir, uint64_t start,
		    MfTreeDirFn fn, void *arg);
/* A symlink's target, NUL-terminated in buf. Returns its length or -errno
 * (-EINVAL: not a symlink). */
ssize_t mf_tree_readlink(MfTree *t, MfTreeNode *n, char *buf, size_t size);
/* Bytes of a regular file as the snapshot has them; short at its size. */
ssize_t mf_tree_read(MfTree *t, MfTreeNode *n, uint64_t off, void *buf,
		     size_t len);
/* The file's own snapshots (F@@/snap) that regular file n's tree
 * snapshot saw: those of its object taken before the tree snapshot (one
 * chain orders both kinds) and not deleted since, under their names now;
 * their bytes never changed. list: oldest first, empty if none (g_strfreev
 * it). info: of name (NULL: of the entry id), -ENOENT if it is none of
 * them, -EINVAL if n is no regular file. read: entry id's bytes (as
 * mf_state_entry_read()), -ENOENT once it is deleted, -EIO if the file
 * was changed outside the mount (mf_state_damaged()). */
char **mf_tree_file_snap_list(MfTree *t, MfTreeNode *n);
int mf_tree_file_snap_info(MfTree *t, MfTreeNode *n, const char *name,
			   uint64_t id, MfEntryInfo *out);
ssize_t mf_tree_file_snap_read(MfTree *t, MfTreeNode *n, uint64_t id,
			       uint64_t off, void *buf, size_t len);
/* The state (page chain and file snapshots) of regular file n, with a
 * reference, checked against changes made outside the mount first, as
 * every look at live snapshots is: -ENOENT if it has none or n's
 * snapshot is gone, -EINVAL if n is no regular file. Its entries are the
 * live file's: mf_state_entry_open() of one n's snapshot saw keeps it
 * readable here after it is deleted, as live. */
int mf_tree_file_state(MfTree *t, MfTreeNode *n, MfState **ret);
/* xattrs as the snapshot has them, with getxattr/listxattr's contract
 * (size 0 asks for the length; -ERANGE, -ENODATA). */
ssize_t mf_tree_getxattr(MfTree *t, MfTreeNode *n, const char *name,
			 void *buf, size_t size);
ssize_t mf_tree_listxattr(MfTree *t, MfTreeNode *n, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* What changed                                                        */

typedef enum MfTreeChange {
	MF_TREE_CREATED,        /* path in b only */
	MF_TREE_REMOVED,        /* path in a only */
	MF_TREE_RENAMED,        /* path in a, to in b: the same object */
	MF_TREE_MODIFIED,       /* attributes or bytes; ranges for bytes */
} MfTreeChange;

typedef struct MfTreeDiffEntry {
	MfTreeChange change;
	const char *path;       /* from the root, "/"-separated, no lead */
	const char *to;         /* MF_TREE_RENAMED */
	unsigned char type;     /* DT_* */
	bool bytes;             /* MODIFIED: its bytes changed (ranges) */
	const uint64_t *ranges; /* [off, len) pairs, page granular */
	size_t nranges;
} MfTreeDiffEntry;

/* What changed from snapshot a to snapshot b (NULL: the live tree), in
 * path order of a then b (names sorted at each level): first what a has
 * (removed, renamed: a directory renamed is reported once, not what moved
 * with it, modified: at its path in b), then what b alone has (created).
 * Only objects with a version between a and b are compared (mode, owner,
 * mtime but a directory's, xattrs, symlink target, bytes, a directory's
 * entries).
 *
 * Costs what changed, not the tree's size: it starts from the objects
 * with a version between a and b (a walk of the versions table, not of
 * the tree), names each in both views by walking up through the places
 * their versions recorded, and reads only the directories on those paths
 * and the changed directories' listings (where what was made since a,
 * and all below it, is found); never a file's bytes: its changed ranges
 * come from its chain. Where the places cannot be told (a version kept
 * before they were recorded, a changed file with several names), it
 * walks the names of both views instead (a live directory's names cost a
 * stat and a handle each): the same answer, at the tree's cost.
 * fn returns nonzero to stop (then 0 is returned). -ENOENT if a or b is
 * no snapshot. */
typedef int (*MfTreeDiffFn)(const MfTreeDiffEntry *e, void *arg);
int mf_tree_diff(MfTree *t, const char *a, const char *b, MfTreeDiffFn fn,
		 void *arg);
/* How many names the diffs so far looked at (looked up, or listed in a
 * directory read): what they cost. 0 without tree snapshots. */
uint64_t mf_tree_diff_work(MfTree *t);
