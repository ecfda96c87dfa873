/* image: F@@/image/ and its views. See image.h. */
#include "image.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "mf-image.h"
#include "mf-view.h"
#include "ops.h"
#include "reply.h"
#include "views.h"

/* One file's parse. */
typedef struct Parse {
	gint refs;
	off_t size;
	struct timespec mtime, ctime;
	gint64 parsed_at;       /* g_get_real_time() */
	MfImage *img;           /* NULL: no image (why says why) */
	char *why;
} Parse;

/* The cache: "dev:ino" -> Parse. Bounded: emptied when full. */
#define CACHE_MAX 256
static GMutex cache_lock;
static GHashTable *cache;       /* cache_lock */

static void parse_unref(Parse *p)
{
	if (!p || !g_atomic_int_dec_and_test(&p->refs))
		return;
	mf_image_free(p->img);
	g_free(p->why);
	g_free(p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Parse, parse_unref)

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Was p made of the file as st shows it? */
static bool same_stat(const Parse *p, const struct stat *st)
{
	return p->size == st->st_size && same_time(p->mtime, st->st_mtim) &&
	       same_time(p->ctime, st->st_ctim);
}

/* Is p still a parse of the file as st shows it? */
static bool still_true(const Parse *p, const struct stat *st)
{
	gint64 mtime_us = (gint64)st->st_mtim.tv_sec * G_USEC_PER_SEC +
			  st->st_mtim.tv_nsec / 1000;

	return same_stat(p, st) && p->parsed_at - mtime_us > G_USEC_PER_SEC;
}

/* The cached parse of the file as st shows it, or NULL; then *said tells
 * whether the last parse, of a file that looked the same, found it no
 * image for the reason why_of(*said) (so that it is said once). */
static Parse *cache_find(const char *key, const struct stat *st,
			 char **said)
{
	Parse *p;

	g_mutex_lock(&cache_lock);
	if (!cache)
		cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)parse_unref);
	p = g_hash_table_lookup(cache, key);
	if (p && still_true(p, st)) {
		g_atomic_int_inc(&p->refs);
	} else {
		if (p && same_stat(p, st))
			*said = g_strdup(p->why);
		p = NULL;
	}
	g_mutex_unlock(&cache_lock);
	return p;
}

static void cache_put(const char *key, Parse *p)
{
	g_mutex_lock(&cache_lock);
	if (g_hash_table_size(cache) >= CACHE_MAX)
		g_hash_table_remove_all(cache);
	g_atomic_int_inc(&p->refs);
	g_hash_table_replace(cache, g_strdup(key), p);
	g_mutex_unlock(&cache_lock);
}

static void say_none(FsInode *file, const char *why)
{
	char proc[FS_PROC_PATH_MAX];
	g_autofree char *path = NULL;

	fs_inode_proc_path(file, proc);
	path = g_file_read_link(proc, NULL);
	fs_log(LOG_NOTICE, "%s: no image view: %s", path ? path : "?", why);
}

/* The parse of file as it is now. Says once per parse why a file is no
 * image. Returns 0 or -errno. */
static int get_parse(FsContext *ctx, FsInode *file, Parse **ret)
{
	g_autofree char *key = g_strdup_printf("%ju:%ju", (uintmax_t)file->dev,
					       (uintmax_t)file->ino);
	g_autofree char *said = NULL;
	MfBacking *b;
	struct stat st;
	Parse *p;
	int r = fs_inode_backing(ctx, file, &b);

	if (r < 0)
		return r;
	if (fstat(mf_backing_fd(b), &st) < 0) {
		r = -errno;
		mf_backing_unref(b);
		return r;
	}
	p = cache_find(key, &st, &said);
	if (!p) {
		p = g_new0(Parse, 1);
		p->refs = 1;
		p->size = st.st_size;
		p->mtime = st.st_mtim;
		p->ctime = st.st_ctim;
		p->parsed_at = g_get_real_time();
		r = mf_image_parse_fd(mf_backing_fd(b), (uint64_t)st.st_size,
				      &p->img, &p->why);
		if (r < 0 && r != -ENOEXEC) {
			parse_unref(p);
			mf_backing_unref(b);
			return r;
		}
		if (!p->img && g_strcmp0(said, p->why) != 0)
			say_none(file, p->why);
		cache_put(key, p);
	}
	mf_backing_unref(b);
	*ret = p;
	return 0;
}

bool fs_image_exists(FsContext *ctx, FsInode *dir)
{
	g_autoptr(Parse) p = NULL;

	return get_parse(ctx, dir->base, &p) == 0 && p->img;
}

void fs_image_lookup_dir(fuse_req_t req, FsInode *viewdir)
{
	FsContext *ctx = ctx_of(req);
	g_autoptr(Parse) p = NULL;
	int r = get_parse(ctx, viewdir->base, &p);

	if (r == 0 && !p->img)
		r = -ENOENT;    /* logged when parsed */
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", "image");
	fs_views_reply_entry(req, fs_inode_view(ctx->inodes, viewdir->base,
						FS_IMAGEDIR, NULL,
						viewdir->entry),
			     "lookup");
}

/* A section's view: its bytes in the file, then zeros. */
static MfViewSpec section_spec(const MfImageSection *s)
{
	return (MfViewSpec){
		.mode = s->writable && s->file_size ? MF_VIEW_RW : MF_VIEW_RO,
		.off = s->offset,
		.len = s->file_size,
		.window = true,
		.zeros = s->size - s->file_size,
	};
}

void fs_image_lookup(fuse_req_t req, FsInode *dir, const char *name)
{
	FsContext *ctx = ctx_of(req);
	g_autoptr(Parse) p = NULL;
	const MfImageSection *s;
	MfViewSpec spec;
	int r = get_parse(ctx, dir->base, &p);

	if (r == 0 && !p->img)
		r = -ENOENT;
	if (r < 0)
		return fs_reply_err(req, -r, "lookup", name);
	if (strcmp(name, "mapped") == 0 && p->img->mapped_size) {
		spec = (MfViewSpec){ .mode = MF_VIEW_RO, .window = true,
				     .len = p->img->mapped_size,
				     .mapped = true };
	} else {
		s = mf_image_find(p->img, name);
		if (!s)
			return fs_reply_err(req, ENOENT, "lookup", name);
		spec = section_spec(s);
	}
	fs_views_reply_entry(req, fs_inode_view(ctx->inodes, dir->base,
						FS_VIEW, &spec, name),
			     "lookup");
}

char **fs_image_names(FsContext *ctx, FsInode *dir)
{
	g_autoptr(GStrvBuilder) names = g_strv_builder_new();
	g_autoptr(Parse) p = NULL;

	if (get_parse(ctx, dir->base, &p) == 0 && p->img) {
		if (p->img->mapped_size)
			g_strv_builder_add(names, "mapped");
		for (size_t i = 0; i < p->img->nsections; i++)
			if (p->img->sections[i].shown)
				g_strv_builder_add(names,
						   p->img->sections[i].shown);
	}
	return g_strv_builder_end(names);
}

static ssize_t read_file(void *arg, uint64_t off, void *buf, size_t n)
{
	return mf_backing_read_copy(arg, off, buf, n);
}

void fs_image_read_mapped(fuse_req_t req, FsInode *in, size_t size,
			  off_t off)
{
	FsContext *ctx = ctx_of(req);
	g_autoptr(Parse) p = NULL;
	g_autofree char *buf = NULL;
	MfBacking *b = NULL;
	ssize_t r = get_parse(ctx, in->base, &p);

	if (r == 0 && !p->img) {
		fs_log(LOG_WARNING, "read %s: the file is no longer an image",
		       in->entry);
		r = -EIO;
	}
	if (r == 0)
		r = fs_inode_backing(ctx, in->base, &b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", in->entry);
	/* The layout as the headers give it now, within the size the
	 * view was looked up with. */
	if ((uint64_t)off >= in->spec.len)
		size = 0;
	size = (size_t)MIN((uint64_t)size, in->spec.len - MIN(in->spec.len,
							      (uint64_t)off));
	buf = g_malloc(size ? size : 1);
	r = mf_image_mapped_read(p->img, (uint64_t)off, buf, size, read_file,
				 b);
	mf_backing_unref(b);
	if (r < 0)
		return fs_reply_err(req, (int)-r, "read", in->entry);
	/* Past the image's size now: zeros up to the view's. */
	if ((size_t)r < size)
		memset(buf + r, 0, size - (size_t)r);
	fuse_reply_buf(req, buf, size);
}

static const char *const xattr_names[] = {
	"user.mapfs.section.flags", "user.mapfs.section.vaddr",
	"user.mapfs.section.offset", "user.mapfs.section.align",
	"user.mapfs.section.size",
};

static bool is_section(const FsInode *in)
{
	return in->kind == FS_VIEW && in->entry && !in->spec.mapped &&
	       (in->spec.mode == MF_VIEW_RO || in->spec.mode == MF_VIEW_RW);
}

char *fs_image_xattr(FsContext *ctx, FsInode *in, const char *name)
{
	g_autoptr(Parse) p = NULL;
	const MfImageSection *s;

	if (!is_section(in) || strncmp(name, "user.mapfs.section.", 19) != 0 ||
	    get_parse(ctx, in->base, &p) < 0 || !p->img)
		return NULL;
	s = mf_image_find(p->img, in->entry);
	if (!s)
		return NULL;
	if (strcmp(name, xattr_names[0]) == 0)
		return g_strdup_printf("0x%" PRIx64, s->flags);
	if (strcmp(name, xattr_names[1]) == 0)
		return g_strdup_printf("0x%" PRIx64, s->vaddr);
	if (strcmp(name, xattr_names[2]) == 0)
		return g_strdup_printf("0x%" PRIx64, s->offset);
	if (strcmp(name, xattr_names[3]) == 0)
		return g_strdup_printf("%" PRIu64, s->align);
	if (strcmp(name, xattr_names[4]) == 0)
		return g_strdup_printf("%" PRIu64, s->size);
	return NULL;
}

void fs_image_xattr_names(FsInode *in, GString *list)
{
	if (!is_section(in))
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(xattr_names); i++)
		g_string_append_len(list, xattr_names[i],
				    (gssize)strlen(xattr_names[i]) + 1);
}
