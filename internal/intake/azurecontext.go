package intake

import (
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"vigil/internal/incident"
)

const (
	maxFacts         = 20
	maxFactRunes     = 500
	maxDetailLines   = 30
	maxDetailRunes   = 1000
	maxQueryRunes    = 300
	maxLinkBytes     = 4096
	serviceHealthURL = "https://app.azure.com/h/"
)

var (
	htmlTag      = regexp.MustCompile(`</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>`)
	subscription = regexp.MustCompile(`(?i)/subscriptions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:/|$)`)
)

// contextReader gathers what a responder wants to see from an alertContext: a few
// facts, a few lines of prose, and links. Each monitoring service shapes its
// context differently; every reader here tolerates missing and mistyped fields.
type contextReader struct {
	ess        essentials
	facts      factSet
	lines      []string
	links      []incident.Link
	vendorRefs []incident.VendorRef
	// Some services send every update of one problem as a new alert, always "Fired":
	// foldKey names the problem so updates fold into one incident, and recovered
	// says the update reports the problem over.
	foldKey   string
	recovered bool

	// What the context offers in place of essentials Azure left out, with the
	// JSON path it came from: a rule name, a severity, a level word, targets.
	ruleName, ruleNameFrom string
	signal                 incident.Severity
	signalBasis            string
	level, levelFrom       string
	targets                []string
	targetsFrom            string
	// notes are for the timeline: what this reading of the context concluded.
	notes []string
}

func newContextReader(ess essentials) *contextReader {
	c := &contextReader{ess: ess}
	c.facts.add("monitoringService", ess.monitoringService)
	c.facts.add("configurationItems", strings.Join(ess.configurationItems, ", "))
	return c
}

// read dispatches on essentials.monitoringService. Azure spells some services two
// ways ("Smart Detector"/"SmartDetector", "Resource Health"/"ResourceHealth"), so
// names are compared without case, spaces or punctuation.
func (c *contextReader) read(ctx object) {
	switch s := serviceKey(c.ess.monitoringService); {
	case s == "platform" && ctx.get("condition") != nil:
		c.metric(ctx)
	case s == "platform" && ctx.get("SearchQuery") != nil, s == "loganalytics", s == "applicationinsights":
		c.logSearchV1(ctx)
	case s == "logalertsv2", s == "simplelogalert":
		c.logSearchV2(ctx)
	case s == "costalerts", ctx.sub("AlertData").get("BudgetName") != nil:
		c.budget(ctx)
	case strings.Contains(s, "servicehealth"):
		c.serviceHealth(ctx)
	case strings.Contains(s, "resourcehealth"):
		c.resourceHealth(ctx)
	case strings.HasPrefix(s, "activitylog"):
		c.activityLog(ctx, strings.TrimPrefix(s, "activitylog"))
	case s == "smartdetector":
		c.smartDetector(ctx)
	case s == "prometheus":
		c.prometheus(ctx)
	default:
		c.unknown(ctx)
	}
}

func serviceKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}

// metric reads metric alerts: static and dynamic thresholds, and availability tests.
func (c *contextReader) metric(ctx object) {
	cond := ctx.sub("condition")
	conditionType := ctx.text("conditionType")
	window := cond.text("windowSize")
	c.facts.add("conditionType", conditionType)
	c.facts.add("windowSize", window)

	criteria := objects(cond.list("allOf"))
	for i, cr := range criteria {
		p := criterionPrefix(i, len(criteria))
		name, agg := cr.text("metricName"), cr.text("timeAggregation")
		value, threshold, op := cr.num("metricValue"), cr.num("threshold"), cr.text("operator")
		sensitivity := cr.text("alertSensitivity")
		periods := failingPeriods(cr.sub("failingPeriods"))
		dims := dimensions(cr.list("dimensions"))
		webTest := cr.text("webTestName")

		c.facts.add(p+"metricName", name)
		c.facts.add(p+"metricNamespace", cr.text("metricNamespace"))
		c.facts.add(p+"timeAggregation", agg)
		c.facts.add(p+"operator", op)
		c.facts.add(p+"threshold", threshold)
		c.facts.add(p+"metricValue", value)
		c.facts.add(p+"dimensions", dims)
		c.facts.add(p+"alertSensitivity", sensitivity)
		c.facts.add(p+"failingPeriods", periods)
		c.facts.add(p+"webTestName", webTest)
		if i == 0 && webTest != "" {
			c.nameRule(webTest, "alertContext.condition.allOf[0].webTestName")
		} else if i == 0 {
			c.nameRule(name, "alertContext.condition.allOf[0].metricName")
		}

		line := join(" ", agg, or(name, "metric"))
		if webTest != "" {
			line = "Availability test " + webTest + ": " + line
		}
		if value != "" {
			line += " was " + value
		}
		if window != "" {
			line += " over " + window
		}
		var cond []string
		if t := describeThreshold(op, threshold); t != "" {
			if sensitivity != "" || strings.Contains(strings.ToLower(conditionType), "dynamic") {
				t = "dynamic threshold " + t
			} else {
				t = "threshold " + t
			}
			cond = append(cond, t)
		}
		if sensitivity != "" {
			cond = append(cond, "sensitivity "+sensitivity)
		}
		if periods != "" {
			cond = append(cond, "needs "+periods+" periods failing")
		}
		if len(cond) > 0 {
			line += " (" + strings.Join(cond, ", ") + ")"
		}
		if dims != "" {
			line += "; " + dims
		}
		c.line("%s", line)
	}
}

// logSearchV1 reads the log search alerts of the 2018 API (Log Analytics and
// Application Insights): one query, its result count and the rule's threshold.
func (c *contextReader) logSearchV1(ctx object) {
	query, count := ctx.text("SearchQuery"), ctx.num("ResultCount")
	op, threshold := ctx.text("Operator"), ctx.num("Threshold")
	alertType := ctx.text("AlertType")
	dims := dimensions(ctx.list("Dimensions"))

	c.facts.add("query", query)
	c.facts.add("resultCount", count)
	c.facts.add("operator", op)
	c.facts.add("threshold", threshold)
	c.facts.add("alertType", alertType)
	c.facts.add("dimensions", dims)
	c.facts.add("searchInterval", join(" to ", ctx.text("SearchIntervalStartTimeUtc"), ctx.text("SearchIntervalEndtimeUtc")))
	c.facts.add("workspaceId", ctx.text("WorkspaceId"))
	c.facts.add("applicationId", ctx.text("ApplicationId"))
	c.levelWord(ctx.text("SeverityDescription"), "alertContext.SeverityDescription")

	line := "Log query returned " + or(count, "an unknown number of") + " results"
	if t := describeThreshold(op, threshold); t != "" {
		// "Number of results" rules compare the count; "Metric measurement" rules
		// compare an aggregated value, and the count is of rows that breached it.
		switch strings.ToLower(alertType) {
		case "number of results":
			line += "; the rule fires when results " + t
		case "metric measurement":
			line = "Log query (metric measurement) returned " + or(count, "an unknown number of") + " results with AggregatedValue " + t
		default:
			line += " (" + join(", ", "threshold "+t, alertType) + ")"
		}
	}
	if dims != "" {
		line += "; " + dims
	}
	c.line("%s", line)
	if query != "" {
		c.line("Query: %s", cut(oneLine(query), maxQueryRunes))
	}
	c.link("Log search results", ctx.text("LinkToSearchResults"))
	c.link("Filtered log search results", ctx.text("LinkToFilteredSearchResultsUI"))
}

// logSearchV2 reads log search alerts of the 2021 API (scheduled query rules):
// per criterion, the query, its aggregated value, threshold and dimensions.
func (c *contextReader) logSearchV2(ctx object) {
	cond := ctx.sub("condition")
	window := cond.text("windowSize")
	c.facts.add("windowSize", window)

	criteria := objects(cond.list("allOf"))
	for i, cr := range criteria {
		p := criterionPrefix(i, len(criteria))
		query, agg, column := cr.text("searchQuery"), cr.text("timeAggregation"), cr.text("metricMeasureColumn")
		value, threshold, op := cr.num("metricValue"), cr.num("threshold"), cr.text("operator")
		dims := dimensions(cr.list("dimensions"))
		periods := failingPeriods(cr.sub("failingPeriods"))

		c.facts.add(p+"query", query)
		c.facts.add(p+"timeAggregation", agg)
		c.facts.add(p+"metricMeasureColumn", column)
		c.facts.add(p+"operator", op)
		c.facts.add(p+"threshold", threshold)
		c.facts.add(p+"metricValue", value)
		c.facts.add(p+"dimensions", dims)
		c.facts.add(p+"failingPeriods", periods)

		line := or(agg, "Count") + " of query results"
		if column != "" {
			line = or(agg, "Value") + " of " + column
		}
		if value != "" {
			line += " was " + value
		}
		if window != "" {
			line += " over " + window
		}
		var conds []string
		if t := describeThreshold(op, threshold); t != "" {
			conds = append(conds, "threshold "+t)
		}
		if periods != "" {
			conds = append(conds, "needs "+periods+" periods failing")
		}
		if len(conds) > 0 {
			line += " (" + strings.Join(conds, ", ") + ")"
		}
		if dims != "" {
			line += "; " + dims
		}
		c.line("%s", line)
		if query != "" {
			c.line("Query: %s", cut(oneLine(query), maxQueryRunes))
		}
		// Simple log alerts carry the row that fired them.
		if rows := cr.list("event"); len(rows) > 0 {
			if first, ok := rows[0].([]any); ok {
				if s := dimensions(first); s != "" {
					c.line("First result: %s", s)
				}
			}
		}
		c.link("Log search results", cr.text("linkToSearchResultsUI"))
		c.link("Filtered log search results", cr.text("linkToFilteredSearchResultsUI"))
	}
}

// activityLog reads activity log alerts: an operation, its outcome and who did it.
// kind is what follows "Activity Log - " in monitoringService, squashed.
func (c *contextReader) activityLog(ctx object, kind string) {
	op, status, caller := ctx.text("operationName"), ctx.text("status"), ctx.text("caller")
	scope := or(ctx.sub("authorization").text("scope"), ctx.sub("properties").text("entity"))
	c.facts.add("operationName", op)
	c.facts.add("status", status)
	c.facts.add("subStatus", ctx.text("subStatus"))
	c.facts.add("caller", caller)
	c.facts.add("level", ctx.text("level"))
	c.facts.add("eventSource", ctx.text("eventSource"))
	c.facts.add("eventTimestamp", ctx.text("eventTimestamp"))
	c.facts.add("scope", scope)
	c.facts.add("correlationId", ctx.text("correlationId"))
	c.nameRule(op, "alertContext.operationName")
	c.levelWord(ctx.text("level"), "alertContext.level")

	line := join(" ", or(op, "Activity log operation"), status)
	if caller != "" {
		line += " by " + caller
	}
	if scope != "" {
		line += " on " + scope
	}
	c.line("%s", line)

	props := ctx.sub("properties")
	switch kind {
	case "policy":
		c.policy(props)
	case "autoscale":
		old, cur := props.text("oldInstancesCount"), props.text("newInstancesCount")
		c.facts.add("oldInstancesCount", old)
		c.facts.add("newInstancesCount", cur)
		c.facts.add("resourceName", props.text("resourceName"))
		if old != "" || cur != "" {
			c.line("Instance count %s → %s%s", or(old, "?"), or(cur, "?"), prefixed(" on ", lastSegment(props.text("resourceName"))))
		} else {
			c.line("%s", props.text("description"))
		}
	case "recommendation":
		c.recommendation(props)
	case "security":
		sev, category := props.text("severity"), props.text("category")
		entity, threat, action := props.text("compromisedEntity"), props.text("threatStatus"), props.text("actionTaken")
		c.facts.add("severity", sev)
		c.facts.add("category", category)
		c.facts.add("compromisedEntity", entity)
		c.facts.add("threatStatus", threat)
		c.facts.add("actionTaken", action)
		c.facts.add("protectionType", props.text("protectionType"))
		c.facts.add("filePath", props.text("filePath"))
		// Defender's own rating says more than the activity log's level.
		c.level = ""
		c.levelWord(sev, "alertContext.properties.severity")
		line := "Security alert"
		if sev != "" {
			line += " (" + sev + " severity)"
		}
		line += ": " + or(category, "threat")
		if entity != "" {
			line += " on " + entity
		}
		if s := join(", ", prefixed("threat ", threat), prefixed("action taken ", action)); s != "" {
			line += "; " + s
		}
		c.line("%s", line)
		if steps := jsonStrings(props.text("remediationSteps")); len(steps) > 0 {
			c.line("Remediation: %s", strings.Join(steps, "; "))
		}
	}
	c.line("%s", ctx.text("Activity Log Event Description"))
}

// policy reads the policies array Azure Policy embeds as a JSON string.
func (c *contextReader) policy(props object) {
	c.facts.add("resourceLocation", props.text("resourceLocation"))
	c.facts.add("isComplianceCheck", props.text("isComplianceCheck"))
	var policies []map[string]any
	if json.Unmarshal([]byte(props.text("policies")), &policies) != nil {
		return
	}
	for i, m := range policies {
		p := object{m: m}
		effect, assignment := p.text("policyDefinitionEffect"), p.text("policyAssignmentName")
		definition := or(p.text("policyDefinitionReferenceId"), p.text("policyDefinitionName"))
		if i == 0 {
			c.facts.add("policyEffect", effect)
			c.facts.add("policyAssignment", assignment)
			c.facts.add("policyDefinition", definition)
		}
		line := "Policy " + or(effect, "evaluation")
		if assignment != "" {
			line += " from assignment " + assignment
		}
		if definition != "" {
			line += " (" + definition + ")"
		}
		c.line("%s", line)
	}
}

// recommendation reads Azure Advisor's new-recommendation events.
func (c *contextReader) recommendation(props object) {
	category, impact, risk := props.text("recommendationCategory"), props.text("recommendationImpact"), props.text("recommendationRisk")
	c.facts.add("recommendationCategory", category)
	c.facts.add("recommendationImpact", impact)
	c.facts.add("recommendationRisk", risk)
	c.facts.add("recommendationType", props.text("recommendationType"))
	c.facts.add("recommendationResourceLink", props.text("recommendationResourceLink"))
	line := "Advisor recommendation"
	if category != "" {
		line += " (" + category + ")"
	}
	if s := join(", ", prefixed("impact ", impact), prefixed("risk ", risk)); s != "" {
		line += ": " + s
	}
	c.line("%s", line)
	c.link("Recommendation in Azure Advisor", props.text("recommendationResourceLink"))
}

// serviceHealth reads Azure's own incident and maintenance notices. The tracking
// id is what Microsoft support and the status history use, so it is kept as a
// vendor reference that links to the issue in Service Health.
func (c *contextReader) serviceHealth(ctx object) {
	p := ctx.sub("properties")
	title, service, region := p.text("title"), p.text("service"), p.text("region")
	kind, tracking, stage := p.text("incidentType"), p.text("trackingId"), p.text("stage")
	impacted := impactedServices(p.get("impactedServices"))

	c.facts.add("incidentType", kind)
	c.facts.add("trackingId", tracking)
	c.facts.add("stage", stage)
	c.facts.add("title", title)
	c.facts.add("service", service)
	c.facts.add("region", region)
	c.facts.add("impactedServices", impacted)
	c.facts.add("impactStartTime", p.text("impactStartTime"))
	c.facts.add("impactMitigationTime", p.text("impactMitigationTime"))
	c.facts.add("operationName", ctx.text("operationName"))
	c.nameRule(title, "alertContext.properties.title")

	line := "Azure Service Health " + or(kind, "event")
	if tracking != "" {
		line += " " + tracking
	}
	if stage != "" {
		line += " (" + stage + ")"
	}
	c.line("%s: %s", line, or(title, "no title"))
	if impacted != "" {
		c.line("Impacted: %s", impacted)
	} else if s := join(" in ", service, region); s != "" {
		c.line("Impacted: %s", s)
	}
	if start := p.text("impactStartTime"); start != "" {
		c.line("Impact from %s%s", start, prefixed(" until ", p.text("impactMitigationTime")))
	}
	if text := htmlText(p.text("communication")); text != "" {
		c.line("Communication: %s", text)
	}

	if tracking != "" {
		c.foldKey = "azure-service-health:" + tracking
		// "Resolved", then "RCA" when the post-incident review is published;
		// "Complete" or "Canceled" ends a maintenance. Without a stage, the
		// event's own status says it.
		switch strings.ToLower(or(stage, ctx.text("status"))) {
		case "resolved", "rca", "complete", "completed", "canceled", "cancelled":
			c.recovered = true
		}
		ref := incident.VendorRef{System: "azure-service-health", ID: tracking}
		// Service Health's documented short link: tracking id, then the first and
		// last three characters of the subscription id.
		if sub := c.subscriptionID(); sub != "" {
			ref.URL = serviceHealthURL + url.PathEscape(tracking) + "/" + sub[:3] + sub[len(sub)-3:]
		}
		c.vendorRefs = append(c.vendorRefs, ref)
	}
}

// subscriptionID finds the alert's subscription in its targets or its id.
func (c *contextReader) subscriptionID() string {
	for _, id := range append(slices.Clone(c.ess.targets), c.ess.alertID) {
		if m := subscription.FindStringSubmatch(id); m != nil {
			return strings.ToLower(m[1])
		}
	}
	return ""
}

// resourceHealth reads a resource's own health transitions.
func (c *contextReader) resourceHealth(ctx object) {
	p := ctx.sub("properties")
	title, current, previous := p.text("title"), p.text("currentHealthStatus"), p.text("previousHealthStatus")
	kind, cause := p.text("type"), p.text("cause")
	c.facts.add("currentHealthStatus", current)
	c.facts.add("previousHealthStatus", previous)
	c.facts.add("type", kind)
	c.facts.add("cause", cause)
	c.facts.add("title", title)
	c.facts.add("details", p.text("details"))
	c.facts.add("operationName", ctx.text("operationName"))
	c.facts.add("eventTimestamp", ctx.text("eventTimestamp"))
	c.nameRule(join(": ", "Resource health", title), "alertContext.properties.title")

	if len(c.ess.targets) > 0 {
		c.foldKey = "azure-resource-health:" + strings.ToLower(c.ess.targets[0])
		c.recovered = strings.EqualFold(current, "Available")
	}
	line := "Resource health"
	if previous != "" || current != "" {
		line += " " + or(previous, "?") + " → " + or(current, "?")
	}
	if title != "" {
		line += ": " + title
	}
	if s := join(", ", kind, prefixed("cause ", cause)); s != "" {
		line += " (" + s + ")"
	}
	c.line("%s", line)
	c.line("%s", p.text("details"))
}

// smartDetector reads Application Insights smart detection (anomaly) alerts.
func (c *contextReader) smartDetector(ctx object) {
	name, summary := ctx.text("SmartDetectorName"), ctx.text("DetectionSummary")
	detected, normal := ctx.text("DetectedValue"), ctx.text("NormalValue")
	c.facts.add("smartDetectorName", name)
	c.facts.add("smartDetectorId", ctx.text("SmartDetectorId"))
	c.facts.add("detectionSummary", summary)
	c.facts.add("detectedValue", detected)
	c.facts.add("normalValue", normal)
	c.facts.add("occurrenceTime", ctx.text("FormattedOccurrenceTime"))
	c.nameRule(name, "alertContext.SmartDetectorName")

	line := join(": ", or(name, "Smart detection"), summary)
	if s := join(", ", prefixed("detected ", detected), prefixed("normally ", normal)); s != "" {
		line += "; " + s
	}
	c.line("%s", line)
}

// prometheus reads alerts from Azure Monitor managed Prometheus rule groups.
func (c *contextReader) prometheus(ctx object) {
	expr, value := ctx.text("expression"), ctx.num("expressionValue")
	interval, pending := ctx.text("interval"), ctx.text("for")
	labels, annotations := ctx.sub("labels"), ctx.sub("annotations")
	c.facts.add("expression", expr)
	c.facts.add("expressionValue", value)
	c.facts.add("interval", interval)
	c.facts.add("for", pending)
	c.facts.add("labels", keyValues(labels))
	c.facts.add("ruleGroup", ctx.text("ruleGroup"))
	c.nameRule(labels.text("alertname"), "alertContext.labels.alertname")

	line := "PromQL " + or(expr, "expression")
	if value != "" {
		line += " returned " + value
	}
	if s := join(", ", prefixed("evaluated every ", interval), prefixed("pending for ", pending)); s != "" {
		line += " (" + s + ")"
	}
	c.line("%s", line)
	c.line("%s", annotations.text("summary"))
	c.line("%s", annotations.text("description"))
	c.link("Runbook", or(annotations.text("runbook_url"), annotations.text("runbookUrl")))
}

// budgetSignal is what a budget alert is worth: spend is the vendor's concern,
// not a customer's, so it waits for business hours.
const budgetSignal = incident.Sev4

// budget reads Cost Management budget alerts (monitoringService CostAlerts), which
// name no rule, severity or target: the budget supplies all three.
func (c *contextReader) budget(ctx object) {
	d := ctx.sub("AlertData")
	name, budgetType, threshold := d.text("BudgetName"), d.text("BudgetType"), d.text("ThresholdType")
	limit, notifyAt := d.text("BudgetThreshold"), d.text("NotificationThresholdAmount")
	spent, forecast := d.text("SpentAmount"), d.text("ForecastedTotalForPeriod")
	id, scope := d.text("BudgetId"), strings.TrimSuffix(d.text("Scope"), "/")
	c.facts.add("alertCategory", ctx.text("AlertCategory"))
	c.facts.add("budgetName", name)
	c.facts.add("budgetType", budgetType)
	c.facts.add("thresholdType", threshold)
	c.facts.add("budgetThreshold", limit)
	c.facts.add("notificationThresholdAmount", notifyAt)
	c.facts.add("spentAmount", spent)
	c.facts.add("forecastedTotalForPeriod", forecast)
	c.facts.add("unit", d.text("Unit"))
	c.facts.add("budgetStartDate", d.text("BudgetStartDate"))
	c.facts.add("budgetId", id)
	c.facts.add("scope", scope)

	line := "Budget " + or(name, "(unnamed)")
	if s := join(", ", budgetType, threshold); s != "" {
		line += " (" + s + ")"
	}
	var parts []string
	if strings.EqualFold(threshold, "Forecasted") && forecast != "" {
		parts = append(parts, "forecast "+forecast+" for the period")
	}
	if spent != "" {
		parts = append(parts, "spent "+spent)
	}
	if limit != "" {
		parts = append(parts, "budget "+limit)
	}
	if notifyAt != "" {
		parts = append(parts, "alert threshold "+notifyAt)
	}
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, "; ")
	}
	c.line("%s", line)

	if name != "" {
		c.nameRule("Budget "+name, "alertContext.AlertData.BudgetName")
	}
	c.signal = budgetSignal
	c.signalBasis = "a budget alert (monitoringService CostAlerts) carries no severity, and spend does not affect customers"
	if subscription.MatchString(scope) {
		c.targets, c.targetsFrom = []string{scope}, "alertContext.AlertData.Scope"
	}
	// Every alert of one budget is one problem: 50%, 80%, then 100% of it.
	if key := or(id, scope+"/"+name); key != "/" {
		c.foldKey = "azure-budget:" + strings.ToLower(key)
	}
	if strings.HasPrefix(strings.ToLower(c.ess.description), "delivery confirmation") {
		c.notes = append(c.notes, "this is a budget's delivery confirmation: Azure testing that the action group reaches Vigil, not spend")
	}
}

// unknown keeps what it can from a monitoring service this code does not know
// yet: the context's top-level values, and those under properties.
func (c *contextReader) unknown(ctx object) {
	if c.ess.monitoringService == "" {
		c.line("essentials.monitoringService is missing; facts are alertContext's top-level values")
	} else {
		c.line("Vigil has no specific reading for monitoringService %q; facts are alertContext's top-level values", c.ess.monitoringService)
	}
	for _, k := range slices.Sorted(maps.Keys(ctx.m)) {
		c.facts.add(k, scalarText(ctx.m[k]))
	}
	props := ctx.sub("properties")
	for _, k := range slices.Sorted(maps.Keys(props.m)) {
		c.facts.add("properties."+k, scalarText(props.m[k]))
	}
}

// nameRule offers a rule name for an alert whose rule Azure did not name; the
// first offer wins.
func (c *contextReader) nameRule(name, from string) {
	if c.ruleName == "" && oneLine(name) != "" {
		c.ruleName, c.ruleNameFrom = name, from
	}
}

// levelWord offers a level word ("Warning", "High") to rate an alert that
// carries no severity; the first word Vigil knows wins.
func (c *contextReader) levelWord(word, from string) {
	if _, known := levelSignal[strings.ToLower(word)]; c.level == "" && known {
		c.level, c.levelFrom = word, from
	}
}

// line adds a line of prose to Details; blank lines are skipped.
func (c *contextReader) line(format string, args ...any) {
	s := strings.TrimSpace(fmt.Sprintf(format, args...))
	if s == "" || len(c.lines) >= maxDetailLines {
		return
	}
	c.lines = append(c.lines, cut(s, maxDetailRunes))
}

func (c *contextReader) details() string { return strings.Join(c.lines, "\n") }

// link adds an absolute http(s) link once; anything else Azure sends is skipped
// rather than shown to a responder as a broken link.
func (c *contextReader) link(title, raw string) {
	// The portal link comes first, so context links get one place less.
	if raw == "" || len(raw) > maxLinkBytes || len(c.links) >= maxLinks-1 || !isWebURL(raw) {
		return
	}
	if slices.ContainsFunc(c.links, func(l incident.Link) bool { return l.URL == raw }) {
		return
	}
	c.links = append(c.links, incident.Link{Title: title, URL: raw})
}

func isWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// factSet is a small, bounded map of facts: blank values are dropped, long ones
// cut, and once it holds maxFacts entries further facts are ignored.
type factSet struct {
	m map[string]string
}

func (f *factSet) add(key, value string) {
	value = strings.TrimSpace(value)
	if key == "" || value == "" || len(f.m) >= maxFacts {
		return
	}
	if f.m == nil {
		f.m = make(map[string]string)
	}
	if _, dup := f.m[key]; !dup {
		f.m[key] = cut(value, maxFactRunes)
	}
}

// describeThreshold renders a comparison for people: "> 80" for GreaterThan 80.
func describeThreshold(op, threshold string) string {
	if threshold == "" {
		return ""
	}
	symbols := map[string]string{
		"greaterthan": ">", "greaterthanorequal": "≥", "lessthan": "<", "lowerthan": "<",
		"lessthanorequal": "≤", "lowerthanorequal": "≤", "equal": "=", "equals": "=",
		"notequal": "≠", "greaterorlessthan": "above or below",
	}
	if s, ok := symbols[serviceKey(op)]; ok {
		return s + " " + threshold
	}
	return join(" ", op, threshold)
}

// criterionPrefix keeps facts of several criteria apart: allOf[1].metricName.
func criterionPrefix(i, n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf("allOf[%d].", i)
}

// failingPeriods is how many of the evaluated periods must fail to fire: "3 of 4".
func failingPeriods(o object) string {
	failing, total := o.num("minFailingPeriodsToAlert"), o.num("numberOfEvaluationPeriods")
	if failing == "" || total == "" {
		return ""
	}
	return failing + " of " + total
}

// dimensions renders [{name, value}] as "name=value, name=value".
func dimensions(l []any) string {
	var parts []string
	for _, d := range objects(l) {
		if n, v := d.text("name"), d.text("value"); n != "" || v != "" {
			parts = append(parts, n+"="+v)
		}
	}
	return strings.Join(parts, ", ")
}

// impactedServices renders Service Health's list of services and regions as
// "Service (Region, Region); Service (Region)". Real events embed the list as a
// JSON string; the action group's test sends it as an array.
func impactedServices(v any) string {
	list, isList := v.([]any)
	if raw, isText := v.(string); isText {
		if json.Unmarshal([]byte(raw), &list) != nil {
			return ""
		}
	} else if !isList {
		return ""
	}
	var parts []string
	for _, s := range objects(list) {
		var regions []string
		for _, r := range objects(s.list("ImpactedRegions")) {
			regions = appendUnique(regions, r.text("RegionName"))
		}
		part := or(s.text("ServiceName"), "unknown service")
		if len(regions) > 0 {
			part += " (" + strings.Join(regions, ", ") + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// jsonStrings reads a JSON array of strings that Azure embeds as a string.
func jsonStrings(raw string) []string {
	var l []any
	if json.Unmarshal([]byte(raw), &l) != nil {
		return nil
	}
	return textList(l)
}

// keyValues renders an object's scalar entries as sorted "k=v" pairs.
func keyValues(o object) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(o.m)) {
		if v := scalarText(o.m[k]); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ", ")
}

func objects(l []any) []object {
	var out []object
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			out = append(out, object{m: m})
		}
	}
	return out
}

// lastSegment is the name at the end of a resource id.
func lastSegment(id string) string {
	return id[strings.LastIndexByte(id, '/')+1:]
}

// htmlText reduces Service Health's HTML to one line of text. Inline tags vanish
// so that "<strong>Impact</strong>:" reads "Impact:"; block tags become spaces.
func htmlText(s string) string {
	s = htmlTag.ReplaceAllStringFunc(s, func(tag string) string {
		switch strings.ToLower(htmlTag.FindStringSubmatch(tag)[1]) {
		case "strong", "b", "em", "i", "u", "span", "a", "code", "small", "sup", "sub":
			return ""
		}
		return " "
	})
	return oneLine(html.UnescapeString(s))
}

// join joins the non-empty parts with sep.
func join(sep string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), sep)
}

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// prefixed returns p+s, or "" when s is empty.
func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
