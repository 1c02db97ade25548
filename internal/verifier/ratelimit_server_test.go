package verifier_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/ratelimit/redistest"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// issueLimitedKey issues a completions key whose effective rate limit
// (status.rateLimits, as the operator writes it) is requests per hour.
func issueLimitedKey(t testing.TB, requests int64) string {
	t.Helper()
	plain, k := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: requests, Per: metav1.Duration{Duration: time.Hour}}}
	if err := admin.Status().Update(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return plain
}

// authCall sends one nginx-style call to a verifier's /v1/auth and returns its status.
func authCall(t testing.TB, base, key string) int {
	t.Helper()
	status, _ := authAnswer(t, base, key)
	return status
}

// authAnswer is authCall that also returns the answer's header fields.
func authAnswer(t testing.TB, base, key string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/auth", nil)
	req.Header.Set("x-portkey-api-key", key)
	req.Header.Set("X-Original-Method", "POST")
	req.Header.Set("X-Original-URI", "/v1/chat/completions")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestRateLimitPolicyFollowsTheKey: when the operator changes a key's
// effective rate limits (a MODIFIED event of the verifier's watch), the
// auth endpoint answers with the new RateLimit-Policy, and with none once
// the key has no limits.
func TestRateLimitPolicyFollowsTheKey(t *testing.T) {
	controlPlane(t)
	base := "http://" + startVerifier(t).HTTPAddr()
	plain, k := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
	window := func(requests int64, per time.Duration) accessv1alpha1.RateLimit {
		return accessv1alpha1.RateLimit{Requests: requests, Per: metav1.Duration{Duration: per}}
	}
	for _, c := range []struct {
		limits []accessv1alpha1.RateLimit
		policy string
	}{
		{nil, ""},
		{[]accessv1alpha1.RateLimit{window(10, 90*time.Second), window(1000, 90*time.Minute)}, `"1m30s";q=10;w=90, "1h30m0s";q=1000;w=5400`},
		{[]accessv1alpha1.RateLimit{window(5, time.Hour)}, `"1h0m0s";q=5;w=3600`},
		{nil, ""},
	} {
		if !slices.Equal(k.Status.RateLimits, c.limits) {
			k.Status.RateLimits = c.limits
			if err := admin.Status().Update(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, context.Background(), "the auth endpoint answers with the policy "+c.policy, func() error {
			if status, h := authAnswer(t, base, plain); status != 200 || h.Get("RateLimit-Policy") != c.policy {
				return fmt.Errorf("%d, RateLimit-Policy %q", status, h.Get("RateLimit-Policy"))
			}
			return nil
		})
	}
}

// eventuallyLimited waits until every verifier has loaded key's limit: the
// limit's windows show on /v1/verify (which counts one call on each).
func eventuallyLimited(t testing.TB, key string, vs ...*verifier.Server) {
	t.Helper()
	for _, v := range vs {
		testenv.Eventually(t, context.Background(), "the verifier knows the key's rate limit", func() error {
			if out := verify(t, "http://"+v.HTTPAddr(), key); len(out.RateLimits) == 0 {
				return fmt.Errorf("%s without rateLimits", out.Result)
			}
			return nil
		})
	}
}

// TestRateLimitAcrossReplicasBehindNginx: two in-memory verifier replicas
// each count alone (called directly, a key gets its limit from each), but
// behind the shipped nginx configuration, which hashes each key to one
// replica, a burst gets exactly the limit, as 200s then 429s with
// Retry-After and the RateLimit fields, whatever way the client spells the
// key's header; refused calls never reach the upstream.
func TestRateLimitAcrossReplicasBehindNginx(t *testing.T) {
	nginx, _, err := frontdoor.Prepare()
	testenv.RequireRealPart(t, "nginx", err)
	controlPlane(t)
	v1, v2 := startVerifier(t), startVerifier(t)

	direct := issueLimitedKey(t, 4)
	eventuallyLimited(t, direct, v1, v2)
	allowed := 0
	for range 10 {
		for _, v := range []*verifier.Server{v1, v2} {
			if authCall(t, "http://"+v.HTTPAddr(), direct) == 200 {
				allowed++
			}
		}
	}
	if allowed != 2*(4-1) { // /v1/verify counted one call on each replica
		t.Fatalf("called directly, two replicas allowed %d calls of a 4/h key, want 3 each", allowed)
	}

	reached := make(chan struct{}, 64)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached <- struct{}{}
		_, _ = io.WriteString(w, "upstream")
	}))
	defer upstream.Close()
	conf := frontdoor.NginxConfig{Dir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		Verifier: v1.HTTPAddr(), MoreVerifiers: []string{v2.HTTPAddr()}, Upstream: upstream.Listener.Addr().String()}
	proc, err := frontdoor.StartNginx(nginx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)

	spellings := []func(*http.Request, string){
		func(r *http.Request, k string) { r.Header.Set("Authorization", "Bearer "+k) },
		func(r *http.Request, k string) { r.Header.Set("Authorization", "bearer  "+k+" ") },
		func(r *http.Request, k string) { r.Header.Set("x-portkey-api-key", " "+k) },
		func(r *http.Request, k string) {
			r.Header.Set("x-portkey-api-key", k)
			r.Header.Set("Authorization", "Bearer sk-provider")
		},
	}
	// Fresh keys, until both replicas have served some (each key lands on
	// one replica; 16 keys all on the same one would be a 1 in 32,768 chance).
	served := map[*verifier.Server]int{}
	for ki := 0; ki < 16 && (len(served) < 2 || ki < 3); ki++ {
		k := issueLimitedKey(t, 5)
		// One counted call; those before the verifier knew the limit count
		// nothing but reach the upstream.
		eventuallyLimitedVia(t, "http://"+conf.Listen, k)
		for len(reached) > 0 {
			<-reached
		}
		ok, limited := 0, 0
		for i := range 16 {
			req, _ := http.NewRequest("POST", "http://"+conf.Listen+"/v1/chat/completions", nil)
			spellings[i%len(spellings)](req, k)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok++
				if resp.Header.Get("RateLimit-Policy") != `"1h0m0s";q=5;w=3600` || !strings.HasPrefix(resp.Header.Get("RateLimit"), `"1h0m0s";r=`) {
					t.Fatalf("an allowed call's fields: %v", resp.Header)
				}
			case 429:
				limited++
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Tenantward-Result") != "RATE_LIMITED" ||
					!strings.HasPrefix(resp.Header.Get("RateLimit"), `"1h0m0s";r=0;`) || !strings.Contains(string(body), "over its rate limit") {
					t.Fatalf("a rate-limited call: %v %q", resp.Header, body)
				}
			default:
				t.Fatalf("key %d, call %d: %d %q", ki, i+1, resp.StatusCode, body)
			}
		}
		if ok != 5-1 || limited != 16-ok {
			t.Fatalf("key %d through nginx and two replicas: %d allowed, %d rate-limited after one call; want 4 and 12", ki, ok, limited)
		}
		if got := len(reached); got != 4 {
			t.Fatalf("key %d reached the upstream %d more times, want 4", ki, got)
		}
		for range 4 {
			<-reached
		}
		// The replica that served the key is exhausted; the other never saw it.
		r1, r2 := postVerify(t, "http://"+v1.HTTPAddr(), k), postVerify(t, "http://"+v2.HTTPAddr(), k)
		switch {
		case r1 == "RATE_LIMITED" && r2 == "VALID":
			served[v1]++
		case r1 == "VALID" && r2 == "RATE_LIMITED":
			served[v2]++
		default:
			t.Fatalf("key %d: the replicas answer %s and %s", ki, r1, r2)
		}
	}
	if len(served) != 2 {
		t.Fatalf("every key went to the same replica: %v", served)
	}
}

// eventuallyLimitedVia waits until a call through nginx shows the key's limit.
func eventuallyLimitedVia(t testing.TB, gateway, key string) {
	t.Helper()
	testenv.Eventually(t, context.Background(), "nginx answers with the key's rate limit", func() error {
		req, _ := http.NewRequest("POST", gateway+"/v1/chat/completions", nil)
		req.Header.Set("x-portkey-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit") == "" {
			return fmt.Errorf("%d %v", resp.StatusCode, resp.Header)
		}
		return nil
	})
}

// TestRateLimitSharedOnRedis: two verifier replicas on one real
// redis-server hold a key's limit exactly, called alternately; with Redis
// gone, the default fail mode (local) still limits on each replica.
func TestRateLimitSharedOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	controlPlane(t)
	redis := func(o *verifier.Options) { o.RateLimitStore = "redis://" + srv.Addr }
	v1, v2 := startVerifier(t, redis), startVerifier(t, redis)
	key := issueLimitedKey(t, 7)
	eventuallyLimited(t, key, v1, v2) // two calls counted
	allowed := 0
	for range 10 {
		for _, v := range []*verifier.Server{v1, v2} {
			if authCall(t, "http://"+v.HTTPAddr(), key) == 200 {
				allowed++
			}
		}
	}
	if allowed != 7-2 {
		t.Fatalf("two replicas on Redis allowed %d calls of a 7/h key after 2, want 5", allowed)
	}
	srv.Stop()
	statuses := map[int]int{}
	for range 10 {
		statuses[authCall(t, "http://"+v1.HTTPAddr(), key)]++
	}
	if statuses[200] != 7 || statuses[429] != 3 {
		t.Fatalf("with Redis down, one replica answered %v; want its own limit (7 × 200, then 429)", statuses)
	}
	// The failures and the refusals are counted, per workspace, never per key.
	resp, err := http.Get("http://" + v1.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(metrics), `tenantward_verifier_rate_limited_total{organization="acme",workspace="acme-ws`) {
		t.Fatal("/metrics counts no rate-limited call of workspace acme-ws…")
	}
	m := regexp.MustCompile(`\ntenantward_verifier_rate_limit_store_errors_total (\d+)\n`).FindSubmatch(metrics)
	if m == nil {
		t.Fatal("/metrics has no tenantward_verifier_rate_limit_store_errors_total")
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 10 {
		t.Fatalf("/metrics counts %d store errors, want at least the 10 calls made with Redis down", n)
	}
	if strings.Contains(string(metrics), key[4:20]) {
		t.Fatal("/metrics holds the key")
	}
}
