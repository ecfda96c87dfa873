/* test-sweep: whole file records removed from the state directory
 * (core/mf-state-sweep.c), as .shm objects' records go at unmount, at the
 * next mount, and with the object. */
#include "unit.h"

#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-state-sweep.h"

#define BIG (UINT64_C(1) << 62)

typedef struct Fix {
	char *dir;
	int fd;                 /* the state directory */
	MfStateDir *sd;
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);

	f->dir = unit_tmpdir();
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(mf_statedir_open(f->fd, false, &f->sd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

	mf_statedir_free(f->sd);
	close(f->fd);
	unit_rmtree(f->dir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

/* A record as the engine makes it, with a snapshot's files in it. */
static void make_record(Fix *f, uint64_t ino)
{
	g_autofree char *snap = g_strdup_printf("%s/files/%" PRIu64
						"/snap/s1", f->dir, ino);
	MfState *st;

	assert_int_equal(mf_state_get_ino(f->sd, ino, true, &st), 0);
	mf_state_unref(st);
	assert_int_equal(g_mkdir_with_parents(snap, 0700), 0);
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = { "pages", "map", "meta" };
		g_autofree char *p = g_build_filename(snap, names[i], NULL);

		assert_true(g_file_set_contents(p, "x", 1, NULL));
	}
}

static bool has_record(Fix *f, uint64_t ino)
{
	g_autofree char *p = g_strdup_printf("%s/files/%" PRIu64, f->dir, ino);

	return access(p, F_OK) == 0;
}

static void test_sweep_range_keeps_the_rest(void **state)
{
	Fix *f = *state;

	make_record(f, 12);
	make_record(f, BIG | 1);
	make_record(f, BIG | 2);
	/* Not a record: never touched. */
	g_autofree char *odd = g_strdup_printf("%s/files/.new-5", f->dir);
	assert_int_equal(mkdir(odd, 0700), 0);
	assert_int_equal(mf_statedir_sweep(f->sd, BIG, UINT64_MAX), 2);
	assert_true(has_record(f, 12));
	assert_false(has_record(f, BIG | 1));
	assert_false(has_record(f, BIG | 2));
	assert_int_equal(access(odd, F_OK), 0);
	assert_int_equal(mf_statedir_sweep(f->sd, BIG, UINT64_MAX), 0);
}

static void test_sweep_one(void **state)
{
	Fix *f = *state;

	make_record(f, BIG | 7);
	make_record(f, BIG | 8);
	assert_int_equal(mf_statedir_sweep(f->sd, BIG | 7, BIG | 7), 1);
	assert_false(has_record(f, BIG | 7));
	assert_true(has_record(f, BIG | 8));
	/* Nothing there: nothing to do. */
	assert_int_equal(mf_statedir_sweep(f->sd, BIG | 7, BIG | 7), 0);
	/* A record made again after a sweep starts empty. */
	MfState *st;
	assert_int_equal(mf_state_get_ino(f->sd, BIG | 7, true, &st), 0);
	g_auto(GStrv) names = mf_state_snap_list(st);
	assert_null(names[0]);
	mf_state_unref(st);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sweep_range_keeps_the_rest),
		T(test_sweep_one),
	};
#undef T

	return cmocka_run_group_tests_name("sweep", tests, NULL, NULL);
}
