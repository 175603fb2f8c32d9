package notify

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/notify/acstest"
)

const smsFrom = "+18005550100"

// smsResult answers like ACS: 202 with one result per recipient.
func smsResultAnswer(item string) func(http.ResponseWriter, hit) {
	return answer(http.StatusAccepted, `{"value":[`+item+`]}`)
}

const smsOK = `{"to":"+14255550123","messageId":"Outgoing_20260314092653abc","httpStatusCode":202,"repeatabilityResult":"accepted","successful":true}`

func smsSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *SMS, *fakeCred) {
	t.Helper()
	srv := newStub(t, reply)
	cred := newFakeCred()
	ch, err := NewSMS(srv.URL, smsFrom, cred, testOpts...)
	require.NoError(t, err)
	return srv, ch, cred
}

func TestSMSSendsThroughACS(t *testing.T) {
	srv, ch, cred := smsSetup(t, smsResultAnswer(smsOK))
	n := page(incident.ChannelSMS, "+1 (425) 555-0123")
	require.NoError(t, ch.Deliver(context.Background(), n))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, "/sms", h.Path)
	q, err := url.ParseQuery(h.Query)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"api-version": {"2021-03-07"}}, q)
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	assert.Equal(t, "Bearer "+testToken, h.Header.Get("Authorization"))
	assert.Equal(t, [][]string{{ACSScope}}, cred.scopes)

	msg := decode(t, h.Body)
	assert.ElementsMatch(t, []string{"from", "smsRecipients", "message", "smsSendOptions"}, keys(msg))
	assert.Equal(t, smsFrom, msg["from"])
	rcpts := arr(t, msg["smsRecipients"])
	require.Len(t, rcpts, 1)
	assert.Equal(t, map[string]any{
		"to":                     "+14255550123",
		"repeatabilityRequestId": keyUUID(n.Key),
		"repeatabilityFirstSent": "Sat, 14 Mar 2026 09:26:53 GMT",
	}, rcpts[0])
	assert.Regexp(t, uuidV5, obj(t, rcpts[0])["repeatabilityRequestId"])
	assert.Equal(t, map[string]any{"enableDeliveryReport": true}, msg["smsSendOptions"])
	text := msg["message"].(string)
	assert.True(t, strings.HasPrefix(text, "[SEV1] Checkout is failing\n"), text)
	assert.Contains(t, text, "Ack: "+testAckURL)
	assert.Contains(t, text, "Open: "+testLink)
}

// Against the ACS test server: the text is sent once, and a redelivery of
// the same notification replays its first result.
func TestSMSThroughTheTestServer(t *testing.T) {
	srv := acstest.New(t, testToken)
	ch, err := NewSMS(srv.URL(), smsFrom, newFakeCred(), testOpts...)
	require.NoError(t, err)
	n := page(incident.ChannelSMS, "+14255550123")
	require.NoError(t, ch.Deliver(context.Background(), n))
	require.NoError(t, ch.Deliver(context.Background(), n))
	texts := srv.Texts()
	require.Len(t, texts, 1, "the repeatability id makes the second send a replay")
	assert.Equal(t, keyUUID(n.Key), texts[0].RequestID)
	assert.Equal(t, smsFrom, texts[0].From)
	assert.Equal(t, "+14255550123", texts[0].To)
	assert.True(t, strings.HasPrefix(texts[0].Message, "[SEV1] Checkout is failing\n"), texts[0].Message)

	srv.SMSFailure("+14255550199", http.StatusForbidden, "Recipient has opted out.")
	other := page(incident.ChannelSMS, "+14255550199")
	other.Key = "ntf:another" // the same key would replay the first result
	err = ch.Deliver(context.Background(), other)
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), "opted out")
}

func TestSMSTextKeepsLinksWhole(t *testing.T) {
	n := page(incident.ChannelSMS, "+14255550123")
	n.Text = strings.Repeat("very long detail ", 200)
	text := smsText(n)
	assert.LessOrEqual(t, len(text), smsMaxLen)
	assert.True(t, strings.HasSuffix(text, "Ack: "+testAckURL+"\nOpen: "+testLink), text)
	assert.Contains(t, text, "…")
}

func TestSMSOldNotificationGoesWithoutRepeatability(t *testing.T) {
	srv, ch, _ := smsSetup(t, smsResultAnswer(smsOK))
	n := page(incident.ChannelSMS, "+14255550123")
	n.CreatedAt = clock().Add(-time.Hour)
	require.NoError(t, ch.Deliver(context.Background(), n))
	rcpt := obj(t, arr(t, decode(t, srv.last(t).Body)["smsRecipients"])[0])
	assert.Equal(t, map[string]any{"to": "+14255550123"}, rcpt)
}

func TestSMSRecipientResults(t *testing.T) {
	cases := []struct {
		name     string
		item     string
		kind     fault.Kind
		contains string
	}{
		{"invalid number", `{"to":"+14255550123","httpStatusCode":400,"errorMessage":"Invalid To phone number format.","successful":false}`,
			fault.Permanent, "HTTP 400 Bad Request: Invalid To phone number format."},
		{"opted out", `{"to":"+14255550123","httpStatusCode":403,"errorMessage":"Recipient has opted out.","successful":false}`,
			fault.Permanent, "opted out"},
		{"unavailable", `{"to":"+14255550123","messageId":"Outgoing_x","httpStatusCode":503,"errorMessage":"ServiceUnavailable","successful":false}`,
			fault.Transient, "HTTP 503"},
		{"throttled", `{"to":"+14255550123","httpStatusCode":429,"errorMessage":"TooManyRequests","successful":false}`,
			fault.Transient, "HTTP 429"},
		{"repeatability rejected, bad date", `{"to":"+14255550123","messageId":"Outgoing_x","httpStatusCode":400,"repeatabilityResult":"rejected","errorMessage":"Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.","successful":false}`,
			fault.Permanent, "repeatability-first-sent"},
		{"repeatability window passed", `{"to":"+14255550123","httpStatusCode":412,"repeatabilityResult":"rejected","successful":false}`,
			fault.Transient, "HTTP 412"},
		{"unsuccessful without a status", `{"to":"+14255550123","successful":false}`, fault.Transient, "sms: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ch, _ := smsSetup(t, smsResultAnswer(tc.item))
			err := ch.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123"))
			require.Error(t, err)
			assert.Equal(t, tc.kind, fault.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), tc.contains)
			noSecrets(t, err, testToken, testAckURL)
		})
	}
}

func TestSMSRequestFailures(t *testing.T) {
	t.Run("429 with Retry-After", func(t *testing.T) {
		_, ch, _ := smsSetup(t, answer(http.StatusTooManyRequests, `{"error":{"code":"TooManyRequests"}}`, "Retry-After", "60"))
		err := ch.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123"))
		assert.True(t, fault.Is(err, fault.Transient), "%v", err)
		d, ok := RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, time.Minute, d)
	})
	t.Run("400 whole request", func(t *testing.T) {
		_, ch, _ := smsSetup(t, answer(http.StatusBadRequest, `{"error":{"code":"InvalidFrom","message":"The from number is not provisioned."}}`))
		err := ch.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123"))
		assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
		assert.Contains(t, err.Error(), "not provisioned")
	})
	t.Run("202 without results", func(t *testing.T) {
		_, ch, _ := smsSetup(t, answer(http.StatusAccepted, `not json`))
		err := ch.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123"))
		assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	})
	t.Run("invalid address is never sent", func(t *testing.T) {
		srv, ch, _ := smsSetup(t, smsResultAnswer(smsOK))
		for _, addr := range []string{"4255550123", "+0123456789", "call me", "+1425555012345678"} {
			err := ch.Deliver(context.Background(), page(incident.ChannelSMS, addr))
			assert.True(t, fault.Is(err, fault.Permanent), "%s: %v", addr, err)
		}
		assert.Equal(t, 0, srv.count())
	})
}

func TestNewSMSChecksItsSender(t *testing.T) {
	_, err := NewSMS("https://vigil.communication.azure.com", "not a number", newFakeCred())
	assert.ErrorContains(t, err, "E.164")
	_, err = NewSMS("https://vigil.communication.azure.com", "+1 800 555 0100", newFakeCred())
	assert.NoError(t, err)
}
