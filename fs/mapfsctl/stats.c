/* stats: the daemon's figures, from user.mapfs.stats of the mount
 * point. See mapfsctl.h. */
#include <errno.h>
#include <string.h>

#include "mapfsctl.h"

/* A value the daemon gives as a number is written as a JSON number. */
static bool is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!g_ascii_isdigit(*p))
		return false;
	if (*p == '0' && g_ascii_isdigit(p[1]))
		return false;
	while (g_ascii_isdigit(*p))
		p++;
	if (*p == '.') {
		p++;
		if (!g_ascii_isdigit(*p))
			return false;
		while (g_ascii_isdigit(*p))
			p++;
	}
	return *p == '\0';
}

int cmd_stats(const char *mount)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GString) out = NULL;
	bool first = true;

	if (!*mount)
		die(ENOENT, NULL, "cannot read the statistics of ''");
	text = get_xattr(mount, STATS_XATTR);
	if (!text) {
		int e0 = errno;

		die(e0,
		    e0 == ENODATA || e0 == ENOTSUP
			    ? "not the mount point of a mapfs (no " STATS_XATTR ")"
			    : NULL,
		    "cannot read the statistics of %s", mount);
	}
	if (!opt_json) {
		fputs(text, stdout);
		if (*text && text[strlen(text) - 1] != '\n')
			putchar('\n');
		return 0;
	}
	out = g_string_new("{");
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *eq = strchr(*l, '=');

		if (!eq)
			continue;
		*eq = '\0';
		g_strstrip(*l);
		g_strstrip(eq + 1);
		if (!**l)
			continue;
		if (!first)
			g_string_append(out, ", ");
		first = false;
		json_key(out, *l);
		if (is_json_number(eq + 1))
			g_string_append(out, eq + 1);
		else
			json_str(out, eq + 1);
	}
	g_string_append_c(out, '}');
	json_print(out);
	return 0;
}
