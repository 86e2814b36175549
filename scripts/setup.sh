#!/bin/sh
# Installs every Debian package libinference's build, tests and tools need,
# on a bare Debian 12 machine. Safe to run more than once.
set -eu
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

PKGS="build-essential cmake pkg-config git ca-certificates curl
  clang libclang-rt-14-dev
  libjansson-dev libpcre2-dev libutf8proc-dev
  libcurl4-openssl-dev libmicrohttpd-dev libedit-dev
  python3 python3-numpy python3-jinja2
  python3-pip python3-setuptools python3-wheel python3-pytest
  tmux wrk chromium chromium-driver"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if ! command -v npm >/dev/null 2>&1; then missing="$missing nodejs npm"; fi
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
echo "setup: all packages present"
