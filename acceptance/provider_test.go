package acceptance

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon/daemontest"
	"github.com/dbfleet/terraform-provider-dbfleet/provider"
)

// protoV6ProviderFactories serves the provider in-process to the Terraform
// CLI under test, as the name dbfleet.
var protoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"dbfleet": providerserver.NewProtocol6WithError(provider.New("test")()),
}

// databaseAddress is the address of the database that database.config
// renders.
const databaseAddress = "dbfleet_database.test"

// database is a configuration of one dbfleet_database, "test".
type database struct {
	region string
	name   string
	// protected sets deletion_protection; nil leaves it out, so that the
	// default, true, applies.
	protected *bool
	// keepFinalBackup leaves skip_final_backup out (false). Otherwise the
	// configuration sets it to true, as most tests do to skip the pg_dump.
	keepFinalBackup bool
	// endpoint, when set, goes into a provider block; otherwise the provider
	// reads DBFLEET_ENDPOINT.
	endpoint string
}

// setup skips t unless TF_ACC is set, as resource.Test would, and returns a
// database in westeurope whose name starts with base and no other test or
// run uses, with deletion_protection at its default and no final backup.
func setup(t *testing.T, base string) database {
	t.Helper()
	if fleet == nil {
		t.Skipf("Acceptance tests skipped unless env '%s' set", resource.EnvTfAcc)
	}
	return database{region: "westeurope", name: daemontest.UniqueName(base)}
}

// config renders d as Terraform configuration.
func (d database) config() string {
	var b strings.Builder
	if d.endpoint != "" {
		fmt.Fprintf(&b, "provider \"dbfleet\" {\n  endpoint = %q\n}\n\n", d.endpoint)
	}
	fmt.Fprintf(&b, "resource \"dbfleet_database\" \"test\" {\n  region = %q\n  name   = %q\n", d.region, d.name)
	if d.protected != nil {
		fmt.Fprintf(&b, "\n  deletion_protection = %t\n", *d.protected)
	}
	if !d.keepFinalBackup {
		b.WriteString("  skip_final_backup   = true\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// id is d's Terraform id and import ID.
func (d database) id() string {
	return d.region + "/" + d.name
}

// withoutDatabases is a configuration that holds no database: a plan for it
// destroys every database in state.
const withoutDatabases = "# Every database is gone from the configuration.\n"

// testCase runs steps with the provider against the dev fleet. Every step
// that applies a configuration records the passwords in state, for TestMain
// to look for in dbfleetd's log. CheckDestroy asks PostgreSQL and dbfleetd
// that every database the state held is gone, then runs destroyChecks.
func testCase(t *testing.T, steps []resource.TestStep, destroyChecks ...resource.TestCheckFunc) resource.TestCase {
	for i := range steps {
		if steps[i].Config != "" && !steps[i].ImportState {
			steps[i].ConfigStateChecks = append(steps[i].ConfigStateChecks, recordSecrets())
		}
	}
	return resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(append([]resource.TestCheckFunc{checkDestroyed(t)}, destroyChecks...)...),
		Steps:                    steps,
	}
}

// diagnostic matches Terraform's rendering of a diagnostic that holds each
// of parts, in order. Terraform wraps long lines and starts each with a box
// drawing character, so a space in a part matches any such line break.
func diagnostic(parts ...string) *regexp.Regexp {
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = strings.Join(strings.Fields(regexp.QuoteMeta(p)), `[\s│]+`)
	}
	return regexp.MustCompile(strings.Join(quoted, `[\s\S]*`))
}
