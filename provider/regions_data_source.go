package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/provider/client"
)

var _ datasource.DataSourceWithConfigure = (*regionsDataSource)(nil)

func newRegionsDataSource() datasource.DataSource {
	return &regionsDataSource{}
}

// regionsDataSource is dbfleet_regions: the regions dbfleetd administers.
type regionsDataSource struct {
	client *client.Client
}

// regionsDataSourceModel is dbfleet_regions's state.
type regionsDataSourceModel struct {
	ID      types.String  `tfsdk:"id"`
	Regions []regionModel `tfsdk:"regions"`
}

// regionModel is one element of dbfleet_regions's regions.
type regionModel struct {
	Name           types.String `tfsdk:"name"`
	Healthy        types.Bool   `tfsdk:"healthy"`
	ServerVersion  types.String `tfsdk:"server_version"`
	DatabasesCount types.Int64  `tfsdk:"databases_count"`
	Error          types.String `tfsdk:"error"`
	// Capabilities is nil (null) while the region does not answer.
	Capabilities *capabilitiesModel `tfsdk:"capabilities"`
}

// Metadata names the data source dbfleet_regions.
func (d *regionsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_regions"
}

// Schema describes dbfleet_regions.
func (d *regionsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The regions that dbfleetd administers, each a PostgreSQL server, with their health " +
			"as dbfleetd last checked it. Use it to pick the `region` of a `dbfleet_database`, or to check a region " +
			"before rolling out to it.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The names of the regions, in order, joined with commas; it changes when a region " +
					"is added or removed.",
				Computed: true,
			},
			"regions": schema.ListNestedAttribute{
				MarkdownDescription: "The regions, in the order dbfleetd lists them.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{
							MarkdownDescription: "The region's name, such as `westeurope`, as a `dbfleet_database`'s `region` takes it.",
							Computed:            true,
						},
						"healthy": schema.BoolAttribute{
							MarkdownDescription: "Whether dbfleetd could reach the region's PostgreSQL server at its last check.",
							Computed:            true,
						},
						"server_version": schema.StringAttribute{
							MarkdownDescription: "The PostgreSQL server's version, such as `16.4`. Null when dbfleetd has not reached the server.",
							Computed:            true,
						},
						"databases_count": schema.Int64Attribute{
							MarkdownDescription: "How many databases dbfleet manages in the region.",
							Computed:            true,
						},
						"error": schema.StringAttribute{
							MarkdownDescription: "Why the region is unhealthy. Null when it is healthy.",
							Computed:            true,
						},
						"capabilities": capabilitiesAttribute(),
					},
				},
			},
		},
	}
}

// Configure takes the API client that the provider configured.
func (d *regionsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = configuredClient(req.ProviderData, "Data Source", &resp.Diagnostics)
}

// Read lists the regions.
func (d *regionsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	regions, err := d.client.RegionList(ctx)
	if err != nil {
		resp.Diagnostics.AddError("Unable to List Regions", fmt.Sprintf("Could not list dbfleet's regions: %s", err))
		return
	}
	state := regionsDataSourceModel{Regions: make([]regionModel, len(regions))}
	names := make([]string, len(regions))
	for i, region := range regions {
		state.Regions[i] = newRegionModel(region)
		names[i] = region.Name
	}
	state.ID = types.StringValue(strings.Join(names, ","))
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// newRegionModel converts a region of the API, with null for what it left
// empty.
func newRegionModel(r apiv1.Region) regionModel {
	return regionModel{
		Name:           types.StringValue(r.Name),
		Healthy:        types.BoolValue(r.Healthy),
		ServerVersion:  stringOrNull(r.ServerVersion),
		DatabasesCount: types.Int64Value(int64(r.DatabasesCount)),
		Error:          stringOrNull(r.Error),
		Capabilities:   newCapabilitiesModel(r.Capabilities),
	}
}

// stringOrNull is s, or null when s is empty.
func stringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}
