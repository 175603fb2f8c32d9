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
//
// Notes record what was taken from the alert and what was set aside: the parser's
// own notes first, then the components and tenants it named, checked against the
// catalog, and which tenants reported against which the components serve.
func Alert(cat *catalog.Catalog, a incident.Alert) incident.Triage {
	t := incident.Triage{AutoResolve: cat.AutoResolve(a.Source)}
	t.Notes = append(t.Notes, a.Notes...)
	sev := a.Signal
	switch {
	case !sev.Valid():
		sev = incident.Sev3
		t.Reasons = append(t.Reasons, "no usable source severity: assumed sev3")
	case strings.TrimSpace(a.SourceSeverity) == "" && a.SignalBasis != "":
		t.Reasons = append(t.Reasons, fmt.Sprintf("no source severity; derived %s: %s", sev, a.SignalBasis))
	default:
		t.Reasons = append(t.Reasons, fmt.Sprintf("source severity %s maps to %s", orUnset(a.SourceSeverity), sev))
	}

	var comps []*catalog.Component
	add := func(c *catalog.Component) {
		if !slices.Contains(comps, c) {
			comps = append(comps, c)
		}
	}
	for _, name := range namedComponents(a) {
		if c, ok := cat.Component(name); ok {
			add(c)
			t.Notes = append(t.Notes, fmt.Sprintf("component %s named by the alert: used", c.ID))
		} else {
			t.Notes = append(t.Notes, fmt.Sprintf("component %q named by the alert is not in the catalog: ignored", name))
		}
	}
	for _, r := range a.Resources {
		found := cat.ComponentsForResource(r)
		if len(found) == 0 {
			t.Unmapped = append(t.Unmapped, r)
			continue
		}
		var ids []string
		for _, c := range found {
			add(c)
			ids = append(ids, c.ID)
		}
		t.Notes = append(t.Notes, fmt.Sprintf("alert target %s maps to %s", resourceName(r), strings.Join(ids, ", ")))
	}
	for _, c := range comps {
		t.Components = append(t.Components, c.ID)
	}
	sev = byCriticality(sev, comps, &t.Reasons)

	reported, unknown := resolveTenants(cat, a.Tenants)
	t.Reported = reported
	affected := slices.Clone(reported)
	for _, c := range comps {
		affected = union(affected, cat.ServedTenants(c))
	}
	t.Tenants = affected
	t.Notes = append(t.Notes, tenantNotes(cat, comps, reported, unknown, affected)...)

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

// namedComponents are the components the sender named, in order, without repeats.
func namedComponents(a incident.Alert) []string {
	var out []string
	for _, c := range append([]string{a.Component}, a.Components...) {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// resolveTenants splits what the sender named into catalog tenant ids (a name or
// an id in any case finds its tenant) and names the catalog does not know.
func resolveTenants(cat *catalog.Catalog, named []string) (known, unknown []string) {
	for _, n := range named {
		if tn, ok := cat.FindTenant(n); ok {
			known = union(known, []string{tn.ID})
		} else if n = strings.TrimSpace(n); n != "" {
			unknown = union(unknown, []string{n})
		}
	}
	return known, unknown
}

// tenantNotes say which tenants reported and which the affected components
// serve, so that a responder can tell the reporters among all those listed.
func tenantNotes(cat *catalog.Catalog, comps []*catalog.Component, reported, unknown, affected []string) []string {
	var notes []string
	if len(reported) > 0 {
		notes = append(notes, fmt.Sprintf("tenants reported by the alert: %s", names(reported)))
	}
	if len(unknown) > 0 {
		notes = append(notes, fmt.Sprintf("tenants named by the alert that are not in the catalog, ignored: %s", names(unknown)))
	}
	for _, c := range comps {
		if c.Tenants.All {
			notes = append(notes, fmt.Sprintf("component %s serves all %d tenants", c.ID, len(cat.AllTenants())))
		} else {
			notes = append(notes, fmt.Sprintf("component %s serves %s", c.ID, names(cat.ServedTenants(c))))
		}
	}
	if len(reported) > 0 && len(comps) > 0 {
		if more := len(affected) - len(reported); more > 0 {
			notes = append(notes, fmt.Sprintf("%d tenants affected: %d reported, %d more served by the affected components", len(affected), len(reported), more))
		} else {
			notes = append(notes, fmt.Sprintf("%d tenants affected, all of them reported", len(affected)))
		}
	}
	return notes
}

// maxNamesInNote bounds a list in a timeline note; the count says the rest.
const maxNamesInNote = 20

func names(ids []string) string {
	if len(ids) <= maxNamesInNote {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:maxNamesInNote], ", "), len(ids)-maxNamesInNote)
}

// resourceName is the last segment of a resource id, which is what people call it.
func resourceName(id string) string {
	id = strings.TrimSuffix(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 && i < len(id)-1 {
		return id[i+1:]
	}
	return id
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
