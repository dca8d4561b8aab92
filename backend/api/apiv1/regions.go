package apiv1

// RegionCapabilities is what a region's server is and what its admin role may do there, as
// dbfleetd last probed it (a few seconds ago at most).
type RegionCapabilities struct {
	// ServerVersion is the server's version as it reports it, such as "16.4";
	// ServerVersionNum its server_version_num, such as 160004.
	ServerVersion    string `json:"server_version"`
	ServerVersionNum int    `json:"server_version_num"`
	// Superuser tells whether the admin role is a superuser; every right is then present.
	Superuser bool         `json:"superuser"`
	Rights    RegionRights `json:"rights"`
	// WalLevel is the server's wal_level; a source of replicas needs "logical".
	WalLevel string `json:"wal_level"`
	// FreeReplicationSlots, FreeWalSenders and FreeReplicationWorkers are what is left of
	// max_replication_slots, max_wal_senders and max_logical_replication_workers.
	FreeReplicationSlots   int `json:"free_replication_slots"`
	FreeWalSenders         int `json:"free_wal_senders"`
	FreeReplicationWorkers int `json:"free_replication_workers"`
	// PgDump is the pg_dump final backups of this region use; nil when none at least as new
	// as the server was found (MissingForFinalBackups says which were).
	PgDump *PgDump `json:"pg_dump"`
	// Each Can… tells whether the region can do it; the matching Missing… lists what it
	// lacks for it, empty when nothing.
	CanCreateDatabases     bool     `json:"can_create_databases"`
	MissingForDatabases    []string `json:"missing_for_databases"`
	CanPublish             bool     `json:"can_publish"`
	MissingForPublishing   []string `json:"missing_for_publishing"`
	CanHoldReplicas        bool     `json:"can_hold_replicas"`
	MissingForReplicas     []string `json:"missing_for_replicas"`
	CanTakeFinalBackups    bool     `json:"can_take_final_backups"`
	MissingForFinalBackups []string `json:"missing_for_final_backups"`
}

// RegionRights are the rights of a region's admin role that dbfleet uses.
type RegionRights struct {
	CreateDB             bool `json:"createdb"`
	CreateRole           bool `json:"createrole"`
	Replication          bool `json:"replication"`
	PgMonitor            bool `json:"pg_monitor"`
	PgCreateSubscription bool `json:"pg_create_subscription"`
}

// PgDump is a pg_dump program and its version.
type PgDump struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// Details keys of failed_precondition and name_taken errors.
const (
	// DetailField names the request field at fault, such as "region", "replica_of" or "name".
	DetailField = "field"
	// DetailRegion names the region that cannot do what was asked.
	DetailRegion = "region"
	// DetailAction is what the region cannot do, such as "hold replicas".
	DetailAction = "action"
	// DetailMissing lists what the region lacks, separated by "; ".
	DetailMissing = "missing"
	// DetailObject names what already has the name, such as `role "pay_owner"`.
	DetailObject = "object"
)
