package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/webhook/certs"
)

// recorder keeps the audit records the handlers emit.
type recorder struct {
	mu      sync.Mutex
	records []audit.Record
}

func (r *recorder) Record(_ context.Context, rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
}

// newValidator serves from an in-memory fixture of n Memberships (see fixture).
func newValidator(t testing.TB, n int, rec audit.Recorder) *Validator {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return &Validator{
		Resolver: &Resolver{Informers: fixture(n)},
		Reader:   fake.NewClientBuilder().WithScheme(scheme).Build(),
		Platform: NewPlatform(config.Default().PlatformIdentities),
		Features: GatedResources(authz.DefaultFeatureMap()),
		Audit:    rec,
	}
}

// review is an AdmissionReview of a Membership create in org1's workspace by
// user1 (its manager) granting role to bob.
func review(t testing.TB, role v1.Role, dryRun bool) []byte {
	t.Helper()
	m := &v1.Membership{TypeMeta: metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Membership"},
		ObjectMeta: metav1.ObjectMeta{Name: "bob", Namespace: "org1-ws"},
		Spec:       v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: "bob"}, Role: role}}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return reviewOf(t, raw, dryRun)
}

func reviewOf(t testing.TB, object []byte, dryRun bool) []byte {
	t.Helper()
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("6b8e0c3e-1111-4a5b-9c7d-000000000001"),
			Kind:      metav1.GroupVersionKind{Group: v1.GroupVersion.Group, Version: "v1alpha1", Kind: "Membership"},
			Resource:  metav1.GroupVersionResource{Group: v1.GroupVersion.Group, Version: "v1alpha1", Resource: "memberships"},
			Name:      "bob",
			Namespace: "org1-ws",
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "user1", Groups: []string{"system:authenticated", "team-blue"}},
			Object:    runtime.RawExtension{Raw: object},
			DryRun:    &dryRun,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// post sends a body to a handler and decodes the AdmissionReview it answers.
func post(t testing.TB, h http.Handler, body []byte) admissionv1.AdmissionResponse {
	t.Helper()
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	out := admissionv1.AdmissionReview{}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("undecodable answer %q: %v", w.Body, err)
	}
	return *out.Response
}

func TestHandlerAuditsEveryDecision(t *testing.T) {
	rec := &recorder{}
	v := newValidator(t, 100, rec)
	h := &admission.Webhook{Handler: v.handler(v.membership)}
	deniedBefore := testutil.ToFloat64(decisions.WithLabelValues("Membership", "CREATE", audit.DecisionDenied))
	if r := post(t, h, review(t, v1.RoleMember, false)); !r.Allowed {
		t.Fatalf("manager adding a member was refused: %+v", r.Result)
	}
	r := post(t, h, review(t, v1.RoleAdmin, true))
	if r.Allowed || r.Result.Code != http.StatusForbidden || !strings.Contains(r.Result.Message, `user "user1" (workspace manager in org1/ws)`) {
		t.Fatalf("manager granting admin: %+v", r.Result)
	}
	if got := testutil.ToFloat64(decisions.WithLabelValues("Membership", "CREATE", audit.DecisionDenied)) - deniedBefore; got != 1 {
		t.Errorf("tenantward_webhook_decisions_total{decision=denied} rose by %v, want 1", got)
	}
	if len(rec.records) != 2 {
		t.Fatalf("%d audit records, want 2", len(rec.records))
	}
	allowed, denied := rec.records[0], rec.records[1]
	if allowed.Decision != audit.DecisionAllowed || allowed.DryRun || allowed.Organization != "org1" || allowed.Workspace != "ws" {
		t.Errorf("allowed record: %+v", allowed)
	}
	if denied.Decision != audit.DecisionDenied || !denied.DryRun || !strings.Contains(denied.Reason, "nobody grants a role above their own") {
		t.Errorf("denied record: %+v", denied)
	}
}

func TestMalformedAndOversizedReviews(t *testing.T) {
	rec := &recorder{}
	v := newValidator(t, 10, rec)
	h := &admission.Webhook{Handler: v.handler(v.membership)}
	bodies := map[string][]byte{
		"not JSON":          []byte("{{{"),
		"no request":        []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		"object not JSON":   reviewOf(t, []byte(`"just a string"`), false),
		"object wrong kind": reviewOf(t, []byte(`{"spec":{"role":12}}`), false),
		"oversized":         append([]byte(`{"request":{"object":"`), bytes.Repeat([]byte("a"), 8<<20)...),
	}
	for name, body := range bodies {
		r := post(t, h, body)
		if r.Allowed || r.Result == nil || r.Result.Code < 400 || r.Result.Code >= 500 || r.Result.Message == "" {
			t.Errorf("%s: want a clear error, got %+v", name, r.Result)
		}
	}
	// Those that reach the handler (an empty request, undecodable objects) are audited as refused.
	for _, r := range rec.records {
		if r.Decision != audit.DecisionDenied || r.Reason == "" {
			t.Errorf("audit record of a malformed review: %+v", r)
		}
	}
	if len(rec.records) != 3 {
		t.Errorf("%d audit records, want 3", len(rec.records))
	}
}

// FuzzAdmissionReview feeds arbitrary objects and bodies to every handler:
// each must answer with an AdmissionReview, never panic, and never allow
// what it cannot decode.
func FuzzAdmissionReview(f *testing.F) {
	f.Add([]byte(`{"spec":{"subject":{"kind":"User","name":"bob"},"role":"member"}}`), false)
	f.Add([]byte(`{"metadata":{"annotations":{"tenantward.io/rotate":"1"}},"spec":{"permissions":{"prompts":"Delete"}}}`), false)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`), true)
	f.Add([]byte("\x00\xff"), true)
	v := newValidator(f, 10, audit.Discard)
	handlers := []http.Handler{
		&admission.Webhook{Handler: v.handler(v.membership)},
		&admission.Webhook{Handler: v.handler(v.apiKey)},
		&admission.Webhook{Handler: v.handler(v.workspace)},
		&admission.Webhook{Handler: v.handler(v.organization)},
	}
	f.Fuzz(func(t *testing.T, data []byte, wholeBody bool) {
		body := data
		if !wholeBody && json.Valid(data) {
			body = reviewOf(t, data, false)
		}
		for _, h := range handlers {
			r := post(t, h, body)
			if r.Allowed && !json.Valid(data) {
				t.Fatalf("allowed an undecodable object %q", data)
			}
		}
	})
}

// BenchmarkAdmissionReviewHTTPS sends AdmissionReviews over HTTPS from 8
// concurrent clients to one webhook server serving both the Membership webhook
// (100,000 memberships) and an allow-all handler. Each iteration sends a slice
// of requests to each in turn, so machine noise hits both alike; it reports
// each one's throughput and p99 and their ratio (the figure: target ≥ 0.8).
func BenchmarkAdmissionReviewHTTPS(b *testing.B) {
	v := newValidator(b, 100_000, audit.Discard)
	dir := b.TempDir()
	bundle, _, err := certs.Renew(certs.Bundle{}, []string{"localhost"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{certs.CertKey: bundle.Cert, certs.PrivateKey: bundle.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	srv.Register("/membership", &admission.Webhook{Handler: v.handler(v.membership)})
	srv.Register("/allow-all", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACert)
	const clients = 8
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: clients,
	}}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	body := review(b, v1.RoleMember, false)
	send := func(path string) error {
		resp, err := hc.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		out := admissionv1.AdmissionReview{}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.Response == nil || !out.Response.Allowed {
			return fmt.Errorf("not allowed: %s", raw)
		}
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for send("/allow-all") != nil {
		if time.Now().After(deadline) {
			b.Fatal("the webhook server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	const slice = 200
	elapsed := map[string]time.Duration{}
	latencies := map[string][]time.Duration{}
	b.ResetTimer()
	for b.Loop() {
		for _, path := range []string{"/allow-all", "/membership"} {
			d, lat, err := burst(clients, slice, func() error { return send(path) })
			if err != nil {
				b.Fatal(err)
			}
			elapsed[path] += d
			latencies[path] = append(latencies[path], lat...)
		}
	}
	b.StopTimer()
	rate := func(path string) float64 { return float64(len(latencies[path])) / elapsed[path].Seconds() }
	p99 := func(path string) float64 {
		l := latencies[path]
		slices.Sort(l)
		return float64(l[len(l)*99/100].Microseconds())
	}
	b.ReportMetric(rate("/membership"), "tenantward-req/s")
	b.ReportMetric(rate("/allow-all"), "allowall-req/s")
	b.ReportMetric(rate("/membership")/rate("/allow-all"), "ratio")
	b.ReportMetric(p99("/membership"), "tenantward-p99-µs")
	b.ReportMetric(p99("/allow-all"), "allowall-p99-µs")
}

// burst sends n requests from c concurrent workers and returns the wall time
// and each request's latency.
func burst(c, n int, send func() error) (time.Duration, []time.Duration, error) {
	var (
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, n)
		errs = make(chan error, c)
		next = make(chan struct{}, n)
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for range next {
				t := time.Now()
				if err := send(); err != nil {
					errs <- err
					return
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	return d, lat, <-errs
}
