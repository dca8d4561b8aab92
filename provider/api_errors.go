package provider

import (
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
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
	field   string
	summary string
	// hint says what to do next; empty when the message says enough.
	hint string
}

// addBlamedError adds an error for apiErr, an invalid_argument answer, on
// the attribute of blames that its details name. When they name none of
// them, the error has no attribute and fallbackSummary.
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

// findBlame returns the first of blames whose field apiErr's details name.
func findBlame(apiErr *client.APIError, blames []blame) (blame, bool) {
	field := apiErr.Details[detailField]
	if field == "" {
		return blame{}, false
	}
	for _, b := range blames {
		if b.field == field {
			return b, true
		}
	}
	return blame{}, false
}

// invalidField reports whether err is an invalid_argument answer of
// dbfleetd about the request field field.
func invalidField(err error, field string) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Code == apiv1.CodeInvalidArgument && apiErr.Details[detailField] == field
}
