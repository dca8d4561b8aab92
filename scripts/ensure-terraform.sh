#!/usr/bin/env bash
# Prints the path of the Terraform CLI the tests and the demo use: Terraform 1.5.7, the last
# MPL-2.0 release, built from source with `go install` into a cache outside the checkout
# (${DBFLEET_CACHE:-$HOME/.cache/dbfleet}/terraform-1.5.7/terraform) when it is not there yet.
# Only the Go module proxy is used; nothing else is downloaded.
set -euo pipefail

version=1.5.7
cache="${DBFLEET_CACHE:-$HOME/.cache/dbfleet}"
dir="$cache/terraform-$version"
tf="$dir/terraform"

# Terraform would otherwise ask checkpoint-api.hashicorp.com for news.
export CHECKPOINT_DISABLE=1

# has_version reports whether $1 is an executable that says it is Terraform $version. Its output is
# captured, then matched: under pipefail, `terraform version -json | grep -q` fails at random, since
# grep exits at the first match and Terraform, still writing, dies of SIGPIPE.
has_version() {
  local out want="\"terraform_version\": *\"${version//./\\.}\""
  [[ -x "$1" ]] && out="$("$1" version -json 2>/dev/null)" && [[ "$out" =~ $want ]]
}

if has_version "$tf"; then
  echo "$tf"
  exit 0
fi

mkdir -p "$cache"
# One install at a time: a second caller waits for the first, then finds the binary.
exec 9>"$cache/terraform-$version.lock"
flock 9
if ! has_version "$tf"; then
  echo "ensure-terraform: building Terraform $version with go install (a few minutes, once)" >&2
  tmp="$(mktemp -d "$cache/terraform-$version.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && GOFLAGS='' GOBIN="$tmp" go install "github.com/hashicorp/terraform@v$version") >&2
  mkdir -p "$dir"
  mv -f "$tmp/terraform" "$tf"
fi
if ! has_version "$tf"; then
  echo "ensure-terraform: $tf does not report version $version" >&2
  exit 1
fi
echo "$tf"
