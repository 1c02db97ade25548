package verifier

import (
	"net/http"
	"strings"
	"time"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/ratelimit"
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
	// Status is 200, 401 (no valid key), 403 (a valid key without the
	// permission the route needs, or a route that is not allowed) or 429 (a
	// key over its rate limit).
	Status int
	Result Result
	// Reason says why a request was refused; empty when allowed.
	Reason string
	// RateLimit is the rate-limit decision of a key with limits that would
	// otherwise pass (RateLimit.N is 0 for any other).
	RateLimit ratelimit.Decision
}

// Authorizer decides gateway requests: the route map gives the permissions a
// method and path need, and the index checks the key against them.
type Authorizer struct {
	Index  *Index
	Router *Router
	// Limiter enforces the keys' rate limits; nil enforces none.
	Limiter ratelimit.Limiter
	// Usage counts answers per organization, workspace and key and queues
	// lastUsedAt writes (usage.go); nil records nothing.
	Usage *Usage
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Reasons of refusals that do not depend on the key's permissions.
const (
	reasonUnmapped = "the route is not in the verifier's route map"
	reasonOrgLevel = "an organization-level route: only admin keys may call it, and this is a workspace key"
	reasonLacks    = "the key lacks a permission this route needs"
)

// Authorize decides a request with the given key, method and request target
// (path and query, as the gateway received it). The key is checked first, so
// a missing or wrong key is 401 whatever the route; then a valid key is
// refused (403) on an ambiguous method or path (CanonicalPath), on an
// organization-level route when it is a workspace key, on an unmapped route,
// without the permissions the route needs, and calling a model the key may
// not call (models.go), in that order; last, a key over one of its rate
// limits is refused (429), and only calls that pass every other check count
// against the limits.
func (a *Authorizer) Authorize(key, method, target string, model RequestModel) (d Decision) {
	path, perr := CanonicalPath(target)
	if merr := CanonicalMethod(method); merr != nil {
		perr = merr
	}
	var m RouteMatch
	if perr == nil {
		m = a.Router.Match(method, path)
	}
	if key == "" {
		return Decision{Status: http.StatusUnauthorized, Result: Result{Code: Malformed}, Reason: "no API key: send Authorization: Bearer <key> or x-portkey-api-key"}
	}
	now := a.now()
	// The decision is built in place: it is large (the rate-limit windows).
	d.Result = a.Index.Verify(key, m.Needs, now)
	res := &d.Result
	if res.Code != Valid && res.Code != InsufficientPermissions {
		d.Status, d.Reason = http.StatusUnauthorized, refusalOf(*res)
		return d
	}
	forbidden := func(reason string) Decision {
		return Decision{Status: http.StatusForbidden, Result: Result{Code: InsufficientPermissions, Entry: res.Entry}, Reason: reason}
	}
	switch {
	case perr != nil:
		return forbidden(perr.Error())
	case m.AdminOnly && res.Entry.Type != accessv1alpha1.KeyTypeAdmin:
		return forbidden(reasonOrgLevel)
	case !m.Mapped:
		return forbidden(reasonUnmapped)
	case res.Code == InsufficientPermissions:
		return forbidden(reasonLacks)
	}
	if callsModel(m.Needs) {
		if reason := modelRefusal(res.Entry.Models, model); reason != "" {
			return forbidden(reason)
		}
	}
	d.Status = http.StatusOK
	a.limit(&d, now)
	return d
}

// refusalOf says why a key did not verify.
func refusalOf(res Result) string {
	if res.Reason != nil {
		return res.Reason.Error()
	}
	return "the key is " + strings.ToLower(strings.ReplaceAll(res.Code.String(), "_", " "))
}

// keyFrom returns the key from the value of x-portkey-api-key or, when that
// is empty, from an Authorization value `Bearer <key>`. The Portkey header
// comes first because the gateway's clients send the provider's credentials
// as the bearer token next to it.
func keyFrom(portkey, authorization string) string {
	if key := strings.TrimSpace(portkey); key != "" {
		return key
	}
	const bearer = "bearer "
	if len(authorization) > len(bearer) && strings.EqualFold(authorization[:len(bearer)], bearer) {
		return strings.TrimSpace(authorization[len(bearer):])
	}
	return ""
}
