package notify

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

func TestFromSettingsReportsTheChannels(t *testing.T) {
	cred := newFakeCred()
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, []string{"teams", "slack", "webhook"}},
		{"email only", map[string]string{SettingACSEndpoint: "https://vigil.communication.azure.com", SettingACSEmailSender: emailSender},
			[]string{"teams", "slack", "email", "webhook"}},
		{"everything", map[string]string{
			SettingACSEndpoint: "https://vigil.communication.azure.com", SettingACSEmailSender: emailSender,
			SettingACSSMSFrom: smsFrom,
		}, []string{"teams", "slack", "sms", "email", "webhook"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, configured, err := FromSettings(envOf(tc.env), cred)
			require.NoError(t, err)
			assert.Equal(t, tc.want, configured)
			assert.Equal(t, tc.want, r.Configured())
		})
	}
}

func TestFromSettingsNamesWhatIsWrong(t *testing.T) {
	const endpoint = "https://vigil.communication.azure.com"
	cases := []struct {
		name    string
		env     map[string]string
		nilCred bool
		want    string
	}{
		{"sender without endpoint", map[string]string{SettingACSEmailSender: emailSender}, false, SettingACSEndpoint + " is not set"},
		{"number without endpoint", map[string]string{SettingACSSMSFrom: smsFrom}, false, SettingACSEndpoint + " is not set"},
		{"endpoint alone", map[string]string{SettingACSEndpoint: endpoint}, false, "neither ACS_EMAIL_SENDER nor ACS_SMS_FROM"},
		{"no credential", map[string]string{SettingACSEndpoint: endpoint, SettingACSSMSFrom: smsFrom}, true, "no Entra ID credential"},
		{"plain http endpoint", map[string]string{SettingACSEndpoint: "http://vigil.communication.azure.com", SettingACSSMSFrom: smsFrom}, false, SettingACSEndpoint},
		{"bad sender", map[string]string{SettingACSEndpoint: endpoint, SettingACSEmailSender: "nobody"}, false, SettingACSEmailSender},
		{"bad number", map[string]string{SettingACSEndpoint: endpoint, SettingACSSMSFrom: "555"}, false, SettingACSSMSFrom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred := newFakeCred()
			var err error
			if tc.nilCred {
				_, _, err = FromSettings(envOf(tc.env), nil)
			} else {
				_, _, err = FromSettings(envOf(tc.env), cred)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "not-base64-secret")
			assert.NotContains(t, err.Error(), "short-secret")
		})
	}
}

// End to end: settings name the webhook, a TLS server receives the page.
func TestFromSettingsDelivers(t *testing.T) {
	srv := newTLSStub(t, answer(http.StatusOK, "ok"))
	env := map[string]string{
		"SLACK_SRE_WEBHOOK":          srv.URL + slackPath,
		"OPS_BRIDGE_URL":             srv.URL + webhookPath,
		"OPS_BRIDGE_URL_SIGNING_KEY": webhookSecret,
	}
	r, _, err := FromSettings(envOf(env), nil, WithChannelOptions(WithHTTPClient(srv.Client())))
	require.NoError(t, err)

	require.NoError(t, r.Deliver(context.Background(), page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")))
	assert.Equal(t, slackPath, srv.last(t).Path)
	require.NoError(t, r.Deliver(context.Background(), page(incident.ChannelWebhook, "OPS_BRIDGE_URL")))
	assert.Equal(t, webhookPath, srv.last(t).Path)
	verify(t, webhookKey, srv.last(t))

	err = r.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123"))
	assert.True(t, fault.Is(err, fault.Permanent), "sms is not configured: %v", err)
	err = r.Deliver(context.Background(), page(incident.ChannelTeams, "TEAMS_NOT_SET"))
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), `setting "TEAMS_NOT_SET" is not set`)
}

func TestFromSettingsWithOutbox(t *testing.T) {
	outbox := &recorder{}
	r, configured, err := FromSettings(envOf(nil), nil, OutboxOnly(outbox))
	require.NoError(t, err)
	assert.Equal(t, []string{"teams", "slack", "webhook"}, configured)
	require.NoError(t, r.Deliver(context.Background(), page(incident.ChannelSMS, "+14255550123")))
	assert.Len(t, outbox.keys(), 1)
}
