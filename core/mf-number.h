/* mf-number: the numbers users type in options and view names. */
#pragma once

#include <stdint.h>

/* Parse all of s as a size: decimal, or 0x hex, optionally followed by one
 * binary suffix K, M, G or T (case-insensitive). No sign, no spaces.
 * Returns 0, -EINVAL for anything else, -EOVERFLOW past 64 bits. */
int mf_parse_size(const char *s, uint64_t *out);
