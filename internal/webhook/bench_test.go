package webhook

import (
	"context"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/config"
)

// indexReader holds Memberships in a client-go Indexer under SubjectIndex —
// the indexer of the manager's Membership informer — and answers Gets of
// namespaces and organizations with deep copies, as the manager's cache does.
type indexReader struct {
	client.Reader
	memberships cache.Indexer
	objects     map[client.ObjectKey]client.Object
}

func newIndexReader() *indexReader {
	return &indexReader{
		memberships: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{SubjectIndex: indexMembership}),
		objects:     map[client.ObjectKey]client.Object{},
	}
}

func (r *indexReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	o, ok := r.objects[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	// Deep copies, as the manager's cache makes.
	switch out := obj.(type) {
	case *corev1.Namespace:
		o.(*corev1.Namespace).DeepCopyInto(out)
	case *v1.Organization:
		o.(*v1.Organization).DeepCopyInto(out)
	default:
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	return nil
}

func (r *indexReader) addNamespace(name, org, ws string) {
	labels := map[string]string{v1.LabelOrganization: org}
	if ws != "" {
		labels[v1.LabelWorkspace] = ws
	}
	r.objects[client.ObjectKey{Name: name}] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// fixture holds n Memberships spread over n/20 organizations with one workspace
// each, and the requester: a workspace manager of org 0's workspace.
func fixture(n int) *indexReader {
	r := newIndexReader()
	orgs := max(n/20, 1)
	for o := range orgs {
		org := fmt.Sprintf("org%d", o)
		r.objects[client.ObjectKey{Name: org}] = &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: org}}
		r.addNamespace("org-"+org, org, "")
		r.addNamespace(org+"-ws", org, "ws")
	}
	for i := range n {
		org := fmt.Sprintf("org%d", i%orgs)
		ns, role := "org-"+org, v1.RoleMember
		if i%2 == 1 {
			ns, role = org+"-ws", v1.RoleManager
		}
		m := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%d", i), Namespace: ns},
			Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: fmt.Sprintf("user%d", i)}, Role: role}}
		if err := r.memberships.Add(m); err != nil {
			panic(err)
		}
	}
	return r
}

// BenchmarkDecision is the webhook's decision for a Membership create by a
// workspace manager: namespace tenancy, the requester's roles through the
// subject index, and the rule. Its cost must not grow with the total.
func BenchmarkDecision(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("memberships=%d", n), func(b *testing.B) {
			r := fixture(n)
			res := &Resolver{Reader: r, Memberships: r.memberships}
			platform := NewPlatform(config.Default().PlatformIdentities)
			// user1 is the manager of org1's workspace (odd index → workspace manager).
			info := authenticationv1.UserInfo{Username: "user1", Groups: []string{"system:authenticated", "team-blue", "team-red"}}
			newM := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "org1-ws"},
				Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: "bob"}, Role: v1.RoleMember}}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				who := platform.Requester(info)
				t, err := res.Tenancy(ctx, "org1-ws")
				if err != nil {
					b.Fatal(err)
				}
				roles, err := res.Roles(ctx, who, t)
				if err != nil {
					b.Fatal(err)
				}
				a := Attempt{Who: who, Roles: roles, Where: t, Operation: admissionv1.Create, Kind: "Membership", Name: "new"}
				if errs := MembershipRule(a, nil, newM, 0); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
	}
}
