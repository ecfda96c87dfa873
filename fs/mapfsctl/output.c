/* output: the one output layer of mapfsctl. JSON is written by hand (one
 * document per run, on stdout); errors are one line on stderr and, with
 * --json, an error object on stdout too. See mapfsctl.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mapfsctl.h"

bool opt_json;

/* ------------------------------------------------------------------ */
/* JSON, written by hand                                               */


/* A JSON string: quotes, backslashes and control characters escaped.
 * Paths and names are bytes; a byte that is not part of valid UTF-8 is
 * written as U+FFFD, so the output is always valid JSON. */
void json_str(GString *out, const char *s)
{
	const char *p = s, *end = s + strlen(s);

	g_string_append_c(out, '"');
	while (p < end) {
		const char *bad;

		/* The longest valid UTF-8 run from p. */
		g_utf8_validate(p, end - p, &bad);
		for (const char *q = p; q < bad; q++) {
			unsigned char c = (unsigned char)*q;

			switch (c) {
			case '"':
				g_string_append(out, "\\\"");
				break;
			case '\\':
				g_string_append(out, "\\\\");
				break;
			case '\b':
				g_string_append(out, "\\b");
				break;
			case '\f':
				g_string_append(out, "\\f");
				break;
			case '\n':
				g_string_append(out, "\\n");
				break;
			case '\r':
				g_string_append(out, "\\r");
				break;
			case '\t':
				g_string_append(out, "\\t");
				break;
			default:
				if (c < 0x20 || c == 0x7f)
					g_string_append_printf(out, "\\u%04x", c);
				else
					g_string_append_c(out, (char)c);
			}
		}
		p = bad;
		if (p < end) {
			g_string_append(out, "\\ufffd");
			p++;
		}
	}
	g_string_append_c(out, '"');
}

/* "KEY": */
GString *json_file_object(const char *file)
{
	GString *out = g_string_new("{");

	json_key(out, "file");
	json_str(out, file);
	g_string_append(out, ", ");
	return out;
}

void json_key(GString *out, const char *key)
{
	json_str(out, key);
	g_string_append(out, ": ");
}

void json_str_or_null(GString *out, const char *s)
{
	if (s)
		json_str(out, s);
	else
		g_string_append(out, "null");
}

void json_int_or_null(GString *out, gint64 v)
{
	if (v >= 0)
		g_string_append_printf(out, "%" G_GINT64_FORMAT, v);
	else
		g_string_append(out, "null");
}

/* Write one JSON document (and a newline) to stdout. */
void json_print(GString *out)
{
	g_string_append_c(out, '\n');
	fwrite(out->str, 1, out->len, stdout);
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */


const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "";
}

/* Messages stay on one line whatever bytes a name holds. */
static void print_line(FILE *f, const char *msg)
{
	fputs("mapfsctl: ", f);
	for (const char *p = msg; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	fputc('\n', f);
}

static void report_error(const char *msg, int e, bool usage)
{
	print_line(stderr, msg);
	if (usage)
		fprintf(stderr, "Try 'mapfsctl --help' for more information.\n");
	if (opt_json) {
		GString *out = g_string_new("{");

		json_key(out, "error");
		json_str(out, msg);
		g_string_append_printf(out, ", \"errno\": %d, ", e);
		json_key(out, "code");
		json_str(out, errno_name(e));
		if (usage)
			g_string_append(out, ", \"usage\": true");
		g_string_append_c(out, '}');
		json_print(out);
		g_string_free(out, TRUE);
	}
}

/* An operation failed with errno E: "mapfsctl: WHAT[: DETAIL]: strerror"
 * on stderr, the error object on stdout with --json, exit 1. */
G_GNUC_PRINTF(3, 4)
G_NORETURN void die(int e, const char *detail, const char *fmt, ...)
{
	va_list ap;
	GString *msg = g_string_new(NULL);

	va_start(ap, fmt);
	g_string_append_vprintf(msg, fmt, ap);
	va_end(ap);
	if (detail)
		g_string_append_printf(msg, ": %s", detail);
	g_string_append_printf(msg, ": %s", g_strerror(e));
	report_error(msg->str, e, false);
	exit(EXIT_FAILED);
}

G_GNUC_PRINTF(1, 2)
G_NORETURN void usage_error(const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	report_error(msg, EINVAL, true);
	exit(EXIT_USAGE);
}

/* A warning that does not stop a walk (the walk then exits 1). */
GPtrArray *walk_errors;

G_GNUC_PRINTF(3, 4)
void warn(const char *path, int e, const char *fmt, ...)
{
	va_list ap;
	WalkError *w = g_new0(WalkError, 1);
	GString *msg = g_string_new(NULL);

	va_start(ap, fmt);
	g_string_append_vprintf(msg, fmt, ap);
	va_end(ap);
	g_string_append_printf(msg, ": %s", g_strerror(e));
	print_line(stderr, msg->str);
	w->path = g_strdup(path);
	w->msg = g_string_free(msg, FALSE);
	w->errnum = e;
	g_ptr_array_add(walk_errors, w);
}
