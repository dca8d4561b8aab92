package acceptance

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// schemaAddress is the address of the schema that rolloutConfig.config
// renders.
const schemaAddress = "dbfleet_schema.test"

// allRegions are the dev regions in the order the rollout tests name them.
var allRegions = []string{"westeurope", "northeurope", "eastus"}

// canaryWaves are the waves of examples/stamp/schema/main.tf: westeurope is
// the canary, northeurope and eastus follow together.
var canaryWaves = [][]string{{"westeurope"}, {"northeurope", "eastus"}}

// migration is one migration of a dbfleet_schema configuration.
type migration struct {
	version int64
	up      string
	// down is left out when empty.
	down string
}

// rolloutConfig is a configuration of one dbfleet_schema, "test", and of
// dbfleet_database resources named database that run it.
type rolloutConfig struct {
	schema     string
	migrations []migration
	// waves, bakeTime and onFailure make the rollout policy; empty ones
	// are left out.
	waves     [][]string
	bakeTime  string
	onFailure string

	// database names the databases; empty configures the schema alone.
	database string
	// regions, when set, makes dbfleet_database.test one instance per
	// region (for_each); otherwise region is its one region.
	regions []string
	region  string
	// version pins schema_version; 0 follows
	// dbfleet_schema.test.latest_version, so that a new migration reaches
	// the databases in the apply that publishes it.
	version int64
	// parameters go into the databases' parameters when set.
	parameters map[string]string

	// endpoint, when set, goes into a provider block.
	endpoint string
	// requiredProviders adds the terraform block that a configuration run
	// by the Terraform CLI itself needs to find the provider.
	requiredProviders bool
}

// withMigrations returns c with migrations instead of c's.
func (c rolloutConfig) withMigrations(migrations ...migration) rolloutConfig {
	c.migrations = migrations
	return c
}

// schemaOnly returns c without its databases.
func (c rolloutConfig) schemaOnly() rolloutConfig {
	c.database = ""
	return c
}

// config renders c as Terraform configuration.
func (c rolloutConfig) config() string {
	var b strings.Builder
	if c.requiredProviders {
		b.WriteString("terraform {\n  required_providers {\n    dbfleet = {\n      source = \"dbfleet/dbfleet\"\n    }\n  }\n}\n\n")
	}
	if c.endpoint != "" {
		fmt.Fprintf(&b, "provider \"dbfleet\" {\n  endpoint = %s\n}\n\n", hclString(c.endpoint))
	}

	fmt.Fprintf(&b, "resource \"dbfleet_schema\" \"test\" {\n  name = %s\n\n  migrations = [\n", hclString(c.schema))
	for _, m := range c.migrations {
		fmt.Fprintf(&b, "    {\n      version = %d\n      up      = %s\n", m.version, hclString(m.up))
		if m.down != "" {
			fmt.Fprintf(&b, "      down    = %s\n", hclString(m.down))
		}
		b.WriteString("    },\n")
	}
	b.WriteString("  ]\n")
	if len(c.waves) > 0 || c.bakeTime != "" || c.onFailure != "" {
		b.WriteString("\n  rollout = {\n")
		if len(c.waves) > 0 {
			fmt.Fprintf(&b, "    waves      = %s\n", hclWaves(c.waves))
		}
		if c.bakeTime != "" {
			fmt.Fprintf(&b, "    bake_time  = %s\n", hclString(c.bakeTime))
		}
		if c.onFailure != "" {
			fmt.Fprintf(&b, "    on_failure = %s\n", hclString(c.onFailure))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")

	if c.database == "" {
		return b.String()
	}
	b.WriteString("\nresource \"dbfleet_database\" \"test\" {\n")
	region := hclString(c.region)
	if len(c.regions) > 0 {
		quoted := make([]string, len(c.regions))
		for i, r := range c.regions {
			quoted[i] = hclString(r)
		}
		fmt.Fprintf(&b, "  for_each = toset([%s])\n\n", strings.Join(quoted, ", "))
		region = "each.key"
	}
	fmt.Fprintf(&b, "  region              = %s\n  name                = %s\n", region, hclString(c.database))
	b.WriteString("  schema              = dbfleet_schema.test.name\n")
	if c.version > 0 {
		fmt.Fprintf(&b, "  schema_version      = %d\n", c.version)
	} else {
		b.WriteString("  schema_version      = dbfleet_schema.test.latest_version\n")
	}
	b.WriteString("  deletion_protection = false\n  skip_final_backup   = true\n")
	if len(c.parameters) > 0 {
		b.WriteString("\n  parameters = {\n")
		for _, name := range slices.Sorted(maps.Keys(c.parameters)) {
			fmt.Fprintf(&b, "    %s = %s\n", name, hclString(c.parameters[name]))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// instanceAddress is the address of c's database in region.
func (c rolloutConfig) instanceAddress(region string) string {
	if len(c.regions) == 0 {
		return databaseAddress
	}
	return fmt.Sprintf("%s[%q]", databaseAddress, region)
}

// hclString quotes s as an HCL string literal: Go's escapes are HCL's, and
// "${" and "%{" are escaped so that SQL is never read as a template.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// hclWaves renders waves as an HCL list of lists of strings.
func hclWaves(waves [][]string) string {
	rendered := make([]string, len(waves))
	for i, w := range waves {
		quoted := make([]string, len(w))
		for j, r := range w {
			quoted[j] = hclString(r)
		}
		rendered[i] = "[" + strings.Join(quoted, ", ") + "]"
	}
	return "[" + strings.Join(rendered, ", ") + "]"
}
