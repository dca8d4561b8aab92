#!/usr/bin/env bash
# Runs the ensure scripts as on a new machine, ROUNDS times (default 5), and fails unless every run
# succeeds and prints its tool's path. Each round starts from a new, empty DBFLEET_CACHE, so
# ensure-terraform.sh takes its whole first-run path: `go install` into the cache, then the version
# check of the new binary (the step that once failed at random under pipefail). Two of them start
# at once on the empty cache (one builds, the other waits on its lock), then CHECKS more runs
# (default 10) take the path of a filled cache.
#
# ensure-opentofu.sh takes that path in the first round only (its own part, the build from the
# module's source directory, cannot fail at random): the cache, lock and version check that later
# rounds would exercise again are those of cached-cli.sh, which ensure-terraform.sh shares and runs
# every round. Both stubs' version checks run first.
#
# ensure-redocly.sh (Redocly CLI, an npm package installed into the cache) takes the same two paths:
# a stub's version check first, then, in the first round, two installs at once on the empty cache
# and CHECKS runs on the filled one. Later rounds skip it, as they skip OpenTofu: its install is one
# `npm install` whose package npm's own cache keeps, and its lock and version check are the ones the
# first round ran.
#
# The Go build and module caches are kept, so each build is a link step of seconds rather than
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
tofu_version=1.12.6
redocly_version=2.77.0

# A CLI configuration file that is named but missing only makes the CLIs warn.
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

# stub_check SCRIPT BIN VERSION checks the version check itself, on a stub at $work/stub/BIN (where
# SCRIPT looks for its CLI in the cache $work/stub) that writes its version line, pauses, then
# writes more, as a busy CLI may: a check that stops reading at the first match (`| grep -q` under
# pipefail) takes the binary for a wrong one and rebuilds it.
stub_check() {
  local script="$1" stub="$work/stub/$2" version="$3"
  mkdir -p "$(dirname "$stub")"
  cat >"$stub" <<EOF
#!/bin/sh
echo '{'
echo '  "terraform_version": "$version",'
sleep 0.2
echo '  "platform": "linux_amd64"'
echo '}'
EOF
  chmod +x "$stub"
  expect_path -x env DBFLEET_CACHE="$work/stub" "$script"
  if [[ "$path" != "$stub" ]] || grep -q building "$work/stderr"; then
    cat "$work/stderr" >&2
    fail "$script did not take $stub, which reports $version, for version $version"
  fi
}

# fresh_install SCRIPT BIN REPORTS VERSION runs SCRIPT twice at once on the empty cache $cache, then
# CHECKS times on the filled one: every run must print $cache/BIN, for which the function REPORTS
# must find VERSION.
fresh_install() {
  local script="$1" want="$cache/$2" reports="$3" version="$4" i pids=()
  for i in 1 2; do
    DBFLEET_CACHE="$cache" "$script" >"$work/out-$i" 2>"$work/err-$i" &
    pids+=("$!")
  done
  for i in 1 2; do
    if ! wait "${pids[$((i - 1))]}"; then
      cat "$work/err-$i" >&2
      fail "$script from an empty cache failed"
    fi
    if [[ "$(cat "$work/out-$i")" != "$want" ]]; then
      fail "$script printed \"$(cat "$work/out-$i")\", not $want"
    fi
  done
  "$reports" "$want" "$version"
  for ((i = 1; i <= checks; i++)); do
    expect_path -x env DBFLEET_CACHE="$cache" "$script"
    [[ "$path" == "$want" ]] || fail "$script printed $path, not $want"
  done
}

# cli_reports BIN VERSION: Terraform's or OpenTofu's BIN reports VERSION. Captured, then matched
# (see has_version in cached-cli.sh).
cli_reports() {
  local out
  out="$("$1" version -json 2>&1)"
  [[ "$out" =~ \"terraform_version\":\ *\"${2//./\\.}\" ]] || fail "$1 reports $out"
}

# redocly_reports BIN VERSION: Redocly CLI's BIN reports VERSION.
redocly_reports() {
  local out
  out="$("$1" --version 2>/dev/null)"
  [[ "$out" == "$2" ]] || fail "$1 reports $out"
}

# redocly_stub_check checks ensure-redocly.sh's version check on a stub that pauses before it
# prints the version, as a busy Node.js start may: the script must take the stub, not reinstall.
redocly_stub_check() {
  local stub="$work/stub/redocly-$redocly_version/node_modules/.bin/redocly"
  mkdir -p "$(dirname "$stub")"
  printf '#!/bin/sh\nsleep 0.2\necho %s\n' "$redocly_version" >"$stub"
  chmod +x "$stub"
  expect_path -x env DBFLEET_CACHE="$work/stub" scripts/ensure-redocly.sh
  if [[ "$path" != "$stub" ]] || grep -q installing "$work/stderr"; then
    cat "$work/stderr" >&2
    fail "ensure-redocly.sh did not take $stub, which reports $redocly_version"
  fi
}

stage="version check"
stub_check scripts/ensure-terraform.sh "terraform-$tf_version/terraform" "$tf_version"
stub_check scripts/ensure-opentofu.sh "opentofu-$tofu_version/tofu" "$tofu_version"
redocly_stub_check

for ((round = 1; round <= rounds; round++)); do
  stage="round $round of $rounds"
  cache="$work/cache-$round"
  mkdir "$cache"

  begin=$SECONDS
  fresh_install scripts/ensure-terraform.sh "terraform-$tf_version/terraform" cli_reports "$tf_version"
  built="Terraform $tf_version into an empty cache in $((SECONDS - begin))s"
  if ((round == 1)); then
    begin=$SECONDS
    fresh_install scripts/ensure-opentofu.sh "opentofu-$tofu_version/tofu" cli_reports "$tofu_version"
    built+=", OpenTofu $tofu_version in $((SECONDS - begin))s"
    begin=$SECONDS
    fresh_install scripts/ensure-redocly.sh "redocly-$redocly_version/node_modules/.bin/redocly" redocly_reports "$redocly_version"
    built+=", Redocly CLI $redocly_version in $((SECONDS - begin))s"
  fi

  expect_path -d scripts/ensure-postgres.sh
  [[ -x "$path/postgres" && -x "$path/initdb" ]] || fail "ensure-postgres.sh printed $path, which has no postgres and initdb"
  expect_path -x scripts/ensure-chromium.sh
  expect_path -x scripts/ensure-shellcheck.sh

  rm -rf "$cache"
  echo "check-fresh-tools: $stage: ok ($built)" >&2
done
