package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// TestWebhookExclusionsAreReserved checks that every namespace a rendered
// webhook configuration skips is one the rendered operator configuration
// reserves, so that no Organization or Workspace can live where no webhook
// looks (the chart renders both from webhook.excludeNamespaces).
func TestWebhookExclusionsAreReserved(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			var conf *config.Config
			for _, cm := range in.ofKind("ConfigMap") {
				if raw, ok := cm.Object["data"].(map[string]any)["config.yaml"].(string); ok && strings.Contains(cm.GetName(), "-config") {
					path := filepath.Join(t.TempDir(), "config.yaml")
					if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
						t.Fatal(err)
					}
					var err error
					if conf, err = config.Load(path); err != nil {
						t.Fatal(err)
					}
				}
			}
			if conf == nil {
				t.Fatal("renders no configuration ConfigMap")
			}
			reserved := tenancy.NewReserved(in.namespace, conf.ExcludedNamespaces)
			for _, wc := range in.ofKind("ValidatingWebhookConfiguration") {
				hooks, _, _ := unstructured.NestedSlice(wc.Object, "webhooks")
				for _, h := range hooks {
					exprs, _, _ := unstructured.NestedSlice(h.(map[string]any), "namespaceSelector", "matchExpressions")
					for _, e := range exprs {
						values, _, _ := unstructured.NestedStringSlice(e.(map[string]any), "values")
						for _, ns := range values {
							if reserved.Check(ns) == nil {
								t.Errorf("webhook %v skips namespace %s, which the operator's configuration does not reserve", h.(map[string]any)["name"], ns)
							}
						}
					}
				}
			}
		})
	}
}

// TestRenderedConfigLoads feeds the operator configuration every install
// renders (platform identities, feature map, route map, audit sinks) to the
// manager's own strict loader, so a chart value the operator would reject at
// start-up fails here instead.
func TestRenderedConfigLoads(t *testing.T) {
	for _, in := range renderAll(t) {
		t.Run(in.name, func(t *testing.T) {
			var found bool
			for _, cm := range in.ofKind("ConfigMap") {
				if !strings.Contains(cm.GetName(), "-config") {
					continue
				}
				found = true
				raw, ok := cm.Object["data"].(map[string]any)["config.yaml"].(string)
				if !ok {
					t.Fatalf("ConfigMap %s has no config.yaml", cm.GetName())
				}
				path := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := config.Load(path); err != nil {
					t.Errorf("the manager rejects the rendered configuration: %v\n%s", err, raw)
				}
			}
			if !found {
				t.Fatal("renders no configuration ConfigMap")
			}
		})
	}
}
