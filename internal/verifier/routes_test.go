package verifier

import (
	"strings"
	"testing"
)

func mustRouter(t testing.TB, m RouteMap) *Router {
	t.Helper()
	rt, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestDefaultRoutes(t *testing.T) {
	rt := mustRouter(t, RouteMap{})
	completions := []Need{{FeatureCompletions, LevelEnabled}}
	cases := []struct {
		method, path string
		want         []Need // nil: not allowed
	}{
		{"POST", "/v1/chat/completions", completions},
		{"POST", "/v1/chat/completions/", completions},
		{"POST", "/v1/completions", completions},
		{"POST", "/v1/embeddings", completions},
		{"POST", "/v1/images/generations", completions},
		{"POST", "/v1/audio/speech", completions},
		{"POST", "/v1/responses", completions},
		{"GET", "/v1/responses/resp_1", completions},
		{"POST", "/v1/messages", completions},
		{"POST", "/v1/prompts/p1/completions", []Need{{FeatureCompletions, LevelEnabled}, {FeaturePrompts, LevelRead}}},
		{"GET", "/v1/prompts", []Need{{FeaturePrompts, LevelRead}}},
		{"POST", "/v1/prompts", []Need{{FeaturePrompts, LevelWrite}}},
		{"PUT", "/v1/prompts/p1/makeDefault", []Need{{FeaturePrompts, LevelWrite}}},
		{"DELETE", "/v1/prompts/x", []Need{{FeaturePrompts, LevelDelete}}},
		{"PATCH", "/v1/configs/c1", []Need{{FeatureConfigs, LevelWrite}}},
		{"GET", "/v1/guardrails", []Need{{FeatureGuardrails, LevelRead}}},
		{"DELETE", "/v1/integrations/i1", []Need{{FeatureIntegrations, LevelDelete}}},
		{"GET", "/v1/providers", []Need{{FeatureProviders, LevelRead}}},
		{"GET", "/v1/virtual-keys", []Need{{FeatureProviders, LevelRead}}},
		{"GET", "/v1/models", []Need{{FeatureModels, LevelRead}}},
		{"GET", "/v1/analytics/graphs/requests", []Need{{FeatureMetrics, LevelEnabled}}},
		{"GET", "/v1/logs", []Need{{FeatureMetrics, LevelEnabled}}},
		{"GET", "/v1/admin/users", []Need{{FeatureUsers, LevelRead}}},
		{"DELETE", "/v1/admin/users/u1", []Need{{FeatureUsers, LevelDelete}}},
		{"POST", "/v1/admin/user-invites", []Need{{FeatureUsers, LevelWrite}}},
		{"POST", "/v1/admin/workspaces", []Need{{FeatureUsers, LevelWrite}}},
		{"DELETE", "/v1/users/u1", []Need{{FeatureUsers, LevelDelete}}},
		{"POST", "/v1/user-invites", []Need{{FeatureUsers, LevelWrite}}},
		{"OPTIONS", "/v1/prompts", nil},
		{"GET", "/v1/unknown", nil},
		{"GET", "/v2/chat/completions", nil},
		{"POST", "/v1/chat", nil},
		{"GET", "/v1/prompts/hello world", []Need{{FeaturePrompts, LevelRead}}},
	}
	for _, c := range cases {
		m := rt.Match(c.method, c.path)
		if m.Mapped != (c.want != nil) || !sameNeeds(m.Needs, c.want) {
			t.Errorf("%s %s = %v, %v; want %v", c.method, c.path, m.Needs, m.Mapped, c.want)
		}
		if org := strings.HasPrefix(c.path, "/v1/admin/") || strings.HasPrefix(c.path, "/v1/users") || strings.HasPrefix(c.path, "/v1/user-invites"); m.AdminOnly != org {
			t.Errorf("%s %s: organization-level %v, want %v", c.method, c.path, m.AdminOnly, org)
		}
	}
}

func sameNeeds(a, b []Need) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfiguredRoutes(t *testing.T) {
	rt := mustRouter(t, RouteMap{
		Rules: []Route{
			{Path: "/v1/batches/**", Methods: []string{"GET"}, Require: []Requirement{{Feature: "completions", Level: "Enabled"}}},
			{Path: "/v1/public/*"},
		},
		Defaults: DefaultsExclude,
		Unmapped: UnmappedDeny,
	})
	if m := rt.Match("GET", "/v1/batches/b1"); !m.Mapped || len(m.Needs) != 1 {
		t.Fatalf("configured rule: %+v", m)
	}
	if m := rt.Match("POST", "/v1/batches/b1"); m.Mapped {
		t.Fatal("the method filter did not apply")
	}
	if m := rt.Match("GET", "/v1/public/x"); !m.Mapped || len(m.Needs) != 0 {
		t.Fatalf("a rule with no requirements: %+v", m)
	}
	if m := rt.Match("POST", "/v1/chat/completions"); m.Mapped {
		t.Fatal("defaults were excluded but still matched")
	}
	open := mustRouter(t, RouteMap{Unmapped: UnmappedAllow})
	if m := open.Match("GET", "/v1/anything"); !m.Mapped || len(m.Needs) != 0 || m.AdminOnly {
		t.Fatalf("unmapped Allow: %+v", m)
	}
	if m := open.Match("OPTIONS", "/v1/admin/users"); !m.Mapped || !m.AdminOnly {
		t.Fatalf("unmapped Allow on an organization-level path: %+v", m)
	}
}

// TestOrganizationLevelScope: keys: Admin holds whichever rule gives the
// permissions, so an earlier rule cannot open an organization-level path to
// workspace keys.
func TestOrganizationLevelScope(t *testing.T) {
	rt := mustRouter(t, RouteMap{Rules: []Route{
		{Path: "/v1/admin/health"},
		{Path: "/v1/team/**", Keys: KeysAdmin, Require: []Requirement{{Feature: "users", Level: "Read"}}},
		{Path: "/v1/team-public", Keys: KeysAny},
	}})
	for path, want := range map[string]bool{
		"/v1/admin/health": true, "/v1/team": true, "/v1/team/x": true, "/v1/team-public": false, "/v1/chat/completions": false,
	} {
		if m := rt.Match("GET", path); !m.Mapped || m.AdminOnly != want {
			t.Errorf("GET %s: %+v; want organization-level %v", path, m, want)
		}
	}
}

func TestRouteMapErrors(t *testing.T) {
	cases := []struct {
		m    RouteMap
		want string
	}{
		{RouteMap{Unmapped: "Maybe"}, `routes.unmapped: "Maybe"`},
		{RouteMap{Defaults: "Some"}, `routes.defaults: "Some"`},
		{RouteMap{Rules: []Route{{Path: "v1/x"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1/**/x"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1/a*"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1//x"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Methods: []string{"get"}}}}, "routes.rules[0].methods[0]"},
		{RouteMap{Rules: []Route{{Path: "/v1/x;y"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1/%2e"}}}, "routes.rules[0].path"},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Keys: "Workspace"}}}, `routes.rules[0].keys: "Workspace" is not Any or Admin`},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Require: []Requirement{{Feature: "billing", Level: "Read"}}}}}, `routes.rules[0].require[0].feature: unknown feature "billing"`},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Require: []Requirement{{Feature: "prompts", Level: "Wrte"}}}}}, "routes.rules[0].require[0].level"},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Require: []Requirement{{Feature: "metrics", Level: "Read"}}}}}, "metrics is on/off"},
		{RouteMap{Rules: []Route{{Path: "/v1/x", Require: []Requirement{{Feature: "metrics", Level: "ByMethod"}}}}}, "ByMethod needs a graded feature"},
		{RouteMap{Rules: make([]Route, MaxRules+1)}, "at most"},
	}
	for _, c := range cases {
		_, err := c.m.Compile()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%+v) = %v; want an error with %q", c.m, err, c.want)
		}
	}
}

// FuzzRouteMatch checks that matching arbitrary canonical paths never panics,
// that a match always has needs, and that nothing under an organization-level
// prefix is ever open to workspace keys.
func FuzzRouteMatch(f *testing.F) {
	rt := mustRouter(f, RouteMap{Unmapped: UnmappedAllow})
	for _, s := range []string{"/v1/chat/completions", "/v1/prompts/x/completions?x=1", "/v1/admin/x", "/v1/users", "/v1/images/", "/", ""} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		path, err := CanonicalPath(target)
		if err != nil {
			return
		}
		m := rt.Match(method, path)
		if m.Mapped && m.Needs == nil {
			t.Fatal("a match without needs")
		}
		if (path == "/v1/admin" || strings.HasPrefix(path, "/v1/admin/") || path == "/v1/users" || strings.HasPrefix(path, "/v1/users/")) && !m.AdminOnly {
			t.Fatalf("%s %q is not organization-level", method, target)
		}
	})
}

// FuzzRouteMapCompile checks that any rule either compiles or is refused with
// an error, never a panic.
func FuzzRouteMapCompile(f *testing.F) {
	f.Add("/v1/x/**", "GET", "prompts", "ByMethod", "/v1/x/y")
	f.Add("/v1/*/z", "", "completions", "Enabled", "/v1/a/z")
	f.Fuzz(func(t *testing.T, path, method, feature, level, request string) {
		r := Route{Path: path, Require: []Requirement{{Feature: feature, Level: level}}}
		if method != "" {
			r.Methods = []string{method}
		}
		rt, err := RouteMap{Rules: []Route{r}, Defaults: DefaultsExclude}.Compile()
		if err != nil {
			return
		}
		if p, err := CanonicalPath(request); err == nil {
			rt.Match(method, p)
		}
	})
}

func BenchmarkRouteMatch(b *testing.B) {
	rt := mustRouter(b, RouteMap{})
	b.ReportAllocs()
	for b.Loop() {
		if !rt.Match("DELETE", "/v1/user-invites/i1").Mapped {
			b.Fatal("no match")
		}
	}
}

// FuzzLiteralRuleMatches checks that a rule without * or ** (matched by
// comparing the path) matches exactly the paths its segments match, for
// every default and a few configured rules and any path, canonical or not.
func FuzzLiteralRuleMatches(f *testing.F) {
	rt := mustRouter(f, RouteMap{Rules: []Route{{Path: "/v1/x"}, {Path: "/a/b/c"}, {Path: "/v1/chat/completions/extra"}}})
	for _, s := range []string{"/v1/chat/completions", "/v1/chat/completions/", "/v1/chat/completions//", "/v1/chat/completionsx", "/v1/chat", "/v1/x/", "/v1/x/y", "/a/b/c", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if path == "" || path[0] != '/' {
			return // Match is given a path that starts with "/"
		}
		for i := range rt.rules {
			r := &rt.rules[i]
			if want := strings.HasPrefix(path, r.prefix) && matchSegments(r.segments, path[1:]); r.matches(path) != want {
				t.Fatalf("rule %q on %q: %v, want %v", r.prefix, path, !want, want)
			}
		}
	})
}
