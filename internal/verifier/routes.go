package verifier

import (
	"fmt"
	"strings"
)

// RouteMap maps gateway routes to the API-key permissions they need. It is the
// `routes:` section of the operator configuration; the zero value is the
// default map for the Portkey-style API under /v1 (docs/verifier.md).
type RouteMap struct {
	// Rules are tried in order before the default rules; the first whose path
	// and method match decides.
	Rules []Route `json:"rules,omitempty"`
	// Defaults is Include (the default) to try the built-in rules after Rules,
	// or Exclude to use Rules alone.
	Defaults string `json:"defaults,omitempty"`
	// Unmapped is Deny (the default) to refuse a route no rule matches, or
	// Allow to accept it for any valid key.
	Unmapped string `json:"unmapped,omitempty"`
	// ModelHeader is the request header the auth endpoints read a request's
	// model from (models.go); DefaultModelHeader when empty. Envoy AI Gateway
	// sets x-ai-eg-model.
	ModelHeader string `json:"modelHeader,omitempty"`
}

// Route is one rule of the route map.
type Route struct {
	// Path is a pattern of segments: literal text, * for exactly one segment,
	// and a final ** for any number of segments (including none).
	Path string `json:"path"`
	// Methods limits the rule to these HTTP methods; empty means every method.
	Methods []string `json:"methods,omitempty"`
	// Require are the permissions the route needs. Level is Enabled for on/off
	// features, Read, Write or Delete for graded ones, or ByMethod: Read for
	// GET and HEAD, Write for POST, PUT and PATCH, Delete for DELETE. Empty
	// means any valid key may call the route.
	Require []Requirement `json:"require,omitempty"`
	// Keys is Any (the default) or Admin: an organization-level route, which
	// only admin keys may call. A workspace key is refused on a path that any
	// Admin rule matches, whatever its permissions and whichever rule gives
	// the permissions, so an earlier rule cannot open it to workspace keys.
	Keys string `json:"keys,omitempty"`
}

// Requirement is one permission a route needs.
type Requirement struct {
	Feature string `json:"feature"`
	Level   string `json:"level"`
}

// Values of RouteMap.Defaults, RouteMap.Unmapped and Requirement.Level.
const (
	DefaultsInclude = "Include"
	DefaultsExclude = "Exclude"
	UnmappedDeny    = "Deny"
	UnmappedAllow   = "Allow"
	LevelByMethod   = "ByMethod"
	KeysAny         = "Any"
	KeysAdmin       = "Admin"
)

// MaxRules bounds the route map, so matching stays cheap.
const MaxRules = 256

// DefaultRules are the built-in rules for Portkey's public API under /v1.
func DefaultRules() []Route {
	completions := []Requirement{{Feature: "completions", Level: "Enabled"}}
	byMethod := func(feature string) []Requirement {
		return []Requirement{{Feature: feature, Level: LevelByMethod}}
	}
	rules := []Route{}
	for _, p := range []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/images/**", "/v1/audio/**", "/v1/responses/**", "/v1/messages/**",
		// The Portkey gateway's other inference routes (docs/gateways.md lists them).
		"/v1/files/**", "/v1/batches/**", "/v1/fine_tuning/**", "/v1/realtime", "/v1/proxy/**"} {
		rules = append(rules, Route{Path: p, Require: completions})
	}
	// Running a saved prompt: the hosted API's path, and the open-source gateway's.
	for _, p := range []string{"/v1/prompts/*/completions", "/v1/prompts/*/v1/chat/completions", "/v1/prompts/*/v1/completions"} {
		rules = append(rules, Route{Path: p, Require: []Requirement{
			{Feature: "completions", Level: "Enabled"}, {Feature: "prompts", Level: "Read"},
		}})
	}
	for _, r := range []struct{ path, feature, keys string }{
		{"/v1/prompts/**", "prompts", ""},
		{"/v1/configs/**", "configs", ""},
		{"/v1/guardrails/**", "guardrails", ""},
		{"/v1/integrations/**", "integrations", ""},
		{"/v1/providers/**", "providers", ""},
		{"/v1/virtual-keys/**", "providers", ""},
		{"/v1/models/**", "models", ""},
		// Team management is organization-level: admin keys only. The admin
		// API (/v1/admin/users, /v1/admin/user-invites, /v1/admin/workspaces,
		// ...) manages the organization's team and workspaces.
		{"/v1/users/**", "users", KeysAdmin},
		{"/v1/user-invites/**", "users", KeysAdmin},
		{"/v1/admin/**", "users", KeysAdmin},
	} {
		rules = append(rules, Route{Path: r.path, Require: byMethod(r.feature), Keys: r.keys})
	}
	for _, p := range []string{"/v1/analytics/**", "/v1/logs/**"} {
		rules = append(rules, Route{Path: p, Require: []Requirement{{Feature: "metrics", Level: "Enabled"}}})
	}
	return rules
}

// Router is a compiled route map.
type Router struct {
	rules []rule
	// adminRules are the indexes of the rules with keys: Admin.
	adminRules   []int
	allowUnknown bool
	// modelHeader is RouteMap.ModelHeader (models.go).
	modelHeader modelHeader
}

type rule struct {
	// prefix is the literal start of the pattern, a cheap first test.
	prefix   string
	segments []string
	// methods is nil for every method.
	methods []string
	// needs are the permissions per method class; nil when the class does not match.
	needs [numMethodClasses][]Need
	// adminOnly marks an organization-level rule (keys: Admin).
	adminOnly bool
	// literal marks a pattern without * or **, whose prefix is the whole
	// pattern (matches).
	literal bool
}

type methodClass uint8

const (
	methodRead methodClass = iota
	methodWrite
	methodDelete
	methodOther
	numMethodClasses
)

func classOf(method string) methodClass {
	switch method {
	case "GET", "HEAD":
		return methodRead
	case "POST", "PUT", "PATCH":
		return methodWrite
	case "DELETE":
		return methodDelete
	default:
		return methodOther
	}
}

var noNeeds = []Need{}

// Compile checks a route map and compiles it. Errors name the offending field.
func (m RouteMap) Compile() (*Router, error) {
	rt := &Router{}
	var err error
	if rt.modelHeader, err = compileModelHeader(m.ModelHeader); err != nil {
		return nil, err
	}
	switch m.Unmapped {
	case "", UnmappedDeny:
	case UnmappedAllow:
		rt.allowUnknown = true
	default:
		return nil, fmt.Errorf("routes.unmapped: %q is not Deny or Allow", m.Unmapped)
	}
	rules := m.Rules
	switch m.Defaults {
	case "", DefaultsInclude:
		rules = append(append([]Route{}, m.Rules...), DefaultRules()...)
	case DefaultsExclude:
	default:
		return nil, fmt.Errorf("routes.defaults: %q is not Include or Exclude", m.Defaults)
	}
	if len(m.Rules) > MaxRules {
		return nil, fmt.Errorf("routes.rules: %d rules; at most %d", len(m.Rules), MaxRules)
	}
	for i, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			if i >= len(m.Rules) {
				return nil, fmt.Errorf("default route %s: %w", r.Path, err)
			}
			return nil, fmt.Errorf("routes.rules[%d]%w", i, err)
		}
		if c.adminOnly {
			rt.adminRules = append(rt.adminRules, len(rt.rules))
		}
		rt.rules = append(rt.rules, c)
	}
	return rt, nil
}

func compileRule(r Route) (rule, error) {
	var c rule
	if !strings.HasPrefix(r.Path, "/") || len(r.Path) > 1024 {
		return c, fmt.Errorf(".path: %q is not an absolute path of at most 1024 characters", r.Path)
	}
	c.segments = strings.Split(r.Path[1:], "/")
	for i, s := range c.segments {
		if s == "*" || (s == "**" && i == len(c.segments)-1) {
			continue
		}
		if _, err := CanonicalPath("/" + s); err != nil || s == "" || strings.ContainsAny(s, "*%") {
			return c, fmt.Errorf(".path: %q: segment %d must be literal text (RFC 3986 path characters without ; or escapes), * or a final **", r.Path, i+1)
		}
	}
	switch r.Keys {
	case "", KeysAny:
	case KeysAdmin:
		c.adminOnly = true
	default:
		return c, fmt.Errorf(".keys: %q is not Any or Admin", r.Keys)
	}
	for j, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m {
			return c, fmt.Errorf(".methods[%d]: %q is not an upper-case HTTP method", j, m)
		}
	}
	c.prefix, c.literal = r.Path, true
	if i := strings.IndexByte(r.Path, '*'); i >= 0 {
		c.prefix, c.literal = strings.TrimSuffix(r.Path[:i], "/"), false
	}
	c.methods = r.Methods
	byMethod := false
	for class := range numMethodClasses {
		c.needs[class] = noNeeds
	}
	for j, q := range r.Require {
		f, err := ParseFeature(q.Feature)
		if err != nil {
			return c, fmt.Errorf(".require[%d].feature: %w", j, err)
		}
		if q.Level == LevelByMethod {
			if !f.graded() {
				return c, fmt.Errorf(".require[%d].level: ByMethod needs a graded feature, and %s is on/off", j, f)
			}
			byMethod = true
			c.needs[methodRead] = append(c.needs[methodRead], Need{f, LevelRead})
			c.needs[methodWrite] = append(c.needs[methodWrite], Need{f, LevelWrite})
			c.needs[methodDelete] = append(c.needs[methodDelete], Need{f, LevelDelete})
			continue
		}
		l, err := ParseLevel(f, q.Level)
		if err != nil {
			return c, fmt.Errorf(".require[%d].level: %w", j, err)
		}
		for class := range numMethodClasses {
			c.needs[class] = append(c.needs[class], Need{f, l})
		}
	}
	if byMethod {
		// A method with no level (OPTIONS, TRACE, ...) does not match the rule.
		c.needs[methodOther] = nil
	}
	return c, nil
}

// RouteMatch is what the route map says about a request.
type RouteMatch struct {
	// Needs are the permissions the request needs.
	Needs []Need
	// Mapped is false when no rule matches and the map does not allow
	// unmapped routes: the route is not allowed.
	Mapped bool
	// AdminOnly marks an organization-level path (a rule with keys: Admin
	// matches it): workspace keys are refused.
	AdminOnly bool
}

// Match returns what a request needs. path is a CanonicalPath.
func (rt *Router) Match(method, path string) RouteMatch {
	m := rt.match(method, path)
	for _, i := range rt.adminRules {
		if m.AdminOnly {
			break
		}
		m.AdminOnly = rt.rules[i].matches(path)
	}
	return m
}

// matches reports whether the rule's pattern matches path. A literal
// pattern matches its own path, with or without one more "/" (as
// matchSegments does; its segments are never empty).
func (r *rule) matches(path string) bool {
	if !strings.HasPrefix(path, r.prefix) {
		return false
	}
	if r.literal {
		rest := path[len(r.prefix):]
		return rest == "" || rest == "/"
	}
	return matchSegments(r.segments, path[1:])
}

func (rt *Router) match(method, path string) RouteMatch {
	class := classOf(method)
	for i := range rt.rules {
		r := &rt.rules[i]
		if r.methods != nil && !contains(r.methods, method) {
			continue
		}
		if r.needs[class] == nil || !r.matches(path) {
			continue
		}
		return RouteMatch{Needs: r.needs[class], Mapped: true, AdminOnly: r.adminOnly}
	}
	if rt.allowUnknown {
		return RouteMatch{Needs: noNeeds, Mapped: true}
	}
	return RouteMatch{}
}

// matchSegments matches a CanonicalPath without its leading slash against a pattern.
func matchSegments(pattern []string, path string) bool {
	for i, p := range pattern {
		if p == "**" {
			return true
		}
		if path == "" {
			return false
		}
		seg := path
		if j := strings.IndexByte(path, '/'); j >= 0 {
			seg, path = path[:j], path[j+1:]
		} else {
			path = ""
		}
		if p != "*" && p != seg {
			return false
		}
		if path == "" && i < len(pattern)-1 {
			return pattern[i+1] == "**" && i+1 == len(pattern)-1
		}
	}
	return path == ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
