package funchost

// The invocation envelope, {"Data":{...},"Metadata":{...}}, in the host's
// encoding of values (docs/host-contract.md): a string is JSON-encoded twice,
// an integer arrives as a string, a DateTime loses its fraction and zone, a
// null value is left out, and a JSON object body's top-level properties are
// copied into Metadata, where they may replace a key of the same name.

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// envelope is the invocation request body.
type envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata metadata                   `json:"Metadata"`
}

// marshal is json.Marshal without HTML escaping: the host escapes no <, > or &.
// It is used on values built here, which always encode.
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return json.RawMessage("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// twice is s as the host passes a string value: the JSON string whose value
// is the JSON string literal of s ("\"hello\"").
func twice(s string) json.RawMessage { return marshal(string(marshal(s))) }

// integer is n as the host passes an int or long: a string ("1").
func integer(n int64) json.RawMessage { return marshal(strconv.FormatInt(n, 10)) }

// The host's DateTime forms.
const (
	dateTimeLayout       = "2006-01-02T15:04:05"               // DateTime after ToString: UTC, seconds, no zone
	dateTimeOffsetLayout = "2006-01-02T15:04:05+00:00"         // DateTimeOffset: seconds, the offset kept
	roundTripLayout      = "2006-01-02T15:04:05.9999999Z07:00" // a UTC DateTime inside a serialised object (sys.UtcNow)
	localRoundTripLayout = "2006-01-02T15:04:05.9999999-07:00" // a local DateTime there (ScheduleStatus): the offset, never Z
)

// scheduleTime formats t as the timer's ScheduleStatus carries it. The host
// keeps those times as local DateTimes (UTC is local on a Functions
// instance), which Newtonsoft writes with their offset ("+00:00"); the
// default DateTime, a status never recorded, has no zone at all
// ("0001-01-01T00:00:00").
func scheduleTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00"
	}
	return t.UTC().Truncate(100 * time.Nanosecond).Format(localRoundTripLayout)
}

// roundTrip formats t as Newtonsoft writes a UTC DateTime inside an object:
// 100 ns ticks, trailing zeros trimmed ("2026-11-06T10:15:03.1234567Z").
func roundTrip(t time.Time) string {
	return t.UTC().Truncate(100 * time.Nanosecond).Format(roundTripLayout)
}

// sys is the "sys" binding data of every invocation.
func sys(method string, now time.Time) json.RawMessage {
	return marshal(struct{ MethodName, UtcNow, RandGuid string }{method, roundTrip(now), newUUID()})
}

// metadata is the binding data. Keys compare case-insensitively, as in the
// host's dictionary: a later key replaces an earlier one that differs only in
// case, keeping the earlier spelling. Keys ending in "trigger" are left out,
// as the host leaves them out ("Data will include value of the trigger").
type metadata map[string]json.RawMessage

func (m metadata) set(key string, v json.RawMessage) {
	if len(key) >= 7 && strings.EqualFold(key[len(key)-7:], "trigger") {
		return
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			m[k] = v
			return
		}
	}
	m[key] = v
}

func (m metadata) has(key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// applyBodyBindingData copies the top-level properties of a JSON object body
// into the metadata, as the host does to make them usable in binding
// expressions: nested objects stay objects, scalars become strings (and are
// then encoded twice like every string: 42 → "\"42\"", true → "\"True\""), null
// is skipped. Arrays are skipped for Service Bus triggers (the script host's
// ApplyBindingData) and passed as JSON text for HTTP triggers (the HTTP
// extension's). A body that is not a JSON object adds nothing.
func (m metadata) applyBodyBindingData(body []byte, arrays bool) {
	t := bytes.TrimSpace(body)
	if len(t) < 2 || t[0] != '{' {
		return
	}
	var props map[string]json.RawMessage
	if json.Unmarshal(t, &props) != nil {
		return
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the object's order is lost; sorted keeps envelopes reproducible
	for _, k := range keys {
		v := props[k]
		switch v[0] {
		case '{':
			m.set(k, v)
		case '[':
			if arrays {
				var compact bytes.Buffer
				_ = json.Compact(&compact, v)
				m.set(k, marshal(compact.String()))
			}
		case 'n':
			// null: the host's value is null, and null values are omitted.
		default:
			m.set(k, twice(dotnetScalar(v)))
		}
	}
}

// dotnetScalar is (string)JValue for a JSON scalar: a string's value, "True" /
// "False", an integer's digits, or a double as .NET Core formats it.
func dotnetScalar(raw []byte) string {
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case 't':
		return "True"
	case 'f':
		return "False"
	}
	if !bytes.ContainsAny(raw, ".eE") {
		return string(raw)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return string(raw)
	}
	return dotnetDouble(f)
}

// dotnetDouble formats f as .NET Core's double.ToString(): shortest round-trip
// digits, fixed notation for exponents -4..14, otherwise "1.5E+15" style.
func dotnetDouble(f float64) string {
	if f == 0 {
		if 1/f < 0 {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	n, _ := strconv.Atoi(exp)
	if n >= -4 && n < 15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	sign := "+"
	if n < 0 {
		sign, n = "-", -n
	}
	d := strconv.Itoa(n)
	if len(d) < 2 {
		d = "0" + d
	}
	return mant + "E" + sign + d
}
