package funchost

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		template, path string
		want           []param // nil: no match
	}{
		{"cases", "cases", []param{}},
		{"cases", "CASES/", []param{}},
		{"cases", "cases/x", nil},
		{"cases/{id}", "cases/c-1", []param{{"id", "c-1"}}},
		{"cases/{id}", "cases/a%20b", []param{{"id", "a b"}}},
		{"cases/{id}", "cases/a%2Fb", []param{{"id", "a/b"}}},
		{"cases/{id}", "cases", nil},
		{"cases/{id}", "cases/c-1/more", nil},
		{"cases/{id}/notes/{note}", "cases/c-1/notes/7", []param{{"id", "c-1"}, {"note", "7"}}},
		{"files/{*path}", "files", []param{}},
		{"files/{*path}", "files/a/b%20c/d.txt", []param{{"path", "a/b c/d.txt"}}},
		{"alerts/azure-monitor", "alerts/azure-monitor", []param{}},
		{"alerts/azure-monitor", "alerts/generic", nil},
	}
	for _, tt := range tests {
		rt, err := parseRoute(tt.template)
		require.NoError(t, err, tt.template)
		got, ok := rt.match(tt.path, []param{})
		if tt.want == nil {
			require.False(t, ok, "%s should not match %s", tt.template, tt.path)
			continue
		}
		require.True(t, ok, "%s should match %s", tt.template, tt.path)
		require.Equal(t, tt.want, got, "%s ~ %s", tt.template, tt.path)
	}
}

func TestRouteTemplatesRefused(t *testing.T) {
	for _, bad := range []string{"cases/{id:int}", "cases/{id=1}", "a{b}", "{a}x", "cases//x", "{*rest}/more", "{a?}", "{a?}/b", "{x}/{X}", "{}"} {
		_, err := parseRoute(bad)
		require.Error(t, err, bad)
	}
}

func TestRoutePrecedence(t *testing.T) {
	lit, _ := parseRoute("cases/open")
	par, _ := parseRoute("cases/{id}")
	all, _ := parseRoute("cases/{*rest}")
	require.True(t, lit.before(par))
	require.True(t, par.before(all))
	require.False(t, all.before(lit))
}

func TestMarshalEscapesLikeNewtonsoft(t *testing.T) {
	tests := map[string]string{
		`plain`:           `"plain"`,
		`quote " back \`:  `"quote \" back \\"`,
		"nl\n tab\t cr\r": `"nl\n tab\t cr\r"`,
		"\x01\x1f":        `"\u0001\u001f"`,
		"<a&b>é😀":         `"<a&b>é😀"`, // no HTML escaping
		"\u2028\u2029":    `"\u2028\u2029"`,
		"bad \xff byte":   `"bad \ufffd byte"`, // U+FFFD, as .NET decodes it
	}
	for in, want := range tests {
		got := string(marshal(in))
		require.Equal(t, want, got, "%q", in)
	}
}

func TestStringsAreEncodedTwice(t *testing.T) {
	got := string(twice(`{"incidentId":"inc-42"}`))
	require.Equal(t, `"\"{\\\"incidentId\\\":\\\"inc-42\\\"}\""`, got)
	var once, again string
	require.NoError(t, json.Unmarshal([]byte(got), &once))
	require.NoError(t, json.Unmarshal([]byte(once), &again))
	require.Equal(t, `{"incidentId":"inc-42"}`, again)
	require.Equal(t, `"42"`, string(integer(42)), "integers arrive as strings")
}

func TestDotNetTimes(t *testing.T) {
	ts := time.Date(2026, 11, 20, 11, 15, 2, 123456789, time.FixedZone("CET", 3600))
	require.Equal(t, "2026-11-20T10:15:02", ts.UTC().Format(dateTimeLayout))
	require.Equal(t, "2026-11-20T10:15:02+00:00", ts.UTC().Format(dateTimeOffsetLayout))
	require.Equal(t, "2026-11-20T10:15:02.1234567Z", roundTrip(ts))
	require.Equal(t, "2026-11-20T10:15:02.5Z", roundTrip(ts.Truncate(time.Second).Add(500*time.Millisecond)))
	require.Equal(t, "2026-11-20T10:15:02Z", roundTrip(ts.Truncate(time.Second)))
	require.Equal(t, "0001-01-01T00:00:00Z", roundTrip(time.Time{}))
	require.Equal(t, "2026-11-20T10:15:02.1234567+00:00", scheduleTime(ts), "a local DateTime keeps its offset")
	require.Equal(t, "0001-01-01T00:00:00", scheduleTime(time.Time{}), "the default DateTime has no zone")
}

func TestDotNetScalars(t *testing.T) {
	tests := map[string]string{
		`"text"`:                         "text",
		`true`:                           "True",
		`false`:                          "False",
		`42`:                             "42",
		`-7`:                             "-7",
		`1.50`:                           "1.5",
		`1.0`:                            "1",
		`1e15`:                           "1E+15",
		`1e14`:                           "100000000000000",
		`0.0001`:                         "0.0001",
		`1e-5`:                           "1E-05",
		`123456789012345678901234567890`: "123456789012345678901234567890",
	}
	for in, want := range tests {
		require.Equal(t, want, dotnetScalar([]byte(in)), in)
	}
}

func TestMetadataKeysAreCaseInsensitiveAndTriggerKeysDropped(t *testing.T) {
	m := metadata{}
	m.set("MessageId", twice("m-1"))
	m.set("DeliveryCount", integer(1))
	m.applyBodyBindingData([]byte(`{"messageId":"evil","DeliveryCount":5,"flag":true,"nested":{"a":1},"list":[1,2],"none":null,"myTrigger":"x"}`), false)
	got := string(marshal(m))
	require.JSONEq(t, `{"MessageId":"\"evil\"","DeliveryCount":"\"5\"","flag":"\"True\"","nested":{"a":1}}`, got)
	require.Contains(t, got, `"MessageId":`, "the first spelling of a key is kept")

	m = metadata{}
	m.applyBodyBindingData([]byte(`{"list":[1, 2]}`), true)
	require.JSONEq(t, `{"list":"[1,2]"}`, string(marshal(m)), "the HTTP extension passes arrays as JSON text")

	m = metadata{}
	m.applyBodyBindingData([]byte(`[{"a":1}]`), true)
	m.applyBodyBindingData([]byte(`not json`), true)
	require.Equal(t, `{}`, string(marshal(m)))
}

func TestParseQuery(t *testing.T) {
	require.Equal(t, []queryValue{{"tenant", "t-7"}, {"tag", "a,B c"}, {"flag", ""}, {"bad", "%zz"}},
		parseQuery("tenant=t-7&tag=a&&TAG=B+c&flag&bad=%zz"))
	require.Nil(t, parseQuery(""))
}

func TestNewUUID(t *testing.T) {
	a, b := newUUID(), newUUID()
	require.Len(t, a, 36)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
}
