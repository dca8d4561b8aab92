#!/usr/bin/env bash
# The demo of `make demo` and `make demo-down`.
#
#   demo.sh up    start `bin/dbfleetd dev` in the background (data, logs and pid file in
#                 .dbfleet-dev/), apply examples/stamp/schema, then examples/stamp for every
#                 examples/stamp/regions/*.tfvars, canary first
#   demo.sh down  destroy what up applied, stop dbfleetd (SIGTERM) and remove the dev fleet's
#                 files: .dbfleet-dev/ and the clusters dbfleetd kept under /var/tmp
#
# Each region has its own Terraform state: a workspace named after the region
# (examples/stamp/terraform.tfstate.d/<region>/). The schema that the regions' databases run has
# a state of its own (examples/stamp/schema/terraform.tfstate). `make demo` builds bin/dbfleetd
# and installs the provider into Terraform's implicit local mirror first; the provider's version
# must match that installed one.
set -euo pipefail
cd "$(dirname "$0")/.."

dev_dir=.dbfleet-dev
listen="${DBFLEET_DEMO_LISTEN:-127.0.0.1:8580}"
pid_file="$dev_dir/dbfleetd.pid"
env_file="$dev_dir/dbfleetd.env"
log_file="$dev_dir/dbfleetd.log"
stamp=examples/stamp
schema="$stamp/schema"
export CHECKPOINT_DISABLE=1
# A CLI configuration file that is named but missing only makes Terraform warn on every command.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

dbfleetd_running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

regions() {
  local f
  for f in "$stamp"/regions/*.tfvars; do
    basename "$f" .tfvars
  done
}

# regions_in_wave_order prints the regions in the order of the schema's rollout waves, the regions
# that no wave names last: applied one after another, no region waits for a canary applied after it.
regions_in_wave_order() {
  local tf="$1" waves region
  waves="$("$tf" -chdir="$schema" output -json waves | tr -d '[]" ' | tr ',' '\n')"
  for region in $waves; do
    if [[ -f "$stamp/regions/$region.tfvars" ]]; then
      echo "$region"
    fi
  done
  for region in $(regions); do
    grep -qx "$region" <<<"$waves" || echo "$region"
  done
}

start_dbfleetd() {
  mkdir -p "$dev_dir"
  if dbfleetd_running; then
    echo "dbfleetd already runs (pid $(cat "$pid_file"))"
    return
  fi
  rm -f "$env_file"
  install -m 600 /dev/null "$env_file" # it will hold the token
  echo "starting dbfleetd dev on $listen (log: $log_file)"
  # Its own session: a Ctrl-C in this terminal later does not reach it; demo-down stops it.
  setsid bin/dbfleetd dev --data-dir "$dev_dir" --listen "$listen" \
    </dev/null >"$env_file" 2>>"$log_file" &
  echo $! >"$pid_file"
  for _ in $(seq 600); do
    if [[ "$(grep -c '^export ' "$env_file" 2>/dev/null)" == 2 ]]; then
      return
    fi
    if ! dbfleetd_running; then
      echo "dbfleetd exited; the end of $log_file:" >&2
      tail -n 30 "$log_file" >&2
      rm -f "$pid_file"
      exit 1
    fi
    sleep 0.2
  done
  echo "dbfleetd printed no endpoint within 120 s; see $log_file" >&2
  exit 1
}

up() {
  local tf region
  DBFLEET_PG_BIN_DIR="$(scripts/ensure-postgres.sh)"
  export DBFLEET_PG_BIN_DIR
  tf="$(scripts/ensure-terraform.sh)"
  start_dbfleetd
  eval "$(cat "$env_file")"

  # The provider was just rebuilt: drop the lock files, whose checksums are the previous build's.
  rm -f "$stamp/.terraform.lock.hcl" "$schema/.terraform.lock.hcl"
  # The schema first: the regions' databases run it.
  echo "== schema"
  "$tf" -chdir="$schema" init -input=false
  "$tf" -chdir="$schema" apply -input=false -auto-approve
  "$tf" -chdir="$stamp" init -input=false
  for region in $(regions_in_wave_order "$tf"); do
    echo "== $region"
    "$tf" -chdir="$stamp" workspace select -or-create "$region"
    "$tf" -chdir="$stamp" apply -input=false -auto-approve -var-file="regions/$region.tfvars"
  done
  for region in $(regions); do
    echo "== terraform output ($region)"
    "$tf" -chdir="$stamp" workspace select "$region" >/dev/null
    "$tf" -chdir="$stamp" output
  done
  echo "== GET $DBFLEET_ENDPOINT/v1/databases"
  curl -fsS -H "Authorization: Bearer $DBFLEET_TOKEN" "$DBFLEET_ENDPOINT/v1/databases"
  echo
  echo "dbfleetd keeps running (pid $(cat "$pid_file")); to use it from this shell: eval \"\$(cat $env_file)\""
  echo "make demo-down destroys the databases and stops it."
}

# remove_fleet removes the files of the stopped dev fleet: the clusters that dbfleetd kept outside
# the data directory (when the user postgres cannot enter the checkout), each in the directory
# /var/tmp/dbfleet-dev-<hash> whose owner file names the data directory on its first line, and the
# data directory.
remove_fleet() {
  local data owner parent pid_path pid
  [[ -d "$dev_dir" ]] || return 0
  data="$PWD/$dev_dir" # dbfleetd dev records its data directory made absolute, as here
  for owner in /var/tmp/dbfleet-dev-*/owner; do
    parent="$(dirname "$owner")"
    if [[ -L "$parent" || -L "$owner" || ! -f "$owner" || "$(head -n 1 "$owner")" != "$data" ]]; then
      continue
    fi
    for pid_path in "$parent"/*/data/postmaster.pid; do
      [[ -f "$pid_path" ]] || continue
      pid="$(head -n 1 "$pid_path")"
      if kill -0 "$pid" 2>/dev/null; then
        echo "the PostgreSQL server of $(dirname "$(dirname "$pid_path")") still runs (pid $pid); stop it and run make demo-down again" >&2
        exit 1
      fi
    done
    echo "removing the dev clusters in $parent"
    rm -rf "$parent"
  done
  echo "removing $dev_dir"
  rm -rf "$dev_dir"
}

down() {
  local tf region pid
  if ! dbfleetd_running; then
    echo "dbfleetd is not running: nothing to destroy"
    rm -f "$pid_file"
    remove_fleet
    return
  fi
  tf="$(scripts/ensure-terraform.sh)"
  eval "$(cat "$env_file")"
  for region in $(regions); do
    # Only regions with something in their state: applying on an empty state would create the
    # databases.
    [[ -d "$stamp/terraform.tfstate.d/$region" ]] || continue
    "$tf" -chdir="$stamp" workspace select "$region" >/dev/null
    [[ -n "$("$tf" -chdir="$stamp" state list)" ]] || continue
    echo "== $region"
    # Deletion protection is recorded by the backend: turn it off with an apply, then destroy.
    "$tf" -chdir="$stamp" apply -input=false -auto-approve -var-file="regions/$region.tfvars" -var deletion_protection=false
    "$tf" -chdir="$stamp" destroy -input=false -auto-approve -var-file="regions/$region.tfvars" -var deletion_protection=false
  done
  # The schema last: dbfleetd refuses to delete it while databases run it.
  if [[ -f "$schema/terraform.tfstate" && -n "$("$tf" -chdir="$schema" state list)" ]]; then
    echo "== schema"
    "$tf" -chdir="$schema" destroy -input=false -auto-approve
  fi
  pid="$(cat "$pid_file")"
  echo "stopping dbfleetd (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "dbfleetd (pid $pid) still runs 60 s after SIGTERM; see $log_file" >&2
    exit 1
  fi
  remove_fleet
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
