/* mf-guard: SIGBUS-safe copies to and from mmap windows.
 *
 * Each thread that copies arms a thread-local jump buffer; the SIGBUS handler
 * jumps back to it. A SIGBUS outside an armed copy is a real bug: the handler
 * restores the default action and lets the signal kill the process.
 */
#include "mf-guard.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* volatile, and fenced below: the compiler knows memcpy cannot read it and
 * would otherwise sink the store past the copy it guards. */
static __thread sigjmp_buf *volatile guard_jump;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	(void)info;
	(void)ctx;
	if (guard_jump)
		siglongjmp(*guard_jump, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

int mf_guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

size_t mf_guard_copy(void *dst, const void *src, size_t n)
{
	static size_t page;
	sigjmp_buf jump;
	/* volatile: read after siglongjmp, so it must live in memory. */
	volatile size_t done = 0;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	/* No signal mask to save: the handler runs with SA_NODEFER and an
	 * empty sa_mask, so jumping out of it leaves the mask as it was.
	 * Saving it would cost an rt_sigprocmask call on every copy. */
	if (sigsetjmp(jump, 0)) {
		guard_jump = NULL;
		return done;
	}
	guard_jump = &jump;
	atomic_signal_fence(memory_order_seq_cst);
	while (done < n) {
		/* Chunks end on page boundaries of both sides, so a fault
		 * costs only the page it hit, and everything counted is
		 * really copied. */
		size_t to_dst = page - (((uintptr_t)dst + done) & (page - 1));
		size_t to_src = page - (((uintptr_t)src + done) & (page - 1));
		size_t chunk = to_dst < to_src ? to_dst : to_src;

		if (chunk > n - done)
			chunk = n - done;
		memcpy((char *)dst + done, (const char *)src + done, chunk);
		done += chunk;
	}
	atomic_signal_fence(memory_order_seq_cst);
	guard_jump = NULL;
	return done;
}
