#!/usr/bin/env bash
# Checks every Terraform example the registry docs show: `terraform fmt -check` over examples/, then
# `init -backend=false` and `validate` in a copy of each directory that holds .tf files, with
# Terraform and with OpenTofu, against the provider built from this checkout; and that every
# resource, data source and ephemeral resource that docs/ documents has its example (and a
# resource its import.sh).
#
# An example that uses what Terraform 1.5.7 predates (an ephemeral block: Terraform 1.10, OpenTofu
# 1.11; an import block with an identity: 1.12) is validated with OpenTofu only, and says so.
#
# The provider is built into a filesystem mirror in a temporary directory that a CLI configuration
# of its own points at, so the check neither needs nor changes ~/.terraform.d, and Terraform asks no
# registry. Examples that declare no required_providers (the registry's resource and data source
# snippets) get one in their copy, since Terraform would otherwise look for hashicorp/dbfleet.
#
#   check-examples.sh TERRAFORM VERSION [TOFU]
#
# TOFU defaults to the OpenTofu of scripts/ensure-opentofu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

tf="${1:?usage: check-examples.sh TERRAFORM VERSION [TOFU]}"
version="${2:?usage: check-examples.sh TERRAFORM VERSION [TOFU]}"
tofu="${3:-$(scripts/ensure-opentofu.sh)}"
export CHECKPOINT_DISABLE=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

platform="$(go env GOOS)_$(go env GOARCH)"
mirror="$tmp/mirror"
go build -ldflags "-X main.version=$version" \
  -o "$mirror/registry.terraform.io/dbfleet/dbfleet/$version/$platform/terraform-provider-dbfleet_v$version" .
# OpenTofu reads dbfleet/dbfleet as registry.opentofu.org/dbfleet/dbfleet (and passes over a
# symbolic link to the directory): a copy under that name.
mkdir -p "$mirror/registry.opentofu.org/dbfleet"
cp -R "$mirror/registry.terraform.io/dbfleet/dbfleet" "$mirror/registry.opentofu.org/dbfleet/"
cat >"$tmp/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/dbfleet/dbfleet", "registry.opentofu.org/dbfleet/dbfleet"]
  }
  direct {
    exclude = ["registry.terraform.io/dbfleet/dbfleet", "registry.opentofu.org/dbfleet/dbfleet"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$tmp/cli.tfrc"
unset TF_DATA_DIR TF_PLUGIN_CACHE_DIR

echo "check-examples: terraform fmt -check -recursive examples"
if ! "$tf" fmt -check -recursive -diff examples; then
  echo "check-examples: examples are not formatted; run make fmt" >&2
  exit 1
fi


# validate_with CLI NAME DIR runs init and validate of the example DIR with the CLI called NAME, in
# a copy of its own.
validate_with() {
  local cli="$1" name="$2" dir="$3" work out
  work="$tmp/work/$name/$dir"
  mkdir -p "$work"
  cp "$dir"/*.tf "$work"/
  if ! grep -qs required_providers "$work"/*.tf; then
    cat >"$work/zz_required_providers.tf" <<'EOF'
terraform {
  required_providers {
    dbfleet = {
      source = "dbfleet/dbfleet"
    }
  }
}
EOF
  fi
  if ! out="$("$cli" -chdir="$work" init -backend=false -input=false -no-color 2>&1)"; then
    echo "check-examples: FAIL $dir: $name init" >&2
    echo "$out" >&2
    return 1
  fi
  if ! out="$("$cli" -chdir="$work" validate -no-color 2>&1)"; then
    echo "check-examples: FAIL $dir: $name validate" >&2
    echo "$out" >&2
    return 1
  fi
}

failed=0
for dir in $(find examples -name '*.tf' -printf '%h\n' | sort -u); do
  clis=(terraform tofu)
  if grep -Eqs '^[[:space:]]*ephemeral[[:space:]]+"|^[[:space:]]*identity[[:space:]]*=' "$dir"/*.tf; then
    clis=(tofu)
  fi
  ok=1
  for name in "${clis[@]}"; do
    cli="$tf"
    [[ "$name" == tofu ]] && cli="$tofu"
    validate_with "$cli" "$name" "$dir" || ok=0
  done
  if ((ok)); then
    echo "check-examples: ok $dir (${clis[*]})"
  else
    failed=1
  fi
done

# Every resource, data source and ephemeral resource the provider registers has its registry
# example, and a resource its import.sh. docs/ has a page for each of them (make docs-check holds it
# to the provider).
for page in docs/resources/*.md docs/data-sources/*.md docs/ephemeral-resources/*.md; do
  [[ -e "$page" ]] || continue
  name="dbfleet_$(basename "$page" .md)"
  case "$page" in
  docs/resources/*) want=("examples/resources/$name/resource.tf" "examples/resources/$name/import.sh") ;;
  docs/ephemeral-resources/*) want=("examples/ephemeral-resources/$name/ephemeral-resource.tf") ;;
  *) want=("examples/data-sources/$name/data-source.tf") ;;
  esac
  for f in "${want[@]}"; do
    if [[ ! -f "$f" ]]; then
      echo "check-examples: FAIL $page documents $name, but $f is missing" >&2
      failed=1
    fi
  done
done
exit "$failed"
