# The stamp: one configuration for every region, one variable file per region
# (regions/<region>.tfvars). Each region gets its own state, for example a workspace per region:
#
#   terraform workspace select -or-create westeurope
#   terraform apply -var-file=regions/westeurope.tfvars

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

variable "deletion_protection" {
  description = "Whether the backend refuses to delete the databases. Apply with false before destroying them."
  type        = bool
  default     = true
}

resource "dbfleet_database" "this" {
  for_each = toset(var.databases)

  region              = var.region
  name                = each.key
  deletion_protection = var.deletion_protection
}

output "databases" {
  description = "Where each database of the region runs, by name."
  value = {
    for name, db in dbfleet_database.this : name => {
      id     = db.id
      status = db.status
      host   = db.host
      port   = db.port
      owner  = db.owner
    }
  }
}

output "passwords" {
  description = "The owner password of each database, by name (terraform output -json passwords)."
  value       = { for name, db in dbfleet_database.this : name => db.password }
  sensitive   = true
}
