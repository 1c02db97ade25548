package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/tenantward/tenantward/internal/keypolicy"
)

// Model access (docs/verifier.md, "Model access"). A key whose effective
// models (status.models, Entry.Models) are set may call only the models they
// match; a request that calls a model (a route that needs completions, or
// /v1/verify without a feature or with completions) must name one, from
// where the gateway can say it: the model field of /v1/verify, the model
// header on the HTTP auth endpoints (set by the gateway, as Envoy AI Gateway
// sets x-ai-eg-model), the JSON body of a gRPC CheckRequest (Envoy's
// with_request_body), else that header. A request whose model is unknown is
// refused.

// DefaultModelHeader is the request header the auth endpoints read the model from.
const DefaultModelHeader = "x-tenantward-model"

// maxModelName is the longest model name a request may name, as a ModelPattern.
const maxModelName = 253

// callsModel reports whether a request with these needs calls a model: it
// needs the completions permission (every LLM call does).
func callsModel(needs []Need) bool {
	for _, n := range needs {
		if n.Feature == FeatureCompletions {
			return true
		}
	}
	return false
}

// RequestModel is the model a request names, as far as the verifier can know.
type RequestModel struct {
	// Name is the model; "" when the request names none.
	Name string
	// Unknown says why the model cannot be known (a body that names it twice,
	// a partial body); nil when Name is what the request names.
	Unknown error
}

// modelRefusal says why a key limited to models may not call the model the
// request names; "" when it may. It does not allocate when the key may.
func modelRefusal(models []string, rm RequestModel) string {
	if len(models) == 0 {
		return ""
	}
	if len(models) == 1 && models[0] == string(keypolicy.NoModel) {
		return "the key may call no model: its workspace's or organization's allowedModels were lowered after its models were set, and none is left"
	}
	model := rm.Name
	switch {
	case rm.Unknown != nil:
		return fmt.Sprintf("the key is limited to models %s and the request's model cannot be known: %v", strings.Join(models, ", "), rm.Unknown)
	case model == "":
		return fmt.Sprintf("the key is limited to models %s and the request names none", strings.Join(models, ", "))
	case !modelName(model):
		return fmt.Sprintf("the key is limited to models %s and the request's model is not a model name (1 to %d of A-Z a-z 0-9 . _ : / @ + -)", strings.Join(models, ", "), maxModelName)
	}
	for _, p := range models {
		if keypolicy.Match(p, model) {
			return ""
		}
	}
	return fmt.Sprintf("the key is limited to models %s, and %q is none of them", strings.Join(models, ", "), model)
}

// modelName reports whether s is a model name: the characters of a
// ModelPattern but *, at most maxModelName bytes. Anything else (a list a
// proxy joined with commas, spaces, other encodings) names no model.
func modelName(s string) bool {
	if len(s) == 0 || len(s) > maxModelName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !modelChars[s[i]] {
			return false
		}
	}
	return true
}

// modelChars are the bytes of a model name.
var modelChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:/@+-", byte(c)) >= 0
	}
	return t
}()

// Errors of modelFromBody; none quotes the body.
var (
	errPartialBody   = errors.New("the gateway sent part of the body only")
	errNotJSONObject = errors.New("the body is not a JSON object")
	errModelTwice    = errors.New("the body names the model twice")
	errModelType     = errors.New("the body's model is not a string")
)

// modelFromBody returns the top-level "model" field of a JSON request body,
// "" when there is none. Nothing else of the body is decoded or kept. A
// second model field, in any letter case or escaping (some servers match
// field names case-insensitively, and most take the last of duplicates), is
// an error, as is a body the gateway cut short (partial) or that ends before
// its object does.
func modelFromBody(body []byte, partial bool) (string, error) {
	if partial {
		return "", errPartialBody
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", errNotJSONObject
	}
	var model string
	found := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", errNotJSONObject
		}
		name, _ := t.(string)
		if !strings.EqualFold(name, "model") {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", errNotJSONObject
			}
			continue
		}
		if found {
			return "", errModelTwice
		}
		found = true
		v, err := dec.Token()
		if err != nil {
			return "", errNotJSONObject
		}
		if model, _ = v.(string); model == "" {
			return "", errModelType
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return "", errNotJSONObject
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errNotJSONObject
	}
	return model, nil
}

// partialBody reports whether Envoy says (x-envoy-auth-partial-body) or the
// content length shows that body is not the whole request body.
func partialBody(headers map[string]string, body []byte) bool {
	if headers["x-envoy-auth-partial-body"] == "true" {
		return true
	}
	if cl, ok := headers["content-length"]; ok {
		n, err := strconv.Atoi(cl)
		return err != nil || n != len(body)
	}
	return false
}

// grpcModel is the model a gRPC CheckRequest names: from the body when Envoy
// sends one, else from the model header.
func grpcModel(headers map[string]string, body []byte, header string) RequestModel {
	if len(body) == 0 {
		return RequestModel{Name: headers[header]}
	}
	model, err := modelFromBody(body, partialBody(headers, body))
	return RequestModel{Name: model, Unknown: err}
}

// modelHeader is the header the auth endpoints read the model from: in lower
// case as Envoy sends header names over gRPC, and in Go's canonical form for
// HTTP (so that reading it allocates nothing).
type modelHeader struct{ lower, canonical string }

// compileModelHeader checks the routes.modelHeader setting.
func compileModelHeader(name string) (modelHeader, error) {
	if name == "" {
		name = DefaultModelHeader
	}
	if strings.TrimLeft(strings.ToLower(name), "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		return modelHeader{}, fmt.Errorf("routes.modelHeader: %q is not a header name", name)
	}
	return modelHeader{lower: strings.ToLower(name), canonical: textproto.CanonicalMIMEHeaderKey(name)}, nil
}

// httpModel is the model an HTTP auth request names in the model header, sent
// exactly once (two values are ambiguous: none is taken).
func (a *Authorizer) httpModel(h http.Header) RequestModel {
	return RequestModel{Name: single(h, a.Router.modelHeader.canonical)}
}
