package cosmos_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/cosmos"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
	"vigil/internal/storetest"
)

func openStore(t testing.TB) *cosmos.Store {
	t.Helper()
	c := cosmosClient(t)
	db := newDatabase(t, c)
	require.NoError(t, cosmos.EnsureContainers(context.Background(), c, db))
	s, err := cosmos.New(c, db, nil)
	require.NoError(t, err)
	return s
}

// TestStoreContract runs the same contract as the embedded store's, against a
// real server speaking the Cosmos DB REST API.
func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) app.Store { return openStore(t) })
}

func TestRequestChargesAreCounted(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	_, err := s.GetIncident(ctx, "INC-NONE")
	require.True(t, fault.Is(err, fault.NotFound), "got %v", err)
	_, err = s.FindOpenIncident(ctx, "dk-none")
	require.True(t, fault.Is(err, fault.NotFound), "got %v", err)
	ch := s.Charges()
	require.Equal(t, 2, ch.Operations)
	require.Equal(t, 1, ch.ByOp["incident.read"].Count)
	require.Equal(t, 1, ch.ByOp["lookups.read"].Count)
}

func TestErrorsMapToKinds(t *testing.T) {
	for status, want := range map[int]fault.Kind{
		404: fault.NotFound, 409: fault.Exists, 412: fault.Stale,
		408: fault.Transient, 429: fault.Transient, 500: fault.Transient, 503: fault.Transient,
		400: fault.Permanent, 403: fault.Permanent, 413: fault.Permanent,
	} {
		err := cosmos.Classify(&azcore.ResponseError{StatusCode: status, RawResponse: &http.Response{StatusCode: status}}, "incident INC-1")
		require.Equal(t, want, fault.KindOf(err), "status %d: %v", status, err)
	}
	require.Equal(t, fault.Transient, fault.KindOf(cosmos.Classify(errors.New("dial tcp: connection refused"), "incident INC-1")))
	require.Equal(t, fault.Transient, fault.KindOf(cosmos.Classify(context.DeadlineExceeded, "incident INC-1")))
	require.NoError(t, cosmos.Classify(nil, "x"))
}

// A creation that died between taking the dedup lock and writing its incident
// blocks the key only for the grace period, then the next creator takes over.
func TestLockLeftByADeadCreationIsTakenOver(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	s.SetNow(func() time.Time { return now })

	dead := newIncident(t, "INC-DEAD", "dk-1", now)
	require.NoError(t, s.TakeLockOnly(ctx, dead))
	_, err := s.FindOpenIncident(ctx, "dk-1")
	require.True(t, fault.Is(err, fault.NotFound), "a lock without its incident is no open incident: got %v", err)

	next := newIncident(t, "INC-NEXT", "dk-1", now)
	err = s.CreateIncident(ctx, next)
	require.True(t, fault.Is(err, fault.Conflict), "within the grace period the creation may still be under way: got %v", err)

	now = now.Add(2 * time.Minute)
	require.NoError(t, s.CreateIncident(ctx, next), "after the grace period the lock is taken over")
	open, err := s.FindOpenIncident(ctx, "dk-1")
	require.NoError(t, err)
	require.Equal(t, "INC-NEXT", open.ID)
}

func newIncident(t *testing.T, id, dedup string, at time.Time) *incident.Incident {
	t.Helper()
	a := incident.Alert{Source: "generic:test", ID: id, DedupKey: dedup, Status: incident.AlertFiring, Signal: incident.Sev2, Summary: "queue depth on " + id}
	inc, err := incident.NewFromAlert(id, a, incident.Triage{Severity: incident.Sev2, Reasons: []string{"test"}}, "key-"+id, at)
	require.NoError(t, err)
	return inc
}

// An override expires by itself OverrideRetention after it ends (the lookups
// container has TTL on, per item).
func TestOverridesCarryTheirTimeToLive(t *testing.T) {
	s := openStore(t)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	s.SetNow(func() time.Time { return now })
	o := &oncall.Override{ID: "ov-ttl", Rotation: "platform-primary", Person: "mei", Start: now, End: now.Add(48 * time.Hour), Reason: "swap", CreatedAt: now}
	require.NoError(t, s.CreateOverride(context.Background(), o))
	raw, err := s.ReadLookup(context.Background(), "overrides", "ov-ttl")
	require.NoError(t, err)
	var item struct {
		TTL int64 `json:"ttl"`
	}
	require.NoError(t, json.Unmarshal(raw, &item))
	require.Equal(t, int64((48*time.Hour+cosmos.OverrideRetention)/time.Second), item.TTL)
}
