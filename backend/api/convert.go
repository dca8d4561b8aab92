package api

import (
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
		AppliedVersion: db.AppliedVersion, RolloutWave: wave,
		Status: db.Status, Host: host, Port: port, Owner: db.Owner, Password: db.Password,
		Generation: db.Generation, ObservedGeneration: db.ObservedGeneration,
		OperationID: db.OperationID, CreatedAt: db.CreatedAt, UpdatedAt: db.UpdatedAt,
	}
}

// etag is a strong entity tag: a hash of the representation a GET returns.
func etag(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
