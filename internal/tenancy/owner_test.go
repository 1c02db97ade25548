package tenancy

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

func TestOwnerRole(t *testing.T) {
	alice := v1alpha1.Subject{Kind: v1alpha1.SubjectUser, Name: "alice"}
	m := func(ns string, s v1alpha1.Subject, role v1alpha1.Role) *v1alpha1.Membership {
		return &v1alpha1.Membership{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "m"}, Spec: v1alpha1.MembershipSpec{Subject: s, Role: role}}
	}
	leaving := m("org-acme", alice, v1alpha1.RoleAdmin)
	now := metav1.Now()
	leaving.DeletionTimestamp = &now
	cases := []struct {
		name        string
		orgNS, wsNS string
		ms          []*v1alpha1.Membership
		want        authz.Key
	}{
		{"org member, workspace key", "org-acme", "acme--a", []*v1alpha1.Membership{m("org-acme", alice, v1alpha1.RoleMember)}, authz.OrgMember},
		{"workspace manager beats org member", "org-acme", "acme--a", []*v1alpha1.Membership{m("org-acme", alice, v1alpha1.RoleMember), m("acme--a", alice, v1alpha1.RoleManager)}, authz.WSManager},
		{"a workspace role does not act in the org namespace", "org-acme", "", []*v1alpha1.Membership{m("acme--a", alice, v1alpha1.RoleManager)}, authz.Key{}},
		{"another workspace is not where the key lives", "org-acme", "acme--a", []*v1alpha1.Membership{m("acme--b", alice, v1alpha1.RoleMember)}, authz.Key{}},
		{"another organization", "org-acme", "acme--a", []*v1alpha1.Membership{m("org-globex", alice, v1alpha1.RoleOwner)}, authz.Key{}},
		{"a group she may be in does not count", "org-acme", "acme--a", []*v1alpha1.Membership{m("org-acme", v1alpha1.Subject{Kind: v1alpha1.SubjectGroup, Name: "alice"}, v1alpha1.RoleOwner)}, authz.Key{}},
		{"a Membership being deleted grants nothing", "org-acme", "acme--a", []*v1alpha1.Membership{leaving}, authz.Key{}},
		{"a role invalid at its scope grants nothing", "org-acme", "acme--a", []*v1alpha1.Membership{m("org-acme", alice, v1alpha1.RoleManager)}, authz.Key{}},
	}
	for _, c := range cases {
		if got := OwnerRole(alice, c.orgNS, c.wsNS, c.ms); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
