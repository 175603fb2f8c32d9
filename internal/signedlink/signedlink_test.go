package signedlink

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func signer(t *testing.T, b byte) *Signer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{b}, MinKeyBytes))
	require.NoError(t, err)
	return s
}

func TestAckTokenVerifiesOnlyItsOwnIncidentPersonAndExpiry(t *testing.T) {
	s := signer(t, 'k')
	const id, person, expires = "INC-7Q2", "amara", int64(1800000000)
	tok := s.AckToken(id, person, expires)
	require.NotEmpty(t, tok)
	require.Equal(t, tok, s.AckToken(id, person, expires), "deterministic")
	require.True(t, s.CheckAckToken(id, person, expires, tok))

	for name, c := range map[string]struct {
		id, person string
		expires    int64
	}{
		"other incident":              {"INC-7Q3", person, expires},
		"incident in other case":      {"inc-7q2", person, expires},
		"empty incident":              {"", person, expires},
		"other person":                {id, "ben", expires},
		"person in other case":        {id, "Amara", expires},
		"empty person":                {id, "", expires},
		"later expiry":                {id, person, expires + 1},
		"earlier expiry":              {id, person, expires - 1},
		"no expiry":                   {id, person, 0},
		"negative expiry":             {id, person, -expires},
		"person and incident swapped": {person, id, expires},
		"person moved into incident":  {id + person, "", expires},
		"expiry moved into person":    {id, person + strconv.FormatInt(expires, 10), 0},
	} {
		require.False(t, s.CheckAckToken(c.id, c.person, c.expires, tok), name)
		require.NotEqual(t, tok, s.AckToken(c.id, c.person, c.expires), name)
	}

	for name, bad := range map[string]string{
		"empty":         "",
		"truncated":     tok[:len(tok)-1],
		"extended":      tok + "A",
		"padded":        tok + "=",
		"one char off":  flip(tok, 5),
		"last char off": flip(tok, len(tok)-1),
		"upper-cased":   strings.ToUpper(tok),
		"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(tok),
	} {
		if bad == tok {
			continue // e.g. a token with no letters to upper-case
		}
		require.False(t, s.CheckAckToken(id, person, expires, bad), name)
	}
}

func TestCaseTokenVerifiesOnlyItsOwnCase(t *testing.T) {
	s := signer(t, 'k')
	tok := s.CaseToken("CASE-42")
	require.True(t, s.CheckCaseToken("CASE-42", tok))
	for _, other := range []string{"CASE-43", "case-42", "CASE-4", "CASE-420", ""} {
		require.False(t, s.CheckCaseToken(other, tok), other)
	}
	require.False(t, s.CheckCaseToken("CASE-42", ""))
	require.False(t, s.CheckCaseToken("CASE-42", tok[:len(tok)-1]))
	require.False(t, s.CheckCaseToken("CASE-42", flip(tok, 0)))
}

// TestPurposesNeverCross: a case token never acknowledges, and an acknowledge token
// never opens a case, even for the same subject.
func TestPurposesNeverCross(t *testing.T) {
	s := signer(t, 'k')
	for _, id := range []string{"INC-7Q2", "CASE-42", "", "a"} {
		for _, person := range []string{"", "amara"} {
			for _, expires := range []int64{0, 1800000000} {
				ack := s.AckToken(id, person, expires)
				cs := s.CaseToken(id)
				require.False(t, s.CheckAckToken(id, person, expires, cs), "case token of %q acknowledges", id)
				require.False(t, s.CheckCaseToken(id, ack), "ack token of %q opens its case", id)
				require.False(t, s.CheckCaseToken(id, ack[:len(cs)]), "ack token prefix of %q opens its case", id)
				require.NotEqual(t, ack[:len(cs)], cs)

				// The case id spelled as the acknowledge token's own subject.
				subject := strconv.Itoa(len(id)) + ":" + id + strconv.Itoa(len(person)) + ":" + person + strconv.FormatInt(expires, 10)
				require.False(t, s.CheckCaseToken(subject, ack))
				require.False(t, s.CheckAckToken(id, person, expires, s.CaseToken(subject)))
			}
		}
	}
}

func TestDifferentKeysGiveDifferentTokens(t *testing.T) {
	a, b := signer(t, 'a'), signer(t, 'b')
	require.NotEqual(t, a.CaseToken("CASE-42"), b.CaseToken("CASE-42"))
	require.NotEqual(t, a.AckToken("INC-1", "amara", 1800000000), b.AckToken("INC-1", "amara", 1800000000))
	require.False(t, b.CheckCaseToken("CASE-42", a.CaseToken("CASE-42")))
	require.False(t, b.CheckAckToken("INC-1", "amara", 1800000000, a.AckToken("INC-1", "amara", 1800000000)))

	// Keys differing in one bit, or one being a prefix of the other, differ too.
	k1 := bytes.Repeat([]byte{'a'}, MinKeyBytes)
	k2 := append(bytes.Repeat([]byte{'a'}, MinKeyBytes-1), 'a'^1)
	k3 := append(bytes.Repeat([]byte{'a'}, MinKeyBytes), 'a')
	var toks []string
	for _, k := range [][]byte{k1, k2, k3} {
		s, err := New(k)
		require.NoError(t, err)
		toks = append(toks, s.CaseToken("CASE-42"))
	}
	require.NotEqual(t, toks[0], toks[1])
	require.NotEqual(t, toks[0], toks[2])
}

func TestNewCopiesTheKey(t *testing.T) {
	key := bytes.Repeat([]byte{'k'}, MinKeyBytes)
	s, err := New(key)
	require.NoError(t, err)
	before := s.CaseToken("CASE-42")
	for i := range key {
		key[i] = 0
	}
	require.Equal(t, before, s.CaseToken("CASE-42"), "changing the caller's slice must not change the signer's key")
}

func TestShortKeysAreRefused(t *testing.T) {
	for _, n := range []int{0, 1, 16, MinKeyBytes - 1} {
		s, err := New(bytes.Repeat([]byte{'k'}, n))
		require.Error(t, err, "%d bytes", n)
		require.Nil(t, s)
		require.Contains(t, err.Error(), "at least 32 bytes")
	}
	require.Error(t, func() error { _, err := New(nil); return err }())
	for _, n := range []int{MinKeyBytes, 64} {
		_, err := New(bytes.Repeat([]byte{'k'}, n))
		require.NoError(t, err, "%d bytes", n)
	}
}

func TestParseKey(t *testing.T) {
	// 32 bytes whose encodings use '+' and '/' (or '-' and '_') and need padding, so
	// the four encodings all differ.
	key := bytes.Repeat([]byte{0xfb, 0xef, 0xbe, 0xff}, 8)
	std := base64.StdEncoding.EncodeToString(key)
	require.Contains(t, std, "+")
	require.Contains(t, std, "/")
	require.True(t, strings.HasSuffix(std, "="))

	for name, enc := range map[string]*base64.Encoding{
		"standard, padded":   base64.StdEncoding,
		"standard, unpadded": base64.RawStdEncoding,
		"URL, padded":        base64.URLEncoding,
		"URL, unpadded":      base64.RawURLEncoding,
	} {
		got, err := ParseKey(enc.EncodeToString(key))
		require.NoError(t, err, name)
		require.Equal(t, key, got, name)
		_, err = New(got)
		require.NoError(t, err, name)
	}

	// A key of every length modulo 3, so every padding case is covered.
	for n := MinKeyBytes; n < MinKeyBytes+3; n++ {
		k := bytes.Repeat([]byte{0xfe}, n)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			got, err := ParseKey(enc.EncodeToString(k))
			require.NoError(t, err, "%d bytes", n)
			require.Equal(t, k, got)
		}
	}

	for _, bad := range []string{
		"not base64!",
		"@@@@",
		"abc$",
		"a",                                // impossible length
		"ab+-",                             // standard and URL alphabets mixed
		"ab/_",                             // likewise
		"YWJj=",                            // wrong padding
		"YW=Jj",                            // padding in the middle
		"k" + strings.Repeat("\u00e9", 43), // not ASCII
	} {
		k, err := ParseKey(bad)
		require.Error(t, err, bad)
		require.Nil(t, k, bad)
		require.Contains(t, err.Error(), "not base64")
	}

	// An empty setting decodes to no key at all, which New then refuses.
	k, err := ParseKey("")
	if err == nil {
		_, err = New(k)
	}
	require.Error(t, err)
}

// flip changes the token's i-th character to another base64url character.
func flip(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestAckLinkLifetimeIsBounded(t *testing.T) {
	s, err := New(make([]byte, 32))
	require.NoError(t, err)
	now := time.Unix(1800000000, 0)
	link := func(exp time.Time) error {
		return s.CheckAckLink("INC-1", "amara", exp.Unix(), s.AckToken("INC-1", "amara", exp.Unix()), now)
	}
	require.NoError(t, link(now.Add(24*time.Hour)), "a page's own lifetime")
	require.NoError(t, link(now.Add(MaxAckLifetime)))
	require.ErrorIs(t, link(now.Add(MaxAckLifetime+time.Second)), ErrLinkInvalid, "longer than any page gives")
	require.ErrorIs(t, link(now.Add(-time.Second)), ErrLinkExpired)
	require.ErrorIs(t, s.CheckAckLink("INC-1", "amara", now.Unix()+60, "nope", now), ErrLinkInvalid)
	require.ErrorIs(t, s.CheckAckLink("INC-1", "", now.Unix()+60, s.AckToken("INC-1", "", now.Unix()+60), now), ErrLinkInvalid, "no person")
}
