package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

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
