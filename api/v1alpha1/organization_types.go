package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BillingPlan is the commercial plan of an Organization.
// +kubebuilder:validation:Enum=Free;Team;Enterprise
type BillingPlan string

// Billing plans.
const (
	PlanFree       BillingPlan = "Free"
	PlanTeam       BillingPlan = "Team"
	PlanEnterprise BillingPlan = "Enterprise"
)

// MasterKeyPolicy says whether the operator provisions a master admin APIKey.
// +kubebuilder:validation:Enum=Create;None
type MasterKeyPolicy string

// Master key policies.
const (
	// MasterKeyCreate provisions a master admin key with every permission enabled.
	MasterKeyCreate MasterKeyPolicy = "Create"
	// MasterKeyNone provisions no master key.
	MasterKeyNone MasterKeyPolicy = "None"
)

// Billing holds the billing settings of an Organization. Only owners may change them.
type Billing struct {
	// plan is the Organization's commercial plan.
	// +optional
	Plan BillingPlan `json:"plan,omitempty"`

	// contactEmail receives invoices and billing notices.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	ContactEmail string `json:"contactEmail,omitempty"`

	// costCenter is a free-form reference for chargeback, such as an internal cost centre code.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CostCenter string `json:"costCenter,omitempty"`

	// monthlyBudgetUSD is a spending limit in whole US dollars; 0 or unset means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000000
	MonthlyBudgetUSD int64 `json:"monthlyBudgetUSD,omitempty"`
}

// OrganizationSpec is the desired state of an Organization.
// +kubebuilder:validation:XValidation:rule="has(self.__namespace__) == has(oldSelf.__namespace__) && (!has(self.__namespace__) || self.__namespace__ == oldSelf.__namespace__)",message="namespace is immutable"
type OrganizationSpec struct {
	// displayName is the human-readable name of the Organization.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// description says what the Organization is for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// namespace is the namespace the operator creates for the Organization's
	// org-level objects (Workspaces, org Memberships, admin APIKeys, the org
	// IntegrationPolicy). Defaults to org-<name>. It may not contain "--"
	// (reserved for workspace namespaces, <organization>--<workspace>) nor be
	// another organization's org-<name>; the webhook also refuses the reserved
	// namespaces (kube-*, default, the operator's and those the webhooks skip).
	// Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('--')",message="an organization's namespace may not contain \"--\": it marks workspace namespaces (<organization>--<workspace>)"
	Namespace string `json:"namespace,omitempty"`

	// billing holds the billing settings; only owners may change them.
	// +optional
	Billing *Billing `json:"billing,omitempty"`

	// masterKey says whether the operator provisions a master admin APIKey with
	// every permission enabled, as a new organization gets by default. Create (the
	// default) or None.
	// +optional
	// +kubebuilder:default=Create
	MasterKey MasterKeyPolicy `json:"masterKey,omitempty"`

	// deletionPolicy says what deleting the Organization does while Workspaces
	// remain: Refuse (the default) keeps it until they are deleted; Cascade deletes them.
	// +optional
	// +kubebuilder:default=Refuse
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// apiKeys holds the defaults and ceilings of the organization's APIKeys:
	// its admin keys, and every workspace's keys and key policy.
	// +optional
	APIKeys *KeyPolicy `json:"apiKeys,omitempty"`
}

// OrganizationStatus is the observed state of an Organization.
type OrganizationStatus struct {
	// conditions describe the state of the Organization (kstatus conventions, see
	// docs/gitops.md). Ready: True (Reconciled) once its namespace and master key
	// are in place; False with Reconciling=True while work is under way
	// (Deleting), or with Stalled=True when someone must act (NamespaceConflict,
	// InvalidNamespace, DeletionBlocked). Reconciling: True while the operator
	// works towards the spec. Stalled: True when it cannot without a change.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition was computed
	// for; -1 until the operator has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// namespace is the org namespace in use.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// workspaces counts the Organization's Workspaces.
	// +optional
	Workspaces int32 `json:"workspaces,omitempty"`

	// members counts the Memberships across the org and its workspaces.
	// +optional
	Members int32 `json:"members,omitempty"`

	// apiKeys counts the APIKeys across the org and its workspaces.
	// +optional
	APIKeys int32 `json:"apiKeys,omitempty"`

	// masterKeyName is the name of the master APIKey in the org namespace, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	MasterKeyName string `json:"masterKeyName,omitempty"`
}

// Organization is an isolated tenant of the AI gateway: it owns a namespace,
// its Workspaces, Memberships, APIKeys and integration settings.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=org;orgs,categories=tenantward
// +kubebuilder:printcolumn:name="Org-Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="Workspaces",type=integer,JSONPath=`.status.workspaces`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.members`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.apiKeys`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 59",message="organization names are at most 59 characters, so that org-<name> is a valid namespace"
// +kubebuilder:validation:XValidation:rule="!self.metadata.name.contains('--')",message="organization names may not contain \"--\": it separates the organization from the workspace in workspace namespaces (<organization>--<workspace>)"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.__namespace__) || !self.spec.__namespace__.startsWith('org-') || self.spec.__namespace__ == 'org-' + self.metadata.name",message="spec.namespace may start with \"org-\" only as org-<this organization's name>: org-<name> is the default namespace of organization <name>"
type Organization struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the Organization.
	// +optional
	Spec OrganizationSpec `json:"spec,omitempty"`

	// status is the observed state of the Organization.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status OrganizationStatus `json:"status,omitempty"`
}

// OrganizationList is a list of Organizations.
// +kubebuilder:object:root=true
type OrganizationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Organization `json:"items"`
}

func init() {
	register(&Organization{}, &OrganizationList{})
}
