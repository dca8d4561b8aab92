# shellcheck shell=bash
# Sourced by ensure-terraform.sh and ensure-opentofu.sh: the cache, lock and version check they
# share. The sourcing script defines build_cli DIR, which leaves the new binary in DIR under the
# name it has in the cache, then runs
#
#   ensure_cached_cli NAME VERSION BIN
#
# which prints BIN, the binary's path in the cache, after building it first when it is missing or
# its `version -json` does not say "terraform_version": "VERSION" (OpenTofu says it too). NAME is
# the tool's name in messages. Only the Go module proxy is used; nothing else is downloaded.

# The CLIs would otherwise ask checkpoint-api.hashicorp.com for news.
export CHECKPOINT_DISABLE=1

# has_version reports whether $1 is an executable whose version -json says it is version $2. Its
# output is captured, then matched: under pipefail, `terraform version -json | grep -q` fails at
# random, since grep exits at the first match and the CLI, still writing, dies of SIGPIPE.
has_version() {
  local out want="\"terraform_version\": *\"${2//./\\.}\""
  [[ -x "$1" ]] && out="$("$1" version -json 2>/dev/null)" && [[ "$out" =~ $want ]]
}

ensure_cached_cli() {
  local name="$1" version="$2" bin="$3" cache="${DBFLEET_CACHE:-$HOME/.cache/dbfleet}" tmp
  if has_version "$bin" "$version"; then
    echo "$bin"
    return 0
  fi
  mkdir -p "$cache"
  # One build at a time: a second caller waits for the first, then finds the binary.
  exec 9>"$cache/$(basename "$(dirname "$bin")").lock"
  flock 9
  if ! has_version "$bin" "$version"; then
    echo "ensure-$name: building $name $version from source (a few minutes, once)" >&2
    tmp="$(mktemp -d "$cache/$(basename "$(dirname "$bin")").tmp.XXXXXX")"
    # shellcheck disable=SC2064 # $tmp is meant to expand now.
    trap "rm -rf '$tmp'" EXIT
    build_cli "$tmp" >&2
    mkdir -p "$(dirname "$bin")"
    mv -f "$tmp/$(basename "$bin")" "$bin"
  fi
  if ! has_version "$bin" "$version"; then
    echo "ensure-$name: $bin does not report version $version" >&2
    return 1
  fi
  echo "$bin"
}
