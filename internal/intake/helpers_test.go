package intake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

var update = flag.Bool("update", false, "rewrite the golden *.want.json files from the parsers' output (review them before committing)")

// requireFault checks that err is a *fault.Error of the given kind and field, and
// that its message says what it should.
func requireFault(t *testing.T, err error, kind fault.Kind, field, msgContains string) {
	t.Helper()
	require.Error(t, err)
	var fe *fault.Error
	require.ErrorAs(t, err, &fe, "error %v is not a *fault.Error", err)
	require.Equal(t, fe.Kind, kind, "kind of %q", err)
	require.Equal(t, fe.Field, field, "field of %q", err)
	require.Contains(t, fe.Message, msgContains, "message of %q", err)
}

// requireNoGoTypeNames checks that an error speaks JSON to the sender, not Go.
func requireNoGoTypeNames(t *testing.T, err error) {
	t.Helper()
	for _, goName := range []string{"json.Number", "float64", "map[string]", "[]interface", "interface {}", "time.Time", "string]any", "*json.", "int64"} {
		require.NotContains(t, err.Error(), goName)
	}
}

// readTestdata reads a file under testdata.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// fixtures lists the payloads matching pattern, leaving out golden files.
func fixtures(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	require.NoError(t, err)
	var out []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".want.json") {
			out = append(out, p)
		}
	}
	require.NotEmpty(t, out, "no fixtures match %s", pattern)
	return out
}

// marshal renders v as a golden file does: indented, with <, > and & left
// readable (Azure's queries and descriptions are full of them).
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

// mutateJSON decodes a fixture, lets change edit it, and encodes it again, so a
// table case states only what differs from a valid payload.
func mutateJSON(t testing.TB, body []byte, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	change(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// path walks nested objects of a decoded payload.
func path(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// checkAlert holds for every alert a parser returns, whatever the input.
func checkAlert(t *testing.T, a incident.Alert) {
	t.Helper()
	require.NotEmpty(t, a.Source, "source")
	require.NotEmpty(t, a.DedupKey, "dedupKey")
	require.LessOrEqual(t, runes(a.DedupKey), maxDedupKey, "dedupKey length")
	require.Contains(t, []incident.AlertStatus{incident.AlertFiring, incident.AlertResolved}, a.Status)
	require.True(t, a.Signal.Valid(), "signal %v", a.Signal)
	require.NotEmpty(t, strings.TrimSpace(a.Summary), "summary")
	require.LessOrEqual(t, len(a.Facts), maxFacts, "facts")
	for k, v := range a.Facts {
		require.NotEmpty(t, k)
		require.LessOrEqual(t, runes(v), maxFactRunes, "fact %s", k)
	}
	for _, l := range a.Links {
		require.True(t, isWebURL(l.URL), "link %q", l.URL)
	}
	_, err := json.Marshal(a)
	require.NoError(t, err, "an alert must survive the trip onto the bus")
}
