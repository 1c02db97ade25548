// Package manager assembles the operator: the controllers, the webhooks, the key
// verifier and the audit trail, in one controller-runtime manager.
package manager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/controllers"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/tenantview"
	"github.com/tenantward/tenantward/internal/verifier"
	admissionwebhooks "github.com/tenantward/tenantward/internal/webhook"
)

// Scheme holds every type the manager reads or writes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(accessv1alpha1.AddToScheme(Scheme))
}

// Options are the manager's command-line settings.
type Options struct {
	MetricsAddr             string
	ProbeAddr               string
	WebhookPort             int
	WebhookHost             string
	WebhookCertDir          string
	LeaderElection          bool
	LeaderElectionNamespace string
	ConfigFile              string
	// OperatorNamespace is the namespace the operator runs in; the webhooks skip
	// it, so no Organization or Workspace may use it.
	OperatorNamespace string
	// QPS and Burst raise client-go's rate limits for reconciliation at scale.
	QPS   float64
	Burst int
	// EnableWebhooks serves the validating webhooks.
	EnableWebhooks bool
	// WebhookCerts say where the webhook serving certificates come from.
	WebhookCerts admissionwebhooks.CertOptions
	// GracefulShutdownTimeout is how long a stopping replica waits for in-flight
	// admissions, verifications and reconciles to finish.
	GracefulShutdownTimeout time.Duration
	// AuditFile, when set, appends the audit trail to this file instead of the
	// configuration's audit.file (local mode sets .local/audit.jsonl).
	AuditFile string
	// VerifierAddr and VerifierGRPCAddr serve the key verifier (HTTP: /v1/verify
	// and /v1/auth; gRPC: Envoy ext_authz); "" or "0" disables each.
	VerifierAddr     string
	VerifierGRPCAddr string
	// VerifierUsage configures the verifier's answer counters and lastUsedAt.
	VerifierUsage verifier.UsageOptions
	// VerifierIndexFile is where the verifier saves its index (verifier.Options.IndexFile).
	VerifierIndexFile string
	// TenantView serves the tenant view (tenancy.tenantward.io) on every
	// replica; port 0 disables it.
	TenantView tenantview.Options
}

// BindFlags registers the options on a flag set with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint binds to; 0 disables it")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "port the admission webhooks listen on")
	fs.StringVar(&o.WebhookHost, "webhook-host", "", "address the admission webhooks bind to (all interfaces when empty)")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", "", "directory with tls.crt and tls.key for the webhooks")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader so that only one replica reconciles")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease")
	fs.StringVar(&o.ConfigFile, "config", "", "operator configuration file (feature map, platform identities, route map, audit sinks)")
	fs.StringVar(&o.OperatorNamespace, "operator-namespace", "tenantward-system", "namespace the operator runs in")
	fs.Float64Var(&o.QPS, "kube-api-qps", 50, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", 100, "burst of queries to the API server")
	fs.BoolVar(&o.EnableWebhooks, "enable-webhooks", true, "serve the validating admission webhooks")
	o.WebhookCerts.BindFlags(fs)
	fs.StringVar(&o.AuditFile, "audit-file", "", "append the audit trail as JSON lines to this file (overrides the config's audit.file)")
	fs.StringVar(&o.VerifierAddr, "verifier-bind-address", ":8090", "address of the key verifier's HTTP API (/v1/verify, /v1/auth); 0 disables it")
	fs.StringVar(&o.VerifierGRPCAddr, "verifier-grpc-bind-address", ":8091", "address of the key verifier's Envoy gRPC ext_authz; 0 disables it")
	fs.StringVar(&o.VerifierIndexFile, "verifier-index-file", "", "a file where the key verifier saves its index of the APIKeys (key hashes, never keys) and from which a restart resumes, replaying only the changes since; empty: none")
	o.VerifierUsage = verifier.DefaultUsageOptions()
	o.VerifierUsage.BindFlags(fs, "verifier-")
	fs.StringVar(&o.TenantView.Host, "tenant-view-host", "", "address the tenant view (the aggregated API tenancy.tenantward.io) binds to (all interfaces when empty)")
	fs.IntVar(&o.TenantView.Port, "tenant-view-port", 0, "port the tenant view listens on; 0 disables it")
	fs.StringVar(&o.TenantView.CertDir, "tenant-view-cert-dir", "", "directory with tls.crt and tls.key for the tenant view, valid for <service>.<namespace>.svc of its APIService; when it is --webhook-cert-dir, the self-managed webhook certificate serves the view too")
	fs.StringVar(&o.TenantView.Service, "tenant-view-service-name", "tenantward-tenant-view", "Service the tenant view's APIService names; self-managed webhook certificates are also for <service>.<namespace>.svc")
	fs.StringVar(&o.TenantView.Kubeconfig, "tenant-view-kubeconfig", "", "kubeconfig for the tenant view's delegated authentication and authorization; empty in a cluster")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", 30*time.Second, "how long a stopping replica waits for in-flight admissions and reconciles to finish")
}

// New builds a manager with every part of the operator registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	conf, err := config.Load(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme,
		Cache:                   cacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "tenantward.access.tenantward.io",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// A replica that stops gracefully gives up the lease at once, so the
		// standby takes over without waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       gracefulShutdownTimeout(o),
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    o.WebhookHost,
			Port:    o.WebhookPort,
			CertDir: o.WebhookCertDir,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	recorder, err := newAuditRecorder(mgr, conf.Audit, o.AuditFile)
	if err != nil {
		return nil, err
	}
	if err := tenantViewCerts(&o); err != nil {
		return nil, err
	}
	reserved := tenancy.NewReserved(o.OperatorNamespace, conf.ExcludedNamespaces)
	deps := controllers.Deps{Config: conf, Audit: countingKeyLifecycle{recorder}, Reserved: reserved}
	if err := controllers.SetupWithManager(mgr, deps); err != nil {
		return nil, fmt.Errorf("setting up controllers: %w", err)
	}
	if o.EnableWebhooks {
		if err := admissionwebhooks.Setup(context.Background(), mgr, admissionwebhooks.Options{
			Config: conf, Audit: deps.Audit, Certs: o.WebhookCerts, OperatorNamespace: o.OperatorNamespace, CertDir: o.WebhookCertDir,
			Reserved: reserved,
		}); err != nil {
			return nil, fmt.Errorf("setting up webhooks: %w", err)
		}
		if err := audit.SetupWebhook(context.Background(), mgr, recorder); err != nil {
			return nil, err
		}
	}
	if err := addTenantView(mgr, o.TenantView, conf.Features); err != nil {
		return nil, err
	}
	v, err := addVerifier(mgr, o, conf.Routes)
	if err != nil {
		return nil, err
	}
	if err := addHealthChecks(mgr, o.EnableWebhooks, v); err != nil {
		return nil, err
	}
	return mgr, nil
}

// addVerifier runs the key verifier on every replica when one of its addresses is set.
func addVerifier(mgr ctrl.Manager, o Options, routes verifier.RouteMap) (*verifier.Server, error) {
	if !enabledAddr(o.VerifierAddr) && !enabledAddr(o.VerifierGRPCAddr) {
		return nil, nil
	}
	// The manager's /metrics and the verifier's show the same registry, as
	// they did when the verifier registered there itself.
	v, err := verifier.New(mgr.GetConfig(), verifier.Options{HTTPAddr: o.VerifierAddr, GRPCAddr: o.VerifierGRPCAddr, Routes: routes, Usage: o.VerifierUsage,
		IndexFile: o.VerifierIndexFile, Metrics: metrics.Registry, Log: ctrl.Log})
	if err != nil {
		return nil, fmt.Errorf("setting up the key verifier: %w", err)
	}
	return v, mgr.Add(v)
}

// tenantViewCerts: a tenant view serving from the webhooks' certificate
// directory serves with their certificate, so self-managed certificates also
// name its Service and go into its APIService.
func tenantViewCerts(o *Options) error {
	v := o.TenantView
	if v.Port == 0 {
		return nil
	}
	if v.CertDir == "" {
		return errors.New("--tenant-view-port needs --tenant-view-cert-dir (the webhook certificate directory to serve with the webhook certificate)")
	}
	if v.CertDir != o.WebhookCertDir || o.WebhookCerts.Mode == admissionwebhooks.CertsExternal {
		return nil
	}
	if !o.EnableWebhooks {
		return errors.New("the tenant view serves from the self-managed webhook certificate, but --enable-webhooks=false: enable the webhooks, or give the view a certificate of its own (--webhook-cert-mode=external or another --tenant-view-cert-dir)")
	}
	o.WebhookCerts.API = admissionwebhooks.ServedAPI{APIService: tenantview.APIService, Service: v.Service}
	return nil
}

// addTenantView serves the tenant view on every replica when its port is set.
func addTenantView(mgr ctrl.Manager, o tenantview.Options, features authz.FeatureMap) error {
	if o.Port == 0 {
		return nil
	}
	// k8s.io/apiserver logs through klog: send it to the operator's logger.
	klog.SetLogger(ctrl.Log.WithName("tenant-view"))
	informers, err := admissionwebhooks.NewInformers(context.Background(), mgr.GetCache())
	if err != nil {
		return fmt.Errorf("setting up the tenant view: %w", err)
	}
	s, err := tenantview.New(o, tenantview.Source{
		Resolver: &admissionwebhooks.Resolver{Informers: informers}, Cache: mgr.GetCache(), Features: features,
	})
	if err != nil {
		return err
	}
	return mgr.Add(s)
}

func enabledAddr(addr string) bool { return addr != "" && addr != "0" }

// newAuditRecorder builds the audit sinks and runs their flush on shutdown.
func newAuditRecorder(mgr ctrl.Manager, c audit.Config, file string) (*audit.Dispatcher, error) {
	if file != "" {
		c.File = file
	}
	d, err := audit.New(c, ctrl.Log.WithName("audit"))
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(d); err != nil {
		return nil, err
	}
	return d, nil
}

// gracefulShutdownTimeout is nil (controller-runtime's default) when no timeout is set.
func gracefulShutdownTimeout(o Options) *time.Duration {
	if o.GracefulShutdownTimeout <= 0 {
		return nil
	}
	return &o.GracefulShutdownTimeout
}

// Run builds the manager and runs it until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := New(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
