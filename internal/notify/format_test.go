package notify

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/incident"
	"vigil/internal/notify/acstest"
	"vigil/internal/notify/slacktest"
)

// Pages carry the severity in their subject already ("[SEV1] title", as
// internal/paging writes it): every channel shows it once.
func TestSeverityIsPrintedOnce(t *testing.T) {
	for _, subject := range []string{"[SEV1] Checkout is failing", "Checkout is failing", "[sev1] Checkout is failing"} {
		n := page("", "")
		n.Subject = subject

		acs := acstest.New(t, testToken)
		email, err := NewEmail(acs.URL(), emailSender, newFakeCred(), testOpts...)
		require.NoError(t, err)
		n.Channel, n.Address = incident.ChannelEmail, "ada@example.com"
		require.NoError(t, email.Deliver(context.Background(), n))
		got := obj(t, acs.Emails()[0].Message["content"])["subject"].(string)
		assert.Equal(t, 1, strings.Count(strings.ToUpper(got), "[SEV1]"), "e-mail subject %q", got)

		line, _, _ := strings.Cut(smsText(n), "\n")
		assert.Equal(t, 1, strings.Count(strings.ToUpper(line), "[SEV1]"), "SMS first line %q", line)

		sl := slacktest.New(t)
		slack, err := NewSlack(secretsOf(map[string]string{"S": sl.URL()}), testOpts...)
		require.NoError(t, err)
		n.Channel, n.Address = incident.ChannelSlack, "S"
		require.NoError(t, slack.Deliver(context.Background(), n))
		text := sl.Messages()[0].Text
		assert.Equal(t, 1, strings.Count(strings.ToUpper(text), "[SEV1]"), "Slack fallback %q", text)
	}
}
