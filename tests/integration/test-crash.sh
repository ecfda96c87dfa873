#!/bin/bash
# Crash safety of snapshots and private views (issue 4, point 5): the
# daemon is killed with SIGKILL at a random moment of a write storm, the
# dead mount is removed and the tree mounted again; then
#
#   * every acknowledged write is in each file (in the backing directory
#     at once, and through the new mount), including writes that extend
#     the file, and its truncations;
#   * every private view holds every write acknowledged to it, and follows
#     its file on the pages never written through it;
#   * every snapshot whose creation returned exists and reads back exactly
#     the file as it was when taken (the model's copy), whatever the storm
#     wrote, truncated or deleted afterwards; deleted ones stay deleted;
#     a snapshot whose creation or deletion was cut short by the kill may
#     exist or not, but if it does it is exact;
#   * the daemon recovered serves new snapshots and writes, and unmounts
#     cleanly.
#
# The storm and the model are the mf-crash helper's (see mf-crash.c): each
# writer owns a region and records a write once it returned, so that the
# one write per writer in flight at the kill may be old or new.  Snapshots
# are taken between the storm's phases, with no write in flight.  Three
# fixed seeds (the kill's moment comes from the seed too); the third runs
# with -o sync.  MF_CRASH_SEEDS="S1 S2 ..." runs other seeds (every third
# with -o sync), to hunt for failures outside CI.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MF_CRASH:?MF_CRASH must name the mf-crash helper}"

read -r -a SEEDS <<<"${MF_CRASH_SEEDS:-11 4242 90001}"

run_seed() { # SEED [MAPFS ARGS...]
	local seed=$1 B M MD ready hp rc delay_ms i pid
	shift
	B=$(mf_dir "backing-$seed")
	M=$(mf_dir "mnt-$seed")
	MD=$(mf_dir "model-$seed")
	ready="$MF_T/ready-$seed"
	head -c 2097152 /dev/urandom >"$B/a"
	head -c 2097152 /dev/urandom >"$B/b"
	head -c 1048576 /dev/urandom >"$B/c"

	check "seed $seed${*:+ ($*)}: a write storm with snapshots and private views"
	mf_mount "$B" "$M" "$@"
	s touch "$M/a@@/cow/v" "$M/b@@/cow/v" || fail "cannot make the private views"
	timeout -k 5 90 "$MF_CRASH" storm "$M" "$MD" "$seed" "$ready" \
		>"$MF_T/storm-$seed.out" 2>"$MF_T/storm-$seed.err" &
	hp=$!
	for ((i = 0; i < 400; i++)); do
		[ -e "$ready" ] && break
		kill -0 "$hp" 2>/dev/null || break
		sleep 0.05
	done
	[ -e "$ready" ] || fail "the storm did not get going in 20 s: $(cat "$MF_T/storm-$seed.err")"

	RANDOM=$seed
	delay_ms=$((50 + RANDOM % 1500))
	sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
	kill -0 "$hp" 2>/dev/null ||
		fail "the storm ended before the kill: $(cat "$MF_T/storm-$seed.out" "$MF_T/storm-$seed.err")"
	mf_alive "$M"

	check "seed $seed: SIGKILL the daemon ${delay_ms} ms into the storm"
	pid=${MF_PID_OF[$M]}
	date +%s%N >"$ready.killed"
	kill -KILL "$pid"
	mf_reap "$pid"
	unset "MF_PID_OF[$M]"
	rc=0
	wait "$hp" || rc=$?
	cat "$MF_T/storm-$seed.out"
	sed 's/^/    /' "$MF_T/storm-$seed.err"
	[ "$rc" -eq 0 ] || fail "the storm failed (status $rc) before or apart from the kill: $(cat "$MF_T/storm-$seed.err")"
	grep -q "never ready" "$MF_T/storm-$seed.out" && fail "the storm never got going"
	# The dead mount: fusermount3 -u, lazily if something still holds it.
	if ! s fusermount3 -u "$M" 2>/dev/null; then
		s fusermount3 -uz "$M" || fail "fusermount3 -uz of the dead mount $M failed"
	fi
	! mf_is_mounted "$M" || fail "$M still mounted after fusermount3 -u"

	check "seed $seed: the backing files hold every acknowledged write"
	s "$MF_CRASH" check "$B" "$MD" files || fail "seed $seed: acknowledged writes are missing from the backing files after the crash"

	check "seed $seed: after a remount, files, private views and snapshots are as the model says"
	mf_mount "$B" "$M" "$@"
	s "$MF_CRASH" check "$M" "$MD" || {
		mf_dump_log "$M"
		fail "seed $seed: after SIGKILL and a remount the mount differs from the model"
	}

	check "seed $seed: the recovered daemon takes snapshots and writes, and unmounts cleanly"
	s cp "$M/a" "$MF_T/a-$seed"
	s touch "$M/a@@/snap/after-crash" || fail "snapshot after the crash refused"
	s dd if=/dev/urandom of="$M/a" bs=4096 seek=7 count=3 conv=notrunc status=none
	s cmp "$M/a@@/snap/after-crash" "$MF_T/a-$seed" ||
		fail "a snapshot taken after the recovery does not hold the file as it was"
	mf_umount "$M"
	rm -f "$MF_T/a-$seed"
}

for ((k = 0; k < ${#SEEDS[@]}; k++)); do
	if [ $((k % 3)) -eq 2 ]; then
		run_seed "${SEEDS[$k]}" -o sync
	else
		run_seed "${SEEDS[$k]}"
	fi
done

echo "PASS"
