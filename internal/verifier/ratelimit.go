package verifier

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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

// Limits is an interned list of rate limits (Index.internLimits): the keys
// of equal lists share one, so what their answers need of it is computed
// once, when the index first holds the list. It is never modified.
type Limits struct {
	// List is the key's effective rate limits (status.rateLimits); empty
	// when it is unlimited.
	List []Limit
	// windows are List's windows for the limiter.
	windows ratelimit.Windows
	// names name the windows: their periods as time.Duration prints them
	// ("1m0s", "24h0m0s").
	names [ratelimit.MaxWindows]string
	// policy is the RateLimit-Policy field's value (nil without windows),
	// set in answers as it is: never modified in place.
	policy []string
}

// newLimits computes what the answers of keys limited by ls need.
func newLimits(ls []Limit) *Limits {
	l := &Limits{List: slices.Clone(ls)}
	for _, w := range ls {
		// The CRD allows 4 windows of 1 request or more per 1s or more,
		// which is what Add accepts.
		_ = l.windows.Add(w.Requests, w.Per)
	}
	var b []byte
	for i := range l.windows.N {
		w := l.windows.W[i]
		l.names[i] = w.Per.String()
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(append(l.appendName(b, i), ";q="...), w.Requests, 10)
		b = strconv.AppendInt(append(b, ";w="...), seconds(w.Per), 10)
	}
	if l.windows.N > 0 {
		l.policy = []string{string(b)}
	}
	return l
}

// appendName appends the name of window i, quoted: a structured field's string.
func (l *Limits) appendName(b []byte, i int) []byte {
	return append(append(append(b, '"'), l.names[i]...), '"')
}

// limit applies the rate limits of the key of d, a decision taken at now
// that passes every other check: over a limit it becomes a 429 RATE_LIMITED.
func (a *Authorizer) limit(d *Decision, now time.Time) {
	e := &d.Result.Entry
	if a.Limiter == nil || e.RateLimits == nil || len(e.RateLimits.List) == 0 {
		return
	}
	rl, err := a.Limiter.Allow(ratelimit.Key{Namespace: e.Namespace, Name: e.Name}, e.RateLimits.windows, now)
	if err != nil {
		storeErrors.Inc()
	}
	d.RateLimit = rl
	if !rl.Allowed {
		rateLimitedVec.WithLabelValues(e.Organization, e.Workspace).Inc()
		w := rl.Windows[rl.Decisive]
		d.Status, d.Result.Code = http.StatusTooManyRequests, RateLimited
		d.Reason = fmt.Sprintf("the key is over its rate limit of %d calls per %s; retry after %ds", w.Requests, e.RateLimits.names[rl.Decisive], seconds(rl.RetryAfter))
	}
}

// rateLimitFields are the RateLimit-Policy, RateLimit and, when denied,
// Retry-After fields of a decision; all empty for a key without limits.
type rateLimitFields struct{ policy, state, retryAfter string }

// rateLimitHeaders returns the fields of d, the last two formatted in one
// string.
func rateLimitHeaders(d *Decision) rateLimitFields {
	if d.RateLimit.N == 0 {
		return rateLimitFields{}
	}
	var buf [256]byte
	ls := d.Result.Entry.RateLimits
	b, end := appendRateLimitState(buf[:0], ls, &d.RateLimit)
	all := string(b)
	return rateLimitFields{policy: ls.policy[0], state: all[:end], retryAfter: all[end:]}
}

// appendRateLimitState appends the RateLimit field of rl, a decision with
// windows (rl.N > 0) on the windows of ls, and when denied the Retry-After
// field, back to back, and returns where the first ends.
func appendRateLimitState(b []byte, ls *Limits, rl *ratelimit.Decision) ([]byte, int) {
	for i := range rl.N {
		w := &rl.Windows[i]
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(append(ls.appendName(b, i), ";r="...), w.Remaining, 10)
		b = strconv.AppendInt(append(b, ";t="...), seconds(w.Reset), 10)
	}
	end := len(b)
	if !rl.Allowed {
		b = strconv.AppendInt(b, seconds(rl.RetryAfter), 10)
	}
	return b, end
}

// set calls set with each field that is not empty.
func (f rateLimitFields) set(set func(name, value string)) {
	for _, h := range [...]struct{ name, value string }{{headerRateLimitPolicy, f.policy}, {headerRateLimit, f.state}, {headerRetryAfter, f.retryAfter}} {
		if h.value != "" {
			set(h.name, h.value)
		}
	}
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

// rateLimitStates returns the windows of d's rate-limit decision and, when
// denied, the seconds to wait.
func rateLimitStates(d *Decision) (states []RateLimitState, retryAfter int64) {
	rl := &d.RateLimit
	for i := range rl.N {
		w := rl.Windows[i]
		states = append(states, RateLimitState{Requests: w.Requests, Per: d.Result.Entry.RateLimits.names[i], Remaining: w.Remaining, ResetSeconds: seconds(w.Reset)})
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
