package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

// statusWrites counts the verifiers' PATCHes of apikeys/status: every
// attempt, and the successful ones by key and by the lastUsedAt they set.
type statusWrites struct {
	mu       sync.Mutex
	attempts int
	refused  map[int]int               // status code of the refused PATCHes -> count
	written  map[string]map[string]int // namespace/name -> lastUsedAt -> writes
}

func (w *statusWrites) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, "/status") {
			return rt.RoundTrip(req)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := rt.RoundTrip(req)
		var ops []struct{ Op, Value string }
		_ = json.Unmarshal(body, &ops)
		parts := strings.Split(req.URL.Path, "/") // .../namespaces/<ns>/apikeys/<name>/status
		key := parts[len(parts)-4] + "/" + parts[len(parts)-2]
		w.mu.Lock()
		defer w.mu.Unlock()
		w.attempts++
		if err == nil && resp.StatusCode != http.StatusOK {
			w.refused[resp.StatusCode]++
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			for _, op := range ops {
				if op.Op == "add" {
					if w.written[key] == nil {
						w.written[key] = map[string]int{}
					}
					w.written[key][op.Value]++
				}
			}
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLastUsedTwoReplicas: two verifiers, both as the verifier's service
// account under its installed role, answer a sustained load on the same keys
// through several periods of 2 seconds. Every key's status.lastUsedAt
// appears, at the start of a period, and moves on with the periods; of all
// the status PATCHes the two send, at most one per key and period succeeds;
// `kubectl get apikeys` shows it as LAST-USED.
func TestLastUsedTwoReplicas(t *testing.T) {
	env := controlPlane(t)
	ctx := context.Background()
	ids, err := env.InstallRBAC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const period = 2 * time.Second
	var plains []string
	var keys []*accessv1alpha1.APIKey
	for range 3 {
		p, k := issueKey(t, accessv1alpha1.APIKeyPermissions{Completions: "Enabled"})
		plains, keys = append(plains, p), append(keys, k)
	}
	writes := &statusWrites{written: map[string]map[string]int{}, refused: map[int]int{}}
	var bases []string
	for range 2 {
		cfg := rest.CopyConfig(ids.Verifier.Config()) // Config() is shared: wrap a copy
		cfg.Wrap(writes.wrap)
		v := runVerifier(t, cfg, verifier.Options{HTTPAddr: "127.0.0.1:0",
			Usage: verifier.UsageOptions{Period: period, WriterQPS: 100, QueueSize: 100}})
		bases = append(bases, "http://"+v.HTTPAddr())
	}

	stop := make(chan struct{})
	var load sync.WaitGroup
	var requests sync.Map // worker -> count
	for w := range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			n := 0
			for ; ; n++ {
				select {
				case <-stop:
					requests.Store(w, n)
					return
				default:
				}
				if got := postVerify(t, bases[n%2], plains[n%len(plains)]); got != "VALID" {
					t.Errorf("a valid key answered %s", got)
					requests.Store(w, n)
					return
				}
			}
		}()
	}
	seen := map[string]map[time.Time]bool{}
	testenv.Eventually(t, ctx, "every key's lastUsedAt moves through 3 periods", func() error {
		for _, k := range keys {
			got := &accessv1alpha1.APIKey{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(k), got); err != nil {
				return err
			}
			at := got.Status.LastUsedAt
			if at == nil {
				return fmt.Errorf("%s/%s has no lastUsedAt", k.Namespace, k.Name)
			}
			if at.Truncate(period) != at.Time {
				t.Fatalf("lastUsedAt %s is not the start of a %s period", at.UTC(), period)
			}
			if seen[k.Namespace] == nil {
				seen[k.Namespace] = map[time.Time]bool{}
			}
			seen[k.Namespace][at.Time] = true
			if len(seen[k.Namespace]) < 3 {
				return fmt.Errorf("%s/%s showed %d lastUsedAt values", k.Namespace, k.Name, len(seen[k.Namespace]))
			}
		}
		return nil
	})
	close(stop)
	load.Wait()
	total := 0
	requests.Range(func(_, n any) bool { total += n.(int); return true })

	writes.mu.Lock()
	defer writes.mu.Unlock()
	successful, periods := 0, 0
	for key, byPeriod := range writes.written {
		for at, n := range byPeriod {
			periods++
			successful += n
			if n > 1 {
				t.Errorf("%s: %d status writes set lastUsedAt %s; at most one per key and period", key, n, at)
			}
		}
	}
	t.Logf("%d verifications on 2 replicas; %d status PATCHes sent, %d written (%d key-periods), refused by code %v, for %d keys",
		total, writes.attempts, successful, periods, writes.refused, len(keys))

	kubeconfig, err := env.WriteKubeconfig(t.TempDir(), "kubectl-get")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(env.BinaryAssetsDirectory, "kubectl"), "--kubeconfig", kubeconfig, //nolint:gosec // the control plane's own kubectl
		"get", "apikeys", "-n", keys[0].Namespace).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LAST-USED") {
		t.Fatalf("kubectl get apikeys shows no LAST-USED column: %v\n%s", err, out)
	}
}

// staleKeysFilter is the jq program of docs/apikeys.md that lists the keys
// unused since $cutoff (never used ones by their creation).
const staleKeysFilter = `.items[] | select((.status.lastUsedAt // .metadata.creationTimestamp) < $cutoff) | "\(.metadata.namespace)/\(.metadata.name)"`

// TestStaleKeysLine runs the documented jq line on a list of keys: used
// recently, used long ago, never used and old, never used and new.
func TestStaleKeysLine(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "apikeys.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), staleKeysFilter) {
		t.Fatal("docs/apikeys.md does not show the jq program this test runs")
	}
	jq, err := exec.LookPath("jq")
	testenv.RequireRealPart(t, "jq", err)
	list := `{"items": [
  {"metadata": {"namespace": "acme", "name": "recent", "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"lastUsedAt": "2026-11-30T10:00:00Z"}},
  {"metadata": {"namespace": "acme", "name": "old", "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"lastUsedAt": "2026-10-01T10:00:00Z"}},
  {"metadata": {"namespace": "acme", "name": "never", "creationTimestamp": "2026-09-01T00:00:00Z"}, "status": {}},
  {"metadata": {"namespace": "acme", "name": "new", "creationTimestamp": "2026-11-29T00:00:00Z"}, "status": {}}]}`
	cmd := exec.Command(jq, "-r", "--arg", "cutoff", "2026-11-01T00:00:00Z", staleKeysFilter) //nolint:gosec // the test's own program
	cmd.Stdin = strings.NewReader(list)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jq: %v\n%s", err, out)
	}
	if got, want := string(out), "acme/old\nacme/never\n"; got != want {
		t.Errorf("stale keys %q, want %q", got, want)
	}
}
