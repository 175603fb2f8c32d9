package notify

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"vigil/internal/incident"
)

// App settings FromSettings reads. In Azure they are app settings (set by
// Terraform). Webhook URLs and webhook signing keys are in the settings the
// catalog names (Key Vault references in Azure).
const (
	// SettingACSEndpoint is the Azure Communication Services endpoint,
	// https://<resource>.communication.azure.com. E-mail and SMS need it.
	SettingACSEndpoint = "ACS_ENDPOINT"
	// SettingACSEmailSender is the sender address of e-mail, on a domain
	// connected to the ACS resource. Setting it turns e-mail on.
	SettingACSEmailSender = "ACS_EMAIL_SENDER"
	// SettingACSSMSFrom is the E.164 number SMS are sent from, acquired on the
	// ACS resource. Setting it turns SMS on.
	SettingACSSMSFrom = "ACS_SMS_FROM"
)

// EnvSecrets reads webhook URLs from the settings getenv returns; an empty
// setting counts as unset.
func EnvSecrets(getenv func(string) string) Secrets {
	return func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	}
}

// FromSettings builds the router from app settings, and lists the channels it
// sends on (in incident.Channels order):
//
//   - teams, slack and webhook are always on: each notification's address
//     names the setting holding its webhook URL, read when it is sent (and,
//     for webhook, the setting holding the receiver's signing key: the same
//     name followed by _SIGNING_KEY);
//   - email is on when ACS_ENDPOINT and ACS_EMAIL_SENDER are set, sms when
//     ACS_ENDPOINT and ACS_SMS_FROM are; both sign in with cred (the app's
//     managed identity), which they then require.
//
// opts add an outbox (OutboxOnly, OutboxCopy), options for every channel
// (WithChannelOptions) or channels of the caller's own (WithChannel, which wins).
// A setting that is present but wrong is an error naming it.
func FromSettings(getenv func(string) string, cred azcore.TokenCredential, opts ...Option) (*Router, []string, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	pre := newRouterConfig(opts) // for the channel options
	chanOpts := pre.chanOpts
	secrets := EnvSecrets(getenv)

	built := map[string]Channel{}
	teams, err := NewTeams(secrets, chanOpts...)
	if err != nil {
		return nil, nil, err
	}
	built[incident.ChannelTeams] = teams
	slack, err := NewSlack(secrets, chanOpts...)
	if err != nil {
		return nil, nil, err
	}
	built[incident.ChannelSlack] = slack

	wh, err := NewWebhook(secrets, chanOpts...)
	if err != nil {
		return nil, nil, err
	}
	built[incident.ChannelWebhook] = wh

	endpoint, sender, from := get(SettingACSEndpoint), get(SettingACSEmailSender), get(SettingACSSMSFrom)
	switch {
	case endpoint == "" && (sender != "" || from != ""):
		return nil, nil, fmt.Errorf("%s is not set: e-mail and SMS go through Azure Communication Services", SettingACSEndpoint)
	case endpoint != "" && sender == "" && from == "":
		return nil, nil, fmt.Errorf("%s is set but neither %s nor %s is: nothing to send through it", SettingACSEndpoint, SettingACSEmailSender, SettingACSSMSFrom)
	case endpoint != "" && cred == nil:
		return nil, nil, fmt.Errorf("%s is set but no Entra ID credential was given: ACS is reached with the app's identity, never an access key", SettingACSEndpoint)
	}
	if sender != "" {
		em, err := NewEmail(endpoint, sender, cred, chanOpts...)
		if err != nil {
			return nil, nil, fmt.Errorf("%s/%s: %w", SettingACSEndpoint, SettingACSEmailSender, err)
		}
		built[incident.ChannelEmail] = em
	}
	if from != "" {
		sms, err := NewSMS(endpoint, from, cred, chanOpts...)
		if err != nil {
			return nil, nil, fmt.Errorf("%s/%s: %w", SettingACSEndpoint, SettingACSSMSFrom, err)
		}
		built[incident.ChannelSMS] = sms
	}

	// The caller's options apply over the built channels: WithChannel wins.
	all := make([]Option, 0, len(built)+len(opts))
	for name, ch := range built {
		all = append(all, WithChannel(name, ch))
	}
	r := NewRouter(append(all, opts...)...)
	return r, r.Configured(), nil
}
