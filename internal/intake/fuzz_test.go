package intake

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Each target is seeded with the fixtures, so the fuzzer starts from real shapes.
// Run one with: go test ./internal/intake -run '^$' -fuzz FuzzParseAzureMonitor -fuzztime 15s

func FuzzParseAzureMonitor(f *testing.F) {
	for _, p := range append(fixtures(f, "azure-monitor/*.json"), fixtures(f, "azure-monitor-legacy/*.json")...) {
		f.Add(readFile(f, p))
	}
	f.Add([]byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"a","alertRule":"r","severity":"Sev0","monitorCondition":"Resolved","firedDateTime":"2026-01-01T00:00:00Z"},"alertContext":null,"customProperties":null}}`))
	// Essentials left null, as budget alerts send them, and text that is not UTF-8.
	f.Add([]byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"a","alertRule":null,"severity":null,"monitorCondition":null,"alertTargetIDs":null,"configurationItems":["budgets"],"monitoringService":"CostAlerts","firedDateTime":"2026-01-01T00:00:00"},"alertContext":{"AlertData":{"BudgetName":"b","Scope":"/subscriptions/00000000-0000-0000-0000-000000000000/"}}}}`))
	f.Add([]byte("{\"schemaId\":\"azureMonitorCommonAlertSchema\",\"data\":{\"essentials\":{\"alertId\":\"a\xff\",\"firedDateTime\":\"2026-01-01T00:00:00Z\"}}}"))
	f.Add([]byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"a\ud83d","firedDateTime":"2026-01-01T00:00:00Z"},"customProperties":{"tenants":["a","b"],"components":"x;y"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParseAzureMonitor(body)
		if err != nil {
			requireKind(t, err, fault.Invalid, fault.TooLarge)
			return
		}
		checkAlert(t, a)
		require.Equal(t, a.Source, "azure-monitor")
		require.NotEmpty(t, a.ID)
		require.True(t, utf8.Valid(body), "text that is not UTF-8 is refused, never stored")
		require.LessOrEqual(t, len(a.Tenants), maxTenants)
		require.LessOrEqual(t, len(a.Notes), maxNotes)
		require.LessOrEqual(t, len(a.Components)+1, maxNamedComponents)
		if a.SourceSeverity == "" {
			require.NotEmpty(t, a.SignalBasis, "a derived severity says why")
		}
	})
}

func FuzzParseGeneric(f *testing.F) {
	for _, p := range fixtures(f, "generic/*.json") {
		f.Add(readFile(f, p))
	}
	f.Add([]byte(`{"summary":"s","severity":"sev1","source":"a","status":"resolved","dedupKey":"k","tenants":["t"],"links":[{"url":"https://x.example"}]}`))
	f.Add([]byte("{\"summary\":\"s\xc3\",\"severity\":\"sev1\",\"source\":\"a\",\"timestamp\":12}"))
	f.Add([]byte(`{"summary":"\udc00","severity":"sev1","source":"a","timestamp":"2026-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParseGeneric(body)
		if err != nil {
			requireKind(t, err, fault.Invalid, fault.TooLarge)
			return
		}
		checkAlert(t, a)
		require.True(t, utf8.Valid(body), "text that is not UTF-8 is refused, never stored")
		require.True(t, strings.HasPrefix(a.Source, "generic:"), a.Source)
		require.LessOrEqual(t, runes(a.Summary), maxGenericSummary)
		for _, tenant := range a.Tenants {
			require.Regexp(t, tenantPattern, tenant)
		}
	})
}

func FuzzParseCaseReport(f *testing.F) {
	for _, p := range fixtures(f, "casereport/*") {
		ct := "application/json"
		if strings.HasSuffix(p, ".form") {
			ct = "application/x-www-form-urlencoded"
		}
		f.Add(ct, readFile(f, p))
	}
	f.Add("application/json; charset=utf-8", []byte(`{"tenant":"t","reporter":{"name":"n","email":"a@b.co"},"title":"t","description":"d"}`))
	f.Add("text/plain", []byte("hello"))
	f.Add("application/x-www-form-urlencoded", []byte("tenant=contoso&reporter.name=A%FF&reporter.email=a%40b.co&title=t&description=d"))
	f.Add("application/json", []byte("{\"tenant\":\"contoso\",\"reporter\":{\"name\":\"\xe2\x82\",\"email\":\"a@b.co\"},\"title\":\"t\",\"description\":\"d\"}"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		c, err := ParseCaseReport(contentType, body)
		if err != nil {
			requireKind(t, err, fault.Invalid, fault.TooLarge, fault.Unsupported)
			return
		}
		checkCase(t, c)
	})
}

// checkCase holds for every case report the parser accepts.
func checkCase(t *testing.T, c incident.CaseReport) {
	t.Helper()
	require.Regexp(t, tenantPattern, c.Tenant)
	for _, s := range []string{c.Reporter.Name, c.Reporter.Email, c.Title, c.Description} {
		require.NotEmpty(t, s)
		require.Equal(t, s, strings.TrimSpace(s), "strings are trimmed")
	}
	require.Empty(t, checkEmail(c.Reporter.Email))
	require.False(t, hasControl(c.Title), "title %q", c.Title)
	require.LessOrEqual(t, runes(c.Title), maxCaseTitle)
	require.LessOrEqual(t, runes(c.Description), maxCaseDesc)
	if c.Reporter.Phone != "" {
		require.Regexp(t, phonePattern, c.Reporter.Phone)
	}
	if c.Component != "" {
		require.Regexp(t, componentPattern, c.Component)
	}
	require.GreaterOrEqual(t, c.Impact.UsersAffected, 0)
	require.LessOrEqual(t, c.Impact.UsersAffected, maxUsersAffected)
	require.Empty(t, c.CaseID, "the caller assigns the case id")
	require.True(t, c.ReceivedAt.IsZero(), "the caller stamps the time")
	for _, s := range []string{c.Tenant, c.Reporter.Name, c.Reporter.Email, c.Reporter.Phone, c.Title, c.Description, c.Component} {
		require.True(t, utf8.ValidString(s), "text that is not UTF-8 is refused, never stored: %q", s)
	}
}

// requireKind checks that err is a *fault.Error of one of the kinds a parser may return.
func requireKind(t *testing.T, err error, kinds ...fault.Kind) {
	t.Helper()
	var fe *fault.Error
	require.True(t, errors.As(err, &fe), "error %v is not a *fault.Error", err)
	require.Contains(t, kinds, fe.Kind, "kind of %v", err)
	require.NotEmpty(t, fe.Message)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
