resource "dbfleet_database" "orders" {
  region = "westeurope"
  name   = "orders"

  # Run the migrations of the schema "app" (a dbfleet_schema, here published
  # by another configuration). Leaving schema_version out follows the
  # schema's latest version; set it to pin a version, and change it to
  # upgrade or downgrade within the schema's rollout policy.
  schema = "app"

  # Database-level settings from dbfleet's allow-list.
  parameters = {
    statement_timeout = "30s"
    work_mem          = "64MB"
  }

  # Protection is on by default: set it to false and apply before destroying
  # the database or changing its region or name.
  deletion_protection = true

  timeouts {
    create = "30m"
    # An upgrade waits while earlier rollout waves bake.
    update = "1h"
  }
}

output "orders_connection" {
  value = {
    host  = dbfleet_database.orders.host
    port  = dbfleet_database.orders.port
    owner = dbfleet_database.orders.owner
  }
}

output "orders_schema" {
  value = {
    version      = dbfleet_database.orders.schema_version
    applied      = dbfleet_database.orders.applied_version
    rollout_wave = dbfleet_database.orders.rollout_wave
  }
}
