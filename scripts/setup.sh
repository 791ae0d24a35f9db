#!/usr/bin/env bash
# Installs every build and runtime dependency from Debian 12 packages. Idempotent:
# packages already present are not reinstalled, and apt-get update runs only when needed.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  clang llvm libelf-dev zlib1g-dev bpftool libbpf-dev
  libseccomp-dev libpython3.11-dev python3.11
  nlohmann-json3-dev libfmt-dev libgtest-dev libgmock-dev libcli11-dev libsqlite3-dev libssl-dev
  libarchive-dev ccache
  # runtime tools used by the sandbox and tests
  iproute2 util-linux procps strace
  # the jail's CA store (sandbox/etc_files.cpp): the Mozilla certificates and certifi's bundle
  ca-certificates python3-certifi
  # victim libraries, loaded inside the jail
  python3-torch python3-numpy python3-joblib python3-dill python3-h5py
  python3-sklearn python3-py7zr python3-protobuf
  python3-pandas python3-xgboost python3-torchvision python3-scipy
  python3-onnx python3-jinja2
  # the single-node Slurm cluster of tests/slurm/run_slurm_array.sh
  slurm-wlm slurmctld slurmd slurm-client munge
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo ./scripts/setup.sh)" >&2
  exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all ${#PACKAGES[@]} packages present"
fi

# Syscall tracepoints need tracefs; some hosts leave it unmounted.
if [ -d /sys/kernel/tracing ] && [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
  mount -t tracefs tracefs /sys/kernel/tracing || echo "setup.sh: could not mount tracefs" >&2
fi
