# lib.sh — the mount harness shared by the mapfs integration tests.
#
# Source it first thing in a test script.  It gives a fresh temporary
# directory ($MF_T), mounts and unmounts mapfs daemons, and guarantees on
# every exit path (success, failure, signal) that every mount it made is
# gone and every daemon it started has ended.  The machine is shared:
#
#   * daemons run in the foreground (-f) as our own children, and are only
#     ever signalled by the PID we recorded for them;
#   * mounts are made only under $MF_T, a fresh mktemp -d directory;
#   * every step that touches a mount runs under timeout(1) (see `s`), so a
#     hung daemon fails the test instead of hanging it;
#   * the only skip (exit 77) is a missing /dev/fuse.  Anything else that
#     goes wrong is a failure.
#
# Environment: MAPFS (the daemon), MF_OPS, MF_COHERENCE, MF_APPEND (the C
# helpers built next to this file), MF_STEP (seconds allowed per step).

set -euo pipefail

if [ ! -e /dev/fuse ]; then
	echo "SKIP: /dev/fuse is missing"
	exit 77
fi

MF_STEP=${MF_STEP:-30}
umask 022
: "${MAPFS:?MAPFS must name the mapfs executable}"
[ -x "$MAPFS" ] || { echo "FAIL: MAPFS=$MAPFS is not executable" >&2; exit 1; }
command -v fusermount3 >/dev/null || { echo "FAIL: fusermount3 not found" >&2; exit 1; }

MF_T=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/mapfs-it.XXXXXX")")
MF_MOUNTS=()            # every mapfs mountpoint we asked for, in order
MF_TMPFS=()             # tmpfs mounts we made (backing dirs for ENOSPC tests)
MF_FLAGGED=()           # backing files that may carry chattr +i or +a
declare -A MF_PID_OF=() # mountpoint -> daemon pid (while it runs)
declare -A MF_LOG_OF=() # mountpoint -> daemon log file
declare -A MF_LIVE=()   # daemon pids not yet reaped by `wait`
declare -A MF_CONN_OF=() # mountpoint -> its FUSE connection id (fusectl)
MF_PID=                 # pid of the daemon mf_mount started last
MF_NLOG=0

# ---------------------------------------------------------------- reporting

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Announce what is being checked, so a failure reads in context.
check() {
	echo "--- $*"
}

expect_eq() { # ACTUAL EXPECTED WHAT
	[ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
}

# ------------------------------------------------------------------- steps

# s CMD...: run one step under a time limit.  A step that times out is a
# failure that says so (a hang is a daemon bug, never a pass).
s() {
	local rc=0
	timeout -k 5 "$MF_STEP" "$@" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "step timed out after ${MF_STEP}s: $*"
	fi
	return "$rc"
}

# sx 'SHELL CODE' ARGS...: the same for a bit of shell (redirections, pipes);
# ARGS are $1... inside the code.
sx() {
	local code=$1
	shift
	s bash -c "set -o pipefail; $code" sx "$@"
}

# expect_err MESSAGE CMD...: CMD must fail (not time out) and print MESSAGE
# (a substring, typically strerror text) on stderr.
expect_err() {
	local msg=$1 rc=0
	shift
	s "$@" 2>"$MF_T/err" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "'$*' succeeded, expected failure with '$msg'"
	grep -qF -- "$msg" "$MF_T/err" ||
		fail "'$*' failed (exit $rc) without '$msg'; stderr: $(cat "$MF_T/err")"
}

# ops ARGS...: run the mf-ops helper (one system call, prints OK / ERRNO
# name / a number) and print its output.
ops() {
	s "$MF_OPS" "$@"
}

expect_ops() { # EXPECTED ARGS...
	local want=$1 got
	shift
	got=$(ops "$@") || fail "mf-ops $* exited with an error: $got"
	[ "$got" == "$want" ] || fail "mf-ops $*: expected '$want', got '$got'"
}

# ------------------------------------------------------------------ mounts

mf_is_mounted() { # MOUNTPOINT
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

mf_fstype() { # MOUNTPOINT -> "SOURCE FSTYPE"
	awk -v m="$1" '$2 == m { print $1, $3 }' /proc/mounts
}

mf_dump_log() { # MOUNTPOINT
	local log=${MF_LOG_OF[$1]:-}
	if [ -n "$log" ] && [ -s "$log" ]; then
		echo "    mapfs log for $1 (last 30 lines):" >&2
		tail -n 30 "$log" | sed 's/^/    | /' >&2
	fi
}

# A fresh directory under $MF_T.
mf_dir() { # NAME
	mkdir -p "$MF_T/$1"
	echo "$MF_T/$1"
}

# mf_start BACKING MOUNTPOINT [MAPFS ARGS...]: start a daemon in the
# foreground, in the background of this shell, and record its pid (MF_PID).
mf_start() {
	local b=$1 m=$2
	shift 2
	MF_NLOG=$((MF_NLOG + 1))
	local log="$MF_T/mapfs-$MF_NLOG.log"
	MF_MOUNTS+=("$m")
	"$MAPFS" -f "$@" "$b" "$m" >"$log" 2>&1 &
	MF_PID=$!
	MF_LIVE[$MF_PID]=1
	MF_PID_OF[$m]=$MF_PID
	MF_LOG_OF[$m]=$log
}

# mf_reap PID: wait for a daemon we started; sets MF_RC to its exit status.
mf_reap() {
	MF_RC=0
	{ wait "$1" 2>/dev/null; } 2>/dev/null || MF_RC=$?
	unset "MF_LIVE[$1]"
}

# mf_mount BACKING MOUNTPOINT [MAPFS ARGS...]: mount and wait (10 s) until
# the mount shows in /proc/mounts.  MF_PID is the daemon.
mf_mount() {
	local b=$1 m=$2 i
	mf_start "$@"
	for ((i = 0; i < 100; i++)); do
		if mf_is_mounted "$m"; then
			MF_CONN_OF[$m]=$(awk -v m="$m" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
			return 0
		fi
		if ! kill -0 "$MF_PID" 2>/dev/null; then
			mf_reap "$MF_PID"
			mf_dump_log "$m"
			fail "mapfs $* exited (status $MF_RC) before mounting $m"
		fi
		sleep 0.1
	done
	mf_dump_log "$m"
	fail "mapfs $*: $m not mounted after 10 s"
}

# mf_umount MOUNTPOINT: fusermount3 -u, then the daemon must exit by itself
# (10 s) with status 0.
mf_umount() {
	local m=$1 pid=${MF_PID_OF[$1]} i
	s fusermount3 -u "$m" || { mf_dump_log "$m"; fail "fusermount3 -u $m failed"; }
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		mf_dump_log "$m"
		fail "mapfs (pid $pid) still running 10 s after unmounting $m"
	fi
	mf_reap "$pid"
	unset "MF_PID_OF[$m]"
	if [ "$MF_RC" -ne 0 ]; then
		mf_dump_log "$m"
		fail "mapfs for $m exited with status $MF_RC after a clean unmount"
	fi
}

# mf_refused MOUNTPOINT ARGS...: run `mapfs -f ARGS...`, which must refuse
# to start: exit 1 within 10 s, a "mapfs: " message on stderr, and nothing
# mounted on MOUNTPOINT.  MF_ERR holds its stderr.
mf_refused() {
	local m=$1 i pid
	shift
	MF_NLOG=$((MF_NLOG + 1))
	local log="$MF_T/mapfs-$MF_NLOG.log"
	MF_MOUNTS+=("$m")
	MF_LOG_OF[$m]=$log
	"$MAPFS" -f "$@" >"$log" 2>&1 &
	pid=$!
	MF_LIVE[$pid]=1
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		MF_PID_OF[$m]=$pid
		fail "mapfs -f $* still running after 10 s; expected it to refuse with exit 1"
	fi
	mf_reap "$pid"
	MF_ERR=$(cat "$log")
	! mf_is_mounted "$m" || fail "mapfs -f $* mounted $m; expected a refusal"
	[ "$MF_RC" -eq 1 ] || fail "mapfs -f $*: exit status $MF_RC, expected 1; output: $MF_ERR"
	grep -q '^mapfs: ' "$log" || fail "mapfs -f $*: no 'mapfs: ...' message; output: $MF_ERR"
}

# mf_kill9 MOUNTPOINT: SIGKILL the daemon (by its pid) and remove the dead
# mount, as a crash would leave it.
mf_kill9() {
	local m=$1 pid=${MF_PID_OF[$1]}
	kill -KILL "$pid"
	mf_reap "$pid"
	unset "MF_PID_OF[$m]"
	s fusermount3 -u "$m" || fail "fusermount3 -u of the dead mount $m failed"
	! mf_is_mounted "$m" || fail "$m still mounted after fusermount3 -u"
}

# mf_alive MOUNTPOINT: the daemon still runs and still serves.
mf_alive() {
	local m=$1 pid=${MF_PID_OF[$1]}
	kill -0 "$pid" 2>/dev/null || { mf_dump_log "$m"; fail "mapfs for $m (pid $pid) died"; }
	mf_is_mounted "$m" || fail "$m is no longer mounted"
	s stat "$m" >/dev/null || fail "stat $m failed: the daemon no longer serves"
}

# mf_stat_key MOUNTPOINT KEY: one counter of the user.mapfs.stats xattr.
mf_stats() {
	s getfattr --absolute-names --only-values -n user.mapfs.stats "$1"
}
mf_stat_key() {
	local v
	v=$(mf_stats "$1" | sed -n "s/^$2=//p")
	[[ "$v" =~ ^[0-9]+$ ]] || fail "user.mapfs.stats of $1 has no numeric '$2' (got '$v')"
	echo "$v"
}

# mf_hold PATH LEN: a helper process opens PATH, reads LEN bytes and keeps
# it open until mf_release.  MF_HOLD_PID is that process.
mf_hold() {
	local i
	MF_HOLD_MARK="$MF_T/hold.$RANDOM"
	timeout -k 2 30 "$MF_OPS" hold "$1" "$2" "$MF_HOLD_MARK" >"$MF_HOLD_MARK.out" &
	MF_HOLD_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -e "$MF_HOLD_MARK" ] && return 0
		kill -0 "$MF_HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "reading $2 bytes of $1 (and holding it open) did not finish in 10 s"
}
mf_release() {
	local rc=0
	rm -f "$MF_HOLD_MARK"
	wait "$MF_HOLD_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "the process holding a file open failed (status $rc)"
	MF_HOLD_OUT=$(cat "$MF_HOLD_MARK.out")
}

# mf_flagged PATH...: PATH (a backing file) may be made immutable or
# append-only by the test; cleanup clears the flags once everything is
# unmounted, or the temporary directory could not be removed.
mf_flagged() {
	MF_FLAGGED+=("$@")
	printf '%s\n' "$@" >>"$MF_T/.flagged"
}

mf_tmpfs() { # DIR SIZE
	mkdir -p "$1"
	MF_TMPFS+=("$1")
	mount -t tmpfs -o "size=$2" tmpfs "$1" || fail "cannot mount a tmpfs on $1"
}

# Our own child, still the mapfs we started (guards against pid reuse).
mf_is_our_daemon() { # PID
	[ -r "/proc/$1/stat" ] || return 1
	local ppid
	ppid=$(awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$ppid" == "$$" ]
}

# mf_abort_conn MOUNTPOINT: abort the kernel's FUSE connection of a mount
# we made. A daemon deadlocked in the kernel cannot exit, even on SIGKILL,
# and the processes waiting on it stay in D state until this is done.
mf_abort_conn() {
	local id=${MF_CONN_OF[$1]:-} ctl=/sys/fs/fuse/connections
	[ -n "$id" ] || return 0
	[ -e "$ctl/$id/abort" ] || mount -t fusectl none "$ctl" 2>/dev/null
	[ -e "$ctl/$id/abort" ] || return 0
	echo "cleanup: aborting the FUSE connection $id of $1" >&2
	echo 1 >"$ctl/$id/abort"
}

mf_cleanup() {
	local rc=$? m pid i
	set +e
	trap - ERR
	for ((i = ${#MF_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MF_MOUNTS[$i]}
		if mf_is_mounted "$m"; then
			timeout -k 2 10 fusermount3 -u "$m" 2>/dev/null ||
				timeout -k 2 10 fusermount3 -uz "$m" 2>/dev/null
		fi
	done
	for pid in "${!MF_LIVE[@]}"; do
		mf_is_our_daemon "$pid" || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "cleanup: mapfs pid $pid still running, sending SIGTERM" >&2
			kill -TERM "$pid"
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
			for ((i = 0; i < 50; i++)); do
				[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" == Z ] && break
				sleep 0.1
			done
		fi
		# Dead, or a zombie whose threads are stuck in the kernel.
		if [ -d "/proc/$pid/task" ] && [ "$(ls "/proc/$pid/task" | wc -l)" -gt 1 ]; then
			for m in "${!MF_PID_OF[@]}"; do
				[ "${MF_PID_OF[$m]}" == "$pid" ] && mf_abort_conn "$m"
			done
		fi
		wait "$pid" 2>/dev/null
	done
	for ((i = ${#MF_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MF_MOUNTS[$i]}
		mf_is_mounted "$m" && timeout -k 2 10 fusermount3 -uz "$m" 2>/dev/null
	done
	for m in "${MF_FLAGGED[@]}"; do
		[ -e "$m" ] && chattr -i -a "$m" 2>/dev/null
	done
	for ((i = ${#MF_TMPFS[@]} - 1; i >= 0; i--)); do
		timeout -k 2 10 umount "${MF_TMPFS[$i]}" 2>/dev/null ||
			timeout -k 2 10 umount -l "${MF_TMPFS[$i]}"
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for m in "${!MF_LOG_OF[@]}"; do
			mf_dump_log "$m"
		done
	fi
	if awk -v t="$MF_T/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		echo "cleanup: something is still mounted under $MF_T; leaving it" >&2
		[ "$rc" -eq 0 ] && rc=1
	else
		rm -rf "$MF_T"
	fi
	exit "$rc"
}

trap mf_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# meson ends a test that runs past its timeout with SIGTERM to its process
# group and SIGKILL half a second later: too soon for mf_cleanup to finish,
# and a test killed that way used to leave its mounts behind. So a reaper,
# in a session of its own that those signals do not reach, waits for this
# script to end; if $MF_T is still there, it takes off whatever is still
# mounted under it (the daemons, in our process group, are dead by then; a
# connection stuck in the kernel is aborted first), deepest first and
# lazily, clears the flags of mf_flagged files and removes $MF_T.
mf_reaper() { # PID DIR
	local parent=$1 t=$2 m dev ctl=/sys/fs/fuse/connections f
	while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done
	[ -d "$t" ] || return 0
	awk -v t="$t/" 'index($5, t) == 1 { print $5, $3 }' /proc/self/mountinfo |
		sort -r | while read -r m dev; do
			[ -e "$ctl/${dev#*:}/abort" ] && echo 1 >"$ctl/${dev#*:}/abort"
			timeout -k 2 10 fusermount3 -uz "$m" 2>/dev/null ||
				timeout -k 2 10 umount -l "$m" 2>/dev/null
		done
	if [ -s "$t/.flagged" ]; then
		while read -r f; do chattr -i -a "$f" 2>/dev/null; done <"$t/.flagged"
	fi
	awk -v t="$t/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts ||
		rm -rf "$t"
}
# (Started from a subshell: not a job of this shell, which a test's `wait`
# or `jobs -p` would otherwise wait for.)
(setsid bash -c "$(declare -f mf_reaper); mf_reaper $$ '$MF_T'" \
	</dev/null >/dev/null 2>&1 &)
# A step that fails outside any check: name the line of the test script.
trap 'echo "FAIL: ${0##*/} line $LINENO failed: $(sed -n "${LINENO}s/^[[:space:]]*//p" "$0")" >&2' ERR

[ -n "${MF_OPS:-}" ] && [ -x "$MF_OPS" ] || fail "MF_OPS must name the mf-ops helper"
