package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Email sends mail through Azure Communication Services Email.
//
// Request, as documented in "Email - Send" (ACS REST reference, api-version
// 2023-03-31) and "Repeatable requests":
//
//	POST {endpoint}/emails:send?api-version=2023-03-31
//	Authorization: Bearer <Entra ID token for https://communication.azure.com/.default>
//	Content-Type: application/json
//	Operation-Id: <UUID derived from the notification key>
//	Repeatability-Request-Id: <the same UUID>            (while the notification is under 4 min old)
//	Repeatability-First-Sent: <CreatedAt, IMF-fixdate>   (idem)
//
//	{"senderAddress": "...",
//	 "content": {"subject": "...", "plainText": "...", "html": "..."},
//	 "recipients": {"to": [{"address": "...", "displayName": "..."}]},
//	 "userEngagementTrackingDisabled": true}
//
// The service answers 202 Accepted with {"id": ..., "status": "Running"} and
// delivers later; Vigil does not poll the operation. Operation-Id is the
// documented, client-chosen id of the send operation, so a redelivered message
// names the same operation; the repeatability headers make the service replay its
// first answer to a repeat within its 5-minute tracking window. A 409 (the first
// request is still being processed) and a 412 (the repeatability window has
// passed: the next attempt goes without the headers) are retried, like 408, 429 and
// 5xx. Engagement tracking is off so that ack links are not rewritten.
type Email struct {
	acs    *acsClient
	sender string
}

// EmailAPIVersion is the ACS Email API version Email speaks.
const EmailAPIVersion = "2023-03-31"

// NewEmail returns the e-mail channel sending from sender (an address of a domain
// connected to the ACS resource at endpoint), signed in with cred.
func NewEmail(endpoint, sender string, cred azcore.TokenCredential, opts ...ChannelOption) (*Email, error) {
	a, err := newACSClient(incident.ChannelEmail, endpoint, cred, newChannelConfig(opts))
	if err != nil {
		return nil, err
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(sender))
	if err != nil || addr.Name != "" {
		return nil, fmt.Errorf("email: the sender must be a plain address such as DoNotReply@<verified domain>")
	}
	return &Email{acs: a, sender: addr.Address}, nil
}

type emailMessage struct {
	SenderAddress                  string          `json:"senderAddress"`
	Content                        emailContent    `json:"content"`
	Recipients                     emailRecipients `json:"recipients"`
	UserEngagementTrackingDisabled bool            `json:"userEngagementTrackingDisabled"`
}

type emailContent struct {
	Subject   string `json:"subject"`
	PlainText string `json:"plainText"`
	HTML      string `json:"html"`
}

type emailRecipients struct {
	To []emailAddress `json:"to"`
}

type emailAddress struct {
	Address     string `json:"address"`
	DisplayName string `json:"displayName,omitempty"`
}

func emailPayload(sender, to string, n incident.Notification) emailMessage {
	var plain, rich strings.Builder
	esc := html.EscapeString
	plain.WriteString(n.Subject + "\n\n")
	rich.WriteString(`<!DOCTYPE html><html><body style="font-family:sans-serif">`)
	rich.WriteString("<h2>" + esc(n.Subject) + "</h2>")
	if l := sevLabel(n.Severity); l != "" {
		plain.WriteString("Severity: " + l + "\n")
		colour := "#444"
		if urgent(n) {
			colour = "#b00020"
		}
		rich.WriteString(`<p><strong style="color:` + colour + `">Severity: ` + esc(l) + "</strong>")
		if n.Urgency != "" {
			rich.WriteString(" &middot; Urgency: " + esc(string(n.Urgency)))
		}
		rich.WriteString("</p>")
	} else if n.Urgency != "" {
		rich.WriteString("<p>Urgency: " + esc(string(n.Urgency)) + "</p>")
	}
	if n.Urgency != "" {
		plain.WriteString("Urgency: " + string(n.Urgency) + "\n")
	}
	if n.Text != "" {
		plain.WriteString("\n" + n.Text + "\n")
		rich.WriteString(`<p style="white-space:pre-wrap">` + esc(n.Text) + "</p>")
	}
	if n.AckURL != "" || n.Link != "" {
		plain.WriteString("\n")
		rich.WriteString("<p>")
	}
	if n.AckURL != "" {
		plain.WriteString("Acknowledge: " + n.AckURL + "\n")
		rich.WriteString(`<a href="` + esc(n.AckURL) + `"><strong>Acknowledge</strong></a>`)
		if n.Link != "" {
			rich.WriteString(" &nbsp; ")
		}
	}
	if n.Link != "" {
		plain.WriteString(openTitle(n) + ": " + n.Link + "\n")
		rich.WriteString(`<a href="` + esc(n.Link) + `">` + esc(openTitle(n)) + "</a>")
	}
	if n.AckURL != "" || n.Link != "" {
		rich.WriteString("</p>")
	}
	rich.WriteString("</body></html>")
	return emailMessage{
		SenderAddress:                  sender,
		Content:                        emailContent{Subject: titled(n), PlainText: plain.String(), HTML: rich.String()},
		Recipients:                     emailRecipients{To: []emailAddress{{Address: to, DisplayName: n.To}}},
		UserEngagementTrackingDisabled: true,
	}
}

func emailStatusKind(status int) fault.Kind {
	if status == http.StatusConflict || status == http.StatusPreconditionFailed {
		return fault.Transient
	}
	return statusKind(status)
}

// Deliver sends n to the mailbox n.Address.
func (e *Email) Deliver(ctx context.Context, n incident.Notification) error {
	addr, err := mail.ParseAddress(strings.TrimSpace(n.Address))
	if err != nil {
		return fault.New(fault.Permanent, "email: the address of %s is not an e-mail address", noteRef(n.Key))
	}
	body, err := json.Marshal(emailPayload(e.sender, addr.Address, n))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "email: encoding %s", noteRef(n.Key))
	}
	h := http.Header{}
	if n.Key != "" { // without a key there is nothing to be idempotent by
		id := keyUUID(n.Key)
		h.Set("Operation-Id", id)
		if repeatable(n.CreatedAt, e.acs.cfg.now()) {
			h.Set("Repeatability-Request-Id", id)
			h.Set("Repeatability-First-Sent", firstSent(n.CreatedAt))
		}
	}
	_, err = e.acs.post(ctx, "/emails:send", EmailAPIVersion, body, h, linkSecrets(n), emailStatusKind)
	return err
}
