// Package v1alpha1 contains the tenantward access-control API: Organizations,
// Workspaces, Memberships, APIKeys and IntegrationPolicies.
// +kubebuilder:object:generate=true
// +groupName=access.tenantward.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the tenantward access API.
	GroupVersion = schema.GroupVersion{Group: "access.tenantward.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
