package verifier

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkAuthHandler measures the HTTP handler of /v1/auth (nginx's
// auth_request) and /v1/verify at 100,000 keys, in process, beside a handler
// answering a constant 200 in the same run: the ratio is the handler's own
// cost, without the network and the HTTP server both share.
func BenchmarkAuthHandler(b *testing.B) {
	ix, keys := benchIndex(b, 100_000)
	rt, err := RouteMap{}.Compile()
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler(&Authorizer{Index: ix, Router: rt})
	constant := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":"VALID"}` + "\n"))
	})
	auth := func(key string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, AuthPath, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("X-Original-Method", "POST")
		r.Header.Set("X-Original-URI", "/v1/chat/completions")
		return r
	}
	verify := func(key string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(`{"key":"`+key+`"}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	for _, c := range []struct {
		name string
		h    http.Handler
		req  func(string) *http.Request
	}{{"constant", constant, auth}, {"auth", h, auth}, {"verify", h, verify}} {
		reqs := make([]*http.Request, 1024)
		for i := range reqs {
			reqs[i] = c.req(keys[i])
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := reqs[i%len(reqs)]
				if c.name == "verify" {
					r = c.req(keys[i%len(reqs)])
				}
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
				}
				i++
			}
		})
	}
}
