#!/usr/bin/env bash
# Install one npm package at a pinned version into .tools/<folder>/ and check that the one file
# the project uses is there (tools/install_docs_assets.sh, tools/install_axe.sh call it).
# Idempotent and quiet: does nothing when the pinned version is there.
#   tools/install_npm_file.sh PACKAGE VERSION FOLDER FILE WHY
# FILE is relative to node_modules/PACKAGE/; WHY ends "npm (Node.js) is missing: it installs
# PACKAGE, which ..." in the error message.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=$1 VERSION=$2 PREFIX=.tools/$3 FILE=$4 WHY=$5
SCRIPT="$PREFIX/node_modules/$PACKAGE/$FILE"
MANIFEST="$PREFIX/node_modules/$PACKAGE/package.json"

installed_version() {
  [ -f "$SCRIPT" ] && [ -f "$MANIFEST" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$PWD/$MANIFEST" 2>/dev/null
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "error: npm (Node.js) is missing: it installs $PACKAGE, which $WHY." >&2
  echo "       Debian: apt-get install nodejs npm" >&2
  exit 1
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "$PACKAGE@$VERSION" >"$PREFIX/npm-install.log" 2>&1; then
  echo "error: npm could not install $PACKAGE@$VERSION; its output:" >&2
  tail -n 20 "$PREFIX/npm-install.log" >&2
  exit 1
fi
if [ "$(installed_version || true)" != "$VERSION" ]; then
  echo "error: $PACKAGE@$VERSION ($FILE) is not in $PREFIX after npm install." >&2
  exit 1
fi
