#!/usr/bin/env bash
# Installs the Debian packages bhive needs to build, test and plot.
# Idempotent: skips apt-get when every package is already present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang
      libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev
      libsqlite3-dev libcmocka-dev gnuplot-nox sqlite3 jq curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
