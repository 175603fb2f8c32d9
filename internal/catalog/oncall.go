package catalog

import (
	"net/mail"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"vigil/internal/incident"
)

// Person is someone Vigil can page.
type Person struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Principal is the Entra ID sign-in name (UPN) the person uses with the
	// responder API; when empty, their email is used.
	Principal string         `yaml:"principal"`
	TimeZone  string         `yaml:"timeZone"`
	Contacts  PersonContacts `yaml:"contacts"`
}

// PersonContacts are the ways to reach a person. Email and SMS are addresses; teams,
// slack and webhook name the app setting holding the webhook URL (a secret, kept in
// Key Vault in Azure), never the URL itself.
type PersonContacts struct {
	Email   string `yaml:"email"`
	SMS     string `yaml:"sms"`
	Teams   string `yaml:"teams"`
	Slack   string `yaml:"slack"`
	Webhook string `yaml:"webhook"`
}

// Address returns the person's address on a channel, or "".
func (p PersonContacts) Address(channel string) string {
	switch channel {
	case incident.ChannelEmail:
		return p.Email
	case incident.ChannelSMS:
		return p.SMS
	case incident.ChannelTeams:
		return p.Teams
	case incident.ChannelSlack:
		return p.Slack
	case incident.ChannelWebhook:
		return p.Webhook
	}
	return ""
}

// Rotation hands on-call duty from one participant to the next every ShiftDays days
// at Handoff, local time in TimeZone, counting from Start (the first participant's
// first shift).
type Rotation struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	Participants []string `yaml:"participants"`
	ShiftDays    int      `yaml:"shiftDays"`
	Handoff      string   `yaml:"handoff"`
	TimeZone     string   `yaml:"timeZone"`
	Start        string   `yaml:"start"`

	loc                    *time.Location
	startDate              time.Time // midnight UTC of Start, for counting civil days
	handoffHour, handoffMn int
}

// BusinessHours are when low-urgency pages go out.
type BusinessHours struct {
	TimeZone string   `yaml:"timeZone"`
	Days     []string `yaml:"days"`
	Start    string   `yaml:"start"`
	End      string   `yaml:"end"`

	loc        *time.Location
	days       [7]bool
	start, end int // minutes from local midnight
}

// EscalationPolicy pages its steps in order until someone acknowledges, repeats
// the whole list Repeat more times, then pages Final once.
type EscalationPolicy struct {
	ID     string           `yaml:"id"`
	Name   string           `yaml:"name"`
	Team   string           `yaml:"team"`
	Repeat int              `yaml:"repeat"`
	Steps  []EscalationStep `yaml:"steps"`
	Final  *EscalationStep  `yaml:"final"`
}

// EscalationStep pages its targets, then waits Delay for an acknowledgement before
// the next step. Reminder, when set, is written on the timeline and in the page (for
// example "open a Severity A Azure support request").
type EscalationStep struct {
	Targets  []Target      `yaml:"targets"`
	Delay    time.Duration `yaml:"delay"`
	Reminder string        `yaml:"reminder"`
}

// Target kinds.
const (
	TargetPerson   = "person"
	TargetRotation = "rotation"
	TargetTeam     = "team"
)

// Target is "person:<id>", "rotation:<id>" or "team:<id>" (every member of the team).
type Target struct {
	Kind string
	ID   string
	// raw is the text as written, kept so that a malformed target is reported
	// by the validator with its line, not by the decoder without one.
	raw string
}

func (t Target) String() string { return t.Kind + ":" + t.ID }

func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	t.raw = n.Value
	if kind, id, ok := strings.Cut(n.Value, ":"); ok && id != "" && (kind == TargetPerson || kind == TargetRotation || kind == TargetTeam) {
		t.Kind, t.ID = kind, id
	}
	return nil
}

// Escalation says which policy serves an incident: the first matching route, else
// the owning team's policy, else Default.
type Escalation struct {
	Default string  `yaml:"default"`
	Routes  []Route `yaml:"routes"`
}

// Route sends incidents of these severities and/or touching these components to a
// policy. An empty list matches anything.
type Route struct {
	Severities []string `yaml:"severities"`
	Components []string `yaml:"components"`
	Policy     string   `yaml:"policy"`

	severities []incident.Severity
}

// MaxStepDelay bounds a step's wait, as the tools users compare with do.
const MaxStepDelay = 7 * 24 * time.Hour

// MaxRepeat bounds how often a policy's steps are repeated.
const MaxRepeat = 9

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// zone loads an IANA time zone; "Local" (the server's own zone) and "" are refused.
func zone(name string) (*time.Location, bool) {
	if name == "" || name == "Local" {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	return loc, err == nil
}

// clock parses "HH:MM" into minutes from midnight.
func clock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

func (v *validator) checkOnCall(c *Catalog, teams map[string]bool, components map[string]bool) {
	people := map[string]bool{}
	principals := map[string]bool{}
	for i := range c.People {
		p := &c.People[i]
		path := []any{"people", i}
		v.id(append(path, "id"), p.ID, people, "person")
		if strings.TrimSpace(p.Name) == "" {
			v.add(append(path, "name"), "is required")
		}
		if p.TimeZone != "" {
			if _, ok := zone(p.TimeZone); !ok {
				v.add(append(path, "timeZone"), "%q is not an IANA time zone (like Europe/London)", p.TimeZone)
			}
		}
		pc := p.Contacts
		if pc == (PersonContacts{}) {
			v.add(append(path, "contacts"), "a person needs at least one of email, sms, teams, slack, webhook")
		}
		if pc.Teams != "" && pc == (PersonContacts{Teams: pc.Teams}) {
			v.warn(append(path, "contacts"), "teams is %s's only channel: a Teams Workflows webhook answers 202 once the flow starts, "+
				"and the flow cannot post to a private channel and stops when its owner leaves, without Vigil seeing it; "+
				"add email, sms, slack or webhook so that pages reach them", p.ID)
		}
		if pc.Email != "" {
			if a, err := mail.ParseAddress(pc.Email); err != nil || a.Address != pc.Email {
				v.add(append(path, "contacts", "email"), "%q is not a valid email address", pc.Email)
			}
		}
		if pc.SMS != "" && !phonePattern.MatchString(pc.SMS) {
			v.add(append(path, "contacts", "sms"), "%q is not an E.164 phone number (+ and 8 to 15 digits)", pc.SMS)
		}
		for ch, name := range map[string]string{"teams": pc.Teams, "slack": pc.Slack, "webhook": pc.Webhook} {
			if name != "" && !settingPattern.MatchString(name) {
				v.add(append(path, "contacts", ch), "%q must name the app setting that holds the webhook URL (letters, digits, '_'), not the URL", name)
			}
		}
		if pr := strings.ToLower(p.principalName()); pr != "" {
			if principals[pr] {
				v.add(append(path, "principal"), "sign-in name %q is used by two people", pr)
			}
			principals[pr] = true
		}
	}
	for i := range c.Teams {
		t := &c.Teams[i]
		path := []any{"teams", i}
		for j, m := range t.Members {
			if !people[m] {
				v.add(append(path, "members", j), "person %q is not defined", m)
			}
		}
		if t.BusinessHours != nil {
			v.businessHours(append(path, "businessHours"), t.BusinessHours)
		}
	}
	rotations := map[string]bool{}
	for i := range c.Rotations {
		r := &c.Rotations[i]
		path := []any{"rotations", i}
		v.id(append(path, "id"), r.ID, rotations, "rotation")
		if len(r.Participants) == 0 {
			v.add(append(path, "participants"), "at least one person is required")
		}
		for j, m := range r.Participants {
			if !people[m] {
				v.add(append(path, "participants", j), "person %q is not defined", m)
			}
		}
		if r.ShiftDays < 1 || r.ShiftDays > 28 {
			v.add(append(path, "shiftDays"), "must be between 1 and 28 days")
		}
		if _, ok := clock(r.Handoff); !ok {
			v.add(append(path, "handoff"), "%q is not a local time HH:MM", r.Handoff)
		}
		if _, ok := zone(r.TimeZone); !ok {
			v.add(append(path, "timeZone"), "%q is not an IANA time zone (like Europe/London)", r.TimeZone)
		}
		if _, err := time.Parse(time.DateOnly, r.Start); err != nil {
			v.add(append(path, "start"), "%q is not a date YYYY-MM-DD (the first participant's first shift)", r.Start)
		}
	}
	policies := map[string]bool{}
	for i := range c.Policies {
		pol := &c.Policies[i]
		path := []any{"escalationPolicies", i}
		v.id(append(path, "id"), pol.ID, policies, "escalation policy")
		if pol.Team != "" && !teams[pol.Team] {
			v.add(append(path, "team"), "team %q is not defined", pol.Team)
		}
		if len(pol.Steps) == 0 {
			v.add(append(path, "steps"), "at least one step is required")
		}
		if pol.Repeat < 0 || pol.Repeat > MaxRepeat {
			v.add(append(path, "repeat"), "must be between 0 and %d", MaxRepeat)
		}
		for j := range pol.Steps {
			v.step(append(path, "steps", j), &pol.Steps[j], people, rotations, teams)
		}
		if pol.Final != nil {
			v.step(append(path, "final"), pol.Final, people, rotations, teams)
		}
	}
	for i, t := range c.Teams {
		if t.EscalationPolicy != "" && !policies[t.EscalationPolicy] {
			v.add([]any{"teams", i, "escalationPolicy"}, "escalation policy %q is not defined", t.EscalationPolicy)
		}
	}
	if d := c.Escalation.Default; d != "" && !policies[d] {
		v.add([]any{"escalation", "default"}, "escalation policy %q is not defined", d)
	}
	for i, r := range c.Escalation.Routes {
		path := []any{"escalation", "routes", i}
		if !policies[r.Policy] {
			v.add(append(path, "policy"), "escalation policy %q is not defined", r.Policy)
		}
		for j, sev := range r.Severities {
			if _, err := incident.ParseSeverity(sev); err != nil {
				v.add(append(path, "severities", j), "%v", err)
			}
		}
		for j, comp := range r.Components {
			if !components[comp] {
				v.add(append(path, "components", j), "component %q is not defined", comp)
			}
		}
	}
}

func (v *validator) step(path []any, s *EscalationStep, people, rotations, teams map[string]bool) {
	if len(s.Targets) == 0 && s.Reminder == "" {
		v.add(append(path, "targets"), "a step needs at least one target (person:<id>, rotation:<id> or team:<id>)")
	}
	for k, t := range s.Targets {
		if t.Kind == "" {
			v.add(append(path, "targets", k), "target %q must be person:<id>, rotation:<id> or team:<id>", t.raw)
			continue
		}
		known := map[string]map[string]bool{TargetPerson: people, TargetRotation: rotations, TargetTeam: teams}[t.Kind]
		if !known[t.ID] {
			v.add(append(path, "targets", k), "%s %q is not defined", t.Kind, t.ID)
		}
	}
	if s.Delay < time.Second || s.Delay > MaxStepDelay {
		v.add(append(path, "delay"), "must be between 1s and %s (how long to wait for an acknowledgement)", MaxStepDelay)
	}
}

func (v *validator) businessHours(path []any, b *BusinessHours) {
	if _, ok := zone(b.TimeZone); !ok {
		v.add(append(path, "timeZone"), "%q is not an IANA time zone (like Europe/London)", b.TimeZone)
	}
	if len(b.Days) == 0 {
		v.add(append(path, "days"), "at least one day is required (mon, tue, ...)")
	}
	for i, d := range b.Days {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			v.add(append(path, "days", i), "%q is not a day (mon, tue, wed, thu, fri, sat, sun)", d)
		}
	}
	start, ok1 := clock(b.Start)
	end, ok2 := clock(b.End)
	switch {
	case !ok1:
		v.add(append(path, "start"), "%q is not a local time HH:MM", b.Start)
	case !ok2:
		v.add(append(path, "end"), "%q is not a local time HH:MM", b.End)
	case end <= start:
		v.add(append(path, "end"), "must be after start")
	}
}

func (p *Person) principalName() string {
	if p.Principal != "" {
		return p.Principal
	}
	return p.Contacts.Email
}

// indexOnCall prepares the on-call configuration after validation.
func (c *Catalog) indexOnCall() {
	c.byPerson = make(map[string]*Person, len(c.People))
	c.byPrincipal = make(map[string]*Person, len(c.People))
	for i := range c.People {
		p := &c.People[i]
		c.byPerson[p.ID] = p
		if pr := p.principalName(); pr != "" {
			c.byPrincipal[strings.ToLower(pr)] = p
		}
	}
	for i := range c.Escalation.Routes {
		r := &c.Escalation.Routes[i]
		r.severities = nil
		for _, name := range r.Severities {
			sev, _ := incident.ParseSeverity(name) // validated
			r.severities = append(r.severities, sev)
		}
	}
	for i := range c.Rotations {
		r := &c.Rotations[i]
		r.loc, _ = time.LoadLocation(r.TimeZone)
		d, _ := time.Parse(time.DateOnly, r.Start)
		r.startDate = d
		m, _ := clock(r.Handoff)
		r.handoffHour, r.handoffMn = m/60, m%60
	}
	for i := range c.Teams {
		if b := c.Teams[i].BusinessHours; b != nil {
			b.loc, _ = time.LoadLocation(b.TimeZone)
			for _, d := range b.Days {
				b.days[weekdays[strings.ToLower(d)]] = true
			}
			b.start, _ = clock(b.Start)
			b.end, _ = clock(b.End)
		}
	}
}

// Person returns the person with this id.
func (c *Catalog) Person(id string) (*Person, bool) {
	p, ok := c.byPerson[id]
	return p, ok
}

// PersonByPrincipal returns the person who signs in as name (case-insensitive).
func (c *Catalog) PersonByPrincipal(name string) (*Person, bool) {
	p, ok := c.byPrincipal[strings.ToLower(name)]
	return p, ok
}

// Rotation returns the rotation with this id.
func (c *Catalog) Rotation(id string) (*Rotation, bool) {
	for i := range c.Rotations {
		if c.Rotations[i].ID == id {
			return &c.Rotations[i], true
		}
	}
	return nil, false
}

// Policy returns the escalation policy with this id.
func (c *Catalog) Policy(id string) (*EscalationPolicy, bool) {
	for i := range c.Policies {
		if c.Policies[i].ID == id {
			return &c.Policies[i], true
		}
	}
	return nil, false
}

// PolicyFor picks the escalation policy serving an incident of this severity
// touching these components: the first matching route; else the policy of the team
// owning the most critical component; else the default; else the first-line team's.
func (c *Catalog) PolicyFor(sev incident.Severity, components []string) (*EscalationPolicy, bool) {
	for _, r := range c.Escalation.Routes {
		if len(r.severities) > 0 && !slices.Contains(r.severities, sev) {
			continue
		}
		if len(r.Components) > 0 && !slices.ContainsFunc(components, func(id string) bool { return slices.Contains(r.Components, id) }) {
			continue
		}
		return c.Policy(r.Policy)
	}
	best := -1
	var owner string
	for _, id := range components {
		comp, ok := c.Component(id)
		if !ok {
			continue
		}
		rank := len(criticalities) - slices.Index(criticalities, comp.Criticality)
		if team, ok := c.Team(comp.Owner); ok && team.EscalationPolicy != "" && rank > best {
			best, owner = rank, team.EscalationPolicy
		}
	}
	if owner != "" {
		return c.Policy(owner)
	}
	if c.Escalation.Default != "" {
		return c.Policy(c.Escalation.Default)
	}
	return c.TriagePolicy()
}

// TriagePolicy is the first-line team's escalation policy (the support rotation),
// which new cases page.
func (c *Catalog) TriagePolicy() (*EscalationPolicy, bool) {
	if t, ok := c.Team(c.TriageTeam); ok && t.EscalationPolicy != "" {
		return c.Policy(t.EscalationPolicy)
	}
	return nil, false
}

// Location is the rotation's time zone.
func (r *Rotation) Location() *time.Location { return r.loc }

// FirstDay is the civil date of the first shift (midnight UTC, for counting days).
func (r *Rotation) FirstDay() time.Time { return r.startDate }

// HandoffClock is the local hour and minute of the hand-off.
func (r *Rotation) HandoffClock() (hour, minute int) { return r.handoffHour, r.handoffMn }

// Location is the business hours' time zone.
func (b *BusinessHours) Location() *time.Location { return b.loc }

// OpenOn reports whether business hours include weekday d.
func (b *BusinessHours) OpenOn(d time.Weekday) bool { return b.days[d] }

// Span is when business hours start and end, in minutes from local midnight.
func (b *BusinessHours) Span() (start, end int) { return b.start, b.end }

// BusinessHoursFor returns the business hours of the team behind a policy, if set.
func (c *Catalog) BusinessHoursFor(p *EscalationPolicy) (*BusinessHours, bool) {
	if t, ok := c.Team(p.Team); ok && t.BusinessHours != nil {
		return t.BusinessHours, true
	}
	return nil, false
}
