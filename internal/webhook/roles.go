package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// SubjectIndex is the Membership field index the webhooks resolve roles with:
// one entry per Membership, "<namespace>|<subject key>", so that finding a
// user's roles in a namespace costs one lookup per user name, group and
// service account, whatever the total number of Memberships.
const SubjectIndex = "tenantward.webhook.subjectNamespace"

// indexValue is the SubjectIndex value of a Membership.
func indexValue(m *accessv1alpha1.Membership) string {
	return indexKey(m.Namespace, SubjectKey(m.Spec.Subject))
}

func indexKey(namespace, subjectKey string) string { return namespace + "|" + subjectKey }

// MembershipIndex answers SubjectIndex lookups. The manager's Membership
// informer's indexer is one: a lookup returns the cached objects themselves,
// which callers only read.
type MembershipIndex interface {
	ByIndex(indexName, indexedValue string) ([]any, error)
}

// IndexMemberships adds SubjectIndex to the Membership informer of the
// manager's cache and returns the informer's indexer.
func IndexMemberships(ctx context.Context, c cache.Cache) (MembershipIndex, error) {
	inf, err := c.GetInformer(ctx, &accessv1alpha1.Membership{})
	if err != nil {
		return nil, err
	}
	if err := inf.AddIndexers(toolscache.Indexers{SubjectIndex: indexMembership}); err != nil {
		return nil, err
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the Membership informer is a %T, not a client-go SharedIndexInformer", inf)
	}
	return shared.GetIndexer(), nil
}

func indexMembership(obj any) ([]string, error) {
	m, ok := obj.(*accessv1alpha1.Membership)
	if !ok {
		return nil, nil
	}
	return []string{indexValue(m)}, nil
}

// Tenancy is where a request lands.
type Tenancy struct {
	// Organization is the organization's name; empty outside tenancy.
	Organization string
	// OrgNamespace is the organization's namespace.
	OrgNamespace string
	// Workspace is the workspace's name; empty in the org namespace.
	Workspace string
	// WorkspaceNamespace is the workspace's namespace; empty in the org namespace.
	WorkspaceNamespace string
}

// Scope is the permission-table scope of the namespace: organization for the
// org namespace, workspace for a workspace namespace, "" outside tenancy.
func (t Tenancy) Scope() authz.Scope {
	switch {
	case t.Organization == "":
		return ""
	case t.Workspace == "":
		return authz.ScopeOrganization
	}
	return authz.ScopeWorkspace
}

// String renders the tenancy for messages: acme or acme/team-a.
func (t Tenancy) String() string {
	if t.Workspace == "" {
		return t.Organization
	}
	return t.Organization + "/" + t.Workspace
}

// Roles are the requester's roles where a request lands: the highest org role
// (from Memberships in the org namespace) and the highest workspace role (from
// Memberships in the workspace namespace). An invalid Key means none.
type Roles struct {
	Org       authz.Key
	Workspace authz.Key
}

// In returns the role that acts in a scope: in the org namespace only the org
// role; in a workspace namespace the higher of the org and workspace roles.
func (r Roles) In(scope authz.Scope) authz.Key {
	if scope == authz.ScopeWorkspace && r.Workspace.Rank() > r.Org.Rank() {
		return r.Workspace
	}
	return r.Org
}

// Resolver reads tenancy and roles from the manager's cache.
type Resolver struct {
	// Reader reads Namespaces, Organizations and IntegrationPolicies.
	Reader client.Reader
	// Memberships finds Memberships by SubjectIndex.
	Memberships MembershipIndex
}

// Tenancy resolves a namespace from its tenantward.io labels. A namespace that
// does not exist or carries no organization label is outside tenancy.
func (r *Resolver) Tenancy(ctx context.Context, namespace string) (Tenancy, error) {
	if namespace == "" {
		return Tenancy{}, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return Tenancy{}, client.IgnoreNotFound(err)
	}
	t := Tenancy{Organization: ns.Labels[accessv1alpha1.LabelOrganization], Workspace: ns.Labels[accessv1alpha1.LabelWorkspace]}
	switch {
	case t.Organization == "":
		return Tenancy{}, nil
	case t.Workspace == "":
		t.OrgNamespace = namespace
		return t, nil
	}
	t.WorkspaceNamespace = namespace
	orgNS, err := r.orgNamespace(ctx, t.Organization)
	t.OrgNamespace = orgNS
	return t, err
}

// OrganizationTenancy is the tenancy of an Organization object itself.
func (r *Resolver) OrganizationTenancy(org *accessv1alpha1.Organization) Tenancy {
	return Tenancy{Organization: org.Name, OrgNamespace: tenancy.OrgNamespace(org)}
}

func (r *Resolver) orgNamespace(ctx context.Context, name string) (string, error) {
	org := &accessv1alpha1.Organization{}
	if err := r.Reader.Get(ctx, types.NamespacedName{Name: name}, org); err != nil {
		return "", fmt.Errorf("resolving the namespace of organization %s: %w", name, err)
	}
	return tenancy.OrgNamespace(org), nil
}

// Roles resolves the requester's highest org and workspace roles in t through
// SubjectIndex: (1 + groups + service account) lookups per namespace.
func (r *Resolver) Roles(ctx context.Context, who Requester, t Tenancy) (Roles, error) {
	var out Roles
	if t.Organization == "" {
		return out, nil
	}
	keys := who.SubjectKeys()
	var err error
	if out.Org, err = r.highest(keys, t.OrgNamespace, authz.ScopeOrganization); err != nil || t.WorkspaceNamespace == "" {
		return out, err
	}
	out.Workspace, err = r.highest(keys, t.WorkspaceNamespace, authz.ScopeWorkspace)
	return out, err
}

func (r *Resolver) highest(keys []string, namespace string, scope authz.Scope) (authz.Key, error) {
	var best authz.Key
	for _, k := range keys {
		items, err := r.Memberships.ByIndex(SubjectIndex, indexKey(namespace, k))
		if err != nil {
			return best, fmt.Errorf("reading memberships: %w", err)
		}
		for _, it := range items {
			m, ok := it.(*accessv1alpha1.Membership)
			if !ok {
				continue
			}
			if key := (authz.Key{Scope: scope, Role: m.Spec.Role}); key.Rank() > best.Rank() {
				best = key
			}
		}
	}
	return best, nil
}
