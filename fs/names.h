/* names: what names mean in the mount beyond the backing tree's own.
 * For now, the hidden state directory. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "fs.h"
#include "inode.h"

/* Is st the state directory? It is never shown. */
bool fs_names_is_state(const FsContext *ctx, const struct stat *st);
/* Does name in parent denote the state directory? Operations that would
 * create, remove or replace it are refused with EPERM. */
bool fs_names_hits_state(const FsContext *ctx, FsInode *parent,
			 const char *name);
