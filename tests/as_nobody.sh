#!/usr/bin/env bash
# Runs a test binary as the unprivileged user nobody, where every jail is rootless. The binary
# is copied to a fresh world-readable directory first: a checkout under /root is not reachable
# by nobody.
#   tests/as_nobody.sh BINARY [ARGS...]
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "as_nobody.sh: run as root" >&2; exit 2; }
binary=$(basename "$1")
stage=$(mktemp -d /tmp/modelvet-nobody-XXXXXX)
trap 'rm -rf "$stage"' EXIT
cp "$1" "$stage/$binary"
chmod 755 "$stage" "$stage/$binary"
shift
cd "$stage"
setpriv --reuid=65534 --regid=65534 --clear-groups env MODELVET_EXPECT_ROOTLESS=1 "./$binary" "$@"
