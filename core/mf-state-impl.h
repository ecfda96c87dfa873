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
	GHashTable *by_ino;     /* ino -> MfState*, while referenced; lock */
};

/* A snapshot or a private view: a named page store. */
typedef struct Entry {
	char *name;
	MfStore *store;
	uint64_t seq;           /* snapshots: order of taking */
	uint64_t size;          /* snapshots: the file's size when taken */
	struct timespec taken;
} Entry;

struct MfState {
	gint refs;
	MfStateDir *sd;
	uint64_t ino;
	int dir_fd;             /* files/INO */
	int snap_fd;            /* files/INO/snap */
	int cow_fd;             /* files/INO/cow */
	GMutex lock;            /* everything below */
	GPtrArray *snaps;       /* Entry*, oldest first */
	GHashTable *cows;       /* name -> Entry* */
	uint64_t next_seq;
	uint64_t next_tmp;      /* names entries while they are made */
	bool damaged;
	Entry *rolling;         /* the snapshot being rolled back, if any:
				 * not deleted nor renamed meanwhile */
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

/* The change hooks (MfChangeHooks.before and .after). */
int mf_state_preserve(void *arg, MfBacking *b, uint64_t off, uint64_t len);
void mf_state_changed(void *arg, MfBacking *b);
