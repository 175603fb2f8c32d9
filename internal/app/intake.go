package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/paging"
	"vigil/internal/triage"
)

// IntakeMessage is the body of a message on the intake queue.
// Its top-level JSON names must not collide with Service Bus metadata names
// (MessageId, DeliveryCount, ...): the Functions host copies them into Metadata.
type IntakeMessage struct {
	// Key is the message's identity, equal to its MessageId; it is repeated in the
	// body so that processing does not depend on host metadata.
	Key        string               `json:"key"`
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
func (s *Service) SubmitCase(ctx context.Context, r incident.CaseReport, idempotencyKey string, now time.Time) (CaseReceipt, error) {
	if _, ok := s.Catalog.Tenant(r.Tenant); !ok {
		return CaseReceipt{}, fault.InvalidField("tenant", "unknown tenant %q", r.Tenant)
	}
	if r.Component != "" {
		if _, ok := s.Catalog.Component(r.Component); !ok {
			return CaseReceipt{}, fault.InvalidField("component", "unknown component %q", r.Component)
		}
	}
	if len(idempotencyKey) > 200 {
		return CaseReceipt{}, fault.InvalidField("Idempotency-Key", "is longer than 200 characters")
	}
	if idempotencyKey != "" {
		r.CaseID = derivedID("CS-", "case\x00"+r.Tenant+"\x00"+idempotencyKey)
	} else {
		r.CaseID = randomID("CS-")
	}
	r.ReceivedAt = now
	key := "case:" + r.CaseID
	if err := s.enqueueIntake(ctx, IntakeMessage{Key: key, Kind: kindCase, Case: &r, ReceivedAt: now}); err != nil {
		return CaseReceipt{}, err
	}
	token := s.Links.CaseToken(r.CaseID)
	return CaseReceipt{
		CaseID:    r.CaseID,
		StatusURL: s.PublicURL + "/api/cases/" + url.PathEscape(r.CaseID) + "?token=" + url.QueryEscape(token),
		Token:     token,
	}, nil
}

// AlertReceipt acknowledges an accepted alert.
type AlertReceipt struct {
	MessageID string `json:"messageId"`
	DedupKey  string `json:"dedupKey"`
}

// SubmitAlert queues an alert for triage. Generic senders are configured by the
// vendor, so a component or tenant they name must exist: a typo fails loudly. Azure
// Monitor alerts are never refused for what they name: unknown targets are noted on
// the incident instead, because dropping a real production alert is worse.
func (s *Service) SubmitAlert(ctx context.Context, a incident.Alert, now time.Time) (AlertReceipt, error) {
	if a.Source != "azure-monitor" {
		if a.Component != "" {
			if _, ok := s.Catalog.Component(a.Component); !ok {
				return AlertReceipt{}, fault.InvalidField("component", "unknown component %q", a.Component)
			}
		}
		for i, t := range a.Tenants {
			if _, ok := s.Catalog.Tenant(t); !ok {
				return AlertReceipt{}, fault.InvalidField(fmt.Sprintf("tenants[%d]", i), "unknown tenant %q", t)
			}
		}
	}
	key := "alert:" + alertIdentity(a)
	if err := s.enqueueIntake(ctx, IntakeMessage{Key: key, Kind: kindAlert, Alert: &a, ReceivedAt: now}); err != nil {
		return AlertReceipt{}, err
	}
	return AlertReceipt{MessageID: key, DedupKey: a.DedupKey}, nil
}

// alertIdentity is what makes two deliveries of an alert "the same" for duplicate
// detection: a sender's retry matches, a later re-fire (new fired time or event id) does not.
func alertIdentity(a incident.Alert) string {
	return hashKey(a.Source, a.ID, a.DedupKey, string(a.Status),
		a.FiredAt.UTC().Format(time.RFC3339Nano), a.ResolvedAt.UTC().Format(time.RFC3339Nano), a.Summary, a.Details)
}

func (s *Service) enqueueIntake(ctx context.Context, m IntakeMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding intake message")
	}
	if err := s.Queue.Send(ctx, QueueIntake, bus.Message{ID: m.Key, Body: body, ContentType: "application/json", Subject: m.Kind}); err != nil {
		return fault.Wrap(fault.Transient, err, "queueing %s", m.Kind)
	}
	return nil
}

// ProcessIntake turns one intake message into a stored case or incident. It is
// idempotent: the same message processed twice leaves the same state and one
// timeline entry, whatever step the first attempt died at.
func (s *Service) ProcessIntake(ctx context.Context, body []byte, now time.Time) error {
	var m IntakeMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return fault.Wrap(fault.Permanent, err, "intake message is not valid JSON")
	}
	switch {
	case m.Key == "":
		return fault.New(fault.Permanent, "intake message has no key")
	case m.Kind == kindAlert && m.Alert != nil:
		return s.processAlert(ctx, m.Key, *m.Alert, now)
	case m.Kind == kindCase && m.Case != nil:
		return s.processCase(ctx, *m.Case, now)
	}
	return fault.New(fault.Permanent, "intake message kind %q without its payload", m.Kind)
}

func (s *Service) processAlert(ctx context.Context, key string, a incident.Alert, now time.Time) error {
	if a.DedupKey == "" {
		return fault.New(fault.Permanent, "alert has no dedup key")
	}
	t := triage.Alert(s.Catalog, a)
	for range maxStaleRetries {
		open, err := s.Store.FindOpenIncident(ctx, a.DedupKey)
		switch {
		case fault.Is(err, fault.NotFound):
			if a.Status != incident.AlertFiring {
				s.Log.InfoContext(ctx, "resolved alert matches no open incident", "dedupKey", a.DedupKey, "source", a.Source)
				return nil
			}
			inc, err := incident.NewFromAlert(derivedID("INC-", key), a, t, key, now)
			if err != nil {
				return fault.Wrap(fault.Permanent, err, "opening incident")
			}
			if _, _, err := s.planOpening(ctx, inc, now); err != nil {
				return err
			}
			err = s.Store.CreateIncident(ctx, inc)
			switch {
			case err == nil:
				s.Log.InfoContext(ctx, "incident opened", "incident", inc.ID, "severity", inc.Severity.String(), "dedupKey", a.DedupKey)
				return s.notifyOpened(ctx, inc, now)
			case fault.Is(err, fault.Exists):
				// Our own earlier attempt created it and may have died before
				// paging: finish from what it stored.
				return s.notifyOpenedAgain(ctx, inc.ID, now)
			case fault.Is(err, fault.Conflict):
				continue // another message opened one for this key first: fold into it
			default:
				return err
			}
		case err != nil:
			return err
		default:
			changed, err := open.ApplyAlert(a, t, key, now)
			if err != nil {
				return err
			}
			if !changed {
				if open.ID == derivedID("INC-", key) {
					// Redelivery of the message that opened this incident: make sure
					// its notifications went out (they are idempotent).
					return s.notifyOpened(ctx, open, now)
				}
				return nil
			}
			err = s.Store.UpdateIncident(ctx, open)
			if fault.Is(err, fault.Stale) {
				continue
			}
			return err
		}
	}
	return fault.New(fault.Stale, "incident for dedup key %q kept changing; will retry", a.DedupKey)
}

func (s *Service) processCase(ctx context.Context, r incident.CaseReport, now time.Time) error {
	if r.CaseID == "" || r.Tenant == "" {
		return fault.New(fault.Permanent, "case report without id or tenant")
	}
	t := triage.Case(s.Catalog, r)
	c, err := s.Store.GetCase(ctx, r.CaseID)
	if fault.Is(err, fault.NotFound) {
		c = incident.NewCase(r, t, now)
		err = s.Store.CreateCase(ctx, c)
		if fault.Is(err, fault.Exists) {
			c, err = s.Store.GetCase(ctx, r.CaseID)
		}
	}
	if err != nil {
		return err
	}
	if err := s.notifyCase(ctx, c, now); err != nil {
		return err
	}
	// Severe enough to skip the queue: open an incident and link the case to it.
	incID := derivedID("INC-", "case:"+c.ID)
	if !triage.OpensIncident(s.Catalog, c.Severity) || (c.IncidentID != "" && c.IncidentID != incID) {
		return nil
	}
	inc := incident.NewFromCase(incID, c, t, now)
	if _, _, err := s.planOpening(ctx, inc, now); err != nil {
		return err
	}
	err = s.Store.CreateIncident(ctx, inc)
	switch {
	case err == nil:
		err = s.notifyOpened(ctx, inc, now)
	case fault.Is(err, fault.Exists):
		err = s.notifyOpenedAgain(ctx, incID, now)
	}
	if err != nil {
		return err
	}
	why := fmt.Sprintf("impact rules rate it %s (%s)", c.Severity, joinReasons(c.SeverityReasons))
	return s.mutateCase(ctx, c, func(c *incident.Case) bool { return c.Escalate(incID, incident.System, why, now) })
}

// notifyOpened queues what an incident's opening sends: the pages of its first
// escalation step and its first timer or, where no escalation policy serves it,
// a notification to the contacts of the components it affects.
func (s *Service) notifyOpened(ctx context.Context, inc *incident.Incident, now time.Time) error {
	if inc.Escalation != nil {
		return s.finish(ctx, inc, recentPages(inc, now, func(p incident.Page) bool { return p.Cycle == 1 && p.Position >= 1 }), now)
	}
	return s.send(ctx, paging.ForNewIncident(s.Catalog, inc, s.PublicURL+"/api/incidents/"+url.PathEscape(inc.ID), now))
}

// notifyOpenedAgain finishes the opening of a stored incident after a redelivery.
func (s *Service) notifyOpenedAgain(ctx context.Context, id string, now time.Time) error {
	inc, err := s.Store.GetIncident(ctx, id)
	if err != nil {
		return err
	}
	return s.notifyOpened(ctx, inc, now)
}

// notifyCase tells first-line support about a new case: the support rotation's
// on-call person when the first-line team has an escalation policy (a low-urgency
// case outside business hours is held until they begin), else the team's contacts.
func (s *Service) notifyCase(ctx context.Context, c *incident.Case, now time.Time) error {
	link := s.PublicURL + "/api/cases/" + url.PathEscape(c.ID)
	pol, ok := s.Catalog.TriagePolicy()
	if !ok {
		return s.send(ctx, paging.ForNewCase(s.Catalog, c, link, now))
	}
	at := now
	if s.Catalog.Expectations(c.Severity).Urgency == incident.UrgencyLow {
		if bh, ok := s.Catalog.BusinessHoursFor(pol); ok {
			at = bh.NextOpen(now).UTC()
		}
	}
	sched, err := s.schedule(ctx, pol, at)
	if err != nil {
		return err
	}
	f := sched.Fire(pol, 1, 1, at)
	var ns []incident.Notification
	for _, p := range f.Pages {
		ns = append(ns, paging.ForCasePage(s.Catalog, c, p.Person, link, now)...)
	}
	if len(ns) == 0 {
		return s.send(ctx, paging.ForNewCase(s.Catalog, c, link, now))
	}
	if !at.After(now) {
		return s.send(ctx, ns)
	}
	for _, n := range ns {
		if err := s.scheduleNotification(ctx, n, at); err != nil {
			return err
		}
	}
	return nil
}

// scheduleNotification queues one notification for delivery at a later time.
func (s *Service) scheduleNotification(ctx context.Context, n incident.Notification, at time.Time) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding notification")
	}
	if _, err := s.Queue.Schedule(ctx, QueueNotify, at, bus.Message{ID: n.Key, Body: body, ContentType: "application/json", Subject: n.Event}); err != nil {
		return fault.Wrap(fault.Transient, err, "scheduling notification")
	}
	return nil
}

// send queues notifications, each keyed so that a resend is dropped as a duplicate.
func (s *Service) send(ctx context.Context, ns []incident.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	msgs := make([]bus.Message, 0, len(ns))
	for _, n := range ns {
		body, err := json.Marshal(n)
		if err != nil {
			return fault.Wrap(fault.Internal, err, "encoding notification")
		}
		msgs = append(msgs, bus.Message{ID: n.Key, Body: body, ContentType: "application/json", Subject: n.Event})
	}
	if err := s.Queue.Send(ctx, QueueNotify, msgs...); err != nil {
		return fault.Wrap(fault.Transient, err, "queueing notifications")
	}
	return nil
}

// maxDeferrals bounds how often one notification is held back by throttling or a
// channel's Retry-After: past it, it is sent regardless (a page must get out).
const maxDeferrals = 10

// DeliverNotification hands one queued notification to its channel. A contact over
// its throttle, or a channel answering "retry after", defers the notification by a
// scheduled message instead of failing it: failing would burn the message's
// delivery count in seconds and dead-letter a page that only needed to wait.
func (s *Service) DeliverNotification(ctx context.Context, body []byte, now time.Time) error {
	var n incident.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return fault.Wrap(fault.Permanent, err, "notification is not valid JSON")
	}
	if n.Key == "" || n.Address == "" {
		return fault.New(fault.Permanent, "notification without key or address")
	}
	if s.Notifier == nil {
		return fault.New(fault.Permanent, "no notification channel is configured")
	}
	if s.Throttle != nil && n.Deferrals < maxDeferrals {
		if ok, wait := s.Throttle.Allow(n.Channel+":"+n.Address, now); !ok {
			return s.deferNotification(ctx, n, now.Add(wait), "throttled")
		}
	}
	err := s.Notifier.Deliver(ctx, n)
	if err != nil && s.RetryAfter != nil && n.Deferrals < maxDeferrals {
		if wait, ok := s.RetryAfter(err); ok && wait > 0 {
			return s.deferNotification(ctx, n, now.Add(wait), "channel asked to retry later")
		}
	}
	return err
}

// deferNotification schedules the notification again. The deferral count is part of the
// message id, so a redelivery of this attempt defers it once, not twice.
func (s *Service) deferNotification(ctx context.Context, n incident.Notification, at time.Time, why string) error {
	n.Deferrals++
	body, err := json.Marshal(n)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding notification")
	}
	id := fmt.Sprintf("%s:d%d", n.Key, n.Deferrals)
	if _, err := s.Queue.Schedule(ctx, QueueNotify, at, bus.Message{ID: id, Body: body, ContentType: "application/json", Subject: n.Event}); err != nil {
		return fault.Wrap(fault.Transient, err, "deferring notification")
	}
	s.Log.InfoContext(ctx, "notification deferred", "key", n.Key, "channel", n.Channel, "until", at, "why", why)
	return nil
}

// mutateCase applies change and writes c, re-reading it and re-applying on a lost race.
func (s *Service) mutateCase(ctx context.Context, c *incident.Case, change func(*incident.Case) bool) error {
	for range maxStaleRetries {
		if !change(c) {
			return nil
		}
		err := s.Store.UpdateCase(ctx, c)
		if !fault.Is(err, fault.Stale) {
			return err
		}
		fresh, err := s.Store.GetCase(ctx, c.ID)
		if err != nil {
			return err
		}
		*c = *fresh // the caller's case is the one written
	}
	return fault.New(fault.Stale, "case %s kept changing; will retry", c.ID)
}

func joinReasons(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += "; "
		}
		out += r
	}
	return out
}
