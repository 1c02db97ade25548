package gitops

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantward/tenantward/internal/testenv"
)

// runTenantView has a tenant list their organizations with kubectl through
// the kube-apiserver: the aggregation layer forwards the request to the
// tenant view, which authorizes it with a SubjectAccessReview as the
// operator's service account and reads the front-proxy configuration from
// kube-system with the installed binding (the audit log shows both).
func runTenantView(t *testing.T) {
	orgName := uniqueName("org")
	orgNS := readyOrg(t, orgName)
	user := uniqueName("viewer") + "@example.com"
	create(t, membership(t, orgNS, user, "member"))
	kubeconfig, err := op.Env.WriteKubeconfig(t.TempDir(), "kubectl-view")
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(op.Env.BinaryAssetsDirectory, "kubectl")
	testenv.Eventually(t, ctx, user+" sees "+orgName+" in the tenant view", func() error {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "--as", user, //nolint:gosec // the control plane's own kubectl
			"get", "organizations.tenancy.tenantward.io", "-o", "name").CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl get organizations as %s: %w\n%s", user, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "organization.tenancy.tenantward.io/"+orgName {
			return fmt.Errorf("kubectl printed %q", got)
		}
		return nil
	})
}
