package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IntegrationType is a kind of integration whose write access by workspace
// managers an IntegrationPolicy controls.
// +kubebuilder:validation:Enum=AIIntegrations;MCPIntegrations;MCPServers
type IntegrationType string

// Integration types.
const (
	IntegrationAI         IntegrationType = "AIIntegrations"
	IntegrationMCP        IntegrationType = "MCPIntegrations"
	IntegrationMCPServers IntegrationType = "MCPServers"
)

// Permission allows or denies something.
// +kubebuilder:validation:Enum=Allowed;Denied
type Permission string

// Permission values.
const (
	Allowed Permission = "Allowed"
	Denied  Permission = "Denied"
)

// SettingSource says where an effective integration setting comes from.
// +kubebuilder:validation:Enum=Default;Organization;Workspace
type SettingSource string

// Setting sources.
const (
	SourceDefault      SettingSource = "Default"
	SourceOrganization SettingSource = "Organization"
	SourceWorkspace    SettingSource = "Workspace"
)

// IntegrationAccess is the setting for one integration type.
type IntegrationAccess struct {
	// managersWrite says whether workspace managers may create, update and
	// delete this type of integration in their workspace. At org level unset
	// means Allowed; at workspace level unset means the organization's setting.
	// +optional
	ManagersWrite Permission `json:"managersWrite,omitempty"`

	// workspaceOverride, at org level, says whether a workspace IntegrationPolicy
	// may override managersWrite for this type. Default Denied. Ignored at
	// workspace level.
	// +optional
	WorkspaceOverride Permission `json:"workspaceOverride,omitempty"`
}

// IntegrationPolicySpec is the desired state of an IntegrationPolicy.
type IntegrationPolicySpec struct {
	// aiIntegrations controls managers' write access to AI integrations
	// (managersWriteWsIntegrations).
	// +optional
	AIIntegrations *IntegrationAccess `json:"aiIntegrations,omitempty"`

	// mcpIntegrations controls managers' write access to MCP integrations
	// (managersWriteWsMcpIntegrations).
	// +optional
	MCPIntegrations *IntegrationAccess `json:"mcpIntegrations,omitempty"`

	// mcpServers controls managers' write access to MCP servers
	// (managersWriteMcpServers).
	// +optional
	MCPServers *IntegrationAccess `json:"mcpServers,omitempty"`
}

// EffectiveIntegrationAccess is the effective setting for one integration type.
type EffectiveIntegrationAccess struct {
	// type is the integration type.
	// +required
	Type IntegrationType `json:"type"`

	// managersWrite is the effective write access of workspace managers.
	// +required
	ManagersWrite Permission `json:"managersWrite"`

	// source is where the effective value comes from: Default, Organization or Workspace.
	// +required
	Source SettingSource `json:"source"`

	// workspaceOverride is, for an org policy, whether workspaces may override this type.
	// +optional
	WorkspaceOverride Permission `json:"workspaceOverride,omitempty"`
}

// IntegrationPolicyStatus is the observed state of an IntegrationPolicy.
type IntegrationPolicyStatus struct {
	// conditions describe the state of the policy (kstatus conventions, see
	// docs/gitops.md). Ready: True (Applied) once the effective access is
	// computed; False with Reconciling=True while its Workspace is not there
	// (WorkspaceNotFound), or with Stalled=True when someone must act
	// (NotTenantNamespace, OverrideNotAllowed). OverrideRejected: True
	// (OverrideNotAllowed) when a workspace policy overrides a type its
	// organization does not open to override. Reconciling and Stalled as above.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition was computed
	// for; -1 until the operator has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// scope is Organization for a policy in an org namespace, Workspace for one in
	// a workspace namespace.
	// +optional
	// +kubebuilder:validation:Enum=Organization;Workspace
	Scope string `json:"scope,omitempty"`

	// effective is the effective setting per integration type.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Effective []EffectiveIntegrationAccess `json:"effective,omitempty"`

	// rejectedOverrides lists the types this workspace policy tries to override
	// although the organization does not allow it; they are not applied.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	RejectedOverrides []IntegrationType `json:"rejectedOverrides,omitempty"`
}

// IntegrationPolicy says whether workspace managers may write integrations, MCP
// integrations and MCP servers. In an org namespace it sets the organization's
// defaults and which types workspaces may override; in a workspace namespace it
// overrides the types the organization opened. One per namespace, named default.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=intpol,categories=tenantward
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.status.scope`
// +kubebuilder:printcolumn:name="AI",type=string,JSONPath=`.status.effective[?(@.type=="AIIntegrations")].managersWrite`
// +kubebuilder:printcolumn:name="MCP",type=string,JSONPath=`.status.effective[?(@.type=="MCPIntegrations")].managersWrite`
// +kubebuilder:printcolumn:name="MCPServers",type=string,JSONPath=`.status.effective[?(@.type=="MCPServers")].managersWrite`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="an IntegrationPolicy must be named default: there is one per namespace"
type IntegrationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the IntegrationPolicy.
	// +optional
	Spec IntegrationPolicySpec `json:"spec,omitempty"`

	// status is the observed state of the IntegrationPolicy.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status IntegrationPolicyStatus `json:"status,omitempty"`
}

// IntegrationPolicyList is a list of IntegrationPolicies.
// +kubebuilder:object:root=true
type IntegrationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IntegrationPolicy `json:"items"`
}

func init() {
	register(&IntegrationPolicy{}, &IntegrationPolicyList{})
}
