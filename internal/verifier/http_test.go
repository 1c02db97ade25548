package verifier

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// testAuthorizer holds one valid workspace key (completions, prompts Read),
// one disabled key and one expired key.
func testAuthorizer(t testing.TB) (a *Authorizer, valid, disabled, expired string) {
	t.Helper()
	a = &Authorizer{Index: NewIndex(), Router: mustRouter(t, RouteMap{})}
	a.Index.SetOrganization("acme", "acme-uid")
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

// TestVerifyEndpointRouting: POST /v1/verify is served whatever its query;
// other methods and spellings of the path are the mux's (405, redirect).
func TestVerifyEndpointRouting(t *testing.T) {
	a, valid, _, _ := testAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/v1/verify", 200},
		{"POST", "/v1/verify?x=1", 200},
		{"GET", "/v1/verify", 405},
		{"PUT", "/v1/verify", 405},
		{"POST", "/v1//verify", 307},
		{"POST", "/v1/verify/", 404},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(`{"key":"`+valid+`"}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
	// A body over MaxBodyBytes is not read to its end: the connection is
	// closed after the answer, as http.MaxBytesReader has it; others are kept.
	for body, closed := range map[string]bool{`{"key":"` + valid + `"}`: false, `{"key":"` + strings.Repeat("a", 2*MaxBodyBytes) + `"}`: true} {
		resp, err := http.Post(srv.URL+"/v1/verify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.Close != closed {
			t.Errorf("a body of %d bytes: %d, connection closed %v", len(body), resp.StatusCode, resp.Close)
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
		{"nginx, query string", "GET", "/v1/auth", map[string]string{"Authorization": "bearer " + valid, "X-Original-Method": "POST", "X-Original-URI": "/v1/embeddings?api-version=2&x=%2e%2e;/"}, 200},
		{"forwarded headers are not trusted", "GET", "/v1/auth", map[string]string{"Authorization": "bearer " + valid, "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/v1/embeddings"}, 403},
		{"envoy, path appended", "POST", "/v1/auth/v1/chat/completions", map[string]string{"Authorization": "Bearer " + valid}, 200},
		{"envoy, query string", "POST", "/v1/auth/v1/chat/completions?stream=true", map[string]string{"Authorization": "Bearer " + valid}, 200},
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

// attackKeys adds to a the keys of the hostile-tenant tests: a workspace key
// with only completions, a workspace key with users Delete and prompts
// Delete but no completions, and an admin key with users Delete.
func attackKeys(t testing.TB, a *Authorizer) (chat, team, admin string) {
	t.Helper()
	chat, k := issued(t, "acme-research", "chat")
	k.Spec.Permissions.Prompts = accessv1alpha1.AccessDisabled
	a.Index.Set(k)
	team, k = issued(t, "acme-research", "team")
	k.Spec.Permissions.Completions, k.Spec.Permissions.Prompts, k.Spec.Permissions.Users = accessv1alpha1.ToggleDisabled, accessv1alpha1.AccessDelete, accessv1alpha1.AccessDelete
	a.Index.Set(k)
	admin, k = issued(t, "org-acme", "admin")
	k.Status.Type, k.Status.Workspace, k.Spec.Permissions.Users = accessv1alpha1.KeyTypeAdmin, "", accessv1alpha1.AccessDelete
	a.Index.Set(k)
	return chat, team, admin
}

// attackCase is one request of the hostile-tenant tests, asked the same way
// of every endpoint: nginx (/v1/auth with X-Original-*), Envoy HTTP
// (/v1/auth/<path>) and gRPC Check.
type attackCase struct {
	name         string
	key          string
	method, path string
	// spoof are headers the client adds, which no endpoint may trust.
	spoof  map[string]string
	status int
	reason string // a fragment of the refusal
}

func attackCases(t testing.TB, a *Authorizer) []attackCase {
	chat, team, admin := attackKeys(t, a)
	prompts := map[string]string{"X-Original-Method": "DELETE", "X-Original-URI": "/v1/prompts/x", "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/v1/prompts/x"}
	return []attackCase{
		// Item 5: workspace keys never pass organization-level routes.
		{"workspace key, users Delete, DELETE /v1/admin/users/u1", team, "DELETE", "/v1/admin/users/u1", nil, 403, "organization-level route"},
		{"workspace key, users Delete, POST /v1/admin/user-invites", team, "POST", "/v1/admin/user-invites", nil, 403, "organization-level route"},
		{"workspace key, users Delete, DELETE /v1/users/u1", team, "DELETE", "/v1/users/u1", nil, 403, "organization-level route"},
		{"workspace key, users Delete, GET /v1/user-invites", team, "GET", "/v1/user-invites", nil, 403, "organization-level route"},
		{"workspace key, users Delete, GET /v1/admin/workspaces", team, "GET", "/v1/admin/workspaces", nil, 403, "organization-level route"},
		{"admin key, DELETE /v1/admin/users/u1", admin, "DELETE", "/v1/admin/users/u1", nil, 200, ""},
		{"admin key, POST /v1/admin/user-invites?x=1", admin, "POST", "/v1/admin/user-invites?x=1", nil, 200, ""},
		{"admin key, DELETE /v1/users/u1", admin, "DELETE", "/v1/users/u1", nil, 200, ""},
		{"workspace key, users Delete, its own prompts", team, "DELETE", "/v1/prompts/x", nil, 200, ""},
		// Item 6: the path is the gateway's, and ambiguous paths are refused.
		{"completions key, client-sent X-Original-* asking prompts delete", chat, "DELETE", "/v1/prompts/x", nil, 403, "lacks a permission"},
		{"client-sent X-Original-* on another route are ignored", chat, "POST", "/v1/images/x", prompts, 200, ""},
		{"prompts Delete key, client-sent X-Original-* do not lend prompts", team, "POST", "/v1/images/x", prompts, 403, "lacks a permission"},
		{"..; path parameter", chat, "POST", "/v1/images/..;/prompts/x", nil, 403, "ambiguous path"},
		{"double-encoded dots", chat, "POST", "/v1/images/%252e%252e/prompts/x", nil, 403, "ambiguous path"},
		{"encoded dots", chat, "POST", "/v1/images/%2e%2e/prompts/x", nil, 403, "ambiguous path"},
		{"encoded slash", chat, "POST", "/v1/images/x%2F..%2Fprompts", nil, 403, "ambiguous path"},
		{"dot segments", chat, "POST", "/v1/images/../prompts/x", nil, 403, "ambiguous path"},
		{"empty segment", chat, "POST", "/v1//images/x", nil, 403, "ambiguous path"},
		{"lower-case method", team, "delete", "/v1/prompts/x", nil, 403, "ambiguous method"},
		{"twin: query string", chat, "POST", "/v1/images/generations?model=a%2Fb&n=1", nil, 200, ""},
		{"twin: an escape that is not a separator", chat, "POST", "/v1/images/a%20b", nil, 200, ""},
		{"an ambiguous path with a bad key is 401", chat[:20], "POST", "/v1/images/..;/x", nil, 401, "malformed API key"},
	}
}

// TestAuthEndpointAttacks replays the hostile-tenant attacks on the nginx and
// Envoy-style endpoints over HTTP.
func TestAuthEndpointAttacks(t *testing.T) {
	a, _, _, _ := testAuthorizer(t)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()
	do := func(t *testing.T, method, url string, headers map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	for _, c := range attackCases(t, a) {
		t.Run(c.name, func(t *testing.T) {
			nginx := map[string]string{"Authorization": "Bearer " + c.key, "X-Original-Method": c.method, "X-Original-URI": c.path}
			envoy := map[string]string{"Authorization": "Bearer " + c.key}
			for k, v := range c.spoof {
				envoy[k] = v
			}
			for endpoint, got := range map[string]func() (int, string){
				"nginx": func() (int, string) { return do(t, "GET", srv.URL+AuthPath, nginx) },
				"envoy": func() (int, string) { return do(t, c.method, srv.URL+AuthPath+c.path, envoy) },
			} {
				status, body := got()
				if status != c.status || !strings.Contains(body, c.reason) {
					t.Errorf("%s: %d %q; want %d with %q", endpoint, status, body, c.status, c.reason)
				}
			}
		})
	}
	// nginx sets X-Original-URI once; two values are ambiguous.
	_, _, admin := attackKeys(t, a)
	req, _ := http.NewRequest("GET", srv.URL+AuthPath, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Add("X-Original-URI", "/v1/admin/users")
	req.Header.Add("X-Original-URI", "/v1/chat/completions")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("two X-Original-URI headers: %d", resp.StatusCode)
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

// TestAuthEndpointKeyHeaders sends the key in odd ways: what the auth
// endpoint reads as the key (the x-portkey-api-key value first, trimmed,
// else a case-insensitive "Bearer " Authorization value, trimmed; the first
// of repeated fields) is what the gRPC endpoint reads from the same fields.
func TestAuthEndpointKeyHeaders(t *testing.T) {
	a, valid, disabled, _ := testAuthorizer(t)
	h := NewHandler(a)
	cases := []struct {
		name                   string
		portkey, authorization []string
		want                   Code
	}{
		{"bearer", nil, []string{"Bearer " + valid}, Valid},
		{"lower-case bearer, padded", nil, []string{"bearer   " + valid + " \t"}, Valid},
		{"upper-case bearer", nil, []string{"BEARER " + valid}, Valid},
		{"bearer with a tab", nil, []string{"Bearer\t" + valid}, Malformed},
		{"bearer without a key", nil, []string{"Bearer "}, Malformed},
		{"basic", nil, []string{"Basic " + valid}, Malformed},
		{"the key alone", nil, []string{valid}, Malformed},
		{"the first of two Authorization fields", nil, []string{"Bearer " + disabled, "Bearer " + valid}, Disabled},
		{"portkey, padded", []string{" " + valid + " "}, nil, Valid},
		{"portkey before bearer", []string{disabled}, []string{"Bearer " + valid}, Disabled},
		{"blank portkey falls back to bearer", []string{"  "}, []string{"Bearer " + valid}, Valid},
		{"the first of two portkey fields", []string{valid, disabled}, nil, Valid},
		{"portkey with a bearer prefix", []string{"Bearer " + valid}, nil, Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", AuthPath, nil)
			req.Header["X-Original-Method"] = []string{"POST"}
			req.Header["X-Original-Uri"] = []string{"/v1/chat/completions"}
			grpcHeaders := map[string]string{}
			if c.portkey != nil {
				req.Header["X-Portkey-Api-Key"] = c.portkey
				grpcHeaders["x-portkey-api-key"] = c.portkey[0]
			}
			if c.authorization != nil {
				req.Header["Authorization"] = c.authorization
				grpcHeaders["authorization"] = c.authorization[0]
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get(HeaderResult); got != c.want.String() {
				t.Errorf("HTTP: %s, want %s", got, c.want)
			}
			resp, err := (&ExtAuthz{Authorizer: a}).Check(t.Context(), checkRequest("POST", "/v1/chat/completions", grpcHeaders))
			if err != nil {
				t.Fatal(err)
			}
			if got := grpcResult(resp); got != c.want.String() {
				t.Errorf("gRPC: %s, want %s", got, c.want)
			}
		})
	}
}

// grpcResult is the result code a Check answer carries: VALID when allowed,
// else its x-tenantward-result.
func grpcResult(resp *authv3.CheckResponse) string {
	if resp.GetOkResponse() != nil {
		return Valid.String()
	}
	return headerValue(resp.GetDeniedResponse().GetHeaders(), HeaderResult)
}
