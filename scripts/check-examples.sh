#!/usr/bin/env bash
# Checks every Terraform example the registry docs show: `terraform fmt -check` over examples/, then
# `terraform init -backend=false` and `terraform validate` in a copy of each directory that holds .tf
# files, against the provider built from this checkout; and that every resource and data source
# that docs/ documents has its example (and a resource its import.sh).
#
# The provider is built into a filesystem mirror in a temporary directory that a CLI configuration
# of its own points at, so the check neither needs nor changes ~/.terraform.d, and Terraform asks no
# registry. Examples that declare no required_providers (the registry's resource and data source
# snippets) get one in their copy, since Terraform would otherwise look for hashicorp/dbfleet.
#
#   check-examples.sh TERRAFORM VERSION
set -euo pipefail
cd "$(dirname "$0")/.."

tf="${1:?usage: check-examples.sh TERRAFORM VERSION}"
version="${2:?usage: check-examples.sh TERRAFORM VERSION}"
export CHECKPOINT_DISABLE=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

platform="$(go env GOOS)_$(go env GOARCH)"
mirror="$tmp/mirror"
go build -ldflags "-X main.version=$version" \
  -o "$mirror/registry.terraform.io/dbfleet/dbfleet/$version/$platform/terraform-provider-dbfleet_v$version" .
cat >"$tmp/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/dbfleet/dbfleet"]
  }
  direct {
    exclude = ["registry.terraform.io/dbfleet/dbfleet"]
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


failed=0
for dir in $(find examples -name '*.tf' -printf '%h\n' | sort -u); do
  work="$tmp/work/$dir"
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
  if ! out="$("$tf" -chdir="$work" init -backend=false -input=false -no-color 2>&1)"; then
    echo "check-examples: FAIL $dir: terraform init" >&2
    echo "$out" >&2
    failed=1
    continue
  fi
  if ! out="$("$tf" -chdir="$work" validate -no-color 2>&1)"; then
    echo "check-examples: FAIL $dir: terraform validate" >&2
    echo "$out" >&2
    failed=1
    continue
  fi
  echo "check-examples: ok $dir"
done

# Every resource and data source the provider registers has its registry example, and a resource
# its import.sh. docs/ has a page for each of them (make docs-check holds it to the provider).
for page in docs/resources/*.md docs/data-sources/*.md; do
  [[ -e "$page" ]] || continue
  name="dbfleet_$(basename "$page" .md)"
  case "$page" in
  docs/resources/*) want=("examples/resources/$name/resource.tf" "examples/resources/$name/import.sh") ;;
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
