package v1alpha1

// Labels and annotations the operator sets or reads. All live under tenantward.io/.
const (
	// LabelOrganization names the Organization an object belongs to.
	LabelOrganization = "tenantward.io/organization"
	// LabelWorkspace names the Workspace an object belongs to.
	LabelWorkspace = "tenantward.io/workspace"
	// LabelManagedBy marks objects the operator created and owns.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on objects the operator owns.
	ManagedByValue = "tenantward"
	// LabelAPIKey names the APIKey a delivery Secret belongs to.
	LabelAPIKey = "tenantward.io/apikey"
	// LabelMasterKey marks the master APIKey of an Organization.
	LabelMasterKey = "tenantward.io/master-key"
	// AnnotationRotate requests an on-demand rotation of an APIKey: any new value
	// (a timestamp, a counter) rotates the key once.
	AnnotationRotate = "tenantward.io/rotate"
	// AnnotationOwnerUID records, on a namespace the operator created, the UID of
	// the Organization or Workspace it was created for: the namespace belongs to
	// that object, not to a later one of the same name.
	AnnotationOwnerUID = "tenantward.io/owner-uid"

	// FieldManager is the server-side apply field manager of the operator.
	FieldManager = "tenantward"
	// Finalizer is the finalizer the operator puts on objects whose children it cleans up.
	Finalizer = "access.tenantward.io/finalizer"
)

// Condition types shared by the kinds of this group.
const (
	// ConditionReady is True when the object is fully reconciled.
	ConditionReady = "Ready"
	// ConditionExpiringSoon is True when an APIKey expires within the warning window.
	ConditionExpiringSoon = "ExpiringSoon"
)

// SubjectKind is the kind of identity a Membership grants a role to.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

// Subject kinds.
const (
	SubjectUser           SubjectKind = "User"
	SubjectGroup          SubjectKind = "Group"
	SubjectServiceAccount SubjectKind = "ServiceAccount"
)

// DeletionPolicy says what deleting an Organization or Workspace does while it
// still holds children.
// +kubebuilder:validation:Enum=Refuse;Cascade
type DeletionPolicy string

// Deletion policies.
const (
	// DeletionRefuse keeps the object (and everything it made) while it still has
	// children, reporting a condition and an event until they are gone.
	DeletionRefuse DeletionPolicy = "Refuse"
	// DeletionCascade deletes the children along with the object.
	DeletionCascade DeletionPolicy = "Cascade"
)

// KeyPolicy holds the defaults and ceilings of the APIKeys under a Workspace or
// an Organization.
type KeyPolicy struct {
	// defaultRateLimits apply to keys that set no spec.rateLimits.
	// +optional
	// +listType=map
	// +listMapKey=per
	// +kubebuilder:validation:MaxItems=4
	DefaultRateLimits []RateLimit `json:"defaultRateLimits,omitempty"`

	// maxRateLimits are ceilings: a key's limits (and, for an organization, a
	// workspace's) may not exceed them.
	// +optional
	// +listType=map
	// +listMapKey=per
	// +kubebuilder:validation:MaxItems=4
	MaxRateLimits []RateLimit `json:"maxRateLimits,omitempty"`

	// defaultModels apply to keys that set no spec.models.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	DefaultModels []ModelPattern `json:"defaultModels,omitempty"`

	// allowedModels is a ceiling: a key's models (and, for an organization, a
	// workspace's) may not go beyond it. Unset allows any model.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AllowedModels []ModelPattern `json:"allowedModels,omitempty"`
}

// WorkspaceKeyPolicy is a Workspace's KeyPolicy and whether its members may
// create personal keys.
type WorkspaceKeyPolicy struct {
	KeyPolicy `json:",inline"`

	// personalKeys says whether members may create personal keys (APIKeys with
	// an owner) in the workspace. Default Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	PersonalKeys Toggle `json:"personalKeys,omitempty"`
}
