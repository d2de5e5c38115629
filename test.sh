#!/bin/bash
# The whole test suite: unit, integration and end-to-end tests as root on the real kernel.
# Installs what the tests need first (Debian 12).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
  echo "test.sh: the tests need root (namespaces, cgroups, mounts): run it with sudo" >&2
  exit 1
fi
scripts/deps.sh test
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
