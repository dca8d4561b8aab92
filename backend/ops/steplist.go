package ops

import (
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// StepNames are the names of the steps an operation of kind runs on db, in
// order: the very list the worker runs (nothing is run to list them).
func StepNames(kind string, db *store.Database) []string {
	var m *Manager // steps only builds closures: no field of m is read
	var names []string
	for _, s := range m.steps(kind, db) {
		names = append(names, s.name)
	}
	return names
}

// StepFailpoints are the failpoints at the boundaries of the steps of an
// operation of kind on db: before and after each step, in order.
func StepFailpoints(kind string, db *store.Database) []string {
	var points []string
	for _, name := range StepNames(kind, db) {
		points = append(points, StepFailpoint(kind, name, failpointBeforeStep), StepFailpoint(kind, name, failpointAfterStep))
	}
	return points
}
