/* log: one place that says things, to stderr in the foreground and to
 * syslog in the background. */
#pragma once

#include <stdbool.h>
#include <syslog.h>


void fs_log_init(bool to_syslog, bool debug);
void fs_log(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
