#!/usr/bin/env bash
# Installs Redocly CLI (npm package @redocly/cli, pinned below) into the cache and prints the path
# of its `redocly` binary. `make lint` runs `redocly lint` with it on backend/api/openapi.json
# (under redocly.yaml), and `make docs` its `build-docs` (scripts/docs.sh api). `make tools` runs
# this script; check-fresh-tools.sh runs it on a stub and from an empty cache. npm takes the package
# from the npm registry, as configured for npm; nothing else is downloaded.
#
# Where: ${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/redocly-<version>/, a private npm prefix, so
# nothing is installed globally and another version never shadows this one. The install is
# skipped when the binary there reports the pinned version; concurrent runs take turns (flock).
# The cache is kept readable by others (umask 022), like the other cached tools.
set -euo pipefail
umask 022

VERSION=2.77.0
PACKAGE=@redocly/cli

cache="${DBFLEET_CACHE:-$HOME/.cache/dbfleet}"
dir="$cache/redocly-$VERSION"
bin="$dir/node_modules/.bin/redocly"

# Redocly would otherwise send usage telemetry and look for a newer release.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

has_version() {
  local out
  [[ -x "$bin" ]] && out="$("$bin" --version 2>/dev/null)" && [[ "$out" == "$VERSION" ]]
}

if has_version; then
  echo "$bin"
  exit 0
fi
for need in node npm; do
  command -v "$need" >/dev/null || { echo "ensure-redocly: $need is needed (Node.js 20.19 or later, with npm)" >&2; exit 1; }
done
mkdir -p "$cache"
exec 9>"$cache/redocly.lock"
flock 9
if ! has_version; then
  echo "ensure-redocly: installing $PACKAGE $VERSION (once)" >&2
  tmp="$(mktemp -d "$cache/redocly.tmp.XXXXXX")"
  # shellcheck disable=SC2064 # $tmp is meant to expand now.
  trap "rm -rf '$tmp'" EXIT
  npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error --save-exact "$PACKAGE@$VERSION" >&2
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi
if ! has_version; then
  echo "ensure-redocly: $bin does not report version $VERSION" >&2
  exit 1
fi
echo "$bin"
