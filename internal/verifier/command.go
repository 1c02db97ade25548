package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"
)

// maxConfigSize bounds the configuration file the verifier reads.
const maxConfigSize = 1 << 20

// Command runs only the key verifier, the standalone binary
// cmd/tenantward-verifier. It needs list and watch on apikeys and
// organizations, and get and patch on apikeys/status (lastUsedAt).
func Command(args []string) error {
	fs := flag.NewFlagSet("tenantward-verifier", flag.ContinueOnError)
	o := Options{Usage: DefaultUsageOptions()}
	var kubeconfig, configFile string
	fs.StringVar(&o.HTTPAddr, "bind-address", ":8090", "address of /v1/verify, /v1/auth, /metrics and /healthz; 0 disables it")
	fs.StringVar(&o.GRPCAddr, "grpc-bind-address", ":8091", "address of Envoy's gRPC ext_authz; 0 disables it")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG and ~/.kube/config)")
	fs.StringVar(&configFile, "config", "", "operator configuration file; the verifier reads its routes: section")
	store := os.Getenv("TENANTWARD_RATE_LIMIT_STORE") // keeps a Redis password off the command line
	if store == "" {
		store = "memory"
	}
	fs.StringVar(&o.RateLimitStore, "rate-limit-store", store, "where the keys' rate-limit state is kept: memory (each replica alone) or redis://[[user]:password@]host:port[/db] (one exact count shared by the replicas); default $TENANTWARD_RATE_LIMIT_STORE, else memory")
	fs.StringVar(&o.RateLimitFailMode, "rate-limit-fail-mode", "", "with a redis:// store, what decides when Redis fails: local (each replica's own memory; the default), open (allow) or closed (refuse)")
	fs.StringVar(&o.IndexFile, "index-file", "", "a file where the verifier saves its index of the APIKeys (key hashes, never keys) and from which a restart resumes, replaying only the changes since; empty: none")
	o.Usage.BindFlags(fs, "")
	zo := zap.Options{}
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Log = zap.New(zap.UseFlagOptions(&zo))
	routes, err := LoadRoutes(configFile)
	if err != nil {
		return err
	}
	o.Routes = routes
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.Metrics = reg
	s, err := New(cfg, o)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go tuneGC(ctx) // this process is the verifier alone: its collector is ours to set (gc.go)
	return s.Start(ctx)
}

// restConfig is the configuration of the kubeconfig file path, else the
// in-cluster one, else $KUBECONFIG's or ~/.kube/config's current context.
func restConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	cfg, err := rest.InClusterConfig()
	if !errors.Is(err, rest.ErrNotInCluster) {
		return cfg, err
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
}

// LoadRoutes reads the routes: section of an operator configuration file (the
// rest is the manager's business). An empty path gives the default route map.
func LoadRoutes(path string) (RouteMap, error) {
	var routes RouteMap
	if path == "" {
		return routes, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return routes, fmt.Errorf("reading config: %w", err)
	}
	if info.Size() > maxConfigSize {
		return routes, fmt.Errorf("config file %s is %d bytes; the limit is %d", path, info.Size(), maxConfigSize)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return routes, fmt.Errorf("reading config: %w", err)
	}
	var sections map[string]json.RawMessage
	if err := yaml.Unmarshal(raw, &sections); err != nil {
		return routes, fmt.Errorf("config file %s: %w", path, err)
	}
	if section, ok := sections["routes"]; ok {
		dec := json.NewDecoder(bytes.NewReader(section))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&routes); err != nil {
			return routes, fmt.Errorf("config file %s: routes: %w", path, err)
		}
	}
	_, err = routes.Compile()
	return routes, err
}
