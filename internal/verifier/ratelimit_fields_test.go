package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/ratelimit"
)

// referenceFields are the RateLimit-Policy field of a key limited by ls and
// its RateLimit field after its first call, written plainly: every window
// the limiter accepts (ratelimit.Windows.Add: 1 request or more per 1s or
// more, 4 at most), named by its period as time.Duration prints it, its
// period and the time one call costs in whole seconds rounded up.
func referenceFields(ls []Limit) (policy, state string) {
	var policies, states []string
	for _, l := range ls {
		if l.Requests < 1 || l.Per < time.Second || len(policies) == ratelimit.MaxWindows {
			continue
		}
		name := `"` + l.Per.String() + `"`
		interval := math.Ceil(float64(l.Per) / float64(l.Requests)) // nanoseconds
		policies = append(policies, fmt.Sprintf("%s;q=%d;w=%d", name, l.Requests, int64(math.Ceil(l.Per.Seconds()))))
		states = append(states, fmt.Sprintf("%s;r=%d;t=%d", name, l.Requests-1, int64(math.Ceil(interval/1e9))))
	}
	return strings.Join(policies, ", "), strings.Join(states, ", ")
}

// limitShapes are lists of 1 to 4 windows of periods of seconds, minutes,
// hours and odd ones (90s, 1h30m, 1.5s), and lists with windows the limiter
// leaves out.
func limitShapes() [][]Limit {
	pers := []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second, 59 * time.Second, time.Minute, 61 * time.Second,
		90 * time.Second, 5 * time.Minute, time.Hour - time.Second, time.Hour, 90 * time.Minute, 3601 * time.Second, 24 * time.Hour, 720 * time.Hour}
	requests := []int64{1, 2, 7, 60, 100, 3600, 1_000_000_000}
	rnd := rand.New(rand.NewPCG(6, 6))
	var shapes [][]Limit
	for _, per := range pers {
		shapes = append(shapes, []Limit{{Requests: requests[rnd.IntN(len(requests))], Per: per}})
	}
	for n := 1; n <= ratelimit.MaxWindows; n++ {
		for range 40 {
			ls := make([]Limit, n)
			for i := range ls {
				ls[i] = Limit{Requests: requests[rnd.IntN(len(requests))], Per: pers[rnd.IntN(len(pers))]}
			}
			shapes = append(shapes, ls)
		}
	}
	return append(shapes,
		[]Limit{{Requests: 0, Per: time.Minute}, {Requests: 10, Per: time.Minute}},
		[]Limit{{Requests: 10, Per: 500 * time.Millisecond}, {Requests: 10, Per: time.Hour}},
		[]Limit{{1, time.Second}, {2, time.Minute}, {3, time.Hour}, {4, 24 * time.Hour}, {5, 720 * time.Hour}})
}

// limitedKeys issues one key of a for each list of shapes, named k0, k1, ….
func limitedKeys(t *testing.T, a *Authorizer, shapes [][]Limit) []string {
	t.Helper()
	keys := make([]string, len(shapes))
	for i, ls := range shapes {
		var k *accessv1alpha1.APIKey
		keys[i], k = issued(t, "acme-research", fmt.Sprintf("k%d", i))
		for _, l := range ls {
			k.Status.RateLimits = append(k.Status.RateLimits, accessv1alpha1.RateLimit{Requests: l.Requests, Per: metav1.Duration{Duration: l.Per}})
		}
		a.Index.Set(k)
	}
	return keys
}

// authAnswer is h's answer to nginx's auth request for a chat completion with key.
func authAnswer(h http.Handler, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, AuthPath, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("X-Original-Method", "POST")
	r.Header.Set("X-Original-URI", "/v1/chat/completions")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRateLimitFieldsEveryShape: for every shape of limit list, the
// RateLimit-Policy field of the auth endpoint (allowed and refused) and of
// gRPC Check, and the windows of /v1/verify, name the windows as the
// reference does; the RateLimit field of a first call too.
func TestRateLimitFieldsEveryShape(t *testing.T) {
	a, _, _, _ := testAuthorizer(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a.Limiter, a.Now = ratelimit.NewMemory(), func() time.Time { return now }
	h, x := NewHandler(a), &ExtAuthz{Authorizer: a}
	shapes := limitShapes()
	for i, key := range limitedKeys(t, a, shapes) {
		policy, state := referenceFields(shapes[i])
		if w := authAnswer(h, key); w.Code != 200 || w.Header().Get("RateLimit-Policy") != policy || w.Header().Get("RateLimit") != state {
			t.Fatalf("%v: the first call: %d %q %q, want 200 %q %q", shapes[i], w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"), policy, state)
		}
		resp, err := x.Check(context.Background(), checkRequest("POST", "/v1/chat/completions", map[string]string{"authorization": "Bearer " + key}))
		if err != nil {
			t.Fatal(err)
		}
		fields := append(resp.GetOkResponse().GetResponseHeadersToAdd(), resp.GetDeniedResponse().GetHeaders()...)
		if got := headerValue(fields, "RateLimit-Policy"); got != policy {
			t.Fatalf("%v: gRPC: %q, want %q", shapes[i], got, policy)
		}
		// A third call, denied for the lists with a window of 1 request.
		body := `{"key":"` + key + `"}`
		r := httptest.NewRequest(http.MethodPost, verifyPath, strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out VerifyResponse
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		var pers []string
		for _, s := range out.RateLimits {
			pers = append(pers, fmt.Sprintf(`"%s";q=%d;w=%d`, s.Per, s.Requests, int64(math.Ceil(mustDuration(t, s.Per).Seconds()))))
		}
		if got := strings.Join(pers, ", "); got != policy {
			t.Fatalf("%v: /v1/verify's windows %q, want %q", shapes[i], got, policy)
		}
		if out.Result == "RATE_LIMITED" {
			if w := authAnswer(h, key); w.Code != 429 || w.Header().Get("RateLimit-Policy") != policy {
				t.Fatalf("%v: refused: %d %q, want 429 %q", shapes[i], w.Code, w.Header().Get("RateLimit-Policy"), policy)
			}
		}
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLimitsInterned: keys with equal limit lists share one interned set,
// also in a saved index read back, which answers as the index it was saved
// from; a key whose limits change gets the new policy.
func TestLimitsInterned(t *testing.T) {
	a, _, _, _ := testAuthorizer(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a.Limiter, a.Now = ratelimit.NewMemory(), func() time.Time { return now }
	shapes := limitShapes()
	shapes = append(shapes, shapes...)
	keys := limitedKeys(t, a, shapes)
	var saved bytes.Buffer
	if err := a.Index.save(&saved, testOrigin, "1"); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := loadIndex(saved.Bytes(), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	loaded.SetOrganization("acme", "acme-uid")
	resumed := &Authorizer{Index: loaded, Router: a.Router, Limiter: ratelimit.NewMemory(), Now: a.Now}
	for _, ix := range []*Index{a.Index, loaded} {
		sets := map[string]*Limits{}
		for i, key := range keys {
			ls := ix.Verify(key, nil, now).Entry.RateLimits
			id := fmt.Sprint(shapes[i])
			if first, ok := sets[id]; ok && first != ls {
				t.Fatalf("%v: two sets for one list", shapes[i])
			}
			sets[id] = ls
		}
		if len(ix.limits) != len(sets)+1 {
			t.Fatalf("%d sets for %d distinct lists and none", len(ix.limits), len(sets))
		}
	}
	h, hr := NewHandler(a), NewHandler(resumed)
	for i, key := range keys {
		for range 2 {
			w, wr := authAnswer(h, key), authAnswer(hr, key)
			if w.Code != wr.Code || fmt.Sprint(w.Header()) != fmt.Sprint(wr.Header()) || w.Body.String() != wr.Body.String() {
				t.Fatalf("%v: resumed %d %v %q, saved from %d %v %q", shapes[i], wr.Code, wr.Header(), wr.Body, w.Code, w.Header(), w.Body)
			}
		}
	}

	// The limits of k0 change, then are removed.
	_, k := issued(t, "acme-research", "k0")
	k.Status.Hash = apikey.Sum(keys[0]).String()
	k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 10, Per: metav1.Duration{Duration: 90 * time.Second}}, {Requests: 1000, Per: metav1.Duration{Duration: 90 * time.Minute}}}
	a.Index.Set(k)
	if w := authAnswer(h, keys[0]); w.Header().Get("RateLimit-Policy") != `"1m30s";q=10;w=90, "1h30m0s";q=1000;w=5400` || w.Header().Get("RateLimit") != `"1m30s";r=9;t=9, "1h30m0s";r=999;t=6` {
		t.Fatalf("changed limits: %d %v", w.Code, w.Header())
	}
	k.Status.RateLimits = nil
	a.Index.Set(k)
	if w := authAnswer(h, keys[0]); w.Code != 200 || w.Header().Get("RateLimit-Policy") != "" || w.Header().Get("RateLimit") != "" {
		t.Fatalf("removed limits: %d %v", w.Code, w.Header())
	}
}
