package catalog

import (
	"strings"

	"vigil/internal/incident"
)

func (c *Catalog) index() {
	c.byComponent = make(map[string]*Component, len(c.Components))
	for i := range c.Components {
		c.byComponent[c.Components[i].ID] = &c.Components[i]
	}
	c.byTenant = make(map[string]*Tenant, len(c.Tenants))
	c.allTenants = make([]string, 0, len(c.Tenants))
	for i := range c.Tenants {
		c.byTenant[c.Tenants[i].ID] = &c.Tenants[i]
		c.allTenants = append(c.allTenants, c.Tenants[i].ID)
	}
	c.indexOnCall()
	c.expectations = incident.DefaultExpectations()
	for name, o := range c.Severity.Expectations {
		sev, _ := incident.ParseSeverity(name) // validated in Parse
		e := c.expectations[sev]
		if o.AcknowledgeWithin != nil {
			e.AcknowledgeWithin = *o.AcknowledgeWithin
		}
		if o.Urgency != nil {
			e.Urgency = incident.Urgency(*o.Urgency)
		}
		if o.StatusPage != nil {
			e.StatusPage = *o.StatusPage
		}
		if o.UpdateEvery != nil {
			e.UpdateEvery = *o.UpdateEvery
		}
		if o.ResolveWithin != nil {
			e.ResolveWithin = *o.ResolveWithin
		}
		if o.Review != nil {
			e.Review = *o.Review
		}
		c.expectations[sev] = e
	}
	r := &c.Severity.Rules
	d := DefaultRules
	if r.TenantsForSev1 == 0 {
		r.TenantsForSev1 = d.TenantsForSev1
	}
	if r.TenantsForSev2 == 0 {
		r.TenantsForSev2 = d.TenantsForSev2
	}
	if r.CaseUsersForSev2 == 0 {
		r.CaseUsersForSev2 = d.CaseUsersForSev2
	}
	if r.CaseUsersForSev1 == 0 {
		r.CaseUsersForSev1 = d.CaseUsersForSev1
	}
	if !r.CaseOpensIncidentAt.Valid() {
		r.CaseOpensIncidentAt = d.CaseOpensIncidentAt
	}
}

// Team returns the team with this id.
func (c *Catalog) Team(id string) (*Team, bool) {
	for i := range c.Teams {
		if c.Teams[i].ID == id {
			return &c.Teams[i], true
		}
	}
	return nil, false
}

// Component returns the component with this id.
func (c *Catalog) Component(id string) (*Component, bool) {
	comp, ok := c.byComponent[id]
	return comp, ok
}

// Tenant returns the tenant with this id.
func (c *Catalog) Tenant(id string) (*Tenant, bool) {
	t, ok := c.byTenant[id]
	return t, ok
}

// FindTenant returns the tenant a sender means by s: its id or its name, in any
// case ("Contoso", "contoso ltd"). Monitors are configured by hand; exact ids
// are not what people type into an alert rule's custom properties.
func (c *Catalog) FindTenant(s string) (*Tenant, bool) {
	s = strings.TrimSpace(s)
	if t, ok := c.byTenant[s]; ok {
		return t, true
	}
	for i := range c.Tenants {
		if strings.EqualFold(c.Tenants[i].ID, s) {
			return &c.Tenants[i], true
		}
	}
	for i := range c.Tenants {
		if strings.EqualFold(c.Tenants[i].Name, s) {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}

// AllTenants lists every tenant id, in file order.
func (c *Catalog) AllTenants() []string { return c.allTenants }

// ServedTenants lists the tenants a component serves.
func (c *Catalog) ServedTenants(comp *Component) []string {
	if comp.Tenants.All {
		return c.allTenants
	}
	return comp.Tenants.IDs
}

// Expectations returns what a severity promises, defaults overridden by vigil.yaml.
func (c *Catalog) Expectations(s incident.Severity) incident.Expectations { return c.expectations[s] }

// Rules returns the impact rules with defaults filled in.
func (c *Catalog) Rules() Rules { return c.Severity.Rules }

// AutoResolve reports whether resolved alerts from a source resolve incidents.
// source is "azure-monitor" or "generic:<name>"; the default is yes.
func (c *Catalog) AutoResolve(source string) bool {
	name := strings.TrimPrefix(source, "generic:")
	if s, ok := c.Sources[name]; ok && s.AutoResolve != nil {
		return *s.AutoResolve
	}
	return true
}

// ComponentsForResource returns the components whose Azure resources contain id: the
// resource itself or a scope above it (resource group, subscription). Resource ids are
// compared case-insensitively, as Azure treats them.
func (c *Catalog) ComponentsForResource(id string) []*Component {
	id = strings.TrimSuffix(strings.ToLower(id), "/")
	var out []*Component
	for i := range c.Components {
		for _, scope := range c.Components[i].AzureResources {
			s := strings.TrimSuffix(strings.ToLower(scope), "/")
			if id == s || strings.HasPrefix(id, s+"/") {
				out = append(out, &c.Components[i])
				break
			}
		}
	}
	return out
}
