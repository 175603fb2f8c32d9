package incident

import (
	"fmt"
	"strings"
)

// Bundle holds what one contact was sent while over their throttle: rather
// than each notification waiting its turn (and a storm multiplying messages
// nobody can read), they are gathered and go out as one digest when the
// contact may be sent to again, as GoAlert bundles alerts.
type Bundle struct {
	// Key is the contact's (keys.Contact).
	Key   string         `json:"key"`
	Items []Notification `json:"items,omitempty"`
	// More counts what arrived past MaxBundled: counted, not kept.
	More int `json:"more,omitempty"`
	// Gen counts the digests sent: each flush is a message of its own.
	Gen     int    `json:"gen"`
	Version int64  `json:"version"`
	ETag    string `json:"-"`
}

// MaxBundled bounds the notifications a bundle keeps whole.
const MaxBundled = 20

// Empty reports whether nothing waits.
func (b *Bundle) Empty() bool { return len(b.Items) == 0 && b.More == 0 }

// Add gathers n, once (a redelivery adds nothing), and reports whether it
// changed the bundle.
func (b *Bundle) Add(n Notification) bool {
	for _, have := range b.Items {
		if have.Key == n.Key {
			return false
		}
	}
	if len(b.Items) >= MaxBundled {
		b.More++
		return true
	}
	// A digest of several says each one's subject and link; only a bundle of
	// one goes out as it was. So only the first is kept with its text and
	// acknowledge link: a bundle is read for every notification gathered,
	// and the texts were most of what it weighed.
	if len(b.Items) > 0 {
		n.Text, n.AckURL = "", ""
	}
	b.Items = append(b.Items, n)
	return true
}

// Sent removes what a digest of generation gen carried (its first items and
// the count of more), and moves to the next generation. It reports false when
// that digest was recorded already.
func (b *Bundle) Sent(gen, items, more int) bool {
	if b.Gen != gen {
		return false
	}
	b.Items = b.Items[min(items, len(b.Items)):]
	b.More = max(b.More-more, 0)
	b.Gen++
	return true
}

// Digest is the one notification that carries a bundle: the most severe
// first, each with its link, the rest counted. key identifies it.
func (b *Bundle) Digest(key string) Notification {
	// (A later one, kept without its text, left alone after a digest, is
	// said as a digest of one.)
	if only := b.Items[0]; len(b.Items) == 1 && b.More == 0 && (only.Text != "" || only.AckURL != "") {
		only.Digest = true
		return only // one is not a digest: it goes as it was, late
	}
	first := b.Items[0]
	for _, n := range b.Items {
		if n.Severity.Valid() && n.Severity.Worse(first.Severity) {
			first = n
		}
	}
	total := len(b.Items) + b.More
	var text strings.Builder
	fmt.Fprintf(&text, "%s: %d notifications came while you were sent more than you can read at once; here they are together.", first.To, total)
	for _, n := range b.Items {
		fmt.Fprintf(&text, "\n- %s", n.Subject)
		if n.Link != "" {
			fmt.Fprintf(&text, " %s", n.Link)
		}
	}
	if b.More > 0 {
		fmt.Fprintf(&text, "\n… and %d more: see the incident list.", b.More)
	}
	d := first
	d.Key, d.AckURL, d.Deferrals = key, "", 0
	d.Digest = true
	d.Subject = fmt.Sprintf("%s (and %d more)", first.Subject, total-1)
	d.Text = text.String()
	if d.Urgency == "" {
		d.Urgency = UrgencyLow
	}
	return d
}
