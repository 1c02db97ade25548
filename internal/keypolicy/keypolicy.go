// Package keypolicy decides an APIKey's effective rate limits and models from
// its spec and the key policies (KeyPolicy) of its workspace and organization,
// and whether limits, models and policies stay within their ceilings. It is
// pure: the webhooks (internal/webhook/keypolicy.go) and the APIKey controller
// (controllers/apikey_policy.go) feed it the objects.
//
// Rate limits. A set of windows holds at once. A set is within a ceiling when,
// for every window of the ceiling (R requests per P), the set has a window that
// bounds the requests in any P to R or fewer: a window of n per p bounds them
// to n when p >= P, and to n × ⌈P/p⌉ when p < P (10 per 1s bounds an hour to
// 36000). Limit(…) in this file is that bound.
//
// Models. A pattern is an exact name or has * for any characters (including
// none, and / or @). A pattern is within a ceiling when one ceiling pattern
// matches every name it can match (Covers): gpt-4o* is within gpt-*, * only
// within *. The check is sound (never lets a wider pattern through) and
// refuses the rare pattern that only the union of several ceiling patterns
// covers.
package keypolicy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

// NoModel is the effective model list of a key whose models a ceiling lowered
// later leaves empty: the key may call no model. It is the only entry of
// status.models then; the verifier (internal/verifier/models.go) never
// matches it, whatever model a request names.
const NoModel v1alpha1.ModelPattern = "tenantward.io/no-model"

// maxModels is the most patterns status.models holds.
const maxModels = 64

// Effective are the limits and models the verifier enforces for a key.
type Effective struct {
	RateLimits []v1alpha1.RateLimit
	Models     []v1alpha1.ModelPattern
}

// Of computes a key's effective limits and models: its own, else its
// workspace's defaults, else its organization's (ws is nil for an admin key;
// either policy may be nil), each clamped by the workspace's and the
// organization's ceilings, so that a ceiling lowered later holds for keys that
// already exist.
func Of(spec *v1alpha1.APIKeySpec, ws, org *v1alpha1.KeyPolicy) Effective {
	limits, models := spec.RateLimits, spec.Models
	for _, p := range []*v1alpha1.KeyPolicy{ws, org} {
		if p == nil {
			continue
		}
		if len(limits) == 0 {
			limits = p.DefaultRateLimits
		}
		if len(models) == 0 {
			models = p.DefaultModels
		}
	}
	limits, models = slices.Clone(limits), slices.Clone(models)
	for _, p := range []*v1alpha1.KeyPolicy{ws, org} {
		if p != nil {
			limits = ClampRateLimits(limits, p.MaxRateLimits)
			models = ClampModels(models, p.AllowedModels)
		}
	}
	if len(models) > maxModels {
		models = models[:maxModels] // fewer patterns only narrow what the key may call
	}
	slices.SortFunc(limits, func(a, b v1alpha1.RateLimit) int { return int(a.Per.Duration - b.Per.Duration) })
	return Effective{RateLimits: limits, Models: models}
}

// Limit is the most requests the windows allow in any span of per; -1 when
// they set no bound (no windows).
func Limit(windows []v1alpha1.RateLimit, per time.Duration) int64 {
	best := int64(-1)
	for _, w := range windows {
		p := w.Per.Duration
		if p <= 0 || w.Requests < 0 {
			continue
		}
		n := w.Requests
		if p < per {
			spans := int64((per + p - 1) / p)
			if n > (1<<62)/spans {
				continue // no useful bound
			}
			n *= spans
		}
		if best < 0 || n < best {
			best = n
		}
	}
	return best
}

// Exceeded is a ceiling window that a set of limits does not keep.
type Exceeded struct {
	Ceiling v1alpha1.RateLimit
	// Allowed is what the limits allow in the ceiling's period; -1 for no bound.
	Allowed int64
}

// RateLimitsWithin returns the windows of ceiling that limits do not keep;
// none when ceiling is empty.
func RateLimitsWithin(limits, ceiling []v1alpha1.RateLimit) []Exceeded {
	var out []Exceeded
	for _, c := range ceiling {
		if n := Limit(limits, c.Per.Duration); n < 0 || n > c.Requests {
			out = append(out, Exceeded{Ceiling: c, Allowed: n})
		}
	}
	return out
}

// ClampRateLimits adds to limits each ceiling window they do not keep (the
// tighter one when a window of the same period is there), so that the result
// is within ceiling and never looser than limits.
func ClampRateLimits(limits, ceiling []v1alpha1.RateLimit) []v1alpha1.RateLimit {
	for _, e := range RateLimitsWithin(limits, ceiling) {
		i := slices.IndexFunc(limits, func(w v1alpha1.RateLimit) bool { return w.Per.Duration == e.Ceiling.Per.Duration })
		if i >= 0 {
			limits[i].Requests = min(limits[i].Requests, e.Ceiling.Requests)
			continue
		}
		limits = append(limits, e.Ceiling)
	}
	return limits
}

// Match reports whether pattern matches name: * stands for any characters,
// everything else for itself, case-sensitively. It does not allocate. The
// literal prefix (all of an exact name, gpt-4o- of gpt-4o-*) is compared at
// once; the rest, when it has more than a trailing *, by backtracking.
func Match(pattern, name string) bool {
	star := strings.IndexByte(pattern, '*')
	switch {
	case star < 0:
		return pattern == name
	case !strings.HasPrefix(name, pattern[:star]):
		return false
	case star == len(pattern)-1:
		return true
	}
	return matchStars(pattern[star:], name[star:])
}

// matchStars matches by backtracking to the last * (no recursion, no allocation).
func matchStars(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p, mark = star+1, mark+1
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Covers reports whether ceiling matches every name that pattern matches:
// matching pattern itself as a name, its * can only be taken by a * of
// ceiling (a literal character never equals *), which is exactly inclusion.
func Covers(ceiling, pattern v1alpha1.ModelPattern) bool {
	return Match(string(ceiling), string(pattern))
}

// ModelsWithin returns the indexes of the patterns of models that no pattern
// of ceiling covers; none when ceiling is empty (any model).
func ModelsWithin(models, ceiling []v1alpha1.ModelPattern) []int {
	if len(ceiling) == 0 {
		return nil
	}
	var out []int
	for i, m := range models {
		if m != NoModel && !covered(m, ceiling) {
			out = append(out, i)
		}
	}
	return out
}

func covered(m v1alpha1.ModelPattern, ceiling []v1alpha1.ModelPattern) bool {
	return slices.ContainsFunc(ceiling, func(c v1alpha1.ModelPattern) bool { return Covers(c, m) })
}

// ClampModels narrows models to ceiling: a pattern the ceiling covers stays;
// one it does not is replaced by the ceiling patterns it covers (gpt-* under
// a ceiling of gpt-4o* becomes gpt-4o*); what overlaps only partly is
// dropped. No models (any) becomes the ceiling itself; when nothing is left,
// NoModel.
func ClampModels(models, ceiling []v1alpha1.ModelPattern) []v1alpha1.ModelPattern {
	switch {
	case len(ceiling) == 0:
		return models
	case len(models) == 0:
		return slices.Clone(ceiling)
	case len(models) == 1 && models[0] == NoModel:
		return models
	}
	var out []v1alpha1.ModelPattern
	add := func(m v1alpha1.ModelPattern) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, m := range models {
		if covered(m, ceiling) {
			add(m)
			continue
		}
		for _, c := range ceiling {
			if Covers(m, c) {
				add(c)
			}
		}
	}
	// Keep only the widest: a pattern another one in out covers adds nothing.
	out = slices.DeleteFunc(slices.Clone(out), func(m v1alpha1.ModelPattern) bool {
		return slices.ContainsFunc(out, func(o v1alpha1.ModelPattern) bool { return o != m && Covers(o, m) })
	})
	if len(out) == 0 {
		return []v1alpha1.ModelPattern{NoModel}
	}
	return out
}

// FormatLimit renders a window as in messages and docs: "100 per 1m".
func FormatLimit(w v1alpha1.RateLimit) string {
	return fmt.Sprintf("%d per %s", w.Requests, FormatPeriod(w.Per))
}

// FormatPeriod renders a period without zero units: 1h, 1m30s, 24h.
func FormatPeriod(d metav1.Duration) string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// FormatLimits renders windows for messages: "10 per 1s, 1000 per 1h".
func FormatLimits(ws []v1alpha1.RateLimit) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = FormatLimit(w)
	}
	return strings.Join(parts, ", ")
}

// FormatModels renders patterns for messages: "gpt-4o*, claude-*".
func FormatModels(ms []v1alpha1.ModelPattern) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = string(m)
	}
	return strings.Join(parts, ", ")
}
