/* mf-state-sweep: removing file records whole. See mf-state-sweep.h. */
#include "mf-state-sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mf-state-impl.h"

/* Remove name in parent and, if it is a directory, all below it. The
 * layout is shallow (files/INO/snap/NAME/pages): recursion is bounded. */
static void remove_tree(int parent, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(parent, name, 0) == 0 ||
	    (errno != EISDIR && errno != EPERM))
		return;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			remove_tree(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

int mf_statedir_sweep(MfStateDir *sd, uint64_t from, uint64_t to)
{
	GPtrArray *doomed;
	struct dirent *de;
	DIR *d;
	int fd, n;

	if (from == to) {       /* one file: no need to read them all */
		char name[32];

		snprintf(name, sizeof(name), "%" PRIu64, from);
		if (faccessat(sd->files_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		remove_tree(sd->files_fd, name);
		return 1;
	}
	fd = openat(sd->files_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	doomed = g_ptr_array_new_with_free_func(g_free);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		g_ptr_array_free(doomed, TRUE);
		return err;
	}
	/* Collected first: removing while reading may skip entries. */
	while ((de = readdir(d))) {
		char *end;
		guint64 ino = g_ascii_strtoull(de->d_name, &end, 10);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !*end &&
		    ino >= from && ino <= to)
			g_ptr_array_add(doomed, g_strdup(de->d_name));
	}
	closedir(d);
	for (guint i = 0; i < doomed->len; i++)
		remove_tree(sd->files_fd, doomed->pdata[i]);
	n = (int)doomed->len;
	g_ptr_array_free(doomed, TRUE);
	return n;
}
