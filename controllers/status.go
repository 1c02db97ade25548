package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// hasReason reports whether obj's Ready condition already has reason, so a
// persisting problem is evented once, not on every reconcile.
func hasReason(obj client.Object, reason string) bool {
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *accessv1alpha1.Organization:
		conds = o.Status.Conditions
	case *accessv1alpha1.Workspace:
		conds = o.Status.Conditions
	}
	c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
	return c != nil && c.Reason == reason
}

// setReady sets the Ready condition, with Reconciling or Stalled as its reason
// says, and reports whether Ready changed.
func setReady(conds *[]metav1.Condition, generation int64, status metav1.ConditionStatus, reason, msg string) bool {
	return accessv1alpha1.SetReady(conds, metav1.Condition{Status: status, Reason: reason, Message: msg, ObservedGeneration: generation})
}

// patchStatus patches obj's status from before when it changed: one write per
// reconcile at most, none when nothing changed.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, oldStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(before)))
}

// observedGeneration is the generation the Ready condition was last computed
// for, or current when there is none. status.observedGeneration follows it on
// every path, stalled ones included, so that kstatus reads a stalled object as
// Failed rather than as a generation not yet looked at (api/v1alpha1/conditions.go).
func observedGeneration(conds []metav1.Condition, current int64) int64 {
	if c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady); c != nil {
		return c.ObservedGeneration
	}
	return current
}
