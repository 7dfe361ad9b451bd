#!/usr/bin/env bash
# Install the documentation site's Mermaid renderer (the npm registry's `mermaid` package) into
# the checkout: .tools/mermaid/node_modules/mermaid/dist/mermaid.min.js. tools/build_docs.py
# copies that one file into the site, so `make docs` needs no network and the built site loads
# nothing from outside itself.
exec "$(dirname "$0")/install_npm_file.sh" mermaid 12.4.0 mermaid dist/mermaid.min.js \
  "draws the documentation site's diagrams (make docs)"
