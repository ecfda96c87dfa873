/* mf-number: strict size parsing; nothing is guessed, nothing wraps. */
#include "mf-number.h"

#include <ctype.h>
#include <errno.h>

static int digit_value(char c, unsigned base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (base == 16 && isxdigit((unsigned char)c))
		v = tolower((unsigned char)c) - 'a' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

int mf_parse_size(const char *s, uint64_t *out)
{
	unsigned base = 10, shift = 0;
	uint64_t v = 0;
	const char *p = s;
	int d;

	if (!s || !*s)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (digit_value(*p, base) < 0)
		return -EINVAL;
	for (; (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -EOVERFLOW;
		v = v * base + (uint64_t)d;
	}
	switch (toupper((unsigned char)*p)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift && *++p)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EOVERFLOW;
	*out = v << shift;
	return 0;
}
