/* image: F@@/image/, the views of an executable image (ELF or PE): one per
 * section, named as its headers name it, and "mapped", the image as the
 * loader lays it out (core/mf-image.h).
 *
 * A section is a window of the file onto its bytes (an ro window, or an rw
 * one when the headers mark it writable), followed by zeros up to its
 * virtual size (MfViewSpec.zeros); one with no bytes in the file is
 * read-only. So sections are served as ro and rw windows are (views.h,
 * aliases.h). "mapped" is composed from many parts of the file: served
 * without kernel cache (direct_io), copied out at each read from the
 * layout the file's headers give then.
 *
 * Parses are cached per file, keyed by its size, mtime and ctime; a parse
 * made within a second of the mtime it saw is not trusted later (a write
 * in the same tick of the clock would not move the mtime), as git treats
 * racily clean index entries.
 */
#pragma once

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

/* Does the file of dir (F@@) parse as an image? For F@@'s listing. */
bool fs_image_exists(FsContext *ctx, FsInode *dir);
/* Reply to a lookup of "image" in F@@: ENOENT unless F is an image. */
void fs_image_lookup_dir(fuse_req_t req, FsInode *viewdir);
/* Reply to a lookup of name in F@@/image. */
void fs_image_lookup(fuse_req_t req, FsInode *imagedir, const char *name);
/* What F@@/image lists, NULL-terminated (g_strfreev). */
char **fs_image_names(FsContext *ctx, FsInode *imagedir);
/* A read of F@@/image/mapped. */
void fs_image_read_mapped(fuse_req_t req, FsInode *in, size_t size,
			  off_t off);
/* user.mapfs.section.* of a section view: the value (g_free), or NULL. */
char *fs_image_xattr(FsContext *ctx, FsInode *in, const char *name);
/* Append the names of in's user.mapfs.section.* to list (NUL after each). */
void fs_image_xattr_names(FsInode *in, GString *list);
