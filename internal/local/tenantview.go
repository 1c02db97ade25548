package local

import (
	"context"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/tenantview"
)

// TenantViewService is where the tenant view's APIService points.
var TenantViewService = controlplane.LocalAPIService{
	GroupVersion: tenancyv1alpha1.GroupVersion, Namespace: "tenantward-system", Service: "tenantward-tenant-view",
}

// ServeTenantView is how local mode and the tests (internal/testenv) serve
// the tenant view from this process through a control plane started with
// controlplane.Options.Aggregation: it registers the APIService (see
// controlplane.LocalAPIService for how the aggregator reaches a local
// process), writes the serving certificate and a kubeconfig for delegated
// authentication and authorization into dir, applies the reader RBAC from
// config/tenantview, and returns the manager's tenant view options.
func ServeTenantView(ctx context.Context, env *controlplane.Env, admin client.Client, dir string) (tenantview.Options, error) {
	s := TenantViewService
	s.CertDir = filepath.Join(dir, "tenant-view")
	if err := env.ServeLocally(ctx, admin, &s); err != nil {
		return tenantview.Options{}, err
	}
	kubeconfig, err := env.WriteKubeconfig(s.CertDir, "tenantward-tenant-view")
	if err != nil {
		return tenantview.Options{}, err
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		return tenantview.Options{}, err
	}
	objs, err := ReadObjects(filepath.Join(root, "config", "tenantview"))
	if err != nil {
		return tenantview.Options{}, err
	}
	for _, obj := range objs {
		if err := admin.Create(ctx, obj); err != nil {
			return tenantview.Options{}, fmt.Errorf("applying config/tenantview: %w", err)
		}
	}
	return tenantview.Options{Host: "127.0.0.1", Port: s.Port, CertDir: s.CertDir, Kubeconfig: kubeconfig}, nil
}
