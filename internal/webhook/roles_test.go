package webhook

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// TestTenancyIsByUID: a namespace is an organization's or workspace's only if
// it is the live object's namespace and records its UID; labels copied onto
// another namespace, a recorded UID of an earlier object, or a gone workspace
// make it stale.
func TestTenancyIsByUID(t *testing.T) {
	inf := fixture(20)
	add := func(name, org, ws, uid string) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tenancy.Labels(org, ws),
			Annotations: map[string]string{v1.AnnotationOwnerUID: uid}}}
		if err := inf.Namespaces.(cache.Store).Add(ns); err != nil {
			t.Fatal(err)
		}
	}
	add("forged", "org0", "", "org0-uid")
	add("forged-ws", "org0", "ws", "org0-ws-uid")
	add("org0--gone", "org0", "gone", "gone-uid")
	r := &Resolver{Informers: inf}
	for ns, want := range map[string]string{
		"org-org0":   "",
		"org0-ws":    "",
		"forged":     "namespace forged is not the namespace of organization org0 (org-org0 is)",
		"forged-ws":  "namespace forged-ws is not the namespace of workspace ws of organization org0 (org0-ws is)",
		"org0--gone": "workspace gone does not exist in org-org0",
	} {
		got, err := r.Tenancy(ns)
		var stale *StaleNamespaceError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", ns, err)
		case want == "":
		case !errors.As(err, &stale) || !strings.Contains(err.Error(), want):
			t.Errorf("%s: got %v, want a stale namespace: %s", ns, err, want)
		case got.Organization != "org0":
			t.Errorf("%s: the stale tenancy keeps what the labels say, got %+v", ns, got)
		}
	}
}
