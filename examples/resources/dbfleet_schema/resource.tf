resource "dbfleet_schema" "app" {
  name = "app"

  # Append-only: adding a migration publishes a new version. Once a database
  # has run a version, its up SQL can no longer change; a plan that changes
  # it fails.
  migrations = [
    {
      version = 1
      up      = <<-SQL
        CREATE TABLE orders (
          id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          created_at timestamptz NOT NULL DEFAULT now()
        );
      SQL
      down    = "DROP TABLE orders;"
    },
    {
      version = 2
      up      = "ALTER TABLE orders ADD COLUMN total numeric(12, 2);"
      down    = "ALTER TABLE orders DROP COLUMN total;"
    },
  ]

  rollout = {
    # westeurope is the canary: the other regions move to a new version only
    # once every database of the schema there has run it and stayed healthy
    # for ten minutes.
    waves      = [["westeurope"], ["northeurope", "eastus"]]
    bake_time  = "10m"
    on_failure = "halt"
  }
}

# Databases in the same configuration refer to latest_version, so that the
# apply that publishes a version also moves them to it, wave by wave.
resource "dbfleet_database" "orders" {
  for_each = toset(["westeurope", "northeurope", "eastus"])

  region         = each.key
  name           = "orders"
  schema         = dbfleet_schema.app.name
  schema_version = dbfleet_schema.app.latest_version

  timeouts {
    # An upgrade in the second wave waits for the canary's bake time.
    update = "30m"
  }
}
