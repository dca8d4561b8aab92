#!/usr/bin/env bash
# Prints the path of the OpenTofu CLI the acceptance suites also run under: OpenTofu 1.12.6
# (MPL-2.0), built from its source on the Go module proxy into a cache outside the checkout
# (${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/opentofu-1.12.6/tofu) when it is not there yet. Only the
# Go module proxy is used; nothing else is downloaded. See cached-cli.sh.
set -euo pipefail

version=1.12.6
bin="${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/opentofu-$version/tofu"

# build_cli builds tofu into $1. `go install module@version` refuses OpenTofu's go.mod, which has
# replace directives, so the module is downloaded (into the read-only module cache) and built
# there, writing only to $1. The ldflags are those of OpenTofu's release builds.
build_cli() {
  local info src
  info="$(cd "$1" && GOFLAGS='' go mod download -json "github.com/opentofu/opentofu@v$version")"
  src="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")"
  if [[ ! -d "$src/cmd/tofu" ]]; then
    echo "ensure-opentofu: go mod download gave no source directory with cmd/tofu:" >&2
    echo "$info" >&2
    return 1
  fi
  (cd "$src" && GOFLAGS='' go build -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$1/tofu" ./cmd/tofu)
}

# shellcheck source=scripts/cached-cli.sh
source "$(dirname "$0")/cached-cli.sh"
ensure_cached_cli opentofu "$version" "$bin"
