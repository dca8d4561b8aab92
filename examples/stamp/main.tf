# The stamp: one configuration for every region, one variable file per region
# (regions/<region>.tfvars). Each region gets its own state, for example a workspace per region:
#
#   terraform workspace select -or-create westeurope
#   terraform apply -var-file=regions/westeurope.tfvars
#
# The databases run the schema that schema/ publishes: apply that configuration once, first. It is
# not part of the stamp because every region's state would then own it.

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

variable "region" {
  description = "The region this copy of the stamp runs in, such as westeurope."
  type        = string
}

variable "databases" {
  description = "The names of the databases to run in the region."
  type        = list(string)
  default     = ["orders", "customers"]
}

variable "schema" {
  description = "The dbfleet_schema the databases run, published by schema/."
  type        = string
  default     = "app"
}

variable "schema_version" {
  description = "The schema version to run; null follows the schema's latest version."
  type        = number
  default     = null
}

variable "deletion_protection" {
  description = "Whether the backend refuses to delete the databases. Apply with false before destroying them."
  type        = bool
  default     = true
}

variable "skip_final_backup" {
  description = "Whether deleting the databases skips the final pg_dump; needed where the backend has no pg_dump as new as the region's server."
  type        = bool
  default     = false
}

resource "dbfleet_database" "this" {
  for_each = toset(var.databases)

  region              = var.region
  name                = each.key
  schema              = var.schema
  schema_version      = var.schema_version
  deletion_protection = var.deletion_protection
  skip_final_backup   = var.skip_final_backup

  parameters = {
    statement_timeout = "30s"
  }

  timeouts {
    # Creating or upgrading a database of a later wave waits for the canary's bake time.
    create = "30m"
    update = "30m"
  }
}

output "databases" {
  description = "Where each database of the region runs, by name."
  value = {
    for name, db in dbfleet_database.this : name => {
      id              = db.id
      status          = db.status
      host            = db.host
      port            = db.port
      owner           = db.owner
      schema_version  = db.schema_version
      applied_version = db.applied_version
      rollout_wave    = db.rollout_wave
    }
  }
}

output "passwords" {
  description = "The owner password of each database, by name (terraform output -json passwords)."
  value       = { for name, db in dbfleet_database.this : name => db.password }
  sensitive   = true
}
