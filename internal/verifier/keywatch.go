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

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// keyLoader fills the index with the cluster's APIKeys and keeps it in step:
// a list and watch of its own, decoding each object once, straight into the
// index's records (decode.go), rather than a reflector of typed objects.
//
// A load streams every APIKey into a fresh index and swaps it in whole once
// the list is complete and consistent, so the index never serves a partial
// or stale list: first as a watch-list (a watch that starts with the
// current state, read from etcd, and marks its end with a bookmark), else,
// when the API server refuses that, as a paged list read at the latest
// resource version. Watch events then go straight to the index. An ERROR
// event (the resource version is too old) starts a new load; the index keeps
// serving the previous state meanwhile, as a reflector's store would.
type keyLoader struct {
	c   rest.Interface
	ix  *Index
	log logr.Logger
	// watchList tries a watch-list first; off, a load is always a paged list.
	watchList bool
	once      sync.Once
	synced    chan struct{}
}

// Sizes of the loader's requests.
const (
	// listPageSize is the page of the fallback list: pages are decoded as
	// they stream in and never held, so a page only bounds the API server's work.
	listPageSize = 10_000
	// minWatchTimeout is the shortest watch; each asks for 1 to 2 times it,
	// so that the verifiers of a cluster do not all re-watch at once.
	minWatchTimeout = 5 * time.Minute
)

// errRelist is an ERROR event: the watch cannot resume, the next step is a load.
var errRelist = errors.New("the watch ended with an error event")

func newKeyLoader(cfg *rest.Config, ix *Index, log logr.Logger) (*keyLoader, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 0 // watches are long; each request carries its own timeout
	cfg.AcceptContentTypes, cfg.ContentType = "application/json", "application/json"
	cfg.NegotiatedSerializer = apiCodecs.WithoutConversion()
	c, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("verifier client: %w", err)
	}
	return &keyLoader{c: c, ix: ix, log: log, watchList: true, synced: make(chan struct{})}, nil
}

// run loads and watches until ctx ends, backing off after failures.
func (l *keyLoader) run(ctx context.Context) {
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.5, Steps: 10, Cap: 30 * time.Second}
	pause := func(err error, what string) {
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
// to watch from.
func (l *keyLoader) load(ctx context.Context) (string, error) {
	fresh := NewIndex()
	if l.watchList {
		rv, err := l.watch(ctx, "", fresh)
		if err == nil || ctx.Err() != nil {
			return rv, err
		}
		// As a reflector does: a list when the watch-list fails (an API
		// server that does not serve them, or that failed this one).
		l.log.Info("the watch-list of APIKeys failed; listing them instead", "reason", err.Error())
		fresh = NewIndex()
	}
	rv, err := l.list(ctx, fresh)
	if err == nil {
		l.swap(fresh)
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
	return l.c.Get().AbsPath("/apis", accessv1alpha1.GroupVersion.Group, accessv1alpha1.GroupVersion.Version, "apikeys")
}

// list reads every APIKey into fresh, page by page, at the latest resource
// version (never the API server's cache, which may lag behind a revocation).
func (l *keyLoader) list(ctx context.Context, fresh *Index) (string, error) {
	var rv, cont string
	for {
		body, err := l.request().Param("limit", strconv.Itoa(listPageSize)).Param("continue", cont).Stream(ctx)
		if err != nil {
			return "", err
		}
		d := newJSONReader(body)
		rv, cont, err = d.list(func(k *Key) error {
			fresh.SetKey(k)
			return nil
		})
		_ = body.Close()
		if err != nil {
			return "", fmt.Errorf("decoding a list of APIKeys: %w", err)
		}
		if cont == "" {
			return rv, nil
		}
	}
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
