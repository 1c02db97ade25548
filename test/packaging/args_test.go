package packaging

import (
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestRenderedArgsAreFlagsTheBinaryKnows hands every rendered container's
// command line to the real binary of the image it names (the entrypoint
// /tenantward, or the command, /tenantward-verifier for the standalone
// verifier) with -h appended: flag parsing stops at the first flag it does
// not know, so a flag the chart or kustomize passes but the binary lacks (or
// a malformed value) fails here, not in a crash-looping pod. The standalone
// verifier's Deployment must run the verifier's own binary.
func TestRenderedArgsAreFlagsTheBinaryKnows(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			for _, o := range in.ofKind("Deployment") {
				var d appsv1.Deployment
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
					t.Fatal(err)
				}
				for _, c := range d.Spec.Template.Spec.Containers {
					// The kubelet expands $(VAR) from the container's environment.
					args := strings.Split(strings.ReplaceAll(strings.Join(c.Args, "\x00"), "$(POD_NAMESPACE)", in.namespace), "\x00")
					name, usage := operatorBinary, args[0] // the entrypoint; the first argument names its command
					if len(c.Command) > 0 {
						name = strings.TrimPrefix(c.Command[0], "/")
						usage = name
					}
					if want := verifierBinary; strings.HasSuffix(d.Name, "-verifier") && name != want {
						t.Errorf("Deployment %s runs %s, not /%s", d.Name, name, want)
						continue
					}
					out, _ := exec.Command(binaryFromImageContext(t, name), append(args, "-h")...).CombinedOutput()
					if !strings.Contains(string(out), "Usage of "+usage) || strings.Contains(string(out), "invalid") ||
						strings.Contains(string(out), "not defined") {
						t.Errorf("Deployment %s container %s: the binary does not accept %q:\n%s", d.Name, c.Name, args, out)
					}
				}
			}
		})
	}
}
