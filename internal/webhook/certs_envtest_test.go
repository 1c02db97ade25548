package webhook_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantward/tenantward/internal/webhook/certs"
)

// TestSelfManagedCertificates runs the Rotator against the real API server:
// it stores the CA in a Secret, writes the files the webhook server reloads,
// injects the caBundle (into the webhooks and into the APIService served with
// the same certificate, as the tenant view is), renews the serving certificate when due without
// replacing the CA, and writes nothing when nothing is due.
func TestSelfManagedCertificates(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unique("operator")}}
	if err := admin.Create(testCtx, ns); err != nil {
		t.Fatal(err)
	}
	none := admissionregistrationv1.SideEffectClassNone
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: unique("rotator")},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "never.tenantward.io", SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/never")},
			// Matches nothing: only its caBundle matters here.
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"never": "matches"}},
		}}}
	if err := admin.Create(testCtx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(testCtx, cfg) })

	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1alpha1." + cfg.Name + ".tenantward.io"},
		"spec": map[string]any{"group": cfg.Name + ".tenantward.io", "version": "v1alpha1", "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"service": map[string]any{"namespace": ns.Name, "name": "tenant-view", "port": int64(443)}},
	}}
	if err := admin.Create(testCtx, api); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(testCtx, api) })

	now := time.Now()
	dir := t.TempDir()
	r := &certs.Rotator{Reader: admin, Writer: admin, Secret: types.NamespacedName{Namespace: ns.Name, Name: "webhook-tls"},
		WebhookConfig: cfg.Name, APIService: api.GetName(), DNSNames: []string{"tenantward-webhook." + ns.Name + ".svc"}, CertDir: dir, Now: func() time.Time { return now }}
	if err := r.Ensure(testCtx); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := admin.Get(testCtx, r.Secret, secret); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(cfg), cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, secret.Data[certs.CAKey]) {
		t.Fatal("caBundle is not the Secret's CA")
	}
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(api), api); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(api.Object, "spec", "caBundle"); got != base64.StdEncoding.EncodeToString(secret.Data[certs.CAKey]) {
		t.Fatal("the APIService's caBundle is not the Secret's CA")
	}
	served, err := os.ReadFile(filepath.Join(dir, certs.CertKey))
	if err != nil || !bytes.Equal(served, secret.Data[certs.CertKey]) {
		t.Fatalf("tls.crt is not the Secret's certificate: %v", err)
	}

	// Nothing due: no write.
	version := secret.ResourceVersion
	if err := r.Ensure(testCtx); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(testCtx, r.Secret, secret); err != nil || secret.ResourceVersion != version {
		t.Fatalf("the Secret was written although nothing was due (%v)", err)
	}

	// Seventy days on: a new serving certificate from the same CA, picked up from disk.
	now = now.Add(70 * 24 * time.Hour)
	if err := r.Ensure(testCtx); err != nil {
		t.Fatal(err)
	}
	renewed, err := os.ReadFile(filepath.Join(dir, certs.CertKey))
	if err != nil || bytes.Equal(renewed, served) {
		t.Fatalf("tls.crt not renewed: %v", err)
	}
	if err := admin.Get(testCtx, client.ObjectKeyFromObject(cfg), cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, secret.Data[certs.CAKey]) {
		t.Error("the CA changed on a serving renewal")
	}
}
