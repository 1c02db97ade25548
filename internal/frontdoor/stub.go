package frontdoor

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tenantward/tenantward/internal/syncbuf"
)

// StubAnswer is the assistant's message in every chat completion the stub returns.
const StubAnswer = "Hello from the tenantward stub upstream."

// Stub is an OpenAI-compatible upstream: it answers POST .../chat/completions
// with StubAnswer and any other request with a small JSON object, and keeps
// every request it received. Like a verbose upstream, it logs each request
// with all its headers, so tests can show a key never gets that far.
type Stub struct {
	// URL is the base URL to give the gateway as x-portkey-custom-host.
	URL string

	srv      *http.Server
	mu       sync.Mutex
	requests []StubRequest
	log      syncbuf.Buffer
}

// StubRequest is one request the stub received.
type StubRequest struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// StartStub serves the stub on addr (host:port; port 0 picks one).
func StartStub(addr string) (*Stub, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Stub{URL: "http://" + ln.Addr().String() + "/v1"}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the stub.
func (s *Stub) Close() { _ = s.srv.Close() }

// Requests returns the requests received so far.
func (s *Stub) Requests() []StubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StubRequest(nil), s.requests...)
}

// Log returns the stub's log so far.
func (s *Stub) Log() string { return s.log.String() }

func (s *Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.requests = append(s.requests, StubRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
	s.mu.Unlock()

	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	var line strings.Builder
	fmt.Fprintf(&line, "stub: %s %s", r.Method, r.URL.RequestURI())
	for _, k := range names {
		fmt.Fprintf(&line, " %s=%q", k, strings.Join(r.Header[k], ","))
	}
	line.WriteString("\n")
	_, _ = s.log.Write([]byte(line.String()))

	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions") {
		var req struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &req)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-stub", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": StubAnswer}}},
			"usage": map[string]int{"prompt_tokens": 1, "completion_tokens": 8, "total_tokens": 9},
		})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"object": "stub", "method": r.Method, "path": r.URL.Path})
}
