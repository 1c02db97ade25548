package verifier

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// ExtAuthz serves Envoy's gRPC external authorization
// (envoy.service.auth.v3.Authorization/Check) with the same decisions as the
// HTTP auth endpoint.
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer
	Authorizer *Authorizer
}

// Check decides one request Envoy forwards.
func (x *ExtAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	headers := h.GetHeaders() // Envoy sends header names in lower case.
	key := keyFrom(headers[headerPortkeyKey], headers["authorization"])
	body := h.GetRawBody()
	if len(body) == 0 {
		body = []byte(h.GetBody())
	}
	d := x.Authorizer.Authorize(key, h.GetMethod(), h.GetPath(), grpcModel(headers, body, x.Authorizer.Router.modelHeader.lower))
	x.Authorizer.count(endpointGRPC, d.Result)
	result := header(HeaderResult, d.Result.Code.String())
	// The rate-limit fields go to the client: on the answer when allowed,
	// on the refusal when denied.
	var limits []*corev3.HeaderValueOption
	rateLimitHeaders(&d).set(func(k, v string) { limits = append(limits, header(k, v)) })
	if d.Status == 200 {
		e := d.Result.Entry
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{
					result,
					header(HeaderOrganization, e.Organization),
					header(HeaderWorkspace, e.Workspace),
					header(HeaderKey, e.Namespace+"/"+e.Name),
				},
				ResponseHeadersToAdd: limits,
			}},
		}, nil
	}
	code, httpCode := codes.Unauthenticated, typev3.StatusCode_Unauthorized
	switch d.Status {
	case 403:
		code, httpCode = codes.PermissionDenied, typev3.StatusCode_Forbidden
	case 429:
		code, httpCode = codes.ResourceExhausted, typev3.StatusCode_TooManyRequests
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code), Message: d.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: httpCode},
			Headers: append([]*corev3.HeaderValueOption{result}, limits...),
			Body:    d.Reason + "\n",
		}},
	}, nil
}

// header sets an identity header on the request Envoy forwards, overwriting
// any the client sent: Envoy's default is to append, which would let a client
// forward its own x-tenantward-organization beside the verifier's.
func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
