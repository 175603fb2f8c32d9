package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Slack posts a message through a Slack incoming webhook.
//
// Request, as documented in "Sending messages using incoming webhooks" and Block
// Kit's "Section block", "Actions block" and "Button element" references:
//
//	POST <webhook URL>
//	Content-Type: application/json
//
//	{"text": "<fallback for notifications>",
//	 "blocks": [
//	   {"type": "section", "text": {"type": "mrkdwn", "text": "*subject*\n..."}},
//	   {"type": "actions", "elements": [
//	     {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
//	      "url": "...", "action_id": "vigil-ack", "style": "primary"},
//	     {"type": "button", "text": {"type": "plain_text", "text": "Open incident"},
//	      "url": "...", "action_id": "vigil-open"}]}]}
//
// All text is escaped (&, <, > as &amp; &lt; &gt;, "Formatting text for app
// surfaces"), the fallback text too: it is what push notifications show, and
// Slack reads <!channel> or <url|label> in it as markup.
//
// Slack answers 200 with the body "ok". Failures, per "Improving error conditions
// for Incoming Webhooks": 400 invalid_payload / invalid_blocks / user_not_found, 403
// action_prohibited, 404 channel_not_found / no_service (webhook revoked), 410
// channel_is_archived, all permanent; 429 (rate limited, with Retry-After) and 5xx
// (rollup_error) are transient. Section text is limited to 3,000 characters.
// Slack has no idempotency key: a redelivered message may post twice.
//
// n.Address is the name of the app setting holding the webhook URL.
type Slack struct {
	secrets Secrets
	cfg     channelConfig
}

// NewSlack returns the Slack channel; secrets resolves the setting names
// notifications carry to webhook URLs.
func NewSlack(secrets Secrets, opts ...ChannelOption) (*Slack, error) {
	if secrets == nil {
		return nil, errors.New("slack: no settings lookup for webhook URLs")
	}
	return &Slack{secrets: secrets, cfg: newChannelConfig(opts)}, nil
}

const slackMaxSection = 3000

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	Text     *slackText     `json:"text,omitempty"`
	Elements []slackElement `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackElement struct {
	Type     string    `json:"type"`
	Text     slackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
	Style    string    `json:"style,omitempty"`
}

// slackEscape escapes the three characters mrkdwn treats as control sequences
// (Slack's "Formatting text for app surfaces", "Escaping text").
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackPayload(n incident.Notification) slackMessage {
	var b strings.Builder
	b.WriteString("*" + slackEscape.Replace(n.Subject) + "*")
	var facts []string
	if l := sevLabel(n.Severity); l != "" {
		facts = append(facts, "*Severity:* "+l)
	}
	if n.Urgency != "" {
		facts = append(facts, "*Urgency:* "+slackEscape.Replace(string(n.Urgency)))
	}
	if len(facts) > 0 {
		b.WriteString("\n" + strings.Join(facts, "   "))
	}
	if n.Text != "" {
		b.WriteString("\n" + slackEscape.Replace(n.Text))
	}
	blocks := []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: clipEscaped(b.String(), slackMaxSection)}}}
	var buttons []slackElement
	if n.AckURL != "" {
		buttons = append(buttons, slackElement{Type: "button", Text: slackText{Type: "plain_text", Text: "Acknowledge"},
			URL: n.AckURL, ActionID: "vigil-ack", Style: "primary"})
	}
	if n.Link != "" {
		buttons = append(buttons, slackElement{Type: "button", Text: slackText{Type: "plain_text", Text: openTitle(n)},
			URL: n.Link, ActionID: "vigil-open"})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: buttons})
	}
	return slackMessage{Text: clipEscaped(slackEscape.Replace(titled(n)), slackMaxSection), Blocks: blocks}
}

// clipEscaped is clip for escaped text: it never cuts an escape in half,
// which would leave a bare '&'.
func clipEscaped(s string, n int) string {
	c := clip(s, n)
	if c == s {
		return s
	}
	body := strings.TrimSuffix(c, "…")
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + "…"
}

// Deliver posts n to the webhook n.Address names.
func (s *Slack) Deliver(ctx context.Context, n incident.Notification) error {
	target, hide, err := s.cfg.webhookURL(incident.ChannelSlack, s.secrets, n.Address)
	if err != nil {
		return err
	}
	body, err := json.Marshal(slackPayload(n))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "slack: encoding %s", noteRef(n.Key))
	}
	rq := request{channel: incident.ChannelSlack, url: target, body: body, secrets: append(hide, linkSecrets(n)...)}
	resp, err := s.cfg.send(ctx, rq)
	if err != nil {
		return err
	}
	return s.cfg.check(rq, resp)
}
