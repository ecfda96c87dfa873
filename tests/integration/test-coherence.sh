#!/bin/bash
# Several processes on one file see one file: write(2) and read(2), shared
# mmaps, msync; times and sizes: mtime and ctime advance on writes, the size
# right after concurrent O_APPEND writers, sparse writes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MF_COHERENCE:?}" "${MF_APPEND:?}"

B=$(mf_dir backing)
M=$(mf_dir mnt)

mf_mount "$B" "$M"

check "process A writes, process B (opened before) reads the new bytes at once"
s "$MF_COHERENCE" write-read "$M/c1" || fail "write(2) in one process was not seen by read(2) in another"

check "MAP_SHARED in two processes: stores by one are seen at once by the other"
s "$MF_COHERENCE" mmap-mmap "$M/c2" || fail "mmap stores were not shared between two processes"

check "write(2) in one process is seen through another process's mmap"
s "$MF_COHERENCE" write-mmap "$M/c3" || fail "write(2) was not seen through a shared mapping"

check "mmap store and msync in one process is seen by read(2) in another"
s "$MF_COHERENCE" mmap-read "$M/c4" || fail "an msynced mmap store was not seen by read(2)"

check "a write-only descriptor's writes are seen at once by read(2) and by a shared map in another process"
s "$MF_COHERENCE" wronly-read "$M/c5" || fail "write(2) through an O_WRONLY descriptor was not seen by read(2) in another process"
s "$MF_COHERENCE" wronly-mmap "$M/c6" || fail "write(2) through an O_WRONLY descriptor was not seen through another process's mapping"

check "what the processes wrote is in the backing file"
for f in c1 c2 c3 c4 c5 c6; do
	s cmp "$M/$f" "$B/$f" || fail "after the coherence rounds, $f differs between the mount and the backing dir"
done

check "a file written by a write-only open is not cached by the kernel twice; a reader that cached it before sees the new bytes"
# cp, dd and shells open their output write-only: those writes bypass the
# kernel's page cache of the mount (the backing file has its own), so the
# kernel holds no page of a file just written that way.
s dd if=/dev/urandom of="$M/w" bs=1M count=8 status=none
expect_eq "$(s fincore --bytes --noheadings -o RES "$M/w" | tr -d " ")" 0 "bytes of $M/w in the kernel's cache after dd wrote it"
s cmp "$M/w" "$B/w" || fail "$M/w differs from its backing file after dd"
# Cached by a reader, then overwritten write-only while nobody has it open.
s cat "$M/w" >/dev/null
s dd if=/dev/zero of="$M/w" bs=4k count=3 seek=5 conv=notrunc status=none
expect_eq "$(s od -An -tx1 -j $((5 * 4096 + 100)) -N4 "$M/w" | tr -d ' ')" 00000000 \
	"bytes of $M/w rewritten by dd after a reader had cached them"
s cmp "$M/w" "$B/w" || fail "$M/w differs from its backing file after dd conv=notrunc"

check "a write advances mtime and ctime, every time"
s dd if=/dev/urandom of="$M/t" bs=4k count=4 status=none
s touch -d '2010-01-01 00:00:00' "$M/t"
read -r m0 c0 <<<"$(s stat -c '%.9Y %.9Z' "$M/t")"
sleep 0.05
s dd if=/dev/urandom of="$M/t" bs=100 count=1 seek=3 conv=notrunc status=none
read -r m1 c1 <<<"$(s stat -c '%.9Y %.9Z' "$M/t")"
now=$(date +%s)
[ "${m1%.*}" -ge $((now - 5)) ] || fail "mtime after a write is $m1, not now ($now); it was $m0"
[[ "$c1" > "$c0" ]] || fail "ctime did not advance on a write: $c0 -> $c1"
# A second write, into a page the first one dirtied, must move mtime again.
sleep 0.05
s dd if=/dev/urandom of="$M/t" bs=100 count=1 seek=4 conv=notrunc status=none
read -r m2 c2 <<<"$(s stat -c '%.9Y %.9Z' "$M/t")"
[[ "$m2" > "$m1" ]] || fail "mtime did not advance on a second write to the same page: $m1 -> $m2"
[[ "$c2" > "$c1" ]] || fail "ctime did not advance on a second write to the same page: $c1 -> $c2"
# ... and through a shared mapping (msync).
s touch -d '2010-01-01 00:00:00' "$M/t"
expect_ops OK mmap-store "$M/t" 5000 "stored through a shared mapping"
read -r m3 _ <<<"$(s stat -c '%.9Y %.9Z' "$M/t")"
[ "${m3%.*}" -ge $((now - 5)) ] || fail "mtime after an mmap store and msync is $m3, not now ($now)"
expect_eq "$(s dd if="$M/t" bs=1 skip=5000 count=31 status=none)" "stored through a shared mapping" \
	"bytes stored through a shared mapping, read back"
m2=$m3

check "the size right after concurrent O_APPEND writers"
s touch "$M/log"
s "$MF_APPEND" "$M/log" 8 200 100 >/dev/null || fail "concurrent O_APPEND writers lost or mangled records"
expect_eq "$(s stat -c %s "$M/log")" 160000 "size of the log after 8 writers x 200 records x 100 bytes"
expect_eq "$(stat -c %s "$B/log")" 160000 "size of the log in the backing dir"
s touch "$M/log2"
s "$MF_APPEND" "$M/log2" 4 50 5000 >/dev/null || fail "concurrent O_APPEND writers of 5000-byte records failed"

check "sparse writes give the right size and zeros in between"
s dd if=/dev/urandom of="$MF_T/chunk" bs=1000 count=1 status=none
s dd if="$MF_T/chunk" of="$M/sparse" bs=1000 seek=10000 status=none
expect_eq "$(s stat -c %s "$M/sparse")" 10001000 "size after writing 1000 bytes at 10000000"
s cmp -n 10000000 "$M/sparse" /dev/zero || fail "the gap before a sparse write does not read as zeros"
s cmp -i 10000000:0 "$M/sparse" "$MF_T/chunk" || fail "the sparse write reads back wrong"
[ "$(stat -c %b "$B/sparse")" -lt 1000 ] || fail "the sparse file takes $(stat -c %b "$B/sparse") blocks in the backing dir"
s dd if="$MF_T/chunk" of="$M/sparse" bs=1 count=1 seek=5000000000 conv=notrunc status=none
expect_eq "$(s stat -c %s "$M/sparse")" 5000000001 "size after writing 1 byte at 5000000000"
expect_eq "$(stat -c %s "$B/sparse")" 5000000001 "backing size after writing 1 byte at 5000000000"
s dd if="$MF_T/chunk" of="$M/sparse" bs=1 count=1 seek=20 conv=notrunc status=none
expect_eq "$(s stat -c %s "$M/sparse")" 5000000001 "size after a write inside the file"
s truncate -s 3000 "$M/sparse"
s dd if="$MF_T/chunk" of="$M/sparse" bs=1000 seek=5 conv=notrunc status=none
expect_eq "$(s stat -c %s "$M/sparse")" 6000 "size after truncating to 3000 and writing at 5000"
s cmp -i 3000:0 -n 2000 "$M/sparse" /dev/zero || fail "the range between the truncation and a later write is not zeros"

check "truncations through the mount race with readers and writers for 2 s: no errors, no crash"
s dd if=/dev/urandom of="$M/race" bs=1M count=4 status=none
sx 'end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do
		truncate -s 0 "$1" && truncate -s 4M "$1" && truncate -s 1234567 "$1" || exit 1
	done' "$M/race" &
p1=$!
sx 'end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do
		dd if="$1" of=/dev/null bs=1M iflag=direct status=none || exit 1
		dd if="$1" of=/dev/null bs=64k skip=5 count=3 status=none || exit 1
	done' "$M/race" &
p2=$!
sx 'end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do
		dd if=/dev/zero of="$1" bs=64k seek=7 count=2 conv=notrunc status=none || exit 1
	done' "$M/race" &
p3=$!
wait "$p1" || fail "truncating through the mount failed while others read and wrote"
wait "$p2" || fail "a read failed while the file was truncated through the mount"
wait "$p3" || fail "a write failed while the file was truncated through the mount"
mf_alive "$M"

mf_umount "$M"

check "after unmounting, the backing dir has the same times and bytes"
expect_eq "$(stat -c %s "$B/sparse")" 6000 "backing size of sparse after unmounting"
m_back=$(stat -c '%.9Y' "$B/t")
[[ ! "$m2" > "$m_back" ]] || fail "the last mtime seen through the mount ($m2) is later than the backing file's ($m_back)"
echo "PASS"
