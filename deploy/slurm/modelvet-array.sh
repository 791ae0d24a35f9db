#!/usr/bin/env bash
# One Slurm array task of a sharded modelvet batch: task i of --array=A-B verifies slice
# (i - A + 1) of (B - A + 1) of the shared input list and writes its own result file.
#
#   sbatch --array=1-4 deploy/slurm/modelvet-array.sh             # 4 slices, 1-based ids
#   MODELVET_INPUTS=/shared/list.txt MODELVET_OUT=/shared/results sbatch --array=0-15 deploy/slurm/modelvet-array.sh
#
# Environment (sbatch exports the submitter's environment by default):
#   MODELVET_BIN     the binary                        (default: modelvet on PATH)
#   MODELVET_INPUTS  inputs: a list, a directory, an HF cache, a scanner report; several separated by spaces
#                                                      (default: /shared/modelvet/inputs.txt)
#   MODELVET_OUT     directory for shard-<id>.jsonl, shard-<id>.summary.json (default: /shared/modelvet/results)
#   MODELVET_DB      a verdict cache (SQLite) on a local disk; each task uses its own copy name (optional)
#   MODELVET_ARGS    extra batch options, e.g. "--timeout 60 --policy /shared/policy.json" (optional)
# Merge: cat "$MODELVET_OUT"/shard-*.jsonl > all.jsonl (every file appears in exactly one shard).
#
# modelvet needs root (cgroups, eBPF); as another user it runs rootless jails under ptrace.
#SBATCH --job-name=modelvet
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
#SBATCH --output=modelvet-%A_%a.log
#SBATCH --signal=B:TERM@120
set -euo pipefail

: "${SLURM_ARRAY_TASK_ID:?run this script with sbatch --array=…}"
bin=${MODELVET_BIN:-modelvet}
inputs=${MODELVET_INPUTS:-/shared/modelvet/inputs.txt}
out=${MODELVET_OUT:-/shared/modelvet/results}
mkdir -p "$out"
args=(batch --quiet --shard --resume
      --output "$out/shard-$SLURM_ARRAY_TASK_ID.jsonl"
      --summary "$out/shard-$SLURM_ARRAY_TASK_ID.summary.json")
# Two detonations per allocated CPU (half of each one is waiting: grace period, shutdown),
# unless MODELVET_ARGS sets --jobs itself.
case " ${MODELVET_ARGS:-} " in
  *" --jobs "* | *" -j "* | *" --jobs="*) ;;
  *) if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then args+=(--jobs "$((2 * SLURM_CPUS_PER_TASK))"); fi ;;
esac
if [ -n "${MODELVET_DB:-}" ]; then args+=(--db "${MODELVET_DB%.db}-$SLURM_ARRAY_TASK_ID.db"); fi
# shellcheck disable=SC2206  # MODELVET_ARGS and MODELVET_INPUTS are word lists on purpose
args+=(${MODELVET_ARGS:-} ${inputs})

# --shard reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT. Run in the
# background and forward SIGTERM (sent by --signal / scancel / the time limit), so modelvet stops
# cleanly: finished results stay, and requeueing the task resumes it (--resume).
"$bin" "${args[@]}" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
set +e
wait "$pid"; rc=$?
[ "$rc" -gt 128 ] && { wait "$pid"; rc=$?; }
set -e
# 1 means "found something malicious or suspicious": a result, not a failed task.
[ "$rc" -eq 1 ] && rc=0
exit "$rc"
