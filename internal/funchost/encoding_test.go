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
		{"cases/{id?}", "cases", []param{}},
		{"cases/{id?}", "cases/c-9", []param{{"id", "c-9"}}},
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
	for _, bad := range []string{"cases/{id:int}", "cases/{id=1}", "a{b}", "{a}x", "cases//x", "{*rest}/more", "{a?}/b", "{x}/{X}", "{}"} {
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

func TestAppendJSONStringEscapesLikeNewtonsoft(t *testing.T) {
	tests := map[string]string{
		`plain`:              `"plain"`,
		`quote " back \`:     `"quote \" back \\"`,
		"nl\n tab\t cr\r":    `"nl\n tab\t cr\r"`,
		"\x01\x1f":           `"\u0001\u001f"`,
		"<a&b>é😀":            `"<a&b>é😀"`,
		"\u2028\u2029\u0085": `"\u2028\u2029\u0085"`,
		"bad \xff byte":      "\"bad \ufffd byte\"",
	}
	for in, want := range tests {
		got := string(appendJSONString(nil, in))
		require.Equal(t, want, got, "%q", in)
		var back string
		require.NoError(t, json.Unmarshal([]byte(got), &back))
	}
}

func TestAppendStringTwice(t *testing.T) {
	got := string(appendStringTwice(nil, `{"incidentId":"inc-42"}`))
	require.Equal(t, `"\"{\\\"incidentId\\\":\\\"inc-42\\\"}\""`, got)
	var once, twice string
	require.NoError(t, json.Unmarshal([]byte(got), &once))
	require.NoError(t, json.Unmarshal([]byte(once), &twice))
	require.Equal(t, `{"incidentId":"inc-42"}`, twice)
}

func TestDotNetTimes(t *testing.T) {
	ts := time.Date(2026, 11, 20, 11, 15, 2, 123456789, time.FixedZone("CET", 3600))
	require.Equal(t, `"2026-11-20T10:15:02"`, string(appendDateTime(nil, ts)))
	require.Equal(t, `"2026-11-20T10:15:02+00:00"`, string(appendDateTimeOffset(nil, ts)))
	require.Equal(t, `"2026-11-20T10:15:02.1234567Z"`, string(appendUTCTime(nil, ts)))
	require.Equal(t, `"2026-11-20T10:15:02.5Z"`, string(appendUTCTime(nil, ts.Truncate(time.Second).Add(500*time.Millisecond))))
	require.Equal(t, `"2026-11-20T10:15:02Z"`, string(appendUTCTime(nil, ts.Truncate(time.Second))))
	require.Equal(t, `"0001-01-01T00:00:00Z"`, string(appendUTCTime(nil, time.Time{})))
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
	var m metadata
	m.setString("MessageId", "m-1")
	m.setInt("DeliveryCount", 1)
	m.applyBodyBindingData([]byte(`{"messageId":"evil","DeliveryCount":5,"flag":true,"nested":{"a":1},"list":[1,2],"none":null,"myTrigger":"x"}`), false)
	got := string(m.appendTo(nil))
	require.JSONEq(t, `{"MessageId":"\"evil\"","DeliveryCount":"\"5\"","flag":"\"True\"","nested":{"a":1}}`, got)
	require.Contains(t, got, `"MessageId":`, "the first spelling of a key is kept")

	m.reset()
	m.applyBodyBindingData([]byte(`{"list":[1, 2]}`), true)
	require.JSONEq(t, `{"list":"[1,2]"}`, string(m.appendTo(nil)), "the HTTP extension passes arrays as JSON text")

	m.reset()
	m.applyBodyBindingData([]byte(`[{"a":1}]`), true)
	m.applyBodyBindingData([]byte(`not json`), true)
	require.Equal(t, `{}`, string(m.appendTo(nil)))
}

func TestParseQuery(t *testing.T) {
	require.Equal(t, []queryValue{{"tenant", "t-7"}, {"tag", "a,B c"}, {"flag", ""}, {"bad", "%zz"}},
		parseQuery("tenant=t-7&tag=a&&TAG=B+c&flag&bad=%zz"))
	require.Nil(t, parseQuery(""))
}

func TestDotNetBase64(t *testing.T) {
	b, ok := dotnetBase64("test")
	require.True(t, ok)
	require.Equal(t, []byte{0xb5, 0xeb, 0x2d}, b)
	b, ok = dotnetBase64("aGVs bG8=")
	require.True(t, ok)
	require.Equal(t, "hello", string(b))
	for _, s := range []string{"hello", `{"a":1}`, "abc", "inc-42"} {
		_, ok := dotnetBase64(s)
		require.False(t, ok, s)
	}
}

func TestNewUUID(t *testing.T) {
	a, b := newUUID(), newUUID()
	require.Len(t, a, 36)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
}
