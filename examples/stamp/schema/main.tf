# The schema that every region's databases run. Apply it once, before the stamp's regions, in its
# own state:
#
#   terraform -chdir=schema init
#   terraform -chdir=schema apply
#
# A new migration published here reaches the databases when each region's stamp is applied next;
# dbfleetd holds the upgrades of the later waves until westeurope has run the version and stayed
# healthy for bake_time, however the regions are applied.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    dbfleet = {
      source  = "dbfleet/dbfleet"
      version = ">= 0.1.0"
    }
  }
}

# The endpoint and the token come from DBFLEET_ENDPOINT and DBFLEET_TOKEN, which `dbfleetd dev`
# prints.
provider "dbfleet" {}

resource "dbfleet_schema" "app" {
  name = "app"

  # Append-only: add a migration to publish a new version. Once a database has run a version, its
  # up SQL cannot change.
  migrations = [
    {
      version = 1
      up      = <<-SQL
        CREATE TABLE accounts (
          id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          email      text NOT NULL UNIQUE,
          created_at timestamptz NOT NULL DEFAULT now()
        );
      SQL
      down    = "DROP TABLE accounts;"
    },
    {
      version = 2
      up      = "ALTER TABLE accounts ADD COLUMN display_name text;"
      down    = "ALTER TABLE accounts DROP COLUMN display_name;"
    },
  ]

  rollout = {
    # westeurope is the canary; northeurope and eastus follow once it has run a version and stayed
    # healthy for bake_time.
    waves      = [["westeurope"], ["northeurope", "eastus"]]
    bake_time  = "10s"
    on_failure = "halt"
  }
}

output "latest_version" {
  description = "The version that the stamp's databases run unless schema_version pins another."
  value       = dbfleet_schema.app.latest_version
}

output "waves" {
  description = "The rollout waves, canary first: the order in which to apply the regions one at a time."
  value       = dbfleet_schema.app.rollout.waves
}
