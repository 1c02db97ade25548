package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkspaceSpec is the desired state of a Workspace.
// +kubebuilder:validation:XValidation:rule="self.organization == oldSelf.organization",message="organization is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.__namespace__) == has(oldSelf.__namespace__) && (!has(self.__namespace__) || self.__namespace__ == oldSelf.__namespace__)",message="namespace is immutable"
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__) || !(self.__namespace__.contains('--') || self.__namespace__.startsWith('org-')) || self.__namespace__.startsWith(self.organization + '--')",message="namespace must be <organization>--<suffix> when it contains \"--\" or starts with \"org-\": those mark the namespaces of organizations"
type WorkspaceSpec struct {
	// organization is the name of the Organization the Workspace belongs to. It
	// must be the Organization whose namespace holds the Workspace. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=59
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Organization string `json:"organization"`

	// displayName is the human-readable name of the Workspace.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// description says what the Workspace is for: a team, a project, a department.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// namespace is the namespace the operator creates for the Workspace's objects
	// (workspace Memberships, workspace APIKeys, prompts, configs and the other
	// gateway resources). Defaults to <organization>--<workspace name>. Tenants
	// may choose <organization>--<suffix>; any other name is for platform
	// identities only, may not contain "--" nor start with "org-" (both mark
	// namespaces of organizations), and never a reserved namespace (kube-*,
	// default, the operator's and those the webhooks skip). Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// deletionPolicy says what deleting the Workspace does while Memberships,
	// APIKeys or gateway resources remain in its namespace: Refuse (the default)
	// keeps it until they are deleted; Cascade deletes the namespace and all of them.
	// +optional
	// +kubebuilder:default=Refuse
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// apiKeys holds the defaults and ceilings of the workspace's APIKeys (rate
	// limits, models), within the organization's, and whether members may
	// create personal keys.
	// +optional
	APIKeys *WorkspaceKeyPolicy `json:"apiKeys,omitempty"`
}

// WorkspaceStatus is the observed state of a Workspace.
type WorkspaceStatus struct {
	// conditions describe the state of the Workspace (kstatus conventions, see
	// docs/gitops.md). Ready: True (Reconciled) once its namespace is in place;
	// False with Reconciling=True while work is under way (OrganizationNotFound),
	// or with Stalled=True when someone must act (NamespaceConflict,
	// InvalidNamespace, OrganizationMismatch, DeletionBlocked). Reconciling: True
	// while the operator works towards the spec. Stalled: True when it cannot
	// without a change.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition was computed
	// for; -1 until the operator has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// namespace is the workspace namespace in use.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// members counts the Memberships in the workspace namespace.
	// +optional
	Members int32 `json:"members,omitempty"`

	// apiKeys counts the APIKeys in the workspace namespace.
	// +optional
	APIKeys int32 `json:"apiKeys,omitempty"`

	// integrationAccess is the effective integration access of the Workspace's
	// managers, per integration type, and where each value comes from.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	IntegrationAccess []EffectiveIntegrationAccess `json:"integrationAccess,omitempty"`
}

// Workspace is a team or project inside an Organization, with its own namespace,
// team (managers and members) and workspace API keys.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ws,categories=tenantward
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.spec.organization`
// +kubebuilder:printcolumn:name="WS-Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.members`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.apiKeys`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="workspace names are at most 63 characters"
type Workspace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the Workspace.
	// +required
	Spec WorkspaceSpec `json:"spec"`

	// status is the observed state of the Workspace.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status WorkspaceStatus `json:"status,omitempty"`
}

// WorkspaceList is a list of Workspaces.
// +kubebuilder:object:root=true
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

func init() {
	register(&Workspace{}, &WorkspaceList{})
}
