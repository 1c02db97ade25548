package verifier

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantward/tenantward/internal/ratelimit"
)

// Rate-limit header fields, as draft-ietf-httpapi-ratelimit-headers-10
// defines them: one policy per window, named by its period.
const (
	headerRateLimit       = "RateLimit"
	headerRateLimitPolicy = "RateLimit-Policy"
	headerRetryAfter      = "Retry-After"
)

var (
	rateLimitedVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_rate_limited_total",
		Help: "Calls refused because the key was over a rate limit, by organization and workspace (empty for admin keys).",
	}, []string{"organization", "workspace"})
	storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tenantward_verifier_rate_limit_store_errors_total",
		Help: "Rate-limit decisions the shared store (Redis) could not make; the fail mode decided them.",
	})
	rateLimitKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tenantward_verifier_rate_limit_keys",
		Help: "APIKeys whose rate-limit state this replica holds in memory (used within their longest period).",
	})
)

// limit applies the rate limits of the key of d, a decision taken at now
// that passes every other check: over a limit it becomes a 429 RATE_LIMITED.
func (a *Authorizer) limit(d *Decision, now time.Time) {
	e := &d.Result.Entry
	if a.Limiter == nil || len(e.RateLimits) == 0 {
		return
	}
	var ws ratelimit.Windows
	for _, l := range e.RateLimits {
		// The CRD allows 4 windows of 1 request or more per 1s or more,
		// which is what Add accepts.
		_ = ws.Add(l.Requests, l.Per)
	}
	rl, err := a.Limiter.Allow(ratelimit.Key{Namespace: e.Namespace, Name: e.Name}, ws, now)
	if err != nil {
		storeErrors.Inc()
	}
	d.RateLimit = rl
	if !rl.Allowed {
		rateLimitedVec.WithLabelValues(e.Organization, e.Workspace).Inc()
		w := rl.Windows[rl.Decisive]
		d.Status, d.Result.Code = http.StatusTooManyRequests, RateLimited
		d.Reason = fmt.Sprintf("the key is over its rate limit of %d calls per %s; retry after %ds", w.Requests, w.Per, seconds(rl.RetryAfter))
	}
}

// rateLimitFields are the RateLimit-Policy, RateLimit and, when denied,
// Retry-After fields of a decision; all empty for a key without limits.
type rateLimitFields struct{ policy, state, retryAfter string }

// rateLimitHeaders formats the fields of rl, in one string: an allowed
// answer of a limited key carries two of them, so they are on the hot path.
func rateLimitHeaders(rl ratelimit.Decision) rateLimitFields {
	if rl.N == 0 {
		return rateLimitFields{}
	}
	var buf [512]byte
	b, ends := appendRateLimitFields(buf[:0], rl)
	all := string(b)
	return rateLimitFields{policy: all[:ends.policy], state: all[ends.policy:ends.state], retryAfter: all[ends.state:]}
}

// appendWindows appends each window of rl as an item of a structured field
// list: the policy's name and two parameters, named p1 and p2, whose values
// of returns.
func appendWindows(b []byte, rl ratelimit.Decision, p1, p2 string, of func(ratelimit.State) (int64, int64)) []byte {
	for i := range rl.N {
		w := rl.Windows[i]
		if i > 0 {
			b = append(b, ", "...)
		}
		v1, v2 := of(w)
		b = appendPolicyName(b, w.Per)
		b = strconv.AppendInt(append(b, p1...), v1, 10)
		b = strconv.AppendInt(append(b, p2...), v2, 10)
	}
	return b
}

// rateLimitEnds are where the fields appendRateLimitFields appended end.
type rateLimitEnds struct{ policy, state int }

// appendRateLimitFields appends the RateLimit-Policy, RateLimit and, when
// denied, Retry-After fields of rl back to back (nothing when rl.N is 0),
// and returns where the first two end.
func appendRateLimitFields(b []byte, rl ratelimit.Decision) ([]byte, rateLimitEnds) {
	var ends rateLimitEnds
	b = appendWindows(b, rl, ";q=", ";w=", func(w ratelimit.State) (int64, int64) { return w.Requests, seconds(w.Per) })
	ends.policy = len(b)
	b = appendWindows(b, rl, ";r=", ";t=", func(w ratelimit.State) (int64, int64) { return w.Remaining, seconds(w.Reset) })
	ends.state = len(b)
	if rl.N > 0 && !rl.Allowed {
		b = strconv.AppendInt(b, seconds(rl.RetryAfter), 10)
	}
	return b, ends
}

// set calls set with each field that is not empty.
func (f rateLimitFields) set(set func(name, value string)) {
	for _, h := range [...]struct{ name, value string }{{headerRateLimitPolicy, f.policy}, {headerRateLimit, f.state}, {headerRetryAfter, f.retryAfter}} {
		if h.value != "" {
			set(h.name, h.value)
		}
	}
}

// appendPolicyName appends the quoted name of a window of period per, as
// time.Duration prints it ("1m0s", "24h0m0s"), without allocating for whole
// seconds (the CRD's periods are 1s or more).
func appendPolicyName(b []byte, per time.Duration) []byte {
	b = append(b, '"')
	if per < time.Second || per%time.Second != 0 {
		return append(append(b, per.String()...), '"')
	}
	secs := int64(per / time.Second)
	if h := secs / 3600; h > 0 {
		b = append(strconv.AppendInt(b, h, 10), 'h')
	}
	if secs >= 60 {
		b = append(strconv.AppendInt(b, secs%3600/60, 10), 'm')
	}
	return append(append(strconv.AppendInt(b, secs%60, 10), 's'), '"')
}

// seconds rounds d up to whole seconds, as the header fields count.
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// storeErrorLogEvery is how often at most an errorLog writes a line.
const storeErrorLogEvery = 10 * time.Second

// errorLog logs the shared store's failures, at most once per
// storeErrorLogEvery with how many there were (the metric counts each):
// Redis down at a thousand calls a second must not become a thousand lines.
type errorLog struct {
	log    logr.Logger
	mu     sync.Mutex
	last   time.Time
	missed atomic.Int64
}

func (l *errorLog) record(err error) {
	if !l.mu.TryLock() {
		l.missed.Add(1)
		return
	}
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.last) >= storeErrorLogEvery {
		l.last = now
		l.log.Error(err, "the rate-limit store failed; the fail mode decided", "failuresSinceLastLine", l.missed.Swap(0)+1)
		return
	}
	l.missed.Add(1)
}

// RateLimitState is one window of a key in the answer of /v1/verify.
type RateLimitState struct {
	Requests     int64  `json:"requests"`
	Per          string `json:"per"`
	Remaining    int64  `json:"remaining"`
	ResetSeconds int64  `json:"resetSeconds"`
}

// rateLimitStates returns the windows of rl and, when denied, the seconds to wait.
func rateLimitStates(rl ratelimit.Decision) (states []RateLimitState, retryAfter int64) {
	for i := range rl.N {
		w := rl.Windows[i]
		states = append(states, RateLimitState{Requests: w.Requests, Per: w.Per.String(), Remaining: w.Remaining, ResetSeconds: seconds(w.Reset)})
	}
	if rl.N > 0 && !rl.Allowed {
		retryAfter = seconds(rl.RetryAfter)
	}
	return states, retryAfter
}

// sweepEvery is how often a replica drops the in-memory state of keys whose
// windows are full again.
const sweepEvery = 30 * time.Second

// rateLimiter is the verifier's limiter built from its options.
type rateLimiter struct {
	limiter ratelimit.Limiter
	// memory is the state in this process: the limiter's own, or the Redis
	// store's local fallback.
	memory *ratelimit.Memory
	close  func()
	// errors logs the store's failures.
	errors *errorLog
}

// Allow decides with the limiter and logs its store's failures.
func (l rateLimiter) Allow(k ratelimit.Key, ws ratelimit.Windows, now time.Time) (ratelimit.Decision, error) {
	d, err := l.limiter.Allow(k, ws, now)
	if err != nil {
		l.errors.record(err)
	}
	return d, err
}

// newRateLimiter builds the limiter of store, "" or "memory" (each replica
// counts alone) or a redis:// URL (one exact count shared by the replicas,
// deciding as failMode says when Redis fails: "" is local).
func newRateLimiter(store, failMode string, log logr.Logger) (rateLimiter, error) {
	memory := ratelimit.NewMemory()
	if store == "" || store == "memory" {
		if failMode != "" {
			return rateLimiter{}, fmt.Errorf("a rate-limit fail mode (%s) applies to a redis:// store only", failMode)
		}
		return rateLimiter{limiter: memory, memory: memory, close: func() {}, errors: &errorLog{log: log}}, nil
	}
	r, err := ratelimit.NewRedis(store)
	if err != nil {
		return rateLimiter{}, err
	}
	mode := ratelimit.FailLocal
	if failMode != "" {
		if mode, err = ratelimit.ParseFailMode(failMode); err != nil {
			return rateLimiter{}, err
		}
	}
	return rateLimiter{limiter: &ratelimit.Fallback{Primary: r, Mode: mode, Local: memory}, memory: memory, close: r.Close, errors: &errorLog{log: log}}, nil
}

// sweep drops the idle keys' in-memory state every sweepEvery until ctx ends.
func (l rateLimiter) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	defer l.close()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rateLimitKeys.Set(float64(l.memory.Sweep(now)))
		}
	}
}
