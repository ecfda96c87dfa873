/* mf-view: a view is a byte window of one backing file with a mode, the
 * MapViewOfFile of mapfs. This module parses view names and maps view
 * offsets onto the backing file; the bytes themselves move through the
 * backing's windows, so every view of a file is coherent with the file.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mf-backing.h"

typedef enum MfViewMode {
	MF_VIEW_RW,     /* shared, writable: FILE_MAP_WRITE */
	MF_VIEW_RO,     /* shared, read-only: FILE_MAP_READ */
	MF_VIEW_COW,    /* private: FILE_MAP_COPY (mf-state.h) */
	MF_VIEW_SNAP,   /* frozen: a snapshot (mf-state.h) */
} MfViewMode;

typedef struct MfViewSpec {
	MfViewMode mode;
	uint64_t off;   /* first byte of the file the view shows */
	uint64_t len;   /* bytes at most; UINT64_MAX: to the end */
	bool window;    /* named with a :OFFSET[+LENGTH] suffix */
	/* Views of an executable image (F@@/image/, mf-image.h): */
	uint64_t zeros; /* a section: bytes of zeros after the window, shown
			 * when the file holds all of the window */
	bool mapped;    /* the image as the loader maps it; len is its size */
} MfViewSpec;

/* Parse a view name: "rw", "ro", optionally followed by ":OFFSET" or
 * ":OFFSET+LENGTH" (numbers as mf_parse_size takes them).
 * Returns 0, -ENOENT for a name that is no view, -EINVAL for a bad or
 * overflowing window. */
int mf_view_spec_parse(const char *name, MfViewSpec *out);
/* Parse a named view of mode (cow, snap): "NAME" or "NAME:WINDOW". Sets
 * *name (g_free it) and out. Returns 0 or -EINVAL for a bad window. */
int mf_view_spec_parse_named(const char *s, MfViewMode mode, char **name,
			     MfViewSpec *out);
/* The canonical name ("ro:4096+512"): one per distinct view. g_free it. */
char *mf_view_spec_name(const MfViewSpec *s);
const char *mf_view_mode_name(MfViewMode mode);

/* The view's size for a file of file_size bytes: the bytes of the window
 * that exist, never below 0, then its zeros if all of the window does
 * (a mapped image: len). */
uint64_t mf_view_size(const MfViewSpec *s, uint64_t file_size);
/* Where the view's byte voff lies in the file. */
static inline uint64_t mf_view_file_offset(const MfViewSpec *s, uint64_t voff)
{
	return s->off + voff;
}

/* Read as mf_backing_read(), at view offset voff; past the window, its
 * zeros. Not for mapped images (fs/image.c reads those). */
ssize_t mf_view_read(MfBacking *b, const MfViewSpec *s, uint64_t voff,
		     size_t len, MfReadVec *out);
/* Write at view offset voff. A write inside an rw window may extend the
 * file up to the window's end. Returns bytes written, -EROFS for ro,
 * -EFBIG when any byte lies past the window's end (nothing is written),
 * or mf_backing_write()'s errors. */
ssize_t mf_view_write(MfBacking *b, const MfViewSpec *s, uint64_t voff,
		      const void *buf, size_t len);
/* Only the whole-file rw view truncates (the file). Returns 0, -EROFS for
 * ro, -EPERM for a window. */
int mf_view_truncate(MfBacking *b, const MfViewSpec *s, uint64_t size);
/* FlushViewOfFile: write back exactly the view's range of the file, or
 * the whole file (and its metadata) for a whole-file view. Returns 0 or
 * -errno. */
int mf_view_flush(MfBacking *b, const MfViewSpec *s, bool datasync);
