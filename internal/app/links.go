package app

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"vigil/internal/signedlink"
)

// Links makes every URL Vigil sends people: the responder API's incident and
// case addresses, the customer's private case link, a page's signed
// acknowledge link.
type Links struct {
	// Base is the public URL the app is reached at, without a trailing slash.
	Base   string
	Signer *signedlink.Signer
}

func (l Links) api(parts ...string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(l.Base, "/"))
	b.WriteString("/api")
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// Incident is where a responder opens an incident.
func (l Links) Incident(id string) string { return l.api("incidents", id) }

// IncidentsByDedupKey lists the incidents opened for a dedup key.
func (l Links) IncidentsByDedupKey(key string) string {
	return l.api("incidents") + "?" + url.Values{"dedupKey": {key}}.Encode()
}

// Case is where a responder opens a case.
func (l Links) Case(id string) string { return l.api("cases", id) }

// CustomerCase is the reporter's private link to their case, and the token in
// it: the only credential it needs, so it is given to the reporter alone.
func (l Links) CustomerCase(id string) (link, token string) {
	token = l.Signer.CaseToken(id)
	return l.Case(id) + "?token=" + url.QueryEscape(token), token
}

// Ack is the signed link in a page that acknowledges an incident as person
// until expires.
func (l Links) Ack(incidentID, person string, expires time.Time) string {
	exp := expires.Unix()
	return l.api("ack", incidentID) + "?" + url.Values{
		"person":  {person},
		"expires": {strconv.FormatInt(exp, 10)},
		"token":   {l.Signer.AckToken(incidentID, person, exp)},
	}.Encode()
}
