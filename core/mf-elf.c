/* mf-elf: the section and segment tables of an ELF file, through libelf
 * (elfutils). libelf reads what it is asked for; we check first that the
 * tables it will read lie inside the file and hold sane counts, then that
 * each section's and each loadable segment's bytes do.
 *
 * The mapped layout is what the kernel's loader makes of the PT_LOAD
 * segments: each at p_vaddr relative to the lowest one's page, p_filesz
 * bytes from the file, zeros up to p_memsz and in the gaps.
 */
#include "mf-image-impl.h"

#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <string.h>

#define PAGE 4096u

static gsize elf_ready;

/* A table of n entries of entsize bytes at off: inside the file, entries
 * of the size the class has. */
static int check_table(const MfImageSource *src, const char *what,
		       uint64_t off, uint64_t n, uint64_t entsize,
		       uint64_t want, uint64_t max, char **why)
{
	if (n == 0)
		return 0;
	if (entsize != want)
		return mf_image_bad(why, "%s entries of %" PRIu64 " bytes, not "
				    "%" PRIu64, what, entsize, want);
	if (n > max)
		return mf_image_bad(why, "%s: %" PRIu64 " entries", what, n);
	if (!mf_image_in_file(off, n * entsize, src->size))
		return mf_image_bad(why, "%s past the end of the file", what);
	return 0;
}

static int add_sections(const MfImageSource *src, Elf *e, MfImageBuild *b,
			char **why)
{
	size_t n, strndx;

	if (elf_getshdrnum(e, &n) < 0)
		return mf_image_bad(why, "section count: %s", elf_errmsg(-1));
	if (n == 0)
		return 0;
	if (elf_getshdrstrndx(e, &strndx) < 0 || strndx >= n)
		return mf_image_bad(why, "no valid section name table");
	for (size_t i = 1; i < n; i++) {
		Elf_Scn *scn = elf_getscn(e, i);
		GElf_Shdr sh;
		const char *name;
		MfImageSection s = { .index = (unsigned)i };

		if (!scn || !gelf_getshdr(scn, &sh))
			return mf_image_bad(why, "section %zu: %s", i,
					    elf_errmsg(-1));
		name = elf_strptr(e, strndx, sh.sh_name);
		if (!name)
			return mf_image_bad(why, "section %zu: name outside "
					    "the name table", i);
		s.file_size = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_size;
		s.offset = s.file_size ? sh.sh_offset : 0;
		s.size = sh.sh_size;
		s.vaddr = sh.sh_addr;
		s.flags = sh.sh_flags;
		s.align = sh.sh_addralign;
		s.writable = sh.sh_flags & SHF_WRITE;
		s.name = g_strdup(name);
		g_array_append_val(b->sections, s);
		if (!mf_image_in_file(s.offset, s.file_size, src->size))
			return mf_image_bad(why, "section %s: [0x%" PRIx64
					    ", +0x%" PRIx64 ") past the end "
					    "of the file", name, sh.sh_offset,
					    sh.sh_size);
	}
	return 0;
}

static int by_vaddr(gconstpointer a, gconstpointer b)
{
	const GElf_Phdr *x = a, *y = b;

	return x->p_vaddr < y->p_vaddr ? -1 : x->p_vaddr > y->p_vaddr;
}

static int add_segments(const MfImageSource *src, Elf *e, MfImageBuild *b,
			char **why)
{
	g_autoptr(GArray) loads = g_array_new(FALSE, FALSE, sizeof(GElf_Phdr));
	uint64_t end = 0;
	size_t n;

	if (elf_getphdrnum(e, &n) < 0)
		return mf_image_bad(why, "segment count: %s", elf_errmsg(-1));
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph))
			return mf_image_bad(why, "segment %zu: %s", i,
					    elf_errmsg(-1));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (!mf_image_in_file(ph.p_offset, ph.p_filesz, src->size))
			return mf_image_bad(why, "segment %zu: [0x%" PRIx64
					    ", +0x%" PRIx64 ") past the end "
					    "of the file", i, ph.p_offset,
					    ph.p_filesz);
		if (ph.p_filesz > ph.p_memsz ||
		    ph.p_memsz > UINT64_MAX - ph.p_vaddr)
			return mf_image_bad(why, "segment %zu: sizes that "
					    "overflow or lie", i);
		g_array_append_val(loads, ph);
	}
	if (!loads->len)
		return 0;
	g_array_sort(loads, by_vaddr);
	b->img->base = g_array_index(loads, GElf_Phdr, 0).p_vaddr &
		       ~(uint64_t)(PAGE - 1);
	for (guint i = 0; i < loads->len; i++) {
		GElf_Phdr *ph = &g_array_index(loads, GElf_Phdr, i);

		if (ph->p_vaddr < end)
			return mf_image_bad(why, "loadable segments overlap at "
					    "0x%" PRIx64, ph->p_vaddr);
		end = ph->p_vaddr + ph->p_memsz;
		if (ph->p_filesz)
			g_array_append_val(b->extents, ((MfImageExtent){
				.at = ph->p_vaddr - b->img->base,
				.len = ph->p_filesz,
				.file_off = ph->p_offset }));
	}
	if (end - b->img->base > INT64_MAX)
		return mf_image_bad(why, "loadable segments span more than "
				    "2^63 bytes");
	b->img->mapped_size = end - b->img->base;
	return 0;
}

int mf_elf_parse(const MfImageSource *src, MfImageBuild *b, char **why)
{
	g_autofree char *copy = NULL;
	unsigned char ident[EI_NIDENT];
	GElf_Ehdr eh;
	bool is64;
	Elf *e;
	int r;

	if (src->size < EI_NIDENT)
		return -ENOEXEC;
	r = mf_image_src_read(src, ident, EI_NIDENT, 0, "ELF header", why);
	if (r < 0)
		return r;
	if (memcmp(ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
		return mf_image_bad(why, "ELF class %u", ident[EI_CLASS]);
	is64 = ident[EI_CLASS] == ELFCLASS64;
	if (src->size < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return mf_image_bad(why, "ELF header past the end of the file");
	if (g_once_init_enter(&elf_ready)) {
		elf_version(EV_CURRENT);
		g_once_init_leave(&elf_ready, 1);
	}
	if (src->mem) {
		/* libelf may convert a copy in memory in place. */
		copy = g_memdup2(src->mem, src->size);
		e = elf_memory(copy, src->size);
	} else {
		e = elf_begin(src->fd, ELF_C_READ, NULL);
	}
	if (!e)
		return mf_image_bad(why, "libelf: %s", elf_errmsg(-1));
	if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		r = mf_image_bad(why, "ELF header: %s", elf_errmsg(-1));
		goto out;
	}
	/* What libelf will read, checked before it reads it. e_shnum 0 with
	 * e_shoff set: the count is in section 0 (extended numbering). */
	r = check_table(src, "section header table", eh.e_shoff,
			eh.e_shoff && !eh.e_shnum ? 1 : eh.e_shnum,
			eh.e_shentsize,
			is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr),
			MF_IMAGE_MAX_SECTIONS, why);
	if (r == 0)
		r = check_table(src, "program header table", eh.e_phoff,
				eh.e_phnum, eh.e_phentsize,
				is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr),
				MF_IMAGE_MAX_SEGMENTS, why);
	if (r == 0 && eh.e_shoff && !eh.e_shnum) {
		size_t n;

		if (elf_getshdrnum(e, &n) < 0)
			r = mf_image_bad(why, "section count: %s",
					 elf_errmsg(-1));
		else
			r = check_table(src, "section header table",
					eh.e_shoff, n, eh.e_shentsize,
					eh.e_shentsize, MF_IMAGE_MAX_SECTIONS,
					why);
	}
	if (r == 0)
		r = add_sections(src, e, b, why);
	if (r == 0)
		r = add_segments(src, e, b, why);
out:
	elf_end(e);
	return r;
}
