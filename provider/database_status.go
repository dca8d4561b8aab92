package provider

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// The observed state of a database that both dbfleet_database (the resource)
// and the data source of the same name expose: replication, consistency and
// conditions. One description of each attribute (observedField) builds the
// attribute types, the resource's schema and the data source's schema, so
// the three cannot disagree.

// observedField is a computed attribute of a database's observed state: a
// leaf of type typ, or a nested object of fields (a list of them with list).
type observedField struct {
	name        string
	description string
	typ         attr.Type
	fields      []observedField
	list        bool
}

// Values of replication.state, as dbfleetd reports them.
var replicationStates = []string{"streaming", "stopped", "disabled", "missing", "unknown"}

// Values of consistency.result, as dbfleetd reports them.
var consistencyResults = []string{"consistent", "inconsistent", "failed"}

// Values of replication.tables, as dbfleetd reports them.
var tableSyncStates = []string{"init", "copying", "synced", "ready"}

// timestampRule says how the observed timestamps are spelled.
const timestampRule = "as an RFC 3339 timestamp in UTC, such as `2026-05-01T12:00:00Z`"

var replicationField = observedField{
	name: "replication",
	description: "What the replica's subscription last reported, as dbfleetd reads it every few seconds. " +
		"Null unless the database is a replica (`replica_of` is set). It changes at every refresh and never " +
		"causes a change in a plan.",
	fields: []observedField{
		{name: "state", typ: types.StringType, description: "The subscription's state: one of " +
			quotedList(replicationStates) + ". `stopped` means the subscription has no apply worker: the source " +
			"does not answer or applying a change failed (see `error`); `unknown` that the replica's region did not answer."},
		{name: "lag_bytes", typ: types.Int64Type, description: "How many bytes of the source's write-ahead log " +
			"the replica has yet to confirm."},
		{name: "lag_seconds", typ: types.Float64Type, description: "How long ago, in seconds, the replica last " +
			"heard from the source, as the source sees it."},
		{name: "tables", typ: types.MapType{ElemType: types.StringType}, description: "The sync state of each " +
			"subscribed table by its qualified name, such as `public.orders`: one of " + quotedList(tableSyncStates) +
			". A table is `ready` once its initial copy is done and it follows the source."},
		{name: "error", typ: types.StringType, description: "Why the subscription does not stream. Null when it does."},
		{name: "observed_at", typ: types.StringType, description: "When dbfleetd read this, " + timestampRule +
			". Null before it first did."},
	},
}

var consistencyField = observedField{
	name: "consistency",
	description: "The last comparison of the replica with its source: dbfleetd waits until the replica has " +
		"applied the source's current position, then compares each table's row count and checksums computed in " +
		"chunks by primary key. A check runs on `POST /v1/databases/{region}/{name}:verify` and as a rollout " +
		"health check (`replica_consistent`). Null for a database that is not a replica, and until its first check.",
	fields: []observedField{
		{name: "checked_at", typ: types.StringType, description: "When the check ran, " + timestampRule + "."},
		{name: "result", typ: types.StringType, description: "One of " + quotedList(consistencyResults) +
			". `failed` means the check could not run (a region did not answer, or the replica did not catch up " +
			"in time); `error` says why."},
		{name: "error", typ: types.StringType, description: "Why the check failed. Null unless `result` is `failed`."},
		tableCheckField,
	},
}

// tableCheckField is consistency.tables.
var tableCheckField = observedField{
	name: "tables", list: true, description: "Each compared table.",
	fields: []observedField{
		{name: "name", typ: types.StringType, description: "The table's qualified name, such as `public.orders`."},
		{name: "consistent", typ: types.BoolType, description: "Whether the table holds the same rows on both sides."},
		{name: "source_rows", typ: types.Int64Type, description: "The table's row count on the source."},
		{name: "replica_rows", typ: types.Int64Type, description: "The table's row count on the replica."},
		keyRangeField,
		{name: "error", typ: types.StringType, description: "Why the table could not be compared, such as a " +
			"missing primary key. Null when it was compared."},
	},
}

// keyRangeField is consistency.tables[*].differing_ranges.
var keyRangeField = observedField{
	name: "differing_ranges", list: true,
	description: "The primary key ranges whose rows differ, each from `from` (included) to `to` (excluded). " +
		"Empty when the table is consistent.",
	fields: []observedField{
		{name: "from", typ: types.StringType, description: "The range's first key. Null when the range is open below."},
		{name: "to", typ: types.StringType, description: "The key after the range. Null when the range is open above."},
	},
}

var conditionsField = observedField{
	name: "conditions",
	list: true,
	description: "What dbfleet's reconciler last observed of the database, one element per aspect, in the order `" +
		apiv1.ConditionReady + "`, `" + apiv1.ConditionSynced + "`, `" + apiv1.ConditionDrifted + "`. Empty until " +
		"the reconciler first checked the database. `" + apiv1.ConditionReady + "` says whether the database exists, " +
		"its owner can log in and its region answers; `" + apiv1.ConditionSynced + "` whether a replica's " +
		"subscription streams and has caught up; `" + apiv1.ConditionDrifted + "` whether the region differs from " +
		"the configuration. It changes as the reconciler finds and repairs things and never causes a change in a plan.",
	fields: []observedField{
		{name: "type", typ: types.StringType, description: "The aspect: `" + apiv1.ConditionReady + "`, `" +
			apiv1.ConditionSynced + "` or `" + apiv1.ConditionDrifted + "`."},
		{name: "status", typ: types.StringType, description: "`" + apiv1.ConditionTrue + "` or `" + apiv1.ConditionFalse + "`."},
		{name: "reason", typ: types.StringType, description: "Why, as one CamelCase word that stays the same " +
			"across versions, such as `" + apiv1.ReasonReconciled + "`, `" + apiv1.ReasonHealed + "` or `" +
			apiv1.ReasonDatabaseMissing + "`."},
		{name: "message", typ: types.StringType, description: "The details, for a person."},
		{name: "observed_generation", typ: types.Int64Type, description: "The generation of the database's " +
			"settings that the condition was observed for; dbfleetd counts a generation up at each change of them."},
		{name: "last_transition_time", typ: types.StringType, description: "When `status` or `reason` last " +
			"changed, " + timestampRule + "."},
	},
}

// attrType is the Terraform type of f's values.
func (f observedField) attrType() attr.Type {
	if f.fields == nil {
		return f.typ
	}
	obj := types.ObjectType{AttrTypes: f.objectAttrTypes()}
	if f.list {
		return types.ListType{ElemType: obj}
	}
	return obj
}

// objectAttrTypes are the attribute types of f's nested object.
func (f observedField) objectAttrTypes() map[string]attr.Type {
	out := make(map[string]attr.Type, len(f.fields))
	for _, c := range f.fields {
		out[c.name] = c.attrType()
	}
	return out
}

// resourceAttribute is f as a computed attribute of a resource schema.
func (f observedField) resourceAttribute() rschema.Attribute {
	nested := func() map[string]rschema.Attribute {
		out := make(map[string]rschema.Attribute, len(f.fields))
		for _, c := range f.fields {
			out[c.name] = c.resourceAttribute()
		}
		return out
	}
	switch {
	case f.fields != nil && f.list:
		return rschema.ListNestedAttribute{MarkdownDescription: f.description, Computed: true,
			NestedObject: rschema.NestedAttributeObject{Attributes: nested()}}
	case f.fields != nil:
		return rschema.SingleNestedAttribute{MarkdownDescription: f.description, Computed: true, Attributes: nested()}
	}
	switch t := f.typ.(type) {
	case types.MapType:
		return rschema.MapAttribute{MarkdownDescription: f.description, Computed: true, ElementType: t.ElemType}
	}
	switch f.typ {
	case types.Int64Type:
		return rschema.Int64Attribute{MarkdownDescription: f.description, Computed: true}
	case types.Float64Type:
		return rschema.Float64Attribute{MarkdownDescription: f.description, Computed: true}
	case types.BoolType:
		return rschema.BoolAttribute{MarkdownDescription: f.description, Computed: true}
	}
	return rschema.StringAttribute{MarkdownDescription: f.description, Computed: true}
}

// dataSourceAttribute is f as a computed attribute of a data source schema.
func (f observedField) dataSourceAttribute() dschema.Attribute {
	nested := func() map[string]dschema.Attribute {
		out := make(map[string]dschema.Attribute, len(f.fields))
		for _, c := range f.fields {
			out[c.name] = c.dataSourceAttribute()
		}
		return out
	}
	switch {
	case f.fields != nil && f.list:
		return dschema.ListNestedAttribute{MarkdownDescription: f.description, Computed: true,
			NestedObject: dschema.NestedAttributeObject{Attributes: nested()}}
	case f.fields != nil:
		return dschema.SingleNestedAttribute{MarkdownDescription: f.description, Computed: true, Attributes: nested()}
	}
	switch t := f.typ.(type) {
	case types.MapType:
		return dschema.MapAttribute{MarkdownDescription: f.description, Computed: true, ElementType: t.ElemType}
	}
	switch f.typ {
	case types.Int64Type:
		return dschema.Int64Attribute{MarkdownDescription: f.description, Computed: true}
	case types.Float64Type:
		return dschema.Float64Attribute{MarkdownDescription: f.description, Computed: true}
	case types.BoolType:
		return dschema.BoolAttribute{MarkdownDescription: f.description, Computed: true}
	}
	return dschema.StringAttribute{MarkdownDescription: f.description, Computed: true}
}

// elemType is the object type of the elements of f, a list of objects.
func (f observedField) elemType() types.ObjectType {
	return types.ObjectType{AttrTypes: f.objectAttrTypes()}
}

// replicationValue is the replication attribute for r; null when nil.
func replicationValue(r *apiv1.ReplicationStatus) types.Object {
	attrTypes := replicationField.objectAttrTypes()
	if r == nil {
		return types.ObjectNull(attrTypes)
	}
	tables := make(map[string]attr.Value, len(r.Tables))
	for name, state := range r.Tables {
		tables[name] = types.StringValue(state)
	}
	return types.ObjectValueMust(attrTypes, map[string]attr.Value{
		"state":       types.StringValue(r.State),
		"lag_bytes":   types.Int64Value(r.LagBytes),
		"lag_seconds": types.Float64Value(r.LagSeconds),
		"tables":      types.MapValueMust(types.StringType, tables),
		"error":       stringOrNull(r.Error),
		"observed_at": timestampOrNull(r.ObservedAt),
	})
}

// consistencyValue is the consistency attribute for c; null when nil.
func consistencyValue(c *apiv1.ConsistencyCheck) types.Object {
	attrTypes := consistencyField.objectAttrTypes()
	if c == nil {
		return types.ObjectNull(attrTypes)
	}
	tables := make([]attr.Value, len(c.Tables))
	for i, t := range c.Tables {
		ranges := make([]attr.Value, len(t.DifferingRanges))
		for j, kr := range t.DifferingRanges {
			ranges[j] = types.ObjectValueMust(keyRangeField.objectAttrTypes(), map[string]attr.Value{
				"from": stringOrNull(kr.From),
				"to":   stringOrNull(kr.To),
			})
		}
		tables[i] = types.ObjectValueMust(tableCheckField.objectAttrTypes(), map[string]attr.Value{
			"name":             types.StringValue(t.Table),
			"consistent":       types.BoolValue(t.Consistent),
			"source_rows":      types.Int64Value(t.SourceRows),
			"replica_rows":     types.Int64Value(t.ReplicaRows),
			"differing_ranges": types.ListValueMust(keyRangeField.elemType(), ranges),
			"error":            stringOrNull(t.Error),
		})
	}
	return types.ObjectValueMust(attrTypes, map[string]attr.Value{
		"checked_at": timestampOrNull(c.CheckedAt),
		"result":     types.StringValue(c.Result),
		"error":      stringOrNull(c.Error),
		"tables":     types.ListValueMust(tableCheckField.elemType(), tables),
	})
}

// conditionsValue is the conditions attribute for conditions; an empty
// list when there are none.
func conditionsValue(conditions []apiv1.Condition) types.List {
	elems := make([]attr.Value, len(conditions))
	for i, c := range conditions {
		elems[i] = types.ObjectValueMust(conditionsField.objectAttrTypes(), map[string]attr.Value{
			"type":                 types.StringValue(c.Type),
			"status":               types.StringValue(c.Status),
			"reason":               types.StringValue(c.Reason),
			"message":              types.StringValue(c.Message),
			"observed_generation":  types.Int64Value(c.ObservedGeneration),
			"last_transition_time": timestampOrNull(c.LastTransitionTime),
		})
	}
	return types.ListValueMust(conditionsField.elemType(), elems)
}

// timestampOrNull spells t in RFC 3339 in UTC, or null when it is zero.
func timestampOrNull(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}
