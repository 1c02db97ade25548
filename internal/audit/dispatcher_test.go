package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tenantward/tenantward/internal/audit"
)

// deadline is generous: the machine these tests run on is small and shared.
const deadline = 60 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, deadline, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// counter reads a counter from the operator's metrics registry, as /metrics shows it.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return counterValue(t, name, labels)
}

func counterValue(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func numbered(i int) audit.Record {
	return audit.Record{SchemaVersion: audit.SchemaVersion, AuditID: fmt.Sprintf("id-%05d", i), Action: "create", Decision: audit.DecisionAllowed}
}

// flakySink is an HTTP audit endpoint whose behaviour the test switches: up
// (stores the lines, 200), hang (never answers), fail (503) or down (drops the
// connection). Only batches it answered 200 count as received.
type flakySink struct {
	mu       sync.Mutex
	mode     string
	received []string
	requests int
	server   *httptest.Server
}

func newFlakySink(t *testing.T, mode string) *flakySink {
	f := startFlakySink(mode)
	t.Cleanup(f.server.Close)
	return f
}

func startFlakySink(mode string) *flakySink {
	f := &flakySink{mode: mode}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *flakySink) set(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *flakySink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	mode := f.mode
	f.mu.Unlock()
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	case mode == "hang":
		<-r.Context().Done()
	case mode == "fail":
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case mode == "down":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	default:
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		f.mu.Lock()
		for sc.Scan() {
			var r audit.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.received = append(f.received, "malformed: "+sc.Text())
				continue
			}
			f.received = append(f.received, r.AuditID)
		}
		f.mu.Unlock()
	}
}

func (f *flakySink) snapshot() (received []string, requests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.received...), f.requests
}

func httpDispatcher(t *testing.T, url string, queueSize int) *audit.Dispatcher {
	t.Helper()
	sink, err := audit.NewHTTPSink(url, "", 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d := audit.NewDispatcher(logr.Discard(), audit.Target{Sink: sink, Delivery: audit.DeliveryOptions{
		QueueSize: queueSize, BatchSize: 7, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// TestHTTPSinkOutageThenRecovery: while the endpoint hangs, fails or drops
// connections, Record keeps returning and what does not fit the queue is
// counted as dropped; when the endpoint comes back, the queued records arrive
// in order, each exactly once.
func TestHTTPSinkOutageThenRecovery(t *testing.T) {
	for _, mode := range []string{"hang", "fail", "down"} {
		t.Run(mode, func(t *testing.T) {
			const queueSize, extra = 50, 13
			sink := newFlakySink(t, mode)
			d := httpDispatcher(t, sink.server.URL, queueSize)
			droppedBefore := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropQueueFull})
			failuresBefore := counter(t, "tenantward_audit_delivery_failures_total", map[string]string{"sink": "http"})

			// The first record is taken into flight alone and retried.
			d.Record(context.Background(), numbered(0))
			eventually(t, "the endpoint to see the first batch", func() bool { _, n := sink.snapshot(); return n > 0 })
			// The queue fills up; the rest are dropped, and Record returns every time.
			for i := 1; i <= queueSize+extra; i++ {
				d.Record(context.Background(), numbered(i))
			}
			dropped := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropQueueFull}) - droppedBefore
			if dropped != extra {
				t.Errorf("dropped %v records, want %d (the ones beyond the queue)", dropped, extra)
			}
			eventually(t, "failed deliveries to be counted", func() bool {
				return counter(t, "tenantward_audit_delivery_failures_total", map[string]string{"sink": "http"}) > failuresBefore
			})

			sink.set("up")
			var want []string
			for i := 0; i <= queueSize; i++ {
				want = append(want, numbered(i).AuditID)
			}
			eventually(t, "the queued records to arrive", func() bool { got, _ := sink.snapshot(); return len(got) >= len(want) })
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, _ := sink.snapshot()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("received %d records %v,\nwant %d in order without duplicates %v", len(got), got, len(want), want)
			}
		})
	}
}

// TestHTTPSinkUnreachable: an endpoint nobody listens on never blocks Record.
func TestHTTPSinkUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/audit"
	_ = l.Close()
	const queueSize = 10
	d := httpDispatcher(t, url, queueSize)
	before := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropQueueFull})
	for i := range 1000 {
		d.Record(context.Background(), numbered(i))
	}
	// At most the queue and one batch in flight are kept.
	if dropped := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropQueueFull}) - before; dropped < 1000-queueSize-7 {
		t.Errorf("dropped %v of 1000 records with a queue of %d, want at least %d", dropped, queueSize, 1000-queueSize-7)
	}
}

// TestHTTPSinkRejected: a batch the endpoint refuses for good (400) is dropped
// and counted instead of blocking the records behind it.
func TestHTTPSinkRejected(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "bad batch", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	d := httpDispatcher(t, srv.URL, 10)
	rejectedBefore := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropRejected})
	deliveredBefore := counter(t, "tenantward_audit_records_delivered_total", map[string]string{"sink": "http"})
	d.Record(context.Background(), numbered(1))
	eventually(t, "the rejected batch to be counted", func() bool {
		return counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropRejected}) == rejectedBefore+1
	})
	d.Record(context.Background(), numbered(2))
	eventually(t, "the next record to be delivered", func() bool {
		return counter(t, "tenantward_audit_records_delivered_total", map[string]string{"sink": "http"}) == deliveredBefore+1
	})
}

// TestFanOutToFileAndHTTP: every record reaches every sink, in order; closing
// flushes the file.
func TestFanOutToFileAndHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.jsonl")
	sink := newFlakySink(t, "up")
	stdout := false
	d, err := audit.New(audit.Config{Stdout: &stdout, File: path, HTTP: &audit.HTTPConfig{URL: sink.server.URL}}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 250 {
		d.Record(context.Background(), numbered(i))
		want = append(want, numbered(i).AuditID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// After Close, records are counted as dropped, never written.
	d.Record(context.Background(), numbered(999))

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile []string
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("file line %q: %v", line, err)
		}
		fromFile = append(fromFile, r.AuditID)
	}
	fromHTTP, _ := sink.snapshot()
	for name, got := range map[string][]string{"file": fromFile, "http": fromHTTP} {
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s sink got %d records, want the %d in order", name, len(got), len(want))
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		conf audit.Config
		want string
	}{
		{audit.Config{QueueSize: -1}, "audit.queueSize: -1 is not between 0 and 1000000"},
		{audit.Config{HTTP: &audit.HTTPConfig{}}, "audit.http.url: required"},
		{audit.Config{HTTP: &audit.HTTPConfig{URL: "ftp://x"}}, `url "ftp://x" must be an absolute http or https URL`},
		{audit.Config{HTTP: &audit.HTTPConfig{URL: "http://x", BatchSize: 1e6}}, "audit.http.batchSize: 1000000 is not between 0 and 10000"},
		{audit.Config{HTTP: &audit.HTTPConfig{URL: "http://x", BearerTokenFile: "/nonexistent/token"}}, "audit.http.bearerTokenFile: open /nonexistent/token"},
	} {
		_, err := audit.New(tc.conf, logr.Discard())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v, want one containing %q", tc.conf, err, tc.want)
		}
	}
}

// TestCloseWithHangingSink: closing gives a hanging endpoint until the deadline,
// then counts what it never took as dropped at shutdown instead of waiting on.
func TestCloseWithHangingSink(t *testing.T) {
	sink := newFlakySink(t, "hang")
	httpSink, err := audit.NewHTTPSink(sink.server.URL, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := audit.NewDispatcher(logr.Discard(), audit.Target{Sink: httpSink})
	before := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropShutdown})
	d.Record(context.Background(), numbered(1))
	eventually(t, "the endpoint to hang on the first batch", func() bool { _, n := sink.snapshot(); return n > 0 })
	for i := 2; i <= 5; i++ {
		d.Record(context.Background(), numbered(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err == nil {
		t.Error("Close reported a complete flush to an endpoint that never answered")
	}
	d.Record(context.Background(), numbered(6))
	if dropped := counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropShutdown}) - before; dropped != 6 {
		t.Errorf("dropped %v records at shutdown, want 6 (5 queued or in flight, 1 after Close)", dropped)
	}
}
