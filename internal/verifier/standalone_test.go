package verifier_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/syncbuf"
	"github.com/tenantward/tenantward/internal/testenv"
)

// TestStandaloneBinary runs the binary the chart's verifier Deployment runs,
// cmd/tenantward-verifier, as its own process with the kubeconfig of the
// verifier's service account, bound only by the role the installs give it:
// it loads a key, serves its own /metrics, and stops cleanly on SIGTERM,
// with no error logged and the key's plaintext nowhere in its output.
func TestStandaloneBinary(t *testing.T) {
	env := controlPlane(t)
	ids, err := env.InstallRBAC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ids.Verifier.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := controlplane.BuildVerifier(dir)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: accessv1alpha1.ToggleEnabled})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var out syncbuf.Buffer
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--bind-address", addr, "--grpc-bind-address", "0") //nolint:gosec // the binary built above
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, context.Background(), "the standalone verifier is ready", func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
	if got := postVerify(t, base, plain); got != "VALID" {
		t.Fatalf("the issued key: %s", got)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{"tenantward_verifier_keys ", `tenantward_verifier_results_total{endpoint="verify",result="VALID"} 1`, "go_goroutines ", "process_resident_memory_bytes "} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if bytes.Contains(metrics, []byte(plain)) {
		t.Error("/metrics holds the key")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the verifier exited with %v:\n%s", err, out.String())
		}
	case <-time.After(testenv.PollTimeout):
		t.Fatal("the verifier did not stop after SIGTERM")
	}
	logs := out.String()
	if strings.Contains(logs, `"level":"error"`) {
		t.Errorf("the verifier logged an error:\n%s", logs)
	}
	if strings.Contains(logs, plain) {
		t.Error("the verifier's output holds the key")
	}
}
