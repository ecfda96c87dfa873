/* readahead: the kernel's readahead for the mount, raised to the size of
 * the largest request it may send us. */
#pragma once

#include <stdint.h>

/* The readahead asked of the kernel, in bytes: 256 pages, the kernel's
 * FUSE_MAX_MAX_PAGES, which max_write (1 MiB) also asks for. */
#define FS_READAHEAD (1u << 20)

/* On a mounted session, before it answers INIT: set the readahead of the
 * mount at mountpoint (a canonical path) to FS_READAHEAD, through its
 * backing device's read_ahead_kb in sysfs. A daemon that may not (not
 * root, a read-only /sys) keeps the kernel's default and says so once.
 * Returns 0 or -errno. */
int fs_readahead_raise(const char *mountpoint);
