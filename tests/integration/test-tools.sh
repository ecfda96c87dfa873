#!/bin/bash
# Ordinary tools give the same results in the mount as on a plain directory:
# the same scenario (cp, mv, ln, touch, truncate, sort -o, tar, git, make,
# sqlite3, chmod, chown) runs once in a plain directory beside the backing
# dir and once in the mount; each run is checked on its own, then the two
# trees must match in names, types, modes, owners, link counts, sizes,
# symlink targets and bytes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
REF=$(mf_dir reference)
RAND="$MF_T/rand"
head -c 300000 /dev/urandom >"$RAND"

export HOME="$MF_T/home" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=mapfs GIT_AUTHOR_EMAIL=mapfs@example.org
export GIT_COMMITTER_NAME=mapfs GIT_COMMITTER_EMAIL=mapfs@example.org
export GIT_AUTHOR_DATE='2020-01-02T03:04:05Z' GIT_COMMITTER_DATE='2020-01-02T03:04:05Z'
mkdir -p "$HOME"

# at DIR WHAT 'SHELL CODE' ARGS...: one step of the scenario, run in DIR.
at() {
	local d=$1 what=$2 code=$3
	shift 3
	sx "cd \"\$1\" && shift && { $code
}" "$d" "$@" >"$MF_T/at.out" 2>&1 ||
		fail "$what, in $d: $(tail -n 20 "$MF_T/at.out")"
}

scenario() { # DIR
	local d=$1
	check "[$d] cp, mv, ln, ln -s"
	at "$d" "create files" 'mkdir -p src/sub && printf "hello\n" > src/a.txt && cp "$1" src/sub/r.bin' "$RAND"
	at "$d" "cp" 'cp src/a.txt copy.txt && cp -r src cp-tree && cp --reflink=never src/sub/r.bin r2.bin &&
		cmp r2.bin src/sub/r.bin && cmp cp-tree/sub/r.bin src/sub/r.bin'
	at "$d" "mv" 'mv copy.txt moved.txt && mv cp-tree tree2 && mkdir dir3 && mv tree2/sub dir3/ &&
		test ! -e copy.txt && test ! -e tree2/sub && cmp dir3/sub/r.bin src/sub/r.bin'
	at "$d" "ln and ln -s" 'ln moved.txt hard.txt && ln -s moved.txt sym.txt && ln -s ../src dir3/srclink &&
		test "$(cat sym.txt)" = hello && test "$(readlink sym.txt)" = moved.txt &&
		test "$(cat dir3/srclink/a.txt)" = hello && test "$(stat -c %h moved.txt)" = 2 &&
		test "$(stat -c %i moved.txt)" = "$(stat -c %i hard.txt)"'

	check "[$d] cp -a and rsync -a keep times to the nanosecond; du agrees"
	at "$d" "cp -a" 'touch -d @1118131750.123456789 src/a.txt && cp -a src kept &&
		test "$(stat -c %.9Y src/a.txt)" = "$(stat -c %.9Y kept/a.txt)" &&
		test "$(stat -c %.9Y src/a.txt)" = 1118131750.123456789'
	if command -v rsync >/dev/null; then
		at "$d" "rsync -a" 'rsync -a src/ synced/ && test -z "$(rsync -ai --dry-run src/ synced/)" &&
			cmp synced/sub/r.bin src/sub/r.bin'
	fi
	at "$d" "du" 'truncate -s 50M sparse.bin && printf x >> sparse.bin && test "$(du -k sparse.bin | cut -f1)" -lt 100 &&
		test "$(du -k --apparent-size sparse.bin | cut -f1)" = 51201'

	check "[$d] flock excludes another process"
	at "$d" "flock" 'flock -n lockfile true && { flock lockfile sleep 1 & } && sleep 0.3 &&
		! flock -n lockfile true && wait && flock -n lockfile true'

	check "[$d] touch, truncate, sort -o"
	at "$d" "touch" 'touch new-empty && test -f new-empty && test ! -s new-empty'
	at "$d" "truncate" 'truncate -s 100000 grown.bin && test "$(stat -c %s grown.bin)" = 100000 &&
		cmp -n 100000 grown.bin /dev/zero &&
		cp r2.bin shrunk.bin && truncate -s 1234 shrunk.bin && truncate -s 5000 shrunk.bin &&
		test "$(stat -c %s shrunk.bin)" = 5000 && cmp -n 1234 shrunk.bin r2.bin &&
		cmp -i 1234:0 -n 3766 shrunk.bin /dev/zero'
	at "$d" "sort -o" 'printf "3\nb\n1\na\n2\n" > nums && sort -o nums nums && test "$(cat nums | tr "\n" " ")" = "1 2 3 a b "'

	check "[$d] tar create and extract"
	at "$d" "tar" 'tar -cf t.tar src dir3 moved.txt sym.txt && mkdir x && tar -xf t.tar -C x &&
		diff -r src x/src && diff -r --no-dereference dir3 x/dir3 && cmp moved.txt x/moved.txt &&
		test "$(readlink x/sym.txt)" = moved.txt && test "$(tar -tf t.tar | wc -l)" -ge 8'

	check "[$d] git init, add, commit, gc, fsck"
	at "$d" "git" 'mkdir repo && cd repo && git init -q -b main && cp -r ../src . &&
		git add -A && git commit -q -m first && echo more >> src/a.txt && git commit -q -am second &&
		test -z "$(git status --porcelain)" && git gc -q && git fsck --strict --no-progress &&
		git log --format="%H %s" > ../git-log && test "$(wc -l < ../git-log)" = 2 &&
		git show HEAD:src/a.txt > ../git-show && git checkout -q HEAD~1 -- src/a.txt &&
		test "$(cat src/a.txt)" = hello'

	check "[$d] make builds, is up to date, rebuilds after touching a source"
	at "$d" "write the project" 'mkdir proj && cd proj &&
		printf "prog: main.o util.o\n\t\$(CC) -o \$@ main.o util.o\n%%.o: %%.c\n\t\$(CC) -c -o \$@ \$<\n" > Makefile &&
		printf "#include <stdio.h>\nint util(void);\nint main(void) { printf(\"%%d\\\\n\", util()); return 0; }\n" > main.c &&
		printf "int util(void) { return 42; }\n" > util.c'
	at "$d" "make" 'cd proj && make CC=cc > ../make1 2>&1 && test "$(./prog)" = 42'
	at "$d" "make again" 'cd proj && make CC=cc > ../make2 2>&1'
	out=$(s cat "$d/make2")
	grep -q "up to date\|Nothing to be done" <<<"$out" || fail "[$d] a second make rebuilt something: $out"
	sleep 0.1
	at "$d" "touch util.c; make" 'cd proj && touch util.c && make CC=cc > ../make3 2>&1 && test "$(./prog)" = 42'
	out=$(s cat "$d/make3")
	grep -q "util.c" <<<"$out" || fail "[$d] make did not rebuild util.o after touch util.c: $out"
	! grep -q "main.c" <<<"$out" || fail "[$d] make rebuilt main.o though main.c did not change: $out"
	grep -q -- "-o prog" <<<"$out" || fail "[$d] make did not relink prog after touch util.c: $out"

	check "[$d] sqlite3: 1000 rows in a transaction, rollback journal and WAL"
	local sql='create table t(id integer primary key, x integer, s text);
		begin;
		with recursive c(i) as (select 1 union all select i + 1 from c where i < 1000)
			insert into t(x, s) select i, printf("row %d", i) from c;
		commit;'
	at "$d" "sqlite3 (journal)" 'sqlite3 db.sqlite "$1" &&
		test "$(sqlite3 db.sqlite "select count(*), sum(x) from t; pragma integrity_check;" | tr "\n" " ")" = "1000|500500 ok " &&
		sqlite3 db.sqlite "begin; delete from t where x % 2 = 0; rollback;" &&
		test "$(sqlite3 db.sqlite "select count(*) from t;")" = 1000' "$sql"
	at "$d" "sqlite3 (WAL)" 'test "$(sqlite3 wal.sqlite "pragma journal_mode=wal;")" = wal &&
		sqlite3 wal.sqlite "$1" &&
		test "$(sqlite3 wal.sqlite "select count(*), sum(x) from t; pragma integrity_check;" | tr "\n" " ")" = "1000|500500 ok "' "$sql"
	at "$d" "sqlite3 dump" 'sqlite3 db.sqlite .dump > db.dump && sqlite3 wal.sqlite .dump > wal.dump && cmp db.dump wal.dump'

	check "[$d] chmod, chown"
	at "$d" "chmod" 'chmod 640 moved.txt && chmod 700 dir3 && chmod u+s,g+s grown.bin &&
		test "$(stat -c %a moved.txt)" = 640 && test "$(stat -c %a dir3)" = 700 && test "$(stat -c %a grown.bin)" = 6644'
	at "$d" "chown" 'chown 65534:65534 new-empty && chown :65534 nums && chown 65534 hard.txt &&
		test "$(stat -c %u:%g new-empty)" = 65534:65534 && test "$(stat -c %u:%g nums)" = 0:65534 &&
		test "$(stat -c %u moved.txt)" = 65534'
}

# The tree as a user sees it, without times and without git's index (which
# holds inode numbers and times).  Directory sizes are left out too, and the
# top directory itself (its link count counts the hidden state directory).
manifest() { # DIR
	local d=$1
	{
		s find "$d" -mindepth 1 -path "$d/.mapfs" -prune -o -type d -printf 'd %m %U:%G %n %P\n'
		s find "$d" -mindepth 1 -path "$d/.mapfs" -prune -o ! -type d -printf '%y %m %U:%G %n %s %P -> %l\n'
		sx 'cd "$1" && find . -path ./.mapfs -prune -o -type f ! -path ./repo/.git/index \
			! -name t.tar -exec sha256sum {} +' "$d"
	} | sort
}

mf_mount "$B" "$M"
scenario "$REF"
scenario "$M"

check "the mount and the plain directory give the same results"
for f in git-log git-show make1 make3 db.dump; do
	s cmp -s "$REF/$f" "$M/$f" || fail "$f differs: plain dir: $(cat "$REF/$f"); mount: $(s cat "$M/$f")"
done
manifest "$REF" >"$MF_T/manifest.ref"
manifest "$M" >"$MF_T/manifest.mnt"
diff -u "$MF_T/manifest.ref" "$MF_T/manifest.mnt" >"$MF_T/manifest.diff" ||
	fail "the trees differ (- plain dir, + mount):
$(head -n 40 "$MF_T/manifest.diff")"

check "the mount shows exactly the backing tree"
s diff -r --no-dereference -x .mapfs "$M" "$B" >"$MF_T/diff.out" 2>&1 ||
	fail "the mount and its backing dir differ: $(head -n 20 "$MF_T/diff.out")"

# The kernel keeps listings from one opendir to the next (cache_readdir,
# keep_cache): changes through the mount and behind it must both show.
check "listings kept by the kernel follow changes through the mount and behind it"
s mkdir "$M/listed"
for i in 1 2 3; do s touch "$M/listed/f$i"; done
lsm() { s ls -1 "$M/listed" | tr '\n' ' '; }
expect_eq "$(lsm)" "f1 f2 f3 " "the first listing"
expect_eq "$(lsm)" "f1 f2 f3 " "the listing again"
s rm "$M/listed/f2"
s touch "$M/listed/f4"
expect_eq "$(lsm)" "f1 f3 f4 " "the listing after rm and touch through the mount"
expect_eq "$(lsm)" "f1 f3 f4 " "the listing again, from the kernel's cache"
touch "$B/listed/f5"
expect_eq "$(lsm)" "f1 f3 f4 f5 " "the listing after a file was made behind the mount"
expect_eq "$(lsm)" "f1 f3 f4 f5 " "the listing again"
rm "$B/listed/f1"
mv "$B/listed/f3" "$B/listed/f6"
expect_eq "$(lsm)" "f4 f5 f6 " "the listing after rm and mv behind the mount"
s rm -r "$M/listed"
mf_umount "$M"

check "after unmounting, the backing dir holds the same tree"
manifest "$B" >"$MF_T/manifest.backing"
diff -u "$MF_T/manifest.ref" "$MF_T/manifest.backing" >"$MF_T/manifest.diff" ||
	fail "the backing tree differs from the plain dir (- plain, + backing):
$(head -n 40 "$MF_T/manifest.diff")"

echo "PASS"
