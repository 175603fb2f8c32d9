package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const (
	maxGenericSummary = 1024
	maxGenericDetails = 64 << 10
	maxEventID        = 128
	maxLinks          = 20
	maxLinkTitle      = 200
	maxTenants        = 100
)

var sourcePattern = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// genericSignal maps the generic webhook's severities, in lowercase, onto Vigil's.
var genericSignal = map[string]incident.Severity{
	"critical": incident.Sev1, "error": incident.Sev2, "warning": incident.Sev3, "info": incident.Sev4,
	"sev1": incident.Sev1, "sev2": incident.Sev2, "sev3": incident.Sev3, "sev4": incident.Sev4,
}

// ParseGeneric reads an alert posted to the generic webhook by any tool that can
// send JSON. Unlike Azure's payload, its schema is ours, so it is checked strictly:
// each problem is reported with the field to fix. Unknown fields are ignored so
// that senders may include extra data.
func ParseGeneric(body []byte) (incident.Alert, error) {
	if err := checkSize(body, MaxAlertBytes, "alert"); err != nil {
		return incident.Alert{}, err
	}
	o, err := decodeObject(body, true)
	if err != nil {
		return incident.Alert{}, err
	}
	var a incident.Alert

	if a.Summary, err = o.requiredStr("summary"); err != nil {
		return a, err
	}
	if n := runes(a.Summary); n > maxGenericSummary {
		return a, fault.InvalidField("summary", "is %d characters long; the limit is %d (put the rest in details)", n, maxGenericSummary)
	}
	if a.Details, err = o.str("details"); err != nil {
		return a, err
	}
	if n := len(a.Details); n > maxGenericDetails {
		return a, fault.InvalidField("details", "is %d bytes; the limit is %d bytes (64 KiB)", n, maxGenericDetails)
	}
	// status comes before dedupKey because it decides whether dedupKey is required.
	if a.Status, err = genericStatus(o); err != nil {
		return a, err
	}
	if a.DedupKey, err = o.str("dedupKey"); err != nil {
		return a, err
	}
	if n := runes(a.DedupKey); n > maxDedupKey {
		return a, fault.InvalidField("dedupKey", "is %d characters long; the limit is %d", n, maxDedupKey)
	}
	if a.DedupKey == "" && a.Status == incident.AlertResolved {
		return a, fault.InvalidField("dedupKey", "is required when status is resolved: send the dedupKey the firing alert used, so Vigil knows which alert cleared")
	}
	if a.SourceSeverity, err = o.requiredStr("severity"); err != nil {
		return a, err
	}
	var ok bool
	if a.Signal, ok = genericSignal[strings.ToLower(a.SourceSeverity)]; !ok {
		return a, fault.InvalidField("severity", "is %q, want one of critical, error, warning, info, or sev1 to sev4 (any case)", cut(a.SourceSeverity, 50))
	}
	if a.Component, err = o.str("component"); err != nil {
		return a, err
	}
	if a.Component != "" && !componentPattern.MatchString(a.Component) {
		return a, fault.InvalidField("component", "is %q, want a catalog component name: 1 to 64 lowercase letters, digits or '-'", cut(a.Component, 80))
	}
	source, err := o.requiredStr("source")
	if err != nil {
		return a, err
	}
	if !sourcePattern.MatchString(source) {
		return a, fault.InvalidField("source", "is %q, want 1 to 64 lowercase letters, digits, '.', '_' or '-' naming the sending tool", cut(source, 80))
	}
	a.Source = "generic:" + source
	if a.Tenants, err = genericTenants(o); err != nil {
		return a, err
	}
	if a.Links, err = genericLinks(o); err != nil {
		return a, err
	}
	if a.ID, err = o.str("eventId"); err != nil {
		return a, err
	}
	if n := runes(a.ID); n > maxEventID {
		return a, fault.InvalidField("eventId", "is %d characters long; the limit is %d", n, maxEventID)
	}
	ts, err := o.str("timestamp")
	if err != nil {
		return a, err
	}
	if ts != "" {
		t, ok := parseTime(ts)
		if !ok {
			return a, fault.InvalidField("timestamp", "is %q, want an RFC 3339 time such as 2026-11-06T10:12:44Z", cut(ts, 50))
		}
		if a.Status == incident.AlertResolved {
			a.ResolvedAt = t
		} else {
			a.FiredAt = t
		}
	}

	if a.DedupKey == "" {
		// Without a key, repeats of the same summary from the same tool fold together.
		sum := sha256.Sum256([]byte(a.Summary))
		a.DedupKey = a.Source + ":" + hex.EncodeToString(sum[:])[:16]
	}
	return a, nil
}

func genericStatus(o object) (incident.AlertStatus, error) {
	s, err := o.str("status")
	if err != nil {
		return "", err
	}
	switch strings.ToLower(s) {
	case "", "firing":
		return incident.AlertFiring, nil
	case "resolved":
		return incident.AlertResolved, nil
	}
	return "", fault.InvalidField("status", "is %q, want firing or resolved (default firing)", cut(s, 50))
}

func genericTenants(o object) ([]string, error) {
	v, ok := o.m["tenants"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fault.InvalidField("tenants", "must be an array of tenant ids, got %s", jsonType(v))
	}
	if len(list) > maxTenants {
		return nil, fault.InvalidField("tenants", "has %d entries; the limit is %d", len(list), maxTenants)
	}
	var out []string
	for i, v := range list {
		field := fmt.Sprintf("tenants[%d]", i)
		s, isStr := v.(string)
		if !isStr {
			return nil, fault.InvalidField(field, "must be a string, got %s", jsonType(v))
		}
		s = strings.TrimSpace(s)
		if !tenantPattern.MatchString(s) {
			return nil, fault.InvalidField(field, "is %q, want a tenant id: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters", cut(s, 80))
		}
		out = appendUnique(out, s)
	}
	return out, nil
}

func genericLinks(o object) ([]incident.Link, error) {
	v, ok := o.m["links"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fault.InvalidField("links", "must be an array of {title, url} objects, got %s", jsonType(v))
	}
	if len(list) > maxLinks {
		return nil, fault.InvalidField("links", "has %d entries; the limit is %d", len(list), maxLinks)
	}
	var out []incident.Link
	for i, v := range list {
		field := fmt.Sprintf("links[%d]", i)
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, fault.InvalidField(field, "must be an object with title and url, got %s", jsonType(v))
		}
		l := object{path: field, m: m}
		title, err := l.str("title")
		if err != nil {
			return nil, err
		}
		if n := runes(title); n > maxLinkTitle {
			return nil, fault.InvalidField(l.at("title"), "is %d characters long; the limit is %d", n, maxLinkTitle)
		}
		u, err := l.requiredStr("url")
		if err != nil {
			return nil, err
		}
		if len(u) > maxLinkBytes || !isWebURL(u) {
			return nil, fault.InvalidField(l.at("url"), "is %q, want an absolute http or https URL of at most %d bytes", cut(u, 80), maxLinkBytes)
		}
		out = append(out, incident.Link{Title: or(oneLine(title), u), URL: u})
	}
	return out, nil
}
