# A database that another configuration manages, here a replica.
data "dbfleet_database" "orders_eastus" {
  region = "eastus"
  name   = "orders"
}

output "orders_eastus" {
  value = {
    host        = data.dbfleet_database.orders_eastus.host
    port        = data.dbfleet_database.orders_eastus.port
    replica_of  = data.dbfleet_database.orders_eastus.replica_of
    replication = data.dbfleet_database.orders_eastus.replication.state
    lag_bytes   = data.dbfleet_database.orders_eastus.replication.lag_bytes
    # The tables the last consistency check found to differ, with their
    # key ranges.
    inconsistent = {
      for t in try(data.dbfleet_database.orders_eastus.consistency.tables, []) :
      t.name => [for r in t.differing_ranges : "[${coalesce(r.from, "-inf")}, ${coalesce(r.to, "+inf")})"]
      if !t.consistent
    }
    drifted = [
      for c in data.dbfleet_database.orders_eastus.conditions :
      "${c.reason}: ${c.message}" if c.type == "Drifted" && c.status == "True"
    ]
  }
}

# The owner's password is sensitive, as on the resource.
output "orders_eastus_password" {
  value     = data.dbfleet_database.orders_eastus.password
  sensitive = true
}
