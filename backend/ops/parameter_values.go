package ops

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/engine"
)

// settingsChecker asks a region's server whether it takes setting values.
// Regions that cannot be asked (test fakes) are checked by shape alone.
type settingsChecker interface {
	SettingsCheck(ctx context.Context, region string, settings map[string]string) error
}

// DatabaseParametersCheck refuses, with an invalid argument on
// "parameters", a parameter that is not allow-listed, whose value has the
// wrong shape, or that the database's region refuses (out of range, an
// unknown unit, enum value or time zone): what the user wrote is checked by
// the rules of the server that will run it, before anything is stored. A
// region that cannot be asked now is left for the operation to find out.
func (m *Manager) DatabaseParametersCheck(ctx context.Context, params *DatabaseApplyParams) error {
	for _, name := range slices.Sorted(maps.Keys(params.Parameters)) {
		if err := apiv1.ValidateParameter(name, params.Parameters[name]); err != nil {
			return invalidArgument("parameters", "%s", err)
		}
	}
	checker, ok := m.regions.(settingsChecker)
	if !ok || len(params.Parameters) == 0 || !m.regions.Has(params.Region) {
		return nil
	}
	err := checker.SettingsCheck(ctx, params.Region, params.Parameters)
	var refused *engine.SettingRefusedError
	switch {
	case errors.As(err, &refused):
		return invalidArgument("parameters", "parameter %s = %s is not valid in region %s: %s",
			refused.Name, apiv1.Quote(params.Parameters[refused.Name]), refused.Region, refused.Message)
	case err != nil && ctx.Err() == nil:
		m.logger.Warn().Str("region", params.Region).Str("database", params.Name).Err(err).
			Msg("Could not check parameter values in the region")
	}
	return ctx.Err()
}
