data "dbfleet_regions" "all" {}

output "healthy_regions" {
  value = [for region in data.dbfleet_regions.all.regions : region.name if region.healthy]
}
