/*
 * mf-append PATH NPROC NREC RECSIZE — concurrent O_APPEND writers.
 *
 * NPROC processes each open PATH with O_APPEND and write NREC records of
 * RECSIZE bytes, one write(2) per record, all at the same time.  Then, right
 * after the last writer exits, the file must be exactly NPROC*NREC*RECSIZE
 * bytes (by fstat and by stat), and hold every record once, whole, and each
 * writer's records in the order it wrote them.
 *
 * A record is "PPPP:IIIIII:" followed by a letter of the writer repeated,
 * and a newline.  Prints "SIZE" and exits 0 when all holds; exits 1 with a
 * message otherwise; 2 on a setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void make_record(char *r, int recsize, int p, int i)
{
	int n = snprintf(r, recsize, "%04d:%06d:", p, i);

	memset(r + n, 'a' + p % 26, recsize - n - 1);
	r[recsize - 1] = '\n';
}

static int writer(const char *path, int p, int nrec, int recsize)
{
	char *r = malloc(recsize);
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0) {
		perror("mf-append: open O_APPEND");
		return 2;
	}
	for (int i = 0; i < nrec; i++) {
		ssize_t n;

		make_record(r, recsize, p, i);
		n = write(fd, r, recsize);
		if (n != recsize) {
			fprintf(stderr, "mf-append: writer %d record %d: write returned %zd (%s)\n", p,
				i, n, n < 0 ? strerror(errno) : "short");
			return 1;
		}
	}
	if (close(fd) < 0) {
		perror("mf-append: close");
		return 1;
	}
	free(r);
	return 0;
}

int main(int argc, char **argv)
{
	int nproc, nrec, recsize, fd, failed = 0, *next;
	long long want, total = 0;
	struct stat st, st2;
	char *data, *want_rec;

	if (argc != 5) {
		fprintf(stderr, "usage: mf-append PATH NPROC NREC RECSIZE\n");
		return 2;
	}
	nproc = atoi(argv[2]);
	nrec = atoi(argv[3]);
	recsize = atoi(argv[4]);
	if (nproc < 1 || nproc > 9999 || nrec < 1 || recsize < 16)
		return 2;
	want = (long long)nproc * nrec * recsize;

	for (int p = 0; p < nproc; p++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("mf-append: fork");
			return 2;
		}
		if (pid == 0)
			_exit(writer(argv[1], p, nrec, recsize));
	}
	for (int p = 0; p < nproc; p++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed) {
		fprintf(stderr, "mf-append: a writer failed\n");
		return 1;
	}

	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || stat(argv[1], &st2) < 0) {
		perror("mf-append: stat");
		return 2;
	}
	if (st.st_size != want || st2.st_size != want) {
		fprintf(stderr,
			"mf-append: size right after the appends is %lld (fstat) / %lld (stat), "
			"expected %lld\n",
			(long long)st.st_size, (long long)st2.st_size, want);
		return 1;
	}
	data = malloc(want);
	while (total < want) {
		ssize_t n = read(fd, data + total, want - total);

		if (n <= 0) {
			fprintf(stderr, "mf-append: reading back stopped at %lld of %lld\n", total,
				want);
			return 1;
		}
		total += n;
	}
	next = calloc(nproc, sizeof(int));
	want_rec = malloc(recsize);
	for (long long off = 0; off < want; off += recsize) {
		const char *r = data + off;
		int p = atoi(r);

		if (p < 0 || p >= nproc || next[p] >= nrec) {
			fprintf(stderr, "mf-append: garbage record at offset %lld: %.20s\n", off, r);
			return 1;
		}
		make_record(want_rec, recsize, p, next[p]);
		if (memcmp(r, want_rec, recsize) != 0) {
			fprintf(stderr,
				"mf-append: record at offset %lld is not writer %d's record %d: %.20s\n",
				off, p, next[p], r);
			return 1;
		}
		next[p]++;
	}
	free(want_rec);
	free(next);
	free(data);
	close(fd);
	printf("%lld\n", want);
	return 0;
}
