package audit

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Config configures the audit sinks. The zero value writes to standard output.
type Config struct {
	// Stdout writes records to standard output as JSON lines (default true when no
	// other sink is configured).
	Stdout *bool `json:"stdout,omitempty"`
	// File appends records as JSON lines to this path.
	File string `json:"file,omitempty"`
	// HTTP posts records as JSON lines to an endpoint, in batches, with retries.
	HTTP *HTTPConfig `json:"http,omitempty"`
	// QueueSize is how many records each sink buffers while it is slow or down;
	// beyond it records are dropped and counted. Default 10000.
	QueueSize int `json:"queueSize,omitempty"`
}

// HTTPConfig configures the HTTP sink.
type HTTPConfig struct {
	// URL is the http or https endpoint that receives POSTs of JSON lines.
	URL string `json:"url"`
	// BearerTokenFile, when set, holds a token sent as `Authorization: Bearer`.
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	// BatchSize is the most records in one POST. Default 100.
	BatchSize int `json:"batchSize,omitempty"`
	// Timeout bounds each POST. Default 5s.
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// MaxBackoff bounds the wait between retries of a failed POST. Default 30s.
	MaxBackoff metav1.Duration `json:"maxBackoff,omitempty"`
}

// Bounds of the configuration, so a typo cannot ask for gigabytes of buffer.
const (
	maxQueueSize       = 1_000_000
	maxBatchSize       = 10_000
	defaultHTTPTimeout = 5 * time.Second
)

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if c.QueueSize < 0 || c.QueueSize > maxQueueSize {
		errs = append(errs, fmt.Errorf("audit.queueSize: %d is not between 0 and %d", c.QueueSize, maxQueueSize))
	}
	if h := c.HTTP; h != nil {
		if h.URL == "" {
			errs = append(errs, errors.New("audit.http.url: required"))
		}
		if h.BatchSize < 0 || h.BatchSize > maxBatchSize {
			errs = append(errs, fmt.Errorf("audit.http.batchSize: %d is not between 0 and %d", h.BatchSize, maxBatchSize))
		}
		if h.Timeout.Duration < 0 {
			errs = append(errs, fmt.Errorf("audit.http.timeout: %s is negative", h.Timeout.Duration))
		}
		if h.MaxBackoff.Duration < 0 {
			errs = append(errs, fmt.Errorf("audit.http.maxBackoff: %s is negative", h.MaxBackoff.Duration))
		}
	}
	return errors.Join(errs...)
}

// New builds the Dispatcher the configuration describes and starts its workers.
func New(c Config, log logr.Logger) (*Dispatcher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	queue := DeliveryOptions{QueueSize: c.QueueSize}
	var targets []Target
	closeAll := func() {
		for _, t := range targets {
			_ = t.Sink.Close()
		}
	}
	if c.File != "" {
		s, err := NewFileSink(c.File)
		if err != nil {
			return nil, err
		}
		targets = append(targets, Target{Sink: s, Delivery: queue})
	}
	if h := c.HTTP; h != nil {
		s, err := newHTTPSinkFromConfig(h)
		if err != nil {
			closeAll()
			return nil, err
		}
		d := queue
		d.BatchSize, d.MaxBackoff = h.BatchSize, h.MaxBackoff.Duration
		targets = append(targets, Target{Sink: s, Delivery: d})
	}
	if c.Stdout != nil && *c.Stdout || c.Stdout == nil && len(targets) == 0 {
		targets = append(targets, Target{Sink: NewStdoutSink(), Delivery: queue})
	}
	return NewDispatcher(log, targets...), nil
}

func newHTTPSinkFromConfig(h *HTTPConfig) (*HTTPSink, error) {
	var token string
	if h.BearerTokenFile != "" {
		raw, err := os.ReadFile(h.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("audit.http.bearerTokenFile: %w", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	timeout := h.Timeout.Duration
	if timeout == 0 {
		timeout = defaultHTTPTimeout
	}
	return NewHTTPSink(h.URL, token, timeout)
}
