package cosmos

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

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

// ReadLookup returns an item of the lookups container as stored.
func (s *Store) ReadLookup(ctx context.Context, pk, id string) ([]byte, error) {
	resp, err := s.lookups.ReadItem(ctx, azcosmos.NewPartitionKeyString(pk), id, nil)
	return resp.Value, err
}
