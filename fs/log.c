/* log: logging, to stderr or syslog. */
#include "log.h"

#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool log_syslog;
static bool log_debug;

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt,
			     va_list ap)
{
	if ((int)level == LOG_DEBUG && !log_debug)
		return;
	if (log_syslog) {
		vsyslog((int)level, fmt, ap);
	} else {
		vfprintf(stderr, fmt, ap);
	}
}

/* What core/ has to say (g_log), said the same way. */
static void glib_log_to_ours(const gchar *domain, GLogLevelFlags level,
			     const gchar *message, gpointer unused)
{
	(void)domain;
	(void)unused;
	fs_log(level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL |
			G_LOG_LEVEL_WARNING)
		       ? LOG_WARNING
		       : LOG_INFO,
	       "%s", message);
}

void fs_log_init(bool to_syslog, bool debug)
{
	g_log_set_handler("mapfs", G_LOG_LEVEL_MASK, glib_log_to_ours, NULL);
	log_syslog = to_syslog;
	log_debug = debug;
	if (to_syslog)
		openlog("mapfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(fuse_log_to_ours);
}

void fs_log(int priority, const char *fmt, ...)
{
	va_list ap;

	if (priority == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		fputs("mapfs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
