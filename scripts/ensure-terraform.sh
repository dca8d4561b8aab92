#!/usr/bin/env bash
# Prints the path of the Terraform CLI the tests and the demo use: Terraform 1.5.7, the last
# MPL-2.0 release, built from source with `go install` into a cache outside the checkout
# (${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/terraform-1.5.7/terraform) when it is not there yet.
# Only the Go module proxy is used; nothing else is downloaded. See cached-cli.sh.
set -euo pipefail

version=1.5.7
bin="${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/terraform-$version/terraform"

# build_cli installs Terraform into $1.
build_cli() {
  (cd "$1" && GOFLAGS='' GOBIN="$1" go install "github.com/hashicorp/terraform@v$version")
}

# shellcheck source=scripts/cached-cli.sh
source "$(dirname "$0")/cached-cli.sh"
ensure_cached_cli terraform "$version" "$bin"
