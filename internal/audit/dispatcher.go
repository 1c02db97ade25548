package audit

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Delivery defaults.
const (
	DefaultQueueSize  = 10000
	DefaultBatchSize  = 100
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// dropLogInterval rate-limits the log line about dropped records, per sink.
	dropLogInterval = 10 * time.Second
)

// DeliveryOptions tune how records reach one sink.
type DeliveryOptions struct {
	// QueueSize bounds the records buffered for the sink; when it is full, new
	// records are dropped and counted. Default DefaultQueueSize.
	QueueSize int
	// BatchSize bounds the records handed to the sink at once. Default DefaultBatchSize.
	BatchSize int
	// MinBackoff and MaxBackoff bound the exponential backoff between retries of
	// a failed batch. Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	return o
}

// Dispatcher is the Recorder of the operator: it encodes each record once and
// fans it out to every sink through a bounded queue per sink, so Record never
// waits for a sink. Every sink gets the records in the same order, in batches; a failed
// batch is retried with exponential backoff until it is delivered (never resent
// once delivered), while newer records wait in the queue or, when the queue is
// full, are dropped and counted in tenantward_audit_records_dropped_total.
type Dispatcher struct {
	// mu makes each record's fan-out one step, so that every sink sees the
	// records in the same order even when webhooks record concurrently, and
	// guards closed against Record's sends.
	mu     sync.Mutex
	closed bool
	queues []*queue
	log    logr.Logger
}

// Target is a sink and how records are delivered to it.
type Target struct {
	Sink     Sink
	Delivery DeliveryOptions
}

// NewDispatcher starts one delivery worker per target.
func NewDispatcher(log logr.Logger, targets ...Target) *Dispatcher {
	d := &Dispatcher{log: log}
	for _, t := range targets {
		d.queues = append(d.queues, newQueue(log, t.Sink, t.Delivery.withDefaults()))
	}
	return d
}

// Record implements Recorder. It never blocks: a record a sink has no room for
// is dropped for that sink and counted.
func (d *Dispatcher) Record(_ context.Context, r Record) {
	line, err := json.Marshal(r)
	if err != nil {
		for _, q := range d.queues {
			q.drop(DropEncoding, 1, err)
		}
		return
	}
	// Full capacity: every queue gets the same line, and a queue that appends to
	// it for a batch must reallocate rather than write into a shared array.
	line = append(line, '\n')
	line = line[:len(line):len(line)]
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		if d.closed {
			q.drop(DropShutdown, 1, errClosed)
			continue
		}
		q.pending.Add(1)
		select {
		case q.ch <- line:
		default:
			q.pending.Add(-1)
			q.drop(DropQueueFull, 1, errQueueFull)
		}
	}
}

var (
	errClosed    = errors.New("the audit dispatcher is closed")
	errQueueFull = errors.New("the sink's queue is full")
)

// Flush waits until every record recorded so far has been delivered or dropped,
// or ctx ends.
func (d *Dispatcher) Flush(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		idle := true
		for _, q := range d.queues {
			idle = idle && q.pending.Load() == 0
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// Close stops accepting records, delivers what is queued until ctx ends, then
// drops (and counts) the rest, stops the workers and closes the sinks.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	flushErr := d.Flush(ctx)
	errs := []error{flushErr}
	for _, q := range d.queues {
		q.cancel()
		<-q.done
		errs = append(errs, q.sink.Close())
	}
	return errors.Join(errs...)
}

// Start implements manager.Runnable: on shutdown it flushes the queues for up
// to flushTimeout. It keeps accepting records afterwards, so that admissions
// still in flight while the webhook server drains are recorded too.
func (d *Dispatcher) Start(ctx context.Context) error {
	<-ctx.Done()
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if err := d.Flush(flushCtx); err != nil {
		d.log.Error(err, "audit records were still queued at shutdown")
	}
	return nil
}

// flushTimeout bounds the flush on shutdown.
const flushTimeout = 10 * time.Second

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// serves webhooks, so every replica delivers its records.
func (d *Dispatcher) NeedLeaderElection() bool { return false }

// queue delivers the records of one sink.
type queue struct {
	sink    Sink
	opts    DeliveryOptions
	ch      chan []byte
	pending atomic.Int64 // queued or in-flight records
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	log     logr.Logger

	delivered, failures prometheus.Counter

	lastDropLog   atomic.Int64 // unix nanoseconds
	droppedSince  atomic.Int64 // dropped since the last log line
	lastErrLogged atomic.Int64 // unix nanoseconds of the last delivery error logged
}

func newQueue(log logr.Logger, s Sink, o DeliveryOptions) *queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{
		sink: s, opts: o,
		ch:  make(chan []byte, o.QueueSize),
		ctx: ctx, cancel: cancel,
		done:      make(chan struct{}),
		log:       log.WithValues("sink", s.Name()),
		delivered: recordsDelivered.WithLabelValues(s.Name()),
		failures:  deliveryFailures.WithLabelValues(s.Name()),
	}
	go q.run()
	return q
}

// run delivers batches until the queue is cancelled; what is left then is dropped.
func (q *queue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.ctx.Done():
			if n := len(q.ch); n > 0 {
				for range n {
					<-q.ch
				}
				q.pending.Add(int64(-n))
				q.drop(DropShutdown, n, errClosed)
			}
			return
		case line := <-q.ch:
			// A fresh batch each time: an HTTP transport may read a request body
			// after the round trip returns.
			batch, n := line, 1
			for n < q.opts.BatchSize && len(q.ch) > 0 {
				batch = append(batch, <-q.ch...)
				n++
			}
			q.deliver(batch, n)
			q.pending.Add(int64(-n))
		}
	}
}

// deliver writes one batch, retrying with exponential backoff until it succeeds,
// the sink rejects it, or the queue is cancelled.
func (q *queue) deliver(batch []byte, n int) {
	backoff := q.opts.MinBackoff
	for {
		err := q.sink.Write(q.ctx, batch)
		if err == nil {
			q.delivered.Add(float64(n))
			return
		}
		q.failures.Inc()
		var permanent *PermanentError
		if errors.As(err, &permanent) {
			q.drop(DropRejected, n, err)
			return
		}
		if q.ctx.Err() != nil {
			q.drop(DropShutdown, n, err)
			return
		}
		if q.shouldLog(&q.lastErrLogged) {
			q.log.Error(err, "delivering audit records failed; retrying the batch", "records", n, "backoff", backoff.String())
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			q.drop(DropShutdown, n, err)
			return
		}
		backoff = min(2*backoff, q.opts.MaxBackoff)
	}
}

// drop counts n dropped records and logs it, at most once per dropLogInterval.
func (q *queue) drop(reason string, n int, cause error) {
	recordsDropped.WithLabelValues(q.sink.Name(), reason).Add(float64(n))
	total := q.droppedSince.Add(int64(n))
	if q.shouldLog(&q.lastDropLog) {
		q.droppedSince.Add(-total)
		q.log.Error(cause, "audit records dropped", "reason", reason, "records", total)
	}
}

// shouldLog reports whether dropLogInterval has passed since *last, and if so
// claims the log line by moving *last to now.
func (q *queue) shouldLog(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(dropLogInterval) && last.CompareAndSwap(prev, now)
}
