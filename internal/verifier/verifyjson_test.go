package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	stdreflect "reflect"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
)

// keyShaped has a key's prefix and length and is plainly not a key: the
// decoder only ever sees the shape of what it reads.
var keyShaped = apikey.PrefixWorkspace + strings.Repeat("x", apikey.Len-len(apikey.PrefixWorkspace))

// stdVerifyRequest decodes body as serveVerify did with encoding/json.
func stdVerifyRequest(body []byte) (VerifyRequest, error) {
	var req VerifyRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	return req, err
}

// ownVerifyRequest decodes body as serveVerify does.
func ownVerifyRequest(body []byte) (VerifyRequest, error) {
	var req VerifyRequest
	bufs := verifyPool.Get().(*verifyBuffers)
	defer bufs.release()
	read, end := bufs.read(bytes.NewReader(body))
	err := decodeVerifyRequest(read, end, &req)
	// The strings may be views of the buffer, released on return.
	req = VerifyRequest{Key: strings.Clone(req.Key), Feature: strings.Clone(req.Feature), Level: strings.Clone(req.Level), Model: strings.Clone(req.Model)}
	return req, err
}

// sameDecoding reports how the two decoders differ on body, "" when they
// agree: both accept with the same values, or both refuse for the same
// reason (the same offset of a syntax error, the same field).
func sameDecoding(body []byte) string {
	want, werr := stdVerifyRequest(body)
	got, gerr := ownVerifyRequest(body)
	if werr == nil || gerr == nil {
		if werr != nil || gerr != nil {
			return fmt.Sprintf("encoding/json: %v; ours: %v", werr, gerr)
		}
		if got != want {
			return fmt.Sprintf("encoding/json decoded %+q, ours %+q", want, got)
		}
		return ""
	}
	var (
		p      *bodyProblem
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	ok := errors.As(gerr, &p)
	switch {
	case errors.As(werr, &tooBig):
		ok = errors.Is(gerr, errBodyTooLarge)
	case errors.As(werr, &syntax):
		ok = ok && p.kind == problemSyntax && int64(p.offset) == syntax.Offset
	case errors.As(werr, &typ):
		ok = ok && p.kind == problemType && p.field == typ.Field && p.found == typ.Value
	case errors.Is(werr, io.EOF):
		ok = ok && p.kind == problemEmpty
	case errors.Is(werr, io.ErrUnexpectedEOF):
		ok = ok && p.kind == problemTruncated
	default:
		ok = ok && p.kind == problemUnknownField && fmt.Sprintf("json: unknown field %q", p.field) == werr.Error()
	}
	if !ok {
		return fmt.Sprintf("encoding/json: %v; ours: %v (%+v)", werr, gerr, p)
	}
	return ""
}

// verifyRequestSeeds are bodies on every rule of the decoder.
func verifyRequestSeeds() []string {
	key := keyShaped
	seeds := []string{
		`{"key":"` + key + `"}`,
		`{"key":"` + key + `","feature":"prompts","level":"Delete","model":"gpt-4o-mini"}`,
		` {"key" : "k" , "model":"m"} `, "\t\r\n{\n\"key\":\"k\"}\n",
		`{}`, `{ }`, `null`, `null `, `nullx`, ` null`, `nul`, `nulx`, `true`, `false`, `tru`, `"s"`, `"s"x`, `42`, `42 `, `42x`, `-`, `-x`, `-0`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `1.x`,
		`[]`, `[1,2]`, `[1,]`, `[`, `{`, `}`, `]`, `,`, `{"key"}`, `{"key":}`, `{"key":"a",}`, `{,}`, `{"key" "a"}`, `{"key":"a" "b"}`, `{'key':'a'}`, `{key:"a"}`,
		``, ` `, "\n\t ", `{"key":"a"`, `{"key":"a`, `{"key":"a\`, `{"key":"\u00`, `{"key`,
		`{"key":"a"}garbage`, `{"key":"a"}{"key":"b"}`, `{"key":"a"}]`,
		`{"key":"a","key":"b"}`, `{"key":"a","KEY":"b"}`, `{"Key":"a"}`, `{"kEy":"a","MODEL":"m"}`, `{"\u212aey":"kelvin"}`, "{\"\u212aey\":\"kelvin\"}", `{"ſ":1}`, `{"k\u0065y":"escaped name"}`,
		`{"key":"a","key":null}`, `{"key":null}`, `{"model":null,"model":"m"}`,
		`{"key":42}`, `{"key":true}`, `{"key":{}}`, `{"key":[]}`, `{"key":{"x":[1,{"y":null}]}}`, `{"level":-1.5e3}`, `{"key":01}`, `{"x":-01}`, `{"x":[0.1e-1,-0,1E+2]}`,
		`{"extra":1}`, `{"extra":1,"key":42}`, `{"key":42,"extra":1}`, `{"extra":{"a":[}}`, `{"key":42,"x":` + "\x01" + `}`, `{"` + key + `":1}`,
		`{"key":"\u0041\u00e9\u4e2d"}`, `{"key":"\ud83d\ude00"}`, `{"key":"\ud83d"}`, `{"key":"\ud83dx"}`, `{"key":"\ude00\ud83d"}`, `{"key":"\ud83d\u0041"}`, `{"key":"\ud83d\ud83d\ude00"}`,
		`{"key":"\"\\\/\b\f\n\r\t"}`, `{"key":"\x"}`, `{"key":"\u00zz"}`, `{"key":"\U0041"}`, `{"key":"` + "\x00" + `"}`, `{"key":"` + "\x7f" + `"}`,
		"{\"key\":\"\xff\xfe\"}", "{\"key\":\"\xe2\x82\"}", "{\"key\":\"\xed\xa0\x80\"}", "{\"key\":\"é€😀\"}", "{\"key\":\"\xef\xbf\xbd\"}", "{\"k\xffy\":1}",
		"\xef\xbb\xbf{}", "{\"key\":\"a\"}\x00",
	}
	// Around MaxBodyBytes: a value that ends on its last byte or after it,
	// with and without more body.
	pad := func(n int) string { return strings.Repeat("a", n) }
	obj := func(n int) string { return `{"key":"` + pad(n-len(`{"key":""}`)) + `"}` }
	for _, n := range []int{MaxBodyBytes - 1, MaxBodyBytes, MaxBodyBytes + 1} {
		seeds = append(seeds, obj(n), obj(n)+" ", obj(n)+"xx", strings.Repeat(" ", n), strings.Repeat(" ", n-1)+"1", strings.Repeat(" ", n-2)+"12"+" ",
			strings.Repeat(" ", n-4)+"null", strings.Repeat(" ", n-4)+"null ", strings.Repeat("[", n), `{"key":"`+pad(n), `"`+pad(n-2)+`"`, `"`+pad(n-2)+`" `)
	}
	seeds = append(seeds, `{"key":"x`+strings.Repeat(" ", MaxBodyBytes)+`"}`, `{"key":"a","x":`+strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`}`)
	return seeds
}

// FuzzVerifyRequestJSON compares the decoder of /v1/verify with
// encoding/json as serveVerify used it: the same bodies accepted with the
// same values, the same refused for the same reason.
func FuzzVerifyRequestJSON(f *testing.F) {
	for _, s := range verifyRequestSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if diff := sameDecoding(body); diff != "" {
			t.Fatalf("%q: %s", body, diff)
		}
	})
}

// TestVerifyRequestJSONMessages pins the messages of refused bodies: what is
// wrong, never the body's content.
func TestVerifyRequestJSONMessages(t *testing.T) {
	key := keyShaped
	for body, want := range map[string]string{
		`{"key":"a"`:                  "a truncated body",
		` `:                           "an empty body",
		`{"key":"a",}`:                "invalid JSON at byte 12",
		`{"key":42}`:                  `field "key" must be a string, not a number`,
		`{"Model":[]}`:                `field "model" must be a string, not an array`,
		`[1]`:                         "the body is an array",
		`"` + key + `"`:               "the body is a string",
		`{"extra":1}`:                 `unknown field "extra"`,
		`{"` + key + `":1}`:           "an unknown field",
		`{"a` + key[:20] + `":1}`:     "an unknown field",
		`{"x":1,"key":` + key + `}`:   "invalid JSON at byte 15",
		`{"key":"` + key + `","x":1}`: `unknown field "x"`,
	} {
		_, err := ownVerifyRequest([]byte(body))
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v; want %q", body, err, want)
		}
	}
	var p *bodyProblem
	if _, err := ownVerifyRequest([]byte(`{"key":"` + strings.Repeat("a", MaxBodyBytes) + `"}`)); !errors.Is(err, errBodyTooLarge) || errors.As(err, &p) {
		t.Errorf("oversize: %v", err)
	}
}

// TestVerifyRequestJSONAllocations: a body without escapes decodes without
// allocating.
func TestVerifyRequestJSONAllocations(t *testing.T) {
	body := []byte(`{"key":"` + keyShaped + `","feature":"completions","model":"gpt-4o-mini"}`)
	var req VerifyRequest
	if n := testing.AllocsPerRun(100, func() {
		if err := decodeVerifyRequest(body, nil, &req); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// verifyResponses are answers on every rule of the encoder.
func verifyResponses() []VerifyResponse {
	perms := (&Permissions{FeatureCompletions: LevelEnabled, FeaturePrompts: LevelRead, FeatureUsers: LevelDelete}).API()
	expires := time.Date(2031, 2, 3, 4, 5, 6, 789000, time.UTC)
	zoned := time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(5*3600+30*60)))
	return []VerifyResponse{
		{Result: "NOT_FOUND"},
		{Result: "MALFORMED", Reason: "malformed API key: a key starts with two_ or tww_"},
		{
			Result: "VALID", Organization: "acme", Workspace: "research", Namespace: "acme-research", KeyName: "app",
			Type: accessv1alpha1.KeyTypeWorkspace, Permissions: &perms, ExpiresAt: &expires,
			RateLimits: []RateLimitState{{Requests: 10, Per: "1m0s", Remaining: 9, ResetSeconds: 60}, {Requests: 1_000_000_000, Per: "24h0m0s", Remaining: 0, ResetSeconds: 86400}},
		},
		{Result: "RATE_LIMITED", Reason: `the key is limited to models gpt-4o*, and "<b>&amp;</b>" is none of them`, RetryAfterSeconds: 7, Permissions: &accessv1alpha1.APIKeyPermissions{}, ExpiresAt: &zoned},
		{Result: "VALID", RetryAfterSeconds: -1, RateLimits: []RateLimitState{{Requests: math.MinInt64, Per: "", Remaining: math.MaxInt64}}},
		{Result: "\x00\x01\x1f\x7f\b\f\n\r\t\"\\/<>&\u2028\u2029\ufffd\xff\xe2\x82é😀", Reason: "\xed\xa0\x80"},
	}
}

// TestVerifyResponseJSON: the encoder writes the bytes encoding/json
// writes, and encoding/json reads back the same answer.
func TestVerifyResponseJSON(t *testing.T) {
	for _, r := range verifyResponses() {
		checkVerifyResponse(t, r)
	}
}

// FuzzVerifyResponseJSON drives the encoder with arbitrary strings and numbers.
func FuzzVerifyResponseJSON(f *testing.F) {
	f.Add("VALID", "", "acme", "1m0s", int64(3), int64(1700000000))
	f.Add("\u2028<", "\xff", "é", "", int64(-1), int64(-62135596800))
	f.Fuzz(func(t *testing.T, result, reason, name, per string, n, unix int64) {
		at := time.Unix(unix%(300_000_000_000), n%1_000_000_000).UTC()
		perms := accessv1alpha1.APIKeyPermissions{Metrics: accessv1alpha1.Toggle(name), Users: accessv1alpha1.AccessLevel(reason)}
		checkVerifyResponse(t, VerifyResponse{
			Result: result, Reason: reason, Organization: name, Workspace: per, Namespace: result, KeyName: name,
			Type: accessv1alpha1.KeyType(reason), Permissions: &perms, ExpiresAt: &at,
			RateLimits: []RateLimitState{{Requests: n, Per: per, Remaining: -n, ResetSeconds: unix}}, RetryAfterSeconds: n,
		})
	})
}

func checkVerifyResponse(t *testing.T, r VerifyResponse) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(r); err != nil {
		// A time encoding/json cannot write (a year beyond 9999): the
		// encoder leaves expiresAt out.
		r.ExpiresAt = nil
		want.Reset()
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	got := appendVerifyResponse(nil, &r)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("encoding/json writes\n%s ours\n%s", want.Bytes(), got)
	}
	var back, stdBack VerifyResponse
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	_ = json.Unmarshal(want.Bytes(), &stdBack)
	if !stdreflect.DeepEqual(back, stdBack) {
		t.Fatalf("read back %+v, encoding/json's %+v", back, stdBack)
	}
}
