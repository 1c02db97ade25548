package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// SubjectIndex indexes Memberships by subject (SubjectKey), so that finding a
// user's roles costs one lookup per user name, group and service account and
// grows with that user's Memberships, not with all of them.
const SubjectIndex = "tenantward.webhook.subject"

// Store is read access to an informer's store: the cached objects
// themselves, which callers only read.
type Store interface {
	GetByKey(key string) (item any, exists bool, err error)
}

// MembershipIndex answers SubjectIndex lookups (an informer's indexer).
type MembershipIndex interface {
	ByIndex(indexName, indexedValue string) ([]any, error)
}

// Informers are the stores the Resolver reads, all from the manager's cache.
type Informers struct {
	Namespaces    Store
	Organizations Store
	Workspaces    Store
	Memberships   MembershipIndex
}

// NewInformers gets the Namespace, Organization, Workspace and Membership
// informers of the manager's cache and adds SubjectIndex to the Membership one, once.
func NewInformers(ctx context.Context, c cache.Cache) (Informers, error) {
	var out Informers
	ns, err := indexerOf(ctx, c, &corev1.Namespace{})
	if err != nil {
		return out, err
	}
	orgs, err := indexerOf(ctx, c, &accessv1alpha1.Organization{})
	if err != nil {
		return out, err
	}
	workspaces, err := indexerOf(ctx, c, &accessv1alpha1.Workspace{})
	if err != nil {
		return out, err
	}
	members, err := indexerOf(ctx, c, &accessv1alpha1.Membership{})
	if err != nil {
		return out, err
	}
	// The webhooks and the tenant view (internal/tenantview) share the index.
	if _, ok := members.GetIndexers()[SubjectIndex]; !ok {
		inf, err := c.GetInformer(ctx, &accessv1alpha1.Membership{})
		if err != nil {
			return out, err
		}
		if err := inf.AddIndexers(toolscache.Indexers{SubjectIndex: indexMembership}); err != nil {
			return out, err
		}
	}
	return Informers{Namespaces: ns, Organizations: orgs, Workspaces: workspaces, Memberships: members}, nil
}

func indexerOf(ctx context.Context, c cache.Cache, obj client.Object) (toolscache.Indexer, error) {
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, err
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the %T informer is a %T, not a client-go SharedIndexInformer", obj, inf)
	}
	return shared.GetIndexer(), nil
}

func indexMembership(obj any) ([]string, error) {
	m, ok := obj.(*accessv1alpha1.Membership)
	if !ok {
		return nil, nil
	}
	return []string{SubjectKey(m.Spec.Subject)}, nil
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

// Resolver reads tenancy and roles from informer stores, without copies.
type Resolver struct {
	Informers
}

// Namespace returns the cached Namespace, or nil when the cache has none.
func (r *Resolver) Namespace(name string) (*corev1.Namespace, error) {
	return get[corev1.Namespace](r.Namespaces, name)
}

// StaleNamespaceError is a namespace whose labels name an organization (and
// workspace) that does not exist, or exists as another object of the same
// name (another UID): the namespace was left by a removed one. Tenancy still
// holds what the labels say, for platform identities and the audit trail.
type StaleNamespaceError struct {
	Tenancy Tenancy
	Reason  error
}

func (e *StaleNamespaceError) Error() string {
	return fmt.Sprintf("namespace of no live organization or workspace: %v", e.Reason)
}

// Tenancy resolves a namespace from its tenantward.io labels, checked against
// the live objects by UID: an org namespace must be the cached Organization's
// namespace and record its UID; a workspace namespace the cached Workspace's
// (found in the org namespace of the live Organization, which must be live
// itself). A namespace that is not in the cache (the operator caches the
// namespaces it made) or carries no organization label is outside tenancy. A
// namespace that fails the check returns a *StaleNamespaceError.
func (r *Resolver) Tenancy(namespace string) (Tenancy, error) {
	ns, err := r.Namespace(namespace)
	if err != nil || ns == nil {
		return Tenancy{}, err
	}
	owner, ok := tenancy.OwnerOf(ns)
	if !ok {
		return Tenancy{}, nil
	}
	t := Tenancy{Organization: owner.Organization, Workspace: owner.Workspace, OrgNamespace: namespace}
	if t.Workspace != "" {
		t.OrgNamespace, t.WorkspaceNamespace = "", namespace
	}
	stale := func(err error) (Tenancy, error) { return t, &StaleNamespaceError{Tenancy: t, Reason: err} }
	org, err := get[accessv1alpha1.Organization](r.Organizations, t.Organization)
	switch {
	case err != nil:
		return t, fmt.Errorf("resolving organization %s: %w", t.Organization, err)
	case org == nil:
		return stale(fmt.Errorf("organization %s does not exist", t.Organization))
	}
	t.OrgNamespace = tenancy.OrgNamespace(org)
	live, want := tenancy.Owner{Organization: org.Name, UID: org.UID}, t.OrgNamespace
	if t.Workspace != "" {
		orgNS, err := r.Namespace(t.OrgNamespace)
		switch {
		case err != nil:
			return t, err
		case orgNS == nil:
			return stale(fmt.Errorf("the namespace %s of organization %s does not exist", t.OrgNamespace, org.Name))
		}
		if err := tenancy.StaleError(orgNS, live); err != nil {
			return stale(err)
		}
		ws, err := get[accessv1alpha1.Workspace](r.Workspaces, t.OrgNamespace+"/"+t.Workspace)
		switch {
		case err != nil:
			return t, fmt.Errorf("resolving workspace %s: %w", t.Workspace, err)
		case ws == nil:
			return stale(fmt.Errorf("workspace %s does not exist in %s", t.Workspace, t.OrgNamespace))
		}
		live, want = tenancy.Owner{Organization: ws.Spec.Organization, Workspace: ws.Name, UID: ws.UID}, tenancy.WorkspaceNamespace(ws)
	}
	if namespace != want {
		return stale(fmt.Errorf("namespace %s is not the namespace of %s (%s is)", namespace, live, want))
	}
	if err := tenancy.StaleError(ns, live); err != nil {
		return stale(err)
	}
	return t, nil
}

// get returns the cached object at key, or nil when the store has none.
func get[T any](s Store, key string) (*T, error) {
	item, ok, err := s.GetByKey(key)
	if err != nil || !ok {
		return nil, err
	}
	obj, _ := item.(*T)
	return obj, nil
}

// OrganizationTenancy is the tenancy of an Organization object itself. Its
// namespace, when it exists, must have been made for this Organization (its
// UID): the namespace of a removed organization of the same name, with that
// one's Memberships, is stale (a *StaleNamespaceError) and names no one a
// member of this one.
func (r *Resolver) OrganizationTenancy(org *accessv1alpha1.Organization) (Tenancy, error) {
	t := Tenancy{Organization: org.Name, OrgNamespace: tenancy.OrgNamespace(org)}
	ns, err := r.Namespace(t.OrgNamespace)
	if err != nil || ns == nil {
		return t, err
	}
	if err := tenancy.StaleError(ns, tenancy.Owner{Organization: org.Name, UID: org.UID}); err != nil {
		return t, &StaleNamespaceError{Tenancy: t, Reason: err}
	}
	return t, nil
}

// Roles resolves the requester's highest org and workspace roles in t: one
// SubjectIndex lookup per user name, group and service account, keeping the
// Memberships in the org namespace and in the workspace namespace.
func (r *Resolver) Roles(who Requester, t Tenancy) (Roles, error) {
	var out Roles
	if t.Organization == "" {
		return out, nil
	}
	for _, k := range who.SubjectKeys() {
		items, err := r.Memberships.ByIndex(SubjectIndex, k)
		if err != nil {
			return out, fmt.Errorf("reading memberships: %w", err)
		}
		for _, it := range items {
			m, ok := it.(*accessv1alpha1.Membership)
			switch {
			case !ok:
			case m.Namespace == t.OrgNamespace:
				out.Org = higher(out.Org, authz.Key{Scope: authz.ScopeOrganization, Role: m.Spec.Role})
			case m.Namespace == t.WorkspaceNamespace:
				out.Workspace = higher(out.Workspace, authz.Key{Scope: authz.ScopeWorkspace, Role: m.Spec.Role})
			}
		}
	}
	return out, nil
}

func higher(a, b authz.Key) authz.Key {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}
