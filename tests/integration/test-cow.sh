#!/bin/bash
# Private copy-on-write views (issue 4, points 2, 7, 8): F@@/cow/NAME, used
# with ordinary tools.
#
#   * touch makes one: it reads as the file, has the file's size, and
#     user.mapfs.mode=cow, coherence=private, pages=N;
#   * writes through it are seen only through it: the file stays the same
#     byte for byte (in the backing directory and through the mount), and
#     other private views of it too; the pages written become private
#     (user.mapfs.pages counts them);
#   * pages never written through it follow the file: writes to the file
#     (write, rw view, shared mmap) show through the view at once; private
#     pages keep the view's bytes whatever the file gets there;
#   * every process opening the view shares its state: a process holding
#     it open sees what another one writes;
#   * it cannot grow the file (EFBIG past the file's end), nor be truncated
#     or chmodded; windows of it (F@@/cow/NAME:OFF+LEN) read and write it;
#   * rm discards it (the file untouched, its pages freed); mv F@@/cow/NAME F
#     commits: the file gets exactly the view's bytes, a snapshot taken
#     before keeps the old ones, the view is gone; mv onto anything else is
#     EINVAL and changes nothing;
#   * views and their private pages survive unmount and remount, and
#     still follow the file where not written;
#   * bad names and targets: precise errors, nothing changed.
#
# Models: FM is what the file must hold, VM what view v1 must read (and
# V3 for v3): every change is made through the mount and to the models.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MAPFSCTL:?MAPFSCTL must name mapfsctl}"

B=$(mf_dir backing)
M=$(mf_dir mnt)
SIZE=$((1048576 + 777))
head -c "$SIZE" /dev/urandom >"$B/app"
chmod 640 "$B/app"
head -c 100000 /dev/urandom >"$B/other"
mkdir "$B/d"
FM="$MF_T/app.model"
VM="$MF_T/v1.model"
cp "$B/app" "$FM"
cp "$B/app" "$VM"
declare -A PRIV=()   # pages of v1 written through it

mf_mount "$B" "$M"

# ------------------------------------------------------------------ helpers

state_sum() {
	(cd "$B/.mapfs" && find . -path ./lock -prune -o -print0 | LC_ALL=C sort -z |
		xargs -0 -r sh -c 'for f; do if [ -f "$f" ]; then printf "%s " "$f"; sha256sum <"$f"; else echo "$f"; fi; done' sh) |
		sha256sum
}
tree_sum() { # FILE...
	printf '%s\n' "$(state_sum)" "$(cat "$@" | sha256sum)"
}
patch_of() { # LEN -> a file of LEN random bytes
	head -c "$1" /dev/urandom >"$MF_T/patch"
	echo "$MF_T/patch"
}
xattr() { # PATH NAME
	s getfattr --absolute-names --only-values -n "$2" "$1"
}
dd_at() { # SRC DST OFF
	dd if="$1" of="$2" bs=65536 seek="$3" oflag=seek_bytes conv=notrunc status=none
}
# The file is what its model says, in the backing dir and through the mount.
file_ok() { # WHAT
	cmp "$B/app" "$FM" >/dev/null ||
		fail "$1: the backing file differs from its model ($(cmp "$B/app" "$FM" 2>&1 || true))"
	s cmp "$M/app" "$FM" || fail "$1: app read through the mount differs from its model"
}
view_ok() { # VIEW MODEL WHAT
	s cmp "$M/app@@/cow/$1" "$2" || fail "$3: app@@/cow/$1 differs from what it must hold"
	expect_eq "$(s stat -c %s "$M/app@@/cow/$1")" "$(stat -c %s "$2")" "$3: size of app@@/cow/$1"
}
# A write through v1: the model of v1 gets it, its pages become private.
vput() { # SRC OFF
	local len p
	len=$(stat -c %s "$1")
	s dd if="$1" of="$M/app@@/cow/v1" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none ||
		fail "writing $len bytes at $2 through app@@/cow/v1"
	dd_at "$1" "$VM" "$2"
	for ((p = $2 / 4096; p <= ($2 + len - 1) / 4096; p++)); do
		PRIV[$p]=1
	done
}
# A change to the file's bytes [OFF, OFF+LEN) (already made through the
# mount and in FM): v1 follows it on the pages it did not write.
follow() { # OFF LEN
	local p
	for ((p = $1 / 4096; p <= ($1 + $2 - 1) / 4096; p++)); do
		[ -n "${PRIV[$p]:-}" ] && continue
		dd if="$FM" of="$VM" bs=4096 skip="$p" seek="$p" count=1 conv=notrunc status=none
	done
}
fput() { # SRC OFF: write the file through the mount
	s dd if="$1" of="$M/app" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none ||
		fail "writing app at $2"
	dd_at "$1" "$FM" "$2"
	follow "$2" "$(stat -c %s "$1")"
}

# ------------------------------------------------------------------ basics

check "touch F@@/cow/NAME makes a private view that reads as the file"
expect_eq "$(s ls -A "$M/app@@/cow")" "" "ls app@@/cow at first"
du0=$(du -sk "$B/.mapfs" | cut -f1)
s touch "$M/app@@/cow/v1" || fail "touch app@@/cow/v1"
expect_eq "$(s ls "$M/app@@/cow")" v1 "ls app@@/cow"
view_ok v1 "$VM" "a fresh view"
expect_eq "$(s stat -c %A "$M/app@@/cow/v1")" "-rw-r-----" "mode of the view of a 640 file"
expect_eq "$(xattr "$M/app@@/cow/v1" user.mapfs.mode)" cow "user.mapfs.mode"
expect_eq "$(xattr "$M/app@@/cow/v1" user.mapfs.coherence)" private "user.mapfs.coherence"
expect_eq "$(xattr "$M/app@@/cow/v1" user.mapfs.pages)" 0 "user.mapfs.pages of a fresh view"
[ $(($(du -sk "$B/.mapfs" | cut -f1) - du0)) -le 64 ] || fail "a fresh private view of a 1 MiB file takes space"
file_ok "after making the view"

check "writes through the view are seen only through it; the file stays the same"
vput "$(patch_of 5)" 4094                 # across pages 0 and 1
view_ok v1 "$VM" "after a write across a page boundary"
file_ok "after a write through the view"
cmp -s "$VM" "$FM" && fail "the write through v1 left its model equal to the file's"
vput "$(patch_of 65536)" 200000
vput "$(patch_of 1)" $((SIZE - 1))        # the last byte
vput "$(patch_of 3000)" 4500              # again in page 1
view_ok v1 "$VM" "after more writes"
file_ok "after more writes through the view"
expect_eq "$(xattr "$M/app@@/cow/v1" user.mapfs.pages)" "${#PRIV[@]}" "user.mapfs.pages (pages written through v1)"
expect_eq "$(s stat -c %s "$M/app")" "$SIZE" "size of the file"

check "pages never written through the view follow the file; private pages do not"
fput "$(patch_of 4096)" $((100 * 4096))     # a page v1 never wrote
view_ok v1 "$VM" "after writing the file where v1 did not write"
cmp -s "$MF_T/patch" <(dd if="$M/app@@/cow/v1" bs=4096 skip=100 count=1 status=none) ||
	fail "v1 does not show the file's new page 100"
fput "$(patch_of 100)" 10                  # inside private page 0
view_ok v1 "$VM" "after writing the file inside a page v1 wrote"
fput "$(patch_of 20000)" 190000            # around the private pages of the 64K write
view_ok v1 "$VM" "after writing the file across private and shared pages"
s dd if="$(patch_of 4096)" of="$M/app@@/rw:0x80000+4096" conv=notrunc status=none
dd_at "$MF_T/patch" "$FM" $((0x80000))
follow $((0x80000)) 4096
view_ok v1 "$VM" "after writing the file through an rw window"
expect_ops OK mmap-store "$M/app" 700000 "a store through a shared mapping of app"
printf 'a store through a shared mapping of app' | dd of="$FM" bs=1 seek=700000 conv=notrunc status=none
follow 700000 40
view_ok v1 "$VM" "after stores through a shared mapping of the file"
file_ok "after the writes to the file"
expect_eq "$(xattr "$M/app@@/cow/v1" user.mapfs.pages)" "${#PRIV[@]}" "user.mapfs.pages after writes to the file"

check "windows of a private view read and write it"
expect_eq "$(s stat -c %s "$M/app@@/cow/v1:4096+100")" 100 "size of app@@/cow/v1:4096+100"
s cmp <(s cat "$M/app@@/cow/v1:4096+100") <(dd if="$VM" bs=1 skip=4096 count=100 status=none) ||
	fail "app@@/cow/v1:4096+100 reads other bytes than v1 at 4096"
s dd if="$(patch_of 50)" of="$M/app@@/cow/v1:0x2000+100" bs=50 seek=1 conv=notrunc status=none
vput_model_only() { dd_at "$1" "$VM" "$2"; PRIV[$(($2 / 4096))]=1; }
vput_model_only "$MF_T/patch" $((0x2000 + 50))
view_ok v1 "$VM" "after a write through a window of v1"
file_ok "after a write through a window of v1"

check "several processes share the view's private state"
exec 3<"$M/app@@/cow/v1"
s dd if="$(patch_of 777)" of="$M/app@@/cow/v1" bs=777 seek=300000 oflag=seek_bytes conv=notrunc status=none
dd_at "$MF_T/patch" "$VM" 300000
PRIV[$((300000 / 4096))]=1
PRIV[$((300776 / 4096))]=1
got=$(dd bs=777 skip=300000 count=777 iflag=skip_bytes,count_bytes status=none <&3 | sha256sum)
exec 3<&-
expect_eq "$got" "$(sha256sum <"$MF_T/patch")" "what a process holding v1 open reads of another's write"
# Two writers at once, on different pages, then a third process reads.
head -c 40000 /dev/urandom >"$MF_T/w1"
head -c 40000 /dev/urandom >"$MF_T/w2"
timeout -k 2 "$MF_STEP" dd if="$MF_T/w1" of="$M/app@@/cow/v1" bs=4000 seek=400000 oflag=seek_bytes conv=notrunc status=none &
w1=$!
timeout -k 2 "$MF_STEP" dd if="$MF_T/w2" of="$M/app@@/cow/v1" bs=4000 seek=500000 oflag=seek_bytes conv=notrunc status=none &
w2=$!
wait "$w1" || fail "the first of two concurrent writers to v1 failed"
wait "$w2" || fail "the second of two concurrent writers to v1 failed"
for o in 400000 500000; do
	for ((p = o / 4096; p <= (o + 39999) / 4096; p++)); do PRIV[$p]=1; done
done
dd_at "$MF_T/w1" "$VM" 400000
dd_at "$MF_T/w2" "$VM" 500000
view_ok v1 "$VM" "after two processes wrote it at once"
file_ok "after two processes wrote v1 at once"

check "another private view is independent of v1"
VM2="$MF_T/v2.model"
cp "$FM" "$VM2"
s touch "$M/app@@/cow/v2"
view_ok v2 "$VM2" "a second view, made after v1 was written"
s dd if="$(patch_of 9000)" of="$M/app@@/cow/v2" bs=9000 seek=1 conv=notrunc status=none
dd_at "$MF_T/patch" "$VM2" 9000
view_ok v2 "$VM2" "v2 after a write through it"
view_ok v1 "$VM" "v1 after a write through v2"
file_ok "after a write through v2"
expect_eq "$(s ls "$M/app@@/cow" | tr '\n' ' ')" "v1 v2 " "ls app@@/cow"

# ---------------------------------------------------------------- refusals

check "a private view cannot grow the file: EFBIG, nothing changed"
sum=$(tree_sum "$B/app")
expect_err "File too large" dd if=/dev/zero of="$M/app@@/cow/v1" bs=1 count=1 seek="$SIZE" conv=notrunc status=none
expect_err "File too large" dd if=/dev/zero of="$M/app@@/cow/v1" bs=2 count=1 seek=$((SIZE - 1)) oflag=seek_bytes conv=notrunc status=none
expect_err "File too large" dd if=/dev/zero of="$M/app@@/cow/v1" bs=1M count=1 seek=$((SIZE + 4096)) oflag=seek_bytes conv=notrunc status=none
expect_err "File too large" dd if=/dev/zero of="$M/app@@/cow/v1:4096+100" bs=101 count=1 conv=notrunc status=none
expect_err "File too large" bash -c 'printf x >>"$1"' sh "$M/app@@/cow/v1"
expect_eq "$(tree_sum "$B/app")" "$sum" "backing file and state directory after the refused writes"
view_ok v1 "$VM" "after the refused writes"

check "a private view cannot be truncated, chmodded or given times; touch succeeds"
expect_err "Operation not permitted" truncate -s 10 "$M/app@@/cow/v1"
expect_err "Operation not permitted" truncate -s 10M "$M/app@@/cow/v1"
expect_err "Operation not permitted" chmod 600 "$M/app@@/cow/v1"
expect_ops EPERM open "$M/app@@/cow/v1" wronly,trunc
# Its times are the file's: setting them would change the file.
times=$(s stat -c '%.9X %.9Y' "$M/app" "$M/app@@/cow/v1" | tr '\n' ' ')
expect_err "Operation not permitted" touch -d 2001-01-01 "$M/app@@/cow/v1"
expect_err "Operation not permitted" touch -m -d 2001-01-01 "$M/app@@/cow/v1"
expect_err "Operation not permitted" touch -a -d @1 "$M/app@@/cow/v1"
s touch "$M/app@@/cow/v1" || fail "touch of an existing private view failed"
expect_eq "$(s stat -c '%.9X %.9Y' "$M/app" "$M/app@@/cow/v1" | tr '\n' ' ')" "$times" \
	"times of the file and of its private view after the refused time changes"
expect_eq "$(tree_sum "$B/app")" "$sum" "backing file and state directory after the refused changes"
view_ok v1 "$VM" "after the refused changes"
# cp -p copies the bytes, then says it could not keep the times.
expect_err "preserving times for" cp -p "$VM" "$M/app@@/cow/cp-p"
s cmp "$VM" "$M/app@@/cow/cp-p" || fail "cp -p into a new private view did not copy the bytes"
s rm "$M/app@@/cow/cp-p"

# ----------------------------------------------------------- discard, commit

check "rm discards a view: gone, its pages freed, the file untouched"
du1=$(du -sk "$B/.mapfs" | cut -f1)
s rm "$M/app@@/cow/v2"
expect_eq "$(s ls "$M/app@@/cow")" v1 "ls app@@/cow after rm v2"
expect_err "No such file or directory" stat "$M/app@@/cow/v2"
expect_err "No such file or directory" cat "$M/app@@/cow/v2"
du2=$(du -sk "$B/.mapfs" | cut -f1)
[ "$du2" -lt "$du1" ] || fail "rm of v2 freed nothing in the state directory ($du1 KiB, then $du2 KiB)"
file_ok "after discarding v2"
view_ok v1 "$VM" "after discarding v2"
s touch "$M/app@@/cow/v2"
cp "$FM" "$VM2"
view_ok v2 "$VM2" "a new v2 after the old one was discarded (none of its pages)"
s rm "$M/app@@/cow/v2"

check "mv onto anything but its own file is EINVAL, and changes nothing"
s touch "$M/app@@/cow/v3"
V3="$MF_T/v3.model"
cp "$FM" "$V3"
s dd if="$(patch_of 12345)" of="$M/app@@/cow/v3" bs=12345 seek=1 conv=notrunc status=none
dd_at "$MF_T/patch" "$V3" 12345
cp "$B/other" "$MF_T/other.orig"
sum=$(tree_sum "$B/app" "$B/other")
for target in other newname d/x app@@/cow/v4 app@@/cow/v1 app@@/snap/x other@@/cow/v3; do
	expect_ops EINVAL rename "$M/app@@/cow/v3" "$M/$target" none
done
expect_ops EISDIR rename "$M/app@@/cow/v3" "$M/d" none   # the kernel's answer
expect_ops EINVAL rename "$M/app@@/cow/v3" "$M/app" exchange
expect_err "No such file or directory" "$MAPFSCTL" cow commit "$M/other" v3   # other has no v3
expect_eq "$(tree_sum "$B/app" "$B/other")" "$sum" "files and state directory after the refused commits"
expect_eq "$(s ls "$M/app@@/cow" | tr '\n' ' ')" "v1 v3 " "ls app@@/cow after the refused commits"
[ ! -e "$B/newname" ] && [ ! -e "$B/d/x" ] || fail "a refused commit made a file"
view_ok v3 "$V3" "after the refused commits"
view_ok v1 "$VM" "after the refused commits"
file_ok "after the refused commits"

check "mv F@@/cow/NAME F commits: the file gets the view's bytes, a snapshot keeps the old ones"
s touch "$M/app@@/snap/before"
cp "$FM" "$MF_T/before"
s mv "$M/app@@/cow/v1" "$M/app" || fail "mv app@@/cow/v1 app (commit)"
cp "$VM" "$FM"
file_ok "after committing v1"
expect_eq "$(s ls "$M/app@@/cow")" v3 "ls app@@/cow after committing v1"
expect_err "No such file or directory" stat "$M/app@@/cow/v1"
s cmp "$M/app@@/snap/before" "$MF_T/before" || fail "the snapshot taken before the commit changed"
expect_eq "$(s stat -c %A "$M/app")" "-rw-r-----" "mode of app after the commit"
# v3 was not written where v1 was: it shows the committed bytes there.
for ((p = 0; p * 4096 < SIZE; p++)); do
	[ $((p * 4096 + 4096)) -le 12345 ] || [ $((p * 4096)) -ge $((12345 + 12345)) ] || continue
	dd if="$FM" of="$V3" bs=4096 skip="$p" seek="$p" count=1 conv=notrunc status=none
done
view_ok v3 "$V3" "v3, after v1 was committed into the file"

# --------------------------------------------------------------- remount

check "private views and their pages survive unmount and remount"
pages3=$(xattr "$M/app@@/cow/v3" user.mapfs.pages)
[ "$pages3" -ge 4 ] || fail "v3 holds $pages3 pages after writing 12345 bytes at 12345"
mf_umount "$M"
cmp "$B/app" "$FM" >/dev/null || fail "app changed by the unmount"
mf_mount "$B" "$M"
expect_eq "$(s ls "$M/app@@/cow")" v3 "ls app@@/cow after a remount"
view_ok v3 "$V3" "after a remount"
expect_eq "$(xattr "$M/app@@/cow/v3" user.mapfs.pages)" "$pages3" "user.mapfs.pages of v3 after a remount"
file_ok "after a remount"
s dd if="$(patch_of 4096)" of="$M/app" bs=4096 seek=100 conv=notrunc status=none
dd_at "$MF_T/patch" "$FM" $((100 * 4096))
dd_at "$MF_T/patch" "$V3" $((100 * 4096))
view_ok v3 "$V3" "after writing the file after the remount (page 100 follows it)"
s dd if="$(patch_of 1000)" of="$M/app" bs=1000 seek=13 conv=notrunc status=none
dd_at "$MF_T/patch" "$FM" 13000    # inside v3's private pages: v3 keeps its own
view_ok v3 "$V3" "after writing the file inside v3's pages after the remount"

check "commit after a remount, with a snapshot live"
s mv "$M/app@@/cow/v3" "$M/app" || fail "mv app@@/cow/v3 app after a remount"
cp "$V3" "$FM"
file_ok "after committing v3"
expect_eq "$(s ls -A "$M/app@@/cow")" "" "ls app@@/cow after committing v3"
s cmp "$M/app@@/snap/before" "$MF_T/before" || fail "the snapshot changed with the second commit"

check "a view follows the file's size when the file grows, and may then write there"
s touch "$M/app@@/cow/grow"
s truncate -s $((SIZE + 10000)) "$M/app"
truncate -s $((SIZE + 10000)) "$FM"
cp "$FM" "$MF_T/grow.model"
view_ok grow "$MF_T/grow.model" "after the file grew"
s dd if="$(patch_of 5000)" of="$M/app@@/cow/grow" bs=5000 seek=$((SIZE + 3000)) oflag=seek_bytes conv=notrunc status=none
dd_at "$MF_T/patch" "$MF_T/grow.model" $((SIZE + 3000))
view_ok grow "$MF_T/grow.model" "after a write in the grown part"
file_ok "after a write through grow in the grown part"
s rm "$M/app@@/cow/grow"

# -------------------------------------------------------------- bad input

check "bad view names and bad targets: precise errors, nothing changed"
s touch "$M/app@@/cow/keep"
sum=$(tree_sum "$B/app")
long=$(printf 'n%.0s' $(seq 1 256))
for n in .hidden 'a:b' 'x:0+1' "$long"; do
	expect_eq "$(ops open "$M/app@@/cow/$n" creat,excl,wronly)" EINVAL "open O_CREAT|O_EXCL of app@@/cow/${n:0:20}"
done
for n in . ..; do
	expect_eq "$(ops open "$M/app@@/cow/$n" creat,excl,wronly)" EEXIST "open O_CREAT|O_EXCL of app@@/cow/$n"
done
expect_ops ENOENT open "$M/app@@/cow/a/b" creat,excl,wronly
expect_ops EEXIST open "$M/app@@/cow/keep" creat,excl,wronly
expect_err "File exists" "$MAPFSCTL" cow create "$M/app" keep
for n in '' . .. a/b .x "$long"; do
	expect_err "Invalid argument" "$MAPFSCTL" cow create "$M/app" "$n"
done
expect_ops ENOENT open "$M/d@@/cow/x" creat,excl,wronly
expect_ops ENOENT open "$M/nosuch@@/cow/x" creat,excl,wronly
expect_err "Operation not permitted" mkdir "$M/app@@/cow/dir"
expect_err "Operation not permitted" ln -s app "$M/app@@/cow/sym"
expect_err "No such file or directory" rm "$M/app@@/cow/nosuch"
expect_eq "$(tree_sum "$B/app")" "$sum" "backing file and state directory after the bad requests"
expect_eq "$(s ls -A "$M/app@@/cow")" keep "ls -A app@@/cow after the bad requests"
n255=$(printf 'm%.0s' $(seq 1 255))
expect_ops OK open "$M/app@@/cow/$n255" creat,excl,wronly
s cmp "$M/app@@/cow/$n255" "$FM" || fail "the view with a 255-byte name does not read as the file"
s rm "$M/app@@/cow/$n255" "$M/app@@/cow/keep"

mf_umount "$M"
cmp "$B/app" "$FM" >/dev/null || fail "after the last unmount, app differs from its model"
echo "PASS"
