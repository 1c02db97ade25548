package webhook

import (
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// fixture holds n Memberships spread over n/20 organizations with one workspace
// each in client-go stores — the stores of the manager's informers — and the
// requester: user1, the workspace manager of org1's workspace.
func fixture(n int) Informers {
	namespaces := cache.NewStore(cache.MetaNamespaceKeyFunc)
	orgs := cache.NewStore(cache.MetaNamespaceKeyFunc)
	workspaces := cache.NewStore(cache.MetaNamespaceKeyFunc)
	members := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{SubjectIndex: indexMembership})
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	addNamespace := func(name, org, ws string, owner types.UID) {
		must(namespaces.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tenancy.Labels(org, ws),
			Annotations: map[string]string{v1.AnnotationOwnerUID: string(owner)}}}))
	}
	count := max(n/20, 1)
	for o := range count {
		org := fmt.Sprintf("org%d", o)
		orgUID, wsUID := types.UID(org+"-uid"), types.UID(org+"-ws-uid")
		must(orgs.Add(&v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: org, UID: orgUID}}))
		must(workspaces.Add(&v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ws", Namespace: "org-" + org, UID: wsUID},
			Spec: v1.WorkspaceSpec{Organization: org, Namespace: org + "-ws"}}))
		addNamespace("org-"+org, org, "", orgUID)
		addNamespace(org+"-ws", org, "ws", wsUID)
	}
	for i := range n {
		org := fmt.Sprintf("org%d", i%count)
		ns, role := "org-"+org, v1.RoleMember
		if i%2 == 1 {
			ns, role = org+"-ws", v1.RoleManager
		}
		must(members.Add(&v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%d", i), Namespace: ns},
			Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: fmt.Sprintf("user%d", i)}, Role: role}}))
	}
	return Informers{Namespaces: namespaces, Organizations: orgs, Workspaces: workspaces, Memberships: members}
}

// BenchmarkDecision is the webhook's decision for a Membership create by a
// workspace manager: namespace tenancy, the requester's roles through the
// subject index, and the rule. Its cost must not grow with the total.
func BenchmarkDecision(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("memberships=%d", n), func(b *testing.B) {
			res := &Resolver{Informers: fixture(n)}
			platform := NewPlatform(config.Default().PlatformIdentities)
			// user1 is the manager of org1's workspace (odd index → workspace manager).
			info := authenticationv1.UserInfo{Username: "user1", Groups: []string{"system:authenticated", "team-blue", "team-red"}}
			newM := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "org1-ws"},
				Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: "bob"}, Role: v1.RoleMember}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				who := platform.Requester(info)
				t, err := res.Tenancy("org1-ws")
				if err != nil {
					b.Fatal(err)
				}
				roles, err := res.Roles(who, t)
				if err != nil {
					b.Fatal(err)
				}
				a := Attempt{Who: who, Roles: roles, Where: t, Operation: admissionv1.Create, Kind: "Membership", Name: "new"}
				if errs := MembershipRule(a, nil, newM, MembershipChecks{}); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
	}
}
