/* mf-store: a page store, the private pages of a cow view or the preserved
 * pages of a snapshot. Two files in one directory: "pages", sparse, page N
 * at offset N * MF_PAGE, and "map", one presence bit per page.
 *
 * Crash safety: a page's bytes are written before its presence bit, so a
 * crash between the two leaves the page absent, never half there; with
 * sync, both are on disk before mf_store_put() returns.
 * The map is read and written with pread/pwrite, never cached whole in
 * memory: the daemon's footprint does not grow with the file.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define MF_PAGE 4096u

typedef struct MfStore MfStore;

/* Open the store in directory dirfd (not taken), creating its files if
 * create. Returns 0 or -errno. */
int mf_store_open(int dirfd, bool create, MfStore **ret);
void mf_store_close(MfStore *s);

/* Does the store hold page? Returns 1, 0, or -errno. */
int mf_store_has(MfStore *s, uint64_t page);
/* Read a held page into buf (MF_PAGE bytes). Returns 0 or -errno. */
int mf_store_get(MfStore *s, uint64_t page, void *buf);
/* Hold page with data (MF_PAGE bytes; NULL: a page of zeros, kept as a
 * hole). Returns 0 or -errno (ENOSPC...); on error the page is absent. */
int mf_store_put(MfStore *s, uint64_t page, const void *data, bool sync);
/* Hold page with the bytes of the same page of file fd, which holds it
 * whole. Returns 0 or -errno (-EIO: fd is shorter). */
int mf_store_copy(MfStore *s, uint64_t page, int fd, bool sync);
/* Pages held. */
uint64_t mf_store_count(MfStore *s);
/* Call fn for every held page below limit, in order; stops at the first
 * non-zero return and returns it. */
int mf_store_foreach(MfStore *s, uint64_t limit,
		     int (*fn)(uint64_t page, void *arg), void *arg);
