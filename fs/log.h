/* log: one place that says things, to stderr in the foreground and to
 * syslog in the background, and one place that answers errors. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "fs.h"

void fs_log_init(bool to_syslog, bool debug);
void fs_log(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reply err (a positive errno) to req and log why, naming the operation
 * and what it was about. Expected misses (ENOENT, EEXIST, ...) are logged
 * only with -d. */
void fs_reply_err(fuse_req_t req, int err, const char *op, const char *what);
