package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tenantward/tenantward/internal/controlplane"
	admissionwebhooks "github.com/tenantward/tenantward/internal/webhook"
)

var env *controlplane.Env

func TestMain(m *testing.M) {
	var err error
	// No webhook configurations are installed; envtest only issues a serving
	// certificate and picks a port for the manager's webhook server.
	env, err = controlplane.Start(controlplane.Options{Webhooks: &envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// TestReadinessAndGracefulShutdown runs the manager as a replica does and
// checks what the probes and a stopping replica promise: /healthz answers,
// /readyz turns green only with synced caches, a webhook server that completes
// a TLS handshake and a key verifier that has loaded the APIKeys, and an
// admission in flight when the replica is told to stop still gets its answer.
func TestReadinessAndGracefulShutdown(t *testing.T) {
	wh := env.WebhookInstallOptions
	probe := "127.0.0.1:" + strconv.Itoa(freePort(t))
	o := Options{
		MetricsAddr: "0", ProbeAddr: probe,
		WebhookHost: wh.LocalServingHost, WebhookPort: wh.LocalServingPort, WebhookCertDir: wh.LocalServingCertDir,
		WebhookCerts:   admissionwebhooks.CertOptions{Mode: admissionwebhooks.CertsExternal},
		EnableWebhooks: true,
		VerifierAddr:   "127.0.0.1:" + strconv.Itoa(freePort(t)), VerifierGRPCAddr: "0",
		OperatorNamespace: "tenantward-system",
		QPS:               50, Burst: 100,
		GracefulShutdownTimeout: time.Minute,
	}
	mgr, err := New(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	// An admission handler that holds its request until the test lets it go.
	entered, release := make(chan struct{}), make(chan struct{})
	mgr.GetWebhookServer().Register("/slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "answered")
	}))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()

	var body string
	eventually(t, "/readyz reports synced informers and a serving webhook", func() error {
		code, b, err := get("http://" + probe + "/readyz?verbose")
		body = b
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d:\n%s", code, b)
		}
		return nil
	})
	for _, check := range []string{"[+]informers ok", "[+]webhook ok", "[+]verifier ok"} {
		if !strings.Contains(body, check) {
			t.Errorf("/readyz?verbose lacks %q:\n%s", check, body)
		}
	}
	if code, b, err := get("http://" + probe + "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz: %d %q %v", code, b, err)
	}

	// An admission is in flight when the replica is told to stop.
	webhookAddr := net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort))
	answer := make(chan string, 1)
	go func() {
		code, b, err := postTLS("https://"+webhookAddr+"/slow", wh.LocalServingCAData)
		answer <- fmt.Sprintf("%d %s %v", code, b, err)
	}()
	<-entered
	stop()
	// The server stops accepting connections but keeps the open one...
	eventually(t, "the stopping webhook server refuses new connections", func() error {
		conn, err := net.DialTimeout("tcp", webhookAddr, time.Second)
		if err == nil {
			_ = conn.Close()
			return errors.New("still accepting")
		}
		return nil
	})
	// ...and the admission it was serving gets its answer.
	close(release)
	if got := <-answer; got != "200 answered <nil>" {
		t.Errorf("the in-flight admission got %q, want a 200 answer", got)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("the manager did not stop within a minute")
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url) //nolint:noctx // a probe-like request with the client's default timeout
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func postTLS(url string, ca []byte) (int, string, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
