package webhook

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantward/tenantward/internal/webhook/certs"
)

// Certificate modes.
const (
	// CertsSelfManaged: the operator runs its own CA (certs.Rotator).
	CertsSelfManaged = "self-managed"
	// CertsExternal: cert-manager (or envtest, or a mounted Secret) provides the
	// files in the certificate directory and the caBundle; the operator touches neither.
	CertsExternal = "external"
)

// CertOptions say where the webhook serving certificates come from.
type CertOptions struct {
	Mode        string
	Secret      string
	ConfigName  string
	ServiceName string
	// API, when set (by the manager, not a flag), is an aggregated API served
	// with the same certificate.
	API ServedAPI
}

// ServedAPI is an aggregated API (the tenant view) served with the webhooks'
// certificate: the certificate also names its Service, and the self-managed
// CA goes into its APIService's caBundle.
type ServedAPI struct {
	// APIService is the APIService's name (<version>.<group>).
	APIService string
	// Service is its Service in the operator's namespace.
	Service string
}

// BindFlags registers the certificate flags.
func (o *CertOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Mode, "webhook-cert-mode", CertsSelfManaged, "where webhook certificates come from: self-managed (the operator's own CA, caBundle injected) or external (cert-manager or mounted files)")
	fs.StringVar(&o.Secret, "webhook-cert-secret", "tenantward-webhook-tls", "Secret in the operator namespace holding the self-managed CA and serving certificate")
	fs.StringVar(&o.ConfigName, "webhook-config-name", "tenantward", "ValidatingWebhookConfiguration whose caBundle the self-managed CA fills")
	fs.StringVar(&o.ServiceName, "webhook-service-name", "tenantward-webhook", "Service in front of the webhook server; the serving certificate is for <service>.<namespace>.svc")
}

// setupCertificates, in self-managed mode, makes sure the certificate files
// and the caBundle are current before the webhook server starts, and adds a
// Rotator that renews them while the manager runs.
func setupCertificates(ctx context.Context, mgr ctrl.Manager, o CertOptions, namespace, certDir string) error {
	switch o.Mode {
	case CertsExternal:
		return nil
	case CertsSelfManaged, "":
	default:
		return fmt.Errorf("--webhook-cert-mode %q: use %s or %s", o.Mode, CertsSelfManaged, CertsExternal)
	}
	if certDir == "" {
		// controller-runtime's default certificate directory.
		certDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	r := &certs.Rotator{
		Reader:        mgr.GetAPIReader(),
		Writer:        mgr.GetClient(),
		Secret:        types.NamespacedName{Namespace: namespace, Name: o.Secret},
		WebhookConfig: o.ConfigName,
		APIService:    o.API.APIService,
		DNSNames:      serviceNames(o.ServiceName, namespace),
		CertDir:       certDir,
	}
	if o.API.Service != "" {
		r.DNSNames = append(r.DNSNames, serviceNames(o.API.Service, namespace)...)
	}
	if err := r.Ensure(ctx); err != nil {
		return fmt.Errorf("self-managed webhook certificates: %w", err)
	}
	return mgr.Add(r)
}

// serviceNames are the names a Service is reached by in the cluster.
func serviceNames(service, namespace string) []string {
	svc := service + "." + namespace
	return []string{svc + ".svc", svc + ".svc.cluster.local", svc, service}
}
