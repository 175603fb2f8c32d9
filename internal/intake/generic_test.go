package intake

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

func TestParseGeneric(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want incident.Alert
	}{
		{
			name: "every field",
			body: readTestdata(t, "generic/firing-full.json"),
			want: incident.Alert{
				Source: "generic:grafana", ID: "grafana-alert-81723",
				// No dedupKey: repeats of the same summary from grafana fold together.
				DedupKey: "generic:grafana:" + "8430f0fbd85fead2", Status: incident.AlertFiring,
				SourceSeverity: "Critical", Signal: incident.Sev1,
				Summary:   "Checkout latency p99 above 2s",
				Details:   "p99 latency for /api/checkout has been above 2000 ms for 10 minutes.\nLast value: 2840 ms.",
				Component: "checkout-api", Tenants: []string{"contoso", "fabrikam"},
				FiredAt: time.Date(2026, 11, 6, 9, 12, 44, 0, time.UTC),
				Links: []incident.Link{
					{Title: "Dashboard", URL: "https://grafana.example.com/d/checkout?orgId=1"},
					{Title: "http://runbooks.example.com/checkout-latency", URL: "http://runbooks.example.com/checkout-latency"},
				},
			},
		},
		{
			name: "minimal",
			body: readTestdata(t, "generic/firing-minimal.json"),
			want: incident.Alert{
				Source: "generic:nagios", DedupKey: "generic:nagios:" + "6ca6f82845f5e9e3", Status: incident.AlertFiring,
				SourceSeverity: "warning", Signal: incident.Sev3, Summary: "Disk /var is 91% full on build-agent-3",
			},
		},
		{
			name: "resolved",
			body: readTestdata(t, "generic/resolved.json"),
			want: incident.Alert{
				Source: "generic:grafana", DedupKey: "grafana:checkout-latency", Status: incident.AlertResolved,
				SourceSeverity: "sev2", Signal: incident.Sev2, Summary: "Checkout latency back to normal",
				ResolvedAt: time.Date(2026, 11, 6, 10, 42, 0, 0, time.UTC),
			},
		},
		{
			name: "trimmed, nulls as absent, unknown fields ignored",
			body: []byte(`{"summary":"  Queue depth high  ","severity":" INFO ","source":"zabbix","status":null,"details":null,"component":"","tenants":null,"links":null,"extra":{"a":[1]}}`),
			want: incident.Alert{
				Source: "generic:zabbix", DedupKey: "generic:zabbix:" + "e04bf9e47d88aebf", Status: incident.AlertFiring,
				SourceSeverity: "INFO", Signal: incident.Sev4, Summary: "Queue depth high",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGeneric(tt.body)
			require.NoError(t, err)
			checkAlert(t, got)
			require.JSONEq(t, string(marshal(t, got)), string(marshal(t, tt.want)))
		})
	}
}

func TestParseGenericSeverities(t *testing.T) {
	for sev, want := range map[string]incident.Severity{
		"critical": incident.Sev1, "error": incident.Sev2, "warning": incident.Sev3, "info": incident.Sev4,
		"sev1": incident.Sev1, "SEV2": incident.Sev2, "Sev3": incident.Sev3, "sev4": incident.Sev4, "Warning": incident.Sev3,
	} {
		got, err := ParseGeneric([]byte(`{"summary":"s","source":"x","severity":"` + sev + `"}`))
		require.NoError(t, err, sev)
		require.Equal(t, got.Signal, want, sev)
		require.Equal(t, got.SourceSeverity, sev)
	}
}

func TestParseGenericDedupKey(t *testing.T) {
	a, err := ParseGeneric([]byte(`{"summary":"Disk full","source":"nagios","severity":"info"}`))
	require.NoError(t, err)
	b, err := ParseGeneric([]byte(`{"summary":" Disk full ","source":"nagios","severity":"critical","eventId":"2"}`))
	require.NoError(t, err)
	require.Equal(t, a.DedupKey, b.DedupKey, "the same summary from the same source folds")
	c, err := ParseGeneric([]byte(`{"summary":"Disk full","source":"zabbix","severity":"info"}`))
	require.NoError(t, err)
	require.NotEqual(t, c.DedupKey, a.DedupKey, "another source does not")
	require.Len(t, strings.TrimPrefix(a.DedupKey, "generic:nagios:"), 16)
}

func TestParseGenericRejects(t *testing.T) {
	valid := readTestdata(t, "generic/firing-full.json")
	with := func(change func(m map[string]any)) []byte { return mutateJSON(t, valid, change) }
	set := func(key string, v any) []byte { return with(func(m map[string]any) { m[key] = v }) }
	drop := func(key string) []byte { return with(func(m map[string]any) { delete(m, key) }) }

	tests := []struct {
		name     string
		body     []byte
		kind     fault.Kind
		field    string
		contains string
	}{
		{"empty body", []byte{}, fault.Invalid, "", "body is empty"},
		{"not JSON", []byte(`summary: disk full`), fault.Invalid, "", "not valid JSON: invalid character 's' looking for beginning of value at line 1, column 1"},
		{"broken JSON on line 2", []byte("{\"summary\": \"x\",\n \"severity\" \"info\"}"), fault.Invalid, "", "at line 2, column 13"},
		{"string, not object", []byte(`"disk full"`), fault.Invalid, "", "must be a JSON object, got a string"},
		{"over the size limit", []byte(`{"summary":"x","details":"` + strings.Repeat("d", MaxAlertBytes) + `"}`), fault.TooLarge, "", "limit is 262144 bytes"},

		{"no summary", drop("summary"), fault.Invalid, "summary", "is required"},
		{"blank summary", set("summary", " \t"), fault.Invalid, "summary", "must not be empty"},
		{"summary not a string", set("summary", []any{"a"}), fault.Invalid, "summary", "must be a string, got an array"},
		{"summary too long", set("summary", strings.Repeat("é", 1025)), fault.Invalid, "summary", "is 1025 characters long; the limit is 1024"},
		{"details not a string", set("details", map[string]any{}), fault.Invalid, "details", "must be a string, got an object"},
		{"details too long", set("details", strings.Repeat("d", 64<<10+1)), fault.Invalid, "details", "is 65537 bytes; the limit is 65536 bytes"},
		{"unknown status", set("status", "trigger"), fault.Invalid, "status", `is "trigger", want firing or resolved`},
		{"status resolve", set("status", "resolve"), fault.Invalid, "status", "want firing or resolved"},
		{"status not a string", set("status", true), fault.Invalid, "status", "must be a string, got a boolean"},
		{"resolved without dedupKey", set("status", "resolved"), fault.Invalid, "dedupKey", "is required when status is resolved"},
		{"dedupKey too long", set("dedupKey", strings.Repeat("k", 256)), fault.Invalid, "dedupKey", "is 256 characters long; the limit is 255"},
		{"dedupKey not a string", set("dedupKey", 12), fault.Invalid, "dedupKey", "must be a string, got a number"},
		{"no severity", drop("severity"), fault.Invalid, "severity", "is required"},
		{"unknown severity", set("severity", "high"), fault.Invalid, "severity", `is "high", want one of critical, error, warning, info, or sev1 to sev4`},
		{"Azure severity", set("severity", "Sev0"), fault.Invalid, "severity", `is "Sev0"`},
		{"numeric severity", set("severity", 1), fault.Invalid, "severity", "must be a string, got a number"},
		{"component with capitals", set("component", "Checkout"), fault.Invalid, "component", `is "Checkout", want a catalog component name`},
		{"component too long", set("component", strings.Repeat("c", 65)), fault.Invalid, "component", "want a catalog component name"},
		{"no source", drop("source"), fault.Invalid, "source", "is required"},
		{"source with space", set("source", "my tool"), fault.Invalid, "source", `is "my tool", want 1 to 64 lowercase letters, digits, '.', '_' or '-'`},
		{"source too long", set("source", strings.Repeat("s", 65)), fault.Invalid, "source", "want 1 to 64"},
		{"tenants not an array", set("tenants", "contoso,fabrikam"), fault.Invalid, "tenants", "must be an array of tenant ids, got a string"},
		{"tenant not a string", set("tenants", []any{"contoso", 7}), fault.Invalid, "tenants[1]", "must be a string, got a number"},
		{"tenant malformed", set("tenants", []any{"contoso", "Fabrikam Inc"}), fault.Invalid, "tenants[1]", `is "Fabrikam Inc", want a tenant id`},
		{"tenant empty", set("tenants", []any{""}), fault.Invalid, "tenants[0]", "want a tenant id"},
		{"too many tenants", set("tenants", make([]any, 101)), fault.Invalid, "tenants", "has 101 entries; the limit is 100"},
		{"links not an array", set("links", map[string]any{"url": "https://x.example"}), fault.Invalid, "links", "must be an array"},
		{"link not an object", set("links", []any{"https://x.example"}), fault.Invalid, "links[0]", "must be an object with title and url, got a string"},
		{"link without url", set("links", []any{map[string]any{"title": "Dashboard"}}), fault.Invalid, "links[0].url", "is required"},
		{"relative link", set("links", []any{map[string]any{"title": "ok", "url": "https://a.example"}, map[string]any{"url": "/d/checkout"}}), fault.Invalid, "links[1].url", "want an absolute http or https URL"},
		{"javascript link", set("links", []any{map[string]any{"url": "javascript:alert(1)"}}), fault.Invalid, "links[0].url", "want an absolute http or https URL"},
		{"link title too long", set("links", []any{map[string]any{"title": strings.Repeat("t", 201), "url": "https://a.example"}}), fault.Invalid, "links[0].title", "the limit is 200"},
		{"too many links", set("links", make([]any, 21)), fault.Invalid, "links", "has 21 entries; the limit is 20"},
		{"eventId too long", set("eventId", strings.Repeat("e", 129)), fault.Invalid, "eventId", "is 129 characters long; the limit is 128"},
		{"eventId not a string", set("eventId", 81723), fault.Invalid, "eventId", "must be a string, got a number"},
		{"timestamp not RFC 3339", set("timestamp", "06/11/2026 10:12"), fault.Invalid, "timestamp", `is "06/11/2026 10:12", want an RFC 3339 time`},
		{"timestamp as epoch", set("timestamp", 1793441564), fault.Invalid, "timestamp", "must be a string, got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGeneric(tt.body)
			requireFault(t, err, tt.kind, tt.field, tt.contains)
		})
	}
}
