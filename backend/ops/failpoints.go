package ops

// Step boundaries are failpoints (package failpoint): a test kills
// dbfleetd just before a step runs, after the store recorded it as the
// operation's current step, or just after it succeeded, before the next
// step is recorded. Either way the resumed operation must run the step
// (again) and finish with the same result.
const (
	failpointBeforeStep = "before"
	failpointAfterStep  = "after"
)

// StepFailpoint names the failpoint just before (phase "before") or just
// after (phase "after") step stepName of an operation of kind.
func StepFailpoint(kind, stepName, phase string) string {
	return "step/" + kind + "/" + stepName + "/" + phase
}
