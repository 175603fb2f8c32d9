package cosmos

import (
	"context"
	"time"

	"vigil/internal/incident"
)

// Classify is classify, for the black-box tests.
var Classify = classify

// SetNow replaces the store's clock.
func (s *Store) SetNow(now func() time.Time) { s.now = now }

// TakeLockOnly does the first half of CreateIncident, as a creation that dies
// before writing its incident would.
func (s *Store) TakeLockOnly(ctx context.Context, inc *incident.Incident) error {
	_, _, err := s.lock(ctx, inc)
	return err
}
