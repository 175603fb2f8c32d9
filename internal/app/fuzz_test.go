package app

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// The queue messages' decoders, fuzzed like the HTTP parsers: whatever a body
// holds, a decoder either accepts a message its handler can act on or refuses
// it as permanent (parked), and never panics.

func fuzzCatalog(f *testing.F) *catalog.Catalog {
	cat, err := catalog.Load("../../vigil.yaml")
	if err != nil {
		f.Fatal(err)
	}
	return cat
}

func refusedForGood(t *testing.T, err error) {
	if !fault.Is(err, fault.Permanent) {
		t.Fatalf("refused, but not for good (the queue would retry it forever): %v", err)
	}
}

func FuzzIntakeMessage(f *testing.F) {
	cat := fuzzCatalog(f)
	for _, s := range []string{
		`{"key":"alert:x:1","content":"x","kind":"alert","alert":{"source":"generic:grafana","dedupKey":"dk","status":"firing","summary":"s","component":"public-api"},"receivedAt":"2026-11-06T10:00:00Z"}`,
		`{"key":"alert:x:2","kind":"alert","alert":{"source":"azure-monitor","dedupKey":"dk","status":"resolved","tenants":["nobody"]}}`,
		`{"key":"case:CS-1","kind":"case","case":{"caseId":"CS-1","tenant":"contoso","title":"t","component":"payroll-engine"}}`,
		`{"key":"k","kind":"alert","alert":{"source":"generic:g","dedupKey":"dk","status":"paused"}}`,
		`{"kind":"case"}`, `[]`, `null`, `{"key":"k","kind":"alert","alert":null}`, "{\"key\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../../handlers/testdata/envelopes/process-intake.json"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseIntake(cat, body)
		if err != nil {
			refusedForGood(t, err)
			return
		}
		switch {
		case m.Key == "":
			t.Fatal("accepted without a key")
		case m.Kind == kindAlert:
			a := m.Alert
			if a == nil || a.DedupKey == "" || a.Source == "" || (a.Status != incident.AlertFiring && a.Status != incident.AlertResolved) {
				t.Fatalf("accepted an alert its handler cannot act on: %+v", a)
			}
			if a.Source != "azure-monitor" {
				if _, ok := cat.Component(a.Component); a.Component != "" && !ok {
					t.Fatalf("accepted a generic alert naming unknown component %q", a.Component)
				}
			}
		case m.Kind == kindCase:
			if m.Case == nil || m.Case.CaseID == "" {
				t.Fatal("accepted a case without its id")
			}
			if _, ok := cat.Tenant(m.Case.Tenant); !ok {
				t.Fatalf("accepted a case of unknown tenant %q", m.Case.Tenant)
			}
		default:
			t.Fatalf("accepted kind %q", m.Kind)
		}
	})
}

func FuzzEscalationMessage(f *testing.F) {
	for _, s := range []string{`{"incidentId":"INC-1","cycle":1,"position":2}`, `{"incidentId":"INC-1","cycle":0,"position":2}`,
		`{"incidentId":"","cycle":1,"position":1}`, `{"incidentId":"INC-1","cycle":"1"}`, `{}`, `7`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseEscalation(body)
		if err != nil {
			refusedForGood(t, err)
			return
		}
		if m.IncidentID == "" || m.Cycle < 1 || m.Position < 1 {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzStatusMessage(f *testing.F) {
	for _, s := range []string{`{"incidentId":"INC-1","updateId":"INC-1-u1"}`, `{"incidentId":"INC-1","closeCases":true,"deferrals":3}`,
		`{"incidentId":"INC-1"}`, `{"incidentId":"INC-1","updateId":"u","deferrals":-1}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseStatus(body)
		if err != nil {
			refusedForGood(t, err)
			return
		}
		if m.IncidentID == "" || (m.UpdateID == "" && !m.CloseCases) || m.Deferrals < 0 {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzNotification(f *testing.F) {
	good, _ := json.Marshal(incident.Notification{Key: "ntf:1", Event: incident.NotifyPage, Channel: incident.ChannelEmail, Address: "a@example.com",
		Severity: incident.Sev1, Subject: "[SEV1] x", Text: "t", Flush: 1})
	for _, s := range []string{string(good), `{"key":"ntf:1","channel":"pigeon","address":"roof"}`, `{"key":"ntf:1","channel":"sms","address":"+1","severity":"sev9"}`,
		`{"key":"","channel":"sms","address":"+1"}`, `{"key":"k","channel":"email","address":"a","checks":-2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parseNotification(body)
		if err != nil {
			refusedForGood(t, err)
			return
		}
		if n.Key == "" || n.Address == "" || n.Deferrals < 0 || n.Flush < 0 || n.Checks < 0 {
			t.Fatalf("accepted %+v", n)
		}
		if !slices.Contains(incident.Channels, n.Channel) {
			t.Fatalf("accepted channel %q", n.Channel)
		}
	})
}
