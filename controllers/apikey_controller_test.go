package controllers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/controllers"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/verifier"
)

// The verifier the API-key tests ask, as a gateway would: its own APIKey
// informer against the same control plane, started on first use.
var (
	verifierOnce sync.Once
	verifierURL  string
	verifierErr  error
)

func verifierAddr(t testing.TB) string {
	t.Helper()
	verifierOnce.Do(func() {
		v, err := verifier.New(testEnv.Config, verifier.Options{HTTPAddr: "127.0.0.1:0"})
		if err != nil {
			verifierErr = err
			return
		}
		go func() { _ = v.Start(testCtx) }()
		select {
		case <-v.Ready():
			verifierURL = "http://" + v.HTTPAddr()
		case <-time.After(pollTimeout):
			verifierErr = errors.New("the verifier did not become ready")
		}
	})
	if verifierErr != nil {
		t.Fatal(verifierErr)
	}
	return verifierURL
}

// verify asks POST /v1/verify and returns the result code.
func verify(t testing.TB, key string, feature, level string) verifier.VerifyResponse {
	t.Helper()
	body, _ := json.Marshal(verifier.VerifyRequest{Key: key, Feature: feature, Level: level})
	resp, err := http.Post(verifierAddr(t)+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out verifier.VerifyResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/verify: %d %v", resp.StatusCode, err)
	}
	return out
}

func eventuallyVerifies(t testing.TB, key, want string) {
	t.Helper()
	eventually(t, "the verifier answers "+want, func() error {
		if got := verify(t, key, "", "").Result; got != want {
			return fmt.Errorf("result %s", got)
		}
		return nil
	})
}

// tenantWithAdmin makes an organization with one workspace and an org admin
// who manages the keys, and returns the admin's client and the namespaces.
func tenantWithAdmin(t *testing.T) (admin client.Client, orgNS, wsNS string) {
	t.Helper()
	org := createOrganization(t, uniqueName("keys"))
	ws := createWorkspace(t, org, "apps")
	user := uniqueName("admin") + "@example.com"
	createMembership(t, org.Status.Namespace, user, accessv1alpha1.RoleAdmin)
	return asUser(t, user), org.Status.Namespace, ws.Status.Namespace
}

// createKey creates an APIKey as the given tenant and waits until it is issued.
func createKey(t *testing.T, c client.Client, ns string, mutate ...func(*accessv1alpha1.APIKey)) *accessv1alpha1.APIKey {
	t.Helper()
	key := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("key"), Namespace: ns}}
	for _, m := range mutate {
		m(key)
	}
	if err := c.Create(testCtx, key); err != nil {
		t.Fatalf("creating APIKey as a tenant: %v", err)
	}
	return waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if k.Status.Hash == "" {
			return errors.New("not issued yet")
		}
		return nil
	})
}

// waitKey polls the APIKey until check passes and returns it.
func waitKey(t *testing.T, key *accessv1alpha1.APIKey, check func(*accessv1alpha1.APIKey) error) *accessv1alpha1.APIKey {
	t.Helper()
	out := &accessv1alpha1.APIKey{}
	eventually(t, "APIKey "+key.Name, func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(key), out); err != nil {
			return err
		}
		return check(out)
	})
	return out
}

// deliveredKey reads the plaintext from the delivery Secret, as the workload
// that mounts it would, once it matches status.hash.
func deliveredKey(t *testing.T, key *accessv1alpha1.APIKey) (string, *corev1.Secret) {
	t.Helper()
	s := &corev1.Secret{}
	var plain string
	eventually(t, "delivery Secret of "+key.Name, func() error {
		k := &accessv1alpha1.APIKey{}
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(key), k); err != nil {
			return err
		}
		if err := adminClient.Get(testCtx, client.ObjectKey{Namespace: key.Namespace, Name: k.Status.SecretName}, s); err != nil {
			return err
		}
		plain = string(s.Data[controllers.APIKeySecretKey])
		if sum := sha256.Sum256([]byte(plain)); hex.EncodeToString(sum[:]) != k.Status.Hash {
			return errors.New("the Secret does not hold the key of status.hash yet")
		}
		return nil
	})
	return plain, s
}

func TestAPIKeyIssuedDeliveredAndVerified(t *testing.T) {
	admin, _, wsNS := tenantWithAdmin(t)
	key := createKey(t, admin, wsNS)
	plain, secret := deliveredKey(t, key)
	canary(t, plain)

	if _, err := apikey.Parse(plain); err != nil || !strings.HasPrefix(plain, apikey.PrefixWorkspace) {
		t.Fatalf("the delivered key is not a workspace key: %v", err)
	}
	if secret.Name != key.Name+"-apikey" || secret.Type != controllers.APIKeySecretType ||
		secret.Labels[accessv1alpha1.LabelAPIKey] != key.Name || secret.Labels[accessv1alpha1.LabelWorkspace] != "apps" ||
		!metav1.IsControlledBy(secret, key) {
		t.Fatalf("delivery Secret %s: type %s labels %v owners %v", secret.Name, secret.Type, secret.Labels, secret.OwnerReferences)
	}
	st := key.Status
	if st.Type != accessv1alpha1.KeyTypeWorkspace || st.Workspace != "apps" || st.Organization == "" || st.Phase != accessv1alpha1.KeyPhaseActive ||
		st.DisplayPrefix != plain[:8]+"…" || st.IssuedAt == nil || readyErr(st.Conditions) != nil {
		t.Fatalf("status %+v", st)
	}
	org := &accessv1alpha1.Organization{}
	if err := adminClient.Get(testCtx, client.ObjectKey{Name: st.Organization}, org); err != nil || st.OrganizationUID != string(org.UID) {
		t.Fatalf("status.organizationUID %q, want the Organization's UID %q (%v)", st.OrganizationUID, org.UID, err)
	}
	eventuallyVerifies(t, plain, "VALID")
	res := verify(t, plain, "completions", "Enabled")
	if res.Result != "VALID" || res.Organization != st.Organization || res.Workspace != "apps" || res.KeyName != key.Name {
		t.Fatalf("verify: %+v", res)
	}
	if got := verify(t, plain, "prompts", "Write").Result; got != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("a default key (prompts Read) may write prompts: %s", got)
	}
	expectEvent(t, key, "KeyIssued")
	expectAudit(t, audit.ActionKeyIssued, key)

	// Reconciling again (a spec change) does not re-issue the key.
	before := key.Generation
	key.Spec.Description = "changed"
	if err := admin.Update(testCtx, key); err != nil {
		t.Fatal(err)
	}
	again := waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if k.Status.ObservedGeneration <= before {
			return errors.New("not reconciled yet")
		}
		return nil
	})
	if again.Status.Hash != st.Hash || !again.Status.IssuedAt.Equal(st.IssuedAt) {
		t.Fatal("a reconcile re-issued the key")
	}
}

func TestAPIKeyAdminKeyAndMasterKey(t *testing.T) {
	admin, orgNS, _ := tenantWithAdmin(t)
	key := createKey(t, admin, orgNS)
	plain, _ := deliveredKey(t, key)
	canary(t, plain)
	if !strings.HasPrefix(plain, apikey.PrefixAdmin) || key.Status.Type != accessv1alpha1.KeyTypeAdmin || key.Status.Workspace != "" {
		t.Fatalf("an APIKey in the org namespace is not an admin key: %+v", key.Status)
	}

	// The Organization's master key is issued like any other, with every permission.
	master := waitKey(t, &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: orgNS, Name: controllers.MasterKeyName}}, func(k *accessv1alpha1.APIKey) error {
		if k.Status.Hash == "" {
			return errors.New("not issued yet")
		}
		return nil
	})
	masterKey, _ := deliveredKey(t, master)
	canary(t, masterKey)
	eventuallyVerifies(t, masterKey, "VALID")
	for _, f := range []string{"metrics", "completions"} {
		if got := verify(t, masterKey, f, "Enabled").Result; got != "VALID" {
			t.Errorf("master key, %s: %s", f, got)
		}
	}
	for _, f := range []string{"prompts", "configs", "guardrails", "integrations", "providers", "models", "users"} {
		if got := verify(t, masterKey, f, "Delete").Result; got != "VALID" {
			t.Errorf("master key, %s Delete: %s", f, got)
		}
	}
}

func TestAPIKeyDisableEnableAndExpiry(t *testing.T) {
	admin, _, wsNS := tenantWithAdmin(t)
	key := createKey(t, admin, wsNS)
	plain, _ := deliveredKey(t, key)
	canary(t, plain)
	eventuallyVerifies(t, plain, "VALID")

	setState := func(s accessv1alpha1.KeyState) {
		t.Helper()
		k := &accessv1alpha1.APIKey{}
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(key), k); err != nil {
			t.Fatal(err)
		}
		k.Spec.State = s
		if err := admin.Update(testCtx, k); err != nil {
			t.Fatal(err)
		}
	}
	setState(accessv1alpha1.KeyDisabled)
	eventuallyVerifies(t, plain, "DISABLED")
	waitKey(t, key, phaseIs(accessv1alpha1.KeyPhaseDisabled))
	setState(accessv1alpha1.KeyEnabled)
	eventuallyVerifies(t, plain, "VALID")
	waitKey(t, key, phaseIs(accessv1alpha1.KeyPhaseActive))
	expectEvent(t, key, "KeyDisabled")
	expectEvent(t, key, "KeyEnabled")
	expectAudit(t, audit.ActionKeyDisabled, key)
	expectAudit(t, audit.ActionKeyEnabled, key)

	// A key expiring within 7 days says so; at expiresAt it stops verifying.
	soon := createKey(t, admin, wsNS, func(k *accessv1alpha1.APIKey) {
		k.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(72 * time.Hour)}
	})
	if c := findCondition(soon.Status.Conditions, accessv1alpha1.ConditionExpiringSoon); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("ExpiringSoon: %+v", soon.Status.Conditions)
	}
	short := createKey(t, admin, wsNS, func(k *accessv1alpha1.APIKey) {
		k.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(3 * time.Second)}
	})
	shortKey, _ := deliveredKey(t, short)
	canary(t, shortKey)
	eventuallyVerifies(t, shortKey, "EXPIRED")
	expired := waitKey(t, short, phaseIs(accessv1alpha1.KeyPhaseExpired))
	if readyErr(expired.Status.Conditions) == nil {
		t.Fatal("an expired key is Ready")
	}
	expectEvent(t, short, "KeyExpired")
	expectAudit(t, audit.ActionKeyExpired, short)
}

func TestAPIKeyRotationWithGrace(t *testing.T) {
	admin, _, wsNS := tenantWithAdmin(t)
	const grace = 20 * time.Second
	key := createKey(t, admin, wsNS, func(k *accessv1alpha1.APIKey) {
		k.Spec.Rotation = &accessv1alpha1.Rotation{GracePeriod: &metav1.Duration{Duration: grace}}
	})
	old, _ := deliveredKey(t, key)
	canary(t, old)
	eventuallyVerifies(t, old, "VALID")

	// A GitOps user bumps the rotate annotation.
	k := &accessv1alpha1.APIKey{}
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(key), k); err != nil {
		t.Fatal(err)
	}
	k.Annotations = map[string]string{accessv1alpha1.AnnotationRotate: "2026-11-23"}
	if err := admin.Update(testCtx, k); err != nil {
		t.Fatal(err)
	}
	rotated, fresh := newKey(t, key, "rotated")
	if rotated.Status.PreviousHash != key.Status.Hash || rotated.Status.ObservedRotateRequest != "2026-11-23" || rotated.Status.LastRotatedAt == nil {
		t.Fatalf("status after rotation: %+v", rotated.Status)
	}
	eventuallyVerifies(t, fresh, "VALID")
	// The grace period runs from the rotation; the old key still verifies in it.
	if got := verify(t, old, "", "").Result; got != "VALID" && time.Now().Before(rotated.Status.PreviousValidUntil.Time) {
		t.Fatalf("the old key during its grace period: %s", got)
	}
	expectEvent(t, key, "KeyRotated")
	expectAudit(t, audit.ActionKeyRotated, key)
	// After it, the old key is refused and status forgets its hash.
	eventuallyVerifies(t, old, "NOT_FOUND")
	waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if k.Status.PreviousHash != "" {
			return errors.New("previousHash still set")
		}
		return nil
	})
	if got := verify(t, fresh, "", "").Result; got != "VALID" {
		t.Fatalf("the new key after the grace period: %s", got)
	}
}

// Deleting the delivery Secret cannot bring the plaintext back: the key is
// re-issued as a new key, the old one stops verifying at once, and a Warning
// event says so.
func TestAPIKeySecretDeletedReissues(t *testing.T) {
	admin, _, wsNS := tenantWithAdmin(t)
	key := createKey(t, admin, wsNS)
	old, secret := deliveredKey(t, key)
	canary(t, old)
	eventuallyVerifies(t, old, "VALID")
	if err := adminClient.Delete(testCtx, secret); err != nil {
		t.Fatal(err)
	}
	reissued, fresh := newKey(t, key, "re-issued")
	if reissued.Status.PreviousHash != "" {
		t.Fatal("a key whose Secret was deleted kept a grace period")
	}
	eventuallyVerifies(t, old, "NOT_FOUND")
	eventuallyVerifies(t, fresh, "VALID")
	expectEvent(t, key, "KeyRotated")

	// Deleting the APIKey revokes it.
	if err := admin.Delete(testCtx, reissued); err != nil {
		t.Fatal(err)
	}
	eventuallyVerifies(t, fresh, "NOT_FOUND")
	expectAudit(t, audit.ActionKeyRevoked, reissued)
}

// A Secret of the same name that is not ours is never taken over.
func TestAPIKeySecretNameClash(t *testing.T) {
	admin, _, wsNS := tenantWithAdmin(t)
	name := uniqueName("clash")
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-apikey", Namespace: wsNS}, StringData: map[string]string{"key": "theirs"}}
	if err := adminClient.Create(testCtx, theirs); err != nil {
		t.Fatal(err)
	}
	key := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: wsNS}}
	if err := admin.Create(testCtx, key); err != nil {
		t.Fatal(err)
	}
	waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if c := findCondition(k.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Reason != "SecretConflict" {
			return fmt.Errorf("conditions %+v", k.Status.Conditions)
		}
		return nil
	})
	got := &corev1.Secret{}
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(theirs), got); err != nil || string(got.Data["key"]) != "theirs" {
		t.Fatalf("their Secret was changed: %v", err)
	}
}

func phaseIs(p accessv1alpha1.KeyPhase) func(*accessv1alpha1.APIKey) error {
	return func(k *accessv1alpha1.APIKey) error {
		if k.Status.Phase != p {
			return fmt.Errorf("phase %s", k.Status.Phase)
		}
		return nil
	}
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// expectEvent waits for an event with reason on the APIKey, as
// `kubectl describe apikey` shows it.
func expectEvent(t *testing.T, key *accessv1alpha1.APIKey, reason string) {
	t.Helper()
	eventually(t, "event "+reason+" on "+key.Name, func() error {
		list := &eventsv1.EventList{}
		if err := adminClient.List(testCtx, list, client.InNamespace(key.Namespace)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == key.Name && e.Reason == reason {
				return nil
			}
		}
		return errors.New("no such event yet")
	})
}

// expectAudit waits for the operator's audit record of action on the APIKey.
func expectAudit(t *testing.T, action string, key *accessv1alpha1.APIKey) {
	t.Helper()
	k := &accessv1alpha1.APIKey{}
	if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(key), k); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	org := k.Status.Organization
	if org == "" {
		org = key.Status.Organization
	}
	eventually(t, action+" audited", func() error { return auditedErr(action, org, key.Name) })
}

// newKey waits until key holds a new hash (what says why: rotated, re-issued)
// and returns it with the new plaintext from its Secret, canary-checked.
func newKey(t *testing.T, key *accessv1alpha1.APIKey, what string) (*accessv1alpha1.APIKey, string) {
	t.Helper()
	k := waitKey(t, key, func(k *accessv1alpha1.APIKey) error {
		if k.Status.Hash == key.Status.Hash {
			return errors.New("not " + what + " yet")
		}
		return nil
	})
	plain, _ := deliveredKey(t, k)
	canary(t, plain)
	return k, plain
}

// canary checks that a key's plaintext appears nowhere but its Secret: not in
// any APIKey (status, annotations), not in any event, not in the audit trail,
// not in what the manager logged.
func canary(t *testing.T, plain string) {
	t.Helper()
	t.Cleanup(func() {
		keys := &accessv1alpha1.APIKeyList{}
		evs := &eventsv1.EventList{}
		coreEvs := &corev1.EventList{}
		for _, l := range []client.ObjectList{keys, evs, coreEvs} {
			if err := adminClient.List(testCtx, l); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		trail, err := os.ReadFile(auditFile)
		if err != nil {
			t.Fatal(err)
		}
		log := operator.Log()
		if log == "" {
			t.Error("the manager's log was not captured: the canary would scan nothing")
		}
		scanned := map[string][]byte{"the audit trail": trail, "the manager's log": []byte(log)}
		for name, v := range map[string]any{"APIKeys": keys, "events": evs, "core events": coreEvs} {
			scanned[name], _ = json.Marshal(v)
		}
		for name, raw := range scanned {
			if bytes.Contains(raw, []byte(plain)) || bytes.Contains(raw, []byte(plain[4:])) {
				t.Errorf("a key's plaintext appears in %s", name)
			}
		}
	})
}
