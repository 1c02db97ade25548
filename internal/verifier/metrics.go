package verifier

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsRegistry is where a verifier registers its metrics and what its
// /metrics serves (controller-runtime's metrics.Registry is one).
type MetricsRegistry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// endpoint names a verifier endpoint in metrics.
type endpoint uint8

const (
	endpointVerify endpoint = iota
	endpointAuth
	endpointGRPC
	numEndpoints
)

var (
	resultsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_results_total",
		Help: "Key verifications by endpoint (verify, auth, grpc) and result code.",
	}, []string{"endpoint", "result"})
	keysGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tenantward_verifier_keys",
		Help: "APIKeys in the verifier's index.",
	})
	savedIndexEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_verifier_saved_index_total",
		Help: "The saved index (--index-file): saved, save_failed, resumed (a start from it), refused (a start that loaded every APIKey instead; the log says why).",
	}, []string{"event"})
	// results are the counters resolved once, so counting costs one atomic add.
	results [numEndpoints][numCodes]prometheus.Counter
)

func init() {
	for e, name := range [numEndpoints]string{"verify", "auth", "grpc"} {
		for c := range numCodes {
			results[e][c] = resultsVec.WithLabelValues(name, c.String())
		}
	}
}

func count(e endpoint, c Code) { results[e][c].Inc() }

// registerMetrics registers the verifier's metrics (this file's, usage.go's
// and ratelimit.go's) on r. They are the process's: a second verifier on the
// same registry shares them.
func registerMetrics(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{resultsVec, keysGauge, savedIndexEvents, answersVec, keyAnswersVec, lastUsedWrites, rateLimitedVec, storeErrors, rateLimitKeys} {
		var already prometheus.AlreadyRegisteredError
		if err := r.Register(c); err != nil && (!errors.As(err, &already) || already.ExistingCollector != c) {
			return err
		}
	}
	return nil
}

// withMetrics serves GET /metrics from g, and everything else with h.
func withMetrics(h http.Handler, g prometheus.Gatherer) http.Handler {
	metrics := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
