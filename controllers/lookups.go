package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// workspacesOf lists the Workspaces of an organization in its namespace.
func workspacesOf(ctx context.Context, c client.Reader, org *accessv1alpha1.Organization) ([]accessv1alpha1.Workspace, error) {
	list := &accessv1alpha1.WorkspaceList{}
	if err := c.List(ctx, list, client.InNamespace(tenancy.OrgNamespace(org))); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, w := range list.Items {
		if w.Spec.Organization == org.Name {
			out = append(out, w)
		}
	}
	return out, nil
}

// countIn counts the Memberships and APIKeys of a namespace.
func countIn(ctx context.Context, c client.Reader, ns string) (members, keys int, err error) {
	ml := &accessv1alpha1.MembershipList{}
	if err := c.List(ctx, ml, client.InNamespace(ns)); err != nil {
		return 0, 0, err
	}
	kl := &accessv1alpha1.APIKeyList{}
	if err := c.List(ctx, kl, client.InNamespace(ns)); err != nil {
		return 0, 0, err
	}
	return len(ml.Items), len(kl.Items), nil
}

// namespaceTenancy returns the organization and workspace a namespace the
// operator made belongs to; both are empty for any other namespace.
func namespaceTenancy(ctx context.Context, c client.Reader, name string) (org, ws string, err error) {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		return "", "", client.IgnoreNotFound(err)
	}
	owner, _ := tenancy.OwnerOf(ns)
	return owner.Organization, owner.Workspace, nil
}

// findWorkspace returns the Workspace named ws of organization org, or nil.
func findWorkspace(ctx context.Context, c client.Reader, org, ws string) (*accessv1alpha1.Workspace, error) {
	list := &accessv1alpha1.WorkspaceList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if w := &list.Items[i]; w.Name == ws && w.Spec.Organization == org {
			return w, nil
		}
	}
	return nil, nil
}

// affectedWorkspaces lists the Workspaces a policy affects: every Workspace of the
// organization for an org policy, the one Workspace for a workspace policy.
func affectedWorkspaces(ctx context.Context, c client.Reader, pol client.Object) []accessv1alpha1.Workspace {
	org, wsName, err := namespaceTenancy(ctx, c, pol.GetNamespace())
	if err != nil || org == "" {
		return nil
	}
	if wsName != "" {
		ws, err := findWorkspace(ctx, c, org, wsName)
		if err != nil || ws == nil {
			return nil
		}
		return []accessv1alpha1.Workspace{*ws}
	}
	list := &accessv1alpha1.WorkspaceList{}
	if err := c.List(ctx, list, client.InNamespace(pol.GetNamespace())); err != nil {
		return nil
	}
	return list.Items
}
