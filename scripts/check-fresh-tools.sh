#!/usr/bin/env bash
# Runs the ensure scripts as on a new machine, ROUNDS times (default 5), and fails unless every run
# succeeds and prints its tool's path. Each round starts from a new, empty DBFLEET_CACHE, so
# ensure-terraform.sh takes its whole first-run path: `go install` into the cache, then the version
# check of the new binary (the step that once failed at random under pipefail). Two of them start
# at once on the empty cache (one builds, the other waits on its lock), then CHECKS more runs
# (default 10) take the path of a filled cache.
#
# The Go build and module caches are kept, so the build is a link step of a few seconds rather than
# minutes of compiling; `make test` runs this after `make tools`, which filled them. PostgreSQL,
# Chromium and ShellCheck do not use DBFLEET_CACHE: their scripts run once a round, as make test
# runs them.
#
#   check-fresh-tools.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-5}"
checks="${CHECKS:-10}"
tf_version=1.5.7

# A CLI configuration file that is named but missing only makes Terraform warn.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/dbfleet-fresh-tools.XXXXXX")"
trap 'rm -rf "$work"' EXIT

fail() {
  echo "check-fresh-tools: $stage: $*" >&2
  exit 1
}

# expect_path runs an ensure script (its stderr into $work/stderr) and fails unless it succeeds and
# prints one line, the path that test $1 accepts; the path is left in $path.
expect_path() {
  local test="$1"
  shift
  if ! path="$("$@" 2>"$work/stderr")"; then
    cat "$work/stderr" >&2
    fail "$* failed"
  fi
  if [[ -z "$path" || "$path" == *$'\n'* ]] || ! test "$test" "$path"; then
    cat "$work/stderr" >&2
    fail "$* printed \"$path\", not the path of its tool"
  fi
}

# First, the version check itself, on a binary that writes its version line, pauses, then writes
# more, as a busy Terraform may: a check that stops reading at the first match (`| grep -q` under
# pipefail) takes the binary for a wrong one and rebuilds it.
stage="version check"
stub="$work/stub/terraform-$tf_version/terraform"
mkdir -p "$(dirname "$stub")"
cat >"$stub" <<EOF
#!/bin/sh
echo '{'
echo '  "terraform_version": "$tf_version",'
sleep 0.2
echo '  "platform": "linux_amd64"'
echo '}'
EOF
chmod +x "$stub"
expect_path -x env DBFLEET_CACHE="$work/stub" scripts/ensure-terraform.sh
if [[ "$path" != "$stub" ]] || grep -q building "$work/stderr"; then
  cat "$work/stderr" >&2
  fail "ensure-terraform.sh did not take $stub, which reports $tf_version, for Terraform $tf_version"
fi

for ((round = 1; round <= rounds; round++)); do
  stage="round $round of $rounds"
  cache="$work/cache-$round"
  mkdir "$cache"
  want="$cache/terraform-$tf_version/terraform"
  begin=$SECONDS

  pids=()
  for i in 1 2; do
    DBFLEET_CACHE="$cache" scripts/ensure-terraform.sh >"$work/out-$i" 2>"$work/err-$i" &
    pids+=("$!")
  done
  for i in 1 2; do
    if ! wait "${pids[$((i - 1))]}"; then
      cat "$work/err-$i" >&2
      fail "ensure-terraform.sh from an empty cache failed"
    fi
    if [[ "$(cat "$work/out-$i")" != "$want" ]]; then
      fail "ensure-terraform.sh printed \"$(cat "$work/out-$i")\", not $want"
    fi
  done
  built=$((SECONDS - begin))
  # Captured, then matched (see has_version in ensure-terraform.sh).
  out="$("$want" version -json 2>&1)"
  [[ "$out" =~ \"terraform_version\":\ *\"${tf_version//./\\.}\" ]] || fail "$want reports $out"
  for ((i = 1; i <= checks; i++)); do
    expect_path -x env DBFLEET_CACHE="$cache" scripts/ensure-terraform.sh
    [[ "$path" == "$want" ]] || fail "ensure-terraform.sh printed $path, not $want"
  done

  expect_path -d scripts/ensure-postgres.sh
  [[ -x "$path/postgres" && -x "$path/initdb" ]] || fail "ensure-postgres.sh printed $path, which has no postgres and initdb"
  expect_path -x scripts/ensure-chromium.sh
  expect_path -x scripts/ensure-shellcheck.sh

  rm -rf "$cache"
  echo "check-fresh-tools: $stage: ok (Terraform $tf_version into an empty cache in ${built}s)" >&2
done
