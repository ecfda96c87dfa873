/* test-image: the section tables and mapped layouts of core/mf-image, on
 * the files of tests/fuzz/corpus (CORPUS_DIR): ok-* are images (PE32 and
 * PE32+ from mkpe.py, ELF64 executable and object, ELF32 object), bad-*
 * have headers that are truncated, malformed or lie (made by
 * tests/image/mkpe.py and mkelf.py), the rest are the fuzzer's finds.
 * Every one is parsed from memory and from a file, which must agree.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-image.h"
#include "mf-view.h"

static GBytes *load(const char *name)
{
	g_autofree char *path = g_build_filename(CORPUS_DIR, name, NULL);
	g_autoptr(GError) err = NULL;
	char *data;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &err))
		fail_msg("%s: %s", path, err->message);
	return g_bytes_new_take(data, len);
}

static int parse_path(const char *path, MfImage **img, char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int r;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	r = mf_image_parse_fd(fd, (uint64_t)st.st_size, img, why);
	close(fd);
	return r;
}

/* Every corpus file: ok-* parse, bad-* are refused with a reason, all
 * parse the same from a file as from memory. */
static void test_corpus(void **state)
{
	g_autoptr(GDir) dir = g_dir_open(CORPUS_DIR, 0, NULL);
	const char *name;
	unsigned ok = 0, bad = 0;

	(void)state;
	assert_non_null(dir);
	while ((name = g_dir_read_name(dir))) {
		g_autoptr(GBytes) bytes = load(name);
		g_autofree char *path = g_build_filename(CORPUS_DIR, name, NULL);
		g_autofree char *why = NULL, *why_fd = NULL;
		MfImage *img = NULL, *img_fd = NULL;
		gsize len;
		const void *data = g_bytes_get_data(bytes, &len);
		int r = mf_image_parse_mem(data, len, &img, &why);
		int r_fd = parse_path(path, &img_fd, &why_fd);

		if (r != r_fd)
			fail_msg("%s: memory %d (%s), file %d (%s)", name, r,
				 why, r_fd, why_fd);
		if (g_str_has_prefix(name, "ok-") && r != 0)
			fail_msg("%s: refused: %s", name, why);
		if (g_str_has_prefix(name, "bad-") && r != -ENOEXEC)
			fail_msg("%s: not refused (%d)", name, r);
		if (r < 0 && !why)
			fail_msg("%s: refused without a reason", name);
		if (r == 0)
			assert_int_equal(img->nsections, img_fd->nsections);
		ok += g_str_has_prefix(name, "ok-");
		bad += g_str_has_prefix(name, "bad-");
		mf_image_free(img);
		mf_image_free(img_fd);
	}
	assert_true(ok >= 4 && bad >= 20);
}

static const MfImageSection *find(const MfImage *img, const char *name)
{
	const MfImageSection *s = mf_image_find(img, name);

	if (!s)
		fail_msg("no section shown as %s", name);
	return s;
}

static ssize_t read_mem(void *arg, uint64_t off, void *buf, size_t n)
{
	GBytes *b = arg;
	gsize len;
	const uint8_t *d = g_bytes_get_data(b, &len);

	assert_true(off <= len && n <= len - off);
	memcpy(buf, d + off, n);
	return (ssize_t)n;
}

/* mkpe.py's PE32: its sections as the generator made them, and the
 * mapped layout: headers, raw bytes up to the virtual size, zeros. */
static void test_pe32(void **state)
{
	g_autoptr(GBytes) b = load("ok-pe32.exe");
	const uint8_t *file = g_bytes_get_data(b, NULL);
	const MfImageSection *s;
	uint8_t *buf = unit_alloc(0x6000);
	MfImage *img;
	char *why = NULL;

	(void)state;
	assert_int_equal(mf_image_parse_mem(file, g_bytes_get_size(b), &img,
					    &why), 0);
	assert_int_equal(img->format, MF_IMAGE_PE);
	assert_int_equal(img->nsections, 5);
	assert_int_equal(img->base, 0x400000);
	assert_int_equal(img->mapped_size, 0x6000);
	s = find(img, ".text");
	assert_int_equal(s->offset, 0x400);
	assert_int_equal(s->file_size, 0x400);
	assert_int_equal(s->size, 0x400);       /* raw > virtual: raw */
	assert_int_equal(s->vaddr, 0x401000);
	assert_false(s->writable);
	s = find(img, ".data");
	assert_true(s->writable);
	assert_int_equal(s->file_size, 0x200);
	assert_int_equal(s->size, 0x900);       /* zeros to the virtual size */
	s = find(img, ".bss");
	assert_int_equal(s->file_size, 0);
	assert_int_equal(s->size, 0x500);
	s = find(img, "%2F4");                  /* a COFF long name, "/4" */
	assert_string_equal(s->name, "/4");

	assert_int_equal(mf_image_mapped_read(img, 0, buf, 0x7000, read_mem,
					      b),
			 0x6000);
	assert_memory_equal(buf, file, 0x400);          /* headers */
	unit_assert_zero(buf + 0x400, 0x1000 - 0x400);  /* gap */
	assert_memory_equal(buf + 0x1000, file + 0x400, 0x321); /* .text */
	unit_assert_zero(buf + 0x1321, 0x1000 - 0x321); /* past VirtualSize */
	assert_memory_equal(buf + 0x3000, file + 0xa00, 0x200); /* .data */
	unit_assert_zero(buf + 0x3200, 0x2000 - 0x200); /* its tail, .bss */
	assert_memory_equal(buf + 0x5000, file + 0xc00, 0x10);
	unit_assert_zero(buf + 0x5010, 0x1000 - 0x10);
	assert_int_equal(mf_image_mapped_read(img, 0x6000, buf, 10, read_mem,
					      b),
			 0);
	mf_image_free(img);
}

/* Section names as F@@/image/ shows them. */
static void test_names(void **state)
{
	g_autoptr(GBytes) b = load("ok-pe32.exe");
	gsize len;
	const void *orig = g_bytes_get_data(b, &len);
	uint8_t *d = memcpy(unit_alloc(len), orig, len);
	const char *names[] = { ".", "..", "a/b%#", "mapped", "a/b%#" };
	MfImage *img;
	char *why = NULL;

	(void)state;
	/* The section table: after the COFF and PE32 optional headers. */
	for (int i = 0; i < 5; i++)
		strncpy((char *)d + 0x80 + 24 + 224 + i * 40, names[i], 8);
	assert_int_equal(mf_image_parse_mem(d, len, &img, &why), 0);
	assert_string_equal(img->sections[0].shown, "%2E");
	assert_string_equal(img->sections[1].shown, "%2E%2E");
	assert_string_equal(img->sections[2].shown, "a%2Fb%25%23");
	assert_string_equal(img->sections[3].shown, "mapped#4");
	assert_string_equal(img->sections[4].shown, "a%2Fb%25%23#5");
	assert_ptr_equal(mf_image_find(img, "mapped#4"), &img->sections[3]);
	assert_null(mf_image_find(img, "mapped"));
	mf_image_free(img);
}

/* This test's own executable, compared with nothing but itself: its
 * sections lie in the file, .bss has no bytes there, and it maps. */
static void test_elf_self(void **state)
{
	const MfImageSection *text, *bss;
	MfImage *img;
	char *why = NULL;

	(void)state;
	assert_int_equal(parse_path("/proc/self/exe", &img, &why), 0);
	assert_int_equal(img->format, MF_IMAGE_ELF);
	text = find(img, ".text");
	bss = find(img, ".bss");
	assert_false(text->writable);
	assert_true(text->file_size > 0);
	assert_true(bss->writable);
	assert_int_equal(bss->file_size, 0);
	assert_true(bss->size > 0);
	assert_true(img->mapped_size > text->vaddr - img->base);
	mf_image_free(img);
}

/* A 32-bit relocatable object (objcopy -O elf32-i386 of ok-elf64-rel):
 * its sections as readelf -S shows them; nothing loadable, no mapped. */
static void test_elf32_object(void **state)
{
	g_autoptr(GBytes) b = load("ok-elf32-rel");
	const MfImageSection *s;
	MfImage *img;
	char *why = NULL;

	(void)state;
	assert_int_equal(mf_image_parse_mem(g_bytes_get_data(b, NULL),
					    g_bytes_get_size(b), &img, &why),
			 0);
	assert_int_equal(img->nsections, 10);
	assert_int_equal(img->mapped_size, 0);
	assert_int_equal(img->nextents, 0);
	s = find(img, ".data");
	assert_int_equal(s->offset, 0x38);
	assert_int_equal(s->file_size, 4);
	assert_int_equal(s->align, 4);
	assert_true(s->writable);
	s = find(img, ".rela.eh_frame");
	assert_int_equal(s->index, 7);
	assert_int_equal(s->offset, 0x100);
	mf_image_free(img);
}

/* A few refusals say precisely why. */
static void test_reasons(void **state)
{
	static const struct {
		const char *file, *why;
	} cases[] = {
		{ "bad-nsections.exe", "NumberOfSections 65535" },
		{ "bad-lfanew.exe", "e_lfanew" },
		{ "bad-overlap.exe", "overlap in the file" },
		{ "bad-sizeofimage.exe", "past SizeOfImage" },
		{ "bad-elf-shoff", "section header table past the end" },
		{ "bad-elf-secsize", "past the end of the file" },
		{ "bad-elf-overlap", "overlap in the file" },
		{ "bad-elf-memsz", "sizes that overflow or lie" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) b = load(cases[i].file);
		g_autofree char *why = NULL;
		MfImage *img = NULL;

		assert_int_equal(mf_image_parse_mem(g_bytes_get_data(b, NULL),
						    g_bytes_get_size(b), &img,
						    &why),
				 -ENOEXEC);
		if (!strstr(why, cases[i].why))
			fail_msg("%s: '%s' does not say '%s'", cases[i].file,
				 why, cases[i].why);
	}
}

/* Neither ELF nor PE: text, nothing, a lone "MZ". */
static void test_neither(void **state)
{
	const char *inputs[] = { "hello\n", "", "MZ", "\x7f" "ELF" };
	MfImage *img;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autofree char *why = NULL;

		assert_int_equal(mf_image_parse_mem(inputs[i],
						    strlen(inputs[i]), &img,
						    &why),
				 -ENOEXEC);
		assert_non_null(why);
	}
}

/* A section's view (mf-view.h): its window of the file, then zeros to its
 * virtual size, shown only while the file holds all of the window. */
static void test_section_view(void **state)
{
	g_autofree char *dir = unit_tmpdir();
	MfWindowCache *cache = mf_window_cache_new(65536, 8);
	MfViewSpec s = { .mode = MF_VIEW_RW, .off = 1000, .len = 3000,
			 .window = true, .zeros = 5000 };
	MfViewSpec plain = s;
	uint8_t *buf = unit_alloc(8000);
	MfBacking *b;
	MfReadVec v;
	ssize_t n;
	size_t at = 0;
	int fd = unit_create(dir, "f", 10000, O_RDWR, NULL);

	(void)state;
	unit_guard();
	plain.zeros = 0;
	assert_int_equal(mf_backing_new(cache, fd, true, &b), 0);
	assert_int_equal(mf_view_size(&s, 10000), 8000);
	assert_int_equal(mf_view_size(&s, 3999), 2999);  /* no zeros then */
	assert_int_equal(mf_view_size(&s, 500), 0);
	{
		g_autofree char *n1 = mf_view_spec_name(&s);
		g_autofree char *n2 = mf_view_spec_name(&plain);

		assert_string_not_equal(n1, n2);        /* two inodes */
	}
	/* Across the window's end: its bytes, then zeros. */
	n = mf_view_read(b, &s, 2000, 3000, &v);
	assert_int_equal(n, 3000);
	for (int i = 0; i < v.niov; i++) {
		memcpy(buf + at, v.iov[i].iov_base, v.iov[i].iov_len);
		at += v.iov[i].iov_len;
	}
	mf_read_vec_release(&v);
	unit_assert_pattern(buf, 3000, 1000);
	unit_assert_zero(buf + 1000, 2000);
	/* All zeros, up to the virtual size and no further. */
	n = mf_view_read(b, &s, 7000, 4000, &v);
	assert_int_equal(n, 1000);
	assert_int_equal(v.bytes, 1000);
	unit_assert_zero(v.iov[0].iov_base, 1000);
	mf_read_vec_release(&v);
	assert_int_equal(mf_view_read(b, &s, 8000, 10, &v), 0);
	mf_read_vec_release(&v);
	/* Writes: inside the window only. */
	assert_int_equal(mf_view_write(b, &s, 2990, "0123456789", 10), 10);
	assert_int_equal(mf_view_write(b, &s, 2995, "0123456789", 10),
			 -EFBIG);
	assert_int_equal(mf_view_write(b, &s, 4000, "x", 1), -EFBIG);
	/* A file that no longer holds the whole window shows no zeros. */
	assert_int_equal(ftruncate(fd, 3500), 0);
	assert_int_equal(mf_view_read(b, &s, 2600, 100, &v), 0);
	mf_read_vec_release(&v);
	mf_backing_unref(b);
	mf_window_cache_free(cache);
	unit_rmtree(dir);
}

static int teardown(void **state)
{
	(void)state;
	unit_free_all();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_corpus, teardown),
		cmocka_unit_test_teardown(test_pe32, teardown),
		cmocka_unit_test_teardown(test_names, teardown),
		cmocka_unit_test_teardown(test_elf_self, teardown),
		cmocka_unit_test_teardown(test_elf32_object, teardown),
		cmocka_unit_test_teardown(test_reasons, teardown),
		cmocka_unit_test_teardown(test_neither, teardown),
		cmocka_unit_test_teardown(test_section_view, teardown),
	};

	return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
