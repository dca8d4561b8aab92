package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// capabilitiesModel is a region's capabilities in dbfleet_regions.
type capabilitiesModel struct {
	ServerVersion          types.String   `tfsdk:"server_version"`
	ServerVersionNum       types.Int64    `tfsdk:"server_version_num"`
	Superuser              types.Bool     `tfsdk:"superuser"`
	Rights                 rightsModel    `tfsdk:"rights"`
	WalLevel               types.String   `tfsdk:"wal_level"`
	FreeReplicationSlots   types.Int64    `tfsdk:"free_replication_slots"`
	FreeWalSenders         types.Int64    `tfsdk:"free_wal_senders"`
	FreeReplicationWorkers types.Int64    `tfsdk:"free_replication_workers"`
	PgDump                 *pgDumpModel   `tfsdk:"pg_dump"`
	CanCreateDatabases     types.Bool     `tfsdk:"can_create_databases"`
	MissingForDatabases    []types.String `tfsdk:"missing_for_databases"`
	CanPublish             types.Bool     `tfsdk:"can_publish"`
	MissingForPublishing   []types.String `tfsdk:"missing_for_publishing"`
	CanHoldReplicas        types.Bool     `tfsdk:"can_hold_replicas"`
	MissingForReplicas     []types.String `tfsdk:"missing_for_replicas"`
	CanTakeFinalBackups    types.Bool     `tfsdk:"can_take_final_backups"`
	MissingForFinalBackups []types.String `tfsdk:"missing_for_final_backups"`
}

// rightsModel is the admin role's rights in a region's capabilities.
type rightsModel struct {
	CreateDB             types.Bool `tfsdk:"createdb"`
	CreateRole           types.Bool `tfsdk:"createrole"`
	Replication          types.Bool `tfsdk:"replication"`
	PgMonitor            types.Bool `tfsdk:"pg_monitor"`
	PgCreateSubscription types.Bool `tfsdk:"pg_create_subscription"`
}

// pgDumpModel is the pg_dump a region's final backups use.
type pgDumpModel struct {
	Path    types.String `tfsdk:"path"`
	Version types.String `tfsdk:"version"`
}

// newCapabilitiesModel converts a region's capabilities of the API; nil stays nil (null).
func newCapabilitiesModel(c *apiv1.RegionCapabilities) *capabilitiesModel {
	if c == nil {
		return nil
	}
	m := &capabilitiesModel{
		ServerVersion:    types.StringValue(c.ServerVersion),
		ServerVersionNum: types.Int64Value(int64(c.ServerVersionNum)),
		Superuser:        types.BoolValue(c.Superuser),
		Rights: rightsModel{
			CreateDB: types.BoolValue(c.Rights.CreateDB), CreateRole: types.BoolValue(c.Rights.CreateRole),
			Replication: types.BoolValue(c.Rights.Replication), PgMonitor: types.BoolValue(c.Rights.PgMonitor),
			PgCreateSubscription: types.BoolValue(c.Rights.PgCreateSubscription),
		},
		WalLevel:               types.StringValue(c.WalLevel),
		FreeReplicationSlots:   types.Int64Value(int64(c.FreeReplicationSlots)),
		FreeWalSenders:         types.Int64Value(int64(c.FreeWalSenders)),
		FreeReplicationWorkers: types.Int64Value(int64(c.FreeReplicationWorkers)),
		CanCreateDatabases:     types.BoolValue(c.CanCreateDatabases),
		MissingForDatabases:    stringValues(c.MissingForDatabases),
		CanPublish:             types.BoolValue(c.CanPublish),
		MissingForPublishing:   stringValues(c.MissingForPublishing),
		CanHoldReplicas:        types.BoolValue(c.CanHoldReplicas),
		MissingForReplicas:     stringValues(c.MissingForReplicas),
		CanTakeFinalBackups:    types.BoolValue(c.CanTakeFinalBackups),
		MissingForFinalBackups: stringValues(c.MissingForFinalBackups),
	}
	if c.PgDump != nil {
		m.PgDump = &pgDumpModel{Path: types.StringValue(c.PgDump.Path), Version: types.StringValue(c.PgDump.Version)}
	}
	return m
}

// stringValues is ss as Terraform strings: empty, never null, when ss is.
func stringValues(ss []string) []types.String {
	out := make([]types.String, len(ss))
	for i, s := range ss {
		out[i] = types.StringValue(s)
	}
	return out
}

// capabilitiesAttribute describes a region's capabilities in dbfleet_regions.
func capabilitiesAttribute() schema.SingleNestedAttribute {
	computedBool := func(description string) schema.BoolAttribute {
		return schema.BoolAttribute{MarkdownDescription: description, Computed: true}
	}
	computedInt := func(description string) schema.Int64Attribute {
		return schema.Int64Attribute{MarkdownDescription: description, Computed: true}
	}
	missing := func(what string) schema.ListAttribute {
		return schema.ListAttribute{ElementType: types.StringType, Computed: true,
			MarkdownDescription: "What the region lacks to " + what + ", each a sentence naming the right, setting or " +
				"program; empty when nothing is missing."}
	}
	return schema.SingleNestedAttribute{
		MarkdownDescription: "What the region's PostgreSQL server is and what dbfleetd's admin role may do there, as " +
			"dbfleetd probed it a few seconds ago at most. Null while the region does not answer. A `dbfleet_database` " +
			"that needs what a region cannot do fails at plan time with the missing right named: check `can_*` here " +
			"before adding one.",
		Computed: true,
		Attributes: map[string]schema.Attribute{
			"server_version": schema.StringAttribute{MarkdownDescription: "The server's version, such as `16.4`.", Computed: true},
			"server_version_num": computedInt("The server's `server_version_num`, such as `160004`: the major version " +
				"times 10000 plus the minor one."),
			"superuser": computedBool("Whether dbfleetd's admin role is a superuser. Managed services (RDS, Azure " +
				"Flexible Server, Cloud SQL) give a role that is not; every right below is then what decides."),
			"rights": schema.SingleNestedAttribute{
				MarkdownDescription: "The admin role's rights that dbfleet uses; all `true` for a superuser.",
				Computed:            true,
				Attributes: map[string]schema.Attribute{
					"createdb":   computedBool("`CREATEDB`: needed to create databases."),
					"createrole": computedBool("`CREATEROLE`: needed to create each database's owner role."),
					"replication": computedBool("`REPLICATION`: needed, from PostgreSQL 16, to create the role replicas " +
						"connect to a source as."),
					"pg_monitor": computedBool("Membership in `pg_monitor`: lets dbfleetd read replication progress."),
					"pg_create_subscription": computedBool("Membership in `pg_create_subscription` (PostgreSQL 16 and " +
						"newer): needed to hold replicas without a superuser."),
				},
			},
			"wal_level":              schema.StringAttribute{MarkdownDescription: "The server's `wal_level`; a source of replicas needs `logical`.", Computed: true},
			"free_replication_slots": computedInt("How many of `max_replication_slots` are free: each replica of a database in this region takes one here."),
			"free_wal_senders":       computedInt("How many of `max_wal_senders` are free: each replica streaming from this region takes one here."),
			"free_replication_workers": computedInt("How many of `max_logical_replication_workers` are free: each replica " +
				"in this region takes one while it applies changes."),
			"pg_dump": schema.SingleNestedAttribute{
				MarkdownDescription: "The `pg_dump` that final backups of this region's databases use: the oldest that " +
					"dbfleetd found whose major version is at least the server's (pg_dump cannot dump a newer server). " +
					"Null when none is; `missing_for_final_backups` then names what was found.",
				Computed: true,
				Attributes: map[string]schema.Attribute{
					"path":    schema.StringAttribute{MarkdownDescription: "The program's path on dbfleetd's machine.", Computed: true},
					"version": schema.StringAttribute{MarkdownDescription: "Its version, such as `17.6`.", Computed: true},
				},
			},
			"can_create_databases":   computedBool("Whether dbfleet can create databases and their owners here."),
			"missing_for_databases":  missing("create databases"),
			"can_publish":            computedBool("Whether databases here can be the source (`replica_of`) of replicas in other regions."),
			"missing_for_publishing": missing("be a source of replicas"),
			"can_hold_replicas": computedBool("Whether a `dbfleet_database` here can be a replica (`replica_of`). Before " +
				"PostgreSQL 16 only a superuser admin can hold replicas, and never on 14."),
			"missing_for_replicas":      missing("hold replicas"),
			"can_take_final_backups":    computedBool("Whether deleting a database here can take its final backup; when not, a delete needs `skip_final_backup = true`."),
			"missing_for_final_backups": missing("take final backups"),
		},
	}
}
