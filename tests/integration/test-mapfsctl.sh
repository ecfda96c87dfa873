#!/bin/bash
# mapfsctl, the scripting tool for snapshots and private views (issue 4):
#
#   * usage errors exit 2 (with --json, an error object with "usage": true);
#     --help and --version exit 0;
#   * bad names (empty, ".", "..", with '/', over NAME_MAX) exit 1 with one
#     "mapfsctl: ...: Invalid argument" line, and nothing is created; FILE
#     must be a regular file on a mapfs mount (clear messages otherwise);
#   * stats: the user.mapfs.stats xattr, as text and as JSON numbers;
#   * snapshots: create, list (oldest first, size, pages, taken, state),
#     rename (never over another), delete, through a symlink, odd names
#     (JSON escaping), names after "--", and what touch/mv/rm did;
#   * private views: create, write, list, commit into the file, discard;
#   * the snapshots of an unlinked file, by its path; a snapshot whose file
#     was written behind the mount is listed as damaged;
#   * list MOUNT: every file with snapshots or views, once, not following
#     symlinks, not entering F@@ (also with -o views=visible), entering a
#     real directory named R@@;
#   * tree snapshots: create, list, rename, delete, diff MOUNT A [B] as text
#     and JSON (a later snapshot named "b@3" too);
#   * every --json output is parsed by python3 and checked.
#
# The snapshot and private view part needs a daemon that serves F@@/snap
# and F@@/cow; without them the test fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
: "${MAPFSCTL:?MAPFSCTL must name the mapfsctl executable}"
[ -x "$MAPFSCTL" ] || fail "MAPFSCTL=$MAPFSCTL is not executable"
command -v python3 >/dev/null || fail "python3 not found (needed to check JSON output)"

OUT="$MF_T/ctl.out"
ERR="$MF_T/ctl.err"
T0=$(date +%s)

# ctl RC ARGS...: run mapfsctl ARGS, which must exit with status RC.
# Its stdout is in $OUT, its stderr in $ERR.  Success prints nothing on
# stderr; a failure (1) exactly one "mapfsctl: " line; a usage error (2)
# a "mapfsctl: " line and a hint.
ctl() {
	local want=$1 rc=0
	shift
	s "$MAPFSCTL" "$@" >"$OUT" 2>"$ERR" || rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "mapfsctl $*: exit status $rc, expected $want; stdout: $(cat "$OUT"); stderr: $(cat "$ERR")"
	case $want in
	0) [ ! -s "$ERR" ] || fail "mapfsctl $*: succeeded but wrote on stderr: $(cat "$ERR")" ;;
	1) [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q '^mapfsctl: .' "$ERR" ||
		fail "mapfsctl $*: expected one 'mapfsctl: ...' line on stderr, got: $(cat "$ERR")" ;;
	2) head -n 1 "$ERR" | grep -q '^mapfsctl: .' ||
		fail "mapfsctl $*: expected a 'mapfsctl: ...' usage message, got: $(cat "$ERR")" ;;
	esac
}

# ctl_err STRERROR ARGS...: mapfsctl ARGS must fail (exit 1) with one line
# "mapfsctl: ...: STRERROR" on stderr and nothing on stdout.
ctl_err() {
	local msg=$1
	shift
	ctl 1 "$@"
	grep -q -- ": $msg\$" "$ERR" ||
		fail "mapfsctl $*: the message does not end in ': $msg': $(cat "$ERR")"
	[ ! -s "$OUT" ] || fail "mapfsctl $*: failed but wrote on stdout: $(cat "$OUT")"
}

# jcheck WHAT 'PYTHON': $OUT must hold exactly one JSON object (one line),
# and the Python code (asserts on `d`, the object) must pass.  `errno`,
# `os`, `re` and `time` are imported; A is $MF_T, M the mount, B the
# backing dir, T0 the test's start time.
jcheck() {
	local what=$1 code=$2
	[ "$(wc -l <"$OUT")" -eq 1 ] || fail "$what: expected one line of JSON, got: $(cat "$OUT")"
	python3 - "$OUT" "$code" "$M" "$B" "$T0" >"$MF_T/py.out" 2>&1 <<'EOF' ||
import calendar, errno, json, os, re, sys, time
d = json.load(open(sys.argv[1], encoding="utf-8"))
assert isinstance(d, dict), "not a JSON object"
M, B, T0 = sys.argv[3], sys.argv[4], int(sys.argv[5])
exec(sys.argv[2])
EOF
		fail "$what: $(tail -n 5 "$MF_T/py.out"); JSON: $(cat "$OUT")"
}

# The JSON error object of a failed --json command: the message on stderr
# (without "mapfsctl: "), the errno and its name.
jerror() { # WHAT ERRNO_NAME
	jcheck "$1" "
msg = open('$ERR').read().strip()
assert set(d) == {'error', 'errno', 'code'}, sorted(d)
assert d['errno'] == errno.$2 and d['code'] == '$2', (d['errno'], d['code'])
assert 'mapfsctl: ' + d['error'] == msg, (d['error'], msg)"
}

B=$(mf_dir backing)
M=$(mf_dir mnt)
head -c 20000 /dev/urandom >"$B/db.bin"
cp "$B/db.bin" "$MF_T/db.orig"
head -c 65536 /dev/urandom >"$B/app.bin"
cp "$B/app.bin" "$MF_T/app.orig"
mkdir -p "$B/sub/deeper" "$B/R@@"
head -c 5000 /dev/urandom >"$B/sub/deeper/nested.bin"
printf 'plain\n' >"$B/plain.txt"
printf 'R\n' >"$B/R"                    # a file R beside a real directory R@@
printf 'in R@@\n' >"$B/R@@/inner.bin"
ln -s db.bin "$B/link"
ln -s sub "$B/sublink"
mkfifo "$B/fifo"
printf 'outside\n' >"$MF_T/outside.bin"

mf_mount "$B" "$M"

# The backing tree and the state directory, to see that refused commands
# change nothing.
tree_state() {
	(cd "$B" && find . -printf '%p %y %s %T@\n' | sort)
}

# ----------------------------------------------------------------- usage

check "usage errors exit 2: no command, unknown command or option, wrong argument counts"
ctl 2
ctl 2 frobnicate
ctl 2 --frob stats "$M"
ctl 2 -x snapshot list "$M/db.bin"
ctl 2 snapshot
ctl 2 snapshot frob "$M/db.bin"
ctl 2 snapshot commit "$M/db.bin" a      # commit is for private views
ctl 2 cow
ctl 2 cow rename "$M/app.bin" a b        # rename is for snapshots
ctl 2 cow delete "$M/app.bin" a          # cow views are discarded
ctl 2 snapshot create "$M/db.bin"
ctl 2 snapshot create "$M/db.bin" a b
ctl 2 snapshot list
ctl 2 snapshot list "$M/db.bin" extra
ctl 2 snapshot delete "$M/db.bin"
ctl 2 snapshot rename "$M/db.bin" a
ctl 2 snapshot rename "$M/db.bin" a b c
ctl 2 cow create "$M/app.bin"
ctl 2 cow list
ctl 2 cow commit "$M/app.bin"
ctl 2 cow discard "$M/app.bin" a b
ctl 2 list
ctl 2 list "$M" "$M"
ctl 2 stats
ctl 2 stats "$M" "$M"
[ ! -s "$OUT" ] || fail "a usage error without --json wrote on stdout: $(cat "$OUT")"

check "usage errors with --json: an error object with \"usage\": true"
for args in "--json" "--json frobnicate" "snapshot create $M/db.bin --json" "--json --frob stats $M" "-j cow"; do
	# shellcheck disable=SC2086
	ctl 2 $args
	jcheck "mapfsctl $args" "
assert d['usage'] is True and d['errno'] == errno.EINVAL and d['code'] == 'EINVAL', d
assert 'mapfsctl: ' + d['error'] == open('$ERR').readline().strip()"
done

check "--help and --version exit 0"
ctl 0 --help
grep -q 'snapshot create FILE NAME' "$OUT" || fail "--help does not list 'snapshot create FILE NAME'"
for c in 'snapshot list' 'snapshot delete' 'snapshot rename' 'cow create' 'cow list' 'cow commit' 'cow discard' 'list' 'stats'; do
	grep -q "^  $c " "$OUT" || fail "--help does not list '$c'"
done
ctl 0 -h
ctl 0 --version
grep -qx 'mapfsctl [0-9][0-9.]*' "$OUT" || fail "--version printed: $(cat "$OUT")"
ctl 0 --version --json
jcheck "--version --json" "assert re.fullmatch(r'[0-9][0-9.]*', d['version']), d"

# ------------------------------------------------------------- bad names

check "bad names exit 1 with EINVAL and create nothing"
before=$(tree_state)
long=$(printf 'n%.0s' {1..256})
for name in "" "." ".." "a/b" "/" "../x" "x/" "$long"; do
	ctl_err "Invalid argument" snapshot create "$M/db.bin" "$name"
	grep -q "invalid snapshot name" "$ERR" || fail "bad name '$name': the message does not say so: $(cat "$ERR")"
	ctl_err "Invalid argument" cow create "$M/app.bin" "$name"
	grep -q "invalid private view name" "$ERR" || fail "bad name '$name': the message does not say so: $(cat "$ERR")"
	ctl_err "Invalid argument" snapshot delete "$M/db.bin" "$name"
	ctl_err "Invalid argument" snapshot rename "$M/db.bin" "$name" ok
	ctl_err "Invalid argument" snapshot rename "$M/db.bin" ok "$name"
	ctl_err "Invalid argument" cow commit "$M/app.bin" "$name"
	ctl_err "Invalid argument" cow discard "$M/app.bin" "$name"
	ctl 1 --json snapshot create "$M/db.bin" "$name"
	jerror "--json snapshot create with the bad name '$name'" EINVAL
done
# A bad name is refused even for a file that does not exist (no system call).
ctl_err "Invalid argument" snapshot create "$M/missing" ".."
expect_eq "$(tree_state)" "$before" "the backing tree and state directory after the bad names"
cmp "$B/db.bin" "$MF_T/db.orig" || fail "db.bin changed"
cmp "$B/app.bin" "$MF_T/app.orig" || fail "app.bin changed"

check "FILE must be a regular file on a mapfs mount"
ctl_err "No such file or directory" snapshot create "$M/missing" s
grep -qF "$M/missing" "$ERR" || fail "the message does not name the missing file: $(cat "$ERR")"
ctl_err "No such file or directory" snapshot create "" s
ctl_err "Is a directory" snapshot create "$M/sub" s
ctl_err "Is a directory" cow create "$M" v
ctl_err "Is a directory" snapshot list "$M/sub"
ctl_err "Invalid argument" snapshot create "$M/fifo" s
grep -q "not a regular file" "$ERR" || fail "snapshot of a FIFO: $(cat "$ERR")"
ctl_err "No such file or directory" snapshot create "$MF_T/outside.bin" s
grep -q "not on a mapfs mount" "$ERR" || fail "snapshot of a file outside mapfs: $(cat "$ERR")"
ctl_err "No such file or directory" cow list "$MF_T/outside.bin"
grep -q "not on a mapfs mount" "$ERR" || fail "cow list of a file outside mapfs: $(cat "$ERR")"
ctl 1 --json snapshot list "$M/missing"
jerror "--json snapshot list of a missing file" ENOENT
ctl 1 --json cow create "$M/sub" v
jerror "--json cow create of a directory" EISDIR
expect_eq "$(tree_state)" "$before" "the backing tree and state directory after the refused files"

# ----------------------------------------------------------------- stats

STATS_KEYS="windows_mapped maps unmaps hits misses map_failures populates write_syscalls write_populated reads bytes_read bytes_written open_files sigbus inodes"

check "stats: the user.mapfs.stats xattr, as text and as JSON numbers"
s cat "$M/db.bin" >/dev/null
ctl 0 stats "$M"
for k in $STATS_KEYS; do
	grep -qE "^$k=[0-9]+\$" "$OUT" || fail "stats has no '$k=N' line: $(cat "$OUT")"
done
ctl 0 stats --json "$M"
python3 -c 'import json,sys; json.load(sys.stdin)' <"$OUT" || fail "stats --json is not JSON: $(cat "$OUT")"
jcheck "stats --json" "
for k in '$STATS_KEYS'.split():
    assert k in d, 'no key ' + k
    assert type(d[k]) is int and d[k] >= 0, (k, d[k])
assert d['bytes_read'] >= 20000, d['bytes_read']
text = dict(l.split('=', 1) for l in os.popen('getfattr --absolute-names --only-values -n user.mapfs.stats ' + M).read().split())
assert set(text) == set(d), (sorted(text), sorted(d))"

check "stats of something that is not a mapfs mount point"
ctl_err "No data available" stats "$M/sub"
grep -q "not the mount point of a mapfs" "$ERR" || fail "stats of a subdirectory: $(cat "$ERR")"
ctl_err "No data available" stats "$MF_T"
ctl_err "No such file or directory" stats "$M/missing"
ctl 1 --json stats "$M/sub"
jerror "--json stats of a subdirectory" ENODATA

check "list of a tree without snapshots or views; of a file; of nothing"
ctl 0 list "$M"
[ ! -s "$OUT" ] || fail "list of a mount without snapshots printed: $(cat "$OUT")"
ctl 0 --json list "$M"
jcheck "list --json (nothing yet)" "assert d == {'root': M, 'files': []}, d"
ctl 0 --json list "$MF_T/backing"
jcheck "list --json of a plain directory" "assert d['files'] == [], d"
ctl_err "Not a directory" list "$M/db.bin"
ctl_err "No such file or directory" list "$M/missing"

# ------------------------------------------------- snapshots (required)

check "the daemon serves snapshots and private views: ls F@@ lists snap and cow"
views=$(s ls "$M/db.bin@@" | tr '\n' ' ')
[[ " $views" == *" snap "* && " $views" == *" cow "* ]] ||
	fail "ls db.bin@@ gives '$views': no snap and cow (the daemon does not serve snapshots and private views)"
expect_eq "$(s ls -A "$M/db.bin@@/snap" | wc -l)" 0 "snapshots of db.bin before any was taken"
expect_eq "$(s ls -A "$M/app.bin@@/cow" | wc -l)" 0 "private views of app.bin before any was made"

# An entry of a snapshot list, checked: name, path, size, pages, taken
# (ISO 8601 UTC, between the test's start and now, = the snapshot's
# st_mtime), state.
PY_SNAP='
def snap_ok(e, name, file, size, pages=None):
    assert set(e) == {"name", "path", "size", "pages", "taken", "state"}, sorted(e)
    assert e["name"] == name, (e["name"], name)
    assert e["path"] == file + "@@/snap/" + name, e["path"]
    assert e["size"] == size, (name, e["size"], size)
    assert type(e["pages"]) is int and e["pages"] >= 0, e["pages"]
    if pages is not None:
        assert e["pages"] == pages, (name, "pages", e["pages"], pages)
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)", e["taken"])
    assert m, ("taken", e["taken"])
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    assert T0 - 2 <= t <= time.time() + 2, ("taken", e["taken"], T0)
    mt = os.stat(os.path.join(M, e["path"])).st_mtime
    assert int(t) == int(mt), ("taken", e["taken"], "st_mtime", mt)
    assert e["state"] == "intact", e["state"]
def cow_ok(e, name, file, size, pages=None):
    assert set(e) == {"name", "path", "size", "pages"}, sorted(e)
    assert e["name"] == name and e["path"] == file + "@@/cow/" + name, e
    assert e["size"] == size, (name, e["size"], size)
    assert type(e["pages"]) is int and e["pages"] >= 0, e["pages"]
    if pages is not None:
        assert e["pages"] == pages, (name, "pages", e["pages"], pages)
'
F="$M/db.bin"

check "snapshot create: JSON, the snapshot file, EEXIST for a taken name"
ctl 0 --json snapshot create "$F" s1
jcheck "snapshot create --json" "$PY_SNAP
assert set(d) == {'file', 'snapshot'}, sorted(d)
assert d['file'] == M + '/db.bin', d['file']
snap_ok(d['snapshot'], 's1', d['file'], 20000, 0)"
cmp "$F@@/snap/s1" "$MF_T/db.orig" || fail "snapshot s1 differs from the file when taken"
ctl 0 snapshot create "$F" s0
expect_eq "$(cat "$OUT")" "$F@@/snap/s0" "output of snapshot create"
ctl 0 snapshot delete "$F" s0
[ ! -s "$OUT" ] || fail "snapshot delete printed: $(cat "$OUT")"
ctl_err "File exists" snapshot create "$F" s1
ctl 1 --json snapshot create "$F" s1
jerror "--json snapshot create of a taken name" EEXIST
cmp "$F@@/snap/s1" "$MF_T/db.orig" || fail "snapshot s1 changed after a refused create"

check "snapshot list: oldest first, sizes, pages held, taken, state"
# One page written after s1: s1 holds it.
printf 'CHANGED' | s dd of="$F" bs=1 seek=5000 conv=notrunc status=none
cp "$B/db.bin" "$MF_T/db.v2"
sleep 1.1    # s2 taken a second later than s1
ctl 0 snapshot create "$F" s2
# One page written after s2 (another page): s2 holds it.
printf 'AGAIN' | s dd of="$F" bs=1 seek=13000 conv=notrunc status=none
cp "$B/db.bin" "$MF_T/db.v3"
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json" "$PY_SNAP
assert set(d) == {'file', 'snapshots'}, sorted(d)
assert [e['name'] for e in d['snapshots']] == ['s1', 's2'], d['snapshots']
snap_ok(d['snapshots'][0], 's1', M + '/db.bin', 20000, 1)
snap_ok(d['snapshots'][1], 's2', M + '/db.bin', 20000, 1)
assert d['snapshots'][0]['taken'] < d['snapshots'][1]['taken']"
cmp "$F@@/snap/s1" "$MF_T/db.orig" || fail "snapshot s1 differs from the file when it was taken"
cmp "$F@@/snap/s2" "$MF_T/db.v2" || fail "snapshot s2 differs from the file when it was taken"
ctl 0 snapshot list "$F"
expect_eq "$(awk '{print $1, $2, $3, $5}' "$OUT" | tr '\n' '|')" "NAME SIZE PAGES STATE|s1 20000 1 intact|s2 20000 1 intact|" \
	"snapshot list (text)"

check "snapshot rename: JSON, never over another snapshot, ENOENT for a missing one"
ctl 0 --json snapshot rename "$F" s1 v1
jcheck "snapshot rename --json" "$PY_SNAP
assert set(d) == {'file', 'renamed', 'snapshot'}, sorted(d)
assert d['renamed'] == {'from': 's1', 'to': 'v1'}, d['renamed']
snap_ok(d['snapshot'], 'v1', M + '/db.bin', 20000, 1)"
[ ! -e "$F@@/snap/s1" ] || fail "s1 still exists after the rename to v1"
cmp "$F@@/snap/v1" "$MF_T/db.orig" || fail "snapshot v1 (was s1) changed by the rename"
ctl 0 snapshot rename "$F" v1 v1b
[ ! -s "$OUT" ] || fail "snapshot rename printed: $(cat "$OUT")"
ctl 0 snapshot rename "$F" v1b v1
ctl_err "File exists" snapshot rename "$F" v1 s2
cmp "$F@@/snap/v1" "$MF_T/db.orig" || fail "snapshot v1 changed by a refused rename"
cmp "$F@@/snap/s2" "$MF_T/db.v2" || fail "snapshot s2 changed by a refused rename onto it"
ctl_err "No such file or directory" snapshot rename "$F" nosuch x
ctl 1 --json snapshot rename "$F" v1 s2
jerror "--json snapshot rename onto an existing snapshot" EEXIST
expect_eq "$(s ls "$F@@/snap" | tr '\n' ' ')" "s2 v1 " "ls of db.bin@@/snap after the renames"

check "snapshot delete: JSON; the older snapshot keeps its bytes; ENOENT the second time"
ctl 0 --json snapshot delete "$F" s2
jcheck "snapshot delete --json" "assert d == {'file': M + '/db.bin', 'deleted': 's2'}, d"
ctl_err "No such file or directory" snapshot delete "$F" s2
ctl 1 --json snapshot delete "$F" s2
jerror "--json snapshot delete of a deleted snapshot" ENOENT
cmp "$F@@/snap/v1" "$MF_T/db.orig" || fail "snapshot v1 changed when s2 (newer) was deleted"
# v1 now holds both pages: its own and the one s2 handed it.
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json after the delete" "$PY_SNAP
assert [e['name'] for e in d['snapshots']] == ['v1'], d
snap_ok(d['snapshots'][0], 'v1', M + '/db.bin', 20000, 2)"

check "snapshot names: 255 bytes, quotes, backslashes, spaces, UTF-8, a leading '-' (after --)"
name255=$(printf 'x%.0s' {1..255})
odd=$'we"ird \\ näme\ttab'
for n in "$name255" "$odd"; do
	ctl 0 --json snapshot create "$F" "$n"
	printf '%s' "$n" >"$MF_T/name"
	jcheck "snapshot create --json of an odd name" "$PY_SNAP
snap_ok(d['snapshot'], open('$MF_T/name', encoding='utf-8').read(), M + '/db.bin', 20000, 0)"
	cmp "$F@@/snap/$n" "$MF_T/db.v3" || fail "the snapshot with an odd name differs from the file"
done
ctl 0 snapshot create "$F" -- -dash
[ -f "$F@@/snap/-dash" ] || fail "no snapshot named -dash"
ctl 0 -- snapshot delete "$F" -dash
ctl 2 snapshot delete "$F" -dash     # without --: an unknown option
ctl 0 --json snapshot list "$F"
printf '%s' "$odd" >"$MF_T/name"
jcheck "snapshot list --json with odd names" "
names = [e['name'] for e in d['snapshots']]
assert names[0] == 'v1' and sorted(names[1:]) == sorted(['x' * 255, open('$MF_T/name', encoding='utf-8').read()]), names"
ctl 0 snapshot delete "$F" "$name255"
ctl 0 snapshot delete "$F" "$odd"

check "a symbolic link to a file: the file it names is worked on"
ctl 0 --json snapshot create "$M/link" vialink
jcheck "snapshot create --json through a symlink" "$PY_SNAP
assert d['file'] == M + '/db.bin', d['file']
snap_ok(d['snapshot'], 'vialink', M + '/db.bin', 20000, 0)"
[ -f "$F@@/snap/vialink" ] || fail "the snapshot made through the symlink is not db.bin's"
ctl 0 snapshot delete "$M/link" vialink
[ ! -e "$F@@/snap/vialink" ] || fail "snapshot vialink still exists after its delete"

check "what touch, mv and rm do is what mapfsctl sees"
s touch "$F@@/snap/bytouch"
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json after touch" "assert [e['name'] for e in d['snapshots']] == ['v1', 'bytouch'], d"
s mv "$F@@/snap/bytouch" "$F@@/snap/bymv"
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json after mv" "assert [e['name'] for e in d['snapshots']] == ['v1', 'bymv'], d"
s rm "$F@@/snap/bymv"
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json after rm" "assert [e['name'] for e in d['snapshots']] == ['v1'], d"

check "a snapshot cannot be written; mapfsctl has not changed the file"
expect_err "Read-only file system" dd if=/dev/zero of="$F@@/snap/v1" bs=1 count=1 conv=notrunc status=none
cmp "$B/db.bin" "$MF_T/db.v3" || fail "db.bin is not what was written to it"

# ------------------------------------------------ private views (required)

A="$M/app.bin"
check "cow create: JSON, the view's bytes, EEXIST for a taken name"
ctl 0 --json cow create "$A" try1
jcheck "cow create --json" "$PY_SNAP
assert set(d) == {'file', 'cow'}, sorted(d)
assert d['file'] == M + '/app.bin', d['file']
cow_ok(d['cow'], 'try1', d['file'], 65536, 0)"
cmp "$A@@/cow/try1" "$MF_T/app.orig" || fail "private view try1 differs from the file"
ctl_err "File exists" cow create "$A" try1
ctl 1 --json cow create "$A" try1
jerror "--json cow create of a taken name" EEXIST

check "a write into the view is private; cow list shows its page"
printf 'PATCH' | s dd of="$A@@/cow/try1" bs=1 seek=4096 conv=notrunc status=none
cp "$MF_T/app.orig" "$MF_T/app.patched"
printf 'PATCH' | dd of="$MF_T/app.patched" bs=1 seek=4096 conv=notrunc status=none
cmp "$A@@/cow/try1" "$MF_T/app.patched" || fail "private view try1 does not hold the patch"
cmp "$A" "$MF_T/app.orig" || fail "app.bin changed by a write into its private view"
ctl 0 cow create "$A" try2
expect_eq "$(cat "$OUT")" "$A@@/cow/try2" "output of cow create"
ctl 0 --json cow list "$A"
jcheck "cow list --json" "$PY_SNAP
assert set(d) == {'file', 'cow'}, sorted(d)
assert [e['name'] for e in d['cow']] == ['try1', 'try2'], d['cow']
cow_ok(d['cow'][0], 'try1', M + '/app.bin', 65536, 1)
cow_ok(d['cow'][1], 'try2', M + '/app.bin', 65536, 0)"
ctl 0 cow list "$A"
expect_eq "$(tr -s ' ' <"$OUT" | tr '\n' '|')" "NAME SIZE PAGES|try1 65536 1|try2 65536 0|" "cow list (text)"

check "cow discard: the file untouched; ENOENT the second time"
printf 'JUNK' | s dd of="$A@@/cow/try2" bs=1 seek=100 conv=notrunc status=none
ctl 0 --json cow discard "$A" try2
jcheck "cow discard --json" "assert d == {'file': M + '/app.bin', 'discarded': 'try2'}, d"
[ ! -e "$A@@/cow/try2" ] || fail "try2 still exists after its discard"
ctl_err "No such file or directory" cow discard "$A" try2
ctl 1 --json cow discard "$A" try2
jerror "--json cow discard of a discarded view" ENOENT
cmp "$A" "$MF_T/app.orig" || fail "app.bin changed by the discard of a private view"

check "cow commit: the file gets the view's bytes, the view is gone"
ctl 0 --json cow commit "$A" try1
jcheck "cow commit --json" "assert d == {'file': M + '/app.bin', 'committed': 'try1', 'size': 65536}, d"
cmp "$A" "$MF_T/app.patched" || fail "app.bin does not hold the committed patch (through the mount)"
cmp "$B/app.bin" "$MF_T/app.patched" || fail "the backing app.bin does not hold the committed patch"
[ ! -e "$A@@/cow/try1" ] || fail "try1 still exists after its commit"
ctl_err "No such file or directory" cow commit "$A" try1
ctl 1 --json cow commit "$A" try1
jerror "--json cow commit of a committed view" ENOENT
ctl 0 cow create "$A" try3
ctl 0 cow commit "$A" try3
[ ! -s "$OUT" ] || fail "cow commit printed: $(cat "$OUT")"
cmp "$A" "$MF_T/app.patched" || fail "app.bin changed by the commit of an unwritten view"
ctl 0 --json cow list "$A"
jcheck "cow list --json after commit and discard" "assert d == {'file': M + '/app.bin', 'cow': []}, d"

# ----------------------------------------------------------- list MOUNT

check "list MOUNT: every file with snapshots or views, once; no symlinks followed, no F@@ entered"
ctl 0 cow create "$A" keep1
printf 'K' | s dd of="$A@@/cow/keep1" bs=1 seek=0 conv=notrunc status=none
ctl 0 snapshot create "$M/sub/deeper/nested.bin" n1
ctl 0 snapshot create "$M/R@@/inner.bin" r1     # in a real directory named R@@
# R's view directory is hidden by the real directory R@@: nothing to do.
ctl_err "No such file or directory" cow create "$M/R" rv
grep -q "hidden by a real" "$ERR" || fail "cow create of R (R@@ a real directory): $(cat "$ERR")"
ctl_err "No such file or directory" snapshot list "$M/R"
[ ! -e "$B/R@@/cow" ] && [ ! -e "$B/R@@/snap" ] || fail "something was created in the real directory R@@"
PY_LIST="$PY_SNAP
assert set(d) <= {'root', 'files'}, sorted(d)
files = {f['path']: f for f in d['files']}
assert len(files) == len(d['files']), 'a file listed twice'
want = {ROOT + '/db.bin', ROOT + '/app.bin', ROOT + '/sub/deeper/nested.bin', ROOT + '/R@@/inner.bin'}
assert set(files) == want, sorted(files)
for f in d['files']:
    assert set(f) == {'path', 'size', 'unlinked', 'snapshots', 'cow'}, sorted(f)
    assert f['size'] == os.stat(os.path.join(M, f['path'])).st_size and f['unlinked'] is False, f
db = files[ROOT + '/db.bin']
assert [e['name'] for e in db['snapshots']] == ['v1'] and db['cow'] == [], db
snap_ok(db['snapshots'][0], 'v1', ROOT + '/db.bin', 20000, 2)
app = files[ROOT + '/app.bin']
assert app['snapshots'] == [], app
assert len(app['cow']) == 1, app
cow_ok(app['cow'][0], 'keep1', ROOT + '/app.bin', 65536, 1)
nested = files[ROOT + '/sub/deeper/nested.bin']
assert [e['name'] for e in nested['snapshots']] == ['n1'] and nested['cow'] == [], nested
snap_ok(nested['snapshots'][0], 'n1', ROOT + '/sub/deeper/nested.bin', 5000, 0)
inner = files[ROOT + '/R@@/inner.bin']
assert [e['name'] for e in inner['snapshots']] == ['r1'], inner
"
ctl 0 --json list "$M"
jcheck "list --json MOUNT" "ROOT = M
assert d['root'] == M
$PY_LIST"
ctl 0 --json list "$M/sub"
jcheck "list --json of a subdirectory" "
assert [f['path'] for f in d['files']] == [M + '/sub/deeper/nested.bin'], d"
ctl 0 --json list "$M/sublink"
jcheck "list --json of a symlink to a directory (the directory it names)" "
assert d['root'] == M + '/sub', d['root']
assert [f['path'] for f in d['files']] == [M + '/sub/deeper/nested.bin'], d"
ctl 0 list "$M"
for p in "$M/db.bin" "$M/app.bin" "$M/sub/deeper/nested.bin" "$M/R@@/inner.bin"; do
	expect_eq "$(grep -c "^$p (" "$OUT")" 1 "lines for $p in list (text)"
done
grep -q '^    v1 ' "$OUT" && grep -q '^    keep1 ' "$OUT" && grep -q '^    n1 ' "$OUT" ||
	fail "list (text) does not show v1, keep1 and n1: $(cat "$OUT")"
sx 'cd "$1" && "$2" --json list .' "$M" "$MAPFSCTL" >"$OUT" || fail "list --json . in the mount failed"
jcheck "list --json ." "ROOT = '.'
$PY_LIST"

check "list with -o views=visible (after a remount): F@@ is listed but not entered; views and snapshots persist"
mf_umount "$M"
mf_mount "$B" "$M" -o views=visible
s ls -A "$M" | grep -qx 'db.bin@@' || fail "db.bin@@ is not listed with -o views=visible"
ctl 0 --json list "$M"
jcheck "list --json MOUNT with -o views=visible" "ROOT = M
$PY_LIST"
cmp "$F@@/snap/v1" "$MF_T/db.orig" || fail "snapshot v1 changed across the remount"
printf 'K' | dd of="$MF_T/app.keep1" status=none
tail -c +2 "$MF_T/app.patched" >>"$MF_T/app.keep1"
cmp "$A@@/cow/keep1" "$MF_T/app.keep1" || fail "private view keep1 changed across the remount"

check "cleaning up with mapfsctl leaves nothing to list"
ctl 0 snapshot delete "$F" v1
ctl 0 cow discard "$A" keep1
ctl 0 snapshot delete "$M/sub/deeper/nested.bin" n1
ctl 0 snapshot delete "$M/R@@/inner.bin" r1
ctl 0 --json list "$M"
jcheck "list --json after deleting everything" "assert d == {'root': M, 'files': []}, d"
cmp "$B/db.bin" "$MF_T/db.v3" || fail "db.bin is not what was written to it"
cmp "$B/app.bin" "$MF_T/app.patched" || fail "app.bin is not what was committed to it"

check "the snapshots of an unlinked file stay reachable under its path"
printf 'short-lived\n' >"$MF_T/gone.model"
s cp "$MF_T/gone.model" "$M/gone.bin"
ctl 0 snapshot create "$M/gone.bin" last
s rm "$M/gone.bin"
sleep 1.2   # past the entry timeout: the kernel looks gone.bin@@ up again
ctl 0 --json snapshot list "$M/gone.bin"
jcheck "snapshot list --json of an unlinked file" "$PY_SNAP
assert d['file'] == M + '/gone.bin', d['file']
assert [e['name'] for e in d['snapshots']] == ['last'], d
snap_ok(d['snapshots'][0], 'last', M + '/gone.bin', 12, 0)"
cmp "$M/gone.bin@@/snap/last" "$MF_T/gone.model" || fail "the snapshot of the unlinked gone.bin differs"
ctl 0 snapshot rename "$M/gone.bin" last final
ctl 0 snapshot delete "$M/gone.bin" final
[ ! -e "$B/gone.bin" ] || fail "gone.bin came back"

check "a snapshot whose file was changed outside the mount is listed as damaged, before anything reads it"
ctl 0 snapshot create "$F" before-bypass
mf_umount "$M"
printf 'BYPASS' | dd of="$B/db.bin" bs=1 seek=100 conv=notrunc status=none
mf_mount "$B" "$M"
ctl 0 --json snapshot list "$F"
jcheck "snapshot list --json after a write that bypassed the mount" "
assert [(e['name'], e['state']) for e in d['snapshots']] == [('before-bypass', 'damaged')], d"
ctl 0 --json list "$M"
jcheck "list --json after a write that bypassed the mount" "
assert [(f['path'], [(e['name'], e['state']) for e in f['snapshots']]) for f in d['files']] == [(M + '/db.bin', [('before-bypass', 'damaged')])], d"
ctl 0 snapshot delete "$F" before-bypass
ctl 0 --json list "$M"
jcheck "list --json after deleting the damaged snapshot" "assert d == {'root': M, 'files': []}, d"

check "tree snapshots: create, list, rename, diff (text, JSON, against a later one), delete"
ctl 1 tree create "$M" 'a/b'
grep -q "Invalid argument" "$ERR" || fail "tree create a/b: $(cat "$ERR")"
ctl 1 tree create "$M/db.bin" t1
ctl 0 --json tree create "$M" t1
jcheck "tree create --json" "
assert d['mount'] == M and d['tree_snapshot']['name'] == 't1', d
assert d['tree_snapshot']['path'] == M + '/.snapshots/t1', d"
ctl 1 tree create "$M" t1
grep -q "File exists" "$ERR" || fail "tree create of a taken name: $(cat "$ERR")"
s mkdir "$M/tdir"
echo new >"$M/tdir/new.txt"
printf 'CHANGED' | dd of="$F" bs=1 seek=8192 conv=notrunc status=none
# A name the daemon's @FROM suffix must not be read from.
ctl 0 tree create "$M" 'b@3'
ctl 0 diff "$M" t1
grep -qxF "$(printf '+\td\ttdir')" "$OUT" || fail "diff: no '+ d tdir' line: $(cat "$OUT")"
grep -qxF "$(printf '+\tf\ttdir/new.txt')" "$OUT" || fail "diff: no new.txt: $(cat "$OUT")"
grep -qxF "$(printf 'M\tf\tdb.bin\t8192+4096')" "$OUT" || fail "diff: no db.bin range: $(cat "$OUT")"
ctl 0 --json diff "$M" t1 'b@3'
jcheck "diff --json t1 b@3" "
assert d['from'] == 't1' and d['to'] == 'b@3', d
c = {(x['change'], x['path']) for x in d['changes']}
assert ('created', 'tdir') in c and ('created', 'tdir/new.txt') in c and ('modified', 'db.bin') in c, d
m = [x for x in d['changes'] if x['path'] == 'db.bin'][0]
assert m['changed'] == [{'offset': 8192, 'length': 4096}], m"
ctl 0 --json diff "$M" 'b@3'
jcheck "diff --json b@3 (nothing changed since)" "assert d['changes'] == [], d"
ctl 1 diff "$M" t1 nosuch
ctl 0 --json tree rename "$M" t1 t0
jcheck "tree rename --json" "
assert d['renamed'] == {'from': 't1', 'to': 't0'} and d['tree_snapshot']['name'] == 't0', d"
ctl 0 --json tree list "$M"
jcheck "tree list --json" "assert [e['name'] for e in d['tree_snapshots']] == ['t0', 'b@3'], d"
ctl 0 tree delete "$M" t0
ctl 0 tree delete "$M" 'b@3'
ctl 1 tree delete "$M" t0
ctl 0 --json tree list "$M"
jcheck "tree list --json when none is left" "assert d['tree_snapshots'] == [], d"

mf_umount "$M"
echo "PASS"
