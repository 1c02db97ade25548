// Package tenantview serves the tenant view, tenancy.tenantward.io/v1alpha1: the
// caller's own organizations and workspaces, computed per request from the
// operator's caches (the webhook's Membership index by subject) at a cost of
// O(the caller's Memberships and the workspaces of their organizations), and
// served as an aggregated API through the kube-apiserver, which authenticates
// the caller and forwards who they are.
package tenantview

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/integrationpolicy"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/webhook"
)

// Source is what the view reads: the webhook's Resolver (Memberships by
// subject, namespaces, organizations) and a cache reader for Workspaces.
type Source struct {
	Resolver *webhook.Resolver
	Cache    client.Reader
	// Features is the operator's feature map, for the resources of each row.
	Features authz.FeatureMap
}

// orgView is what the caller holds in one organization.
type orgView struct {
	org      *accessv1alpha1.Organization
	orgNS    string
	role     authz.Key
	wsRoles  map[string]authz.Key // by workspace name
	wsByName map[string]string    // workspace name -> namespace, from Memberships
}

// memberships groups the caller's Memberships by organization: one index
// lookup per user name, group and service account.
func (s Source) memberships(who webhook.Requester) (map[string]*orgView, error) {
	out := map[string]*orgView{}
	for _, k := range who.SubjectKeys() {
		items, err := s.Resolver.Memberships.ByIndex(webhook.SubjectIndex, k)
		if err != nil {
			return nil, fmt.Errorf("reading memberships: %w", err)
		}
		for _, it := range items {
			m, ok := it.(*accessv1alpha1.Membership)
			if !ok {
				continue
			}
			t, err := s.Resolver.Tenancy(m.Namespace)
			if err != nil || t.Organization == "" {
				// A namespace or organization the cache does not hold (yet, or
				// any more) is not part of the caller's tenancy now.
				continue
			}
			v := out[t.Organization]
			if v == nil {
				v = &orgView{orgNS: t.OrgNamespace, wsRoles: map[string]authz.Key{}, wsByName: map[string]string{}}
				out[t.Organization] = v
			}
			key := authz.Key{Scope: t.Scope(), Role: m.Spec.Role}
			if t.Scope() == authz.ScopeOrganization {
				v.role = higher(v.role, key)
				continue
			}
			v.wsRoles[t.Workspace] = higher(v.wsRoles[t.Workspace], key)
			v.wsByName[t.Workspace] = t.WorkspaceNamespace
		}
	}
	for name, v := range out {
		item, ok, err := s.Resolver.Organizations.GetByKey(name)
		if err != nil {
			return nil, fmt.Errorf("reading organization %s: %w", name, err)
		}
		org, _ := item.(*accessv1alpha1.Organization)
		if !ok || org == nil {
			delete(out, name)
			continue
		}
		v.org = org
	}
	return out, nil
}

func higher(a, b authz.Key) authz.Key {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// roleName renders a role as scope/role, e.g. organization/owner.
func roleName(k authz.Key) string {
	if !k.Valid() {
		return ""
	}
	return string(k.Scope) + "/" + string(k.Role)
}

// Organizations returns the caller's organizations, sorted by name.
func (s Source) Organizations(ctx context.Context, who webhook.Requester) ([]tenancyv1alpha1.Organization, error) {
	views, err := s.memberships(who)
	if err != nil {
		return nil, err
	}
	out := make([]tenancyv1alpha1.Organization, 0, len(views))
	for _, v := range views {
		ws, err := s.workspaces(ctx, v)
		if err != nil {
			return nil, err
		}
		o := tenancyv1alpha1.Organization{
			DisplayName: v.org.Spec.DisplayName, Namespace: v.orgNS, Role: roleName(v.role),
		}
		o.Name = v.org.Name
		o.CreationTimestamp = v.org.CreationTimestamp
		for _, w := range ws {
			o.Workspaces = append(o.Workspaces, w.Workspace)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b tenancyv1alpha1.Organization) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Workspaces returns the caller's workspaces across organizations, sorted by
// organization and name.
func (s Source) Workspaces(ctx context.Context, who webhook.Requester) ([]tenancyv1alpha1.Workspace, error) {
	views, err := s.memberships(who)
	if err != nil {
		return nil, err
	}
	var out []tenancyv1alpha1.Workspace
	for _, v := range views {
		ws, err := s.workspaces(ctx, v)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	slices.SortFunc(out, func(a, b tenancyv1alpha1.Workspace) int {
		if c := strings.Compare(a.Organization, b.Organization); c != 0 {
			return c
		}
		return strings.Compare(a.Workspace, b.Workspace)
	})
	return out, nil
}

// workspaces are the workspaces of one organization the caller may work in:
// every one (with a ready namespace) for an organization role, otherwise
// those with a Membership of the caller. The role is the one that acts there.
func (s Source) workspaces(ctx context.Context, v *orgView) ([]tenancyv1alpha1.Workspace, error) {
	var list accessv1alpha1.WorkspaceList
	if err := s.Cache.List(ctx, &list, client.InNamespace(v.orgNS)); err != nil {
		return nil, fmt.Errorf("reading the workspaces of organization %s: %w", v.org.Name, err)
	}
	var out []tenancyv1alpha1.Workspace
	for i := range list.Items {
		w := &list.Items[i]
		ns := w.Status.Namespace
		if ns == "" {
			ns = v.wsByName[w.Name]
		}
		role := higher(v.role, v.wsRoles[w.Name])
		if !role.Valid() || ns == "" {
			continue
		}
		item := tenancyv1alpha1.Workspace{
			Organization: v.org.Name, Workspace: w.Name, DisplayName: w.Spec.DisplayName, Namespace: ns, Role: roleName(role),
		}
		item.Name = ns
		item.CreationTimestamp = w.CreationTimestamp
		item.Labels = map[string]string{accessv1alpha1.LabelOrganization: v.org.Name, accessv1alpha1.LabelWorkspace: w.Name}
		out = append(out, item)
	}
	return out, nil
}

// Access returns what the caller holds in a namespace and why: one item when
// they hold a role there, none otherwise (a namespace outside tenancy, or
// anyone else's, looks the same).
func (s Source) Access(ctx context.Context, who webhook.Requester, namespace string) ([]tenancyv1alpha1.Access, error) {
	t, err := s.Resolver.Tenancy(namespace)
	if err != nil || t.Organization == "" {
		return nil, nil //nolint:nilerr // an organization the cache does not hold is no tenancy of the caller
	}
	roles, err := s.Resolver.Roles(who, t)
	if err != nil {
		return nil, err
	}
	role := roles.In(t.Scope())
	if !role.Valid() {
		return nil, nil
	}
	a := tenancyv1alpha1.Access{Organization: t.Organization, Workspace: t.Workspace, Role: roleName(role), Memberships: []tenancyv1alpha1.AccessMembership{}}
	a.Name, a.Namespace = tenancyv1alpha1.AccessName, namespace
	for _, k := range who.SubjectKeys() {
		items, err := s.Resolver.Memberships.ByIndex(webhook.SubjectIndex, k)
		if err != nil {
			return nil, fmt.Errorf("reading memberships: %w", err)
		}
		for _, it := range items {
			m, ok := it.(*accessv1alpha1.Membership)
			if !ok || (m.Namespace != t.OrgNamespace && (t.WorkspaceNamespace == "" || m.Namespace != t.WorkspaceNamespace)) {
				continue
			}
			scope := authz.ScopeOrganization
			if m.Namespace != t.OrgNamespace {
				scope = authz.ScopeWorkspace
			}
			a.Memberships = append(a.Memberships, tenancyv1alpha1.AccessMembership{
				Name: m.Name, Namespace: m.Namespace, Subject: k, Role: roleName(authz.Key{Scope: scope, Role: m.Spec.Role}),
			})
		}
	}
	slices.SortFunc(a.Memberships, func(x, y tenancyv1alpha1.AccessMembership) int {
		return strings.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
	})
	if a.IntegrationAccess, err = integrationpolicy.EffectiveIn(ctx, s.Cache, t.OrgNamespace, t.WorkspaceNamespace); err != nil {
		return nil, fmt.Errorf("reading the integration access of %s: %w", namespace, err)
	}
	gate := integrationpolicy.Gate(a.IntegrationAccess)
	personal, err := s.personalKeys(ctx, t)
	if err != nil {
		return nil, err
	}
	for _, row := range authz.Table {
		actions := authz.ActionsOf(role, row.Feature, gate)
		if len(actions) == 0 || (row.Feature == authz.PersonalAPIKeys && !personal) {
			continue
		}
		p := tenancyv1alpha1.AccessPermission{Feature: string(row.Feature), Title: row.Title, Verbs: authz.VerbsOf(actions)}
		for _, act := range actions {
			p.Actions = append(p.Actions, string(act))
		}
		for _, gr := range s.Features.GroupResourcesOf(authz.ResourcesOf(row.Feature)) {
			p.Resources = append(p.Resources, gr.String())
		}
		a.Permissions = append(a.Permissions, p)
	}
	for _, kf := range authz.KeyFeatures {
		a.KeyCeiling = append(a.KeyCeiling, tenancyv1alpha1.KeyCeiling{Permission: string(kf), Level: authz.Ceiling(role, kf, gate).String()})
	}
	return []tenancyv1alpha1.Access{a}, nil
}

// personalKeys reports whether the workspace t lands in allows personal keys
// (the Personal API keys row is bound only there).
func (s Source) personalKeys(ctx context.Context, t webhook.Tenancy) (bool, error) {
	if t.Workspace == "" {
		return false, nil
	}
	ws := &accessv1alpha1.Workspace{}
	if err := s.Cache.Get(ctx, client.ObjectKey{Namespace: t.OrgNamespace, Name: t.Workspace}, ws); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return tenancy.PersonalKeysEnabled(ws), nil
}
