package verifier

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/ratelimit"
)

// BenchmarkAuthHandler measures the HTTP handler of /v1/auth (nginx's
// auth_request) and /v1/verify at 100,000 keys, in process, beside a handler
// answering a constant 200 (the one of hack/verifier-load) in the same run:
// the difference is the handler's own cost, and the work on its header
// fields that net/http does per answer, without the network and the rest of
// the HTTP server both share. -handler-keys sets the number of keys
// (hack/handler-instructions.sh counts the instructions of serveEach with
// fewer, under valgrind).
func BenchmarkAuthHandler(b *testing.B) {
	ix, keys := benchIndex(b, *handlerKeys)
	rt, err := RouteMap{}.Compile()
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler(&Authorizer{Index: ix, Router: rt})
	// The same keys with a rate limit too high to reach, and the in-memory limiter.
	limitedIx := NewIndex()
	limitedIx.SetOrganization("acme", "acme-uid")
	for i, key := range keys {
		_, k := issued(b, "ns", fmt.Sprintf("key-%d", i))
		k.Status.Hash = apikey.Sum(key).String()
		k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 1_000_000_000, Per: metav1.Duration{Duration: time.Second}}}
		limitedIx.Set(k)
	}
	limited := NewHandler(&Authorizer{Index: limitedIx, Router: rt, Limiter: ratelimit.NewMemory()})
	constant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sink [512]byte
		for {
			if _, err := r.Body.Read(sink[:]); err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":"VALID"}` + "\n"))
	})
	auth := func(key string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, AuthPath, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("X-Original-Method", "POST")
		r.Header.Set("X-Original-URI", "/v1/chat/completions")
		r.Header.Set("X-Tenantward-Model", "gpt-4o-mini")
		return r
	}
	verify := func(key string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/verify", &rereadBody{body: `{"key":"` + key + `"}`})
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	for _, c := range []struct {
		name string
		h    http.Handler
		req  func(string) *http.Request
	}{{"constant", constant, auth}, {"auth", h, auth}, {"auth+limit", limited, auth}, {"verify", h, verify}} {
		reqs := make([]*http.Request, len(keys))
		for i := range reqs {
			reqs[i] = c.req(keys[i])
		}
		b.Run(c.name, func(b *testing.B) { serveEach(b, c.h, reqs) })
	}
}

// handlerKeys is the number of keys of BenchmarkAuthHandler.
var handlerKeys = flag.Int("handler-keys", 100_000, "the number of keys in BenchmarkAuthHandler's index")

// serveEach is BenchmarkAuthHandler's loop: h answers reqs in turn, each
// through a new serverWriter, and must allow every one.
func serveEach(b *testing.B, h http.Handler, reqs []*http.Request) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		if body, ok := r.Body.(*rereadBody); ok {
			body.Reset(body.body)
		}
		w := &serverWriter{header: make(http.Header)}
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("%s: %d", b.Name(), w.status)
		}
		i++
	}
}

// rereadBody is a request body that the benchmark rewinds before each call,
// so that /v1/verify is measured without building a request per call.
type rereadBody struct {
	strings.Reader
	body string
}

func (*rereadBody) Close() error { return nil }

// serverWriter is a ResponseWriter that does with the header fields what
// net/http's does per answer (a new map per request, a copy of it at
// WriteHeader, written out sorted) and discards the body.
type serverWriter struct {
	header http.Header
	status int
}

func (w *serverWriter) Header() http.Header { return w.header }

func (w *serverWriter) WriteHeader(status int) {
	w.status = status
	_ = w.header.Clone().Write(io.Discard)
}

func (w *serverWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return len(p), nil
}
