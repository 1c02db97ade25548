package audit

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Reasons a record is dropped, the reason label of the dropped counter.
const (
	// DropQueueFull: the sink's bounded queue was full (the sink is slow or down).
	DropQueueFull = "queue_full"
	// DropRejected: the sink refused the batch permanently (e.g. HTTP 400).
	DropRejected = "rejected"
	// DropShutdown: the operator stopped before the sink took the record.
	DropShutdown = "shutdown"
	// DropEncoding: the record could not be encoded as JSON.
	DropEncoding = "encoding"
)

var (
	recordsDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_audit_records_delivered_total",
		Help: "Audit records a sink accepted.",
	}, []string{"sink"})
	recordsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_audit_records_dropped_total",
		Help: "Audit records that could not be delivered to a sink, by reason (queue_full, rejected, shutdown, encoding).",
	}, []string{"sink", "reason"})
	deliveryFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantward_audit_delivery_failures_total",
		Help: "Failed attempts to deliver a batch of audit records to a sink; the batch is retried with backoff.",
	}, []string{"sink"})
)

func init() {
	metrics.Registry.MustRegister(recordsDelivered, recordsDropped, deliveryFailures)
}
