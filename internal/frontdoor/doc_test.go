package frontdoor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/frontdoor"
)

// inCluster is the configuration docs/gateways.md shows: nginx beside the
// gateway in its pod, the verifier behind its Service.
var inCluster = frontdoor.NginxConfig{
	Dir:      "/tmp/nginx",
	Listen:   "8080",
	Verifier: "tenantward-verifier.tenantward-system.svc.cluster.local:8090",
	Upstream: "127.0.0.1:8787",
}

// TestDocShowsNginxConfig keeps the nginx configuration in docs/gateways.md
// the one the gateway tests and local mode run, verbatim.
func TestDocShowsNginxConfig(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "gateways.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "```nginx\n" + inCluster.Render() + "```\n"
	if !strings.Contains(string(doc), want) {
		t.Fatalf("docs/gateways.md does not show the front door's nginx configuration (internal/frontdoor/nginx.go) verbatim; it should hold:\n%s", want)
	}
}
