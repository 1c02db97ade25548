package manager

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tenantward/tenantward/internal/audit"
)

// keyLifecycle counts API-key lifecycle steps. Every step the operator takes
// (issue, rotate, expire, disable, enable, revoke, master key) is already an
// audit record, so counting the records as they are made gives the metric
// without a second call site in the controllers.
var keyLifecycle = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tenantward_apikey_lifecycle_total",
	Help: "API-key lifecycle steps the operator took, by step (issued, rotated, expired, disabled, enabled, revoked, master-issued).",
}, []string{"step"})

func init() { metrics.Registry.MustRegister(keyLifecycle) }

const keyActionPrefix = "apikey."

// countingKeyLifecycle passes every record on and counts the API-key steps.
type countingKeyLifecycle struct{ audit.Recorder }

// Record implements audit.Recorder.
func (c countingKeyLifecycle) Record(ctx context.Context, r audit.Record) {
	if step, ok := strings.CutPrefix(r.Action, keyActionPrefix); ok {
		keyLifecycle.WithLabelValues(step).Inc()
	}
	c.Recorder.Record(ctx, r)
}
