package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantward/tenantward/internal/config"
)

// TestPlatformIdentitiesAreSystemIdentities: a bare user or group name could
// be a tenant's, who would then bypass every tenancy rule; loading refuses it.
func TestPlatformIdentitiesAreSystemIdentities(t *testing.T) {
	for yaml, want := range map[string]string{
		"platformIdentities: {users: [admin]}":              `platformIdentities.users: "admin" is not a system: identity`,
		"platformIdentities: {groups: [platform-admins]}":   `platformIdentities.groups: "platform-admins" is not a system: identity`,
		"platformIdentities: {serviceAccounts: [argocd]}":   `platformIdentities.serviceAccounts: "argocd" is not <namespace>/<name>`,
		"platformIdentities: {serviceAccounts: [a/B_c]}":    `"a/B_c" is not <namespace>/<name>`,
		"platformIdentities: {users: [system:gitops]}":      "",
		"platformIdentities: {serviceAccounts: [argo/app]}": "",
		"verifierIdentity: verifier":                        `verifierIdentity: "verifier" is not a system: identity`,
		"verifierIdentity: system:serviceaccount:tw:v":      "",
	} {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", yaml, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", yaml, err, want)
		}
	}
}
