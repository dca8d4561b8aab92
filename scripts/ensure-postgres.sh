#!/usr/bin/env bash
# Prints the directory of the PostgreSQL server programs (initdb, postgres, ...), installing
# Debian's postgresql package first when they are missing. It looks where backend/pgbin looks:
# $DBFLEET_PG_BIN_DIR, then `pg_config --bindir` (when that directory has the server programs),
# then the highest /usr/lib/postgresql/*/bin. The tests and `dbfleetd dev` run their own clusters;
# this script starts no server.
set -euo pipefail

has_server() {
  [[ -x "$1/postgres" && -x "$1/initdb" ]]
}

# find_bin_dir prints the directory and succeeds, or fails printing nothing.
find_bin_dir() {
  local dir
  dir="$(pg_config --bindir 2>/dev/null || true)"
  if [[ -n "$dir" ]] && has_server "$dir"; then
    echo "$dir"
    return 0
  fi
  while read -r dir; do
    if has_server "$dir"; then
      echo "$dir"
      return 0
    fi
  done < <(
    for dir in /usr/lib/postgresql/*/bin; do
      [[ "$dir" =~ ^/usr/lib/postgresql/[0-9]+(\.[0-9]+)*/bin$ ]] && echo "$dir"
    done | sort -V -r
  )
  return 1
}

if [[ -n "${DBFLEET_PG_BIN_DIR:-}" ]]; then
  if has_server "$DBFLEET_PG_BIN_DIR"; then
    echo "$DBFLEET_PG_BIN_DIR"
    exit 0
  fi
  echo "ensure-postgres: DBFLEET_PG_BIN_DIR=$DBFLEET_PG_BIN_DIR has no executable postgres and initdb" >&2
  exit 1
fi

if find_bin_dir; then
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "ensure-postgres: PostgreSQL server programs not found; install them as root: apt-get install -y postgresql" >&2
  exit 1
fi
echo "ensure-postgres: installing PostgreSQL (apt-get install -y postgresql)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends postgresql >&2

if ! find_bin_dir; then
  echo "ensure-postgres: postgresql is installed but its server programs were not found" >&2
  exit 1
fi
