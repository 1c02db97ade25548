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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// Server is the key verifier: an APIKey informer feeding the index, and the
// HTTP and gRPC servers answering gateways. It needs only list and watch on
// apikeys. It is a manager Runnable that runs on every replica.
type Server struct {
	cfg   *rest.Config
	opts  Options
	auth  *Authorizer
	ready chan struct{}
	// synced is set once the index holds every APIKey.
	synced atomic.Bool
	// httpAddr and grpcAddr are the bound addresses, set before ready closes.
	httpAddr, grpcAddr string
}

// New checks the options and returns a verifier for the cluster at cfg.
func New(cfg *rest.Config, o Options) (*Server, error) {
	rt, err := o.Routes.Compile()
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:   cfg,
		opts:  o,
		auth:  &Authorizer{Index: NewIndex(), Router: rt},
		ready: make(chan struct{}),
	}, nil
}

// NeedLeaderElection is false: every replica of the manager verifies keys.
func (s *Server) NeedLeaderElection() bool { return false }

// Ready is closed once the index holds every APIKey and the servers listen.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// HTTPAddr returns the bound HTTP address once Ready is closed.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// GRPCAddr returns the bound gRPC address once Ready is closed.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// Start listens, fills the index from an APIKey informer, then serves until
// ctx ends. Until the initial list is loaded every endpoint but /healthz
// answers 503 (gRPC: UNAVAILABLE), so that a restarted verifier never answers
// NOT_FOUND for a key it has not loaded yet; /readyz turns 200 once it is.
func (s *Server) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("verifier")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var serves []func() error
	if enabled(s.opts.HTTPAddr) {
		ln, err := net.Listen("tcp", s.opts.HTTPAddr)
		if err != nil {
			return fmt.Errorf("verifier HTTP listener: %w", err)
		}
		s.httpAddr = ln.Addr().String()
		srv := &http.Server{
			Handler:           s.gate(NewHandler(s.auth)),
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
	err := s.startInformer(ctx)
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
	return err
}

// gate answers 503 until the index is loaded, and serves /readyz.
func (s *Server) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
		case !s.synced.Load():
			http.Error(w, "the verifier has not loaded every APIKey yet", http.StatusServiceUnavailable)
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
		return nil, status.Error(codes.Unavailable, "the verifier has not loaded every APIKey yet")
	}
	return handler(ctx, req)
}

// That list and watch are all the access a verifier has: no get, no Secrets.
// The marker generates config/rbac/verifier/role.yaml.
// +kubebuilder:rbac:groups=access.tenantward.io,resources=apikeys,verbs=list;watch

// startInformer runs an APIKey reflector (list, then watch) whose store is
// the index itself: each object is reduced to what verification needs as it
// arrives, and no copy of the objects is kept. It waits for the first list.
func (s *Server) startInformer(ctx context.Context) error {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.NewWithWatch(s.cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("verifier client: %w", err)
	}
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list := &accessv1alpha1.APIKeyList{}
			return list, c.List(ctx, list, &client.ListOptions{Raw: &o})
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &accessv1alpha1.APIKeyList{}, &client.ListOptions{Raw: &o})
		},
	}
	store := &indexStore{ix: s.auth.Index, synced: make(chan struct{})}
	r := toolscache.NewReflectorWithOptions(lw, &accessv1alpha1.APIKey{}, store, toolscache.ReflectorOptions{Name: "verifier-apikeys"})
	go r.RunWithContext(ctx)
	select {
	case <-store.synced:
	case <-ctx.Done():
		return errors.New("stopped before the verifier's APIKey list was loaded (is list/watch on apikeys allowed?)")
	}
	// The first list's objects are garbage now; give their memory back.
	debug.FreeOSMemory()
	return nil
}

// indexStore is the reflector's store: it applies list and watch events to
// the index, keeping nothing else.
type indexStore struct {
	ix     *Index
	once   sync.Once
	synced chan struct{}
}

// Transformer makes the reflector reduce each APIKey as it is decoded, so
// that the initial stream of a large cluster never holds full objects.
func (st *indexStore) Transformer() toolscache.TransformFunc { return slim }

func (st *indexStore) Add(obj any) error    { return st.set(obj) }
func (st *indexStore) Update(obj any) error { return st.set(obj) }
func (st *indexStore) Resync() error        { return nil }

func (st *indexStore) Delete(obj any) error {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	k, ok := obj.(*accessv1alpha1.APIKey)
	if !ok {
		return fmt.Errorf("the verifier's store got a %T, not an APIKey", obj)
	}
	st.ix.Delete(k.Namespace, k.Name)
	keysGauge.Set(float64(st.ix.Len()))
	return nil
}

// Replace swaps in a full list: the first one marks the index loaded.
func (st *indexStore) Replace(objs []any, _ string) error {
	keys := make([]*accessv1alpha1.APIKey, 0, len(objs))
	for _, o := range objs {
		k, ok := o.(*accessv1alpha1.APIKey)
		if !ok {
			return fmt.Errorf("the verifier's store got a %T, not an APIKey", o)
		}
		keys = append(keys, k)
	}
	st.ix.Replace(keys)
	keysGauge.Set(float64(st.ix.Len()))
	st.once.Do(func() { close(st.synced) })
	return nil
}

func (st *indexStore) set(obj any) error {
	k, ok := obj.(*accessv1alpha1.APIKey)
	if !ok {
		return fmt.Errorf("the verifier's store got a %T, not an APIKey", obj)
	}
	st.ix.Set(k)
	keysGauge.Set(float64(st.ix.Len()))
	return nil
}

// slim keeps only the fields verification reads: no managedFields,
// annotations, descriptions or conditions.
func slim(obj any) (any, error) {
	k, ok := obj.(*accessv1alpha1.APIKey)
	if !ok {
		return obj, nil
	}
	out := &accessv1alpha1.APIKey{}
	out.Name, out.Namespace, out.UID, out.ResourceVersion = k.Name, k.Namespace, k.UID, k.ResourceVersion
	out.Spec.Permissions, out.Spec.State, out.Spec.ExpiresAt = k.Spec.Permissions, k.Spec.State, k.Spec.ExpiresAt
	out.Status = accessv1alpha1.APIKeyStatus{
		Type: k.Status.Type, Organization: k.Status.Organization, Workspace: k.Status.Workspace,
		Hash: k.Status.Hash, PreviousHash: k.Status.PreviousHash, PreviousValidUntil: k.Status.PreviousValidUntil,
	}
	return out, nil
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
