// Package runner is dbfleet's continuous acceptance runner: it runs
// scenario suites against a dbfleetd endpoint on an interval, records every
// scenario run in a SQLite results store, exports Prometheus metrics,
// sweeps what dead runs left behind, and reports success rates and
// durations per environment. The dbfleet-runner command
// (acceptance/cmd/dbfleet-runner) wires it up.
//
// Every resource a run creates is named <prefix><run id>_..., where the run
// id starts with the run's start time, so that the sweeper can tell a dead
// run's leftovers from a live run's resources and from everything else.
package runner
