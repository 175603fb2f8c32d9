// Package catalog is Vigil's configuration as code: the tenants a vendor serves, its
// teams, its components (owners, contacts, criticality, runbooks, the Azure resources
// behind them) and its severity policy. It lives in the repo as vigil.yaml and is
// reviewed like code; `vigil check` validates it.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"vigil/internal/incident"
)

// Catalog is the whole of vigil.yaml.
type Catalog struct {
	Organisation string `yaml:"organisation"`
	// TriageTeam is the first-line team: told about new cases, and about incidents
	// that no catalog component claims.
	TriageTeam string         `yaml:"triageTeam"`
	Tenants    []Tenant       `yaml:"tenants"`
	Teams      []Team         `yaml:"teams"`
	Components []Component    `yaml:"components"`
	Severity   SeverityPolicy `yaml:"severity"`
	Sources    Sources        `yaml:"sources"`

	// On call: who can be paged, their rotations, and how incidents escalate.
	People     []Person           `yaml:"people"`
	Rotations  []Rotation         `yaml:"rotations"`
	Policies   []EscalationPolicy `yaml:"escalationPolicies"`
	Escalation Escalation         `yaml:"escalation"`

	// StatusPublishing: where customer-facing status updates go.
	StatusPublishing StatusPublishing `yaml:"statusPublishing"`

	warnings     Problems
	expectations map[incident.Severity]incident.Expectations
	byComponent  map[string]*Component
	byTenant     map[string]*Tenant
	allTenants   []string
	byPerson     map[string]*Person
	byPrincipal  map[string]*Person
}

// Tenant is one of the vendor's customers.
type Tenant struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	Tier string `yaml:"tier"`
}

// Team owns components and is reached through its contacts.
type Team struct {
	ID       string    `yaml:"id"`
	Name     string    `yaml:"name"`
	Contacts []Contact `yaml:"contacts"`
	// Members are people ids: a step targeting the team pages them all.
	Members []string `yaml:"members"`
	// EscalationPolicy pages for incidents on the team's components.
	EscalationPolicy string `yaml:"escalationPolicy"`
	// BusinessHours, when set, hold low-urgency pages until they begin.
	BusinessHours *BusinessHours `yaml:"businessHours"`
}

// Contact is a person worth knowing about for a team or component.
type Contact struct {
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Email string `yaml:"email"`
	Phone string `yaml:"phone"`
}

// Criticality ranks how much customers depend on a component.
type Criticality string

const (
	Critical Criticality = "critical"
	High     Criticality = "high"
	Medium   Criticality = "medium"
	Low      Criticality = "low"
)

var criticalities = []Criticality{Critical, High, Medium, Low}

var classifications = []string{"public", "internal", "confidential", "restricted"}

// Component is a part of the product that can fail on its own.
type Component struct {
	ID                 string      `yaml:"id"`
	Name               string      `yaml:"name"`
	Description        string      `yaml:"description"`
	Owner              string      `yaml:"owner"`
	Contacts           []Contact   `yaml:"contacts"`
	Criticality        Criticality `yaml:"criticality"`
	DataClassification string      `yaml:"dataClassification"`
	Runbook            string      `yaml:"runbook"`
	Architecture       string      `yaml:"architecture"`
	// Tenants served: the word "all", or a list of tenant ids.
	Tenants TenantSet `yaml:"tenants"`
	// AzureResources are resource ids or scopes (subscription, resource group):
	// an alert whose target lies under one of them concerns this component.
	AzureResources []string `yaml:"azureResources"`
}

// TenantSet is either every tenant or a list of them.
type TenantSet struct {
	All bool
	IDs []string
}

func (s *TenantSet) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "all" {
			return fmt.Errorf("line %d: tenants must be \"all\" or a list of tenant ids, not %q", n.Line, n.Value)
		}
		s.All = true
		return nil
	}
	return n.Decode(&s.IDs)
}

// SeverityPolicy overrides the default expectations and tunes the impact rules.
type SeverityPolicy struct {
	Expectations map[string]ExpectationsConfig `yaml:"expectations"`
	Rules        Rules                         `yaml:"rules"`
}

// ExpectationsConfig is the YAML form of incident.Expectations; unset fields keep the default.
type ExpectationsConfig struct {
	AcknowledgeWithin *time.Duration `yaml:"acknowledgeWithin"`
	Urgency           *string        `yaml:"urgency"`
	StatusPage        *bool          `yaml:"statusPage"`
	UpdateEvery       *time.Duration `yaml:"updateEvery"`
	ResolveWithin     *time.Duration `yaml:"resolveWithin"`
	Review            *bool          `yaml:"review"`
}

// Rules tune how impact maps to severity. Zero values take the defaults below.
type Rules struct {
	// TenantsForSev1: an alert at Sev2 or worse that affects at least this many tenants is Sev1.
	TenantsForSev1 int `yaml:"tenantsForSev1"`
	// TenantsForSev2: a Sev3 alert whose sender reports at least this many affected tenants is Sev2.
	TenantsForSev2 int `yaml:"tenantsForSev2"`
	// CaseUsersForSev2 / CaseUsersForSev1: a blocked customer with at least this many users affected.
	CaseUsersForSev2 int `yaml:"caseUsersForSev2"`
	CaseUsersForSev1 int `yaml:"caseUsersForSev1"`
	// CaseOpensIncidentAt: a case at this severity or worse opens an incident directly.
	CaseOpensIncidentAt incident.Severity `yaml:"caseOpensIncidentAt"`
}

// DefaultRules are used where vigil.yaml is silent.
var DefaultRules = Rules{TenantsForSev1: 10, TenantsForSev2: 3, CaseUsersForSev2: 50, CaseUsersForSev1: 1000, CaseOpensIncidentAt: incident.Sev2}

// Sources configure alert sources by name ("azure-monitor", or a generic source's name).
type Sources map[string]SourceConfig

// SourceConfig is one alert source's settings.
type SourceConfig struct {
	// AutoResolve: a resolved alert resolves its incident once all its alerts cleared. Default true.
	AutoResolve *bool `yaml:"autoResolve"`
}

// Problem is one thing wrong in vigil.yaml, with where it is.
type Problem struct {
	File  string
	Line  int
	Path  string
	Issue string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Issue)
}

// Problems is the error returned for an invalid catalog: every problem found, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates a catalog file.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading catalog: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a catalog. name is used in problem locations.
func Parse(name string, data []byte) (*Catalog, error) {
	var c Catalog
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: name, Path: "(file)", Issue: "is empty"}}
		}
		return nil, Problems{{File: name, Path: "(yaml)", Issue: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{File: name, Path: "(yaml)", Issue: err.Error()}}
	}
	v := validator{file: name, root: &root}
	v.check(&c)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, v.problems
	}
	sort.SliceStable(v.warnings, func(i, j int) bool { return v.warnings[i].Line < v.warnings[j].Line })
	c.warnings = v.warnings
	c.index()
	return &c, nil
}

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	settingPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	phonePattern   = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
)

type validator struct {
	file     string
	root     *yaml.Node
	problems Problems
	warnings Problems
}

func (v *validator) add(path []any, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: lineOf(v.root, path), Path: render(path), Issue: fmt.Sprintf(format, args...)})
}

// warn notes something valid but risky: vigil check prints it and passes.
func (v *validator) warn(path []any, format string, args ...any) {
	v.warnings = append(v.warnings, Problem{File: v.file, Line: lineOf(v.root, path), Path: render(path), Issue: fmt.Sprintf(format, args...)})
}

// Warnings lists what is valid in the catalog but risky, in file order.
func (c *Catalog) Warnings() Problems { return c.warnings }

func (v *validator) check(c *Catalog) {
	if strings.TrimSpace(c.Organisation) == "" {
		v.add([]any{"organisation"}, "is required: the vendor's name, shown on pages and notices")
	}
	tenants := map[string]bool{}
	if len(c.Tenants) == 0 {
		v.add([]any{"tenants"}, "at least one tenant is required")
	}
	for i, t := range c.Tenants {
		p := []any{"tenants", i}
		v.id(append(p, "id"), t.ID, tenants, "tenant")
		if strings.TrimSpace(t.Name) == "" {
			v.add(append(p, "name"), "is required")
		}
	}
	teams := map[string]bool{}
	for i, t := range c.Teams {
		p := []any{"teams", i}
		v.id(append(p, "id"), t.ID, teams, "team")
		if strings.TrimSpace(t.Name) == "" {
			v.add(append(p, "name"), "is required")
		}
		v.contacts(append(p, "contacts"), t.Contacts)
	}
	switch {
	case c.TriageTeam == "":
		v.add([]any{"triageTeam"}, "is required: the id of the first-line team (told about new cases and unclaimed incidents)")
	case !teams[c.TriageTeam]:
		v.add([]any{"triageTeam"}, "team %q is not defined (teams: %s)", c.TriageTeam, keys(teams))
	}
	components := map[string]bool{}
	for i, comp := range c.Components {
		p := []any{"components", i}
		v.id(append(p, "id"), comp.ID, components, "component")
		if strings.TrimSpace(comp.Name) == "" {
			v.add(append(p, "name"), "is required")
		}
		switch {
		case comp.Owner == "":
			v.add(append(p, "owner"), "is required: the id of the team that owns %s", comp.ID)
		case !teams[comp.Owner]:
			v.add(append(p, "owner"), "team %q is not defined (teams: %s)", comp.Owner, keys(teams))
		}
		if !slices.Contains(criticalities, comp.Criticality) {
			v.add(append(p, "criticality"), "%q is not one of critical, high, medium, low", comp.Criticality)
		}
		if comp.DataClassification != "" && !slices.Contains(classifications, comp.DataClassification) {
			v.add(append(p, "dataClassification"), "%q is not one of %s", comp.DataClassification, strings.Join(classifications, ", "))
		}
		v.url(append(p, "runbook"), comp.Runbook)
		v.url(append(p, "architecture"), comp.Architecture)
		v.contacts(append(p, "contacts"), comp.Contacts)
		if !comp.Tenants.All && len(comp.Tenants.IDs) == 0 {
			v.add(append(p, "tenants"), "is required: \"all\" or the list of tenant ids the component serves")
		}
		for j, t := range comp.Tenants.IDs {
			if !tenants[t] {
				v.add(append(p, "tenants", j), "tenant %q is not defined", t)
			}
		}
		for j, r := range comp.AzureResources {
			if !strings.HasPrefix(strings.ToLower(r), "/subscriptions/") {
				v.add(append(p, "azureResources", j), "%q is not an Azure resource id or scope (it must start with /subscriptions/)", r)
			}
		}
	}
	v.checkOnCall(c, teams, components)
	v.checkStatus(c, components)
	for name, e := range c.Severity.Expectations {
		p := []any{"severity", "expectations", name}
		if _, err := incident.ParseSeverity(name); err != nil {
			v.add(p, "%v", err)
			continue
		}
		if e.Urgency != nil && *e.Urgency != string(incident.UrgencyHigh) && *e.Urgency != string(incident.UrgencyLow) {
			v.add(append(p, "urgency"), "%q is not high or low", *e.Urgency)
		}
		for field, d := range map[string]*time.Duration{"acknowledgeWithin": e.AcknowledgeWithin, "updateEvery": e.UpdateEvery, "resolveWithin": e.ResolveWithin} {
			if d != nil && *d < 0 {
				v.add(append(p, field), "must not be negative")
			}
		}
	}
	r := c.Severity.Rules
	for field, n := range map[string]int{"tenantsForSev1": r.TenantsForSev1, "tenantsForSev2": r.TenantsForSev2, "caseUsersForSev2": r.CaseUsersForSev2, "caseUsersForSev1": r.CaseUsersForSev1} {
		if n < 0 {
			v.add([]any{"severity", "rules", field}, "must not be negative")
		}
	}
	for name := range c.Sources {
		if name != "azure-monitor" && !idPattern.MatchString(name) {
			v.add([]any{"sources", name}, "source name must be \"azure-monitor\" or a generic source name [a-z0-9-]")
		}
	}
}

func (v *validator) id(path []any, id string, seen map[string]bool, what string) {
	switch {
	case id == "":
		v.add(path, "is required")
	case !idPattern.MatchString(id):
		v.add(path, "%q is not a valid %s id (lowercase letters, digits and '-', at most 63)", id, what)
	case seen[id]:
		v.add(path, "duplicate %s id %q", what, id)
	}
	seen[id] = true
}

func (v *validator) contacts(path []any, cs []Contact) {
	for i, c := range cs {
		p := append(slices.Clone(path), i)
		if strings.TrimSpace(c.Name) == "" {
			v.add(append(p, "name"), "is required")
		}
		if c.Email == "" && c.Phone == "" {
			v.add(p, "a contact needs an email or a phone number")
		}
		if c.Email != "" {
			if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
				v.add(append(p, "email"), "%q is not a valid email address", c.Email)
			}
		}
		if c.Phone != "" && !phonePattern.MatchString(c.Phone) {
			v.add(append(p, "phone"), "%q is not an E.164 phone number (+ and 8 to 15 digits)", c.Phone)
		}
	}
}

func (v *validator) url(path []any, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(path, "%q is not an absolute http(s) URL", s)
	}
}

// lineOf finds the line of the node at path (map keys and sequence indexes), or of
// its nearest existing ancestor.
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func render(path []any) string {
	var b strings.Builder
	for i, step := range path {
		switch s := step.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, s)
		}
	}
	return b.String()
}

func keys(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none defined"
	}
	return strings.Join(out, ", ")
}
