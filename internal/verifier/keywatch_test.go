package verifier

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/tenantward/tenantward/internal/apikey"
)

// fakeAPIServer answers the loader's requests from a script: each request is
// handed to the next step, which writes the answer.
type fakeAPIServer struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	seen  []string
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.URL.RawQuery)
	var step func(http.ResponseWriter, *http.Request)
	if len(f.steps) > 0 {
		step, f.steps = f.steps[0], f.steps[1:]
	}
	f.mu.Unlock()
	if step == nil {
		<-r.Context().Done() // a watch with nothing to say
		return
	}
	step(w, r)
}

func keyEvent(typ, name, hash, rv string) string {
	return fmt.Sprintf(`{"type":%q,"object":{"metadata":{"name":%q,"namespace":"acme-research","resourceVersion":%q},"spec":{"permissions":{"completions":"Enabled"}},"status":{"hash":%q,"organization":"acme"}}}`+"\n", typ, name, rv, hash)
}

func bookmark(rv string, initialEnd bool) string {
	return fmt.Sprintf(`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":%q,"annotations":{"k8s.io/initial-events-end":"%t"}}}}`+"\n", rv, initialEnd)
}

func stream(events ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(strings.Join(events, "")))
	}
}

// runLoader runs a loader against f until the test ends and waits for its first load.
func runLoader(t *testing.T, f *fakeAPIServer) *Index {
	t.Helper()
	return runLoaderFile(t, f, "", nil)
}

// runLoaderFile is runLoader with an index file; before, given the loader,
// writes the file first.
func runLoaderFile(t *testing.T, f *fakeAPIServer, file string, before func(*keyLoader)) *Index {
	t.Helper()
	ix, _ := startLoader(t, f, file, logr.Discard(), before)
	return ix
}

// startLoader is runLoaderFile with a logger; it also returns a function
// that stops the loader and waits for it.
func startLoader(t *testing.T, f *fakeAPIServer, file string, log logr.Logger, before func(*keyLoader)) (*Index, func()) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	ix := NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	l, err := newKeyLoader(&rest.Config{Host: srv.URL}, ix, file, log)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); srv.CloseClientConnections(); <-done }) }
	t.Cleanup(stop)
	select {
	case <-l.synced:
	case <-time.After(30 * time.Second):
		t.Fatal("the loader did not load")
	}
	return ix, stop
}

func eventually(t *testing.T, ix *Index, key string, want Code) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return ix.Verify(key, nil, time.Now()).Code == want, nil
	})
	if err != nil {
		t.Fatalf("the key is %v, want %v", ix.Verify(key, nil, time.Now()).Code, want)
	}
}

func listOf(rv string, items ...string) func(http.ResponseWriter, *http.Request) {
	return stream(fmt.Sprintf(`{"kind":"APIKeyList","metadata":{"resourceVersion":%q},"items":[%s]}`, rv, strings.Join(items, ",")))
}

func item(name, hash string) string {
	return fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"acme-research"},"spec":{"permissions":{"completions":"Enabled"}},"status":{"hash":%q,"organization":"acme"}}`, name, hash)
}

// TestLoaderRelistsAfterAnErrorEvent: the first load is one list; a watch
// from its resource version carries the changes; when the watch ends it
// resumes from the last resource version; an ERROR event (the version is too
// old) makes a new load whose result replaces the index whole (a key deleted
// meanwhile is gone).
func TestLoaderRelistsAfterAnErrorEvent(t *testing.T) {
	a, _ := apikey.Generate(apikey.KindWorkspace)
	b, _ := apikey.Generate(apikey.KindWorkspace)
	c, _ := apikey.Generate(apikey.KindWorkspace)
	ha, hb, hc := apikey.Sum(a).String(), apikey.Sum(b).String(), apikey.Sum(c).String()
	release := make(chan struct{})
	f := &fakeAPIServer{steps: []func(http.ResponseWriter, *http.Request){
		listOf("10", item("a", ha)),
		stream(keyEvent("ADDED", "b", hb, "11")),
		func(w http.ResponseWriter, r *http.Request) {
			<-release
			stream(`{"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"too old"}}`+"\n")(w, r)
		},
		listOf("31", item("c", hc)),
	}}
	ix := runLoader(t, f)
	if got := ix.Verify(a, nil, time.Now()).Code; got != Valid {
		t.Fatalf("a after the first load: %v", got)
	}
	eventually(t, ix, b, Valid)
	close(release)
	eventually(t, ix, c, Valid)
	for _, k := range []string{a, b} {
		if got := ix.Verify(k, nil, time.Now()).Code; got != NotFound {
			t.Errorf("a key absent from the new load: %v", got)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) < 4 || strings.Contains(f.seen[0], "watch") || strings.Contains(f.seen[0], "limit") ||
		!strings.Contains(f.seen[1], "resourceVersion=10") || !strings.Contains(f.seen[1], "watch=true") ||
		!strings.Contains(f.seen[2], "resourceVersion=11") || strings.Contains(f.seen[3], "watch") {
		t.Fatalf("requests: %q", f.seen)
	}
}

// TestLoaderFallsBackToWatchList: when the list fails (the API server's
// request timeout cut a large one, or it ended early) the next load is a
// watch-list, and when that fails too (a stream that ends before its
// bookmark never marks the index loaded), a list again.
func TestLoaderFallsBackToWatchList(t *testing.T) {
	a, _ := apikey.Generate(apikey.KindWorkspace)
	b, _ := apikey.Generate(apikey.KindWorkspace)
	ha, hb := apikey.Sum(a).String(), apikey.Sum(b).String()
	timedOut := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Timeout","code":504,"message":"the request did not complete within the allotted timeout"}`))
	}
	cut := stream(`{"metadata":{"resourceVersion":"40"},"items":[` + item("a", ha) + `,`)
	watchList := stream(keyEvent("ADDED", "a", ha, "5"), keyEvent("ADDED", "b", hb, "6"), bookmark("40", true))
	for name, c := range map[string]struct {
		steps []func(http.ResponseWriter, *http.Request)
		want  []string // the requests' distinctive parameters, in order
	}{
		"list timed out":                 {[]func(http.ResponseWriter, *http.Request){timedOut, watchList}, []string{"", "sendInitialEvents=true"}},
		"list cut short":                 {[]func(http.ResponseWriter, *http.Request){cut, watchList}, []string{"", "sendInitialEvents=true"}},
		"then the watch-list ends early": {[]func(http.ResponseWriter, *http.Request){cut, stream(keyEvent("ADDED", "a", ha, "5")), listOf("40", item("a", ha), item("b", hb))}, []string{"", "sendInitialEvents=true", ""}},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeAPIServer{steps: c.steps}
			ix := runLoader(t, f)
			for _, k := range []string{a, b} {
				if got := ix.Verify(k, nil, time.Now()).Code; got != Valid {
					t.Fatalf("after the load: %v", got)
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.seen) < len(c.want) {
				t.Fatalf("requests: %q", f.seen)
			}
			for i, w := range c.want {
				if got := f.seen[i]; (w == "" && strings.Contains(got, "watch")) || !strings.Contains(got, w) {
					t.Fatalf("request %d: %q, want %q", i, got, w)
				}
			}
		})
	}
}

// eventuallySeen waits until f has had n requests.
func eventuallySeen(t *testing.T, f *fakeAPIServer, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.seen) >= n, nil
	})
	if err != nil {
		t.Fatalf("fewer than %d requests", n)
	}
}

// savedIndex writes an index file of keys a and b (hashes), as of resource
// version rv, for origin.
func savedIndex(t *testing.T, path, origin, rv string, hashes ...string) {
	t.Helper()
	ix := NewIndex()
	for i, h := range hashes {
		ix.SetKey(&Key{Namespace: "acme-research", Name: string(rune('a' + i)), Hash: h, Organization: "acme", Permissions: Permissions{FeatureCompletions: LevelEnabled}})
	}
	if err := writeIndexFile(path, ix, origin, rv); err != nil {
		t.Fatal(err)
	}
}

// TestLoaderResumesFromTheSavedIndex: with a saved index, the loader reads
// the current resource version (one consistent read of a single APIKey),
// replays the changes since the saved version with a short watch, and
// marks the index loaded only once an event or bookmark reaches the current
// version: a key deleted while it was down is gone from its first answer,
// and it never lists every APIKey. The index is not served while a request
// of the replay is still to come.
func TestLoaderResumesFromTheSavedIndex(t *testing.T) {
	a, _ := apikey.Generate(apikey.KindWorkspace)
	b, _ := apikey.Generate(apikey.KindWorkspace)
	c, _ := apikey.Generate(apikey.KindWorkspace)
	ha, hb, hc := apikey.Sum(a).String(), apikey.Sum(b).String(), apikey.Sum(c).String()
	for name, replay := range map[string][]func(http.ResponseWriter, *http.Request){
		// A bookmark at the current version ends the replay.
		"by a bookmark": {stream(keyEvent("DELETED", "b", hb, "12"), keyEvent("ADDED", "c", hc, "13"), bookmark("15", false))},
		// So does an event at or past it.
		"by an event": {stream(keyEvent("DELETED", "b", hb, "12"), keyEvent("ADDED", "c", hc, "16"))},
		// Nothing changed since it was saved: no replay (the API server
		// would send no bookmark at the version the watch starts from).
		"unchanged": {},
		// A watch that ends before is followed by another from where it ended.
		"in two watches": {stream(keyEvent("DELETED", "b", hb, "12")), stream(keyEvent("ADDED", "c", hc, "13"), bookmark("15", false))},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index")
			var synced chan struct{}
			// Each request comes before the index is served.
			notYet := func(step func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
				return func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-synced:
						t.Errorf("the index was served before the replay reached the current version (request %q)", r.URL.RawQuery)
					default:
					}
					step(w, r)
				}
			}
			current := "15"
			if len(replay) == 0 {
				current = "10"
			}
			f := &fakeAPIServer{steps: []func(http.ResponseWriter, *http.Request){notYet(listOf(current, item("a", ha)))}}
			for _, step := range replay {
				f.steps = append(f.steps, notYet(step))
			}
			ix := runLoaderFile(t, f, path, func(l *keyLoader) {
				synced = l.synced
				savedIndex(t, path, l.origin, "10", ha, hb)
			})
			want := map[string]Code{a: Valid, b: NotFound, c: Valid}
			if len(replay) == 0 {
				want = map[string]Code{a: Valid, b: Valid, c: NotFound}
			}
			for key, want := range want {
				if got := ix.Verify(key, nil, time.Now()).Code; got != want {
					t.Errorf("first answer %v, want %v", got, want)
				}
			}
			eventuallySeen(t, f, 2)
			f.mu.Lock()
			defer f.mu.Unlock()
			if !strings.Contains(f.seen[0], "limit=1") || strings.Contains(f.seen[0], "watch") ||
				!strings.Contains(f.seen[1], "resourceVersion=10") || strings.Contains(f.seen[1], "timeoutSeconds=3&") == (len(replay) == 0) || strings.Contains(f.seen[1], "sendInitialEvents") {
				t.Fatalf("requests: %q", f.seen)
			}
			if name == "in two watches" && !strings.Contains(f.seen[2], "resourceVersion=12") {
				t.Fatalf("the second watch: %q", f.seen[2])
			}
		})
	}
}

// TestLoaderSetsTheSavedIndexAside: a saved index the loader cannot trust
// to catch up is set aside for a full list, whose keys are then the index's
// — a key only the saved index holds is NOT_FOUND: one damaged, one of
// another API server, one newer than the API server's current version
// (another cluster, a restored etcd), one older than the API server's window
// of changes (an ERROR event), and one whose watches never reach the current
// version.
func TestLoaderSetsTheSavedIndexAside(t *testing.T) {
	a, _ := apikey.Generate(apikey.KindWorkspace)
	b, _ := apikey.Generate(apikey.KindWorkspace)
	ha, hb := apikey.Sum(a).String(), apikey.Sum(b).String()
	current := listOf("15", item("a", ha))
	full := listOf("20", item("a", ha))
	behind := stream(bookmark("14", false))
	tooOld := stream(`{"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"too old resource version: 10 (12)"}}` + "\n")
	for name, c := range map[string]struct {
		save  func(path, origin string)
		steps []func(http.ResponseWriter, *http.Request)
	}{
		"damaged": {func(path, origin string) {
			savedIndex(t, path, origin, "10", ha, hb)
			raw, _ := os.ReadFile(path)
			raw[len(raw)/2] ^= 1
			_ = os.WriteFile(path, raw, 0o600)
		}, []func(http.ResponseWriter, *http.Request){full}},
		"another API server": {func(path, _ string) { savedIndex(t, path, "https://elsewhere", "10", ha, hb) }, []func(http.ResponseWriter, *http.Request){full}},
		"newer":              {func(path, origin string) { savedIndex(t, path, origin, "16", ha, hb) }, []func(http.ResponseWriter, *http.Request){current, full}},
		"too old":            {func(path, origin string) { savedIndex(t, path, origin, "10", ha, hb) }, []func(http.ResponseWriter, *http.Request){current, tooOld, full}},
		"never caught up":    {func(path, origin string) { savedIndex(t, path, origin, "10", ha, hb) }, []func(http.ResponseWriter, *http.Request){current, behind, behind, behind, full}},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index")
			f := &fakeAPIServer{steps: c.steps}
			ix := runLoaderFile(t, f, path, func(l *keyLoader) { c.save(path, l.origin) })
			if got := ix.Verify(a, nil, time.Now()).Code; got != Valid {
				t.Errorf("a key of the list: %v", got)
			}
			if got := ix.Verify(b, nil, time.Now()).Code; got != NotFound {
				t.Errorf("a key only the saved index holds: %v", got)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if n := len(c.steps); len(f.seen) < n || strings.Contains(f.seen[n-1], "watch") || strings.Contains(f.seen[n-1], "limit") {
				t.Fatalf("requests: %q, want the last of the first %d a list", f.seen, n)
			}
		})
	}
}

// TestLoaderSavesTheIndex: the loader saves its index after its first load,
// after changes (here at once: no minimum time between saves), and when it
// stops, each time as of the last resource version it applied; a save that
// fails is logged with its reason and the index goes on serving.
func TestLoaderSavesTheIndex(t *testing.T) {
	a, _ := apikey.Generate(apikey.KindWorkspace)
	b, _ := apikey.Generate(apikey.KindWorkspace)
	ha, hb := apikey.Sum(a).String(), apikey.Sum(b).String()
	release := make(chan struct{})
	f := &fakeAPIServer{steps: []func(http.ResponseWriter, *http.Request){
		listOf("10", item("a", ha)),
		func(w http.ResponseWriter, r *http.Request) {
			<-release
			stream(keyEvent("ADDED", "b", hb, "11"), bookmark("12", false))(w, r)
		},
	}}
	path := filepath.Join(t.TempDir(), "index")
	var origin string
	ix, stop := startLoader(t, f, path, logr.Discard(), func(l *keyLoader) { l.every, origin = 0, l.origin })
	saved := func(rv string, want map[string]Code) {
		t.Helper()
		err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			_, at, err := readIndexFile(path, origin)
			return err == nil && at == rv, nil
		})
		got, at, rerr := readIndexFile(path, origin)
		if err != nil {
			t.Fatalf("the saved index: %v, as of %q; want it as of %s", rerr, at, rv)
		}
		got.SetOrganization("acme", "acme-uid")
		for key, code := range want {
			if c := got.Verify(key, nil, time.Now()).Code; c != code {
				t.Errorf("saved as of %s: %v, want %v", rv, c, code)
			}
		}
	}
	saved("10", map[string]Code{a: Valid, b: NotFound})
	close(release)
	saved("11", map[string]Code{a: Valid, b: Valid})
	// The bookmark changes no key: saved only at the stop.
	stop()
	saved("12", map[string]Code{a: Valid, b: Valid})
	if got := ix.Verify(b, nil, time.Now()).Code; got != Valid {
		t.Fatalf("b: %v", got)
	}

	// A file that cannot be written: logged, and the loader serves on.
	var logs strings.Builder
	var mu sync.Mutex
	log := funcr.New(func(prefix, args string) { mu.Lock(); defer mu.Unlock(); logs.WriteString(args + "\n") }, funcr.Options{})
	f = &fakeAPIServer{steps: []func(http.ResponseWriter, *http.Request){listOf("10", item("a", ha))}}
	ix, stop = startLoader(t, f, filepath.Join(t.TempDir(), "missing", "index"), log, nil)
	stop()
	if got := ix.Verify(a, nil, time.Now()).Code; got != Valid {
		t.Fatalf("a: %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "saving the index") || !strings.Contains(logs.String(), "no such file or directory") {
		t.Fatalf("log: %s", logs.String())
	}
}
