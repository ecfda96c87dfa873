#!/bin/bash
# Snapshots (issue 4, points 1, 3, 4, 7, 8): F@@/snap/NAME, used with
# ordinary tools.
#
#   * touch takes one; ls -l lists it with the file's size when taken, the
#     time taken and the file's mode without write bits; user.mapfs.*
#     (mode=snap, coherence=frozen, pages, taken, state=intact);
#   * frozen: after writes, truncation, extension, fallocate punch hole,
#     copy_file_range into the file (from another file and from itself),
#     mmap stores written back, writes through rw views, O_TRUNC rewrite,
#     rename of the file through the mount (into another directory too)
#     and a remount, the snapshot reads exactly the copy taken with it (and
#     its windows F@@/snap/NAME:OFF+LEN the same bytes);
#   * read-only: every change is EROFS (write, open for write or O_TRUNC,
#     truncate, chmod, chown, setfattr, utimes) and changes nothing in the
#     backing file or the state directory; touch of an existing snapshot
#     succeeds and changes nothing;
#   * mv renames (EEXIST over another, nothing lost); rm deletes;
#   * the chain: several snapshots with changes between them each equal
#     their copy, also after deleting one in the middle, the oldest and the
#     newest, and after a remount;
#   * bad input: names that are empty, ".", "..", hidden, with ':' or '/',
#     over NAME_MAX; an existing name (O_EXCL, mapfsctl); snapshots of
#     directories and of missing files: precise errors, nothing changed;
#   * space: with a snapshot of a 256 MiB file live, rewriting 1% of its
#     pages grows the state directory by about 1% (not 256 MiB), and the
#     snapshot holds exactly the pages rewritten; ten snapshots live cost
#     no more than one; a snapshot of a 1 TiB sparse file costs nothing,
#     and truncating a sparse 8 GiB file with a snapshot live costs what
#     its data costs, not its size;
#   * metadata changes through the mount (chmod, mv, setfattr, ln) right
#     after a remount leave snapshots intact; a write behind the mount makes
#     them say "damaged" at once (xattr, mapfsctl) and refuse reads (EIO);
#   * a file removed, or replaced by a rename (sed -i), keeps its snapshots
#     under its path; a new file that gets an old inode number shows none.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MF_CRASH:?MF_CRASH must name the mf-crash helper}"
: "${MAPFSCTL:?MAPFSCTL must name mapfsctl}"

RANDOM=4   # the same "random" offsets on every run

B=$(mf_dir backing)
M=$(mf_dir mnt)
SM=$(mf_dir snapmodels)   # the copy taken with each snapshot
FMODEL="$MF_T/img.model"  # what img must hold: every change applied here too
IMG_SIZE=$((1048576 + 1000))
head -c "$IMG_SIZE" /dev/urandom >"$B/img"
chmod 664 "$B/img"
head -c 300000 /dev/urandom >"$B/other"
mkdir "$B/d" "$B/sub"
ln -s img "$B/link"
cp "$B/img" "$FMODEL"

mf_mount "$B" "$M"

# ------------------------------------------------------------------ helpers

# The state directory's names and bytes, and the backing file: a refused
# change must leave both as they were.
state_sum() {
	(cd "$B/.mapfs" && find . -path ./lock -prune -o -print0 | LC_ALL=C sort -z |
		xargs -0 -r sh -c 'for f; do if [ -f "$f" ]; then printf "%s " "$f"; sha256sum <"$f"; else echo "$f"; fi; done' sh) |
		sha256sum
}
tree_sum() { # FILE...
	printf '%s\n' "$(state_sum)" "$(cat "$@" | sha256sum)"
}
model_ok() { # WHAT
	cmp "$B/img" "$FMODEL" >/dev/null ||
		fail "$1: img differs from what the changes make ($(cmp "$B/img" "$FMODEL" 2>&1 || true))"
}
# snap_ok FILE NAME MODEL WHAT: the snapshot reads exactly MODEL, and stat
# says MODEL's size.
snap_ok() {
	local f=$1 n=$2 model=$3 what=$4
	s cmp "$M/$f@@/snap/$n" "$model" ||
		fail "$what: snapshot $f@@/snap/$n differs from the copy taken with it"
	expect_eq "$(s stat -c %s "$M/$f@@/snap/$n")" "$(stat -c %s "$model")" \
		"$what: size of $f@@/snap/$n"
}
# put SRC OFF: write SRC at OFF into img through the mount and into the model.
put() {
	s dd if="$1" of="$M/img" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none ||
		fail "writing $(stat -c %s "$1") bytes at $2 into img"
	dd if="$1" of="$FMODEL" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none
}
patch_of() { # LEN -> a file of LEN random bytes
	head -c "$1" /dev/urandom >"$MF_T/patch"
	echo "$MF_T/patch"
}
hexof() { # FILE OFF LEN
	sx 'dd if="$1" bs=65536 skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none | od -An -tx1 -v | tr -d " \n"' "$@"
}
xattr() { # PATH NAME
	s getfattr --absolute-names --only-values -n "$2" "$1"
}

# ------------------------------------------------------------------ basics

check "no snapshots at first: F@@/snap lists nothing"
expect_eq "$(s ls -A "$M/img@@/snap")" "" "ls -A img@@/snap"

check "touch F@@/snap/NAME takes a snapshot: ls -l shows its size, mode and time"
t0=$(date +%s)
s touch "$M/img@@/snap/s1" || fail "touch img@@/snap/s1"
t1=$(date +%s)
cp "$B/img" "$SM/s1"
expect_eq "$(s ls "$M/img@@/snap")" "s1" "ls img@@/snap"
read -r mode size mtime name < <(s ls -l --time-style=+%s "$M/img@@/snap" | awk 'NR > 1 { print $1, $5, $6, $7 }')
expect_eq "$mode" "-r--r--r--" "mode of the snapshot of a 664 file"
expect_eq "$size" "$IMG_SIZE" "size of the snapshot"
expect_eq "$name" "s1" "name in ls -l"
[ "$mtime" -ge "$t0" ] && [ "$mtime" -le "$t1" ] ||
	fail "mtime of the snapshot is $mtime, not the time it was taken ($t0..$t1)"
expect_eq "$(s stat -c %Z "$M/img@@/snap/s1")" "$mtime" "ctime of the snapshot (time taken)"
snap_ok img s1 "$SM/s1" "right after taking it"

check "user.mapfs.* of a snapshot"
expect_eq "$(xattr "$M/img@@/snap/s1" user.mapfs.mode)" snap "user.mapfs.mode"
expect_eq "$(xattr "$M/img@@/snap/s1" user.mapfs.coherence)" frozen "user.mapfs.coherence"
expect_eq "$(xattr "$M/img@@/snap/s1" user.mapfs.pages)" 0 "user.mapfs.pages before any change"
expect_eq "$(xattr "$M/img@@/snap/s1" user.mapfs.taken)" "$(date -u -d "@$mtime" +%Y-%m-%dT%H:%M:%SZ)" \
	"user.mapfs.taken (the snapshot's mtime, ISO 8601 UTC)"
expect_eq "$(xattr "$M/img@@/snap/s1" user.mapfs.state)" intact "user.mapfs.state"
s getfattr --absolute-names -d -m - "$M/img@@/snap/s1" >"$MF_T/xattrs"
for k in mode coherence pages taken state; do
	grep -q "^user.mapfs.$k=" "$MF_T/xattrs" || fail "getfattr -d -m - does not list user.mapfs.$k"
done

check "touch of an existing snapshot succeeds and changes nothing"
sleep 1.1
sum=$(tree_sum "$B/img")
s touch "$M/img@@/snap/s1" || fail "touch of the existing snapshot s1 failed"
expect_eq "$(s stat -c %Y "$M/img@@/snap/s1")" "$mtime" "mtime of s1 after touching it again"
expect_eq "$(tree_sum "$B/img")" "$sum" "backing file and state directory after touching s1 again"
snap_ok img s1 "$SM/s1" "after touching it again"

# ------------------------------------------------------------ frozen bytes

check "the snapshot stays frozen through every kind of change to the file"
step() { # WHAT: after a change: the file changed as it should, s1 did not
	model_ok "$1"
	cmp -s "$FMODEL" "$SM/s1" && fail "$1: the change left img equal to s1; the test proves nothing"
	snap_ok img s1 "$SM/s1" "after $1"
	expect_eq "$(s stat -c %Y "$M/img@@/snap/s1")" "$mtime" "mtime of s1 after $1"
}
put "$(patch_of 5000)" 4000
step "a write across a page boundary"
put "$(patch_of 1)" $((IMG_SIZE - 1))
step "a write of the last byte"
s truncate -s 5000 "$M/img"
truncate -s 5000 "$FMODEL"
step "truncating the file to 5000 bytes"
s truncate -s 3M "$M/img"
truncate -s 3M "$FMODEL"
step "extending the file to 3 MiB"
put "$(patch_of 70000)" $((2500 * 1024))
step "a write past the snapshot's size"
put "$(patch_of 1048576)" 0
step "rewriting the first MiB"
s fallocate -p -o 8192 -l 65536 "$M/img" || fail "fallocate -p (punch hole) on img"
fallocate -p -o 8192 -l 65536 "$FMODEL"
step "punching a hole"
got=$(s "$MF_CRASH" cfr "$M/other" 1000 "$M/img" 12345 200000)
expect_eq "$got" 200000 "copy_file_range from other into img"
"$MF_CRASH" cfr "$B/other" 1000 "$FMODEL" 12345 200000 >/dev/null
step "copy_file_range into the file"
got=$(s "$MF_CRASH" cfr "$M/img" 1500000 "$M/img" 100 300000)
expect_eq "$got" 300000 "copy_file_range within img"
"$MF_CRASH" cfr "$FMODEL" 1500000 "$FMODEL" 100 300000 >/dev/null
step "copy_file_range from the file into itself"
expect_ops OK mmap-store "$M/img" 9000 "stored through a shared mapping"
printf 'stored through a shared mapping' | dd of="$FMODEL" bs=1 seek=9000 conv=notrunc status=none
step "stores through a shared mmap, written back"
s dd if="$(patch_of 4096)" of="$M/img@@/rw:20000+4096" conv=notrunc status=none ||
	fail "write through an rw window"
dd if="$MF_T/patch" of="$FMODEL" bs=4096 seek=20000 oflag=seek_bytes conv=notrunc status=none
step "a write through an rw window"
s cp "$M/other" "$M/img"
cp "$B/other" "$FMODEL"
step "cp over the file (O_TRUNC and new bytes)"
expect_eq "$(s stat -c %s "$M/img@@/snap/s1")" "$IMG_SIZE" "size of s1 after the file became smaller"

check "snapshot windows F@@/snap/NAME:OFF+LEN read the frozen bytes"
# window, its offset and the bytes it shows
while read -r w off len; do
	expect_eq "$(hexof "$M/img@@/snap/s1:$w" 0 $((len + 10)))" "$(hexof "$SM/s1" "$off" "$len")" \
		"bytes of img@@/snap/s1:$w"
	expect_eq "$(s stat -c %s "$M/img@@/snap/s1:$w")" "$len" "size of img@@/snap/s1:$w"
done <<EOF2
0+1 0 1
4095+2 4095 2
4000+5000 4000 5000
0x1000+0x200 4096 512
1K+1K 1024 1024
1M+1000 1048576 1000
1M+5000 1048576 1000
$((IMG_SIZE - 10)) $((IMG_SIZE - 10)) 10
EOF2
expect_eq "$(s stat -c %s "$M/img@@/snap/s1:2M+1")" 0 "size of a snapshot window past its end"

# --------------------------------------------------------------- read-only

check "every change to a snapshot is EROFS, and changes nothing"
sum=$(tree_sum "$B/img")
expect_err "Read-only file system" bash -c 'printf x >> "$1"' sh "$M/img@@/snap/s1"
expect_err "Read-only file system" dd if=/dev/zero of="$M/img@@/snap/s1" bs=1 count=1 conv=notrunc status=none
expect_err "Read-only file system" dd if=/dev/zero of="$M/img@@/snap/s1:4096+10" bs=1 count=1 conv=notrunc status=none
expect_err "Read-only file system" truncate -s 0 "$M/img@@/snap/s1"
expect_err "Read-only file system" truncate -s 10M "$M/img@@/snap/s1"
expect_err "Read-only file system" chmod 666 "$M/img@@/snap/s1"
expect_err "Read-only file system" chown 1:1 "$M/img@@/snap/s1"
expect_err "Read-only file system" touch -d 2001-01-01 "$M/img@@/snap/s1"
expect_err "Read-only file system" setfattr -n user.note -v x "$M/img@@/snap/s1"
expect_err "Read-only file system" setfattr -x user.mapfs.mode "$M/img@@/snap/s1"
for fl in wronly rdwr rdonly,trunc wronly,append creat,wronly creat,rdwr,trunc; do
	expect_ops EROFS open "$M/img@@/snap/s1" "$fl"
done
expect_ops EEXIST open "$M/img@@/snap/s1" creat,excl,wronly
expect_err "Operation not permitted" mkdir "$M/img@@/snap/dir"
expect_err "Operation not permitted" ln "$M/other" "$M/img@@/snap/hard"
expect_err "Operation not permitted" ln -s img "$M/img@@/snap/sym"
expect_err "Operation not permitted" mkfifo "$M/img@@/snap/fifo"
expect_err "Operation not permitted" rmdir "$M/img@@/snap"
expect_eq "$(tree_sum "$B/img")" "$sum" "backing file and state directory after the refused changes"
snap_ok img s1 "$SM/s1" "after the refused changes"
expect_eq "$(s ls "$M/img@@/snap")" "s1" "ls img@@/snap after the refused changes"

# ---------------------------------------------------------- rename, delete

check "mv renames a snapshot; over an existing one it is EEXIST and nothing is lost"
s touch "$M/img@@/snap/s2"
cp "$B/img" "$SM/s2"
put "$(patch_of 8192)" 4096
s mv "$M/img@@/snap/s1" "$M/img@@/snap/first" || fail "mv of s1 to first"
mv "$SM/s1" "$SM/first"
expect_eq "$(s ls "$M/img@@/snap" | tr '\n' ' ')" "first s2 " "ls after mv s1 first"
expect_err "No such file or directory" stat "$M/img@@/snap/s1"
snap_ok img first "$SM/first" "after the rename"
expect_eq "$(s stat -c %Y "$M/img@@/snap/first")" "$mtime" "mtime (time taken) after the rename"
sum=$(tree_sum "$B/img")
expect_err "File exists" mv "$M/img@@/snap/s2" "$M/img@@/snap/first"
expect_ops EEXIST rename "$M/img@@/snap/first" "$M/img@@/snap/s2" none
expect_ops EINVAL rename "$M/img@@/snap/s2" "$M/img@@/snap/.hidden" none
expect_ops EINVAL rename "$M/img@@/snap/s2" "$M/img@@/snap/a:b" none
expect_ops EPERM rename "$M/img@@/snap/s2" "$M/img@@/cow/s2" none
expect_ops EPERM rename "$M/img@@/snap/s2" "$M/other@@/snap/s2" none
# Into the tree, a snapshot rolls back onto its own file only (test-rollback).
expect_ops EINVAL rename "$M/img@@/snap/s2" "$M/copy-of-s2" none
expect_err "subdirectory of itself" mv "$M/img@@/snap/s2" "$M/copy-of-s2"   # GNU mv words EINVAL so
[ ! -e "$B/copy-of-s2" ] || fail "mv of a snapshot out of the view directory made a file"
expect_eq "$(tree_sum "$B/img")" "$sum" "backing file and state directory after the refused renames"
expect_eq "$(s ls "$M/img@@/snap" | tr '\n' ' ')" "first s2 " "ls after the refused renames"
snap_ok img first "$SM/first" "after the refused renames"
snap_ok img s2 "$SM/s2" "after the refused renames"

check "rm deletes a snapshot; the other one stays right"
s rm "$M/img@@/snap/s2" || fail "rm img@@/snap/s2"
expect_err "No such file or directory" stat "$M/img@@/snap/s2"
expect_eq "$(s ls "$M/img@@/snap")" "first" "ls after rm s2"
snap_ok img first "$SM/first" "after deleting the newer s2"
expect_err "No such file or directory" rm "$M/img@@/snap/s2"

check "rename of the file through the mount carries its snapshots"
s mv "$M/img" "$M/img2" || fail "mv img img2"
mv "$FMODEL" "$MF_T/img2.model"
FMODEL="$MF_T/img2.model"
expect_err "No such file or directory" stat "$M/img@@/snap/first"
snap_ok img2 first "$SM/first" "after mv img img2"
s mv "$M/img2" "$M/sub/img3" || fail "mv img2 sub/img3"
snap_ok sub/img3 first "$SM/first" "after mv img2 sub/img3"
s dd if="$(patch_of 65536)" of="$M/sub/img3" bs=65536 conv=notrunc status=none
dd if="$MF_T/patch" of="$FMODEL" bs=65536 conv=notrunc status=none
cmp "$B/sub/img3" "$FMODEL" >/dev/null || fail "sub/img3 differs from its model"
snap_ok sub/img3 first "$SM/first" "after writing the renamed file"

check "after a remount: the snapshot, its size, time and attributes are the same"
mf_umount "$M"
mf_mount "$B" "$M"
snap_ok sub/img3 first "$SM/first" "after a remount"
expect_eq "$(s stat -c %Y "$M/sub/img3@@/snap/first")" "$mtime" "mtime after a remount"
expect_eq "$(xattr "$M/sub/img3@@/snap/first" user.mapfs.state)" intact "user.mapfs.state after a remount"
s truncate -s 0 "$M/sub/img3"
snap_ok sub/img3 first "$SM/first" "after truncating the file to 0 after the remount"

# ------------------------------------------------------------------ chain

check "a chain of snapshots with changes between them: each equals its copy"
head -c $((512 * 1024 + 333)) /dev/urandom >"$MF_T/chain.init"
s cp "$MF_T/chain.init" "$M/chain"
CM="$MF_T/chain.model"
cp "$MF_T/chain.init" "$CM"
cput() { # SRC OFF
	s dd if="$1" of="$M/chain" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none
	dd if="$1" of="$CM" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none
}
mutate() { # N: N random writes, and a truncation or an extension now and then
	local i size
	for ((i = 0; i < $1; i++)); do
		size=$(stat -c %s "$CM")
		cput "$(patch_of $((1 + RANDOM % 9000)))" $(((RANDOM * 32768 + RANDOM) % (size + 1)))
	done
	case $((RANDOM % 3)) in
	0) size=$(( (RANDOM * 32768 + RANDOM) % (700 * 1024) )) ;;
	*) return 0 ;;
	esac
	s truncate -s "$size" "$M/chain"
	truncate -s "$size" "$CM"
}
chain_ok() { # WHAT NAME...
	local what=$1 n
	shift
	cmp "$B/chain" "$CM" >/dev/null || fail "$what: chain differs from its model"
	for n in "$@"; do
		snap_ok chain "$n" "$SM/chain-$n" "$what"
	done
	expect_eq "$(s ls "$M/chain@@/snap" | tr '\n' ' ')" "$(printf '%s ' "$@" | tr ' ' '\n' | LC_ALL=C sort | grep . | tr '\n' ' ')" \
		"$what: ls chain@@/snap"
}
for k in 1 2 3 4 5 6; do
	s touch "$M/chain@@/snap/c$k"
	cp "$CM" "$SM/chain-c$k"
	mutate $((3 + k))
done
chain_ok "six snapshots" c1 c2 c3 c4 c5 c6
pages=0
for k in 1 2 3 4 5 6; do
	pages=$((pages + $(xattr "$M/chain@@/snap/c$k" user.mapfs.pages)))
done
[ "$pages" -gt 0 ] || fail "the six snapshots hold no pages at all after the changes"

check "deleting the middle, the oldest and the newest snapshot leaves the others right"
s rm "$M/chain@@/snap/c3"
chain_ok "after deleting c3 (the middle)" c1 c2 c4 c5 c6
s rm "$M/chain@@/snap/c1"
chain_ok "after deleting c1 (the oldest)" c2 c4 c5 c6
s rm "$M/chain@@/snap/c6"
chain_ok "after deleting c6 (the newest)" c2 c4 c5
mutate 5
s touch "$M/chain@@/snap/c7"
cp "$CM" "$SM/chain-c7"
mutate 5
s rm "$M/chain@@/snap/c4"
chain_ok "after a new c7 and deleting c4" c2 c5 c7
s mv "$M/chain@@/snap/c5" "$M/chain@@/snap/c0"
mv "$SM/chain-c5" "$SM/chain-c0"
mutate 4
chain_ok "after renaming c5 to c0 (names do not make the order)" c0 c2 c7
s rm "$M/chain@@/snap/c0"
chain_ok "after deleting c0 (was c5, the middle)" c2 c7

check "the chain after a remount"
mf_umount "$M"
mf_mount "$B" "$M"
chain_ok "after a remount" c2 c7
mutate 6
chain_ok "after changes following the remount" c2 c7

# -------------------------------------------------------------- bad input

check "bad snapshot names and bad targets: precise errors, nothing changed"
s cp "$MF_T/chain.init" "$M/victim"
s touch "$M/victim@@/snap/keep"
cp "$MF_T/chain.init" "$SM/victim-keep"
sum=$(tree_sum "$B/victim")
long=$(printf 'n%.0s' $(seq 1 256))
for n in .hidden .. . 'a:b' 'x:0+1' "$long"; do
	got=$(ops open "$M/victim@@/snap/$n" creat,excl,wronly)
	case $n in
	. | ..) want=EEXIST ;;   # the kernel's answer for a directory
	*) want=EINVAL ;;
	esac
	expect_eq "$got" "$want" "open O_CREAT|O_EXCL of victim@@/snap/${n:0:20}"
done
expect_ops EISDIR open "$M/victim@@/snap/" creat,wronly
expect_ops ENOENT open "$M/victim@@/snap/a/b" creat,excl,wronly
expect_ops EEXIST open "$M/victim@@/snap/keep" creat,excl,wronly
expect_err "File exists" "$MAPFSCTL" snapshot create "$M/victim" keep
for n in '' . .. a/b; do
	expect_err "Invalid argument" "$MAPFSCTL" snapshot create "$M/victim" "$n"
done
expect_err "Invalid argument" "$MAPFSCTL" snapshot create "$M/victim" "$long"
expect_err "Invalid argument" "$MAPFSCTL" snapshot create "$M/victim" .x
expect_ops ENOENT open "$M/d@@/snap/x" creat,excl,wronly
expect_ops ENOENT open "$M/link@@/snap/x" creat,excl,wronly
expect_ops ENOENT open "$M/missing@@/snap/x" creat,excl,wronly
expect_err "No such file or directory" touch "$M/d@@/snap/x"
expect_err "No such file or directory" "$MAPFSCTL" snapshot delete "$M/victim" nosuch
expect_err "Read-only file system" bash -c 'echo x > "$1"' sh "$M/victim@@/snap/keep"
expect_eq "$(tree_sum "$B/victim")" "$sum" "backing file and state directory after the bad requests"
expect_eq "$(s ls -A "$M/victim@@/snap")" keep "ls -A victim@@/snap after the bad requests"
[ -z "$(ls -A "$B/d")" ] || fail "something appeared in the directory d"

check "a name of NAME_MAX (255) bytes is fine"
n255=$(printf 'm%.0s' $(seq 1 255))
expect_ops OK open "$M/victim@@/snap/$n255" creat,excl,wronly
snap_ok victim "$n255" "$MF_T/chain.init" "the snapshot with a 255-byte name"
s rm "$M/victim@@/snap/$n255"
snap_ok victim keep "$SM/victim-keep" "after all that"

# ------------------------------------------------------------------ space

check "space: a snapshot of a 256 MiB file costs nothing until pages change"
BIG=$((256 * 1048576))
head -c "$BIG" /dev/urandom >"$B/big"
orig_sum=$(sha256sum <"$B/big")
du0=$(du -sk "$B/.mapfs" | cut -f1)
s touch "$M/big@@/snap/b1"
du1=$(du -sk "$B/.mapfs" | cut -f1)
[ $((du1 - du0)) -le 64 ] || fail "taking a snapshot of a 256 MiB file grew the state directory by $((du1 - du0)) KiB"
expect_eq "$(xattr "$M/big@@/snap/b1" user.mapfs.pages)" 0 "pages of a fresh snapshot of big"

check "rewriting 1% of big's pages grows the state directory by about 1%"
n=$((BIG / 4096 / 100))
distinct=$(s "$MF_CRASH" rewrite "$M/big" 1 "$n")
[[ "$distinct" =~ ^[0-9]+$ ]] || fail "rewriting pages of big: $distinct"
du2=$(du -sk "$B/.mapfs" | cut -f1)
grow=$((du2 - du1))
echo "    $n page writes, $distinct distinct pages: the state directory grew by $grow KiB"
[ "$grow" -le $((2 * BIG / 1024 / 100)) ] ||
	fail "rewriting $distinct pages (1%) grew the state directory by $grow KiB, more than 2% of the file"
[ "$grow" -ge $((distinct * 4 * 9 / 10)) ] ||
	fail "rewriting $distinct pages grew the state directory by only $grow KiB"
expect_eq "$(xattr "$M/big@@/snap/b1" user.mapfs.pages)" "$distinct" "pages held by b1 after rewriting $distinct pages"
expect_eq "$(s sha256sum <"$M/big@@/snap/b1")" "$orig_sum" "sha256 of big@@/snap/b1"
sum1=$(sha256sum <"$B/big")
[ "$sum1" != "$orig_sum" ] || fail "rewriting pages did not change big"

check "nine more snapshots live: another 1% costs about 1% once, not once per snapshot"
for k in 2 3 4 5 6 7 8 9 10; do
	s touch "$M/big@@/snap/b$k"
done
du3=$(du -sk "$B/.mapfs" | cut -f1)
distinct2=$(s "$MF_CRASH" rewrite "$M/big" 2 "$n")
du4=$(du -sk "$B/.mapfs" | cut -f1)
grow=$((du4 - du3))
echo "    $distinct2 distinct pages with 10 snapshots live: the state directory grew by $grow KiB"
[ "$grow" -le $((2 * BIG / 1024 / 100)) ] ||
	fail "with ten snapshots live, rewriting $distinct2 pages grew the state directory by $grow KiB"
expect_eq "$(xattr "$M/big@@/snap/b10" user.mapfs.pages)" "$distinct2" "pages held by b10, the newest"
expect_eq "$(xattr "$M/big@@/snap/b1" user.mapfs.pages)" "$distinct" "pages held by b1, the oldest"
for k in 2 5 9; do
	expect_eq "$(xattr "$M/big@@/snap/b$k" user.mapfs.pages)" 0 "pages held by b$k"
done
expect_eq "$(s sha256sum <"$M/big@@/snap/b1")" "$orig_sum" "sha256 of b1"
expect_eq "$(s sha256sum <"$M/big@@/snap/b5")" "$sum1" "sha256 of b5"
expect_eq "$(s sha256sum <"$M/big@@/snap/b10")" "$sum1" "sha256 of b10"

check "rm of the newest hands its pages down; rm of the oldest frees its pages"
s rm "$M/big@@/snap/b10"
expect_eq "$(xattr "$M/big@@/snap/b9" user.mapfs.pages)" "$distinct2" "pages held by b9 after rm b10"
expect_eq "$(s sha256sum <"$M/big@@/snap/b9")" "$sum1" "sha256 of b9 after rm b10"
du5=$(du -sk "$B/.mapfs" | cut -f1)
s rm "$M/big@@/snap/b1"
du6=$(du -sk "$B/.mapfs" | cut -f1)
[ $((du5 - du6)) -ge $((distinct * 4 * 9 / 10)) ] ||
	fail "rm of b1 ($distinct pages) freed only $((du5 - du6)) KiB"
expect_eq "$(s sha256sum <"$M/big@@/snap/b2")" "$sum1" "sha256 of b2 after rm b1"
for k in 2 3 4 5 6 7 8 9; do
	s rm "$M/big@@/snap/b$k"
done
du7=$(du -sk "$B/.mapfs" | cut -f1)
[ $((du7 - du0)) -le 256 ] ||
	fail "with every snapshot of big deleted, the state directory still holds $((du7 - du0)) KiB more than before"
s rm "$M/big"

check "a snapshot of a 1 TiB sparse file is as cheap, and its far pages stay frozen"
s truncate -s 1T "$M/huge"
du0=$(du -sk "$B/.mapfs" | cut -f1)
s touch "$M/huge@@/snap/h1"
expect_eq "$(s stat -c %s "$M/huge@@/snap/h1")" $((1 << 40)) "size of huge@@/snap/h1"
s dd if="$(patch_of 4096)" of="$M/huge" bs=4096 seek=$((700 << 18)) conv=notrunc status=none
expect_eq "$(s sha256sum <"$M/huge@@/rw:700G+4K")" "$(sha256sum <"$MF_T/patch")" "huge at 700 GiB after the write"
expect_eq "$(s sha256sum <"$M/huge@@/snap/h1:700G+4K")" "$(head -c 4096 /dev/zero | sha256sum)" \
	"huge@@/snap/h1 at 700 GiB (a hole when taken)"
du1=$(du -sk "$B/.mapfs" | cut -f1)
[ $((du1 - du0)) -le 1024 ] || fail "a snapshot of a sparse 1 TiB file took $((du1 - du0)) KiB in the state directory"
s rm "$M/huge@@/snap/h1" "$M/huge"

check "a snapshot of an empty file stays empty"
s touch "$M/empty"
s touch "$M/empty@@/snap/e1"
sx 'printf "now something" >"$1"' "$M/empty"
expect_eq "$(s stat -c %s "$M/empty@@/snap/e1")" 0 "size of empty@@/snap/e1"
expect_eq "$(s cat "$M/empty@@/snap/e1" | wc -c)" 0 "bytes read from empty@@/snap/e1"
s rm "$M/empty@@/snap/e1" "$M/empty"

# ------------------------------------------- metadata changes, the state xattr

check "chmod, mv, setfattr, ln of the file through the mount, first thing after a remount, leave its snapshots intact"
s cp "$MF_T/chain.init" "$M/meta"
s touch "$M/meta@@/snap/m1"
name=meta
for op in "chmod 600" "mv" "setfattr" "ln"; do
	mf_umount "$M"
	mf_mount "$B" "$M"
	case $op in
	chmod*) s chmod 600 "$M/$name" ;;
	mv) s mv "$M/$name" "$M/$name-moved"; name=$name-moved ;;
	setfattr) s setfattr -n user.note -v hello "$M/$name" ;;
	ln) s ln "$M/$name" "$M/$name-link" ;;
	esac
	expect_eq "$(xattr "$M/$name@@/snap/m1" user.mapfs.state)" intact "user.mapfs.state after $op of the file following a remount"
	snap_ok "$name" m1 "$MF_T/chain.init" "after $op of the file following a remount"
done
s rm "$M/$name-link"

check "a snapshot of a file written behind the mount says damaged at once, and is not served"
s cp "$MF_T/chain.init" "$M/bypassed"
s touch "$M/bypassed@@/snap/b1"
mf_umount "$M"
printf 'written behind the mount' | dd of="$B/bypassed" bs=1 seek=5000 conv=notrunc status=none
mf_mount "$B" "$M"
expect_eq "$(xattr "$M/bypassed@@/snap/b1" user.mapfs.state)" damaged \
	"user.mapfs.state of bypassed@@/snap/b1 after a write behind the mount (asked first)"
expect_eq "$(s "$MAPFSCTL" snapshot list "$M/bypassed" | awk 'NR == 2 { print $1, $NF }')" "b1 damaged" \
	"mapfsctl snapshot list after a write behind the mount"
expect_err "Input/output error" cat "$M/bypassed@@/snap/b1"
expect_eq "$(xattr "$M/bypassed@@/snap/b1" user.mapfs.state)" damaged "user.mapfs.state after reading"

check "truncating an 8 GiB sparse file with a snapshot live costs what its data costs, not its size"
s truncate -s 8G "$M/sparse"
s dd if="$(patch_of 65536)" of="$M/sparse" bs=65536 seek=$((5 << 14)) conv=notrunc status=none
cp "$MF_T/patch" "$MF_T/sparse.data"
s touch "$M/sparse@@/snap/sp1"
du0=$(du -sk "$B/.mapfs" | cut -f1)
t0=$(date +%s%N)
s truncate -s 0 "$M/sparse"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "    truncate -s 0 took $ms ms"
expect_eq "$(s sha256sum <"$M/sparse@@/snap/sp1:5G+64K")" "$(sha256sum <"$MF_T/sparse.data")" \
	"the data of sparse@@/snap/sp1 after truncating the file"
expect_eq "$(s sha256sum <"$M/sparse@@/snap/sp1:7G+4K")" "$(head -c 4096 /dev/zero | sha256sum)" \
	"a hole of sparse@@/snap/sp1 after truncating the file"
du1=$(du -sk "$B/.mapfs" | cut -f1)
[ $((du1 - du0)) -le 1024 ] ||
	fail "truncating an 8 GiB sparse file (64 KiB of data) grew the state directory by $((du1 - du0)) KiB"
[ "$ms" -le 3000 ] ||
	fail "truncating an 8 GiB sparse file (64 KiB of data) with a snapshot live took $ms ms"
s rm "$M/sparse@@/snap/sp1" "$M/sparse"

# ------------------------------------------------------- unlink, inode reuse

check "a new file that gets a deleted file's inode number shows nothing of the old file"
# (Its snapshot deleted first: a file removed with snapshots is kept.)
s cp "$MF_T/chain.init" "$M/doomed"
s touch "$M/doomed@@/snap/d1" "$M/doomed@@/cow/v1"
s dd if="$(patch_of 10000)" of="$M/doomed" bs=4096 seek=3 conv=notrunc status=none
s rm "$M/doomed@@/snap/d1" "$M/doomed@@/cow/v1"
ino=$(stat -c %i "$B/doomed")
s rm "$M/doomed"
# Once the daemon lets go of it (a remount), the inode number is free.
mf_umount "$M"
mf_mount "$B" "$M"
reused=
batch=0
while [ -z "$reused" ] && [ "$batch" -lt 20 ]; do
	sx 'for ((i = $2; i < $2 + 200; i++)); do : >"$1/fresh-$i"; done' "$M" $((batch * 200))
	reused=$(ls -i "$B" | awk -v ino="$ino" '$1 == ino && $2 ~ /^fresh-/ { print $2 }')
	batch=$((batch + 1))
done
if [ -n "$reused" ]; then
	echo "    $reused has the inode number doomed had"
	expect_eq "$(s ls -A "$M/$reused@@/snap")" "" "ls $reused@@/snap (a new file)"
	expect_eq "$(s ls -A "$M/$reused@@/cow")" "" "ls $reused@@/cow (a new file)"
	expect_err "No such file or directory" stat "$M/$reused@@/snap/d1"
	sx 'printf "the new file" >"$1"' "$M/$reused"
	s touch "$M/$reused@@/snap/n1"
	sx 'printf "changed" >"$1"' "$M/$reused"
	expect_eq "$(s cat "$M/$reused@@/snap/n1")" "the new file" "a snapshot of $reused"
	expect_eq "$(xattr "$M/$reused@@/snap/n1" user.mapfs.state)" intact "user.mapfs.state of $reused@@/snap/n1"
	expect_eq "$(xattr "$M/$reused@@/snap/n1" user.mapfs.pages)" 1 "user.mapfs.pages of $reused@@/snap/n1"
else
	echo "    (no new file got inode $ino back in 4000 tries: nothing to check)"
fi
s find "$M" -maxdepth 1 -name 'fresh-*' -delete

check "rm of the file: its snapshots stay reachable under its path until deleted"
s cp "$MF_T/chain.init" "$M/gone"
s touch "$M/gone@@/snap/g1"
s dd if="$(patch_of 10000)" of="$M/gone" bs=4096 seek=3 conv=notrunc status=none
s rm "$M/gone"
expect_eq "$(s ls "$M/gone@@/snap" 2>&1)" g1 "ls gone@@/snap after rm gone"
snap_ok gone g1 "$MF_T/chain.init" "after rm of the file"
sleep 1.2   # past the kernel's entry timeout: gone@@ is looked up again
expect_eq "$(s ls "$M/gone@@/snap" 2>&1)" g1 "ls gone@@/snap a while after rm gone"
snap_ok gone g1 "$MF_T/chain.init" "a while after rm of the file"
mf_umount "$M"
mf_mount "$B" "$M"
expect_eq "$(s ls "$M/gone@@/snap" 2>&1)" g1 "ls gone@@/snap after rm gone and a remount"
snap_ok gone g1 "$MF_T/chain.init" "after rm of the file and a remount"
s rm "$M/gone@@/snap/g1"
expect_err "No such file or directory" stat "$M/gone@@/snap/g1"

check "a file replaced by a rename (sed -i, an editor's save): its snapshots stay under its path"
printf 'line1\nline2\n' >"$MF_T/conf.orig"
s cp "$MF_T/conf.orig" "$M/conf"
s touch "$M/conf@@/snap/orig"
s sed -i 's/line1/LINE1/' "$M/conf"
expect_eq "$(s cat "$M/conf")" "$(printf 'LINE1\nline2')" "conf after sed -i"
expect_eq "$(s ls "$M/conf@@/snap" 2>&1)" orig "ls conf@@/snap after sed -i conf"
snap_ok conf orig "$MF_T/conf.orig" "after sed -i of the file"
printf 'new\n' >"$MF_T/conf.new"
s cp "$MF_T/conf.new" "$M/conf.tmp"
s mv "$M/conf.tmp" "$M/conf"
expect_eq "$(s ls "$M/conf@@/snap" 2>&1)" orig "ls conf@@/snap after mv conf.tmp conf"
snap_ok conf orig "$MF_T/conf.orig" "after mv of another file over it"

mf_umount "$M"
echo "PASS"
