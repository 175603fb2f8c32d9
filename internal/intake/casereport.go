package intake

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const (
	maxReporterName  = 200
	maxEmailBytes    = 254 // RFC 5321's limit on a forward path
	maxCaseTitle     = 200
	maxCaseDesc      = 10000
	maxUsersAffected = 10_000_000

	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

// phonePattern is E.164: a plus, a country code that never starts with 0, and at
// most 15 digits in all.
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// caseFields lists every field of the form, in the order they are checked and
// reported, as JSON paths (which are also the form field names).
var caseFields = []string{
	"tenant", "reporter.name", "reporter.email", "reporter.phone", "title",
	"description", "component", "impact.usersAffected", "impact.blocked",
}

// caseInput reads one field of a case report, whatever the encoding.
type caseInput interface {
	// text returns a string field, trimmed; "" when absent.
	text(path string) (string, error)
	// count returns a whole-number field; 0 when absent.
	count(path string) (int64, error)
	// flag returns a boolean field; false when absent.
	flag(path string) (bool, error)
}

// ParseCaseReport reads a case a customer submitted through the support portal,
// as JSON or as a plain HTML form post. Both are checked strictly: unknown fields
// are refused, so a typo in a field name is not silently lost. The first problem
// is reported, in a fixed field order, so a form can point at it.
//
// CaseID and ReceivedAt are left zero: the caller assigns them.
func ParseCaseReport(contentType string, body []byte) (incident.CaseReport, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mediaType != contentJSON && mediaType != contentForm) {
		return incident.CaseReport{}, fault.New(fault.Unsupported, "content type %q is not accepted: send %s or %s", cut(contentType, 100), contentJSON, contentForm)
	}
	if err := checkSize(body, MaxCaseBytes, "case report"); err != nil {
		return incident.CaseReport{}, err
	}
	var in caseInput
	if mediaType == contentJSON {
		in, err = jsonCaseInput(body)
	} else {
		in, err = formCaseInput(body)
	}
	if err != nil {
		return incident.CaseReport{}, err
	}
	return readCase(in)
}

func readCase(in caseInput) (incident.CaseReport, error) {
	var c incident.CaseReport
	var err error
	if c.Tenant, err = requiredText(in, "tenant"); err != nil {
		return c, err
	}
	if !tenantPattern.MatchString(c.Tenant) {
		return c, fault.InvalidField("tenant", "is %q, want a tenant id: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters", cut(c.Tenant, 80))
	}
	if c.Reporter.Name, err = requiredText(in, "reporter.name"); err != nil {
		return c, err
	}
	if n := runes(c.Reporter.Name); n > maxReporterName {
		return c, fault.InvalidField("reporter.name", "is %d characters long; the limit is %d", n, maxReporterName)
	}
	if hasControl(c.Reporter.Name) {
		return c, fault.InvalidField("reporter.name", "must be a single line without control characters")
	}
	if c.Reporter.Email, err = requiredText(in, "reporter.email"); err != nil {
		return c, err
	}
	if msg := checkEmail(c.Reporter.Email); msg != "" {
		return c, fault.InvalidField("reporter.email", "%s", msg)
	}
	if c.Reporter.Phone, err = in.text("reporter.phone"); err != nil {
		return c, err
	}
	if c.Reporter.Phone != "" {
		// People type spaces and dashes between digit groups; E.164 has none.
		phone := strings.NewReplacer(" ", "", "-", "").Replace(c.Reporter.Phone)
		if !phonePattern.MatchString(phone) {
			return c, fault.InvalidField("reporter.phone", "is %q, want an international number in E.164 form: + then 8 to 15 digits, such as +442079460958", cut(c.Reporter.Phone, 40))
		}
		c.Reporter.Phone = phone
	}
	if c.Title, err = requiredText(in, "title"); err != nil {
		return c, err
	}
	if n := runes(c.Title); n > maxCaseTitle {
		return c, fault.InvalidField("title", "is %d characters long; the limit is %d", n, maxCaseTitle)
	}
	if hasControl(c.Title) {
		return c, fault.InvalidField("title", "must be a single line without control characters (line breaks belong in description)")
	}
	if c.Description, err = requiredText(in, "description"); err != nil {
		return c, err
	}
	if n := runes(c.Description); n > maxCaseDesc {
		return c, fault.InvalidField("description", "is %d characters long; the limit is %d", n, maxCaseDesc)
	}
	if c.Component, err = in.text("component"); err != nil {
		return c, err
	}
	if c.Component != "" && !componentPattern.MatchString(c.Component) {
		return c, fault.InvalidField("component", "is %q, want a catalog component name: 1 to 64 lowercase letters, digits or '-'", cut(c.Component, 80))
	}
	users, err := in.count("impact.usersAffected")
	if err != nil {
		return c, err
	}
	c.Impact.UsersAffected = int(users)
	if c.Impact.Blocked, err = in.flag("impact.blocked"); err != nil {
		return c, err
	}
	return c, nil
}

func requiredText(in caseInput, path string) (string, error) {
	s, err := in.text(path)
	if err == nil && s == "" {
		err = fault.InvalidField(path, "is required")
	}
	return s, err
}

// checkEmail accepts a plain address such as ana@contoso.com, and not a display
// name or angle brackets: the address is used as is to write back to the reporter.
func checkEmail(s string) string {
	const want = "want a plain email address such as name@example.com"
	if len(s) > maxEmailBytes {
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), maxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return fmt.Sprintf("is %q, %s", cut(s, 80), want)
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return fmt.Sprintf("is %q: the domain %q is not a public mail domain; %s", cut(s, 80), cut(domain, 80), want)
	}
	return ""
}

func usersRangeError(path string) error {
	return fault.InvalidField(path, "must be a whole number from 0 to %d", maxUsersAffected)
}

// jsonCase reads a case report sent as JSON.
type jsonCase struct{ root object }

func jsonCaseInput(body []byte) (caseInput, error) {
	root, err := decodeObject(body, true)
	if err != nil {
		return nil, err
	}
	// Unknown fields first, sorted, so the same body always gets the same answer.
	allowed := map[string][]string{
		"":         {"tenant", "reporter", "title", "description", "component", "impact"},
		"reporter": {"name", "email", "phone"},
		"impact":   {"usersAffected", "blocked"},
	}
	for _, parent := range []string{"", "reporter", "impact"} {
		o := root
		if parent != "" {
			m, _ := root.m[parent].(map[string]any) // a wrong type is reported with the field
			o = object{path: parent, m: m}
		}
		for _, k := range slices.Sorted(maps.Keys(o.m)) {
			if !slices.Contains(allowed[parent], k) {
				return nil, fault.InvalidField(o.at(k), "is not a case report field; the fields are %s", strings.Join(caseFields, ", "))
			}
		}
	}
	return jsonCase{root: root}, nil
}

// value finds path in the JSON; an intermediate that is not an object is Invalid.
func (j jsonCase) value(path string) (object, string, error) {
	parent, key, nested := strings.Cut(path, ".")
	if !nested {
		return j.root, path, nil
	}
	o, _, err := j.root.child(parent)
	return o, key, err
}

func (j jsonCase) text(path string) (string, error) {
	o, key, err := j.value(path)
	if err != nil {
		return "", err
	}
	return o.str(key)
}

func (j jsonCase) count(path string) (int64, error) {
	o, key, err := j.value(path)
	if err != nil {
		return 0, err
	}
	v, ok := o.m[key]
	if !ok || v == nil {
		return 0, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, fault.InvalidField(path, "must be a number, got %s", jsonType(v))
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || i < 0 || i > maxUsersAffected {
		return 0, usersRangeError(path)
	}
	return i, nil
}

func (j jsonCase) flag(path string) (bool, error) {
	o, key, err := j.value(path)
	if err != nil {
		return false, err
	}
	v, ok := o.m[key]
	if !ok || v == nil {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fault.InvalidField(path, "must be true or false, got %s", jsonType(v))
	}
	return b, nil
}

// formCase reads a case report posted as an HTML form, with dotted field names.
type formCase struct{ values url.Values }

func formCaseInput(body []byte) (caseInput, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fault.InvalidField("", "body is not valid form encoding (application/x-www-form-urlencoded): %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !utf8.ValidString(k) {
			return nil, fault.InvalidField("", "form field name %s is not valid UTF-8 text; send text as UTF-8", strconv.QuoteToASCII(cut(k, 100)))
		}
		if !slices.Contains(caseFields, k) {
			return nil, fault.InvalidField(cut(k, 100), "is not a case report field; the fields are %s", strings.Join(caseFields, ", "))
		}
		if n := len(values[k]); n > 1 {
			return nil, fault.InvalidField(k, "was sent %d times; send it once", n)
		}
	}
	return formCase{values: values}, nil
}

func (f formCase) text(path string) (string, error) {
	s := f.values.Get(path)
	if !utf8.ValidString(s) {
		return "", fault.InvalidField(path, "is not valid UTF-8 text; send text as UTF-8")
	}
	return strings.TrimSpace(s), nil
}

func (f formCase) count(path string) (int64, error) {
	s, err := f.text(path)
	if err != nil || s == "" {
		return 0, err
	}
	// Decimal digits only: no sign, no exponent, no separators.
	if strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, usersRangeError(path)
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i > maxUsersAffected {
		return 0, usersRangeError(path)
	}
	return i, nil
}

func (f formCase) flag(path string) (bool, error) {
	s, err := f.text(path)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "", "false", "off", "0", "no":
		return false, nil
	case "true", "on", "1", "yes":
		return true, nil
	}
	return false, fault.InvalidField(path, "is %q, want true or false (also accepted: on/off, 1/0, yes/no)", cut(s, 20))
}
