package funchost

// The invocation envelope, written by hand rather than with encoding/json: it
// is built on every request of the intake path, and its exact encoding matters
// (strings JSON-encoded twice, integers as strings, .NET date formats), which is
// easier to get right, and to read, as explicit appends than as struct tags.
//
// Every rule here mirrors the real host's ScriptInvocationContextExtensions.
// GetHttpScriptInvocationContextValue and Newtonsoft.Json's defaults; see
// docs/azure-contracts.md §1.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal, escaped as
// Newtonsoft.Json escapes by default: control characters, '"', '\\', U+0085,
// U+2028 and U+2029; nothing else (no HTML escaping). Invalid UTF-8 becomes
// U+FFFD, as .NET's UTF-8 decoder makes it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONChars(b, s)
	return append(b, '"')
}

// appendJSONChars appends the escaped characters of s, without the quotes.
func appendJSONChars(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
		case r == 0x85 || r == 0x2028 || r == 0x2029:
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', hexDigits[r>>12], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// appendStringTwice appends the JSON string whose value is the JSON string
// literal of s: how the host passes every string-typed value ("\"hello\"").
func appendStringTwice(b []byte, s string) []byte {
	var scratch [128]byte
	inner := appendJSONString(scratch[:0], s)
	return appendJSONString(b, string(inner))
}

// appendDateTime appends a UTC DateTime after the host's ToString/Parse round trip:
// seconds precision, no zone ("2026-11-20T10:15:02").
func appendDateTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05")
	return append(b, '"')
}

// appendDateTimeOffset appends a DateTimeOffset after the same round trip
// ("2026-11-20T10:15:02+00:00").
func appendDateTimeOffset(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05+00:00")
	return append(b, '"')
}

// appendUTCTime appends a UTC DateTime inside a serialised object (sys.UtcNow,
// ScheduleStatus): Newtonsoft's round-trip format, 100 ns ticks, trailing zeros
// trimmed ("2026-11-06T10:15:03.1234567Z").
func appendUTCTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().Truncate(100*time.Nanosecond).AppendFormat(b, "2006-01-02T15:04:05.9999999Z07:00")
	return append(b, '"')
}

// appendBase64 appends bytes as Newtonsoft serialises a byte[]: a base64 string.
func appendBase64(b []byte, p []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// appendSys appends the "sys" binding data object.
func appendSys(b []byte, method string, now time.Time, randGUID string) []byte {
	b = append(b, `{"MethodName":`...)
	b = appendJSONString(b, method)
	b = append(b, `,"UtcNow":`...)
	b = appendUTCTime(b, now)
	b = append(b, `,"RandGuid":`...)
	b = appendJSONString(b, randGUID)
	return append(b, '}')
}

// metadata is the invocation's binding data: an ordered map with the host's
// case-insensitive keys (a later key replaces an earlier one that differs only
// in case, keeping the earlier spelling). Values are raw JSON, kept in one arena.
type metadata struct {
	arena   []byte
	entries []metaEntry
}

type metaEntry struct {
	key        string
	start, end int
}

func (m *metadata) reset() {
	m.arena = m.arena[:0]
	m.entries = m.entries[:0]
}

func (m *metadata) find(key string) int {
	for i := range m.entries {
		if strings.EqualFold(m.entries[i].key, key) {
			return i
		}
	}
	return -1
}

func (m *metadata) has(key string) bool { return m.find(key) >= 0 }

// put records the value appended to the arena since start.
func (m *metadata) put(key string, start int) {
	e := metaEntry{key: key, start: start, end: len(m.arena)}
	if i := m.find(key); i >= 0 {
		e.key = m.entries[i].key
		m.entries[i] = e
		return
	}
	m.entries = append(m.entries, e)
}

func (m *metadata) setRaw(key string, raw []byte) {
	start := len(m.arena)
	m.arena = append(m.arena, raw...)
	m.put(key, start)
}

// setString records a string value, which the host encodes twice.
func (m *metadata) setString(key, v string) {
	start := len(m.arena)
	m.arena = appendStringTwice(m.arena, v)
	m.put(key, start)
}

// setInt records an integer, which the host passes as a string ("1").
func (m *metadata) setInt(key string, v int64) {
	start := len(m.arena)
	m.arena = append(m.arena, '"')
	m.arena = strconv.AppendInt(m.arena, v, 10)
	m.arena = append(m.arena, '"')
	m.put(key, start)
}

func (m *metadata) setDateTime(key string, t time.Time) {
	start := len(m.arena)
	m.arena = appendDateTime(m.arena, t)
	m.put(key, start)
}

func (m *metadata) setDateTimeOffset(key string, t time.Time) {
	start := len(m.arena)
	m.arena = appendDateTimeOffset(m.arena, t)
	m.put(key, start)
}

// setStringMap records a string dictionary, which the host passes as an object.
func (m *metadata) setStringMap(key string, kv map[string]string) {
	start := len(m.arena)
	m.arena = append(m.arena, '{')
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			m.arena = append(m.arena, ',')
		}
		m.arena = appendJSONString(m.arena, k)
		m.arena = append(m.arena, ':')
		m.arena = appendJSONString(m.arena, kv[k])
	}
	m.arena = append(m.arena, '}')
	m.put(key, start)
}

func (m *metadata) setSys(method string, now time.Time, randGUID string) {
	start := len(m.arena)
	m.arena = appendSys(m.arena, method, now, randGUID)
	m.put("sys", start)
}

// appendTo writes the metadata object. Keys ending in "trigger" are left out,
// as the host leaves them out ("Data will include value of the trigger").
func (m *metadata) appendTo(b []byte) []byte {
	b = append(b, '{')
	first := true
	for _, e := range m.entries {
		if len(e.key) >= 7 && strings.EqualFold(e.key[len(e.key)-7:], "trigger") {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, e.key)
		b = append(b, ':')
		b = append(b, m.arena[e.start:e.end]...)
	}
	return append(b, '}')
}

// applyBodyBindingData copies the top-level properties of a JSON object body
// into the metadata, as the host does to make them usable in binding
// expressions: nested objects stay objects, scalars become strings (and are
// then encoded twice like every string: 42 → "\"42\"", true → "\"True\""), null
// is skipped. Arrays are skipped for Service Bus triggers (the script host's
// ApplyBindingData) and passed as JSON text for HTTP triggers (the HTTP
// extension's). A body that is not a JSON object adds nothing.
func (m *metadata) applyBodyBindingData(body []byte, arrays bool) {
	t := bytes.TrimSpace(body)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
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
	slices.Sort(keys) // JSON objects are unordered; sorted keeps envelopes reproducible
	for _, k := range keys {
		v := props[k]
		switch v[0] {
		case '{':
			start := len(m.arena)
			buf := bytes.NewBuffer(m.arena)
			if json.Compact(buf, v) != nil {
				continue
			}
			m.arena = buf.Bytes()
			m.put(k, start)
		case '[':
			if !arrays {
				continue
			}
			var buf bytes.Buffer
			if json.Compact(&buf, v) != nil {
				continue
			}
			start := len(m.arena)
			m.arena = appendJSONString(m.arena, buf.String())
			m.put(k, start)
		case 'n':
			// null: the host's value is null, and null values are omitted.
		default:
			m.setString(k, dotnetScalar(v))
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
