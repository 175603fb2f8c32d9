package notify

import (
	"strings"

	"vigil/internal/incident"
)

// Text shared by the human-readable channels.

// sevLabel is "SEV1".."SEV4", or "" when the severity is unset.
func sevLabel(s incident.Severity) string {
	if !s.Valid() {
		return ""
	}
	return strings.ToUpper(s.String())
}

// titled prefixes the subject with the severity, "[SEV1] Checkout is down",
// unless it starts with it already (pages' subjects do): once is enough.
func titled(n incident.Notification) string {
	l := sevLabel(n.Severity)
	if l == "" {
		return n.Subject
	}
	prefix := "[" + l + "]"
	if len(n.Subject) >= len(prefix) && strings.EqualFold(n.Subject[:len(prefix)], prefix) {
		return n.Subject
	}
	return prefix + " " + n.Subject
}

// openTitle names the button that opens n.Link.
func openTitle(n incident.Notification) string {
	if n.IncidentID == "" && n.CaseID != "" {
		return "Open case"
	}
	return "Open incident"
}

// urgent reports whether the severity deserves a warning colour.
func urgent(n incident.Notification) bool {
	return n.Severity == incident.Sev1 || n.Severity == incident.Sev2
}

// linkSecrets are the strings of n no error may repeat: the signed ack link.
func linkSecrets(n incident.Notification) []string {
	if n.AckURL == "" {
		return nil
	}
	return []string{n.AckURL}
}
