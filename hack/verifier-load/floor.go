package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// initialEventsEnd is in the bookmark that closes a watch-list's initial events.
var initialEventsEnd = []byte(`"k8s.io/initial-events-end":"true"`)

// apiServerAlone is the start-up's baseline, measured in the same run: the
// time a client that reads the API server's answer and discards it takes to
// receive every APIKey the way the verifier's loader asks for them
// (internal/verifier/keywatch.go: one list, unpaged and uncompressed) or, with
// watchList, the way it asks after a list failed (a watch-list, until the
// bookmark that ends its initial events), with the verifier's identity. No
// verifier can be loaded sooner; the verifier's start over it is its own cost.
func apiServerAlone(kubeconfig string, watchList bool) (time.Duration, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, err
	}
	cfg.AcceptContentTypes, cfg.ContentType = "application/json", "application/json"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	cfg.DisableCompression = true
	c, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	req := c.Get().AbsPath("/apis", accessv1alpha1.GroupVersion.Group, accessv1alpha1.GroupVersion.Version, "apikeys")
	if watchList {
		req = req.Param("watch", "true").Param("allowWatchBookmarks", "true").Param("timeoutSeconds", "300").
			Param("sendInitialEvents", "true").Param("resourceVersionMatch", "NotOlderThan")
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = body.Close() }()
	if !watchList {
		_, err := io.Copy(io.Discard, body)
		return time.Since(start), err
	}
	r := bufio.NewReaderSize(body, 64<<10)
	for {
		// One event per line; the objects are not decoded.
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return 0, errors.New("the watch-list ended before its initial events did")
		case err != nil:
			return 0, fmt.Errorf("reading the watch-list: %w", err)
		case bytes.Contains(line, initialEventsEnd):
			return time.Since(start), nil
		}
	}
}
