// Package packaging tests the two installs of tenantward, the Helm chart
// (charts/tenantward) and kustomize (config/default), against a real
// kube-apiserver: every rendered manifest is applied with server-side dry-run
// (CRDs for real first), the rendered RBAC is checked for least privilege, and
// the rendered pods are admitted by the restricted Pod Security profile.
package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/tenantward/tenantward/internal/controlplane"
)

var (
	root       string // the checkout
	kubectl    string // the kubectl matching the control plane
	helm       string // bin/helm, built by `make helm`
	kubeconfig string // an admin kubeconfig for the control plane
	workDir    string // removed when the tests end
	clientset  *kubernetes.Clientset
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = controlplane.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if helm, err = findHelm(); err != nil {
		fmt.Fprintln(os.Stderr, "packaging tests need helm:", err)
		return 1
	}
	env, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kubectl = filepath.Join(env.BinaryAssetsDirectory, "kubectl")

	if workDir, err = os.MkdirTemp("", "tenantward-packaging-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(workDir) }()
	if kubeconfig, err = env.WriteKubeconfig(workDir, "packaging-admin"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if clientset, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// CRDs of the optional integrations (cert-manager, Prometheus Operator), so
	// the non-default renders have somewhere to go.
	if _, err := kubectlRun(nil, "apply", "--server-side", "-f", filepath.Join(root, "test", "packaging", "testdata", "integration-crds.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// findHelm returns bin/helm, building it with `make helm` when it is missing.
func findHelm() (string, error) {
	path := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := exec.Command("make", "-C", root, "helm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bin/helm is missing and `make helm` failed: %w", err)
	}
	return path, nil
}

// kubectlRun runs kubectl against the control plane with stdin and returns its
// standard output. Anything kubectl prints on standard error (a warning about a
// pruned field, a deprecated API, a Pod Security violation) is an error too.
func kubectlRun(stdin []byte, args ...string) (string, error) {
	return runTool(kubectl, stdin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

func runTool(bin string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil && stderr.Len() > 0 {
		err = errors.New("unexpected output on standard error")
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
