package authz

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

func TestKeyFor(t *testing.T) {
	if _, err := KeyFor(ScopeOrganization, v1alpha1.RoleManager); err == nil || !strings.Contains(err.Error(), "owner, admin or member") {
		t.Fatalf("manager in an org namespace: got %v", err)
	}
	if _, err := KeyFor(ScopeWorkspace, v1alpha1.RoleOwner); err == nil || !strings.Contains(err.Error(), "admin, manager or member") {
		t.Fatalf("owner in a workspace: got %v", err)
	}
	if k, err := KeyFor(ScopeWorkspace, v1alpha1.RoleManager); err != nil || k != WSManager {
		t.Fatalf("workspace manager: got %v, %v", k, err)
	}
}

func TestRank(t *testing.T) {
	order := []Key{OrgOwner, OrgAdmin, WSAdmin, WSManager, OrgMember}
	for i := 1; i < len(order); i++ {
		if !order[i-1].AtLeast(order[i]) || order[i].AtLeast(order[i-1]) {
			t.Errorf("%s should outrank %s", order[i-1], order[i])
		}
	}
	if !OrgMember.AtLeast(WSMember) || !WSMember.AtLeast(OrgMember) {
		t.Error("org member and workspace member should rank equally")
	}
	if (Key{ScopeWorkspace, v1alpha1.RoleOwner}).AtLeast(WSMember) {
		t.Error("an invalid key must not outrank anything")
	}
}

func TestGate(t *testing.T) {
	closed := func(Feature) bool { return false }
	if !Allowed(WSManager, Integrations, Create, nil) || Allowed(WSManager, Integrations, Create, closed) {
		t.Error("a manager's integration writes follow the gate")
	}
	if !Allowed(WSManager, Integrations, Copy, closed) {
		t.Error("a closed gate keeps a manager's read rights")
	}
	if !Allowed(OrgAdmin, MCPServers, Delete, closed) {
		t.Error("the gate never limits org admins")
	}
	if Allowed(WSManager, Prompts, Delete, closed) != true {
		t.Error("prompts are not gated")
	}
}

func TestCeiling(t *testing.T) {
	closed := func(Feature) bool { return false }
	cases := []struct {
		k    Key
		kf   KeyFeature
		gate Gate
		want Level
	}{
		{OrgOwner, KeyPrompts, nil, LevelDelete},
		{OrgMember, KeyPrompts, nil, LevelWrite},
		{OrgMember, KeyIntegrations, nil, LevelRead},
		{OrgMember, KeyUsers, nil, LevelDisabled},
		{OrgAdmin, KeyUsers, nil, LevelDelete},
		{OrgMember, KeyMetrics, nil, LevelRead},
		{WSMember, KeyCompletions, nil, LevelRead},
		{WSManager, KeyIntegrations, nil, LevelDelete},
		{WSManager, KeyIntegrations, closed, LevelRead},
		{WSManager, KeyProviders, nil, LevelRead},
		{Key{ScopeWorkspace, v1alpha1.RoleOwner}, KeyPrompts, nil, LevelDisabled},
	}
	for _, c := range cases {
		if got := Ceiling(c.k, c.kf, c.gate); got != c.want {
			t.Errorf("Ceiling(%s, %s) = %s, want %s", c.k, c.kf, got, c.want)
		}
	}
}

func TestExceedsCeiling(t *testing.T) {
	excess, err := ExceedsCeiling(WSManager, MaxPermissions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range excess {
		names = append(names, string(e.Feature))
	}
	if want := []string{"providers", "models"}; !slices.Equal(names, want) {
		t.Errorf("a workspace manager's excess over the maximum = %v, want %v", names, want)
	}
	if excess, _ := ExceedsCeiling(OrgOwner, MaxPermissions(), nil); len(excess) != 0 {
		t.Errorf("an owner may grant everything, got excess %v", excess)
	}
	if _, err := ExceedsCeiling(OrgOwner, v1alpha1.APIKeyPermissions{Prompts: "Admin"}, nil); err == nil || !strings.Contains(err.Error(), "permissions.prompts") {
		t.Errorf("an unknown level must be named, got %v", err)
	}
}

func TestFeatureMapValidate(t *testing.T) {
	if err := DefaultFeatureMap().Validate(); err != nil {
		t.Fatalf("default map: %v", err)
	}
	cases := map[string]struct {
		m    FeatureMap
		want string
	}{
		"unknown feature":      {FeatureMap{"virtual-keys": {{Group: "x.io", Resources: []string{"vk"}}}}, "features.virtual-keys: unknown feature"},
		"no resources":         {FeatureMap{Prompts: {{Group: "x.io"}}}, "features.prompts[0].resources: list at least one"},
		"bad resource":         {FeatureMap{Prompts: {{Group: "x.io", Resources: []string{"Prompts"}}}}, `features.prompts[0].resources[0] "Prompts"`},
		"bad group":            {FeatureMap{Prompts: {{Group: "X_io", Resources: []string{"prompts"}}}}, `features.prompts[0].group "X_io"`},
		"personal keys mapped": {FeatureMap{PersonalAPIKeys: {{Group: "x.io", Resources: []string{"keys"}}}}, "its rights act on the resources of api-keys"},
		"mapped twice": {FeatureMap{
			Configs: {{Group: "x.io", Resources: []string{"things"}}},
			Prompts: {{Group: "x.io", Resources: []string{"things"}}},
		}, "already mapped to feature configs"},
	}
	for name, c := range cases {
		err := c.m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}

func hasRule(rules []rbacv1.PolicyRule, resource, verb string) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
	})
}

func TestClusterRoles(t *testing.T) {
	roles := map[string][]rbacv1.PolicyRule{}
	for _, cr := range ClusterRoles(DefaultFeatureMap()) {
		roles[cr.Name] = cr.Rules
	}
	if len(roles) != len(Keys)+3+1 {
		t.Fatalf("got %d ClusterRoles, want one per column, one per gated feature and the personal keys' one", len(roles))
	}
	checks := []struct {
		role, resource, verb string
		want                 bool
	}{
		{"tenantward:organization:owner", "prompts", "publish", true},
		{"tenantward:organization:member", "prompts", "publish", false},
		{"tenantward:organization:admin", "apikeys", "rotate", true},
		{"tenantward:organization:owner", "organizations", "update", false}, // bound by name, not here
		{"tenantward:workspace:manager", "integrations", "create", false},
		{"tenantward:workspace:manager", "integrations", "list", true},
		{"tenantward:workspace:manager:write-integrations", "integrations", "create", true},
		{"tenantward:workspace:manager:write-integrations", "integrations", "list", false},
		{"tenantward:workspace:manager:write-mcp-servers", "mcpservers", "delete", true},
		{"tenantward:workspace:member", "apikeys", "create", false},
		{PersonalKeysClusterRoleName, "apikeys", "create", true},
		{PersonalKeysClusterRoleName, "apikeys", "rotate", true},
		{PersonalKeysClusterRoleName, "prompts", "get", false},
	}
	for _, c := range checks {
		if got := hasRule(roles[c.role], c.resource, c.verb); got != c.want {
			t.Errorf("%s %s %s: got %v, want %v", c.role, c.verb, c.resource, got, c.want)
		}
	}
	org := OrganizationRules(OrgMember, DefaultFeatureMap(), "acme")
	if len(org) != 1 || !slices.Equal(org[0].Verbs, []string{"get"}) || !slices.Equal(org[0].ResourceNames, []string{"acme"}) {
		t.Errorf("org member rules on the Organization: %+v", org)
	}
	if OrganizationRules(WSAdmin, DefaultFeatureMap(), "acme") != nil {
		t.Error("workspace roles get no rights on the Organization object")
	}
}

// TestAllowedAgreesWithActionsOf checks the allocation-free Allowed against
// ActionsOf for every cell, open and closed gates.
func TestAllowedAgreesWithActionsOf(t *testing.T) {
	for _, gate := range []Gate{nil, func(Feature) bool { return false }} {
		for _, k := range Keys {
			for _, f := range Features {
				for _, a := range Actions {
					if got, want := Allowed(k, f, a, gate), slices.Contains(ActionsOf(k, f, gate), a); got != want {
						t.Errorf("Allowed(%s, %s, %s) = %v, ActionsOf says %v", k, f, a, got, want)
					}
				}
			}
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	gate := func(f Feature) bool { return f != Integrations }
	b.ReportAllocs()
	for b.Loop() {
		Allowed(WSManager, Integrations, Create, gate)
	}
}
