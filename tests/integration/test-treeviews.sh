#!/bin/bash
# The view namespace inside tree snapshots (issue 12):
# MOUNT/.snapshots/NAME/F@@/ro:OFF+LEN through ordinary tools.
#
#   * after the live file is overwritten, extended and truncated, each
#     snapshot's F@@/ro and its windows show the snapshot's bytes: cmp and
#     xxd against dd of the same range of a copy taken with the snapshot,
#     sizes clamped to the snapshot's size as live windows are; the same
#     after the live file is removed, and after a remount;
#   * ls F@@ lists ro, cow and snap; rw names read the same bytes;
#   * F@@/snap lists the file snapshots taken before the tree snapshot
#     (by their names now: mv of one shows), which read as the copy;
#   * user.mapfs.* of views: ro/rw views and windows are mode ro,
#     coherence frozen, base the file's path in the snapshot (by its name
#     now), offset and length as live; F@@/snap/X answers as the live
#     F@@/snap/X; committed and changed are not there; getfattr -d and -n
#     agree; setfattr and setfattr -x are EROFS, logged;
#   * an open F@@/snap/X in a snapshot keeps reading X after rm of the
#     live F@@/snap/X (python holds the descriptor); its pages go at the
#     close (du of the state directory), the tree snapshot deleted first
#     or not;
#   * mmap(MAP_SHARED, PROT_READ) of a window reads the snapshot's bytes;
#   * closing views lets the daemon's descriptors for their files go;
#   * inode numbers: the views' own, none a live object's or a snapshot
#     object's; the hard links of a snapshot share their views;
#   * refusals with their errno and a log line: opens for writing (rw
#     too), creating in cow/ and snap/, rm, mv, touch of a file snapshot,
#     chmod, setfattr (EROFS); a file snapshot taken after the tree
#     snapshot, F@@ of a directory or a symlink (ENOENT); a bad window
#     (EINVAL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
C=$(mf_dir copies)
S=$M/.snapshots

# Bytes [OFF, OFF+LEN) of FILE (LEN to the end if empty), as dd gives them.
range() { # FILE OFF [LEN]
	if [ -n "${3:-}" ]; then
		dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
	else
		dd if="$1" iflag=skip_bytes skip="$2" status=none
	fi
}

# A window's number (decimal, 0x hex, K or M) in bytes, for dd.
bytes() { # NUMBER
	case $1 in
	*K) echo $((${1%K} * 1024)) ;;
	*M) echo $((${1%M} * 1048576)) ;;
	*) echo $(($1)) ;;
	esac
}

# The window OFF+LEN of NAME's f.bin@@ shows the copy taken with NAME.
same_window() { # NAME OFF [LEN]
	local v="$S/$1/f.bin@@/ro:$2${3:++$3}" len=
	[ -z "${3:-}" ] || len=$(bytes "$3")
	range "$C/$1.bin" "$(bytes "$2")" "$len" >"$MF_T/want" || fail "dd of the copy failed"
	s cmp "$v" "$MF_T/want" || fail "$v differs from the copy's bytes"
	expect_eq "$(s stat -c %s "$v")" "$(stat -c %s "$MF_T/want")" "size of $v"
}

# ------------------------------------------------------------------ setup
mkdir -p "$B/d"
head -c 3000000 /dev/urandom >"$B/f.bin"
printf 'inner bytes\n' >"$B/d/inner.bin"
ln "$B/f.bin" "$B/d/hard"
ln -s f.bin "$B/sym"
head -c 10000 /dev/urandom >"$B/gone.bin"

mf_mount "$B" "$M"
LOG=${MF_LOG_OF[$M]}

check "snapshots taken between changes of the live file"
s touch "$M/f.bin@@/snap/early" || fail "a file snapshot of f.bin failed"
s mkdir "$S/one" || fail "mkdir $S/one failed"
cp "$B/f.bin" "$C/one.bin"
cp "$B/gone.bin" "$C/gone.bin"
s touch "$M/f.bin@@/snap/late" || fail "a second file snapshot of f.bin failed"
sx 'dd if=/dev/zero of="$1/f.bin" bs=4096 seek=200 count=100 conv=notrunc status=none' "$M" ||
	fail "overwriting f.bin failed"
sx 'head -c 500000 /dev/urandom >>"$1/f.bin"' "$M" || fail "extending f.bin failed"
s mkdir "$S/two" || fail "mkdir $S/two failed"
cp "$B/f.bin" "$C/two.bin"
s truncate -s 5000 "$M/f.bin" || fail "truncating f.bin failed"
s rm "$M/gone.bin" || fail "rm gone.bin failed"
cmp -s "$M/f.bin" "$C/one.bin" && fail "the live file did not change"

check "windows show each snapshot's bytes (cmp, xxd), sized as live windows"
for n in one two; do
	same_window "$n" 1M 4K
	same_window "$n" 819200 409600          # the pages overwritten
	same_window "$n" 0x10 100
	same_window "$n" 2999000 8192           # across one's end
	same_window "$n" 1234567
	s cmp "$S/$n/f.bin@@/ro" "$C/$n.bin" || fail "$n's f.bin@@/ro differs from its copy"
	expect_eq "$(s stat -c %s "$S/$n/f.bin@@/ro")" "$(stat -c %s "$C/$n.bin")" "size of $n's f.bin@@/ro"
done
expect_eq "$(s stat -c %s "$S/one/f.bin@@/ro:5M")" 0 "size of a window past one's end"
expect_eq "$(s stat -c %s "$S/one/f.bin@@/ro:2900000+1M")" 100000 "size of a window across one's end"
expect_eq "$(s stat -c %s "$S/two/f.bin@@/ro:2900000+1M")" 600000 "size of the same window of two"
expect_eq "$(sx 'xxd -s 819200 -l 64 "$1"' "$S/one/f.bin@@/ro" | cut -c 10-)" \
	"$(range "$C/one.bin" 819200 64 | xxd | cut -c 10-)" "xxd of one's f.bin@@/ro at 800K"
expect_eq "$(sx 'xxd "$1"' "$S/one/f.bin@@/ro:800K+32")" \
	"$(range "$C/one.bin" 819200 32 | xxd)" "xxd of one's f.bin@@/ro:800K+32"
expect_eq "$(sx 'cat "$1" | od -An -tx1 | tr -d " \n"' "$S/two/f.bin@@/ro:0x1000+16")" \
	"$(range "$C/two.bin" 4096 16 | od -An -tx1 | tr -d ' \n')" "cat of two's f.bin@@/ro:0x1000+16"
s cmp "$S/one/gone.bin@@/ro:100+5000" <(range "$C/gone.bin" 100 5000) ||
	fail "a window of a file removed from the live tree differs"

check "ls F@@; rw names read the same bytes"
expect_eq "$(s ls "$S/one/f.bin@@" | tr '\n' ' ')" "cow ro snap " "ls of a snapshot's f.bin@@"
expect_eq "$(s ls -A "$S/one/f.bin@@/cow")" "" "ls of a snapshot's f.bin@@/cow"
expect_eq "$(s ls "$S/one")" "d
f.bin
gone.bin
sym" "ls of a snapshot (F@@ is not listed)"
s cmp "$S/one/f.bin@@/rw:1M+4K" "$S/one/f.bin@@/ro:1M+4K" || fail "rw:1M+4K differs from ro:1M+4K"
expect_eq "$(s stat -c %A "$S/one/f.bin@@/rw")" "-r--r--r--" "mode of rw in a snapshot"
expect_eq "$(s stat -c %A "$S/one/f.bin@@")" "dr-xr-xr-x" "mode of f.bin@@ in a snapshot"

check "F@@/snap in a tree snapshot: the file snapshots taken before it"
expect_eq "$(s ls "$S/one/f.bin@@/snap")" "early" "ls of one's f.bin@@/snap"
expect_eq "$(s ls "$S/two/f.bin@@/snap" | tr '\n' ' ')" "early late " "ls of two's f.bin@@/snap"
s cmp "$S/one/f.bin@@/snap/early" "$C/one.bin" || fail "one's f.bin@@/snap/early differs from the copy"
s cmp "$S/two/f.bin@@/snap/late:800K+400K" <(range "$C/one.bin" 819200 409600) ||
	fail "two's f.bin@@/snap/late:800K+400K differs from the copy"
expect_eq "$(s stat -c '%s %A' "$S/one/f.bin@@/snap/early:2999000+8K")" "1000 -r--r--r--" \
	"size and mode of a window of one's f.bin@@/snap/early"
expect_eq "$(s stat -c %Y "$S/one/f.bin@@/snap/early")" "$(s stat -c %Y "$M/f.bin@@/snap/early")" \
	"time of one's f.bin@@/snap/early (when it was taken)"
expect_ops ENOENT open "$S/one/f.bin@@/snap/late" rdonly
s mv "$M/f.bin@@/snap/early" "$M/f.bin@@/snap/first" || fail "renaming a file snapshot failed"
expect_eq "$(s ls "$S/one/f.bin@@/snap")" "first" "ls of one's f.bin@@/snap after a rename"
s cmp "$S/one/f.bin@@/snap/first" "$C/one.bin" || fail "one's f.bin@@/snap/first differs from the copy"
expect_ops ENOENT open "$S/one/f.bin@@/snap/early" rdonly

check "user.mapfs.* of views in a snapshot: ro and frozen, based on the snapshot's file"
xa() { s getfattr --absolute-names --only-values -n "user.mapfs.$2" "$1"; }
expect_eq "$(s getfattr --absolute-names -d -m - "$S/one/f.bin@@/ro:4K+8K")" "# file: $S/one/f.bin@@/ro:4K+8K
user.mapfs.base=\"$S/one/f.bin\"
user.mapfs.coherence=\"frozen\"
user.mapfs.length=\"8192\"
user.mapfs.mode=\"ro\"
user.mapfs.offset=\"4096\"" "getfattr -d -m - of one's f.bin@@/ro:4K+8K"
expect_eq "$(xa "$S/one/f.bin@@/rw:1M" mode) $(xa "$S/one/f.bin@@/rw:1M" offset) $(xa "$S/one/f.bin@@/rw:1M" length)" \
	"ro 1048576 1951424" "mode, offset and length of one's open-ended f.bin@@/rw:1M"
expect_eq "$(xa "$S/two/f.bin@@/ro" length)" 3500000 "user.mapfs.length of two's f.bin@@/ro"
expect_eq "$(xa "$S/one/d/inner.bin@@/ro" base)" "$S/one/d/inner.bin" "user.mapfs.base of a file in a subdirectory"
expect_eq "$(xa "$S/one/gone.bin@@/ro:100+5000" base)" "$S/one/gone.bin" \
	"user.mapfs.base of a file removed from the live tree"
s mv "$S/two" "$S/deux" || fail "renaming tree snapshot two failed"
expect_eq "$(xa "$S/deux/f.bin@@/ro" base)" "$S/deux/f.bin" "user.mapfs.base after its snapshot was renamed"
s mv "$S/deux" "$S/two" || fail "renaming tree snapshot deux back failed"
expect_err "No such attribute" getfattr -n user.mapfs.committed "$S/one/f.bin@@/ro"
expect_err "No such attribute" getfattr -n user.mapfs.pages "$S/one/f.bin@@/ro"
expect_eq "$(s getfattr --absolute-names -d -m - "$S/one/f.bin@@")" "" "getfattr -d -m - of one's f.bin@@"

check "user.mapfs.* of F@@/snap/X in a snapshot answer as the live F@@/snap/X"
expect_eq "$(s getfattr --absolute-names -d -m - "$S/one/f.bin@@/snap/first" | sed 1d | cut -d= -f1 | tr '\n' ' ')" \
	"user.mapfs.base user.mapfs.coherence user.mapfs.length user.mapfs.mode user.mapfs.offset user.mapfs.pages user.mapfs.state user.mapfs.taken  " \
	"the names getfattr -d -m - lists for one's f.bin@@/snap/first"
for k in mode coherence offset length pages taken state; do
	expect_eq "$(xa "$S/one/f.bin@@/snap/first" $k)" "$(xa "$M/f.bin@@/snap/first" $k)" \
		"user.mapfs.$k of one's f.bin@@/snap/first and the live f.bin@@/snap/first"
done
expect_eq "$(xa "$S/one/f.bin@@/snap/first" mode) $(xa "$S/one/f.bin@@/snap/first" coherence)" "snap frozen" \
	"mode and coherence of one's f.bin@@/snap/first"
expect_eq "$(xa "$S/two/f.bin@@/snap/late" pages)" "$(xa "$M/f.bin@@/snap/late" pages)" \
	"user.mapfs.pages of two's f.bin@@/snap/late and the live one"
[ "$(xa "$S/two/f.bin@@/snap/late" pages)" -gt 0 ] || fail "two's f.bin@@/snap/late holds no pages"
expect_eq "$(xa "$S/two/f.bin@@/snap/late:800K+4K" base) $(xa "$S/two/f.bin@@/snap/late:800K+4K" offset) $(xa "$S/two/f.bin@@/snap/late:800K+4K" length)" \
	"$S/two/f.bin 819200 4096" "base, offset and length of two's f.bin@@/snap/late:800K+4K"
expect_err "No such attribute" getfattr -n user.mapfs.changed "$S/one/f.bin@@/snap/first"

check "setfattr and setfattr -x on views in a snapshot: EROFS, logged"
for v in "$S/one/f.bin@@/ro:4K+8K" "$S/one/f.bin@@/snap/first"; do
	expect_err "Read-only file system" setfattr -n user.mapfs.mode -v rw "$v"
	expect_err "Read-only file system" setfattr -x user.mapfs.mode "$v"
done
expect_eq "$(xa "$S/one/f.bin@@/ro:4K+8K" mode)" ro "user.mapfs.mode after the refused setfattr"
grep -q "setxattr in .snapshots: snapshots are read-only" "$LOG" || fail "no log line for setxattr"
grep -q "removexattr in .snapshots: snapshots are read-only" "$LOG" || fail "no log line for removexattr"

check "mmap(MAP_SHARED, PROT_READ) of a window"
s python3 - "$S/one/f.bin@@/ro:800K+128K" "$C/one.bin" <<'EOF' || fail "mmap of a snapshot's window"
import mmap, sys
with open(sys.argv[1], 'rb') as f, open(sys.argv[2], 'rb') as c:
    m = mmap.mmap(f.fileno(), 131072, mmap.MAP_SHARED, mmap.PROT_READ)
    c.seek(819200)
    want = c.read(131072)
    if m[:] != want:
        sys.exit('mapped bytes differ from the copy')
    m.close()
EOF

check "inode numbers: the views' own"
inos=()
for p in "$S/one/f.bin@@" "$S/one/f.bin@@/ro" "$S/one/f.bin@@/ro:1M+4K" \
	"$S/one/f.bin@@/cow" "$S/one/f.bin@@/snap" "$S/two/f.bin@@/ro" \
	"$S/one/f.bin" "$S/one" "$S/one/d" "$M/f.bin" "$M/f.bin@@/ro" "$M/f.bin@@"; do
	inos+=("$(s stat -c %i "$p")") || fail "stat $p failed"
done
expect_eq "$(printf '%s\n' "${inos[@]}" | sort -u | wc -l)" "${#inos[@]}" \
	"distinct inode numbers among views, snapshot objects and live ones (${inos[*]})"
expect_eq "$(s stat -c %i "$S/one/d/hard@@/ro:1M+4K")" "$(s stat -c %i "$S/one/f.bin@@/ro:1M+4K")" \
	"inode of a window of a hard link's view"
s cmp "$S/one/d/hard@@/ro" "$C/one.bin" || fail "d/hard@@/ro differs from the copy"

check "refusals: EROFS for changes, ENOENT for what is not there, EINVAL for a bad window"
V=$S/one/f.bin@@
expect_ops EROFS open "$V/ro" wronly
expect_ops EROFS open "$V/rw" wronly
expect_ops EROFS open "$V/rw:1M+4K" rdwr
expect_ops EROFS open "$V/rw" rdonly,trunc
expect_ops EROFS open "$V/cow/try" wronly,creat 0644
expect_ops EROFS open "$V/snap/s1" wronly,creat 0644
expect_ops EROFS open "$V/snap/first" wronly
expect_ops EROFS rename "$V/snap/first" "$V/snap/other" none
expect_err "Read-only file system" rm -f "$V/snap/first"
expect_err "Read-only file system" touch "$V/snap/first"
expect_ops EROFS rename "$V/ro" "$V/ro2" none
expect_ops EROFS rename "$V/ro" "$M/stolen" none
expect_err "Read-only file system" rm -f "$V/ro"
expect_err "Read-only file system" chmod 644 "$V/ro"
expect_err "Read-only file system" setfattr -n user.x -v y "$V/ro"
expect_err "Read-only file system" mkdir "$V/snap/new"
expect_ops ENOENT open "$V/snap/s1" rdonly
expect_ops EINVAL open "$V/snap/first:zz" rdonly
expect_ops ENOENT open "$V/cow/try" rdonly
expect_ops ENOENT open "$V/image/mapped" rdonly
expect_ops ENOENT open "$S/one/d@@/ro" rdonly
expect_ops ENOENT open "$S/one/sym@@/ro" rdonly
expect_ops ENOENT open "$S/one/missing@@/ro" rdonly
expect_ops EINVAL open "$V/ro:zz" rdonly
expect_ops EINVAL open "$V/ro:9223372036854775807+2" rdonly
grep -q "open for writing in .snapshots: snapshots are read-only" "$LOG" ||
	fail "no log line for an open for writing: $(tail -5 "$LOG")"
grep -q "create in .snapshots: snapshots are read-only" "$LOG" ||
	fail "no log line for a create in cow/: $(tail -5 "$LOG")"
grep -q "lookup ro:zz: bad window" "$LOG" || fail "no log line for a bad window"
grep -q "lookup image: image views are not served inside a tree snapshot" "$LOG" ||
	fail "no log line for image/ in a tree snapshot"
s cmp "$V/ro" "$C/one.bin" || fail "one's f.bin changed through the refusals"

check "a view's last close lets its file's descriptors go"
# The kernel keeps the inodes it looked up; what reading them opened in
# the daemon must not stay with them (a descriptor a file).
fds() { ls "/proc/$MF_PID/fd" | wc -l; }
mkdir "$B/many"
for i in $(seq 1 60); do printf 'file %s\n' "$i" >"$B/many/f$i"; done
s mkdir "$S/three" || fail "mkdir $S/three failed"
before=$(fds)
sx 'for i in $(seq 1 60); do cat "$1/f$i@@/ro" "$1/f$i@@/rw:2" >/dev/null || exit 1; done' "$S/three/many" ||
	fail "reading 60 views in a snapshot failed"
after=$(fds)
[ "$after" -lt $((before + 20)) ] ||
	fail "the daemon holds $((after - before)) more descriptors after reading 60 views and closing them"
expect_eq "$(s cat "$S/three/many/f42@@/ro:5")" "42" "f42@@/ro:5 in a snapshot"

check "an open F@@/snap/X in a snapshot keeps reading X after rm, until closed"
# hold.py VIEW LIVE COPY STATEDIR [RMDIR]: open VIEW (a tree snapshot's
# F@@/snap/X), rm LIVE (the live F@@/snap/X) and, with RMDIR, rmdir that
# tree snapshot; without, every byte of VIEW must still read as COPY.
# After the close, X's 256 pages must leave the state directory.
cat >"$MF_T/hold.py" <<'EOF'
import os, subprocess, sys, time
view, live, copy, statedir = sys.argv[1:5]
rmdir = sys.argv[5] if len(sys.argv) > 5 else None
want = open(copy, 'rb').read()

def used():     # bytes the state directory takes on disk
    out = subprocess.run(['du', '-s', '--block-size=1', statedir],
                         check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])

fd = os.open(view, os.O_RDONLY)
if os.pread(fd, 4096, 0) != want[:4096]:
    sys.exit('the first page of the view differs before rm')
subprocess.run(['rm', live], check=True)
if os.path.exists(live):
    sys.exit('rm left the live snapshot')
if os.path.basename(view) in os.listdir(os.path.dirname(view)):
    sys.exit("the tree snapshot's F@@/snap still lists it after rm")
if rmdir:
    subprocess.run(['rmdir', rmdir], check=True)
else:
    # Every byte, through the descriptor opened before the rm (the kernel
    # cached at most what the first read brought in).
    got = b''.join(os.pread(fd, 1 << 20, off)
                   for off in range(0, len(want), 1 << 20))
    if got != want:
        sys.exit('reads after rm differ from the copy (%d bytes read)' % len(got))
    if os.fstat(fd).st_size != len(want):
        sys.exit('fstat after rm: size %d' % os.fstat(fd).st_size)
held = used()
os.close(fd)
# The release reaches the daemon after close returns: the pages go.
for _ in range(100):
    if used() <= held - 256 * 4096:
        break
    time.sleep(0.1)
else:
    sys.exit('the state directory still takes %d bytes, %d with it held open'
             % (used(), held))
EOF
head -c 2097152 /dev/urandom >"$B/held.bin"
cp "$B/held.bin" "$C/held-x.bin"
s touch "$M/held.bin@@/snap/x" || fail "a file snapshot of held.bin failed"
sx 'dd if=/dev/zero of="$1/held.bin" bs=65536 count=16 conv=notrunc status=none' "$M" ||
	fail "overwriting held.bin failed"
cp "$B/held.bin" "$C/held-y.bin"
s touch "$M/held.bin@@/snap/y" || fail "a second file snapshot of held.bin failed"
sx 'dd if=/dev/urandom of="$1/held.bin" bs=65536 count=16 conv=notrunc status=none' "$M" ||
	fail "overwriting held.bin again failed"
s mkdir "$S/four" || fail "mkdir $S/four failed"
s mkdir "$S/five" || fail "mkdir $S/five failed"
expect_eq "$(xa "$M/held.bin@@/snap/x" pages) $(xa "$M/held.bin@@/snap/y" pages)" "256 256" "pages x and y hold"
s python3 "$MF_T/hold.py" "$S/four/held.bin@@/snap/x" "$M/held.bin@@/snap/x" "$C/held-x.bin" "$B/.mapfs" ||
	fail "reading four's held.bin@@/snap/x across an rm of x"
expect_ops ENOENT open "$S/four/held.bin@@/snap/x" rdonly
expect_eq "$(s ls -A "$M/held.bin@@/snap")" "y" "ls of the live held.bin@@/snap after the close"
# The tree snapshot deleted too before the close: y goes all the same.
s python3 "$MF_T/hold.py" "$S/five/held.bin@@/snap/y" "$M/held.bin@@/snap/y" "$C/held-y.bin" "$B/.mapfs" "$S/five" ||
	fail "holding five's held.bin@@/snap/y across an rm of y and an rmdir of five"
expect_eq "$(s ls -A "$M/held.bin@@/snap")" "" "ls of the live held.bin@@/snap after the second close"

check "after a remount"
mf_umount "$M"
mf_mount "$B" "$M"
for n in one two; do
	same_window "$n" 819200 409600
	s cmp "$S/$n/f.bin@@/ro" "$C/$n.bin" || fail "$n's f.bin@@/ro differs after a remount"
done
s cmp "$S/two/f.bin@@/snap/first" "$C/one.bin" || fail "two's f.bin@@/snap/first differs after a remount"
mf_umount "$M"
echo "PASS"
