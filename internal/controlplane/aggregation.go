package controlplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantward/tenantward/internal/webhook/certs"
)

// frontProxyClient is the common name of the kube-apiserver's front-proxy
// client certificate, the only name an aggregated API server accepts the
// X-Remote-User and X-Remote-Group headers from.
const frontProxyClient = "front-proxy-client"

// aggregationFlags writes a front-proxy CA and the kube-apiserver's
// front-proxy client certificate into dir and returns the kube-apiserver flags
// that turn on the aggregation layer: it authenticates callers, then proxies
// requests for an APIService to its server with the caller in request headers,
// which the server trusts because the client certificate is signed by the CA
// it reads from kube-system/extension-apiserver-authentication.
func aggregationFlags(dir string) (map[string]string, error) {
	now := time.Now()
	ca, _, err := certs.Renew(certs.Bundle{}, []string{frontProxyClient}, now)
	if err != nil {
		return nil, err
	}
	cert, key, err := certs.ClientCert(ca, frontProxyClient, now)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"front-proxy-ca.crt": ca.CACert, "front-proxy-client.crt": cert, "front-proxy-client.key": key}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return map[string]string{
		"requestheader-client-ca-file":       filepath.Join(dir, "front-proxy-ca.crt"),
		"requestheader-allowed-names":        frontProxyClient,
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"proxy-client-cert-file":             filepath.Join(dir, "front-proxy-client.crt"),
		"proxy-client-key-file":              filepath.Join(dir, "front-proxy-client.key"),
	}, nil
}

// LocalAPIService is an aggregated API served by a process on this machine.
//
// The aggregator never proxies to loopback Endpoints (their validation
// refuses 127.0.0.0/8), so the APIService names a Service of type
// ExternalName "localhost": the kube-apiserver resolves it to
// localhost:<the APIService's port> and checks the serving certificate
// against <Service>.<Namespace>.svc, the name ServeLocally signs it for.
type LocalAPIService struct {
	GroupVersion       schema.GroupVersion
	Namespace, Service string
	// Port is where the process listens; ServeLocally picks a free one when 0.
	Port int
	// CertDir receives tls.crt and tls.key for the process to serve.
	CertDir string
}

// ServeLocally registers s with the kube-apiserver, which must run with
// Options.Aggregation: the namespace, the ExternalName Service and the
// APIService with the CA of the serving certificate it writes to s.CertDir.
func (e *Env) ServeLocally(ctx context.Context, c client.Client, s *LocalAPIService) error {
	if e.aggregationDir == "" {
		return fmt.Errorf("serving %s locally: the control plane runs without Options.Aggregation", s.GroupVersion)
	}
	if s.Port == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Port = port
	}
	b, _, err := certs.Renew(certs.Bundle{}, []string{s.Service + "." + s.Namespace + ".svc"}, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.CertDir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{certs.CertKey: b.Cert, certs.PrivateKey: b.Key} {
		if err := os.WriteFile(filepath.Join(s.CertDir, name), data, 0o600); err != nil {
			return err
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Service, Namespace: s.Namespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(s.Port)}}, //nolint:gosec // a TCP port
		},
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": s.GroupVersion.Version + "." + s.GroupVersion.Group},
		"spec": map[string]any{
			"group": s.GroupVersion.Group, "version": s.GroupVersion.Version,
			"service":              map[string]any{"namespace": s.Namespace, "name": s.Service, "port": int64(s.Port)},
			"caBundle":             b.CACert,
			"groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
		},
	}}
	for _, obj := range []client.Object{ns, svc, api} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("serving %s locally: creating %T %s: %w", s.GroupVersion, obj, obj.GetName(), err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
