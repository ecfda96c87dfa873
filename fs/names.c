/* names: the state directory is hidden by identity (st_dev, st_ino), so
 * it stays hidden whatever -o statedir= names, as long as it lies inside
 * BACKING. */
#include "names.h"

#include <fcntl.h>
#include <string.h>

bool fs_names_is_state(const FsContext *ctx, const struct stat *st)
{
	return ctx->state_name && st->st_ino == ctx->state_ino &&
	       st->st_dev == ctx->state_dev;
}

bool fs_names_hits_state(const FsContext *ctx, FsInode *parent,
			 const char *name)
{
	struct stat st;

	if (!ctx->state_name || strcmp(name, ctx->state_name) != 0)
		return false;
	return fstatat(fs_fd(parent), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fs_names_is_state(ctx, &st);
}
