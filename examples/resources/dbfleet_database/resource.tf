resource "dbfleet_database" "orders" {
  region = "westeurope"
  name   = "orders"

  # Protection is on by default: set it to false and apply before destroying
  # the database or changing its region or name.
  deletion_protection = true

  timeouts {
    create = "30m"
  }
}

output "orders_connection" {
  value = {
    host  = dbfleet_database.orders.host
    port  = dbfleet_database.orders.port
    owner = dbfleet_database.orders.owner
  }
}
