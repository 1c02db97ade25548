package local_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/local"
	"github.com/tenantward/tenantward/internal/plugin"
)

// TestSamplesParse reads the shipped samples the way local mode does.
func TestSamplesParse(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := local.ReadObjects(filepath.Join(root, "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	for kind, min := range map[string]int{"Organization": 1, "Workspace": 2, "Membership": 6, "APIKey": 2, "IntegrationPolicy": 2} {
		if kinds[kind] < min {
			t.Errorf("samples have %d %s, want at least %d", kinds[kind], kind, min)
		}
	}
	if objs[0].GetKind() != "Organization" {
		t.Errorf("first object applied is a %s, want the Organization", objs[0].GetKind())
	}
}

func TestReadObjectsRejectsBadYAML(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("kind: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ReadObjects(dir); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("want an error naming bad.yaml, got %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("metadata: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ReadObjects(dir); err == nil || !strings.Contains(err.Error(), "no apiVersion or kind") {
		t.Fatalf("want an error about the missing kind, got %v", err)
	}
}

// TestLocalMode runs `tenantward local` as a user does: it must print ready,
// leave a working admin kubeconfig with the samples applied, and stop cleanly
// on SIGTERM.
func TestLocalMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts a control plane")
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := controlplane.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := controlplane.BuildOperator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	cmd := exec.Command(bin, "local", "--dir", state, "--samples", filepath.Join(root, "config", "samples"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBEBUILDER_ASSETS="+assets)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	ready := make(chan string, 1)
	var printed syncBuilder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "tenantward local: ready") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case _, ok := <-ready:
		if !ok {
			t.Fatalf("local mode exited before ready:\n%s\nstderr:\n%s", printed.String(), tail(stderr.String()))
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("local mode did not print ready within 4 minutes:\n%s\nstderr:\n%s", printed.String(), tail(stderr.String()))
	}

	kubeconfig := filepath.Join(state, "kubeconfig")
	kubectl := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := kubectl("get", "tenantward", "-A", "-o", "name")
	for _, want := range []string{"organization.access.tenantward.io/acme", "workspace.access.tenantward.io/research", "membership.access.tenantward.io/alice-owner", "apikey.access.tenantward.io/research-app", "integrationpolicy.access.tenantward.io/default"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get tenantward -A does not list %s:\n%s", want, out)
		}
	}
	// The tenant view, through the kube-apiserver, as the printed lines ask it.
	var view []byte
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		view, err = exec.Command(filepath.Join(assets, "kubectl"), "--kubeconfig", kubeconfig, "get", "organizations.tenancy.tenantward.io",
			"--as", "alice@acme.example", "-o", "name").CombinedOutput()
		return err == nil && strings.TrimSpace(string(view)) == "organization.tenancy.tenantward.io/acme", nil
	}); err != nil {
		t.Errorf("alice's organizations in the tenant view: %s", view)
	}
	if !strings.Contains(printed.String(), "kubectl get organizations.tenancy.tenantward.io --as alice@acme.example") {
		t.Errorf("local mode printed no tenant view line:\n%s", printed.String())
	}
	var whoami strings.Builder
	if err := plugin.Run(context.Background(), []string{"whoami", "--kubeconfig", kubeconfig, "--as", "alice@acme.example"}, &whoami); err != nil ||
		!strings.Contains(whoami.String(), "User:   alice@acme.example") || !strings.Contains(whoami.String(), "organization/owner") {
		t.Errorf("kubectl tenantward whoami --as alice@acme.example: %v\n%s", err, whoami.String())
	}
	if !strings.Contains(printed.String(), "kubectl auth can-i") {
		t.Errorf("local mode printed no commands to try:\n%s", printed.String())
	}
	auditFile := filepath.Join(state, "audit.jsonl")
	if !strings.Contains(printed.String(), "audit trail: "+auditFile) {
		t.Errorf("local mode did not print the audit trail's path %s:\n%s", auditFile, printed.String())
	}
	var trail strings.Builder
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		trail.Reset()
		err := audit.RunReader([]string{"--file", auditFile, "--kind", "Organization", "--name", "acme", "--action", "create", "--output", "json"}, nil, &trail, io.Discard, time.Now())
		return err == nil && trail.Len() > 0, nil
	}); err != nil {
		t.Errorf("the audit trail %s has no record of the sample Organization's creation: %v", auditFile, err)
	}

	// As a gateway, the way the printed lines do it: the key comes from its
	// delivery Secret and the verifier accepts it.
	if !strings.Contains(printed.String(), "/v1/verify") {
		t.Errorf("local mode printed no verify line:\n%s", printed.String())
	}
	encoded := kubectl("get", "secret", "research-app-apikey", "-n", "acme-research", "-o", "jsonpath={.data.key}")
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://127.0.0.1:18090/v1/verify", "application/json", strings.NewReader(`{"key":"`+string(key)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `"result":"VALID"`) || !strings.Contains(string(body), `"workspace":"research"`) {
		t.Errorf("the verifier did not accept the sample key: %s", body)
	}
	if strings.Contains(printed.String(), string(key)) {
		t.Error("local mode printed the key's plaintext")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("local mode exited with %v after SIGTERM; stderr:\n%s", err, tail(stderr.String()))
		}
	case <-time.After(time.Minute):
		t.Fatal("local mode did not stop within a minute of SIGTERM")
	}
	if !strings.Contains(printed.String(), "stopping the control plane") {
		t.Errorf("local mode did not say it stopped the control plane:\n%s", printed.String())
	}
}

// syncBuilder is a strings.Builder safe to read while the output reader writes.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
