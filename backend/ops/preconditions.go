package ops

import (
	"context"
	"errors"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// PreconditionError is a request that a region cannot carry out, with the request field that
// asks for it, such as "replica_of" for a replica whose region cannot hold one.
type PreconditionError struct {
	Field   string
	Missing *engine.MissingError
}

func (e *PreconditionError) Error() string { return e.Missing.Error() }

// Unwrap makes a PreconditionError its *engine.MissingError.
func (e *PreconditionError) Unwrap() error { return e.Missing }

// checkApply is checkRegions for a PUT, which reads the database's record itself: the check
// talks to the regions, which the transaction that records the change must not wait on.
func (m *Manager) checkApply(ctx context.Context, params *DatabaseApplyParams) error {
	current, err := m.store.DatabaseGet(ctx, store.DatabaseKey{Region: params.Region, Name: params.Name})
	if errors.Is(err, store.ErrNotFound) {
		current = nil
	} else if err != nil {
		return err
	}
	return m.checkRegions(ctx, current, params)
}

// checkRegions refuses what the regions cannot do for params, before anything is recorded:
// creating a database where the admin lacks CREATEDB or CREATEROLE or where the name is taken,
// and a new replica whose region cannot subscribe, whose source's region cannot publish, or
// either has no replication slot or worker left. current is the database's record, nil when
// there is none. A region that does not answer is not refused here: the operation retries it.
func (m *Manager) checkRegions(ctx context.Context, current *store.Database, params *DatabaseApplyParams) error {
	created := current != nil && current.ObservedGeneration > 0
	if created {
		return nil
	}
	caps, ok := m.capabilities(ctx, params.Region)
	if !ok {
		return nil
	}
	if missing := caps.MissingForDatabases(); missing != nil {
		return refuse("region", params.Region, "create databases", missing, "")
	}
	if err := m.regions.NameCheck(ctx, params.Region, params.Name, OwnerRoleName(params.Name)); err != nil {
		var taken *engine.NameTakenError
		if errors.As(err, &taken) {
			return err
		}
		m.logger.Warn().Str("region", params.Region).Str("database", params.Name).Err(err).Msg("Name check failed")
	}
	if params.ReplicaOf == "" || params.ReplicaOf == params.Region || !m.regions.Has(params.ReplicaOf) {
		return nil // planApply says what is wrong with such a replica_of
	}
	if missing := caps.MissingForSubscribing(); missing != nil {
		return refuse("replica_of", params.Region, "hold replicas", missing, "keep this database out of replica_of, or replicate into a region that can")
	}
	if caps.FreeReplicationWorkers < 1 {
		return refuse("replica_of", params.Region, "hold another replica",
			[]string{"a free logical replication worker (every one of max_logical_replication_workers is in use)"}, "")
	}
	src, ok := m.capabilities(ctx, params.ReplicaOf)
	if !ok {
		return nil
	}
	if missing := src.MissingForPublishing(); missing != nil {
		return refuse("replica_of", params.ReplicaOf, "be the source of replicas", missing, "")
	}
	var full []string
	if src.FreeReplicationSlots < 1 {
		full = append(full, "a free replication slot (every one of max_replication_slots is in use)")
	}
	if src.FreeWalSenders < 1 {
		full = append(full, "a free WAL sender (every one of max_wal_senders is in use)")
	}
	if full != nil {
		return refuse("replica_of", params.ReplicaOf, "be the source of another replica", full, "")
	}
	return nil
}

// checkDelete refuses to delete a database that needs a final backup when its region has no
// pg_dump that can dump its server, so that nothing is dropped without one. What the delete's
// transaction refuses anyway (a database that does not exist or is protected) it leaves to it.
func (m *Manager) checkDelete(ctx context.Context, key store.DatabaseKey) error {
	db, err := m.store.DatabaseGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if db.SkipFinalBackup || db.DeletionProtection {
		return nil
	}
	caps, ok := m.capabilities(ctx, db.Region)
	if !ok || caps.PgDump != nil {
		return nil
	}
	return &PreconditionError{Field: "skip_final_backup", Missing: engine.FinalBackupMissing(db.Region, caps)}
}

// checkReplication fails the replicate step of a replica, before it touches the regions, with
// the error the plan would have given had the regions lost a right since.
func (m *Manager) checkReplication(ctx context.Context, db *store.Database) error {
	if db.ReplicaOf == "" {
		return nil
	}
	if caps, ok := m.capabilities(ctx, db.Region); ok {
		if missing := caps.MissingForSubscribing(); missing != nil {
			return refuse("replica_of", db.Region, "hold replicas", missing, "")
		}
	}
	if src, ok := m.capabilities(ctx, db.ReplicaOf); ok {
		if missing := src.MissingForPublishing(); missing != nil {
			return refuse("replica_of", db.ReplicaOf, "be the source of replicas", missing, "")
		}
	}
	return nil
}

// probeTimeout bounds a region's capability probe in a check: a region that does not answer
// is not refused, and is not waited on either.
const probeTimeout = 3 * time.Second

// capabilities returns a region's probed capabilities, or false when it does not answer.
func (m *Manager) capabilities(ctx context.Context, region string) (*engine.Capabilities, bool) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	caps, err := m.regions.RegionCapabilities(ctx, region)
	if err != nil {
		m.logger.Warn().Str("region", region).Err(err).Msg("Region capabilities unknown; not checked")
		return nil, false
	}
	return caps, true
}

func refuse(field, region, action string, missing []string, hint string) error {
	return &PreconditionError{Field: field, Missing: &engine.MissingError{Region: region, Action: action, Missing: missing, Hint: hint}}
}

// stepErrorCode is the code an operation that failed on err ends with, when err says more than
// that a step failed: a region that cannot do what the step needs, or a name someone else has.
func stepErrorCode(err error, fallback string) string {
	var missing *engine.MissingError
	var taken *engine.NameTakenError
	switch {
	case errors.As(err, &missing):
		return apiv1.CodeFailedPrecondition
	case errors.As(err, &taken):
		return apiv1.CodeNameTaken
	}
	return fallback
}
