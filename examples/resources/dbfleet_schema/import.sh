# A schema is imported by its name.
terraform import dbfleet_schema.app app
