#!/bin/bash
# Faults cost the caller an error, never the daemon:
#  * SIGBUS: a file read through the mount, then truncated to 0 in the
#    backing dir behind the daemon's back, then read again at an offset that
#    was valid: EIO or a short read or EOF, no hang; the daemon lives on.
#  * ENOSPC: on a full backing file system the writer gets "No space left on
#    device"; files written before are intact; the daemon lives on. On a
#    full state directory, the write whose old pages had no room is
#    refused whole, and every snapshot stays as it was.
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

check "reads race with truncations behind the daemon's back for 2 s: errors, no crash, no hang"
head -c 4194304 /dev/urandom >"$B/race"
sx 'end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do
		truncate -s 0 "$1"; truncate -s 4M "$1"; truncate -s 1234567 "$1"
	done' "$B/race" &
racer=$!
sx 'end=$((SECONDS + 2)); n=0; while [ $SECONDS -lt $end ]; do
		dd if="$1" of=/dev/null bs=1M iflag=direct status=none 2>/dev/null
		dd if="$1" of=/dev/null bs=64k skip=5 count=3 status=none 2>/dev/null
		n=$((n + 1))
	done; echo "    $n rounds of reads"' "$M/race" || fail "the reads racing with truncations hung or failed"
wait "$racer" || fail "the truncating process failed"
mf_alive "$M"
echo "    sigbus counter: $(mf_stat_key "$M" sigbus)"

check "a write after a truncation behind the daemon's back: no crash; if it succeeds, the bytes land"
head -c 8388608 /dev/urandom >"$B/wt"
head -c 65536 /dev/urandom >"$MF_T/chunk"
s cat "$M/wt" >/dev/null
truncate -s 0 "$B/wt"
if s dd if="$MF_T/chunk" of="$M/wt" bs=64k seek=64 conv=notrunc oflag=direct status=none 2>"$MF_T/err"; then
	cmp -i $((64 * 65536)):0 "$B/wt" "$MF_T/chunk" ||
		fail "a write acknowledged after a truncation behind the daemon's back is not in the backing file"
	expect_eq "$(stat -c %s "$B/wt")" $((65 * 65536)) "backing size after writing 64 KiB at 4 MiB into a truncated file"
else
	echo "    the writer got: $(cat "$MF_T/err")"
fi
mf_alive "$M"
echo "    sigbus counter: $(mf_stat_key "$M" sigbus)"

check "the daemon keeps serving: stat, read, write, stats"
head -c 2000000 /dev/urandom >"$MF_T/after"
s cp "$MF_T/after" "$M/after"
s cmp "$M/after" "$MF_T/after" || fail "after the truncated reads, a new file reads back wrong"
s cmp "$B/after" "$MF_T/after" || fail "after the truncated reads, a new file did not reach the backing dir"
mf_stats "$M" >/dev/null || fail "the stats xattr no longer answers"

check "past the backing file system's largest file: the same EFBIG, the daemon lives on"
if truncate -s 17T "$B/probe" 2>/dev/null; then
	echo "    (the backing file system takes 17 TiB files; nothing to check)"
	rm -f "$B/probe"
else
	expect_err "File too large" truncate -s 17T "$M/huge"
	expect_err "File too large" dd if=/dev/zero of="$M/huge2" bs=1 count=1 \
		seek=$((17 * 1024 * 1024 * 1024 * 1024)) conv=notrunc status=none
	mf_alive "$M"
	s rm -f "$M/huge" "$M/huge2"
fi
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

# full_state BACKING OPTS...: BACKING (a small tmpfs, or one beside a small
# state tmpfs) fills with kept pages while f is overwritten.
full_state() {
	local b=$1
	shift
	cp "$MF_T/v1" "$b/f"
	mf_mount "$b" "$M" "$@"
	s mkdir "$M/.snapshots/t1"
	s touch "$M/f@@/snap/s1"
	expect_err "No space left on device" dd if="$MF_T/v2" of="$M/f" bs=64k conv=notrunc status=none
	mf_alive "$M"
	s cmp "$M/.snapshots/t1/f" "$MF_T/v1" || fail "the tree snapshot changed when the state directory filled"
	s cmp "$M/f@@/snap/s1" "$MF_T/v1" || fail "the file snapshot changed when the state directory filled"
	# Each 64 KiB write is whole or not at all: the new bytes up to the
	# one that failed, the old ones after it; the backing file agrees.
	sx 'python3 - "$@" <<"PY"
import sys
f, b, v1, v2 = (open(p, "rb").read() for p in sys.argv[1:5])
B = 65536
k = 0
while k * B < len(f) and f[k * B:(k + 1) * B] == v2[k * B:(k + 1) * B]:
    k += 1
assert 0 < k < len(f) // B, f"{k} of {len(f) // B} writes landed"
assert f[k * B:] == v1[k * B:], "bytes after the failed write are not the old ones"
assert f == b, "the mount and the backing file differ"
print(f"    {k} writes of 64 KiB landed before the state directory filled")
PY' "$M/f" "$b/f" "$MF_T/v1" "$MF_T/v2" || fail "the file is not the new bytes up to the failed write and the old after it"
	# Deleting the snapshots frees the room: the same writes succeed.
	s rmdir "$M/.snapshots/t1"
	s rm "$M/f@@/snap/s1"
	s dd if="$MF_T/v2" of="$M/f" bs=64k conv=notrunc status=none || fail "writing after deleting the snapshots failed"
	s cmp "$M/f" "$MF_T/v2" || fail "the file written after deleting the snapshots reads back wrong"
	mf_umount "$M"
}
head -c 8388608 /dev/urandom >"$MF_T/v1"
head -c 8388608 /dev/urandom >"$MF_T/v2"

check "a full state directory on its own filesystem: the write that needed a copy gets ENOSPC, the file and its snapshots stay whole"
mf_tmpfs "$MF_T/sbacking" 64m
mf_tmpfs "$MF_T/sstate" 2m       # room for about 2 MiB of kept pages
full_state "$MF_T/sbacking" -o "statedir=$MF_T/sstate/state"

check "the same with the state directory in BACKING: pages copied inside the kernel"
mf_tmpfs "$MF_T/sboth" 11m       # the file's 8 MiB and about 3 MiB kept
full_state "$MF_T/sboth"

echo "PASS"
