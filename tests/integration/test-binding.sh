#!/bin/bash
# A view stays bound to what it opened (issue 10, parts 2-5).
#
#   * an open snapshot or private view keeps meaning the entry it opened:
#     after mv its descriptor still reads it; after rm it still reads (and
#     a private view still writes) its own bytes, never those of a new
#     entry that takes the name; the pages go when the last descriptor
#     closes, and a daemon stopped meanwhile removes them at its next start;
#   * a removed file has no live views: O@@/rw, ro, windows, truncate, new
#     snapshots and private views answer ENOENT and change nothing; the
#     snapshots taken before stay readable, renamable and deletable;
#   * no snapshot becomes unreachable: a removed file's snapshots are in
#     MOUNT/.removed/KEY@INO@@/snap whatever happened to its directory
#     (mv, rmdir), listed, read, renamed and deleted there and by mapfsctl;
#     .removed is hidden from readdir (shown with -o views=visible), and
#     when the last snapshot goes nothing is left in the state directory;
#   * a new file never inherits another file's state: a file made outside
#     the mount that gets the inode number of one removed there shows none
#     of its private views or snapshots; a state directory laid
#     out by an older mapfs (files/INO) keeps its snapshots and views.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MAPFSCTL:?MAPFSCTL must name mapfsctl}"

B=$(mf_dir backing)
M=$(mf_dir mnt)
mf_mount "$B" "$M"

# Entry directories in the state directory (deleted ones included).
entries() { # KIND
	find "$B/.mapfs/files" -mindepth 3 -maxdepth 3 -path "*/$1/*" -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '
}

# The state directory's records of inode number INO.
records() { # INO
	find "$B/.mapfs/files" -mindepth 1 -maxdepth 1 \( -name "$1" -o -name "$1-*" \)
}

# ------------------------------------------------------------------
check "a deleted snapshot's descriptor reads its own bytes, not a new snapshot's"
printf AAAAAAAA >"$M/F"
s touch "$M/F@@/snap/v"
exec 3<"$M/F@@/snap/v"
s rm "$M/F@@/snap/v"
[ ! -e "$M/F@@/snap/v" ] || fail "F@@/snap/v still there after rm"
expect_eq "$(s ls "$M/F@@/snap")" "" "ls F@@/snap after rm with a descriptor open"
sx 'printf BBBBBBBB | dd of="$1" conv=notrunc status=none' "$M/F"
s touch "$M/F@@/snap/v"
expect_eq "$(head -c8 <&3)" AAAAAAAA "the deleted snapshot's descriptor"
expect_eq "$(s cat "$M/F@@/snap/v")" BBBBBBBB "the new snapshot v"
expect_eq "$(stat -L -c %s /dev/fd/3)" 8 "fstat of the deleted snapshot's descriptor"
# The file changes again: the deleted one, still open, stays frozen.
sx 'printf CCCCCCCC | dd of="$1" conv=notrunc status=none' "$M/F"
expect_eq "$(s cat /dev/fd/3)" AAAAAAAA "the deleted snapshot after another write"
expect_eq "$(s cat "$M/F@@/snap/v")" BBBBBBBB "the new snapshot after another write"
[ "$(entries snap)" != "v " ] || fail "the deleted snapshot's pages went while open"
exec 3<&-
sleep 0.2       # RELEASE follows close(2)
expect_eq "$(entries snap)" "v " "snapshot entries once the descriptor closed"
expect_eq "$(s cat "$M/F@@/snap/v")" BBBBBBBB "v after the old one went"
s rm "$M/F@@/snap/v"

check "a deleted private view's descriptor writes its own pages, not a new view's"
s touch "$M/F@@/cow/k"
exec 5<>"$M/F@@/cow/k"
s rm "$M/F@@/cow/k"
s touch "$M/F@@/cow/k"
printf STALE >&5
expect_eq "$(s cat "$M/F@@/cow/k")" CCCCCCCC "the new private view k"
expect_eq "$(s cat "$M/F")" CCCCCCCC "the file"
expect_eq "$(s cat /dev/fd/5)" STALECCC "the deleted view, through its descriptor"
expect_eq "$(s ls "$M/F@@/cow")" k "ls F@@/cow"
exec 5<&-
sleep 0.2
expect_eq "$(entries cow)" "k " "private view entries once the descriptor closed"
s rm "$M/F@@/cow/k"

check "a renamed snapshot's descriptor keeps reading it"
s touch "$M/F@@/snap/a"
exec 3<"$M/F@@/snap/a"
s mv "$M/F@@/snap/a" "$M/F@@/snap/b"
sx 'printf DDDDDDDD | dd of="$1" conv=notrunc status=none' "$M/F"
expect_eq "$(s cat /dev/fd/3)" CCCCCCCC "the descriptor of a, renamed b"
s touch "$M/F@@/snap/a"
expect_eq "$(s cat /dev/fd/3)" CCCCCCCC "the descriptor of a, once a new a exists"
expect_eq "$(s cat "$M/F@@/snap/a")" DDDDDDDD "the new a"
exec 3<&-
s rm "$M/F@@/snap/a" "$M/F@@/snap/b"

check "a delete left open by a killed daemon is finished at the next start"
s touch "$M/F@@/snap/old" "$M/F@@/snap/held"
sx 'printf EEEEEEEE | dd of="$1" conv=notrunc status=none' "$M/F"
# held now holds the page old reads through it.
exec 3<"$M/F@@/snap/held"
s rm "$M/F@@/snap/held"
kill -KILL "${MF_PID_OF[$M]}"
mf_reap "${MF_PID_OF[$M]}"
exec 3<&-
s fusermount3 -u "$M" 2>/dev/null || s fusermount3 -uz "$M"
mf_mount "$B" "$M"
expect_eq "$(entries snap)" "old " "snapshot entries after the restart"
expect_eq "$(s cat "$M/F@@/snap/old")" DDDDDDDD "old after the restart (its page handed over)"
s rm "$M/F@@/snap/old"

# ------------------------------------------------------------------
check "a removed file has no live views"
printf OOOOOOOO >"$M/O"
oino=$(stat -c %i "$B/O")
s touch "$M/O@@/snap/s"
s rm "$M/O"
kept=$(find "$B/.mapfs/orphans" -type f)
[ -n "$kept" ] || fail "no kept copy of O in the state directory"
sum=$(sha256sum <"$kept")
expect_err "No such file or directory" sh -c 'printf X | dd of="$1" conv=notrunc status=none' sh "$M/O@@/rw"
expect_err "No such file or directory" truncate -s 1G "$M/O@@/rw"
expect_err "No such file or directory" cat "$M/O@@/ro"
expect_err "No such file or directory" cat "$M/O@@/ro:0+4"
expect_err "No such file or directory" cat "$M/O@@/rw:2"
expect_err "No such file or directory" touch "$M/O@@/snap/new"
expect_err "No such file or directory" touch "$M/O@@/cow/new"
expect_eq "$(sha256sum <"$kept")" "$sum" "the kept copy after the refused changes"
expect_eq "$(stat -c %s "$kept")" 8 "the kept copy's size"
expect_eq "$(s ls "$M/O@@")" "$(printf 'cow\nsnap')" "ls O@@"
expect_eq "$(s cat "$M/O@@/snap/s")" OOOOOOOO "O@@/snap/s"
s mv "$M/O@@/snap/s" "$M/O@@/snap/t"
expect_eq "$(s cat "$M/O@@/snap/t:4")" OOOO "O@@/snap/t:4 after mv"
s rm "$M/O@@/snap/t"
[ -z "$(find "$B/.mapfs/orphans" -type f)" ] || fail "O still kept after its last snapshot went"
expect_eq "$(records "$oino")" "" "O's record after its last snapshot went"

check "a removed file's last snapshot deleted while open: it goes at the last close, or at the next start"
printf PPPPPPPP >"$M/P"
pino=$(stat -c %i "$B/P")
s touch "$M/P@@/snap/s"
s rm "$M/P"
exec 3<"$M/P@@/snap/s"
s rm "$M/P@@/snap/s"
expect_eq "$(s cat /dev/fd/3)" PPPPPPPP "the removed file's deleted snapshot, still open"
[ -n "$(find "$B/.mapfs/orphans" -type f)" ] || fail "P let go of while its snapshot is open"
exec 3<&-
sleep 0.2
expect_eq "$(find "$B/.mapfs/orphans" -type f)$(records "$pino")" "" "P's state after the last close"
printf QQQQQQQQ >"$M/Q"
qino=$(stat -c %i "$B/Q")
s touch "$M/Q@@/snap/s"
s rm "$M/Q"
exec 3<"$M/Q@@/snap/s"
s rm "$M/Q@@/snap/s"
kill -KILL "${MF_PID_OF[$M]}"
mf_reap "${MF_PID_OF[$M]}"
exec 3<&-
s fusermount3 -u "$M" 2>/dev/null || s fusermount3 -uz "$M"
mf_mount "$B" "$M"
expect_eq "$(find "$B/.mapfs/orphans" -type f)$(records "$qino")" "" "Q's state after a restart"

check "a removed file's snapshots stay reachable after its directory goes"
mkdir "$M/D"
echo hi >"$M/D/F"
s touch "$M/D/F@@/snap/s"
echo changed >"$M/D/F"
s touch "$M/D/F@@/snap/s2"
s rm "$M/D/F"
s mv "$M/D" "$M/E"
[ ! -e "$M/E/F@@/snap/s" ] && [ ! -e "$M/D/F@@/snap/s" ] || fail "F's snapshots still under a path"
ino=$(stat -c %i "$(find "$B/.mapfs/orphans" -type f)")
R="$M/.removed/D%2FF@$ino@@"
expect_eq "$(s ls "$M/.removed")" "D%2FF@$ino@@" "ls .removed"
expect_eq "$(s ls "$R")" "$(printf 'cow\nsnap')" "ls .removed/D%2FF@INO@@"
expect_eq "$(s ls "$R/snap")" "$(printf 's\ns2')" "ls .removed/...@@/snap"
expect_eq "$(s cat "$R/snap/s")" hi "snapshot s through .removed"
expect_eq "$(s cat "$R/snap/s2")" changed "snapshot s2 through .removed"
expect_err "No such file or directory" cat "$R/rw"
expect_err "No such file or directory" cat "$M/.removed/D%2FF@$ino"
expect_err "No such file or directory" ls "$M/.removed/nosuch@@"
expect_err "Operation not permitted" touch "$M/.removed/x"
case " $(s ls -a "$M") " in *" .removed "*) fail "ls -a of the root lists .removed" ;; esac
s rmdir "$M/E"
expect_eq "$(s "$MAPFSCTL" snapshot list "$M/.removed/D%2FF@$ino" | awk 'NR > 1 { print $1 }' | tr '\n' ' ')" "s s2 " "mapfsctl snapshot list of the removed file"
s "$MAPFSCTL" list "$M" >"$MF_T/list"
grep -qF ".removed/D%2FF@$ino (unlinked)" "$MF_T/list" || fail "mapfsctl list MOUNT does not show the removed file: $(cat "$MF_T/list")"
s mv "$R/snap/s" "$R/snap/renamed"
s "$MAPFSCTL" snapshot delete "$M/.removed/D%2FF@$ino" renamed
s rm "$R/snap/s2"
expect_eq "$(s ls -A "$M/.removed")" "" "ls .removed after the last snapshot went"
expect_eq "$(find "$B/.mapfs/orphans" -mindepth 1)$(records "$ino")" "" "state left after the last snapshot went"

check "a new file that gets a removed file's inode number inherits nothing"
printf XXXXXXXX >"$M/X"
s touch "$M/X@@/cow/c" "$M/X@@/snap/s"
sx 'printf PRIV | dd of="$1" conv=notrunc status=none' "$M/X@@/cow/c"
xino=$(stat -c %i "$B/X")
mf_umount "$M"
rm "$B/X"
printf YYYYYYYY >"$B/Y"
yino=$(stat -c %i "$B/Y")
# ext4 often hands X's inode number to Y, but not surely (other processes
# take freed ones; without a journal, none is reused for a minute): if it
# did not, give X's state Y's inode number, as if it had.
xkey=$(records "$xino")
[ -n "$xkey" ] || fail "no state of X in the state directory"
xkey=${xkey##*/}
[ "$yino" == "$xino" ] || mv "$B/.mapfs/files/$xkey" "$B/.mapfs/files/$yino${xkey#"$xino"}"
mf_mount "$B" "$M"
expect_eq "$(s ls "$M/Y@@/cow" "$M/Y@@/snap")" "$(printf '%s:\n\n%s:' "$M/Y@@/cow" "$M/Y@@/snap")" "ls of the new file's cow and snap"
expect_err "No such file or directory" cat "$M/Y@@/cow/c"
s touch "$M/Y@@/cow/c"
expect_eq "$(s cat "$M/Y@@/cow/c")" YYYYYYYY "a new private view c of the new file"
s rm "$M/Y@@/cow/c"
rm -f "$B/Y"

check "a state directory of an older mapfs (files/INO) keeps its snapshots"
printf LLLLLLLL >"$M/L"
s touch "$M/L@@/snap/s" "$M/L@@/cow/c"
printf MMMM >"$M/L"
lino=$(stat -c %i "$B/L")
mf_umount "$M"
key=$(records "$lino")
[ -n "$key" ] && [ "${key##*/}" != "$lino" ] || fail "L's state is not kept under INO-BIRTH: '$key'"
mv "$key" "$B/.mapfs/files/$lino"       # as an older mapfs laid it out
mf_mount "$B" "$M"
expect_eq "$(s cat "$M/L@@/snap/s")" LLLLLLLL "L's snapshot after the old layout"
expect_eq "$(s cat "$M/L@@/cow/c")" MMMM "L's private view after the old layout"
expect_eq "$(records "$lino")" "$key" "L's state after the first look"
s rm "$M/L@@/snap/s" "$M/L@@/cow/c"

mf_umount "$M"

check "-o views=visible lists .removed"
printf x >"$B/V"
mf_mount "$B" "$M" -o views=visible
s touch "$M/V@@/snap/s"
s rm "$M/V"
case " $(s ls -a "$M" | tr '\n' ' ') " in *" .removed "*) ;; *) fail "ls -a with views=visible lacks .removed" ;; esac
s rm "$M/.removed/"*"@@/snap/s"
mf_umount "$M"
echo "PASS"
