package keypolicy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

// Ceiling is a KeyPolicy whose maxRateLimits and allowedModels bound what is
// checked, and how messages name it ("the organization acme's").
type Ceiling struct {
	Name   string
	Policy *v1alpha1.KeyPolicy
}

// Problem is one way a key or a policy goes beyond a ceiling: the field and
// the rule, worded for an admission message.
type Problem struct {
	Path *field.Path
	Rule string
}

// CheckKey returns how an APIKey's own rateLimits and models (under spec) go
// beyond the ceilings. Unset fields take defaults, which CheckPolicy keeps
// within the ceilings, so only what the key sets is checked.
func CheckKey(spec *field.Path, s *v1alpha1.APIKeySpec, ceilings ...Ceiling) []Problem {
	out := limitsWithin(spec.Child("rateLimits"), "the key's rateLimits", s.RateLimits, ceilings)
	return append(out, modelsWithin(spec.Child("models"), s.Models, ceilings)...)
}

// CheckPolicy returns how a KeyPolicy (at path) goes beyond itself and the
// ceilings above it: its defaults must be within its own ceilings and the
// parents', and its own ceilings within the parents'.
func CheckPolicy(path *field.Path, own Ceiling, parents ...Ceiling) []Problem {
	p := own.Policy
	if p == nil {
		return nil
	}
	withOwn := append([]Ceiling{own}, parents...)
	out := limitsWithin(path.Child("defaultRateLimits"), own.Name+" defaultRateLimits", p.DefaultRateLimits, withOwn)
	out = append(out, limitsWithin(path.Child("maxRateLimits"), own.Name+" maxRateLimits", p.MaxRateLimits, parents)...)
	out = append(out, modelsWithin(path.Child("defaultModels"), p.DefaultModels, withOwn)...)
	return append(out, modelsWithin(path.Child("allowedModels"), p.AllowedModels, parents)...)
}

func limitsWithin(path *field.Path, what string, limits []v1alpha1.RateLimit, ceilings []Ceiling) []Problem {
	if len(limits) == 0 {
		return nil
	}
	var out []Problem
	for _, c := range ceilings {
		if c.Policy == nil {
			continue
		}
		for _, e := range RateLimitsWithin(limits, c.Policy.MaxRateLimits) {
			out = append(out, Problem{Path: path, Rule: fmt.Sprintf(
				"%s (%s) allow %d requests in %s, above %s maxRateLimits of %s; set a window that allows at most %d in %s or longer",
				what, FormatLimits(limits), e.Allowed, FormatPeriod(e.Ceiling.Per), c.Name, FormatLimit(e.Ceiling),
				e.Ceiling.Requests, FormatPeriod(e.Ceiling.Per))})
		}
	}
	return out
}

func modelsWithin(path *field.Path, models []v1alpha1.ModelPattern, ceilings []Ceiling) []Problem {
	var out []Problem
	for _, c := range ceilings {
		if c.Policy == nil {
			continue
		}
		for _, i := range ModelsWithin(models, c.Policy.AllowedModels) {
			out = append(out, Problem{Path: path.Index(i), Rule: fmt.Sprintf(
				"the model pattern %q goes beyond %s allowedModels (%s): every pattern must be one of them or narrower (gpt-4o* is within gpt-*; * only within *)",
				models[i], c.Name, FormatModels(c.Policy.AllowedModels))})
		}
	}
	return out
}
