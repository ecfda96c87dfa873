/* fuzz-image: libFuzzer harness of core/mf-image (the PE parser and the
 * ELF path through libelf). Built and run by scripts/fuzz; its corpus,
 * minimized, is tests/fuzz/corpus, which tests/unit/test-image.c replays.
 *
 * Beyond "no crash, no read outside the input" (ASan), every parse that
 * succeeds must keep mf-image.h's invariants, checked here.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf-image.h"

typedef struct Input {
	const uint8_t *data;
	size_t size;
} Input;

static ssize_t read_input(void *arg, uint64_t off, void *buf, size_t n)
{
	Input *in = arg;

	if (off > in->size || n > in->size - off)
		abort();        /* an extent outside the file */
	memcpy(buf, in->data + off, n);
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Input in = { data, size };
	MfImage *img = NULL;
	char *why = NULL;
	char buf[4096];
	int r = mf_image_parse_mem(data, size, &img, &why);

	if (r < 0) {
		if (!why)
			abort();        /* every refusal says why */
		g_free(why);
		return 0;
	}
	for (size_t i = 0; i < img->nsections; i++) {
		const MfImageSection *s = &img->sections[i];

		if (s->offset > size || s->file_size > size - s->offset ||
		    s->file_size > s->size || !s->name)
			abort();
		if (s->shown && mf_image_find(img, s->shown) != s)
			abort();
	}
	for (size_t i = 0; i < img->nextents; i++) {
		const MfImageExtent *e = &img->extents[i];

		if (e->file_off > size || e->len > size - e->file_off ||
		    e->at > img->mapped_size ||
		    e->len > img->mapped_size - e->at ||
		    (i && e[-1].at + e[-1].len > e->at))
			abort();
	}
	/* Read the mapped image's first pages and every extent's edges. */
	for (uint64_t off = 0; off < img->mapped_size && off < 65536;
	     off += sizeof(buf))
		mf_image_mapped_read(img, off, buf, sizeof(buf), read_input,
				     &in);
	for (size_t i = 0; i < img->nextents && i < 64; i++) {
		const MfImageExtent *e = &img->extents[i];
		uint64_t at = e->at + e->len > 100 ? e->at + e->len - 100 : 0;

		mf_image_mapped_read(img, at, buf, sizeof(buf), read_input,
				     &in);
	}
	mf_image_free(img);
	return 0;
}
