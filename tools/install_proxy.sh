#!/usr/bin/env bash
# Install configurable-http-proxy (JupyterHub's proxy, a Node.js program from the npm
# registry) into the checkout: .tools/chp/node_modules/.bin/configurable-http-proxy.
# Used by deploy/jupyterhub/jupyterhub_config.py and tests/test_jupyterhub.py.
# Idempotent and quiet: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=5.3.0  # configurable-http-proxy; needs Node.js 20 or newer
PREFIX=.tools/chp
BIN="$PREFIX/node_modules/.bin/configurable-http-proxy"
MANIFEST="$PREFIX/node_modules/configurable-http-proxy/package.json"

installed_version() {
  [ -x "$BIN" ] && [ -f "$MANIFEST" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$PWD/$MANIFEST" 2>/dev/null
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "error: npm (Node.js 20 or newer) is missing: it installs configurable-http-proxy, the" >&2
  echo "       proxy of the JupyterHub training setup (Debian: apt-get install nodejs npm)." >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old for configurable-http-proxy $VERSION (needs 20+)." >&2
  exit 1
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
  "configurable-http-proxy@$VERSION" >"$PREFIX/npm-install.log" 2>&1; then
  echo "error: npm could not install configurable-http-proxy@$VERSION; its output:" >&2
  tail -n 20 "$PREFIX/npm-install.log" >&2
  exit 1
fi
if [ "$(installed_version || true)" != "$VERSION" ]; then
  echo "error: configurable-http-proxy@$VERSION is not in $PREFIX after npm install." >&2
  exit 1
fi
