package intake

import (
	"net/url"
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
type essentials struct {
	alertID, alertRule, severity, monitorCondition string
	monitoringService, description                 string
	firedAt, resolvedAt                            time.Time
	targets, configurationItems                    []string
}

// ParseAzureMonitor reads an Azure Monitor alert sent by an action group's webhook
// with the common alert schema enabled.
//
// Only the essentials that identify and time the alert are required. alertContext,
// whose shape depends on the monitoring service, is read leniently: a real alert is
// never refused because Azure added, renamed or retyped a context field.
func ParseAzureMonitor(body []byte) (incident.Alert, error) {
	if err := checkSize(body, MaxAlertBytes, "Azure Monitor alert"); err != nil {
		return incident.Alert{}, err
	}
	root, err := decodeObject(body)
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

	a := incident.Alert{
		Source:         "azure-monitor",
		ID:             ess.alertID,
		DedupKey:       dedupKey,
		Status:         incident.AlertFiring,
		SourceSeverity: ess.severity,
		Signal:         azureSignal[strings.ToLower(ess.severity)],
		Summary:        azureSummary(ess.alertRule, ess.description),
		Resources:      ess.targets,
		Tenants:        azureTenants(custom),
		FiredAt:        ess.firedAt,
		Links:          []incident.Link{{Title: "Alert in Azure portal", URL: azurePortal + url.PathEscape(ess.alertID)}},
	}
	if strings.EqualFold(ess.monitorCondition, "Resolved") {
		a.Status = incident.AlertResolved
		a.ResolvedAt = ess.resolvedAt
	}

	ctx := newContextReader(ess)
	if c := custom.text("component"); c != "" {
		if lower := strings.ToLower(c); componentPattern.MatchString(lower) {
			a.Component = lower
		} else {
			// A typo in a custom property must not cost us the alert; say why it was dropped.
			ctx.line("customProperties.component %q is not a catalog component name (lowercase letters, digits and '-'); ignored", cut(c, 64))
		}
	}
	ctx.read(data.sub("alertContext"))
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
	if e.alertID, err = o.requiredStr("alertId"); err != nil {
		return e, err
	}
	// The id doubles as the default dedup key, so it shares its limit. Azure's ids
	// are ARM resource ids of about 110 characters.
	if n := runes(e.alertID); n > maxDedupKey {
		return e, fault.InvalidField(o.at("alertId"), "is %d characters long; the limit is %d", n, maxDedupKey)
	}
	if e.alertRule, err = o.requiredStr("alertRule"); err != nil {
		return e, err
	}
	// The rule's name becomes the incident's title, so it must have something to read.
	if oneLine(e.alertRule) == "" {
		return e, fault.InvalidField(o.at("alertRule"), "must contain printable text, not only control characters")
	}
	if e.severity, err = o.requiredStr("severity"); err != nil {
		return e, err
	}
	if _, ok := azureSignal[strings.ToLower(e.severity)]; !ok {
		return e, fault.InvalidField(o.at("severity"), "is %q, want one of Sev0, Sev1, Sev2, Sev3, Sev4", cut(e.severity, 50))
	}
	if e.monitorCondition, err = o.requiredStr("monitorCondition"); err != nil {
		return e, err
	}
	if !strings.EqualFold(e.monitorCondition, "Fired") && !strings.EqualFold(e.monitorCondition, "Resolved") {
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

// azureTenants reads customProperties.tenantId and the comma-separated
// customProperties.tenants, in that order, without repeats.
func azureTenants(custom object) []string {
	var out []string
	for _, key := range []string{"tenantId", "tenants"} {
		s, _ := custom.get(key).(string)
		for t := range strings.SplitSeq(s, ",") {
			out = appendUnique(out, strings.TrimSpace(t))
		}
	}
	return out
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
