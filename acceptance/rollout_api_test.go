package acceptance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// apiGet reads path from dbfleetd's API into v. Unlike fleet.api(), it
// returns errors rather than failing the test, so that goroutines and
// checks can use it.
func apiGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fleet.endpoint+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+fleet.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decoding %s: %w", path, body, err)
	}
	return nil
}

// apiDatabase is what dbfleetd's API says of the database name in region.
func apiDatabase(ctx context.Context, region, name string) (apiv1.Database, error) {
	var db apiv1.Database
	err := apiGet(ctx, databasePath(region, name), &db)
	fleet.secrets.add(db.Password, "the password of database "+region+"/"+name)
	return db, err
}

// apiOperations lists the operations on the database name in region,
// newest first.
func apiOperations(ctx context.Context, region, name string) ([]apiv1.Operation, error) {
	var list apiv1.OperationList
	q := url.Values{"target": {"databases/" + region + "/" + name}}
	err := apiGet(ctx, "/v1/operations?"+q.Encode(), &list)
	return list.Operations, err
}

// apiSchema is what dbfleetd's API says of a schema.
func apiSchema(ctx context.Context, name string) (apiv1.Schema, error) {
	var s apiv1.Schema
	err := apiGet(ctx, schemaPath(name), &s)
	return s, err
}

// schemaPath is a schema's path in dbfleetd's API.
func schemaPath(name string) string {
	return "/v1/schemas/" + name
}

// rolloutOf returns the rollout of version in s.
func rolloutOf(s apiv1.Schema, version int64) (apiv1.Rollout, error) {
	for _, r := range s.Rollouts {
		if r.Version == version {
			return r, nil
		}
	}
	return apiv1.Rollout{}, fmt.Errorf("schema %s lists no rollout of version %d: %+v", s.Name, version, s.Rollouts)
}

// waitForDatabase polls dbfleetd's API until cond holds of the database
// name in region, and returns it; it fails after timeout with the last
// state seen.
func waitForDatabase(ctx context.Context, region, name string, timeout time.Duration, cond func(apiv1.Database) bool) (apiv1.Database, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		db, err := apiDatabase(ctx, region, name)
		if err == nil && cond(db) {
			return db, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return db, fmt.Errorf("waiting for %s/%s: %w", region, name, err)
			}
			return db, fmt.Errorf("database %s/%s did not reach the expected state within %s; it is %s at version %d (operation %s)",
				region, name, timeout, db.Status, db.AppliedVersion, db.OperationID)
		case <-tick.C:
		}
	}
}
