package intake

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const (
	azureSchemaID = "azureMonitorCommonAlertSchema"
	azurePortal   = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId/"

	maxSummaryRunes = 300
	maxDedupKey     = 255
)

// azureSignal maps Azure's severities onto Vigil's scale. Azure has five levels and
// Vigil four, so Azure's two lowest (Sev3 warning, Sev4 verbose) share Sev4.
var azureSignal = map[string]incident.Severity{
	"sev0": incident.Sev1,
	"sev1": incident.Sev2,
	"sev2": incident.Sev3,
	"sev3": incident.Sev4,
	"sev4": incident.Sev4,
}

// essentials are the fields every common-schema alert carries, whatever fired it.
// alertRule and severity may be empty: budget alerts send them null.
type essentials struct {
	alertID, alertRule, severity, monitorCondition string
	monitoringService, description                 string
	firedAt, resolvedAt                            time.Time
	targets, configurationItems                    []string
	// notes say which essentials were missing and what stands in for them.
	notes []string
	// present is the essentials object as sent, to tell null from absent.
	present object
}

// ParseAzureMonitor reads an Azure Monitor alert sent by an action group's webhook
// with the common alert schema enabled.
//
// Only the essentials that identify and time the alert are required. Azure leaves
// others null for some services (a budget alert has no rule name, severity or
// target): those are derived from what the payload does say, and the alert's
// Notes say so. alertContext, whose shape depends on the monitoring service, is
// read leniently: a real alert is never refused because Azure added, renamed or
// retyped a context field. Only a payload that is not the common schema at all is
// refused, with how to enable it.
func ParseAzureMonitor(body []byte) (incident.Alert, error) {
	if err := checkSize(body, MaxAlertBytes, "Azure Monitor alert"); err != nil {
		return incident.Alert{}, err
	}
	root, err := decodeObject(body, false)
	if err != nil {
		return incident.Alert{}, err
	}
	if err := checkSchemaID(root); err != nil {
		return incident.Alert{}, err
	}
	data, ok, err := root.child("data")
	if err != nil {
		return incident.Alert{}, err
	}
	if !ok {
		return incident.Alert{}, fault.InvalidField("data", "is required: the common alert schema puts essentials and alertContext under data")
	}
	ess, err := readEssentials(data)
	if err != nil {
		return incident.Alert{}, err
	}
	// customProperties is null unless the rule's action sets some; it is free-form
	// key/value text, so anything but an object is treated as absent.
	custom := data.sub("customProperties")
	dedupKey, err := azureDedupKey(custom, ess.alertID)
	if err != nil {
		return incident.Alert{}, err
	}
	named := readCustomProperties(custom)

	ctx := newContextReader(ess)
	ctx.read(data.sub("alertContext"))

	a := incident.Alert{
		Source:         "azure-monitor",
		ID:             ess.alertID,
		DedupKey:       dedupKey,
		Status:         incident.AlertFiring,
		SourceSeverity: ess.severity,
		Signal:         azureSignal[strings.ToLower(ess.severity)],
		Resources:      ess.targets,
		Tenants:        named.tenants,
		FiredAt:        ess.firedAt,
		Links:          []incident.Link{{Title: "Alert in Azure portal", URL: azurePortal + url.PathEscape(ess.alertID)}},
		Notes:          ess.notes,
	}
	if len(named.components) > 0 {
		a.Component, a.Components = named.components[0], named.components[1:]
	}
	if strings.EqualFold(ess.monitorCondition, "Resolved") {
		a.Status = incident.AlertResolved
		a.ResolvedAt = ess.resolvedAt
	}
	rule := ess.alertRule
	if rule == "" {
		var from string
		rule, from = deriveRuleName(ess, ctx)
		a.Notes = append(a.Notes, fmt.Sprintf("essentials.alertRule is %s: rule name %q derived from %s", ess.missing("alertRule"), rule, from))
	}
	a.Summary = azureSummary(rule, ess.description)
	if ess.severity == "" {
		a.Signal, a.SignalBasis = deriveSignal(ess, ctx)
	}
	if len(a.Resources) == 0 && len(ctx.targets) > 0 {
		a.Resources = ctx.targets
		a.Notes = append(a.Notes, fmt.Sprintf("essentials.alertTargetIDs is %s: target %s taken from %s", ess.missing("alertTargetIDs"), strings.Join(ctx.targets, ", "), ctx.targetsFrom))
	}
	if ctx.foldKey != "" {
		// The problem, not this update of it, is the alert instance: its recovery
		// arrives under another alertId and must clear the same instance.
		a.ID = cut(ctx.foldKey, maxDedupKey)
		ctx.facts.add("alertId", ess.alertID)
		if custom.text("dedupKey") == "" {
			a.DedupKey = a.ID
		}
	}
	if ctx.recovered && a.Status == incident.AlertFiring {
		a.Status = incident.AlertResolved
		a.ResolvedAt = ess.firedAt
	}
	a.Notes = boundNotes(append(append(a.Notes, named.notes...), ctx.notes...))
	a.Details = ctx.details()
	a.Facts = ctx.facts.m
	a.Links = append(a.Links, ctx.links...)
	a.VendorRefs = ctx.vendorRefs
	return a, nil
}

func checkSchemaID(root object) error {
	const enable = "Vigil reads only the common alert schema: enable it on the action group's webhook receiver (set useCommonAlertSchema to true, or \"Enable the common alert schema: Yes\" in the portal)"
	v, ok := root.m["schemaId"]
	if !ok || v == nil {
		return fault.InvalidField("schemaId", "is missing, so this is a legacy (non-common) alert payload. %s", enable)
	}
	s, isStr := v.(string)
	if !isStr {
		return fault.InvalidField("schemaId", "must be the string %q, got %s. %s", azureSchemaID, jsonType(v), enable)
	}
	if !strings.EqualFold(strings.TrimSpace(s), azureSchemaID) {
		return fault.InvalidField("schemaId", "is %q, want %q. %s", cut(s, 100), azureSchemaID, enable)
	}
	return nil
}

func readEssentials(data object) (essentials, error) {
	var e essentials
	o, ok, err := data.child("essentials")
	if err != nil {
		return e, err
	}
	if !ok {
		return e, fault.InvalidField("data.essentials", "is required")
	}
	e.present = o
	if e.alertID, err = o.requiredStr("alertId"); err != nil {
		return e, err
	}
	// The id doubles as the default dedup key, so it shares its limit. Azure's ids
	// are ARM resource ids of about 110 characters.
	if n := runes(e.alertID); n > maxDedupKey {
		return e, fault.InvalidField(o.at("alertId"), "is %d characters long; the limit is %d", n, maxDedupKey)
	}
	// A rule name without printable text is as good as none: it is derived.
	if e.alertRule, err = o.str("alertRule"); err != nil {
		return e, err
	}
	e.alertRule = oneLine(e.alertRule)
	if e.severity, err = o.str("severity"); err != nil {
		return e, err
	}
	if _, ok := azureSignal[strings.ToLower(e.severity)]; e.severity != "" && !ok {
		return e, fault.InvalidField(o.at("severity"), "is %q, want one of Sev0, Sev1, Sev2, Sev3, Sev4", cut(e.severity, 50))
	}
	if e.monitorCondition, err = o.str("monitorCondition"); err != nil {
		return e, err
	}
	switch {
	case e.monitorCondition == "":
		// Budget alerts sent this null: they only ever fire.
		e.notes = append(e.notes, fmt.Sprintf("essentials.monitorCondition is %s: taken as Fired", e.missing("monitorCondition")))
		e.monitorCondition = "Fired"
	case !strings.EqualFold(e.monitorCondition, "Fired") && !strings.EqualFold(e.monitorCondition, "Resolved"):
		return e, fault.InvalidField(o.at("monitorCondition"), "is %q, want Fired or Resolved", cut(e.monitorCondition, 50))
	}
	if e.firedAt, err = essentialTime(o, "firedDateTime", true); err != nil {
		return e, err
	}
	// Azure does not always say when an alert resolved; then ResolvedAt stays zero.
	if strings.EqualFold(e.monitorCondition, "Resolved") {
		if e.resolvedAt, err = essentialTime(o, "resolvedDateTime", false); err != nil {
			return e, err
		}
	}
	// The rest is informative: read leniently.
	e.monitoringService = o.text("monitoringService")
	e.description = o.text("description")
	e.targets = textList(o.list("alertTargetIDs"))
	e.configurationItems = textList(o.list("configurationItems"))
	return e, nil
}

// missing says how an essential was missing, for a note: null, absent or empty.
func (e essentials) missing(key string) string {
	v, ok := e.present.m[key]
	switch {
	case !ok:
		return "absent"
	case v == nil:
		return "null"
	}
	return "empty"
}

func essentialTime(o object, key string, required bool) (time.Time, error) {
	var s string
	var err error
	if required {
		s, err = o.requiredStr(key)
	} else {
		s, err = o.str(key)
	}
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, fault.InvalidField(o.at(key), "is %q, want an RFC 3339 UTC time such as 2026-11-06T10:12:44.1234567Z", cut(s, 50))
	}
	return t, nil
}

// azureDedupKey lets an alert rule choose how its alerts fold into incidents
// (customProperties.dedupKey); by default each Azure alert instance is its own key.
func azureDedupKey(custom object, alertID string) (string, error) {
	k, ok := custom.get("dedupKey").(string)
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return alertID, nil
	}
	if n := runes(k); n > maxDedupKey {
		return "", fault.InvalidField("data.customProperties.dedupKey", "is %d characters long; the limit is %d", n, maxDedupKey)
	}
	return k, nil
}

// The customProperties keys Vigil reads, in the order their values are taken.
// Keys match in any case; a value is one name, several separated by commas or
// semicolons, or a JSON array of names.
var (
	componentKeys = []string{"component", "components"}
	tenantKeys    = []string{"tenant", "tenantId", "tenants", "tenantIds"}
)

const (
	maxNamedComponents = 20
	maxTenantNameRunes = 100
)

// customNames are what an alert rule's custom properties say it affects: component
// ids (checked for form here, against the catalog by triage) and tenants (ids or
// names, which only the catalog can tell apart).
type customNames struct {
	components, tenants []string
	notes               []string
}

func readCustomProperties(custom object) customNames {
	var n customNames
components:
	for _, key := range componentKeys {
		for _, c := range n.values(custom, key) {
			lower := strings.ToLower(c)
			switch {
			case !componentPattern.MatchString(lower):
				// A typo in a custom property must not cost us the alert; say why it was dropped.
				n.notes = append(n.notes, fmt.Sprintf("customProperties.%s %q is not a catalog component name (lowercase letters, digits and '-'): ignored", key, cut(c, 64)))
			case len(n.components) >= maxNamedComponents && !slices.Contains(n.components, lower):
				n.notes = append(n.notes, fmt.Sprintf("customProperties name more than %d components: %q and later ones ignored", maxNamedComponents, cut(c, 64)))
				break components
			default:
				n.components = appendUnique(n.components, lower)
			}
		}
	}
tenants:
	for _, key := range tenantKeys {
		for _, t := range n.values(custom, key) {
			switch {
			case hasControl(t) || runes(t) > maxTenantNameRunes:
				n.notes = append(n.notes, fmt.Sprintf("customProperties.%s %q is not a tenant id or name: ignored", key, cut(oneLine(t), 64)))
			case len(n.tenants) >= maxTenants && !slices.Contains(n.tenants, t):
				n.notes = append(n.notes, fmt.Sprintf("customProperties name more than %d tenants: %q and later ones ignored", maxTenants, cut(t, 64)))
				break tenants
			default:
				n.tenants = appendUnique(n.tenants, t)
			}
		}
	}
	return n
}

// values splits the value at key into trimmed names; a value of another type is
// noted and ignored.
func (n *customNames) values(custom object, key string) []string {
	v := custom.get(key)
	var raw []string
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		raw = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' })
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				raw = append(raw, s)
			} else {
				n.notes = append(n.notes, fmt.Sprintf("customProperties.%s has an entry that is %s, not text: ignored", key, jsonType(e)))
			}
		}
	default:
		n.notes = append(n.notes, fmt.Sprintf("customProperties.%s is %s, not text: ignored", key, jsonType(v)))
		return nil
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// maxNotes bounds what one alert puts on the timeline, whatever its custom
// properties hold.
const maxNotes = 20

func boundNotes(notes []string) []string {
	if len(notes) <= maxNotes {
		return notes
	}
	return append(notes[:maxNotes-1:maxNotes-1], fmt.Sprintf("and %d more notes like these", len(notes)-maxNotes+1))
}

// deriveRuleName names an alert whose rule Azure did not name: from what the
// monitoring service's context calls it, else the configuration items, else the
// service. from says where the name came from.
func deriveRuleName(ess essentials, ctx *contextReader) (name, from string) {
	switch {
	case ctx.ruleName != "":
		return cut(oneLine(ctx.ruleName), maxSummaryRunes), ctx.ruleNameFrom
	case len(ess.configurationItems) > 0:
		return cut(oneLine(strings.Join(ess.configurationItems, ", ")), maxSummaryRunes), "essentials.configurationItems"
	case ess.monitoringService != "":
		return cut(oneLine(ess.monitoringService+" alert"), maxSummaryRunes), "essentials.monitoringService"
	}
	return "Azure Monitor alert", "nothing in the payload (no rule, configuration items or monitoring service)"
}

// levelSignal maps the level words some alert contexts carry (activity log level,
// Defender's severity, log search's SeverityDescription) onto Vigil's scale.
var levelSignal = map[string]incident.Severity{
	"critical": incident.Sev1,
	"error":    incident.Sev2, "high": incident.Sev2,
	"warning": incident.Sev3, "medium": incident.Sev3,
	"informational": incident.Sev4, "information": incident.Sev4, "low": incident.Sev4, "verbose": incident.Sev4,
}

// deriveSignal picks a severity for an alert that carries none, and says why.
func deriveSignal(ess essentials, ctx *contextReader) (incident.Severity, string) {
	if ctx.signal.Valid() {
		return ctx.signal, ctx.signalBasis
	}
	if sev, ok := levelSignal[strings.ToLower(ctx.level)]; ok {
		return sev, fmt.Sprintf("essentials.severity is %s; %s is %q", ess.missing("severity"), ctx.levelFrom, ctx.level)
	}
	return incident.Sev3, fmt.Sprintf("essentials.severity is %s and nothing else in the alert rates it: sev3, the middle of the scale, until a responder sets it", ess.missing("severity"))
}

func azureSummary(rule, description string) string {
	s := rule
	if d := oneLine(description); d != "" {
		s += ": " + d
	}
	return cut(oneLine(s), maxSummaryRunes)
}

// textList keeps the non-empty scalar entries of a JSON array as text.
func textList(l []any) []string {
	var out []string
	for _, v := range l {
		if s := scalarText(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}
