#!/bin/bash
# The seams between features, as a hostile user crosses them.
#
#   * descriptors: a file with snapshots keeps its snapshot stores open
#     while its backing is; closed files' backings kept idle must not hold
#     them, or a few hundred snapshotted files take the daemon past a
#     descriptor limit of 1024 (EMFILE on lookups and opens);
#   * .shm objects roll back as files do: mv .shm/X@@/snap/S .shm/X;
#     an object of a 255-byte name has its views (NAME@@ is 257 bytes);
#   * a removed file's snapshot rolls back through .removed/KEY@INO@@ onto
#     the path it was removed from (EEXIST onto a file that replaced it),
#     and a file back at its path is no orphan: one link, not in .removed,
#     even while it keeps other snapshots or private views;
#   * and what held: under max_fds=128 every view, rollback, chattr and
#     image works on evicted inodes; create/snapshot/rm cycles leave no
#     descriptor, record or memory behind; after SIGKILL every snapshot
#     is whole and no state record outlives its file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
# The common default: the daemon can raise its limit no further than 1024.
ulimit -Sn 1024
ulimit -Hn 1024
mf_mount "$B" "$M"
P=$MF_PID

# ------------------------------------------------------------------
check "400 files with a snapshot each, read once more: no EMFILE"
sx 'cd "$1" && for i in $(seq 1 400); do printf "file$i" >f$i && touch f$i@@/snap/s && printf "new$i" >f$i; done' "$M"
sx 'cd "$1" && for i in $(seq 1 400); do cat f$i f$i@@/snap/s >/dev/null; done' "$M"
expect_eq "$(s cat "$M/f1@@/snap/s")$(s cat "$M/f400")" file1new400 "f1@@/snap/s and f400"
fds=$(ls /proc/"$P"/fd | wc -l)
budget=$(mf_stat_key "$M" fd_budget)
[ "$fds" -le $((budget + 16)) ] ||
	fail "the daemon holds $fds descriptors with no file open, budget $budget"

# ------------------------------------------------------------------
check ".shm: an ELF object rolls back (mv .shm/X@@/snap/S .shm/X), a reader of S keeps S"
s cp /bin/true "$M/.shm/t"
s touch "$M/.shm/t@@/snap/s"
sx 'printf XXXX | dd of="$1" conv=notrunc status=none && head -c 10000 /dev/zero >>"$1"' "$M/.shm/t"
exec 7<"$M/.shm/t@@/snap/s"
s mv "$M/.shm/t@@/snap/s" "$M/.shm/t" || fail "mv .shm/t@@/snap/s .shm/t failed"
s cmp "$M/.shm/t" /bin/true || fail ".shm/t after the rollback differs from /bin/true"
s cmp /dev/fd/7 /bin/true || fail "a descriptor open on the rolled-back snapshot"
exec 7<&-
expect_eq "$(s ls "$M/.shm/t@@/snap")" "" "ls .shm/t@@/snap after the rollback"
s "$M/.shm/t" || fail ".shm/t does not run after the rollback"
[ -e "$M/.shm/t@@/image/.text" ] || fail ".shm/t@@/image/.text after the rollback"
s touch "$M/.shm/t@@/snap/s"
expect_err "subdirectory of itself" mv "$M/.shm/t@@/snap/s" "$M/.shm/u"

# ------------------------------------------------------------------
N=$(printf "n%.0s" $(seq 1 255))
check "a .shm object of a 255-byte name has views, snapshots and rollback"
printf first >"$M/.shm/$N"
s touch "$M/.shm/$N@@/snap/s" || fail "touch .shm/NAME@@/snap/s with a 255-byte NAME"
printf second >"$M/.shm/$N"
expect_eq "$(s cat "$M/.shm/$N@@/ro:0+3")" sec ".shm/NAME@@/ro:0+3"
s mv "$M/.shm/$N@@/snap/s" "$M/.shm/$N"
expect_eq "$(s cat "$M/.shm/$N")" first "the 255-byte object rolled back"
s rm "$M/.shm/$N"

check "a removed 255-byte name rolls back through .removed, views and all"
printf first >"$M/$N"
s touch "$M/$N@@/snap/a" "$M/$N@@/cow/c"
printf second >"$M/$N"
s touch "$M/$N@@/snap/b"
s rm "$M/$N"
R=$(s ls "$M/.removed")
[ -n "$R" ] || fail ".removed lists nothing after rm"
s mv "$M/.removed/$R/snap/a" "$M/$N" || fail "mv .removed/$R/snap/a back to the 255-byte name"
expect_eq "$(s cat "$M/$N")" first "the file rolled back through .removed"
expect_eq "$(stat -c %h "$M/$N")" 1 "links of the file back at its path"
expect_eq "$(s ls -A "$M/.removed")" "" "ls .removed once the file is back"
expect_eq "$(s ls "$M/$N@@/snap")" b "its other snapshot"
# Its unwritten pages follow the file, rolled back.
expect_eq "$(s cat "$M/$N@@/cow/c")" first "its private view"

check "through .removed onto the file that replaced it: EEXIST"
s rm "$M/$N"
printf other >"$M/$N"
R=$(s ls "$M/.removed")
expect_err "File exists" mv "$M/.removed/$R/snap/b" "$M/$N"
expect_eq "$(s cat "$M/$N")" other "the file that replaced it"
s rm "$M/$N"
s mv "$M/.removed/$R/snap/b" "$M/$N"
expect_eq "$(s cat "$M/$N")" second "snapshot b rolled back"

mf_umount "$M"

# ------------------------------------------------------------------
B2=$(mf_dir backing2)
M2=$(mf_dir mnt2)
mf_mount "$B2" "$M2" -o max_fds=128
P=$MF_PID
check "max_fds=128, 1500 files: views, rollback, chattr, image on evicted inodes"
s cp /bin/true "$M2/elf"
r0=$(mf_stat_key "$M2" fd_reopens)
sx 'cd "$1" && for i in $(seq 1 1500); do printf "f$i" >f$i; done && stat f* >/dev/null' "$M2"
s touch "$M2/elf@@/snap/s" "$M2/f1@@/snap/s" "$M2/f1@@/cow/c" "$M2/f2@@/snap/s"
sx 'printf XXXX | dd of="$1" conv=notrunc status=none' "$M2/elf"
[ -e "$M2/elf@@/image/.text" ] && fail "a broken ELF still has .text"
s mv "$M2/elf@@/snap/s" "$M2/elf"
s cmp "$M2/elf" /bin/true || fail "elf after rollback"
[ -e "$M2/elf@@/image/.text" ] || fail "elf@@/image/.text after rollback"
s chattr +a "$M2/f3"
expect_err "Operation not permitted" sh -c 'printf X >"$1"' _ "$M2/f3"
s chattr -a "$M2/f3"
printf F1 >"$M2/f1"
# The private view's unwritten pages follow the file.
expect_eq "$(s cat "$M2/f1@@/snap/s")$(s cat "$M2/f1@@/cow/c")" f1F1 "f1's snapshot and private view"
s rm "$M2/f2"
expect_eq "$(s cat "$M2/.removed/"f2@*@@/snap/s)" f2 "f2's snapshot through .removed"
r1=$(mf_stat_key "$M2" fd_reopens)
[ "$r1" -gt "$r0" ] || fail "no descriptor was reopened by handle ($r0, then $r1)"
fds=$(ls /proc/"$P"/fd | wc -l)
[ "$fds" -le 150 ] || fail "the daemon holds $fds descriptors under max_fds=128"

check "200 cycles of create, snapshot, private view, rm: nothing grows"
cycles() { # N
	sx 'cd "$1" && for i in $(seq 1 "$2"); do
		printf "d$i" >x && touch x@@/snap/s x@@/cow/c && printf m >>x &&
		rm x x@@/snap/s x@@/cow/c &&
		printf s >.shm/y && touch .shm/y@@/snap/s && rm .shm/y; done' "$M2" "$1"
}
cycles 100
fds0=$(ls /proc/"$P"/fd | wc -l)
rss0=$(awk '/VmRSS/ { print $2 }' /proc/"$P"/status)
states0=$(ls "$B2/.mapfs/files" | wc -l)
cycles 200
expect_eq "$(ls /proc/"$P"/fd | wc -l)" "$fds0" "daemon descriptors after 200 more cycles"
expect_eq "$(ls "$B2/.mapfs/files" | wc -l)" "$states0" "state records after 200 more cycles"
expect_eq "$(ls -A "$B2/.mapfs/orphans" | wc -l)" 1 "orphans after 200 more cycles (f2)"
rss1=$(awk '/VmRSS/ { print $2 }' /proc/"$P"/status)
[ "$rss1" -le $((rss0 + 2048)) ] || fail "RSS grew from $rss0 to $rss1 KiB in 200 cycles"

check "SIGKILL amid open deleted views, removed files and .shm snapshots; remount"
for i in 1 2 3 4; do
	printf "old$i" >"$M2/k$i"
	s touch "$M2/k$i@@/snap/s"
	printf "new$i" >"$M2/k$i"
done
s rm "$M2/k4"
printf shm >"$M2/.shm/o"
s touch "$M2/.shm/o@@/snap/s" "$M2/.shm/o@@/cow/c"
s touch "$M2/k1@@/snap/gone" "$M2/k2@@/cow/gone"
exec 8<"$M2/k1@@/snap/gone" 9<>"$M2/k2@@/cow/gone"
s rm "$M2/k1@@/snap/gone" "$M2/k2@@/cow/gone"
kill -KILL "$P"
mf_reap "$P"
unset "MF_PID_OF[$M2]"
exec 8<&- 9<&-
s fusermount3 -u "$M2" 2>/dev/null || s fusermount3 -uz "$M2"
mf_mount "$B2" "$M2" -o max_fds=128
for i in 1 2 3; do
	expect_eq "$(s cat "$M2/k$i@@/snap/s")" "old$i" "k$i@@/snap/s after the crash"
	expect_eq "$(stat -c %s "$M2/k$i@@/snap/s")" 4 "size of k$i@@/snap/s after the crash"
done
expect_eq "$(s cat "$M2/.removed/"k4@*@@/snap/s)" old4 "the removed k4's snapshot after the crash"
expect_eq "$(s cat "$M2/f1@@/snap/s")" f1 "f1@@/snap/s after the crash"
# Every state record is a file's with snapshots or private views: f1 f2
# (removed) k1..k3 k4 (removed) and elf (rolled back, still attached).
left=$(find "$B2/.mapfs/files" -path '*/.deleted-*' | wc -l)
expect_eq "$left" 0 "pages of views deleted while open, after the crash"
for d in "$B2"/.mapfs/files/*; do
	ino=${d##*/}
	ino=${ino%%-*}
	[ -n "$(find "$B2" -path "$B2/.mapfs/files" -prune -o -inum "$ino" -print)" ] ||
		fail "state record ${d##*/} belongs to no file (the .shm object's?)"
done
mf_umount "$M2"
echo "PASS"
