package incident

import "time"

// AlertStatus is whether a monitor says the condition holds or has cleared.
type AlertStatus string

const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Alert is one notification from a monitor, as the intake parsers normalise it.
// Sources differ wildly; this is what triage needs from all of them.
type Alert struct {
	// Source is "azure-monitor" or "generic:<name>".
	Source string `json:"source"`
	// ID identifies this alert instance at the source (Azure Monitor's alertId).
	ID string `json:"id"`
	// DedupKey folds alerts into one open incident. Never empty after parsing.
	DedupKey string      `json:"dedupKey"`
	Status   AlertStatus `json:"status"`
	// SourceSeverity is the monitor's own label ("Sev0", "critical"), kept for the timeline.
	SourceSeverity string `json:"sourceSeverity,omitempty"`
	// Signal is SourceSeverity mapped onto Vigil's scale, before impact rules.
	Signal Severity `json:"signal"`
	// SignalBasis says how Signal was derived when the source sent no severity
	// (an Azure budget alert has none); empty when SourceSeverity was mapped.
	SignalBasis string `json:"signalBasis,omitempty"`
	Summary     string `json:"summary"`
	Details     string `json:"details,omitempty"`
	// Component is a catalog component named explicitly by the sender, if any.
	Component string `json:"component,omitempty"`
	// Components are further components the sender named after Component (an Azure
	// Monitor alert's customProperties may list several). Triage checks them all.
	Components []string `json:"components,omitempty"`
	// Resources are Azure resource ids the alert targets; triage maps them to components.
	Resources []string `json:"resources,omitempty"`
	// Tenants affected, when the sender knows, as the sender named them: triage
	// keeps those the catalog knows and says which it ignored.
	Tenants []string `json:"tenants,omitempty"`
	// Notes say what the parser derived or set aside ("rule name derived from
	// alertContext.AlertData.BudgetName"), so that the timeline can say it.
	Notes      []string    `json:"notes,omitempty"`
	FiredAt    time.Time   `json:"firedAt,omitzero"`
	ResolvedAt time.Time   `json:"resolvedAt,omitzero"`
	Links      []Link      `json:"links,omitempty"`
	VendorRefs []VendorRef `json:"vendorRefs,omitempty"`
	// Facts are short key/value details worth a responder's glance (metric, value, query).
	Facts map[string]string `json:"facts,omitempty"`
}

// Link is a titled URL (runbook, portal view, query results).
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// VendorRef points at a ticket or tracking id held by a vendor, such as an Azure support
// request or a Service Health tracking id.
type VendorRef struct {
	System string `json:"system"`
	ID     string `json:"id"`
	URL    string `json:"url,omitempty"`
}

// Contact is how to reach a person who reported a case.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Impact is the customer's own account of how bad it is.
type Impact struct {
	UsersAffected int  `json:"usersAffected"`
	Blocked       bool `json:"blocked"`
}

// CaseReport is a customer's report as submitted through the support-portal form.
type CaseReport struct {
	CaseID      string    `json:"caseId"`
	Tenant      string    `json:"tenant"`
	Reporter    Contact   `json:"reporter"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Component   string    `json:"component,omitempty"`
	Impact      Impact    `json:"impact"`
	ReceivedAt  time.Time `json:"receivedAt"`
}
