#!/bin/bash
# Views (issue 3): the F@@ view directory, rw and ro views and their windows
# F@@/MODE:OFF+LEN, used with ordinary tools (ls, stat, xxd, dd, cmp, cat,
# getfattr, truncate, chmod...) and with small C programs where one system
# call is the point (EFBIG, ENODEV, MAP_PRIVATE, two processes).
#
#   * namespace: F@@ reachable by name, hidden from readdir unless
#     -o views=visible; only for regular files; a real file "G@@" wins;
#   * names: decimal, 0x hex, K/M/G/T; bad numbers EINVAL, unknown views
#     ENOENT, paths below a view ENOTDIR;
#   * stat: size of the window that exists, the file's mode (ro: no write
#     bits) and times, one inode number per window however it is spelled;
#   * ro views refuse every change with EROFS; rw windows write inside the
#     window, extend the file up to its end, refuse EFBIG past it and EPERM
#     for truncate; the whole-file rw truncates the file; nothing can be
#     created, removed or renamed inside F@@;
#   * user.mapfs.* xattrs; the file's own xattrs unchanged;
#   * coherence: a write through any alias is read through every other one
#     at once, from another process too, whatever the kernel cached; shared
#     mmaps of the file; MAP_PRIVATE of a view works; ro views are cached
#     by the kernel (a re-read asks the daemon for nothing) and every change
#     drops what it changed from them, so MAP_SHARED of an ro view works and
#     follows the file; MAP_SHARED of an rw view fails with ENODEV
#     (documented); fsync on views;
#   * -o views=visible lists F@@ after F, and .shm and .snapshots in the
#     root.
#
# The backing file is checked against a model after every change and after
# every refused one: nothing refused may change a byte.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MF_VIEWCHECK:?MF_VIEWCHECK must name the mf-viewcheck helper}"

vc() { s "$MF_VIEWCHECK" "$@"; }
expect_vc() { # EXPECTED ARGS...
	local want=$1 got
	shift
	got=$(vc "$@") || fail "mf-viewcheck $* failed: $got"
	[ "$got" == "$want" ] || fail "mf-viewcheck $*: expected '$want', got '$got'"
}
# The bytes OFF..OFF+LEN of a file, as hex (reads the backing file or a view).
hexof() { # FILE OFF LEN
	sx 'dd if="$1" bs=65536 skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none | od -An -tx1 -v | tr -d " \n"' "$@"
}

B=$(mf_dir backing)
M=$(mf_dir mnt)
IMG_SIZE=$((4 * 1048576 + 1000))
MODEL="$MF_T/img.model"
head -c "$IMG_SIZE" /dev/urandom >"$B/img"
cp "$B/img" "$MODEL"
chmod 664 "$B/img"
printf 'abc' >"$B/x"
head -c 65536 /dev/urandom >"$B/a.bin"
cp "$B/a.bin" "$B/b.bin"
printf 'different' | dd of="$B/b.bin" conv=notrunc status=none    # bytes 0..8 differ
printf 'DIFFERENT' | dd of="$B/b.bin" bs=1 seek=9000 conv=notrunc status=none
mkdir "$B/d"
printf 'inner' >"$B/d/inner"
ln -s img "$B/l"
printf 'plain G\n' >"$B/G"
printf 'the real G@@\n' >"$B/G@@"
mkfifo "$B/fifo"
setfattr -n user.color -v blue "$B/img"
dd if=/dev/urandom of="$MF_T/patch" bs=4096 count=1 status=none

# The backing img must equal the model (every accepted change was applied
# to both; every refused one to neither).
model_ok() { # WHAT
	cmp "$B/img" "$MODEL" >/dev/null ||
		fail "$1: the backing file differs from what the accepted writes make ($(cmp "$B/img" "$MODEL" 2>&1 || true))"
}
# Apply a change to the model: data at OFF (from a file).
model_put() { # FILE OFF
	dd if="$1" of="$MODEL" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none
}

head -c "$IMG_SIZE" /dev/urandom >"$B/c"  # for the coherence rounds
NAMES=$(ls -A "$B" | grep -v '^\.mapfs$' | tr '\n' ' ')

mf_mount "$B" "$M"
LOG=${MF_LOG_OF[$M]}

# ------------------------------------------------------------- namespace

# First, before anything lists the root (so the kernel looks G@@ up by name).
check "a backing file named G@@ wins over G's view directory (and the log says so once)"
expect_eq "$(s cat "$M/G@@")" "the real G@@" "cat G@@ (a real file)"
expect_eq "$(s stat -c %F "$M/G@@")" "regular file" "type of G@@"
expect_err "Not a directory" stat "$M/G@@/rw"
sleep 1.2   # past the entry timeout: the kernel looks G@@ up again
expect_eq "$(s cat "$M/G@@")" "the real G@@" "cat G@@ again"
expect_eq "$(grep -c 'wins over the view directory' "$LOG" || true)" 1 "log lines about G@@ winning"
expect_eq "$(s cat "$M/G@@@@/ro")" "the real G@@" "G@@@@/ro, the view of the real G@@"

check "F@@ is not listed: ls, ls -a and find show the backing tree's names only"
expect_eq "$(s ls -A "$M" | grep -v '^\.mapfs$' | tr '\n' ' ')" "$(ls -A "$B" | grep -v '^\.mapfs$' | tr '\n' ' ')" \
	"ls -A of the mount (no view directories)"
expect_eq "$(s find "$M" -name '*@@*' | tr '\n' ' ')" "$M/G@@ " "names with @@ that find walks into"
expect_eq "$(s ls "$M/d")" inner "ls of a subdirectory"

check "F@@ is reachable by name: a read-only directory listing rw and ro"
expect_eq "$(s stat -c '%F %A' "$M/img@@")" "directory dr-xr-xr-x" "stat of img@@"
expect_eq "$(s ls "$M/img@@" | tr '\n' ' ')" "cow ro rw snap " "ls img@@"
expect_eq "$(s ls -U "$M/img@@" | tr '\n' ' ')" "rw ro cow snap " "ls -U img@@ (readdir order)"
expect_eq "$(s ls -U -a "$M/img@@" | tr '\n' ' ')" ". .. rw ro cow snap " "ls -U -a img@@"
expect_eq "$(s ls "$M/d/inner@@" | tr '\n' ' ')" "cow ro rw snap " "ls of the view directory of a file in a subdirectory"
sx 'cd "$1@@" && test -f rw && test -f ro && test "$(cat ro)" = abc' "$M/x" ||
	fail "cd into x@@ and reading ro by a relative name"
expect_eq "$(s stat -c %i "$M/img@@/..")" "$(s stat -c %i "$M")" "img@@/.. (the directory holding img)"

check "only regular files have a view directory: dir@@, link@@, fifo@@, missing@@ are ENOENT"
for n in d@@ l@@ fifo@@ missing@@ d/missing@@ @@; do
	expect_err "No such file or directory" stat "$M/$n"
done
expect_err "No such file or directory" ls "$M/d@@/rw"
expect_err "No such file or directory" cat "$M/l@@/ro"

check "a file with a name of 254 or 255 bytes has its views too (F@@ is longer than NAME_MAX)"
for len in 254 255; do
	long=$(head -c $len /dev/zero | tr '\0' n)
	sx 'printf long > "$1"' "$M/$long"
	expect_eq "$(s cat "$M/$long@@/ro")" long "the ro view of a file with a $len-byte name"
	sx 'printf L | dd of="$1" conv=notrunc status=none' "$M/$long@@/rw"
	s touch "$M/$long@@/snap/s"
	sx 'printf X | dd of="$1" conv=notrunc status=none' "$M/$long"
	expect_eq "$(s cat "$M/$long@@/snap/s")$(cat "$B/$long")" LongXong "a snapshot of a file with a $len-byte name, and the file"
	s rm "$M/$long@@/snap/s" "$M/$long"
done
expect_err "No such file or directory" stat "$M/$(head -c 255 /dev/zero | tr '\0' m)@@"

# ------------------------------------------------------------------ names

check "view names: rw, ro, windows in decimal, 0x hex, K/M/G/T"
for v in rw ro rw:0 ro:4096+512 ro:4K+512 ro:0x1000+512 ro:0X1000+0x200 rw:1M+4K \
	ro:1G ro:1T+1 ro:0x7fffffffffffffff ro:9223372036854775806+1 ro:0+0 rw:2G+1G; do
	s stat "$M/img@@/$v" >/dev/null || fail "stat img@@/$v failed"
done

check "bad window numbers are EINVAL"
for v in rw:-1 rw:0x rw:1Q rw:1+ rw:+1 ro: ro:4K+0x rw:1+2+3 rw:1.5K ro:1KK ro:0x \
	rw:18446744073709551616 rw:99999999999999999999999 rw:0x10000000000000000 \
	rw:16777216T ro:1+18446744073709551616 \
	rw:0x7fffffffffffffff+2 rw:4611686018427387904+4611686018427387905 ro:8E \
	rw:0+18446744073709551615 ro:1+0xffffffffffffffff rw:0x7fffffffffffffff+0xffffffffffffffff; do
	expect_err "Invalid argument" stat "$M/img@@/$v"
done
grep -q 'bad window' "$LOG" || fail "no log line for a bad window name"

check "unknown views are ENOENT; paths below a view are ENOTDIR"
for v in nope RW Rw rwx r ro+5 rw@@ .hidden; do
	expect_err "No such file or directory" stat "$M/img@@/$v"
done
expect_err "Not a directory" stat "$M/img@@/rw/foo"
expect_err "Not a directory" stat "$M/img@@/ro:4K+4K/x"
expect_err "Not a directory" ls "$M/img@@/ro/"
model_ok "after the bad names"

# ------------------------------------------------------------------- stat

check "stat of a view: size = the bytes of the window that exist"
sizes() { for v in "$@"; do printf '%s=%s ' "$v" "$(s stat -c %s "$M/img@@/$v")"; done; }
expect_eq "$(sizes rw ro ro:4096+512 rw:4M ro:4M+4K ro:4194304+1000 ro:4194304+999 ro:4195303 ro:4195304 ro:5M ro:1T+1 ro:0+0 rw:1M+4K)" \
	"rw=$IMG_SIZE ro=$IMG_SIZE ro:4096+512=512 rw:4M=1000 ro:4M+4K=1000 ro:4194304+1000=1000 ro:4194304+999=999 ro:4195303=1 ro:4195304=0 ro:5M=0 ro:1T+1=0 ro:0+0=0 rw:1M+4K=4096 " \
	"sizes of views of a $IMG_SIZE-byte file"
expect_eq "$(s stat -c %s "$M/x@@/rw:5+5")" 0 "size of x@@/rw:5+5 (x has 3 bytes)"
expect_eq "$(s wc -c <"$M/img@@/ro:4M+4K")" 1000 "bytes read from ro:4M+4K"
expect_eq "$(s wc -c <"$M/img@@/ro:5M")" 0 "bytes read from ro:5M (past the end)"

check "stat of a view: the file's mode (ro without write bits), owner, times; a regular file, 1 link"
s touch -d '2011-02-03 04:05:06.123456789' "$M/img"
expect_eq "$(s stat -c '%F|%a|%u|%g|%h|%.9Y|%.9Z' "$M/img@@/rw")" \
	"regular file|664|$(stat -c '%u|%g' "$B/img")|1|$(stat -c '%.9Y|%.9Z' "$B/img")" "stat of img@@/rw"
expect_eq "$(s stat -c '%F|%a|%u|%g|%h|%.9Y|%.9Z' "$M/img@@/ro:4K+4K")" \
	"regular file|444|$(stat -c '%u|%g' "$B/img")|1|$(stat -c '%.9Y|%.9Z' "$B/img")" "stat of img@@/ro:4K+4K"
expect_eq "$(s stat -c '%.9X|%.9Y|%.9Z' "$M/img@@/ro")" "$(stat -c '%.9X|%.9Y|%.9Z' "$B/img")" "times of img@@/ro"
s chmod 640 "$M/img"
expect_eq "$(s stat -c '%a %a' "$M/img@@/rw:1+1" "$M/img@@/ro:1+1" | tr '\n' ' ')" "640 640 440 440 " \
	"modes of rw and ro views after chmod 640 of the file"
s chmod 664 "$M/img"

check "inode numbers: one per window, the same however it is spelled, while in use"
mf_hold "$M/img@@/ro:4096+512" 512
ino() { s stat -c %i "$M/$1"; }
i_ro=$(ino img@@/ro:4096+512)
expect_eq "$(ino img@@/ro:4K+512)" "$i_ro" "st_ino of ro:4K+512 (= ro:4096+512)"
expect_eq "$(ino img@@/ro:0x1000+512)" "$i_ro" "st_ino of ro:0x1000+512 (= ro:4096+512)"
expect_eq "$(ino img@@/ro:0x1000+0x200)" "$i_ro" "st_ino of ro:0x1000+0x200 (= ro:4096+512)"
expect_eq "$(ino img@@/ro:4096+512)" "$i_ro" "st_ino of ro:4096+512, again"
# All looked up by one stat(1), so all in use at once.
all=$(sx 'cd "$1" && stat -c %i img img@@ img@@/rw img@@/ro img@@/rw:4096+512 img@@/ro:4096+513 img@@/ro:4096 \
	img@@/ro:4095+512 img@@/rw:1 img@@/ro:1 a.bin@@/ro b.bin@@/ro x@@/ro' "$M")
expect_eq "$(printf '%s\n' "$i_ro" $all | sort -u | wc -l)" 14 \
	"distinct st_ino of 14 distinct files, view directories and views ($(echo $all))"
mf_release
expect_eq "$MF_HOLD_OUT" 512 "bytes the holding process read from ro:4096+512"

# --------------------------------------------------------------- ro views

check "ro views refuse every change with EROFS"
for v in ro ro:0x1BE+64 ro:1M; do
	f="$M/img@@/$v"
	expect_err "Read-only file system" bash -c 'echo x > "$1"' _ "$f"
	expect_err "Read-only file system" bash -c 'echo x >> "$1"' _ "$f"
	expect_err "Read-only file system" truncate -s 0 "$f"
	expect_err "Read-only file system" truncate -s 10M "$f"
	expect_err "Read-only file system" chmod 600 "$f"
	expect_err "Read-only file system" chown 1:1 "$f"
	expect_err "Read-only file system" setfattr -n user.a -v b "$f"
	expect_err "Read-only file system" setfattr -x user.mapfs.mode "$f"
	expect_err "Read-only file system" touch -d 2001-01-01 "$f"
	expect_err "Read-only file system" dd if="$MF_T/patch" of="$f" conv=notrunc status=none
	expect_ops EROFS open "$f" wronly
	expect_ops EROFS open "$f" rdwr
	expect_ops EROFS open "$f" rdonly,trunc
	expect_ops EROFS open "$f" wronly,append
	expect_ops OK open "$f" rdonly
done
grep -q 'read-only view' "$LOG" || fail "no log line for a refused write to an ro view"
model_ok "after the refused changes to ro views"
[ "$(stat -c '%Y' "$B/img")" -eq "$(date -d '2011-02-03 04:05:06' +%s)" ] ||
	fail "the refused changes moved img's mtime to $(stat -c %y "$B/img")"

# --------------------------------------------------------------- rw views

check "rw windows: dd conv=notrunc writes inside the window"
s dd if="$MF_T/patch" of="$M/img@@/rw:1M+4K" conv=notrunc status=none
model_put "$MF_T/patch" 1048576
model_ok "after dd of a 4 KiB patch into img@@/rw:1M+4K"
printf 'XYZ' >"$MF_T/xyz"
s dd if="$MF_T/xyz" of="$M/img@@/rw:0x100001+0x10" bs=1 seek=13 conv=notrunc status=none
model_put "$MF_T/xyz" $((0x100001 + 13))
model_ok "after dd of 3 bytes at the last 3 bytes of rw:0x100001+0x10"
expect_vc OK pwrite "$M/img@@/rw:2M+10" 0 0123456789
printf 0123456789 >"$MF_T/digits"
model_put "$MF_T/digits" $((2 * 1048576))
model_ok "after a pwrite filling rw:2M+10"

check "rw windows: a write reaching past the window's end is EFBIG and changes nothing"
expect_vc EFBIG pwrite "$M/img@@/rw:2M+10" 1 0123456789
expect_vc EFBIG pwrite "$M/img@@/rw:2M+10" 10 x
expect_vc EFBIG pwrite "$M/img@@/rw:2M+10" 1000000 x
expect_vc EFBIG pwrite-fill "$M/img@@/rw:1M+4K" 4090 10
expect_vc EFBIG pwrite-fill "$M/img@@/rw:1M+4K" 0 4097
expect_vc EFBIG pwrite-fill "$M/img@@/rw:1M+64K" 4096 131072
expect_err "File too large" dd if="$MF_T/patch" of="$M/img@@/rw:1M+4000" bs=4096 conv=notrunc status=none
expect_err "File too large" bash -c 'printf 12345678901 >> "$1"' _ "$M/img@@/rw:0+10"
grep -q "past the view's window" "$LOG" || fail "no log line for a write past a window"
model_ok "after the refused writes past windows"

check "rw windows: truncate is EPERM (and O_TRUNC); chmod, chown, setfattr are EPERM"
for v in rw:1M+4K rw:0 rw:0+$IMG_SIZE; do
	f="$M/img@@/$v"
	expect_err "Operation not permitted" truncate -s 0 "$f"
	expect_err "Operation not permitted" truncate -s 1000 "$f"
	expect_err "Operation not permitted" bash -c 'echo x > "$1"' _ "$f"
	expect_ops EPERM open "$f" wronly,trunc
	expect_err "Operation not permitted" chmod 600 "$f"
	expect_err "Operation not permitted" chown 1:1 "$f"
	expect_err "Operation not permitted" setfattr -n user.a -v b "$f"
done
expect_err "Operation not permitted" chmod 600 "$M/img@@/rw"
expect_err "Operation not permitted" chown 1:1 "$M/img@@/rw"
model_ok "after the refused truncates and metadata changes of rw views"
expect_eq "$(stat -c %a "$B/img")" 664 "mode of img after chmod of its views was refused"

check "nothing is created, removed or renamed inside F@@ (EPERM)"
expect_err "Operation not permitted" touch "$M/img@@/new"
expect_err "Operation not permitted" bash -c 'echo x > "$1"' _ "$M/img@@/new2"
expect_err "Operation not permitted" mkdir "$M/img@@/dir"
expect_err "Operation not permitted" ln -s img "$M/img@@/sym"
expect_err "Operation not permitted" ln "$M/x" "$M/img@@/hard"
expect_err "Operation not permitted" mknod "$M/img@@/p" p
expect_err "Operation not permitted" rm "$M/img@@/rw"
expect_err "Operation not permitted" rm "$M/img@@/ro:4K+4K"
expect_err "Operation not permitted" mv "$M/img@@/rw" "$M/img@@/rw2"
expect_err "Operation not permitted" mv "$M/x" "$M/img@@/x"
expect_err "Operation not permitted" cp "$M/x" "$M/img@@/"
expect_ops EPERM open "$M/img@@/new3" wronly,creat
model_ok "after the refused changes inside img@@"
expect_eq "$(s ls -U "$M/img@@" | tr '\n' ' ')" "rw ro cow snap " "ls -U img@@ after the refused changes"
expect_eq "$(ls -A "$B" | grep -v '^\.mapfs$' | tr '\n' ' ')" "$NAMES" "names in the backing dir after the refused changes inside img@@"

check "rw windows extend the file up to the window's end; stat of the file follows at once"
printf '0123456789' >"$B/t"
expect_eq "$(s stat -c %s "$M/t")" 10 "size of t (cached by the kernel now)"
expect_vc OK pwrite "$M/t@@/rw:50+1000" 500 END
expect_eq "$(s stat -c %s "$M/t")" 553 "size of t right after a write at 550 through rw:50+1000"
expect_eq "$(s stat -c %s "$M/t@@/rw:50+1000")" 503 "size of t@@/rw:50+1000 after it extended the file"
expect_eq "$(s stat -c %s "$M/t@@/ro")" 553 "size of t@@/ro after the extension"
expect_eq "$(hexof "$M/t" 10 540 | tr -d 0)" "" "the bytes between the old end and the write read as zeros"
expect_eq "$(s tail -c 3 "$M/t")" END "the last bytes of t"
expect_vc EFBIG pwrite "$M/t@@/rw:50+1000" 998 XYZ
expect_vc OK pwrite "$M/t@@/rw:50+1000" 997 XYZ
expect_eq "$(s stat -c %s "$M/t")" 1050 "size of t after a write ending at the window's end"
expect_vc EFBIG pwrite "$M/t@@/rw:50+1000" 1000 Q
expect_eq "$(stat -c %s "$B/t")" 1050 "backing size of t after a refused write at the window's end"

check "x@@/rw:5+5 on a 3-byte file: size 0, reads EOF; 1 byte at 0 makes 6 bytes; at 5 EFBIG"
expect_eq "$(s stat -c %s "$M/x@@/rw:5+5")" 0 "size of x@@/rw:5+5"
expect_eq "$(s cat "$M/x@@/rw:5+5" | wc -c)" 0 "bytes read from x@@/rw:5+5"
expect_vc EFBIG pwrite "$M/x@@/rw:5+5" 5 Q
expect_eq "$(stat -c %s "$B/x")" 3 "x after a write at offset 5 of rw:5+5 was refused"
expect_vc OK pwrite "$M/x@@/rw:5+5" 0 Q
expect_eq "$(s stat -c %s "$M/x")" 6 "size of x after 1 byte at view offset 0 of rw:5+5"
expect_eq "$(hexof "$M/x" 0 6)" 616263000051 "bytes of x after the write (a b c 0 0 Q)"
expect_eq "$(hexof "$B/x" 0 6)" 616263000051 "backing bytes of x after the write"
expect_eq "$(s stat -c %s "$M/x@@/rw:5+5")" 1 "size of x@@/rw:5+5 now"

check "the whole-file rw view: truncate and O_TRUNC truncate the file; writes extend it"
printf 'hello, world\n' >"$B/w"
s truncate -s 5 "$M/w@@/rw"
expect_eq "$(s cat "$M/w")" hello "w after truncate -s 5 of w@@/rw"
s truncate -s 100000 "$M/w@@/rw"
expect_eq "$(s stat -c %s "$M/w")" 100000 "size of w after truncate -s 100000 of w@@/rw"
sx 'echo replaced > "$1"' "$M/w@@/rw"
expect_eq "$(s cat "$M/w")" replaced "w after echo replaced > w@@/rw"
sx 'echo more >> "$1"' "$M/w@@/rw"
expect_eq "$(s cat "$M/w")" "replaced
more" "w after echo more >> w@@/rw"
expect_vc OK pwrite "$M/w@@/rw" 1000000 tail
expect_eq "$(s stat -c %s "$M/w")" 1000004 "size of w after a write at 1000000 through w@@/rw"
expect_eq "$(s stat -c %s "$M/w@@/ro")" 1000004 "size of w@@/ro"

# ----------------------------------------------------------------- xattrs

check "getfattr -d -m - on views: user.mapfs.mode, coherence, base, committed, offset, length"
expect_eq "$(s getfattr --absolute-names -d -m - "$M/img@@/rw:1M+4K")" "# file: $M/img@@/rw:1M+4K
user.mapfs.base=\"$M/img\"
user.mapfs.coherence=\"shared\"
user.mapfs.committed=\"4096\"
user.mapfs.length=\"4096\"
user.mapfs.mode=\"rw\"
user.mapfs.offset=\"1048576\"" "getfattr -d -m - img@@/rw:1M+4K"
xa() { s getfattr --absolute-names --only-values -n "user.mapfs.$2" "$1"; }
expect_eq "$(xa "$M/img@@/ro:0x1BE+64" mode)" ro "user.mapfs.mode of ro:0x1BE+64"
expect_eq "$(xa "$M/img@@/ro:0x1BE+64" offset)" 446 "user.mapfs.offset of ro:0x1BE+64"
expect_eq "$(xa "$M/img@@/ro:0x1BE+64" length)" 64 "user.mapfs.length of ro:0x1BE+64"
expect_eq "$(xa "$M/img@@/ro:0x1BE+64" coherence)" shared "user.mapfs.coherence of ro:0x1BE+64"
expect_eq "$(xa "$M/img@@/rw" offset) $(xa "$M/img@@/rw" length)" "0 $IMG_SIZE" "offset and length of img@@/rw"
expect_eq "$(xa "$M/img@@/ro:4M" length)" 1000 "user.mapfs.length of the open-ended ro:4M"
expect_eq "$(xa "$M/img@@/ro:1T+4K" offset) $(xa "$M/img@@/ro:1T+4K" length)" "1099511627776 4096" \
	"offset and length of ro:1T+4K"
expect_eq "$(xa "$M/d/inner@@/ro" base)" "$M/d/inner" "user.mapfs.base of a file in a subdirectory"
s mv "$M/a.bin" "$M/d/moved.bin"
expect_eq "$(xa "$M/d/moved.bin@@/ro" base)" "$M/d/moved.bin" "user.mapfs.base after the file was renamed"
s mv "$M/d/moved.bin" "$M/a.bin"
expect_err "No such attribute" getfattr -n user.mapfs.nope "$M/img@@/ro"
expect_err "No such attribute" getfattr -n user.color "$M/img@@/ro"

check "the file's own xattrs pass through unchanged"
expect_eq "$(s getfattr --absolute-names -d -m - "$M/img")" "# file: $M/img
user.color=\"blue\"" "getfattr -d -m - img"
s setfattr -n user.size -v large "$M/img"
expect_eq "$(getfattr --absolute-names --only-values -n user.size "$B/img")" large "user.size set on img through the mount, in the backing file"
s setfattr -x user.size "$M/img"
expect_eq "$(s getfattr --absolute-names --only-values -n user.color "$M/img")" blue "user.color of img"
expect_err "No such attribute" getfattr -n user.mapfs.mode "$M/img"

# ------------------------------------------------------------------ tools

check "xxd, dd, cmp, cat, head, tail, wc, sha256sum through views agree with the backing file"
expect_eq "$(s xxd "$M/img@@/ro:0x1BE+64")" "$(dd if="$B/img" bs=1 skip=446 count=64 status=none | xxd)" \
	"xxd img@@/ro:0x1BE+64"
expect_eq "$(s xxd -p -s 0x10 -l 32 "$M/img@@/ro:0x1BE+64")" "$(xxd -p -s 0x1CE -l 32 "$B/img")" \
	"xxd -p -s 0x10 -l 32 img@@/ro:0x1BE+64"
s cmp "$M/img@@/ro" "$B/img" || fail "cmp img@@/ro with the backing file"
s cmp "$M/img@@/rw" "$B/img" || fail "cmp img@@/rw with the backing file"
s cmp "$M/img@@/ro:1M+4K" <(dd if="$MODEL" bs=4K skip=256 count=1 status=none) ||
	fail "img@@/ro:1M+4K is not what was written there"
s cmp "$M/a.bin@@/ro:4K+4K" "$M/b.bin@@/ro:4K+4K" || fail "cmp a.bin@@/ro:4K+4K b.bin@@/ro:4K+4K"
for w in 0+4K 8K+4K 8999+2; do
	rc=0
	s cmp -s "$M/a.bin@@/ro:$w" "$M/b.bin@@/ro:$w" || rc=$?
	[ "$rc" -eq 1 ] || fail "cmp a.bin@@/ro:$w b.bin@@/ro:$w: status $rc, expected 1 (they differ)"
done
expect_eq "$(s cat "$M/img@@/ro:3M+200K" | sha256sum)" \
	"$(dd if="$B/img" bs=1K skip=3072 count=200 status=none | sha256sum)" "cat img@@/ro:3M+200K"
expect_eq "$(s sha256sum <"$M/img@@/ro:4M")" "$(tail -c 1000 "$B/img" | sha256sum)" "sha256sum of img@@/ro:4M"
expect_eq "$(s head -c 100 "$M/img@@/ro:0x123+0x456" | sha256sum)" \
	"$(dd if="$B/img" bs=1 skip=$((0x123)) count=100 status=none | sha256sum)" "head -c 100 of ro:0x123+0x456"
expect_eq "$(s tail -c 100 "$M/img@@/ro:0x123+0x456" | sha256sum)" \
	"$(dd if="$B/img" bs=1 skip=$((0x123 + 0x456 - 100)) count=100 status=none | sha256sum)" "tail -c 100 of ro:0x123+0x456"
expect_eq "$(s dd if="$M/img@@/rw:1M" bs=4K skip=1 count=3 status=none | sha256sum)" \
	"$(dd if="$B/img" bs=4K skip=257 count=3 status=none | sha256sum)" "dd skip=1 of rw:1M"
s cp "$M/img@@/ro:100+70000" "$MF_T/copied"
expect_eq "$(sha256sum <"$MF_T/copied")" "$(dd if="$B/img" bs=100 skip=1 count=700 status=none | sha256sum)" \
	"cp of img@@/ro:100+70000"

check "sync and fsync(2) on views return 0"
s sync "$M/img@@/rw:1M+64K" || fail "sync img@@/rw:1M+64K"
s sync "$M/img@@/ro:1M+64K" || fail "sync img@@/ro:1M+64K"
s sync "$M/img@@/rw" || fail "sync img@@/rw"
s sync "$M/x@@/rw:5+5" || fail "sync x@@/rw:5+5"
expect_vc OK fsync "$M/img@@/rw:1M+64K" rdwr
expect_vc OK fsync "$M/img@@/rw" rdwr
expect_vc OK fsync "$M/img@@/ro:0x1BE+64" rdonly
expect_vc OK fsync "$M/img@@/ro:1T" rdonly

# -------------------------------------------------------------- coherence

check "write(2) through one alias, read(2) through another in another process, the old bytes cached"
F=$M/c
R=$((1048576 + 100))    # file offset of the bytes the rounds write
# writer (path, offset) -> reader (path, offset); the reader read first.
expect_vc OK xproc "$F@@/rw:1M+64K" 100 "$F" "$R" 5000 read 16
expect_vc OK xproc "$F@@/rw" "$R" "$F" "$R" 5000 read 16
expect_vc OK xproc "$F" "$R" "$F@@/ro:1M+64K" 100 5000 read 16
expect_vc OK xproc "$F" "$R" "$F@@/ro" "$R" 5000 read 16
expect_vc OK xproc "$F@@/rw:1M" 100 "$F@@/ro:1000K" $((R - 1024000)) 5000 read 16
expect_vc OK xproc "$F@@/rw:1020K+40K" $((R - 1044480)) "$F@@/rw:0x100000+0x10000" 100 5000 read 16
expect_vc OK xproc "$F@@/rw:0x100064+5000" 0 "$F@@/ro:1M+64K" 100 5000 read 16
expect_vc OK xproc "$F@@/rw:1M+64K" 100 "$F@@/rw:1M+64K" 100 5000 read 16
# straddling the daemon's 1 MiB windows and a page boundary
expect_vc OK xproc "$F@@/rw:1040000+20000" 8000 "$F" 1048000 3000 read 16
expect_vc OK xproc "$F" 1048000 "$F@@/ro:1047000+5000" 1000 3000 read 16

check "write(2) through a view is seen through another process's MAP_SHARED mapping of the file"
expect_vc OK xproc "$F@@/rw:1M+64K" 100 "$F" "$R" 5000 mmap 16
expect_vc OK xproc "$F@@/rw" 2093000 "$F" 2093000 12000 mmap 16
expect_vc OK xproc "$F" "$R" "$F" "$R" 5000 mmap 16

check "a write through a view that extends the file is read at once by a process holding the file open"
printf 'short' >"$B/grow"
expect_vc OK xproc "$M/grow@@/rw:0+1M" 10000 "$M/grow" 10000 3000 read 8
expect_eq "$(s stat -c %s "$M/grow")" 13000 "size of grow after the rounds"

check "in one shell: cat caches the file, dd writes through a view, cat sees it"
mf_hold "$F" "$IMG_SIZE"        # keeps c open, its pages cached
s cat "$F" >/dev/null
head -c 4096 /dev/urandom >"$MF_T/patch2"
s dd if="$MF_T/patch2" of="$F@@/rw:3M+4K" conv=notrunc status=none
s cmp -i $((3 * 1048576)):0 -n 4096 "$F" "$MF_T/patch2" || fail "cmp of c after dd through c@@/rw:3M+4K shows the old bytes"
s dd if="$MF_T/patch" of="$F" bs=4K seek=768 conv=notrunc status=none
s cmp "$F@@/ro:3M+4K" "$MF_T/patch" || fail "c@@/ro:3M+4K after dd into c shows the old bytes"
mf_release

check "mmap(MAP_SHARED) of the file: stores seen at once by another process's mapping, and through ro views after msync"
expect_vc OK mmap-views "$F" "$R" "$F@@/ro:1M+64K" 100 5000 16
expect_vc OK mmap-views "$F" 1048000 "$F@@/ro" 1048000 3000 16
expect_vc OK mmap-views "$F" 2000 "$F@@/rw:1000+5000" 1000 3000 16
expect_vc OK mmap "$F" shared rdwr 8192
expect_vc OK mmap "$F" shared rdonly 8192

check "MAP_PRIVATE mmap of a view reads the view's bytes (and private stores stay private)"
expect_vc OK mmap "$F@@/ro:4K+8K" private rdonly 8192 "$MF_T/priv1"
s cmp "$MF_T/priv1" <(dd if="$B/c" bs=4K skip=1 count=2 status=none) || fail "MAP_PRIVATE of c@@/ro:4K+8K"
expect_vc OK mmap "$F@@/rw:100+5000" private rdwr 5000 "$MF_T/priv2"
s cmp "$MF_T/priv2" <(dd if="$B/c" bs=100 skip=1 count=50 status=none) || fail "MAP_PRIVATE of c@@/rw:100+5000"
expect_vc OK mmap "$F@@/ro" private rdonly "$IMG_SIZE" "$MF_T/priv3"
s cmp "$MF_T/priv3" "$B/c" || fail "MAP_PRIVATE of c@@/ro"
expect_vc OK mmap "$M/x@@/ro:1" private rdonly 5 "$MF_T/priv4"
expect_eq "$(od -An -tx1 "$MF_T/priv4" | tr -d ' \n')" 6263000051 "MAP_PRIVATE of x@@/ro:1"

check "MAP_SHARED mmap of an rw view fails with ENODEV (rw views are served without the page cache)"
expect_vc ENODEV mmap "$F@@/rw" shared rdwr 4096
expect_vc ENODEV mmap "$F@@/rw" shared rdonly 4096
expect_vc ENODEV mmap "$F@@/rw:1M+64K" shared rdwr 4096

check "MAP_SHARED mmap of an ro view works, and a write through any alias shows in it at once, from another process"
expect_vc OK mmap "$F@@/ro" shared rdonly 4096
expect_vc OK mmap "$F@@/ro:4K+4K" shared rdonly 4096
expect_vc OK xproc "$F" "$R" "$F@@/ro:1M+64K" 100 5000 mmap 16
expect_vc OK xproc "$F@@/rw:1M+64K" 100 "$F@@/ro" "$R" 5000 mmap 16
expect_vc OK xproc "$F@@/rw" 1048000 "$F@@/ro:1047000+5000" 1000 3000 mmap 16

check "ro views are cached: a second read asks the daemon for nothing"
head -c 65536 /dev/urandom >"$B/rc"
s cat "$M/rc@@/ro:4K+32K" >/dev/null
before=$(mf_stat_key "$M" bytes_read)
s cmp "$M/rc@@/ro:4K+32K" <(dd if="$B/rc" bs=4K skip=1 count=8 status=none) || fail "second read of rc@@/ro:4K+32K"
expect_eq "$(mf_stat_key "$M" bytes_read)" "$before" "bytes the daemon read for a second cat of rc@@/ro:4K+32K"

check "every change through the mount drops what it changed from cached ro views, open or closed"
cmp_rc() { # WHAT: the mount's ro views of rc against the backing file
	s cmp "$M/rc@@/ro" "$B/rc" || fail "rc@@/ro after $1"
	s cmp "$M/rc@@/ro:4K+32K" <(dd if="$B/rc" bs=4K skip=1 count=8 status=none) ||
		fail "rc@@/ro:4K+32K after $1"
}
cache_rc() { s cat "$M/rc@@/ro" "$M/rc@@/ro:4K+32K" >/dev/null; }
cache_rc
s dd if="$MF_T/patch" of="$M/rc" bs=4K seek=2 conv=notrunc status=none
cmp_rc "dd into rc (ro views closed)"
mf_hold "$M/rc@@/ro:4K+32K" 32768   # open, its pages cached
cache_rc
printf 'VIEWWRITE' | s dd of="$M/rc@@/rw:8K+4K" bs=1 seek=7 conv=notrunc status=none
cmp_rc "a write through rc@@/rw:8K+4K (one ro view open)"
cache_rc
s fallocate -p -o 12288 -l 4096 "$M/rc"
cmp_rc "fallocate --punch-hole on rc"
cache_rc
s truncate -s 20000 "$M/rc"
expect_eq "$(s stat -c %s "$M/rc@@/ro:4K+32K")" $((20000 - 4096)) "size of rc@@/ro:4K+32K after truncate"
cmp_rc "truncate -s 20000 rc"
cache_rc
s truncate -s 30000 "$M/rc@@/rw"
cmp_rc "truncate -s 30000 rc@@/rw"
cache_rc
head -c 40000 /dev/urandom >"$MF_T/new-rc"
s cp "$MF_T/new-rc" "$M/rc"     # O_TRUNC, then writes
cmp_rc "cp over rc"
cache_rc
s touch "$M/rc@@/cow/c1"
printf 'COW' | s dd of="$M/rc@@/cow/c1" bs=1 seek=5000 conv=notrunc status=none
s mv "$M/rc@@/cow/c1" "$M/rc"
cmp_rc "a commit of rc@@/cow/c1"
mf_release
s cmp "$F" "$B/c" || fail "after the coherence rounds, c differs between the mount and the backing dir"
model_ok "at the end"
mf_alive "$M"

# Finer points (attributes and O_APPEND across aliases, dirty mmap pages
# against view writes, the view directory's own name, -o views=visible):
# last, so that a failure among them does not hide the results above.

check "touch of F@@/rw sets the file's times, and stat of the file shows them at once"
printf 'hello, world\n' >"$B/w2"
expect_eq "$(s stat -c %s "$M/w2")" 13 "size of w2 (its attributes cached by the kernel now)"
s touch -d '2012-03-04 05:06:07' "$M/w2@@/rw"
expect_eq "$(stat -c %Y "$B/w2")" "$(date -d '2012-03-04 05:06:07' +%s)" "backing mtime of w2 after touch of w2@@/rw"
expect_eq "$(s stat -c %Y "$M/w2")" "$(date -d '2012-03-04 05:06:07' +%s)" "mtime of w2 (through the mount) right after touch of w2@@/rw"

check "a page dirtied through a MAP_SHARED mapping of the file does not undo a later write(2) through a view"
for v in "rw 0" "rw:0+4K 0" "rw:0x40+100 64" "rw:100+1 100"; do
	read -r view start <<<"$v"
	printf '%4096s' '' >"$B/md"
	expect_vc OK mmap-dirty "$M/md" "$M/md@@/$view" "$start"
done

check "O_APPEND writes through descriptors of two aliases both land at the end"
for pair in "ap1 ap1@@/rw" "ap2@@/rw ap2" "ap3@@/rw:0+1M ap3@@/rw" "ap4 ap4@@/rw:0+1M"; do
	read -r held other <<<"$pair"
	printf 'start\n' >"$B/${held%%@@*}"
	expect_vc OK append-alias "$M/$held" "$M/$other"
	expect_eq "$(cat "$B/${held%%@@*}" | tr '\n' ' ')" "start other held " \
		"file after appending through $other, then through an O_APPEND descriptor of $held opened before"
done

check "the view directory itself cannot be removed or renamed (EPERM)"
expect_err "Operation not permitted" rmdir "$M/img@@"
expect_err "Operation not permitted" mv "$M/img@@" "$M/elsewhere"
expect_eq "$(s stat -c %F "$M/img@@")" directory "img@@ after the refused rmdir and mv"

mf_umount "$M"

check "-o views=visible: F@@ is listed after F, for regular files only, and a real G@@ once"
M2=$(mf_dir mnt2)
mf_mount "$B" "$M2" -o views=visible
want=$( (echo .shm; echo .snapshots; ls -A "$B" | grep -v '^\.mapfs$' | while read -r n; do
	echo "$n"
	if [ -f "$B/$n" ] && [ ! -L "$B/$n" ] && [ ! -e "$B/$n@@" ]; then echo "$n@@"; fi
done) | sort)
expect_eq "$(s ls -A "$M2" | sort)" "$want" "ls -A with -o views=visible"
got=$(s ls -U "$M2" | tr '\n' ' ')
for n in a.bin img x; do
	[[ " $got" == *" $n $n@@ "* ]] || fail "ls -U with -o views=visible: $n@@ does not follow $n: $got"
done
expect_eq "$(s ls -A "$M2" | grep -cx 'G@@')" 1 "times G@@ is listed with -o views=visible"
expect_eq "$(s stat -c %F "$M2/img@@")" directory "type of img@@ with -o views=visible"
expect_eq "$(s find "$M2/d" -mindepth 1 | sort | tr '\n' ' ')" "$M2/d/inner $M2/d/inner@@ $M2/d/inner@@/cow $M2/d/inner@@/ro $M2/d/inner@@/rw $M2/d/inner@@/snap " \
	"find in d with -o views=visible"
mf_umount "$M2"

echo "PASS"
