package packaging

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHelmInstallUpgradeUninstall runs a real `helm install`, `helm upgrade`
// and `helm uninstall` against the API server (no kubelet runs here, so no
// pod starts) and checks what docs/install.md promises: the install creates
// the webhook configuration, and with no replica serving it the webhooks fail
// closed; an upgrade changes the Deployment in place; an uninstall removes the
// operator and its webhook configuration but keeps the CRDs and so every
// tenantward object.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	const release, ns = "life", "tw-lifecycle"
	chart := filepath.Join(root, "charts", "tenantward")
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	helmRun := func(args ...string) (string, error) {
		return runTool(helm, nil, append(args, "--kubeconfig", kubeconfig, "--namespace", ns)...)
	}

	// The control plane has the CRDs already; let the release adopt them, as
	// Helm does for objects carrying its ownership metadata.
	crds := strings.Fields(must(kubectlRun(nil, "get", "crd", "-o", "name")))
	for _, crd := range crds {
		if !strings.Contains(crd, "tenantward.io") {
			continue
		}
		must(kubectlRun(nil, "label", "--overwrite", crd, "app.kubernetes.io/managed-by=Helm"))
		must(kubectlRun(nil, "annotate", "--overwrite", crd, "meta.helm.sh/release-name="+release, "meta.helm.sh/release-namespace="+ns))
	}

	must(helmRun("install", release, chart, "--create-namespace", "--wait=false"))
	must(kubectlRun(nil, "get", "validatingwebhookconfiguration", release+"-tenantward"))
	org := []byte("apiVersion: access.tenantward.io/v1alpha1\nkind: Organization\nmetadata:\n  name: lifecycle\nspec:\n  displayName: Lifecycle\n")
	if out, err := kubectlRun(org, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("with no replica serving, creating an Organization must fail closed at the webhook; got %v\n%s", err, out)
	}

	must(helmRun("upgrade", release, chart, "--reuse-values", "--set", "manager.replicas=3"))
	if got := must(kubectlRun(nil, "-n", ns, "get", "deployment", release+"-tenantward", "-o", "jsonpath={.spec.replicas}")); got != "3" {
		t.Errorf("after the upgrade the Deployment has %s replicas, want 3", got)
	}

	must(helmRun("uninstall", release))
	for _, gone := range []string{"validatingwebhookconfiguration/" + release + "-tenantward", "clusterrole/" + release + "-tenantward-manager"} {
		if out, err := kubectlRun(nil, "get", gone); err == nil {
			t.Errorf("%s survived the uninstall:\n%s", gone, out)
		}
	}
	if out, err := kubectlRun(nil, "-n", ns, "get", "deployment", release+"-tenantward"); err == nil {
		t.Errorf("the Deployment survived the uninstall:\n%s", out)
	}
	for _, kept := range []string{"crd/organizations.access.tenantward.io", "crd/apikeys.access.tenantward.io", "crd/prompts.gateway.tenantward.io"} {
		if _, err := kubectlRun(nil, "get", kept); err != nil {
			t.Errorf("%s was deleted by the uninstall (crds.keep): %v", kept, err)
		}
	}
	// With the webhook configuration gone, tenantward objects are plain API objects again.
	must(kubectlRun(org, "create", "-f", "-"))
}
