/* mf-state-impl: what mf-state.c (file states, the chain, snapshots) and
 * mf-cow.c (private views) share inside core/. Not for fs/. */
#pragma once

#include <glib.h>

#include "mf-state.h"
#include "mf-store.h"

struct MfStateDir {
	int files_fd;
	bool sync;
	GMutex lock;
	GHashTable *by_ino;     /* key -> MfState*, while referenced; lock */
	GHashTable *present;    /* keys with a directory under files/ (or
				 * had: a purge leaves its key); lock */
	GHashTable *present_ino; /* the inode numbers that begin those keys
				  * (GSIZE_TO_POINTER); lock */
	bool present_all;       /* present lists them all: none outside it */
	uint64_t next_id;       /* entry identities (atomic): see mf_entry_id() */
};

/* A snapshot or a private view: a named page store. */
typedef struct Entry {
	char *name;
	MfStore *store;
	uint64_t seq;           /* snapshots: order of taking */
	uint64_t size;          /* snapshots: the file's size when taken */
	struct timespec taken;
	uint64_t id;            /* its identity: never reused, kept by renames */
	unsigned opens;         /* open descriptors (mf_state_entry_open) */
	bool deleted;           /* deleted while open: out of sight under a
				 * ".deleted-ID" name until the last close */
	bool tree;              /* a hidden entry for tree snapshots
				 * (files/KEY/tree/SEQ): no name to users */
} Entry;

struct MfState {
	gint refs;
	MfStateDir *sd;
	uint64_t ino;
	char *key;              /* its directory's name under files/ */
	int dir_fd;             /* files/KEY */
	int snap_fd;            /* files/KEY/snap */
	int cow_fd;             /* files/KEY/cow */
	int tree_fd;            /* files/KEY/tree, -1 until the first hidden
				 * entry (mf-state-tree.c) */
	GMutex lock;            /* everything below */
	GPtrArray *snaps;       /* Entry*, oldest first */
	GHashTable *cows;       /* name -> Entry* */
	uint64_t next_seq;
	uint64_t next_tmp;      /* names entries while they are made */
	bool damaged;
	Entry *rolling;         /* the snapshot being rolled back, if any:
				 * not deleted nor renamed meanwhile */
	bool replaced;          /* maybe another file's (mf_state_get): its
				 * private views are not served either */
	MfBacking *attached;    /* whose hooks we are; no reference */
	/* Bypass detection: the file's mtime and size after our last change.
	 * While no change of ours is under way (busy == 0), any other value
	 * means someone changed the file outside the mount. */
	unsigned busy;
	bool seen_valid;
	struct timespec seen_mtime;
	off_t seen_size;
};

void mf_entry_free(Entry *e);
/* The cow entry named name (NULL: with identity id), not deleted ones by
 * name; NULL if none. Lock held. */
Entry *mf_cow_find(MfState *st, const char *name, uint64_t id);
/* Take e out of sight while descriptors still use it: renamed to a
 * ".deleted-ID" name that loading finishes removing. Lock held. */
int mf_entry_hide(MfState *st, int kind_fd, Entry *e);
/* Make a new entry (meta, store) under kind_fd, whole or not at all. */
int mf_entry_make(MfState *st, int kind_fd, const char *name, GKeyFile *meta,
		  Entry **ret);
/* Remove entry name whole or not at all. */
int mf_entry_discard(MfState *st, int kind_fd, const char *name);
void mf_entry_info(const Entry *e, MfEntryInfo *out);

/* Copy [off, off+len) into out page by page, fn filling each whole page.
 * Returns bytes or -errno. */
typedef int (*MfPageFn)(void *ctx, uint64_t p, char *buf);
ssize_t mf_copy_pages(MfPageFn fn, void *ctx, uint64_t off, void *out,
		      size_t len);

/* Page p as snapshot number i sees it (b NULL: the file is gone).
 * Lock held. Returns 0 or -errno. */
int mf_snap_page(MfState *st, guint i, MfBacking *b, uint64_t p, char *buf);
/* The snapshot named name (not a deleted one), and its index in the
 * chain in *index (may be NULL). Lock held. */
Entry *mf_snap_find(MfState *st, const char *name, guint *index);
/* Remove snapshot number i (of either kind) from the chain and from the
 * disk, handing its pages to the older ones. Lock held. */
int mf_snap_remove_locked(MfState *st, guint i);
/* Load the entries of one kind (snap/, cow/ or tree/). */
int mf_load_entries(MfState *st, int kind_fd, bool snaps, bool tree);
/* The pages entries i..end-1 of the chain hold below limit: sorted, each
 * once (mf-rollback.c). Lock held. */
int mf_changed_pages(MfState *st, guint i, guint end, uint64_t limit,
		     GArray **ret);
/* Read [off, off+len) of the chain from the entry pick(st, arg, &index)
 * finds (lock held; NULL: -ENOENT), short at that entry's size: the
 * reads of snapshots and of tree snapshots. Takes b's and st's locks. */
typedef Entry *(*MfEntryPick)(MfState *st, const void *arg, guint *index);
ssize_t mf_chain_read(MfState *st, MfBacking *b, MfEntryPick pick,
		      const void *arg, uint64_t off, void *buf, size_t len);
/* Read cow view name (NULL: the one with identity id). */
ssize_t mf_cow_read(MfState *st, MfBacking *b, const char *name, uint64_t id,
		    uint64_t off, void *buf, size_t len);

/* The change hooks (MfChangeHooks.before and .after). */
int mf_state_preserve(void *arg, MfBacking *b, uint64_t off, uint64_t len);
void mf_state_changed(void *arg, MfBacking *b);
