package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Teams posts an Adaptive Card to a Microsoft Teams channel or chat through a
// Workflows (Power Automate) "When a Teams webhook request is received" trigger,
// the replacement for Office 365 connector webhooks.
//
// Request, as documented in "Create and send messages" (Teams platform docs,
// section "Send Adaptive Cards using an Incoming Webhook") and "Create incoming
// webhooks with Workflows for Microsoft Teams":
//
//	POST <workflow URL>
//	Content-Type: application/json
//
//	{"type": "message",
//	 "attachments": [{
//	   "contentType": "application/vnd.microsoft.card.adaptive",
//	   "contentUrl": null,
//	   "content": {
//	     "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//	     "type": "AdaptiveCard", "version": "1.4",
//	     "body": [{"type": "TextBlock", "text": "...", "wrap": true}, ...],
//	     "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": "..."}, ...]}}]}
//
// Workflows answers 202 Accepted; any 2xx is success. A 202 only means the flow
// started: a flow cannot post to a private channel, and stops when its owner
// leaves the organisation, and neither is visible to Vigil (docs/channels.md).
// Messages are limited to 28 KB ("Create an Incoming Webhook"): the text is cut
// until the message, as sent, fits. Teams has no idempotency key: a redelivered
// message may post the card twice.
//
// n.Address is the name of the app setting holding the workflow URL.
type Teams struct {
	secrets Secrets
	cfg     channelConfig
}

// NewTeams returns the Teams channel; secrets resolves the setting names
// notifications carry to workflow URLs.
func NewTeams(secrets Secrets, opts ...ChannelOption) (*Teams, error) {
	if secrets == nil {
		return nil, errors.New("teams: no settings lookup for webhook URLs")
	}
	return &Teams{secrets: secrets, cfg: newChannelConfig(opts)}, nil
}

const (
	adaptiveCardContentType = "application/vnd.microsoft.card.adaptive"
	adaptiveCardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	adaptiveCardVersion     = "1.4"
	teamsMaxText            = 8 << 10
	// teamsMaxMessage is Teams' limit on a message, less room for what the
	// flow adds.
	teamsMaxMessage = 27 << 10
)

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // always null, as documented
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []cardElement `json:"body"`
	Actions []cardAction  `json:"actions,omitempty"`
}

type cardElement struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
}

type cardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
	Style string `json:"style,omitempty"`
}

// teamsBody is the message for n as sent: without HTML escapes (Teams needs
// none, and \u003c is six bytes of the 28 KB), its texts cut by half until
// it fits.
func teamsBody(n incident.Notification) ([]byte, error) {
	subject, text := 1024, teamsMaxText
	for {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(teamsPayload(n, subject, text)); err != nil {
			return nil, err
		}
		if buf.Len() <= teamsMaxMessage || (subject < 64 && text < 64) {
			return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
		}
		subject, text = max(subject/2, 32), max(text/2, 32)
	}
}

func teamsPayload(n incident.Notification, maxSubject, maxText int) teamsMessage {
	body := []cardElement{{Type: "TextBlock", Text: clip(n.Subject, maxSubject), Size: "Large", Weight: "Bolder", Wrap: true}}
	if l := sevLabel(n.Severity); l != "" {
		sev := cardElement{Type: "TextBlock", Text: "Severity: " + l, Weight: "Bolder", Wrap: true}
		if urgent(n) {
			sev.Color = "Attention"
		}
		body = append(body, sev)
	}
	if n.Urgency != "" {
		body = append(body, cardElement{Type: "TextBlock", Text: "Urgency: " + string(n.Urgency), IsSubtle: true, Wrap: true})
	}
	if n.Text != "" {
		body = append(body, cardElement{Type: "TextBlock", Text: clip(n.Text, maxText), Wrap: true})
	}
	var actions []cardAction
	if n.AckURL != "" {
		actions = append(actions, cardAction{Type: "Action.OpenUrl", Title: "Acknowledge", URL: n.AckURL, Style: "positive"})
	}
	if n.Link != "" {
		actions = append(actions, cardAction{Type: "Action.OpenUrl", Title: openTitle(n), URL: n.Link})
	}
	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: adaptiveCardContentType,
			Content: adaptiveCard{
				Schema: adaptiveCardSchema, Type: "AdaptiveCard", Version: adaptiveCardVersion,
				Body: body, Actions: actions,
			},
		}},
	}
}

// Deliver posts n's card to the workflow n.Address names.
func (t *Teams) Deliver(ctx context.Context, n incident.Notification) error {
	target, hide, err := t.cfg.webhookURL(incident.ChannelTeams, t.secrets, n.Address)
	if err != nil {
		return err
	}
	body, err := teamsBody(n)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "teams: encoding %s", noteRef(n.Key))
	}
	rq := request{channel: incident.ChannelTeams, url: target, body: body, secrets: append(hide, linkSecrets(n)...)}
	resp, err := t.cfg.send(ctx, rq)
	if err != nil {
		return err
	}
	return t.cfg.check(rq, resp)
}
