package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
)

var defaultPerms = accessv1alpha1.APIKeyPermissions{
	Metrics: "Disabled", Completions: "Enabled", Prompts: "Read", Configs: "Disabled", Guardrails: "Disabled",
	Integrations: "Disabled", Providers: "Disabled", Models: "Disabled", Users: "Disabled",
}

// issued returns a fresh workspace key and an APIKey whose status holds its
// hash, as the controller leaves it.
func issued(t testing.TB, ns, name string) (string, *accessv1alpha1.APIKey) {
	t.Helper()
	key, err := apikey.Generate(apikey.KindWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	return key, &accessv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.APIKeySpec{Permissions: defaultPerms, State: accessv1alpha1.KeyEnabled},
		Status: accessv1alpha1.APIKeyStatus{
			Hash: apikey.Sum(key).String(), Type: accessv1alpha1.KeyTypeWorkspace,
			Organization: "acme", Workspace: "research",
		},
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ix := NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	key, k := issued(t, "acme-research", "app")
	ix.Set(k)
	promptsDelete := []Need{{FeaturePrompts, LevelDelete}}

	check := func(name, key string, needs []Need, at time.Time, want Code) {
		t.Helper()
		if got := ix.Verify(key, needs, at); got.Code != want {
			t.Errorf("%s: %v, want %v", name, got.Code, want)
		}
	}
	check("valid", key, nil, now, Valid)
	check("valid with prompts read", key, []Need{{FeaturePrompts, LevelRead}}, now, Valid)
	check("prompts delete", key, promptsDelete, now, InsufficientPermissions)
	check("malformed", "tww_nope", nil, now, Malformed)
	other, _ := issued(t, "x", "y")
	check("unknown", other, nil, now, NotFound)

	res := ix.Verify(key, nil, now)
	if e := res.Entry; e.Organization != "acme" || e.Workspace != "research" || e.Name != "app" || e.Namespace != "acme-research" {
		t.Fatalf("identity %+v", e)
	}

	k.Spec.State = accessv1alpha1.KeyDisabled
	ix.Set(k)
	check("disabled", key, nil, now, Disabled)
	k.Spec.State = accessv1alpha1.KeyEnabled
	k.Spec.ExpiresAt = &metav1.Time{Time: now.Add(time.Hour)}
	ix.Set(k)
	check("before expiry", key, nil, now, Valid)
	check("at expiry", key, nil, now.Add(time.Hour), Expired)

	// Rotation: the previous key verifies until previousValidUntil.
	k.Spec.ExpiresAt = nil
	rotated, _ := issued(t, "", "")
	k.Status.PreviousHash, k.Status.Hash = k.Status.Hash, apikey.Sum(rotated).String()
	k.Status.PreviousValidUntil = &metav1.Time{Time: now.Add(time.Minute)}
	ix.Set(k)
	check("new key", rotated, nil, now, Valid)
	check("old key in grace", key, nil, now, Valid)
	check("old key after grace", key, nil, now.Add(time.Minute), NotFound)

	k.Status.PreviousHash, k.Status.PreviousValidUntil = "", nil
	ix.Set(k)
	check("old key once status drops it", key, nil, now, NotFound)

	ix.Delete(k.Namespace, k.Name)
	check("deleted", rotated, nil, now, NotFound)
	if ix.Len() != 0 {
		t.Fatalf("Len after delete = %d", ix.Len())
	}

	k.Status.Hash = ""
	ix.Set(k)
	if ix.Len() != 0 {
		t.Fatal("a key without a hash was indexed")
	}
}

// TestVerifyOrganizationGone: a key of an organization that does not exist
// or is being deleted is NOT_FOUND, whatever the key.
func TestVerifyOrganizationGone(t *testing.T) {
	now := time.Now()
	ix := NewIndex()
	key, k := issued(t, "acme-research", "app")
	ix.Set(k)
	if res := ix.Verify(key, nil, now); res.Code != NotFound || res.Entry.Name != "" || !errors.Is(res.Reason, errOrgGone) {
		t.Fatalf("before the organization is known: %+v", res)
	}
	ix.ReplaceOrganizations(map[string]types.UID{"other": "other-uid", "acme": "acme-uid"})
	if res := ix.Verify(key, nil, now); res.Code != Valid {
		t.Fatalf("a live organization: %+v", res)
	}
	ix.SetOrganization("acme", "")
	if res := ix.Verify(key, nil, now); res.Code != NotFound || !errors.Is(res.Reason, errOrgGone) {
		t.Fatalf("once the organization is gone: %+v", res)
	}
	ix.SetOrganization("acme", "acme-uid")
	ix.ReplaceOrganizations(map[string]types.UID{"other": "other-uid"})
	if res := ix.Verify(key, nil, now); res.Code != NotFound {
		t.Fatalf("a relist without the organization: %+v", res)
	}
	// A key tied to its organization's UID: a new Organization of the same
	// name does not revive it.
	k.Status.OrganizationUID = "acme-uid"
	ix.Set(k)
	ix.SetOrganization("acme", "acme-uid-2")
	if res := ix.Verify(key, nil, now); res.Code != NotFound || !errors.Is(res.Reason, errOrgGone) {
		t.Fatalf("a key of a replaced organization: %+v", res)
	}
	ix.SetOrganization("acme", "acme-uid")
	if res := ix.Verify(key, nil, now); res.Code != Valid {
		t.Fatalf("a key of its own organization: %+v", res)
	}
}

func TestVerifyMalformedNeverLooksUp(t *testing.T) {
	ix := &Index{} // nil maps: a lookup would still work, a write would panic
	for _, bad := range []string{"", "Bearer", strings.Repeat("x", 38), "tww_" + strings.Repeat("A", 34)} {
		res := ix.Verify(bad, nil, time.Now())
		if res.Code != Malformed || res.Reason == nil {
			t.Errorf("Verify(%q) = %v", bad, res.Code)
		}
		if len(bad) > 12 && strings.Contains(res.Reason.Error(), bad[4:12]) {
			t.Errorf("the reason repeats the key")
		}
	}
}

func TestPermissionsRoundTrip(t *testing.T) {
	p := PermissionsOf(&defaultPerms)
	if got := p.API(); got != defaultPerms {
		t.Fatalf("API() = %+v", got)
	}
	if _, err := ParseFeature("nope"); err == nil {
		t.Fatal("ParseFeature accepted nope")
	}
	if FeatureUsers.String() != "users" || Feature(99).String() != "Feature(99)" {
		t.Fatal("feature names")
	}
}

// benchIndex fills an index with n keys and returns some of their plaintexts.
func benchIndex(b *testing.B, n int) (*Index, []string) {
	b.Helper()
	ix := NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	keys := make([]string, 0, 1024)
	for i := range n {
		key, k := issued(b, "ns", fmt.Sprintf("key-%d", i))
		ix.Set(k)
		if len(keys) < cap(keys) {
			keys = append(keys, key)
		}
	}
	return ix, keys
}

// BenchmarkVerify measures in-process verification with 100,000 keys: valid
// keys, unknown keys (well-formed, not in the index) and malformed ones,
// beside a baseline in the same run: checking a key's format and hashing it,
// the least any verifier does (Verify's cost over it is the lookup).
func BenchmarkVerify(b *testing.B) {
	ix, keys := benchIndex(b, 100_000)
	unknown := make([]string, len(keys))
	for i := range unknown {
		unknown[i], _ = issued(b, "", "")
	}
	malformed := make([]string, len(keys))
	for i, k := range keys {
		malformed[i] = k[:len(k)-1] + "!"
	}
	needs := []Need{{FeatureCompletions, LevelEnabled}}
	now := time.Now()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		var sink apikey.Hash
		for b.Loop() {
			key := keys[i%len(keys)]
			if _, err := apikey.Parse(key); err != nil {
				b.Fatal(err)
			}
			sink = apikey.Sum(key)
			i++
		}
		runtime.KeepAlive(sink)
	})
	for _, c := range []struct {
		name string
		keys []string
		want Code
	}{{"valid", keys, Valid}, {"unknown", unknown, NotFound}, {"malformed", malformed, Malformed}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if r := ix.Verify(c.keys[i%len(c.keys)], needs, now); r.Code != c.want {
					b.Fatal(r.Code)
				}
				i++
			}
			b.ReportMetric(float64(ix.Len()), "keys")
		})
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	ix, keys := benchIndex(b, 100_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ix.Verify(keys[i%len(keys)], nil, time.Now())
			i++
		}
	})
}

// watchStream returns n APIKeys as the API server streams them in a watch
// (one ADDED event each, with managed fields and a condition, as the
// operator leaves them), spread over 100 namespaces, with two rate-limit
// and model policies.
func watchStream(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	fields := &metav1.FieldsV1{}
	fields.SetRawString(`{"f:status":{"f:hash":{},"f:organization":{},"f:type":{},"f:workspace":{}}}`)
	for i := range n {
		_, k := issued(tb, fmt.Sprintf("acme-ws%d", i%100), fmt.Sprintf("key-%d", i))
		k.UID, k.ResourceVersion = types.UID(fmt.Sprintf("0c4e2a1b-7d3f-4e5a-9b8c-%012d", i)), strconv.Itoa(1000+i)
		k.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "tenantward", Operation: "Update", APIVersion: "access.tenantward.io/v1alpha1", FieldsType: "FieldsV1", FieldsV1: fields, Subresource: "status"}}
		k.Status.OrganizationUID = "9f1c7d2e-5b4a-4c3d-8e2f-1a2b3c4d5e6f"
		k.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "True", Reason: "Issued", Message: "the key is issued"}}
		k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: int64(100 * (1 + i%2)), Per: metav1.Duration{Duration: time.Minute}}}
		k.Status.Models = []accessv1alpha1.ModelPattern{"gpt-4o*", accessv1alpha1.ModelPattern(fmt.Sprintf("claude-%d", i%2))}
		if err := enc.Encode(struct {
			Type   string                 `json:"type"`
			Object *accessv1alpha1.APIKey `json:"object"`
		}{"ADDED", k}); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// BenchmarkIndexMemory reports the heap the index keeps per key at 100,000
// keys, each decoded from a watch stream into a fresh index and swapped in,
// as the loader does.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 100_000
	stream := watchStream(b, n)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ix, fresh := NewIndex(), NewIndex()
		d := newJSONReader(bytes.NewReader(stream))
		var ev event
		for !d.end() {
			if err := d.event(&ev); err != nil {
				b.Fatal(err)
			}
			fresh.SetKey(&ev.key)
		}
		ix.ReplaceKeys(fresh)
		d, fresh = nil, nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if ix.Len() != n {
			b.Fatalf("%d keys", ix.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/key")
		b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/n, "objects/key")
		runtime.KeepAlive(ix)
	}
}

// BenchmarkDecodeKeys compares the loader's one-pass decoding of a watch
// stream (decode.go) with what a typed client does with each event (decode
// the envelope, then the object into an APIKey), in the same run.
func BenchmarkDecodeKeys(b *testing.B) {
	const n = 10_000
	stream := watchStream(b, n)
	b.Run("typed", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(stream))
			for dec.More() {
				var ev struct {
					Type   string
					Object json.RawMessage
				}
				var k accessv1alpha1.APIKey
				if err := dec.Decode(&ev); err != nil {
					b.Fatal(err)
				}
				if err := json.Unmarshal(ev.Object, &k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			d := newJSONReader(bytes.NewReader(stream))
			var ev event
			for !d.end() {
				if err := d.event(&ev); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestIndexChurn adds, replaces, rotates and deletes keys at random and
// checks every key against a plain map after each step: the compact index's
// tables (backward-shift deletion, reused records, interned lists, the name
// arena's compaction) never lose nor confuse a key.
func TestIndexChurn(t *testing.T) {
	now := time.Now()
	ix := NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	type want struct {
		ns, name string
		models   []string
	}
	live := map[string]want{}       // plaintext -> what it must verify as
	byName := map[string][]string{} // ns/name -> its plaintexts
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		ns, name := fmt.Sprintf("ns-%d", rnd.IntN(5)), fmt.Sprintf("key-%d-%s", rnd.IntN(3000), strings.Repeat("x", rnd.IntN(40)))
		id := ns + "/" + name
		for _, p := range byName[id] {
			delete(live, p)
		}
		delete(byName, id)
		if rnd.IntN(3) == 0 {
			ix.Delete(ns, name)
		} else {
			key, k := issued(t, ns, name)
			models := []string{fmt.Sprintf("gpt-%d", rnd.IntN(3))}
			k.Status.Models = []accessv1alpha1.ModelPattern{accessv1alpha1.ModelPattern(models[0])}
			k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: int64(rnd.IntN(2) + 1), Per: metav1.Duration{Duration: time.Minute}}}
			plains := []string{key}
			if rnd.IntN(2) == 0 {
				prev, _ := issued(t, "", "")
				k.Status.PreviousHash = apikey.Sum(prev).String()
				k.Status.PreviousValidUntil = &metav1.Time{Time: now.Add(time.Hour)}
				plains = append(plains, prev)
			}
			ix.Set(k)
			for _, p := range plains {
				live[p] = want{ns: ns, name: name, models: models}
			}
			byName[id] = plains
		}
		if step%1000 != 0 {
			continue
		}
		if ix.Len() != len(byName) {
			t.Fatalf("step %d: Len %d, want %d", step, ix.Len(), len(byName))
		}
		for p, w := range live {
			res := ix.Verify(p, nil, now)
			if res.Code != Valid || res.Entry.Namespace != w.ns || res.Entry.Name != w.name || !slices.Equal(res.Entry.Models, w.models) || len(res.Entry.RateLimits.List) != 1 {
				t.Fatalf("step %d: %s/%s verifies as %v %+v", step, w.ns, w.name, res.Code, res.Entry)
			}
		}
	}
	// Deleted keys are gone, whatever was reused since.
	for id := range byName {
		ns, name, _ := strings.Cut(id, "/")
		ix.Delete(ns, name)
	}
	for p := range live {
		if res := ix.Verify(p, nil, now); res.Code != NotFound {
			t.Fatalf("a deleted key verifies as %v", res.Code)
		}
	}
	if ix.Len() != 0 || ix.byHash.Len() != 0 {
		t.Fatalf("after deleting everything: %d keys, %d hashes", ix.Len(), ix.byHash.Len())
	}
}
