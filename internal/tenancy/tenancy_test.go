package tenancy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

func member(ns, name, user string, role v1alpha1.Role) v1alpha1.Membership {
	return v1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.MembershipSpec{Subject: v1alpha1.Subject{Kind: v1alpha1.SubjectUser, Name: user}, Role: role},
	}
}

func TestNamespaces(t *testing.T) {
	org := &v1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}
	if got := OrgNamespace(org); got != "org-acme" {
		t.Errorf("OrgNamespace = %q", got)
	}
	ws := &v1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "research"}, Spec: v1alpha1.WorkspaceSpec{Organization: "acme"}}
	if got := WorkspaceNamespace(ws); got != "acme--research" {
		t.Errorf("WorkspaceNamespace = %q", got)
	}
	long := strings.Repeat("a", 40)
	ws = &v1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: long}, Spec: v1alpha1.WorkspaceSpec{Organization: long}}
	if err := ValidNamespace(WorkspaceNamespace(ws)); err == nil || !strings.Contains(err.Error(), "set spec.namespace") {
		t.Errorf("an 82-character namespace must be refused with advice, got %v", err)
	}
}

// TestNamespaceNamesAreUnambiguous generates organization and workspace names
// as the CRDs allow them (DNS labels; organizations without "--"), hyphens
// included, and checks that every default workspace namespace names exactly
// one (organization, workspace) pair, that it tells its organization, that
// none is an organization's default namespace, and that the namespaces a
// tenant may choose (<org>--<suffix>) never belong to another organization.
func TestNamespaceNamesAreUnambiguous(t *testing.T) {
	parts := []string{"a", "b", "c", "a-b", "b-c", "a-b-c", "org", "org-a", "x1", "1-2"}
	var orgs []string
	orgs = append(orgs, parts...)
	for _, p := range parts {
		for _, q := range parts {
			orgs = append(orgs, p+"-"+q)
		}
	}
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	// Workspace names are DNS labels and may contain "--".
	workspaces := append(slices.Clone(orgs), "a--b", "x--y--z")
	type pair struct{ org, ws string }
	seen := map[string]pair{}
	orgNamespaces := map[string]string{}
	for _, o := range orgs {
		if strings.Contains(o, WorkspaceSeparator) {
			t.Fatalf("generator bug: organization %q", o)
		}
		orgNamespaces[OrgNamespace(&v1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: o}})] = o
	}
	for _, o := range orgs {
		for _, w := range workspaces {
			ns := WorkspaceNamespace(&v1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: w}, Spec: v1alpha1.WorkspaceSpec{Organization: o}})
			if prev, dup := seen[ns]; dup {
				t.Fatalf("%s is the namespace of %v and of %v", ns, prev, pair{o, w})
			}
			seen[ns] = pair{o, w}
			if got, ok := OrganizationOfWorkspaceNamespace(ns); !ok || got != o {
				t.Fatalf("%s: organization %q (ok %v), want %q", ns, got, ok, o)
			}
			if owner, clash := orgNamespaces[ns]; clash {
				t.Fatalf("workspace %s of %s gets %s, the namespace of organization %s", w, o, ns, owner)
			}
			for _, other := range orgs {
				if other != o && strings.HasPrefix(ns, WorkspaceNamespacePrefix(other)) {
					t.Fatalf("%s, of organization %s, is one organization %s may choose", ns, o, other)
				}
			}
		}
	}
	if len(seen) != len(orgs)*len(workspaces) {
		t.Fatalf("%d namespaces for %d pairs", len(seen), len(orgs)*len(workspaces))
	}
	if _, ok := OrganizationOfWorkspaceNamespace("org-acme"); ok {
		t.Error("org-acme is not a workspace namespace")
	}
}

func TestReserved(t *testing.T) {
	r := NewReserved("tenantward-system", []string{"argocd", ""})
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "kube-anything", "tenantward-system", "argocd"} {
		if err := r.Check(ns); err == nil || !strings.Contains(err.Error(), "namespace "+ns+" is reserved") {
			t.Errorf("%s: got %v", ns, err)
		}
	}
	for _, ns := range []string{"org-acme", "acme--research", "monitoring", "kubeflow", ""} {
		if err := r.Check(ns); err != nil {
			t.Errorf("%s: %v", ns, err)
		}
	}
}

func TestClaimError(t *testing.T) {
	ns := func(l map[string]string, uid string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "org-acme", Labels: l,
			Annotations: map[string]string{v1alpha1.AnnotationOwnerUID: uid}}}
	}
	acme := Owner{Organization: "acme", UID: "uid-1"}
	cases := []struct {
		labels map[string]string
		uid    string
		want   string
	}{
		{Labels("acme", ""), "uid-1", ""},
		{map[string]string{"team": "x"}, "uid-1", "not managed by tenantward"},
		{Labels("globex", ""), "uid-1", "belongs to organization globex"},
		{Labels("acme", "research"), "uid-1", "belongs to workspace research of organization acme"},
		{Labels("acme", ""), "uid-0", `made for another organization acme of the same name (owner UID "uid-0", this one is "uid-1")`},
		{Labels("acme", ""), "", `owner UID ""`},
	}
	for _, c := range cases {
		err := ClaimError(ns(c.labels, c.uid), acme)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("labels %v, uid %q: got %v, want %q", c.labels, c.uid, err, c.want)
		}
	}
}

func TestPlanOrganization(t *testing.T) {
	closedAI := func(f authz.Feature) bool { return f != authz.Integrations }
	in := Input{
		Organization: "acme", OrgNamespace: "org-acme",
		Workspaces: []WorkspaceNS{{Name: "a", Namespace: "acme-a"}, {Name: "b", Namespace: "acme-b", Gate: closedAI, PersonalKeys: true}},
		Memberships: []v1alpha1.Membership{
			member("org-acme", "o1", "olga", v1alpha1.RoleOwner),
			member("org-acme", "o2", "olga", v1alpha1.RoleOwner), // the same subject twice is bound once
			member("org-acme", "m1", "mia", v1alpha1.RoleMember),
			member("org-acme", "bad", "bob", v1alpha1.RoleManager),
			member("acme-a", "w1", "wes", v1alpha1.RoleManager),
			member("acme-b", "w2", "wes", v1alpha1.RoleManager),
			member("acme-b", "w3", "zed", v1alpha1.RoleOwner),
			member("acme-b", "w4", "wanda", v1alpha1.RoleMember),
			member("elsewhere", "x", "xi", v1alpha1.RoleMember),
		},
		Features: authz.DefaultFeatureMap(),
	}
	p := PlanOrganization(in)
	var got []string
	for _, rb := range p.RoleBindings {
		var subjects []string
		for _, s := range rb.Subjects {
			subjects = append(subjects, s.Name)
		}
		got = append(got, fmt.Sprintf("%s/%s=%s", rb.Namespace, rb.Name, strings.Join(subjects, ",")))
	}
	want := []string{
		"acme-a/tenantward:organization:owner=olga",
		"acme-a/tenantward:workspace:manager=wes",
		"acme-a/tenantward:workspace:manager:write-integrations=wes",
		"acme-a/tenantward:workspace:manager:write-mcp-integrations=wes",
		"acme-a/tenantward:workspace:manager:write-mcp-servers=wes",
		"acme-a/tenantward:organization:member=mia",
		"acme-b/tenantward:organization:owner=olga",
		"acme-b/tenantward:workspace:manager=wes",
		"acme-b/tenantward:workspace:manager:write-mcp-integrations=wes",
		"acme-b/tenantward:workspace:manager:write-mcp-servers=wes",
		"acme-b/tenantward:organization:member=mia",
		"acme-b/tenantward:workspace:member=wanda",
		// Personal keys are Enabled in b only: its members, org and workspace.
		"acme-b/tenantward:workspace:member:personal-api-keys=mia,wanda",
		"org-acme/tenantward:organization:owner=olga",
		"org-acme/tenantward:organization:member=mia",
	}
	if !slices.Equal(got, want) {
		t.Errorf("RoleBindings:\n got %q\nwant %q", got, want)
	}
	if len(p.ClusterRoleBindings) != 2 || p.ClusterRoleBindings[0].Name != "tenantward:organization:acme:owner" {
		t.Errorf("ClusterRoleBindings: %+v", p.ClusterRoleBindings)
	}
	if st := p.Members[types.NamespacedName{Namespace: "org-acme", Name: "bad"}]; st.Err == nil {
		t.Error("a manager in the org namespace must be reported")
	}
	if st := p.Members[types.NamespacedName{Namespace: "acme-b", Name: "w3"}]; st.Err == nil || st.Workspace != "b" {
		t.Errorf("an owner in a workspace must be reported: %+v", st)
	}
	if st := p.Members[types.NamespacedName{Namespace: "org-acme", Name: "m1"}]; !slices.Equal(st.BoundNamespaces, []string{"acme-a", "acme-b", "org-acme"}) {
		t.Errorf("org member bound in %v", st.BoundNamespaces)
	}
	if _, ok := p.Members[types.NamespacedName{Namespace: "elsewhere", Name: "x"}]; ok {
		t.Error("a membership outside the organization's namespaces must be ignored")
	}
}

func TestGateOf(t *testing.T) {
	ws := &v1alpha1.Workspace{Status: v1alpha1.WorkspaceStatus{IntegrationAccess: []v1alpha1.EffectiveIntegrationAccess{
		{Type: v1alpha1.IntegrationMCPServers, ManagersWrite: v1alpha1.Denied},
		{Type: v1alpha1.IntegrationAI, ManagersWrite: v1alpha1.Allowed},
	}}}
	g := GateOf(ws)
	if g == nil || g(authz.MCPServers) || !g(authz.Integrations) || !g(authz.MCPIntegrations) {
		t.Error("only MCP servers should be closed")
	}
	if GateOf(&v1alpha1.Workspace{}) != nil {
		t.Error("no computed access means the default: open")
	}
}

// BenchmarkPlanOrganization plans one organization of the scale target: 10
// workspaces with 20 memberships each.
func BenchmarkPlanOrganization(b *testing.B) {
	in := Input{Organization: "acme", OrgNamespace: "org-acme", Features: authz.DefaultFeatureMap()}
	in.Memberships = append(in.Memberships, member("org-acme", "o", "owner", v1alpha1.RoleOwner))
	for w := range 10 {
		ns := fmt.Sprintf("acme-ws%d", w)
		in.Workspaces = append(in.Workspaces, WorkspaceNS{Name: fmt.Sprintf("ws%d", w), Namespace: ns})
		for m := range 20 {
			in.Memberships = append(in.Memberships, member(ns, fmt.Sprintf("m%d", m), fmt.Sprintf("u%d-%d", w, m), v1alpha1.RoleMember))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		PlanOrganization(in)
	}
}
