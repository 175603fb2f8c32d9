// Package triage assigns severity by customer impact. It turns a signal (an alert, a
// customer's report) plus the catalog into a severity with the reasons for it, so
// that whoever is paged at three in the morning can see why it is a Sev1.
package triage

import (
	"fmt"
	"slices"
	"strings"

	"vigil/internal/catalog"
	"vigil/internal/incident"
)

// Alert applies the impact rules to an alert:
//  1. start from the monitor's own severity mapped onto Sev1–Sev4;
//  2. the most critical affected component moves it: critical one level worse,
//     all-low one level milder;
//  3. breadth: at Sev2 or worse, affecting TenantsForSev1 tenants or more makes it Sev1;
//     a Sev3 whose sender reports TenantsForSev2 affected tenants or more is Sev2.
func Alert(cat *catalog.Catalog, a incident.Alert) incident.Triage {
	t := incident.Triage{AutoResolve: cat.AutoResolve(a.Source)}
	sev := a.Signal
	if !sev.Valid() {
		sev = incident.Sev3
		t.Reasons = append(t.Reasons, "no usable source severity: assumed sev3")
	} else {
		t.Reasons = append(t.Reasons, fmt.Sprintf("source severity %s maps to %s", orUnset(a.SourceSeverity), sev))
	}

	var comps []*catalog.Component
	if a.Component != "" {
		if c, ok := cat.Component(a.Component); ok {
			comps = append(comps, c)
		}
	}
	for _, r := range a.Resources {
		found := cat.ComponentsForResource(r)
		if len(found) == 0 {
			t.Unmapped = append(t.Unmapped, r)
		}
		for _, c := range found {
			if !slices.Contains(comps, c) {
				comps = append(comps, c)
			}
		}
	}
	for _, c := range comps {
		t.Components = append(t.Components, c.ID)
	}
	sev = byCriticality(sev, comps, &t.Reasons)

	reported := knownTenants(cat, a.Tenants)
	affected := slices.Clone(reported)
	for _, c := range comps {
		affected = union(affected, cat.ServedTenants(c))
	}
	t.Tenants = affected
	rules := cat.Rules()
	impactful := sev == incident.Sev1 || sev == incident.Sev2
	if sev == incident.Sev3 && len(reported) >= rules.TenantsForSev2 {
		sev = incident.Sev2
		t.Reasons = append(t.Reasons, fmt.Sprintf("%d tenants reported affected (≥ %d): sev2", len(reported), rules.TenantsForSev2))
	}
	// Breadth makes a real outage a Sev1; it never turns a warning into one.
	if impactful && sev == incident.Sev2 && len(affected) >= rules.TenantsForSev1 {
		sev = incident.Sev1
		t.Reasons = append(t.Reasons, fmt.Sprintf("%d tenants affected (≥ %d): sev1", len(affected), rules.TenantsForSev1))
	}
	t.Severity = sev
	return t
}

// Case applies the impact rules to a customer's report. A report starts at Sev4; a
// blocked reporter is Sev3, blocked with CaseUsersForSev2 users Sev2, with
// CaseUsersForSev1 users Sev1; a blocked reporter on a critical component is one level worse.
func Case(cat *catalog.Catalog, r incident.CaseReport) incident.Triage {
	rules := cat.Rules()
	t := incident.Triage{Tenants: []string{r.Tenant}}
	sev := incident.Sev4
	switch {
	case r.Impact.Blocked && r.Impact.UsersAffected >= rules.CaseUsersForSev1:
		sev = incident.Sev1
		t.Reasons = append(t.Reasons, fmt.Sprintf("blocked, %d users affected (≥ %d)", r.Impact.UsersAffected, rules.CaseUsersForSev1))
	case r.Impact.Blocked && r.Impact.UsersAffected >= rules.CaseUsersForSev2:
		sev = incident.Sev2
		t.Reasons = append(t.Reasons, fmt.Sprintf("blocked, %d users affected (≥ %d)", r.Impact.UsersAffected, rules.CaseUsersForSev2))
	case r.Impact.Blocked:
		sev = incident.Sev3
		t.Reasons = append(t.Reasons, fmt.Sprintf("blocked, %d users affected", r.Impact.UsersAffected))
	default:
		t.Reasons = append(t.Reasons, "not blocked: sev4")
	}
	if c, ok := cat.Component(r.Component); ok {
		t.Components = []string{c.ID}
		if r.Impact.Blocked && c.Criticality == catalog.Critical && sev != incident.Sev1 {
			sev = sev.Shift(-1)
			t.Reasons = append(t.Reasons, fmt.Sprintf("component %s is critical: %s", c.ID, sev))
		}
	}
	t.Severity = sev
	return t
}

// OpensIncident reports whether a case is severe enough to open an incident directly.
func OpensIncident(cat *catalog.Catalog, sev incident.Severity) bool {
	return sev.Valid() && !cat.Rules().CaseOpensIncidentAt.Worse(sev)
}

func byCriticality(sev incident.Severity, comps []*catalog.Component, reasons *[]string) incident.Severity {
	if len(comps) == 0 {
		return sev
	}
	allLow := true
	for _, c := range comps {
		if c.Criticality == catalog.Critical {
			if sev != incident.Sev1 {
				sev = sev.Shift(-1)
				*reasons = append(*reasons, fmt.Sprintf("component %s is critical: %s", c.ID, sev))
			}
			return sev
		}
		allLow = allLow && c.Criticality == catalog.Low
	}
	if allLow && sev != incident.Sev4 {
		sev = sev.Shift(1)
		*reasons = append(*reasons, fmt.Sprintf("only low-criticality components affected: %s", sev))
	}
	return sev
}

func knownTenants(cat *catalog.Catalog, ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := cat.Tenant(id); ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

func orUnset(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}
