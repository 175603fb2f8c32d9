package intake

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// fullCase is what testdata/casereport/full.json and full.form both hold.
var fullCase = incident.CaseReport{
	Tenant:      "contoso",
	Reporter:    incident.Contact{Name: "Ana Souza", Email: "ana.souza@contoso.example", Phone: "+442079460958"},
	Title:       "Incident notifications arrive 20 minutes late",
	Description: "Since this morning our on-call engineers receive SMS pages about 20 minutes after the alert fires.\nEmail is on time.",
	Component:   "notifications",
	Impact:      incident.Impact{UsersAffected: 120, Blocked: true},
}

func TestParseCaseReport(t *testing.T) {
	formDesc := fullCase
	formDesc.Description = strings.ReplaceAll(fullCase.Description, "\n", "\r\n") // browsers send CRLF

	tests := []struct {
		name        string
		contentType string
		body        []byte
		want        incident.CaseReport
	}{
		{"JSON", "application/json", readTestdata(t, "casereport/full.json"), fullCase},
		{"JSON with charset", "application/json; charset=utf-8", readTestdata(t, "casereport/full.json"), fullCase},
		{"JSON, media type in capitals", "Application/JSON", readTestdata(t, "casereport/full.json"), fullCase},
		{"form", "application/x-www-form-urlencoded", readTestdata(t, "casereport/full.form"), formDesc},
		{"form with charset", "application/x-www-form-urlencoded; charset=UTF-8", readTestdata(t, "casereport/full.form"), formDesc},
		{
			"JSON, only required fields, trimmed",
			"application/json",
			[]byte(`{"tenant":" fabrikam ","reporter":{"name":" Li Wei ","email":" li.wei@fabrikam.example "},"title":" Cannot log in ","description":"  SSO fails  "}`),
			incident.CaseReport{Tenant: "fabrikam", Reporter: incident.Contact{Name: "Li Wei", Email: "li.wei@fabrikam.example"}, Title: "Cannot log in", Description: "SSO fails"},
		},
		{
			"JSON, nulls as absent",
			"application/json",
			[]byte(`{"tenant":"t-7","reporter":{"name":"Li","email":"li@t7.example","phone":null},"title":"x","description":"y","component":null,"impact":null}`),
			incident.CaseReport{Tenant: "t-7", Reporter: incident.Contact{Name: "Li", Email: "li@t7.example"}, Title: "x", Description: "y"},
		},
		{
			"form, empty optional fields and unchecked box",
			"application/x-www-form-urlencoded",
			[]byte("tenant=t-7&reporter.name=Li&reporter.email=li%40t7.example&reporter.phone=&title=x&description=y&component=&impact.usersAffected="),
			incident.CaseReport{Tenant: "t-7", Reporter: incident.Contact{Name: "Li", Email: "li@t7.example"}, Title: "x", Description: "y"},
		},
		{
			"edges of the ranges",
			"application/json",
			[]byte(`{"tenant":"` + strings.Repeat("a", 63) + `","reporter":{"name":"` + strings.Repeat("ñ", 200) + `","email":"a@b.co","phone":"+1 555-0100-99"},"title":"` + strings.Repeat("t", 200) + `","description":"` + strings.Repeat("d", 10000) + `","component":"` + strings.Repeat("c", 64) + `","impact":{"usersAffected":10000000,"blocked":false}}`),
			incident.CaseReport{
				Tenant: strings.Repeat("a", 63), Reporter: incident.Contact{Name: strings.Repeat("ñ", 200), Email: "a@b.co", Phone: "+1555010099"},
				Title: strings.Repeat("t", 200), Description: strings.Repeat("d", 10000), Component: strings.Repeat("c", 64), Impact: incident.Impact{UsersAffected: 10_000_000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCaseReport(tt.contentType, tt.body)
			require.NoError(t, err)
			require.Equal(t, got, tt.want)
		})
	}
}

func TestParseCaseReportFormBooleans(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "on": true, "1": true, "yes": true, "YES": true, "On": true,
		"false": false, "off": false, "0": false, "no": false, "": false,
	} {
		form := caseForm(t, func(f url.Values) { f.Set("impact.blocked", v) })
		got, err := ParseCaseReport("application/x-www-form-urlencoded", form)
		require.NoError(t, err, v)
		require.Equal(t, got.Impact.Blocked, want, v)
	}
}

func TestParseCaseReportRejects(t *testing.T) {
	validJSON := readTestdata(t, "casereport/full.json")
	js := func(change func(m map[string]any)) []byte { return mutateJSON(t, validJSON, change) }
	set := func(key string, v any) []byte { return js(func(m map[string]any) { m[key] = v }) }
	setIn := func(parent, key string, v any) []byte {
		return js(func(m map[string]any) { path(m, parent)[key] = v })
	}
	form := func(change func(f url.Values)) []byte { return caseForm(t, change) }
	formSet := func(key, v string) []byte { return form(func(f url.Values) { f.Set(key, v) }) }

	const (
		ctJSON = "application/json"
		ctForm = "application/x-www-form-urlencoded"
	)
	tests := []struct {
		name        string
		contentType string
		body        []byte
		kind        fault.Kind
		field       string
		contains    string
	}{
		{"no content type", "", validJSON, fault.Unsupported, "", `content type "" is not accepted: send application/json or application/x-www-form-urlencoded`},
		{"text/plain", "text/plain", validJSON, fault.Unsupported, "", `content type "text/plain" is not accepted`},
		{"multipart", "multipart/form-data; boundary=x", validJSON, fault.Unsupported, "", "send application/json or application/x-www-form-urlencoded"},
		{"malformed content type", "application/json; charset", validJSON, fault.Unsupported, "", "is not accepted"},
		{"empty JSON body", ctJSON, nil, fault.Invalid, "", "body is empty"},
		{"empty form body", ctForm, []byte(""), fault.Invalid, "", "body is empty"},
		{"over the size limit", ctJSON, []byte(`{"description":"` + strings.Repeat("d", MaxCaseBytes) + `"}`), fault.TooLarge, "", "the limit is 65536 bytes (64 KiB)"},
		{"not JSON", ctJSON, readTestdata(t, "casereport/full.form"), fault.Invalid, "", "body is not valid JSON: invalid character 'e' in literal true (expecting 'r') at line 1, column 2"},
		{"JSON array", ctJSON, []byte(`[]`), fault.Invalid, "", "must be a JSON object, got an array"},
		{"bad form escape", ctForm, []byte("tenant=%zz"), fault.Invalid, "", "body is not valid form encoding"},

		// Unknown fields are refused, named by their path.
		{"unknown JSON field", ctJSON, set("priority", "high"), fault.Invalid, "priority", "is not a case report field; the fields are tenant, reporter.name"},
		{"unknown nested JSON field", ctJSON, setIn("reporter", "nickname", "Ana"), fault.Invalid, "reporter.nickname", "is not a case report field"},
		{"unknown impact field", ctJSON, setIn("impact", "revenueLost", 1), fault.Invalid, "impact.revenueLost", "is not a case report field"},
		{"caseId is the server's", ctJSON, set("caseId", "C-1"), fault.Invalid, "caseId", "is not a case report field"},
		{"unknown form field", ctForm, formSet("priority", "high"), fault.Invalid, "priority", "is not a case report field"},
		{"JSON path as form field", ctForm, formSet("reporter", "Ana"), fault.Invalid, "reporter", "is not a case report field"},
		{"repeated form field", ctForm, form(func(f url.Values) { f.Add("tenant", "fabrikam") }), fault.Invalid, "tenant", "was sent 2 times; send it once"},

		{"no tenant", ctJSON, js(func(m map[string]any) { delete(m, "tenant") }), fault.Invalid, "tenant", "is required"},
		{"blank tenant", ctForm, formSet("tenant", "  "), fault.Invalid, "tenant", "is required"},
		{"tenant not a string", ctJSON, set("tenant", 42), fault.Invalid, "tenant", "must be a string, got a number"},
		{"tenant with capitals", ctJSON, set("tenant", "Contoso"), fault.Invalid, "tenant", `is "Contoso", want a tenant id`},
		{"tenant starting with a dash", ctForm, formSet("tenant", "-contoso"), fault.Invalid, "tenant", "want a tenant id"},
		{"tenant too long", ctJSON, set("tenant", strings.Repeat("a", 64)), fault.Invalid, "tenant", "want a tenant id"},
		{"reporter missing", ctJSON, js(func(m map[string]any) { delete(m, "reporter") }), fault.Invalid, "reporter.name", "is required"},
		{"reporter not an object", ctJSON, set("reporter", "Ana Souza"), fault.Invalid, "reporter", "must be an object, got a string"},
		{"no reporter name", ctForm, form(func(f url.Values) { f.Del("reporter.name") }), fault.Invalid, "reporter.name", "is required"},
		{"reporter name too long", ctJSON, setIn("reporter", "name", strings.Repeat("n", 201)), fault.Invalid, "reporter.name", "is 201 characters long; the limit is 200"},
		{"reporter name with a line break", ctForm, formSet("reporter.name", "Ana\nSouza"), fault.Invalid, "reporter.name", "single line"},
		{"no email", ctJSON, js(func(m map[string]any) { delete(path(m, "reporter"), "email") }), fault.Invalid, "reporter.email", "is required"},
		{"email without @", ctJSON, setIn("reporter", "email", "ana.souza"), fault.Invalid, "reporter.email", `is "ana.souza", want a plain email address`},
		{"email with display name", ctJSON, setIn("reporter", "email", "Ana <ana@contoso.example>"), fault.Invalid, "reporter.email", "want a plain email address"},
		{"email in angle brackets", ctForm, formSet("reporter.email", "<ana@contoso.example>"), fault.Invalid, "reporter.email", "want a plain email address"},
		{"two emails", ctJSON, setIn("reporter", "email", "a@x.example, b@x.example"), fault.Invalid, "reporter.email", "want a plain email address"},
		{"email to a local host", ctJSON, setIn("reporter", "email", "root@localhost"), fault.Invalid, "reporter.email", `the domain "localhost" is not a public mail domain`},
		{"email too long", ctJSON, setIn("reporter", "email", strings.Repeat("a", 64)+"@"+strings.Repeat("b", 190)+".example"), fault.Invalid, "reporter.email", "bytes long; the limit is 254"},
		{"email not a string", ctJSON, setIn("reporter", "email", true), fault.Invalid, "reporter.email", "must be a string, got a boolean"},
		{"phone without +", ctForm, formSet("reporter.phone", "020 7946 0958"), fault.Invalid, "reporter.phone", "want an international number in E.164 form"},
		{"phone too short", ctJSON, setIn("reporter", "phone", "+4420794"), fault.Invalid, "reporter.phone", "E.164"},
		{"phone too long", ctJSON, setIn("reporter", "phone", "+1234567890123456"), fault.Invalid, "reporter.phone", "E.164"},
		{"phone with letters", ctJSON, setIn("reporter", "phone", "+44 20 CALL ANA"), fault.Invalid, "reporter.phone", "E.164"},
		{"no title", ctJSON, js(func(m map[string]any) { delete(m, "title") }), fault.Invalid, "title", "is required"},
		{"title too long", ctJSON, set("title", strings.Repeat("é", 201)), fault.Invalid, "title", "is 201 characters long; the limit is 200"},
		{"title with a line break", ctJSON, set("title", "Late\npages"), fault.Invalid, "title", "single line without control characters"},
		{"title with a NUL", ctForm, formSet("title", "Late\x00pages"), fault.Invalid, "title", "control characters"},
		{"no description", ctForm, form(func(f url.Values) { f.Del("description") }), fault.Invalid, "description", "is required"},
		{"description too long", ctJSON, set("description", strings.Repeat("d", 10001)), fault.Invalid, "description", "is 10001 characters long; the limit is 10000"},
		{"description not a string", ctJSON, set("description", []any{"a"}), fault.Invalid, "description", "must be a string, got an array"},
		{"component with capitals", ctJSON, set("component", "Notifier"), fault.Invalid, "component", `is "Notifier", want a catalog component name`},
		{"component with underscore", ctForm, formSet("component", "sms_gateway"), fault.Invalid, "component", "want a catalog component name"},
		{"impact not an object", ctJSON, set("impact", 120), fault.Invalid, "impact", "must be an object, got a number"},
		{"users as a string in JSON", ctJSON, setIn("impact", "usersAffected", "120"), fault.Invalid, "impact.usersAffected", "must be a number, got a string"},
		{"users negative", ctJSON, setIn("impact", "usersAffected", -1), fault.Invalid, "impact.usersAffected", "must be a whole number from 0 to 10000000"},
		{"users fractional", ctJSON, setIn("impact", "usersAffected", 1.5), fault.Invalid, "impact.usersAffected", "whole number"},
		{"users too many", ctJSON, setIn("impact", "usersAffected", 10_000_001), fault.Invalid, "impact.usersAffected", "from 0 to 10000000"},
		{"users huge", ctJSON, js(func(m map[string]any) { path(m, "impact")["usersAffected"] = 1e300 }), fault.Invalid, "impact.usersAffected", "whole number"},
		{"users with sign in a form", ctForm, formSet("impact.usersAffected", "+120"), fault.Invalid, "impact.usersAffected", "whole number"},
		{"users with separator in a form", ctForm, formSet("impact.usersAffected", "1,200"), fault.Invalid, "impact.usersAffected", "whole number"},
		{"users too many in a form", ctForm, formSet("impact.usersAffected", "99999999999999999999999"), fault.Invalid, "impact.usersAffected", "from 0 to 10000000"},
		{"blocked as a string in JSON", ctJSON, setIn("impact", "blocked", "true"), fault.Invalid, "impact.blocked", "must be true or false, got a string"},
		{"blocked unknown in a form", ctForm, formSet("impact.blocked", "maybe"), fault.Invalid, "impact.blocked", `is "maybe", want true or false`},
		{"form value not UTF-8", ctForm, formSet("reporter.name", "Ana \xff"), fault.Invalid, "reporter.name", "not valid UTF-8"},

		// The first problem in field order wins, whatever order the sender used.
		{"first problem is reported", ctJSON, []byte(`{"impact":{"usersAffected":-5},"title":"","tenant":"Contoso"}`), fault.Invalid, "tenant", "want a tenant id"},
		{"first problem in a form", ctForm, []byte("impact.blocked=maybe&title=&tenant=contoso&reporter.name=Ana&reporter.email=nope"), fault.Invalid, "reporter.email", "want a plain email address"},
		{"unknown field before the rest", ctJSON, []byte(`{"zeta":1,"alpha":2,"tenant":"Contoso"}`), fault.Invalid, "alpha", "is not a case report field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCaseReport(tt.contentType, tt.body)
			requireFault(t, err, tt.kind, tt.field, tt.contains)
		})
	}
}

// caseForm encodes the valid form from testdata after change has edited it.
func caseForm(t *testing.T, change func(f url.Values)) []byte {
	t.Helper()
	f, err := url.ParseQuery(string(readTestdata(t, "casereport/full.form")))
	require.NoError(t, err)
	change(f)
	return []byte(f.Encode())
}
