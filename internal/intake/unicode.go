package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"vigil/internal/fault"
)

// CheckUnicode refuses a JSON body whose text is not valid UTF-8, or that escapes
// half of a UTF-16 surrogate pair. Go's decoder would quietly turn either into
// U+FFFD, and Vigil would store and show text the sender never wrote. The error
// names the field the bad text is in, and where.
//
// Text people write (case reports, generic alerts, responder requests) is also
// refused when it holds U+FFFD: the host replaced bytes that were not UTF-8
// with it before Vigil saw them.
func CheckUnicode(body []byte) error { return checkUnicode(body, true) }

func checkUnicode(body []byte, replacementIsBad bool) error {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) && (!replacementIsBad || !bytes.Contains(body, replacement)) {
		return nil
	}
	bad, why := firstBadText(body, replacementIsBad)
	if bad < 0 {
		return nil
	}
	field, inKey, ok := fieldAt(body, bad)
	if !ok {
		// The JSON breaks before the bad text: the syntax error is the first
		// problem, and decoding reports it.
		return nil
	}
	line := 1 + bytes.Count(body[:bad], []byte{'\n'})
	col := bad - bytes.LastIndexByte(body[:bad], '\n')
	where := fmt.Sprintf("%s at line %d, column %d", why, line, col)
	if inKey {
		if field == "" {
			return fault.InvalidField("", "body has a member name that is not valid UTF-8 text: %s; send text as UTF-8", where)
		}
		return fault.InvalidField(field, "has a member name that is not valid UTF-8 text: %s; send text as UTF-8", where)
	}
	return fault.InvalidField(field, "is not valid UTF-8 text: %s; send text as UTF-8", where)
}

// replacement is U+FFFD in UTF-8.
var replacement = []byte("\uFFFD")

// replaced says what U+FFFD means here: the Functions host (and vigil local,
// which plays it) turns bytes that are not UTF-8 into it before Vigil sees the
// body, so text holding it was not valid UTF-8 as sent.
const replaced = "U+FFFD, which is what the host makes of bytes that are not UTF-8,"

// firstBadText returns the offset of the first byte that is not UTF-8, of the
// first escape of an unpaired surrogate inside a string, or of U+FFFD, and what
// is wrong there; -1 when the text is sound.
func firstBadText(b []byte, replacementIsBad bool) (int, string) {
	inString := false
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, fmt.Sprintf("byte 0x%02X does not start a UTF-8 character", c)
			}
			if r == utf8.RuneError && replacementIsBad {
				return i, "character " + replaced + " found"
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			inString = !inString
			i++
		case c == '\\' && inString && i+1 < len(b) && b[i+1] == 'u':
			r, ok := hex4(b, i+2)
			if ok && r == utf8.RuneError && replacementIsBad {
				return i, fmt.Sprintf("escape %s is %s", b[i:i+6], replaced[:len(replaced)-1])
			}
			if !ok || !utf16.IsSurrogate(r) {
				i += 2 // a malformed escape is the decoder's to report
				continue
			}
			if r >= 0xDC00 {
				return i, fmt.Sprintf("escape %s is the second half of a surrogate pair without its first", b[i:i+6])
			}
			if next, ok := hex4(b, i+8); i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' && ok && next >= 0xDC00 && next <= 0xDFFF {
				i += 12
				continue
			}
			return i, fmt.Sprintf("escape %s is the first half of a surrogate pair without its second", b[i:i+6])
		case c == '\\' && inString:
			i += 2
		default:
			i++
		}
	}
	return -1, ""
}

// hex4 reads the four hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// fieldAt finds the JSON path of the member name or value whose text holds the
// byte at offset bad, in the same notation as the parsers' errors
// (data.essentials.alertRule, tenants[1]). ok is false when the JSON is broken
// before reaching it.
func fieldAt(body []byte, bad int) (field string, inKey, ok bool) {
	type frame struct {
		object  bool
		key     string
		index   int
		wantKey bool
	}
	var stack []frame
	path := func(withKey bool) string {
		var b bytes.Buffer
		for i, f := range stack {
			last := i == len(stack)-1
			switch {
			case f.object && (!last || withKey):
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.object:
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		return b.String()
	}
	done := func() { // a value ended: its container moves on
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false, false
		}
		past := int(dec.InputOffset()) > bad
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].wantKey {
			if k, isKey := tok.(string); isKey {
				if past {
					return path(false), true, true
				}
				stack[top].key, stack[top].wantKey = k, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, frame{object: tok == json.Delim('{'), wantKey: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			if past {
				return path(true), false, true
			}
			done()
		}
	}
}
