#!/usr/bin/env bash
# Install axe-core (the npm registry's `axe-core` package, Deque's accessibility engine) into
# the checkout: .tools/axe/node_modules/axe-core/axe.min.js. The page accessibility tests
# (tests/test_pages_accessibility.py) inject that one file into the bridge's pages, so they need
# no network.
exec "$(dirname "$0")/install_npm_file.sh" axe-core 4.14.1 axe axe.min.js \
  "the accessibility tests of the bridge's pages run"
