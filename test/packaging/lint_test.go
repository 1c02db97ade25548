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
		"config.platformIdentities.users={admin}":            "/config/platformIdentities/users/0",
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

// TestNotesSayWhatToDoNext renders NOTES.txt the way `helm install` prints it
// and checks it names the commands and addresses for this release.
func TestNotesSayWhatToDoNext(t *testing.T) {
	chart := filepath.Join(root, "charts", "tenantward")
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"default values": {nil, []string{
			"rollout status deployment/tw-tenantward",
			"kind: Organization",
			"http://tw-tenantward-verifier.tw-notes.svc:8090",
			"tw-tenantward-verifier.tw-notes.svc:8091",
		}},
		"all-features values": {[]string{"-f", filepath.Join(chart, "ci", "all-features-values.yaml")}, []string{
			"rollout status deployment/tw-verifier",
			"get certificate tw-webhook",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			// The control plane already has the CRDs, which Helm refuses to adopt.
			out, err := runTool(helm, nil, append([]string{"install", "tw", chart, "--namespace", "tw-notes",
				"--dry-run=client", "--kubeconfig", kubeconfig, "--set", "crds.install=false,gatewayCRDs.install=false"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			_, notes, ok := strings.Cut(out, "\nNOTES:\n")
			if !ok {
				t.Fatalf("helm install printed no NOTES:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
		})
	}
}
