package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/paging"
	"vigil/internal/triage"
)

// Intake takes what customers and monitors report: it queues each accepted
// request durably, then turns it into a case or an incident.
type Intake struct{ *core }

// IntakeMessage is the body of a message on the intake queue.
// Its top-level JSON names must not collide with Service Bus metadata names
// (MessageId, DeliveryCount, ...): the Functions host copies them into Metadata.
type IntakeMessage struct {
	// Key is the message's identity, equal to its MessageId; it is repeated in the
	// body so that processing does not depend on host metadata.
	Key string `json:"key"`
	// Content identifies what an alert says (not when it was received): a
	// delivery saying what the incident last heard from that alert is a
	// sender's retry.
	Content    string               `json:"content,omitempty"`
	Kind       string               `json:"kind"`
	Alert      *incident.Alert      `json:"alert,omitempty"`
	Case       *incident.CaseReport `json:"case,omitempty"`
	ReceivedAt time.Time            `json:"receivedAt"`
}

const (
	kindAlert = "alert"
	kindCase  = "case"
)

// CaseReceipt is what the customer gets back when a report is accepted.
type CaseReceipt struct {
	CaseID string `json:"caseId"`
	// StatusURL is the customer's private link to the case; the token in it is the
	// only credential needed, so it is shown once, to the reporter.
	StatusURL string `json:"statusUrl"`
	Token     string `json:"token"`
}

// SubmitCase validates a customer's report against the catalog and queues it.
// idempotencyKey, when the portal sends one, makes a retried submission the same case.
func (s *Intake) SubmitCase(ctx context.Context, r incident.CaseReport, idempotencyKey string, now time.Time) (CaseReceipt, error) {
	if _, ok := s.cat.Tenant(r.Tenant); !ok {
		return CaseReceipt{}, fault.InvalidField("tenant", "unknown tenant %q", r.Tenant)
	}
	if r.Component != "" {
		if _, ok := s.cat.Component(r.Component); !ok {
			return CaseReceipt{}, fault.InvalidField("component", "unknown component %q", r.Component)
		}
	}
	if len(idempotencyKey) > 200 {
		return CaseReceipt{}, fault.InvalidField("Idempotency-Key", "is longer than 200 characters")
	}
	r.CaseID = keys.Random("CS-")
	if idempotencyKey != "" {
		id, err := s.claimCaseKey(ctx, r, idempotencyKey, now)
		if err != nil {
			return CaseReceipt{}, err
		}
		r.CaseID = id
	}
	r.ReceivedAt = now
	key := "case:" + r.CaseID
	m, err := message(key, kindCase, IntakeMessage{Key: key, Kind: kindCase, Case: &r, ReceivedAt: now})
	if err != nil {
		return CaseReceipt{}, err
	}
	if err := s.send(ctx, QueueIntake, m); err != nil {
		return CaseReceipt{}, err
	}
	link, token := s.links.CustomerCase(r.CaseID)
	return CaseReceipt{CaseID: r.CaseID, StatusURL: link, Token: token}, nil
}

// KeyLifetime is how long an Idempotency-Key holds: a retry within it is the
// same case; after it the key may be used again.
const KeyLifetime = 24 * time.Hour

// claimCaseKey makes a retried submission (same Idempotency-Key, same
// report, same tenant and reporter) the same case, and refuses a key replayed
// with a different report: it would otherwise hand one reporter another's
// case and link. Keys are scoped to the tenant and the reporter, and expire.
func (s *Intake) claimCaseKey(ctx context.Context, r incident.CaseReport, key string, now time.Time) (string, error) {
	reporter := strings.ToLower(strings.TrimSpace(r.Reporter.Email))
	if reporter == "" {
		reporter = "name:" + r.Reporter.Name
	}
	fp := keys.Hash("case-report", r.Tenant, r.Reporter.Name, r.Reporter.Email, r.Reporter.Phone, r.Title, r.Description,
		r.Component, fmt.Sprint(r.Impact.UsersAffected), fmt.Sprint(r.Impact.Blocked))
	want := KeyClaim{ID: "idem-" + keys.Hash("case", r.Tenant, reporter, key), Fingerprint: fp, Value: r.CaseID, Expires: now.Add(KeyLifetime)}
	got, err := s.store.ClaimKey(ctx, want, now)
	if err != nil {
		return "", err
	}
	if got.Fingerprint != fp {
		return "", &fault.Error{Kind: fault.Conflict, Field: "Idempotency-Key",
			Message: "was used with a different report in the last 24 hours: send a new key for a new report"}
	}
	return got.Value, nil
}

// AlertReceipt acknowledges an accepted alert.
type AlertReceipt struct {
	MessageID string `json:"messageId"`
	DedupKey  string `json:"dedupKey"`
	// Incidents is where a responder finds the incident it opened or folded
	// into (the listing by dedup key), once it is processed.
	Incidents string `json:"incidents"`
}

// SubmitAlert queues an alert for triage. Generic senders are configured by the
// vendor, so a component or tenant they name must exist: a typo fails loudly. Azure
// Monitor alerts are never refused for what they name: unknown targets are noted on
// the incident instead, because dropping a real production alert is worse.
//
// Each accepted request is its own message: the queue's duplicate detection
// keys on the message id, and a request repeated after a resolve (a flapping
// alert) must not be dropped as a duplicate of the one before. A sender's
// retry is recognised when it is processed instead: it says what the incident
// last heard from that alert.
func (s *Intake) SubmitAlert(ctx context.Context, a incident.Alert, now time.Time) (AlertReceipt, error) {
	if err := checkNames(s.cat, a); err != nil {
		return AlertReceipt{}, err
	}
	content := alertContent(a)
	key := "alert:" + content + ":" + keys.Random("")
	m, err := message(key, kindAlert, IntakeMessage{Key: key, Content: content, Kind: kindAlert, Alert: &a, ReceivedAt: now})
	if err != nil {
		return AlertReceipt{}, err
	}
	if err := s.send(ctx, QueueIntake, m); err != nil {
		return AlertReceipt{}, err
	}
	return AlertReceipt{MessageID: key, DedupKey: a.DedupKey, Incidents: s.links.IncidentsByDedupKey(a.DedupKey)}, nil
}

// alertContent is what makes two deliveries of an alert say the same thing: a
// sender's retry matches, a later re-fire with a new fired time or event id
// does not.
func alertContent(a incident.Alert) string {
	return keys.Hash(a.Source, a.ID, a.DedupKey, string(a.Status),
		a.FiredAt.UTC().Format(time.RFC3339Nano), a.ResolvedAt.UTC().Format(time.RFC3339Nano), a.Summary, a.Details)
}

// Process turns one intake message into a stored case or incident. It is
// idempotent: the same message processed twice leaves the same state and one
// timeline entry, whatever step the first attempt died at.
func (s *Intake) Process(ctx context.Context, body []byte, now time.Time) error {
	m, err := parseIntake(s.cat, body)
	if err != nil {
		return err
	}
	if m.Kind == kindAlert {
		return s.processAlert(ctx, m, now)
	}
	return s.processCase(ctx, *m.Case, now)
}

func (s *Intake) processAlert(ctx context.Context, m IntakeMessage, now time.Time) error {
	a := *m.Alert
	if a.DedupKey == "" {
		return fault.New(fault.Permanent, "alert has no dedup key")
	}
	content := m.Content
	if content == "" {
		content = m.Key
	}
	t := triage.Alert(s.cat, a)
	// The id an incident opened by this message gets: a pure function of the
	// message, so a redelivery finds what an earlier attempt opened.
	openedID := keys.ID("INC-", m.Key)
	return retry(ctx, "incident for dedup key "+a.DedupKey, func() error {
		open, err := s.store.FindOpenIncident(ctx, a.DedupKey)
		switch {
		case fault.Is(err, fault.NotFound):
			if a.Status != incident.AlertFiring {
				s.log.InfoContext(ctx, "resolved alert matches no open incident", "dedupKey", a.DedupKey, "source", a.Source)
				return nil
			}
			inc, err := incident.NewFromAlert(openedID, a, t, m.Key, now)
			if err != nil {
				return fault.Wrap(fault.Permanent, err, "opening incident")
			}
			inc.Heard(a, content)
			err = s.open(ctx, inc, now)
			if fault.Is(err, fault.Conflict) {
				// Another message opened one for this key first: fold into it.
				return fault.Wrap(fault.Stale, err, "dedup key %s", a.DedupKey)
			}
			return err
		case err != nil:
			return err
		}
		if open.ID == openedID {
			// Redelivery of the message that opened it: make sure what its
			// opening owes went out (every effect is keyed).
			return s.settleOpening(ctx, open, now)
		}
		_, err = s.commitRead(ctx, open.ID, open, now, func(inc *incident.Incident) (delta, error) {
			if inc.DedupKey != a.DedupKey || !inc.State.Open() {
				// Resolved or re-keyed since it was found: find again.
				return delta{}, fault.New(fault.Stale, "incident %s no longer holds %s", inc.ID, a.DedupKey)
			}
			ok, err := inc.ApplyAlert(a, t, m.Key, content, now)
			if !ok && err == nil {
				s.log.InfoContext(ctx, "alert repeats what its incident last heard (a sender's retry, or a redelivery): nothing to do",
					"incident", inc.ID, "dedupKey", a.DedupKey)
			}
			return delta{changed: ok}, err
		})
		return err
	})
}

func (s *Intake) processCase(ctx context.Context, r incident.CaseReport, now time.Time) error {
	if r.CaseID == "" || r.Tenant == "" {
		return fault.New(fault.Permanent, "case report without id or tenant")
	}
	t := triage.Case(s.cat, r)
	c, err := s.store.GetCase(ctx, r.CaseID)
	if fault.Is(err, fault.NotFound) {
		c = incident.NewCase(r, t, now)
		err = s.store.CreateCase(ctx, c)
		if fault.Is(err, fault.Exists) {
			c, err = s.store.GetCase(ctx, r.CaseID)
		}
	}
	if err != nil {
		return err
	}
	if err := s.tellSupport(ctx, c, now); err != nil {
		return err
	}
	// Severe enough to skip the queue: open an incident and link the case to it.
	incID := keys.ID("INC-", "case:"+c.ID)
	if !triage.OpensIncident(s.cat, c.Severity) || (c.IncidentID != "" && c.IncidentID != incID) {
		return nil
	}
	if err := s.open(ctx, incident.NewFromCase(incID, c, t, incident.Actor("customer:"+c.Tenant), "", now), now); err != nil {
		return err
	}
	why := fmt.Sprintf("impact rules rate it %s (%s)", c.Severity, strings.Join(c.SeverityReasons, "; "))
	_, err = s.updateCase(ctx, c.ID, func(c *incident.Case) (bool, error) {
		return c.Escalate(incID, incident.System, why, now), nil
	})
	return err
}

// tellSupport tells first-line support about a new case: the support
// rotation's on-call person when the first-line team has an escalation policy
// (a low-urgency case outside business hours is held until they begin), else
// the team's contacts.
func (c *core) tellSupport(ctx context.Context, cs *incident.Case, now time.Time) error {
	link := c.links.Case(cs.ID)
	pol, ok := c.cat.TriagePolicy()
	if !ok {
		return c.notify(ctx, paging.ForNewCase(c.cat, cs, link, now))
	}
	at, _ := c.pagingStart(cs.Severity, pol, now)
	sched, err := c.oncall(ctx, pol, at)
	if err != nil {
		return err
	}
	var ns []incident.Notification
	for _, p := range sched.Fire(pol, 1, 1, at).Pages {
		ns = append(ns, paging.ForCasePage(c.cat, cs, p.Person, link, now)...)
	}
	switch {
	case len(ns) == 0:
		return c.notify(ctx, paging.ForNewCase(c.cat, cs, link, now))
	case at.After(now):
		return c.notifyAt(ctx, ns, at)
	}
	return c.notify(ctx, ns)
}
