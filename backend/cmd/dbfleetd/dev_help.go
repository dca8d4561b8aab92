package main

// devHelp is what `dbfleetd dev --help` prints above the flags: what dev runs, where its files
// live and how a fleet is thrown away.
const devHelp = `usage: dbfleetd dev [flags]

Runs a local fleet: dev regions (westeurope, northeurope, eastus), each a real PostgreSQL cluster
made with initdb on first start and served on a loopback port, and the API on --listen. Once it
serves it prints two lines for a shell to eval (export DBFLEET_ENDPOINT=..., export
DBFLEET_TOKEN=...); it logs to stderr. SIGINT or SIGTERM stops the clusters and exits; a restart
with the same --data-dir reuses them, the state, the token and the key.

Where the files live:
  DATA-DIR/                        state.db, backups/, dev-token, secret.key, fallback.id
  DATA-DIR/regions/NAME/           region.json (port, cluster location, credentials) and
                                   cluster/, the region's cluster
  /var/tmp/dbfleet-dev-HASH/NAME/  the region's cluster instead, when the user that runs the
                                   clusters cannot enter DATA-DIR (as root they run as postgres,
                                   which cannot enter /root or a mktemp -d directory, say) or the
                                   socket path under DATA-DIR would be too long. The file
                                   /var/tmp/dbfleet-dev-HASH/owner names DATA-DIR and the id in
                                   DATA-DIR/fallback.id.

To throw a fleet away, stop dbfleetd and delete DATA-DIR. Every start of a dev fleet removes the
clusters under /var/tmp/dbfleet-dev-* whose owner DATA-DIR is gone (deleted, or deleted and made
anew: its fallback.id is not the recorded one). It keeps a cluster whose server still runs, and
never touches a directory without an owner file, of another user, or a symbolic link.`
