// Package intake turns what monitors and customers send into Vigil's own types:
// Azure Monitor alerts in the common alert schema, alerts from any tool that can
// post the generic webhook, and case reports from the support-portal form.
//
// The parsers are pure functions: bytes in, a value or a *fault.Error out. Every
// error names the JSON path of the offending field and says what was expected, so
// that a handler can hand it back to the sender unchanged.
package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/fault"
)

const (
	// MaxAlertBytes is Azure Monitor's payload limit; generic alerts get the same.
	MaxAlertBytes = 256 << 10
	// MaxCaseBytes bounds a case report, which is typed by a person.
	MaxCaseBytes = 64 << 10
)

var (
	// tenantPattern is a Vigil tenant id, as the support portal and tenant config use it.
	tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// componentPattern is a catalog component name.
	componentPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
)

// checkSize rejects bodies over limit (TooLarge) and bodies with nothing in them.
// what names the payload in messages ("Azure Monitor alert").
func checkSize(body []byte, limit int, what string) error {
	if len(body) > limit {
		return fault.New(fault.TooLarge, "%s is %d bytes; the limit is %d bytes (%d KiB)", what, len(body), limit, limit>>10)
	}
	if len(trimJSONSpace(body)) == 0 {
		return fault.InvalidField("", "body is empty: send the %s as a JSON object", what)
	}
	return nil
}

// decodeObject parses body as exactly one JSON object. Numbers stay json.Number so
// that thresholds and counts keep their exact text and a type check can tell 3 from "3".
// written says people wrote the text (not Azure Monitor, which may quote text
// that already held U+FFFD): then U+FFFD is refused too (CheckUnicode).
func decodeObject(body []byte, written bool) (object, error) {
	if err := checkUnicode(body, written); err != nil {
		return object{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return object{}, notJSON(body, int(syn.Offset)-1, syn.Error())
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return object{}, notJSON(body, len(body), "unexpected end of input")
		default:
			return object{}, fault.InvalidField("", "body is not valid JSON: %v", err)
		}
	}
	if rest := int(dec.InputOffset()); len(trimJSONSpace(body[rest:])) > 0 {
		off := rest + (len(body[rest:]) - len(trimJSONSpace(body[rest:])))
		return object{}, notJSON(body, off, "unexpected data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return object{}, fault.InvalidField("", "body must be a JSON object, got %s", jsonType(v))
	}
	return object{m: m}, nil
}

// notJSON reports a syntax problem with its line and column (1-based, bytes), which is
// what a sender needs to find it in a hand-written payload.
func notJSON(body []byte, off int, msg string) error {
	off = max(0, min(off, len(body)))
	line := 1 + bytes.Count(body[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(body[:off], '\n')
	msg = strings.TrimPrefix(msg, "json: ")
	return fault.InvalidField("", "body is not valid JSON: %s at line %d, column %d", msg, line, col)
}

// trimJSONSpace trims the four whitespace bytes JSON allows, and nothing else.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// object is a decoded JSON object together with its path from the root, so that
// every problem found in it names the exact field a sender must fix.
type object struct {
	path string
	m    map[string]any
}

// at is the JSON path of key inside o.
func (o object) at(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// present reports whether key is there and not null.
func (o object) present(key string) bool {
	v, ok := o.m[key]
	return ok && v != nil
}

// str returns the trimmed string at key: "" when absent or null, Invalid when the
// value is not a string. Use it where the sender controls the schema.
func (o object) str(key string) (string, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fault.InvalidField(o.at(key), "must be a string, got %s", jsonType(v))
	}
	return strings.TrimSpace(s), nil
}

// requiredStr is str for a field that must be present and non-blank.
func (o object) requiredStr(key string) (string, error) {
	s, err := o.str(key)
	if err != nil {
		return "", err
	}
	if s == "" {
		if o.present(key) {
			return "", fault.InvalidField(o.at(key), "must not be empty")
		}
		return "", fault.InvalidField(o.at(key), "is required")
	}
	return s, nil
}

// child returns the object at key. ok is false when it is absent or null; a value
// of another type is Invalid.
func (o object) child(key string) (obj object, ok bool, err error) {
	obj = object{path: o.at(key)}
	v, found := o.m[key]
	if !found || v == nil {
		return obj, false, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return obj, false, fault.InvalidField(o.at(key), "must be an object, got %s", jsonType(v))
	}
	obj.m = m
	return obj, true, nil
}

// The lenient accessors below read payloads whose shape we do not control (Azure's
// alertContext): a missing or mistyped value reads as empty instead of failing.

// get looks key up exactly, then ignoring case: Azure spells some log-alert keys
// inconsistently (SearchIntervalEndtimeUtc). Among several case-insensitive matches
// the smallest key wins, so the result does not depend on map order.
func (o object) get(key string) any {
	if v, ok := o.m[key]; ok {
		return v
	}
	best := ""
	var found any
	for k, v := range o.m {
		if strings.EqualFold(k, key) && (found == nil || k < best) {
			best, found = k, v
		}
	}
	return found
}

// sub returns the object at key, or an empty one.
func (o object) sub(key string) object {
	m, _ := o.get(key).(map[string]any)
	return object{path: o.at(key), m: m}
}

// list returns the array at key, or nil.
func (o object) list(key string) []any {
	l, _ := o.get(key).([]any)
	return l
}

// text returns the scalar at key as trimmed text: strings as they are, numbers as
// written, booleans as true/false; anything else is "".
func (o object) text(key string) string { return scalarText(o.get(key)) }

// num returns the number at key as text, normalised so that 3.0 and "3" both read 3.
// Azure sends some thresholds as strings ("threshold": "0").
func (o object) num(key string) string { return numberText(o.get(key)) }

func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return numberText(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func numberText(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
	case json.Number:
		s = v.String()
	default:
		return scalarText(v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return s
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e15) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// jsonType names the JSON type of a decoded value for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// parseTime reads an RFC 3339 time, with any number of fractional digits (Azure
// sends seven). A time without a zone is taken as UTC, which is what Azure means.
// Times are returned in UTC and limited to years that JSON can carry back out.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	}
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	if y := t.Year(); y < 1970 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// runes counts the characters of s, which is what a person means by length.
func runes(s string) int { return utf8.RuneCountInString(s) }

// cut shortens s to at most n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

// oneLine folds every run of whitespace and control characters into one space,
// for text that lands in a title.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// hasControl reports control characters, which have no place in a one-line field.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// appendUnique appends the non-empty values of vs that are not in list yet.
func appendUnique(list []string, vs ...string) []string {
	for _, v := range vs {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}
