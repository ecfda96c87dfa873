/* mf-tree-where: where an object is in the tree, so that a diff can name
 * what changed by walking up from it instead of walking the whole tree.
 *
 * A version records, in its [where] group, the directory that had the
 * object (its key) and its name there when the version was kept: as the
 * snapshot saw it, since any move keeps the object first. A live object
 * is found the same way. The name comes from the kernel's path of the
 * descriptor (/proc/self/fd), checked: the parent found through it must
 * hold the object under that name, else the place is unknown (a file
 * opened by handle may have no path) and the diff walks the tree.
 */
#include "mf-tree-impl.h"

#include <errno.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

char *mf_tree_path_of(int fd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return g_file_read_link(proc, NULL);
}

/* dir (relative to the root, "" for it) opened O_PATH, beneath the root
 * and through no symlink. */
static int open_beneath(MfTree *t, const char *dir)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, t->root_fd, *dir ? dir : ".", &how,
			  sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int mf_tree_locate(MfTree *t, int fd, const struct stat *st, char **parent,
		   char **name)
{
	g_autofree char *path = t->root_path ? mf_tree_path_of(fd) : NULL;
	g_autofree char *dir = NULL;
	size_t n = t->root_path ? strlen(t->root_path) : 0;
	const char *rel, *slash;
	struct stat sb;
	int pfd, r;

	/* "/" as the root's path: every other path is below it. */
	if (n == 1)
		n = 0;
	if (!path || strncmp(path, t->root_path, n) != 0 || path[n] != '/')
		return -ENOENT;
	rel = path + n + 1;
	slash = strrchr(rel, '/');
	dir = slash ? g_strndup(rel, (size_t)(slash - rel)) : g_strdup("");
	rel = slash ? slash + 1 : rel;
	if (!*rel)
		return -ENOENT;
	pfd = open_beneath(t, dir);
	if (pfd < 0)
		return -ENOENT;
	r = fstatat(pfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? -ENOENT : 0;
	if (r == 0 && (sb.st_ino != st->st_ino || sb.st_dev != st->st_dev))
		r = -ENOENT;    /* moved meanwhile, or "(deleted)" */
	if (r == 0)
		r = mf_tree_key_at(pfd, "", parent);
	close(pfd);
	if (r == 0)
		*name = g_strdup(rel);
	return r < 0 ? -ENOENT : 0;
}

unsigned mf_tree_tree_links(MfTree *t, int fd, const struct stat *st)
{
	unsigned kept;

	if (S_ISDIR(st->st_mode))
		return 1;
	kept = mf_tree_links(t, fd);
	return st->st_nlink > kept ? (unsigned)(st->st_nlink - kept) : 0;
}

void mf_tree_where_keep(MfTree *t, const char *key, int fd,
			const struct stat *st, GKeyFile *kf)
{
	g_autofree char *parent = NULL, *name = NULL, *b64 = NULL;

	g_key_file_set_uint64(kf, "where", "links",
			      mf_tree_tree_links(t, fd, st));
	if (strcmp(key, t->root_key) == 0) {
		g_key_file_set_boolean(kf, "where", "root", TRUE);
		return;
	}
	if (mf_tree_locate(t, fd, st, &parent, &name) < 0)
		return;         /* unknown: a diff walks the tree */
	b64 = g_base64_encode((const guchar *)name, strlen(name));
	g_key_file_set_string(kf, "where", "parent", parent);
	g_key_file_set_string(kf, "where", "name", b64);
}

int mf_tree_where_load(GKeyFile *kf, char **parent, char **name,
		       unsigned *links)
{
	g_autofree char *b64 = NULL;
	gsize len;

	*parent = *name = NULL;
	if (!g_key_file_has_group(kf, "where"))
		return -ENODATA;        /* kept before places were */
	*links = (unsigned)g_key_file_get_uint64(kf, "where", "links", NULL);
	if (g_key_file_get_boolean(kf, "where", "root", NULL))
		return 0;
	*parent = g_key_file_get_string(kf, "where", "parent", NULL);
	b64 = g_key_file_get_string(kf, "where", "name", NULL);
	if (!*parent || !b64) {
		g_free(*parent);
		*parent = NULL;
		return *links ? -ENODATA : 0;
	}
	*name = (char *)g_base64_decode(b64, &len);
	*name = g_realloc(*name, len + 1);
	(*name)[len] = 0;
	return 0;
}
