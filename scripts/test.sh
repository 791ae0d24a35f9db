#!/usr/bin/env bash
# Sets up, builds, and runs every test: unit tests of each module, the containment probes,
# and the end-to-end detonation of the regression corpus through the real jail and tracer;
# then the whole suite again in an ASan+UBSan build (scripts/sanitize.sh) and a short libFuzzer
# smoke of every fuzz target, with every past finding replayed (scripts/fuzz.sh --smoke).
#   scripts/test.sh [ctest args...]    the args go to both ctest runs (e.g. -R Containment)
#   SANITIZE=0  skip the sanitizer run      FUZZ=0  skip the fuzz smoke     (CI runs both)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the tests detonate samples in namespaces and load BPF programs: run as root (sudo)" >&2
  exit 2
fi
./scripts/setup.sh
./scripts/build.sh
start=$(date +%s)
# One test binary at a time (RUN_SERIAL): jails and BPF programs are real and share the machine.
(cd build && ctest --output-on-failure --timeout 1200 "$@")
echo "test.sh: suite took $(($(date +%s) - start)) s"
if [ "${SANITIZE:-1}" != 0 ]; then
  ./scripts/sanitize.sh "$@"
fi
if [ "${FUZZ:-1}" != 0 ]; then
  start=$(date +%s)
  FUZZ_SECONDS=${FUZZ_SECONDS:-8} ./scripts/fuzz.sh --smoke
  echo "test.sh: fuzz smoke took $(($(date +%s) - start)) s"
fi
