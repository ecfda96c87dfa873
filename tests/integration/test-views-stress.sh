#!/bin/bash
# The views stress test (issue 3, point 4): for a fixed time, writers write
# 8-byte counters through the file, F@@/rw and overlapping rw windows while
# readers read through the file, its MAP_SHARED mapping, F@@/ro and ro/rw
# windows, each checking every value against what the writers had
# acknowledged before the read began (see mf-stress.c).  It must end with no
# hang (a watchdog: 10 s without progress fails) and no stale read.
#
# Three rounds: the default window cache; a cache of 64 KiB windows with a
# budget of 2, so that windows are mapped and evicted under the writers;
# and one where nobody keeps the file itself open (MF_STRESS_CLOSED), so
# view writes take the daemon's closed-file path while fresh opens race
# with them.
#
# MF_STRESS_SECS: total seconds of load (default 20, the CI setting).
# MF_STRESS_WRITERS, MF_STRESS_READERS: processes of each kind (default 4).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MF_STRESS:?MF_STRESS must name the mf-stress helper}"

SECS=${MF_STRESS_SECS:-20}
WRITERS=${MF_STRESS_WRITERS:-4}
READERS=${MF_STRESS_READERS:-4}
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 2 ] || fail "MF_STRESS_SECS must be a whole number >= 2, not '$SECS'"

B=$(mf_dir backing)
M=$(mf_dir mnt)

# What the daemon's threads wait on, for a hang report.
dump_daemon() { # PID
	local t
	echo "    mapfs (pid $1) threads:" >&2
	for t in /proc/"$1"/task/*; do
		echo "      $(cat "$t/comm" 2>/dev/null) ($(basename "$t")): state $(awk '{ print $3 }' "$t/stat" 2>/dev/null), wchan $(cat "$t/wchan" 2>/dev/null)" >&2
		if [ -r "$t/stack" ]; then
			sed 's/^/        /' "$t/stack" 2>/dev/null | head -n 12 >&2 || true
		fi
	done
}

# round NAME SECONDS [MAPFS OPTIONS...]
round() {
	local name=$1 secs=$2 rc=0 pid spid mark="$MF_T/hang-mark" hung=
	shift 2
	check "$name: $WRITERS writers and $READERS readers for $secs s"
	mf_mount "$B" "$M" "$@"
	pid=$MF_PID
	rm -f "$mark"
	# The helper stops by itself after $secs s and has its own watchdog
	# (10 s without progress); on a hang it creates $mark and waits for
	# its children, which end when the daemon does.  The timeout only
	# catches a helper that cannot even end.
	timeout -k 10 $((secs + 200)) "$MF_STRESS" "$M/stress" "$secs" "$WRITERS" "$READERS" 10 "$mark" &
	spid=$!
	while kill -0 "$spid" 2>/dev/null; do
		if [ -e "$mark" ]; then
			hung=1
			dump_daemon "$pid"
			kill -KILL "$pid"     # our daemon: its requests end, so do the children
			mf_reap "$pid"
			unset "MF_PID_OF[$M]"
			break
		fi
		sleep 0.2
	done
	wait "$spid" || rc=$?
	[ -z "$hung" ] || fail "$name: a process hung (no progress for 10 s): a daemon deadlock or a lost reply (mf-stress status $rc)"
	case $rc in
	0) ;;
	124 | 137)
		dump_daemon "$pid"
		fail "$name: mf-stress did not end $((secs + 200)) s after starting a $secs s run" ;;
	1) fail "$name: stale reads, I/O errors or wrong final values (above)" ;;
	*) fail "$name: mf-stress failed with status $rc" ;;
	esac
	mf_alive "$M"
	s cmp "$M/stress" "$B/stress" || fail "$name: after the run, the file differs between the mount and the backing dir"
	mf_umount "$M"
	rm -f "$B/stress"
}

first=$((SECS * 3 / 5))
round "default windows" "$first"
round "64 KiB windows, 2 kept mapped" $((SECS - first)) -o window_size=64K -o max_windows=2
# Nobody keeps the file open: view writes take the daemon's closed-file
# path while fresh opens of the file race with them.
MF_STRESS_CLOSED=1 round "the file opened only per operation" $((SECS / 2))
echo "PASS"
