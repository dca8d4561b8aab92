package api

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

func wireOperation(op *store.Operation) apiv1.Operation {
	out := apiv1.Operation{
		ID: op.ID, Kind: op.Kind, Target: ops.Target(op.Region, op.Database),
		State: op.State, Progress: op.Progress,
		CreatedAt: op.CreatedAt, UpdatedAt: op.UpdatedAt,
	}
	switch op.State {
	case apiv1.OperationSucceeded, apiv1.OperationFailed, apiv1.OperationCancelled:
		out.Done = true
	}
	if op.Error != nil {
		out.Error = &apiv1.OperationError{Code: op.Error.Code, Message: op.Error.Message, Region: op.Error.Region, Step: op.Error.Step}
	}
	return out
}

func (s *Server) wireDatabase(db *store.Database, wave int) apiv1.Database {
	host, port, _ := s.regions.Endpoint(db.Region)
	return apiv1.Database{
		Region: db.Region, Name: db.Name,
		DeletionProtection: db.DeletionProtection, SkipFinalBackup: db.SkipFinalBackup,
		Schema: db.Schema, SchemaVersion: db.SchemaVersion, Parameters: db.Parameters,
		AppliedVersion: db.AppliedVersion, RolloutWave: wave, ReplicaOf: db.ReplicaOf,
		Status: db.Status, Host: host, Port: port, Owner: db.Owner, Password: db.Password,
		Generation: db.Generation, ObservedGeneration: db.ObservedGeneration,
		OperationID: db.OperationID, CreatedAt: db.CreatedAt, UpdatedAt: db.UpdatedAt,
		DriftPolicy: cmp.Or(db.DriftPolicy, apiv1.DriftPolicyHeal), Conditions: wireConditions(db.Conditions),
	}
}

func wireReplication(r *store.Replication) (*apiv1.ReplicationStatus, *apiv1.ConsistencyCheck) {
	st := &apiv1.ReplicationStatus{State: r.Status.State, Tables: r.Status.Tables, LagBytes: r.Status.LagBytes,
		LagSeconds: r.Status.LagSeconds, Error: r.Status.Error, ObservedAt: r.Status.ObservedAt}
	if st.State == "" {
		st.State = "unknown"
	}
	if r.Consistency.Result == "" {
		return st, nil
	}
	c := &apiv1.ConsistencyCheck{CheckedAt: r.Consistency.CheckedAt, Result: r.Consistency.Result, Error: r.Consistency.Error}
	for _, t := range r.Consistency.Tables {
		tc := apiv1.TableCheck{Table: t.Table, Consistent: t.Consistent, SourceRows: t.SourceRows, ReplicaRows: t.ReplicaRows, Error: t.Error}
		for _, kr := range t.DifferingRanges {
			tc.DifferingRanges = append(tc.DifferingRanges, apiv1.KeyRange{From: kr.From, To: kr.To})
		}
		c.Tables = append(c.Tables, tc)
	}
	return st, c
}

// etag is a strong entity tag: a hash of the representation a GET returns,
// without the password, so callers who may not see it get the same tag.
func etag(db apiv1.Database) string {
	db.Password = ""
	b, _ := json.Marshal(db)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
