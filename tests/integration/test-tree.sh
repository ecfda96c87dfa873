#!/bin/bash
# Whole-tree snapshots (issue 12): MOUNT/.snapshots/NAME through ordinary
# tools.
#
#   * mkdir .snapshots/NAME takes one; then the live tree is changed by
#     several processes at once with ordinary tools (echo >>, dd
#     conv=notrunc, truncate, rm, mv of a file and of a directory, ln,
#     ln -s, chmod, touch -d, setfattr, mkdir, rmdir); each snapshot
#     still shows the tree as it was: diff -r against a cp -a copy made
#     when it was taken, and per object stat (size, mode, owner, mtime,
#     links, inode number: hard links are one inode), xattrs and symlink
#     targets, against a record of the live tree at that moment;
#   * several snapshots each see their own tree; rmdir of the middle one
#     leaves the others intact; mv .snapshots/A .snapshots/B renames;
#   * every change inside a snapshot is refused with EROFS, bad names and
#     moves into or out of .snapshots with their errno, and none of them
#     changes a byte;
#   * user.mapfs.diff says what changed, since a snapshot or between
#     two, in parts past 64 KiB (more N, user.mapfs.diff@N);
#   * writes through an rw view, a private view's commit and a file's
#     rollback leave them unchanged too;
#   * SIGKILL of the daemon, then a remount: every snapshot unchanged;
#   * tar c and rsync -a (cp -a without rsync) of a snapshot work;
#   * a second ls -lR of a snapshot is answered from the kernel's caches.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
C=$(mf_dir copies)
S=$M/.snapshots

# What a user sees of every object under DIR (the root itself left out):
# stat (mtime in seconds), symlink targets, user xattrs. Inode numbers are
# shown as the first path that has them: hard links name the same one, and
# nothing else does (a snapshot's numbers are its own, not the live
# tree's).
manifest() { # DIR
	(cd "$1" && s find . -mindepth 1 -printf '%p %s %m %U %G %T@ %n %i %y %l\n') |
		LC_ALL=C sort |
		awk '{ split($6, t, "."); $6 = t[1]
		       if (!($8 in first)) first[$8] = $1
		       $8 = "ino:" first[$8]; print }'
	(cd "$1" && s getfattr -R -h -d -m '^user\.' . 2>/dev/null || true) |
		awk '/^# file: / { f = substr($0, 9); next } NF { print f, $0 }' |
		LC_ALL=C sort
}

# Take snapshot NAME and record the live tree as it is: a cp -a copy and
# its manifest. Nothing changes the tree meanwhile.
take() { # NAME
	s mkdir "$S/$1" || fail "mkdir $S/$1 failed"
	s cp -a "$M/." "$C/$1" || fail "cp -a of the live tree failed"
	manifest "$M" >"$C/$1.manifest" || fail "manifest of the live tree failed"
}

# Snapshot NAME still shows the tree as it was when taken.
same() { # NAME [AS]: AS, the name it has now
	local now=${2:-$1}
	s diff -r --no-dereference -x fifo "$C/$1" "$S/$now" >"$MF_T/diff.out" 2>&1 ||
		fail "snapshot $now differs from the copy taken with it: $(head -20 "$MF_T/diff.out")"
	manifest "$S/$now" >"$MF_T/now.manifest" || fail "manifest of $S/$now failed"
	diff "$C/$1.manifest" "$MF_T/now.manifest" >"$MF_T/diff.out" ||
		fail "snapshot $now: attributes differ from the tree when taken: $(head -20 "$MF_T/diff.out")"
}

# ------------------------------------------------------------------ setup
mkdir -p "$B/d/e" "$B/moved/sub" "$B/empty"
printf 'alpha\n' >"$B/a.txt"
head -c 300000 /dev/urandom >"$B/big.bin"
head -c 70000 /dev/urandom >"$B/cut.bin"
printf 'going\n' >"$B/d/e/f"
printf 'x\n' >"$B/x"
printf 'late\n' >"$B/late"
head -c 20000 /dev/urandom >"$B/held.bin"
printf 'deep\n' >"$B/moved/sub/g"
ln "$B/a.txt" "$B/d/hard"
ln -s a.txt "$B/sym"
mkfifo "$B/fifo"
truncate -s 8M "$B/sparse"
printf 'mid' | dd of="$B/sparse" bs=1 seek=4194304 conv=notrunc status=none
setfattr -n user.color -v blue "$B/a.txt"
setfattr -n user.gone -v soon "$B/d"
chmod 640 "$B/d/e/f"
touch -d @1000000000 "$B/x"

mf_mount "$B" "$M"

check "the namespace: .snapshots is hidden, reachable, and empty"
s ls -a "$M" >"$MF_T/ls" || fail "ls -a $M failed"
! grep -qx .snapshots "$MF_T/ls" || fail ".snapshots listed in the root without views=visible"
s test -d "$S" || fail "$S is not a directory"
expect_eq "$(s ls -A "$S")" "" "a fresh .snapshots lists"

check "taking a snapshot"
# Open before the snapshot, written through after it.
exec 7<>"$M/held.bin"
before=$(date +%s)
take one
after=$(date +%s)
expect_eq "$(s stat -c '%A' "$S/one")" "dr-xr-xr-x" "ls -l of a snapshot"
t=$(s stat -c '%Y' "$S/one")
[ "$t" -ge "$before" ] && [ "$t" -le "$after" ] ||
	fail "snapshot's mtime $t is not when it was taken ($before..$after)"
expect_eq "$(s ls "$S")" "one" "ls .snapshots"
same one

# Round N of changes, from several processes at once.
round1() {
	local pids=() rc=0 p
	sx 'echo more >>"$1/a.txt"' "$M" & pids+=($!)
	sx 'printf ZZZZ | dd of="$1/big.bin" bs=1 seek=100000 conv=notrunc status=none' "$M" & pids+=($!)
	sx 'truncate -s 1000 "$1/cut.bin"' "$M" & pids+=($!)
	sx 'rm "$1/d/e/f"' "$M" & pids+=($!)
	sx 'mv "$1/x" "$1/y"' "$M" & pids+=($!)
	sx 'mv "$1/moved" "$1/moved2"' "$M" & pids+=($!)
	sx 'ln "$1/a.txt" "$1/link2"' "$M" & pids+=($!)
	sx 'ln -s nowhere "$1/sym2"' "$M" & pids+=($!)
	# Its attributes first, while nothing has it open; then its bytes.
	sx 'chmod 604 "$1/late" && echo more >>"$1/late"' "$M" & pids+=($!)
	printf 'OVERWRITTEN' >&7
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" -eq 0 ] || fail "a change of round 1 failed"
}
round2() {
	local pids=() rc=0 p
	sx 'chmod 600 "$1/a.txt"' "$M" & pids+=($!)
	sx 'touch -d @1500000000 "$1/y"' "$M" & pids+=($!)
	sx 'setfattr -n user.color -v red "$1/a.txt"' "$M" & pids+=($!)
	sx 'setfattr -x user.gone "$1/d"' "$M" & pids+=($!)
	sx 'mkdir "$1/newdir" && echo n >"$1/newdir/n"' "$M" & pids+=($!)
	sx 'rmdir "$1/empty"' "$M" & pids+=($!)
	sx 'printf W | dd of="$1/sparse" bs=1 seek=1000 conv=notrunc status=none' "$M" & pids+=($!)
	sx 'echo new >"$1/moved2/sub/g"' "$M" & pids+=($!)
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" -eq 0 ] || fail "a change of round 2 failed"
}
round3() {
	local pids=() rc=0 p
	sx 'rm "$1/link2" "$1/sym"' "$M" & pids+=($!)
	sx 'mv "$1/newdir" "$1/d/e/"' "$M" & pids+=($!)
	sx 'echo tail >>"$1/big.bin"' "$M" & pids+=($!)
	sx 'truncate -s 0 "$1/d/hard"' "$M" & pids+=($!)
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" -eq 0 ] || fail "a change of round 3 failed"
}

check "changes by several processes; each snapshot sees its own tree"
round1
exec 7>&-
same one
take two
round2
same one
same two
take three
round3
same one
same two
same three

check "what changed: user.mapfs.diff"
s getfattr --only-values -n user.mapfs.diff "$S/three" >"$MF_T/d3" ||
	fail "getfattr user.mapfs.diff failed"
grep -qx -- '- f link2' "$MF_T/d3" || fail "diff of three lacks '- f link2': $(cat "$MF_T/d3")"
grep -qx -- '- l sym' "$MF_T/d3" || fail "diff of three lacks '- l sym': $(cat "$MF_T/d3")"
grep -qxP -- '> d newdir\td/e/newdir' "$MF_T/d3" ||
	fail "diff of three lacks the rename of newdir: $(cat "$MF_T/d3")"
grep -qP -- '^M f big.bin\t' "$MF_T/d3" || fail "diff of three lacks big.bin's bytes: $(cat "$MF_T/d3")"
s getfattr --only-values -n user.mapfs.diff.three "$S/two" >"$MF_T/d23" ||
	fail "getfattr user.mapfs.diff.three failed"
grep -qx -- '+ d newdir' "$MF_T/d23" || fail "diff two..three lacks '+ d newdir': $(cat "$MF_T/d23")"
grep -qx -- '- d empty' "$MF_T/d23" || fail "diff two..three lacks '- d empty': $(cat "$MF_T/d23")"
! grep -q '^- f link2' "$MF_T/d23" || fail "diff two..three shows link2 removed, later: $(cat "$MF_T/d23")"
grep -qx 'M f link2' "$MF_T/d23" || fail "diff two..three lacks link2's chmod (a link of a.txt): $(cat "$MF_T/d23")"
n=$(wc -l <"$MF_T/d23")
expect_eq "$(s getfattr --only-values -n "user.mapfs.diff.three@1" "$S/two" | wc -l)" "$((n - 1))" \
	"lines of user.mapfs.diff.three@1"
expect_err "No such attribute" getfattr -n user.mapfs.diff.nosuch "$S/two"

check "refused changes: errno, and not a byte changed"
for name in one two three; do md5sum "$S/$name/a.txt" >>"$MF_T/sums"; done
expect_err "Read-only file system" sh -c "echo x >'$S/one/a.txt'"
expect_err "Read-only file system" sh -c "echo x >>'$S/one/a.txt'"
expect_ops EROFS open "$S/one/a.txt" wronly
expect_ops EROFS open "$S/one/a.txt" rdwr
expect_ops EROFS open "$S/one/a.txt" rdonly,trunc
expect_ops EROFS open "$S/one/new" wronly,creat 0644
expect_err "Read-only file system" truncate -s 0 "$S/one/a.txt"
expect_err "Read-only file system" mkdir "$S/one/nd"
expect_err "Read-only file system" mkdir -p "$S/one/p/q"
expect_err "Read-only file system" rm "$S/one/a.txt"
expect_err "Read-only file system" rmdir "$S/one/d"
expect_err "Read-only file system" rmdir "$S/one/empty"
expect_err "Read-only file system" mv "$S/one/a.txt" "$S/one/b.txt"
expect_err "Read-only file system" mv "$M/y" "$S/one/y2"
expect_err "Read-only file system" ln "$M/a.txt" "$S/one/l"
expect_err "Read-only file system" ln "$S/one/a.txt" "$M/l"
expect_err "Read-only file system" ln -s t "$S/one/s"
expect_err "Read-only file system" chmod 777 "$S/one/a.txt"
expect_err "Read-only file system" touch -d @2 "$S/one/a.txt"
expect_err "Read-only file system" setfattr -n user.k -v v "$S/one/a.txt"
expect_err "Read-only file system" setfattr -x user.color "$S/one/a.txt"
expect_err "Read-only file system" mkfifo "$S/one/ff"
expect_ops EROFS rename "$S/one/d" "$S/one/d2" none
expect_err "Invalid argument" mkdir "$S/.hidden"
expect_err "Invalid argument" mkdir "$S/a:b"
expect_err "File name too long" mkdir "$S/$(printf 'n%.0s' {1..256})"
expect_err "File exists" mkdir "$S/one"
expect_err "Operation not permitted" mv "$S/one" "$M/out"
expect_err "Operation not permitted" mv "$M/d" "$S/in"
expect_err "Operation not permitted" touch "$S/file"
expect_err "Operation not permitted" ln -s t "$S/s"
expect_ops EINVAL rename "$S/one" "$S/.dot" none
expect_err "Operation not permitted" rmdir "$S"
expect_err "Operation not permitted" mv "$S" "$M/snaps"
expect_ops EEXIST rename "$S/one" "$S/two" noreplace
expect_err "Read-only file system" mv "$S/one" "$S/two"   # into two/one
rm -f "$MF_T/sums2"
for name in one two three; do md5sum "$S/$name/a.txt" >>"$MF_T/sums2"; done
diff "$MF_T/sums" "$MF_T/sums2" >/dev/null || fail "a refused change changed a snapshot"
expect_eq "$(s ls "$S" | tr '\n' ' ')" "one three two " "snapshots after the refusals"
same one
same two
same three

check "rmdir of the middle snapshot leaves the others intact"
s rmdir "$S/two" || fail "rmdir $S/two failed"
[ ! -e "$S/two" ] || fail "$S/two still there after rmdir"
expect_eq "$(s ls "$S" | tr '\n' ' ')" "one three " "snapshots after rmdir two"
same one
same three

check "tar c and rsync -a of a snapshot"
R=$(mf_dir restored)
s tar -C "$S/three" -cf "$MF_T/three.tar" . || fail "tar c of a snapshot failed"
s tar -C "$R" -xf "$MF_T/three.tar" || fail "tar x failed"
s diff -r --no-dereference -x fifo "$C/three" "$R" >/dev/null || fail "tar of three differs from its copy"
R2=$(mf_dir rsynced)
if command -v rsync >/dev/null; then
	s rsync -aHX "$S/three/" "$R2/" || fail "rsync -a of a snapshot failed"
else
	s cp -a "$S/three/." "$R2" || fail "cp -a of a snapshot failed"
fi
s diff -r --no-dereference -x fifo "$C/three" "$R2" >/dev/null || fail "rsync of three differs from its copy"
expect_eq "$(stat -c %h "$R2/a.txt")" "$(stat -c %h "$C/three/a.txt")" "hard links kept by rsync -H"
s find "$S/one" >/dev/null || fail "find in a snapshot failed"
s ls -lR "$S/one" >/dev/null || fail "ls -lR of a snapshot failed"

check "mv .snapshots/one .snapshots/first"
s mv "$S/one" "$S/first" || fail "mv of a snapshot failed"
[ ! -e "$S/one" ] || fail "$S/one still there after mv"
same one first

check "SIGKILL of the daemon, then a remount: every snapshot unchanged"
mf_kill9 "$M"
mf_mount "$B" "$M" -o views=visible
s ls -a "$M" >"$MF_T/ls" || fail "ls -a $M failed"
grep -qx .snapshots "$MF_T/ls" || fail ".snapshots not listed with views=visible"
expect_eq "$(s ls "$S" | tr '\n' ' ')" "first three " "snapshots after the remount"
same one first
same three
# Listed, they are no hard links of the live tree nor loops.
s find "$M" >/dev/null 2>"$MF_T/find.err" || fail "find of the mount with views=visible: $(cat "$MF_T/find.err")"
mf_umount "$M"
mf_mount "$B" "$M"
take four
s sh -c "echo after >>'$M/a.txt'" || fail "a write after the remount failed"
same four
same three

check "writes through a view, a private view's commit and a file's rollback are kept too"
s sh -c "printf 'v1\n' >'$M/vf'" || fail "creating vf failed"
s touch "$M/vf@@/snap/s1" || fail "a file snapshot of vf failed"
s sh -c "printf 'v2 longer\n' >'$M/vf'" || fail "rewriting vf failed"
s touch "$M/big.bin@@/cow/c" || fail "a private view of big.bin failed"
sx 'printf PRIVATE | dd of="$1/big.bin@@/cow/c" bs=1 seek=5000 conv=notrunc status=none' "$M" ||
	fail "writing the private view failed"
take five
sx 'printf RW | dd of="$1/a.txt@@/rw" bs=1 seek=1 conv=notrunc status=none' "$M" ||
	fail "a write through a.txt@@/rw failed"
s mv "$M/big.bin@@/cow/c" "$M/big.bin" || fail "committing the private view failed"
s mv "$M/vf@@/snap/s1" "$M/vf" || fail "rolling vf back failed"
expect_eq "$(cat "$M/vf")" "v1" "vf after its rollback"
same five
same four

check "a diff past 64 KiB comes in parts: more N, then user.mapfs.diff@N"
s mkdir "$M/many" || fail "mkdir many failed"
(cd "$M/many" && seq -f "file-with-a-long-name-to-fill-the-diff-%040g" 1 1200 | s xargs touch) ||
	fail "creating 1200 files failed"
s getfattr --only-values -n user.mapfs.diff "$S/four" >"$MF_T/p1" || fail "getfattr user.mapfs.diff (part 1) failed"
last=$(tail -n 1 "$MF_T/p1")
[[ "$last" =~ ^more\ ([0-9]+)$ ]] || fail "a diff of $(wc -c <"$MF_T/p1") bytes does not end with 'more N': $last"
n=${BASH_REMATCH[1]}
expect_eq "$(($(wc -l <"$MF_T/p1") - 1))" "$n" "lines before 'more N'"
[ "$(wc -c <"$MF_T/p1")" -le 65536 ] || fail "part 1 of the diff passes 64 KiB"
s getfattr --only-values -n "user.mapfs.diff@$n" "$S/four" >"$MF_T/p2" || fail "getfattr user.mapfs.diff@$n failed"
! grep -q '^more ' "$MF_T/p2" || fail "part 2 of the diff asks for more"
(head -n -1 "$MF_T/p1"; cat "$MF_T/p2") >"$MF_T/all"
expect_eq "$(grep -c '^+ f many/file-with' "$MF_T/all")" 1200 "created files in the diff's parts"
expect_eq "$(sort "$MF_T/all" | uniq -d | wc -l)" 0 "lines in both parts of the diff"
grep -qx '+ d many' "$MF_T/all" || fail "the diff's parts lack '+ d many'"
grep -q '^M f a.txt' "$MF_T/all" || fail "the diff's parts lack a.txt's change"

check "a second ls -lR of a snapshot is answered by the kernel, as the live tree's"
# Nothing in a snapshot changes: its listings, entries and attributes
# (and so the ACLs ls -l asks for) stay in the kernel's caches. Each
# request the daemon serves is one read(2) of /dev/fuse.
s mkdir "$S/six" || fail "mkdir $S/six failed"
s ls -lR "$S/six/many" >/dev/null || fail "ls -lR of $S/six/many failed"
reads() { awk '$1 == "syscr:" { print $2 }' "/proc/$MF_PID/io"; }
r0=$(reads)
s ls -lR "$S/six/many" >/dev/null || fail "ls -lR of $S/six/many failed again"
r1=$(reads)
[ $((r1 - r0)) -lt 100 ] ||
	fail "a second ls -lR of 1200 files in a snapshot made the daemon read $((r1 - r0)) times"
mf_umount "$M"
echo "PASS"
