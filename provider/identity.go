package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Resource identities (Terraform 1.12+): what names a dbfleet_database or a
// dbfleet_schema, as the import block's identity argument and the state's
// identity hold it. A CLI without identity support ignores them and imports
// by ID as before.

var (
	_ resource.ResourceWithIdentity = (*databaseResource)(nil)
	_ resource.ResourceWithIdentity = (*schemaResource)(nil)
)

// databaseIdentityModel is a dbfleet_database's identity.
type databaseIdentityModel struct {
	Region types.String `tfsdk:"region"`
	Name   types.String `tfsdk:"name"`
}

// schemaIdentityModel is a dbfleet_schema's identity.
type schemaIdentityModel struct {
	Name types.String `tfsdk:"name"`
}

// IdentitySchema describes dbfleet_database's identity: its region and name.
func (r *databaseResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			"region": identityschema.StringAttribute{
				RequiredForImport: true,
				Description:       "The region the database is in, such as westeurope.",
			},
			"name": identityschema.StringAttribute{
				RequiredForImport: true,
				Description:       "The database's name within its region.",
			},
		},
	}
}

// IdentitySchema describes dbfleet_schema's identity: its name.
func (r *schemaResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			"name": identityschema.StringAttribute{
				RequiredForImport: true,
				Description:       "The schema's name.",
			},
		},
	}
}

// setIdentity sets identity to v unless the CLI does not support
// identities (identity is nil then).
func setIdentity(ctx context.Context, identity *tfsdk.ResourceIdentity, v any) diag.Diagnostics {
	if identity == nil {
		return nil
	}
	return identity.Set(ctx, v)
}

// databaseIdentity is the identity of the database name in region.
func databaseIdentity(region, name string) databaseIdentityModel {
	return databaseIdentityModel{Region: types.StringValue(region), Name: types.StringValue(name)}
}

// databaseImportKey is the region and name of the database an import names:
// by its import ID, region/name, or by the identity an import block gives.
func databaseImportKey(ctx context.Context, req resource.ImportStateRequest) (region, name string, diags diag.Diagnostics) {
	if req.ID != "" || req.Identity == nil {
		region, name, err := parseDatabaseID(req.ID)
		if err != nil {
			diags.AddError("Invalid Import ID", err.Error())
		}
		return region, name, diags
	}
	var id databaseIdentityModel
	if diags.Append(req.Identity.Get(ctx, &id)...); diags.HasError() {
		return "", "", diags
	}
	region, name, err := parseDatabaseID(databaseID(id.Region.ValueString(), id.Name.ValueString()))
	if err != nil {
		diags.AddError("Invalid Import Identity", fmt.Sprintf("The identity's region and name must each be "+
			"a name that %s; got region %q and name %q.", identifierRule, id.Region.ValueString(), id.Name.ValueString()))
	}
	return region, name, diags
}

// schemaImportName is the name of the schema an import names: by its
// import ID or by the identity an import block gives.
func schemaImportName(ctx context.Context, req resource.ImportStateRequest) (string, diag.Diagnostics) {
	if req.ID != "" || req.Identity == nil {
		return req.ID, nil
	}
	var id schemaIdentityModel
	diags := req.Identity.Get(ctx, &id)
	return id.Name.ValueString(), diags
}
