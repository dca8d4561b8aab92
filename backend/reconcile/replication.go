package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const checkSubscription = "subscription"

// subscription checks a replica's subscription: a missing one is made
// again (its tables are emptied and copied from the source anew), a
// disabled one enabled; and it sets the Synced condition from what the
// subscription reports.
func (c *checker) subscription(ctx context.Context) {
	db := c.o.db
	src, err := c.source(ctx)
	if err != nil {
		c.o.fail(checkSubscription, err)
		return
	}
	st, err := c.r.subs.ReplicationStatusOf(ctx, db.Region, db.Name, src)
	if err != nil {
		c.o.fail(checkSubscription, err)
		return
	}
	switch st.State {
	case "missing":
		f := c.find(checkSubscription, apiv1.ReasonSubscriptionMissing, fmt.Sprintf(
			"replica %s in %s has no subscription to its source in %s", db.Name, db.Region, db.ReplicaOf))
		if c.repair(ctx, f, "Resubscribed", func() (string, error) {
			return fmt.Sprintf("emptied the replica's tables and subscribed it to %s again, copying the source's rows", db.ReplicaOf),
				c.r.subs.SubscriptionResync(ctx, engine.Owner{Region: db.Region, Database: db.Name, Role: db.Owner, Password: db.Password}, src)
		}) {
			c.synced(apiv1.ConditionFalse, apiv1.ReasonCatchingUp, "resubscribed; copying the source's rows")
			return
		}
		c.synced(apiv1.ConditionFalse, apiv1.ReasonSubscriptionMissing, f.message)
		return
	case "disabled":
		f := c.find(checkSubscription, apiv1.ReasonSubscriptionDisabled, fmt.Sprintf(
			"the subscription of replica %s in %s is disabled", db.Name, db.Region))
		if c.repair(ctx, f, "SubscriptionEnabled", func() (string, error) {
			return "enabled the subscription again", c.r.subs.SubscriptionEnsure(ctx, db.Region, db.Name, src)
		}) {
			c.synced(apiv1.ConditionFalse, apiv1.ReasonCatchingUp, "subscription enabled again")
			return
		}
		c.synced(apiv1.ConditionFalse, apiv1.ReasonSubscriptionDisabled, f.message)
		return
	case "stopped":
		if strings.Contains(st.Error, "source region does not answer") {
			c.synced(apiv1.ConditionFalse, apiv1.ReasonSourceUnavailable, fmt.Sprintf(
				"the source region %s does not answer; the replica catches up when it does", db.ReplicaOf))
			return
		}
		c.synced(apiv1.ConditionFalse, apiv1.ReasonSubscriptionStopped, st.Error)
		return
	}
	if missingKey := c.tablesWithoutKey(ctx); len(missingKey) > 0 {
		c.synced(apiv1.ConditionFalse, apiv1.ReasonMissingPrimaryKey, fmt.Sprintf(
			"tables %s have no primary key: logical replication needs one (a replica identity) to replicate updates and deletes, and the source refuses them; add a primary key",
			strings.Join(missingKey, ", ")))
		return
	}
	var copying []string
	for _, table := range slices.Sorted(maps.Keys(st.Tables)) {
		if st.Tables[table] != "ready" {
			copying = append(copying, table+" ("+st.Tables[table]+")")
		}
	}
	if len(copying) > 0 {
		c.synced(apiv1.ConditionFalse, apiv1.ReasonCatchingUp, "copying tables: "+strings.Join(copying, ", "))
		return
	}
	c.synced(apiv1.ConditionTrue, apiv1.ReasonStreaming, fmt.Sprintf(
		"streaming from %s; %d bytes behind", db.ReplicaOf, st.LagBytes))
}

func (c *checker) synced(status, reason, message string) {
	c.o.synced = &store.Condition{Type: apiv1.ConditionSynced, Status: status, Reason: reason, Message: message}
}

// source returns how to reach a replica's source.
func (c *checker) source(ctx context.Context) (engine.Source, error) {
	db := c.o.db
	repl, err := c.r.store.ReplicationGet(ctx, store.DatabaseKey{Region: db.ReplicaOf, Name: db.Name})
	if err != nil {
		return engine.Source{}, err
	}
	return engine.Source{Region: db.ReplicaOf, Database: db.Name, ReplPassword: repl.Password}, nil
}

// tablesWithoutKey lists the tables the last consistency check found
// without a primary key.
func (c *checker) tablesWithoutKey(ctx context.Context) []string {
	repl, err := c.r.store.ReplicationGet(ctx, c.o.db.Key())
	if err != nil {
		return nil
	}
	var tables []string
	for _, t := range repl.Consistency.Tables {
		if strings.Contains(t.Error, "primary key") {
			tables = append(tables, t.Table)
		}
	}
	return tables
}
