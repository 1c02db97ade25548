package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/resourceversion"
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
//
// With a file, the loader saves the index there (snapshot.go) after its
// first load, at most once a minute while keys change, and when it stops;
// at start it resumes from the saved index instead of loading: it reads the
// API server's current resource version of the APIKeys (a consistent read
// of one), replays the changes since the saved version with a watch from
// it, and serves once it has applied every change up to that current
// version — known from an event or a bookmark at or past it, since a watch
// delivers in order. What changed while the verifier was down is thus
// refused from its first answer, as after a load. A saved index that cannot
// be resumed (damaged, of another API server, newer than the API server, or
// older than the API server's window of changes) is set aside for a load.
type keyLoader struct {
	c   rest.Interface
	ix  *Index
	log logr.Logger
	// streamed: the next load is a watch-list rather than a list.
	streamed bool
	// rv is the resource version the index's keys are as of.
	rv string
	// file is where the index is saved ("" for nowhere), origin the API
	// server it is of (originOf), savedRV the version last saved, saved
	// when, and changed whether keys changed since.
	file, origin, savedRV string
	saved                 time.Time
	changed               bool
	// every is the shortest time between two saves of a changing index.
	every  time.Duration
	once   sync.Once
	synced chan struct{}
}

// Sizes of the loader's requests.
const (
	// minWatchTimeout is the shortest watch; each asks for 1 to 2 times it,
	// so that the verifiers of a cluster do not all re-watch at once.
	minWatchTimeout = 5 * time.Minute
	// resumeWatchTimeout is the timeout of a watch resuming a saved index:
	// the API server sends a watch a bookmark two seconds before its end
	// (and none to one shorter than three), so that it ends its replay with
	// a bookmark of where the API server is within about a second.
	resumeWatchTimeout = 3 * time.Second
	// resumeAttempts bounds the watches a resume takes to catch up.
	resumeAttempts = 3
	// saveEvery is the shortest time between two saves of a changing index.
	saveEvery = time.Minute
)

// errRelist is an ERROR event: the watch cannot resume, the next step is a load.
var errRelist = errors.New("the watch ended with an error event")

// errBehind: a resuming watch ended before it reached the version it resumes to.
var errBehind = errors.New("the watch ended before it reached the API server's current version")

func newKeyLoader(cfg *rest.Config, ix *Index, file string, log logr.Logger) (*keyLoader, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 0 // watches are long; each request carries its own timeout
	// Uncompressed: gzip would cost the API server and the verifier CPU at
	// every start for bytes that travel inside the cluster.
	cfg.DisableCompression = true
	c, err := newAPIClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("verifier client: %w", err)
	}
	return &keyLoader{c: c, ix: ix, log: log, file: file, origin: originOf(cfg), every: saveEvery, synced: make(chan struct{})}, nil
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
	resumed := l.resume(ctx)
	for ctx.Err() == nil {
		if !resumed {
			if err := l.load(ctx); err != nil {
				pause(err, "loading APIKeys")
				continue
			}
		}
		resumed = false
		for ctx.Err() == nil {
			l.save(false)
			_, err := l.watch(ctx, l.rv, nil, "")
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
	l.save(true)
}

// resume swaps in the saved index once it has caught up with the API
// server (see keyLoader); false when there is none it can use.
func (l *keyLoader) resume(ctx context.Context) bool {
	if l.file == "" {
		return false
	}
	refuse := func(err error) bool {
		if ctx.Err() == nil {
			l.log.Info("not resuming from the saved index; loading every APIKey", "file", l.file, "reason", err.Error())
			savedIndexEvents.WithLabelValues("refused").Inc()
		}
		return false
	}
	fresh, from, err := readIndexFile(l.file, l.origin)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return refuse(err)
	}
	to, err := l.latest(ctx)
	if err != nil {
		return refuse(fmt.Errorf("reading the current resource version: %w", err))
	}
	c, err := resourceversion.CompareResourceVersion(from, to)
	switch {
	case err != nil || c > 0:
		return refuse(fmt.Errorf("it is as of resource version %q, the API server is at %q", from, to))
	case c == 0:
		// Nothing has changed since; nothing to replay (and the API server
		// sends no bookmark at the version a watch starts from).
		l.resumed(fresh, from)
		return true
	}
	rv := from
	for range resumeAttempts {
		if rv, err = l.watch(ctx, rv, fresh, to); !errors.Is(err, errBehind) {
			break
		}
	}
	if l.rv == "" { // not swapped in
		return refuse(err)
	}
	// Swapped in; whatever ended the watch since, the watches that follow
	// start from where it was.
	return true
}

// resumed swaps in fresh, the saved index caught up to resource version rv.
func (l *keyLoader) resumed(fresh *Index, rv string) {
	l.swap(fresh, rv)
	savedIndexEvents.WithLabelValues("resumed").Inc()
	l.log.Info("resumed from the saved index", "file", l.file, "resourceVersion", rv, "keys", l.ix.Len())
}

// latest returns the API server's current resource version of the APIKeys,
// from a consistent read of one.
func (l *keyLoader) latest(ctx context.Context) (string, error) {
	body, err := l.request().Param("limit", "1").Stream(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = body.Close() }()
	rv, _, err := newJSONReader(body).list(func(*Key) error { return nil })
	if err == nil && rv == "" {
		err = errors.New("the list has no resource version")
	}
	return rv, err
}

// save writes the index to the loader's file: when forced (at stop) if its
// version is not the one saved, otherwise when keys changed and the last
// save is older than l.every. A failure is logged and counted; the
// verifier goes on without.
func (l *keyLoader) save(force bool) {
	if l.file == "" || l.rv == "" || l.rv == l.savedRV || !force && (!l.changed || time.Since(l.saved) < l.every) {
		return
	}
	l.saved = time.Now()
	if err := writeIndexFile(l.file, l.ix, l.origin, l.rv); err != nil {
		l.log.Error(err, "saving the index", "file", l.file)
		savedIndexEvents.WithLabelValues("save_failed").Inc()
		return
	}
	savedIndexEvents.WithLabelValues("saved").Inc()
	l.savedRV, l.changed = l.rv, false
}

// load fills a fresh index and swaps it in. A load that fails makes the
// next one read the other way.
func (l *keyLoader) load(ctx context.Context) error {
	fresh := NewIndex()
	var err error
	if l.streamed {
		_, err = l.watch(ctx, "", fresh, "") // swaps fresh in at its bookmark
	} else {
		var rv string
		if rv, err = l.list(ctx, fresh); err == nil {
			l.swap(fresh, rv)
		}
	}
	if err != nil && ctx.Err() == nil {
		l.streamed = !l.streamed
	}
	return err
}

// swap makes fresh, as of resource version rv, the index's keys and marks
// the index loaded.
func (l *keyLoader) swap(fresh *Index, rv string) {
	l.ix.ReplaceKeys(fresh)
	l.rv, l.changed = rv, true
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
// returns the last resource version seen when it ends. With fresh, the
// events go to fresh until it is swapped in: for a watch-list (until is
// empty) at the bookmark closing its initial events, for a resume once an
// event or bookmark is at or past resource version until; one that ends
// before is an error (errBehind for a resume).
func (l *keyLoader) watch(ctx context.Context, rv string, fresh *Index, until string) (string, error) {
	timeout := minWatchTimeout + rand.N(minWatchTimeout) //nolint:gosec // spreading watches, not a secret
	if until != "" {
		timeout = resumeWatchTimeout
	}
	req := l.request().Param("watch", "true").Param("allowWatchBookmarks", "true").
		Param("timeoutSeconds", strconv.Itoa(int(timeout.Seconds())))
	if fresh != nil && until == "" {
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
		}
		if ev.meta.resourceVersion != "" {
			rv = ev.meta.resourceVersion
		}
		switch {
		case fresh == nil:
			l.rv = rv
			if ev.typ != eventBookmark {
				l.changed = true
				keysGauge.Set(float64(l.ix.Len()))
			}
			l.save(false)
		case until == "" && ev.typ == eventBookmark && ev.meta.initialEventsEnd:
			l.swap(fresh, rv)
			target, fresh = l.ix, nil
		case until != "" && reached(rv, until):
			l.resumed(fresh, rv)
			target, fresh = l.ix, nil
		}
	}
	switch {
	case fresh != nil && until != "":
		return rv, errBehind
	case fresh != nil:
		return rv, errors.New("the watch-list of APIKeys ended before its initial events did")
	}
	return rv, nil
}

// reached reports whether resource version rv is at or past until.
func reached(rv, until string) bool {
	c, err := resourceversion.CompareResourceVersion(rv, until)
	return err == nil && c >= 0
}
