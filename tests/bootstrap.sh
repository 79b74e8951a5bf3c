#!/usr/bin/env bash
# Everything the tests need on a fresh machine: the virtual environment with the package and its
# test extras, Java for the OWL reasoner (HermiT) and Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/bootstrap.sh: please install ${missing[*]} (Debian packages), then run me again" >&2
    exit 1
  fi
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
