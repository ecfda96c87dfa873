/* mf-pe: the headers of a PE file (.exe, .dll), by our own parser: Debian
 * has no library for them. Every field is read from a copy of the header
 * bytes after checking that they lie inside the file, and every sum is
 * made in 64 bits from 32-bit fields, so none overflows. Fuzzed with
 * tests/fuzz (scripts/fuzz).
 *
 * Layout (PE/COFF specification): the DOS header, whose e_lfanew (at 0x3c)
 * points at "PE\0\0"; the 20-byte COFF header; the optional header (PE32,
 * magic 0x10b, or PE32+, 0x20b) of SizeOfOptionalHeader bytes; then
 * NumberOfSections 40-byte section headers.
 */
#include "mf-image-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define PE_MAX_SECTIONS 96      /* what the Windows loader accepts */
#define SCN_MEM_WRITE 0x80000000u

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

typedef struct PeHeaders {
	uint64_t image_base;
	uint32_t section_align, size_of_image, size_of_headers;
	uint16_t nsections;
	uint64_t table;         /* file offset of the section table */
} PeHeaders;

/* DOS, COFF and optional headers. -ENOEXEC without *why: not PE. */
static int read_headers(const MfImageSource *src, PeHeaders *h, char **why)
{
	uint8_t dos[64], nt[24], opt[112];
	uint32_t lfanew;
	uint16_t opt_size, magic;
	size_t need;
	int r;

	if (src->size < 2)
		return -ENOEXEC;
	r = mf_image_src_read(src, dos, 2, 0, "DOS header", why);
	if (r < 0)
		return r;
	if (dos[0] != 'M' || dos[1] != 'Z')
		return -ENOEXEC;
	r = mf_image_src_read(src, dos, sizeof(dos), 0, "DOS header", why);
	if (r < 0)
		return r;
	lfanew = le32(dos + 0x3c);
	r = mf_image_src_read(src, nt, sizeof(nt), lfanew,
			      "PE header (e_lfanew)", why);
	if (r < 0)
		return r;
	if (memcmp(nt, "PE\0\0", 4) != 0)
		return mf_image_bad(why, "MZ file without a PE signature at "
				    "e_lfanew 0x%" PRIx32, lfanew);
	h->nsections = le16(nt + 6);
	opt_size = le16(nt + 20);
	if (h->nsections > PE_MAX_SECTIONS)
		return mf_image_bad(why, "NumberOfSections %u: more than %u",
				    h->nsections, PE_MAX_SECTIONS);
	if (opt_size < 2)
		return mf_image_bad(why, "no optional header: an object file, "
				    "not an image");
	r = mf_image_src_read(src, opt, 2, (uint64_t)lfanew + 24,
			      "optional header", why);
	if (r < 0)
		return r;
	magic = le16(opt);
	if (magic != 0x10b && magic != 0x20b)
		return mf_image_bad(why, "optional header magic 0x%x: neither "
				    "PE32 nor PE32+", magic);
	/* Up to and including NumberOfRvaAndSizes. */
	need = magic == 0x10b ? 96 : 112;
	if (opt_size < need)
		return mf_image_bad(why, "SizeOfOptionalHeader %u: too small "
				    "for its fields", opt_size);
	r = mf_image_src_read(src, opt, need, (uint64_t)lfanew + 24,
			      "optional header", why);
	if (r < 0)
		return r;
	h->image_base = magic == 0x10b ? le32(opt + 28) : le64(opt + 24);
	h->section_align = le32(opt + 32);
	h->size_of_image = le32(opt + 56);
	h->size_of_headers = le32(opt + 60);
	h->table = (uint64_t)lfanew + 24 + opt_size;
	if (!mf_image_in_file(h->table, (uint64_t)h->nsections * 40,
			      src->size))
		return mf_image_bad(why, "section table past the end of the "
				    "file");
	if (!mf_image_in_file(0, h->size_of_headers, src->size))
		return mf_image_bad(why, "SizeOfHeaders %" PRIu32 " past the "
				    "end of the file", h->size_of_headers);
	if (h->size_of_headers > h->size_of_image)
		return mf_image_bad(why, "SizeOfHeaders %" PRIu32 " larger "
				    "than SizeOfImage %" PRIu32,
				    h->size_of_headers, h->size_of_image);
	return 0;
}

/* Section i's header at p. */
static int add_section(const MfImageSource *src, MfImageBuild *b,
		       const PeHeaders *h, unsigned i, const uint8_t *p,
		       char **why)
{
	MfImageSection s = { .index = i + 1 };
	uint32_t vsize = le32(p + 8), va = le32(p + 12), raw = le32(p + 16);
	uint32_t ptr = le32(p + 20);
	uint64_t span, mapped;
	char name[9];

	memcpy(name, p, 8);
	name[8] = '\0';
	s.name = g_strdup(name);        /* up to its first NUL */
	s.offset = raw ? ptr : 0;
	s.file_size = raw;
	/* A VirtualSize of 0 (some linkers): the raw size. */
	span = vsize ? vsize : raw;
	s.size = MAX(span, (uint64_t)raw);
	s.vaddr = h->image_base + va;
	s.flags = le32(p + 36);
	s.align = h->section_align;
	s.writable = s.flags & SCN_MEM_WRITE;
	g_array_append_val(b->sections, s);
	if (!mf_image_in_file(s.offset, s.file_size, src->size))
		return mf_image_bad(why, "section %s: raw data [0x%" PRIx32
				    ", +0x%" PRIx32 ") past the end of the "
				    "file", s.name, ptr, raw);
	if ((uint64_t)va + span > h->size_of_image)
		return mf_image_bad(why, "section %s: [0x%" PRIx32 ", +0x%"
				    PRIx64 ") past SizeOfImage 0x%" PRIx32,
				    s.name, va, span, h->size_of_image);
	/* The loader copies the raw bytes up to the virtual size. */
	mapped = MIN(span, (uint64_t)raw);
	if (mapped)
		g_array_append_val(b->extents, ((MfImageExtent){
			.at = va, .len = mapped, .file_off = ptr }));
	return 0;
}

int mf_pe_parse(const MfImageSource *src, MfImageBuild *b, char **why)
{
	g_autofree uint8_t *table = NULL;
	uint64_t prev_end = 0;
	PeHeaders h = { 0 };
	int r = read_headers(src, &h, why);

	if (r < 0)
		return r;
	table = g_malloc((size_t)h.nsections * 40 + 1);
	r = mf_image_src_read(src, table, (size_t)h.nsections * 40, h.table,
			      "section table", why);
	if (r < 0)
		return r;
	b->img->base = h.image_base;
	b->img->mapped_size = h.size_of_image;
	if (h.size_of_headers)
		g_array_append_val(b->extents, ((MfImageExtent){
			.at = 0, .len = h.size_of_headers, .file_off = 0 }));
	for (unsigned i = 0; i < h.nsections; i++) {
		r = add_section(src, b, &h, i, table + (size_t)i * 40, why);
		if (r < 0)
			return r;
	}
	/* Sections in memory: in order, none over another or the headers. */
	for (unsigned i = 0; i < h.nsections; i++) {
		const uint8_t *p = table + (size_t)i * 40;
		uint32_t vsize = le32(p + 8), va = le32(p + 12);
		uint64_t span = vsize ? vsize : le32(p + 16);

		if (va < MAX(prev_end, (uint64_t)h.size_of_headers))
			return mf_image_bad(why, "section %u at 0x%" PRIx32
					    " overlaps the one before it or "
					    "the headers", i + 1, va);
		prev_end = (uint64_t)va + span;
	}
	return 0;
}
