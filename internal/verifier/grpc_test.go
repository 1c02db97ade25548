package verifier

import (
	"context"
	"net"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// serveAuthz serves impl over a real gRPC connection on loopback and returns
// a client, as Envoy would talk to it.
func serveAuthz(t testing.TB, impl authv3.AuthorizationServer) authv3.AuthorizationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, impl)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Headers: headers},
	}}}
}

func TestExtAuthzCheck(t *testing.T) {
	a, valid, disabled, _ := testAuthorizer(t)
	client := serveAuthz(t, &ExtAuthz{Authorizer: a})
	cases := []struct {
		name     string
		req      *authv3.CheckRequest
		code     codes.Code
		httpCode typev3.StatusCode
	}{
		{"valid key, chat", checkRequest("POST", "/v1/chat/completions", map[string]string{"authorization": "Bearer " + valid}), codes.OK, 0},
		{"portkey header", checkRequest("GET", "/v1/prompts", map[string]string{"x-portkey-api-key": valid}), codes.OK, 0},
		{"prompts read cannot delete", checkRequest("DELETE", "/v1/prompts/x", map[string]string{"authorization": "Bearer " + valid}), codes.PermissionDenied, typev3.StatusCode_Forbidden},
		{"disabled key", checkRequest("POST", "/v1/chat/completions", map[string]string{"authorization": "Bearer " + disabled}), codes.Unauthenticated, typev3.StatusCode_Unauthorized},
		{"no key", checkRequest("POST", "/v1/chat/completions", nil), codes.Unauthenticated, typev3.StatusCode_Unauthorized},
		{"empty request", &authv3.CheckRequest{}, codes.Unauthenticated, typev3.StatusCode_Unauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != c.code {
				t.Fatalf("status %v (%s), want %v", got, resp.GetStatus().GetMessage(), c.code)
			}
			if c.code == codes.OK {
				got := map[string]string{}
				for _, h := range resp.GetOkResponse().GetHeaders() {
					got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
					// A client's own x-tenantward-* header must be replaced, not forwarded beside ours.
					if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
						t.Errorf("header %s is %v, want OVERWRITE_IF_EXISTS_OR_ADD", h.GetHeader().GetKey(), h.GetAppendAction())
					}
				}
				if got[HeaderOrganization] != "acme" || got[HeaderWorkspace] != "research" || got[HeaderKey] != "acme-research/app" {
					t.Fatalf("identity headers %v", got)
				}
				return
			}
			if resp.GetDeniedResponse().GetStatus().GetCode() != c.httpCode {
				t.Fatalf("HTTP status %v, want %v", resp.GetDeniedResponse().GetStatus().GetCode(), c.httpCode)
			}
		})
	}
}

// TestExtAuthzAttacks replays the hostile-tenant attacks over gRPC: only the
// CheckRequest's method and path count, never a header the client sent.
func TestExtAuthzAttacks(t *testing.T) {
	a, _, _, _ := testAuthorizer(t)
	client := serveAuthz(t, &ExtAuthz{Authorizer: a})
	for _, c := range attackCases(t, a) {
		t.Run(c.name, func(t *testing.T) {
			headers := map[string]string{"authorization": "Bearer " + c.key}
			for k, v := range c.spoof {
				headers[strings.ToLower(k)] = v
			}
			resp, err := client.Check(context.Background(), checkRequest(c.method, c.path, headers))
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]codes.Code{200: codes.OK, 401: codes.Unauthenticated, 403: codes.PermissionDenied}[c.status]
			if got := codes.Code(resp.GetStatus().GetCode()); got != want || !strings.Contains(resp.GetStatus().GetMessage(), c.reason) {
				t.Fatalf("%v %q; want %v with %q", got, resp.GetStatus().GetMessage(), want, c.reason)
			}
			if c.status != 200 && !strings.Contains(resp.GetDeniedResponse().GetBody(), c.reason) {
				t.Fatalf("denied body %q lacks %q", resp.GetDeniedResponse().GetBody(), c.reason)
			}
		})
	}
}

// BenchmarkExtAuthz compares Check with a gRPC server that answers OK without
// work, over the same loopback connection setup (the ratio is the figure).
func BenchmarkExtAuthz(b *testing.B) {
	a, valid, _, _ := testAuthorizer(b)
	req := checkRequest("POST", "/v1/chat/completions", map[string]string{"authorization": "Bearer " + valid})
	for _, c := range []struct {
		name   string
		client authv3.AuthorizationClient
	}{
		{"noop", serveAuthz(b, noopAuthz{})},
		{"verifier", serveAuthz(b, &ExtAuthz{Authorizer: a})},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.client.Check(context.Background(), req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{}, nil
}
