#!/bin/bash
# Descriptors stay bounded whatever the tree: 200,000 files served by a
# daemon started under `ulimit -n 1024`. find|stat, cat of every file,
# create, rename and remove all succeed, the daemon's descriptor count
# (/proc/PID/fd) never passes its budget, and it exits 0 at unmount.
# A soft limit below the hard one is raised at start; -o max_fds= sets the
# budget; a backing tree without file handles falls back and says so.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

NDIRS=${MF_FDS_DIRS:-200}
PERDIR=1000
NFILES=$((NDIRS * PERDIR))
# Directories to cat every file of (an open, a read and a release each):
# all of them by default; MF_FDS_DIRS and MF_FDS_CAT_DIRS make a quicker run.
NCAT=${MF_FDS_CAT_DIRS:-$NDIRS}
MF_STEP=240

# BACKING on a tmpfs: 200,000 files are made there in seconds, and gone at
# once when it is unmounted (on ext4 here: a minute each way). tmpfs has
# file handles, as ext4 has.
B="$MF_T/backing"
mf_tmpfs "$B" 2G
M=$(mf_dir mnt)

# The tree, built straight in BACKING: d000/f000 ... d199/f999, each file
# holding its own path.
python3 - "$B" "$NDIRS" "$PERDIR" <<'EOF'
import os, sys
b, nd, pf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    dd = os.path.join(b, "d%03d" % d)
    os.mkdir(dd)
    for f in range(pf):
        with open(os.path.join(dd, "f%03d" % f), "w") as fh:
            fh.write("d%03d/f%03d\n" % (d, f))
EOF

# The daemon, started with a descriptor limit (soft and hard).
REAL_MAPFS=$MAPFS
MAPFS="$MF_T/mapfs-limited"
cat >"$MAPFS" <<EOF
#!/bin/bash
ulimit -Sn \${MF_SOFT:-1024}
ulimit -Hn 1024
exec "$REAL_MAPFS" "\$@"
EOF
chmod +x "$MAPFS"

# sample_fds PID OUT: every 50 ms, the most descriptors PID held so far.
sample_fds() {
	local pid=$1 out=$2 n max=0
	while kill -0 "$pid" 2>/dev/null; do
		n=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
		((n > max)) && max=$n && echo "$max" >"$out"
		sleep 0.05
	done
}
SAMPLER=
start_sampler() {
	echo 0 >"$MF_T/maxfds"
	sample_fds "$1" "$MF_T/maxfds" &
	SAMPLER=$!
}
stop_sampler() { # -> the most descriptors seen
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	cat "$MF_T/maxfds"
}

check "a soft limit below the hard one is raised to it at start"
MF_SOFT=512 mf_mount "$B" "$M"
expect_eq "$(awk '/^Max open files/ { print $4 }' "/proc/$MF_PID/limits")" 1024 \
	"the daemon's soft descriptor limit (started with soft 512, hard 1024)"
mf_umount "$M"

mf_mount "$B" "$M"
PID=$MF_PID
BUDGET=$(mf_stat_key "$M" fd_budget)
((BUDGET >= 64 && BUDGET < 1024)) || fail "fd_budget=$BUDGET under ulimit -n 1024: expected 64..1023"
start_sampler "$PID"

check "find | stat of $NFILES files under ulimit -n 1024"
T0=$SECONDS
N=$(sx 'find "$1" | xargs -d "\n" stat -c %s | wc -l' "$M") ||
	fail "find | xargs stat failed (EMFILE?): $(tail -3 "${MF_LOG_OF[$M]}")"
expect_eq "$N" $((NFILES + NDIRS + 1)) "objects stat'ed through the mount"
echo "find | stat: $((SECONDS - T0)) s"

check "cat of every file of $NCAT directories ($((NCAT * PERDIR)) files)"
# Four cats at a time: each file is an open, a read and a release. Not
# with meson's MALLOC_PERTURB_ (the daemon keeps it): cat allocates and
# frees a buffer of st_blksize (1 MiB here) per file, which glibc then
# fills twice, and that tripled the step on a 2-CPU machine.
T0=$SECONDS
sx 'cd "$1" && find $(seq -f "d%03g" 0 $(($2 - 1))) -type f | env -u MALLOC_PERTURB_ xargs -d "\n" -P 4 -n 2000 cat | sort | md5sum' "$M" "$NCAT" >"$MF_T/sum.mnt" ||
	fail "cat of every file failed: $(tail -3 "${MF_LOG_OF[$M]}")"
(cd "$B" && find $(seq -f "d%03g" 0 $((NCAT - 1))) -type f | xargs -d '\n' cat | sort | md5sum) >"$MF_T/sum.backing"
expect_eq "$(cat "$MF_T/sum.mnt")" "$(cat "$MF_T/sum.backing")" "bytes of every file through the mount"
echo "cat: $((SECONDS - T0)) s"

check "create, rename and remove 3,000 files"
T0=$SECONDS
s python3 - "$M" "$NDIRS" <<'EOF' || fail "create, rename or remove through the mount failed: $(tail -3 "${MF_LOG_OF[$M]}")"
import os, sys
m, nd = sys.argv[1], int(sys.argv[2])
d = lambda i: os.path.join(m, "d%03d" % (i % nd))
for i in range(3000):
    with open(os.path.join(d(i), "new%d" % i), "w") as f:
        f.write("n%d\n" % i)
for i in range(3000):
    os.rename(os.path.join(d(i), "new%d" % i), os.path.join(d(i + 1), "renamed%d" % i))
for i in range(3000):
    with open(os.path.join(d(i + 1), "renamed%d" % i)) as f:
        assert f.read() == "n%d\n" % i, "renamed%d" % i
for i in range(3000):
    os.unlink(os.path.join(d(i + 1), "renamed%d" % i))
EOF
expect_eq "$(find "$B" -name 'new*' -o -name 'renamed*' | wc -l)" 0 "created files left in BACKING after rename and rm"
s sh -c 'echo hello > "$1"' sh "$M/d000/new" || fail "echo > MOUNT/d000/new failed"
expect_eq "$(cat "$B/d000/new")" hello "a new file in BACKING"
echo "create, rename, remove: $((SECONDS - T0)) s"

check "the daemon's descriptors stayed within its budget ($BUDGET)"
MAX=$(stop_sampler)
((MAX > 0)) || fail "no sample of /proc/$PID/fd was taken"
((MAX <= BUDGET)) || fail "the daemon held $MAX descriptors, over its budget of $BUDGET"
echo "most descriptors held: $MAX of a budget of $BUDGET"

check "clean unmount: exit 0"
# The kernel answers close(2) before the daemon has the release: wait for
# them all, or the unmount may find the mount busy.
for ((i = 0; i < 300; i++)); do
	[ "$(mf_stat_key "$M" open_files)" -eq 0 ] && break
	sleep 0.1
done
mf_umount "$M"

check "-o max_fds=N: the budget given is kept"
mf_mount "$B" "$M" -o max_fds=128
PID=$MF_PID
expect_eq "$(mf_stat_key "$M" fd_budget)" 128 "fd_budget with -o max_fds=128"
start_sampler "$PID"
N=$(sx 'find "$1"/d00[0-4] | xargs -d "\n" stat -c %s | wc -l' "$M") || fail "find | stat with max_fds=128 failed"
expect_eq "$N" $((5 * (PERDIR + 1) + 1)) "objects stat'ed with max_fds=128"
MAX=$(stop_sampler)
((MAX <= 128)) || fail "the daemon held $MAX descriptors with -o max_fds=128"
mf_umount "$M"
mf_refused "$M" -o max_fds=10 "$B" "$M"
grep -q 'max_fds' <<<"$MF_ERR" || fail "max_fds=10 refused without naming the option: $MF_ERR"

check "a backing tree without file handles (a FUSE mount): said at start, still served"
INNER=$(mf_dir inner)
MAPFS=$REAL_MAPFS mf_mount "$B" "$INNER"
MAPFS=$REAL_MAPFS mf_mount "$INNER" "$M" -o statedir="$MF_T/state2"
grep -q 'file handles cannot be used' "${MF_LOG_OF[$M]}" ||
	fail "no word about file handles in the log of a mount over FUSE: $(cat "${MF_LOG_OF[$M]}")"
expect_eq "$(s cat "$M/d003/f004")" d003/f004 "a file read through a mount without file handles"
mf_umount "$M"
mf_umount "$INNER"
echo "PASS"
