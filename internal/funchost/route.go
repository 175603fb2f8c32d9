package funchost

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

type segmentKind int

// Ordered by precedence: a literal beats a parameter, which beats a
// catch-all (ASP.NET routing's inbound precedence).
const (
	segLiteral segmentKind = iota
	segParam
	segCatchAll
)

type segment struct {
	kind segmentKind
	text string // the literal, or the parameter's name
}

// route is an httpTrigger route template: literal segments, {name} and a
// final catch-all {*rest} (which also matches nothing). Optional parameters
// ({id?}), constraints ({id:int}), defaults ({x=1}) and segments mixing text
// and parameters are refused at load time: the app uses none of them.
type route struct {
	template string
	segs     []segment
}

func parseRoute(template string) (*route, error) {
	t := strings.Trim(template, "/")
	if t == "" {
		return nil, errors.New("empty route")
	}
	rt := &route{template: t}
	names := map[string]bool{}
	for _, s := range strings.Split(t, "/") {
		if s == "" {
			return nil, fmt.Errorf("route %q has an empty segment", template)
		}
		if !strings.HasPrefix(s, "{") {
			if strings.ContainsAny(s, "{}") {
				return nil, fmt.Errorf("route %q: segment %q mixes text and a parameter, which vigil local does not support", template, s)
			}
			if len(rt.segs) > 0 && rt.segs[len(rt.segs)-1].kind == segCatchAll {
				return nil, fmt.Errorf("route %q: a catch-all parameter must come last", template)
			}
			rt.segs = append(rt.segs, segment{kind: segLiteral, text: s})
			continue
		}
		if !strings.HasSuffix(s, "}") || strings.Count(s, "{") != 1 || strings.Count(s, "}") != 1 {
			return nil, fmt.Errorf("route %q: segment %q mixes text and a parameter, which vigil local does not support", template, s)
		}
		name := s[1 : len(s)-1]
		kind := segParam
		if strings.HasPrefix(name, "*") {
			kind, name = segCatchAll, strings.TrimPrefix(strings.TrimPrefix(name, "*"), "*")
		}
		if strings.HasSuffix(name, "?") {
			return nil, fmt.Errorf("route %q: optional parameter %q is not supported by vigil local", template, s)
		}
		if strings.ContainsAny(name, ":=") {
			return nil, fmt.Errorf("route %q: parameter %q has a constraint or default, which vigil local does not support", template, s)
		}
		if name == "" || strings.ContainsAny(name, "{}?*/") {
			return nil, fmt.Errorf("route %q: bad parameter %q", template, s)
		}
		if names[strings.ToLower(name)] {
			return nil, fmt.Errorf("route %q: parameter %q appears twice", template, name)
		}
		names[strings.ToLower(name)] = true
		if len(rt.segs) > 0 && rt.segs[len(rt.segs)-1].kind == segCatchAll {
			return nil, fmt.Errorf("route %q: a catch-all parameter must come last", template)
		}
		rt.segs = append(rt.segs, segment{kind: kind, text: name})
	}
	return rt, nil
}

// key is the template with parameter names erased, so that "cases/{id}" and
// "Cases/{caseId}" are recognised as the same route.
func (r *route) key() string {
	var b strings.Builder
	for _, s := range r.segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(strings.ToLower(s.text))
		case segParam:
			b.WriteString("{}")
		case segCatchAll:
			b.WriteString("{*}")
		}
	}
	return b.String()
}

// before orders routes by precedence, most specific first.
func (r *route) before(o *route) bool {
	for i := 0; i < len(r.segs) && i < len(o.segs); i++ {
		if r.segs[i].kind != o.segs[i].kind {
			return r.segs[i].kind < o.segs[i].kind
		}
	}
	return len(r.segs) > len(o.segs)
}

// param is one matched route value, in template order.
type param struct{ name, value string }

// match matches the escaped path below the route prefix (no leading slash).
// Literals compare case-insensitively and values are unescaped per segment, as
// in ASP.NET routing; an empty catch-all yields no value.
func (r *route) match(escapedPath string, params []param) ([]param, bool) {
	rest := strings.TrimSuffix(escapedPath, "/")
	for _, s := range r.segs {
		var part string
		more := rest != ""
		if s.kind == segCatchAll {
			if more {
				v, err := url.PathUnescape(rest)
				if err != nil {
					return nil, false
				}
				params = append(params, param{s.text, v})
			}
			return params, true
		}
		if !more {
			return nil, false
		}
		part, rest, _ = strings.Cut(rest, "/")
		if part == "" {
			return nil, false
		}
		if s.kind == segLiteral {
			if !strings.EqualFold(part, s.text) {
				// Literals rarely contain escapes; compare unescaped only when they do.
				if !strings.Contains(part, "%") {
					return nil, false
				}
				if v, err := url.PathUnescape(part); err != nil || !strings.EqualFold(v, s.text) {
					return nil, false
				}
			}
			continue
		}
		v := part
		if strings.Contains(part, "%") {
			var err error
			if v, err = url.PathUnescape(part); err != nil {
				return nil, false
			}
		}
		params = append(params, param{s.text, v})
	}
	if rest != "" {
		return nil, false
	}
	return params, true
}
