package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Region states of a rollout, as words: the page shows the word, the
// colour only repeats it.
const (
	stateWaiting    = "waiting"
	stateApplying   = "applying"
	stateBaking     = "baking"
	stateHealthy    = "healthy"
	stateFailed     = "failed"
	stateRolledBack = "rolled back"
	stateEmpty      = "no databases"
)

// stateRank orders states for a cell of several databases: the worst one
// speaks for the cell.
var stateRank = map[string]int{stateEmpty: 0, stateHealthy: 1, stateBaking: 2, stateWaiting: 3, stateApplying: 4, stateRolledBack: 5, stateFailed: 6}

type rolloutsView struct {
	Schemas []schemaRollouts
}

func (rolloutsView) PageTitle() string { return "Rollouts" }
func (rolloutsView) Live() bool        { return true }

// schemaRollouts is one schema: the versions being rolled out, and the
// latest version every database has finished.
type schemaRollouts struct {
	Name      string
	BakeTime  time.Duration
	OnFailure string
	Rollouts  []rolloutBoard
	Completed int64
}

// rolloutBoard is one version's rollout: waves as columns, regions as
// cells.
type rolloutBoard struct {
	Schema  string
	Version int64
	State   string
	Halt    *store.RolloutHalt
	Waves   []waveColumn
}

type waveColumn struct {
	Number int
	State  string
	Cells  []regionCell
}

// regionCell is a region's databases of the schema, on one version.
type regionCell struct {
	Region string
	State  string
	// Moved of Total databases run the version.
	Moved, Total int
	// BakeLeft is the longest bake time left, when baking.
	BakeLeft time.Duration
	// Gate is what a waiting database waits for; Detail what failed.
	Gate   string
	Detail string
	// Databases in the region, for links.
	Databases []string
}

// boardInput is what a version's board is worked out from.
type boardInput struct {
	status  *ops.SchemaStatus
	rollout *store.Rollout
	dbs     []*store.Database
	// applied is when each database ("region/name") reached the version.
	applied map[string]time.Time
	// operations are the databases' running operations, by id.
	operations map[string]*store.Operation
	now        time.Time
}

// buildBoard works out each region's state on one version.
func buildBoard(in boardInput) rolloutBoard {
	version := in.rollout.Version
	b := rolloutBoard{Schema: in.status.Name, Version: version, State: in.rollout.State}
	if in.rollout.Halt.Check != "" {
		halt := in.rollout.Halt
		b.Halt = &halt
	}
	for i, regions := range in.status.Waves {
		col := waveColumn{Number: i + 1, State: stateEmpty}
		for _, region := range regions {
			cell := regionCell{Region: region, State: stateEmpty}
			for _, db := range in.dbs {
				if db.Region != region {
					continue
				}
				state, gate, detail, left := databaseState(in, db)
				cell.Total++
				cell.Databases = append(cell.Databases, db.Name)
				if db.AppliedVersion >= version {
					cell.Moved++
				}
				cell.BakeLeft = max(cell.BakeLeft, left)
				if stateRank[state] > stateRank[cell.State] {
					cell.State = state
				}
				if state == stateWaiting {
					cell.Gate = cmp.Or(cell.Gate, gate)
				}
				cell.Detail = cmp.Or(cell.Detail, detail)
			}
			if stateRank[cell.State] > stateRank[col.State] {
				col.State = cell.State
			}
			col.Cells = append(col.Cells, cell)
		}
		b.Waves = append(b.Waves, col)
	}
	return b
}

// databaseState is one database's state on the board's version: the state
// word, the gate it waits on, what failed, and the bake time left.
func databaseState(in boardInput, db *store.Database) (state, gate, detail string, bakeLeft time.Duration) {
	version := in.rollout.Version
	halt := in.rollout.Halt
	switch {
	case halt.Check != "" && halt.Region == db.Region && halt.Database == db.Name:
		if in.rollout.State == apiv1.RolloutRolledBack {
			return stateRolledBack, "", fmt.Sprintf("check %s failed: %s", halt.Check, halt.Message), 0
		}
		return stateFailed, "", fmt.Sprintf("check %s failed: %s", halt.Check, halt.Message), 0
	case db.Status == apiv1.DatabaseStatusRolledBack:
		return stateRolledBack, "", "", 0
	case db.AppliedVersion >= version:
		if db.Status == apiv1.DatabaseStatusFailed {
			return stateFailed, "", "its last operation failed; see Operations", 0
		}
		at, ok := in.applied[db.Region+"/"+db.Name]
		if left := at.Add(in.status.Rollout.BakeTime).Sub(in.now); ok && left > 0 {
			return stateBaking, "", "", left
		}
		return stateHealthy, "", "", 0
	}
	if op := in.operations[db.OperationID]; op != nil && db.SchemaVersion >= version {
		if op.State == apiv1.OperationRunning {
			return stateApplying, "", op.Progress, 0
		}
		return stateWaiting, op.Progress, "", 0
	}
	if db.Status == apiv1.DatabaseStatusFailed {
		return stateFailed, "", "its last operation failed; see Operations", 0
	}
	if db.SchemaVersion < version {
		return stateWaiting, fmt.Sprintf("no upgrade to version %d requested yet", version), "", 0
	}
	return stateWaiting, "", "", 0
}

func (h *Handler) rolloutsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dbs, err := h.store.DatabaseList(ctx, &store.DatabaseListParams{})
	if err != nil {
		h.fault(w, r, "list databases", err)
		return
	}
	var names []string
	for _, db := range dbs {
		if db.Schema != "" && !slices.Contains(names, db.Schema) {
			names = append(names, db.Schema)
		}
	}
	slices.Sort(names)
	var v rolloutsView
	for _, name := range names {
		s, err := h.schemaRollouts(ctx, name, dbs)
		if err != nil {
			h.fault(w, r, "read the rollouts of schema "+name, err)
			return
		}
		v.Schemas = append(v.Schemas, s)
	}
	// Schemas with a rollout under way or stopped come first.
	slices.SortStableFunc(v.Schemas, func(a, b schemaRollouts) int {
		return cmp.Compare(len(b.Rollouts), len(a.Rollouts))
	})
	h.render(w, r, http.StatusOK, "rollouts", v)
}

func (h *Handler) schemaRollouts(ctx context.Context, name string, all []*store.Database) (schemaRollouts, error) {
	status, err := h.rollouts.SchemaGet(ctx, name)
	if err != nil {
		return schemaRollouts{}, err
	}
	out := schemaRollouts{Name: name, BakeTime: status.Rollout.BakeTime, OnFailure: status.Rollout.OnFailure}
	var dbs []*store.Database
	operations := map[string]*store.Operation{}
	for _, db := range all {
		if db.Schema != name {
			continue
		}
		dbs = append(dbs, db)
		if db.OperationID != "" {
			op, err := h.store.OperationGet(ctx, db.OperationID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return out, err
			}
			if op != nil {
				operations[op.ID] = op
			}
		}
	}
	for _, rollout := range status.Rollouts {
		if rollout.State == apiv1.RolloutCompleted {
			out.Completed = max(out.Completed, rollout.Version)
			continue
		}
		ran, err := h.store.DatabaseMigrationList(ctx, name, rollout.Version)
		if err != nil {
			return out, err
		}
		applied := map[string]time.Time{}
		for _, m := range ran {
			applied[m.Region+"/"+m.Name] = m.AppliedAt
		}
		out.Rollouts = append(out.Rollouts, buildBoard(boardInput{status: status, rollout: rollout, dbs: dbs,
			applied: applied, operations: operations, now: h.now()}))
	}
	// Newest version first: it is the one people watch.
	slices.Reverse(out.Rollouts)
	return out, nil
}

// resumeView is the confirmation page of a resume.
type resumeView struct {
	Schema  string
	Version int64
	Halt    *store.RolloutHalt
	State   string
}

func (resumeView) PageTitle() string { return "Resume rollout" }

// rolloutPath reads and validates {schema}/{version}.
func rolloutPath(r *http.Request) (string, int64, error) {
	schema := r.PathValue("schema")
	if err := engine.ValidateIdentifier("schema", schema); err != nil {
		return "", 0, err
	}
	version, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || version <= 0 {
		return "", 0, fmt.Errorf("version %q is not a positive integer", r.PathValue("version"))
	}
	return schema, version, nil
}

// stoppedRollout returns the halted or rolled back rollout of a version.
func (h *Handler) stoppedRollout(ctx context.Context, schema string, version int64) (*store.Rollout, error) {
	status, err := h.rollouts.SchemaGet(ctx, schema)
	if err != nil {
		return nil, err
	}
	for _, r := range status.Rollouts {
		if r.Version == version && (r.State == apiv1.RolloutHalted || r.State == apiv1.RolloutRolledBack) {
			return r, nil
		}
	}
	return nil, nil
}

func (h *Handler) resumeConfirmPage(w http.ResponseWriter, r *http.Request) {
	schema, version, err := rolloutPath(r)
	if err != nil {
		h.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	stopped, err := h.stoppedRollout(r.Context(), schema, version)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.renderError(w, r, http.StatusNotFound, "Schema "+schema+" does not exist.")
		return
	case err != nil:
		h.fault(w, r, "read schema "+schema, err)
		return
	case stopped == nil:
		h.renderError(w, r, http.StatusConflict, fmt.Sprintf("The rollout of %s version %d is not halted; there is nothing to resume.", schema, version))
		return
	}
	h.render(w, r, http.StatusOK, "resume", resumeView{Schema: schema, Version: version, Halt: &stopped.Halt, State: stopped.State})
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	schema, version, err := rolloutPath(r)
	if err != nil {
		h.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	v := viewerFrom(r.Context())
	_, err = h.rollouts.RolloutResume(r.Context(), schema, version)
	status := http.StatusSeeOther
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case err != nil:
		status = http.StatusInternalServerError
	}
	h.audit(r, v.Name, fmt.Sprintf("schemas/%s/rollouts/%d", schema, version), status)
	switch {
	case status == http.StatusNotFound:
		h.renderError(w, r, status, fmt.Sprintf("Schema %s has no version %d.", schema, version))
		return
	case err != nil:
		h.fault(w, r, "resume the rollout", err)
		return
	}
	h.logger.Info().Str("token", v.Name).Str("schema", schema).Int64("version", version).Msg("Resumed rollout from the dashboard")
	http.Redirect(w, r, "/ui/rollouts", http.StatusSeeOther)
}

// audit records a mutation made from the dashboard in the audit log, like
// the API's, under the signed-in token's name.
func (h *Handler) audit(r *http.Request, principal, target string, status int) {
	entry := &store.AuditEntry{
		Time: h.now().UTC().Truncate(time.Microsecond), Principal: principal,
		Action: "POST /ui/rollouts/{schema}/{version}/resume", Target: target, Status: status, RemoteAddr: r.RemoteAddr,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := h.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AuditInsert(ctx, entry) }); err != nil {
		h.logger.Error().Err(err).Msg("Failed to write audit entry")
	}
}
