package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestSetReadyDerivesProgress: the Ready reason decides Reconciling or
// Stalled, neither stays once Ready is True, and a repeated call changes no
// transition time.
func TestSetReadyDerivesProgress(t *testing.T) {
	var conds []metav1.Condition
	set := func(status metav1.ConditionStatus, reason string) {
		accessv1alpha1.SetReady(&conds, metav1.Condition{Status: status, Reason: reason, Message: reason + " message", ObservedGeneration: 1})
	}
	has := func(typ string) bool { return meta.IsStatusConditionTrue(conds, typ) }

	set(metav1.ConditionFalse, accessv1alpha1.ReasonDeleting)
	if !has(accessv1alpha1.ConditionReconciling) || meta.FindStatusCondition(conds, accessv1alpha1.ConditionStalled) != nil {
		t.Fatalf("Deleting: want Reconciling only, got %+v", conds)
	}
	set(metav1.ConditionFalse, accessv1alpha1.ReasonNamespaceConflict)
	stalled := meta.FindStatusCondition(conds, accessv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != accessv1alpha1.ReasonNamespaceConflict || meta.FindStatusCondition(conds, accessv1alpha1.ConditionReconciling) != nil {
		t.Fatalf("NamespaceConflict: want Stalled only, got %+v", conds)
	}
	before := stalled.LastTransitionTime
	set(metav1.ConditionFalse, accessv1alpha1.ReasonNamespaceConflict)
	if !meta.FindStatusCondition(conds, accessv1alpha1.ConditionStalled).LastTransitionTime.Equal(&before) {
		t.Fatal("setting the same Ready again moved Stalled's transition time")
	}
	set(metav1.ConditionTrue, accessv1alpha1.ReasonReconciled)
	if len(conds) != 1 || !has(accessv1alpha1.ConditionReady) {
		t.Fatalf("Reconciled: want Ready alone, got %+v", conds)
	}
}
