package authz

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ClusterRole is a generated ClusterRole: its name and rules. Tenancy binds it
// with RoleBindings, so only namespaced resources appear in Rules.
type ClusterRole struct {
	Name  string
	Rules []rbacv1.PolicyRule
}

// ClusterRoleName is the name of the ClusterRole generated for a column, e.g.
// tenantward:organization:owner.
func ClusterRoleName(k Key) string {
	return "tenantward:" + string(k.Scope) + ":" + string(k.Role)
}

// GatedClusterRoleName is the name of the ClusterRole holding a workspace
// manager's writes on a gated feature, e.g. tenantward:workspace:manager:write-integrations.
func GatedClusterRoleName(f Feature) string {
	return ClusterRoleName(WSManager) + ":write-" + string(f)
}

// PersonalKeysClusterRoleName is the ClusterRole holding the Personal API keys
// row's rights on the API Keys row's resources. The operator binds it to a
// workspace's members (organization and workspace members) only in workspaces
// whose spec.apiKeys.personalKeys is Enabled.
const PersonalKeysClusterRoleName = "tenantward:workspace:member:personal-api-keys"

// ResourcesOf is the feature whose resources f's rights act on: the API Keys
// row's for Personal API keys, f's own for every other feature.
func ResourcesOf(f Feature) Feature {
	if f == PersonalAPIKeys {
		return APIKeys
	}
	return f
}

// ClusterRoleNames are the names of every generated ClusterRole, sorted. They
// do not depend on the feature map, so the operator's own right to bind and
// escalate them (controllers/zz_generated.rbac.go, written by hack/gen-rbac)
// names exactly these.
func ClusterRoleNames() []string {
	var out []string
	for _, k := range Keys {
		out = append(out, ClusterRoleName(k))
	}
	for _, r := range Table {
		if r.Gated {
			out = append(out, GatedClusterRoleName(r.Feature))
		}
	}
	out = append(out, PersonalKeysClusterRoleName)
	slices.Sort(out)
	return out
}

// closedGate closes every gated feature: the workspace manager's base role.
func closedGate(Feature) bool { return false }

// ClusterRoles returns every generated ClusterRole for a feature map: one per
// column (a workspace manager's without gated writes) and one per gated
// feature with the manager's gated writes, bound only where the
// IntegrationPolicy allows them.
func ClusterRoles(m FeatureMap) []ClusterRole {
	var out []ClusterRole
	for _, k := range Keys {
		out = append(out, ClusterRole{Name: ClusterRoleName(k), Rules: rules(m, func(f Feature) []string {
			return Verbs(k, f, closedGate)
		})})
	}
	for _, r := range Table {
		if !r.Gated {
			continue
		}
		f := r.Feature
		out = append(out, ClusterRole{Name: GatedClusterRoleName(f), Rules: rules(m, func(g Feature) []string {
			if g != f {
				return nil
			}
			return gatedVerbs(f)
		})})
	}
	out = append(out, ClusterRole{Name: PersonalKeysClusterRoleName, Rules: rules(m, func(f Feature) []string {
		if f != ResourcesOf(PersonalAPIKeys) {
			return nil
		}
		return Verbs(WSMember, PersonalAPIKeys, nil)
	})})
	return out
}

// gatedVerbs are the verbs a workspace manager gains on a gated feature when
// its gate is open.
func gatedVerbs(f Feature) []string {
	closed := Verbs(WSManager, f, closedGate)
	return slices.DeleteFunc(Verbs(WSManager, f, nil), func(v string) bool { return slices.Contains(closed, v) })
}

// OrganizationRules are the rules of a column on one Organization object, bound
// with a ClusterRoleBinding; nil when the column has no rights on it.
func OrganizationRules(k Key, m FeatureMap, org string) []rbacv1.PolicyRule {
	f, ok := m.FeatureOf(OrganizationResource)
	if !ok {
		return nil
	}
	verbs := Verbs(k, f, nil)
	if len(verbs) == 0 {
		return nil
	}
	return []rbacv1.PolicyRule{{
		APIGroups:     []string{OrganizationResource.Group},
		Resources:     []string{OrganizationResource.Resource},
		ResourceNames: []string{org},
		Verbs:         verbs,
	}}
}

// rules builds namespaced rules from the verbs each feature gets, one rule per
// API group and verb set, in a stable order.
func rules(m FeatureMap, verbsOf func(Feature) []string) []rbacv1.PolicyRule {
	type ruleKey struct{ group, verbs string }
	byKey := map[ruleKey][]string{}
	for _, f := range Features {
		verbs := verbsOf(f)
		if len(verbs) == 0 {
			continue
		}
		for _, gr := range m.GroupResourcesOf(f) {
			if gr == OrganizationResource {
				continue
			}
			k := ruleKey{gr.Group, strings.Join(verbs, ",")}
			byKey[k] = append(byKey[k], gr.Resource)
		}
	}
	keys := make([]ruleKey, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ruleKey) int {
		return compareGR(schema.GroupResource{Group: a.group, Resource: a.verbs}, schema.GroupResource{Group: b.group, Resource: b.verbs})
	})
	out := make([]rbacv1.PolicyRule, 0, len(keys))
	for _, k := range keys {
		res := byKey[k]
		slices.Sort(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: res, Verbs: strings.Split(k.verbs, ",")})
	}
	return out
}
