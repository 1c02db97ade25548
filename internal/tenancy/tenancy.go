// Package tenancy decides how organizations, workspaces and memberships become
// namespaces and RBAC: namespace names and ownership labels, and the
// RoleBindings, ClusterRoles and ClusterRoleBindings an organization needs. It
// is pure: the controllers read the cluster, call it, and apply the difference.
package tenancy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// OrgNamespace is the namespace of an Organization: spec.namespace, else org-<name>.
func OrgNamespace(o *v1alpha1.Organization) string {
	if o.Spec.Namespace != "" {
		return o.Spec.Namespace
	}
	return "org-" + o.Name
}

// WorkspaceNamespace is the namespace of a Workspace: spec.namespace, else
// <organization>-<name>. The default may be too long for a namespace name;
// ValidNamespace says so.
func WorkspaceNamespace(w *v1alpha1.Workspace) string {
	if w.Spec.Namespace != "" {
		return w.Spec.Namespace
	}
	return w.Spec.Organization + "-" + w.Name
}

// ValidNamespace returns an error naming the problem when name is not a valid
// namespace name.
func ValidNamespace(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("namespace %q is not valid: %s; set spec.namespace", name, strings.Join(errs, "; "))
	}
	return nil
}

// Labels are the labels the operator puts on what it creates for an
// organization and, when workspace is not empty, one of its workspaces.
func Labels(org, workspace string) map[string]string {
	l := map[string]string{
		v1alpha1.LabelManagedBy:    v1alpha1.ManagedByValue,
		v1alpha1.LabelOrganization: org,
	}
	if workspace != "" {
		l[v1alpha1.LabelWorkspace] = workspace
	}
	return l
}

// HasLabels reports whether have carries every label of want.
func HasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Owner is the organization and workspace a namespace belongs to.
type Owner struct {
	Organization string
	// Workspace is empty for an org namespace.
	Workspace string
}

// OwnerOf returns who owns a namespace the operator created; ok is false for a
// namespace the operator does not manage.
func OwnerOf(ns *corev1.Namespace) (o Owner, ok bool) {
	l := ns.GetLabels()
	if l[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue || l[v1alpha1.LabelOrganization] == "" {
		return Owner{}, false
	}
	return Owner{Organization: l[v1alpha1.LabelOrganization], Workspace: l[v1alpha1.LabelWorkspace]}, true
}

// ClaimError says why an existing namespace cannot be used, or is nil when it
// is the one the operator made for want. A namespace is never adopted: one
// without the operator's labels, or made for another organization or
// workspace, is a clash the user must resolve.
func ClaimError(ns *corev1.Namespace, want Owner) error {
	got, ok := OwnerOf(ns)
	switch {
	case !ok:
		return fmt.Errorf("namespace %s already exists and is not managed by tenantward; delete it or choose another spec.namespace", ns.Name)
	case got != want:
		return fmt.Errorf("namespace %s belongs to %s; choose another spec.namespace", ns.Name, got)
	}
	return nil
}

// String renders an owner for messages.
func (o Owner) String() string {
	if o.Workspace == "" {
		return "organization " + o.Organization
	}
	return "workspace " + o.Workspace + " of organization " + o.Organization
}

// integrationFeatures maps each IntegrationPolicy type to the gated feature it controls.
var integrationFeatures = map[v1alpha1.IntegrationType]authz.Feature{
	v1alpha1.IntegrationAI:         authz.Integrations,
	v1alpha1.IntegrationMCP:        authz.MCPIntegrations,
	v1alpha1.IntegrationMCPServers: authz.MCPServers,
}

// GateOf returns the gate of a workspace from its status.integrationAccess: a
// gated feature is closed only where the effective value is Denied, so a
// workspace without a computed value keeps the default (Allowed).
func GateOf(w *v1alpha1.Workspace) authz.Gate {
	var closed []authz.Feature
	for _, a := range w.Status.IntegrationAccess {
		if f, ok := integrationFeatures[a.Type]; ok && a.ManagersWrite == v1alpha1.Denied {
			closed = append(closed, f)
		}
	}
	if len(closed) == 0 {
		return nil
	}
	return func(f authz.Feature) bool { return !slices.Contains(closed, f) }
}
