#!/bin/bash
# Mount a fresh mapfs and run difftest against it and a plain directory.
#
#   MAPFS=build/fs/mapfs DIFFTEST=build/tests/difftest/difftest run-difftest.sh [DIFFTEST-ARGS...]
#
# Without arguments it runs the fixed seeds of the meson test; with arguments
# it runs difftest once with them (scripts/difftest does that; @MNT@ in them
# stands for the mount point, e.g. --tree-root @MNT@). difftest
# exercises views (F@@/rw, F@@/ro windows) and snapshots and private views
# (F@@/snap, F@@/cow) by default; --no-views, --no-snapshots turn them off; the
# third fixed run also takes tree snapshots (--tree-root). Everything
# lives under one fresh mktemp -d directory: BACKING, the mount point MNT and
# PLAIN, so the backing tree and the plain tree are on the same filesystem.
# The EXIT trap always unmounts what this script mounted and stops the daemon
# it started, by its PID. Exit status: difftest's, 77 if /dev/fuse is missing.
#
# Environment: MAPFS, DIFFTEST (required); DIFFTEST_TIMEOUT seconds for all
# the runs together (default 240, 0 for none); MAPFS_OPTS extra options for
# mapfs (-o ...); DIFFTEST_ARGS extra difftest arguments for every run (e.g.
# "--skip seek"); MAPFS_LOG a file to keep the daemon's log in.
set -u

if [ ! -e /dev/fuse ]; then
	echo "run-difftest: /dev/fuse is missing; skipping"
	exit 77
fi
: "${MAPFS:?MAPFS must name the mapfs binary}"
: "${DIFFTEST:?DIFFTEST must name the difftest binary}"
RUN_TIMEOUT=${DIFFTEST_TIMEOUT:-240}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-difftest.XXXXXX") || exit 1
BACKING=$TMP/backing
MNT=$TMP/mnt
PLAIN=$TMP/plain
mkdir "$BACKING" "$MNT" "$PLAIN" || exit 1
MAPFS_PID=
TEST_PID=

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$TEST_PID" ] && kill -0 "$TEST_PID" 2>/dev/null; then
		kill "$TEST_PID" 2>/dev/null
		wait "$TEST_PID" 2>/dev/null
	fi
	if [ -n "$MAPFS_PID" ]; then
		if is_mounted "$MNT"; then
			timeout 10 fusermount3 -u "$MNT" ||
				echo "run-difftest: fusermount3 -u $MNT failed" >&2
		fi
		for _ in $(seq 50); do
			kill -0 "$MAPFS_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$MAPFS_PID" 2>/dev/null; then
			echo "run-difftest: mapfs (pid $MAPFS_PID) still running after unmount; killing it" >&2
			kill "$MAPFS_PID" 2>/dev/null
			sleep 1
			kill -0 "$MAPFS_PID" 2>/dev/null && kill -KILL "$MAPFS_PID" 2>/dev/null
		fi
		wait "$MAPFS_PID" 2>/dev/null
		# a daemon that died leaves its mount behind (ENOTCONN)
		if is_mounted "$MNT"; then
			timeout 10 fusermount3 -u "$MNT" 2>/dev/null ||
				timeout 10 fusermount3 -uz "$MNT" 2>/dev/null
		fi
	fi
	if [ -n "${MAPFS_LOG:-}" ] && [ -e "$TMP/mapfs.log" ]; then
		cp "$TMP/mapfs.log" "$MAPFS_LOG"
	fi
	if [ "$rc" -ne 0 ] && [ -s "$TMP/mapfs.log" ]; then
		echo "run-difftest: last lines of the mapfs log:" >&2
		tail -n 40 "$TMP/mapfs.log" >&2
	fi
	# never remove through a mount that is still there
	if is_mounted "$MNT"; then
		echo "run-difftest: $MNT is still mounted; leaving $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
SECONDS=0
trap 'exit 143' TERM
trap 'exit 130' INT

# shellcheck disable=SC2086 # MAPFS_OPTS is a list of words
"$MAPFS" -f ${MAPFS_OPTS:-} "$BACKING" "$MNT" >"$TMP/mapfs.log" 2>&1 &
MAPFS_PID=$!

for _ in $(seq 100); do
	is_mounted "$MNT" && break
	if ! kill -0 "$MAPFS_PID" 2>/dev/null; then
		echo "run-difftest: mapfs exited before mounting $MNT" >&2
		exit 1
	fi
	sleep 0.1
done
if ! is_mounted "$MNT"; then
	echo "run-difftest: $MNT not mounted after 10 s" >&2
	exit 1
fi

# Run in the background and wait, so that a TERM from meson reaches the trap
# at once rather than after difftest ends.
run() {
	local left=0
	if [ "$RUN_TIMEOUT" -gt 0 ]; then
		left=$((RUN_TIMEOUT - SECONDS))
		[ "$left" -gt 0 ] || left=1
	fi
	# shellcheck disable=SC2086 # DIFFTEST_ARGS is a list of words
	set -- "$@" ${DIFFTEST_ARGS:-}
	set -- "${@//@MNT@/$MNT}"
	echo "run-difftest: difftest $*"
	timeout "$left" "$DIFFTEST" "$@" "$MNT" "$PLAIN" &
	TEST_PID=$!
	wait "$TEST_PID"
	local rc=$?
	TEST_PID=
	if [ "$rc" -eq 124 ]; then
		echo "run-difftest: difftest $* timed out ($RUN_TIMEOUT s for all runs)" >&2
	fi
	return "$rc"
}

# After the runs: unmount, let the daemon finish, and compare what reached the
# backing files with the plain tree, byte for byte.
unmount_and_compare() {
	local f name rc=0
	timeout 10 fusermount3 -u "$MNT" || {
		echo "run-difftest: fusermount3 -u $MNT failed" >&2
		return 1
	}
	for _ in $(seq 100); do
		kill -0 "$MAPFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$MAPFS_PID" 2>/dev/null; then
		echo "run-difftest: mapfs did not exit within 10 s of the unmount" >&2
		return 1
	fi
	wait "$MAPFS_PID"
	rc=$?
	MAPFS_PID=
	if [ "$rc" -ne 0 ]; then
		echo "run-difftest: mapfs exited with status $rc" >&2
		return 1
	fi
	for f in "$PLAIN"/f* "$BACKING"/f*; do
		[ -e "$f" ] || continue
		name=${f##*/}
		if ! cmp "$PLAIN/$name" "$BACKING/$name"; then
			echo "run-difftest: after unmount, backing $name differs from plain $name" >&2
			rc=1
		fi
	done
	[ "$rc" -eq 0 ] && echo "run-difftest: after unmount the backing files match the plain tree"
	return "$rc"
}

if [ $# -gt 0 ]; then
	run "$@" || exit $?
else
	# steers around two known daemon bugs with the
	# snapshots of removed files (one removed file kept per path, an older
	# one's snapshots lost; a replaced file's snapshot undeletable while its
	# name is taken). Drop it once they are fixed: seeds 1 and 2 hit both.
	run --seed 1 --ops 3000 || exit $?
	run --seed 2 --ops 3000 || exit $?
	# tree snapshots of the whole mount, checked after every step
	run --seed 3 --ops 1500 --tree-root "$MNT" || exit $?
fi
unmount_and_compare || exit 1
exit 0
