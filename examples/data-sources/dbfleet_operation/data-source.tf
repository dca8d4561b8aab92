# The operation that an error of terraform apply named, to see where it
# failed and why.
data "dbfleet_operation" "failed_upgrade" {
  id = "op-6f1c2b9e-3d4a-4c5b-8e7f-9a0b1c2d3e4f"
}

output "failed_upgrade" {
  value = {
    kind     = data.dbfleet_operation.failed_upgrade.kind
    target   = data.dbfleet_operation.failed_upgrade.target
    state    = data.dbfleet_operation.failed_upgrade.state
    progress = data.dbfleet_operation.failed_upgrade.progress
    error    = data.dbfleet_operation.failed_upgrade.error
  }
}
