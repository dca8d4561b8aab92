package provider

import (
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

// detailField is the key of an API error's details that names the request
// field at fault, such as "region" or "rollout.waves".
const detailField = "field"

// blame is an attribute that an invalid_argument answer of dbfleetd can be
// about.
type blame struct {
	attribute path.Path
	// field is how the error's details name the attribute.
	field string
	// keywords point at the attribute when they are in the error's message
	// and the details name no field.
	keywords []string
	summary  string
	// hint says what to do next; empty when the message says enough.
	hint string
}

// addBlamedError adds an error for apiErr, an invalid_argument answer, on
// the attribute of blames that it is about: the one its details name, else
// the first one a keyword of its message points at. When none matches, the
// error has no attribute and fallbackSummary.
func addBlamedError(diags *diag.Diagnostics, apiErr *client.APIError, blames []blame, fallbackSummary, detail string) {
	b, ok := findBlame(apiErr, blames)
	if !ok {
		diags.AddError(fallbackSummary, detail)
		return
	}
	if b.hint != "" {
		detail += "\n\n" + b.hint
	}
	diags.AddAttributeError(b.attribute, b.summary, detail)
}

func findBlame(apiErr *client.APIError, blames []blame) (blame, bool) {
	if field := apiErr.Details[detailField]; field != "" {
		for _, b := range blames {
			if b.field == field {
				return b, true
			}
		}
	}
	message := strings.ToLower(apiErr.Message)
	for _, b := range blames {
		for _, k := range b.keywords {
			if strings.Contains(message, k) {
				return b, true
			}
		}
	}
	return blame{}, false
}
