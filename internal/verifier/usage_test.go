package verifier

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/ratelimit"
)

// TestUsageCounts: the answers about known keys are counted per
// organization, workspace and result, and per key with PerKeyMetrics, on
// every endpoint; /metrics names keys by namespace and name, never by the
// key or its hash.
func TestUsageCounts(t *testing.T) {
	a, valid, disabled, _ := testAuthorizer(t)
	u, err := NewUsage(UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: 8, PerKeyMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Usage = u
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(withMetrics(NewHandler(a), reg))
	defer srv.Close()
	scopeValid := answersVec.WithLabelValues("acme", "research", "VALID")
	scopeDisabled := answersVec.WithLabelValues("acme", "research", "DISABLED")
	keyValid := keyAnswersVec.WithLabelValues("acme-research", "app", "VALID")
	before := []float64{testutil.ToFloat64(scopeValid), testutil.ToFloat64(scopeDisabled), testutil.ToFloat64(keyValid)}

	postVerify(t, srv.URL, `{"key":"`+valid+`"}`)
	postVerify(t, srv.URL, `{"key":"`+disabled+`"}`)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+AuthPath, nil)
	req.Header.Set("Authorization", "Bearer "+valid)
	req.Header.Set("X-Original-Method", "POST")
	req.Header.Set("X-Original-URI", "/v1/chat/completions")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	for i, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"acme/research VALID", testutil.ToFloat64(scopeValid), 2},
		{"acme/research DISABLED", testutil.ToFloat64(scopeDisabled), 1},
		{"key acme-research/app VALID", testutil.ToFloat64(keyValid), 2},
	} {
		if c.got-before[i] != c.want {
			t.Errorf("%s: counted %v answers, want %v", c.what, c.got-before[i], c.want)
		}
	}
	if len(u.queue) != 1 {
		t.Errorf("%d lastUsedAt writes queued after two verifications of one key in one period, want 1", len(u.queue))
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, secret := range []string{valid, apikey.Sum(valid).String(), disabled, apikey.Sum(disabled).String()} {
		if strings.Contains(string(body), secret) {
			t.Fatal("/metrics holds a key or its hash")
		}
	}
	if !strings.Contains(string(body), `tenantward_verifier_key_answers_total{name="app",namespace="acme-research",result="VALID"}`) {
		t.Error("/metrics lacks the per-key series of acme-research/app")
	}
}

// TestUsageQueue: a key queues one lastUsedAt write per period; a key that
// finds the queue full is counted as dropped and queued by its next
// verification; records of keys unseen for two periods are swept with their
// per-key series.
func TestUsageQueue(t *testing.T) {
	u, err := NewUsage(UsageOptions{Period: time.Minute, WriterQPS: 1, QueueSize: 1, PerKeyMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	keyAnswersVec.Reset() // the series other tests made
	now := time.Unix(1_800_000_000, 0)
	dropped := lastUsedWrites.WithLabelValues(outcomeDropped)
	before := testutil.ToFloat64(dropped)
	u.setClock(now)
	u.Record("ns", "a", "acme", "ws", Valid)
	u.Record("ns", "a", "acme", "ws", Valid)
	u.Record("ns", "b", "acme", "ws", Valid)
	if got := testutil.ToFloat64(dropped) - before; got != 1 {
		t.Fatalf("dropped %v writes, want 1 (b finds the queue full)", got)
	}
	if k := <-u.queue; k.name != (usageName{"ns", "a"}) {
		t.Fatalf("queued %v first, want ns/a", k.name)
	}
	u.Record("ns", "b", "acme", "ws", Disabled)
	if len(u.queue) != 0 {
		t.Fatal("a DISABLED answer queued a lastUsedAt write")
	}
	u.Record("ns", "b", "acme", "ws", Valid)
	if k := <-u.queue; k.name != (usageName{"ns", "b"}) {
		t.Fatalf("queued %v, want ns/b again after its drop", k.name)
	}
	u.setClock(now.Add(time.Minute))
	u.Record("ns", "a", "acme", "ws", Valid)
	if k := <-u.queue; k.queued.Load() != now.Add(time.Minute).UnixNano()/int64(time.Minute) {
		t.Fatalf("the next period did not queue ns/a again (%v)", k.name)
	}
	u.setClock(now.Add(3 * time.Minute))
	u.sweep()
	u.keys.Range(func(name, _ any) bool {
		t.Errorf("the record of %v is left after two idle periods", name)
		return true
	})
	if n := testutil.CollectAndCount(keyAnswersVec); n != 0 {
		t.Errorf("%d per-key series left after the sweep, want 0", n)
	}
}

// TestUsageRecordDoesNotAllocate: recording an answer about a key that has a
// record allocates nothing, per-key metrics on or off.
func TestUsageRecordDoesNotAllocate(t *testing.T) {
	for _, perKey := range []bool{false, true} {
		u, err := NewUsage(UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: 1, PerKeyMetrics: perKey})
		if err != nil {
			t.Fatal(err)
		}
		u.Record("ns", "app", "acme", "ws", Valid)
		if n := testing.AllocsPerRun(1000, func() { u.Record("ns", "app", "acme", "ws", Valid) }); n != 0 {
			t.Errorf("per-key %v: %v allocations per Record", perKey, n)
		}
	}
	keyAnswersVec.Reset()
}

func TestUsageOptions(t *testing.T) {
	for _, o := range []UsageOptions{{Period: 1500 * time.Millisecond, WriterQPS: 1, QueueSize: 1}, {Period: -time.Second}, {Period: time.Hour}} {
		if _, err := NewUsage(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
	o := DefaultUsageOptions()
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.BindFlags(fs, "")
	if err := fs.Parse([]string{"--last-used-period=30s"}); err == nil || !strings.Contains(err.Error(), "under the minimum of 1m0s") {
		t.Errorf("a 30s period: %v", err)
	}
	if err := fs.Parse([]string{"--last-used-period=0", "--key-metrics"}); err != nil || o.Period != 0 || !o.PerKeyMetrics {
		t.Errorf("period 0 and key metrics: %v %+v", err, o)
	}
}

// BenchmarkUsage compares verification with 100,000 keys without usage
// recording, with it (lastUsedAt on) and with per-key metrics too: speed
// ratios from interleaved rounds (the figure), then each alone, serial and
// parallel.
func BenchmarkUsage(b *testing.B) {
	ix, keys := benchIndex(b, 100_000)
	cases := []struct {
		name string
		opts *UsageOptions
		a    *Authorizer
	}{
		{"off", nil, nil},
		{"on", &UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: len(keys)}, nil},
		{"on-per-key", &UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: len(keys), PerKeyMetrics: true}, nil},
	}
	for i := range cases {
		c := &cases[i]
		c.a = &Authorizer{Index: ix}
		if c.opts != nil {
			var err error
			if c.a.Usage, err = NewUsage(*c.opts); err != nil {
				b.Fatal(err)
			}
			for _, k := range keys { // every key has its record, as in a warm verifier
				c.a.count(endpointVerify, ix.Verify(k, nil, time.Now()))
			}
		}
	}
	// Interleaved blocks of 64 verifications of each case, each case first
	// in turn: on a loaded machine the load drifts between sub-benchmarks,
	// much less within a round, so these ratios hold.
	b.Run("interleaved", func(b *testing.B) {
		const block = 64
		spent := make([]time.Duration, len(cases))
		round := 0
		for b.Loop() {
			for i := range cases {
				i = (i + round) % len(cases) // each case first in turn
				c, start := cases[i], time.Now()
				for _, k := range keys[round*block%len(keys):][:block] {
					c.a.count(endpointVerify, ix.Verify(k, nil, c.a.now()))
				}
				spent[i] += time.Since(start)
			}
			round++
		}
		for i, c := range cases[1:] {
			b.ReportMetric(float64(spent[0])/float64(spent[i+1]), c.name+"-speed/off")
		}
	})
	for _, c := range cases {
		a := c.a
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.count(endpointVerify, ix.Verify(keys[i%len(keys)], nil, a.now()))
				i++
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					a.count(endpointVerify, ix.Verify(keys[i%len(keys)], nil, a.now()))
				}
			})
		})
	}
	keyAnswersVec.Reset()
}

// TestNameArenaReleased: once the index replaced the arena its key names
// live in (a full relist; deletions compact it too), nothing the answers left
// behind keeps the old one alive: not the usage records, not their per-key
// series, not the rate limiter's state. The names an Entry carries are views
// of that arena.
func TestNameArenaReleased(t *testing.T) {
	a := &Authorizer{Index: NewIndex(), Router: mustRouter(t, RouteMap{}), Limiter: ratelimit.NewMemory()}
	u, err := NewUsage(UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: 8, PerKeyMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Usage = u
	a.Index.SetOrganization("acme", "acme-uid")
	key, k := issued(t, "acme-research", "arena-key")
	k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 100, Per: metav1.Duration{Duration: time.Hour}}}
	a.Index.Set(k)
	ask := func() {
		t.Helper()
		d := a.Authorize(key, http.MethodPost, "/v1/chat/completions", RequestModel{})
		a.count(endpointAuth, d.Result)
		if d.Status != http.StatusOK || d.RateLimit.N != 1 {
			t.Fatalf("the key: %d %s, %d windows", d.Status, d.Reason, d.RateLimit.N)
		}
	}
	ask()
	released := make(chan struct{})
	a.Index.mu.RLock()
	runtime.AddCleanup(unsafe.SliceData(a.Index.names), func(ch chan struct{}) { close(ch) }, released)
	a.Index.mu.RUnlock()
	fresh := NewIndex()
	fresh.Set(k)
	a.Index.ReplaceKeys(fresh)
	deadline := time.Now().Add(10 * time.Second)
	for done := false; !done; {
		runtime.GC()
		select {
		case <-released:
			done = true
		default:
			if time.Now().After(deadline) {
				t.Fatal("the index's old name arena is still referenced after it was replaced")
			}
			runtime.Gosched()
		}
	}
	ask() // the same usage record and rate-limit state serve the key on
	if d := a.Authorize(key, http.MethodPost, "/v1/chat/completions", RequestModel{}); d.RateLimit.Windows[0].Remaining != 97 {
		t.Fatalf("the third call: %d remaining, want 97", d.RateLimit.Windows[0].Remaining)
	}
}
