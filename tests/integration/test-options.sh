#!/bin/bash
# The command line: errors, --help/--version, what `mount` shows, options
# that take effect, and the user.mapfs.stats counters.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)

check "--help and --version print and exit 0"
out=$(s "$MAPFS" --help 2>&1) || fail "mapfs --help exited with $?"
[ -n "$out" ] || fail "mapfs --help printed nothing"
grep -q 'window_size' <<<"$out" || fail "mapfs --help does not document -o window_size: $out"
grep -q 'max_windows' <<<"$out" || fail "mapfs --help does not document -o max_windows"
grep -q 'statedir' <<<"$out" || fail "mapfs --help does not document -o statedir"
out=$(s "$MAPFS" --version 2>&1) || fail "mapfs --version exited with $?"
grep -q '[0-9]\+\.[0-9]\+' <<<"$out" || fail "mapfs --version prints no version number: '$out'"
grep -qi 'mapfs' <<<"$out" || fail "mapfs --version does not name mapfs: '$out'"

check "errors: exit 1 with a 'mapfs: ' message, nothing mounted"
mf_refused "$M" "$MF_T/no-such-dir" "$M"
grep -q 'no-such-dir' <<<"$MF_ERR" || fail "the message does not name the missing backing dir: $MF_ERR"
touch "$MF_T/a-file"
mf_refused "$M" "$MF_T/a-file" "$M"
mf_refused "$MF_T/no-such-mnt" "$B" "$MF_T/no-such-mnt"
mf_refused "$M" "$B"
mf_refused "$M"
for bad in window_size=3 window_size=32K window_size=100K window_size=abc window_size= \
	max_windows=0 max_windows=abc max_windows=-1; do
	mf_refused "$M" -o "$bad" "$B" "$M"
	grep -q "${bad%%=*}" <<<"$MF_ERR" || fail "-o $bad: the message does not name the option: $MF_ERR"
done
mf_refused "$M" -o window_size=3 -s "$B" "$M"

check "mount shows type fuse.mapfs and the backing path as its source"
head -c 3000000 /dev/urandom >"$B/data"
mf_mount "$B" "$M"
read -r src type <<<"$(mf_fstype "$M")"
expect_eq "$type" "fuse.mapfs" "file system type of $M in /proc/mounts"
expect_eq "$src" "$B" "source of $M in /proc/mounts"
sx 'mount | grep -F " on $1 type fuse.mapfs "' "$M" >/dev/null ||
	fail "mount(8) does not list $M as fuse.mapfs"

check "user.mapfs.stats has every counter, and they move"
stats=$(mf_stats "$M") || fail "getfattr --absolute-names -n user.mapfs.stats $M failed"
for k in windows_mapped maps unmaps hits misses bytes_read bytes_written open_files sigbus; do
	grep -q "^$k=[0-9]\+\$" <<<"$stats" || fail "user.mapfs.stats lacks '$k=N'; it is:
$stats"
done
r0=$(mf_stat_key "$M" bytes_read)
w0=$(mf_stat_key "$M" bytes_written)
m0=$(mf_stat_key "$M" maps)
s cmp "$M/data" "$B/data" || fail "reading data through the mount gives other bytes"
r1=$(mf_stat_key "$M" bytes_read)
[ $((r1 - r0)) -ge 3000000 ] ||
	fail "bytes_read grew by $((r1 - r0)) after reading a 3000000-byte file (from $r0 to $r1)"
# Large reads are spliced from the backing file, small ones (here 32 KiB
# with O_DIRECT) come from windows.
s dd if="$M/data" of=/dev/null bs=32k count=1 iflag=direct status=none ||
	fail "an O_DIRECT read of the first 32 KiB failed"
[ "$(mf_stat_key "$M" maps)" -gt "$m0" ] || fail "maps did not grow after reading a file the first time"
h0=$(mf_stat_key "$M" hits)
mi0=$(mf_stat_key "$M" misses)
for i in 1 2 3; do
	s dd if="$M/data" of=/dev/null bs=32k count=1 iflag=direct status=none ||
		fail "an O_DIRECT read of the first 32 KiB failed"
done
[ "$(mf_stat_key "$M" hits)" -gt "$h0" ] || fail "hits did not grow after reading the same 32 KiB three times with O_DIRECT"
mi1=$(mf_stat_key "$M" misses)
[ "$mi1" -ge "$mi0" ] || fail "misses went down ($mi0 -> $mi1)"
[ "$mi1" -gt 0 ] || fail "misses is 0 after reading files the daemon had never mapped"
s dd if=/dev/urandom of="$M/w" bs=64k count=16 conv=fsync status=none
w1=$(mf_stat_key "$M" bytes_written)
[ $((w1 - w0)) -ge 1048576 ] ||
	fail "bytes_written grew by $((w1 - w0)) after writing 1 MiB with fsync (from $w0 to $w1)"
mf_hold "$M/data" 4096
of=$(mf_stat_key "$M" open_files)
[ "$of" -ge 1 ] || fail "open_files is $of while a file is open"
mf_release
for ((i = 0; i < 40; i++)); do
	of=$(mf_stat_key "$M" open_files)
	[ "$of" -eq 0 ] && break
	sleep 0.05
done
[ "$of" -eq 0 ] || fail "open_files is $of, not 0, 2 s after the last file was closed"
mf_umount "$M"

check "a cold sequential read comes in requests of 1 MiB (readahead raised from 128 KiB)"
# The kernel reads a FUSE file ahead by its device's read_ahead_kb, 128 KiB
# unless the daemon raises it: 128 READ round trips for 16 MiB, not 16.
head -c $((16 << 20)) /dev/urandom >"$B/seq"
mf_mount "$B" "$M"
n0=$(mf_stat_key "$M" reads)
sx 'dd if="$1" bs=1M status=none | cmp - "$2"' "$M/seq" "$B/seq" ||
	fail "a 16 MiB file read sequentially through the mount gives other bytes"
n1=$(mf_stat_key "$M" reads)
# 1 MiB requests, or 512 KiB ones where a pipe cannot hold a spliced 1 MiB
# reply (max_read, in /proc/mounts then).
most=24
grep -F " $M " /proc/mounts | grep -q "max_read=524288" && most=40
[ $((n1 - n0)) -ge 1 ] && [ $((n1 - n0)) -le $most ] ||
	fail "a cold 16 MiB sequential read took $((n1 - n0)) READ requests, not about 16 (or 32)"
dev=$(stat -c %d "$M")
expect_eq "$(cat "/sys/class/bdi/$((dev >> 8)):$((dev & 255))/read_ahead_kb")" 1024 \
	"read_ahead_kb of the mount's device"

check "st_blksize of a file is 1 MiB: cp writes into the mount in 1 MiB writes"
# cp writes max(128 KiB, st_blksize) at a time: 64 WRITE round trips for
# 8 MiB at the backing filesystem's 4 KiB, 8 at 1 MiB.
head -c $((8 << 20)) "$B/seq" >"$MF_T/eight"
expect_eq "$(stat -c %o "$M/seq")" 1048576 "st_blksize of a file through the mount"
expect_eq "$(stat -c %o "$M/seq@@/ro")" 1048576 "st_blksize of a view"
w0=$(mf_stat_key "$M" write_syscalls)
s cp "$MF_T/eight" "$M/eight"
w1=$(mf_stat_key "$M" write_syscalls)
[ $((w1 - w0)) -ge 1 ] && [ $((w1 - w0)) -le 10 ] ||
	fail "cp of 8 MiB into the mount took $((w1 - w0)) writes, not about 8"
s cmp "$M/eight" "$MF_T/eight" || fail "a file copied in with cp reads back wrong"
expect_eq "$(stat -c %o "$M/eight")" 1048576 "st_blksize of a file cp created"
mf_umount "$M"

check "-o window_size=64K,max_windows=8,timeout=0 and -s mount and serve"
mf_mount "$B" "$M" -s -o window_size=64K -o max_windows=8,timeout=0
s cmp "$M/data" "$B/data" || fail "with window_size=64K, reading gives other bytes"
s dd if="$B/data" of="$M/copy" bs=100000 status=none
s cmp "$M/copy" "$B/data" || fail "with window_size=64K, a written copy reads back wrong"
wm=$(mf_stat_key "$M" windows_mapped)
[ "$wm" -le 8 ] || fail "windows_mapped is $wm with -o max_windows=8"
mf_umount "$M"
s cmp "$B/copy" "$B/data" || fail "the copy written through the mount differs in the backing dir"

echo "PASS"
