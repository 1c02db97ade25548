package authz_test

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenantward/tenantward/config/rbac"
	"github.com/tenantward/tenantward/internal/authz"
)

// TestInstalledRoleBindsExactlyTheTablesRoles: the operator's installed role
// may bind and escalate the ClusterRoles the permission table generates, and
// nothing else (controllers/zz_generated.rbac.go comes from the table).
func TestInstalledRoleBindsExactlyTheTablesRoles(t *testing.T) {
	raw, err := rbac.Files.ReadFile("role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, r := range role.Rules {
		if slices.Contains(r.Verbs, "bind") || slices.Contains(r.Verbs, "escalate") {
			if !slices.Equal(r.Verbs, []string{"bind", "escalate"}) || !slices.Equal(r.Resources, []string{"clusterroles"}) {
				t.Errorf("bind/escalate rule %+v: want exactly bind and escalate on clusterroles", r)
			}
			named = append(named, r.ResourceNames...)
		}
	}
	slices.Sort(named)
	if want := authz.ClusterRoleNames(); !slices.Equal(named, want) {
		t.Errorf("config/rbac/role.yaml binds and escalates %v, the permission table generates %v: run make manifests", named, want)
	}
	for _, cr := range authz.ClusterRoles(authz.DefaultFeatureMap()) {
		if !slices.Contains(named, cr.Name) {
			t.Errorf("the generated ClusterRole %s is not in authz.ClusterRoleNames", cr.Name)
		}
	}
}
