package gateway

import (
	"testing"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestModelAccessThroughNginx: behind nginx's auth_request, the verifier
// reads the model from the x-tenantward-model header, which nginx passes on
// from the client (auth_request sends no body). A key limited to models
// reaches the upstream only with a model of its list in that header, and is
// refused (403, upstream not reached) with another or none. The header is the
// client's word: docs/gateways.md says what that enforces and what it does not.
func TestModelAccessThroughNginx(t *testing.T) {
	_, _, ns := tenant(t, "gwmodels")
	limited := func(k *accessv1alpha1.APIKey) { k.Spec.Models = []accessv1alpha1.ModelPattern{"stub-*"} }
	key, plain := issue(t, ns, "stub-only", accessv1alpha1.APIKeyPermissions{Completions: accessv1alpha1.ToggleEnabled}, limited)
	if len(key.Status.Models) != 1 || key.Status.Models[0] != "stub-*" {
		t.Fatalf("status.models %v, want [stub-*]", key.Status.Models)
	}
	fd, _ := frontDoor(t)
	c := caller{t: t, fd: fd, base: fd.URL}
	for _, tc := range []struct {
		name    string
		header  []string
		status  int
		reached bool
	}{
		{"a model of the key's list", []string{"X-Tenantward-Model", "stub-model"}, 200, true},
		{"another model", []string{"X-Tenantward-Model", "gpt-4o"}, 403, false},
		{"a joined list", []string{"X-Tenantward-Model", "stub-model,gpt-4o"}, 403, false},
		{"no model", nil, 403, false},
	} {
		a := c.call("POST", "/v1/chat/completions", plain, tc.header...)
		if a.status != tc.status || a.reached != tc.reached {
			t.Errorf("%s: %d (upstream reached: %v): %s; want %d (reached: %v)", tc.name, a.status, a.reached, a.body, tc.status, tc.reached)
		}
	}
}
