/* mf-image: the section table of an executable image, and the image as
 * the loader lays it out (SEC_IMAGE of mapfs). ELF files are read through
 * libelf (mf-elf.c), PE files (.exe, .dll) by our own bounds-checked parser
 * (mf-pe.c). No FUSE here: fs/image.c turns an MfImage into the views of
 * F@@/image/.
 *
 * Invariants of a parsed image, whatever the bytes it came from: every
 * section's file bytes [offset, offset + file_size) and every extent's lie
 * inside the file as it was when parsed; no two sections' file bytes
 * overlap; the extents are sorted, do not overlap and end within
 * mapped_size. A file whose headers break any of these is no image.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum MfImageFormat {
	MF_IMAGE_ELF,
	MF_IMAGE_PE,
} MfImageFormat;

typedef struct MfImageSection {
	char *name;             /* as the headers name it */
	char *shown;            /* its name in F@@/image/ (mf_image_entry_name
				 * rules), or NULL: not shown */
	unsigned index;         /* ELF: readelf's [Nr]; PE: 1-based */
	uint64_t offset;        /* where its bytes lie in the file */
	uint64_t file_size;     /* bytes in the file (0: .bss and the like) */
	uint64_t size;          /* bytes the view shows: file_size, then
				 * zeros up to the virtual size */
	uint64_t vaddr;         /* virtual address, as the headers say */
	uint64_t flags;         /* ELF sh_flags, PE Characteristics */
	uint64_t align;         /* ELF sh_addralign; PE SectionAlignment */
	bool writable;          /* SHF_WRITE, IMAGE_SCN_MEM_WRITE */
} MfImageSection;

/* A run of the mapped image that comes from the file; the rest of the
 * mapped image reads as zeros. */
typedef struct MfImageExtent {
	uint64_t at;            /* offset in the mapped image */
	uint64_t len;
	uint64_t file_off;
} MfImageExtent;

typedef struct MfImage {
	MfImageFormat format;
	MfImageSection *sections;
	size_t nsections;
	MfImageExtent *extents;
	size_t nextents;
	uint64_t base;          /* image base the mapped layout is relative to */
	uint64_t mapped_size;   /* 0: nothing loadable (an ELF object file) */
} MfImage;

/* Limits beyond which headers are taken as lying. */
#define MF_IMAGE_MAX_SECTIONS 65536     /* ELF; PE allows 96 */
#define MF_IMAGE_MAX_SEGMENTS 65536

/* Parse the file fd of size bytes, read with pread (its offset is not
 * used). Returns 0 and *ret (mf_image_free it), -ENOEXEC when the file is
 * not an image or its headers are truncated, malformed or lie, with *why
 * telling which (g_free it), or -errno of a read. */
int mf_image_parse_fd(int fd, uint64_t size, MfImage **ret, char **why);
/* The same for bytes in memory. */
int mf_image_parse_mem(const void *buf, size_t size, MfImage **ret,
		       char **why);
void mf_image_free(MfImage *img);
const char *mf_image_format_name(MfImageFormat f);

/* The section shown as name in F@@/image/, or NULL. */
const MfImageSection *mf_image_find(const MfImage *img, const char *name);

/* Copy the mapped image's bytes [off, off+len) into buf: file bytes
 * through read(arg, file_off, buf, n), which returns bytes (short at EOF:
 * the rest reads as zeros) or -errno; zeros elsewhere. Returns bytes
 * copied (short only at mapped_size) or read()'s -errno. */
typedef ssize_t (*MfImageReadFn)(void *arg, uint64_t file_off, void *buf,
				 size_t n);
ssize_t mf_image_mapped_read(const MfImage *img, uint64_t off, void *buf,
			     size_t len, MfImageReadFn read, void *arg);
