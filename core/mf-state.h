/* mf-state: the snapshots and private (cow) views of one file, kept in the
 * state directory, and the copy-before-write that keeps snapshots frozen.
 *
 * Layout, below the state directory (KEY: see mf_state_get()):
 *   files/KEY/meta                the file's record (GKeyFile)
 *   files/KEY/snap/NAME/{meta,pages,map}   one snapshot: its size, time,
 *                                 sequence number and identity, and its
 *                                 page store
 *   files/KEY/cow/NAME/{meta,pages,map}    one private view's pages
 *   files/KEY/{snap,cow}/.deleted-ID       one deleted while open
 * Entries are made under a ".new-" name and renamed into place, so a crash
 * leaves either nothing or a whole entry.
 *
 * Chained copy-before-write: snapshots are ordered by sequence number. The
 * first change to a page after the newest snapshot was taken copies the old
 * page into that snapshot only. A snapshot reading a page it does not hold
 * looks to the next newer snapshots, then to the live file: whoever holds
 * it first has the bytes it had when taken. A page that lies past the
 * newest snapshot's size needs no copy: truncation copied it already to
 * whichever snapshot could see it.
 *
 * Locking: a backing's resize lock (mf-backing.h) before a state's lock.
 * The change hook runs with the backing locked and takes the state's lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "mf-backing.h"

typedef struct MfStateDir MfStateDir;
typedef struct MfState MfState;

typedef struct MfEntryInfo {
	uint64_t size;          /* a snapshot's size when taken */
	struct timespec taken;  /* when taken (or created, for cow views) */
	uint64_t pages;         /* pages held in the store */
	uint64_t id;            /* its identity (below) */
	uint64_t seq;           /* a snapshot's place in the chain, which tree
				 * snapshots' numbers share */
} MfEntryInfo;

/* Open (creating files/ under it) the state directory dirfd (dup'd).
 * With sync, store writes are on disk before the file changes. */
int mf_statedir_open(int dirfd, bool sync, MfStateDir **ret);
void mf_statedir_free(MfStateDir *sd);

/* The state of the file fd (O_PATH will do). Returns 0 with a new
 * reference, -ENOENT if it has none and create is false, or -errno.
 * It is kept under files/INO-BIRTH (its inode number and birth time,
 * where the filesystem has one; else files/INO): a file that gets the
 * inode number of a removed one never finds the old one's state. A state
 * made by an older mapfs (files/INO) is taken over, and marked damaged,
 * snapshots and private views alike, if its record of the file's size
 * and mtime does not match. */
int mf_state_get(MfStateDir *sd, int fd, bool create, MfState **ret);
/* False when the file with inode number ino certainly has no state (then
 * mf_state_get() without create fails with -ENOENT): known without a
 * system call, so that the files with none cost none. */
bool mf_state_may_exist(MfStateDir *sd, uint64_t ino);
/* The state kept under files/INO for an object that is not a file of the
 * backing tree and that no other object shares ino with (.shm objects). */
int mf_state_get_ino(MfStateDir *sd, uint64_t ino, bool create,
		     MfState **ret);
MfState *mf_state_ref(MfState *st);
void mf_state_unref(MfState *st);
/* Make b's changes go through st's copy-before-write. Idempotent. */
void mf_state_attach(MfState *st, MfBacking *b);
/* True if the file was changed outside the mount while its snapshots
 * existed: they can no longer be trusted, and are not read. */
bool mf_state_damaged(MfState *st);
/* Check the file as it is now (fd: the file, O_PATH will do) against what
 * the state last saw: at the first look after loading, against its record
 * of a clean release; later, against our own last change. A difference while
 * no change of ours is under way marks the snapshots damaged (logged,
 * and kept). Returns mf_state_damaged(). */
bool mf_state_verify(MfState *st, int fd);
/* The mount itself changes the file other than through its backing (its
 * times): not a bypass. begin before the change, end after it with an
 * fd of the file (O_PATH will do). */
void mf_state_change_begin(MfState *st);
void mf_state_change_end(MfState *st, int fd);

/* No snapshot or private view, not even one deleted but still open,
 * nor a hidden entry of tree snapshots? */
bool mf_state_empty(MfState *st);
/* Has it snapshots or private views that users name (even deleted ones
 * still open), hidden entries of tree snapshots aside? */
bool mf_state_has_named(MfState *st);
/* The file has no snapshot or private view left and is gone: remove its
 * record, so a file that gets its inode number later starts clean.
 * Returns 0, -ENOTEMPTY, or -errno. */
int mf_state_purge(MfState *st);

/* Names: not empty, ".", "..", nor starting with '.', no '/' or ':',
 * at most NAME_MAX bytes. Returns 0 or -EINVAL. */
int mf_state_check_name(const char *name);

/* Snapshots. b is the live file (NULL once it is gone). */
int mf_state_snap_create(MfState *st, MfBacking *b, const char *name);
int mf_state_snap_delete(MfState *st, const char *name);
int mf_state_snap_rename(MfState *st, const char *from, const char *to);
int mf_state_snap_info(MfState *st, const char *name, MfEntryInfo *out);
/* Names, oldest first. g_strfreev() it. */
char **mf_state_snap_list(MfState *st);
/* Copy bytes [off, off+len) of snapshot name into buf. Returns bytes
 * (short at its size) or -errno. */
ssize_t mf_state_snap_read(MfState *st, MfBacking *b, const char *name,
			   uint64_t off, void *buf, size_t len);

/* Private views: pages written through one are its own; the others
 * follow the live file. Its size is the file's. */
int mf_state_cow_create(MfState *st, const char *name);
int mf_state_cow_delete(MfState *st, const char *name);
int mf_state_cow_info(MfState *st, const char *name, MfEntryInfo *out);
char **mf_state_cow_list(MfState *st);
ssize_t mf_state_cow_read(MfState *st, MfBacking *b, const char *name,
			  uint64_t off, void *buf, size_t len);
/* Returns len or -errno: -EFBIG past the file's size. */
ssize_t mf_state_cow_write(MfState *st, MfBacking *b, const char *name,
			   uint64_t off, const void *buf, size_t len);
/* Write the view's pages into the file as one step for readers through
 * the backing, then drop the view. Returns 0 or -errno. */
int mf_state_cow_commit(MfState *st, MfBacking *b, const char *name);

/* Entries by identity. Every snapshot and private view has one, never
 * reused and kept by a rename (MfEntryInfo.id): an open view is bound to
 * it, not to the name, so it never reaches another entry's bytes.
 * info, read: -ENOENT once the entry is gone. write: private views only
 * (-ENOENT for a snapshot). */
int mf_state_entry_info(MfState *st, uint64_t id, MfEntryInfo *out);
ssize_t mf_state_entry_read(MfState *st, MfBacking *b, uint64_t id,
			    uint64_t off, void *buf, size_t len);
ssize_t mf_state_entry_write(MfState *st, MfBacking *b, uint64_t id,
			     uint64_t off, const void *buf, size_t len);
/* An open descriptor of entry id (0 or -ENOENT), and its close. While one
 * is open the state stays loaded, and deleting the entry only takes its
 * name away: its bytes stay readable (a snapshot stays in the chain) until
 * the last close, which removes it and returns 1 (else 0 or -errno). A
 * daemon stopped meanwhile finishes the removal when the state is next
 * loaded (mf_statedir_open() sweeps them). */
int mf_state_entry_open(MfState *st, uint64_t id);
int mf_state_entry_close(MfState *st, uint64_t id);

/* ------------------------------------------------------------------ */
/* The chain as tree snapshots use it (mf-tree.h)                      */

/* A fresh sequence number from the counter entry identities come from
 * (a clock in nanoseconds at the start, counted up, above every number
 * loaded): file snapshots take theirs from it too, so that file and tree
 * snapshots order in one chain. */
uint64_t mf_statedir_next_seq(MfStateDir *sd);
/* seq was handed out by an earlier mount: later numbers lie above it. */
void mf_statedir_seen_seq(MfStateDir *sd, uint64_t seq);

/* Hidden entries: the chain entries of tree snapshots, kept under
 * files/KEY/tree/SEQ. They hold pages as snapshots do (one copy per first
 * write, shared with the file snapshots), but have no name: never listed
 * by mf_state_snap_list(), found by name, nor shown in F@@/snap; they do
 * keep the state from being empty (mf_state_empty()).
 *
 * Before the first change to the file after tree snapshot seq: keep the
 * file as it is now (size: its size) for the tree snapshots at or before
 * seq, unless an entry at seq exists already, as a hidden entry at seq,
 * in sequence order. (Even when a newer file snapshot exists: if that one
 * is deleted, its pages go to the hidden entry, which tree snapshot seq
 * reads through.) b, if not NULL, is the live file: the state is attached
 * to it. Returns 0 or -errno (-ENOSPC: the change must not go on). */
int mf_state_tree_keep(MfState *st, MfBacking *b, uint64_t seq,
		       uint64_t size);
/* The size of the file as tree snapshot seq sees it: that of the oldest
 * entry (of either kind) at or after seq. -ENOENT when there is none: the
 * file has not changed since seq, read it live. */
int mf_state_tree_size(MfState *st, uint64_t seq, uint64_t *size);
/* Copy bytes [off, off+len) of the file as tree snapshot seq sees it: the
 * chain from the oldest entry at or after seq, then the live file b (NULL
 * once it is gone). Returns bytes (short at its size), -ENOENT (no such
 * entry: read the live file), -EIO (damaged) or -errno. */
ssize_t mf_state_tree_read(MfState *st, MfBacking *b, uint64_t seq,
			   uint64_t off, void *buf, size_t len);
/* Remove every hidden entry that no tree snapshot in live_seqs (n of
 * them, any order) needs, handing its pages to the older entries as a
 * deleted snapshot does. Snapshot T needs hidden entry E iff E is the
 * oldest hidden entry at or after T: T reads from the oldest entry of
 * either kind at or after it on, but a file snapshot between T and E may
 * be deleted, and its pages then go to E. Returns the number of entries
 * removed or -errno. */
int mf_state_tree_gc(MfState *st, const uint64_t *live_seqs, size_t n);
/* What changed between tree snapshots a and b (b 0: the live file): the
 * pages held by the entries whose sequence number lies in [a, b), below
 * the size a saw (*pages: sorted, each once, g_free() it; *npages), and
 * the two sizes (the oldest entry's at or after each, else the live file
 * bl's; 0 if bl is NULL): together they cover every byte that may differ.
 * Returns 0, -EIO (damaged) or -errno. */
int mf_state_tree_changed(MfState *st, MfBacking *bl, uint64_t a, uint64_t b,
			  uint64_t **pages, size_t *npages, uint64_t *size_a,
			  uint64_t *size_b);
