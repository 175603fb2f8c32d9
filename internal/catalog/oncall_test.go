package catalog

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"vigil/internal/incident"
)

// validOnCall is a small valid catalog with every on-call section, in block style so
// that each field sits on its own line and a problem's line says which field it is.
const validOnCall = `organisation: Acme
triageTeam: platform
tenants:
  - {id: contoso, name: Contoso}
teams:
  - id: platform
    name: Platform
    members: [amara, ben]
    escalationPolicy: platform
    businessHours:
      timeZone: Europe/London
      days: [mon, tue, wed]
      start: "09:00"
      end: "17:00"
components:
  - id: api
    name: API
    owner: platform
    criticality: high
    tenants: all
people:
  - id: amara
    name: Amara Okafor
    timeZone: Europe/London
    principal: amara.okafor@acme.example
    contacts:
      email: amara@acme.example
      sms: "+447700900101"
      teams: TEAMS_WEBHOOK_AMARA
  - id: ben
    name: Ben Walsh
    contacts:
      email: ben@acme.example
rotations:
  - id: primary
    name: Primary
    participants: [amara, ben]
    shiftDays: 7
    handoff: "09:00"
    timeZone: Europe/London
    start: "2026-01-05"
escalationPolicies:
  - id: platform
    name: Platform
    team: platform
    repeat: 1
    steps:
      - targets: [rotation:primary, person:ben]
        delay: 5m
      - targets: [team:platform]
        delay: 10m
escalation:
  default: platform
  routes:
    - severities: [sev1]
      components: [api]
      policy: platform
`

// edit makes replacements (old, new, old, new, ...) in validOnCall; each old must
// occur exactly once.
func edit(t *testing.T, oldNew ...string) string {
	t.Helper()
	doc := validOnCall
	for i := 0; i+1 < len(oldNew); i += 2 {
		require.Equal(t, 1, strings.Count(doc, oldNew[i]), "%q must occur once", oldNew[i])
		doc = strings.Replace(doc, oldNew[i], oldNew[i+1], 1)
	}
	return doc
}

// lineWith returns the 1-based line of doc holding marker, which must be on one line only.
func lineWith(t *testing.T, doc, marker string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, marker) {
			require.Zero(t, line, "marker %q is on more than one line", marker)
			line = i + 1
		}
	}
	require.NotZero(t, line, "marker %q is on no line", marker)
	return line
}

func TestValidOnCallParses(t *testing.T) {
	cat, err := Parse("cat.yaml", []byte(validOnCall))
	require.NoError(t, err)
	_, ok := cat.Person("ben")
	require.True(t, ok)
	pol, ok := cat.Policy("platform")
	require.True(t, ok)
	require.Len(t, pol.Steps[0].Targets, 2)
	require.Equal(t, "rotation:primary", pol.Steps[0].Targets[0].String())
	require.Equal(t, "person:ben", pol.Steps[0].Targets[1].String())
	require.Equal(t, 5*time.Minute, pol.Steps[0].Delay)
}

func TestOnCallProblemsNameFileLineAndField(t *testing.T) {
	type want struct {
		path  string // the field path, exactly
		line  string // a marker on the line the problem must name
		issue string // part of the message
	}
	tests := []struct {
		name string
		yaml string
		want []want
		bug  string // when set, the case documents a known bug and is skipped
	}{
		// References to people.
		{"unknown person in rotation participants", edit(t, "participants: [amara, ben]", "participants: [amara, bne]"),
			[]want{{"rotations[0].participants[1]", "participants: [amara, bne]", `person "bne" is not defined`}}, ""},
		{"unknown person in team members", edit(t, "members: [amara, ben]", "members: [amara,\n      carol]"),
			[]want{{"teams[0].members[1]", "carol]", `person "carol" is not defined`}}, ""},
		{"unknown person in a step target", edit(t, "person:ben]", "person:bob]"),
			[]want{{"escalationPolicies[0].steps[0].targets[1]", "person:bob", `person "bob" is not defined`}}, ""},
		{"unknown rotation target", edit(t, "[rotation:primary,", "[rotation:secondary,"),
			[]want{{"escalationPolicies[0].steps[0].targets[0]", "rotation:secondary", `rotation "secondary" is not defined`}}, ""},
		{"unknown team target", edit(t, "[team:platform]", "[team:payroll]"),
			[]want{{"escalationPolicies[0].steps[1].targets[0]", "team:payroll", `team "payroll" is not defined`}}, ""},
		{"unknown target in the final step", edit(t, "escalation:\n", "    final:\n      targets: [person:priya]\n      delay: 30m\nescalation:\n"),
			[]want{{"escalationPolicies[0].final.targets[0]", "person:priya", `person "priya" is not defined`}}, ""},

		// Malformed targets and severities are reported by the validator, with their line.
		{"malformed target kind", edit(t, "[rotation:primary,", "[rota:primary,"),
			[]want{{"escalationPolicies[0].steps[0].targets[0]", "rota:primary", `target "rota:primary" must be person:<id>, rotation:<id> or team:<id>`}}, ""},
		{"target without an id", edit(t, "person:ben]", "person:]"),
			[]want{{"escalationPolicies[0].steps[0].targets[1]", "person:]", `target "person:" must be person:<id>, rotation:<id> or team:<id>`}}, ""},
		{"unknown severity in a route", edit(t, "severities: [sev1]", "severities: [sev5]"),
			[]want{{"escalation.routes[0].severities[0]", "severities: [sev5]", `unknown severity "sev5"`}}, ""},

		// Rotations.
		{"shiftDays 0", edit(t, "shiftDays: 7", "shiftDays: 0"),
			[]want{{"rotations[0].shiftDays", "shiftDays: 0", "must be between 1 and 28 days"}}, ""},
		{"shiftDays 29", edit(t, "shiftDays: 7", "shiftDays: 29"),
			[]want{{"rotations[0].shiftDays", "shiftDays: 29", "must be between 1 and 28 days"}}, ""},
		{"shiftDays missing", edit(t, "    shiftDays: 7\n", ""),
			[]want{{"rotations[0].shiftDays", "- id: primary", "must be between 1 and 28 days"}}, ""},
		{"handoff 9am", edit(t, `handoff: "09:00"`, "handoff: 9am"),
			[]want{{"rotations[0].handoff", "handoff: 9am", `"9am" is not a local time HH:MM`}}, ""},
		{"handoff 24:00", edit(t, `handoff: "09:00"`, `handoff: "24:00"`),
			[]want{{"rotations[0].handoff", "handoff: \"24:00\"", `"24:00" is not a local time HH:MM`}}, ""},
		{"rotation time zone misspelt", edit(t, "    timeZone: Europe/London\n    start:", "    timeZone: Europe/Londn\n    start:"),
			[]want{{"rotations[0].timeZone", "Europe/Londn", `"Europe/Londn" is not an IANA time zone (like Europe/London)`}}, ""},
		{"rotation time zone missing", edit(t, "    timeZone: Europe/London\n    start:", "    start:"),
			[]want{{"rotations[0].timeZone", "- id: primary", `"" is not an IANA time zone`}}, ""},
		{"rotation time zone Local", edit(t, "    timeZone: Europe/London\n    start:", "    timeZone: Local\n    start:"),
			[]want{{"rotations[0].timeZone", "timeZone: Local", `"Local" is not an IANA time zone`}}, ""},
		{"start not a date", edit(t, `start: "2026-01-05"`, "start: next monday"),
			[]want{{"rotations[0].start", "start: next monday", `"next monday" is not a date YYYY-MM-DD`}}, ""},
		{"start not a real date", edit(t, `start: "2026-01-05"`, `start: "2026-02-30"`),
			[]want{{"rotations[0].start", `start: "2026-02-30"`, `"2026-02-30" is not a date YYYY-MM-DD`}}, ""},
		{"rotation without participants", edit(t, "participants: [amara, ben]", "participants: []"),
			[]want{{"rotations[0].participants", "participants: []", "at least one person is required"}}, ""},

		// Escalation policies.
		{"step delay 0s", edit(t, "delay: 5m", "delay: 0s"),
			[]want{{"escalationPolicies[0].steps[0].delay", "delay: 0s", "must be between 1s and 168h0m0s (how long to wait for an acknowledgement)"}}, ""},
		{"step delay missing", edit(t, "        delay: 5m\n", ""),
			[]want{{"escalationPolicies[0].steps[0].delay", "- targets: [rotation:primary", "must be between 1s and 168h0m0s"}}, ""},
		{"step delay 8 days", edit(t, "delay: 5m", "delay: 192h"),
			[]want{{"escalationPolicies[0].steps[0].delay", "delay: 192h", "must be between 1s and 168h0m0s"}}, ""},
		{"step delay negative", edit(t, "delay: 10m", "delay: -10m"),
			[]want{{"escalationPolicies[0].steps[1].delay", "delay: -10m", "must be between 1s and 168h0m0s"}}, ""},
		{"repeat -1", edit(t, "repeat: 1", "repeat: -1"),
			[]want{{"escalationPolicies[0].repeat", "repeat: -1", "must be between 0 and 9"}}, ""},
		{"repeat 10", edit(t, "repeat: 1", "repeat: 10"),
			[]want{{"escalationPolicies[0].repeat", "repeat: 10", "must be between 0 and 9"}}, ""},
		{"step without targets", edit(t, "[team:platform]", "[]"),
			[]want{{"escalationPolicies[0].steps[1].targets", "targets: []", "a step needs at least one target (person:<id>, rotation:<id> or team:<id>)"}}, ""},
		{"policy team unknown", edit(t, "    team: platform\n", "    team: payroll\n"),
			[]want{{"escalationPolicies[0].team", "team: payroll", `team "payroll" is not defined`}}, ""},

		// People.
		{"duplicate person id", edit(t, "  - id: ben\n", "  - id: amara # was ben\n"),
			[]want{
				{"teams[0].members[1]", "members: [amara, ben]", `person "ben" is not defined`},
				{"people[1].id", "# was ben", `duplicate person id "amara"`},
				{"rotations[0].participants[1]", "participants: [amara, ben]", `person "ben" is not defined`},
				{"escalationPolicies[0].steps[0].targets[1]", "person:ben]", `person "ben" is not defined`},
			}, ""},
		{"two people with the same principal, case aside", edit(t, "    name: Ben Walsh\n", "    name: Ben Walsh\n    principal: Amara.Okafor@ACME.example\n"),
			[]want{{"people[1].principal", "principal: Amara.Okafor@ACME.example", `sign-in name "amara.okafor@acme.example" is used by two people`}}, ""},
		{"a principal that is another person's email", edit(t, "email: ben@acme.example", "email: amara.okafor@acme.example"),
			// ben has no principal, so his email is his sign-in name; the problem is
			// reported at ben, under principal (the field his email stands in for).
			[]want{{"people[1].principal", "  - id: ben", `sign-in name "amara.okafor@acme.example" is used by two people`}}, ""},
		{"two people with the same email and no principal",
			edit(t, "    principal: amara.okafor@acme.example\n", "", "email: ben@acme.example", "email: amara@acme.example"),
			[]want{{"people[1].principal", "  - id: ben", `sign-in name "amara@acme.example" is used by two people`}}, ""},
		{"person without contacts", edit(t, "    contacts:\n      email: ben@acme.example\n", ""),
			[]want{{"people[1].contacts", "  - id: ben", "a person needs at least one of email, sms, teams, slack, webhook"}}, ""},
		{"person with empty contacts", edit(t, "    contacts:\n      email: ben@acme.example\n", "    contacts: {}\n"),
			[]want{{"people[1].contacts", "contacts: {}", "a person needs at least one of email, sms, teams, slack, webhook"}}, ""},
		{"person without a name", edit(t, "    name: Ben Walsh\n", ""),
			[]want{{"people[1].name", "  - id: ben", "is required"}}, ""},
		{"sms not E.164", edit(t, `sms: "+447700900101"`, `sms: "07700 900101"`),
			[]want{{"people[0].contacts.sms", "07700 900101", `"07700 900101" is not an E.164 phone number (+ and 8 to 15 digits)`}}, ""},
		{"sms without the plus", edit(t, `sms: "+447700900101"`, `sms: "447700900101"`),
			[]want{{"people[0].contacts.sms", `sms: "447700900101"`, `is not an E.164 phone number`}}, ""},
		{"teams contact given as a URL", edit(t, "teams: TEAMS_WEBHOOK_AMARA", "teams: https://acme.webhook.office.com/webhookb2/x"),
			[]want{{"people[0].contacts.teams", "teams: https://", `"https://acme.webhook.office.com/webhookb2/x" must name the app setting that holds the webhook URL (letters, digits, '_'), not the URL`}}, ""},
		{"slack contact given as a URL", edit(t, "teams: TEAMS_WEBHOOK_AMARA", "slack: https://hooks.slack.com/services/T0/B0/x"),
			[]want{{"people[0].contacts.slack", "slack: https://", "must name the app setting that holds the webhook URL"}}, ""},
		{"bad email contact", edit(t, "email: ben@acme.example", "email: ben at acme"),
			[]want{{"people[1].contacts.email", "email: ben at acme", `"ben at acme" is not a valid email address`}}, ""},
		{"person time zone misspelt", edit(t, "    timeZone: Europe/London\n    principal:", "    timeZone: London\n    principal:"),
			[]want{{"people[0].timeZone", "timeZone: London", `"London" is not an IANA time zone (like Europe/London)`}}, ""},

		// Business hours.
		{"business hours end before start", edit(t, `end: "17:00"`, `end: "08:30"`),
			[]want{{"teams[0].businessHours.end", `end: "08:30"`, "must be after start"}}, ""},
		{"business hours end equal to start", edit(t, `end: "17:00"`, `end: "09:00"`),
			[]want{{"teams[0].businessHours.end", `end: "09:00"`, "must be after start"}}, ""},
		{"business hours unknown day", edit(t, "days: [mon, tue, wed]", "days: [mon, tues, wed]"),
			[]want{{"teams[0].businessHours.days[1]", "days: [mon, tues, wed]", `"tues" is not a day (mon, tue, wed, thu, fri, sat, sun)`}}, ""},
		{"business hours bad start", edit(t, `start: "09:00"`, "start: 9am"),
			[]want{{"teams[0].businessHours.start", "start: 9am", `"9am" is not a local time HH:MM`}}, ""},
		{"business hours without days", edit(t, "days: [mon, tue, wed]", "days: []"),
			[]want{{"teams[0].businessHours.days", "days: []", "at least one day is required"}}, ""},
		{"business hours bad time zone", edit(t, "      timeZone: Europe/London\n", "      timeZone: CET+1\n"),
			[]want{{"teams[0].businessHours.timeZone", "timeZone: CET+1", `"CET+1" is not an IANA time zone`}}, ""},

		// Escalation and team policies.
		{"escalation default unknown", edit(t, "default: platform", "default: platfrom"),
			[]want{{"escalation.default", "default: platfrom", `escalation policy "platfrom" is not defined`}}, ""},
		{"route policy unknown", edit(t, "      policy: platform", "      policy: payroll"),
			[]want{{"escalation.routes[0].policy", "policy: payroll", `escalation policy "payroll" is not defined`}}, ""},
		{"route components unknown", edit(t, "components: [api]", "components: [api, web]"),
			[]want{{"escalation.routes[0].components[1]", "components: [api, web]", `component "web" is not defined`}}, ""},
		{"team escalation policy unknown", edit(t, "escalationPolicy: platform", "escalationPolicy: plat"),
			[]want{{"teams[0].escalationPolicy", "escalationPolicy: plat", `escalation policy "plat" is not defined`}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			_, err := Parse("cat.yaml", []byte(tc.yaml))
			require.Error(t, err)
			var ps Problems
			require.True(t, errors.As(err, &ps), "got %T", err)
			require.Len(t, ps, len(tc.want), "problems:\n%v", err)
			for i, w := range tc.want {
				p := ps[i]
				require.Equal(t, "cat.yaml", p.File, "problems:\n%v", err)
				require.Equal(t, w.path, p.Path, "problems:\n%v", err)
				require.Equal(t, lineWith(t, tc.yaml, w.line), p.Line, "%s; problems:\n%v", w.path, err)
				require.Contains(t, p.Issue, w.issue)
				require.Contains(t, p.String(), "cat.yaml:")
			}
		})
	}
}

// TestMalformedTargetsAreRefused: a target that is not kind:id is refused with a
// message saying what a target looks like (where it is: see the skipped cases above).
func TestMalformedTargetsAreRefused(t *testing.T) {
	for _, target := range []string{"rota:x", "person:", "rotation", "team:", ":ben", "Person:ben"} {
		t.Run(target, func(t *testing.T) {
			_, err := Parse("cat.yaml", []byte(edit(t, "person:ben]", `"`+target+`"]`)))
			require.Error(t, err)
			require.Contains(t, err.Error(), "cat.yaml")
			require.Contains(t, err.Error(), `target "`+target+`" must be person:<id>, rotation:<id> or team:<id>`)
		})
	}
}

// TestOnCallYAMLErrorsNameTheLine: type errors YAML itself reports still say where.
func TestOnCallYAMLErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ old, new, want string }{
		"misspelt key":           {"shiftDays: 7", "shiftDay: 7", "field shiftDay not found"},
		"delay without a unit":   {"delay: 5m", "delay: 0", "into time.Duration"},
		"delay in days":          {"delay: 5m", "delay: 8d", "into time.Duration"},
		"shiftDays not a number": {"shiftDays: 7", "shiftDays: weekly", "cannot unmarshal"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := edit(t, tc.old, tc.new)
			_, err := Parse("cat.yaml", []byte(doc))
			require.Error(t, err)
			var ps Problems
			require.True(t, errors.As(err, &ps), "got %T", err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "line "+strconv.Itoa(lineWith(t, doc, tc.new)))
		})
	}
}

func loadExample(t *testing.T) *Catalog {
	t.Helper()
	data, err := os.ReadFile("../../vigil.yaml")
	require.NoError(t, err)
	cat, err := Parse("vigil.yaml", data)
	require.NoError(t, err)
	return cat
}

func TestExampleOnCallParses(t *testing.T) {
	cat := loadExample(t)
	require.Len(t, cat.People, 10)
	require.Len(t, cat.Rotations, 4)
	require.Len(t, cat.Policies, 3)
	require.Equal(t, "platform", cat.Escalation.Default)

	r, ok := cat.Rotation("platform-primary")
	require.True(t, ok)
	require.Equal(t, []string{"amara", "ben", "chloe"}, r.Participants)
	require.Equal(t, 7, r.ShiftDays)

	p, ok := cat.Policy("platform")
	require.True(t, ok)
	require.Len(t, p.Steps, 3)
	require.Equal(t, 1, p.Repeat)
	require.Equal(t, "rotation:platform-primary", p.Steps[0].Targets[0].String())
	require.NotNil(t, p.Final)
	require.Equal(t, 30*time.Minute, p.Final.Delay)
	require.NotEmpty(t, p.Final.Reminder)

	platform, ok := cat.Team("platform")
	require.True(t, ok)
	require.NotNil(t, platform.BusinessHours)
	bh, ok := cat.BusinessHoursFor(p)
	require.True(t, ok)
	require.Equal(t, "Europe/London", bh.Location().String())
	_, ok = cat.BusinessHoursFor(&EscalationPolicy{Team: "identity"})
	require.False(t, ok, "identity has no business hours")

	support, ok := cat.TriagePolicy()
	require.True(t, ok)
	require.Equal(t, "support", support.ID)
}

func TestPolicyForExample(t *testing.T) {
	cat := loadExample(t)
	tests := []struct {
		name       string
		sev        incident.Severity
		components []string
		want       string
	}{
		{"route: sev1 on dedicated-eu", incident.Sev1, []string{"dedicated-eu"}, "platform"},
		{"route wins over a more critical component's team", incident.Sev1, []string{"payroll-engine", "dedicated-eu"}, "platform"},
		{"route needs its severity", incident.Sev2, []string{"payroll-engine", "dedicated-eu"}, "payroll"},
		{"owning team's policy", incident.Sev2, []string{"payroll-engine"}, "payroll"},
		{"owning team's policy, sev1 off the route", incident.Sev1, []string{"payroll-engine"}, "payroll"},
		{"most critical component's team", incident.Sev3, []string{"notifications", "payroll-engine"}, "payroll"},
		{"most critical component's team, other order", incident.Sev3, []string{"payroll-engine", "notifications"}, "payroll"},
		{"high beats medium", incident.Sev3, []string{"payslip-reports", "messaging"}, "platform"},
		{"team without a policy: default", incident.Sev2, []string{"identity"}, "platform"},
		{"unknown component: default", incident.Sev2, []string{"nope"}, "platform"},
		{"no components: default", incident.Sev4, nil, "platform"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := cat.PolicyFor(tc.sev, tc.components)
			require.True(t, ok)
			require.Equal(t, tc.want, p.ID)
		})
	}
}

// TestPolicyForFallsBackToDefault uses a default that differs from every team's
// policy, so the fallback is told apart from the owning team's policy.
func TestPolicyForFallsBackToDefault(t *testing.T) {
	data, err := os.ReadFile("../../vigil.yaml")
	require.NoError(t, err)
	doc := strings.Replace(string(data), "  default: platform\n", "  default: support\n", 1)
	require.NotEqual(t, string(data), doc)
	cat, err := Parse("vigil.yaml", []byte(doc))
	require.NoError(t, err)

	for comps, want := range map[string]string{
		"identity":                 "support", // identity has no escalation policy
		"nope":                     "support",
		"":                         "support",
		"identity,payslip-reports": "payroll", // a team with a policy wins over the default
		"payroll-engine":           "payroll",
		"web-app":                  "platform",
	} {
		var ids []string
		if comps != "" {
			ids = strings.Split(comps, ",")
		}
		p, ok := cat.PolicyFor(incident.Sev2, ids)
		require.True(t, ok, comps)
		require.Equal(t, want, p.ID, comps)
	}

	// No default either: the triage team's policy.
	doc = strings.Replace(doc, "  default: support\n", "", 1)
	cat, err = Parse("vigil.yaml", []byte(doc))
	require.NoError(t, err)
	p, ok := cat.PolicyFor(incident.Sev2, []string{"identity"})
	require.True(t, ok)
	require.Equal(t, "support", p.ID)
}

func TestPersonByPrincipal(t *testing.T) {
	cat := loadExample(t)
	// The example sets no principals: the email is the sign-in name.
	p, ok := cat.PersonByPrincipal("amara.okafor@fabrikam.example")
	require.True(t, ok)
	require.Equal(t, "amara", p.ID)
	p, ok = cat.PersonByPrincipal("Amara.Okafor@FABRIKAM.example")
	require.True(t, ok, "case-insensitive")
	require.Equal(t, "amara", p.ID)
	_, ok = cat.PersonByPrincipal("nobody@fabrikam.example")
	require.False(t, ok)
	_, ok = cat.PersonByPrincipal("")
	require.False(t, ok, "the empty name is nobody, even though some people have no principal")

	// A principal, when set, is the sign-in name; others still fall back to the email.
	cat, err := Parse("cat.yaml", []byte(validOnCall))
	require.NoError(t, err)
	p, ok = cat.PersonByPrincipal("AMARA.OKAFOR@acme.example")
	require.True(t, ok)
	require.Equal(t, "amara", p.ID)
	_, ok = cat.PersonByPrincipal("amara@acme.example")
	require.False(t, ok, "amara signs in with her principal, not her email")
	p, ok = cat.PersonByPrincipal("Ben@Acme.Example")
	require.True(t, ok)
	require.Equal(t, "ben", p.ID)
}

func TestTargetText(t *testing.T) {
	parse := func(text string) Target {
		var tg Target
		require.NoError(t, yaml.Unmarshal([]byte(`"`+text+`"`), &tg))
		return tg
	}
	tg := parse("team:a:b")
	require.Equal(t, TargetTeam, tg.Kind)
	require.Equal(t, "a:b", tg.ID, "only the first colon separates kind from id")
	require.Equal(t, "team:a:b", tg.String())
	for _, bad := range []string{"", "ben", "rota:x", "person:", ":ben", "PERSON:ben"} {
		require.Empty(t, parse(bad).Kind, "%q is malformed: the validator reports it with its line", bad)
	}
}

// A Teams Workflows 202 only means the flow started (it cannot post to a
// private channel, and stops when its owner leaves): Teams as a person's
// only channel is a warning, not an error.
func TestTeamsAsOnlyChannelIsAWarning(t *testing.T) {
	doc := edit(t, "      email: ben@acme.example\n", "      teams: TEAMS_WEBHOOK_BEN\n")
	cat, err := Parse("cat.yaml", []byte(doc))
	require.NoError(t, err, "still a valid catalog")
	ws := cat.Warnings()
	require.Len(t, ws, 1)
	require.Equal(t, "people[1].contacts", ws[0].Path)
	require.Equal(t, lineWith(t, doc, "TEAMS_WEBHOOK_BEN")-1, ws[0].Line)
	require.Contains(t, ws[0].Issue, "teams is ben's only channel")
	require.Contains(t, ws[0].Issue, "private channel")

	cat, err = Parse("cat.yaml", []byte(validOnCall))
	require.NoError(t, err)
	require.Empty(t, cat.Warnings(), "amara has teams and more")
}
