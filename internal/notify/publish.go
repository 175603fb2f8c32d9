package notify

import (
	"context"

	"vigil/internal/incident"
)

// Status publishers as the application uses them (app.StatusPublisher): one
// incident's update, with what was recorded of earlier publications.

// StatusUpdateOf is the update as a status page is told it.
func StatusUpdateOf(inc *incident.Incident, u incident.StatusUpdate) StatusUpdate {
	title := inc.Comms.Title
	if title == "" {
		title = inc.Title
	}
	return StatusUpdate{
		IncidentID: inc.ID, UpdateID: u.ID, Title: title, Phase: string(u.Phase), Message: u.Message,
		Components: u.Components, ETA: u.ETA, ETAKind: u.ETAKind, Impact: impactOf(inc.Severity), At: u.At,
	}
}

// impactOf is Statuspage's impact for a severity.
func impactOf(s incident.Severity) string {
	switch s {
	case incident.Sev1:
		return "critical"
	case incident.Sev2:
		return "major"
	case incident.Sev3:
		return "minor"
	}
	return "none"
}

// PublishStatus puts u on the Statuspage page: it opens the page's incident
// with the first update, and adds later ones to it. On a resend it first
// looks for what an earlier attempt may have done (Statuspage has no
// idempotency key): the incident it may have opened, or the update it may
// have added.
func (s *Statuspage) PublishStatus(ctx context.Context, inc *incident.Incident, u incident.StatusUpdate, remoteID string, resend bool) (string, error) {
	su := StatusUpdateOf(inc, u)
	if remoteID == "" {
		if resend {
			id, found, err := s.FindOpen(ctx, inc.ID)
			if err != nil {
				return "", err
			}
			if found {
				// The earlier attempt opened it; was it with this update?
				has, err := s.HasUpdate(ctx, id, su)
				if err != nil || has {
					return id, err
				}
				return id, s.Post(ctx, id, su)
			}
		}
		return s.Open(ctx, su)
	}
	if resend {
		has, err := s.HasUpdate(ctx, remoteID, su)
		if err != nil || has {
			return remoteID, err
		}
	}
	return remoteID, s.Post(ctx, remoteID, su)
}

// PublishStatus sends u to the status webhook. Receivers drop repeats by the
// delivery id (the update id), so a resend needs no check.
func (h *StatusHook) PublishStatus(ctx context.Context, inc *incident.Incident, u incident.StatusUpdate, _ string, _ bool) (string, error) {
	return "", h.Publish(ctx, StatusUpdateOf(inc, u))
}
