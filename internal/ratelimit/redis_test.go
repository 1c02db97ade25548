package ratelimit_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantward/tenantward/internal/ratelimit"
	"github.com/tenantward/tenantward/internal/ratelimit/redistest"
)

func newRedis(t testing.TB, url string) *ratelimit.Redis {
	t.Helper()
	r, err := ratelimit.NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestRedisHoldsTheLimitAcrossReplicas: two limiters (two verifier
// replicas) on one real redis-server, called concurrently, allow exactly the
// limit in all, and each Redis database is a state of its own.
func TestRedisHoldsTheLimitAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	replicas := []*ratelimit.Redis{newRedis(t, "redis://"+srv.Addr), newRedis(t, "redis://"+srv.Addr+"/3")}
	ws := windows(t, 25, time.Hour, 1000, 24*time.Hour)
	var mu sync.Mutex
	allowed, denied := 0, 0
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 20 {
				d, err := replicas[w%2].Allow(key, ws, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if d.Allowed {
					allowed++
				} else {
					denied++
					if d.RetryAfter <= 0 || d.Decisive != 0 || d.Windows[0].Remaining != 0 {
						t.Errorf("a denial: %+v", d)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Database 3 is another state: replicas[1] alone would allow 25 more.
	if allowed != 25+25 || denied != 160-50 {
		t.Fatalf("allowed %d and denied %d of 160 calls, want 25 per database", allowed, denied)
	}
	other := ratelimit.Key{Namespace: key.Namespace, Name: "other"}
	if d, err := replicas[0].Allow(other, ws, time.Now()); err != nil || !d.Allowed || d.Windows[0].Remaining != 24 || d.Windows[1].Remaining != 999 {
		t.Fatalf("another key: %+v %v", d, err)
	}
}

// TestRedisDown: when Redis cannot be reached every fail mode decides
// (local: this process's state; open: allowed; closed: denied) and reports
// the error, which never holds the URL's password.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, "redis://user:s3cret@"+srv.Addr)
	if err := r.Ping(); err == nil || strings.Contains(err.Error(), "s3cret") {
		// redis-server without requirepass refuses AUTH with a password.
		t.Fatalf("AUTH against a server without a password: %v", err)
	}
	r = newRedis(t, "redis://"+srv.Addr)
	ws := windows(t, 1, time.Hour)
	if d, err := r.Allow(key, ws, t0); err != nil || !d.Allowed {
		t.Fatalf("with Redis up: %+v %v", d, err)
	}
	srv.Stop()
	for _, c := range []struct {
		mode    ratelimit.FailMode
		allowed []bool
	}{
		{ratelimit.FailLocal, []bool{true, false}},
		{ratelimit.FailOpen, []bool{true, true}},
		{ratelimit.FailClosed, []bool{false, false}},
	} {
		f := &ratelimit.Fallback{Primary: r, Mode: c.mode, Local: ratelimit.NewMemory()}
		for i, want := range c.allowed {
			d, err := f.Allow(key, ws, t0)
			if err == nil || !strings.Contains(err.Error(), "rate-limit store "+srv.Addr) {
				t.Fatalf("%s: no error from a stopped Redis: %v", c.mode, err)
			}
			if d.Allowed != want || (!d.Allowed && d.RetryAfter <= 0) {
				t.Fatalf("%s, call %d with Redis down: %+v, want allowed=%v", c.mode, i+1, d, want)
			}
		}
	}
}

func TestNewRedisRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"memory", "rediss://:pw@h:6379", "redis://:hunter2@h:6379/x", "http://h", "redis://", "redis://h:1?timeout=1s"} {
		_, err := ratelimit.NewRedis(u)
		if err == nil {
			t.Fatalf("%s was accepted", u)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "pw") {
			t.Fatalf("the error quotes the password: %v", err)
		}
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, "redis://"+srv.Addr)
	ws := windows(b, 1000000000, time.Second)
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Allow(key, ws, t0); err != nil {
			b.Fatal(err)
		}
	}
}
