// Package lifecycle decides, without I/O, what the APIKey controller does with
// a key: issue it, rotate it (on a period, on request, or because its delivery
// Secret was lost), and which phase, conditions and next wake-up follow.
package lifecycle

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// ExpiringSoonWindow is how long before its expiry a key reports ExpiringSoon.
const ExpiringSoonWindow = 7 * 24 * time.Hour

// DefaultGracePeriod is how long a rotated-out key still verifies when the
// APIKey sets no rotation.gracePeriod.
const DefaultGracePeriod = 24 * time.Hour

// SecretState is what the delivery Secret holds.
type SecretState int

// Secret states.
const (
	// SecretMissing: there is no delivery Secret.
	SecretMissing SecretState = iota
	// SecretCurrent: the Secret holds the key whose hash is status.hash.
	SecretCurrent
	// SecretPrevious: the Secret still holds the key rotated out last (the
	// delivery of the current key failed after status was written).
	SecretPrevious
	// SecretOther: the Secret holds something else (edited or emptied).
	SecretOther
)

// Reason says why a key is (re-)issued.
type Reason string

// Issue reasons; NoIssue keeps the current key.
const (
	NoIssue Reason = ""
	// Initial is the first key of an APIKey.
	Initial Reason = "Initial"
	// RotationPeriod rotates after spec.rotation.period.
	RotationPeriod Reason = "RotationPeriod"
	// RotationRequested rotates on a new tenantward.io/rotate annotation value.
	RotationRequested Reason = "RotationRequested"
	// SecretLost re-issues because the delivery Secret was deleted or changed:
	// the plaintext of the current key is gone, so a new key replaces it at
	// once and the old keys stop verifying (no grace).
	SecretLost Reason = "SecretLost"
	// DeliveryRetry re-issues because the last new key never reached the
	// Secret; the previous key keeps its grace period.
	DeliveryRetry Reason = "DeliveryRetry"
)

// Condition reasons (api/v1alpha1/conditions.go documents them).
const (
	ReasonActive          = accessv1alpha1.ReasonActive
	ReasonDisabled        = accessv1alpha1.ReasonDisabled
	ReasonExpired         = accessv1alpha1.ReasonExpired
	ReasonExpiresSoon     = accessv1alpha1.ReasonExpiresSoon
	ReasonNotExpiringSoon = accessv1alpha1.ReasonNotExpiringSoon
	ReasonOwnerLeft       = accessv1alpha1.ReasonOwnerLeft
)

// Input is everything a decision depends on.
type Input struct {
	Now        time.Time
	Generation int64
	Spec       accessv1alpha1.APIKeySpec
	// RotateRequest is the value of the tenantward.io/rotate annotation.
	RotateRequest string
	Status        accessv1alpha1.APIKeyStatus
	Secret        SecretState
	// OwnerLeft says why a personal key's owner no longer counts (they hold
	// no role where the key lives); empty while they do, and for other keys.
	OwnerLeft string
}

// Decision is what to do.
type Decision struct {
	// Issue is why a new key must be issued, or NoIssue.
	Issue Reason
	// Grace is how long the replaced key still verifies; 0 ends it at once.
	Grace time.Duration
}

// Decide returns what to do with a key.
func Decide(in Input) Decision {
	st := &in.Status
	d := Decision{}
	switch {
	case st.Hash == "":
		d.Issue = Initial
	case in.Secret == SecretPrevious:
		d.Issue = DeliveryRetry
	case in.Secret != SecretCurrent:
		d.Issue = SecretLost
	case in.RotateRequest != "" && in.RotateRequest != st.ObservedRotateRequest:
		d.Issue, d.Grace = RotationRequested, grace(in.Spec)
	case !expired(in) && rotationDue(in):
		d.Issue, d.Grace = RotationPeriod, grace(in.Spec)
	}
	return d
}

// Status returns the status after the decision: newHash and display describe
// the newly issued key when d.Issue is set. Placement fields (type,
// organization, workspace, secretName) are the caller's.
func (d Decision) Status(in Input, newHash, display string) accessv1alpha1.APIKeyStatus {
	st := *in.Status.DeepCopy()
	now := metav1.NewTime(in.Now.Truncate(time.Second))
	switch d.Issue {
	case NoIssue:
	case Initial, SecretLost:
		st.PreviousHash, st.PreviousValidUntil = "", nil
		st.Hash, st.DisplayPrefix, st.IssuedAt = newHash, display, &now
		if d.Issue == SecretLost {
			st.LastRotatedAt = &now
		}
	case DeliveryRetry:
		st.Hash, st.DisplayPrefix, st.IssuedAt = newHash, display, &now
	default: // a rotation
		st.PreviousHash, st.PreviousValidUntil = "", nil
		if d.Grace > 0 {
			until := metav1.NewTime(now.Add(d.Grace))
			st.PreviousHash, st.PreviousValidUntil = st.Hash, &until
		}
		st.Hash, st.DisplayPrefix, st.IssuedAt, st.LastRotatedAt = newHash, display, &now, &now
	}
	st.ObservedRotateRequest = in.RotateRequest
	if st.PreviousValidUntil != nil && !in.Now.Before(st.PreviousValidUntil.Time) {
		st.PreviousHash, st.PreviousValidUntil = "", nil
	}
	st.ExpiresAt = in.Spec.ExpiresAt
	st.Phase, st.Conditions = phase(in, st.Conditions, st.DisplayPrefix)
	st.ObservedGeneration = in.Generation
	return st
}

// Next returns when the key must be looked at again after st: its expiry, the
// start of the expiring-soon window, the end of a grace period or the next
// rotation; 0 when nothing is due.
func Next(in Input, st *accessv1alpha1.APIKeyStatus) time.Duration {
	var next time.Duration
	consider := func(t time.Time) {
		if wait := t.Sub(in.Now); wait > 0 && (next == 0 || wait < next) {
			// A second late, so the instant has passed when we look.
			next = wait + time.Second
		}
	}
	if e := in.Spec.ExpiresAt; e != nil {
		consider(e.Time)
		consider(e.Add(-ExpiringSoonWindow))
	}
	if st.PreviousValidUntil != nil {
		consider(st.PreviousValidUntil.Time)
	}
	if p := in.Spec.Rotation; p != nil && p.Period != nil && p.Period.Duration > 0 {
		if base := rotationBase(st); base != nil {
			consider(base.Add(p.Period.Duration))
		}
	}
	return next
}

func phase(in Input, conds []metav1.Condition, display string) (accessv1alpha1.KeyPhase, []metav1.Condition) {
	ready := metav1.Condition{Type: accessv1alpha1.ConditionReady, ObservedGeneration: in.Generation}
	soon := metav1.Condition{Type: accessv1alpha1.ConditionExpiringSoon, ObservedGeneration: in.Generation,
		Status: metav1.ConditionFalse, Reason: ReasonNotExpiringSoon, Message: "the key does not expire within 7 days"}
	var p accessv1alpha1.KeyPhase
	switch {
	case in.OwnerLeft != "":
		// Disabled by the operator (or already), and Stalled: only someone
		// entitled re-enables it, once the owner is a member again.
		p = accessv1alpha1.KeyPhaseDisabled
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonOwnerLeft, in.OwnerLeft
	case in.Spec.State == accessv1alpha1.KeyDisabled:
		p = accessv1alpha1.KeyPhaseDisabled
		// Reconciled as asked: Ready, so that GitOps tools see a disabled key as done.
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, ReasonDisabled, "spec.state is Disabled: the key is kept but does not verify until it is Enabled again"
	case expired(in):
		p = accessv1alpha1.KeyPhaseExpired
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonExpired, fmt.Sprintf("the key expired at %s", in.Spec.ExpiresAt.UTC().Format(time.RFC3339))
		soon.Reason, soon.Message = ReasonExpired, ready.Message
	default:
		p = accessv1alpha1.KeyPhaseActive
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, ReasonActive, fmt.Sprintf("key %s is issued and verifies", display)
	}
	if e := in.Spec.ExpiresAt; e != nil && p == accessv1alpha1.KeyPhaseActive && e.Sub(in.Now) <= ExpiringSoonWindow {
		soon.Status, soon.Reason, soon.Message = metav1.ConditionTrue, ReasonExpiresSoon, fmt.Sprintf("the key expires at %s", e.UTC().Format(time.RFC3339))
	}
	out := append([]metav1.Condition(nil), conds...)
	setCondition(&out, ready, in.Now)
	setCondition(&out, soon, in.Now)
	// An expired key stays expired until someone extends or replaces it:
	// Stalled, as api/v1alpha1/conditions.go says.
	meta.RemoveStatusCondition(&out, accessv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&out, accessv1alpha1.ConditionStalled)
	if ready.Status == metav1.ConditionFalse && accessv1alpha1.Stalled(ready.Reason) {
		stalled := ready
		stalled.Type, stalled.Status = accessv1alpha1.ConditionStalled, metav1.ConditionTrue
		setCondition(&out, stalled, in.Now)
	}
	return p, out
}

// setCondition sets c, keeping the transition time when the status is unchanged.
func setCondition(conds *[]metav1.Condition, c metav1.Condition, now time.Time) {
	for i := range *conds {
		old := &(*conds)[i]
		if old.Type != c.Type {
			continue
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		}
		*old = c
		return
	}
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	*conds = append(*conds, c)
}

func expired(in Input) bool {
	return in.Spec.ExpiresAt != nil && !in.Now.Before(in.Spec.ExpiresAt.Time)
}

func rotationDue(in Input) bool {
	r := in.Spec.Rotation
	if r == nil || r.Period == nil || r.Period.Duration <= 0 {
		return false
	}
	base := rotationBase(&in.Status)
	return base != nil && !in.Now.Before(base.Add(r.Period.Duration))
}

// rotationBase is when the current key was issued.
func rotationBase(st *accessv1alpha1.APIKeyStatus) *metav1.Time {
	if st.LastRotatedAt != nil {
		return st.LastRotatedAt
	}
	return st.IssuedAt
}

func grace(spec accessv1alpha1.APIKeySpec) time.Duration {
	if r := spec.Rotation; r != nil && r.GracePeriod != nil {
		return r.GracePeriod.Duration
	}
	return DefaultGracePeriod
}
