#!/bin/bash
# Permissions with default_permissions, mounted by root with -o allow_other,
# used by nobody: what nobody may and may not do, and who owns what nobody
# creates (also in a setgid directory).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

[ "$(id -u)" -eq 0 ] || fail "test-perms must run as root (it mounts with allow_other and switches to nobody)"
NOBODY=65534
chmod 755 "$MF_T"
B=$(mf_dir backing)
M=$(mf_dir mnt)
chmod 755 "$B" "$M"

as_nobody() {
	s setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"
}
nobody_err() { # MESSAGE SHELL-CODE ARGS...: as nobody, the code must fail with MESSAGE
	local msg=$1
	shift
	expect_err "$msg" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups bash -c "$@"
}

mf_mount "$B" "$M" -o allow_other

check "root's files, as nobody: read 0644, not write it, not read 0600"
sx 'echo secret > "$1" && chmod 644 "$1"' "$M/rootfile"
sx 'echo hidden > "$1" && chmod 600 "$1"' "$M/private"
expect_eq "$(as_nobody cat "$M/rootfile")" secret "nobody reading a root-owned 0644 file"
nobody_err "Permission denied" 'echo x >> "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'echo x > "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'truncate -s 0 "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'cat "$1"' _ "$M/private"
nobody_err "Operation not permitted" 'chmod 666 "$1"' _ "$M/rootfile"
nobody_err "Operation not permitted" 'touch -c -d 2001-01-01 "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'setfattr -n user.x -v y "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'echo x > "$1"' _ "$M/new-in-root-dir"
nobody_err "Permission denied" 'rm -f "$1"' _ "$M/rootfile"
nobody_err "Permission denied" 'mkdir "$1"' _ "$M/newdir"
expect_eq "$(s cat "$M/rootfile")" secret "root's file after nobody's attempts"
expect_eq "$(cat "$B/rootfile")" secret "root's file in the backing dir after nobody's attempts"
[ ! -e "$B/new-in-root-dir" ] || fail "nobody created a file in a root-owned 0755 directory"

check "a file nobody creates in a 1777 directory belongs to nobody"
s mkdir "$M/pub"
s chmod 1777 "$M/pub"
as_nobody bash -c 'echo mine > "$1"' _ "$M/pub/mine" || fail "nobody cannot create a file in a 1777 directory"
expect_eq "$(stat -c %u:%g "$B/pub/mine")" $NOBODY:$NOBODY "owner in the backing dir of nobody's new file"
expect_eq "$(s stat -c %u:%g "$M/pub/mine")" $NOBODY:$NOBODY "owner through the mount of nobody's new file"
as_nobody mkdir "$M/pub/dir" || fail "nobody cannot mkdir in a 1777 directory"
as_nobody ln -s mine "$M/pub/link" || fail "nobody cannot make a symlink in a 1777 directory"
as_nobody mkfifo "$M/pub/fifo" || fail "nobody cannot mkfifo in a 1777 directory"
for f in dir link fifo; do
	expect_eq "$(stat -c %u:%g "$B/pub/$f")" $NOBODY:$NOBODY "owner in the backing dir of nobody's new $f"
done
as_nobody bash -c 'echo more >> "$1"' _ "$M/pub/mine" || fail "nobody cannot append to its own file"
as_nobody chmod 600 "$M/pub/mine" || fail "nobody cannot chmod its own file"
expect_eq "$(s cat "$M/pub/mine" | tr '\n' ' ')" "mine more " "nobody's file, read by root"

check "the sticky bit: nobody cannot remove or rename root's file in a 1777 directory"
sx 'echo root > "$1"' "$M/pub/roots"
nobody_err "Operation not permitted" 'rm -f "$1"' _ "$M/pub/roots"
nobody_err "Operation not permitted" 'mv "$1" "$2"' _ "$M/pub/roots" "$M/pub/stolen"
[ -e "$B/pub/roots" ] || fail "nobody removed root's file from a sticky directory"
as_nobody rm "$M/pub/link" || fail "nobody cannot remove its own symlink"

check "a setgid directory passes its group on"
s mkdir "$M/sg"
s chown 0:100 "$M/sg"
s chmod 3777 "$M/sg"
as_nobody bash -c 'echo x > "$1"' _ "$M/sg/f" || fail "nobody cannot create a file in a 3777 directory"
expect_eq "$(stat -c %u:%g "$B/sg/f")" $NOBODY:100 "owner of nobody's file in a setgid directory"
as_nobody mkdir "$M/sg/d"
expect_eq "$(stat -c %u:%g "$B/sg/d")" $NOBODY:100 "owner of nobody's directory in a setgid directory"
[ -g "$B/sg/d" ] || fail "a directory made in a setgid directory is not setgid itself"
mf_umount "$M"

check "without -o allow_other, nobody cannot use the mount"
mf_mount "$B" "$M"
nobody_err "Permission denied" 'ls "$1"' _ "$M"
nobody_err "Permission denied" 'cat "$1"' _ "$M/rootfile"
expect_eq "$(s cat "$M/rootfile")" secret "root reading through the mount without allow_other"
mf_umount "$M"

echo "PASS"
