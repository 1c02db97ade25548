package audit_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/webhook"
)

// The control plane of this package: a real kube-apiserver and etcd with the
// generated webhook configuration, and the operator's manager serving it with
// its audit trail written to auditFile and posted to httpSink.
var (
	testEnv   *controlplane.Env
	admin     client.Client
	testCtx   context.Context
	auditFile string
	httpSink  *flakySink
)

// suiteQueueSize is the manager's audit queue per sink: small, so that an HTTP
// outage fills it within a test.
const suiteQueueSize = 50

func TestMain(m *testing.M) {
	flag.Parse()
	if run := flag.Lookup("test.run"); run != nil && run.Value.String() == "^$" {
		// Benchmarks only (`-run '^$' -bench ...`): no control plane to disturb them.
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(logSink()), zap.UseDevMode(true)))
	root, err := controlplane.RepoRoot()
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "tenantward-audit-")
	if err != nil {
		return fail(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	auditFile = filepath.Join(dir, "audit.jsonl")
	httpSink = startFlakySink("up")
	defer httpSink.server.Close()
	configFile := filepath.Join(dir, "config.yaml")
	conf := fmt.Sprintf("audit:\n  queueSize: %d\n  http:\n    url: %s\n    batchSize: 10\n    timeout: 1s\n    maxBackoff: 200ms\n", suiteQueueSize, httpSink.server.URL)
	if err := os.WriteFile(configFile, []byte(conf), 0o600); err != nil {
		return fail(err)
	}

	env, err := controlplane.Start(controlplane.Options{Webhooks: &envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")},
	}})
	if err != nil {
		return fail(err)
	}
	testEnv = env
	defer func() { _ = env.Stop() }()
	wio := &env.WebhookInstallOptions

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	testCtx = ctx
	mgr, err := manager.New(env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", QPS: 500, Burst: 1000, OperatorNamespace: "tenantward-system",
		EnableWebhooks: true, WebhookHost: wio.LocalServingHost, WebhookPort: wio.LocalServingPort,
		WebhookCertDir: wio.LocalServingCertDir, WebhookCerts: webhook.CertOptions{Mode: webhook.CertsExternal},
		AuditFile: auditFile, ConfigFile: configFile,
	})
	if err != nil {
		return fail(err)
	}
	if admin, err = client.New(env.Config, client.Options{Scheme: manager.Scheme}); err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if err := waitServing(ctx, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))); err != nil {
		return fail(err)
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func logSink() *os.File {
	if os.Getenv("TEST_VERBOSE_MANAGER") != "" {
		return os.Stderr
	}
	f, _ := os.Open(os.DevNull)
	return f
}

// waitServing waits until the webhook server answers TLS.
func waitServing(ctx context.Context, addr string) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, deadline, true, func(context.Context) (bool, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only probing that it listens
		if err == nil {
			err = conn.Close()
		}
		return err == nil, nil
	})
}
