/* test-guard: mf_guard_copy() (core/mf-guard.c) against mappings of files
 * truncated behind them.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mf-guard.h"

#define NPAGES 8

typedef struct Fix {
	char *dir;
	size_t page;
	size_t len; /* NPAGES pages */
	int fd;
	char *map;    /* MAP_SHARED of fd, len bytes */
	uint8_t *buf; /* page-aligned, len + one page */
} Fix;

static int setup(void **state)
{
	Fix *f = g_new0(Fix, 1);
	void *buf = NULL;

	f->page = (size_t)sysconf(_SC_PAGESIZE);
	f->len = NPAGES * f->page;
	f->dir = unit_tmpdir();
	f->fd = unit_create(f->dir, "f", f->len, O_RDWR, NULL);
	f->map = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		      0);
	assert_true(f->map != MAP_FAILED);
	assert_int_equal(posix_memalign(&buf, f->page, f->len + f->page), 0);
	f->buf = buf;
	memset(f->buf, 0xEE, f->len + f->page);
	/* Here for the record; cmocka swaps SIGBUS handlers around each
	 * call, so every test installs the guard again (see unit.h). */
	unit_guard();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fix *f = *state;

	munmap(f->map, f->len);
	close(f->fd);
	free(f->buf);
	unit_free_all();
	unit_rmtree(f->dir);
	g_free(f->dir);
	g_free(f);
	return 0;
}

static void test_copy_whole(void **state)
{
	Fix *f = *state;

	unit_guard();
	assert_int_equal(mf_guard_copy(f->buf, f->map, f->len), f->len);
	unit_assert_pattern(f->buf, 0, f->len);
	/* Unaligned on both sides, odd length. */
	memset(f->buf, 0, f->len);
	assert_int_equal(mf_guard_copy(f->buf + 3, f->map + 1001,
				       3 * f->page + 5),
			 3 * f->page + 5);
	unit_assert_pattern(f->buf + 3, 1001, 3 * f->page + 5);
	assert_int_equal(f->buf[2], 0);
	assert_int_equal(f->buf[3 + 3 * f->page + 5], 0);
	/* Nothing to copy. */
	assert_int_equal(mf_guard_copy(f->buf, f->map, 0), 0);
}

/* Reading a mapping whose file was cut: a short count, bytes counted are
 * correct, no crash. */
static void test_copy_from_truncated_source(void **state)
{
	Fix *f = *state;
	size_t cut = 2 * f->page + f->page / 2; /* page 2 still exists */
	size_t r;

	unit_guard();
	assert_int_equal(ftruncate(f->fd, (off_t)cut), 0);
	/* Page-aligned destination: exactly the pages that exist. */
	r = mf_guard_copy(f->buf, f->map, f->len);
	assert_int_equal(r, 3 * f->page);
	unit_assert_pattern(f->buf, 0, cut);
	unit_assert_zero(f->buf + cut, 3 * f->page - cut);

	/* Unaligned destination: it may lose at most the destination page
	 * that straddles the fault, never count a byte it did not copy. */
	memset(f->buf, 0, f->len + f->page);
	r = mf_guard_copy(f->buf + 100, f->map, f->len);
	assert_true(r < f->len);
	assert_true(r <= 3 * f->page);
	assert_true(r + f->page >= 3 * f->page);
	unit_assert_pattern(f->buf + 100, 0, r < cut ? r : cut);

	/* Starting past the cut: nothing at all. */
	assert_int_equal(mf_guard_copy(f->buf, f->map + 4 * f->page, f->page),
			 0);

	/* Cut to nothing. */
	assert_int_equal(ftruncate(f->fd, 0), 0);
	assert_int_equal(mf_guard_copy(f->buf, f->map, f->len), 0);
}

/* Storing into a mapping whose file was cut: short, and the file is not
 * extended by it. */
static void test_copy_into_truncated_destination(void **state)
{
	Fix *f = *state;
	size_t r;

	unit_guard();
	memset(f->buf, 0x3C, f->len);
	assert_int_equal(ftruncate(f->fd, (off_t)f->page), 0);
	r = mf_guard_copy(f->map, f->buf, f->len);
	assert_int_equal(r, f->page);
	assert_int_equal(unit_size(f->fd), f->page);
	{
		uint8_t back[64];

		unit_pread(f->fd, back, sizeof(back), f->page - sizeof(back));
		for (size_t i = 0; i < sizeof(back); i++)
			assert_int_equal(back[i], 0x3C);
	}
}

/* The guard re-arms: fault after fault is caught, and ordinary copies work
 * between them. */
static void test_repeated_faults(void **state)
{
	Fix *f = *state;

	unit_guard();
	assert_int_equal(ftruncate(f->fd, (off_t)f->page), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(mf_guard_copy(f->buf, f->map, f->len),
				 f->page);
		assert_int_equal(mf_guard_copy(f->buf, f->map, f->page),
				 f->page);
	}
	unit_assert_pattern(f->buf, 0, f->page);
}

/* A caught fault leaves the thread's signal mask as it was: SIGBUS not
 * blocked (the next fault is caught too), and what the caller blocked
 * still blocked. mf_guard_copy() does not save the mask (a system call
 * per copy); the handler's SA_NODEFER makes that safe. */
static void test_fault_keeps_signal_mask(void **state)
{
	Fix *f = *state;
	sigset_t block, before, after;

	unit_guard();
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &before), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &before), 0);
	assert_int_equal(ftruncate(f->fd, (off_t)f->page), 0);
	assert_int_equal(mf_guard_copy(f->buf, f->map, f->len), f->page);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
	assert_false(sigismember(&after, SIGBUS));
	assert_true(sigismember(&after, SIGUSR1));
	for (int sig = 1; sig < NSIG; sig++)
		assert_int_equal(sigismember(&after, sig) == 1,
				 sigismember(&before, sig) == 1);
	assert_int_equal(mf_guard_copy(f->buf, f->map, f->len), f->page);
	assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &block, NULL), 0);
}

typedef struct Racer {
	Fix *f;
	unsigned bad;
} Racer;

static gpointer fault_loop(gpointer p)
{
	Racer *r = p;
	Fix *f = r->f;
	void *mem = NULL;
	uint8_t *buf;

	/* Page-aligned: the count is then exactly the pages that exist. */
	if (posix_memalign(&mem, f->page, f->len) != 0) {
		r->bad++;
		return NULL;
	}
	buf = mem;

	for (int i = 0; i < 200; i++) {
		size_t n = mf_guard_copy(buf, f->map, f->len);

		if (n != 2 * f->page || memcmp(buf, f->map, 2 * f->page) != 0)
			r->bad++;
	}
	free(buf);
	return NULL;
}

/* The jump buffer is per thread: concurrent faults in several threads each
 * land in their own copy. */
static void test_faults_in_threads(void **state)
{
	Fix *f = *state;
	Racer r[4];
	GThread *t[4];

	unit_guard();
	assert_int_equal(ftruncate(f->fd, (off_t)(2 * f->page)), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (Racer){ .f = f };
		t[i] = g_thread_new("fault", fault_loop, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		assert_int_equal(r[i].bad, 0);
	}
}

static int touch_unguarded(void *arg)
{
	Fix *f = arg;
	volatile char c;

	if (mf_guard_install() < 0)
		return 2;
	if (ftruncate(f->fd, 0) < 0)
		return 3;
	c = f->map[0]; /* SIGBUS outside any guarded copy */
	(void)c;
	return 0;
}

/* A SIGBUS outside a guarded copy is a bug and must still kill. */
static void test_unguarded_fault_kills(void **state)
{
	Fix *f = *state;
	int status = unit_in_child(touch_unguarded, f);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_from_truncated_source,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_copy_into_truncated_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_faults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_keeps_signal_mask,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults_in_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unguarded_fault_kills,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("guard", tests, NULL, NULL);
}
