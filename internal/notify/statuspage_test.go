package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/notify/statuspagetest"
)

const (
	spPageID = "kctbh9vrtdwd"
	spAPIKey = "89a229ce1a8dbcf9ff30430fbe35eb4c0426574bca932061892cefd2138aa4b1"
)

// spComponents maps catalog ids to Statuspage component ids; "billing" is not on the page.
var spComponents = map[string]string{"core": "sp-core", "api": "sp-api"}

func statuspageSetup(t *testing.T) (*statuspagetest.Server, *Statuspage) {
	t.Helper()
	f := statuspagetest.New(t, spPageID, spAPIKey, "sp-core", "sp-api")
	sp, err := NewStatuspage(spPageID, spAPIKey, spComponents, append(testOpts, WithBaseURL(f.Base()))...)
	require.NoError(t, err)
	return f, sp
}

// statusUpdate is a first update as a communications lead writes it.
func statusUpdate() StatusUpdate {
	return StatusUpdate{
		IncidentID: "INC-7QX2", UpdateID: "upd-1", Title: "Checkout errors",
		Phase: "investigating", Message: "Some customers cannot complete checkout. We are investigating.",
		Components: map[string]string{"core": "partial_outage", "billing": "degraded_performance"},
		ETA:        time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC), ETAKind: "next-update",
		Impact: "major", At: t0,
	}
}

func TestStatuspageOpenThenPost(t *testing.T) {
	f, sp := statuspageSetup(t)
	ctx := context.Background()
	u := statusUpdate()
	id, err := sp.Open(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, "sp-0001", id)
	assert.Equal(t, map[string]any{
		"name": "Checkout errors", "status": "investigating", "impact_override": "major",
		"body":          "Some customers cannot complete checkout. We are investigating.\n\nNext update by 10:00 UTC.",
		"component_ids": []any{"sp-core"}, "components": map[string]any{"sp-core": "partial_outage"},
		"deliver_notifications": true,
		"metadata":              map[string]any{"vigil": map[string]any{"incident_id": "INC-7QX2", "update_id": "upd-1"}},
	}, f.LastBody(), "catalog ids and unmapped components never reach the page")

	u2 := StatusUpdate{
		IncidentID: "INC-7QX2", UpdateID: "upd-2", Phase: "monitoring", Message: "A fix is deployed.",
		Components: map[string]string{"core": "operational", "api": "degraded_performance"},
		ETA:        time.Date(2026, 3, 15, 16, 0, 0, 0, time.UTC), ETAKind: "resolution", At: t0.Add(time.Hour),
	}
	require.NoError(t, sp.Post(ctx, id, u2))
	assert.Equal(t, map[string]any{
		"status": "monitoring", "body": "A fix is deployed.\n\nEstimated resolution by 16:00 UTC on 15 March 2026.",
		"component_ids":         []any{"sp-api", "sp-core"},
		"components":            map[string]any{"sp-core": "operational", "sp-api": "degraded_performance"},
		"deliver_notifications": true,
	}, f.LastBody())

	u3 := StatusUpdate{IncidentID: "INC-7QX2", UpdateID: "upd-3", Phase: "resolved", Message: "Checkout works again.", At: t0.Add(2 * time.Hour)}
	require.NoError(t, sp.Post(ctx, id, u3))
	assert.Equal(t, map[string]any{"status": "resolved", "body": "Checkout works again.", "deliver_notifications": true},
		f.LastBody(), "no ETA once resolved, and components untouched when none are given")
}

func TestStatuspageFindOpen(t *testing.T) {
	_, sp := statuspageSetup(t)
	ctx := context.Background()

	_, found, err := sp.FindOpen(ctx, "INC-7QX2")
	require.NoError(t, err)
	assert.False(t, found, "only a resolved incident was created for it, and others' incidents do not count")

	id, err := sp.Open(ctx, statusUpdate())
	require.NoError(t, err)
	got, found, err := sp.FindOpen(ctx, "INC-7QX2")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, id, got)

	got, found, err = sp.FindOpen(ctx, "INC-OTHER")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "sp-other", got)

	got, found, err = sp.FindOpen(ctx, "INC-OLD")
	require.NoError(t, err)
	assert.True(t, found, "a recent resolved incident is found too")
	assert.Equal(t, "sp-old", got)

	_, found, err = sp.FindOpen(ctx, "INC-NONE")
	require.NoError(t, err)
	assert.False(t, found)
}

func TestStatuspageHasUpdate(t *testing.T) {
	_, sp := statuspageSetup(t)
	ctx := context.Background()
	u1 := statusUpdate()
	id, err := sp.Open(ctx, u1)
	require.NoError(t, err)
	has, err := sp.HasUpdate(ctx, id, u1)
	require.NoError(t, err)
	assert.True(t, has, "the create's own update")

	u2 := u1
	u2.UpdateID, u2.Phase, u2.Message = "upd-2", "identified", "We found the cause."
	has, err = sp.HasUpdate(ctx, id, u2)
	require.NoError(t, err)
	assert.False(t, has, "not sent yet")

	require.NoError(t, sp.Post(ctx, id, u2))
	has, err = sp.HasUpdate(ctx, id, u2)
	require.NoError(t, err)
	assert.True(t, has, "the same update, read back")

	has, err = sp.HasUpdate(ctx, id, u1)
	require.NoError(t, err)
	assert.False(t, has, "no longer the latest")

	u3 := u2
	u3.ETA = u2.ETA.Add(30 * time.Minute)
	has, err = sp.HasUpdate(ctx, id, u3)
	require.NoError(t, err)
	assert.False(t, has, "another ETA is another update")
}

func TestStatuspageUnknownIncident(t *testing.T) {
	_, sp := statuspageSetup(t)
	ctx := context.Background()
	err := sp.Post(ctx, "sp-gone", statusUpdate())
	require.Error(t, err)
	assert.Equal(t, fault.Permanent, fault.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "no such Statuspage incident")
	_, err = sp.HasUpdate(ctx, "sp-gone", statusUpdate())
	assert.Equal(t, fault.Permanent, fault.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "no such Statuspage incident")
}

func TestStatuspageThrottled(t *testing.T) {
	f, sp := statuspageSetup(t)
	f.SetThrottle(true)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"open":     func() error { _, err := sp.Open(ctx, statusUpdate()); return err },
		"post":     func() error { return sp.Post(ctx, "sp-other", statusUpdate()) },
		"findOpen": func() error { _, _, err := sp.FindOpen(ctx, "INC-7QX2"); return err },
		"has":      func() error { _, err := sp.HasUpdate(ctx, "sp-other", statusUpdate()); return err },
	} {
		err := call()
		require.Error(t, err, name)
		assert.True(t, fault.Is(err, fault.Transient), "%s: %v", name, err)
		d, ok := RetryAfter(err)
		assert.True(t, ok, name)
		assert.Equal(t, 7*time.Second, d, name)
		assert.Contains(t, err.Error(), "HTTP 429")
	}
}

func TestStatuspageRefusedKey(t *testing.T) {
	f := statuspagetest.New(t, spPageID, spAPIKey, "sp-core", "sp-api")
	const wrongKey = "0000wrong-key-0000-7a3f9c1b2d4e6f8a"
	sp, err := NewStatuspage(spPageID, wrongKey, spComponents, append(testOpts, WithBaseURL(f.Base()))...)
	require.NoError(t, err)
	_, err = sp.Open(context.Background(), statusUpdate())
	require.Error(t, err)
	assert.Equal(t, fault.Permanent, fault.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "API key is refused")
	assert.Contains(t, err.Error(), "HTTP 401")
	noSecrets(t, err, wrongKey)
	_, ok := RetryAfter(err)
	assert.False(t, ok)
}

func TestStatuspageForbiddenAndOtherAnswers(t *testing.T) {
	for status, want := range map[int]fault.Kind{
		http.StatusForbidden:           fault.Permanent,
		http.StatusUnprocessableEntity: fault.Permanent,
		http.StatusBadGateway:          fault.Transient,
	} {
		srv := newStub(t, func(w http.ResponseWriter, h hit) {
			w.WriteHeader(status)
			w.Write([]byte("you sent " + h.Header.Get("Authorization")))
		})
		sp, err := NewStatuspage(spPageID, spAPIKey, spComponents, append(testOpts, WithBaseURL(srv.URL))...)
		require.NoError(t, err)
		err = sp.Post(context.Background(), "sp-1", statusUpdate())
		require.Error(t, err)
		assert.Equal(t, want, fault.KindOf(err), "%d: %v", status, err)
		noSecrets(t, err, spAPIKey)
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, status, he.Status)
	}
}

func TestStatuspageCreateAnswerWithoutID(t *testing.T) {
	srv := newStub(t, answer(http.StatusCreated, `{"name":"Checkout errors"}`))
	sp, err := NewStatuspage(spPageID, spAPIKey, spComponents, append(testOpts, WithBaseURL(srv.URL))...)
	require.NoError(t, err)
	_, err = sp.Open(context.Background(), statusUpdate())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no id")
	assert.True(t, fault.Retryable(err), "the incident may exist: a retry looks for it")

	srv.setReply(answer(http.StatusOK, `<html>maintenance</html>`))
	_, _, err = sp.FindOpen(context.Background(), "INC-7QX2")
	require.Error(t, err)
	assert.True(t, fault.Retryable(err), "%v", err)
}

func TestStatusUpdateRefusedBeforeAnyRequest(t *testing.T) {
	f, sp := statuspageSetup(t)
	hook, err := NewStatusHook(strings.TrimSuffix(f.Base(), "/v1")+"/hook", WebhookKeys{webhookKey}, testOpts...)
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		field  string
		change func(*StatusUpdate)
	}{
		{"phase", func(u *StatusUpdate) { u.Phase = "fixed" }},
		{"phase", func(u *StatusUpdate) { u.Phase = "" }},
		{"message", func(u *StatusUpdate) { u.Message = " \n " }},
		{"components.core", func(u *StatusUpdate) { u.Components = map[string]string{"core": "down"} }},
		{"eta", func(u *StatusUpdate) { u.ETA = time.Time{} }},
		{"etaKind", func(u *StatusUpdate) { u.ETAKind = "" }},
		{"impact", func(u *StatusUpdate) { u.Impact = "sev1" }},
		{"incidentId", func(u *StatusUpdate) { u.IncidentID = "" }},
		{"updateId", func(u *StatusUpdate) { u.UpdateID = "" }},
	} {
		u := statusUpdate()
		tc.change(&u)
		for name, err := range map[string]error{
			"open": func() error { _, err := sp.Open(ctx, u); return err }(),
			"post": sp.Post(ctx, "sp-other", u),
			"has":  func() error { _, err := sp.HasUpdate(ctx, "sp-other", u); return err }(),
			"hook": hook.Publish(ctx, u),
		} {
			require.Error(t, err, "%s %s", name, tc.field)
			assert.Equal(t, fault.Invalid, fault.KindOf(err), "%s: %v", name, err)
			assert.Equal(t, tc.field, fault.FieldOf(err), "%s: %v", name, err)
		}
	}
	u := statusUpdate()
	u.Title = ""
	_, err = sp.Open(ctx, u)
	assert.Equal(t, "title", fault.FieldOf(err), "%v", err)
	assert.Zero(t, f.Requests(), "nothing invalid is sent")
}

func TestStatusBody(t *testing.T) {
	at := time.Date(2026, 3, 14, 22, 10, 0, 0, time.UTC)
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name string
		u    StatusUpdate
		want string
	}{
		{"next update, same day",
			StatusUpdate{Phase: "identified", Message: "Found it.\n", ETA: at.Add(20 * time.Minute), ETAKind: "next-update", At: at},
			"Found it.\n\nNext update by 22:30 UTC."},
		{"resolution, next day",
			StatusUpdate{Phase: "monitoring", Message: "Fixed.", ETA: at.Add(2 * time.Hour), ETAKind: "resolution", At: at},
			"Fixed.\n\nEstimated resolution by 00:10 UTC on 15 March 2026."},
		{"days compared in UTC, not the author's zone",
			StatusUpdate{Phase: "identified", Message: "Found it.", ETA: at.Add(time.Hour).In(cet), ETAKind: "next-update", At: at.In(cet)},
			"Found it.\n\nNext update by 23:10 UTC."},
		{"resolved promises nothing",
			StatusUpdate{Phase: "resolved", Message: "All good.", ETA: at.Add(time.Hour), ETAKind: "resolution", At: at},
			"All good."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, statusBody(tc.u))
		})
	}
}

func TestNewStatuspageChecks(t *testing.T) {
	_, err := NewStatuspage("", spAPIKey, nil)
	assert.ErrorContains(t, err, "no page id")
	_, err = NewStatuspage(spPageID, "", nil)
	assert.ErrorContains(t, err, "no API key")
	_, err = NewStatuspage(spPageID, spAPIKey, nil, WithBaseURL("http://127.0.0.1:1/v1"))
	assert.ErrorContains(t, err, "https")
	_, err = NewStatuspage(spPageID, spAPIKey, map[string]string{"core": ""})
	assert.Error(t, err)
	sp, err := NewStatuspage(spPageID, spAPIKey, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://api.statuspage.io/v1/pages/"+spPageID+"/incidents", sp.incidents())
}

// The API documents "420 or 429" for its rate limit: both are a wait, never a
// refusal, with or without Retry-After.
func TestStatuspageRateLimitAnswersAreTransient(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       time.Duration
	}{
		{statuspagetest.RateLimited, "", 0},
		{statuspagetest.RateLimited, "3", 3 * time.Second},
		{http.StatusTooManyRequests, "", 0},
	} {
		f, sp := statuspageSetup(t)
		f.ThrottleNext(1, tc.status, tc.retryAfter)
		_, err := sp.Open(context.Background(), statusUpdate())
		require.Error(t, err)
		assert.True(t, fault.Is(err, fault.Transient), "%d: %v", tc.status, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tc.status))
		d, ok := RetryAfter(err)
		assert.Equal(t, tc.want > 0, ok, "%d", tc.status)
		assert.Equal(t, tc.want, d)
	}
}

// A publish that meets the limit twice is published once the limit passes,
// as one incident with one update: the caller's retries are harmless.
func TestStatuspagePublishesAfterMeeting420Twice(t *testing.T) {
	f, sp := statuspageSetup(t)
	inc := &incident.Incident{ID: "INC-7QX2", Title: "checkout-api 5xx", Severity: incident.Sev1,
		Comms: incident.Comms{Title: "Checkout errors"}}
	u := incident.StatusUpdate{ID: "upd-1", At: t0, Phase: incident.PhaseInvestigating, Message: "We are investigating.",
		ETA: t0.Add(30 * time.Minute), ETAKind: incident.ETANextUpdate}
	f.ThrottleNext(2, statuspagetest.RateLimited, "")
	ctx := context.Background()
	var remote string
	var err error
	for attempt := range 3 {
		remote, err = sp.PublishStatus(ctx, inc, u, "", attempt > 0)
		if err == nil {
			break
		}
		require.True(t, fault.Is(err, fault.Transient), "attempt %d: %v", attempt, err)
	}
	require.NoError(t, err)
	got := f.ForIncident("INC-7QX2")
	require.Len(t, got, 1)
	assert.Equal(t, got[0].ID, remote)
	assert.Len(t, got[0].Updates, 1)
}

// An incident whose first update resolves it, its id lost: the resend finds
// the resolved incident instead of opening a second one.
func TestStatuspageResendFindsAResolvedIncident(t *testing.T) {
	f, sp := statuspageSetup(t)
	inc := &incident.Incident{ID: "INC-7QX2", Title: "checkout-api 5xx", Severity: incident.Sev2,
		Comms: incident.Comms{Title: "Checkout errors"}}
	u := incident.StatusUpdate{ID: "upd-1", At: t0, Phase: incident.PhaseResolved, Message: "Checkout failed for ten minutes; it works again."}
	ctx := context.Background()
	first, err := sp.PublishStatus(ctx, inc, u, "", false)
	require.NoError(t, err)
	again, err := sp.PublishStatus(ctx, inc, u, "", true) // the first answer was lost
	require.NoError(t, err)
	assert.Equal(t, first, again)
	got := f.ForIncident("INC-7QX2")
	require.Len(t, got, 1, "one Statuspage incident")
	assert.Len(t, got[0].Updates, 1, "with one update")
}
