// Package testenv runs the operator on a real control plane for tests: a
// kube-apiserver and etcd with the CRDs (and, when asked, the generated webhook
// configuration), and the operator's manager serving them as its own service
// account under the RBAC the installs grant. One per test package, started
// from TestMain.
package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/local"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/syncbuf"
	"github.com/tenantward/tenantward/internal/webhook"
)

// Polling bounds for tests: generous, because tests run on a loaded 2-core machine.
const (
	PollTimeout  = 60 * time.Second
	PollInterval = 100 * time.Millisecond
)

// Options configure the operator under test.
type Options struct {
	// Webhooks installs the generated webhook configuration and serves it.
	Webhooks bool
	// Config is the operator configuration file's YAML; empty for the defaults.
	Config string
	// APIServerFlags are extra kube-apiserver flags.
	APIServerFlags map[string]string
	// AuditPolicy, when set, is the kube-apiserver's audit policy (YAML); the
	// log goes to Operator.APIServerAuditLog.
	AuditPolicy string
	// Manager overrides the test defaults of the manager's options where set
	// (ConfigFile and AuditFile are set by Start when empty).
	Manager manager.Options
	// TenantView turns on the kube-apiserver's aggregation layer and serves
	// the tenant view through it, as installed (see serveTenantView).
	TenantView bool
}

// Operator is a running control plane with the operator's manager.
type Operator struct {
	Env *controlplane.Env
	// Admin acts as system:masters, like a platform team's applier.
	Admin client.Client
	// Identities are the operator's service accounts; Manager runs as Identities.Manager.
	Identities controlplane.Identities
	Manager    ctrl.Manager
	// Ctx lives until Stop.
	Ctx context.Context
	// AuditFile receives the operator's audit trail as JSON lines.
	AuditFile string
	// APIServerAuditLog is the kube-apiserver's audit log, with Options.AuditPolicy.
	APIServerAuditLog string

	log    syncbuf.Buffer
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// Start starts the control plane and the manager, and waits until the webhook
// server answers when webhooks are on.
func Start(o Options) (op *Operator, err error) {
	op = &Operator{done: make(chan error, 1)}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(LogSink(), &op.log)), zap.UseDevMode(true)))
	if op.dir, err = os.MkdirTemp("", "tenantward-test-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = op.Stop()
		}
	}()
	cp := controlplane.Options{APIServerFlags: map[string]string{}}
	maps.Copy(cp.APIServerFlags, o.APIServerFlags)
	if o.AuditPolicy != "" {
		policy := filepath.Join(op.dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(o.AuditPolicy), 0o600); err != nil {
			return op, err
		}
		op.APIServerAuditLog = filepath.Join(op.dir, "apiserver-audit.log")
		cp.APIServerFlags["audit-policy-file"], cp.APIServerFlags["audit-log-path"] = policy, op.APIServerAuditLog
	}
	if o.Webhooks {
		root, err := controlplane.RepoRoot()
		if err != nil {
			return op, err
		}
		cp.Webhooks = &envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")}}
	}
	cp.Aggregation = o.TenantView
	if op.Env, err = controlplane.Start(cp); err != nil {
		return op, err
	}
	if op.Admin, err = client.New(op.Env.Config, client.Options{Scheme: manager.Scheme}); err != nil {
		return op, err
	}

	mo := o.Manager
	mo.MetricsAddr, mo.ProbeAddr = or(mo.MetricsAddr, "0"), or(mo.ProbeAddr, "0")
	mo.VerifierAddr, mo.VerifierGRPCAddr = or(mo.VerifierAddr, "0"), or(mo.VerifierGRPCAddr, "0")
	mo.OperatorNamespace = or(mo.OperatorNamespace, "tenantward-system")
	if mo.QPS == 0 {
		mo.QPS, mo.Burst = 500, 1000
	}
	op.AuditFile = or(mo.AuditFile, filepath.Join(op.dir, "audit.jsonl"))
	mo.AuditFile = op.AuditFile
	if o.Config != "" && mo.ConfigFile == "" {
		mo.ConfigFile = filepath.Join(op.dir, "config.yaml")
		if err := os.WriteFile(mo.ConfigFile, []byte(o.Config), 0o600); err != nil {
			return op, err
		}
	}
	wio := &op.Env.WebhookInstallOptions
	if o.Webhooks {
		mo.EnableWebhooks = true
		mo.WebhookHost, mo.WebhookPort, mo.WebhookCertDir = wio.LocalServingHost, wio.LocalServingPort, wio.LocalServingCertDir
		// envtest made the certificates and patched the caBundle.
		mo.WebhookCerts = webhook.CertOptions{Mode: webhook.CertsExternal}
	}
	// The operator runs as its service account, bound only by the RBAC the
	// installs grant (config/rbac): a right they lack fails the tests.
	if op.Identities, err = op.Env.InstallRBAC(context.Background()); err != nil {
		return op, err
	}
	if o.TenantView {
		if mo.TenantView, err = local.ServeTenantView(context.Background(), op.Env, op.Admin, op.Identities.Manager, op.dir); err != nil {
			return op, err
		}
	}
	if op.Manager, err = manager.New(op.Identities.Manager.Config(), mo); err != nil {
		return op, err
	}
	op.Ctx, op.cancel = context.WithCancel(context.Background())
	go func() { op.done <- op.Manager.Start(op.Ctx) }()
	if o.Webhooks {
		if err := waitServing(op.Ctx, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))); err != nil {
			return op, fmt.Errorf("the webhook server did not start: %w", err)
		}
	}
	if o.TenantView {
		if err := waitTenantView(op.Ctx, op.Env); err != nil {
			return op, err
		}
	}
	return op, nil
}

// waitTenantView waits until the kube-apiserver serves the tenant view's group.
func waitTenantView(ctx context.Context, env *controlplane.Env) error {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return err
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, PollInterval, PollTimeout, true, func(context.Context) (bool, error) {
		_, last = dc.ServerResourcesForGroupVersion(tenancyv1alpha1.GroupVersion.String())
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the tenant view is not served through the kube-apiserver: %w", errors.Join(last, err))
	}
	return nil
}

// Log returns everything the manager has logged so far, for tests that check
// what it must never log (an API key's plaintext).
func (op *Operator) Log() string { return op.log.String() }

// Stop stops the manager and the control plane and removes the temporary files.
func (op *Operator) Stop() error {
	var errs []error
	if op.cancel != nil {
		op.cancel()
		errs = append(errs, <-op.done)
	}
	if op.Env != nil {
		errs = append(errs, op.Env.Stop())
	}
	errs = append(errs, os.RemoveAll(op.dir))
	return errors.Join(errs...)
}

// Main runs a test package's tests on an operator started with o and exits.
// With `-run '^$'` (benchmarks only) it starts nothing, so that nothing
// disturbs the benchmarks. setup, when not nil, runs once the operator is up.
func Main(m *testing.M, o Options, started func(*Operator) error) {
	flag.Parse()
	if run := flag.Lookup("test.run"); run != nil && run.Value.String() == "^$" {
		ctrl.SetLogger(logr.Discard())
		os.Exit(m.Run())
	}
	op, err := Start(o)
	if err == nil && started != nil {
		err = started(op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the operator under test:", err)
		if op != nil {
			_ = op.Stop()
		}
		os.Exit(1)
	}
	code := m.Run()
	if err := op.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the operator under test:", err)
	}
	os.Exit(code)
}

// Eventually polls check until it returns nil, failing the test with the last
// error after PollTimeout.
func Eventually(t testing.TB, ctx context.Context, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, PollInterval, PollTimeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not true after %s: %v", what, PollTimeout, errors.Join(last, err))
	}
}

// LogSink is where the manager under test logs: nowhere unless
// TEST_VERBOSE_MANAGER is set (reconcile conflicts are normal and would drown
// the test output).
func LogSink() io.Writer {
	if os.Getenv("TEST_VERBOSE_MANAGER") != "" {
		return os.Stderr
	}
	return io.Discard
}

// waitServing waits until the webhook server answers TLS.
func waitServing(ctx context.Context, addr string) error {
	return wait.PollUntilContextTimeout(ctx, PollInterval, PollTimeout, true, func(context.Context) (bool, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only probing that it listens
		if err == nil {
			err = conn.Close()
		}
		return err == nil, nil
	})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// RequireRealPart decides what a test does when setting up a real program it
// needs (nginx, the Portkey gateway) failed with err: on CI (CI=true) and as
// root, where the set-up installs what is missing, the test fails; elsewhere
// it skips, saying loudly why and how to run it. It never skips silently.
func RequireRealPart(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" || os.Geteuid() == 0 {
		t.Fatalf("%s: %v", what, err)
	}
	msg := fmt.Sprintf("SKIPPING %s: %s is missing and only root can install it: %v\n"+
		"  to run it: sudo bash hack/portkey-gateway.sh (CI runs it as root and never skips)", t.Name(), what, err)
	fmt.Fprintf(os.Stderr, "\n*** %s\n\n", msg)
	t.Skip(msg)
}

// FreePort returns a loopback TCP port that was free a moment ago, for
// programs that must be told their port.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}
