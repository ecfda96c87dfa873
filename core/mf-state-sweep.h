/* mf-state-sweep: whole file records removed from the state directory,
 * for files that live only as long as the mount (.shm objects): their
 * snapshots and private views go at unmount, and whatever a daemon that
 * died left of them goes at the next mount. */
#pragma once

#include <stdint.h>

#include "mf-state.h"

/* Remove files/INO, with everything under it, for every INO in [from, to].
 * No state of those files may be in use. Returns how many went, or
 * -errno if the directory cannot be read. */
int mf_statedir_sweep(MfStateDir *sd, uint64_t from, uint64_t to);
