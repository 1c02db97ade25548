package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
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

// Status is written one way by every controller: the reconcile reads the
// object, computes its whole status in memory and sends one JSON merge patch
// of the difference from what it read to the status subresource, or nothing
// when nothing changed (patchStatus). A merge patch carries only the fields
// that changed, so a write never resets a field the reconcile did not touch,
// and it needs no resourceVersion, so a busy object costs no conflict
// retries: the next reconcile recomputes from the newer object anyway.
//
// Where a status write gates a side effect that must happen once (an APIKey
// issuing a key: the hash goes to status before the plaintext goes to the
// Secret), patchStatusLocked adds the read's resourceVersion as a
// precondition, so a reconcile working from a stale cache fails there
// instead of acting twice.
//
// One field has a second writer, on purpose: a Workspace's
// status.integrationAccess belongs to the integration-access controller
// (integrationaccess_controller.go), which server-side applies that field
// alone under its own field manager (IntegrationPolicyFieldManager). The
// Workspace controller's merge patches never carry it and the apply carries
// nothing else, so neither writer clears the other's fields whatever order
// their writes land in; the apply states the field's whole value, not a diff
// from a read, and managedFields name its owner (the IntegrationPolicy tests
// check it).
// docs/operations.md ("How status is written") says the same for operators.

// patchStatus patches obj's status from before when it changed: one write per
// reconcile at most, none when nothing changed. An object already gone is no
// error.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, oldStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(before)))
}

// patchStatusLocked is patchStatus with an optimistic lock: it fails with a
// conflict when obj changed since before was read, and when obj is gone.
func patchStatusLocked(ctx context.Context, c client.Client, before, obj client.Object, oldStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// announce reports a state transition the user acts on: a log line at V(0)
// through the reconcile's logger (which names the controller and object) and
// an event on obj, related to related when not nil. msg is never key
// material.
func announce(ctx context.Context, rec events.EventRecorder, obj, related runtime.Object, eventType, reason, action, msg string) {
	ctrl.LoggerFrom(ctx).Info(msg, "reason", reason, "action", action)
	rec.Eventf(obj, related, eventType, reason, action, "%s", msg)
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
