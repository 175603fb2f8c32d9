// Package bus holds the message shape shared by every queue implementation: the
// embedded queue used by `vigil local` and the Service Bus adapter used in Azure.
package bus

// Message is one message to send. ID is the Service Bus MessageId: the duplicate
// detection key, so it must be derived from the content's identity (never random)
// wherever a retry could send the same thing twice. At most 128 characters.
type Message struct {
	ID          string            `json:"id"`
	Body        []byte            `json:"body"`
	ContentType string            `json:"contentType,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
}

// MaxIDLength is Service Bus's limit on MessageId.
const MaxIDLength = 128
