package gitops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// useKey verifies a fresh key through the embedded verifier until its
// status.lastUsedAt appears, then through the standalone one (at standalone)
// until it moves to a later period: each verifier's writer reads and patches
// apikeys/status as its own service account.
func useKey(t *testing.T, standalone string) {
	orgName := uniqueName("org")
	wsNS := readyWorkspace(t, readyOrg(t, orgName), "app", orgName)
	key := eventually(t, create(t, apiKey(t, wsNS, "used", "")), current, "Active")
	secret := &corev1.Secret{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: wsNS, Name: "used-apikey"}, secret); err != nil {
		t.Fatal(err)
	}
	plain := string(secret.Data["key"])
	var first time.Time
	for _, base := range []string{embeddedVerifier, standalone} {
		testenv.Eventually(t, ctx, "lastUsedAt written after a verification at "+base, func() error {
			if got := verify(t, base, plain); got != "VALID" {
				return fmt.Errorf("the key answers %s", got)
			}
			k := &accessv1alpha1.APIKey{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(key), k); err != nil {
				return err
			}
			if k.Status.LastUsedAt == nil || !k.Status.LastUsedAt.After(first) {
				return fmt.Errorf("lastUsedAt is %v", k.Status.LastUsedAt)
			}
			first = k.Status.LastUsedAt.Time
			return nil
		})
	}
}

// verify asks the verifier at base about key and returns the result code.
func verify(t *testing.T, base, key string) string {
	t.Helper()
	body, _ := json.Marshal(verifier.VerifyRequest{Key: key})
	resp, err := http.Post(base+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out verifier.VerifyResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Result
}
