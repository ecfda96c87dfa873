/*
 * difftest — a randomized differential tester for mapfs.
 *
 *   difftest [--seed N] [--ops N] [--files N] [--verbose] [--thorough]
 *            [--shrink] [--shrink-time S] [--replay FILE] [--step-timeout S]
 *            [--skip OP,...] [--no-views] [--no-snapshots] [--avoid-orphan-bugs]
 *            MOUNTDIR PLAINDIR
 *
 * Operations: write and read (pwrite/pread, or lseek + write/read; holes past
 * EOF, 1 MiB window boundaries crossed, offsets near 64 MiB now and then),
 * ftruncate and truncate, fallocate (0, KEEP_SIZE), punch hole, mmap read and
 * mmap write (MAP_SHARED, msync at once or left dirty for a later msync op),
 * rename and unlink among the names, fsync, fdatasync, copy_file_range
 * between the open files, reopen (close, then open with O_CREAT, O_TRUNC,
 * O_APPEND in mixes), and lseek SEEK_DATA/SEEK_HOLE (held to invariants, not
 * compared, see seek_invariants()).
 *
 * It applies one pseudo-random sequence of file operations to the files
 * f0..f(N-1) under MOUNTDIR (a mapfs mount, tree 0) and under PLAINDIR (a
 * plain directory, tree 1), and after every step compares the result and errno
 * of the operation, and the size and bytes of every file in both trees (by
 * name, and through the open descriptors of files that no name reaches any
 * more). The first difference ends the run: the seed, the step and the whole
 * operation log go to stderr, and the exit status is 1 (0 when all passed, 2
 * for usage and set-up errors). A step that takes longer than --step-timeout
 * (the mount hangs) also fails the run, with the log.
 *
 * Determinism: the generator is splitmix64 seeded with --seed, and every
 * operation is a self-contained record (kind, arguments, a seed for its data),
 * printed one per line in the form --replay reads back. Execution never
 * depends on the generator, only on the record and the trees, so a log can be
 * replayed and shrunk (--shrink: delta debugging in fresh subdirectories of
 * both trees) without the run that produced it.
 *
 * Invariants the tester keeps for itself:
 *  - a mapped byte is touched only below the size both trees report at that
 *    moment, so a correct filesystem never raises SIGBUS in the tester; a
 *    SIGBUS that still happens on the mount is caught and reported as a
 *    finding;
 *  - the two trees receive the same calls in the same order; whatever then
 *    differs between them is a finding.
 *
 * Views (issue 3; on by default, --no-views turns them off): some reads and
 * writes of a slot go, on the mount, through a view of the slot's file
 * (F@@/rw and F@@/ro, whole or with a window :OFF+LEN or :OFF, the numbers
 * spelled in decimal, 0x hex or with a K/M suffix), while the plain tree
 * does the same read or write on F at the file offset: the model stays one
 * plain file. A view read returns min(LEN, size - OFF) bytes at most; a
 * write reaching past a window's end fails with EFBIG on the mount and the
 * plain tree does nothing; a write to an ro view fails with EROFS. View
 * descriptors are opened for one operation. See io_target().
 *
 * Snapshots and private views (issue 4; on by default, --no-snapshots turns
 * them off): snap, snapread, snapdel, cowwrite, cowread, cowcommit and
 * cowdiscard act on F@@/snap/sK and F@@/cow/cK of the mount only, and are
 * checked against a model: a snapshot is a copy of the plain file's bytes
 * when it was taken (an unlinked temporary file); a private view is a set
 * of private 4096-byte pages over the current plain file (FILE_MAP_COPY).
 * Snapshot and private view names are unique in a run. Files are model
 * objects: renames carry an object's snapshots and private views to the new
 * name; a file that loses its name (unlink, replaced by a rename) keeps its
 * snapshots listed under its last name, next to those of any file that has
 * that name now (see "model" below). After every step every snapshot is
 * checked (size, and bytes around the op's offset plus a random range; all
 * bytes after the last step), every private view of a named file likewise,
 * and the listings of every F@@/snap and F@@/cow. Before a view, snapshot or
 * private view operation the tester msyncs the lingering mappings of that
 * file in both trees: the contract makes mmap stores visible to other
 * aliases only once written back.
 *
 * Tree snapshots (issue 12; with --tree-root, the mount's root): treesnap
 * takes MOUNTROOT/.snapshots/tID with mkdir, treedel deletes it with rmdir
 * (ENOENT for one the model does not have); the model is a copy of every
 * name of the plain tree when it was taken. After every step every tree
 * snapshot is checked: its listing of the f* names, each name's size and
 * bytes, inode numbers (shared by the names of one object only), and that
 * opening one for writing fails with EROFS. Lingering mappings are written
 * back first (msync), as for file snapshots.
 *
 * Extending: every operation is a row of op_table (generator, executor and the
 * fields it logs). Reads and writes find their descriptor and offset through
 * io_target(), where the view aliases are slotted in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)

#define MAX_FILES 16
#define MAX_IO (256 * KiB)	/* longest read, write, mmap access or copy */
#define BIG_FILE (16 * MiB)	/* beyond this a file is pushed to shrink */
#define BIG_BUDGET (24 * MiB)	/* total bytes allowing a 64 MiB offset */
#define CHUNK (1 * MiB)		/* unit of the content comparison */
#define PAGE 4096ULL		/* page of a private view's model */
#define MAX_SNAPS 6		/* live snapshots the generator allows */
#define MAX_COWS 4		/* live private views the generator allows */
#define MAX_TREES 3		/* live tree snapshots the generator allows */

enum { T_MNT, T_PLAIN, NTREES };
static const char *const tree_label[NTREES] = { "mount", "plain" };

/* ---------------------------------------------------------------- random */

/* splitmix64: tiny, fast, and good enough to drive a tester. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- operations */

enum op_kind {
	OP_WRITE,
	OP_READ,
	OP_TRUNCATE,
	OP_PTRUNCATE,
	OP_FALLOCATE,
	OP_PUNCH,
	OP_MMAP_READ,
	OP_MMAP_WRITE,
	OP_MSYNC,
	OP_RENAME,
	OP_UNLINK,
	OP_FSYNC,
	OP_FDATASYNC,
	OP_COPY,
	OP_REOPEN,
	OP_SEEK,
	OP_SNAP,
	OP_SNAPREAD,
	OP_SNAPDEL,
	OP_COWWRITE,
	OP_COWREAD,
	OP_COWCOMMIT,
	OP_COWDISCARD,
	OP_TREESNAP,
	OP_TREEDEL,
	OP__COUNT
};

/* op flags; their names are in flag_names[] */
#define OF_POS (1u << 0)	/* read/write: lseek + read/write, not pread/pwrite */
#define OF_ZERO (1u << 1)	/* write data: zero bytes */
#define OF_KEEP (1u << 2)	/* fallocate: FALLOC_FL_KEEP_SIZE */
#define OF_LINGER (1u << 3)	/* mmap write: leave the mapping dirty for msync */
#define OF_CREAT (1u << 4)	/* reopen: O_CREAT */
#define OF_TRUNC (1u << 5)	/* reopen: O_TRUNC */
#define OF_APPEND (1u << 6)	/* reopen: O_APPEND */
#define OF_ASYNC (1u << 7)	/* msync: MS_ASYNC rather than MS_SYNC */
#define OF_VIEW (1u << 8)	/* read/write: through a view on the mount; snapread,
				 * cowread: through a window; woff, wlen */
#define OF_RO (1u << 9)		/* read/write: an ro view, not rw (writes: EROFS) */
#define OF_WHOLE (1u << 10)	/* view: no window (F@@/rw) */
#define OF_OPEN (1u << 11)	/* view: window to the end (:OFF) */
#define OF_HEX (1u << 12)	/* view: OFF spelled 0x... */
#define OF_KSUF (1u << 13)	/* view: multiples of 1 KiB spelled with K or M */
#define OF_ROFS (1u << 14)	/* snapread: first try to open it for writing */
#define OF_FULL (1u << 15)	/* snapread, cowread: all bytes */
#define OF_WRONLY (1u << 16)	/* reopen: O_WRONLY (reads and maps: EBADF, EACCES) */

static const char *const flag_names[] = {
	"pos", "zero", "keep", "linger", "creat", "trunc", "append", "async",
	"view", "ro", "whole", "open", "hex", "ksuf", "rofs", "full", "wronly",
};

struct op {
	enum op_kind kind;
	int slot, slot2;	/* open-file slots */
	int name, name2;	/* file names fN */
	uint64_t off, off2, len;
	uint64_t dseed;		/* seed of the bytes written */
	unsigned flags;
	int id;			/* snapshot sID, private view cID */
	uint64_t woff, wlen;	/* window of a view (OF_VIEW) */
};

/* fields an op logs and reads back */
#define F_SLOT (1u << 0)
#define F_SLOT2 (1u << 1)
#define F_NAME (1u << 2)
#define F_NAME2 (1u << 3)
#define F_OFF (1u << 4)
#define F_OFF2 (1u << 5)
#define F_LEN (1u << 6)
#define F_DSEED (1u << 7)
#define F_FLAGS (1u << 8)
#define F_ID (1u << 9)
#define F_WIN (1u << 10)	/* woff, wlen: logged for views with a window */

/* One open file per slot and tree; a slot may also hold one dirty mapping
 * left for a later msync (OF_LINGER). */
struct slot {
	int fd;
	void *map;
	size_t maplen;
};

struct tree {
	char *root;		/* directory holding f0..f(n-1) */
	struct slot s[MAX_FILES];
};

/*
 * The model of snapshots and private views. Files are objects numbered in
 * the order they came to be; name_obj[] and slot_obj[] say which object
 * each name and each slot holds (-1: none), kept by the executors of reopen,
 * rename and unlink (and checked against the plain tree's inode numbers).
 * A snapshot or private view belongs to an object and is listed under
 * path: the object's name while it has one, its last name after.
 */
struct msnap {
	int id, obj, path;
	uint64_t size;
	int fd;			/* the bytes when taken: an unlinked file */
};

struct mcow {
	int id, obj, path;
	GHashTable *pages;	/* page index (guint64 *) -> PAGE private bytes */
};

/* A tree snapshot tID of the whole mount (--tree-root): what each name
 * held when it was taken (fd -1: no such name), and which object, so that
 * names of one object share an inode number in it. */
struct mtree {
	int id;
	int fd[MAX_FILES];	/* the bytes: unlinked copies */
	uint64_t size[MAX_FILES];
	int obj[MAX_FILES];
};

struct ctx {
	struct tree t[NTREES];
	int nfiles;
	uint64_t rng;
	bool verbose;
	bool thorough;
	uint64_t step;		/* index of the op being executed */
	GString *why;		/* the mismatch, once there is one */
	uint8_t *buf[NTREES];	/* MAX_IO, or CHUNK for comparisons */
	uint8_t *data;		/* bytes to write */
	long pagesize;
	unsigned weight[OP__COUNT];	/* op_table's, 0 for --skip'ped kinds */
	bool views;		/* read/write through views (not --no-views) */
	bool snapshots;		/* snapshot and cow ops (not --no-snapshots) */
	int name_obj[MAX_FILES], slot_obj[MAX_FILES], nobjs;
	GPtrArray *snaps;	/* struct msnap *, live */
	GPtrArray *cows;	/* struct mcow *, live */
	GPtrArray *trees;	/* struct mtree *, live tree snapshots */
	char *tree_root;	/* --tree-root: the mount's root; NULL: no tree ops */
	int next_tree;
	int next_snap, next_cow;	/* generator: the next unused ids */
	uint64_t hint_off, hint_len;	/* the range the current op touched */
	bool full_check;	/* check every byte of snapshots and cows */
	bool avoid_orphan_bugs;	/* generate around two daemon bugs, see removal_clashes() */
};

struct res {
	long long ret;
	int err;		/* meaningful only when ret < 0 */
};

static struct res res_of(long long ret)
{
	struct res r = { ret, ret < 0 ? errno : 0 };

	return r;
}

static bool G_GNUC_PRINTF(2, 3) fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why->len)
		g_string_append(c->why, "; ");
	va_start(ap, fmt);
	g_string_append_vprintf(c->why, fmt, ap);
	va_end(ap);
	return false;
}

static const char *res_str(struct res r, char *buf, size_t n)
{
	if (r.ret >= 0)
		snprintf(buf, n, "%lld", r.ret);
	else
		snprintf(buf, n, "%lld (%s)", r.ret, strerrorname_np(r.err) ?: "?");
	return buf;
}

/* The result of one call must be the same in both trees: the value, and the
 * errno when it failed. */
static bool same_res(struct ctx *c, const char *what, const struct res r[NTREES])
{
	char a[64], b[64];

	if (r[T_MNT].ret == r[T_PLAIN].ret &&
	    (r[T_MNT].ret >= 0 || r[T_MNT].err == r[T_PLAIN].err))
		return true;
	return fail(c, "%s: mount returned %s, plain returned %s", what,
		    res_str(r[T_MNT], a, sizeof(a)), res_str(r[T_PLAIN], b, sizeof(b)));
}

static char *path_of(struct ctx *c, int t, int name)
{
	return g_strdup_printf("%s/f%d", c->t[t].root, name);
}

static void fill_data(uint8_t *p, size_t n, uint64_t seed, bool zero)
{
	size_t i;

	if (zero) {
		memset(p, 0, n);
		return;
	}
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v = splitmix64(&seed);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)splitmix64(&seed);
}

/* First differing byte of a and b, or -1. */
static long long first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	if (!memcmp(a, b, n))
		return -1;
	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return (long long)i;
}

static bool same_bytes(struct ctx *c, const char *what, uint64_t base,
		       const uint8_t *m, const uint8_t *p, size_t n)
{
	long long d = first_diff(m, p, n);
	size_t i, k = 0;

	if (d < 0)
		return true;
	for (i = (size_t)d; i < n; i++)
		if (m[i] != p[i])
			k++;
	return fail(c, "%s: bytes differ at offset %" PRIu64 " (mount 0x%02x, plain 0x%02x; %zu of %zu bytes from there differ)",
		    what, base + (uint64_t)d, m[d], p[d], k, n - (size_t)d);
}

/* ---------------------------------------------------------------- SIGBUS guard */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	if (bus_armed) {
		bus_armed = 0;
		siglongjmp(bus_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* memcpy that reports a SIGBUS from a mapping as false instead of dying */
static bool guarded_copy(void *dst, const void *src, size_t n)
{
	if (sigsetjmp(bus_jmp, 1))
		return false;
	bus_armed = 1;
	memcpy(dst, src, n);
	bus_armed = 0;
	return true;
}

/* ---------------------------------------------------------------- sizes */

/* size of the file in a slot, as the plain tree sees it; 0 when closed */
static uint64_t slot_size(struct ctx *c, int s)
{
	struct stat st;

	if (c->t[T_PLAIN].s[s].fd < 0 || fstat(c->t[T_PLAIN].s[s].fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

static bool name_stat(struct ctx *c, int name, struct stat *st)
{
	g_autofree char *p = path_of(c, T_PLAIN, name);

	return lstat(p, st) == 0;
}

/* Total bytes of the distinct files of the plain tree, and the largest one:
 * the generator keeps them bounded so that comparing after every step stays
 * cheap. */
static void tree_sizes(struct ctx *c, uint64_t *total, uint64_t *largest)
{
	ino_t seen[2 * MAX_FILES];
	int nseen = 0, i, j;
	struct stat st;

	*total = *largest = 0;
	for (i = 0; i < 2 * c->nfiles; i++) {
		bool ok = i < c->nfiles ? name_stat(c, i, &st)
			: (c->t[T_PLAIN].s[i - c->nfiles].fd >= 0 &&
			   fstat(c->t[T_PLAIN].s[i - c->nfiles].fd, &st) == 0);
		if (!ok)
			continue;
		for (j = 0; j < nseen && seen[j] != st.st_ino; j++)
			;
		if (j < nseen)
			continue;
		seen[nseen++] = st.st_ino;
		*total += (uint64_t)st.st_size;
		if ((uint64_t)st.st_size > *largest)
			*largest = (uint64_t)st.st_size;
	}
}

/* ---------------------------------------------------------------- model */

static struct msnap *find_snap(struct ctx *c, int id)
{
	guint i;

	for (i = 0; i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);

		if (m->id == id)
			return m;
	}
	return NULL;
}

static struct mcow *find_cow(struct ctx *c, int id)
{
	guint i;

	for (i = 0; i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);

		if (m->id == id)
			return m;
	}
	return NULL;
}

static void msnap_free(gpointer p)
{
	struct msnap *m = p;

	if (m->fd >= 0)
		close(m->fd);
	g_free(m);
}

static void mcow_free(gpointer p)
{
	struct mcow *m = p;

	g_hash_table_destroy(m->pages);
	g_free(m);
}

static void mtree_free(gpointer p)
{
	struct mtree *m = p;

	for (int i = 0; i < MAX_FILES; i++)
		if (m->fd[i] >= 0)
			close(m->fd[i]);
	g_free(m);
}

static struct mtree *find_tree(struct ctx *c, int id)
{
	for (guint i = 0; i < c->trees->len; i++) {
		struct mtree *m = g_ptr_array_index(c->trees, i);

		if (m->id == id)
			return m;
	}
	return NULL;
}

/* the name of an object, or -1 */
static int obj_name(struct ctx *c, int obj)
{
	int n;

	for (n = 0; obj >= 0 && n < c->nfiles; n++)
		if (c->name_obj[n] == obj)
			return n;
	return -1;
}

/* Forget every snapshot and private view; each name i and slot i hold
 * object i (the state trees_setup() makes). */
static void model_reset(struct ctx *c)
{
	int i;

	g_ptr_array_set_size(c->snaps, 0);
	g_ptr_array_set_size(c->cows, 0);
	for (i = 0; i < MAX_FILES; i++)
		c->name_obj[i] = c->slot_obj[i] = i < c->nfiles ? i : -1;
	c->nobjs = c->nfiles;
}

/* a rename of name a onto name b succeeded */
static void model_rename(struct ctx *c, int a, int b)
{
	int obj = c->name_obj[a];
	guint i;

	if (a == b)
		return;
	c->name_obj[b] = obj;	/* b's object, if any, loses its name */
	c->name_obj[a] = -1;
	for (i = 0; i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);

		if (m->obj == obj)
			m->path = b;
	}
	for (i = 0; i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);

		if (m->obj == obj)
			m->path = b;
	}
}

/* mount path of a view of name: MOUNT/fN@@/REST */
static char *G_GNUC_PRINTF(3, 4) view_path(struct ctx *c, int name, const char *fmt, ...)
{
	g_autofree char *rest = NULL;
	va_list ap;

	va_start(ap, fmt);
	rest = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return g_strdup_printf("%s/f%d@@/%s", c->t[T_MNT].root, name, rest);
}

/* a number of a window, spelled as the op's flags say */
static void spell_num(GString *s, uint64_t v, bool hex, bool ksuf)
{
	if (hex)
		g_string_append_printf(s, (v >> 4) & 1 ? "0x%" PRIX64 : "0x%" PRIx64, v);
	else if (ksuf && v && v % MiB == 0)
		g_string_append_printf(s, "%" PRIu64 "M", (uint64_t)(v / MiB));
	else if (ksuf && v && v % KiB == 0)
		g_string_append_printf(s, "%" PRIu64 "K", (uint64_t)(v / KiB));
	else
		g_string_append_printf(s, "%" PRIu64, v);
}

/* the window suffix of a view op: "", ":OFF" or ":OFF+LEN" */
static char *window_suffix(const struct op *o)
{
	GString *s = g_string_new(NULL);

	if (!(o->flags & OF_VIEW) || (o->flags & OF_WHOLE))
		return g_string_free(s, false);
	g_string_append_c(s, ':');
	spell_num(s, o->woff, o->flags & OF_HEX, o->flags & OF_KSUF);
	if (!(o->flags & OF_OPEN)) {
		g_string_append_c(s, '+');
		spell_num(s, o->wlen, false, o->flags & OF_KSUF);
	}
	return g_string_free(s, false);
}

/* does the op read or write through a window with an end? */
static bool bounded_window(const struct op *o)
{
	return (o->flags & OF_VIEW) && !(o->flags & (OF_WHOLE | OF_OPEN));
}

/* The window [woff, woff+wlen) of a file of size: the view's size. */
static uint64_t window_size(const struct op *o, uint64_t size)
{
	uint64_t w = (o->flags & OF_VIEW) && !(o->flags & OF_WHOLE) ? o->woff : 0;

	if (w >= size)
		return 0;
	return bounded_window(o) ? MIN(o->wlen, size - w) : size - w;
}

/*
 * Write back the lingering mappings of an object in both trees before a
 * view, snapshot or private view sees the file: stores into a MAP_SHARED
 * mapping reach other aliases only once written back (the coherence
 * contract), while the plain tree has one page cache for all.
 */
static void flush_obj_maps(struct ctx *c, int obj)
{
	int i, t;

	for (i = 0; obj >= 0 && i < c->nfiles; i++) {
		if (c->slot_obj[i] != obj)
			continue;
		for (t = 0; t < NTREES; t++)
			if (c->t[t].s[i].map)
				msync(c->t[t].s[i].map, c->t[t].s[i].maplen, MS_SYNC);
	}
}

/* ---------------------------------------------------------------- targets */

/*
 * Where a read or write of an op goes in tree t: a descriptor and the offset
 * in it. Without OF_VIEW, or when no name reaches the slot's file (a view is
 * opened by name), that is the slot's own descriptor at the op's offset in
 * both trees. With OF_VIEW the mount opens the view fN@@/{rw,ro}[WINDOW] of
 * the slot's file for this op and uses off - OFF; the plain tree opens fN and
 * uses off, reads at most up to the window's end, and does nothing where the
 * mount must refuse: a write to an ro view (EROFS), a write reaching past a
 * window's end (EFBIG). fd < 0: the op's result in this tree is err.
 */
struct target {
	int fd;
	uint64_t off;		/* offset in fd */
	uint64_t base;		/* file offset of fd's byte 0 (a view's OFF), else 0 */
	uint64_t limit;		/* bytes a read may return from off */
	bool own;		/* opened for this op: target_done() closes it */
	struct res err;		/* fd < 0: the result in this tree */
};

/* the name a view op reaches the slot's file by, or -1 */
static int view_name(struct ctx *c, const struct op *o)
{
	if (!(o->flags & OF_VIEW) || c->t[T_PLAIN].s[o->slot].fd < 0)
		return -1;
	return obj_name(c, c->slot_obj[o->slot]);
}

static struct target io_target(struct ctx *c, int t, const struct op *o, bool write)
{
	struct target tg = { c->t[t].s[o->slot].fd, o->off, 0, UINT64_MAX, false, { 0, 0 } };
	int name = view_name(c, o);
	int flags = write ? O_WRONLY : O_RDONLY;

	if (name < 0)
		return tg;
	tg.own = true;
	if (t == T_MNT) {
		g_autofree char *sfx = window_suffix(o);
		g_autofree char *p = view_path(c, name, "%s%s", o->flags & OF_RO ? "ro" : "rw", sfx);

		tg.base = o->flags & OF_WHOLE ? 0 : o->woff;
		tg.off = o->off - tg.base;
		tg.fd = open(p, flags);
		tg.err = res_of(tg.fd < 0 ? -1 : 0);
		return tg;
	}
	if (write && (o->flags & OF_RO)) {
		tg.fd = -1;
		tg.err = (struct res){ -1, EROFS };
		return tg;
	}
	if (write && bounded_window(o) && o->off - o->woff + o->len > o->wlen) {
		tg.fd = -1;
		tg.err = (struct res){ -1, EFBIG };
		return tg;
	}
	if (!write && bounded_window(o))
		tg.limit = o->woff + o->wlen > o->off ? o->woff + o->wlen - o->off : 0;
	{
		g_autofree char *p = path_of(c, t, name);

		tg.fd = open(p, flags);
		tg.err = res_of(tg.fd < 0 ? -1 : 0);
	}
	return tg;
}

static void target_done(struct target *tg)
{
	if (tg->own && tg->fd >= 0)
		close(tg->fd);
	tg->fd = -1;
}

/* ---------------------------------------------------------------- generators */

static uint64_t rnd(struct ctx *c, uint64_t n)
{
	return n ? splitmix64(&c->rng) % n : 0;
}

static bool chance(struct ctx *c, unsigned percent)
{
	return rnd(c, 100) < percent;
}

/* an open slot if there is one */
static int pick_slot(struct ctx *c)
{
	int open[MAX_FILES], n = 0, i;

	for (i = 0; i < c->nfiles; i++)
		if (c->t[T_PLAIN].s[i].fd >= 0)
			open[n++] = i;
	if (!n)
		return (int)rnd(c, c->nfiles);
	return open[rnd(c, n)];
}

static uint64_t gen_len(struct ctx *c, uint64_t max)
{
	uint64_t l;

	switch (rnd(c, 10)) {
	case 0: case 1: case 2:
		l = 1 + rnd(c, 512);
		break;
	case 3: case 4:
		l = 4096 * (1 + rnd(c, 16));
		break;
	case 5: case 6:
		l = 1 + rnd(c, 64 * KiB);
		break;
	default:
		l = 1 + rnd(c, max);
		break;
	}
	return l < max ? l : max;
}

static bool big_allowed(struct ctx *c)
{
	uint64_t total, largest;

	tree_sizes(c, &total, &largest);
	return total < BIG_BUDGET;
}

/* An offset for a write of len bytes into a file of size: inside, at or past
 * the end (holes), across a 1 MiB window boundary, anywhere in the first few
 * MiB, and now and then near 64 MiB. */
static uint64_t gen_off(struct ctx *c, uint64_t size, uint64_t len)
{
	unsigned r = (unsigned)rnd(c, 100);

	if (r < 35)
		return rnd(c, size + 1);
	if (r < 50)
		return size;
	if (r < 65)
		return size + rnd(c, 512 * KiB);
	if (r < 83) {
		uint64_t b = (1 + rnd(c, size / MiB + 2)) * MiB;
		uint64_t back = rnd(c, len + 1);

		return back < b ? b - back : 0;
	}
	if (r < 98 || !big_allowed(c))
		return rnd(c, 4 * MiB);
	return 64 * MiB - MiB + rnd(c, 2 * MiB);
}

/* an offset inside a file of size > 0, often just below a window boundary */
static uint64_t gen_inside(struct ctx *c, uint64_t size)
{
	if (size > MiB && chance(c, 30)) {
		uint64_t b = (1 + rnd(c, size / MiB)) * MiB;
		uint64_t back = rnd(c, 8 * KiB);

		return back < b ? b - back : 0;
	}
	return rnd(c, size);
}

static uint64_t gen_size(struct ctx *c, uint64_t size)
{
	unsigned r = (unsigned)rnd(c, 100);

	if (r < 45)
		return rnd(c, size + 1);
	if (r < 55)
		return size & ~(MiB - 1);
	if (r < 85)
		return size + rnd(c, MiB);
	if (r < 98 || !big_allowed(c))
		return rnd(c, 4 * MiB);
	return 64 * MiB + rnd(c, MiB);
}

/*
 * A view for a read or write of [off, off+len) (OF_VIEW): the whole-file
 * view, a window to the end, or a window OFF+LEN that starts at or before
 * off; for writes the window mostly holds the write, else it ends inside it
 * (EFBIG). Numbers are now and then multiples of 1 KiB, spelled with K or M.
 * Reads go through ro or rw views; a few writes try an ro view (EROFS).
 */
static void gen_window(struct ctx *c, struct op *o, bool write)
{
	unsigned r = (unsigned)rnd(c, 100);
	uint64_t back;

	o->flags |= OF_VIEW;
	if (write ? chance(c, 5) : chance(c, 50))
		o->flags |= OF_RO;
	if (r < 20) {
		o->flags |= OF_WHOLE;
		return;
	}
	if (r < 35)
		o->flags |= OF_OPEN;
	switch (rnd(c, 5)) {
	case 0: case 1:
		back = 0;
		break;
	case 2:
		back = rnd(c, 4096);
		break;
	case 3:
		back = rnd(c, MiB);
		break;
	default:
		back = rnd(c, o->off + 1);
		break;
	}
	back = MIN(back, o->off);
	o->woff = o->off - back;
	if (chance(c, 40))
		o->woff &= ~(KiB - 1);	/* still at or before off */
	if (chance(c, 30))
		o->flags |= OF_HEX;
	if (chance(c, 50))
		o->flags |= OF_KSUF;
	back = o->off - o->woff;
	if (o->flags & OF_OPEN)
		return;
	if (write && chance(c, 80))
		o->wlen = back + o->len + (chance(c, 50) ? 0 : rnd(c, 64 * KiB));
	else if (write)	/* ends inside the write, often one byte short */
		o->wlen = back + (chance(c, 40) ? o->len - 1 : rnd(c, o->len));
	else
		o->wlen = chance(c, 50) ? back + rnd(c, 2 * o->len + 1) : rnd(c, 4 * MiB);
	if (chance(c, 30))
		o->wlen = (o->wlen + KiB - 1) & ~(KiB - 1);
}

static void gen_write(struct ctx *c, struct op *o)
{
	o->slot = pick_slot(c);
	o->len = gen_len(c, MAX_IO);
	o->off = gen_off(c, slot_size(c, o->slot), o->len);
	o->dseed = splitmix64(&c->rng);
	o->flags = (chance(c, 25) ? OF_POS : 0) | (chance(c, 10) ? OF_ZERO : 0);
	if (c->views && chance(c, 30))
		gen_window(c, o, true);
}

static void gen_read(struct ctx *c, struct op *o)
{
	uint64_t size;

	o->slot = pick_slot(c);
	size = slot_size(c, o->slot);
	o->len = gen_len(c, MAX_IO);
	o->off = chance(c, 80) && size ? gen_inside(c, size) : gen_off(c, size, o->len);
	o->flags = chance(c, 25) ? OF_POS : 0;
	if (c->views && chance(c, 30))
		gen_window(c, o, false);
}

static void gen_truncate(struct ctx *c, struct op *o)
{
	o->slot = pick_slot(c);
	o->off = gen_size(c, slot_size(c, o->slot));
}

static void gen_ptruncate(struct ctx *c, struct op *o)
{
	struct stat st;

	o->name = (int)rnd(c, c->nfiles);
	o->off = gen_size(c, name_stat(c, o->name, &st) ? (uint64_t)st.st_size : 0);
}

static void gen_fallocate(struct ctx *c, struct op *o)
{
	o->slot = pick_slot(c);
	o->len = gen_len(c, MiB);
	o->off = gen_off(c, slot_size(c, o->slot), o->len);
	o->flags = chance(c, 50) ? OF_KEEP : 0;
}

static void gen_punch(struct ctx *c, struct op *o)
{
	uint64_t size;

	o->slot = pick_slot(c);
	size = slot_size(c, o->slot);
	o->len = gen_len(c, MiB);
	o->off = chance(c, 85) && size ? gen_inside(c, size) : gen_off(c, size, o->len);
}

static void gen_mmap(struct ctx *c, struct op *o)
{
	uint64_t size;

	o->slot = pick_slot(c);
	size = slot_size(c, o->slot);
	o->off = size ? gen_inside(c, size) : 0;
	o->len = gen_len(c, MAX_IO);
}

static void gen_mmap_write(struct ctx *c, struct op *o)
{
	gen_mmap(c, o);
	o->dseed = splitmix64(&c->rng);
	o->flags = chance(c, 30) ? OF_LINGER : 0;
}

static void gen_msync(struct ctx *c, struct op *o)
{
	o->slot = pick_slot(c);
	o->flags = chance(c, 30) ? OF_ASYNC : 0;
}

/*
 * --avoid-orphan-bugs: would removing the file named name (unlink, or
 * replacing it by a rename) lose an earlier removed file's snapshots? The
 * daemon keeps one removed file per path (an older one gives way, and its
 * snapshots are lost, their state left to a later file with the same inode
 * number): so when the file has snapshots or private views and the model
 * keeps snapshots or private views of a removed file under the name.
 */
static bool removal_clashes(struct ctx *c, int name)
{
	int obj = c->name_obj[name];
	bool has = false, kept = false;
	guint i;

	if (!c->avoid_orphan_bugs || obj < 0)
		return false;
	for (i = 0; i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);

		has |= m->obj == obj;
		kept |= m->path == name && m->obj != obj;
	}
	for (i = 0; i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);

		has |= m->obj == obj;
		kept |= m->path == name && m->obj != obj && obj_name(c, m->obj) < 0;
	}
	return has && kept;
}

static void gen_rename(struct ctx *c, struct op *o)
{
	o->name = (int)rnd(c, c->nfiles);
	o->name2 = (int)rnd(c, c->nfiles);
	if (c->name_obj[o->name] >= 0 && removal_clashes(c, o->name2))
		o->name2 = o->name;	/* rename onto itself: nothing */
}

static void gen_seek(struct ctx *c, struct op *o);

static void gen_unlink(struct ctx *c, struct op *o)
{
	o->name = (int)rnd(c, c->nfiles);
	if (removal_clashes(c, o->name)) {
		o->kind = OP_SEEK;
		gen_seek(c, o);
	}
}

static void gen_sync(struct ctx *c, struct op *o)
{
	o->slot = pick_slot(c);
}

static void gen_copy(struct ctx *c, struct op *o)
{
	uint64_t size;

	o->slot = pick_slot(c);
	o->slot2 = pick_slot(c);
	size = slot_size(c, o->slot);
	o->len = gen_len(c, MAX_IO);
	o->off = size && chance(c, 85) ? gen_inside(c, size) : rnd(c, size + 64 * KiB);
	o->off2 = gen_off(c, slot_size(c, o->slot2), o->len);
}

static void gen_seek(struct ctx *c, struct op *o)
{
	uint64_t size;

	o->slot = pick_slot(c);
	size = slot_size(c, o->slot);
	o->off = size && chance(c, 90) ? gen_inside(c, size) : size + rnd(c, 64 * KiB);
}

static void gen_reopen(struct ctx *c, struct op *o)
{
	o->slot = (int)rnd(c, c->nfiles);
	o->name = chance(c, 50) ? o->slot : (int)rnd(c, c->nfiles);
	o->flags = (chance(c, 85) ? OF_CREAT : 0) | (chance(c, 10) ? OF_TRUNC : 0) |
		   (chance(c, 20) ? OF_APPEND : 0) | (chance(c, 15) ? OF_WRONLY : 0);
}

/* a name that exists in the plain tree, if there is one */
static int pick_name(struct ctx *c)
{
	int have[MAX_FILES], n = 0, i;

	for (i = 0; i < c->nfiles; i++)
		if (c->name_obj[i] >= 0)
			have[n++] = i;
	if (!n)
		return (int)rnd(c, c->nfiles);
	return have[rnd(c, n)];
}

static uint64_t name_size(struct ctx *c, int name)
{
	struct stat st;

	return name_stat(c, name, &st) ? (uint64_t)st.st_size : 0;
}

/* a window for a snapshot or private view read of a file of size */
static void gen_entry_window(struct ctx *c, struct op *o, uint64_t size)
{
	if (!chance(c, 20))
		return;
	o->flags |= OF_VIEW;
	o->woff = rnd(c, size + 8 * KiB);
	if (chance(c, 30))
		o->woff &= ~(KiB - 1);
	if (chance(c, 30))
		o->flags |= OF_OPEN;
	else
		o->wlen = 1 + rnd(c, chance(c, 50) ? 64 * KiB : 2 * MiB);
	if (chance(c, 30))
		o->flags |= OF_HEX;
	if (chance(c, 50))
		o->flags |= OF_KSUF;
}

/* a read range of an entry of size seen through the op's window */
static void gen_entry_range(struct ctx *c, struct op *o, uint64_t size)
{
	uint64_t vsize = window_size(o, size);

	o->len = gen_len(c, MAX_IO);
	o->off = vsize && chance(c, 85) ? rnd(c, vsize) : rnd(c, vsize + 64 * KiB);
}

static void gen_snapdel(struct ctx *c, struct op *o);
static void gen_treedel(struct ctx *c, struct op *o);

/* Tree snapshots: ids unique in a run; at most MAX_TREES live. */
static void gen_treesnap(struct ctx *c, struct op *o)
{
	if (c->trees->len >= MAX_TREES)
		return gen_treedel(c, o);
	o->id = c->next_tree++;
}

static void gen_treedel(struct ctx *c, struct op *o)
{
	o->kind = OP_TREEDEL;
	/* now and then one that does not exist: ENOENT */
	if (!c->trees->len || chance(c, 10))
		o->id = c->next_tree + (int)rnd(c, 3);
	else
		o->id = ((struct mtree *)g_ptr_array_index(c->trees,
			rnd(c, c->trees->len)))->id;
}

static void gen_snap(struct ctx *c, struct op *o)
{
	if (c->snaps->len >= MAX_SNAPS) {
		o->kind = OP_SNAPDEL;
		gen_snapdel(c, o);
		return;
	}
	o->name = pick_name(c);
	o->id = c->next_snap++;
}

static void gen_snapread(struct ctx *c, struct op *o)
{
	struct msnap *m;

	if (!c->snaps->len) {
		o->kind = OP_SNAP;
		gen_snap(c, o);
		return;
	}
	m = g_ptr_array_index(c->snaps, rnd(c, c->snaps->len));
	o->id = m->id;
	o->name = chance(c, 5) ? (int)rnd(c, c->nfiles) : m->path;	/* ENOENT elsewhere */
	o->flags = (chance(c, 5) ? OF_ROFS : 0) | (chance(c, 10) ? OF_FULL : 0);
	gen_entry_window(c, o, m->size);
	gen_entry_range(c, o, m->size);
}

/* --avoid-orphan-bugs: a snapshot of a replaced file cannot be deleted
 * while another file has its name (the daemon looks in that file's own
 * snapshots only) */
static bool undeletable(struct ctx *c, const struct msnap *m)
{
	int obj = c->name_obj[m->path];

	return c->avoid_orphan_bugs && obj >= 0 && obj != m->obj;
}

static void gen_snapdel(struct ctx *c, struct op *o)
{
	struct msnap *m, *can[MAX_SNAPS + 8];
	guint i, n = 0;

	for (i = 0; i < c->snaps->len && n < G_N_ELEMENTS(can); i++)
		if (!undeletable(c, g_ptr_array_index(c->snaps, i)))
			can[n++] = g_ptr_array_index(c->snaps, i);
	if (!n) {
		o->kind = OP_SNAP;
		o->name = pick_name(c);
		o->id = c->next_snap++;
		return;
	}
	m = c->avoid_orphan_bugs ? can[rnd(c, n)]
				 : g_ptr_array_index(c->snaps, rnd(c, c->snaps->len));
	o->id = m->id;
	o->name = chance(c, 5) ? (int)rnd(c, c->nfiles) : m->path;
}

/* private views of named files */
static guint named_cows(struct ctx *c)
{
	guint i, n = 0;

	for (i = 0; i < c->cows->len; i++)
		if (obj_name(c, ((struct mcow *)g_ptr_array_index(c->cows, i))->obj) >= 0)
			n++;
	return n;
}

/* a private view of a named file, or NULL */
static struct mcow *pick_cow(struct ctx *c)
{
	struct mcow *have[64];
	guint i, n = 0;

	for (i = 0; i < c->cows->len && n < G_N_ELEMENTS(have); i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);

		if (obj_name(c, m->obj) >= 0)
			have[n++] = m;
	}
	return n ? have[rnd(c, n)] : NULL;
}

static void gen_cowwrite(struct ctx *c, struct op *o)
{
	struct mcow *m = chance(c, 75) || named_cows(c) >= MAX_COWS ? pick_cow(c) : NULL;
	uint64_t size;

	if (m) {
		o->name = obj_name(c, m->obj);
		o->id = m->id;
	} else {
		o->name = pick_name(c);
		o->id = c->next_cow++;
	}
	size = name_size(c, o->name);
	o->len = gen_len(c, chance(c, 70) ? 16 * KiB : MAX_IO);
	if (size && chance(c, 90))
		o->len = MIN(o->len, size);
	if (chance(c, 90))
		o->off = rnd(c, size - MIN(size, o->len) + 1);	/* inside */
	else
		o->off = rnd(c, size + 8 * KiB);	/* EFBIG past the end */
	o->dseed = splitmix64(&c->rng);
	o->flags = (chance(c, 25) ? OF_POS : 0) | (chance(c, 10) ? OF_ZERO : 0);
}

static void gen_cowread(struct ctx *c, struct op *o)
{
	struct mcow *m = pick_cow(c);

	if (!m) {
		o->kind = OP_COWWRITE;
		gen_cowwrite(c, o);
		return;
	}
	o->name = obj_name(c, m->obj);
	o->id = m->id;
	o->flags = chance(c, 10) ? OF_FULL : 0;
	gen_entry_window(c, o, name_size(c, o->name));
	gen_entry_range(c, o, name_size(c, o->name));
}

static void gen_cowcommit(struct ctx *c, struct op *o)
{
	struct mcow *m = pick_cow(c);

	if (!m) {
		o->kind = OP_COWWRITE;
		gen_cowwrite(c, o);
		return;
	}
	o->name = obj_name(c, m->obj);
	o->id = m->id;
	o->name2 = chance(c, 90) ? o->name : (int)rnd(c, c->nfiles);	/* EINVAL elsewhere */
}

static void gen_cowdiscard(struct ctx *c, struct op *o)
{
	struct mcow *m = pick_cow(c);

	if (!m) {
		o->kind = OP_COWWRITE;
		gen_cowwrite(c, o);
		return;
	}
	o->name = obj_name(c, m->obj);
	o->id = m->id;
}

/* ---------------------------------------------------------------- executors */

/* a view op's window must start at or before its offset */
static bool bad_window(struct ctx *c, const struct op *o)
{
	if ((o->flags & OF_VIEW) && !(o->flags & OF_WHOLE) && o->woff > o->off) {
		fail(c, "bad op: woff > off");
		return true;
	}
	return false;
}

/* File positions after a read or write: through a view, the view's position
 * plus its OFF is the file position; compared only when both trees did it. */
static bool same_pos(struct ctx *c, const char *what, const struct op *o,
		     struct target tg[NTREES], const struct res r[NTREES])
{
	struct res pos[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		if (tg[t].own && (tg[t].fd < 0 || r[t].ret < 0))
			return true;
		pos[t] = res_of(lseek(tg[t].fd, 0, SEEK_CUR));
		if (tg[t].own && (o->flags & OF_POS) && pos[t].ret >= 0)
			pos[t].ret += (long long)tg[t].base;
	}
	return same_res(c, what, pos);
}

static bool ex_write(struct ctx *c, const struct op *o)
{
	struct target tg[NTREES];
	struct res r[NTREES];
	bool ok;
	int t;

	if (o->len > MAX_IO)
		return fail(c, "bad op: len > %llu", MAX_IO);
	if (bad_window(c, o))
		return false;
	fill_data(c->data, o->len, o->dseed, o->flags & OF_ZERO);
	if (view_name(c, o) >= 0)
		flush_obj_maps(c, c->slot_obj[o->slot]);
	for (t = 0; t < NTREES; t++) {
		tg[t] = io_target(c, t, o, true);
		if (tg[t].fd < 0 && tg[t].own) {
			r[t] = tg[t].err;
		} else if (o->flags & OF_POS) {
			r[t] = res_of(lseek(tg[t].fd, (off_t)tg[t].off, SEEK_SET));
			if (r[t].ret >= 0)
				r[t] = res_of(write(tg[t].fd, c->data, o->len));
		} else {
			r[t] = res_of(pwrite(tg[t].fd, c->data, o->len, (off_t)tg[t].off));
		}
	}
	ok = same_res(c, tg[T_MNT].own ? "write through a view" : "write", r) &&
	     same_pos(c, "file position after write", o, tg, r);
	for (t = 0; t < NTREES; t++)
		target_done(&tg[t]);
	return ok;
}

static bool ex_read(struct ctx *c, const struct op *o)
{
	struct target tg[NTREES];
	struct res r[NTREES];
	bool ok;
	int t;

	if (o->len > MAX_IO)
		return fail(c, "bad op: len > %llu", MAX_IO);
	if (bad_window(c, o))
		return false;
	if (view_name(c, o) >= 0)
		flush_obj_maps(c, c->slot_obj[o->slot]);
	for (t = 0; t < NTREES; t++) {
		size_t len;

		tg[t] = io_target(c, t, o, false);
		len = (size_t)MIN((uint64_t)o->len, tg[t].limit);
		if (tg[t].fd < 0 && tg[t].own) {
			r[t] = tg[t].err;
		} else if (o->flags & OF_POS) {
			r[t] = res_of(lseek(tg[t].fd, (off_t)tg[t].off, SEEK_SET));
			if (r[t].ret >= 0)
				r[t] = res_of(read(tg[t].fd, c->buf[t], len));
		} else {
			r[t] = res_of(pread(tg[t].fd, c->buf[t], len, (off_t)tg[t].off));
		}
	}
	ok = same_res(c, tg[T_MNT].own ? "read through a view" : "read", r) &&
	     same_pos(c, "file position after read", o, tg, r);
	if (ok && r[0].ret > 0)
		ok = same_bytes(c, tg[T_MNT].own ? "read through a view" : "read", o->off,
				c->buf[T_MNT], c->buf[T_PLAIN], (size_t)r[0].ret);
	for (t = 0; t < NTREES; t++)
		target_done(&tg[t]);
	return ok;
}

static bool ex_truncate(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++)
		r[t] = res_of(ftruncate(c->t[t].s[o->slot].fd, (off_t)o->off));
	return same_res(c, "ftruncate", r);
}

static bool ex_ptruncate(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		g_autofree char *p = path_of(c, t, o->name);

		r[t] = res_of(truncate(p, (off_t)o->off));
	}
	return same_res(c, "truncate", r);
}

static bool ex_fallocate(struct ctx *c, const struct op *o)
{
	int mode = o->flags & OF_KEEP ? FALLOC_FL_KEEP_SIZE : 0;
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++)
		r[t] = res_of(fallocate(c->t[t].s[o->slot].fd, mode, (off_t)o->off, (off_t)o->len));
	return same_res(c, "fallocate", r);
}

static bool ex_punch(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++)
		r[t] = res_of(fallocate(c->t[t].s[o->slot].fd,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)o->off, (off_t)o->len));
	return same_res(c, "fallocate(PUNCH_HOLE)", r);
}

static void drop_linger(struct slot *s)
{
	if (s->map) {
		munmap(s->map, s->maplen);
		s->map = NULL;
		s->maplen = 0;
	}
}

/*
 * Map [off, off+len) of the slot in both trees, clamped to the size both
 * trees report now: the range touched never reaches past EOF. *skip is set
 * when there is nothing to map (closed slot, empty file); maps[] are set only
 * when both mmaps succeeded.
 */
static bool map_both(struct ctx *c, const struct op *o, int prot, void *maps[NTREES],
		     size_t *mlen, size_t *delta, size_t *len, uint64_t *start, bool *skip)
{
	struct res r[NTREES];
	struct stat st[NTREES];
	uint64_t off, moff;
	int t;

	*skip = false;
	maps[0] = maps[1] = NULL;
	for (t = 0; t < NTREES; t++)
		r[t] = res_of(fstat(c->t[t].s[o->slot].fd, &st[t]));
	if (!same_res(c, "fstat before mmap", r))
		return false;
	if (r[0].ret < 0) {
		*skip = true;
		return true;
	}
	if (st[T_MNT].st_size != st[T_PLAIN].st_size)
		return fail(c, "fstat before mmap: size mount %lld, plain %lld",
			    (long long)st[T_MNT].st_size, (long long)st[T_PLAIN].st_size);
	if (st[T_PLAIN].st_size == 0) {
		*skip = true;
		return true;
	}
	off = o->off % (uint64_t)st[T_PLAIN].st_size;
	*len = (size_t)MIN(MAX(o->len, 1), MIN((uint64_t)MAX_IO, (uint64_t)st[T_PLAIN].st_size - off));
	moff = off & ~(uint64_t)(c->pagesize - 1);
	*delta = (size_t)(off - moff);
	*mlen = *delta + *len;
	*start = off;
	for (t = 0; t < NTREES; t++) {
		void *p = mmap(NULL, *mlen, prot, MAP_SHARED, c->t[t].s[o->slot].fd, (off_t)moff);

		r[t] = res_of(p == MAP_FAILED ? -1 : 0);
		maps[t] = p == MAP_FAILED ? NULL : p;
	}
	if (!same_res(c, "mmap", r) || r[0].ret < 0) {
		for (t = 0; t < NTREES; t++)
			if (maps[t])
				munmap(maps[t], *mlen);
		maps[0] = maps[1] = NULL;
		*skip = r[0].ret < 0 && r[1].ret < 0;
		return *skip;
	}
	return true;
}

static bool ex_mmap_read(struct ctx *c, const struct op *o)
{
	void *maps[NTREES];
	size_t mlen, delta, len;
	uint64_t start;
	bool skip, ok = true;
	int t;

	if (!map_both(c, o, PROT_READ, maps, &mlen, &delta, &len, &start, &skip))
		return false;
	if (skip)
		return true;
	for (t = 0; t < NTREES && ok; t++)
		if (!guarded_copy(c->buf[t], (uint8_t *)maps[t] + delta, len))
			ok = fail(c, "SIGBUS reading the %s mapping at %" PRIu64 "+%zu, inside the size",
				  tree_label[t], start, len);
	if (ok)
		ok = same_bytes(c, "mmap read", start, c->buf[T_MNT], c->buf[T_PLAIN], len);
	for (t = 0; t < NTREES; t++)
		munmap(maps[t], mlen);
	return ok;
}

static bool ex_mmap_write(struct ctx *c, const struct op *o)
{
	void *maps[NTREES];
	size_t mlen, delta, len;
	uint64_t start;
	struct res r[NTREES];
	bool skip, ok = true;
	int t;

	if (!map_both(c, o, PROT_READ | PROT_WRITE, maps, &mlen, &delta, &len, &start, &skip))
		return false;
	if (skip)
		return true;
	fill_data(c->data, len, o->dseed, false);
	for (t = 0; t < NTREES && ok; t++)
		if (!guarded_copy((uint8_t *)maps[t] + delta, c->data, len))
			ok = fail(c, "SIGBUS storing into the %s mapping at %" PRIu64 "+%zu, inside the size",
				  tree_label[t], start, len);
	if (ok && !(o->flags & OF_LINGER)) {
		for (t = 0; t < NTREES; t++)
			r[t] = res_of(msync(maps[t], mlen, MS_SYNC));
		ok = same_res(c, "msync", r);
	}
	for (t = 0; t < NTREES; t++) {
		if (ok && (o->flags & OF_LINGER)) {
			drop_linger(&c->t[t].s[o->slot]);
			c->t[t].s[o->slot].map = maps[t];
			c->t[t].s[o->slot].maplen = mlen;
		} else {
			munmap(maps[t], mlen);
		}
	}
	return ok;
}

static bool ex_msync(struct ctx *c, const struct op *o)
{
	int flags = o->flags & OF_ASYNC ? MS_ASYNC : MS_SYNC;
	struct res r[NTREES];
	int t;

	if (!c->t[T_MNT].s[o->slot].map != !c->t[T_PLAIN].s[o->slot].map)
		return fail(c, "msync: a lingering mapping exists in one tree only");
	if (!c->t[T_PLAIN].s[o->slot].map)
		return true;
	for (t = 0; t < NTREES; t++) {
		struct slot *s = &c->t[t].s[o->slot];

		r[t] = res_of(msync(s->map, s->maplen, flags));
		drop_linger(s);
	}
	return same_res(c, "msync", r);
}

static bool ex_rename(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		g_autofree char *a = path_of(c, t, o->name);
		g_autofree char *b = path_of(c, t, o->name2);

		r[t] = res_of(rename(a, b));
	}
	if (r[T_PLAIN].ret == 0)
		model_rename(c, o->name, o->name2);
	return same_res(c, "rename", r);
}

static bool ex_unlink(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		g_autofree char *a = path_of(c, t, o->name);

		r[t] = res_of(unlink(a));
	}
	if (r[T_PLAIN].ret == 0)
		c->name_obj[o->name] = -1;	/* its snapshots stay listed under the name */
	return same_res(c, "unlink", r);
}

static bool ex_fsync(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++)
		r[t] = res_of(fsync(c->t[t].s[o->slot].fd));
	return same_res(c, "fsync", r);
}

static bool ex_fdatasync(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++)
		r[t] = res_of(fdatasync(c->t[t].s[o->slot].fd));
	return same_res(c, "fdatasync", r);
}

/* copy_file_range may copy less than asked; loop as a program would, and
 * compare the total (or the first error). */
static bool ex_copy(struct ctx *c, const struct op *o)
{
	struct res r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		loff_t in = (loff_t)o->off, out = (loff_t)o->off2;
		long long total = 0;
		uint64_t left = o->len;

		r[t] = res_of(0);
		while (left) {
			ssize_t n = copy_file_range(c->t[t].s[o->slot].fd, &in,
						    c->t[t].s[o->slot2].fd, &out, left, 0);
			if (n < 0) {
				if (!total)
					r[t] = res_of(-1);
				break;
			}
			if (!n)
				break;
			total += n;
			left -= (uint64_t)n;
		}
		if (total)
			r[t] = res_of(total);
	}
	return same_res(c, "copy_file_range", r);
}

static bool ex_reopen(struct ctx *c, const struct op *o)
{
	int flags = (o->flags & OF_WRONLY ? O_WRONLY : O_RDWR) | (o->flags & OF_CREAT ? O_CREAT : 0) |
		    (o->flags & OF_TRUNC ? O_TRUNC : 0) | (o->flags & OF_APPEND ? O_APPEND : 0);
	struct res cl[NTREES], r[NTREES];
	int t;

	for (t = 0; t < NTREES; t++) {
		struct slot *s = &c->t[t].s[o->slot];
		g_autofree char *p = path_of(c, t, o->name);

		drop_linger(s);
		cl[t] = s->fd >= 0 ? res_of(close(s->fd)) : res_of(0);
		s->fd = open(p, flags, 0644);
		r[t] = res_of(s->fd < 0 ? -1 : 0);	/* descriptor numbers may differ */
	}
	c->slot_obj[o->slot] = -1;
	if (r[T_PLAIN].ret == 0) {
		if (c->name_obj[o->name] < 0)
			c->name_obj[o->name] = c->nobjs++;	/* created */
		c->slot_obj[o->slot] = c->name_obj[o->name];
	}
	return same_res(c, "close", cl) && same_res(c, "open", r);
}

/*
 * lseek SEEK_DATA / SEEK_HOLE. Where holes are reported is up to each
 * filesystem (a filesystem may call everything data), so the two trees are
 * not compared with each other; each is held to what any filesystem must do:
 * at or past EOF both fail with ENXIO; below EOF SEEK_HOLE lands in
 * [off, size] and SEEK_DATA in [off, size) or fails with ENXIO; every byte
 * reported as hole reads as zero. The file position is restored.
 */
static bool seek_invariants(struct ctx *c, int t, int fd, uint64_t off)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);
	struct res d, h, d2 = { 0, 0 };
	uint64_t size, zfrom = 0, zto = 0;
	struct stat st;
	bool ok = true;

	if (fstat(fd, &st) < 0)
		return true;	/* a closed slot: nothing to hold to */
	size = (uint64_t)st.st_size;
	d = res_of(lseek(fd, (off_t)off, SEEK_DATA));
	h = res_of(lseek(fd, (off_t)off, SEEK_HOLE));
	if (off >= size) {
		if (d.ret >= 0 || d.err != ENXIO || h.ret >= 0 || h.err != ENXIO)
			ok = fail(c, "%s: lseek at %" PRIu64 " >= size %" PRIu64 ": SEEK_DATA %lld (%s), SEEK_HOLE %lld (%s), want ENXIO",
				  tree_label[t], off, size, d.ret, strerrorname_np(d.err) ?: "-", h.ret,
				  strerrorname_np(h.err) ?: "-");
		goto out;
	}
	if (h.ret < (long long)off || h.ret > (long long)size)
		ok = fail(c, "%s: SEEK_HOLE at %" PRIu64 " returned %lld (%s), outside [off, size %" PRIu64 "]",
			  tree_label[t], off, h.ret, strerrorname_np(h.err) ?: "-", size);
	else if (d.ret < 0 ? d.err != ENXIO : (d.ret < (long long)off || d.ret >= (long long)size))
		ok = fail(c, "%s: SEEK_DATA at %" PRIu64 " returned %lld (%s), outside [off, size %" PRIu64 ")",
			  tree_label[t], off, d.ret, strerrorname_np(d.err) ?: "-", size);
	if (!ok)
		goto out;
	/* the hole before the data, or the hole SEEK_HOLE found */
	if (d.ret != (long long)off) {
		zfrom = off;
		zto = d.ret < 0 ? size : (uint64_t)d.ret;
	} else if ((uint64_t)h.ret < size) {
		d2 = res_of(lseek(fd, h.ret, SEEK_DATA));
		zfrom = (uint64_t)h.ret;
		zto = d2.ret < 0 ? size : (uint64_t)d2.ret;
	}
	zto = MIN(zto, zfrom + 4 * MiB);
	while (ok && zfrom < zto) {
		size_t n = (size_t)MIN((uint64_t)CHUNK, zto - zfrom);
		ssize_t r = pread(fd, c->buf[t], n, (off_t)zfrom);
		size_t i;

		if (r <= 0)
			break;	/* the contents check reports read errors */
		for (i = 0; i < (size_t)r && !c->buf[t][i]; i++)
			;
		if (i < (size_t)r)
			ok = fail(c, "%s: lseek from %" PRIu64 " reports a hole at %" PRIu64 ", but byte 0x%02x is there",
				  tree_label[t], off, zfrom + i, c->buf[t][i]);
		zfrom += (uint64_t)r;
	}
out:
	lseek(fd, pos, SEEK_SET);
	return ok;
}

static bool ex_seek(struct ctx *c, const struct op *o)
{
	int t;

	for (t = 0; t < NTREES; t++)
		if (!seek_invariants(c, t, c->t[t].s[o->slot].fd, o->off))
			return false;
	return true;
}

/* ---------------------------------------------------------------- snapshots, private views */

/* The result of a call on the mount against what the model expects. */
static bool expect_res(struct ctx *c, const char *what, struct res got, struct res want)
{
	char a[64], b[64];

	if (got.ret == want.ret && (got.ret >= 0 || got.err == want.err))
		return true;
	return fail(c, "%s: mount returned %s, the model expects %s", what,
		    res_str(got, a, sizeof(a)), res_str(want, b, sizeof(b)));
}

static const struct res RES_OK = { 0, 0 };

static struct res res_err(int err)
{
	struct res r = { -1, err };

	return r;
}

/* a fresh unlinked file in the plain tree's directory, for a model copy */
static int model_file(struct ctx *c)
{
	g_autofree char *tmpl = NULL;
	int fd = open(c->t[T_PLAIN].root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	tmpl = g_strdup_printf("%s/.difftest-model.XXXXXX", c->t[T_PLAIN].root);
	fd = mkstemp(tmpl);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

/* a copy of size bytes of src (a clone where the filesystem can; else its
 * data, holes left out), or -1 */
static int copy_file(struct ctx *c, int src, uint64_t size)
{
	int fd = model_file(c);
	uint64_t off = 0;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FICLONE, src) == 0)
		return fd;
	while (off < size) {
		off_t d = lseek(src, (off_t)off, SEEK_DATA), h;

		if (d < 0)
			break;	/* ENXIO: only a hole is left */
		h = lseek(src, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > size)
			h = (off_t)size;
		for (off = (uint64_t)d; off < (uint64_t)h;) {
			size_t n = (size_t)MIN((uint64_t)CHUNK, (uint64_t)h - off);
			ssize_t k = pread(src, c->buf[T_PLAIN], n, (off_t)off);

			if (k <= 0 || pwrite(fd, c->buf[T_PLAIN], (size_t)k, (off_t)off) != k)
				goto bad;
			off += (uint64_t)k;
		}
	}
	if (ftruncate(fd, (off_t)size) == 0)
		return fd;
bad:
	close(fd);
	return -1;
}

/* What a snapshot or private view holds, for reading: the model's bytes. */
struct mview {
	struct msnap *snap;	/* a snapshot, or */
	struct mcow *cow;	/* a private view over */
	int plainfd;		/* its file in the plain tree */
	uint64_t size;		/* the entry's size */
};

static bool mview_open(struct ctx *c, struct mview *mv, struct msnap *snap, struct mcow *cow)
{
	struct stat st;

	memset(mv, 0, sizeof(*mv));
	mv->plainfd = -1;
	mv->snap = snap;
	mv->cow = cow;
	if (snap) {
		mv->size = snap->size;
		return true;
	}
	{
		g_autofree char *p = path_of(c, T_PLAIN, obj_name(c, cow->obj));

		mv->plainfd = open(p, O_RDONLY);
		if (mv->plainfd < 0 || fstat(mv->plainfd, &st) < 0)
			return fail(c, "difftest model: open %s: %s", p, strerror(errno));
	}
	mv->size = (uint64_t)st.st_size;	/* a private view has its file's size */
	return true;
}

static void mview_close(struct mview *mv)
{
	if (mv->plainfd >= 0)
		close(mv->plainfd);
	mv->plainfd = -1;
}

/* pread that fills buf[0..n) with what fd has at off, zeros past its end */
static bool pread_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pread(fd, buf + done, n - done, (off_t)(off + done));

		if (k < 0)
			return false;
		if (!k)
			break;
		done += (size_t)k;
	}
	memset(buf + done, 0, n - done);
	return true;
}

static guint64 *page_key(uint64_t p)
{
	guint64 *k = g_new(guint64, 1);

	*k = p;
	return k;
}

/* the model's bytes [off, off+n) of an entry */
static bool mview_read(struct ctx *c, struct mview *mv, uint64_t off, uint8_t *buf, size_t n)
{
	size_t done = 0;

	if (mv->snap)
		return pread_full(mv->snap->fd, buf, n, off) ||
		       fail(c, "difftest model: read snapshot copy: %s", strerror(errno));
	while (done < n) {
		uint64_t pos = off + done, p = pos / PAGE;
		size_t in = (size_t)(pos % PAGE), k = (size_t)MIN((uint64_t)(n - done), PAGE - in);
		const uint8_t *priv = g_hash_table_lookup(mv->cow->pages, &p);

		if (priv)
			memcpy(buf + done, priv + in, k);
		else if (!pread_full(mv->plainfd, buf + done, k, pos))
			return fail(c, "difftest model: read plain file: %s", strerror(errno));
		done += k;
	}
	return true;
}

/*
 * Read [voff, voff+len) of an entry through vfd (the mount's snapshot or
 * private view, through the op's window if OF_VIEW) and compare the count
 * and the bytes with the model: the view has window_size() bytes.
 */
static bool same_entry_range(struct ctx *c, const char *what, int vfd, struct mview *mv,
			     const struct op *o, uint64_t voff, size_t len)
{
	uint64_t vsize = window_size(o, mv->size);
	uint64_t w = o->flags & OF_VIEW ? o->woff : 0;
	size_t want = voff < vsize ? (size_t)MIN((uint64_t)len, vsize - voff) : 0;
	struct res got = res_of(pread(vfd, c->buf[T_MNT], len, (off_t)voff));

	if (got.ret < 0 || (size_t)got.ret != want) {
		char a[64];

		return fail(c, "%s: read %zu at %" PRIu64 " (size %" PRIu64 "): mount returned %s, the model expects %zu",
			    what, len, voff, vsize, res_str(got, a, sizeof(a)), want);
	}
	if (!want)
		return true;
	if (!mview_read(c, mv, w + voff, c->buf[T_PLAIN], want))
		return false;
	return same_bytes(c, what, voff, c->buf[T_MNT], c->buf[T_PLAIN], want);
}

static bool same_entry_size(struct ctx *c, const char *what, int vfd, struct mview *mv,
			    const struct op *o)
{
	uint64_t vsize = window_size(o, mv->size);
	struct stat st;

	if (fstat(vfd, &st) < 0)
		return fail(c, "%s: fstat: %s", what, strerror(errno));
	if ((uint64_t)st.st_size != vsize)
		return fail(c, "%s: st_size mount %lld, the model %" PRIu64, what,
			    (long long)st.st_size, vsize);
	return true;
}

static bool same_entry_all(struct ctx *c, const char *what, int vfd, struct mview *mv,
			   const struct op *o)
{
	uint64_t vsize = window_size(o, mv->size), off;

	for (off = 0; off < vsize; off += CHUNK)
		if (!same_entry_range(c, what, vfd, mv, o, off, (size_t)CHUNK))
			return false;
	return same_entry_range(c, what, vfd, mv, o, vsize, 4096);	/* EOF */
}

/* Take a snapshot sID of fNAME: create it on the mount (O_CREAT | O_EXCL, as
 * touch does), copy the plain file into the model. */
static bool ex_snap(struct ctx *c, const struct op *o)
{
	int obj = c->name_obj[o->name], fd, src;
	g_autofree char *p = view_path(c, o->name, "snap/s%d", o->id);
	g_autofree char *pp = path_of(c, T_PLAIN, o->name);
	struct msnap *m;
	struct stat st;
	struct res r;

	if (obj < 0 || find_snap(c, o->id))
		return true;	/* no such file, or the id is taken (a shrunk log): nothing */
	flush_obj_maps(c, obj);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	r = res_of(fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	if (!expect_res(c, "snap (create F@@/snap/NAME)", r, RES_OK))
		return false;
	src = open(pp, O_RDONLY);
	if (src < 0 || fstat(src, &st) < 0)
		return fail(c, "difftest model: open %s: %s", pp, strerror(errno));
	m = g_new0(struct msnap, 1);
	m->id = o->id;
	m->obj = obj;
	m->path = o->name;
	m->size = (uint64_t)st.st_size;
	m->fd = copy_file(c, src, m->size);
	close(src);
	if (m->fd < 0) {
		g_free(m);
		return fail(c, "difftest model: cannot copy %s: %s", pp, strerror(errno));
	}
	g_ptr_array_add(c->snaps, m);
	return true;
}

/* Read a range (or all) of fNAME@@/snap/sID[WINDOW]; ENOENT unless the model
 * lists the snapshot under that name; OF_ROFS: opening it for writing first
 * fails with EROFS. */
static bool ex_snapread(struct ctx *c, const struct op *o)
{
	struct msnap *m = find_snap(c, o->id);
	bool here = m && m->path == o->name;
	g_autofree char *sfx = window_suffix(o);
	g_autofree char *p = view_path(c, o->name, "snap/s%d%s", o->id, sfx);
	struct mview mv;
	struct res r;
	bool ok;
	int fd;

	if (o->len > MAX_IO)
		return fail(c, "bad op: len > %llu", MAX_IO);
	if (o->flags & OF_ROFS) {
		fd = open(p, O_RDWR);
		r = res_of(fd < 0 ? -1 : 0);
		if (fd >= 0)
			close(fd);
		if (!expect_res(c, "snapread: open a snapshot for writing", r,
				res_err(here ? EROFS : ENOENT)))
			return false;
	}
	fd = open(p, O_RDONLY);
	r = res_of(fd < 0 ? -1 : 0);
	ok = expect_res(c, "snapread: open", r, here ? RES_OK : res_err(ENOENT));
	if (!ok || !here) {
		if (fd >= 0)
			close(fd);
		return ok;
	}
	mview_open(c, &mv, m, NULL);
	ok = same_entry_size(c, "snapread", fd, &mv, o) &&
	     (o->flags & OF_FULL ? same_entry_all(c, "snapread", fd, &mv, o)
				 : same_entry_range(c, "snapread", fd, &mv, o, o->off, (size_t)o->len));
	close(fd);
	return ok;
}

static bool ex_snapdel(struct ctx *c, const struct op *o)
{
	struct msnap *m = find_snap(c, o->id);
	bool here = m && m->path == o->name;
	g_autofree char *p = view_path(c, o->name, "snap/s%d", o->id);
	struct res r = res_of(unlink(p));

	if (!expect_res(c, "snapdel (unlink F@@/snap/NAME)", r, here ? RES_OK : res_err(ENOENT)))
		return false;
	if (here)
		g_ptr_array_remove(c->snaps, m);
	return true;
}

/*
 * The private view cID of fNAME, opened on the mount for a cow op: created
 * (O_CREAT | O_EXCL) if the model has no such view, opened if it belongs to
 * fNAME's file; else the open must fail with ENOENT (*fd = -1, true). False:
 * a mismatch.
 */
static bool cow_open(struct ctx *c, const struct op *o, int flags, bool create,
		     struct mcow **mp, int *fd)
{
	struct mcow *m = find_cow(c, o->id);
	int obj = c->name_obj[o->name];
	g_autofree char *sfx = window_suffix(o);
	g_autofree char *p = view_path(c, o->name, "cow/c%d%s", o->id, sfx);
	bool here = m && m->obj == obj;
	struct res r;

	*mp = NULL;
	if (!m && create) {
		*fd = open(p, flags | O_CREAT | O_EXCL, 0644);
		r = res_of(*fd < 0 ? -1 : 0);
		if (!expect_res(c, "cow: create F@@/cow/NAME", r, RES_OK))
			return false;
		m = g_new0(struct mcow, 1);
		m->id = o->id;
		m->obj = obj;
		m->path = o->name;
		m->pages = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
		g_ptr_array_add(c->cows, m);
		*mp = m;
		return true;
	}
	*fd = open(p, flags);
	r = res_of(*fd < 0 ? -1 : 0);
	if (!expect_res(c, "cow: open F@@/cow/NAME", r, here ? RES_OK : res_err(ENOENT)))
		return false;
	if (here)
		*mp = m;
	else if (*fd >= 0)
		close(*fd);
	return true;
}

static bool ex_cowwrite(struct ctx *c, const struct op *o)
{
	int obj = c->name_obj[o->name], fd;
	uint64_t size, p;
	struct mcow *m;
	struct res r, want;
	bool ok;

	if (o->len > MAX_IO)
		return fail(c, "bad op: len > %llu", MAX_IO);
	if (obj < 0)
		return true;	/* no such file (a shrunk log): nothing */
	flush_obj_maps(c, obj);
	if (!cow_open(c, o, O_RDWR, true, &m, &fd))
		return false;
	if (!m)
		return true;
	size = name_size(c, o->name);
	want = o->off > size || o->len > size - o->off ? res_err(EFBIG) : (struct res){ (long long)o->len, 0 };
	fill_data(c->data, o->len, o->dseed, o->flags & OF_ZERO);
	if (o->flags & OF_POS) {
		r = res_of(lseek(fd, (off_t)o->off, SEEK_SET));
		if (r.ret >= 0)
			r = res_of(write(fd, c->data, o->len));
	} else {
		r = res_of(pwrite(fd, c->data, o->len, (off_t)o->off));
	}
	close(fd);
	ok = expect_res(c, "cowwrite", r, want);
	if (!ok || want.ret < 0)
		return ok;
	/* FILE_MAP_COPY: a page first written takes the file's bytes then */
	for (p = o->off / PAGE; p * PAGE < o->off + o->len; p++) {
		uint8_t *page = g_hash_table_lookup(m->pages, &p);
		uint64_t from = MAX(o->off, p * PAGE), to = MIN(o->off + o->len, (p + 1) * PAGE);

		if (!page) {
			g_autofree char *pp = path_of(c, T_PLAIN, o->name);
			int pfd = open(pp, O_RDONLY);

			page = g_malloc(PAGE);
			if (pfd < 0 || !pread_full(pfd, page, PAGE, p * PAGE)) {
				g_free(page);
				if (pfd >= 0)
					close(pfd);
				return fail(c, "difftest model: read %s: %s", pp, strerror(errno));
			}
			close(pfd);
			g_hash_table_insert(m->pages, page_key(p), page);
		}
		memcpy(page + (from - p * PAGE), c->data + (from - o->off), (size_t)(to - from));
	}
	return true;
}

static bool ex_cowread(struct ctx *c, const struct op *o)
{
	int obj = c->name_obj[o->name], fd;
	struct mcow *m;
	struct mview mv;
	bool ok;

	if (o->len > MAX_IO)
		return fail(c, "bad op: len > %llu", MAX_IO);
	if (obj < 0)
		return true;
	flush_obj_maps(c, obj);
	if (!cow_open(c, o, O_RDONLY, false, &m, &fd))
		return false;
	if (!m)
		return true;
	ok = mview_open(c, &mv, NULL, m) && same_entry_size(c, "cowread", fd, &mv, o) &&
	     (o->flags & OF_FULL ? same_entry_all(c, "cowread", fd, &mv, o)
				 : same_entry_range(c, "cowread", fd, &mv, o, o->off, (size_t)o->len));
	mview_close(&mv);
	close(fd);
	return ok;
}

/* Commit: mv fNAME@@/cow/cID fNAME2. Onto its own file: its private pages
 * below the file's size go into the file, and it is gone; onto anything
 * else: EINVAL. */
static bool ex_cowcommit(struct ctx *c, const struct op *o)
{
	struct mcow *m = find_cow(c, o->id);
	int obj = c->name_obj[o->name];
	bool here = m && m->obj == obj;
	g_autofree char *from = view_path(c, o->name, "cow/c%d", o->id);
	g_autofree char *to = path_of(c, T_MNT, o->name2);
	g_autofree char *pp = path_of(c, T_PLAIN, o->name);
	GHashTableIter it;
	gpointer k, v;
	struct stat st;
	struct res r;
	int fd;

	if (obj < 0)
		return true;
	flush_obj_maps(c, obj);
	r = res_of(rename(from, to));
	if (!expect_res(c, "cowcommit (mv F@@/cow/NAME F)", r,
			!here ? res_err(ENOENT) : o->name2 != o->name ? res_err(EINVAL) : RES_OK))
		return false;
	if (r.ret < 0)
		return true;
	fd = open(pp, O_WRONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(c, "difftest model: open %s: %s", pp, strerror(errno));
	g_hash_table_iter_init(&it, m->pages);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		uint64_t at = *(guint64 *)k * PAGE;

		if (at < (uint64_t)st.st_size &&
		    pwrite(fd, v, (size_t)MIN(PAGE, (uint64_t)st.st_size - at), (off_t)at) < 0) {
			close(fd);
			return fail(c, "difftest model: write %s: %s", pp, strerror(errno));
		}
	}
	close(fd);
	g_ptr_array_remove(c->cows, m);
	return true;
}

static bool ex_cowdiscard(struct ctx *c, const struct op *o)
{
	struct mcow *m = find_cow(c, o->id);
	int obj = c->name_obj[o->name];
	bool here = m && m->obj == obj;
	g_autofree char *p = view_path(c, o->name, "cow/c%d", o->id);
	struct res r;

	if (obj < 0)
		return true;
	r = res_of(unlink(p));
	if (!expect_res(c, "cowdiscard (rm F@@/cow/NAME)", r, here ? RES_OK : res_err(ENOENT)))
		return false;
	if (here)
		g_ptr_array_remove(c->cows, m);
	return true;
}

/* ---------------------------------------------------------------- tree snapshots */

/* TREE_ROOT/.snapshots/tID/REL[/fN]: REL the mount tree's place under the
 * mount's root (shrinking works in fresh subdirectories). */
static char *tree_path(struct ctx *c, int id, int name)
{
	const char *root = c->t[T_MNT].root, *rel = root + strlen(c->tree_root);

	while (*rel == '/')
		rel++;
	if (name < 0)
		return g_strdup_printf("%s/.snapshots/t%d%s%s", c->tree_root, id,
				       *rel ? "/" : "", rel);
	return g_strdup_printf("%s/.snapshots/t%d%s%s/f%d", c->tree_root, id,
			       *rel ? "/" : "", rel, name);
}

/* Every lingering mapping, written back in both trees: the contract puts
 * mmap stores into snapshots once written back. */
static void flush_all_maps(struct ctx *c)
{
	for (int i = 0; i < c->nfiles; i++)
		for (int t = 0; t < NTREES; t++)
			if (c->t[t].s[i].map)
				msync(c->t[t].s[i].map, c->t[t].s[i].maplen, MS_SYNC);
}

/* mkdir .snapshots/tID: the model copies every name of the plain tree. */
static bool ex_treesnap(struct ctx *c, const struct op *o)
{
	g_autofree char *dir = NULL;
	struct mtree *m;
	struct res r;

	if (find_tree(c, o->id))
		return true;	/* a shrunk log reusing an id: nothing */
	flush_all_maps(c);
	dir = g_strdup_printf("%s/.snapshots/t%d", c->tree_root, o->id);
	r = res_of(mkdir(dir, 0755));
	if (!expect_res(c, "treesnap (mkdir .snapshots/tID)", r, RES_OK))
		return false;
	m = g_new0(struct mtree, 1);
	m->id = o->id;
	for (int n = 0; n < MAX_FILES; n++) {
		g_autofree char *pp = n < c->nfiles ? path_of(c, T_PLAIN, n) : NULL;
		struct stat st;
		int src;

		m->fd[n] = -1;
		m->obj[n] = n < c->nfiles ? c->name_obj[n] : -1;
		if (!pp || (src = open(pp, O_RDONLY)) < 0)
			continue;
		if (fstat(src, &st) == 0) {
			m->size[n] = (uint64_t)st.st_size;
			m->fd[n] = copy_file(c, src, m->size[n]);
		}
		close(src);
		if (m->fd[n] < 0) {
			mtree_free(m);
			return fail(c, "difftest model: cannot copy %s: %s", pp, strerror(errno));
		}
	}
	g_ptr_array_add(c->trees, m);
	return true;
}

static bool ex_treedel(struct ctx *c, const struct op *o)
{
	struct mtree *m = find_tree(c, o->id);
	g_autofree char *dir = g_strdup_printf("%s/.snapshots/t%d", c->tree_root, o->id);
	struct res r = res_of(rmdir(dir));

	if (!expect_res(c, "treedel (rmdir .snapshots/tID)", r, m ? RES_OK : res_err(ENOENT)))
		return false;
	if (m)
		g_ptr_array_remove(c->trees, m);
	return true;
}

static int cmp_strp_qsort(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool check_entry(struct ctx *c, const char *what, int vfd, struct mview *mv, int id);
static char *list_dir(const char *dir);

/* Of a listing ("a b c"), only the names fN, in the order list_dir()
 * sorts them: the mount's root may hold other things (shrink's
 * subdirectories); and the model's names in that order too. */
static void keep_file_names(char **got, GString **want)
{
	g_auto(GStrv) names = g_strsplit(*got, " ", -1);
	g_auto(GStrv) wanted = g_strsplit((*want)->str, " ", -1);
	GString *s = g_string_new(NULL);

	for (char **n = names; *n; n++)
		if ((*n)[0] == 'f' && (*n)[1] && strspn(*n + 1, "0123456789") == strlen(*n + 1))
			g_string_append_printf(s, "%s%s", s->len ? " " : "", *n);
	g_free(*got);
	*got = g_string_free(s, false);
	qsort(wanted, g_strv_length(wanted), sizeof(char *), cmp_strp_qsort);
	g_string_truncate(*want, 0);
	for (char **n = wanted; *n; n++)
		if (**n)
			g_string_append_printf(*want, "%s%s", (*want)->len ? " " : "", *n);
}

/*
 * A tree snapshot against the model: the f* names of its copy of the tree,
 * each name's type, size and bytes (check_entry: all of them at the end,
 * else around the op and a random range), and inode numbers: equal for the
 * names of one object, distinct otherwise. Writes into it fail with EROFS.
 */
static bool check_tree(struct ctx *c, struct mtree *m)
{
	g_autofree char *dir = tree_path(c, m->id, -1);
	g_autoptr(GString) want = g_string_new(NULL);
	g_autofree char *got = NULL;
	struct stat st[MAX_FILES];
	char what[96];
	int n, k;

	for (n = 0; n < c->nfiles; n++)
		if (m->fd[n] >= 0)
			g_string_append_printf(want, "%sf%d", want->len ? " " : "", n);
	got = list_dir(dir);
	if (got)
		keep_file_names(&got, &want);
	if (!got)
		return fail(c, "check tree snapshot t%d: opendir %s: %s", m->id, dir,
			    strerrorname_np(errno) ?: "?");
	if (strcmp(got, want->str))
		return fail(c, "check tree snapshot t%d: it lists \"%s\", the model \"%s\"",
			    m->id, got, want->str);
	for (n = 0; n < c->nfiles; n++) {
		g_autofree char *p = NULL;
		struct msnap ms = { .id = m->id, .fd = m->fd[n], .size = m->size[n] };
		struct mview mv;
		bool ok;
		int fd;

		if (m->fd[n] < 0)
			continue;
		p = tree_path(c, m->id, n);
		snprintf(what, sizeof(what), "check tree snapshot t%d, f%d", m->id, n);
		if (lstat(p, &st[n]) < 0)
			return fail(c, "%s: lstat: %s", what, strerrorname_np(errno) ?: "?");
		if (!S_ISREG(st[n].st_mode))
			return fail(c, "%s: not a regular file (mode 0%o)", what, st[n].st_mode);
		for (k = 0; k < n; k++) {
			if (m->fd[k] < 0)
				continue;
			if ((m->obj[k] == m->obj[n]) != (st[k].st_ino == st[n].st_ino))
				return fail(c, "%s: inode %llu, f%d's %llu: the model says they are %s",
					    what, (unsigned long long)st[n].st_ino, k,
					    (unsigned long long)st[k].st_ino,
					    m->obj[k] == m->obj[n] ? "one file" : "two files");
		}
		fd = open(p, O_RDWR);
		if (fd >= 0 || errno != EROFS) {
			if (fd >= 0)
				close(fd);
			return fail(c, "%s: open for writing: %s, not EROFS", what,
				    fd >= 0 ? "succeeded" : strerrorname_np(errno) ?: "?");
		}
		fd = open(p, O_RDONLY);
		if (fd < 0)
			return fail(c, "%s: open: %s", what, strerrorname_np(errno) ?: "?");
		mview_open(c, &mv, &ms, NULL);
		ok = check_entry(c, what, fd, &mv, m->id);
		close(fd);
		if (!ok)
			return false;
	}
	return true;
}

struct op_desc {
	const char *name;
	unsigned fields;
	unsigned weight;	/* relative frequency in generated runs */
	void (*gen)(struct ctx *c, struct op *o);
	bool (*exec)(struct ctx *c, const struct op *o);
};

static const struct op_desc op_table[OP__COUNT] = {
	[OP_WRITE] = { "write", F_SLOT | F_OFF | F_LEN | F_DSEED | F_FLAGS | F_WIN, 25, gen_write, ex_write },
	[OP_READ] = { "read", F_SLOT | F_OFF | F_LEN | F_FLAGS | F_WIN, 12, gen_read, ex_read },
	[OP_TRUNCATE] = { "ftruncate", F_SLOT | F_OFF, 6, gen_truncate, ex_truncate },
	[OP_PTRUNCATE] = { "truncate", F_NAME | F_OFF, 2, gen_ptruncate, ex_ptruncate },
	[OP_FALLOCATE] = { "fallocate", F_SLOT | F_OFF | F_LEN | F_FLAGS, 4, gen_fallocate, ex_fallocate },
	[OP_PUNCH] = { "punch", F_SLOT | F_OFF | F_LEN, 5, gen_punch, ex_punch },
	[OP_MMAP_READ] = { "mmap_read", F_SLOT | F_OFF | F_LEN, 6, gen_mmap, ex_mmap_read },
	[OP_MMAP_WRITE] = { "mmap_write", F_SLOT | F_OFF | F_LEN | F_DSEED | F_FLAGS, 6, gen_mmap_write, ex_mmap_write },
	[OP_MSYNC] = { "msync", F_SLOT | F_FLAGS, 3, gen_msync, ex_msync },
	[OP_RENAME] = { "rename", F_NAME | F_NAME2, 3, gen_rename, ex_rename },
	[OP_UNLINK] = { "unlink", F_NAME, 2, gen_unlink, ex_unlink },
	[OP_FSYNC] = { "fsync", F_SLOT, 2, gen_sync, ex_fsync },
	[OP_FDATASYNC] = { "fdatasync", F_SLOT, 2, gen_sync, ex_fdatasync },
	[OP_COPY] = { "copy_file_range", F_SLOT | F_SLOT2 | F_OFF | F_OFF2 | F_LEN, 5, gen_copy, ex_copy },
	[OP_REOPEN] = { "reopen", F_SLOT | F_NAME | F_FLAGS, 5, gen_reopen, ex_reopen },
	[OP_SEEK] = { "seek", F_SLOT | F_OFF, 3, gen_seek, ex_seek },
	[OP_SNAP] = { "snap", F_NAME | F_ID, 3, gen_snap, ex_snap },
	[OP_SNAPREAD] = { "snapread", F_NAME | F_ID | F_OFF | F_LEN | F_FLAGS | F_WIN, 3, gen_snapread, ex_snapread },
	[OP_SNAPDEL] = { "snapdel", F_NAME | F_ID, 2, gen_snapdel, ex_snapdel },
	[OP_COWWRITE] = { "cowwrite", F_NAME | F_ID | F_OFF | F_LEN | F_DSEED | F_FLAGS, 4, gen_cowwrite, ex_cowwrite },
	[OP_COWREAD] = { "cowread", F_NAME | F_ID | F_OFF | F_LEN | F_FLAGS | F_WIN, 3, gen_cowread, ex_cowread },
	[OP_COWCOMMIT] = { "cowcommit", F_NAME | F_NAME2 | F_ID, 1, gen_cowcommit, ex_cowcommit },
	[OP_COWDISCARD] = { "cowdiscard", F_NAME | F_ID, 1, gen_cowdiscard, ex_cowdiscard },
	[OP_TREESNAP] = { "treesnap", F_ID, 2, gen_treesnap, ex_treesnap },
	[OP_TREEDEL] = { "treedel", F_ID, 1, gen_treedel, ex_treedel },
};

/* ---------------------------------------------------------------- generation */

static void gen_op(struct ctx *c, struct op *o)
{
	unsigned total = 0, r, k;
	uint64_t sum, largest;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < c->nfiles && c->t[T_PLAIN].s[i].fd < 0; i++)
		;
	if (i == c->nfiles) {
		o->kind = OP_REOPEN;
		o->slot = (int)rnd(c, c->nfiles);
		o->name = o->slot;
		o->flags = OF_CREAT;
		return;
	}
	/* keep the trees small enough to compare in full after every step */
	tree_sizes(c, &sum, &largest);
	if (largest > BIG_FILE && chance(c, 30)) {
		for (i = 0; i < c->nfiles; i++) {
			struct stat st;

			if (name_stat(c, i, &st) && (uint64_t)st.st_size > BIG_FILE) {
				o->kind = OP_PTRUNCATE;
				o->name = i;
				o->off = rnd(c, 4 * MiB);
				return;
			}
			if (slot_size(c, i) > BIG_FILE) {
				o->kind = OP_TRUNCATE;
				o->slot = i;
				o->off = rnd(c, 4 * MiB);
				return;
			}
		}
	}
	for (k = 0; k < OP__COUNT; k++)
		total += c->weight[k];
	r = (unsigned)rnd(c, total);
	for (k = 0; r >= c->weight[k]; k++)
		r -= c->weight[k];
	o->kind = (enum op_kind)k;
	op_table[k].gen(c, o);
}

/* ---------------------------------------------------------------- log format */

static void format_op(const struct op *o, char *buf, size_t n)
{
	const struct op_desc *d = &op_table[o->kind];
	size_t k = 0;
	unsigned i;

#define OUT(...) (k += (size_t)snprintf(buf + k, k < n ? n - k : 0, __VA_ARGS__))
	OUT("%s", d->name);
	if (d->fields & F_SLOT)
		OUT(" slot=%d", o->slot);
	if (d->fields & F_SLOT2)
		OUT(" slot2=%d", o->slot2);
	if (d->fields & F_NAME)
		OUT(" name=%d", o->name);
	if (d->fields & F_NAME2)
		OUT(" name2=%d", o->name2);
	if (d->fields & F_ID)
		OUT(" id=%d", o->id);
	if (d->fields & F_OFF)
		OUT(" off=%" PRIu64, o->off);
	if (d->fields & F_OFF2)
		OUT(" off2=%" PRIu64, o->off2);
	if (d->fields & F_LEN)
		OUT(" len=%" PRIu64, o->len);
	if (d->fields & F_DSEED)
		OUT(" dseed=0x%" PRIx64, o->dseed);
	if (d->fields & F_FLAGS) {
		OUT(" flags=");
		if (!o->flags)
			OUT("0");
		for (i = 0; i < G_N_ELEMENTS(flag_names); i++)
			if (o->flags & (1u << i))
				OUT("%s%s", (o->flags & ((1u << i) - 1)) ? "|" : "", flag_names[i]);
	}
	if ((d->fields & F_WIN) && (o->flags & OF_VIEW) && !(o->flags & OF_WHOLE))
		OUT(" woff=%" PRIu64 " wlen=%" PRIu64, o->woff, o->wlen);
#undef OUT
	if (k >= n && n)
		buf[n - 1] = 0;
}

/* Parse one log line ("[#N] NAME key=value ..."); false if it is not an op. */
static bool parse_op(const char *line, int nfiles, struct op *o, GString *err)
{
	g_autofree char *copy = g_strstrip(g_strdup(line));
	g_auto(GStrv) tok = g_strsplit_set(copy, " \t", -1);
	int i = 0, k;

	memset(o, 0, sizeof(*o));
	while (tok[i] && !*tok[i])
		i++;
	if (tok[i] && tok[i][0] == '#')
		i++;
	while (tok[i] && !*tok[i])
		i++;
	if (!tok[i])
		return false;
	for (k = 0; k < OP__COUNT && strcmp(tok[i], op_table[k].name); k++)
		;
	if (k == OP__COUNT)
		return false;
	o->kind = (enum op_kind)k;
	for (i++; tok[i]; i++) {
		char *eq = strchr(tok[i], '='), *val;

		if (!*tok[i])
			continue;
		if (tok[i][0] == '<' || tok[i][0] == '#')
			break;	/* "<== fails here", a comment */
		if (!eq) {
			g_string_printf(err, "bad token '%s'", tok[i]);
			return false;
		}
		*eq = 0;
		val = eq + 1;
		if (!strcmp(tok[i], "flags")) {
			g_auto(GStrv) fl = g_strsplit(val, "|", -1);
			int f;

			for (f = 0; fl[f]; f++) {
				unsigned b;

				if (!strcmp(fl[f], "0"))
					continue;
				for (b = 0; b < G_N_ELEMENTS(flag_names) && strcmp(fl[f], flag_names[b]); b++)
					;
				if (b == G_N_ELEMENTS(flag_names)) {
					g_string_printf(err, "unknown flag '%s'", fl[f]);
					return false;
				}
				o->flags |= 1u << b;
			}
			continue;
		}
		{
			uint64_t v = g_ascii_strtoull(val, NULL, 0);

			if (!strcmp(tok[i], "slot"))
				o->slot = (int)v;
			else if (!strcmp(tok[i], "slot2"))
				o->slot2 = (int)v;
			else if (!strcmp(tok[i], "name"))
				o->name = (int)v;
			else if (!strcmp(tok[i], "name2"))
				o->name2 = (int)v;
			else if (!strcmp(tok[i], "off"))
				o->off = v;
			else if (!strcmp(tok[i], "off2"))
				o->off2 = v;
			else if (!strcmp(tok[i], "len"))
				o->len = v;
			else if (!strcmp(tok[i], "dseed"))
				o->dseed = v;
			else if (!strcmp(tok[i], "id"))
				o->id = (int)v;
			else if (!strcmp(tok[i], "woff"))
				o->woff = v;
			else if (!strcmp(tok[i], "wlen"))
				o->wlen = v;
			else {
				g_string_printf(err, "unknown field '%s'", tok[i]);
				return false;
			}
		}
	}
	if (o->slot >= nfiles || o->slot2 >= nfiles || o->name >= nfiles || o->name2 >= nfiles ||
	    o->slot < 0 || o->slot2 < 0 || o->name < 0 || o->name2 < 0) {
		g_string_printf(err, "slot or name out of range for --files %d", nfiles);
		return false;
	}
	if (o->len > MAX_IO && o->kind != OP_FALLOCATE && o->kind != OP_PUNCH) {
		g_string_printf(err, "len above %llu", MAX_IO);
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- checking */

/* Compare the bytes of two open files of the same size, a chunk at a time. */
static bool same_contents(struct ctx *c, const char *what, int fdm, int fdp, uint64_t size)
{
	uint64_t off = 0;
	struct res r[NTREES];

	for (;;) {
		size_t n = CHUNK;

		r[T_MNT] = res_of(pread(fdm, c->buf[T_MNT], n, (off_t)off));
		r[T_PLAIN] = res_of(pread(fdp, c->buf[T_PLAIN], n, (off_t)off));
		if (!same_res(c, what, r)) {
			g_string_append_printf(c->why, " (reading at %" PRIu64 " of %" PRIu64 ")", off, size);
			return false;
		}
		if (r[0].ret <= 0)
			break;
		if (!same_bytes(c, what, off, c->buf[T_MNT], c->buf[T_PLAIN], (size_t)r[0].ret))
			return false;
		off += (uint64_t)r[0].ret;
	}
	if (r[0].ret < 0)
		return true;
	if (off != size)
		return fail(c, "%s: read %" PRIu64 " bytes to EOF, but st_size is %" PRIu64, what, off, size);
	return true;
}

/* Files a and b (each a stat per tree) are one file in the plain tree exactly
 * when they are one file on the mount. */
static bool same_identity(struct ctx *c, const char *a, const char *b,
			  const struct stat *am, const struct stat *ap,
			  const struct stat *bm, const struct stat *bp)
{
	bool plain = ap->st_dev == bp->st_dev && ap->st_ino == bp->st_ino;
	bool mount = am->st_dev == bm->st_dev && am->st_ino == bm->st_ino;

	if (plain == mount)
		return true;
	return fail(c, "check: %s and %s are %s in the plain tree but %s on the mount (st_ino %llu, %llu)",
		    a, b, plain ? "one file" : "two files", mount ? "one file" : "two files",
		    (unsigned long long)am->st_ino, (unsigned long long)bm->st_ino);
}

static gint cmp_strp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names dir lists, sorted, space-separated; NULL with errno if it cannot
 * be opened */
static char *list_dir(const char *dir)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GString *s;
	struct dirent *de;
	DIR *d = opendir(dir);
	guint i;

	if (!d)
		return NULL;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			g_ptr_array_add(names, g_strdup(de->d_name));
	closedir(d);
	g_ptr_array_sort(names, cmp_strp);
	s = g_string_new(NULL);
	for (i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "", (char *)g_ptr_array_index(names, i));
	return g_string_free(s, false);
}

/* what the model lists in fNAME@@/snap (snap) or fNAME@@/cow */
static char *model_list(struct ctx *c, int name, bool snap)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GString *s;
	guint i;

	for (i = 0; snap && i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);

		if (m->path == name)
			g_ptr_array_add(names, g_strdup_printf("s%d", m->id));
	}
	for (i = 0; !snap && i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);

		if (m->obj >= 0 && m->obj == c->name_obj[name])
			g_ptr_array_add(names, g_strdup_printf("c%d", m->id));
	}
	g_ptr_array_sort(names, cmp_strp);
	s = g_string_new(NULL);
	for (i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "", (char *)g_ptr_array_index(names, i));
	return g_string_free(s, false);
}

/* The model's files agree with the plain tree: which names and slots hold a
 * file, and which of them hold the same one. A failure is the tester's. */
static bool model_sane(struct ctx *c)
{
	struct stat ns[MAX_FILES], ss[MAX_FILES];
	bool nok[MAX_FILES], sok[MAX_FILES];
	int i, j;

	for (i = 0; i < c->nfiles; i++) {
		nok[i] = name_stat(c, i, &ns[i]);
		sok[i] = c->t[T_PLAIN].s[i].fd >= 0 && fstat(c->t[T_PLAIN].s[i].fd, &ss[i]) == 0;
		if (nok[i] != (c->name_obj[i] >= 0))
			return fail(c, "difftest model: f%d %s in the plain tree, model object %d",
				    i, nok[i] ? "exists" : "is missing", c->name_obj[i]);
		if (sok[i] != (c->slot_obj[i] >= 0))
			return fail(c, "difftest model: slot %d %s, model object %d", i,
				    sok[i] ? "is open" : "is closed", c->slot_obj[i]);
	}
	for (i = 0; i < c->nfiles; i++)
		for (j = 0; j < c->nfiles; j++)
			if (nok[i] && sok[j] &&
			    (ns[i].st_ino == ss[j].st_ino) != (c->name_obj[i] == c->slot_obj[j]))
				return fail(c, "difftest model: f%d (object %d) and slot %d (object %d) disagree with the plain tree",
					    i, c->name_obj[i], j, c->slot_obj[j]);
	return true;
}

static bool obj_lingers(struct ctx *c, int obj)
{
	int i;

	for (i = 0; i < c->nfiles; i++)
		if (c->slot_obj[i] == obj && c->t[T_PLAIN].s[i].map)
			return true;
	return false;
}

/*
 * Compare an entry (snapshot or private view, opened as vfd on the mount)
 * with the model: its size, and all its bytes (c->full_check or a small
 * entry) or the range the op touched and a random range.
 */
static bool check_entry(struct ctx *c, const char *what, int vfd, struct mview *mv, int id)
{
	static const struct op whole = { .kind = OP_SNAPREAD };
	uint64_t rs = c->step * 0x9e3779b97f4a7c15ULL ^ (uint64_t)id, off;

	if (!same_entry_size(c, what, vfd, mv, &whole))
		return false;
	if (c->full_check || mv->size <= MAX_IO)
		return same_entry_all(c, what, vfd, mv, &whole);
	off = c->hint_off > 4096 ? c->hint_off - 4096 : 0;
	if (off < mv->size &&
	    !same_entry_range(c, what, vfd, mv, &whole, off,
			      (size_t)MIN((uint64_t)MAX_IO, c->hint_len + 8192)))
		return false;
	off = splitmix64(&rs) % mv->size;
	return same_entry_range(c, what, vfd, mv, &whole, off, 64 * KiB);
}

/*
 * With snapshots on: every snapshot through its listed name, every private
 * view of a named file (unless a lingering mapping of the file holds stores
 * not yet written back), and the listings of fN@@/snap and fN@@/cow, against
 * the model.
 */
static bool check_model(struct ctx *c)
{
	char what[96];
	guint i;
	int n;

	if (!model_sane(c))
		return false;
	for (i = 0; i < c->trees->len; i++)
		if (!check_tree(c, g_ptr_array_index(c->trees, i)))
			return false;
	if (!c->snapshots)
		return true;
	for (i = 0; i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);
		g_autofree char *p = view_path(c, m->path, "snap/s%d", m->id);
		struct mview mv;
		int fd = open(p, O_RDONLY);
		bool ok;

		snprintf(what, sizeof(what), "check f%d@@/snap/s%d (taken of object %d)", m->path,
			 m->id, m->obj);
		if (fd < 0)
			return fail(c, "%s: open: %s", what, strerrorname_np(errno) ?: "?");
		mview_open(c, &mv, m, NULL);
		ok = check_entry(c, what, fd, &mv, m->id);
		close(fd);
		if (!ok)
			return false;
	}
	for (i = 0; i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);
		int name = obj_name(c, m->obj), fd;
		g_autofree char *p = NULL;
		struct mview mv;
		bool ok;

		if (name < 0 || obj_lingers(c, m->obj))
			continue;
		p = view_path(c, name, "cow/c%d", m->id);
		snprintf(what, sizeof(what), "check f%d@@/cow/c%d", name, m->id);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			return fail(c, "%s: open: %s", what, strerrorname_np(errno) ?: "?");
		ok = mview_open(c, &mv, NULL, m) && check_entry(c, what, fd, &mv, m->id);
		mview_close(&mv);
		close(fd);
		if (!ok)
			return false;
	}
	for (n = 0; n < c->nfiles; n++) {
		int k;

		for (k = 0; k < 2; k++) {
			bool snap = k == 0;
			g_autofree char *p = view_path(c, n, snap ? "snap" : "cow");
			g_autofree char *want = model_list(c, n, snap);
			g_autofree char *got = NULL;

			if (!snap && c->name_obj[n] < 0)
				continue;	/* private views of removed files: not modelled */
			got = list_dir(p);
			if (!got && errno == ENOENT && c->name_obj[n] < 0 && !*want)
				continue;	/* no file, nothing kept under its name */
			if (!got)
				return fail(c, "check f%d@@/%s: opendir: %s (the model lists \"%s\")", n,
					    snap ? "snap" : "cow", strerrorname_np(errno) ?: "?", want);
			if (strcmp(got, want))
				return fail(c, "check f%d@@/%s: the mount lists \"%s\", the model \"%s\"", n,
					    snap ? "snap" : "cow", got, want);
		}
	}
	return true;
}

/*
 * Every file in both trees, each once: the open slots first (fstat, and the
 * bytes through the descriptors), then every name (lstat; the bytes through a
 * fresh open only if no slot holds the file, or with --thorough). Reading a
 * held file through its slot matters: closing a FUSE file flushes its dirty
 * mmap pages, so opening every name at every step would write back the pages
 * the ops left dirty and hide what happens to them. Which slot holds which
 * name, the mount must agree with the plain tree (same_identity).
 */
static bool check_all(struct ctx *c)
{
	struct stat ss[MAX_FILES][NTREES], ns[NTREES];
	bool held[MAX_FILES];
	char what[64], a[32], b[32];
	struct res r[NTREES];
	int i, j, t;

	for (i = 0; i < c->nfiles; i++) {
		bool dup = false;

		snprintf(what, sizeof(what), "check slot %d: fstat", i);
		for (t = 0; t < NTREES; t++)
			r[t] = res_of(fstat(c->t[t].s[i].fd, &ss[i][t]));
		if (!same_res(c, what, r))
			return false;
		held[i] = r[0].ret == 0;
		if (!held[i])
			continue;
		if (ss[i][T_MNT].st_size != ss[i][T_PLAIN].st_size)
			return fail(c, "check slot %d: st_size mount %lld, plain %lld", i,
				    (long long)ss[i][T_MNT].st_size, (long long)ss[i][T_PLAIN].st_size);
		for (j = 0; j < i; j++) {
			if (!held[j])
				continue;
			snprintf(a, sizeof(a), "slot %d", j);
			snprintf(b, sizeof(b), "slot %d", i);
			if (!same_identity(c, a, b, &ss[j][T_MNT], &ss[j][T_PLAIN],
					   &ss[i][T_MNT], &ss[i][T_PLAIN]))
				return false;
			if (ss[j][T_PLAIN].st_ino == ss[i][T_PLAIN].st_ino)
				dup = true;
		}
		if (dup && !c->thorough)
			continue;
		snprintf(what, sizeof(what), "check slot %d: contents", i);
		if (!same_contents(c, what, c->t[T_MNT].s[i].fd, c->t[T_PLAIN].s[i].fd,
				   (uint64_t)ss[i][T_PLAIN].st_size))
			return false;
	}
	for (i = 0; i < c->nfiles; i++) {
		int fd[NTREES] = { -1, -1 };
		bool by_slot = false, ok;

		snprintf(what, sizeof(what), "check f%d: lstat", i);
		for (t = 0; t < NTREES; t++) {
			g_autofree char *p = path_of(c, t, i);

			r[t] = res_of(lstat(p, &ns[t]));
		}
		if (!same_res(c, what, r))
			return false;
		if (r[0].ret < 0)
			continue;
		if ((ns[T_MNT].st_mode & S_IFMT) != (ns[T_PLAIN].st_mode & S_IFMT))
			return fail(c, "check f%d: file type mount 0%o, plain 0%o", i,
				    ns[T_MNT].st_mode & S_IFMT, ns[T_PLAIN].st_mode & S_IFMT);
		if (ns[T_MNT].st_size != ns[T_PLAIN].st_size)
			return fail(c, "check f%d: st_size mount %lld, plain %lld", i,
				    (long long)ns[T_MNT].st_size, (long long)ns[T_PLAIN].st_size);
		for (j = 0; j < c->nfiles; j++) {
			if (!held[j])
				continue;
			snprintf(a, sizeof(a), "f%d", i);
			snprintf(b, sizeof(b), "slot %d", j);
			if (!same_identity(c, a, b, &ns[T_MNT], &ns[T_PLAIN], &ss[j][T_MNT],
					   &ss[j][T_PLAIN]))
				return false;
			if (ss[j][T_PLAIN].st_ino == ns[T_PLAIN].st_ino)
				by_slot = true;
		}
		if (by_slot && !c->thorough)
			continue;
		snprintf(what, sizeof(what), "check f%d: open", i);
		for (t = 0; t < NTREES; t++) {
			g_autofree char *p = path_of(c, t, i);

			fd[t] = open(p, O_RDONLY);
			r[t] = res_of(fd[t] < 0 ? -1 : 0);
		}
		ok = same_res(c, what, r);
		if (ok && fd[0] >= 0) {
			snprintf(what, sizeof(what), "check f%d: contents", i);
			ok = same_contents(c, what, fd[T_MNT], fd[T_PLAIN],
					   (uint64_t)ns[T_PLAIN].st_size);
		}
		for (t = 0; t < NTREES; t++)
			if (fd[t] >= 0)
				close(fd[t]);
		if (!ok)
			return false;
	}
	return check_model(c);
}

/* ---------------------------------------------------------------- runs */

/* the log of the running sequence, for the signal handlers */
static const struct op *volatile sig_ops;
static volatile uint64_t sig_nops, sig_step, sig_seed;
static volatile int sig_have_seed;

static void print_log(FILE *f, const struct op *ops, uint64_t n, uint64_t mark)
{
	char line[256];
	uint64_t i;

	for (i = 0; i < n; i++) {
		format_op(&ops[i], line, sizeof(line));
		fprintf(f, "  #%" PRIu64 " %s%s\n", i, line, i == mark ? "    <== fails here" : "");
	}
}

/*
 * SIGALRM (a step took longer than --step-timeout: the filesystem may hang),
 * SIGTERM, SIGINT: say where the run stood and print the log, with write(2)
 * only. With a seed the last ops are enough (the seed replays the rest).
 */
static void on_timeout(int sig)
{
	uint64_t i, from = 0, step = sig_step;
	char line[300];
	int k;

	if (sig == SIGALRM)
		k = snprintf(line, sizeof(line),
			     "\ndifftest: step %" PRIu64 " timed out: the filesystem may hang", step);
	else
		k = snprintf(line, sizeof(line), "\ndifftest: interrupted by %s at step %" PRIu64,
			     sigabbrev_np(sig) ?: "a signal", step);
	if (sig_have_seed)
		k += snprintf(line + k, sizeof(line) - (size_t)k, ", seed %" PRIu64, (uint64_t)sig_seed);
	k += snprintf(line + k, sizeof(line) - (size_t)k, "\noperation log%s:\n",
		      sig_have_seed && step >= 100 ? " (last 100 ops)" : "");
	if (write(2, line, (size_t)k) < 0)
		_exit(1);
	if (sig_have_seed && step >= 100)
		from = step - 99;
	for (i = from; sig_ops && i <= step && i < sig_nops; i++) {
		char op[256];

		format_op((const struct op *)&sig_ops[i], op, sizeof(op));
		k = snprintf(line, sizeof(line), "  #%" PRIu64 " %s%s\n", i, op,
			     i == step ? (sig == SIGALRM ? "    <== hangs here" : "    <== running") : "");
		if (write(2, line, (size_t)k) < 0)
			break;
	}
	_exit(1);
}

static void tree_close(struct tree *t, int nfiles)
{
	int i;

	for (i = 0; i < nfiles; i++) {
		drop_linger(&t->s[i]);
		if (t->s[i].fd >= 0)
			close(t->s[i].fd);
		t->s[i].fd = -1;
	}
}

/* Remove f0..f(n-1), then open each slot i on fi, created empty. */
static bool trees_setup(struct ctx *c)
{
	int t, i;

	for (t = 0; t < NTREES; t++) {
		for (i = 0; i < c->nfiles; i++) {
			g_autofree char *p = path_of(c, t, i);

			if (unlink(p) < 0 && errno != ENOENT) {
				fprintf(stderr, "difftest: unlink %s: %m\n", p);
				return false;
			}
			c->t[t].s[i].fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
			if (c->t[t].s[i].fd < 0) {
				fprintf(stderr, "difftest: create %s: %m\n", p);
				return false;
			}
		}
	}
	model_reset(c);
	return true;
}

/*
 * Delete the snapshots and private views the model knows of on the mount
 * (the daemon would keep those of removed files in its state directory, and
 * list them under the same names in the next run), then forget them. Those
 * of files that no name reaches are deleted through their last name; the
 * file that has that name now is moved aside meanwhile (the daemon finds a
 * replaced file's snapshots for reading, not for deletion, while the name is
 * taken).
 */
static void model_teardown(struct ctx *c)
{
	guint i;
	int n;

	for (i = 0; i < c->trees->len; i++) {
		struct mtree *m = g_ptr_array_index(c->trees, i);
		g_autofree char *dir = g_strdup_printf("%s/.snapshots/t%d", c->tree_root, m->id);

		rmdir(dir);
	}
	g_ptr_array_set_size(c->trees, 0);

	for (i = 0; i < c->snaps->len; i++) {
		struct msnap *m = g_ptr_array_index(c->snaps, i);
		g_autofree char *p = view_path(c, m->path, "snap/s%d", m->id);

		if (obj_name(c, m->obj) >= 0)
			unlink(p);
	}
	for (i = 0; i < c->cows->len; i++) {
		struct mcow *m = g_ptr_array_index(c->cows, i);
		int name = obj_name(c, m->obj);
		g_autofree char *p = view_path(c, name, "cow/c%d", m->id);

		if (name >= 0)
			unlink(p);
	}
	for (n = 0; n < c->nfiles; n++) {
		g_autofree char *file = path_of(c, T_MNT, n);
		g_autofree char *away = g_strdup_printf("%s/difftest-away", c->t[T_MNT].root);
		bool any = false, moved;

		for (i = 0; i < c->snaps->len; i++) {
			struct msnap *m = g_ptr_array_index(c->snaps, i);

			any |= m->path == n && obj_name(c, m->obj) < 0;
		}
		for (i = 0; i < c->cows->len; i++) {
			struct mcow *m = g_ptr_array_index(c->cows, i);

			any |= m->path == n && obj_name(c, m->obj) < 0;
		}
		if (!any)
			continue;
		moved = c->name_obj[n] >= 0 && rename(file, away) == 0;
		for (i = 0; i < c->snaps->len; i++) {
			struct msnap *m = g_ptr_array_index(c->snaps, i);
			g_autofree char *p = view_path(c, n, "snap/s%d", m->id);

			if (m->path == n && obj_name(c, m->obj) < 0)
				unlink(p);
		}
		for (i = 0; i < c->cows->len; i++) {
			struct mcow *m = g_ptr_array_index(c->cows, i);
			g_autofree char *p = view_path(c, n, "cow/c%d", m->id);

			if (m->path == n && obj_name(c, m->obj) < 0)
				unlink(p);
		}
		if (moved)
			rename(away, file);
	}
	model_reset(c);
}

static void trees_teardown(struct ctx *c, bool remove)
{
	int t, i;

	model_teardown(c);
	for (t = 0; t < NTREES; t++) {
		tree_close(&c->t[t], c->nfiles);
		for (i = 0; remove && i < c->nfiles; i++) {
			g_autofree char *p = path_of(c, t, i);

			unlink(p);
		}
	}
}

/* Execute ops[0..n) with a full check after each (or, when !check_each,
 * after the last only: shrinking trials), generating each op first if
 * generate (the generator reads the plain tree, so it runs in step with the
 * execution); the index of the first failing step, or -1. c->why says what
 * failed. */
static int64_t run_ops(struct ctx *c, struct op *ops, uint64_t n, unsigned step_timeout,
		       bool generate, bool check_each)
{
	uint64_t i;

	g_string_truncate(c->why, 0);
	sig_ops = ops;
	sig_nops = n;
	sig_step = 0;
	for (i = 0; i < n; i++) {
		bool ok;

		if (generate)
			gen_op(c, &ops[i]);
		c->step = i;
		sig_step = i;
		if (c->verbose) {
			char line[256];

			format_op(&ops[i], line, sizeof(line));
			fprintf(stderr, "  #%" PRIu64 " %s\n", i, line);
		}
		c->hint_off = ops[i].kind == OP_COPY ? ops[i].off2 : ops[i].off;
		c->hint_len = ops[i].len;
		c->full_check = i + 1 == n;	/* every byte of every entry, last */
		alarm(step_timeout);
		ok = op_table[ops[i].kind].exec(c, &ops[i]) &&
		     (!check_each && i + 1 < n ? true : check_all(c));
		alarm(0);
		if (!ok)
			return (int64_t)i;
	}
	return -1;
}

/* ---------------------------------------------------------------- shrinking */

/* Replay ops in fresh subdirectories of both trees, comparing op results at
 * every step but the trees only after the last (a candidate is cut after its
 * failing step, so that is where its failure shows): the failing step or -1;
 * -2 if the trial could not even be set up (a dead mount). */
static int64_t trial(struct ctx *c, struct op *ops, uint64_t n, unsigned step_timeout,
		     const char *base[NTREES], unsigned k)
{
	int64_t r;
	int t;

	for (t = 0; t < NTREES; t++) {
		g_free(c->t[t].root);
		c->t[t].root = g_strdup_printf("%s/difftest-shrink.%d.%u", base[t], (int)getpid(), k);
		if (mkdir(c->t[t].root, 0755) < 0) {
			fprintf(stderr, "difftest: shrink: mkdir %s: %m\n", c->t[t].root);
			return -2;
		}
	}
	if (!trees_setup(c)) {
		trees_teardown(c, true);
		return -2;
	}
	r = run_ops(c, ops, n, step_timeout, false, false);
	trees_teardown(c, true);
	for (t = 0; t < NTREES; t++)
		rmdir(c->t[t].root);
	return r;
}

/*
 * Delta debugging, greedy: drop chunks of ops (halving the chunk size when no
 * chunk can go) as long as the rest still fails somewhere, and cut the list
 * after the failing step. Bounded by a trial count and a time limit.
 */
static GArray *shrink(struct ctx *c, struct op *ops, uint64_t n, unsigned step_timeout,
		      const char *base[NTREES], unsigned max_seconds)
{
	GArray *cur = g_array_new(false, false, sizeof(struct op));
	GArray *cand = g_array_new(false, false, sizeof(struct op));
	gint64 deadline = g_get_monotonic_time() + (gint64)max_seconds * G_USEC_PER_SEC;
	unsigned k = 0;
	uint64_t chunk;
	int64_t r;

	g_array_append_vals(cur, ops, n);
	r = trial(c, (struct op *)cur->data, cur->len, step_timeout, base, k++);
	if (r < 0) {
		fprintf(stderr, "difftest: shrink: the replay of the %u ops %s\n", cur->len,
			r == -1 ? "passed (the failure depends on timing?)" : "could not be set up");
		g_array_free(cand, true);
		g_array_free(cur, true);
		return NULL;
	}
	g_array_set_size(cur, (guint)r + 1);
	chunk = MAX(cur->len / 2, 1);
	while (g_get_monotonic_time() < deadline) {
		bool progress = false;
		uint64_t i = 0;

		while (i < cur->len && g_get_monotonic_time() < deadline) {
			uint64_t end = MIN(i + chunk, cur->len);

			g_array_set_size(cand, 0);
			g_array_append_vals(cand, cur->data, (guint)i);
			g_array_append_vals(cand, (struct op *)cur->data + end, cur->len - (guint)end);
			r = trial(c, (struct op *)cand->data, cand->len, step_timeout, base, k++);
			if (r == -2) {
				deadline = 0;
				break;
			}
			if (r >= 0) {
				g_array_set_size(cand, (guint)r + 1);
				g_array_set_size(cur, 0);
				g_array_append_vals(cur, cand->data, cand->len);
				progress = true;
			} else {
				i = end;
			}
		}
		if (!progress) {
			if (chunk == 1)
				break;
			chunk = MAX(chunk / 2, 1);
		}
	}
	/* the final failure message, for the report */
	r = trial(c, (struct op *)cur->data, cur->len, step_timeout, base, k++);
	g_array_free(cand, true);
	if (r < 0) {
		fprintf(stderr, "difftest: shrink: after %u trials the shrunk log of %u ops %s\n", k,
			cur->len, r == -1 ? "passed its last replay (the failure depends on timing, or on state earlier trials left in the filesystem)" : "could not be set up");
		g_array_free(cur, true);
		return NULL;
	}
	fprintf(stderr, "difftest: shrink: %u trials\n", k);
	return cur;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: difftest [--seed N] [--ops N] [--files N] [--verbose] [--thorough]\n"
		"                [--shrink] [--shrink-time S] [--replay FILE] [--step-timeout S]\n"
		"                [--skip OP,...] [--no-views] [--no-snapshots] [--avoid-orphan-bugs]\n"
		"                [--tree-root MOUNTROOT] MOUNTDIR PLAINDIR\n"
		"Applies one random sequence of file operations to MOUNTDIR and PLAINDIR and\n"
		"compares results, sizes and bytes after every step.\n"
		"  --seed N          seed of the sequence (default 1)\n"
		"  --ops N           operations to run (default 2000)\n"
		"  --files N         files (and open slots) per tree, 1..%d (default 4)\n"
		"  --verbose         print each operation as it runs\n"
		"  --thorough        also compare the bytes through every open descriptor\n"
		"  --shrink          on a mismatch, search for a shorter failing log\n"
		"  --shrink-time S   give the search S seconds (default 120)\n"
		"  --replay FILE     run the ops of a log (as printed on failure) instead\n"
		"  --step-timeout S  a step taking longer fails the run (default 60, 0 off)\n"
		"  --skip OP[,OP]    generate no such ops (forced size control still\n"
		"                    truncates); OP is a name of the log, e.g. seek\n"
		"  --no-views        no reads or writes through F@@/rw and F@@/ro views\n"
		"  --no-snapshots    no snapshot or private view (cow) operations\n"
		"                    (both are on by default; MOUNTDIR must be a mapfs mount)\n"
		"  --avoid-orphan-bugs  generate no removal of a file with snapshots where an\n"
		"                    earlier removed file keeps some, nor a deletion of a\n"
		"                    replaced file's snapshot while its name is taken\n"
		"  --tree-root DIR   the mount's root (MOUNTDIR or above it): also take and\n"
		"                    delete tree snapshots (DIR/.snapshots/tID), checked\n"
		"                    after every step against copies of the plain tree\n",
		MAX_FILES);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = g_ascii_strtoull(s, &end, 0);
	return !errno && end != s && !*end;
}

/* --skip NAME[,NAME...]: generate no ops of these kinds */
static bool skip_ops(struct ctx *c, const char *list)
{
	g_auto(GStrv) names = g_strsplit(list, ",", -1);
	int i, k;

	for (i = 0; names[i]; i++) {
		for (k = 0; k < OP__COUNT && strcmp(names[i], op_table[k].name); k++)
			;
		if (k == OP__COUNT) {
			fprintf(stderr, "difftest: --skip: no operation '%s'\n", names[i]);
			return false;
		}
		c->weight[k] = 0;
	}
	return true;
}

static GArray *read_replay(const char *file, int nfiles)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) err = g_string_new(NULL);
	g_auto(GStrv) lines = NULL;
	GArray *ops;
	int i;

	if (!g_file_get_contents(file, &text, NULL, &error)) {
		fprintf(stderr, "difftest: %s\n", error->message);
		return NULL;
	}
	ops = g_array_new(false, false, sizeof(struct op));
	lines = g_strsplit(text, "\n", -1);
	for (i = 0; lines[i]; i++) {
		struct op o;

		g_string_truncate(err, 0);
		if (parse_op(lines[i], nfiles, &o, err))
			g_array_append_val(ops, o);
		else if (err->len) {
			fprintf(stderr, "difftest: %s:%d: %s\n", file, i + 1, err->str);
			g_array_free(ops, true);
			return NULL;
		}
	}
	return ops;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "files", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "thorough", no_argument, NULL, 't' },
		{ "shrink", no_argument, NULL, 'S' },
		{ "shrink-time", required_argument, NULL, 'T' },
		{ "replay", required_argument, NULL, 'r' },
		{ "step-timeout", required_argument, NULL, 'a' },
		{ "skip", required_argument, NULL, 'k' },
		{ "no-views", no_argument, NULL, 'V' },
		{ "no-snapshots", no_argument, NULL, 'N' },
		{ "avoid-orphan-bugs", no_argument, NULL, 'O' },
		{ "tree-root", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seed = 1, nops = 2000, v, i;
	unsigned total = 0;
	unsigned step_timeout = 60, shrink_time = 120;
	const char *replay = NULL, *base[NTREES];
	bool do_shrink = false;
	struct ctx c = { .nfiles = 4, .views = true, .snapshots = true };
	struct sigaction sa;
	GArray *ops;
	int64_t failed;
	int opt, t, rc;

	for (t = 0; t < OP__COUNT; t++)
		c.weight[t] = op_table[t].weight;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (!parse_u64(optarg, &seed))
				goto bad;
			break;
		case 'n':
			if (!parse_u64(optarg, &nops))
				goto bad;
			break;
		case 'f':
			if (!parse_u64(optarg, &v) || v < 1 || v > MAX_FILES)
				goto bad;
			c.nfiles = (int)v;
			break;
		case 'v':
			c.verbose = true;
			break;
		case 't':
			c.thorough = true;
			break;
		case 'S':
			do_shrink = true;
			break;
		case 'T':
			if (!parse_u64(optarg, &v) || v > 86400)
				goto bad;
			shrink_time = (unsigned)v;
			break;
		case 'r':
			replay = optarg;
			break;
		case 'a':
			if (!parse_u64(optarg, &v) || v > 86400)
				goto bad;
			step_timeout = (unsigned)v;
			break;
		case 'k':
			if (!skip_ops(&c, optarg))
				goto bad;
			break;
		case 'V':
			c.views = false;
			break;
		case 'N':
			c.snapshots = false;
			break;
		case 'O':
			c.avoid_orphan_bugs = true;
			break;
		case 'R':
			c.tree_root = g_strdup(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!c.snapshots)
		for (t = OP_SNAP; t <= OP_COWDISCARD; t++)
			c.weight[t] = 0;
	if (!c.tree_root)
		c.weight[OP_TREESNAP] = c.weight[OP_TREEDEL] = 0;
	for (t = 0; t < OP__COUNT; t++)
		total += c.weight[t];
	if (argc - optind != 2 || !total) {
		usage(stderr);
		return 2;
	}
	base[T_MNT] = argv[optind];
	base[T_PLAIN] = argv[optind + 1];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	sa.sa_handler = on_timeout;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	c.pagesize = sysconf(_SC_PAGESIZE);
	c.why = g_string_new(NULL);
	for (t = 0; t < NTREES; t++) {
		c.buf[t] = g_malloc(MAX(CHUNK, MAX_IO));
		c.t[t].root = g_strdup(base[t]);
		for (i = 0; i < MAX_FILES; i++)
			c.t[t].s[i].fd = -1;
	}
	c.data = g_malloc(MAX_IO);
	c.snaps = g_ptr_array_new_with_free_func(msnap_free);
	c.cows = g_ptr_array_new_with_free_func(mcow_free);
	c.trees = g_ptr_array_new_with_free_func(mtree_free);

	if (replay) {
		ops = read_replay(replay, c.nfiles);
		if (!ops)
			return 2;
		nops = ops->len;
	} else {
		ops = g_array_sized_new(false, true, sizeof(struct op), (guint)nops);
		g_array_set_size(ops, (guint)nops);
		sig_seed = seed;
		sig_have_seed = 1;
	}
	if (!trees_setup(&c))
		return 2;

	c.rng = seed;
	failed = run_ops(&c, (struct op *)ops->data, nops, step_timeout, !replay, true);
	trees_teardown(&c, false);

	if (failed < 0) {
		if (replay)
			printf("difftest: replay %s ops %" PRIu64 ": %" PRIu64 " passed, 0 failed\n",
			       replay, nops, nops);
		else
			printf("difftest: seed %" PRIu64 " ops %" PRIu64 ": %" PRIu64 " passed, 0 failed\n",
			       seed, nops, nops);
		rc = 0;
		goto out;
	}

	if (replay)
		fprintf(stderr, "difftest: MISMATCH replaying %s at step %" PRId64 ": %s\n", replay,
			failed, c.why->str);
	else
		fprintf(stderr, "difftest: MISMATCH seed %" PRIu64 " at step %" PRId64 ": %s\n", seed,
			failed, c.why->str);
	if (replay)
		fprintf(stderr, "operation log (%d files):\n", c.nfiles);
	else
		fprintf(stderr, "operation log (seed %" PRIu64 ", %d files):\n", seed, c.nfiles);
	print_log(stderr, (struct op *)ops->data, (uint64_t)failed + 1, (uint64_t)failed);
	if (!replay)
		fprintf(stderr, "reproduce: difftest --seed %" PRIu64 " --ops %" PRId64 " --files %d MOUNTDIR PLAINDIR\n",
			seed, failed + 1, c.nfiles);

	if (do_shrink) {
		GArray *small;

		fprintf(stderr, "difftest: shrinking the %" PRId64 " ops (up to %u s)...\n",
			failed + 1, shrink_time);
		small = shrink(&c, (struct op *)ops->data, (uint64_t)failed + 1, step_timeout, base,
			       shrink_time);
		if (small) {
			fprintf(stderr, "difftest: shrunk to %u ops: %s\n", small->len, c.why->str);
			fprintf(stderr, "shrunk operation log (--files %d; replay with --replay FILE):\n",
				c.nfiles);
			print_log(stderr, (struct op *)small->data, small->len, small->len - 1);
			g_array_free(small, true);
		}
	}
	if (replay)
		printf("difftest: replay %s ops %" PRIu64 ": %" PRId64 " passed, 1 failed\n", replay,
		       nops, failed);
	else
		printf("difftest: seed %" PRIu64 " ops %" PRIu64 ": %" PRId64 " passed, 1 failed\n",
		       seed, nops, failed);
	rc = 1;
out:
	g_array_free(ops, true);
	for (t = 0; t < NTREES; t++) {
		g_free(c.buf[t]);
		g_free(c.t[t].root);
	}
	g_free(c.data);
	g_ptr_array_free(c.snaps, true);
	g_ptr_array_free(c.cows, true);
	g_ptr_array_free(c.trees, true);
	g_free(c.tree_root);
	g_string_free(c.why, true);
	return rc;
bad:
	fprintf(stderr, "difftest: bad value: %s\n", optarg);
	usage(stderr);
	return 2;
}
