package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status follows the kstatus conventions (the ones Flux's `wait: true` and
// `kubectl wait` read): status.observedGeneration is the generation the
// operator last looked at (-1 until it has looked at the object at all), Ready
// says whether the object is reconciled to its spec, and the two "abnormal
// true" conditions say why it is not:
//
//   - Reconciling=True: the operator is still working and gets there without
//     anyone's help (kstatus InProgress);
//   - Stalled=True: it cannot get there until someone changes something
//     (kstatus Failed), with the reason and message of the Ready condition.
//
// Neither is present once Ready is True. docs/gitops.md lists, per kind, what
// each state looks like.
const (
	// ConditionReconciling is True while the operator works towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress without a change by someone.
	ConditionStalled = "Stalled"
	// ConditionOverrideRejected (IntegrationPolicy) is True when a workspace
	// policy overrides a type its organization does not open to override.
	ConditionOverrideRejected = "OverrideRejected"
)

// Reasons of the Ready condition of Organizations and Workspaces.
const (
	// ReasonReconciled (True): the namespace is in place and the counts are current.
	ReasonReconciled = "Reconciled"
	// ReasonNamespaceConflict (Stalled): the namespace exists and was not made for this object.
	ReasonNamespaceConflict = "NamespaceConflict"
	// ReasonInvalidNamespace (Stalled): the namespace name the object asks for is not valid.
	ReasonInvalidNamespace = "InvalidNamespace"
	// ReasonDeletionBlocked (Stalled): deletion is refused by spec.deletionPolicy Refuse
	// while Workspaces (of an Organization) or Memberships and APIKeys (of a Workspace) remain.
	ReasonDeletionBlocked = "DeletionBlocked"
	// ReasonDeleting (Reconciling): deletion waits for what it cascades to.
	ReasonDeleting = "Deleting"
	// ReasonOrganizationNotFound (Reconciling, Workspace): spec.organization does not exist (yet).
	ReasonOrganizationNotFound = "OrganizationNotFound"
	// ReasonOrganizationMismatch (Stalled, Workspace): the Workspace is not in its organization's namespace.
	ReasonOrganizationMismatch = "OrganizationMismatch"
)

// Reasons of the Ready condition of Memberships.
const (
	// ReasonBound (True): the role is bound in every namespace it applies to.
	ReasonBound = "Bound"
	// ReasonInvalidRole (Stalled): the role does not exist at the Membership's scope.
	ReasonInvalidRole = "InvalidRole"
	// ReasonLastOwner (Stalled): the owner Membership was deleted while it is its
	// organization's last owner; it is kept, its role bound, until another owner exists.
	ReasonLastOwner = "LastOwner"
)

// Reasons of the conditions of APIKeys.
const (
	// ReasonActive (Ready True): the key is issued and verifies.
	ReasonActive = "Active"
	// ReasonDisabled (Ready True): spec.state is Disabled, as asked: the key is kept but does not verify.
	ReasonDisabled = "Disabled"
	// ReasonExpired (Stalled): the key is past spec.expiresAt and no longer verifies.
	ReasonExpired = "Expired"
	// ReasonExpiresSoon (ExpiringSoon True): the key expires within 7 days.
	ReasonExpiresSoon = "ExpiresSoon"
	// ReasonNotExpiringSoon (ExpiringSoon False): the key does not expire within 7 days.
	ReasonNotExpiringSoon = "NotExpiringSoon"
	// ReasonNotInTenantNamespace (Stalled): the APIKey is in no org or workspace namespace.
	ReasonNotInTenantNamespace = "NotInTenantNamespace"
	// ReasonSecretConflict (Stalled): a Secret of the delivery Secret's name exists and is not this key's.
	ReasonSecretConflict = "SecretConflict"
	// ReasonOwnerLeft (Stalled): the owner of a personal key holds no role
	// where it lives any more; the operator disabled it (docs/apikeys.md).
	ReasonOwnerLeft = "OwnerLeft"
)

// Reasons of the conditions of IntegrationPolicies.
const (
	// ReasonApplied (Ready True): the effective access is computed and applied.
	ReasonApplied = "Applied"
	// ReasonNotTenantNamespace (Stalled): the policy is in no org or workspace namespace.
	ReasonNotTenantNamespace = "NotTenantNamespace"
	// ReasonWorkspaceNotFound (Reconciling): the workspace namespace's Workspace is not there (yet).
	ReasonWorkspaceNotFound = "WorkspaceNotFound"
	// ReasonOverrideNotAllowed (OverrideRejected True, and Ready False, Stalled):
	// the workspace policy overrides a type its organization does not open to override.
	ReasonOverrideNotAllowed = "OverrideNotAllowed"
	// ReasonAllOverridesAllowed (OverrideRejected False): every override is allowed.
	ReasonAllOverridesAllowed = "AllOverridesAllowed"
)

// stalledReasons are the Ready=False reasons the operator cannot get past on
// its own: someone must change the object or what clashes with it. Every other
// Ready=False reason means work under way.
var stalledReasons = map[string]bool{
	ReasonNamespaceConflict:    true,
	ReasonInvalidNamespace:     true,
	ReasonDeletionBlocked:      true,
	ReasonOrganizationMismatch: true,
	ReasonInvalidRole:          true,
	ReasonLastOwner:            true,
	ReasonExpired:              true,
	ReasonNotInTenantNamespace: true,
	ReasonSecretConflict:       true,
	ReasonOwnerLeft:            true,
	ReasonNotTenantNamespace:   true,
	ReasonOverrideNotAllowed:   true,
}

// Stalled reports whether a Ready=False reason needs someone to act.
func Stalled(reason string) bool { return stalledReasons[reason] }

// SetReady sets the Ready condition and, from its reason, Reconciling or
// Stalled (neither when Ready is True); it reports whether Ready changed.
// Transition times change only when a condition's status does.
func SetReady(conds *[]metav1.Condition, ready metav1.Condition) bool {
	ready.Type = ConditionReady
	changed := meta.SetStatusCondition(conds, ready)
	want := ""
	if ready.Status != metav1.ConditionTrue {
		want = ConditionReconciling
		if Stalled(ready.Reason) {
			want = ConditionStalled
		}
	}
	for _, t := range []string{ConditionReconciling, ConditionStalled} {
		if t != want {
			meta.RemoveStatusCondition(conds, t)
			continue
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: metav1.ConditionTrue,
			Reason: ready.Reason, Message: ready.Message, ObservedGeneration: ready.ObservedGeneration})
	}
	return changed
}
