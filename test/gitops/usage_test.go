package gitops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// useKey verifies a fresh key through each verifier, the embedded one and
// the standalone one (at standalone), until that key's status.lastUsedAt
// appears: each verifier's writer reads and patches apikeys/status as its own
// service account. Each verifier has a key of its own: with one key for
// both, the embedded verifier, which recorded uses in several periods while
// the test polled it, could write a later period itself, and the standalone
// one's rights would go unused (TestGitOps/EveryRightUsed).
func useKey(t *testing.T, standalone string) {
	orgName := uniqueName("org")
	wsNS := readyWorkspace(t, readyOrg(t, orgName), "app", orgName)
	for _, use := range []struct{ name, base string }{{"used-embedded", embeddedVerifier}, {"used-standalone", standalone}} {
		key := eventually(t, create(t, apiKey(t, wsNS, use.name, "")), current, "Active")
		secret := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: wsNS, Name: use.name + "-apikey"}, secret); err != nil {
			t.Fatal(err)
		}
		plain := string(secret.Data["key"])
		testenv.Eventually(t, ctx, "lastUsedAt written after a verification at "+use.base, func() error {
			if got := verify(t, use.base, plain); got != "VALID" {
				return fmt.Errorf("the key answers %s", got)
			}
			k := &accessv1alpha1.APIKey{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(key), k); err != nil {
				return err
			}
			if k.Status.LastUsedAt == nil {
				return errors.New("lastUsedAt is not written")
			}
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
