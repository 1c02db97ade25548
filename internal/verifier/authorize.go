package verifier

import (
	"net/http"
	"strings"
	"time"
)

// Header names of the auth endpoints.
const (
	HeaderOrganization = "x-tenantward-organization"
	HeaderWorkspace    = "x-tenantward-workspace"
	HeaderKey          = "x-tenantward-key"
	HeaderResult       = "x-tenantward-result"
	headerPortkeyKey   = "x-portkey-api-key"
)

// Decision is the answer to a gateway's authorization request.
type Decision struct {
	// Status is 200, 401 (no valid key) or 403 (a valid key without the
	// permission the route needs, or a route that is not allowed).
	Status int
	Result Result
	// Reason says why a request was refused; empty when allowed.
	Reason string
}

// Authorizer decides gateway requests: the route map gives the permissions a
// method and path need, and the index checks the key against them.
type Authorizer struct {
	Index  *Index
	Router *Router
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authorize decides a request with the given key, method and path. The key is
// checked first, so a missing or wrong key is 401 whatever the route.
func (a *Authorizer) Authorize(key, method, path string) Decision {
	needs, mapped := a.Router.Match(method, path)
	if key == "" {
		return Decision{Status: http.StatusUnauthorized, Result: Result{Code: Malformed}, Reason: "no API key: send Authorization: Bearer <key> or x-portkey-api-key"}
	}
	res := a.Index.Verify(key, needs, a.now())
	switch {
	case res.Code == Valid && !mapped:
		return Decision{Status: http.StatusForbidden, Result: Result{Code: InsufficientPermissions, Entry: res.Entry}, Reason: "the route is not in the verifier's route map"}
	case res.Code == Valid:
		return Decision{Status: http.StatusOK, Result: res}
	case res.Code == InsufficientPermissions:
		return Decision{Status: http.StatusForbidden, Result: res, Reason: "the key lacks a permission this route needs"}
	case res.Code == Malformed:
		return Decision{Status: http.StatusUnauthorized, Result: res, Reason: res.Reason.Error()}
	default:
		return Decision{Status: http.StatusUnauthorized, Result: res, Reason: "the key is " + strings.ToLower(strings.ReplaceAll(res.Code.String(), "_", " "))}
	}
}

// keyFromHeaders returns the key from x-portkey-api-key or, when that is
// absent, `Authorization: Bearer <key>`. The Portkey header comes first
// because the gateway's clients send the provider's credentials as the bearer
// token next to it. get reads one header.
func keyFromHeaders(get func(string) string) string {
	if key := strings.TrimSpace(get(headerPortkeyKey)); key != "" {
		return key
	}
	if auth := get("authorization"); auth != "" {
		const bearer = "bearer "
		if len(auth) > len(bearer) && strings.EqualFold(auth[:len(bearer)], bearer) {
			return strings.TrimSpace(auth[len(bearer):])
		}
	}
	return ""
}
