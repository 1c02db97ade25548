package verifier

import (
	"fmt"
	"strings"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// Feature is a feature of the API-key permission table.
type Feature uint8

// Features, in the order of APIKeyPermissions.
const (
	FeatureMetrics Feature = iota
	FeatureCompletions
	FeaturePrompts
	FeatureConfigs
	FeatureGuardrails
	FeatureIntegrations
	FeatureProviders
	FeatureModels
	FeatureUsers
	numFeatures
)

// featureNames are the JSON names of APIKeyPermissions, used on the wire and in the route map.
var featureNames = [numFeatures]string{"metrics", "completions", "prompts", "configs", "guardrails", "integrations", "providers", "models", "users"}

// String returns the feature's name as in APIKey spec.permissions.
func (f Feature) String() string {
	if f < numFeatures {
		return featureNames[f]
	}
	return fmt.Sprintf("Feature(%d)", f)
}

// graded reports whether the feature has Read/Write/Delete levels rather than
// Disabled/Enabled.
func (f Feature) graded() bool { return f != FeatureMetrics && f != FeatureCompletions }

// ParseFeature parses a feature name, case-insensitively.
func ParseFeature(s string) (Feature, error) {
	for i, n := range featureNames {
		if strings.EqualFold(s, n) {
			return Feature(i), nil
		}
	}
	return 0, fmt.Errorf("unknown feature %q: one of %s", s, strings.Join(featureNames[:], ", "))
}

// Level is a permission level. Enabled (for on/off features) equals Read.
type Level uint8

// Levels, from least to most. Each includes the ones below it.
const (
	LevelDisabled Level = iota
	LevelRead
	LevelWrite
	LevelDelete
)

// LevelEnabled is the level of an Enabled on/off feature.
const LevelEnabled = LevelRead

// levelName is the name of l for feature f, as in APIKey spec.permissions.
func levelName(f Feature, l Level) string {
	if !f.graded() {
		if l == LevelDisabled {
			return string(accessv1alpha1.ToggleDisabled)
		}
		return string(accessv1alpha1.ToggleEnabled)
	}
	return [...]string{"Disabled", "Read", "Write", "Delete"}[l]
}

// ParseLevel parses the level a feature must have: Enabled for on/off features,
// Read, Write or Delete for graded ones.
func ParseLevel(f Feature, s string) (Level, error) {
	if !f.graded() {
		if strings.EqualFold(s, string(accessv1alpha1.ToggleEnabled)) {
			return LevelEnabled, nil
		}
		return 0, fmt.Errorf("level %q of %s: %s is on/off, so the level is Enabled", s, f, f)
	}
	for _, l := range []Level{LevelRead, LevelWrite, LevelDelete} {
		if strings.EqualFold(s, levelName(f, l)) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("level %q of %s: one of Read, Write, Delete", s, f)
}

// Permissions are a key's level per feature.
type Permissions [numFeatures]Level

// PermissionsOf converts an APIKey's spec.permissions. Unset fields count as
// Disabled (the API server fills in the defaults before the verifier sees them).
func PermissionsOf(p *accessv1alpha1.APIKeyPermissions) Permissions {
	toggle := func(t accessv1alpha1.Toggle) Level {
		if t == accessv1alpha1.ToggleEnabled {
			return LevelEnabled
		}
		return LevelDisabled
	}
	graded := func(a accessv1alpha1.AccessLevel) Level {
		switch a {
		case accessv1alpha1.AccessRead:
			return LevelRead
		case accessv1alpha1.AccessWrite:
			return LevelWrite
		case accessv1alpha1.AccessDelete:
			return LevelDelete
		default:
			return LevelDisabled
		}
	}
	return Permissions{
		FeatureMetrics:      toggle(p.Metrics),
		FeatureCompletions:  toggle(p.Completions),
		FeaturePrompts:      graded(p.Prompts),
		FeatureConfigs:      graded(p.Configs),
		FeatureGuardrails:   graded(p.Guardrails),
		FeatureIntegrations: graded(p.Integrations),
		FeatureProviders:    graded(p.Providers),
		FeatureModels:       graded(p.Models),
		FeatureUsers:        graded(p.Users),
	}
}

// API converts the permissions back to their API form.
func (p *Permissions) API() accessv1alpha1.APIKeyPermissions {
	t := func(f Feature) accessv1alpha1.Toggle { return accessv1alpha1.Toggle(levelName(f, p[f])) }
	a := func(f Feature) accessv1alpha1.AccessLevel { return accessv1alpha1.AccessLevel(levelName(f, p[f])) }
	return accessv1alpha1.APIKeyPermissions{
		Metrics:      t(FeatureMetrics),
		Completions:  t(FeatureCompletions),
		Prompts:      a(FeaturePrompts),
		Configs:      a(FeatureConfigs),
		Guardrails:   a(FeatureGuardrails),
		Integrations: a(FeatureIntegrations),
		Providers:    a(FeatureProviders),
		Models:       a(FeatureModels),
		Users:        a(FeatureUsers),
	}
}

// Need is one permission a request needs: a feature at a level or above.
type Need struct {
	Feature Feature
	Level   Level
}

// satisfies reports whether p meets every need.
func (p *Permissions) satisfies(needs []Need) bool {
	for _, n := range needs {
		if p[n.Feature] < n.Level {
			return false
		}
	}
	return true
}
