package apiv1

import "fmt"

// CheckRequired checks what the API document marks required in a schema's
// body: at least one migration, each with a version and up SQL. (A decoded
// zero is taken as missing: versions are positive, and up SQL is never
// empty.)
func (s *SchemaSpec) CheckRequired() error {
	if s.Migrations == nil {
		return fmt.Errorf("migrations is required: a schema has at least one migration")
	}
	if len(s.Migrations) == 0 {
		return fmt.Errorf("migrations is empty: a schema has at least one migration")
	}
	for i, m := range s.Migrations {
		if m.Version == 0 {
			return fmt.Errorf("migrations[%d].version is required: a positive integer", i)
		}
		if m.Up == "" {
			return fmt.Errorf("migrations[%d].up is required: the SQL that applies version %d", i, m.Version)
		}
	}
	return nil
}
