# Terraform 1.12+ and OpenTofu 1.12+ import a database by its identity, its
# region and name, with an import block.
import {
  to = dbfleet_database.orders
  identity = {
    region = "westeurope"
    name   = "orders"
  }
}

resource "dbfleet_database" "orders" {
  region = "westeurope"
  name   = "orders"
}
