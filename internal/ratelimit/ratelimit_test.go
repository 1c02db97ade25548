package ratelimit_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/tenantward/tenantward/internal/ratelimit"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func windows(t testing.TB, pairs ...any) ratelimit.Windows {
	t.Helper()
	var ws ratelimit.Windows
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := ws.Add(int64(pairs[i].(int)), pairs[i+1].(time.Duration)); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

var key = ratelimit.Key{Namespace: "acme--research", Name: "app"}

// TestBurstThenSteadyRate: a window allows its requests at once, then one
// call per period/requests, and says how long to wait.
func TestBurstThenSteadyRate(t *testing.T) {
	m := ratelimit.NewMemory()
	ws := windows(t, 3, time.Second)
	for i, want := range []int64{2, 1, 0} {
		d, err := m.Allow(key, ws, t0)
		if err != nil || !d.Allowed || d.Windows[0].Remaining != want {
			t.Fatalf("call %d: %+v %v, want allowed with %d remaining", i+1, d, err, want)
		}
	}
	d, _ := m.Allow(key, ws, t0)
	third := time.Second/3 + 1 // the interval is rounded up to a nanosecond
	if d.Allowed || d.RetryAfter != third || d.Windows[0].Remaining != 0 || d.Windows[0].Reset != 3*third {
		t.Fatalf("the 4th call at once: %+v, want denied, retry after %s", d, third)
	}
	if d, _ := m.Allow(key, ws, t0.Add(third-1)); d.Allowed {
		t.Fatalf("a nanosecond early: %+v", d)
	}
	if d, _ := m.Allow(key, ws, t0.Add(third)); !d.Allowed || d.Windows[0].Remaining != 0 {
		t.Fatalf("after the retry delay: %+v", d)
	}
	// After a full period the whole burst is back.
	later := t0.Add(third + time.Second + 3)
	for i := range 3 {
		if d, _ := m.Allow(key, ws, later); !d.Allowed {
			t.Fatalf("call %d after a full period: %+v", i+1, d)
		}
	}
}

// TestEveryWindowHolds: with 2 per second and 5 per minute, the second
// window caps a client that respects the first; a denied call costs nothing.
func TestEveryWindowHolds(t *testing.T) {
	m := ratelimit.NewMemory()
	ws := windows(t, 2, time.Second, 5, time.Minute)
	allowed := 0
	now := t0
	for range 600 { // one call every 100 ms for a minute
		d, _ := m.Allow(key, ws, now)
		if d.Allowed {
			allowed++
		} else if d.RetryAfter <= 0 || d.Windows[d.Decisive].Remaining != 0 {
			t.Fatalf("a denial at %s: %+v", now.Sub(t0), d)
		}
		now = now.Add(100 * time.Millisecond)
	}
	// 5 at once, then one per 12 s over the minute: 5 + 4 (at 12, 24, 36, 48 s).
	if allowed != 9 {
		t.Fatalf("allowed %d calls in a minute, want 9", allowed)
	}
	_, _ = m.Allow(ratelimit.Key{Namespace: "n", Name: "k"}, ws, t0)
	d, _ := m.Allow(ratelimit.Key{Namespace: "n", Name: "k"}, ws, t0)
	if d.Decisive != 0 || d.Windows[0].Remaining != 0 || d.Windows[1].Remaining != 3 {
		t.Fatalf("after 2 calls the per-second window decides: %+v", d)
	}
	d, _ = m.Allow(ratelimit.Key{Namespace: "n", Name: "k"}, ws, t0)
	if d.Allowed || d.Decisive != 0 || d.RetryAfter != time.Second/2 || d.Windows[1].Remaining != 3 {
		t.Fatalf("the third call: %+v, want denied by the per-second window without costing the per-minute one", d)
	}
}

// TestKeysAreSeparateAndWindowsFollowTheSpec: keys do not share state; a
// changed window starts full.
func TestKeysAreSeparateAndWindowsFollowTheSpec(t *testing.T) {
	m := ratelimit.NewMemory()
	one := windows(t, 1, time.Hour)
	if d, _ := m.Allow(key, one, t0); !d.Allowed {
		t.Fatal(d)
	}
	if d, _ := m.Allow(key, one, t0); d.Allowed {
		t.Fatalf("the second call of a 1/h key: %+v", d)
	}
	if d, _ := m.Allow(ratelimit.Key{Namespace: key.Namespace, Name: "other"}, one, t0); !d.Allowed {
		t.Fatalf("another key: %+v", d)
	}
	if d, _ := m.Allow(key, windows(t, 2, time.Hour), t0); !d.Allowed {
		t.Fatalf("the key's limit raised to 2/h: %+v", d)
	}
}

// TestSweepBoundsMemory: a key whose windows are full again is forgotten.
func TestSweepBoundsMemory(t *testing.T) {
	m := ratelimit.NewMemory()
	short, long := windows(t, 10, time.Second), windows(t, 10, time.Hour)
	for i := range 1000 {
		ws := short
		if i%10 == 0 {
			ws = long
		}
		_, _ = m.Allow(ratelimit.Key{Namespace: "ns", Name: fmt.Sprint(i)}, ws, t0)
	}
	if n := m.Sweep(t0); n != 1000 {
		t.Fatalf("right after: %d keys held", n)
	}
	if n := m.Sweep(t0.Add(time.Second)); n != 100 {
		t.Fatalf("a second later: %d keys held, want the 100 with an hourly window", n)
	}
	// New keys take the room of the dropped ones; the kept keys keep their
	// state, and a dropped key starts again with full windows.
	for i := range 900 {
		_, _ = m.Allow(ratelimit.Key{Namespace: "other", Name: fmt.Sprint(i)}, short, t0.Add(time.Second))
	}
	for i := range 1000 {
		ws, want := short, int64(9)
		if i%10 == 0 {
			ws, want = long, 8
		}
		if d, _ := m.Allow(ratelimit.Key{Namespace: "ns", Name: fmt.Sprint(i)}, ws, t0.Add(time.Second)); d.Windows[0].Remaining != want {
			t.Fatalf("key %d after the sweep: %d remaining, want %d", i, d.Windows[0].Remaining, want)
		}
	}
	if n := m.Sweep(t0.Add(time.Second)); n != 1900 {
		t.Fatalf("after new keys: %d keys held, want 1900", n)
	}
	if n := m.Sweep(t0.Add(2 * time.Hour)); n != 0 {
		t.Fatalf("an hour later: %d keys held", n)
	}
}

// TestMemoryConcurrentCallsAreCounted: calls of the same keys from many
// goroutines at once, with sweeps between them, are each counted once: a
// key's remaining calls are its capacity less every call made, and a key
// whose state was swept starts full.
func TestMemoryConcurrentCallsAreCounted(t *testing.T) {
	m := ratelimit.NewMemory()
	// A call costs the kept keys an hour and the others a second: a sweep
	// a second later drops the others only.
	hourly, short := windows(t, 1000, 1000*time.Hour), windows(t, 1, time.Second)
	const goroutines, calls, keys = 8, 2000, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				k := ratelimit.Key{Namespace: "ns", Name: fmt.Sprint((g + i) % keys)}
				if d, _ := m.Allow(k, hourly, t0); !d.Allowed {
					t.Errorf("call %d of %s refused", i, k.Name)
					return
				}
				// Keys that a sweep drops at once, taking and freeing room.
				_, _ = m.Allow(ratelimit.Key{Namespace: "gone", Name: fmt.Sprint(g, "-", i)}, short, t0)
				if i%100 == 0 {
					m.Sweep(t0.Add(time.Second))
				}
			}
		})
	}
	wg.Wait()
	for i := range keys {
		d, _ := m.Allow(ratelimit.Key{Namespace: "ns", Name: fmt.Sprint(i)}, hourly, t0)
		if want := int64(1000 - goroutines*calls/keys - 1); d.Windows[0].Remaining != want {
			t.Fatalf("key %d: %d remaining, want %d", i, d.Windows[0].Remaining, want)
		}
	}
	if d, _ := m.Allow(ratelimit.Key{Namespace: "gone", Name: "0-0"}, short, t0.Add(time.Second)); !d.Allowed || d.Windows[0].Remaining != 0 {
		t.Fatalf("a swept key: %+v", d)
	}
	if n := m.Sweep(t0.Add(2 * time.Second)); n != keys {
		t.Fatalf("%d keys held after the short ones are full again, want %d", n, keys)
	}
}

// TestMemoryHoldsNothingToScan: the state of 100,000 keys adds no memory the
// garbage collector scans, and keeps no reference to the keys' strings (the
// verifier's key names are views of its index's name arena, which a
// reference would keep alive after the index replaced it).
func TestMemoryHoldsNothingToScan(t *testing.T) {
	m := ratelimit.NewMemory()
	ws := windows(t, 10, time.Hour)
	scannable := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := scannable()
	collected := make(chan struct{})
	name := strings.Clone("watched-key")
	runtime.AddCleanup(unsafe.StringData(name), func(ch chan struct{}) { close(ch) }, collected)
	_, _ = m.Allow(ratelimit.Key{Namespace: "ns", Name: name}, ws, t0)
	for i := range 100000 {
		_, _ = m.Allow(ratelimit.Key{Namespace: fmt.Sprintf("org--ws%d", i%1000), Name: fmt.Sprintf("key-%d", i)}, ws, t0)
	}
	if grown := int64(scannable()) - int64(before); grown > 64<<10 { //nolint:gosec // heap sizes
		t.Errorf("the state of 100,000 keys added %d bytes the garbage collector scans", grown)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-collected:
			if n := m.Sweep(t0); n != 100001 {
				t.Fatalf("%d keys held, want 100001", n)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("a key's name is still referenced after Allow returned: the limiter keeps it alive")
		}
		runtime.Gosched()
	}
}

// TestAllowDoesNotAllocate: the hot path of a known key allocates nothing.
func TestAllowDoesNotAllocate(t *testing.T) {
	m := ratelimit.NewMemory()
	ws := windows(t, 1000000, time.Second, 100000000, time.Hour)
	now := t0
	if a := testing.AllocsPerRun(1000, func() { _, _ = m.Allow(key, ws, now); now = now.Add(time.Millisecond) }); a != 0 {
		t.Fatalf("Allow allocates %.1f times per call", a)
	}
}

func TestWindowsAdd(t *testing.T) {
	var ws ratelimit.Windows
	for _, bad := range []struct {
		n   int64
		per time.Duration
	}{{0, time.Second}, {1, time.Millisecond}, {-1, time.Hour}} {
		if err := ws.Add(bad.n, bad.per); err == nil {
			t.Fatalf("%d per %s was accepted", bad.n, bad.per)
		}
	}
	for i := range 4 {
		if err := ws.Add(1, time.Duration(i+1)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.Add(1, time.Hour); err == nil || !strings.Contains(err.Error(), "at most 4") {
		t.Fatalf("a fifth window: %v", err)
	}
}

func TestParseFailMode(t *testing.T) {
	for _, s := range []string{"local", "open", "closed"} {
		if m, err := ratelimit.ParseFailMode(s); err != nil || string(m) != s {
			t.Fatal(s, m, err)
		}
	}
	if _, err := ratelimit.ParseFailMode("Open"); err == nil || !strings.Contains(err.Error(), `"Open" is not local, open or closed`) {
		t.Fatal(err)
	}
}

// BenchmarkMemoryAllowParallel calls Allow from every core at once, as the
// verifier's handlers do, over the 1,000 keys hack/verifier-load's wrk
// scripts cycle through.
func BenchmarkMemoryAllowParallel(b *testing.B) {
	m := ratelimit.NewMemory()
	ws := windows(b, 1000000000, time.Second)
	keys := make([]ratelimit.Key, 1000)
	for i := range keys {
		keys[i] = ratelimit.Key{Namespace: "load", Name: fmt.Sprintf("key-%d", i)}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			_, _ = m.Allow(keys[i%len(keys)], ws, t0)
			i++
		}
	})
}

// BenchmarkMemoryAllow calls Allow from one core over 100,000 keys in an
// order unrelated to the one they were first seen in, as a production spread
// of keys calls: each call's state is in no cache.
func BenchmarkMemoryAllow(b *testing.B) {
	m := ratelimit.NewMemory()
	ws := windows(b, 1000000000, time.Second)
	keys := make([]ratelimit.Key, 100000)
	for i := range keys {
		keys[i] = ratelimit.Key{Namespace: fmt.Sprintf("org--ws%d", i%1000), Name: fmt.Sprintf("key-%d", i)}
		_, _ = m.Allow(keys[i], ws, t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, _ = m.Allow(keys[i*7919%len(keys)], ws, t0)
		i++
	}
}
