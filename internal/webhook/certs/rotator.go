package certs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// The Rotator's permissions are not markers: a marker would grant them on every
// Secret, webhook configuration and APIService in the cluster. The chart and
// config/rbac/webhook_cert_role.yaml grant them by name: its Secret in the
// operator's namespace, its own ValidatingWebhookConfiguration, and the tenant
// view's APIService.

// CheckInterval is how often a running Rotator checks its certificates.
const CheckInterval = time.Hour

// Rotator keeps the webhook certificates current.
type Rotator struct {
	// Reader reads without the cache (the Secret and the webhook configuration).
	Reader client.Reader
	// Writer creates and updates the Secret and patches the webhook configuration.
	Writer client.Writer
	// Secret is the Secret holding the CA and serving certificate.
	Secret types.NamespacedName
	// WebhookConfig is the ValidatingWebhookConfiguration whose caBundle it sets.
	WebhookConfig string
	// APIService, when set, is an APIService served with the same certificate
	// (the tenant view's, internal/tenantview) whose spec.caBundle it sets.
	APIService string
	// DNSNames are the serving certificate's names (<service>.<namespace>.svc ...).
	DNSNames []string
	// CertDir receives tls.crt and tls.key.
	CertDir string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Ensure renews what is due, writes the certificate files and sets the caBundle.
func (r *Rotator) Ensure(ctx context.Context) error {
	b, err := r.secretBundle(ctx)
	if err != nil {
		return err
	}
	if err := writeFiles(r.CertDir, b); err != nil {
		return err
	}
	if err := r.injectCABundle(ctx, b.CACert); err != nil {
		return err
	}
	return r.injectAPIServiceCABundle(ctx, b.CACert)
}

// Start checks the certificates every CheckInterval until ctx ends; every
// replica runs it, since each serves from its own certificate directory.
func (r *Rotator) Start(ctx context.Context) error {
	t := time.NewTicker(CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Ensure(ctx); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "renewing the webhook certificates; retrying at the next check")
			}
		}
	}
}

// NeedLeaderElection is false: every replica needs current files.
func (r *Rotator) NeedLeaderElection() bool { return false }

// secretBundle reads the Secret, renews its bundle when due and stores it back.
func (r *Rotator) secretBundle(ctx context.Context) (Bundle, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	s := &corev1.Secret{}
	err := r.Reader.Get(ctx, r.Secret, s)
	if err != nil && !apierrors.IsNotFound(err) {
		return Bundle{}, fmt.Errorf("reading the webhook certificate Secret %s: %w", r.Secret, err)
	}
	exists := err == nil
	b, changed, err := Renew(FromData(s.Data), r.DNSNames, now())
	if err != nil || !changed {
		return b, err
	}
	s.Data = b.Data()
	s.Type = corev1.SecretTypeTLS
	if !exists {
		s.ObjectMeta = metav1.ObjectMeta{Name: r.Secret.Name, Namespace: r.Secret.Namespace,
			Labels: map[string]string{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue}}
		err = r.Writer.Create(ctx, s)
	} else {
		err = r.Writer.Update(ctx, s)
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		// Another replica renewed first: use what it stored.
		if err := r.Reader.Get(ctx, r.Secret, s); err != nil {
			return Bundle{}, err
		}
		return FromData(s.Data), nil
	}
	if err != nil {
		return Bundle{}, fmt.Errorf("storing the webhook certificates in Secret %s: %w", r.Secret, err)
	}
	return b, nil
}

// writeFiles writes tls.crt and tls.key when they differ, each by rename, so
// the certwatcher never reads a half-written file.
func writeFiles(dir string, b Bundle) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{CertKey: b.Cert, PrivateKey: b.Key} {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// injectCABundle sets every webhook's caBundle with a JSON patch that tests
// each webhook's name first, and only when a bundle differs.
func (r *Rotator) injectCABundle(ctx context.Context, ca []byte) error {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.Reader.Get(ctx, types.NamespacedName{Name: r.WebhookConfig}, cfg); err != nil {
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.WebhookConfig, err)
	}
	var ops []map[string]any
	for i, wh := range cfg.Webhooks {
		if bytes.Equal(wh.ClientConfig.CABundle, ca) {
			continue
		}
		ops = append(ops,
			map[string]any{"op": "test", "path": fmt.Sprintf("/webhooks/%d/name", i), "value": wh.Name},
			map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), "value": ca})
	}
	if len(ops) == 0 {
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if err := r.Writer.Patch(ctx, cfg, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("setting the caBundle of %s: %w", r.WebhookConfig, err)
	}
	return nil
}

// injectAPIServiceCABundle sets the APIService's spec.caBundle when it differs.
func (r *Rotator) injectAPIServiceCABundle(ctx context.Context, ca []byte) error {
	if r.APIService == "" {
		return nil
	}
	api := &unstructured.Unstructured{}
	api.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"})
	if err := r.Reader.Get(ctx, types.NamespacedName{Name: r.APIService}, api); err != nil {
		return fmt.Errorf("reading APIService %s: %w", r.APIService, err)
	}
	if current, _, _ := unstructured.NestedString(api.Object, "spec", "caBundle"); current == base64.StdEncoding.EncodeToString(ca) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": ca}})
	if err != nil {
		return err
	}
	if err := r.Writer.Patch(ctx, api, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("setting the caBundle of APIService %s: %w", r.APIService, err)
	}
	return nil
}
