// Package local runs tenantward on a control plane it starts itself: a real
// kube-apiserver and etcd, the CRDs, the operator with its webhooks and
// verifier, and the samples. It is the embedded default for trying the product.
package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/manager"
	admissionwebhooks "github.com/tenantward/tenantward/internal/webhook"
)

// Options configure local mode.
type Options struct {
	// Dir receives the kubeconfig and other local state (default .local).
	Dir string
	// Samples is the directory of YAML applied once the operator runs.
	Samples string
	// Manager are the operator's settings, with local defaults.
	Manager manager.Options
	// Gateway starts the front door too: nginx with auth_request to the
	// verifier, the Portkey gateway and a stub upstream (internal/frontdoor).
	Gateway bool
}

// The front door's local addresses: clients call nginx on FrontDoorAddr, and
// the gateway calls the stub upstream on StubAddr.
const (
	FrontDoorAddr = "127.0.0.1:18000"
	StubAddr      = "127.0.0.1:18999"
	gatewayPort   = 18787
)

// Command runs local mode: `tenantward local [flags]`.
func Command(args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	o := Options{}
	o.Manager.BindFlags(fs)
	fs.StringVar(&o.Dir, "dir", ".local", "directory for the kubeconfig and other local state")
	fs.StringVar(&o.Samples, "samples", "config/samples", "directory of sample YAML to apply")
	fs.BoolVar(&o.Gateway, "gateway", false, "also start nginx (auth_request to the verifier) on "+FrontDoorAddr+" in front of the Portkey AI gateway "+frontdoor.PortkeyVersion+" and a stub upstream (installs them with hack/portkey-gateway.sh)")
	zo := zap.Options{}
	zo.BindFlags(fs)
	// Local defaults: loopback only, ports unlikely to clash with a real cluster's tools.
	_ = fs.Set("metrics-bind-address", "127.0.0.1:18080")
	_ = fs.Set("health-probe-bind-address", "127.0.0.1:18081")
	_ = fs.Set("webhook-host", "127.0.0.1")
	_ = fs.Set("verifier-bind-address", "127.0.0.1:18090")
	_ = fs.Set("verifier-grpc-bind-address", "127.0.0.1:18091")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, o, os.Stdout)
}

// Run starts the control plane and the operator, applies the samples, prints
// `ready` and what to try, and stops everything when ctx ends.
func Run(ctx context.Context, o Options, out io.Writer) (err error) {
	fmt.Fprintln(out, "tenantward local: starting kube-apiserver and etcd (the first run builds them from Go modules, about 5 minutes)...")
	env, err := controlplane.Start(controlplane.Options{Webhooks: webhookOptions(o), Aggregation: true})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "tenantward local: stopping the control plane...")
		err = errors.Join(err, env.Stop())
	}()

	kubeconfig, err := env.WriteKubeconfig(o.Dir, "tenantward-local-admin")
	if err != nil {
		return err
	}

	if o.Manager.EnableWebhooks {
		o.Manager.WebhookHost = env.WebhookInstallOptions.LocalServingHost
		o.Manager.WebhookPort = env.WebhookInstallOptions.LocalServingPort
		o.Manager.WebhookCertDir = env.WebhookInstallOptions.LocalServingCertDir
		// envtest made the certificates and patched the caBundle.
		o.Manager.WebhookCerts.Mode = admissionwebhooks.CertsExternal
	}
	if o.Manager.AuditFile == "" {
		if o.Manager.AuditFile, err = filepath.Abs(filepath.Join(o.Dir, "audit.jsonl")); err != nil {
			return err
		}
	}
	if err := rotate(o.Manager.AuditFile); err != nil {
		return err
	}
	admin, err := client.New(env.Config, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return err
	}
	// The operator runs as its service account, with only the rights an install grants.
	ids, err := env.InstallRBAC(ctx)
	if err != nil {
		return err
	}
	if o.Manager.TenantView, err = ServeTenantView(ctx, env, admin, ids.Manager, o.Dir); err != nil {
		return err
	}
	mgr, err := manager.New(ids.Manager.Config(), o.Manager)
	if err != nil {
		return err
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-mgrDone)
	}()

	applyCtx, applyCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer applyCancel()
	applied, err := ApplySamples(applyCtx, env.Config, o.Samples)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tenantward local: applied %d sample objects from %s\n", applied, o.Samples)
	key, err := waitForKeys(applyCtx, env.Config)
	if err != nil {
		return err
	}

	info := readyInfo{kubeconfig: kubeconfig, auditFile: o.Manager.AuditFile, env: env, key: key, verifier: o.Manager.VerifierAddr}
	if o.Gateway {
		fd, err := startFrontDoor(o, out)
		if err != nil {
			return err
		}
		defer fd.Stop()
		info.frontDoor = fd
	}
	printReady(out, info)

	select {
	case <-ctx.Done():
		return nil
	case err := <-mgrDone:
		mgrDone <- err
		return fmt.Errorf("the operator stopped: %w", err)
	}
}

// rotate starts a fresh audit trail for this run: the previous run's file
// becomes <file>.1 (replacing the one before it), so one run's records are
// never mixed with another's.
func rotate(file string) error {
	err := os.Rename(file, file+".1")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keeping the previous audit trail as %s.1: %w", file, err)
	}
	return nil
}

// webhookOptions installs the webhook configurations from config/webhook when
// webhooks are enabled and the checkout has them.
func webhookOptions(o Options) *envtest.WebhookInstallOptions {
	if !o.Manager.EnableWebhooks {
		return nil
	}
	path := filepath.Join("config", "webhook")
	if _, err := os.Stat(filepath.Join(path, "manifests.yaml")); err != nil {
		return nil
	}
	return &envtest.WebhookInstallOptions{
		Paths:            []string{path},
		LocalServingHost: o.Manager.WebhookHost,
	}
}

// readyInfo is what the ready message points the user at.
type readyInfo struct {
	kubeconfig, auditFile, verifier string
	env                             *controlplane.Env
	// key is a sample workspace key whose Secret the curl lines read; may be nil.
	key *accessv1alpha1.APIKey
	// frontDoor is nil unless --gateway started it.
	frontDoor *frontdoor.FrontDoor
}

// startFrontDoor installs (when missing) and starts nginx, the Portkey gateway
// and the stub upstream in front of the verifier.
func startFrontDoor(o Options, out io.Writer) (*frontdoor.FrontDoor, error) {
	if o.Manager.VerifierAddr == "" || o.Manager.VerifierAddr == "0" {
		return nil, errors.New("--gateway needs the verifier: do not set --verifier-bind-address=0")
	}
	fmt.Fprintf(out, "tenantward local: starting nginx, the Portkey gateway %s and a stub upstream (the first run installs them)...\n", frontdoor.PortkeyVersion)
	nginx, portkeyDir, err := frontdoor.Prepare()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(o.Dir, "frontdoor"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return frontdoor.Start(frontdoor.Options{
		Dir: dir, Listen: FrontDoorAddr, Verifier: o.Manager.VerifierAddr,
		GatewayPort: gatewayPort, StubAddr: StubAddr, Nginx: nginx, PortkeyDir: portkeyDir,
	})
}

func printReady(out io.Writer, r readyInfo) {
	kubectl := filepath.Join(r.env.BinaryAssetsDirectory, "kubectl")
	self, err := os.Executable()
	if err != nil {
		self = "tenantward"
	}
	fmt.Fprintf(out, `
tenantward local: ready
  kubeconfig: %[1]s
  audit trail: %[3]s (new each run; the previous run's is %[3]s.1)

Try it (in another terminal):
  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s
  kubectl get tenantward -A                                   # everything tenantward manages
  kubectl get organizations,workspaces -A
  kubectl get memberships -n org-acme
  # as the org owner, an org member and a workspace manager:
  kubectl auth can-i delete workspaces -n org-acme --as alice@acme.example                                   # yes
  kubectl auth can-i create prompts -n acme--research --as erin@acme.example --as-group acme:engineers       # yes
  kubectl auth can-i publish prompts -n acme--research --as erin@acme.example --as-group acme:engineers      # no
  kubectl auth can-i create memberships -n acme--research --as dave@acme.example                             # yes
  kubectl auth can-i filter logs.gateway.tenantward.io -n acme--research --as dave@acme.example              # yes
  kubectl auth can-i group analytics.gateway.tenantward.io -n org-acme --as dave@acme.example                # no
  # the tenant view: what each of them sees of their own tenancy
  kubectl get organizations.tenancy.tenantward.io --as alice@acme.example
  kubectl get workspaces.tenancy.tenantward.io --as erin@acme.example --as-group acme:engineers
  kubectl get accesses -n acme--research -o yaml --as dave@acme.example
  # the org switcher (go install ./cmd/kubectl-tenantward puts kubectl tenantward on your PATH):
  go run ./cmd/kubectl-tenantward whoami --as alice@acme.example
  go run ./cmd/kubectl-tenantward workspaces --as erin@acme.example --as-group acme:engineers
  go run ./cmd/kubectl-tenantward access -n acme--research --as dave@acme.example
  # who did what: the audit trail, filtered
  %[4]s audit --file %[3]s --organization acme --since 1h
`, r.kubeconfig, kubectl, r.auditFile, self)
	if r.key != nil && r.verifier != "" && r.verifier != "0" {
		fmt.Fprintf(out, `  # as a gateway: verify the sample key %[1]s/%[2]s (read from its delivery Secret)
  KEY=$(kubectl get secret %[3]s -n %[1]s -o jsonpath='{.data.key}' | base64 -d)
  curl -s http://%[4]s/v1/verify -d "{\"key\":\"$KEY\"}"
  curl -si http://%[4]s/v1/auth -H "Authorization: Bearer $KEY" -H 'X-Original-Method: POST' -H 'X-Original-URI: /v1/chat/completions'
`, r.key.Namespace, r.key.Name, r.key.Status.SecretName, r.verifier)
		if fd := r.frontDoor; fd != nil {
			fmt.Fprintf(out, `  # as a client of the Portkey gateway, through nginx and the verifier, to a local stub provider
  # (logs: %[3]s/nginx.log and %[3]s/gateway.log)
  curl -s %[1]s/v1/chat/completions -H "x-portkey-api-key: $KEY" \
    -H 'x-portkey-provider: openai' -H 'x-portkey-custom-host: %[2]s' -H 'Authorization: Bearer sk-local-stub' \
    -H 'Content-Type: application/json' -d '{"model":"stub","messages":[{"role":"user","content":"Hello"}]}'
`, fd.URL, fd.Stub.URL, fd.Nginx.Dir)
		}
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
}
