package verifier

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/ratelimit"
)

// limitedAuthorizer is testAuthorizer with an in-memory limiter on a
// stopped clock and one more key, limited to 2 calls per minute and 100 per
// day; it returns that key and the clock.
func limitedAuthorizer(t testing.TB) (a *Authorizer, valid, limited string, clock *time.Time) {
	t.Helper()
	a, valid, _, _ = testAuthorizer(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a.Limiter, a.Now = ratelimit.NewMemory(), func() time.Time { return now }
	limited, k := issued(t, "acme-research", "limited")
	k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 2, Per: metav1.Duration{Duration: time.Minute}}, {Requests: 100, Per: metav1.Duration{Duration: 24 * time.Hour}}}
	a.Index.Set(k)
	return a, valid, limited, &now
}

// TestRateLimitOnTheAuthEndpoints: a key over its limit gets 429 with
// Retry-After and the RateLimit fields (403 on nginx's /v1/auth?rate-limited-status=403),
// only calls that would pass count, and a key without limits gets no fields.
func TestRateLimitOnTheAuthEndpoints(t *testing.T) {
	a, valid, limited, clock := limitedAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()
	// call returns the answer's status and header fields.
	call := func(target, key, method, uri string) response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+target, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Original-Method", method)
		req.Header.Set("X-Original-URI", uri)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return response{resp.StatusCode, resp.Header}
	}
	// A refused route does not count.
	for range 5 {
		if r := call("/v1/auth", limited, "DELETE", "/v1/prompts/x"); r.StatusCode != 403 || r.Header.Get("RateLimit") != "" {
			t.Fatalf("a route the key may not call: %d %v", r.StatusCode, r.Header)
		}
	}
	r := call("/v1/auth", limited, "POST", "/v1/chat/completions")
	if r.StatusCode != 200 || r.Header.Get("RateLimit-Policy") != `"1m0s";q=2;w=60, "24h0m0s";q=100;w=86400` ||
		r.Header.Get("RateLimit") != `"1m0s";r=1;t=30, "24h0m0s";r=99;t=864` || r.Header.Get("Retry-After") != "" {
		t.Fatalf("the first call: %d %v", r.StatusCode, r.Header)
	}
	if r := call("/v1/auth/v1/chat/completions", limited, "POST", ""); r.StatusCode != 200 {
		t.Fatalf("the second call (Envoy HTTP): %d", r.StatusCode)
	}
	for _, target := range []string{"/v1/auth", "/v1/auth/v1/chat/completions", "/v1/auth?rate-limited-status=429"} {
		r := call(target, limited, "POST", "/v1/chat/completions")
		if r.StatusCode != 429 || r.Header.Get(HeaderResult) != "RATE_LIMITED" || r.Header.Get("Retry-After") != "30" ||
			r.Header.Get("RateLimit") != `"1m0s";r=0;t=60, "24h0m0s";r=98;t=1728` {
			t.Fatalf("the third call on %s: %d %v", target, r.StatusCode, r.Header)
		}
	}
	r = call("/v1/auth?"+RateLimitedAs403, limited, "POST", "/v1/chat/completions")
	if r.StatusCode != 403 || r.Header.Get(HeaderResult) != "RATE_LIMITED" || r.Header.Get("Retry-After") != "30" {
		t.Fatalf("nginx's endpoint: %d %v", r.StatusCode, r.Header)
	}
	*clock = clock.Add(30 * time.Second)
	if r := call("/v1/auth", limited, "POST", "/v1/chat/completions"); r.StatusCode != 200 {
		t.Fatalf("after Retry-After: %d %v", r.StatusCode, r.Header)
	}
	if r := call("/v1/auth", valid, "POST", "/v1/chat/completions"); r.StatusCode != 200 || r.Header.Get("RateLimit") != "" || r.Header.Get("RateLimit-Policy") != "" {
		t.Fatalf("a key without limits: %d %v", r.StatusCode, r.Header)
	}
}

type response struct {
	StatusCode int
	Header     http.Header
}

func TestRateLimitOnVerify(t *testing.T) {
	a, _, limited, _ := limitedAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()
	// A permission the key lacks does not count.
	if _, out, _ := postVerify(t, srv.URL, `{"key":"`+limited+`","feature":"prompts","level":"Delete"}`); out.Result != "INSUFFICIENT_PERMISSIONS" || out.RateLimits != nil {
		t.Fatalf("a permission the key lacks: %+v", out)
	}
	for i := range 2 {
		if _, out, raw := postVerify(t, srv.URL, `{"key":"`+limited+`"}`); out.Result != "VALID" || len(out.RateLimits) != 2 || out.RateLimits[0].Remaining != int64(1-i) || !strings.Contains(raw, `"per":"1m0s"`) {
			t.Fatalf("call %d: %s", i+1, raw)
		}
	}
	_, out, raw := postVerify(t, srv.URL, `{"key":"`+limited+`"}`)
	if out.Result != "RATE_LIMITED" || out.RetryAfterSeconds != 30 || !strings.Contains(out.Reason, "over its rate limit of 2 calls per 1m0s") || out.KeyName != "limited" {
		t.Fatalf("the third call: %s", raw)
	}
	if strings.Contains(raw, limited[4:20]) {
		t.Fatalf("the answer repeats the key: %s", raw)
	}
}

func TestRateLimitOnExtAuthz(t *testing.T) {
	a, _, limited, _ := limitedAuthorizer(t)
	client := serveAuthz(t, &ExtAuthz{Authorizer: a})
	req := checkRequest("POST", "/v1/chat/completions", map[string]string{"authorization": "Bearer " + limited})
	for range 2 {
		resp, err := client.Check(context.Background(), req)
		if err != nil || resp.GetOkResponse() == nil || headerValue(resp.GetOkResponse().GetResponseHeadersToAdd(), "RateLimit-Policy") == "" {
			t.Fatalf("an allowed call: %v %v", resp, err)
		}
	}
	resp, err := client.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	denied := resp.GetDeniedResponse()
	if denied.GetStatus().GetCode() != typev3.StatusCode_TooManyRequests || headerValue(denied.GetHeaders(), "Retry-After") != "30" ||
		headerValue(denied.GetHeaders(), HeaderResult) != "RATE_LIMITED" || headerValue(denied.GetHeaders(), "RateLimit") == "" {
		t.Fatalf("the third call: %v", resp)
	}
}

func headerValue(hs []*corev3.HeaderValueOption, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.GetHeader().GetKey(), name) {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

// BenchmarkAuthorizeRateLimited is Authorize at 100,000 keys, each with a
// rate limit too high to reach, without a limiter and with the in-memory one.
func BenchmarkAuthorizeRateLimited(b *testing.B) {
	ix := NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	keys := make([]string, 0, 1024)
	for i := range 100_000 {
		key, k := issued(b, "ns", fmt.Sprintf("key-%d", i))
		k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 1_000_000_000, Per: metav1.Duration{Duration: time.Second}}}
		ix.Set(k)
		if len(keys) < cap(keys) {
			keys = append(keys, key)
		}
	}
	for _, c := range []struct {
		name    string
		limiter ratelimit.Limiter
	}{{"none", nil}, {"memory", ratelimit.NewMemory()}} {
		a := &Authorizer{Index: ix, Router: mustRouter(b, RouteMap{}), Limiter: c.limiter}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if d := a.Authorize(keys[i%len(keys)], "POST", "/v1/chat/completions", RequestModel{}); d.Status != 200 {
					b.Fatal(d)
				}
				i++
			}
		})
	}
}
