#!/usr/bin/env bash
# A real single-node Slurm cluster (munged, slurmctld, slurmd on this host), a 4-task array
# (--array=1-4, 1-based) of deploy/slurm/modelvet-array.sh over a small corpus, and the merged
# shard results compared with one single-machine batch of the same files (path → verdict).
# Every daemon is started here and stopped here, by pid; nothing is left behind.
#   tests/slurm/run_slurm_array.sh MODELVET_BIN SOURCE_DIR [CORPUS_DIR]
# Exit: 0 pass, 1 fail, 77 skipped (not root, Slurm or munge not installed, no corpus).
set -uo pipefail
BIN=$(realpath "${1:?modelvet binary}")
SRC=$(realpath "${2:?source dir}")
CORPUS=${3:-}
[ -n "$CORPUS" ] && [ -f "$CORPUS/manifest.jsonl" ] || CORPUS="$(dirname "$BIN")/corpus"
[ -f "$CORPUS/manifest.jsonl" ] || CORPUS="$SRC/build/corpus"
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
for t in munged mungekey slurmctld slurmd sbatch squeue scontrol; do command -v "$t" >/dev/null || skip "$t not installed (scripts/setup.sh)"; done
[ -f "$CORPUS/manifest.jsonl" ] || skip "no corpus (build the corpus target)"
PY=/usr/bin/python3

DIR=$(mktemp -d /tmp/mv-slurm-XXXXXX)
chmod 0711 "$DIR"
# Given to the daemons and the job (not to this script's own subshells): every process of this
# cluster inherits it, which is how leftovers are found.
MARK="MV_SLURM_TEST_MARKER=$DIR"
PIDS=()
log() { echo "[slurm-test $(date +%T)] $*"; }

# Processes started by this cluster (daemons, slurmstepd, job steps): they carry the marker.
marked_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
    { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qxF "MV_SLURM_TEST_MARKER=$DIR" && echo "$p"
  done
}

cleanup() {
  local rc=$?
  set +e
  log "stopping the cluster"
  [ -n "${SLURM_CONF:-}" ] && timeout 10 scancel --quiet -u root >/dev/null 2>&1
  # Daemons in reverse order of start: slurmd, slurmctld, munged.
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.2
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # Anything else of this cluster (a slurmstepd, a job still running): by pid, by its marker.
  for p in $(marked_pids); do kill -KILL "$p" 2>/dev/null; done
  sleep 0.5
  local left
  left=$(marked_pids | tr '\n' ' ')
  if [ -n "$left" ]; then
    echo "FAIL: processes left behind: $left"
    rc=1
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$DIR"/log/*.log "$DIR"/out/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }; done
  fi
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$DIR"/{munge,log,state,spool,run,out,models}
chown munge:munge "$DIR/munge"
chmod 0700 "$DIR/munge"

# A small corpus: 3 malicious, 2 suspicious, 3 benign samples (defanged; detonated only in the jail).
$PY - "$CORPUS" "$DIR/models" > "$DIR/inputs.txt" <<'PYEOF' || exit 1
import json, shutil, sys, os
corpus, dest = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(corpus, "manifest.jsonl")) if l.strip()]
want = {"malicious": 3, "suspicious": 2, "benign": 3}
for r in rows:
    if want.get(r["label"], 0) > 0 and not os.path.isdir(os.path.join(corpus, r["file"])):
        want[r["label"]] -= 1
        out = os.path.join(dest, r["file"].replace("/", "_"))
        shutil.copyfile(os.path.join(corpus, r["file"]), out)
        print(out)
PYEOF
log "$(wc -l < "$DIR/inputs.txt") files from $CORPUS"

# munge: a fresh key, munged as the munge user on a private socket.
mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null 2>&1 || mungekey -c -k "$DIR/munge/munge.key" || exit 1
chown munge:munge "$DIR/munge/munge.key"
chmod 0400 "$DIR/munge/munge.key"
SOCK="$DIR/munge/munge.socket"
env "$MARK" setpriv --reuid=munge --regid=munge --clear-groups munged --foreground --force \
  --socket="$SOCK" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
  --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" >"$DIR/log/munged.out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "FAIL: munged did not start"; cat "$DIR/munge/munged.log" 2>/dev/null; exit 1; }

# Two free ports for slurmctld and slurmd.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return; }
  done
}
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
[ "$SLURMD_PORT" = "$CTLD_PORT" ] && SLURMD_PORT=$((CTLD_PORT + 1))
HOST=$(hostname -s)
# This host as slurmd sees it, with a RealMemory below the real one (a node reporting less memory
# than configured is drained).
NODE=$(slurmd -C | head -n 1 | sed -e 's/ UpTime=.*//' -e 's/RealMemory=[0-9]*/RealMemory=1024/')
export SLURM_CONF="$DIR/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=mvtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=30
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=mvtest Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
: > "$DIR/cgroup.conf"

env "$MARK" slurmctld -D -i -f "$SLURM_CONF" >"$DIR/log/slurmctld.out.log" 2>&1 &
PIDS+=($!)
env "$MARK" slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$DIR/log/slurmd.out.log" 2>&1 &
PIDS+=($!)
up=0
for _ in $(seq 60); do
  state=$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -n 1)
  case "$state" in idle*|mixed*|allocated*) up=1; break ;; esac
  sleep 0.5
done
[ $up -eq 1 ] || { echo "FAIL: the node did not come up (state '${state:-none}')"; exit 1; }
log "cluster up: node $HOST $state, slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT"
[ "${MV_SLURM_ONLY_UP:-0}" = 1 ] && exit 0  # debugging: bring the cluster up and down only

# The single-machine batch of the same list.
log "single-machine batch"
timeout 600 "$BIN" batch --quiet --jobs 2 --output "$DIR/single.jsonl" "$DIR/inputs.txt"
single_rc=$?
[ "$single_rc" -le 2 ] || { echo "FAIL: single batch exit $single_rc"; exit 1; }

# The array: 4 tasks, ids 1..4; sbatch --wait returns when every task has ended.
log "sbatch --array=1-4"
MODELVET_BIN="$BIN" MODELVET_INPUTS="$DIR/inputs.txt" MODELVET_OUT="$DIR/out" MODELVET_ARGS="--jobs 1" \
  env "$MARK" timeout 900 sbatch --wait --array=1-4 --chdir="$DIR/out" --output="$DIR/out/task-%a.log" \
  "$SRC/deploy/slurm/modelvet-array.sh"
sbatch_rc=$?
[ "$sbatch_rc" -eq 0 ] || { echo "FAIL: sbatch --wait exit $sbatch_rc"; exit 1; }

$PY - "$DIR" <<'PYEOF'
import json, sys, glob, os
d = sys.argv[1]
def rows(p):
    return [json.loads(l) for l in open(p) if l.strip()]
single = rows(os.path.join(d, "single.jsonl"))
shards = sorted(glob.glob(os.path.join(d, "out", "shard-*.jsonl")))
ok = True
names = [os.path.basename(s) for s in shards]
if names != [f"shard-{i}.jsonl" for i in range(1, 5)]:
    print("FAIL: shard files", names); ok = False
merged = []
for s in shards:
    merged += rows(s)
    summ = s[:-len(".jsonl")] + ".summary.json"
    if not os.path.exists(summ):
        print("FAIL: no summary", summ); ok = False
paths = [r["path"] for r in merged]
if len(paths) != len(set(paths)):
    print("FAIL: a file verified by two shards"); ok = False
want = {r["path"]: r["verdict"] for r in single}
got = {r["path"]: r["verdict"] for r in merged}
n = len(open(os.path.join(d, "inputs.txt")).read().split())
if len(want) != n:
    print(f"FAIL: single batch has {len(want)} results for {n} files"); ok = False
if want != got:
    ok = False
    for p in sorted(set(want) | set(got)):
        if want.get(p) != got.get(p):
            print(f"FAIL: {p}: single {want.get(p)} slurm {got.get(p)}")
per = {os.path.basename(s): len(rows(s)) for s in shards}
print("shards:", per, "verdicts:", {v: list(want.values()).count(v) for v in sorted(set(want.values()))})
sys.exit(0 if ok else 1)
PYEOF
cmp_rc=$?
[ $cmp_rc -eq 0 ] && log "PASS: merged shard results equal the single-machine batch" || exit 1
exit 0
