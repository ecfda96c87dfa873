#!/bin/bash
# Data moves through the daemon's mmap windows, within the budget: the
# backing file shows in the daemon's /proc/PID/maps while a small file is
# read, and large reads are spliced from it, mapping nothing; a
# 64 GiB sparse file reads and writes right at high offsets with
# -o max_windows=4 -o window_size=1M, while the daemon's anonymous memory
# stays small and windows_mapped stays within the budget; bytes new to a
# window are written with pwrite, pages rewritten often through it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
PAT="$MF_T/pattern"
head -c 3145728 /dev/urandom >"$PAT"
head -c 8388608 /dev/urandom >"$B/mapped"
head -c 12288 /dev/urandom >"$B/little"
truncate -s 64G "$B/big"
G60=$((60 * 1024 * 1024 * 1024))
ODD=$((G60 + 5 * 1048576 - 777)) # straddles window boundaries

mf_mount "$B" "$M" -o max_windows=4 -o window_size=1M
PID=$MF_PID

check "while a small file is read through the mount, the daemon maps the backing file"
# (12 KiB: a read under the spliced size)
mf_hold "$M/little" 12288
grep -qF " $B/little" "/proc/$PID/maps" ||
	fail "/proc/$PID/maps does not show $B/little while it is open and read:
$(grep -F "$B" "/proc/$PID/maps" || echo '(no mapping under the backing dir)')"
mf_release
expect_eq "$MF_HOLD_OUT" 12288 "bytes read through the mount by the holding process"

check "a large read is spliced from the backing file: no window mapped"
# Mapping a window and faulting its pages in cost a cold sequential read
# half the daemon's time; splice takes the backing file's pages as they
# are. Its page cache is the windows' one: the same bytes either way.
m0=$(mf_stat_key "$M" maps)
s cmp "$M/mapped" "$B/mapped" || fail "a file read with large reads through the mount gives other bytes"
expect_eq "$(mf_stat_key "$M" maps)" "$m0" "windows mapped for a cold sequential read of 8 MiB"

check "a 64 GiB sparse file: write at 60 GiB, read it back"
expect_eq "$(s stat -c %s "$M/big")" 68719476736 "size of the 64 GiB sparse file"
s dd if="$PAT" of="$M/big" bs=1M seek=$((G60 / 1048576)) conv=notrunc status=none
s dd if="$PAT" of="$M/big" bs=65536 count=16 seek=$ODD oflag=seek_bytes conv=notrunc status=none
expect_eq "$(s stat -c %s "$M/big")" 68719476736 "size after writing inside the 64 GiB file"
sx 'dd if="$1" bs=1M skip=$2 count=3 status=none | cmp - "$3"' "$M/big" $((G60 / 1048576)) "$PAT" ||
	fail "3 MiB written at 60 GiB read back wrong through the mount"
sx 'dd if="$1" bs=1M skip=$2 count=3 status=none | cmp - "$3"' "$B/big" $((G60 / 1048576)) "$PAT" ||
	fail "3 MiB written at 60 GiB through the mount are not in the backing file"
sx 'dd if="$1" bs=4093 skip=$2 count=1048576 iflag=skip_bytes,count_bytes status=none | cmp - <(head -c 1048576 "$3")' \
	"$B/big" $ODD "$PAT" || fail "1 MiB written at 60 GiB + 5 MiB - 777 is not in the backing file"

check "the budget holds: windows_mapped <= 4, few mappings, RssAnon < 64 MiB"
# Touch many windows all over the file.
# (O_DIRECT reads of 32 KiB: large ones are spliced, mapping no window)
for ((i = 0; i < 64; i++)); do
	off=$(((i * 1021 + 7) % 60000))
	sx 'dd if="$1" bs=32K skip=$(($2 * 32)) count=32 iflag=direct status=none | cmp -s - <(head -c 1048576 /dev/zero)' \
		"$M/big" "$off" || fail "1 MiB at $off MiB of the sparse file is not zeros"
done
sx 'dd if="$1" bs=1M skip=32768 count=256 status=none | cmp -n 268435456 - /dev/zero' "$M/big" ||
	fail "256 MiB at 32 GiB of the sparse file do not read as zeros"
wm=$(mf_stat_key "$M" windows_mapped)
[ "$wm" -le 4 ] || fail "windows_mapped is $wm with -o max_windows=4 (idle)"
nmaps=$(grep -cF " $B/big" "/proc/$PID/maps" || true)
[ "$nmaps" -le 4 ] || fail "the daemon has $nmaps mappings of the 64 GiB file with -o max_windows=4"
rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$PID/status")
[ "$rss" -lt 65536 ] || fail "the daemon's RssAnon is $rss kB, not under 64 MiB"
mapped=0
while read -r range _ _ _ _ path; do
	[[ "$path" == "$B/"* ]] || continue
	mapped=$((mapped + 16#${range#*-} - 16#${range%-*}))
done <"/proc/$PID/maps"
[ "$mapped" -le $((4 * 1048576)) ] ||
	fail "the daemon maps $mapped bytes of backing files with -o max_windows=4,window_size=1M"
echo "    windows_mapped=$wm, mappings of the file=$nmaps, bytes of backing files mapped=$mapped, RssAnon=${rss} kB"
maps=$(mf_stat_key "$M" maps)
unmaps=$(mf_stat_key "$M" unmaps)
[ $((maps - unmaps)) -le 4 ] || fail "maps ($maps) - unmaps ($unmaps) is above the budget of 4"
[ "$unmaps" -gt 0 ] || fail "no window was ever unmapped after reading hundreds of windows with a budget of 4"
mf_umount "$M"

check "after a remount, the bytes at 60 GiB read back through the mount"
mf_mount "$B" "$M" -o max_windows=4,window_size=1M
PID=$MF_PID
sx 'dd if="$1" bs=1M skip=$2 count=3 status=none | cmp - "$3"' "$M/big" $((G60 / 1048576)) "$PAT" ||
	fail "after a remount, 3 MiB at 60 GiB read back wrong"
sx 'dd if="$1" bs=4093 skip=$2 count=1048576 iflag=skip_bytes,count_bytes status=none | cmp - <(head -c 1048576 "$3")' \
	"$M/big" $ODD "$PAT" || fail "after a remount, 1 MiB at 60 GiB + 5 MiB - 777 reads back wrong (unaligned reads)"
sx 'dd if="$1" bs=1M skip=65535 count=1 status=none | cmp - <(head -c 1048576 /dev/zero)' "$M/big" ||
	fail "the last MiB of the 64 GiB file does not read as zeros"
expect_eq "$(s dd if="$M/big" bs=1M skip=65536 count=1 status=none | wc -c)" 0 "bytes read at the end of the 64 GiB file"
wm=$(mf_stat_key "$M" windows_mapped)
[ "$wm" -le 4 ] || fail "windows_mapped is $wm with -o max_windows=4 after the remount"
rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$PID/status")
[ "$rss" -lt 65536 ] || fail "the daemon's RssAnon is $rss kB after the remount, not under 64 MiB"
mf_umount "$M"

check "concurrent writers and readers through 4 windows of 64K"
for i in 0 1 2 3 4 5 6 7; do
	head -c 4194304 /dev/urandom >"$MF_T/part$i"
done
mf_mount "$B" "$M" -o max_windows=4,window_size=64K
PID=$MF_PID
pids=()
for i in 0 1 2 3 4 5 6 7; do
	s dd if="$MF_T/part$i" of="$M/shared" bs=$((4096 * (i + 1))) seek=$((i * 4194304)) \
		oflag=seek_bytes conv=notrunc status=none &
	pids+=($!)
done
for i in 0 1 2 3; do
	sx 'cmp "$1" "$2"' "$M/mapped" "$B/mapped" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a concurrent writer or reader failed (or read wrong bytes)"
done
for i in 0 1 2 3 4 5 6 7; do
	sx 'dd if="$1" bs=1M skip=$2 count=4 iflag=direct status=none | cmp - "$3"' "$M/shared" $((i * 4)) "$MF_T/part$i" ||
		fail "part $i of a file written by 8 concurrent writers reads back wrong"
done
wm=$(mf_stat_key "$M" windows_mapped)
[ "$wm" -le 4 ] || fail "windows_mapped is $wm after the concurrent writers, budget 4"
mf_umount "$M"
for i in 0 1 2 3 4 5 6 7; do
	sx 'dd if="$1" bs=1M skip=$2 count=4 status=none | cmp - "$3"' "$B/shared" $((i * 4)) "$MF_T/part$i" ||
		fail "part $i written by 8 concurrent writers differs in the backing file"
done

check "a new file is written with pwrite, no window mapped; a page rewritten often is faulted in"
# A page new to a window costs a page fault (on a virtual machine a host
# fault too) when stored through the window: pwrite writes it instead.
mf_mount "$B" "$M"
w0=$(mf_stat_key "$M" write_syscalls)
p0=$(mf_stat_key "$M" write_populated)
m0=$(mf_stat_key "$M" maps)
s dd if="$PAT" of="$M/new" bs=1M status=none
w1=$(mf_stat_key "$M" write_syscalls)
[ $((w1 - w0)) -ge 3 ] || fail "3 MiB written to a new file took $((w1 - w0)) pwrites, not one a MiB or more"
expect_eq "$(mf_stat_key "$M" maps)" "$m0" "windows mapped to write a new file (each write at its end)"
expect_eq "$(mf_stat_key "$M" write_populated)" "$p0" "pages faulted in to write a new file"
s cmp "$M/new" "$PAT" || fail "a new file reads back wrong through the mount"
s cmp "$B/new" "$PAT" || fail "a new file written through the mount differs in the backing file"
for ((i = 0; i < 30; i++)); do
	s dd if="$PAT" of="$M/new" bs=65536 count=1 skip=$((i % 7)) conv=notrunc status=none
done
p1=$(mf_stat_key "$M" write_populated)
[ $((p1 - p0)) -ge 16 ] || fail "64 KiB rewritten 30 times: $((p1 - p0)) pages faulted in, not 16"
s dd if="$PAT" of="$M/new" bs=65536 count=1 skip=9 conv=notrunc status=none
head -c 65536 <(tail -c +$((9 * 65536 + 1)) "$PAT") >"$MF_T/head"
sx 'dd if="$1" bs=65536 count=1 iflag=direct status=none | cmp - "$2"' "$M/new" "$MF_T/head" ||
	fail "64 KiB rewritten through the window read back wrong through the mount"
s cmp -n 65536 "$B/new" "$MF_T/head" || fail "64 KiB rewritten through the window differ in the backing file"
# Truncation takes the pages away: written again, they are new again
# (inside the file: a write at its end is always a pwrite).
s truncate -s 0 "$M/new"
s truncate -s 65536 "$M/new"
w2=$(mf_stat_key "$M" write_syscalls)
s dd if="$PAT" of="$M/new" bs=65536 count=1 conv=notrunc status=none
[ "$(mf_stat_key "$M" write_syscalls)" -gt "$w2" ] || fail "a page written after truncation was not written with pwrite"
s cmp -n 65536 "$M/new" "$PAT" || fail "64 KiB written after truncation read back wrong"
expect_eq "$(s stat -c %s "$M/new")" 65536 "size of the file written again after truncation"
mf_umount "$M"

check "holes between data read as zeros and stay holes (tmpfs allocates a hole a window touches)"
T=$MF_T/sparse-tmpfs
mf_tmpfs "$T" 64m
head -c 12288 "$PAT" >"$MF_T/pieces"
dd if="$MF_T/pieces" of="$T/patchy" bs=4096 count=1 status=none
dd if="$MF_T/pieces" of="$T/patchy" bs=4096 skip=1 seek=100 count=1 conv=notrunc status=none
dd if="$MF_T/pieces" of="$T/patchy" bs=4096 skip=2 seek=1000 count=1 conv=notrunc status=none
truncate -s 32M "$T/patchy"
blocks=$(stat -c %b "$T/patchy")
mf_mount "$T" "$M"
s cmp "$M/patchy" "$T/patchy" || fail "a file with holes between its data reads back wrong"
sx 'dd if="$1" bs=1M iflag=direct status=none | cmp - "$2"' "$M/patchy" "$T/patchy" ||
	fail "a file with holes between its data reads back wrong with 1 MiB O_DIRECT reads"
expect_eq "$(stat -c %b "$T/patchy")" "$blocks" "512-byte blocks of the backing file after reading it through the mount"
mf_umount "$M"

check "the last 2 MiB below 2^63 (tmpfs): written and read as the backing filesystem takes them"
# The kernel maps no page that ends past 2^63 - 1, so the last window is
# mapped short and the last page below 2^63 goes by pread and pwrite.
TT=$(mf_dir tmpfs-top)
mf_tmpfs "$TT" 16m
MT=$(mf_dir mnt-top)
mf_mount "$TT" "$MT"
TOP=9223372036854775807 # 2^63 - 1: the largest size a file may have
WIN=$((TOP + 1 - 2097152)) # the last 2 MiB window
PUT='printf %s "$3" | dd of="$1" bs=${#3} seek="$2" oflag=seek_bytes conv=notrunc status=none'
put() { # PATH OFFSET DATA
	sx "$PUT" "$@"
}
get() { # PATH OFFSET LEN
	sx 'dd if="$1" bs=$3 skip="$2" count=1 iflag=skip_bytes status=none' "$@"
}
s touch "$MT/top"
n=0
for off in $((WIN - 5)) $((WIN + 5)) $((TOP - 8192 - 3)) $((TOP - 4096 - 4)) $((TOP - 4095)) $((TOP - 6)); do
	n=$((n + 1))
	put "$MT/top" $off "file-$n"
	expect_eq "$(get "$MT/top" $off 6)" "file-$n" "bytes written at 2^63 - $((TOP + 1 - off)) (mount)"
	expect_eq "$(get "$TT/top" $off 6)" "file-$n" "bytes written at 2^63 - $((TOP + 1 - off)) (backing)"
	put "$MT/top@@/rw" $off "view-$n"
	expect_eq "$(get "$MT/top@@/rw" $off 6)" "view-$n" "bytes written through rw at 2^63 - $((TOP + 1 - off))"
	expect_eq "$(get "$TT/top" $off 6)" "view-$n" "bytes written through rw at 2^63 - $((TOP + 1 - off)) (backing)"
	put "$MT/top@@/rw:$WIN+2097151" $((off - WIN)) "wind-$n" 2>/dev/null || [ $off -lt $WIN ] ||
		fail "a write at 2^63 - $((TOP + 1 - off)) through rw:$WIN+2097151 failed"
	[ $off -lt $WIN ] || expect_eq "$(get "$TT/top" $off 6)" "wind-$n" \
		"bytes written through rw:$WIN+2097151 at 2^63 - $((TOP + 1 - off)) (backing)"
done
expect_eq "$(s stat -c %s "$MT/top")" $TOP "size after writing the last bytes below 2^63"
expect_err "Invalid argument" bash -c "$PUT" _ "$MT/top" $TOP x # as on tmpfs itself
expect_err "File too large" bash -c "$PUT" _ "$MT/top@@/rw:$WIN+2097151" 2097151 x
s sync "$MT/top@@/rw:$((TOP - 4095))+4095"
check "a snapshot keeps the last page below 2^63"
s touch "$MT/top@@/snap/s"
put "$MT/top" $((TOP - 6)) "after!"
expect_eq "$(get "$MT/top@@/snap/s" $((TOP - 6)) 6)" "wind-6" "the snapshot's last bytes below 2^63"
expect_eq "$(get "$MT/top" $((TOP - 6)) 6)" "after!" "the file's last bytes below 2^63"
mf_umount "$MT"

echo "PASS"
