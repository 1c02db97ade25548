package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/tenantview"
)

// TenantViewService is where the tenant view's APIService points.
var TenantViewService = controlplane.LocalAPIService{
	GroupVersion: tenancyv1alpha1.GroupVersion, Namespace: controlplane.OperatorNamespace, Service: "tenantward-tenant-view",
}

// ServeTenantView is how local mode and the tests (internal/testenv) serve
// the tenant view from this process through a control plane started with
// controlplane.Options.Aggregation: it registers the APIService (see
// controlplane.LocalAPIService for how the aggregator reaches a local
// process; the installs' Service and APIService in config/tenantview point at
// pods instead), writes the serving certificate and the operator's kubeconfig
// for delegated authentication and authorization into dir, applies the
// reader role of config/tenantview, and returns the manager's tenant view
// options. The operator is the manager's service account
// (controlplane.Env.InstallRBAC): the view delegates with exactly the rights
// an install grants.
func ServeTenantView(ctx context.Context, env *controlplane.Env, admin client.Client, operator *envtest.AuthenticatedUser, dir string) (tenantview.Options, error) {
	s := TenantViewService
	s.CertDir = filepath.Join(dir, "tenant-view")
	if err := env.ServeLocally(ctx, admin, &s); err != nil {
		return tenantview.Options{}, err
	}
	raw, err := operator.KubeConfig()
	if err != nil {
		return tenantview.Options{}, err
	}
	kubeconfig := filepath.Join(s.CertDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return tenantview.Options{}, err
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		return tenantview.Options{}, err
	}
	objs, err := readFile(filepath.Join(root, "config", "tenantview", "reader.yaml"))
	if err != nil {
		return tenantview.Options{}, err
	}
	for _, obj := range objs {
		if err := admin.Create(ctx, obj); err != nil {
			return tenantview.Options{}, fmt.Errorf("applying config/tenantview/reader.yaml: %w", err)
		}
	}
	return tenantview.Options{Host: "127.0.0.1", Port: s.Port, CertDir: s.CertDir, Service: s.Service, Kubeconfig: kubeconfig}, nil
}
