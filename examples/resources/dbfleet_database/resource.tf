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

# A logical replica of orders in another region: dbfleet subscribes it to
# orders in westeurope, copies the rows, and streams every change. Referring
# to the source's region (rather than writing "westeurope") makes Terraform
# create the source first and destroy it last.
resource "dbfleet_database" "orders_northeurope" {
  region     = "northeurope"
  name       = dbfleet_database.orders.name
  schema     = dbfleet_database.orders.schema
  replica_of = dbfleet_database.orders.region

  # Record what differs from this configuration without repairing it; the
  # next terraform plan shows it as a change of drift.
  drift_policy = "report"
}

# A database whose owner password stays out of Terraform's state and plan:
# read it with the ephemeral dbfleet_database_credentials (Terraform 1.10+,
# OpenTofu 1.11+). Changing password_version rotates the password: dbfleetd
# generates a new one, and the old one stops logging in.
resource "dbfleet_database" "billing" {
  region            = "westeurope"
  name              = "billing"
  password_in_state = false
  password_version  = 1
}

output "orders_northeurope_replication" {
  value = {
    state       = dbfleet_database.orders_northeurope.replication.state
    lag_seconds = dbfleet_database.orders_northeurope.replication.lag_seconds
    consistency = try(dbfleet_database.orders_northeurope.consistency.result, "not checked yet")
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
