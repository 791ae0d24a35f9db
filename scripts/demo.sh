#!/usr/bin/env bash
# Sets up, builds, and verifies the bundled demo corpus (a few malicious and a few
# benign-but-flagged model files, generated at build time), printing the verdict table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: detonation needs root for namespaces and BPF: run with sudo" >&2
  exit 2
fi
./scripts/setup.sh >/dev/null
./scripts/build.sh >/dev/null
echo
echo "modelvet $(build/modelvet --version | awk '{print $2}') — verifying the demo corpus in build/demo-corpus"
echo
# Exit code 1 is expected: the demo corpus holds malicious files.
set +e
build/modelvet scan --format text --trace-dir build/demo-traces build/demo-corpus/malicious build/demo-corpus/benign
rc=$?
set -e
echo
echo "exit code $rc (0 all benign, 1 malicious/suspicious found, 2 errors); traces kept in build/demo-traces"
echo "replay one with: build/modelvet replay --show build/demo-traces/<sha256>.trace.jsonl"
[ "$rc" -le 1 ]
