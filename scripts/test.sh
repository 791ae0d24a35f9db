#!/usr/bin/env bash
# Sets up, builds, and runs every test: unit tests of each module, the containment probes,
# and the end-to-end detonation of the regression corpus through the real jail and tracer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the tests detonate samples in namespaces and load BPF programs: run as root (sudo)" >&2
  exit 2
fi
./scripts/setup.sh
./scripts/build.sh
cd build
# One test binary at a time (RUN_SERIAL): jails and BPF programs are real and share the machine.
ctest --output-on-failure --timeout 1200 "$@"
