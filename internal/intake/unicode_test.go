package intake

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

// Text that is not UTF-8 would be stored with U+FFFD in its place: every parser
// refuses it instead, naming the field.
func TestInvalidUnicodeIsRefusedNamingTheField(t *testing.T) {
	azure := string(readTestdata(t, "azure-monitor/metric-fired.json"))
	generic := `{"source":"grafana","summary":"S","severity":"error","tenants":["contoso","T"],"links":[{"url":"https://x.example","title":"L"}]}`
	caseJSON := `{"tenant":"contoso","reporter":{"name":"N","email":"ana@contoso.example"},"title":"T","description":"D"}`
	bad := "\xff"
	tests := []struct {
		name   string
		parse  func([]byte) error
		body   string
		field  string
		detail string
	}{
		{"azure: essentials", azureParse, strings.Replace(azure, `"sb-dlq-payroll-events"`, `"sb-dlq-`+bad+`"`, 1), "data.essentials.alertRule", "byte 0xFF does not start a UTF-8 character at line 6, column 28"},
		{"azure: inside alertContext", azureParse, strings.Replace(azure, `"DeadletteredMessages"`, `"Dead`+"\xc3\x28"+`"`, 1), "data.alertContext.condition.allOf[0].metricName", "byte 0xC3"},
		{"azure: an array entry", azureParse, strings.Replace(azure, `"sb-payroll-weu"`, `"sb-`+bad+`"`, 1), "data.essentials.configurationItems[0]", "0xFF"},
		{"azure: a truncated character in customProperties", azureParse, strings.Replace(azure, `"northwind, Tailspin Toys"`, `"northwind, Tailspin Toys`+"\xe2\x82"+`"`, 1), "data.customProperties.tenants", "0xE2"},
		{"azure: a member name", azureParse, strings.Replace(azure, `"runbook"`, `"run`+bad+`"`, 1), "data.customProperties", "has a member name that is not valid UTF-8 text"},
		{"azure: a lone high surrogate", azureParse, strings.Replace(azure, `"sb-dlq-payroll-events"`, `"sb-dlq-\ud83d"`, 1), "data.essentials.alertRule", `escape \ud83d is the first half of a surrogate pair without its second`},
		{"azure: a lone low surrogate", azureParse, strings.Replace(azure, `"sb-dlq-payroll-events"`, `"\uDE00 sb"`, 1), "data.essentials.alertRule", `escape \uDE00 is the second half of a surrogate pair without its first`},
		{"azure: a high surrogate before another escape", azureParse, strings.Replace(azure, `"sb-dlq-payroll-events"`, `"\ud83d\u0041"`, 1), "data.essentials.alertRule", "first half"},
		{"generic: summary", genericParse, strings.Replace(generic, `"S"`, `"S`+bad+`"`, 1), "summary", "0xFF"},
		{"generic: tenants[1]", genericParse, strings.Replace(generic, `"T"`, `"`+bad+`"`, 1), "tenants[1]", "0xFF"},
		{"generic: links[0].title", genericParse, strings.Replace(generic, `"L"`, `"\udfff"`, 1), "links[0].title", "second half"},
		{"generic: a top-level member name", genericParse, `{"` + bad + `":1,"summary":"s"}`, "", "body has a member name"},
		{"case JSON: reporter.name", caseParse("application/json"), strings.Replace(caseJSON, `"N"`, `"N`+bad+`"`, 1), "reporter.name", "0xFF"},
		{"case form: title", caseParse("application/x-www-form-urlencoded"), "tenant=contoso&reporter.name=N&reporter.email=ana%40contoso.example&description=D&title=T%FF", "title", "is not valid UTF-8 text"},
		{"case form: a field name", caseParse("application/x-www-form-urlencoded"), "tenant=contoso&ti%FFtle=T", "", `form field name "ti\xfftle" is not valid UTF-8 text`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.body))
			requireFault(t, err, fault.Invalid, tc.field, tc.detail)
			require.NotContains(t, err.Error(), "\uFFFD", "the answer does not echo replacement characters")
		})
	}
}

func TestSoundUnicodeIsAccepted(t *testing.T) {
	azure := string(readTestdata(t, "azure-monitor/metric-fired.json"))
	for name, rule := range map[string]string{
		"a surrogate pair":                 `"sb \ud83d\ude00"`,
		"an escaped backslash before u":    `"C:\\ud83d"`,
		"a literal replacement character":  `"sb \ufffd �"`,
		"non-ASCII text":                   `"paie-échouée ✓"`,
		"an escape at the end of a string": `"sb \u00e9"`,
	} {
		t.Run(name, func(t *testing.T) {
			a, err := ParseAzureMonitor([]byte(strings.Replace(azure, `"sb-dlq-payroll-events"`, rule, 1)))
			require.NoError(t, err)
			require.NotEmpty(t, a.Summary)
		})
	}
	a, err := ParseAzureMonitor([]byte(strings.Replace(azure, `"sb-dlq-payroll-events"`, `"sb \ud83d\ude00"`, 1)))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(a.Summary, "sb 😀:"), a.Summary)
}

// A syntax error before the bad text is the first problem and is reported as such.
func TestSyntaxErrorBeforeBadTextWins(t *testing.T) {
	_, err := ParseGeneric([]byte("{\"summary\" \"s\", \"details\": \"\xff\"}"))
	requireFault(t, err, fault.Invalid, "", "body is not valid JSON")
	_, err = ParseGeneric([]byte("{\"summary\": \xff}"))
	requireFault(t, err, fault.Invalid, "", "body is not valid JSON")
}

func TestGenericTimestampErrorsNameTheField(t *testing.T) {
	for value, msg := range map[string]string{
		`1762423964`:                  "must be a string, got a number",
		`{"utc":"2026-11-06T10:12Z"}`: "must be a string, got an object",
		`["2026-11-06T10:12:44Z"]`:    "must be a string, got an array",
		`true`:                        "must be a string, got a boolean",
		`"06/11/2026 10:12"`:          `is "06/11/2026 10:12", want an RFC 3339 time`,
	} {
		_, err := ParseGeneric([]byte(`{"source":"grafana","summary":"s","severity":"error","timestamp":` + value + `}`))
		requireFault(t, err, fault.Invalid, "timestamp", msg)
		requireNoGoTypeNames(t, err)
	}
}

func azureParse(b []byte) error {
	_, err := ParseAzureMonitor(b)
	return err
}

func genericParse(b []byte) error {
	_, err := ParseGeneric(b)
	return err
}

func caseParse(contentType string) func([]byte) error {
	return func(b []byte) error {
		_, err := ParseCaseReport(contentType, b)
		return err
	}
}
