package webhook_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/webhook"
)

// serviceAccount is a client acting as one of the operator's service
// accounts, under the RBAC the installs bind to it (and nothing else).
func serviceAccount(t testing.TB, name string) client.Client {
	t.Helper()
	u := controlplane.ServiceAccountUser(controlplane.OperatorNamespace, name)
	c, err := client.New(controlplane.Impersonate(testEnv.Config, u.Name, u.Groups...), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setLastUsed patches status.lastUsedAt as c, as the verifier's writer does.
func setLastUsed(c client.Client, key *v1.APIKey, at time.Time) error {
	patch := fmt.Sprintf(`[{"op":"add","path":"/status/lastUsedAt","value":%q}]`, at.UTC().Format(time.RFC3339))
	return c.Status().Patch(testCtx, key.DeepCopy(), client.RawPatch(types.JSONPatchType, []byte(patch)))
}

// TestOnlyTheVerifierWritesLastUsedAt replays, on the real API server, every
// identity but the verifier setting an APIKey's status.lastUsedAt — a tenant
// owner, a platform admin (system:masters), the operator's own service
// account — and the verifier changing the key's hash: all refused. The
// verifier's own write passes, and the operator's status patches that follow
// (a spec change it observes) leave lastUsedAt alone.
func TestOnlyTheVerifierWritesLastUsedAt(t *testing.T) {
	tn := newTenant(t)
	key := apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})
	if err := admin.Create(testCtx, key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the operator issues the key", func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(key), key); err != nil {
			return err
		}
		if key.Status.Hash == "" {
			return fmt.Errorf("not issued yet")
		}
		return nil
	})
	hour := time.Now().UTC().Truncate(time.Hour)
	verifier := serviceAccount(t, controlplane.VerifierServiceAccount)
	allowed(t, "the verifier sets lastUsedAt", setLastUsed(verifier, key, hour))

	const onlyVerifier = "status.lastUsedAt is written only by the key verifier"
	for who, c := range map[string]client.Client{
		"an organization owner": as(t, tn.owner),
		"a platform admin":      admin,
		"the operator":          serviceAccount(t, controlplane.ManagerServiceAccount),
	} {
		denied(t, who+" sets lastUsedAt", setLastUsed(c, key, hour.Add(time.Hour)), "status.lastUsedAt", onlyVerifier)
		denied(t, who+" clears lastUsedAt", c.Status().Patch(testCtx, key.DeepCopy(),
			client.RawPatch(types.MergePatchType, []byte(`{"status":{"lastUsedAt":null}}`))), onlyVerifier)
	}
	forged := fmt.Sprintf(`{"status":{"hash":"%064d"}}`, 0)
	denied(t, "the verifier changes the hash", verifier.Status().Patch(testCtx, key.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(forged))),
		"the key verifier writes only status.lastUsedAt of an APIKey")
	denied(t, "the verifier changes the hash beside lastUsedAt", verifier.Status().Patch(testCtx, key.DeepCopy(), client.RawPatch(types.MergePatchType,
		fmt.Appendf(nil, `{"status":{"hash":"%064d","lastUsedAt":%q}}`, 0, hour.Add(time.Hour).Format(time.RFC3339)))),
		"the key verifier writes only status.lastUsedAt of an APIKey")
	denied(t, "the verifier edits the spec", verifier.Update(testCtx, key.DeepCopy()), "forbidden")

	// The operator observes a spec change in status (observedGeneration,
	// merge patches from what it read): lastUsedAt stays as the verifier set it.
	if err := updateAs(admin, key, func() { key.Spec.Description = "observed" }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the operator observes the change", func() error {
		got := &v1.APIKey{}
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(key), got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
		}
		if got.Status.LastUsedAt == nil || !got.Status.LastUsedAt.Time.Equal(hour) {
			t.Fatalf("lastUsedAt is %v after the operator's status write, want %s", got.Status.LastUsedAt, hour)
		}
		return nil
	})
}

// TestLastUsedRule: the decision alone, including the embedded verifier,
// which runs as the operator (a platform identity) and holds both rights.
func TestLastUsedRule(t *testing.T) {
	old := &v1.APIKey{Status: v1.APIKeyStatus{Hash: "h"}}
	used := old.DeepCopy()
	used.Status.LastUsedAt = &metav1.Time{Time: time.Unix(1_800_000_000, 0)}
	rehashed := old.DeepCopy()
	rehashed.Status.Hash = "other"
	tenant := webhook.Attempt{Who: webhook.Requester{Name: "alice"}, Kind: "APIKey"}
	platform := webhook.Attempt{Who: webhook.Requester{Name: "system:serviceaccount:tw:manager", Platform: true}, Kind: "APIKey"}
	for _, c := range []struct {
		what     string
		a        webhook.Attempt
		verifier bool
		updated  *v1.APIKey
		refused  bool
	}{
		{"standalone verifier sets lastUsedAt", tenant, true, used, false},
		{"standalone verifier rehashes", tenant, true, rehashed, true},
		{"embedded verifier (the operator) sets lastUsedAt", platform, true, used, false},
		{"embedded verifier (the operator) rehashes", platform, true, rehashed, false},
		{"operator sets lastUsedAt", platform, false, used, true},
		{"operator rehashes", platform, false, rehashed, false},
		{"tenant rehashes", tenant, false, rehashed, true},
	} {
		if errs := webhook.LastUsedRule(c.a, c.verifier, old, c.updated); (len(errs) > 0) != c.refused {
			t.Errorf("%s: %v, refused %v", c.what, errs, c.refused)
		}
	}
}
