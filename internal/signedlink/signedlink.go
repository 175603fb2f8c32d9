// Package signedlink makes and checks the unguessable tokens in links Vigil hands
// out: a customer's private case link, and (later) acknowledge-from-a-page links.
// Tokens are HMAC-SHA256 over a purpose and the subject, so nothing is stored and a
// token for one purpose never works for another.
package signedlink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"time"
)

// MaxAckLifetime bounds how long an acknowledge link may work: a link claiming
// an expiry further ahead was not made by Vigil's pages (they give 24 hours),
// whatever its signature, and is refused, so a leaked signing key cannot mint
// links that never expire.
const MaxAckLifetime = 25 * time.Hour

// Why an acknowledge link is refused.
var (
	ErrLinkInvalid = errors.New("this acknowledge link is not valid")
	ErrLinkExpired = errors.New("this acknowledge link has expired")
)

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// Signer signs and verifies tokens with one secret key.
type Signer struct{ key []byte }

// New returns a signer; the key must be at least MinKeyBytes of secret randomness.
func New(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, errors.New("signing key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// ParseKey decodes a base64 (standard or URL alphabet) key as kept in settings.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("signing key is not base64")
}

func (s *Signer) mac(purpose, subject string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	return m.Sum(nil)
}

// CaseToken is the token of a customer's private link to one case.
func (s *Signer) CaseToken(caseID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("case-link", caseID)[:18])
}

// CheckCaseToken reports, in constant time, whether token opens caseID.
func (s *Signer) CheckCaseToken(caseID, token string) bool {
	return hmac.Equal([]byte(s.CaseToken(caseID)), []byte(token))
}

// AckToken is the token of a page's acknowledge link: it acknowledges one incident,
// as one person, until expires (Unix seconds), and nothing else.
func (s *Signer) AckToken(incidentID, person string, expires int64) string {
	// Length-prefixed, so no (incident, person) pair can be re-split into another.
	subject := strconv.Itoa(len(incidentID)) + ":" + incidentID + strconv.Itoa(len(person)) + ":" + person + strconv.FormatInt(expires, 10)
	return base64.RawURLEncoding.EncodeToString(s.mac("ack-link", subject)[:24])
}

// CheckAckToken reports, in constant time, whether token is the acknowledge token
// for this incident, person and expiry. The caller checks the expiry itself.
func (s *Signer) CheckAckToken(incidentID, person string, expires int64, token string) bool {
	return hmac.Equal([]byte(s.AckToken(incidentID, person, expires)), []byte(token))
}

// CheckAckLink reports whether an acknowledge link is genuine and in force at
// now: signed for this incident, person and expiry, not expired, and not
// claiming to last longer than MaxAckLifetime.
func (s *Signer) CheckAckLink(incidentID, person string, expires int64, token string, now time.Time) error {
	switch {
	case token == "" || person == "" || !s.CheckAckToken(incidentID, person, expires, token):
		return ErrLinkInvalid
	case time.Unix(expires, 0).After(now.Add(MaxAckLifetime)):
		return ErrLinkInvalid
	case now.Unix() > expires:
		return ErrLinkExpired
	}
	return nil
}
