package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	routePrefix        string
	maxConcurrentCalls int
	maxLockRenewal     time.Duration
	functionTimeout    time.Duration // 0: no timeout ("-1")
}

// hostFile is host.json as far as the local host reads it; other keys are
// ignored, as the real host ignores settings of extensions it does not load.
type hostFile struct {
	FunctionTimeout *string `json:"functionTimeout"`
	CustomHandler   struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			Arguments             []string `json:"arguments"`
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
		if err != nil {
			return hostConfig{}, fmt.Errorf("funchost: %s: functionTimeout %q is not a TimeSpan like \"00:05:00\"", path, *s)
		}
		c.functionTimeout = max(d, 0) // "-1": unbounded, as on dedicated plans
	}
	return c, nil
}

// parseTimeSpan reads a .NET TimeSpan as host.json writes it, "hh:mm:ss" with
// optional fractional seconds, or "-1" (no limit, in functionTimeout).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return -1, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("bad TimeSpan %q", s)
	}
	h, errH := strconv.Atoi(parts[0])
	m, errM := strconv.Atoi(parts[1])
	sec, errS := strconv.ParseFloat(parts[2], 64)
	if errH != nil || errM != nil || errS != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("bad TimeSpan %q", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
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
	httpOut   string // the http output's name; "" when none

	// serviceBusTrigger
	entity string // the queue

	// timerTrigger
	schedule     *ncrontab
	scheduleExpr string
}

// bindingProperties are the properties vigil local reads, by binding type
// (lower case), besides type, direction and name: what the app's own
// function.json files use. Anything else would be silently ignored, so it is
// refused instead.
var bindingProperties = map[string][]string{
	"httptrigger":       {"authLevel", "methods", "route"},
	"http":              {},
	"servicebustrigger": {"queueName", "connection"},
	"timertrigger":      {"schedule", "runOnStartup", "useMonitor"},
}

type bindingFile struct {
	Type         string   `json:"type"`
	Direction    string   `json:"direction"`
	Name         string   `json:"name"`
	AuthLevel    string   `json:"authLevel"`
	Methods      []string `json:"methods"`
	Route        string   `json:"route"`
	QueueName    string   `json:"queueName"`
	Schedule     string   `json:"schedule"`
	RunOnStartup bool     `json:"runOnStartup"`
	UseMonitor   *bool    `json:"useMonitor"`
}

// cronParser reads NCRONTAB: six fields, seconds first.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// loadFunctions reads every functions/*/function.json under appDir. A folder
// without function.json is not a function (the real host skips it too).
func loadFunctions(appDir string) ([]*function, error) {
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
		fn, err := parseFunction(e.Name(), raw)
		if err != nil {
			return nil, fmt.Errorf("funchost: %s: %w", path, err)
		}
		fns = append(fns, fn)
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("funchost: no function under %s", dir)
	}
	if err := checkRouteClashes(fns); err != nil {
		return nil, err
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].name < fns[j].name })
	return fns, nil
}

// parseFunction validates one function.json.
func parseFunction(name string, raw []byte) (*function, error) {
	var f struct {
		Bindings []json.RawMessage `json:"bindings"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("function %q: %w (vigil local reads only \"bindings\")", name, err)
	}
	fn := &function{name: name}
	for _, raw := range f.Bindings {
		var b bindingFile
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("function %q: binding: %w", name, err)
		}
		if err := fn.addBinding(b, raw); err != nil {
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

func (fn *function) addBinding(b bindingFile, raw json.RawMessage) error {
	if b.Name == "" {
		return errors.New("has no name")
	}
	allowed, ok := bindingProperties[strings.ToLower(b.Type)]
	if !ok {
		return fmt.Errorf("binding type %q is not supported by vigil local (supported: httpTrigger + http, serviceBusTrigger, timerTrigger)", b.Type)
	}
	var props map[string]json.RawMessage
	_ = json.Unmarshal(raw, &props)
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if k != "type" && k != "direction" && k != "name" && !slices.Contains(allowed, k) {
			return fmt.Errorf("property %q is not supported by vigil local on a %s binding", k, b.Type)
		}
	}
	dir := strings.ToLower(b.Direction)
	if strings.EqualFold(b.Type, "http") {
		switch {
		case dir != "out":
			return errors.New("an http binding must have direction \"out\"")
		case fn.httpOut != "":
			return fmt.Errorf("a second http output (first is %q)", fn.httpOut)
		case b.Name == "$return":
			return errors.New("an http output named $return is not supported by vigil local: name it (e.g. res) and set Outputs.res")
		}
		fn.httpOut = b.Name
		return nil
	}
	if dir != "in" {
		return errors.New("a trigger must have direction \"in\"")
	}
	if fn.trigger != "" {
		return fmt.Errorf("a function has exactly one trigger, and %q already has a %s", fn.name, fn.trigger)
	}
	fn.inputName = b.Name
	switch strings.ToLower(b.Type) {
	case "httptrigger":
		fn.trigger = kindHTTP
		fn.authLevel = strings.ToLower(b.AuthLevel)
		for _, m := range b.Methods {
			fn.methods = append(fn.methods, strings.ToUpper(m))
		}
		if strings.Trim(b.Route, "/") != "" {
			rt, err := parseRoute(b.Route)
			if err != nil {
				return err
			}
			fn.route = rt
		}
	case "servicebustrigger":
		fn.trigger = kindServiceBus
		if b.QueueName == "" {
			return errors.New("needs a queueName")
		}
		fn.entity = b.QueueName
	case "timertrigger":
		fn.trigger = kindTimer
		if b.RunOnStartup {
			return errors.New("runOnStartup true is not supported by vigil local")
		}
		if b.UseMonitor != nil && !*b.UseMonitor {
			return errors.New("useMonitor false is not supported by vigil local")
		}
		if n := len(strings.Fields(b.Schedule)); n != 6 {
			return fmt.Errorf("schedule %q has %d fields; vigil local takes 6-field NCRONTAB (second minute hour day month day-of-week), which is what Flex Consumption takes too", b.Schedule, n)
		}
		sched, err := parseSchedule(b.Schedule)
		if err != nil {
			return fmt.Errorf("schedule %q: %w", b.Schedule, err)
		}
		fn.schedule, fn.scheduleExpr = sched, b.Schedule
	}
	return nil
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

// allowsMethod reports whether fn's httpTrigger accepts method.
func (fn *function) allowsMethod(method string) bool {
	return len(fn.methods) == 0 || slices.Contains(fn.methods, method)
}
