package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// lagWindow is how far back the lag chart goes.
const lagWindow = time.Hour

type databaseView struct {
	DB          *store.Database
	Replication *store.Replication
	Lag         *lagChart
	Events      []*store.DatabaseEvent
	Operations  []*store.Operation
}

func (v databaseView) PageTitle() string { return v.DB.Region + "/" + v.DB.Name }
func (databaseView) Live() bool          { return true }

func (h *Handler) databasePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key := store.DatabaseKey{Region: r.PathValue("region"), Name: r.PathValue("name")}
	if engine.ValidateIdentifier("region", key.Region) != nil || engine.ValidateIdentifier("database", key.Name) != nil {
		h.renderError(w, r, http.StatusNotFound, "There is no database "+key.Region+"/"+key.Name+".")
		return
	}
	db, err := h.store.DatabaseGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		h.renderError(w, r, http.StatusNotFound, "Database "+key.Name+" does not exist in region "+key.Region+".")
		return
	}
	if err != nil {
		h.fault(w, r, "read the database", err)
		return
	}
	// The page never shows the owner's password, whatever the scope.
	db.Password = ""
	v := databaseView{DB: db}
	if v.Events, err = h.store.DatabaseEventList(ctx, &store.DatabaseEventListParams{Region: key.Region, Name: key.Name, Limit: 20}); err != nil {
		h.fault(w, r, "read the database's events", err)
		return
	}
	if v.Operations, err = h.store.OperationList(ctx, &store.OperationListParams{Region: key.Region, Database: key.Name, Limit: 10}); err != nil {
		h.fault(w, r, "read the database's operations", err)
		return
	}
	if db.ReplicaOf != "" {
		if v.Replication, err = h.store.ReplicationGet(ctx, key); err != nil {
			h.fault(w, r, "read the database's replication", err)
			return
		}
		v.Replication.Password = ""
		now := h.now()
		samples, err := h.store.LagSampleList(ctx, &store.LagSampleListParams{Region: key.Region, Name: key.Name, Since: now.Add(-lagWindow)})
		if err != nil {
			h.fault(w, r, "read the replication lag", err)
			return
		}
		v.Lag = newLagChart(samples, now)
	}
	h.render(w, r, http.StatusOK, "database", v)
}

// lagChart is the replication lag over lagWindow as an SVG polyline,
// drawn on the server: the page needs no chart library.
type lagChart struct {
	Width, Height int
	// Points is the polyline's "x,y x,y ..." in the viewBox; LastX and
	// LastY mark the newest sample, which alone draws no line.
	Points       string
	LastX, LastY string
	// MaxLabel labels the top of the y axis; Last, Max and Samples sum
	// the chart up in words for those who cannot see it.
	MaxLabel string
	Last     string
	Max      string
	Samples  int
}

const (
	chartWidth  = 1000
	chartHeight = 200
	chartMargin = 5
)

func newLagChart(samples []*store.LagSample, now time.Time) *lagChart {
	c := &lagChart{Width: chartWidth, Height: chartHeight, Samples: len(samples)}
	if len(samples) == 0 {
		return c
	}
	var top float64
	for _, s := range samples {
		top = max(top, s.LagSeconds)
	}
	c.Max = formatLag(top)
	c.Last = formatLag(samples[len(samples)-1].LagSeconds)
	// A flat zero line sits at the bottom of a one-second scale.
	scale := max(top, 1)
	c.MaxLabel = formatLag(scale)
	start := now.Add(-lagWindow)
	var b strings.Builder
	for i, s := range samples {
		// A margin of the marker's radius keeps it inside the chart.
		x := strconv.FormatFloat(chartMargin+(chartWidth-2*chartMargin)*float64(s.Time.Sub(start))/float64(lagWindow), 'f', 1, 64)
		y := strconv.FormatFloat(chartMargin+(chartHeight-2*chartMargin)*(1-s.LagSeconds/scale), 'f', 1, 64)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x + "," + y)
		c.LastX, c.LastY = x, y
	}
	c.Points = b.String()
	return c
}

func formatLag(seconds float64) string {
	if seconds < 1 {
		return fmt.Sprintf("%.0f ms", seconds*1000)
	}
	return fmt.Sprintf("%.1f s", seconds)
}
