/* test-number: the numbers users type (core/mf-number.c) and the view
 * names built on them (core/mf-view.c): what parses, what is refused, and
 * that nothing wraps or slips past the 63-bit limit of file offsets.
 */
#include "unit.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "mf-number.h"
#include "mf-view.h"

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "0x1000", 4096 },
		{ "0XfF", 255 },
		{ "4K", 4096 },
		{ "4k", 4096 },
		{ "1M", 1u << 20 },
		{ "2G", 2ull << 30 },
		{ "1T", 1ull << 40 },
		{ "0x10K", 16ull << 10 },
		{ "18446744073709551615", UINT64_MAX },
		{ "0xffffffffffffffff", UINT64_MAX },
		{ "16777215T", 16777215ull << 40 },
	};
	static const char *const einval[] = {
		"", "-1", "+1", " 1", "1 ", "0x", "1Q", "1KK", "1.5K", "K",
		"1K1", "0x1G0", "08x",
	};
	static const char *const eoverflow[] = {
		"18446744073709551616", "99999999999999999999999",
		"0x10000000000000000", "16777216T", "17179869184G",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
		v = 1;
		assert_int_equal(mf_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(einval); i++) {
		v = 7;
		assert_int_equal(mf_parse_size(einval[i], &v), -EINVAL);
		assert_true(v == 7);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(eoverflow); i++) {
		v = 7;
		assert_int_equal(mf_parse_size(eoverflow[i], &v), -EOVERFLOW);
		assert_true(v == 7);
	}
	assert_int_equal(mf_parse_size(NULL, &v), -EINVAL);
}

static void test_view_windows(void **state)
{
	MfViewSpec s;
	char *name = NULL;

	(void)state;
	assert_int_equal(mf_view_spec_parse("rw", &s), 0);
	assert_false(s.window);
	assert_true(s.off == 0 && s.len == UINT64_MAX);
	assert_int_equal(mf_view_spec_parse("ro:4K+512", &s), 0);
	assert_true(s.mode == MF_VIEW_RO && s.window);
	assert_true(s.off == 4096 && s.len == 512);
	/* ":OFFSET" alone runs to the end. */
	assert_int_equal(mf_view_spec_parse("rw:1M", &s), 0);
	assert_true(s.off == 1u << 20 && s.len == UINT64_MAX);
	/* The largest windows there are: up to 2^63 - 1. */
	assert_int_equal(mf_view_spec_parse("ro:0x7fffffffffffffff", &s), 0);
	assert_int_equal(mf_view_spec_parse("ro:0+0x7fffffffffffffff", &s), 0);
	assert_true(s.len == (uint64_t)INT64_MAX);
	assert_int_equal(mf_view_spec_parse("ro:9223372036854775806+1", &s), 0);
	/* Past 2^63 - 1, however it is spelled: a length of 2^64 - 1 is
	 * no "to the end". */
	assert_int_equal(mf_view_spec_parse("rw:0+18446744073709551615", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("rw:0+0xffffffffffffffff", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("ro:1+0xffffffffffffffff", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("ro:0+0x8000000000000000", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("ro:9223372036854775807+1", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("ro:0x8000000000000000", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("rw:1+", &s), -EINVAL);
	assert_int_equal(mf_view_spec_parse("rw:18446744073709551616", &s),
			 -EINVAL);
	assert_int_equal(mf_view_spec_parse("nope:1", &s), -ENOENT);
	/* Named views (snapshots, private views) take the same windows. */
	assert_int_equal(mf_view_spec_parse_named("monday:1M+4K", MF_VIEW_SNAP,
						  &name, &s), 0);
	assert_string_equal(name, "monday");
	assert_true(s.off == 1u << 20 && s.len == 4096);
	g_free(name);
	name = NULL;
	assert_int_equal(mf_view_spec_parse_named("monday:0+18446744073709551615",
						  MF_VIEW_SNAP, &name, &s),
			 -EINVAL);
	assert_null(name);
}

static void test_canonical_names(void **state)
{
	MfViewSpec s;
	char *n;

	(void)state;
	assert_int_equal(mf_view_spec_parse("ro:0x1000+0x200", &s), 0);
	n = mf_view_spec_name(&s);
	assert_string_equal(n, "ro:4096+512");
	g_free(n);
	assert_int_equal(mf_view_spec_parse("rw:1M", &s), 0);
	n = mf_view_spec_name(&s);
	assert_string_equal(n, "rw:1048576");
	g_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_view_windows),
		cmocka_unit_test(test_canonical_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
