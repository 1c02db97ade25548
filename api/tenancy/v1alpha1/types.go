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
)

// GroupVersion is the group and version of the tenant view API.
var GroupVersion = schema.GroupVersion{Group: "tenancy.tenantward.io", Version: "v1alpha1"}

// Kinds are the view's kinds.
func Kinds() []runtime.Object {
	return []runtime.Object{&Organization{}, &OrganizationList{}, &Workspace{}, &WorkspaceList{}}
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
