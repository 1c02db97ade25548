package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// keyLoader fills the index with the cluster's APIKeys and keeps it in step:
// a list and watch of its own, decoding each object once, straight into the
// index's records (decode.go), rather than a reflector of typed objects.
//
// A load reads every APIKey into a fresh index and swaps it in whole once
// the read is complete and consistent, so the index never serves a partial
// or stale state. It is one list at the latest resource version, unpaged and
// decoded as it streams in: of the API server's ways to hand over every
// object that costs it least (a watch-list copies each object once more on
// its way out, and the pages of a paged list are read from etcd) — what
// hack/verifier-load's "API server alone" lines measure. A list is one
// request, bounded by the API server's request timeout (60 s by default);
// when it fails, the next load is a watch-list (a watch that starts with the
// current state and marks its end with a bookmark, streaming for as long as
// it takes), and when that fails, a list again. Watch events then go
// straight to the index. An ERROR event (the resource version is too old)
// starts a new load; the index keeps serving the previous state meanwhile,
// as a reflector's store would.
type keyLoader struct {
	c   rest.Interface
	ix  *Index
	log logr.Logger
	// streamed: the next load is a watch-list rather than a list.
	streamed bool
	once     sync.Once
	synced   chan struct{}
}

// Sizes of the loader's requests.
const (
	// minWatchTimeout is the shortest watch; each asks for 1 to 2 times it,
	// so that the verifiers of a cluster do not all re-watch at once.
	minWatchTimeout = 5 * time.Minute
)

// errRelist is an ERROR event: the watch cannot resume, the next step is a load.
var errRelist = errors.New("the watch ended with an error event")

func newKeyLoader(cfg *rest.Config, ix *Index, log logr.Logger) (*keyLoader, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 0 // watches are long; each request carries its own timeout
	// Uncompressed: gzip would cost the API server and the verifier CPU at
	// every start for bytes that travel inside the cluster.
	cfg.DisableCompression = true
	c, err := newAPIClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("verifier client: %w", err)
	}
	return &keyLoader{c: c, ix: ix, log: log, synced: make(chan struct{})}, nil
}

// run loads and watches until ctx ends, backing off after failures.
func (l *keyLoader) run(ctx context.Context) {
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.5, Steps: 10, Cap: 30 * time.Second}
	pause := func(err error, what string) {
		if ctx.Err() != nil {
			return // stopping: the failure is the cancelled request
		}
		l.log.Error(err, what)
		select {
		case <-ctx.Done():
		case <-time.After(backoff.Step()):
		}
	}
	for ctx.Err() == nil {
		rv, err := l.load(ctx)
		if err != nil {
			pause(err, "loading APIKeys")
			continue
		}
		for ctx.Err() == nil {
			rv, err = l.watch(ctx, rv, nil)
			if errors.Is(err, errRelist) {
				l.log.Info("watch of APIKeys ended; loading them again", "reason", err.Error())
				break
			}
			if err != nil {
				pause(err, "watching APIKeys")
				continue
			}
			backoff.Duration = 100 * time.Millisecond
		}
	}
}

// load fills a fresh index and swaps it in, returning the resource version
// to watch from. A load that fails makes the next one read the other way.
func (l *keyLoader) load(ctx context.Context) (string, error) {
	fresh := NewIndex()
	var rv string
	var err error
	if l.streamed {
		rv, err = l.watch(ctx, "", fresh) // swaps fresh in at its bookmark
	} else if rv, err = l.list(ctx, fresh); err == nil {
		l.swap(fresh)
	}
	if err != nil && ctx.Err() == nil {
		l.streamed = !l.streamed
	}
	return rv, err
}

// swap makes fresh the index's keys and marks the index loaded.
func (l *keyLoader) swap(fresh *Index) {
	l.ix.ReplaceKeys(fresh)
	keysGauge.Set(float64(l.ix.Len()))
	l.once.Do(func() { close(l.synced) })
}

func (l *keyLoader) request() *rest.Request {
	return l.c.Get().Resource("apikeys")
}

// list reads every APIKey into fresh with one list at the latest resource
// version (a consistent read: never a cache that may lag behind a
// revocation), decoding the items as they stream in.
func (l *keyLoader) list(ctx context.Context, fresh *Index) (string, error) {
	body, err := l.request().Stream(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = body.Close() }()
	rv, cont, err := newJSONReader(body).list(func(k *Key) error {
		fresh.SetKey(k)
		return nil
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("decoding the list of APIKeys: %w", err)
	case cont != "":
		return "", errors.New("the API server answered the list of APIKeys with a first page only")
	}
	return rv, nil
}

// watch applies the events of one watch from resource version rv and
// returns the last resource version seen when it ends. With fresh, it is a
// watch-list: its initial events go to fresh, which is swapped in at their
// closing bookmark; one that ends before is an error.
func (l *keyLoader) watch(ctx context.Context, rv string, fresh *Index) (string, error) {
	timeout := minWatchTimeout + rand.N(minWatchTimeout) //nolint:gosec // spreading watches, not a secret
	req := l.request().Param("watch", "true").Param("allowWatchBookmarks", "true").
		Param("timeoutSeconds", strconv.Itoa(int(timeout.Seconds())))
	if fresh != nil {
		// A consistent read of the current state, streamed.
		req = req.Param("sendInitialEvents", "true").Param("resourceVersionMatch", "NotOlderThan")
	} else {
		req = req.Param("resourceVersion", rv)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return rv, err
	}
	defer func() { _ = body.Close() }()
	d := newJSONReader(body)
	target := l.ix
	if fresh != nil {
		target = fresh
	}
	var ev event
	for !d.end() {
		if err := d.event(&ev); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() != nil {
				err = ctx.Err()
			}
			return rv, fmt.Errorf("decoding a watch event of APIKeys: %w", err)
		}
		switch ev.typ {
		case eventError:
			return rv, fmt.Errorf("%w: %d %s: %s", errRelist, ev.status.code, ev.status.reason, ev.status.message)
		case eventAdded, eventModified:
			target.SetKey(&ev.key)
		case eventDeleted:
			target.Delete(ev.key.Namespace, ev.key.Name)
		case eventBookmark:
			if ev.meta.initialEventsEnd && target == fresh {
				l.swap(fresh)
				target, fresh = l.ix, nil
			}
		}
		if ev.meta.resourceVersion != "" {
			rv = ev.meta.resourceVersion
		}
		if fresh == nil && ev.typ != eventBookmark {
			keysGauge.Set(float64(l.ix.Len()))
		}
	}
	if fresh != nil {
		return rv, errors.New("the watch-list of APIKeys ended before its initial events did")
	}
	return rv, nil
}
