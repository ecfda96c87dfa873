#!/bin/bash
# Faults cost the caller an error, never the daemon:
#  * SIGBUS: a file read through the mount, then truncated to 0 in the
#    backing dir behind the daemon's back, then read again at an offset that
#    was valid: EIO or a short read or EOF, no hang; the daemon lives on.
#  * ENOSPC: on a full backing file system the writer gets "No space left on
#    device"; files written before are intact; the daemon lives on.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
head -c 8388608 /dev/urandom >"$B/big"
head -c 1000000 /dev/urandom >"$B/other"
cp "$B/other" "$MF_T/other"

mf_mount "$B" "$M"

check "a file truncated behind the daemon's back: the reader gets EIO or EOF, no hang"
got=$(ops sigbus "$M/big" "$B/big" 4194304 65536) || fail "the reader of the truncated file failed: $got"
case "$got" in
EIO | eof | "short "*) echo "    the reader got: $got" ;;
*) fail "reading 64 KiB at 4 MiB of a file truncated to 0 behind the daemon gave '$got', expected EIO, a short read or EOF" ;;
esac
mf_alive "$M"
s cmp "$M/other" "$MF_T/other" || fail "after the truncated read, another file reads wrong"
got=$(ops sigbus "$M/other" "$B/other" 0 1000000) || fail "the second truncated read failed: $got"
case "$got" in
EIO | eof | "short "*) ;;
*) fail "reading the whole of a file truncated to 0 behind the daemon gave '$got'" ;;
esac
mf_alive "$M"

check "the daemon keeps serving: stat, read, write, stats"
head -c 2000000 /dev/urandom >"$MF_T/after"
s cp "$MF_T/after" "$M/after"
s cmp "$M/after" "$MF_T/after" || fail "after the truncated reads, a new file reads back wrong"
s cmp "$B/after" "$MF_T/after" || fail "after the truncated reads, a new file did not reach the backing dir"
mf_stats "$M" >/dev/null || fail "the stats xattr no longer answers"
mf_umount "$M"

check "ENOSPC: backing on an 8 MiB tmpfs"
T=$MF_T/small
mf_tmpfs "$T" 8m
head -c 2097152 /dev/urandom >"$MF_T/keep"
mf_mount "$T" "$M"
s dd if="$MF_T/keep" of="$M/keep" bs=1M conv=fsync status=none
s cmp "$M/keep" "$MF_T/keep"
expect_err "No space left on device" dd if=/dev/zero of="$M/fill" bs=1M count=16 status=none
mf_alive "$M"
s cmp "$M/keep" "$MF_T/keep" || fail "a file written before the disk filled changed (mount)"
cmp "$T/keep" "$MF_T/keep" || fail "a file written before the disk filled changed (backing)"

check "ENOSPC with fsync, and on a write into a sparse file"
s rm "$M/fill"
expect_err "No space left on device" dd if=/dev/zero of="$M/fill2" bs=1M count=16 conv=fsync status=none
s rm "$M/fill2"
s truncate -s 100M "$M/sparse"
expect_err "No space left on device" dd if=/dev/zero of="$M/sparse" bs=1M count=16 seek=50 conv=notrunc status=none
mf_alive "$M"
s rm "$M/sparse"

check "after freeing space, writes work again"
s dd if="$MF_T/keep" of="$M/again" bs=1M conv=fsync status=none || fail "writing after freeing space failed"
s cmp "$M/again" "$MF_T/keep" || fail "a file written after freeing space reads back wrong"
s cmp "$M/keep" "$MF_T/keep" || fail "the first file changed"
mf_umount "$M"

echo "PASS"
