#!/usr/bin/env bash
# Debian packages the tests start on loopback: Prometheus (e2e scraping) and the CNCF
# distribution registry (the model runtime's adapter push/pull). Installs whichever is missing
# with apt-get (as root, through sudo otherwise); does nothing when both are on PATH.
# Shared by `make test` and `.ci/run`.
set -euo pipefail

apt_packages=()
command -v prometheus >/dev/null || apt_packages+=(prometheus)
command -v docker-registry >/dev/null || apt_packages+=(docker-registry)
[ "${#apt_packages[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "missing ${apt_packages[*]} and no apt-get here: install them before running the tests" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${apt_packages[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${apt_packages[@]}" >/dev/null
