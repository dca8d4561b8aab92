package store

import "time"

// AuditAnonymous is the principal of an audit entry whose request carried no
// valid token.
const AuditAnonymous = "anonymous"

// AuditEntry is one row of the audit log: who did what to what, when, and
// how it ended.
type AuditEntry struct {
	// ID orders entries; it is assigned by AuditInsert.
	ID   int64
	Time time.Time
	// Principal is the token's name, or AuditAnonymous.
	Principal string
	// Action is the method and route, such as
	// "PUT /v1/databases/{region}/{name}" or
	// "POST /v1/operations/{id}:cancel".
	Action string
	// Target is the resource the request named, such as
	// "databases/westeurope/orders".
	Target     string
	Status     int
	RequestID  string
	RemoteAddr string
}

// AuditListParams selects audit entries, newest first.
type AuditListParams struct {
	// Limit caps the rows returned; 0 means 100.
	Limit int
	// BeforeID, when not 0, returns only entries older than that one.
	BeforeID int64
}
