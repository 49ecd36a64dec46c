#!/usr/bin/env bash
# The first command for a newcomer: installs the Debian packages bhive needs,
# builds it in build/release and runs `bhive demo` - the original's arithmetic
# benchmark (easy, medium, hard x 0, 1, 2, 3, 5 rounds of reflection) on
# SIMULATED models served by a local bhive-emulator. No AWS account, no cost.
# Arguments go to `bhive demo` (e.g. --samples 20, --plots DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
echo "== building bhive and bhive-emulator in build/release" >&2
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j"$jobs" --target bhive bhive-emulator >/dev/null
exec build/release/bhive demo "$@"
