#!/usr/bin/env bash
# Everything the tests need on a fresh machine: the virtual environment with the package and its
# test extras, Java for the OWL reasoner (HermiT), Chromium for the browser tests, and the
# independent RDF parsers of the round-trip tests (test_exports.py): Raptor's rapper (Debian)
# and jsonld.js / N3.js (npm, pinned by tests/tools/package-lock.json, into tests/tools).
# Run again, it installs the package only when pyproject.toml or setup.py changed since.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v rapper >/dev/null 2>&1 || missing+=(raptor2-utils)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
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
tools=tests/tools
wanted=$(sha256sum "$tools/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$tools/node_modules/.lec-kg-installed" 2>/dev/null)" != "$wanted" ]; then
  npm ci --prefix "$tools" --no-audit --no-fund --silent
  echo "$wanted" > "$tools/node_modules/.lec-kg-installed"
fi
