// Package v1alpha1 is the tenant view API, tenancy.tenantward.io/v1alpha1:
// read-only, per-caller views of the caller's own organizations, workspaces
// and access, served by the operator as an aggregated API (internal/tenantview).
// Nothing here is stored; there are no CRDs for these kinds.
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=tenancy.tenantward.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// GroupVersion is the group and version of the tenant view API.
var GroupVersion = schema.GroupVersion{Group: "tenancy.tenantward.io", Version: "v1alpha1"}

// Kinds are the view's kinds.
func Kinds() []runtime.Object {
	return []runtime.Object{&Organization{}, &OrganizationList{}, &Workspace{}, &WorkspaceList{}, &Access{}, &AccessList{}}
}

// AddToScheme registers the tenant view's kinds with a client's scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, Kinds()...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Organization is one organization the caller belongs to: directly, through a
// group, or as a service account, in the org namespace or in one of its
// workspaces. Its name is the organization's name.
// +kubebuilder:object:root=true
type Organization struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// DisplayName is the organization's display name.
	DisplayName string `json:"displayName,omitempty"`
	// Namespace is the organization's namespace.
	Namespace string `json:"namespace"`
	// Role is the caller's highest organization role; empty when the caller
	// belongs only to workspaces of the organization.
	Role string `json:"role,omitempty"`
	// Workspaces are the names of the organization's workspaces the caller is
	// in: all of them for an organization role.
	Workspaces []string `json:"workspaces,omitempty"`
}

// OrganizationList is the caller's organizations.
// +kubebuilder:object:root=true
type OrganizationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Organization `json:"items"`
}

// Workspace is one workspace the caller may work in. Its name is the
// workspace's namespace, unique across organizations.
// +kubebuilder:object:root=true
type Workspace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Organization is the organization's name.
	Organization string `json:"organization"`
	// Workspace is the workspace's name in its organization.
	Workspace string `json:"workspace"`
	// DisplayName is the workspace's display name.
	DisplayName string `json:"displayName,omitempty"`
	// Namespace is the workspace's namespace.
	Namespace string `json:"namespace"`
	// Role is the role that acts there: the higher of the caller's
	// organization role and workspace role, as organization/<role> or
	// workspace/<role>.
	Role string `json:"role"`
}

// WorkspaceList is the caller's workspaces.
// +kubebuilder:object:root=true
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

// AccessName is the name of the one Access a namespace shows its caller.
const AccessName = "mine"

// Access is what the caller holds in a namespace and why. A namespace shows
// its caller one, named mine, when they hold a role there, and none otherwise.
// +kubebuilder:object:root=true
type Access struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Organization and Workspace are where the namespace belongs; Workspace
	// is empty in the org namespace.
	Organization string `json:"organization"`
	Workspace    string `json:"workspace,omitempty"`
	// Role is the role that acts here, e.g. workspace/admin.
	Role string `json:"role"`
	// Memberships are the caller's Memberships the role comes from.
	Memberships []AccessMembership `json:"memberships"`
	// Permissions are what the permission table gives the role here, with the
	// effective integration access applied.
	Permissions []AccessPermission `json:"permissions,omitempty"`
	// IntegrationAccess is the effective integration access here and its source.
	IntegrationAccess []accessv1alpha1.EffectiveIntegrationAccess `json:"integrationAccess,omitempty"`
	// KeyCeiling is the highest level of each API-key permission the caller's
	// role may put on a key here.
	KeyCeiling []KeyCeiling `json:"keyCeiling,omitempty"`
}

// AccessMembership is one Membership of the caller.
type AccessMembership struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Subject is how it names the caller: User:<name>, Group:<name> or
	// ServiceAccount:<namespace>/<name>.
	Subject string `json:"subject"`
	// Role is the Membership's role, e.g. organization/member.
	Role string `json:"role"`
}

// AccessPermission is one row of the permission table for the caller's role.
type AccessPermission struct {
	// Feature is the row, e.g. prompts; Title is the matrix's name for it.
	Feature string `json:"feature"`
	Title   string `json:"title"`
	// Actions are the matrix actions the role holds; Verbs the RBAC verbs.
	Actions []string `json:"actions"`
	Verbs   []string `json:"verbs"`
	// Resources are the resources the feature governs, as resource.group.
	Resources []string `json:"resources,omitempty"`
}

// KeyCeiling is the highest level of one API-key permission.
type KeyCeiling struct {
	Permission string `json:"permission"`
	Level      string `json:"level"`
}

// AccessList holds the caller's Access in a namespace, or nothing.
// +kubebuilder:object:root=true
type AccessList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Access `json:"items"`
}
