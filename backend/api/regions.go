package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// regionHealthTimeout bounds how long a region may take to answer a health
// check before it is reported unhealthy.
const regionHealthTimeout = 2 * time.Second

func (s *Server) regionList(w http.ResponseWriter, r *http.Request) error {
	regions, err := s.describeRegions(r.Context(), s.regions.Names())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiv1.RegionList{Regions: regions})
	return nil
}

func (s *Server) regionGet(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, _, err := s.regions.Endpoint(name); err != nil {
		return &httpError{status: http.StatusNotFound, code: apiv1.CodeNotFound, message: "region " + name + " is not configured"}
	}
	regions, err := s.describeRegions(r.Context(), []string{name})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, regions[0])
	return nil
}

// wireCapabilities is a region's probed capabilities as the API shows them.
func wireCapabilities(c *engine.Capabilities) *apiv1.RegionCapabilities {
	out := &apiv1.RegionCapabilities{
		ServerVersion: c.ServerVersion, ServerVersionNum: c.ServerVersionNum, Superuser: c.Superuser,
		Rights: apiv1.RegionRights{CreateDB: c.CreateDB, CreateRole: c.CreateRole, Replication: c.Replication,
			PgMonitor: c.Monitor, PgCreateSubscription: c.CreateSubscription},
		WalLevel:             c.WalLevel,
		FreeReplicationSlots: c.FreeReplicationSlots, FreeWalSenders: c.FreeWalSenders, FreeReplicationWorkers: c.FreeReplicationWorkers,
		MissingForDatabases:    nonNil(c.MissingForDatabases()),
		MissingForPublishing:   nonNil(c.MissingForPublishing()),
		MissingForReplicas:     nonNil(c.MissingForSubscribing()),
		MissingForFinalBackups: nonNil(c.MissingForFinalBackup()),
	}
	out.CanCreateDatabases = len(out.MissingForDatabases) == 0
	out.CanPublish = len(out.MissingForPublishing) == 0
	out.CanHoldReplicas = len(out.MissingForReplicas) == 0
	out.CanTakeFinalBackups = len(out.MissingForFinalBackups) == 0
	if c.PgDump != nil {
		out.PgDump = &apiv1.PgDump{Path: c.PgDump.Path, Version: c.PgDump.Version}
	}
	return out
}

// nonNil makes an empty list [] rather than null on the wire.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// describeRegions checks the named regions' health and capabilities in parallel.
func (s *Server) describeRegions(ctx context.Context, names []string) ([]apiv1.Region, error) {
	counts, err := s.store.DatabaseCountByRegion(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.Region, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		out[i] = apiv1.Region{Name: name, DatabasesCount: counts[name], Labels: s.regions.Labels(name)}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, regionHealthTimeout)
			defer cancel()
			h, err := s.regions.RegionHealth(ctx, name)
			if err != nil {
				out[i].Error = "region is not reachable"
				s.logger.Warn().Str("region", name).Err(err).Msg("Region health check failed")
				return
			}
			out[i].Healthy, out[i].ServerVersion = true, h.ServerVersion
			caps, err := s.regions.RegionCapabilities(ctx, name)
			if err != nil {
				s.logger.Warn().Str("region", name).Err(err).Msg("Region capability probe failed")
				return
			}
			out[i].Capabilities = wireCapabilities(caps)
		})
	}
	wg.Wait()
	return out, nil
}
