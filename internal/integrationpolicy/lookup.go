package integrationpolicy

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// PolicyName is the name of the one IntegrationPolicy per namespace.
const PolicyName = "default"

// SpecIn returns the spec of a namespace's IntegrationPolicy, or nil when it has none.
func SpecIn(ctx context.Context, c client.Reader, namespace string) (*accessv1alpha1.IntegrationPolicySpec, error) {
	if namespace == "" {
		return nil, nil
	}
	pol := &accessv1alpha1.IntegrationPolicy{}
	err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: PolicyName}, pol)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &pol.Spec, nil
}

// EffectiveIn reads the org and workspace policies and returns the effective
// access in the workspace namespace (the org's own when wsNamespace is empty).
func EffectiveIn(ctx context.Context, c client.Reader, orgNamespace, wsNamespace string) ([]accessv1alpha1.EffectiveIntegrationAccess, error) {
	org, err := SpecIn(ctx, c, orgNamespace)
	if err != nil {
		return nil, err
	}
	ws, err := SpecIn(ctx, c, wsNamespace)
	if err != nil {
		return nil, err
	}
	eff, _ := Workspace(org, ws)
	return eff, nil
}
