# A database is imported by its region and name, separated by a slash.
terraform import dbfleet_database.orders westeurope/orders
