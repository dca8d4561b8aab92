package openapitest_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
)

// operationIDPattern is the shape of an operationId: a verb and a noun of the API's own
// vocabulary in PascalCase (GetDatabase, WaitOperation), which generators turn into method names.
var operationIDPattern = regexp.MustCompile(`^(List|Get|Apply|Delete|Plan|Verify|Rotate|Validate|Resume|Wait|Cancel)[A-Z][A-Za-z]+$`)

// TestShippedDocumentSuitsTools checks what the tools users feed the API document to need of it,
// quicker than make lint's Redocly run and without it: each operation is named, tagged with a
// declared tag and summarised; each one behind the bearer token documents the 401, 429 and 500
// every such call can get, and each that takes an Idempotency-Key its 409 and 422; no two
// components share a name, since generators make one type of each; servers, license and contact
// are set.
func TestShippedDocumentSuitsTools(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	require.NotEmpty(t, doc.Servers, "servers")
	require.NotNil(t, doc.Info.License, "info.license")
	require.NotNil(t, doc.Info.Contact, "info.contact")
	var tags []string
	for _, tag := range doc.Tags {
		tags = append(tags, tag.Name)
	}

	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			require.Regexp(t, operationIDPattern, op.OperationID, "%s: operationId", where)
			require.NotContains(t, ids, op.OperationID, "%s: operationId %s is %s's too", where, op.OperationID, ids[op.OperationID])
			ids[op.OperationID] = where
			require.NotEmpty(t, op.Summary, "%s: summary", where)
			require.Len(t, op.Tags, 1, "%s: tags", where)
			require.Contains(t, tags, op.Tags[0], "%s: tag %s is not declared in tags", where, op.Tags[0])

			authenticated := op.Security == nil || len(*op.Security) > 0
			if authenticated {
				for _, status := range []string{"401", "429", "500"} {
					require.NotNil(t, op.Responses.Value(status), "%s: every call with a token can answer %s", where, status)
				}
			}
			if slices.ContainsFunc(op.Parameters, func(p *openapi3.ParameterRef) bool { return p.Value.Name == "Idempotency-Key" }) {
				for _, status := range []string{"409", "422"} {
					require.NotNil(t, op.Responses.Value(status), "%s: an Idempotency-Key call can answer %s", where, status)
				}
			}
			if op.RequestBody != nil {
				require.NotNil(t, op.Responses.Value("400"), "%s: a call with a body can answer 400", where)
			}
		}
	}
	require.Len(t, ids, 24, "the document's operations changed; update this count with them")

	names := map[string]string{}
	for section, keys := range map[string][]string{
		"schemas":       mapKeys(doc.Components.Schemas),
		"parameters":    mapKeys(doc.Components.Parameters),
		"responses":     mapKeys(doc.Components.Responses),
		"requestBodies": mapKeys(doc.Components.RequestBodies),
		"headers":       mapKeys(doc.Components.Headers),
	} {
		for _, name := range keys {
			require.NotContains(t, names, name, "component %s is in both %s and %s: a generator makes one type of each", name, section, names[name])
			names[name] = section
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
