/* treediff: the user.mapfs.diff attribute of a tree snapshot's root. See
 * treediff.h for its format.
 */
#include "treediff.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "mf-tree.h"
#include "ops.h"
#include "reply.h"
#include "tree.h"

#define DIFF_XATTR "user.mapfs.diff"
/* What the lines may take of XATTR_SIZE_MAX (64 KiB): the rest is for
 * "more N\n". */
#define DIFF_BUDGET (65536 - 32)

bool fs_tree_is_diff_xattr(const char *name)
{
	size_t n = strlen(DIFF_XATTR);

	return strncmp(name, DIFF_XATTR, n) == 0 &&
	       (name[n] == '\0' || name[n] == '.' || name[n] == '@');
}

typedef struct DiffOut {
	GString *text;
	uint64_t skip;          /* lines to pass over first */
	uint64_t index;         /* lines passed or written */
	bool more;
} DiffOut;

static char type_char(unsigned char type)
{
	switch (type) {
	case DT_REG: return 'f';
	case DT_DIR: return 'd';
	case DT_LNK: return 'l';
	default: return 'o';
	}
}

/* One line, at most DIFF_BUDGET bytes: ranges that would not fit are
 * merged into one that covers them all. */
static void format_line(GString *line, const MfTreeDiffEntry *e)
{
	static const char sign[] = { [MF_TREE_CREATED] = '+',
				     [MF_TREE_REMOVED] = '-',
				     [MF_TREE_RENAMED] = '>',
				     [MF_TREE_MODIFIED] = 'M' };
	g_autofree char *path = g_strescape(e->path, NULL);

	g_string_printf(line, "%c %c %s", sign[e->change], type_char(e->type),
			path);
	if (e->change == MF_TREE_RENAMED && e->to) {
		g_autofree char *to = g_strescape(e->to, NULL);

		g_string_append_printf(line, "\t%s", to);
	}
	if (e->change == MF_TREE_MODIFIED && e->bytes) {
		for (size_t i = 0; i < e->nranges; i++) {
			uint64_t off = e->ranges[2 * i];
			uint64_t len = e->ranges[2 * i + 1];

			if (line->len > DIFF_BUDGET - 64 && i + 1 < e->nranges) {
				const uint64_t *last =
					&e->ranges[2 * (e->nranges - 1)];

				len = last[0] + last[1] - off;
				i = e->nranges;
			}
			g_string_append_printf(line, "%c%" PRIu64 "+%" PRIu64,
					       i == 0 ? '\t' : ' ', off, len);
		}
	}
	g_string_append_c(line, '\n');
}

static int add_change(const MfTreeDiffEntry *e, void *arg)
{
	DiffOut *o = arg;
	g_autoptr(GString) line = NULL;

	if (o->index < o->skip) {
		o->index++;
		return 0;
	}
	line = g_string_new(NULL);
	format_line(line, e);
	if (o->text->len + line->len > DIFF_BUDGET) {
		o->more = true;
		return 1;
	}
	g_string_append_len(o->text, line->str, (gssize)line->len);
	o->index++;
	return 0;
}

/* Split "user.mapfs.diff[.B][@N]": *other (g_free) and *skip. Returns 0
 * or -ENODATA. */
static int parse(const char *name, char **other, uint64_t *skip)
{
	g_autofree char *rest = g_strdup(name + strlen(DIFF_XATTR));
	char *at = strrchr(rest, '@'), *end;

	*other = NULL;
	*skip = 0;
	if (at && at[1] && strspn(at + 1, "0123456789") == strlen(at + 1)) {
		*skip = g_ascii_strtoull(at + 1, &end, 10);
		*at = '\0';
	} else if (at && rest[0] != '.') {
		return -ENODATA;        /* "user.mapfs.diff@x" */
	}
	if (rest[0] == '.' && rest[1])
		*other = g_strdup(rest + 1);
	else if (rest[0])
		return -ENODATA;
	return 0;
}

void fs_tree_diff_reply(fuse_req_t req, FsInode *in, const char *name,
			size_t size)
{
	FsContext *ctx = ctx_of(req);
	g_autofree char *snap = fs_tree_snap_name(ctx, in);
	g_autofree char *other = NULL;
	DiffOut o = { 0 };
	int r;

	if (!snap)
		return fs_reply_err(req, ENODATA, "getxattr", name);
	r = parse(name, &other, &o.skip);
	if (r < 0)
		return fs_reply_err(req, -r, "getxattr", name);
	o.text = g_string_new(NULL);
	r = mf_tree_diff(ctx->tree, snap, other, add_change, &o);
	if (r == 0 && o.more)
		g_string_append_printf(o.text, "more %" PRIu64 "\n", o.index);
	/* No snapshot B: no such attribute (ENOENT would say the file
	 * asked is gone). */
	if (r == -ENOENT && other) {
		fs_log(LOG_NOTICE, "getxattr %s: no tree snapshot %s", name,
		       other);
		r = -ENODATA;
	}
	if (r < 0)
		fs_reply_err(req, -r, "getxattr", name);
	else
		fs_reply_xattr(req, o.text->str, o.text->len, size);
	g_string_free(o.text, TRUE);
}
