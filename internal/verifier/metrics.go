package verifier

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

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
	// results are the counters resolved once, so counting costs one atomic add.
	results [numEndpoints][numCodes]prometheus.Counter
)

func init() {
	metrics.Registry.MustRegister(resultsVec, keysGauge)
	for e, name := range [numEndpoints]string{"verify", "auth", "grpc"} {
		for c := range numCodes {
			results[e][c] = resultsVec.WithLabelValues(name, c.String())
		}
	}
}

func count(e endpoint, c Code) { results[e][c].Inc() }
