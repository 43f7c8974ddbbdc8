#!/usr/bin/env bash
# Installs the API docs page's renderer (Swagger UI) from the npm registry into
# .tools/docs: the pinned version, checked against the pinned integrity, and only
# the two files the page serves. Needs npm (Node.js), which the machine has.
set -euo pipefail
PACKAGE=swagger-ui-dist
VERSION=5.35.0
INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
DEST=${1:-.tools/docs}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(cd "$work" && npm pack --silent "$PACKAGE@$VERSION")
actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "$PACKAGE@$VERSION: integrity $actual, expected $INTEGRITY" >&2
  exit 1
fi
mkdir -p "$DEST"
tar -xzf "$work/$tarball" -C "$work" package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE
cp "$work/package/swagger-ui-bundle.js" "$work/package/swagger-ui.css" "$work/package/LICENSE" "$DEST/"
echo "$PACKAGE@$VERSION" > "$DEST/VERSION"
