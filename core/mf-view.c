/* mf-view: view names, and view offsets mapped onto the backing file. */
#include "mf-view.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "mf-number.h"

static const char *const mode_names[] = {
	[MF_VIEW_RW] = "rw",
	[MF_VIEW_RO] = "ro",
	[MF_VIEW_COW] = "cow",
	[MF_VIEW_SNAP] = "snap",
};

/* The views "F@@/NAME" names directly; cow and snap live one level down. */
#define DIRECT_MODES 2

const char *mf_view_mode_name(MfViewMode mode)
{
	return mode_names[mode];
}

/* Parse "OFFSET" or "OFFSET+LENGTH" into s. */
static int parse_window(const char *w, MfViewSpec *s)
{
	g_autofree char *copy = g_strdup(w);
	char *plus = strchr(copy, '+');
	int r;

	if (plus)
		*plus = '\0';
	r = mf_parse_size(copy, &s->off);
	if (r == 0 && plus)
		r = mf_parse_size(plus + 1, &s->len);
	if (r < 0)
		return -EINVAL;
	/* A window must lie within the 63-bit offsets files have. A length
	 * given is checked even when it is UINT64_MAX, which otherwise
	 * stands for "to the end": that spelling is no way around the
	 * limit. */
	if (s->off > INT64_MAX ||
	    (plus && s->len > (uint64_t)INT64_MAX - s->off))
		return -EINVAL;
	s->window = true;
	return 0;
}

int mf_view_spec_parse(const char *name, MfViewSpec *out)
{
	const char *colon = strchr(name, ':');
	size_t mode_len = colon ? (size_t)(colon - name) : strlen(name);
	MfViewSpec s = { .off = 0, .len = UINT64_MAX };
	size_t i;

	for (i = 0; i < DIRECT_MODES; i++)
		if (strlen(mode_names[i]) == mode_len &&
		    strncmp(name, mode_names[i], mode_len) == 0)
			break;
	if (i == DIRECT_MODES)
		return -ENOENT;
	s.mode = (MfViewMode)i;
	if (colon) {
		int r = parse_window(colon + 1, &s);

		if (r < 0)
			return r;
	}
	*out = s;
	return 0;
}

int mf_view_spec_parse_named(const char *s, MfViewMode mode, char **name,
			     MfViewSpec *out)
{
	const char *colon = strchr(s, ':');
	MfViewSpec spec = { .mode = mode, .off = 0, .len = UINT64_MAX };

	if (colon) {
		int r = parse_window(colon + 1, &spec);

		if (r < 0)
			return r;
	}
	*name = colon ? g_strndup(s, (gsize)(colon - s)) : g_strdup(s);
	*out = spec;
	return 0;
}

char *mf_view_spec_name(const MfViewSpec *s)
{
	if (s->mapped)
		return g_strdup_printf("mapped:%" PRIu64, s->len);
	if (s->zeros)   /* a section: another window than ro:OFF+LEN */
		return g_strdup_printf("%s:%" PRIu64 "+%" PRIu64 "+%" PRIu64,
				       mode_names[s->mode], s->off, s->len,
				       s->zeros);
	if (!s->window)
		return g_strdup(mode_names[s->mode]);
	if (s->len == UINT64_MAX)
		return g_strdup_printf("%s:%" PRIu64, mode_names[s->mode],
				       s->off);
	return g_strdup_printf("%s:%" PRIu64 "+%" PRIu64, mode_names[s->mode],
			       s->off, s->len);
}

/* The window's bytes that exist, without its zeros. */
static uint64_t window_size(const MfViewSpec *s, uint64_t file_size)
{
	if (file_size <= s->off)
		return 0;
	return MIN(s->len, file_size - s->off);
}

uint64_t mf_view_size(const MfViewSpec *s, uint64_t file_size)
{
	uint64_t n;

	if (s->mapped)
		return s->len;
	n = window_size(s, file_size);
	return n == s->len ? n + s->zeros : n;
}

/* A section's zeros from view offset voff on, len bytes at most. */
static ssize_t read_zeros(MfBacking *b, const MfViewSpec *s, uint64_t voff,
			  size_t len, MfReadVec *out)
{
	uint64_t size;
	int r = mf_backing_size(b, &size);

	if (r < 0)
		return r;
	size = mf_view_size(s, size);
	if (voff >= size)
		return 0;
	len = (size_t)MIN((uint64_t)len, size - voff);
	return mf_read_vec_zeros(out, len) ? (ssize_t)MIN(len, MF_READ_MAX)
					   : 0;
}

ssize_t mf_view_read(MfBacking *b, const MfViewSpec *s, uint64_t voff,
		     size_t len, MfReadVec *out)
{
	out->niov = out->npins = 0;
	out->bytes = 0;
	out->owner = NULL;
	out->tail = NULL;
	if (voff >= s->len)
		return s->zeros ? read_zeros(b, s, voff, len, out) : 0;
	if (len > s->len - voff) {
		size_t in = (size_t)(s->len - voff);
		ssize_t r = mf_backing_read(b, mf_view_file_offset(s, voff),
					    in, out);

		/* The zeros follow only a whole window. */
		if (r == (ssize_t)in && s->zeros) {
			ssize_t z = read_zeros(b, s, s->len, len - in, out);

			if (z < 0) {
				mf_read_vec_release(out);
				return z;
			}
			r += z;
		}
		return r;
	}
	return mf_backing_read(b, mf_view_file_offset(s, voff), len, out);
}

ssize_t mf_view_write(MfBacking *b, const MfViewSpec *s, uint64_t voff,
		      const void *buf, size_t len)
{
	if (s->mode != MF_VIEW_RW)
		return -EROFS;
	if (voff > s->len || len > s->len - voff)
		return -EFBIG;
	return mf_backing_write(b, mf_view_file_offset(s, voff), buf, len);
}

int mf_view_truncate(MfBacking *b, const MfViewSpec *s, uint64_t size)
{
	if (s->mode == MF_VIEW_RO || s->mode == MF_VIEW_SNAP)
		return -EROFS;
	if (s->window || s->mode != MF_VIEW_RW)
		return -EPERM;
	return mf_backing_truncate(b, size);
}

int mf_view_flush(MfBacking *b, const MfViewSpec *s, bool datasync)
{
	uint64_t size;
	int r;

	if (!s->window)
		return mf_backing_flush(b, 0, 0, datasync);
	r = mf_backing_size(b, &size);
	if (r < 0)
		return r;
	size = window_size(s, size);
	return size ? mf_backing_flush(b, s->off, size, datasync) : 0;
}
