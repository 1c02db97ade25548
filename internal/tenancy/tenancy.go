// Package tenancy decides how organizations, workspaces and memberships become
// namespaces and RBAC: namespace names and ownership labels, and the
// RoleBindings, ClusterRoles and ClusterRoleBindings an organization needs. It
// is pure: the controllers read the cluster, call it, and apply the difference.
package tenancy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// Namespace names. An organization's namespace is spec.namespace or
// org-<name>; a workspace's is spec.namespace or <organization>--<name>.
// Organization names and organization namespaces never contain "--" (CRD
// validation), and names start and end with an alphanumeric, so the text
// before the first "--" of <organization>--<name> is the organization: a
// default workspace namespace names exactly one organization and is never an
// organization's namespace. A tenant may choose only <organization>--<suffix>.
const (
	// OrgNamespacePrefix starts the default namespace of every organization.
	OrgNamespacePrefix = "org-"
	// WorkspaceSeparator joins an organization's name and a workspace's suffix.
	WorkspaceSeparator = "--"
)

// OrgNamespace is the namespace of an Organization: spec.namespace, else org-<name>.
func OrgNamespace(o *v1alpha1.Organization) string {
	if o.Spec.Namespace != "" {
		return o.Spec.Namespace
	}
	return OrgNamespacePrefix + o.Name
}

// WorkspaceNamespace is the namespace of a Workspace: spec.namespace, else
// <organization>--<name>. The default may be too long for a namespace name;
// ValidNamespace says so.
func WorkspaceNamespace(w *v1alpha1.Workspace) string {
	if w.Spec.Namespace != "" {
		return w.Spec.Namespace
	}
	return WorkspaceNamespacePrefix(w.Spec.Organization) + w.Name
}

// WorkspaceNamespacePrefix is how every workspace namespace of org that a
// tenant may choose (and every default one) starts: <org>--.
func WorkspaceNamespacePrefix(org string) string { return org + WorkspaceSeparator }

// OrganizationOfWorkspaceNamespace returns the organization a namespace of the
// form <organization>--<suffix> belongs to; ok is false for any other name.
func OrganizationOfWorkspaceNamespace(name string) (org string, ok bool) {
	org, _, ok = strings.Cut(name, WorkspaceSeparator)
	return org, ok
}

// ValidNamespace returns an error naming the problem when name is not a valid
// namespace name.
func ValidNamespace(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("namespace %q is not valid: %s; set spec.namespace", name, strings.Join(errs, "; "))
	}
	return nil
}

// systemNamespaces are the cluster's own namespaces besides every kube-* one.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Reserved are the namespaces that never become tenant namespaces: the
// cluster's own (default and every kube-* name), the operator's namespace and
// the namespaces the webhooks skip (the configuration's excludedNamespaces).
// A tenant namespace there would hold Memberships and APIKeys no webhook sees.
type Reserved map[string]bool

// NewReserved builds the reserved set from the operator's namespace and the
// namespaces the webhooks are configured to skip.
func NewReserved(operatorNamespace string, excluded []string) Reserved {
	r := Reserved{}
	for _, n := range slices.Concat(systemNamespaces, []string{operatorNamespace}, excluded) {
		if n != "" {
			r[n] = true
		}
	}
	return r
}

// Check returns an error naming the rule when name is reserved.
func (r Reserved) Check(name string) error {
	if r[name] || strings.HasPrefix(name, "kube-") {
		return fmt.Errorf("namespace %s is reserved: the cluster's own namespaces (default, kube-*), the operator's namespace "+
			"and the namespaces the webhooks skip never become tenant namespaces; choose another spec.namespace", name)
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

// Owner is the organization and workspace a namespace belongs to, and the UID
// of the Organization (org namespace) or Workspace (workspace namespace) it
// was made for.
type Owner struct {
	Organization string
	// Workspace is empty for an org namespace.
	Workspace string
	// UID is the UID of the object the namespace was made for (the
	// tenantward.io/owner-uid annotation).
	UID types.UID
}

// OwnerOf returns who owns a namespace the operator created; ok is false for a
// namespace the operator does not manage.
func OwnerOf(ns *corev1.Namespace) (o Owner, ok bool) {
	l := ns.GetLabels()
	if l[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue || l[v1alpha1.LabelOrganization] == "" {
		return Owner{}, false
	}
	return Owner{
		Organization: l[v1alpha1.LabelOrganization], Workspace: l[v1alpha1.LabelWorkspace],
		UID: types.UID(ns.GetAnnotations()[v1alpha1.AnnotationOwnerUID]),
	}, true
}

// ClaimError says why an existing namespace cannot be used, or is nil when it
// is the one the operator made for want (same organization, workspace and
// owner UID). A namespace is never adopted: one without the operator's labels,
// made for another organization or workspace, or made for an earlier object of
// the same name (another UID), is a clash the user must resolve. A new
// Organization of a deleted one's name thus inherits nothing from it.
func ClaimError(ns *corev1.Namespace, want Owner) error {
	err := StaleError(ns, want)
	_, managed := OwnerOf(ns)
	switch {
	case err == nil:
		return nil
	case !managed:
		return fmt.Errorf("%w; delete it or choose another spec.namespace", err)
	case errors.Is(err, errEarlierOwner):
		return fmt.Errorf("%w and is never handed to a new one; a platform identity deletes it, or choose another spec.namespace", err)
	}
	return fmt.Errorf("%w; choose another spec.namespace", err)
}

// errEarlierOwner marks a StaleError about the owner UID.
var errEarlierOwner = errors.New("it outlived that owner")

// StaleError returns nil when ns is the namespace the operator made for the
// live owner (the cached Organization, or Workspace for a workspace namespace:
// same organization, workspace and UID), and otherwise says how it differs. A
// namespace left by a removed organization or workspace of the same name names
// it in its labels but records another UID: it belongs to no one.
func StaleError(ns *corev1.Namespace, live Owner) error {
	got, ok := OwnerOf(ns)
	switch {
	case !ok:
		return fmt.Errorf("namespace %s already exists and is not managed by tenantward", ns.Name)
	case got.Organization != live.Organization || got.Workspace != live.Workspace:
		return fmt.Errorf("namespace %s belongs to %s, not %s", ns.Name, got, live)
	case got.UID != live.UID:
		return fmt.Errorf("namespace %s was made for another %s of the same name (owner UID %q, this one is %q): %w", ns.Name, live, got.UID, live.UID, errEarlierOwner)
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
