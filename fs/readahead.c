/* readahead: the kernel's readahead for the mount, raised past its default.
 *
 * The kernel reads a FUSE file ahead by its backing device's read_ahead_kb,
 * 128 KiB by default, and INIT's max_readahead can only lower that. A
 * sequential read through the mount therefore costs a READ round trip per
 * 128 KiB although the kernel would send requests of up to max_pages (256
 * pages, 1 MiB here). With read_ahead_kb at 1 MiB the same read costs an
 * eighth of the round trips and the daemon fills the next window while the
 * reader copies out of the last (issue 11: seqread-cold).
 *
 * The device is the mount's anonymous one, named MAJOR:MINOR in sysfs;
 * /proc/self/mountinfo gives it without asking the mount itself, which
 * could not answer before the session serves. It is written before the
 * reply to INIT, which takes the lower of it and our max_readahead
 * (fs_op_init asks FS_READAHEAD too).
 */
#include "readahead.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The MAJOR:MINOR of the last mount at mountpoint (the one on top, ours
 * just made), into dev. Returns 0 or -ENOENT. */
static int mount_device(const char *mountpoint, char *dev, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save, *majmin, *point;

		/* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... */
		if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save) ||
		    !(majmin = strtok_r(NULL, " ", &save)) ||
		    !strtok_r(NULL, " ", &save) ||
		    !(point = strtok_r(NULL, " ", &save)))
			continue;
		unescape(point);
		if (strcmp(point, mountpoint) == 0 &&
		    strlen(majmin) < size) {
			strcpy(dev, majmin);
			r = 0;
		}
	}
	free(line);
	fclose(f);
	return r;
}

int fs_readahead_raise(const char *mountpoint)
{
	char dev[64], path[96], kib[16];
	int fd, r, n;

	r = mount_device(mountpoint, dev, sizeof(dev));
	if (r < 0) {
		fs_log(LOG_INFO, "readahead stays at the kernel's default: "
		       "%s not in /proc/self/mountinfo", mountpoint);
		return r;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	n = snprintf(kib, sizeof(kib), "%u\n", FS_READAHEAD >> 10);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, kib, (size_t)n) != n) {
		r = -errno;
		fs_log(LOG_INFO, "readahead stays at the kernel's default: "
		       "%s: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return r;
}
