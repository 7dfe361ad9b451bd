#!/usr/bin/env bash
# Install axe-core (the npm registry's `axe-core` package, Deque's accessibility engine) into
# the checkout: .tools/axe/node_modules/axe-core/axe.min.js. The page accessibility tests
# (tests/test_pages_accessibility.py) inject that one file into the bridge's pages, so they need
# no network. Idempotent and quiet: does nothing when the pinned version is there.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.14.1  # axe-core
PREFIX=.tools/axe
SCRIPT="$PREFIX/node_modules/axe-core/axe.min.js"
MANIFEST="$PREFIX/node_modules/axe-core/package.json"

installed_version() {
  [ -f "$SCRIPT" ] && [ -f "$MANIFEST" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$PWD/$MANIFEST" 2>/dev/null
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "error: npm (Node.js) is missing: it installs axe-core, which the accessibility tests" >&2
  echo "       of the bridge's pages run. Debian: apt-get install nodejs npm" >&2
  exit 1
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "axe-core@$VERSION" >"$PREFIX/npm-install.log" 2>&1; then
  echo "error: npm could not install axe-core@$VERSION; its output:" >&2
  tail -n 20 "$PREFIX/npm-install.log" >&2
  exit 1
fi
if [ "$(installed_version || true)" != "$VERSION" ]; then
  echo "error: axe-core@$VERSION (axe.min.js) is not in $PREFIX after npm install." >&2
  exit 1
fi
