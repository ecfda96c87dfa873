#!/bin/bash
# Acknowledged writes survive the daemon: fsync and fdatasync succeed; a
# daemon killed with SIGKILL right after writes returned (with and without
# fsync) loses nothing: after fusermount3 -u and a remount every byte is
# there, and the state directory's lock does not block the remount.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
E=$(mf_dir expected) # what each file must hold, written without the mount
head -c 4194304 /dev/urandom >"$MF_T/s1"
head -c 3000001 /dev/urandom >"$MF_T/s2"
head -c 5242880 /dev/urandom >"$MF_T/s3"
cp "$MF_T/s3" "$B/c"

mf_mount "$B" "$M"

check "fsync, fdatasync, sync FILE and sync -f succeed"
s dd if="$MF_T/s1" of="$M/f0" bs=1M status=none
expect_ops OK fsync "$M/f0"
expect_ops OK fdatasync "$M/f0"
s sync "$M/f0" || fail "sync FILE (fsync) failed"
s sync -f "$M/f0" || fail "sync -f (syncfs) failed"
s sync "$M" || fail "sync DIR (fsync of a directory) failed"
cp "$MF_T/s1" "$E/f0"

check "write with and without fsync, then SIGKILL the daemon at once"
s dd if="$MF_T/s1" of="$M/a" bs=1M conv=fsync status=none
cp "$MF_T/s1" "$E/a"
s dd if="$MF_T/s2" of="$M/b" bs=64k status=none
cp "$MF_T/s2" "$E/b"
s dd if="$MF_T/s1" of="$M/c" bs=4096 seek=333 count=300 conv=notrunc status=none
cp "$MF_T/s3" "$E/c"
dd if="$MF_T/s1" of="$E/c" bs=4096 seek=333 count=300 conv=notrunc status=none
sx 'for i in $(seq 1 500); do echo "line $i of a log written one line at a time"; done > "$1"' "$M/log"
for i in $(seq 1 500); do echo "line $i of a log written one line at a time"; done >"$E/log"
s truncate -s 1000000 "$M/d"
s dd if="$MF_T/s2" of="$M/d" bs=1000 count=7 seek=3 conv=notrunc status=none
truncate -s 1000000 "$E/d"
dd if="$MF_T/s2" of="$E/d" bs=1000 count=7 seek=3 conv=notrunc status=none
s mkdir "$M/dir"
sx 'printf "in a new directory" > "$1"' "$M/dir/f"
printf "in a new directory" >"$E/f"
mf_kill9 "$M"

check "every acknowledged byte is in the backing files"
for f in f0 a b c log d; do
	cmp "$B/$f" "$E/$f" || fail "after SIGKILL of the daemon, $f in the backing dir differs from what was written"
done
cmp "$B/dir/f" "$E/f" || fail "after SIGKILL, dir/f differs"

check "after a remount, every byte reads back through the mount"
mf_mount "$B" "$M"
for f in f0 a b c log d; do
	s cmp "$M/$f" "$E/$f" || fail "after SIGKILL and a remount, $f differs through the mount"
done
s cmp "$M/dir/f" "$E/f" || fail "after SIGKILL and a remount, dir/f differs through the mount"

check "a second crash, right after overwriting through the remounted daemon"
s dd if="$MF_T/s3" of="$M/a" bs=1M conv=notrunc status=none
dd if="$MF_T/s3" of="$E/a" bs=1M conv=notrunc status=none
mf_kill9 "$M"
mf_mount "$B" "$M"
s cmp "$M/a" "$E/a" || fail "after the second SIGKILL and a remount, a differs"
mf_umount "$M"
cmp "$B/a" "$E/a" || fail "after the last unmount, a differs in the backing dir"

echo "PASS"
