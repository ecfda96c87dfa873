#!/bin/bash
# Named shared memory, MOUNT/.shm/NAME (issue 13), and user.mapfs.committed:
#   * .shm is hidden from the root's listing (listed with views=visible),
#     sticky and open to all; objects live in memory, never in BACKING;
#   * the instance counter: 8 processes map one object MAP_SHARED and see
#     each other's stores at once; read(2)/write(2) are coherent with the
#     mappings;
#   * ftruncate reserves, stores commit (user.mapfs.committed, the stats);
#   * views, an O(1) snapshot of live shared memory while a writer runs,
#     a private view;
#   * rm while open: readable through the descriptor, gone from the listing,
#     the memory freed at the last close;
#   * mode and owner enforced (nobody), the shm_size cap (ENOSPC);
#   * bad names; unmount (and a crash, at the next mount) leaves nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

: "${MF_SHM:?MF_SHM must name the mf-shm helper}"
[ "$(id -u)" -eq 0 ] || fail "test-shm must run as root (allow_other, nobody)"
NOBODY=65534
chmod 755 "$MF_T"
B=$(mf_dir backing)
M=$(mf_dir mnt)
chmod 755 "$B" "$M"
S=$M/.shm

committed() { # PATH: user.mapfs.committed
	s getfattr --absolute-names --only-values -n user.mapfs.committed "$1"
}
as_nobody() {
	s setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"
}
# The backing tree, less the state directory: shm must never reach it.
tree() {
	(cd "$B" && find . -path ./.mapfs -prune -o -print | sort)
}

echo data >"$B/file"
TREE0=$(tree)

check "-o shm_size=: a size, or a refusal"
for bad in abc 1Q -1 ''; do
	mf_refused "$M" -o "shm_size=$bad" "$B" "$M"
	[[ "$MF_ERR" == *"shm_size=$bad: not a size"* ]] || fail "shm_size=$bad: $MF_ERR"
done

mf_mount "$B" "$M" -o allow_other

check ".shm: hidden from the root's listing, reachable, sticky and open to all"
s ls -a "$M" | grep -qx .shm && fail ".shm is listed in the root without views=visible"
expect_eq "$(s stat -c %A "$S")" drwxrwxrwt "mode of .shm"
expect_eq "$(s ls -A "$S")" "" "a fresh .shm"

check "touch makes an object in memory: listed in .shm, nothing in BACKING"
s touch "$S/one"
s sh -c 'echo hello >"$1"' _ "$S/two"
expect_eq "$(s ls "$S" | tr '\n' ' ')" "one two " "ls .shm"
expect_eq "$(s cat "$S/two")" hello "an object's bytes"
expect_eq "$(tree)" "$TREE0" "the backing tree after making objects"
I1=$(s stat -c %i "$S/one")
I2=$(s stat -c %i "$S/two")
IF=$(s stat -c %i "$M/file")
[ "$I1" != "$I2" ] && [ "$I1" != "$IF" ] && [ "$I2" != "$IF" ] ||
	fail "inode numbers collide: one=$I1 two=$I2 file=$IF"
expect_eq "$(s stat -c %h "$S/one")" 1 "links of a named object"

check "the instance counter: 8 processes map .shm/appinst and each sees exactly 8"
OUT=$(s "$MF_SHM" counter "$S/appinst" 8) || fail "the instance counter failed: $OUT"
expect_eq "$OUT" "seen 8 by 8
final 0" "the instance counter"

check "read(2) and write(2) are coherent with MAP_SHARED mappings, across processes"
s truncate -s 8K "$S/coh"
expect_eq "$(s "$MF_SHM" coherence "$S/coh")" OK "mmap vs read/write"

check "ftruncate reserves, stores commit: user.mapfs.committed and the stats"
s truncate -s 1G "$S/big"
expect_eq "$(s stat -c %s "$S/big")" 1073741824 "size after ftruncate"
expect_eq "$(committed "$S/big")" 0 "committed after a 1G ftruncate"
s dd if=/dev/urandom of="$S/big" bs=64K count=16 seek=8192 conv=notrunc status=none
C=$(committed "$S/big")
[ "$C" -ge 1048576 ] && [ "$C" -le 1114112 ] || fail "committed after a 1M write into 1G: $C"
T=$(mf_stat_key "$M" shm_committed)
[ "$T" -ge "$C" ] || fail "shm_committed $T is less than one object's $C"
[ "$(mf_stat_key "$M" shm_objects)" -ge 5 ] || fail "shm_objects: $(mf_stat_key "$M" shm_objects)"
expect_eq "$(committed "$S/big@@/ro:512M+1M")" 1048576 "committed in a window over the written MiB"
expect_eq "$(committed "$S/big@@/ro:0+1M")" 0 "committed in a window over a reservation"
s fallocate -p -o 512M -l 512K "$S/big"
expect_eq "$(committed "$S/big")" 524288 "committed after punching out half the MiB"
s truncate -s 512M "$S/big"
expect_eq "$(committed "$S/big")" 0 "committed after truncating the pages away"
s truncate -s 1G "$S/big"

check "user.mapfs.committed on a sparse backing file and its views"
s truncate -s 100M "$M/sparse"
expect_eq "$(committed "$M/sparse")" 0 "committed of a 100M sparse file"
s dd if=/dev/zero of="$M/sparse" bs=4K count=1 seek=10 conv=notrunc status=none
expect_eq "$(committed "$M/sparse")" 4096 "committed after writing one page"
expect_eq "$(committed "$M/sparse@@/rw:40K+8K")" 4096 "committed in a window over it"
expect_eq "$(committed "$M/sparse@@/ro:1M")" 0 "committed in a window past it"
s getfattr --absolute-names -d -m - "$M/sparse@@/ro" | grep -q '^user.mapfs.committed=' ||
	fail "getfattr -d does not list user.mapfs.committed on a view"
expect_err "Operation not permitted" setfattr -n user.mapfs.committed -v 1 "$M/sparse"
TREE0=$(tree)

check "views of an object: ro window, a snapshot of live memory while a writer runs, cow"
s dd if=/dev/urandom of="$MF_T/pat" bs=16K count=1 status=none
s cp "$MF_T/pat" "$S/live"
expect_eq "$(s getfattr --absolute-names --only-values -n user.mapfs.base "$S/live@@/ro")" "$S/live" "user.mapfs.base of an object's view"
expect_eq "$(s od -An -tx1 "$S/live@@/ro:4K+64")" "$(od -An -tx1 -j4096 -N64 "$MF_T/pat")" ".shm/live@@/ro:4K+64"
s "$MF_OPS" mmap-store "$S/live" 100 MAPPED >/dev/null
# The writer stops on its own after 20 s, should the test fail meanwhile.
( for ((i = 0; i < 2000; i++)); do
	[ -e "$MF_T/stop" ] && break
	printf '%08d' $i | dd of="$S/live" bs=8 seek=1 conv=notrunc status=none
	sleep 0.01
done ) &
WRITER=$!
sleep 0.2
s touch "$S/live@@/snap/t1"
A=$(s md5sum <"$S/live@@/snap/t1")
sleep 0.3
B2=$(s md5sum <"$S/live@@/snap/t1")
touch "$MF_T/stop"
wait $WRITER
expect_eq "$B2" "$A" "a snapshot of live memory read twice while a writer ran"
expect_eq "$(s getfattr --absolute-names --only-values -n user.mapfs.state "$S/live@@/snap/t1")" intact "user.mapfs.state of the snapshot"
s cmp -s "$S/live" "$S/live@@/snap/t1" && fail "the snapshot followed the writer"
expect_eq "$(s dd if="$S/live@@/snap/t1" bs=1 skip=100 count=6 status=none)" MAPPED "a store msync'd before the snapshot"
expect_eq "$(s dd if="$S/live@@/snap/t1" bs=1 skip=16 count=16 status=none | od -An -tx1)" \
	"$(od -An -tx1 -j16 -N16 "$MF_T/pat")" "snapshot bytes the writer did not touch"
s touch "$S/live@@/cow/try"
s sh -c 'printf PRIVATE | dd of="$1" bs=1 seek=200 conv=notrunc status=none' _ "$S/live@@/cow/try"
expect_eq "$(s dd if="$S/live@@/cow/try" bs=1 skip=200 count=7 status=none)" PRIVATE "the private view's write"
expect_eq "$(s dd if="$S/live" bs=1 skip=200 count=7 status=none | od -An -tx1)" \
	"$(od -An -tx1 -j200 -N7 "$MF_T/pat")" "the object under its private view"
s mv "$S/live@@/cow/try" "$S/live"
s touch "$S/live@@/cow/try2"
expect_eq "$(s dd if="$S/live" bs=1 skip=200 count=7 status=none)" PRIVATE "the object after committing its private view"
C=$(committed "$S/live@@/snap/t1")
[ "$C" -ge 4096 ] || fail "committed of a snapshot that holds pages: $C"
expect_eq "$(tree)" "$TREE0" "the backing tree after views of objects"

check "rm while open: readable through the descriptor, gone from the listing, freed at the last close"
s dd if=/dev/urandom of="$S/held" bs=1M count=4 status=none
BEFORE=$(mf_stat_key "$M" shm_committed)
exec {FD}<"$S/held"
s rm "$S/held"
s ls "$S" | grep -qx held && fail "a removed object is still listed"
[ ! -e "$S/held" ] || fail "a removed object is still reachable by name"
expect_eq "$(s head -c 4194304 <&$FD | wc -c)" 4194304 "bytes read through the open descriptor after rm"
[ "$(mf_stat_key "$M" shm_committed)" -ge "$BEFORE" ] || fail "memory freed while still open"
exec {FD}<&-
for ((i = 0; i < 50; i++)); do
	[ "$(mf_stat_key "$M" shm_committed)" -le $((BEFORE - 4194304)) ] && break
	sleep 0.1
done
[ "$(mf_stat_key "$M" shm_committed)" -le $((BEFORE - 4194304)) ] ||
	fail "4M not freed at the last close: $BEFORE before, $(mf_stat_key "$M" shm_committed) after"

check "rm of an object with views and a snapshot: its memory and its snapshot's pages go too"
s dd if=/dev/urandom of="$S/viewed" bs=1M count=2 status=none
s cat "$S/viewed@@/ro:1M+4" >/dev/null
s touch "$S/viewed@@/snap/s1"
s ls -l "$S/viewed@@/snap/s1" >/dev/null
N=$(mf_stat_key "$M" shm_objects)
NS=$(ls "$B/.mapfs/files" | wc -l)
s rm "$S/viewed"
for ((i = 0; i < 50; i++)); do
	[ "$(mf_stat_key "$M" shm_objects)" -lt "$N" ] && break
	sleep 0.1
done
[ "$(mf_stat_key "$M" shm_objects)" -lt "$N" ] || fail "an object removed with views known to the kernel is still held"
expect_eq "$(ls "$B/.mapfs/files" | wc -l)" $((NS - 1)) "state records after removing an object with a snapshot"

check "rename inside .shm; nothing leaves or enters it"
s mv "$S/one" "$S/uno"
expect_eq "$(s stat -c %i "$S/uno")" "$I1" "inode of a renamed object"
expect_ops EXDEV rename "$S/uno" "$M/uno" none
expect_ops EXDEV rename "$S/uno" "$S/../uno" none
expect_ops EXDEV rename "$M/file" "$S/file" none
# Onto its own object it rolls back (test-mix.sh); onto another, as for files:
expect_ops EINVAL rename "$S/live@@/snap/t1" "$S/uno" none
expect_ops EPERM rename "$S/uno" "$S/live@@/snap/t2" none
expect_ops EINVAL rename "$S/live@@/cow/try2" "$S/uno" none
expect_ops EEXIST rename "$S/uno" "$S/two" noreplace
expect_ops OK rename "$S/uno" "$S/two" exchange
expect_eq "$(s cat "$S/uno")" hello "after exchanging two objects"

check "mode and owner: a 0600 object is not nobody's; nobody's objects are its own"
s sh -c 'umask 077; echo secret >"$1"' _ "$S/secret"
expect_eq "$(s stat -c %a "$S/secret")" 600 "mode of an object made under umask 077"
expect_err "Permission denied" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups cat "$S/secret"
as_nobody sh -c 'echo mine >"$1"' _ "$S/nobodys" || fail "nobody cannot make an object in .shm"
expect_eq "$(s stat -c %u:%g "$S/nobodys")" $NOBODY:$NOBODY "owner of nobody's object"
as_nobody chmod 600 "$S/nobodys" || fail "nobody cannot chmod its own object"
expect_err "Operation not permitted" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups rm -f "$S/secret"
expect_err "Operation not permitted" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups chmod 666 "$S/secret"
expect_eq "$(s cat "$S/secret")" secret "root's object after nobody's attempts"

check "bad names: '/', '..', NAME_MAX, @@, O_EXCL on an existing name, not a regular file"
expect_err "No such file or directory" touch "$S/nodir/x"
expect_err "Not a directory" touch "$S/uno/x"
expect_ops EEXIST open "$S/.." rdonly,creat,excl
expect_ops EEXIST open "$S/uno" rdwr,creat,excl
expect_eq "$(s cat "$S/uno")" hello "an object after a refused O_EXCL create"
N255=$(printf 'n%.0s' {1..255})
s touch "$S/$N255"
expect_err "File name too long" touch "$S/${N255}x"
s rm "$S/$N255"
expect_err "Invalid argument" touch "$S/x@@"
expect_err "Operation not permitted" mkdir "$S/dir"
expect_err "Operation not permitted" ln -s uno "$S/link"
expect_err "Operation not permitted" mkfifo "$S/fifo"
expect_err "Operation not permitted" rm -rf "$S/uno@@"
expect_err "Operation not permitted" rmdir "$S"
expect_err "Operation not permitted" mv "$S" "$M/elsewhere"
expect_eq "$(s ls "$S" | grep -c -e nodir -e x@@ -e dir -e link -e fifo || true)" 0 "names left by refused requests"

check "-o views=visible lists .shm; unmount leaves nothing in BACKING or STATEDIR"
mf_umount "$M"
expect_eq "$(tree)" "$TREE0" "the backing tree after unmount"
expect_eq "$(ls -A "$B/.mapfs/files")" "" "STATEDIR/files after unmount"
mf_mount "$B" "$M" -o views=visible
s ls -a "$M" | grep -qx .shm || fail ".shm is not listed with views=visible"
expect_eq "$(s ls -A "$S")" "" ".shm after a remount"

check "a crash: the next mount removes what the dead daemon's objects left in STATEDIR"
s sh -c 'echo crash >"$1"' _ "$S/c"
s touch "$S/c@@/snap/s"
[ -n "$(ls -A "$B/.mapfs/files")" ] || fail "no state for the snapshot of an object"
mf_kill9 "$M"
mf_mount "$B" "$M" -o shm_size=1M
expect_eq "$(ls -A "$B/.mapfs/files")" "" "STATEDIR/files after a crash and a mount"

check "-o shm_size=1M: ENOSPC past it, for write(2), fallocate, msync and a commit"
expect_eq "$(mf_stat_key "$M" shm_size)" 1048576 "shm_size in the stats"
expect_eq "$(s stat -f -c '%b %S' "$S")" "256 4096" "statfs of .shm: the cap as its size"
s dd if=/dev/zero of="$S/a" bs=64K count=8 status=none
s truncate -s 100M "$S/b"
expect_err "No space left on device" dd if=/dev/zero of="$S/b" bs=64K count=9 status=none
expect_err "No space left on device" fallocate -l 1M "$S/a"
s rm "$S/b"
s truncate -s 2M "$S/m"
expect_eq "$(s "$MF_SHM" fill "$S/m" 2097152)" ENOSPC "msync of stores through a mapping past the cap"
s rm "$S/m"
s truncate -s 1M "$S/q"
s touch "$S/q@@/cow/big"
s dd if=/dev/urandom of="$S/q@@/cow/big" bs=64K count=12 conv=notrunc status=none
expect_err "No space left on device" mv "$S/q@@/cow/big" "$S/q"
expect_eq "$(committed "$S/q")" 0 "an object after a refused commit of its private view"
expect_eq "$(s ls "$S/q@@/cow")" big "the private view after a refused commit"
s rm "$S/q"
s dd if=/dev/zero of="$S/c" bs=64K count=7 status=none
[ "$(mf_stat_key "$M" shm_committed)" -le 1048576 ] || fail "committed past the cap: $(mf_stat_key "$M" shm_committed)"
mf_umount "$M"
expect_eq "$(tree)" "$TREE0" "the backing tree at the end"
echo "PASS"
