#!/bin/bash
# Rolling a file back to a snapshot, and what changed since one (issue 12):
#
#   * mv F@@/snap/NAME F puts the snapshot's bytes and size back into F
#     (shrunk or grown since) and the snapshot is gone; the other snapshots
#     keep their bytes (cmp), older and newer;
#   * a reader during a rollback sees the old bytes or the new, never a mix;
#   * mv F@@/snap/NAME G for another file G, or onto a new name: EINVAL,
#     nothing changed; cp -p of a snapshot still copies it and keeps it;
#   * the snapshot of a removed file: mv F@@/snap/NAME F brings F back;
#   * cost: an 8 GiB sparse file with 1 MiB changed writes back 1 MiB
#     (bytes_written of the daemon's stats, and the log's page count);
#   * user.mapfs.changed lists exactly the ranges written since, and
#     mapfsctl diff says it in text and JSON, however long;
#   * SIGKILL during a rollback: after a remount the snapshot is still
#     there (and a second mv finishes) or the file is rolled back, and the
#     other snapshot is intact either way.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MAPFSCTL:?MAPFSCTL must name mapfsctl}"
: "${MF_OPS:?MF_OPS must name mf-ops}"

B=$(mf_dir backing)
M=$(mf_dir mnt)
P=4096
SIZE=$((256 * P + 777))
head -c "$SIZE" /dev/urandom >"$B/app"
head -c 100000 /dev/urandom >"$B/other"
mkdir "$B/d"
mf_mount "$B" "$M"

patch() { # FILE OFFSET LEN: LEN random bytes at OFFSET, through the mount
	head -c "$3" /dev/urandom >"$MF_T/patch"
	s dd if="$MF_T/patch" of="$1" bs="$3" count=1 seek="$2" oflag=seek_bytes conv=notrunc status=none
}
changed() { # SNAPSHOT: its user.mapfs.changed, one line per range
	s getfattr --absolute-names --only-values -n user.mapfs.changed "$1"
}
written() {
	s getfattr --absolute-names --only-values -n user.mapfs.stats "$M" |
		sed -n 's/^bytes_written=//p'
}

check "three snapshots, changes between them"
s touch "$M/app@@/snap/s1"
cp "$B/app" "$MF_T/s1"
patch "$M/app" $((2 * P + 100)) $P                      # pages 2, 3
s touch "$M/app@@/snap/s2"
cp "$B/app" "$MF_T/s2"
patch "$M/app" $((3 * P)) $((2 * P))                    # pages 3, 4
s truncate -s $((300 * P)) "$M/app"                     # grows
patch "$M/app" $((299 * P)) 10
s touch "$M/app@@/snap/s3"
cp "$B/app" "$MF_T/s3"
patch "$M/app" 0 10                                     # page 0
s truncate -s $((100 * P + 5)) "$M/app"                 # shrinks

check "user.mapfs.changed: exactly what changed since, and the sizes"
expect_eq "$(changed "$M/app@@/snap/s2")" "size $SIZE $((100 * P + 5))
0 $P
$((3 * P)) $((2 * P))
$((100 * P)) $((SIZE - 100 * P))" "changed since s2"
expect_eq "$(changed "$M/app@@/snap/s1")" "size $SIZE $((100 * P + 5))
0 $P
$((2 * P)) $((3 * P))
$((100 * P)) $((SIZE - 100 * P))" "changed since s1"

check "mapfsctl diff, text and JSON"
expect_eq "$(s "$MAPFSCTL" diff "$M/app" s2)" "snapshot s2 of $M/app: $SIZE bytes, now $((100 * P + 5))
changed 0+$P
changed $((3 * P))+$((2 * P))
changed $((100 * P))+$((SIZE - 100 * P))" "mapfsctl diff app s2"
expect_eq "$(s "$MAPFSCTL" --json diff "$M/app" s2)" "{\"file\": \"$M/app\", \"snapshot\": \"s2\", \"snapshot_size\": $SIZE, \"size\": $((100 * P + 5)), \"changed\": [{\"offset\": 0, \"length\": $P}, {\"offset\": $((3 * P)), \"length\": $((2 * P))}, {\"offset\": $((100 * P)), \"length\": $((SIZE - 100 * P))}]}" "mapfsctl --json diff app s2"
s "$MAPFSCTL" --json diff "$M/app" s1 | python3 -c 'import json,sys; json.load(sys.stdin)' ||
	fail "mapfsctl --json diff is not JSON"
expect_err "No such file or directory" "$MAPFSCTL" diff "$M/app" nope
expect_err "Invalid argument" "$MAPFSCTL" diff "$M/app" a/b
expect_err "No such file or directory" "$MAPFSCTL" snapshot rollback "$M/app" nope

check "a diff longer than one attribute holds: continued with user.mapfs.changed.FROM"
head -c $((10000 * P)) /dev/urandom >"$B/many"
s touch "$M/many@@/snap/m"
s python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for p in range(0, 10000, 2):
    os.pwrite(fd, b"x", p * 4096 + 7)
os.close(fd)' "$M/many"
changed "$M/many@@/snap/m" | tail -n 1 | grep -q "^more [0-9]*$" ||
	fail "user.mapfs.changed of 5000 ranges does not end with 'more FROM'"
s "$MAPFSCTL" diff "$M/many" m >"$MF_T/many.diff"
for ((p = 0; p < 10000; p += 2)); do echo "changed $((p * P))+$P"; done >"$MF_T/many.want"
expect_eq "$(tail -n +2 "$MF_T/many.diff" | cmp - "$MF_T/many.want" && echo same)" same "mapfsctl diff of 5000 ranges"
rm -f "$B/many"

check "mv onto another file, or a new name: EINVAL, nothing changed"
sum=$(cat "$B/app" "$B/other" | sha256sum)
# mv itself words EINVAL as "a subdirectory of itself": ask rename(2).
for target in other newname d/x; do
	expect_ops EINVAL rename "$M/app@@/snap/s2" "$M/$target" none
done
for target in app@@/cow/v other@@/snap/s2; do     # views hold only views
	expect_ops EPERM rename "$M/app@@/snap/s2" "$M/$target" none
done
expect_ops EINVAL rename "$M/app@@/snap/s2" "$M/app" exchange
expect_eq "$(cat "$B/app" "$B/other" | sha256sum)" "$sum" "files after the refused rollbacks"
[ ! -e "$B/newname" ] && [ ! -e "$B/d/x" ] || fail "a refused rollback made a file"
expect_eq "$(s ls "$M/app@@/snap" | tr '\n' ' ')" "s1 s2 s3 " "snapshots after the refused rollbacks"

check "cp -p of a snapshot copies it and keeps it"
s cp -p "$M/app@@/snap/s2" "$MF_T/s2-copy"
s cmp "$MF_T/s2-copy" "$MF_T/s2" || fail "cp -p of s2 differs from s2"
expect_eq "$(s ls "$M/app@@/snap" | tr '\n' ' ')" "s1 s2 s3 " "snapshots after cp -p"

check "mv app@@/snap/s2 app: s2's bytes and size (grown back), s2 gone, s1 and s3 unchanged"
s mv "$M/app@@/snap/s2" "$M/app" || fail "mv app@@/snap/s2 app"
s cmp "$M/app" "$MF_T/s2" || fail "app through the mount is not s2"
cmp "$B/app" "$MF_T/s2" || fail "app in the backing is not s2"
expect_eq "$(stat -c %s "$M/app")" "$SIZE" "size of app after the rollback"
expect_err "No such file or directory" stat "$M/app@@/snap/s2"
expect_eq "$(s ls "$M/app@@/snap" | tr '\n' ' ')" "s1 s3 " "snapshots after the rollback"
s cmp "$M/app@@/snap/s1" "$MF_T/s1" || fail "s1 changed in the rollback"
s cmp "$M/app@@/snap/s3" "$MF_T/s3" || fail "s3 changed in the rollback"

check "mapfsctl snapshot rollback app s3: shrunk back, s1 unchanged"
expect_eq "$(s "$MAPFSCTL" --json snapshot rollback "$M/app" s3)" "{\"file\": \"$M/app\", \"rolled_back\": \"s3\", \"size\": $((300 * P))}" "mapfsctl --json snapshot rollback app s3"
s cmp "$M/app" "$MF_T/s3" || fail "app is not s3"
s cmp "$M/app@@/snap/s1" "$MF_T/s1" || fail "s1 changed in the second rollback"
expect_eq "$(s ls "$M/app@@/snap" | tr '\n' ' ')" "s1 " "snapshots after the second rollback"

check "cp -p app@@/snap/s1 app: the bytes back, and the snapshot kept"
s cp -p "$M/app@@/snap/s1" "$M/app"
s cmp "$M/app" "$MF_T/s1" || fail "app is not s1 after cp -p"
s cmp "$M/app@@/snap/s1" "$MF_T/s1" || fail "s1 changed by cp -p onto app"
expect_eq "$(s ls "$M/app@@/snap" | tr '\n' ' ')" "s1 " "snapshots after cp -p onto app"

check "a reader during a rollback sees the old bytes or the new, never a mix"
head -c $((32 * 1048576)) /dev/urandom >"$B/big"
s touch "$M/big@@/snap/r"
head -c 8192 "$B/big" | sha256sum >"$MF_T/old.sum"
s dd if=/dev/urandom of="$M/big" bs=1M count=32 conv=notrunc status=none
head -c 8192 "$B/big" | sha256sum >"$MF_T/new.sum"
(
	end=$((SECONDS + 20))
	while [ ! -e "$MF_T/done" ] && [ $SECONDS -lt $end ]; do
		dd if="$M/big" bs=8192 count=1 status=none | sha256sum
	done >"$MF_T/reads"
) &
reader=$!
sleep 0.2
s mv "$M/big@@/snap/r" "$M/big" || fail "mv big@@/snap/r big"
touch "$MF_T/done"
wait "$reader"
dd if="$M/big" bs=8192 count=1 status=none | sha256sum >>"$MF_T/reads"
bad=$({ grep -vxFf "$MF_T/old.sum" -f "$MF_T/new.sum" "$MF_T/reads" || true; } | wc -l)
expect_eq "$bad" 0 "reads that were neither the old bytes nor the new ($(wc -l <"$MF_T/reads") reads)"
echo "    $(wc -l <"$MF_T/reads") reads, $(grep -cxFf "$MF_T/old.sum" "$MF_T/reads") of them before the rollback"
expect_eq "$(tail -n 1 "$MF_T/reads")" "$(cat "$MF_T/old.sum")" "the first page after the rollback"
rm -f "$B/big"

check "a removed file's snapshot: mv F@@/snap/NAME F brings it back"
head -c 50000 /dev/urandom >"$B/gone"
s touch "$M/gone@@/snap/g1"
cp "$B/gone" "$MF_T/g1"
patch "$M/gone" 100 10
s rm "$M/gone"
expect_eq "$(s ls "$M/gone@@/snap")" "g1" "the removed file's snapshots"
s mv "$M/gone@@/snap/g1" "$M/gone" || fail "mv gone@@/snap/g1 gone"
s cmp "$M/gone" "$MF_T/g1" || fail "gone is not g1"
expect_eq "$(s ls "$M/gone@@/snap" | wc -l)" 0 "gone's snapshots after the rollback"
expect_eq "$(ls "$B/.mapfs/orphans" | wc -l)" 0 "orphans left"

check "a replaced file's snapshot: EEXIST onto the file there now; after rm, it comes back"
head -c 30000 /dev/urandom >"$B/rep"
s touch "$M/rep@@/snap/r1"
cp "$B/rep" "$MF_T/r1"
head -c 20000 /dev/urandom >"$MF_T/rep.new"
s cp "$MF_T/rep.new" "$M/rep.tmp"
s mv "$M/rep.tmp" "$M/rep"                              # as sed -i does
expect_eq "$(s ls "$M/rep@@/snap")" "r1" "the replaced file's snapshots"
expect_ops EEXIST rename "$M/rep@@/snap/r1" "$M/rep" none
s cmp "$M/rep" "$MF_T/rep.new" || fail "the refused rollback changed rep"
s rm "$M/rep"
s mv "$M/rep@@/snap/r1" "$M/rep" || fail "mv rep@@/snap/r1 rep after rm rep"
s cmp "$M/rep" "$MF_T/r1" || fail "rep is not r1"
expect_eq "$(ls "$B/.mapfs/orphans" | wc -l)" 0 "orphans left"

check "cost: an 8 GiB sparse file with 1 MiB changed writes back 1 MiB"
truncate -s 8G "$B/huge"
patch "$M/huge" $((4 * 1073741824)) 1048576
s touch "$M/huge@@/snap/h"
patch "$M/huge" $((4 * 1073741824)) 1048576
expect_eq "$(changed "$M/huge@@/snap/h")" "size 8589934592 8589934592
4294967296 1048576" "changed since h"
w0=$(written)
s mv "$M/huge@@/snap/h" "$M/huge" || fail "mv huge@@/snap/h huge"
expect_eq "$(($(written) - w0))" 1048576 "bytes written by the rollback of 1 MiB"
grep -q "snapshot h rolled back into huge: 256 pages written" "${MF_LOG_OF[$M]}" ||
	fail "the log does not say 256 pages were written"
expect_eq "$(stat -c %s "$B/huge")" 8589934592 "size of huge"
rm -f "$B/huge"
mf_umount "$M"

check "SIGKILL during a rollback: after a remount, the snapshot or the rolled-back file, and s1 intact"
head -c $((64 * 1048576)) /dev/urandom >"$B/k"
mf_mount "$B" "$M"
s touch "$M/k@@/snap/s1"
patch "$M/k" 0 4096
s touch "$M/k@@/snap/s2"
cp "$B/k" "$MF_T/k-s2"
s dd if=/dev/urandom of="$M/k" bs=1M count=64 conv=notrunc status=none
s cp "$M/k@@/snap/s1" "$MF_T/k-s1"
mv "$M/k@@/snap/s2" "$M/k" 2>/dev/null &
mvp=$!
# Pages go back in order: once the first is s2's, the rollback is under way.
for ((i = 0; i < 2000; i++)); do
	cmp -s -n 4096 "$B/k" "$MF_T/k-s2" && break
	sleep 0.005
done
pid=${MF_PID_OF[$M]}
kill -KILL "$pid"
if cmp -s "$B/k" "$MF_T/k-s2"; then
	echo "    killed after the last page went back"
elif cmp -s -n 4096 "$B/k" "$MF_T/k-s2"; then
	echo "    killed part way: the file is partly rolled back"
else
	echo "    killed before the first page went back"
fi
mf_reap "$pid"
unset "MF_PID_OF[$M]"
wait "$mvp" || true
if ! s fusermount3 -u "$M" 2>/dev/null; then
	s fusermount3 -uz "$M" || fail "fusermount3 -uz of the dead mount failed"
fi
mf_mount "$B" "$M"
if [ -e "$M/k@@/snap/s2" ]; then
	echo "    the kill came first: s2 is still there; mv again"
	if cmp -s -n 4096 "$B/k" "$MF_T/k-s2"; then       # it had begun
		expect_eq "$(s getfattr --absolute-names --only-values -n user.mapfs.state "$M/k@@/snap/s2")" \
			rollback-interrupted "user.mapfs.state of s2 after the kill"
	fi
	expect_eq "$(s getfattr --absolute-names --only-values -n user.mapfs.state "$M/k@@/snap/s1")" \
		intact "user.mapfs.state of s1 after the kill"
	s cmp "$M/k@@/snap/s2" "$MF_T/k-s2" || fail "s2 changed by the killed rollback"
	s mv "$M/k@@/snap/s2" "$M/k" || fail "the second mv k@@/snap/s2 k"
else
	echo "    the rollback was done before the kill"
fi
s cmp "$M/k" "$MF_T/k-s2" || fail "k is not s2 after the rollback"
s cmp "$M/k@@/snap/s1" "$MF_T/k-s1" || fail "s1 changed by the killed rollback"
mf_umount "$M"
echo "PASS"
