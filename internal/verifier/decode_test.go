package verifier

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// A watch stream as the API server writes it, with what the decoder must
// skip (managed fields, nested values, strings holding braces and quotes),
// escapes and nulls in what it reads, a bookmark and an ERROR event.
const testStream = `{"type":"ADDED","object":{"apiVersion":"access.tenantward.io/v1alpha1","kind":"APIKey","metadata":{"name":"app","namespace":"acme-r\u0065search","uid":"u1","resourceVersion":"11","annotations":{"note":"}{\"]["},"managedFields":[{"manager":"x","fieldsV1":{"f:spec":{"f:a":{}}}}],"deletionTimestamp":null},
 "spec":{"description":"a \"quoted\" {brace}","state":"Disabled","expiresAt":"2030-01-02T03:04:05Z","permissions":{"completions":"Enabled","prompts":"Write","users":"Bogus","future":{"x":[1,2,{"y":null}]}},"rotation":null},
 "status":{"hash":"` + testHash + `","previousHash":null,"organization":"acme","workspace":"research","type":"Workspace","rateLimits":[{"requests":100,"per":"1m0s"},{"requests":5000,"per":"24h0m0s"}],"models":["gpt-4o*","claude-\u00e9"],"conditions":[{"type":"Ready","status":"True"}],"observedGeneration":3}}}
{"type":"BOOKMARK","object":{"kind":"APIKey","apiVersion":"access.tenantward.io/v1alpha1","metadata":{"resourceVersion":"12","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}},"spec":{},"status":{}}}
{"type":"DELETED","object":{"metadata":{"name":"app","namespace":"acme-research","resourceVersion":"13"}}}
{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (12)","reason":"Expired","code":410}}
`

const testHash = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"

func TestDecodeEvents(t *testing.T) {
	d := newJSONReader(strings.NewReader(testStream))
	var ev event
	next := func() {
		t.Helper()
		if d.end() {
			t.Fatal("the stream ended early")
		}
		if err := d.event(&ev); err != nil {
			t.Fatal(err)
		}
	}
	next()
	k := ev.key
	want := Key{
		Namespace: "acme-research", Name: "app", Disabled: true,
		ExpiresAt:    time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Hash:         testHash,
		Organization: "acme", Workspace: "research", Type: "Workspace",
	}
	want.Permissions[FeatureCompletions], want.Permissions[FeaturePrompts] = LevelEnabled, LevelWrite
	if ev.typ != eventAdded || ev.meta.resourceVersion != "11" || ev.meta.initialEventsEnd ||
		k.Namespace != want.Namespace || k.Name != want.Name || k.Disabled != want.Disabled || !k.ExpiresAt.Equal(want.ExpiresAt) ||
		k.Hash != want.Hash || k.PreviousHash != "" || k.Organization != want.Organization || k.Workspace != want.Workspace || k.Type != want.Type ||
		k.Permissions != want.Permissions {
		t.Fatalf("ADDED: %+v %+v", ev.meta, k)
	}
	if !slices.Equal(k.RateLimits, []Limit{{100, time.Minute}, {5000, 24 * time.Hour}}) || !slices.Equal(k.Models, []string{"gpt-4o*", "claude-é"}) {
		t.Fatalf("limits %v, models %q", k.RateLimits, k.Models)
	}
	next()
	if ev.typ != eventBookmark || !ev.meta.initialEventsEnd || ev.meta.resourceVersion != "12" {
		t.Fatalf("BOOKMARK: %+v", ev)
	}
	next()
	if ev.typ != eventDeleted || ev.key.Namespace != "acme-research" || ev.key.Name != "app" || ev.key.Hash != "" || ev.key.Models != nil {
		t.Fatalf("DELETED: %+v", ev)
	}
	next()
	if ev.typ != eventError || ev.status.code != 410 || ev.status.reason != "Expired" {
		t.Fatalf("ERROR: %+v", ev.status)
	}
	if !d.end() {
		t.Fatal("more after the last event")
	}
}

func TestDecodeList(t *testing.T) {
	list := `{"kind":"APIKeyList","apiVersion":"access.tenantward.io/v1alpha1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[
	{"metadata":{"name":"a","namespace":"n"},"status":{"hash":"` + testHash + `"}},{"metadata":{"name":"b","namespace":"n"},"status":{}}]}`
	var names []string
	rv, cont, err := newJSONReader(strings.NewReader(list)).list(func(k *Key) error {
		names = append(names, k.Namespace+"/"+k.Name+"/"+k.Hash)
		return nil
	})
	if err != nil || rv != "42" || cont != "abc" || !slices.Equal(names, []string{"n/a/" + testHash, "n/b/"}) {
		t.Fatalf("%q %q %v %q", rv, cont, err, names)
	}
}

// TestDecodeErrors: bad input is a precise error, never a panic nor a hang.
func TestDecodeErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"object":{},"type":"ADDED"}`:                                                       "object came before its type",
		`{"type":"NOPE","object":{}}`:                                                        `unknown watch event type "NOPE"`,
		`{"type":"ADDED","object":{"metadata":{"name":1}}}`:                                  `invalid JSON: '1' where '"' was expected`,
		`{"type":"ADDED","object":{"spec":{"expiresAt":"soon"}}}`:                            "invalid time",
		`{"type":"ADDED","object":{"status":{"rateLimits":[{"requests":1,"per":"often"}]}}}`: "invalid rate-limit period",
		`{"type":"ADDED","object":{"status":{"rateLimits":[{"requests":1.5}]}}}`:             "invalid JSON integer",
		`{"type":"ADDED","object":{"metadata":{"name":"a\x01"}}}`:                            "invalid JSON string",
		`{"type":"ADDED","object":{"x":` + strings.Repeat("[", maxDepth+1):                   "nested too deeply",
		`{"type":"ADDED","object":{"metadata":{"name":"app`:                                  "unexpected EOF",
		`{"type":"ADDED" "object":{}}`:                                                       `invalid JSON: '"' after an object member`,
	} {
		var ev event
		err := newJSONReader(strings.NewReader(in)).event(&ev)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want %q", in, err, want)
		}
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(testStream))
	f.Add([]byte(`{"type":"ADDED","object":{"metadata":{"name":"a\"b\\"}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newJSONReader(bytes.NewReader(in))
		var ev event
		for range 100 {
			if d.end() || d.event(&ev) != nil {
				return
			}
		}
	})
}
