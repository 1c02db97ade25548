package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// The control plane of this package's envtest tests, started by the first
// test that needs it (the unit tests, fuzz targets and benchmarks do not).
var (
	cpOnce sync.Once
	cpEnv  *controlplane.Env
	cpErr  error
	admin  client.Client
	scheme = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = accessv1alpha1.AddToScheme(scheme)
	code := m.Run()
	if cpEnv != nil {
		_ = cpEnv.Stop()
	}
	os.Exit(code)
}

func controlPlane(t testing.TB) *controlplane.Env {
	t.Helper()
	cpOnce.Do(func() {
		cpEnv, cpErr = controlplane.Start(controlplane.Options{WithoutGatewayCRDs: true})
		if cpErr == nil {
			admin, cpErr = client.New(cpEnv.Config, client.Options{Scheme: scheme})
		}
		if cpErr == nil {
			// The organization of the keys issueKey makes.
			cpErr = admin.Create(context.Background(), &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "acme"}})
		}
	})
	if cpErr != nil {
		t.Fatal(cpErr)
	}
	return cpEnv
}

// startVerifier runs a verifier as its own service account, bound only by
// the generated role the installs give it (list and watch apikeys), as
// tenantward-verifier runs; configure changes its options.
func startVerifier(t testing.TB, configure ...func(*verifier.Options)) *verifier.Server {
	t.Helper()
	env := controlPlane(t)
	ctx := context.Background()
	ids, err := env.InstallRBAC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := verifier.Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}
	for _, c := range configure {
		c(&o)
	}
	return runVerifier(t, ids.Verifier.Config(), o)
}

// runVerifier runs a verifier with o at cfg until the test ends.
func runVerifier(t testing.TB, cfg *rest.Config, o verifier.Options) *verifier.Server {
	t.Helper()
	v, _ := runStoppable(t, cfg, o)
	return v
}

// runStoppable is runVerifier that also returns a function stopping the
// verifier (and waiting for it) before the test ends.
func runStoppable(t testing.TB, cfg *rest.Config, o verifier.Options) (*verifier.Server, func()) {
	t.Helper()
	v, err := verifier.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Start(vctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("verifier stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-v.Ready():
	case err := <-done:
		t.Fatalf("verifier stopped: %v", err)
	case <-time.After(testenv.PollTimeout):
		t.Fatal("the verifier did not load the APIKeys")
	}
	return v, stop
}

var nsCounter int

// issueKey creates an APIKey of organization acme and writes its status as
// the operator would, returning the plaintext (never stored anywhere in the
// cluster here).
func issueKey(t testing.TB, perms accessv1alpha1.APIKeyPermissions) (string, *accessv1alpha1.APIKey) {
	t.Helper()
	return issueKeyOf(t, "acme", perms)
}

// issueKeyOf is issueKey for a key of organization org.
func issueKeyOf(t testing.TB, org string, perms accessv1alpha1.APIKeyPermissions) (string, *accessv1alpha1.APIKey) {
	t.Helper()
	ctx := context.Background()
	nsCounter++
	ns := fmt.Sprintf("%s-ws%d", org, nsCounter)
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	plain, err := apikey.Generate(apikey.KindWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	k := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: accessv1alpha1.APIKeySpec{Permissions: perms}}
	if err := admin.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Status = accessv1alpha1.APIKeyStatus{
		Hash: apikey.Sum(plain).String(), DisplayPrefix: apikey.DisplayPrefix(plain),
		Type: accessv1alpha1.KeyTypeWorkspace, Organization: org, Workspace: ns,
	}
	o := &accessv1alpha1.Organization{}
	if err := admin.Get(ctx, client.ObjectKey{Name: org}, o); err == nil {
		k.Status.OrganizationUID = string(o.UID)
	}
	if err := admin.Status().Update(ctx, k); err != nil {
		t.Fatal(err)
	}
	return plain, k
}

func postVerify(t testing.TB, base, key string) string {
	t.Helper()
	return verify(t, base, key).Result
}

func verify(t testing.TB, base, key string) verifier.VerifyResponse {
	t.Helper()
	body, _ := json.Marshal(verifier.VerifyRequest{Key: key})
	resp, err := http.Post(base+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out verifier.VerifyResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func eventuallyResult(t testing.TB, base, key, want string) {
	t.Helper()
	testenv.Eventually(t, context.Background(), "verify answers "+want, func() error {
		if got := postVerify(t, base, key); got != want {
			return fmt.Errorf("got %s", got)
		}
		return nil
	})
}

// TestVerifierFollowsAPIKeys runs the verifier against the real API server: a
// key issued before it starts is loaded, and disable, re-enable, rotation and
// deletion take effect from the watch.
func TestVerifierFollowsAPIKeys(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	before, k := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	v := startVerifier(t)
	base := "http://" + v.HTTPAddr()
	if got := postVerify(t, base, before); got != "VALID" {
		t.Fatalf("a key that existed before the verifier started: %s", got)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	_ = resp.Body.Close()

	k.Spec.State = accessv1alpha1.KeyDisabled
	if err := admin.Update(ctx, k); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, before, "DISABLED")
	k.Spec.State = accessv1alpha1.KeyEnabled
	if err := admin.Update(ctx, k); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, before, "VALID")

	// A rotation with grace: both keys verify; once status drops the previous
	// hash, only the new one.
	rotated, _ := apikey.Generate(apikey.KindWorkspace)
	k.Status.PreviousHash, k.Status.Hash = k.Status.Hash, apikey.Sum(rotated).String()
	k.Status.PreviousValidUntil = &metav1.Time{Time: time.Now().Add(time.Hour)}
	if err := admin.Status().Update(ctx, k); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, rotated, "VALID")
	if got := postVerify(t, base, before); got != "VALID" {
		t.Fatalf("the previous key in its grace period: %s", got)
	}
	k.Status.PreviousHash, k.Status.PreviousValidUntil = "", nil
	if err := admin.Status().Update(ctx, k); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, before, "NOT_FOUND")

	if err := admin.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, rotated, "NOT_FOUND")
}

// TestStartRefusesWhatChangedWhileDown: keys deleted, disabled or rotated
// while a verifier was down are refused from the first answer of the next
// one (it serves nothing before both lists are loaded), and its first answer
// for a live key is VALID. Every way of loading is covered: a list, the
// watch-list it falls back to, and resuming from the index the previous
// verifier saved when it stopped (--index-file), which must catch up with
// the changes before it serves.
func TestStartRefusesWhatChangedWhileDown(t *testing.T) {
	for _, c := range []struct {
		name  string
		saved bool
		opts  []func(*verifier.Options)
	}{{"list", false, nil}, {"watch-list", false, []func(*verifier.Options){verifier.WatchList}}, {"saved index", true, nil}} {
		t.Run(c.name, func(t *testing.T) {
			env := controlPlane(t)
			ctx := context.Background()
			deleted, dk := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
			disabled, sk := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
			rotated, rk := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
			live, _ := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
			ids, err := env.InstallRBAC(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			o := verifier.Options{HTTPAddr: "127.0.0.1:0", Log: logs.logger()}
			if c.saved {
				o.IndexFile = filepath.Join(t.TempDir(), "index")
			}
			for _, set := range c.opts {
				set(&o)
			}
			first, stopFirst := runStoppable(t, ids.Verifier.Config(), o)
			for _, k := range []string{deleted, disabled, rotated, live} {
				if got := postVerify(t, "http://"+first.HTTPAddr(), k); got != "VALID" {
					t.Fatalf("before the changes: %s", got)
				}
			}
			if c.saved {
				stopFirst() // it saves its index as it stops
			}
			// The changes the next verifier never sees as watch events.
			if err := admin.Delete(ctx, dk); err != nil {
				t.Fatal(err)
			}
			sk.Spec.State = accessv1alpha1.KeyDisabled
			if err := admin.Update(ctx, sk); err != nil {
				t.Fatal(err)
			}
			// A rotation without grace: the old key ends at once.
			next, err := apikey.Generate(apikey.KindWorkspace)
			if err != nil {
				t.Fatal(err)
			}
			rk.Status.Hash = apikey.Sum(next).String()
			if err := admin.Status().Update(ctx, rk); err != nil {
				t.Fatal(err)
			}
			added, _ := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
			base := "http://" + runVerifier(t, ids.Verifier.Config(), o).HTTPAddr()
			for key, want := range map[string]string{deleted: "NOT_FOUND", disabled: "DISABLED", rotated: "NOT_FOUND", next: "VALID", live: "VALID", added: "VALID"} {
				if got := postVerify(t, base, key); got != want {
					t.Errorf("first answer: %s, want %s", got, want)
				}
			}
			if resumed := logs.has("resumed from the saved index"); resumed != c.saved {
				t.Errorf("resumed from a saved index: %t, want %t; log:\n%s", resumed, c.saved, logs.String())
			}
			for _, key := range []string{deleted, disabled, rotated, live, next, added} {
				if strings.Contains(logs.String(), key) {
					t.Fatal("a key in the verifier's log")
				}
			}
		})
	}
}

// logBuffer keeps what a verifier logs, for tests to read.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		fmt.Fprintf(&l.buf, "%s %s\n", prefix, args)
	}, funcr.Options{Verbosity: 1})
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) has(s string) bool { return strings.Contains(l.String(), s) }

// TestOrganizationGoneKeysStopVerifying replays an organization removed
// without the operator's clean-up: its keys stop verifying over HTTP as soon
// as it is being deleted, and stay refused once the platform strips its
// finalizer and the object is gone. A key whose organization did not exist
// when the verifier started is refused from its first answer.
func TestOrganizationGoneKeysStopVerifying(t *testing.T) {
	controlPlane(t)
	ctx := context.Background()
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "doomed", Finalizers: []string{accessv1alpha1.Finalizer}}}
	if err := admin.Create(ctx, org); err != nil {
		t.Fatal(err)
	}
	doomed, _ := issueKeyOf(t, "doomed", accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	orphan, _ := issueKeyOf(t, "never-created", accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	v := startVerifier(t)
	base := "http://" + v.HTTPAddr()
	if got := verify(t, base, orphan); got.Result != "NOT_FOUND" || !strings.Contains(got.Reason, "organization does not exist") || got.Organization != "" {
		t.Fatalf("a key of an organization that does not exist, first answer: %+v", got)
	}
	if got := postVerify(t, base, doomed); got != "VALID" {
		t.Fatalf("a key of a live organization: %s", got)
	}
	if err := admin.Delete(ctx, org); err != nil {
		t.Fatal(err)
	}
	eventuallyResult(t, base, doomed, "NOT_FOUND")
	// The platform strips the finalizer: the object goes without clean-up.
	if err := admin.Get(ctx, client.ObjectKeyFromObject(org), org); err != nil {
		t.Fatal(err)
	}
	org.Finalizers = nil
	if err := admin.Update(ctx, org); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, ctx, "the organization is gone", func() error {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(org), org); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	status, body := authRequest(t, base, doomed, "POST", "/v1/chat/completions")
	if status != 401 || !strings.Contains(body, "organization does not exist") {
		t.Fatalf("/v1/auth with a key of a removed organization: %d %s", status, body)
	}
	// A new Organization of the same name does not revive the old key: it
	// recorded the UID of the organization it was issued for.
	if err := admin.Create(ctx, &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}); err != nil {
		t.Fatal(err)
	}
	fresh, _ := issueKeyOf(t, "doomed", accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	eventuallyResult(t, base, fresh, "VALID")
	if got := postVerify(t, base, doomed); got != "NOT_FOUND" {
		t.Fatalf("the old key once an Organization of the same name exists again: %s", got)
	}
}

// authRequest asks the nginx auth endpoint about one request.
func authRequest(t testing.TB, base, key, method, uri string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+verifier.AuthPath, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Original-Method", method)
	req.Header.Set("X-Original-URI", uri)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestNginxAuthRequest puts a real nginx with auth_request (the front door's
// configuration, internal/frontdoor) in front of a small upstream, with the
// verifier as the auth service. test/gateway runs the same in front of the
// real Portkey gateway.
func TestNginxAuthRequest(t *testing.T) {
	nginx, _, err := frontdoor.Prepare()
	testenv.RequireRealPart(t, "nginx", err)
	controlPlane(t)
	ctx := context.Background()
	reader, _ := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled", Prompts: "Read"})
	team, _ := issueKey(t, accessv1alpha1.APIKeyPermissions{Users: "Delete"})
	disabledKey, disabled := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	disabled.Spec.State = accessv1alpha1.KeyDisabled
	if err := admin.Update(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	v := startVerifier(t)
	eventuallyResult(t, "http://"+v.HTTPAddr(), disabledKey, "DISABLED")

	seen := make(chan http.Header, 16)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		_, _ = io.WriteString(w, "upstream")
	}))
	defer upstream.Close()
	conf := frontdoor.NginxConfig{Dir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), Verifier: v.HTTPAddr(), Upstream: upstream.Listener.Addr().String()}
	proc, err := frontdoor.StartNginx(nginx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	gateway := "http://" + conf.Listen

	call := func(method, path, key string, headers ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, gateway+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("POST", "/v1/chat/completions", reader); got != 200 {
		t.Fatalf("a valid workspace key on /v1/chat/completions: %d", got)
	}
	h := <-seen
	if h.Get("X-Tenantward-Organization") != "acme" || h.Get("X-Tenantward-Key") == "" || h.Get("X-Tenantward-Workspace") == "" {
		t.Fatalf("identity headers at the upstream: %v", h)
	}
	if got := call("GET", "/v1/prompts/x", reader); got != 200 {
		t.Fatalf("Prompts Read, GET /v1/prompts/x: %d", got)
	}
	<-seen
	if got := call("DELETE", "/v1/prompts/x", reader); got != 403 {
		t.Fatalf("Prompts Read, DELETE /v1/prompts/x: %d", got)
	}
	// nginx sends $request_uri: a query string is the client's business.
	if got := call("POST", "/v1/chat/completions?stream=true&x=%2e%2e", reader); got != 200 {
		t.Fatalf("a query string: %d", got)
	}
	<-seen
	// A client's own X-Original-* never reach the verifier: nginx sets them.
	if got := call("DELETE", "/v1/prompts/x", reader, "X-Original-Method", "POST", "X-Original-URI", "/v1/chat/completions"); got != 403 {
		t.Fatalf("DELETE /v1/prompts/x with client-sent X-Original-*: %d", got)
	}
	for _, path := range []string{"/v1/images/..;/prompts/x", "/v1/images/%252e%252e/prompts/x", "/v1/images/%2e%2e/prompts/x", "/v1/images/x;p=1"} {
		if got := call("POST", path, reader); got != 403 && got != 400 {
			t.Fatalf("an ambiguous path %s: %d", path, got)
		}
	}
	if got := call("DELETE", "/v1/admin/users/u1", team); got != 403 {
		t.Fatalf("a workspace key with users Delete on DELETE /v1/admin/users/u1: %d", got)
	}
	if got := call("POST", "/v1/chat/completions", disabledKey); got != 401 {
		t.Fatalf("a disabled key: %d", got)
	}
	if got := call("POST", "/v1/chat/completions", reader[:20]); got != 401 {
		t.Fatalf("a malformed key: %d", got)
	}
	select {
	case h := <-seen:
		t.Fatalf("a refused request reached the upstream: %v", h)
	default:
	}
}
