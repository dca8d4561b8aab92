package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/ops"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// databaseKey reads and validates the {region}/{name} of a database path.
func databaseKey(r *http.Request) (store.DatabaseKey, error) {
	key := store.DatabaseKey{Region: r.PathValue("region"), Name: r.PathValue("name")}
	if err := engine.ValidateIdentifier("region", key.Region); err != nil {
		return key, badRequest(err.Error())
	}
	if err := engine.ValidateIdentifier("database", key.Name); err != nil {
		return key, badRequest(err.Error())
	}
	return key, nil
}

func (s *Server) databaseGet(w http.ResponseWriter, r *http.Request) error {
	key, err := databaseKey(r)
	if err != nil {
		return err
	}
	db, err := s.store.DatabaseGet(r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("database %s does not exist in region %s: %w", key.Name, key.Region, err)
	}
	if err != nil {
		return err
	}
	out, err := s.databaseView(r, db)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(out))
	// The owner's password opens the tenant's data: only callers who may
	// change the database see it.
	if p := principalFrom(r.Context()); p == nil || scopeRank[p.Scope] < scopeRank[scopeWrite] {
		out.Password = ""
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) databaseList(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "region")
	if err != nil {
		return err
	}
	region := q.Get("region")
	if q.Has("region") {
		if err := engine.ValidateIdentifier("region", region); err != nil {
			return fieldError("region", err.Error())
		}
	}
	dbs, err := s.store.DatabaseList(r.Context(), &store.DatabaseListParams{Region: region})
	if err != nil {
		return err
	}
	out := apiv1.DatabaseList{Databases: make([]apiv1.Database, 0, len(dbs))}
	waves := map[string][][]string{}
	for _, db := range dbs {
		// A listing never carries passwords; GET one database for its own.
		wire := s.wireDatabase(db, s.rolloutWave(r, db, waves))
		wire.Password = ""
		out.Databases = append(out.Databases, wire)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// databaseView is a database as GET answers it, replication included.
func (s *Server) databaseView(r *http.Request, db *store.Database) (apiv1.Database, error) {
	out := s.wireDatabase(db, s.rolloutWave(r, db, map[string][][]string{}))
	if db.ReplicaOf != "" {
		repl, err := s.store.ReplicationGet(r.Context(), db.Key())
		if err != nil {
			return out, err
		}
		out.Replication, out.Consistency = wireReplication(repl)
	}
	return out, nil
}

// databaseApplyParams reads a database's path and spec.
func databaseApplyParams(r *http.Request) (*ops.DatabaseApplyParams, error) {
	key, err := databaseKey(r)
	if err != nil {
		return nil, err
	}
	var spec apiv1.DatabaseSpec
	if err := decodeBody(r, &spec, false); err != nil {
		return nil, err
	}
	if spec.Schema != "" {
		if err := engine.ValidateIdentifier("schema", spec.Schema); err != nil {
			return nil, fieldError("schema", err.Error())
		}
	}
	if spec.ReplicaOf != "" {
		if err := engine.ValidateIdentifier("region", spec.ReplicaOf); err != nil {
			return nil, fieldError("replica_of", "replica_of: "+err.Error())
		}
	}
	if spec.SchemaVersion < 0 {
		return nil, fieldError("schema_version", "schema_version must not be negative")
	}
	return &ops.DatabaseApplyParams{
		Region: key.Region, Name: key.Name,
		DeletionProtection: spec.DeletionProtection, SkipFinalBackup: spec.SkipFinalBackup,
		Schema: spec.Schema, SchemaVersion: spec.SchemaVersion, Parameters: spec.Parameters,
		ReplicaOf: spec.ReplicaOf, DriftPolicy: spec.DriftPolicy,
		RequestID: requestIDFrom(r.Context()),
	}, nil
}

func (s *Server) databasePut(w http.ResponseWriter, r *http.Request) error {
	params, err := databaseApplyParams(r)
	if err != nil {
		return err
	}
	// Checked before the transaction that stores the spec: a value the
	// region refuses is a 400, and nothing is stored.
	if err := s.operations.DatabaseParametersCheck(r.Context(), params); err != nil {
		return err
	}
	params.Precondition = s.ifMatch(r)
	op, err := s.operations.DatabaseApply(r.Context(), params)
	if err != nil {
		return err
	}
	writeOperationAccepted(w, op)
	return nil
}

// databaseVerify answers POST /v1/databases/{region}/{name}:verify.
func (s *Server) databaseVerify(w http.ResponseWriter, r *http.Request) error {
	key, err := databaseKey(r)
	if err != nil {
		return err
	}
	op, err := s.operations.DatabaseVerify(r.Context(), key.Region, key.Name, requestIDFrom(r.Context()))
	if err != nil {
		return err
	}
	writeOperationAccepted(w, op)
	return nil
}

func (s *Server) databaseDelete(w http.ResponseWriter, r *http.Request) error {
	key, err := databaseKey(r)
	if err != nil {
		return err
	}
	op, err := s.operations.DatabaseDelete(r.Context(), &ops.DatabaseDeleteParams{
		Region: key.Region, Name: key.Name,
		RequestID:    requestIDFrom(r.Context()),
		Precondition: s.ifMatch(r),
	})
	if err != nil {
		return err
	}
	writeOperationAccepted(w, op)
	return nil
}

// ifMatch checks If-Match against the database's current ETag, inside the
// transaction that changes it.
func (s *Server) ifMatch(r *http.Request) func(*store.Database) error {
	header := r.Header.Get("If-Match")
	if header == "" {
		return nil
	}
	return func(current *store.Database) error {
		if current != nil {
			view, err := s.databaseView(r, current)
			if err != nil {
				return err
			}
			tag := etag(view)
			for _, want := range strings.Split(header, ",") {
				if want = strings.TrimSpace(want); want == "*" || want == tag {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: If-Match %s does not match the database's current ETag; GET it again and retry", ops.ErrPreconditionFailed, header)
	}
}

// writeOperationAccepted answers a mutation: 202, where to poll, and when.
func writeOperationAccepted(w http.ResponseWriter, op *store.Operation) {
	w.Header().Set(apiv1.HeaderOperationLocation, "/v1/operations/"+op.ID)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusAccepted, wireOperation(op))
}
