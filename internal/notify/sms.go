package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// SMS sends text messages through Azure Communication Services SMS.
//
// Request, as documented in "Sms - Send" (ACS REST reference, api-version
// 2021-03-07):
//
//	POST {endpoint}/sms?api-version=2021-03-07
//	Authorization: Bearer <Entra ID token for https://communication.azure.com/.default>
//	Content-Type: application/json
//
//	{"from": "+18005550100",
//	 "smsRecipients": [{"to": "+14255550123",
//	                    "repeatabilityRequestId": "<UUID derived from the notification key>",
//	                    "repeatabilityFirstSent": "<CreatedAt, RFC 1123 GMT>"}],
//	 "message": "...",
//	 "smsSendOptions": {"enableDeliveryReport": true}}
//
// The repeatability fields are sent while the notification is under 4 minutes old
// (see repeatabilityWindow): the service then accepts a repeat without sending it
// twice. The answer is 202 Accepted with one result per recipient,
//
//	{"value": [{"to": "+14255550123", "messageId": "...", "httpStatusCode": 202,
//	            "repeatabilityResult": "accepted", "successful": true}]}
//
// and a recipient can fail inside a 202 ("successful": false, its own
// httpStatusCode and errorMessage): that result is classified like an HTTP status
// (408, 412, 429, 5xx transient; other 4xx permanent, such as an invalid number).
// Delivery reports go to Event Grid; Vigil does not wait for them.
type SMS struct {
	acs  *acsClient
	from string
}

// SMSAPIVersion is the ACS SMS API version SMS speaks.
const SMSAPIVersion = "2021-03-07"

const (
	// smsMaxLen keeps a page to a few segments; links are never cut.
	smsMaxLen = 640
	// smsHardMax is the documented limit of the message field.
	smsHardMax = 2048
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// normalizePhone drops the spaces, dashes, dots and parentheses people write
// numbers with; what remains must be E.164.
func normalizePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, s)
	return s, e164.MatchString(s)
}

// NewSMS returns the SMS channel sending from from (an E.164 number, short code
// not supported, acquired on the ACS resource at endpoint), signed in with cred.
func NewSMS(endpoint, from string, cred azcore.TokenCredential, opts ...ChannelOption) (*SMS, error) {
	a, err := newACSClient(incident.ChannelSMS, endpoint, cred, newChannelConfig(opts))
	if err != nil {
		return nil, err
	}
	num, ok := normalizePhone(from)
	if !ok {
		return nil, errors.New("sms: the sender must be an E.164 phone number such as +18005550100")
	}
	return &SMS{acs: a, from: num}, nil
}

type smsRequest struct {
	From           string         `json:"from"`
	SMSRecipients  []smsRecipient `json:"smsRecipients"`
	Message        string         `json:"message"`
	SMSSendOptions smsOptions     `json:"smsSendOptions"`
}

type smsRecipient struct {
	To                     string `json:"to"`
	RepeatabilityRequestID string `json:"repeatabilityRequestId,omitempty"`
	RepeatabilityFirstSent string `json:"repeatabilityFirstSent,omitempty"`
}

type smsOptions struct {
	EnableDeliveryReport bool `json:"enableDeliveryReport"`
}

type smsResponse struct {
	Value []smsResult `json:"value"`
}

type smsResult struct {
	To                  string `json:"to"`
	MessageID           string `json:"messageId"`
	HTTPStatusCode      int    `json:"httpStatusCode"`
	RepeatabilityResult string `json:"repeatabilityResult"`
	Successful          bool   `json:"successful"`
	ErrorMessage        string `json:"errorMessage"`
}

// smsText is the message: "[SEV1] subject", as much text as fits, then the links.
func smsText(n incident.Notification) string {
	var links []string
	if n.AckURL != "" {
		links = append(links, "Ack: "+n.AckURL)
	}
	if n.Link != "" {
		links = append(links, "Open: "+n.Link)
	}
	tail := strings.Join(links, "\n")
	budget := max(smsMaxLen-len(tail)-2, 0)
	head := clip(oneLine(titled(n)), min(budget, 160))
	parts := []string{head}
	if rest := budget - len(head) - 1; n.Text != "" && rest > 20 {
		parts = append(parts, clip(oneLine(n.Text), rest))
	}
	if tail != "" {
		parts = append(parts, tail)
	}
	return clipBytes(strings.Join(parts, "\n"), smsHardMax)
}

func smsStatusKind(status int) fault.Kind {
	if status == http.StatusPreconditionFailed {
		return fault.Transient
	}
	return statusKind(status)
}

// Deliver texts n to the number n.Address.
func (s *SMS) Deliver(ctx context.Context, n incident.Notification) error {
	to, ok := normalizePhone(n.Address)
	if !ok {
		return fault.New(fault.Permanent, "sms: the address of %s is not an E.164 phone number", noteRef(n.Key))
	}
	rcpt := smsRecipient{To: to}
	if n.Key != "" && repeatable(n.CreatedAt, s.acs.cfg.now()) {
		rcpt.RepeatabilityRequestID = keyUUID(n.Key)
		rcpt.RepeatabilityFirstSent = firstSent(n.CreatedAt)
	}
	body, err := json.Marshal(smsRequest{
		From: s.from, SMSRecipients: []smsRecipient{rcpt}, Message: smsText(n),
		SMSSendOptions: smsOptions{EnableDeliveryReport: true},
	})
	if err != nil {
		return fault.Wrap(fault.Internal, err, "sms: encoding %s", noteRef(n.Key))
	}
	secrets := linkSecrets(n)
	resp, err := s.acs.post(ctx, "/sms", SMSAPIVersion, body, nil, secrets, smsStatusKind)
	if err != nil {
		return err
	}
	var out smsResponse
	if err := json.Unmarshal(resp.body, &out); err != nil || len(out.Value) == 0 {
		// Accepted, but with no result we can read: retry; the repeatability id
		// keeps a repeat from texting twice.
		return fault.New(fault.Transient, "sms: the service accepted %s without a readable result", noteRef(n.Key))
	}
	res := out.Value[0]
	for _, r := range out.Value {
		if r.To == to {
			res = r
			break
		}
	}
	if res.Successful {
		return nil
	}
	status := res.HTTPStatusCode
	k := smsStatusKind(status)
	if status == 0 || success(status) {
		k = fault.Transient // unsuccessful without a failing status: unknown, retry
	}
	he := &HTTPError{Status: status, Body: snippet([]byte(res.ErrorMessage), secrets)}
	what := "recipient refused"
	if k == fault.Transient {
		what = "recipient failed, will retry"
	}
	return fault.Wrap(k, he, "sms: %s: %s", noteRef(n.Key), what)
}
