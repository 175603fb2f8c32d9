package app

import (
	"time"

	"vigil/internal/catalog"
	"vigil/internal/incident"
)

// IncidentView is an incident as the responder API shows it. It is its own
// contract: the stored document can rename a field without breaking a client,
// internal bookkeeping (applied message ids, publishing leases, timer sequence
// numbers) stays out, and what the catalog knows of each affected component
// (owners, contacts, criticality, classification, runbook) is at hand.
type IncidentView struct {
	ID              string            `json:"id"`
	Title           string            `json:"title"`
	Description     string            `json:"description,omitempty"`
	State           incident.State    `json:"state"`
	Severity        incident.Severity `json:"severity"`
	SeverityReasons []string          `json:"severityReasons,omitempty"`
	DedupKey        string            `json:"dedupKey"`
	Source          string            `json:"source"`
	Components      []string          `json:"components,omitempty"`
	Catalog         []ComponentView   `json:"catalog,omitempty"`
	Tenants         []string          `json:"tenants,omitempty"`
	// Reported are the tenants the alerts named (Tenants adds those the
	// affected components serve).
	Reported       []string             `json:"reported,omitempty"`
	Roles          incident.Roles       `json:"roles"`
	Comms          CommsView            `json:"comms"`
	Escalation     *EscalationView      `json:"escalation,omitempty"`
	Pages          []incident.Page      `json:"pages,omitempty"`
	Assignees      []string             `json:"assignees,omitempty"`
	Responders     []string             `json:"responders,omitempty"`
	Alerts         []AlertView          `json:"alerts,omitempty"`
	AlertCount     int                  `json:"alertCount"`
	Cases          []string             `json:"cases,omitempty"`
	VendorRefs     []incident.VendorRef `json:"vendorRefs,omitempty"`
	Links          []incident.Link      `json:"links,omitempty"`
	Facts          map[string]string    `json:"facts,omitempty"`
	CreatedAt      time.Time            `json:"createdAt"`
	UpdatedAt      time.Time            `json:"updatedAt"`
	AcknowledgedAt time.Time            `json:"acknowledgedAt,omitzero"`
	MitigatedAt    time.Time            `json:"mitigatedAt,omitzero"`
	ResolvedAt     time.Time            `json:"resolvedAt,omitzero"`
	Timeline       []incident.Event     `json:"timeline"`
	Version        int64                `json:"version"`
}

// ComponentView is what the catalog says of a component an incident affects.
type ComponentView struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Description        string            `json:"description,omitempty"`
	Owner              *TeamView         `json:"owner,omitempty"`
	Contacts           []catalog.Contact `json:"contacts,omitempty"`
	Criticality        string            `json:"criticality"`
	DataClassification string            `json:"dataClassification,omitempty"`
	Runbook            string            `json:"runbook,omitempty"`
	Architecture       string            `json:"architecture,omitempty"`
}

// TeamView is a team as the API shows it.
type TeamView struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Contacts         []catalog.Contact `json:"contacts,omitempty"`
	Members          []string          `json:"members,omitempty"`
	EscalationPolicy string            `json:"escalationPolicy,omitempty"`
}

// CommsView is an incident's customer communication.
type CommsView struct {
	Visible bool                    `json:"visible"`
	Title   string                  `json:"title,omitempty"`
	Updates []incident.StatusUpdate `json:"updates,omitempty"`
	// NextDue is when the reminder sweep looks again (a late update, or one
	// not yet everywhere).
	NextDue   time.Time `json:"nextDue,omitzero"`
	ClockFrom time.Time `json:"clockFrom,omitzero"`
	// Published lists, per status page, the updates it has.
	Published map[string][]string `json:"published,omitempty"`
}

// EscalationView is where an incident is in its escalation policy.
type EscalationView struct {
	Policy  string    `json:"policy"`
	Cycle   int       `json:"cycle"`
	Next    int       `json:"next"`
	DueAt   time.Time `json:"dueAt,omitzero"`
	Waiting string    `json:"waiting,omitempty"`
	Done    bool      `json:"done,omitempty"`
}

// AlertView is one alert folded into an incident.
type AlertView struct {
	Source     string               `json:"source"`
	ID         string               `json:"id"`
	Status     incident.AlertStatus `json:"status"`
	FiredAt    time.Time            `json:"firedAt,omitzero"`
	ResolvedAt time.Time            `json:"resolvedAt,omitzero"`
	Count      int                  `json:"count"`
}

// View is the responder API's view of inc.
func (a *App) View(inc *incident.Incident) IncidentView { return ViewIncident(a.catalog, inc) }

// Catalog is the responder API's view of the catalog.
func (a *App) Catalog() CatalogView { return ViewCatalog(a.catalog) }

// ViewIncident is the responder API's view of inc.
func ViewIncident(cat *catalog.Catalog, inc *incident.Incident) IncidentView {
	v := IncidentView{
		ID: inc.ID, Title: inc.Title, Description: inc.Description, State: inc.State, Severity: inc.Severity,
		SeverityReasons: inc.SeverityReasons, DedupKey: inc.DedupKey, Source: inc.Source, Components: inc.Components,
		Tenants: inc.Tenants, Reported: inc.Reported, Roles: inc.Roles, Pages: inc.Pages, Assignees: inc.Assignees, Responders: inc.Responders,
		AlertCount: inc.AlertCount, Cases: inc.Cases, VendorRefs: inc.VendorRefs, Links: inc.Links, Facts: inc.Facts,
		CreatedAt: inc.CreatedAt, UpdatedAt: inc.UpdatedAt, AcknowledgedAt: inc.AcknowledgedAt, MitigatedAt: inc.MitigatedAt,
		ResolvedAt: inc.ResolvedAt, Timeline: inc.Timeline, Version: inc.Version,
		Comms: CommsView{Visible: inc.Comms.Visible, Title: inc.Comms.Title, Updates: inc.Comms.Updates,
			NextDue: inc.CommsDue(), ClockFrom: inc.Comms.ClockFrom},
	}
	for _, id := range inc.Components {
		if c, ok := cat.Component(id); ok {
			v.Catalog = append(v.Catalog, viewComponent(cat, c))
		}
	}
	for id, p := range inc.Comms.Published {
		if v.Comms.Published == nil {
			v.Comms.Published = map[string][]string{}
		}
		v.Comms.Published[id] = p.Sent
	}
	if e := inc.Escalation; e != nil {
		v.Escalation = &EscalationView{Policy: e.Policy, Cycle: e.Cycle, Next: e.Next, DueAt: inc.EscalationDue(), Waiting: e.Waiting, Done: e.Done}
	}
	for _, a := range inc.Alerts {
		v.Alerts = append(v.Alerts, AlertView{Source: a.Source, ID: a.ID, Status: a.Status, FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, Count: a.Count})
	}
	if v.Timeline == nil {
		v.Timeline = []incident.Event{}
	}
	return v
}

func viewComponent(cat *catalog.Catalog, c *catalog.Component) ComponentView {
	v := ComponentView{ID: c.ID, Name: c.Name, Description: c.Description, Contacts: c.Contacts, Criticality: string(c.Criticality),
		DataClassification: c.DataClassification, Runbook: c.Runbook, Architecture: c.Architecture}
	if t, ok := cat.Team(c.Owner); ok {
		tv := viewTeam(t)
		v.Owner = &tv
	}
	return v
}

func viewTeam(t *catalog.Team) TeamView {
	return TeamView{ID: t.ID, Name: t.Name, Contacts: t.Contacts, Members: t.Members, EscalationPolicy: t.EscalationPolicy}
}

// CatalogView is the read-only catalog responders consult: components with
// their owners and runbooks, teams, and escalation policies.
type CatalogView struct {
	Organisation string          `json:"organisation"`
	Components   []ComponentView `json:"components"`
	Teams        []TeamView      `json:"teams"`
	Policies     []PolicyView    `json:"escalationPolicies"`
}

// PolicyView is an escalation policy as the API shows it.
type PolicyView struct {
	ID     string     `json:"id"`
	Name   string     `json:"name,omitempty"`
	Team   string     `json:"team"`
	Repeat int        `json:"repeat,omitempty"`
	Steps  []StepView `json:"steps"`
	Final  *StepView  `json:"final,omitempty"`
}

// StepView is one step of an escalation policy.
type StepView struct {
	Targets  []string `json:"targets"`
	Delay    string   `json:"delay"`
	Reminder string   `json:"reminder,omitempty"`
}

func viewStep(s catalog.EscalationStep) StepView {
	v := StepView{Delay: s.Delay.String(), Reminder: s.Reminder}
	for _, t := range s.Targets {
		v.Targets = append(v.Targets, t.String())
	}
	return v
}

// ViewCatalog is the responder API's view of the catalog.
func ViewCatalog(cat *catalog.Catalog) CatalogView {
	v := CatalogView{Organisation: cat.Organisation, Components: []ComponentView{}, Teams: []TeamView{}, Policies: []PolicyView{}}
	for i := range cat.Components {
		v.Components = append(v.Components, viewComponent(cat, &cat.Components[i]))
	}
	for i := range cat.Teams {
		v.Teams = append(v.Teams, viewTeam(&cat.Teams[i]))
	}
	for _, p := range cat.Policies {
		pv := PolicyView{ID: p.ID, Name: p.Name, Team: p.Team, Repeat: p.Repeat, Steps: []StepView{}}
		for _, st := range p.Steps {
			pv.Steps = append(pv.Steps, viewStep(st))
		}
		if p.Final != nil {
			f := viewStep(*p.Final)
			pv.Final = &f
		}
		v.Policies = append(v.Policies, pv)
	}
	return v
}
