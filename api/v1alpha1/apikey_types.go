package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Toggle is an on/off API-key permission (Metrics, Completions).
// +kubebuilder:validation:Enum=Disabled;Enabled
type Toggle string

// Toggle values.
const (
	ToggleDisabled Toggle = "Disabled"
	ToggleEnabled  Toggle = "Enabled"
)

// AccessLevel is a graded API-key permission. Read < Write < Delete: each level
// includes the ones below it.
// +kubebuilder:validation:Enum=Disabled;Read;Write;Delete
type AccessLevel string

// Access levels, from least to most.
const (
	AccessDisabled AccessLevel = "Disabled"
	AccessRead     AccessLevel = "Read"
	AccessWrite    AccessLevel = "Write"
	AccessDelete   AccessLevel = "Delete"
)

// KeyState says whether an APIKey verifies.
// +kubebuilder:validation:Enum=Enabled;Disabled
type KeyState string

// Key states.
const (
	KeyEnabled  KeyState = "Enabled"
	KeyDisabled KeyState = "Disabled"
)

// KeyType says whether a key is org-wide (admin) or limited to one workspace.
// +kubebuilder:validation:Enum=Admin;Workspace
type KeyType string

// Key types.
const (
	// KeyTypeAdmin is an org-wide key, held in the org namespace.
	KeyTypeAdmin KeyType = "Admin"
	// KeyTypeWorkspace is a key for one workspace, held in its namespace.
	KeyTypeWorkspace KeyType = "Workspace"
)

// KeyPhase summarises the lifecycle state of an APIKey.
// +kubebuilder:validation:Enum=Pending;Active;Disabled;Expired
type KeyPhase string

// Key phases.
const (
	KeyPhasePending  KeyPhase = "Pending"
	KeyPhaseActive   KeyPhase = "Active"
	KeyPhaseDisabled KeyPhase = "Disabled"
	KeyPhaseExpired  KeyPhase = "Expired"
)

// APIKeyPermissions are the per-feature permissions of a key, with the defaults
// a new key gets.
type APIKeyPermissions struct {
	// metrics allows reading analytics and logs. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Metrics Toggle `json:"metrics,omitempty"`

	// completions allows all LLM calls (chat, completions, embeddings, images,
	// audio, responses, messages). Default Enabled.
	// +optional
	// +kubebuilder:default=Enabled
	Completions Toggle `json:"completions,omitempty"`

	// prompts is the access to prompts. Default Read.
	// +optional
	// +kubebuilder:default=Read
	Prompts AccessLevel `json:"prompts,omitempty"`

	// configs is the access to configs. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Configs AccessLevel `json:"configs,omitempty"`

	// guardrails is the access to guardrails. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Guardrails AccessLevel `json:"guardrails,omitempty"`

	// integrations is the access to integrations (formerly virtual keys). Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Integrations AccessLevel `json:"integrations,omitempty"`

	// providers is the access to Model Catalog providers. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Providers AccessLevel `json:"providers,omitempty"`

	// models is the access to Model Catalog models. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Models AccessLevel `json:"models,omitempty"`

	// users is the access to team management (users and invites). Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	Users AccessLevel `json:"users,omitempty"`
}

// RateLimit is one window of a rate limit: at most requests calls per period.
type RateLimit struct {
	// requests is the most calls allowed in one period.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Requests int64 `json:"requests"`

	// per is the period, from 1s to 720h (30 days), for example 1m, 1h or 24h.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('720h')",message="a rate limit's period is from 1s to 720h"
	Per metav1.Duration `json:"per"`
}

// ModelPattern names the models a key may call: an exact model name, or a
// pattern in which * stands for any characters (gpt-4o*, anthropic/*, *).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._:/@+*-]+$`
type ModelPattern string

// Rotation configures automatic and on-demand rotation of a key.
type Rotation struct {
	// period rotates the key automatically this long after it was issued or last
	// rotated, for example 720h. Unset means no automatic rotation. At least 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="rotation.period is at least 1h (every rotation writes, audits and cuts the previous key's grace short)"
	Period *metav1.Duration `json:"period,omitempty"`

	// gracePeriod is how long the previous key still verifies after a rotation,
	// so that clients can pick up the new one. Default 24h; 0s ends the old key at once.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="rotation.gracePeriod is 0s or longer"
	// +kubebuilder:default="24h"
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
}

// APIKeySpec is the desired state of an APIKey.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName) && (!has(self.secretName) || self.secretName == oldSelf.secretName)",message="secretName is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.owner) == has(oldSelf.owner) && (!has(self.owner) || self.owner == oldSelf.owner)",message="owner is immutable"
type APIKeySpec struct {
	// description says what the key is for and who uses it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// permissions are the per-feature permissions of the key. They may not exceed
	// what the key's creator holds.
	// +optional
	// +kubebuilder:default={}
	Permissions APIKeyPermissions `json:"permissions,omitempty"`

	// state enables or disables the key without deleting it. Default Enabled.
	// +optional
	// +kubebuilder:default=Enabled
	State KeyState `json:"state,omitempty"`

	// expiresAt is when the key stops verifying. Unset means it does not expire.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// rotation configures automatic rotation and the grace period of the previous
	// key. Set the tenantward.io/rotate annotation to a new value to rotate on demand.
	// +optional
	Rotation *Rotation `json:"rotation,omitempty"`

	// secretName is the name of the Secret, in the APIKey's namespace, that
	// receives the key's plaintext. Defaults to <apikey name>-apikey. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	SecretName string `json:"secretName,omitempty"`

	// rateLimits cap how fast the key may call: each entry allows at most
	// requests calls per period, and every entry holds at once (for example
	// 10 per 1s and 10000 per 24h). Unset takes the workspace's (or, for an
	// admin key, the organization's) defaultRateLimits. May not exceed the
	// workspace's nor the organization's maxRateLimits.
	// +optional
	// +listType=map
	// +listMapKey=per
	// +kubebuilder:validation:MaxItems=4
	RateLimits []RateLimit `json:"rateLimits,omitempty"`

	// models lists the models the key may call (exact names and * patterns).
	// Unset takes the workspace's (or organization's) defaultModels; when
	// neither sets any, the key may call any model. A request whose model the
	// verifier cannot know is refused when the key restricts models. May not
	// go beyond the workspace's nor the organization's allowedModels.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Models []ModelPattern `json:"models,omitempty"`

	// owner makes the key a personal key of this member of the organization:
	// its permissions may not exceed the owner's role, and it stops verifying
	// when the owner's last Membership in the organization goes. Workspaces
	// allow personal keys only when their spec.apiKeys.personalKeys is
	// Enabled. Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.kind != 'Group'",message="a key's owner is a User or a ServiceAccount, not a Group"
	Owner *Subject `json:"owner,omitempty"`
}

// APIKeyStatus is the observed state of an APIKey. Only the operator writes it.
type APIKeyStatus struct {
	// conditions describe the state of the key (kstatus conventions, see
	// docs/gitops.md). Ready: True once the key is issued and verifies (Active),
	// or is disabled as spec.state asks (Disabled); False with Stalled=True when
	// someone must act (Expired, SecretConflict, NotInTenantNamespace, OwnerLeft).
	// ExpiringSoon: True (ExpiresSoon) within 7 days of spec.expiresAt.
	// Stalled: True when the operator cannot reconcile the key without a change.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition was computed
	// for; -1 until the operator has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the key's lifecycle: Pending, Active, Disabled or Expired.
	// +optional
	Phase KeyPhase `json:"phase,omitempty"`

	// type is Admin for a key in an org namespace, Workspace for a key in a
	// workspace namespace.
	// +optional
	Type KeyType `json:"type,omitempty"`

	// organization is the Organization the key belongs to.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Organization string `json:"organization,omitempty"`

	// organizationUID is the UID of the Organization the key was issued for,
	// recorded once: a later Organization of the same name does not revive
	// the key (the verifier refuses a key whose organization's UID differs).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrganizationUID string `json:"organizationUID,omitempty"`

	// workspace is the Workspace of a workspace key; empty for admin keys.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Workspace string `json:"workspace,omitempty"`

	// hash is the hex SHA-256 of the current key. The plaintext is never stored
	// outside the delivery Secret.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	Hash string `json:"hash,omitempty"`

	// displayPrefix is the first characters of the key, for recognising it.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	DisplayPrefix string `json:"displayPrefix,omitempty"`

	// previousHash is the hex SHA-256 of the key replaced by the last rotation; it
	// verifies until previousValidUntil.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	PreviousHash string `json:"previousHash,omitempty"`

	// previousValidUntil is the end of the grace period of the previous key.
	// +optional
	PreviousValidUntil *metav1.Time `json:"previousValidUntil,omitempty"`

	// issuedAt is when the current key was issued.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`

	// lastRotatedAt is when the key was last rotated.
	// +optional
	LastRotatedAt *metav1.Time `json:"lastRotatedAt,omitempty"`

	// expiresAt is when the key stops verifying, copied from the spec.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// secretName is the Secret the plaintext was delivered to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// observedRotateRequest is the last value of the tenantward.io/rotate
	// annotation that the operator acted on.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ObservedRotateRequest string `json:"observedRotateRequest,omitempty"`

	// rateLimits are the key's effective rate limits, which the verifier
	// enforces: spec.rateLimits, or the defaults of its workspace or
	// organization, each within their ceilings: a ceiling window they do not
	// keep is added (so up to 4 own and 4 of each ceiling). Empty means
	// unlimited.
	// +optional
	// +listType=map
	// +listMapKey=per
	// +kubebuilder:validation:MaxItems=12
	RateLimits []RateLimit `json:"rateLimits,omitempty"`

	// models are the key's effective model patterns, which the verifier
	// enforces: spec.models, or the defaults of its workspace or organization,
	// within their allowedModels (internal/keypolicy). Empty means any model;
	// tenantward.io/no-model alone means none (a ceiling lowered later left
	// none of the key's models).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Models []ModelPattern `json:"models,omitempty"`

	// lastUsedAt is when the key last verified successfully, truncated to the
	// verifier's usage period (an hour by default). Only the verifier writes
	// it, at most once per key per period.
	// +optional
	LastUsedAt *metav1.Time `json:"lastUsedAt,omitempty"`
}

// APIKey is a scoped key for the AI gateway. In an org namespace it is an admin
// key (org-wide); in a workspace namespace a workspace key. The operator issues
// it, stores only its SHA-256 hash in status and delivers the plaintext once
// into a Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=apik;apikey,categories=tenantward
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.type`
// +kubebuilder:printcolumn:name="Workspace",type=string,JSONPath=`.status.workspace`
// +kubebuilder:printcolumn:name="Prefix",type=string,JSONPath=`.status.displayPrefix`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Last-Used",type=date,JSONPath=`.status.lastUsedAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIKey struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the APIKey.
	// +optional
	Spec APIKeySpec `json:"spec,omitempty"`

	// status is the observed state of the APIKey, written only by the operator.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status APIKeyStatus `json:"status,omitempty"`
}

// APIKeyList is a list of APIKeys.
// +kubebuilder:object:root=true
type APIKeyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIKey `json:"items"`
}

func init() {
	register(&APIKey{}, &APIKeyList{})
}
