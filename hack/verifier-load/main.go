// Command verifier-load measures the key verifier on this machine and prints a
// table:
//
//   - HTTP throughput and p99 of POST /v1/verify and of the auth endpoint with
//     1,000, 20,000 and 100,000 keys in the index, each beside the same HTTP
//     server answering a constant 200 in the same run (wrk is the load
//     generator; apt-get install -y wrk), and the same for Envoy's gRPC
//     ext_authz Check beside a gRPC server answering a constant OK (an
//     in-process client). The ratios are the figures: with -rounds, the
//     median of the rounds' ratios, and for HTTP also the ratio of the CPU
//     time the server used per answer. Every key has a rate
//     limit (too high to be reached): "verify" and "auth" run without a
//     limiter, "auth+limit" with the in-memory one, and with -redis
//     host:port "auth+redis" with the Redis store.
//   - On a real kube-apiserver and etcd: the time from starting
//     tenantward-verifier (cmd/tenantward-verifier, the binary the chart's
//     verifier Deployment runs, as its own process with list/watch on apikeys
//     and organizations only) holding -cp-keys APIKeys to its first VALID
//     answer, beside the time a client that discards what it reads takes to
//     receive every APIKey from the API server (floor.go); its RSS idle,
//     after a sustained load, and at its peak (VmHWM, the start-up
//     included); the time from deleting an APIKey to the verifier answering
//     NOT_FOUND while it serves a background load; and after a restart —
//     reading every APIKey, then resuming from the index it saved as it
//     stopped (--index-file) — the time until it serves and a deletion
//     takes effect.
//
// All traffic goes to 127.0.0.1 and every phase is bounded in time.
//
//	go run ./hack/verifier-load -keys 1000,20000,100000 -duration 3s -rounds 6 -cp-keys 100000 -revocations 40
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/ratelimit"
	"github.com/tenantward/tenantward/internal/verifier"
)

type options struct {
	keys        []int
	duration    time.Duration
	connections int
	cpKeys      int
	revocations int
	workers     int
	redis       string
	rounds      int
	// cpuProfile is where the HTTP runs' CPU profile goes; empty: none.
	cpuProfile string
	// usage records every answer (internal/verifier/usage.go) as a verifier
	// with lastUsedAt on does; the writer does not run.
	usage bool
	// models limits every key to loadModels as well as its rate limit; every
	// request names loadModel, the last pattern's.
	models bool
}

func main() {
	var o options
	var keys string
	flag.StringVar(&keys, "keys", "1000,20000,100000", "index sizes for the HTTP throughput runs; empty skips them")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run")
	flag.IntVar(&o.connections, "connections", 16, "wrk connections")
	flag.IntVar(&o.cpKeys, "cp-keys", 100000, "APIKeys created on the control plane for the memory, revocation and restart runs; 0 skips them")
	flag.IntVar(&o.revocations, "revocations", 50, "deletions timed")
	flag.IntVar(&o.workers, "workers", 32, "concurrent writers creating APIKeys")
	flag.IntVar(&o.rounds, "rounds", 1, "runs of each server, alternating; a ratio is the median of the rounds' ratios (evens out a machine whose load changes)")
	flag.StringVar(&o.redis, "redis", "", "host:port of a redis-server for the auth+redis run; empty skips it")
	flag.BoolVar(&o.models, "models", false, "every key is limited to 10 model patterns besides its rate limit (requests name a model the last pattern matches)")
	flag.BoolVar(&o.usage, "usage", false, "HTTP runs record usage (answer counters, lastUsedAt queue) as a verifier does by default")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the HTTP runs' servers to this file, each sample labelled server=<endpoint> (go tool pprof -tagfocus server=auth+limit)")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	for _, k := range strings.FieldsFunc(keys, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(k))
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-keys: %q is not a positive number", k))
		}
		o.keys = append(o.keys, n)
	}
	if len(o.keys) > 0 {
		if err := profiled(o.cpuProfile, func() error { return throughput(o) }); err != nil {
			fail(err)
		}
	}
	if o.cpKeys > 0 {
		// Three runs of deletions, three single ones, the probe key and
		// some for the background load.
		if o.revocations < 1 || o.cpKeys < 3*o.revocations+4+100 {
			fail(fmt.Errorf("-cp-keys %d is too few for -revocations %d: at least %d", o.cpKeys, o.revocations, 3*o.revocations+4+100))
		}
		if err := onControlPlane(o); err != nil {
			fail(err)
		}
	}
}

// profiled runs f, writing a CPU profile to file meanwhile unless file is empty.
func profiled(file string, f func() error) error {
	if file == "" {
		return f()
	}
	out, err := os.Create(file) //nolint:gosec // the operator's own -cpuprofile path
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		return errors.Join(err, out.Close())
	}
	err = f()
	pprof.StopCPUProfile()
	return errors.Join(err, out.Close())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "verifier-load:", err)
	os.Exit(1)
}

// ---- HTTP throughput ----

type wrkResult struct {
	rps float64
	p99 time.Duration
	// cpu is the CPU time the load program's process (the server under
	// load; wrk is a process of its own) used per answer; 0 when the client
	// runs in the process too (gRPC).
	cpu time.Duration
}

func throughput(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: apt-get install -y wrk")
	}
	dir, err := os.MkdirTemp("", "verifier-load-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	rt, err := verifier.RouteMap{}.Compile()
	if err != nil {
		return err
	}
	fmt.Printf("HTTP, wrk -t1 -c%d -d%s on 127.0.0.1 (ratio = verifier / constant-200 server, same run)\n", o.connections, o.duration)
	fmt.Printf("HTTP auth rows also: a constant server answering with the auth endpoint's own header fields (same r/s, p99, ratio)\n")
	fmt.Printf("ratio = the median over the rounds of the verifier's rate / the baseline's in the same round (its range beside it); r/s = the mean, p99 = the worst round's\n")
	fmt.Printf("cpu = the load program's CPU time per answer (the server's, with its garbage collection), verifier/baseline in µs, and the median of the rounds' baseline/verifier\n")
	fmt.Printf("%-9s %-10s %12s %10s %12s %10s %7s %11s %11s %5s %12s %10s %7s %11s %11s %5s\n", "keys", "endpoint", "verifier r/s", "p99", "const r/s", "p99", "ratio", "range", "cpu", "ratio", "same r/s", "p99", "ratio", "range", "cpu", "ratio")
	for _, n := range o.keys {
		ix, sample := fillIndex(n, o.models)
		keyFile := filepath.Join(dir, "keys")
		if err := os.WriteFile(keyFile, []byte(strings.Join(sample, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		limited := map[string]ratelimit.Limiter{"limit": ratelimit.NewMemory()}
		if o.redis != "" {
			r, err := ratelimit.NewRedis("redis://" + o.redis)
			if err != nil {
				return err
			}
			// As the verifier runs it: the local fail mode decides when Redis
			// times out (the machine's load can make it); failures are counted.
			limited["redis"] = &ratelimit.Fallback{Primary: &redisFailures{Limiter: r}, Mode: ratelimit.FailLocal, Local: ratelimit.NewMemory()}
		}
		var usage *verifier.Usage
		if o.usage {
			var err error
			if usage, err = verifier.NewUsage(verifier.UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: len(sample)}); err != nil {
				return err
			}
		}
		constant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var sink [512]byte
			for {
				if _, err := r.Body.Read(sink[:]); err != nil {
					break
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"result":"VALID"}` + "\n"))
		})
		for _, ep := range []struct{ name, script, limiter string }{
			{"verify", verifyScript(keyFile), ""},
			{"auth", authScript(keyFile), ""},
			{"auth+limit", authScript(keyFile), "limit"},
			{"auth+redis", authScript(keyFile), "redis"},
		} {
			a := &verifier.Authorizer{Index: ix, Router: rt, Usage: usage}
			if ep.limiter != "" {
				if a.Limiter = limited[ep.limiter]; a.Limiter == nil {
					continue
				}
			}
			h := verifier.NewHandler(a)
			script := filepath.Join(dir, strings.ReplaceAll(ep.name, "+", "-")+".lua")
			if err := os.WriteFile(script, []byte(ep.script), 0o600); err != nil {
				return err
			}
			runs := []func() (wrkResult, error){
				func() (wrkResult, error) { return runWrk("constant", constant, script, o) },
				func() (wrkResult, error) { return runWrk(ep.name, h, script, o) },
			}
			if ep.name != "verify" && ep.limiter != "redis" {
				same, err := sameAnswer(h, sample[0])
				if err != nil {
					return err
				}
				runs = append(runs, func() (wrkResult, error) { return runWrk(ep.name+" same answer", same, script, o) })
			}
			res, err := alternate(o.rounds, runs...)
			if err != nil {
				return err
			}
			fmt.Printf("%-9d %-10s %s", n, ep.name, against(res[1], res[0]))
			if len(res) > 2 {
				fmt.Printf(" %s", against(res[1], res[2]).baseline())
			}
			fmt.Println()
			if ep.limiter == "redis" {
				fmt.Printf("          (Redis failures, decided locally: %d)\n", redisErrors.Load())
			}
		}
		ext := &verifier.ExtAuthz{Authorizer: &verifier.Authorizer{Index: ix, Router: rt}}
		res, err := alternate(o.rounds,
			func() (wrkResult, error) { return runGRPC(constantAuthz{}, sample, o) },
			func() (wrkResult, error) { return runGRPC(ext, sample, o) })
		if err != nil {
			return err
		}
		fmt.Printf("%-9d %-10s %s\n", n, "grpc", against(res[1], res[0]))
	}
	return nil
}

// redisFailures counts the Redis store's failures during the auth+redis run.
type redisFailures struct {
	ratelimit.Limiter
}

var redisErrors atomic.Int64

func (f *redisFailures) Allow(k ratelimit.Key, ws ratelimit.Windows, now time.Time) (ratelimit.Decision, error) {
	d, err := f.Limiter.Allow(k, ws, now)
	if err != nil {
		redisErrors.Add(1)
	}
	return d, err
}

// constantAuthz answers every Check with OK, as fast as a gRPC server can.
type constantAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{Status: &rpcstatus.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}

func (constantAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

// runGRPC serves srv on loopback and calls Check from -connections
// concurrent callers on one connection (as Envoy does) for -duration, each
// with a key of sample on POST /v1/chat/completions.
func runGRPC(srv authv3.AuthorizationServer, sample []string, o options) (wrkResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return wrkResult{}, err
	}
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, srv)
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return wrkResult{}, err
	}
	defer func() { _ = conn.Close() }()
	c := authv3.NewAuthorizationClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+30*time.Second)
	defer cancel()
	end := time.Now().Add(o.duration)
	lats := make([][]time.Duration, o.connections)
	errs := make(chan error, o.connections)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(end); i += o.connections {
				req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: "POST", Path: "/v1/chat/completions", Headers: map[string]string{"authorization": "Bearer " + sample[i%len(sample)], "x-tenantward-model": loadModel},
				}}}}
				t := time.Now()
				resp, err := c.Check(ctx, req)
				if err != nil {
					errs <- fmt.Errorf("gRPC Check: %w", err)
					return
				}
				if code := resp.GetStatus().GetCode(); code != 0 {
					errs <- fmt.Errorf("gRPC Check answered %d: %s", code, resp.GetStatus().GetMessage())
					return
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return wrkResult{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return wrkResult{}, errors.New("no gRPC call completed")
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return wrkResult{rps: float64(len(all)) / elapsed.Seconds(), p99: all[len(all)*99/100].Round(time.Microsecond)}, nil
}

// fillIndex builds an index of n workspace keys and returns up to 1,000 of their plaintexts.
// loadModels is the model list of every key with -models; requests name
// loadModel, which only the last pattern matches (the worst case of a list).
var loadModels = []accessv1alpha1.ModelPattern{"claude-3-5-*", "claude-3-7-*", "mistral-large*", "llama-3*", "gemini-1.5-*", "gemini-2*", "o1*", "o3-mini", "text-embedding-3-*", "gpt-4o*"}

const loadModel = "gpt-4o-mini"

func fillIndex(n int, models bool) (*verifier.Index, []string) {
	ix := verifier.NewIndex()
	ix.SetOrganization("acme", "acme-uid")
	var sample []string
	for i := range n {
		key, k := newKey("load", fmt.Sprintf("key-%d", i))
		if models {
			k.Status.Models = loadModels
		}
		ix.Set(k)
		if len(sample) < 1000 {
			sample = append(sample, key)
		}
	}
	return ix, sample
}

func newKey(ns, name string) (string, *accessv1alpha1.APIKey) {
	key, err := apikey.Generate(apikey.KindWorkspace)
	if err != nil {
		fail(err)
	}
	return key, &accessv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.APIKeySpec{Permissions: accessv1alpha1.APIKeyPermissions{
			Completions: accessv1alpha1.ToggleEnabled, Prompts: accessv1alpha1.AccessRead,
		}},
		Status: accessv1alpha1.APIKeyStatus{
			Hash: apikey.Sum(key).String(), Type: accessv1alpha1.KeyTypeWorkspace, Organization: "acme", Workspace: "load",
			RateLimits: []accessv1alpha1.RateLimit{{Requests: 1_000_000_000, Per: metav1.Duration{Duration: time.Second}}},
		},
	}
}

const luaKeys = `local keys = {}
for line in io.lines(%q) do keys[#keys + 1] = line end
local i = 0
`

func verifyScript(keyFile string) string {
	return fmt.Sprintf(luaKeys, keyFile) + `request = function()
  i = i + 1
  return wrk.format("POST", "/v1/verify", {["Content-Type"] = "application/json"}, '{"key":"' .. keys[(i % #keys) + 1] .. '","model":"` + loadModel + `"}')
end
`
}

func authScript(keyFile string) string {
	return fmt.Sprintf(luaKeys, keyFile) + `request = function()
  i = i + 1
  return wrk.format("GET", "/v1/auth", {["Authorization"] = "Bearer " .. keys[(i % #keys) + 1], ["X-Original-Method"] = "POST", ["X-Original-URI"] = "/v1/chat/completions", ["X-Tenantward-Model"] = "` + loadModel + `"})
end
`
}

// alternate runs each server in turn, rounds times, in reverse order every
// other round (a load that drifts during a round weighs on each server
// alike), and returns each server's result in each round.
func alternate(rounds int, runs ...func() (wrkResult, error)) ([][]wrkResult, error) {
	res := make([][]wrkResult, len(runs))
	for r := range max(rounds, 1) {
		for j := range runs {
			i := j
			if r%2 == 1 {
				i = len(runs) - 1 - j
			}
			got, err := runs[i]()
			if err != nil {
				return nil, err
			}
			res[i] = append(res[i], got)
		}
	}
	return res, nil
}

// comparison is a server's rounds beside a baseline's.
type comparison struct {
	got, base wrkResult
	// ratio is the median over the rounds of got's rate / base's in the same
	// round, lo and hi the smallest and largest: a round in which the
	// machine was busier slows both servers of that round, not the median.
	ratio, lo, hi float64
	// cpuRatio is the median over the rounds of base's CPU time per answer /
	// got's: what the server costs rather than how the two cores were shared
	// with wrk (0 when not measured).
	cpuRatio float64
}

// against compares got's rounds with base's; each result is the mean rate
// and the worst p99 of its rounds.
func against(got, base []wrkResult) comparison {
	c := comparison{got: summary(got), base: summary(base)}
	ratios, cpu := make([]float64, len(got)), make([]float64, len(got))
	for i := range got {
		ratios[i] = got[i].rps / base[i].rps
		if got[i].cpu > 0 {
			cpu[i] = float64(base[i].cpu) / float64(got[i].cpu)
		}
	}
	c.ratio, c.lo, c.hi = median(ratios)
	c.cpuRatio, _, _ = median(cpu)
	return c
}

// median sorts xs and returns its median, smallest and largest.
func median(xs []float64) (med, lo, hi float64) {
	slices.Sort(xs)
	n := len(xs)
	return (xs[(n-1)/2] + xs[n/2]) / 2, xs[0], xs[n-1]
}

// summary is the mean rate and CPU time per answer and the worst p99 of rounds.
func summary(rounds []wrkResult) wrkResult {
	var s wrkResult
	for _, r := range rounds {
		s.rps += r.rps / float64(len(rounds))
		s.cpu += r.cpu / time.Duration(len(rounds))
		s.p99 = max(s.p99, r.p99)
	}
	return s
}

// String is the row's columns: the server's rate and p99, the baseline's,
// and the ratio with its range.
func (c comparison) String() string {
	return fmt.Sprintf("%12.0f %10s %s", c.got.rps, c.got.p99, c.baseline())
}

// baseline is the baseline's columns, the ratio with its range and, when
// measured, the CPU time per answer of both and its ratio.
func (c comparison) baseline() string {
	cols := fmt.Sprintf("%12.0f %10s %7.2f %11s", c.base.rps, c.base.p99, c.ratio, fmt.Sprintf("%.2f–%.2f", c.lo, c.hi))
	if c.cpuRatio > 0 {
		cols += fmt.Sprintf(" %11s %5.2f", fmt.Sprintf("%.1f/%.1f", micros(c.got.cpu), micros(c.base.cpu)), c.cpuRatio)
	}
	return cols
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// sameAnswer returns a server that answers every request, without looking
// anything up, with the header fields h answers an allowed request of key
// with: the constant server of the auth endpoint's own answer, beside which
// what is left is the verifier's work rather than net/http's on the fields.
func sameAnswer(h http.Handler, key string) (http.Handler, error) {
	req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Original-Method", http.MethodPost)
	req.Header.Set("X-Original-Uri", "/v1/chat/completions")
	req.Header.Set("X-Tenantward-Model", loadModel)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("the auth endpoint answered the sample key %d: %s", rec.Code, rec.Body)
	}
	fields := rec.Header().Clone()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for name, values := range fields {
			h[name] = values
		}
		w.WriteHeader(http.StatusOK)
	}), nil
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s)`)
	// answersRe is wrk's count of answers ("123456 requests in 3.00s").
	answersRe = regexp.MustCompile(`\n\s*([0-9]+) requests in `)
)

// runWrk serves h on loopback with the verifier's server settings and loads it with wrk.
// With -cpuprofile, its samples carry the label server=name.
func runWrk(name string, h http.Handler, script string, o options) (wrkResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return wrkResult{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	go pprof.Do(context.Background(), pprof.Labels("server", name), func(context.Context) { _ = srv.Serve(ln) })
	defer func() { _ = srv.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+30*time.Second)
	defer cancel()
	cpuBefore := cpuTime(os.Getpid())
	out, err := exec.CommandContext(ctx, "wrk", "-t1", fmt.Sprintf("-c%d", o.connections), "-d"+o.duration.String(), "--latency", "-s", script, "http://"+ln.Addr().String()).CombinedOutput() //nolint:gosec // wrk against our own loopback server
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	cpu := cpuTime(os.Getpid()) - cpuBefore
	m, p, a := rpsRe.FindSubmatch(out), p99Re.FindSubmatch(out), answersRe.FindSubmatch(out)
	if m == nil || p == nil || a == nil {
		return wrkResult{}, fmt.Errorf("unexpected wrk output: %s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	answers, _ := strconv.ParseInt(string(a[1]), 10, 64)
	v, _ := strconv.ParseFloat(string(p[1]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[2])]
	if strings.Contains(string(out), "Non-2xx") {
		return wrkResult{}, fmt.Errorf("wrk saw errors: %s", out)
	}
	return wrkResult{rps: rps, p99: time.Duration(v * float64(unit)).Round(10 * time.Microsecond), cpu: cpu / time.Duration(max(answers, 1))}, nil
}

// ---- On a real control plane ----

func onControlPlane(o options) error {
	fmt.Printf("\ncontrol plane: starting kube-apiserver and etcd, creating %d APIKeys (%d writers)...\n", o.cpKeys, o.workers)
	env, err := controlplane.Start(controlplane.Options{WithoutGatewayCRDs: true})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = accessv1alpha1.AddToScheme(scheme)
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "load"}}); err != nil {
		return err
	}
	// The keys' organization: the verifier refuses keys of an organization that does not exist.
	if err := c.Create(ctx, &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}); err != nil {
		return err
	}
	start := time.Now()
	plains, err := createKeys(ctx, c, o.cpKeys, o.workers)
	if err != nil {
		return err
	}
	fmt.Printf("created %d issued APIKeys in %s\n", o.cpKeys, time.Since(start).Round(time.Second))

	kubeconfig, err := verifierKubeconfig(ctx, env)
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp("", "verifier-load-bin-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(binDir) }()
	bin, err := controlplane.BuildVerifier(binDir) // its own directory: other runs build theirs
	if err != nil {
		return err
	}
	cp, err := controlPlaneProcesses()
	if err != nil {
		return err
	}
	// Each read of every APIKey starts once the control plane is idle: the
	// garbage collection of the one before (of the creation, first) goes on
	// for seconds at 100,000 keys and would be timed with the next.
	settle(cp)
	list, err := apiServerAlone(kubeconfig, false)
	if err != nil {
		return err
	}
	settle(cp)
	// The verifier saves its index here (--index-file, as the chart sets
	// it): after its first load, and when it stops.
	indexFile := filepath.Join(binDir, "index")
	v, err := startVerifierProcess(bin, kubeconfig, plains[len(plains)-1], indexFile)
	if err != nil {
		return err
	}
	settle(cp)
	watchList, err := apiServerAlone(kubeconfig, true)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-52s %s\n", "measure", "value")
	fmt.Printf("%-52s %s (ready after %s)\n", fmt.Sprintf("start to first VALID answer (%d keys)", o.cpKeys), v.firstValid.Round(time.Millisecond), v.ready.Round(time.Millisecond))
	fmt.Printf("%-52s list %s, watch-list %s (the start: %.2fx the list)\n", "API server alone: every APIKey, read and discarded", list.Round(time.Millisecond), watchList.Round(time.Millisecond), float64(v.firstValid)/float64(list))
	time.Sleep(2 * time.Second) // let the start-up's garbage be collected before reading RSS
	idle, peak := memory(v.cmd.Process.Pid)
	fmt.Printf("%-52s %s; peak while loading %s (%.2fx idle)\n", fmt.Sprintf("RSS of tenantward-verifier, idle (%d keys)", o.cpKeys), mib(idle), mib(peak), float64(peak)/float64(idle))
	if info, err := os.Stat(indexFile); err == nil {
		fmt.Printf("%-52s %.1f MiB, %d bytes a key\n", "its saved index (--index-file)", float64(info.Size())/(1<<20), info.Size()/int64(max(o.cpKeys, 1)))
	}

	// Deletions with nothing else running, then under a background load and
	// under that load with the control plane on a core of its own, in
	// rounds that alternate the two as the throughput runs alternate servers.
	self := []process{{"this program (the load)", os.Getpid()}, {"tenantward-verifier", v.cmd.Process.Pid}}
	scenarios := []*deletions{
		{name: "delete APIKey -> NOT_FOUND, nothing else running"},
		{name: "delete APIKey -> NOT_FOUND, under load", loaded: true},
	}
	if cores > 1 {
		scenarios = append(scenarios, &deletions{name: "  the same, the control plane on a core of its own", loaded: true, separate: true})
	}
	// The keys each run deletes, in order; the last key is the start-up's
	// probe, the rest is the background load's.
	taken := 0
	take := func(n int) []string {
		keys := plains[taken : taken+n]
		taken += n
		return keys
	}
	for _, s := range scenarios {
		s.keys, s.cpu = take(o.revocations), newCPUMeter(append(self, cp...))
	}
	restartKey, gone, afterResume := take(1), take(1)[0], take(1)
	background := plains[taken : len(plains)-1]
	settle(cp)
	// Nothing else running first: once loaded, the verifier's lastUsedAt
	// writer has queued the keys used and writes them for minutes.
	if err := scenarios[0].run(ctx, c, v.url, scenarios[0].keys, nil, cp, self); err != nil {
		return err
	}
	rounds := max(o.rounds, 1)
	for r := range rounds {
		for _, s := range scenarios[1:] {
			keys := s.keys[r*len(s.keys)/rounds : (r+1)*len(s.keys)/rounds]
			if err := s.run(ctx, c, v.url, keys, background, cp, self); err != nil {
				return err
			}
		}
	}
	for _, s := range scenarios {
		fmt.Printf("%-52s %s\n", s.name, s)
	}
	rss, hwm := memory(v.cmd.Process.Pid)
	fmt.Printf("%-52s %s (peak so far %s)\n", "RSS after the load", mib(rss), mib(hwm))

	v.stop()
	// A restart reading every APIKey (no saved index), then one deletion.
	if err := os.Remove(indexFile); err != nil {
		return err
	}
	settle(cp)
	restart := time.Now()
	if v, err = startVerifierProcess(bin, kubeconfig, plains[len(plains)-1], indexFile); err != nil {
		return err
	}
	t, err := revocations(ctx, c, v.url, restartKey)
	if err != nil {
		return err
	}
	fmt.Printf("%-52s first VALID after %s, ready after %s; one deletion effective %s later (%s from restart)\n", "restart reading every APIKey, then delete", v.firstValid.Round(time.Millisecond), v.ready.Round(time.Millisecond), t.total[0], time.Since(restart).Round(time.Millisecond))
	// A restart resuming from the index it saved as it stopped, after
	// changes made while it was down: one APIKey deleted, then a ConfigMap
	// written, so that the API server's current version is past the last
	// APIKey change and the replay ends at a bookmark, as in a cluster
	// where other objects change all the time.
	res, err := verifyKey(v.url, gone)
	if err != nil {
		return err
	}
	v.stop()
	if err := c.Delete(ctx, &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: res.Namespace, Name: res.KeyName}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "load", GenerateName: "while-down-"}}); err != nil {
		return err
	}
	settle(cp)
	restart = time.Now()
	if v, err = startVerifierProcess(bin, kubeconfig, plains[len(plains)-1], indexFile); err != nil {
		return err
	}
	defer v.stop()
	if res, err = verifyKey(v.url, gone); err != nil {
		return err
	}
	if res.Result != "NOT_FOUND" {
		return fmt.Errorf("the key deleted while the verifier was down: %s, want NOT_FOUND", res.Result)
	}
	if t, err = revocations(ctx, c, v.url, afterResume); err != nil {
		return err
	}
	fmt.Printf("%-52s first VALID after %s, ready after %s (a key deleted while down: NOT_FOUND); one deletion effective %s later (%s from restart)\n", "restart from the saved index, then delete", v.firstValid.Round(time.Millisecond), v.ready.Round(time.Millisecond), t.total[0], time.Since(restart).Round(time.Millisecond))
	return nil
}

// createKeys creates n APIKeys and writes their status as the operator would;
// it returns the plaintexts in creation order.
func createKeys(ctx context.Context, c client.Client, n, workers int) ([]string, error) {
	plains := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				plain, k := newKey("load", fmt.Sprintf("key-%d", i))
				status := k.Status
				if err := c.Create(ctx, k); err != nil {
					errs <- err
					return
				}
				k.Status = status
				if err := c.Status().Update(ctx, k); err != nil {
					errs <- err
					return
				}
				plains[i] = plain
			}
		}()
	}
	wg.Wait()
	close(errs)
	return plains, <-errs
}

// verifierKubeconfig installs the operator's RBAC and returns a kubeconfig
// of the standalone verifier's service account, which may only list and watch
// apikeys.
func verifierKubeconfig(ctx context.Context, env *controlplane.Env) (string, error) {
	ids, err := env.InstallRBAC(ctx)
	if err != nil {
		return "", err
	}
	raw, err := ids.Verifier.KubeConfig()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "verifier-kubeconfig-")
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	_, err = f.Write(raw)
	return f.Name(), err
}

type verifierProcess struct {
	cmd *exec.Cmd
	url string
	// ready is the time to /readyz 200, firstValid to the first VALID answer for a key.
	ready, firstValid time.Duration
}

// startVerifierProcess starts a verifier and asks it about valid (a key it
// must find) until it answers VALID, then waits for /readyz.
func startVerifierProcess(bin, kubeconfig, valid, indexFile string) (*verifierProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--bind-address", addr, "--grpc-bind-address", "0", "--index-file", indexFile) //nolint:gosec // the binary built above
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	v := &verifierProcess{cmd: cmd, url: "http://" + addr}
	for time.Since(start) < 2*time.Minute && v.firstValid == 0 {
		if res, err := verifyKey(v.url, valid); err == nil && res.Result == "VALID" {
			v.firstValid = time.Since(start)
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	for v.firstValid != 0 && time.Since(start) < 2*time.Minute {
		resp, err := http.Get(v.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				v.ready = time.Since(start)
				return v, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	v.stop()
	return nil, errors.New("the verifier was not ready within 2 minutes")
}

func (v *verifierProcess) stop() {
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	_ = v.cmd.Wait()
}

// memory returns VmRSS and VmHWM of a process, in KiB.
func memory(pid int) (rss, hwm int) {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = kb
		case "VmHWM:":
			hwm = kb
		}
	}
	return rss, hwm
}

func mib(kb int) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// backgroundLoad verifies random keys from 4 clients until stopped and returns
// a stop function that reports how many verifications it made.
func backgroundLoad(url string, keys []string) func() int64 {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				key := keys[rand.IntN(len(keys))] //nolint:gosec // picking load, not making secrets
				if _, err := verifyKey(url, key); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	return func() int64 {
		cancel()
		wg.Wait()
		return n.Load()
	}
}

// revocationTimes are the times of deletions, each sorted: from the DELETE
// request until the verifier answers NOT_FOUND, until the API server
// answered the DELETE, and from that answer on (the watch event's way to
// the verifier and its next answer).
type revocationTimes struct{ total, api, after []time.Duration }

func (t revocationTimes) String() string {
	for _, s := range [][]time.Duration{t.total, t.api, t.after} {
		slices.Sort(s)
	}
	n := len(t.total)
	return fmt.Sprintf("median %s, p90 %s, max %s (%d deletions); the API server's answer / after it: median %s / %s",
		t.total[n/2], t.total[n*9/10], t.total[n-1], n, t.api[n/2], t.after[n/2])
}

// revocations deletes each key's APIKey and times until the verifier
// answers NOT_FOUND.
func revocations(ctx context.Context, c client.Client, url string, plains []string) (revocationTimes, error) {
	var t revocationTimes
	for _, plain := range plains {
		res, err := verifyKey(url, plain)
		if err != nil {
			return t, err
		}
		if res.Result != "VALID" {
			return t, fmt.Errorf("a key to revoke is %s before its deletion", res.Result)
		}
		k := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: res.Namespace, Name: res.KeyName}}
		start := time.Now()
		if err := c.Delete(ctx, k); err != nil {
			return t, err
		}
		answered := time.Now()
		for {
			res, err := verifyKey(url, plain)
			if err != nil {
				return t, err
			}
			if res.Result == "NOT_FOUND" {
				t.total = append(t.total, time.Since(start).Round(10*time.Microsecond))
				t.api = append(t.api, answered.Sub(start).Round(10*time.Microsecond))
				t.after = append(t.after, time.Since(answered).Round(10*time.Microsecond))
				break
			}
			if time.Since(start) > 30*time.Second {
				return t, errors.New("a deleted key still verified after 30s")
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	return t, nil
}

// deletions are the revocations of one way of measuring them, over rounds.
type deletions struct {
	name             string
	loaded, separate bool
	keys             []string
	times            revocationTimes
	verifications    int64 // the background load's, summed over rounds
	loadTime         time.Duration
	cpu              *cpuMeter
}

// run deletes keys: under a background load verifying the keys of
// background when loaded, and with the control plane cp on a core of its
// own and the rest on the others when separate.
func (d *deletions) run(ctx context.Context, c client.Client, url string, keys, background []string, cp, rest []process) (err error) {
	if d.separate {
		undo, err := separate(cp, rest)
		if err != nil {
			return err
		}
		// Left pinned, every later figure would be taken on one core.
		defer func() { err = errors.Join(err, undo()) }()
	}
	done := d.cpu.measure()
	defer done()
	if d.loaded {
		start := time.Now()
		stop := backgroundLoad(url, background)
		defer func() {
			d.verifications += stop()
			d.loadTime += time.Since(start)
		}()
	}
	t, err := revocations(ctx, c, url, keys)
	d.times.total = append(d.times.total, t.total...)
	d.times.api = append(d.times.api, t.api...)
	d.times.after = append(d.times.after, t.after...)
	return err
}

func (d *deletions) String() string {
	s := d.times.String()
	if d.loaded {
		s += fmt.Sprintf("; background load %.0f verifications/s", float64(d.verifications)/d.loadTime.Seconds())
	}
	return s + "\n" + fmt.Sprintf("%-52s %s", fmt.Sprintf("  CPU used meanwhile (of %d cores)", cores), d.cpu)
}

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func verifyKey(url, key string) (verifier.VerifyResponse, error) {
	var out verifier.VerifyResponse
	body, _ := json.Marshal(verifier.VerifyRequest{Key: key})
	resp, err := httpClient.Post(url+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	defer func() { _ = resp.Body.Close() }()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}
