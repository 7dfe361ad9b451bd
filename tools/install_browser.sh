#!/usr/bin/env bash
# Debian's Chromium for the browser tests (`make test` and .ci/run). Playwright cannot
# download its own browser here (no internet but the package mirrors), so the system package
# is the one browser the tests drive: /usr/bin/chromium.
#
# Installed with apt-get when this is root. Otherwise, or when apt-get fails: one line saying
# how, and exit 1, unless SKIP_BROWSER=1 (then the tests run without the browser tests, and
# pytest's summary says so).
set -euo pipefail
CHROMIUM="${KORE_PLAID_CHROMIUM:-/usr/bin/chromium}"  # the tests' browser (browser_support.py)

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests (apt-get, a minute) ..."
  if { apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } &&
     [ -x "$CHROMIUM" ]; then
    exit 0
  fi
fi
if [ "${SKIP_BROWSER:-}" = 1 ]; then
  echo "warning: $CHROMIUM is missing: the browser tests will NOT run (SKIP_BROWSER=1)" >&2
  exit 0
fi
echo "error: $CHROMIUM is missing, and the browser tests need it: run \`sudo apt-get install chromium\` (Debian's package), then \`make test\` again; or \`SKIP_BROWSER=1 make test\` to run the rest without them." >&2
exit 1
