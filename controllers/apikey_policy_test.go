package controllers_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/keypolicy"
)

func limit(n int64, per time.Duration) accessv1alpha1.RateLimit {
	return accessv1alpha1.RateLimit{Requests: n, Per: metav1.Duration{Duration: per}}
}

// effectiveIs checks a key's status.rateLimits and status.models.
func effectiveIs(limits []accessv1alpha1.RateLimit, models ...accessv1alpha1.ModelPattern) func(*accessv1alpha1.APIKey) error {
	return func(k *accessv1alpha1.APIKey) error {
		if !slices.Equal(k.Status.RateLimits, limits) || !slices.Equal(k.Status.Models, models) {
			return fmt.Errorf("status.rateLimits [%s], status.models %v; want [%s], %v",
				keypolicy.FormatLimits(k.Status.RateLimits), k.Status.Models, keypolicy.FormatLimits(limits), models)
		}
		return nil
	}
}

// TestAPIKeyEffectivePolicyFollowsWorkspaceAndOrganization: a key's status
// shows its effective limits and models (its own, else the workspace's
// defaults, within the ceilings), and follows when the workspace's defaults
// change or the organization lowers a ceiling.
func TestAPIKeyEffectivePolicyFollowsWorkspaceAndOrganization(t *testing.T) {
	org := createOrganization(t, uniqueName("policy"), func(o *accessv1alpha1.Organization) {
		o.Spec.APIKeys = &accessv1alpha1.KeyPolicy{
			MaxRateLimits: []accessv1alpha1.RateLimit{limit(1000, time.Minute)},
			AllowedModels: []accessv1alpha1.ModelPattern{"gpt-*", "claude-*"},
		}
	})
	ws := createWorkspace(t, org, "apps", func(w *accessv1alpha1.Workspace) {
		w.Spec.APIKeys = &accessv1alpha1.WorkspaceKeyPolicy{KeyPolicy: accessv1alpha1.KeyPolicy{
			DefaultRateLimits: []accessv1alpha1.RateLimit{limit(100, time.Minute)},
			DefaultModels:     []accessv1alpha1.ModelPattern{"gpt-4o-mini"},
		}}
	})
	user := uniqueName("admin") + "@example.com"
	createMembership(t, org.Status.Namespace, user, accessv1alpha1.RoleAdmin)
	admin := asUser(t, user)

	defaults := createKey(t, admin, ws.Status.Namespace)
	own := createKey(t, admin, ws.Status.Namespace, func(k *accessv1alpha1.APIKey) {
		k.Spec.RateLimits = []accessv1alpha1.RateLimit{limit(500, time.Minute)}
		k.Spec.Models = []accessv1alpha1.ModelPattern{"gpt-*"}
	})
	waitKey(t, defaults, effectiveIs([]accessv1alpha1.RateLimit{limit(100, time.Minute)}, "gpt-4o-mini"))
	waitKey(t, own, effectiveIs([]accessv1alpha1.RateLimit{limit(500, time.Minute)}, "gpt-*"))

	// The workspace's defaults change: the key that takes them follows.
	patchSpec(t, ws, func() {
		ws.Spec.APIKeys.DefaultRateLimits = []accessv1alpha1.RateLimit{limit(50, time.Minute)}
		ws.Spec.APIKeys.DefaultModels = []accessv1alpha1.ModelPattern{"claude-3-haiku"}
	})
	waitKey(t, defaults, effectiveIs([]accessv1alpha1.RateLimit{limit(50, time.Minute)}, "claude-3-haiku"))

	// The organization lowers its ceilings: existing keys are clamped, and a
	// key left with none of its models may call none.
	patchSpec(t, org, func() {
		org.Spec.APIKeys.MaxRateLimits = []accessv1alpha1.RateLimit{limit(200, time.Minute), limit(5000, time.Hour)}
		org.Spec.APIKeys.AllowedModels = []accessv1alpha1.ModelPattern{"gpt-4o*"}
	})
	waitKey(t, own, effectiveIs([]accessv1alpha1.RateLimit{limit(200, time.Minute), limit(5000, time.Hour)}, "gpt-4o*"))
	waitKey(t, defaults, effectiveIs([]accessv1alpha1.RateLimit{limit(50, time.Minute)}, keypolicy.NoModel))
}

// patchSpec applies change to obj as the platform admin, with a merge patch.
func patchSpec(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	before := obj.DeepCopyObject().(client.Object)
	change()
	if err := adminClient.Patch(testCtx, obj, client.MergeFrom(before)); err != nil {
		t.Fatalf("patching %s: %v", obj.GetName(), err)
	}
}
