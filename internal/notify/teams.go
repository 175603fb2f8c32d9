package notify

import (
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
// Workflows answers 202 Accepted; any 2xx is success. Messages are limited to
// 28 KB ("Create an Incoming Webhook"), so the text is cut well below that. Teams
// has no idempotency key: a redelivered message may post the card twice.
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

func teamsPayload(n incident.Notification) teamsMessage {
	body := []cardElement{{Type: "TextBlock", Text: clip(n.Subject, 1024), Size: "Large", Weight: "Bolder", Wrap: true}}
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
		body = append(body, cardElement{Type: "TextBlock", Text: clip(n.Text, teamsMaxText), Wrap: true})
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
	body, err := json.Marshal(teamsPayload(n))
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
