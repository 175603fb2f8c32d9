package app

import (
	"fmt"
	"slices"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// The queue messages' decoders: each reads a body as the Functions host hands
// it over and holds it to what Vigil itself sends, so that a message that can
// never succeed is parked (fault.Permanent) with the field at fault before
// anything is read or written. They are fuzzed like the HTTP parsers.

// parseIntake reads a message of the intake queue.
func parseIntake(cat *catalog.Catalog, body []byte) (IntakeMessage, error) {
	var m IntakeMessage
	if err := decode(body, "intake", &m); err != nil {
		return m, err
	}
	if err := checkIntake(cat, m); err != nil {
		return m, fault.Wrap(fault.Permanent, err, "intake message %s", m.Key)
	}
	return m, nil
}

// check holds a queued message to what the HTTP front accepts: a message
// that could never have come from it (or no longer fits the catalog) is
// parked with the reason, not processed or dropped.
func checkIntake(cat *catalog.Catalog, m IntakeMessage) error {
	switch {
	case m.Key == "":
		return fault.InvalidField("key", "is required")
	case m.Kind == kindAlert && m.Alert != nil:
		a := m.Alert
		switch {
		case a.DedupKey == "":
			return fault.InvalidField("alert.dedupKey", "is required")
		case a.Source == "":
			return fault.InvalidField("alert.source", "is required")
		case a.Status != incident.AlertFiring && a.Status != incident.AlertResolved:
			return fault.InvalidField("alert.status", "%q is not firing or resolved", a.Status)
		}
		return checkNames(cat, *a)
	case m.Kind == kindCase && m.Case != nil:
		r := m.Case
		switch _, ok := cat.Tenant(r.Tenant); {
		case r.CaseID == "":
			return fault.InvalidField("case.caseId", "is required")
		case !ok:
			return fault.InvalidField("case.tenant", "unknown tenant %q", r.Tenant)
		}
		if _, ok := cat.Component(r.Component); r.Component != "" && !ok {
			return fault.InvalidField("case.component", "unknown component %q", r.Component)
		}
		return nil
	}
	return fault.InvalidField("kind", "%q without its payload (alert or case)", m.Kind)
}

// checkNames refuses a generic alert naming a component or tenant the catalog
// does not have (Azure Monitor's are never refused: see SubmitAlert).
func checkNames(cat *catalog.Catalog, a incident.Alert) error {
	if a.Source == "azure-monitor" {
		return nil
	}
	if _, ok := cat.Component(a.Component); a.Component != "" && !ok {
		return fault.InvalidField("component", "unknown component %q", a.Component)
	}
	for i, t := range a.Tenants {
		if _, ok := cat.Tenant(t); !ok {
			return fault.InvalidField(fmt.Sprintf("tenants[%d]", i), "unknown tenant %q", t)
		}
	}
	return nil
}

// parseEscalation reads a message of the escalations queue.
func parseEscalation(body []byte) (EscalationMessage, error) {
	var m EscalationMessage
	if err := decode(body, "escalation", &m); err != nil {
		return m, err
	}
	if m.IncidentID == "" || m.Cycle < 1 || m.Position < 1 {
		return m, fault.New(fault.Permanent, "escalation message needs incidentId, cycle ≥ 1 and position ≥ 1")
	}
	return m, nil
}

// parseStatus reads a message of the status queue.
func parseStatus(body []byte) (StatusMessage, error) {
	var m StatusMessage
	if err := decode(body, "status", &m); err != nil {
		return m, err
	}
	if m.IncidentID == "" || (m.UpdateID == "" && !m.CloseCases) {
		return m, fault.New(fault.Permanent, "status message needs incidentId, and updateId or closeCases")
	}
	if m.Deferrals < 0 {
		return m, fault.New(fault.Permanent, "status message has a negative retry count")
	}
	return m, nil
}

// parseNotification reads a message of the notify queue.
func parseNotification(body []byte) (incident.Notification, error) {
	var n incident.Notification
	if err := decode(body, "notification", &n); err != nil {
		return n, err
	}
	switch {
	case n.Key == "" || n.Address == "":
		return n, fault.New(fault.Permanent, "notification without key or address")
	case !slices.Contains(incident.Channels, n.Channel):
		return n, fault.New(fault.Permanent, "notification %s on unknown channel %q", n.Key, n.Channel)
	case n.Deferrals < 0 || n.Flush < 0 || n.Checks < 0:
		return n, fault.New(fault.Permanent, "notification %s has a negative count", n.Key)
	}
	return n, nil
}
