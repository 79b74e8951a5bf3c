#!/usr/bin/env bash
# Everything the tests need on a fresh machine: the virtual environment with the package and its
# test extras, Java for the OWL reasoner (HermiT) and Chromium for the browser tests.
# Run again, it installs the package only when pyproject.toml or setup.py changed since.
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
stamp=.venv/.lec-kg-installed
wanted=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] || ! .venv/bin/python -c 'import lec_kg' 2>/dev/null; then
  .venv/bin/pip install -q -e '.[test]'
  echo "$wanted" > "$stamp"
fi
