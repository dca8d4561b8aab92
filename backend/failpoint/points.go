package failpoint

import (
	"os"
	"strconv"
)

// ArmedEnvVar names a file: when it is set, the point EnvVar (or
// PauseEnvVar) names kills (or holds) the process only while that file
// exists. A test starts dbfleetd with both,
// prepares what the operation under test needs (passing the point on the
// way, harmlessly), then creates the file and starts the operation.
const ArmedEnvVar = "DBFLEETD_KILL_ARMED"

// The points between the statements of a step, each a state that a crash
// there leaves distinct from the step's boundaries (package ops names
// those: ops.StepFailpoint). Names are <package>/<action>/<state>; a point
// that a step reaches once per schema version takes the version through
// AtVersion.
const (
	// MigrateApplied: a migration and its ledger row committed in the
	// region; the store does not know yet (versioned).
	MigrateApplied = "ops/migrate/applied-unrecorded"
	// MigrateRecorded: the store records the version; the publication is
	// not refreshed and the health check has not run (versioned).
	MigrateRecorded = "ops/migrate/recorded-unchecked"
	// MigrateRepublished: the source's publication lists the version's
	// tables; the health check has not run (versioned).
	MigrateRepublished = "ops/migrate/republished-unchecked"
	// MigrateChecked: the version passed its health check; the next
	// version's gate was not looked at (versioned).
	MigrateChecked = "ops/migrate/checked"
	// RevertIntent: the store records that the version is being reverted;
	// the region still has it (versioned).
	RevertIntent = "ops/revert/intent-recorded"
	// RevertRan: the down SQL and the ledger delete committed in the
	// region; the store still counts the version (versioned).
	RevertRan = "ops/revert/down-ran-unrecorded"
	// RevertRecorded: the store no longer counts the version (versioned).
	RevertRecorded = "ops/revert/recorded"
	// ReplicatePublished: a replica's source publishes; the replica does
	// not subscribe yet.
	ReplicatePublished = "ops/replicate/published-unsubscribed"
	// ReplicateSourceSubscribed: a source refreshed one replica's
	// subscription; any others are not refreshed yet.
	ReplicateSourceSubscribed = "ops/replicate/source-refreshed-one"
	// RotateIntentRecorded: the store holds the new password (the intent)
	// and the region still accepts the old one.
	RotateIntentRecorded = "rotate-password-intent-recorded"

	// RoleUncommitted: CREATE/ALTER ROLE ran in its transaction, not
	// committed (the crash rolls it back).
	RoleUncommitted = "engine/role/uncommitted"
	// DatabaseCreated: CREATE DATABASE committed; owner and PUBLIC's
	// CONNECT are not set yet.
	DatabaseCreated = "engine/database/created-unconfigured"
	// PublicationRoleEnsured: the source's replication role exists; the
	// grants and the publication are not committed.
	PublicationRoleEnsured = "engine/publication/role-ensured"
	// PublicationUncommitted: the grants and the publication ran in their
	// transaction, not committed.
	PublicationUncommitted = "engine/publication/uncommitted"
	// SubscriptionSlotCleared: a leftover slot of the subscription is
	// dropped on the source; no subscription yet.
	SubscriptionSlotCleared = "engine/subscription/slot-cleared"
	// SubscriptionCreated: CREATE SUBSCRIPTION committed (and its slot made
	// on the source); before PostgreSQL 16 it is disabled and the admin's.
	SubscriptionCreated = "engine/subscription/created"
	// SubscriptionHandedOver: (before 16) the subscription is the
	// database owner's, still disabled.
	SubscriptionHandedOver = "engine/subscription/handed-over-disabled"
	// ResyncTruncated: a replica that lost its subscription has its tables
	// emptied; it does not subscribe yet.
	ResyncTruncated = "engine/subscription/resync-truncated"
	// MigrationSQLRan: a migration's SQL ran in its transaction, the ledger
	// row is not written (versioned).
	MigrationSQLRan = "engine/migration/sql-ran-uncommitted"
	// MigrationDownRan: a migration's down SQL ran in its transaction, the
	// ledger row is not deleted (versioned).
	MigrationDownRan = "engine/migration/down-ran-uncommitted"
	// DumpWritten: pg_dump wrote the whole final backup to its temporary
	// file; it is not renamed into place.
	DumpWritten = "engine/dump/written-unrenamed"
)

// InnerPoints lists every point between the statements of a step. A test
// (points_test.go) checks it against every At call site of the module.
func InnerPoints() []string {
	return []string{
		MigrateApplied, MigrateRecorded, MigrateRepublished, MigrateChecked,
		RevertIntent, RevertRan, RevertRecorded,
		ReplicatePublished, ReplicateSourceSubscribed, RotateIntentRecorded,
		RoleUncommitted, DatabaseCreated, PublicationRoleEnsured, PublicationUncommitted,
		SubscriptionSlotCleared, SubscriptionCreated, SubscriptionHandedOver, ResyncTruncated,
		MigrationSQLRan, MigrationDownRan, DumpWritten,
	}
}

// VersionedPoints are the inner points reached once per schema version,
// killed at through AtVersion.
func VersionedPoints() []string {
	return []string{MigrateApplied, MigrateRecorded, MigrateRepublished, MigrateChecked,
		RevertIntent, RevertRan, RevertRecorded, MigrationSQLRan, MigrationDownRan}
}

// AtVersion names point as reached for a schema version.
func AtVersion(point string, version int64) string {
	return point + "@" + strconv.FormatInt(version, 10)
}

// armed tells whether the armed file, if one is named, exists.
func armed() bool {
	path := os.Getenv(ArmedEnvVar)
	if path == "" {
		return true
	}
	_, err := os.Stat(path)
	return err == nil
}
