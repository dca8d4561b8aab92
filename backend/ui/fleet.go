package ui

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// fleetView is the grid of databases (rows) by regions (columns).
type fleetView struct {
	Regions []string
	Rows    []fleetRow
	// Schemas and AllRegions fill the filters; Schema and Region are the
	// chosen ones ("" for all).
	Schemas    []string
	AllRegions []string
	Schema     string
	Region     string
	Total      int
}

func (fleetView) PageTitle() string { return "Fleet" }
func (fleetView) Live() bool        { return true }

type fleetRow struct {
	Name  string
	Cells []*store.Database // nil where the region has no such database
}

func (h *Handler) fleetPage(w http.ResponseWriter, r *http.Request) {
	v := fleetView{AllRegions: h.regions.Names(), Schema: r.URL.Query().Get("schema"), Region: r.URL.Query().Get("region")}
	all, err := h.store.DatabaseList(r.Context(), &store.DatabaseListParams{})
	if err != nil {
		h.fault(w, r, "list databases", err)
		return
	}
	v.Regions = v.AllRegions
	if v.Region != "" {
		v.Regions = []string{v.Region}
	}
	byName := map[string]*fleetRow{}
	for _, db := range all {
		if db.Schema != "" && !slices.Contains(v.Schemas, db.Schema) {
			v.Schemas = append(v.Schemas, db.Schema)
		}
		if (v.Schema != "" && db.Schema != v.Schema) || !slices.Contains(v.Regions, db.Region) {
			continue
		}
		row := byName[db.Name]
		if row == nil {
			row = &fleetRow{Name: db.Name, Cells: make([]*store.Database, len(v.Regions))}
			byName[db.Name] = row
		}
		row.Cells[slices.Index(v.Regions, db.Region)] = db
		v.Total++
	}
	slices.Sort(v.Schemas)
	for _, row := range byName {
		v.Rows = append(v.Rows, *row)
	}
	slices.SortFunc(v.Rows, func(a, b fleetRow) int { return cmp.Compare(a.Name, b.Name) })
	h.render(w, r, http.StatusOK, "fleet", v)
}

// fault answers a failure to read what a page shows: logged with its
// cause, shown without it.
func (h *Handler) fault(w http.ResponseWriter, r *http.Request, doing string, err error) {
	h.logger.Error().Err(err).Str("doing", doing).Msg("Dashboard page failed")
	h.renderError(w, r, http.StatusInternalServerError, "Could not "+doing+"; the server log has the cause.")
}
