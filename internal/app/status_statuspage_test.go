package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/notify"
	"vigil/internal/notify/statuspagetest"
)

const spKey = "3c9a1e7f5b2d4f6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a"

// statuspageSim is the status scenario with the real Statuspage publisher in
// front of the Statuspage test server.
func statuspageSim(t *testing.T) (*sim, *statuspagetest.Server, *notify.Statuspage) {
	t.Helper()
	s := newSimWith(t, scenarioCatalog+statusConfig)
	page := statuspagetest.New(t, "page1", spKey, "sp-core")
	sp, err := notify.NewStatuspage("page1", spKey, map[string]string{"core": "sp-core"},
		notify.WithBaseURL(page.Base()), notify.WithInsecureHTTP())
	require.NoError(t, err)
	s.configure(func(c *app.Config) {
		c.Publishers = map[string]app.StatusPublisher{"statuspage": sp}
		c.RetryAfter = notify.RetryAfter
	})
	return s, page, sp
}

// Publishing the same update twice (a redelivery) makes one Statuspage
// incident with one update.
func TestRedeliveryMakesOneStatuspageIncidentAndOneUpdate(t *testing.T) {
	s, page, _ := statuspageSim(t)
	s.statusTwice = true
	id := s.sev1WithComms("ann")
	_, err := s.post(id, "ann", update("We are investigating slow responses.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))

	got := page.ForIncident(id)
	require.Len(t, got, 1, "one Statuspage incident")
	assert.Len(t, got[0].Updates, 1, "one update")
	inc := s.onlyIncident()
	assert.Equal(t, got[0].ID, inc.Comms.Published["statuspage"].RemoteID, "the page's incident id is stored")

	// A second update goes to the same page incident, once.
	s.now = s.now.Add(10 * time.Minute)
	_, err = s.post(id, "ann", update("Found it: a bad deployment, rolling back.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))
	got = page.ForIncident(id)
	require.Len(t, got, 1)
	assert.Len(t, got[0].Updates, 2)
}

// An attempt that opened the page's incident and died before recording it:
// the next attempt finds it on the page rather than opening a second one.
func TestAnUnrecordedCreateIsFoundNotRepeated(t *testing.T) {
	s, page, sp := statuspageSim(t)
	id := s.sev1WithComms("ann")
	u, err := s.post(id, "ann", update("We are investigating slow responses.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)

	// The earlier attempt: marked pending, sent, then died.
	inc, err := s.store.GetIncident(context.Background(), id)
	require.NoError(t, err)
	inc.Comms.Publication("statuspage").Pending = []string{u.ID}
	require.NoError(t, s.store.UpdateIncident(context.Background(), inc))
	_, err = sp.PublishStatus(context.Background(), inc, u, "", false)
	require.NoError(t, err)
	require.Len(t, page.ForIncident(id), 1)

	s.run(s.now.Add(5 * time.Minute))
	got := page.ForIncident(id)
	require.Len(t, got, 1, "not opened twice")
	assert.Len(t, got[0].Updates, 1, "not posted twice")
	after := s.onlyIncident()
	assert.Equal(t, got[0].ID, after.Comms.Published["statuspage"].RemoteID)
	assert.True(t, after.Comms.Updates[0].Done)
}

// Statuspage answering 429 with Retry-After: the update waits that long on
// the status queue instead of failing deliveries.
func TestThrottledStatuspageIsRetriedAfterItsDelay(t *testing.T) {
	s, page, _ := statuspageSim(t)
	id := s.sev1WithComms("ann")
	page.SetThrottle(true)
	_, err := s.post(id, "ann", update("We are investigating slow responses.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	posted := s.now
	s.run(posted.Add(time.Second))
	assert.Empty(t, page.ForIncident(id), "throttled")
	page.SetThrottle(false)
	s.run(posted.Add(6 * time.Second))
	assert.Empty(t, page.ForIncident(id), "waits the 7 s Statuspage asked for")
	s.run(posted.Add(8 * time.Second))
	got := page.ForIncident(id)
	require.Len(t, got, 1, "published once the delay had passed")
	assert.Len(t, got[0].Updates, 1)
	assert.True(t, s.onlyIncident().Comms.Updates[0].Done)
}
