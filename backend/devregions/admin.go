package devregions

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminKind is the kind of role a dev region hands dbfleetd as its admin.
type AdminKind string

const (
	// AdminSuperuser makes the region's admin the cluster's superuser, as a self-run PostgreSQL has.
	AdminSuperuser AdminKind = "superuser"
	// AdminManaged makes the region's admin a role like the ones RDS, Azure Flexible Server and
	// Cloud SQL hand out: NOSUPERUSER CREATEDB CREATEROLE REPLICATION, a member of pg_monitor and,
	// on PostgreSQL 16 and later, of pg_create_subscription. The superuser stays for tests and
	// operators (Region.SuperuserDSN).
	AdminManaged AdminKind = "managed"
)

// AdminKinds are the valid AdminKind values, the default first.
var AdminKinds = []AdminKind{AdminSuperuser, AdminManaged}

// EnvAdmin names the environment variable that sets the admin kind of dev regions where no flag or
// option does: `dbfleetd dev`'s --admin default, and daemontest's fleets.
const EnvAdmin = "DBFLEET_DEV_ADMIN"

const (
	// adminUser is the role dbfleetd administers a dev region as: the superuser initdb makes in a
	// superuser region, the managed-like role in a managed one.
	adminUser = "dbfleet_admin"
	// managedSuperuser is the superuser initdb makes in a managed region, kept from dbfleetd.
	managedSuperuser = "dbfleet_superuser"
	// adminSetupTimeout bounds the creation of the managed-like admin role.
	adminSetupTimeout = 30 * time.Second
)

// ParseAdminKind returns the AdminKind s names; "" is AdminSuperuser.
func ParseAdminKind(s string) (AdminKind, error) {
	if s == "" {
		return AdminSuperuser, nil
	}
	for _, k := range AdminKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("admin kind %q is not one of %s", s, adminKindList())
}

// AdminKindFromEnv returns the admin kind DBFLEET_DEV_ADMIN names, or AdminSuperuser when it is
// unset or empty.
func AdminKindFromEnv() (AdminKind, error) {
	k, err := ParseAdminKind(os.Getenv(EnvAdmin))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", EnvAdmin, err)
	}
	return k, nil
}

func adminKindList() string {
	names := make([]string, len(AdminKinds))
	for i, k := range AdminKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// ensureManagedAdmin creates the managed-like admin role of a running region when it is missing,
// connected as the superuser. The role and its memberships are created in one transaction, so an
// interrupted start leaves either all of it or nothing, and the next start finishes the job.
func ensureManagedAdmin(ctx context.Context, r Region) error {
	ctx, cancel := context.WithTimeout(ctx, adminSetupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.SuperuserDSN())
	if err != nil {
		return fmt.Errorf("connecting as the superuser %s to create the admin role: %w", r.SuperuserUser, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	var versionNum int
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1),
		pg_catalog.current_setting('server_version_num')::int`, r.AdminUser).Scan(&exists, &versionNum)
	if err != nil {
		return fmt.Errorf("looking up the admin role %s: %w", r.AdminUser, err)
	}
	if exists {
		return nil
	}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range managedAdminStatements(r.AdminUser, r.AdminPassword, versionNum) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				// The statement holds the password, so only the error is told.
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("creating the admin role %s: %w", r.AdminUser, err)
	}
	return nil
}

// managedAdminStatements create the role name with what managed PostgreSQL services give their
// admin. CREATE ROLE takes no bind parameters, so the password goes in as a literal; it is one of
// rand.Text's characters, but is escaped all the same (standard_conforming_strings is on).
func managedAdminStatements(name, password string, versionNum int) []string {
	role := pgx.Identifier{name}.Sanitize()
	stmts := []string{
		"CREATE ROLE " + role + " LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION NOBYPASSRLS INHERIT PASSWORD " +
			"'" + strings.ReplaceAll(password, "'", "''") + "'",
		"GRANT pg_monitor TO " + role,
	}
	if versionNum >= 160000 {
		stmts = append(stmts, "GRANT pg_create_subscription TO "+role)
	}
	return stmts
}
