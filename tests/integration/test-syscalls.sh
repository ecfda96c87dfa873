#!/bin/bash
# System calls through the mount behave as on the backing file system:
# chmod/chown, utimens, mkdir/rmdir, unlink, hard links, FIFOs, statfs,
# xattrs, fallocate and hole punching, SEEK_DATA/SEEK_HOLE,
# copy_file_range, renameat2, and open flags (O_EXCL, O_APPEND, O_TRUNC).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
RAND="$MF_T/rand"
head -c 4194304 /dev/urandom >"$RAND"

mf_mount "$B" "$M"

st() { # FORMAT PATH: stat through a time limit
	s stat -c "$1" "$2"
}

check "chmod and chown"
sx 'echo data > "$1"' "$M/f"
s chmod 604 "$M/f"
expect_eq "$(st %a "$M/f")" 604 "mode after chmod 604 (mount)"
expect_eq "$(stat -c %a "$B/f")" 604 "mode after chmod 604 (backing)"
s chown 65534:65534 "$M/f"
expect_eq "$(st %u:%g "$M/f")" 65534:65534 "owner after chown 65534:65534 (mount)"
expect_eq "$(stat -c %u:%g "$B/f")" 65534:65534 "owner after chown 65534:65534 (backing)"
s chown 0:0 "$M/f"
s chmod 4755 "$M/f"
s chown 1:1 "$M/f"
expect_eq "$(st %a "$M/f")" 755 "mode after chown of a setuid file (the kernel clears setuid)"

check "chown -h and touch -h change the symlink, not its target"
sx 'echo t > "$1"' "$M/target"
s ln -s target "$M/sym"
s chown -h 65534:65534 "$M/sym"
expect_eq "$(stat -c %u:%g "$B/sym"):$(stat -c %u:%g "$B/target")" 65534:65534:0:0 "owners of symlink:target after chown -h"
s touch -h -d @1000000000.5 "$M/sym"
expect_eq "$(s stat -c %.9Y "$M/sym")" 1000000000.500000000 "mtime of the symlink after touch -h"
[ "$(stat -c %Y "$B/target")" != 1000000000 ] || fail "touch -h changed the symlink's target"
expect_eq "$(s readlink "$M/sym")" target "the symlink's target"

check "the caller's umask applies to files and directories created through the mount"
sx 'umask 077 && touch "$1" && mkdir "$2"' "$M/um1" "$M/umd1"
sx 'umask 002 && touch "$1" && mkdir "$2"' "$M/um2" "$M/umd2"
expect_eq "$(s stat -c %a "$M/um1" "$M/umd1" "$M/um2" "$M/umd2" | tr '\n' ' ')" "600 700 664 775 " \
	"modes created under umask 077 and 002"

check "utimens: touch -d, touch -a and -m leave the other time alone"
s touch -d '2001-02-03 04:05:06.123456789 UTC' "$M/f"
expect_eq "$(TZ=UTC st '%x|%y' "$M/f")" \
	"2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000" "times after touch -d (mount)"
expect_eq "$(TZ=UTC stat -c '%x|%y' "$B/f")" \
	"2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000" "times in the backing dir"
s touch -a -d '2002-01-01 00:00:00.5 UTC' "$M/f"
expect_eq "$(TZ=UTC st '%x|%y' "$M/f")" \
	"2002-01-01 00:00:00.500000000 +0000|2001-02-03 04:05:06.123456789 +0000" "times after touch -a"
s touch -m -d '2003-01-01 00:00:00.25 UTC' "$M/f"
expect_eq "$(TZ=UTC st '%x|%y' "$M/f")" \
	"2002-01-01 00:00:00.500000000 +0000|2003-01-01 00:00:00.250000000 +0000" "times after touch -m"
expect_eq "$(TZ=UTC stat -c '%x|%y' "$B/f")" \
	"2002-01-01 00:00:00.500000000 +0000|2003-01-01 00:00:00.250000000 +0000" "times in the backing dir after touch -m"
before=$(st %Y "$M/f")
s touch "$M/f"
now=$(date +%s)
after=$(st %Y "$M/f")
[ "$after" -ge $((now - 5)) ] && [ "$after" -le $((now + 5)) ] ||
	fail "touch (now) set mtime $after, not about $now (was $before)"

check "mkdir and rmdir"
s mkdir "$M/d"
expect_eq "$(st %F "$M/d")" directory "type of a new directory"
expect_err "File exists" mkdir "$M/d"
sx 'echo x > "$1"' "$M/d/inner"
expect_err "Directory not empty" rmdir "$M/d"
s rm "$M/d/inner"
s rmdir "$M/d"
expect_err "No such file or directory" stat "$M/d"
[ ! -e "$B/d" ] || fail "rmdir through the mount left $B/d"
expect_err "Not a directory" rmdir "$M/f"

check "unlink, also of an open file"
sx 'echo bye > "$1"' "$M/u"
s rm "$M/u"
expect_err "No such file or directory" stat "$M/u"
[ ! -e "$B/u" ] || fail "unlink through the mount left $B/u"
s cp "$RAND" "$M/u2"
expect_ops 4194304 unlink-open "$M/u2"
expect_err "No such file or directory" stat "$M/u2"

check "hard links share an inode and count"
sx 'echo linked > "$1"' "$M/h1"
s ln "$M/h1" "$M/h2"
expect_eq "$(st %h "$M/h1")" 2 "link count of h1 after ln"
expect_eq "$(st %i "$M/h1")" "$(st %i "$M/h2")" "inode numbers of two hard links through the mount"
expect_eq "$(stat -c %i "$B/h1")" "$(stat -c %i "$B/h2")" "backing inode numbers of the hard links"
sx 'echo more >> "$1"' "$M/h2"
expect_eq "$(s cat "$M/h1" | tr '\n' ' ')" "linked more " "h1 after appending through h2"
s rm "$M/h1"
expect_eq "$(st %h "$M/h2")" 1 "link count of h2 after removing h1"
expect_eq "$(s cat "$M/h2" | tr '\n' ' ')" "linked more " "h2 after removing h1"

check "FIFO"
s mkfifo "$M/p"
expect_eq "$(st %F "$M/p")" fifo "type of a FIFO (mount)"
expect_eq "$(stat -c %F "$B/p")" fifo "type of the FIFO in the backing dir"
sx 'echo through-fifo > "$1"' "$M/p" &
wpid=$!
got=$(s cat "$M/p") || fail "reading the FIFO failed"
wait "$wpid" || fail "writing into the FIFO failed"
expect_eq "$got" through-fifo "what came through the FIFO"

check "statfs (df)"
read -r mb ms mc <<<"$(s stat -f -c '%b %S %c' "$M")"
read -r bb bs bc <<<"$(stat -f -c '%b %S %c' "$B")"
expect_eq $((mb * ms)) $((bb * bs)) "total bytes from statfs, mount vs backing"
expect_eq "$mc" "$bc" "total inodes from statfs, mount vs backing"
s df -P "$M" | tail -n 1 | grep -q " $M\$" || fail "df $M does not show the mount"
mfree=$(s df -B1 --output=avail "$M" | tail -n 1)
[ "$mfree" -gt 0 ] || fail "df shows no free space on $M"

check "xattrs: set, get, list, remove"
sx 'echo x > "$1"' "$M/x"
s setfattr -n user.color -v blue "$M/x"
expect_eq "$(s getfattr --absolute-names --only-values -n user.color "$M/x")" blue "user.color read back"
expect_eq "$(getfattr --absolute-names --only-values -n user.color "$B/x")" blue "user.color in the backing dir"
s setfattr -n user.big -v "0x$(head -c 2000 "$RAND" | xxd -p | tr -d '\n')" "$M/x"
expect_eq "$(s getfattr --absolute-names -e hex -n user.big "$M/x" | sed -n 's/^user.big=//p')" \
	"$(getfattr --absolute-names -e hex -n user.big "$B/x" | sed -n 's/^user.big=//p')" "a 2000-byte xattr"
s getfattr --absolute-names -d "$M/x" | grep -q '^user.color="blue"' || fail "getfattr --absolute-names -d does not list user.color"
s setfattr -x user.color "$M/x"
expect_err "No such attribute" getfattr --absolute-names -n user.color "$M/x"
expect_err "No such attribute" getfattr --absolute-names -n user.color "$B/x"
# Files the daemon holds open answer through that fd, others through their
# O_PATH fd: the same answers either way.
echo y >"$B/never-opened"
setfattr -n user.shape -v round "$B/never-opened"
expect_eq "$(s getfattr --absolute-names --only-values -n user.shape "$M/never-opened")" round \
	"user.shape of a file the mount never opened"
s getfattr --absolute-names -d "$M/never-opened" | grep -q '^user.shape="round"' ||
	fail "getfattr -d does not list user.shape of a file the mount never opened"
expect_err "No such attribute" getfattr --absolute-names -n user.none "$M/never-opened"
s rm "$M/never-opened"
expect_err "No such attribute" setfattr -x user.nothing "$M/x"
s setfattr -n user.ondir -v d "$M" || fail "setfattr on the top directory failed"
expect_eq "$(s getfattr --absolute-names --only-values -n user.ondir "$M")" d "xattr of the top directory"

check "SELinux labels do not pass through: not supported, so ls -l asks once"
echo z >"$B/labelled"
setfattr -n user.kept -v yes "$B/labelled"
if setfattr -n security.selinux -v backing_t "$B/labelled" 2>/dev/null; then
	s getfattr --absolute-names -d -m - "$M/labelled" >"$MF_T/labels"
	grep -q '^user.kept="yes"' "$MF_T/labels" || fail "getfattr -d -m - lost user.kept next to a label"
	grep -q '^security.selinux' "$MF_T/labels" && fail "listxattr shows the backing file's SELinux label"
else
	echo "note: the backing filesystem takes no security.selinux; listxattr filtering not checked"
fi
expect_err "Operation not supported" getfattr --absolute-names -n security.selinux "$M/labelled"
expect_err "Operation not supported" setfattr -n security.selinux -v mine_t "$M/labelled"
expect_err "Operation not supported" getfattr --absolute-names -n security.selinux "$M/x@@/rw"
getfattr --absolute-names -n security.selinux "$B/labelled" 2>/dev/null | grep -q mine_t &&
	fail "setfattr security.selinux through the mount changed the backing file"
# ls -l stops asking after the first "not supported": one lgetxattr of
# the label for 50 files, not 50 (each was a round trip to the daemon).
s mkdir "$M/labels50"
for i in $(seq 50); do echo >"$B/labels50/f$i"; done
s strace -f -e trace=lgetxattr,getxattr -o "$MF_T/ls.trace" ls -l "$M/labels50" >/dev/null
expect_eq "$(grep -c security.selinux "$MF_T/ls.trace")" 1 "ls -l of 50 files: lgetxattr security.selinux calls"

check "fallocate, and fallocate -p punches a hole"
s fallocate -l 4M "$M/fa"
expect_eq "$(st %s "$M/fa")" 4194304 "size after fallocate -l 4M"
[ "$(stat -c %b "$B/fa")" -ge 8192 ] || fail "fallocate -l 4M allocated only $(stat -c %b "$B/fa") blocks"
s cmp -n 4194304 "$M/fa" /dev/zero || fail "a fallocated file does not read as zeros"
s dd if="$RAND" of="$M/ph" bs=1M conv=fsync status=none
blocks0=$(stat -c %b "$B/ph")
s fallocate -p -o 1M -l 1M "$M/ph"
expect_eq "$(st %s "$M/ph")" 4194304 "size after punching a hole"
s cmp -n 1048576 "$M/ph" "$RAND" || fail "bytes before the hole changed"
s cmp -i 1048576:0 -n 1048576 "$M/ph" /dev/zero || fail "the punched range does not read as zeros through the mount"
s cmp -i 2097152 "$M/ph" "$RAND" || fail "bytes after the hole changed"
cmp -i 1048576:0 -n 1048576 "$B/ph" /dev/zero || fail "the punched range is not zero in the backing file"
[ "$(stat -c %b "$B/ph")" -le $((blocks0 - 2048)) ] ||
	fail "punching 1 MiB freed no space ($blocks0 -> $(stat -c %b "$B/ph") blocks)"

check "SEEK_DATA and SEEK_HOLE"
s truncate -s 16M "$M/sp"
s dd if="$RAND" of="$M/sp" bs=1M count=1 seek=8 conv=notrunc,fsync status=none
expect_ops 8388608 seek "$M/sp" data 0
expect_ops 9437184 seek "$M/sp" hole 8388608
expect_ops 0 seek "$M/sp" hole 0
expect_ops 8389000 seek "$M/sp" data 8389000
expect_ops ENXIO seek "$M/sp" data 9437184
expect_ops 9437184 seek "$M/sp" hole 9437184
expect_ops ENXIO seek "$M/sp" data 16777216
expect_eq "$("$MF_OPS" seek "$B/sp" data 0)" 8388608 "SEEK_DATA on the backing file (sanity)"

check "copy_file_range and cp --reflink=never"
expect_ops 4194304 copy "$M/ph" "$M/cfr"
s cmp "$M/cfr" "$M/ph" || fail "copy_file_range copy differs (mount)"
cmp "$B/cfr" "$B/ph" || fail "copy_file_range copy differs (backing)"
s cp --reflink=never "$RAND" "$M/cpr"
s cmp "$M/cpr" "$RAND" || fail "cp --reflink=never into the mount differs"
s cp --reflink=never "$M/cpr" "$M/cpr2"
s cmp "$M/cpr2" "$RAND" || fail "cp --reflink=never within the mount differs"

check "renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE"
sx 'echo A > "$1"; echo B > "$2"' "$M/ra" "$M/rb"
expect_ops EEXIST rename "$M/ra" "$M/rb" noreplace
expect_eq "$(s cat "$M/ra")$(s cat "$M/rb")" AB "files after a refused RENAME_NOREPLACE"
expect_ops OK rename "$M/ra" "$M/rc" noreplace
expect_err "No such file or directory" stat "$M/ra"
expect_eq "$(s cat "$M/rc")" A "the file renamed with RENAME_NOREPLACE"
expect_ops OK rename "$M/rc" "$M/rb" exchange
expect_eq "$(s cat "$M/rc")$(s cat "$M/rb")" BA "files after RENAME_EXCHANGE (mount)"
expect_eq "$(cat "$B/rc")$(cat "$B/rb")" BA "files after RENAME_EXCHANGE (backing)"
s mkdir "$M/rdir"
expect_ops OK rename "$M/rc" "$M/rdir" exchange
expect_eq "$(st %F "$M/rc")" directory "rc after exchanging it with a directory"
expect_eq "$(s cat "$M/rdir")" B "rdir after exchanging it with a file"
expect_ops ENOENT rename "$M/nothing" "$M/rb" exchange
expect_ops OK rename "$M/rb" "$M/rdir" none
expect_eq "$(s cat "$M/rdir")" A "plain rename over an existing file"

check "renameat2: RENAME_WHITEOUT passes to the backing filesystem (overlayfs's upper layer)"
sx 'echo W > "$1"; echo X > "$2"' "$M/wa" "$M/wb"
expect_ops OK rename "$M/wa" "$M/wb" whiteout
expect_eq "$(s cat "$M/wb")" W "the file renamed over another with RENAME_WHITEOUT"
expect_eq "$(st '%F %t:%T' "$M/wa")" "character special file 0:0" "what RENAME_WHITEOUT left at the old name (mount)"
expect_eq "$(stat -c '%F %t:%T' "$B/wa")" "character special file 0:0" "what RENAME_WHITEOUT left at the old name (backing)"
expect_ops EEXIST rename "$M/wb" "$M/wa" whiteout,noreplace
expect_ops OK rename "$M/wb" "$M/wc" whiteout,noreplace
expect_eq "$(st %F "$M/wb")$(s cat "$M/wc")" "character special fileW" "names after RENAME_WHITEOUT|RENAME_NOREPLACE"
expect_ops EINVAL rename "$M/wc" "$M/wa" whiteout,exchange
# The whiteout is its maker's, as the kernel makes it (any user may make
# one since Linux 5.8). Another user needs a mount it may use: allow_other.
chmod 755 "$MF_T"
BO=$(mf_dir backing-other)
MO=$(mf_dir mnt-other)
mf_mount "$BO" "$MO" -o allow_other
s mkdir -m 1777 "$MO/wd"
sx 'echo U > "$1"' "$MO/wd/u"
s chown 65534:65534 "$MO/wd/u"
expect_eq "$(s setpriv --reuid=65534 --regid=65534 --clear-groups "$MF_OPS" rename "$MO/wd/u" "$MO/wd/u2" whiteout)" \
	OK "RENAME_WHITEOUT by uid 65534"
expect_eq "$(stat -c '%F %u:%g' "$BO/wd/u")" "character special file 65534:65534" \
	"owner of uid 65534's whiteout (backing)"
mf_umount "$MO"

check "open: O_EXCL, O_APPEND, O_TRUNC"
expect_ops EEXIST open "$M/rdir" wronly,creat,excl
expect_ops OK open "$M/newx" wronly,creat,excl 0640
expect_eq "$(st %a:%s "$M/newx")" 640:0 "a file made by O_CREAT|O_EXCL 0640"
expect_ops EEXIST open "$M/newx" rdwr,creat,excl
sx 'printf abc > "$1"' "$M/ap"
expect_ops OK append "$M/ap" xyz
expect_ops OK append "$M/ap" 123
expect_eq "$(s cat "$M/ap")" abcxyz123 "file after two O_APPEND writes"
expect_eq "$(st %s "$M/ap")" 9 "size after two O_APPEND writes"
s cp "$RAND" "$M/tr"
s cmp "$M/tr" "$RAND" >/dev/null
expect_ops OK open "$M/tr" wronly,trunc
expect_eq "$(st %s "$M/tr")" 0 "size after O_TRUNC (mount)"
expect_eq "$(stat -c %s "$B/tr")" 0 "size after O_TRUNC (backing)"
expect_eq "$(s cat "$M/tr" | wc -c)" 0 "bytes read after O_TRUNC"
expect_ops ENOENT open "$M/missing" rdonly
expect_ops EISDIR open "$M/rc" wronly
expect_ops ENOTDIR open "$M/ap/x" rdonly

check "renaming a directory under open files: the old descriptor writes to the new path"
s mkdir -p "$M/d1/deeper"
sx 'echo first > "$1"' "$M/d1/deeper/f"
ino=$(s stat -c %i "$M/d1/deeper/f")
sx 'exec 5>>"$1" && mv "$2" "$3" && echo via-old-fd >&5 && exec 5>&- && cat "$4"' \
	"$M/d1/deeper/f" "$M/d1" "$M/d2" "$M/d2/deeper/f" >"$MF_T/out" || fail "writing through a descriptor opened before renaming its directory failed"
expect_eq "$(tr '\n' ' ' <"$MF_T/out")" "first via-old-fd " "the file after writing through an fd opened before its directory was renamed"
expect_eq "$(cat "$B/d2/deeper/f" | tr '\n' ' ')" "first via-old-fd " "the backing file after the directory rename"
expect_eq "$(s stat -c %i "$M/d2/deeper/f")" "$ino" "inode number of a file whose directory was renamed"
expect_err "No such file or directory" stat "$M/d1"
s mv "$M/d2/deeper" "$M/deeper-moved"
expect_eq "$(s cat "$M/deeper-moved/f" | head -n 1)" first "a file in a directory moved up a level"

check "names: 255 bytes, spaces, UTF-8, a leading dash; 256 bytes is too long"
long=$(printf 'n%.0s' $(seq 1 255))
sx 'echo long > "$1"' "$M/$long" || fail "a 255-byte name cannot be created"
[ -e "$B/$long" ] || fail "the 255-byte name is not in the backing dir"
expect_err "File name too long" touch "$M/${long}x"
odd=$'-odd name \xc3\xbc\xe2\x82\xac \'q\' "dq" $x *?'
sx 'echo odd > "$1"' "$M/$odd" || fail "a name with spaces, quotes and UTF-8 cannot be created"
expect_eq "$(cat -- "$B/$odd")" odd "the file with an odd name, in the backing dir"
s ls -a "$M" | grep -qxF -- "$odd" || fail "ls does not list the file with an odd name"

check "a directory of 3000 entries: readdir lists all, rm -rf removes all"
s mkdir "$M/many"
sx 'cd "$1" && seq -f "file-%05g-with-a-longer-name-to-fill-readdir-buffers" 1 3000 | xargs touch' "$M/many"
s ls -a "$M/many" | sort >"$MF_T/ls-mount"
ls -a "$B/many" | sort >"$MF_T/ls-backing"
expect_eq "$(wc -l <"$MF_T/ls-mount")" 3002 "entries listed by ls -a in a directory of 3000 files"
cmp -s "$MF_T/ls-mount" "$MF_T/ls-backing" || fail "ls -a of a directory of 3000 files differs from the backing dir"
expect_eq "$(s find "$M/many" -type f | wc -l)" 3000 "files found by find"
s rm -rf "$M/many" || fail "rm -rf of a directory of 3000 files failed"
[ ! -e "$B/many" ] || fail "rm -rf through the mount left $(ls "$B/many" | wc -l) entries"

check "mknod of a character device (as root)"
s mknod "$M/null" c 1 3 || fail "mknod c 1 3 failed"
expect_eq "$(s stat -c '%F %t,%T' "$M/null")" "character special file 1,3" "the device node (mount)"
expect_eq "$(stat -c '%F %t,%T' "$B/null")" "character special file 1,3" "the device node (backing)"

check "O_DIRECT opens work"
expect_ops OK open "$M/cpr" rdonly,direct
s dd if="$M/cpr" of="$MF_T/direct" bs=1M iflag=direct status=none
cmp "$MF_T/direct" "$RAND" || fail "an O_DIRECT read gives other bytes"

check "chattr and lsattr: the flags pass to the backing file or directory"
sx 'echo data > "$1"' "$M/ia"
s mkdir "$M/iad"
mf_flagged "$B/ia" "$B/iad"
attrs() { s lsattr "$@" | cut -d' ' -f1; }
expect_eq "$(attrs "$M/ia")" "$(lsattr "$B/ia" | cut -d' ' -f1)" "lsattr of a file (mount = backing)"
expect_eq "$(attrs -d "$M/iad")" "$(lsattr -d "$B/iad" | cut -d' ' -f1)" "lsattr -d of a directory (mount = backing)"
# FS_IOC_FSGETXATTR: the project id.
expect_eq "$(s lsattr -p "$M/ia" | cut -d' ' -f1)" "$(lsattr -p "$B/ia" | cut -d' ' -f1)" "lsattr -p (mount = backing)"
s chattr +d "$M/ia"
expect_eq "$(lsattr "$B/ia" | cut -d' ' -f1 | tr -cd d)" d "chattr +d through the mount, on the backing file"
s chattr -d "$M/ia"
expect_err "Operation not supported" chattr +d "$M/ia@@/ro"

check "chattr +i: writes through the mount fail with EPERM, an open descriptor's too"
# A descriptor opened for writing before the flag is set: its next write
# goes to windows the daemon mapped before, which the kernel does not check.
expect_err "Operation not permitted" bash -c 'exec 7>>"$1" && chattr +i "$1" && echo late >&7' _ "$M/ia"
expect_eq "$(lsattr "$B/ia" | cut -d' ' -f1 | tr -cd i)" i "the immutable flag on the backing file"
expect_eq "$(attrs "$M/ia" | tr -cd i)" i "the immutable flag through the mount"
expect_err "Operation not permitted" bash -c 'echo x >> "$1"' _ "$M/ia"
expect_err "Operation not permitted" bash -c 'echo x > "$1"' _ "$M/ia"
expect_err "Operation not permitted" dd if=/dev/zero of="$M/ia" bs=1 count=1 conv=notrunc status=none
expect_err "Operation not permitted" truncate -s 0 "$M/ia"
expect_err "Operation not permitted" bash -c 'echo x > "$1"' _ "$M/ia@@/rw"
expect_err "Operation not permitted" fallocate -l 1M "$M/ia"
expect_err "Operation not permitted" touch "$M/ia"
expect_err "Operation not permitted" rm -f "$M/ia"
# A private view of it takes writes (the file is untouched) but cannot
# be committed into it.
s touch "$M/ia@@/cow/c"
sx 'printf D | dd of="$1" conv=notrunc status=none' "$M/ia@@/cow/c"
expect_err "Operation not permitted" mv "$M/ia@@/cow/c" "$M/ia"
expect_eq "$(s cat "$M/ia@@/cow/c")" Data "the private view after its refused commit into an immutable file"
s rm "$M/ia@@/cow/c"
expect_eq "$(s cat "$M/ia")" data "an immutable file after the refused writes"
expect_eq "$(s cat "$M/ia@@/rw")" data "an immutable file read through rw (opened read-only)"
expect_eq "$(cat "$B/ia")" data "an immutable file after the refused writes (backing)"
s chattr -i "$M/ia"
sx 'echo more >> "$1"' "$M/ia"
expect_eq "$(cat "$B/ia" | tr '\n' ' ')" "data more " "the file written after chattr -i"

check "chattr +i on a tmpfs backing: descriptors opened before fail with EPERM"
# tmpfs lets stores into mappings made before go on: the daemon refuses.
TB=$(mf_dir tmpfs-backing)
mf_tmpfs "$TB" 16m
TM=$(mf_dir tmpfs-mnt)
mf_mount "$TB" "$TM"
sx 'echo data > "$1"' "$TM/f"
mf_flagged "$TB/f"
expect_err "Operation not permitted" bash -c 'exec 7>>"$1" 8<>"$1@@/rw" && chattr +i "$1" &&
	{ echo late >&7 || echo late >&8; }' _ "$TM/f"
expect_err "Operation not permitted" bash -c 'exec 8<>"$1@@/rw:1+2"' _ "$TM/f"
s chattr -i "$TM/f"
expect_err "Operation not permitted" bash -c 'exec 8<>"$1@@/rw:1+2" && chattr +i "$1" && echo X >&8' _ "$TM/f"
expect_eq "$(cat "$TB/f")" data "an immutable file after writes through descriptors opened before (backing)"
s chattr -i "$TM/f"
sx 'echo late >> "$1"' "$TM/f"
expect_eq "$(cat "$TB/f" | tr '\n' ' ')" "data late " "the file written after chattr -i (tmpfs)"
mf_umount "$TM"

check "chattr +a: writes that do not append fail with EPERM (appends too: see mapfs(1)); reads go on"
# Set while the file is open for writing, before anything of it was
# mapped: its reads must not map windows from the writable descriptor,
# which the kernel refuses for an append-only file (EACCES).
echo fresh >"$B/ib"
mf_flagged "$B/ib"
expect_err "Operation not permitted" bash -c 'exec 7>>"$1" && chattr +a "$1" && echo late >&7' _ "$M/ib"
expect_eq "$(s dd if="$M/ib" iflag=direct bs=4096 status=none)" fresh \
	"an append-only file read with O_DIRECT through the mount"
expect_eq "$(s cat "$M/ib@@/ro")" fresh "the ro view of an append-only file"
s chattr -a "$M/ib"
s rm "$M/ib"
s chattr +a "$M/ia"
expect_err "Operation not permitted" bash -c 'echo x > "$1"' _ "$M/ia"
expect_err "Operation not permitted" dd if=/dev/zero of="$M/ia" bs=1 count=1 conv=notrunc status=none
expect_err "Operation not permitted" truncate -s 0 "$M/ia"
expect_err "Operation not permitted" bash -c 'echo x >> "$1"' _ "$M/ia"
expect_err "Operation not permitted" rm -f "$M/ia"
expect_eq "$(cat "$B/ia" | tr '\n' ' ')" "data more " "an append-only file after the refused writes"
s chattr -a "$M/ia"

check "chattr +i on a directory: no entry is made or removed in it"
sx 'echo in > "$1"' "$M/iad/in"
s chattr +i "$M/iad"
expect_eq "$(attrs -d "$M/iad" | tr -cd i)" i "the immutable flag of a directory through the mount"
expect_err "Operation not permitted" touch "$M/iad/new"
expect_err "Operation not permitted" rm -f "$M/iad/in"
s chattr -i "$M/iad"
s rm -r "$M/iad" "$M/ia"

check "files without snapshots: creating and removing them looks nothing up in the state directory"
# The daemon knows which files have state (snapshots, private views): the
# other files cost no system call there, neither on create nor on unlink.
# The snapshot taken last shows that strace was watching all along.
s mkdir "$M/nostate"
sx 'echo x > "$1"' "$M/nostate/has"
strace -f -y -p "${MF_PID_OF[$M]}" -o "$MF_T/state.trace" 2>/dev/null &
spid=$!
for _ in $(seq 50); do grep -q . "$MF_T/state.trace" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
sx 'for i in $(seq 20); do echo x > "$1/f$i"; done; rm "$1"/f*' "$M/nostate"
s touch "$M/nostate/has@@/snap/s1"
sleep 0.5
kill -INT "$spid"
wait "$spid" || true
# The snapshot's state is kept under files/INO-BIRTHTIME (files/INO
# where the file system keeps no birth time).
has="[/\"]$(stat -c %i "$B/nostate/has")[-\">]"
grep '/\.mapfs/files' "$MF_T/state.trace" >"$MF_T/state.lines" || true
grep -q "$has" "$MF_T/state.lines" ||
	fail "strace did not see the snapshot being taken in the state directory"
expect_eq "$(grep -v -c "$has" "$MF_T/state.lines" || true)" 0 \
	"system calls in the state directory for 20 files created and removed"

mf_umount "$M"
echo "PASS"
