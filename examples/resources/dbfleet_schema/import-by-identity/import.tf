# Terraform 1.12+ and OpenTofu 1.12+ import a schema by its identity, its
# name, with an import block.
import {
  to = dbfleet_schema.app
  identity = {
    name = "app"
  }
}

resource "dbfleet_schema" "app" {
  name = "app"

  migrations = [
    {
      version = 1
      up      = "CREATE TABLE items (id bigint PRIMARY KEY)"
    },
  ]
}
