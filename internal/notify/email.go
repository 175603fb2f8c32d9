package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Email sends mail through Azure Communication Services Email.
//
// Request, as documented in "Email - Send" (ACS REST reference, api-version
// 2023-03-31):
//
//	POST {endpoint}/emails:send?api-version=2023-03-31
//	Authorization: Bearer <Entra ID token for https://communication.azure.com/.default>
//	Content-Type: application/json
//	Operation-Id: <UUID derived from the notification key>
//
//	{"senderAddress": "...",
//	 "content": {"subject": "...", "plainText": "...", "html": "..."},
//	 "recipients": {"to": [{"address": "...", "displayName": "..."}]},
//	 "userEngagementTrackingDisabled": true}
//
// The service answers 202 Accepted with {"id": ..., "status": "Running"}, an
// Operation-Location and a retry-after, and sends later: the operation can
// still end Failed or Canceled. Send reports the operation to follow, and
// Follow reads it once ("Email - Get Send Result"):
//
//	GET {endpoint}/emails/operations/{operation id}?api-version=2023-03-31
//
//	{"id": ..., "status": "Running" | "Succeeded" | "Failed" | "Canceled",
//	 "error": {"code": ..., "message": ...}}   (retry-after while Running)
//
// Operation-Id is the documented, client-chosen id of the send operation, so a
// redelivered message names the same operation. The version has no
// Repeatability-* headers (only the 2021-10-01 preview had them), so none is
// sent. 408, 429 and 5xx are retried; other refusals are permanent.
// Engagement tracking is off so that ack links are not rewritten.
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

// emailSendResult is the service's view of a send operation.
type emailSendResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ACS send operation statuses.
const (
	acsSucceeded = "Succeeded"
	acsFailed    = "Failed"
	acsCanceled  = "Canceled"
)

// operationID is what Follow accepts as an ACS operation id: a UUID, or at
// least nothing that could leave its path segment.
var operationID = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)

// Deliver sends n to the mailbox n.Address: Send, without following it.
func (e *Email) Deliver(ctx context.Context, n incident.Notification) error {
	_, err := e.Send(ctx, n)
	return err
}

// Send sends n to the mailbox n.Address. Accepted, the e-mail is an
// operation to follow (Delivery.FollowUp), unless the answer already says it
// succeeded; an answer saying it failed is a fault.Permanent error.
func (e *Email) Send(ctx context.Context, n incident.Notification) (Delivery, error) {
	addr, err := mail.ParseAddress(strings.TrimSpace(n.Address))
	if err != nil {
		return Delivery{}, fault.New(fault.Permanent, "email: the address of %s is not an e-mail address", noteRef(n.Key))
	}
	body, err := json.Marshal(emailPayload(e.sender, addr.Address, n))
	if err != nil {
		return Delivery{}, fault.Wrap(fault.Internal, err, "email: encoding %s", noteRef(n.Key))
	}
	h := http.Header{}
	var sentID string
	if n.Key != "" { // without a key there is nothing to be idempotent by
		sentID = keyUUID(n.Key)
		h.Set("Operation-Id", sentID)
	}
	resp, err := e.acs.post(ctx, "/emails:send", EmailAPIVersion, body, h, linkSecrets(n), nil)
	if err != nil {
		return Delivery{}, err
	}
	var res emailSendResult
	_ = json.Unmarshal(resp.body, &res) // accepted whatever the body says
	id := res.ID
	if id == "" {
		id = operationFromLocation(resp.header.Get("Operation-Location"))
	}
	if id == "" {
		id = sentID
	}
	wait, ok := parseRetryAfter(resp.header, e.acs.cfg.now())
	if !ok || wait <= 0 {
		wait = DefaultCheckAfter
	}
	o := e.outcome(n, id, res, wait)
	switch {
	case o.State == Delivered:
		return Delivery{}, nil
	case o.State == Failed:
		return Delivery{}, o.Err
	case id == "" || !operationID.MatchString(id):
		// Accepted, but with no operation to follow: this is all Vigil learns.
		return Delivery{}, nil
	}
	return Delivery{FollowUp: &FollowUp{Channel: incident.ChannelEmail, Operation: id}, CheckAfter: wait}, nil
}

// Follow reads the send operation f once.
func (e *Email) Follow(ctx context.Context, n incident.Notification, f FollowUp) (Outcome, error) {
	if f.Channel != incident.ChannelEmail || !operationID.MatchString(f.Operation) {
		return Outcome{}, fault.New(fault.Permanent, "email: %q is not an ACS operation id to follow (%s)", f.Operation, noteRef(n.Key))
	}
	resp, err := e.acs.call(ctx, http.MethodGet, "/emails/operations/"+f.Operation, EmailAPIVersion, nil, nil, linkSecrets(n), nil)
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			// The service no longer knows it: whatever became of the e-mail,
			// Vigil cannot tell that it arrived.
			return Outcome{State: Failed, Err: fault.Wrap(fault.Permanent, &OperationError{Status: "NotFound", Message: he.Body},
				"email: %s: the service does not know operation %s", noteRef(n.Key), f.Operation)}, nil
		}
		return Outcome{}, err
	}
	var res emailSendResult
	if err := json.Unmarshal(resp.body, &res); err != nil || res.Status == "" {
		return Outcome{}, fault.New(fault.Transient, "email: the status of operation %s is not readable (HTTP %d); check again", f.Operation, resp.status)
	}
	wait, ok := parseRetryAfter(resp.header, e.acs.cfg.now())
	if !ok || wait <= 0 {
		wait = DefaultCheckAfter
	}
	return e.outcome(n, f.Operation, res, wait), nil
}

// outcome is what a send result says of operation id.
func (e *Email) outcome(n incident.Notification, id string, res emailSendResult, wait time.Duration) Outcome {
	switch res.Status {
	case acsSucceeded:
		return Outcome{State: Delivered}
	case acsFailed, acsCanceled:
		oe := &OperationError{Status: res.Status}
		if res.Error != nil {
			oe.Code = res.Error.Code
			oe.Message = snippet([]byte(res.Error.Message), linkSecrets(n))
		}
		return Outcome{State: Failed, Err: fault.Wrap(fault.Permanent, oe, "email: %s was not delivered (operation %s)", noteRef(n.Key), id)}
	}
	// Running, NotStarted, or a status this version does not list: wait.
	return Outcome{State: Pending, CheckAfter: wait}
}

// operationFromLocation is the operation id at the end of an Operation-Location.
func operationFromLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	p := strings.TrimRight(u.Path, "/")
	return p[strings.LastIndex(p, "/")+1:]
}
