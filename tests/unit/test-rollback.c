/* test-rollback: rolling a file back to a snapshot and listing what
 * changed since one (core/mf-rollback.c), on the fixture of test-state.c:
 * a real backing file, a model of the live file and of each snapshot.
 *
 * test-state.c is included whole (its main renamed) so both suites share
 * one fixture and one set of checks. Built twice like it: plainly, with
 * mf_backing_write_locked() wrapped so that a test can stop the rollback
 * dead part way (a crash), and with -DUNIT_WRAP_IO for the store faults.
 */
#define main state_main
#include "test-state.c"
#undef main

#include "mf-rollback.h"

/* ---- a crash part way: the child dies before its Nth page write ------ */
#ifndef UNIT_WRAP_IO

ssize_t __real_mf_backing_write_locked(MfBacking *b, uint64_t off,
				       const void *buf, size_t len);
ssize_t __wrap_mf_backing_write_locked(MfBacking *b, uint64_t off,
				       const void *buf, size_t len);

static unsigned die_at_write;   /* 0: never */
static unsigned writes_seen;
/* Called before the second write of a rollback, if set. */
static void (*during_rollback)(void *arg);
static void *during_arg;

ssize_t __wrap_mf_backing_write_locked(MfBacking *b, uint64_t off,
				       const void *buf, size_t len)
{
	++writes_seen;
	if (die_at_write && writes_seen == die_at_write)
		_exit(42);      /* as SIGKILL: no unwinding, no cleanup */
	if (during_rollback && writes_seen == 2) {
		void (*fn)(void *) = during_rollback;

		during_rollback = NULL;
		fn(during_arg);
	}
	return __real_mf_backing_write_locked(b, off, buf, len);
}
#endif

/* Roll back and check: the file is the snapshot's model, the snapshot is
 * gone, and pages pages were written. */
#define assert_rollback(f, name, m, pages) \
	check_rollback(f, name, m, pages, __LINE__)
static void check_rollback(Fix *f, const char *name, const Model *m,
			   uint64_t want_pages, int line)
{
	MfEntryInfo info;
	uint64_t pages = 0;
	int r = mf_state_snap_rollback(f->st, f->b, name, &pages);

	if (r != 0 || pages != want_pages) {
		print_error("rollback %s: %d, %llu pages, expected 0, %llu\n",
			    name, r, (unsigned long long)pages,
			    (unsigned long long)want_pages);
		_fail(__FILE__, line);
	}
	memcpy(f->live.b, m->b, MAXSZ);
	f->live.size = m->size;
	check_file(f, line);
	if (mf_state_snap_info(f->st, name, &info) != -ENOENT ||
	    entry_on_disk(f, "snap", name)) {
		print_error("rollback %s: the snapshot is still there\n", name);
		_fail(__FILE__, line);
	}
}

/* The changed ranges since name are exactly want (off, len pairs). */
#define assert_changed(f, name, ssize, size, ...)                         \
	check_changed(f, name, ssize, size,                               \
		      (const uint64_t[]){ __VA_ARGS__ },                  \
		      sizeof((const uint64_t[]){ __VA_ARGS__ }) /         \
			      sizeof(uint64_t),                           \
		      __LINE__)
G_GNUC_UNUSED static void check_changed(Fix *f, const char *name, uint64_t want_ssize,
			  uint64_t want_size, const uint64_t *want,
			  size_t n, int line)
{
	GArray *ranges = NULL;
	uint64_t ssize = 0, size = 0;
	int r = mf_state_snap_changed(f->st, f->b, name, &ranges, &ssize,
				      &size);
	GString *got = g_string_new(NULL), *exp = g_string_new(NULL);
	bool same;

	for (guint i = 0; r == 0 && i < ranges->len; i++) {
		MfRange *x = &g_array_index(ranges, MfRange, i);

		g_string_append_printf(got, "%llu+%llu ",
				       (unsigned long long)x->off,
				       (unsigned long long)x->len);
	}
	for (size_t i = 0; i + 1 < n; i += 2)
		g_string_append_printf(exp, "%llu+%llu ",
				       (unsigned long long)want[i],
				       (unsigned long long)want[i + 1]);
	same = r == 0 && ssize == want_ssize && size == want_size &&
	       strcmp(got->str, exp->str) == 0;
	if (!same)
		print_error("changed since %s: %d, sizes %llu %llu, [%s]; "
			    "expected sizes %llu %llu, [%s]\n",
			    name, r, (unsigned long long)ssize,
			    (unsigned long long)size, got->str,
			    (unsigned long long)want_ssize,
			    (unsigned long long)want_size, exp->str);
	g_string_free(got, TRUE);
	g_string_free(exp, TRUE);
	if (ranges)
		g_array_free(ranges, TRUE);
	if (!same)
		_fail(__FILE__, line);
}

#ifndef UNIT_WRAP_IO

/* The middle of three: the file gets its bytes and size back (it had
 * grown), the older and the newer keep theirs, and only the pages that
 * changed since are written. */
static void test_rollback_middle(void **state)
{
	Fix *f = *state;
	Model m[3];

	unit_guard();
	build_chain(f, m);              /* s1 {2,3} s2 {3,4} s3 {3,4,5,20} */
	/* Changed since s2: what s2 and s3 hold, and the appended tail. */
	assert_changed(f, "s2", N0, N0 + 5000, 3 * P, 3 * P, 20 * P, 5100);
	assert_changed(f, "s1", N0, N0 + 5000, 2 * P, 4 * P, 20 * P, 5100);
	assert_changed(f, "s3", N0, N0 + 5000, 3 * P, 3 * P, 20 * P, 5100);
	assert_rollback(f, "s2", &m[1], 4);
	assert_int_equal(unit_size(f->ext), N0);
	assert_list(mf_state_snap_list(f->st), "s1", "s3");
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s3", &m[2]);
	/* s3 now shares no page less with the file than before. */
	assert_changed(f, "s3", N0, N0, 3 * P, 3 * P, 20 * P, 100);

	/* Life goes on: a write after it is kept for the newest. */
	live_write(f, 9 * P, 10, 20);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s3", &m[2]);
	assert_false(mf_state_verify(f->st, f->ext));
	reload(f);
	assert_file(f);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s3", &m[2]);
	assert_list(mf_state_snap_list(f->st), "s1", "s3");
}

/* The newest, then the oldest. */
static void test_rollback_newest_then_oldest(void **state)
{
	Fix *f = *state;
	Model m[3];

	unit_guard();
	build_chain(f, m);
	assert_rollback(f, "s3", &m[2], 4);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s2", &m[1]);
	/* s3 handed s2 the pages it lacked (5, 20): page granularity
	 * errs on the side of "may differ". */
	assert_changed(f, "s2", N0, N0, 3 * P, 3 * P, 20 * P, 100);
	assert_rollback(f, "s1", &m[0], 5);     /* 2, 3, 4, 5, 20 */
	assert_snap(f, "s2", &m[1]);
	/* s2 kept page 2 as the rollback changed it. */
	assert_changed(f, "s2", N0, N0, 2 * P, 4 * P, 20 * P, 100);
	assert_rollback(f, "s2", &m[1], 5);
	assert_list(mf_state_snap_list(f->st), NULL);
	reload(f);
	assert_file(f);
}

/* A snapshot taken at a larger size: the file shrank, then grew past it
 * with other bytes; and one taken small, after which the file grew. */
static void test_rollback_size_shrunk_and_grown(void **state)
{
	Fix *f = *state;
	const uint64_t T = 3 * P + 10, G = 30 * P + 5;
	Model m1, m2, m3;

	unit_guard();
	m1 = snap(f, "s1");                     /* N0 */
	live_truncate(f, T);                    /* s1 keeps 3..20 */
	m2 = snap(f, "s2");                     /* T */
	live_write(f, T, G - T, 1);             /* grows; s2 keeps page 3 */
	m3 = snap(f, "s3");                     /* G */
	live_write(f, 0, 10, 2);                /* s3 keeps page 0 */
	assert_changed(f, "s2", T, G, 0, P, 3 * P, G - 3 * P);
	assert_changed(f, "s1", N0, G, 0, P, 3 * P, G - 3 * P);

	assert_rollback(f, "s2", &m2, 2);       /* 0, 3 */
	assert_int_equal(unit_size(f->ext), T);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s3", &m3);
	/* Grown back to N0 with s1's bytes, none of the zeros of a gap. */
	/* 0, and 3..20: s1's, and s3's that s1 sees (the shrink to T
	 * kept 3..30 for s3). */
	assert_rollback(f, "s1", &m1, 19);
	assert_int_equal(unit_size(f->ext), N0);
	assert_snap(f, "s3", &m3);
	assert_rollback(f, "s3", &m3, 29);     /* all it kept: 0, 3..30 */
	assert_int_equal(unit_size(f->ext), G);
	reload(f);
	assert_file(f);
}

/* A page changed twice, before and after a newer snapshot, rolls back to
 * the first bytes; a hole the snapshot had stays zeros. */
static void test_rollback_page_changed_twice(void **state)
{
	Fix *f = *state;
	Model m1, m2;

	unit_guard();
	live_punch(f, 8 * P, 2 * P);
	m1 = snap(f, "s1");
	live_write(f, 5 * P + 1, 10, 1);
	live_write(f, 5 * P + 2, 10, 2);
	live_write(f, 8 * P + 7, 3, 3);         /* into the hole */
	m2 = snap(f, "s2");
	live_write(f, 5 * P + 3, 10, 3);
	assert_pages(f, 2, 1);
	assert_changed(f, "s1", N0, N0, 5 * P, P, 8 * P, P);
	assert_rollback(f, "s1", &m1, 2);
	assert_snap(f, "s2", &m2);
	assert_pages(f, -1, 2);
	/* And forwards again, to s2. */
	assert_rollback(f, "s2", &m2, 2);
}

/* What must be refused changes nothing. */
static void test_rollback_refused(void **state)
{
	Fix *f = *state;
	Model m1;
	GArray *ranges = NULL;
	uint64_t a, b;

	unit_guard();
	m1 = snap(f, "s1");
	live_write(f, P, 10, 1);
	assert_int_equal(mf_state_snap_rollback(f->st, f->b, "nope", NULL),
			 -ENOENT);
	assert_int_equal(mf_state_snap_changed(f->st, f->b, "nope", &ranges,
					       &a, &b),
			 -ENOENT);
	assert_null(ranges);
	assert_file(f);
	assert_snap(f, "s1", &m1);
	/* Nothing changed at all: nothing to write, the snapshot goes. */
	assert_rollback(f, "s1", &m1, 1);
	m1 = snap(f, "s1");
	assert_changed(f, "s1", N0, N0, 0);
	assert_rollback(f, "s1", &m1, 0);
}

/* From inside the rollback of s2: s2 cannot be deleted nor renamed;
 * the others can. */
static void meddle(void *arg)
{
	Fix *f = arg;

	assert_int_equal(mf_state_snap_delete(f->st, "s2"), -EBUSY);
	assert_int_equal(mf_state_snap_rename(f->st, "s2", "x"), -EBUSY);
	assert_int_equal(mf_state_snap_delete(f->st, "s1"), 0);
	assert_int_equal(mf_state_snap_rename(f->st, "s3", "t3"), 0);
}

/* A snapshot being rolled back stays put (EBUSY); an older one deleted
 * meanwhile moves it in the chain, and the rollback still finds it. */
static void test_rollback_busy(void **state)
{
	Fix *f = *state;
	Model m[3];

	unit_guard();
	build_chain(f, m);
	writes_seen = 0;
	during_rollback = meddle;
	during_arg = f;
	assert_rollback(f, "s2", &m[1], 4);
	assert_null(during_rollback);   /* it ran */
	assert_list(mf_state_snap_list(f->st), "t3");
	assert_snap(f, "t3", &m[2]);
	reload(f);
	assert_file(f);
	assert_snap(f, "t3", &m[2]);
}

typedef struct Crash {
	Fix *f;
	unsigned at;
} Crash;

static int crash_rollback(void *arg)
{
	Crash *c = arg;

	writes_seen = 0;
	die_at_write = c->at;
	mf_state_snap_rollback(c->f->st, c->f->b, "s2", NULL);
	return 0;               /* not reached */
}

/* Killed part way (before its first, then its second write of a run of
 * pages): the snapshot and the others are all there after a remount,
 * and rolling back again finishes the job. */
static void test_rollback_crash(void **state)
{
	Fix *f = *state;
	Model m[3];

	unit_guard();
	build_chain(f, m);
	/* Pages 3, 4, 5 go back in one write, 20 in another. */
	for (unsigned at = 1; at <= 2; at++) {
		Crash c = { f, at };
		int status = unit_in_child(crash_rollback, &c);

		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 42);
		reload(f);
		assert_list(mf_state_snap_list(f->st), "s1", "s2", "s3");
		/* It changed the file before it died: says so. */
		assert_true(mf_state_snap_interrupted(f->st, "s2"));
		assert_false(mf_state_snap_interrupted(f->st, "s1"));
		assert_snap(f, "s1", &m[0]);
		assert_snap(f, "s2", &m[1]);
		assert_snap(f, "s3", &m[2]);
	}
	assert_rollback(f, "s2", &m[1], 4);
	assert_snap(f, "s1", &m[0]);
	assert_snap(f, "s3", &m[2]);
	/* A new s2 is not the one interrupted. */
	snap(f, "s2");
	assert_false(mf_state_snap_interrupted(f->st, "s2"));
	reload(f);
	assert_file(f);
}

#else /* UNIT_WRAP_IO */

/* The store cannot keep a page the rollback changes for the newer
 * snapshot: nothing changes, the snapshot stays; with room, it goes. */
static void test_rollback_store_full(void **state)
{
	Fix *f = *state;
	Model m1, m2;

	unit_guard();
	m1 = snap(f, "s1");
	live_write(f, 2 * P, 3 * P, 1);         /* s1 keeps 2, 3, 4 */
	m2 = snap(f, "s2");
	/* Rolling back writes 2, 3, 4, whose bytes now s2 must keep. */
	unit_io_fail("pwrite", "snap/s2/pages", ENOSPC, P);
	assert_int_equal(mf_state_snap_rollback(f->st, f->b, "s1", NULL),
			 -ENOSPC);
	assert_true(unit_io_hits() > 0);
	unit_io_reset();
	assert_file(f);
	assert_snap(f, "s1", &m1);
	assert_snap(f, "s2", &m2);
	assert_list(mf_state_snap_list(f->st), "s1", "s2");
	assert_false(mf_state_snap_interrupted(f->st, "s1"));  /* untouched */
	assert_rollback(f, "s1", &m1, 3);
	assert_snap(f, "s2", &m2);
}
#endif /* UNIT_WRAP_IO */

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
#ifndef UNIT_WRAP_IO
		T(test_rollback_middle),
		T(test_rollback_newest_then_oldest),
		T(test_rollback_size_shrunk_and_grown),
		T(test_rollback_page_changed_twice),
		T(test_rollback_refused),
		T(test_rollback_busy),
		T(test_rollback_crash),
#else
		T(test_rollback_store_full),
#endif
	};
#undef T

#ifndef UNIT_WRAP_IO
	return cmocka_run_group_tests_name("rollback", tests, NULL, NULL);
#else
	return cmocka_run_group_tests_name("rollback-faults", tests, NULL,
					   NULL);
#endif
}
