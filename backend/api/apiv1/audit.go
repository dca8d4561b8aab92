package apiv1

import "time"

// AuditEntry is one row of the audit log: who did what to what, when, and
// how it ended. One is written per mutating request and per request that
// failed authentication (401) or authorization (403).
type AuditEntry struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Principal is the token's name, or "anonymous".
	Principal string `json:"principal"`
	// Action is the method and route: "PUT /v1/databases/{region}/{name}".
	Action string `json:"action"`
	// Target is the resource named: "databases/westeurope/orders".
	Target     string `json:"target"`
	Status     int    `json:"status"`
	RequestID  string `json:"request_id"`
	RemoteAddr string `json:"remote_addr"`
}

// AuditList is the answer of GET /v1/audit, newest first.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
}
