#!/usr/bin/env bash
# Install the documentation site's Mermaid renderer (the npm registry's `mermaid` package) into
# the checkout: .tools/mermaid/node_modules/mermaid/dist/mermaid.min.js. tools/build_docs.py
# copies that one file into the site, so `make docs` needs no network and the built site loads
# nothing from outside itself. Idempotent and quiet: does nothing when the pinned version is there.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=12.4.0  # mermaid
PREFIX=.tools/mermaid
SCRIPT="$PREFIX/node_modules/mermaid/dist/mermaid.min.js"
MANIFEST="$PREFIX/node_modules/mermaid/package.json"

installed_version() {
  [ -f "$SCRIPT" ] && [ -f "$MANIFEST" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$PWD/$MANIFEST" 2>/dev/null
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "error: npm (Node.js) is missing: it installs mermaid, which draws the documentation" >&2
  echo "       site's diagrams (make docs). Debian: apt-get install nodejs npm" >&2
  exit 1
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "mermaid@$VERSION" >"$PREFIX/npm-install.log" 2>&1; then
  echo "error: npm could not install mermaid@$VERSION; its output:" >&2
  tail -n 20 "$PREFIX/npm-install.log" >&2
  exit 1
fi
if [ "$(installed_version || true)" != "$VERSION" ]; then
  echo "error: mermaid@$VERSION (dist/mermaid.min.js) is not in $PREFIX after npm install." >&2
  exit 1
fi
