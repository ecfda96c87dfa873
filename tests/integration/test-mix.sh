#!/bin/bash
# The seams between features, as a hostile user crosses them.
#
#   * descriptors: a file with snapshots keeps its snapshot stores open
#     while its backing is; closed files' backings kept idle must not hold
#     them, or a few hundred snapshotted files take the daemon past a
#     descriptor limit of 1024 (EMFILE on lookups and opens);
#   * .shm objects roll back as files do: mv .shm/X@@/snap/S .shm/X.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

B=$(mf_dir backing)
M=$(mf_dir mnt)
# The common default: the daemon can raise its limit no further than 1024.
ulimit -Sn 1024
ulimit -Hn 1024
mf_mount "$B" "$M"
P=$MF_PID

# ------------------------------------------------------------------
check "400 files with a snapshot each, read once more: no EMFILE"
sx 'cd "$1" && for i in $(seq 1 400); do printf "file$i" >f$i && touch f$i@@/snap/s && printf "new$i" >f$i; done' "$M"
sx 'cd "$1" && for i in $(seq 1 400); do cat f$i f$i@@/snap/s >/dev/null; done' "$M"
expect_eq "$(s cat "$M/f1@@/snap/s")$(s cat "$M/f400")" file1new400 "f1@@/snap/s and f400"
fds=$(ls /proc/"$P"/fd | wc -l)
budget=$(mf_stat_key "$M" fd_budget)
[ "$fds" -le $((budget + 16)) ] ||
	fail "the daemon holds $fds descriptors with no file open, budget $budget"

mf_umount "$M"
echo "PASS"
