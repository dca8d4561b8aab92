data "dbfleet_regions" "all" {}

output "healthy_regions" {
  value = [for region in data.dbfleet_regions.all.regions : region.name if region.healthy]
}

# Regions whose server and admin role can hold replicas (replica_of), and what the others lack.
output "replica_regions" {
  value = [for region in data.dbfleet_regions.all.regions : region.name if try(region.capabilities.can_hold_replicas, false)]
}

output "why_not_replicas" {
  value = {
    for region in data.dbfleet_regions.all.regions : region.name => region.capabilities.missing_for_replicas
    if region.capabilities != null && !try(region.capabilities.can_hold_replicas, false)
  }
}
