// Package paging decides who is told about what. Until on-call rotations and
// escalation policies exist, a new incident goes to the owners and contacts of the
// components it affects, or to the first-line team when no component claims it; a new
// case goes to the first-line team.
package paging

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/incident"
)

// ForNewIncident returns the notifications an incident's opening sends. link is where
// a responder opens the incident.
func ForNewIncident(cat *catalog.Catalog, inc *incident.Incident, link string, now time.Time) []incident.Notification {
	var contacts []catalog.Contact
	for _, id := range inc.Components {
		comp, ok := cat.Component(id)
		if !ok {
			continue
		}
		if team, ok := cat.Team(comp.Owner); ok {
			contacts = append(contacts, team.Contacts...)
		}
		contacts = append(contacts, comp.Contacts...)
	}
	if len(contacts) == 0 {
		if team, ok := cat.Team(cat.TriageTeam); ok {
			contacts = team.Contacts
		}
	}
	exp := cat.Expectations(inc.Severity)
	subject := fmt.Sprintf("[%s] %s", strings.ToUpper(inc.Severity.String()), inc.Title)
	text := fmt.Sprintf("Incident %s opened (%s, %s urgency): %s. Acknowledge within %s.",
		inc.ID, inc.Severity, exp.Urgency, inc.Title, exp.AcknowledgeWithin)
	return build(contacts, incident.Notification{
		Event: incident.NotifyIncidentOpened, IncidentID: inc.ID, Severity: inc.Severity, Urgency: exp.Urgency,
		Subject: subject, Text: text, Link: link, CreatedAt: now,
	}, inc.ID)
}

// ForNewCase returns the notifications a new case sends to first-line support.
func ForNewCase(cat *catalog.Catalog, c *incident.Case, link string, now time.Time) []incident.Notification {
	team, ok := cat.Team(cat.TriageTeam)
	if !ok {
		return nil
	}
	exp := cat.Expectations(c.Severity)
	return build(team.Contacts, incident.Notification{
		Event: incident.NotifyCaseReceived, CaseID: c.ID, Severity: c.Severity, Urgency: exp.Urgency,
		Subject: fmt.Sprintf("New case from %s: %s", c.Tenant, c.Title),
		Text: fmt.Sprintf("Case %s from %s (%d users affected, blocked: %t), suggested %s: %s",
			c.ID, c.Tenant, c.Impact.UsersAffected, c.Impact.Blocked, c.Severity, c.Title),
		Link: link, CreatedAt: now,
	}, c.ID)
}

// build addresses one copy of n to each distinct contact, by email when it has one,
// else by SMS, each with its own idempotency key.
func build(contacts []catalog.Contact, n incident.Notification, subject string) []incident.Notification {
	var out []incident.Notification
	seen := map[string]bool{}
	for _, c := range contacts {
		channel, address := incident.ChannelEmail, c.Email
		if address == "" {
			channel, address = incident.ChannelSMS, c.Phone
		}
		if address == "" || seen[address] {
			continue
		}
		seen[address] = true
		m := n
		m.To, m.Channel, m.Address = c.Name, channel, address
		m.Key = Key(n.Event, subject, channel, address)
		out = append(out, m)
	}
	return out
}

// Key is the idempotency key of one notification: the same event about the same
// subject to the same address on the same channel is one notification.
func Key(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "ntf:" + hex.EncodeToString(h[:20])
}
