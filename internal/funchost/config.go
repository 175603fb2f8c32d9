package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults the Functions host applies when host.json is silent.
const (
	defaultRoutePrefix        = "api"
	defaultMaxConcurrentCalls = 16
	defaultLockRenewal        = 5 * time.Minute
	defaultFunctionTimeout    = 5 * time.Minute
)

// hostConfig is what host.json says, with defaults applied.
type hostConfig struct {
	executable         string // as written in host.json; resolved by the caller
	arguments          []string
	workingDirectory   string
	routePrefix        string
	maxConcurrentCalls int
	maxLockRenewal     time.Duration
	functionTimeout    time.Duration // 0: no timeout ("-1")
}

// hostFile is host.json as far as the local host reads it; unknown keys are
// ignored, as the real host ignores settings of extensions it does not load.
type hostFile struct {
	FunctionTimeout *string `json:"functionTimeout"`
	CustomHandler   struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			Arguments             []string `json:"arguments"`
			WorkingDirectory      string   `json:"workingDirectory"`
		} `json:"description"`
		EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
		ServiceBus struct {
			MaxConcurrentCalls         *int    `json:"maxConcurrentCalls"`
			MaxAutoLockRenewalDuration *string `json:"maxAutoLockRenewalDuration"`
		} `json:"serviceBus"`
	} `json:"extensions"`
}

func loadHostConfig(appDir string) (hostConfig, error) {
	path := filepath.Join(appDir, "host.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return hostConfig{}, fmt.Errorf("funchost: read host.json: %w", err)
	}
	var f hostFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return hostConfig{}, fmt.Errorf("funchost: %s: %w", path, err)
	}
	if f.CustomHandler.EnableForwardingHttpRequest {
		// Forwarding changes the wire contract (raw request in, raw response out,
		// no other outputs); Vigil's handlers are written for the envelope.
		return hostConfig{}, fmt.Errorf("funchost: %s: customHandler.enableForwardingHttpRequest=true is not supported by vigil local", path)
	}
	c := hostConfig{
		executable:         f.CustomHandler.Description.DefaultExecutablePath,
		arguments:          f.CustomHandler.Description.Arguments,
		workingDirectory:   f.CustomHandler.Description.WorkingDirectory,
		routePrefix:        defaultRoutePrefix,
		maxConcurrentCalls: defaultMaxConcurrentCalls,
		maxLockRenewal:     defaultLockRenewal,
		functionTimeout:    defaultFunctionTimeout,
	}
	if p := f.Extensions.HTTP.RoutePrefix; p != nil {
		c.routePrefix = strings.Trim(*p, "/")
	}
	if n := f.Extensions.ServiceBus.MaxConcurrentCalls; n != nil {
		if *n < 1 {
			return hostConfig{}, fmt.Errorf("funchost: %s: extensions.serviceBus.maxConcurrentCalls must be at least 1, got %d", path, *n)
		}
		c.maxConcurrentCalls = *n
	}
	if s := f.Extensions.ServiceBus.MaxAutoLockRenewalDuration; s != nil {
		d, err := parseTimeSpan(*s)
		if err != nil || d < 0 {
			return hostConfig{}, fmt.Errorf("funchost: %s: extensions.serviceBus.maxAutoLockRenewalDuration %q is not a TimeSpan like \"00:05:00\"", path, *s)
		}
		c.maxLockRenewal = d
	}
	if s := f.FunctionTimeout; s != nil {
		d, err := parseTimeSpan(*s)
		switch {
		case err != nil:
			return hostConfig{}, fmt.Errorf("funchost: %s: functionTimeout %q is not a TimeSpan like \"00:05:00\"", path, *s)
		case d < 0:
			c.functionTimeout = 0 // "-1": unbounded, as on dedicated plans
		default:
			c.functionTimeout = d
		}
	}
	return c, nil
}

// parseTimeSpan reads .NET TimeSpan text as host.json uses it: "[-][d.]hh:mm[:ss[.fffffff]]",
// or a whole number of days ("-1" in functionTimeout means no limit).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	bad := fmt.Errorf("bad TimeSpan %q", s)
	if s == "" {
		return 0, bad
	}
	var d time.Duration
	if !strings.Contains(s, ":") {
		days, err := strconv.Atoi(s)
		if err != nil {
			return 0, bad
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, bad
		}
		if day, hours, ok := strings.Cut(parts[0], "."); ok {
			n, err := strconv.Atoi(day)
			if err != nil {
				return 0, bad
			}
			d += time.Duration(n) * 24 * time.Hour
			parts[0] = hours
		}
		units := []time.Duration{time.Hour, time.Minute, time.Second}
		for i, p := range parts {
			whole, frac, hasFrac := strings.Cut(p, ".")
			if hasFrac && i != 2 {
				return 0, bad
			}
			n, err := strconv.Atoi(whole)
			if err != nil || n < 0 {
				return 0, bad
			}
			d += time.Duration(n) * units[i]
			if hasFrac {
				f, err := strconv.ParseFloat("0."+frac, 64)
				if err != nil {
					return 0, bad
				}
				d += time.Duration(f * float64(time.Second))
			}
		}
	}
	if neg {
		d = -d
	}
	return d, nil
}

// Trigger kinds, as function.json spells them.
const (
	kindHTTP       = "httpTrigger"
	kindServiceBus = "serviceBusTrigger"
	kindTimer      = "timerTrigger"
)

// function is one function folder, validated.
type function struct {
	name      string
	trigger   string // kindHTTP, kindServiceBus or kindTimer
	inputName string // the trigger binding's name: the key under Data

	// httpTrigger
	route     *route
	methods   []string // upper case; empty: every method
	authLevel string
	httpOut   string // the http output's name ("res", "$return"); "" when none

	// serviceBusTrigger
	entity       string // queue, or "topic/subscriptions/subscription"
	binaryInput  bool
	sbOutputs    []serviceBusOutput
	scheduleExpr string

	// timerTrigger
	schedule     cron.Schedule
	runOnStartup bool
	useMonitor   bool
}

// serviceBusOutput is a `serviceBus` output binding.
type serviceBusOutput struct {
	name   string
	entity string // queue or topic
	binary bool
}

// functionFile is function.json.
type functionFile struct {
	Disabled json.RawMessage `json:"disabled"`
	Bindings []bindingFile   `json:"bindings"`
}

type bindingFile struct {
	Type              string   `json:"type"`
	Direction         string   `json:"direction"`
	Name              string   `json:"name"`
	AuthLevel         string   `json:"authLevel"`
	Methods           []string `json:"methods"`
	Route             *string  `json:"route"`
	QueueName         string   `json:"queueName"`
	TopicName         string   `json:"topicName"`
	SubscriptionName  string   `json:"subscriptionName"`
	DataType          string   `json:"dataType"`
	Schedule          string   `json:"schedule"`
	RunOnStartup      bool     `json:"runOnStartup"`
	UseMonitor        *bool    `json:"useMonitor"`
	IsSessionsEnabled bool     `json:"isSessionsEnabled"`
	Cardinality       string   `json:"cardinality"`
}

// settings resolves %Name% references the way the host resolves app settings:
// from the settings given to the worker, then the process environment.
type settings []string

func (s settings) lookup(name string) (string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(s[i], "="); ok && k == name {
			return v, true
		}
	}
	return os.LookupEnv(name)
}

// resolve replaces every %Name% in v.
func (s settings) resolve(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	rest := v
	for {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("unterminated %%...%% app-setting reference in %q", v)
		}
		name := rest[i+1 : i+1+j]
		val, ok := s.lookup(name)
		if !ok || name == "" {
			return "", fmt.Errorf("app setting %q (referenced as %%%s%%) is not set", name, name)
		}
		b.WriteString(rest[:i])
		b.WriteString(val)
		rest = rest[i+2+j:]
	}
}

// cronParser reads NCRONTAB: six fields, seconds first.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// loadFunctions reads every functions/*/function.json under appDir. A folder
// without function.json is not a function (the real host skips it too).
func loadFunctions(appDir string, env settings) ([]*function, error) {
	dir := filepath.Join(appDir, "functions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("funchost: read functions: %w", err)
	}
	var fns []*function
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), "function.json")
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("funchost: %w", err)
		}
		fn, err := parseFunction(e.Name(), raw, env)
		if err != nil {
			return nil, fmt.Errorf("funchost: %s: %w", path, err)
		}
		if fn != nil {
			fns = append(fns, fn)
		}
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("funchost: no enabled function under %s", dir)
	}
	if err := checkRouteClashes(fns); err != nil {
		return nil, err
	}
	return fns, nil
}

// parseFunction validates one function.json; it returns nil for a disabled function.
func parseFunction(name string, raw []byte, env settings) (*function, error) {
	var f functionFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("function %q: %w", name, err)
	}
	if disabled(f.Disabled, name, env) {
		return nil, nil
	}
	fn := &function{name: name}
	for _, b := range f.Bindings {
		if err := fn.addBinding(b, env); err != nil {
			label := b.Name
			if label == "" {
				label = "(unnamed)"
			}
			return nil, fmt.Errorf("function %q: binding %q (type %q, direction %q): %w", name, label, b.Type, b.Direction, err)
		}
	}
	if fn.trigger == "" {
		return nil, fmt.Errorf("function %q: no trigger binding (need one of %s, %s, %s)", name, kindHTTP, kindServiceBus, kindTimer)
	}
	if fn.trigger == kindHTTP && fn.route == nil {
		rt, err := parseRoute(name)
		if err != nil {
			return nil, fmt.Errorf("function %q: default route: %w", name, err)
		}
		fn.route = rt
	}
	if fn.httpOut != "" && fn.trigger != kindHTTP {
		return nil, fmt.Errorf("function %q: binding %q (type \"http\"): an http output needs an httpTrigger", name, fn.httpOut)
	}
	return fn, nil
}

// disabled reads "disabled" (true, or a setting name / "true" string) and the
// AzureWebJobs.<name>.Disabled app setting, as the host does.
func disabled(raw json.RawMessage, name string, env settings) bool {
	if v, ok := env.lookup("AzureWebJobs." + name + ".Disabled"); ok {
		if b, err := strconv.ParseBool(v); err == nil && b {
			return true
		}
	}
	if len(raw) == 0 {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, ok := env.lookup(s); ok {
			s = v
		}
		b, _ := strconv.ParseBool(s)
		return b
	}
	return false
}

var supportedBindings = "httpTrigger + http, serviceBusTrigger, timerTrigger, serviceBus (out)"

func (fn *function) addBinding(b bindingFile, env settings) error {
	dir := strings.ToLower(b.Direction)
	if b.Name == "" {
		return errors.New("has no name")
	}
	setTrigger := func(kind string) error {
		if dir != "in" {
			return fmt.Errorf("a trigger must have direction \"in\"")
		}
		if fn.trigger != "" {
			return fmt.Errorf("a function has exactly one trigger, and %q already has a %s", fn.name, fn.trigger)
		}
		if b.Name == "$return" {
			return errors.New("a trigger cannot be named $return")
		}
		fn.trigger, fn.inputName = kind, b.Name
		return nil
	}
	switch {
	case strings.EqualFold(b.Type, kindHTTP):
		if err := setTrigger(kindHTTP); err != nil {
			return err
		}
		fn.authLevel = strings.ToLower(b.AuthLevel)
		for _, m := range b.Methods {
			fn.methods = append(fn.methods, strings.ToUpper(m))
		}
		if b.Route != nil && strings.Trim(*b.Route, "/") != "" {
			rt, err := parseRoute(*b.Route)
			if err != nil {
				return err
			}
			fn.route = rt
		}
		if b.DataType != "" && !strings.EqualFold(b.DataType, "string") {
			return fmt.Errorf("dataType %q is not supported on an httpTrigger", b.DataType)
		}
	case strings.EqualFold(b.Type, "http"):
		if dir != "out" {
			return errors.New("an http binding must have direction \"out\"")
		}
		if fn.httpOut != "" {
			return fmt.Errorf("a second http output (first is %q)", fn.httpOut)
		}
		fn.httpOut = b.Name
	case strings.EqualFold(b.Type, kindServiceBus):
		if err := setTrigger(kindServiceBus); err != nil {
			return err
		}
		if b.IsSessionsEnabled {
			return errors.New("isSessionsEnabled is not supported by vigil local (the embedded queue has no sessions)")
		}
		if b.Cardinality != "" && !strings.EqualFold(b.Cardinality, "one") {
			return fmt.Errorf("cardinality %q is not supported by vigil local (batches are not delivered to custom handlers the same way)", b.Cardinality)
		}
		binary, err := dataTypeBinary(b.DataType)
		if err != nil {
			return err
		}
		fn.binaryInput = binary
		entity, err := receiveEntity(b, env)
		if err != nil {
			return err
		}
		fn.entity = entity
	case strings.EqualFold(b.Type, "serviceBus"):
		if dir != "out" {
			return errors.New("a serviceBus input binding is not supported (use a serviceBusTrigger)")
		}
		binary, err := dataTypeBinary(b.DataType)
		if err != nil {
			return err
		}
		entity, err := sendEntity(b, env)
		if err != nil {
			return err
		}
		for _, o := range fn.sbOutputs {
			if o.name == b.Name {
				return errors.New("duplicate output name")
			}
		}
		fn.sbOutputs = append(fn.sbOutputs, serviceBusOutput{name: b.Name, entity: entity, binary: binary})
	case strings.EqualFold(b.Type, kindTimer):
		if err := setTrigger(kindTimer); err != nil {
			return err
		}
		expr, err := env.resolve(b.Schedule)
		if err != nil {
			return err
		}
		if n := len(strings.Fields(expr)); n != 6 {
			return fmt.Errorf("schedule %q has %d fields; vigil local takes 6-field NCRONTAB (second minute hour day month day-of-week), which is what Flex Consumption takes too", expr, n)
		}
		sched, err := parseSchedule(expr)
		if err != nil {
			return fmt.Errorf("schedule %q: %w", expr, err)
		}
		fn.schedule, fn.scheduleExpr = sched, expr
		fn.runOnStartup = b.RunOnStartup
		fn.useMonitor = b.UseMonitor == nil || *b.UseMonitor // the host's default is true
	default:
		return fmt.Errorf("binding type %q is not supported by vigil local (supported: %s)", b.Type, supportedBindings)
	}
	return nil
}

func dataTypeBinary(dt string) (bool, error) {
	switch strings.ToLower(dt) {
	case "", "string":
		return false, nil
	case "binary":
		return true, nil
	}
	return false, fmt.Errorf("dataType %q is not supported (use \"string\" or \"binary\")", dt)
}

func receiveEntity(b bindingFile, env settings) (string, error) {
	queue, err := env.resolve(b.QueueName)
	if err != nil {
		return "", fmt.Errorf("queueName: %w", err)
	}
	topic, err := env.resolve(b.TopicName)
	if err != nil {
		return "", fmt.Errorf("topicName: %w", err)
	}
	sub, err := env.resolve(b.SubscriptionName)
	if err != nil {
		return "", fmt.Errorf("subscriptionName: %w", err)
	}
	switch {
	case queue != "" && topic == "" && sub == "":
		return queue, nil
	case queue == "" && topic != "" && sub != "":
		return topic + "/subscriptions/" + sub, nil
	}
	return "", errors.New("needs queueName, or topicName and subscriptionName")
}

func sendEntity(b bindingFile, env settings) (string, error) {
	queue, err := env.resolve(b.QueueName)
	if err != nil {
		return "", fmt.Errorf("queueName: %w", err)
	}
	topic, err := env.resolve(b.TopicName)
	if err != nil {
		return "", fmt.Errorf("topicName: %w", err)
	}
	if (queue == "") == (topic == "") {
		return "", errors.New("needs exactly one of queueName and topicName")
	}
	return queue + topic, nil
}

// checkRouteClashes refuses two functions answering the same route and method:
// the real host refuses ambiguous routes too.
func checkRouteClashes(fns []*function) error {
	var https []*function
	for _, fn := range fns {
		if fn.trigger == kindHTTP {
			https = append(https, fn)
		}
	}
	for i, a := range https {
		for _, b := range https[i+1:] {
			if a.route.key() != b.route.key() {
				continue
			}
			overlap := len(a.methods) == 0 || len(b.methods) == 0
			for _, m := range a.methods {
				overlap = overlap || slices.Contains(b.methods, m)
			}
			if overlap {
				return fmt.Errorf("funchost: functions %q and %q answer the same route /%s with the same method", a.name, b.name, a.route.template)
			}
		}
	}
	return nil
}

// sortFunctions orders functions by name, for stable banners and tests.
func sortFunctions(fns []*function) {
	sort.Slice(fns, func(i, j int) bool { return fns[i].name < fns[j].name })
}

// allowsMethod reports whether fn's httpTrigger accepts method.
func (fn *function) allowsMethod(method string) bool {
	return len(fn.methods) == 0 || slices.Contains(fn.methods, method)
}
