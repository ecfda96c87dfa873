/* mf-window: aligned MAP_SHARED windows of backing files, pinned while in
 * use and evicted least-recently-used beyond a budget.
 *
 * Invariants, all under cache->lock:
 *  - every mapped window is in cache->windows, keyed by (fd, index);
 *  - a window is in cache->lru exactly when its pin count is zero;
 *  - a window is in the queue by_fd holds for its fd, and every queue
 *    there has at least one window;
 *  - mapped_now == g_hash_table_size(windows).
 * mmap and munmap run outside the lock: munmap costs a TLB shootdown on
 * every core, and both wait for the address space's lock, which threads
 * faulting pages in through other windows hold; lookups must not stall
 * behind them. Two threads missing the same window may both map it; the
 * second to come back unmaps its own and pins the first's.
 */
#include "mf-window.h"

#include <errno.h>
#include <glib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

typedef struct WindowKey {
	int fd;
	uint64_t index;
} WindowKey;

struct MfWindow {
	WindowKey key;          /* first: the hash table's key points here */
	MfWindowCache *cache;
	char *addr;
	size_t len;             /* mapped: window_size, but for the window
				 * that reaches mf_window_map_limit() */
	unsigned pins;          /* protected by cache->lock */
	/* Writable windows: each page's writes state (mf_window_prepare_write)
	 * since the window was mapped or the file last lost pages through
	 * us; atomic. */
	uint8_t *writes;
	GList lru_link;         /* in cache->lru while pins == 0 */
	GList fd_link;          /* in its fd's queue in cache->by_fd */
};

struct MfWindowCache {
	GMutex lock;
	size_t window_size;
	unsigned window_shift;
	unsigned page_shift;
	unsigned max_windows;
	GHashTable *windows;    /* WindowKey* -> MfWindow*; protected by lock */
	GQueue lru;             /* unpinned windows, oldest at head; lock */
	/* fd + 1 -> GQueue of its windows (fd_link); lock. Forgetting a
	 * file's windows, which every close of a file beyond the idle
	 * budget does, must not walk every window of every file. */
	GHashTable *by_fd;
	MfWindowStats stats;    /* lock */
	GThreadPool *helper;    /* deferred work, one thread; set once under
				 * lock, freed by mf_window_cache_free */
};

static guint window_key_hash(gconstpointer p)
{
	const WindowKey *k = p;

	return (guint)(k->index * 0x9E3779B97F4A7C15ull >> 32) ^ (guint)k->fd;
}

static gboolean window_key_equal(gconstpointer a, gconstpointer b)
{
	const WindowKey *x = a, *y = b;

	return x->fd == y->fd && x->index == y->index;
}

MfWindowCache *mf_window_cache_new(size_t window_size, unsigned max_windows)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	MfWindowCache *cache;

	if (window_size < page || (window_size & (window_size - 1)) ||
	    max_windows == 0) {
		errno = EINVAL;
		return NULL;
	}
	cache = g_new0(MfWindowCache, 1);
	g_mutex_init(&cache->lock);
	cache->window_size = window_size;
	cache->window_shift = (unsigned)__builtin_ctzll(window_size);
	cache->page_shift = (unsigned)__builtin_ctzll(page);
	cache->max_windows = max_windows;
	cache->windows = g_hash_table_new(window_key_hash, window_key_equal);
	cache->by_fd = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&cache->lru);
	return cache;
}

static void window_unmap(MfWindow *w)
{
	munmap(w->addr, w->len);
	g_free(w->writes);
	g_free(w);
}

uint64_t mf_window_map_limit(void)
{
	return ((uint64_t)1 << 63) - (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Unlink w from the cache; the caller unmaps it after dropping the lock. */
static GQueue *fd_queue_locked(MfWindowCache *cache, int fd)
{
	return g_hash_table_lookup(cache->by_fd, GINT_TO_POINTER(fd + 1));
}

static void window_detach_locked(MfWindowCache *cache, MfWindow *w)
{
	GQueue *q = fd_queue_locked(cache, w->key.fd);

	g_queue_unlink(q, &w->fd_link);
	if (g_queue_is_empty(q)) {
		g_hash_table_remove(cache->by_fd, GINT_TO_POINTER(w->key.fd + 1));
		g_queue_free(q);
	}
	g_hash_table_remove(cache->windows, &w->key);
	if (w->pins == 0)
		g_queue_unlink(&cache->lru, &w->lru_link);
	cache->stats.mapped_now--;
	cache->stats.unmaps++;
}

/* Detach least-recently-used windows until at most keep are mapped.
 * Returns the detached ones for unmapping outside the lock. */
static GSList *evict_locked(MfWindowCache *cache, unsigned keep)
{
	GSList *victims = NULL;

	while (cache->stats.mapped_now > keep && cache->lru.head) {
		MfWindow *w = cache->lru.head->data;

		window_detach_locked(cache, w);
		victims = g_slist_prepend(victims, w);
	}
	return victims;
}

static void unmap_all(GSList *victims)
{
	g_slist_free_full(victims, (GDestroyNotify)window_unmap);
}

typedef struct Deferred {
	void (*fn)(void *arg);
	void *arg;
} Deferred;

static void run_deferred(gpointer data, gpointer user)
{
	Deferred *d = data;

	(void)user;
	d->fn(d->arg);
	g_free(d);
}

void mf_window_cache_defer(MfWindowCache *cache, void (*fn)(void *arg),
			   void *arg)
{
	Deferred *d = g_new(Deferred, 1);
	GThreadPool *pool;

	d->fn = fn;
	d->arg = arg;
	g_mutex_lock(&cache->lock);
	if (!cache->helper)
		cache->helper = g_thread_pool_new(run_deferred, NULL, 1, FALSE,
						  NULL);
	pool = cache->helper;
	g_mutex_unlock(&cache->lock);
	g_thread_pool_push(pool, d, NULL);
}

void mf_window_cache_drain(MfWindowCache *cache)
{
	GThreadPool *pool;

	g_mutex_lock(&cache->lock);
	pool = g_steal_pointer(&cache->helper);
	g_mutex_unlock(&cache->lock);
	/* Work deferred from now on starts a new helper. */
	if (pool)
		g_thread_pool_free(pool, FALSE, TRUE);
}

void mf_window_cache_free(MfWindowCache *cache)
{
	GSList *victims;

	if (!cache)
		return;
	/* Deferred work holds pins and references of its own: let it end. */
	mf_window_cache_drain(cache);
	g_mutex_lock(&cache->lock);
	g_assert(cache->lru.length == g_hash_table_size(cache->windows));
	victims = evict_locked(cache, 0);
	g_mutex_unlock(&cache->lock);
	unmap_all(victims);
	g_hash_table_destroy(cache->windows);
	g_hash_table_destroy(cache->by_fd);
	g_mutex_clear(&cache->lock);
	g_free(cache);
}

size_t mf_window_cache_window_size(const MfWindowCache *cache)
{
	return cache->window_size;
}

void mf_window_cache_stats(MfWindowCache *cache, MfWindowStats *out)
{
	g_mutex_lock(&cache->lock);
	*out = cache->stats;
	g_mutex_unlock(&cache->lock);
}

/* Take a pin on w, a window of the table. */
static void pin_locked(MfWindowCache *cache, MfWindow *w)
{
	if (w->pins++ == 0)
		g_queue_unlink(&cache->lru, &w->lru_link);
}

int mf_window_pin(MfWindowCache *cache, int fd, bool writable, uint64_t off,
		  MfWindow **ret)
{
	WindowKey key = { fd, off >> cache->window_shift };
	uint64_t start = key.index << cache->window_shift;
	size_t len = cache->window_size;
	GSList *victims = NULL;
	MfWindow *w;
	void *addr;

	/* The kernel maps no byte at or past the limit: the window that
	 * reaches it is mapped short of it, and the bytes past it are no
	 * window's. */
	if (off >= mf_window_map_limit()) {
		g_mutex_lock(&cache->lock);
		cache->stats.map_failures++;
		g_mutex_unlock(&cache->lock);
		*ret = NULL;
		return -EOVERFLOW;
	}
	if (len > mf_window_map_limit() - start)
		len = (size_t)(mf_window_map_limit() - start);

	g_mutex_lock(&cache->lock);
	w = g_hash_table_lookup(cache->windows, &key);
	if (w) {
		cache->stats.hits++;
		pin_locked(cache, w);
		g_mutex_unlock(&cache->lock);
		*ret = w;
		return 0;
	}
	cache->stats.misses++;
	g_mutex_unlock(&cache->lock);

	/* mmap outside the lock: it waits for the address space's lock,
	 * which threads copying through other windows hold while they
	 * fault pages in, and every pin of every thread would wait too. */
	addr = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0),
		    MAP_SHARED, fd, (off_t)start);

	g_mutex_lock(&cache->lock);
	if (addr == MAP_FAILED) {
		int err = -errno;

		cache->stats.map_failures++;
		g_mutex_unlock(&cache->lock);
		*ret = NULL;
		return err;
	}
	cache->stats.maps++;
	w = g_hash_table_lookup(cache->windows, &key);
	if (w) {
		/* Another thread mapped the same window meanwhile: use its. */
		pin_locked(cache, w);
		cache->stats.unmaps++;
		g_mutex_unlock(&cache->lock);
		munmap(addr, len);
		*ret = w;
		return 0;
	}
	/* Make room first, so the budget holds once this window is in. */
	victims = evict_locked(cache, cache->max_windows - 1);
	w = g_new0(MfWindow, 1);
	w->key = key;
	w->cache = cache;
	w->addr = addr;
	w->len = len;
	w->pins = 1;
	if (writable)
		w->writes = g_new0(uint8_t, cache->window_size >> cache->page_shift);
	w->lru_link.data = w;
	w->fd_link.data = w;
	g_hash_table_add(cache->windows, w);
	{
		GQueue *q = fd_queue_locked(cache, fd);

		if (!q) {
			q = g_queue_new();
			g_hash_table_insert(cache->by_fd,
					    GINT_TO_POINTER(fd + 1), q);
		}
		g_queue_push_tail_link(q, &w->fd_link);
	}
	cache->stats.mapped_now++;
	g_mutex_unlock(&cache->lock);
	unmap_all(victims);
	*ret = w;
	return 0;
}

void mf_window_unpin(MfWindow *w)
{
	MfWindowCache *cache = w->cache;
	GSList *victims = NULL;

	g_mutex_lock(&cache->lock);
	g_assert(w->pins > 0);
	if (--w->pins == 0) {
		g_queue_push_tail_link(&cache->lru, &w->lru_link);
		victims = evict_locked(cache, cache->max_windows);
	}
	g_mutex_unlock(&cache->lock);
	unmap_all(victims);
}

uint64_t mf_window_offset(const MfWindow *w)
{
	return w->key.index << w->cache->window_shift;
}

char *mf_window_addr(const MfWindow *w)
{
	return w->addr;
}

size_t mf_window_length(const MfWindow *w)
{
	return w->len;
}

int mf_window_populate(MfWindow *w, size_t from, size_t len)
{
	MfWindowCache *cache = w->cache;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t start = from & ~(page - 1);
	size_t stop = from + len;

	if (stop > w->len)
		stop = w->len;
	if (stop <= start)
		return 0;
	stop = (stop + page - 1) & ~(page - 1);
	if (madvise(w->addr + start, stop - start, MADV_POPULATE_READ) < 0)
		return -errno;
	g_mutex_lock(&cache->lock);
	cache->stats.populates++;
	g_mutex_unlock(&cache->lock);
	return 0;
}

/* A page's writes state (MfWindow.writes): 0 .. REWRITES - 1, writes made
 * to it with pwrite; REWRITES (MF_WINDOW_REWRITES), rewritten often enough
 * to fault it in; FAULTED, faulted in for writing. Measured here (a
 * virtual machine with shadow page tables, where the host faults too):
 * faulting a page in for writing costs about 5 us more than writing it
 * with pwrite, and a rewrite through the window then saves about 0.2 us a
 * page over pwrite (most of a write's cost is the request itself):
 * faulting in pays after some 25 rewrites, as buying skis pays once their
 * price is spent on renting. On bare metal a fault costs less, and the
 * rule at worst a few pwrites too many. */
enum { REWRITES = MF_WINDOW_REWRITES, FAULTED = REWRITES + 1 };

/* Kernels before 5.14 know no MADV_POPULATE_WRITE: stop asking. */
static bool populate_write_missing;

static uint8_t page_state(const MfWindow *w, size_t page)
{
	return __atomic_load_n(&w->writes[page], __ATOMIC_RELAXED);
}

static void count(MfWindowCache *cache, uint64_t *figure, uint64_t n)
{
	g_mutex_lock(&cache->lock);
	*figure += n;
	g_mutex_unlock(&cache->lock);
}

bool mf_window_prepare_write(MfWindow *w, size_t from, size_t len)
{
	MfWindowCache *cache = w->cache;
	unsigned shift = cache->page_shift;
	size_t first, last, lo = SIZE_MAX, hi = 0;

	if (!w->writes || len == 0 || from + len > cache->window_size)
		return true;
	first = from >> shift;
	last = (from + len - 1) >> shift;
	for (size_t p = first; p <= last; p++) {
		uint8_t st = page_state(w, p);

		if (st == FAULTED)
			continue;
		if (st < REWRITES) {
			/* pwrite all of it; count a write for each page that
			 * has not had its fill yet. Concurrent writers may
			 * lose a count: a hint, never trusted for a byte. */
			for (p = first; p <= last; p++)
				if ((st = page_state(w, p)) < REWRITES)
					__atomic_store_n(&w->writes[p], st + 1,
							 __ATOMIC_RELAXED);
			return false;
		}
		lo = MIN(lo, p);
		hi = p;
	}
	if (lo > hi)
		return true;
	/* Fault [lo, hi] in for writing in one call, not one page fault per
	 * 4 KiB that the copy stores. Past EOF (a truncation behind our back)
	 * it fails: the copy finds out. */
	if (!__atomic_load_n(&populate_write_missing, __ATOMIC_RELAXED)) {
		if (madvise(w->addr + (lo << shift), (hi - lo + 1) << shift,
			    MADV_POPULATE_WRITE) == 0)
			count(cache, &cache->stats.write_populated, hi - lo + 1);
		else if (errno == EINVAL)
			__atomic_store_n(&populate_write_missing, true,
					 __ATOMIC_RELAXED);
	}
	for (size_t p = lo; p <= hi; p++)
		__atomic_store_n(&w->writes[p], FAULTED, __ATOMIC_RELAXED);
	return true;
}

void mf_window_cache_forget_written(MfWindowCache *cache, int fd)
{
	size_t pages = cache->window_size >> cache->page_shift;
	GQueue *q;

	g_mutex_lock(&cache->lock);
	q = fd_queue_locked(cache, fd);
	for (GList *l = q ? q->head : NULL; l; l = l->next) {
		MfWindow *w = l->data;

		for (size_t i = 0; w->writes && i < pages; i++)
			__atomic_store_n(&w->writes[i], 0, __ATOMIC_RELAXED);
	}
	g_mutex_unlock(&cache->lock);
}

/* Pin every mapped window of fd whose index lies in [first, last]. */
static GPtrArray *pin_matching(MfWindowCache *cache, int fd, uint64_t first,
			       uint64_t last)
{
	GPtrArray *pinned = g_ptr_array_new();
	GQueue *q;

	g_mutex_lock(&cache->lock);
	q = fd_queue_locked(cache, fd);
	for (GList *l = q ? q->head : NULL; l; l = l->next) {
		MfWindow *w = l->data;

		if (w->key.index < first || w->key.index > last)
			continue;
		pin_locked(cache, w);
		g_ptr_array_add(pinned, w);
	}
	g_mutex_unlock(&cache->lock);
	return pinned;
}

int mf_window_cache_sync(MfWindowCache *cache, int fd, uint64_t off,
			 uint64_t len)
{
	uint64_t end = len && off + len > off ? off + len : UINT64_MAX;
	GPtrArray *pinned = pin_matching(cache, fd, off >> cache->window_shift,
					 (end - 1) >> cache->window_shift);
	int err = 0;

	for (guint i = 0; i < pinned->len; i++) {
		MfWindow *w = pinned->pdata[i];
		uint64_t wstart = mf_window_offset(w);
		uint64_t from = off > wstart ? off : wstart;
		uint64_t to = end - wstart < w->len ? end : wstart + w->len;
		/* msync wants a page-aligned start. */
		uint64_t pstart = from & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1);

		if (msync(w->addr + (pstart - wstart), to - pstart, MS_SYNC) <
			    0 &&
		    !err)
			err = -errno;
		mf_window_unpin(w);
	}
	g_ptr_array_free(pinned, TRUE);
	return err;
}

void mf_window_cache_forget_fd(MfWindowCache *cache, int fd)
{
	GSList *victims = NULL;
	GQueue *q;

	g_mutex_lock(&cache->lock);
	/* Detaching the last window frees the queue: look it up each time. */
	while ((q = fd_queue_locked(cache, fd))) {
		MfWindow *w = q->head->data;

		g_assert(w->pins == 0);
		window_detach_locked(cache, w);
		victims = g_slist_prepend(victims, w);
	}
	g_mutex_unlock(&cache->lock);
	unmap_all(victims);
}
