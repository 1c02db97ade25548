package webhook_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
)

func window(n int64, per time.Duration) v1.RateLimit {
	return v1.RateLimit{Requests: n, Per: metav1.Duration{Duration: per}}
}

// keyWith is a workspace key with the given limits and models (not created).
func keyWith(ns string, limits []v1.RateLimit, models ...v1.ModelPattern) *v1.APIKey {
	k := apiKey(ns, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})
	k.Spec.RateLimits, k.Spec.Models = limits, models
	return k
}

// eventuallyDenied retries a write until the webhooks' cache has caught up
// with a policy change and the write is denied with every fragment.
func eventuallyDenied(t *testing.T, what string, write func() error, fragments ...string) {
	t.Helper()
	eventually(t, what, func() error {
		if err := write(); !contains(err, fragments...) {
			return fmt.Errorf("got %w", err)
		}
		return nil
	})
}

// TestKeyPolicyCeilings replays tenants going beyond the key ceilings: a
// manager raising a key's limit above the workspace's, an admin raising the
// workspace's ceiling above the organization's, widening models with *, odd
// model names, lists at their maximum size. The allowed twins pass, and a
// ceiling lowered later does not block unrelated changes.
func TestKeyPolicyCeilings(t *testing.T) {
	tn := newTenant(t)
	owner, orgAdmin, manager := as(t, tn.owner), as(t, tn.admin), as(t, tn.manager)
	org := tn.org.DeepCopy()
	allowed(t, "admin sets the organization's key policy", updateAs(orgAdmin, org, func() {
		org.Spec.APIKeys = &v1.KeyPolicy{MaxRateLimits: []v1.RateLimit{window(1000, time.Minute)}, AllowedModels: []v1.ModelPattern{"gpt-*", "claude-*"}}
	}))
	denied(t, "owner sets defaults above the organization's own ceiling", updateAs(owner, org, func() {
		org.Spec.APIKeys.DefaultRateLimits = []v1.RateLimit{window(5000, time.Minute)}
	}), "spec.apiKeys.defaultRateLimits", fmt.Sprintf("the organization %s's defaultRateLimits (5000 per 1m) allow 5000 requests in 1m, above the organization %s's maxRateLimits of 1000 per 1m", org.Name, org.Name))

	ws := tn.ws.DeepCopy()
	eventuallyDenied(t, "admin raises the workspace's ceiling above the organization's", func() error {
		return updateAs(orgAdmin, ws, func() {
			ws.Spec.APIKeys = &v1.WorkspaceKeyPolicy{KeyPolicy: v1.KeyPolicy{MaxRateLimits: []v1.RateLimit{window(5000, time.Minute)}}}
		})
	}, fmt.Sprintf("user %q (organization admin in %s)", tn.admin, org.Name), "spec.apiKeys.maxRateLimits",
		"above the organization "+org.Name+"'s maxRateLimits of 1000 per 1m", "an organization owner or admin raises ceilings")
	denied(t, "admin widens the workspace's models with *", updateAs(orgAdmin, ws, func() {
		ws.Spec.APIKeys = &v1.WorkspaceKeyPolicy{KeyPolicy: v1.KeyPolicy{AllowedModels: []v1.ModelPattern{"*"}}}
	}), `spec.apiKeys.allowedModels[0]: Forbidden`, `the model pattern "*" goes beyond the organization `+org.Name+`'s allowedModels (gpt-*, claude-*)`)
	denied(t, "workspace admin edits the Workspace object", updateAs(as(t, tn.wsAdmin), ws, func() {
		ws.Spec.APIKeys = &v1.WorkspaceKeyPolicy{KeyPolicy: v1.KeyPolicy{MaxRateLimits: []v1.RateLimit{window(10, time.Minute)}}}
	}), "forbidden")
	allowed(t, "admin sets the workspace's ceiling within the organization's", updateAs(orgAdmin, ws, func() {
		ws.Spec.APIKeys = &v1.WorkspaceKeyPolicy{KeyPolicy: v1.KeyPolicy{
			MaxRateLimits: []v1.RateLimit{window(100, time.Minute)}, AllowedModels: []v1.ModelPattern{"gpt-4o*"},
		}}
	}))

	create := func(c client.Client, k *v1.APIKey) func() error {
		return func() error { return c.Create(testCtx, k, client.DryRunAll) }
	}
	eventuallyDenied(t, "manager raises a key's limit above the workspace's ceiling", create(manager, keyWith(tn.wsNS, []v1.RateLimit{window(500, time.Minute)})),
		fmt.Sprintf("user %q (workspace manager in %s/team)", tn.manager, org.Name), "spec.rateLimits",
		"the key's rateLimits (500 per 1m) allow 500 requests in 1m, above the workspace team's maxRateLimits of 100 per 1m")
	denied(t, "manager's short window adds up above the ceiling", create(manager, keyWith(tn.wsNS, []v1.RateLimit{window(20, time.Second)}))(),
		"allow 1200 requests in 1m, above the workspace team's maxRateLimits of 100 per 1m", "allow 1200 requests in 1m, above the organization "+org.Name+"'s")
	denied(t, "manager widens a key's models with *", create(manager, keyWith(tn.wsNS, nil, "gpt-4o", "*"))(),
		"spec.models[1]", `the model pattern "*" goes beyond the workspace team's allowedModels (gpt-4o*)`)
	denied(t, "another case is another model", create(manager, keyWith(tn.wsNS, nil, "GPT-4O*"))(), "spec.models[0]", "goes beyond")
	denied(t, "the platform is held to the ceilings too", create(admin, keyWith(tn.wsNS, []v1.RateLimit{window(500, time.Minute)}))(),
		"above the workspace team's maxRateLimits")
	for _, odd := range []v1.ModelPattern{"gpt-4o%2A", "gpt-4o\u202e*", "gpt 4o", "gpt-4o\n*", ""} {
		denied(t, fmt.Sprintf("model name %q", odd), create(manager, keyWith(tn.wsNS, nil, odd))(), "spec.models[0]")
	}

	full := make([]v1.ModelPattern, 65)
	for i := range full {
		full[i] = v1.ModelPattern(fmt.Sprintf("gpt-4o-v%d", i))
	}
	allowed(t, "manager's key with 64 models within the ceiling", create(manager, keyWith(tn.wsNS, nil, full[:64]...))())
	denied(t, "65 models", create(manager, keyWith(tn.wsNS, nil, full...))(), "spec.models", "must have at most 64 items")
	four := []v1.RateLimit{window(1, time.Second), window(50, time.Minute), window(1000, time.Hour), window(5000, 24*time.Hour)}
	allowed(t, "manager's key with 4 windows within the ceiling", create(manager, keyWith(tn.wsNS, four))())
	denied(t, "5 windows", create(manager, keyWith(tn.wsNS, append(four, window(9000, 48*time.Hour))))(), "spec.rateLimits", "must have at most 4 items")

	key := keyWith(tn.wsNS, []v1.RateLimit{window(50, time.Minute)}, "gpt-4o-mini")
	allowed(t, "manager creates a key within the ceilings", manager.Create(testCtx, key))

	// The organization lowers its ceiling below the key's limit: allowed
	// (the key's effective limit is clamped); changes that leave the limits
	// alone stay open, raising them again is refused.
	allowed(t, "owner lowers the organization's ceiling below existing keys", updateAs(owner, org, func() {
		org.Spec.APIKeys.MaxRateLimits = []v1.RateLimit{window(10, time.Minute)}
	}))
	k := key.DeepCopy()
	allowed(t, "manager describes the key", updateAs(manager, k, func() { k.Spec.Description = "clamped" }))
	eventuallyDenied(t, "manager changes the key's limit, still above the lowered ceiling", func() error {
		return updateAs(manager, k, func() { k.Spec.RateLimits = []v1.RateLimit{window(40, time.Minute)} })
	}, "above the organization "+org.Name+"'s maxRateLimits of 10 per 1m")
}
