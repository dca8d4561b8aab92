# A database whose owner password Terraform never stores: password_in_state =
# false keeps it out of state and plan, and bumping password_version rotates
# it (dbfleetd sets a new one; the old one stops logging in).
resource "dbfleet_database" "orders" {
  region            = "westeurope"
  name              = "orders"
  password_in_state = false
  password_version  = 1
}

# Read anew in every run, never written to state or plan. Referring to the
# database's id (unknown until it exists) makes Terraform read the
# credentials only after creating the database.
ephemeral "dbfleet_database_credentials" "orders" {
  id = dbfleet_database.orders.id
}

# Ephemeral values may configure providers, feed write-only arguments and
# provisioners. For example, with a PostgreSQL provider:
#
#   provider "postgresql" {
#     host     = ephemeral.dbfleet_database_credentials.orders.host
#     port     = ephemeral.dbfleet_database_credentials.orders.port
#     database = ephemeral.dbfleet_database_credentials.orders.database
#     username = ephemeral.dbfleet_database_credentials.orders.user
#     password = ephemeral.dbfleet_database_credentials.orders.password
#   }
#
# Here a provisioner loads seed data as the owner, once, with psql.
resource "terraform_data" "seed" {
  triggers_replace = [dbfleet_database.orders.id]

  provisioner "local-exec" {
    command = "psql -X -v ON_ERROR_STOP=1 -f seed.sql"
    environment = {
      PGHOST     = ephemeral.dbfleet_database_credentials.orders.host
      PGPORT     = ephemeral.dbfleet_database_credentials.orders.port
      PGDATABASE = ephemeral.dbfleet_database_credentials.orders.database
      PGUSER     = ephemeral.dbfleet_database_credentials.orders.user
      PGPASSWORD = ephemeral.dbfleet_database_credentials.orders.password
    }
  }
}
