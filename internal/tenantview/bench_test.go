package tenantview

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/webhook"
)

// workspaceReader lists Workspaces by namespace, as the manager's cache does
// with its namespace index.
type workspaceReader struct {
	client.Reader
	byNamespace map[string][]accessv1alpha1.Workspace
}

func (r workspaceReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	list.(*accessv1alpha1.WorkspaceList).Items = r.byNamespace[o.Namespace]
	return nil
}

// BenchmarkOrganizations lists the organizations of a user in 3 of 1,000
// organizations with 100,000 Memberships in the caches: the cost follows the
// caller's Memberships, not the cluster's.
func BenchmarkOrganizations(b *testing.B) {
	const orgs, perOrg = 1000, 100
	namespaces := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, nil)
	organizations := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, nil)
	memberships := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{
		webhook.SubjectIndex: func(obj any) ([]string, error) {
			return []string{webhook.SubjectKey(obj.(*accessv1alpha1.Membership).Spec.Subject)}, nil
		},
	})
	reader := workspaceReader{byNamespace: map[string][]accessv1alpha1.Workspace{}}
	managed := func(name, org, ws string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue, accessv1alpha1.LabelOrganization: org, accessv1alpha1.LabelWorkspace: ws,
		}}}
	}
	add := func(s toolscache.Indexer, obj any) {
		if err := s.Add(obj); err != nil {
			b.Fatal(err)
		}
	}
	for i := range orgs {
		org, ns, wsNS := fmt.Sprintf("org-%d", i), fmt.Sprintf("org-%d-ns", i), fmt.Sprintf("org-%d-ws", i)
		add(organizations, &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: org}, Spec: accessv1alpha1.OrganizationSpec{Namespace: ns}})
		add(namespaces, managed(ns, org, ""))
		add(namespaces, managed(wsNS, org, "research"))
		reader.byNamespace[ns] = []accessv1alpha1.Workspace{{ObjectMeta: metav1.ObjectMeta{Name: "research", Namespace: ns}, Status: accessv1alpha1.WorkspaceStatus{Namespace: wsNS}}}
		for j := range perOrg {
			user := fmt.Sprintf("user-%d-%d", i, j)
			if j == 0 && i%400 == 0 {
				user = "bench" // in org-0, org-400 and org-800
			}
			add(memberships, &accessv1alpha1.Membership{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%d", j), Namespace: ns},
				Spec:       accessv1alpha1.MembershipSpec{Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user}, Role: accessv1alpha1.RoleMember},
			})
		}
	}
	s := Source{Resolver: &webhook.Resolver{Informers: webhook.Informers{Namespaces: namespaces, Organizations: organizations, Memberships: memberships}}, Cache: reader}
	who := webhook.Requester{Name: "bench", Groups: []string{"system:authenticated", "developers"}}
	got, err := s.Organizations(context.Background(), who)
	if err != nil || len(got) != 3 {
		b.Fatalf("bench's organizations: %d, %v; want 3", len(got), err)
	}
	for b.Loop() {
		if _, err := s.Organizations(context.Background(), who); err != nil {
			b.Fatal(err)
		}
	}
}
