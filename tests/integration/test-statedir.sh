#!/bin/bash
# The state directory: hidden and unreachable through the mount, locked
# against a second daemon, and `mapfs DIR DIR` (mounting over the backing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
M2=$(mf_dir mnt2)
echo hello >"$B/x"

mf_mount "$B" "$M"

check "BACKING/.mapfs exists behind the mount and is a directory"
[ -d "$B/.mapfs" ] || fail "the default state directory $B/.mapfs does not exist while mounted"
ls -A "$B/.mapfs" >"$MF_T/state-before"

check ".mapfs is not listed in the mount"
listing=$(s ls -a "$M") || fail "ls -a $M failed"
! grep -qx '.mapfs' <<<"$listing" || fail "ls -a $M lists .mapfs"
grep -qx 'x' <<<"$listing" || fail "ls -a $M does not list the file x: $listing"
found=$(s find "$M") || fail "find $M failed"
! grep -q '\.mapfs' <<<"$found" || fail "find $M walks into the state dir: $found"

check ".mapfs is unreachable through the mount"
expect_err "No such file or directory" stat "$M/.mapfs"
expect_err "No such file or directory" ls "$M/.mapfs/"
expect_err "No such file or directory" cat "$M/.mapfs/lock"
if s stat "$M/.mapfs/." >/dev/null 2>&1; then fail "stat $M/.mapfs/. succeeded"; fi

check ".mapfs cannot be created or renamed onto through the mount"
for cmd in "mkdir $M/.mapfs" "touch $M/.mapfs" "ln -s x $M/.mapfs" "ln $M/x $M/.mapfs" \
	"mv $M/x $M/.mapfs" "mv $M/.mapfs $M/stolen" "mkfifo $M/.mapfs" "rmdir $M/.mapfs" \
	"rm -rf $M/.mapfs"; do
	if [ "${cmd%% *}" = "rm" ]; then
		# rm -f of a name that does not exist succeeds; it must not touch the state.
		s $cmd 2>/dev/null || true
	elif s $cmd 2>/dev/null; then
		fail "'$cmd' succeeded through the mount"
	fi
done
[ "$(s cat "$M/x")" == hello ] || fail "$M/x changed while trying to rename it onto .mapfs"
[ -d "$B/.mapfs" ] || fail "the state directory $B/.mapfs is gone"
ls -A "$B/.mapfs" >"$MF_T/state-after"
diff "$MF_T/state-before" "$MF_T/state-after" >/dev/null ||
	fail "the state directory changed: $(diff "$MF_T/state-before" "$MF_T/state-after")"
expect_err "No such file or directory" stat "$M/.mapfs"

check "a .mapfs below the top is an ordinary name"
s mkdir "$M/sub"
sx 'echo inner > "$1"' "$M/sub/.mapfs" || fail "cannot create sub/.mapfs through the mount"
s ls -a "$M/sub" | grep -qx '.mapfs' || fail "sub/.mapfs is not listed"
[ "$(cat "$B/sub/.mapfs")" == inner ] || fail "sub/.mapfs did not reach the backing dir"

check "a second mapfs on the same backing tree is refused"
mf_refused "$M2" "$B" "$M2"
grep -qi 'lock\|already\|busy\|in use' <<<"$MF_ERR" ||
	fail "the refusal does not say why (locked / already mounted): $MF_ERR"
mf_refused "$M2" "$B/" "$M2"
mf_alive "$M"
[ "$(s cat "$M/x")" == hello ] || fail "the first mount no longer reads x after the refused second mount"
mf_umount "$M"

check "-o statedir=DIR keeps the state there, locked"
SD=$(mf_dir state)
mf_mount "$B" "$M" -o "statedir=$SD"
mf_refused "$M2" -o "statedir=$SD" "$B" "$M2"
sx 'echo via-statedir > "$1"' "$M/y"
mf_umount "$M"
[ "$(cat "$B/y")" == via-statedir ] || fail "a file written with -o statedir did not reach the backing dir"

check "-o statedir=DIR inside the backing tree hides DIR"
mkdir -p "$B/sub/inner-state"
mf_mount "$B" "$M" -o "statedir=$B/sub/inner-state"
s ls -a "$M/sub" >"$MF_T/ls-sub"
! grep -qx 'inner-state' "$MF_T/ls-sub" || fail "-o statedir=$B/sub/inner-state is listed in the mount"
grep -qx '.mapfs' "$MF_T/ls-sub" || fail "sub/.mapfs vanished with -o statedir elsewhere"
expect_err "No such file or directory" stat "$M/sub/inner-state"
mf_refused "$M2" -o "statedir=$B/sub/inner-state" "$B" "$M2"
mf_umount "$M"

check "mapfs DIR DIR mounts over the backing dir itself"
D=$(mf_dir self)
echo before >"$D/old"
mf_mount "$D" "$D"
read -r src type <<<"$(mf_fstype "$D")"
expect_eq "$type" "fuse.mapfs" "type of the mount over $D"
expect_eq "$src" "$D" "source of the mount over $D"
[ "$(s cat "$D/old")" == before ] || fail "a file that existed before does not read through the mount over itself"
s dd if=/dev/urandom of="$MF_T/rand" bs=100k count=20 status=none
s cp "$MF_T/rand" "$D/new"
s cmp "$D/new" "$MF_T/rand" || fail "new file reads back wrong through the mount over itself"
listing=$(s ls -a "$D")
! grep -qx '.mapfs' <<<"$listing" || fail "ls -a lists .mapfs in the mount over $D"
expect_err "No such file or directory" stat "$D/.mapfs"
mf_refused "$M2" "$D" "$M2"
mf_umount "$D"
! mf_is_mounted "$D" || fail "$D still mounted"
cmp "$D/new" "$MF_T/rand" || fail "after unmounting DIR DIR, the file written through it differs"
[ -d "$D/.mapfs" ] || fail "after unmounting DIR DIR, $D/.mapfs does not exist"

echo "PASS"
