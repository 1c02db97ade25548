package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantward/tenantward/internal/config"
)

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
