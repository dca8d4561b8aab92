#!/usr/bin/env bash
# Generates and checks the registry docs with tfplugindocs, the version pinned in tools/go.mod.
#
#   docs.sh generate   regenerate docs/ from templates/, examples/ and the provider's schema
#   docs.sh check      fail when docs/ differs from what generate would write, or when
#                      `tfplugindocs validate` finds a problem
#   docs.sh api [FILE] render the API document (backend/api/openapi.json) for people into FILE
#                      (default bin/api-docs/index.html); generate does it too
#
# The API page is Redocly CLI's build-docs output (scripts/ensure-redocly.sh) with Redoc's scripts
# inlined (--inlineBundle), so that it is one self-contained file that loads nothing from another
# host: no CDN script, no web font (backend/daemon/api_docs_test.go opens it in Chromium and fails
# on any request that leaves loopback). The one remote resource Redoc still names, the Redocly logo
# of its footer, becomes `data:,`, which fails to load, so Redoc leaves the logo out. The page is
# build output under bin/, not committed.
#
# tfplugindocs reads the provider's schema from `providers schema -json`. Terraform 1.5.7 leaves
# ephemeral resources out of it (they came with 1.10), so the schema comes from the OpenTofu of
# scripts/ensure-opentofu.sh, run here against the provider built from this checkout in a
# filesystem mirror of its own, and is handed to tfplugindocs with --providers-schema: nothing is
# downloaded and no registry is asked.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHECKPOINT_DISABLE=1
# The checkout's directory name need not be terraform-provider-dbfleet (CI's clone is not).
tfplugindocs() {
  go tool -modfile=tools/go.mod tfplugindocs "$@"
}

# providers_schema writes the provider's schema, as `tofu providers schema -json` renders it, to $1.
# tfplugindocs looks the provider up as registry.terraform.io/hashicorp/dbfleet.
providers_schema() {
  local out="$1" tofu work platform log
  tofu="$(scripts/ensure-opentofu.sh)"
  work="$(mktemp -d)"
  platform="$(go env GOOS)_$(go env GOARCH)"
  go build -o "$work/mirror/registry.terraform.io/hashicorp/dbfleet/0.0.1/$platform/terraform-provider-dbfleet_v0.0.1" .
  cat >"$work/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.terraform.io/hashicorp/dbfleet"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/dbfleet"]
  }
}
EOF
  mkdir -p "$work/config"
  cat >"$work/config/main.tf" <<'EOF'
terraform {
  required_providers {
    dbfleet = {
      source = "registry.terraform.io/hashicorp/dbfleet"
    }
  }
}
EOF
  log="$(mktemp)"
  if ! (export TF_CLI_CONFIG_FILE="$work/cli.tfrc" && unset TF_DATA_DIR TF_PLUGIN_CACHE_DIR &&
    "$tofu" -chdir="$work/config" init -backend=false -input=false -no-color >"$log" 2>&1 &&
    "$tofu" -chdir="$work/config" providers schema -json >"$out" 2>>"$log"); then
    cat "$log" >&2
    rm -rf "$log" "$work"
    return 1
  fi
  rm -rf "$log" "$work"
}

generate() {
  local out="$1" log schema
  log="$(mktemp)"
  schema="$(mktemp)"
  providers_schema "$schema"
  if ! tfplugindocs generate --provider-name dbfleet --rendered-provider-name dbfleet \
    --providers-schema "$schema" --rendered-website-dir "$out" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log" "$schema"
    return 1
  fi
  rm -f "$log" "$schema"
}

# api_docs renders backend/api/openapi.json into the HTML file $1 (redocly.yaml applies).
api_docs() {
  local out="$1" redocly log
  redocly="$(scripts/ensure-redocly.sh)"
  mkdir -p "$(dirname "$out")"
  log="$(mktemp)"
  if ! REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$redocly" build-docs backend/api/openapi.json \
    --config redocly.yaml --inlineBundle --title "dbfleetd API" --output "$out" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  sed -i -E 's#https://cdn\.redoc\.ly/redoc/logo-mini(-full)?\.svg#data:,#g' "$out"
}

case "${1:-}" in
generate)
  generate docs
  api_docs bin/api-docs/index.html
  echo "docs: regenerated docs/ and rendered the API document into bin/api-docs/index.html"
  ;;
api)
  out="${2:-bin/api-docs/index.html}"
  api_docs "$out"
  echo "docs: rendered the API document into $out"
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
  echo "usage: $0 generate|check|api [FILE]" >&2
  exit 2
  ;;
esac
