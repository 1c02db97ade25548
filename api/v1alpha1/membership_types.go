package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Role is a role a Membership grants. In an org namespace: owner, admin or
// member. In a workspace namespace: admin, manager or member.
// +kubebuilder:validation:Enum=owner;admin;manager;member
type Role string

// Roles.
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleMember  Role = "member"
)

// LastOwnerFinalizer holds an owner Membership that is being deleted until the
// Membership controller has seen, on a live read, another owner of the same
// organization (or the organization itself is going away): the organization
// never loses its last owner, however many deletions race.
const LastOwnerFinalizer = "access.tenantward.io/last-owner"

// Subject is the identity a Membership grants its role to. A User or Group
// never names a system: identity (system:authenticated, system:masters,
// system:serviceaccount:…): those are cluster-wide or platform identities, and
// a service account is a subject of kind ServiceAccount.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)",message="namespace is required for a ServiceAccount subject and not allowed for User or Group"
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' || !self.name.startsWith('system:')",message="a User or Group subject never names a system: identity (system:authenticated, system:masters, system:serviceaccount:...): those belong to the cluster and the platform; a service account is a subject of kind ServiceAccount with its namespace"
type Subject struct {
	// kind is the kind of identity: User, Group or ServiceAccount.
	// +required
	Kind SubjectKind `json:"kind"`

	// name is the user name, group name or service account name, as the API
	// server authenticates it (for a user, often an email address or an OIDC subject).
	// Printable ASCII without spaces or control characters, so that no name can
	// pass for another (a Cyrillic а for a Latin a): the platform maps identity
	// provider names with other characters to ASCII ones.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[!-~]+$')",message="a subject name is printable ASCII without spaces or control characters, so that no name can pass for another; map identity-provider names with other characters to ASCII ones"
	Name string `json:"name"`

	// namespace is the namespace of a ServiceAccount subject; required for
	// ServiceAccount and not allowed otherwise.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// MembershipSpec is the desired state of a Membership.
// +kubebuilder:validation:XValidation:rule="oldSelf.role != 'owner' || self.role == 'owner'",message="the role of an owner Membership is immutable: to demote an owner, create the new Membership and delete this one"
type MembershipSpec struct {
	// subject is the user, group or service account that holds the role.
	// +required
	Subject Subject `json:"subject"`

	// role is the role granted. In an org namespace it applies to the whole
	// organization (owner, admin or member); in a workspace namespace to that
	// workspace only (admin, manager or member). An owner Membership stays owner:
	// demoting means creating the new Membership and deleting this one.
	// +required
	Role Role `json:"role"`
}

// MembershipStatus is the observed state of a Membership.
type MembershipStatus struct {
	// conditions describe the state of the Membership (kstatus conventions, see
	// docs/gitops.md). Ready: True (Bound) once the role is bound in every
	// namespace it applies to; False with Stalled=True when the role does not
	// exist at the Membership's scope (InvalidRole). Reconciling: True while the
	// operator works towards the spec. Stalled: True when it cannot without a change.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition was computed
	// for; -1 until the operator has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// organization is the Organization the Membership belongs to.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Organization string `json:"organization,omitempty"`

	// workspace is the Workspace of a workspace Membership; empty for org Memberships.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Workspace string `json:"workspace,omitempty"`

	// boundNamespaces lists the namespaces where the role is bound.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10000
	// +kubebuilder:validation:items:MaxLength=63
	BoundNamespaces []string `json:"boundNamespaces,omitempty"`
}

// Membership grants one role to one user, group or service account: in an org
// namespace for the whole Organization, in a workspace namespace for one Workspace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=member;members,categories=tenantward
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.subject.kind`
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.spec.subject.name`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Workspace",type=string,JSONPath=`.status.workspace`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Membership struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the Membership.
	// +required
	Spec MembershipSpec `json:"spec"`

	// status is the observed state of the Membership.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status MembershipStatus `json:"status,omitempty"`
}

// MembershipList is a list of Memberships.
// +kubebuilder:object:root=true
type MembershipList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Membership `json:"items"`
}

func init() {
	register(&Membership{}, &MembershipList{})
}
