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

# POSIX ACLs: the kernel enforces them (FUSE_CAP_POSIX_ACL) and caches them;
# whatever changes them through the mount must show at once.
if ! command -v setfacl >/dev/null; then
	echo "SKIP (ACLs): setfacl is missing (scripts/bootstrap installs acl)"
elif ! setfacl -m u:$NOBODY:r "$B/rootfile" 2>/dev/null; then
	echo "SKIP (ACLs): the backing filesystem has no POSIX ACLs"
else
	setfacl -b "$B/rootfile"
	check "an ACL on the backing file is enforced through the mount"
	sx 'echo acl > "$1" && chmod 644 "$1" && setfacl -m u:$2:--- "$1"' "$B/denied" $NOBODY
	nobody_err "Permission denied" 'cat "$1"' _ "$M/denied"
	expect_eq "$(s cat "$M/denied")" acl "root reading a file whose ACL denies nobody"
	sx 'echo acl > "$1" && chmod 600 "$1" && setfacl -m u:$2:rw "$1"' "$B/granted" $NOBODY
	expect_eq "$(as_nobody cat "$M/granted")" acl "nobody reading a 0600 file whose ACL grants it"

	check "setfacl and chmod through the mount change what the kernel enforces"
	sx 'echo mine > "$1" && chmod 600 "$1"' "$M/viamount"
	nobody_err "Permission denied" 'cat "$1"' _ "$M/viamount"
	s setfacl -m u:$NOBODY:rw "$M/viamount"
	expect_eq "$(as_nobody cat "$M/viamount")" mine "nobody reading after setfacl through the mount"
	expect_eq "$(getfacl -cp "$M/viamount" | sort)" "$(getfacl -cp "$B/viamount" | sort)" \
		"the ACL through the mount and on the backing file"
	expect_eq "$(stat -c %a "$M/viamount")" 660 "the mode after setfacl (the mask is the group bits)"
	s chmod 600 "$M/viamount"
	nobody_err "Permission denied" 'cat "$1"' _ "$M/viamount"
	expect_eq "$(getfacl -cp "$M/viamount" | grep '^mask')" "mask::---" "the ACL mask after chmod 600"
	s setfacl -b "$M/viamount"
	s chmod 604 "$M/viamount"
	expect_eq "$(as_nobody cat "$M/viamount")" mine "nobody reading after setfacl -b and chmod 604"

	check "a default ACL, not the umask, gives new files their mode, as on a local filesystem"
	for d in "$B/local" "$M/dflt"; do
		s mkdir "$d"
		s setfacl -d -m u:$NOBODY:rwx,g::rwx "$d"
		sx 'umask 077 && echo x > "$1/f" && mkdir "$1/d"' "$d"
	done
	expect_eq "$(stat -c %a "$B/dflt/f") $(stat -c %a "$B/dflt/d")" \
		"$(stat -c %a "$B/local/f") $(stat -c %a "$B/local/d")" \
		"modes of a file and a directory made through the mount under umask 077"
	expect_eq "$(getfacl -cp "$M/dflt/f")" "$(getfacl -cp "$B/local/f")" "the ACL a new file inherits"
	expect_eq "$(as_nobody cat "$M/dflt/f")" x "nobody reading a file its inherited ACL grants"
	s mkdir "$M/nodefault"
	sx 'umask 027 && echo x > "$1/f" && mkdir "$1/d"' "$M/nodefault"
	expect_eq "$(stat -c %a "$B/nodefault/f") $(stat -c %a "$B/nodefault/d")" "640 750" \
		"modes made under umask 027 without a default ACL"
fi

check "a write or truncate by nobody clears setuid, and setgid if group-executable; root's does not"
# The kernel leaves this to the daemon (FUSE_HANDLE_KILLPRIV_V2), whatever
# way the bytes change: write, truncate, O_TRUNC, fallocate, an rw view.
s mkdir "$M/sx"
s chmod 777 "$M/sx"
for how in write truncate otrunc fallocate view sgid-noexec root; do
	sx 'echo x > "$1"' "$M/sx/$how"
done
for how in write truncate otrunc fallocate view; do s chmod 6777 "$M/sx/$how"; done
s chmod 2767 "$M/sx/sgid-noexec"
s chmod 4777 "$M/sx/root"
as_nobody bash -c 'echo more >> "$1/write" && truncate -s 1 "$1/truncate" && echo new > "$1/otrunc" &&
	fallocate -l 1M "$1/fallocate" && printf y > "$1/view@@/rw" && echo more >> "$1/sgid-noexec"' _ "$M/sx" ||
	fail "nobody could not change files of mode 6777"
sx 'echo more >> "$1"' "$M/sx/root"
for how in write truncate otrunc fallocate view; do
	expect_eq "$(stat -c %a "$B/sx/$how")" 777 "mode of a 6777 file after nobody's $how (backing)"
	expect_eq "$(s stat -c %a "$M/sx/$how")" 777 "mode of a 6777 file after nobody's $how (mount)"
done
expect_eq "$(stat -c %a "$B/sx/sgid-noexec")" 2767 "mode of a 2767 file after nobody's write"
expect_eq "$(s stat -c %a "$M/sx/root")" 4777 "mode of a 4777 file after root's write"
mf_umount "$M"

check "without -o allow_other, nobody cannot use the mount"
mf_mount "$B" "$M"
nobody_err "Permission denied" 'ls "$1"' _ "$M"
nobody_err "Permission denied" 'cat "$1"' _ "$M/rootfile"
expect_eq "$(s cat "$M/rootfile")" secret "root reading through the mount without allow_other"
mf_umount "$M"

echo "PASS"
