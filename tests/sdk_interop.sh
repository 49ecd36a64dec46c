#!/usr/bin/env bash
# sdk_interop.sh - the official AWS SDK for JavaScript v3 against
# bhive-emulator (tests/sdk/interop.mjs). Installs the pinned SDK with
# `npm ci` when tests/sdk/node_modules is missing or older than the lock
# file; exits 77 (skipped) when node is older than 20 or the packages
# cannot be installed, and says why.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sdk="$here/sdk"
: "${BHIVE_EMULATOR:?BHIVE_EMULATOR must name the bhive-emulator binary}"

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node is not installed (the AWS SDK for JavaScript v3 needs node >= 20)"
	exit 77
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
	echo "SKIP: node $(node --version) is older than 20, which the AWS SDK for JavaScript v3 needs"
	exit 77
fi

cd "$sdk" || exit 1
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
	if ! command -v npm >/dev/null 2>&1 ||
	   ! timeout 300 npm ci --no-audit --no-fund --loglevel=error; then
		rm -rf node_modules
		echo "SKIP: npm ci failed in tests/sdk and node_modules is missing (no registry access?)"
		exit 77
	fi
	touch node_modules
fi

NODE_NO_WARNINGS=1 timeout 120 node interop.mjs
