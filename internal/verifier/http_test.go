package verifier

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// testAuthorizer holds one valid workspace key (completions, prompts Read),
// one disabled key and one expired key.
func testAuthorizer(t testing.TB) (a *Authorizer, valid, disabled, expired string) {
	t.Helper()
	a = &Authorizer{Index: NewIndex(), Router: mustRouter(t, RouteMap{})}
	valid, k := issued(t, "acme-research", "app")
	a.Index.Set(k)
	disabled, k = issued(t, "acme-research", "off")
	k.Spec.State = accessv1alpha1.KeyDisabled
	a.Index.Set(k)
	expired, k = issued(t, "acme-research", "old")
	k.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(-time.Minute)}
	a.Index.Set(k)
	return a, valid, disabled, expired
}

func postVerify(t *testing.T, url, body string) (int, VerifyResponse, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/verify", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var out VerifyResponse
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

func TestVerifyEndpoint(t *testing.T) {
	a, valid, disabled, expired := testAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()

	status, out, _ := postVerify(t, srv.URL, `{"key":"`+valid+`"}`)
	if status != 200 || out.Result != "VALID" || out.Organization != "acme" || out.Workspace != "research" ||
		out.KeyName != "app" || out.Namespace != "acme-research" || out.Permissions == nil || out.Permissions.Prompts != "Read" {
		t.Fatalf("valid key: %d %+v", status, out)
	}
	for _, c := range []struct{ body, want string }{
		{`{"key":"` + valid + `","feature":"prompts","level":"Delete"}`, "INSUFFICIENT_PERMISSIONS"},
		{`{"key":"` + valid + `","feature":"completions","level":"Enabled"}`, "VALID"},
		{`{"key":"` + valid + `","feature":"prompts"}`, "VALID"},
		{`{"key":"` + disabled + `"}`, "DISABLED"},
		{`{"key":"` + expired + `"}`, "EXPIRED"},
		{`{"key":"` + valid[:20] + `"}`, "MALFORMED"},
		{`{"key":""}`, "MALFORMED"},
	} {
		status, out, raw := postVerify(t, srv.URL, c.body)
		if status != 200 || out.Result != c.want {
			t.Errorf("%s: %d %s; want %s", c.body, status, raw, c.want)
		}
		if strings.Contains(raw, valid[4:20]) {
			t.Errorf("the answer repeats the key: %s", raw)
		}
	}
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"key":"` + valid + `","feature":"billing"}`, 400, "unknown feature"},
		{`{"key":"` + valid + `","level":"Read"}`, 400, "level is set without feature"},
		{`{"key":"` + valid + `","feature":"metrics","level":"Read"}`, 400, "on/off"},
		{`{"key":"` + valid + `","extra":1}`, 400, `unknown field \"extra\"`},
		{`{"key":42}`, 400, `field \"key\" must be a string`},
		{`{"key":"` + valid, 400, "truncated"},
		{`not json ` + valid, 400, "invalid JSON"},
		{`{"key":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "over"},
	} {
		status, _, raw := postVerify(t, srv.URL, c.body)
		if status != c.status || !strings.Contains(raw, c.want) {
			t.Errorf("%.60s: %d %s; want %d with %q", c.body, status, raw, c.status, c.want)
		}
		if strings.Contains(raw, valid[4:20]) {
			t.Errorf("the error repeats the key: %s", raw)
		}
	}
}

func TestAuthEndpoint(t *testing.T) {
	a, valid, disabled, _ := testAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()

	cases := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		status  int
	}{
		{"nginx, bearer", "GET", "/v1/auth", map[string]string{"Authorization": "Bearer " + valid, "X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 200},
		{"nginx, portkey header", "GET", "/v1/auth", map[string]string{"x-portkey-api-key": valid, "X-Original-Method": "GET", "X-Original-URI": "/v1/prompts?limit=5"}, 200},
		{"portkey header beside a provider's bearer token", "GET", "/v1/auth", map[string]string{"x-portkey-api-key": valid, "Authorization": "Bearer sk-provider-credential", "X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 200},
		{"a disabled portkey key is not saved by a valid bearer", "GET", "/v1/auth", map[string]string{"x-portkey-api-key": disabled, "Authorization": "Bearer " + valid, "X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 401},
		{"nginx, needs prompts delete", "GET", "/v1/auth", map[string]string{"Authorization": "Bearer " + valid, "X-Original-Method": "DELETE", "X-Original-URI": "/v1/prompts/x"}, 403},
		{"nginx, unmapped route", "GET", "/v1/auth", map[string]string{"Authorization": "Bearer " + valid, "X-Original-Method": "GET", "X-Original-URI": "/v1/secret-stuff"}, 403},
		{"nginx, disabled key", "GET", "/v1/auth", map[string]string{"Authorization": "Bearer " + disabled, "X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 401},
		{"nginx, no key", "GET", "/v1/auth", map[string]string{"X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 401},
		{"nginx, mistyped key", "GET", "/v1/auth", map[string]string{"Authorization": "Bearer " + valid[:37] + "x", "X-Original-URI": "/v1/chat/completions"}, 401},
		{"forwarded headers", "GET", "/v1/auth", map[string]string{"Authorization": "bearer " + valid, "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/v1/embeddings"}, 200},
		{"envoy, path appended", "POST", "/v1/auth/v1/chat/completions", map[string]string{"Authorization": "Bearer " + valid}, 200},
		{"envoy, delete prompt", "DELETE", "/v1/auth/v1/prompts/x", map[string]string{"Authorization": "Bearer " + valid}, 403},
		{"envoy, traversal", "POST", "/v1/auth/v1/users/../chat/completions", map[string]string{"Authorization": "Bearer " + valid}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, c.status)
			}
			if strings.Contains(string(body), valid[4:20]) {
				t.Fatal("the answer repeats the key")
			}
			if c.status == 200 {
				if resp.Header.Get(HeaderOrganization) != "acme" || resp.Header.Get(HeaderWorkspace) != "research" || resp.Header.Get(HeaderKey) != "acme-research/app" {
					t.Fatalf("identity headers: %v", resp.Header)
				}
			} else if len(body) == 0 || resp.Header.Get(HeaderResult) == "" {
				t.Fatal("a refusal without a reason")
			}
		})
	}
}

// FuzzAuthRequest drives the auth endpoint with arbitrary headers and paths:
// it must answer 200, 401 or 403 and never panic.
func FuzzAuthRequest(f *testing.F) {
	a, valid, _, _ := testAuthorizer(f)
	h := NewHandler(a)
	f.Add("Bearer "+valid, "POST", "/v1/chat/completions", "")
	f.Add("", "GET", "/v1/prompts/../users", valid)
	f.Add("Bearer", "DELETE", "%2e%2e/", "")
	f.Fuzz(func(t *testing.T, authorization, method, uri, portkey string) {
		req := httptest.NewRequest("GET", "/v1/auth", nil)
		req.Header["Authorization"] = []string{authorization}
		req.Header["X-Original-Method"] = []string{method}
		req.Header["X-Original-Uri"] = []string{uri}
		req.Header["X-Portkey-Api-Key"] = []string{portkey}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 401, 403:
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
