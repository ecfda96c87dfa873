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
#     even while it keeps other snapshots or private views.
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
echo "PASS"
