/* mf-image-impl: what the format parsers (mf-elf.c, mf-pe.c) share with
 * mf-image.c. Not for other callers.
 */
#pragma once

#include <glib.h>

#include "mf-image.h"

/* The bytes being parsed: a file (fd >= 0) or memory. */
typedef struct MfImageSource {
	int fd;
	const uint8_t *mem;
	uint64_t size;
} MfImageSource;

/* Read exactly len bytes at off. Returns 0, -ENOEXEC (with *why) when
 * they are not all inside the file, or -errno. */
int mf_image_src_read(const MfImageSource *src, void *buf, size_t len,
		      uint64_t off, const char *what, char **why);

/* Set *why to the printf text and return -ENOEXEC. */
int mf_image_bad(char **why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Do [off, off+len) lie inside a file of size bytes? (No overflow.) */
static inline bool mf_image_in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Builders: img->sections and img->extents are GArrays while parsing. */
typedef struct MfImageBuild {
	MfImage *img;
	GArray *sections;       /* MfImageSection */
	GArray *extents;        /* MfImageExtent */
} MfImageBuild;

/* Format parsers: fill b from src. Return 0, -ENOEXEC with *why, or
 * -errno. mf_elf_parse answers -ENOEXEC with *why NULL for a file that is
 * not ELF at all (so the next format may be tried); mf_pe_parse too. */
int mf_elf_parse(const MfImageSource *src, MfImageBuild *b, char **why);
int mf_pe_parse(const MfImageSource *src, MfImageBuild *b, char **why);
