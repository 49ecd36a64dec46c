#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors,
# runs the suite, then builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the whole suite once more.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
# The official AWS SDK for JavaScript judges the emulator (tests/sdk).
if [ -f tests/sdk/package-lock.json ] && command -v npm >/dev/null 2>&1; then
  (cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== release build (-Werror)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBHIVE_WERROR=ON >/dev/null
cmake --build build/release -j"$jobs"
(cd build/release && ctest --output-on-failure -j"$jobs")

echo "== sanitizer build (address, undefined)"
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DBHIVE_SANITIZE=ON -DBHIVE_WERROR=ON >/dev/null
cmake --build build/sanitize -j"$jobs"
(cd build/sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")
