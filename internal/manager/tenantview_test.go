package manager

import (
	"strings"
	"testing"

	"github.com/tenantward/tenantward/internal/tenantview"
	admissionwebhooks "github.com/tenantward/tenantward/internal/webhook"
)

// TestTenantViewServesWithTheWebhookCertificate: a view serving from the
// webhook certificate directory has the self-managed certificate name its
// Service and its APIService's caBundle set; a view with a certificate of its
// own (another directory, or external certificates) leaves the webhooks'
// alone; serving from a self-managed certificate nobody makes is refused.
func TestTenantViewServesWithTheWebhookCertificate(t *testing.T) {
	const dir = "/var/run/tenantward/webhook-certs"
	view := tenantview.Options{Port: 8443, CertDir: dir, Service: "tw-tenant-view"}
	for _, tc := range []struct {
		name    string
		o       Options
		want    admissionwebhooks.ServedAPI
		wantErr string
	}{
		{"as installed", Options{EnableWebhooks: true, WebhookCertDir: dir, TenantView: view},
			admissionwebhooks.ServedAPI{APIService: "v1alpha1.tenancy.tenantward.io", Service: "tw-tenant-view"}, ""},
		{"view off", Options{EnableWebhooks: true, WebhookCertDir: dir}, admissionwebhooks.ServedAPI{}, ""},
		{"a certificate of its own (local mode, tests)", Options{EnableWebhooks: true, WebhookCertDir: "/tmp/webhook", TenantView: view}, admissionwebhooks.ServedAPI{}, ""},
		{"cert-manager", Options{EnableWebhooks: true, WebhookCertDir: dir, TenantView: view, WebhookCerts: admissionwebhooks.CertOptions{Mode: admissionwebhooks.CertsExternal}}, admissionwebhooks.ServedAPI{}, ""},
		{"no webhooks to make the certificate", Options{WebhookCertDir: dir, TenantView: view}, admissionwebhooks.ServedAPI{}, "--enable-webhooks=false"},
		{"no certificate directory", Options{EnableWebhooks: true, TenantView: tenantview.Options{Port: 8443}}, admissionwebhooks.ServedAPI{}, "--tenant-view-cert-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenantViewCerts(&tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || tc.o.WebhookCerts.API != tc.want {
				t.Fatalf("got %+v, %v; want %+v", tc.o.WebhookCerts.API, err, tc.want)
			}
		})
	}
}
