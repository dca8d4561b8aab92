#!/usr/bin/env bash
# Generates and checks the registry docs with tfplugindocs, the version pinned in tools/go.mod.
#
#   docs.sh generate   regenerate docs/ from templates/, examples/ and the provider's schema
#   docs.sh check      fail when docs/ differs from what generate would write, or when
#                      `tfplugindocs validate` finds a problem
#
# tfplugindocs builds the provider and asks a Terraform CLI for its schema. It takes the first
# terraform on PATH and would download the latest release when there is none, so the Terraform
# 1.5.7 of scripts/ensure-terraform.sh is put first on PATH: nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

tf="$(scripts/ensure-terraform.sh)"
PATH="$(dirname "$tf"):$PATH"
export PATH
export CHECKPOINT_DISABLE=1
# A CLI configuration file that is named but missing only makes Terraform warn.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi
# The checkout's directory name need not be terraform-provider-dbfleet (CI's clone is not).
tfplugindocs() {
  go tool -modfile=tools/go.mod tfplugindocs "$@"
}

generate() {
  local out="$1" log
  log="$(mktemp)"
  if ! tfplugindocs generate --provider-name dbfleet --rendered-provider-name dbfleet \
    --rendered-website-dir "$out" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

case "${1:-}" in
generate)
  generate docs
  echo "docs: regenerated docs/"
  ;;
check)
  # A directory inside the checkout: tfplugindocs takes the output directory relative to it.
  mkdir -p bin
  out="$(mktemp -d bin/docs-check.XXXXXX)"
  trap 'rm -rf "$out"' EXIT
  generate "$out"
  if ! diff -ru docs "$out"; then
    echo "docs: docs/ is stale (the diff above is what make docs would change); run make docs and commit docs/" >&2
    exit 1
  fi
  log="$(mktemp)"
  if ! tfplugindocs validate --provider-name dbfleet >"$log" 2>&1; then
    grep -v '\[DEBUG\]' "$log" >&2
    rm -f "$log"
    echo "docs: tfplugindocs validate failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "docs: docs/ is current and valid"
  ;;
*)
  echo "usage: $0 generate|check" >&2
  exit 2
  ;;
esac
