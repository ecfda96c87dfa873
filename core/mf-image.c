/* mf-image: format dispatch, the checks every format shares (no two
 * sections' file bytes overlap, extents sorted and disjoint), the names
 * sections are shown by, and reads of the mapped layout. See mf-image.h.
 */
#include "mf-image-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

int mf_image_bad(char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_free(*why);
	*why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return -ENOEXEC;
}

int mf_image_src_read(const MfImageSource *src, void *buf, size_t len,
		      uint64_t off, const char *what, char **why)
{
	size_t done = 0;

	if (!mf_image_in_file(off, len, src->size))
		return mf_image_bad(why, "%s past the end of the file", what);
	if (src->mem) {
		memcpy(buf, src->mem + off, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(src->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)     /* shrank since its size was taken */
			return mf_image_bad(why, "%s past the end of the file",
					    what);
		done += (size_t)n;
	}
	return 0;
}

const char *mf_image_format_name(MfImageFormat f)
{
	return f == MF_IMAGE_ELF ? "ELF" : "PE";
}

static int by_offset(gconstpointer a, gconstpointer b)
{
	const MfImageSection *x = *(MfImageSection *const *)a;
	const MfImageSection *y = *(MfImageSection *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* No two sections' bytes in the file overlap: a section table that says
 * so lies. */
static int check_overlap(GArray *sections, char **why)
{
	g_autoptr(GPtrArray) with_bytes = g_ptr_array_new();

	for (guint i = 0; i < sections->len; i++) {
		MfImageSection *s =
			&g_array_index(sections, MfImageSection, i);

		if (s->file_size)
			g_ptr_array_add(with_bytes, s);
	}
	g_ptr_array_sort(with_bytes, by_offset);
	for (guint i = 1; i < with_bytes->len; i++) {
		MfImageSection *p = with_bytes->pdata[i - 1];
		MfImageSection *s = with_bytes->pdata[i];

		if (p->offset + p->file_size > s->offset)
			return mf_image_bad(why, "sections %s and %s overlap "
					    "in the file", p->name, s->name);
	}
	return 0;
}

static int by_at(gconstpointer a, gconstpointer b)
{
	const MfImageExtent *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

static int check_extents(MfImageBuild *b, char **why)
{
	g_array_sort(b->extents, by_at);
	for (guint i = 0; i < b->extents->len; i++) {
		MfImageExtent *e = &g_array_index(b->extents, MfImageExtent, i);

		if (e->at > b->img->mapped_size ||
		    e->len > b->img->mapped_size - e->at)
			return mf_image_bad(why, "a mapped part ends past the "
					    "image's size");
		if (i > 0 && e[-1].at + e[-1].len > e->at)
			return mf_image_bad(why, "mapped parts overlap at "
					    "0x%" PRIx64, e->at);
	}
	return 0;
}

/* Escape what a file name cannot hold or would misread: '/', and '%' and
 * '#', which the escapes use; "." and ".." whole. */
static char *escape(const char *name)
{
	GString *s;

	if (strcmp(name, ".") == 0)
		return g_strdup("%2E");
	if (strcmp(name, "..") == 0)
		return g_strdup("%2E%2E");
	s = g_string_new(NULL);
	for (const char *p = name; *p; p++) {
		if (*p == '/' || *p == '%' || *p == '#')
			g_string_append_printf(s, "%%%02X", (unsigned char)*p);
		else
			g_string_append_c(s, *p);
	}
	return g_string_free(s, FALSE);
}

/* The names sections are shown by: escaped; the second and later of one
 * name, and one named "mapped", take "#INDEX"; nameless sections and names
 * longer than a file name can be are not shown. */
static void name_sections(MfImage *img)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	g_hash_table_add(seen, (gpointer) "mapped");
	for (size_t i = 0; i < img->nsections; i++) {
		MfImageSection *s = &img->sections[i];
		char *shown;

		if (!s->name[0])
			continue;
		shown = escape(s->name);
		if (g_hash_table_contains(seen, shown)) {
			char *n = g_strdup_printf("%s#%u", shown, s->index);

			g_free(shown);
			shown = n;
		}
		if (strlen(shown) > 255 || g_hash_table_contains(seen, shown)) {
			g_free(shown);
			continue;
		}
		s->shown = shown;
		g_hash_table_add(seen, shown);
	}
}

static void clear_section(gpointer p)
{
	MfImageSection *s = p;

	g_free(s->name);
	g_free(s->shown);
}

static int parse(const MfImageSource *src, MfImage **ret, char **why)
{
	MfImageBuild b = {
		.img = g_new0(MfImage, 1),
		.sections = g_array_new(FALSE, TRUE, sizeof(MfImageSection)),
		.extents = g_array_new(FALSE, TRUE, sizeof(MfImageExtent)),
	};
	int r;

	*why = NULL;
	g_array_set_clear_func(b.sections, clear_section);
	b.img->format = MF_IMAGE_ELF;
	r = mf_elf_parse(src, &b, why);
	if (r == -ENOEXEC && !*why) {
		b.img->format = MF_IMAGE_PE;
		r = mf_pe_parse(src, &b, why);
	}
	if (r == -ENOEXEC && !*why)
		*why = g_strdup("neither ELF nor PE");
	if (r == 0)
		r = check_overlap(b.sections, why);
	if (r == 0)
		r = check_extents(&b, why);
	if (r < 0) {
		g_array_free(b.sections, TRUE);
		g_array_free(b.extents, TRUE);
		g_free(b.img);
		return r;
	}
	b.img->nsections = b.sections->len;
	g_array_set_clear_func(b.sections, NULL);
	b.img->sections = (MfImageSection *)(void *)g_array_free(b.sections,
								 FALSE);
	b.img->nextents = b.extents->len;
	b.img->extents = (MfImageExtent *)(void *)g_array_free(b.extents,
							       FALSE);
	name_sections(b.img);
	*ret = b.img;
	return 0;
}

int mf_image_parse_fd(int fd, uint64_t size, MfImage **ret, char **why)
{
	MfImageSource src = { .fd = fd, .size = size };

	return parse(&src, ret, why);
}

int mf_image_parse_mem(const void *buf, size_t size, MfImage **ret,
		       char **why)
{
	MfImageSource src = { .fd = -1, .mem = buf, .size = size };

	return parse(&src, ret, why);
}

void mf_image_free(MfImage *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->nsections; i++)
		clear_section(&img->sections[i]);
	g_free(img->sections);
	g_free(img->extents);
	g_free(img);
}

const MfImageSection *mf_image_find(const MfImage *img, const char *name)
{
	for (size_t i = 0; i < img->nsections; i++)
		if (img->sections[i].shown &&
		    strcmp(img->sections[i].shown, name) == 0)
			return &img->sections[i];
	return NULL;
}

ssize_t mf_image_mapped_read(const MfImage *img, uint64_t off, void *buf,
			     size_t len, MfImageReadFn read, void *arg)
{
	char *out = buf;

	if (off >= img->mapped_size)
		return 0;
	len = (size_t)MIN((uint64_t)len, img->mapped_size - off);
	memset(out, 0, len);
	for (size_t i = 0; i < img->nextents; i++) {
		const MfImageExtent *e = &img->extents[i];
		uint64_t lo = MAX(off, e->at);
		uint64_t hi = MIN(off + len, e->at + e->len);
		ssize_t n;

		if (lo >= hi)
			continue;
		n = read(arg, e->file_off + (lo - e->at), out + (lo - off),
			 (size_t)(hi - lo));
		if (n < 0)
			return n;
	}
	return (ssize_t)len;
}
