package authz

import (
	"fmt"
	"slices"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

// Level is an API-key permission level, ordered: Disabled < Read < Write < Delete.
// For on/off permissions (metrics, completions) any level above Disabled is Enabled.
type Level int

// Levels.
const (
	LevelDisabled Level = iota
	LevelRead
	LevelWrite
	LevelDelete
)

// String returns the graded level's API name.
func (l Level) String() string { return string(l.AccessLevel()) }

// AccessLevel returns the level as a graded API-key permission.
func (l Level) AccessLevel() v1alpha1.AccessLevel {
	switch {
	case l >= LevelDelete:
		return v1alpha1.AccessDelete
	case l == LevelWrite:
		return v1alpha1.AccessWrite
	case l == LevelRead:
		return v1alpha1.AccessRead
	}
	return v1alpha1.AccessDisabled
}

// Toggle returns the level as an on/off API-key permission.
func (l Level) Toggle() v1alpha1.Toggle {
	if l > LevelDisabled {
		return v1alpha1.ToggleEnabled
	}
	return v1alpha1.ToggleDisabled
}

// LevelOfAccess converts a graded permission; empty means Disabled.
func LevelOfAccess(a v1alpha1.AccessLevel) (Level, error) {
	switch a {
	case v1alpha1.AccessDisabled, "":
		return LevelDisabled, nil
	case v1alpha1.AccessRead:
		return LevelRead, nil
	case v1alpha1.AccessWrite:
		return LevelWrite, nil
	case v1alpha1.AccessDelete:
		return LevelDelete, nil
	}
	return LevelDisabled, fmt.Errorf("unknown access level %q: use Disabled, Read, Write or Delete", a)
}

// LevelOfToggle converts an on/off permission; empty means Disabled.
func LevelOfToggle(t v1alpha1.Toggle) (Level, error) {
	switch t {
	case v1alpha1.ToggleDisabled, "":
		return LevelDisabled, nil
	case v1alpha1.ToggleEnabled:
		return LevelRead, nil
	}
	return LevelDisabled, fmt.Errorf("unknown toggle %q: use Disabled or Enabled", t)
}

// KeyFeature is a feature of an API key's permissions (the API key permissions table, docs/apikeys.md).
type KeyFeature string

// API-key features, as the APIKey spec.permissions fields name them.
const (
	KeyMetrics      KeyFeature = "metrics"
	KeyCompletions  KeyFeature = "completions"
	KeyPrompts      KeyFeature = "prompts"
	KeyConfigs      KeyFeature = "configs"
	KeyGuardrails   KeyFeature = "guardrails"
	KeyIntegrations KeyFeature = "integrations"
	KeyProviders    KeyFeature = "providers"
	KeyModels       KeyFeature = "models"
	KeyUsers        KeyFeature = "users"
)

// KeyFeatures lists the API-key features in the APIKey spec's order.
var KeyFeatures = []KeyFeature{KeyMetrics, KeyCompletions, KeyPrompts, KeyConfigs, KeyGuardrails, KeyIntegrations, KeyProviders, KeyModels, KeyUsers}

// keyFeatureSource is the matrix row whose rights bound each key feature.
// Completions has none: no matrix row governs LLM calls, so every role may
// grant them.
var keyFeatureSource = map[KeyFeature]Feature{
	KeyMetrics:      LogsAnalytics,
	KeyPrompts:      Prompts,
	KeyConfigs:      Configs,
	KeyGuardrails:   Guardrails,
	KeyIntegrations: Integrations,
	KeyProviders:    Providers,
	KeyModels:       Models,
	KeyUsers:        Team,
}

// Ceiling is the highest level of a key feature that a role may grant an API
// key, derived from the role's verbs on the matrix row behind it: delete gives
// Delete; create, update or patch give Write; any other right (get, list, a
// custom verb) gives Read; no right gives Disabled. Gate applies as in ActionsOf.
func Ceiling(k Key, kf KeyFeature, gate Gate) Level {
	if !k.Valid() {
		return LevelDisabled
	}
	f, ok := keyFeatureSource[kf]
	if !ok {
		if kf == KeyCompletions {
			return LevelRead
		}
		return LevelDisabled
	}
	verbs := Verbs(k, f, gate)
	switch {
	case len(verbs) == 0:
		return LevelDisabled
	case slices.Contains(verbs, "delete"):
		return LevelDelete
	case slices.ContainsFunc(verbs, func(v string) bool { return v == "create" || v == "update" || v == "patch" }):
		return LevelWrite
	}
	return LevelRead
}

// KeyLevels returns the level of each key feature of p, or an error naming the
// first unknown value.
func KeyLevels(p v1alpha1.APIKeyPermissions) (map[KeyFeature]Level, error) {
	out := make(map[KeyFeature]Level, len(KeyFeatures))
	var err error
	set := func(kf KeyFeature, l Level, e error) {
		if e != nil && err == nil {
			err = fmt.Errorf("permissions.%s: %w", kf, e)
		}
		out[kf] = l
	}
	l, e := LevelOfToggle(p.Metrics)
	set(KeyMetrics, l, e)
	l, e = LevelOfToggle(p.Completions)
	set(KeyCompletions, l, e)
	for kf, a := range map[KeyFeature]v1alpha1.AccessLevel{
		KeyPrompts: p.Prompts, KeyConfigs: p.Configs, KeyGuardrails: p.Guardrails,
		KeyIntegrations: p.Integrations, KeyProviders: p.Providers, KeyModels: p.Models, KeyUsers: p.Users,
	} {
		l, e := LevelOfAccess(a)
		set(kf, l, e)
	}
	return out, err
}

// Excess is a key feature whose requested level exceeds a role's ceiling.
type Excess struct {
	Feature   KeyFeature
	Requested Level
	Ceiling   Level
}

// ExceedsCeiling returns, in KeyFeatures order, each key feature of p above the
// ceiling of role k (the webhook's "a key's permissions never exceed what its
// creator holds"), or an error for an unknown permission value.
func ExceedsCeiling(k Key, p v1alpha1.APIKeyPermissions, gate Gate) ([]Excess, error) {
	levels, err := KeyLevels(p)
	if err != nil {
		return nil, err
	}
	var out []Excess
	for _, kf := range KeyFeatures {
		if c := Ceiling(k, kf, gate); levels[kf] > c {
			out = append(out, Excess{Feature: kf, Requested: levels[kf], Ceiling: c})
		}
	}
	return out, nil
}

// MaxPermissions are every API-key permission at its maximum: the master key's.
func MaxPermissions() v1alpha1.APIKeyPermissions {
	return v1alpha1.APIKeyPermissions{
		Metrics: v1alpha1.ToggleEnabled, Completions: v1alpha1.ToggleEnabled,
		Prompts: v1alpha1.AccessDelete, Configs: v1alpha1.AccessDelete, Guardrails: v1alpha1.AccessDelete,
		Integrations: v1alpha1.AccessDelete, Providers: v1alpha1.AccessDelete, Models: v1alpha1.AccessDelete,
		Users: v1alpha1.AccessDelete,
	}
}
