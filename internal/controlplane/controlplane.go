// Package controlplane starts a real kube-apiserver and etcd (built from Go
// modules by hack/k8s-binaries.sh) with the tenantward CRDs installed. Tests and
// the local mode both run on it.
package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tenantward/tenantward/config/crd"
)

// Options configure the control plane.
type Options struct {
	// WithoutGatewayCRDs leaves out the reference gateway.tenantward.io CRDs.
	WithoutGatewayCRDs bool
	// Webhooks, when set, installs webhook configurations that point at a local
	// server (envtest fills in host, port and certificates).
	Webhooks *envtest.WebhookInstallOptions
	// APIServerFlags are extra kube-apiserver flags.
	APIServerFlags map[string]string
	// Aggregation turns on the aggregation layer (see aggregationFlags), for
	// aggregated APIs served by local processes (Env.ServeLocally).
	Aggregation bool
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// aggregationDir holds the front-proxy certificates with Options.Aggregation.
	aggregationDir string
}

// Stop stops kube-apiserver and etcd and removes the front-proxy certificates.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	if e.aggregationDir != "" {
		err = errors.Join(err, os.RemoveAll(e.aggregationDir))
	}
	return err
}

// Start builds the binaries if needed and starts kube-apiserver and etcd.
func Start(o Options) (*Env, error) {
	dir, err := BinaryDir()
	if err != nil {
		return nil, err
	}
	crds, err := CRDs(!o.WithoutGatewayCRDs)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDs:                  crds,
		ErrorIfCRDPathMissing: true,
	}
	if o.Webhooks != nil {
		env.WebhookInstallOptions = *o.Webhooks
	}
	out := &Env{Environment: env}
	apiServer := env.ControlPlane.GetAPIServer()
	flags := o.APIServerFlags
	if o.Aggregation {
		if out.aggregationDir, err = os.MkdirTemp("", "tenantward-front-proxy-"); err != nil {
			return nil, err
		}
		agg, err := aggregationFlags(out.aggregationDir)
		if err != nil {
			return nil, errors.Join(err, os.RemoveAll(out.aggregationDir))
		}
		for k, v := range flags {
			agg[k] = v
		}
		flags = agg
	}
	for k, v := range flags {
		apiServer.Configure().Set(k, v)
	}
	if out.Config, err = env.Start(); err != nil {
		// Start may fail after the processes are up (installing a CRD, say):
		// stop them rather than leave them running.
		return nil, errors.Join(fmt.Errorf("starting kube-apiserver and etcd from %s: %w", dir, err), out.Stop())
	}
	return out, nil
}

// BinaryDir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, otherwise what hack/k8s-binaries.sh builds (or
// has cached) for the checkout this process runs in.
func BinaryDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is not set and %w", err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "k8s-binaries.sh")) //nolint:gosec // runs the checkout's own build script
	cmd.Stderr = os.Stderr
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building kube-apiserver and etcd with hack/k8s-binaries.sh: %w", err)
	}
	dir := strings.TrimSpace(out.String())
	_ = os.Setenv("KUBEBUILDER_ASSETS", dir)
	return dir, nil
}

// BuildOperator builds the tenantward binary of the checkout this process runs
// in into dir, for programs and tests that run the operator as its own process.
func BuildOperator(dir string) (string, error) { return build(dir, "tenantward", ".") }

// BuildVerifier builds the standalone verifier, tenantward-verifier
// (cmd/tenantward-verifier), of this checkout into dir.
func BuildVerifier(dir string) (string, error) {
	return build(dir, "tenantward-verifier", "./cmd/tenantward-verifier")
}

// build builds the package pkg of the checkout into dir/name.
func build(dir, name, pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg) //nolint:gosec // builds this checkout into the caller's directory
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// RepoRoot finds the tenantward checkout from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "k8s-binaries.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no tenantward checkout (hack/k8s-binaries.sh) above the working directory")
		}
		dir = parent
	}
}

// CRDs decodes the embedded CRDs.
func CRDs(withGateway bool) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	err := fs.WalkDir(crd.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		if !withGateway && strings.HasPrefix(path, "gateway/") {
			return nil
		}
		raw, err := crd.Files.ReadFile(path)
		if err != nil {
			return err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096).Decode(c); err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// WriteKubeconfig writes a kubeconfig for a new system:masters user to
// dir/kubeconfig, for kubectl and programs that run beside the control plane,
// and returns its absolute path.
func (e *Env) WriteKubeconfig(dir, user string) (string, error) {
	admin, err := e.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the user %s: %w", user, err)
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, raw, 0o600)
}

// Impersonate returns a copy of cfg that acts as the given user and groups, the
// way `kubectl --as=<user> --as-group=<group>` does.
func Impersonate(cfg *rest.Config, user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append([]string{"system:authenticated"}, groups...)}
	return c
}
