#!/bin/bash
# A view stays bound to what it opened (issue 10, parts 2-5).
#
#   * an open snapshot or private view keeps meaning the entry it opened:
#     after mv its descriptor still reads it; after rm it still reads (and
#     a private view still writes) its own bytes, never those of a new
#     entry that takes the name; the pages go when the last descriptor
#     closes, and a daemon stopped meanwhile removes them at its next start;
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

mf_umount "$M"
echo "PASS"
