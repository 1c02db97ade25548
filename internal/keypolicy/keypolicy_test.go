package keypolicy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

func rl(n int64, per time.Duration) v1alpha1.RateLimit {
	return v1alpha1.RateLimit{Requests: n, Per: metav1.Duration{Duration: per}}
}

func models(ms ...string) []v1alpha1.ModelPattern {
	out := make([]v1alpha1.ModelPattern, len(ms))
	for i, m := range ms {
		out[i] = v1alpha1.ModelPattern(m)
	}
	return out
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"gpt-4o", "GPT-4o", false},
		{"gpt-4o*", "gpt-4o", true},
		{"gpt-4o*", "gpt-4o-mini", true},
		{"gpt-*", "gpt-", true},
		{"*", "", true},
		{"*", "anything/at@all", true},
		{"anthropic/*", "anthropic/claude-3-5-sonnet", true},
		{"anthropic/*", "openai/gpt-4o", false},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-2024", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a**", "a", true},
		{"", "", true},
		{"", "a", false},
	} {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		ceiling, pattern string
		want             bool
	}{
		{"gpt-*", "gpt-4o*", true},
		{"gpt-*", "gpt-4o", true},
		{"gpt-4o*", "gpt-*", false},
		{"*", "*", true},
		{"gpt-*", "*", false},
		{"**", "*", true},
		{"*-mini", "gpt-*-mini", true},
		{"gpt-*", "*-mini", false},
		{"a*", "a*b*", true},
		{"a*b", "a*", false},
		{"gpt-4o", "gpt-4o*", false},
	} {
		if got := Covers(v1alpha1.ModelPattern(c.ceiling), v1alpha1.ModelPattern(c.pattern)); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.ceiling, c.pattern, got, c.want)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	matched := false
	if n := testing.AllocsPerRun(100, func() { matched = Match("anthropic/*-sonnet*", "anthropic/claude-3-5-sonnet-20241022") }); n != 0 || !matched {
		t.Fatalf("Match allocates %v times (matched: %v)", n, matched)
	}
}

// FuzzMatch checks Match against a regular expression, and that Covers is
// sound: whatever name pattern matches, a ceiling that covers it matches too.
func FuzzMatch(f *testing.F) {
	f.Add("gpt-4o*", "gpt-*", "gpt-4o-mini")
	f.Add("a*b*", "*b*", "aabb")
	f.Add("*", "*", "")
	f.Fuzz(func(t *testing.T, pattern, ceiling, name string) {
		if len(pattern) > 20 || len(ceiling) > 20 || len(name) > 40 {
			return
		}
		re, err := regexp.Compile("(?s)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		if err != nil || !utf8.ValidString(name) {
			return // model names in the API are ASCII; the regexp needs UTF-8
		}
		if got, want := Match(pattern, name), re.MatchString(name); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, name, got, want)
		}
		if Covers(v1alpha1.ModelPattern(ceiling), v1alpha1.ModelPattern(pattern)) && Match(pattern, name) && !Match(ceiling, name) {
			t.Fatalf("%q covers %q, which matches %q, but %q does not", ceiling, pattern, name, ceiling)
		}
	})
}

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		windows []v1alpha1.RateLimit
		per     time.Duration
		want    int64
	}{
		{nil, time.Hour, -1},
		{[]v1alpha1.RateLimit{rl(1000, time.Hour)}, time.Hour, 1000},
		{[]v1alpha1.RateLimit{rl(1000, 24*time.Hour)}, time.Hour, 1000},
		{[]v1alpha1.RateLimit{rl(10, time.Second)}, time.Hour, 36000},
		{[]v1alpha1.RateLimit{rl(10, time.Second), rl(500, time.Hour)}, time.Hour, 500},
		{[]v1alpha1.RateLimit{rl(7, 40*time.Second)}, time.Minute, 14},
		{[]v1alpha1.RateLimit{rl(1_000_000_000, time.Second)}, 720 * time.Hour, 1_000_000_000 * 2_592_000},
	} {
		if got := Limit(c.windows, c.per); got != c.want {
			t.Errorf("Limit(%v, %v) = %d, want %d", c.windows, c.per, got, c.want)
		}
	}
}

func TestOf(t *testing.T) {
	ws := &v1alpha1.KeyPolicy{
		DefaultRateLimits: []v1alpha1.RateLimit{rl(100, time.Minute)},
		MaxRateLimits:     []v1alpha1.RateLimit{rl(1000, time.Minute)},
		DefaultModels:     models("gpt-4o-mini"),
		AllowedModels:     models("gpt-*", "claude-*"),
	}
	org := &v1alpha1.KeyPolicy{
		DefaultRateLimits: []v1alpha1.RateLimit{rl(5, time.Second)},
		MaxRateLimits:     []v1alpha1.RateLimit{rl(50000, time.Hour)},
		DefaultModels:     models("claude-3-haiku"),
		AllowedModels:     models("gpt-4o*", "claude-*"),
	}
	for _, c := range []struct {
		name     string
		spec     v1alpha1.APIKeySpec
		ws, org  *v1alpha1.KeyPolicy
		wantRL   []v1alpha1.RateLimit
		wantMods []v1alpha1.ModelPattern
	}{
		{name: "no policy: unlimited, any model", spec: v1alpha1.APIKeySpec{}},
		{name: "own values within both", spec: v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(10, time.Second)}, Models: models("gpt-4o")},
			ws: ws, org: org, wantRL: []v1alpha1.RateLimit{rl(10, time.Second)}, wantMods: models("gpt-4o")},
		{name: "workspace defaults", ws: ws, org: org,
			wantRL: []v1alpha1.RateLimit{rl(100, time.Minute)}, wantMods: models("gpt-4o-mini")},
		{name: "organization defaults for an admin key", org: org,
			wantRL: []v1alpha1.RateLimit{rl(5, time.Second)}, wantMods: models("claude-3-haiku")},
		{name: "a ceiling the own windows do not keep is added", spec: v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(20, time.Second)}}, org: org,
			wantRL: []v1alpha1.RateLimit{rl(20, time.Second), rl(50000, time.Hour)}, wantMods: models("claude-3-haiku")},
		{name: "no defaults: the ceilings", ws: &v1alpha1.KeyPolicy{MaxRateLimits: ws.MaxRateLimits, AllowedModels: ws.AllowedModels}, org: &v1alpha1.KeyPolicy{AllowedModels: org.AllowedModels},
			wantRL: []v1alpha1.RateLimit{rl(1000, time.Minute)}, wantMods: models("gpt-4o*", "claude-*")},
		{name: "a lowered ceiling clamps the key's own", spec: v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(5000, time.Minute)}, Models: models("gpt-*", "claude-3-opus")},
			ws: ws, org: org, wantRL: []v1alpha1.RateLimit{rl(1000, time.Minute), rl(50000, time.Hour)}, wantMods: models("gpt-4o*", "claude-3-opus")},
		{name: "nothing left: no model", spec: v1alpha1.APIKeySpec{Models: models("mistral-large")}, ws: ws,
			wantRL: []v1alpha1.RateLimit{rl(100, time.Minute)}, wantMods: []v1alpha1.ModelPattern{NoModel}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			got := Of(&spec, c.ws, c.org)
			if !slices.Equal(got.RateLimits, c.wantRL) {
				t.Errorf("rate limits %s, want %s", FormatLimits(got.RateLimits), FormatLimits(c.wantRL))
			}
			if !slices.Equal(got.Models, c.wantMods) {
				t.Errorf("models %v, want %v", got.Models, c.wantMods)
			}
			if len(c.spec.RateLimits) > 0 && &got.RateLimits[0] == &c.spec.RateLimits[0] {
				t.Error("Of shares the spec's array")
			}
			for _, p := range []*v1alpha1.KeyPolicy{c.ws, c.org} {
				if p != nil && (len(RateLimitsWithin(got.RateLimits, p.MaxRateLimits)) > 0 || len(ModelsWithin(got.Models, p.AllowedModels)) > 0) {
					t.Errorf("the effective values %v are not within %v", got, p)
				}
			}
		})
	}
}

func TestClampModels(t *testing.T) {
	for _, c := range []struct {
		models, ceiling, want []v1alpha1.ModelPattern
	}{
		{models("gpt-4o"), nil, models("gpt-4o")},
		{nil, models("gpt-*"), models("gpt-*")},
		{models("*"), models("gpt-4o*", "claude-*"), models("gpt-4o*", "claude-*")},
		{models("gpt-*"), models("gpt-4o*", "gpt-4o-mini"), models("gpt-4o*")},
		{models("gpt-*"), models("*-mini"), []v1alpha1.ModelPattern{NoModel}},
		{[]v1alpha1.ModelPattern{NoModel}, models("*"), []v1alpha1.ModelPattern{NoModel}},
	} {
		if got := ClampModels(c.models, c.ceiling); !slices.Equal(got, c.want) {
			t.Errorf("ClampModels(%v, %v) = %v, want %v", c.models, c.ceiling, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	org := Ceiling{Name: "the organization acme's", Policy: &v1alpha1.KeyPolicy{
		MaxRateLimits: []v1alpha1.RateLimit{rl(1000, time.Minute)}, AllowedModels: models("gpt-*", "claude-*"),
	}}
	ws := Ceiling{Name: "the workspace team-a's", Policy: &v1alpha1.KeyPolicy{
		MaxRateLimits: []v1alpha1.RateLimit{rl(100, time.Minute)}, AllowedModels: models("gpt-4o*"),
	}}
	spec := field.NewPath("spec")
	for _, c := range []struct {
		name string
		got  []Problem
		want []string
	}{
		{"key within", CheckKey(spec, &v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(1, time.Second)}, Models: models("gpt-4o-mini")}, ws, org), nil},
		{"key: a longer window under the ceiling's is within", CheckKey(spec, &v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(100, time.Hour)}}, ws, org), nil},
		{"key above the workspace's", CheckKey(spec, &v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(500, time.Minute)}}, ws, org),
			[]string{"spec.rateLimits: the key's rateLimits (500 per 1m) allow 500 requests in 1m, above the workspace team-a's maxRateLimits of 100 per 1m; set a window that allows at most 100 in 1m or longer"}},
		{"key: short windows add up", CheckKey(spec, &v1alpha1.APIKeySpec{RateLimits: []v1alpha1.RateLimit{rl(20, time.Second)}}, ws, org),
			[]string{"spec.rateLimits: the key's rateLimits (20 per 1s) allow 1200 requests in 1m, above the workspace team-a's", "spec.rateLimits: the key's rateLimits (20 per 1s) allow 1200 requests in 1m, above the organization acme's"}},
		{"key widening models with *", CheckKey(spec, &v1alpha1.APIKeySpec{Models: models("gpt-4o", "*")}, ws, org),
			[]string{`spec.models[1]: the model pattern "*" goes beyond the workspace team-a's allowedModels (gpt-4o*)`, `spec.models[1]: the model pattern "*" goes beyond the organization acme's allowedModels (gpt-*, claude-*)`}},
		{"workspace ceiling above the org's", CheckPolicy(spec.Child("apiKeys"), Ceiling{Name: "the workspace team-a's", Policy: &v1alpha1.KeyPolicy{
			DefaultRateLimits: []v1alpha1.RateLimit{rl(50, time.Minute)},
			MaxRateLimits:     []v1alpha1.RateLimit{rl(5000, time.Minute)}, AllowedModels: models("mistral-*"), DefaultModels: models("gpt-4o")}}, org),
			[]string{"spec.apiKeys.maxRateLimits: the workspace team-a's maxRateLimits (5000 per 1m) allow 5000 requests in 1m, above the organization acme's maxRateLimits of 1000 per 1m",
				`spec.apiKeys.defaultModels[0]: the model pattern "gpt-4o" goes beyond the workspace team-a's allowedModels (mistral-*)`,
				`spec.apiKeys.allowedModels[0]: the model pattern "mistral-*" goes beyond the organization acme's allowedModels`}},
		{"organization defaults above its own max", CheckPolicy(spec.Child("apiKeys"), Ceiling{Name: "the organization acme's", Policy: &v1alpha1.KeyPolicy{
			DefaultRateLimits: []v1alpha1.RateLimit{rl(5000, time.Minute)}, MaxRateLimits: []v1alpha1.RateLimit{rl(1000, time.Minute)}}}),
			[]string{"spec.apiKeys.defaultRateLimits: the organization acme's defaultRateLimits (5000 per 1m) allow 5000 requests in 1m, above the organization acme's maxRateLimits"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.got) != len(c.want) {
				t.Fatalf("got %d problems %v, want %d", len(c.got), c.got, len(c.want))
			}
			for i, p := range c.got {
				if s := p.Path.String() + ": " + p.Rule; !strings.HasPrefix(s, c.want[i]) {
					t.Errorf("problem %d:\n%s\nwant it to start with\n%s", i, s, c.want[i])
				}
			}
		})
	}
}

func TestFormatPeriod(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Second: "1s", time.Minute: "1m", time.Hour: "1h", 24 * time.Hour: "24h", 90 * time.Second: "1m30s", 90 * time.Minute: "1h30m"} {
		if got := FormatPeriod(metav1.Duration{Duration: d}); got != want {
			t.Errorf("FormatPeriod(%v) = %s, want %s", d, got, want)
		}
	}
}
