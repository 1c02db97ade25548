package tenancy

import (
	"cmp"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// WorkspaceNS is a live workspace of an organization and its namespace.
type WorkspaceNS struct {
	Name      string
	Namespace string
	// Gate says whether the effective IntegrationPolicy lets the workspace's
	// managers write each gated feature; nil allows all.
	Gate authz.Gate
	// PersonalKeys is true where the Workspace's spec.apiKeys.personalKeys is
	// Enabled: its members (org and workspace) are bound to
	// authz.PersonalKeysClusterRoleName there.
	PersonalKeys bool
}

// Input is what an organization's RBAC depends on.
type Input struct {
	Organization string
	OrgNamespace string
	Workspaces   []WorkspaceNS
	// Memberships are those in the org namespace and in the workspace namespaces.
	Memberships []v1alpha1.Membership
	Features    authz.FeatureMap
}

// MemberStatus is what a Membership's status should say.
type MemberStatus struct {
	Workspace       string
	BoundNamespaces []string
	// Err is why the Membership grants nothing (a role its scope does not have).
	Err error
}

// Plan is the RBAC an organization needs.
type Plan struct {
	// RoleBindings: one per role per namespace that has holders of that role.
	RoleBindings []rbacv1.RoleBinding
	// ClusterRoles and ClusterRoleBindings give org roles their rights on the
	// Organization object itself, limited by resource name.
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	// Members are the statuses of the input Memberships.
	Members map[types.NamespacedName]MemberStatus
}

// OrganizationClusterRoleName names the per-organization ClusterRole (and its
// binding) that gives a role its rights on the Organization object.
func OrganizationClusterRoleName(org string, role v1alpha1.Role) string {
	return "tenantward:organization:" + org + ":" + string(role)
}

// PlanOrganization computes the RBAC of one organization. Subjects are listed
// once per binding and sorted, so the plan is stable.
func PlanOrganization(in Input) Plan {
	p := Plan{Members: make(map[types.NamespacedName]MemberStatus, len(in.Memberships))}
	wsByNS := make(map[string]WorkspaceNS, len(in.Workspaces))
	allNS := []string{in.OrgNamespace}
	for _, w := range in.Workspaces {
		wsByNS[w.Namespace] = w
		allNS = append(allNS, w.Namespace)
	}
	slices.Sort(allNS)

	orgSubjects := map[authz.Key][]rbacv1.Subject{}
	wsSubjects := map[string]map[authz.Key][]rbacv1.Subject{}
	for i := range in.Memberships {
		m := &in.Memberships[i]
		id := types.NamespacedName{Namespace: m.Namespace, Name: m.Name}
		subj := subjectOf(m.Spec.Subject)
		if m.Namespace == in.OrgNamespace {
			k, err := authz.KeyFor(authz.ScopeOrganization, m.Spec.Role)
			if err != nil {
				p.Members[id] = MemberStatus{Err: err}
				continue
			}
			orgSubjects[k] = append(orgSubjects[k], subj)
			p.Members[id] = MemberStatus{BoundNamespaces: allNS}
			continue
		}
		w, ok := wsByNS[m.Namespace]
		if !ok {
			continue
		}
		k, err := authz.KeyFor(authz.ScopeWorkspace, m.Spec.Role)
		if err != nil {
			p.Members[id] = MemberStatus{Workspace: w.Name, Err: err}
			continue
		}
		if wsSubjects[w.Namespace] == nil {
			wsSubjects[w.Namespace] = map[authz.Key][]rbacv1.Subject{}
		}
		wsSubjects[w.Namespace][k] = append(wsSubjects[w.Namespace][k], subj)
		p.Members[id] = MemberStatus{Workspace: w.Name, BoundNamespaces: []string{w.Namespace}}
	}

	for _, ns := range allNS {
		w := wsByNS[ns]
		labels := Labels(in.Organization, w.Name)
		for _, k := range authz.Keys {
			subjects := orgSubjects[k]
			if k.Scope == authz.ScopeWorkspace {
				subjects = wsSubjects[ns][k]
			}
			if len(subjects) == 0 {
				continue
			}
			subjects = sortSubjects(subjects)
			p.RoleBindings = append(p.RoleBindings, roleBinding(ns, authz.ClusterRoleName(k), labels, subjects))
			if k == authz.WSManager {
				for _, f := range authz.Features {
					if authz.Gated(f) && (w.Gate == nil || w.Gate(f)) {
						p.RoleBindings = append(p.RoleBindings, roleBinding(ns, authz.GatedClusterRoleName(f), labels, subjects))
					}
				}
			}
		}
		if w.PersonalKeys {
			if members := slices.Concat(orgSubjects[authz.OrgMember], wsSubjects[ns][authz.WSMember]); len(members) > 0 {
				p.RoleBindings = append(p.RoleBindings, roleBinding(ns, authz.PersonalKeysClusterRoleName, labels, sortSubjects(members)))
			}
		}
	}

	orgLabels := Labels(in.Organization, "")
	for _, k := range authz.Keys {
		if k.Scope != authz.ScopeOrganization || len(orgSubjects[k]) == 0 {
			continue
		}
		rules := authz.OrganizationRules(k, in.Features, in.Organization)
		if rules == nil {
			continue
		}
		name := OrganizationClusterRoleName(in.Organization, k.Role)
		p.ClusterRoles = append(p.ClusterRoles, rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: orgLabels},
			Rules:      rules,
		})
		p.ClusterRoleBindings = append(p.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: orgLabels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   sortSubjects(orgSubjects[k]),
		})
	}
	return p
}

func roleBinding(ns, clusterRole string, labels map[string]string, subjects []rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole, Namespace: ns, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   subjects,
	}
}

func subjectOf(s v1alpha1.Subject) rbacv1.Subject {
	if s.Kind == v1alpha1.SubjectServiceAccount {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: s.Name, Namespace: s.Namespace}
	}
	return rbacv1.Subject{Kind: string(s.Kind), APIGroup: rbacv1.GroupName, Name: s.Name}
}

func sortSubjects(s []rbacv1.Subject) []rbacv1.Subject {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b rbacv1.Subject) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return slices.Compact(s)
}
