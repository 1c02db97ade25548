package verifier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// Options configure the verifier server.
type Options struct {
	// HTTPAddr serves /v1/verify and the auth endpoint; "" or "0" disables it.
	HTTPAddr string
	// GRPCAddr serves Envoy's gRPC ext_authz; "" or "0" disables it.
	GRPCAddr string
	// Routes is the route map of the auth endpoints.
	Routes RouteMap
	// RateLimitStore keeps the keys' rate-limit state: "" or "memory" (each
	// replica alone) or redis://[[user]:password@]host:port[/db] (shared).
	RateLimitStore string
	// RateLimitFailMode is what a Redis store does when Redis fails: local
	// (the default), open or closed.
	RateLimitFailMode string
	// Usage configures the answer counters and status.lastUsedAt (usage.go).
	Usage UsageOptions
	// Metrics is where the verifier's metrics are registered and what its
	// /metrics serves: the manager passes controller-runtime's registry,
	// the standalone verifier one of its own (command.go). Nil is a new,
	// empty registry.
	Metrics MetricsRegistry
	// Log is the verifier's logger; the zero value discards.
	Log logr.Logger
	// IndexFile is where the verifier saves its index, to resume from it
	// at its next start (keywatch.go, snapshot.go); "" saves none.
	IndexFile string
	// watchList makes the first load of the APIKeys a watch-list (the
	// path taken when a list fails, for tests).
	watchList bool
}

// Limits of the servers.
const (
	readHeaderTimeout = 5 * time.Second
	requestTimeout    = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	maxGRPCMessage    = 64 << 10
	shutdownTimeout   = 10 * time.Second
)

// Server is the key verifier: APIKey and Organization informers feeding the
// index, and the HTTP and gRPC servers answering gateways. It needs list and
// watch on apikeys and organizations, and get and patch on apikeys/status for
// lastUsedAt. It is a manager Runnable that runs on every replica.
type Server struct {
	cfg   *rest.Config
	opts  Options
	auth  *Authorizer
	limit rateLimiter
	ready chan struct{}
	// synced is set once the index holds every APIKey and Organization.
	synced atomic.Bool
	// httpAddr and grpcAddr are the bound addresses, set before ready closes.
	httpAddr, grpcAddr string
	// loaded closes when the key loader has stopped (after its last save).
	loaded chan struct{}
}

// New checks the options and returns a verifier for the cluster at cfg.
func New(cfg *rest.Config, o Options) (*Server, error) {
	rt, err := o.Routes.Compile()
	if err != nil {
		return nil, err
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	if err := registerMetrics(o.Metrics); err != nil {
		return nil, err
	}
	o.Log = o.Log.WithName("verifier")
	limit, err := newRateLimiter(o.RateLimitStore, o.RateLimitFailMode, o.Log)
	if err != nil {
		return nil, err
	}
	usage, err := NewUsage(o.Usage)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:   cfg,
		opts:  o,
		auth:  &Authorizer{Index: NewIndex(), Router: rt, Limiter: limit, Usage: usage},
		limit: limit,
		ready: make(chan struct{}),
	}, nil
}

// NeedLeaderElection is false: every replica of the manager verifies keys.
func (s *Server) NeedLeaderElection() bool { return false }

// Ready is closed once the index holds every APIKey and Organization and the servers listen.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// HTTPAddr returns the bound HTTP address once Ready is closed.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// GRPCAddr returns the bound gRPC address once Ready is closed.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// Start listens, fills the index from the APIKey and Organization informers,
// then serves until ctx ends. Until both initial lists are loaded every
// endpoint but /healthz answers 503 (gRPC: UNAVAILABLE), so that a restarted
// verifier never answers NOT_FOUND for a key it has not loaded yet, nor VALID
// for a key of an organization that is gone; /readyz turns 200 once they are.
func (s *Server) Start(ctx context.Context) error {
	log := s.opts.Log
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.limit.sweep(ctx)
	var serves []func() error
	if enabled(s.opts.HTTPAddr) {
		ln, err := net.Listen("tcp", s.opts.HTTPAddr)
		if err != nil {
			return fmt.Errorf("verifier HTTP listener: %w", err)
		}
		s.httpAddr = ln.Addr().String()
		srv := &http.Server{
			Handler:           s.gate(withMetrics(NewHandler(s.auth), s.opts.Metrics)),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       requestTimeout,
			WriteTimeout:      requestTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		}
		serves = append(serves, func() error { return ignoreClosed(srv.Serve(ln)) })
		go func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if enabled(s.opts.GRPCAddr) {
		ln, err := net.Listen("tcp", s.opts.GRPCAddr)
		if err != nil {
			return fmt.Errorf("verifier gRPC listener: %w", err)
		}
		s.grpcAddr = ln.Addr().String()
		srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxGRPCMessage), grpc.ConnectionTimeout(requestTimeout), grpc.UnaryInterceptor(s.gateGRPC))
		authv3.RegisterAuthorizationServer(srv, &ExtAuthz{Authorizer: s.auth})
		serves = append(serves, func() error { return srv.Serve(ln) })
		go func() {
			<-ctx.Done()
			stopGRPC(srv)
		}()
	}
	errs := make(chan error, len(serves))
	for _, serve := range serves {
		go func() { errs <- serve() }()
	}
	log.Info("listening; loading APIKeys", "http", s.httpAddr, "grpc", s.grpcAddr)
	err := s.startInformers(ctx)
	if err == nil {
		err = runUsage(ctx, s.auth.Usage, s.cfg, log)
	}
	if err == nil {
		s.synced.Store(true)
		close(s.ready)
		log.Info("index loaded; verifying keys", "keys", s.auth.Index.Len())
	} else {
		cancel()
	}
	for range serves {
		if e := <-errs; e != nil && ctx.Err() == nil {
			err = e
			cancel()
		}
	}
	<-ctx.Done()
	if s.loaded != nil {
		<-s.loaded // the loader's last save
	}
	return err
}

// gate answers 503 until the index is loaded, and serves /readyz.
func (s *Server) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
		case !s.synced.Load():
			http.Error(w, "the verifier has not loaded every APIKey and Organization yet", http.StatusServiceUnavailable)
			return
		case r.URL.Path == "/readyz":
			_, _ = w.Write([]byte("ok"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// gateGRPC answers UNAVAILABLE until the index is loaded.
func (s *Server) gateGRPC(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.synced.Load() {
		return nil, status.Error(codes.Unavailable, "the verifier has not loaded every APIKey and Organization yet")
	}
	return handler(ctx, req)
}

// List and watch are all the access a verifier has to read keys: no Secrets.
// The marker generates config/rbac/verifier/role.yaml.
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys;organizations,verbs=list;watch
// Its lastUsedAt writer (usage.go) reads and patches the status of the keys it
// saw verify, once per key and period; the webhooks let it change nothing else.
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys/status,verbs=get;patch

// startInformers runs the APIKey loader (keywatch.go), which fills the
// index straight from the API server's JSON, and a reflector of the live
// Organizations. It waits for the first complete list of both.
func (s *Server) startInformers(ctx context.Context) error {
	c, err := newAPIClient(s.cfg)
	if err != nil {
		return fmt.Errorf("verifier client: %w", err)
	}
	keys, err := newKeyLoader(s.cfg, s.auth.Index, s.opts.IndexFile, s.opts.Log)
	if err != nil {
		return err
	}
	keys.streamed = s.opts.watchList
	s.loaded = make(chan struct{})
	go func() { keys.run(ctx); close(s.loaded) }()
	orgs := &orgStore{ix: s.auth.Index, synced: make(chan struct{})}
	r := toolscache.NewReflectorWithOptions(organizationsListWatch(c), &accessv1alpha1.Organization{}, orgs, toolscache.ReflectorOptions{Name: "verifier-organizations"})
	go r.RunWithContext(ctx)
	for _, synced := range []chan struct{}{orgs.synced, keys.synced} {
		select {
		case <-synced:
		case <-ctx.Done():
			return errors.New("stopped before the verifier's APIKey and Organization lists were loaded (are list/watch on apikeys and organizations allowed?)")
		}
	}
	// The start-up's garbage (the Organization list, the decoder's buffers): give its memory back.
	debug.FreeOSMemory()
	return nil
}

// orgStore is the Organization reflector's store: it keeps the names and
// UIDs of the live Organizations in the index. An Organization being deleted is not live,
// nor is one whose object was removed without the operator's clean-up (its
// finalizer stripped): either way its keys stop verifying.
type orgStore struct {
	ix     *Index
	once   sync.Once
	synced chan struct{}
}

// Transformer keeps only what the store reads.
func (st *orgStore) Transformer() toolscache.TransformFunc {
	return func(obj any) (any, error) {
		o, ok := obj.(*accessv1alpha1.Organization)
		if !ok {
			return obj, nil
		}
		out := &accessv1alpha1.Organization{}
		out.Name, out.UID, out.ResourceVersion, out.DeletionTimestamp = o.Name, o.UID, o.ResourceVersion, o.DeletionTimestamp
		return out, nil
	}
}

func (st *orgStore) Add(obj any) error    { return st.set(obj, true) }
func (st *orgStore) Update(obj any) error { return st.set(obj, true) }
func (st *orgStore) Delete(obj any) error { return st.set(obj, false) }
func (st *orgStore) Resync() error        { return nil }

// Replace swaps in a full list: the first one marks the Organizations loaded.
func (st *orgStore) Replace(objs []any, _ string) error {
	orgs := make(map[string]types.UID, len(objs))
	for _, obj := range objs {
		o, ok := obj.(*accessv1alpha1.Organization)
		if !ok {
			return fmt.Errorf("the verifier's store got a %T, not an Organization", obj)
		}
		if o.DeletionTimestamp.IsZero() {
			orgs[o.Name] = o.UID
		}
	}
	st.ix.ReplaceOrganizations(orgs)
	st.once.Do(func() { close(st.synced) })
	return nil
}

func (st *orgStore) set(obj any, exists bool) error {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(*accessv1alpha1.Organization)
	if !ok {
		return fmt.Errorf("the verifier's store got a %T, not an Organization", obj)
	}
	var uid types.UID
	if exists && o.DeletionTimestamp.IsZero() {
		uid = o.UID
	}
	st.ix.SetOrganization(o.Name, uid)
	return nil
}

func enabled(addr string) bool { return addr != "" && addr != "0" }

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// stopGRPC stops gracefully, or at once when in-flight calls outlast the timeout.
func stopGRPC(srv *grpc.Server) {
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		srv.Stop()
	}
}
