package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/keypolicy"
)

// modelKey adds a key limited to models to a's index and returns it.
func modelKey(t testing.TB, a *Authorizer, name string, models ...accessv1alpha1.ModelPattern) string {
	t.Helper()
	key, k := issued(t, "acme-research", name)
	k.Status.Models = models
	a.Index.Set(k)
	return key
}

func TestModelRefusal(t *testing.T) {
	limited := []string{"gpt-4o*", "anthropic/claude-3-5-*"}
	for _, c := range []struct {
		models []string
		model  RequestModel
		want   string // "" allowed, else a fragment of the refusal
	}{
		{nil, RequestModel{}, ""},
		{nil, RequestModel{Name: "anything at all"}, ""},
		{limited, RequestModel{Name: "gpt-4o"}, ""},
		{limited, RequestModel{Name: "gpt-4o-mini"}, ""},
		{limited, RequestModel{Name: "anthropic/claude-3-5-sonnet"}, ""},
		{limited, RequestModel{Name: "gpt-5"}, `the key is limited to models gpt-4o*, anthropic/claude-3-5-*, and "gpt-5" is none of them`},
		{limited, RequestModel{Name: "GPT-4o"}, "is none of them"},
		{limited, RequestModel{}, "the key is limited to models gpt-4o*, anthropic/claude-3-5-* and the request names none"},
		{limited, RequestModel{Name: "gpt-4o-mini,o1-pro"}, "not a model name"},
		{limited, RequestModel{Name: "gpt-4o mini"}, "not a model name"},
		{limited, RequestModel{Name: "gpt-4o*"}, "not a model name"},
		{limited, RequestModel{Name: "gpt-4o\u202e"}, "not a model name"},
		{limited, RequestModel{Name: "gpt-4o" + strings.Repeat("x", 250)}, "not a model name"},
		{limited, RequestModel{Unknown: errModelTwice}, "cannot be known: the body names the model twice"},
		{[]string{"*"}, RequestModel{Name: "o1-pro"}, ""},
		{[]string{"*"}, RequestModel{}, "names none"},
		{[]string{string(keypolicy.NoModel)}, RequestModel{Name: string(keypolicy.NoModel)}, "the key may call no model"},
	} {
		got := modelRefusal(c.models, c.model)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("modelRefusal(%v, %+v) = %q, want %q", c.models, c.model, got, c.want)
		}
	}
}

func TestModelFromBody(t *testing.T) {
	for _, c := range []struct {
		body    string
		partial bool
		want    string
		err     error
	}{
		{`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, false, "gpt-4o", nil},
		{`{"messages":[{"model":"gpt-5"}],"stream":true,"model":"gpt-4o-mini"}`, false, "gpt-4o-mini", nil},
		{` {"input":"x"} `, false, "", nil},
		{`{"model":"gpt-4o","model":"o1-pro"}`, false, "", errModelTwice},
		{`{"model":"gpt-4o","Model":"o1-pro"}`, false, "", errModelTwice},
		{`{"model":"gpt-4o","mod\u0065l":"o1-pro"}`, false, "", errModelTwice},
		{`{"model":["gpt-4o"]}`, false, "", errModelType},
		{`{"model":null}`, false, "", errModelType},
		{`{"model":"gpt-4o"`, false, "", errNotJSONObject},
		{`{"model":"gpt-4o"}{"model":"o1-pro"}`, false, "", errNotJSONObject},
		{`["model","gpt-4o"]`, false, "", errNotJSONObject},
		{`model=gpt-4o`, false, "", errNotJSONObject},
		{`{"model":"gpt-4o"}`, true, "", errPartialBody},
	} {
		got, err := modelFromBody([]byte(c.body), c.partial)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("modelFromBody(%s, %v) = %q, %v; want %q, %v", c.body, c.partial, got, err, c.want, c.err)
		}
	}
}

// FuzzModelFromBody: never a panic, and a model found is the one a JSON
// decoder finds in the body's top-level object.
func FuzzModelFromBody(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","messages":[]}`))
	f.Add([]byte(`{"model":"a","MODEL":"b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		model, err := modelFromBody(body, false)
		if err != nil || model == "" {
			return
		}
		var obj struct {
			Model string `json:"model"` // matched case-insensitively, as servers in Go do
		}
		if err := json.Unmarshal(body, &obj); err != nil || obj.Model != model {
			t.Fatalf("found model %q, the decoder finds %q (%v)", model, obj.Model, err)
		}
	})
}

// TestModelAccessOverHTTP: a key limited to models passes only with a model
// it matches, on /v1/verify (the model field) and on both HTTP auth
// endpoints (the model header); a request that names none is refused, and
// routes that call no model are not concerned.
func TestModelAccessOverHTTP(t *testing.T) {
	a, valid, _, _ := testAuthorizer(t)
	limited := modelKey(t, a, "limited", "gpt-4o*", "claude-*")
	none := modelKey(t, a, "none", keypolicy.NoModel)
	srv := httptest.NewServer(NewHandler(a))
	defer srv.Close()

	for _, c := range []struct {
		name, body, want, reason string
	}{
		{"a model of the list", `{"key":"` + limited + `","model":"gpt-4o-mini"}`, "VALID", ""},
		{"with completions", `{"key":"` + limited + `","feature":"completions","model":"claude-3-haiku"}`, "VALID", ""},
		{"another model", `{"key":"` + limited + `","model":"o1-pro"}`, "INSUFFICIENT_PERMISSIONS", `"o1-pro" is none of them`},
		{"no model", `{"key":"` + limited + `"}`, "INSUFFICIENT_PERMISSIONS", "the request names none"},
		{"no model, completions", `{"key":"` + limited + `","feature":"completions"}`, "INSUFFICIENT_PERMISSIONS", "the request names none"},
		{"another feature names no model", `{"key":"` + limited + `","feature":"prompts"}`, "VALID", ""},
		{"a key left with no model", `{"key":"` + none + `","model":"gpt-4o"}`, "INSUFFICIENT_PERMISSIONS", "the key may call no model"},
		{"an unlimited key, no model", `{"key":"` + valid + `"}`, "VALID", ""},
	} {
		t.Run("verify/"+c.name, func(t *testing.T) {
			status, out, raw := postVerify(t, srv.URL, c.body)
			if status != 200 || out.Result != c.want || !strings.Contains(out.Reason, c.reason) {
				t.Fatalf("%d %s; want %s with %q", status, raw, c.want, c.reason)
			}
		})
	}

	chat := map[string]string{"X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}
	for _, c := range []struct {
		name    string
		key     string
		url     string
		headers map[string]string
		models  []string
		status  int
		reason  string
	}{
		{"nginx, a model of the list", limited, "/v1/auth", chat, []string{"gpt-4o"}, 200, ""},
		{"nginx, another model", limited, "/v1/auth", chat, []string{"o1-pro"}, 403, `"o1-pro" is none of them`},
		{"nginx, no model", limited, "/v1/auth", chat, nil, 403, "names none"},
		{"nginx, the header twice", limited, "/v1/auth", chat, []string{"gpt-4o", "o1-pro"}, 403, "names none"},
		{"nginx, a joined list", limited, "/v1/auth", chat, []string{"gpt-4o,o1-pro"}, 403, "not a model name"},
		{"nginx, prompts call no model", limited, "/v1/auth", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/v1/prompts"}, nil, 200, ""},
		{"envoy, a model of the list", limited, "/v1/auth/v1/chat/completions", nil, []string{"claude-3-5-sonnet"}, 200, ""},
		{"envoy, no model", limited, "/v1/auth/v1/embeddings", nil, nil, 403, "names none"},
		{"envoy, an unlimited key", valid, "/v1/auth/v1/chat/completions", nil, nil, 200, ""},
	} {
		t.Run("auth/"+c.name, func(t *testing.T) {
			method := "GET"
			if c.headers == nil {
				method = "POST"
			}
			req, _ := http.NewRequest(method, srv.URL+c.url, nil)
			req.Header.Set("Authorization", "Bearer "+c.key)
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			for _, m := range c.models {
				req.Header.Add(DefaultModelHeader, m)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.reason) {
				t.Fatalf("%d %q; want %d with %q", resp.StatusCode, body, c.status, c.reason)
			}
		})
	}

	if _, err := (RouteMap{ModelHeader: "x model"}).Compile(); err == nil || !strings.Contains(err.Error(), `routes.modelHeader: "x model" is not a header name`) {
		t.Fatalf("a bad routes.modelHeader: %v", err)
	}
	t.Run("a configured header", func(t *testing.T) {
		b := &Authorizer{Index: a.Index, Router: mustRouter(t, RouteMap{ModelHeader: "X-AI-EG-Model"})}
		srv := httptest.NewServer(NewHandler(b))
		defer srv.Close()
		for model, want := range map[string]int{"gpt-4o": 200, "o1-pro": 403} {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/auth/v1/chat/completions", nil)
			req.Header.Set("Authorization", "Bearer "+limited)
			req.Header.Set("X-Ai-Eg-Model", model)
			req.Header.Set(DefaultModelHeader, "gpt-4o") // not the configured one: ignored
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("x-ai-eg-model: %s: %d, want %d", model, resp.StatusCode, want)
			}
		}
	})
}

// TestModelAccessOverGRPC: Envoy's ext_authz decides from the JSON body when
// it sends one (with_request_body), else from the model header; a body that
// names the model twice, or only part of the body, is refused for a key
// limited to models.
func TestModelAccessOverGRPC(t *testing.T) {
	a, _, _, _ := testAuthorizer(t)
	limited := modelKey(t, a, "limited", "gpt-4o*")
	client := serveAuthz(t, &ExtAuthz{Authorizer: a})
	bodyReq := func(body string, headers map[string]string) *authv3.CheckRequest {
		h := map[string]string{"authorization": "Bearer " + limited}
		for k, v := range headers {
			h[k] = v
		}
		r := checkRequest("POST", "/v1/chat/completions", h)
		r.Attributes.Request.Http.Body = body
		return r
	}
	for _, c := range []struct {
		name   string
		req    *authv3.CheckRequest
		code   codes.Code
		reason string
	}{
		{"body: a model of the list", bodyReq(`{"model":"gpt-4o-mini","messages":[]}`, nil), codes.OK, ""},
		{"body: another model", bodyReq(`{"model":"o1-pro","messages":[]}`, nil), codes.PermissionDenied, `"o1-pro" is none of them`},
		{"body over the header", bodyReq(`{"model":"o1-pro"}`, map[string]string{DefaultModelHeader: "gpt-4o"}), codes.PermissionDenied, "none of them"},
		{"body: the model twice", bodyReq(`{"model":"gpt-4o","MODEL":"o1-pro"}`, nil), codes.PermissionDenied, "names the model twice"},
		{"body: partial", bodyReq(`{"model":"gpt-4o","messages":[`, map[string]string{"x-envoy-auth-partial-body": "true"}), codes.PermissionDenied, "part of the body"},
		{"body: shorter than its content-length", bodyReq(`{"model":"gpt-4o"}`, map[string]string{"content-length": "90000"}), codes.PermissionDenied, "part of the body"},
		{"body: no model", bodyReq(`{"input":"hi"}`, nil), codes.PermissionDenied, "names none"},
		{"raw body", func() *authv3.CheckRequest {
			r := bodyReq("", nil)
			r.Attributes.Request.Http.RawBody = []byte(`{"model":"gpt-4o"}`)
			return r
		}(), codes.OK, ""},
		{"header: a model of the list", bodyReq("", map[string]string{DefaultModelHeader: "gpt-4o"}), codes.OK, ""},
		{"nothing", bodyReq("", nil), codes.PermissionDenied, "names none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != c.code || !strings.Contains(resp.GetStatus().GetMessage(), c.reason) {
				t.Fatalf("%v %q; want %v with %q", got, resp.GetStatus().GetMessage(), c.code, c.reason)
			}
		})
	}
}

// BenchmarkAuthorizeModels compares Authorize of a chat completion with keys
// limited to 10 model patterns (the model matching the last) against
// unlimited keys of the same index of 100,000, in the same run: the ratio
// (speed-vs-unlimited of models-10) is the figure (docs/verifier.md).
func BenchmarkAuthorizeModels(b *testing.B) {
	ix, keys := benchIndex(b, 100_000)
	models := make([]accessv1alpha1.ModelPattern, 10)
	for i := range models {
		models[i] = accessv1alpha1.ModelPattern(fmt.Sprintf("provider-%d/model-*", i))
	}
	limited := make([]string, len(keys))
	for i := range limited {
		key, k := issued(b, "ns", fmt.Sprintf("limited-%d", i))
		k.Status.Models = models
		ix.Set(k)
		limited[i] = key
	}
	now := time.Now()
	a := &Authorizer{Index: ix, Router: mustRouter(b, RouteMap{}), Now: func() time.Time { return now }}
	model := RequestModel{Name: "provider-9/model-large-2025"}
	var base float64
	for _, c := range []struct {
		name string
		keys []string
	}{{"unlimited", keys}, {"models-10", limited}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			start := time.Now()
			for b.Loop() {
				if d := a.Authorize(c.keys[i%len(c.keys)], "POST", "/v1/chat/completions", model); d.Status != http.StatusOK {
					b.Fatal(d.Reason)
				}
				i++
			}
			perOp := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			if base == 0 {
				base = perOp
			}
			b.ReportMetric(base/perOp, "speed-vs-unlimited")
		})
	}
}
