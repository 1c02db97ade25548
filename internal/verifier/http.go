package verifier

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// MaxBodyBytes bounds the body of POST /v1/verify.
const MaxBodyBytes = 4 << 10

// verifyPath is the endpoint that verifies a key sent in a JSON body.
const verifyPath = "/v1/verify"

// AuthPath is the auth endpoint for nginx auth_request; AuthPath + "/" is the
// prefix for Envoy's HTTP ext_authz, which appends the original path.
const AuthPath = "/v1/auth"

// RateLimitedAs403 is the query of AuthPath that makes it answer a key over
// its rate limit with 403 rather than 429: nginx's auth_request passes on
// 401 and 403 alone (anything else becomes a 500), so the nginx
// configuration asks for 403 and turns it back into the 429 from
// x-tenantward-result (internal/frontdoor/nginx.go).
const RateLimitedAs403 = "rate-limited-status=403"

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	// Key is the API key to verify.
	Key string `json:"key"`
	// Feature and Level, when set, also check that the key holds this
	// permission (INSUFFICIENT_PERMISSIONS otherwise).
	Feature string `json:"feature,omitempty"`
	Level   string `json:"level,omitempty"`
	// Model is the model the request calls. A key limited to models verifies
	// only with a model they match, unless feature names another feature
	// than completions.
	Model string `json:"model,omitempty"`
}

// VerifyResponse is the answer of POST /v1/verify.
type VerifyResponse struct {
	Result       string                            `json:"result"`
	Reason       string                            `json:"reason,omitempty"`
	Organization string                            `json:"organization,omitempty"`
	Workspace    string                            `json:"workspace,omitempty"`
	Namespace    string                            `json:"namespace,omitempty"`
	KeyName      string                            `json:"keyName,omitempty"`
	Type         accessv1alpha1.KeyType            `json:"type,omitempty"`
	Permissions  *accessv1alpha1.APIKeyPermissions `json:"permissions,omitempty"`
	ExpiresAt    *time.Time                        `json:"expiresAt,omitempty"`
	// RateLimits are the key's windows after this call (a key with limits
	// that is otherwise VALID); RetryAfterSeconds is set when RATE_LIMITED.
	RateLimits        []RateLimitState `json:"rateLimits,omitempty"`
	RetryAfterSeconds int64            `json:"retryAfterSeconds,omitempty"`
}

// NewHandler serves POST /v1/verify, the auth endpoint (AuthPath and
// AuthPath/...) and /healthz (the server adds /metrics).
func NewHandler(a *Authorizer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(http.MethodPost+" "+verifyPath, a.serveVerify)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The auth endpoint is found on the raw request target and bypasses
		// the mux, which would clean or redirect the path Envoy appends
		// (/v1/auth/v1/users/../x) instead of letting the verifier refuse it.
		target := r.RequestURI
		if target == "" { // a request built in-process rather than read from the wire
			target = r.URL.RequestURI()
		}
		p, _, _ := strings.Cut(target, "?")
		switch {
		case p == AuthPath || strings.HasPrefix(p, AuthPath+"/"):
			a.serveAuth(w, r, target)
		case p == verifyPath && r.Method == http.MethodPost:
			// What the mux would choose for this exact path, without its
			// pattern matching.
			a.serveVerify(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

func (a *Authorizer) serveVerify(w http.ResponseWriter, r *http.Request) {
	bufs := verifyPool.Get().(*verifyBuffers)
	defer bufs.release()
	body, end := bufs.read(r.Body)
	switch {
	case end == nil:
		// Read to its end: net/http has nothing to drain after the call.
		_ = r.Body.Close()
	case errors.Is(end, errBodyTooLarge):
		// As http.MaxBytesReader does: the rest is not read, so the
		// connection cannot serve another request.
		w.Header()[canonicalConnection] = connectionClose
	}
	var req VerifyRequest
	if err := decodeVerifyRequest(body, end, &req); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, "the body is not a JSON object {\"key\": ..., \"feature\": ..., \"level\": ..., \"model\": ...}: "+err.Error())
		return
	}
	var needs [1]Need
	n := needs[:0]
	if req.Feature != "" || req.Level != "" {
		need, err := parseNeed(req.Feature, req.Level)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		n = append(n, need)
	}
	now := a.now()
	d := Decision{Result: a.Index.Verify(req.Key, n, now)}
	if d.Result.Code == Valid && (len(n) == 0 || callsModel(n)) {
		if d.Reason = modelRefusal(d.Result.Entry.Models, RequestModel{Name: req.Model}); d.Reason != "" {
			d.Result.Code = InsufficientPermissions
		}
	}
	if d.Result.Code == Valid {
		a.limit(&d, now)
	}
	res := d.Result
	a.count(endpointVerify, res)
	resp := VerifyResponse{Result: res.Code.String(), Reason: d.Reason}
	if res.Reason != nil {
		resp.Reason = res.Reason.Error()
	}
	resp.RateLimits, resp.RetryAfterSeconds = rateLimitStates(&d)
	var perms accessv1alpha1.APIKeyPermissions
	if e := &res.Entry; e.Name != "" {
		perms = e.Permissions.API()
		resp.Organization, resp.Workspace, resp.Namespace, resp.KeyName, resp.Type = e.Organization, e.Workspace, e.Namespace, e.Name, e.Type
		resp.Permissions = &perms
		if !e.ExpiresAt.IsZero() {
			resp.ExpiresAt = &e.ExpiresAt
		}
	}
	bufs.out = appendVerifyResponse(bufs.out[:0], &resp)
	writeJSON(w, http.StatusOK, bufs.out)
}

func parseNeed(feature, level string) (Need, error) {
	if feature == "" {
		return Need{}, errors.New("level is set without feature")
	}
	f, err := ParseFeature(feature)
	if err != nil {
		return Need{}, err
	}
	if level == "" {
		return Need{f, LevelRead}, nil
	}
	l, err := ParseLevel(f, level)
	return Need{f, l}, err
}

func (a *Authorizer) serveAuth(w http.ResponseWriter, r *http.Request, target string) {
	method, path := originalRequest(r, target)
	d := a.Authorize(keyFrom(first(r.Header, canonicalPortkeyKey), first(r.Header, "Authorization")), method, path, a.httpModel(r.Header))
	a.count(endpointAuth, d.Result)
	h := w.Header()
	h[canonicalResult] = resultValues[d.Result.Code]
	setAnswerFields(h, &d)
	if d.Status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	if d.Status == http.StatusUnauthorized {
		h[canonicalWWWAuthenticate] = bearerChallenge
	}
	h[canonicalContentType] = contentTypeText
	status := d.Status
	if status == http.StatusTooManyRequests && target == AuthPath+"?"+RateLimitedAs403 {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.Reason)
	_, _ = io.WriteString(w, "\n")
}

// setAnswerFields sets the header fields of d whose values vary: the
// identity of an allowed key and the rate-limit fields. The policy is the
// key's interned value; the others are substrings of one string, held in
// one array: two allocations an answer.
func setAnswerFields(h http.Header, d *Decision) {
	e := &d.Result.Entry
	allowed := d.Status == http.StatusOK
	limited := d.RateLimit.N > 0
	if !allowed && !limited {
		return
	}
	var buf [256]byte
	b := buf[:0]
	if allowed {
		b = append(append(append(b, e.Namespace...), '/'), e.Name...)
	}
	key, state := len(b), len(b)
	if limited {
		b, state = appendRateLimitState(b, e.RateLimits, &d.RateLimit)
	}
	all := string(b)
	set := answerValues{h: h, vals: make([]string, 0, 5)}
	if allowed {
		set.set(canonicalOrganization, e.Organization)
		set.set(canonicalWorkspace, e.Workspace)
		set.set(canonicalKey, all[:key])
	}
	if limited {
		h[canonicalRateLimitPolicy] = e.RateLimits.policy
		set.set(canonicalRateLimit, all[key:state])
		if !d.RateLimit.Allowed {
			set.set(canonicalRetryAfter, all[state:])
		}
	}
}

// answerValues sets header fields whose values share one array.
type answerValues struct {
	h    http.Header
	vals []string
}

func (v *answerValues) set(name, value string) {
	v.vals = append(v.vals, value)
	n := len(v.vals)
	v.h[name] = v.vals[n-1 : n : n]
}

// The identity headers of an allowed answer in canonical form, computed once:
// Header.Set canonicalises its name at every call, a fifth of the auth
// endpoint's own cost (BenchmarkAuthHandler).
var (
	canonicalResult       = http.CanonicalHeaderKey(HeaderResult)
	canonicalOrganization = http.CanonicalHeaderKey(HeaderOrganization)
	canonicalWorkspace    = http.CanonicalHeaderKey(HeaderWorkspace)
	canonicalKey          = http.CanonicalHeaderKey(HeaderKey)

	canonicalOriginalMethod = http.CanonicalHeaderKey("X-Original-Method")
	canonicalOriginalURI    = http.CanonicalHeaderKey("X-Original-URI")

	canonicalRateLimit       = http.CanonicalHeaderKey(headerRateLimit)
	canonicalRateLimitPolicy = http.CanonicalHeaderKey(headerRateLimitPolicy)
	canonicalRetryAfter      = http.CanonicalHeaderKey(headerRetryAfter)

	canonicalContentType     = "Content-Type"
	canonicalConnection      = "Connection"
	canonicalWWWAuthenticate = "Www-Authenticate"
)

// Header values the same in every answer, set without allocating. A value
// slice in a header map is never modified in place (net/http copies the
// values it writes; Header.Add appends, which copies a full slice), so
// answers can share them.
var (
	contentTypeJSON = []string{"application/json"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
	connectionClose = []string{"close"}
	bearerChallenge = []string{`Bearer realm="tenantward"`}
	// resultValues are the values of x-tenantward-result, by code.
	resultValues = func() (v [numCodes][]string) {
		for c := range numCodes {
			v[c] = []string{c.String()}
		}
		return v
	}()
)

// originalRequest finds the method and request target the gateway is asking
// about, trusting each only from where that gateway sets it: on AuthPath
// (nginx auth_request) the X-Original-Method and X-Original-URI headers,
// exactly one of each; on AuthPath/<path> (Envoy HTTP ext_authz) the
// request's own method and the target after AuthPath, whatever headers the
// client added. "" means absent or ambiguous, which Authorize refuses.
func originalRequest(r *http.Request, target string) (method, path string) {
	if rest := strings.TrimPrefix(target, AuthPath); rest != "" && rest[0] == '/' {
		return r.Method, rest
	}
	return single(r.Header, canonicalOriginalMethod), single(r.Header, canonicalOriginalURI)
}

// single returns the value of a header sent exactly once, else "". name is
// in canonical form (http.CanonicalHeaderKey): the map is read directly,
// without canonicalising the name again at every request.
func single(h http.Header, name string) string {
	if v := h[name]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// first returns the first value of a header, else "". name is in canonical
// form: the map is read directly.
func first(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

var canonicalPortkeyKey = http.CanonicalHeaderKey(headerPortkeyKey)

func writeError(w http.ResponseWriter, status int, msg string) {
	b := appendJSONString(append(make([]byte, 0, len(msg)+16), `{"error":`...), msg)
	writeJSON(w, status, append(b, '}', '\n'))
}

// writeJSON answers with status and body, a JSON value (and a newline).
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()[canonicalContentType] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
