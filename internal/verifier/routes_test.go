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
		{"POST", "/v1/chat/completions?stream=true", completions},
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
		{"DELETE", "/v1/users/u1", []Need{{FeatureUsers, LevelDelete}}},
		{"POST", "/v1/user-invites", []Need{{FeatureUsers, LevelWrite}}},
		{"OPTIONS", "/v1/prompts", nil},
		{"GET", "/v1/unknown", nil},
		{"GET", "/v2/chat/completions", nil},
		{"POST", "/v1/chat", nil},
		{"POST", "/v1/users/../chat/completions", nil},
		{"POST", "/v1//chat/completions", nil},
		{"GET", "/v1/prompts/%2e%2e/users", nil},
		{"GET", "/v1/prompts/x%2Fy", nil},
		{"GET", "/v1/prompts/x%5", nil},
		{"GET", "/v1/prompts/a\\..\\b", nil},
		{"GET", "/v1/prompts/hello%20world", []Need{{FeaturePrompts, LevelRead}}},
		{"POST", "v1/chat/completions", nil},
		{"POST", "", nil},
	}
	for _, c := range cases {
		got, ok := rt.Match(c.method, c.path)
		if ok != (c.want != nil) || !sameNeeds(got, c.want) {
			t.Errorf("%s %s = %v, %v; want %v", c.method, c.path, got, ok, c.want)
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
	if got, ok := rt.Match("GET", "/v1/batches/b1"); !ok || len(got) != 1 {
		t.Fatalf("configured rule: %v %v", got, ok)
	}
	if _, ok := rt.Match("POST", "/v1/batches/b1"); ok {
		t.Fatal("the method filter did not apply")
	}
	if got, ok := rt.Match("GET", "/v1/public/x"); !ok || len(got) != 0 {
		t.Fatalf("a rule with no requirements: %v %v", got, ok)
	}
	if _, ok := rt.Match("POST", "/v1/chat/completions"); ok {
		t.Fatal("defaults were excluded but still matched")
	}
	open := mustRouter(t, RouteMap{Unmapped: UnmappedAllow})
	if got, ok := open.Match("GET", "/v1/anything"); !ok || len(got) != 0 {
		t.Fatalf("unmapped Allow: %v %v", got, ok)
	}
	if _, ok := open.Match("GET", "/v1/../x"); ok {
		t.Fatal("an unclean path was allowed")
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

// FuzzRouteMatch checks that matching arbitrary requests never panics, that
// an unclean path is never allowed, and that a match always has needs.
func FuzzRouteMatch(f *testing.F) {
	rt := mustRouter(f, RouteMap{})
	for _, s := range []string{"/v1/chat/completions", "/v1/prompts/x/completions?x=1", "/v1/../users", "//", "/v1/images/", "/", ""} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		needs, ok := rt.Match(method, path)
		if !ok {
			return
		}
		if needs == nil {
			t.Fatal("a match without needs")
		}
		p := path
		if i := strings.IndexAny(p, "?#"); i >= 0 {
			p = p[:i]
		}
		if strings.Contains(p, "/../") || strings.Contains(p, "/./") || strings.Contains(p, "//") || !strings.HasPrefix(p, "/v1/") {
			t.Fatalf("%s %q matched", method, path)
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
		rt.Match(method, request)
	})
}

func BenchmarkRouteMatch(b *testing.B) {
	rt := mustRouter(b, RouteMap{})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := rt.Match("DELETE", "/v1/user-invites/i1"); !ok {
			b.Fatal("no match")
		}
	}
}
