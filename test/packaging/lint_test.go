package packaging

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestChartLints runs `helm lint --strict` with the default and the
// every-feature values, as `make helm-lint` does.
func TestChartLints(t *testing.T) {
	chart := filepath.Join(root, "charts", "tenantward")
	for name, args := range map[string][]string{
		"default values":      nil,
		"all-features values": {"-f", filepath.Join(chart, "ci", "all-features-values.yaml")},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := runTool(helm, nil, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chart}, args...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestChartRejectsBadValues shows values.schema.json turns a mistake into a
// precise error instead of a broken install.
func TestChartRejectsBadValues(t *testing.T) {
	chart := filepath.Join(root, "charts", "tenantward")
	for set, want := range map[string]string{
		"webhook.timeoutSeconds=60":                          "/webhook/timeoutSeconds",
		"verifier.mode=sidecar":                              "/verifier/mode",
		"webhook.certificate.mode=manual":                    "/webhook/certificate/mode",
		"manager.replicas=0":                                 "/manager/replicas",
		"config.platformIdentities.serviceAccounts={argocd}": "/config/platformIdentities/serviceAccounts/0",
		"replica=2": "additional properties 'replica' not allowed",
	} {
		t.Run(set, func(t *testing.T) {
			_, err := runTool(helm, nil, "template", "tw", chart, "--kube-version", kubeVersion, "--set", set)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("want an error naming %q, got %v", want, err)
			}
		})
	}
}
