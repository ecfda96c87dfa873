/* mf-rollback: what changed in a file since one of its snapshots, and
 * putting the snapshot back (mv F@@/snap/NAME F).
 *
 * Both cost what changed, not the file's size: the first change to a page
 * after a snapshot copies the page into the newest snapshot then, so the
 * pages changed since snapshot S are exactly those held by S and by the
 * snapshots newer than S (within S's size), plus what a change of size
 * added or took away.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "mf-state.h"

/* A byte range of the file. */
typedef struct MfRange {
	uint64_t off;
	uint64_t len;
} MfRange;

/* What changed since snapshot name: *ranges (MfRange, in order, apart
 * from each other, whole pages but cut at the larger of the two sizes)
 * covers every byte that may differ between the snapshot and the file
 * as it is now (b; NULL once the file is gone: size 0). A byte past one
 * size and within the other is changed. *snap_size and *size: the two
 * sizes. Returns 0, -ENOENT, -EIO (the snapshots are damaged), -errno. */
int mf_state_snap_changed(MfState *st, MfBacking *b, const char *name,
			  GArray **ranges, uint64_t *snap_size,
			  uint64_t *size);

/* Put snapshot name's bytes and size back into the file and delete the
 * snapshot. Every other snapshot keeps its bytes (the pages the rollback
 * changes go through copy-before-write first), readers through b see the
 * file as before or as after, never a mix (b's resize lock is held
 * exclusively throughout), and it writes only the changed pages.
 *
 * Failure: before the file's first byte changes, every page the other
 * snapshots need is kept, so a store that runs out of space (-ENOSPC)
 * leaves the file and all snapshots as they were. The snapshot goes only
 * once the file holds its bytes: a failure or a crash later (the
 * backing's own filesystem full, the daemon killed) leaves the snapshot
 * and the others intact, and rolling back again finishes the job.
 * *pages, if not NULL, gets the number of pages written back.
 * Returns 0, -ENOENT, -EBUSY (it is being rolled back already), -EIO
 * (damaged), -ENOSPC, -errno. */
int mf_state_snap_rollback(MfState *st, MfBacking *b, const char *name,
			   uint64_t *pages);

/* Did a rollback to snapshot name begin to change the file and not finish
 * (a crash, or a failure after the first change)? Then the file is partly
 * rolled back, and rolling back again finishes it. */
bool mf_state_snap_interrupted(MfState *st, const char *name);
