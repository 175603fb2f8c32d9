// Package paging turns decisions about who to tell into notifications: pages to
// on-call people (one per contact channel, each with its own idempotency key and a
// signed acknowledge link), and plain notifications to team contacts where no
// escalation policy serves an incident or case.
package paging

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/incident"
	"vigil/internal/keys"
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
		inc.ID, inc.Severity, exp.Urgency, inc.Title, incident.Human(exp.AcknowledgeWithin))
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
		m.Key = keys.Notification(n.Event, subject, channel, address)
		out = append(out, m)
	}
	return out
}

// AckLinkLifetime is how long a page's acknowledge link works.
const AckLinkLifetime = 24 * time.Hour

// ForPage returns one notification per contact channel of the person paged: every
// channel for high urgency, every channel but SMS for low. ackURL makes the signed
// acknowledge link for (person, expiry).
func ForPage(cat *catalog.Catalog, inc *incident.Incident, p incident.Page, link string, ack func(person string, expires time.Time) string) []incident.Notification {
	person, ok := cat.Person(p.Person)
	if !ok {
		return nil
	}
	exp := cat.Expectations(inc.Severity)
	where := fmt.Sprintf("step %d, round %d", p.Step, p.Round)
	switch {
	case p.Final:
		where = "final step"
	case p.Position <= 0:
		where = p.Via
	}
	// Only an incident waiting for someone asks to be acknowledged: a helper
	// added to one already acknowledged is asked to help, not to take it.
	ask := fmt.Sprintf("Acknowledge within %s.", incident.Human(exp.AcknowledgeWithin))
	if inc.State != incident.Triggered {
		ask = "Your help is asked for."
	}
	text := fmt.Sprintf("%s: incident %s is %s (%s urgency, %s). %s Components: %s.",
		person.Name, inc.ID, inc.State, exp.Urgency, where, ask, orNone(inc.Components))
	if p.Reminder != "" {
		text += " " + p.Reminder
	}
	text += runbooks(cat, inc.Components)
	ackURL := ""
	if inc.State == incident.Triggered {
		ackURL = ack(person.ID, p.At.Add(AckLinkLifetime))
	}
	base := incident.Notification{
		Event: incident.NotifyPage, IncidentID: inc.ID, Severity: inc.Severity, Urgency: exp.Urgency,
		To: person.Name, Person: person.ID, Round: p.Round, Step: p.Step, Cycle: p.Cycle, Position: p.Position,
		Subject: fmt.Sprintf("[%s] %s", strings.ToUpper(inc.Severity.String()), inc.Title),
		Text:    text, Link: link, AckURL: ackURL,
		CreatedAt: p.At,
	}
	var out []incident.Notification
	for _, ch := range incident.Channels {
		addr := person.Contacts.Address(ch)
		if addr == "" || (ch == incident.ChannelSMS && exp.Urgency == incident.UrgencyLow) {
			continue
		}
		n := base
		n.Channel, n.Address = ch, addr
		n.Key = keys.Notification("page", inc.ID, fmt.Sprint(p.Cycle), fmt.Sprint(p.Position), person.ID, ch)
		out = append(out, n)
	}
	return out
}

// ForCasePage pages a first-line person about a new case.
func ForCasePage(cat *catalog.Catalog, c *incident.Case, personID, link string, now time.Time) []incident.Notification {
	person, ok := cat.Person(personID)
	if !ok {
		return nil
	}
	exp := cat.Expectations(c.Severity)
	var out []incident.Notification
	for _, ch := range incident.Channels {
		addr := person.Contacts.Address(ch)
		if addr == "" || (ch == incident.ChannelSMS && exp.Urgency == incident.UrgencyLow) {
			continue
		}
		out = append(out, incident.Notification{
			Key:   keys.Notification(incident.NotifyCaseReceived, c.ID, person.ID, ch),
			Event: incident.NotifyCaseReceived, CaseID: c.ID, Severity: c.Severity, Urgency: exp.Urgency,
			To: person.Name, Person: person.ID, Channel: ch, Address: addr,
			Subject: fmt.Sprintf("New case from %s: %s", c.Tenant, c.Title),
			Text: fmt.Sprintf("Case %s from %s (%d users affected, blocked: %t), suggested %s: %s",
				c.ID, c.Tenant, c.Impact.UsersAffected, c.Impact.Blocked, c.Severity, c.Title),
			Link: link, CreatedAt: now,
		})
	}
	return out
}

// runbooks names the runbook of each affected component that has one, so that
// whoever is paged starts from it.
func runbooks(cat *catalog.Catalog, components []string) string {
	var out string
	for _, id := range components {
		if c, ok := cat.Component(id); ok && c.Runbook != "" {
			out += fmt.Sprintf(" Runbook (%s): %s", c.ID, c.Runbook)
		}
	}
	return out
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none identified"
	}
	return strings.Join(slices.Clone(xs), ", ")
}

// ForStatusLate tells a person that a customer-visible incident's status
// update is late: the communications lead first, the incident lead when it
// stays late (escalation: every channel, SMS included).
func ForStatusLate(cat *catalog.Catalog, inc *incident.Incident, personID string, escalation bool, cadence time.Duration, link string, now time.Time) []incident.Notification {
	person, ok := cat.Person(personID)
	if !ok {
		return nil
	}
	late := incident.Human(now.Sub(inc.Comms.ClockFrom))
	what, urgency := "reminder", incident.UrgencyLow
	text := fmt.Sprintf("%s: customers have had no status update on incident %s for %s (expected every %s). Post one: POST %s/status-update.",
		person.Name, inc.ID, late, incident.Human(cadence), link)
	if escalation {
		what, urgency = fmt.Sprintf("escalation %d", inc.Comms.Chased), incident.UrgencyHigh
		who := "nobody holds the communications lead role"
		if c, ok := cat.Person(inc.Roles.Comms); ok {
			who = "the communications lead (" + c.Name + ") was reminded"
		}
		text = fmt.Sprintf("%s: customers have had no status update on incident %s for %s (expected every %s), and %s. Post one or give the comms role to someone who can: %s.",
			person.Name, inc.ID, late, incident.Human(cadence), who, link)
	}
	var out []incident.Notification
	for _, ch := range incident.Channels {
		addr := person.Contacts.Address(ch)
		if addr == "" || (ch == incident.ChannelSMS && !escalation) {
			continue
		}
		out = append(out, incident.Notification{
			Key:   keys.Notification(incident.NotifyStatusLate, inc.ID, fmt.Sprint(inc.Comms.ClockFrom.UnixNano()), what, person.ID, ch),
			Event: incident.NotifyStatusLate, IncidentID: inc.ID, Severity: inc.Severity, Urgency: urgency,
			To: person.Name, Person: person.ID, Channel: ch, Address: addr,
			Subject: fmt.Sprintf("[%s] Status update late: %s", strings.ToUpper(inc.Severity.String()), inc.Title),
			Text:    text, Link: link, CreatedAt: now,
		})
	}
	return out
}

// ForCaseReply tells first-line support that a reporter replied: the case's
// assignee on their channels (no SMS: a reply is not a page), else the
// triage team's contacts. n is how many times the reporter has written, so
// each reply is its own notification.
func ForCaseReply(cat *catalog.Catalog, c *incident.Case, n int, link string, now time.Time) []incident.Notification {
	base := incident.Notification{
		Event: incident.NotifyCaseReply, CaseID: c.ID, Severity: c.Severity, Urgency: incident.UrgencyLow,
		Subject: fmt.Sprintf("Reply on case %s: %s", c.ID, c.Title),
		Text:    fmt.Sprintf("The reporter of case %s (%s) replied: %s", c.ID, c.Tenant, lastCustomerNote(c)),
		Link:    link, CreatedAt: now,
	}
	if person, ok := cat.Person(c.Assignee); ok {
		var out []incident.Notification
		for _, ch := range incident.Channels {
			if addr := person.Contacts.Address(ch); addr != "" && ch != incident.ChannelSMS {
				m := base
				m.To, m.Person, m.Channel, m.Address = person.Name, person.ID, ch, addr
				m.Key = keys.Notification(incident.NotifyCaseReply, c.ID, fmt.Sprint(n), person.ID, ch)
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	team, ok := cat.Team(cat.TriageTeam)
	if !ok {
		return nil
	}
	return build(team.Contacts, base, c.ID+"#"+fmt.Sprint(n))
}

func lastCustomerNote(c *incident.Case) string {
	for i := len(c.Public) - 1; i >= 0; i-- {
		if c.Public[i].Kind == incident.NoteCustomer {
			return c.Public[i].Text
		}
	}
	return ""
}

// ForReporter tells the reporter of a case, by e-mail, what their case page
// now says (a question, an answer, news of the incident behind it), with
// their private link. ref identifies what is told, so each is sent once.
func ForReporter(c *incident.Case, ref, subject, text, link string, now time.Time) []incident.Notification {
	if c.Reporter.Email == "" {
		return nil
	}
	return []incident.Notification{{
		Key:   keys.Notification(incident.NotifyCaseUpdate, c.ID, ref),
		Event: incident.NotifyCaseUpdate, CaseID: c.ID, Severity: c.Severity, Urgency: incident.UrgencyLow,
		To: c.Reporter.Name, Channel: incident.ChannelEmail, Address: c.Reporter.Email,
		Subject: fmt.Sprintf("%s — your case %s", subject, c.ID),
		Text:    text + "\n\nFollow your case here: " + link,
		Link:    link, CreatedAt: now,
	}}
}
