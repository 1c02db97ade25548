package packaging

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestInstallsApplyWithServerSideDryRun applies every rendering of the chart
// and of kustomize to the real API server: CRDs and the namespace for real (so
// custom resources validate against them), everything else with server-side
// dry-run and strict field validation, so each manifest is valid for
// Kubernetes 1.37 as rendered, without warnings.
func TestInstallsApplyWithServerSideDryRun(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			crds := in.ofKind("CustomResourceDefinition")
			if len(crds) == 0 {
				t.Fatal("renders no CustomResourceDefinition")
			}
			if _, err := kubectlRun(yamlOf(t, crds), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
				t.Fatal(err)
			}
			if _, err := kubectlRun(yamlOf(t, []*unstructured.Unstructured{namespaceOf(in)}), "apply", "--server-side", "-f", "-"); err != nil {
				t.Fatal(err)
			}
			var rest []*unstructured.Unstructured
			for _, o := range in.objects {
				if o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "Namespace" {
					rest = append(rest, o)
				}
			}
			out, err := kubectlRun(yamlOf(t, rest), "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range rest {
				if !dryRunApplied(out, o) {
					t.Errorf("the API server did not accept %s %s/%s:\n%s", o.GetKind(), o.GetNamespace(), o.GetName(), out)
				}
			}
		})
	}
}

// namespaceOf is the install's own Namespace object, or one like it for the
// chart (Helm installs into an existing namespace).
func namespaceOf(in install) *unstructured.Unstructured {
	if ns := in.ofKind("Namespace"); len(ns) == 1 {
		return ns[0]
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(in.namespace)
	return ns
}

// dryRunApplied reports whether kubectl's output has the line for o, such as
// "deployment.apps/tenantward serverside-applied (server dry run)".
func dryRunApplied(out string, o *unstructured.Unstructured) bool {
	kind, suffix := strings.ToLower(o.GetKind()), "/"+o.GetName()+" serverside-applied (server dry run)"
	for _, line := range strings.Split(out, "\n") {
		resource, _, _ := strings.Cut(line, "/")
		if strings.HasSuffix(line, suffix) && (resource == kind || strings.HasPrefix(resource, kind+".")) {
			return true
		}
	}
	return false
}
