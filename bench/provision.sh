#!/usr/bin/env bash
# provision.sh measures creating N databases (default 100) in one region, against the floor of the
# same SQL (CREATE ROLE with a password, CREATE DATABASE owned by it) sent by one psql session to
# the same PostgreSQL, in the same run:
#   floor    psql, one session, N roles and databases
#   apply    terraform apply -parallelism=10 of N dbfleet_database resources
#   plan     terraform plan of the same configuration (refreshing all N)
# It starts its own `dbfleetd dev` in a temporary directory and prints one JSON object.
# Needs `make build install` first (bin/dbfleetd and the provider in the local mirror).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
count="${1:-100}"
tf="$("$root/scripts/ensure-terraform.sh")"
pg_bin="$("$root/scripts/ensure-postgres.sh")"
export CHECKPOINT_DISABLE=1
# A CLI configuration file that is named but missing only makes Terraform warn on every command.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi
work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  local dir
  for dir in $(sed -n 's/.*"clusterDir": *"\([^"]*\)".*/\1/p' "$work"/dev/regions/*/region.json 2>/dev/null); do
    rm -rf "$dir"
  done
  rm -rf "$work"
}
trap cleanup EXIT

"$root/bin/dbfleetd" dev --data-dir "$work/dev" --listen 127.0.0.1:0 >"$work/env" 2>"$work/dbfleetd.log" &
pid=$!
for _ in $(seq 1200); do
  [[ "$(grep -c '^export ' "$work/env" 2>/dev/null)" == 2 ]] && break
  sleep 0.1
done
# shellcheck disable=SC1091
source "$work/env"

state="$work/dev/regions/westeurope/region.json"
port="$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$state")"
user="$(sed -n 's/.*"adminUser": *"\([^"]*\)".*/\1/p' "$state")"
export PGPASSWORD="$(sed -n 's/.*"adminPassword": *"\([^"]*\)".*/\1/p' "$state")"
psql=("$pg_bin/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" -d postgres)

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'; }

for i in $(seq "$count"); do
  echo "CREATE ROLE floor_${i}_owner LOGIN PASSWORD 'floor-password-$i';"
  echo "CREATE DATABASE floor_$i OWNER floor_${i}_owner;"
done >"$work/floor.sql"
start="$(now)"
"${psql[@]}" -f "$work/floor.sql"
floor="$(elapsed "$start")"
for i in $(seq "$count"); do
  echo "DROP DATABASE floor_$i; DROP ROLE floor_${i}_owner;"
done | "${psql[@]}"

mkdir "$work/tf"
cat >"$work/tf/main.tf" <<TF
terraform {
  required_providers {
    dbfleet = { source = "dbfleet/dbfleet" }
  }
}
provider "dbfleet" {}
resource "dbfleet_database" "bench" {
  for_each            = toset([for i in range($count) : "bench_\${i}"])
  region              = "westeurope"
  name                = each.key
  deletion_protection = false
  skip_final_backup   = true
}
TF
cd "$work/tf"
"$tf" init -input=false >/dev/null
requests_before="$(grep -c '"Served request"' "$work/dbfleetd.log" || true)"
start="$(now)"
"$tf" apply -input=false -auto-approve -parallelism=10 >"$work/apply.log"
apply="$(elapsed "$start")"
requests_apply=$(($(grep -c '"Served request"' "$work/dbfleetd.log") - requests_before))
start="$(now)"
"$tf" plan -input=false -detailed-exitcode >"$work/plan.log"
plan="$(elapsed "$start")"
"$tf" destroy -input=false -auto-approve -parallelism=10 >/dev/null

printf '{"databases": %d, "floor_psql_s": %.2f, "apply_s": %.2f, "apply_over_floor": %.2f, "plan_s": %.2f, "http_requests_during_apply": %d}\n' \
  "$count" "$floor" "$apply" "$(awk -v a="$apply" -v f="$floor" 'BEGIN { print a / f }')" "$plan" "$requests_apply"
