package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// UsageOptions configure what the verifier records of the keys it answers
// for: the answer counters per organization and workspace (always), per key
// (PerKeyMetrics), and each key's status.lastUsedAt.
type UsageOptions struct {
	// Period is the granularity of status.lastUsedAt: a key used at 14:37
	// shows 14:00 with an hour. At most one status write per used key per
	// period, from all replicas together. 0 turns lastUsedAt off. A whole
	// number of seconds; the flags refuse less than MinUsagePeriod.
	Period time.Duration
	// WriterQPS bounds the API requests of the lastUsedAt writer (a write is
	// a GET and a PATCH of apikeys/status), per replica.
	WriterQPS float64
	// QueueSize bounds the keys waiting for their lastUsedAt write; a key
	// that finds the queue full is queued again by its next verification.
	QueueSize int
	// PerKeyMetrics adds tenantward_verifier_key_answers_total, one series
	// per key and result.
	PerKeyMetrics bool
}

// Defaults and bounds of UsageOptions.
const (
	DefaultUsagePeriod = time.Hour
	MinUsagePeriod     = time.Minute
	DefaultWriterQPS   = 20
	DefaultQueueSize   = 10000
	// idlePeriod is the period over which usage records are dropped when
	// lastUsedAt is off: a key unseen for two of them loses its per-key series.
	idlePeriod = time.Hour
)

// DefaultUsageOptions are the flags' defaults.
func DefaultUsageOptions() UsageOptions {
	return UsageOptions{Period: DefaultUsagePeriod, WriterQPS: DefaultWriterQPS, QueueSize: DefaultQueueSize}
}

// BindFlags registers the options on fs, each name after prefix (the
// manager's flags start with "verifier-"). The period flag refuses less than
// MinUsagePeriod: every replica writes each used key once per period.
func (o *UsageOptions) BindFlags(fs *flag.FlagSet, prefix string) {
	fs.Func(prefix+"last-used-period", fmt.Sprintf("granularity of APIKey status.lastUsedAt (at most one status write per used key per period); 0 disables it, the minimum is %s (default %s)", MinUsagePeriod, o.Period), func(s string) error {
		d, err := time.ParseDuration(s)
		if err == nil && d != 0 && d < MinUsagePeriod {
			err = fmt.Errorf("%s is under the minimum of %s", d, MinUsagePeriod)
		}
		o.Period = d
		return err
	})
	fs.Float64Var(&o.WriterQPS, prefix+"last-used-qps", o.WriterQPS, "API requests per second of the lastUsedAt writer (a write is a GET and a PATCH)")
	fs.IntVar(&o.QueueSize, prefix+"last-used-queue", o.QueueSize, "keys waiting for their lastUsedAt write at most")
	fs.BoolVar(&o.PerKeyMetrics, prefix+"key-metrics", o.PerKeyMetrics, "count answers per key too (one series per key and result)")
}

// validate checks what the flags do not (the minimum period is theirs alone,
// so that tests can use seconds).
func (o UsageOptions) validate() error {
	switch {
	case o.Period < 0 || o.Period%time.Second != 0:
		return fmt.Errorf("the lastUsedAt period %s is not a whole, non-negative number of seconds", o.Period)
	case o.Period > 0 && (o.WriterQPS <= 0 || o.QueueSize <= 0):
		return errors.New("the lastUsedAt writer needs a positive QPS and queue size")
	}
	return nil
}

var (
	answersVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_answers_total",
		Help: "Answers about known keys by organization, workspace and result code (all endpoints).",
	}, []string{"organization", "workspace", "result"})
	keyAnswersVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_key_answers_total",
		Help: "Answers by APIKey (namespace and name) and result code; only with --key-metrics.",
	}, []string{"namespace", "name", "result"})
	lastUsedWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_last_used_writes_total",
		Help: "status.lastUsedAt writes by outcome: written, current (already at the period), gone (the key was deleted), failed, dropped (queue full).",
	}, []string{"outcome"})
)

// Outcomes of a lastUsedAt write.
const (
	outcomeWritten = "written"
	outcomeCurrent = "current"
	outcomeGone    = "gone"
	outcomeFailed  = "failed"
	outcomeDropped = "dropped"
)

// counters are one series per result code, resolved once.
type counters [numCodes]prometheus.Counter

func countersOf(vec *prometheus.CounterVec, a, b string) *counters {
	var c counters
	for code := range numCodes {
		c[code] = vec.WithLabelValues(a, b, code.String())
	}
	return &c
}

// Usage counts the verifier's answers about known keys and queues each key's
// first successful verification of a period for its status.lastUsedAt write.
// Recording is one lock-free map lookup (a sync.Map: no lock word shared by
// every request, unlike a read lock) and atomic operations, and reads no
// clock (run advances the current period): it does not allocate once a key
// has a record.
type Usage struct {
	opts UsageOptions
	// tick is the period of the records: Period, or idlePeriod when
	// lastUsedAt is off.
	tick  time.Duration
	queue chan *keyUsage
	// clock is the current period (unix time / tick), advanced by run at
	// each period's start.
	clock atomic.Int64
	// keys holds a *keyUsage per usageName of a key.
	keys sync.Map

	// mu serialises adding and sweeping records, and guards scopes.
	mu     sync.Mutex
	scopes map[usageName]*scopeCounters
}

// scopeCounters are the answer counters of an organization and workspace.
type scopeCounters struct {
	name usageName
	c    *counters
}

// usageName is a key's namespace and name, or an organization and workspace.
type usageName struct{ a, b string }

// keyUsage is the record of one key. Its own fields, not the index's, so
// that the index can change shape freely; its organization and workspace are
// its scope's (64 bytes a key in use).
type keyUsage struct {
	name  usageName
	scope *scopeCounters
	// perKey is nil without PerKeyMetrics.
	perKey *counters
	// seen is the period of the key's last answer; queued the period of the
	// last lastUsedAt write queued for it.
	seen, queued atomic.Int64
}

// NewUsage checks o and returns an empty record.
func NewUsage(o UsageOptions) (*Usage, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	u := &Usage{opts: o, tick: o.Period, scopes: map[usageName]*scopeCounters{}}
	if o.Period == 0 {
		u.tick = idlePeriod
	} else {
		u.queue = make(chan *keyUsage, o.QueueSize)
	}
	u.setClock(time.Now())
	return u, nil
}

// setClock sets the current period to the one holding now.
func (u *Usage) setClock(now time.Time) { u.clock.Store(now.UnixNano() / int64(u.tick)) }

// Record counts an answer c about the key namespace/name of org and ws, and
// queues its lastUsedAt write when c is Valid and the key has none queued
// for the current period. A nil Usage records nothing.
func (u *Usage) Record(namespace, name, org, ws string, c Code) {
	if u == nil {
		return
	}
	k := u.lookup(usageName{namespace, name}, org, ws)
	k.scope.c[c].Inc()
	if k.perKey != nil {
		k.perKey[c].Inc()
	}
	p := u.clock.Load()
	if k.seen.Load() != p {
		k.seen.Store(p)
	}
	if c != Valid || u.queue == nil {
		return
	}
	old := k.queued.Load()
	if old >= p || !k.queued.CompareAndSwap(old, p) {
		return
	}
	select {
	case u.queue <- k:
	default:
		// Let the next verification queue it again.
		k.queued.CompareAndSwap(p, old)
		lastUsedWrites.WithLabelValues(outcomeDropped).Inc()
	}
}

func (u *Usage) lookup(name usageName, org, ws string) *keyUsage {
	if k := u.record(name); k != nil && k.scope.name == (usageName{org, ws}) {
		return k
	}
	return u.add(name, org, ws)
}

// record returns the record of name, or nil.
func (u *Usage) record(name usageName) *keyUsage {
	if v, ok := u.keys.Load(name); ok {
		return v.(*keyUsage)
	}
	return nil
}

// add makes the record of a key seen for the first time (or whose
// organization or workspace changed).
func (u *Usage) add(name usageName, org, ws string) *keyUsage {
	u.mu.Lock()
	defer u.mu.Unlock()
	if k := u.record(name); k != nil && k.scope.name == (usageName{org, ws}) {
		return k
	}
	scope := u.scopes[usageName{org, ws}]
	if scope == nil {
		scope = &scopeCounters{name: usageName{org, ws}, c: countersOf(answersVec, org, ws)}
		u.scopes[scope.name] = scope
	}
	// The record outlives the Entry the name came from: a copy, not a view
	// of the index's name arena, which the index replaces as it compacts.
	name = usageName{strings.Clone(name.a), strings.Clone(name.b)}
	k := &keyUsage{name: name, scope: scope}
	k.seen.Store(u.clock.Load()) // not swept before its first answer is counted
	if u.opts.PerKeyMetrics {
		k.perKey = countersOf(keyAnswersVec, name.a, name.b)
	}
	u.keys.Store(name, k)
	return k
}

// sweep drops the records of keys unseen for two periods, with their
// per-key series: deleted keys do not stay in memory or in /metrics.
func (u *Usage) sweep() {
	p := u.clock.Load()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.keys.Range(func(key, v any) bool {
		k := v.(*keyUsage)
		if k.seen.Load() >= p-1 {
			return true
		}
		u.keys.Delete(key)
		if k.perKey != nil {
			for code := range numCodes {
				keyAnswersVec.DeleteLabelValues(k.name.a, k.name.b, code.String())
			}
		}
		return true
	})
}

// run advances the clock and sweeps the records at each period's start and,
// when lastUsedAt is on, writes the queued keys' status.lastUsedAt with c
// until ctx ends. c's rate limiter bounds the writes.
func (u *Usage) run(ctx context.Context, c statusClient, log logr.Logger) {
	untilNext := func(now time.Time) time.Duration { return u.tick - time.Duration(now.UnixNano()%int64(u.tick)) }
	boundary := time.NewTimer(untilNext(time.Now()))
	defer boundary.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-boundary.C:
			u.setClock(now)
			u.sweep()
			boundary.Reset(untilNext(now))
		case k := <-u.queue:
			outcome, err := u.write(ctx, c, k)
			if err != nil && ctx.Err() == nil {
				// Never the key: its namespace and name only.
				log.Error(err, "writing APIKey status.lastUsedAt", "namespace", k.name.a, "name", k.name.b)
			}
			lastUsedWrites.WithLabelValues(outcome).Inc()
		}
	}
}

// write sets k's status.lastUsedAt to the start of its queued period unless
// it already is there or later (another replica wrote it). The patch tests
// the resourceVersion it read, so of two replicas writing the same period
// one writes and the other, refused, reads again and finds it current.
func (u *Usage) write(ctx context.Context, c statusClient, k *keyUsage) (string, error) {
	start := metav1.NewTime(time.Unix(0, k.queued.Load()*int64(u.opts.Period)).UTC())
	var err error
	for range 2 {
		var key keyStatus
		if key, err = c.get(ctx, k.name.a, k.name.b); err != nil {
			break
		}
		if last := key.Status.LastUsedAt; last != nil && !last.Before(&start) {
			return outcomeCurrent, nil
		}
		if err = c.patch(ctx, k.name.a, k.name.b, lastUsedPatch(key.Metadata.ResourceVersion, start)); !refusedTest(err) {
			break
		}
	}
	switch {
	case err == nil:
		return outcomeWritten, nil
	case apierrors.IsNotFound(err):
		return outcomeGone, nil
	}
	return outcomeFailed, err
}

// lastUsedPatch is a JSON patch that sets status.lastUsedAt to at only while
// the object is still at resourceVersion rv.
func lastUsedPatch(rv string, at metav1.Time) []byte {
	raw, _ := json.Marshal([]map[string]any{ //nolint:errchkjson // strings only
		{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
		{"op": "add", "path": "/status/lastUsedAt", "value": at},
	})
	return raw
}

// refusedTest reports whether a patch failed on its test operation: the API
// server answers a conflict or an unprocessable patch.
func refusedTest(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

// count counts an answer of endpoint e and, for a known key, records it in
// the key's usage.
func (a *Authorizer) count(e endpoint, res Result) {
	count(e, res.Code)
	if k := &res.Entry; k.Name != "" {
		a.Usage.Record(k.Namespace, k.Name, k.Organization, k.Workspace, res.Code)
	}
}

// runUsage runs u's sweeper and lastUsedAt writer as the verifier's identity
// at cfg, its requests bounded by the writer's QPS.
func runUsage(ctx context.Context, u *Usage, cfg *rest.Config, log logr.Logger) error {
	cfg = rest.CopyConfig(cfg)
	if u.opts.WriterQPS > 0 {
		cfg.QPS, cfg.Burst = float32(u.opts.WriterQPS), max(1, int(u.opts.WriterQPS))
	}
	c, err := newAPIClient(cfg)
	if err != nil {
		return fmt.Errorf("the lastUsedAt writer's client: %w", err)
	}
	go u.run(ctx, statusClient{c}, log)
	return nil
}
