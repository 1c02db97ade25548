package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Sink delivers batches of audit records.
type Sink interface {
	// Name labels the sink's metrics and log lines (stdout, file, http).
	Name() string
	// Write delivers a batch of JSON lines, each ending in a newline, in order. A
	// PermanentError drops the batch; any other error retries the same batch.
	Write(ctx context.Context, batch []byte) error
	// Close releases the sink.
	Close() error
}

// PermanentError marks a batch the sink will never accept, so retrying is useless.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// WriterSink writes JSON lines to a writer: standard output or an append-only file.
type WriterSink struct {
	name string
	w    io.Writer
	c    io.Closer
}

// NewStdoutSink writes records to standard output.
func NewStdoutSink() *WriterSink { return &WriterSink{name: "stdout", w: os.Stdout} }

// NewFileSink appends records to path, creating it (mode 0600) and its directory.
func NewFileSink(path string) (*WriterSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit file sink: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit file sink: %w", err)
	}
	return &WriterSink{name: "file", w: f, c: f}, nil
}

// Name implements Sink.
func (s *WriterSink) Name() string { return s.name }

// Write implements Sink with one write call per batch, so concurrent appenders
// of the same file do not interleave lines.
func (s *WriterSink) Write(_ context.Context, batch []byte) error {
	_, err := s.w.Write(batch)
	return err
}

// Close implements Sink.
func (s *WriterSink) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// HTTPSink POSTs each batch as JSON lines (application/x-ndjson) to an endpoint.
// 2xx is success; 408, 429 and 5xx (and transport errors) are retried; any other
// status rejects the batch.
type HTTPSink struct {
	url    string
	token  string
	client *http.Client
}

// NewHTTPSink builds an HTTP sink. timeout bounds each POST; token, when set, is
// sent as a bearer token.
func NewHTTPSink(endpoint, token string, timeout time.Duration) (*HTTPSink, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("audit http sink: url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit http sink: url %q must be an absolute http or https URL", u.Redacted())
	}
	return &HTTPSink{url: endpoint, token: token, client: &http.Client{Timeout: timeout}}, nil
}

// Name implements Sink.
func (s *HTTPSink) Name() string { return "http" }

// Write implements Sink.
func (s *HTTPSink) Write(ctx context.Context, batch []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(batch))
	if err != nil {
		return &PermanentError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The client's error names the URL; strip credentials it may hold.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return fmt.Errorf("POST %s: %w", redact(s.url), uerr.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("POST %s: %s", redact(s.url), resp.Status)
	default:
		return &PermanentError{Err: fmt.Errorf("POST %s: %s", redact(s.url), resp.Status)}
	}
}

// Close implements Sink.
func (s *HTTPSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	return u.Redacted()
}
